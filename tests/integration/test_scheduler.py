"""EventBridge Scheduler through boto3 and the aws CLI: schedule groups
and their tags; schedules' round trips (the defaults AWS fills in,
UpdateSchedule replacing every member, listings by group, prefix and
state, pages) and AWS's refusals; one-time at() schedules firing once, on
time, into a queue (in UTC and in a time zone), with the context
attributes put in the input; ActionAfterCompletion DELETE; StartDate and
EndDate of a recurring schedule; targets that are functions, event buses
and FIFO queues; a gone target's dead-letter queue; a schedule missed
while Sluice was killed firing once after the restart. Each test states
the AWS behaviour it checks."""

import datetime
import json
import math
import os
import time
from zoneinfo import ZoneInfo

import boto3
import botocore
import botocore.session
import pytest

from conftest import (ACCESS_KEY, ROLE, ROOT, SECRET_KEY, Server, aws_cli, client, client_error,
                      client_config, lambda_client, py_zip, s3_client, unique_name, wait_until)

SCHED_ROLE = "arn:aws:iam::000000000000:role/scheduler-role"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """Debian's botocore predates ActionAfterCompletion: its Scheduler
    model with what src/services/scheduler/model.json adds, for boto3."""
    base = os.path.join(os.path.dirname(botocore.__file__), "data", "scheduler", "2021-06-30")
    with open(os.path.join(base, "service-2.json")) as f:
        model = json.load(f)
    with open(os.path.join(ROOT, "src", "services", "scheduler", "model.json")) as f:
        patch = json.load(f)
    for name, p in patch.get("shapes", {}).items():
        shape = model["shapes"].setdefault(name, {})
        shape.update(p.get("set", {}))
        if "members_add" in p:
            shape.setdefault("members", {}).update(p["members_add"])
    d = tmp_path_factory.mktemp("models")
    os.makedirs(d / "scheduler" / "2021-06-30")
    with open(d / "scheduler" / "2021-06-30" / "service-2.json", "w") as f:
        json.dump(model, f)
    return str(d)


def scheduler_client(endpoint, model_dir):
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, model_dir)
    return boto3.Session(botocore_session=session).client(
        "scheduler", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, config=client_config())


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("scheduler") / "data")).start()
    yield s
    assert s.stop() == 0, s.logs()


@pytest.fixture(scope="module")
def sch(srv, model_dir):
    return scheduler_client(srv.endpoint, model_dir)


@pytest.fixture(scope="module")
def sqs(srv):
    return client("sqs", srv.endpoint)


def queue(sqs, fifo=False):
    name = unique_name("schq") + (".fifo" if fifo else "")
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive(sqs, url, want, timeout=30, **kw):
    """want messages of the queue (deleted once received), within timeout."""
    got = []

    def more():
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     AttributeNames=["All"], **kw).get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return len(got) >= want

    wait_until(more, timeout=timeout, what="%d messages" % want)
    return got


def empty(sqs, url, seconds=2):
    return sqs.receive_message(QueueUrl=url, WaitTimeSeconds=seconds).get("Messages", []) == []


def soon(seconds, tz="UTC"):
    """A whole second at least `seconds` from now: (epoch seconds, the
    at() expression of it in zone tz)."""
    t = math.ceil(time.time()) + seconds
    local = datetime.datetime.fromtimestamp(t, ZoneInfo(tz))
    return t, "at(%s)" % local.strftime("%Y-%m-%dT%H:%M:%S")


def sent_ms(m):
    return int(m["Attributes"]["SentTimestamp"])


def target(arn, **kw):
    return dict(Arn=arn, RoleArn=SCHED_ROLE, **kw)


OFF = {"Mode": "OFF"}


def test_groups_and_tags(sch):
    """The default group always exists; groups are made (a second time:
    ConflictException), read, listed by prefix and page, tagged and
    untagged, and deleted with their schedules; the default group cannot
    be deleted; a missing group is ResourceNotFoundException."""
    g = sch.get_schedule_group(Name="default")
    assert g["Name"] == "default" and g["State"] == "ACTIVE"
    assert g["Arn"] == "arn:aws:scheduler:us-east-1:000000000000:schedule-group/default"
    name = unique_name("grp")
    arn = sch.create_schedule_group(Name=name, Tags=[{"Key": "team", "Value": "data"}])["ScheduleGroupArn"]
    assert arn == "arn:aws:scheduler:us-east-1:000000000000:schedule-group/" + name
    e = client_error(sch.create_schedule_group, Name=name)
    assert e["Error"]["Code"] == "ConflictException"
    assert e["ResponseMetadata"]["HTTPStatusCode"] == 409
    got = sch.get_schedule_group(Name=name)
    assert got["Arn"] == arn and got["State"] == "ACTIVE" and got["CreationDate"]
    names = [x["Name"] for x in sch.list_schedule_groups()["ScheduleGroups"]]
    assert "default" in names and name in names and names == sorted(names)
    assert [x["Name"] for x in sch.list_schedule_groups(NamePrefix=name)["ScheduleGroups"]] == [name]
    others = [unique_name("grp") for _ in range(3)]
    for o in others:
        sch.create_schedule_group(Name=o)
    pages = list(sch.get_paginator("list_schedule_groups").paginate(PaginationConfig={"PageSize": 2}))
    assert all(len(p["ScheduleGroups"]) <= 2 for p in pages)
    listed = [x["Name"] for p in pages for x in p["ScheduleGroups"]]
    assert listed == sorted(listed) and len(listed) == len(set(listed))
    assert set(others + [name, "default"]) <= set(listed)
    # Tags.
    assert sch.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "data"}]
    sch.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    sch.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sch.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    e = client_error(sch.list_tags_for_resource, ResourceArn=arn + "-gone")
    assert e["Error"]["Code"] == "ResourceNotFoundException"
    e = client_error(sch.tag_resource, ResourceArn="arn:aws:scheduler:us-east-1:000000000000:schedule/default/x",
                     Tags=[{"Key": "k", "Value": "v"}])
    assert e["Error"]["Code"] == "ValidationException"
    # Deleting a group deletes its schedules.
    sch.create_schedule(Name="in-group", GroupName=name, ScheduleExpression="rate(1 day)",
                        FlexibleTimeWindow=OFF, Target=target("arn:aws:sqs:us-east-1:000000000000:nowhere"),
                        State="DISABLED")
    assert [s["Name"] for s in sch.list_schedules(GroupName=name)["Schedules"]] == ["in-group"]
    sch.delete_schedule_group(Name=name)
    e = client_error(sch.get_schedule_group, Name=name)
    assert e["Error"]["Code"] == "ResourceNotFoundException"
    assert e["Error"]["Message"] == "Schedule group %s does not exist." % name
    assert e["ResponseMetadata"]["HTTPStatusCode"] == 404
    sch.create_schedule_group(Name=name)
    assert sch.list_schedules(GroupName=name)["Schedules"] == []
    e = client_error(sch.delete_schedule_group, Name="default")
    assert e["Error"]["Code"] == "ValidationException"
    e = client_error(sch.delete_schedule_group, Name=unique_name("never"))
    assert e["Error"]["Code"] == "ResourceNotFoundException"
    for o in others + [name]:
        sch.delete_schedule_group(Name=o)


def test_schedule_round_trip(sch, sqs):
    """CreateSchedule answers the schedule's ARN; GetSchedule shows what
    was given and AWS's defaults (UTC, ENABLED, ActionAfterCompletion
    NONE, a RetryPolicy of 86400 s and 185 attempts); UpdateSchedule
    replaces every member; ListSchedules filters by group, name prefix and
    state, in pages; DeleteSchedule removes it."""
    _, qarn = queue(sqs)
    name = unique_name("rt")
    arn = sch.create_schedule(
        Name=name, ScheduleExpression="cron(0 9 ? * MON-FRI *)", ScheduleExpressionTimezone="Europe/Paris",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}, Description="weekday mornings",
        Target=target(qarn, Input='{"job": "report"}'), State="DISABLED",
        KmsKeyArn="arn:aws:kms:us-east-1:000000000000:key/abc-123")["ScheduleArn"]
    assert arn == "arn:aws:scheduler:us-east-1:000000000000:schedule/default/" + name
    got = sch.get_schedule(Name=name)
    assert got["Arn"] == arn and got["GroupName"] == "default" and got["Name"] == name
    assert got["ScheduleExpression"] == "cron(0 9 ? * MON-FRI *)"
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    assert got["Description"] == "weekday mornings" and got["State"] == "DISABLED"
    assert got["KmsKeyArn"] == "arn:aws:kms:us-east-1:000000000000:key/abc-123"
    assert got["ActionAfterCompletion"] == "NONE"
    assert got["Target"] == {"Arn": qarn, "RoleArn": SCHED_ROLE, "Input": '{"job": "report"}',
                             "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}}
    assert got["CreationDate"] == got["LastModificationDate"]
    assert not any(k.startswith("_") for k in got)
    # UpdateSchedule replaces the whole schedule.
    sch.update_schedule(Name=name, ScheduleExpression="rate(5 minutes)", FlexibleTimeWindow=OFF,
                        Target=target(qarn, RetryPolicy={"MaximumRetryAttempts": 3}),
                        ActionAfterCompletion="DELETE", State="DISABLED")
    got = sch.get_schedule(Name=name)
    assert got["ScheduleExpression"] == "rate(5 minutes)" and got["ScheduleExpressionTimezone"] == "UTC"
    assert "Description" not in got and "KmsKeyArn" not in got and got["ActionAfterCompletion"] == "DELETE"
    assert got["Target"]["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 3}
    assert got["LastModificationDate"] > got["CreationDate"]
    # Listings.
    prefix = unique_name("ls")
    group = unique_name("lsg")
    sch.create_schedule_group(Name=group)
    for i in range(5):
        sch.create_schedule(Name="%s-%d" % (prefix, i), ScheduleExpression="rate(1 day)", FlexibleTimeWindow=OFF,
                            Target=target(qarn), State="DISABLED" if i % 2 else "ENABLED",
                            GroupName=group if i == 4 else "default")
    listed = sch.list_schedules(NamePrefix=prefix)["Schedules"]
    assert [s["Name"] for s in listed] == ["%s-%d" % (prefix, i) for i in range(5)]
    assert listed[4]["GroupName"] == group and listed[0]["Target"] == {"Arn": qarn}
    assert set(listed[0]) >= {"Arn", "CreationDate", "GroupName", "LastModificationDate", "Name", "State"}
    assert [s["Name"] for s in sch.list_schedules(NamePrefix=prefix, State="DISABLED")["Schedules"]] == \
        ["%s-1" % prefix, "%s-3" % prefix]
    assert [s["Name"] for s in sch.list_schedules(NamePrefix=prefix, GroupName=group)["Schedules"]] == \
        ["%s-4" % prefix]
    pages = list(sch.get_paginator("list_schedules").paginate(NamePrefix=prefix,
                                                             PaginationConfig={"PageSize": 2}))
    assert [len(p["Schedules"]) for p in pages] == [2, 2, 1]
    assert [s["Name"] for p in pages for s in p["Schedules"]] == ["%s-%d" % (prefix, i) for i in range(5)]
    e = client_error(sch.list_schedules, GroupName=unique_name("nogroup"))
    assert e["Error"]["Code"] == "ResourceNotFoundException"
    sch.delete_schedule(Name=name)
    e = client_error(sch.get_schedule, Name=name)
    assert e["Error"] == {"Code": "ResourceNotFoundException", "Message": "Schedule %s does not exist." % name}
    assert e["ResponseMetadata"]["HTTPStatusCode"] == 404
    e = client_error(sch.delete_schedule, Name=name)
    assert e["Error"]["Message"] == "Schedule %s does not exist." % name
    e = client_error(sch.update_schedule, Name=name, ScheduleExpression="rate(1 day)", FlexibleTimeWindow=OFF,
                     Target=target(qarn))
    assert e["Error"]["Code"] == "ResourceNotFoundException"
    sch.delete_schedule_group(Name=group)


def test_schedule_refusals(sch, sqs):
    """AWS's refusals: a name taken (ConflictException, unless the same
    ClientToken repeats the request), a name off the pattern, an invalid
    expression or time zone, a FLEXIBLE window without its size (or OFF
    with one), a recurring schedule starting more than 5 minutes ago or
    ending before it starts, a missing group, and a target Sluice cannot
    deliver to."""
    _, qarn = queue(sqs)
    name = unique_name("dup")
    kw = dict(ScheduleExpression="rate(1 day)", FlexibleTimeWindow=OFF, Target=target(qarn), State="DISABLED")
    arn = sch.create_schedule(Name=name, ClientToken="tok-1", **kw)["ScheduleArn"]
    assert sch.create_schedule(Name=name, ClientToken="tok-1", **kw)["ScheduleArn"] == arn
    e = client_error(sch.create_schedule, Name=name, ClientToken="tok-2", **kw)
    assert e["Error"] == {"Code": "ConflictException", "Message": "Schedule %s already exists." % name}
    e = client_error(sch.create_schedule, Name="has space", **kw)
    assert e["Error"]["Code"] == "ValidationException"
    assert e["Error"]["Message"] == ("1 validation error detected: Value 'has space' at 'name' failed to "
                                     "satisfy constraint: Member must satisfy regular expression pattern: "
                                     "^[0-9a-zA-Z-_.]+$")
    for expr in ["cron(0 1 * * * *)", "rate(10 seconds)", "rate(0 minutes)", "at(2021-12-31)",
                 "at(2021-12-31T23:59:59Z)", "cron(71 8 1 * ? *)", "every day"]:
        e = client_error(sch.create_schedule, Name=unique_name("bad"), **dict(kw, ScheduleExpression=expr))
        assert e["Error"] == {"Code": "ValidationException", "Message": "Invalid Schedule Expression %s." % expr}
    e = client_error(sch.create_schedule, Name=unique_name("tz"), ScheduleExpressionTimezone="Mars/Olympus", **kw)
    assert e["Error"]["Code"] == "ValidationException" and "Mars/Olympus" in e["Error"]["Message"]
    e = client_error(sch.create_schedule, Name=unique_name("fw"), **dict(kw, FlexibleTimeWindow={"Mode": "FLEXIBLE"}))
    assert e["Error"]["Code"] == "ValidationException"
    e = client_error(sch.create_schedule, Name=unique_name("fw"),
                     **dict(kw, FlexibleTimeWindow={"Mode": "OFF", "MaximumWindowInMinutes": 5}))
    assert e["Error"]["Code"] == "ValidationException"
    e = client_error(sch.create_schedule, Name=unique_name("fw"),
                     **dict(kw, FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 1441}))
    assert e["Error"]["Code"] == "ValidationException"
    now = datetime.datetime.now(datetime.timezone.utc)
    e = client_error(sch.create_schedule, Name=unique_name("start"), StartDate=now - datetime.timedelta(minutes=10),
                     **kw)
    assert e["Error"] == {"Code": "ValidationException",
                          "Message": "The StartDate you specify cannot be earlier than 5 minutes ago."}
    e = client_error(sch.create_schedule, Name=unique_name("end"), StartDate=now + datetime.timedelta(hours=2),
                     EndDate=now + datetime.timedelta(hours=1), **kw)
    assert e["Error"]["Code"] == "ValidationException"
    # (A one-time schedule ignores both dates, as AWS's does.)
    sch.create_schedule(Name=unique_name("once"), StartDate=now - datetime.timedelta(days=1),
                        **dict(kw, ScheduleExpression="at(2099-01-01T00:00:00)"))
    e = client_error(sch.create_schedule, Name=unique_name("grp"), GroupName=unique_name("nogroup"), **kw)
    assert e["Error"]["Code"] == "ResourceNotFoundException"
    e = client_error(sch.create_schedule, Name=unique_name("ecs"),
                     **dict(kw, Target=target("arn:aws:ecs:us-east-1:000000000000:cluster/c")))
    assert e["Error"]["Code"] == "ValidationException"
    e = client_error(sch.create_schedule, Name=unique_name("role"),
                     **dict(kw, Target=dict(Arn=qarn, RoleArn="not-a-role")))
    assert e["Error"]["Code"] == "ValidationException" and "'target.roleArn'" in e["Error"]["Message"]
    e = client_error(sch.create_schedule, Name=unique_name("json"),
                     **dict(kw, Target=target("arn:aws:lambda:us-east-1:000000000000:function:f", Input="{not json")))
    assert e["Error"]["Code"] == "ValidationException"
    e = client_error(sch.get_schedule, Name=name, GroupName=unique_name("nogroup"))
    assert e["Error"]["Code"] == "ResourceNotFoundException"


def test_at_fires_once_on_time(sch, sqs):
    """A one-time schedule sends its Input to its queue once, within a
    second of its time, with the context attributes replaced; with
    ActionAfterCompletion NONE it stays; a DISABLED one does not fire."""
    url, qarn = queue(sqs)
    name, off = unique_name("once"), unique_name("off")
    t, expr = soon(2)
    sch.create_schedule(Name=off, ScheduleExpression=expr, FlexibleTimeWindow=OFF, State="DISABLED",
                        Target=target(qarn, Input="disabled"))
    payload = ('{"arn": "<aws.scheduler.schedule-arn>", "at": "<aws.scheduler.scheduled-time>", '
               '"id": "<aws.scheduler.execution-id>", "n": <aws.scheduler.attempt-number>}')
    arn = sch.create_schedule(Name=name, ScheduleExpression=expr, FlexibleTimeWindow=OFF,
                              Target=target(qarn, Input=payload))["ScheduleArn"]
    m = receive(sqs, url, 1)[0]
    assert 0 <= sent_ms(m) - t * 1000 < 1000, (sent_ms(m), t)
    body = json.loads(m["Body"])
    assert body["arn"] == arn and body["n"] == 1 and len(body["id"]) == 36
    assert body["at"] == datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert empty(sqs, url)
    assert sch.get_schedule(Name=name)["State"] == "ENABLED"


def test_action_after_completion_delete(sch, sqs):
    """ActionAfterCompletion DELETE removes a one-time schedule once it
    has invoked its target."""
    url, qarn = queue(sqs)
    name = unique_name("del")
    t, expr = soon(2)
    sch.create_schedule(Name=name, ScheduleExpression=expr, FlexibleTimeWindow=OFF,
                        ActionAfterCompletion="DELETE", Target=target(qarn, Input="bye"))
    assert sch.get_schedule(Name=name)["ActionAfterCompletion"] == "DELETE"
    m = receive(sqs, url, 1)[0]
    assert m["Body"] == "bye" and sent_ms(m) >= t * 1000
    wait_until(lambda: name not in [s["Name"] for s in sch.list_schedules(NamePrefix=name)["Schedules"]],
               what="the schedule deleted")
    assert client_error(sch.get_schedule, Name=name)["Error"]["Code"] == "ResourceNotFoundException"


def test_time_zone(sch, sqs):
    """An at() time is the wall clock of ScheduleExpressionTimezone: the
    schedule fires at that zone's instant."""
    url, qarn = queue(sqs)
    t, expr = soon(2, "America/New_York")
    sch.create_schedule(Name=unique_name("ny"), ScheduleExpression=expr, ScheduleExpressionTimezone="America/New_York",
                        FlexibleTimeWindow=OFF, Target=target(qarn, Input="ny"))
    m = receive(sqs, url, 1)[0]
    assert 0 <= sent_ms(m) - t * 1000 < 1000, (sent_ms(m), t)


def test_start_and_end_dates(sch, sqs):
    """A rate() schedule first fires at its StartDate and never at or
    after its EndDate; with ActionAfterCompletion DELETE it is removed
    after its last invocation."""
    url, qarn = queue(sqs)
    name = unique_name("window")
    start = math.ceil(time.time()) + 3
    sch.create_schedule(Name=name, ScheduleExpression="rate(1 minute)", FlexibleTimeWindow=OFF,
                        StartDate=datetime.datetime.fromtimestamp(start, datetime.timezone.utc),
                        EndDate=datetime.datetime.fromtimestamp(start + 30, datetime.timezone.utc),
                        ActionAfterCompletion="DELETE", Target=target(qarn, Input="tick"))
    m = receive(sqs, url, 1)[0]
    assert 0 <= sent_ms(m) - start * 1000 < 1000, (sent_ms(m), start)
    wait_until(lambda: sch.list_schedules(NamePrefix=name)["Schedules"] == [], what="the schedule deleted")


def test_function_bus_and_fifo_targets(srv, sch, sqs):
    """A function is invoked with the Input (no resource policy needed:
    the Scheduler uses its execution role); an event bus gets an event of
    EventBridgeParameters' source and detail type with the Input as its
    detail; a FIFO queue gets the message in SqsParameters' group."""
    lam = lambda_client(srv.endpoint)
    s3 = s3_client(srv.endpoint)
    bucket = unique_name("schseen")
    s3.create_bucket(Bucket=bucket)
    code = ("import json, os, urllib.request\n"
            "def handler(event, context):\n"
            "    req = urllib.request.Request(os.environ['AWS_ENDPOINT_URL'] + '/%s/seen',"
            " data=json.dumps(event).encode(), method='PUT')\n"
            "    urllib.request.urlopen(req).read()\n") % bucket
    farn = lam.create_function(FunctionName=unique_name("schfn"), Runtime="python3.11", Role=ROLE,
                               Handler="app.handler", Code={"ZipFile": py_zip(code)})["FunctionArn"]
    ev = client("events", srv.endpoint)
    src = unique_name("sched.src")
    rule = unique_name("schrule")
    ev.put_rule(Name=rule, EventPattern=json.dumps({"source": [src]}))
    burl, barn = queue(sqs)
    ev.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": barn}])
    furl, fqarn = queue(sqs, fifo=True)
    _, expr = soon(2)
    sch.create_schedule(Name=unique_name("fn"), ScheduleExpression=expr, FlexibleTimeWindow=OFF,
                        Target=target(farn, Input='{"hello": "function"}'))
    bus = "arn:aws:events:us-east-1:000000000000:event-bus/default"
    arn = sch.create_schedule(Name=unique_name("bus"), ScheduleExpression=expr, FlexibleTimeWindow=OFF,
                              Target=target(bus, Input='{"hello": "bus"}',
                                            EventBridgeParameters={"DetailType": "tick", "Source": src}))["ScheduleArn"]
    e = client_error(sch.create_schedule, Name=unique_name("fifo"), ScheduleExpression=expr, FlexibleTimeWindow=OFF,
                     Target=target(fqarn, Input="in order"))
    assert e["Error"]["Code"] == "ValidationException"
    sch.create_schedule(Name=unique_name("fifo"), ScheduleExpression=expr, FlexibleTimeWindow=OFF,
                        Target=target(fqarn, Input="in order", SqsParameters={"MessageGroupId": "g1"}))
    event = json.loads(receive(sqs, burl, 1)[0]["Body"])
    assert event["source"] == src and event["detail-type"] == "tick" and event["detail"] == {"hello": "bus"}
    assert event["resources"] == [arn]
    m = receive(sqs, furl, 1)[0]
    assert m["Body"] == "in order" and m["Attributes"]["MessageGroupId"] == "g1"
    wait_until(lambda: s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 1, timeout=60,
               what="the function's event")
    assert json.loads(s3.get_object(Bucket=bucket, Key="seen")["Body"].read()) == {"hello": "function"}


def test_gone_target_dead_letter_queue(sch, sqs):
    """A target that is gone when the schedule fires sends the Input to
    the target's DeadLetterConfig queue, with the Scheduler's attributes
    (ERROR_CODE, EXECUTION_ID, SCHEDULE_ARN, TARGET_ARN, ...)."""
    gone_url, gone_arn = queue(sqs)
    dlq_url, dlq_arn = queue(sqs)
    sqs.delete_queue(QueueUrl=gone_url)
    _, expr = soon(2)
    arn = sch.create_schedule(Name=unique_name("dlq"), ScheduleExpression=expr, FlexibleTimeWindow=OFF,
                              Target=target(gone_arn, Input="lost", DeadLetterConfig={"Arn": dlq_arn}))["ScheduleArn"]
    m = receive(sqs, dlq_url, 1, MessageAttributeNames=["All"])[0]
    attrs = {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
    assert m["Body"] == "lost"
    assert attrs["ERROR_CODE"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert attrs["SCHEDULE_ARN"] == arn and attrs["TARGET_ARN"] == gone_arn
    assert len(attrs["EXECUTION_ID"]) == 36 and attrs["RETRY_ATTEMPTS"] == "0" and attrs["ERROR_MESSAGE"]


def test_cli(srv, sqs):
    """The aws CLI creates, reads, lists and deletes a schedule."""
    _, qarn = queue(sqs)
    name = unique_name("cli")
    out = json.loads(aws_cli(srv.endpoint, "scheduler", "create-schedule", "--name", name,
                             "--schedule-expression", "rate(1 hour)", "--flexible-time-window", "Mode=OFF",
                             "--state", "DISABLED",
                             "--target", json.dumps({"Arn": qarn, "RoleArn": SCHED_ROLE})).stdout)
    assert out["ScheduleArn"].endswith("schedule/default/" + name)
    got = json.loads(aws_cli(srv.endpoint, "scheduler", "get-schedule", "--name", name).stdout)
    assert got["ScheduleExpression"] == "rate(1 hour)" and got["Target"]["Arn"] == qarn
    listed = json.loads(aws_cli(srv.endpoint, "scheduler", "list-schedules", "--name-prefix", name).stdout)
    assert [s["Name"] for s in listed["Schedules"]] == [name]
    aws_cli(srv.endpoint, "scheduler", "delete-schedule", "--name", name)
    p = aws_cli(srv.endpoint, "scheduler", "get-schedule", "--name", name, check=False)
    assert p.returncode != 0 and "ResourceNotFoundException" in p.stderr


def test_missed_schedule_fires_once_after_kill9(tmp_path, model_dir):
    """A one-time schedule whose time passed while Sluice was killed fires
    once at the restart while still inside its FlexibleTimeWindow (and,
    with the window OFF, within its RetryPolicy's event age); its record
    keeps the fire, so a further restart does not repeat it."""
    s = Server(str(tmp_path / "data")).start()
    try:
        sch = scheduler_client(s.endpoint, model_dir)
        sqs = client("sqs", s.endpoint)
        url, qarn = queue(sqs)
        t, expr = soon(4)
        sch.create_schedule(Name="flexible", ScheduleExpression=expr,
                            FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 5},
                            Target=target(qarn, Input="flexible"))
        sch.create_schedule(Name="off", ScheduleExpression=expr, FlexibleTimeWindow=OFF,
                            Target=target(qarn, Input="off", RetryPolicy={"MaximumEventAgeInSeconds": 300}))
        s.kill9()
        assert time.time() < t, "the server was killed after the schedules' time"
        wait_until(lambda: time.time() > t + 1, what="the schedules' time to pass")
        restarted = time.time()
        s.start(port=s.port)
        sqs = client("sqs", s.endpoint)
        got = receive(sqs, url, 2)
        assert sorted(m["Body"] for m in got) == ["flexible", "off"]
        assert all(sent_ms(m) >= restarted * 1000 for m in got)
        assert empty(sqs, url)
        assert s.stop() == 0, s.logs()
        s.start(port=s.port)
        sqs = client("sqs", s.endpoint)
        assert empty(sqs, url, seconds=3)
    finally:
        assert s.stop() == 0, s.logs()
