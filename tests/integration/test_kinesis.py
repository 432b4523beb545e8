"""Kinesis Data Streams through boto3 and the aws CLI from Debian (JSON
1.1): streams and their shards' hash key ranges, records placed by the
MD5 of their partition key (or their ExplicitHashKey), every shard
iterator type, records read back in order, AWS's errors, and a kill -9
that loses no acknowledged record. Each test states the AWS behaviour it
checks."""

import base64
import hashlib
import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import aws_cli, client, client_error, unique_name, wait_until

MAX = 2**128 - 1


@pytest.fixture
def kinesis(server):
    # Retried as AWS's SDKs retry by default (botocore's standard mode):
    # provisioned shards refuse more than five reads a second.
    return client("kinesis", server.endpoint, retries={"mode": "standard", "max_attempts": 10})


def new_stream(kinesis, shards=2):
    name = unique_name("stream")
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name)
    return name


def shards_of(kinesis, name):
    return kinesis.describe_stream(StreamName=name)["StreamDescription"]["Shards"]


def shard_of_hash(shards, h):
    for s in shards:
        r = s["HashKeyRange"]
        if int(r["StartingHashKey"]) <= h <= int(r["EndingHashKey"]):
            return s["ShardId"]
    raise AssertionError(f"no shard holds {h}")


def read_all(kinesis, name, shard_id, kind="TRIM_HORIZON", **kw):
    it = kinesis.get_shard_iterator(StreamName=name, ShardId=shard_id, ShardIteratorType=kind,
                                    **kw)["ShardIterator"]
    out = []
    while True:
        r = kinesis.get_records(ShardIterator=it, Limit=1000)
        out += r["Records"]
        it = r["NextShardIterator"]
        if not r["Records"]:
            return out, it


def test_shards_cover_the_hash_key_space(kinesis):
    """CreateStream splits 0..2^128-1 evenly into ShardCount contiguous
    ranges (AWS's published values for 2 and 4 shards), with shard ids
    shardId-000000000000 on; DescribeStream, DescribeStreamSummary,
    ListShards (pages) and ListStreams agree; a stream name used twice is
    ResourceInUseException; DeleteStream removes it."""
    for n in (1, 2, 3, 4, 7):
        name = new_stream(kinesis, n)
        shards = shards_of(kinesis, name)
        assert [s["ShardId"] for s in shards] == [f"shardId-{i:012d}" for i in range(n)]
        starts = [int(s["HashKeyRange"]["StartingHashKey"]) for s in shards]
        ends = [int(s["HashKeyRange"]["EndingHashKey"]) for s in shards]
        assert starts[0] == 0 and ends[-1] == MAX
        assert all(ends[i] + 1 == starts[i + 1] for i in range(n - 1))
        assert starts == [i * 2**128 // n for i in range(n)]
        if n == 2:
            assert ends[0] == 170141183460469231731687303715884105727
        if n == 4:
            assert ends[:3] == [85070591730234615865843651857942052863,
                                170141183460469231731687303715884105727,
                                255211775190703847597530955573826158591]
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 7 and summary["StreamStatus"] == "ACTIVE"
    assert summary["StreamARN"] == f"arn:aws:kinesis:us-east-1:000000000000:stream/{name}"
    assert summary["RetentionPeriodHours"] == 24
    page = kinesis.list_shards(StreamName=name, MaxResults=3)
    got = [s["ShardId"] for s in page["Shards"]]
    while "NextToken" in page:
        page = kinesis.list_shards(NextToken=page["NextToken"], MaxResults=3)
        got += [s["ShardId"] for s in page["Shards"]]
    assert got == [f"shardId-{i:012d}" for i in range(7)]
    assert name in kinesis.list_streams(Limit=1000)["StreamNames"]
    r = client_error(kinesis.create_stream, StreamName=name, ShardCount=1)
    assert r["Error"]["Code"] == "ResourceInUseException"
    kinesis.delete_stream(StreamName=name)
    r = client_error(kinesis.describe_stream, StreamName=name)
    assert r["Error"]["Code"] == "ResourceNotFoundException"
    od = unique_name("ondemand")
    kinesis.create_stream(StreamName=od, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert kinesis.describe_stream_summary(StreamName=od)["StreamDescriptionSummary"][
        "StreamModeDetails"]["StreamMode"] == "ON_DEMAND"


def test_records_land_on_their_md5_shard_in_order(kinesis):
    """PutRecord and PutRecords place each record on the shard whose range
    holds the MD5 of its partition key (or its ExplicitHashKey); a shard's
    sequence numbers grow; GetRecords returns each shard's records in the
    order they were put, with their data, keys and arrival times."""
    name = new_stream(kinesis, 4)
    shards = shards_of(kinesis, name)
    expect = {s["ShardId"]: [] for s in shards}
    before = time.time()
    for i in range(20):
        key = f"key-{i}"
        data = f"record {i}".encode()
        r = kinesis.put_record(StreamName=name, Data=data, PartitionKey=key)
        h = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
        assert r["ShardId"] == shard_of_hash(shards, h)
        expect[r["ShardId"]].append((data, key, r["SequenceNumber"]))
    recs = [{"Data": f"batch {i}".encode(), "PartitionKey": f"b{i}"} for i in range(30)]
    recs.append({"Data": b"explicit", "PartitionKey": "any", "ExplicitHashKey": str(MAX)})
    r = kinesis.put_records(StreamName=name, Records=recs)
    assert r["FailedRecordCount"] == 0 and len(r["Records"]) == 31
    assert r["Records"][-1]["ShardId"] == shards[-1]["ShardId"]
    for rec, res in zip(recs, r["Records"]):
        expect[res["ShardId"]].append((rec["Data"], rec["PartitionKey"], res["SequenceNumber"]))
    for shard_id, want in expect.items():
        got, _ = read_all(kinesis, name, shard_id)
        assert [(g["Data"], g["PartitionKey"], g["SequenceNumber"]) for g in got] == want
        seqs = [int(g["SequenceNumber"]) for g in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        for g in got:
            assert before - 1 <= g["ApproximateArrivalTimestamp"].timestamp() <= time.time() + 1
    r = client_error(kinesis.put_record, StreamName=name, Data=b"x", PartitionKey="k",
                     ExplicitHashKey=str(MAX + 1))
    assert r["Error"]["Code"] in ("InvalidArgumentException", "ValidationException")
    # PutRecords of the usual shape takes a fast path; keys with escapes or
    # beyond ASCII take the general one: both place and answer alike.
    odd = ['quo"te', "back\\slash", "ключ", "tab\tkey", "plain"]
    r = kinesis.put_records(StreamName=name, Records=[{"Data": k.encode(), "PartitionKey": k}
                                                      for k in odd])
    assert r["FailedRecordCount"] == 0
    for k, res in zip(odd, r["Records"]):
        h = int.from_bytes(hashlib.md5(k.encode()).digest(), "big")
        assert res["ShardId"] == shard_of_hash(shards, h), k
    # Bodies botocore would not send, raw: each gets AWS's error.
    big = base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()
    for records, code in [([{"Data": "eA==", "PartitionKey": "k" * 257}], "ValidationException"),
                          ([], "ValidationException"),
                          ([{"Data": big, "PartitionKey": "k"}], "ValidationException"),
                          ([{"Data": "eA", "PartitionKey": "k"}], "SerializationException"),
                          ([{"PartitionKey": "k"}], "ValidationException")]:
        status, body = raw_put_records(kinesis, {"StreamName": name, "Records": records})
        assert status == 400 and json.loads(body)["__type"] == code, (records, body)


def raw_put_records(kinesis, doc):
    """A PutRecords of doc as JSON text, unsigned (the server's dev auth):
    its status and body."""
    req = urllib.request.Request(
        kinesis.meta.endpoint_url + "/", data=json.dumps(doc).encode(), method="POST",
        headers={"Content-Type": "application/x-amz-json-1.1",
                 "X-Amz-Target": "Kinesis_20131202.PutRecords"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_every_iterator_type(kinesis):
    """TRIM_HORIZON reads from the oldest record, LATEST only what comes
    after it, AT_ and AFTER_SEQUENCE_NUMBER from or after a record,
    AT_TIMESTAMP from the first record that arrived then or later; the next
    iterator goes on where the last read stopped; a bad sequence number or
    iterator is InvalidArgumentException."""
    name = new_stream(kinesis, 1)
    shard = shards_of(kinesis, name)[0]["ShardId"]
    seqs = [kinesis.put_record(StreamName=name, Data=f"a{i}".encode(), PartitionKey="p")[
        "SequenceNumber"] for i in range(3)]
    latest = kinesis.get_shard_iterator(StreamName=name, ShardId=shard,
                                        ShardIteratorType="LATEST")["ShardIterator"]
    # (botocore 1.29 sends the Timestamp in whole seconds: the "b" records
    # come in a later second than the "a" ones.)
    start = int(time.time())
    wait_until(lambda: int(time.time()) > start, timeout=5, what="the next second")
    mark = int(time.time())
    seqs += [kinesis.put_record(StreamName=name, Data=f"b{i}".encode(), PartitionKey="p")[
        "SequenceNumber"] for i in range(2)]
    data = lambda recs: [r["Data"].decode() for r in recs]  # noqa: E731
    got, _ = read_all(kinesis, name, shard)
    assert data(got) == ["a0", "a1", "a2", "b0", "b1"]
    assert data(kinesis.get_records(ShardIterator=latest)["Records"]) == ["b0", "b1"]
    got, _ = read_all(kinesis, name, shard, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[1])
    assert data(got) == ["a1", "a2", "b0", "b1"]
    got, _ = read_all(kinesis, name, shard, "AFTER_SEQUENCE_NUMBER",
                      StartingSequenceNumber=seqs[1])
    assert data(got) == ["a2", "b0", "b1"]
    got, _ = read_all(kinesis, name, shard, "AT_TIMESTAMP", Timestamp=mark)
    assert data(got) == ["b0", "b1"]
    # Limit, and the next iterator.
    it = kinesis.get_shard_iterator(StreamName=name, ShardId=shard,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    r = kinesis.get_records(ShardIterator=it, Limit=2)
    assert data(r["Records"]) == ["a0", "a1"] and r["MillisBehindLatest"] >= 0
    r = kinesis.get_records(ShardIterator=r["NextShardIterator"], Limit=10)
    assert data(r["Records"]) == ["a2", "b0", "b1"] and r["MillisBehindLatest"] == 0
    kinesis.put_record(StreamName=name, Data=b"c0", PartitionKey="p")
    assert data(kinesis.get_records(ShardIterator=r["NextShardIterator"])["Records"]) == ["c0"]
    r = client_error(kinesis.get_shard_iterator, StreamName=name, ShardId=shard,
                     ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber="123")
    assert r["Error"]["Code"] == "InvalidArgumentException"
    r = client_error(kinesis.get_shard_iterator, StreamName=name, ShardId="shardId-000000000009",
                     ShardIteratorType="LATEST")
    assert r["Error"]["Code"] == "ResourceNotFoundException"
    r = client_error(kinesis.get_records, ShardIterator="bm90IGFuIGl0ZXJhdG9y")
    assert r["Error"]["Code"] == "InvalidArgumentException"
    kinesis.delete_stream(StreamName=name)
    r = client_error(kinesis.get_records, ShardIterator=it)
    assert r["Error"]["Code"] == "ResourceNotFoundException"


def test_cli_puts_and_reads(server):
    """The aws CLI 2.9 (its blob arguments base64 by default) puts and
    reads records."""
    name = unique_name("clistream")
    aws_cli(server.endpoint, "kinesis", "create-stream", "--stream-name", name,
            "--shard-count", "1")
    put = json.loads(aws_cli(server.endpoint, "kinesis", "put-record", "--stream-name", name,
                             "--partition-key", "k",
                             "--data", base64.b64encode(b"from the cli").decode()).stdout)
    assert put["ShardId"] == "shardId-000000000000"
    it = json.loads(aws_cli(server.endpoint, "kinesis", "get-shard-iterator", "--stream-name",
                            name, "--shard-id", put["ShardId"], "--shard-iterator-type",
                            "TRIM_HORIZON").stdout)["ShardIterator"]
    got = json.loads(aws_cli(server.endpoint, "kinesis", "get-records", "--shard-iterator",
                             it).stdout)
    assert base64.b64decode(got["Records"][0]["Data"]) == b"from the cli"
    assert got["Records"][0]["SequenceNumber"] == put["SequenceNumber"]


def test_kill9_keeps_acknowledged_records(fresh_server):
    """Acknowledged means durable: records whose PutRecords answered
    before a kill -9 are all there after the restart, in order."""
    srv = fresh_server().start()
    k = client("kinesis", srv.endpoint)
    # (On demand: a provisioned shard would refuse this rate.)
    k.create_stream(StreamName="crash", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def writer(n):
        c = client("kinesis", srv.endpoint)
        i = 0
        while not stop.is_set():
            recs = [{"Data": f"w{n}-{i}-{j}".encode(), "PartitionKey": f"w{n}-{j}"}
                    for j in range(50)]
            try:
                r = c.put_records(StreamName="crash", Records=recs)
            except Exception:  # noqa: BLE001 (the server is gone)
                return
            with lock:
                acked.extend((rec["Data"], res["SequenceNumber"])
                             for rec, res in zip(recs, r["Records"]))
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acked) >= 2000, timeout=60, what="2,000 acknowledged records")
    srv.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    srv.start()
    k = client("kinesis", srv.endpoint)
    got = {}
    for s in shards_of(k, "crash"):
        recs, _ = read_all(k, "crash", s["ShardId"])
        got.update((r["SequenceNumber"], r["Data"]) for r in recs)
    missing = [a for a in acked if got.get(a[1]) != a[0]]
    assert not missing, f"{len(missing)} acknowledged records lost"


def test_retention_and_tags(kinesis):
    """Increase/DecreaseStreamRetentionPeriod within 24..8760 hours, each
    refusing the other's direction; AddTagsToStream, ListTagsForStream in
    key order with pages, RemoveTagsFromStream."""
    name = new_stream(kinesis, 1)
    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
    summary = lambda: kinesis.describe_stream_summary(StreamName=name)[  # noqa: E731
        "StreamDescriptionSummary"]
    assert summary()["RetentionPeriodHours"] == 48
    for call, hours in ((kinesis.increase_stream_retention_period, 30),
                        (kinesis.decrease_stream_retention_period, 72),
                        (kinesis.decrease_stream_retention_period, 23),
                        (kinesis.increase_stream_retention_period, 8761)):
        r = client_error(call, StreamName=name, RetentionPeriodHours=hours)
        assert r["Error"]["Code"] == "InvalidArgumentException", hours
    kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=24)
    assert summary()["RetentionPeriodHours"] == 24
    kinesis.add_tags_to_stream(StreamName=name, Tags={"b": "2", "a": "1", "c": "3"})
    page = kinesis.list_tags_for_stream(StreamName=name, Limit=2)
    assert page["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert page["HasMoreTags"] is True
    page = kinesis.list_tags_for_stream(StreamName=name, ExclusiveStartTagKey="b")
    assert page["Tags"] == [{"Key": "c", "Value": "3"}] and page["HasMoreTags"] is False
    kinesis.remove_tags_from_stream(StreamName=name, TagKeys=["a", "c"])
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == [{"Key": "b", "Value": "2"}]
    r = client_error(kinesis.add_tags_to_stream, StreamName=name + "-none", Tags={"x": "y"})
    assert r["Error"]["Code"] == "ResourceNotFoundException"


def js_calls(server, calls):
    """Runs calls through @aws-sdk/client-kinesis (over HTTP/1.1: the
    client's default HTTP/2 is not served); their results."""
    import os
    import subprocess
    from conftest import ROOT
    proc = subprocess.run(["/usr/bin/node", "sdk_calls.js", "@aws-sdk/client-kinesis",
                           server.endpoint], input=json.dumps(calls), capture_output=True,
                          text=True, cwd=os.path.join(ROOT, "tests", "node"), timeout=120,
                          env=dict(os.environ, SDK_HTTP1="1"))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_javascript_sdk_round_trip(server, kinesis):
    """The current AWS SDK for JavaScript v3 (@aws-sdk/client-kinesis) puts
    and reads records through every data-plane call."""
    name = new_stream(kinesis, 2)
    b64 = lambda b: {"$base64": base64.b64encode(b).decode()}  # noqa: E731
    res = js_calls(server, [
        {"command": "PutRecord", "input": {"StreamName": name, "Data": b64(b"js one"),
                                           "PartitionKey": "k1"}},
        {"command": "PutRecords", "input": {"StreamName": name, "Records": [
            {"Data": b64(b"js two"), "PartitionKey": "k1"},
            {"Data": b64(b"js three"), "PartitionKey": "k1"}]}},
        {"command": "ListShards", "input": {"StreamName": name}},
        {"command": "DescribeStreamSummary", "input": {"StreamName": name}},
        # Current SDKs may name the stream by its ARN alone.
        {"command": "PutRecord", "input": {
            "StreamARN": f"arn:aws:kinesis:us-east-1:000000000000:stream/{name}",
            "Data": b64(b"by arn"), "PartitionKey": "k2"}},
    ])
    assert all("ok" in r for r in res), res
    shard = res[0]["ok"]["ShardId"]
    assert [r["ShardId"] for r in res[1]["ok"]["Records"]] == [shard, shard]
    assert len(res[2]["ok"]["Shards"]) == 2
    it = js_calls(server, [{"command": "GetShardIterator", "input": {
        "StreamName": name, "ShardId": shard, "ShardIteratorType": "AT_SEQUENCE_NUMBER",
        "StartingSequenceNumber": res[0]["ok"]["SequenceNumber"]}}])[0]["ok"]["ShardIterator"]
    out = js_calls(server, [{"command": "GetRecords", "input": {"ShardIterator": it}},
                            {"command": "GetRecords", "input": {"ShardIterator": "garbage"}}])
    datas = [base64.b64decode(r["Data"]["$base64"]) for r in out[0]["ok"]["Records"]]
    assert datas == [b"js one", b"js two", b"js three"]
    assert out[1]["error"]["name"] == "InvalidArgumentException"


def test_update_shard_count_closes_parents(kinesis):
    """UpdateShardCount (UNIFORM_SCALING): the open shards close at their
    last sequence number and keep their records; the new shards split the
    key space evenly and name their parents; new records go to the new
    shards only; a closed shard read to its end gives no next iterator and
    lists its children; a target over double the open shards is refused."""
    name = new_stream(kinesis, 2)
    before = {}
    for i in range(20):
        r = kinesis.put_record(StreamName=name, Data=f"old{i}".encode(), PartitionKey=f"k{i}")
        before.setdefault(r["ShardId"], []).append(f"old{i}")
    out = kinesis.update_shard_count(StreamName=name, TargetShardCount=3,
                                     ScalingType="UNIFORM_SCALING")
    assert (out["CurrentShardCount"], out["TargetShardCount"]) == (2, 3)
    shards = shards_of(kinesis, name)
    assert len(shards) == 5
    old = [s for s in shards if "EndingSequenceNumber" in s["SequenceNumberRange"]]
    new = [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
    assert [s["ShardId"] for s in old] == ["shardId-000000000000", "shardId-000000000001"]
    assert [int(s["HashKeyRange"]["StartingHashKey"]) for s in new] == \
        [i * 2**128 // 3 for i in range(3)]
    assert new[0]["ParentShardId"] == "shardId-000000000000"
    assert new[1]["ParentShardId"] == "shardId-000000000000"
    assert new[1]["AdjacentParentShardId"] == "shardId-000000000001"
    assert kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
        "OpenShardCount"] == 3
    for i in range(10):
        r = kinesis.put_record(StreamName=name, Data=b"new", PartitionKey=f"n{i}")
        assert r["ShardId"] in {s["ShardId"] for s in new}
    for s in old:
        it = kinesis.get_shard_iterator(StreamName=name, ShardId=s["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        r = kinesis.get_records(ShardIterator=it)
        assert [x["Data"].decode() for x in r["Records"]] == before[s["ShardId"]]
        assert r["Records"][-1]["SequenceNumber"] == s["SequenceNumberRange"]["EndingSequenceNumber"]
        assert "NextShardIterator" not in r or r["NextShardIterator"] is None
        kids = {c["ShardId"] for c in r["ChildShards"]}
        assert kids == {n["ShardId"] for n in new
                        if s["ShardId"] in (n.get("ParentShardId"), n.get("AdjacentParentShardId"))}
    r = client_error(kinesis.update_shard_count, StreamName=name, TargetShardCount=7,
                     ScalingType="UNIFORM_SCALING")
    assert r["Error"]["Code"] == "InvalidArgumentException"


def test_provisioned_shards_limit_throughput(server, fresh_server):
    """A provisioned shard takes 1,000 records and 1 MiB a second: past
    that, PutRecords fails the records over the limit with
    ProvisionedThroughputExceededException (FailedRecordCount counts them)
    and PutRecord answers that error; a shard serves five GetRecords a
    second. On-demand streams, and every stream of a server started with
    --kinesis-no-throughput-limits, take the same load."""
    k = client("kinesis", server.endpoint, retries={"total_max_attempts": 1})
    name = new_stream(k, 1)
    big = b"x" * 4096
    out = k.put_records(StreamName=name, Records=[{"Data": big, "PartitionKey": str(i)}
                                                  for i in range(500)])
    assert 0 < out["FailedRecordCount"] < 500
    failed = [r for r in out["Records"] if "ErrorCode" in r]
    assert len(failed) == out["FailedRecordCount"]
    assert {r["ErrorCode"] for r in failed} == {"ProvisionedThroughputExceededException"}
    assert "Rate exceeded for shard shardId-000000000000" in failed[0]["ErrorMessage"]
    r = client_error(k.put_record, StreamName=name, Data=b"y" * 900_000, PartitionKey="p")
    assert r["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 400
    it = k.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                              ShardIteratorType="LATEST")["ShardIterator"]
    codes = []
    for _ in range(8):
        try:
            it = k.get_records(ShardIterator=it)["NextShardIterator"]
            codes.append("ok")
        except k.exceptions.ProvisionedThroughputExceededException:
            codes.append("throttled")
    assert "throttled" in codes and codes[0] == "ok"
    stats = metrics_of(server)
    assert stats.get('sluice_kinesis_throttled{stream="%s"}' % stream_arn(k, name), 0) >= 2
    on_demand = unique_name("ondemand")
    k.create_stream(StreamName=on_demand, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    for _ in range(3):
        out = k.put_records(StreamName=on_demand, Records=[
            {"Data": big, "PartitionKey": "p"} for _ in range(500)])
        assert out["FailedRecordCount"] == 0
    srv = fresh_server(["--kinesis-no-throughput-limits"]).start()
    k2 = client("kinesis", srv.endpoint)
    k2.create_stream(StreamName="free", ShardCount=1)
    for _ in range(3):
        assert k2.put_records(StreamName="free", Records=[
            {"Data": big, "PartitionKey": "p"} for _ in range(500)])["FailedRecordCount"] == 0


def stream_arn(k, name):
    return k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def metrics_of(server):
    text = urllib.request.urlopen(server.endpoint + "/_sluice/metrics").read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def test_records_in_and_out_metrics(server, kinesis):
    """/_sluice/metrics counts each stream's records in (puts) and out
    (GetRecords), in all and in the last whole second."""
    name = new_stream(kinesis, 1)
    kinesis.put_records(StreamName=name, Records=[{"Data": b"m", "PartitionKey": "p"}
                                                  for _ in range(7)])
    read_all(kinesis, name, "shardId-000000000000")
    arn = stream_arn(kinesis, name)
    stats = metrics_of(server)
    assert stats['sluice_kinesis_records_in{stream="%s"}' % arn] == 7
    assert stats['sluice_kinesis_records_out{stream="%s"}' % arn] == 7
    assert stats['sluice_kinesis_bytes_in{stream="%s"}' % arn] == 14
    assert 'sluice_kinesis_records_in_per_second{stream="%s"}' % arn in stats
