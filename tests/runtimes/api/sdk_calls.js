// Makes the AWS calls named on the command line with the AWS SDK for
// JavaScript v3, against AWS_ENDPOINT_URL (moto on loopback), in that
// order, and prints one line per call (tests/tests/api_sdk.rs reads them):
//
//     TARGET ok
//     TARGET denied NAME CODE FAULT HTTP_STATUS SERVICE_EXCEPTION MESSAGE
//     TARGET error NAME MESSAGE
//
// A TARGET is written as in a policy: `dynamodb:GetItem`,
// `s3:PutObject@BUCKET`. The table is `orders` (key `id`), the object key
// `from-node`. SERVICE_EXCEPTION says whether the error is an instance of
// the client package's own service exception class (DynamoDBServiceException,
// S3ServiceException). The last line is `hooked true|false`: whether the
// shim's middleware is in the clients' stacks.
"use strict";

const ddb = require("@aws-sdk/client-dynamodb");
const s3 = require("@aws-sdk/client-s3");

const clients = {
  dynamodb: new ddb.DynamoDBClient({}),
  s3: new s3.S3Client({ forcePathStyle: true }),
};
const base = { dynamodb: ddb.DynamoDBServiceException, s3: s3.S3ServiceException };
const calls = {
  "dynamodb:GetItem": () => new ddb.GetItemCommand({ TableName: "orders", Key: { id: { S: "1" } } }),
  "dynamodb:PutItem": () => new ddb.PutItemCommand({ TableName: "orders", Item: { id: { S: "2" } } }),
  "dynamodb:DeleteTable": () => new ddb.DeleteTableCommand({ TableName: "orders" }),
  "s3:PutObject": (bucket) => new s3.PutObjectCommand({ Bucket: bucket, Key: "from-node", Body: "hello" }),
  "s3:ListBuckets": () => new s3.ListBucketsCommand({}),
};

(async () => {
  for (const target of process.argv.slice(2)) {
    const [name, bucket] = target.split("@");
    const service = name.split(":")[0];
    try {
      await clients[service].send(calls[name](bucket));
      console.log(target, "ok");
    } catch (e) {
      if (e && e.$metadata) {
        const status = e.$metadata.httpStatusCode;
        console.log(target, "denied", e.name, e.Code, e.$fault, status, e instanceof base[service], e.message);
      } else {
        console.log(target, "error", e && e.name, e && e.message);
      }
    }
  }
  const hooked = Object.values(clients).every((c) => c.middlewareStack.identify().some((m) => m.startsWith("rampart")));
  console.log("hooked", hooked);
})();
