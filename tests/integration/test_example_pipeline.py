"""The README's first example, end to end: examples/csv-to-json/deploy.sh
with the aws CLI against a running Sluice, then the sample upload flows
through the S3 notification into the function, which writes curated/ and
rejected/ with boto3."""

import json
import os
import subprocess

from conftest import cli_env, s3_client, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_csv_to_json_pipeline(server):
    env = cli_env(ENDPOINT=server.endpoint, BUCKET="example-pipeline")
    proc = subprocess.run([os.path.join(ROOT, "examples", "csv-to-json", "deploy.sh")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    s3 = s3_client(server.endpoint)

    def body(key):
        try:
            return s3.get_object(Bucket="example-pipeline", Key=key)["Body"].read().decode()
        except s3.exceptions.NoSuchKey:
            return None

    curated = wait_until(lambda: body("curated/orders/2024-05.jsonl"), timeout=120,
                         what="the curated file")
    rejected = wait_until(lambda: body("rejected/orders/2024-05.jsonl"), timeout=30,
                          what="the rejected file")
    rows = [json.loads(line) for line in curated.splitlines()]
    assert [r["order_id"] for r in rows] == [1001, 1002, 1005, 1008]
    assert rows[0] == {"order_id": 1001, "customer": "Ada Lovelace", "amount": 120.5,
                       "date": "2024-05-01"}
    bad = [json.loads(line) for line in rejected.splitlines()]
    assert [(b["line"], b["reason"].split(":")[0]) for b in bad] == \
        [(4, "missing customer"), (5, "amount"), (7, "order_id"), (8, "date")]
    # Running deploy.sh again updates the function in place and uploads again.
    proc = subprocess.run([os.path.join(ROOT, "examples", "csv-to-json", "deploy.sh")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
