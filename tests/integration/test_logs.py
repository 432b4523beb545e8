"""CloudWatch Logs through boto3 and the aws CLI: log groups, streams,
PutLogEvents, GetLogEvents and FilterLogEvents with AWS's pagination,
tokens and error codes; the lines of Lambda functions in /aws/lambda/NAME;
`aws logs tail` with and without --follow; logs across a restart. Each
test states the AWS behaviour it checks."""

import json
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import botocore.exceptions
import pytest

from conftest import (AWS_CLI, ROLE, aws_cli, cli_env, client_error, lambda_client,
                      logs_client, make_zip, unique_name, wait_until)

STREAM_NAME = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")


def now_ms():
    return int(time.time() * 1000)


def error_of(call, **kw):
    """Calls and returns the AWS error code and HTTP status it fails with."""
    r = client_error(call, **kw)
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def make_group(logs, streams=()):
    group = "/test/" + unique_name("g")
    logs.create_log_group(logGroupName=group)
    for s in streams:
        logs.create_log_stream(logGroupName=group, logStreamName=s)
    return group


def create_function(lam, source):
    name = unique_name("logfn")
    code = make_zip({"app.py": (source, 0o644)})
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                        Handler="app.handler", Code={"ZipFile": code})
    return name


def all_events(logs, group, stream):
    """Every event of a stream, read forward from the head."""
    out, token = [], None
    while True:
        kw = dict(logGroupName=group, logStreamName=stream, startFromHead=True)
        if token:
            kw["nextToken"] = token
        r = logs.get_log_events(**kw)
        out += r["events"]
        if r["nextForwardToken"] == token:
            return out
        token = r["nextForwardToken"]


# ---- groups ------------------------------------------------------------------


def test_log_group_lifecycle(logs):
    """CreateLogGroup, DescribeLogGroups (arn with ':*', creationTime),
    DeleteLogGroup; a second create is ResourceAlreadyExistsException and
    deleting a missing group ResourceNotFoundException, both 400."""
    group = "/test/" + unique_name("life")
    before = now_ms()
    logs.create_log_group(logGroupName=group)
    assert error_of(logs.create_log_group, logGroupName=group) == \
        ("ResourceAlreadyExistsException", 400)
    got = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in got] == [group]
    g = got[0]
    assert g["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"
    assert before - 1000 <= g["creationTime"] <= now_ms() + 1000
    assert g["storedBytes"] == 0 and "retentionInDays" not in g
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    assert error_of(logs.delete_log_group, logGroupName=group) == \
        ("ResourceNotFoundException", 400)


def test_describe_log_groups_pagination(logs):
    """DescribeLogGroups lists by name, `limit` per page with a nextToken
    until the last page; the SDK paginator walks them all; limit over 50
    and a prefix with a pattern are InvalidParameterException."""
    prefix = "/test/" + unique_name("page") + "/"
    names = [f"{prefix}{i:02d}" for i in range(7)]
    for n in reversed(names):
        logs.create_log_group(logGroupName=n)
    seen, token, pages = [], None, 0
    while True:
        kw = dict(logGroupNamePrefix=prefix, limit=3)
        if token:
            kw["nextToken"] = token
        r = logs.describe_log_groups(**kw)
        pages += 1
        seen += [g["logGroupName"] for g in r["logGroups"]]
        assert len(r["logGroups"]) <= 3
        token = r.get("nextToken")
        if not token:
            break
    assert seen == names and pages == 3
    pag = logs.get_paginator("describe_log_groups")
    assert [g["logGroupName"] for p in pag.paginate(logGroupNamePrefix=prefix,
                                                    PaginationConfig={"PageSize": 2})
            for g in p["logGroups"]] == names
    # logGroupNamePattern: a case-sensitive substring.
    pat = logs.describe_log_groups(logGroupNamePattern=prefix.strip("/") + "/03")
    assert [g["logGroupName"] for g in pat["logGroups"]] == [names[3]]
    assert logs.describe_log_groups(logGroupNamePattern=prefix.upper())["logGroups"] == []
    assert error_of(logs.describe_log_groups, limit=51)[0] == "InvalidParameterException"
    assert error_of(logs.describe_log_groups, logGroupNamePrefix=prefix,
                    logGroupNamePattern="x")[0] == "InvalidParameterException"


def test_invalid_names_and_tokens(logs):
    """Names outside CloudWatch's patterns and forged tokens are
    InvalidParameterException (400), with AWS's validation wording."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.create_log_group(logGroupName="has space")
    err = e.value.response["Error"]
    assert err["Code"] == "InvalidParameterException"
    assert "Value 'has space' at 'logGroupName' failed to satisfy constraint" in err["Message"]
    group = make_group(logs)
    assert error_of(logs.create_log_stream, logGroupName=group,
                    logStreamName="a:b") == ("InvalidParameterException", 400)
    assert error_of(logs.describe_log_streams, logGroupName=group,
                    nextToken="forged")[0] == "InvalidParameterException"
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    assert error_of(logs.get_log_events, logGroupName=group, logStreamName="s",
                    nextToken="f/123")[0] == "InvalidParameterException"
    assert error_of(logs.filter_log_events, logGroupName=group,
                    nextToken="bm9wZQ==")[0] == "InvalidParameterException"


def test_retention_policy(logs):
    """PutRetentionPolicy takes only CloudWatch's day values (others are
    InvalidParameterException naming the allowed set); the group shows
    retentionInDays until DeleteRetentionPolicy; a missing group is
    ResourceNotFoundException."""
    group = make_group(logs)
    logs.put_retention_policy(logGroupName=group, retentionInDays=30)
    g = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert g["retentionInDays"] == 30
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.put_retention_policy(logGroupName=group, retentionInDays=8)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "Member must satisfy enum value set: [1, 3, 5, 7, 14, 30" in \
        e.value.response["Error"]["Message"]
    logs.delete_retention_policy(logGroupName=group)
    g = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert "retentionInDays" not in g
    assert error_of(logs.put_retention_policy, logGroupName=group + "-none",
                    retentionInDays=7) == ("ResourceNotFoundException", 400)
    assert error_of(logs.delete_retention_policy,
                    logGroupName=group + "-none") == ("ResourceNotFoundException", 400)


def test_unknown_and_unimplemented_operations(server):
    """A json-protocol operation CloudWatch Logs does not have, or one Sluice
    does not implement yet, is UnknownOperationException (400)."""
    for op in ("NoSuchThing", "DescribeMetricFilters"):
        req = urllib.request.Request(
            server.endpoint + "/", data=b"{}", method="POST",
            headers={"X-Amz-Target": f"Logs_20140328.{op}",
                     "Content-Type": "application/x-amz-json-1.1"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 400
        body = json.loads(e.value.read())
        assert body["__type"] == "UnknownOperationException"


# ---- streams and events -------------------------------------------------------


def test_log_streams(logs):
    """CreateLogStream needs its group (ResourceNotFoundException) and a new
    name (ResourceAlreadyExistsException); DescribeLogStreams orders by name
    either way or by LastEventTime, pages with nextToken, and refuses
    LastEventTime with a prefix; DeleteLogStream removes it."""
    assert error_of(logs.create_log_stream, logGroupName="/test/none-" + unique_name("x"),
                    logStreamName="s") == ("ResourceNotFoundException", 400)
    group = make_group(logs, ["b", "a", "c", "d"])
    assert error_of(logs.create_log_stream, logGroupName=group,
                    logStreamName="a") == ("ResourceAlreadyExistsException", 400)
    t = now_ms()
    for i, s in enumerate(["c", "a", "d"]):  # last events: c < a < d; b has none
        logs.put_log_events(logGroupName=group, logStreamName=s,
                            logEvents=[{"timestamp": t + i, "message": s}])

    def names(**kw):
        out, token = [], None
        while True:
            if token:
                kw["nextToken"] = token
            r = logs.describe_log_streams(logGroupName=group, limit=2, **kw)
            assert len(r["logStreams"]) <= 2
            out += [s["logStreamName"] for s in r["logStreams"]]
            token = r.get("nextToken")
            if not token:
                return out

    assert names() == ["a", "b", "c", "d"]
    assert names(descending=True) == ["d", "c", "b", "a"]
    assert names(orderBy="LastEventTime") == ["b", "c", "a", "d"]
    assert names(orderBy="LastEventTime", descending=True) == ["d", "a", "c", "b"]
    assert names(logStreamNamePrefix="c") == ["c"]
    s = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="a")["logStreams"][0]
    assert s["firstEventTimestamp"] == s["lastEventTimestamp"] == t + 1
    assert s["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:log-stream:a"
    assert "lastIngestionTime" in s and "creationTime" in s
    assert error_of(logs.describe_log_streams, logGroupName=group, orderBy="LastEventTime",
                    logStreamNamePrefix="a")[0] == "InvalidParameterException"
    assert error_of(logs.describe_log_streams, logGroupName=group + "-none") == \
        ("ResourceNotFoundException", 400)
    logs.delete_log_stream(logGroupName=group, logStreamName="a")
    assert names() == ["b", "c", "d"]
    assert error_of(logs.delete_log_stream, logGroupName=group,
                    logStreamName="a") == ("ResourceNotFoundException", 400)
    assert error_of(logs.get_log_events, logGroupName=group,
                    logStreamName="a") == ("ResourceNotFoundException", 400)


def test_put_log_events_rules(logs):
    """PutLogEvents: the stream must exist; events must be in chronological
    order; events over 14 days old or over 2 hours ahead are not stored but
    reported in rejectedLogEventsInfo; the sequence token is not checked."""
    group = make_group(logs, ["s"])
    assert error_of(logs.put_log_events, logGroupName=group, logStreamName="none",
                    logEvents=[{"timestamp": now_ms(), "message": "x"}]) == \
        ("ResourceNotFoundException", 400)
    t = now_ms()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.put_log_events(logGroupName=group, logStreamName="s",
                            logEvents=[{"timestamp": t, "message": "b"},
                                       {"timestamp": t - 1, "message": "a"}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "chronological" in e.value.response["Error"]["Message"]
    day = 24 * 3600 * 1000
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.put_log_events(logGroupName=group, logStreamName="s",
                            logEvents=[{"timestamp": t - 2 * day, "message": "a"},
                                       {"timestamp": t, "message": "b"}])
    assert "24 hours" in e.value.response["Error"]["Message"]
    r = logs.put_log_events(logGroupName=group, logStreamName="s", sequenceToken="whatever",
                            logEvents=[{"timestamp": t - 15 * day, "message": "old"},
                                       {"timestamp": t - 15 * day + 1, "message": "old"}])
    assert r["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 2}
    r = logs.put_log_events(logGroupName=group, logStreamName="s",
                            logEvents=[{"timestamp": t, "message": "kept"},
                                       {"timestamp": t + 3 * 3600 * 1000, "message": "new"}])
    assert r["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    assert r["nextSequenceToken"]
    assert [e["message"] for e in all_events(logs, group, "s")] == ["kept"]


def test_get_log_events_tokens(logs):
    """GetLogEvents returns the newest `limit` events by default, the oldest
    with startFromHead; nextForwardToken ("f/...") and nextBackwardToken
    ("b/...") page on in either direction, and at the end the same token
    comes back (how clients know to stop); startTime is inclusive and
    endTime exclusive."""
    group = make_group(logs, ["s"])
    t = now_ms() - 60_000
    msgs = [f"event {i:02d}" for i in range(25)]
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": t + i, "message": m} for i, m in enumerate(msgs)])
    r = logs.get_log_events(logGroupName=group, logStreamName="s", limit=10)
    assert [e["message"] for e in r["events"]] == msgs[15:]
    assert r["nextForwardToken"].startswith("f/") and r["nextBackwardToken"].startswith("b/")
    assert all(e["ingestionTime"] >= e["timestamp"] for e in r["events"])
    # Backward from the newest page to the start, then the token repeats.
    back, token = r["events"], r["nextBackwardToken"]
    while True:
        p = logs.get_log_events(logGroupName=group, logStreamName="s", limit=10,
                                nextToken=token)
        back = p["events"] + back
        if p["nextBackwardToken"] == token:
            assert p["events"] == []
            break
        token = p["nextBackwardToken"]
    assert [e["message"] for e in back] == msgs
    # Forward from the head.
    head = logs.get_log_events(logGroupName=group, logStreamName="s", limit=10,
                               startFromHead=True)
    assert [e["message"] for e in head["events"]] == msgs[:10]
    fwd, token = head["events"], head["nextForwardToken"]
    while True:
        p = logs.get_log_events(logGroupName=group, logStreamName="s", limit=10,
                                nextToken=token)
        fwd += p["events"]
        if p["nextForwardToken"] == token:
            break
        token = p["nextForwardToken"]
    assert [e["message"] for e in fwd] == msgs
    # New events show up behind the last forward token.
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": t + 100, "message": "later"}])
    p = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=token)
    assert [e["message"] for e in p["events"]] == ["later"]
    # Time range: [startTime, endTime).
    r = logs.get_log_events(logGroupName=group, logStreamName="s", startTime=t + 5,
                            endTime=t + 8, startFromHead=True)
    assert [e["message"] for e in r["events"]] == msgs[5:8]


def test_filter_log_events(logs):
    """FilterLogEvents interleaves the group's streams by timestamp, applies
    CloudWatch's term patterns (all terms, "quoted phrases", ?alternatives,
    -exclusions), logStreamNames / logStreamNamePrefix, an inclusive
    [startTime, endTime], and pages with nextToken; each event carries its
    stream and a unique eventId."""
    group = make_group(logs, ["app-1", "app-2", "other"])
    t = now_ms() - 60_000
    lines = {
        "app-1": [(t + 0, "INFO start"), (t + 2, "ERROR disk full"), (t + 4, "WARN slow")],
        "app-2": [(t + 1, "INFO start"), (t + 3, "Task timed out after 3.00 seconds"),
                  (t + 5, "ERROR Exiting")],
        "other": [(t + 6, "ERROR elsewhere")],
    }
    for s, evs in lines.items():
        logs.put_log_events(logGroupName=group, logStreamName=s,
                            logEvents=[{"timestamp": ts, "message": m} for ts, m in evs])

    def messages(**kw):
        return [e["message"] for e in logs.filter_log_events(logGroupName=group, **kw)["events"]]

    everything = logs.filter_log_events(logGroupName=group)
    assert [e["timestamp"] for e in everything["events"]] == [t + i for i in range(7)]
    assert len({e["eventId"] for e in everything["events"]}) == 7
    assert {e["logStreamName"] for e in everything["events"]} == set(lines)
    assert "nextToken" not in everything
    assert {s["logStreamName"] for s in everything["searchedLogStreams"]} == set(lines)
    assert messages(filterPattern="ERROR") == ["ERROR disk full", "ERROR Exiting",
                                               "ERROR elsewhere"]
    assert messages(filterPattern="ERROR full") == ["ERROR disk full"]
    assert messages(filterPattern='"timed out"') == ["Task timed out after 3.00 seconds"]
    assert messages(filterPattern="?WARN ?timed") == ["Task timed out after 3.00 seconds",
                                                      "WARN slow"]
    assert messages(filterPattern="ERROR -Exiting") == ["ERROR disk full", "ERROR elsewhere"]
    assert messages(filterPattern="error") == []  # case-sensitive
    assert messages(logStreamNamePrefix="app-", filterPattern="ERROR") == \
        ["ERROR disk full", "ERROR Exiting"]
    assert messages(logStreamNames=["other", "app-1"], filterPattern="ERROR") == \
        ["ERROR disk full", "ERROR elsewhere"]
    assert messages(startTime=t + 2, endTime=t + 4) == \
        ["ERROR disk full", "Task timed out after 3.00 seconds", "WARN slow"]
    # Pages of 2: every event once, in order.
    seen, token = [], None
    while True:
        kw = {"limit": 2}
        if token:
            kw["nextToken"] = token
        r = logs.filter_log_events(logGroupName=group, **kw)
        assert len(r["events"]) <= 2
        seen += r["events"]
        token = r.get("nextToken")
        if not token:
            break
    assert [e["eventId"] for e in seen] == [e["eventId"] for e in everything["events"]]
    pag = logs.get_paginator("filter_log_events")
    assert [e["message"] for p in pag.paginate(logGroupName=group, filterPattern="INFO",
                                               PaginationConfig={"PageSize": 1})
            for e in p["events"]] == ["INFO start", "INFO start"]
    assert error_of(logs.filter_log_events, logGroupName=group,
                    filterPattern='"unclosed')[0] == "InvalidParameterException"
    assert error_of(logs.filter_log_events, logGroupName=group, logStreamNames=["a"],
                    logStreamNamePrefix="a")[0] == "InvalidParameterException"
    assert error_of(logs.filter_log_events, logGroupName=group + "-none") == \
        ("ResourceNotFoundException", 400)


def test_delete_log_group_removes_everything(logs):
    """Deleting a group deletes its streams and events: a group created again
    under the same name is empty."""
    group = make_group(logs, ["s"])
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": now_ms(), "message": "gone"}])
    logs.delete_log_group(logGroupName=group)
    logs.create_log_group(logGroupName=group)
    assert logs.describe_log_streams(logGroupName=group)["logStreams"] == []
    assert logs.filter_log_events(logGroupName=group)["events"] == []


def test_aws_cli_logs(server):
    """The aws CLI's own commands: create-log-group, create-log-stream,
    put-log-events, get-log-events and filter-log-events."""
    group = "/test/" + unique_name("cli")
    aws_cli(server.endpoint, "logs", "create-log-group", "--log-group-name", group)
    aws_cli(server.endpoint, "logs", "create-log-stream", "--log-group-name", group,
            "--log-stream-name", "s")
    t = now_ms()
    events = json.dumps([{"timestamp": t, "message": "hello cli"},
                         {"timestamp": t + 1, "message": "second line"}])
    aws_cli(server.endpoint, "logs", "put-log-events", "--log-group-name", group,
            "--log-stream-name", "s", "--log-events", events)
    out = json.loads(aws_cli(server.endpoint, "logs", "get-log-events", "--log-group-name",
                             group, "--log-stream-name", "s", "--start-from-head").stdout)
    assert [e["message"] for e in out["events"]] == ["hello cli", "second line"]
    out = json.loads(aws_cli(server.endpoint, "logs", "filter-log-events", "--log-group-name",
                             group, "--filter-pattern", "second").stdout)
    assert [e["message"] for e in out["events"]] == ["second line"]
    r = aws_cli(server.endpoint, "logs", "create-log-group", "--log-group-name", group,
                check=False)
    assert r.returncode != 0 and "ResourceAlreadyExistsException" in r.stderr


# ---- Lambda's logs -------------------------------------------------------------

HANDLER = """
def handler(event, context):
    print("handled", event["n"])
    print("second line of", event["n"])
    return event["n"]
"""


def function_lines(logs, name, want, timeout=30):
    """Waits for the function's log group to hold the wanted lines; returns
    (stream name, messages of that stream)."""
    group = f"/aws/lambda/{name}"

    def ready():
        try:
            streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        for s in streams:
            msgs = [e["message"] for e in all_events(logs, group, s["logStreamName"])]
            if all(any(w in m for m in msgs) for w in want):
                return s["logStreamName"], msgs
        return None

    return wait_until(ready, timeout=timeout, what=f"log lines {want} in {group}")


def test_lambda_lines_in_cloudwatch(logs, lam):
    """What a function prints, and the platform's START, END and REPORT
    lines, land in /aws/lambda/NAME, in one stream per environment named
    YYYY/MM/DD/[$LATEST]<32 hex>, each line one event ending in a newline,
    in order; FilterLogEvents finds them."""
    day_before = time.strftime("%Y/%m/%d", time.gmtime())
    name = create_function(lam, HANDLER)
    ids = []
    for n in (1, 2):
        r = lam.invoke(FunctionName=name, Payload=json.dumps({"n": n}))
        assert json.load(r["Payload"]) == n
        ids.append(r["ResponseMetadata"]["RequestId"])
    stream, msgs = function_lines(logs, name, ["handled 2", f"REPORT RequestId: {ids[1]}"])
    assert STREAM_NAME.match(stream), stream
    assert stream[:10] in (day_before, time.strftime("%Y/%m/%d", time.gmtime()))
    groups = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [f"/aws/lambda/{name}"]
    assert all(m.endswith("\n") for m in msgs)
    start = msgs.index(f"START RequestId: {ids[0]} Version: $LATEST\n")
    end = msgs.index(f"END RequestId: {ids[0]}\n")
    assert start < msgs.index("handled 1\n") < msgs.index("second line of 1\n")
    report = msgs[end + 1]
    assert report.startswith(f"REPORT RequestId: {ids[0]}\tDuration: ")
    assert report.endswith("\t\n")
    assert msgs.index(f"START RequestId: {ids[1]} Version: $LATEST\n") > end
    hits = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}",
                                  filterPattern='"second line"')["events"]
    assert [e["message"] for e in hits] == ["second line of 1\n", "second line of 2\n"]
    assert {e["logStreamName"] for e in hits} == {stream}


def test_aws_logs_tail(server, logs, lam):
    """`aws logs tail /aws/lambda/NAME` (FilterLogEvents from 10 minutes
    ago, interleaved, paginated) prints the function's lines with their
    stream; --filter-pattern narrows them."""
    name = create_function(lam, HANDLER)
    lam.invoke(FunctionName=name, Payload=json.dumps({"n": 7}))
    stream, _ = function_lines(logs, name, ["handled 7"])
    out = aws_cli(server.endpoint, "logs", "tail", f"/aws/lambda/{name}").stdout
    lines = out.splitlines()
    assert any(l.endswith(f" {stream} handled 7") for l in lines), out
    assert any(f" {stream} START RequestId: " in l for l in lines), out
    out = aws_cli(server.endpoint, "logs", "tail", f"/aws/lambda/{name}", "--filter-pattern",
                  "second", "--format", "short").stdout
    assert [l.split(" ", 1)[1] for l in out.splitlines()] == ["second line of 7"]


def follow_env():
    # the CLI's lines as they come, not at exit
    return cli_env(PYTHONUNBUFFERED="1")


def test_aws_logs_tail_follow(server, logs, lam):
    """`aws logs tail --follow` keeps polling FilterLogEvents (startTime
    moved to the newest event, duplicates dropped by eventId) and prints
    lines of invocations made after it started, each once."""
    name = create_function(lam, HANDLER)
    lam.invoke(FunctionName=name, Payload=json.dumps({"n": 1}))
    function_lines(logs, name, ["handled 1"])
    proc = subprocess.Popen([AWS_CLI, "--endpoint-url", server.endpoint, "logs", "tail",
                             f"/aws/lambda/{name}", "--follow", "--format", "short"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=follow_env())
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(l.rstrip("\n")) for l in proc.stdout],
                              daemon=True)
    reader.start()
    seen = []

    def wait_for(text, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            if any(l.endswith(text) for l in seen):
                return
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                raise AssertionError(f"no {text!r} from aws logs tail --follow: {seen} "
                                     f"{proc.stderr.read() if proc.poll() is not None else ''}")
            try:
                seen.append(lines.get(timeout=min(left, 1)))
            except queue.Empty:
                pass

    try:
        wait_for(" handled 1")
        # (Both in one of the CLI's 5-second polls, or across two.)
        lam.invoke(FunctionName=name, Payload=json.dumps({"n": 2}))
        lam.invoke(FunctionName=name, Payload=json.dumps({"n": 3}))
        wait_for(" handled 2")
        wait_for(" second line of 3")
    finally:
        proc.send_signal(signal.SIGINT)  # how a user stops it
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
    printed = [l.split(" ", 1)[1] for l in seen if " " in l]
    for n in (1, 2):
        assert printed.count(f"handled {n}") == 1, seen


def test_logs_survive_restart(fresh_server):
    """Log groups, streams and events, the API's and a function's, are there
    after a clean restart; lines still queued at shutdown are written before
    Sluice exits."""
    srv = fresh_server().start()
    logs, lam = logs_client(srv.endpoint), lambda_client(srv.endpoint)
    group = make_group(logs, ["s"])
    t = now_ms()
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": t, "message": "durable"}])
    logs.put_retention_policy(logGroupName=group, retentionInDays=14)
    name = create_function(lam, HANDLER)
    r = lam.invoke(FunctionName=name, Payload=json.dumps({"n": 42}))
    request_id = r["ResponseMetadata"]["RequestId"]
    # Stop at once: END and REPORT, logged before Invoke returned, may
    # still be queued.
    assert srv.stop() == 0
    srv.start()
    logs = logs_client(srv.endpoint)
    assert [e["message"] for e in all_events(logs, group, "s")] == ["durable"]
    g = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert g["retentionInDays"] == 14
    _, msgs = function_lines(logs, name, [f"REPORT RequestId: {request_id}\t"], timeout=5)
    assert f"START RequestId: {request_id} Version: $LATEST\n" in msgs
    assert f"END RequestId: {request_id}\n" in msgs
    assert srv.stop() == 0
