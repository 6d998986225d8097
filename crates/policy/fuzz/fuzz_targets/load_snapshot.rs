//! Arbitrary bytes as a compiled-matcher snapshot, three ways:
//!
//! 1. as they are: `Matcher::from_snapshot` must never panic (nor read out
//!    of bounds: the target runs under ASan); a snapshot that loads must
//!    answer queries without panicking and write back exactly the bytes it
//!    was loaded from (only canonical encodings load);
//! 2. with the header resealed (body length and checksum recomputed), so
//!    that mutations of the seed snapshots get past the checksum and reach
//!    the structural checks behind it;
//! 3. as a structured policy and queries (the input of `match_queries`):
//!    the compiled matcher's snapshot must load, write back the same bytes,
//!    and answer every query as the naive `reference` matcher does.

#![no_main]

mod shared;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rampart_policy::{Access, Category, Connect, InputSource, Matcher, Proto, reseal_snapshot};

use shared::{Input, check};

const PATHS: &[&[u8]] = &[
    b"/",
    b"/var/task/index.py",
    b"/var/task/../../etc/shadow",
    b"/tmp/x.json",
    b"/tmp//a/./b",
    b"/usr/bin/git",
    b"/var/run/docker.sock",
    b"@nscd",
    b"relative",
];

const NAMES: &[&[u8]] = &[b"s3.amazonaws.com", b"EXAMPLE.com.", b"a.example.com", b"\xff"];

const IPS: &[IpAddr] = &[
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 78, 1)),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
];

/// Asks a loaded matcher a bit of everything; only panics matter here.
fn query(m: &Matcher) {
    for cat in Category::ALL {
        let _ = (m.verdict(cat, false), m.verdict(cat, true));
    }
    for path in PATHS {
        for access in [Access::R, Access::W, Access::RW] {
            let _ = m.allows_file(path, access);
        }
        let _ = (m.allows_process(path), m.allows_unix(path));
    }
    for proto in [Proto::Tcp, Proto::Udp] {
        for ip in IPS.iter().copied().map(Some).chain([None]) {
            for name in NAMES.iter().copied().map(Some).chain([None]) {
                for port in [0, 53, 443, 65535] {
                    let _ = m.allows_connect(&Connect { proto, ip, name, port });
                }
            }
        }
    }
    for (service, action) in [("s3", Some("GetObject")), ("DynamoDB", None), ("sts", Some("x")), ("", Some(""))] {
        for bucket in [None, Some("my-bucket"), Some("")] {
            let _ = m.allows_api(service, action, bucket);
        }
    }
    for src in InputSource::ALL {
        let _ = m.allows_input(src);
    }
}

fn try_load(bytes: &[u8]) {
    match Matcher::from_snapshot(bytes) {
        Ok(m) => {
            query(&m);
            assert!(m.to_snapshot() == bytes, "a loaded snapshot must write back the same bytes");
        }
        Err(e) => assert!(!e.message().is_empty()),
    }
}

fuzz_target!(|data: &[u8]| {
    try_load(data);

    if data.len() >= 32 {
        let mut sealed = data.to_vec();
        reseal_snapshot(&mut sealed);
        try_load(&sealed);
    }

    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        let policy = input.policy();
        let bytes = policy.compile().to_snapshot();
        let m = Matcher::from_snapshot(&bytes).unwrap_or_else(|e| panic!("a fresh snapshot must load: {e}"));
        assert!(m.to_snapshot() == bytes, "a fresh snapshot must write back the same bytes");
        for q in input.queries.iter().take(32) {
            check(&policy, &m, q);
        }
    }
});
