"""Step Functions' control plane through boto3, the aws CLI and the AWS SDK
for JavaScript v3 (JSON 1.0): state machines made, described, listed,
updated and deleted; definitions checked as Step Functions checks them
(InvalidDefinition naming the state and the problem; ValidateStateMachine-
Definition's diagnostics, an operation newer than Debian's botocore, so
through the JavaScript SDK); a kill -9 keeping what was acknowledged."""
import json
import os
import subprocess

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
