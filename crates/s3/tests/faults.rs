//! The client against servers that misbehave: FaultyS3 (hangs, cut bodies,
//! 5xx, 304) and canned responses (`NoSuchBucket`, wrong-region redirects),
//! plus network failures that never reach a server.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{Canned, s3_error};
use rampart_s3::{Client, ErrorKind, GetObject};
use rampart_tests::faulty_s3::{Fault, FaultyS3};

const BUCKET: &str = "bucket";
const KEY: &str = "fn/policy.json";

fn client(endpoint: &str, token: Option<&str>, timeout: Duration) -> Client {
    common::client(endpoint, "AKIDTEST", "secret", token, timeout)
}

#[test]
fn conditional_get_sends_if_none_match_and_returns_not_modified() {
    let server = FaultyS3::start();
    server.set_object(b"{\"version\": 1}", "abc123", &[("rampart-version", "1")]);
    let client = client(&server.endpoint(), None, Duration::from_secs(5));
    let GetObject::Found(object) = client.get_object(BUCKET, KEY, None, 1024).unwrap() else { panic!() };
    assert_eq!(object.etag.as_deref(), Some("\"abc123\""));
    assert_eq!(object.metadata, [("rampart-version".to_owned(), "1".to_owned())]);
    let etag = object.etag.unwrap();
    assert_eq!(client.get_object(BUCKET, KEY, Some(&etag), 1024).unwrap(), GetObject::NotModified);
    server.set_object(b"{\"version\": 1, \"mode\": \"block\"}", "def456", &[]);
    let GetObject::Found(object) = client.get_object(BUCKET, KEY, Some(&etag), 1024).unwrap() else { panic!() };
    assert_eq!(object.etag.as_deref(), Some("\"def456\""));

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].header("if-none-match"), None);
    assert_eq!(requests[1].header("if-none-match"), Some("\"abc123\""));
    for r in &requests {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/bucket/fn/policy.json"));
        assert_eq!(r.header("host"), Some(server.addr().to_string().as_str()));
        let auth = r.header("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
                && auth.contains(
                    "/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="
                ),
            "{auth}"
        );
        assert_eq!(r.header("x-amz-security-token"), None);
    }
}

#[test]
fn session_token_is_sent_and_signed() {
    let server = FaultyS3::start();
    server.set_object(b"{}", "e", &[]);
    let client = client(&server.endpoint(), Some("TOKEN/+="), Duration::from_secs(5));
    client.get_object(BUCKET, KEY, None, 1024).unwrap();
    let r = &server.requests()[0];
    assert_eq!(r.header("x-amz-security-token"), Some("TOKEN/+="));
    assert!(
        r.header("authorization")
            .unwrap()
            .contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
        "{r:?}"
    );
}

#[test]
fn a_hanging_server_times_out_within_the_timeout() {
    let server = FaultyS3::start();
    server.set_object(b"{}", "e", &[]);
    server.set_fault(Fault::Hang);
    let timeout = Duration::from_millis(700);
    let client = client(&server.endpoint(), None, timeout);
    let start = Instant::now();
    let e = client.get_object(BUCKET, KEY, None, 1024).unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(took >= timeout && took < timeout + Duration::from_millis(800), "took {took:?}");
    assert!(e.to_string().contains("no complete response from 127.0.0.1:"), "{e}");
    assert!(e.to_string().contains("within 700ms"), "{e}");
}

#[test]
fn a_body_shorter_than_its_content_length_is_truncated() {
    let server = FaultyS3::start();
    server.set_object(&[b'a'; 1000], "e", &[]);
    server.set_fault(Fault::Truncate);
    let client = client(&server.endpoint(), None, Duration::from_secs(5));
    let e = client.get_object(BUCKET, KEY, None, 4096).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated, "{e}");
    assert_eq!(
        e.to_string(),
        "GET s3://bucket/fn/policy.json failed: the connection closed after 500 of 1000 bytes of the body"
    );
    // The next request gets a new connection and works.
    server.set_fault(Fault::None);
    assert!(matches!(client.get_object(BUCKET, KEY, None, 4096).unwrap(), GetObject::Found(_)));
}

#[test]
fn server_errors_and_denials_are_classified() {
    let server = FaultyS3::start();
    server.set_object(b"{}", "e", &[]);
    let client = client(&server.endpoint(), None, Duration::from_secs(5));
    for (status, kind, says) in [
        (500, ErrorKind::Server, "HTTP 500 Internal Server Error, InternalError: We encountered an internal error."),
        (503, ErrorKind::Server, "HTTP 503 Service Unavailable, SlowDown: Please reduce your request rate."),
        (403, ErrorKind::AccessDenied, "HTTP 403 Forbidden, AccessDenied: Access Denied"),
        (400, ErrorKind::Status, "HTTP 400 Bad Request, InvalidRequest: Invalid Request"),
    ] {
        server.set_fault(Fault::Status(status));
        let e = client.get_object(BUCKET, KEY, None, 1024).unwrap_err();
        assert_eq!((e.kind(), e.status()), (kind, Some(status)), "{e}");
        assert!(e.to_string().starts_with(&format!("GET s3://bucket/fn/policy.json failed: {says}")), "{e}");
    }
    server.set_fault(Fault::Status(500));
    assert_eq!(client.head_object(BUCKET, KEY).unwrap_err().kind(), ErrorKind::Server);
    server.set_fault(Fault::None);
    server.remove_object();
    assert_eq!(client.get_object(BUCKET, KEY, None, 1024).unwrap(), GetObject::NotFound);
}

#[test]
fn a_huge_object_is_refused_without_reading_it() {
    let server = FaultyS3::start();
    server.set_fault(Fault::Huge(200 << 20));
    let client = client(&server.endpoint(), None, Duration::from_secs(5));
    let start = Instant::now();
    let e = client.get_object(BUCKET, KEY, None, 1 << 20).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert!(e.to_string().contains("the object is 209715200 bytes, more than the limit of 1048576 bytes"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
}

#[test]
fn a_body_longer_than_announced_is_cut_at_the_limit() {
    // No Content-Length: the body runs until the server closes; one byte over is enough.
    let body = "x".repeat(5000);
    let server = Canned::start(&format!("HTTP/1.1 200 OK\r\nETag: \"t\"\r\nConnection: close\r\n\r\n{body}"));
    let client = client(&server.endpoint, None, Duration::from_secs(5));
    let e = client.get_object(BUCKET, KEY, None, 4000).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    let GetObject::Found(object) = client.get_object(BUCKET, KEY, None, 5000).unwrap() else { panic!() };
    assert_eq!(object.body.len(), 5000);
}

#[test]
fn no_such_bucket_is_its_own_kind() {
    let server = Canned::start(&s3_error(
        "404 Not Found",
        "",
        "NoSuchBucket",
        "The specified bucket does not exist",
        "<BucketName>bucket</BucketName>",
    ));
    let client = client(&server.endpoint, None, Duration::from_secs(5));
    let e = client.get_object(BUCKET, KEY, None, 1024).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::NoSuchBucket, Some("NoSuchBucket")));
    assert_eq!(
        e.to_string(),
        "GET s3://bucket/fn/policy.json failed: HTTP 404 Not Found, NoSuchBucket: The specified bucket does not exist"
    );
    let e = client.put_object(BUCKET, KEY, b"{}", "application/json", &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoSuchBucket, "{e}");
    assert!(server.heads()[1].starts_with("PUT /bucket/fn/policy.json HTTP/1.1\r\n"), "{:?}", server.heads());
}

#[test]
fn wrong_region_redirects_are_reported_not_followed() {
    let server = Canned::start(&s3_error(
        "301 Moved Permanently",
        "x-amz-bucket-region: eu-west-1\r\nLocation: https://elsewhere.invalid/\r\n",
        "PermanentRedirect",
        "The bucket you are attempting to access must be addressed using the specified endpoint.",
        "<Endpoint>bucket.s3.eu-west-1.amazonaws.com</Endpoint>",
    ));
    let client = client(&server.endpoint, None, Duration::from_secs(5));
    let e = client.get_object(BUCKET, KEY, None, 1024).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Status, "{e}");
    assert!(
        e.to_string().ends_with(
            "HTTP 301 Moved Permanently, PermanentRedirect: The bucket you are attempting to access must be addressed \
             using the specified endpoint. (the bucket is in region eu-west-1, not us-east-1: set AWS_REGION=eu-west-1)"
        ),
        "{e}"
    );
    // HEAD has no body: the region header alone says it.
    let e = client.head_object(BUCKET, KEY).unwrap_err();
    assert!(
        e.to_string().ends_with(
            "HTTP 301 Moved Permanently (the bucket is in region eu-west-1, not us-east-1: set AWS_REGION=eu-west-1)"
        ),
        "{e}"
    );
    assert_eq!(server.heads().len(), 2, "no redirect was followed");

    let server = Canned::start(&s3_error(
        "400 Bad Request",
        "",
        "AuthorizationHeaderMalformed",
        "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'ap-south-1'",
        "<Region>ap-south-1</Region>",
    ));
    let client = self::client(&server.endpoint, None, Duration::from_secs(5));
    let e = client.get_object(BUCKET, KEY, None, 1024).unwrap_err();
    assert!(
        e.to_string().ends_with("(the bucket is in region ap-south-1, not us-east-1: set AWS_REGION=ap-south-1)"),
        "{e}"
    );
}

#[test]
fn garbage_instead_of_http_is_a_protocol_error() {
    let server = Canned::start("SSH-2.0-OpenSSH_9.6\r\n\r\n");
    let e = client(&server.endpoint, None, Duration::from_secs(5)).get_object(BUCKET, KEY, None, 1024).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.to_string().contains("invalid HTTP response from 127.0.0.1:"), "{e}");
}

#[test]
fn a_closed_port_is_a_connect_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = client(&format!("http://127.0.0.1:{port}"), None, Duration::from_secs(5));
    let e = client.get_object(BUCKET, KEY, None, 1024).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("GET s3://bucket/fn/policy.json failed: cannot connect to 127.0.0.1:{port}: ")),
        "{e}"
    );
}

#[test]
fn an_unresolvable_host_is_a_dns_error() {
    // RFC 6761: names under .invalid never resolve.
    let client = client("http://rampart-s3-test.invalid:9000", None, Duration::from_secs(5));
    let e = client.get_object(BUCKET, KEY, None, 1024).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Dns, "{e}");
    assert!(e.to_string().contains("cannot resolve rampart-s3-test.invalid:9000"), "{e}");
}
