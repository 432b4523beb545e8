"""DynamoDB Streams through boto3 and the aws CLI: every write's stream
record (INSERT, MODIFY, REMOVE, none for a write that changes nothing)
with the images its StreamViewType asks for; the DynamoDBStreams API
(ListStreams, DescribeStream, every iterator type, GetRecords, a disabled
stream's closed shard); event source mappings on a table's stream
delivering the records in order with the DynamoDB event AWS's own schema
accepts, filters on the record, and OnFailure records with
DDBStreamBatchInfo; and a kill -9 after which every acknowledged write is
in the table and in its stream.

The test functions record what they got as S3 objects of this server
(bucket "dsesm-seen", a key per invocation), which the tests read back."""

import json
import os
import subprocess
import time

import pytest

from conftest import (ROLE, ROOT, Server, aws_cli, client, client_error, lambda_client, py_zip,
                      s3_client, unique_name, wait_until)

NODE_DIR = os.path.join(ROOT, "tests", "node")
BUCKET = "dsesm-seen"

HANDLER = """
import http.client, json, os, time, urllib.parse
URL = urllib.parse.urlparse(os.environ["AWS_ENDPOINT_URL"])
PREFIX = os.environ["PREFIX"]

def handler(event, context):
    for r in event["Records"]:
        if r["dynamodb"].get("NewImage", {}).get("poison"):
            raise RuntimeError("poison")
    c = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)
    c.request("PUT", "/dsesm-seen/%s/batch-%.6f-%s" % (PREFIX, time.time(), context.aws_request_id),
              body=json.dumps(event).encode())
    assert c.getresponse().status == 200
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("dstreams") / "data"), ["--time-scale", "100"]).start()
    s3_client(s.endpoint).create_bucket(Bucket=BUCKET)
    yield s
    assert s.stop() == 0, s.logs()


@pytest.fixture(scope="module")
def ddb(srv):
    return client("dynamodb", srv.endpoint)


@pytest.fixture(scope="module")
def streams(srv):
    return client("dynamodbstreams", srv.endpoint)


def table(ddb, view="NEW_AND_OLD_IMAGES"):
    """A table keyed by pk (S) and sk (N) with a stream of view: its name
    and the stream's ARN."""
    name = unique_name("stbl")
    out = ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
    return name, out["TableDescription"]["LatestStreamArn"]


def read_all(streams, arn, kind="TRIM_HORIZON", **kw):
    """Every record GetRecords gives from an iterator of kind, following
    NextShardIterator until a read comes back empty."""
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=kind,
                                    **kw)["ShardIterator"]
    out = []
    while it:
        page = streams.get_records(ShardIterator=it, Limit=1000)
        out += page["Records"]
        if not page["Records"]:
            break
        it = page.get("NextShardIterator")
    return out


def writes(ddb, name):
    """Puts, a put that changes nothing, an update, an update that changes
    nothing, a delete and a delete of no item."""
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=name, Item={**key, "v": {"N": "1"}, "s": {"SS": ["x", "y"]}})
    ddb.put_item(TableName=name, Item={**key, "v": {"N": "1.0"}, "s": {"SS": ["y", "x"]}})
    ddb.update_item(TableName=name, Key=key, UpdateExpression="SET v = v + :one",
                    ExpressionAttributeValues={":one": {"N": "1"}})
    ddb.update_item(TableName=name, Key=key, UpdateExpression="SET v = :two",
                    ExpressionAttributeValues={":two": {"N": "2"}})
    ddb.delete_item(TableName=name, Key=key)
    ddb.delete_item(TableName=name, Key=key)


@pytest.mark.parametrize("view", ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"])
def test_records_per_view_type(ddb, streams, view):
    """Each change is one record, in order, with Keys always and the
    images the view type asks for; writes that change nothing (the same
    item again, numbers and sets equal by value) make none."""
    name, arn = table(ddb, view)
    writes(ddb, name)
    recs = read_all(streams, arn)
    assert [r["eventName"] for r in recs] == ["INSERT", "MODIFY", "REMOVE"]
    keys = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    first = {**keys, "v": {"N": "1"}, "s": {"SS": ["x", "y"]}}
    second = {**keys, "v": {"N": "2"}, "s": {"SS": ["x", "y"]}}
    new = [first, second, None]
    old = [None, first, second]
    seqs = []
    for i, r in enumerate(recs):
        d = r["dynamodb"]
        assert d["Keys"] == keys and d["StreamViewType"] == view
        assert r["eventSource"] == "aws:dynamodb" and r["eventVersion"] == "1.1"
        assert r["awsRegion"] == "us-east-1" and len(r["eventID"]) == 32
        assert d["SizeBytes"] > 0
        assert abs(d["ApproximateCreationDateTime"].timestamp() - time.time()) < 120
        want_new = new[i] if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") else None
        want_old = old[i] if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") else None
        if want_new and "s" in d.get("NewImage", {}):
            d["NewImage"]["s"]["SS"].sort()
        if want_old and "s" in d.get("OldImage", {}):
            d["OldImage"]["s"]["SS"].sort()
        assert d.get("NewImage") == want_new
        assert d.get("OldImage") == want_old
        seqs.append(d["SequenceNumber"])
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert all(int(a) < int(b) for a, b in zip(seqs, seqs[1:]))


def test_stream_api(ddb, streams):
    """ListStreams (by table, and paged), DescribeStream (ENABLED, the
    table's key schema, one open shard), each iterator type, and after
    UpdateTable disables the stream: DISABLED, the shard closed at its
    last record, and GetRecords at its end gives no next iterator. A
    second enabling makes a new stream. Bad iterators and unknown streams
    get DynamoDB Streams' errors."""
    name, arn = table(ddb, "KEYS_ONLY")
    listed = streams.list_streams(TableName=name)["Streams"]
    assert listed == [{"StreamArn": arn, "TableName": name,
                       "StreamLabel": arn.split("/stream/")[1]}]
    assert ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"] == arn
    d = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert d["StreamStatus"] == "ENABLED" and d["StreamViewType"] == "KEYS_ONLY"
    assert d["TableName"] == name and d["KeySchema"][0]["AttributeName"] == "pk"
    assert len(d["Shards"]) == 1 and "EndingSequenceNumber" not in d["Shards"][0]["SequenceNumberRange"]
    shard = d["Shards"][0]["ShardId"]
    assert shard.startswith("shardId-")
    for i in range(5):
        ddb.put_item(TableName=name, Item={"pk": {"S": "k%d" % i}, "sk": {"N": str(i)}})
    recs = read_all(streams, arn)
    seqs = [r["dynamodb"]["SequenceNumber"] for r in recs]
    assert len(seqs) == 5
    assert [r["dynamodb"]["SequenceNumber"] for r in
            read_all(streams, arn, "AT_SEQUENCE_NUMBER", SequenceNumber=seqs[2])] == seqs[2:]
    assert [r["dynamodb"]["SequenceNumber"] for r in
            read_all(streams, arn, "AFTER_SEQUENCE_NUMBER", SequenceNumber=seqs[2])] == seqs[3:]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                    ShardIteratorType="LATEST")["ShardIterator"]
    page = streams.get_records(ShardIterator=it)
    assert page["Records"] == []
    ddb.put_item(TableName=name, Item={"pk": {"S": "late"}, "sk": {"N": "9"}})
    page = streams.get_records(ShardIterator=page["NextShardIterator"])
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in page["Records"]] == ["late"]
    # Limit pages.
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    page = streams.get_records(ShardIterator=it, Limit=2)
    assert len(page["Records"]) == 2
    page = streams.get_records(ShardIterator=page["NextShardIterator"], Limit=1000)
    assert len(page["Records"]) == 4

    ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
    d = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert d["StreamStatus"] == "DISABLED"
    rng = d["Shards"][0]["SequenceNumberRange"]
    assert rng["EndingSequenceNumber"] == page["Records"][-1]["dynamodb"]["SequenceNumber"]
    ddb.put_item(TableName=name, Item={"pk": {"S": "after"}, "sk": {"N": "1"}})
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    page = streams.get_records(ShardIterator=it)
    assert len(page["Records"]) == 6 and "NextShardIterator" not in page

    again = ddb.update_table(TableName=name, StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})["TableDescription"]["LatestStreamArn"]
    assert again != arn
    assert {s["StreamArn"] for s in streams.list_streams(TableName=name)["Streams"]} == {arn, again}
    ddb.put_item(TableName=name, Item={"pk": {"S": "new"}, "sk": {"N": "1"}})
    assert [r["dynamodb"]["NewImage"]["pk"]["S"] for r in read_all(streams, again)] == ["new"]

    gone = arn.replace(name, name + "-none")
    e = client_error(streams.describe_stream, StreamArn=gone)
    assert e["Error"]["Code"] == "ResourceNotFoundException"
    e = client_error(streams.get_records, ShardIterator="bm90IGFuIGl0ZXJhdG9y")
    assert e["Error"]["Code"] == "ValidationException"
    e = client_error(streams.get_shard_iterator, StreamArn=again, ShardId="shardId-00000000000000000000-00000000",
                     ShardIteratorType="TRIM_HORIZON")
    assert e["Error"]["Code"] == "ResourceNotFoundException"
    e = client_error(streams.get_shard_iterator, StreamArn=arn, ShardId=shard,
                     ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber="1" + "9" * 20)
    assert e["Error"]["Code"] == "ValidationException"


def test_stream_records_with_the_aws_cli(srv, ddb):
    """The aws CLI reads a stream: list-streams, then get-shard-iterator
    and get-records."""
    name, arn = table(ddb, "NEW_IMAGE")
    ddb.put_item(TableName=name, Item={"pk": {"S": "cli"}, "sk": {"N": "7"}})
    out = json.loads(aws_cli(srv.endpoint, "dynamodbstreams", "list-streams", "--table-name",
                             name).stdout)
    assert out["Streams"][0]["StreamArn"] == arn
    d = json.loads(aws_cli(srv.endpoint, "dynamodbstreams", "describe-stream", "--stream-arn",
                           arn).stdout)
    shard = d["StreamDescription"]["Shards"][0]["ShardId"]
    it = json.loads(aws_cli(srv.endpoint, "dynamodbstreams", "get-shard-iterator",
                            "--stream-arn", arn, "--shard-id", shard,
                            "--shard-iterator-type", "TRIM_HORIZON").stdout)["ShardIterator"]
    recs = json.loads(aws_cli(srv.endpoint, "dynamodbstreams", "get-records", "--shard-iterator",
                              it).stdout)["Records"]
    assert recs[0]["eventName"] == "INSERT"
    assert recs[0]["dynamodb"]["NewImage"] == {"pk": {"S": "cli"}, "sk": {"N": "7"}}


# ---- mappings -------------------------------------------------------------


@pytest.fixture(scope="module")
def lam(srv):
    return lambda_client(srv.endpoint)


@pytest.fixture(scope="module")
def s3(srv):
    return s3_client(srv.endpoint)


def function(lam, prefix):
    name = unique_name("dsfn")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": py_zip(HANDLER)}, Timeout=30,
                        Environment={"Variables": {"PREFIX": prefix}})
    return name


def events(s3, prefix):
    """The events the function recorded under prefix, in the order it ran."""
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET,
                                                              Prefix=prefix + "/batch-"):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return [json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in sorted(keys)]


def records(s3, prefix):
    return [r for e in events(s3, prefix) for r in e["Records"]]


def test_mapping_delivers_changes_in_order(ddb, lam, s3):
    """A mapping on a table's stream delivers every change in order, the
    DynamoDB event as AWS sends it (AWS's own schema,
    @aws-lambda-powertools/parser's DynamoDBStreamSchema, accepts it), with
    eventSourceARN the stream's; AT_TIMESTAMP is refused for DynamoDB."""
    name, arn = table(ddb)
    prefix = unique_name("order")
    fn = function(lam, prefix)
    e = client_error(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=fn,
                     StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=time.time())
    assert e["Error"]["Code"] == "InvalidParameterValueException"
    m = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, BatchSize=7,
                                        StartingPosition="TRIM_HORIZON")
    assert m["EventSourceArn"] == arn and m["BatchSize"] == 7
    for i in range(30):
        ddb.put_item(TableName=name, Item={"pk": {"S": "p%d" % (i % 3)}, "sk": {"N": str(i)},
                                           "n": {"N": "0"}})
    for i in range(10):
        ddb.update_item(TableName=name, Key={"pk": {"S": "p%d" % (i % 3)}, "sk": {"N": str(i)}},
                        UpdateExpression="SET n = :n", ExpressionAttributeValues={
                            ":n": {"N": "1"}})
    wait_until(lambda: len(records(s3, prefix)) >= 40, timeout=60, what="40 records")
    got = records(s3, prefix)
    assert len(got) == 40
    assert [r["eventName"] for r in got] == ["INSERT"] * 30 + ["MODIFY"] * 10
    assert [int(r["dynamodb"]["Keys"]["sk"]["N"]) for r in got] == list(range(30)) + list(range(10))
    seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in got]
    assert seqs == sorted(seqs)
    assert all(len(e["Records"]) <= 7 for e in events(s3, prefix))
    assert all(r["eventSourceARN"] == arn for r in got)
    assert got[-1]["dynamodb"]["OldImage"]["n"] == {"N": "0"}
    assert got[-1]["dynamodb"]["NewImage"]["n"] == {"N": "1"}
    proc = subprocess.run(["/usr/bin/node", "check_event.js", "DynamoDBStreamSchema"],
                          cwd=NODE_DIR, input=json.dumps(events(s3, prefix)[0]),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_time_to_live_deletion_reaches_the_function(ddb, lam, s3):
    """An item Time to Live deletes reaches a mapping's function as a
    REMOVE whose userIdentity names DynamoDB (type Service), in the shape
    AWS's own schema accepts."""
    name, arn = table(ddb, "NEW_AND_OLD_IMAGES")
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "exp"})
    prefix = unique_name("ttl")
    fn = function(lam, prefix)
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn,
                                    StartingPosition="TRIM_HORIZON")
    ddb.put_item(TableName=name, Item={"pk": {"S": "old"}, "sk": {"N": "1"},
                                       "exp": {"N": str(int(time.time()) - 10)}})
    wait_until(lambda: len(records(s3, prefix)) >= 2, timeout=60, what="the INSERT and REMOVE")
    got = records(s3, prefix)
    assert [r["eventName"] for r in got] == ["INSERT", "REMOVE"]
    assert "userIdentity" not in got[0]
    assert got[1]["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert got[1]["dynamodb"]["OldImage"]["pk"] == {"S": "old"}
    event = [e for e in events(s3, prefix) if any(r["eventName"] == "REMOVE" for r in e["Records"])][0]
    proc = subprocess.run(["/usr/bin/node", "check_event.js", "DynamoDBStreamSchema"],
                          cwd=NODE_DIR, input=json.dumps(event), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_mapping_filters_and_on_failure(srv, ddb, lam, s3):
    """FilterCriteria match the record (eventName, dynamodb.NewImage); a
    record the function keeps failing on goes, with bisection, alone to
    the OnFailure queue as AWS's record with DDBStreamBatchInfo."""
    sqs = client("sqs", srv.endpoint)
    q = sqs.create_queue(QueueName=unique_name("dsfail"))["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name, arn = table(ddb, "NEW_IMAGE")
    prefix = unique_name("filt")
    fn = function(lam, prefix)
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=fn, StartingPosition="TRIM_HORIZON", BatchSize=10,
        BisectBatchOnFunctionError=True, MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": qarn}},
        FilterCriteria={"Filters": [{"Pattern": json.dumps({
            "eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["keep"]}}}})}]})
    items = []
    for i in range(6):
        item = {"pk": {"S": "f"}, "sk": {"N": str(i)}, "kind": {"S": "keep" if i % 2 else "drop"}}
        if i == 3:
            item["poison"] = {"BOOL": True}
        items.append(item)
        ddb.put_item(TableName=name, Item=item)
    ddb.delete_item(TableName=name, Key={"pk": {"S": "f"}, "sk": {"N": "1"}})
    msgs = []
    wait_until(lambda: msgs.extend(sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1)
                                   .get("Messages", [])) or msgs, timeout=60,
               what="the on-failure record")
    rec = json.loads(msgs[0]["Body"])
    info = rec["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["streamArn"] == arn
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert rec["requestContext"]["condition"] == "RetryAttemptsExhausted"
    wait_until(lambda: len(records(s3, prefix)) >= 2, timeout=60, what="the kept records")
    got = records(s3, prefix)
    assert sorted(int(r["dynamodb"]["Keys"]["sk"]["N"]) for r in got) == [1, 5]
    assert all(r["eventName"] == "INSERT" for r in got)


def test_kill9_keeps_writes_and_their_records(tmp_path):
    """Writes acknowledged before a kill -9 are in the table and in its
    stream afterwards, one record each, in order."""
    s = Server(str(tmp_path / "data")).start()
    try:
        ddb = client("dynamodb", s.endpoint)
        name, arn = table(ddb, "NEW_IMAGE")
        acked = []
        for i in range(200):
            ddb.put_item(TableName=name, Item={"pk": {"S": "c"}, "sk": {"N": str(i)}})
            acked.append(i)
        s.kill9()
        s.start(port=s.port)
        ddb = client("dynamodb", s.endpoint)
        streams = client("dynamodbstreams", s.endpoint)
        items = ddb.query(TableName=name, KeyConditionExpression="pk = :c",
                          ExpressionAttributeValues={":c": {"S": "c"}})["Items"]
        assert sorted(int(i["sk"]["N"]) for i in items) == acked
        recs = read_all(streams, arn)
        assert [int(r["dynamodb"]["Keys"]["sk"]["N"]) for r in recs] == acked
    finally:
        s.stop()
