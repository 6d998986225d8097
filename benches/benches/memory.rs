//! Heap use and wall time of compiling each policy size, counted by a
//! global allocator (criterion measures time only).
//!
//! Prints one line per size. With `RAMPART_MEMORY_OUT=FILE` (set by
//! `cargo xtask bench`) it also writes the numbers as JSON for the README
//! table. `--test` (criterion's smoke mode) runs one compile per size.

use std::time::{Duration, Instant};

use rampart_benches::{
    CountingAlloc, HeapUse, MEMORY_BUDGET_BYTES, SIZES, counting_alloc_installed, measure_heap, policy,
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const TIMED_RUNS: usize = 5;

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = args.iter().any(|a| a == "--test");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "memory".contains(f.as_str())) {
        return;
    }
    assert!(counting_alloc_installed(), "the counting allocator is not installed");

    let mut rows = Vec::new();
    for n in SIZES {
        let p = policy(n);
        let (matcher, heap) = measure_heap(|| p.compile());
        drop(matcher);
        // Wall time: the best of a few runs (the first one also pays for
        // page faults of fresh memory).
        let runs = if smoke { 1 } else { TIMED_RUNS };
        let best = (0..runs)
            .map(|_| {
                let t = Instant::now();
                let m = p.compile();
                let d = t.elapsed();
                drop(m);
                d
            })
            .min()
            .unwrap_or(Duration::ZERO);
        println!(
            "compile {n:>6} rules/category: peak {:>7.2} MB, retained {:>7.2} MB, best of {runs} {:>9.3} ms",
            mb(heap.peak),
            mb(heap.retained),
            best.as_secs_f64() * 1e3
        );
        rows.push((n, heap, best));
    }
    // The budget is for a 100k-rule policy: 20k rules in each of
    // the five categories (the rows above are per category).
    let p = policy(20_000);
    let (matcher, heap) = measure_heap(|| p.compile());
    drop(matcher);
    let verdict = if heap.peak <= MEMORY_BUDGET_BYTES { "within" } else { "OVER" };
    println!(
        "100k-rule policy (20k/category): peak {:.2} MB, retained {:.2} MB, of a {:.0} MB budget ({verdict})",
        mb(heap.peak),
        mb(heap.retained),
        mb(MEMORY_BUDGET_BYTES)
    );
    if let Some(out) = std::env::var_os("RAMPART_MEMORY_OUT") {
        let items: Vec<String> = rows
            .iter()
            .map(|(n, HeapUse { peak, retained }, best)| {
                format!(
                    "{{\"rules\": {n}, \"peak_bytes\": {peak}, \"retained_bytes\": {retained}, \"compile_ns\": {}}}",
                    best.as_nanos()
                )
            })
            .collect();
        let json = format!("{{\"sizes\": [\n  {}\n]}}\n", items.join(",\n  "));
        if let Err(e) = std::fs::write(&out, json) {
            eprintln!("memory bench: cannot write {}: {e}", out.to_string_lossy());
            std::process::exit(1);
        }
    }
}
