"""Event source mappings from Kinesis streams to functions, through boto3
and the aws CLI: the Lambda API with a stream's members and AWS's
refusals; every record delivered with per-key order kept at
ParallelizationFactor 10; bisection isolating a poison record whose
on-failure record names it alone; record-age expiry; partial batch
responses; FilterCriteria on the data; tumbling windows; parents read
before children after a resharding; the Kinesis event checked against
AWS's own schema; and a kill -9 after which the mapping resumes from its
checkpoint.

The test functions record what they got as S3 objects of this server
(bucket "kesm-seen", a key per invocation), which the tests read back."""

import base64
import calendar
import hashlib
import json
import os
import subprocess
import time

import pytest

from conftest import (ROLE, ROOT, Server, aws_cli, client, client_error, lambda_client, py_zip,
                      s3_client, unique_name, wait_until)

NODE_DIR = os.path.join(ROOT, "tests", "node")
BUCKET = "kesm-seen"

HANDLER = """
import base64, http.client, json, os, time, urllib.parse
URL = urllib.parse.urlparse(os.environ["AWS_ENDPOINT_URL"])
PREFIX = os.environ["PREFIX"]
SLEEP = float(os.environ.get("SLEEP", "0"))

def call(method, key, body=None):
    c = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)
    c.request(method, "/kesm-seen/%s/%s" % (PREFIX, key), body=body)
    r = c.getresponse()
    r.read()
    return r.status

def handler(event, context):
    start = time.time()
    time.sleep(SLEEP)
    failed = []
    for r in event.get("Records", []):
        data = base64.b64decode(r["kinesis"]["data"])
        if data == b"poison":
            raise RuntimeError("poison")
        if data.startswith(b"failonce") and call("HEAD", "marker-" + data.decode()) != 200:
            call("PUT", "marker-" + data.decode(), b"")
            failed.append(r["kinesis"]["sequenceNumber"])
    doc = {"start": start, "end": time.time(), "event": event, "failed": failed}
    assert call("PUT", "batch-%.6f-%s" % (start, context.aws_request_id),
                json.dumps(doc).encode()) == 200
    out = {"batchItemFailures": [{"itemIdentifier": s} for s in failed]}
    if "window" in event:
        state = dict(event["state"])
        state["n"] = state.get("n", 0) + len(event["Records"])
        out["state"] = state
    return out
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("kesm") / "data"), ["--time-scale", "100"]).start()
    s3_client(s.endpoint).create_bucket(Bucket=BUCKET)
    yield s
    assert s.stop() == 0, s.logs()


@pytest.fixture(scope="module")
def kin(srv):
    return client("kinesis", srv.endpoint)


@pytest.fixture(scope="module")
def lam(srv):
    return lambda_client(srv.endpoint)


@pytest.fixture(scope="module")
def s3(srv):
    return s3_client(srv.endpoint)


def stream(kin, shards=1):
    name = unique_name("kst")
    kin.create_stream(StreamName=name, ShardCount=shards)
    return name, kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def function(lam, prefix, sleep=0):
    name = unique_name("kfn")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": py_zip(HANDLER)}, Timeout=30,
                        Environment={"Variables": {"PREFIX": prefix, "SLEEP": str(sleep)}})
    return name


def on_failure_queue(srv):
    """An SQS client, and the URL and ARN of a new queue."""
    sqs = client("sqs", srv.endpoint)
    q = sqs.create_queue(QueueName=unique_name("kfail"))["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs, q, qarn


def first_message(sqs, q):
    """The body of the first message that comes to queue q, parsed."""
    msgs = []
    wait_until(lambda: msgs.extend(sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1)
                                   .get("Messages", [])) or msgs, timeout=60,
               what="the on-failure record")
    return json.loads(msgs[0]["Body"])


def batches(s3, prefix):
    """What the function recorded under prefix, in the order it started."""
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/batch-"):
        for o in page.get("Contents", []):
            out.append(json.loads(s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()))
    return sorted(out, key=lambda b: b["start"])


def datas(s3, prefix):
    return [base64.b64decode(r["kinesis"]["data"]).decode()
            for b in batches(s3, prefix) for r in b["event"]["Records"]]


def put(kin, name, items):
    """PutRecords of (partition key, data) pairs, 500 at a time; the
    sequence numbers in order."""
    seqs = []
    for i in range(0, len(items), 500):
        out = kin.put_records(StreamName=name, Records=[
            {"PartitionKey": k, "Data": d.encode() if isinstance(d, str) else d}
            for k, d in items[i:i + 500]])
        assert out["FailedRecordCount"] == 0
        seqs += [r["SequenceNumber"] for r in out["Records"]]
    return seqs


def test_mapping_api(kin, lam):
    """A stream mapping answers with the stream members and AWS's defaults
    (BatchSize 100, ParallelizationFactor 1, retries and age -1); Update
    changes them; the refusals: no StartingPosition, ScalingConfig (SQS's
    only), a record age under 60 s, AT_TIMESTAMP without its timestamp, an
    on-failure destination that is not a queue or does not exist, a
    stream that does not exist, the same stream and function twice; and
    the aws CLI creates one too."""
    name, arn = stream(kin)
    fn = function(lam, unique_name("api"))
    m = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn,
                                        StartingPosition="LATEST", Enabled=False)
    assert m["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (m["BatchSize"], m["ParallelizationFactor"], m["MaximumRetryAttempts"],
            m["MaximumRecordAgeInSeconds"], m["BisectBatchOnFunctionError"],
            m["TumblingWindowInSeconds"], m["StartingPosition"]) == (100, 1, -1, -1, False, 0, "LATEST")
    assert m["DestinationConfig"] == {"OnFailure": {}}
    uuid = m["UUID"]
    up = lam.update_event_source_mapping(UUID=uuid, BatchSize=1000, ParallelizationFactor=4,
                                         MaximumRetryAttempts=3, BisectBatchOnFunctionError=True)
    assert (up["BatchSize"], up["ParallelizationFactor"], up["MaximumRetryAttempts"]) == (1000, 4, 3)
    got = lam.get_event_source_mapping(UUID=uuid)
    assert got["State"] == "Disabled" and got["BisectBatchOnFunctionError"] is True
    r = client_error(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=fn,
                     StartingPosition="TRIM_HORIZON")
    assert r["Error"]["Code"] == "ResourceConflictException" and uuid in r["Error"]["Message"]
    _, arn2 = stream(kin)
    bad = [
        dict(),
        dict(StartingPosition="TRIM_HORIZON", MaximumRecordAgeInSeconds=30),
        dict(StartingPosition="AT_TIMESTAMP"),
        dict(StartingPosition="TRIM_HORIZON",
             DestinationConfig={"OnFailure": {"Destination": "arn:aws:s3:::bucket"}}),
        dict(StartingPosition="TRIM_HORIZON",
             DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:none"}}),
        dict(StartingPosition="TRIM_HORIZON",
             FilterCriteria={"Filters": [{"Pattern": '{"data": "not a list"}'}]}),
    ]
    for kw in bad:
        r = client_error(lam.create_event_source_mapping, EventSourceArn=arn2, FunctionName=fn, **kw)
        assert r["Error"]["Code"] in ("InvalidParameterValueException", "ValidationException"), kw
    r = client_error(lam.create_event_source_mapping, EventSourceArn=arn2 + "-none",
                     FunctionName=fn, StartingPosition="LATEST")
    assert r["Error"]["Code"] == "InvalidParameterValueException"
    assert "Stream not found" in r["Error"]["Message"]
    out = json.loads(aws_cli(lam.meta.endpoint_url, "lambda", "create-event-source-mapping",
                  "--event-source-arn", arn2, "--function-name", fn,
                  "--starting-position", "TRIM_HORIZON", "--parallelization-factor", "2",
                  "--no-enabled").stdout)
    assert out["ParallelizationFactor"] == 2 and out["EventSourceArn"] == arn2
    proc = aws_cli(lam.meta.endpoint_url, "lambda", "create-event-source-mapping",
                   "--event-source-arn", arn2, "--function-name", fn,
                   "--starting-position", "LATEST", "--scaling-config", "MaximumConcurrency=2",
                   check=False)
    assert proc.returncode != 0 and "InvalidParameterValueException" in proc.stderr
    assert lam.delete_event_source_mapping(UUID=uuid)["State"] == "Deleting"
    assert lam.delete_event_source_mapping(UUID=out["UUID"])["State"] == "Deleting"


def test_every_record_in_key_order_at_parallelization_10(kin, lam, s3):
    """With ParallelizationFactor 10, batches of one shard run at once, yet
    every record comes, and a key's records come in order: its batches
    never overlap in time, and its sequence numbers only grow."""
    name, arn = stream(kin, shards=2)
    prefix = unique_name("pf")
    fn = function(lam, prefix, sleep=0.05)
    items = [(f"key{i % 40}", f"{i}") for i in range(1200)]
    seqs = put(kin, name, items)
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, BatchSize=20,
                                    StartingPosition="TRIM_HORIZON", ParallelizationFactor=10)
    wait_until(lambda: len(set(datas(s3, prefix))) == len(items), timeout=120,
               what="every record")
    got = batches(s3, prefix)
    assert sorted(set(datas(s3, prefix)), key=int) == [d for _, d in items]
    by_key = {}
    for b in got:
        keys = set()
        for r in b["event"]["Records"]:
            k = r["kinesis"]["partitionKey"]
            keys.add(k)
            by_key.setdefault(k, []).append((b["start"], b["end"], int(r["kinesis"]["sequenceNumber"])))
        assert len({r["eventID"].split(":")[0] for r in b["event"]["Records"]}) == 1
    for k, v in by_key.items():
        assert [s for _, _, s in v] == sorted(s for _, _, s in v), k
        spans = sorted({(a, e) for a, e, _ in v})
        for (a0, e0), (a1, e1) in zip(spans, spans[1:]):
            assert e0 <= a1, (k, "two batches of one key at once")
    # Batches of one shard did run at once (it is parallel at all).
    overlap = any(a[1] > b[0] and a[0] < b[1] for i, a in enumerate(
        [(b["start"], b["end"]) for b in got]) for b in
        [(b["start"], b["end"]) for b in got][i + 1:i + 20])
    assert overlap
    assert {int(s) for s in seqs} == {int(r["kinesis"]["sequenceNumber"])
                                      for b in got for r in b["event"]["Records"]}


def test_update_while_batches_run_keeps_order(kin, lam, s3):
    """UpdateEventSourceMapping while a stream's batches are with the
    function: the old poller finishes them before the new one reads, so a
    key's batches never overlap and every record comes."""
    name, arn = stream(kin)
    prefix = unique_name("update")
    fn = function(lam, prefix, sleep=0.3)
    items = [("k%d" % (i % 3), "%d" % i) for i in range(60)]
    put(kin, name, items)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, BatchSize=10,
                                           StartingPosition="TRIM_HORIZON")["UUID"]
    wait_until(lambda: batches(s3, prefix), timeout=60, what="the first batch")
    lam.update_event_source_mapping(UUID=uuid, BatchSize=7)
    wait_until(lambda: len(set(datas(s3, prefix))) == len(items), timeout=60, what="every record")
    spans = sorted((b["start"], b["end"]) for b in batches(s3, prefix))
    for (a0, e0), (a1, e1) in zip(spans, spans[1:]):
        assert e0 <= a1, "two batches of the shard at once"
    seen = [int(d) for d in datas(s3, prefix)]
    firsts = sorted(set(seen), key=seen.index)
    assert firsts == sorted(firsts)


def test_bisect_isolates_a_poison_record(srv, kin, lam, s3):
    """BisectBatchOnFunctionError splits a failing batch until the poison
    record is alone; with MaximumRetryAttempts 1 it is then dropped, and
    the OnFailure queue gets AWS's record naming it alone in
    KinesisBatchInfo; every other record is processed."""
    sqs, q, qarn = on_failure_queue(srv)
    name, arn = stream(kin)
    prefix = unique_name("bisect")
    fn = function(lam, prefix)
    items = [("k%d" % (i % 3), "poison" if i == 13 else "r%d" % i) for i in range(40)]
    seqs = put(kin, name, items)
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=fn, StartingPosition="TRIM_HORIZON", BatchSize=40,
        BisectBatchOnFunctionError=True, MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": qarn}})
    want = {d for _, d in items if d != "poison"}
    wait_until(lambda: want <= set(datas(s3, prefix)), timeout=60, what="the healthy records")
    doc = first_message(sqs, q)
    info = doc["KinesisBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == seqs[13]
    assert info["batchSize"] == 1 and info["streamArn"] == arn
    assert info["shardId"] == "shardId-000000000000"
    assert doc["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert doc["requestContext"]["functionArn"].endswith(":function:" + fn)
    assert doc["requestContext"]["approximateInvokeCount"] == 2
    assert doc["responseContext"]["functionError"] == "Unhandled" and doc["version"] == "1.0"
    time.sleep(0.5)
    assert not sqs.receive_message(QueueUrl=q).get("Messages"), "one on-failure record only"


def test_record_age_expiry(srv, kin, lam, s3):
    """Records older than MaximumRecordAgeInSeconds (60 s, which
    --time-scale 100 makes 0.6 s) are dropped unprocessed, with an
    on-failure record of condition RecordAgeExceeded; younger ones go on."""
    sqs, q, qarn = on_failure_queue(srv)
    name, arn = stream(kin)
    prefix = unique_name("age")
    fn = function(lam, prefix)
    old = put(kin, name, [("k", "old%d" % i) for i in range(5)])
    time.sleep(1.0)
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=fn, StartingPosition="TRIM_HORIZON",
        MaximumRecordAgeInSeconds=60, DestinationConfig={"OnFailure": {"Destination": qarn}})
    doc = first_message(sqs, q)
    assert doc["requestContext"]["condition"] == "RecordAgeExceeded"
    info = doc["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (old[0], old[-1], 5)
    put(kin, name, [("k", "young")])
    wait_until(lambda: "young" in datas(s3, prefix), timeout=60, what="the young record")
    assert not any(d.startswith("old") for d in datas(s3, prefix))


def test_partial_batch_response_retries_from_lowest_failure(kin, lam, s3):
    """With ReportBatchItemFailures, the checkpoint moves to before the
    lowest failed sequence number: that record and those after it come
    again, those before it do not."""
    name, arn = stream(kin)
    prefix = unique_name("partial")
    fn = function(lam, prefix)
    items = [("k", "r%d" % i) for i in range(10)]
    items[4] = ("k", "failonce-" + prefix)
    put(kin, name, items)
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, BatchSize=10,
                                    StartingPosition="TRIM_HORIZON",
                                    FunctionResponseTypes=["ReportBatchItemFailures"])
    wait_until(lambda: len(batches(s3, prefix)) >= 2, timeout=60, what="the retry")
    got = batches(s3, prefix)
    first = [base64.b64decode(r["kinesis"]["data"]).decode() for r in got[0]["event"]["Records"]]
    again = [base64.b64decode(r["kinesis"]["data"]).decode() for r in got[1]["event"]["Records"]]
    assert first == [d for _, d in items]
    assert again == [d for _, d in items[4:]]
    time.sleep(0.5)
    assert len(batches(s3, prefix)) == 2


def test_filter_criteria_on_data(kin, lam, s3):
    """FilterCriteria match a record's data parsed as JSON: records that do
    not match, and data that is not JSON, never reach the function, and
    the checkpoint moves past them."""
    name, arn = stream(kin)
    prefix = unique_name("filter")
    fn = function(lam, prefix)
    put(kin, name, [("k", json.dumps({"kind": "keep", "n": 1})), ("k", json.dumps({"kind": "drop"})),
                    ("k", "not json"), ("k", json.dumps({"kind": "keep", "n": 2}))])
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=fn, StartingPosition="TRIM_HORIZON",
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"data": {"kind": ["keep"]}})}]})
    wait_until(lambda: len(datas(s3, prefix)) >= 2, timeout=60, what="the kept records")
    time.sleep(0.5)
    assert [json.loads(d)["n"] for d in datas(s3, prefix)] == [1, 2]


def test_tumbling_window_state(kin, lam, s3):
    """With TumblingWindowInSeconds, invocations of one window carry the
    state the last one answered; a final invocation
    (isFinalInvokeForWindow) ends each window with the state of all its
    records; windows are aligned and one batch never spans two."""
    name, arn = stream(kin)
    prefix = unique_name("window")
    fn = function(lam, prefix)
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, BatchSize=3,
                                    StartingPosition="TRIM_HORIZON", TumblingWindowInSeconds=1)
    total = 0
    for burst in range(3):
        put(kin, name, [("k", "w%d-%d" % (burst, i)) for i in range(5)])
        total += 5
        time.sleep(0.6)

    def finals():
        return [b for b in batches(s3, prefix) if b["event"]["isFinalInvokeForWindow"]]
    wait_until(lambda: sum(b["event"]["state"].get("n", 0) for b in finals()) == total,
               timeout=60, what="final invocations covering every record")
    got = batches(s3, prefix)
    for b in got:
        e = b["event"]
        assert e["shardId"] == "shardId-000000000000" and e["eventSourceARN"] == arn
        assert e["isWindowTerminatedEarly"] is False
        t0 = calendar.timegm(time.strptime(e["window"]["start"], "%Y-%m-%dT%H:%M:%SZ"))
        t1 = calendar.timegm(time.strptime(e["window"]["end"], "%Y-%m-%dT%H:%M:%SZ"))
        assert t1 - t0 == 1
        for r in e["Records"]:
            assert t0 <= r["kinesis"]["approximateArrivalTimestamp"] < t1
        if e["isFinalInvokeForWindow"]:
            assert e["Records"] == []
    # Within a window, each invocation's state is what the one before it
    # answered.
    by_window = {}
    for b in got:
        by_window.setdefault(b["event"]["window"]["start"], []).append(b["event"])
    for w, events in by_window.items():
        n = 0
        for e in events:
            assert e["state"].get("n", 0) == n, w
            n += len(e["Records"])


def test_parents_before_children(kin, lam, s3):
    """After UpdateShardCount, a mapping reads a closed parent to its end
    before its children, whether it ran before the resharding or was made
    after it: each key's records come in order across the resharding."""
    name, arn = stream(kin, shards=1)
    before, after = unique_name("reshard-before"), unique_name("reshard-after")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function(lam, before),
                                    BatchSize=10, StartingPosition="TRIM_HORIZON")
    put(kin, name, [("k%d" % (i % 4), "a%03d" % i) for i in range(40)])
    kin.update_shard_count(StreamName=name, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    put(kin, name, [("k%d" % (i % 4), "b%03d" % i) for i in range(40)])
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function(lam, after),
                                    BatchSize=10, StartingPosition="TRIM_HORIZON")
    for prefix in (before, after):
        wait_until(lambda: len(set(datas(s3, prefix))) == 80, timeout=60, what="every record")
        by_key = {}
        for b in batches(s3, prefix):
            for r in b["event"]["Records"]:
                by_key.setdefault(r["kinesis"]["partitionKey"], []).append(
                    base64.b64decode(r["kinesis"]["data"]).decode())
        for k, v in by_key.items():
            assert v == sorted(v), (prefix, k)
        assert {b["event"]["Records"][0]["eventID"].split(":")[0]
                for b in batches(s3, prefix)} == {"shardId-000000000000", "shardId-000000000001",
                                                  "shardId-000000000002"}


def shard_of_key(kin, name, key):
    """The shard a partition key goes to, by putting nothing: the MD5."""
    h = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
    for sh in kin.describe_stream(StreamName=name)["StreamDescription"]["Shards"]:
        r = sh["HashKeyRange"]
        if int(r["StartingHashKey"]) <= h <= int(r["EndingHashKey"]):
            return sh["ShardId"]
    raise AssertionError(key)


def test_a_failing_batch_holds_back_its_shard_only(kin, lam, s3):
    """A poison record retried forever (MaximumRetryAttempts -1) holds back
    the records after it on its shard, and nothing else: the other shard's
    records all come, and another mapping of the same stream gets every
    record."""
    name, arn = stream(kin, shards=2)
    keys = ["key%d" % i for i in range(40)]
    poison_key = keys[0]
    poison_shard = shard_of_key(kin, name, poison_key)
    items = [(poison_key, "poison")] + [(k, "after-" + k) for k in keys[1:]]
    put(kin, name, items)
    held, other = unique_name("held"), unique_name("other")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function(lam, held),
                                    StartingPosition="TRIM_HORIZON")
    free_keys = {k for k in keys[1:] if shard_of_key(kin, name, k) != poison_shard}
    assert free_keys and len(free_keys) < len(keys) - 1
    wait_until(lambda: {"after-" + k for k in free_keys} <= set(datas(s3, held)), timeout=60,
               what="the other shard's records")
    time.sleep(1.0)  # (retries of the poison meanwhile: nothing else of its shard comes)
    assert {d for d in datas(s3, held)} == {"after-" + k for k in free_keys}
    # Another mapping of the stream, which drops the poison alone, gets
    # every other record meanwhile.
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function(lam, other),
                                    StartingPosition="TRIM_HORIZON", MaximumRetryAttempts=0,
                                    BisectBatchOnFunctionError=True)
    wait_until(lambda: {"after-" + k for k in keys[1:]} <= set(datas(s3, other)), timeout=60,
               what="every record of the mapping that drops the poison")


def test_latest_and_at_timestamp(kin, lam, s3):
    """StartingPosition LATEST reads only what comes after the mapping is
    made; AT_TIMESTAMP, what arrived at that time or later."""
    name, arn = stream(kin)
    put(kin, name, [("k", "old")])
    time.sleep(1.1)
    mark = time.time()
    time.sleep(0.1)
    put(kin, name, [("k", "middle")])
    latest, at = unique_name("latest"), unique_name("at")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function(lam, latest),
                                    StartingPosition="LATEST")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function(lam, at),
                                    StartingPosition="AT_TIMESTAMP",
                                    StartingPositionTimestamp=mark)
    put(kin, name, [("k", "new")])
    wait_until(lambda: "new" in datas(s3, latest) and "new" in datas(s3, at), timeout=60,
               what="the new record")
    assert datas(s3, latest) == ["new"]
    assert datas(s3, at) == ["middle", "new"]


def test_event_matches_aws_schema(kin, lam, s3):
    """The event is Lambda's Kinesis event, which AWS's own schema
    (@aws-lambda-powertools/parser's KinesisDataStreamSchema) accepts: ids
    "<shard>:<sequence number>", base64 data, the function's role as
    invokeIdentityArn."""
    name, arn = stream(kin)
    prefix = unique_name("schema")
    fn = function(lam, prefix)
    seq = put(kin, name, [("pk-1", json.dumps({"orderId": 42}))])[0]
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn,
                                    StartingPosition="TRIM_HORIZON")
    wait_until(lambda: batches(s3, prefix), timeout=60, what="the event")
    event = batches(s3, prefix)[0]["event"]
    rec = event["Records"][0]
    assert rec["eventID"] == "shardId-000000000000:" + seq
    assert rec["kinesis"]["sequenceNumber"] == seq and rec["kinesis"]["partitionKey"] == "pk-1"
    assert json.loads(base64.b64decode(rec["kinesis"]["data"])) == {"orderId": 42}
    assert rec["eventSourceARN"] == arn and rec["awsRegion"] == "us-east-1"
    assert rec["invokeIdentityArn"] == ROLE and rec["eventName"] == "aws:kinesis:record"
    assert abs(rec["kinesis"]["approximateArrivalTimestamp"] - time.time()) < 120
    proc = subprocess.run(["/usr/bin/node", "check_event.js", "KinesisDataStreamSchema"],
                          cwd=NODE_DIR, input=json.dumps(event), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_kill9_resumes_from_checkpoint(tmp_path):
    """Records acknowledged before a kill -9 are all readable afterwards,
    and the mapping resumes from its checkpoint: everything is delivered,
    and what was done before the crash is not all delivered again."""
    s = Server(str(tmp_path / "data"), ["--time-scale", "100"]).start()
    try:
        s3 = s3_client(s.endpoint)
        s3.create_bucket(Bucket=BUCKET)
        kin = client("kinesis", s.endpoint)
        lam = lambda_client(s.endpoint)
        name, arn = stream(kin)
        prefix = unique_name("crash")
        fn = function(lam, prefix)
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, BatchSize=10,
                                        StartingPosition="TRIM_HORIZON")
        first = put(kin, name, [("k", "a%03d" % i) for i in range(100)])
        wait_until(lambda: len(set(datas(s3, prefix))) == 100, timeout=60, what="the first records")
        time.sleep(0.3)  # (the last checkpoint is written after its batch)
        done_before = len(datas(s3, prefix))
        s.kill9()
        s.start(port=s.port)
        kin = client("kinesis", s.endpoint)
        it = kin.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        got = kin.get_records(ShardIterator=it, Limit=1000)["Records"]
        assert [r["SequenceNumber"] for r in got] == first
        put(kin, name, [("k", "b%03d" % i) for i in range(50)])
        wait_until(lambda: {"b%03d" % i for i in range(50)} <= set(datas(s3, prefix)),
                   timeout=60, what="the records after the restart")
        again = len(datas(s3, prefix)) - done_before - 50
        assert again < 100, "the mapping started over instead of at its checkpoint"
    finally:
        s.stop()
