//! Learning: event lines in, allowlist rules out.
//!
//! A [`Learner`] is fed the lines of one or more logs ([`Learner::add_line`]),
//! finds rampart's event lines in them (whatever CloudWatch put around them,
//! see [`extract`]), and collects the distinct activities of `profile` and
//! `alert` lines. [`Learner::finish`] turns those into rules — generalising
//! only as [`generalise`] describes — and merges them into an existing
//! policy or a new one. The [`Learned`] result says what was added, from
//! what, and what was skipped and why.
//!
//! What is not learned, and why:
//! - `block` lines: the policy denied that activity; learning it would allow
//!   what was blocked. They are counted and listed; a user who wants one
//!   allowed says so with `rampart policy allow`.
//! - `status` and `error` lines: they are about the layer, not the function.
//! - events marked `cut`: the target is not whole, so no rule can be made.
//! - rampart lines that do not decode: reported with their line number.
//!
//! This crate does no I/O: callers pass the lines in.

#![forbid(unsafe_code)]

pub mod cover;
pub mod extract;
pub mod generalise;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use rampart_event::{Event, EventType};
use rampart_policy::{
    Access, Category, Connect, Glob, GlobSeg, HostPattern, InputSource, Matcher, Mode, NetRule, PATH_MAX, Policy,
    PolicyDoc, PolicyError, Proto, Rule, normalize_path,
};
use serde::Serialize;

pub use cover::{Coverage, coverage, covers};
pub use extract::{Found, find};

/// One distinct thing the function did, as an event line reported it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Activity {
    /// A file opened (normalised absolute path) with this access.
    File { path: String, access: Access },
    /// A connection or datagram to a host (the DNS name when the layer knew
    /// it, else the address) and port.
    Connect { proto: Proto, host: Host, port: u16 },
    /// A Unix socket: an absolute path or `@name`.
    Unix(String),
    /// A program executed (normalised absolute path).
    Process(String),
    /// An AWS API call; `action` is `None` when only the service was known
    /// (a connection to its endpoint), `bucket` the S3 bucket when known.
    Api { service: String, action: Option<String>, bucket: Option<String> },
    /// The event source of an invocation.
    Input(InputSource),
}

/// The host of a connection.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl Activity {
    pub fn category(&self) -> Category {
        match self {
            Activity::File { .. } => Category::File,
            Activity::Connect { .. } | Activity::Unix(_) => Category::Network,
            Activity::Process(_) => Category::Process,
            Activity::Api { .. } => Category::Api,
            Activity::Input(_) => Category::Input,
        }
    }

    /// Does the compiled policy allow this activity?
    pub fn allowed_by(&self, m: &Matcher) -> bool {
        match self {
            Activity::File { path, access } => m.allows_file(path.as_bytes(), *access),
            Activity::Connect { proto, host, port } => {
                let (ip, name) = match host {
                    Host::Ip(ip) => (Some(*ip), None),
                    Host::Name(n) => (None, Some(n.as_bytes())),
                };
                m.allows_connect(&Connect { proto: *proto, ip, name, port: *port })
            }
            Activity::Unix(path) => m.allows_unix(path.as_bytes()),
            Activity::Process(path) => m.allows_process(path.as_bytes()),
            Activity::Api { service, action, bucket } => m.allows_api(service, action.as_deref(), bucket.as_deref()),
            Activity::Input(src) => m.allows_input(*src),
        }
    }

    /// Reads the activity an event reports.
    pub fn from_event(ev: &Event) -> Result<Activity, String> {
        let cat = ev.cat.ok_or("no \"cat\"")?;
        let target = ev.target.as_deref().ok_or("no \"target\"")?;
        match cat {
            Category::File => {
                let access = ev.access.filter(|a| *a != Access::NONE).ok_or("a file event without \"access\"")?;
                Ok(Activity::File { path: absolute(target)?, access })
            }
            Category::Network => {
                if let Some(path) = target.strip_prefix("unix:") {
                    return if path.starts_with('@') && path.len() > 1 {
                        Ok(Activity::Unix(path.to_owned()))
                    } else {
                        Ok(Activity::Unix(absolute(path)?))
                    };
                }
                match Rule::parse(Category::Network, target)? {
                    Rule::Network(NetRule::Host { proto, host, ports }) if ports.lo == ports.hi => {
                        let host = match host {
                            HostPattern::Ip(ip) => Host::Ip(ip),
                            HostPattern::Name(n) => Host::Name(n),
                            _ => return Err(format!("{target:?} is not one address or name")),
                        };
                        Ok(Activity::Connect { proto, host, port: ports.lo })
                    }
                    _ => Err(format!("{target:?} is not one host and port")),
                }
            }
            Category::Process => Ok(Activity::Process(absolute(target)?)),
            Category::Api => {
                let (call, bucket) = match target.split_once('@') {
                    Some((c, b)) => (c, Some(b)),
                    None => (target, None),
                };
                let (service, action) = match call.split_once(':') {
                    Some((s, a)) if a.is_empty() || a == "*" => (s, None),
                    Some((s, a)) => (s, Some(a)),
                    None => (call, None),
                };
                let mut text = format!("{service}:{}", action.unwrap_or("*"));
                if let Some(b) = bucket {
                    text.push('@');
                    text.push_str(b);
                }
                let Rule::Api(r) = Rule::parse(Category::Api, &text)? else {
                    return Err(format!("{target:?} is not service:Action"));
                };
                if r.service.contains('*')
                    || (action.is_some() && r.action.contains('*'))
                    || r.bucket.as_deref().is_some_and(|b| b.contains('*'))
                {
                    return Err(format!("{target:?} is not one service:Action"));
                }
                Ok(Activity::Api { service: r.service, action: action.map(|_| r.action), bucket: r.bucket })
            }
            Category::Input => InputSource::parse(target)
                .map(Activity::Input)
                .ok_or_else(|| format!("{target:?} is not an event source")),
        }
    }
}

impl fmt::Display for Activity {
    /// The target as an event line writes it (files with their access).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activity::File { path, access } => write!(f, "{access} {path}"),
            Activity::Connect { proto, host, port } => {
                if *proto == Proto::Udp {
                    f.write_str("udp:")?;
                }
                match host {
                    Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]:{port}"),
                    Host::Ip(IpAddr::V4(v4)) => write!(f, "{v4}:{port}"),
                    Host::Name(n) => write!(f, "{n}:{port}"),
                }
            }
            Activity::Unix(path) => write!(f, "unix:{path}"),
            Activity::Process(path) => f.write_str(path),
            Activity::Api { service, action, bucket } => {
                write!(f, "{service}:{}", action.as_deref().unwrap_or("*"))?;
                match bucket {
                    Some(b) => write!(f, "@{b}"),
                    None => Ok(()),
                }
            }
            Activity::Input(src) => write!(f, "{src}"),
        }
    }
}

/// The normalised form of an absolute path.
fn absolute(path: &str) -> Result<String, String> {
    let mut buf = vec![0u8; PATH_MAX];
    let n = normalize_path(path.as_bytes(), &mut buf).ok_or_else(|| format!("{path:?} is not an absolute path"))?;
    buf.truncate(n);
    String::from_utf8(buf).map_err(|_| format!("{path:?} is not UTF-8"))
}

/// What kind of line a warning is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WarningKind {
    /// A line with rampart's prefix that does not decode.
    Malformed,
    /// A block line: not learned.
    Block,
    /// An event whose target was cut to fit the line: not learned.
    Cut,
    /// An event that decodes but names no usable activity.
    Unusable,
}

/// Something about one line of the input that the user should know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The log it came from, when the caller named one.
    pub source: Option<String>,
    /// 1-based line number in that log.
    pub line: usize,
    pub kind: WarningKind,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(src) = &self.source {
            write!(f, "{src}: ")?;
        }
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// How many lines of each kind were read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Every line read.
    pub lines: usize,
    /// Lines with no rampart event line in them (skipped).
    pub non_rampart: usize,
    /// Lines carrying a rampart event line (malformed ones included).
    pub rampart: usize,
    /// Rampart lines that did not decode.
    pub malformed: usize,
    /// Profile and alert events learned from.
    pub learned: usize,
    /// Block lines skipped.
    pub block_skipped: usize,
    /// Status and error lines (about the layer itself; ignored).
    pub status_ignored: usize,
    /// Events whose target was cut (not learned).
    pub cut: usize,
    /// Events that named no usable activity (not learned).
    pub unusable: usize,
    /// Distinct activities seen in the learned events.
    pub activities: usize,
    /// Of those, how many the existing policy already allowed.
    pub already_allowed: usize,
}

/// Reads log lines and collects what they show the function doing.
#[derive(Debug, Default)]
pub struct Learner {
    source: Option<String>,
    line_no: usize,
    counts: Counts,
    warnings: Vec<Warning>,
    /// File paths and the union of their accesses.
    files: BTreeMap<String, Access>,
    /// Paths in temp dirs named after the pid of the process that used
    /// them, with that pid (see `generalise::pid_glob`).
    pid_named: BTreeMap<String, u32>,
    /// Everything else.
    other: BTreeSet<Activity>,
}

impl Learner {
    pub fn new() -> Learner {
        Learner::default()
    }

    /// Starts reading another log: warnings name it and line numbers
    /// restart at 1.
    pub fn start_source(&mut self, name: impl Into<String>) {
        self.source = Some(name.into());
        self.line_no = 0;
    }

    /// Reads every line of `text`.
    pub fn add_text(&mut self, text: &str) {
        for line in text.lines() {
            self.add_line(line);
        }
    }

    /// Reads the next line of the current log (with or without its line end).
    pub fn add_line(&mut self, line: &str) {
        self.line_no += 1;
        self.counts.lines += 1;
        let line = line.trim_end_matches(['\n', '\r']);
        let text = match extract::find(line) {
            Found::None => {
                self.counts.non_rampart += 1;
                return;
            }
            Found::Bad(reason) => {
                self.counts.rampart += 1;
                self.counts.malformed += 1;
                self.warn(WarningKind::Malformed, reason);
                return;
            }
            Found::Line(text) => text,
        };
        self.counts.rampart += 1;
        let ev = match rampart_event::decode(&text) {
            Ok(ev) => ev,
            Err(e) => {
                self.counts.malformed += 1;
                self.warn(WarningKind::Malformed, e.to_string());
                return;
            }
        };
        self.add_event(&ev);
    }

    /// Takes in one decoded event (as if read from the next line).
    fn add_event(&mut self, ev: &Event) {
        match ev.kind {
            EventType::Status | EventType::Error => {
                self.counts.status_ignored += 1;
                return;
            }
            EventType::Block => {
                self.counts.block_skipped += 1;
                let what = describe(ev);
                self.warn(WarningKind::Block, format!("block line not learned: {what}"));
                return;
            }
            EventType::Profile | EventType::Alert => {}
        }
        if ev.cut {
            self.counts.cut += 1;
            let what = describe(ev);
            self.warn(WarningKind::Cut, format!("target was cut to fit the line, not learned: {what}…"));
            return;
        }
        match Activity::from_event(ev) {
            Ok(Activity::File { path, access }) => {
                self.counts.learned += 1;
                if generalise::pid_glob(&path, ev.pid).is_some() {
                    self.pid_named.insert(path.clone(), ev.pid);
                }
                let seen = self.files.entry(path).or_insert(Access::NONE);
                *seen = seen.union(access);
            }
            Ok(activity) => {
                self.counts.learned += 1;
                self.other.insert(activity);
            }
            Err(why) => {
                self.counts.unusable += 1;
                self.warn(WarningKind::Unusable, format!("{} event not learned: {why}", ev.kind));
            }
        }
    }

    fn warn(&mut self, kind: WarningKind, message: String) {
        self.warnings.push(Warning { source: self.source.clone(), line: self.line_no, kind, message });
    }

    /// The distinct activities seen so far (files with all their accesses).
    pub fn activities(&self) -> Vec<Activity> {
        let files = self.files.iter().map(|(path, access)| Activity::File { path: path.clone(), access: *access });
        files.chain(self.other.iter().cloned()).collect()
    }

    /// Turns what was seen into rules and merges them into `existing` (which
    /// must be valid), or into a new policy in alert mode. Every rule of
    /// `existing` stays as written and in order; new rules are appended,
    /// sorted, per category; a rule is added only for activity the existing
    /// policy does not already allow.
    pub fn finish(self, existing: Option<&PolicyDoc>) -> Result<Learned, PolicyError> {
        let (mut doc, matcher, new_policy) = match existing {
            Some(doc) => (doc.clone(), doc.validate()?.compile(), false),
            None => (PolicyDoc::new(Mode::Alert), Policy::empty(Mode::Alert).compile(), true),
        };
        let activities = self.activities();
        let mut counts = self.counts;
        let mut warnings = self.warnings;
        counts.activities = activities.len();

        // What the existing policy does not allow yet.
        let mut files: Vec<(String, Access)> = Vec::new();
        let mut others: Vec<&Activity> = Vec::new();
        for a in &activities {
            match a {
                Activity::File { path, access } => {
                    let mut need = Access::NONE;
                    for part in [Access::R, Access::W] {
                        if access.covers(part) && !matcher.allows_file(path.as_bytes(), part) {
                            need = need.union(part);
                        }
                    }
                    if need == Access::NONE {
                        counts.already_allowed += 1;
                    } else {
                        files.push((path.clone(), need));
                    }
                }
                other if other.allowed_by(&matcher) => counts.already_allowed += 1,
                other => others.push(other),
            }
        }

        let mut cands: [BTreeMap<String, Cand>; 5] = Default::default();
        file_candidates(&files, &self.pid_named, &mut cands[Category::File as usize]);
        for a in others {
            let (cat, text, kind) = match a {
                Activity::Connect { proto, host, port } => {
                    let rule = a.to_string();
                    let host_pat = match host {
                        Host::Ip(ip) => HostPattern::Ip(*ip),
                        Host::Name(n) => HostPattern::Name(n.clone()),
                    };
                    let (lo, hi) = generalise::EPHEMERAL_PORTS;
                    if generalise::is_loopback_host(&host_pat) && (lo..=hi).contains(port) {
                        let udp = if *proto == Proto::Udp { "udp:" } else { "" };
                        (Category::Network, format!("{udp}{host_pat}:{lo}-{hi}"), Some(Kind::EphemeralPort))
                    } else {
                        (Category::Network, rule, None)
                    }
                }
                Activity::Unix(_) => (Category::Network, a.to_string(), None),
                Activity::Process(path) => {
                    let (glob, escaped) = escape_glob(path);
                    match generalise::temp_glob(&glob).filter(|g| safe_glob(g)) {
                        Some(g) => (Category::Process, g, Some(Kind::TempName)),
                        None => (Category::Process, glob, escaped.then_some(Kind::Escaped)),
                    }
                }
                Activity::Api { action: Some(_), .. } => (Category::Api, a.to_string(), None),
                Activity::Api { action: None, .. } => (Category::Api, a.to_string(), Some(Kind::ServiceOnly)),
                Activity::Input(src) => (Category::Input, src.to_string(), None),
                Activity::File { .. } => continue,
            };
            let cand = cands[cat as usize].entry(text).or_default();
            cand.from.insert(a.to_string());
            cand.kinds.extend(kind);
        }

        drop_covered_service_level(&mut cands[Category::Api as usize]);

        let mut added: [Vec<Added>; 5] = Default::default();
        for cat in Category::ALL {
            let mut rules: Vec<(Rule, Added)> = Vec::new();
            for (text, cand) in std::mem::take(&mut cands[cat as usize]) {
                let text = if cat == Category::File { format!("{} {text}", cand.access) } else { text };
                match Rule::parse(cat, &text) {
                    Ok(rule) => {
                        let canonical = rule.to_string();
                        let entry = Added {
                            rule: canonical,
                            generalised: cand.kinds.iter().map(|k| k.as_str()).collect(),
                            from: cand.from.into_iter().collect(),
                        };
                        rules.push((rule, entry));
                    }
                    Err(why) => warnings.push(Warning {
                        source: None,
                        line: 0,
                        kind: WarningKind::Unusable,
                        message: format!("learned {cat} rule {text:?} is not valid ({why}); left out"),
                    }),
                }
            }
            // A learned rule another learned rule covers adds nothing.
            let mut keep = vec![true; rules.len()];
            for b in 0..rules.len() {
                let coverer = (0..rules.len()).find(|&a| a != b && keep[a] && covers(&rules[a].0, &rules[b].0));
                if let Some(a) = coverer {
                    keep[b] = false;
                    let from = std::mem::take(&mut rules[b].1.from);
                    let target = &mut rules[a].1;
                    target.from.extend(from);
                    target.from.sort();
                    target.from.dedup();
                }
            }
            let mut rules: Vec<(Rule, Added)> =
                rules.into_iter().zip(keep).filter(|(_, k)| *k).map(|(r, _)| r).collect();
            // Never add what the document already has or covers.
            rules.retain(|(rule, _)| coverage(&doc, rule) == Coverage::New);
            rules.sort_by_key(|(a, _)| sort_key(a));
            for (_, entry) in &rules {
                doc.rules_mut(cat).push(entry.rule.clone());
            }
            added[cat as usize] = rules.into_iter().map(|(_, a)| a).collect();
        }

        Ok(Learned { doc, added, counts, warnings, new_policy, activities })
    }
}

/// A short description of an event for a warning: `file r /etc/shadow`.
fn describe(ev: &Event) -> String {
    let mut out = ev.cat.map_or_else(|| "?".to_string(), |c| c.to_string());
    if let Some(a) = ev.access.filter(|a| *a != Access::NONE) {
        out.push(' ');
        out.push_str(a.as_str());
    }
    out.push(' ');
    out.push_str(ev.target.as_deref().unwrap_or("(no target)"));
    out
}

/// Files sort by path, then access; other rules by their text.
fn sort_key(rule: &Rule) -> (String, u8) {
    match rule {
        Rule::File(f) => (f.glob.to_string(), f.access.bits()),
        other => (other.to_string(), 0),
    }
}

/// Why a learned rule is wider than the one activity it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    TempName,
    ProcessId,
    Numbered,
    EphemeralPort,
    ServiceOnly,
    Escaped,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::TempName => "random temp name",
            Kind::ProcessId => "process id in a temp name",
            Kind::Numbered => "numbered files",
            Kind::EphemeralPort => "ephemeral local port",
            Kind::ServiceOnly => "only the service was known",
            Kind::Escaped => "`*` or `?` in the name matched with `?`",
        }
    }
}

/// A rule being built: for files, the glob (access kept apart).
/// Service-level api candidates (`SERVICE:*`, `s3:*@BUCKET`: only the
/// endpoint was known) that the action-level candidates learned with them
/// already allow — a service-level call is allowed by any rule of its
/// service — are dropped, their lines credited to the first action-level
/// rule that allows them. Decided on the whole set, so the order of the
/// lines does not matter.
fn drop_covered_service_level(cands: &mut BTreeMap<String, Cand>) {
    let service_level = |c: &Cand| c.kinds.contains(&Kind::ServiceOnly);
    let actions: Vec<(String, Rule)> = cands
        .iter()
        .filter(|(_, c)| !service_level(c))
        .filter_map(|(text, _)| Rule::parse(Category::Api, text).ok().map(|r| (text.clone(), r)))
        .collect();
    if actions.is_empty() {
        return;
    }
    let covering = |service: &str, bucket: Option<&str>| {
        actions.iter().find_map(|(text, rule)| {
            let mut p = rampart_policy::Policy::empty(rampart_policy::Mode::Block);
            p.push(rule.clone());
            p.compile().allows_api(service, None, bucket).then(|| text.clone())
        })
    };
    let dropped: Vec<(String, String)> = cands
        .iter()
        .filter(|(_, c)| service_level(c))
        .filter_map(|(text, _)| match Rule::parse(Category::Api, text) {
            Ok(Rule::Api(r)) => covering(&r.service, r.bucket.as_deref()).map(|by| (text.clone(), by)),
            _ => None,
        })
        .collect();
    for (text, by) in dropped {
        if let Some(c) = cands.remove(&text)
            && let Some(target) = cands.get_mut(&by)
        {
            target.from.extend(c.from);
        }
    }
}

#[derive(Debug)]
struct Cand {
    access: Access,
    from: BTreeSet<String>,
    kinds: BTreeSet<Kind>,
}

impl Default for Cand {
    fn default() -> Self {
        Cand { access: Access::NONE, from: BTreeSet::new(), kinds: BTreeSet::new() }
    }
}

/// A path as a glob that matches it: `*` and `?` in the name become `?`
/// (globs have no escapes). Returns whether anything was replaced.
fn escape_glob(path: &str) -> (String, bool) {
    if path.contains(['*', '?']) { (path.replace('*', "?"), true) } else { (path.to_owned(), false) }
}

/// The limits every generalised glob keeps: no `**`, and a literal first
/// segment (no `/*`).
fn safe_glob(glob: &str) -> bool {
    match Glob::parse(glob) {
        Ok(g) => {
            let segs = g.segments();
            !segs.iter().any(|s| matches!(s, GlobSeg::AnyDepth)) && matches!(segs.first(), Some(GlobSeg::Literal(_)))
        }
        Err(_) => false,
    }
}

/// File rules: temp names first, then numbered files over what results.
fn file_candidates(files: &[(String, Access)], pid_named: &BTreeMap<String, u32>, out: &mut BTreeMap<String, Cand>) {
    for (path, access) in files {
        let (glob, escaped) = escape_glob(path);
        let by_pid = pid_named.get(path).and_then(|pid| generalise::pid_glob(&glob, *pid)).filter(|g| safe_glob(g));
        let (glob, kind) = match by_pid {
            Some(g) => (g, Some(Kind::ProcessId)),
            None => match generalise::temp_glob(&glob).filter(|g| safe_glob(g)) {
                Some(g) => (g, Some(Kind::TempName)),
                None => (glob, escaped.then_some(Kind::Escaped)),
            },
        };
        if !safe_glob(&glob) {
            // Only a path with `*`/`?` in its first segment gets here.
            continue;
        }
        let cand = out.entry(glob).or_default();
        cand.access = cand.access.union(*access);
        cand.from.insert(format!("{access} {path}"));
        cand.kinds.extend(kind);
    }
    // Numbered files: globs with the same key from two or more names.
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for glob in out.keys() {
        for key in generalise::numbered_keys(glob) {
            groups.entry(key).or_default().insert(glob.clone());
        }
    }
    let mut merged: BTreeSet<String> = BTreeSet::new();
    let mut patterns: Vec<(String, Cand)> = Vec::new();
    for (key, members) in groups {
        if members.len() < 2 || !safe_glob(&key) {
            continue;
        }
        let mut cand = Cand::default();
        cand.kinds.insert(Kind::Numbered);
        for m in &members {
            if let Some(c) = out.get(m) {
                cand.access = cand.access.union(c.access);
                cand.from.extend(c.from.iter().cloned());
                cand.kinds.extend(c.kinds.iter().copied());
            }
        }
        merged.extend(members);
        patterns.push((key, cand));
    }
    out.retain(|glob, _| !merged.contains(glob));
    for (key, cand) in patterns {
        let into = out.entry(key).or_default();
        into.access = into.access.union(cand.access);
        into.from.extend(cand.from);
        into.kinds.extend(cand.kinds);
    }
}

/// One rule `rampart learn` added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Added {
    /// The rule, in canonical form, as written into the policy.
    pub rule: String,
    /// How it was generalised (empty: it is exactly what was seen):
    /// `random temp name`, `numbered files`, `ephemeral local port`, ...
    pub generalised: Vec<&'static str>,
    /// What it was learned from (targets as the event lines gave them;
    /// files with their access).
    pub from: Vec<String>,
}

impl Added {
    /// `random temp name (from 3 paths: /tmp/tmpa8f3k2, /tmp/tmpzz91qx, …)`:
    /// at most two examples;
    /// `None` for a rule that is exactly what was seen.
    pub fn note(&self, cat: Category) -> Option<String> {
        if self.generalised.is_empty() {
            return None;
        }
        let noun = match cat {
            Category::File => "path",
            Category::Network => "target",
            Category::Process => "program",
            Category::Api => "call",
            Category::Input => "source",
        };
        let shown: Vec<String> = self
            .from
            .iter()
            .take(2)
            .map(|f| match cat {
                // Files are listed by path; the rule says the access.
                Category::File => f.split_once(' ').map_or(f.as_str(), |(_, p)| p).to_owned(),
                _ => f.clone(),
            })
            .collect();
        let more = if self.from.len() > shown.len() { ", …" } else { "" };
        let n = self.from.len();
        let plural = if n == 1 { "" } else { "s" };
        Some(format!("{} (from {n} {noun}{plural}: {}{more})", self.generalised.join(", "), shown.join(", ")))
    }
}

/// What [`Learner::finish`] made.
#[derive(Clone, Debug)]
pub struct Learned {
    /// The policy: the existing one with the new rules appended, or a new
    /// one in alert mode.
    pub doc: PolicyDoc,
    /// The rules added, per category (in [`Category::ALL`] order).
    pub added: [Vec<Added>; 5],
    pub counts: Counts,
    /// Malformed lines, block lines, cut targets, unusable events.
    pub warnings: Vec<Warning>,
    /// True when there was no existing policy.
    pub new_policy: bool,
    /// Every distinct activity seen (what the policy now allows).
    pub activities: Vec<Activity>,
}

impl Learned {
    pub fn added(&self, cat: Category) -> &[Added] {
        &self.added[cat as usize]
    }

    /// How many rules were added in all.
    pub fn total_added(&self) -> usize {
        self.added.iter().map(Vec::len).sum()
    }

    /// The summary for `--json`: added rules per category, counts, warnings.
    pub fn summary_json(&self) -> serde_json::Value {
        let mut added = serde_json::Map::new();
        for cat in Category::ALL {
            added.insert(cat.to_string(), serde_json::to_value(self.added(cat)).unwrap_or_default());
        }
        serde_json::json!({
            "new_policy": self.new_policy,
            "mode": self.doc.mode.as_str(),
            "added": added,
            "counts": self.counts,
            "warnings": self.warnings,
        })
    }

    /// The summary for people: counts, added rules per category with their
    /// generalisation notes, skipped lines and warnings.
    pub fn summary_text(&self) -> String {
        let c = &self.counts;
        let mut out = format!(
            "read {} line{} ({} rampart, {} other); learned from {} event{} ({} distinct activit{}",
            c.lines,
            plural(c.lines),
            c.rampart,
            c.non_rampart,
            c.learned,
            plural(c.learned),
            c.activities,
            if c.activities == 1 { "y" } else { "ies" },
        );
        if !self.new_policy {
            out.push_str(&format!(", {} already allowed", c.already_allowed));
        }
        out.push_str(")\n");
        if c.status_ignored > 0 {
            out.push_str(&format!("ignored {} status/error line{}\n", c.status_ignored, plural(c.status_ignored)));
        }
        let total = self.total_added();
        if total == 0 {
            out.push_str("added no rules\n");
        } else {
            out.push_str(&format!("added {total} rule{}:\n", plural(total)));
            for cat in Category::ALL {
                let rules = self.added(cat);
                if rules.is_empty() {
                    continue;
                }
                out.push_str(&format!("  {cat} ({}):\n", rules.len()));
                for a in rules {
                    match a.note(cat) {
                        Some(note) => out.push_str(&format!("    {}    # {note}\n", a.rule)),
                        None => out.push_str(&format!("    {}\n", a.rule)),
                    }
                }
            }
        }
        let section = |out: &mut String, kind: WarningKind, head: String| {
            let list: Vec<&Warning> = self.warnings.iter().filter(|w| w.kind == kind).collect();
            if list.is_empty() {
                return;
            }
            out.push_str(&head);
            for w in list.iter().take(20) {
                out.push_str(&format!("  {w}\n"));
            }
            if list.len() > 20 {
                out.push_str(&format!("  … and {} more\n", list.len() - 20));
            }
        };
        section(
            &mut out,
            WarningKind::Block,
            format!(
                "skipped {} block line{}: learning from block lines would allow what the policy blocked \
                 (allow one on purpose with `rampart policy allow`):\n",
                c.block_skipped,
                plural(c.block_skipped)
            ),
        );
        section(&mut out, WarningKind::Cut, format!("skipped {} cut target{}:\n", c.cut, plural(c.cut)));
        section(
            &mut out,
            WarningKind::Malformed,
            format!("{} malformed rampart line{}:\n", c.malformed, plural(c.malformed)),
        );
        section(&mut out, WarningKind::Unusable, "not learned:\n".to_string());
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests;
