"""Step Functions' Task states through boto3 and the aws CLI: functions by
ARN and through lambda:invoke (the wrapped result), functions' errors
caught and retried by their errorType, the optimized integrations of SQS,
SNS, DynamoDB and EventBridge, the AWS SDK integrations and their error
names, TimeoutSeconds, and the callback pattern (.waitForTaskToken) with
SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat."""
import json
import time

import pytest

from conftest import (ROLE, Server, aws_cli, client, client_error, execution_end, lambda_client,
                      py_zip, unique_name, wait_until)

ECHO = """
import json, time

def handler(event, context):
    if isinstance(event, dict) and event.get("raise"):
        raise ValueError("told to: " + str(event["raise"]))
    if isinstance(event, dict) and event.get("sleep"):
        time.sleep(event["sleep"])
    n = event.get("n", 0) if isinstance(event, dict) else 0
    return {"doubled": n * 2, "got": event}
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("states_tasks") / "data")).start()
    yield s
    assert s.stop() == 0, s.logs()


@pytest.fixture(scope="module")
def sfn(srv):
    return client("stepfunctions", srv.endpoint)


@pytest.fixture(scope="module")
def sync(srv):
    return client("stepfunctions", srv.endpoint, inject_host_prefix=False)


@pytest.fixture(scope="module")
def lam(srv):
    return lambda_client(srv.endpoint)


@pytest.fixture(scope="module")
def sqs(srv):
    return client("sqs", srv.endpoint)


@pytest.fixture(scope="module")
def echo(lam):
    """A Python function: doubles n, raises ValueError when told, sleeps
    when told; its ARN."""
    name = unique_name("echo")
    out = lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                              Handler="app.handler", Code={"ZipFile": py_zip(ECHO)}, Timeout=30)
    return out["FunctionArn"]


def run(sfn, sync, definition, payload=None):
    """Runs definition as an EXPRESS machine's synchronous execution."""
    arn = sfn.create_state_machine(name=unique_name("task"), definition=json.dumps(definition),
                                   roleArn=ROLE, type="EXPRESS")["stateMachineArn"]
    return sync.start_sync_execution(stateMachineArn=arn, input=json.dumps(payload or {}))


def output(out):
    assert out["status"] == "SUCCEEDED", out
    return json.loads(out["output"])


def one_task(resource, **state):
    return {"StartAt": "T", "States": {"T": dict({"Type": "Task", "Resource": resource,
                                                   "End": True}, **state)}}


def queue(sqs):
    url = sqs.create_queue(QueueName=unique_name("sfnq"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, arn["Attributes"]["QueueArn"]


def receive_one(sqs, url):
    msgs = []

    def got():
        msgs.extend(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1,
                                        MessageAttributeNames=["All"]).get("Messages", []))
        return msgs
    wait_until(got, what="a message")
    return msgs[0]


def test_function_arn_and_lambda_invoke(sfn, sync, echo):
    """A function by its ARN returns its result; lambda:invoke wraps it
    (Payload, StatusCode, ExecutedVersion, SDK metadata), and a Map calls
    the function per item."""
    assert output(run(sfn, sync, one_task(echo), {"n": 21}))["doubled"] == 42
    d = one_task("arn:aws:states:::lambda:invoke",
                 Parameters={"FunctionName": echo, "Payload": {"n.$": "$.x"}},
                 ResultSelector={"p.$": "$.Payload", "code.$": "$.StatusCode",
                                 "v.$": "$.ExecutedVersion",
                                 "http.$": "$.SdkHttpMetadata.HttpStatusCode"})
    o = output(run(sfn, sync, d, {"x": 5}))
    assert o == {"p": {"doubled": 10, "got": {"n": 5}}, "code": 200, "v": "$LATEST", "http": 200}
    # The function's name (not its ARN) and a Map with a concurrency limit.
    name = echo.rsplit(":", 1)[1]
    m = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 3, "End": True,
        "ItemProcessor": {"StartAt": "Call", "States": {"Call": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": name, "Payload": {"n.$": "$"}},
            "OutputPath": "$.Payload.doubled", "End": True}}}}}}
    assert output(run(sfn, sync, m, {"items": list(range(12))})) == [2 * i for i in range(12)]


def test_function_errors_caught_and_retried(sfn, sync, echo):
    """A function's error is named by its errorType with the error payload
    as Cause; Retry retries it, Catch routes it; a missing function is
    Lambda.ResourceNotFoundException."""
    d = {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": echo, "End": True,
              "Retry": [{"ErrorEquals": ["ValueError"], "MaxAttempts": 2,
                         "IntervalSeconds": 1, "BackoffRate": 1}],
              "Catch": [{"ErrorEquals": ["ValueError"], "ResultPath": "$.err", "Next": "Caught"}]},
        "Caught": {"Type": "Pass", "End": True}}}
    started = time.monotonic()
    o = output(run(sfn, sync, d, {"raise": "boom"}))
    assert time.monotonic() - started >= 2  # two retries, a second apart
    assert o["err"]["Error"] == "ValueError"
    cause = json.loads(o["err"]["Cause"])
    assert cause["errorMessage"] == "told to: boom" and cause["errorType"] == "ValueError"
    # Uncaught: the execution fails with it.
    out = run(sfn, sync, one_task("arn:aws:states:::lambda:invoke",
                                  Parameters={"FunctionName": echo, "Payload.$": "$"}),
              {"raise": 1})
    assert out["status"] == "FAILED" and out["error"] == "ValueError"
    missing = one_task("arn:aws:states:::lambda:invoke",
                       Parameters={"FunctionName": "nope-" + unique_name("f")},
                       Catch=[{"ErrorEquals": ["Lambda.ResourceNotFoundException"],
                               "Next": "C"}])
    missing["States"]["C"] = {"Type": "Pass", "End": True}
    missing["States"]["T"].pop("End")
    missing["States"]["T"]["Next"] = "C"
    o = output(run(sfn, sync, missing))
    assert o["Error"] == "Lambda.ResourceNotFoundException"
    assert "Function not found" in o["Cause"] and "Status Code: 404" in o["Cause"]


def test_timeout(sfn, sync, echo):
    """TimeoutSeconds ends a task with States.Timeout, which Catch takes."""
    d = one_task(echo, TimeoutSeconds=1,
                 Catch=[{"ErrorEquals": ["States.Timeout"], "Next": "Late"}])
    d["States"]["T"].pop("End")
    d["States"]["T"]["Next"] = "Late"
    d["States"]["Late"] = {"Type": "Pass", "End": True}
    started = time.monotonic()
    o = output(run(sfn, sync, d, {"sleep": 4}))
    assert o["Error"] == "States.Timeout"
    assert time.monotonic() - started < 3.5


def test_sqs_sns_events(sfn, sync, sqs, srv):
    """sqs:sendMessage (a JSON body serialized), sns:publish to a topic a
    queue subscribes, events:putEvents matched by a rule targeting a
    queue: each delivers, and each output is the API's with its metadata."""
    url, qarn = queue(sqs)
    o = output(run(sfn, sync, one_task(
        "arn:aws:states:::sqs:sendMessage",
        Parameters={"QueueUrl": url, "MessageBody": {"order.$": "$.order"},
                    "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "o"}}}),
        {"order": 7}))
    assert o["SdkHttpMetadata"]["HttpStatusCode"] == 200 and o["SdkResponseMetadata"]["RequestId"]
    m = receive_one(sqs, url)
    assert m["MessageId"] == o["MessageId"] and json.loads(m["Body"]) == {"order": 7}
    assert m["MessageAttributes"]["kind"]["StringValue"] == "o"

    sns = client("sns", srv.endpoint)
    topic = sns.create_topic(Name=unique_name("sfnt"))["TopicArn"]
    surl, sarn = queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sarn,
                  Attributes={"RawMessageDelivery": "true"})
    o = output(run(sfn, sync, one_task("arn:aws:states:::sns:publish",
                                       Parameters={"TopicArn": topic, "Message.$": "$"}),
                   {"hello": "topic"}))
    m = receive_one(sqs, surl)
    assert json.loads(m["Body"]) == {"hello": "topic"} and o["MessageId"]

    events = client("events", srv.endpoint)
    eurl, earn = queue(sqs)
    rule = unique_name("sfnr")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["sfn.test"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": earn}])
    o = output(run(sfn, sync, one_task("arn:aws:states:::events:putEvents", Parameters={
        "Entries": [{"Source": "sfn.test", "DetailType": "done", "Detail": {"n.$": "$.n"}}]}),
        {"n": 3}))
    assert o["FailedEntryCount"] == 0 and len(o["Entries"]) == 1
    e = json.loads(receive_one(sqs, eurl)["Body"])
    assert e["detail"] == {"n": 3} and e["detail-type"] == "done"
    # A queue that does not exist: the SQS error, caught by its name.
    o = output(run(sfn, sync, {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
              "Parameters": {"QueueUrl": url + "-gone", "MessageBody": "x"},
              "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "C"}], "End": True},
        "C": {"Type": "Pass", "End": True}}}))
    assert o["Error"] == "SQS.QueueDoesNotExistException", o


def test_dynamodb(sfn, sync, srv):
    """putItem, updateItem, getItem, deleteItem: the item goes through its
    life, and a failed condition is DynamoDB.ConditionalCheckFailedException."""
    ddb = client("dynamodb", srv.endpoint)
    table = unique_name("sfntab")
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    key = {"id": {"S.$": "$.id"}}
    d = {"StartAt": "Put", "States": {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": table, "Item": {"id": {"S.$": "$.id"},
                                                            "n": {"N": "1"}}},
                "ResultPath": None, "Next": "Update"},
        "Update": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:updateItem",
                   "Parameters": {"TableName": table, "Key": key,
                                  "UpdateExpression": "SET n = n + :one",
                                  "ExpressionAttributeValues": {":one": {"N": "41"}},
                                  "ReturnValues": "UPDATED_NEW"},
                   "ResultPath": "$.updated", "Next": "Get"},
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
                "Parameters": {"TableName": table, "Key": key},
                "ResultSelector": {"n.$": "$.Item.n.N"}, "ResultPath": "$.got", "Next": "Delete"},
        "Delete": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:deleteItem",
                   "Parameters": {"TableName": table, "Key": key,
                                  "ConditionExpression": "n = :n",
                                  "ExpressionAttributeValues": {":n": {"N": "0"}}},
                   "Catch": [{"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                              "ResultPath": "$.refused", "Next": "Gone"}],
                   "End": True},
        "Gone": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:deleteItem",
                 "Parameters": {"TableName": table, "Key": key}, "ResultPath": None,
                 "End": True}}}
    o = output(run(sfn, sync, d, {"id": "a"}))
    assert o["updated"]["Attributes"] == {"n": {"N": "42"}}
    assert o["got"] == {"n": "42"}
    assert o["refused"]["Error"] == "DynamoDB.ConditionalCheckFailedException"
    assert "Item" not in ddb.get_item(TableName=table, Key={"id": {"S": "a"}})


def test_aws_sdk_integration(sfn, sync, sqs):
    """aws-sdk:<service>:<action>: the bare output, and errors named
    Service.ExceptionName with the Exception suffix."""
    url, arn = queue(sqs)
    o = output(run(sfn, sync, one_task("arn:aws:states:::aws-sdk:sqs:getQueueAttributes",
                                       Parameters={"QueueUrl": url,
                                                   "AttributeNames": ["QueueArn"]})))
    assert o == {"Attributes": {"QueueArn": arn}}
    out = run(sfn, sync, one_task("arn:aws:states:::aws-sdk:sqs:getQueueAttributes",
                                  Parameters={"QueueUrl": url + "-gone"}))
    assert out["status"] == "FAILED" and out["error"] == "Sqs.QueueDoesNotExistException"
    assert "Status Code: 400" in out["cause"]
    out = run(sfn, sync, one_task("arn:aws:states:::aws-sdk:dynamodb:describeTable",
                                  Parameters={"TableName": "nope-" + unique_name("t")}))
    assert out["error"] == "DynamoDb.ResourceNotFoundException", out
    # Input that fails the API's model: its validation error.
    out = run(sfn, sync, one_task("arn:aws:states:::aws-sdk:sqs:getQueueAttributes",
                                  Parameters={"QueueUrl": 5}))
    assert out["status"] == "FAILED" and out["error"].startswith("Sqs."), out


def test_invalid_resources(sfn):
    """A Resource Sluice cannot run is refused with the definition."""
    for res in ["arn:aws:states:::dynamodb:query", "arn:aws:states:::sqs:sendMessage.sync",
                "arn:aws:states:::nope:doIt", "arn:aws:lambda:us-east-1:000000000000:layer:x"]:
        e = client_error(sfn.create_state_machine, name=unique_name("bad"), roleArn=ROLE,
                         definition=json.dumps(one_task(res)))
        assert e["Error"]["Code"] == "InvalidDefinition"
        assert res in e["Error"]["Message"] and "/States/T/Resource" in e["Error"]["Message"]


def standard(sfn, definition):
    return sfn.create_state_machine(name=unique_name("cb"), definition=json.dumps(definition),
                                    roleArn=ROLE)["stateMachineArn"]


def test_wait_for_task_token(sfn, sqs, srv):
    """sqs:sendMessage.waitForTaskToken (a STANDARD machine's: EXPRESS ones
    refuse the pattern): the token reaches the queue, and the execution
    waits for it: SendTaskSuccess's output is the task's result (boto3),
    SendTaskFailure's error is caught (aws CLI), SendTaskHeartbeat holds
    off HeartbeatSeconds, and a missing heartbeat is
    States.HeartbeatTimeout. Tokens of ended tasks and made-up tokens get
    AWS's errors."""
    url, _ = queue(sqs)
    d = {"StartAt": "Ask", "States": {
        "Ask": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": url,
                               "MessageBody": {"token.$": "$$.Task.Token", "q.$": "$.q"}},
                "HeartbeatSeconds": 2, "ResultPath": "$.answer",
                "Catch": [{"ErrorEquals": ["Refused", "States.HeartbeatTimeout"],
                           "ResultPath": "$.err", "Next": "No"}],
                "End": True},
        "No": {"Type": "Pass", "End": True}}}
    e = client_error(sfn.create_state_machine, name=unique_name("cbx"), roleArn=ROLE,
                     definition=json.dumps(d), type="EXPRESS")
    assert e["Error"]["Code"] == "InvalidDefinition"
    assert "Express state machine does not support '.waitForTaskToken'" in e["Error"]["Message"]
    assert "/States/Ask/Resource" in e["Error"]["Message"]
    arn = standard(sfn, d)

    def start(q):
        return sfn.start_execution(stateMachineArn=arn, input=json.dumps({"q": q}))["executionArn"]

    # Success, with heartbeats past HeartbeatSeconds.
    ex = start("yes?")
    body = json.loads(receive_one(sqs, url)["Body"])
    assert body["q"] == "yes?" and len(body["token"]) > 32
    for _ in range(3):
        time.sleep(1)  # (time passes: heartbeats spread past the 2-second HeartbeatSeconds)
        sfn.send_task_heartbeat(taskToken=body["token"])
    sfn.send_task_success(taskToken=body["token"], output=json.dumps({"ok": True}))
    assert output(execution_end(sfn, ex)) == {"q": "yes?", "answer": {"ok": True}}
    e = client_error(sfn.send_task_success, taskToken=body["token"], output="{}")
    assert e["Error"]["Code"] == "TaskTimedOut"
    # Failure, through the aws CLI.
    ex = start("no?")
    token = json.loads(receive_one(sqs, url)["Body"])["token"]
    aws_cli(srv.endpoint, "stepfunctions", "send-task-failure", "--task-token", token,
            "--error", "Refused", "--cause", "said no")
    assert output(execution_end(sfn, ex))["err"] == {"Error": "Refused", "Cause": "said no"}
    # No heartbeat: States.HeartbeatTimeout.
    ex = start("silence")
    receive_one(sqs, url)
    assert output(execution_end(sfn, ex))["err"]["Error"] == "States.HeartbeatTimeout"
    # Tokens never given, bad output.
    e = client_error(sfn.send_task_success, taskToken="made-up", output="{}")
    assert e["Error"]["Code"] == "InvalidToken"
    e = client_error(sfn.send_task_heartbeat, taskToken="ab" * 48)
    assert e["Error"]["Code"] == "TaskTimedOut"
    e = client_error(sfn.send_task_success, taskToken="ab" * 48, output="{not json")
    assert e["Error"]["Code"] == "InvalidOutput"


def test_lambda_callback(sfn, lam):
    """lambda:invoke.waitForTaskToken: the function gets the token and
    answers the execution itself with boto3 (SendTaskSuccess)."""
    code = """
import boto3, json, os
def handler(event, context):
    sfn = boto3.client("stepfunctions", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    sfn.send_task_success(taskToken=event["token"], output=json.dumps({"from": "function",
                                                                       "n": event["n"]}))
    return "sent"
"""
    name = unique_name("cbfn")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": py_zip(code)}, Timeout=30)
    arn = standard(sfn, one_task(
        "arn:aws:states:::lambda:invoke.waitForTaskToken",
        Parameters={"FunctionName": name,
                    "Payload": {"token.$": "$$.Task.Token", "n.$": "$.n"}}))
    ex = sfn.start_execution(stateMachineArn=arn, input='{"n": 9}')["executionArn"]
    assert output(execution_end(sfn, ex)) == {"from": "function", "n": 9}


def test_pascal_case_members(sfn, sync, echo):
    """Parameters and outputs are PascalCase whatever the API's case:
    aws-sdk:sfn (camelCase members), states:startExecution, and
    aws-sdk:lambda:invoke with its Payload."""
    target = sfn.create_state_machine(name=unique_name("inner"), roleArn=ROLE,
                                      definition=json.dumps({"StartAt": "P", "States": {
                                          "P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    o = output(run(sfn, sync, one_task("arn:aws:states:::aws-sdk:sfn:describeStateMachine",
                                       Parameters={"StateMachineArn": target},
                                       ResultSelector={"n.$": "$.Name", "t.$": "$.Type"})))
    assert o["t"] == "STANDARD" and target.endswith(":" + o["n"])
    o = output(run(sfn, sync, one_task("arn:aws:states:::states:startExecution", Parameters={
        "StateMachineArn": target, "Input": {"from": "parent"}})))
    assert o["ExecutionArn"].startswith(target.replace(":stateMachine:", ":execution:"))
    assert json.loads(execution_end(sfn, o["ExecutionArn"])["output"]) == {"from": "parent"}
    o = output(run(sfn, sync, one_task("arn:aws:states:::aws-sdk:lambda:invoke", Parameters={
        "FunctionName": echo, "Payload": {"n": 4}})))
    assert o["StatusCode"] == 200 and o["Payload"]["doubled"] == 8


def test_sns_callback(sfn, sqs, srv):
    """sns:publish.waitForTaskToken: the token travels in the message to a
    queue the topic feeds, and SendTaskSuccess ends the task."""
    sns = client("sns", srv.endpoint)
    topic = sns.create_topic(Name=unique_name("cbt"))["TopicArn"]
    url, qarn = queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                  Attributes={"RawMessageDelivery": "true"})
    arn = standard(sfn, one_task("arn:aws:states:::sns:publish.waitForTaskToken", Parameters={
        "TopicArn": topic, "Message": {"token.$": "$$.Task.Token", "job.$": "$.job"}}))
    ex = sfn.start_execution(stateMachineArn=arn, input='{"job": 7}')["executionArn"]
    body = json.loads(receive_one(sqs, url)["Body"])
    assert body["job"] == 7
    sfn.send_task_success(taskToken=body["token"], output='{"done": 7}')
    assert output(execution_end(sfn, ex)) == {"done": 7}
