//! Learning: event lines in, allowlist rules out.
