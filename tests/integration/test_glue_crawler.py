"""Glue crawlers through boto3 and the aws CLI: the API and its errors, a
crawl of a prefix of CSV, JSON Lines and Parquet files with Hive-style
partitions checked through GetTable and GetPartitions, a recrawl that
updates and deletes as the SchemaChangePolicy says, metrics, the crawl's
log in CloudWatch Logs, a cron schedule, and a kill -9 in the middle."""
import json
import os
import subprocess
import tempfile

import pytest

from conftest import (ROOT, SLUICE, Server, aws_cli, client, client_error, py_zip, unique_name,
                      wait_until)

ROLE = "arn:aws:iam::000000000000:role/crawler"
NODE_DIR = os.path.join(ROOT, "tests", "node")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("crawler") / "data")).start()
    yield s
    assert s.stop() == 0, s.logs()


@pytest.fixture(scope="module")
def glue(srv):
    return client("glue", srv.endpoint)


@pytest.fixture(scope="module")
def s3(srv):
    return client("s3", srv.endpoint)


def parquet_bytes(schema, rows):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.parquet")
        subprocess.run([SLUICE, "parquet", "write", "--schema", schema, out],
                       input="".join(json.dumps(r) + "\n" for r in rows).encode(), check=True)
        with open(out, "rb") as f:
            return f.read()


def finished(glue, name, timeout=30):
    """The crawler once its run has ended (READY with a LastCrawl)."""
    out = {}

    def done():
        c = glue.get_crawler(Name=name)["Crawler"]
        out["c"] = c
        return c["State"] == "READY" and "LastCrawl" in c
    wait_until(done, timeout=timeout, what=f"crawler {name} to finish")
    return out["c"]


def crawl(glue, name, timeout=30):
    before = glue.get_crawler(Name=name)["Crawler"].get("LastCrawl", {}).get("MessagePrefix")
    glue.start_crawler(Name=name)
    out = {}

    def done():
        c = glue.get_crawler(Name=name)["Crawler"]
        out["c"] = c
        last = c.get("LastCrawl", {})
        return c["State"] == "READY" and last.get("MessagePrefix") not in (None, before)
    wait_until(done, timeout=timeout, what=f"crawler {name} to finish")
    return out["c"]


def columns(table):
    return [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]


def fill_lake(s3, bucket):
    s3.create_bucket(Bucket=bucket)
    put = lambda k, b: s3.put_object(Bucket=bucket, Key=k, Body=b)
    put("raw/orders/year=2024/month=01/a.csv",
        'id,customer,amount,placed,note\n1,ann,10.50,2024-01-02,"a, b"\n'
        '2,bob,3,2024-01-03,"two\nlines"\n')
    put("raw/orders/year=2024/month=02/b.csv",
        "id,customer,amount,placed,note\n3,cid,7.25,2024-02-01,x\n")
    put("raw/orders/_SUCCESS", b"")
    put("raw/events/dt=2024-05-01/e.jsonl",
        '{"event":"click","at":"2024-05-01T10:00:00Z","n":1,"ok":true}\n'
        '{"event":"view","at":"2024-05-01T10:00:01Z","n":2.5,"ok":false,"extra":{"a":1}}\n')
    put("raw/metrics/m1.parquet",
        parquet_bytes("host:string!,cpu:double,day:date,cores:int",
                      [{"host": "a", "cpu": 0.5, "day": "2024-05-01", "cores": 4}]))
    put("raw/metrics/notes.txt.tmp", b"")  # empty: not classified, skipped


def test_crawler_api(glue, srv):
    """Create, get (AWS's defaults), list, batch get, update, schedules, delete,
    and the errors."""
    name = unique_name("api")
    e = client_error(glue.create_crawler, Name=name, Role=ROLE, Targets={})
    assert e["Error"]["Code"] == "InvalidInputException"
    e = client_error(glue.create_crawler, Name=name, Role=ROLE,
                     Targets={"S3Targets": [{"Path": "s3://b/x"}]}, Schedule="rate(1 hour)")
    assert e["Error"]["Code"] == "InvalidInputException"
    e = client_error(glue.create_crawler, Name=name, Role=ROLE,
                     Targets={"S3Targets": [{"Path": "/local/x"}]})
    assert e["Error"]["Code"] == "InvalidInputException"
    glue.create_crawler(Name=name, Role=ROLE, DatabaseName="apidb",
                        Targets={"S3Targets": [{"Path": "s3://nowhere/x"}]},
                        Tags={"team": "data"})
    c = glue.get_crawler(Name=name)["Crawler"]
    assert c["State"] == "READY" and c["Version"] == 1 and c["DatabaseName"] == "apidb"
    assert c["SchemaChangePolicy"] == {"UpdateBehavior": "UPDATE_IN_DATABASE",
                                       "DeleteBehavior": "DEPRECATE_IN_DATABASE"}
    assert c["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_EVERYTHING"}
    assert "Schedule" not in c and "LastCrawl" not in c
    e = client_error(glue.create_crawler, Name=name, Role=ROLE,
                     Targets={"S3Targets": [{"Path": "s3://b/x"}]})
    assert e["Error"]["Code"] == "AlreadyExistsException"
    assert name in glue.list_crawlers()["CrawlerNames"]
    assert glue.list_crawlers(Tags={"team": "data"})["CrawlerNames"] == [name]
    assert glue.list_crawlers(Tags={"team": "other"})["CrawlerNames"] == []
    got = glue.batch_get_crawlers(CrawlerNames=[name, "missing-one"])
    assert [x["Name"] for x in got["Crawlers"]] == [name]
    assert got["CrawlersNotFound"] == ["missing-one"]
    assert name in [x["Name"] for x in glue.get_crawlers()["Crawlers"]]

    e = client_error(glue.start_crawler_schedule, CrawlerName=name)
    assert e["Error"]["Code"] == "NoScheduleException"
    glue.update_crawler(Name=name, Schedule="cron(15 12 * * ? *)", Description="d")
    c = glue.get_crawler(Name=name)["Crawler"]
    assert c["Version"] == 2 and c["Description"] == "d"
    assert c["Schedule"] == {"ScheduleExpression": "cron(15 12 * * ? *)", "State": "SCHEDULED"}
    e = client_error(glue.start_crawler_schedule, CrawlerName=name)
    assert e["Error"]["Code"] == "SchedulerRunningException"
    glue.stop_crawler_schedule(CrawlerName=name)
    assert glue.get_crawler(Name=name)["Crawler"]["Schedule"]["State"] == "NOT_SCHEDULED"
    e = client_error(glue.stop_crawler_schedule, CrawlerName=name)
    assert e["Error"]["Code"] == "SchedulerNotRunningException"
    glue.update_crawler_schedule(CrawlerName=name, Schedule="cron(0 1 * * ? *)")
    sch = glue.get_crawler(Name=name)["Crawler"]["Schedule"]
    assert sch == {"ScheduleExpression": "cron(0 1 * * ? *)", "State": "NOT_SCHEDULED"}
    e = client_error(glue.update_crawler_schedule, CrawlerName=name, Schedule="cron(99 * * * ? *)")
    assert e["Error"]["Code"] == "InvalidInputException"

    e = client_error(glue.stop_crawler, Name=name)
    assert e["Error"]["Code"] == "CrawlerNotRunningException"
    # A crawl of a bucket that does not exist succeeds with nothing made.
    c = crawl(glue, name)
    assert c["LastCrawl"]["Status"] == "SUCCEEDED", c
    m = glue.get_crawler_metrics(CrawlerNameList=[name])["CrawlerMetricsList"]
    assert m[0]["CrawlerName"] == name and m[0]["TablesCreated"] == 0

    out = json.loads(aws_cli(srv.endpoint, "glue", "get-crawler", "--name", name).stdout)
    assert out["Crawler"]["Name"] == name
    glue.delete_crawler(Name=name)
    for call in (glue.get_crawler, glue.delete_crawler, glue.start_crawler):
        e = client_error(call, Name=name)
        assert e["Error"]["Code"] == "EntityNotFoundException"


def test_crawl_csv_json_parquet_with_partitions(glue, s3, srv):
    """A crawl of a prefix with three folders of three formats: a table each,
    Hive partitions registered, types inferred; a recrawl that updates a
    changed table and deletes a vanished one; metrics and the crawl's log."""
    bucket = unique_name("lake")
    fill_lake(s3, bucket)
    name = unique_name("lake-crawler")
    glue.create_crawler(Name=name, Role=ROLE, DatabaseName="lake",
                        Targets={"S3Targets": [{"Path": f"s3://{bucket}/raw/",
                                                "Exclusions": ["**.tmp"]}]},
                        SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE",
                                            "DeleteBehavior": "DELETE_FROM_DATABASE"})
    c = crawl(glue, name)
    assert c["LastCrawl"]["Status"] == "SUCCEEDED", c
    assert c["LastCrawl"]["LogGroup"] == "/aws-glue/crawlers"
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName="lake")["TableList"]}
    assert sorted(tables) == ["events", "metrics", "orders"]

    orders = glue.get_table(DatabaseName="lake", Name="orders")["Table"]
    assert columns(orders) == [("id", "bigint"), ("customer", "string"), ("amount", "double"),
                               ("placed", "date"), ("note", "string")]
    assert orders["PartitionKeys"] == [{"Name": "year", "Type": "string"},
                                       {"Name": "month", "Type": "string"}]
    sd = orders["StorageDescriptor"]
    assert sd["Location"] == f"s3://{bucket}/raw/orders/"
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.serde2.OpenCSVSerde"
    assert orders["Parameters"]["classification"] == "csv"
    assert orders["Parameters"]["skip.header.line.count"] == "1"
    assert orders["Parameters"]["UPDATED_BY_CRAWLER"] == name
    parts = glue.get_partitions(DatabaseName="lake", TableName="orders")["Partitions"]
    assert sorted(p["Values"] for p in parts) == [["2024", "01"], ["2024", "02"]]
    p = [p for p in parts if p["Values"] == ["2024", "02"]][0]
    assert p["StorageDescriptor"]["Location"] == f"s3://{bucket}/raw/orders/year=2024/month=02/"
    sel = glue.get_partitions(DatabaseName="lake", TableName="orders",
                              Expression="month = '01'")["Partitions"]
    assert [p["Values"] for p in sel] == [["2024", "01"]]

    events = tables["events"]
    assert columns(events) == [("event", "string"), ("at", "timestamp"), ("n", "double"),
                               ("ok", "boolean"), ("extra", "string")]
    assert events["Parameters"]["classification"] == "json"
    assert events["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == \
        "org.openx.data.jsonserde.JsonSerDe"
    assert [p["Values"] for p in glue.get_partitions(
        DatabaseName="lake", TableName="events")["Partitions"]] == [["2024-05-01"]]
    assert [k["Name"] for k in events["PartitionKeys"]] == ["dt"]

    metrics = tables["metrics"]
    assert columns(metrics) == [("host", "string"), ("cpu", "double"), ("day", "date"),
                                ("cores", "int")]
    assert metrics["PartitionKeys"] == []
    assert metrics["StorageDescriptor"]["InputFormat"] == \
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"

    m = glue.get_crawler_metrics(CrawlerNameList=[name])["CrawlerMetricsList"][0]
    assert (m["TablesCreated"], m["TablesUpdated"], m["TablesDeleted"]) == (3, 0, 0)
    assert m["LastRuntimeSeconds"] >= 0 and not m["StillEstimating"]

    logs = client("logs", srv.endpoint)
    msgs = [e["message"] for e in logs.filter_log_events(
        logGroupName="/aws-glue/crawlers", logStreamNames=[name])["events"]]
    wait_until(lambda: any("orders" in x for x in [e["message"] for e in logs.filter_log_events(
        logGroupName="/aws-glue/crawlers", logStreamNames=[name])["events"]]),
        what="the crawl's log")

    # A new column in a new partition, and the events folder gone.
    s3.put_object(Bucket=bucket, Key="raw/orders/year=2024/month=03/c.csv",
                  Body="id,customer,amount,placed,note,channel\n4,dan,1.5,2024-03-01,y,web\n")
    s3.delete_object(Bucket=bucket, Key="raw/events/dt=2024-05-01/e.jsonl")
    c = crawl(glue, name)
    assert c["LastCrawl"]["Status"] == "SUCCEEDED", c
    m = glue.get_crawler_metrics(CrawlerNameList=[name])["CrawlerMetricsList"][0]
    assert (m["TablesCreated"], m["TablesUpdated"], m["TablesDeleted"]) == (0, 1, 1)
    orders = glue.get_table(DatabaseName="lake", Name="orders")["Table"]
    assert columns(orders)[-1] == ("channel", "string") and orders["VersionId"] == "1"
    assert len(glue.get_partitions(DatabaseName="lake", TableName="orders")["Partitions"]) == 3
    e = client_error(glue.get_table, DatabaseName="lake", Name="events")
    assert e["Error"]["Code"] == "EntityNotFoundException"
    del msgs


def test_schema_change_policy_log_and_deprecate(glue, s3):
    """UpdateBehavior LOG leaves a changed table; DEPRECATE_IN_DATABASE marks
    a vanished one; TablePrefix names the tables; alike folders make one
    table partitioned by partition_0."""
    bucket = unique_name("days")
    s3.create_bucket(Bucket=bucket)
    for day in ("2024-01-01", "2024-01-02"):
        s3.put_object(Bucket=bucket, Key=f"clicks/{day}/part.jsonl",
                      Body='{"user":"u1","n":3}\n')
    name = unique_name("days-crawler")
    glue.create_crawler(Name=name, Role=ROLE, DatabaseName="days", TablePrefix="t_",
                        Targets={"S3Targets": [{"Path": f"s3://{bucket}/clicks"}]},
                        SchemaChangePolicy={"UpdateBehavior": "LOG",
                                            "DeleteBehavior": "DEPRECATE_IN_DATABASE"})
    assert crawl(glue, name)["LastCrawl"]["Status"] == "SUCCEEDED"
    t = glue.get_table(DatabaseName="days", Name="t_clicks")["Table"]
    assert t["PartitionKeys"] == [{"Name": "partition_0", "Type": "string"}]
    assert columns(t) == [("user", "string"), ("n", "bigint")]
    parts = glue.get_partitions(DatabaseName="days", TableName="t_clicks")["Partitions"]
    assert sorted(p["Values"] for p in parts) == [["2024-01-01"], ["2024-01-02"]]
    assert sorted(p["StorageDescriptor"]["Location"] for p in parts) == [
        f"s3://{bucket}/clicks/2024-01-01/", f"s3://{bucket}/clicks/2024-01-02/"]

    s3.put_object(Bucket=bucket, Key="clicks/2024-01-03/part.jsonl",
                  Body='{"user":"u1","n":3,"extra":1}\n')
    assert crawl(glue, name)["LastCrawl"]["Status"] == "SUCCEEDED"
    t = glue.get_table(DatabaseName="days", Name="t_clicks")["Table"]
    assert columns(t) == [("user", "string"), ("n", "bigint")]  # LOG: unchanged
    for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
        s3.delete_object(Bucket=bucket, Key=f"clicks/{day}/part.jsonl")
    assert crawl(glue, name)["LastCrawl"]["Status"] == "SUCCEEDED"
    t = glue.get_table(DatabaseName="days", Name="t_clicks")["Table"]
    assert "DEPRECATED_BY_CRAWLER" in t["Parameters"]


def test_crawl_is_refused_while_running_and_targets_it_cannot_crawl(glue):
    name = unique_name("jdbc")
    glue.create_crawler(Name=name, Role=ROLE, DatabaseName="x",
                        Targets={"JdbcTargets": [{"ConnectionName": "c", "Path": "db/%"}]})
    c = crawl(glue, name)
    assert c["LastCrawl"]["Status"] == "FAILED"
    assert "JdbcTargets" in c["LastCrawl"]["ErrorMessage"]


def test_scheduled_crawler_runs(every_minute):
    """The crawler on cron(* * * * ? *) that the session's every-minute
    server made at its start has run by now, or does within a minute."""
    s, _, _ = every_minute
    glue = client("glue", s.endpoint)
    c = finished(glue, "every-minute-crawler", timeout=90)
    assert c["LastCrawl"]["Status"] == "SUCCEEDED", c
    assert c["Schedule"]["State"] == "SCHEDULED"
    t = glue.get_table(DatabaseName="scheduled", Name="ticks")["Table"]
    assert columns(t) == [("tick", "bigint")]


def test_kill9_during_crawl_runs_it_again(tmp_path):
    """A crawl cut by kill -9 leaves the crawler RUNNING in the store; the
    next start runs it again to its end."""
    data = str(tmp_path / "data")
    s = Server(data).start()
    try:
        glue, s3 = client("glue", s.endpoint), client("s3", s.endpoint)
        s3.create_bucket(Bucket="big")
        # Enough objects that the crawl is still under way when killed.
        body = "a,b\n" + "".join(f"{i},x{i}\n" for i in range(2000))
        for i in range(300):
            s3.put_object(Bucket="big", Key=f"t/f{i:04d}.csv", Body=body)
        glue.create_crawler(Name="big", Role=ROLE, DatabaseName="bigdb",
                            Targets={"S3Targets": [{"Path": "s3://big/t/"}]})
        glue.start_crawler(Name="big")
        s.kill9()
        s = Server(data).start()
        glue = client("glue", s.endpoint)
        c = finished(glue, "big", timeout=60)
        assert c["LastCrawl"]["Status"] == "SUCCEEDED", c
        t = glue.get_table(DatabaseName="bigdb", Name="t")["Table"]
        assert columns(t) == [("a", "bigint"), ("b", "string")]
        assert t["Parameters"]["objectCount"] == "300"
    finally:
        assert s.stop() == 0, s.logs()


def test_javascript_sdk(srv, s3):
    """The current AWS SDK for JavaScript v3 (JSON 1.1, default checksums):
    a crawler made, run and read back, and its errors by name."""
    bucket = unique_name("jslake")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="t/a.jsonl", Body=b'{"x": 1, "y": "a"}\n')
    name = unique_name("js")
    calls = [
        {"command": "CreateCrawlerCommand", "input": {
            "Name": name, "Role": ROLE, "DatabaseName": "jsdb",
            "Targets": {"S3Targets": [{"Path": f"s3://{bucket}/t/"}]}}},
        {"command": "StartCrawlerCommand", "input": {"Name": name}},
        {"command": "GetCrawlerCommand", "input": {"Name": "no-such-crawler"}},
        {"command": "StopCrawlerCommand", "input": {"Name": "no-such-crawler"}},
    ]
    proc = subprocess.run(["/usr/bin/node", "sdk_calls.js", "@aws-sdk/client-glue", srv.endpoint],
                          input=json.dumps(calls), capture_output=True, text=True, cwd=NODE_DIR,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res[0]["status"] == 200 and res[1]["status"] == 200, res
    assert res[2]["error"]["name"] == "EntityNotFoundException"
    assert res[3]["error"]["name"] == "EntityNotFoundException"
    glue = client("glue", srv.endpoint)
    assert finished(glue, name)["LastCrawl"]["Status"] == "SUCCEEDED"
    proc = subprocess.run(["/usr/bin/node", "sdk_calls.js", "@aws-sdk/client-glue", srv.endpoint],
                          input=json.dumps([{"command": "GetTableCommand", "input": {
                              "DatabaseName": "jsdb", "Name": "t"}}]),
                          capture_output=True, text=True, cwd=NODE_DIR, timeout=120)
    table = json.loads(proc.stdout)[0]["ok"]["Table"]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == \
        [("x", "bigint"), ("y", "string")]


FUNCTION = """
import boto3

def handler(event, context):
    glue = boto3.client("glue")
    glue.start_crawler(Name=event["crawler"])
    glue.batch_create_partition(DatabaseName=event["db"], TableName=event["table"],
                                PartitionInputList=[{"Values": ["2024-06-01"]}])
    return glue.get_crawler(Name=event["crawler"])["Crawler"]["State"]
"""


def test_function_starts_a_crawler_and_adds_a_partition(srv, s3):
    """A function starts a crawler and adds a partition itself with boto3,
    as on AWS (its calls signed with its environment's credentials)."""
    bucket = unique_name("fnlake")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="clicks/day=2024-05-31/a.jsonl", Body=b'{"n": 1}\n')
    name = unique_name("fncrawler")
    glue = client("glue", srv.endpoint)
    glue.create_crawler(Name=name, Role=ROLE, DatabaseName="fndb",
                        Targets={"S3Targets": [{"Path": f"s3://{bucket}/clicks/"}]})
    assert crawl(glue, name)["LastCrawl"]["Status"] == "SUCCEEDED"
    lam = client("lambda", srv.endpoint)
    fn = unique_name("crawlfn")
    lam.create_function(FunctionName=fn, Runtime="python3.11", Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/fn", Timeout=30,
                        Code={"ZipFile": py_zip(FUNCTION)})
    r = lam.invoke(FunctionName=fn, Payload=json.dumps(
        {"crawler": name, "db": "fndb", "table": "clicks"}).encode())
    out = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, out
    assert out in ("RUNNING", "READY")
    finished(glue, name)
    parts = glue.get_partitions(DatabaseName="fndb", TableName="clicks")["Partitions"]
    assert sorted(p["Values"] for p in parts) == [["2024-05-31"], ["2024-06-01"]]
