//! A copy of the Lambda layer in a temporary directory, laid out as Lambda
//! unpacks it under `/opt`:
//!
//! ```text
//! opt/rampart/wrapper                              shims/wrapper
//! opt/rampart/lib/<HOSTTYPE>/librampart.so         the built library
//! opt/rampart/lib/<HOSTTYPE>/librampart_fetch.so   the built fetcher, beside it
//! ```
//!
//! The wrapper finds `lib/` relative to its own path, so a function started
//! as `DIR/opt/rampart/wrapper RUNTIME_CMD ARGS...` runs exactly as it would
//! on Lambda with `AWS_LAMBDA_EXEC_WRAPPER=/opt/rampart/wrapper`.
//!
//! The libraries are hard links to the built ones (a copy where the temp
//! dir is on another file system): the layer's files, not links that the
//! library would see through when it looks for `librampart_fetch.so` beside
//! itself.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::rampart_lib;
use crate::runtimes_common::TempDir;

/// The script in the repository.
pub const WRAPPER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shims/wrapper");
/// The language shims in the repository, one folder per runtime.
const SHIMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shims");
const SHIM_DIRS: [&str; 2] = ["python", "node"];

/// bash's own `$HOSTTYPE` (the name of the layer's lib/ folder for this
/// machine), not one inherited from the environment.
pub fn hosttype() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| {
        let out = Command::new("bash")
            .args(["-c", "echo $HOSTTYPE"])
            .env_remove("HOSTTYPE")
            .output()
            .unwrap_or_else(|e| panic!("cannot run bash ({e}): the wrapper needs it"));
        let h = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(out.status.success() && !h.is_empty(), "bash -c 'echo $HOSTTYPE' printed {h:?}");
        h
    })
}

/// The built `librampart_fetch.so`: beside [`rampart_lib`], where the
/// library looks for it.
pub fn rampart_fetch_lib() -> PathBuf {
    let path = rampart_lib().with_file_name("librampart_fetch.so");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p rampart-cli -p rampart-preload -p rampart-fetch`",
        path.display()
    );
    path
}

/// A layer in a temporary directory, removed on drop.
pub struct Layer {
    dir: TempDir,
    wrapper: PathBuf,
}

impl Layer {
    /// The whole layer, with the libraries for this machine.
    pub fn new() -> Layer {
        Layer::with_arch(Some(hosttype()))
    }

    /// The layer with its libraries under `lib/<arch>/` (another machine's
    /// name: the wrong layer for this one), or with no `lib/` at all
    /// (`None`).
    pub fn with_arch(arch: Option<&str>) -> Layer {
        Layer::under(TempDir::new("layer"), "", arch)
    }

    /// The layer at `dir/sub/opt/rampart` (`sub` relative, may be empty).
    pub fn under(dir: TempDir, sub: &str, arch: Option<&str>) -> Layer {
        let root = dir.path().join(sub).join("opt/rampart");
        std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("create {}: {e}", root.display()));
        let wrapper = root.join("wrapper");
        std::fs::copy(WRAPPER, &wrapper).unwrap_or_else(|e| panic!("copy {WRAPPER}: {e}"));
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod wrapper");
        if let Some(arch) = arch {
            let lib_dir = root.join("lib").join(arch);
            std::fs::create_dir_all(&lib_dir).unwrap_or_else(|e| panic!("create {}: {e}", lib_dir.display()));
            for built in [rampart_lib(), rampart_fetch_lib()] {
                let to = lib_dir.join(built.file_name().expect("a file name"));
                if std::fs::hard_link(&built, &to).is_err() {
                    std::fs::copy(&built, &to).unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
                }
            }
        }
        wait_executable(&wrapper);
        Layer { dir, wrapper }
    }

    /// [`Layer::new`] with the language shims where the layer zip has them,
    /// every file of `shims/python/` and `shims/node/` under
    /// `opt/rampart/python/` and `opt/rampart/node/`.
    pub fn with_shims() -> Layer {
        let layer = Layer::new();
        let root = layer.wrapper().parent().expect("opt/rampart").to_owned();
        for dir in SHIM_DIRS {
            let from = Path::new(SHIMS).join(dir);
            std::fs::create_dir_all(root.join(dir)).unwrap_or_else(|e| panic!("create {dir}: {e}"));
            let entries = std::fs::read_dir(&from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
            for entry in entries.map(|e| e.expect("a directory entry")) {
                if entry.file_type().is_ok_and(|t| t.is_file()) {
                    let to = root.join(dir).join(entry.file_name());
                    std::fs::copy(entry.path(), &to).unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
                }
            }
        }
        layer
    }

    /// The temporary directory that holds `opt/` (a canonical path).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `.../opt/rampart/wrapper`: what `AWS_LAMBDA_EXEC_WRAPPER` names,
    /// the first word of the runtime's command line.
    pub fn wrapper(&self) -> PathBuf {
        self.wrapper.clone()
    }

    /// Where the wrapper looks for the library on this machine.
    pub fn lib(&self) -> PathBuf {
        self.wrapper.with_file_name("lib").join(hosttype()).join("librampart.so")
    }
}

impl Default for Layer {
    fn default() -> Self {
        Layer::new()
    }
}

/// Returns once `path` can be executed. A file just written cannot be while
/// a process forked by another test thread (between its fork and its exec)
/// still holds the descriptor it was written through: exec fails with
/// ETXTBSY, and under the emulator that would be a failed init. Once one
/// exec succeeds no such descriptor is left, and none is opened again.
fn wait_executable(path: &Path) {
    for _ in 0..250 {
        // With no arguments the wrapper writes one error line and exits 2.
        match Command::new(path).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) => std::thread::sleep(Duration::from_millis(20)),
            Ok(_) => return,
            Err(e) => panic!("cannot run {}: {e}", path.display()),
        }
    }
    panic!("{} stayed busy (ETXTBSY)", path.display());
}

/// `ETXTBSY` on Linux.
const ETXTBSY: i32 = 26;
