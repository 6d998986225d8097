//! The AWS shared config and credentials files (`~/.aws/config`, `~/.aws/credentials`):
//! INI sections of `key = value` lines, read the way botocore reads them.

use std::io;
use std::path::PathBuf;

use crate::config::Credentials;
use crate::error::Error;

/// One shared file, loaded (or found missing).
#[derive(Debug, Default)]
pub(crate) struct SharedFile {
    /// `None` when neither the variable nor `HOME` told where the file is.
    path: Option<PathBuf>,
    exists: bool,
    sections: Vec<(String, Section)>,
}

/// The `key = value` pairs of one section, keys lowercased, later keys winning.
#[derive(Debug, Default)]
pub(crate) struct Section {
    pairs: Vec<(String, String)>,
}

impl SharedFile {
    /// Loads `path`; a missing file is an empty one, an unreadable one an error.
    pub fn load(path: Option<PathBuf>) -> Result<SharedFile, Error> {
        let Some(path) = path else {
            return Ok(SharedFile::default());
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                Ok(SharedFile { sections: parse(&String::from_utf8_lossy(&bytes)), path: Some(path), exists: true })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Ok(SharedFile { path: Some(path), ..SharedFile::default() })
            }
            Err(e) => Err(Error::config(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// The section with this header (`default`, `profile NAME`, ...), whitespace-normalised.
    pub fn section(&self, header: &str) -> Option<&Section> {
        let header = normalize_header(header);
        self.sections.iter().find(|(h, _)| *h == header).map(|(_, s)| s)
    }

    pub fn exists(&self) -> bool {
        self.exists
    }

    /// The file's path for messages, saying when it does not exist.
    pub fn describe(&self) -> String {
        match (&self.path, self.exists) {
            (None, _) => "the shared file (HOME is not set)".to_owned(),
            (Some(p), true) => p.display().to_string(),
            (Some(p), false) => format!("{} (missing)", p.display()),
        }
    }
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, v)| k == key && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// Static credentials from this section; `None` when it has none, an error when half.
    pub fn credentials(&self, file: &SharedFile, header: &str) -> Result<Option<Credentials>, Error> {
        let id = self.get("aws_access_key_id");
        let secret = self.get("aws_secret_access_key");
        match (id, secret) {
            (Some(id), Some(secret)) => Ok(Some(Credentials {
                access_key_id: id.to_owned(),
                secret_access_key: secret.to_owned(),
                session_token: self.get("aws_session_token").or(self.get("aws_security_token")).map(str::to_owned),
            })),
            (None, None) => Ok(None),
            (Some(_), None) | (None, Some(_)) => Err(Error::credentials(format!(
                "[{header}] in {} has only one of aws_access_key_id and aws_secret_access_key",
                file.describe()
            ))),
        }
    }

    /// A credential source other than static keys, which rampart cannot use.
    pub fn unsupported_source(&self) -> Option<&'static str> {
        ["credential_process", "role_arn", "web_identity_token_file", "sso_session", "sso_start_url", "login_session"]
            .into_iter()
            .find(|k| self.get(k).is_some())
    }
}

fn normalize_header(header: &str) -> String {
    header.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses INI text. Comments start with `#` or `;`; indented lines after a
/// key are continuations (botocore's nested `s3 =` settings) and are skipped;
/// a section header seen twice merges into the first.
fn parse(text: &str) -> Vec<(String, Section)> {
    let mut sections: Vec<(String, Section)> = Vec::new();
    let mut current: Option<usize> = None;
    let mut after_key = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if after_key && line.starts_with([' ', '\t']) {
            continue;
        }
        if let Some(header) = trimmed.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let header = normalize_header(header);
            current = Some(match sections.iter().position(|(h, _)| *h == header) {
                Some(i) => i,
                None => {
                    sections.push((header, Section::default()));
                    sections.len() - 1
                }
            });
            after_key = false;
            continue;
        }
        let Some(index) = current else { continue };
        if let Some((key, value)) = trimmed.split_once(['=', ':']) {
            sections[index].1.pairs.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
            after_key = true;
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ini_like_botocore() {
        let text = "\
# comment
stray = ignored
[default]
aws_access_key_id = AK1
aws_secret_access_key=SK1 # not a comment
; another comment
[profile  dev ]
region: eu-central-1
s3 =
  endpoint_url = http://nested.invalid
  addressing_style = path
endpoint_url = http://top:9000
[default]
aws_session_token = TOK
AWS_ACCESS_KEY_ID = AK2
";
        let file = SharedFile { path: None, exists: true, sections: parse(text) };
        let d = file.section("default").unwrap();
        assert_eq!(d.get("aws_access_key_id"), Some("AK2"));
        assert_eq!(d.get("aws_secret_access_key"), Some("SK1 # not a comment"));
        assert_eq!(d.get("aws_session_token"), Some("TOK"));
        assert_eq!(d.get("stray"), None);
        let dev = file.section("profile dev").unwrap();
        assert_eq!(dev.get("region"), Some("eu-central-1"));
        assert_eq!(dev.get("endpoint_url"), Some("http://top:9000"));
        assert_eq!(dev.get("addressing_style"), None);
        assert_eq!(dev.get("s3"), None, "an empty value counts as unset");
        assert!(file.section("dev").is_none());
        let c = d.credentials(&file, "default").unwrap().unwrap();
        assert_eq!((c.access_key_id.as_str(), c.session_token.as_deref()), ("AK2", Some("TOK")));
        assert!(dev.credentials(&file, "profile dev").unwrap().is_none());
    }

    #[test]
    fn reports_half_credentials_and_unsupported_sources() {
        let file = SharedFile {
            path: Some("/x/credentials".into()),
            exists: true,
            sections: parse("[a]\naws_access_key_id = AK\n[b]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = a\n"),
        };
        let e = file.section("a").unwrap().credentials(&file, "a").unwrap_err();
        assert_eq!(e.to_string(), "[a] in /x/credentials has only one of aws_access_key_id and aws_secret_access_key");
        assert_eq!(file.section("b").unwrap().unsupported_source(), Some("role_arn"));
        assert_eq!(file.section("a").unwrap().unsupported_source(), None);
    }

    #[test]
    fn describes_missing_files() {
        let f = SharedFile::load(Some("/nonexistent/rampart/credentials".into())).unwrap();
        assert_eq!(f.describe(), "/nonexistent/rampart/credentials (missing)");
        assert!(f.section("default").is_none());
        assert_eq!(SharedFile::load(None).unwrap().describe(), "the shared file (HOME is not set)");
    }
}
