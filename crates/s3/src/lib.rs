//! The small S3 client behind rampart's policy fetcher (in `librampart.so`)
//! and `rampart policy push|pull`.
//!
//! It does exactly what those need: a conditional `GET` of one object with a
//! size limit, a `PUT` with user metadata, a `HEAD`; nothing else of S3.
//! Requests are signed with [`rampart_sigv4`] (`host`, `x-amz-content-sha256`,
//! `x-amz-date`, `x-amz-security-token` when there is a session token, and the
//! `PUT`'s `content-type` and `x-amz-meta-*`) and sent by one `ureq` agent over
//! rustls with the *ring* provider, so connections are reused between the
//! layer's refreshes and nothing links OpenSSL.
//!
//! - [`Location`]: `s3://bucket/prefix` as `RAMPART_POLICY` and the CLI write it.
//! - [`Config`]: region, endpoint, credentials, timeout and extra trust roots;
//!   [`Config::from_vars`] for the layer (Lambda's variables),
//!   [`resolve_cli`] for the CLI (profiles and shared files, as the AWS CLI).
//! - [`Client`]: virtual-hosted addressing against AWS
//!   (`https://BUCKET.s3.REGION.amazonaws.com/KEY`; path-style for dotted
//!   bucket names, which the wildcard certificate does not cover), path-style
//!   against an endpoint override (`{endpoint}/BUCKET/KEY`).
//! - [`http_agent`], [`transport_error`], [`resolve_cli_for`], [`Endpoint`]:
//!   the same agent, transport-error classification, credential and region
//!   resolution and endpoint parsing for rampart's other AWS clients
//!   (`rampart-aws`: Lambda, CloudWatch Logs), without S3's addressing.
//! - [`Error`]: one line saying which request failed and why, with S3's error
//!   code and message; [`ErrorKind`] classifies it (DNS, connect, timeout,
//!   TLS, denied, missing bucket, 5xx, truncated body, too large, ...).
//!
//! Redirects are never followed (S3 redirects only to another region, and the
//! error says which), proxies are not used, and no variable is read from the
//! live environment: every lookup goes through the caller's `get` closure.
#![forbid(unsafe_code)]

mod client;
mod config;
mod error;
mod location;
mod profile;
mod roots;

pub use client::{Client, GetObject, Object, http_agent, transport_error};
pub use config::{
    Config, Credentials, DEFAULT_CLI_REGION, DEFAULT_CLI_TIMEOUT, Endpoint, resolve_cli, resolve_cli_for,
};
pub use error::{Error, ErrorKind};
pub use location::{Location, POLICY_OBJECT, validate_bucket};
