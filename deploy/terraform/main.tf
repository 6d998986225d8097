# A Lambda function protected by the rampart layer: the layer, the exec
# wrapper and policy location in its environment, read-only access to its
# policy object for its role (a new role, or an existing one), its log
# group, and a metric filter and alarm on rampart's block lines.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

data "aws_partition" "current" {}

data "aws_iam_role" "existing" {
  count = var.existing_role_name == null ? 0 : 1
  name  = var.existing_role_name
}

locals {
  policy_location = "s3://${var.policy_bucket}/${var.policy_prefix}"
  role_name       = var.existing_role_name == null ? aws_iam_role.function[0].name : var.existing_role_name
  role_arn        = var.existing_role_name == null ? aws_iam_role.function[0].arn : data.aws_iam_role.existing[0].arn
  # rampart's variables win over the function's own.
  environment = merge(
    var.environment,
    {
      AWS_LAMBDA_EXEC_WRAPPER = "/opt/rampart/wrapper"
      RAMPART_POLICY          = local.policy_location
    },
    var.mode == null ? {} : { RAMPART_MODE = var.mode },
    var.require_protection ? { RAMPART_REQUIRE = "1" } : {},
  )
}

resource "aws_iam_role" "function" {
  count = var.existing_role_name == null ? 1 : 0
  name  = "${var.function_name}-role"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "basic_execution" {
  count      = var.existing_role_name == null ? 1 : 0
  role       = aws_iam_role.function[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

# What the layer needs, and only that: read the one policy object. The
# function gets no write access to the bucket.
data "aws_iam_policy_document" "rampart_policy_read" {
  statement {
    sid       = "ReadRampartPolicy"
    actions   = ["s3:GetObject"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.policy_bucket}/${var.policy_prefix}/policy.json"]
  }
  dynamic "statement" {
    for_each = var.allow_list_bucket ? [1] : []
    content {
      sid       = "TellMissingFromDenied"
      actions   = ["s3:ListBucket"]
      resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.policy_bucket}"]
    }
  }
  dynamic "statement" {
    for_each = var.policy_kms_key_arn == null ? [] : [var.policy_kms_key_arn]
    content {
      sid       = "DecryptRampartPolicy"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringLike"
        variable = "kms:ViaService"
        values   = ["s3.*.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "rampart_policy_read" {
  name   = "rampart-policy-read"
  role   = local.role_name
  policy = data.aws_iam_policy_document.rampart_policy_read.json
}

# Lambda's default log group name, which `rampart learn --function NAME`
# reads; created here so the metric filter has a group to attach to.
resource "aws_cloudwatch_log_group" "function" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "function" {
  function_name    = var.function_name
  role             = local.role_arn
  runtime          = var.runtime
  handler          = var.handler
  filename         = var.package_file
  source_code_hash = filebase64sha256(var.package_file)
  architectures    = [var.architecture]
  layers           = [var.layer_arn]
  # Each rampart line is then a log event of its own, which the metric
  # filter's JSON pattern and Logs Insights' field discovery read (the JSON
  # log format would wrap it in a "message" string).
  logging_config {
    log_format = "Text"
  }
  environment {
    variables = local.environment
  }
  # The layer fetches the policy before the runtime's first line of code:
  # the role can read it by then, and the log group is there.
  depends_on = [
    aws_iam_role_policy.rampart_policy_read,
    aws_iam_role_policy_attachment.basic_execution,
    aws_cloudwatch_log_group.function,
  ]
}

resource "aws_cloudwatch_log_metric_filter" "blocks" {
  name           = "rampart-blocks"
  log_group_name = aws_cloudwatch_log_group.function.name
  pattern        = "{ $.rampart = 1 && $.type = \"block\" }"
  metric_transformation {
    namespace  = "Rampart"
    name       = "Blocks"
    value      = "1"
    unit       = "Count"
    dimensions = { FunctionName = "$.fn" }
  }
}

resource "aws_cloudwatch_metric_alarm" "blocks" {
  alarm_name          = "${var.function_name}-rampart-blocks"
  alarm_description   = "rampart denied a call in ${var.function_name} (block lines in ${aws_cloudwatch_log_group.function.name})"
  namespace           = "Rampart"
  metric_name         = "Blocks"
  dimensions          = { FunctionName = aws_lambda_function.function.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
}
