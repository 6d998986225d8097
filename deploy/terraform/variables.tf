variable "function_name" {
  type        = string
  description = "The Lambda function to create, protected by rampart."
}

variable "package_file" {
  type        = string
  description = "The function's deployment package (a zip on the machine running terraform)."
}

variable "runtime" {
  type        = string
  default     = "python3.12"
  description = "A managed runtime the layer supports (python3.x, nodejs2x.x, java2x, dotnet10)."
}

variable "handler" {
  type    = string
  default = "app.handler"
}

variable "architecture" {
  type        = string
  default     = "x86_64"
  description = "The function's instruction set; layer_arn must be the layer built for it."
  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture is x86_64 or arm64."
  }
}

variable "layer_arn" {
  type        = string
  description = "The rampart layer version published for this architecture."
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[A-Za-z0-9_-]+:[0-9]+$", var.layer_arn))
    error_message = "layer_arn is a layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)."
  }
}

variable "policy_bucket" {
  type        = string
  description = "The bucket holding the function's policy folder."
}

variable "policy_prefix" {
  type        = string
  description = "The function's folder in policy_bucket, without leading or trailing slashes; the layer reads PREFIX/policy.json."
  validation {
    condition     = can(regex("^[^/]+(/[^/]+)*$", var.policy_prefix))
    error_message = "policy_prefix has no leading, trailing or double slashes."
  }
}

variable "mode" {
  type        = string
  default     = null
  description = "RAMPART_MODE, which overrides the policy's own mode; null leaves the mode to the policy (profile while there is none)."
  validation {
    condition     = var.mode == null || contains(["profile", "alert", "block", "off"], coalesce(var.mode, "-"))
    error_message = "mode is profile, alert, block, off or null."
  }
}

variable "require_protection" {
  type        = bool
  default     = true
  description = "Set RAMPART_REQUIRE=1: the init fails when the layer's library for this architecture is missing, instead of running unprotected."
}

variable "allow_list_bucket" {
  type        = bool
  default     = false
  description = "Also grant s3:ListBucket, so a missing policy is a 404 (a status line) rather than a 403 (an error line, retried with back-off up to 60 s). It reveals the bucket's key names to the function."
}

variable "policy_kms_key_arn" {
  type        = string
  default     = null
  description = "The KMS key the policy object is encrypted with (SSE-KMS); null for SSE-S3."
}

variable "existing_role_name" {
  type        = string
  default     = null
  description = "An existing execution role to use; the read-only policy is added to it. null creates a new role."
}

variable "environment" {
  type        = map(string)
  default     = {}
  description = "The function's own environment variables, merged under rampart's."
}

variable "log_retention_days" {
  type    = number
  default = 30
}

variable "alarm_topic_arn" {
  type        = string
  default     = null
  description = "An SNS topic to notify when a call is blocked; null for none."
}
