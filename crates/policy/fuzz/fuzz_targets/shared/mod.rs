//! What the policy fuzz targets share: fuzzer-chosen rule texts and
//! queries, built from small shared vocabularies (so rules and queries
//! often meet) plus raw arbitrary strings (so nothing is ruled out), and
//! the check that a matcher answers a query as the naive `reference`
//! matcher does.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use rampart_policy::{Access, Category, Connect, InputSource, Matcher, Mode, Policy, Proto, Rule, reference};

pub const WORDS: &[&str] = &["", "a", "b", "ab", "tmp", "var", "task", "x.json", "lib", ".", "..", "A"];
pub const NAMES: &[&str] =
    &["example.com", "a.example.com", "b.a.example.com", "amazonaws.com", "s3.amazonaws.com", "com"];
pub const SERVICES: &[&str] = &["s3", "dynamodb", "sts", "*", "s*", "dynamo*", "S3"];
pub const ACTIONS: &[&str] = &["GetItem", "getitem", "*", "Get*", "PutObject", "?etItem", "Get?tem"];
pub const BUCKETS: &[&str] = &["my-bucket", "MY-BUCKET", "logs-*", "logs-2024", "*", "a.b_c", "a*b"];

pub fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[i as usize % list.len()]
}

/// One `/`-separated part of a glob or a path.
#[derive(Arbitrary, Debug)]
pub enum Seg {
    Word(u8),
    Star,
    StarStar,
    Question,
    /// `WORD*`
    Prefix(u8),
    /// `*WORD`
    Suffix(u8),
    Raw(String),
}

impl Seg {
    pub fn push(&self, out: &mut String) {
        match self {
            Seg::Word(i) => out.push_str(pick(WORDS, *i)),
            Seg::Star => out.push('*'),
            Seg::StarStar => out.push_str("**"),
            Seg::Question => out.push('?'),
            Seg::Prefix(i) => {
                out.push_str(pick(WORDS, *i));
                out.push('*');
            }
            Seg::Suffix(i) => {
                out.push('*');
                out.push_str(pick(WORDS, *i));
            }
            Seg::Raw(s) => out.push_str(s),
        }
    }
}

/// An absolute path or glob from segments; `trailing` adds a final `/`.
#[derive(Arbitrary, Debug)]
pub struct PathText {
    pub segs: Vec<Seg>,
    pub trailing: bool,
}

impl PathText {
    pub fn text(&self) -> String {
        let mut s = String::new();
        for seg in self.segs.iter().take(8) {
            s.push('/');
            seg.push(&mut s);
        }
        if self.trailing || s.is_empty() {
            s.push('/');
        }
        s
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Ip {
    /// 10.0.a.b with small a, b: addresses that collide often.
    V4Small(u8, u8),
    V4(u32),
    /// 2001:db8::a:b
    V6Small(u8, u8),
    /// ::ffff:10.0.a.b
    Mapped(u8, u8),
    V6(u128),
}

impl Ip {
    pub fn addr(self) -> IpAddr {
        match self {
            Ip::V4Small(a, b) => IpAddr::V4(Ipv4Addr::new(10, 0, a % 4, b % 4)),
            Ip::V4(x) => IpAddr::V4(Ipv4Addr::from(x)),
            Ip::V6Small(a, b) => {
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, u16::from(a % 4), u16::from(b % 4)))
            }
            Ip::Mapped(a, b) => IpAddr::V6(Ipv4Addr::new(10, 0, a % 4, b % 4).to_ipv6_mapped()),
            Ip::V6(x) => IpAddr::V6(Ipv6Addr::from(x)),
        }
    }
}

pub fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

pub fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let len = u32::from(len % 33);
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let len = u32::from(len % 129);
            let m = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum Host {
    Any,
    Name(u8),
    Suffix(u8),
    Ip(Ip),
    /// A CIDR with its host bits cleared (so it parses).
    Cidr(Ip, u8),
    Raw(String),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Port {
    Small(u8),
    Any(u16),
    Range(u16, u16),
    Star,
}

pub fn port_value(p: u8) -> u16 {
    [0, 1, 53, 80, 443, 5432, 65534, 65535][p as usize % 8]
}

#[derive(Arbitrary, Debug)]
pub enum NetText {
    Host { proto: Option<bool>, host: Host, port: Port },
    UnixPath(PathText),
    UnixAbstract(Vec<Seg>),
    Raw(String),
}

impl NetText {
    pub fn text(&self) -> String {
        match self {
            NetText::Host { proto, host, port } => {
                let mut s = String::from(match proto {
                    None => "",
                    Some(false) => "tcp:",
                    Some(true) => "udp:",
                });
                match host {
                    Host::Any => s.push('*'),
                    Host::Name(i) => s.push_str(pick(NAMES, *i)),
                    Host::Suffix(i) => {
                        s.push_str("*.");
                        s.push_str(pick(NAMES, *i));
                    }
                    Host::Ip(ip) => s.push_str(&ip_text(ip.addr())),
                    Host::Cidr(ip, len) => {
                        let net = mask(ip.addr(), *len);
                        let len = if net.is_ipv4() { len % 33 } else { len % 129 };
                        match net {
                            IpAddr::V4(a) => s.push_str(&format!("{a}/{len}")),
                            IpAddr::V6(a) => s.push_str(&format!("[{a}/{len}]")),
                        }
                    }
                    Host::Raw(r) => s.push_str(r),
                }
                s.push(':');
                match *port {
                    Port::Small(p) => s.push_str(&port_value(p).to_string()),
                    Port::Any(p) => s.push_str(&p.to_string()),
                    Port::Range(a, b) => s.push_str(&format!("{}-{}", a.min(b), a.max(b))),
                    Port::Star => s.push('*'),
                }
                s
            }
            NetText::UnixPath(p) => format!("unix:{}", p.text()),
            NetText::UnixAbstract(segs) => {
                let mut s = String::from("unix:@");
                for seg in segs.iter().take(4) {
                    seg.push(&mut s);
                }
                s
            }
            NetText::Raw(r) => r.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum ApiText {
    Known(u8, u8, Option<u8>),
    Raw(String),
}

impl ApiText {
    pub fn text(&self) -> String {
        match self {
            ApiText::Known(s, a, None) => format!("{}:{}", pick(SERVICES, *s), pick(ACTIONS, *a)),
            ApiText::Known(s, a, Some(b)) => {
                format!("{}:{}@{}", pick(SERVICES, *s), pick(ACTIONS, *a), pick(BUCKETS, *b))
            }
            ApiText::Raw(r) => r.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum InputText {
    Known(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
pub enum RuleText {
    File { access: u8, path: PathText },
    RawFile(String),
    Network(NetText),
    Process(PathText),
    RawProcess(String),
    Api(ApiText),
    Input(InputText),
}

impl RuleText {
    pub fn parse(&self) -> Option<Rule> {
        let (cat, text) = match self {
            RuleText::File { access, path } => {
                (Category::File, format!("{} {}", ["r", "w", "rw", "wr"][*access as usize % 4], path.text()))
            }
            RuleText::RawFile(s) => (Category::File, s.clone()),
            RuleText::Network(n) => (Category::Network, n.text()),
            RuleText::Process(p) => (Category::Process, p.text()),
            RuleText::RawProcess(s) => (Category::Process, s.clone()),
            RuleText::Api(a) => (Category::Api, a.text()),
            RuleText::Input(InputText::Known(i)) => {
                (Category::Input, InputSource::ALL[*i as usize % InputSource::ALL.len()].as_str().to_owned())
            }
            RuleText::Input(InputText::Raw(s)) => (Category::Input, s.clone()),
        };
        Rule::parse(cat, &text).ok()
    }
}

#[derive(Arbitrary, Debug)]
pub enum Query {
    File {
        path: PathText,
        access: u8,
    },
    RawFile {
        path: Vec<u8>,
        access: u8,
    },
    Process(PathText),
    RawProcess(Vec<u8>),
    Connect {
        udp: bool,
        ip: Option<Ip>,
        name: Option<u8>,
        upper: bool,
        dot: bool,
        raw_name: Option<Vec<u8>>,
        port: Port,
    },
    Unix(PathText),
    UnixAbstract(Vec<Seg>),
    RawUnix(Vec<u8>),
    Api {
        service: u8,
        action: Option<u8>,
        bucket: Option<u8>,
    },
    RawApi {
        service: String,
        action: Option<String>,
        bucket: Option<String>,
    },
    Input(u8),
}

#[derive(Arbitrary, Debug)]
pub struct Input {
    pub rules: Vec<RuleText>,
    pub queries: Vec<Query>,
}

pub fn access(a: u8) -> Access {
    [Access::R, Access::W, Access::RW, Access::NONE][a as usize % 4]
}

pub fn check(policy: &Policy, m: &Matcher, q: &Query) {
    match q {
        Query::File { path, access: a } => {
            let path = path.text();
            let (got, want) = (
                m.allows_file(path.as_bytes(), access(*a)),
                reference::allows_file(policy, path.as_bytes(), access(*a)),
            );
            assert_eq!(got, want, "allows_file({path:?}, {:?})", access(*a));
        }
        Query::RawFile { path, access: a } => {
            assert_eq!(m.allows_file(path, access(*a)), reference::allows_file(policy, path, access(*a)), "{path:?}");
        }
        Query::Process(path) => {
            let path = path.text();
            assert_eq!(
                m.allows_process(path.as_bytes()),
                reference::allows_process(policy, path.as_bytes()),
                "allows_process({path:?})"
            );
        }
        Query::RawProcess(path) => {
            assert_eq!(m.allows_process(path), reference::allows_process(policy, path), "{path:?}");
        }
        Query::Connect { udp, ip, name, upper, dot, raw_name, port } => {
            let mut name_text = name.map(|i| pick(NAMES, i).to_owned());
            if let Some(n) = &mut name_text {
                if *upper {
                    *n = n.to_ascii_uppercase();
                }
                if *dot {
                    n.push('.');
                }
            }
            let name_bytes: Option<&[u8]> = match (raw_name, &name_text) {
                (Some(raw), _) => Some(raw),
                (None, Some(n)) => Some(n.as_bytes()),
                (None, None) => None,
            };
            let port = match *port {
                Port::Small(p) => port_value(p),
                Port::Any(p) => p,
                Port::Range(a, _) => a,
                Port::Star => 0,
            };
            let c = Connect {
                proto: if *udp { Proto::Udp } else { Proto::Tcp },
                ip: ip.map(Ip::addr),
                name: name_bytes,
                port,
            };
            assert_eq!(m.allows_connect(&c), reference::allows_connect(policy, &c), "allows_connect({c:?})");
        }
        Query::Unix(path) => {
            let path = path.text();
            assert_eq!(
                m.allows_unix(path.as_bytes()),
                reference::allows_unix(policy, path.as_bytes()),
                "allows_unix({path:?})"
            );
        }
        Query::UnixAbstract(segs) => {
            let mut s = String::from("@");
            for seg in segs.iter().take(4) {
                seg.push(&mut s);
            }
            assert_eq!(m.allows_unix(s.as_bytes()), reference::allows_unix(policy, s.as_bytes()), "allows_unix({s:?})");
        }
        Query::RawUnix(path) => {
            assert_eq!(m.allows_unix(path), reference::allows_unix(policy, path), "{path:?}");
        }
        Query::Api { service, action, bucket } => {
            let (s, a) = (pick(SERVICES, *service), action.map(|a| pick(ACTIONS, a)));
            let b = bucket.map(|b| pick(BUCKETS, b));
            assert_eq!(
                m.allows_api(s, a, b),
                reference::allows_api(policy, s, a, b),
                "allows_api({s:?}, {a:?}, {b:?})"
            );
        }
        Query::RawApi { service, action, bucket } => {
            let (a, b) = (action.as_deref(), bucket.as_deref());
            assert_eq!(
                m.allows_api(service, a, b),
                reference::allows_api(policy, service, a, b),
                "{service:?} {a:?} {b:?}"
            );
        }
        Query::Input(i) => {
            let src = InputSource::ALL[*i as usize % InputSource::ALL.len()];
            assert_eq!(m.allows_input(src), reference::allows_input(policy, src), "allows_input({src})");
        }
    }
}

impl Input {
    /// The policy of the rules that parse (at most 32 rules looked at).
    pub fn policy(&self) -> Policy {
        let mut policy = Policy::empty(Mode::Block);
        for rule in self.rules.iter().take(32) {
            if let Some(rule) = rule.parse() {
                policy.push(rule);
            }
        }
        policy
    }
}
