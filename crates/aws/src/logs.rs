//! CloudWatch Logs' `FilterLogEvents` (JSON 1.1), one page at a time.

use serde::{Deserialize, Serialize};

use crate::{Client, Error};

/// The request: a log group, a time window, a filter pattern, the token of
/// the previous page.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterLogEvents<'a> {
    pub log_group_name: &'a str,
    /// Milliseconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_pattern: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<&'a str>,
    /// Events per page (AWS: at most 10 000, the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One page of matching events. A page may be empty and still have a
/// `next_token`: keep reading until there is none.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    #[serde(default)]
    pub events: Vec<Event>,
    pub next_token: Option<String>,
}

/// One log event.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub timestamp: Option<i64>,
    pub message: Option<String>,
    pub log_stream_name: Option<String>,
}

/// `logs:FilterLogEvents`: one page.
pub fn filter_log_events(client: &Client, request: &FilterLogEvents<'_>) -> Result<Page, Error> {
    let operation = format!("logs:FilterLogEvents {}", request.log_group_name);
    let body = serde_json::to_vec(request).map_err(|e| Error::protocol(&operation, e.to_string()))?;
    let headers = [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "Logs_20140328.FilterLogEvents")];
    let value = client.call(&operation, "POST", "/", &headers, Some(&body))?;
    serde_json::from_value(value)
        .map_err(|e| Error::protocol(&operation, format!("the answer is not a FilterLogEvents page: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_page_shapes() {
        let r = FilterLogEvents {
            log_group_name: "/aws/lambda/orders",
            start_time: Some(5),
            filter_pattern: Some("{ $.rampart = 1 }"),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"logGroupName":"/aws/lambda/orders","startTime":5,"filterPattern":"{ $.rampart = 1 }"}"#
        );
        let page: Page = serde_json::from_value(serde_json::json!({
            "events": [{"logStreamName": "s", "timestamp": 7, "message": "m\n", "ingestionTime": 8, "eventId": "e"}],
            "nextToken": "t",
            "searchedLogStreams": []
        }))
        .unwrap();
        assert_eq!(page.events[0].message.as_deref(), Some("m\n"));
        assert_eq!(page.next_token.as_deref(), Some("t"));
        let last: Page = serde_json::from_value(serde_json::json!({"events": []})).unwrap();
        assert_eq!(last, Page::default());
    }
}
