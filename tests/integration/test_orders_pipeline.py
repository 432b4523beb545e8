"""The README's first example, end to end: examples/orders-pipeline/deploy.sh
with the aws CLI and `sluice blueprint deploy` against a running Sluice;
the sample upload flows through the S3 notification into the blueprint,
which writes Parquet partitions that the catalog learns; a bad file's
failure reaches the queue subscribed to the alert topic."""

import json
import os
import subprocess

from conftest import ROOT, SLUICE_PLAIN, aws_cli, blueprint_output, cli_env, client, wait_until

EXAMPLE = os.path.join(ROOT, "examples", "orders-pipeline")


def test_orders_pipeline(server, tmp_path):
    env = cli_env(ENDPOINT=server.endpoint, BUCKET="orders-lake", SLUICE=SLUICE_PLAIN)
    proc = subprocess.run([os.path.join(EXAMPLE, "deploy.sh")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    s3, glue, sqs = (client(x, server.endpoint) for x in ("s3", "glue", "sqs"))

    def keys(prefix):
        return sorted(o["Key"] for o in s3.list_objects_v2(
            Bucket="orders-lake", Prefix=prefix).get("Contents", []))

    wait_until(lambda: len(keys("curated/")) == 2, timeout=120, what="the two partitions")
    name = blueprint_output("raw/orders-2024-05-01.csv", "parquet")
    assert keys("curated/") == [f"curated/orders/order_date=2024-05-01/{name}",
                                f"curated/orders/order_date=2024-05-02/{name}"]
    wait_until(lambda: keys("rejected/"), what="the rejected rows")
    rejected = [json.loads(x) for x in s3.get_object(
        Bucket="orders-lake", Key="rejected/raw/orders-2024-05-01.csv.rejected.jsonl")
        ["Body"].read().decode().splitlines()]
    assert [(r["line"], r["reason"].split(":")[0]) for r in rejected] == \
        [(5, "customer"), (7, "amount")]

    def partitions():
        try:
            return sorted(p["Values"] for p in glue.get_partitions(
                DatabaseName="sales", TableName="orders")["Partitions"])
        except glue.exceptions.EntityNotFoundException:
            return []
    wait_until(lambda: len(partitions()) == 2, what="the catalog's partitions")
    assert partitions() == [["2024-05-01"], ["2024-05-02"]]
    out = json.loads(aws_cli(server.endpoint, "glue", "get-table", "--database-name", "sales",
                             "--name", "orders").stdout)
    assert [c["Name"] for c in out["Table"]["StorageDescriptor"]["Columns"]] == [
        "order_id", "customer", "country", "amount", "status"]

    data = s3.get_object(Bucket="orders-lake", Key=f"curated/orders/order_date=2024-05-01/{name}")
    path = tmp_path / "o.parquet"
    path.write_bytes(data["Body"].read())
    p = subprocess.run([SLUICE_PLAIN, "parquet", "read", str(path)], capture_output=True,
                       text=True, check=True)
    rows = [json.loads(x) for x in p.stdout.splitlines()]
    assert [r["order_id"] for r in rows] == [1001, 1002, 1003]
    assert rows[2]["customer"] == "Émilie du Châtelet" and rows[0]["amount"] == "120.50"

    # The bad file: its failure alerts the queue; nothing of it is converted.
    aws_cli(server.endpoint, "s3", "cp", os.path.join(EXAMPLE, "sample", "orders-2024-05-03.csv"),
            "s3://orders-lake/raw/")
    url = sqs.get_queue_url(QueueName="orders-alerts-inbox")["QueueUrl"]
    msgs = []
    wait_until(lambda: msgs.extend(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
                                   .get("Messages", [])) or msgs, timeout=60, what="the alert")
    record = json.loads(msgs[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["responsePayload"]["errorType"] == "Blueprint.TooManyRejected"
    assert "orders-2024-05-03.csv" in record["responsePayload"]["errorMessage"]
    assert not [k for k in keys("curated/") if "05-03" in k]
    assert "rejected/raw/orders-2024-05-03.csv.rejected.jsonl" in keys("rejected/")
