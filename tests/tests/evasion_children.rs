//! Children cannot be handed another policy, nor be started unprotected,
//! by the function's own (pure Python) code:
//!
//! - a sealed memfd of the attacker's, holding an allow-everything
//!   snapshot, `dup2`ed over the root's snapshot descriptor, or a forged
//!   control page over the page's descriptor (children verify the identity
//!   of what they open);
//! - the descriptors closed, so children cannot reach the root's policy
//!   (they deny everything the root may deny instead of compiling a policy
//!   file the code rewrote, or starting empty until a fetch of their own);
//! - `os.execv` in place after such a `dup2` (the new program in the root's
//!   process verifies too);
//! - `LD_AUDIT` naming a library whose `la_objsearch` refuses librampart.so,
//!   and the resolver variables, set for a child (neither reaches it).
//!
//! Each attack reaches its target bare (no library) and not guarded.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use rampart_event::EventType;
use rampart_policy::{Mode, Policy};
use rampart_tests::cases::output_with_timeout;
use rampart_tests::evasion::{Arena, Lang, TIMEOUT, Tries, python};
use rampart_tests::faulty_s3::FaultyS3;
use rampart_tests::runtimes_common::PeerLog;
use rampart_tests::{cprog, outcome, rampart_bin, rampart_lib};

/// The child every attack starts: it reads the secret and runs the denied
/// program, printing `HIT ...` for each that works.
const CHILD: &str = r#"import os, subprocess
try:
    print('HIT read', open(os.environ['EV_SECRET']).read(), flush=True)
except OSError as e:
    print('no read', e, flush=True)
try:
    out = subprocess.run([os.environ['EV_DENIED_PROG'], 'HIT', 'ran'], capture_output=True).stdout.decode()
    print(out, end='', flush=True)
except OSError as e:
    print('no exec', e, flush=True)
"#;

/// What every attack script starts with: finding the library's descriptors
/// (by the names its memfds carry in /proc/self/fd), making a sealed memfd
/// of its own, forging a control page, and starting the child.
const PRELUDE: &str = r#"import fcntl, os, struct, subprocess, sys
ALLOWED = os.environ['EV_ALLOWED']
CHILD = ALLOWED + '/child.py'

def lib_fds():
    found = {}
    for n in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink('/proc/self/fd/' + n)
        except OSError:
            continue
        for kind in ('policy', 'control', 'counters'):
            if target.startswith('/memfd:rampart-' + kind):
                found.setdefault(kind, []).append(int(n))
    return found

def sealed_memfd(data, name='forged'):
    fd = os.memfd_create(name, os.MFD_ALLOW_SEALING)
    os.write(fd, data)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    return fd

def forged_snapshot():
    return sealed_memfd(open(ALLOWED + '/forged.snap', 'rb').read())

def forged_page(snapshot_fd, generation=1):
    # The page as the library lays it out: magic, root pid, generation and
    # descriptor in one word, counters descriptor, the request text (16 +
    # 256 bytes), then one (generation, dev, ino) slot per generation % 4.
    st = os.fstat(snapshot_fd)
    page = bytearray(4096)
    struct.pack_into('<8sQQQ', page, 0, b'RAMPCTL1', os.getpid(), generation << 32 | snapshot_fd, 2**64 - 1)
    struct.pack_into('<QQQ', page, 304 + 24 * (generation % 4), generation, st.st_dev, st.st_ino)
    return sealed_memfd(bytes(page), 'forged-page')

def child(**kw):
    subprocess.run([sys.executable, '-I', CHILD], **kw)
"#;

/// An allow-everything policy in the project's own snapshot format, as an
/// attacker would write it: mode off, so not even a line.
fn forged_snapshot() -> Vec<u8> {
    let bytes = Policy::empty(Mode::Profile).compile().with_mode(Mode::Off).to_snapshot();
    let back = rampart_policy::Matcher::from_snapshot(&bytes).expect("the forged snapshot loads");
    assert_eq!(back.mode(), Mode::Off);
    bytes
}

/// An arena with the child script and the forged snapshot in `allowed/`.
fn arena(tag: &str) -> Arena {
    let a = Arena::new(tag);
    std::fs::write(a.sb.path("allowed/child.py"), CHILD).expect("write child");
    std::fs::write(a.sb.path("allowed/forged.snap"), forged_snapshot()).expect("write snapshot");
    a
}

fn attack(body: &str) -> String {
    format!("{PRELUDE}\n{body}")
}

// ---------------------------------------------------------------------------
// Row 1: another policy handed to children.

#[test]
fn a_forged_snapshot_over_the_snapshot_descriptor_is_refused() {
    let a = arena("ch-dup-snap");
    let code = attack(
        "fds = lib_fds()\nforged = forged_snapshot()\nfor n in fds.get('policy', []):\n    os.dup2(forged, n)\nchild()",
    );
    let t = a.attempt("dup2-snapshot", Lang::Python, &code, &[]);
    t.assert_blocked();
    refused(&t, "is not the snapshot the root published");
}

#[test]
fn a_forged_control_page_over_the_page_descriptor_is_refused() {
    let a = arena("ch-dup-page");
    let code = attack(
        "fds = lib_fds()\npage = forged_page(forged_snapshot())\nfor n in fds.get('control', []):\n    os.dup2(page, n)\nchild()",
    );
    let t = a.attempt("dup2-page", Lang::Python, &code, &[]);
    t.assert_blocked();
    refused(&t, "is not the root's control page");
}

/// Both at once: the forged page names the forged snapshot at the real
/// snapshot's number, which holds the forged snapshot too.
#[test]
fn a_forged_page_and_snapshot_together_are_refused() {
    let a = arena("ch-dup-both");
    let code = attack(
        "fds = lib_fds()\nforged = forged_snapshot()\nfor n in fds.get('policy', []):\n    os.dup2(forged, n)\n\
         page = forged_page(fds['policy'][0] if fds.get('policy') else forged)\n\
         for n in fds.get('control', []):\n    os.dup2(page, n)\nchild()",
    );
    a.attempt("dup2-both", Lang::Python, &code, &[]).assert_blocked();
}

/// `os.execv` in place after the `dup2`: the new program runs in the
/// root's own process and would take the forged policy over as its own.
#[test]
fn exec_in_place_after_a_forged_snapshot_is_refused() {
    let a = arena("ch-exec-snap");
    let code = attack(
        "fds = lib_fds()\nforged = forged_snapshot()\nfor n in fds.get('policy', []):\n    os.dup2(forged, n)\n\
         os.execv(sys.executable, [sys.executable, '-I', CHILD])",
    );
    let t = a.attempt("execv-snapshot", Lang::Python, &code, &[]);
    t.assert_blocked();
    refused(&t, "is not the snapshot the root published");
}

#[test]
fn exec_in_place_after_a_forged_page_is_refused() {
    let a = arena("ch-exec-page");
    let code = attack(
        "fds = lib_fds()\npage = forged_page(forged_snapshot())\nfor n in fds.get('control', []):\n    os.dup2(page, n)\n\
         os.execv(sys.executable, [sys.executable, '-I', CHILD])",
    );
    a.attempt("execv-page", Lang::Python, &code, &[]).assert_blocked();
}

/// The control: with nothing forged, the child loads the root's policy
/// (Python starts in it and is denied the secret and the program) and no
/// error line says anything was refused.
#[test]
fn an_honest_child_still_loads_the_roots_policy() {
    let a = arena("ch-honest");
    let code = attack("child()");
    let t = a.attempt("honest-child", Lang::Python, &code, &[]);
    t.assert_blocked();
    assert!(t.guarded.stdout.contains("no read"), "{:#?}", t.guarded);
    assert!(t.guarded.of(EventType::Error).is_empty(), "{:#?}", t.guarded);
}

/// A race: one thread swaps the forged snapshot and the real one at the
/// real one's number as fast as it can while children start for 2.5 s.
/// A child either loads the real policy or refuses what it opened; never
/// the forged one (zero hits).
#[test]
fn racing_the_forged_snapshot_against_children_never_hands_it_over() {
    let a = arena("ch-race");
    let code = attack(
        "import threading, time\nfds = lib_fds().get('policy', [])\nforged = forged_snapshot()\n\
         real = [os.dup(n) for n in fds]\nstop = time.time() + 2.5\n\
         def flip():\n    while time.time() < stop:\n        for n, r in zip(fds, real):\n            \
         os.dup2(forged, n)\n            os.dup2(r, n)\n\
         t = threading.Thread(target=flip)\nt.start()\nstarted = 0\n\
         while time.time() < stop:\n    \
         subprocess.run([sys.executable, '-I', '-c', \"import os\\ntry:\\n    print('HIT', open(os.environ['EV_SECRET']).read(), flush=True)\\nexcept OSError:\\n    pass\"])\n    \
         started += 1\nt.join()\nprint('children', started, flush=True)",
    );
    let t = a.attempt("race-snapshot", Lang::Python, &code, &[]);
    t.assert_stopped();
    let started: usize = t
        .guarded
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("children "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(started >= 5, "too few children to call it a race: {:#?}", t.guarded);
}

// ---------------------------------------------------------------------------
// Row 2: children that cannot verify fail closed.

#[test]
fn closing_the_descriptors_leaves_children_denied_not_unprotected() {
    let a = arena("ch-close");
    let code = attack("for fds in lib_fds().values():\n    for n in fds:\n        os.close(n)\nchild()");
    let t = a.attempt("close", Lang::Python, &code, &[]);
    t.assert_blocked();
    refused(&t, "cannot open the control page");
}

/// With the policy file writable, closing the descriptors and rewriting it
/// to allow everything used to give children that policy: they compiled
/// the file themselves. Now they compile nothing.
#[test]
fn closing_the_descriptors_and_rewriting_the_policy_file_is_refused() {
    let mut a = arena("ch-rewrite");
    let tmp = std::fs::canonicalize(std::env::temp_dir()).expect("temp dir");
    a.file.push(format!("rw {}/rampart-ev-ch-rewrite-policy-*/**", tmp.display()));
    let code = attack(
        "path = os.environ.get('RAMPART_POLICY')\nif path:\n    \
         open(path, 'w').write('{\"version\": 1, \"mode\": \"profile\", \"allow\": {}}')\n\
         for fds in lib_fds().values():\n    for n in fds:\n        os.close(n)\nchild()",
    );
    let t = a.attempt("close-rewrite", Lang::Python, &code, &[]);
    t.assert_blocked();
    refused(&t, "cannot be verified");
}

/// The floor of the arena's policy file: it blocks file, network and
/// process, and nothing can change it.
const FILE_FLOOR: &str = "mode block, block [file, network, process])";
/// The floor under a policy from S3: a refresh may block anything.
const S3_FLOOR: &str = "mode block, block [file, network, process, api, input])";

/// A child that cannot verify runs under the root's floor, and says why:
/// never less strict than the root, and not stricter than it could be.
fn refused(t: &Tries, why: &str) {
    refused_with(t, why, FILE_FLOOR);
}

fn refused_with(t: &Tries, why: &str, floor: &str) {
    let errors: Vec<String> = t.guarded.of(EventType::Error).iter().filter_map(|e| e.msg.clone()).collect();
    assert!(
        errors.iter().any(|m| m.contains(why) && m.contains(floor)),
        "{}: no error line saying {why:?} with the root's floor: {errors:#?}\n{:#?}",
        t.name,
        t.guarded
    );
}

// ---------------------------------------------------------------------------
// Row 2 with a policy in S3, and row 1 after the root's policy changed.

const LOCATION: &str = "s3://policies/orders";

/// A root under an S3 policy (the faulty server: it serves one object at
/// every path and never checks signatures).
struct S3Root {
    server: FaultyS3,
}

impl S3Root {
    fn start(policy: &str) -> S3Root {
        let server = FaultyS3::start();
        server.set_object(policy.as_bytes(), "\"v1\"", &[]);
        S3Root { server }
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.server.endpoint()),
            ("AWS_ACCESS_KEY_ID".into(), "AKIDEVASION".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "secret".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("RAMPART_REFRESH_SECS".into(), "0.2".into()),
        ]
    }

    /// The attempt, bare and then guarded under `rampart run --policy
    /// s3://...`; `between` runs once the guarded run has started.
    fn attempt(&self, a: &Arena, name: &str, code: &str, between: impl FnOnce()) -> Tries {
        let command = |guarded: bool| {
            let mut cmd = if guarded {
                let mut c = Command::new(rampart_bin());
                c.env("RAMPART_LIB", rampart_lib()).args(["run", "--policy", LOCATION, "--"]);
                c
            } else {
                let mut c = Command::new("env");
                c.env_remove("LD_PRELOAD");
                c
            };
            for (k, _) in std::env::vars_os() {
                let k = k.to_string_lossy();
                if (k.starts_with("RAMPART_") && k != "RAMPART_LIB") || k.starts_with("AWS_") {
                    cmd.env_remove(&*k);
                }
            }
            cmd.envs(a.env()).envs(self.env()).current_dir(a.sb.path("allowed"));
            cmd.arg(&python().0).args(["-I", "-c", code]);
            cmd
        };
        let (_, bare) = output_with_timeout(&mut command(false), TIMEOUT);
        let mut guarded = command(true);
        let handle = std::thread::scope(|s| {
            let run = s.spawn(move || output_with_timeout(&mut guarded, TIMEOUT).1);
            between();
            run.join().expect("guarded run")
        });
        Tries {
            name: name.to_owned(),
            bare: outcome(bare),
            guarded: outcome(handle),
            guarded_peers: PeerLog::default(),
            bare_peers: PeerLog::default(),
        }
    }
}

/// The code sets a dead S3 endpoint for the child and closes the
/// descriptors: a child that fetched for itself used to start empty, in
/// profile mode, when its fetch failed. Now it denies everything a root
/// whose policy comes from S3 may deny: all of it.
#[test]
fn s3_children_that_cannot_verify_deny_instead_of_starting_empty() {
    let a = arena("ch-s3-close");
    let root = S3Root::start(&a.policy_text());
    let code = attack(
        "for fds in lib_fds().values():\n    for n in fds:\n        os.close(n)\n\
         env = dict(os.environ, AWS_ENDPOINT_URL='http://127.0.0.1:9', AWS_ACCESS_KEY_ID='x')\nchild(env=env)",
    );
    let t = root.attempt(&a, "s3-close", &code, || {});
    t.assert_blocked();
    refused_with(&t, "cannot open the control page", S3_FLOOR);
}

/// After the root's policy changed (generation 2: its snapshot is in
/// another slot of the page), an honest child loads generation 2 — it may
/// read what only that policy allows — and a forged snapshot over the new
/// descriptor is refused as before.
#[test]
fn after_a_policy_change_children_verify_generation_two() {
    let mut a = arena("ch-s3-gen2");
    let root = S3Root::start(&a.policy_text());
    std::fs::create_dir_all(a.sb.path("ro")).expect("mkdir ro");
    let newly = a.sb.path("ro/new.txt");
    std::fs::write(&newly, "gen2").expect("write");
    // The first policy lets nothing in ro/ be read; the second adds it.
    let ro_rule = format!("r {}/**", a.sb.path("ro"));
    a.file.retain(|r| *r != ro_rule);
    let v1 = a.policy_text();
    root.server.set_object(v1.as_bytes(), "\"v1\"", &[]);
    a.file.push(format!("r {newly}"));
    let v2 = a.policy_text();
    let check = format!(
        "try:\n    print('child-new', open({newly:?}).read(), flush=True)\nexcept OSError:\n    print('child-new denied', flush=True)\n"
    );
    std::fs::write(a.sb.path("allowed/gen2_child.py"), check).expect("write");
    let code = attack(&format!(
        "import time\nNEW = {newly:?}\ndeadline = time.time() + 20\n\
         while True:\n    try:\n        open(NEW).read()\n        break\n    except OSError:\n        \
         if time.time() > deadline:\n            print('generation 2 never came')\n            sys.exit(1)\n        \
         time.sleep(0.05)\n\
         subprocess.run([sys.executable, '-I', ALLOWED + '/gen2_child.py'])\n\
         fds = lib_fds()\nforged = forged_snapshot()\nfor n in fds.get('policy', []):\n    os.dup2(forged, n)\nchild()"
    ));
    let t = root.attempt(&a, "s3-gen2", &code, || {
        std::thread::sleep(Duration::from_millis(1500));
        root.server.set_object(v2.as_bytes(), "\"v2\"", &[]);
    });
    t.assert_blocked();
    assert!(
        t.guarded.stdout.contains("child-new gen2"),
        "the honest child did not load generation 2\n{:#?}",
        t.guarded
    );
    let changed =
        t.guarded.of(EventType::Status).iter().filter_map(|e| e.msg.clone()).any(|m| m.contains("policy changed"));
    assert!(changed, "{:#?}", t.guarded);
    refused_with(&t, "is not the snapshot the root published", S3_FLOOR);
    // One line for the refused snapshot, not one more when the child's
    // hooks look at the page again.
    let following = t
        .guarded
        .of(EventType::Error)
        .iter()
        .filter(|e| e.msg.as_deref().is_some_and(|m| m.contains("following")))
        .count();
    assert_eq!(following, 0, "{:#?}", t.guarded);
}

// ---------------------------------------------------------------------------
// Row 7: a loader audit library that refuses librampart.so.

fn audit_lib() -> &'static PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let out = cprog::suite_dir("evasion_children").join("librefuse_audit.so");
        cprog::compile("evasion_children_audit.c", &out, &["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror"]);
        out
    })
}

/// The tool works: given to the process rampart starts (the deployer's own
/// environment, honoured by ld.so before any library runs), it keeps the
/// library out and the secret is read. So the layer cannot let it reach a
/// child the code starts.
#[test]
fn the_audit_library_really_keeps_the_library_out() {
    let a = arena("ch-audit-tool");
    let mut cmd = rampart_tests::rampart_run(None, Some("block"));
    cmd.env("LD_AUDIT", audit_lib()).envs(a.env()).current_dir(a.sb.path("allowed"));
    cmd.arg(&python().0).args(["-I", "-c", "import os\nprint('HIT', open(os.environ['EV_SECRET']).read())"]);
    let (_, out) = output_with_timeout(&mut cmd, TIMEOUT);
    let out = outcome(out);
    assert!(out.stdout.starts_with("HIT"), "{out:#?}");
    assert!(out.events.is_empty(), "{out:#?}");
}

#[test]
fn ld_audit_set_for_a_child_does_not_reach_it() {
    let a = arena("ch-audit");
    let code = attack(&format!("child(env=dict(os.environ, LD_AUDIT={:?}))", audit_lib().display().to_string()));
    a.attempt("ld-audit-subprocess", Lang::Python, &code, &[]).assert_blocked();
}

/// `os.system` passes the process's own environment from inside libc.
#[test]
fn ld_audit_put_in_the_environment_does_not_reach_a_shell() {
    let a = arena("ch-audit-system");
    let code = attack(&format!(
        "os.environ['LD_AUDIT'] = {:?}\nos.system(sys.executable + ' -I ' + CHILD)",
        audit_lib().display().to_string()
    ));
    a.attempt("ld-audit-system", Lang::Python, &code, &[]).assert_blocked();
}

// ---------------------------------------------------------------------------
// Row 4, children's half: the resolver's variables.

const RESOLVER_CHILD: &str = r#"import os
for name in ('LOCALDOMAIN', 'RES_OPTIONS', 'HOSTALIASES'):
    value = os.environ.get(name)
    if value is not None and 'evil' in value:
        print('HIT', name, value, flush=True)
"#;

fn resolver_arena(tag: &str) -> Arena {
    let a = arena(tag);
    std::fs::write(a.sb.path("allowed/resolver_child.py"), RESOLVER_CHILD).expect("write");
    std::fs::write(a.sb.path("allowed/evil-aliases"), "db evil.example.com\n").expect("write");
    a
}

const RESOLVER_ENV: &str = "EVIL = {'LOCALDOMAIN': 'evil.example', 'RES_OPTIONS': 'ndots:15 evil', \
                            'HOSTALIASES': ALLOWED + '/evil-aliases'}\nRCHILD = ALLOWED + '/resolver_child.py'\n";

#[test]
fn resolver_variables_set_for_a_child_do_not_reach_it() {
    let a = resolver_arena("ch-resolv");
    let code =
        attack(&format!("{RESOLVER_ENV}subprocess.run([sys.executable, '-I', RCHILD], env=dict(os.environ, **EVIL))"));
    a.attempt("resolver-subprocess", Lang::Python, &code, &[]).assert_stopped();
}

#[test]
fn resolver_variables_put_in_the_environment_do_not_reach_a_shell() {
    let a = resolver_arena("ch-resolv-sys");
    let code = attack(&format!("{RESOLVER_ENV}os.environ.update(EVIL)\nos.system(sys.executable + ' -I ' + RCHILD)"));
    a.attempt("resolver-system", Lang::Python, &code, &[]).assert_stopped();
}

/// The root's own values at start are what children get.
#[test]
fn children_get_the_roots_resolver_values() {
    let a = resolver_arena("ch-resolv-root");
    let code = attack(&format!(
        "{RESOLVER_ENV}subprocess.run([sys.executable, '-I', '-c', \
         'import os; print(\"child\", os.environ.get(\"LOCALDOMAIN\"), os.environ.get(\"RES_OPTIONS\"))'], \
         env=dict(os.environ, **EVIL))"
    ));
    let policy = tempfile::tempdir().expect("tempdir");
    let policy = rampart_tests::write_policy(policy.path(), &a.policy_text());
    let mut cmd = rampart_tests::rampart_run(Some(&policy), None);
    cmd.env("LOCALDOMAIN", "root.example")
        .env("RES_OPTIONS", "ndots:2")
        .envs(a.env())
        .current_dir(a.sb.path("allowed"));
    cmd.arg(&python().0).args(["-I", "-c", &code]);
    let (_, out) = output_with_timeout(&mut cmd, TIMEOUT);
    let out = outcome(out);
    assert_eq!(out.stdout, "child root.example ndots:2\n", "{out:#?}");
}
