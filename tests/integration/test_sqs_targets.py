"""Queues as targets of other services, through boto3: a function's
dead-letter queue for asynchronous events (AWS's message with its
RequestID, ErrorCode and ErrorMessage attributes), OnSuccess/OnFailure
destinations that are queues, and S3 notifications to a queue (the
s3:TestEvent when the configuration is set, then S3's events). Runs on a
server whose platform delays are 600 times faster (--time-scale)."""

import json
import os
import subprocess

import pytest

from conftest import (ROLE, ROOT, Server, client, client_error, lambda_client, py_zip, s3_client,
                      unique_name)

NODE_DIR = os.path.join(ROOT, "tests", "node")


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    srv = Server(str(tmp_path_factory.mktemp("sqs-targets") / "data"),
                 ["--time-scale", "600"]).start()
    yield srv
    assert srv.stop() == 0, srv.logs()


@pytest.fixture(scope="module")
def sqs(fast):
    return client("sqs", fast.endpoint)


@pytest.fixture(scope="module")
def lam(fast):
    return lambda_client(fast.endpoint)


def queue(sqs):
    url = sqs.create_queue(QueueName=unique_name("target"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def wait_message(sqs, url, timeout=20):
    """The next message of the queue (long polls until timeout)."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, AttributeNames=["All"],
                                MessageAttributeNames=["All"])
        if r.get("Messages"):
            m = r["Messages"][0]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            return m
    raise AssertionError(f"no message on {url} within {timeout} s")


FAILS = "def handler(event, context):\n    raise ValueError('no good: ' + str(event['n']))\n"


def make_fn(lam, source, **kw):
    name = unique_name("dlqfn")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                        Handler="app.handler", Code={"ZipFile": py_zip(source)}, **kw)
    return name


def test_async_failure_goes_to_dead_letter_queue(sqs, lam):
    """An asynchronous event that fails every try lands in the function's
    dead-letter queue as the event itself, with the RequestID, ErrorCode
    and ErrorMessage attributes; the configuration shows the queue."""
    url, arn = queue(sqs)
    name = make_fn(lam, FAILS, DeadLetterConfig={"TargetArn": arn})
    assert lam.get_function_configuration(FunctionName=name)["DeadLetterConfig"] == {"TargetArn": arn}
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    r = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 7}')
    request_id = r["ResponseMetadata"]["RequestId"]
    m = wait_message(sqs, url)
    assert json.loads(m["Body"]) == {"n": 7}
    a = m["MessageAttributes"]
    assert a["RequestID"] == {"DataType": "String", "StringValue": request_id}
    assert a["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert a["ErrorMessage"]["DataType"] == "String"
    assert a["ErrorMessage"]["StringValue"] == "no good: 7"
    # A queue that does not exist is refused; an empty TargetArn removes it.
    r = client_error(lam.update_function_configuration, FunctionName=name,
                     DeadLetterConfig={"TargetArn": arn + "-missing"})
    assert r["Error"]["Code"] == "InvalidParameterValueException"
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": ""})
    assert not lam.get_function_configuration(FunctionName=name).get(
        "DeadLetterConfig", {}).get("TargetArn")


def test_destinations_to_queues(sqs, lam):
    """OnSuccess and OnFailure destinations that are queues get AWS's
    invocation record."""
    ok_url, ok_arn = queue(sqs)
    bad_url, bad_arn = queue(sqs)
    good = make_fn(lam, "def handler(event, context):\n    return {'twice': event['n'] * 2}\n")
    lam.put_function_event_invoke_config(
        FunctionName=good, DestinationConfig={"OnSuccess": {"Destination": ok_arn}})
    lam.invoke(FunctionName=good, InvocationType="Event", Payload=b'{"n": 21}')
    rec = json.loads(wait_message(sqs, ok_url)["Body"])
    assert rec["requestContext"]["condition"] == "Success"
    assert rec["requestPayload"] == {"n": 21} and rec["responsePayload"] == {"twice": 42}
    bad = make_fn(lam, FAILS)
    lam.put_function_event_invoke_config(
        FunctionName=bad, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": bad_arn}})
    lam.invoke(FunctionName=bad, InvocationType="Event", Payload=b'{"n": 1}')
    rec = json.loads(wait_message(sqs, bad_url)["Body"])
    assert rec["requestContext"]["condition"] == "RetriesExhausted"
    assert rec["responseContext"]["functionError"] == "Unhandled"


def check_s3_schema(event):
    proc = subprocess.run(["/usr/bin/node", "check_event.js", "S3Schema"], cwd=NODE_DIR,
                          input=json.dumps(event), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_s3_notifications_to_a_queue(fast, sqs):
    """Setting a queue configuration sends S3's s3:TestEvent to the queue;
    then each matching object event arrives as S3's event, which AWS's
    schema accepts; a queue that does not exist is refused unless
    validation is skipped."""
    s3 = s3_client(fast.endpoint)
    bucket = unique_name("s3toq")
    s3.create_bucket(Bucket=bucket)
    url, arn = queue(sqs)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [
                                     {"Name": "prefix", "Value": "in/"}]}}}]})
    test = json.loads(wait_message(sqs, url)["Body"])
    assert test["Event"] == "s3:TestEvent" and test["Bucket"] == bucket
    assert test["Service"] == "Amazon S3"
    s3.put_object(Bucket=bucket, Key="out/skip.txt", Body=b"no")
    s3.put_object(Bucket=bucket, Key="in/data one.csv", Body=b"a,b\n")
    event = json.loads(wait_message(sqs, url)["Body"])
    rec = event["Records"][0]
    assert rec["eventName"] == "ObjectCreated:Put"
    assert rec["s3"]["object"]["key"] == "in/data+one.csv"
    check_s3_schema(event)
    r = client_error(s3.put_bucket_notification_configuration, Bucket=bucket,
                     NotificationConfiguration={"QueueConfigurations": [
                         {"QueueArn": arn + "-none", "Events": ["s3:ObjectCreated:*"]}]})
    assert r["Error"]["Code"] == "InvalidArgument"
