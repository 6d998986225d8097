// An example app: one function under rampart. Values come from the CDK
// context (cdk.json, or `cdk deploy -c layerArn=... -c policyBucket=...`).
import { App, Stack } from "aws-cdk-lib/core";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import { RampartMode, RampartProtection } from "../lib/rampart";

const app = new App();
const stack = new Stack(app, "RampartExample");

function context(key: string): string | undefined {
  const value: unknown = app.node.tryGetContext(key);
  return typeof value === "string" && value !== "" ? value : undefined;
}

function required(key: string): string {
  const value = context(key);
  if (value === undefined) {
    throw new Error(`rampart example: set the context value ${key} (cdk deploy -c ${key}=...)`);
  }
  return value;
}

const modes: readonly RampartMode[] = ["profile", "alert", "block", "off"];
const mode = context("mode");
if (mode !== undefined && !(modes as readonly string[]).includes(mode)) {
  throw new Error(`rampart example: mode is one of ${modes.join(", ")}, not ${mode}`);
}
const architecture = context("architecture") === "arm64" ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;
const functionName = context("functionName") ?? "rampart-example";
// An existing execution role (mutable, so the read-only policy can be added
// to it), or a new one made by lambda.Function.
const existingRoleArn = context("existingRoleArn");
const role = existingRoleArn === undefined
  ? undefined
  : iam.Role.fromRoleArn(stack, "ExistingRole", existingRoleArn, { mutable: true });

// Lambda's default log group name, which `rampart learn --function NAME` reads.
const logGroup = new logs.LogGroup(stack, "Logs", {
  logGroupName: `/aws/lambda/${functionName}`,
  retention: logs.RetentionDays.ONE_MONTH,
});
const fn = new lambda.Function(stack, "Function", {
  functionName,
  runtime: lambda.Runtime.PYTHON_3_12,
  handler: "app.handler",
  code: lambda.Code.fromAsset(context("codePath") ?? "../sam/app"),
  architecture,
  role,
  logGroup,
});

new RampartProtection(stack, "Rampart", {
  function: fn,
  layerArn: required("layerArn"),
  policyBucket: required("policyBucket"),
  policyPrefix: context("policyPrefix") ?? functionName,
  mode: mode as RampartMode | undefined,
  allowListBucket: context("allowListBucket") === "true",
  logGroup,
});
