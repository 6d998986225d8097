//! rampart's event lines (DESIGN.md, "Event lines"):
//!
//! ```json
//! {"rampart":1,"type":"block","cat":"file","op":"openat","target":"/etc/shadow","access":"r","pid":8,"req":"8f5d...","fn":"orders","ts":1764280000123}
//! ```
//!
//! [`encode`] formats an [`EventRef`] into a caller-provided buffer without
//! allocating (hooks call it from restricted contexts); [`decode`] reads a
//! line back into an owned [`Event`] (the CLI and tests).
//!
//! # The line
//!
//! One JSON object on one line, at most [`MAX_LINE`] bytes with its `\n`,
//! always starting with [`PREFIX`]. Fields, in this order:
//!
//! | field | when | value |
//! |---|---|---|
//! | `rampart` | always | `1`, the format version |
//! | `type` | always | `profile`, `alert`, `block`, `status` or `error` |
//! | `cat` | optional | `file`, `network`, `process`, `api` or `input` |
//! | `op` | optional | the call that did it (`openat`, `connect`, ...) |
//! | `target` | optional | in the rule grammar of `cat` |
//! | `access` | optional | `r`, `w` or `rw` (file events) |
//! | `argv` | optional | array of strings (process events) |
//! | `service` | optional | the AWS service, as in IAM (api events) |
//! | `region` | optional | the AWS region the call goes to (api events, when known) |
//! | `bucket` | optional | the S3 bucket (api events, when known) |
//! | `msg` | optional | text for a person (status and error lines) |
//! | `count` | optional | how many alerts were suppressed (status lines) |
//! | `cut` | only when true | something was cut to fit the line |
//! | `pid` | always | the process id |
//! | `req` | always | the Lambda request id, or `null` |
//! | `fn` | always | the function name, or `null` |
//! | `ts` | always | milliseconds since the Unix epoch |
//!
//! Strings are JSON-escaped (`"`, `\`, control characters, and U+2028/U+2029
//! so the line is also valid JavaScript); byte strings that are not UTF-8
//! have each invalid sequence written as U+FFFD, as
//! [`String::from_utf8_lossy`] does.
//!
//! # Cutting
//!
//! A line never exceeds [`MAX_LINE`] bytes (or the caller's buffer). When the
//! event does not fit, every fixed field is kept and `"cut":true` is written;
//! the `target` is kept first and cut (between characters, never inside an
//! escape) only when it alone does not fit, then `argv` items are dropped
//! from the end (the last one kept may be cut), then `msg` is cut. `op`,
//! `req`, `fn`, `service`, `region` and `bucket` are each cut to at most
//! [`MAX_SHORT`] bytes of JSON text (they can come from the function's
//! environment or code), which also sets `cut`.
//! A field that is present but has no room left at all is left out.
//!
//! Readers must ignore fields they do not know: later versions add some.

#![forbid(unsafe_code)]

use rampart_policy::{Access, Category};
use serde_json::{Map, Value};

/// The most bytes one line may have, newline included: one `write(2)` of at
/// most this many bytes never interleaves with other writers' lines.
pub const MAX_LINE: usize = 4096;

/// Every line starts with this, so a prefix match (or the CloudWatch filter
/// `{ $.rampart = 1 }`) finds them.
pub const PREFIX: &str = "{\"rampart\":1,";

/// The most bytes of JSON text (escapes included, quotes excluded) written
/// for each of `op`, `req` and `fn`; longer values are cut (and `cut` set).
pub const MAX_SHORT: usize = 256;

/// What an event line reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// An activity seen for the first time in profile mode.
    Profile,
    /// An activity the policy does not allow (not denied).
    Alert,
    /// An activity the policy does not allow, denied with `EACCES`.
    Block,
    /// Start, policy change, suppressed-count summaries.
    Status,
    /// Policy fetch or parse failures.
    Error,
}

impl EventType {
    /// All types.
    pub const ALL: [EventType; 5] =
        [EventType::Profile, EventType::Alert, EventType::Block, EventType::Status, EventType::Error];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::Profile => "profile",
            EventType::Alert => "alert",
            EventType::Block => "block",
            EventType::Status => "status",
            EventType::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event to encode, borrowing everything (nothing to allocate).
/// Byte strings need not be UTF-8: invalid bytes are written as U+FFFD.
#[derive(Clone, Copy, Debug)]
pub struct EventRef<'a> {
    pub kind: EventType,
    pub cat: Option<Category>,
    /// The call that did it (`openat`, `connect`, `execve`, ...).
    pub op: Option<&'a str>,
    /// In the rule grammar of `cat` (see DESIGN.md); cut to fit the line.
    pub target: Option<&'a [u8]>,
    /// File events only. `Some(Access::NONE)` is written as no `access` field.
    pub access: Option<Access>,
    /// Process events only: the program's arguments.
    pub argv: Option<&'a [&'a [u8]]>,
    /// Api events: the service (as in IAM), the region and the S3 bucket,
    /// each when known.
    pub service: Option<&'a str>,
    pub region: Option<&'a str>,
    pub bucket: Option<&'a str>,
    /// Status and error lines: what happened, for a person.
    pub msg: Option<&'a str>,
    /// Status lines that summarise suppressed alerts: how many.
    pub count: Option<u64>,
    pub pid: u32,
    /// The Lambda request id in progress (`null` during init or outside Lambda).
    pub req: Option<&'a str>,
    /// `AWS_LAMBDA_FUNCTION_NAME` (`null` outside Lambda).
    pub function: Option<&'a str>,
    /// Milliseconds since the Unix epoch.
    pub ts: u64,
}

impl<'a> EventRef<'a> {
    /// An event of type `kind` with every optional field `None`; set the
    /// others with struct update syntax.
    pub const fn new(kind: EventType, pid: u32, ts: u64) -> EventRef<'a> {
        EventRef {
            kind,
            cat: None,
            op: None,
            target: None,
            access: None,
            argv: None,
            service: None,
            region: None,
            bucket: None,
            msg: None,
            count: None,
            pid,
            req: None,
            function: None,
            ts,
        }
    }
}

/// An event read back from a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    pub cat: Option<Category>,
    pub op: Option<String>,
    pub target: Option<String>,
    pub access: Option<Access>,
    pub argv: Option<Vec<String>>,
    pub service: Option<String>,
    pub region: Option<String>,
    pub bucket: Option<String>,
    pub msg: Option<String>,
    pub count: Option<u64>,
    /// The target (or argv) was cut to fit the line: it is not the whole value.
    pub cut: bool,
    pub pid: u32,
    pub req: Option<String>,
    pub function: Option<String>,
    pub ts: u64,
}

/// Why a line that claims to be rampart's could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

// ---------------------------------------------------------------------------
// Encoding: no allocation, no panics. Everything below `encode` writes through
// `Out`, either counting bytes (`Count`) or copying them (`SliceOut`), so the
// same code measures a line and then writes it.

const KEY_TARGET: &[u8] = b",\"target\":";
const KEY_ARGV: &[u8] = b",\"argv\":[";
const KEY_MSG: &[u8] = b",\"msg\":";
const CUT: &[u8] = b",\"cut\":true";
/// The smallest `target`, `argv` and `msg` fields: `,"target":""` etc.
const MIN_TARGET: usize = KEY_TARGET.len() + 2;
const MIN_ARGV: usize = KEY_ARGV.len() + 1;
const MIN_MSG: usize = KEY_MSG.len() + 2;

trait Out {
    fn put(&mut self, bytes: &[u8]);
}

/// Counts what would be written.
struct Count(usize);

impl Out for Count {
    fn put(&mut self, bytes: &[u8]) {
        self.0 = self.0.saturating_add(bytes.len());
    }
}

/// Writes into a slice; a write that does not fit sets `overflow` and stops
/// all later writes (never happens when the line was measured first).
struct SliceOut<'b> {
    buf: &'b mut [u8],
    pos: usize,
    overflow: bool,
}

impl Out for SliceOut<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if self.overflow {
            return;
        }
        let dst = self.pos.checked_add(bytes.len()).and_then(|end| self.buf.get_mut(self.pos..end));
        match dst {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.pos += bytes.len();
            }
            None => self.overflow = true,
        }
    }
}

fn put_u64(o: &mut impl Out, mut n: u64) {
    let mut digits = [0u8; 20]; // u64::MAX has 20 digits
    let mut i = digits.len();
    loop {
        i = i.saturating_sub(1);
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    o.put(digits.get(i..).unwrap_or_default());
}

const fn hex(nibble: u32) -> u8 {
    b"0123456789abcdef"[(nibble & 0xf) as usize]
}

/// The JSON text of one character, in `tmp`; returns its length.
fn escape_char(c: char, tmp: &mut [u8; 6]) -> usize {
    let short = match c {
        '"' => b'"',
        '\\' => b'\\',
        '\n' => b'n',
        '\r' => b'r',
        '\t' => b't',
        '\u{8}' => b'b',
        '\u{c}' => b'f',
        _ => 0,
    };
    if short != 0 {
        tmp[0] = b'\\';
        tmp[1] = short;
        return 2;
    }
    let code = c as u32;
    if code < 0x20 || code == 0x2028 || code == 0x2029 {
        *tmp = [b'\\', b'u', hex(code >> 12), hex(code >> 8), hex(code >> 4), hex(code)];
        return 6;
    }
    c.encode_utf8(tmp).len()
}

/// Writes `bytes` as a JSON string, quotes included, in at most `max` bytes
/// (nothing at all when `max < 2`). Invalid UTF-8 sequences become U+FFFD.
/// Stops before the first character whose escaped form does not fit.
/// Returns (bytes written, whether the string was cut).
fn put_json_str(o: &mut impl Out, bytes: &[u8], max: usize) -> (usize, bool) {
    let Some(room) = max.checked_sub(2) else {
        return (0, true);
    };
    o.put(b"\"");
    let mut used = 0usize;
    let mut cut = false;
    let mut tmp = [0u8; 6];
    let chars = bytes.utf8_chunks().flat_map(|chunk| {
        let bad = (!chunk.invalid().is_empty()).then_some(char::REPLACEMENT_CHARACTER);
        chunk.valid().chars().chain(bad)
    });
    for c in chars {
        let n = escape_char(c, &mut tmp);
        if n > room - used {
            cut = true;
            break;
        }
        used += n;
        o.put(tmp.get(..n).unwrap_or_default());
    }
    o.put(b"\"");
    (used + 2, cut)
}

/// `,"KEY":"..."` or `,"KEY":null`, the string cut at [`MAX_SHORT`].
/// Returns whether it was cut.
fn put_short(o: &mut impl Out, key: &[u8], value: Option<&str>) -> bool {
    o.put(key);
    match value {
        Some(v) => put_json_str(o, v.as_bytes(), MAX_SHORT + 2).1,
        None => {
            o.put(b"null");
            false
        }
    }
}

/// `{"rampart":1,"type":..,"cat":..,"op":..`; returns whether `op` was cut.
fn put_head(o: &mut impl Out, ev: &EventRef<'_>) -> bool {
    o.put(PREFIX.as_bytes());
    o.put(b"\"type\":\"");
    o.put(ev.kind.as_str().as_bytes());
    o.put(b"\"");
    if let Some(cat) = ev.cat {
        o.put(b",\"cat\":\"");
        o.put(cat.as_str().as_bytes());
        o.put(b"\"");
    }
    match ev.op {
        Some(op) => put_short(o, b",\"op\":", Some(op)),
        None => false,
    }
}

fn put_access(o: &mut impl Out, ev: &EventRef<'_>) {
    let access = ev.access.map_or("", Access::as_str);
    if !access.is_empty() {
        o.put(b",\"access\":\"");
        o.put(access.as_bytes());
        o.put(b"\"");
    }
}

/// `,"service":..,"region":..,"bucket":..`, each only when present;
/// returns whether one was cut.
fn put_api(o: &mut impl Out, ev: &EventRef<'_>) -> bool {
    let mut cut = false;
    for (key, value) in
        [(&b",\"service\":"[..], ev.service), (b",\"region\":", ev.region), (b",\"bucket\":", ev.bucket)]
    {
        if value.is_some() {
            cut |= put_short(o, key, value);
        }
    }
    cut
}

fn put_count(o: &mut impl Out, ev: &EventRef<'_>) {
    if let Some(n) = ev.count {
        o.put(b",\"count\":");
        put_u64(o, n);
    }
}

/// `,"pid":..,"req":..,"fn":..,"ts":..}\n`; returns whether `req` or `fn` was cut.
fn put_tail(o: &mut impl Out, ev: &EventRef<'_>) -> bool {
    o.put(b",\"pid\":");
    put_u64(o, u64::from(ev.pid));
    let req_cut = put_short(o, b",\"req\":", ev.req);
    let fn_cut = put_short(o, b",\"fn\":", ev.function);
    o.put(b",\"ts\":");
    put_u64(o, ev.ts);
    o.put(b"}\n");
    req_cut || fn_cut
}

/// `,"target":"..."` in at most `max` bytes (nothing when it cannot fit).
fn put_target(o: &mut impl Out, target: &[u8], max: usize) -> (usize, bool) {
    if max < MIN_TARGET {
        return (0, true);
    }
    o.put(KEY_TARGET);
    let (n, cut) = put_json_str(o, target, max - KEY_TARGET.len());
    (n + KEY_TARGET.len(), cut)
}

/// `,"msg":"..."` in at most `max` bytes (nothing when it cannot fit).
fn put_msg(o: &mut impl Out, msg: &str, max: usize) -> (usize, bool) {
    if max < MIN_MSG {
        return (0, true);
    }
    o.put(KEY_MSG);
    let (n, cut) = put_json_str(o, msg.as_bytes(), max - KEY_MSG.len());
    (n + KEY_MSG.len(), cut)
}

/// `,"argv":[...]` in at most `max` bytes (nothing when it cannot fit):
/// items that do not fit are dropped from the end, the last one kept may be
/// cut. Work is bounded by `max`, not by the number of items.
fn put_argv(o: &mut impl Out, argv: &[&[u8]], max: usize) -> (usize, bool) {
    if max < MIN_ARGV {
        return (0, true);
    }
    o.put(KEY_ARGV);
    let mut room = max - MIN_ARGV;
    let mut cut = false;
    for (i, item) in argv.iter().enumerate() {
        let sep = usize::from(i > 0);
        let Some(item_room) = room.checked_sub(sep) else {
            cut = true;
            break;
        };
        let mut probe = Count(0);
        let (n, item_cut) = put_json_str(&mut probe, item, item_room);
        // A cut item is kept only when some of it fits.
        if n == 0 || (item_cut && n <= 2) {
            cut = true;
            break;
        }
        if sep == 1 {
            o.put(b",");
        }
        put_json_str(o, item, item_room);
        room -= sep + n;
        if item_cut {
            cut = true;
            break;
        }
    }
    o.put(b"]");
    (max - room, cut)
}

/// Byte budgets of the variable fields (`None`: leave the field out).
struct Plan {
    target: Option<usize>,
    argv: Option<usize>,
    msg: Option<usize>,
    cut: bool,
}

/// Formats `event` as one line (ending in `\n`) into `buf` and returns the
/// number of bytes written: at most `min(buf.len(), MAX_LINE)`. Never
/// allocates, never panics. Returns 0 (and the buffer's contents are
/// unspecified) when the buffer cannot hold even the fixed fields, which
/// never happens with a buffer of [`MAX_LINE`] bytes.
pub fn encode(event: &EventRef<'_>, buf: &mut [u8]) -> usize {
    let ev = event;
    let limit = buf.len().min(MAX_LINE);

    // Measure: the fixed part exactly, the variable fields up to one byte
    // more than the line can hold (so huge inputs cost bounded work).
    let mut fixed = Count(0);
    let mut capped = put_head(&mut fixed, ev);
    put_access(&mut fixed, ev);
    capped |= put_api(&mut fixed, ev);
    put_count(&mut fixed, ev);
    capped |= put_tail(&mut fixed, ev);
    let fixed = fixed.0;
    let probe = limit + 1;
    let mut over = false;
    let mut probe_len = |f: &dyn Fn(&mut Count) -> (usize, bool)| {
        let mut c = Count(0);
        let (n, cut) = f(&mut c);
        over |= cut;
        n
    };
    let target_len = ev.target.map(|t| probe_len(&|c| put_target(c, t, probe)));
    let argv_len = ev.argv.map(|a| probe_len(&|c| put_argv(c, a, probe)));
    let msg_len = ev.msg.map(|m| probe_len(&|c| put_msg(c, m, probe)));
    let total = [target_len, argv_len, msg_len].into_iter().flatten().fold(fixed, usize::saturating_add);

    let plan = if !capped && !over && total <= limit {
        Plan { target: target_len, argv: argv_len, msg: msg_len, cut: false }
    } else {
        let Some(mut avail) = limit.checked_sub(fixed).and_then(|r| r.checked_sub(CUT.len())) else {
            return 0;
        };
        // Keep room for the smallest form of the fields after each one.
        let reserve_argv = if ev.argv.is_some() { MIN_ARGV } else { 0 };
        let reserve_msg = if ev.msg.is_some() { MIN_MSG } else { 0 };
        // Each field gets what is left (less the reserves) and gives back
        // what it does not use (a character that did not fit whole).
        let mut grant = |want: Option<usize>, min: usize, reserve: usize, put: &dyn Fn(&mut Count, usize)| {
            let budget = want?.min(avail.saturating_sub(reserve));
            if budget < min {
                return None;
            }
            let mut used = Count(0);
            put(&mut used, budget);
            avail = avail.saturating_sub(used.0);
            Some(budget)
        };
        let target = grant(target_len, MIN_TARGET, reserve_argv + reserve_msg, &|c, max| {
            ev.target.map(|t| put_target(c, t, max));
        });
        let argv = grant(argv_len, MIN_ARGV, reserve_msg, &|c, max| {
            ev.argv.map(|a| put_argv(c, a, max));
        });
        let msg = grant(msg_len, MIN_MSG, 0, &|c, max| {
            ev.msg.map(|m| put_msg(c, m, max));
        });
        Plan { target, argv, msg, cut: true }
    };

    let Some(buf) = buf.get_mut(..limit) else {
        return 0;
    };
    let mut w = SliceOut { buf, pos: 0, overflow: false };
    put_head(&mut w, ev);
    if let (Some(t), Some(max)) = (ev.target, plan.target) {
        put_target(&mut w, t, max);
    }
    put_access(&mut w, ev);
    if let (Some(a), Some(max)) = (ev.argv, plan.argv) {
        put_argv(&mut w, a, max);
    }
    put_api(&mut w, ev);
    if let (Some(m), Some(max)) = (ev.msg, plan.msg) {
        put_msg(&mut w, m, max);
    }
    put_count(&mut w, ev);
    if plan.cut {
        w.put(CUT);
    }
    put_tail(&mut w, ev);
    if w.overflow { 0 } else { w.pos }
}

// ---------------------------------------------------------------------------
// Decoding.

fn fail<T>(msg: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(msg.into()))
}

/// serde_json's message without its " at line L column C" suffix, with the
/// column in front (a line has only one line).
fn json_error(e: &serde_json::Error) -> DecodeError {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    DecodeError(format!("invalid JSON at column {}: {msg}", e.column()))
}

/// The value of `key`, `None` when missing or `null`.
fn field<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn opt_str(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, DecodeError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => fail(format!("field `{key}` must be a string, not {v}")),
    }
}

fn opt_u64(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, DecodeError> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) => Ok(Some(n)),
            None => fail(format!("field `{key}` must be a non-negative integer, not {v}")),
        },
    }
}

fn req_u64(obj: &Map<String, Value>, key: &str) -> Result<u64, DecodeError> {
    opt_u64(obj, key)?.map_or_else(|| fail(format!("missing field `{key}`")), Ok)
}

/// Reads one line (with or without its newline) that starts with [`PREFIX`].
///
/// Requires `rampart` = 1, a known `type`, `pid` and `ts`; `cat` and `access`
/// must be known values when present; `req`, `fn` and every optional field may
/// be `null` or missing. Fields this version does not know are ignored.
pub fn decode(line: &str) -> Result<Event, DecodeError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if !line.starts_with(PREFIX) {
        return fail(format!("not a rampart event line: it does not start with {PREFIX}"));
    }
    let value: Value = serde_json::from_str(line).map_err(|e| json_error(&e))?;
    let Value::Object(obj) = value else {
        return fail("not a JSON object");
    };
    match obj.get("rampart") {
        Some(v) if v.as_u64() == Some(1) => {}
        Some(v) => return fail(format!("unsupported event line version {v} (this reader knows 1)")),
        None => return fail("missing field `rampart`"),
    }
    let kind = match obj.get("type") {
        None | Some(Value::Null) => return fail("missing field `type`"),
        Some(Value::String(s)) => match EventType::parse(s) {
            Some(t) => t,
            None => return fail(format!("unknown type {s:?}")),
        },
        Some(v) => return fail(format!("field `type` must be a string, not {v}")),
    };
    let cat = match opt_str(&obj, "cat")? {
        None => None,
        Some(s) => match Category::parse(&s) {
            Some(c) => Some(c),
            None => return fail(format!("unknown category {s:?}")),
        },
    };
    let access = match opt_str(&obj, "access")? {
        None => None,
        Some(s) => match Access::parse(&s) {
            Some(a) => Some(a),
            None => return fail(format!("unknown access {s:?} (expected \"r\", \"w\" or \"rw\")")),
        },
    };
    let argv = match field(&obj, "argv") {
        None => None,
        Some(Value::Array(items)) => {
            let mut argv = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => argv.push(s.clone()),
                    v => return fail(format!("field `argv` must hold strings, not {v}")),
                }
            }
            Some(argv)
        }
        Some(v) => return fail(format!("field `argv` must be an array of strings, not {v}")),
    };
    let cut = match field(&obj, "cut") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => return fail(format!("field `cut` must be true or false, not {v}")),
    };
    let pid = req_u64(&obj, "pid")?;
    let Ok(pid) = u32::try_from(pid) else {
        return fail(format!("field `pid` out of range: {pid}"));
    };
    Ok(Event {
        kind,
        cat,
        op: opt_str(&obj, "op")?,
        target: opt_str(&obj, "target")?,
        access,
        argv,
        service: opt_str(&obj, "service")?,
        region: opt_str(&obj, "region")?,
        bucket: opt_str(&obj, "bucket")?,
        msg: opt_str(&obj, "msg")?,
        count: opt_u64(&obj, "count")?,
        cut,
        pid,
        req: opt_str(&obj, "req")?,
        function: opt_str(&obj, "fn")?,
        ts: req_u64(&obj, "ts")?,
    })
}

#[cfg(test)]
mod tests;
