//! `classify` on the largest events Lambda delivers (6 MB, the synchronous
//! payload limit): an API Gateway REST event whose `body` is one big JSON
//! text (an escaped quote every few bytes, the slow path of string
//! skipping), the same with a base64 body (no escapes), and an SQS batch of
//! 5 000 messages with JSON bodies; and on the small documentation samples.
//! For comparison on the same inputs: `reference` (a full
//! `serde_json::Value` tree) and `validate_only` (serde_json skipping the
//! whole event: the floor for any classifier that validates).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rampart_inputs::{InputSource, classify, reference};
use serde::de::IgnoredAny;
use serde_json::Value;

/// Lambda's limit on a synchronous invocation's payload.
const SIX_MB: usize = 6 * 1024 * 1024;

/// A JSON text of about `len` bytes, as a client would POST it.
fn json_text(len: usize) -> String {
    let mut s = String::from("[");
    let mut i = 0u64;
    while s.len() < len {
        s.push_str(&format!(r#"{{"id":{i},"name":"item {i}","tags":["a","b"],"price":{}.5}},"#, i % 997));
        i += 1;
    }
    s.pop();
    s.push(']');
    s
}

/// Base64 text of `len` bytes (a binary body): no escapes at all.
fn base64_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..len).map(|i| ALPHABET[(i * 7 + i / 64) % 64] as char).collect()
}

/// The REST API sample with its `body` (made by `body`) grown until the
/// event is just under 6 MB.
fn api_gateway_6mb(body: fn(usize) -> String) -> Vec<u8> {
    let mut event: Value = serde_json::from_slice(include_bytes!("../tests/events/apigateway-rest.json")).unwrap();
    let base = serde_json::to_vec(&event).unwrap().len();
    // Every `"` of a JSON body gains a backslash when serialized: aim low, then check.
    let mut body_len = (SIX_MB - base) * 8 / 10;
    loop {
        event["body"] = Value::String(body(body_len));
        let bytes = serde_json::to_vec(&event).unwrap();
        if bytes.len() <= SIX_MB {
            if SIX_MB - bytes.len() < 64 * 1024 {
                return bytes;
            }
            body_len += (SIX_MB - bytes.len()) * 8 / 10;
        } else {
            body_len -= (bytes.len() - SIX_MB) + 1024;
        }
    }
}

/// 5 000 copies of the documentation's first SQS record, each with a JSON
/// body, just under 6 MB in all.
fn sqs_6mb() -> Vec<u8> {
    let sample: Value = serde_json::from_slice(include_bytes!("../tests/events/sqs.json")).unwrap();
    let record = &sample["Records"][0];
    let n = 5000;
    let overhead = serde_json::to_vec(record).unwrap().len() + 1;
    let body_len = (SIX_MB - 64) / n - overhead;
    let mut records = Vec::with_capacity(n);
    for i in 0..n {
        let mut r = record.clone();
        let body = json_text(body_len * 8 / 10);
        r["body"] = Value::String(body);
        r["messageId"] = Value::String(format!("msg-{i}"));
        records.push(r);
    }
    let bytes = serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap();
    assert!(bytes.len() <= SIX_MB, "{} bytes", bytes.len());
    bytes
}

fn bench(c: &mut Criterion) {
    let big = [
        ("apigateway_6mb", api_gateway_6mb(json_text), InputSource::ApiGateway),
        ("apigateway_6mb_base64", api_gateway_6mb(base64_text), InputSource::ApiGateway),
        ("sqs_6mb", sqs_6mb(), InputSource::Sqs),
    ];
    let mut group = c.benchmark_group("big");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    for (name, event, expected) in &big {
        eprintln!("{name}: {} bytes", event.len());
        assert_eq!(classify(event), *expected, "{name}");
        assert_eq!(reference::classify(event), Some(*expected), "{name}");
        group.throughput(Throughput::Bytes(event.len() as u64));
        group.bench_with_input(BenchmarkId::new("classify", name), event, |b, e| b.iter(|| classify(black_box(e))));
        group.bench_with_input(BenchmarkId::new("reference", name), event, |b, e| {
            b.iter(|| reference::classify(black_box(e)))
        });
        // The floor: what checking that the event is JSON costs by itself.
        group.bench_with_input(BenchmarkId::new("validate_only", name), event, |b, e| {
            b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(e)).is_ok())
        });
    }
    group.finish();

    let small: [(&str, &[u8]); 3] = [
        ("sqs", include_bytes!("../tests/events/sqs.json")),
        ("apigateway_rest", include_bytes!("../tests/events/apigateway-rest.json")),
        ("eventbridge_scheduled", include_bytes!("../tests/events/eventbridge-scheduled.json")),
    ];
    let mut group = c.benchmark_group("sample");
    for (name, event) in small {
        group.throughput(Throughput::Bytes(event.len() as u64));
        group.bench_with_input(BenchmarkId::new("classify", name), event, |b, e| b.iter(|| classify(black_box(e))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
