//! Trust roots: Mozilla's (`webpki-roots`) plus the certificates of a PEM bundle.
//!
//! ureq takes either its built-in Mozilla roots or a list of DER certificates,
//! not both. Mozilla's roots ship as trust anchors (subject, public key, name
//! constraints), and the same roots as whole certificates (`webpki-root-certs`)
//! would add about 130 KiB to a library loaded into every Lambda runtime.
//! So each anchor is carried in a minimal certificate envelope that rustls
//! turns back into exactly that anchor: a trust anchor's certificate is never
//! verified, only its subject, key and name constraints are read. A test checks
//! that every anchor comes out byte for byte as it went in.

use std::path::Path;

use ureq::tls::Certificate;
use webpki_roots::TLS_SERVER_ROOTS;

use crate::error::Error;

/// The bundle's certificates followed by Mozilla's roots.
pub(crate) fn with_bundle(path: &Path) -> Result<Vec<Certificate<'static>>, Error> {
    let mut certs = crate::client::bundle_certs(path)?;
    certs.extend(TLS_SERVER_ROOTS.iter().map(|anchor| {
        Certificate::from_der(&envelope(
            &anchor.subject,
            &anchor.subject_public_key_info,
            anchor.name_constraints.as_deref(),
        ))
        .to_owned()
    }));
    Ok(certs)
}

/// A DER tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

const SEQUENCE: u8 = 0x30;

/// An X.509 v3 certificate with the anchor's subject (also as issuer), key and
/// name constraints, and a placeholder validity and signature, which are not
/// read for trust anchors. `subject`, `spki` and `name_constraints` are the
/// contents of their SEQUENCEs, as `TrustAnchor` holds them.
fn envelope(subject: &[u8], spki: &[u8], name_constraints: Option<&[u8]>) -> Vec<u8> {
    // ecdsa-with-SHA256 (1.2.840.10045.4.3.2).
    let algorithm = tlv(SEQUENCE, &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);
    let mut validity = tlv(0x17, b"500101000000Z");
    validity.extend(tlv(0x17, b"491231235959Z"));
    let mut tbs = tlv(0xa0, &[0x02, 0x01, 0x02]); // [0] version v3
    tbs.extend_from_slice(&[0x02, 0x01, 0x01]); // serial 1
    tbs.extend(&algorithm);
    tbs.extend(tlv(SEQUENCE, subject)); // issuer
    tbs.extend(tlv(SEQUENCE, &validity));
    tbs.extend(tlv(SEQUENCE, subject));
    tbs.extend(tlv(SEQUENCE, spki));
    if let Some(nc) = name_constraints {
        // id-ce-nameConstraints (2.5.29.30), critical as RFC 5280 requires.
        let mut ext = vec![0x06, 0x03, 0x55, 0x1d, 0x1e, 0x01, 0x01, 0xff];
        ext.extend(tlv(0x04, &tlv(SEQUENCE, nc)));
        tbs.extend(tlv(0xa3, &tlv(SEQUENCE, &tlv(SEQUENCE, &ext))));
    }
    let mut cert = tlv(SEQUENCE, &tbs);
    cert.extend(algorithm);
    cert.extend(tlv(0x03, &[0x00])); // empty signature
    tlv(SEQUENCE, &cert)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::RootCertStore;
    use rustls::pki_types::CertificateDer;

    #[test]
    fn every_mozilla_anchor_survives_the_envelope() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("ca.pem");
        // Any certificate will do as the bundle's: take one of webpki's test roots.
        let one = envelope(b"\x31\x0b\x30\x09\x06\x03\x55\x04\x03\x0c\x02ca", b"\x30\x00\x03\x01\x00", None);
        let pem = format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", base64(&one));
        std::fs::write(&bundle, pem).unwrap();

        let certs = with_bundle(&bundle).unwrap();
        assert_eq!(certs.len(), TLS_SERVER_ROOTS.len() + 1);
        assert_eq!(certs[0].der(), &one[..]);
        let mut store = RootCertStore::empty();
        let (added, ignored) =
            store.add_parsable_certificates(certs[1..].iter().map(|c| CertificateDer::from(c.der().to_vec())));
        assert_eq!((added, ignored), (TLS_SERVER_ROOTS.len(), 0));
        assert_eq!(store.roots, TLS_SERVER_ROOTS);
        assert!(TLS_SERVER_ROOTS.iter().any(|a| a.name_constraints.is_some()), "the test covers name constraints");
    }

    #[test]
    fn encodes_long_lengths() {
        assert_eq!(tlv(0x04, &[7; 3]), [0x04, 3, 7, 7, 7]);
        assert_eq!(&tlv(0x04, &[0; 0x80])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(&tlv(0x04, &[0; 0x1234])[..4], [0x04, 0x82, 0x12, 0x34]);
    }

    fn base64(data: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for chunk in data.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..4 {
                s.push(if i <= chunk.len() { char::from(A[(n >> (18 - 6 * i) & 63) as usize]) } else { '=' });
            }
        }
        s
    }
}
