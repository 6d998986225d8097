//! Matcher benchmarks: ns per query for hits and misses of each kind,
//! the time to parse policy.json (`Policy::parse`: JSON and every rule),
//! compile time, and the time to load the compiled matcher's snapshot (what
//! an exec'd child does instead of compiling), at 10, 1 000 and 100 000
//! rules per category.
//!
//! Groups are named `KIND_hit` / `KIND_miss` / `parse` / `compile` / `load_snapshot`, each with one
//! benchmark per size; `cargo xtask bench` reads their medians from
//! `target/criterion/*/*/new/estimates.json` into the README table.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rampart_benches::{NetQuery, QUERIES_PER_KIND, Queries, SIZES, policy_doc};
use rampart_policy::{Access, Matcher, Policy};

struct Fixture {
    n: usize,
    /// The policy as policy.json text.
    json: String,
    policy: Policy,
    matcher: Matcher,
    snapshot: Vec<u8>,
    queries: Queries,
}

fn fixtures() -> Vec<Fixture> {
    SIZES
        .iter()
        .map(|&n| {
            let json = policy_doc(n).to_json();
            let policy = Policy::parse(&json).unwrap_or_else(|e| panic!("{n} rules: {e}"));
            let matcher = policy.compile();
            let queries = Queries::new(n);
            check(n, &matcher, &queries);
            let snapshot = matcher.to_snapshot();
            let loaded = Matcher::from_snapshot(&snapshot).unwrap_or_else(|e| panic!("{n} rules: {e}"));
            check(n, &loaded, &queries);
            eprintln!("snapshot of {n} rules per category: {} bytes", snapshot.len());
            Fixture { n, json, policy, matcher, snapshot, queries }
        })
        .collect()
}

/// The benchmark measures what its name says: hits are allowed, misses not.
fn check(n: usize, m: &Matcher, q: &Queries) {
    let file = |list: &[(Vec<u8>, Access)], want: bool| {
        for (p, a) in list {
            assert_eq!(m.allows_file(p, *a), want, "{n} rules: file {} {a:?}", String::from_utf8_lossy(p));
        }
    };
    file(&q.file_hit, true);
    file(&q.file_miss, false);
    let net = |list: &[NetQuery], want: bool| {
        for c in list {
            assert_eq!(m.allows_connect(&c.connect()), want, "{n} rules: {c:?}");
        }
    };
    net(&q.net_ip_hit, true);
    net(&q.net_ip_miss, false);
    net(&q.net_name_hit, true);
    net(&q.net_name_miss, false);
    for (list, want) in [(&q.process_hit, true), (&q.process_miss, false)] {
        for p in list {
            assert_eq!(m.allows_process(p), want, "{n} rules: process {}", String::from_utf8_lossy(p));
        }
    }
    for (list, want) in [(&q.api_hit, true), (&q.api_miss, false)] {
        for (s, a) in list {
            assert_eq!(m.allows_api(s, a.as_deref(), None), want, "{n} rules: api {s}:{a:?}");
        }
    }
}

/// Benchmarks `query` over the `QUERIES_PER_KIND` queries `pick` selects,
/// one query per iteration, for every size.
fn bench_kind<Q>(
    c: &mut Criterion,
    name: &str,
    fx: &[Fixture],
    pick: impl Fn(&Queries) -> &[Q],
    query: impl Fn(&Matcher, &Q) -> bool,
) {
    let mut group = c.benchmark_group(name);
    for f in fx {
        let list = pick(&f.queries);
        assert_eq!(list.len(), QUERIES_PER_KIND);
        group.bench_function(BenchmarkId::from_parameter(f.n), |b| {
            let mut k = 0usize;
            b.iter(|| {
                k = (k + 1) % QUERIES_PER_KIND;
                query(black_box(&f.matcher), black_box(&list[k]))
            })
        });
    }
    group.finish();
}

fn matcher(c: &mut Criterion) {
    let fx = fixtures();

    let file = |m: &Matcher, (p, a): &(Vec<u8>, Access)| m.allows_file(p, *a);
    bench_kind(c, "file_hit", &fx, |q| &q.file_hit, file);
    bench_kind(c, "file_miss", &fx, |q| &q.file_miss, file);

    let net = |m: &Matcher, q: &NetQuery| m.allows_connect(&q.connect());
    bench_kind(c, "net_ip_hit", &fx, |q| &q.net_ip_hit, net);
    bench_kind(c, "net_ip_miss", &fx, |q| &q.net_ip_miss, net);
    bench_kind(c, "net_name_hit", &fx, |q| &q.net_name_hit, net);
    bench_kind(c, "net_name_miss", &fx, |q| &q.net_name_miss, net);

    let process = |m: &Matcher, p: &Vec<u8>| m.allows_process(p);
    bench_kind(c, "process_hit", &fx, |q| &q.process_hit, process);
    bench_kind(c, "process_miss", &fx, |q| &q.process_miss, process);

    let api = |m: &Matcher, (s, a): &(String, Option<String>)| m.allows_api(s, a.as_deref(), None);
    bench_kind(c, "api_hit", &fx, |q| &q.api_hit, api);
    bench_kind(c, "api_miss", &fx, |q| &q.api_miss, api);

    let mut group = c.benchmark_group("parse");
    group.sample_size(10);
    for f in &fx {
        group.bench_function(BenchmarkId::from_parameter(f.n), |b| {
            b.iter_with_large_drop(|| Policy::parse(black_box(&f.json)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    for f in &fx {
        group.bench_function(BenchmarkId::from_parameter(f.n), |b| {
            b.iter_with_large_drop(|| black_box(&f.policy).compile())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("load_snapshot");
    for f in &fx {
        group.bench_function(BenchmarkId::from_parameter(f.n), |b| {
            b.iter_with_large_drop(|| Matcher::from_snapshot(black_box(&f.snapshot)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    targets = matcher
}
criterion_main!(benches);
