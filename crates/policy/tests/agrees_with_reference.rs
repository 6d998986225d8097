//! Property tests: the compiled matcher answers exactly as the naive
//! reference matcher does, for random policies and random queries drawn
//! from a small shared vocabulary (so that hits, near misses and
//! overlapping rules are common, not just random non-matches).

use std::net::IpAddr;

use proptest::prelude::*;
use rampart_policy::{Access, Connect, InputSource, Proto, reference};

mod common;

use common::*;

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
        bucket in prop::option::of(prop::sample::select(&["my-bucket", "MY-BUCKET", "logs-2024", "ab", "axb", ""][..])),
        input in prop::sample::select(&InputSource::ALL[..]),
    ) {
        let m = p.compile();
        prop_assert_eq!(m.allows_api(service, action, bucket), reference::allows_api(&p, service, action, bucket));
        prop_assert_eq!(m.allows_input(input), reference::allows_input(&p, input));
    }
}
