//! Arbitrary bytes as policy.json: reading, validating, compiling and
//! querying must never panic, a document must survive `to_json` →
//! `from_json` unchanged, `Policy::parse` (with its fast way for plain
//! documents) must agree with `from_json` + `validate`, and the compiled
//! matcher must agree with the reference matcher on a fixed set of queries.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use rampart_policy::{Access, Category, Connect, InputSource, Policy, PolicyDoc, Proto, Rule, reference};

const PATHS: &[&[u8]] = &[
    b"/",
    b"/var/task/index.py",
    b"/var/task/node_modules/aws-sdk/lib/core.js",
    b"/tmp/tmpa8f3k2",
    b"/tmp//x/../y/./z.json",
    b"/etc/ssl/certs/ca.pem",
    b"/etc/shadow",
    b"relative/path",
    b"/usr/bin/git",
];

const NAMES: &[&[u8]] = &[b"s3.amazonaws.com", b"DynamoDB.eu-west-1.AmazonAWS.com.", b"example.com", b"\xff\xfe"];

const IPS: &[IpAddr] = &[
    IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 78, 1)),
    IpAddr::V4(Ipv4Addr::new(52, 95, 110, 1)),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
];

const PORTS: &[u16] = &[0, 53, 443, 5432, 65535];

const APIS: &[(&str, Option<&str>)] =
    &[("s3", Some("GetObject")), ("dynamodb", Some("getitem")), ("dynamodb", None), ("sts", Some("AssumeRole"))];

fn check_matcher(policy: &Policy) {
    let m = policy.compile();
    for path in PATHS {
        for access in [Access::R, Access::W, Access::RW, Access::NONE] {
            assert_eq!(m.allows_file(path, access), reference::allows_file(policy, path, access), "file {path:?}");
        }
        assert_eq!(m.allows_process(path), reference::allows_process(policy, path), "process {path:?}");
        assert_eq!(m.allows_unix(path), reference::allows_unix(policy, path), "unix {path:?}");
    }
    assert_eq!(m.allows_unix(b"@nscd"), reference::allows_unix(policy, b"@nscd"));
    for proto in [Proto::Tcp, Proto::Udp] {
        for &port in PORTS {
            let ips = IPS.iter().copied().map(Some).chain([None]);
            for ip in ips {
                for name in NAMES.iter().copied().map(Some).chain([None]) {
                    let c = Connect { proto, ip, name, port };
                    assert_eq!(m.allows_connect(&c), reference::allows_connect(policy, &c), "{c:?}");
                }
            }
        }
    }
    for &(service, action) in APIS {
        for bucket in [None, Some("my-bucket"), Some("Logs-1"), Some("other")] {
            assert_eq!(
                m.allows_api(service, action, bucket),
                reference::allows_api(policy, service, action, bucket),
                "{service}:{action:?}@{bucket:?}"
            );
        }
    }
    for src in InputSource::ALL {
        assert_eq!(m.allows_input(src), reference::allows_input(policy, src));
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };

    if let Ok(doc) = PolicyDoc::from_json(text) {
        let json = doc.to_json();
        let again = PolicyDoc::from_json(&json).expect("to_json output must read back");
        assert_eq!(again, doc, "to_json → from_json changed the document");
        assert_eq!(again.to_json(), json, "to_json is not stable");
    }

    // The one-pass reader of plain documents agrees with the general way.
    let general = PolicyDoc::from_json(text).and_then(|d| d.validate()).map_err(|e| e.to_string());
    assert_eq!(
        Policy::parse(text).map_err(|e| e.to_string()),
        general,
        "Policy::parse and from_json + validate differ"
    );

    if let Ok(policy) = Policy::parse(text) {
        // Every rule's canonical text parses back to the same rule.
        for cat in Category::ALL {
            let texts: Vec<String> = match cat {
                Category::File => policy.file.iter().map(|r| r.to_string()).collect(),
                Category::Network => policy.network.iter().map(|r| r.to_string()).collect(),
                Category::Process => policy.process.iter().map(|r| r.to_string()).collect(),
                Category::Api => policy.api.iter().map(|r| r.to_string()).collect(),
                Category::Input => policy.input.iter().map(|r| r.to_string()).collect(),
            };
            for t in texts {
                let rule = Rule::parse(cat, &t).unwrap_or_else(|e| panic!("canonical {cat} rule {t:?}: {e}"));
                assert_eq!(rule.to_string(), t, "canonical {cat} rule text is not stable");
            }
        }
        check_matcher(&policy);
    }
});
