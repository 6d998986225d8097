//! The Lambda exec wrapper, `shims/wrapper`, run the way Lambda runs it
//! (`wrapper RUNTIME_CMD ARGS...`, executed through its `#!/bin/bash` line)
//! from a copy of the layer's layout in a temporary directory
//! ([`rampart_tests::layer`]):
//!
//! ```text
//! opt/rampart/wrapper
//! opt/rampart/lib/<HOSTTYPE>/librampart.so        the built library
//! opt/rampart/lib/<HOSTTYPE>/librampart_fetch.so  and its fetcher
//! ```
//!
//! Checked: what it hands the runtime (LD_PRELOAD, UV_USE_IO_URING, the
//! language shims on PYTHONPATH and NODE_OPTIONS with the function's own
//! values kept, and the shims loading in real interpreters), that a
//! real interpreter started through it is protected, the one `error` line and
//! the two outcomes when the library for this architecture is missing (byte
//! for byte what crates/event would write), no arguments, and that the script
//! is shellcheck-clean and parses.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_event::EventType::{Block, Error, Status};
use rampart_event::{Event, EventRef, MAX_LINE, PREFIX};
use rampart_policy::{Access, Category};
use rampart_tests::layer::{Layer, WRAPPER, hosttype};
use rampart_tests::runtimes_common::{TempDir, base_file_rules, json_str};
use rampart_tests::{Outcome, outcome, write_policy};

/// Whether bash has `$EPOCHREALTIME` (bash 5): then the wrapper's `ts` has
/// milliseconds, else (bash 4.2, Amazon Linux 2) whole seconds.
fn bash_has_epochrealtime() -> bool {
    let out = Command::new("bash").args(["-c", "echo ${EPOCHREALTIME:+yes}"]).output().expect("bash");
    text(&out.stdout).trim() == "yes"
}

/// A lib/ folder name that is not this machine's.
fn other_arch() -> &'static str {
    if hosttype() == "x86_64" { "aarch64" } else { "x86_64" }
}

/// The wrapper with `args`, run from the layer's temporary directory.
fn command<S: AsRef<OsStr>>(layer: &Layer, args: &[S]) -> Command {
    let mut cmd = clean(Command::new(layer.wrapper()));
    cmd.args(args).current_dir(layer.root());
    cmd
}

/// `cmd` without the test's own rampart, preload, function name or
/// HOSTTYPE settings (nor cargo's LD_LIBRARY_PATH, which would let ld.so
/// find a bare `librampart.so`), and no stdin.
fn clean(mut cmd: Command) -> Command {
    const DROP: [&str; 4] = ["LD_PRELOAD", "LD_LIBRARY_PATH", "AWS_LAMBDA_FUNCTION_NAME", "HOSTTYPE"];
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("RAMPART_") || DROP.contains(&&*k) {
            cmd.env_remove(&*k);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs to completion. A copy just written can be busy for a moment when
/// another test thread forks while the file is open (ETXTBSY): try again.
fn output(cmd: &mut Command) -> Output {
    for _ in 0..100 {
        match cmd.output() {
            Err(e) if e.raw_os_error() == Some(26) => std::thread::sleep(Duration::from_millis(20)),
            Ok(out) => return out,
            Err(e) => panic!("cannot run {:?}: {e}", cmd.get_program()),
        }
    }
    panic!("{:?} stayed busy (ETXTBSY)", cmd.get_program())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The wrapper's stderr must be exactly one event line: returns it (without
/// its newline) and what it decodes to, after checking that crates/event
/// encodes the same event to the same bytes. `function` is the name as the
/// library reads it (`None` where it would write null).
fn only_line(out: &Output, function: Option<&str>) -> (String, Event) {
    line_of(out, function, None)
}

/// [`only_line`] for a line whose message was cut: `full_msg` is what the
/// wrapper meant to write, which crates/event must cut the same way.
fn line_of(out: &Output, function: Option<&str>, full_msg: Option<&str>) -> (String, Event) {
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(PREFIX) && stderr.ends_with('\n') && stderr.matches('\n').count() == 1,
        "stderr must be exactly one rampart line:\n{stderr}"
    );
    assert!(out.stderr.len() <= MAX_LINE, "line longer than {MAX_LINE} bytes");
    let line = stderr.trim_end_matches('\n').to_owned();
    let ev = rampart_event::decode(&line).unwrap_or_else(|e| panic!("invalid event line {line:?}: {e}"));
    assert_eq!(ev.kind, Error, "{line}");
    assert_eq!(ev.req, None, "{line}");

    let msg = ev.msg.clone().unwrap_or_else(|| panic!("no msg: {line}"));
    let want = EventRef { msg: Some(full_msg.unwrap_or(&msg)), function, ..EventRef::new(Error, ev.pid, ev.ts) };
    let mut buf = [0u8; MAX_LINE];
    let n = rampart_event::encode(&want, &mut buf);
    assert_eq!(text(&out.stderr), text(&buf[..n]), "the wrapper's line differs from crates/event's");
    (line, ev)
}

#[test]
fn hands_the_runtime_the_library_first_and_io_uring_off() {
    let layer = Layer::new();
    let lib = layer.lib().display().to_string();
    let args = ["/bin/sh", "-c", "echo \"$LD_PRELOAD\"; echo \"$UV_USE_IO_URING\"; echo $$"];

    // Nothing preloaded before.
    let out = outcome(output(&mut command(&layer, &args)));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.get(..2), Some(&[lib.as_str(), "0"][..]), "{out:#?}");
    // The library really is in the runtime's process: its start line,
    // from the shell's pid (exec keeps the wrapper's).
    let pid: u32 = lines[2].parse().expect("pid");
    let started = out.of(Status);
    assert!(started.iter().any(|e| e.pid == pid), "no status line from the runtime's process: {out:#?}");
    assert!(out.of(Error).is_empty(), "{out:#?}");

    // Other libraries stay, in order, after rampart's; an older rampart is
    // not loaded a second time (by path or bare name). The paths are made up (ld.so complains about
    // them on stderr, no concern here): a real librampart.so in the
    // wrapper's own LD_PRELOAD would load into the wrapper's bash, whose exec
    // hook then hands the runtime the configuration bash started with.
    let before = "/x/libother.so /old/rampart/librampart.so::libextra.so librampart.so ";
    let out = outcome(output(command(&layer, &args).env("LD_PRELOAD", before)));
    let lines: Vec<&str> = out.stdout.lines().collect();
    let want = format!("{lib}:/x/libother.so:libextra.so");
    assert_eq!(lines.get(..2), Some(&[want.as_str(), "0"][..]), "{out:#?}");
}

/// The real interpreter (not a version manager's shim that execs it) and
/// its installation prefix.
fn python() -> &'static (String, String) {
    static PY: OnceLock<(String, String)> = OnceLock::new();
    PY.get_or_init(|| {
        let probe = "import os, sys\nprint(os.path.realpath(sys.executable))\nprint(os.path.realpath(sys.base_prefix))";
        let out = Command::new("python3")
            .args(["-I", "-c", probe])
            .output()
            .unwrap_or_else(|e| panic!("python3 is not on PATH ({e}): install Python 3.11"));
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(out.status.success() && lines.len() == 2, "python3 probe: {stdout}{}", text(&out.stderr));
        (lines[0].to_owned(), lines[1].to_owned())
    })
}

#[test]
fn a_runtime_started_through_it_is_protected() {
    let layer = Layer::new();
    let (exe, prefix) = python();
    let data = layer.root().join("data");
    std::fs::create_dir(&data).expect("mkdir data");
    let allowed = data.join("allowed.txt");
    let secret = data.join("secret.txt");
    std::fs::write(&allowed, "allowed\n").expect("write");
    std::fs::write(&secret, "secret\n").expect("write");

    let mut file = base_file_rules();
    file.push(format!("r {prefix}/**"));
    file.push(format!("r {}", allowed.display()));
    let rules = file.iter().map(|r| json_str(r)).collect::<Vec<_>>().join(", ");
    let policy_dir = TempDir::new("wrapper-policy");
    let policy = write_policy(
        policy_dir.path(),
        &format!("{{\"version\": 1, \"mode\": \"block\", \"block\": [\"file\"], \"allow\": {{\"file\": [{rules}]}}}}"),
    );

    let code = "import os, sys\n\
                print(os.getpid())\n\
                print(open(sys.argv[1]).read().strip())\n\
                try:\n    open(sys.argv[2]).read()\n    print('read')\n\
                except PermissionError as e:\n    print('denied', e.errno)\n";
    let secret_s = secret.display().to_string();
    let allowed_s = allowed.display().to_string();
    let args = [exe.as_str(), "-I", "-S", "-c", code, &allowed_s, &secret_s];
    let out = outcome(output(command(&layer, &args).env("RAMPART_POLICY", &policy)));
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.get(1..), Some(&["allowed", "denied 13"][..]), "{out:#?}");
    let pid: u32 = lines[0].parse().expect("pid");
    let blocks = out.with_target(Block, &secret_s);
    assert_eq!(blocks.len(), 1, "one block line for the secret: {out:#?}");
    let b = blocks[0];
    assert_eq!((b.cat, b.access, b.pid, b.function.as_deref()), (Some(Category::File), Some(Access::R), pid, None));
    assert_eq!(out.of(Block).len(), 1, "nothing else blocked: {out:#?}");
    assert!(out.of(Error).is_empty(), "{out:#?}");
}

#[test]
fn missing_library_runs_the_function_unprotected_after_one_error_line() {
    let name = r#"orders "v2" C:\fn\"#;
    // The x86_64 layer on an arm64 function, or the reverse.
    let layer = Layer::with_arch(Some(other_arch()));
    // Unset, empty and 0 all mean: start anyway.
    for require in [None, Some(""), Some("0")] {
        let mut cmd = command(&layer, &["/bin/sh", "-c", "echo ran; echo \"[$LD_PRELOAD]\"; echo $$"]);
        cmd.env("AWS_LAMBDA_FUNCTION_NAME", name);
        if let Some(r) = require {
            cmd.env("RAMPART_REQUIRE", r);
        }
        let before = now_ms();
        let out = output(&mut cmd);
        let after = now_ms();
        assert_eq!(out.status.code(), Some(0), "RAMPART_REQUIRE={require:?}: {out:?}");
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.get(..2), Some(&["ran", "[]"][..]), "the command runs, nothing preloaded: {stdout}");
        let (line, ev) = only_line(&out, Some(name));
        assert!(line.contains(r#","fn":"orders \"v2\" C:\\fn\\","#), "{line}");
        assert_eq!(ev.pid.to_string(), lines[2], "pid: the wrapper's, which the runtime keeps");
        // Milliseconds, from the same clock.
        let slack = if bash_has_epochrealtime() { 0 } else { 999 };
        assert!((before - slack..=after).contains(&ev.ts), "ts {} not in {before}-{slack}..={after}", ev.ts);
        let msg = ev.msg.unwrap_or_default();
        assert!(msg.contains(&format!("{} is missing", layer.lib().display())), "{msg}");
        assert!(msg.contains("UNPROTECTED") && msg.contains("RAMPART_REQUIRE=1"), "{msg}");
    }
}

#[test]
fn missing_library_with_rampart_require_fails_the_init() {
    let layer = Layer::with_arch(None);
    let marker = layer.root().join("ran");
    for require in ["1", "yes"] {
        let mut cmd = command(
            &layer,
            &[OsStr::new("/bin/sh"), OsStr::new("-c"), OsStr::new("echo ran > \"$0\""), marker.as_os_str()],
        );
        cmd.env("RAMPART_REQUIRE", require).env("AWS_LAMBDA_FUNCTION_NAME", "orders");
        let out = output(&mut cmd);
        assert_eq!(out.status.code(), Some(1), "RAMPART_REQUIRE={require}: {out:?}");
        assert!(out.stdout.is_empty() && !marker.exists(), "the command must not run");
        let (_, ev) = only_line(&out, Some("orders"));
        let msg = ev.msg.unwrap_or_default();
        assert!(msg.contains(&format!("{} is missing", layer.lib().display())), "{msg}");
        assert!(msg.contains("RAMPART_REQUIRE is set") && !msg.contains("UNPROTECTED"), "{msg}");
    }
}

#[test]
fn function_names_are_escaped_and_cut_like_the_library_does() {
    let layer = Layer::with_arch(None);
    let quotes = "\"".repeat(300);
    let emoji = "\u{1F600}".repeat(100);
    let fancy = "ls\u{2028}ps\u{2029} caf\u{e9} \u{1F600}";
    let controls = "tab\tnl\ncr\rbs\u{8}ff\u{c}ctl\u{1}\u{1f} del\u{7f}";
    // (the variable's bytes, the name in the line, whether it was cut)
    let cases: [(&[u8], Option<&str>, bool); 8] = [
        (b"plain-name_1", Some("plain-name_1"), false),
        (controls.as_bytes(), Some(controls), false),
        (fancy.as_bytes(), Some(fancy), false),
        // Not UTF-8: the library writes null for it.
        (b"bad\xff\xe2\x80name", None, false),
        (b"\xed\xa0\x80 surrogate", None, false),
        // Cut at 256 bytes of JSON text, never inside an escape or a character.
        (quotes.as_bytes(), Some(&quotes[..128]), true),
        (emoji.as_bytes(), Some(&emoji[..256]), true),
        // Empty: null.
        (b"", None, false),
    ];
    for (raw, want, cut) in cases {
        let mut cmd = command(&layer, &["/bin/true"]);
        cmd.env("AWS_LAMBDA_FUNCTION_NAME", OsStr::from_bytes(raw));
        let out = output(&mut cmd);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        // As the library reads it: `std::env::var`, empty or not UTF-8 is none.
        let as_library = std::str::from_utf8(raw).ok().filter(|s| !s.is_empty());
        let (line, ev) = only_line(&out, as_library);
        assert_eq!((ev.function.as_deref(), ev.cut), (want, cut), "{line}");
    }
    // Raw U+2028 and U+2029 would end a JavaScript line: escaped.
    let mut cmd = command(&layer, &["/bin/true"]);
    let out = output(cmd.env("AWS_LAMBDA_FUNCTION_NAME", fancy));
    assert!(text(&out.stderr).contains(r#""fn":"ls\u2028ps\u2029 caf"#), "{}", text(&out.stderr));
}

#[test]
fn an_overlong_path_still_gives_one_line_of_at_most_4096_bytes() {
    // What the wrapper says after the path, from a layer at a short path.
    let short = Layer::with_arch(None);
    let (_, ev) = only_line(&output(&mut command(&short, &["/bin/true"])), None);
    let msg = ev.msg.unwrap_or_default();
    let after_path = msg.split_once(" is missing").map(|(_, rest)| rest.to_owned()).expect("missing");

    // The message names the library's path: put the layer so deep that the
    // line must be cut.
    let dir = TempDir::new("wrapper-deep");
    let depth = (3880 - dir.path().as_os_str().len()) / 201;
    let sub = vec!["d".repeat(200); depth].join("/");
    let layer = Layer::under(dir, &sub, None);
    assert!((3700..4000).contains(&layer.wrapper().as_os_str().len()));
    let out = output(&mut command(&layer, &["/bin/true"]));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let full = format!("rampart wrapper: {} is missing{after_path}", layer.lib().display());
    let (_, ev) = line_of(&out, None, Some(&full));
    assert!(ev.cut, "the message must be cut");
    let written = ev.msg.unwrap_or_default();
    assert!(written.len() < full.len() && full.starts_with(&written), "cut at the end: {written}");
    assert!(out.stderr.len() > MAX_LINE - 8, "cut to fill the line, not more: {} bytes", out.stderr.len());
}

#[test]
fn no_arguments_is_an_error_line_and_exit_2() {
    let layer = Layer::new();
    let out = output(&mut command::<&str>(&layer, &[]));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let (_, ev) = only_line(&out, None);
    assert!(ev.msg.unwrap_or_default().contains("no command to run"));
}

#[test]
fn shellcheck_finds_nothing() {
    let out = Command::new("shellcheck").arg(WRAPPER).output().unwrap_or_else(|e| {
        panic!(
            "shellcheck is not installed ({e}); it is required for this test: \
             `apt-get install shellcheck` (cargo xtask test installs it)"
        )
    });
    assert!(out.status.success(), "shellcheck shims/wrapper:\n{}{}", text(&out.stdout), text(&out.stderr));
}

#[test]
fn parses_with_bash_and_sh() {
    // sh: run by sh by mistake, it must get as far as re-running itself with bash.
    for shell in ["bash", "sh"] {
        let out = Command::new(shell).args(["-n", WRAPPER]).output().unwrap_or_else(|e| panic!("{shell}: {e}"));
        assert!(out.status.success(), "{shell} -n shims/wrapper:\n{}", text(&out.stderr));
    }
    // And the file is executable, as Lambda runs it.
    let mode = std::fs::metadata(WRAPPER).expect("stat shims/wrapper").permissions().mode();
    assert!(mode & 0o111 == 0o111, "shims/wrapper must be executable: {mode:o}");
}

#[test]
fn finds_the_library_however_it_is_started() {
    let layer = Layer::new();
    let lib = layer.lib().display().to_string();
    let show = ["/bin/sh", "-c", "echo \"$LD_PRELOAD\""];
    let wrapper_path = layer.wrapper();
    let wrapper = wrapper_path.display().to_string();
    // By a relative path (the preloaded path must still be absolute: the
    // runtime's children may run elsewhere), from its own directory, as a
    // bash argument, and by sh (it re-runs itself with bash).
    let starts: [(&str, &[&str], &Path); 4] = [
        ("./opt/rampart/wrapper", &[], layer.root()),
        ("./wrapper", &[], wrapper_path.parent().expect("dir")),
        ("bash", &[&wrapper], Path::new("/")),
        ("sh", &[&wrapper], Path::new("/")),
    ];
    for (program, before, cwd) in starts {
        let mut cmd = clean(Command::new(program));
        cmd.args(before).args(show).current_dir(cwd);
        let out = outcome(output(&mut cmd));
        assert_eq!(out.stdout.trim(), lib, "{program} {before:?} in {}: {out:#?}", cwd.display());
        assert!(out.of(Error).is_empty(), "{out:#?}");
    }
}

#[test]
fn hands_the_runtime_the_language_shims_keeping_the_users_settings() {
    let layer = Layer::with_shims();
    let here = layer.wrapper().parent().expect("opt/rampart").display().to_string();
    let show = ["/bin/sh", "-c", "echo \"[${PYTHONPATH-unset}]\"; echo \"[${NODE_OPTIONS-unset}]\""];
    let python = format!("{here}/python");
    let require = format!("--require \"{here}/node/rampart.js\"");
    let lines = |out: &Outcome| out.stdout.lines().map(str::to_owned).collect::<Vec<_>>();

    // Nothing set before: just the shims.
    let out = outcome(output(command(&layer, &show).env_remove("PYTHONPATH").env_remove("NODE_OPTIONS")));
    assert_eq!(lines(&out), [format!("[{python}]"), format!("[{require}]")], "{out:#?}");

    // The function's own settings stay: the Python shim first (its
    // sitecustomize runs any other), the Node one after the user's options.
    let mut cmd = command(&layer, &show);
    cmd.env("PYTHONPATH", "/var/task/lib:/opt/python").env("NODE_OPTIONS", "--max-old-space-size=64 --title=\"a b\"");
    let out = outcome(output(&mut cmd));
    assert_eq!(
        lines(&out),
        [
            format!("[{python}:/var/task/lib:/opt/python]"),
            format!("[--max-old-space-size=64 --title=\"a b\" {require}]")
        ],
        "{out:#?}"
    );

    // A wrapper started under a wrapper adds neither twice.
    let wrapper = layer.wrapper().display().to_string();
    let mut nested = vec![wrapper.as_str()];
    nested.extend(show);
    let out = outcome(output(command(&layer, &nested).env_remove("PYTHONPATH").env_remove("NODE_OPTIONS")));
    assert_eq!(lines(&out), [format!("[{python}]"), format!("[{require}]")], "{out:#?}");

    // A layer without the shims, or without its library, sets neither.
    for layer in [Layer::new(), Layer::with_arch(Some(other_arch()))] {
        let out = outcome(output(command(&layer, &show).env("PYTHONPATH", "/x").env_remove("NODE_OPTIONS")));
        assert_eq!(lines(&out), ["[/x]", "[unset]"], "{out:#?}");
    }
}

#[test]
fn the_shims_load_in_real_interpreters_and_keep_the_users_hooks() {
    let layer = Layer::with_shims();
    let (exe, _) = python();
    // The function's own sitecustomize, which the shim's hides on sys.path.
    let user = TempDir::new("user-site");
    std::fs::write(user.path().join("sitecustomize.py"), "import sys\nsys.user_site_ran = True\n").expect("write");
    let code = "import sys\n\
                print(type(sys.meta_path[0]).__name__ if not isinstance(sys.meta_path[0], type) else sys.meta_path[0].__name__)\n\
                print(getattr(sys, 'user_site_ran', False), sys.modules['sitecustomize'].__file__)\n";
    let out = outcome(output(command(&layer, &[exe.as_str(), "-c", code]).env("PYTHONPATH", user.path())));
    out.assert_success();
    let user_site = user.path().join("sitecustomize.py").display().to_string();
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["RampartBotocoreFinder", &format!("True {user_site}")],
        "{out:#?}"
    );
    assert!(out.of(Error).is_empty() && !out.stderr.contains("Error in sitecustomize"), "{out:#?}");

    // Node.js: the shim is loaded by --require, the user's options apply.
    let code = "console.log(process.title, Object.keys(require.cache).map((k) => k.split('/').pop()).join())";
    let out = outcome(output(command(&layer, &["node", "-e", code]).env("NODE_OPTIONS", "--title=user-title")));
    out.assert_success();
    assert_eq!(out.stdout.trim(), "user-title rampart.js", "{out:#?}");
}

/// The shims are the layer's own files: under a block policy with no rule
/// for the layer, the runtime still reads them, and no line is written;
/// nothing there can be written either, even where a rule would allow it
/// (Python's bytecode cache for the shim is refused, silently).
#[test]
fn the_shims_are_read_without_rules_and_never_written() {
    let layer = Layer::with_shims();
    let (exe, prefix) = python();
    let shims = layer.wrapper().with_file_name("python");
    let policy_dir = TempDir::new("shims-policy");
    let policy_with = |extra: &[String]| {
        let mut file = base_file_rules();
        file.push(format!("r {prefix}/**"));
        file.extend_from_slice(extra);
        let rules = file.iter().map(|r| json_str(r)).collect::<Vec<_>>().join(", ");
        let json = format!(
            "{{\"version\": 1, \"mode\": \"block\", \"block\": [\"file\"], \"allow\": {{\"file\": [{rules}]}}}}"
        );
        write_policy(policy_dir.path(), &json)
    };
    let code = "import os, sys\n\
                f = sys.meta_path[0]\n\
                print(getattr(f, '__name__', type(f).__name__), sys.modules['sitecustomize'].__file__)\n\
                for p in (os.path.join(sys.argv[1], 'new.py'), os.path.join(sys.argv[1], 'sitecustomize.py')):\n\
                \x20   try:\n\
                \x20       open(p, 'a').close()\n\
                \x20       print('written')\n\
                \x20   except PermissionError as e:\n\
                \x20       print('refused', e.errno)\n";
    let shims_arg = shims.display().to_string();
    let want = [
        format!("RampartBotocoreFinder {}", shims.join("sitecustomize.py").display()),
        "refused 13".to_owned(),
        "refused 13".to_owned(),
    ];
    // No rule for the layer; then one that allows writing all of it.
    let wide = format!("rw {}/**", layer.root().display());
    for policy in [policy_with(&[]), policy_with(&[wide])] {
        let mut cmd = command(&layer, &[exe.as_str(), "-c", code, &shims_arg]);
        let out = outcome(output(cmd.env("RAMPART_POLICY", &policy).env_remove("PYTHONPATH")));
        out.assert_success();
        assert_eq!(out.stdout.lines().collect::<Vec<_>>(), want, "{out:#?}");
        assert!(out.of(Block).is_empty() && out.of(Error).is_empty(), "no line for the layer's own files: {out:#?}");
        assert!(!shims.join("__pycache__").exists() && !shims.join("new.py").exists(), "python/ was written to");
    }
    let policy = policy_with(&[]);

    let code = "console.log(Object.keys(require.cache).map((k) => k.split('/').pop()).join())";
    let out = outcome(output(
        command(&layer, &["node", "-e", code]).env("RAMPART_POLICY", &policy).env_remove("NODE_OPTIONS"),
    ));
    out.assert_success();
    assert_eq!(out.stdout.trim(), "rampart.js", "{out:#?}");
    // Node.js also looks for a package.json above the working directory
    // (the function's own reads, blocked here): none of the layer's.
    let layer_dir = layer.wrapper().parent().expect("opt/rampart").display().to_string();
    let own = out.of(Block).into_iter().filter(|e| e.target.as_deref().is_some_and(|t| t.starts_with(&layer_dir)));
    assert_eq!(own.count(), 0, "no line for the layer's own files: {out:#?}");
    assert!(out.of(Error).is_empty(), "{out:#?}");
}
