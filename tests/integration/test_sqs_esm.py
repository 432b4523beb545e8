"""Event source mappings from SQS queues to functions, through boto3 (and
the aws CLI): the Lambda API with its states and AWS's refusals, batches
processed exactly once on the happy path, partial batch responses,
failures that reach the queue's dead-letter queue by redrive,
FilterCriteria, and the SQS event checked against AWS's own schema.

The test functions record what they got as S3 objects of this server
(bucket "esm-seen", a key per batch), which the tests read back."""

import hashlib
import json
import os
import subprocess
import time

import pytest

from conftest import (ROLE, ROOT, Server, aws_cli, client, client_error, lambda_client, py_zip,
                      s3_client, unique_name, wait_until)

NODE_DIR = os.path.join(ROOT, "tests", "node")
BUCKET = "esm-seen"

RECORD = """
import http.client, json, os, urllib.parse
URL = urllib.parse.urlparse(os.environ["AWS_ENDPOINT_URL"])
PREFIX = os.environ["PREFIX"]

def record(key, doc):
    c = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)
    c.request("PUT", "/%s/%s/%s" % ("esm-seen", PREFIX, key), body=json.dumps(doc).encode())
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status

def handler(event, context):
    record(context.aws_request_id, event)
    failed = [r["messageId"] for r in event["Records"]
              if r["body"].startswith("fail") and r["attributes"]["ApproximateReceiveCount"] == "1"]
    if any(r["body"] == "raise" for r in event["Records"]):
        raise RuntimeError("told to")
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("esm") / "data"), ["--time-scale", "100"]).start()
    s3_client(s.endpoint).create_bucket(Bucket=BUCKET)
    yield s
    assert s.stop() == 0, s.logs()


@pytest.fixture(scope="module")
def sqs(srv):
    return client("sqs", srv.endpoint)


@pytest.fixture(scope="module")
def lam(srv):
    return lambda_client(srv.endpoint)


@pytest.fixture(scope="module")
def s3(srv):
    return s3_client(srv.endpoint)


def queue(sqs, **attrs):
    url = sqs.create_queue(QueueName=unique_name("esmq"), Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def function(lam, prefix, report_failures=False):
    name = unique_name("esmfn")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": py_zip(RECORD)}, Timeout=30,
                        Environment={"Variables": {"PREFIX": prefix}})
    return name


def batches(s3, prefix):
    """The events the function recorded under prefix."""
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        for o in page.get("Contents", []):
            out.append(json.loads(s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()))
    return out


def bodies(s3, prefix):
    return [r["body"] for e in batches(s3, prefix) for r in e["Records"]]


def queue_empty(sqs, url):
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_mapping_api_and_states(sqs, lam, srv):
    """CreateEventSourceMapping answers 202 with a UUID in state Creating;
    the mapping then reads Enabled; Update (202, Updating) changes it and
    Enabled false disables it; List filters by function and source; Delete
    answers Deleting and the mapping is gone. AWS's refusals: BatchSize
    over 10 without a batching window, StartingPosition on SQS, a filter
    that is not a pattern, a queue that does not exist, a second mapping
    of the same queue and function."""
    url, arn = queue(sqs)
    prefix = unique_name("api")
    name = function(lam, prefix)
    m = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=5)
    assert m["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert m["State"] == "Creating" and m["BatchSize"] == 5
    assert m["EventSourceArn"] == arn and m["FunctionArn"].endswith(":function:" + name)
    uuid = m["UUID"]
    got = lam.get_event_source_mapping(UUID=uuid)
    assert got["State"] == "Enabled" and got["MaximumBatchingWindowInSeconds"] == 0
    assert "LastModified" in got and "_account" not in got
    up = lam.update_event_source_mapping(UUID=uuid, BatchSize=50, MaximumBatchingWindowInSeconds=1,
                                         Enabled=False)
    assert up["State"] == "Updating" and up["BatchSize"] == 50
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
    listed = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    assert [x["UUID"] for x in listed] == [uuid]
    assert [x["UUID"] for x in lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]] == [uuid]
    r = client_error(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=name)
    assert r["Error"]["Code"] == "ResourceConflictException" and uuid in r["Error"]["Message"]
    _, arn2 = queue(sqs)
    bad = [
        dict(BatchSize=100),
        dict(StartingPosition="LATEST"),
        dict(FilterCriteria={"Filters": [{"Pattern": '{"body": "not a list"}'}]}),
        dict(FilterCriteria={"Filters": [{"Pattern": "not json"}]}),
    ]
    for kw in bad:
        r = client_error(lam.create_event_source_mapping, EventSourceArn=arn2, FunctionName=name, **kw)
        assert r["Error"]["Code"] == "InvalidParameterValueException", kw
    r = client_error(lam.create_event_source_mapping, EventSourceArn=arn2 + "-none", FunctionName=name)
    assert r["Error"]["Code"] == "InvalidParameterValueException"
    assert "NonExistentQueue" in r["Error"]["Message"]
    r = client_error(lam.create_event_source_mapping, EventSourceArn=arn2, FunctionName=name + "-none")
    assert r["Error"]["Code"] == "ResourceNotFoundException"
    d = lam.delete_event_source_mapping(UUID=uuid)
    assert d["State"] == "Deleting" and d["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert client_error(lam.get_event_source_mapping, UUID=uuid)["Error"]["Code"] == \
        "ResourceNotFoundException"
    # The aws CLI drives the same API.
    out = json.loads(aws_cli(srv.endpoint, "lambda", "create-event-source-mapping",
                             "--event-source-arn", arn, "--function-name", name,
                             "--batch-size", "3").stdout)
    assert out["State"] == "Creating" and out["BatchSize"] == 3
    aws_cli(srv.endpoint, "lambda", "delete-event-source-mapping", "--uuid", out["UUID"])


def test_ten_thousand_messages_exactly_once(sqs, lam, s3):
    """A mapping with batches of 100 (and a batching window) takes 10,000
    messages through the function: each delivered once, none left."""
    url, arn = queue(sqs)
    prefix = unique_name("bulk")
    name = function(lam, prefix)
    sent = set()
    for b in range(1000):
        entries = [{"Id": str(k), "MessageBody": f"m{b * 10 + k}"} for k in range(10)]
        r = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not r.get("Failed")
        sent.update(e["MessageBody"] for e in entries)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=100,
                                           MaximumBatchingWindowInSeconds=1)["UUID"]
    wait_until(lambda: queue_empty(sqs, url), timeout=180, what="the queue to drain")
    got = bodies(s3, prefix)
    assert len(got) == 10_000 and set(got) == sent
    assert max(len(e["Records"]) for e in batches(s3, prefix)) <= 100
    # /_sluice/metrics: the mapping's batches and records, the queue's states.
    import urllib.request
    with urllib.request.urlopen(sqs.meta.endpoint_url + "/_sluice/metrics") as r:
        text = r.read().decode()
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if line and not line.startswith("#")}
    assert values[f'sluice_esm_records{{uuid="{uuid}",function="{name}"}}'] == 10_000
    assert values[f'sluice_esm_batches{{uuid="{uuid}",function="{name}"}}'] >= 100
    assert values[f'sluice_esm_failures{{uuid="{uuid}",function="{name}"}}'] == 0
    assert values[f'sluice_esm_concurrency{{uuid="{uuid}",function="{name}"}}'] == 0
    for state in ("visible", "in_flight", "delayed"):
        assert values[f'sluice_sqs_messages{{queue="{arn}",state="{state}"}}'] == 0


def test_partial_batch_failure_returns_only_failed(sqs, lam, s3):
    """With ReportBatchItemFailures, the messages the response names come
    back (after the visibility timeout) and the others are deleted: each
    good message runs once, each failed one twice."""
    url, arn = queue(sqs, VisibilityTimeout="1")
    prefix = unique_name("partial")
    name = function(lam, prefix)
    for i in range(6):
        sqs.send_message(QueueUrl=url, MessageBody=("fail-" if i % 3 == 0 else "ok-") + str(i))
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=10,
                                    FunctionResponseTypes=["ReportBatchItemFailures"])
    wait_until(lambda: queue_empty(sqs, url), timeout=60, what="the queue to drain")
    got = bodies(s3, prefix)
    assert sorted(b for b in got if b.startswith("ok-")) == ["ok-1", "ok-2", "ok-4", "ok-5"]
    assert sorted(b for b in got if b.startswith("fail-")) == ["fail-0", "fail-0", "fail-3", "fail-3"]


def test_function_errors_reach_the_dead_letter_queue(sqs, lam, s3):
    """A batch whose function fails is not deleted: its messages come back
    after the visibility timeout and, past maxReceiveCount, the queue's
    redrive policy moves them to its dead-letter queue."""
    dlq_url, dlq_arn = queue(sqs)
    url, arn = queue(sqs, VisibilityTimeout="1", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}))
    prefix = unique_name("dlq")
    name = function(lam, prefix)
    sqs.send_message(QueueUrl=url, MessageBody="raise")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=1)
    m = None
    deadline = time.monotonic() + 60
    while m is None and time.monotonic() < deadline:
        r = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=2, AttributeNames=["All"])
        m = (r.get("Messages") or [None])[0]
    assert m is not None, "nothing reached the dead-letter queue"
    assert m["Body"] == "raise" and m["Attributes"]["DeadLetterQueueSourceArn"] == arn
    assert bodies(s3, prefix) == ["raise", "raise"]  # two receives, then redrive


def test_filter_criteria_keep_and_drop(sqs, lam, s3):
    """FilterCriteria: a message matching any filter reaches the function;
    one matching none is deleted without it; a body that is not JSON does
    not match a pattern into the body."""
    url, arn = queue(sqs)
    prefix = unique_name("filter")
    name = function(lam, prefix)
    patterns = [
        {"body": {"kind": ["order"], "total": [{"numeric": [">", 100]}]}},
        {"body": {"tag": [{"prefix": "urgent-"}]}},
        {"attributes": {"SenderId": [{"exists": True}]}, "body": {"flag": [True]}},
    ]
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, BatchSize=10,
        FilterCriteria={"Filters": [{"Pattern": json.dumps(p)} for p in patterns]})
    cases = {
        '{"kind": "order", "total": 150}': True,
        '{"kind": "order", "total": 50}': False,
        '{"kind": "refund", "total": 150}': False,
        '{"tag": "urgent-1"}': True,
        '{"tag": "later"}': False,
        '{"flag": true}': True,
        '{"flag": false}': False,
        'plain text': False,
    }
    for body in cases:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    wait_until(lambda: queue_empty(sqs, url), timeout=60, what="the queue to drain")
    # (The dropped ones are deleted at once; the kept ones once processed.)
    wait_until(lambda: len(bodies(s3, prefix)) >= 3, timeout=30, what="the kept messages")
    assert sorted(bodies(s3, prefix)) == sorted(b for b, keep in cases.items() if keep)


def test_event_matches_aws_schema(sqs, lam, s3):
    """The event the function gets is Lambda's SQS event, which AWS's own
    schema (@aws-lambda-powertools/parser's SqsSchema) accepts, with the
    message's attributes in lower camel case."""
    url, arn = queue(sqs)
    prefix = unique_name("schema")
    name = function(lam, prefix)
    sqs.send_message(QueueUrl=url, MessageBody='{"orderId": 42}',
                     MessageAttributes={"Kind": {"DataType": "String", "StringValue": "order"}})
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    wait_until(lambda: batches(s3, prefix), timeout=60, what="the event")
    event = batches(s3, prefix)[0]
    rec = event["Records"][0]
    assert rec["eventSource"] == "aws:sqs" and rec["eventSourceARN"] == arn
    assert rec["awsRegion"] == "us-east-1"
    assert rec["messageAttributes"]["Kind"] == {"stringValue": "order", "stringListValues": [],
                                                "binaryListValues": [], "dataType": "String"}
    assert rec["md5OfBody"] == hashlib.md5(rec["body"].encode()).hexdigest()
    assert rec["md5OfMessageAttributes"] == "9e7e72847e5db084ff08f403da3c182b"  # AWS's example
    assert rec["attributes"]["ApproximateReceiveCount"] == "1"
    proc = subprocess.run(["/usr/bin/node", "check_event.js", "SqsSchema"], cwd=NODE_DIR,
                          input=json.dumps(event), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_fifo_mapping_keeps_group_order(sqs, lam, s3):
    """A mapping of a FIFO queue hands each group's messages to the
    function in order, never two batches of one group at once, while
    other groups go on; BatchSize over 10 is refused for FIFO."""
    url = sqs.create_queue(QueueName=unique_name("esmf") + ".fifo",
                           Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    prefix = unique_name("fifoesm")
    name = function(lam, prefix)
    for i in range(12):
        for g in ("a", "b", "c"):
            sqs.send_message(QueueUrl=url, MessageBody=f"{g}{i:02d}", MessageGroupId=g,
                             MessageDeduplicationId=f"{g}{i}")
    r = client_error(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=name,
                     BatchSize=20, MaximumBatchingWindowInSeconds=1)
    assert r["Error"]["Code"] == "InvalidParameterValueException"
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=4)
    # A group freed by a batch's deletion is read at once, not when its
    # messages would time out (30 s): a poller that waited for that would
    # take two timeouts at least. (One transient failure of a batch, which
    # keeps its group until then, stays within the bound.)
    wait_until(lambda: queue_empty(sqs, url), timeout=45, what="the queue to drain")
    events = batches(s3, prefix)
    assert sum(len(e["Records"]) for e in events) == 36
    # A batch takes each group's next messages in order (a group's run
    # ends a batch only at the group's end), so the batches in the order
    # of their first sequence numbers give each group's messages in order.
    seen = {"a": [], "b": [], "c": []}
    for e in sorted(events, key=lambda e: int(e["Records"][0]["attributes"]["SequenceNumber"])):
        for rec in e["Records"]:
            seen[rec["attributes"]["MessageGroupId"]].append(rec["body"])
    for g, got in seen.items():
        assert got == [f"{g}{i:02d}" for i in range(12)], (g, got)
