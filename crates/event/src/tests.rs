use super::*;

const DESIGN_EXAMPLE: &str = "{\"rampart\":1,\"type\":\"block\",\"cat\":\"file\",\"op\":\"openat\",\"target\":\"/etc/shadow\",\"access\":\"r\",\"pid\":8,\"req\":\"8f5d...\",\"fn\":\"orders\",\"ts\":1764280000123}\n";

fn design_event() -> EventRef<'static> {
    EventRef {
        cat: Some(Category::File),
        op: Some("openat"),
        target: Some(b"/etc/shadow"),
        access: Some(Access::R),
        req: Some("8f5d..."),
        function: Some("orders"),
        ..EventRef::new(EventType::Block, 8, 1764280000123)
    }
}

fn enc(ev: &EventRef<'_>) -> String {
    let mut buf = [0u8; MAX_LINE];
    let n = encode(ev, &mut buf);
    assert!(n > 0, "nothing written for {ev:?}");
    String::from_utf8(buf[..n].to_vec()).expect("UTF-8 line")
}

/// Every property a written line must have; returns it parsed twice.
fn check_line(line: &[u8], max: usize) -> (serde_json::Map<String, Value>, Event) {
    assert!(line.len() <= max.min(MAX_LINE), "line of {} bytes, limit {max}", line.len());
    let text = std::str::from_utf8(line).expect("UTF-8 line");
    assert!(text.starts_with(PREFIX), "{text}");
    assert!(text.ends_with("}\n"), "{text}");
    assert_eq!(text.matches('\n').count(), 1, "one line: {text}");
    assert!(!text.contains('\r') && !text.contains('\u{2028}') && !text.contains('\u{2029}'));
    let Value::Object(obj) = serde_json::from_str::<Value>(text).expect("valid JSON") else {
        panic!("not an object: {text}");
    };
    let event = decode(text).unwrap_or_else(|e| panic!("decode: {e}: {text}"));
    (obj, event)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn design_example_byte_for_byte() {
    assert_eq!(enc(&design_event()), DESIGN_EXAMPLE);
}

#[test]
fn design_example_decodes() {
    let e = decode(DESIGN_EXAMPLE).unwrap();
    assert_eq!(
        e,
        Event {
            kind: EventType::Block,
            cat: Some(Category::File),
            op: Some("openat".into()),
            target: Some("/etc/shadow".into()),
            access: Some(Access::R),
            argv: None,
            service: None,
            region: None,
            bucket: None,
            msg: None,
            count: None,
            cut: false,
            pid: 8,
            req: Some("8f5d...".into()),
            function: Some("orders".into()),
            ts: 1764280000123,
        }
    );
    // Without the newline, and with \r\n.
    assert_eq!(decode(DESIGN_EXAMPLE.trim_end()).unwrap(), e);
    assert_eq!(decode(&DESIGN_EXAMPLE.replace('\n', "\r\n")).unwrap(), e);
}

#[test]
fn minimal_line() {
    let ev = EventRef::new(EventType::Status, 0, 0);
    assert_eq!(enc(&ev), "{\"rampart\":1,\"type\":\"status\",\"pid\":0,\"req\":null,\"fn\":null,\"ts\":0}\n");
}

#[test]
fn every_field_in_order() {
    let argv: &[&[u8]] = &[b"git", b"clone", b""];
    let ev = EventRef {
        cat: Some(Category::Process),
        op: Some("execve"),
        target: Some(b"/usr/bin/git"),
        access: Some(Access::RW),
        argv: Some(argv),
        msg: Some("hi"),
        count: Some(u64::MAX),
        req: Some("r"),
        function: Some("f"),
        ..EventRef::new(EventType::Alert, u32::MAX, u64::MAX)
    };
    assert_eq!(
        enc(&ev),
        "{\"rampart\":1,\"type\":\"alert\",\"cat\":\"process\",\"op\":\"execve\",\"target\":\"/usr/bin/git\",\
         \"access\":\"rw\",\"argv\":[\"git\",\"clone\",\"\"],\"msg\":\"hi\",\"count\":18446744073709551615,\
         \"pid\":4294967295,\"req\":\"r\",\"fn\":\"f\",\"ts\":18446744073709551615}\n"
    );
    let e = decode(&enc(&ev)).unwrap();
    assert_eq!(e.argv, Some(vec!["git".to_string(), "clone".into(), String::new()]));
    assert_eq!((e.count, e.pid, e.ts, e.cut), (Some(u64::MAX), u32::MAX, u64::MAX, false));
}

#[test]
fn api_fields() {
    let ev = EventRef {
        cat: Some(Category::Api),
        op: Some("connect"),
        target: Some(b"s3:*@logs"),
        service: Some("s3"),
        region: Some("eu-west-1"),
        bucket: Some("logs"),
        ..EventRef::new(EventType::Profile, 1, 2)
    };
    assert_eq!(
        enc(&ev),
        "{\"rampart\":1,\"type\":\"profile\",\"cat\":\"api\",\"op\":\"connect\",\"target\":\"s3:*@logs\",\
         \"service\":\"s3\",\"region\":\"eu-west-1\",\"bucket\":\"logs\",\"pid\":1,\"req\":null,\"fn\":null,\"ts\":2}\n"
    );
    let e = decode(&enc(&ev)).unwrap();
    assert_eq!(
        (e.service.as_deref(), e.region.as_deref(), e.bucket.as_deref()),
        (Some("s3"), Some("eu-west-1"), Some("logs"))
    );
    // Absent fields are left out, not written as null.
    let ev = EventRef { service: Some("sts"), ..EventRef::new(EventType::Alert, 1, 2) };
    assert!(enc(&ev).contains(",\"service\":\"sts\",\"pid\""));
}

#[test]
fn all_types_and_categories_round_trip() {
    for kind in EventType::ALL {
        for cat in Category::ALL {
            let ev = EventRef { cat: Some(cat), ..EventRef::new(kind, 1, 2) };
            let e = decode(&enc(&ev)).unwrap();
            assert_eq!((e.kind, e.cat), (kind, Some(cat)));
        }
    }
}

#[test]
fn integers() {
    for n in [0u64, 1, 9, 10, 99, 100, 12345, 1 << 32, u64::MAX / 10, u64::MAX - 1, u64::MAX] {
        let ev = EventRef { count: Some(n), ..EventRef::new(EventType::Status, 7, n) };
        let line = enc(&ev);
        assert!(line.contains(&format!(",\"count\":{n},")), "{line}");
        assert!(line.ends_with(&format!(",\"ts\":{n}}}\n")), "{line}");
    }
}

#[test]
fn access_none_is_left_out() {
    let ev = EventRef { access: Some(Access::NONE), ..EventRef::new(EventType::Profile, 1, 1) };
    assert!(!enc(&ev).contains("access"));
    let ev = EventRef { access: Some(Access::W), ..ev };
    assert!(enc(&ev).contains(",\"access\":\"w\","));
}

#[test]
fn escaping() {
    let target = "a\"b\\c\nd\te\rf\u{8}g\u{c}h\u{1}i\u{1f}j\u{7f}k\u{2028}l\u{2029}m/é😀".as_bytes();
    let ev = EventRef { target: Some(target), ..EventRef::new(EventType::Alert, 1, 1) };
    let line = enc(&ev);
    assert!(
        line.contains(
            r#","target":"a\"b\\c\nd\te\rf\bg\fh\u0001i\u001fj"#.to_string().as_str() // DEL is raw
        ),
        "{line}"
    );
    assert!(line.contains("\u{7f}k\\u2028l\\u2029m/é😀\","), "{line}");
    let (obj, e) = check_line(line.as_bytes(), MAX_LINE);
    assert_eq!(obj["target"], lossy(target));
    assert_eq!(e.target.as_deref(), Some(lossy(target).as_str()));
    assert!(!e.cut);
}

#[test]
fn every_control_char_and_separator_escapes() {
    let mut s = String::new();
    for c in (0u8..0x20).map(char::from).chain(['"', '\\', '\u{2028}', '\u{2029}', '\u{fffd}']) {
        s.push(c);
    }
    let argv: &[&[u8]] = &[s.as_bytes(), s.as_bytes()];
    let ev = EventRef {
        op: Some(&s),
        target: Some(s.as_bytes()),
        argv: Some(argv),
        msg: Some(&s),
        req: Some(&s),
        function: Some(&s),
        ..EventRef::new(EventType::Error, 1, 1)
    };
    let line = enc(&ev);
    let (_, e) = check_line(line.as_bytes(), MAX_LINE);
    assert!(!e.cut);
    for v in [&e.op, &e.target, &e.msg, &e.req, &e.function] {
        assert_eq!(v.as_deref(), Some(s.as_str()));
    }
    assert_eq!(e.argv, Some(vec![s.clone(), s.clone()]));
}

#[test]
fn invalid_utf8_becomes_replacement_characters() {
    let target: &[u8] = b"/tmp/\xff\xfe/a\xe2\x82/b\xc3/\xed\xa0\x80/\xf0\x9f\x98";
    let argv: &[&[u8]] = &[b"\x80", b"ok\xc0\xafok"];
    let ev = EventRef { target: Some(target), argv: Some(argv), ..EventRef::new(EventType::Profile, 1, 1) };
    let line = enc(&ev);
    let (_, e) = check_line(line.as_bytes(), MAX_LINE);
    assert_eq!(e.target.as_deref(), Some(lossy(target).as_str()));
    assert_eq!(
        e.target.as_deref(),
        Some("/tmp/\u{fffd}\u{fffd}/a\u{fffd}/b\u{fffd}/\u{fffd}\u{fffd}\u{fffd}/\u{fffd}")
    );
    assert_eq!(e.argv, Some(vec![lossy(argv[0]), lossy(argv[1])]));
    assert!(!e.cut);
}

/// The checks every cut line must pass; returns the decoded event.
fn check_cut(ev: &EventRef<'_>, buf_len: usize) -> Event {
    let mut buf = vec![0u8; buf_len];
    let n = encode(ev, &mut buf);
    assert!(n > 0);
    let (obj, e) = check_line(&buf[..n], buf_len);
    assert_eq!(obj.get("cut"), Some(&Value::Bool(true)));
    assert!(e.cut);
    assert_eq!((e.kind, e.cat, e.access, e.count, e.pid, e.ts), (ev.kind, ev.cat, ev.access, ev.count, ev.pid, ev.ts));
    assert_eq!(e.op.as_deref(), ev.op);
    assert_eq!(e.req.as_deref(), ev.req);
    assert_eq!(e.function.as_deref(), ev.function);
    if let (Some(got), Some(orig)) = (&e.target, ev.target) {
        assert!(lossy(orig).starts_with(got.as_str()), "target {got:?} not a prefix");
    }
    if let (Some(got), Some(orig)) = (&e.argv, ev.argv) {
        assert!(got.len() <= orig.len());
        for (i, item) in got.iter().enumerate() {
            let orig = lossy(orig[i]);
            if i + 1 == got.len() {
                assert!(orig.starts_with(item.as_str()), "last argv item {item:?} not a prefix");
            } else {
                assert_eq!(item, &orig);
            }
        }
    }
    if let (Some(got), Some(orig)) = (&e.msg, ev.msg) {
        assert!(orig.starts_with(got.as_str()));
    }
    e
}

#[test]
fn over_long_target_is_cut() {
    let target: Vec<u8> = b"/tmp/".iter().copied().chain(std::iter::repeat_n(b'x', 10_000)).collect();
    let ev = EventRef { target: Some(&target), ..design_event() };
    let e = check_cut(&ev, MAX_LINE);
    let got = e.target.unwrap();
    // The line is full to within a byte or so: the target got all the room.
    assert!(got.len() > 3900, "{}", got.len());
    assert_eq!(enc(&ev).len(), MAX_LINE);
}

#[test]
fn huge_argv_drops_items_from_the_end() {
    let items: Vec<Vec<u8>> = (0..1000).map(|i| format!("{i:0100}").into_bytes()).collect();
    let argv: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    let ev = EventRef {
        cat: Some(Category::Process),
        op: Some("execve"),
        target: Some(b"/usr/bin/python3"),
        argv: Some(&argv),
        ..EventRef::new(EventType::Block, 42, 1)
    };
    let e = check_cut(&ev, MAX_LINE);
    assert_eq!(e.target.as_deref(), Some("/usr/bin/python3"));
    let got = e.argv.unwrap();
    assert!(got.len() > 30 && got.len() < 40, "{}", got.len());
    assert!(enc(&ev).len() > MAX_LINE - 10);
}

#[test]
fn huge_target_leaves_argv_and_msg_present_but_empty() {
    let target = vec![b'a'; 10_000];
    let argv: &[&[u8]] = &[b"one", b"two"];
    let ev = EventRef { target: Some(&target), argv: Some(argv), msg: Some("m"), ..design_event() };
    let e = check_cut(&ev, MAX_LINE);
    assert_eq!(e.argv, Some(vec![]));
    assert_eq!(e.msg.as_deref(), Some(""));
    assert!(e.target.unwrap().len() > 3800);
}

#[test]
fn long_argv_item_is_cut() {
    let big = vec![b'b'; 5000];
    let argv: &[&[u8]] = &[b"prog", &big, b"after"];
    let ev = EventRef { argv: Some(argv), ..EventRef::new(EventType::Profile, 1, 1) };
    let e = check_cut(&ev, MAX_LINE);
    let got = e.argv.unwrap();
    assert_eq!(got.len(), 2);
    assert!(got[1].len() > 3900);
}

#[test]
fn long_msg_is_cut() {
    let msg = "policy fetch failed: ".repeat(500);
    let ev = EventRef { msg: Some(&msg), ..EventRef::new(EventType::Error, 1, 1) };
    let e = check_cut(&ev, MAX_LINE);
    assert!(e.msg.unwrap().len() > 3900);
}

#[test]
fn six_byte_escapes_are_never_split() {
    let target = vec![1u8; 3000];
    for extra in 0..8 {
        let mut t = vec![b'/'; extra];
        t.extend_from_slice(&target);
        let ev = EventRef { target: Some(&t), ..design_event() };
        let line = enc(&ev);
        let e = check_cut(&ev, MAX_LINE);
        let got = e.target.unwrap();
        assert!(got.len() > 600);
        // The JSON text of the target ends with a whole escape.
        let raw = line.split(",\"target\":\"").nth(1).unwrap().split("\",\"access\"").next().unwrap();
        assert!(raw.ends_with("\\u0001"), "{}", &raw[raw.len() - 10..]);
    }
}

#[test]
fn multi_byte_characters_near_the_cut_point() {
    for ch in ["é", "€", "😀", "\u{2028}", "\\"] {
        for pad in 0..8 {
            let t = format!("{}{}", "p".repeat(pad), ch.repeat(5000));
            let argv: &[&[u8]] = &[t.as_bytes()];
            let ev = EventRef { target: Some(t.as_bytes()), ..design_event() };
            let e = check_cut(&ev, MAX_LINE);
            assert!(e.target.unwrap().len() > 1300);
            let ev = EventRef { argv: Some(argv), ..EventRef::new(EventType::Block, 1, 1) };
            check_cut(&ev, MAX_LINE);
        }
    }
}

#[test]
fn exact_fit_is_not_cut_and_one_more_byte_is() {
    let base = enc(&EventRef { target: Some(b""), ..design_event() }).len();
    let fits = vec![b'x'; MAX_LINE - base];
    let ev = EventRef { target: Some(&fits), ..design_event() };
    let line = enc(&ev);
    assert_eq!(line.len(), MAX_LINE);
    let (_, e) = check_line(line.as_bytes(), MAX_LINE);
    assert!(!e.cut);
    assert_eq!(e.target.unwrap().len(), fits.len());

    let over = vec![b'x'; MAX_LINE - base + 1];
    let ev = EventRef { target: Some(&over), ..design_event() };
    let e = check_cut(&ev, MAX_LINE);
    assert_eq!(e.target.unwrap().len(), over.len() - 1 - CUT.len());
}

#[test]
fn long_op_req_and_fn_are_capped() {
    let long = "r".repeat(10_000);
    let quotes = "\"".repeat(1000);
    for s in [&long, &quotes] {
        let ev = EventRef { op: Some(s), req: Some(s), function: Some(s), ..EventRef::new(EventType::Alert, 3, 4) };
        let line = enc(&ev);
        assert!(line.len() < 3 * (MAX_SHORT + 20) + 100, "{}", line.len());
        let (_, e) = check_line(line.as_bytes(), MAX_LINE);
        assert!(e.cut);
        for v in [e.op, e.req, e.function] {
            let v = v.unwrap();
            assert!(s.starts_with(&v));
            assert!(v.len() > MAX_SHORT / 2 - 1 && v.len() <= MAX_SHORT, "{}", v.len());
        }
    }
    // Each one alone sets `cut`.
    for i in 0..3 {
        let one = |j| (i == j).then_some(long.as_str());
        let ev = EventRef { op: one(0), req: one(1), function: one(2), ..EventRef::new(EventType::Alert, 3, 4) };
        let (obj, e) = check_line(enc(&ev).as_bytes(), MAX_LINE);
        assert!(e.cut && obj["cut"] == true, "{i}");
    }
    // Exactly MAX_SHORT bytes of text is not cut.
    let just = "j".repeat(MAX_SHORT);
    let ev = EventRef { req: Some(&just), ..EventRef::new(EventType::Alert, 3, 4) };
    assert!(!decode(&enc(&ev)).unwrap().cut);
}

fn assorted_events<'a>(big: &'a [u8], argv: &'a [&'a [u8]]) -> Vec<EventRef<'a>> {
    vec![
        design_event(),
        EventRef::new(EventType::Status, 0, 0),
        EventRef { target: Some(big), argv: Some(argv), msg: Some("message"), count: Some(5), ..design_event() },
        EventRef { argv: Some(argv), ..EventRef::new(EventType::Profile, 99, 1) },
        EventRef { msg: Some("x\u{1}x\u{1}x\u{1}x\u{1}x\u{1}"), ..EventRef::new(EventType::Error, 1, 1) },
        EventRef { op: Some(std::str::from_utf8(big).unwrap()), ..EventRef::new(EventType::Alert, 1, 1) },
    ]
}

#[test]
fn small_buffers_never_panic() {
    let big = "é\u{1}a".repeat(200);
    let items = ["prog", "--flag", "\u{1}\u{1}\u{1}", "€€€€", "last"];
    let argv: Vec<&[u8]> = items.iter().map(|s| s.as_bytes()).collect();
    for ev in assorted_events(big.as_bytes(), &argv) {
        let mut lines = 0;
        for len in 0..=300 {
            let mut buf = vec![0u8; len];
            let n = encode(&ev, &mut buf);
            assert!(n <= len);
            if n > 0 {
                lines += 1;
                check_line(&buf[..n], len);
            }
        }
        // Larger buffers give a line once the fixed part fits.
        assert!(lines > 0 || enc(&ev).len() > 300, "{ev:?}");
    }
}

#[test]
fn every_buffer_length_up_to_max_line() {
    let big = "é\u{1}a\u{2028}".repeat(700);
    let items = ["prog", "--flag", "\u{1}\u{1}\u{1}", "€€€€", "last"];
    let argv: Vec<&[u8]> = items.iter().map(|s| s.as_bytes()).collect();
    let ev = EventRef { target: Some(big.as_bytes()), argv: Some(&argv), msg: Some("message"), ..design_event() };
    let mut prev = 0;
    for len in 0..=MAX_LINE + 10 {
        let mut buf = vec![0u8; len];
        let n = encode(&ev, &mut buf);
        if n > 0 {
            check_cut(&ev, len);
            // The line only grows with the buffer, and once every field has
            // its smallest form, it uses all of it but a partial character.
            assert!(n >= prev, "len {len}: {n} < {prev}");
            assert!(len < 250 || n + 6 >= len.min(MAX_LINE), "len {len}: {n}");
            prev = n;
        } else {
            assert_eq!(prev, 0, "len {len}");
        }
    }
}

fn err(line: &str) -> String {
    decode(line).unwrap_err().0
}

#[test]
fn decode_errors() {
    assert!(err("hello").contains("does not start with"));
    assert!(err("").contains("does not start with"));
    assert!(err(" {\"rampart\":1,\"type\":\"alert\",\"pid\":1,\"ts\":1}").contains("does not start with"));
    assert!(err("{\"rampart\":2,\"type\":\"alert\",\"pid\":1,\"ts\":1}").contains("does not start with"));
    assert!(err("{\"rampart\":1,\"rampart\":2,\"type\":\"alert\",\"pid\":1,\"ts\":1}").contains("version 2"));
    assert_eq!(err("{\"rampart\":1,\"type\":\"foo\",\"pid\":1,\"ts\":1}"), "unknown type \"foo\"");
    assert_eq!(err("{\"rampart\":1,\"pid\":1,\"ts\":1}"), "missing field `type`");
    assert_eq!(
        err("{\"rampart\":1,\"type\":\"alert\",\"cat\":\"disk\",\"pid\":1,\"ts\":1}"),
        "unknown category \"disk\""
    );
    assert!(err("{\"rampart\":1,\"type\":\"alert\",\"cat\":3,\"pid\":1,\"ts\":1}").contains("`cat` must be a string"));
    assert!(err("{\"rampart\":1,\"type\":\"alert\",\"access\":\"x\",\"pid\":1,\"ts\":1}").contains("unknown access"));
    assert_eq!(err("{\"rampart\":1,\"type\":\"alert\",\"ts\":1}"), "missing field `pid`");
    assert_eq!(err("{\"rampart\":1,\"type\":\"alert\",\"pid\":1}"), "missing field `ts`");
    assert!(err("{\"rampart\":1,\"type\":\"alert\",\"pid\":-1,\"ts\":1}").contains("`pid` must be"));
    assert!(err("{\"rampart\":1,\"type\":\"alert\",\"pid\":4294967296,\"ts\":1}").contains("out of range"));
    assert!(err("{\"rampart\":1,\"type\":\"alert\",\"pid\":1,\"ts\":1.5}").contains("`ts` must be"));
    assert!(err("{\"rampart\":1,\"type\":\"alert\",\"argv\":[1],\"pid\":1,\"ts\":1}").contains("`argv`"));
    assert!(err("{\"rampart\":1,\"type\":\"alert\",\"cut\":1,\"pid\":1,\"ts\":1}").contains("`cut`"));
    let e = err("{\"rampart\":1,\"type\":alert}");
    assert!(e.starts_with("invalid JSON at column 21: "), "{e}");
    assert!(!e.contains("line 1"), "{e}");
    assert!(err("{\"rampart\":1,").starts_with("invalid JSON at column"));
    assert!(err("{\"rampart\":1,\"type\":\"alert\",\"pid\":1,\"ts\":1} trailing").contains("trailing"));
    // One line: a message never spans lines.
    assert!(!err("{\"rampart\":1,\n\"type\"").contains('\n'));
}

#[test]
fn decode_is_lenient_where_the_format_allows() {
    // Unknown fields (later versions), missing or null req/fn and optional fields.
    let e = decode(
        "{\"rampart\":1,\"type\":\"alert\",\"later\":\"s3\",\"other\":{\"a\":[1]},\"op\":null,\"pid\":1,\"ts\":2}\r\n",
    )
    .unwrap();
    assert_eq!(
        (e.kind, e.op, e.req, e.function, e.cut, e.pid, e.ts),
        (EventType::Alert, None, None, None, false, 1, 2)
    );
    let e =
        decode("{\"rampart\":1,\"type\":\"status\",\"req\":null,\"fn\":null,\"cut\":true,\"pid\":1,\"ts\":2}").unwrap();
    assert!(e.cut);
}
