//! The memory budget of issue 2: compiling a 100 000-rule policy (20 000
//! rules in each of the five categories) takes at most 20 MB of heap, at its
//! peak (which includes what the compiled matcher keeps). The benchmark
//! table also reports 100 000 rules *per category* (500 000 in all). Heap use is deterministic, so this is an
//! ordinary test; wall time is measured by the benches, never asserted here.

use rampart_benches::{CountingAlloc, MEMORY_BUDGET_BYTES, counting_alloc_installed, measure_heap, policy};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn compiling_a_100k_rule_policy_fits_in_20_mb() {
    assert!(counting_alloc_installed());
    let p = policy(20_000);
    assert_eq!(p.counts(), [20_000; 5]);
    let (matcher, heap) = measure_heap(|| p.compile());
    // Keep the matcher alive through the measurement.
    assert!(!matcher.allows_process(b"/usr/bin/definitely-not-allowed"));
    drop(matcher);
    eprintln!("compile of a 100k-rule policy: peak {} bytes, retained {} bytes", heap.peak, heap.retained);
    assert!(
        heap.retained <= MEMORY_BUDGET_BYTES,
        "the compiled matcher keeps {} bytes, over the {MEMORY_BUDGET_BYTES}-byte budget",
        heap.retained
    );
    assert!(
        heap.peak <= MEMORY_BUDGET_BYTES,
        "compiling took {} bytes at its peak, over the {MEMORY_BUDGET_BYTES}-byte budget",
        heap.peak
    );
}
