//! Checked connections and datagrams: the peer from the socket address,
//! TCP or UDP from the socket, the DNS name from the `getaddrinfo` table.

use std::ffi::c_int;

use rampart_decide::api::classify_host;
use rampart_decide::names::{NameTable, hosts_lists};
use rampart_decide::paths::{PathBuf, ResolveError, Resolved};
use rampart_decide::seqtext::TEXT_MAX;
use rampart_decide::sockaddr::{AF_UNSPEC, Peer, SendSocket, family, parse, send_destination};
use rampart_decide::text::{StackText, net_target, unix_target};
use rampart_policy::{Category, Connect, Proto};

use crate::ops::{Outcome, settle};
use crate::published;
use crate::report::Activity;
use crate::state::State;
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

/// A Unix socket path as decided on, pinned for the call: the socket file
/// opened `O_PATH` along its resolved path with symlinks refused, and an
/// address naming it through `/proc/self/fd/N`, which the kernel follows
/// to that very inode. A link swapped in after the check (or a chdir, for
/// a relative path) cannot change which socket is reached.
pub struct UnixPin {
    fd: c_int,
    addr: libc::sockaddr_un,
    len: libc::socklen_t,
}

impl UnixPin {
    pub fn as_ptr(&self) -> *const libc::sockaddr {
        (&raw const self.addr).cast()
    }

    pub fn len(&self) -> libc::socklen_t {
        self.len
    }
}

impl Drop for UnixPin {
    fn drop(&mut self) {
        // After the real call: its errno is the caller's answer.
        let saved = sys::errno();
        // SAFETY: the descriptor was opened by `pin_unix` and is ours alone.
        unsafe { libc::close(self.fd) };
        sys::set_errno(saved);
    }
}

/// Opens the socket file at `real` (resolved, absolute) for the call;
/// `Err(ELOOP)` when a link was swapped in since it was resolved.
fn pin_unix(real: &PathBuf) -> Result<UnixPin, c_int> {
    let fd = sys::open_no_symlinks(libc::AT_FDCWD, real.with_nul().as_ptr().cast(), libc::O_PATH | libc::O_CLOEXEC, 0)?;
    // SAFETY: sockaddr_un is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let mut name = StackText::<32>::new();
    let _ = std::fmt::Write::write_fmt(&mut name, format_args!("/proc/self/fd/{fd}"));
    for (dst, &b) in addr.sun_path.iter_mut().zip(name.as_bytes()) {
        *dst = b as libc::c_char;
    }
    let len = (std::mem::offset_of!(libc::sockaddr_un, sun_path) + name.as_bytes().len() + 1) as libc::socklen_t;
    Ok(UnixPin { fd, addr, len })
}

/// Decides on connecting or sending to `addr`, the caller's address as
/// captured (the call is then made on that copy, or on `pin` when this
/// fills it: a Unix socket path).
pub fn check(st: &State, op: &'static str, fd: c_int, addr: &[u8], how: Use, pin: &mut Option<UnixPin>) -> Outcome {
    for _ in 0..SWAP_RETRIES {
        match check_once(st, op, fd, addr, how, pin) {
            Err(libc::ELOOP) => continue,
            Err(e) => return Outcome::Deny(e),
            Ok(outcome) => return outcome,
        }
    }
    Outcome::Deny(libc::ELOOP)
}

/// How many times a link swapped in between the check of a Unix socket
/// path and its pinning is retried.
const SWAP_RETRIES: usize = 3;

fn check_once(
    st: &State,
    op: &'static str,
    fd: c_int,
    addr: &[u8],
    how: Use,
    pin: &mut Option<UnixPin>,
) -> Result<Outcome, c_int> {
    // Only an AF_UNSPEC send needs to know the socket (two getsockopts).
    let peer = match how {
        Use::Send if family(addr) == Some(AF_UNSPEC) => send_destination(addr, send_socket(fd)),
        Use::Connect | Use::Send => parse(addr),
    };
    let mut target = StackText::<{ TEXT_MAX + 64 }>::new();
    let mut name_buf = [0u8; TEXT_MAX];
    let mut api_name: Option<&[u8]> = None;
    let allowed = match peer {
        Peer::Inet { ip, port } => {
            if published::is_runtime_api(st, ip, port) {
                return Ok(Outcome::Pass("the Runtime API: the function's own channel"));
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
            // The socket the path leads to (connect follows its links).
            let mut real = PathBuf::new();
            let pinnable = match crate::ops::file::resolve_at(libc::AT_FDCWD, path, true, &mut real) {
                Some(Ok(Resolved::Real)) => true,
                Some(Ok(Resolved::ProcSelf)) => !real.as_bytes().starts_with(b"/proc/"),
                Some(Ok(Resolved::Magic)) => false,
                Some(Err(ResolveError::TooManyLinks)) => return Err(libc::ELOOP),
                Some(Err(ResolveError::TooLong)) | None => {
                    if crate::ops::file::absolute(libc::AT_FDCWD, path, &mut real) != Ok(true) {
                        return Ok(Outcome::Pass("a Unix path too long to name: the kernel rejects it"));
                    }
                    false
                }
            };
            unix_target(&mut target, real.as_bytes(), false);
            let allowed = st.matcher().allows_unix(real.as_bytes());
            let a =
                Activity { cat: Category::Network, op, target: target.as_bytes(), access: None, argv: None, api: None };
            let outcome = settle(st, allowed, &a);
            if outcome == Outcome::Allow && pinnable && sys::has_openat2() {
                match pin_unix(&real) {
                    Ok(p) => *pin = Some(p),
                    Err(libc::ELOOP) => return Err(libc::ELOOP),
                    // openat2 missing after all: the caller's path, as before.
                    Err(libc::ENOSYS | libc::EINVAL | libc::EXDEV) => {}
                    // Not there (or not reachable): what connect would say.
                    Err(e) => return Err(e),
                }
            }
            return Ok(outcome);
        }
        Peer::UnixAbstract(name) => {
            unix_target(&mut target, name, true);
            // The rule form is `unix:@NAME`; the matcher takes `@NAME`.
            st.matcher().allows_unix(target.as_bytes().get("unix:".len()..).unwrap_or(&[]))
        }
        Peer::Nowhere => return Ok(Outcome::Pass("no destination: the call reaches no new peer")),
        Peer::Other(_) => return Ok(Outcome::Pass("another family, or an address the kernel rejects")),
    };
    let a = Activity { cat: Category::Network, op, target: target.as_bytes(), access: None, argv: None, api: None };
    let outcome = settle(st, allowed, &a);
    if outcome != Outcome::Allow {
        return Ok(outcome);
    }
    // An AWS API endpoint: the api category at service level, after the
    // network check (a blocked connection is one block line, not two).
    Ok(match api_name.and_then(classify_host).map(|call| crate::ops::api::connect(st, &call)) {
        Some(Outcome::Deny(e)) => Outcome::Deny(e),
        Some(Outcome::Allow | Outcome::Pass(_)) | None => Outcome::Allow,
    })
}

/// The socket's domain and whether it is a datagram one, for an
/// `AF_UNSPEC` destination.
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
pub enum Answers<'a> {
    /// All: the name was looked up absolutely (see
    /// [`rampart_decide::names::NameLookup`]).
    All,
    /// Those this hosts file text lists for the name (the resolver's
    /// files source answered).
    ListedIn(&'a [u8]),
}

/// Records one answer of a successful `getaddrinfo` for `name`: `addr`,
/// one of its socket addresses as the hook read it.
pub fn record_answer(name: &[u8], addr: &[u8], which: Answers<'_>) {
    let listed = |ip| match which {
        Answers::All => true,
        Answers::ListedIn(hosts) => hosts_lists(hosts, name, ip),
    };
    if let Peer::Inet { ip, .. } = parse(addr)
        && listed(ip)
    {
        NAMES.insert(ip, name);
    }
}

/// How much of the hosts file is read: a name listed further down is not
/// recorded (its rule does not match: a denial, never a wrong allow).
pub const HOSTS_MAX: usize = 16 * 1024;

/// The start of `/etc/hosts` (raw calls: the open hook is not for us).
pub fn read_hosts(buf: &mut [u8; HOSTS_MAX]) -> &[u8] {
    let saved = sys::errno();
    // SAFETY: a NUL-terminated path and plain flags.
    let fd = unsafe {
        crate::sys::raw_syscall!(
            libc::SYS_openat,
            libc::AT_FDCWD,
            c"/etc/hosts".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC
        )
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

/// Decides on a resolver call (`res_send`, `res_query`, ...) that will
/// contact `servers` (the socket addresses read from its state) over
/// `proto`: each is a connection or datagram to that server. `too_many`:
/// the state claims more servers than it holds (see
/// [`rampart_decide::resolver::server_count`]). Stops at the first denial.
pub fn check_resolver(st: &State, op: &'static str, servers: &[&[u8]], too_many: bool, proto: Proto) -> Outcome {
    let report = |target: &[u8], allowed: bool| {
        settle(st, allowed, &Activity { cat: Category::Network, op, target, access: None, argv: None, api: None })
    };
    for addr in servers {
        let (ip, port) = match parse(addr) {
            Peer::Inet { ip, port } => (ip, port),
            // glibc opens a socket of the slot's family: for 0 it fails
            // and the server is skipped.
            Peer::Nowhere => continue,
            Peer::Other(_) if family(addr) == Some(AF_UNSPEC) => continue,
            // Another family written into the state (a Unix socket ...):
            // glibc would try it with a length of its own choosing.
            Peer::UnixPath(_) | Peer::UnixAbstract(_) | Peer::Other(_) => {
                if let Outcome::Deny(e) = report(UNNAMEABLE_SERVER, false) {
                    return Outcome::Deny(e);
                }
                continue;
            }
        };
        let mut name_buf = [0u8; TEXT_MAX];
        let name = NAMES.lookup(ip, &mut name_buf);
        let mut target = StackText::<{ TEXT_MAX + 64 }>::new();
        net_target(&mut target, proto, name, ip, port);
        let allowed = st.matcher().allows_connect(&Connect { proto, ip: Some(ip), name, port });
        if let Outcome::Deny(e) = report(target.as_bytes(), allowed) {
            return Outcome::Deny(e);
        }
    }
    if too_many {
        return report(UNNAMEABLE_SERVER, false);
    }
    Outcome::Allow
}

/// The target of a name server the hook cannot name (a family other
/// than IPv4/IPv6, or past the state's slots): no rule allows it.
const UNNAMEABLE_SERVER: &[u8] = b"udp:0.0.0.0:0";

/// Decides on `rexec`/`rexec_af` to `host` (the caller's, as given) and
/// `port`: refused wherever the network is blocked, whatever the rules.
/// libc resolves the host and connects inside itself, where neither the
/// lookup nor the connection is seen, and a name rule is only as good as
/// the answer the library saw for it (the search list or `HOSTALIASES`
/// can make the name answer with another address). Nothing a function
/// runs needs rexec, so it is reported and never allowed.
pub fn check_rexec(st: &State, op: &'static str, host: &[u8], port: u16) -> Outcome {
    let mut target = StackText::<{ TEXT_MAX + 64 }>::new();
    let literal_v6 = host.contains(&b':');
    if literal_v6 {
        target.push(b"[");
    }
    target.push(host);
    if literal_v6 {
        target.push(b"]");
    }
    let _ = std::fmt::Write::write_fmt(&mut target, format_args!(":{port}"));
    let a = Activity { cat: Category::Network, op, target: target.as_bytes(), access: None, argv: None, api: None };
    settle(st, false, &a)
}
