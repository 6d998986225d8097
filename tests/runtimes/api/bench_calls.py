"""Times botocore API calls in this process for `cargo xtask bench-api`:
`bench_calls.py stub|moto CALLS BATCHES` makes BATCHES batches of CALLS
`dynamodb:GetItem` calls (after one untimed batch) and prints the median
batch's time per call in nanoseconds, and whether the shim hooked botocore.

- stub: the whole of botocore's work for a call — parameter validation,
  serialization, endpoint resolution, SigV4 signing, response parsing —
  with the HTTP send replaced by a canned 200 response (no socket).
- moto: real HTTP requests to moto's server (AWS_ENDPOINT_URL).
"""

import statistics
import sys
import time

import boto3
import botocore.client
from botocore.awsrequest import AWSResponse

mode, calls, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = boto3.client("dynamodb")

if mode == "stub":
    BODY = b'{"Item": {"id": {"S": "1"}}}'

    class Raw:
        def stream(self, **kwargs):
            yield BODY

    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "bench"}

    def send(request):
        return AWSResponse(request.url, 200, headers, Raw())

    client._endpoint.http_session.send = send


def batch():
    start = time.perf_counter_ns()
    for _ in range(calls):
        client.get_item(TableName="orders", Key={"id": {"S": "1"}})
    return (time.perf_counter_ns() - start) / calls


batch()
per_call = statistics.median(batch() for _ in range(batches))
print(round(per_call), getattr(botocore.client.BaseClient, "_rampart_hooked", False))
