//! Finding rampart's event line inside a line of a log export.
//!
//! The layer writes one JSON object a line to stderr, starting with
//! [`PREFIX`]. By the time a user has the log, something may have been put
//! around it:
//!
//! - CloudWatch console and `aws logs get-log-events` exports put a
//!   timestamp, the request id and a level before the message, separated by
//!   tabs or spaces (`2026-11-27T10:00:00.123Z\t8f5d...\tINFO\t{"rampart":1,...}`);
//! - `aws logs tail` puts a timestamp and the log stream name before it;
//! - `aws logs filter-log-events --output text` writes rows
//!   `EVENTS\tSTREAM\tTIMESTAMP\tMESSAGE\tINGESTION\tID`: fields after it;
//! - Lambda's JSON log format makes the whole line a JSON object whose
//!   `message` is the event line, as a string (escaped) or as an object.
//!
//! [`find`] looks for the prefix anywhere in the line and takes the JSON
//! object that starts there (up to its closing brace, so trailing fields are
//! ignored); when the prefix only appears escaped, it reads the line's JSON
//! record and takes its `message`.

use std::borrow::Cow;

use rampart_event::PREFIX;
use serde_json::Value;

/// The prefix as it appears inside a JSON string.
const ESCAPED_PREFIX: &str = "{\\\"rampart\\\":1,";

/// What a log line holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Found<'a> {
    /// Not rampart's: ordinary output, platform lines, tracebacks.
    None,
    /// The rampart event line (to be decoded).
    Line(Cow<'a, str>),
    /// The line claims to carry a rampart line that cannot be taken out.
    Bad(String),
}

/// Finds the rampart event line in one line of a log (without its newline).
pub fn find(line: &str) -> Found<'_> {
    if let Some(at) = line.find(PREFIX) {
        let rest = &line[at..];
        return Found::Line(Cow::Borrowed(match object_end(rest) {
            Some(end) => &rest[..end],
            // Not closed: hand it over whole, the decoder says what is wrong.
            None => rest.trim_end(),
        }));
    }
    if line.contains(ESCAPED_PREFIX) {
        return from_record(line);
    }
    Found::None
}

/// A JSON log record (Lambda's JSON log format, possibly with text around it,
/// as `filter-log-events --output text` writes it) whose `message` is the
/// rampart line as a string.
fn from_record(line: &str) -> Found<'_> {
    let Some(start) = line.find('{') else {
        return Found::Bad("the rampart line is escaped but not inside a JSON log record".into());
    };
    let text = &line[start..];
    let record = &text[..object_end(text).unwrap_or(text.len())];
    let value: Value = match serde_json::from_str(record) {
        Ok(v) => v,
        Err(e) => return Found::Bad(format!("a JSON log record with a rampart line does not parse: {e}")),
    };
    let message = match value.get("message") {
        Some(Value::String(s)) => s,
        _ => return Found::Bad("a JSON log record mentions rampart but has no \"message\" string".into()),
    };
    match message.find(PREFIX) {
        Some(at) => {
            let rest = &message[at..];
            let end = object_end(rest).unwrap_or(rest.trim_end().len());
            Found::Line(Cow::Owned(rest[..end].to_owned()))
        }
        None => Found::Bad("a JSON log record mentions rampart but its \"message\" is not a rampart line".into()),
    }
}

/// The length of the JSON object at the start of `s` (which starts with
/// `{`), through its closing brace; `None` when it is not closed.
pub(crate) fn object_end(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const EV: &str = r#"{"rampart":1,"type":"profile","cat":"file","op":"openat","target":"/var/task/app.py","access":"r","pid":8,"req":null,"fn":"orders","ts":1764280000123}"#;

    fn line(found: Found<'_>) -> String {
        match found {
            Found::Line(l) => l.into_owned(),
            other => panic!("expected a line, got {other:?}"),
        }
    }

    #[test]
    fn bare_line() {
        assert_eq!(line(find(EV)), EV);
        assert_eq!(line(find(&format!("{EV}\r"))), EV);
    }

    #[test]
    fn cloudwatch_prefixes() {
        for prefixed in [
            format!("2026-11-27T10:00:00.123Z\t8f5d0c1e-3b2a-4c5d-9e8f-0a1b2c3d4e5f\tINFO\t{EV}"),
            format!("2026-11-27T10:00:00.123Z 8f5d0c1e-3b2a-4c5d-9e8f-0a1b2c3d4e5f {EV}"),
            format!("2026-11-27T10:00:00.123000+00:00 2026/11/27/[$LATEST]abc0123456789def {EV}"),
            format!("EVENTS\t2026/11/27/[$LATEST]abc\t1764280000123\t{EV}\t1764280000456\t3789012345"),
            format!("EVENTS\t2026/11/27/[$LATEST]abc\t1764280000123\t{EV}\n\t1764280000456\t3789012345"),
        ] {
            assert_eq!(line(find(&prefixed)), EV, "{prefixed}");
        }
    }

    #[test]
    fn braces_inside_strings_do_not_end_the_object() {
        let ev = r#"{"rampart":1,"type":"profile","cat":"process","target":"/usr/bin/sh","argv":["sh","-c","echo } { \"}\""],"pid":1,"req":null,"fn":null,"ts":1}"#;
        assert_eq!(line(find(&format!("ts\t{ev}\ttrailing}}"))), ev);
    }

    #[test]
    fn json_log_format() {
        let record = serde_json::json!({
            "timestamp": "2026-11-27T10:00:00.123Z",
            "level": "INFO",
            "requestId": "8f5d0c1e",
            "message": EV,
        })
        .to_string();
        assert_eq!(line(find(&record)), EV);
        // With a trailing newline in the message, and text around the record.
        let record = serde_json::json!({ "time": "x", "message": format!("{EV}\n") }).to_string();
        assert_eq!(line(find(&format!("EVENTS\tstream\t1\t{record}\t2\tid"))), EV);
        // The message as an object: the prefix is there unescaped.
        let record = format!(r#"{{"time":"x","type":"function","message":{EV}}}"#);
        assert_eq!(line(find(&record)), EV);
    }

    #[test]
    fn not_rampart() {
        for other in [
            "START RequestId: 8f5d0c1e Version: $LATEST",
            "INIT_START Runtime Version: python:3.12.v38",
            "{\"time\":\"x\",\"type\":\"platform.start\",\"record\":{}}",
            "{'rampart': 1, 'type': 'profile'}",
            "",
        ] {
            assert_eq!(find(other), Found::None, "{other}");
        }
    }

    #[test]
    fn broken() {
        // Unclosed: passed on whole so the decoder reports it.
        assert_eq!(line(find("ts {\"rampart\":1,\"type\":\"prof")), "{\"rampart\":1,\"type\":\"prof");
        assert!(matches!(find(r#"{"message":"{\"rampart\":1,\"type" "#), Found::Bad(_)));
        assert!(matches!(find(r#"{"msg":"{\"rampart\":1,\"type\":1}"}"#), Found::Bad(_)));
        assert!(matches!(find(r#"text {\"rampart\":1, more"#), Found::Bad(_)));
    }
}
