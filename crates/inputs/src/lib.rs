//! Which AWS service an invocation event came from: the source that the
//! `input` category of a policy allows or denies (`aws:sqs`,
//! `aws:apigateway`, … `direct`).
//!
//! Lambda does not say who produced an event: the body of
//! `GET /2018-06-01/runtime/invocation/next` is the event itself. What an
//! event *is* shows in its shape, and every integration has its own:
//!
//! | source | shape (top-level object) |
//! |---|---|
//! | `aws:sqs`, `aws:s3`, `aws:dynamodb`, `aws:kinesis` | `Records`: a non-empty array of objects, every one with the same `eventSource` |
//! | `aws:sns` | `Records`: every object with `EventSource` `"aws:sns"` (capital E) |
//! | `aws:kinesis`, `aws:dynamodb` | a tumbling-window call with no records: `Records` `[]`, a `window` object, a stream `eventSourceARN` |
//! | `aws:apigateway` | REST API proxy event: `resource`, `httpMethod`, `requestContext.apiId`, no `version` |
//! | `aws:apigatewayv2` | HTTP API: `version` `"2.0"`, `requestContext.http`, `requestContext.apiId`; or payload 1.0 (`version` `"1.0"` and the REST fields); or a WebSocket API: `requestContext.connectionId`, `eventType`, `apiId` |
//! | `aws:lambda-url` | as HTTP API 2.0, with `requestContext.domainName` `<id>.lambda-url.<region>.on.aws` |
//! | `aws:alb` | `requestContext.elb` (an object), `httpMethod`, no `requestContext.apiId` |
//! | `aws:events` | EventBridge / CloudWatch Events (schedules too): `detail-type`, `source` (strings), `detail` (an object) |
//! | `aws:logs` | CloudWatch Logs subscription: `awslogs.data` (a string) |
//! | `direct` | everything else |
//!
//! An event whose top level matches none of these families, or more than one
//! (an SQS `Records` array next to EventBridge fields), is `direct`; so is
//! anything that is not one complete JSON object: empty input, scalars,
//! arrays, truncated or trailing bytes, invalid UTF-8, `NaN`, and a field
//! the rules read that serde_json refuses (a lone surrogate, `1e999`). Only
//! the top-level fields named above (and their named fields one level down)
//! count: a source named in a nested object or inside a string (a `body`
//! holding an SQS event) is not looked at.
//!
//! **Classification is by shape; it does not authenticate the sender.**
//! Whoever may call `lambda:InvokeFunction` can send
//! `{"Records":[{"eventSource":"aws:sqs"}]}`, and it is classified `aws:sqs`
//! exactly as a batch from a real queue is: the two cannot be told apart in
//! the function. `allow.input` narrows which shapes of event reach the
//! handler (a function fed by a queue never sees an HTTP request or a
//! scheduled event, however it was invoked); who may invoke the function at
//! all is the function's resource policy's job.
//!
//! ## JSON, as the runtime will read it
//!
//! The classifier should see what the handler will see, so where JSON
//! readers differ it follows the runtimes' (Python's `json`, Node's
//! `JSON.parse`): keys and values are compared after unescaping
//! (`"Rec\u006frds"` is `Records`), and of duplicate keys **the last one
//! wins**, in every object read.
//!
//! ## Cost
//!
//! Synchronous events are up to 6 MB. The event is validated completely
//! (one pass, as the runtime's own parse will) but no tree is built: the few
//! fields the rules read are looked at in place (or in serde_json's scratch
//! buffer when they hold escapes) and nothing is kept of them but a flag;
//! everything else is skipped with `serde::de::IgnoredAny`, which serde_json
//! walks with a loop and a heap stack, not recursion — a 100 000-deep `[[[…`
//! costs no stack. The recursion this crate adds is fixed (four levels:
//! object, `Records`, record, field), so serde_json's depth limit of 128 is
//! never reached. Input that does not start with `{` is `direct` at once.
//!
//! Measured (`benches/classify.rs`, a shared 2-core x86-64 machine): about
//! 7 ms for a 6 MB event whose body is JSON text (an escape every few bytes,
//! serde_json's slow path) or a 5 000-message SQS batch of such bodies,
//! 1.4 ms for 6 MB of base64, 0.3–2 µs for the documentation's samples;
//! within a third of serde_json merely validating the same bytes, and
//! 1.3–2× faster than building its tree.
//!
//! [`reference`](mod@reference) is a deliberately plain second
//! implementation over a full `serde_json::Value` tree: the oracle that
//! tests and fuzzing compare [`classify`] with.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod reference;
mod rules;
mod scan;

pub use rampart_policy::InputSource;

/// The source of one invocation event (the body of
/// `GET /2018-06-01/runtime/invocation/next`), by its shape; never panics.
#[must_use]
pub fn classify(event: &[u8]) -> InputSource {
    // Only an object can be an AWS event; the check also spares serde_json
    // any work on the scalars and arrays of direct invocations.
    if event.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) != Some(&b'{') {
        return InputSource::Direct;
    }
    // JSON text is UTF-8 (RFC 8259 §8.1), and the runtimes refuse anything
    // else; serde_json would let invalid bytes through in strings it skips.
    let Ok(text) = std::str::from_utf8(event) else { return InputSource::Direct };
    match scan::summarize(text) {
        Some(top) => rules::decide(&top),
        None => InputSource::Direct,
    }
}
