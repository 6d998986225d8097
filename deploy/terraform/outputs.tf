output "function_arn" {
  value = aws_lambda_function.function.arn
}

output "role_arn" {
  value = local.role_arn
}

output "policy_location" {
  description = "Where `rampart policy push` puts the policy."
  value       = local.policy_location
}

output "log_group_name" {
  value = aws_cloudwatch_log_group.function.name
}

output "block_alarm_name" {
  value = aws_cloudwatch_metric_alarm.blocks.alarm_name
}
