//! The fast way through [`Policy::parse`](crate::Policy::parse) for
//! policy.json in its plain form — what `rampart` writes and the root
//! process reads at every start: one object with `version: 1`, a `mode`,
//! an optional `block` list and an `allow` object of rule lists, strings
//! without escapes, each key once. The rule texts are borrowed from the
//! input and parsed in place: no JSON value tree, no `String` per rule.
//!
//! Anything else — escapes, other number spellings, repeated or unknown
//! keys, a bad rule, invalid JSON — is `None`, and the caller takes the
//! general way ([`PolicyDoc::from_json`](crate::PolicyDoc::from_json), then
//! `validate`), which gives the same policy or the error to report. So
//! this path decides nothing on its own: it only has to agree with the
//! general one on the documents it accepts (the `parse_policy` fuzz target
//! checks that they do).
//!
//! Why hand-written next to serde_json: the root process parses the policy
//! at every cold start, and the general route (a value tree and a `String`
//! per rule) cost a third of the start-up time the layer adds at 1k rules
//! per category; see the README's performance section.

use crate::doc::Policy;
use crate::rule::Rule;
use crate::types::{Category, CategorySet, Mode};

/// A cursor over the JSON text.
struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    fn byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// The next byte after JSON whitespace.
    fn peek(&mut self) -> Option<u8> {
        while matches!(self.byte(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
        self.byte()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// A string without escapes or control characters, borrowed.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = self.text.as_bytes().get(start..)?;
        let len = rest.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        self.at = start + len + 1;
        // The quote is ASCII, so this is a whole UTF-8 string.
        self.text.get(start..start + len)
    }

    /// `[` strings `]`, each handed to `each`.
    fn strings(&mut self, mut each: impl FnMut(&'a str) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            each(self.string()?)?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `{` key `:` value ... `}`, each value read by `each`.
    fn object(&mut self, mut each: impl FnMut(&mut Scan<'a>, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            each(self, key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// The policy, when `text` is plain policy.json with valid rules; `None`
/// for anything else (see the module's description).
pub(crate) fn parse(text: &str) -> Option<Policy> {
    let mut scan = Scan { text, at: 0 };
    let mut seen = 0u8;
    let mut mode = None;
    let mut block = CategorySet::ALL;
    let mut lists: [Vec<&str>; 5] = Default::default();
    let mut listed = 0u8;
    scan.object(|scan, key| {
        let bit = match key {
            "version" => 1,
            "mode" => 2,
            "block" => 4,
            "allow" => 8,
            _ => return None,
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        match bit {
            // Exactly `1`: what follows must end the value (`,` or `}`,
            // checked by the object), so `10`, `1.0` and `1e0` go the
            // general way.
            1 => scan.eat(b'1'),
            2 => {
                mode = Some(Mode::parse(scan.string()?).filter(|m| *m != Mode::Off)?);
                Some(())
            }
            4 => {
                block = CategorySet::EMPTY;
                scan.strings(|name| {
                    block = block.with(Category::parse(name)?);
                    Some(())
                })
            }
            _ => scan.object(|scan, name| {
                let cat = Category::parse(name)?;
                let bit = 1 << cat as u8;
                if listed & bit != 0 {
                    return None;
                }
                listed |= bit;
                let list = lists.get_mut(cat as usize)?;
                scan.strings(|rule| {
                    list.push(rule);
                    Some(())
                })
            }),
        }
    })?;
    if scan.peek().is_some() || seen & 3 != 3 {
        return None;
    }
    let n = |cat: Category| lists.get(cat as usize).map_or(0, Vec::len);
    let mut policy = Policy {
        mode: mode?,
        block,
        file: Vec::with_capacity(n(Category::File)),
        network: Vec::with_capacity(n(Category::Network)),
        process: Vec::with_capacity(n(Category::Process)),
        api: Vec::with_capacity(n(Category::Api)),
        input: Vec::with_capacity(n(Category::Input)),
    };
    for cat in Category::ALL {
        for rule in lists.get(cat as usize)? {
            policy.push(Rule::parse(cat, rule).ok()?);
        }
    }
    Some(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PolicyDoc;

    /// What the general way gives.
    fn general(text: &str) -> Option<Policy> {
        PolicyDoc::from_json(text).and_then(|d| d.validate()).ok()
    }

    #[test]
    fn agrees_with_the_general_way() {
        let plain = r#"{
          "version": 1,
          "mode": "block",
          "block": ["file", "network", "file"],
          "allow": {
            "file": ["r /var/task/**", "rw /tmp//x/", "r /é/*.py"],
            "network": ["*.amazonaws.com:443", "10.0.0.0/8:5432", "unix:@nscd*"],
            "process": ["/usr/bin/git"],
            "api": ["dynamodb:GetItem", "s3:*"],
            "input": ["aws:sqs"]
          }
        }"#;
        let p = parse(plain).expect("plain form");
        assert_eq!(Some(&p), general(plain).as_ref());
        for text in [
            r#"{"version":1,"mode":"alert"}"#,
            r#"{"mode":"profile","version":1,"allow":{},"block":[]}"#,
            r#" {"version" : 1 , "mode" : "block" , "allow" : {"file" : [ ] } } "#,
        ] {
            assert_eq!(parse(text), general(text), "{text}");
            assert!(parse(text).is_some(), "{text}");
        }
        // Not plain (or not valid): the general way decides.
        for text in [
            r#"{"version":1,"mode":"alert","allow":{"file":["r /a\u0062"]}}"#,
            r#"{"version":1.0,"mode":"alert"}"#,
            r#"{"version":10,"mode":"alert"}"#,
            r#"{"version":1,"mode":"off"}"#,
            r#"{"version":1,"mode":"alert","mode":"block"}"#,
            r#"{"version":1,"mode":"alert","allow":{"file":[],"file":["r /a"]}}"#,
            r#"{"version":1,"mode":"alert","block":null}"#,
            r#"{"version":1,"mode":"alert","allow":{"file":["r a"]}}"#,
            r#"{"version":1,"mode":"alert","allow":{"disk":[]}}"#,
            r#"{"version":1,"mode":"alert","extra":1}"#,
            r#"{"version":1,"mode":"alert"} x"#,
            r#"{"version":1,"mode":"alert",}"#,
            r#"{"version":1}"#,
            r#"{"version":1,"mode":"alert","allow":{"file":["r /a	b"]}}"#,
            "",
            "[]",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
