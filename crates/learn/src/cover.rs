//! Does one rule allow everything another allows? Used to leave out learned
//! rules that a policy already covers and to tell a user that a rule they
//! add is already allowed.
//!
//! The answers are sound (a "yes" is always right) and complete for the
//! forms people write: a `**` covers any run of segments, a `*` segment any
//! one segment, `*.example.com` any name under it, a CIDR the addresses and
//! smaller networks inside it, a port range the ranges inside it.

use std::net::IpAddr;

use rampart_policy::{
    Access, ApiRule, FileRule, Glob, GlobSeg, HostPattern, NetRule, PolicyDoc, Rule, UnixPattern, mask_ip,
    wildcard_match,
};

/// True when every activity `b` allows is allowed by `a`.
pub fn covers(a: &Rule, b: &Rule) -> bool {
    match (a, b) {
        (Rule::File(a), Rule::File(b)) => a.access.covers(b.access) && glob_covers(&a.glob, &b.glob),
        (Rule::Network(a), Rule::Network(b)) => net_covers(a, b),
        (Rule::Process(a), Rule::Process(b)) => glob_covers(a, b),
        (Rule::Api(a), Rule::Api(b)) => api_covers(a, b),
        (Rule::Input(a), Rule::Input(b)) => a == b,
        _ => false,
    }
}

/// How a rule stands against the rules a policy already has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// The same rule (in canonical form) is there, written as this.
    Present(String),
    /// Rules already there allow all it allows (a file rule's read and
    /// write may come from two rules).
    CoveredBy(Vec<String>),
    /// It allows something new.
    New,
}

/// How `rule` (of `cat`) stands against the rules of `doc`. Rules of `doc`
/// that do not parse are ignored here (validate the document first).
pub fn coverage(doc: &PolicyDoc, rule: &Rule) -> Coverage {
    let cat = rule.category();
    let existing: Vec<(&String, Rule)> =
        doc.rules(cat).iter().filter_map(|text| Rule::parse(cat, text).ok().map(|r| (text, r))).collect();
    if let Some((text, _)) = existing.iter().find(|(_, r)| r == rule) {
        return Coverage::Present((*text).clone());
    }
    if let Some((text, _)) = existing.iter().find(|(_, r)| covers(r, rule)) {
        return Coverage::CoveredBy(vec![(*text).clone()]);
    }
    // `rw GLOB`: read from one rule, write from another.
    if let Rule::File(FileRule { access: Access::RW, glob }) = rule {
        let part = |access| {
            let want = Rule::File(FileRule { access, glob: glob.clone() });
            existing.iter().find(|(_, r)| covers(r, &want)).map(|(t, _)| (*t).clone())
        };
        if let (Some(r), Some(w)) = (part(Access::R), part(Access::W)) {
            return Coverage::CoveredBy(vec![r, w]);
        }
    }
    Coverage::New
}

/// Glob containment over segments: `**` takes any run of segments
/// (wildcards included), a wildcard segment takes one literal segment it
/// matches or (for a pure `*`) any one non-`**` segment.
pub fn glob_covers(a: &Glob, b: &Glob) -> bool {
    segs_cover(a.segments(), b.segments())
}

fn segs_cover(a: &[GlobSeg], b: &[GlobSeg]) -> bool {
    match (a.split_first(), b.split_first()) {
        (None, None) => true,
        (Some((GlobSeg::AnyDepth, a_rest)), _) => {
            segs_cover(a_rest, b) || b.split_first().is_some_and(|(_, b_rest)| segs_cover(a, b_rest))
        }
        (Some((x, a_rest)), Some((y, b_rest))) => seg_covers(x, y) && segs_cover(a_rest, b_rest),
        _ => false,
    }
}

fn seg_covers(x: &GlobSeg, y: &GlobSeg) -> bool {
    match (x, y) {
        (GlobSeg::Literal(l), GlobSeg::Literal(m)) => l == m,
        (GlobSeg::Wild(p), GlobSeg::Literal(l)) => wildcard_match(p, l),
        (GlobSeg::Wild(p), GlobSeg::Wild(q)) => p == q || all_stars(p),
        _ => false,
    }
}

/// Whether a pattern covers another pattern is checked conservatively: a
/// pattern of only `*` covers every pattern (equal ones are checked apart).
fn all_stars(p: &[u8]) -> bool {
    p.iter().all(|&c| c == b'*')
}

fn net_covers(a: &NetRule, b: &NetRule) -> bool {
    match (a, b) {
        (NetRule::Host { proto: pa, host: ha, ports: ra }, NetRule::Host { proto: pb, host: hb, ports: rb }) => {
            pa == pb && ra.lo <= rb.lo && rb.hi <= ra.hi && host_covers(ha, hb)
        }
        (NetRule::Unix(UnixPattern::Path(a)), NetRule::Unix(UnixPattern::Path(b))) => glob_covers(a, b),
        (NetRule::Unix(UnixPattern::Abstract(a)), NetRule::Unix(UnixPattern::Abstract(b))) => {
            a == b || all_stars(a.as_bytes()) || (!has_wild(b) && wildcard_match(a.as_bytes(), b.as_bytes()))
        }
        _ => false,
    }
}

fn has_wild(s: &str) -> bool {
    s.contains(['*', '?'])
}

fn host_covers(a: &HostPattern, b: &HostPattern) -> bool {
    match (a, b) {
        (HostPattern::Any, _) => true,
        (HostPattern::Name(x), HostPattern::Name(y)) => x == y,
        (HostPattern::NameSuffix(s), HostPattern::Name(n)) => under(n, s),
        (HostPattern::NameSuffix(s), HostPattern::NameSuffix(t)) => t == s || under(t, s),
        (HostPattern::Ip(x), HostPattern::Ip(y)) => x == y,
        (HostPattern::Cidr(net, len), HostPattern::Ip(ip)) => in_net(*ip, *net, *len),
        (HostPattern::Cidr(net, len), HostPattern::Cidr(net2, len2)) => len2 >= len && in_net(*net2, *net, *len),
        _ => false,
    }
}

/// `name` is one or more labels followed by `.suffix`.
fn under(name: &str, suffix: &str) -> bool {
    name.strip_suffix(suffix).is_some_and(|head| head.len() > 1 && head.ends_with('.'))
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    ip.is_ipv4() == net.is_ipv4() && mask_ip(ip, len) == net
}

fn api_covers(a: &ApiRule, b: &ApiRule) -> bool {
    let part = |p: &str, q: &str| {
        p.eq_ignore_ascii_case(q)
            || p.bytes().all(|c| c == b'*')
            || (!has_wild(q) && wildcard_match(p.to_ascii_lowercase().as_bytes(), q.to_ascii_lowercase().as_bytes()))
    };
    // A rule without a bucket allows every bucket; one with a bucket only
    // the calls on a bucket it matches.
    let bucket = match (&a.bucket, &b.bucket) {
        (None, _) => true,
        (Some(p), Some(q)) => part(p, q),
        (Some(_), None) => false,
    };
    part(&a.service, &b.service) && part(&a.action, &b.action) && bucket
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_policy::{Category, Mode};

    fn rule(cat: Category, s: &str) -> Rule {
        Rule::parse(cat, s).unwrap()
    }

    fn c(cat: Category, a: &str, b: &str) -> bool {
        covers(&rule(cat, a), &rule(cat, b))
    }

    #[test]
    fn file_globs() {
        use Category::File;
        assert!(c(File, "r /var/task/**", "r /var/task/app.py"));
        assert!(c(File, "r /var/task/**", "r /var/task/lib/*.py"));
        assert!(c(File, "r /var/task/**", "r /var/task/**"));
        assert!(c(File, "r /var/**/*.py", "r /var/task/lib/x.py"));
        assert!(c(File, "rw /tmp/*", "w /tmp/*.json"));
        assert!(c(File, "rw /tmp/*", "r /tmp/a"));
        assert!(c(File, "r /a/*/c", "r /a/b/c"));
        assert!(c(File, "r /a/x*", "r /a/xyz"));
        assert!(!c(File, "r /var/task/**", "w /var/task/app.py"));
        assert!(!c(File, "r /tmp/*", "r /tmp/a/b"));
        assert!(!c(File, "r /tmp/*", "r /tmp/**"));
        assert!(!c(File, "r /a/x*", "r /a/*"));
        assert!(!c(File, "r /a/?", "r /a/*"));
        assert!(!c(File, "r /var/task/app.py", "r /var/task/**"));
        assert!(!c(File, "r /etc/ssl/**", "r /etc/shadow"));
    }

    #[test]
    fn network() {
        use Category::Network;
        assert!(c(Network, "*.amazonaws.com:443", "dynamodb.eu-west-1.amazonaws.com:443"));
        assert!(c(Network, "*.amazonaws.com:443", "*.eu-west-1.amazonaws.com:443"));
        assert!(!c(Network, "*.amazonaws.com:443", "amazonaws.com:443"));
        assert!(!c(Network, "*.amazonaws.com:443", "udp:dynamodb.eu-west-1.amazonaws.com:443"));
        assert!(c(Network, "10.0.0.0/8:5432", "10.1.2.3:5432"));
        assert!(c(Network, "10.0.0.0/8:*", "10.1.0.0/16:1-1024"));
        assert!(!c(Network, "10.0.0.0/16:5432", "10.0.0.0/8:5432"));
        assert!(c(Network, "127.0.0.1:32768-60999", "127.0.0.1:40000"));
        assert!(!c(Network, "127.0.0.1:32768-60999", "127.0.0.1:1-40000"));
        assert!(c(Network, "*:443", "example.com:443"));
        assert!(c(Network, "[::/0]:*", "[::1]:80"));
        assert!(!c(Network, "[::/0]:*", "127.0.0.1:80"));
        assert!(c(Network, "unix:/var/run/*.sock", "unix:/var/run/docker.sock"));
        assert!(c(Network, "unix:@nscd*", "unix:@nscd-1"));
        assert!(!c(Network, "unix:@nscd-1", "unix:@nscd*"));
    }

    #[test]
    fn process_api_input() {
        assert!(c(Category::Process, "/usr/bin/*", "/usr/bin/git"));
        assert!(!c(Category::Process, "/usr/bin/git", "/usr/bin/*"));
        assert!(c(Category::Api, "s3:*", "s3:GetObject"));
        assert!(c(Category::Api, "dynamodb:Get*", "dynamodb:getitem"));
        assert!(!c(Category::Api, "dynamodb:Get*", "dynamodb:*"));
        assert!(!c(Category::Api, "s3:*", "sqs:SendMessage"));
        assert!(c(Category::Api, "s3:*", "s3:GetObject@b"));
        assert!(c(Category::Api, "s3:*@logs-*", "s3:GetObject@logs-1"));
        assert!(!c(Category::Api, "s3:*@logs-*", "s3:GetObject"));
        assert!(!c(Category::Api, "s3:*@b", "s3:*@c"));
        assert!(c(Category::Input, "aws:sqs", "aws:sqs"));
        assert!(!c(Category::Input, "aws:sqs", "aws:sns"));
    }

    #[test]
    fn coverage_in_a_document() {
        let mut doc = PolicyDoc::new(Mode::Alert);
        doc.rules_mut(Category::File).extend(["wr /tmp/x".to_string(), "r /etc/**".into(), "w /var/out/*".into()]);
        let r = |s| rule(Category::File, s);
        assert_eq!(coverage(&doc, &r("rw /tmp/x")), Coverage::Present("wr /tmp/x".into()));
        assert_eq!(coverage(&doc, &r("r /etc/ssl/**")), Coverage::CoveredBy(vec!["r /etc/**".into()]));
        assert_eq!(coverage(&doc, &r("rw /var/out/a")), Coverage::New);
        doc.rules_mut(Category::File).push("r /var/out/**".into());
        assert_eq!(
            coverage(&doc, &r("rw /var/out/a")),
            Coverage::CoveredBy(vec!["r /var/out/**".into(), "w /var/out/*".into()])
        );
        assert_eq!(coverage(&doc, &r("w /etc/passwd")), Coverage::New);
    }
}
