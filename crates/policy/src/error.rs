//! Errors that point at the bad part of a policy.

use std::fmt;

/// Why a policy (or one rule) was rejected. `path` names the place in the
/// document (`allow.file[3]`), `rule` quotes the offending rule text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    pub path: String,
    pub rule: Option<String>,
    pub message: String,
}

impl PolicyError {
    pub(crate) fn at(path: impl Into<String>, message: impl Into<String>) -> PolicyError {
        PolicyError { path: path.into(), rule: None, message: message.into() }
    }

    pub(crate) fn rule(path: impl Into<String>, rule: &str, message: impl Into<String>) -> PolicyError {
        PolicyError { path: path.into(), rule: Some(rule.to_owned()), message: message.into() }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        if let Some(rule) = &self.rule {
            // Debug quoting escapes control characters, so the message stays one line.
            write!(f, "{rule:?}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for PolicyError {}
