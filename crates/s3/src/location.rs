//! `s3://bucket/prefix`: where a function's policy lives.

use std::fmt;

use crate::error::Error;

/// The name of the policy object inside a location's prefix.
pub const POLICY_OBJECT: &str = "policy.json";

/// An S3 folder: a bucket and a key prefix without leading or trailing `/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub bucket: String,
    pub prefix: String,
}

impl Location {
    /// Parses `s3://bucket/prefix` (trailing `/` trimmed). `s3://bucket` alone
    /// means `prefix = default_prefix`: the layer passes the function's name so
    /// one bucket serves many functions; the CLI passes `None` (prefix `""`).
    pub fn parse(url: &str, default_prefix: Option<&str>) -> Result<Location, Error> {
        let trimmed = url.trim();
        let rest = match trimmed.get(..5) {
            Some(scheme) if scheme.eq_ignore_ascii_case("s3://") => &trimmed[5..],
            _ => {
                return Err(Error::config(format!(
                    "{url:?} is not an S3 location: expected s3://BUCKET or s3://BUCKET/PREFIX"
                )));
            }
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        validate_bucket(bucket).map_err(|why| Error::config(format!("{url:?}: invalid bucket name: {why}")))?;
        let prefix = prefix.trim_end_matches('/');
        let prefix = if prefix.is_empty() { default_prefix.unwrap_or("").trim_matches('/') } else { prefix };
        if prefix.split('/').any(str::is_empty) && !prefix.is_empty() {
            return Err(Error::config(format!("{url:?}: the prefix {prefix:?} has an empty path segment ('//')")));
        }
        Ok(Location { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
    }

    /// The key of a named object in this folder: `prefix/name`, or `name` with no prefix.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_owned() } else { format!("{}/{name}", self.prefix) }
    }

    /// The key of the policy object: `prefix/policy.json`, or `policy.json` with no prefix.
    pub fn policy_key(&self) -> String {
        self.key(POLICY_OBJECT)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Checks S3's bucket naming rules (general purpose buckets), so a typo is
/// reported when the configuration is read rather than as a DNS or signature
/// failure later.
pub fn validate_bucket(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the bucket name is empty".to_owned());
    }
    if !(3..=63).contains(&name.len()) {
        return Err(format!("{name:?} must be 3 to 63 characters long"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-')) {
        return Err(format!("{name:?} contains {c:?}: only lowercase letters, digits, '.' and '-' are allowed"));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return Err(format!("{name:?} must begin and end with a letter or digit"));
    }
    if name.contains("..") {
        return Err(format!("{name:?} must not contain two adjacent periods"));
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(format!("{name:?} must not be formatted as an IP address"));
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(format!("{name:?} must not start with the reserved prefix {prefix:?}"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Err(format!("{name:?} must not end with the reserved suffix {suffix:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn loc(url: &str, default: Option<&str>) -> (String, String) {
        let l = Location::parse(url, default).unwrap_or_else(|e| panic!("{url}: {e}"));
        (l.bucket, l.prefix)
    }

    #[test]
    fn parses_locations() {
        let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(loc("s3://my-bucket/fn/prod", None), s("my-bucket", "fn/prod"));
        assert_eq!(loc("s3://my-bucket/fn/prod/", Some("x")), s("my-bucket", "fn/prod"));
        assert_eq!(loc("S3://my.bucket.1/p//", None), s("my.bucket.1", "p"));
        assert_eq!(loc("s3://my-bucket", Some("my-function")), s("my-bucket", "my-function"));
        assert_eq!(loc("s3://my-bucket/", Some("my-function")), s("my-bucket", "my-function"));
        assert_eq!(loc(" s3://my-bucket ", None), s("my-bucket", ""));
        assert_eq!(loc("s3://abc", Some("")), s("abc", ""));
    }

    #[test]
    fn builds_keys_and_displays() {
        let l = Location::parse("s3://b-1/fn", None).unwrap();
        assert_eq!(l.policy_key(), "fn/policy.json");
        assert_eq!(l.key("x"), "fn/x");
        assert_eq!(l.to_string(), "s3://b-1/fn");
        let l = Location::parse("s3://b-1", None).unwrap();
        assert_eq!(l.policy_key(), "policy.json");
        assert_eq!(l.to_string(), "s3://b-1");
        assert_eq!(Location::parse(&l.to_string(), None).unwrap(), l);
    }

    #[test]
    fn rejects_bad_locations() {
        for (url, says) in [
            ("https://b.s3.amazonaws.com/x", "not an S3 location"),
            ("/var/task/policy.json", "not an S3 location"),
            ("s3:/bucket", "not an S3 location"),
            ("", "not an S3 location"),
            ("s3://", "the bucket name is empty"),
            ("s3:///prefix", "the bucket name is empty"),
            ("s3://ab", "3 to 63 characters"),
            (&format!("s3://{}", "a".repeat(64)), "3 to 63 characters"),
            ("s3://My-Bucket", "contains 'M'"),
            ("s3://my_bucket", "contains '_'"),
            ("s3://-bucket", "begin and end"),
            ("s3://bucket-/x", "begin and end"),
            ("s3://my..bucket", "adjacent periods"),
            ("s3://192.168.5.4", "IP address"),
            ("s3://xn--bucket", "reserved prefix"),
            ("s3://bucket-s3alias", "reserved suffix"),
            ("s3://bucket/a//b", "empty path segment"),
        ] {
            let err = Location::parse(url, Some("fn")).expect_err(url);
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
            assert!(err.to_string().contains(says), "{url}: {err}");
        }
    }
}
