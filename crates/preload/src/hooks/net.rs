//! `connect`, the sends that carry an address (unconnected UDP), and
//! `getaddrinfo` (for names) as libc exports them.

use std::ffi::{c_char, c_int, c_uint, c_void};

use rampart_decide::names::{NAME_MAX, NameLookup, hosts_names, plan_lookup, record_as};

use crate::capture::{CapturedAddr, SOCKADDR_MAX};
use crate::ops::Outcome;
use crate::ops::net::{self, Answers, UnixPin, Use};
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

/// -1 with `e` in errno.
fn fail<T: From<i8>>(e: c_int) -> T {
    sys::set_errno(e);
    T::from(-1)
}

/// The destination the kernel is handed: the caller's address as
/// captured, or the Unix socket it was decided on, pinned.
struct Dest {
    copy: CapturedAddr,
    pin: Option<UnixPin>,
}

impl Dest {
    fn as_ptr(&self) -> *const libc::sockaddr {
        self.pin.as_ref().map_or(self.copy.as_ptr(), UnixPin::as_ptr)
    }

    fn len(&self) -> libc::socklen_t {
        self.pin.as_ref().map_or(self.copy.len(), UnixPin::len)
    }
}

/// Captures `addr` and decides on the copy: `Ok(dest)` when the call may
/// go ahead on it, `Err(errno)` when it must fail (`EINVAL` for a length
/// the kernel refuses, as it would).
///
/// # Safety
/// `addr` is non-null and readable for `len` bytes.
unsafe fn checked_addr(
    st: &state::State,
    op: &'static str,
    fd: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
    how: Use,
) -> Result<Dest, c_int> {
    let saved = sys::errno();
    // SAFETY: the caller's contract.
    let copy = unsafe { CapturedAddr::capture(addr, len) }.map_err(|_| libc::EINVAL)?;
    let mut pin = None;
    match net::check(st, op, fd, copy.as_bytes(), how, &mut pin) {
        Outcome::Deny(e) => Err(e),
        Outcome::Allow | Outcome::Pass(_) => {
            sys::set_errno(saved);
            Ok(Dest { copy, pin })
        }
    }
}

/// # Safety
/// As connect(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> c_int {
    let real = |a: *const libc::sockaddr, l: libc::socklen_t| call_real!(real::CONNECT, ConnectFn, -1, (fd, a, l));
    let Some(st) = state::checked().filter(|_| !addr.is_null()) else { return real(addr, len) };
    // SAFETY: non-null and readable for len bytes (connect's contract).
    match unsafe { checked_addr(st, "connect", fd, addr, len, Use::Connect) } {
        Ok(dest) => real(dest.as_ptr(), dest.len()),
        Err(e) => fail(e),
    }
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
    let real = |a: *const libc::sockaddr, l: libc::socklen_t| {
        call_real!(real::SENDTO, SendtoFn, -1, (fd, buf, n, flags, a, l))
    };
    let Some(st) = state::checked().filter(|_| !addr.is_null()) else { return real(addr, len) };
    // SAFETY: non-null and readable for len bytes (sendto's contract).
    match unsafe { checked_addr(st, "sendto", fd, addr, len, Use::Send) } {
        Ok(dest) => real(dest.as_ptr(), dest.len()),
        Err(e) => fail(e),
    }
}

/// A message header as the kernel will read it, in our memory: the
/// caller's header copied, its destination captured and pointed at, so
/// neither `msg_name`, `msg_namelen` nor the address behind them can be
/// changed after the check. The data and control buffers are not decided
/// on and stay the caller's.
struct CapturedMsg {
    hdr: libc::msghdr,
    name: Option<Dest>,
}

impl CapturedMsg {
    /// Copies `*msg` and captures its destination, decided on.
    ///
    /// # Safety
    /// `msg` is a valid `msghdr` whose `msg_name`, when non-null, is
    /// readable for `msg_namelen` bytes.
    unsafe fn capture(
        st: &state::State,
        op: &'static str,
        fd: c_int,
        msg: *const libc::msghdr,
    ) -> Result<CapturedMsg, c_int> {
        // SAFETY: the caller's contract; read once.
        let hdr = unsafe { msg.read_volatile() };
        // The kernel takes a zero length as no destination, whatever the
        // pointer.
        let name = if hdr.msg_name.is_null() || hdr.msg_namelen == 0 {
            None
        } else {
            // SAFETY: the caller's contract.
            Some(unsafe { checked_addr(st, op, fd, hdr.msg_name.cast(), hdr.msg_namelen, Use::Send) }?)
        };
        Ok(CapturedMsg { hdr, name })
    }

    /// The header to hand to the kernel (pointing into `self`: not to be
    /// moved while it is in use).
    fn header(&mut self) -> libc::msghdr {
        let mut hdr = self.hdr;
        if let Some(name) = &self.name {
            hdr.msg_name = name.as_ptr().cast_mut().cast();
            hdr.msg_namelen = name.len();
        }
        hdr
    }
}

/// # Safety
/// As sendmsg(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> isize {
    let real = |m: *const libc::msghdr| call_real!(real::SENDMSG, SendmsgFn, -1, (fd, m, flags));
    let Some(st) = state::checked().filter(|_| !msg.is_null()) else { return real(msg) };
    // SAFETY: a valid msghdr (sendmsg's contract).
    match unsafe { CapturedMsg::capture(st, "sendmsg", fd, msg) } {
        Ok(mut copy) => {
            let hdr = copy.header();
            real(&hdr)
        }
        Err(e) => fail(e),
    }
}

/// Messages copied and decided on per call of the real `sendmmsg`: the
/// vector is sent in chunks so the copies stay on the stack.
const MMSG_CHUNK: usize = 8;

/// The kernel's cap on a vector (`UIO_MAXIOV`).
const MMSG_MAX: c_uint = 1024;

/// Each message is copied and decided on before it is sent, in chunks of
/// [`MMSG_CHUNK`]. As the kernel does, the messages sent before a failure
/// are counted and the failure is reported only when it is the first
/// message: a denied destination stops the vector there (the caller's
/// retry from that message gets `EACCES`).
///
/// # Safety
/// As sendmmsg(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmmsg(fd: c_int, vec: *mut libc::mmsghdr, vlen: c_uint, flags: c_int) -> c_int {
    let real = |v: *mut libc::mmsghdr, n: c_uint| call_real!(real::SENDMMSG, SendmmsgFn, -1, (fd, v, n, flags));
    let Some(st) = state::checked().filter(|_| !vec.is_null() && vlen > 0) else { return real(vec, vlen) };
    let vlen = vlen.min(MMSG_MAX) as usize;
    let mut sent = 0usize;
    while sent < vlen {
        let want = (vlen - sent).min(MMSG_CHUNK);
        let mut copies: [Option<CapturedMsg>; MMSG_CHUNK] = Default::default();
        let mut ready = 0usize;
        let mut stop: Option<c_int> = None;
        for (i, slot) in copies.iter_mut().enumerate().take(want) {
            // SAFETY: vec holds vlen messages (sendmmsg's contract); a
            // header field's address, not a reference into the caller's
            // memory.
            let hdr = unsafe { &raw const (*vec.add(sent + i)).msg_hdr };
            // SAFETY: as above.
            match unsafe { CapturedMsg::capture(st, "sendmmsg", fd, hdr) } {
                Ok(c) => {
                    *slot = Some(c);
                    ready += 1;
                }
                Err(e) => {
                    stop = Some(e);
                    break;
                }
            }
        }
        if ready > 0 {
            // SAFETY: mmsghdr is plain data; all-zero is a valid value.
            let mut out: [libc::mmsghdr; MMSG_CHUNK] = unsafe { std::mem::zeroed() };
            for (o, c) in out.iter_mut().zip(copies.iter_mut()).take(ready) {
                if let Some(c) = c {
                    o.msg_hdr = c.header();
                }
            }
            let saved = sys::errno();
            let r = real(out.as_mut_ptr(), ready as c_uint);
            if r < 0 {
                return if sent > 0 { sent as c_int } else { -1 };
            }
            let done = (r as usize).min(ready);
            for (i, o) in out.iter().enumerate().take(done) {
                // SAFETY: message sent+i of the caller's vector; its
                // msg_len is what sendmmsg reports back.
                unsafe { (*vec.add(sent + i)).msg_len = o.msg_len };
            }
            sent += done;
            if done < ready {
                return sent as c_int;
            }
            sys::set_errno(saved);
        }
        if let Some(e) = stop {
            return if sent > 0 { sent as c_int } else { fail(e) };
        }
    }
    sent as c_int
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
    let real =
        |n: *const c_char| call_real!(real::GETADDRINFO, GetaddrinfoFn, libc::EAI_SYSTEM, (n, service, hints, res));
    if node.is_null() || res.is_null() || state::checked().is_none() {
        return real(node);
    }
    // The name looked up and the name recorded are one copy.
    let mut name = [0u8; NAME_MAX + 1];
    let mut len = 0usize;
    for slot in name.iter_mut() {
        // SAFETY: node is a C string (getaddrinfo's contract); read up to
        // its NUL, once.
        let b = unsafe { node.add(len).read_volatile() } as u8;
        if b == 0 {
            break;
        }
        *slot = b;
        len += 1;
    }
    if len == name.len() {
        // Longer than any DNS name: looked up as given, never recorded.
        return real(node);
    }
    // SAFETY: hints is null or a valid addrinfo (getaddrinfo's contract).
    let numeric_only = unsafe { hints.as_ref() }.is_some_and(|h| h.ai_flags & libc::AI_NUMERICHOST != 0);
    let asked = name.get(..len).unwrap_or(&[]);
    let recorded = record_as(asked);
    let mut absolute = [0u8; NAME_MAX + 2];
    let plan = plan_lookup(asked, numeric_only, &mut absolute);
    if plan == NameLookup::NotAName {
        return real(name.as_ptr().cast());
    }
    let mut hosts_buf = [0u8; net::HOSTS_MAX];
    let hosts = net::read_hosts(&mut hosts_buf);
    // A name the hosts file lists is answered from it (files come first),
    // as written, without a DNS query for its absolute form; a single
    // label it does not list is the search list's and aliases' to answer:
    // looked up as given, and what answers is not its name.
    if plan == NameLookup::HostsOnly || hosts_names(hosts, recorded) {
        let r = real(name.as_ptr().cast());
        if r == 0 {
            record(recorded, res, Answers::ListedIn(hosts));
        }
        return r;
    }
    let r = real(absolute.as_ptr().cast());
    if r == 0 {
        record(recorded, res, Answers::All);
        return r;
    }
    // Not found as the absolute name: the caller's form, as libc would
    // have done it, recording nothing (only the search list can answer).
    real(name.as_ptr().cast())
}

/// Records the list getaddrinfo just returned in `*res`.
fn record(name: &[u8], res: *mut *mut libc::addrinfo, which: Answers<'_>) {
    let saved = sys::errno();
    // SAFETY: res is non-null (checked by the hook) and *res the list the
    // successful call returned.
    let mut node: *const libc::addrinfo = unsafe { *res };
    let mut hops = 0;
    while !node.is_null() && hops < 64 {
        // SAFETY: a node of getaddrinfo's list.
        let ai = unsafe { &*node };
        if !ai.ai_addr.is_null() {
            let len = (ai.ai_addrlen as usize).min(SOCKADDR_MAX);
            // SAFETY: ai_addr is readable for ai_addrlen bytes.
            let addr = unsafe { std::slice::from_raw_parts(ai.ai_addr.cast::<u8>(), len) };
            net::record_answer(name, addr, which);
        }
        node = ai.ai_next;
        hops += 1;
    }
    sys::set_errno(saved);
}
