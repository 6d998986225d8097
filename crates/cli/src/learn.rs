//! `rampart learn`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_aws::Service;
use rampart_aws::logs::{FilterLogEvents, filter_log_events};
use rampart_learn::Learner;

use crate::LearnArgs;
use crate::aws::{aws_fail, client};
use crate::files::{Fail, io_message, print, read_doc, write_atomic};

/// The CloudWatch filter pattern that selects rampart's lines (DESIGN.md:
/// every line is a JSON object with `"rampart":1`).
pub const FILTER_PATTERN: &str = "{ $.rampart = 1 }";

fn is_stdin(p: &Path) -> bool {
    p.as_os_str() == "-"
}

pub fn run(args: LearnArgs) -> Result<ExitCode, Fail> {
    let out_to_stdout = match &args.output {
        Some(o) => is_stdin(o),
        None => args.policy.is_none(),
    };
    if args.json && out_to_stdout {
        return Err(Fail::new(
            "--json prints the summary on stdout, so the policy needs a file: give -o OUT or --policy IN",
        ));
    }
    if args.function.is_none() && (args.aws.profile.is_some() || args.aws.region.is_some()) {
        return Err(Fail::new("--profile and --region go with --function (reading a log group)"));
    }
    let since = args.function.as_ref().map(|_| parse_since(&args.since)).transpose()?;
    let existing = args.policy.as_deref().map(read_doc).transpose()?;
    let logs = if args.logs.is_empty() { vec![PathBuf::from("-")] } else { args.logs.clone() };

    let mut learner = Learner::new();
    if let (Some(function), Some(since)) = (&args.function, since) {
        read_log_group(function, since, &args, &mut learner)?;
    }
    for log in logs.iter().filter(|_| args.function.is_none()) {
        if logs.len() > 1 {
            learner.start_source(if is_stdin(log) { "stdin".to_string() } else { log.display().to_string() });
        }
        if is_stdin(log) {
            read_lines(io::stdin().lock(), Path::new("stdin"), &mut learner)?;
        } else {
            let file = File::open(log).map_err(|e| Fail::io(log, &e))?;
            read_lines(BufReader::new(file), log, &mut learner)?;
        }
    }
    let learned = learner.finish(existing.as_ref()).map_err(|e| match &args.policy {
        Some(p) => Fail(format!("{}: {e}", p.display())),
        None => Fail(e.to_string()),
    })?;
    let text = learned.doc.to_json();

    let written: Option<&Path> = match (&args.output, &args.policy) {
        (Some(out), _) if !is_stdin(out) => {
            write_atomic(out, text.as_bytes())?;
            Some(out)
        }
        (None, Some(policy)) => {
            // Extending in place: leave the file byte-identical when nothing is new.
            if learned.total_added() > 0 {
                write_atomic(policy, text.as_bytes())?;
            }
            Some(policy)
        }
        _ => {
            print(&text)?;
            None
        }
    };

    if args.json {
        let mut summary = learned.summary_json();
        if let (Some(obj), Some(path)) = (summary.as_object_mut(), written) {
            obj.insert("policy".into(), serde_json::Value::String(path.display().to_string()));
            obj.insert("written".into(), serde_json::Value::Bool(learned.total_added() > 0 || args.output.is_some()));
        }
        let json = serde_json::to_string_pretty(&summary).map_err(|e| Fail(e.to_string()))?;
        print(&format!("{json}\n"))?;
    } else {
        let mut summary = learned.summary_text();
        match written {
            Some(p) if learned.total_added() == 0 && args.output.is_none() => {
                summary.push_str(&format!("{}: unchanged\n", p.display()));
            }
            Some(p) => summary.push_str(&format!("wrote {}\n", p.display())),
            None => {}
        }
        eprint!("{summary}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Feeds every line of `input` to the learner. Lines need not be UTF-8
/// (invalid bytes become U+FFFD). A gzip file is refused with a hint.
fn read_lines(mut input: impl BufRead, name: &Path, learner: &mut Learner) -> Result<(), Fail> {
    let fail = |e: io::Error| Fail(format!("{}: {}", name.display(), io_message(&e)));
    let head = input.fill_buf().map_err(fail)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return Err(Fail(format!(
            "{}: gzip-compressed; decompress it first (gunzip -c FILE | rampart learn)",
            name.display()
        )));
    }
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        // A line longer than 16 MiB is not a log line; read it in pieces.
        let n = (&mut input).take(16 << 20).read_until(b'\n', &mut buf).map_err(fail)?;
        if n == 0 {
            return Ok(());
        }
        learner.add_line(&String::from_utf8_lossy(&buf));
    }
}

/// `30m`, `6h`, `2d`: a number and one of s, m, h, d.
pub fn parse_since(text: &str) -> Result<Duration, Fail> {
    let bad = || Fail(format!("--since {text:?}: expected a number and a unit, e.g. 30m, 6h, 2d (s, m, h, d)"));
    let t = text.trim();
    let unit = t.chars().last().ok_or_else(bad)?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = t[..t.len() - 1].parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(bad());
    }
    n.checked_mul(secs).map(Duration::from_secs).ok_or_else(bad)
}

/// The name in a function ARN (`arn:aws:lambda:R:A:function:NAME[:QUALIFIER]`), else `function` itself.
fn function_name(function: &str) -> &str {
    match function.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => function,
    }
}

/// Feeds every event of `/aws/lambda/NAME` since `since` ago to the
/// learner, page by page (FilterLogEvents until there is no nextToken),
/// with a progress line per page on stderr.
fn read_log_group(function: &str, since: Duration, args: &LearnArgs, learner: &mut Learner) -> Result<(), Fail> {
    crate::instrument::check_function(function)?;
    let group = format!("/aws/lambda/{}", function_name(function));
    let client = client(Service::Logs, &args.aws)?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let start_time = now_ms - since.as_millis() as i64;
    let tty = io::stderr().is_terminal();
    learner.start_source(group.clone());
    let (mut pages, mut events, mut lines) = (0u64, 0u64, 0u64);
    let mut token: Option<String> = None;
    loop {
        let request = FilterLogEvents {
            log_group_name: &group,
            start_time: Some(start_time),
            filter_pattern: (!args.no_filter).then_some(FILTER_PATTERN),
            next_token: token.as_deref(),
            ..Default::default()
        };
        let page = filter_log_events(&client, &request).map_err(|e| {
            if e.code() == Some("ResourceNotFoundException") {
                Fail(format!(
                    "log group {group} not found in region {} ({e}): has the function run and logged yet, is the region right (--region), or does it log to another group?",
                    client.region()
                ))
            } else {
                aws_fail(&e, "logs:FilterLogEvents")
            }
        })?;
        pages += 1;
        for event in &page.events {
            events += 1;
            let message = event.message.as_deref().unwrap_or_default();
            lines += message.matches(rampart_event::PREFIX).count() as u64;
            learner.add_text(message);
        }
        let progress =
            format!("{group} (last {}): page {pages}, {events} events, {lines} rampart lines", args.since.trim());
        // A terminal gets one line rewritten in place; a log gets a line per page.
        if tty {
            eprint!("\r{progress}");
        } else {
            eprintln!("reading {progress}");
        }
        // A page can be empty and still have a token: the search goes on.
        match page.next_token {
            Some(t) if Some(&t) != token.as_ref() => token = Some(t),
            _ => break,
        }
    }
    if tty {
        eprintln!();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_since() {
        assert_eq!(parse_since("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_since("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_since("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(parse_since("45s").unwrap(), Duration::from_secs(45));
        for bad in ["", "h", "1", "1w", "0h", "-1h", "1.5h", "99999999999999999999d"] {
            let e = parse_since(bad).unwrap_err();
            assert!(e.0.contains("expected a number and a unit"), "{bad}: {}", e.0);
        }
    }

    #[test]
    fn names_of_functions() {
        assert_eq!(function_name("orders"), "orders");
        assert_eq!(function_name("arn:aws:lambda:eu-west-1:123456789012:function:orders"), "orders");
        assert_eq!(function_name("arn:aws:lambda:eu-west-1:123456789012:function:orders:live"), "orders");
        assert_eq!(function_name("123456789012:function:orders"), "orders");
    }
}
