"""Makes the AWS calls named on the command line with boto3, against
AWS_ENDPOINT_URL (moto on loopback), in that order, and prints one line per
call (tests/tests/api_sdk.rs reads them):

    TARGET ok
    TARGET denied CODE HTTP_STATUS BOTOCORES_CLASS MESSAGE
    TARGET error EXCEPTION_CLASS MESSAGE

A TARGET is written as in a policy: `dynamodb:GetItem`,
`s3:PutObject@BUCKET`. BOTOCORES_CLASS says whether the error is of the
class botocore raises for its code (client.exceptions.from_code). The table is `orders` (key `id`), the object key
`from-python`. The last line is `hooked True|False`: whether the shim
patched botocore in this process.
"""

import sys

import boto3
import botocore.client
from botocore.exceptions import ClientError

CALLS = {
    "dynamodb:GetItem": lambda c, b: c.get_item(TableName="orders", Key={"id": {"S": "1"}}),
    "dynamodb:PutItem": lambda c, b: c.put_item(TableName="orders", Item={"id": {"S": "2"}}),
    "dynamodb:DeleteTable": lambda c, b: c.delete_table(TableName="orders"),
    "s3:PutObject": lambda c, b: c.put_object(Bucket=b, Key="from-python", Body=b"hello"),
    "s3:ListBuckets": lambda c, b: c.list_buckets(),
}

clients = {}
for target in sys.argv[1:]:
    name, _, bucket = target.partition("@")
    service = name.partition(":")[0]
    client = clients.get(service) or clients.setdefault(service, boto3.client(service))
    try:
        CALLS[name](client, bucket)
        print(target, "ok", flush=True)
    except ClientError as e:
        err = e.response.get("Error", {})
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        # Whether it is the class botocore itself raises for that code.
        same = type(e) is client.exceptions.from_code(err.get("Code"))
        print(target, "denied", err.get("Code"), status, same, err.get("Message"), flush=True)
    except Exception as e:
        print(target, "error", type(e).__name__, e, flush=True)
print("hooked", getattr(botocore.client.BaseClient, "_rampart_hooked", False), flush=True)
