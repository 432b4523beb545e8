"""DynamoDB secondary indexes and Time to Live through boto3 and the aws
CLI: global and local indexes kept with every write (sparse, moved,
removed, projected as declared) and read by Query and Scan with
IndexName, paged with LastEvaluatedKey; indexes added to and removed from
a table with items; TimeToLive enabled and described, expired items
deleted (also those written before it was enabled) with a REMOVE stream
record that carries DynamoDB's userIdentity. Each test states the AWS
behaviour it checks."""

import json
import threading
import time

import pytest

from conftest import aws_cli, client, client_error, unique_name, wait_until


@pytest.fixture
def ddb(server):
    return client("dynamodb", server.endpoint)


def indexed_table(ddb):
    name = unique_name("itbl")
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"},
                              {"AttributeName": "g", "AttributeType": "S"},
                              {"AttributeName": "r", "AttributeType": "N"},
                              {"AttributeName": "l", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[
            {"IndexName": "by-g", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                           {"AttributeName": "r", "KeyType": "RANGE"}]},
            {"IndexName": "g-include", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["extra"]}}],
        LocalSecondaryIndexes=[
            {"IndexName": "by-l", "Projection": {"ProjectionType": "KEYS_ONLY"},
             "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                           {"AttributeName": "l", "KeyType": "RANGE"}]}])
    return name


def q(ddb, name, index, expr, values, **kw):
    return ddb.query(**qargs(name, index, expr, values, **kw))


def qargs(name, index, expr, values, **kw):
    return dict(TableName=name, IndexName=index, KeyConditionExpression=expr,
                ExpressionAttributeValues=values, **kw)


def test_global_and_local_indexes(ddb):
    """Query on an index reads the items whose index keys match, in the
    index's sort order either way, with only the attributes its projection
    keeps; items without the index's keys are not in it (sparse); an
    update that changes an index key moves the item; a delete removes it;
    an index key of the wrong type is refused; pages end with a
    LastEvaluatedKey holding the table's and the index's keys."""
    name = indexed_table(ddb)
    d = ddb.describe_table(TableName=name)["Table"]
    assert {i["IndexName"] for i in d["GlobalSecondaryIndexes"]} == {"by-g", "g-include"}
    assert d["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
    assert d["LocalSecondaryIndexes"][0]["IndexArn"].endswith("/index/by-l")
    for i in range(10):
        item = {"pk": {"S": "p%d" % (i % 2)}, "sk": {"N": str(i)}, "r": {"N": str(100 - i)},
                "l": {"S": "l%02d" % (9 - i)}, "extra": {"S": "x"}, "other": {"S": "o"}}
        if i != 4:
            item["g"] = {"S": "G"}  # (item 4 is not in by-g: sparse)
        ddb.put_item(TableName=name, Item=item)
    got = q(ddb, name, "by-g", "g = :g AND r BETWEEN :a AND :b",
            {":g": {"S": "G"}, ":a": {"N": "92"}, ":b": {"N": "97"}})["Items"]
    assert [int(i["r"]["N"]) for i in got] == [92, 93, 94, 95, 97]
    assert got[0]["other"] == {"S": "o"}
    back = q(ddb, name, "by-g", "g = :g AND r <= :b", {":g": {"S": "G"}, ":b": {"N": "93"}},
             ScanIndexForward=False)["Items"]
    assert [int(i["r"]["N"]) for i in back] == [93, 92, 91]
    ge = q(ddb, name, "by-g", "g = :g AND r >= :a", {":g": {"S": "G"}, ":a": {"N": "99"}})["Items"]
    assert [int(i["r"]["N"]) for i in ge] == [99, 100]
    # Pages.
    seen, start = [], None
    while True:
        kw = {"Limit": 3}
        if start:
            kw["ExclusiveStartKey"] = start
        page = q(ddb, name, "by-g", "g = :g", {":g": {"S": "G"}}, **kw)
        seen += [int(i["r"]["N"]) for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
        assert set(start) == {"pk", "sk", "g", "r"}
    assert seen == sorted(100 - i for i in range(10) if i != 4)
    # INCLUDE: keys and the named attribute only.
    inc = q(ddb, name, "g-include", "g = :g", {":g": {"S": "G"}})["Items"]
    assert len(inc) == 9 and set(inc[0]) == {"pk", "sk", "g", "extra"}
    # The local index: one partition, in l's order, keys only.
    loc = q(ddb, name, "by-l", "pk = :p AND begins_with(l, :x)",
            {":p": {"S": "p0"}, ":x": {"S": "l0"}})["Items"]
    assert [i["l"]["S"] for i in loc] == ["l01", "l03", "l05", "l07", "l09"]
    assert set(loc[0]) == {"pk", "sk", "l"}
    # Moves and removals.
    ddb.update_item(TableName=name, Key={"pk": {"S": "p0"}, "sk": {"N": "0"}},
                    UpdateExpression="SET g = :h", ExpressionAttributeValues={":h": {"S": "H"}})
    ddb.delete_item(TableName=name, Key={"pk": {"S": "p1"}, "sk": {"N": "1"}})
    assert [i["sk"]["N"] for i in q(ddb, name, "by-g", "g = :h", {":h": {"S": "H"}})["Items"]] == ["0"]
    assert q(ddb, name, "by-g", "g = :g", {":g": {"S": "G"}}, Select="COUNT")["Count"] == 7
    ddb.update_item(TableName=name, Key={"pk": {"S": "p0"}, "sk": {"N": "0"}},
                    UpdateExpression="REMOVE g")
    assert q(ddb, name, "by-g", "g = :h", {":h": {"S": "H"}})["Items"] == []
    # Scan of an index.
    assert ddb.scan(TableName=name, IndexName="by-g")["Count"] == 7
    # Refusals.
    e = client_error(ddb.put_item, TableName=name,
                     Item={"pk": {"S": "p9"}, "sk": {"N": "1"}, "g": {"N": "1"}})
    assert e["Error"]["Code"] == "ValidationException" and "by-g" in e["Error"]["Message"]
    e = client_error(ddb.query, **qargs(name, "nope", "g = :g", {":g": {"S": "G"}}))
    assert "does not have the specified index: nope" in e["Error"]["Message"]
    e = client_error(ddb.query, **qargs(name, "by-g", "g = :g", {":g": {"S": "G"}},
                                        ConsistentRead=True))
    assert "Consistent reads are not supported on global secondary indexes" in e["Error"]["Message"]
    e = client_error(ddb.query, **qargs(name, "by-g", "pk = :g", {":g": {"S": "G"}}))
    assert e["Error"]["Code"] == "ValidationException"


def test_index_added_and_removed(server, ddb):
    """UpdateTable adds a global index to a table with items (Query on it
    finds them at once) and removes it (Query on it is then refused); the
    aws CLI queries an index."""
    name = unique_name("itbl")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    for i in range(5):
        ddb.put_item(TableName=name, Item={"pk": {"S": "k%d" % i}, "color": {"S": "red" if i % 2 else "blue"}})
    ddb.update_table(TableName=name,
                     AttributeDefinitions=[{"AttributeName": "color", "AttributeType": "S"}],
                     GlobalSecondaryIndexUpdates=[{"Create": {
                         "IndexName": "by-color", "Projection": {"ProjectionType": "KEYS_ONLY"},
                         "KeySchema": [{"AttributeName": "color", "KeyType": "HASH"}]}}])
    red = q(ddb, name, "by-color", "color = :c", {":c": {"S": "red"}})["Items"]
    assert sorted(i["pk"]["S"] for i in red) == ["k1", "k3"]
    out = json.loads(aws_cli(server.endpoint, "dynamodb", "query", "--table-name", name,
                             "--index-name", "by-color", "--key-condition-expression",
                             "color = :c", "--expression-attribute-values",
                             json.dumps({":c": {"S": "blue"}})).stdout)
    assert out["Count"] == 3
    ddb.update_table(TableName=name,
                     GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-color"}}])
    assert "GlobalSecondaryIndexes" not in ddb.describe_table(TableName=name)["Table"]
    e = client_error(ddb.query, **qargs(name, "by-color", "color = :c", {":c": {"S": "red"}}))
    assert e["Error"]["Code"] == "ValidationException"


def test_time_to_live(ddb, server):
    """UpdateTimeToLive enables TimeToLive on an attribute (again: refused)
    and DescribeTimeToLive says so; items whose attribute is a past epoch
    second are deleted, those written before it was enabled too, and one
    due a second from now once it is due; future, non-number and
    missing values stay; each deletion's stream record is a REMOVE with
    DynamoDB's userIdentity."""
    name = unique_name("ttl")
    arn = ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "OLD_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "DISABLED"}
    now = int(time.time())
    ddb.put_item(TableName=name, Item={"pk": {"S": "before"}, "exp": {"N": str(now - 60)}})
    out = ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "exp"})
    assert out["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "exp"}
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}
    e = client_error(ddb.update_time_to_live, TableName=name,
                     TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    assert e["Error"]["Code"] == "ValidationException"
    ddb.put_item(TableName=name, Item={"pk": {"S": "past"}, "exp": {"N": str(now - 5)}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "soon"}, "exp": {"N": str(now + 2)}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "later"}, "exp": {"N": str(now + 3600)}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "text"}, "exp": {"S": str(now - 5)}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "none"}})

    def left():
        return sorted(i["pk"]["S"] for i in ddb.scan(TableName=name)["Items"])

    wait_until(lambda: left() == ["later", "none", "text"], timeout=30,
               what="the expired items deleted")
    streams = client("dynamodbstreams", server.endpoint)
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    recs = streams.get_records(ShardIterator=it)["Records"]
    removes = [r for r in recs if r["eventName"] == "REMOVE"]
    assert sorted(r["dynamodb"]["Keys"]["pk"]["S"] for r in removes) == ["before", "past", "soon"]
    for r in removes:
        assert r["userIdentity"] == {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
        assert "exp" in r["dynamodb"]["OldImage"]
    assert all("userIdentity" not in r for r in recs if r["eventName"] != "REMOVE")
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
        "Enabled": False, "AttributeName": "exp"})
    ddb.put_item(TableName=name, Item={"pk": {"S": "kept"}, "exp": {"N": str(now - 5)}})
    assert "kept" in left()


def test_control_bytes_in_string_keys(ddb):
    """Strings may hold any character, \\x01 and \\x02 too: an index's
    Query keeps their order and matches them exactly, and Time to Live
    deletes an item whose key holds them."""
    name = indexed_table(ddb)
    for i, r in enumerate(["a", "a\x01b", "a\x02", "a\x01", "b"]):
        ddb.put_item(TableName=name, Item={"pk": {"S": "k\x01%d" % i}, "sk": {"N": "1"},
                                           "g": {"S": "G"}, "r": {"N": str(i)}, "l": {"S": r}})
    got = q(ddb, name, "by-l", "pk = :p AND l = :l", {":p": {"S": "k\x011"}, ":l": {"S": "a\x01b"}})
    assert [i["l"]["S"] for i in got["Items"]] == ["a\x01b"]
    got = q(ddb, name, "by-l", "pk = :p AND l = :l", {":p": {"S": "k\x011"}, ":l": {"S": "a"}})
    assert got["Items"] == []
    everything = sorted((i["l"]["S"] for i in ddb.scan(TableName=name, IndexName="by-l")["Items"]))
    assert everything == sorted(["a", "a\x01b", "a\x02", "a\x01", "b"])
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "exp"})
    ddb.put_item(TableName=name, Item={"pk": {"S": "x\x01y\x02"}, "sk": {"N": "2"},
                                       "exp": {"N": str(int(time.time()) - 5)}})
    wait_until(lambda: "Item" not in ddb.get_item(
        TableName=name, Key={"pk": {"S": "x\x01y\x02"}, "sk": {"N": "2"}}), timeout=30,
        what="the expired item deleted")


def test_index_added_while_items_are_written(server, ddb):
    """Items written while UpdateTable adds an index are all in it: the
    writes that began before the change see it in their transaction."""
    name = unique_name("itbl")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    stop = threading.Event()
    written = []

    def writer(n):
        c = client("dynamodb", server.endpoint)
        i = 0
        while not stop.is_set():
            c.put_item(TableName=name, Item={"pk": {"S": "w%d-%d" % (n, i)}, "c": {"S": "x"}})
            written.append(1)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    wait_until(lambda: len(written) >= 100, timeout=30, what="writes under way")
    ddb.update_table(TableName=name,
                     AttributeDefinitions=[{"AttributeName": "c", "AttributeType": "S"}],
                     GlobalSecondaryIndexUpdates=[{"Create": {
                         "IndexName": "by-c", "Projection": {"ProjectionType": "KEYS_ONLY"},
                         "KeySchema": [{"AttributeName": "c", "KeyType": "HASH"}]}}])
    n0 = len(written)
    wait_until(lambda: len(written) >= n0 + 100, timeout=30, what="writes after the change")
    stop.set()
    for t in threads:
        t.join()
    table_count = ddb.scan(TableName=name, Select="COUNT")["Count"]
    index_count = q(ddb, name, "by-c", "c = :c", {":c": {"S": "x"}}, Select="COUNT")["Count"]
    assert table_count == len(written) == index_count
