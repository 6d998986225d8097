// rampart for an AWS CDK (TypeScript) app: `new RampartProtection(scope, id,
// { function: fn, ... })` adds the layer and the environment to a
// lambda.Function, lets its role read its policy object and nothing else of
// the bucket, and puts a metric filter and alarm on rampart's block lines.
import { Duration } from "aws-cdk-lib/core";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cloudwatchActions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import * as s3 from "aws-cdk-lib/aws-s3";
import * as sns from "aws-cdk-lib/aws-sns";
import { Construct } from "constructs";

/** RAMPART_MODE: overrides the policy's own mode. */
export type RampartMode = "profile" | "alert" | "block" | "off";

/** What rampart's block lines match: a CloudWatch Logs JSON filter pattern. */
export const BLOCK_LINES_PATTERN = '{ $.rampart = 1 && $.type = "block" }';

export interface RampartProtectionProps {
  /** The function to protect; its role gets the read-only policy. */
  readonly function: lambda.Function;
  /** The rampart layer version published for the function's architecture. */
  readonly layerArn: string;
  /** The bucket holding the function's policy folder. */
  readonly policyBucket: string;
  /** The function's folder in the bucket, without leading or trailing slashes: the layer reads PREFIX/policy.json. */
  readonly policyPrefix: string;
  /** @default - the policy's own mode (profile while there is none) */
  readonly mode?: RampartMode;
  /**
   * RAMPART_REQUIRE=1: the init fails when the layer's library for the
   * function's architecture is missing, instead of running unprotected.
   * @default true
   */
  readonly requireProtection?: boolean;
  /**
   * Also grant s3:ListBucket, so a missing policy is a 404 (a status line)
   * rather than a 403 (an error line, retried with back-off up to 60 s). It
   * reveals the bucket's key names to the function.
   * @default false
   */
  readonly allowListBucket?: boolean;
  /** @default - the policy object is not encrypted with a customer managed KMS key */
  readonly policyKmsKey?: kms.IKey;
  /** The function's log group, which the metric filter reads (Lambda's default is /aws/lambda/NAME). */
  readonly logGroup: logs.ILogGroup;
  /** @default - the alarm notifies no one */
  readonly alarmTopic?: sns.ITopic;
}

export class RampartProtection extends Construct {
  /** Where `rampart policy push` puts the policy. */
  public readonly policyLocation: string;
  /** Counts rampart's block lines (namespace Rampart, metric Blocks, dimension FunctionName). */
  public readonly blocks: cloudwatch.Metric;
  /** In alarm when a call was blocked in the last 5 minutes. */
  public readonly blockAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RampartProtectionProps) {
    super(scope, id);
    const fn = props.function;
    this.policyLocation = `s3://${props.policyBucket}/${props.policyPrefix}`;

    fn.addLayers(lambda.LayerVersion.fromLayerVersionArn(this, "Layer", props.layerArn));
    fn.addEnvironment("AWS_LAMBDA_EXEC_WRAPPER", "/opt/rampart/wrapper");
    fn.addEnvironment("RAMPART_POLICY", this.policyLocation);
    if (props.mode !== undefined) {
      fn.addEnvironment("RAMPART_MODE", props.mode);
    }
    if (props.requireProtection ?? true) {
      fn.addEnvironment("RAMPART_REQUIRE", "1");
    }
    // Each rampart line is then a log event of its own, which the metric
    // filter's JSON pattern and Logs Insights' field discovery read (the
    // JSON log format would wrap it in a "message" string).
    (fn.node.defaultChild as lambda.CfnFunction).addPropertyOverride("LoggingConfig.LogFormat", "Text");

    // What the layer needs, and only that: read the one policy object.
    const bucket = s3.Bucket.fromBucketName(this, "PolicyBucket", props.policyBucket);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: "ReadRampartPolicy",
        actions: ["s3:GetObject"],
        resources: [bucket.arnForObjects(`${props.policyPrefix}/policy.json`)],
      }),
    );
    if (props.allowListBucket ?? false) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: "TellMissingFromDenied",
          actions: ["s3:ListBucket"],
          resources: [bucket.bucketArn],
        }),
      );
    }
    if (props.policyKmsKey !== undefined) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: "DecryptRampartPolicy",
          actions: ["kms:Decrypt"],
          resources: [props.policyKmsKey.keyArn],
          conditions: { StringLike: { "kms:ViaService": "s3.*.amazonaws.com" } },
        }),
      );
    }

    new logs.MetricFilter(this, "BlockLines", {
      logGroup: props.logGroup,
      filterPattern: logs.FilterPattern.literal(BLOCK_LINES_PATTERN),
      metricNamespace: "Rampart",
      metricName: "Blocks",
      metricValue: "1",
      unit: cloudwatch.Unit.COUNT,
      dimensions: { FunctionName: "$.fn" },
    });
    this.blocks = new cloudwatch.Metric({
      namespace: "Rampart",
      metricName: "Blocks",
      dimensionsMap: { FunctionName: fn.functionName },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
    });
    this.blockAlarm = new cloudwatch.Alarm(this, "BlockAlarm", {
      alarmDescription: `rampart denied a call in ${fn.functionName}`,
      metric: this.blocks,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic !== undefined) {
      this.blockAlarm.addAlarmAction(new cloudwatchActions.SnsAction(props.alarmTopic));
    }
  }
}
