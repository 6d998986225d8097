//! The evasion suites (`tests/tests/evasion_*.rs`): attacks on the layer
//! written as a function's code would write them, in Python, Node.js or C.
//!
//! Every attempt runs twice with the same program, arguments and
//! environment: **bare** (no library), where it must reach its target —
//! so no attempt passes by being broken — and **guarded** (`rampart run`
//! with the block-mode policy of the [`Arena`]), where it must not. An
//! attempt says it reached its target by printing a line starting with
//! `HIT` on stdout (the contents of the secret, the output of the denied
//! program, a connection to the denied peer); races print one `HIT` per
//! success and stop by themselves within their time bound.
//!
//! The arena (see [`Sandbox`]):
//!
//! ```text
//! ROOT/allowed/            rw        EV_ALLOWED
//! ROOT/ro/                 r
//! ROOT/secret/x            no rule   EV_SECRET (contents: SECRET_DATA)
//! ROOT/bin/ok              may run   EV_OK_PROG      (a copy of /bin/true)
//! ROOT/bin/echo-ok         may run   EV_ECHO_OK      (a copy of /bin/echo)
//! ROOT/deny/echo           may not   EV_DENIED_PROG  (a copy of /bin/echo: `EV_DENIED_PROG HIT` prints HIT iff it ran)
//! peers on 127.0.0.1       EV_TCP_ALLOWED, EV_TCP_DENIED, EV_UDP_ALLOWED, EV_UDP_DENIED (ports)
//! ```
//! `EV_ROOT` is ROOT, `EV_SECRET_DATA` the secret's contents. Python and
//! Node.js (their installation trees readable, their interpreters allowed
//! to run) and `/bin/sh` (dash, allowed to run) are in the policy.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use rampart_event::EventType;

use crate::cases::output_with_timeout;
use crate::runtimes_common::{PeerLog, Peers, SECRET_DATA, Sandbox, TempDir, base_file_rules, json_str, realpath};
use crate::{Outcome, outcome, rampart_lib, rampart_run};

/// A guarded or bare run of one attempt never takes longer than this.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The language an attempt is written in.
#[derive(Clone, Debug)]
pub enum Lang {
    /// Python source, run with `python3 -I -c`.
    Python,
    /// JavaScript, run with `node -e`.
    Node,
    /// A compiled program (its path); the code argument is ignored and
    /// the arguments are passed to it.
    Program(PathBuf),
    /// A shell script, run with `/bin/sh -c`.
    Shell,
}

/// The real Python interpreter (not pyenv's shim script) and its prefix.
pub fn python() -> &'static (String, String) {
    static PY: OnceLock<(String, String)> = OnceLock::new();
    PY.get_or_init(|| {
        let probe = "import os, sys\nprint(os.path.realpath(sys.executable))\nprint(os.path.realpath(sys.base_prefix))";
        let out = Command::new("python3").args(["-I", "-c", probe]).output().expect("python3 on PATH");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let exe = lines.next().expect("python3 printed its executable").to_owned();
        let prefix = lines.next().expect("python3 printed its prefix").to_owned();
        (exe, prefix)
    })
}

/// The real `node` binary.
pub fn node() -> &'static String {
    static NODE: OnceLock<String> = OnceLock::new();
    NODE.get_or_init(|| {
        let out = Command::new("node")
            .args(["-e", "console.log(require('fs').realpathSync(process.execPath))"])
            .output()
            .expect("node on PATH");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    })
}

/// One attempt's two runs.
#[derive(Debug)]
pub struct Tries {
    pub name: String,
    pub bare: Outcome,
    pub guarded: Outcome,
    /// What reached the peers during the guarded run.
    pub guarded_peers: PeerLog,
    /// What reached the peers during the bare run.
    pub bare_peers: PeerLog,
}

fn hits(o: &Outcome) -> usize {
    o.stdout.lines().filter(|l| l.starts_with("HIT")).count()
}

impl Tries {
    pub fn bare_hits(&self) -> usize {
        hits(&self.bare)
    }

    pub fn guarded_hits(&self) -> usize {
        hits(&self.guarded)
    }

    /// Bare, the attack reached its target; guarded, it never did, and
    /// the layer wrote at least one `block` line.
    pub fn assert_blocked(&self) -> &Tries {
        self.assert_stopped();
        assert!(
            !self.guarded.of(EventType::Block).is_empty(),
            "{}: no block line for a denied attempt\n{:#?}",
            self.name,
            self.guarded
        );
        self
    }

    /// As [`assert_blocked`](Self::assert_blocked), for an attack that
    /// the layer stops without a line of its own (e.g. a child that
    /// refuses a forged policy and writes an `error` line instead).
    pub fn assert_stopped(&self) -> &Tries {
        self.assert_works_bare();
        assert_eq!(
            self.guarded_hits(),
            0,
            "{}: the attack got through the layer ({} hits)\n{:#?}",
            self.name,
            self.guarded_hits(),
            self.guarded
        );
        self
    }

    /// The attack reaches its target without the library (it is not
    /// broken).
    pub fn assert_works_bare(&self) -> &Tries {
        assert!(
            self.bare_hits() > 0,
            "{}: the attack does not work even without the library, so it proves nothing\n{:#?}",
            self.name,
            self.bare
        );
        self
    }
}

/// A sandbox, peers and a block-mode policy to attack.
pub struct Arena {
    pub sb: Sandbox,
    pub peers: Peers,
    /// Rules, adjustable before [`Arena::attempt`] (which writes the policy).
    pub file: Vec<String>,
    pub network: Vec<String>,
    pub process: Vec<String>,
    policies: TempDir,
}

impl Arena {
    pub fn new(tag: &str) -> Arena {
        let sb = Sandbox::new(&format!("ev-{tag}"));
        let root = sb.root();
        for d in ["bin", "deny"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        for (from, to) in [("/bin/true", "bin/ok"), ("/bin/echo", "bin/echo-ok"), ("/bin/echo", "deny/echo")] {
            std::fs::copy(from, root.join(to)).unwrap_or_else(|e| panic!("copy {from}: {e}"));
        }
        let peers = Peers::new();
        let (py_exe, py_prefix) = python();
        let node_exe = node();
        let node_prefix = Path::new(node_exe).parent().and_then(Path::parent).unwrap_or(Path::new("/usr"));
        let mut file = base_file_rules();
        file.push(format!("r {py_prefix}/**"));
        if !node_prefix.starts_with("/usr") {
            file.push(format!("r {}/**", node_prefix.display()));
        }
        file.extend(sb.rules());
        let process = vec![py_exe.clone(), node_exe.clone(), realpath("/bin/sh"), sb.path("bin/*")];
        Arena { network: peers.rules(), peers, file, process, policies: TempDir::new(&format!("ev-{tag}-policy")), sb }
    }

    pub fn secret(&self) -> String {
        self.sb.path("secret/x")
    }

    pub fn denied_program(&self) -> String {
        self.sb.path("deny/echo")
    }

    /// The environment every attempt gets (see the module doc).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("EV_ROOT".into(), self.sb.path("")),
            ("EV_ALLOWED".into(), self.sb.path("allowed")),
            ("EV_SECRET".into(), self.secret()),
            ("EV_SECRET_DATA".into(), SECRET_DATA.into()),
            ("EV_OK_PROG".into(), self.sb.path("bin/ok")),
            ("EV_ECHO_OK".into(), self.sb.path("bin/echo-ok")),
            ("EV_DENIED_PROG".into(), self.denied_program()),
            ("EV_TCP_ALLOWED".into(), self.peers.tcp_allowed_port().to_string()),
            ("EV_TCP_DENIED".into(), self.peers.tcp_denied_port().to_string()),
            ("EV_UDP_ALLOWED".into(), self.peers.udp_allowed_port().to_string()),
            ("EV_UDP_DENIED".into(), self.peers.udp_denied_port().to_string()),
            ("EV_LIB".into(), rampart_lib().display().to_string()),
        ]
    }

    /// The policy in force for the guarded run, as written.
    pub fn policy_text(&self) -> String {
        let list = |v: &[String]| v.iter().map(|s| json_str(s)).collect::<Vec<_>>().join(", ");
        format!(
            "{{\"version\": 1, \"mode\": \"block\", \"block\": [\"file\", \"network\", \"process\"], \
             \"allow\": {{\"file\": [{}], \"network\": [{}], \"process\": [{}]}}}}",
            list(&self.file),
            list(&self.network),
            list(&self.process)
        )
    }

    fn command(&self, lang: &Lang, code: &str, args: &[&str], guarded: bool, policy: &Path) -> Command {
        let mut cmd = if guarded { rampart_run(Some(policy), None) } else { Command::new("env") };
        match lang {
            Lang::Python => {
                cmd.arg(&python().0).args(["-I", "-c", code]);
            }
            Lang::Node => {
                cmd.arg(node()).args(["-e", code]);
            }
            Lang::Program(p) => {
                cmd.arg(p);
            }
            Lang::Shell => {
                cmd.args(["/bin/sh", "-c", code, "sh"]);
            }
        }
        cmd.args(args).current_dir(self.sb.path("allowed"));
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        if !guarded {
            cmd.env_remove("LD_PRELOAD");
        }
        cmd
    }

    /// Runs the attempt bare, then guarded.
    pub fn attempt(&self, name: &str, lang: Lang, code: &str, args: &[&str]) -> Tries {
        let policy = self.policies.path().join(format!("{name}.json"));
        let text = self.policy_text();
        rampart_policy::Policy::parse(&text).unwrap_or_else(|e| panic!("arena policy is invalid: {e}\n{text}"));
        std::fs::write(&policy, &text).expect("write policy");
        let (_, bare) = output_with_timeout(&mut self.command(&lang, code, args, false, &policy), TIMEOUT);
        let bare_peers = self.peers.drain();
        let (_, guarded) = output_with_timeout(&mut self.command(&lang, code, args, true, &policy), TIMEOUT);
        let guarded_peers = self.peers.drain();
        Tries { name: name.to_owned(), bare: outcome(bare), guarded: outcome(guarded), bare_peers, guarded_peers }
    }
}
