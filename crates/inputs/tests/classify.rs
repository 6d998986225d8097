//! `classify` against real events from AWS's documentation (`events/`, with
//! the page of each in `events/README.md` and in `SAMPLES` below), against
//! malformed and adversarial input, and against the plain `reference`
//! classifier on generated events.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::select;
use rampart_inputs::{InputSource, classify, reference};

use InputSource::*;

/// Every sample event, the source it must get, and the page it is from.
const SAMPLES: &[(&str, InputSource, &str)] = &[
    ("sqs.json", Sqs, "https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html"),
    ("sns.json", Sns, "https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html"),
    ("s3.json", S3, "https://docs.aws.amazon.com/lambda/latest/dg/with-s3.html"),
    ("dynamodb.json", DynamoDb, "https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html"),
    ("kinesis.json", Kinesis, "https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html"),
    (
        "kinesis-window.json",
        Kinesis,
        "https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html#services-kinesis-windows",
    ),
    (
        "apigateway-rest.json",
        ApiGateway,
        "https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format",
    ),
    (
        "apigateway-http-v2.json",
        ApiGatewayV2,
        "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html",
    ),
    (
        "apigateway-http-v2-sample-app.json",
        ApiGatewayV2,
        "https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway.html",
    ),
    (
        "apigateway-http-v1.json",
        ApiGatewayV2,
        "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html",
    ),
    (
        "apigateway-websocket.json",
        ApiGatewayV2,
        "https://github.com/aws-powertools/powertools-lambda-python/blob/develop/tests/events/apiGatewayWebSocketApiMessage.json",
    ),
    ("lambda-url.json", LambdaUrl, "https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads"),
    ("alb.json", Alb, "https://docs.aws.amazon.com/lambda/latest/dg/services-alb.html"),
    ("eventbridge-rds.json", Events, "https://docs.aws.amazon.com/lambda/latest/dg/services-cloudwatchevents.html"),
    (
        "eventbridge-scheduled.json",
        Events,
        "https://docs.aws.amazon.com/lambda/latest/dg/services-cloudwatchevents.html",
    ),
    ("cloudwatch-logs.json", Logs, "https://docs.aws.amazon.com/lambda/latest/dg/services-cloudwatchlogs.html"),
];

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/events")
}

fn sample(name: &str) -> Vec<u8> {
    fs::read(events_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `classify` says `expected`, and the reference agrees where it can parse.
#[track_caller]
fn check(event: &[u8], expected: InputSource) {
    let shown = String::from_utf8_lossy(&event[..event.len().min(300)]).into_owned();
    assert_eq!(classify(event), expected, "classify({shown})");
    if let Some(r) = reference::classify(event) {
        assert_eq!(r, expected, "reference::classify({shown})");
    }
}

#[test]
fn every_sample_is_listed_and_every_source_has_one() {
    let mut files: Vec<String> = fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = SAMPLES.iter().map(|(f, _, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed);
    let readme = fs::read_to_string(events_dir().join("README.md")).unwrap();
    for (file, source, _) in SAMPLES {
        assert!(readme.contains(&format!("`{file}` | `{source}`")), "README.md lists {file} as {source}");
    }
    for source in InputSource::ALL.into_iter().filter(|s| *s != Direct) {
        assert!(SAMPLES.iter().any(|(_, s, _)| *s == source), "no sample for {source}");
    }
}

#[test]
fn samples_from_the_aws_docs() {
    for (file, expected, url) in SAMPLES {
        let event = sample(file);
        assert_eq!(classify(&event), *expected, "{file} (from {url})");
        assert_eq!(reference::classify(&event), Some(*expected), "reference: {file}");
    }
}

#[test]
fn truncated_samples_are_direct() {
    for (file, _, _) in SAMPLES {
        let event = sample(file);
        let end = event.trim_ascii_end().len();
        for len in 0..end {
            assert_eq!(classify(&event[..len]), Direct, "{file} cut to {len} bytes");
        }
    }
}

#[test]
fn bytes_after_the_object() {
    for (file, expected, _) in SAMPLES {
        let event = sample(file);
        let with = |tail: &[u8]| [&event[..], tail].concat();
        assert_eq!(classify(&with(b" \r\n\t")), *expected, "{file} + whitespace");
        for tail in [&b"x"[..], b"{}", b",", b"\0", b"]", b"}", b"\xff", b" //", b"\x0c"] {
            assert_eq!(classify(&with(tail)), Direct, "{file} + {tail:?}");
        }
        let ws_before = [&b" \n"[..], &event].concat();
        assert_eq!(classify(&ws_before), *expected, "whitespace + {file}");
        // A UTF-8 byte-order mark is not JSON whitespace.
        assert_eq!(classify(&[&b"\xef\xbb\xbf"[..], &event].concat()), Direct, "BOM + {file}");
    }
}

#[test]
fn not_an_object_is_direct() {
    for event in [
        &b""[..],
        b" \n",
        b"null",
        b"true",
        b"0",
        b"-1.5e3",
        b"\"aws:sqs\"",
        b"[]",
        b"[{\"Records\":[{\"eventSource\":\"aws:sqs\"}]}]",
        b"{",
        b"}",
        b"{}",
        b"{\"Records\"}",
        b"{'Records':[{'eventSource':'aws:sqs'}]}",
        b"{\"Records\":[{\"eventSource\":\"aws:sqs\"}],}",
        b"{\"Records\":[{\"eventSource\":\"aws:sqs\",}]}",
        b"{\"Records\":[{\"eventSource\":\"aws:sqs\"}]}{}",
        b"{\"Records\":[{\"eventSource\":\"aws:sqs\"}], \"x\": NaN}",
        b"{\"Records\":[{\"eventSource\":\"aws:sqs\"}], \"x\": 01}",
        b"{\"Records\":[{\"eventSource\":\"aws:sqs\"}]} // comment",
        b"GET / HTTP/1.1\r\n\r\n",
        b"\xff\xfe{\0}\0",
    ] {
        check(event, Direct);
    }
}

#[test]
fn shape_is_all_that_counts() {
    // A direct invocation with an SQS-shaped payload is an SQS event as far
    // as anyone inside the function can tell (see the crate doc).
    check(br#"{"Records":[{"eventSource":"aws:sqs"}]}"#, Sqs);
    check(br#"{"Records":[{"EventSource":"aws:sns"}]}"#, Sns);
    check(br#"{"awslogs":{"data":""}}"#, Logs);
    check(br#"{"detail-type":"x","source":"y","detail":{}}"#, Events);
    check(br#"{"version":"2.0","requestContext":{"apiId":"a","http":{}}}"#, ApiGatewayV2);
    check(
        br#"{"version":"2.0","requestContext":{"apiId":"a","http":{},"domainName":"u.lambda-url.eu-west-1.on.aws"}}"#,
        LambdaUrl,
    );
    check(br#"{"resource":"/","httpMethod":"GET","requestContext":{"apiId":"a"}}"#, ApiGateway);
    check(br#"{"httpMethod":"GET","requestContext":{"elb":{}}}"#, Alb);
    check(br#"{"requestContext":{"apiId":"a","connectionId":"c","eventType":"CONNECT"}}"#, ApiGatewayV2);
}

#[test]
fn a_source_named_where_the_rules_do_not_look_is_direct() {
    for event in [
        // Nested one level too deep.
        &br#"{"payload":{"Records":[{"eventSource":"aws:sqs"}]}}"#[..],
        br#"{"detail":{"Records":[{"eventSource":"aws:sqs"}]}}"#,
        br#"{"Records":[{"body":{"eventSource":"aws:sqs"}}]}"#,
        br#"{"Records":[[{"eventSource":"aws:sqs"}]]}"#,
        br#"{"requestContext":{"requestContext":{"elb":{}}},"httpMethod":"GET"}"#,
        br#"{"x":{"awslogs":{"data":"a"}}}"#,
        // Inside a string.
        br#"{"body":"{\"Records\":[{\"eventSource\":\"aws:sqs\"}]}"}"#,
        br#"{"Records":"[{\"eventSource\":\"aws:sqs\"}]"}"#,
        // Named as a key, a value elsewhere, or a neighbour.
        br#"{"aws:sqs":{"eventSource":"aws:sqs"}}"#,
        br#"{"eventSource":"aws:sqs"}"#,
        br#"{"EventSource":"aws:sns"}"#,
        br#"{"source":"aws.events"}"#,
        br#"{"awslogs":"data"}"#,
        br#"{"data":"x"}"#,
    ] {
        check(event, Direct);
    }
}

#[test]
fn records_must_agree() {
    check(br#"{"Records":[{"eventSource":"aws:sqs"},{"eventSource":"aws:sqs"}]}"#, Sqs);
    for event in [
        &br#"{"Records":[]}"#[..],
        br#"{"Records":[{"eventSource":"aws:sqs"},{"eventSource":"aws:s3"}]}"#,
        br#"{"Records":[{"eventSource":"aws:sqs"},{}]}"#,
        br#"{"Records":[{"eventSource":"aws:sqs"},null]}"#,
        br#"{"Records":[{"eventSource":"aws:sqs"},"aws:sqs"]}"#,
        br#"{"Records":[{"eventSource":"aws:sqs","EventSource":"aws:sns"}]}"#,
        br#"{"Records":[{"eventSource":"aws:sqs","EventSource":null}]}"#,
        br#"{"Records":[{"eventSource":"aws:sns"}]}"#,
        br#"{"Records":[{"EventSource":"aws:sqs"}]}"#,
        br#"{"Records":[{"eventSource":"aws:ses"}]}"#,
        br#"{"Records":[{"eventSource":"aws:kafka"}]}"#,
        br#"{"Records":[{"eventSource":"AWS:SQS"}]}"#,
        br#"{"Records":[{"eventSource":"aws:sqs "}]}"#,
        br#"{"Records":[{"eventSource":["aws:sqs"]}]}"#,
        br#"{"Records":[{"eventSource":1}]}"#,
        br#"{"Records":{"eventSource":"aws:sqs"}}"#,
        br#"{"Records":null}"#,
        br#"{"records":[{"eventSource":"aws:sqs"}]}"#,
    ] {
        check(event, Direct);
    }
}

#[test]
fn tumbling_window_final_call_without_records() {
    check(br#"{"Records":[],"window":{},"eventSourceARN":"arn:aws:kinesis:us-east-1:1:stream/s"}"#, Kinesis);
    check(br#"{"Records":[],"window":{},"eventSourceARN":"arn:aws:dynamodb:us-east-1:1:table/t/stream/x"}"#, DynamoDb);
    check(br#"{"Records":[],"eventSourceARN":"arn:aws:kinesis:us-east-1:1:stream/s"}"#, Direct);
    check(br#"{"Records":[],"window":{},"eventSourceARN":"arn:aws:sqs:us-east-1:1:q"}"#, Direct);
    check(br#"{"Records":[],"window":"x","eventSourceARN":"arn:aws:kinesis:us-east-1:1:stream/s"}"#, Direct);
    // With records, the records decide.
    check(br#"{"Records":[{"eventSource":"aws:sqs"}],"window":{},"eventSourceARN":"arn:aws:kinesis:x"}"#, Sqs);
}

#[test]
fn http_shapes() {
    let rest = r#""resource":"/","httpMethod":"GET""#;
    for (event, expected) in [
        // REST needs all three fields, and no `version`.
        (format!(r#"{{{rest},"requestContext":{{"apiId":"a"}}}}"#), ApiGateway),
        (format!(r#"{{{rest},"requestContext":{{}}}}"#), Direct),
        (format!(r#"{{{rest},"requestContext":{{"apiId":1}}}}"#), Direct),
        (format!(r#"{{{rest},"requestContext":"apiId"}}"#), Direct),
        (r#"{"httpMethod":"GET","requestContext":{"apiId":"a"}}"#.to_owned(), Direct),
        (r#"{"resource":"/","requestContext":{"apiId":"a"}}"#.to_owned(), Direct),
        (format!(r#"{{{rest},"version":"1.0","requestContext":{{"apiId":"a"}}}}"#), ApiGatewayV2),
        (format!(r#"{{{rest},"version":"2.0","requestContext":{{"apiId":"a"}}}}"#), Direct),
        (format!(r#"{{{rest},"version":"3.0","requestContext":{{"apiId":"a"}}}}"#), Direct),
        (format!(r#"{{{rest},"version":null,"requestContext":{{"apiId":"a"}}}}"#), Direct),
        (format!(r#"{{{rest},"version":1,"requestContext":{{"apiId":"a"}}}}"#), Direct),
        // HTTP API 2.0 needs `http` (an object) and `apiId`.
        (r#"{"version":"2.0","requestContext":{"apiId":"a","http":"GET"}}"#.to_owned(), Direct),
        (r#"{"version":"2.0","requestContext":{"http":{}}}"#.to_owned(), Direct),
        (
            r#"{"version":"2.0","requestContext":{"apiId":"a","http":{},"domainName":"x.lambda-url.r.on.aws.evil"}}"#
                .to_owned(),
            ApiGatewayV2,
        ),
        (
            r#"{"version":"2.0","requestContext":{"apiId":"a","http":{},"domainName":"lambda-url.r.on.aws"}}"#
                .to_owned(),
            ApiGatewayV2,
        ),
        (
            r#"{"version":"2.0","requestContext":{"apiId":"a","http":{},"domainName":"X.Lambda-Url.r.ON.aws"}}"#
                .to_owned(),
            LambdaUrl,
        ),
        (
            r#"{"version":"2.0","requestContext":{"apiId":"a","http":{},"domainName":["x.lambda-url.r.on.aws"]}}"#
                .to_owned(),
            ApiGatewayV2,
        ),
        (
            r#"{"version":"2.0","requestContext":{"apiId":"a","http":{}},"domainName":"x.lambda-url.r.on.aws"}"#
                .to_owned(),
            ApiGatewayV2,
        ),
        // ALB: `elb` an object, `httpMethod`, no `apiId`, no `version`.
        (r#"{"httpMethod":"GET","requestContext":{"elb":{"targetGroupArn":"a"}}}"#.to_owned(), Alb),
        (r#"{"httpMethod":"GET","requestContext":{"elb":"x"}}"#.to_owned(), Direct),
        (r#"{"requestContext":{"elb":{}}}"#.to_owned(), Direct),
        (r#"{"httpMethod":"GET","requestContext":{"elb":{},"apiId":"a"}}"#.to_owned(), Direct),
        (format!(r#"{{{rest},"requestContext":{{"elb":{{}},"apiId":"a"}}}}"#), Direct),
        (
            r#"{"httpMethod":"GET","version":"2.0","requestContext":{"elb":{},"http":{},"apiId":"a"}}"#.to_owned(),
            Direct,
        ),
        // WebSocket.
        (r#"{"requestContext":{"apiId":"a","connectionId":"c"}}"#.to_owned(), Direct),
        (r#"{"requestContext":{"connectionId":"c","eventType":"MESSAGE"}}"#.to_owned(), Direct),
        (
            r#"{"version":"2.0","requestContext":{"apiId":"a","connectionId":"c","eventType":"MESSAGE"}}"#.to_owned(),
            Direct,
        ),
    ] {
        check(event.as_bytes(), expected);
    }
}

#[test]
fn eventbridge_and_logs_shapes() {
    check(br#"{"detail-type":"x","source":"aws.events","detail":[]}"#, Direct);
    check(br#"{"detail-type":"x","source":"aws.events","detail":"{}"}"#, Direct);
    check(br#"{"detail-type":"x","source":1,"detail":{}}"#, Direct);
    check(br#"{"detail_type":"x","source":"aws.events","detail":{}}"#, Direct);
    check(br#"{"detail-type":"x","source":"aws.events"}"#, Direct);
    check(br#"{"awslogs":{"data":1}}"#, Direct);
    check(br#"{"awslogs":{"Data":"x"}}"#, Direct);
    check(br#"{"awslogs":{"data":"x","other":[1,{"a":2}]},"x":0}"#, Logs);
}

#[test]
fn two_families_at_once_are_direct() {
    for event in [
        &br#"{"Records":[{"eventSource":"aws:sqs"}],"detail-type":"x","source":"y","detail":{}}"#[..],
        br#"{"Records":[{"eventSource":"aws:sqs"}],"awslogs":{"data":"x"}}"#,
        br#"{"awslogs":{"data":"x"},"httpMethod":"GET","requestContext":{"elb":{}}}"#,
        br#"{"resource":"/","httpMethod":"GET","requestContext":{"apiId":"a"},"detail-type":"x","source":"y","detail":{}}"#,
    ] {
        check(event, Direct);
    }
    // A field of another family that does not complete its shape is harmless.
    check(br#"{"Records":[{"eventSource":"aws:sqs"}],"source":"aws.events"}"#, Sqs);
    check(br#"{"Records":"x","awslogs":{"data":"x"}}"#, Logs);
}

#[test]
fn last_duplicate_key_wins() {
    for (event, expected) in [
        (&br#"{"Records":[{"eventSource":"aws:sqs"}],"Records":[{"eventSource":"aws:s3"}]}"#[..], S3),
        (br#"{"Records":[{"eventSource":"aws:sqs"}],"Records":5}"#, Direct),
        (br#"{"Records":5,"Records":[{"eventSource":"aws:sqs"}]}"#, Sqs),
        (br#"{"Records":[{"eventSource":"aws:sqs","eventSource":"aws:kinesis"}]}"#, Kinesis),
        (br#"{"Records":[{"eventSource":"aws:sqs","eventSource":null}]}"#, Direct),
        (br#"{"Records":[{"eventSource":"x","eventSource":"aws:sqs"}]}"#, Sqs),
        (br#"{"version":"2.0","requestContext":{"apiId":"a","http":{}},"version":"1.0"}"#, Direct),
        (br#"{"version":"1.0","requestContext":{"apiId":"a","http":{}},"version":"2.0"}"#, ApiGatewayV2),
        (br#"{"version":"2.0","requestContext":{"apiId":"a","http":{},"http":null}}"#, Direct),
        (
            br#"{"version":"2.0","requestContext":{"apiId":"a","http":{},"domainName":"x.lambda-url.r.on.aws","domainName":"x.execute-api.r.amazonaws.com"}}"#,
            ApiGatewayV2,
        ),
        (
            br#"{"version":"2.0","requestContext":{"apiId":"a","http":{},"domainName":"x.execute-api.r.amazonaws.com","domainName":"x.lambda-url.r.on.aws"}}"#,
            LambdaUrl,
        ),
        (br#"{"requestContext":{"elb":{}},"httpMethod":"GET","requestContext":{"apiId":"a"}}"#, Direct),
        (br#"{"requestContext":{"apiId":"a"},"httpMethod":"GET","requestContext":{"elb":{}}}"#, Alb),
        (br#"{"awslogs":{"data":"x"},"awslogs":null}"#, Direct),
        (br#"{"awslogs":{"data":"x","data":{}}}"#, Direct),
        (br#"{"awslogs":{"data":{},"data":"x"}}"#, Logs),
        (br#"{"detail-type":"x","source":"y","detail":{},"detail":"z"}"#, Direct),
    ] {
        check(event, expected);
    }
}

#[test]
fn keys_and_values_are_read_unescaped() {
    check(br#"{"Rec\u006frds":[{"eventSource":"aws:s\u0071s"}]}"#, Sqs);
    check(br#"{"Records":[{"\u0045ventSource":"aws\u003asns"}]}"#, Sns);
    check(br#"{"Records":[{"eventSource":"aws:sqs\u0000"}]}"#, Direct);
    check(br#"{"detail\u002dtype":"x","source":"y","detail":{}}"#, Events);
    check(
        br#"{"version":"2\u002e0","requestContext":{"apiId":"a","http":{},"domainName":"x.lambda\u002durl.r.on.aws"}}"#,
        LambdaUrl,
    );
    check(br#"{"Records":[{"eventSource":"aws:sqs"}],"Rec\u006frds":5}"#, Direct);
    check(br#"{"Records":[{"eventSource":"aws:sqs"}],"Records\u0000":5}"#, Sqs);
}

#[test]
fn invalid_text_is_direct() {
    // Invalid UTF-8 in a string the rules skip, in one they read, in a key.
    check(b"{\"Records\":[{\"eventSource\":\"aws:sqs\",\"body\":\"\xff\"}]}", Direct);
    check(b"{\"Records\":[{\"eventSource\":\"aws:sqs\xc3\"}]}", Direct);
    check(b"{\"Records\":[{\"eventSource\":\"aws:sqs\"}],\"\xed\xa0\x80\":1}", Direct);
    // A raw control character inside a string.
    check(b"{\"Records\":[{\"eventSource\":\"aws:sqs\",\"body\":\"a\nb\"}]}", Direct);
    // A lone surrogate escape where the rules read it; bad escapes anywhere.
    check(br#"{"Records":[{"eventSource":"aws:sqs\ud800"}]}"#, Direct);
    check(br#"{"Records":[{"eventSource":"aws:sqs","body":"\x41"}]}"#, Direct);
    check(br#"{"Records":[{"eventSource":"aws:sqs","body":"\u12"}]}"#, Direct);
    // Numbers serde_json refuses where the rules read them.
    check(br#"{"Records":[{"eventSource":1e999}]}"#, Direct);
}

/// Runs `f` on a thread with a small stack: input nested 100 000 deep must
/// not recurse.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(256 * 1024).spawn(f).unwrap().join().unwrap();
}

#[test]
fn deep_nesting_does_not_recurse() {
    const DEEP: usize = 100_000;
    on_small_stack(|| {
        let open = |s: &str| s.repeat(DEEP);
        assert_eq!(classify(open("[").as_bytes()), Direct);
        assert_eq!(classify(format!("{}{}", open("["), open("]")).as_bytes()), Direct);
        assert_eq!(classify(open(r#"{"a":"#).as_bytes()), Direct);
        let deep_object = format!("{}1{}", open(r#"{"a":"#), open("}"));
        assert_eq!(classify(deep_object.as_bytes()), Direct);
        let deep_array = format!("{}{}", open("["), open("]"));
        // Deep values where the rules skip them, and where they read them:
        // complete, the event keeps its source.
        for event in [
            format!(r#"{{"Records":[{{"eventSource":"aws:sqs","body":{deep_array}}}]}}"#),
            format!(r#"{{"Records":[{{"eventSource":"aws:sqs","body":{deep_object}}}]}}"#),
            format!(r#"{{"x":{deep_array},"Records":[{{"eventSource":"aws:sqs"}}]}}"#),
            format!(r#"{{"Records":[{{"eventSource":"aws:sqs"}}],"resource":{deep_array}}}"#),
            format!(r#"{{"Records":[{{"eventSource":"aws:sqs"}}],"window":{deep_object}}}"#),
        ] {
            assert_eq!(classify(event.as_bytes()), Sqs);
            assert_eq!(classify(&event.as_bytes()[..event.len() - 2]), Direct);
        }
        // Deep where a record should be, or as a record's source.
        let event = format!(r#"{{"Records":[{{"eventSource":"aws:sqs"}},{deep_array}]}}"#);
        assert_eq!(classify(event.as_bytes()), Direct);
        let event = format!(r#"{{"Records":[{{"eventSource":{deep_object}}}]}}"#);
        assert_eq!(classify(event.as_bytes()), Direct);
        let event = format!(r#"{{"Records":{deep_array}}}"#);
        assert_eq!(classify(event.as_bytes()), Direct);
    });
}

#[test]
fn big_events() {
    // A 6 MB body (with an escape every few bytes) and a batch of 20 000 records.
    let body = r#"{\"k\":\"v\"},"#.repeat(6 * 1024 * 1024 / 14);
    let event = format!(r#"{{"version":"2.0","body":"[{body}{{}}]","requestContext":{{"apiId":"a","http":{{}}}}}}"#);
    check(event.as_bytes(), ApiGatewayV2);
    let record = r#"{"eventSource":"aws:sqs","body":"hello","attributes":{"a":"1"}},"#;
    let event = format!(r#"{{"Records":[{}{{"eventSource":"aws:sqs"}}]}}"#, record.repeat(20_000));
    check(event.as_bytes(), Sqs);
    // One odd record at the end spoils the batch.
    let event = format!(r#"{{"Records":[{}{{"eventSource":"aws:sns"}}]}}"#, record.repeat(20_000));
    check(event.as_bytes(), Direct);
}

// Generated events, compared with the reference classifier.

const TOP_KEYS: &[&str] = &[
    "Records",
    "requestContext",
    "version",
    "httpMethod",
    "resource",
    "detail-type",
    "source",
    "detail",
    "awslogs",
    "window",
    "eventSourceARN",
    "body",
    "x",
];

const STRINGS: &[&str] = &[
    "aws:sqs",
    "aws:sns",
    "aws:s3",
    "aws:dynamodb",
    "aws:kinesis",
    "aws:ses",
    "1.0",
    "2.0",
    "GET",
    "/",
    "aws.events",
    "x.lambda-url.us-east-1.on.aws",
    "x.execute-api.us-east-1.amazonaws.com",
    "arn:aws:kinesis:us-east-1:1:stream/s",
    "arn:aws:dynamodb:us-east-1:1:table/t/stream/x",
    "arn:aws:sqs:us-east-1:1:q",
    "",
    "é\u{1F600}",
];

/// A JSON string literal for `s`, its first character written as a
/// `\uXXXX` escape when `escape` is set.
fn lit(s: &str, escape: bool) -> String {
    let json = serde_json::to_string(s).unwrap();
    match s.chars().next() {
        Some(c) if escape && (c as u32) < 0x10000 => format!("\"\\u{:04x}{}", c as u32, &json[1 + c.len_utf8()..]),
        _ => json,
    }
}

fn scalar() -> BoxedStrategy<String> {
    prop_oneof![
        3 => (select(STRINGS), any::<bool>()).prop_map(|(s, e)| lit(s, e)),
        1 => select(&["null", "true", "false", "0", "-1.5e3", "[]", "{}", "[1,{\"a\":[]}]"][..]).prop_map(str::to_owned),
    ]
    .boxed()
}

/// An object of `(key, value)` entries, written in order, duplicates kept.
fn object(entries: Vec<(String, String)>) -> String {
    let body: Vec<String> = entries.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("{{{}}}", body.join(","))
}

fn entries(keys: &'static [&'static str], value: BoxedStrategy<String>, n: usize) -> BoxedStrategy<String> {
    prop::collection::vec((select(keys), any::<bool>(), value), 0..n)
        .prop_map(|es| object(es.into_iter().map(|(k, e, v)| (lit(k, e), v)).collect()))
        .boxed()
}

fn record() -> BoxedStrategy<String> {
    prop_oneof![
        4 => entries(&["eventSource", "EventSource", "body"], scalar(), 3),
        1 => scalar(),
    ]
    .boxed()
}

fn value_for(key: &'static str) -> BoxedStrategy<String> {
    match key {
        "Records" => prop_oneof![
            4 => prop::collection::vec(record(), 0..4).prop_map(|rs| format!("[{}]", rs.join(","))),
            1 => scalar(),
        ]
        .boxed(),
        "requestContext" => prop_oneof![
            4 => entries(
                &["apiId", "http", "elb", "domainName", "connectionId", "eventType", "x"],
                scalar(),
                6
            ),
            1 => scalar(),
        ]
        .boxed(),
        "awslogs" => prop_oneof![3 => entries(&["data", "x"], scalar(), 3), 1 => scalar()].boxed(),
        _ => scalar(),
    }
}

fn event() -> impl Strategy<Value = String> {
    prop::collection::vec(select(TOP_KEYS).prop_flat_map(|k| (Just(k), any::<bool>(), value_for(k))), 0..7)
        .prop_map(|es| object(es.into_iter().map(|(k, e, v)| (lit(k, e), v)).collect()))
}

/// `c`, what `classify` said of `event`, is the reference's answer where
/// the reference can build a tree; where it cannot (too deep, a number out
/// of `f64`'s range, a lone surrogate in a skipped string: all valid JSON
/// that the runtimes read) `c` is `Direct` or `event` is at least valid JSON.
fn agrees_where_it_can(event: &[u8], c: InputSource) -> Result<(), TestCaseError> {
    match reference::classify(event) {
        Some(r) => prop_assert_eq!(c, r),
        None if c != Direct => {
            let valid = serde_json::from_slice::<serde::de::IgnoredAny>(event).is_ok();
            prop_assert!(valid, "{c} for invalid JSON: {}", String::from_utf8_lossy(event));
        }
        None => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// Events built from the fields the rules read (with duplicates, escaped
    /// keys and values of every type): `classify` agrees with the reference.
    #[test]
    fn agrees_with_the_reference(event in event()) {
        let expected = reference::classify(event.as_bytes());
        prop_assert!(expected.is_some(), "generated invalid JSON: {event}");
        prop_assert_eq!(Some(classify(event.as_bytes())), expected, "{}", event);
    }

    /// Arbitrary bytes: no panic, the same answer twice, and `direct` unless
    /// the reference (which parses completely) agrees.
    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let c = classify(&bytes);
        prop_assert_eq!(c, classify(&bytes));
        agrees_where_it_can(&bytes, c)?;
    }

    /// A sample with one byte changed: the same rules as for arbitrary bytes.
    #[test]
    fn samples_with_one_byte_changed(which in 0..SAMPLES.len(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut event = sample(SAMPLES[which].0);
        let i = at.index(event.len());
        event[i] = byte;
        agrees_where_it_can(&event, classify(&event))?;
    }
}

/// Extra fuzz seeds beyond the samples: the adversarial shapes above.
const EXTRA_SEEDS: &[(&str, &[u8])] = &[
    ("direct-sqs-shape.json", br#"{"Records":[{"eventSource":"aws:sqs"}]}"#),
    ("duplicate-records.json", br#"{"Records":[{"eventSource":"aws:sqs"}],"Records":[{"eventSource":"aws:s3"}]}"#),
    ("escaped-keys.json", br#"{"Rec\u006frds":[{"\u0045ventSource":"aws\u003asns"}]}"#),
    ("mixed-records.json", br#"{"Records":[{"eventSource":"aws:sqs"},{"EventSource":"aws:sns"}]}"#),
    ("window-empty.json", br#"{"Records":[],"window":{},"eventSourceARN":"arn:aws:dynamodb:r:1:table/t/stream/x"}"#),
    ("two-families.json", br#"{"awslogs":{"data":"x"},"httpMethod":"GET","requestContext":{"elb":{}}}"#),
    ("websocket-min.json", br#"{"requestContext":{"apiId":"a","connectionId":"c","eventType":"CONNECT"}}"#),
    (
        "nested-mention.json",
        br#"{"body":"{\"Records\":[{\"eventSource\":\"aws:sqs\"}]}","x":{"awslogs":{"data":"a"}}}"#,
    ),
];

/// The fuzz target's seeds are the samples and `EXTRA_SEEDS`;
/// `RAMPART_WRITE_SEEDS=1` rewrites them after a change.
#[test]
fn fuzz_seeds_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/classify_events");
    let mut seeds: Vec<(String, Vec<u8>)> = SAMPLES.iter().map(|(f, _, _)| (f.to_string(), sample(f))).collect();
    seeds.extend(EXTRA_SEEDS.iter().map(|(f, b)| (f.to_string(), b.to_vec())));
    for (name, bytes) in &seeds {
        let path = dir.join(name);
        if std::env::var_os("RAMPART_WRITE_SEEDS").is_some() {
            fs::create_dir_all(&dir).unwrap();
            fs::write(&path, bytes).unwrap();
        }
        let seed = fs::read(&path).unwrap_or_default();
        assert!(
            seed == *bytes,
            "{} is not current: rewrite the seeds with \
             RAMPART_WRITE_SEEDS=1 cargo test -p rampart-inputs --test classify fuzz_seeds",
            path.display()
        );
    }
    let mut on_disk: Vec<String> =
        fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    on_disk.sort();
    let mut expected: Vec<String> = seeds.into_iter().map(|(n, _)| n).collect();
    expected.sort();
    assert_eq!(on_disk, expected, "{} holds exactly the seeds", dir.display());
}
