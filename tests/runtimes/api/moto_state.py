"""Sets up and reads back what tests/tests/api_sdk.rs checks in moto, with
plain boto3 (run without the shim): `setup` creates the table `orders`
(item id=1) and the buckets `allowed-bucket` and `other-bucket`; `state`
prints {"tables": [...], "items": [...ids], "objects": {bucket: [keys]}}
as one JSON line."""

import json
import sys

import boto3

ddb = boto3.client("dynamodb")
s3 = boto3.client("s3")
BUCKETS = ["allowed-bucket", "other-bucket"]

if sys.argv[1] == "setup":
    ddb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="orders", Item={"id": {"S": "1"}})
    for bucket in BUCKETS:
        s3.create_bucket(Bucket=bucket)
else:
    tables = ddb.list_tables()["TableNames"]
    items = []
    if "orders" in tables:
        items = sorted(i["id"]["S"] for i in ddb.scan(TableName="orders")["Items"])
    objects = {b: sorted(o["Key"] for o in s3.list_objects_v2(Bucket=b).get("Contents", [])) for b in BUCKETS}
    print(json.dumps({"tables": tables, "items": items, "objects": objects}))
