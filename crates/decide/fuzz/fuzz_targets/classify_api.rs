//! The api parsers the open and connect hooks run on caller-supplied
//! bytes: SDK channel paths and the host names SDKs resolve. None may
//! panic; what they return is a part of their input (or a known name) and
//! every well-formed channel query is allowed or not by a rule built from
//! itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_decide::api::{SDK_CHANNEL, SdkQuery, classify_host, is_region, sdk_query};
use rampart_policy::{Category, Mode, Policy, Rule};

fuzz_target!(|data: &[u8]| {
    if let Some(call) = classify_host(data) {
        assert!(!call.service.is_empty());
        if let Some(b) = call.bucket {
            assert!(data.starts_with(b.as_bytes()));
        }
        if let Some(r) = call.region {
            assert!(is_region(r.as_bytes()));
        }
        assert!(call.action.is_none());
    }
    let mut path = SDK_CHANNEL.to_vec();
    path.extend_from_slice(data);
    match sdk_query(&path) {
        None => panic!("a path under the channel is a query"),
        Some(SdkQuery::Malformed) => {}
        Some(SdkQuery::Call { call, target }) => {
            assert_eq!(target, data);
            // The query read as a rule allows exactly that call.
            let text = std::str::from_utf8(target).expect("ASCII");
            let rule = Rule::parse(Category::Api, text).expect("a well-formed query is a rule");
            let mut p = Policy::empty(Mode::Block);
            p.push(rule);
            assert!(p.compile().allows_api(call.service, call.action, call.bucket));
        }
    }
    assert_eq!(sdk_query(data).is_some(), data.starts_with(SDK_CHANNEL));
});
