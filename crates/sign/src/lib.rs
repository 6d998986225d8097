//! Signed policies: ed25519 keys and signatures in a text form that fits an
//! environment variable, a file and S3 user metadata.
//!
//! The anchor rules protect the layer from the function's code; a signature
//! protects the policy from whoever can write its bucket. The layer is given
//! only the public key (`RAMPART_POLICY_KEY`); the secret key stays where
//! policies are written (`rampart policy keygen` / `sign` / `push`), so a role
//! that may put objects in the bucket still cannot loosen its own policy.
//!
//! Text forms (surrounding whitespace is ignored when parsing):
//! - public key: `ed25519:<base64 of the 32-byte key>`
//! - secret key: `rampart-ed25519-secret:<base64 of the 32-byte seed>`
//! - signature: `ed25519:<base64 of the 64-byte signature>`
//!
//! What is signed is [`DOMAIN`] followed by the exact bytes of the policy
//! file, so a rampart key can never be tricked into producing a signature
//! that is valid for anything else, and any change to the file — even
//! whitespace — invalidates it.

#![forbid(unsafe_code)]

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// S3 user metadata name (sent as `x-amz-meta-rampart-signature`) that
/// carries the signature of a policy object.
pub const METADATA_NAME: &str = "rampart-signature";

/// Prefix of what is signed: separates policy signatures from any other use
/// of an ed25519 key.
pub const DOMAIN: &[u8] = b"rampart-policy-v1\0";

const PUBLIC_PREFIX: &str = "ed25519:";
const SECRET_PREFIX: &str = "rampart-ed25519-secret:";
const SIGNATURE_PREFIX: &str = "ed25519:";

/// Why a key or signature was rejected. The message says what to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignError {
    /// The text does not start with the expected prefix.
    Prefix { what: &'static str, expected: &'static str },
    /// The part after the prefix is not base64.
    Base64 { what: &'static str },
    /// The decoded bytes have the wrong length.
    Length { what: &'static str, expected: usize, found: usize },
    /// 32 bytes that are not a valid ed25519 public key.
    BadKey,
    /// The signature is well-formed but not valid for this policy and key.
    Mismatch,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::Prefix { what, expected } => write!(f, "{what} must start with `{expected}`"),
            SignError::Base64 { what } => write!(f, "{what} is not valid base64"),
            SignError::Length { what, expected, found } => {
                write!(f, "{what} must be {expected} bytes, found {found}")
            }
            SignError::BadKey => f.write_str("public key is not a valid ed25519 point"),
            SignError::Mismatch => f.write_str(
                "signature does not match the policy — it was changed after signing or signed with another key",
            ),
        }
    }
}

impl std::error::Error for SignError {}

/// The key that signs policies. Its memory is wiped when dropped.
pub struct SecretKey(SigningKey);

/// The key the layer checks signatures with (`RAMPART_POLICY_KEY`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

/// A new secret key from the operating system's randomness.
///
/// # Panics
/// When the OS has no randomness to give (no `getrandom(2)` and no
/// `/dev/urandom`): a key made without it would be guessable.
pub fn generate() -> SecretKey {
    let mut seed = [0u8; 32];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut seed).expect("the operating system's random number generator failed");
    let key = SecretKey(SigningKey::from_bytes(&seed));
    seed.fill(0);
    key
}

/// `FILE.sig`: where the signature of a local policy file is kept.
pub fn signature_path(policy: &Path) -> PathBuf {
    let mut name = policy.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

fn decode<const N: usize>(text: &str, prefix: &'static str, what: &'static str) -> Result<[u8; N], SignError> {
    let body = text.trim().strip_prefix(prefix).ok_or(SignError::Prefix { what, expected: prefix })?;
    let bytes = STANDARD.decode(body.trim()).map_err(|_| SignError::Base64 { what })?;
    let found = bytes.len();
    bytes.try_into().map_err(|_| SignError::Length { what, expected: N, found })
}

fn message(policy: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + policy.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(policy);
    m
}

impl SecretKey {
    /// Reads the text form written by [`SecretKey::to_text`].
    pub fn parse(text: &str) -> Result<SecretKey, SignError> {
        let mut seed = decode::<32>(text, SECRET_PREFIX, "secret key")?;
        let key = SecretKey(SigningKey::from_bytes(&seed));
        seed.fill(0);
        Ok(key)
    }

    /// `rampart-ed25519-secret:<base64>`, without a newline.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(self.0.to_bytes()))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The signature of the exact bytes `policy`, in text form.
    pub fn sign(&self, policy: &[u8]) -> String {
        let sig = self.0.sign(&message(policy));
        format!("{SIGNATURE_PREFIX}{}", STANDARD.encode(sig.to_bytes()))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret, not even in a panic message.
        write!(f, "SecretKey(public {})", self.public().to_text())
    }
}

impl PublicKey {
    /// Reads `ed25519:<base64>` (what users put in `RAMPART_POLICY_KEY`).
    pub fn parse(text: &str) -> Result<PublicKey, SignError> {
        let bytes = decode::<32>(text, PUBLIC_PREFIX, "public key")?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| SignError::BadKey)?;
        // A small-order key would accept forged signatures for some messages.
        if key.is_weak() {
            return Err(SignError::BadKey);
        }
        Ok(PublicKey(key))
    }

    /// `ed25519:<base64>`, without a newline.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_PREFIX}{}", STANDARD.encode(self.0.to_bytes()))
    }

    /// Ok when `signature` (text form) was made by this key's secret over
    /// exactly `policy`.
    pub fn verify(&self, policy: &[u8], signature: &str) -> Result<(), SignError> {
        let bytes = decode::<64>(signature, SIGNATURE_PREFIX, "signature")?;
        let sig = Signature::from_bytes(&bytes);
        // Strict: rejects non-canonical and malleable encodings, so one
        // policy has one valid signature per key.
        self.0.verify_strict(&message(policy), &sig).map_err(|_| SignError::Mismatch)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_text())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &[u8] = br#"{"version":1,"mode":"block","allow":{"file":["r /var/task/**"]}}"#;

    /// RFC 8032 test 1's secret key, so the text forms are pinned.
    const SEED: [u8; 32] = [
        0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49,
        0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
    ];

    fn fixed() -> SecretKey {
        SecretKey(SigningKey::from_bytes(&SEED))
    }

    #[test]
    fn text_forms_are_pinned() {
        let sk = fixed();
        assert_eq!(sk.to_text(), "rampart-ed25519-secret:nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=");
        // RFC 8032 test 1's public key.
        assert_eq!(sk.public().to_text(), "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
        let sig = sk.sign(b"");
        assert!(sig.starts_with("ed25519:"));
        assert_eq!(STANDARD.decode(&sig["ed25519:".len()..]).unwrap().len(), 64);
    }

    #[test]
    fn signs_the_domain_separated_message() {
        // A plain ed25519 signature over the policy bytes alone must not pass:
        // what is signed always starts with DOMAIN.
        let sk = fixed();
        let raw = sk.0.sign(POLICY);
        let raw_text = format!("ed25519:{}", STANDARD.encode(raw.to_bytes()));
        assert_eq!(sk.public().verify(POLICY, &raw_text), Err(SignError::Mismatch));
        let mut m = DOMAIN.to_vec();
        m.extend_from_slice(POLICY);
        let expected = format!("ed25519:{}", STANDARD.encode(sk.0.sign(&m).to_bytes()));
        assert_eq!(sk.sign(POLICY), expected);
    }

    #[test]
    fn roundtrip_and_parse_tolerates_whitespace() {
        let sk = generate();
        let pk = sk.public();
        let sig = sk.sign(POLICY);
        assert_eq!(pk.verify(POLICY, &sig), Ok(()));
        assert_eq!(pk.verify(POLICY, &format!("  {sig}\n")), Ok(()));
        let sk2 = SecretKey::parse(&format!("{}\n", sk.to_text())).unwrap();
        assert_eq!(sk2.to_text(), sk.to_text());
        assert_eq!(sk2.sign(POLICY), sig, "ed25519 signatures are deterministic");
        let pk2 = PublicKey::parse(&format!("\t{}\r\n", pk.to_text())).unwrap();
        assert_eq!(pk2, pk);
        assert_eq!(pk2.verify(POLICY, &sig), Ok(()));
    }

    #[test]
    fn generate_gives_different_keys() {
        assert_ne!(generate().to_text(), generate().to_text());
    }

    #[test]
    fn tampered_policy_fails() {
        let sk = generate();
        let sig = sk.sign(POLICY);
        for i in 0..POLICY.len() {
            let mut p = POLICY.to_vec();
            p[i] ^= 1;
            assert_eq!(sk.public().verify(&p, &sig), Err(SignError::Mismatch), "byte {i}");
        }
        let mut longer = POLICY.to_vec();
        longer.push(b'\n');
        assert_eq!(sk.public().verify(&longer, &sig), Err(SignError::Mismatch));
        assert_eq!(sk.public().verify(&POLICY[..POLICY.len() - 1], &sig), Err(SignError::Mismatch));
    }

    #[test]
    fn tampered_signature_fails() {
        let sk = fixed();
        let sig = sk.sign(POLICY);
        let bytes = STANDARD.decode(&sig["ed25519:".len()..]).unwrap();
        for i in 0..64 {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            let text = format!("ed25519:{}", STANDARD.encode(&b));
            assert_eq!(sk.public().verify(POLICY, &text), Err(SignError::Mismatch), "byte {i}");
        }
    }

    #[test]
    fn wrong_key_fails_with_a_clear_message() {
        let sig = generate().sign(POLICY);
        let err = generate().public().verify(POLICY, &sig).unwrap_err();
        assert_eq!(err, SignError::Mismatch);
        assert_eq!(
            err.to_string(),
            "signature does not match the policy — it was changed after signing or signed with another key"
        );
    }

    #[test]
    fn malformed_texts() {
        let pk = fixed().public().to_text();
        let sk = fixed().to_text();
        // Wrong prefix: a secret key given as a public key and vice versa.
        assert_eq!(PublicKey::parse(&sk).unwrap_err(), SignError::Prefix { what: "public key", expected: "ed25519:" });
        assert_eq!(
            SecretKey::parse(&pk).unwrap_err(),
            SignError::Prefix { what: "secret key", expected: "rampart-ed25519-secret:" }
        );
        assert_eq!(PublicKey::parse("").unwrap_err().to_string(), "public key must start with `ed25519:`");
        assert_eq!(PublicKey::parse("ED25519:abc").unwrap_err().to_string(), "public key must start with `ed25519:`");
        // Bad base64.
        assert_eq!(PublicKey::parse("ed25519:not base64!").unwrap_err(), SignError::Base64 { what: "public key" });
        assert_eq!(
            SecretKey::parse("rampart-ed25519-secret:@@@@").unwrap_err().to_string(),
            "secret key is not valid base64"
        );
        // Wrong length.
        let short = format!("ed25519:{}", STANDARD.encode([7u8; 31]));
        assert_eq!(PublicKey::parse(&short).unwrap_err().to_string(), "public key must be 32 bytes, found 31");
        let long = format!("rampart-ed25519-secret:{}", STANDARD.encode([7u8; 64]));
        assert_eq!(
            SecretKey::parse(&long).unwrap_err(),
            SignError::Length { what: "secret key", expected: 32, found: 64 }
        );
        // A public key given where a signature is expected.
        assert_eq!(
            fixed().public().verify(POLICY, &pk).unwrap_err(),
            SignError::Length { what: "signature", expected: 64, found: 32 }
        );
        assert_eq!(
            fixed().public().verify(POLICY, "sig").unwrap_err().to_string(),
            "signature must start with `ed25519:`"
        );
        // Not a curve point / a small-order point.
        // y = 2 has no x on the curve.
        let mut bad = [0u8; 32];
        bad[0] = 2;
        let bad_text = format!("ed25519:{}", STANDARD.encode(bad));
        assert_eq!(PublicKey::parse(&bad_text).unwrap_err(), SignError::BadKey);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::parse(&format!("ed25519:{}", STANDARD.encode(identity))).unwrap_err(), SignError::BadKey);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let sk = fixed();
        let secret_b64 = &sk.to_text()["rampart-ed25519-secret:".len()..];
        assert!(!format!("{sk:?}").contains(secret_b64));
    }

    #[test]
    fn signature_path_appends_sig() {
        assert_eq!(signature_path(Path::new("policy.json")), PathBuf::from("policy.json.sig"));
        assert_eq!(signature_path(Path::new("/a/b/p")), PathBuf::from("/a/b/p.sig"));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn any_change_breaks_the_signature(
                seed in any::<[u8; 32]>(),
                policy in proptest::collection::vec(any::<u8>(), 0..256),
                at in any::<prop::sample::Index>(),
                flip in 1u8..=255,
            ) {
                let sk = SecretKey(SigningKey::from_bytes(&seed));
                let sig = sk.sign(&policy);
                prop_assert_eq!(sk.public().verify(&policy, &sig), Ok(()));
                let round = PublicKey::parse(&sk.public().to_text()).unwrap();
                prop_assert_eq!(round.verify(&policy, &sig), Ok(()));
                if !policy.is_empty() {
                    let mut changed = policy.clone();
                    changed[at.index(policy.len())] ^= flip;
                    prop_assert_eq!(sk.public().verify(&changed, &sig), Err(SignError::Mismatch));
                }
            }

            #[test]
            fn parse_never_panics(text in ".{0,120}") {
                let _ = PublicKey::parse(&text);
                let _ = SecretKey::parse(&text);
                let _ = fixed().public().verify(b"x", &text);
            }
        }
    }
}
