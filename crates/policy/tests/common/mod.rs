//! Proptest generators shared by the property tests: random policies and
//! queries drawn from a small shared vocabulary (so that hits, near misses
//! and overlapping rules are common, not just random non-matches).

#![allow(dead_code)]

use proptest::prelude::*;
use rampart_policy::{Category, InputSource, Policy, Rule};

pub const SEGS: &[&str] = &["a", "b", "ab", "var", "task", "x.py", ".", "..", "", "é", "a.b"];
pub const GLOB_SEGS: &[&str] = &["a", "b", "ab", "var", "task", "x.py", "*", "**", "?", "a*", "*.py", "?b", "é", "*b*"];

pub fn path(segs: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    (prop::collection::vec(prop::sample::select(segs), 0..max), any::<bool>())
        .prop_map(|(v, trailing)| format!("/{}{}", v.join("/"), if trailing { "/" } else { "" }))
}

pub fn glob() -> impl Strategy<Value = String> {
    path(GLOB_SEGS, 5)
}

pub fn file_rule() -> impl Strategy<Value = String> {
    (prop::sample::select(&["r", "w", "rw"][..]), glob()).prop_map(|(a, g)| format!("{a} {g}"))
}

pub const NAMES: &[&str] =
    &["example.com", "a.example.com", "b.a.example.com", "amazonaws.com", "s3.amazonaws.com", "x"];
pub const IPS: &[&str] = &["10.0.0.1", "10.1.2.3", "192.168.0.1", "::1", "2001:db8::1", "::ffff:10.0.0.1", "0.0.0.0"];

pub fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(NAMES).prop_map(str::to_owned),
        prop::sample::select(NAMES).prop_map(|n| format!("*.{n}")),
        prop::sample::select(&["10.0.0.1", "10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0", "192.168.0.1", "*"][..])
            .prop_map(str::to_owned),
        prop::sample::select(&["[::1]", "[2001:db8::/32]", "[::/0]", "[::ffff:10.0.0.1]"][..]).prop_map(str::to_owned),
    ]
}

pub fn port() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&["0", "53", "443", "65535", "*", "1-1024", "443-443", "1000-65535"][..])
            .prop_map(str::to_owned),
    ]
}

pub fn net_rule() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (prop::sample::select(&["", "tcp:", "udp:"][..]), host(), port()).prop_map(|(p, h, o)| format!("{p}{h}:{o}")),
        1 => glob().prop_map(|g| format!("unix:{g}")),
        1 => prop::sample::select(&["unix:@a*", "unix:@ab", "unix:@*"][..]).prop_map(str::to_owned),
    ]
}

pub fn api_rule() -> impl Strategy<Value = String> {
    (
        prop::sample::select(&["s3", "S3", "dynamodb", "*", "s*", "sts"][..]),
        prop::sample::select(&["GetObject", "get*", "*", "PutItem", "*Item", "G*t*"][..]),
        prop::option::of(prop::sample::select(&["my-bucket", "logs-*", "*", "My.Bucket", "a*b"][..])),
    )
        .prop_map(|(s, a, b)| match b {
            Some(b) => format!("{s}:{a}@{b}"),
            None => format!("{s}:{a}"),
        })
}

pub fn input_rule() -> impl Strategy<Value = String> {
    prop::sample::select(&InputSource::ALL[..]).prop_map(|i| i.as_str().to_owned())
}

/// A policy from generated rule texts, keeping those that parse.
pub fn policy() -> impl Strategy<Value = Policy> {
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

pub fn query_path() -> impl Strategy<Value = String> {
    prop_oneof![4 => path(SEGS, 6), 1 => "[a-z/.]{0,12}"]
}
