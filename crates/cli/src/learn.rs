//! `rampart learn`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rampart_learn::Learner;

use crate::LearnArgs;
use crate::files::{Fail, io_message, print, read_doc, write_atomic};

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
    let existing = args.policy.as_deref().map(read_doc).transpose()?;
    let logs = if args.logs.is_empty() { vec![PathBuf::from("-")] } else { args.logs.clone() };

    let mut learner = Learner::new();
    for log in &logs {
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
