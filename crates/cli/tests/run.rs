//! `rampart run`: its own errors, and the environment it gives the command
//! (the library itself is exercised by the suites in tests/).

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

/// A stand-in for the library: `rampart run` only checks that it exists;
/// `--mode off` and `env -i`-free commands below never need it to load,
/// and ld.so ignores a preload it cannot use with a message.
fn fake_lib(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("librampart.so");
    std::fs::write(&p, b"not an ELF").unwrap();
    p
}

fn rampart(lib: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("run").args(args).env_remove("RAMPART_LIB").env_remove("LD_PRELOAD");
    if let Some(lib) = lib {
        cmd.env("RAMPART_LIB", lib);
    }
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let lib = fake_lib(dir.path());
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"version":1,"mode":"block","allow":{"file":["rw"]}}"#).unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--mode", "loud", "--", "true"], "rampart: unknown mode `loud` (profile, alert, block or off)\n"),
        (&["--policy", bad.to_str().unwrap(), "--", "true"], "allow.file[0]"),
        (&["--policy", "/nonexistent/policy.json", "--", "true"], "/nonexistent/policy.json: No such file"),
        (&["--mode", "off"], "rampart: "),
    ];
    for (args, expect) in cases {
        let out = rampart(Some(&lib), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_missing_library_is_named() {
    let out = rampart(Some(Path::new("/nonexistent/librampart.so")), &["--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), "rampart: RAMPART_LIB=/nonexistent/librampart.so: no such file\n");
}

#[test]
fn a_missing_command_exits_127() {
    let dir = tempfile::tempdir().unwrap();
    let lib = fake_lib(dir.path());
    let out = rampart(Some(&lib), &["--mode", "off", "--", "/nonexistent/cmd"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(stderr(&out), "rampart: cannot run `/nonexistent/cmd`: No such file or directory\n");
}

#[test]
fn the_command_gets_the_configuration_and_nothing_stale() {
    let dir = tempfile::tempdir().unwrap();
    let lib = fake_lib(dir.path());
    let policy = dir.path().join("p.json");
    std::fs::write(&policy, r#"{"version":1,"mode":"alert","allow":{}}"#).unwrap();
    // `env` prints what the command got; a relative --policy becomes absolute.
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["run", "--policy", "p.json", "--mode", "block", "--", "env"])
        .env("RAMPART_LIB", &lib)
        .env("RAMPART_STALE", "1")
        .env("LD_PRELOAD", "/x/libother.so")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let env = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| env.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(str::to_owned);
    assert_eq!(get("LD_PRELOAD"), Some(format!("{}:/x/libother.so", lib.display())));
    assert_eq!(get("RAMPART_POLICY"), Some(dir.path().join("p.json").display().to_string()));
    assert_eq!(get("RAMPART_MODE").as_deref(), Some("block"));
    assert_eq!(get("UV_USE_IO_URING").as_deref(), Some("0"));
    assert_eq!(get("RAMPART_STALE"), None);
    assert_eq!(get("RAMPART_LIB"), None);
}
