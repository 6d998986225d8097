//! Checked connections and datagrams: the peer from the socket address,
//! TCP or UDP from the socket, the DNS name from the `getaddrinfo` table.

use std::ffi::c_int;

use rampart_decide::api::classify_host;
use rampart_decide::names::{NameTable, hosts_lists};
use rampart_decide::paths::PathBuf;
use rampart_decide::seqtext::TEXT_MAX;
use rampart_decide::sockaddr::{Peer, SendSocket, parse, send_destination};
use rampart_decide::text::{StackText, net_target, unix_target};
use rampart_policy::{Category, Connect, Proto};

use crate::capture::SOCKADDR_MAX;
use crate::ops::{Outcome, settle};
use crate::report::Activity;
use crate::state::{self, State};
use crate::sys;

/// IP → name answers seen by `getaddrinfo` in this process.
pub static NAMES: NameTable = NameTable::new();

/// What a call does with the address it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// `connect`: `AF_UNSPEC` dissolves an association, reaching nothing.
    Connect,
    /// A send's destination: `AF_UNSPEC` is read per socket
    /// ([`send_destination`]).
    Send,
}

/// Decides on connecting or sending to `addr`, the caller's address as
/// captured (the call is then made on that copy).
pub fn check(st: &State, op: &'static str, fd: c_int, addr: &[u8], how: Use) -> Outcome {
    let peer = match how {
        Use::Connect => parse(addr),
        Use::Send => send_destination(addr, send_socket(fd)),
    };
    let mut target = StackText::<{ TEXT_MAX + 64 }>::new();
    let mut name_buf = [0u8; TEXT_MAX];
    let mut api_name: Option<&[u8]> = None;
    let allowed = match peer {
        Peer::Inet { ip, port } => {
            if state::is_runtime_api(st, ip, port) {
                return Outcome::Pass("the Runtime API: the function's own channel");
            }
            let proto = socket_proto(fd);
            let name = NAMES.lookup(ip, &mut name_buf);
            net_target(&mut target, proto, name, ip, port);
            if proto == Proto::Tcp {
                api_name = name;
            }
            st.matcher().allows_connect(&Connect { proto, ip: Some(ip), name, port })
        }
        Peer::UnixPath(path) => {
            let mut abs = PathBuf::new();
            if crate::ops::file::absolute(libc::AT_FDCWD, path, &mut abs) != Ok(true) {
                return Outcome::Pass("a Unix path too long to name: the kernel rejects it");
            }
            unix_target(&mut target, abs.as_bytes(), false);
            st.matcher().allows_unix(abs.as_bytes())
        }
        Peer::UnixAbstract(name) => {
            unix_target(&mut target, name, true);
            // The rule form is `unix:@NAME`; the matcher takes `@NAME`.
            st.matcher().allows_unix(target.as_bytes().get("unix:".len()..).unwrap_or(&[]))
        }
        Peer::Nowhere => return Outcome::Pass("no destination: the call reaches no new peer"),
        Peer::Other(_) => return Outcome::Pass("another family, or an address the kernel rejects"),
    };
    let a = Activity { cat: Category::Network, op, target: target.as_bytes(), access: None, argv: None, api: None };
    let outcome = settle(st, allowed, &a);
    if outcome != Outcome::Allow {
        return outcome;
    }
    // An AWS API endpoint: the api category at service level, after the
    // network check (a blocked connection is one block line, not two).
    match api_name.and_then(classify_host).map(|call| crate::ops::api::connect(st, &call)) {
        Some(Err(e)) => Outcome::Deny(e),
        _ => Outcome::Allow,
    }
}

/// The socket's domain and whether it is a datagram one, for an
/// `AF_UNSPEC` destination (two `getsockopt`s, only then).
fn send_socket(fd: c_int) -> SendSocket {
    let ty = sockopt(fd, libc::SO_TYPE);
    let domain = sockopt(fd, libc::SO_DOMAIN);
    SendSocket {
        domain: u16::try_from(domain.unwrap_or(0)).unwrap_or(0),
        datagram: matches!(ty, Some(libc::SOCK_DGRAM | libc::SOCK_RAW)),
    }
}

/// An integer socket option, errno untouched.
fn sockopt(fd: c_int, opt: c_int) -> Option<c_int> {
    let mut v: c_int = 0;
    let mut len = size_of::<c_int>() as libc::socklen_t;
    let saved = sys::errno();
    // SAFETY: v and len are valid for getsockopt to write.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, opt, (&mut v as *mut c_int).cast(), &mut len) };
    sys::set_errno(saved);
    (r == 0).then_some(v)
}

/// TCP for stream sockets, UDP for datagram sockets (one `getsockopt`).
fn socket_proto(fd: c_int) -> Proto {
    if sockopt(fd, libc::SO_TYPE) == Some(libc::SOCK_DGRAM) { Proto::Udp } else { Proto::Tcp }
}

/// Which answers of a successful `getaddrinfo` are recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answers {
    /// All: the name was looked up absolutely (see
    /// [`rampart_decide::names::NameLookup`]).
    All,
    /// Those the hosts file lists for the name: the lookup went through
    /// the resolver's search list and aliases, which the function's code
    /// can point anywhere.
    InHostsFile,
}

/// Records answers of a successful `getaddrinfo` for `name`.
///
/// # Safety
/// `res` is the list getaddrinfo returned.
pub unsafe fn record_names(name: &[u8], mut res: *const libc::addrinfo, which: Answers) {
    let mut hosts_buf = [0u8; HOSTS_MAX];
    let hosts = match which {
        Answers::All => &[][..],
        Answers::InHostsFile => read_hosts(&mut hosts_buf),
    };
    let mut hops = 0;
    while !res.is_null() && hops < 64 {
        // SAFETY: a node of getaddrinfo's list.
        let ai = unsafe { &*res };
        if !ai.ai_addr.is_null() {
            let len = (ai.ai_addrlen as usize).min(SOCKADDR_MAX);
            // SAFETY: ai_addr is readable for ai_addrlen bytes.
            let bytes = unsafe { std::slice::from_raw_parts(ai.ai_addr.cast::<u8>(), len) };
            if let Peer::Inet { ip, .. } = parse(bytes)
                && (which == Answers::All || hosts_lists(hosts, name, ip))
            {
                NAMES.insert(ip, name);
            }
        }
        res = ai.ai_next;
        hops += 1;
    }
}

/// How much of the hosts file is read: a name listed further down is not
/// recorded (its rule does not match: a denial, never a wrong allow).
const HOSTS_MAX: usize = 16 * 1024;

/// The start of `/etc/hosts` (raw calls: the open hook is not for us).
fn read_hosts(buf: &mut [u8; HOSTS_MAX]) -> &[u8] {
    let saved = sys::errno();
    // SAFETY: a NUL-terminated path and plain flags.
    let fd = unsafe {
        libc::syscall(libc::SYS_openat, libc::AT_FDCWD, c"/etc/hosts".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC)
    } as c_int;
    let mut n = 0usize;
    if fd >= 0 {
        while n < buf.len() {
            let Some(rest) = buf.get_mut(n..) else { break };
            // SAFETY: rest is writable for its length; fd is ours.
            let r = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
            if r <= 0 {
                break;
            }
            n += r as usize;
        }
        // SAFETY: fd was opened above and is closed once.
        unsafe { libc::close(fd) };
    }
    sys::set_errno(saved);
    buf.get(..n).unwrap_or(&[])
}
