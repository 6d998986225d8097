use super::*;

/// A profile event line for a file.
fn file(path: &str, access: &str) -> String {
    ev("profile", "file", path, &format!(",\"access\":\"{access}\""))
}

fn net(target: &str) -> String {
    ev("profile", "network", target, "")
}

fn ev(kind: &str, cat: &str, target: &str, extra: &str) -> String {
    let target = serde_json::to_string(target).unwrap();
    format!(
        r#"{{"rampart":1,"type":"{kind}","cat":"{cat}","op":"x","target":{target}{extra},"pid":8,"req":null,"fn":"orders","ts":1764280000123}}"#
    )
}

fn learn(lines: &[String], existing: Option<&PolicyDoc>) -> Learned {
    let mut l = Learner::new();
    for line in lines {
        l.add_line(line);
    }
    l.finish(existing).unwrap()
}

fn added(l: &Learned, cat: Category) -> Vec<&str> {
    l.added(cat).iter().map(|a| a.rule.as_str()).collect()
}

fn matcher(l: &Learned) -> Matcher {
    l.doc.validate().unwrap().compile()
}

/// Every rule is valid and in canonical form, and the policy allows every
/// activity that was seen.
fn check_allows_seen(l: &Learned) {
    for cat in Category::ALL {
        for text in l.added(cat).iter().map(|a| &a.rule) {
            let rule = Rule::parse(cat, text).unwrap_or_else(|e| panic!("{cat} {text:?}: {e}"));
            assert_eq!(&rule.to_string(), text, "not canonical");
            assert!(!text.contains("**"), "{text}");
        }
    }
    let m = matcher(l);
    for a in &l.activities {
        assert!(a.allowed_by(&m), "{a} not allowed by\n{}", l.doc.to_json());
    }
}

#[test]
fn exact_rules_for_each_category() {
    let lines = vec![
        file("/var/task/app.py", "r"),
        file("/etc/ssl/certs/ca-certificates.crt", "r"),
        net("dynamodb.eu-west-1.amazonaws.com:443"),
        net("udp:169.254.78.1:53"),
        net("[2001:db8::1]:443"),
        net("unix:/var/run/nscd/socket"),
        ev("profile", "process", "/usr/bin/git", r#","argv":["git","rev-parse","HEAD"]"#),
        ev("alert", "api", "dynamodb:GetItem", ""),
        ev("profile", "input", "aws:sqs", ""),
    ];
    let l = learn(&lines, None);
    assert!(l.new_policy);
    assert_eq!(l.doc.mode, Mode::Alert);
    assert_eq!(added(&l, Category::File), ["r /etc/ssl/certs/ca-certificates.crt", "r /var/task/app.py"]);
    assert_eq!(
        added(&l, Category::Network),
        [
            "[2001:db8::1]:443",
            "dynamodb.eu-west-1.amazonaws.com:443",
            "udp:169.254.78.1:53",
            "unix:/var/run/nscd/socket"
        ]
    );
    assert_eq!(added(&l, Category::Process), ["/usr/bin/git"]);
    assert_eq!(added(&l, Category::Api), ["dynamodb:GetItem"]);
    assert_eq!(added(&l, Category::Input), ["aws:sqs"]);
    assert!(l.added.iter().flatten().all(|a| a.generalised.is_empty()));
    assert_eq!(l.counts.learned, 9);
    assert_eq!(l.counts.rampart, 9);
    check_allows_seen(&l);
    // Unseen siblings stay denied.
    let m = matcher(&l);
    assert!(!m.allows_file(b"/etc/shadow", Access::R));
    assert!(!m.allows_file(b"/var/task/app.py", Access::W));
    assert!(!m.allows_file(b"/var/task/other.py", Access::R));
    assert!(!m.allows_file(b"/etc/ssl/certs/other.pem", Access::R));
    assert!(!m.allows_process(b"/usr/bin/curl"));
    assert!(!m.allows_api("dynamodb", Some("DeleteItem"), None));
    assert!(!m.allows_input(InputSource::Sns));
    fn c(name: &str, port: u16) -> Connect<'_> {
        Connect { proto: Proto::Tcp, ip: None, name: Some(name.as_bytes()), port }
    }
    assert!(!m.allows_connect(&c("dynamodb.eu-west-1.amazonaws.com", 80)));
    assert!(!m.allows_connect(&c("s3.eu-west-1.amazonaws.com", 443)));
    assert!(!m.allows_connect(&Connect {
        proto: Proto::Tcp,
        ip: Some("169.254.78.1".parse().unwrap()),
        name: None,
        port: 53
    }));
}

#[test]
fn access_is_the_union() {
    let l = learn(&[file("/var/task/db.sqlite", "r"), file("/var/task/db.sqlite", "w"), file("/x/y", "r")], None);
    assert_eq!(added(&l, Category::File), ["rw /var/task/db.sqlite", "r /x/y"]);
    check_allows_seen(&l);
}

#[test]
fn temp_names_generalise_with_notes() {
    let lines = vec![
        file("/tmp/tmpa8f3k2", "w"),
        file("/tmp/tmpzz91qx", "w"),
        file("/tmp/tmpq0w9e8r7", "w"),
        file("/tmp/tmpk2j4h6g8.json", "r"),
        file("/tmp/tmpk2j4h6g8/out.txt", "w"),
        file("/tmp/cache", "r"),
        file("/tmp/report2024", "r"),
        file("/tmp", "r"),
    ];
    let l = learn(&lines, None);
    assert_eq!(
        added(&l, Category::File),
        ["r /tmp", "w /tmp/*", "r /tmp/*.json", "w /tmp/*/out.txt", "r /tmp/cache", "r /tmp/report2024"]
    );
    let star = &l.added(Category::File)[1];
    assert_eq!(star.generalised, ["random temp name"]);
    assert_eq!(
        star.note(Category::File).unwrap(),
        "random temp name (from 3 paths: /tmp/tmpa8f3k2, /tmp/tmpq0w9e8r7, …)"
    );
    check_allows_seen(&l);
    let m = matcher(&l);
    assert!(m.allows_file(b"/tmp/tmpnew12ab", Access::W));
    assert!(!m.allows_file(b"/tmp/tmpnew12ab", Access::R));
    assert!(!m.allows_file(b"/tmp/x/y", Access::W));
    assert!(!m.allows_file(b"/var/tmp/tmpa8f3k2", Access::W));
}

#[test]
fn covered_learned_rules_fold_into_the_wider_one() {
    let lines = vec![file("/tmp/tmpa8f3k2", "rw"), file("/tmp/cache", "r"), file("/tmp/tmpzz91qx", "r")];
    let l = learn(&lines, None);
    assert_eq!(added(&l, Category::File), ["rw /tmp/*"]);
    let a = &l.added(Category::File)[0];
    assert_eq!(a.from, ["r /tmp/cache", "r /tmp/tmpzz91qx", "rw /tmp/tmpa8f3k2"]);
    check_allows_seen(&l);
}

#[test]
fn numbered_files() {
    let lines = vec![
        file("/var/task/data/part-0001.csv", "r"),
        file("/var/task/data/part-0002.csv", "r"),
        file("/var/task/data/part-0003.csv", "w"),
        file("/var/task/data/index-7.json", "r"),
        file("/var/task/data/1.csv", "r"),
        file("/var/task/data/2.csv", "r"),
        file("/data1", "r"),
        file("/data2", "r"),
        file("/tmp/tmpa8f3k2/chunk-1.bin", "w"),
        file("/tmp/tmpzz91qx/chunk-2.bin", "w"),
    ];
    let l = learn(&lines, None);
    assert_eq!(
        added(&l, Category::File),
        [
            "r /data1",
            "r /data2",
            "w /tmp/*/chunk-*.bin",
            "r /var/task/data/1.csv",
            "r /var/task/data/2.csv",
            "r /var/task/data/index-7.json",
            "rw /var/task/data/part-*.csv",
        ]
    );
    let part = l.added(Category::File).iter().find(|a| a.rule.contains("part-*")).unwrap();
    assert_eq!(part.generalised, ["numbered files"]);
    assert_eq!(
        part.note(Category::File).unwrap(),
        "numbered files (from 3 paths: /var/task/data/part-0001.csv, /var/task/data/part-0002.csv, …)"
    );
    let chunk = l.added(Category::File).iter().find(|a| a.rule.contains("chunk")).unwrap();
    assert_eq!(chunk.generalised, ["random temp name", "numbered files"]);
    check_allows_seen(&l);
    let m = matcher(&l);
    assert!(!m.allows_file(b"/var/task/data/3.csv", Access::R));
    assert!(!m.allows_file(b"/data3", Access::R));
}

#[test]
fn a_single_numbered_file_stays_literal() {
    let l = learn(&[file("/var/task/data/part-0001.csv", "r")], None);
    assert_eq!(added(&l, Category::File), ["r /var/task/data/part-0001.csv"]);
}

#[test]
fn ephemeral_loopback_ports() {
    let lines = vec![
        net("127.0.0.1:45311"),
        net("127.0.0.1:51002"),
        net("127.0.0.2:40000"),
        net("[::1]:33000"),
        net("localhost:60999"),
        net("udp:127.0.0.1:50000"),
        net("127.0.0.1:8080"),
        net("127.0.0.1:32767"),
        net("127.0.0.1:61000"),
        net("10.0.0.5:45000"),
        net("db.internal:45000"),
    ];
    let l = learn(&lines, None);
    assert_eq!(
        added(&l, Category::Network),
        [
            "10.0.0.5:45000",
            "127.0.0.1:32767",
            "127.0.0.1:32768-60999",
            "127.0.0.1:61000",
            "127.0.0.1:8080",
            "127.0.0.2:32768-60999",
            "[::1]:32768-60999",
            "db.internal:45000",
            "localhost:32768-60999",
            "udp:127.0.0.1:32768-60999",
        ]
    );
    let eph = l.added(Category::Network).iter().find(|a| a.rule == "127.0.0.1:32768-60999").unwrap();
    assert_eq!(
        eph.note(Category::Network).unwrap(),
        "ephemeral local port (from 2 targets: 127.0.0.1:45311, 127.0.0.1:51002)"
    );
    check_allows_seen(&l);
}

#[test]
fn processes_in_temp_dirs() {
    let lines = vec![
        ev("profile", "process", "/tmp/tmpa8f3k2/bin/helper", ""),
        ev("profile", "process", "/tmp/tools/run", ""),
        ev("profile", "process", "/var/task/bin/tool1", ""),
        ev("profile", "process", "/var/task/bin/tool2", ""),
    ];
    let l = learn(&lines, None);
    // Numbered files are for files only.
    assert_eq!(
        added(&l, Category::Process),
        ["/tmp/*/bin/helper", "/tmp/tools/run", "/var/task/bin/tool1", "/var/task/bin/tool2"]
    );
    check_allows_seen(&l);
}

#[test]
fn nothing_else_is_generalised() {
    let lines = vec![
        file("/proc/1234/status", "r"),
        file("/proc/1235/status", "r"),
        file("/var/task/8f5d0c1e-3b2a-4c5d-9e8f-0a1b2c3d4e5f.json", "r"),
        net("10.0.1.17:5432"),
        net("10.0.1.18:5432"),
        net("a.example.com:443"),
        net("b.example.com:443"),
    ];
    let l = learn(&lines, None);
    for a in l.added.iter().flatten() {
        // Numbered /proc entries would be the only candidate: they differ in
        // a directory, not in the last segment.
        assert!(a.generalised.is_empty(), "{a:?}");
        assert!(!a.rule.contains('*'), "{a:?}");
    }
    assert_eq!(l.total_added(), 7);
}

#[test]
fn never_too_wide() {
    let lines = vec![
        file("/a1", "r"),
        file("/a2", "r"),
        file("/tmpa8f3k2x9", "r"),
        file("/tmp/tmpa8f3k2", "r"),
        file("/weird*name/x", "r"),
        file("/var/task/we?rd*", "r"),
        net("127.0.0.1:40000"),
    ];
    let l = learn(&lines, None);
    for cat in Category::ALL {
        for r in l.doc.rules(cat) {
            let glob = r.rsplit(' ').next().unwrap();
            assert!(!glob.contains("**"), "{r}");
            assert!(!glob.starts_with("/*") && !glob.starts_with("/?"), "{r}");
            assert!(!r.starts_with("*"), "{r}");
        }
    }
    assert!(added(&l, Category::File).contains(&"r /var/task/we?rd?"));
    // A `*` in the first segment cannot be written safely: left out.
    assert!(!added(&l, Category::File).iter().any(|r| r.contains("weird")));
}

#[test]
fn merging_keeps_existing_rules_and_skips_covered() {
    let existing = PolicyDoc::from_json(
        r#"{"version":1,"mode":"block","block":["file"],"allow":{
            "file":["wr /tmp/keep","r /var/task/**"],
            "network":["*.amazonaws.com:443"],
            "api":["dynamodb:*"]}}"#,
    )
    .unwrap();
    let lines = vec![
        file("/var/task/app.py", "r"),
        file("/var/task/app.py", "w"),
        file("/tmp/keep", "rw"),
        file("/etc/hosts", "r"),
        net("dynamodb.eu-west-1.amazonaws.com:443"),
        net("example.org:443"),
        ev("profile", "api", "dynamodb:GetItem", ""),
        ev("profile", "api", "s3:GetObject", ""),
    ];
    let l = learn(&lines, Some(&existing));
    assert!(!l.new_policy);
    assert_eq!(l.doc.mode, Mode::Block);
    assert_eq!(l.doc.block, Some(vec![Category::File]));
    assert_eq!(l.doc.rules(Category::File), ["wr /tmp/keep", "r /var/task/**", "r /etc/hosts", "w /var/task/app.py"]);
    assert_eq!(l.doc.rules(Category::Network), ["*.amazonaws.com:443", "example.org:443"]);
    assert_eq!(l.doc.rules(Category::Api), ["dynamodb:*", "s3:GetObject"]);
    assert_eq!(l.counts.already_allowed, 3);
    check_allows_seen(&l);
    // Learning the same again adds nothing.
    let again = learn(&lines, Some(&l.doc));
    assert_eq!(again.total_added(), 0);
    assert_eq!(again.doc, l.doc);
}

#[test]
fn merging_an_invalid_policy_is_an_error() {
    let bad = PolicyDoc::from_json(r#"{"version":1,"mode":"alert","allow":{"file":["rw/tmp/**"]}}"#).unwrap();
    let mut l = Learner::new();
    l.add_line(&file("/x", "r"));
    let err = l.finish(Some(&bad)).unwrap_err();
    assert_eq!(err.to_string(), r#"allow.file[0]: "rw/tmp/**": expected "r|w|rw GLOB""#);
}

#[test]
fn what_is_not_learned() {
    let lines = vec![
        "START RequestId: 8f5d0c1e Version: $LATEST".to_string(),
        file("/var/task/app.py", "r"),
        ev("block", "file", "/etc/shadow", r#","access":"r""#),
        r#"{"rampart":1,"type":"status","msg":"policy loaded","pid":8,"req":null,"fn":"orders","ts":1}"#.into(),
        r#"{"rampart":1,"type":"error","msg":"fetch failed","pid":8,"req":null,"fn":"orders","ts":1}"#.into(),
        ev("profile", "file", "/var/task/very/long", r#","access":"r","cut":true"#),
        "2026-11-27T10:00:00.123Z\tabc\tINFO\t{\"rampart\":1,\"type\":\"profile\",\"cat\":".into(),
        ev("profile", "file", "relative/path", r#","access":"r""#),
        ev("profile", "file", "/no/access", ""),
        ev("profile", "network", "*.example.com:443", ""),
        ev("profile", "input", "aws:smtp", ""),
    ];
    let l = learn(&lines, None);
    assert_eq!(added(&l, Category::File), ["r /var/task/app.py"]);
    assert_eq!(l.total_added(), 1);
    let c = l.counts;
    assert_eq!(
        (
            c.lines,
            c.non_rampart,
            c.rampart,
            c.malformed,
            c.learned,
            c.block_skipped,
            c.status_ignored,
            c.cut,
            c.unusable
        ),
        (11, 1, 10, 1, 1, 1, 2, 1, 4)
    );
    let w: Vec<String> = l.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w[0], "line 3: block line not learned: file r /etc/shadow");
    assert_eq!(w[1], "line 6: target was cut to fit the line, not learned: file r /var/task/very/long…");
    assert!(w[2].starts_with("line 7: "), "{}", w[2]);
    assert_eq!(l.warnings[2].kind, WarningKind::Malformed);
    assert!(w[3].starts_with("line 8: profile event not learned: \"relative/path\""), "{}", w[3]);
    assert!(w[4].contains("without \"access\""), "{}", w[4]);
    assert!(w[5].contains("not one address or name"), "{}", w[5]);
    assert!(w[6].contains("not an event source"), "{}", w[6]);
    let text = l.summary_text();
    assert!(
        text.contains("skipped 1 block line: learning from block lines would allow what the policy blocked"),
        "{text}"
    );
    assert!(text.contains("  line 3: block line not learned: file r /etc/shadow"), "{text}");
    // The blocked file stays denied.
    assert!(!matcher(&l).allows_file(b"/etc/shadow", Access::R));
}

#[test]
fn sources_name_warnings() {
    let mut l = Learner::new();
    l.start_source("a.log");
    l.add_line("noise");
    l.start_source("b.log");
    l.add_line("noise");
    l.add_line("{\"rampart\":1,oops}");
    let l = l.finish(None).unwrap();
    assert_eq!(l.warnings[0].to_string().split(": ").take(2).collect::<Vec<_>>(), ["b.log", "line 2"]);
    assert_eq!(l.counts.lines, 3);
}

#[test]
fn prefixed_lines_are_learned() {
    let e = file("/var/task/app.py", "r");
    let record = serde_json::json!({"timestamp": "2026-11-27T10:00:00Z", "level": "INFO", "message": e}).to_string();
    let lines = vec![
        format!("2026-11-27T10:00:00.123Z\t8f5d0c1e-3b2a-4c5d-9e8f-0a1b2c3d4e5f\tINFO\t{}", file("/a/1", "r")),
        format!("2026-11-27T10:00:00.123Z 8f5d0c1e-3b2a-4c5d-9e8f-0a1b2c3d4e5f {}", file("/a/b", "r")),
        format!("2026-11-27T10:00:00.123000+00:00 2026/11/27/[$LATEST]abc {}", file("/a/c", "r")),
        format!("EVENTS\t2026/11/27/[$LATEST]abc\t1764280000123\t{}\t1764280000456\t37890", file("/a/d", "r")),
        record,
    ];
    let l = learn(&lines, None);
    assert_eq!(added(&l, Category::File), ["r /a/1", "r /a/b", "r /a/c", "r /a/d", "r /var/task/app.py"]);
    assert_eq!(l.counts.non_rampart, 0);
}

#[test]
fn api_with_only_the_service() {
    let l = learn(&[ev("profile", "api", "s3", ""), ev("profile", "api", "sqs:*", "")], None);
    assert_eq!(added(&l, Category::Api), ["s3:*", "sqs:*"]);
    assert_eq!(l.added(Category::Api)[0].generalised, ["only the service was known"]);
    check_allows_seen(&l);
}

#[test]
fn api_buckets_are_learned_as_written() {
    let l = learn(
        &[
            ev("profile", "api", "s3:GetObject@My-Bucket", ""),
            ev("profile", "api", "s3:PutObject@logs", ""),
            ev("alert", "api", "dynamodb:GetItem", ""),
        ],
        None,
    );
    assert_eq!(added(&l, Category::Api), ["dynamodb:GetItem", "s3:GetObject@my-bucket", "s3:PutObject@logs"]);
    check_allows_seen(&l);
    let m = matcher(&l);
    assert!(!m.allows_api("s3", Some("GetObject"), Some("other")));
    assert!(!m.allows_api("s3", Some("PutObject"), Some("my-bucket")));
    // A wildcard bucket is not one observation.
    let bad = learn(&[ev("profile", "api", "s3:GetObject@log*", "")], None);
    assert!(added(&bad, Category::Api).is_empty());
}

/// A service-level observation (`SERVICE:*`, from a connection to the
/// endpoint) is allowed by any rule of its service: learned alongside an
/// action-level rule of the service it adds nothing, whatever the order
/// of the lines.
#[test]
fn service_level_is_dropped_when_an_action_of_the_service_is_learned() {
    let lines = [
        ev("profile", "api", "dynamodb:*", r#","service":"dynamodb","region":"eu-west-1""#),
        ev("profile", "api", "dynamodb:GetItem", ""),
        ev("profile", "api", "s3:*@mybucket", r#","service":"s3","bucket":"mybucket""#),
        ev("profile", "api", "s3:GetObject@mybucket", ""),
        ev("profile", "api", "s3:*@otherbucket", ""),
        ev("profile", "api", "sqs:*", ""),
    ];
    let want = ["dynamodb:GetItem", "s3:*@otherbucket", "s3:GetObject@mybucket", "sqs:*"];
    let forward = learn(&lines, None);
    assert_eq!(added(&forward, Category::Api), want);
    let mut reversed = lines.to_vec();
    reversed.reverse();
    let backward = learn(&reversed, None);
    assert_eq!(added(&backward, Category::Api), want);
    for l in [&forward, &backward] {
        check_allows_seen(l);
        let get_item = &l.added(Category::Api)[0];
        assert_eq!(get_item.from, ["dynamodb:*", "dynamodb:GetItem"], "the dropped line is credited");
    }
    // A path-style connection (bucket unknown) is allowed by a bucket rule.
    let l = learn(&[ev("profile", "api", "s3:*", ""), ev("profile", "api", "s3:GetObject@b", "")], None);
    assert_eq!(added(&l, Category::Api), ["s3:GetObject@b"]);
    // An existing action-level rule of the service already allows it.
    let doc = PolicyDoc::from_json(r#"{"version":1,"mode":"block","allow":{"api":["dynamodb:Query"]}}"#).unwrap();
    let l = learn(&[ev("profile", "api", "dynamodb:*", "")], Some(&doc));
    assert!(added(&l, Category::Api).is_empty());
}

#[test]
fn summary_json_shape() {
    let l = learn(&[file("/tmp/tmpa8f3k2", "w"), ev("block", "file", "/etc/shadow", r#","access":"r""#)], None);
    let j = l.summary_json();
    assert_eq!(j["added"]["file"][0]["rule"], "w /tmp/*");
    assert_eq!(j["added"]["file"][0]["generalised"][0], "random temp name");
    assert_eq!(j["added"]["file"][0]["from"][0], "w /tmp/tmpa8f3k2");
    assert_eq!(j["added"]["network"], serde_json::json!([]));
    assert_eq!(j["counts"]["block_skipped"], 1);
    assert_eq!(j["warnings"][0]["kind"], "block");
    assert_eq!(j["warnings"][0]["line"], 2);
    assert_eq!(j["mode"], "alert");
}

#[test]
fn output_is_deterministic() {
    let mut lines = vec![
        file("/var/task/b.py", "r"),
        file("/var/task/a.py", "r"),
        net("z.example.com:443"),
        net("a.example.com:443"),
        file("/tmp/tmpa8f3k2", "w"),
    ];
    let one = learn(&lines, None).doc.to_json();
    lines.reverse();
    assert_eq!(learn(&lines, None).doc.to_json(), one);
}
