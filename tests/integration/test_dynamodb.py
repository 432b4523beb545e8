"""DynamoDB through boto3, the aws CLI and the AWS SDK for JavaScript v3
(@aws-sdk/client-dynamodb, and @aws-sdk/lib-dynamodb's DocumentClient):
tables, items of every type, condition, projection and update
expressions with ReturnValues, DynamoDB's errors in its words, and a
kill -9 that loses no acknowledged write. Each test states the AWS
behaviour it checks."""

import json
import os
import subprocess
import threading

import pytest

from conftest import ROOT, aws_cli, client, client_error, unique_name, wait_until


@pytest.fixture
def ddb(server):
    return client("dynamodb", server.endpoint)


def table(ddb, range_type="N", **kw):
    name = unique_name("tbl")
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    defs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_type:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        defs.append({"AttributeName": "sk", "AttributeType": range_type})
    ddb.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=defs,
                     BillingMode="PAY_PER_REQUEST", **kw)
    ddb.get_waiter("table_exists").wait(TableName=name)
    return name


def test_tables(ddb):
    """CreateTable answers CREATING and the table is then ACTIVE with its
    schema, ARN and billing; ListTables pages by name; a second
    CreateTable of the name is ResourceInUseException; UpdateTable turns a
    stream on (LatestStreamArn under the table's ARN); DeleteTable answers
    DELETING and the table is gone; a schema that does not match its
    definitions and provisioned billing without throughput are
    ValidationException."""
    name = unique_name("tbl")
    out = ddb.create_table(TableName=name,
                           KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                           AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                           ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    assert out["TableDescription"]["TableStatus"] == "CREATING"
    d = ddb.describe_table(TableName=name)["Table"]
    assert d["TableStatus"] == "ACTIVE" and d["TableName"] == name
    assert d["TableArn"] == f"arn:aws:dynamodb:us-east-1:000000000000:table/{name}"
    assert d["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert d["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert d["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    r = client_error(ddb.create_table, TableName=name,
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    assert r["Error"]["Code"] == "ResourceInUseException"
    others = [table(ddb, None) for _ in range(2)]
    names = sorted([name] + others)
    page = ddb.list_tables(ExclusiveStartTableName=names[0], Limit=1)
    assert page["TableNames"] == [names[1]] and page["LastEvaluatedTableName"] == names[1]
    up = ddb.update_table(TableName=name, StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})["TableDescription"]
    assert up["LatestStreamArn"].startswith(d["TableArn"] + "/stream/")
    assert up["StreamSpecification"] == {"StreamEnabled": True,
                                         "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert ddb.delete_table(TableName=name)["TableDescription"]["TableStatus"] == "DELETING"
    r = client_error(ddb.describe_table, TableName=name)
    assert r["Error"]["Code"] == "ResourceNotFoundException"
    bad = [
        dict(KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
             AttributeDefinitions=[{"AttributeName": "x", "AttributeType": "S"}],
             BillingMode="PAY_PER_REQUEST"),
        dict(KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                   {"AttributeName": "extra", "AttributeType": "S"}],
             BillingMode="PAY_PER_REQUEST"),
        dict(KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}]),
    ]
    for kw in bad:
        r = client_error(ddb.create_table, TableName=unique_name("bad"), **kw)
        assert r["Error"]["Code"] == "ValidationException", kw


EVERY_TYPE = {
    "pk": {"S": "k1"}, "sk": {"N": "1"}, "s": {"S": "héllo"}, "n": {"N": "-0012.50"},
    "b": {"B": b"\x00\x01"}, "t": {"BOOL": True}, "z": {"NULL": True},
    "m": {"M": {"deep": {"L": [{"N": "1e2"}, {"S": "x"}]}}}, "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1.0", "2"]}, "bs": {"BS": [b"\x01", b"\x02"]},
}


def test_items_of_every_type(ddb):
    """PutItem stores values of every type; GetItem returns them with
    numbers as DynamoDB normalizes them ("-0012.50" is "-12.5"); a missing
    item is an answer without Item; ProjectionExpression returns the named
    attributes and nested parts; the key is found by its value, whatever
    text the number had."""
    name = table(ddb)
    ddb.put_item(TableName=name, Item=EVERY_TYPE)
    got = ddb.get_item(TableName=name, Key={"pk": {"S": "k1"}, "sk": {"N": "1.00"}})["Item"]
    want = dict(EVERY_TYPE, n={"N": "-12.5"}, m={"M": {"deep": {"L": [{"N": "100"},
                                                                       {"S": "x"}]}}},
                ns={"NS": ["1", "2"]})
    assert {k: v for k, v in got.items() if k not in ("ss", "ns", "bs")} == \
        {k: v for k, v in want.items() if k not in ("ss", "ns", "bs")}
    assert sorted(got["ss"]["SS"]) == ["a", "b"] and sorted(got["ns"]["NS"]) == ["1", "2"]
    assert sorted(got["bs"]["BS"]) == [b"\x01", b"\x02"]
    assert "Item" not in ddb.get_item(TableName=name, Key={"pk": {"S": "k1"}, "sk": {"N": "2"}})
    p = ddb.get_item(TableName=name, Key={"pk": {"S": "k1"}, "sk": {"N": "1"}},
                     ProjectionExpression="#s, m.deep[1]",
                     ExpressionAttributeNames={"#s": "s"})["Item"]
    assert p == {"s": {"S": "héllo"}, "m": {"M": {"deep": {"L": [{"S": "x"}]}}}}


def test_conditions_updates_and_return_values(ddb):
    """A condition that fails is ConditionalCheckFailedException ("The
    conditional request failed") and nothing changes;
    UpdateItem creates the item when it is missing, applies SET (with + and
    -, if_not_exists, list_append), REMOVE, ADD and DELETE, and answers
    ALL_OLD, ALL_NEW, UPDATED_OLD or UPDATED_NEW; DeleteItem with ALL_OLD
    answers what it deleted; key attributes cannot be updated."""
    name = table(ddb)
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=name, Item=dict(key, v={"N": "5"}))
    r = client_error(ddb.put_item, TableName=name, Item=dict(key, v={"N": "9"}),
                     ConditionExpression="attribute_not_exists(pk)")
    assert r["Error"]["Code"] == "ConditionalCheckFailedException"
    assert r["Error"]["Message"] == "The conditional request failed" and "Item" not in r
    out = ddb.update_item(
        TableName=name, Key=key,
        UpdateExpression="SET v = v + :one, l = list_append(if_not_exists(l, :empty), :l), "
                         "c = if_not_exists(c, :zero) ADD tags :t",
        ConditionExpression="v = :five",
        ExpressionAttributeValues={":one": {"N": "1"}, ":five": {"N": "5"}, ":zero": {"N": "0"},
                                   ":empty": {"L": []}, ":l": {"L": [{"S": "x"}]},
                                   ":t": {"SS": ["red", "blue"]}},
        ReturnValues="UPDATED_NEW")
    assert out["Attributes"]["v"] == {"N": "6"} and out["Attributes"]["l"] == {"L": [{"S": "x"}]}
    out = ddb.update_item(TableName=name, Key=key, UpdateExpression="REMOVE c DELETE tags :r",
                          ExpressionAttributeValues={":r": {"SS": ["red"]}},
                          ReturnValues="ALL_NEW")["Attributes"]
    assert "c" not in out and out["tags"] == {"SS": ["blue"]}
    old = ddb.update_item(TableName=name, Key=key, UpdateExpression="SET v = :v",
                          ExpressionAttributeValues={":v": {"S": "text"}},
                          ReturnValues="UPDATED_OLD")["Attributes"]
    assert old == {"v": {"N": "6"}}
    fresh = {"pk": {"S": "new"}, "sk": {"N": "7"}}
    out = ddb.update_item(TableName=name, Key=fresh, UpdateExpression="SET x = :v",
                          ExpressionAttributeValues={":v": {"N": "1"}}, ReturnValues="ALL_NEW")
    assert out["Attributes"] == dict(fresh, x={"N": "1"})
    r = client_error(ddb.update_item, TableName=name, Key=key, UpdateExpression="SET sk = :v",
                     ExpressionAttributeValues={":v": {"N": "2"}})
    assert r["Error"]["Message"] == ("One or more parameter values were invalid: Cannot update "
                                     "attribute sk. This attribute is part of the key")
    r = client_error(ddb.delete_item, TableName=name, Key=key,
                     ConditionExpression="v = :n", ExpressionAttributeValues={":n": {"N": "1"}})
    assert r["Error"]["Code"] == "ConditionalCheckFailedException"
    gone = ddb.delete_item(TableName=name, Key=key, ReturnValues="ALL_OLD")["Attributes"]
    assert gone["v"] == {"S": "text"}
    assert "Item" not in ddb.get_item(TableName=name, Key=key)


def test_errors_in_dynamodbs_words(ddb, server):
    """Bad items, keys and expressions get ValidationException with the
    message DynamoDB gives; a table that does not exist is
    ResourceNotFoundException."""
    name = table(ddb)
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    cases = [
        (ddb.put_item, dict(Item={"pk": {"S": "a"}}),
         "One or more parameter values were invalid: Missing the key sk in the item"),
        (ddb.put_item, dict(Item={"pk": {"S": "a"}, "sk": {"S": "1"}}),
         "One or more parameter values were invalid: Type mismatch for key sk expected: N "
         "actual: S"),
        (ddb.put_item, dict(Item={"pk": {"S": ""}, "sk": {"N": "1"}}),
         "One or more parameter values are not valid. The AttributeValue for a key attribute "
         "cannot contain an empty string value. Key: pk"),
        (ddb.put_item, dict(Item=dict(key, s={"SS": []})),
         "One or more parameter values were invalid: An string set  may not be empty"),
        (ddb.put_item, dict(Item=dict(key, n={"N": "12a"})),
         "The parameter cannot be converted to a numeric value: 12a"),
        (ddb.put_item, dict(Item=dict(key, n={"N": "1" * 39})),
         "Attempting to store more than 38 significant digits in a Number"),
        (ddb.get_item, dict(Key={"pk": {"S": "a"}}),
         "The provided key element does not match the schema"),
        (ddb.put_item, dict(Item=key, ConditionExpression="name = :v",
                            ExpressionAttributeValues={":v": {"S": "x"}}),
         "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: "
         "name"),
        (ddb.put_item, dict(Item=key, ConditionExpression="a = :nope"),
         "Invalid ConditionExpression: An expression attribute value used in expression is not "
         "defined; attribute value: :nope"),
        (ddb.put_item, dict(Item=key, ConditionExpression="a = :v",
                            ExpressionAttributeValues={":v": {"S": "x"}, ":w": {"S": "y"}}),
         "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"),
        (ddb.update_item, dict(Key=key, UpdateExpression="SET a = :v SET b = :v",
                               ExpressionAttributeValues={":v": {"S": "x"}}),
         "Invalid UpdateExpression: The \"SET\" section can only be used once in an update "
         "expression;"),
        (ddb.update_item, dict(Key=key, UpdateExpression="SET a = ",
                               ExpressionAttributeValues={":v": {"S": "x"}}),
         "Invalid UpdateExpression: Syntax error; token: \"<EOF>\", near: \"= \""),
        (ddb.put_item, dict(Item=dict(key, big={"S": "x" * (400 * 1024)})),
         "Item size has exceeded the maximum allowed size"),
    ]
    for call, kw, message in cases:
        r = client_error(call, TableName=name, **kw)
        assert r["Error"]["Code"] == "ValidationException", (kw, r["Error"])
        assert r["Error"]["Message"] == message, (kw, r["Error"])
    r = client_error(ddb.get_item, TableName=name + "-none", Key=key)
    assert r["Error"]["Code"] == "ResourceNotFoundException"
    assert r["Error"]["Message"] == "Requested resource not found"


def test_cli_round_trip(ddb, server):
    """The aws CLI puts, updates and gets an item."""
    name = table(ddb, None)
    aws_cli(server.endpoint, "dynamodb", "put-item", "--table-name", name, "--item",
            json.dumps({"pk": {"S": "cli"}, "n": {"N": "1"}}))
    aws_cli(server.endpoint, "dynamodb", "update-item", "--table-name", name, "--key",
            json.dumps({"pk": {"S": "cli"}}), "--update-expression", "ADD n :two",
            "--expression-attribute-values", json.dumps({":two": {"N": "2"}}))
    out = json.loads(aws_cli(server.endpoint, "dynamodb", "get-item", "--table-name", name,
                             "--key", json.dumps({"pk": {"S": "cli"}})).stdout)
    assert out["Item"] == {"pk": {"S": "cli"}, "n": {"N": "3"}}


def js_calls(server, package, calls):
    proc = subprocess.run(["/usr/bin/node", "sdk_calls.js", package, server.endpoint],
                          input=json.dumps(calls), capture_output=True, text=True,
                          cwd=os.path.join(ROOT, "tests", "node"), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_javascript_sdk_round_trip(ddb, server):
    """The current AWS SDK for JavaScript v3 (@aws-sdk/client-dynamodb, and
    the DocumentClient of @aws-sdk/lib-dynamodb most Node handlers use)
    puts, gets, updates and deletes items; its errors carry DynamoDB's
    names, and a failed condition the item with
    ReturnValuesOnConditionCheckFailure ALL_OLD."""
    name = table(ddb, "S")
    key = {"pk": {"S": "js"}, "sk": {"S": "1"}}
    out = js_calls(server, "@aws-sdk/client-dynamodb", [
        {"command": "PutItem", "input": {"TableName": name, "Item": dict(key, n={"N": "1"})}},
        {"command": "UpdateItem", "input": {
            "TableName": name, "Key": key, "UpdateExpression": "SET n = n + :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}}, "ReturnValues": "ALL_NEW"}},
        {"command": "GetItem", "input": {"TableName": name, "Key": key}},
        {"command": "PutItem", "input": {"TableName": name, "Item": key,
                                         "ConditionExpression": "attribute_not_exists(pk)",
                                         "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        {"command": "DeleteItem", "input": {"TableName": name, "Key": key,
                                            "ReturnValues": "ALL_OLD"}},
    ])
    assert "ok" in out[0], out[0]
    assert out[1]["ok"]["Attributes"]["n"] == {"N": "2"}
    assert out[2]["ok"]["Item"] == dict(key, n={"N": "2"})
    assert out[3]["error"]["name"] == "ConditionalCheckFailedException"
    assert out[3]["error"]["item"] == dict(key, n={"N": "2"})
    assert out[4]["ok"]["Attributes"]["n"] == {"N": "2"}
    doc = js_calls(server, "@aws-sdk/lib-dynamodb", [
        {"command": "Put", "input": {"TableName": name, "Item": {
            "pk": "doc", "sk": "1", "count": 1, "tags": ["a", "b"], "nested": {"x": True}}}},
        {"command": "Update", "input": {
            "TableName": name, "Key": {"pk": "doc", "sk": "1"},
            "UpdateExpression": "SET #c = #c + :one", "ExpressionAttributeNames": {"#c": "count"},
            "ExpressionAttributeValues": {":one": 1}, "ReturnValues": "UPDATED_NEW"}},
        {"command": "Get", "input": {"TableName": name, "Key": {"pk": "doc", "sk": "1"}}},
        {"command": "Query", "input": {
            "TableName": name, "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": "doc"}, "ProjectionExpression": "sk, #c",
            "ExpressionAttributeNames": {"#c": "count"}}},
        {"command": "Scan", "input": {"TableName": name, "FilterExpression": "#c > :one",
                                      "ExpressionAttributeNames": {"#c": "count"},
                                      "ExpressionAttributeValues": {":one": 1}}},
        {"command": "Delete", "input": {"TableName": name, "Key": {"pk": "doc", "sk": "1"}}},
    ])
    assert all("ok" in d for d in doc), doc
    assert doc[1]["ok"]["Attributes"] == {"count": 2}
    assert doc[2]["ok"]["Item"] == {"pk": "doc", "sk": "1", "count": 2, "tags": ["a", "b"],
                                    "nested": {"x": True}}
    assert doc[3]["ok"]["Items"] == [{"sk": "1", "count": 2}]
    assert [i["pk"] for i in doc[4]["ok"]["Items"]] == ["doc"]


def test_kill9_keeps_acknowledged_writes(fresh_server):
    """Acknowledged means durable: every PutItem and UpdateItem answered
    before a kill -9 is there after the restart."""
    srv = fresh_server().start()
    d = client("dynamodb", srv.endpoint)
    name = table(d, None)
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def writer(n):
        c = client("dynamodb", srv.endpoint)
        i = 0
        while not stop.is_set():
            try:
                c.put_item(TableName=name, Item={"pk": {"S": f"w{n}-{i}"}, "v": {"N": str(i)}})
                c.update_item(TableName=name, Key={"pk": {"S": f"counter{n}"}},
                              UpdateExpression="ADD v :one",
                              ExpressionAttributeValues={":one": {"N": "1"}})
            except Exception:  # noqa: BLE001 (the server is gone)
                return
            with lock:
                acked.append((n, i))
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acked) >= 200, timeout=60, what="200 acknowledged writes")
    srv.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    srv.start()
    d = client("dynamodb", srv.endpoint)
    for n, i in acked:
        assert "Item" in d.get_item(TableName=name, Key={"pk": {"S": f"w{n}-{i}"}}), (n, i)
    for n in range(4):
        done = max([i for m, i in acked if m == n], default=-1) + 1
        got = d.get_item(TableName=name, Key={"pk": {"S": f"counter{n}"}}).get("Item")
        assert got is None and done == 0 or int(got["v"]["N"]) >= done, (n, got, done)


def fill(ddb, name, n=30):
    """Items k0 (sort keys 0..n-1, every other one "even") and k1 (5 of
    them)."""
    for i in range(n):
        ddb.put_item(TableName=name, Item={"pk": {"S": "k0"}, "sk": {"N": str(i)},
                                           "even": {"BOOL": i % 2 == 0}, "v": {"S": f"v{i}"}})
    for i in range(5):
        ddb.put_item(TableName=name, Item={"pk": {"S": "k1"}, "sk": {"N": str(-i)}})


def sks(items):
    return [int(i["sk"]["N"]) for i in items]


def test_query(ddb):
    """Query reads one partition in numeric sort-key order (negative,
    decimal and large numbers sort by value), or its reverse with
    ScanIndexForward false; its sort-key conditions (= < <= > >= BETWEEN
    begins_with); FilterExpression counts in ScannedCount but not Count;
    Limit pages with LastEvaluatedKey and ExclusiveStartKey; Select COUNT;
    ProjectionExpression; and the key conditions DynamoDB refuses."""
    name = table(ddb)
    fill(ddb, name)
    q = lambda **kw: ddb.query(TableName=name, **kw)  # noqa: E731
    v = lambda **vals: {f":{k}": ({"N": str(x)} if isinstance(x, (int, float)) else {"S": x})  # noqa: E731
                        for k, x in vals.items()}
    assert sks(q(KeyConditionExpression="pk = :p", ExpressionAttributeValues=v(p="k0"))["Items"]) \
        == list(range(30))
    assert sks(q(KeyConditionExpression="pk = :p", ExpressionAttributeValues=v(p="k1"),
                 ScanIndexForward=False)["Items"]) == [0, -1, -2, -3, -4]
    cases = [("sk = :a", dict(a=7), [7]), ("sk < :a", dict(a=3), [0, 1, 2]),
             ("sk <= :a", dict(a=3), [0, 1, 2, 3]), ("sk > :a", dict(a=26), [27, 28, 29]),
             ("sk >= :a", dict(a=27), [27, 28, 29]),
             ("sk BETWEEN :a AND :b", dict(a=10, b=12), [10, 11, 12]),
             (":a < sk", dict(a=28), [29])]
    for cond, vals, want in cases:
        for fwd in (True, False):
            got = q(KeyConditionExpression=f"pk = :p AND {cond}", ScanIndexForward=fwd,
                    ExpressionAttributeValues=v(p="k0", **vals))["Items"]
            assert sks(got) == (want if fwd else want[::-1]), (cond, fwd)
    out = q(KeyConditionExpression="pk = :p", FilterExpression="even = :t",
            ExpressionAttributeValues=dict(v(p="k0"), **{":t": {"BOOL": True}}))
    assert out["Count"] == 15 and out["ScannedCount"] == 30
    got, start, pages = [], None, 0
    while True:
        kw = dict(ExclusiveStartKey=start) if start else {}
        out = q(KeyConditionExpression="pk = :p", ExpressionAttributeValues=v(p="k0"), Limit=7,
                **kw)
        got += sks(out["Items"])
        pages += 1
        start = out.get("LastEvaluatedKey")
        if not start:
            break
    assert got == list(range(30)) and pages == 5
    out = q(KeyConditionExpression="pk = :p", ExpressionAttributeValues=v(p="k0"), Select="COUNT")
    assert out["Count"] == 30 and "Items" not in out
    out = q(KeyConditionExpression="pk = :p AND sk = :a", ExpressionAttributeValues=v(p="k0", a=3),
            ProjectionExpression="v")
    assert out["Items"] == [{"v": {"S": "v3"}}]
    refused = [("sk = :a", v(a=1), "Query condition missed key schema element: pk"),
               ("pk = :p OR sk = :a", v(p="k0", a=1), "Query key condition not supported"),
               ("pk = :a", v(a=1), "One or more parameter values were invalid: Condition "
                                   "parameter type does not match schema type"),
               ("pk = :p AND begins_with(sk, :a)", v(p="k0", a=1),
                "Invalid KeyConditionExpression: Incorrect operand type for operator or "
                "function; operator or function: begins_with, operand type: N")]
    for cond, vals, msg in refused:
        r = client_error(ddb.query, TableName=name, KeyConditionExpression=cond,
                         ExpressionAttributeValues=vals)
        assert r["Error"]["Code"] == "ValidationException" and r["Error"]["Message"] == msg, cond


def test_query_strings_and_scan(ddb):
    """String sort keys sort by their bytes and begins_with reads a prefix;
    Scan reads every item of the table, in pages with Limit, by segments
    that together make the whole, with FilterExpression."""
    name = table(ddb, "S")
    for pk in ("a", "b", "c"):
        for sk in ("apple", "apricot", "banana", "Zebra", "éclair"):
            ddb.put_item(TableName=name, Item={"pk": {"S": pk}, "sk": {"S": sk}})
    out = ddb.query(TableName=name, KeyConditionExpression="pk = :p AND begins_with(sk, :ap)",
                    ExpressionAttributeValues={":p": {"S": "b"}, ":ap": {"S": "ap"}})
    assert [i["sk"]["S"] for i in out["Items"]] == ["apple", "apricot"]
    out = ddb.query(TableName=name, KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "a"}})
    assert [i["sk"]["S"] for i in out["Items"]] == sorted(
        ["apple", "apricot", "banana", "Zebra", "éclair"], key=lambda s: s.encode())
    everything = {(i["pk"]["S"], i["sk"]["S"]) for i in ddb.scan(TableName=name)["Items"]}
    assert len(everything) == 15
    got, start = set(), None
    while True:
        kw = dict(ExclusiveStartKey=start) if start else {}
        out = ddb.scan(TableName=name, Limit=4, **kw)
        got |= {(i["pk"]["S"], i["sk"]["S"]) for i in out["Items"]}
        start = out.get("LastEvaluatedKey")
        if not start:
            break
    assert got == everything
    parts = [ddb.scan(TableName=name, Segment=s, TotalSegments=3)["Items"] for s in range(3)]
    assert sum(len(p) for p in parts) == 15
    assert {(i["pk"]["S"], i["sk"]["S"]) for p in parts for i in p} == everything
    out = ddb.scan(TableName=name, FilterExpression="begins_with(sk, :b)",
                   ExpressionAttributeValues={":b": {"S": "b"}})
    assert out["Count"] == 3 and out["ScannedCount"] == 15
