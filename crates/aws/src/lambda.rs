//! Lambda's `GetFunctionConfiguration` and `UpdateFunctionConfiguration`
//! (REST-JSON, API version 2015-03-31), with the fields `rampart instrument`
//! reads and writes: layers, environment variables, state and update status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Client, Error};

/// A function's configuration, as far as rampart needs it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConfiguration {
    pub function_name: String,
    pub function_arn: Option<String>,
    pub runtime: Option<String>,
    pub package_type: Option<String>,
    /// `null` and absent both mean none.
    pub layers: Option<Vec<Layer>>,
    pub environment: Option<Environment>,
    /// `Pending`, `Active`, `Inactive`, `Failed`.
    pub state: Option<String>,
    pub state_reason: Option<String>,
    /// `InProgress`, `Successful`, `Failed` (absent right after creation).
    pub last_update_status: Option<String>,
    pub last_update_status_reason: Option<String>,
    pub last_update_status_reason_code: Option<String>,
    /// Sent back with an update, so a concurrent change fails the update
    /// (`PreconditionFailedException`) instead of being overwritten.
    pub revision_id: Option<String>,
}

/// One layer of a function.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Layer {
    /// The layer version's ARN: `arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION`.
    pub arn: String,
}

/// A function's environment.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    pub variables: Option<BTreeMap<String, String>>,
    /// Set when Lambda could not decrypt the variables (KMS) for this caller.
    pub error: Option<EnvironmentError>,
}

/// Why the variables could not be read.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentError {
    pub error_code: Option<String>,
    pub message: Option<String>,
}

impl FunctionConfiguration {
    /// The layer version ARNs, in order.
    pub fn layer_arns(&self) -> Vec<String> {
        self.layers.iter().flatten().map(|l| l.arn.clone()).collect()
    }

    /// The environment variables (empty when there are none).
    pub fn variables(&self) -> BTreeMap<String, String> {
        self.environment.as_ref().and_then(|e| e.variables.clone()).unwrap_or_default()
    }
}

/// What [`update_function_configuration`] sets: the whole layer list and
/// the whole variable map (Lambda replaces both as given).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Update<'a> {
    pub layers: &'a [String],
    pub environment: UpdateEnvironment<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_id: Option<&'a str>,
}

/// The variables of an [`Update`].
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateEnvironment<'a> {
    pub variables: &'a BTreeMap<String, String>,
}

fn configuration_path(function: &str) -> String {
    format!("/2015-03-31/functions/{}/configuration", rampart_sigv4::uri_encode(function.as_bytes(), true))
}

fn parse(operation: &str, value: serde_json::Value) -> Result<FunctionConfiguration, Error> {
    serde_json::from_value(value)
        .map_err(|e| Error::protocol(operation, format!("the answer is not a function configuration: {e}")))
}

/// `GET /2015-03-31/functions/FUNCTION/configuration` (`lambda:GetFunctionConfiguration`).
/// `function` is a name, a partial ARN or an ARN; the unqualified function ($LATEST).
pub fn get_function_configuration(client: &Client, function: &str) -> Result<FunctionConfiguration, Error> {
    let operation = format!("lambda:GetFunctionConfiguration {function}");
    let value = client.call(&operation, "GET", &configuration_path(function), &[], None)?;
    parse(&operation, value)
}

/// `PUT /2015-03-31/functions/FUNCTION/configuration` (`lambda:UpdateFunctionConfiguration`)
/// with the layers and variables of `update`; returns the configuration
/// Lambda answered with (usually `LastUpdateStatus: InProgress`).
pub fn update_function_configuration(
    client: &Client,
    function: &str,
    update: &Update<'_>,
) -> Result<FunctionConfiguration, Error> {
    let operation = format!("lambda:UpdateFunctionConfiguration {function}");
    let body = serde_json::to_vec(update).map_err(|e| Error::protocol(&operation, e.to_string()))?;
    let headers = [("content-type", "application/json")];
    let value = client.call(&operation, "PUT", &configuration_path(function), &headers, Some(&body))?;
    parse(&operation, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_configuration_as_lambda_sends_it() {
        let doc = serde_json::json!({
            "FunctionName": "orders",
            "FunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:orders",
            "Runtime": "python3.12",
            "Layers": [{"Arn": "arn:aws:lambda:eu-west-1:123456789012:layer:deps:3", "CodeSize": 10}],
            "Environment": {"Variables": {"A": "1"}},
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "RevisionId": "r-1",
            "MemorySize": 128
        });
        let c = parse("x", doc).unwrap();
        assert_eq!(c.layer_arns(), ["arn:aws:lambda:eu-west-1:123456789012:layer:deps:3"]);
        assert_eq!(c.variables().get("A").map(String::as_str), Some("1"));
        assert_eq!(c.revision_id.as_deref(), Some("r-1"));
        let bare = parse("x", serde_json::json!({"FunctionName": "f", "Layers": null})).unwrap();
        assert!(bare.layer_arns().is_empty() && bare.variables().is_empty());
        let e = parse("op", serde_json::json!({"Layers": 3})).unwrap_err();
        assert!(e.to_string().starts_with("op failed: the answer is not a function configuration"), "{e}");
    }

    #[test]
    fn writes_an_update_as_lambda_reads_it() {
        let layers = vec!["arn:aws:lambda:r:1:layer:a:1".to_owned()];
        let vars: BTreeMap<String, String> = [("K".to_owned(), "v".to_owned())].into();
        let u = Update { layers: &layers, environment: UpdateEnvironment { variables: &vars }, revision_id: None };
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"Layers":["arn:aws:lambda:r:1:layer:a:1"],"Environment":{"Variables":{"K":"v"}}}"#
        );
        assert_eq!(
            configuration_path("arn:aws:lambda:r:1:function:f"),
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Ar%3A1%3Afunction%3Af/configuration"
        );
    }
}
