//! A deliberately naive matcher: a linear scan over the parsed rules with
//! the plainest possible logic. It is the oracle the compiled [`Matcher`]
//! is checked against (property tests, fuzzing) and never runs in a hook.
//!
//! [`Matcher`]: crate::Matcher

use std::net::IpAddr;

use crate::doc::Policy;
use crate::glob::match_wild;
use crate::rule::{HostPattern, NetRule, UnixPattern, canonical_ip, mask_ip};
use crate::types::{Access, InputSource};
use crate::{Connect, PATH_MAX, normalize_path};

fn normalized(path: &[u8]) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; PATH_MAX];
    let n = normalize_path(path, &mut buf)?;
    buf.truncate(n);
    Some(buf)
}

pub fn allows_file(p: &Policy, path: &[u8], access: Access) -> bool {
    let Some(path) = normalized(path) else { return false };
    let granted = p.file.iter().filter(|r| r.glob.matches(&path)).fold(Access::NONE, |acc, r| acc.union(r.access));
    access != Access::NONE && granted.covers(access)
}

pub fn allows_process(p: &Policy, path: &[u8]) -> bool {
    let Some(path) = normalized(path) else { return false };
    p.process.iter().any(|g| g.matches(&path))
}

pub fn allows_unix(p: &Policy, path: &[u8]) -> bool {
    let abstract_name = path.strip_prefix(b"@");
    let normal = normalized(path);
    p.network.iter().any(|r| match (r, abstract_name, &normal) {
        (NetRule::Unix(UnixPattern::Abstract(pat)), Some(name), _) => match_wild(pat.as_bytes(), name),
        (NetRule::Unix(UnixPattern::Path(g)), None, Some(path)) => g.matches(path),
        _ => false,
    })
}

fn name_matches(host: &HostPattern, name: &[u8]) -> bool {
    match host {
        HostPattern::Name(n) => n.as_bytes() == name,
        HostPattern::NameSuffix(suffix) => {
            name.strip_suffix(suffix.as_bytes()).is_some_and(|head| head.len() > 1 && head.ends_with(b"."))
        }
        _ => false,
    }
}

fn ip_matches(host: &HostPattern, ip: IpAddr) -> bool {
    match host {
        HostPattern::Ip(a) => *a == ip,
        HostPattern::Cidr(net, len) => net.is_ipv4() == ip.is_ipv4() && mask_ip(ip, *len) == *net,
        _ => false,
    }
}

pub fn allows_connect(p: &Policy, c: &Connect<'_>) -> bool {
    let ip = c.ip.map(canonical_ip);
    // Names are compared in ASCII lower case without one trailing dot; an
    // empty or over-long (> 253) name is no name.
    let name = c
        .name
        .map(|n| n.strip_suffix(b".").unwrap_or(n).to_ascii_lowercase())
        .filter(|n| !n.is_empty() && n.len() <= 253);
    p.network.iter().any(|r| match r {
        NetRule::Host { proto, host, ports } => {
            *proto == c.proto
                && ports.contains(c.port)
                && (matches!(host, HostPattern::Any)
                    || ip.is_some_and(|ip| ip_matches(host, ip))
                    || name.as_deref().is_some_and(|n| name_matches(host, n)))
        }
        NetRule::Unix(_) => false,
    })
}

fn wild_ci(pat: &str, text: &str) -> bool {
    match_wild(pat.to_ascii_lowercase().as_bytes(), text.to_ascii_lowercase().as_bytes())
}

pub fn allows_api(p: &Policy, service: &str, action: Option<&str>, bucket: Option<&str>) -> bool {
    // Queries longer than 256 bytes (`service:Action`, or a bucket) are
    // never allowed.
    if service.len() + action.map_or(0, |a| a.len() + 1) > 256 || bucket.is_some_and(|b| b.len() > 256) {
        return false;
    }
    p.api.iter().any(|r| {
        wild_ci(&r.service, service)
            && action.is_none_or(|a| wild_ci(&r.action, a))
            && match (&r.bucket, bucket) {
                (None, _) => true,
                (Some(pat), Some(b)) => wild_ci(pat, b),
                (Some(_), None) => action.is_none(),
            }
    })
}

pub fn allows_input(p: &Policy, src: InputSource) -> bool {
    p.input.contains(&src)
}
