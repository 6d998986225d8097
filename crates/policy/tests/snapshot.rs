//! Snapshots of the compiled matcher: a loaded snapshot answers every query
//! exactly as the matcher that wrote it (and as the reference matcher), the
//! same policy always gives the same bytes, and malformed snapshots
//! (truncated, corrupted, another version, hostile) are errors, never
//! panics.

use std::fs;
use std::net::IpAddr;
use std::path::Path;

use proptest::prelude::*;
use rampart_policy::{
    Access, Category, Connect, InputSource, Matcher, Mode, Policy, Proto, SNAPSHOT_VERSION, reference, reseal_snapshot,
};

mod common;

use common::*;

/// Every kind of rule the indexes hold: literal and wildcard paths, `**`,
/// names, suffixes, IPv4/IPv6 addresses and networks at several prefix
/// lengths, `*` hosts, Unix paths and abstract names, exact, wildcard-action
/// and wildcard-service api rules, api rules with a bucket, input sources.
const SAMPLE: &str = r#"{
  "version": 1,
  "mode": "block",
  "block": ["file", "network", "api"],
  "allow": {
    "file": ["r /var/task/**", "rw /tmp/*", "r /etc/ssl/certs/*.pem", "w /var/log/app.log", "r /a/**/b/?.py", "r /"],
    "network": ["*.amazonaws.com:443", "example.com:80", "10.0.0.0/8:5432", "10.1.2.3:22", "udp:169.254.78.1:53",
                "[2001:db8::/32]:443", "[::1]:8080-8090", "udp:*:53", "unix:/var/run/*.sock", "unix:@nscd*"],
    "process": ["/usr/bin/git", "/var/task/bin/*", "/opt/**/run"],
    "api": ["dynamodb:GetItem", "s3:*", "sqs:Send*", "s*:List*", "*:Describe*", "kms:Decrypt@x",
            "s3x:GetObject@my-bucket", "s3x:Put*@logs-*"],
    "input": ["aws:sqs", "aws:apigateway"]
  }
}"#;

/// One rule of each category: the second fuzz seed.
const SMALL: &str = r#"{"version": 1, "mode": "alert", "block": [], "allow": {"file": ["rw /tmp/*"],
  "network": ["udp:10.0.0.0/8:53", "unix:@a*"], "process": ["/bin/sh"], "api": ["s3:Get*"], "input": ["direct"]}}"#;

fn sample() -> Policy {
    Policy::parse(SAMPLE).unwrap()
}

const PATHS: &[&str] = &[
    "/",
    "/var/task",
    "/var/task/app.py",
    "/var/task/../../etc/shadow",
    "/tmp/x",
    "/tmp/x/y",
    "/etc/ssl/certs/ca.pem",
    "/var/log/app.log",
    "/a/b/c.py",
    "/a/x/y/b/z.py",
    "/usr/bin/git",
    "/var/task/bin/tool",
    "/opt/a/b/run",
    "/var/run/docker.sock",
    "@nscd",
    "@nscd-x",
    "@other",
    "relative",
];

const HOSTS: &[(Option<&str>, Option<&str>)] = &[
    (Some("52.95.110.1"), Some("s3.eu-west-1.amazonaws.com")),
    (Some("52.95.110.1"), Some("AMAZONAWS.COM.")),
    (None, Some("example.com")),
    (Some("10.9.8.7"), None),
    (Some("::ffff:10.1.2.3"), None),
    (Some("169.254.78.1"), None),
    (Some("2001:db8::5"), None),
    (Some("::1"), None),
    (Some("192.0.2.1"), Some("example.org")),
    (None, None),
];

const PORTS: &[u16] = &[0, 22, 53, 80, 443, 5432, 8085, 65535];

const APIS: &[(&str, Option<&str>, Option<&str>)] = &[
    ("s3x", Some("GetObject"), Some("my-bucket")),
    ("s3x", Some("GetObject"), Some("other")),
    ("s3x", Some("GetObject"), None),
    ("s3x", Some("PutObject"), Some("logs-1")),
    ("s3x", Some("PutObject"), Some("My-Bucket")),
    ("S3X", None, Some("LOGS-2")),
    ("s3x", None, Some("other")),
    ("s3x", None, None),
    ("kms", Some("Decrypt"), None),
    ("dynamodb", Some("GetItem"), None),
    ("DynamoDB", Some("getitem"), None),
    ("dynamodb", Some("PutItem"), None),
    ("dynamodb", None, None),
    ("s3", Some("PutObject"), None),
    ("sqs", Some("SendMessage"), None),
    ("sns", Some("ListTopics"), None),
    ("iam", Some("DescribeX"), None),
    ("iam", None, None),
    ("sts", None, None),
];

/// Asks `a` and `b` everything the fixed query lists cover; they must agree
/// (and agree with the reference when `policy` is given).
fn assert_same_answers(a: &Matcher, b: &Matcher, policy: Option<&Policy>) {
    assert_eq!(a.mode(), b.mode());
    assert_eq!(a.block_set(), b.block_set());
    for cat in Category::ALL {
        for allowed in [false, true] {
            assert_eq!(a.verdict(cat, allowed), b.verdict(cat, allowed));
        }
    }
    for path in PATHS.iter().map(|p| p.as_bytes()) {
        for access in [Access::R, Access::W, Access::RW, Access::NONE] {
            let got = a.allows_file(path, access);
            assert_eq!(got, b.allows_file(path, access), "file {path:?} {access:?}");
            if let Some(p) = policy {
                assert_eq!(got, reference::allows_file(p, path, access), "file {path:?} {access:?}");
            }
        }
        assert_eq!(a.allows_process(path), b.allows_process(path), "process {path:?}");
        assert_eq!(a.allows_unix(path), b.allows_unix(path), "unix {path:?}");
        if let Some(p) = policy {
            assert_eq!(a.allows_process(path), reference::allows_process(p, path));
            assert_eq!(a.allows_unix(path), reference::allows_unix(p, path));
        }
    }
    for &(ip, name) in HOSTS {
        for &port in PORTS {
            for proto in [Proto::Tcp, Proto::Udp] {
                let c = Connect { proto, ip: ip.map(|i| i.parse().unwrap()), name: name.map(str::as_bytes), port };
                assert_eq!(a.allows_connect(&c), b.allows_connect(&c), "{c:?}");
                if let Some(p) = policy {
                    assert_eq!(a.allows_connect(&c), reference::allows_connect(p, &c), "{c:?}");
                }
            }
        }
    }
    for &(service, action, bucket) in APIS {
        assert_eq!(
            a.allows_api(service, action, bucket),
            b.allows_api(service, action, bucket),
            "{service}:{action:?}"
        );
        if let Some(p) = policy {
            assert_eq!(a.allows_api(service, action, bucket), reference::allows_api(p, service, action, bucket));
        }
    }
    for src in InputSource::ALL {
        assert_eq!(a.allows_input(src), b.allows_input(src), "{src}");
    }
}

#[test]
fn sample_round_trips() {
    let p = sample();
    let m = p.compile();
    let bytes = m.to_snapshot();
    let loaded = Matcher::from_snapshot(&bytes).unwrap();
    assert_same_answers(&loaded, &m, Some(&p));
    assert_eq!(loaded.to_snapshot(), bytes, "a loaded matcher writes the snapshot it was loaded from");
    // The sample exercises both sides of every index.
    assert!(loaded.allows_file(b"/var/task/app.py", Access::R) && !loaded.allows_file(b"/etc/shadow", Access::R));
    assert!(loaded.allows_unix(b"/var/run/docker.sock") && loaded.allows_unix(b"@nscd-x"));
    assert!(loaded.allows_api("S3", Some("GetObject"), None) && loaded.allows_api("iam", Some("DescribeRoles"), None));
    assert!(loaded.allows_input(InputSource::Sqs) && !loaded.allows_input(InputSource::Direct));
}

#[test]
fn empty_policies_and_every_mode_round_trip() {
    for mode in [Mode::Off, Mode::Profile, Mode::Alert, Mode::Block] {
        for p in [Policy::empty(Mode::Profile), sample()] {
            let m = p.compile().with_mode(mode);
            let loaded = Matcher::from_snapshot(&m.to_snapshot()).unwrap();
            assert_eq!(loaded.mode(), mode);
            assert_same_answers(&loaded, &m, Some(&p));
        }
    }
}

#[test]
fn same_policy_same_bytes() {
    // Compiled twice (hash maps seeded differently each time), parsed twice.
    let a = sample().compile().to_snapshot();
    for _ in 0..4 {
        assert_eq!(sample().compile().to_snapshot(), a);
    }
    assert_eq!(Policy::parse(SAMPLE).unwrap().compile().to_snapshot(), a);
    // Something else gives other bytes.
    assert_ne!(sample().compile().with_mode(Mode::Alert).to_snapshot(), a);
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = sample().compile().to_snapshot();
    for n in 0..bytes.len() {
        let err = Matcher::from_snapshot(&bytes[..n]).expect_err("a truncated snapshot must not load");
        assert!(err.message().contains("truncated"), "{n} bytes: {err}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Matcher::from_snapshot(&longer).unwrap_err().message().contains("trailing"));
}

#[test]
fn every_single_byte_flip_is_an_error() {
    let bytes = sample().compile().to_snapshot();
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x10, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            assert!(Matcher::from_snapshot(&b).is_err(), "flip {mask:#x} at byte {i} loaded");
        }
    }
}

#[test]
fn corrupted_bodies_with_a_valid_checksum_fail_the_structural_checks_or_stay_safe() {
    // Resealed after the flip, so the checksum passes and only the
    // structural checks stand between a corrupted body and the queries.
    let bytes = sample().compile().to_snapshot();
    let (mut refused, mut loaded) = (0, 0);
    for i in 32..bytes.len() {
        for mask in [0x01u8, 0x02, 0x04, 0x10, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            reseal_snapshot(&mut b);
            match Matcher::from_snapshot(&b) {
                Err(_) => refused += 1,
                Ok(m) => {
                    loaded += 1;
                    // Queries must not panic; whatever loads writes back
                    // byte for byte (only canonical encodings load).
                    assert_same_answers(&m, &m.clone(), None);
                    assert_eq!(m.to_snapshot(), b, "flip {mask:#x} at byte {i}");
                }
            }
        }
    }
    // Most flips hit lengths, offsets, spans or tags; the rest change a
    // key byte or a port, which is still a well-formed matcher.
    eprintln!("resealed flips: {refused} refused, {loaded} loaded");
    assert!(refused > loaded, "refused {refused}, loaded {loaded}");
}

#[test]
fn a_wrong_version_says_so() {
    let mut bytes = sample().compile().to_snapshot();
    bytes[8..12].copy_from_slice(&(SNAPSHOT_VERSION + 1).to_le_bytes());
    let err = Matcher::from_snapshot(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid policy snapshot: unsupported snapshot format version {}; this rampart reads version {SNAPSHOT_VERSION}",
            SNAPSHOT_VERSION + 1
        )
    );
}

#[test]
fn other_bytes_are_not_snapshots() {
    for junk in [&b""[..], b"{\"version\":1}", &[0u8; 64], SAMPLE.as_bytes()] {
        assert!(Matcher::from_snapshot(junk).is_err());
    }
    // A valid header over garbage: the structural checks refuse it.
    let mut b = sample().compile().to_snapshot();
    b.truncate(32);
    b.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    reseal_snapshot(&mut b);
    assert!(Matcher::from_snapshot(&b).is_err());
}

/// The seeds of the `load_snapshot` fuzz target are snapshots of the two
/// policies above in the current format; `RAMPART_WRITE_SEEDS=1` rewrites
/// them after a format change.
#[test]
fn fuzz_seeds_are_current_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/load_snapshot");
    for (name, text) in [("sample.snap", SAMPLE), ("small.snap", SMALL)] {
        let bytes = Policy::parse(text).unwrap().compile().to_snapshot();
        let path = dir.join(name);
        if std::env::var_os("RAMPART_WRITE_SEEDS").is_some() {
            fs::create_dir_all(&dir).unwrap();
            fs::write(&path, &bytes).unwrap();
        }
        let seed = fs::read(&path).unwrap_or_default();
        assert!(
            seed == bytes,
            "{} is not the current snapshot of its policy: rewrite it with \
             RAMPART_WRITE_SEEDS=1 cargo test -p rampart-policy --test snapshot fuzz_seeds",
            path.display()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// For random policies: the same bytes from two compiles, and a loaded
    /// snapshot that answers random queries like the compiled matcher and
    /// the reference, and writes the same bytes back.
    #[test]
    fn loaded_snapshots_agree(
        p in policy(),
        mode in prop::sample::select(&[Mode::Off, Mode::Profile, Mode::Alert, Mode::Block][..]),
        paths in prop::collection::vec(query_path(), 1..8),
        ip in prop::option::of(prop::sample::select(IPS)),
        name in prop::option::of(prop_oneof![
            prop::sample::select(NAMES).prop_map(str::to_owned),
            prop::sample::select(NAMES).prop_map(|n| n.to_uppercase() + "."),
            "[a-z.]{0,10}",
        ]),
        port in prop_oneof![Just(0u16), Just(53), Just(443), Just(1024), Just(65535), any::<u16>()],
        udp in any::<bool>(),
        abstract_name in "@[ab]{0,3}",
        service in prop::sample::select(&["s3", "S3", "dynamodb", "sts", "iam", ""][..]),
        action in prop::option::of(prop::sample::select(&["GetObject", "getobject", "PutItem", "GetItem", "List", ""][..])),
        bucket in prop::option::of(prop::sample::select(&["my-bucket", "logs-1", "axb", ""][..])),
    ) {
        let m = p.compile().with_mode(mode);
        let bytes = m.to_snapshot();
        prop_assert_eq!(&p.compile().with_mode(mode).to_snapshot(), &bytes, "two compiles, two snapshots");
        let l = Matcher::from_snapshot(&bytes).unwrap();
        prop_assert_eq!(&l.to_snapshot(), &bytes);
        prop_assert_eq!(l.mode(), mode);
        prop_assert_eq!(l.block_set(), m.block_set());
        for path in &paths {
            let path = path.as_bytes();
            for access in [Access::R, Access::W, Access::RW, Access::NONE] {
                prop_assert_eq!(l.allows_file(path, access), m.allows_file(path, access));
                prop_assert_eq!(l.allows_file(path, access), reference::allows_file(&p, path, access));
            }
            prop_assert_eq!(l.allows_process(path), reference::allows_process(&p, path));
            prop_assert_eq!(l.allows_unix(path), reference::allows_unix(&p, path));
        }
        let c = Connect {
            proto: if udp { Proto::Udp } else { Proto::Tcp },
            ip: ip.map(|i| i.parse::<IpAddr>().unwrap()),
            name: name.as_deref().map(str::as_bytes),
            port,
        };
        prop_assert_eq!(l.allows_connect(&c), m.allows_connect(&c));
        prop_assert_eq!(l.allows_connect(&c), reference::allows_connect(&p, &c), "{:?}", c);
        prop_assert_eq!(l.allows_unix(abstract_name.as_bytes()), reference::allows_unix(&p, abstract_name.as_bytes()));
        prop_assert_eq!(l.allows_api(service, action, bucket), reference::allows_api(&p, service, action, bucket));
        for src in InputSource::ALL {
            prop_assert_eq!(l.allows_input(src), reference::allows_input(&p, src));
        }
        assert_same_answers(&l, &m, Some(&p));
    }
}
