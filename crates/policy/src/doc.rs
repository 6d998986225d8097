//! policy.json v1 as a document (rule texts as the user wrote them, for
//! editing and writing back) and as a validated [`Policy`] (parsed rules,
//! ready to compile).

use serde_json::Value;

use crate::error::PolicyError;
use crate::glob::Glob;
use crate::rule::{ApiRule, FileRule, NetRule, Rule};
use crate::types::{Category, CategorySet, InputSource, Mode};

/// The only policy format version this engine reads and writes.
pub const VERSION: u64 = 1;

/// A policy file as written: mode, `block` list and rule texts in the user's
/// order. Editing commands work on this and write it back; nothing here is
/// checked beyond the document's shape until [`PolicyDoc::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDoc {
    /// `profile`, `alert` or `block` (never `off`).
    pub mode: Mode,
    /// Categories denied in block mode; `None` (the key absent) means all.
    pub block: Option<Vec<Category>>,
    allow: [Vec<String>; 5],
}

impl PolicyDoc {
    /// An empty policy in `mode`.
    pub fn new(mode: Mode) -> PolicyDoc {
        PolicyDoc { mode, block: None, allow: Default::default() }
    }

    /// Reads the document's shape: a JSON object with `version: 1`, a
    /// `mode`, an optional `block` list and an optional `allow` object of
    /// string lists. Rule texts are not parsed here.
    pub fn from_json(text: &str) -> Result<PolicyDoc, PolicyError> {
        let value: Value = serde_json::from_str(text).map_err(|e| PolicyError::at("", format!("invalid JSON: {e}")))?;
        let Value::Object(mut top) = value else {
            return Err(PolicyError::at("", "a policy is a JSON object"));
        };
        for key in top.keys() {
            if !["version", "mode", "block", "allow"].contains(&key.as_str()) {
                return Err(PolicyError::at(key.clone(), "unknown key (a policy has version, mode, block, allow)"));
            }
        }
        match top.get("version") {
            Some(Value::Number(n)) if n.as_u64() == Some(VERSION) => {}
            Some(other) => {
                return Err(PolicyError::at(
                    "version",
                    format!("unsupported version {other}; this rampart reads version 1"),
                ));
            }
            None => return Err(PolicyError::at("version", "missing (expected \"version\": 1)")),
        }
        let mode = match top.get("mode") {
            Some(Value::String(s)) => match Mode::parse(s) {
                Some(Mode::Off) | None => {
                    return Err(PolicyError::at("mode", format!("{s:?}: expected profile, alert or block")));
                }
                Some(m) => m,
            },
            Some(_) => return Err(PolicyError::at("mode", "expected a string: profile, alert or block")),
            None => return Err(PolicyError::at("mode", "missing (expected profile, alert or block)")),
        };
        let block = match top.remove("block") {
            None => None,
            Some(v) => {
                let names = string_list(v, "block")?;
                let mut cats = Vec::with_capacity(names.len());
                for (i, name) in names.iter().enumerate() {
                    let cat = Category::parse(name).ok_or_else(|| {
                        PolicyError::rule(
                            format!("block[{i}]"),
                            name,
                            "unknown category (expected file, network, process, api, input)",
                        )
                    })?;
                    if !cats.contains(&cat) {
                        cats.push(cat);
                    }
                }
                Some(cats)
            }
        };
        let mut doc = PolicyDoc { mode, block, allow: Default::default() };
        match top.remove("allow") {
            None => {}
            Some(Value::Object(allow)) => {
                for (key, list) in allow {
                    let cat = Category::parse(&key).ok_or_else(|| {
                        PolicyError::at(
                            format!("allow.{key}"),
                            "unknown category (expected file, network, process, api, input)",
                        )
                    })?;
                    doc.allow[cat as usize] = string_list(list, &format!("allow.{key}"))?;
                }
            }
            Some(_) => return Err(PolicyError::at("allow", "expected an object of rule lists")),
        }
        Ok(doc)
    }

    /// The rule texts of one category, in file order.
    pub fn rules(&self, cat: Category) -> &[String] {
        &self.allow[cat as usize]
    }

    pub fn rules_mut(&mut self, cat: Category) -> &mut Vec<String> {
        &mut self.allow[cat as usize]
    }

    /// The categories denied in block mode.
    pub fn block_set(&self) -> CategorySet {
        match &self.block {
            None => CategorySet::ALL,
            Some(cats) => cats.iter().copied().collect(),
        }
    }

    /// Parses every rule; the first bad one is the error, with its place.
    pub fn validate(&self) -> Result<Policy, PolicyError> {
        let n = |cat| self.rules(cat).len();
        let mut policy = Policy {
            mode: self.mode,
            block: self.block_set(),
            file: Vec::with_capacity(n(Category::File)),
            network: Vec::with_capacity(n(Category::Network)),
            process: Vec::with_capacity(n(Category::Process)),
            api: Vec::with_capacity(n(Category::Api)),
            input: Vec::with_capacity(n(Category::Input)),
        };
        for cat in Category::ALL {
            for (i, text) in self.rules(cat).iter().enumerate() {
                let rule =
                    Rule::parse(cat, text).map_err(|msg| PolicyError::rule(format!("allow.{cat}[{i}]"), text, msg))?;
                policy.push(rule);
            }
        }
        Ok(policy)
    }

    /// The document as pretty JSON in a fixed key order, one rule a line,
    /// ending in a newline. `from_json(to_json())` gives the same document.
    pub fn to_json(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut out = format!("{{\n  \"version\": {VERSION},\n  \"mode\": {},\n", q(self.mode.as_str()));
        if let Some(block) = &self.block {
            let names: Vec<String> = block.iter().map(|c| q(c.as_str())).collect();
            out.push_str(&format!("  \"block\": [{}],\n", names.join(", ")));
        }
        out.push_str("  \"allow\": {\n");
        for (n, cat) in Category::ALL.into_iter().enumerate() {
            let rules = self.rules(cat);
            out.push_str(&format!("    {}: [", q(cat.as_str())));
            for (i, r) in rules.iter().enumerate() {
                out.push_str(if i == 0 { "\n      " } else { ",\n      " });
                out.push_str(&q(r));
            }
            if !rules.is_empty() {
                out.push_str("\n    ");
            }
            out.push_str(if n + 1 < Category::ALL.len() { "],\n" } else { "]\n" });
        }
        out.push_str("  }\n}\n");
        out
    }
}

/// The strings of a JSON list, moved out of the parsed value (no copy).
fn string_list(v: Value, path: &str) -> Result<Vec<String>, PolicyError> {
    let Value::Array(items) = v else {
        return Err(PolicyError::at(path, "expected a list of strings"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s),
            other => Err(PolicyError::at(format!("{path}[{i}]"), format!("expected a string, found {other}"))),
        })
        .collect()
}

/// A validated policy: every rule parsed. [`Policy::compile`] turns it into
/// the matcher the hooks query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    pub block: CategorySet,
    pub file: Vec<FileRule>,
    pub network: Vec<NetRule>,
    pub process: Vec<Glob>,
    pub api: Vec<ApiRule>,
    pub input: Vec<InputSource>,
}

impl Policy {
    /// Reads and validates policy.json text. Plain documents (what rampart
    /// writes) are read in one pass without a JSON value tree; anything
    /// else, and every error, goes through [`PolicyDoc`].
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        if let Some(policy) = crate::plain::parse(text) {
            return Ok(policy);
        }
        PolicyDoc::from_json(text)?.validate()
    }

    /// An empty policy in `mode` (what the layer runs with when there is no
    /// policy: profile mode, nothing allowed).
    pub fn empty(mode: Mode) -> Policy {
        Policy {
            mode,
            block: CategorySet::ALL,
            file: Vec::new(),
            network: Vec::new(),
            process: Vec::new(),
            api: Vec::new(),
            input: Vec::new(),
        }
    }

    /// Adds one parsed rule to its category.
    pub fn push(&mut self, rule: Rule) {
        match rule {
            Rule::File(r) => self.file.push(r),
            Rule::Network(r) => self.network.push(r),
            Rule::Process(g) => self.process.push(g),
            Rule::Api(r) => self.api.push(r),
            Rule::Input(i) => self.input.push(i),
        }
    }

    /// How many rules each category has, in [`Category::ALL`] order.
    pub fn counts(&self) -> [usize; 5] {
        [self.file.len(), self.network.len(), self.process.len(), self.api.len(), self.input.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "version": 1,
      "mode": "block",
      "block": ["file", "network", "process", "api", "input"],
      "allow": {
        "file":    ["r /var/task/**", "rw /tmp/**", "r /etc/ssl/certs/*"],
        "network": ["*.amazonaws.com:443", "10.0.0.0/8:5432", "udp:169.254.78.1:53"],
        "process": ["/usr/bin/git", "/var/task/bin/*"],
        "api":     ["dynamodb:GetItem", "s3:*"],
        "input":   ["aws:sqs", "aws:apigateway"]
      }
    }"#;

    fn err(text: &str) -> String {
        Policy::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn design_sample_parses() {
        let p = Policy::parse(SAMPLE).unwrap();
        assert_eq!(p.mode, Mode::Block);
        assert_eq!(p.block, CategorySet::ALL);
        assert_eq!(p.counts(), [3, 3, 2, 2, 2]);
    }

    #[test]
    fn round_trip_is_stable() {
        let doc = PolicyDoc::from_json(SAMPLE).unwrap();
        let text = doc.to_json();
        assert_eq!(PolicyDoc::from_json(&text).unwrap(), doc);
        assert_eq!(PolicyDoc::from_json(&text).unwrap().to_json(), text);
        assert!(text.contains("\n      \"r /var/task/**\",\n"));
        let empty = PolicyDoc::new(Mode::Profile).to_json();
        assert!(empty.contains("\"file\": [],"));
        assert_eq!(PolicyDoc::from_json(&empty).unwrap(), PolicyDoc::new(Mode::Profile));
    }

    #[test]
    fn errors_point_at_the_rule() {
        let bad = SAMPLE.replace("\"r /etc/ssl/certs/*\"", "\"rw/tmp/**\"");
        assert_eq!(err(&bad), r#"allow.file[2]: "rw/tmp/**": expected "r|w|rw GLOB""#);
        let bad = SAMPLE.replace("\"s3:*\"", "\"s3\"");
        assert!(err(&bad).starts_with(r#"allow.api[1]: "s3": expected"#));
    }

    #[test]
    fn shape_errors() {
        assert!(err("{").starts_with("invalid JSON"));
        assert_eq!(err("[]"), "a policy is a JSON object");
        assert!(err(r#"{"mode":"block"}"#).starts_with("version: missing"));
        assert!(err(r#"{"version":2,"mode":"block"}"#).starts_with("version: unsupported version 2"));
        assert!(err(r#"{"version":1}"#).starts_with("mode: missing"));
        assert!(err(r#"{"version":1,"mode":"off"}"#).starts_with("mode: \"off\""));
        assert!(
            err(r#"{"version":1,"mode":"block","allow":{"files":[]}}"#).starts_with("allow.files: unknown category")
        );
        assert!(
            err(r#"{"version":1,"mode":"block","allow":{"file":"r /x"}}"#).starts_with("allow.file: expected a list")
        );
        assert!(
            err(r#"{"version":1,"mode":"block","allow":{"file":[1]}}"#).starts_with("allow.file[0]: expected a string")
        );
        assert!(
            err(r#"{"version":1,"mode":"block","block":["disk"]}"#).starts_with("block[0]: \"disk\": unknown category")
        );
        assert!(err(r#"{"version":1,"mode":"block","extra":1}"#).starts_with("extra: unknown key"));
    }

    #[test]
    fn empty_lists_and_partial_block() {
        let p = Policy::parse(r#"{"version":1,"mode":"alert","block":["file"],"allow":{}}"#).unwrap();
        assert_eq!(p.counts(), [0; 5]);
        assert!(p.block.contains(Category::File));
        assert!(!p.block.contains(Category::Network));
        let p = Policy::parse(r#"{"version":1,"mode":"block","block":[]}"#).unwrap();
        assert_eq!(p.block, CategorySet::EMPTY);
    }
}
