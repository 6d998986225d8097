//! Properties of `encode` and `decode` over arbitrary events.

use proptest::prelude::*;
use rampart_event::{Event, EventRef, EventType, MAX_LINE, MAX_SHORT, PREFIX, decode, encode};
use rampart_policy::{Access, Category};

/// Characters that stress the escaper more often than `any::<char>()` would.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        2 => any::<char>(),
        1 => prop::sample::select(vec![
            '"', '\\', '\n', '\r', '\t', '\u{0}', '\u{1}', '\u{8}', '\u{c}', '\u{1f}', '\u{7f}', '\u{2028}',
            '\u{2029}', '\u{fffd}', 'é', '€', '😀', '/',
        ]),
    ]
}

fn string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..max).prop_map(String::from_iter)
}

/// Mostly short strings, sometimes long enough to be cut.
fn text() -> BoxedStrategy<String> {
    prop_oneof![6 => string(40), 1 => string(1500)].boxed()
}

fn bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => text().prop_map(String::into_bytes),
        2 => prop::collection::vec(any::<u8>(), 0..40),
        1 => prop::collection::vec(any::<u8>(), 0..6000),
        // UTF-8 with stray bytes in it.
        1 => (string(300), prop::collection::vec((any::<usize>(), 0x80u8..=0xff), 0..5)).prop_map(|(s, bad)| {
            let mut b = s.into_bytes();
            for (at, byte) in bad {
                b.insert(at % (b.len() + 1), byte);
            }
            b
        }),
    ]
    .boxed()
}

#[derive(Debug, Clone)]
struct Owned {
    kind: EventType,
    cat: Option<Category>,
    op: Option<String>,
    target: Option<Vec<u8>>,
    access: Option<Access>,
    argv: Option<Vec<Vec<u8>>>,
    service: Option<String>,
    region: Option<String>,
    bucket: Option<String>,
    msg: Option<String>,
    count: Option<u64>,
    pid: u32,
    req: Option<String>,
    function: Option<String>,
    ts: u64,
}

fn owned(
    bytes: impl Strategy<Value = Vec<u8>> + Clone,
    text: impl Strategy<Value = String> + Clone,
) -> impl Strategy<Value = Owned> {
    let argv = prop_oneof![
        4 => prop::collection::vec(bytes.clone(), 0..8),
        1 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 0..400),
    ];
    (
        (
            prop::sample::select(EventType::ALL.to_vec()),
            prop::option::of(prop::sample::select(Category::ALL.to_vec())),
            prop::option::of(text.clone()),
            prop::option::of(bytes),
            prop::option::of(prop::sample::select(vec![Access::R, Access::W, Access::RW])),
            prop::option::of(argv),
        ),
        (
            prop::option::of(text.clone()),
            prop::option::of(any::<u64>()),
            any::<u32>(),
            prop::option::of(text.clone()),
            prop::option::of(text.clone()),
            any::<u64>(),
        ),
        (prop::option::of(text.clone()), prop::option::of(text.clone()), prop::option::of(text)),
    )
        .prop_map(
            |(
                (kind, cat, op, target, access, argv),
                (msg, count, pid, req, function, ts),
                (service, region, bucket),
            )| Owned {
                kind,
                cat,
                op,
                target,
                access,
                argv,
                service,
                region,
                bucket,
                msg,
                count,
                pid,
                req,
                function,
                ts,
            },
        )
}

/// Calls `f` with the borrowed form of `o`.
fn with_ref<R>(o: &Owned, f: impl FnOnce(&EventRef<'_>) -> R) -> R {
    let argv: Option<Vec<&[u8]>> = o.argv.as_ref().map(|a| a.iter().map(Vec::as_slice).collect());
    let ev = EventRef {
        kind: o.kind,
        cat: o.cat,
        op: o.op.as_deref(),
        target: o.target.as_deref(),
        access: o.access,
        argv: argv.as_deref(),
        service: o.service.as_deref(),
        region: o.region.as_deref(),
        bucket: o.bucket.as_deref(),
        msg: o.msg.as_deref(),
        count: o.count,
        pid: o.pid,
        req: o.req.as_deref(),
        function: o.function.as_deref(),
        ts: o.ts,
    };
    f(&ev)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What decoding a line that nothing was cut from must give.
fn expected(o: &Owned) -> Event {
    Event {
        kind: o.kind,
        cat: o.cat,
        op: o.op.clone(),
        target: o.target.as_deref().map(lossy),
        access: o.access,
        argv: o.argv.as_ref().map(|a| a.iter().map(|b| lossy(b)).collect()),
        service: o.service.clone(),
        region: o.region.clone(),
        bucket: o.bucket.clone(),
        msg: o.msg.clone(),
        count: o.count,
        cut: false,
        pid: o.pid,
        req: o.req.clone(),
        function: o.function.clone(),
        ts: o.ts,
    }
}

/// The length of `s` as JSON text without quotes, escaped as `encode` does.
fn json_len(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            '\u{0}'..='\u{1f}' | '\u{2028}' | '\u{2029}' => 6,
            c => c.len_utf8(),
        })
        .sum()
}

fn prefix_of(got: &Option<String>, orig: &Option<String>) -> bool {
    match (got, orig) {
        (None, _) => true,
        (Some(g), Some(o)) => o.starts_with(g.as_str()),
        (Some(_), None) => false,
    }
}

/// Encodes into a buffer of `len` bytes and checks the line; returns the
/// decoded event, or `None` when nothing was written.
fn check(o: &Owned, len: usize) -> Result<Option<Event>, TestCaseError> {
    let mut buf = vec![0u8; len];
    let n = with_ref(o, |ev| encode(ev, &mut buf));
    if n == 0 {
        return Ok(None);
    }
    prop_assert!(n <= len.min(MAX_LINE));
    let line = std::str::from_utf8(&buf[..n]).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(line.starts_with(PREFIX));
    prop_assert!(line.ends_with("}\n"), "{:?}", line);
    prop_assert_eq!(line.matches('\n').count(), 1);
    prop_assert!(!line.contains(['\r', '\u{2028}', '\u{2029}']), "{:?}", line);
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(value.is_object());
    let e = decode(line).map_err(|e| TestCaseError::fail(e.0))?;

    // Fixed fields always survive.
    prop_assert_eq!(e.kind, o.kind);
    prop_assert_eq!(e.cat, o.cat);
    prop_assert_eq!(e.access, o.access);
    prop_assert_eq!(e.count, o.count);
    prop_assert_eq!(e.pid, o.pid);
    prop_assert_eq!(e.ts, o.ts);
    prop_assert_eq!(e.req.is_some(), o.req.is_some());
    prop_assert_eq!(e.function.is_some(), o.function.is_some());
    prop_assert_eq!(e.op.is_some(), o.op.is_some());
    prop_assert_eq!(e.service.is_some(), o.service.is_some());
    prop_assert_eq!(e.region.is_some(), o.region.is_some());
    prop_assert_eq!(e.bucket.is_some(), o.bucket.is_some());
    if !e.cut {
        prop_assert_eq!(&e, &expected(o));
    } else {
        // Whatever is there is a prefix of the original.
        prop_assert!(prefix_of(&e.op, &o.op));
        prop_assert!(prefix_of(&e.req, &o.req));
        prop_assert!(prefix_of(&e.function, &o.function));
        prop_assert!(prefix_of(&e.service, &o.service));
        prop_assert!(prefix_of(&e.region, &o.region));
        prop_assert!(prefix_of(&e.bucket, &o.bucket));
        prop_assert!(prefix_of(&e.msg, &o.msg));
        prop_assert!(prefix_of(&e.target, &o.target.as_deref().map(lossy)));
        if let Some(got) = &e.argv {
            let orig: Vec<String> = o.argv.as_ref().unwrap().iter().map(|b| lossy(b)).collect();
            prop_assert!(got.len() <= orig.len());
            for (i, item) in got.iter().enumerate() {
                if i + 1 < got.len() {
                    prop_assert_eq!(item, &orig[i]);
                } else {
                    prop_assert!(orig[i].starts_with(item.as_str()));
                }
            }
        }
        // A full-size buffer only cuts what did not fit, and then fills the line
        // but for a few bytes (a character or argv item that did not fit whole).
        let capped = [&o.op, &o.req, &o.function, &o.service, &o.region, &o.bucket]
            .iter()
            .any(|s| s.as_deref().is_some_and(|s| json_len(s) > MAX_SHORT));
        if len >= MAX_LINE && !capped {
            prop_assert!(n + 10 >= MAX_LINE, "cut at {} bytes", n);
        }
    }
    Ok(Some(e))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn encode_gives_one_valid_line(o in owned(bytes(), text())) {
        let e = check(&o, MAX_LINE)?;
        prop_assert!(e.is_some(), "a full buffer always gets a line");
        // A larger buffer changes nothing.
        let mut a = vec![0u8; MAX_LINE];
        let mut b = vec![0u8; 3 * MAX_LINE];
        let (na, nb) = with_ref(&o, |ev| (encode(ev, &mut a), encode(ev, &mut b)));
        prop_assert_eq!(&a[..na], &b[..nb]);
    }

    #[test]
    fn any_buffer_length(o in owned(bytes(), text()), len in 0usize..1500) {
        check(&o, len)?;
    }

    /// Small valid-UTF-8 events round-trip exactly.
    #[test]
    fn round_trip(o in owned(string(60).prop_map(String::into_bytes).boxed(), string(60).boxed())
        .prop_filter("fits", |o| o.argv.as_ref().is_none_or(|a| a.len() < 8)))
    {
        let mut buf = [0u8; MAX_LINE];
        let n = with_ref(&o, |ev| encode(ev, &mut buf));
        let line = std::str::from_utf8(&buf[..n]).unwrap();
        prop_assert_eq!(decode(line).map_err(|e| TestCaseError::fail(e.0))?, expected(&o));
    }

    /// `decode` never panics, whatever follows the prefix.
    #[test]
    fn decode_never_panics(rest in ".*") {
        let _ = decode(&format!("{PREFIX}{rest}"));
    }
}
