//! `connect`, the sends that carry an address (unconnected UDP), and
//! `getaddrinfo` (for names) as libc exports them; and the libc functions
//! that connect or send from inside libc (`rexec`, the resolver's
//! `res_send`, `res_query`, ...), checked on what they will reach.

use std::ffi::{c_char, c_int, c_uint, c_void};

use rampart_decide::names::{NAME_MAX, NameLookup, hosts_names, plan_lookup, record_as};
use rampart_decide::resolver::{
    MAXNS, RES_INIT, ServerSlot, TooManyServers, server_count, server_slot, starts_over_tcp,
};
use rampart_policy::Proto;

use crate::capture::{CapturedAddr, SOCKADDR_MAX, copy_c_str};
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
    // SAFETY: node is a C string (getaddrinfo's contract).
    let len = unsafe { copy_c_str(node, &mut name) };
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

// ---------------------------------------------------------------------------
// libc functions that reach the network from inside libc, through its
// internal `connect`/`sendto`, which the hooks above never see.

type RexecFn =
    unsafe extern "C" fn(*mut *mut c_char, c_int, *const c_char, *const c_char, *const c_char, *mut c_int) -> c_int;
type RexecAfFn = unsafe extern "C" fn(
    *mut *mut c_char,
    c_int,
    *const c_char,
    *const c_char,
    *const c_char,
    *mut c_int,
    libc::sa_family_t,
) -> c_int;

/// `Some(errno)` when a `rexec` to `*ahost`, port `rport` (network byte
/// order, as rexec takes it) must fail (see [`net::check_rexec`]).
///
/// # Safety
/// `ahost` is null or points to a pointer that is null or a C string.
unsafe fn rexec_denial(op: &'static str, ahost: *mut *mut c_char, rport: c_int) -> Option<c_int> {
    let st = state::checked()?;
    if ahost.is_null() {
        return None;
    }
    // SAFETY: the caller's contract; read once.
    let host = unsafe { ahost.read_volatile() };
    if host.is_null() {
        return None;
    }
    let mut copy = [0u8; NAME_MAX];
    // SAFETY: a C string (rexec's contract).
    let len = unsafe { copy_c_str(host, &mut copy) };
    // rexec takes the low 16 bits, in network byte order.
    let port = u16::from_be(rport as u16);
    match net::check_rexec(st, op, copy.get(..len).unwrap_or(&[]), port) {
        Outcome::Deny(e) => Some(e),
        Outcome::Allow | Outcome::Pass(_) => None,
    }
}

/// # Safety
/// As rexec(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rexec(
    ahost: *mut *mut c_char,
    rport: c_int,
    name: *const c_char,
    pass: *const c_char,
    cmd: *const c_char,
    fd2p: *mut c_int,
) -> c_int {
    // SAFETY: rexec's contract.
    if let Some(e) = unsafe { rexec_denial("rexec", ahost, rport) } {
        return fail(e);
    }
    call_real!(real::REXEC, RexecFn, -1, (ahost, rport, name, pass, cmd, fd2p))
}

/// # Safety
/// As rexec_af(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rexec_af(
    ahost: *mut *mut c_char,
    rport: c_int,
    name: *const c_char,
    pass: *const c_char,
    cmd: *const c_char,
    fd2p: *mut c_int,
    af: libc::sa_family_t,
) -> c_int {
    // SAFETY: rexec_af's contract.
    if let Some(e) = unsafe { rexec_denial("rexec_af", ahost, rport) } {
        return fail(e);
    }
    call_real!(real::REXEC_AF, RexecAfFn, -1, (ahost, rport, name, pass, cmd, fd2p, af))
}

/// glibc's `struct __res_state` (LP64: x86_64 and aarch64), the fields
/// the resolver's send reads to find its name servers.
#[repr(C)]
pub struct ResState {
    retrans: c_int,
    retry: c_int,
    options: std::ffi::c_ulong,
    nscount: c_int,
    nsaddr_list: [libc::sockaddr_in; MAXNS],
    id: u16,
    dnsrch: [*mut c_char; 7],
    defdname: [c_char; 256],
    pfcode: std::ffi::c_ulong,
    bitfields: c_uint,
    sort_list: [[u32; 2]; 10],
    qhook: *mut c_void,
    rhook: *mut c_void,
    res_h_errno: c_int,
    vcsock: c_int,
    flags: c_uint,
    ext_nscount: u16,
    ext_nsmap: [u16; MAXNS],
    ext_nssocks: [c_int; MAXNS],
    ext_nscount6: u16,
    ext_nsinit: u16,
    ext_nsaddrs: [*mut libc::sockaddr_in6; MAXNS],
    ext_index: [u32; 2],
}

// The offsets of resolv.h, as gcc lays it out.
const _: () = assert!(size_of::<ResState>() == 568);
const _: () = assert!(std::mem::offset_of!(ResState, nsaddr_list) == 20);
const _: () = assert!(std::mem::offset_of!(ResState, res_h_errno) == 496);
const _: () = assert!(std::mem::offset_of!(ResState, ext_nsaddrs) == 536);

type ResStateFn = unsafe extern "C" fn() -> *mut ResState;
type ResNinitFn = unsafe extern "C" fn(*mut ResState) -> c_int;
type ResSendFn = unsafe extern "C" fn(*const u8, c_int, *mut u8, c_int) -> c_int;
type ResNsendFn = unsafe extern "C" fn(*mut ResState, *const u8, c_int, *mut u8, c_int) -> c_int;
type ResQueryFn = unsafe extern "C" fn(*const c_char, c_int, c_int, *mut u8, c_int) -> c_int;
type ResNqueryFn = unsafe extern "C" fn(*mut ResState, *const c_char, c_int, c_int, *mut u8, c_int) -> c_int;
type ResQuerydomainFn = unsafe extern "C" fn(*const c_char, *const c_char, c_int, c_int, *mut u8, c_int) -> c_int;
type ResNquerydomainFn =
    unsafe extern "C" fn(*mut ResState, *const c_char, *const c_char, c_int, c_int, *mut u8, c_int) -> c_int;

unsafe extern "C" {
    fn __h_errno_location() -> *mut c_int;
}

/// `h_errno`'s "no answer, try again later", what a query whose send
/// failed leaves (glibc's `__res_context_query`).
const TRY_AGAIN: c_int = 2;

/// The state a call works on: `given` for the `res_n*` forms; the
/// thread's `_res` for the others, initialised first when it is not yet,
/// as the call itself would do (glibc's `maybe_init`: `/etc/resolv.conf`),
/// so its servers are the ones checked. Null when there is none.
fn call_state(given: Option<*mut ResState>) -> *mut ResState {
    if let Some(statp) = given {
        return statp;
    }
    let statp = call_real!(real::RES_STATE, ResStateFn, std::ptr::null_mut(), ());
    if statp.is_null() {
        return statp;
    }
    // SAFETY: the thread's resolver state (a field's address, read once).
    let options = unsafe { (&raw const (*statp).options).read_volatile() };
    if options & RES_INIT == 0 {
        let saved = sys::errno();
        // A failure here fails the call's own initialisation too.
        let _ = call_real!(real::RES_NINIT, ResNinitFn, -1, (statp));
        sys::set_errno(saved);
    }
    statp
}

/// Runs a resolver call on a copy of its state, decided on: `Err(errno)`
/// when one of the name servers the state (`given`, or the thread's)
/// lists is denied; else the real `res_n*` function's answer
/// (`real_on`) on the copy, which is then written back (libc keeps its
/// sockets and counters there). libc reads the servers again when it
/// sends: on the caller's state, another thread could rewrite them after
/// the check. IPv6 servers (the extension's pointers) are copied too.
/// `unchecked`: the call as the caller made it, when nothing is checked.
/// `query_len`: `res_send`'s message length (the others build a query
/// that fits in a datagram).
///
/// # Safety
/// `given`, when some, is null or a valid resolver state.
unsafe fn on_checked_state(
    op: &'static str,
    given: Option<*mut ResState>,
    query_len: Option<c_int>,
    unchecked: impl FnOnce() -> c_int,
    real_on: impl FnOnce(*mut ResState) -> c_int,
) -> Result<c_int, c_int> {
    let Some(st) = state::checked() else { return Ok(unchecked()) };
    let statp = call_state(given);
    if statp.is_null() {
        return Ok(unchecked());
    }
    // SAFETY: a valid state (the caller's contract, or the thread's own):
    // plain data, read once.
    let mut copy: ResState = unsafe { statp.read_volatile() };
    let (count, too_many) = match server_count(copy.nscount) {
        Ok(n) => (n, false),
        Err(TooManyServers) => (MAXNS, true),
    };
    // SAFETY: sockaddr_in6 is plain data; all-zero is a valid value.
    let mut ipv6: [libc::sockaddr_in6; MAXNS] = unsafe { std::mem::zeroed() };
    let mut replaced: [Option<*mut libc::sockaddr_in6>; MAXNS] = [None; MAXNS];
    let mut copies: [Option<CapturedAddr>; MAXNS] = Default::default();
    for n in 0..count {
        let (Some(list), Some(&ext), Some(v6), Some(slot), Some(copy_n)) =
            (copy.nsaddr_list.get(n), copy.ext_nsaddrs.get(n), ipv6.get_mut(n), replaced.get_mut(n), copies.get_mut(n))
        else {
            break;
        };
        *copy_n = match server_slot(list.sin_family, !ext.is_null()) {
            ServerSlot::List => {
                // SAFETY: a sockaddr_in of the copy.
                unsafe { CapturedAddr::capture((&raw const *list).cast(), size_of_val(list) as _) }.ok()
            }
            ServerSlot::Extension => {
                // SAFETY: glibc's own pointer to a sockaddr_in6 it
                // allocated (or one the code put there, which glibc
                // would read too); read once.
                *v6 = unsafe { ext.read_volatile() };
                *slot = Some(ext);
                // SAFETY: our copy, plain data.
                unsafe { CapturedAddr::capture((&raw const *v6).cast(), size_of_val(v6) as _) }.ok()
            }
        };
    }
    for (n, original) in replaced.iter().enumerate() {
        if let (Some(_), Some(p), Some(v6)) = (original, copy.ext_nsaddrs.get_mut(n), ipv6.get_mut(n)) {
            *p = v6;
        }
    }
    let mut servers: [&[u8]; MAXNS] = [&[]; MAXNS];
    for (s, c) in servers.iter_mut().zip(copies.iter()) {
        *s = c.as_ref().map_or(&[], CapturedAddr::as_bytes);
    }
    let len = query_len.map(|l| usize::try_from(l).unwrap_or(0));
    let proto = if starts_over_tcp(copy.options, len) { Proto::Tcp } else { Proto::Udp };
    if let Outcome::Deny(e) = net::check_resolver(st, op, servers.get(..count).unwrap_or(&[]), too_many, proto) {
        return Err(e);
    }
    if too_many {
        // Allowed only where nothing is blocked: glibc reads past the
        // slots, in the caller's state, not in a copy of its size.
        return Ok(unchecked());
    }
    let r = real_on(&raw mut copy);
    for (n, original) in replaced.iter().enumerate() {
        if let (Some(original), Some(p)) = (original, copy.ext_nsaddrs.get_mut(n)) {
            *p = *original;
        }
    }
    // SAFETY: the caller's state, valid; the copy carries what libc did.
    unsafe { statp.write_volatile(copy) };
    Ok(r)
}

/// A query function's failure: -1, `errno`, and `h_errno` (the thread's
/// and the state's) saying no answer came.
fn query_fail(e: c_int, given: Option<*mut ResState>) -> c_int {
    // SAFETY: libc's thread-local h_errno.
    unsafe { *__h_errno_location() = TRY_AGAIN };
    if let Some(statp) = given.filter(|p| !p.is_null()) {
        // SAFETY: a valid state (the caller's contract): its own field.
        unsafe { (&raw mut (*statp).res_h_errno).write_volatile(TRY_AGAIN) };
    }
    fail(e)
}

/// Exports each resolver hook under its name and its `__res_*` name
/// (libresolv's before glibc 2.34, which programs built then still bind).
macro_rules! resolver_hooks {
    ($($name:ident / $compat:ident => $inner:ident ($($arg:ident: $ty:ty),*);)*) => {
        $(
            /// # Safety
            /// As the libc function of the same name.
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
                // SAFETY: the caller's contract, passed on.
                unsafe { $inner($($arg),*) }
            }

            /// # Safety
            /// As the libc function of the same name.
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn $compat($($arg: $ty),*) -> c_int {
                // SAFETY: the caller's contract, passed on.
                unsafe { $inner($($arg),*) }
            }
        )*
    };
}

resolver_hooks! {
    res_send / __res_send => checked_res_send(msg: *const u8, len: c_int, ans: *mut u8, anslen: c_int);
    res_nsend / __res_nsend => checked_res_nsend(statp: *mut ResState, msg: *const u8, len: c_int, ans: *mut u8, anslen: c_int);
    res_query / __res_query => checked_res_query(dname: *const c_char, class: c_int, ty: c_int, ans: *mut u8, anslen: c_int);
    res_nquery / __res_nquery => checked_res_nquery(statp: *mut ResState, dname: *const c_char, class: c_int, ty: c_int, ans: *mut u8, anslen: c_int);
    res_search / __res_search => checked_res_search(dname: *const c_char, class: c_int, ty: c_int, ans: *mut u8, anslen: c_int);
    res_nsearch / __res_nsearch => checked_res_nsearch(statp: *mut ResState, dname: *const c_char, class: c_int, ty: c_int, ans: *mut u8, anslen: c_int);
    res_querydomain / __res_querydomain => checked_res_querydomain(name: *const c_char, domain: *const c_char, class: c_int, ty: c_int, ans: *mut u8, anslen: c_int);
    res_nquerydomain / __res_nquerydomain => checked_res_nquerydomain(statp: *mut ResState, name: *const c_char, domain: *const c_char, class: c_int, ty: c_int, ans: *mut u8, anslen: c_int);
}

/// # Safety
/// As res_send(3).
unsafe fn checked_res_send(msg: *const u8, len: c_int, ans: *mut u8, anslen: c_int) -> c_int {
    let unchecked =
        || call_real!(real::either(&real::RES_SEND, &real::RES_SEND_COMPAT), ResSendFn, -1, (msg, len, ans, anslen));
    // The thread's state, through the `res_n*` form, on its copy.
    let on_copy = |copy: *mut ResState| {
        call_real!(
            real::either(&real::RES_NSEND, &real::RES_NSEND_COMPAT),
            ResNsendFn,
            -1,
            (copy, msg, len, ans, anslen)
        )
    };
    // SAFETY: no state given: the thread's.
    match unsafe { on_checked_state("res_send", None, Some(len), unchecked, on_copy) } {
        Ok(r) => r,
        Err(e) => fail(e),
    }
}

/// # Safety
/// As res_nsend(3).
unsafe fn checked_res_nsend(statp: *mut ResState, msg: *const u8, len: c_int, ans: *mut u8, anslen: c_int) -> c_int {
    let unchecked = || {
        call_real!(
            real::either(&real::RES_NSEND, &real::RES_NSEND_COMPAT),
            ResNsendFn,
            -1,
            (statp, msg, len, ans, anslen)
        )
    };
    // The copy.
    let on_copy = |copy: *mut ResState| {
        call_real!(
            real::either(&real::RES_NSEND, &real::RES_NSEND_COMPAT),
            ResNsendFn,
            -1,
            (copy, msg, len, ans, anslen)
        )
    };
    // SAFETY: a valid state (the caller's contract).
    match unsafe { on_checked_state("res_nsend", Some(statp), Some(len), unchecked, on_copy) } {
        Ok(r) => r,
        Err(e) => fail(e),
    }
}

/// A query function and its `res_n*` form (`res_query` and `res_nquery`,
/// ...): both run the `res_n*` form on a checked copy of the state — the
/// thread's for the first, the one given for the second — and fail as a
/// query that got no answer.
macro_rules! query_pair {
    ($plain:ident / $n_form:ident: $op:literal / $n_op:literal,
     $real:ident | $compat:ident: $plain_ty:ty, $n_real:ident | $n_compat:ident: $n_ty:ty,
     ($($arg:ident: $ty:ty),*)) => {
        /// # Safety
        /// As the libc function it checks.
        unsafe fn $plain($($arg: $ty),*) -> c_int {
            let unchecked = || call_real!(real::either(&real::$real, &real::$compat), $plain_ty, -1, ($($arg),*));
            let on_copy = |copy: *mut ResState| {
                call_real!(real::either(&real::$n_real, &real::$n_compat), $n_ty, -1, (copy, $($arg),*))
            };
            // SAFETY: no state given: the thread's.
            match unsafe { on_checked_state($op, None, None, unchecked, on_copy) } {
                Ok(r) => r,
                Err(e) => query_fail(e, None),
            }
        }

        /// # Safety
        /// As the libc function it checks.
        unsafe fn $n_form(statp: *mut ResState, $($arg: $ty),*) -> c_int {
            let n_real = || real::either(&real::$n_real, &real::$n_compat);
            let unchecked = || call_real!(n_real(), $n_ty, -1, (statp, $($arg),*));
            let on_copy = |copy: *mut ResState| call_real!(n_real(), $n_ty, -1, (copy, $($arg),*));
            // SAFETY: a valid state (the caller's contract).
            match unsafe { on_checked_state($n_op, Some(statp), None, unchecked, on_copy) } {
                Ok(r) => r,
                Err(e) => query_fail(e, Some(statp)),
            }
        }
    };
}

query_pair! {
    checked_res_query / checked_res_nquery: "res_query" / "res_nquery",
    RES_QUERY | RES_QUERY_COMPAT: ResQueryFn, RES_NQUERY | RES_NQUERY_COMPAT: ResNqueryFn,
    (dname: *const c_char, class: c_int, ty: c_int, ans: *mut u8, anslen: c_int)
}

query_pair! {
    checked_res_search / checked_res_nsearch: "res_search" / "res_nsearch",
    RES_SEARCH | RES_SEARCH_COMPAT: ResQueryFn, RES_NSEARCH | RES_NSEARCH_COMPAT: ResNqueryFn,
    (dname: *const c_char, class: c_int, ty: c_int, ans: *mut u8, anslen: c_int)
}

query_pair! {
    checked_res_querydomain / checked_res_nquerydomain: "res_querydomain" / "res_nquerydomain",
    RES_QUERYDOMAIN | RES_QUERYDOMAIN_COMPAT: ResQuerydomainFn, RES_NQUERYDOMAIN | RES_NQUERYDOMAIN_COMPAT: ResNquerydomainFn,
    (name: *const c_char, domain: *const c_char, class: c_int, ty: c_int, ans: *mut u8, anslen: c_int)
}
