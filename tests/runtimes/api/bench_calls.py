"""Times botocore API calls in this process for `cargo xtask bench-api`.

    bench_calls.py call|check CALLS BATCHES

- call: CALLS `dynamodb:GetItem` calls through a boto3 client per batch:
  all of botocore's work for a call (parameter validation, serialization,
  endpoint resolution, SigV4 signing, response parsing) with the HTTP send
  replaced by a canned 200 response, so no socket and no server noise.
- check: CALLS runs of the shim's own check (rampart_botocore's handler) on
  the same call, alone; needs the shim.

One untimed batch first, then BATCHES batches. Prints the median batch's
CPU time and wall time per call in nanoseconds, and whether the shim
hooked botocore: `CPU_NS WALL_NS True|False`.
"""

import statistics
import sys
import time

import boto3
import botocore.client
from botocore.awsrequest import AWSResponse

mode, calls, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = boto3.client("dynamodb")
BODY = b'{"Item": {"id": {"S": "1"}}}'
HEADERS = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "bench"}


class Raw:
    def stream(self, **kwargs):
        yield BODY


client._endpoint.http_session.send = lambda request: AWSResponse(request.url, 200, HEADERS, Raw())
params = {"TableName": "orders", "Key": {"id": {"S": "1"}}}

if mode == "call":

    def one():
        client.get_item(**params)

else:
    check = sys.modules["rampart_botocore"]._Check(client)
    model = client.meta.service_model.operation_model("GetItem")

    def one():
        check(params=params, model=model)


def batch():
    cpu, wall = time.process_time_ns(), time.perf_counter_ns()
    for _ in range(calls):
        one()
    return (time.process_time_ns() - cpu) / calls, (time.perf_counter_ns() - wall) / calls


batch()
runs = sorted(batch() for _ in range(batches))
cpu, wall = runs[len(runs) // 2]
print(round(cpu), round(wall), getattr(botocore.client.BaseClient, "_rampart_hooked", False))
