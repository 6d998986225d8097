//! `connect`, the sends that carry an address (unconnected UDP), and
//! `getaddrinfo` (for names) as libc exports them.

use std::ffi::{c_char, c_int, c_uint, c_void};

use crate::ops::net;
use crate::real::{self, call_real};
use crate::state;
use crate::sys;

type ConnectFn = unsafe extern "C" fn(c_int, *const libc::sockaddr, libc::socklen_t) -> c_int;
type SendtoFn =
    unsafe extern "C" fn(c_int, *const c_void, usize, c_int, *const libc::sockaddr, libc::socklen_t) -> isize;
type SendmsgFn = unsafe extern "C" fn(c_int, *const libc::msghdr, c_int) -> isize;
type SendmmsgFn = unsafe extern "C" fn(c_int, *mut libc::mmsghdr, c_uint, c_int) -> c_int;
type GetaddrinfoFn =
    unsafe extern "C" fn(*const c_char, *const c_char, *const libc::addrinfo, *mut *mut libc::addrinfo) -> c_int;

/// Checks one address; sets errno and returns false when denied.
fn allowed(op: &'static str, fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> bool {
    let Some(st) = state::checked() else { return true };
    let saved = sys::errno();
    // SAFETY: addr is null or readable for len bytes (the caller's contract).
    match unsafe { net::check(st, op, fd, addr, len) } {
        Ok(()) => {
            sys::set_errno(saved);
            true
        }
        Err(e) => {
            sys::set_errno(e);
            false
        }
    }
}

/// # Safety
/// As connect(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> c_int {
    if !allowed("connect", fd, addr, len) {
        return -1;
    }
    call_real!(real::CONNECT, ConnectFn, -1, (fd, addr, len))
}

/// # Safety
/// As sendto(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: usize,
    flags: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> isize {
    if !addr.is_null() && !allowed("sendto", fd, addr, len) {
        return -1;
    }
    call_real!(real::SENDTO, SendtoFn, -1, (fd, buf, n, flags, addr, len))
}

/// # Safety
/// As sendmsg(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> isize {
    // SAFETY: msg is null or a valid msghdr (sendmsg's contract).
    if let Some(m) = unsafe { msg.as_ref() }
        && !m.msg_name.is_null()
        && !allowed("sendmsg", fd, m.msg_name.cast(), m.msg_namelen)
    {
        return -1;
    }
    call_real!(real::SENDMSG, SendmsgFn, -1, (fd, msg, flags))
}

/// A denied address anywhere in the vector fails the whole call (nothing
/// is sent), as a permission error on the first message would.
///
/// # Safety
/// As sendmmsg(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmmsg(fd: c_int, vec: *mut libc::mmsghdr, vlen: c_uint, flags: c_int) -> c_int {
    if !vec.is_null() {
        for i in 0..vlen.min(1024) as usize {
            // SAFETY: vec holds vlen messages (sendmmsg's contract).
            let m = unsafe { &(*vec.add(i)).msg_hdr };
            if !m.msg_name.is_null() && !allowed("sendmmsg", fd, m.msg_name.cast(), m.msg_namelen) {
                return -1;
            }
        }
    }
    call_real!(real::SENDMMSG, SendmmsgFn, -1, (fd, vec, vlen, flags))
}

/// # Safety
/// As getaddrinfo(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const libc::addrinfo,
    res: *mut *mut libc::addrinfo,
) -> c_int {
    let r = call_real!(real::GETADDRINFO, GetaddrinfoFn, libc::EAI_SYSTEM, (node, service, hints, res));
    if r == 0 && !node.is_null() && !res.is_null() && state::checked().is_some() {
        let saved = sys::errno();
        // SAFETY: node is a C string; *res is the list just returned.
        unsafe { net::record_names(sys::c_bytes(node), *res) };
        sys::set_errno(saved);
    }
    r
}
