//! `rampart policy keygen|sign`, and reading the keys the other commands
//! take (`--key SECRET_FILE`, `--pubkey` / `RAMPART_POLICY_KEY`).

use std::path::Path;
use std::process::ExitCode;

use rampart_policy::Policy;
use rampart_sign::{PublicKey, SecretKey, signature_path};

use crate::files::{Fail, print, read_text, write_atomic, write_private};
use crate::policy::summary;

/// The environment variable the layer reads the public key from; the CLI
/// honours it too, so checking a signature here means what it means there.
pub const PUBKEY_ENV: &str = "RAMPART_POLICY_KEY";

pub fn keygen(output: &Path, force: bool) -> Result<ExitCode, Fail> {
    let key = rampart_sign::generate();
    let mut text = key.to_text();
    text.push('\n');
    write_private(output, text.as_bytes(), force)?;
    let public = key.public().to_text();
    print(&format!(
        "wrote the secret key to {} (mode 0600; keep it off the function and out of the bucket)\n\
         public key: {public}\n\
         Set {PUBKEY_ENV}={public} in the function's environment: the layer then accepts only policies signed with this key.\n",
        output.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// The secret key in `path` (as written by `keygen`).
pub fn load_secret(path: &Path) -> Result<SecretKey, Fail> {
    let text = read_text(path)?;
    SecretKey::parse(&text)
        .map_err(|e| Fail(format!("{}: {e} (expected a key written by `rampart policy keygen`)", path.display())))
}

/// The public key to check signatures with: `--pubkey` (the key text, or a
/// file holding it), else `RAMPART_POLICY_KEY`, else none.
pub fn load_public(arg: Option<&str>) -> Result<Option<PublicKey>, Fail> {
    if let Some(arg) = arg {
        let text = if arg.trim_start().starts_with("ed25519:") {
            arg.to_string()
        } else {
            read_text(Path::new(arg))
                .map_err(|Fail(m)| Fail(format!("--pubkey {m} (expected `ed25519:...` or a file holding it)")))?
        };
        return PublicKey::parse(&text).map(Some).map_err(|e| Fail(format!("--pubkey: {e}")));
    }
    match std::env::var(PUBKEY_ENV) {
        Ok(text) if !text.trim().is_empty() => {
            PublicKey::parse(&text).map(Some).map_err(|e| Fail(format!("{PUBKEY_ENV}: {e}")))
        }
        _ => Ok(None),
    }
}

/// The file's exact bytes (what is signed) and the policy they hold;
/// invalid policies are refused, with `action` saying what did not happen.
pub fn read_policy(file: &Path, action: &str) -> Result<(Vec<u8>, Policy), Fail> {
    let text = read_text(file)?;
    let policy = Policy::parse(&text).map_err(|e| Fail(format!("{}: {e} ({action})", file.display())))?;
    Ok((text.into_bytes(), policy))
}

pub fn sign(file: &Path, key_file: &Path) -> Result<ExitCode, Fail> {
    let key = load_secret(key_file)?;
    let (bytes, policy) = read_policy(file, "not signed")?;
    let sig_path = signature_path(file);
    write_atomic(&sig_path, format!("{}\n", key.sign(&bytes)).as_bytes())?;
    print(&format!(
        "wrote {} ({}; signed by {})\n",
        sig_path.display(),
        summary(policy.mode, policy.block, policy.counts()),
        key.public()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Re-signs `file` after an edit when a key is given; otherwise warns when
/// an existing `FILE.sig` no longer matches (it would be rejected by a layer
/// that requires signatures).
pub fn after_edit(file: &Path, bytes: &[u8], key: Option<&SecretKey>) -> Result<String, Fail> {
    let sig_path = signature_path(file);
    match key {
        Some(key) => {
            write_atomic(&sig_path, format!("{}\n", key.sign(bytes)).as_bytes())?;
            Ok(format!("wrote {} (signed by {})\n", sig_path.display(), key.public()))
        }
        None if sig_path.exists() => {
            eprintln!(
                "rampart: warning: {} no longer matches {}; sign it again with `rampart policy sign` (or give --key)",
                sig_path.display(),
                file.display()
            );
            Ok(String::new())
        }
        None => Ok(String::new()),
    }
}
