"""Step Functions' control plane through boto3, the aws CLI and the AWS SDK
for JavaScript v3 (JSON 1.0): state machines made, described, listed,
updated and deleted; definitions checked as Step Functions checks them
(InvalidDefinition naming the state and the problem; ValidateStateMachine-
Definition's diagnostics, an operation newer than Debian's botocore, so
through the JavaScript SDK); a kill -9 keeping what was acknowledged."""
import json
import os
import subprocess
import threading

import pytest

from conftest import Server, aws_cli, client, client_error, unique_name

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node")

ROLE = "arn:aws:iam::000000000000:role/sfn"

HELLO = {"Comment": "hello", "StartAt": "Hello", "States": {
    "Hello": {"Type": "Pass", "Result": "Hello", "Next": "World"},
    "World": {"Type": "Pass", "Result": "World", "End": True}}}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("states") / "data")).start()
    yield s
    assert s.stop() == 0, s.logs()


@pytest.fixture(scope="module")
def sfn(srv):
    return client("stepfunctions", srv.endpoint)


def machine(sfn, definition=HELLO, **kw):
    name = kw.pop("name", None) or unique_name("sm")
    out = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE, **kw)
    return name, out["stateMachineArn"]


def sdk_calls(endpoint, calls):
    """Runs calls through @aws-sdk/client-sfn (JSON 1.0); their results."""
    proc = subprocess.run(["/usr/bin/node", "sdk_calls.js", "@aws-sdk/client-sfn", endpoint],
                          input=json.dumps(calls), capture_output=True, text=True, cwd=NODE_DIR,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_state_machine_lifecycle(sfn):
    """Create (STANDARD by default, and EXPRESS), describe, list in pages,
    update, delete."""
    name, arn = machine(sfn)
    assert arn == f"arn:aws:states:us-east-1:000000000000:stateMachine:{name}"
    d = sfn.describe_state_machine(stateMachineArn=arn)
    assert d["name"] == name and d["status"] == "ACTIVE" and d["type"] == "STANDARD"
    assert json.loads(d["definition"]) == HELLO and d["roleArn"] == ROLE
    assert d["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}
    assert d["tracingConfiguration"] == {"enabled": False}
    _, express = machine(sfn, type="EXPRESS")
    assert sfn.describe_state_machine(stateMachineArn=express)["type"] == "EXPRESS"
    # Pages of one: every machine once, in order.
    seen, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = sfn.list_state_machines(maxResults=1, **kw)
        assert len(page["stateMachines"]) <= 1
        seen += [m["stateMachineArn"] for m in page["stateMachines"]]
        token = page.get("nextToken")
        if not token:
            break
    assert arn in seen and express in seen and len(seen) == len(set(seen))
    listed = {m["stateMachineArn"]: m for m in sfn.list_state_machines()["stateMachines"]}
    assert listed[express]["type"] == "EXPRESS" and listed[arn]["name"] == name
    changed = dict(HELLO, Comment="changed")
    before = d["creationDate"]
    out = sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(changed),
                                   roleArn=ROLE + "2")
    assert out["updateDate"] >= before
    d = sfn.describe_state_machine(stateMachineArn=arn)
    assert json.loads(d["definition"])["Comment"] == "changed" and d["roleArn"] == ROLE + "2"
    sfn.delete_state_machine(stateMachineArn=arn)
    e = client_error(sfn.describe_state_machine, stateMachineArn=arn)
    assert e["Error"]["Code"] == "StateMachineDoesNotExist"
    assert arn in e["Error"]["Message"]
    e = client_error(sfn.update_state_machine, stateMachineArn=arn, roleArn=ROLE)
    assert e["Error"]["Code"] == "StateMachineDoesNotExist"
    sfn.delete_state_machine(stateMachineArn=arn)  # (again: done)


def test_create_is_idempotent_and_conflicts(sfn):
    """The same name, definition, role and type again answer the same
    machine; a different definition under the name is
    StateMachineAlreadyExists."""
    name, arn = machine(sfn)
    first = sfn.describe_state_machine(stateMachineArn=arn)["creationDate"]
    again = sfn.create_state_machine(name=name, definition=json.dumps(HELLO), roleArn=ROLE)
    assert again["stateMachineArn"] == arn and again["creationDate"] == first
    other = dict(HELLO, Comment="other")
    e = client_error(sfn.create_state_machine, name=name, definition=json.dumps(other),
                     roleArn=ROLE)
    assert e["Error"]["Code"] == "StateMachineAlreadyExists" and arn in e["Error"]["Message"]


def test_invalid_input(sfn):
    """Bad names, roles, ARNs and definitions get Step Functions' errors;
    a definition's names the state and the problem."""
    cases = [
        (dict(name="has space"), "InvalidName"),
        (dict(name="x" * 81), "ValidationException"),  # (the model's length)
        (dict(name="a:b"), "InvalidName"),
        (dict(roleArn="not-an-arn"), "InvalidArn"),
        (dict(definition="{not json"), "InvalidDefinition"),
        (dict(definition=json.dumps({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "Nowhere"}}})), "InvalidDefinition"),
    ]
    for kw, code in cases:
        args = dict(name=unique_name("bad"), definition=json.dumps(HELLO), roleArn=ROLE)
        args.update(kw)
        e = client_error(sfn.create_state_machine, **args)
        assert e["Error"]["Code"] == code, (kw, e)
        assert e["ResponseMetadata"]["HTTPStatusCode"] == 400
    e = client_error(sfn.create_state_machine, name=unique_name("bad"), roleArn=ROLE,
                     definition=json.dumps({"StartAt": "A", "States": {
                         "A": {"Type": "Pass", "Next": "Nowhere"}}}))
    assert e["Error"]["Message"] == ("Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET:"
                                     " Missing 'Next' target: Nowhere at /States/A/Next'")
    e = client_error(sfn.create_state_machine, name=unique_name("bad"), roleArn=ROLE,
                     definition=json.dumps({"StartAt": "W", "States": {
                         "W": {"Type": "Wait", "Seconds": 1, "Timestamp": "x", "End": True}}}))
    assert "exactly one of 'Seconds'" in e["Error"]["Message"] and "/States/W" in e["Error"]["Message"]
    e = client_error(sfn.describe_state_machine, stateMachineArn="arn:aws:sqs:us-east-1:1:q")
    assert e["Error"]["Code"] == "InvalidArn"
    _, arn = machine(sfn)
    e = client_error(sfn.update_state_machine, stateMachineArn=arn)
    assert e["Error"]["Code"] == "MissingRequiredParameter"
    e = client_error(sfn.update_state_machine, stateMachineArn=arn, definition="{}")
    assert e["Error"]["Code"] == "InvalidDefinition"
    e = client_error(sfn.list_state_machines, nextToken="bad token")
    assert e["Error"]["Code"] == "InvalidToken"
    e = client_error(sfn.create_state_machine, name=unique_name("bad"), roleArn=ROLE,
                     definition=json.dumps(HELLO), type="SLOW")
    assert e["Error"]["Code"] == "ValidationException"


def test_javascript_sdk(srv):
    """The AWS SDK for JavaScript v3: the control plane, errors by name,
    and ValidateStateMachineDefinition's result and diagnostics."""
    name = unique_name("js")
    bad = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True},
                                                 "B": {"Type": "Succeed"}}})
    calls = [
        {"command": "CreateStateMachineCommand", "input": {
            "name": name, "definition": json.dumps(HELLO), "roleArn": ROLE, "type": "EXPRESS"}},
        {"command": "DescribeStateMachineCommand", "input": {
            "stateMachineArn": f"arn:aws:states:us-east-1:000000000000:stateMachine:{name}"}},
        {"command": "ListStateMachinesCommand", "input": {}},
        {"command": "ValidateStateMachineDefinitionCommand", "input": {
            "definition": json.dumps(HELLO)}},
        {"command": "ValidateStateMachineDefinitionCommand", "input": {"definition": bad}},
        {"command": "ValidateStateMachineDefinitionCommand", "input": {"definition": "[1"}},
        {"command": "DescribeStateMachineCommand", "input": {
            "stateMachineArn": f"arn:aws:states:us-east-1:000000000000:stateMachine:{name}x"}},
        {"command": "DeleteStateMachineCommand", "input": {
            "stateMachineArn": f"arn:aws:states:us-east-1:000000000000:stateMachine:{name}"}},
    ]
    res = sdk_calls(srv.endpoint, calls)
    for r, call in zip(res[:6], calls):
        assert "ok" in r, (call, r)
    assert res[0]["ok"]["stateMachineArn"].endswith(":" + name)
    assert res[1]["ok"]["type"] == "EXPRESS" and res[1]["ok"]["name"] == name
    assert name in [m["name"] for m in res[2]["ok"]["stateMachines"]]
    assert res[3]["ok"] == {"result": "OK", "diagnostics": [], "truncated": False}
    fail = res[4]["ok"]
    assert fail["result"] == "FAIL" and len(fail["diagnostics"]) == 1
    assert fail["diagnostics"][0] == {"severity": "ERROR", "code": "UNREACHABLE_STATE",
                                      "message": 'State "B" is not reachable',
                                      "location": "/States/B"}
    assert res[5]["ok"]["result"] == "FAIL"
    assert res[5]["ok"]["diagnostics"][0]["code"] == "INVALID_JSON_DESCRIPTION"
    assert res[6]["error"]["name"] == "StateMachineDoesNotExist"
    assert "ok" in res[7]


def test_cli(srv, tmp_path):
    """The aws CLI makes a machine from a file and lists it."""
    name = unique_name("cli")
    path = tmp_path / "machine.json"
    path.write_text(json.dumps(HELLO))
    out = json.loads(aws_cli(srv.endpoint, "stepfunctions", "create-state-machine", "--name", name,
                             "--definition", f"file://{path}", "--role-arn", ROLE).stdout)
    assert out["stateMachineArn"].endswith(":" + name)
    listed = json.loads(aws_cli(srv.endpoint, "stepfunctions", "list-state-machines").stdout)
    assert name in [m["name"] for m in listed["stateMachines"]]
    p = aws_cli(srv.endpoint, "stepfunctions", "describe-state-machine", "--state-machine-arn",
                out["stateMachineArn"] + "nope", check=False)
    assert p.returncode != 0 and "StateMachineDoesNotExist" in p.stderr


def test_kill9_keeps_state_machines(tmp_path):
    """Machines made (and changed) before a kill -9 are there after it."""
    s = Server(str(tmp_path / "data")).start()
    try:
        sfn = client("stepfunctions", s.endpoint)
        arns = [machine(sfn)[1] for _ in range(10)]
        sfn.update_state_machine(stateMachineArn=arns[0], roleArn=ROLE + "x")
        sfn.delete_state_machine(stateMachineArn=arns[1])
        s.kill9()
        s.start(port=s.port)
        sfn = client("stepfunctions", s.endpoint)
        assert sfn.describe_state_machine(stateMachineArn=arns[0])["roleArn"] == ROLE + "x"
        for arn in arns[2:]:
            assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) == HELLO
        e = client_error(sfn.describe_state_machine, stateMachineArn=arns[1])
        assert e["Error"]["Code"] == "StateMachineDoesNotExist"
    finally:
        s.stop()


# ---- EXPRESS executions: StartSyncExecution ---------------------------------------------------

@pytest.fixture(scope="module")
def sync(srv):
    """A client for StartSyncExecution: its endpoint has AWS's host prefix
    ("sync-"), which a local endpoint cannot take."""
    return client("stepfunctions", srv.endpoint, inject_host_prefix=False)


def run_sync(sfn, sync, definition, payload, **kw):
    _, arn = machine(sfn, definition, type="EXPRESS")
    out = sync.start_sync_execution(stateMachineArn=arn, input=json.dumps(payload), **kw)
    assert out["stateMachineArn"] == arn
    return out


PIPELINE = {"StartAt": "Prepare", "States": {
    "Prepare": {"Type": "Pass", "Parameters": {
        "n.$": "$.n", "items.$": "States.ArrayRange(1, $.n, 1)",
        "greeting.$": "States.Format('run {}', $$.Execution.Name)"}, "Next": "Big?"},
    "Big?": {"Type": "Choice", "Choices": [
        {"And": [{"Variable": "$.n", "IsNumeric": True},
                 {"Variable": "$.n", "NumericGreaterThan": 2}], "Next": "Pause"}],
        "Default": "TooSmall"},
    "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Both"},
    "Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Each", "Branches": [
        {"StartAt": "Const", "States": {"Const": {"Type": "Pass", "Result": "b1", "End": True}}},
        {"StartAt": "Count", "States": {"Count": {"Type": "Pass", "InputPath": "$.n",
                                                  "End": True}}}]},
    "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "ResultPath": "$.each",
             "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
             "ItemProcessor": {"StartAt": "Add", "States": {"Add": {
                 "Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.v, $.i)"},
                 "OutputPath": "$.sum", "End": True}}},
             "Next": "Done"},
    "Done": {"Type": "Succeed", "OutputPath": "$['greeting','both','each']"},
    "TooSmall": {"Type": "Fail", "Error": "Small", "CausePath": "States.Format('n is {}', $.n)"}}}


def test_sync_execution_runs_every_state_type(sfn, sync):
    """Pass with intrinsics and the context object, Choice, Wait (a real
    second), Parallel, Map with MaxConcurrency and ItemSelector, Succeed
    with OutputPath; Fail's error and cause from paths."""
    out = run_sync(sfn, sync, PIPELINE, {"n": 4}, name="four")
    assert out["status"] == "SUCCEEDED", out
    assert out["name"] == "four" and ":express:" in out["executionArn"]
    assert json.loads(out["input"]) == {"n": 4}
    assert json.loads(out["output"]) == ["run four", ["b1", 4], [1, 3, 5, 7]]
    assert (out["stopDate"] - out["startDate"]).total_seconds() >= 1.0  # (the Wait)
    assert out["billingDetails"]["billedDurationInMilliseconds"] >= 1000
    out = run_sync(sfn, sync, PIPELINE, {"n": 1})
    assert out["status"] == "FAILED" and out["error"] == "Small" and out["cause"] == "n is 1"
    assert "output" not in out


def test_sync_execution_failures(sfn, sync):
    """No Choice matching, a path with no value, a Map item failing, a
    Map tolerating failures, a Task whose function does not exist,
    TimeoutSeconds."""
    no_match = {"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
        {"Variable": "$.x", "StringEquals": "a", "Next": "S"}]}, "S": {"Type": "Succeed"}}}
    out = run_sync(sfn, sync, no_match, {"x": "b"})
    assert out["status"] == "FAILED" and out["error"] == "States.NoChoiceMatched"
    out = run_sync(sfn, sync, {"StartAt": "P", "States": {"P": {
        "Type": "Pass", "InputPath": "$.missing", "End": True}}}, {})
    assert out["status"] == "FAILED" and out["error"] == "States.Runtime"
    assert "$.missing" in out["cause"]
    item_fails = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "End": True, "ItemProcessor": {"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericGreaterThan": 2,
                                                 "Next": "Bad"}], "Default": "Ok"},
            "Bad": {"Type": "Fail", "Error": "TooBig", "Cause": "over 2"},
            "Ok": {"Type": "Pass", "End": True}}}}}}
    out = run_sync(sfn, sync, item_fails, [1, 2, 3])
    assert out["status"] == "FAILED" and out["error"] == "TooBig" and out["cause"] == "over 2"
    tolerant = json.loads(json.dumps(item_fails))
    tolerant["States"]["M"]["ToleratedFailureCount"] = 1
    out = run_sync(sfn, sync, tolerant, [1, 2, 3])
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == [1, 2, None]
    out = run_sync(sfn, sync, tolerant, [3, 4, 1])
    assert out["status"] == "FAILED" and out["error"] == "States.ExceedToleratedFailureThreshold"
    caught = {"StartAt": "M", "States": {
        "M": dict(item_fails["States"]["M"], ItemsPath="$.items", Next="After", Catch=[
            {"ErrorEquals": ["TooBig"], "ResultPath": "$.err", "Next": "After"}]),
        "After": {"Type": "Pass", "End": True}}}
    del caught["States"]["M"]["End"]
    out = run_sync(sfn, sync, caught, {"items": [5]})
    assert out["status"] == "SUCCEEDED", out
    assert json.loads(out["output"]) == {"items": [5], "err": {"Error": "TooBig",
                                                               "Cause": "over 2"}}
    # A ResultPath that cannot be applied to the input (an array).
    out = run_sync(sfn, sync, dict(caught, States=dict(caught["States"], M=dict(
        caught["States"]["M"], ItemsPath="$"))), [5])
    assert out["status"] == "FAILED" and out["error"] == "States.ResultPathMatchFailure"
    task = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:f", "End": True}}}
    out = run_sync(sfn, sync, task, {})
    assert out["status"] == "FAILED" and out["error"] == "Lambda.ResourceNotFoundException"
    assert "Function not found" in out["cause"]
    slow = {"StartAt": "W", "TimeoutSeconds": 1, "States": {"W": {
        "Type": "Wait", "Seconds": 30, "End": True}}}
    out = run_sync(sfn, sync, slow, {})
    assert out["status"] == "TIMED_OUT" and out["error"] == "States.Timeout"
    assert (out["stopDate"] - out["startDate"]).total_seconds() < 10


def test_sync_execution_errors(sfn, sync):
    """StartSyncExecution's own errors: a STANDARD machine, bad input, a
    bad name, a machine that is not there."""
    _, standard = machine(sfn)
    e = client_error(sync.start_sync_execution, stateMachineArn=standard, input="{}")
    assert e["Error"]["Code"] == "StateMachineTypeNotSupported"
    _, express = machine(sfn, type="EXPRESS")
    e = client_error(sync.start_sync_execution, stateMachineArn=express, input="{bad")
    assert e["Error"]["Code"] == "InvalidExecutionInput"
    e = client_error(sync.start_sync_execution, stateMachineArn=express, name="a b")
    assert e["Error"]["Code"] == "InvalidName"
    e = client_error(sync.start_sync_execution, stateMachineArn=express + "nope")
    assert e["Error"]["Code"] == "StateMachineDoesNotExist"
    # No input: {}.
    out = sync.start_sync_execution(stateMachineArn=express)
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == "World"


def test_sync_execution_loops_and_stop(tmp_path):
    """A machine that loops for ever does not take the server with it: other
    calls are answered meanwhile; stopping the server ends the execution
    (its call answers FAILED) and Sluice exits cleanly."""
    s = Server(str(tmp_path / "data")).start()
    try:
        sfn = client("stepfunctions", s.endpoint)
        sync = client("stepfunctions", s.endpoint, inject_host_prefix=False, read_timeout=60)
        forever = {"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}
        _, arn = machine(sfn, forever, type="EXPRESS")
        result = {}

        def call():
            result["out"] = sync.start_sync_execution(stateMachineArn=arn)

        t = threading.Thread(target=call)
        t.start()
        for _ in range(20):
            assert sfn.describe_state_machine(stateMachineArn=arn)["name"]
        assert t.is_alive()
        assert s.stop() == 0, s.logs()
        t.join(timeout=30)
        assert result["out"]["status"] == "FAILED" and "stopping" in result["out"]["cause"]
    finally:
        s.stop()


def test_sync_execution_scale_and_limits(sfn, sync):
    """Joins that end at once, many times over (a loop through a Parallel
    and a Map), and a Map over 5,000 items: no deep recursion, the loop
    shared; an output over 256 KiB is States.DataLimitExceeded; what a
    state read of $$ stays as it was; Map tolerances are either
    threshold."""
    loops = 10000
    through_joins = {"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Result": {"i": 0, "none": []}, "Next": "Loop"},
        "Loop": {"Type": "Choice", "Choices": [
            {"Variable": "$.i", "NumericLessThan": loops, "Next": "Par"}], "Default": "Done"},
        "Par": {"Type": "Parallel", "ResultPath": None, "Next": "Map", "Branches": [
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}]},
        "Map": {"Type": "Map", "ItemsPath": "$.none", "ResultPath": None, "Next": "Inc",
                "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}},
        "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)",
                                               "none": []}, "Next": "Loop"},
        "Done": {"Type": "Succeed"}}}
    out = run_sync(sfn, sync, through_joins, {"i": 0, "none": []})
    assert out["status"] == "SUCCEEDED", out
    assert json.loads(out["output"]) == {"i": loops, "none": []}
    wide = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "End": True, "ItemSelector": {"n.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {
            "Type": "Pass", "Parameters": {"n.$": "$.n", "v.$": "$$.Map.Item.Value"},
            "End": True}}}}}}
    out = run_sync(sfn, sync, wide, list(range(5000)))
    assert out["status"] == "SUCCEEDED"
    got = json.loads(out["output"])
    assert len(got) == 5000 and got[4999] == {"n": 4999, "v": {"n": 4999}}
    grow = {"StartAt": "Double", "States": {
        "Double": {"Type": "Pass", "Parameters": {"a.$": "$", "b.$": "$"}, "Next": "Double"}}}
    out = run_sync(sfn, sync, grow, {"x": "y" * 1000})
    assert out["status"] == "FAILED" and out["error"] == "States.DataLimitExceeded"
    seen = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Parameters": {"c.$": "$$.State"}, "Next": "B"},
        "B": {"Type": "Pass", "End": True}}}
    out = run_sync(sfn, sync, seen, {})
    assert json.loads(out["output"])["c"]["Name"] == "A"
    either = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "End": True, "ToleratedFailureCount": 1, "ToleratedFailurePercentage": 90,
        "ItemProcessor": {"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericGreaterThan": 2,
                                                 "Next": "Bad"}], "Default": "Ok"},
            "Bad": {"Type": "Fail", "Error": "TooBig"},
            "Ok": {"Type": "Pass", "End": True}}}}}}
    out = run_sync(sfn, sync, either, [1, 2, 3, 4, 5, 1, 1, 1, 1, 1])
    assert out["status"] == "FAILED" and out["error"] == "States.ExceedToleratedFailureThreshold"
