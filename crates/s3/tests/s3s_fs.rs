//! The client against s3s-fs, a real S3 server that verifies every SigV4 signature.

mod common;

use std::time::Duration;

use rampart_s3::{ErrorKind, GetObject};
use rampart_tests::s3s::S3Server;

const BUCKET: &str = "rampart-test";
const TIMEOUT: Duration = Duration::from_secs(10);

fn client_for(server: &S3Server, token: Option<&str>) -> rampart_s3::Client {
    common::client(&server.endpoint(), server.access_key(), server.secret_key(), token, TIMEOUT)
}

#[test]
fn put_then_get_roundtrips_body_etag_and_metadata() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let client = client_for(&server, None);
    // Spaces, '+' and non-ASCII in the key: the signed path must match what s3s-fs decodes.
    let key = "fn/dir with space/pølicy+1.json";
    let body = br#"{"version": 1, "mode": "alert"}"#;
    let etag = client
        .put_object(BUCKET, key, body, "application/json", &[("Rampart-Version", "0.1.0"), ("source", "rampart learn")])
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()))
        .expect("PUT returns an ETag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(std::fs::read(server.object_path(BUCKET, key)).unwrap(), body);

    match client.get_object(BUCKET, key, None, 1024).unwrap() {
        GetObject::Found(object) => {
            assert_eq!(object.body, body);
            assert_eq!(object.etag.as_deref(), Some(etag.as_str()));
            assert_eq!(
                object.metadata,
                [("rampart-version".to_owned(), "0.1.0".to_owned()), ("source".to_owned(), "rampart learn".to_owned())]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.head_object(BUCKET, key).unwrap(), Some(etag.clone()));

    // s3s-fs ignores If-None-Match (tests/src/s3s.rs, (c)): the header only
    // must not break the signature. The 304 path is tested against FaultyS3.
    assert!(matches!(client.get_object(BUCKET, key, Some(&etag), 1024).unwrap(), GetObject::Found(_)));

    // A second PUT replaces the object and its tag; the agent reuses its connection.
    let etag2 = client.put_object(BUCKET, key, b"{}", "application/json", &[]).unwrap().unwrap();
    assert_ne!(etag2, etag);
    let GetObject::Found(object) = client.get_object(BUCKET, key, Some(&etag), 1024).unwrap() else { panic!() };
    assert_eq!((object.body.as_slice(), object.etag.as_deref(), object.metadata.len()), (&b"{}"[..], Some(&*etag2), 0));
}

#[test]
fn missing_object_is_not_found() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let client = client_for(&server, None);
    assert_eq!(client.get_object(BUCKET, "fn/policy.json", None, 1024).unwrap(), GetObject::NotFound);
    assert_eq!(client.head_object(BUCKET, "fn/policy.json").unwrap(), None);
}

#[test]
fn wrong_secret_is_access_denied_with_s3s_code() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    std::fs::write(server.object_path(BUCKET, "policy.json"), b"{}").unwrap();
    let client = common::client(&server.endpoint(), server.access_key(), "not-the-secret", None, TIMEOUT);
    let e = client.get_object(BUCKET, "policy.json", None, 1024).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AccessDenied, "{e}");
    assert_eq!(e.code(), Some("SignatureDoesNotMatch"));
    assert!(
        e.to_string()
            .starts_with(&format!("GET s3://{BUCKET}/policy.json failed: HTTP 403 Forbidden, SignatureDoesNotMatch")),
        "{e}"
    );
    let e = client.put_object(BUCKET, "policy.json", b"{}", "application/json", &[]).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::AccessDenied, Some("SignatureDoesNotMatch")), "{e}");
    let e = client.head_object(BUCKET, "policy.json").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AccessDenied, "{e}");
    assert_eq!(e.to_string(), format!("HEAD s3://{BUCKET}/policy.json failed: HTTP 403 Forbidden"));

    let client = common::client(&server.endpoint(), "AKIDUNKNOWN", server.secret_key(), None, TIMEOUT);
    let e = client.get_object(BUCKET, "policy.json", None, 1024).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AccessDenied, "{e}");
    assert!(e.to_string().contains("HTTP 403"), "{e}");
}

#[test]
fn object_over_the_limit_is_too_large() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let client = client_for(&server, None);
    let body = vec![b'x'; 100];
    client.put_object(BUCKET, "big", &body, "application/octet-stream", &[]).unwrap();
    let e = client.get_object(BUCKET, "big", None, 99).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert_eq!(
        e.to_string(),
        format!("GET s3://{BUCKET}/big failed: the object is 100 bytes, more than the limit of 99 bytes")
    );
    let GetObject::Found(object) = client.get_object(BUCKET, "big", None, 100).unwrap() else { panic!() };
    assert_eq!(object.body, body);
}

#[test]
fn session_token_is_sent_signed_and_accepted() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let client = client_for(&server, Some("IQoJb3JpZ2luX2VjEXAMPLE/token+with=chars"));
    client.put_object(BUCKET, "t.json", b"{}", "application/json", &[]).unwrap_or_else(|e| panic!("{e}"));
    let GetObject::Found(object) = client.get_object(BUCKET, "t.json", None, 10).unwrap() else { panic!() };
    assert_eq!(object.body, b"{}");
    assert!(client.head_object(BUCKET, "t.json").unwrap().is_some());
}

#[test]
fn dotted_bucket_names_work_path_style() {
    let server = S3Server::start();
    server.create_bucket("rampart.dotted.test");
    let client = client_for(&server, None);
    client.put_object("rampart.dotted.test", "p/policy.json", b"{}", "application/json", &[]).unwrap();
    assert!(client.head_object("rampart.dotted.test", "p/policy.json").unwrap().is_some());
}
