"""EventBridge through boto3 and the aws CLI: buses, rules and targets
with AWS's refusals; PutEvents routed to queue, topic, function and bus
targets with Input, InputPath and InputTransformer; the event AWS's own
schema (Powertools' EventBridgeSchema) accepts; a target's dead-letter
queue; more than 100 pattern cases through TestEventPattern covering
every operator, matched and not; a scheduled rule firing; metrics; and a
kill -9 after which every accepted event has reached its target. Each
test states the AWS behaviour it checks."""

import json
import os
import subprocess
import urllib.request

import pytest

from conftest import (ROLE, ROOT, Server, aws_cli, client, client_error, lambda_client, py_zip,
                      s3_client, unique_name, wait_until)

NODE_DIR = os.path.join(ROOT, "tests", "node")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("events") / "data")).start()
    yield s
    assert s.stop() == 0, s.logs()


@pytest.fixture(scope="module")
def ev(srv):
    return client("events", srv.endpoint)


@pytest.fixture(scope="module")
def sqs(srv):
    return client("sqs", srv.endpoint)


def queue(sqs, fifo=False):
    name = unique_name("evq") + (".fifo" if fifo else "")
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(sqs, url, want, **kw):
    got = []

    def more():
        got.extend(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       **kw).get("Messages", []))
        return len(got) >= want

    wait_until(more, timeout=90, what="%d messages" % want)
    return got


def empty(sqs, url):
    return sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []


def rule_to_queue(ev, sqs, pattern, bus="default", **target):
    name = unique_name("rule")
    ev.put_rule(Name=name, EventPattern=json.dumps(pattern), EventBusName=bus)
    url, arn = queue(sqs)
    out = ev.put_targets(Rule=name, EventBusName=bus, Targets=[dict(Id="q", Arn=arn, **target)])
    assert out["FailedEntryCount"] == 0, out
    return name, url


def test_buses_and_rules(ev):
    """Buses are made, described, listed and deleted (not the default one,
    not one with rules); PutRule takes a pattern or a schedule (on the
    default bus only) and refuses a bad pattern with
    InvalidEventPatternException; rules are described, listed by prefix,
    disabled and enabled; a rule with targets cannot be deleted."""
    bus = unique_name("bus")
    arn = ev.create_event_bus(Name=bus)["EventBusArn"]
    assert arn == "arn:aws:events:us-east-1:000000000000:event-bus/" + bus
    assert client_error(ev.create_event_bus, Name=bus)["Error"]["Code"] == "ResourceAlreadyExistsException"
    assert ev.describe_event_bus(Name=bus)["Arn"] == arn
    names = [b["Name"] for b in ev.list_event_buses()["EventBuses"]]
    assert "default" in names and bus in names
    r = ev.put_rule(Name="r1", EventBusName=bus, EventPattern=json.dumps({"source": ["a"]}))
    assert r["RuleArn"] == "arn:aws:events:us-east-1:000000000000:rule/%s/r1" % bus
    d = ev.describe_rule(Name="r1", EventBusName=bus)
    assert d["State"] == "ENABLED" and json.loads(d["EventPattern"]) == {"source": ["a"]}
    assert not any(k.startswith("_") for k in d)
    ev.disable_rule(Name="r1", EventBusName=bus)
    assert ev.describe_rule(Name="r1", EventBusName=bus)["State"] == "DISABLED"
    ev.enable_rule(Name="r1", EventBusName=bus)
    assert [x["Name"] for x in ev.list_rules(EventBusName=bus, NamePrefix="r")["Rules"]] == ["r1"]
    e = client_error(ev.put_rule, Name="bad", EventBusName=bus,
                     EventPattern=json.dumps({"source": [{"wildcardx": "a"}]}))
    assert e["Error"]["Code"] == "InvalidEventPatternException"
    assert "Event pattern is not valid" in e["Error"]["Message"]
    e = client_error(ev.put_rule, Name="sched", EventBusName=bus, ScheduleExpression="rate(1 minute)")
    assert e["Error"]["Code"] == "ValidationException"
    e = client_error(ev.put_rule, Name="sched", ScheduleExpression="rate(1 minutes)")
    assert e["Error"]["Message"] == "Parameter ScheduleExpression is not valid."
    assert client_error(ev.put_rule, Name="none")["Error"]["Code"] == "ValidationException"
    e = client_error(ev.delete_event_bus, Name=bus)
    assert e["Error"]["Code"] == "ValidationException"
    ev.put_targets(Rule="r1", EventBusName=bus, Targets=[{"Id": "t", "Arn": arn}])
    e = client_error(ev.delete_rule, Name="r1", EventBusName=bus)
    assert "has targets" in e["Error"]["Message"]
    assert ev.list_targets_by_rule(Rule="r1", EventBusName=bus)["Targets"][0]["Id"] == "t"
    ev.remove_targets(Rule="r1", EventBusName=bus, Ids=["t"])
    ev.delete_rule(Name="r1", EventBusName=bus)
    e = client_error(ev.describe_rule, Name="r1", EventBusName=bus)
    assert e["Error"]["Code"] == "ResourceNotFoundException"
    ev.delete_event_bus(Name=bus)
    assert client_error(ev.describe_event_bus, Name=bus)["Error"]["Code"] == "ResourceNotFoundException"
    assert client_error(ev.delete_event_bus, Name="default")["Error"]["Code"] == "ValidationException"
    e = client_error(ev.put_targets, Rule="nope",
                     Targets=[{"Id": "x", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}])
    assert e["Error"]["Code"] == "ResourceNotFoundException"


def test_put_events_to_targets(srv, ev, sqs):
    """PutEvents answers an id per entry and an error for entries without
    a source or with a detail that is not a JSON object; a matching rule
    sends AWS's event (EventBridgeSchema accepts it) to its queue, a
    disabled one nothing; InputPath, Input and InputTransformer (JSON and
    string templates) shape what the target gets."""
    src = unique_name("app")
    _, url = rule_to_queue(ev, sqs, {"source": [src], "detail": {"n": [{"numeric": [">", 5]}]}})
    name2, url2 = rule_to_queue(ev, sqs, {"source": [src]}, InputPath="$.detail.order")
    _, url3 = rule_to_queue(ev, sqs, {"source": [src]}, Input='{"fixed": true}')
    _, url4 = rule_to_queue(ev, sqs, {"source": [src]}, InputTransformer={
        "InputPathsMap": {"id": "$.detail.order.id", "src": "$.source"},
        "InputTemplate": '{"order": <id>, "text": "from <src>", "rule": "<aws.events.rule-name>"}'})
    _, url5 = rule_to_queue(ev, sqs, {"source": [src]}, InputTransformer={
        "InputPathsMap": {"id": "$.detail.order.id"}, "InputTemplate": "order <id> placed"})
    name6, url6 = rule_to_queue(ev, sqs, {"source": [src]})
    ev.disable_rule(Name=name6)
    out = ev.put_events(Entries=[
        {"Source": src, "DetailType": "Order", "Detail": json.dumps({"n": 7, "order": {"id": 42}}),
         "Resources": ["arn:aws:s3:::x"]},
        {"Source": src, "DetailType": "Order", "Detail": json.dumps({"n": 1, "order": {"id": 43}})},
        {"DetailType": "Order", "Detail": "{}"},
        {"Source": src, "DetailType": "Order", "Detail": "not json"},
        {"Source": "aws.s3", "DetailType": "Object Created", "Detail": "{}"},
    ])
    assert out["FailedEntryCount"] == 3
    assert "EventId" in out["Entries"][0] and "EventId" in out["Entries"][1]
    assert out["Entries"][2]["ErrorCode"] == "InvalidArgument"
    assert out["Entries"][3]["ErrorCode"] == "MalformedDetail"
    assert out["Entries"][4]["ErrorCode"] == "NotAuthorizedForSourceException"
    event = json.loads(drain(sqs, url, 1)[0]["Body"])
    assert event["id"] == out["Entries"][0]["EventId"] and event["source"] == src
    assert event["detail-type"] == "Order" and event["detail"]["order"]["id"] == 42
    assert event["account"] == "000000000000" and event["region"] == "us-east-1"
    assert event["resources"] == ["arn:aws:s3:::x"] and event["version"] == "0"
    assert event["time"].endswith("Z") and len(event["time"]) == 20
    proc = subprocess.run(["/usr/bin/node", "check_event.js", "EventBridgeSchema"], cwd=NODE_DIR,
                          input=json.dumps(event), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert empty(sqs, url)
    assert sorted(json.loads(m["Body"])["id"] for m in drain(sqs, url2, 2)) == [42, 43]
    assert json.loads(drain(sqs, url3, 2)[0]["Body"]) == {"fixed": True}
    got = sorted((json.loads(m["Body"]) for m in drain(sqs, url4, 2)), key=lambda x: x["order"])
    rule4 = got[0]["rule"]
    assert got == [{"order": 42, "text": "from " + src, "rule": rule4},
                   {"order": 43, "text": "from " + src, "rule": rule4}]
    assert sorted(m["Body"] for m in drain(sqs, url5, 2)) == ['"order 42 placed"', '"order 43 placed"']
    assert empty(sqs, url6)
    metrics = urllib.request.urlopen(srv.endpoint + "/_sluice/metrics").read().decode()
    assert "sluice_events_rule_matched_events_total" in metrics


def test_custom_bus_bus_target_function_and_dlq(srv, ev, sqs):
    """An event on a custom bus reaches that bus's rules only; a rule's
    target may be another bus (whose rules then get the event) or a
    function (invoked with the event); a queue target that is gone sends
    the event to its DeadLetterConfig queue; SqsParameters.MessageGroupId
    feeds a FIFO queue."""
    src = unique_name("bus-app")
    bus = unique_name("custom")
    ev.create_event_bus(Name=bus)
    _, url_custom = rule_to_queue(ev, sqs, {"source": [src]}, bus=bus)
    _, url_default = rule_to_queue(ev, sqs, {"source": [src], "detail-type": ["to-default"]})
    # default → custom bus.
    hop = unique_name("hop")
    ev.put_rule(Name=hop, EventPattern=json.dumps({"source": [src], "detail-type": ["hop"]}))
    bus_arn = ev.describe_event_bus(Name=bus)["Arn"]
    ev.put_targets(Rule=hop, Targets=[{"Id": "bus", "Arn": bus_arn}])
    ev.put_events(Entries=[{"Source": src, "DetailType": "direct", "Detail": "{}", "EventBusName": bus}])
    assert json.loads(drain(sqs, url_custom, 1)[0]["Body"])["detail-type"] == "direct"
    ev.put_events(Entries=[{"Source": src, "DetailType": "hop", "Detail": "{}"}])
    assert json.loads(drain(sqs, url_custom, 1)[0]["Body"])["detail-type"] == "hop"
    assert empty(sqs, url_default)
    # A function target.
    lam = lambda_client(srv.endpoint)
    s3 = s3_client(srv.endpoint)
    bucket = unique_name("evseen")
    s3.create_bucket(Bucket=bucket)
    fn = unique_name("evfn")
    code = ("import json, os, urllib.request\n"
            "def handler(event, context):\n"
            "    req = urllib.request.Request(os.environ['AWS_ENDPOINT_URL'] + '/%s/' + event['id'],"
            " data=json.dumps(event).encode(), method='PUT')\n"
            "    urllib.request.urlopen(req).read()\n") % bucket
    farn = lam.create_function(FunctionName=fn, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": py_zip(code)})["FunctionArn"]
    frule = unique_name("fnrule")
    rarn = ev.put_rule(Name=frule, EventPattern=json.dumps({"source": [src], "detail-type": ["fn"]}))["RuleArn"]
    lam.add_permission(FunctionName=fn, StatementId="ev", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=rarn)
    ev.put_targets(Rule=frule, Targets=[{"Id": "f", "Arn": farn}])
    eid = ev.put_events(Entries=[{"Source": src, "DetailType": "fn", "Detail": '{"x": 1}'}])["Entries"][0]["EventId"]
    wait_until(lambda: s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 1, timeout=60,
               what="the function's event")
    got = json.loads(s3.get_object(Bucket=bucket, Key=eid)["Body"].read())
    assert got["detail"] == {"x": 1} and got["id"] == eid
    # A dead-letter queue.
    gone_url, gone_arn = queue(sqs)
    dlq_url, dlq_arn = queue(sqs)
    drule = unique_name("dlq")
    ev.put_rule(Name=drule, EventPattern=json.dumps({"source": [src], "detail-type": ["dlq"]}))
    ev.put_targets(Rule=drule, Targets=[{"Id": "gone", "Arn": gone_arn,
                                         "DeadLetterConfig": {"Arn": dlq_arn}}])
    sqs.delete_queue(QueueUrl=gone_url)
    ev.put_events(Entries=[{"Source": src, "DetailType": "dlq", "Detail": "{}"}])
    m = drain(sqs, dlq_url, 1, MessageAttributeNames=["All"])[0]
    assert json.loads(m["Body"])["detail-type"] == "dlq"
    assert m["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "ResourceNotFoundException"
    # FIFO.
    furl, farn_q = queue(sqs, fifo=True)
    fifo_rule = unique_name("fifo")
    ev.put_rule(Name=fifo_rule, EventPattern=json.dumps({"source": [src], "detail-type": ["fifo"]}))
    out = ev.put_targets(Rule=fifo_rule, Targets=[{"Id": "f", "Arn": farn_q}])
    assert out["FailedEntryCount"] == 1
    out = ev.put_targets(Rule=fifo_rule, Targets=[{"Id": "f", "Arn": farn_q,
                                                   "SqsParameters": {"MessageGroupId": "g1"}}])
    assert out["FailedEntryCount"] == 0
    ev.put_events(Entries=[{"Source": src, "DetailType": "fifo", "Detail": json.dumps({"i": i})}
                           for i in range(3)])
    got = drain(sqs, furl, 1, AttributeNames=["All"])
    assert got[0]["Attributes"]["MessageGroupId"] == "g1"


def test_bus_loops_end_and_large_templates(srv, ev, sqs):
    """A rule that sends its bus's events back to the bus (with an
    InputPath, so the event is rebuilt each time) ends after a few hops
    instead of looping; an InputTransformer's output is as large as its
    values make it (the whole event here), not cut short."""
    src = unique_name("loop")
    name = unique_name("loop")
    ev.put_rule(Name=name, EventPattern=json.dumps({"source": [src]}))
    default_arn = ev.describe_event_bus(Name="default")["Arn"]
    ev.put_targets(Rule=name, Targets=[{"Id": "self", "Arn": default_arn, "InputPath": "$"}])
    _, url = rule_to_queue(ev, sqs, {"source": [src]}, InputTransformer={
        "InputPathsMap": {"d": "$.detail"},
        "InputTemplate": '{"whole": <aws.events.event.json>, "d": <d>, "n": 1}'})
    big = {"text": "x" * 2000}
    out = ev.put_events(Entries=[{"Source": src, "DetailType": "t", "Detail": json.dumps(big)}])
    assert out["FailedEntryCount"] == 0
    got = [json.loads(m["Body"]) for m in drain(sqs, url, 1)]
    assert got[0]["d"] == big and got[0]["whole"]["detail"] == big and got[0]["n"] == 1
    urllib.request.urlopen(srv.endpoint + "/_sluice/health").read()
    ev.remove_targets(Rule=name, Ids=["self"])


def test_kinesis_stream_target(srv, ev):
    """A rule's target may be a Kinesis stream: the event is a record,
    its partition key the value KinesisParameters.PartitionKeyPath names
    (else the event's id)."""
    kin = client("kinesis", srv.endpoint)
    stream = unique_name("evstream")
    kin.create_stream(StreamName=stream, ShardCount=1)
    sarn = kin.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    src = unique_name("kin")
    name = unique_name("kinrule")
    ev.put_rule(Name=name, EventPattern=json.dumps({"source": [src]}))
    out = ev.put_targets(Rule=name, Targets=[{"Id": "k", "Arn": sarn, "KinesisParameters": {
        "PartitionKeyPath": "$.detail.user"}}])
    assert out["FailedEntryCount"] == 0
    eid = ev.put_events(Entries=[{"Source": src, "DetailType": "t",
                                  "Detail": json.dumps({"user": "u-7"})}])["Entries"][0]["EventId"]
    it = kin.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000000",
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    recs = kin.get_records(ShardIterator=it)["Records"]
    assert len(recs) == 1 and recs[0]["PartitionKey"] == "u-7"
    assert json.loads(recs[0]["Data"])["id"] == eid


def test_s3_eventbridge_notifications(srv, ev, sqs):
    """A bucket with an EventBridgeConfiguration sends AWS's Object Created
    and Object Deleted events to the default bus (Powertools'
    S3EventNotificationEventBridgeSchema accepts them), which rules match
    by bucket and key."""
    s3 = s3_client(srv.endpoint)
    bucket = unique_name("evbucket")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "EventBridgeConfiguration": {}})
    _, url = rule_to_queue(ev, sqs, {"source": ["aws.s3"], "detail": {"bucket": {"name": [bucket]}}})
    s3.put_object(Bucket=bucket, Key="in/a.csv", Body=b"12345")
    s3.delete_object(Bucket=bucket, Key="in/a.csv")
    got = [json.loads(m["Body"]) for m in drain(sqs, url, 2)]
    got.sort(key=lambda e: e["detail-type"])
    created, deleted = got
    assert created["detail-type"] == "Object Created" and created["source"] == "aws.s3"
    assert created["resources"] == ["arn:aws:s3:::" + bucket]
    assert created["detail"]["object"]["key"] == "in/a.csv" and created["detail"]["object"]["size"] == 5
    assert created["detail"]["reason"] == "PutObject"
    assert deleted["detail-type"] == "Object Deleted"
    assert deleted["detail"]["deletion-type"] == "Permanently Deleted"
    for e in got:
        proc = subprocess.run(["/usr/bin/node", "check_event.js", "S3EventNotificationEventBridgeSchema"],
                              cwd=NODE_DIR, input=json.dumps(e), capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr


# Patterns and events for TestEventPattern: (pattern, event detail or
# whole event overrides, expected).
BASE = {"id": "1", "account": "123456789012", "source": "com.shop", "time": "2024-01-01T00:00:00Z",
        "region": "us-east-1", "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-1"],
        "detail-type": "Order Placed"}
DETAIL = {"state": "running", "n": 25, "price": 9.5, "ip": "10.0.1.7", "tags": ["a", "b"],
          "nested": {"k": "v", "deep": {"x": 1}}, "flag": True, "none": None, "empty": "",
          "Name": "Alice", "file": "photo.JPG", "list": [{"t": "x", "v": 1}, {"t": "y", "v": 2}]}

PATTERN_CASES = [
    ({"source": ["com.shop"]}, True), ({"source": ["com.other"]}, False),
    ({"source": ["com.other", "com.shop"]}, True), ({"detail-type": ["Order Placed"]}, True),
    ({"detail-type": ["order placed"]}, False), ({"account": ["123456789012"]}, True),
    ({"region": ["eu-west-1"]}, False), ({"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-1"]}, True),
    ({"detail": {"state": ["running"]}}, True), ({"detail": {"state": ["stopped"]}}, False),
    ({"detail": {"n": [25]}}, True), ({"detail": {"n": [25.0]}}, True), ({"detail": {"n": ["25"]}}, False),
    ({"detail": {"flag": [True]}}, True), ({"detail": {"flag": [False]}}, False),
    ({"detail": {"none": [None]}}, True), ({"detail": {"state": [None]}}, False),
    ({"detail": {"empty": [""]}}, True), ({"detail": {"tags": ["b"]}}, True), ({"detail": {"tags": ["c"]}}, False),
    ({"detail": {"nested": {"k": ["v"]}}}, True), ({"detail": {"nested": {"deep": {"x": [1]}}}}, True),
    ({"detail": {"nested": {"deep": {"x": [2]}}}}, False), ({"detail": {"missing": ["x"]}}, False),
    ({"detail": {"state": [{"prefix": "run"}]}}, True), ({"detail": {"state": [{"prefix": "stop"}]}}, False),
    ({"detail": {"state": [{"prefix": {"equals-ignore-case": "RUN"}}]}}, True),
    ({"detail": {"file": [{"suffix": ".JPG"}]}}, True), ({"detail": {"file": [{"suffix": ".jpg"}]}}, False),
    ({"detail": {"file": [{"suffix": {"equals-ignore-case": ".jpg"}}]}}, True),
    ({"detail": {"Name": [{"equals-ignore-case": "alice"}]}}, True),
    ({"detail": {"Name": [{"equals-ignore-case": "bob"}]}}, False),
    ({"detail": {"file": [{"wildcard": "photo.*"}]}}, True), ({"detail": {"file": [{"wildcard": "*.png"}]}}, False),
    ({"detail": {"file": [{"wildcard": "p*o.J*G"}]}}, True), ({"detail": {"state": [{"wildcard": "r?nning"}]}}, False),
    ({"detail": {"state": [{"anything-but": "stopped"}]}}, True), ({"detail": {"state": [{"anything-but": "running"}]}}, False),
    ({"detail": {"state": [{"anything-but": ["a", "b"]}]}}, True), ({"detail": {"state": [{"anything-but": ["running", "b"]}]}}, False),
    ({"detail": {"n": [{"anything-but": 24}]}}, True), ({"detail": {"n": [{"anything-but": [25, 26]}]}}, False),
    ({"detail": {"state": [{"anything-but": {"prefix": "st"}}]}}, True),
    ({"detail": {"state": [{"anything-but": {"prefix": "ru"}}]}}, False),
    ({"detail": {"file": [{"anything-but": {"suffix": ".png"}}]}}, True),
    ({"detail": {"file": [{"anything-but": {"suffix": ".JPG"}}]}}, False),
    ({"detail": {"Name": [{"anything-but": {"equals-ignore-case": "BOB"}}]}}, True),
    ({"detail": {"Name": [{"anything-but": {"equals-ignore-case": "ALICE"}}]}}, False),
    ({"detail": {"file": [{"anything-but": {"wildcard": "*.png"}}]}}, True),
    ({"detail": {"file": [{"anything-but": {"wildcard": "*.JPG"}}]}}, False),
    ({"detail": {"n": [{"numeric": [">", 20]}]}}, True), ({"detail": {"n": [{"numeric": [">", 25]}]}}, False),
    ({"detail": {"n": [{"numeric": [">=", 25]}]}}, True), ({"detail": {"n": [{"numeric": ["<", 25]}]}}, False),
    ({"detail": {"n": [{"numeric": ["<=", 25]}]}}, True), ({"detail": {"n": [{"numeric": ["=", 25]}]}}, True),
    ({"detail": {"n": [{"numeric": ["=", 26]}]}}, False), ({"detail": {"n": [{"numeric": [">", 0, "<", 30]}]}}, True),
    ({"detail": {"n": [{"numeric": [">", 0, "<", 25]}]}}, False),
    ({"detail": {"price": [{"numeric": [">=", 9.5, "<", 9.6]}]}}, True),
    ({"detail": {"price": [{"numeric": [">", 9.5]}]}}, False), ({"detail": {"state": [{"numeric": [">", 0]}]}}, False),
    ({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}, True), ({"detail": {"ip": [{"cidr": "10.1.0.0/16"}]}}, False),
    ({"detail": {"ip": [{"cidr": "10.0.1.7/32"}]}}, True), ({"detail": {"state": [{"cidr": "10.0.0.0/8"}]}}, False),
    ({"detail": {"state": [{"exists": True}]}}, True), ({"detail": {"state": [{"exists": False}]}}, False),
    ({"detail": {"missing": [{"exists": False}]}}, True), ({"detail": {"missing": [{"exists": True}]}}, False),
    ({"detail": {"none": [{"exists": True}]}}, True), ({"detail": {"nested": {"k": [{"exists": True}]}}}, True),
    ({"detail": {"nested": [{"exists": True}]}}, False),  # (leaves only, as AWS documents)
    ({"$or": [{"source": ["x"]}, {"detail": {"n": [25]}}]}, True),
    ({"$or": [{"source": ["x"]}, {"detail": {"n": [26]}}]}, False),
    ({"detail": {"$or": [{"state": ["running"]}, {"n": [0]}]}}, True),
    ({"detail": {"$or": [{"state": ["x"]}, {"n": [{"numeric": [">", 100]}]}]}}, False),
    ({"source": ["com.shop"], "detail": {"$or": [{"state": ["x"]}, {"tags": ["a"]}]}}, True),
    ({"detail": {"list": {"t": ["y"], "v": [2]}}}, True), ({"detail": {"list": {"t": ["y"], "v": [1]}}}, False),
    ({"detail": {"list": {"t": ["x"]}}}, True), ({"detail": {"state": ["running"], "n": [25]}}, True),
    ({"detail": {"state": ["running"], "n": [24]}}, False),
    ({"detail": {"state": ["running", {"prefix": "zz"}]}}, True),
    ({"detail": {"n": [{"numeric": [">", 30]}, 25]}}, True),
    ({"detail": {"tags": [{"prefix": "a"}]}}, True), ({"detail": {"tags": [{"anything-but": ["a", "b"]}]}}, False),
    ({"detail": {"tags": [{"anything-but": ["a"]}]}}, True),
    ({"source": [{"prefix": "com."}]}, True), ({"source": [{"suffix": ".shop"}]}, True),
    ({"source": [{"wildcard": "com.*"}]}, True), ({"source": [{"anything-but": {"prefix": "com."}}]}, False),
    ({"time": [{"prefix": "2024-"}]}, True), ({"id": ["1"]}, True), ({"id": ["2"]}, False),
    ({"detail": {"flag": [{"exists": True}], "none": [None]}}, True),
    ({"detail": {"empty": [{"prefix": ""}]}}, True), ({"detail": {"n": [{"numeric": ["<", 0]}]}}, False),
    ({"detail": {"price": [{"numeric": [">", 9, "<=", 10]}]}}, True),
    ({"detail": {"Name": [{"equals-ignore-case": "ALICE"}, "x"]}}, True),
    ({"detail": {"nested": {"deep": {"y": [{"exists": False}]}}}}, True),
    ({"detail": {"nested": {"deep": {"x": [{"exists": False}]}}}}, False),
    ({"resources": [{"wildcard": "arn:aws:ec2:*:instance/*"}]}, True),
    ({"resources": [{"prefix": "arn:aws:s3"}]}, False),
    ({"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}, False),
    ({"detail": {"state": [{"equals-ignore-case": "RUNNING"}]}}, True),
]

INVALID_PATTERNS = [
    '{"source": "com.shop"}', '{"detail": {"n": [{"numeric": [">", "x"]}]}}',
    '{"detail": {"n": [{"numeric": ["~", 1]}]}}', '{"detail": {"ip": [{"cidr": "10.0.0.0/99"}]}}',
    '{"detail": {"s": [{"prefix": 5}]}}', '{"detail": {"s": [{"unknown-op": 1}]}}',
    '{"$or": [{"source": ["a"]}]}', 'not json', '[]', '{"detail": {"s": [{"exists": "yes"}]}}',
]


def test_test_event_pattern(ev):
    """TestEventPattern answers whether an event matches, for every
    operator (exact values of each type, prefix, suffix,
    equals-ignore-case, wildcard, anything-but of values, lists, prefixes,
    suffixes, equals-ignore-case and wildcards, numeric comparisons and
    ranges, cidr, exists, $or at any level, arrays); invalid patterns get
    InvalidEventPatternException, and an event without the envelope's
    fields ValidationException."""
    assert len(PATTERN_CASES) >= 100
    event = json.dumps(dict(BASE, detail=DETAIL))
    wrong = []
    for pattern, expected in PATTERN_CASES:
        got = ev.test_event_pattern(EventPattern=json.dumps(pattern), Event=event)["Result"]
        if got != expected:
            wrong.append((pattern, expected, got))
    assert wrong == []
    for p in INVALID_PATTERNS:
        e = client_error(ev.test_event_pattern, EventPattern=p, Event=event)
        assert e["Error"]["Code"] == "InvalidEventPatternException", p
    e = client_error(ev.test_event_pattern, EventPattern='{"source": ["a"]}', Event='{"source": "a"}')
    assert e["Error"]["Code"] == "ValidationException"


def test_cli_put_events(srv, ev, sqs):
    """The aws CLI puts an event that reaches its rule's queue."""
    src = unique_name("cli")
    _, url = rule_to_queue(ev, sqs, {"source": [src]})
    entries = json.dumps([{"Source": src, "DetailType": "t", "Detail": '{"cli": true}'}])
    out = json.loads(aws_cli(srv.endpoint, "events", "put-events", "--entries", entries).stdout)
    assert out["FailedEntryCount"] == 0
    assert json.loads(drain(sqs, url, 1)[0]["Body"])["detail"] == {"cli": True}


def test_kill9_keeps_accepted_events(tmp_path):
    """Every event PutEvents accepted before a kill -9 is in its rule's
    queue after the restart."""
    s = Server(str(tmp_path / "data")).start()
    try:
        ev = client("events", s.endpoint)
        sqs = client("sqs", s.endpoint)
        _, url = rule_to_queue(ev, sqs, {"source": ["crash"]})
        ids = set()
        for i in range(20):
            out = ev.put_events(Entries=[{"Source": "crash", "DetailType": "t",
                                          "Detail": json.dumps({"i": i * 5 + k})} for k in range(5)])
            ids |= {e["EventId"] for e in out["Entries"]}
        s.kill9()
        s.start(port=s.port)
        sqs = client("sqs", s.endpoint)
        got = set()

        def all_there():
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                         WaitTimeSeconds=1).get("Messages", []):
                got.add(json.loads(m["Body"])["id"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            return got >= ids

        wait_until(all_there, timeout=60, what="every accepted event")
    finally:
        s.stop()


def test_scheduled_rule_fires(every_minute):
    """A rule with cron(* * * * ? *) sends AWS's Scheduled Event (source
    aws.events, the rule in resources, an empty detail) to its target at
    the start of a minute (the rule is conftest's, made as the session
    starts)."""
    s, arn, url = every_minute
    sqs = client("sqs", s.endpoint)
    m = drain(sqs, url, 1, AttributeNames=["SentTimestamp"])[0]
    event = json.loads(m["Body"])
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == [arn] and event["detail"] == {}
    assert event["time"].endswith(":00Z")
    sent_ms = int(m["Attributes"]["SentTimestamp"])
    assert sent_ms % 60000 < 10000  # (close to the minute's start)
