//! One allowlist rule of each category: parsing (with messages a user can
//! act on) and the canonical text form it is written back in.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::glob::Glob;
use crate::types::{Access, Category, InputSource, Proto};

/// A file rule: `r|w|rw GLOB`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileRule {
    pub access: Access,
    pub glob: Glob,
}

/// The host part of a network rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// `*`: any address or name.
    Any,
    /// An exact DNS name, lower-case, without a trailing dot.
    Name(String),
    /// `*.suffix`: any name with one or more labels before `suffix`
    /// (stored without the `*.`).
    NameSuffix(String),
    /// One address (IPv4-mapped IPv6 addresses are stored as IPv4).
    Ip(IpAddr),
    /// A network: the address has no host bits set.
    Cidr(IpAddr, u8),
}

/// An inclusive port range; a single port has `lo == hi`, `*` is 0-65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub const ANY: PortRange = PortRange { lo: 0, hi: u16::MAX };

    pub const fn contains(self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }
}

/// Which Unix socket a `unix:` rule names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnixPattern {
    /// A filesystem socket: a path glob.
    Path(Glob),
    /// An abstract socket, `@name`; `*` and `?` are wildcards over the name.
    Abstract(String),
}

/// A network rule: `[tcp:|udp:]HOST:PORT` or `unix:GLOB`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NetRule {
    Host { proto: Proto, host: HostPattern, ports: PortRange },
    Unix(UnixPattern),
}

/// An AWS API rule: `service:Action` or `service:Action@BUCKET`, `*`
/// wildcards in every part. Matching ignores case (IAM action names do,
/// and bucket names in host names are DNS names); the parts are kept as
/// written for display, the service and bucket in lower case.
///
/// A rule without a bucket allows the calls it names on any bucket and
/// calls that name no bucket. A rule with a bucket allows only calls on a
/// known bucket that matches — except at service level with no known
/// bucket (a path-style S3 connection), where any rule of the service
/// allows, as any rule of the service allows a call whose action is not
/// known.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ApiRule {
    pub service: String,
    pub action: String,
    pub bucket: Option<String>,
}

/// A rule of any category.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    File(FileRule),
    Network(NetRule),
    Process(Glob),
    Api(ApiRule),
    Input(InputSource),
}

impl Rule {
    /// Parses the text of one rule of category `cat`. The error is a message
    /// for a user, without the rule's location (the caller knows it).
    pub fn parse(cat: Category, text: &str) -> Result<Rule, String> {
        match cat {
            Category::File => parse_file(text).map(Rule::File),
            Category::Network => parse_net(text).map(Rule::Network),
            Category::Process => {
                Glob::parse(text).map(Rule::Process).map_err(|e| format!("expected an absolute program path glob: {e}"))
            }
            Category::Api => parse_api(text).map(Rule::Api),
            Category::Input => InputSource::parse(text).map(Rule::Input).ok_or_else(|| {
                let names: Vec<&str> = InputSource::ALL.iter().map(|i| i.as_str()).collect();
                format!("unknown event source; expected one of {}", names.join(", "))
            }),
        }
    }

    pub fn category(&self) -> Category {
        match self {
            Rule::File(_) => Category::File,
            Rule::Network(_) => Category::Network,
            Rule::Process(_) => Category::Process,
            Rule::Api(_) => Category::Api,
            Rule::Input(_) => Category::Input,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::File(r) => r.fmt(f),
            Rule::Network(r) => r.fmt(f),
            Rule::Process(g) => g.fmt(f),
            Rule::Api(r) => r.fmt(f),
            Rule::Input(i) => i.fmt(f),
        }
    }
}

const FILE_SHAPE: &str = "expected \"r|w|rw GLOB\"";

fn parse_file(text: &str) -> Result<FileRule, String> {
    let (access, glob) = text.split_once(' ').ok_or_else(|| FILE_SHAPE.to_string())?;
    let access = Access::parse(access).ok_or_else(|| format!("{FILE_SHAPE}: access must be r, w or rw"))?;
    let glob = Glob::parse(glob.trim_start()).map_err(|e| format!("{FILE_SHAPE}: {e}"))?;
    Ok(FileRule { access, glob })
}

impl fmt::Display for FileRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.access, self.glob)
    }
}

const NET_SHAPE: &str = "expected \"[tcp:|udp:]HOST:PORT\" or \"unix:PATH\"";

fn parse_net(text: &str) -> Result<NetRule, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        return parse_unix(path).map(NetRule::Unix);
    }
    let (proto, rest) = if let Some(r) = text.strip_prefix("udp:") {
        (Proto::Udp, r)
    } else if let Some(r) = text.strip_prefix("tcp:") {
        (Proto::Tcp, r)
    } else {
        (Proto::Tcp, text)
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (v6, after) =
            inner.split_once(']').ok_or_else(|| format!("{NET_SHAPE}: missing `]` after an IPv6 address"))?;
        let port = after.strip_prefix(':').ok_or_else(|| format!("{NET_SHAPE}: missing `:PORT` after `]`"))?;
        (parse_ipv6_host(v6)?, port)
    } else {
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| format!("{NET_SHAPE}: missing `:PORT`"))?;
        if host.contains(':') {
            return Err(format!("{NET_SHAPE}: write IPv6 addresses in brackets, e.g. [::1]:443"));
        }
        (parse_host(host)?, port)
    };
    let ports = parse_ports(port)?;
    Ok(NetRule::Host { proto, host, ports })
}

fn parse_unix(path: &str) -> Result<UnixPattern, String> {
    if let Some(name) = path.strip_prefix('@') {
        if name.is_empty() || name.contains('\0') {
            return Err("abstract socket name must be non-empty, without NUL".into());
        }
        return Ok(UnixPattern::Abstract(name.to_owned()));
    }
    Glob::parse(path).map(UnixPattern::Path).map_err(|e| format!("expected \"unix:/PATH\" or \"unix:@NAME\": {e}"))
}

fn parse_ports(s: &str) -> Result<PortRange, String> {
    let num = |p: &str| -> Result<u16, String> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("bad port `{p}`: expected a number 0-65535, a range a-b, or *"));
        }
        p.parse::<u16>().map_err(|_| format!("port `{p}` is out of range 0-65535"))
    };
    if s == "*" {
        return Ok(PortRange::ANY);
    }
    match s.split_once('-') {
        Some((a, b)) => {
            let (lo, hi) = (num(a)?, num(b)?);
            if lo > hi {
                return Err(format!("port range `{s}` is backwards"));
            }
            Ok(PortRange { lo, hi })
        }
        None => num(s).map(|p| PortRange { lo: p, hi: p }),
    }
}

fn parse_host(host: &str) -> Result<HostPattern, String> {
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if let Some((addr, len)) = host.split_once('/') {
        let addr: Ipv4Addr =
            addr.parse().map_err(|_| format!("bad CIDR `{host}`: expected IPv4 a.b.c.d/len (IPv6 in brackets)"))?;
        return cidr(IpAddr::V4(addr), len, host);
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(HostPattern::Ip(IpAddr::V4(ip)));
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("bad IPv4 address `{host}`"));
    }
    let (wild, name) = match host.strip_prefix("*.") {
        Some(n) => (true, n),
        None => (false, host),
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    check_dns_name(&name).map_err(|e| format!("bad host `{host}`: {e}"))?;
    Ok(if wild { HostPattern::NameSuffix(name) } else { HostPattern::Name(name) })
}

fn check_dns_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 253 {
        return Err("a DNS name has 1 to 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("each DNS label has 1 to 63 characters");
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err("a DNS name has letters, digits, `-` and `_` only (`*.` only at the start)");
        }
    }
    Ok(())
}

fn parse_ipv6_host(inner: &str) -> Result<HostPattern, String> {
    let (addr, len) = match inner.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (inner, None),
    };
    let v6: Ipv6Addr = addr.parse().map_err(|_| format!("bad IPv6 address `{addr}`"))?;
    let ip = canonical_ip(IpAddr::V6(v6));
    match len {
        None => Ok(HostPattern::Ip(ip)),
        Some(len) => {
            // A mapped IPv4 network: `[::ffff:10.0.0.0/104]` is 10.0.0.0/8.
            let len = match (ip, len.parse::<u8>()) {
                (IpAddr::V4(_), Ok(l)) if l >= 96 => (l - 96).to_string(),
                (IpAddr::V4(_), _) => return Err(format!("bad prefix length `/{len}` for an IPv4-mapped network")),
                _ => len.to_string(),
            };
            cidr(ip, &len, inner)
        }
    }
}

fn cidr(ip: IpAddr, len: &str, text: &str) -> Result<HostPattern, String> {
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| format!("bad CIDR `{text}`: prefix length must be 0-{max}"))?;
    let masked = mask_ip(ip, len);
    if masked != ip {
        return Err(format!("bad CIDR `{text}`: host bits are set (did you mean {}/{len}?)", masked));
    }
    Ok(if len == max { HostPattern::Ip(ip) } else { HostPattern::Cidr(ip, len) })
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are the IPv4 address.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// The IPv4 netmask with the first `len` bits set (`len` ≥ 32: all).
pub(crate) const fn v4_mask(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - if len > 32 { 32 } else { len as u32 }) }
}

/// The IPv6 netmask with the first `len` bits set (`len` ≥ 128: all).
pub(crate) const fn v6_mask(len: u8) -> u128 {
    if len == 0 { 0 } else { u128::MAX << (128 - if len > 128 { 128 } else { len as u32 }) }
}

/// Clears the host bits of `ip` beyond the first `len` (the network of
/// `ip/len`).
pub fn mask_ip(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & v4_mask(len))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & v6_mask(len))),
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Any => f.write_str("*"),
            HostPattern::Name(n) => f.write_str(n),
            HostPattern::NameSuffix(n) => write!(f, "*.{n}"),
            HostPattern::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            HostPattern::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            HostPattern::Cidr(IpAddr::V4(v4), l) => write!(f, "{v4}/{l}"),
            HostPattern::Cidr(IpAddr::V6(v6), l) => write!(f, "[{v6}/{l}]"),
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == PortRange::ANY {
            f.write_str("*")
        } else if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

impl fmt::Display for NetRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetRule::Host { proto, host, ports } => {
                if *proto == Proto::Udp {
                    f.write_str("udp:")?;
                }
                write!(f, "{host}:{ports}")
            }
            NetRule::Unix(UnixPattern::Path(g)) => write!(f, "unix:{g}"),
            NetRule::Unix(UnixPattern::Abstract(n)) => write!(f, "unix:@{n}"),
        }
    }
}

const API_SHAPE: &str =
    "expected \"service:Action\" or \"service:Action@bucket\" (e.g. dynamodb:GetItem, s3:*, s3:GetObject@logs-*)";

/// The longest bucket pattern (S3 allows 63 bytes; legacy names 255).
pub const MAX_BUCKET: usize = 255;

/// Bytes of a service name (`*` only in patterns).
pub fn is_service_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// Bytes of an action name (`*` only in patterns).
pub fn is_action_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Bytes of a bucket name, legacy names included (`*` only in patterns).
pub fn is_bucket_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

fn parse_api(text: &str) -> Result<ApiRule, String> {
    let (service, rest) = text.split_once(':').ok_or_else(|| API_SHAPE.to_string())?;
    let (action, bucket) = match rest.split_once('@') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    if service.is_empty() || !service.bytes().all(|b| is_service_byte(b) || b == b'*') {
        return Err(format!("{API_SHAPE}: bad service `{service}`"));
    }
    if action.is_empty() || !action.bytes().all(|b| is_action_byte(b) || b == b'*') {
        return Err(format!("{API_SHAPE}: bad action `{action}`"));
    }
    if let Some(b) = bucket
        && (b.is_empty() || b.len() > MAX_BUCKET || !b.bytes().all(|c| is_bucket_byte(c) || c == b'*'))
    {
        return Err(format!("{API_SHAPE}: bad bucket `{b}`"));
    }
    Ok(ApiRule {
        service: service.to_ascii_lowercase(),
        action: action.to_owned(),
        bucket: bucket.map(str::to_ascii_lowercase),
    })
}

impl fmt::Display for ApiRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.service, self.action)?;
        match &self.bucket {
            Some(b) => write!(f, "@{b}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(cat: Category, text: &str) -> String {
        Rule::parse(cat, text).unwrap_or_else(|e| panic!("{text:?}: {e}")).to_string()
    }

    fn err(cat: Category, text: &str) -> String {
        match Rule::parse(cat, text) {
            Ok(r) => panic!("{text:?} parsed as {r}"),
            Err(e) => e,
        }
    }

    #[test]
    fn file_rules() {
        assert_eq!(ok(Category::File, "r /var/task/**"), "r /var/task/**");
        assert_eq!(ok(Category::File, "rw /tmp//x/"), "rw /tmp/x");
        assert_eq!(ok(Category::File, "wr /tmp/x"), "rw /tmp/x");
        assert!(err(Category::File, "rw/tmp/**").contains("expected \"r|w|rw GLOB\""));
        assert!(err(Category::File, "x /tmp").contains("access must be"));
        assert!(err(Category::File, "r tmp/x").contains("absolute"));
        assert!(err(Category::File, "r /a/b**").contains("whole path segment"));
    }

    #[test]
    fn network_rules() {
        for (text, canon) in [
            ("*.amazonaws.com:443", "*.amazonaws.com:443"),
            ("tcp:Example.COM.:80", "example.com:80"),
            ("10.0.0.0/8:5432", "10.0.0.0/8:5432"),
            ("udp:169.254.78.1:53", "udp:169.254.78.1:53"),
            ("[::1]:443", "[::1]:443"),
            ("[2001:db8::/32]:*", "[2001:db8::/32]:*"),
            ("[::ffff:10.1.2.3]:80", "10.1.2.3:80"),
            ("[::ffff:10.0.0.0/104]:80", "10.0.0.0/8:80"),
            ("1.2.3.4/32:1-1024", "1.2.3.4:1-1024"),
            ("*:443", "*:443"),
            ("host:0", "host:0"),
            ("host:65535", "host:65535"),
            ("host:0-65535", "host:*"),
            ("unix:/var/run/*.sock", "unix:/var/run/*.sock"),
            ("unix:@nscd*", "unix:@nscd*"),
        ] {
            assert_eq!(ok(Category::Network, text), canon, "{text}");
        }
        for (text, why) in [
            ("example.com", "missing `:PORT`"),
            ("example.com:65536", "out of range"),
            ("example.com:-1", "bad port"),
            ("example.com:10-5", "backwards"),
            ("::1:443", "brackets"),
            ("[::1:443", "missing `]`"),
            ("10.0.0.1/8:80", "host bits are set (did you mean 10.0.0.0/8?)"),
            ("10.0.0.0/33:80", "prefix length"),
            ("300.1.1.1:80", "bad IPv4"),
            ("exa mple.com:80", "bad host"),
            ("a.*.com:80", "bad host"),
            ("unix:relative", "unix:/PATH"),
        ] {
            let e = err(Category::Network, text);
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn process_api_input_rules() {
        assert_eq!(ok(Category::Process, "/usr/bin/git"), "/usr/bin/git");
        assert_eq!(ok(Category::Process, "/var/task/bin/*"), "/var/task/bin/*");
        assert!(err(Category::Process, "git").contains("absolute"));
        assert_eq!(ok(Category::Api, "DynamoDB:GetItem"), "dynamodb:GetItem");
        assert_eq!(ok(Category::Api, "s3:*"), "s3:*");
        assert!(err(Category::Api, "s3").contains("service:Action"));
        assert!(err(Category::Api, "s3:Get Object").contains("bad action"));
        assert_eq!(ok(Category::Api, "s3:GetObject@My-Bucket"), "s3:GetObject@my-bucket");
        assert_eq!(ok(Category::Api, "s3:*@logs-*"), "s3:*@logs-*");
        assert_eq!(ok(Category::Api, "s3:*@a.b_c"), "s3:*@a.b_c");
        assert!(err(Category::Api, "s3:GetObject@").contains("bad bucket"));
        assert!(err(Category::Api, "s3:GetObject@a/b").contains("bad bucket"));
        assert!(err(Category::Api, "s3:GetObject@a@b").contains("bad bucket"));
        assert!(err(Category::Api, &format!("s3:GetObject@{}", "b".repeat(256))).contains("bad bucket"));
        assert_eq!(ok(Category::Input, "aws:sqs"), "aws:sqs");
        assert!(err(Category::Input, "aws:smtp").contains("aws:sqs"));
    }
}
