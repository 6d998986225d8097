//! Where the client's region, endpoint, credentials and trust roots come from.
//!
//! Every lookup goes through a `get` closure instead of `std::env`: the layer
//! passes the environment it captured when the process started (the function's
//! code may have changed the live one since, and reading it from a background
//! thread races with `setenv`), and tests pass a map.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;
use crate::profile::SharedFile;

/// The request timeout [`resolve_cli`] puts in its [`Config`].
pub const DEFAULT_CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// The region [`resolve_cli`] uses when none is configured, as the AWS CLI does for S3.
pub const DEFAULT_CLI_REGION: &str = "us-east-1";

/// AWS credentials. `Debug` shows the access key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Set for temporary credentials (Lambda's always are); sent and signed.
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Credentials {
    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`
    /// (empty values count as unset).
    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Credentials, Error> {
        let id = non_empty(get("AWS_ACCESS_KEY_ID"));
        let secret = non_empty(get("AWS_SECRET_ACCESS_KEY"));
        match (id, secret) {
            (Some(access_key_id), Some(secret_access_key)) => {
                Ok(Credentials { access_key_id, secret_access_key, session_token: non_empty(get("AWS_SESSION_TOKEN")) })
            }
            (None, None) => {
                Err(Error::credentials("no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"))
            }
            (Some(_), None) => Err(Error::credentials("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")),
            (None, Some(_)) => Err(Error::credentials("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")),
        }
    }
}

/// Everything a [`crate::Client`] needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub region: String,
    /// `http(s)://host[:port][/base]`. When set, requests use path-style
    /// addressing against it (local S3 servers, S3-compatible stores).
    pub endpoint: Option<String>,
    pub credentials: Credentials,
    /// The limit for a whole request: connect, response and body.
    pub timeout: Duration,
    /// PEM file of extra trusted roots (`AWS_CA_BUNDLE`), trusted on top of the built-in Mozilla roots.
    pub ca_bundle: Option<PathBuf>,
}

impl Config {
    /// The layer's configuration: region from `AWS_REGION`, else
    /// `AWS_DEFAULT_REGION`; endpoint from `AWS_ENDPOINT_URL_S3`, then
    /// `AWS_ENDPOINT_URL`; credentials from [`Credentials::from_vars`]; extra
    /// roots from `AWS_CA_BUNDLE`.
    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>, timeout: Duration) -> Result<Config, Error> {
        let region = first_var(get, &["AWS_REGION", "AWS_DEFAULT_REGION"])
            .ok_or_else(|| Error::config("no AWS region: neither AWS_REGION nor AWS_DEFAULT_REGION is set"))?;
        validate_region(&region.1, region.0)?;
        let endpoint = match first_var(get, &["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]) {
            Some((var, url)) => {
                Endpoint::parse(&url).map_err(|why| Error::config(format!("{var}={url:?} is not valid: {why}")))?;
                Some(url)
            }
            None => None,
        };
        Ok(Config {
            region: region.1,
            endpoint,
            credentials: Credentials::from_vars(get)?,
            timeout,
            ca_bundle: non_empty(get("AWS_CA_BUNDLE")).map(PathBuf::from),
        })
    }
}

/// The CLI's configuration, resolved the way the AWS CLI does it for static credentials.
///
/// The profile is `profile`, else `AWS_PROFILE`, else `default`.
/// Credentials: the environment first (skipped when `profile` is given
/// explicitly), then the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`
/// or `~/.aws/credentials`, section `[NAME]`), then the config file
/// (`AWS_CONFIG_FILE` or `~/.aws/config`, section `[profile NAME]`, or
/// `[default]`). Region: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
/// `region`, else [`DEFAULT_CLI_REGION`]. Endpoint: `AWS_ENDPOINT_URL_S3`,
/// `AWS_ENDPOINT_URL`, the profile's `endpoint_url`. CA bundle:
/// `AWS_CA_BUNDLE`, the profile's `ca_bundle`. Timeout: [`DEFAULT_CLI_TIMEOUT`].
///
/// Profiles that get credentials from a role, SSO or a process are reported as
/// unsupported, with the AWS CLI command that exports them as variables.
pub fn resolve_cli(profile: Option<&str>, get: &dyn Fn(&str) -> Option<String>) -> Result<Config, Error> {
    resolve_cli_for(profile, get, &["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])
}

/// [`resolve_cli`] for another service: the same profile, credentials,
/// region and CA bundle, the endpoint from the first of `endpoint_vars`
/// that is set (`AWS_ENDPOINT_URL_LAMBDA`, then `AWS_ENDPOINT_URL`, as the
/// AWS SDKs do), else the profile's `endpoint_url`.
pub fn resolve_cli_for(
    profile: Option<&str>,
    get: &dyn Fn(&str) -> Option<String>,
    endpoint_vars: &[&'static str],
) -> Result<Config, Error> {
    let explicit = profile.map(str::trim).filter(|p| !p.is_empty());
    let (name, name_source) = match explicit {
        Some(p) => (p.to_owned(), "given"),
        None => match non_empty(get("AWS_PROFILE")) {
            Some(p) => (p, "from AWS_PROFILE"),
            None => ("default".to_owned(), "default"),
        },
    };
    let home = non_empty(get("HOME"));
    let file_path = |var: &str, rel: &str| -> Option<PathBuf> {
        non_empty(get(var)).map(PathBuf::from).or_else(|| home.as_ref().map(|h| Path::new(h).join(rel)))
    };
    let creds_file = SharedFile::load(file_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"))?;
    let config_file = SharedFile::load(file_path("AWS_CONFIG_FILE", ".aws/config"))?;
    let creds_section = creds_file.section(&name);
    let config_header = if name == "default" && config_file.section("profile default").is_none() {
        "default".to_owned()
    } else {
        format!("profile {name}")
    };
    let config_section = config_file.section(&config_header);
    if name_source != "default" && creds_section.is_none() && config_section.is_none() {
        return Err(Error::config(format!(
            "AWS profile {name:?} ({name_source}) not found: no [{name}] in {} and no [{config_header}] in {}",
            creds_file.describe(),
            config_file.describe()
        )));
    }

    let mut looked = Vec::new();
    let mut credentials = None;
    if explicit.is_none() {
        match Credentials::from_vars(get) {
            Ok(c) => credentials = Some(c),
            Err(e)
                if non_empty(get("AWS_ACCESS_KEY_ID")).is_some()
                    || non_empty(get("AWS_SECRET_ACCESS_KEY")).is_some() =>
            {
                return Err(e);
            }
            Err(_) => looked.push("the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".to_owned()),
        }
    }
    for (file, header, section) in
        [(&creds_file, name.as_str(), creds_section), (&config_file, config_header.as_str(), config_section)]
    {
        if credentials.is_some() {
            break;
        }
        match section {
            Some(s) => match s.credentials(file, header)? {
                Some(c) => credentials = Some(c),
                None => looked.push(format!("[{header}] in {}", file.describe())),
            },
            None if file.exists() => looked.push(format!("{} (no [{header}] section)", file.describe())),
            None => looked.push(file.describe()),
        }
    }
    let Some(credentials) = credentials else {
        if let Some(s) = config_section
            && let Some(key) = s.unsupported_source()
        {
            return Err(Error::credentials(format!(
                "AWS profile {name:?} gets its credentials through {key}, which rampart does not support; \
                 export static credentials instead, e.g. with \
                 `eval \"$(aws configure export-credentials --profile {name} --format env)\"`"
            )));
        }
        return Err(Error::credentials(format!(
            "no AWS credentials found for profile {name:?}: looked in {}",
            looked.join(", ")
        )));
    };

    let from_profile = |key: &str| config_section.and_then(|s| s.get(key)).map(str::to_owned);
    let (region, region_source) = match first_var(get, &["AWS_REGION", "AWS_DEFAULT_REGION"]) {
        Some((var, r)) => (r, var.to_owned()),
        None => match from_profile("region") {
            Some(r) => (r, format!("region in [{config_header}] of {}", config_file.describe())),
            None => (DEFAULT_CLI_REGION.to_owned(), "default".to_owned()),
        },
    };
    validate_region(&region, &region_source)?;
    let endpoint = match first_var(get, endpoint_vars) {
        Some((var, url)) => Some((url, var.to_owned())),
        None => from_profile("endpoint_url")
            .map(|url| (url, format!("endpoint_url in [{config_header}] of {}", config_file.describe()))),
    };
    if let Some((url, source)) = &endpoint {
        Endpoint::parse(url).map_err(|why| Error::config(format!("{url:?} ({source}) is not valid: {why}")))?;
    }
    let ca_bundle = non_empty(get("AWS_CA_BUNDLE")).or_else(|| from_profile("ca_bundle")).map(PathBuf::from);
    Ok(Config { region, endpoint: endpoint.map(|(url, _)| url), credentials, timeout: DEFAULT_CLI_TIMEOUT, ca_bundle })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The first of `vars` that is set and not empty, with its name.
fn first_var(get: &dyn Fn(&str) -> Option<String>, vars: &[&'static str]) -> Option<(&'static str, String)> {
    vars.iter().find_map(|&var| non_empty(get(var)).map(|v| (var, v)))
}

/// The region goes into host names and the signature scope: only `[a-z0-9-]` can be right.
fn validate_region(region: &str, source: &str) -> Result<(), Error> {
    let ok = !region.is_empty()
        && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if ok { Ok(()) } else { Err(Error::config(format!("{region:?} ({source}) is not a valid AWS region"))) }
}

/// A parsed endpoint override.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// `host[:port]` as written (port kept for the URL).
    pub authority: String,
    /// The `Host` header: the authority without the scheme's default port.
    pub host_header: String,
    /// A base path without trailing `/` (usually empty).
    pub base: String,
}

impl Endpoint {
    /// Parses `http(s)://host[:port][/base]`; the error says what is wrong.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let (scheme, rest) = if let Some(rest) = strip_prefix_ci(url, "https://") {
            ("https", rest)
        } else if let Some(rest) = strip_prefix_ci(url, "http://") {
            ("http", rest)
        } else {
            return Err("expected http://HOST[:PORT][/PATH] or https://...".to_owned());
        };
        if rest.contains(['?', '#']) {
            return Err("an endpoint takes no query or fragment".to_owned());
        }
        let (authority, base) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err("an endpoint takes no user name or password".to_owned());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or("unclosed '[' in the host")?;
            addr.parse::<std::net::Ipv6Addr>().map_err(|_| format!("{addr:?} is not an IPv6 address"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or("expected ':PORT' after ']'")?),
            };
            (&authority[..addr.len() + 2], port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err("the host is empty".to_owned());
        }
        if !host.starts_with('[') && !host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return Err(format!("{host:?} is not a valid host name"));
        }
        let host = host.to_ascii_lowercase();
        let port = match port {
            None => None,
            Some(p) => Some(p.parse::<u16>().ok().filter(|&p| p != 0).ok_or(format!("{p:?} is not a valid port"))?),
        };
        let default_port = if scheme == "https" { 443 } else { 80 };
        let (authority, host_header) = match port {
            Some(p) if p != default_port => (format!("{host}:{p}"), format!("{host}:{p}")),
            Some(p) => (format!("{host}:{p}"), host),
            None => (host.clone(), host),
        };
        Ok(Endpoint { scheme, authority, host_header, base: base.trim_end_matches('/').to_owned() })
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.get(..prefix.len()).filter(|p| p.eq_ignore_ascii_case(prefix)).map(|_| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn credentials_from_vars() {
        let c = Credentials::from_vars(&vars(&[
            ("AWS_ACCESS_KEY_ID", "AK"),
            ("AWS_SECRET_ACCESS_KEY", "SK"),
            ("AWS_SESSION_TOKEN", "TOK"),
        ]))
        .unwrap();
        assert_eq!((c.access_key_id.as_str(), c.secret_access_key.as_str()), ("AK", "SK"));
        assert_eq!(c.session_token.as_deref(), Some("TOK"));
        assert!(!format!("{c:?}").contains("SK") && !format!("{c:?}").contains("TOK"));
        let c = Credentials::from_vars(&vars(&[
            ("AWS_ACCESS_KEY_ID", "AK"),
            ("AWS_SECRET_ACCESS_KEY", "SK"),
            ("AWS_SESSION_TOKEN", ""),
        ]))
        .unwrap();
        assert_eq!(c.session_token, None);
        for (set, says) in [
            (&[][..], "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"),
            (&[("AWS_ACCESS_KEY_ID", "AK")][..], "AWS_SECRET_ACCESS_KEY is not"),
            (&[("AWS_ACCESS_KEY_ID", " "), ("AWS_SECRET_ACCESS_KEY", "SK")][..], "AWS_ACCESS_KEY_ID is not"),
        ] {
            let e = Credentials::from_vars(&vars(set)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Credentials);
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    const KEYS: [(&str, &str); 2] = [("AWS_ACCESS_KEY_ID", "AK"), ("AWS_SECRET_ACCESS_KEY", "SK")];

    #[test]
    fn layer_config_precedence() {
        let t = Duration::from_secs(3);
        let c = Config::from_vars(
            &vars(&[KEYS[0], KEYS[1], ("AWS_REGION", "eu-west-1"), ("AWS_DEFAULT_REGION", "us-east-2")]),
            t,
        )
        .unwrap();
        assert_eq!((c.region.as_str(), c.endpoint.as_deref(), c.timeout), ("eu-west-1", None, t));
        assert_eq!(c.ca_bundle, None);
        let c = Config::from_vars(
            &vars(&[
                KEYS[0],
                KEYS[1],
                ("AWS_REGION", ""),
                ("AWS_DEFAULT_REGION", "us-east-2"),
                ("AWS_ENDPOINT_URL", "http://a:1"),
                ("AWS_ENDPOINT_URL_S3", "http://b:2"),
                ("AWS_CA_BUNDLE", "/etc/ca.pem"),
            ]),
            t,
        )
        .unwrap();
        assert_eq!((c.region.as_str(), c.endpoint.as_deref()), ("us-east-2", Some("http://b:2")));
        assert_eq!(c.ca_bundle.as_deref(), Some(Path::new("/etc/ca.pem")));
        let c =
            Config::from_vars(&vars(&[KEYS[0], KEYS[1], ("AWS_REGION", "r-1"), ("AWS_ENDPOINT_URL", "http://a:1")]), t)
                .unwrap();
        assert_eq!(c.endpoint.as_deref(), Some("http://a:1"));

        let e = Config::from_vars(&vars(&KEYS), t).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("AWS_REGION"), "{e}");
        let e = Config::from_vars(&vars(&[KEYS[0], KEYS[1], ("AWS_REGION", "us east")]), t).unwrap_err();
        assert!(e.to_string().contains("not a valid AWS region"), "{e}");
        let e = Config::from_vars(&vars(&[KEYS[0], KEYS[1], ("AWS_REGION", "r"), ("AWS_ENDPOINT_URL", "ftp://x")]), t)
            .unwrap_err();
        assert!(e.to_string().starts_with("AWS_ENDPOINT_URL=\"ftp://x\" is not valid"), "{e}");
        let e = Config::from_vars(&vars(&[("AWS_REGION", "r")]), t).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Credentials);
    }

    /// A home directory with `~/.aws/credentials` and `~/.aws/config`.
    struct Home {
        dir: tempfile::TempDir,
    }

    impl Home {
        fn new(credentials: &str, config: &str) -> Home {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join(".aws")).unwrap();
            std::fs::write(dir.path().join(".aws/credentials"), credentials).unwrap();
            std::fs::write(dir.path().join(".aws/config"), config).unwrap();
            Home { dir }
        }

        fn path(&self) -> String {
            self.dir.path().display().to_string()
        }

        /// `HOME` plus `extra`.
        fn vars(&self, extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
            let home = self.path();
            let mut all = vec![("HOME".to_owned(), home)];
            all.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            move |k: &str| all.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        }
    }

    const CREDENTIALS: &str = "\
[default]
aws_access_key_id = AKDEFAULT
aws_secret_access_key = SKDEFAULT

[dev]
aws_access_key_id = AKDEV
aws_secret_access_key = SKDEV
aws_session_token = TOKDEV
";

    const CONFIG: &str = "\
[default]
region = eu-north-1

[profile dev]
region = ap-southeast-2
endpoint_url = http://127.0.0.1:9000
ca_bundle = /etc/dev-ca.pem

[profile confonly]
aws_access_key_id = AKCONF
aws_secret_access_key = SKCONF

[profile sso]
sso_session = corp
sso_account_id = 1
region = us-west-2
";

    #[test]
    fn cli_uses_the_default_profile_and_environment_first() {
        let home = Home::new(CREDENTIALS, CONFIG);
        let c = resolve_cli(None, &home.vars(&[])).unwrap();
        assert_eq!((c.credentials.access_key_id.as_str(), c.region.as_str()), ("AKDEFAULT", "eu-north-1"));
        assert_eq!((c.endpoint, c.ca_bundle, c.timeout), (None, None, DEFAULT_CLI_TIMEOUT));

        // Environment credentials win over the files, even with AWS_PROFILE set.
        let c = resolve_cli(None, &home.vars(&[KEYS[0], KEYS[1], ("AWS_PROFILE", "dev")])).unwrap();
        assert_eq!(c.credentials.access_key_id, "AK");
        assert_eq!((c.region.as_str(), c.endpoint.as_deref()), ("ap-southeast-2", Some("http://127.0.0.1:9000")));
        assert_eq!(c.ca_bundle.as_deref(), Some(Path::new("/etc/dev-ca.pem")));

        // AWS_PROFILE without environment credentials reads the profile's.
        let c = resolve_cli(None, &home.vars(&[("AWS_PROFILE", "dev")])).unwrap();
        assert_eq!(c.credentials.access_key_id, "AKDEV");
        assert_eq!(c.credentials.session_token.as_deref(), Some("TOKDEV"));
    }

    #[test]
    fn cli_explicit_profile_skips_environment_credentials() {
        let home = Home::new(CREDENTIALS, CONFIG);
        let c = resolve_cli(Some("dev"), &home.vars(&[KEYS[0], KEYS[1], ("AWS_PROFILE", "default")])).unwrap();
        assert_eq!(c.credentials.access_key_id, "AKDEV");
        // Credentials in the config file when the credentials file has none.
        let c = resolve_cli(Some("confonly"), &home.vars(&[])).unwrap();
        assert_eq!((c.credentials.access_key_id.as_str(), c.region.as_str()), ("AKCONF", DEFAULT_CLI_REGION));
    }

    #[test]
    fn cli_region_and_endpoint_precedence() {
        let home = Home::new(CREDENTIALS, CONFIG);
        let region = |extra: &[(&str, &str)]| resolve_cli(Some("dev"), &home.vars(extra)).unwrap().region;
        assert_eq!(region(&[("AWS_REGION", "us-east-2"), ("AWS_DEFAULT_REGION", "us-west-1")]), "us-east-2");
        assert_eq!(region(&[("AWS_DEFAULT_REGION", "us-west-1")]), "us-west-1");
        assert_eq!(region(&[]), "ap-southeast-2");
        let endpoint = |extra: &[(&str, &str)]| resolve_cli(Some("dev"), &home.vars(extra)).unwrap().endpoint;
        assert_eq!(
            endpoint(&[("AWS_ENDPOINT_URL", "http://a:1"), ("AWS_ENDPOINT_URL_S3", "http://b:2")]).as_deref(),
            Some("http://b:2")
        );
        assert_eq!(endpoint(&[("AWS_ENDPOINT_URL", "http://a:1")]).as_deref(), Some("http://a:1"));
        assert_eq!(endpoint(&[]).as_deref(), Some("http://127.0.0.1:9000"));
        let ca = resolve_cli(Some("dev"), &home.vars(&[("AWS_CA_BUNDLE", "/x.pem")])).unwrap().ca_bundle;
        assert_eq!(ca.as_deref(), Some(Path::new("/x.pem")));
    }

    #[test]
    fn other_services_take_their_own_endpoint_variables() {
        let home = Home::new(CREDENTIALS, CONFIG);
        let lambda = ["AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL"];
        let endpoint = |extra: &[(&str, &str)]| resolve_cli_for(None, &home.vars(extra), &lambda).unwrap().endpoint;
        let all = [("AWS_ENDPOINT_URL_S3", "http://s3:1"), ("AWS_ENDPOINT_URL", "http://all:2")];
        assert_eq!(endpoint(&all).as_deref(), Some("http://all:2"));
        let with_lambda = [all[0], all[1], ("AWS_ENDPOINT_URL_LAMBDA", "http://lambda:3")];
        assert_eq!(endpoint(&with_lambda).as_deref(), Some("http://lambda:3"));
        assert_eq!(endpoint(&all[..1]), None);
        // Credentials and region as for S3.
        let c = resolve_cli_for(Some("dev"), &home.vars(&[]), &lambda).unwrap();
        assert_eq!((c.credentials.access_key_id.as_str(), c.region.as_str()), ("AKDEV", "ap-southeast-2"));
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    }

    #[test]
    fn cli_file_locations_come_from_variables() {
        let home = Home::new("", "");
        let elsewhere = Home::new(CREDENTIALS, CONFIG);
        let creds = format!("{}/.aws/credentials", elsewhere.path());
        let config = format!("{}/.aws/config", elsewhere.path());
        let vars = home.vars(&[("AWS_SHARED_CREDENTIALS_FILE", &creds), ("AWS_CONFIG_FILE", &config)]);
        let c = resolve_cli(Some("dev"), &vars).unwrap();
        assert_eq!((c.credentials.access_key_id.as_str(), c.region.as_str()), ("AKDEV", "ap-southeast-2"));
    }

    #[test]
    fn cli_errors_say_where_they_looked() {
        let home = Home::new(CREDENTIALS, CONFIG);
        let e = resolve_cli(Some("nope"), &home.vars(&[])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let h = home.path();
        assert_eq!(
            e.to_string(),
            format!(
                "AWS profile \"nope\" (given) not found: no [nope] in {h}/.aws/credentials and no [profile nope] in {h}/.aws/config"
            )
        );
        let e = resolve_cli(None, &home.vars(&[("AWS_PROFILE", "nope")])).unwrap_err();
        assert!(e.to_string().contains("\"nope\" (from AWS_PROFILE) not found"), "{e}");

        let e = resolve_cli(Some("sso"), &home.vars(&[])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Credentials);
        assert!(e.to_string().contains("through sso_session, which rampart does not support"), "{e}");
        assert!(e.to_string().contains("aws configure export-credentials --profile sso --format env"), "{e}");

        let empty = Home::new("", "[default]\nregion = eu-west-3\n");
        let h = empty.path();
        let e = resolve_cli(None, &empty.vars(&[])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Credentials);
        assert_eq!(
            e.to_string(),
            format!(
                "no AWS credentials found for profile \"default\": looked in the environment (AWS_ACCESS_KEY_ID, \
                 AWS_SECRET_ACCESS_KEY), {h}/.aws/credentials (no [default] section), [default] in {h}/.aws/config"
            )
        );
        let e = resolve_cli(None, &|k: &str| (k == "AWS_CONFIG_FILE").then(|| "/nonexistent/config".to_owned()))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no AWS credentials found for profile \"default\": looked in the environment (AWS_ACCESS_KEY_ID, \
             AWS_SECRET_ACCESS_KEY), the shared file (HOME is not set), /nonexistent/config (missing)"
        );
        let e = resolve_cli(None, &home.vars(&[("AWS_ACCESS_KEY_ID", "AK")])).unwrap_err();
        assert!(e.to_string().contains("AWS_SECRET_ACCESS_KEY is not"), "{e}");
        let e = resolve_cli(None, &home.vars(&[("AWS_REGION", "Bad Region")])).unwrap_err();
        assert_eq!(e.to_string(), "\"Bad Region\" (AWS_REGION) is not a valid AWS region");
    }

    #[test]
    fn parses_endpoints() {
        let ep = |u: &str| Endpoint::parse(u).unwrap_or_else(|e| panic!("{u}: {e}"));
        let e = ep("http://127.0.0.1:9000");
        assert_eq!(
            (e.scheme, e.authority.as_str(), e.host_header.as_str(), e.base.as_str()),
            ("http", "127.0.0.1:9000", "127.0.0.1:9000", "")
        );
        let e = ep("HTTPS://S3.Example.com:443/base/");
        assert_eq!(
            (e.scheme, e.authority.as_str(), e.host_header.as_str(), e.base.as_str()),
            ("https", "s3.example.com:443", "s3.example.com", "/base")
        );
        let e = ep("http://localhost:80");
        assert_eq!(e.host_header, "localhost");
        let e = ep("http://[::1]:9000/");
        assert_eq!((e.authority.as_str(), e.host_header.as_str(), e.base.as_str()), ("[::1]:9000", "[::1]:9000", ""));
        let e = ep("https://[::1]");
        assert_eq!(e.host_header, "[::1]");
        for bad in [
            "127.0.0.1:9000",
            "ftp://h",
            "http://",
            "http://:90",
            "http://h:0",
            "http://h:x",
            "http://h:70000",
            "http://u@h",
            "http://h/?a",
            "http://[::1",
            "http://[zz]:1",
            "http://h h",
            "http://[::1]x",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
