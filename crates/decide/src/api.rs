//! AWS API calls as the library sees them, in two depths:
//!
//! - **Action level**, from the SDK channel: a language shim (the botocore
//!   hook, the AWS SDK for JavaScript v3 middleware) opens
//!   `/dev/rampart/api/SERVICE:Action` or
//!   `/dev/rampart/api/SERVICE:Action@BUCKET` before the request is signed;
//!   [`sdk_query`] reads that path. The open never reaches the kernel: the
//!   library answers `EACCES` (blocked) or `ENOENT` (go ahead) — `ENOENT` is
//!   also what the kernel answers when the library is not loaded, so a shim
//!   needs no other way to find out whether it is.
//! - **Service level**, for every runtime: the host name an SDK resolves and
//!   connects to; [`classify_host`] turns `dynamodb.eu-west-1.amazonaws.com`
//!   into (`dynamodb`, `eu-west-1`, no bucket) and
//!   `logs.s3.eu-west-1.amazonaws.com` into (`s3`, `eu-west-1`, `logs`).
//!
//! Both work on borrowed bytes, allocate nothing and never panic: the open
//! and connect hooks call them.

use rampart_policy::{MAX_BUCKET, is_action_byte, is_bucket_byte, is_service_byte};

/// The directory the SDK channel's paths are in.
pub const SDK_CHANNEL: &[u8] = b"/dev/rampart/api/";

/// The longest service name the channel accepts.
pub const MAX_SERVICE: usize = 64;
/// The longest action name the channel accepts.
pub const MAX_ACTION: usize = 128;

/// One AWS API call: the service as in IAM, the action when known (action
/// level), the region and the S3 bucket when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiCall<'a> {
    pub service: &'a str,
    pub action: Option<&'a str>,
    pub region: Option<&'a str>,
    pub bucket: Option<&'a str>,
}

/// What an open of a path under [`SDK_CHANNEL`] asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdkQuery<'a> {
    /// A well-formed `SERVICE:Action[@BUCKET]`; `target` is that text.
    Call { call: ApiCall<'a>, target: &'a [u8] },
    /// Under the channel but not a call: bad characters, a missing part,
    /// a part too long. Answered `ENOENT` without a decision.
    Malformed,
}

/// `None` when `path` is not under the SDK channel (the common case: one
/// comparison of the first bytes).
pub fn sdk_query(path: &[u8]) -> Option<SdkQuery<'_>> {
    let rest = path.strip_prefix(SDK_CHANNEL)?;
    Some(parse_call(rest).map_or(SdkQuery::Malformed, |call| SdkQuery::Call { call, target: rest }))
}

fn parse_call(text: &[u8]) -> Option<ApiCall<'_>> {
    let colon = text.iter().position(|&b| b == b':')?;
    let (service, rest) = (text.get(..colon)?, text.get(colon + 1..)?);
    let (action, bucket) = match rest.iter().position(|&b| b == b'@') {
        Some(at) => (rest.get(..at)?, Some(rest.get(at + 1..)?)),
        None => (rest, None),
    };
    let ok = |part: &[u8], max: usize, byte: fn(u8) -> bool| {
        !part.is_empty() && part.len() <= max && part.iter().all(|&b| byte(b))
    };
    if !ok(service, MAX_SERVICE, is_service_byte) || !ok(action, MAX_ACTION, is_action_byte) {
        return None;
    }
    if bucket.is_some_and(|b| !ok(b, MAX_BUCKET, is_bucket_byte)) {
        return None;
    }
    Some(ApiCall {
        service: ascii(service)?,
        action: Some(ascii(action)?),
        region: None,
        bucket: match bucket {
            Some(b) => Some(ascii(b)?),
            None => None,
        },
    })
}

fn ascii(b: &[u8]) -> Option<&str> {
    core::str::from_utf8(b).ok()
}

/// The domains AWS API endpoints are under: commercial and GovCloud,
/// China, and the dual-stack `api.aws`.
const SUFFIXES: [&[u8]; 3] = [b".amazonaws.com", b".amazonaws.com.cn", b".api.aws"];

/// Endpoint prefixes that differ from the IAM service prefix, as single
/// labels or as the two labels before the region (`streams.dynamodb`).
const ENDPOINT_TO_IAM: &[(&str, &str)] = &[
    ("monitoring", "cloudwatch"),
    ("email", "ses"),
    ("email-smtp", "ses"),
    ("streams.dynamodb", "dynamodb"),
    ("runtime.sagemaker", "sagemaker"),
    ("api.sagemaker", "sagemaker"),
    ("featurestore-runtime.sagemaker", "sagemaker"),
    ("api.ecr", "ecr"),
    ("dkr.ecr", "ecr"),
    ("runtime.lex", "lex"),
    ("models.lex", "lex"),
    ("runtime-v2-lex", "lex"),
    ("data.iot", "iot"),
    ("data-ats.iot", "iot"),
    ("api.pricing", "pricing"),
    ("bedrock-runtime", "bedrock"),
    ("bedrock-agent", "bedrock"),
    ("bedrock-agent-runtime", "bedrock"),
    ("tagging", "tag"),
    ("queue", "sqs"),
    ("appconfigdata", "appconfig"),
    ("data.mediastore", "mediastore"),
    ("aps-workspaces", "aps"),
    ("portal.sso", "sso"),
    ("oidc", "sso-oauth"),
];

/// The IAM prefix of a two-label endpoint prefix (`streams` `dynamodb`);
/// `-fips` on either label is ignored.
fn known_pair(first: &[u8], second: &[u8]) -> Option<&'static str> {
    let first = first.strip_suffix(b"-fips").unwrap_or(first);
    let second = second.strip_suffix(b"-fips").unwrap_or(second);
    // Lengths first: most pairs are no endpoint prefix at all.
    let len = first.len() + 1 + second.len();
    ENDPOINT_TO_IAM.iter().find_map(|(e, iam)| {
        let e = e.as_bytes();
        let known = e.len() == len && e.get(first.len()) == Some(&b'.') && e.starts_with(first) && e.ends_with(second);
        known.then_some(*iam)
    })
}

/// Labels that stand for S3 itself (the bucket, if any, is before them).
fn s3_label(label: &[u8]) -> Option<S3Label<'_>> {
    Some(match label {
        b"s3" | b"s3-fips" | b"s3-website" => S3Label::Plain { buckets: true },
        b"s3-external-1" => S3Label::Legacy { region: "us-east-1" },
        b"s3-accesspoint" | b"s3-accesspoint-fips" | b"s3-control" | b"s3-control-fips" => {
            S3Label::Plain { buckets: false }
        }
        _ => {
            let region = label.strip_prefix(b"s3-website-").or_else(|| label.strip_prefix(b"s3-"))?;
            if !is_region(region) {
                return None;
            }
            S3Label::Legacy { region: ascii(region)? }
        }
    })
}

enum S3Label<'a> {
    /// `s3`, `s3-fips`, ...: the region, if any, follows as labels.
    /// `buckets`: whether the labels before are a bucket name (not an
    /// access point or account id).
    Plain { buckets: bool },
    /// `s3-REGION`, `s3-website-REGION`, `s3-external-1`: the region is in
    /// the label.
    Legacy { region: &'a str },
}

/// `eu-west-1`, `us-gov-west-1`, `cn-north-1`, `eusc-de-east-1`: two to
/// four letters, one or more words, a number.
pub fn is_region(label: &[u8]) -> bool {
    let mut parts = label.split(|&b| b == b'-');
    let first = parts.next().unwrap_or_default();
    if !(2..=4).contains(&first.len()) || !first.iter().all(u8::is_ascii_lowercase) {
        return false;
    }
    let mut words = 0;
    let mut last_numeric = false;
    for part in parts {
        if part.is_empty() {
            return false;
        }
        last_numeric = part.iter().all(u8::is_ascii_digit);
        if !last_numeric && !part.iter().all(u8::is_ascii_lowercase) {
            return false;
        }
        words += 1;
    }
    words >= 2 && last_numeric
}

/// The most labels looked at before the AWS domain (bucket names with dots
/// can have more; the bucket is taken as one slice of the name anyway).
const MAX_LABELS: usize = 16;

/// The AWS API call (at service level: `action` is `None`) a connection to
/// host `name` is, or `None` when the name is not an AWS API endpoint (not
/// under an AWS domain, or an endpoint that is not an API: an instance's
/// public name, a load balancer, a database). Case-insensitive; one
/// trailing dot is ignored. The service is the IAM prefix.
pub fn classify_host(name: &[u8]) -> Option<ApiCall<'_>> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    // The suffix first: most names a process connects to are not AWS's,
    // and this is all they cost.
    let head = SUFFIXES.iter().find_map(|s| name.strip_suffix(*s))?;
    if name.len() > 253
        || !head.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_'))
    {
        // Upper case is rare in what SDKs resolve; such names are left to
        // the network rules rather than lower-cased on the stack.
        return None;
    }
    if head.is_empty() {
        return None;
    }
    // Label boundaries of `head`, from the right: the last few labels
    // decide; whatever is before them is a bucket or an identifier.
    let mut starts = [0usize; MAX_LABELS];
    let mut n = 0;
    let mut end = head.len();
    let mut ends = [0usize; MAX_LABELS];
    loop {
        let start = head.get(..end).and_then(|h| h.iter().rposition(|&b| b == b'.')).map_or(0, |dot| dot + 1);
        if n == MAX_LABELS {
            break;
        }
        if let (Some(s), Some(e)) = (starts.get_mut(n), ends.get_mut(n)) {
            *s = start;
            *e = end;
        }
        n += 1;
        if start == 0 {
            break;
        }
        end = start - 1;
    }
    // label(0) is the rightmost.
    let label = |i: usize| -> &[u8] {
        match (starts.get(i), ends.get(i)) {
            (Some(&s), Some(&e)) if i < n => head.get(s..e).unwrap_or_default(),
            _ => &[],
        }
    };
    if (0..n).any(|i| label(i).is_empty()) {
        return None;
    }
    // Everything left of label(i): a bucket or an identifier.
    let before = |i: usize| -> Option<&[u8]> {
        let s = *starts.get(i)?;
        (i < n && s > 0).then(|| head.get(..s - 1)).flatten()
    };

    // S3: the rightmost label that stands for S3 and is followed by
    // nothing, a region, or `dualstack.REGION`.
    for at in 0..n.min(3) {
        let Some(kind) = s3_label(label(at)) else { continue };
        let region = match (at, &kind) {
            (0, S3Label::Legacy { region }) => Some(*region),
            (0, S3Label::Plain { .. }) => None,
            (1, S3Label::Plain { .. }) if is_region(label(0)) => ascii(label(0)),
            (2, S3Label::Plain { .. }) if label(1) == b"dualstack" && is_region(label(0)) => ascii(label(0)),
            _ => continue,
        };
        let buckets = matches!(kind, S3Label::Legacy { .. } | S3Label::Plain { buckets: true });
        let bucket = if buckets { before(at).and_then(ascii) } else { None };
        return Some(ApiCall { service: "s3", action: None, region, bucket });
    }

    // Others: [identifiers.][prefix.]SERVICE[-fips][.dualstack][.REGION].
    let (mut at, region) = if is_region(label(0)) { (1, ascii(label(0))) } else { (0, None) };
    if label(at) == b"dualstack" {
        at += 1;
    }
    if at >= n {
        return None;
    }
    if region.is_none() && n > 1 {
        // `SERVICE.amazonaws.com` is a global endpoint; more labels and no
        // region is not an API endpoint (`HOST.compute-1.amazonaws.com`,
        // `LB.REGION.elb.amazonaws.com`, `DB.ID.REGION.rds.amazonaws.com`),
        // except a known two-label prefix.
        let iam = (n == 2).then(|| known_pair(label(1), label(0))).flatten()?;
        return Some(ApiCall { service: iam, action: None, region: None, bucket: None });
    }
    let service = label(at);
    let service = service.strip_suffix(b"-fips").unwrap_or(service);
    if service.is_empty() || !service.iter().all(|&b| is_service_byte(b)) {
        return None;
    }
    // `streams.dynamodb`: the label before and this one, if that pair is known.
    if at + 1 < n
        && let Some(iam) = known_pair(label(at + 1), service)
    {
        return Some(ApiCall { service: iam, action: None, region, bucket: None });
    }
    let service = ascii(service)?;
    let service = ENDPOINT_TO_IAM.iter().find(|(e, _)| *e == service).map_or(service, |(_, i)| *i);
    Some(ApiCall { service, action: None, region, bucket: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::String;

    fn host(name: &str) -> Option<(String, Option<String>, Option<String>)> {
        classify_host(name.as_bytes()).map(|c| (c.service.into(), c.region.map(Into::into), c.bucket.map(Into::into)))
    }

    fn is(name: &str, service: &str, region: Option<&str>, bucket: Option<&str>) {
        assert_eq!(host(name), Some((service.into(), region.map(Into::into), bucket.map(Into::into))), "{name}");
    }

    #[test]
    fn regional_and_global_endpoints() {
        is("dynamodb.eu-west-1.amazonaws.com", "dynamodb", Some("eu-west-1"), None);
        is("dynamodb.eu-west-1.amazonaws.com.", "dynamodb", Some("eu-west-1"), None);
        is("sts.amazonaws.com", "sts", None, None);
        is("sts.us-gov-west-1.amazonaws.com", "sts", Some("us-gov-west-1"), None);
        is("iam.amazonaws.com", "iam", None, None);
        is("lambda.cn-north-1.amazonaws.com.cn", "lambda", Some("cn-north-1"), None);
        is("kms.eusc-de-east-1.amazonaws.com", "kms", Some("eusc-de-east-1"), None);
    }

    #[test]
    fn fips_and_dual_stack() {
        is("dynamodb-fips.us-east-1.amazonaws.com", "dynamodb", Some("us-east-1"), None);
        is("dynamodb.us-east-1.api.aws", "dynamodb", Some("us-east-1"), None);
        is("kms-fips.us-west-2.api.aws", "kms", Some("us-west-2"), None);
        is("ec2.dualstack.eu-west-1.amazonaws.com", "ec2", Some("eu-west-1"), None);
        is("s3.dualstack.us-east-1.amazonaws.com", "s3", Some("us-east-1"), None);
        is("s3-fips.dualstack.us-east-1.amazonaws.com", "s3", Some("us-east-1"), None);
        is("b.s3-fips.dualstack.us-east-1.amazonaws.com", "s3", Some("us-east-1"), Some("b"));
    }

    #[test]
    fn s3_buckets() {
        is("mybucket.s3.eu-west-1.amazonaws.com", "s3", Some("eu-west-1"), Some("mybucket"));
        is("my.dotted.bucket.s3.eu-west-1.amazonaws.com", "s3", Some("eu-west-1"), Some("my.dotted.bucket"));
        is("mybucket.s3.amazonaws.com", "s3", None, Some("mybucket"));
        is("s3.eu-west-1.amazonaws.com", "s3", Some("eu-west-1"), None);
        is("s3.amazonaws.com", "s3", None, None);
        is("s3-eu-west-1.amazonaws.com", "s3", Some("eu-west-1"), None);
        is("old.s3-eu-west-1.amazonaws.com", "s3", Some("eu-west-1"), Some("old"));
        is("s3-external-1.amazonaws.com", "s3", Some("us-east-1"), None);
        is("site.s3-website-us-east-1.amazonaws.com", "s3", Some("us-east-1"), Some("site"));
        is("site.s3-website.eu-west-1.amazonaws.com", "s3", Some("eu-west-1"), Some("site"));
        // A bucket named like the service.
        is("s3.s3.eu-west-1.amazonaws.com", "s3", Some("eu-west-1"), Some("s3"));
        is("ap-123456789012.s3-accesspoint.eu-west-1.amazonaws.com", "s3", Some("eu-west-1"), None);
        is("123456789012.s3-control.eu-west-1.amazonaws.com", "s3", Some("eu-west-1"), None);
        is("b.s3.cn-north-1.amazonaws.com.cn", "s3", Some("cn-north-1"), Some("b"));
    }

    #[test]
    fn endpoint_prefixes_that_differ_from_iam() {
        is("monitoring.eu-west-1.amazonaws.com", "cloudwatch", Some("eu-west-1"), None);
        is("email.eu-west-1.amazonaws.com", "ses", Some("eu-west-1"), None);
        is("streams.dynamodb.eu-west-1.amazonaws.com", "dynamodb", Some("eu-west-1"), None);
        is("runtime.sagemaker.us-east-1.amazonaws.com", "sagemaker", Some("us-east-1"), None);
        is("runtime-fips.sagemaker.us-east-1.amazonaws.com", "sagemaker", Some("us-east-1"), None);
        is("logs.eu-west-1.amazonaws.com", "logs", Some("eu-west-1"), None);
        is("abc123.execute-api.eu-west-1.amazonaws.com", "execute-api", Some("eu-west-1"), None);
        is("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "ecr", Some("eu-west-1"), None);
        is("api.ecr.eu-west-1.amazonaws.com", "ecr", Some("eu-west-1"), None);
        is("queue.amazonaws.com", "sqs", None, None);
        is("bedrock-runtime.us-east-1.amazonaws.com", "bedrock", Some("us-east-1"), None);
    }

    #[test]
    fn not_api_endpoints() {
        for name in [
            "amazonaws.com",
            ".amazonaws.com",
            "example.com",
            "amazonaws.com.evil.example",
            "dynamodb.eu-west-1.amazonaws.com.evil.example",
            "xamazonaws.com",
            "ec2-1-2-3-4.compute-1.amazonaws.com",
            "ec2-1-2-3-4.eu-west-1.compute.amazonaws.com",
            "my-lb-1.eu-west-1.elb.amazonaws.com",
            "db.abc123.eu-west-1.rds.amazonaws.com",
            "a..b.amazonaws.com",
            "DynamoDB.eu-west-1.amazonaws.com",
            "",
        ] {
            assert_eq!(host(name), None, "{name}");
        }
    }

    #[test]
    fn regions() {
        for r in ["eu-west-1", "us-gov-west-1", "cn-northwest-1", "ap-southeast-22", "eusc-de-east-1"] {
            assert!(is_region(r.as_bytes()), "{r}");
        }
        for r in [
            "eu-west",
            "eu-1",
            "e-west-1",
            "europe-west-1",
            "eu--1",
            "eu-west-1-",
            "EU-west-1",
            "compute-1",
            "dualstack",
        ] {
            assert!(!is_region(r.as_bytes()), "{r}");
        }
    }

    fn query(path: &str) -> Option<SdkQuery<'_>> {
        sdk_query(path.as_bytes())
    }

    #[test]
    fn sdk_channel() {
        assert_eq!(query("/tmp/x"), None);
        assert_eq!(query("/dev/rampart/ap"), None);
        let Some(SdkQuery::Call { call, target }) = query("/dev/rampart/api/dynamodb:GetItem") else { panic!() };
        assert_eq!(
            (call.service, call.action, call.bucket, target),
            ("dynamodb", Some("GetItem"), None, &b"dynamodb:GetItem"[..])
        );
        let Some(SdkQuery::Call { call, target }) = query("/dev/rampart/api/s3:GetObject@my.bucket_1") else {
            panic!()
        };
        assert_eq!((call.service, call.action, call.bucket), ("s3", Some("GetObject"), Some("my.bucket_1")));
        assert_eq!(target, b"s3:GetObject@my.bucket_1");
        let long_bucket = format!("/dev/rampart/api/s3:GetObject@{}", "b".repeat(MAX_BUCKET));
        assert!(matches!(sdk_query(long_bucket.as_bytes()), Some(SdkQuery::Call { .. })));
        for bad in [
            "/dev/rampart/api/",
            "/dev/rampart/api/s3",
            "/dev/rampart/api/s3:",
            "/dev/rampart/api/:GetObject",
            "/dev/rampart/api/s3:*",
            "/dev/rampart/api/s*:GetObject",
            "/dev/rampart/api/s3:Get/Object",
            "/dev/rampart/api/s3:GetObject@",
            "/dev/rampart/api/s3:GetObject@a@b",
            "/dev/rampart/api/s3:GetObject@a/b",
            "/dev/rampart/api/s3:Get:Object",
            "/dev/rampart/api/s3:GetObject\n",
        ] {
            assert_eq!(query(bad), Some(SdkQuery::Malformed), "{bad:?}");
        }
        let too_long = format!("/dev/rampart/api/s3:GetObject@{}", "b".repeat(MAX_BUCKET + 1));
        assert_eq!(sdk_query(too_long.as_bytes()), Some(SdkQuery::Malformed));
        let too_long = format!("/dev/rampart/api/s3:{}", "A".repeat(MAX_ACTION + 1));
        assert_eq!(sdk_query(too_long.as_bytes()), Some(SdkQuery::Malformed));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(name in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = classify_host(&name);
            let _ = sdk_query(&name);
        }

        #[test]
        fn aws_like_names(labels in proptest::collection::vec("[a-z0-9-]{0,12}|s3|dualstack|eu-west-1|s3-fips", 0..20),
                          suffix in "\\.amazonaws\\.com|\\.api\\.aws|\\.amazonaws\\.com\\.cn|") {
            let name = labels.join(".") + &suffix;
            if let Some(c) = classify_host(name.as_bytes()) {
                proptest::prop_assert!(!c.service.is_empty());
                proptest::prop_assert!(c.bucket.is_none_or(|b| name.starts_with(b)));
                proptest::prop_assert!(c.region.is_none_or(|r| is_region(r.as_bytes()) || r == "us-east-1"));
            }
        }
    }
}
