// Times AWS SDK for JavaScript v3 calls in this process for `cargo xtask
// bench-api`: `bench_calls.js stub|moto CALLS BATCHES` makes BATCHES
// batches of CALLS `dynamodb:GetItem` calls (after one untimed batch) and
// prints the median batch's time per call in nanoseconds, and whether the
// shim's middleware is in the client's stack.
//
// - stub: the SDK's whole middleware stack — serialization, endpoint
//   resolution, SigV4 signing, retries, deserialization — with a request
//   handler that answers a canned 200 response (no socket).
// - moto: real HTTP requests to moto's server (AWS_ENDPOINT_URL).
"use strict";

const { DynamoDBClient, GetItemCommand } = require("@aws-sdk/client-dynamodb");

const [mode, calls, batches] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const config = {};
if (mode === "stub") {
  const body = Buffer.from('{"Item": {"id": {"S": "1"}}}');
  config.requestHandler = {
    handle: async () => ({
      response: { statusCode: 200, headers: { "content-type": "application/x-amz-json-1.0" }, body },
    }),
  };
}
const client = new DynamoDBClient(config);
const input = { TableName: "orders", Key: { id: { S: "1" } } };

async function batch() {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await client.send(new GetItemCommand(input));
  return Number(process.hrtime.bigint() - start) / calls;
}

(async () => {
  await batch();
  const times = [];
  for (let i = 0; i < batches; i++) times.push(await batch());
  times.sort((a, b) => a - b);
  const hooked = client.middlewareStack.identify().some((m) => m.startsWith("rampart"));
  console.log(Math.round(times[Math.floor(times.length / 2)]), hooked);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
