//! Reading inputs and writing outputs so that a failure is one line and a
//! file is never left half-written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rampart_policy::{Policy, PolicyDoc};

/// A failure to report as `rampart: MESSAGE` (exit code 2).
#[derive(Debug)]
pub struct Fail(pub String);

impl Fail {
    pub fn new(msg: impl Into<String>) -> Fail {
        Fail(msg.into())
    }

    /// `PATH: what went wrong`.
    pub fn io(path: &Path, e: &io::Error) -> Fail {
        Fail(format!("{}: {}", path.display(), io_message(e)))
    }
}

/// An I/O error as a short phrase: "No such file or directory", without
/// the "(os error 2)" tail.
pub fn io_message(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The whole file as UTF-8 text.
pub fn read_text(path: &Path) -> Result<String, Fail> {
    let bytes = fs::read(path).map_err(|e| Fail::io(path, &e))?;
    String::from_utf8(bytes).map_err(|_| Fail(format!("{}: not UTF-8 text", path.display())))
}

/// A policy document (its shape checked, rules not yet parsed).
pub fn read_doc(path: &Path) -> Result<PolicyDoc, Fail> {
    let text = read_text(path)?;
    PolicyDoc::from_json(&text).map_err(|e| Fail(format!("{}: {e}", path.display())))
}

/// A policy document whose every rule is valid.
pub fn read_valid(path: &Path) -> Result<(PolicyDoc, Policy), Fail> {
    let doc = read_doc(path)?;
    let policy = doc.validate().map_err(|e| Fail(format!("{}: {e}", path.display())))?;
    Ok((doc, policy))
}

/// Replaces (or creates) `path` with `data` atomically: the bytes go to a
/// new file in the same directory, which is flushed to disk and then
/// renamed over `path`. On any failure the temporary file is removed and
/// `path` is as it was. A symlink is followed (its target is replaced); an
/// existing file keeps its permissions.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), Fail> {
    let target: PathBuf = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).map_err(|e| Fail::io(path, &e))?,
        _ => path.to_path_buf(),
    };
    let existing = match fs::metadata(&target) {
        Ok(m) if m.is_dir() => return Err(Fail(format!("{}: is a directory", path.display()))),
        Ok(m) => Some(m.permissions()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Fail::io(path, &e)),
    };
    let Some(name) = target.file_name() else {
        return Err(Fail(format!("{}: not a file name", path.display())));
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tmp, mut file) = create_temp(&dir, &name.to_string_lossy(), 0o666).map_err(|e| Fail::io(path, &e))?;
    let result = (|| {
        file.write_all(data)?;
        if let Some(perms) = existing {
            file.set_permissions(perms)?;
        }
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &target)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Fail::io(path, &e));
    }
    // Make the rename itself durable; not every filesystem can sync a directory.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes a file only its owner can read (mode 0600 from the start, so the
/// bytes are never readable by others, whatever the umask). The file is
/// complete before it appears under `path`: written beside it, synced, then
/// hard-linked into place when `replace` is false (which fails, atomically,
/// when `path` exists) or renamed over it when `replace` is true.
pub fn write_private(path: &Path, data: &[u8], replace: bool) -> Result<(), Fail> {
    let exists = fs::symlink_metadata(path).is_ok();
    if exists && !replace {
        return Err(Fail(format!("{}: already exists (--force replaces it)", path.display())));
    }
    if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(Fail(format!("{}: is a directory", path.display())));
    }
    let Some(name) = path.file_name() else {
        return Err(Fail(format!("{}: not a file name", path.display())));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tmp, mut file) = create_temp(&dir, &name.to_string_lossy(), 0o600).map_err(|e| Fail::io(path, &e))?;
    let result = (|| {
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(data)?;
        file.sync_all()?;
        drop(file);
        if replace { fs::rename(&tmp, path) } else { fs::hard_link(&tmp, path) }
    })();
    // After a hard link the temporary name is an extra link; after a failure, litter.
    let _ = fs::remove_file(&tmp);
    match result {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Err(Fail(format!("{}: already exists (--force replaces it)", path.display())))
        }
        Err(e) => Err(Fail::io(path, &e)),
        Ok(()) => {
            if let Ok(d) = File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        }
    }
}

fn create_temp(dir: &Path, name: &str, mode: u32) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    let mut last = None;
    for n in 0..64 {
        let tmp = dir.join(format!(".{name}.rampart-{pid}-{n}.tmp"));
        match OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

/// Writes to standard output; a closed pipe or full disk is a failure.
pub fn print(text: &str) -> Result<(), Fail> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| Fail(format!("stdout: {}", io_message(&e))))
}
