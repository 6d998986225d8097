//! The name servers libc's exported resolver functions (`res_send`,
//! `res_query`, `res_search`, ... and their `res_n*` forms) will contact:
//! they send through libc's internal `sendto`/`connect`, which no hook
//! sees, to whatever addresses the resolver state holds — and code can
//! write any address there (`_res.nsaddr_list` through ctypes). So the
//! hook reads the state the call will use and checks each server first.
//!
//! The layout and rules are glibc's (2.26 to 2.36, `resolv/res_send.c`):
//! servers `0..nscount`, each `nsaddr_list[n]` (IPv4), or, when its family
//! is 0 and the extension holds one, `_u._ext.nsaddrs[n]` (IPv6); UDP
//! first, TCP from the start for `RES_USEVC` or a query over 512 bytes.

/// The resolver state's server slots (`MAXNS`).
pub const MAXNS: usize = 3;

/// `options`: the state was initialised (from `/etc/resolv.conf`).
pub const RES_INIT: u64 = 0x1;

/// `options`: queries go over TCP ("virtual circuit").
pub const RES_USEVC: u64 = 0x8;

/// The longest query sent over UDP (`PACKETSZ`).
pub const PACKETSZ: usize = 512;

/// Whether the servers are first contacted over TCP: `RES_USEVC`, or a
/// `res_send` message too long for a datagram (`query_len`; the queries
/// the other functions build from a name always fit). A UDP answer that
/// comes back truncated is asked again over TCP of the same server: that
/// server passed the check already, for UDP.
pub fn starts_over_tcp(options: u64, query_len: Option<usize>) -> bool {
    options & RES_USEVC != 0 || query_len.is_some_and(|n| n > PACKETSZ)
}

/// How many server slots a call reads, from the state's `nscount`.
/// `Err` for more than the state holds: glibc would read the slots
/// past `nsaddr_list` (other fields of the state, which code can write),
/// so the hook does not try to follow it.
pub fn server_count(nscount: i32) -> Result<usize, TooManyServers> {
    match usize::try_from(nscount) {
        Err(_) => Ok(0),
        Ok(n) if n <= MAXNS => Ok(n),
        Ok(_) => Err(TooManyServers),
    }
}

/// A resolver state whose `nscount` is over [`MAXNS`] (no glibc sets it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyServers;

/// Where server `n`'s address is, as glibc's `get_nsaddr` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSlot {
    /// `nsaddr_list[n]`, a `sockaddr_in` (or whatever family code wrote).
    List,
    /// `_u._ext.nsaddrs[n]`, a `sockaddr_in6`.
    Extension,
}

/// `list_family`: `nsaddr_list[n].sin_family`; `has_extension`: whether
/// `_u._ext.nsaddrs[n]` is non-null.
pub fn server_slot(list_family: u16, has_extension: bool) -> ServerSlot {
    if list_family == 0 && has_extension { ServerSlot::Extension } else { ServerSlot::List }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_unless_asked_for_tcp_or_too_long() {
        assert!(!starts_over_tcp(RES_INIT, None));
        assert!(!starts_over_tcp(RES_INIT, Some(PACKETSZ)));
        assert!(starts_over_tcp(RES_INIT, Some(PACKETSZ + 1)));
        assert!(starts_over_tcp(RES_INIT | RES_USEVC, None));
        assert!(starts_over_tcp(RES_USEVC, Some(12)));
    }

    #[test]
    fn server_counts() {
        assert_eq!(server_count(0), Ok(0));
        assert_eq!(server_count(-5), Ok(0));
        assert_eq!(server_count(1), Ok(1));
        assert_eq!(server_count(3), Ok(3));
        assert_eq!(server_count(4), Err(TooManyServers));
        assert_eq!(server_count(i32::MAX), Err(TooManyServers));
    }

    #[test]
    fn ipv6_servers_live_in_the_extension_only_when_the_list_slot_is_empty() {
        assert_eq!(server_slot(0, true), ServerSlot::Extension);
        assert_eq!(server_slot(0, false), ServerSlot::List);
        assert_eq!(server_slot(2, true), ServerSlot::List);
        assert_eq!(server_slot(10, false), ServerSlot::List);
    }
}
