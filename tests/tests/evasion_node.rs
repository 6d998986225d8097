//! The rows and the classics written as a Node.js function's code
//! would write them: plain JavaScript, no native addon (Node has no FFI of
//! its own). Each reaches its target bare and is blocked guarded.

use rampart_tests::evasion::{Arena, Lang, Tries};

/// Every attempt's JavaScript starts with this: `hit(x)` says the attack
/// got there, `E` is the environment.
const PRELUDE: &str = "const fs = require('fs'), path = require('path'), cp = require('child_process');\n\
                       const net = require('net'), dgram = require('dgram');\n\
                       const E = process.env;\n\
                       const hit = (x) => console.log('HIT', JSON.stringify(String(x)));\n\
                       const no = (e) => console.log('no', e && e.code);\n";

fn node(a: &Arena, name: &str, body: &str) -> Tries {
    a.attempt(name, Lang::Node, &format!("{PRELUDE}{body}"), &[])
}

#[test]
fn symlink_dotdot_and_proc_paths_to_the_secret() {
    let a = Arena::new("node-paths");
    let body = "const s = E.EV_SECRET, al = E.EV_ALLOWED;\n\
                const tries = [\n\
                  () => { const l = path.join(al, 'l1-' + process.pid); fs.symlinkSync(s, l); return fs.readFileSync(l); },\n\
                  () => fs.readFileSync(path.join(al, '..', 'secret', 'x')),\n\
                  () => fs.readFileSync('/proc/self/root' + s),\n\
                  () => { process.chdir(path.dirname(s)); return fs.readFileSync('x'); },\n\
                  () => fs.promises ? fs.readFileSync(path.join(al, 'secretdir', 'x')) : '',\n\
                ];\n\
                for (const t of tries) { try { hit(t()); } catch (e) { no(e); } }\n";
    let t = node(&a, "node-paths", body);
    t.assert_blocked();
    // Every one of the five reached the secret bare.
    assert_eq!(t.bare_hits(), 5, "{:#?}", t.bare);
}

#[test]
fn hard_link_through_a_symlink_in_a_writable_directory() {
    let a = Arena::new("node-link");
    // Row 5 from JavaScript: link(2) of a symlink to the secret (Node's
    // fs.linkSync does not follow it: the new name is another symlink to
    // the secret, read through it), then a hard link of the secret itself.
    // Each run its own names (the arena is the same for both runs).
    let body = "const al = E.EV_ALLOWED, n = (x) => path.join(al, x + '-' + process.pid);\n\
                fs.symlinkSync(E.EV_SECRET, n('sl'));\n\
                try { fs.linkSync(n('sl'), n('hl')); hit(fs.readFileSync(n('hl'))); } catch (e) { no(e); }\n\
                try { fs.linkSync(E.EV_SECRET, n('hl2')); console.log('made', n('hl2')); hit(fs.readFileSync(n('hl2'))); } catch (e) { no(e); }\n";
    let t = node(&a, "node-link", body);
    t.assert_blocked();
    assert!(!t.guarded.stdout.contains("made"), "the hard link of the secret was made\n{:#?}", t.guarded);
}

#[test]
fn tcp_udp_and_ipv4_mapped_ipv6_to_the_denied_peers() {
    let a = Arena::new("node-net");
    let body = "let pending = 3;\n\
                const done = () => { if (--pending === 0) process.exit(0); };\n\
                const c = net.connect(Number(E.EV_TCP_DENIED), '127.0.0.1', () => { hit('tcp'); c.destroy(); done(); });\n\
                c.on('error', (e) => { no(e); done(); });\n\
                const c6 = net.connect({ port: Number(E.EV_TCP_DENIED), host: '::ffff:127.0.0.1', family: 6 }, () => { hit('tcp6-mapped'); c6.destroy(); done(); });\n\
                c6.on('error', (e) => { no(e); done(); });\n\
                const u = dgram.createSocket('udp4');\n\
                u.send('HIT-udp', Number(E.EV_UDP_DENIED), '127.0.0.1', (e) => { if (e) no(e); else hit('udp'); u.close(); done(); });\n\
                setTimeout(() => process.exit(0), 5000);\n";
    let t = node(&a, "node-net", body);
    t.assert_blocked();
    assert_eq!(t.bare_peers.tcp_denied_accepted, 2, "bare, both connections reached the peer");
    assert_eq!(t.guarded_peers.tcp_denied_accepted, 0, "{:#?}", t.guarded);
    assert!(t.guarded_peers.udp_denied_received.is_empty(), "{:#?}", t.guarded_peers);
}

#[test]
fn children_with_a_cleared_or_rewritten_environment() {
    let a = Arena::new("node-env");
    // The child is the denied program; the code tries to start it without
    // the layer: an empty environment, LD_PRELOAD removed, RAMPART_MODE=off,
    // a shell with LD_PRELOAD unset.
    let body = "const p = E.EV_DENIED_PROG;\n\
                const envs = [{}, Object.fromEntries(Object.entries(E).filter(([k]) => k !== 'LD_PRELOAD')), { ...E, RAMPART_MODE: 'off', LD_PRELOAD: '' }];\n\
                for (const env of envs) { try { process.stdout.write(cp.execFileSync(p, ['HIT'], { env }).toString()); } catch (e) { no(e); } }\n\
                try { process.stdout.write(cp.execSync('unset LD_PRELOAD; \"$EV_DENIED_PROG\" HIT').toString()); } catch (e) { no(e); }\n";
    let t = node(&a, "node-env", body);
    t.assert_blocked();
    assert_eq!(t.bare_hits(), 4, "{:#?}", t.bare);
}

#[test]
fn script_whose_interpreter_is_denied() {
    let a = Arena::new("node-shebang");
    // Row 10: an allowed script (bin/ is allowed to run) whose #! line
    // names the denied program.
    let script = a.sb.root().join("bin/run.sh");
    std::fs::write(&script, format!("#!{} HIT\n", a.denied_program())).expect("write script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let body = format!(
        "try {{ process.stdout.write(cp.execFileSync({:?}).toString()); }} catch (e) {{ no(e); }}\n",
        script.display().to_string()
    );
    node(&a, "node-shebang", &body).assert_blocked();
}

#[test]
fn symlink_swapped_while_spawning() {
    let mut a = Arena::new("node-swap");
    // The flipper's tools run under the layer too.
    for tool in ["/usr/bin/ln", "/usr/bin/mv"] {
        a.process.push(rampart_tests::runtimes_common::realpath(tool));
    }
    // Row 2 from JavaScript: a link that flips between the allowed and the
    // denied program while the code spawns it, for 2 seconds (a second
    // process does the flipping: Node is single-threaded).
    let body = "const link = path.join(E.EV_ALLOWED, 'flip');\n\
                const flipper = `while :; do ln -sf \"$EV_OK_PROG\" \"${link}.t\" && mv -f \"${link}.t\" \"${link}\"; ln -sf \"$EV_DENIED_PROG\" \"${link}.t\" && mv -f \"${link}.t\" \"${link}\"; done`;\n\
                fs.symlinkSync(E.EV_OK_PROG, link);\n\
                const f = cp.spawn('/bin/sh', ['-c', flipper], { stdio: 'ignore', env: { ...E, PATH: '/usr/bin:/bin' } });\n\
                const end = Date.now() + 2000; let hits = 0, tries = 0;\n\
                while (Date.now() < end) { tries++; try { const out = cp.execFileSync(link, ['HIT']).toString(); if (out.startsWith('HIT')) hits++; } catch (e) {} }\n\
                f.kill('SIGKILL');\n\
                for (let i = 0; i < hits; i++) console.log('HIT');\n\
                console.log('tries', tries);\n";
    let t = node(&a, "node-swap", body);
    t.assert_stopped();
}
