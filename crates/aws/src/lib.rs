//! Signed JSON requests to the two AWS APIs the `rampart` CLI uses besides
//! S3: Lambda (REST-JSON: `GET`/`PUT /2015-03-31/functions/NAME/configuration`)
//! and CloudWatch Logs (JSON 1.1: `POST /` with
//! `X-Amz-Target: Logs_20140328.FilterLogEvents`).
//!
//! - [`Client`]: one service's endpoint, credentials and HTTP agent; signs
//!   each request with [`rampart_sigv4`] (`Options::SERVICE`: the path
//!   normalised and encoded once more, as every service but S3 wants) and
//!   retries throttling and 5xx answers a few times with backoff.
//! - [`lambda`]: `GetFunctionConfiguration` and `UpdateFunctionConfiguration`
//!   (layers and environment only), typed.
//! - [`logs`]: one `FilterLogEvents` page, typed.
//! - [`Error`]: one line with the operation, AWS's error code and message,
//!   and the HTTP status; [`Error::code`] for callers that explain codes.
//!
//! Credentials, region, CA bundle and the HTTP agent come from `rampart-s3`
//! ([`rampart_s3::resolve_cli_for`], [`rampart_s3::http_agent`]), so every
//! rampart command finds credentials the same way. The endpoint is
//! `AWS_ENDPOINT_URL_LAMBDA` / `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`, then
//! `AWS_ENDPOINT_URL`, then the profile's `endpoint_url`, as the AWS SDKs
//! read them; else `https://lambda.REGION.amazonaws.com` and
//! `https://logs.REGION.amazonaws.com`.
//!
//! Why not the AWS SDK for Rust: `aws-sdk-lambda` plus `aws-sdk-cloudwatchlogs`
//! bring in the SDK runtime (`aws-smithy-*`, `aws-config`, hyper, tokio, an
//! async executor) — hundreds of crates and several MB of binary — for three
//! operations, two of them one JSON object each. The signer and the HTTP
//! client are already in the workspace for S3; this crate adds a few hundred
//! lines on top of them.
#![forbid(unsafe_code)]

mod client;
mod error;
pub mod lambda;
pub mod logs;

pub use client::{Client, Service, config_for};
pub use error::Error;
