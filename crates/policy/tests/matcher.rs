//! The compiled matcher, one rule form at a time, and its edge cases.

use std::net::IpAddr;

use rampart_policy::{Access, Category, Connect, InputSource, Matcher, Mode, Policy, Proto, Verdict};

fn policy(cat: &str, rules: &[&str]) -> Matcher {
    let list: Vec<String> = rules.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
    let text = format!(r#"{{"version":1,"mode":"block","allow":{{"{cat}":[{}]}}}}"#, list.join(","));
    Policy::parse(&text).unwrap_or_else(|e| panic!("{e}")).compile()
}

fn tcp<'a>(ip: &str, name: Option<&'a str>, port: u16) -> Connect<'a> {
    Connect { proto: Proto::Tcp, ip: Some(ip.parse::<IpAddr>().unwrap()), name: name.map(str::as_bytes), port }
}

#[test]
fn file_access_kinds() {
    let m = policy("file", &["r /var/task/**", "rw /tmp/*", "w /var/log/app.log", "r /var/log/app.log"]);
    assert!(m.allows_file(b"/var/task/app.py", Access::R));
    assert!(!m.allows_file(b"/var/task/app.py", Access::W));
    assert!(!m.allows_file(b"/var/task/app.py", Access::RW));
    assert!(m.allows_file(b"/tmp/x", Access::RW));
    assert!(!m.allows_file(b"/tmp/x/y", Access::R));
    // Read and write granted by two rules add up.
    assert!(m.allows_file(b"/var/log/app.log", Access::RW));
    assert!(!m.allows_file(b"/etc/shadow", Access::R));
    assert!(!m.allows_file(b"/var/task/app.py", Access::NONE));
}

#[test]
fn file_paths_are_normalised_before_matching() {
    let m = policy("file", &["r /var/task/**", "r /etc/hosts"]);
    assert!(m.allows_file(b"/etc//hosts", Access::R));
    assert!(m.allows_file(b"/etc/hosts/", Access::R));
    assert!(m.allows_file(b"/etc/./hosts", Access::R));
    assert!(m.allows_file(b"/var/task/a/../b", Access::R));
    // `..` cannot climb out of an allowed tree.
    assert!(!m.allows_file(b"/var/task/../../etc/shadow", Access::R));
    assert!(!m.allows_file(b"/var/task/..", Access::R));
    // Relative paths name nothing the matcher can check.
    assert!(!m.allows_file(b"var/task/a", Access::R));
    assert!(!m.allows_file(b"", Access::R));
    let long = format!("/var/task/{}", "a/".repeat(3000));
    assert!(!m.allows_file(long.as_bytes(), Access::R), "paths over PATH_MAX are never allowed");
}

#[test]
fn double_star_positions() {
    let m = policy("file", &["r /**/secret.txt", "r /opt/**/lib/*.so", "r /srv/**"]);
    assert!(m.allows_file(b"/secret.txt", Access::R));
    assert!(m.allows_file(b"/a/b/c/secret.txt", Access::R));
    assert!(!m.allows_file(b"/a/b/c/secret.txt.bak", Access::R));
    assert!(m.allows_file(b"/opt/lib/x.so", Access::R));
    assert!(m.allows_file(b"/opt/a/b/lib/x.so", Access::R));
    assert!(!m.allows_file(b"/opt/a/b/lib/x.so.1", Access::R));
    assert!(m.allows_file(b"/srv", Access::R));
    assert!(m.allows_file(b"/srv/a/b/c", Access::R));
    assert!(!m.allows_file(b"/srvx", Access::R));
    let root = policy("file", &["r /**"]);
    assert!(root.allows_file(b"/", Access::R));
    assert!(root.allows_file(b"/anything/at/all", Access::R));
    let only_root = policy("file", &["r /"]);
    assert!(only_root.allows_file(b"/", Access::R));
    assert!(!only_root.allows_file(b"/etc", Access::R));
}

#[test]
fn question_mark_and_star() {
    let m = policy("file", &["r /data/part-?.csv", "r /data/*/index.json", "r /logs/*.log"]);
    assert!(m.allows_file(b"/data/part-1.csv", Access::R));
    assert!(!m.allows_file(b"/data/part-12.csv", Access::R));
    assert!(m.allows_file(b"/data/x/index.json", Access::R));
    assert!(!m.allows_file(b"/data/x/y/index.json", Access::R));
    assert!(m.allows_file(b"/logs/.log", Access::R));
    assert!(!m.allows_file(b"/logs/a/b.log", Access::R));
}

#[test]
fn non_utf8_paths() {
    let m = policy("file", &["r /tmp/*"]);
    assert!(m.allows_file(b"/tmp/\xff\xfe", Access::R));
    assert!(!m.allows_file(b"/etc/\xff", Access::R));
}

#[test]
fn empty_lists_allow_nothing() {
    let m = Policy::parse(r#"{"version":1,"mode":"block"}"#).unwrap().compile();
    assert!(!m.allows_file(b"/", Access::R));
    assert!(!m.allows_process(b"/bin/sh"));
    assert!(!m.allows_connect(&tcp("127.0.0.1", Some("localhost"), 80)));
    assert!(!m.allows_unix(b"/run/x.sock"));
    assert!(!m.allows_api("s3", None, None));
    assert!(!m.allows_input(InputSource::Direct));
}

#[test]
fn process_globs() {
    let m = policy("process", &["/usr/bin/git", "/var/task/bin/*"]);
    assert!(m.allows_process(b"/usr/bin/git"));
    assert!(m.allows_process(b"/usr//bin/git"));
    assert!(m.allows_process(b"/var/task/bin/tool"));
    assert!(!m.allows_process(b"/var/task/bin/sub/tool"));
    assert!(!m.allows_process(b"/bin/sh"));
    assert!(!m.allows_process(b"git"));
}

#[test]
fn dns_names_and_wildcards() {
    let m = policy("network", &["*.amazonaws.com:443", "api.example.com:80-81", "udp:dns.internal:53"]);
    let ip = "52.1.2.3";
    assert!(m.allows_connect(&tcp(ip, Some("dynamodb.eu-west-1.amazonaws.com"), 443)));
    assert!(m.allows_connect(&tcp(ip, Some("S3.AmazonAWS.com."), 443)));
    assert!(!m.allows_connect(&tcp(ip, Some("amazonaws.com"), 443)), "*. needs at least one label");
    assert!(!m.allows_connect(&tcp(ip, Some("evilamazonaws.com"), 443)));
    assert!(!m.allows_connect(&tcp(ip, Some("s3.amazonaws.com.evil.io"), 443)));
    assert!(!m.allows_connect(&tcp(ip, Some("s3.amazonaws.com"), 80)));
    assert!(!m.allows_connect(&tcp(ip, None, 443)), "a name rule needs the name");
    assert!(m.allows_connect(&tcp(ip, Some("api.example.com"), 81)));
    assert!(!m.allows_connect(&tcp(ip, Some("api.example.com"), 82)));
    assert!(!m.allows_connect(&tcp(ip, Some("x.api.example.com"), 80)));
    let dns = Connect { proto: Proto::Udp, ip: None, name: Some(b"dns.internal"), port: 53 };
    assert!(m.allows_connect(&dns));
    assert!(!m.allows_connect(&Connect { proto: Proto::Tcp, ..dns }), "udp rules do not allow tcp");
}

#[test]
fn addresses_cidrs_and_mapped_ipv6() {
    let m =
        policy("network", &["10.0.0.0/8:5432", "192.168.1.10:22", "[::1]:8080", "[2001:db8::/32]:*", "0.0.0.0/0:9999"]);
    assert!(m.allows_connect(&tcp("10.200.3.4", None, 5432)));
    assert!(!m.allows_connect(&tcp("11.0.0.1", None, 5432)));
    assert!(m.allows_connect(&tcp("::ffff:10.1.1.1", None, 5432)), "IPv4-mapped IPv6 is IPv4");
    assert!(m.allows_connect(&tcp("192.168.1.10", None, 22)));
    assert!(!m.allows_connect(&tcp("192.168.1.11", None, 22)));
    assert!(m.allows_connect(&tcp("::1", None, 8080)));
    assert!(!m.allows_connect(&tcp("127.0.0.1", None, 8080)), "::1 is not 127.0.0.1");
    assert!(m.allows_connect(&tcp("2001:db8:ffff::1", None, 1)));
    assert!(!m.allows_connect(&tcp("2001:db9::1", None, 1)));
    assert!(m.allows_connect(&tcp("8.8.8.8", None, 9999)));
    assert!(!m.allows_connect(&tcp("::2", None, 9999)), "0.0.0.0/0 is IPv4 only");
}

#[test]
fn port_edges() {
    let m = policy("network", &["a.example:0", "b.example:65535", "c.example:*", "d.example:1000-2000"]);
    let q = |name: &'static str, port| m.allows_connect(&tcp("1.1.1.1", Some(name), port));
    assert!(q("a.example", 0) && !q("a.example", 1));
    assert!(q("b.example", 65535) && !q("b.example", 65534));
    assert!(q("c.example", 0) && q("c.example", 65535));
    assert!(q("d.example", 1000) && q("d.example", 2000));
    assert!(!q("d.example", 999) && !q("d.example", 2001));
}

#[test]
fn any_host() {
    let m = policy("network", &["*:443"]);
    assert!(m.allows_connect(&tcp("1.2.3.4", None, 443)));
    assert!(m.allows_connect(&Connect { proto: Proto::Tcp, ip: None, name: Some(b"x"), port: 443 }));
    assert!(!m.allows_connect(&tcp("1.2.3.4", None, 80)));
}

#[test]
fn unix_sockets() {
    let m = policy("network", &["unix:/var/run/*.sock", "unix:@nscd*"]);
    assert!(m.allows_unix(b"/var/run/docker.sock"));
    assert!(m.allows_unix(b"/var//run/docker.sock"));
    assert!(!m.allows_unix(b"/var/run/x/docker.sock"));
    assert!(m.allows_unix(b"@nscd-socket"));
    assert!(!m.allows_unix(b"@other"));
    assert!(!m.allows_unix(b"relative.sock"));
}

#[test]
fn api_actions() {
    let m = policy("api", &["dynamodb:GetItem", "s3:Get*", "sts:*", "*:Describe*"]);
    assert!(m.allows_api("dynamodb", Some("GetItem"), None));
    assert!(m.allows_api("DynamoDB", Some("getitem"), None), "IAM names ignore case");
    assert!(!m.allows_api("dynamodb", Some("PutItem"), None));
    assert!(m.allows_api("s3", Some("GetObject"), None));
    assert!(!m.allows_api("s3", Some("PutObject"), None));
    assert!(m.allows_api("sts", Some("AssumeRole"), None));
    assert!(m.allows_api("ec2", Some("DescribeInstances"), None));
    assert!(!m.allows_api("ec2", Some("RunInstances"), None));
    // Service-level: any rule for the service allows it.
    assert!(m.allows_api("dynamodb", None, None));
    assert!(m.allows_api("ec2", None, None), "a wildcard service rule names every service");
    let narrow = policy("api", &["dynamodb:GetItem"]);
    assert!(!narrow.allows_api("iam", None, None));
    assert!(!narrow.allows_api(&"x".repeat(300), None, None));
}

#[test]
fn api_buckets() {
    let m = policy("api", &["s3:GetObject@my-bucket", "s3:*@logs-*", "dynamodb:GetItem", "s3:ListBuckets"]);
    // A rule with a bucket: only that bucket (any case: host names are DNS).
    assert!(m.allows_api("s3", Some("GetObject"), Some("my-bucket")));
    assert!(m.allows_api("s3", Some("getobject"), Some("My-Bucket")));
    assert!(!m.allows_api("s3", Some("GetObject"), Some("other-bucket")));
    assert!(!m.allows_api("s3", Some("PutObject"), Some("my-bucket")));
    assert!(m.allows_api("s3", Some("PutObject"), Some("logs-2024")));
    assert!(!m.allows_api("s3", Some("PutObject"), Some("xlogs-2024")));
    // An action-level call without a bucket: only rules without one.
    assert!(!m.allows_api("s3", Some("GetObject"), None));
    assert!(m.allows_api("s3", Some("ListBuckets"), None));
    // A rule without a bucket allows the call on any bucket.
    assert!(m.allows_api("s3", Some("ListBuckets"), Some("anything")));
    assert!(m.allows_api("dynamodb", Some("GetItem"), Some("x")));
    // Service level: any rule of the service for that bucket; with no
    // known bucket (path-style), any rule of the service.
    assert!(m.allows_api("s3", None, Some("my-bucket")));
    assert!(m.allows_api("s3", None, Some("logs-1")));
    assert!(m.allows_api("s3", None, Some("other")), "s3:ListBuckets names no bucket: any bucket");
    assert!(m.allows_api("s3", None, None));
    let only_bucket = policy("api", &["s3:GetObject@my-bucket"]);
    assert!(only_bucket.allows_api("s3", None, Some("my-bucket")));
    assert!(!only_bucket.allows_api("s3", None, Some("other")));
    assert!(only_bucket.allows_api("s3", None, None), "path-style: the bucket is not known");
    assert!(!only_bucket.allows_api("dynamodb", None, None));
    assert!(!only_bucket.allows_api("s3", Some("GetObject"), Some(&"b".repeat(300))));
}

#[test]
fn inputs() {
    let m = policy("input", &["aws:sqs", "direct"]);
    assert!(m.allows_input(InputSource::Sqs));
    assert!(m.allows_input(InputSource::Direct));
    assert!(!m.allows_input(InputSource::Sns));
}

#[test]
fn verdicts_follow_mode_and_block_list() {
    let p = Policy::parse(r#"{"version":1,"mode":"block","block":["file"]}"#).unwrap();
    let m = p.compile();
    assert_eq!(m.verdict(Category::File, true), Verdict::Allow);
    assert_eq!(m.verdict(Category::File, false), Verdict::Block);
    assert_eq!(m.verdict(Category::Network, false), Verdict::Alert, "not in block list: alert only");
    let alert = p.compile().with_mode(Mode::Alert);
    assert_eq!(alert.verdict(Category::File, false), Verdict::Alert);
    assert_eq!(alert.verdict(Category::File, true), Verdict::Allow);
    let profile = p.compile().with_mode(Mode::Profile);
    assert_eq!(profile.verdict(Category::File, true), Verdict::Profile);
    assert_eq!(profile.verdict(Category::File, false), Verdict::Profile);
    let off = p.compile().with_mode(Mode::Off);
    assert_eq!(off.verdict(Category::File, false), Verdict::Allow);
}
