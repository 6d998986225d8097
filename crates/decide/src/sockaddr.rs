//! Socket addresses (the bytes a `connect` or `sendto` caller passes) →
//! the peer the call reaches.
//!
//! Layouts are Linux's `sockaddr_in`, `sockaddr_in6` and `sockaddr_un`;
//! the family is in host byte order, ports and addresses in network order.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const AF_UNSPEC: u16 = 0;
pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// Where a socket call goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer<'a> {
    /// An IP peer; IPv4-mapped IPv6 addresses are given as IPv4.
    Inet { ip: IpAddr, port: u16 },
    /// A Unix socket at a path (as given: maybe relative).
    UnixPath(&'a [u8]),
    /// An abstract Unix socket name (without its leading NUL).
    UnixAbstract(&'a [u8]),
    /// `AF_UNSPEC` (dissolves a UDP association) or an unnamed Unix
    /// address: nothing is reached.
    Nowhere,
    /// Another family (netlink, packet, vsock, ...) or a malformed
    /// address the kernel will reject: not checked.
    Other(u16),
}

/// Reads a socket address of `bytes.len()` bytes (the caller's `addrlen`,
/// capped to what was readable).
pub fn parse(bytes: &[u8]) -> Peer<'_> {
    let Some(&[f0, f1]) = bytes.get(..2).and_then(|b| <&[u8; 2]>::try_from(b).ok()) else {
        return Peer::Other(u16::MAX);
    };
    let family = u16::from_ne_bytes([f0, f1]);
    let port = || bytes.get(2..4).and_then(|p| p.try_into().ok()).map(u16::from_be_bytes);
    match family {
        AF_UNSPEC => Peer::Nowhere,
        AF_INET => match (port(), bytes.get(4..8).and_then(|a| <[u8; 4]>::try_from(a).ok())) {
            (Some(port), Some(a)) => Peer::Inet { ip: IpAddr::V4(Ipv4Addr::from(a)), port },
            _ => Peer::Other(family),
        },
        AF_INET6 => match (port(), bytes.get(8..24).and_then(|a| <[u8; 16]>::try_from(a).ok())) {
            (Some(port), Some(a)) => Peer::Inet { ip: IpAddr::V6(Ipv6Addr::from(a)).to_canonical(), port },
            _ => Peer::Other(family),
        },
        AF_UNIX => {
            let path = bytes.get(2..).unwrap_or(&[]);
            match path.split_first() {
                None => Peer::Nowhere,
                Some((0, name)) => Peer::UnixAbstract(name),
                Some(_) => Peer::UnixPath(path.split(|&b| b == 0).next().unwrap_or(&[])),
            }
        }
        other => Peer::Other(other),
    }
}

/// The socket a destination is passed on, as far as the kernel's reading
/// of an `AF_UNSPEC` address depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendSocket {
    /// `SO_DOMAIN`: `AF_INET`, `AF_INET6`, ...
    pub domain: u16,
    /// Datagram semantics (`SOCK_DGRAM` or `SOCK_RAW`): the destination of
    /// each send is used; on a stream socket only TCP fast open reads it.
    pub datagram: bool,
}

/// The peer a send (`sendto`, `sendmsg`, `sendmmsg`) to `bytes` reaches,
/// the way the kernel reads the address on `socket`. Only `AF_UNSPEC`
/// differs from [`parse`]:
/// - IPv4 datagram sockets (`udp_sendmsg`, `raw_sendmsg`, ping) take an
///   `AF_UNSPEC` address as `AF_INET`: port and address where
///   `sockaddr_in` has them (at least 16 bytes, or `EINVAL`);
/// - IPv6 UDP (`udpv6_sendmsg`) takes it as no address at all: the
///   datagram goes to the connected peer, which `connect` checked;
/// - on a stream socket (TCP fast open, `__inet_stream_connect`) it
///   disconnects: nothing is reached.
pub fn send_destination(bytes: &[u8], socket: SendSocket) -> Peer<'_> {
    if family(bytes) != Some(AF_UNSPEC) {
        return parse(bytes);
    }
    if !(socket.datagram && socket.domain == AF_INET) {
        return Peer::Nowhere;
    }
    let mut as_inet = [0u8; SOCKADDR_IN_LEN];
    match bytes.get(..SOCKADDR_IN_LEN) {
        Some(b) => as_inet.copy_from_slice(b),
        // Shorter than a sockaddr_in: the kernel's EINVAL.
        None => return Peer::Other(AF_UNSPEC),
    }
    if let Some(f) = as_inet.get_mut(..2) {
        f.copy_from_slice(&AF_INET.to_ne_bytes());
    }
    match parse(&as_inet) {
        Peer::Inet { ip, port } => Peer::Inet { ip, port },
        _ => Peer::Other(AF_UNSPEC),
    }
}

/// The address family of `bytes` (host byte order), if it has one.
pub fn family(bytes: &[u8]) -> Option<u16> {
    bytes.get(..2).and_then(|f| <[u8; 2]>::try_from(f).ok()).map(u16::from_ne_bytes)
}

/// `sizeof(struct sockaddr_in)`.
const SOCKADDR_IN_LEN: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn v4(port: u16, ip: [u8; 4]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&AF_INET.to_ne_bytes());
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&ip);
        b.extend_from_slice(&[0; 8]);
        b
    }

    #[test]
    fn unspec_sends_as_the_socket_reads_them() {
        let mut unspec = v4(9, [127, 0, 0, 1]);
        unspec[..2].copy_from_slice(&AF_UNSPEC.to_ne_bytes());
        let udp4 = SendSocket { domain: AF_INET, datagram: true };
        let udp6 = SendSocket { domain: AF_INET6, datagram: true };
        let tcp4 = SendSocket { domain: AF_INET, datagram: false };
        let to = Peer::Inet { ip: "127.0.0.1".parse().unwrap(), port: 9 };
        assert_eq!(send_destination(&unspec, udp4), to);
        assert_eq!(send_destination(&unspec, udp6), Peer::Nowhere);
        assert_eq!(send_destination(&unspec, tcp4), Peer::Nowhere);
        assert_eq!(send_destination(&unspec[..15], udp4), Peer::Other(AF_UNSPEC));
        // Other families read as parse reads them, on any socket.
        assert_eq!(send_destination(&v4(9, [127, 0, 0, 1]), udp6), to);
        assert_eq!(send_destination(&[], udp4), Peer::Other(u16::MAX));
        assert_eq!((family(&unspec), family(&[2])), (Some(AF_UNSPEC), None));
    }

    #[test]
    fn families() {
        assert_eq!(parse(&v4(443, [10, 0, 0, 1])), Peer::Inet { ip: "10.0.0.1".parse().unwrap(), port: 443 });
        let mut b = Vec::new();
        b.extend_from_slice(&AF_INET6.to_ne_bytes());
        b.extend_from_slice(&53u16.to_be_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&"::ffff:127.0.0.1".parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(&[0; 4]);
        assert_eq!(parse(&b), Peer::Inet { ip: "127.0.0.1".parse().unwrap(), port: 53 });
        b[8..24].copy_from_slice(&"::1".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(parse(&b), Peer::Inet { ip: "::1".parse().unwrap(), port: 53 });
        assert_eq!(parse(&b[..20]), Peer::Other(AF_INET6));

        let mut u = AF_UNIX.to_ne_bytes().to_vec();
        assert_eq!(parse(&u), Peer::Nowhere);
        u.extend_from_slice(b"/run/x.sock\0\0\0garbage");
        assert_eq!(parse(&u), Peer::UnixPath(b"/run/x.sock"));
        let mut a = AF_UNIX.to_ne_bytes().to_vec();
        a.extend_from_slice(b"\0name\0x");
        assert_eq!(parse(&a), Peer::UnixAbstract(b"name\0x"));
        assert_eq!(parse(&AF_UNSPEC.to_ne_bytes()), Peer::Nowhere);
        assert_eq!(parse(&16u16.to_ne_bytes()), Peer::Other(16));
        assert_eq!(parse(&[2]), Peer::Other(u16::MAX));
        assert_eq!(parse(&v4(1, [1, 2, 3, 4])[..6]), Peer::Other(AF_INET));
    }
}
