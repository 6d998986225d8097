//! Checked connections and datagrams: the peer from the socket address,
//! TCP or UDP from the socket, the DNS name from the `getaddrinfo` table.

use std::ffi::c_int;

use rampart_decide::api::classify_host;
use rampart_decide::names::NameTable;
use rampart_decide::paths::PathBuf;
use rampart_decide::seqtext::TEXT_MAX;
use rampart_decide::sockaddr::{Peer, parse};
use rampart_decide::text::{StackText, net_target, unix_target};
use rampart_policy::{Category, Connect, Proto, Verdict};

use crate::report::{self, Activity};
use crate::state::{self, State};
use crate::sys;

/// IP → name answers seen by `getaddrinfo` in this process.
pub static NAMES: NameTable = NameTable::new();

/// The longest socket address read (`sizeof(struct sockaddr_storage)`).
const SOCKADDR_MAX: usize = 128;

/// Decides on sending to or connecting to `addr`; `Err(EACCES)` when denied.
///
/// # Safety
/// `addr` is null or readable for `len` bytes.
pub unsafe fn check(
    st: &State,
    op: &'static str,
    fd: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> Result<(), c_int> {
    if addr.is_null() {
        return Ok(());
    }
    let len = (len as usize).min(SOCKADDR_MAX);
    // SAFETY: the caller's contract.
    let bytes = unsafe { std::slice::from_raw_parts(addr.cast::<u8>(), len) };
    let mut target = StackText::<{ TEXT_MAX + 64 }>::new();
    let mut name_buf = [0u8; TEXT_MAX];
    let mut api_name: Option<&[u8]> = None;
    let allowed = match parse(bytes) {
        Peer::Inet { ip, port } => {
            if state::is_runtime_api(st, ip, port) {
                return Ok(());
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
                return Ok(());
            }
            unix_target(&mut target, abs.as_bytes(), false);
            st.matcher().allows_unix(abs.as_bytes())
        }
        Peer::UnixAbstract(name) => {
            unix_target(&mut target, name, true);
            // The rule form is `unix:@NAME`; the matcher takes `@NAME`.
            st.matcher().allows_unix(target.as_bytes().get("unix:".len()..).unwrap_or(&[]))
        }
        Peer::Nowhere | Peer::Other(_) => return Ok(()),
    };
    let v = st.verdict(Category::Network, allowed);
    let a = Activity { cat: Category::Network, op, target: target.as_bytes(), access: None, argv: None, api: None };
    report::verdict(st, v, &a);
    if v == Verdict::Block {
        return Err(libc::EACCES);
    }
    // An AWS API endpoint: the api category at service level, after the
    // network check (a blocked connection is one block line, not two).
    match api_name.and_then(classify_host) {
        Some(call) => crate::ops::api::connect(st, &call),
        None => Ok(()),
    }
}

/// TCP for stream sockets, UDP for datagram sockets (one `getsockopt`).
fn socket_proto(fd: c_int) -> Proto {
    let mut ty: c_int = 0;
    let mut len = size_of::<c_int>() as libc::socklen_t;
    let saved = sys::errno();
    // SAFETY: ty and len are valid for getsockopt to write.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_TYPE, (&mut ty as *mut c_int).cast(), &mut len) };
    sys::set_errno(saved);
    if r == 0 && ty == libc::SOCK_DGRAM { Proto::Udp } else { Proto::Tcp }
}

/// Records the answers of a successful `getaddrinfo` for `node`.
///
/// # Safety
/// `res` is the list getaddrinfo returned.
pub unsafe fn record_names(node: &[u8], mut res: *const libc::addrinfo) {
    // A numeric host is not a name.
    if node.is_empty() || std::str::from_utf8(node).is_ok_and(|s| s.parse::<std::net::IpAddr>().is_ok()) {
        return;
    }
    let mut hops = 0;
    while !res.is_null() && hops < 64 {
        // SAFETY: a node of getaddrinfo's list.
        let ai = unsafe { &*res };
        if !ai.ai_addr.is_null() {
            let len = (ai.ai_addrlen as usize).min(SOCKADDR_MAX);
            // SAFETY: ai_addr is readable for ai_addrlen bytes.
            let bytes = unsafe { std::slice::from_raw_parts(ai.ai_addr.cast::<u8>(), len) };
            if let Peer::Inet { ip, .. } = parse(bytes) {
                NAMES.insert(ip, node);
            }
        }
        res = ai.ai_next;
        hops += 1;
    }
}
