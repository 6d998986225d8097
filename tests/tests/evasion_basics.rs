//! The evasion harness itself (`tests/src/evasion.rs`): the plainest
//! attempts, which every later suite builds on, are blocked from each
//! language and reach their target bare.

use rampart_tests::evasion::{Arena, Lang};

#[test]
fn python_reads_the_secret() {
    let a = Arena::new("basic-py");
    let code = "import os\ntry:\n    print('HIT', open(os.environ['EV_SECRET']).read())\nexcept OSError as e:\n    print('no', e)";
    a.attempt("python-open", Lang::Python, code, &[]).assert_blocked();
}

#[test]
fn node_runs_the_denied_program() {
    let a = Arena::new("basic-node");
    let code = "const cp = require('child_process');\n\
                try { process.stdout.write(cp.execFileSync(process.env.EV_DENIED_PROG, ['HIT']).toString()); }\n\
                catch (e) { console.log('no', e.code); }";
    a.attempt("node-exec", Lang::Node, code, &[]).assert_blocked();
}

#[test]
fn shell_connects_to_the_denied_peer() {
    let a = Arena::new("basic-sh");
    // dash has no /dev/tcp: python does the connecting, started by the shell.
    let py = &rampart_tests::evasion::python().0;
    let code = format!(
        "{py} -I -c 'import os, socket\ns = socket.socket()\ntry:\n    s.connect((\"127.0.0.1\", int(os.environ[\"EV_TCP_DENIED\"])))\n    print(\"HIT\")\nexcept OSError as e:\n    print(\"no\", e)'"
    );
    let t = a.attempt("shell-connect", Lang::Shell, &code, &[]);
    t.assert_blocked();
    assert_eq!(t.guarded_peers.tcp_denied_accepted, 0);
    assert_eq!(t.bare_peers.tcp_denied_accepted, 1);
}
