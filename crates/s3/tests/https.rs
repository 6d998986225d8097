//! The rustls path for real: a loopback HTTPS server with a self-signed
//! certificate, trusted through `ca_bundle` and refused without it.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rampart_s3::{Client, ErrorKind, GetObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const BODY: &str = r#"{"version": 1, "mode": "block"}"#;

/// Serves `connections` TLS connections, one GET each, then ends.
/// Returns the endpoint, the certificate's PEM and the server thread.
fn serve(connections: usize) -> (String, String, JoinHandle<Vec<String>>) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let pem = cert.cert.pem();
    let chain = vec![CertificateDer::from(cert.cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = std::thread::spawn(move || {
        let mut outcomes = Vec::new();
        for _ in 0..connections {
            let (tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut reader = BufReader::new(&mut tls);
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(_) => {
                    let mut header = String::new();
                    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                        header.clear();
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nETag: \"tls-etag\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
                        BODY.len()
                    );
                    tls.write_all(response.as_bytes()).unwrap();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                    outcomes.push(line.trim_end().to_owned());
                }
                Err(e) => outcomes.push(format!("handshake failed: {e}")),
            }
        }
        outcomes
    });
    (endpoint, pem, server)
}

fn client(endpoint: &str, ca_bundle: Option<std::path::PathBuf>) -> Client {
    let mut config = common::config(endpoint, "AKIDTEST", "secret", None, Duration::from_secs(5));
    config.ca_bundle = ca_bundle;
    Client::new(config).unwrap()
}

#[test]
fn trusts_the_ca_bundle_and_refuses_without_it() {
    let (endpoint, pem, server) = serve(2);

    let e = client(&endpoint, None).get_object("bucket", "fn/policy.json", None, 1024).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert!(e.to_string().contains("TLS with 127.0.0.1:"), "{e}");
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, pem).unwrap();
    let got = client(&endpoint, Some(bundle)).get_object("bucket", "fn/policy.json", None, 1024).unwrap();
    let GetObject::Found(object) = got else { panic!("{got:?}") };
    assert_eq!((object.body.as_slice(), object.etag.as_deref()), (BODY.as_bytes(), Some("\"tls-etag\"")));

    let outcomes = server.join().unwrap();
    assert!(outcomes[0].starts_with("handshake failed"), "{outcomes:?}");
    assert_eq!(outcomes[1], "GET /bucket/fn/policy.json HTTP/1.1");
}
