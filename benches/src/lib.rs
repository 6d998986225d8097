//! Shared helpers for the benchmarks: generators of realistic policies of
//! any size, queries that hit and miss them, and a counting allocator for
//! memory budgets.
//!
//! Everything is deterministic: the same size gives the same policy and the
//! same queries on every run, so numbers can be compared across commits.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};

use rampart_policy::{Access, Category, Connect, InputSource, Mode, Policy, PolicyDoc, Proto};

/// The policy sizes the benchmarks and the README table use (rules per
/// category).
pub const SIZES: [usize; 3] = [10, 1_000, 100_000];

/// The memory budget of compiling a 100k-rule-per-category policy (20 MB:
/// the peak heap use during compile, which includes what the matcher keeps).
pub const MEMORY_BUDGET_BYTES: usize = 20_000_000;

/// How many distinct queries of each kind a benchmark rotates through (a
/// single repeated query would measure a perfectly predicted branch path).
pub const QUERIES_PER_KIND: usize = 64;

/// SplitMix64: a tiny deterministic generator, enough to spread rules and
/// queries without a dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// AWS services used by the api generator (IAM prefixes). `iam` is left out
/// on purpose: the miss queries ask for it.
const SERVICES: [&str; 16] = [
    "s3",
    "dynamodb",
    "sqs",
    "sns",
    "kinesis",
    "lambda",
    "sts",
    "kms",
    "secretsmanager",
    "ssm",
    "events",
    "logs",
    "states",
    "firehose",
    "rds-data",
    "execute-api",
];

const VERBS: [&str; 6] = ["Get", "Put", "List", "Describe", "Update", "Query"];

/// Five shapes of file rule a learned policy is made of: whole trees,
/// extension wildcards in a directory, deep literal files, a `**` in the
/// middle, and `?` in a file name.
fn file_rule(i: usize) -> String {
    match i % 5 {
        0 => format!("r /srv/app{i}/lib/**"),
        1 => format!("rw /data/t{i}/*.json"),
        2 => format!("r /opt/vendor{}/pkg{}/v{}/file{i}.txt", i % 37, i % 101, i % 7),
        3 => format!("r /home/u{i}/.config/**/settings.json"),
        _ => format!("w /var/log/svc{i}/out-?.log"),
    }
}

/// Network rules: exact names, `*.` suffixes, IPv4 and IPv6 addresses,
/// CIDRs, port ranges, UDP.
fn network_rule(i: usize) -> String {
    let (a, b, c) = ((i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
    let low = i & 0xffff;
    match i % 6 {
        0 => format!("svc{i}.example{}.com:443", i % 50),
        1 => format!("*.tenant{i}.internal.example.net:8443"),
        2 => format!("10.{a}.{b}.{c}:5432"),
        3 => format!("[2001:db8:{low:x}::1]:443"),
        4 => format!("100.{}.{b}.0/24:1024-2048", 64 + (a & 0x3f)),
        _ => format!("udp:[fd00::{low:x}:0/112]:*"),
    }
}

fn process_rule(i: usize) -> String {
    match i % 3 {
        0 => format!("/usr/bin/tool{i}"),
        1 => format!("/var/task/bin{i}/*"),
        _ => format!("/opt/app{i}/bin/run-?"),
    }
}

fn api_rule(i: usize) -> String {
    let service = SERVICES[i % SERVICES.len()];
    match i % 4 {
        0 | 1 => format!("{service}:{}Item{i}", VERBS[i % VERBS.len()]),
        2 => format!("{service}:{}*", VERBS[(i / 4) % VERBS.len()]),
        _ => format!("{service}:Batch{i}*"),
    }
}

/// A policy document with `n` rules in each category (input has only 12
/// possible rules; it cycles through all but `direct`).
pub fn policy_doc(n: usize) -> PolicyDoc {
    let mut doc = PolicyDoc::new(Mode::Block);
    type Gen = fn(usize) -> String;
    let gens: [(Category, Gen); 4] = [
        (Category::File, file_rule),
        (Category::Network, network_rule),
        (Category::Process, process_rule),
        (Category::Api, api_rule),
    ];
    for (cat, rule) in gens {
        *doc.rules_mut(cat) = (0..n).map(rule).collect();
    }
    let sources = &InputSource::ALL[..InputSource::ALL.len() - 1];
    *doc.rules_mut(Category::Input) = (0..n).map(|i| sources[i % sources.len()].as_str().to_owned()).collect();
    doc
}

/// The validated policy of [`policy_doc`].
pub fn policy(n: usize) -> Policy {
    policy_doc(n).validate().expect("generated rules are valid")
}

/// A network query that owns its name.
#[derive(Clone, Debug)]
pub struct NetQuery {
    pub proto: Proto,
    pub ip: Option<IpAddr>,
    pub name: Option<String>,
    pub port: u16,
}

impl NetQuery {
    pub fn connect(&self) -> Connect<'_> {
        Connect { proto: self.proto, ip: self.ip, name: self.name.as_deref().map(str::as_bytes), port: self.port }
    }
}

/// Queries against the policy of one size: for each kind, a hit list (every
/// query allowed) and a miss list (none allowed).
#[derive(Clone, Debug)]
pub struct Queries {
    pub file_hit: Vec<(Vec<u8>, Access)>,
    pub file_miss: Vec<(Vec<u8>, Access)>,
    pub net_ip_hit: Vec<NetQuery>,
    pub net_ip_miss: Vec<NetQuery>,
    pub net_name_hit: Vec<NetQuery>,
    pub net_name_miss: Vec<NetQuery>,
    pub process_hit: Vec<Vec<u8>>,
    pub process_miss: Vec<Vec<u8>>,
    pub api_hit: Vec<(String, Option<String>)>,
    pub api_miss: Vec<(String, Option<String>)>,
}

/// A rule index of shape `shape` (of `period` shapes) below `n`.
fn pick(rng: &mut Rng, n: usize, period: usize, shape: usize) -> usize {
    let slots = n.div_ceil(period);
    loop {
        let i = rng.below(slots) * period + shape;
        if i < n {
            return i;
        }
    }
}

fn file_hit(rng: &mut Rng, n: usize) -> (Vec<u8>, Access) {
    let shape = rng.below(5);
    let i = pick(rng, n, 5, shape);
    let (path, access) = match shape {
        0 => (format!("/srv/app{i}/lib/python3.12/site-packages/boto3/session.py"), Access::R),
        1 => (format!("/data/t{i}/orders-{}.json", rng.below(1000)), Access::RW),
        2 => (format!("/opt/vendor{}/pkg{}/v{}/file{i}.txt", i % 37, i % 101, i % 7), Access::R),
        3 => (format!("/home/u{i}/.config/app/profiles/settings.json"), Access::R),
        _ => (format!("/var/log/svc{i}/out-{}.log", rng.below(10)), Access::W),
    };
    (path.into_bytes(), access)
}

fn file_miss(rng: &mut Rng, n: usize) -> (Vec<u8>, Access) {
    let shape = rng.below(5);
    let i = pick(rng, n, 5, shape);
    let (path, access) = match shape {
        // Same tree, but writing where only reading is allowed.
        0 => (format!("/srv/app{i}/lib/python3.12/site-packages/evil.py"), Access::W),
        // One level too deep for `*.json`.
        1 => (format!("/data/t{i}/archive/2024/01/orders.json"), Access::R),
        2 => (format!("/opt/vendor{}/pkg{}/v{}/file{}.txt", i % 37, i % 101, i % 7, i + 1), Access::R),
        3 => (format!("/home/u{i}/.config/app/profiles/secrets.json"), Access::R),
        _ => (format!("/etc/ssh/keys/{i}/host/ssh_host_{}_key", rng.below(10)), Access::R),
    };
    (path.into_bytes(), access)
}

fn tcp(ip: Option<IpAddr>, name: Option<String>, port: u16) -> NetQuery {
    NetQuery { proto: Proto::Tcp, ip, name, port }
}

fn net_ip_hit(rng: &mut Rng, n: usize) -> NetQuery {
    let shape = [2, 3, 4, 5][rng.below(4)];
    let i = pick(rng, n, 6, shape);
    let (a, b, c) = (((i >> 16) & 0xff) as u8, ((i >> 8) & 0xff) as u8, (i & 0xff) as u8);
    match shape {
        2 => tcp(Some(IpAddr::V4(Ipv4Addr::new(10, a, b, c))), None, 5432),
        3 => tcp(Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, i as u16, 0, 0, 0, 0, 1))), None, 443),
        4 => tcp(Some(IpAddr::V4(Ipv4Addr::new(100, 64 + (a & 0x3f), b, rng.below(256) as u8))), None, 1500),
        _ => NetQuery {
            proto: Proto::Udp,
            ip: Some(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, i as u16, rng.below(65536) as u16))),
            name: None,
            port: 53,
        },
    }
}

fn net_ip_miss(rng: &mut Rng, n: usize) -> NetQuery {
    let shape = [2, 3, 4, 5][rng.below(4)];
    let i = pick(rng, n, 6, shape);
    let (a, b, c) = (((i >> 16) & 0xff) as u8, ((i >> 8) & 0xff) as u8, (i & 0xff) as u8);
    match shape {
        // Right address, wrong port.
        2 => tcp(Some(IpAddr::V4(Ipv4Addr::new(10, a, b, c))), None, 22),
        // An address nobody listed.
        3 => tcp(Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb9, i as u16, 0, 0, 0, 0, 1))), None, 443),
        4 => tcp(Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, c))), None, 1500),
        // Right network, TCP where only UDP is allowed.
        _ => tcp(Some(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, i as u16, 7))), None, 53),
    }
}

/// A name query comes with the IP it resolved to, as the hooks see it.
fn net_name_hit(rng: &mut Rng, n: usize) -> NetQuery {
    let ip = Some(IpAddr::V4(Ipv4Addr::new(52, 94, rng.below(256) as u8, rng.below(256) as u8)));
    if rng.below(2) == 0 {
        let i = pick(rng, n, 6, 0);
        tcp(ip, Some(format!("svc{i}.example{}.com", i % 50)), 443)
    } else {
        let i = pick(rng, n, 6, 1);
        tcp(ip, Some(format!("api-{}.eu-west-1.tenant{i}.internal.example.net", rng.below(100))), 8443)
    }
}

fn net_name_miss(rng: &mut Rng, n: usize) -> NetQuery {
    let ip = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, rng.below(256) as u8)));
    match rng.below(3) {
        0 => tcp(ip, Some(format!("exfil{}.attacker.example.org", rng.below(1000))), 443),
        1 => {
            let i = pick(rng, n, 6, 0);
            tcp(ip, Some(format!("svc{i}.example{}.com", i % 50)), 80)
        }
        _ => {
            // The suffix itself, without a label before it, is not covered.
            let i = pick(rng, n, 6, 1);
            tcp(ip, Some(format!("tenant{i}.internal.example.net")), 8443)
        }
    }
}

fn process_hit(rng: &mut Rng, n: usize) -> Vec<u8> {
    let shape = rng.below(3);
    let i = pick(rng, n, 3, shape);
    match shape {
        0 => format!("/usr/bin/tool{i}"),
        1 => format!("/var/task/bin{i}/handler-{}", rng.below(100)),
        _ => format!("/opt/app{i}/bin/run-{}", rng.below(10)),
    }
    .into_bytes()
}

fn process_miss(rng: &mut Rng, n: usize) -> Vec<u8> {
    let shape = rng.below(3);
    let i = pick(rng, n, 3, shape);
    match shape {
        0 => "/usr/bin/curl".to_owned(),
        1 => format!("/var/task/bin{i}/sub/handler"),
        _ => format!("/opt/app{i}/bin/run-{}", 10 + rng.below(90)),
    }
    .into_bytes()
}

fn api_hit(rng: &mut Rng, n: usize) -> (String, Option<String>) {
    let shape = rng.below(4);
    let i = pick(rng, n, 4, shape);
    let service = SERVICES[i % SERVICES.len()].to_owned();
    let action = match i % 4 {
        0 | 1 => format!("{}Item{i}", VERBS[i % VERBS.len()]),
        2 => format!("{}Thing", VERBS[(i / 4) % VERBS.len()]),
        _ => format!("Batch{i}Write"),
    };
    (service, Some(action))
}

fn api_miss(rng: &mut Rng, n: usize) -> (String, Option<String>) {
    match rng.below(3) {
        0 => ("iam".to_owned(), Some("CreateUser".to_owned())),
        1 => ("iam".to_owned(), None),
        _ => {
            let i = pick(rng, n, 4, 0);
            (SERVICES[i % SERVICES.len()].to_owned(), Some(format!("DeleteEverything{i}")))
        }
    }
}

fn many<T>(rng: &mut Rng, n: usize, f: fn(&mut Rng, usize) -> T) -> Vec<T> {
    (0..QUERIES_PER_KIND).map(|_| f(rng, n)).collect()
}

impl Queries {
    /// The queries for the policy of `n` rules per category (`n >= 6`).
    pub fn new(n: usize) -> Queries {
        assert!(n >= 6, "the generators need at least one rule of each shape");
        let mut rng = Rng::new(0x5EED ^ n as u64);
        Queries {
            file_hit: many(&mut rng, n, file_hit),
            file_miss: many(&mut rng, n, file_miss),
            net_ip_hit: many(&mut rng, n, net_ip_hit),
            net_ip_miss: many(&mut rng, n, net_ip_miss),
            net_name_hit: many(&mut rng, n, net_name_hit),
            net_name_miss: many(&mut rng, n, net_name_miss),
            process_hit: many(&mut rng, n, process_hit),
            process_miss: many(&mut rng, n, process_miss),
            api_hit: many(&mut rng, n, api_hit),
            api_miss: many(&mut rng, n, api_miss),
        }
    }
}

/// A global allocator that counts live heap bytes and their high-water
/// mark. Install it in a bench or test binary with
/// `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
pub struct CountingAlloc;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl CountingAlloc {
    fn grow(n: usize) {
        let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    fn shrink(n: usize) {
        CURRENT.fetch_sub(n, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged and only updates counters on the side.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) };
        Self::shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            Self::shrink(layout.size());
            Self::grow(new_size);
        }
        p
    }
}

/// Heap use of one operation, as counted by [`CountingAlloc`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapUse {
    /// The most bytes live at once during the operation, above what was
    /// live before it.
    pub peak: usize,
    /// Bytes still live after it (what its result keeps), above what was
    /// live before it.
    pub retained: usize,
}

/// Runs `f` and measures its heap use. Only meaningful in a binary whose
/// global allocator is [`CountingAlloc`] and with no other thread
/// allocating meanwhile. The result of `f` is kept alive until after the
/// measurement and returned.
pub fn measure_heap<T>(f: impl FnOnce() -> T) -> (T, HeapUse) {
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let value = f();
    let after = CURRENT.load(Ordering::Relaxed);
    let peak = PEAK.load(Ordering::Relaxed);
    (value, HeapUse { peak: peak.saturating_sub(before), retained: after.saturating_sub(before) })
}

/// True when a [`CountingAlloc`] is the global allocator of this binary
/// (it has counted something).
pub fn counting_alloc_installed() -> bool {
    drop(std::hint::black_box(vec![0u8; 64]));
    PEAK.load(Ordering::Relaxed) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_policy_queries_hit_and_miss() {
        for n in [10, 1000] {
            let p = policy(n);
            assert_eq!(p.counts(), [n; 5]);
            let q = Queries::new(n);
            use rampart_policy::reference as r;
            for (path, a) in &q.file_hit {
                assert!(r::allows_file(&p, path, *a), "{n}: {}", String::from_utf8_lossy(path));
            }
            for (path, a) in &q.file_miss {
                assert!(!r::allows_file(&p, path, *a), "{n}: {}", String::from_utf8_lossy(path));
            }
            for c in q.net_ip_hit.iter().chain(&q.net_name_hit) {
                assert!(r::allows_connect(&p, &c.connect()), "{n}: {c:?}");
            }
            for c in q.net_ip_miss.iter().chain(&q.net_name_miss) {
                assert!(!r::allows_connect(&p, &c.connect()), "{n}: {c:?}");
            }
            for path in &q.process_hit {
                assert!(r::allows_process(&p, path), "{n}: {}", String::from_utf8_lossy(path));
            }
            for path in &q.process_miss {
                assert!(!r::allows_process(&p, path), "{n}: {}", String::from_utf8_lossy(path));
            }
            for (s, a) in &q.api_hit {
                assert!(r::allows_api(&p, s, a.as_deref(), None), "{n}: {s}:{a:?}");
            }
            for (s, a) in &q.api_miss {
                assert!(!r::allows_api(&p, s, a.as_deref(), None), "{n}: {s}:{a:?}");
            }
        }
    }
}
