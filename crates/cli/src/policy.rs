//! `rampart policy check|show|allow|mode|diff`; `keygen` and `sign` are in
//! `keys`, `push`, `pull` and `mode s3://...` in `remote`.

use std::path::Path;
use std::process::ExitCode;

use rampart_learn::{Coverage, coverage, covers};
use rampart_policy::{Category, CategorySet, Mode, PolicyDoc, Rule};

use crate::files::{Fail, print, read_valid, write_atomic};
use crate::{PolicyCommand, keys, remote};

pub fn run(cmd: PolicyCommand) -> Result<ExitCode, Fail> {
    match cmd {
        PolicyCommand::Check { files } => Ok(check(&files)),
        PolicyCommand::Show { file, json } => show(&file, json),
        PolicyCommand::Allow { file, category, rules } => allow(&file, &category, &rules),
        PolicyCommand::Mode { file, mode, key, pubkey, s3 } => match file.to_str().filter(|f| f.starts_with("s3://")) {
            Some(url) => remote::set_mode(url, &mode, key.as_deref(), pubkey.pubkey.as_deref(), &s3),
            None => {
                if s3.profile.is_some() || pubkey.pubkey.is_some() {
                    return Err(Fail::new("--profile and --pubkey apply to s3:// locations only"));
                }
                set_mode(&file, &mode, key.as_deref())
            }
        },
        PolicyCommand::Diff { a, b } => diff(&a, &b),
        PolicyCommand::Keygen { output, force } => keys::keygen(&output, force),
        PolicyCommand::Sign { file, key } => keys::sign(&file, &key),
        PolicyCommand::Push { file, location, key, pubkey, s3 } => {
            remote::push(&file, &location, key.as_deref(), pubkey.pubkey.as_deref(), &s3)
        }
        PolicyCommand::Pull { location, output, pubkey, s3 } => {
            remote::pull(&location, output.as_deref(), pubkey.pubkey.as_deref(), &s3)
        }
    }
}

fn block_names(set: CategorySet) -> String {
    let names: Vec<&str> = set.iter().map(Category::as_str).collect();
    if names.is_empty() { "none".into() } else { names.join(", ") }
}

/// `mode block, blocking file; file 3, network 3, process 2, api 2, input 2`.
pub fn summary(mode: Mode, block: CategorySet, counts: [usize; 5]) -> String {
    let counts: Vec<String> = Category::ALL.iter().zip(counts).map(|(c, n)| format!("{c} {n}")).collect();
    let mode = match mode {
        Mode::Block if block != CategorySet::ALL => format!("mode block, blocking {}", block_names(block)),
        m => format!("mode {m}"),
    };
    format!("{mode}; {}", counts.join(", "))
}

/// The modes a policy can be set to (`off` is for RAMPART_MODE only).
pub fn parse_mode(mode: &str) -> Result<Mode, Fail> {
    match Mode::parse(mode) {
        Some(m @ (Mode::Profile | Mode::Alert | Mode::Block)) => Ok(m),
        _ => Err(Fail(format!("unknown mode {mode:?} (expected profile, alert or block)"))),
    }
}

fn check(files: &[impl AsRef<Path>]) -> ExitCode {
    let mut bad = false;
    for file in files {
        let file = file.as_ref();
        match read_valid(file) {
            Ok((doc, policy)) => {
                let summary = summary(doc.mode, doc.block_set(), policy.counts());
                if print(&format!("{}: ok ({summary})\n", file.display())).is_err() {
                    bad = true;
                }
            }
            Err(Fail(msg)) => {
                eprintln!("rampart: {msg}");
                bad = true;
            }
        }
    }
    if bad { ExitCode::from(2) } else { ExitCode::SUCCESS }
}

/// The document with every rule in canonical form.
fn canonical(doc: &PolicyDoc) -> PolicyDoc {
    let mut out = PolicyDoc::new(doc.mode);
    out.block.clone_from(&doc.block);
    for cat in Category::ALL {
        let rules: Vec<String> =
            doc.rules(cat).iter().map(|t| Rule::parse(cat, t).map_or_else(|_| t.clone(), |r| r.to_string())).collect();
        *out.rules_mut(cat) = rules;
    }
    out
}

fn show(file: &Path, json: bool) -> Result<ExitCode, Fail> {
    let (doc, _) = read_valid(file)?;
    if json {
        print(&canonical(&doc).to_json())?;
        return Ok(ExitCode::SUCCESS);
    }
    let what = match doc.mode {
        Mode::Profile => "report each distinct activity once, deny nothing",
        Mode::Alert => "report what is not allowed, deny nothing",
        Mode::Block => "deny what is not allowed in the blocked categories, report the rest",
        Mode::Off => "off",
    };
    let mut out = format!("{}\nmode: {} ({what})\n", file.display(), doc.mode);
    let blocked = block_names(doc.block_set());
    if doc.mode == Mode::Block {
        out.push_str(&format!("blocked categories: {blocked}\n"));
    } else {
        out.push_str(&format!("blocked categories in block mode: {blocked}\n"));
    }
    for cat in Category::ALL {
        let rules = doc.rules(cat);
        if rules.is_empty() {
            out.push_str(&format!("{cat}: none allowed\n"));
            continue;
        }
        out.push_str(&format!("{cat} ({}):\n", rules.len()));
        for r in rules {
            out.push_str(&format!("  {r}\n"));
        }
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn parse_category(name: &str) -> Result<Category, Fail> {
    Category::parse(name)
        .ok_or_else(|| Fail(format!("unknown category {name:?} (expected file, network, process, api or input)")))
}

fn allow(file: &Path, category: &str, texts: &[String]) -> Result<ExitCode, Fail> {
    let cat = parse_category(category)?;
    let (mut doc, _) = read_valid(file)?;
    // Every rule is checked before anything changes.
    let mut rules = Vec::with_capacity(texts.len());
    for text in texts {
        let rule = Rule::parse(cat, text).map_err(|e| Fail(format!("{cat} rule {text:?}: {e}")))?;
        rules.push(rule);
    }
    let mut out = String::new();
    let mut changed = false;
    for rule in rules {
        let text = rule.to_string();
        match coverage(&doc, &rule) {
            Coverage::Present(as_written) => out.push_str(&format!("already present: {cat} {as_written}\n")),
            Coverage::CoveredBy(by) => {
                let by: Vec<String> = by.iter().map(|r| format!("{r:?}")).collect();
                out.push_str(&format!("already allowed: {cat} {text} (by {})\n", by.join(" and ")));
            }
            Coverage::New => {
                doc.rules_mut(cat).push(text.clone());
                changed = true;
                out.push_str(&format!("added: {cat} {text}\n"));
            }
        }
    }
    if changed {
        // The result must still be a valid policy (it is: every rule parsed).
        doc.validate().map_err(|e| Fail(format!("{}: {e}", file.display())))?;
        let json = doc.to_json();
        write_atomic(file, json.as_bytes())?;
        out.push_str(&format!("wrote {}\n", file.display()));
        out.push_str(&keys::after_edit(file, json.as_bytes(), None)?);
    } else {
        out.push_str(&format!("{}: unchanged\n", file.display()));
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn set_mode(file: &Path, mode: &str, key_file: Option<&Path>) -> Result<ExitCode, Fail> {
    let mode = parse_mode(mode)?;
    let key = key_file.map(keys::load_secret).transpose()?;
    let (mut doc, _) = read_valid(file)?;
    if doc.mode == mode {
        let mut out = format!("{}: mode is already {mode}\n", file.display());
        if let Some(key) = &key {
            // Still sign: --key asks for a FILE.sig that matches.
            let bytes = std::fs::read(file).map_err(|e| Fail::io(file, &e))?;
            out.push_str(&keys::after_edit(file, &bytes, Some(key))?);
        }
        print(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let was = doc.mode;
    doc.mode = mode;
    let json = doc.to_json();
    write_atomic(file, json.as_bytes())?;
    let mut out = format!("{}: mode {mode} (was {was})\n", file.display());
    out.push_str(&keys::after_edit(file, json.as_bytes(), key.as_ref())?);
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The canonical rules of a category, without repeats, in file order.
fn rule_list(doc: &PolicyDoc, cat: Category) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    for text in doc.rules(cat) {
        if let Ok(rule) = Rule::parse(cat, text)
            && !out.contains(&rule)
        {
            out.push(rule);
        }
    }
    out
}

fn diff(a: &Path, b: &Path) -> Result<ExitCode, Fail> {
    let (da, _) = read_valid(a)?;
    let (db, _) = read_valid(b)?;
    let mut body = String::new();
    if da.mode != db.mode {
        body.push_str(&format!("- mode {}\n+ mode {}\n", da.mode, db.mode));
    }
    if da.block_set() != db.block_set() {
        body.push_str(&format!("- block {}\n+ block {}\n", block_names(da.block_set()), block_names(db.block_set())));
    }
    for cat in Category::ALL {
        let (ra, rb) = (rule_list(&da, cat), rule_list(&db, cat));
        let only_a: Vec<&Rule> = ra.iter().filter(|r| !rb.contains(r)).collect();
        let only_b: Vec<&Rule> = rb.iter().filter(|r| !ra.contains(r)).collect();
        if only_a.is_empty() && only_b.is_empty() {
            continue;
        }
        body.push_str(&format!("{cat}:\n"));
        let line = |sign: char, rule: &Rule, other: &[Rule], name: &str| match other.iter().find(|o| covers(o, rule)) {
            Some(by) => format!("{sign} {rule}    # {name} allows it too, by {:?}\n", by.to_string()),
            None => format!("{sign} {rule}\n"),
        };
        for r in only_a {
            body.push_str(&line('-', r, &rb, "B"));
        }
        for r in only_b {
            body.push_str(&line('+', r, &ra, "A"));
        }
    }
    if body.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    print(&format!("--- {}\n+++ {}\n{body}", a.display(), b.display()))?;
    Ok(ExitCode::from(1))
}
