//! Property tests: the compiled matcher answers exactly as the naive
//! reference matcher does, for random policies and random queries drawn
//! from a small shared vocabulary (so that hits, near misses and
//! overlapping rules are common, not just random non-matches).

use std::net::IpAddr;

use proptest::prelude::*;
use rampart_policy::{Access, Category, Connect, InputSource, Policy, Proto, Rule, reference};

const SEGS: &[&str] = &["a", "b", "ab", "var", "task", "x.py", ".", "..", "", "é", "a.b"];
const GLOB_SEGS: &[&str] = &["a", "b", "ab", "var", "task", "x.py", "*", "**", "?", "a*", "*.py", "?b", "é", "*b*"];

fn path(segs: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    (prop::collection::vec(prop::sample::select(segs), 0..max), any::<bool>())
        .prop_map(|(v, trailing)| format!("/{}{}", v.join("/"), if trailing { "/" } else { "" }))
}

fn glob() -> impl Strategy<Value = String> {
    path(GLOB_SEGS, 5)
}

fn file_rule() -> impl Strategy<Value = String> {
    (prop::sample::select(&["r", "w", "rw"][..]), glob()).prop_map(|(a, g)| format!("{a} {g}"))
}

const NAMES: &[&str] = &["example.com", "a.example.com", "b.a.example.com", "amazonaws.com", "s3.amazonaws.com", "x"];
const IPS: &[&str] = &["10.0.0.1", "10.1.2.3", "192.168.0.1", "::1", "2001:db8::1", "::ffff:10.0.0.1", "0.0.0.0"];

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(NAMES).prop_map(str::to_owned),
        prop::sample::select(NAMES).prop_map(|n| format!("*.{n}")),
        prop::sample::select(&["10.0.0.1", "10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0", "192.168.0.1", "*"][..])
            .prop_map(str::to_owned),
        prop::sample::select(&["[::1]", "[2001:db8::/32]", "[::/0]", "[::ffff:10.0.0.1]"][..]).prop_map(str::to_owned),
    ]
}

fn port() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&["0", "53", "443", "65535", "*", "1-1024", "443-443", "1000-65535"][..])
            .prop_map(str::to_owned),
    ]
}

fn net_rule() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (prop::sample::select(&["", "tcp:", "udp:"][..]), host(), port()).prop_map(|(p, h, o)| format!("{p}{h}:{o}")),
        1 => glob().prop_map(|g| format!("unix:{g}")),
        1 => prop::sample::select(&["unix:@a*", "unix:@ab", "unix:@*"][..]).prop_map(str::to_owned),
    ]
}

fn api_rule() -> impl Strategy<Value = String> {
    (
        prop::sample::select(&["s3", "S3", "dynamodb", "*", "s*", "sts"][..]),
        prop::sample::select(&["GetObject", "get*", "*", "PutItem", "*Item", "G*t*"][..]),
    )
        .prop_map(|(s, a)| format!("{s}:{a}"))
}

fn input_rule() -> impl Strategy<Value = String> {
    prop::sample::select(&InputSource::ALL[..]).prop_map(|i| i.as_str().to_owned())
}

/// A policy from generated rule texts, keeping those that parse.
fn policy() -> impl Strategy<Value = Policy> {
    (
        prop::collection::vec(file_rule(), 0..8),
        prop::collection::vec(net_rule(), 0..8),
        prop::collection::vec(glob(), 0..4),
        prop::collection::vec(api_rule(), 0..4),
        prop::collection::vec(input_rule(), 0..3),
    )
        .prop_map(|(file, net, process, api, input)| {
            let mut p = Policy::empty(rampart_policy::Mode::Block);
            for (cat, texts) in [
                (Category::File, file),
                (Category::Network, net),
                (Category::Process, process),
                (Category::Api, api),
                (Category::Input, input),
            ] {
                for t in texts {
                    if let Ok(rule) = Rule::parse(cat, &t) {
                        p.push(rule);
                    }
                }
            }
            p
        })
}

fn query_path() -> impl Strategy<Value = String> {
    prop_oneof![4 => path(SEGS, 6), 1 => "[a-z/.]{0,12}"]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn files_agree(p in policy(), paths in prop::collection::vec(query_path(), 1..8)) {
        let m = p.compile();
        for path in &paths {
            for access in [Access::R, Access::W, Access::RW, Access::NONE] {
                prop_assert_eq!(
                    m.allows_file(path.as_bytes(), access),
                    reference::allows_file(&p, path.as_bytes(), access),
                    "path {:?} access {:?} rules {:?}", path, access, p.file.iter().map(|r| r.to_string()).collect::<Vec<_>>()
                );
            }
            prop_assert_eq!(m.allows_process(path.as_bytes()), reference::allows_process(&p, path.as_bytes()), "process {:?}", path);
            prop_assert_eq!(m.allows_unix(path.as_bytes()), reference::allows_unix(&p, path.as_bytes()), "unix {:?}", path);
        }
    }

    #[test]
    fn connects_agree(
        p in policy(),
        ip in prop::option::of(prop::sample::select(IPS)),
        name in prop::option::of(prop_oneof![
            prop::sample::select(NAMES).prop_map(str::to_owned),
            prop::sample::select(NAMES).prop_map(|n| n.to_uppercase() + "."),
            "[a-z.]{0,10}",
        ]),
        port in prop_oneof![Just(0u16), Just(53), Just(443), Just(1024), Just(65535), any::<u16>()],
        udp in any::<bool>(),
        abstract_name in "@[ab]{0,3}",
    ) {
        let m = p.compile();
        let c = Connect {
            proto: if udp { Proto::Udp } else { Proto::Tcp },
            ip: ip.map(|i| i.parse::<IpAddr>().unwrap()),
            name: name.as_deref().map(str::as_bytes),
            port,
        };
        prop_assert_eq!(m.allows_connect(&c), reference::allows_connect(&p, &c), "{:?}", c);
        prop_assert_eq!(m.allows_unix(abstract_name.as_bytes()), reference::allows_unix(&p, abstract_name.as_bytes()));
    }

    #[test]
    fn api_and_input_agree(
        p in policy(),
        service in prop::sample::select(&["s3", "S3", "dynamodb", "sts", "iam", ""][..]),
        action in prop::option::of(prop::sample::select(&["GetObject", "getobject", "PutItem", "GetItem", "List", ""][..])),
        input in prop::sample::select(&InputSource::ALL[..]),
    ) {
        let m = p.compile();
        prop_assert_eq!(m.allows_api(service, action), reference::allows_api(&p, service, action));
        prop_assert_eq!(m.allows_input(input), reference::allows_input(&p, input));
    }
}
