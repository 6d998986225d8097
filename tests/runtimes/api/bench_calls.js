// Times AWS SDK for JavaScript v3 calls in this process for `cargo xtask
// bench-api`.
//
//     bench_calls.js call|check CALLS BATCHES
//
// - call: CALLS `dynamodb:GetItem` sends through a DynamoDBClient per
//   batch: the SDK's whole middleware stack (serialization, endpoint
//   resolution, SigV4 signing, retries, deserialization) with a request
//   handler that answers a canned 200 response, so no socket.
// - check: CALLS runs of the shim's own middleware alone on the same input
//   (its `next` an already resolved promise); needs the shim.
//
// One untimed batch first, then BATCHES batches. Prints the median batch's
// CPU time (user + system of the process) and wall time per call in
// nanoseconds, and whether the shim's middleware is in the client's stack:
// `CPU_NS WALL_NS true|false`.
"use strict";

const { DynamoDBClient, GetItemCommand } = require("@aws-sdk/client-dynamodb");

const [mode, calls, batches] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const body = Buffer.from('{"Item": {"id": {"S": "1"}}}');
const client = new DynamoDBClient({
  requestHandler: {
    handle: async () => ({ response: { statusCode: 200, headers: { "content-type": "application/x-amz-json-1.0" }, body } }),
  },
});
const input = { TableName: "orders", Key: { id: { S: "1" } } };

let one;
if (mode === "call") {
  one = () => client.send(new GetItemCommand(input));
} else {
  const shim = require(process.env.RAMPART_NODE_SHIM);
  const done = Promise.resolve({ output: {} });
  const check = shim.middleware(client)(() => done, { clientName: "DynamoDBClient", commandName: "GetItemCommand" });
  one = () => check({ input });
}

async function batch() {
  const cpu = process.cpuUsage();
  const wall = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await one();
  const used = process.cpuUsage(cpu);
  return [((used.user + used.system) * 1000) / calls, Number(process.hrtime.bigint() - wall) / calls];
}

(async () => {
  await client.send(new GetItemCommand(input));
  await batch();
  const runs = [];
  for (let i = 0; i < batches; i++) runs.push(await batch());
  runs.sort((a, b) => a[0] - b[0]);
  const [cpu, wall] = runs[Math.floor(runs.length / 2)];
  const hooked = client.middlewareStack.identify().some((m) => m.startsWith("rampart"));
  console.log(Math.round(cpu), Math.round(wall), hooked);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
