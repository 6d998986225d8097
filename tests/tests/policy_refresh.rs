//! The policy from S3, end to end: a long-running Python process under
//! `rampart run --policy s3://...` (tests/runtimes/python/refresh_driver.py,
//! with a fork child and an exec'd child started before any change) against
//! s3s-fs, which verifies every signature, and against `FaultyS3` for the
//! failures s3s-fs cannot produce. Policies are pushed with the `rampart`
//! CLI, as a user would.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rampart_event::{Event, EventType, PREFIX};
use rampart_policy::Category;
use rampart_tests::faulty_s3::{FAULT_ETAG, Fault, FaultyS3};
use rampart_tests::s3s::{REGION, S3Server};
use rampart_tests::{rampart_bin, rampart_lib};

const BUCKET: &str = "policies";
const LOCATION: &str = "s3://policies/orders";
const KEY: &str = "orders/policy.json";

/// The real interpreter (not a version manager's shim that execs it).
fn python() -> PathBuf {
    let out = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().expect("python3");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn driver() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("runtimes/python/refresh_driver.py")
}

/// Files the driver opens: one the policies allow, one they do not.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("allowed.txt"), "fine").expect("write");
        std::fs::write(dir.path().join("secret.txt"), "secret").expect("write");
        Files { dir }
    }

    fn allowed(&self) -> String {
        self.dir.path().join("allowed.txt").display().to_string()
    }

    fn secret(&self) -> String {
        self.dir.path().join("secret.txt").display().to_string()
    }

    /// A policy that lets Python run and read `allowed.txt` but not
    /// `secret.txt`, and allows no connection at all: the fetcher's own
    /// connections must not be checked (they would be blocked).
    fn policy(&self, mode: &str) -> String {
        format!(
            r#"{{"version": 1, "mode": "{mode}", "block": ["file", "network"],
  "allow": {{"file": ["r /usr/**", "r /lib/**", "r /lib64/**", "r /etc/**", "r /proc/**", "rw /dev/**",
                     "r /root/**", "r /opt/**", "r /home/**", "r /tmp/*/refresh_driver.py",
                     "r {}", "r {}/**"]}}}}"#,
            self.allowed(),
            driver().parent().expect("dir").display()
        )
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write policy");
        path
    }
}

/// The driver under `rampart run`, its event lines collected as they come.
struct Live {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Live {
    fn start(location: &str, env: &[(String, String)], refresh_secs: &str) -> Live {
        let mut cmd = Command::new(rampart_bin());
        cmd.env("RAMPART_LIB", rampart_lib());
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if (k.starts_with("RAMPART_") && k != "RAMPART_LIB") || k.starts_with("AWS_") || k == "LD_PRELOAD" {
                cmd.env_remove(&*k);
            }
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        cmd.env("RAMPART_REFRESH_SECS", refresh_secs);
        cmd.args(["run", "--policy", location, "--"]).arg(python()).arg(driver());
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start driver");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let err = BufReader::new(child.stderr.take().expect("stderr"));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                sink.lock().expect("lock").push(line);
            }
        });
        Live { child, stdin, stdout, stderr }
    }

    fn ask(&mut self, cmd: &str) -> String {
        writeln!(self.stdin, "{cmd}").expect("write to driver");
        self.stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from driver");
        assert!(!line.is_empty(), "the driver exited; stderr:\n{}", self.stderr_text());
        line.trim().to_owned()
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().expect("lock").join("\n")
    }

    fn events(&self) -> Vec<Event> {
        let lines = self.stderr.lock().expect("lock").clone();
        lines
            .iter()
            .filter_map(|l| l.find(PREFIX).map(|at| &l[at..]))
            .map(|l| rampart_event::decode(l).unwrap_or_else(|e| panic!("bad event line {l:?}: {e:?}")))
            .collect()
    }

    fn messages(&self, kind: EventType) -> Vec<String> {
        self.events().into_iter().filter(|e| e.kind == kind).filter_map(|e| e.msg).collect()
    }

    /// Waits for a status or error line containing `text`.
    fn wait_message(&self, kind: EventType, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.messages(kind).into_iter().find(|m| m.contains(text)) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no {kind:?} line containing {text:?} within {timeout:?}; stderr:\n{}",
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the `n+1`th line of this kind and returns its message.
    fn wait_new_message(&self, kind: EventType, n: usize, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.messages(kind).into_iter().nth(n) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no new {kind:?} line within {timeout:?}; stderr:\n{}",
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asks `cmd` until the answer is `want`; returns how long that took.
    fn until(&mut self, cmd: &str, want: &str, timeout: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let got = self.ask(cmd);
            if got == want {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < timeout,
                "`{cmd}` still answers {got:?}, not {want:?}, after {timeout:?}; stderr:\n{}",
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn pids(&mut self) -> [u32; 3] {
        let answer = self.ask("pids");
        let pids: Vec<u32> = answer.split(' ').map(|p| p.parse().expect("pid")).collect();
        [pids[0], pids[1], pids[2]]
    }

    fn quit(mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("the driver did not quit; stderr:\n{}", self.stderr_text());
    }
}

fn cli(env: &[(String, String)], args: &[&str]) -> String {
    let mut cmd = Command::new(rampart_bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") || k.to_string_lossy().starts_with("RAMPART_") {
            cmd.env_remove(&k);
        }
    }
    let home = tempfile::tempdir().expect("tempdir");
    let out = cmd.env("HOME", home.path()).envs(env.iter().map(|(k, v)| (k, v))).args(args).output().expect("rampart");
    assert!(
        out.status.success(),
        "rampart {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A PUT that skips the CLI's checks: what a compromised or careless writer
/// of the bucket could store.
fn raw_put(s3: &S3Server, body: &[u8], metadata: &[(&str, &str)]) {
    let env = s3.env();
    let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let config = rampart_s3::Config::from_vars(&get, Duration::from_secs(5)).expect("config");
    let client = rampart_s3::Client::new(config).expect("client");
    client.put_object(BUCKET, KEY, body, "application/json", metadata).expect("raw put");
}

fn has_refresh_thread(pid: u32) -> bool {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks");
    tasks
        .filter_map(Result::ok)
        .any(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "rampart-refresh"))
}

fn maps_fetcher(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps").contains("librampart_fetch")
}

#[test]
fn a_pushed_policy_is_enforced_in_the_root_and_its_children_and_survives_bad_pushes() {
    let mut s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let env = s3.env();
    let files = Files::new();
    let (secret, allowed) = (files.secret(), files.allowed());
    let refresh = Duration::from_secs(1);
    let mut live = Live::start(LOCATION, &env, "1");

    // No object yet: profile mode, said once.
    live.wait_message(EventType::Status, "started: mode profile", Duration::from_secs(10));
    live.wait_message(EventType::Status, "no policy at s3://policies/orders yet", Duration::from_secs(1));
    for how in ["open", "fork", "exec"] {
        assert_eq!(live.ask(&format!("{how} {secret}")), "ok", "{how} in profile mode");
    }
    assert!(
        live.events().iter().any(|e| e.kind == EventType::Profile && e.target.as_deref() == Some(&*secret)),
        "{}",
        live.stderr_text()
    );

    // A block policy, pushed with the CLI, is enforced within the refresh
    // interval + 1 s, in the root and in both children started earlier.
    let block = files.write("block.json", &files.policy("block"));
    let pushed = Instant::now();
    cli(&env, &["policy", "push", block.to_str().expect("utf-8"), LOCATION]);
    let took = live.until(&format!("open {secret}"), "EACCES", refresh + Duration::from_secs(1));
    let enforced = pushed.elapsed();
    eprintln!("PUT -> enforcement in the root: {} ms (polling took {} ms)", enforced.as_millis(), took.as_millis());
    assert!(enforced <= refresh + Duration::from_secs(1), "{enforced:?}");
    for how in ["fork", "exec"] {
        assert_eq!(live.ask(&format!("{how} {secret}")), "EACCES", "{how} child after the block push");
        assert_eq!(live.ask(&format!("{how} {allowed}")), "ok", "{how} child, allowed file");
    }
    assert_eq!(live.ask(&format!("open {allowed}")), "ok");
    let [root, fork_child, exec_child] = live.pids();
    let blocked_pids: Vec<u32> = live
        .events()
        .iter()
        .filter(|e| e.kind == EventType::Block && e.target.as_deref() == Some(&*secret))
        .map(|e| e.pid)
        .collect();
    for pid in [root, fork_child, exec_child] {
        assert!(blocked_pids.contains(&pid), "no block line from pid {pid}: {blocked_pids:?}");
    }
    let changed = live.wait_message(EventType::Status, "policy changed", Duration::from_secs(1));
    assert!(changed.contains("mode block") && changed.contains("rules file 12"), "{changed}");

    // Only the root fetches: it alone has the refresh thread. An exec'd
    // child does not even map the fetcher (a fork child has the root's
    // memory, mapping included, but no thread to use it).
    assert!(has_refresh_thread(root) && maps_fetcher(root), "the root has no refresher");
    assert!(!has_refresh_thread(fork_child), "the fork child has a refresh thread");
    assert!(!has_refresh_thread(exec_child), "the exec'd child has a refresh thread");
    assert!(!maps_fetcher(exec_child), "the exec'd child maps librampart_fetch.so");

    // A bad object (not JSON), then an invalid policy: one error line each,
    // and the block policy stays in force.
    for (what, body) in [("not JSON", &b"{ \"version\": 1, \"mode\": "[..]), ("invalid", br#"{"version": 7}"#)] {
        let errors_before = live.messages(EventType::Error).len();
        raw_put(&s3, body, &[]);
        std::thread::sleep(refresh * 3);
        let errors = live.messages(EventType::Error);
        assert_eq!(errors.len(), errors_before + 1, "{what}: one error line, not one per retry: {errors:#?}");
        assert!(errors.last().expect("error").contains("keeping the last good policy"), "{errors:#?}");
        for how in ["open", "fork", "exec"] {
            assert_eq!(live.ask(&format!("{how} {secret}")), "EACCES", "{what}: {how}");
        }
    }

    // `policy mode ... alert` turns the denial into an alert.
    cli(&env, &["policy", "push", block.to_str().expect("utf-8"), LOCATION]);
    cli(&env, &["policy", "mode", LOCATION, "alert"]);
    live.until(&format!("open {secret}"), "ok", refresh + Duration::from_secs(1));
    live.until(&format!("exec {secret}"), "ok", Duration::from_secs(1));
    live.until(&format!("fork {secret}"), "ok", Duration::from_secs(1));
    assert!(
        live.events().iter().any(|e| e.kind == EventType::Alert && e.target.as_deref() == Some(&*secret)),
        "{}",
        live.stderr_text()
    );

    // A wrong secret (the server's credentials rotated away from the
    // function's): one error line, and the alert policy stays.
    let errors_before = live.messages(EventType::Error).len();
    s3.restart_with(s3.access_key().to_owned().as_str(), "a-different-secret");
    let denied = live.wait_message(EventType::Error, "SignatureDoesNotMatch", refresh * 4);
    assert!(denied.contains("keeping the last good policy"), "{denied}");
    std::thread::sleep(refresh * 4);
    assert_eq!(live.messages(EventType::Error).len(), errors_before + 1, "{}", live.stderr_text());
    assert_eq!(live.ask(&format!("open {secret}")), "ok");
    let network: Vec<Event> = live.events().into_iter().filter(|e| e.cat == Some(Category::Network)).collect();
    assert!(network.is_empty(), "the fetcher's connections were checked: {network:#?}");
    let mode = live.messages(EventType::Status);
    assert!(!mode.iter().any(|m| m.contains("policy changed") && m.contains("mode profile")), "{mode:#?}");
    live.quit();
}

/// A driver against the faulty server, started under the v1 block policy.
fn faulty_start(files: &Files, refresh: &str) -> (FaultyS3, Live) {
    let faulty = FaultyS3::start();
    faulty.set_object(files.policy("block").as_bytes(), "\"v1\"", &[]);
    let env = vec![
        ("AWS_ENDPOINT_URL".to_owned(), faulty.endpoint()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "AKIDFAULTY".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "secret".to_owned()),
        ("AWS_SESSION_TOKEN".to_owned(), "session-token".to_owned()),
        ("AWS_REGION".to_owned(), REGION.to_owned()),
    ];
    let live = Live::start(LOCATION, &env, refresh);
    live.wait_message(EventType::Status, "started: mode block", Duration::from_secs(10));
    (faulty, live)
}

#[test]
fn failures_keep_the_last_good_policy_with_one_error_line_each() {
    let files = Files::new();
    let secret = files.secret();
    let allowed = files.allowed();
    let (faulty, mut live) = faulty_start(&files, "0.5");
    assert_eq!(live.ask(&format!("open {secret}")), "EACCES");

    // Conditional GETs: after the first, each carries the ETag, is signed
    // with the session token, and a 304 changes nothing.
    assert!(faulty.wait_for_requests(3, Duration::from_secs(5)));
    let requests = faulty.requests();
    assert!(requests.iter().skip(1).all(|r| r.header("if-none-match") == Some("\"v1\"")), "{:#?}", requests);
    assert!(requests.iter().all(|r| r.header("x-amz-security-token") == Some("session-token")));
    assert!(
        requests.iter().all(|r| r.header("authorization").is_some_and(|a| a.contains("x-amz-security-token"))),
        "{requests:#?}"
    );
    assert!(live.messages(EventType::Status).iter().all(|m| !m.contains("policy changed")));

    // (what, fault, in the error line, transport failure: backs off and recovers)
    let cases: [(&str, Fault, &str, bool); 7] = [
        ("403", Fault::Status(403), "(access_denied)", true),
        ("500", Fault::Status(500), "(server)", true),
        ("503", Fault::Status(503), "(server)", true),
        ("timeout", Fault::Hang, "(timeout)", true),
        ("truncated body", Fault::Truncate, "(truncated)", true),
        ("50 MB object", Fault::Huge(50 << 20), "(too_large)", true),
        ("not JSON", Fault::Garbage, "ETag \"fault-etag-0000\"", false),
    ];
    for (what, fault, expect, transport) in cases {
        let errors_before = live.messages(EventType::Error).len();
        faulty.clear_requests();
        faulty.set_fault(fault);
        let message = live.wait_new_message(EventType::Error, errors_before, Duration::from_secs(10));
        assert!(message.contains(expect), "{what}: {message}");
        assert!(message.contains("keeping the last good policy"), "{what}: {message}");
        // The function's calls are not held up while the fetch is stuck.
        let timed = live.ask(&format!("timed {allowed}"));
        let micros: u64 = timed.split(' ').nth(1).and_then(|m| m.parse().ok()).expect("micros");
        assert!(timed.starts_with("ok ") && micros < 500_000, "{what}: {timed}");
        assert_eq!(live.ask(&format!("open {secret}")), "EACCES", "{what}");
        assert_eq!(live.ask(&format!("exec {secret}")), "EACCES", "{what}");
        // Retries back off and say nothing new.
        std::thread::sleep(Duration::from_secs(3));
        let errors = live.messages(EventType::Error);
        assert_eq!(errors.len(), errors_before + 1, "{what}: {errors:#?}");
        let requests = faulty.requests();
        if transport {
            let n = requests.len();
            assert!(n <= 5, "{what}: {n} requests in ~3 s at a 0.5 s interval: no back-off");
        } else {
            // The bad object is not downloaded again until it changes.
            let again = requests.iter().skip_while(|r| r.header("if-none-match") != Some("\"v1\"")).skip(1);
            assert!(again.clone().count() >= 2, "{what}: {requests:#?}");
            assert!(again.clone().all(|r| r.header("if-none-match") == Some(FAULT_ETAG)), "{what}: {requests:#?}");
        }
        let recovered_before = live.messages(EventType::Status).iter().filter(|m| m.contains("works again")).count();
        faulty.set_fault(Fault::None);
        faulty.set_object(files.policy("block").as_bytes(), "\"v1\"", &[]);
        if transport {
            let deadline = Instant::now() + Duration::from_secs(70);
            while live.messages(EventType::Status).iter().filter(|m| m.contains("works again")).count()
                == recovered_before
            {
                assert!(Instant::now() < deadline, "{what}: no recovery line; stderr:\n{}", live.stderr_text());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    let network: Vec<Event> = live.events().into_iter().filter(|e| e.cat == Some(Category::Network)).collect();
    assert!(network.is_empty(), "the fetcher's connections were checked: {network:#?}");

    // The object deleted after a policy was in force: kept.
    faulty.remove_object();
    live.wait_message(EventType::Error, "is gone; keeping the last good policy", Duration::from_secs(5));
    assert_eq!(live.ask(&format!("open {secret}")), "EACCES");
    live.quit();
}

#[test]
fn unreachable_policy_starts_in_profile_mode_and_says_why() {
    let files = Files::new();
    let env = vec![
        ("AWS_ENDPOINT_URL".to_owned(), "http://rampart-no-such-host.invalid:9000".to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "AKID".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "secret".to_owned()),
        ("AWS_REGION".to_owned(), REGION.to_owned()),
    ];
    let mut live = Live::start(LOCATION, &env, "0.5");
    live.wait_message(EventType::Status, "started: mode profile", Duration::from_secs(10));
    let error = live.wait_message(EventType::Error, "(dns)", Duration::from_secs(1));
    assert!(error.contains("profile mode until it loads"), "{error}");
    assert_eq!(live.ask(&format!("open {}", files.secret())), "ok");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(live.messages(EventType::Error).len(), 1, "{}", live.stderr_text());
    live.quit();
}

#[test]
fn with_a_policy_key_only_signed_policies_are_applied() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let files = Files::new();
    let secret = files.secret();
    let keyfile = files.dir.path().join("signing.key");
    let other_keyfile = files.dir.path().join("other.key");
    let mut env = s3.env();
    let public = cli(&env, &["policy", "keygen", "-o", keyfile.to_str().expect("utf-8")]);
    let public = public.split_whitespace().find(|w| w.starts_with("ed25519:")).expect("public key").to_owned();
    cli(&env, &["policy", "keygen", "-o", other_keyfile.to_str().expect("utf-8")]);
    let block = files.write("block.json", &files.policy("block"));
    let block = block.to_str().expect("utf-8");

    // Unsigned: refused, profile mode.
    raw_put(&s3, files.policy("block").as_bytes(), &[]);
    env.push(("RAMPART_POLICY_KEY".to_owned(), public.clone()));
    let mut live = Live::start(LOCATION, &env, "0.5");
    live.wait_message(EventType::Status, "started: mode profile", Duration::from_secs(10));
    live.wait_message(EventType::Error, "is not signed", Duration::from_secs(1));
    assert_eq!(live.ask(&format!("open {secret}")), "ok");

    // Signed with the key: applied.
    cli(&env, &["policy", "push", block, LOCATION, "--key", keyfile.to_str().expect("utf-8")]);
    live.until(&format!("open {secret}"), "EACCES", Duration::from_secs(2));

    // Loosened and signed with another key, or changed after signing: refused.
    let profile = files.write("profile.json", &files.policy("profile"));
    let other = rampart_sign::SecretKey::parse(&std::fs::read_to_string(&other_keyfile).expect("key")).expect("key");
    let loose = std::fs::read(&profile).expect("read");
    raw_put(&s3, &loose, &[(rampart_sign::METADATA_NAME, &other.sign(&loose))]);
    live.wait_message(EventType::Error, "signature does not match", Duration::from_secs(3));
    let good = std::fs::read(block).expect("read");
    let signature =
        rampart_sign::SecretKey::parse(&std::fs::read_to_string(&keyfile).expect("key")).expect("key").sign(&good);
    raw_put(&s3, &loose, &[(rampart_sign::METADATA_NAME, &signature)]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(live.ask(&format!("open {secret}")), "EACCES");
    assert_eq!(live.ask(&format!("exec {secret}")), "EACCES");
    live.quit();
}
