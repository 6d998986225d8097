//! `rampart policy push|pull` and `rampart policy mode s3://...`: moving a
//! policy to and from the S3 folder the layer reads (`prefix/policy.json`,
//! its signature in the object's user metadata).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use rampart_policy::{Mode, Policy, PolicyDoc};
use rampart_s3::{Client, ErrorKind, GetObject, Location};
use rampart_sign::{METADATA_NAME, PublicKey, SecretKey, signature_path};

use crate::S3Opts;
use crate::files::{Fail, io_message, print, read_text, write_atomic};
use crate::keys::{self, PUBKEY_ENV};
use crate::policy::{parse_mode, summary};

/// The layer's limit too (crates/preload/src/refresh.rs): larger than any
/// real policy (1 000 rules per category is about 100 kB), small enough that
/// a wrong object is not read into memory.
const MAX_POLICY_BYTES: u64 = 16 << 20;

const CONTENT_TYPE: &str = "application/json";

/// A parsed `s3://bucket/prefix` and the key of its policy object.
struct Target {
    loc: Location,
    key: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, Fail> {
        let loc = Location::parse(url, None).map_err(|e| Fail(e.to_string()))?;
        if loc.prefix.is_empty() {
            // The layer reads `s3://bucket` as `s3://bucket/$AWS_LAMBDA_FUNCTION_NAME`;
            // guessing the function here would put the policy where it is not read.
            return Err(Fail(format!(
                "{url}: give the prefix too: s3://{}/PREFIX (with RAMPART_POLICY=s3://{} the layer reads PREFIX = the function's name)",
                loc.bucket, loc.bucket
            )));
        }
        let key = loc.policy_key();
        Ok(Target { loc, key })
    }

    fn url(&self) -> String {
        format!("s3://{}/{}", self.loc.bucket, self.key)
    }
}

fn client(s3: &S3Opts) -> Result<Client, Fail> {
    let get = |name: &str| std::env::var(name).ok();
    let config = rampart_s3::resolve_cli(s3.profile.as_deref(), &get).map_err(|e| s3_fail(&e, None, ""))?;
    Client::new(config).map_err(|e| s3_fail(&e, None, ""))
}

/// One line that says what failed and what to check. `permission` is the
/// IAM action the operation needs (`s3:GetObject`, `s3:PutObject`).
fn s3_fail(e: &rampart_s3::Error, target: Option<&Target>, permission: &str) -> Fail {
    let msg = match e.kind() {
        ErrorKind::Credentials => {
            let text = e.to_string();
            let lead = if text.starts_with("no AWS credentials") { "" } else { "no usable AWS credentials: " };
            format!(
                "{lead}{text} (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with --profile or AWS_PROFILE)"
            )
        }
        ErrorKind::AccessDenied => {
            let hint = match e.code() {
                Some("SignatureDoesNotMatch") => {
                    "the secret access key does not belong to the access key id, or the clock is off".to_string()
                }
                Some("InvalidAccessKeyId") => "the access key id is not known there".to_string(),
                Some("ExpiredToken" | "InvalidToken") => "the session token has expired or is invalid".to_string(),
                _ => match target {
                    Some(t) => format!("check that these credentials may {permission} on {}", t.url()),
                    None => "check the credentials".to_string(),
                },
            };
            format!("access denied: {e} ({hint})")
        }
        ErrorKind::NoSuchBucket => match target {
            Some(t) => format!("the bucket {} does not exist: {e}", t.loc.bucket),
            None => format!("the bucket does not exist: {e}"),
        },
        ErrorKind::Dns | ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Tls => {
            format!("network failure: {e}")
        }
        _ => e.to_string(),
    };
    Fail(msg)
}

/// The signature in an object's user metadata.
fn metadata_signature(metadata: &[(String, String)]) -> Option<&str> {
    metadata.iter().find(|(name, _)| name.eq_ignore_ascii_case(METADATA_NAME)).map(|(_, v)| v.as_str())
}

/// Where the public key came from, for messages.
fn pubkey_source(arg: Option<&str>) -> &'static str {
    if arg.is_some() { "--pubkey" } else { PUBKEY_ENV }
}

fn check_key_matches(
    secret: &SecretKey,
    key_file: &Path,
    public: Option<&PublicKey>,
    arg: Option<&str>,
) -> Result<(), Fail> {
    match public {
        Some(public) if secret.public() != *public => Err(Fail(format!(
            "{}: this secret key belongs to {}, not to {} ({}): the layer would reject what it signs; nothing uploaded",
            key_file.display(),
            secret.public(),
            public,
            pubkey_source(arg)
        ))),
        _ => Ok(()),
    }
}

pub fn push(
    file: &Path,
    url: &str,
    key_file: Option<&Path>,
    pubkey_arg: Option<&str>,
    s3: &S3Opts,
) -> Result<ExitCode, Fail> {
    let target = Target::parse(url)?;
    let (bytes, policy) = keys::read_policy(file, "nothing uploaded")?;
    let public = keys::load_public(pubkey_arg)?;
    let (signature, how) = match key_file {
        Some(key_file) => {
            let secret = keys::load_secret(key_file)?;
            check_key_matches(&secret, key_file, public.as_ref(), pubkey_arg)?;
            (Some(secret.sign(&bytes)), format!("signed by {}", secret.public()))
        }
        None => {
            let sig_path = signature_path(file);
            match std::fs::metadata(&sig_path) {
                Ok(_) => {
                    let sig = read_text(&sig_path)?.trim().to_string();
                    if !sig.starts_with("ed25519:") {
                        return Err(Fail(format!(
                            "{}: not a signature (expected `ed25519:...` from `rampart policy sign`); nothing uploaded",
                            sig_path.display()
                        )));
                    }
                    let how = match &public {
                        Some(public) => {
                            public.verify(&bytes, &sig).map_err(|e| {
                                Fail(format!(
                                    "{}: {e} ({} {public}); nothing uploaded",
                                    sig_path.display(),
                                    pubkey_source(pubkey_arg)
                                ))
                            })?;
                            format!("signature from {} verified with {public}", sig_path.display())
                        }
                        None => {
                            format!("signature from {} (not checked: no --pubkey or {PUBKEY_ENV})", sig_path.display())
                        }
                    };
                    (Some(sig), how)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if let Some(public) = &public {
                        return Err(Fail(format!(
                            "{}: not signed, and {} is set ({public}): the layer would reject it; sign it with --key or `rampart policy sign`; nothing uploaded",
                            file.display(),
                            pubkey_source(pubkey_arg)
                        )));
                    }
                    (None, "unsigned".to_string())
                }
                Err(e) => return Err(Fail::io(&sig_path, &e)),
            }
        }
    };
    let client = client(s3)?;
    let metadata: Vec<(&str, &str)> = signature.as_deref().map(|s| (METADATA_NAME, s)).into_iter().collect();
    let etag = client
        .put_object(&target.loc.bucket, &target.key, &bytes, CONTENT_TYPE, &metadata)
        .map_err(|e| s3_fail(&e, Some(&target), "s3:PutObject"))?;
    print(&format!(
        "pushed {} to {}\nETag {}; {}; {how}\n",
        file.display(),
        target.url(),
        etag.as_deref().unwrap_or("(none returned)"),
        summary(policy.mode, policy.block, policy.counts()),
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// The policy object as fetched.
struct Fetched {
    body: Vec<u8>,
    signature: Option<String>,
    etag: Option<String>,
}

/// The policy object, or a clear "nothing there" (`missing` says what to do).
fn get(client: &Client, target: &Target, missing: &str) -> Result<Fetched, Fail> {
    match client.get_object(&target.loc.bucket, &target.key, None, MAX_POLICY_BYTES) {
        Ok(GetObject::Found(obj)) => {
            let signature = metadata_signature(&obj.metadata).map(|s| s.trim().to_string());
            Ok(Fetched { body: obj.body, signature, etag: obj.etag })
        }
        Ok(GetObject::NotFound) => Err(Fail(format!("{}: no policy there yet ({missing})", target.url()))),
        Ok(GetObject::NotModified) => Err(Fail(format!("{}: unexpected 304 Not Modified", target.url()))),
        Err(e) if e.kind() == ErrorKind::TooLarge => {
            Err(Fail(format!("{}: larger than {} MiB, not a policy: {e}", target.url(), MAX_POLICY_BYTES >> 20)))
        }
        Err(e) => Err(s3_fail(&e, Some(target), "s3:GetObject")),
    }
}

pub fn pull(url: &str, output: Option<&Path>, pubkey_arg: Option<&str>, s3: &S3Opts) -> Result<ExitCode, Fail> {
    let target = Target::parse(url)?;
    let public = keys::load_public(pubkey_arg)?;
    let client = client(s3)?;
    let Fetched { body, signature: sig, etag } =
        get(&client, &target, "the layer runs in profile mode until one is pushed with `rampart policy push`")?;
    let signed = match (&public, &sig) {
        (Some(public), Some(sig)) => {
            public.verify(&body, sig).map_err(|e| {
                Fail(format!("{}: {e} ({} {public}); nothing written", target.url(), pubkey_source(pubkey_arg)))
            })?;
            format!("signature verified with {public}")
        }
        (Some(public), None) => {
            return Err(Fail(format!(
                "{}: not signed, but {} is set ({public}): a layer with that key rejects it; nothing written",
                target.url(),
                pubkey_source(pubkey_arg)
            )));
        }
        (None, Some(_)) => format!("signed, not verified: no --pubkey or {PUBKEY_ENV}"),
        (None, None) => "unsigned".to_string(),
    };
    let what = match std::str::from_utf8(&body)
        .map_err(|_| "not UTF-8".to_string())
        .and_then(|t| Policy::parse(t).map_err(|e| e.to_string()))
    {
        Ok(p) => summary(p.mode, p.block, p.counts()),
        Err(e) => format!("NOT A VALID POLICY: {e}"),
    };
    let etag = etag.as_deref().unwrap_or("(none)").to_string();
    match output {
        Some(out) => {
            write_atomic(out, &body)?;
            let sig_path = signature_path(out);
            let mut note = String::new();
            match &sig {
                Some(sig) => {
                    write_atomic(&sig_path, format!("{sig}\n").as_bytes())?;
                    note = format!(" and {}", sig_path.display());
                }
                None => match std::fs::remove_file(&sig_path) {
                    // A signature left from an earlier pull would be pushed with the wrong policy.
                    Ok(()) => note = format!(" (removed the stale {})", sig_path.display()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Fail::io(&sig_path, &e)),
                },
            }
            print(&format!("pulled {} to {}{note}\nETag {etag}; {what}; {signed}\n", target.url(), out.display()))?;
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&body)
                .and_then(|()| stdout.flush())
                .map_err(|e| Fail(format!("stdout: {}", io_message(&e))))?;
            eprintln!("rampart: pulled {} (ETag {etag}; {what}; {signed})", target.url());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn set_mode(
    url: &str,
    mode: &str,
    key_file: Option<&Path>,
    pubkey_arg: Option<&str>,
    s3: &S3Opts,
) -> Result<ExitCode, Fail> {
    let mode = parse_mode(mode)?;
    let target = Target::parse(url)?;
    let public = keys::load_public(pubkey_arg)?;
    let secret = match key_file {
        Some(path) => {
            let secret = keys::load_secret(path)?;
            check_key_matches(&secret, path, public.as_ref(), pubkey_arg)?;
            Some((path, secret))
        }
        None => None,
    };
    let client = client(s3)?;
    let Fetched { body, signature: sig, .. } =
        get(&client, &target, "push one first with `rampart policy push FILE URL`")?;
    let text =
        String::from_utf8(body).map_err(|_| Fail(format!("{}: not UTF-8 text; nothing changed", target.url())))?;
    let mut doc = PolicyDoc::from_json(&text).and_then(|doc| doc.validate().map(|_| doc)).map_err(|e| {
        Fail(format!("{}: not a valid policy: {e}; fix it with `rampart policy pull` and `push`", target.url()))
    })?;
    match (&secret, &sig) {
        (None, Some(_)) => {
            return Err(Fail(format!(
                "{}: the policy there is signed: give --key SECRET_FILE to sign the change (a layer that requires signatures rejects an unsigned policy); nothing changed",
                target.url()
            )));
        }
        (None, None) if public.is_some() => {
            return Err(Fail(format!(
                "{}: {} is set, so the layer requires signed policies: give --key SECRET_FILE; nothing changed",
                target.url(),
                pubkey_source(pubkey_arg)
            )));
        }
        (Some((path, secret)), Some(sig)) => {
            // Re-signing vouches for the rules: only when this key signed them.
            secret.public().verify(text.as_bytes(), sig).map_err(|e| {
                Fail(format!(
                    "{}: {e} (checked with the key in {}); review it with `rampart policy pull` before signing it; nothing changed",
                    target.url(),
                    path.display()
                ))
            })?;
        }
        (Some(_), None) => {
            return Err(Fail(format!(
                "{}: the policy there is not signed; signing it here would vouch for rules nobody checked: review it with `rampart policy pull -o FILE`, then `rampart policy push FILE {url} --key ...`; nothing changed",
                target.url()
            )));
        }
        (None, None) => {}
    }
    if doc.mode == mode {
        print(&format!("{}: mode is already {mode}; nothing changed\n", target.url()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let was: Mode = doc.mode;
    doc.mode = mode;
    let new = doc.to_json();
    let policy = Policy::parse(&new).map_err(|e| Fail(format!("{}: {e}", target.url())))?;
    let new_sig = secret.as_ref().map(|(_, s)| s.sign(new.as_bytes()));
    let metadata: Vec<(&str, &str)> = new_sig.as_deref().map(|s| (METADATA_NAME, s)).into_iter().collect();
    let etag = client
        .put_object(&target.loc.bucket, &target.key, new.as_bytes(), CONTENT_TYPE, &metadata)
        .map_err(|e| s3_fail(&e, Some(&target), "s3:PutObject"))?;
    let how = match &secret {
        Some((_, s)) => format!("signed by {}", s.public()),
        None => "unsigned".to_string(),
    };
    print(&format!(
        "{}: mode {mode} (was {was})\nETag {}; {}; {how}\n",
        target.url(),
        etag.as_deref().unwrap_or("(none returned)"),
        summary(policy.mode, policy.block, policy.counts())
    ))?;
    Ok(ExitCode::SUCCESS)
}
