"""S3 event notifications through boto3 and the aws CLI: the configuration
API with S3's validation (event types, filters, overlaps, destinations and
the function's resource policy), the events a function receives (checked
against AWS's own schema from @aws-lambda-powertools/parser), and a kill -9
that loses no event of an acknowledged write."""

import json
import os
import subprocess
import threading
import urllib.parse

import botocore.exceptions

from conftest import (ROLE, ROOT, client_error, function_log_messages, lambda_client, py_zip,
                      s3_client, unique_name, wait_until)

NODE_DIR = os.path.join(ROOT, "tests", "node")

# Prints each record it gets: the tests read them back from its log.
SINK = "import json\ndef handler(event, context):\n    print('EVENT ' + json.dumps(event))\n"

def sink_function(lam, bucket, allow=True, source_arn=None):
    name = unique_name("s3sink").lower()
    arn = lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                              Handler="app.handler",
                              Code={"ZipFile": py_zip(SINK)})["FunctionArn"]
    if allow:
        lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com",
                           SourceArn=source_arn or f"arn:aws:s3:::{bucket}",
                           SourceAccount="000000000000")
    return name, arn


def events(logs, name):
    msgs = function_log_messages(logs, name)
    return [json.loads(m[len("EVENT "):]) for m in msgs if m.startswith("EVENT ")]


def lambda_config(arn, events_=("s3:ObjectCreated:*",), prefix=None, suffix=None, id_=None):
    c = {"LambdaFunctionArn": arn, "Events": list(events_)}
    if id_:
        c["Id"] = id_
    rules = []
    if prefix is not None:
        rules.append({"Name": "prefix", "Value": prefix})
    if suffix is not None:
        rules.append({"Name": "suffix", "Value": suffix})
    if rules:
        c["Filter"] = {"Key": {"FilterRules": rules}}
    return c


def check_schema(event):
    proc = subprocess.run(["/usr/bin/node", "check_event.js", "S3Schema"], cwd=NODE_DIR,
                          input=json.dumps(event), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_events_reach_the_function(s3, lam, logs):
    """PUT, copy, multipart and delete under the configured prefix and suffix
    each run the function once with S3's event; other keys do not."""
    bucket = unique_name("notify")
    s3.create_bucket(Bucket=bucket)
    name, arn = sink_function(lam, bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [
            lambda_config(arn, ["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"],
                          prefix="raw/", suffix=".csv", id_="raw-csv")]})
    key = "raw/my report (1)+x.csv"
    body = b"a,b\n1,2\n"
    etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
    s3.put_object(Bucket=bucket, Key="raw/skip.txt", Body=b"x")          # suffix
    s3.put_object(Bucket=bucket, Key="other/skip.csv", Body=b"x")        # prefix
    s3.copy_object(Bucket=bucket, Key="raw/copy.csv",
                   CopySource={"Bucket": bucket, "Key": key})
    up = s3.create_multipart_upload(Bucket=bucket, Key="raw/big.csv")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="raw/big.csv", UploadId=up, PartNumber=1,
                          Body=b"z" * 100)
    s3.complete_multipart_upload(Bucket=bucket, Key="raw/big.csv", UploadId=up,
                                 MultipartUpload={"Parts": [{"ETag": part["ETag"],
                                                             "PartNumber": 1}]})
    s3.put_object(Bucket=bucket, Key=key, Body=b"second version")
    s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_object(Bucket=bucket, Key="raw/never-there.csv")  # nothing removed: no event

    got = wait_until(lambda: len(events(logs, name)) >= 5 and events(logs, name),
                     timeout=60, what="five events")
    recs = [e["Records"][0] for e in got]
    assert all(len(e["Records"]) == 1 for e in got)
    by = {}
    for r in recs:
        by.setdefault((r["eventName"], urllib.parse.unquote_plus(r["s3"]["object"]["key"])),
                      []).append(r)
    assert set(by) == {("ObjectCreated:Put", key), ("ObjectCreated:Copy", "raw/copy.csv"),
                       ("ObjectCreated:CompleteMultipartUpload", "raw/big.csv"),
                       ("ObjectRemoved:Delete", key)}
    # Async events run in no set order (on AWS neither): the versions tell
    # the two PUTs of the key apart.
    puts = by[("ObjectCreated:Put", key)]
    assert len(puts) == 2
    first = next(r for r in puts if r["s3"]["object"]["eTag"] == etag)
    second = next(r for r in puts if r is not first)
    assert first["s3"]["object"]["key"] == "raw/my+report+%281%29%2Bx.csv"
    assert first["s3"]["object"]["size"] == len(body)
    assert first["s3"]["object"]["eTag"] == etag
    assert first["s3"]["configurationId"] == "raw-csv"
    assert first["s3"]["bucket"] == {"name": bucket, "ownerIdentity": {"principalId":
                                     "000000000000"}, "arn": f"arn:aws:s3:::{bucket}"}
    assert first["eventSource"] == "aws:s3" and first["eventVersion"] == "2.1"
    assert first["awsRegion"] == "us-east-1" and first["eventTime"].endswith("Z")
    assert first["requestParameters"]["sourceIPAddress"] == "127.0.0.1"
    # The sequencer grows for the same key: compare as S3 says (pad, then text).
    seqs = [r["s3"]["object"]["sequencer"] for r in
            (first, second, by[("ObjectRemoved:Delete", key)][0])]
    width = max(map(len, seqs))
    padded = [s.ljust(width, "0") for s in seqs]
    assert padded == sorted(padded) and len(set(padded)) == 3
    removed = by[("ObjectRemoved:Delete", key)][0]["s3"]["object"]
    assert set(removed) == {"key", "sequencer"}
    for e in got:
        check_schema(e)


def test_configuration_round_trip(s3, lam):
    """GET returns what PUT set (boto3 and the CLI), an empty configuration
    removes it, and queue and topic configurations are kept as given when
    destination validation is skipped."""
    bucket = unique_name("notifycfg")
    s3.create_bucket(Bucket=bucket)
    assert {k: v for k, v in s3.get_bucket_notification_configuration(Bucket=bucket).items()
            if k != "ResponseMetadata"} == {}
    _, arn = sink_function(lam, bucket)
    cfg = {
        "LambdaFunctionConfigurations": [lambda_config(arn, ["s3:ObjectCreated:Put"],
                                                       prefix="in/", id_="f")],
        "QueueConfigurations": [{"Id": "q", "QueueArn": "arn:aws:sqs:us-east-1:000000000000:q",
                                 "Events": ["s3:ObjectRemoved:*"]}],
        "TopicConfigurations": [{"Id": "t", "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
                                 "Events": ["s3:ObjectCreated:Copy"]}],
        "EventBridgeConfiguration": {},
    }
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=cfg,
                                             SkipDestinationValidation=True)
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    lf = got["LambdaFunctionConfigurations"][0]
    assert lf["Id"] == "f" and lf["LambdaFunctionArn"] == arn
    assert lf["Events"] == ["s3:ObjectCreated:Put"]
    assert lf["Filter"]["Key"]["FilterRules"][0]["Value"] == "in/"
    assert got["QueueConfigurations"][0]["QueueArn"].endswith(":q")
    assert got["TopicConfigurations"][0]["TopicArn"].endswith(":t")
    assert "EventBridgeConfiguration" in got
    from conftest import aws_cli
    out = aws_cli(s3.meta.endpoint_url, "s3api", "get-bucket-notification-configuration",
                  "--bucket", bucket).stdout
    assert json.loads(out)["LambdaFunctionConfigurations"][0]["Id"] == "f"
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert "LambdaFunctionConfigurations" not in \
        s3.get_bucket_notification_configuration(Bucket=bucket)


def test_configuration_validation(s3, lam):
    """S3's refusals: a destination that does not exist or whose policy does
    not let S3 in (unless validation is skipped), an unknown event type, two
    prefix rules, overlapping configurations."""
    bucket = unique_name("notifybad")
    s3.create_bucket(Bucket=bucket)
    put = s3.put_bucket_notification_configuration
    _, no_perm = sink_function(lam, bucket, allow=False)
    _, other_bucket = sink_function(lam, bucket, source_arn="arn:aws:s3:::some-other-bucket")
    _, ok = sink_function(lam, bucket)
    for dest in (no_perm, other_bucket, ok + "-missing",
                 "arn:aws:sqs:us-east-1:000000000000:no-queue"):
        kind = "QueueConfigurations" if ":sqs:" in dest else "LambdaFunctionConfigurations"
        key = "QueueArn" if ":sqs:" in dest else "LambdaFunctionArn"
        r = client_error(put, Bucket=bucket, NotificationConfiguration={
            kind: [{key: dest, "Events": ["s3:ObjectCreated:*"]}]})
        assert r["Error"]["Code"] == "InvalidArgument"
        assert r["Error"]["Message"] == \
            "Unable to validate the following destination configurations"
        assert r["Error"]["ArgumentName1"] == dest
    put(Bucket=bucket, SkipDestinationValidation=True, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": no_perm,
                                          "Events": ["s3:ObjectCreated:*"]}]})
    r = client_error(put, Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": ok,
                                          "Events": ["s3:ObjectCreated:Sideways"]}]})
    assert r["Error"]["Code"] == "InvalidArgument"
    r = client_error(put, Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": ok, "Events": ["s3:ObjectCreated:*"],
                                          "Filter": {"Key": {"FilterRules": [
                                              {"Name": "prefix", "Value": "a"},
                                              {"Name": "prefix", "Value": "b"}]}}}]})
    assert r["Error"]["Code"] == "InvalidArgument"
    # Overlaps: same event type, filters that can match the same key.
    r = client_error(put, Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [lambda_config(ok), lambda_config(ok, ["s3:ObjectCreated:Put"])]})
    assert r["Error"]["Code"] == "InvalidArgument"
    assert "overlap" in r["Error"]["Message"]
    r = client_error(put, Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [lambda_config(ok, prefix="img", suffix="jpg"),
                                         lambda_config(ok, prefix="img/", suffix=".jpg")]})
    assert r["Error"]["Code"] == "InvalidArgument"
    assert "ambiguously" in r["Error"]["Message"]
    # No overlap: different prefixes, different suffixes, or different events.
    put(Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": [
        lambda_config(ok, prefix="a/"), lambda_config(ok, prefix="b/"),
        lambda_config(ok, prefix="a/", suffix=".png", events_=["s3:ObjectRemoved:*"]),
        lambda_config(ok, prefix="c/", suffix=".jpg"), lambda_config(ok, prefix="c/", suffix=".png")]})
    r = client_error(s3.put_bucket_notification_configuration, Bucket=unique_name("nobucket"),
                     NotificationConfiguration={})
    assert r["Error"]["Code"] == "NoSuchBucket"


RECORDER = """
import http.client, os, urllib.parse
URL = urllib.parse.urlparse(os.environ["AWS_ENDPOINT_URL"])
def handler(event, context):
    key = urllib.parse.unquote_plus(event["Records"][0]["s3"]["object"]["key"])
    c = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)
    c.request("PUT", "/seen-" + event["Records"][0]["s3"]["bucket"]["name"] + "/" + key, body=b"1")
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
"""


def test_kill9_loses_no_event_of_an_acknowledged_put(fresh_server):
    """The event commits with the object: kill -9 in the middle of a stream
    of PUTs; after the restart every acknowledged object's event runs the
    function (at least once)."""
    srv = fresh_server().start()
    s3 = s3_client(srv.endpoint)
    lam = lambda_client(srv.endpoint)
    s3.create_bucket(Bucket="landing")
    s3.create_bucket(Bucket="seen-landing")
    arn = lam.create_function(FunctionName="recorder", Runtime="python3.11", Role=ROLE,
                              Handler="app.handler",
                              Code={"ZipFile": py_zip(RECORDER)})["FunctionArn"]
    lam.add_permission(FunctionName="recorder", StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::landing")
    s3.put_bucket_notification_configuration(Bucket="landing", NotificationConfiguration={
        "LambdaFunctionConfigurations": [lambda_config(arn)]})
    acked, lock, stop = set(), threading.Lock(), threading.Event()

    def writer(k):
        client = s3_client(srv.endpoint)
        for i in range(10000):
            if stop.is_set():
                return
            key = f"w{k}/{i:05d}"
            try:
                client.put_object(Bucket="landing", Key=key, Body=b"x")
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                return
            with lock:
                acked.add(key)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acked) >= 300, timeout=120, what="300 acknowledged puts")
    srv.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    srv.start()
    s3 = s3_client(srv.endpoint)

    def seen():
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket="seen-landing")
        return {o["Key"] for p in pages for o in p.get("Contents", [])}

    wait_until(lambda: acked <= seen(), timeout=240,
               what=f"the events of all {len(acked)} acknowledged puts")


def test_removed_permission_stops_events(server, s3, lam, logs):
    """The function's policy is checked when an event is about to run: once
    S3's permission is removed, new objects' events are dropped (counted in
    AsyncEventsDropped), never run."""
    import urllib.request
    bucket = unique_name("notifyperm")
    s3.create_bucket(Bucket=bucket)
    name, arn = sink_function(lam, bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [lambda_config(arn)]})
    s3.put_object(Bucket=bucket, Key="allowed", Body=b"1")
    wait_until(lambda: events(logs, name), timeout=60, what="the allowed event")
    lam.remove_permission(FunctionName=name, StatementId="s3")
    s3.put_object(Bucket=bucket, Key="refused", Body=b"2")

    def dropped():
        with urllib.request.urlopen(server.endpoint + "/_sluice/metrics") as r:
            for line in r.read().decode().splitlines():
                if line.startswith("sluice_lambda_async_events_dropped_total{") and \
                        f'function="{name}"' in line:
                    return float(line.rsplit(" ", 1)[1]) >= 1
        return False

    wait_until(dropped, timeout=60, what="the refused event to be dropped")
    keys = [urllib.parse.unquote_plus(e["Records"][0]["s3"]["object"]["key"])
            for e in events(logs, name)]
    assert keys == ["allowed"]
