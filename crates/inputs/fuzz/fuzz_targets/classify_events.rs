//! `classify` on arbitrary bytes (seeded with AWS's sample events): no
//! panic, the same answer every time, `direct` once anything follows the
//! object, and the answer of the plain `reference` classifier wherever that
//! one can build its tree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_inputs::{InputSource, classify, reference};
use serde::de::IgnoredAny;

fuzz_target!(|data: &[u8]| {
    let source = classify(data);
    assert_eq!(source, classify(data), "not deterministic");

    // No JSON text ends in `x`: whatever `data` is, this is not an event.
    let mut longer = data.to_vec();
    longer.push(b'x');
    assert_eq!(classify(&longer), InputSource::Direct);

    match reference::classify(data) {
        Some(expected) => assert_eq!(source, expected, "the reference disagrees"),
        // The reference gives up on valid JSON too (deeper than 128, a
        // number beyond f64, a lone surrogate in a skipped string), but
        // never on valid JSON that `classify` calls invalid.
        None if source != InputSource::Direct => {
            assert!(serde_json::from_slice::<IgnoredAny>(data).is_ok(), "{source} for invalid JSON")
        }
        None => {}
    }
});
