//! Attacks on the network hooks (issue 13, rows 3, 4 and 6): each reaches
//! the denied peer bare and is blocked guarded.
//!
//! Row 4 runs for real and offline: a private mount and network namespace
//! (`unshare -mn`, as root) with its own loopback, a small DNS responder on
//! 127.0.0.1:53 and a resolv.conf naming it bind-mounted over
//! /etc/resolv.conf.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use rampart_event::EventType;
use rampart_tests::cases::output_with_timeout;
use rampart_tests::cprog;
use rampart_tests::evasion::{Arena, Lang, TIMEOUT, Tries, python};
use rampart_tests::runtimes_common::PeerLog;
use rampart_tests::{outcome, rampart_run};

/// How long each race runs (at most 3 s, as the brief bounds them).
const RACE_SECS: &str = "2";

fn race_program() -> &'static PathBuf {
    static PROG: OnceLock<PathBuf> = OnceLock::new();
    PROG.get_or_init(|| {
        let out = cprog::suite_dir("evasion_fsnet_net").join("evasion_fsnet");
        cprog::compile("evasion_fsnet.c", &out, &["-O2", "-Wall", "-Wextra", "-Werror", "-pthread"]);
        out
    })
}

// ---------------------------------------------------------------------------
// Row 3: the socket address (or the message header pointing at it)
// rewritten by another thread after the check.

#[test]
fn addresses_flipped_by_another_thread() {
    let mut a = Arena::new("race-net");
    let prog = race_program();
    a.process.push(prog.display().to_string());
    a.file.push(format!("r {}/**", prog.parent().expect("dir").display()));
    let tcp = a.peers.tcp_allowed_port().to_string();
    let udp = a.peers.udp_allowed_port().to_string();
    for (mode, port) in
        [("connect", &tcp), ("sendto", &udp), ("sendmsg", &udp), ("sendmsg-name", &udp), ("sendmmsg", &udp)]
    {
        let t = a.attempt(&format!("race-{mode}"), Lang::Program(prog.clone()), "", &[mode, port, RACE_SECS]);
        t.assert_blocked();
        assert!(t.guarded.stdout.contains("tries "), "{mode}: the race did not run\n{:#?}", t.guarded);
    }
}

// ---------------------------------------------------------------------------
// Row 6: destinations the library used to read differently from the kernel.

/// ctypes declarations for the hooked symbols themselves
/// (`ctypes.CDLL(None)` finds the preloaded library first).
const CTYPES: &str = r#"import ctypes, os, socket, struct
E = os.environ
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_char_p), ('len', ctypes.c_size_t)]
class msghdr(ctypes.Structure):
    _fields_ = [('name', ctypes.c_char_p), ('namelen', ctypes.c_uint32), ('iov', ctypes.POINTER(iovec)),
                ('iovlen', ctypes.c_size_t), ('control', ctypes.c_void_p), ('controllen', ctypes.c_size_t),
                ('flags', ctypes.c_int)]
class mmsghdr(ctypes.Structure):
    _fields_ = [('hdr', msghdr), ('len', ctypes.c_uint)]
libc.sendto.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
libc.sendto.restype = ctypes.c_ssize_t
libc.sendmsg.argtypes = [ctypes.c_int, ctypes.POINTER(msghdr), ctypes.c_int]
libc.sendmsg.restype = ctypes.c_ssize_t
libc.sendmmsg.argtypes = [ctypes.c_int, ctypes.POINTER(mmsghdr), ctypes.c_uint, ctypes.c_int]
def unspec(port):
    # AF_UNSPEC (0), then a sockaddr_in's port and address.
    return struct.pack('=HH4s8x', 0, socket.htons(port), socket.inet_aton('127.0.0.1'))
def message(addr, data):
    iov = iovec(data, len(data))
    m = msghdr(addr, len(addr), ctypes.pointer(iov), 1, None, 0, 0)
    m._keep = iov
    return m
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
denied = int(E['EV_UDP_DENIED'])
def said(n):
    if n > 0:
        print('HIT', n)
    else:
        print('no', os.strerror(ctypes.get_errno()))
"#;

fn ctypes_attempt(a: &Arena, name: &str, body: &str) -> Tries {
    let t = a.attempt(name, Lang::Python, &format!("{CTYPES}{body}"), &[]);
    t.assert_blocked();
    assert!(!t.bare_peers.udp_denied_received.is_empty() || t.bare_peers.tcp_denied_accepted > 0, "{name}: {t:#?}");
    assert_eq!(t.guarded_peers.udp_denied_received, Vec::<String>::new(), "{name}: a datagram got through");
    assert_eq!(t.guarded_peers.tcp_denied_accepted, 0, "{name}: a connection got through");
    t
}

#[test]
fn af_unspec_destinations_on_udp() {
    let a = Arena::new("unspec");
    ctypes_attempt(&a, "unspec-sendto", "said(libc.sendto(udp.fileno(), b'unspec-sendto', 13, 0, unspec(denied), 16))");
    ctypes_attempt(
        &a,
        "unspec-sendmsg",
        "m = message(unspec(denied), b'unspec-sendmsg')\nsaid(libc.sendmsg(udp.fileno(), ctypes.byref(m), 0))",
    );
    ctypes_attempt(
        &a,
        "unspec-sendmmsg",
        "v = (mmsghdr * 2)(mmsghdr(message(unspec(denied), b'unspec-mmsg-1'), 0), mmsghdr(message(unspec(denied), b'unspec-mmsg-2'), 0))\n\
         said(libc.sendmmsg(udp.fileno(), v, 2, 0))",
    );
}

#[test]
fn udp_sendmsg_and_sendmmsg_to_the_denied_port() {
    let a = Arena::new("udp-msg");
    ctypes_attempt(
        &a,
        "sendmsg-plain",
        "try:\n    said(udp.sendmsg([b'sendmsg'], [], 0, ('127.0.0.1', denied)))\nexcept OSError as e:\n    print('no', e)",
    );
    // An allowed message first: it is sent (and counted), the denied one
    // after it is not.
    let t = ctypes_attempt(
        &a,
        "sendmmsg-after-allowed",
        "ok = struct.pack('=HH4s8x', socket.AF_INET, socket.htons(int(E['EV_UDP_ALLOWED'])), socket.inet_aton('127.0.0.1'))\n\
         no = struct.pack('=HH4s8x', socket.AF_INET, socket.htons(denied), socket.inet_aton('127.0.0.1'))\n\
         v = (mmsghdr * 2)(mmsghdr(message(ok, b'first'), 0), mmsghdr(message(no, b'second'), 0))\n\
         n = libc.sendmmsg(udp.fileno(), v, 2, 0)\n\
         print('sent', n)\n\
         said(n - 1)",
    );
    assert!(t.guarded.stdout.contains("sent 1"), "the allowed message is sent and counted\n{t:#?}");
    assert_eq!(t.guarded_peers.udp_allowed_received, vec!["first".to_owned()]);
}

#[test]
fn ipv4_mapped_ipv6_and_tcp_fast_open() {
    let a = Arena::new("mapped");
    ctypes_attempt(
        &a,
        "mapped-udp",
        "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
         try:\n    said(s.sendto(b'mapped', ('::ffff:127.0.0.1', denied)))\nexcept OSError as e:\n    print('no', e)",
    );
    ctypes_attempt(
        &a,
        "mapped-tcp",
        "s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)\n\
         try:\n    s.connect(('::ffff:127.0.0.1', int(E['EV_TCP_DENIED'])))\n    print('HIT mapped')\nexcept OSError as e:\n    print('no', e)",
    );
    ctypes_attempt(
        &a,
        "tcp-fast-open",
        "s = socket.socket()\n\
         try:\n    said(s.sendto(b'tfo', socket.MSG_FASTOPEN, ('127.0.0.1', int(E['EV_TCP_DENIED']))))\nexcept OSError as e:\n    print('no', e)",
    );
}

// ---------------------------------------------------------------------------
// Row 4: the resolver made to answer for another name.

/// A DNS responder for the namespace: A records for the names in ANSWERS,
/// an empty answer for other types of those names, NXDOMAIN for the rest.
const DNS_RESPONDER: &str = r#"import socket, struct, sys
ANSWERS = {b'good.test': '127.0.0.2', b'good.test.evil.test': '127.0.0.3', b'good.evil.test': '127.0.0.3'}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 53))
open(sys.argv[1], 'w').close()
while True:
    q, peer = s.recvfrom(512)
    tid = struct.unpack('>H', q[:2])[0]
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]])
        i += 1 + q[i]
    qtype = struct.unpack('>H', q[i + 1:i + 3])[0]
    question = q[12:i + 5]
    ip = ANSWERS.get(b'.'.join(labels).lower())
    answer = b''
    if ip and qtype == 1:
        answer = b'\xc0\x0c' + struct.pack('>HHIH', 1, 1, 60, 4) + socket.inet_aton(ip)
    flags = 0x8180 | (0 if ip else 3)
    s.sendto(struct.pack('>HHHHHH', tid, flags, 1, 1 if answer else 0, 0, 0) + question + answer, peer)
"#;

/// Sets the namespace up, runs the command, stops the responder.
const NAMESPACE_SETUP: &str = r#"set -e
ip link set lo up
mount --bind "$NS_RESOLV" /etc/resolv.conf
"$NS_PYTHON" -I "$NS_DNS" "$NS_READY" >/dev/null 2>&1 &
dns=$!
i=0
while [ ! -e "$NS_READY" ]; do i=$((i+1)); [ $i -lt 200 ] || exit 3; sleep 0.05; done
set +e
"$@"
rc=$?
kill $dns
exit $rc
"#;

/// The port the name rule allows (a fresh namespace: nothing else uses it).
const NAMED_PORT: u16 = 8443;

/// Runs `code` (Python) bare and guarded, each in its own namespace.
fn in_namespace(a: &Arena, name: &str, code: &str) -> Tries {
    let root = a.sb.root();
    std::fs::write(root.join("resolv.conf"), "nameserver 127.0.0.1\noptions attempts:2 timeout:2\n").expect("write");
    std::fs::write(root.join("dns.py"), DNS_RESPONDER).expect("write");
    let policy = root.join(format!("{name}.policy.json"));
    std::fs::write(&policy, a.policy_text()).expect("write policy");
    let py = &python().0;
    let run = |guarded: bool| {
        let inner = if guarded {
            let mut g = rampart_run(Some(&policy), None);
            g.arg(py).args(["-I", "-c", code]);
            g
        } else {
            let mut b = Command::new(py);
            b.args(["-I", "-c", code]).env_remove("LD_PRELOAD");
            b
        };
        let mut cmd = Command::new("unshare");
        cmd.args(["-mn", "sh", "-c", NAMESPACE_SETUP, "sh"]).arg(inner.get_program()).args(inner.get_args());
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let ready = root.join(format!("{name}.{guarded}.ready"));
        cmd.env("NS_RESOLV", root.join("resolv.conf"))
            .env("NS_DNS", root.join("dns.py"))
            .env("NS_READY", &ready)
            .env("NS_PYTHON", py)
            .current_dir(a.sb.path("allowed"));
        for (k, v) in a.env() {
            cmd.env(k, v);
        }
        let (_, out) = output_with_timeout(&mut cmd, TIMEOUT);
        let o = outcome(out);
        assert_eq!(
            o.code,
            Some(0),
            "{name} (guarded: {guarded}): the namespace or the code failed (root, unshare and ip are needed)\n{o:#?}"
        );
        o
    };
    let bare = run(false);
    let guarded = run(true);
    Tries { name: name.to_owned(), bare, guarded, bare_peers: PeerLog::default(), guarded_peers: PeerLog::default() }
}

/// Binds the attacker's listener and a legitimate one, then `lookup`,
/// then connects to the attacker's address as if it were the name's.
fn search_list_attack(prep: &str, lookup: &str) -> String {
    format!(
        "import os, socket\nE = os.environ\n\
         evil = socket.socket(); evil.bind(('127.0.0.3', {NAMED_PORT})); evil.listen()\n\
         good = socket.socket(); good.bind(('127.0.0.2', {NAMED_PORT})); good.listen()\n\
         {prep}\n\
         print('resolved', sorted({{ai[4][0] for ai in socket.getaddrinfo({lookup}, {NAMED_PORT}, socket.AF_INET, socket.SOCK_STREAM)}}))\n\
         try:\n    socket.create_connection(('127.0.0.3', {NAMED_PORT})).close()\n    print('HIT the attacker as the name')\n\
         except OSError as e:\n    print('no', e)\n"
    )
}

#[test]
fn the_search_list_cannot_answer_for_a_name_rule() {
    let mut a = Arena::new("row4");
    a.network.push(format!("good.test:{NAMED_PORT}"));
    let code = search_list_attack(
        "os.environ['LOCALDOMAIN'] = 'evil.test'\nos.environ['RES_OPTIONS'] = 'ndots:9'",
        "'good.test'",
    );
    let t = in_namespace(&a, "row4-localdomain", &code);
    t.assert_blocked();
    assert!(t.bare.stdout.contains("resolved ['127.0.0.3']"), "the search list answered bare\n{t:#?}");
    // The name itself still resolves, to its own address.
    assert!(t.guarded.stdout.contains("resolved ['127.0.0.2']"), "{t:#?}");
    assert!(
        t.guarded.of(EventType::Block).iter().any(|e| e.target.as_deref() == Some(&*format!("127.0.0.3:{NAMED_PORT}"))),
        "the block names the attacker's address, not the rule's name\n{t:#?}"
    );
}

#[test]
fn hostaliases_cannot_answer_for_a_name_rule() {
    let mut a = Arena::new("row4-aliases");
    a.network.push(format!("good:{NAMED_PORT}"));
    let prep =
        "open('aliases', 'w').write('good good.evil.test\\n')\nos.environ['HOSTALIASES'] = os.path.abspath('aliases')";
    let t = in_namespace(&a, "row4-hostaliases", &search_list_attack(prep, "'good'"));
    t.assert_blocked();
}

#[test]
fn names_still_match_their_own_answers() {
    let mut a = Arena::new("row4-legit");
    a.network.push(format!("good.test:{NAMED_PORT}"));
    a.network.push(format!("localhost:{}", NAMED_PORT + 1));
    // Dotted (absolute lookup), absolute already, and a hosts-file name.
    let code = format!(
        "import socket\n\
         good = socket.socket(); good.bind(('127.0.0.2', {NAMED_PORT})); good.listen()\n\
         local = socket.socket(); local.bind(('127.0.0.1', {l})); local.listen()\n\
         for name, port in (('good.test', {NAMED_PORT}), ('good.test.', {NAMED_PORT}), ('localhost', {l})):\n\
         \x20   try:\n\
         \x20       socket.create_connection((name, port)).close()\n\
         \x20       print('ok', name)\n\
         \x20   except OSError as e:\n\
         \x20       print('no', name, e)\n",
        l = NAMED_PORT + 1
    );
    let t = in_namespace(&a, "row4-legit", &code);
    for name in ["good.test", "good.test.", "localhost"] {
        assert!(t.bare.stdout.contains(&format!("ok {name}\n")), "bare {name}\n{t:#?}");
        assert!(t.guarded.stdout.contains(&format!("ok {name}\n")), "guarded {name}\n{t:#?}");
    }
    assert!(t.guarded.of(EventType::Block).is_empty(), "{t:#?}");
}

// ---------------------------------------------------------------------------
// Unix sockets: the socket a path really leads to.

/// A Unix socket no rule allows, reached through a symlink whose own path
/// a rule allows (connect follows links in `sun_path`).
#[test]
fn unix_socket_behind_an_allowed_symlink() {
    let mut a = Arena::new("unix-link");
    a.network.push(format!("unix:{}/*.sock", a.sb.path("allowed")));
    let code = "import os, socket\n\
                srv = socket.socket(socket.AF_UNIX)\n\
                srv.bind(os.environ['EV_ROOT'] + f'/denied{os.getpid()}.sock')\n\
                srv.listen()\n\
                os.symlink(srv.getsockname(), f'via{os.getpid()}.sock')\n\
                c = socket.socket(socket.AF_UNIX)\n\
                try:\n    c.connect(f'via{os.getpid()}.sock')\n    print('HIT', srv.accept()[0] is not None)\n\
                except OSError as e:\n    print('no', e)\n";
    let t = a.attempt("unix-via-symlink", Lang::Python, code, &[]);
    t.assert_blocked();
    // The socket it really leads to is named, not the link.
    assert!(
        t.guarded.of(EventType::Block).iter().any(|e| e.target.as_deref().is_some_and(|x| x.contains("/denied"))),
        "{t:#?}"
    );
}

/// The link swapped between an allowed socket and a denied one while the
/// main thread connects through it (the socket decided on is the one
/// connected to: pinned, and named to the kernel through /proc/self/fd).
#[test]
fn unix_socket_link_swapped_during_connect() {
    let mut a = Arena::new("unix-swap");
    let prog = race_program();
    a.process.push(prog.display().to_string());
    a.file.push(format!("r {}/**", prog.parent().expect("dir").display()));
    a.network.push(format!("unix:{}/*.sock", a.sb.path("allowed")));
    let t = a.attempt("race-unix-swap", Lang::Program(prog.clone()), "", &["unix-swap", RACE_SECS]);
    t.assert_blocked();
    assert!(t.guarded.stdout.contains("tries "), "the race did not run\n{:#?}", t.guarded);
}

// ---------------------------------------------------------------------------
// libc functions that connect or send from inside libc: rexec, and the
// resolver's functions on a name server the code wrote into its state.

/// ctypes on libc by handle, a resolver state aimed at a peer, and a call
/// run in a thread (`said`; the thread's `_res` is its own: set up there):
/// a TCP peer that never answers holds it (libc retries
/// its reads), so a call still talking after two seconds reached it.
const LIBC_NET: &str = r#"import ctypes, errno, os, socket, struct, sys, threading
E = os.environ
libc = ctypes.CDLL('libc.so.6', use_errno=True)
def fn(name):
    # res_* since glibc 2.34, __res_* (libresolv) before.
    return getattr(libc, name, None) or getattr(ctypes.CDLL('libresolv.so.2', use_errno=True), '__' + name)
libc.__res_state.restype = ctypes.c_void_p
RES_USEVC = 8
def aim(st, port, tcp=False, ipv6=None):
    # struct __res_state (LP64): retrans, retry, options, nscount,
    # nsaddr_list[3] at 20, _u._ext.nsaddrs[3] at 536. One try, one second.
    ctypes.c_int.from_address(st).value = 1
    ctypes.c_int.from_address(st + 4).value = 1
    if tcp:
        ctypes.c_ulong.from_address(st + 8).value |= RES_USEVC
    ctypes.c_int.from_address(st + 16).value = 1
    if ipv6 is None:
        ctypes.memmove(st + 20, struct.pack('=HH4s8x', socket.AF_INET, socket.htons(port), socket.inet_aton('127.0.0.1')), 16)
    else:
        ctypes.memmove(st + 20, bytes(16), 16)
        ctypes.c_void_p.from_address(st + 536).value = ctypes.addressof(ipv6)
def sockaddr_in6(port):
    packed = struct.pack('=HHI16sI', socket.AF_INET6, socket.htons(port), 0, socket.inet_pton(socket.AF_INET6, '::ffff:127.0.0.1'), 0)
    return ctypes.create_string_buffer(packed, 28)
def thread_state():
    assert libc.__res_init() == 0
    return libc.__res_state()
def own_state():
    buf = ctypes.create_string_buffer(568)
    assert libc.__res_ninit(buf) == 0
    return buf
def query():
    q = ctypes.create_string_buffer(512)
    n = fn('res_mkquery')(0, b'leak.example', 1, 1, None, 0, None, q, 512)
    assert n > 0
    return q, n
answer = ctypes.create_string_buffer(512)
def said(call):
    out = []
    def run():
        r = call()
        out.append((r, ctypes.get_errno()))
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(2.5)
    if not out:
        print('HIT still talking to the peer', flush=True)
        os._exit(0)
    r, e = out[0]
    print('no' if r < 0 and e == errno.EACCES else 'HIT', r, os.strerror(e), flush=True)
udp_denied = int(E['EV_UDP_DENIED'])
tcp_denied = int(E['EV_TCP_DENIED'])
"#;

/// The attack reached a denied peer bare, none guarded, with a block line
/// naming `target`.
fn libc_net_attempt(a: &Arena, name: &str, body: &str, target: &str) -> Tries {
    let t = a.attempt(name, Lang::Python, &format!("{LIBC_NET}{body}"), &[]);
    t.assert_blocked();
    assert!(!t.bare_peers.udp_denied_received.is_empty() || t.bare_peers.tcp_denied_accepted > 0, "{name}: {t:#?}");
    assert_eq!(t.guarded_peers.udp_denied_received, Vec::<String>::new(), "{name}: a datagram got through");
    assert_eq!(t.guarded_peers.tcp_denied_accepted, 0, "{name}: a connection got through");
    assert!(
        t.guarded.of(EventType::Block).iter().any(|e| e.target.as_deref() == Some(target)),
        "{name}: no block line for {target}\n{t:#?}"
    );
    t
}

#[test]
fn rexec_to_the_denied_peer() {
    let a = Arena::new("rexec");
    let port = a.peers.tcp_denied_port();
    for (op, call) in [
        ("rexec", "libc.rexec(ctypes.byref(host), socket.htons(tcp_denied), b'u', b'p', b'cmd', None)"),
        (
            "rexec_af",
            "libc.rexec_af(ctypes.byref(host), socket.htons(tcp_denied), b'u', b'p', b'cmd', None, socket.AF_INET)",
        ),
    ] {
        let body = format!("host = ctypes.c_char_p(b'127.0.0.1')\nsaid(lambda: {call})\n");
        let t = libc_net_attempt(&a, op, &body, &format!("127.0.0.1:{port}"));
        assert!(t.guarded.of(EventType::Block).iter().any(|e| e.op.as_deref() == Some(op)), "{t:#?}");
    }
}

#[test]
fn resolver_calls_to_a_name_server_the_code_wrote() {
    let a = Arena::new("res-send");
    let udp = format!("udp:127.0.0.1:{}", a.peers.udp_denied_port());
    let tcp = format!("127.0.0.1:{}", a.peers.tcp_denied_port());
    let ipv6 = format!("udp:127.0.0.1:{}", a.peers.udp_denied_port());
    for (name, body, target) in [
        (
            "res_send",
            "st = thread_state(); aim(st, udp_denied); q, n = query()\nreturn fn('res_send')(q, n, answer, 512)",
            &udp,
        ),
        (
            "res_query",
            "st = thread_state(); aim(st, udp_denied)\nreturn fn('res_query')(b'leak.example', 1, 1, answer, 512)",
            &udp,
        ),
        (
            "res_search",
            "st = thread_state(); aim(st, udp_denied)\nreturn fn('res_search')(b'leak.example', 1, 1, answer, 512)",
            &udp,
        ),
        (
            "res_querydomain",
            "st = thread_state(); aim(st, udp_denied)\nreturn fn('res_querydomain')(b'leak', b'example', 1, 1, answer, 512)",
            &udp,
        ),
        (
            "res_nsend",
            "s = own_state(); aim(ctypes.addressof(s), udp_denied); q, n = query()\nreturn fn('res_nsend')(s, q, n, answer, 512)",
            &udp,
        ),
        (
            "res_nsend-ipv6-extension",
            "s = own_state(); a6 = sockaddr_in6(udp_denied); aim(ctypes.addressof(s), udp_denied, ipv6=a6); q, n = query()\n\
             return fn('res_nsend')(s, q, n, answer, 512)",
            &ipv6,
        ),
        (
            "res_nquery-tcp",
            "s = own_state(); aim(ctypes.addressof(s), tcp_denied, tcp=True)\nreturn fn('res_nquery')(s, b'leak.example', 1, 1, answer, 512)",
            &tcp,
        ),
        (
            "res_nsearch",
            "s = own_state(); aim(ctypes.addressof(s), udp_denied)\nreturn fn('res_nsearch')(s, b'leak.example', 1, 1, answer, 512)",
            &udp,
        ),
        (
            "res_nquerydomain",
            "s = own_state(); aim(ctypes.addressof(s), udp_denied)\nreturn fn('res_nquerydomain')(s, b'leak', b'example', 1, 1, answer, 512)",
            &udp,
        ),
    ] {
        // The thread's own resolver state: set up on the thread that calls.
        let body =
            format!("def attack():\n    {}\nsaid(attack)\n", body.replace('\n', "\n    ").replace("; ", "\n    "));
        libc_net_attempt(&a, name, &body, target);
    }
}

/// A name server the policy allows is still asked (the query reaches the
/// allowed peer guarded, with no block line).
#[test]
fn resolver_calls_to_an_allowed_name_server_go_through() {
    let a = Arena::new("res-allowed");
    let body = "st = thread_state(); aim(st, int(E['EV_UDP_ALLOWED'])); q, n = query()\n\
                r = fn('res_send')(q, n, answer, 512)\nprint('sent', r, os.strerror(ctypes.get_errno()))\n";
    let t = a.attempt("res-send-allowed", Lang::Python, &format!("{LIBC_NET}{body}"), &[]);
    for (o, peers) in [(&t.bare, &t.bare_peers), (&t.guarded, &t.guarded_peers)] {
        assert!(o.stdout.contains("sent -1 Connection timed out"), "{t:#?}");
        assert_eq!(peers.udp_allowed_received.len(), 1, "{t:#?}");
    }
    assert!(t.guarded.of(EventType::Block).is_empty(), "{t:#?}");
}

/// The system's own resolver (a real one in a private namespace): a
/// `res_query` it answers works when a rule allows the resolver, and is
/// refused with a block line when none does.
#[test]
fn res_query_to_the_system_resolver() {
    let code = "import ctypes, os\n\
                libc = ctypes.CDLL('libc.so.6', use_errno=True)\n\
                q = getattr(libc, 'res_query', None) or getattr(ctypes.CDLL('libresolv.so.2'), '__res_query')\n\
                answer = ctypes.create_string_buffer(512)\n\
                n = q(b'good.test', 1, 1, answer, 512)\n\
                print('answered', n > 0, os.strerror(ctypes.get_errno()))\n";
    let mut allowed = Arena::new("res-system");
    allowed.network.push("udp:127.0.0.1:53".to_owned());
    let t = in_namespace(&allowed, "res-system-allowed", code);
    assert!(t.bare.stdout.contains("answered True"), "{t:#?}");
    assert!(t.guarded.stdout.contains("answered True"), "{t:#?}");
    assert!(t.guarded.of(EventType::Block).is_empty(), "{t:#?}");

    let denied = Arena::new("res-system-denied");
    let t = in_namespace(&denied, "res-system-denied", code);
    assert!(t.bare.stdout.contains("answered True"), "{t:#?}");
    assert!(t.guarded.stdout.contains("answered False Permission denied"), "{t:#?}");
    assert!(t.guarded.of(EventType::Block).iter().any(|e| e.target.as_deref() == Some("udp:127.0.0.1:53")), "{t:#?}");
}

/// Another thread flips the name server in the resolver state every
/// millisecond between an allowed one that answers (the attack's own
/// responder) and the denied peer, while the main thread sends queries:
/// the check may see the allowed one and libc's send, a moment later, the
/// denied one. A query that times out went to the denied peer (it never
/// answers).
#[test]
fn resolver_state_flipped_by_another_thread() {
    let mut a = Arena::new("res-race");
    let free = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let answering = free.local_addr().expect("addr").port();
    drop(free);
    // Every UDP port but the denied one: the responder's answers go to
    // whatever port the resolver's socket got.
    let denied = a.peers.udp_denied_port();
    a.network.push(format!("udp:127.0.0.1:1-{}", denied - 1));
    a.network.push(format!("udp:127.0.0.1:{}-65535", denied + 1));
    let body = format!(
        "import time\n\
         responder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); responder.bind(('127.0.0.1', {answering}))\n\
         def answer_all():\n\
         \x20   while True:\n\
         \x20       q, peer = responder.recvfrom(512)\n\
         \x20       responder.sendto(q[:2] + b'\\x81\\x80' + q[4:6] + b'\\0\\0\\0\\0\\0\\0' + q[12:], peer)\n\
         threading.Thread(target=answer_all, daemon=True).start()\n\
         s = own_state(); aim(ctypes.addressof(s), {answering})\n\
         port_field = ctypes.c_uint16.from_address(ctypes.addressof(s) + 22)\n\
         good, bad = socket.htons({answering}), socket.htons(udp_denied)\n\
         stop = time.time() + {RACE_SECS}\n\
         sys.setswitchinterval(0.0001)\n\
         def hold(secs):\n\
         \x20   until = time.perf_counter() + secs\n\
         \x20   while time.perf_counter() < until:\n\
         \x20       pass\n\
         def flip():\n\
         \x20   while time.time() < stop:\n\
         \x20       port_field.value = bad\n\
         \x20       hold(0.001)\n\
         \x20       port_field.value = good\n\
         \x20       hold(0.001)\n\
         threading.Thread(target=flip, daemon=True).start()\n\
         q, n = query()\n\
         tries = hits = 0\n\
         while time.time() < stop:\n\
         \x20   r = fn('res_nsend')(s, q, n, answer, 512)\n\
         \x20   tries += 1\n\
         \x20   if r < 0 and ctypes.get_errno() == errno.ETIMEDOUT:\n\
         \x20       hits += 1\n\
         \x20       print('HIT', tries, flush=True)\n\
         print('tries', tries, 'hits', hits)\n"
    );
    let t = a.attempt("res-race", Lang::Python, &format!("{LIBC_NET}{body}"), &[]);
    // A block line only when the check itself caught the denied port.
    t.assert_stopped();
    assert!(!t.bare_peers.udp_denied_received.is_empty(), "{t:#?}");
    assert_eq!(t.guarded_peers.udp_denied_received.len(), 0, "a query reached the denied peer\n{:#?}", t.guarded);
    let tries = |o: &rampart_tests::Outcome| {
        o.stdout.lines().find_map(|l| l.strip_prefix("tries ")?.split(' ').next()?.parse::<u64>().ok()).unwrap_or(0)
    };
    assert!(tries(&t.guarded) > 100, "the race did not run\n{:#?}", t.guarded);
    eprintln!("res-race: guarded {:?}, bare {:?}", t.guarded.stdout.lines().last(), t.bare.stdout.lines().last());
}
