//! The rules: from what the scan saw of an event to its source. Each rule
//! names the AWS documentation page whose sample event it follows; those
//! samples are in `tests/events/` (listed in its README.md).

use rampart_policy::InputSource;

/// What the scan saw of the top-level object: only the fields the rules read,
/// each as its *last* occurrence left it.
#[derive(Debug, Default)]
pub(crate) struct Top {
    /// `None`: no `Records` key.
    pub records: Option<Records>,
    /// `None`: no `requestContext`, or not an object.
    pub request_context: Option<Context>,
    /// `None`: no `version` key.
    pub version: Option<Version>,
    /// These hold when the field is there and a string.
    pub http_method: bool,
    pub resource: bool,
    pub detail_type: bool,
    pub source: bool,
    /// An object.
    pub detail: bool,
    /// An object whose `data` is a string.
    pub awslogs: bool,
    /// An object.
    pub window: bool,
    /// A Kinesis or DynamoDB stream ARN.
    pub event_source_arn: Option<InputSource>,
}

/// The `Records` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Records {
    /// `[]`.
    Empty,
    /// Non-empty, and every element is a record of this source.
    Uniform(InputSource),
    /// Not an array, or an element that is not a record or names another source.
    Invalid,
}

/// The fields of `requestContext` the rules read (strings unless said).
#[derive(Debug, Default)]
pub(crate) struct Context {
    pub api_id: bool,
    /// `http`: an object.
    pub http: bool,
    /// `elb`: an object.
    pub elb: bool,
    /// `domainName` is a function URL's domain.
    pub lambda_url: bool,
    pub connection_id: bool,
    pub event_type: bool,
}

/// The top-level `version` (a payload format version of API Gateway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
    /// Any other value, string or not.
    Other,
}

impl Version {
    pub fn of(s: &str) -> Version {
        match s {
            "1.0" => Version::V1,
            "2.0" => Version::V2,
            _ => Version::Other,
        }
    }
}

/// The source one record names: `eventSource` (SQS, S3, DynamoDB Streams,
/// Kinesis) or `EventSource` (SNS, capitalised). `lower`/`upper` are those
/// two fields' string values, `None` where absent; a record with both, or
/// with neither, or naming any other service names none.
///
/// - SQS: <https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html>
/// - SNS: <https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html>
/// - S3: <https://docs.aws.amazon.com/lambda/latest/dg/with-s3.html>
/// - DynamoDB: <https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html>
/// - Kinesis: <https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html>
pub(crate) fn record_source(lower: Option<&str>, upper: Option<&str>) -> Option<InputSource> {
    match (lower, upper) {
        (Some("aws:sqs"), None) => Some(InputSource::Sqs),
        (Some("aws:s3"), None) => Some(InputSource::S3),
        (Some("aws:dynamodb"), None) => Some(InputSource::DynamoDb),
        (Some("aws:kinesis"), None) => Some(InputSource::Kinesis),
        (None, Some("aws:sns")) => Some(InputSource::Sns),
        _ => None,
    }
}

/// Is `domain` a Lambda function URL's, `<url-id>.lambda-url.<region>.on.aws`
/// (ASCII case ignored, as DNS does)? Function URLs have that one format,
/// in every partition:
/// <https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html>.
/// API Gateway's own domains (`<id>.execute-api.<region>.amazonaws.com`) and
/// custom domains cannot end in `on.aws`, which AWS owns.
pub(crate) fn lambda_url_domain(domain: &str) -> bool {
    let mut labels = domain.split('.');
    let mut next = || labels.next().unwrap_or("");
    let (id, lambda_url, region, on, aws) = (next(), next(), next(), next(), next());
    !id.is_empty()
        && lambda_url.eq_ignore_ascii_case("lambda-url")
        && !region.is_empty()
        && on.eq_ignore_ascii_case("on")
        && aws.eq_ignore_ascii_case("aws")
        && labels.next().is_none()
}

/// The stream service of an `arn:PARTITION:kinesis:…` or
/// `arn:PARTITION:dynamodb:…` ARN (the top-level `eventSourceARN` of a
/// tumbling-window invocation), else `None`.
/// <https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html#services-kinesis-windows>
pub(crate) fn stream_arn_source(arn: &str) -> Option<InputSource> {
    let mut parts = arn.split(':');
    if parts.next() != Some("arn") || parts.next().is_none_or(str::is_empty) {
        return None;
    }
    match parts.next()? {
        "kinesis" => Some(InputSource::Kinesis),
        "dynamodb" => Some(InputSource::DynamoDb),
        _ => None,
    }
}

/// The source of an event whose top level the scan summarised as `top`:
/// the one family of shapes it matches, `Direct` if none or several do.
pub(crate) fn decide(top: &Top) -> InputSource {
    let found = [records(top), http(top), eventbridge(top), logs(top)];
    let mut matched = found.into_iter().flatten();
    match (matched.next(), matched.next()) {
        (Some(source), None) => source,
        _ => InputSource::Direct,
    }
}

/// SQS, SNS, S3, DynamoDB Streams and Kinesis batches (see [`record_source`]).
/// A tumbling window's final call may carry no records; its `window` and
/// stream `eventSourceARN` still say which stream it reads.
fn records(top: &Top) -> Option<InputSource> {
    match top.records? {
        Records::Uniform(source) => Some(source),
        Records::Empty if top.window => top.event_source_arn,
        Records::Empty | Records::Invalid => None,
    }
}

/// The HTTP front doors: API Gateway (REST, HTTP, WebSocket), function URLs,
/// Application Load Balancers.
fn http(top: &Top) -> Option<InputSource> {
    let ctx = top.request_context.as_ref()?;
    if ctx.elb {
        // https://docs.aws.amazon.com/lambda/latest/dg/services-alb.html
        return (top.http_method && !ctx.api_id && top.version.is_none()).then_some(InputSource::Alb);
    }
    let rest_fields = top.resource && top.http_method && ctx.api_id;
    match top.version {
        // Payload format 2.0 (HTTP APIs), which function URLs share:
        // https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
        // https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads
        Some(Version::V2) if ctx.http && ctx.api_id => {
            Some(if ctx.lambda_url { InputSource::LambdaUrl } else { InputSource::ApiGatewayV2 })
        }
        // An HTTP API sending payload format 1.0: REST's fields, plus
        // `version` (same page). The API is still an API Gateway v2 one.
        Some(Version::V1) if rest_fields => Some(InputSource::ApiGatewayV2),
        // A REST API proxy integration:
        // https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format
        None if rest_fields => Some(InputSource::ApiGateway),
        // A WebSocket API (API Gateway v2): its `$context` variables, which a
        // Lambda proxy integration passes as `requestContext`:
        // https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-mapping-template-reference.html
        None if ctx.connection_id && ctx.event_type && ctx.api_id => Some(InputSource::ApiGatewayV2),
        _ => None,
    }
}

/// EventBridge (CloudWatch Events) events, scheduled ones included
/// (`"source": "aws.events"`):
/// <https://docs.aws.amazon.com/lambda/latest/dg/services-cloudwatchevents.html>
fn eventbridge(top: &Top) -> Option<InputSource> {
    (top.detail_type && top.source && top.detail).then_some(InputSource::Events)
}

/// CloudWatch Logs subscriptions:
/// <https://docs.aws.amazon.com/lambda/latest/dg/services-cloudwatchlogs.html>
fn logs(top: &Top) -> Option<InputSource> {
    top.awslogs.then_some(InputSource::Logs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_url_domains() {
        for yes in ["abc.lambda-url.us-east-1.on.aws", "x.LAMBDA-URL.eu-west-3.On.Aws"] {
            assert!(lambda_url_domain(yes), "{yes}");
        }
        for no in [
            "",
            "lambda-url.us-east-1.on.aws",
            ".lambda-url.us-east-1.on.aws",
            "abc.lambda-url..on.aws",
            "abc.lambda-url.us-east-1.on.aws.",
            "abc.lambda-url.us-east-1.on.aws.evil.example",
            "abc.lambda-url.us-east-1.on.aws.on.aws",
            "a.b.lambda-url.us-east-1.on.aws",
            "abc.execute-api.us-east-1.amazonaws.com",
            "abc.lambda-url.us-east-1.amazonaws.com",
        ] {
            assert!(!lambda_url_domain(no), "{no}");
        }
    }

    #[test]
    fn stream_arns() {
        assert_eq!(stream_arn_source("arn:aws:kinesis:us-east-1:1:stream/s"), Some(InputSource::Kinesis));
        assert_eq!(stream_arn_source("arn:aws-cn:dynamodb:cn-north-1:1:table/t/stream/x"), Some(InputSource::DynamoDb));
        for no in ["", "arn", "arn:aws", "arn::kinesis:x", "arn:aws:sqs:us-east-1:1:q", "nra:aws:kinesis:x", "kinesis"]
        {
            assert_eq!(stream_arn_source(no), None, "{no}");
        }
    }

    #[test]
    fn records_name_one_source() {
        assert_eq!(record_source(Some("aws:sqs"), None), Some(InputSource::Sqs));
        assert_eq!(record_source(None, Some("aws:sns")), Some(InputSource::Sns));
        assert_eq!(record_source(Some("aws:sns"), None), None);
        assert_eq!(record_source(None, Some("aws:sqs")), None);
        assert_eq!(record_source(Some("aws:sqs"), Some("aws:sns")), None);
        assert_eq!(record_source(Some("aws:ses"), None), None);
        assert_eq!(record_source(Some("AWS:SQS"), None), None);
        assert_eq!(record_source(None, None), None);
    }

    #[test]
    fn several_families_are_direct() {
        let top = Top {
            records: Some(Records::Uniform(InputSource::Sqs)),
            detail_type: true,
            source: true,
            detail: true,
            ..Top::default()
        };
        assert_eq!(decide(&top), InputSource::Direct);
        let top = Top { awslogs: true, ..Top::default() };
        assert_eq!(decide(&top), InputSource::Logs);
        assert_eq!(decide(&Top::default()), InputSource::Direct);
    }
}
