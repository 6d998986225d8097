//! A small policy of fuzzer-chosen rule texts (only those `Rule::parse`
//! accepts are kept) and fuzzer-chosen queries: the compiled `Matcher` must
//! give the same answer as the naive `reference` matcher for every query.
//!
//! Rule and query texts are built from small shared vocabularies (so rules
//! and queries often meet) plus raw arbitrary strings (so nothing is ruled
//! out); see `shared`.

#![no_main]

mod shared;

use libfuzzer_sys::fuzz_target;

use shared::{Input, check};

fuzz_target!(|input: Input| {
    let policy = input.policy();
    let m = policy.compile();
    for q in input.queries.iter().take(32) {
        check(&policy, &m, q);
    }
});
