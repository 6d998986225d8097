//! A deliberately plain classifier: parse the whole event into a
//! `serde_json::Value` tree (whose objects keep the last of duplicate keys,
//! as [`classify`](crate::classify) does) and test each family of shapes in
//! the most direct way. It is the oracle that tests and fuzzing compare
//! [`classify`](crate::classify) with, and never runs in the layer: it builds
//! the tree that `classify` avoids, and serde_json's depth limit (128) makes
//! it give up on deep input.

use rampart_policy::InputSource;
use serde_json::{Map, Value};

use crate::rules::{lambda_url_domain, record_source, stream_arn_source};

/// The source of `event`, or `None` where serde_json cannot build its tree
/// (invalid JSON, nesting deeper than 128, a lone surrogate anywhere, ...).
pub fn classify(event: &[u8]) -> Option<InputSource> {
    let value: Value = serde_json::from_slice(event).ok()?;
    let Value::Object(top) = value else { return Some(InputSource::Direct) };
    let candidates: Vec<InputSource> =
        [records(&top), http(&top), eventbridge(&top), logs(&top)].into_iter().flatten().collect();
    Some(match candidates[..] {
        [one] => one,
        _ => InputSource::Direct,
    })
}

fn string<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

fn has_string(object: &Map<String, Value>, key: &str) -> bool {
    string(object, key).is_some()
}

fn has_object(object: &Map<String, Value>, key: &str) -> bool {
    object.get(key).is_some_and(Value::is_object)
}

fn records(top: &Map<String, Value>) -> Option<InputSource> {
    let list = top.get("Records")?.as_array()?;
    if list.is_empty() {
        if !has_object(top, "window") {
            return None;
        }
        return stream_arn_source(string(top, "eventSourceARN")?);
    }
    let mut sources = Vec::new();
    for record in list {
        let record = record.as_object()?;
        // Present but not a string: a value `record_source` knows nothing of.
        let lower = record.get("eventSource").map(|v| v.as_str().unwrap_or(""));
        let upper = record.get("EventSource").map(|v| v.as_str().unwrap_or(""));
        sources.push(record_source(lower, upper)?);
    }
    let first = *sources.first()?;
    sources.iter().all(|s| *s == first).then_some(first)
}

fn http(top: &Map<String, Value>) -> Option<InputSource> {
    let ctx = top.get("requestContext")?.as_object()?;
    let version = top.get("version");
    let api_id = has_string(ctx, "apiId");
    if has_object(ctx, "elb") {
        if has_string(top, "httpMethod") && !api_id && version.is_none() {
            return Some(InputSource::Alb);
        }
        return None;
    }
    let rest = has_string(top, "resource") && has_string(top, "httpMethod") && api_id;
    if version == Some(&Value::from("2.0")) {
        if has_object(ctx, "http") && api_id {
            if string(ctx, "domainName").is_some_and(lambda_url_domain) {
                return Some(InputSource::LambdaUrl);
            }
            return Some(InputSource::ApiGatewayV2);
        }
        return None;
    }
    if version == Some(&Value::from("1.0")) {
        return rest.then_some(InputSource::ApiGatewayV2);
    }
    if version.is_some() {
        return None;
    }
    if rest {
        return Some(InputSource::ApiGateway);
    }
    if has_string(ctx, "connectionId") && has_string(ctx, "eventType") && api_id {
        return Some(InputSource::ApiGatewayV2);
    }
    None
}

fn eventbridge(top: &Map<String, Value>) -> Option<InputSource> {
    let yes = has_string(top, "detail-type") && has_string(top, "source") && has_object(top, "detail");
    yes.then_some(InputSource::Events)
}

fn logs(top: &Map<String, Value>) -> Option<InputSource> {
    let awslogs = top.get("awslogs")?.as_object()?;
    has_string(awslogs, "data").then_some(InputSource::Logs)
}
