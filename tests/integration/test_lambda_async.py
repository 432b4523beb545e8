"""Asynchronous invocation through boto3 and the aws CLI: InvocationType
Event, the event invoke config API, AWS's retries (on a server whose
platform delays run 600 times faster: --time-scale 600 turns the one- and
two-minute retry waits into 100 and 200 ms), destinations with AWS's
invocation record, event age expiry, and kill -9 losing nothing."""

import json
import threading

import botocore.exceptions
import pytest

from conftest import (ROLE, Server, aws_cli, client_error, function_log_messages,
                      lambda_client, logs_client, py_zip, run_threads, s3_client, unique_name,
                      wait_until)

SCALE = "600"


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    data = str(tmp_path_factory.mktemp("async") / "data")
    srv = Server(data, ["--time-scale", SCALE]).start()
    yield srv
    rc = srv.stop()
    assert rc == 0, f"sluice exited with {rc}: {srv.logs()}"


@pytest.fixture(scope="module")
def lam(fast):
    return lambda_client(fast.endpoint)


@pytest.fixture(scope="module")
def logs(fast):
    return logs_client(fast.endpoint)


def make_fn(lam, source, **kw):
    name = unique_name("async")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                        Handler="app.handler", Code={"ZipFile": py_zip(source)}, **kw)
    return name


def arn_of(lam, name):
    return lam.get_function_configuration(FunctionName=name)["FunctionArn"]


messages = function_log_messages


def records(logs, name):
    """What a sink function printed: one JSON record per line."""
    return [json.loads(m[len("RECORD "):]) for m in messages(logs, name)
            if m.startswith("RECORD ")]


def metrics(lam, name):
    """The function's values at /_sluice/metrics, by family."""
    import urllib.request
    with urllib.request.urlopen(lam.meta.endpoint_url + "/_sluice/metrics") as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if f'function="{name}"' in line:
            family = line.split("{", 1)[0]
            out[family] = float(line.rsplit(" ", 1)[1])
    return out


SINK = "import json\ndef handler(event, context):\n    print('RECORD ' + json.dumps(event))\n"


def test_event_invoke_returns_202_and_runs(lam, logs):
    """Event → 202 with an empty body and a request id; the function runs
    once with the event, under that request id."""
    name = make_fn(lam, "def handler(event, context):\n"
                        "    print('GOT', event['n'], context.aws_request_id)\n")
    r = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 41}')
    assert r["StatusCode"] == 202
    assert r["Payload"].read() == b""
    rid = r["ResponseMetadata"]["RequestId"]
    got = wait_until(lambda: [m for m in messages(logs, name) if m.startswith("GOT")],
                     timeout=30, what="the async event to run")
    assert got == [f"GOT 41 {rid}\n"]


def test_legacy_invoke_async(fast, lam, logs, tmp_path):
    """The deprecated InvokeAsync (boto3's invoke_async, `aws lambda
    invoke-async`), whose body is the event: 202 with Status 202, and the
    function runs with that event."""
    name = make_fn(lam, "def handler(event, context):\n    print('GOT', event['n'])\n")
    r = lam.invoke_async(FunctionName=name, InvokeArgs=b'{"n": 1}')
    assert r["Status"] == 202
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 202
    args = tmp_path / "args.json"
    args.write_text('{"n": 2}')
    out = aws_cli(fast.endpoint, "lambda", "invoke-async", "--function-name", name,
                  "--invoke-args", str(args)).stdout
    assert json.loads(out)["Status"] == 202
    got = wait_until(lambda: sorted(m for m in messages(logs, name) if m.startswith("GOT"))
                     if len([m for m in messages(logs, name) if m.startswith("GOT")]) == 2
                     else None, timeout=30, what="both legacy async events to run")
    assert got == ["GOT 1\n", "GOT 2\n"]
    assert error_of(lam.invoke_async, FunctionName=name,
                    InvokeArgs=b"{nope")[0] == "InvalidRequestContentException"


def test_retries_then_on_failure_destination(lam, logs):
    """A failing function runs 1 + MaximumRetryAttempts times under one
    request id; then its OnFailure destination gets AWS's record."""
    sink = make_fn(lam, SINK)
    name = make_fn(lam, "def handler(event, context):\n"
                        "    print('TRY', context.aws_request_id)\n"
                        "    raise ValueError('bad ' + str(event['n']))\n")
    cfg = lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": arn_of(lam, sink)}})
    assert cfg["MaximumRetryAttempts"] == 1
    assert cfg["FunctionArn"].endswith(f":function:{name}:$LATEST")
    r = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 7}')
    rid = r["ResponseMetadata"]["RequestId"]
    rec = wait_until(lambda: records(logs, sink), timeout=30, what="the failure record")[0]
    tries = [m for m in messages(logs, name) if m.startswith("TRY")]
    assert tries == [f"TRY {rid}\n"] * 2
    assert rec["version"] == "1.0" and rec["timestamp"].endswith("Z")
    ctx = rec["requestContext"]
    assert ctx["requestId"] == rid
    assert ctx["functionArn"] == arn_of(lam, name) + ":$LATEST"
    assert ctx["condition"] == "RetriesExhausted" and ctx["approximateInvokeCount"] == 2
    assert rec["requestPayload"] == {"n": 7}
    assert rec["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                      "functionError": "Unhandled"}
    assert rec["responsePayload"]["errorType"] == "ValueError"
    assert rec["responsePayload"]["errorMessage"] == "bad 7"
    m = metrics(lam, name)
    assert m["sluice_lambda_async_events_received_total"] == 1
    assert m["sluice_lambda_async_events_dropped_total"] == 1
    assert m["sluice_lambda_async_event_age_milliseconds_count"] == 2
    assert m["sluice_lambda_errors_total"] == 2
    assert m["sluice_lambda_destination_delivery_failures_total"] == 0


def test_on_success_destination(lam, logs):
    """A success sends the result to OnSuccess (condition Success)."""
    sink = make_fn(lam, SINK)
    name = make_fn(lam, "def handler(event, context):\n    return {'doubled': event['n'] * 2}\n")
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn_of(lam, sink)}})
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 21}')
    rec = wait_until(lambda: records(logs, sink), timeout=30, what="the success record")[0]
    assert rec["requestContext"]["condition"] == "Success"
    assert rec["requestContext"]["approximateInvokeCount"] == 1
    assert rec["requestPayload"] == {"n": 21}
    assert rec["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert rec["responsePayload"] == {"doubled": 42}


def test_event_age_expiry(lam, logs):
    """An event older than MaximumEventAgeInSeconds is not run again: the
    first retry would come after 60 s (scaled), past a 60 s age limit."""
    sink = make_fn(lam, SINK)
    name = make_fn(lam, "def handler(event, context):\n"
                        "    print('TRY')\n    raise RuntimeError('no')\n")
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": arn_of(lam, sink)}})
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"old": true}')
    rec = wait_until(lambda: records(logs, sink), timeout=30, what="the expiry record")[0]
    assert rec["requestContext"]["condition"] == "EventAgeExceeded"
    assert rec["requestContext"]["approximateInvokeCount"] == 1
    assert "responseContext" not in rec
    assert [m for m in messages(logs, name) if m.startswith("TRY")] == ["TRY\n"]


def test_reserved_zero_goes_straight_to_failure(lam, logs):
    """With reserved concurrency 0 the event is not run and not retried:
    the OnFailure destination gets it at once."""
    sink = make_fn(lam, SINK)
    name = make_fn(lam, "def handler(event, context):\n    print('RAN')\n")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": arn_of(lam, sink)}})
    r = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert r["StatusCode"] == 202
    rec = wait_until(lambda: records(logs, sink), timeout=30, what="the record")[0]
    assert rec["requestContext"]["condition"] == "RetriesExhausted"
    assert rec["requestContext"]["approximateInvokeCount"] == 0
    assert not [m for m in messages(logs, name) if m.startswith("RAN")]


def error_of(call, **kw):
    err = client_error(call, **kw)["Error"]
    return err["Code"], err["Message"]


def test_event_invoke_config_api(lam):
    """Put replaces, Update merges, Get/List show it (empty destinations as
    {}), Delete removes it; destinations that do not exist are refused."""
    name = make_fn(lam, "def handler(e, c):\n    return 1\n")
    sink = make_fn(lam, SINK)
    assert error_of(lam.get_function_event_invoke_config, FunctionName=name)[0] == \
        "ResourceNotFoundException"
    put = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0,
                                               MaximumEventAgeInSeconds=120)
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    assert put["MaximumEventAgeInSeconds"] == 120
    upd = lam.update_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn_of(lam, sink)}})
    assert upd["MaximumRetryAttempts"] == 0 and upd["MaximumEventAgeInSeconds"] == 120
    assert upd["DestinationConfig"]["OnSuccess"]["Destination"] == arn_of(lam, sink)
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert got["DestinationConfig"] == upd["DestinationConfig"]
    assert got["LastModified"]
    replaced = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2)
    assert "MaximumEventAgeInSeconds" not in replaced
    assert replaced["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    listed = lam.list_function_event_invoke_configs(FunctionName=name)
    assert [c["MaximumRetryAttempts"] for c in listed["FunctionEventInvokeConfigs"]] == [2]
    for dest in (arn_of(lam, sink) + "-missing",
                 "arn:aws:sqs:us-east-1:000000000000:no-such-queue",
                 "arn:aws:sns:us-east-1:000000000000:no-such-topic"):
        code, msg = error_of(lam.put_function_event_invoke_config, FunctionName=name,
                             DestinationConfig={"OnFailure": {"Destination": dest}})
        assert code == "InvalidParameterValueException" and dest in msg
    code, _ = error_of(lam.put_function_event_invoke_config, FunctionName=name,
                       MaximumRetryAttempts=3)
    assert code in ("ValidationException", "InvalidParameterValueException")
    code, _ = error_of(lam.put_function_event_invoke_config, FunctionName=name,
                       MaximumEventAgeInSeconds=21601)
    assert code in ("ValidationException", "InvalidParameterValueException")
    lam.delete_function_event_invoke_config(FunctionName=name)
    assert lam.list_function_event_invoke_configs(
        FunctionName=name)["FunctionEventInvokeConfigs"] == []
    assert error_of(lam.put_function_event_invoke_config, FunctionName=name + "-none",
                    MaximumRetryAttempts=1)[0] == "ResourceNotFoundException"


def test_event_invoke_config_cli(fast, lam):
    """The aws CLI drives the same API."""
    name = make_fn(lam, "def handler(e, c):\n    return 1\n")
    out = aws_cli(fast.endpoint, "lambda", "put-function-event-invoke-config",
                  "--function-name", name, "--maximum-retry-attempts", "1").stdout
    assert json.loads(out)["MaximumRetryAttempts"] == 1
    out = aws_cli(fast.endpoint, "lambda", "get-function-event-invoke-config",
                  "--function-name", name).stdout
    assert json.loads(out)["MaximumRetryAttempts"] == 1


def test_async_bad_input(lam):
    """An async payload over 1 MB gets 413; invalid JSON 400; a dead-letter
    queue that cannot exist is refused rather than ignored."""
    name = make_fn(lam, "def handler(e, c):\n    return 1\n")
    big = b'{"x": "' + b"a" * (1024 * 1024) + b'"}'
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=big)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert e.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    code, _ = error_of(lam.invoke, FunctionName=name, InvocationType="Event", Payload=b"{nope")
    assert code == "InvalidRequestContentException"
    code, msg = error_of(lam.update_function_configuration, FunctionName=name,
                         DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq"})
    assert code == "InvalidParameterValueException" and "dlq" in msg


RECORDER = """
import http.client, json, os, time, urllib.parse
URL = urllib.parse.urlparse(os.environ["AWS_ENDPOINT_URL"])
def handler(event, context):
    time.sleep(0.01)
    c = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)
    c.request("PUT", "/async-done/" + str(event["n"]), body=b"1")
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
    return event["n"]
"""


def test_kill9_loses_no_accepted_event(fresh_server):
    """1,000 events accepted (202), kill -9 while they run, restart: every
    one is processed (at-least-once: a run cut short runs again). Four
    workers for a function limited to four at once: nothing is throttled,
    so no event waits out a backoff."""
    srv = fresh_server(["--async-workers", "4"]).start()
    s3 = s3_client(srv.endpoint)
    s3.create_bucket(Bucket="async-done")
    lam = lambda_client(srv.endpoint)
    name = "recorder"
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                        Handler="app.handler", Code={"ZipFile": py_zip(RECORDER)})
    # Four at a time, 10 ms each: the run takes seconds, so the kill lands
    # in the middle of it.
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=4)
    accepted, lock = [], threading.Lock()

    def sender(k):
        client = lambda_client(srv.endpoint)
        for n in range(k, 1000, 4):
            r = client.invoke(FunctionName=name, InvocationType="Event",
                              Payload=json.dumps({"n": n}).encode())
            assert r["StatusCode"] == 202
            with lock:
                accepted.append(n)

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(accepted) == 1000

    def done():
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket="async-done")
        return {int(o["Key"]) for p in pages for o in p.get("Contents", [])}

    # Kill once some, not all, have run.
    wait_until(lambda: len(done()) >= 50, timeout=60, what="50 events processed")
    before = len(done())
    srv.kill9()
    assert before < 1000, "every event ran before the kill: the test proved nothing"
    srv.start()
    s3 = s3_client(srv.endpoint)
    wait_until(lambda: len(done()) == 1000, timeout=240, what="all 1000 events processed")
    assert done() == set(range(1000))


def test_reserved_concurrency_never_waits_out_a_backoff(fresh_server):
    """200 events of a function with reserved concurrency 2, accepted
    before a restart: after it they run two at a time as slots free (the
    consumer asks the governor before it leases), none throttled, so they
    finish in seconds, not after AWS's throttle back-off (1 s doubling to
    5 minutes) that capacity held by other callers earns."""
    srv = fresh_server(["--async-workers", "16"]).start()
    s3 = s3_client(srv.endpoint)
    s3.create_bucket(Bucket="async-done")
    lam = lambda_client(srv.endpoint)
    name = "two-at-a-time"
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                        Handler="app.handler", Code={"ZipFile": py_zip(RECORDER)})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    srv.stop()
    srv.start(srv.port)  # the reservation is loaded at start-up
    lam = lambda_client(srv.endpoint)

    def sender(k):
        client = lambda_client(srv.endpoint)
        for n in range(k, 200, 4):
            r = client.invoke(FunctionName=name, InvocationType="Event",
                              Payload=json.dumps({"n": n}).encode())
            assert r["StatusCode"] == 202

    assert run_threads(sender, 4) == []
    srv.stop()
    srv.start(srv.port)
    s3 = s3_client(srv.endpoint)
    import time
    t0 = time.monotonic()

    def done():
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket="async-done")
        return {int(o["Key"]) for p in pages for o in p.get("Contents", [])}

    wait_until(lambda: len(done()) == 200, timeout=120, what="all 200 events processed")
    took = time.monotonic() - t0
    assert done() == set(range(200))
    m = metrics(lam, name)
    assert m.get("sluice_lambda_throttles_total", 0) == 0, m
    # Two at a time, 10 ms of work each, on a sanitizer build: seconds. A
    # single throttle back-off ladder alone would take over a minute.
    assert took < 40, f"200 events took {took:.1f} s"


def test_resource_policy_api(lam, fast):
    """AddPermission / GetPolicy / RemovePermission in AWS's shapes: the
    statement as a JSON string, principals mapped as AWS maps them,
    conditions from SourceArn/SourceAccount, a new RevisionId each time,
    409 for a duplicate statement id, 404s for what is not there."""
    name = make_fn(lam, "def handler(e, c):\n    return 1\n")
    arn = arn_of(lam, name)
    code, _ = error_of(lam.get_policy, FunctionName=name)
    assert code == "ResourceNotFoundException"
    rev0 = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    r = lam.add_permission(FunctionName=name, StatementId="s3-raw",
                           Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                           SourceArn="arn:aws:s3:::raw", SourceAccount="000000000000")
    st = json.loads(r["Statement"])
    assert st == {"Sid": "s3-raw", "Effect": "Allow",
                  "Principal": {"Service": "s3.amazonaws.com"},
                  "Action": "lambda:InvokeFunction", "Resource": arn,
                  "Condition": {"StringEquals": {"AWS:SourceAccount": "000000000000"},
                                "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::raw"}}}
    lam.add_permission(FunctionName=name, StatementId="acct", Action="lambda:*",
                       Principal="123456789012")
    pol = lam.get_policy(FunctionName=name)
    doc = json.loads(pol["Policy"])
    assert doc["Version"] == "2012-10-17" and [s["Sid"] for s in doc["Statement"]] == \
        ["s3-raw", "acct"]
    assert doc["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert pol["RevisionId"] != rev0
    assert pol["RevisionId"] == lam.get_function_configuration(FunctionName=name)["RevisionId"]
    code, _ = error_of(lam.add_permission, FunctionName=name, StatementId="acct",
                       Action="lambda:InvokeFunction", Principal="*")
    assert code == "ResourceConflictException"
    code, _ = error_of(lam.add_permission, FunctionName=name, StatementId="bad id!",
                       Action="lambda:InvokeFunction", Principal="*")
    assert code == "ValidationException"
    code, _ = error_of(lam.remove_permission, FunctionName=name, StatementId="acct",
                       RevisionId="not-the-revision")
    assert code == "PreconditionFailedException"
    lam.remove_permission(FunctionName=name, StatementId="acct")
    code, _ = error_of(lam.remove_permission, FunctionName=name, StatementId="acct")
    assert code == "ResourceNotFoundException"
    assert [s["Sid"] for s in json.loads(lam.get_policy(FunctionName=name)["Policy"])
            ["Statement"]] == ["s3-raw"]
    # The CLI too, and GetFunction does not show the policy as configuration.
    out = aws_cli(fast.endpoint, "lambda", "get-policy", "--function-name", name).stdout
    assert json.loads(json.loads(out)["Policy"])["Statement"][0]["Sid"] == "s3-raw"
    assert "_policy" not in json.dumps(lam.get_function(FunctionName=name))
