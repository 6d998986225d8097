//! rampart's event lines (DESIGN.md, "Event lines"):
//!
//! ```json
//! {"rampart":1,"type":"block","cat":"file","op":"openat","target":"/etc/shadow","access":"r","pid":8,"req":"8f5d...","fn":"orders","ts":1764280000123}
//! ```
//!
//! [`encode`] formats an [`EventRef`] into a caller-provided buffer without
//! allocating (hooks call it from restricted contexts); [`decode`] reads a
//! line back into an owned [`Event`] (the CLI and tests).

#![forbid(unsafe_code)]

use rampart_policy::{Access, Category};

/// The most bytes one line may have, newline included: one `write(2)` of at
/// most this many bytes never interleaves with other writers' lines.
pub const MAX_LINE: usize = 4096;

/// Every line starts with this, so a prefix match (or the CloudWatch filter
/// `{ $.rampart = 1 }`) finds them.
pub const PREFIX: &str = "{\"rampart\":1,";

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
        [EventType::Profile, EventType::Alert, EventType::Block, EventType::Status, EventType::Error]
            .into_iter()
            .find(|t| t.as_str() == s)
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
    /// File events only.
    pub access: Option<Access>,
    /// Process events only: the program's arguments.
    pub argv: Option<&'a [&'a [u8]]>,
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

/// An event read back from a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    pub cat: Option<Category>,
    pub op: Option<String>,
    pub target: Option<String>,
    pub access: Option<Access>,
    pub argv: Option<Vec<String>>,
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

/// Formats `event` as one line (ending in `\n`) into `buf` and returns the
/// number of bytes written: at most `min(buf.len(), MAX_LINE)`. Never
/// allocates, never panics.
pub fn encode(event: &EventRef<'_>, buf: &mut [u8]) -> usize {
    let _ = (event, buf);
    todo!("rampart-event: encode")
}

/// Reads one line (with or without its newline) that starts with [`PREFIX`].
pub fn decode(line: &str) -> Result<Event, DecodeError> {
    let _ = line;
    todo!("rampart-event: decode")
}
