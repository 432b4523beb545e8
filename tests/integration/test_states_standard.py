"""STANDARD executions through boto3 and the aws CLI: StartExecution
(idempotent by name), DescribeExecution, ListExecutions (status filter,
pages), GetExecutionHistory (AWS's event types and ids, reverse order,
pages, without data), StopExecution, DescribeStateMachineForExecution;
status changes on the default event bus (a rule alerting a topic when an
execution fails); and a kill -9 in the middle of executions, which go on
where they were after the restart, a Wait keeping its deadline."""
import datetime
import json
import math
import time

import pytest

from conftest import (ROLE, Server, aws_cli, client, client_error, execution_end, lambda_client,
                      py_zip, s3_client, unique_name, wait_until)

LOOP = {"StartAt": "Init", "States": {
    "Init": {"Type": "Pass", "Parameters": {"i": 0, "n.$": "$.n"}, "Next": "Check"},
    "Check": {"Type": "Choice", "Choices": [
        {"Variable": "$.i", "NumericLessThanPath": "$.n", "Next": "Inc"}], "Default": "Done"},
    "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)", "n.$": "$.n"},
            "Next": "Check"},
    "Done": {"Type": "Succeed"}}}

WAITING = {"StartAt": "A", "States": {
    "A": {"Type": "Pass", "Result": {"step": "a"}, "ResultPath": "$.a", "Next": "W"},
    "W": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "B"},
    "B": {"Type": "Pass", "Result": "b", "ResultPath": "$.b", "End": True}}}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("states_std") / "data")).start()
    yield s
    assert s.stop() == 0, s.logs()


@pytest.fixture(scope="module")
def sfn(srv):
    return client("stepfunctions", srv.endpoint)


def machine(sfn, definition, **kw):
    return sfn.create_state_machine(name=unique_name("std"), definition=json.dumps(definition),
                                    roleArn=ROLE, **kw)["stateMachineArn"]


def history(sfn, arn, **kw):
    events, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=arn, **kw, **({"nextToken": token}
                                                                     if token else {}))
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def test_execution_and_history(sfn):
    """An execution runs to its end; DescribeExecution shows it; its
    history has AWS's events in order, ids counting from 1, readable
    backwards, in pages, and without data."""
    arn = machine(sfn, WAITING)
    out = sfn.start_execution(stateMachineArn=arn, name="first", input=json.dumps({"wait": 1}))
    ex = out["executionArn"]
    assert ex == arn.replace(":stateMachine:", ":execution:") + ":first"
    d = sfn.describe_execution(executionArn=ex)
    assert d["status"] in ("RUNNING", "SUCCEEDED") and d["name"] == "first"
    assert d["stateMachineArn"] == arn and json.loads(d["input"]) == {"wait": 1}
    d = execution_end(sfn, ex)
    assert d["status"] == "SUCCEEDED"
    assert json.loads(d["output"]) == {"wait": 1, "a": {"step": "a"}, "b": "b"}
    assert (d["stopDate"] - d["startDate"]).total_seconds() >= 1
    events = history(sfn, ex)
    assert [e["type"] for e in events] == [
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "WaitStateEntered",
        "WaitStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    assert [e["id"] for e in events] == list(range(1, 9))
    assert events[0]["executionStartedEventDetails"]["roleArn"] == ROLE
    assert events[1]["stateEnteredEventDetails"]["name"] == "A"
    assert json.loads(events[2]["stateExitedEventDetails"]["output"])["a"] == {"step": "a"}
    assert json.loads(events[-1]["executionSucceededEventDetails"]["output"])["b"] == "b"
    back = history(sfn, ex, reverseOrder=True, maxResults=3)
    assert [e["id"] for e in back] == list(range(8, 0, -1))
    lean = sfn.get_execution_history(executionArn=ex, includeExecutionData=False)["events"]
    assert "input" not in lean[1]["stateEnteredEventDetails"]
    # The machine as it was when the execution started.
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(LOOP))
    m = sfn.describe_state_machine_for_execution(executionArn=ex)
    assert json.loads(m["definition"]) == WAITING and m["stateMachineArn"] == arn


def test_idempotent_start_list_and_stop(sfn, srv):
    """The same name and input while running is the same execution; else
    ExecutionAlreadyExists. ListExecutions filters by status and pages;
    StopExecution aborts with its error and cause (aws CLI)."""
    arn = machine(sfn, WAITING)
    a = sfn.start_execution(stateMachineArn=arn, name="once", input='{"wait": 60}')
    b = sfn.start_execution(stateMachineArn=arn, name="once", input='{"wait": 60}')
    assert a["executionArn"] == b["executionArn"] and a["startDate"] == b["startDate"]
    e = client_error(sfn.start_execution, stateMachineArn=arn, name="once", input='{"wait": 1}')
    assert e["Error"]["Code"] == "ExecutionAlreadyExists"
    quick = [sfn.start_execution(stateMachineArn=arn, input='{"wait": 0}')["executionArn"]
             for _ in range(3)]
    for q in quick:
        assert execution_end(sfn, q)["status"] == "SUCCEEDED"
    running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
    assert [x["executionArn"] for x in running] == [a["executionArn"]]
    seen, token = [], None
    while True:
        page = sfn.list_executions(stateMachineArn=arn, maxResults=2,
                                   **({"nextToken": token} if token else {}))
        seen += [x["executionArn"] for x in page["executions"]]
        token = page.get("nextToken")
        if not token:
            break
    assert sorted(seen) == sorted(quick + [a["executionArn"]])
    starts = [x["startDate"] for x in sfn.list_executions(stateMachineArn=arn)["executions"]]
    assert starts == sorted(starts, reverse=True)
    out = aws_cli(srv.endpoint, "stepfunctions", "stop-execution", "--execution-arn",
                  a["executionArn"], "--error", "Enough", "--cause", "stopped by the test")
    assert "stopDate" in json.loads(out.stdout)
    d = sfn.describe_execution(executionArn=a["executionArn"])
    assert d["status"] == "ABORTED" and d["error"] == "Enough" and d["cause"] == "stopped by the test"
    assert history(sfn, a["executionArn"])[-1]["type"] == "ExecutionAborted"
    e = client_error(sfn.start_execution, stateMachineArn=arn, name="once", input='{"wait": 60}')
    assert e["Error"]["Code"] == "ExecutionAlreadyExists"
    e = client_error(sfn.describe_execution, executionArn=a["executionArn"] + "x")
    assert e["Error"]["Code"] == "ExecutionDoesNotExist"
    e = client_error(sfn.describe_execution, executionArn="arn:aws:states:nope")
    assert e["Error"]["Code"] == "InvalidArn"


def test_task_history_and_failure_alert(sfn, srv):
    """A function's and an integration's events in the history; a failed
    execution's status change reaches a rule on the default bus, which
    alerts a topic that a queue subscribes."""
    lam = lambda_client(srv.endpoint)
    fn = lam.create_function(
        FunctionName=unique_name("stdfn"), Runtime="python3.11", Role=ROLE,
        Handler="app.handler", Timeout=30,
        Code={"ZipFile": py_zip("def handler(e, c):\n    return {'seen': e}\n")})["FunctionArn"]
    sqs = client("sqs", srv.endpoint)
    url = sqs.create_queue(QueueName=unique_name("stdq"))["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns = client("sns", srv.endpoint)
    topic = sns.create_topic(Name=unique_name("alerts"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                  Attributes={"RawMessageDelivery": "true"})
    events = client("events", srv.endpoint)
    d = {"StartAt": "F", "States": {
        "F": {"Type": "Task", "Resource": fn, "Next": "Q"},
        "Q": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
              "Parameters": {"QueueUrl": url, "MessageBody.$": "States.JsonToString($)"},
              "ResultPath": None, "Next": "Boom"},
        "Boom": {"Type": "Fail", "Error": "PipelineBroke", "Cause": "on purpose"}}}
    arn = machine(sfn, d)
    rule = unique_name("failed")
    events.put_rule(Name=rule, EventPattern=json.dumps({
        "source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": ["FAILED"], "stateMachineArn": [arn]}}))
    events.put_targets(Rule=rule, Targets=[{"Id": "alert", "Arn": topic}])
    ex = sfn.start_execution(stateMachineArn=arn, input='{"x": 1}')["executionArn"]
    out = execution_end(sfn, ex)
    assert out["status"] == "FAILED" and out["error"] == "PipelineBroke"
    assert out["cause"] == "on purpose"
    types = [e["type"] for e in history(sfn, ex)]
    assert types == ["ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled",
                     "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited",
                     "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded",
                     "TaskStateExited", "FailStateEntered", "ExecutionFailed"]
    ev = history(sfn, ex)
    sched = [e for e in ev if e["type"] == "TaskScheduled"][0]["taskScheduledEventDetails"]
    assert sched["resourceType"] == "sqs" and sched["resource"] == "sendMessage"
    assert json.loads(sched["parameters"])["QueueUrl"] == url
    failed = ev[-1]["executionFailedEventDetails"]
    assert failed == {"error": "PipelineBroke", "cause": "on purpose"}
    # The queue has the task's message, then the alert.
    got = []

    def alert():
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                     WaitTimeSeconds=1).get("Messages", []):
            got.append(json.loads(m["Body"]))
        return any(g.get("source") == "aws.states" for g in got)
    wait_until(alert, what="the failure's alert")
    assert {"seen": {"x": 1}} in got
    a = [g for g in got if g.get("source") == "aws.states"][0]
    assert a["detail-type"] == "Step Functions Execution Status Change"
    assert a["detail"]["status"] == "FAILED" and a["detail"]["executionArn"] == ex
    assert a["detail"]["error"] == "PipelineBroke" and a["resources"] == [ex]


def test_kill9_resumes(tmp_path):
    """kill -9 while executions run: after the restart, a counting loop
    finishes with the right count, and a Wait ends at its deadline (not a
    whole wait after the restart)."""
    data = str(tmp_path / "data")
    s = Server(data).start()
    try:
        sfn = client("stepfunctions", s.endpoint)
        loop = machine(sfn, LOOP)
        waiting = machine(sfn, WAITING)
        counts = [sfn.start_execution(stateMachineArn=loop, input=json.dumps({"n": 5000}))
                  ["executionArn"] for _ in range(2)]
        w = sfn.start_execution(stateMachineArn=waiting, input='{"wait": 4}')["executionArn"]
        wait_until(lambda: any(e["type"] == "WaitStateEntered" for e in history(sfn, w)),
                   what="the Wait state")
        wait_until(lambda: len(sfn.get_execution_history(
            executionArn=counts[0], maxResults=1000)["events"]) >= 1000,
            what="the loop under way")
        killed = time.time()
        s.kill9()
        s = Server(data).start()
        sfn = client("stepfunctions", s.endpoint)
        for c in counts:
            d = execution_end(sfn, c, timeout=120)
            assert d["status"] == "SUCCEEDED", d
            assert json.loads(d["output"]) == {"i": 5000, "n": 5000}
        d = execution_end(sfn, w)
        assert d["status"] == "SUCCEEDED" and json.loads(d["output"])["b"] == "b"
        # The wait kept its deadline: 4 s from its start, not from the restart.
        assert d["stopDate"].timestamp() - d["startDate"].timestamp() < 4 + (time.time() - killed)
        types = [e["type"] for e in history(sfn, w)]
        assert types.count("WaitStateEntered") == 1 and types[-1] == "ExecutionSucceeded"
        assert "execution(s) taken up where they were" in s.logs()
        ids = [e["id"] for e in history(sfn, counts[0])]
        assert ids == list(range(1, len(ids) + 1))
    finally:
        assert s.stop() == 0, s.logs()


def test_rule_and_schedule_targets(sfn, srv):
    """An EventBridge rule and a schedule whose target is a state machine
    each start an execution with their payload as its input."""
    arn = machine(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    role = "arn:aws:iam::000000000000:role/starter"
    events = client("events", srv.endpoint)
    rule = unique_name("start")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["orders"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "sm", "Arn": arn, "RoleArn": role}])
    events.put_events(Entries=[{"Source": "orders", "DetailType": "new",
                                "Detail": json.dumps({"order": 1})}])
    sch = client("scheduler", srv.endpoint)
    at = datetime.datetime.fromtimestamp(math.ceil(time.time()) + 2, datetime.timezone.utc)
    sch.create_schedule(Name=unique_name("start"), FlexibleTimeWindow={"Mode": "OFF"},
                        ScheduleExpression="at(%s)" % at.strftime("%Y-%m-%dT%H:%M:%S"),
                        Target={"Arn": arn, "RoleArn": role, "Input": '{"from": "schedule"}'})
    inputs = []

    def both():
        inputs.clear()
        for x in sfn.list_executions(stateMachineArn=arn, statusFilter="SUCCEEDED")["executions"]:
            inputs.append(json.loads(sfn.describe_execution(executionArn=x["executionArn"])["input"]))
        return len(inputs) == 2
    wait_until(both, timeout=30, what="two executions")
    event = [i for i in inputs if "detail" in i][0]
    assert event["source"] == "orders" and event["detail"] == {"order": 1}
    assert {"from": "schedule"} in inputs


def test_distributed_map_over_s3(sfn, srv):
    """A distributed Map reads its items from S3: a CSV object (headers in
    its first row, quoted fields with commas and line breaks), a JSON
    array (MaxItems, ItemSelector), JSON Lines, a prefix's listing; batches
    them (ItemBatcher); and writes its results to S3 (ResultWriter: the
    manifest, the succeeded and the failed items, one tolerated failure).
    A missing object is States.ItemReaderFailed."""
    s3 = s3_client(srv.endpoint)
    bucket = unique_name("dmap")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in/orders.csv",
                  Body=b'id,note\r\n1,plain\r\n2,"with, comma"\r\n3,"two\nlines and ""quotes"""\r\n')
    s3.put_object(Bucket=bucket, Key="in/list.json", Body=json.dumps([{"n": i} for i in range(5)]))
    s3.put_object(Bucket=bucket, Key="in/lines.jsonl", Body=b'{"a": 1}\n\n{"a": 2}\n')

    def dmap(reader, **extra):
        return {"StartAt": "M", "States": {"M": dict({
            "Type": "Map", "ItemReader": reader, "End": True,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED",
                                                  "ExecutionType": "STANDARD"},
                              "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}},
            **extra)}}

    def run(definition, payload=None):
        arn = machine(sfn, definition)
        ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload or {}))
        return execution_end(sfn, ex["executionArn"])

    get = "arn:aws:states:::s3:getObject"
    out = run(dmap({"Resource": get, "ReaderConfig": {"InputType": "CSV",
                                                       "CSVHeaderLocation": "FIRST_ROW"},
                    "Parameters": {"Bucket.$": "$.b", "Key": "in/orders.csv"}}), {"b": bucket})
    assert json.loads(out["output"]) == [{"id": "1", "note": "plain"},
                                         {"id": "2", "note": "with, comma"},
                                         {"id": "3", "note": 'two\nlines and "quotes"'}]
    # Headers given; a last field whose quote never closes keeps its row.
    s3.put_object(Bucket=bucket, Key="open.csv", Body=b'1,x\n2,"y')
    out = run(dmap({"Resource": get, "ReaderConfig": {"InputType": "CSV",
                                                       "CSVHeaderLocation": "GIVEN",
                                                       "CSVHeaders": ["k", "v"]},
                    "Parameters": {"Bucket": bucket, "Key": "open.csv"}}))
    assert json.loads(out["output"]) == [{"k": "1", "v": "x"}, {"k": "2", "v": "y"}]
    out = run(dmap({"Resource": get, "ReaderConfig": {"InputType": "JSON", "MaxItems": 3},
                    "Parameters": {"Bucket": bucket, "Key": "in/list.json"}},
                   ItemSelector={"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value.n"}))
    assert json.loads(out["output"]) == [{"i": 0, "v": 0}, {"i": 1, "v": 1}, {"i": 2, "v": 2}]
    out = run(dmap({"Resource": get, "ReaderConfig": {"InputType": "JSONL"},
                    "Parameters": {"Bucket": bucket, "Key": "in/lines.jsonl"}},
                   ItemBatcher={"MaxItemsPerBatch": 1, "BatchInput": {"from": "lines"}}))
    assert json.loads(out["output"]) == [{"Items": [{"a": 1}], "BatchInput": {"from": "lines"}},
                                         {"Items": [{"a": 2}], "BatchInput": {"from": "lines"}}]
    out = run(dmap({"Resource": "arn:aws:states:::s3:listObjectsV2",
                    "Parameters": {"Bucket": bucket, "Prefix": "in/"}},
                   ItemSelector={"k.$": "$$.Map.Item.Value.Key",
                                 "s.$": "$$.Map.Item.Value.Size"}))
    listed = json.loads(out["output"])
    assert [x["k"] for x in listed] == ["in/lines.jsonl", "in/list.json", "in/orders.csv"]
    assert all(x["s"] > 0 for x in listed)
    # ResultWriter, with a tolerated failure.
    d = dmap({"Resource": get, "ReaderConfig": {"InputType": "JSON"},
              "Parameters": {"Bucket": bucket, "Key": "in/list.json"}},
             ToleratedFailureCount=1,
             ResultWriter={"Resource": "arn:aws:states:::s3:putObject",
                           "Parameters": {"Bucket": bucket, "Prefix": "out"}})
    d["States"]["M"]["ItemProcessor"]["StartAt"] = "C"
    d["States"]["M"]["ItemProcessor"]["States"] = {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 3, "Next": "F"}],
              "Default": "P"},
        "P": {"Type": "Pass", "End": True},
        "F": {"Type": "Fail", "Error": "Three", "Cause": "no threes"}}
    out = run(d)
    assert out["status"] == "SUCCEEDED", out
    res = json.loads(out["output"])
    assert res["MapRunArn"].startswith("arn:aws:states:us-east-1:000000000000:mapRun:")
    details = res["ResultWriterDetails"]
    assert details["Bucket"] == bucket and details["Key"].startswith("out/")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=details["Key"])["Body"].read())
    assert manifest["MapRunArn"] == res["MapRunArn"] and manifest["DestinationBucket"] == bucket
    ok_key = manifest["ResultFiles"]["SUCCEEDED"][0]["Key"]
    bad_key = manifest["ResultFiles"]["FAILED"][0]["Key"]
    ok = json.loads(s3.get_object(Bucket=bucket, Key=ok_key)["Body"].read())
    bad = json.loads(s3.get_object(Bucket=bucket, Key=bad_key)["Body"].read())
    assert sorted(json.loads(x["Output"])["n"] for x in ok) == [0, 1, 2, 4]
    assert [(json.loads(x["Input"]), x["Error"], x["Cause"]) for x in bad] == [
        ({"n": 3}, "Three", "no threes")]
    # A missing object.
    d = dmap({"Resource": get, "ReaderConfig": {"InputType": "JSON"},
              "Parameters": {"Bucket": bucket, "Key": "in/none.json"}},
             Catch=[{"ErrorEquals": ["States.ItemReaderFailed"], "Next": "Caught"}])
    d["States"]["M"].pop("End")
    d["States"]["M"]["Next"] = "Caught"
    d["States"]["Caught"] = {"Type": "Pass", "End": True}
    out = run(d)
    err = json.loads(out["output"])
    assert err["Error"] == "States.ItemReaderFailed" and "in/none.json" in err["Cause"]


def test_start_execution_sync(sfn):
    """states:startExecution.sync:2 waits for the child's end and takes its
    output as JSON; .sync as text; a child's failure is States.TaskFailed
    with the child's description as the cause."""
    child = machine(sfn, {"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
        {"And": [{"Variable": "$.fail", "IsPresent": True},
                 {"Variable": "$.fail", "BooleanEquals": True}], "Next": "F"}],
        "Default": "W"},
        "W": {"Type": "Wait", "Seconds": 1, "Next": "P"},
        "P": {"Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"},
              "End": True},
        "F": {"Type": "Fail", "Error": "ChildBroke", "Cause": "told to"}}})

    def parent(resource):
        return machine(sfn, {"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": resource,
                  "Parameters": {"StateMachineArn": child, "Input.$": "$"},
                  "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}],
                  "End": True},
            "Caught": {"Type": "Pass", "End": True}}})

    p2 = parent("arn:aws:states:::states:startExecution.sync:2")
    ex = sfn.start_execution(stateMachineArn=p2, input='{"n": 21}')["executionArn"]
    out = json.loads(execution_end(sfn, ex)["output"])
    assert out.get("Status") == "SUCCEEDED" and out["Output"] == {"doubled": 42}, out
    assert out["Input"] == {"n": 21} and out["StateMachineArn"] == child
    assert out["StopDate"] - out["StartDate"] >= 1000
    p1 = parent("arn:aws:states:::states:startExecution.sync")
    ex = sfn.start_execution(stateMachineArn=p1, input='{"n": 2}')["executionArn"]
    assert json.loads(json.loads(execution_end(sfn, ex)["output"])["Output"]) == {"doubled": 4}
    ex = sfn.start_execution(stateMachineArn=p2, input='{"fail": true}')["executionArn"]
    err = json.loads(execution_end(sfn, ex)["output"])
    assert err["Error"] == "States.TaskFailed"
    cause = json.loads(err["Cause"])
    assert cause["Status"] == "FAILED" and cause["Error"] == "ChildBroke"
    types = [e["type"] for e in history(sfn, ex)]
    assert "TaskSubmitted" not in types and "TaskFailed" in types
