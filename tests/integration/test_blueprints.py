"""The data blueprints (`sluice blueprint deploy`, src/blueprint): validate and
convert as functions, driven with boto3 and the aws CLI; their Parquet read
back by an independent reader (hyparquet); S3 notifications, the catalog,
rejected rows, a failure alert through an async destination, and a
conversion killed midway by kill -9."""
import json
import os
import subprocess
import zipfile

import pytest

from conftest import (ROOT, SLUICE_PLAIN, Server, aws_cli, blueprint_output, client,
                      unique_name, wait_until)

NODE_DIR = os.path.join(ROOT, "tests", "node")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("blueprints") / "data")).start()
    yield s
    assert s.stop() == 0, s.logs()


@pytest.fixture(scope="module")
def s3(srv):
    return client("s3", srv.endpoint)


def deploy(srv, name, *args, binary=SLUICE_PLAIN):
    p = subprocess.run([binary, "blueprint", "deploy", name, "--endpoint", srv.endpoint, *args],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def invoke(srv, name, event):
    lam = client("lambda", srv.endpoint)
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    body = json.loads(r["Payload"].read())
    return r.get("FunctionError"), body


def get(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def hyparquet(data, tmp_path):
    path = tmp_path / f"f{len(list(tmp_path.iterdir()))}.parquet"
    path.write_bytes(data)
    p = subprocess.run(["/usr/bin/node", "parquet_check.mjs", "read", str(path)],
                       capture_output=True, text=True, cwd=NODE_DIR, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def buckets(s3, *names):
    for n in names:
        s3.create_bucket(Bucket=n)


ORDERS_CSV = (
    "id,customer,country,amount,placed,note\n"
    '1,Zoë,FR,10.50,2024-01-02,"quoted, with comma"\n'
    '2,Bob,DE,3,2024-01-03,"two\nlines"\n'
    "3,Ann,FR,7.25,2024-02-01,\n"
    "x4,Bad,FR,1,2024-02-02,not an id\n"
    "5,Eve,DE,-2,2024-02-30,bad date\n"
)
ORDERS_SCHEMA = "id:bigint!,customer:string,country:string,amount:decimal(10,2),placed:date,note:string"


def test_convert_partitioned_with_catalog(srv, s3, tmp_path):
    """CSV (quotes, embedded newlines, unicode) to Parquet partitioned by
    country; rows that do not convert go to rejected/ with the reason; the
    partitions reach the catalog; hyparquet reads what was written."""
    raw, cur = unique_name("raw"), unique_name("curated")
    buckets(s3, raw, cur)
    s3.put_object(Bucket=raw, Key="in/orders.csv", Body=ORDERS_CSV.encode())
    fn = unique_name("convert")
    deploy(srv, fn, "--steps", "convert", "--output", f"s3://{cur}/orders/",
           "--schema", ORDERS_SCHEMA, "--partition-by", "country",
           "--catalog-table", f"{fn}_db.orders")
    err, out = invoke(srv, fn, {"bucket": raw, "key": "in/orders.csv"})
    assert err is None, out
    o = out["objects"][0]
    assert (o["rows"], o["valid"], o["rejected"]) == (5, 3, 2)
    name = blueprint_output("in/orders.csv", "parquet")
    assert sorted(x["uri"] for x in o["outputs"]) == [
        f"s3://{cur}/orders/country=DE/{name}", f"s3://{cur}/orders/country=FR/{name}"]
    fr = hyparquet(get(s3, cur, f"orders/country=FR/{name}"), tmp_path)
    assert fr == [
        {"id": "1", "customer": "Zoë", "amount": 10.5, "placed": "2024-01-02T00:00:00.000Z",
         "note": "quoted, with comma"},
        {"id": "3", "customer": "Ann", "amount": 7.25, "placed": "2024-02-01T00:00:00.000Z",
         "note": None}]
    de = hyparquet(get(s3, cur, f"orders/country=DE/{name}"), tmp_path)
    assert de[0]["note"] == "two\nlines"
    rejected = [json.loads(x) for x in get(s3, raw, "rejected/in/orders.csv.rejected.jsonl")
                .decode().splitlines()]
    assert [r["line"] for r in rejected] == [6, 7]
    assert "id" in rejected[0]["reason"] and rejected[0]["record"]["id"] == "x4"
    assert "placed" in rejected[1]["reason"]
    glue = client("glue", srv.endpoint)
    t = glue.get_table(DatabaseName=f"{fn}_db", Name="orders")["Table"]
    assert [c["Name"] for c in t["StorageDescriptor"]["Columns"]] == [
        "id", "customer", "amount", "placed", "note"]
    assert t["PartitionKeys"] == [{"Name": "country", "Type": "string"}]
    parts = glue.get_partitions(DatabaseName=f"{fn}_db", TableName="orders")["Partitions"]
    assert sorted(p["Values"] for p in parts) == [["DE"], ["FR"]]
    assert sorted(p["StorageDescriptor"]["Location"] for p in parts) == [
        f"s3://{cur}/orders/country=DE/", f"s3://{cur}/orders/country=FR/"]
    # Again: the same keys, the same partitions (nothing duplicated).
    err, out = invoke(srv, fn, {"bucket": raw, "key": "in/orders.csv"})
    assert err is None and out["valid"] == 3
    assert len(glue.get_partitions(DatabaseName=f"{fn}_db", TableName="orders")["Partitions"]) == 2


JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
        "tier": {"enum": ["gold", "silver"]},
        "score": {"type": "number", "exclusiveMaximum": 100},
        "joined": {"type": "string", "format": "date"},
        "seen": {"type": "string", "format": "date-time"},
        "name": {"type": "string", "minLength": 2, "maxLength": 5},
    },
    "required": ["id", "email"],
    "additionalProperties": False,
}
GOOD = {"id": 1, "email": "a@b", "tier": "gold", "score": 99.5, "joined": "2024-02-29",
        "seen": "2024-01-01T10:00:00Z", "name": "Zoë"}
BAD = [  # (row, what the reason names)
    ({"id": 0, "email": "a@b"}, "minimum"),
    ({"id": 2, "email": "nope"}, "pattern"),
    ({"id": 3, "email": "a@b", "tier": "bronze"}, "tier"),
    ({"id": 4, "email": "a@b", "score": 100}, "score"),
    ({"id": 5, "email": "a@b", "joined": "2023-02-29"}, "joined"),
    ({"id": 6, "email": "a@b", "seen": "2024-01-01T10:00:00"}, "seen"),
    ({"id": 7, "email": "a@b", "name": "x"}, "name"),
    ({"id": 8}, "email"),
    ({"id": 9, "email": "a@b", "other": 1}, "other"),
    ({"id": "10", "email": "a@b"}, "id"),
]


def test_validate_json_schema_jsonl_and_csv(srv, s3):
    """validate alone with a JSON Schema: every rule passing and failing, on
    JSON Lines and on CSV; valid rows go on in the input's format."""
    raw, ok = unique_name("vraw"), unique_name("valid")
    buckets(s3, raw, ok)
    lines = [GOOD] + [b for b, _ in BAD]
    s3.put_object(Bucket=raw, Key="u/users.jsonl",
                  Body="".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode())
    fn = unique_name("validate")
    deploy(srv, fn, "--steps", "validate", "--json-schema", json.dumps(JSON_SCHEMA),
           "--output", f"s3://{ok}/users/", "--rejected", f"s3://{raw}/bad/")
    err, out = invoke(srv, fn, {"bucket": raw, "key": "u/users.jsonl"})
    assert err is None, out
    assert (out["rows"], out["valid"], out["rejected"]) == (len(lines), 1, len(BAD))
    assert [json.loads(x) for x in get(s3, ok, "users/" + blueprint_output(
        "u/users.jsonl", "jsonl")).decode().splitlines()] == [GOOD]
    rejected = [json.loads(x) for x in
                get(s3, raw, "bad/u/users.jsonl.rejected.jsonl").decode().splitlines()]
    assert len(rejected) == len(BAD)
    for r, (row, word) in zip(rejected, BAD):
        assert r["record"] == row and word in r["reason"], r

    csv = "id,email,tier,score\n1,a@b,gold,5\n0,a@b,gold,5\n2,a@b,,\n3,,silver,1\n"
    s3.put_object(Bucket=raw, Key="u/users.csv", Body=csv.encode())
    err, out = invoke(srv, fn, {"bucket": raw, "key": "u/users.csv"})
    assert err is None, out
    assert (out["valid"], out["rejected"]) == (2, 2)
    assert get(s3, ok, "users/" + blueprint_output("u/users.csv", "csv")).decode() == \
        "id,email,tier,score\n1,a@b,gold,5\n2,a@b,,\n"
    reasons = [json.loads(x)["reason"] for x in
               get(s3, raw, "bad/u/users.csv.rejected.jsonl").decode().splitlines()]
    assert "minimum" in reasons[0] and "email" in reasons[1]


def test_inferred_json_and_parquet_back_to_jsonl(srv, s3, tmp_path):
    """convert without a schema (inferred from the rows), JSON Lines in; then
    the Parquet written converted back to JSON Lines by a second function."""
    raw, cur, back = unique_name("iraw"), unique_name("icur"), unique_name("iback")
    buckets(s3, raw, cur, back)
    rows = [{"event": "click", "n": i, "ratio": i / 4, "ok": i % 2 == 0,
             "at": f"2024-05-01T10:00:{i:02d}Z", "meta": {"k": i}} for i in range(40)]
    s3.put_object(Bucket=raw, Key="e/events.jsonl",
                  Body="".join(json.dumps(r) + "\n" for r in rows).encode())
    fn = unique_name("infer")
    deploy(srv, fn, "--steps", "convert", "--output", f"s3://{cur}/events/", "--codec", "zstd")
    err, out = invoke(srv, fn, {"bucket": raw, "key": "e/events.jsonl"})
    assert err is None and out["valid"] == 40, out
    pq = "events/" + blueprint_output("e/events.jsonl", "parquet")
    got = hyparquet(get(s3, cur, pq), tmp_path)
    assert got[3] == {"event": "click", "n": "3", "ratio": 0.75, "ok": False,
                      "at": "2024-05-01T10:00:03.000Z", "meta": '{"k":3}'}
    fn2 = unique_name("unparquet")
    deploy(srv, fn2, "--steps", "convert", "--output", f"s3://{back}/events/")
    err, out = invoke(srv, fn2, {"bucket": cur, "key": pq})
    assert err is None and out["valid"] == 40, out
    lines = [json.loads(x) for x in get(s3, back, "events/" + blueprint_output(
        pq, "jsonl")).decode().splitlines()]
    assert lines[3] == {"event": "click", "n": 3, "ratio": 0.75, "ok": False,
                        "at": "2024-05-01T10:00:03.000000Z", "meta": '{"k":3}'}


def test_config_errors_and_the_cli_zip(srv, s3, tmp_path):
    """A bad configuration fails the function's init with the variable named;
    the zip the command writes deploys with the aws CLI."""
    fn = unique_name("badcfg")
    deploy(srv, fn, "--steps", "convert")  # no --output
    err, out = invoke(srv, fn, {"bucket": "b", "key": "k"})
    assert err and out["errorType"] == "Blueprint.Config" and "OUTPUT" in out["errorMessage"]
    z = tmp_path / "bp.zip"
    p = subprocess.run([SLUICE_PLAIN, "blueprint", "deploy", "x", "--steps", "validate",
                        "--zip", str(z)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    with zipfile.ZipFile(z) as f:
        info = f.getinfo("bootstrap")
        assert (info.external_attr >> 16) & 0o111
    raw = unique_name("craw")
    buckets(s3, raw)
    s3.put_object(Bucket=raw, Key="a.csv", Body=b"id,name\n1,a\nz,b\n")
    name = unique_name("clivalidate")
    aws_cli(srv.endpoint, "lambda", "create-function", "--function-name", name,
            "--runtime", "provided.al2", "--handler", "validate",
            "--role", "arn:aws:iam::000000000000:role/r", "--zip-file", f"fileb://{z}",
            "--environment", json.dumps({"Variables": {"SCHEMA": "id:bigint,name:string"}}))
    err, out = invoke(srv, name, {"bucket": raw, "key": "a.csv"})
    assert err is None and (out["valid"], out["rejected"]) == (1, 1), out
    err, out = invoke(srv, name, {"hello": 1})
    assert out["errorType"] == "Blueprint.NoObject"


def test_s3_trigger_and_failure_alert(srv, s3):
    """An upload triggers validate+convert through an S3 notification; a file
    with too many rejected rows fails the invocation, whose OnFailure
    destination (an SNS topic) alerts a queue subscribed to it."""
    raw, cur = unique_name("traw"), unique_name("tcur")
    buckets(s3, raw, cur)
    fn = unique_name("pipeline")
    arn = deploy(srv, fn, "--steps", "validate+convert", "--output", f"s3://{cur}/o/",
                 "--schema", ORDERS_SCHEMA, "--max-rejected", "1")
    sns, sqs, lam = (client(x, srv.endpoint) for x in ("sns", "sqs", "lambda"))
    topic = sns.create_topic(Name=unique_name("alerts"))["TopicArn"]
    q = sqs.create_queue(QueueName=unique_name("alerts-q"))["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                  Attributes={"RawMessageDelivery": "true"})
    lam.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": topic}})
    lam.add_permission(FunctionName=fn, StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{raw}")
    s3.put_bucket_notification_configuration(Bucket=raw, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"],
                                          "Filter": {"Key": {"FilterRules": [
                                              {"Name": "prefix", "Value": "in/"}]}}}]})
    s3.put_object(Bucket=raw, Key="in/good+day.csv",
                  Body=b"id,customer,country,amount,placed,note\n1,a,FR,1.5,2024-01-01,\n")
    wait_until(lambda: "Contents" in s3.list_objects_v2(Bucket=cur, Prefix="o/"),
               what="the converted object")
    assert s3.list_objects_v2(Bucket=cur)["Contents"][0]["Key"] == \
        "o/" + blueprint_output("in/good+day.csv", "parquet")
    s3.put_object(Bucket=raw, Key="in/bad.csv", Body=ORDERS_CSV.encode())
    msgs = []

    def alert():
        msgs.extend(sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1).get("Messages", []))
        return msgs
    wait_until(alert, timeout=30, what="the failure alert")
    record = json.loads(msgs[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["responsePayload"]["errorType"] == "Blueprint.TooManyRejected"
    assert "in/bad.csv" in json.dumps(record["requestPayload"])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=cur)["Contents"]]
    assert keys == ["o/" + blueprint_output("in/good+day.csv", "parquet")]  # nothing of bad.csv
    assert s3.head_object(Bucket=raw, Key="rejected/in/bad.csv.rejected.jsonl")


def test_kill9_midway_leaves_no_partial_object(fresh_server, tmp_path):
    """A conversion of a large CSV killed midway by kill -9 leaves no object
    (partial or not) under the output; after the restart the async
    invocation runs again to completion."""
    s = fresh_server().start()
    s3, lam = client("s3", s.endpoint), client("lambda", s.endpoint)
    buckets(s3, "bigraw", "bigcur")
    rows = 3_000_000  # (about 80 MB: a conversion of a second or more)
    body = "id,name,amount\n" + "".join(f"{i},name-{i % 1000},{i % 977}.25\n"
                                        for i in range(rows))
    s3.put_object(Bucket="bigraw", Key="big.csv", Body=body.encode())
    del body
    deploy(s, "bigconv", "--steps", "convert", "--output", "s3://bigcur/out/",
           "--schema", "id:bigint,name:string,amount:double")
    lam.invoke(FunctionName="bigconv", InvocationType="Event",
               Payload=json.dumps({"bucket": "bigraw", "key": "big.csv"}).encode())
    logs = client("logs", s.endpoint)

    def started():
        try:
            return any("START" in e["message"] for e in logs.filter_log_events(
                logGroupName="/aws/lambda/bigconv")["events"])
        except Exception:
            return False
    wait_until(started, what="the conversion to start")
    # Midway: nothing is under the output yet.
    assert "Contents" not in s3.list_objects_v2(Bucket="bigcur")
    s.kill9()
    s2 = Server(s.data_dir).start()
    try:
        s3 = client("s3", s2.endpoint)
        # Whatever is there is whole (the first thing seen after the restart).
        for o in s3.list_objects_v2(Bucket="bigcur").get("Contents", []):
            assert o["Key"] == "out/" + blueprint_output("big.csv", "parquet")
        wait_until(lambda: "Contents" in s3.list_objects_v2(Bucket="bigcur"), timeout=120,
                   what="the conversion to run again")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="bigcur")["Contents"]]
        assert keys == ["out/" + blueprint_output("big.csv", "parquet")]
        data = get(s3, "bigcur", keys[0])
        path = tmp_path / "big.parquet"
        path.write_bytes(data)
        p = subprocess.run([SLUICE_PLAIN, "parquet", "read", str(path)], capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        got = p.stdout.splitlines()
        assert len(got) == rows
        assert json.loads(got[-1]) == {"id": rows - 1, "name": f"name-{(rows - 1) % 1000}",
                                       "amount": (rows - 1) % 977 + 0.25}
    finally:
        assert s2.stop() == 0, s2.logs()


def test_json_array_and_tsv_by_extension(srv, s3, tmp_path):
    """A .json key that holds an array is read as one; a .tsv key is
    tab-separated; both convert with columns inferred."""
    raw, cur = unique_name("xraw"), unique_name("xcur")
    buckets(s3, raw, cur)
    s3.put_object(Bucket=raw, Key="a/items.json",
                  Body=json.dumps([{"k": "a", "v": 1}, {"k": "b", "v": 2.5}]).encode())
    s3.put_object(Bucket=raw, Key="a/items.tsv", Body=b"k\tv\nc\t3\nd\t4\n")
    fn = unique_name("ext")
    deploy(srv, fn, "--steps", "convert", "--output", f"s3://{cur}/x/")
    err, out = invoke(srv, fn, {"bucket": raw, "key": "a/items.json"})
    assert err is None and out["valid"] == 2, out
    assert hyparquet(get(s3, cur, "x/" + blueprint_output("a/items.json", "parquet")),
                     tmp_path) == [{"k": "a", "v": 1.0}, {"k": "b", "v": 2.5}]
    err, out = invoke(srv, fn, {"bucket": raw, "key": "a/items.tsv"})
    assert err is None and out["valid"] == 2, out
    assert hyparquet(get(s3, cur, "x/" + blueprint_output("a/items.tsv", "parquet")),
                     tmp_path) == [{"k": "c", "v": "3"}, {"k": "d", "v": "4"}]


def test_catalog_table_columns_validate_and_convert(srv, s3, tmp_path):
    """With only CATALOG_TABLE, a Glue table's columns are both the rules and
    what convert writes; the counts reach the log as EMF metrics."""
    raw, cur = unique_name("graw"), unique_name("gcur")
    buckets(s3, raw, cur)
    glue = client("glue", srv.endpoint)
    db = unique_name("gdb")
    glue.create_database(DatabaseInput={"Name": db})
    glue.create_table(DatabaseName=db, TableInput={
        "Name": "sales", "PartitionKeys": [{"Name": "region", "Type": "string"}],
        "StorageDescriptor": {"Location": f"s3://{cur}/sales/", "Columns": [
            {"Name": "sku", "Type": "string"}, {"Name": "qty", "Type": "int"},
            {"Name": "price", "Type": "decimal(6,2)"}, {"Name": "day", "Type": "date"}]}})
    s3.put_object(Bucket=raw, Key="s.csv", Body=(
        "SKU,qty,price,day,region\n"
        "a1,2,9.99,2024-01-01,eu\n"
        "a2,x,1.00,2024-01-01,eu\n"          # qty: not an int
        "a3,1,12345.00,2024-01-02,us\n"      # price: past decimal(6,2)
        "a4,3,0.50,2024-01-03,us\n").encode())
    fn = unique_name("gluefn")
    deploy(srv, fn, "--steps", "validate+convert", "--catalog-table", f"{db}.sales",
           "--output", f"s3://{cur}/sales/", "--partition-by", "region")
    err, out = invoke(srv, fn, {"bucket": raw, "key": "s.csv"})
    assert err is None, out
    assert (out["valid"], out["rejected"]) == (2, 2)
    reasons = [json.loads(x)["reason"] for x in
               get(s3, raw, "rejected/s.csv.rejected.jsonl").decode().splitlines()]
    assert reasons[0].startswith("qty") and reasons[1].startswith("price"), reasons
    name = blueprint_output("s.csv", "parquet")
    assert hyparquet(get(s3, cur, f"sales/region=us/{name}"), tmp_path) == [
        {"sku": "a4", "qty": 3, "price": 0.5, "day": "2024-01-03T00:00:00.000Z"}]
    parts = glue.get_partitions(DatabaseName=db, TableName="sales")["Partitions"]
    assert sorted(p["Values"] for p in parts) == [["eu"], ["us"]]
    logs = client("logs", srv.endpoint)

    def metrics():
        for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{fn}")["events"]:
            if e["message"].startswith('{"_aws"'):
                return json.loads(e["message"])
        return None
    emf = wait_until(metrics, what="the metrics line")
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Sluice/Blueprints"
    assert (emf["Rows"], emf["RowsValid"], emf["RowsRejected"]) == (4, 2, 2)


def test_inferred_columns_reject_what_they_lack(srv, s3, tmp_path):
    """Columns inferred from the first 4 MiB: a later JSON row with a member
    they lack, or a value that does not fit them, is rejected with the
    reason rather than written without it."""
    raw, cur = unique_name("lraw"), unique_name("lcur")
    buckets(s3, raw, cur)
    rows = [{"id": i, "name": f"row-{i:06d}-" + "x" * 60} for i in range(60000)]
    rows.append({"id": 60000, "name": "late", "extra": True})
    rows.append({"id": "not a number", "name": "bad"})
    s3.put_object(Bucket=raw, Key="big.jsonl",
                  Body="".join(json.dumps(r) + "\n" for r in rows).encode())
    fn = unique_name("late")
    deploy(srv, fn, "--steps", "convert", "--output", f"s3://{cur}/o/")
    err, out = invoke(srv, fn, {"bucket": raw, "key": "big.jsonl"})
    assert err is None, out
    assert (out["valid"], out["rejected"]) == (60000, 2), out
    bad = [json.loads(x) for x in get(s3, raw, "rejected/big.jsonl.rejected.jsonl")
           .decode().splitlines()]
    assert bad[0]["reason"].startswith("extra: not among the columns inferred")
    assert bad[1]["reason"].startswith("column id")
