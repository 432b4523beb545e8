"""DynamoDB's batches and transactions through boto3, the aws CLI and the
AWS SDK for JavaScript v3 (@aws-sdk/lib-dynamodb's DocumentClient):
BatchWriteItem and BatchGetItem with their limits, duplicates and 16 MB
answers; TransactWriteItems all or nothing with DynamoDB's
CancellationReasons, ClientRequestToken idempotency and one item per
action; TransactGetItems; and the stream records of what they write. Each
test states the AWS behaviour it checks."""

import json

import pytest

from conftest import aws_cli, client, client_error, unique_name
from test_dynamodb import js_calls, table
from test_dynamodb_streams import read_all


@pytest.fixture
def ddb(server):
    return client("dynamodb", server.endpoint)


def key(pk, sk=None):
    k = {"pk": {"S": pk}}
    if sk is not None:
        k["sk"] = {"N": str(sk)}
    return k


def put(item):
    return {"PutRequest": {"Item": item}}


def delete(k):
    return {"DeleteRequest": {"Key": k}}


def error(call, **kw):
    """The error of a call that must fail: (code, message, whole response)."""
    r = client_error(call, **kw)
    return r["Error"]["Code"], r["Error"]["Message"], r


def get(ddb, name, k):
    return ddb.get_item(TableName=name, Key=k).get("Item")


# ---- BatchWriteItem and BatchGetItem ---------------------------------------


def test_batch_write_25_then_get_with_projection(ddb):
    """BatchWriteItem writes 25 puts over two tables and answers an empty
    UnprocessedItems; BatchGetItem reads them back with each table's
    ProjectionExpression and ExpressionAttributeNames, leaves out the keys
    of items that do not exist and answers an empty UnprocessedKeys;
    deletes and puts mix in one batch."""
    a = table(ddb)
    b = table(ddb, None)
    reqs = {a: [put(dict(key("p", i), v={"N": str(i)}, name={"S": f"n{i}"}, x={"S": "big"}))
                for i in range(20)],
            b: [put(dict(key(f"k{i}"), v={"N": str(i)})) for i in range(5)]}
    out = ddb.batch_write_item(RequestItems=reqs)
    assert out["UnprocessedItems"] == {}
    got = ddb.batch_get_item(RequestItems={
        a: {"Keys": [key("p", i) for i in range(20)] + [key("p", 99)],
            "ProjectionExpression": "sk, #n", "ExpressionAttributeNames": {"#n": "name"},
            "ConsistentRead": True},
        b: {"Keys": [key(f"k{i}") for i in range(5)] + [key("none")]},
    })
    assert got["UnprocessedKeys"] == {}
    items_a = sorted(got["Responses"][a], key=lambda i: int(i["sk"]["N"]))
    assert items_a == [{"sk": {"N": str(i)}, "name": {"S": f"n{i}"}} for i in range(20)]
    items_b = sorted(got["Responses"][b], key=lambda i: i["pk"]["S"])
    assert items_b == [dict(key(f"k{i}"), v={"N": str(i)}) for i in range(5)]
    out = ddb.batch_write_item(RequestItems={
        a: [delete(key("p", 0)), delete(key("p", 1.0)), put(dict(key("p", 100), v={"N": "1"}))],
        b: [delete(key("k0"))]})
    assert out["UnprocessedItems"] == {}
    assert get(ddb, a, key("p", 0)) is None and get(ddb, a, key("p", 1)) is None
    assert get(ddb, a, key("p", 100)) == dict(key("p", 100), v={"N": "1"})
    assert get(ddb, b, key("k0")) is None and get(ddb, b, key("k1")) is not None


def test_batch_limits_and_duplicates(ddb):
    """More than 25 writes or 100 keys in all (over several tables) is
    ValidationException "Too many items requested for the ... call"; two
    requests on one item (a number key written two ways included) are
    "Provided list of item keys contains duplicates", while one key in two
    tables is not; an invalid item is PutItem's ValidationException and
    nothing of the batch is written."""
    a = table(ddb)
    b = table(ddb)
    code, msg, _ = error(ddb.batch_write_item, RequestItems={
        a: [put(key("p", i)) for i in range(13)], b: [put(key("p", i)) for i in range(13)]})
    assert (code, msg) == ("ValidationException",
                           "Too many items requested for the BatchWriteItem call")
    code, msg, _ = error(ddb.batch_get_item, RequestItems={
        a: {"Keys": [key("p", i) for i in range(60)]},
        b: {"Keys": [key("p", i) for i in range(41)]}})
    assert (code, msg) == ("ValidationException",
                           "Too many items requested for the BatchGetItem call")
    dup = "Provided list of item keys contains duplicates"
    for reqs in ({a: [put(key("p", 1)), put(dict(key("p", 1), v={"N": "2"}))]},
                 {a: [put(key("p", 1)), delete(key("p", "1.0"))]}):
        assert error(ddb.batch_write_item, RequestItems=reqs)[:2] == ("ValidationException", dup)
    code, msg, _ = error(ddb.batch_get_item,
                         RequestItems={a: {"Keys": [key("p", 5), key("p", "5.00")]}})
    assert (code, msg) == ("ValidationException", dup)
    assert get(ddb, a, key("p", 1)) is None
    ddb.batch_write_item(RequestItems={a: [put(key("p", 7))], b: [put(key("p", 7))]})
    assert get(ddb, a, key("p", 7)) and get(ddb, b, key("p", 7))
    code, msg, _ = error(ddb.batch_write_item, RequestItems={
        a: [put(key("p", 8)), put({"pk": {"S": "p"}})]})
    assert (code, msg) == ("ValidationException",
                           "One or more parameter values were invalid: Missing the key sk in "
                           "the item")
    assert get(ddb, a, key("p", 8)) is None


def test_batch_unknown_table(ddb):
    """A table that does not exist, among others that do, is
    ResourceNotFoundException "Requested resource not found" for
    BatchWriteItem (the other tables' items are not written) and for
    BatchGetItem."""
    a = table(ddb)
    missing = unique_name("none")
    code, msg, _ = error(ddb.batch_write_item, RequestItems={
        a: [put(key("p", 1))], missing: [put(key("p", 1))]})
    assert (code, msg) == ("ResourceNotFoundException", "Requested resource not found")
    assert get(ddb, a, key("p", 1)) is None
    code, msg, _ = error(ddb.batch_get_item, RequestItems={
        a: {"Keys": [key("p", 1)]}, missing: {"Keys": [key("p", 1)]}})
    assert (code, msg) == ("ResourceNotFoundException", "Requested resource not found")


def test_batch_get_answers_16_mb_at_most(ddb):
    """A BatchGetItem whose items come to more than 16 MB answers as many
    as fit and gives the other keys back in UnprocessedKeys (with the
    table's projection), which a second call then reads."""
    a = table(ddb)
    blob = "x" * (390 * 1024)
    n = 48
    for start in range(0, n, 16):
        ddb.batch_write_item(RequestItems={a: [put(dict(key("big", i), blob={"S": blob}))
                                               for i in range(start, start + 16)]})
    spec = {"ProjectionExpression": "pk, sk, #b", "ExpressionAttributeNames": {"#b": "blob"}}
    first = ddb.batch_get_item(RequestItems={a: dict(spec, Keys=[key("big", i)
                                                               for i in range(n)])})
    got = first["Responses"][a]
    assert 0 < len(got) < n
    assert sum(len(i["blob"]["S"]) for i in got) <= 16 * 1024 * 1024
    rest = first["UnprocessedKeys"][a]
    assert rest["ProjectionExpression"] == spec["ProjectionExpression"]
    assert len(rest["Keys"]) == n - len(got)
    second = ddb.batch_get_item(RequestItems=first["UnprocessedKeys"])
    assert second["UnprocessedKeys"] == {}
    sks = sorted(int(i["sk"]["N"]) for i in got + second["Responses"][a])
    assert sks == list(range(n))


def test_cli_batch_write_item(ddb, server, tmp_path):
    """The aws CLI's batch-write-item reads --request-items from a file and
    reports no unprocessed items."""
    a = table(ddb, None)
    path = tmp_path / "items.json"
    path.write_text(json.dumps({a: [put(dict(key(f"cli{i}"), n={"N": str(i)}))
                                    for i in range(3)]}))
    out = json.loads(aws_cli(server.endpoint, "dynamodb", "batch-write-item",
                             "--request-items", f"file://{path}").stdout)
    assert out["UnprocessedItems"] == {}
    assert get(ddb, a, key("cli2")) == dict(key("cli2"), n={"N": "2"})


# ---- TransactWriteItems and TransactGetItems -------------------------------


def test_transact_write_all_or_nothing(ddb):
    """When one action's condition fails, none of the transaction's actions
    happen and the answer is TransactionCanceledException whose message
    lists a reason per action and whose CancellationReasons say Code None
    or ConditionalCheckFailed (with the item when the action asked for
    ReturnValuesOnConditionCheckFailure ALL_OLD); an update that fails on
    the item as it is cancels with ValidationError and UpdateItem's
    message; when every condition holds, every action happens."""
    a = table(ddb)
    b = table(ddb, None)
    ddb.put_item(TableName=a, Item=dict(key("t", 1), v={"N": "1"}))
    ddb.put_item(TableName=b, Item=dict(key("gone"), s={"S": "text"}))
    one = {":one": {"N": "1"}}
    actions = [
        {"Put": {"TableName": a, "Item": dict(key("t", 2), v={"N": "2"})}},
        {"ConditionCheck": {"TableName": a, "Key": key("t", 1), "ConditionExpression": "v = :two",
                            "ExpressionAttributeValues": {":two": {"N": "2"}}}},
        {"Delete": {"TableName": b, "Key": key("gone")}},
    ]
    code, msg, r = error(ddb.transact_write_items, TransactItems=actions)
    assert code == "TransactionCanceledException"
    assert msg == ("Transaction cancelled, please refer cancellation reasons for specific "
                   "reasons [None, ConditionalCheckFailed, None]")
    assert r["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
        {"Code": "None"}]
    assert get(ddb, a, key("t", 2)) is None and get(ddb, b, key("gone")) is not None
    actions[1]["ConditionCheck"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    actions[2] = {"Update": {"TableName": b, "Key": key("gone"),
                             "UpdateExpression": "SET s = s + :one",
                             "ExpressionAttributeValues": one}}
    code, msg, r = error(ddb.transact_write_items, TransactItems=actions)
    assert msg.endswith("[None, ConditionalCheckFailed, ValidationError]")
    reasons = r["CancellationReasons"]
    assert reasons[1]["Item"] == dict(key("t", 1), v={"N": "1"})
    assert reasons[2]["Code"] == "ValidationError"
    alone = error(ddb.update_item, **actions[2]["Update"])
    assert alone[0] == "ValidationException" and reasons[2]["Message"] == alone[1]
    assert get(ddb, a, key("t", 2)) is None
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": a, "Item": dict(key("t", 2), v={"N": "2"}),
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": a, "Key": key("t", 1), "UpdateExpression": "SET v = v + :one",
                    "ConditionExpression": "v = :one", "ExpressionAttributeValues": one}},
        {"Delete": {"TableName": b, "Key": key("gone")}},
        {"ConditionCheck": {"TableName": b, "Key": key("never"),
                            "ConditionExpression": "attribute_not_exists(pk)"}},
    ])
    assert get(ddb, a, key("t", 2)) == dict(key("t", 2), v={"N": "2"})
    assert get(ddb, a, key("t", 1)) == dict(key("t", 1), v={"N": "2"})
    assert get(ddb, b, key("gone")) is None


def test_client_request_token_is_idempotent(ddb):
    """A TransactWriteItems with a ClientRequestToken, sent again with the
    same actions (their members in any order), succeeds without applying
    them twice; the token with other actions is
    IdempotentParameterMismatchException; another token applies them
    again."""
    a = table(ddb, None)
    add = {"TableName": a, "Key": key("counter"), "UpdateExpression": "ADD n :one",
           "ExpressionAttributeValues": {":one": {"N": "1"}}}
    token = unique_name("token")
    ddb.transact_write_items(TransactItems=[{"Update": add}], ClientRequestToken=token)
    reordered = dict(reversed(list(add.items())))
    ddb.transact_write_items(TransactItems=[{"Update": reordered}], ClientRequestToken=token)
    assert get(ddb, a, key("counter"))["n"] == {"N": "1"}
    other = dict(add, ExpressionAttributeValues={":one": {"N": "5"}})
    code, _, _ = error(ddb.transact_write_items, TransactItems=[{"Update": other}],
                       ClientRequestToken=token)
    assert code == "IdempotentParameterMismatchException"
    ddb.transact_write_items(TransactItems=[{"Update": add}],
                             ClientRequestToken=unique_name("token"))
    assert get(ddb, a, key("counter"))["n"] == {"N": "2"}


def test_one_operation_per_item(ddb):
    """Two actions of a transaction on one item (a number key written two
    ways included) are ValidationException "Transaction request cannot
    include multiple operations on one item", in TransactWriteItems and
    TransactGetItems; an element with two actions is ValidationException
    too; nothing is written."""
    a = table(ddb)
    multiple = "Transaction request cannot include multiple operations on one item"
    code, msg, _ = error(ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": a, "Item": key("m", 1)}},
        {"ConditionCheck": {"TableName": a, "Key": key("m", "1.0"),
                            "ConditionExpression": "attribute_not_exists(pk)"}}])
    assert (code, msg) == ("ValidationException", multiple)
    code, msg, _ = error(ddb.transact_get_items, TransactItems=[
        {"Get": {"TableName": a, "Key": key("m", 1)}},
        {"Get": {"TableName": a, "Key": key("m", 1)}}])
    assert (code, msg) == ("ValidationException", multiple)
    code, msg, _ = error(ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": a, "Item": key("m", 2)},
         "Delete": {"TableName": a, "Key": key("m", 3)}}])
    assert code == "ValidationException"
    assert msg == "TransactItems can only contain one of Check, Put, Update or Delete"
    assert get(ddb, a, key("m", 1)) is None and get(ddb, a, key("m", 2)) is None


def test_transact_get(ddb):
    """TransactGetItems answers one response per Get, in order: the item
    (projected by its ProjectionExpression), or an empty response for an
    item that does not exist; a table that does not exist is
    ResourceNotFoundException."""
    a = table(ddb)
    b = table(ddb, None)
    ddb.put_item(TableName=a, Item=dict(key("g", 1), v={"N": "1"}, w={"S": "w"}))
    ddb.put_item(TableName=b, Item=dict(key("g"), m={"M": {"x": {"S": "y"}, "z": {"N": "0"}}}))
    out = ddb.transact_get_items(TransactItems=[
        {"Get": {"TableName": a, "Key": key("g", 1)}},
        {"Get": {"TableName": a, "Key": key("g", 2)}},
        {"Get": {"TableName": b, "Key": key("g"), "ProjectionExpression": "#m.x",
                 "ExpressionAttributeNames": {"#m": "m"}}},
    ])
    assert out["Responses"] == [
        {"Item": dict(key("g", 1), v={"N": "1"}, w={"S": "w"})},
        {},
        {"Item": {"m": {"M": {"x": {"S": "y"}}}}},
    ]
    code, msg, _ = error(ddb.transact_get_items, TransactItems=[
        {"Get": {"TableName": unique_name("none"), "Key": key("g")}}])
    assert (code, msg) == ("ResourceNotFoundException", "Requested resource not found")


def test_document_client_round_trip(ddb, server):
    """The DocumentClient of @aws-sdk/lib-dynamodb, which most Node handlers
    use, writes and reads plain JavaScript values with BatchWrite,
    BatchGet, TransactWrite and TransactGet; a cancelled TransactWrite is
    TransactionCanceledException with its CancellationReasons."""
    a = table(ddb, "S")
    out = js_calls(server, "@aws-sdk/lib-dynamodb", [
        {"command": "BatchWrite", "input": {"RequestItems": {a: [
            {"PutRequest": {"Item": {"pk": "doc", "sk": "1", "n": 1, "tags": ["a", "b"]}}},
            {"PutRequest": {"Item": {"pk": "doc", "sk": "2", "nested": {"x": True}}}}]}}},
        {"command": "BatchGet", "input": {"RequestItems": {a: {
            "Keys": [{"pk": "doc", "sk": "1"}, {"pk": "doc", "sk": "2"}]}}}},
        {"command": "TransactWrite", "input": {"TransactItems": [
            {"Update": {"TableName": a, "Key": {"pk": "doc", "sk": "1"},
                        "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": 1}}},
            {"Delete": {"TableName": a, "Key": {"pk": "doc", "sk": "2"},
                        "ConditionExpression": "attribute_exists(nested)"}}]}},
        {"command": "TransactGet", "input": {"TransactItems": [
            {"Get": {"TableName": a, "Key": {"pk": "doc", "sk": "1"}}},
            {"Get": {"TableName": a, "Key": {"pk": "doc", "sk": "2"}}}]}},
        {"command": "TransactWrite", "input": {"TransactItems": [
            {"ConditionCheck": {"TableName": a, "Key": {"pk": "doc", "sk": "1"},
                                "ConditionExpression": "n = :zero",
                                "ExpressionAttributeValues": {":zero": 0}}}]}},
    ])
    assert all("ok" in o for o in out[:4]), out
    assert out[0]["ok"]["UnprocessedItems"] == {}
    got = sorted(out[1]["ok"]["Responses"][a], key=lambda i: i["sk"])
    assert got == [{"pk": "doc", "sk": "1", "n": 1, "tags": ["a", "b"]},
                   {"pk": "doc", "sk": "2", "nested": {"x": True}}]
    assert out[3]["ok"]["Responses"] == [
        {"Item": {"pk": "doc", "sk": "1", "n": 2, "tags": ["a", "b"]}}, {}]
    err = out[4]["error"]
    assert err["name"] == "TransactionCanceledException"
    assert err["cancellationReasons"] == [{"Code": "ConditionalCheckFailed",
                                           "Message": "The conditional request failed"}]


# ---- stream records ----------------------------------------------------------


def test_stream_records_of_batches_and_transactions(ddb, server):
    """Writes through BatchWriteItem and TransactWriteItems each make their
    stream record (INSERT, MODIFY, REMOVE with the old and new images); a
    cancelled transaction and a refused batch make none."""
    a = table(ddb, StreamSpecification={"StreamEnabled": True,
                                        "StreamViewType": "NEW_AND_OLD_IMAGES"})
    arn = ddb.describe_table(TableName=a)["Table"]["LatestStreamArn"]
    ddb.batch_write_item(RequestItems={a: [put(dict(key("s", 1), v={"N": "1"})),
                                           put(dict(key("s", 2), v={"N": "2"}))]})
    ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": a, "Key": key("s", 1), "UpdateExpression": "SET v = :ten",
                    "ExpressionAttributeValues": {":ten": {"N": "10"}}}},
        {"Delete": {"TableName": a, "Key": key("s", 2)}},
        {"Put": {"TableName": a, "Item": dict(key("s", 3), v={"N": "3"})}},
    ])
    code, _, _ = error(ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": a, "Item": dict(key("s", 4), v={"N": "4"})}},
        {"Delete": {"TableName": a, "Key": key("s", 3), "ConditionExpression": "v = :no",
                    "ExpressionAttributeValues": {":no": {"N": "0"}}}}])
    assert code == "TransactionCanceledException"
    code, _, _ = error(ddb.batch_write_item, RequestItems={
        a: [put(dict(key("s", 5))), put({"pk": {"S": "s"}})]})
    assert code == "ValidationException"
    recs = read_all(client("dynamodbstreams", server.endpoint), arn)
    got = [(r["eventName"], r["dynamodb"]["Keys"]["sk"]["N"],
            r["dynamodb"].get("OldImage", {}).get("v", {}).get("N"),
            r["dynamodb"].get("NewImage", {}).get("v", {}).get("N")) for r in recs]
    assert got == [("INSERT", "1", None, "1"), ("INSERT", "2", None, "2"),
                   ("MODIFY", "1", "1", "10"), ("REMOVE", "2", "2", None),
                   ("INSERT", "3", None, "3")]
