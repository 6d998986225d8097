//! Event targets in the rule grammar of their category, written into stack
//! buffers (the hooks cannot allocate).

use core::fmt::Write;
use core::net::IpAddr;

use rampart_policy::Proto;

/// A fixed buffer that `write!` fills; what does not fit is dropped.
pub struct StackText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Default for StackText<N> {
    fn default() -> Self {
        StackText::new()
    }
}

impl<const N: usize> StackText<N> {
    pub const fn new() -> Self {
        StackText { buf: [0; N], len: 0 }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(N - self.len);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.len..self.len + n), bytes.get(..n)) {
            dst.copy_from_slice(src);
            self.len += n;
        }
    }
}

impl<const N: usize> Write for StackText<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// A network target: `[udp:]HOST:PORT` with the DNS name when known, else
/// the IP (IPv6 in brackets).
pub fn net_target<const N: usize>(out: &mut StackText<N>, proto: Proto, name: Option<&[u8]>, ip: IpAddr, port: u16) {
    if proto == Proto::Udp {
        out.push(b"udp:");
    }
    match (name, ip) {
        (Some(name), _) => out.push(name),
        (None, IpAddr::V4(v4)) => {
            let _ = write!(out, "{v4}");
        }
        (None, IpAddr::V6(v6)) => {
            let _ = write!(out, "[{v6}]");
        }
    }
    let _ = write!(out, ":{port}");
}

/// A Unix socket target: `unix:PATH`, or `unix:@NAME` for an abstract one.
pub fn unix_target<const N: usize>(out: &mut StackText<N>, path: &[u8], is_abstract: bool) {
    out.push(b"unix:");
    if is_abstract {
        out.push(b"@");
    }
    out.push(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(proto: Proto, name: Option<&str>, ip: &str, port: u16) -> std::string::String {
        let mut t = StackText::<300>::new();
        net_target(&mut t, proto, name.map(str::as_bytes), ip.parse().unwrap(), port);
        std::string::String::from_utf8(t.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn targets_are_rules() {
        assert_eq!(net(Proto::Tcp, None, "10.0.0.1", 5432), "10.0.0.1:5432");
        assert_eq!(net(Proto::Udp, None, "::1", 53), "udp:[::1]:53");
        assert_eq!(net(Proto::Tcp, Some("sts.amazonaws.com"), "1.2.3.4", 443), "sts.amazonaws.com:443");
        for t in ["10.0.0.1:5432", "udp:[::1]:53", "sts.amazonaws.com:443"] {
            rampart_policy::Rule::parse(rampart_policy::Category::Network, t).unwrap();
        }
        let mut t = StackText::<8>::new();
        unix_target(&mut t, b"/run/docker.sock", false);
        assert_eq!(t.as_bytes(), b"unix:/ru");
        let mut t = StackText::<64>::new();
        unix_target(&mut t, b"dbus", true);
        assert_eq!(t.as_bytes(), b"unix:@dbus");
    }
}
