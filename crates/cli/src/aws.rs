//! What the Lambda and CloudWatch Logs commands share: the client for a
//! service, and AWS errors said as one line with what to check.

use rampart_aws::{Client, Service};

use crate::AwsOpts;
use crate::files::Fail;

/// A client for `service` with the credentials, region and endpoint the
/// AWS CLI would use; `--region` wins over `AWS_REGION` and the profile.
pub fn client(service: Service, opts: &AwsOpts) -> Result<Client, Fail> {
    let region = opts.region.clone();
    let get = move |name: &str| match (name, &region) {
        ("AWS_REGION", Some(r)) => Some(r.clone()),
        _ => std::env::var(name).ok(),
    };
    let config = rampart_aws::config_for(service, opts.profile.as_deref(), &get).map_err(|e| aws_fail(&e, ""))?;
    Client::new(service, config).map_err(|e| aws_fail(&e, ""))
}

/// One line for a failed Lambda or Logs request, with a hint for the
/// common codes. `permission` is the IAM action the request needs.
pub fn aws_fail(e: &rampart_aws::Error, permission: &str) -> Fail {
    if e.kind() == Some(rampart_s3::ErrorKind::Credentials) {
        let text = e.to_string();
        let lead = if text.starts_with("no AWS credentials") { "" } else { "no usable AWS credentials: " };
        return Fail(format!(
            "{lead}{text} (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with --profile or AWS_PROFILE)"
        ));
    }
    let hint = match e.code() {
        Some(
            "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" | "NotAuthorized" | "AuthorizationError",
        ) if !permission.is_empty() => format!(" (these credentials need {permission})"),
        Some("UnrecognizedClientException" | "InvalidClientTokenId") => {
            " (the access key id is not known there)".to_owned()
        }
        Some("InvalidSignatureException" | "SignatureDoesNotMatch") => {
            " (the secret access key does not belong to the access key id, or the clock is off)".to_owned()
        }
        Some("ExpiredTokenException" | "ExpiredToken") => " (the session token has expired)".to_owned(),
        _ if e.is_throttling() => " (still throttled after retries; try again later)".to_owned(),
        _ => String::new(),
    };
    Fail(format!("{e}{hint}"))
}
