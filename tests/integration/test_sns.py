"""SNS through boto3 and the aws CLI: topics (standard and FIFO) and their
attributes and tags; fan-out from one topic to several queues and
functions, with the SNS event (AWS's own schema, Powertools' SnsSchema,
accepts it) and the SQS envelope (SnsSqsNotificationSchema); filter
policies on message attributes and on the body; raw delivery;
PublishBatch; MessageStructure json; FIFO ordering and deduplication; a
subscription's dead-letter queue; a topic as an S3 notification target;
SNS's errors; and a kill -9 after which every acknowledged message is in
its queues. Each test states the AWS behaviour it checks."""

import json
import os
import subprocess

import pytest

from conftest import (ROLE, ROOT, Server, aws_cli, client, client_error, lambda_client, py_zip,
                      s3_client, unique_name, wait_until)

NODE_DIR = os.path.join(ROOT, "tests", "node")
BUCKET = "sns-seen"

HANDLER = """
import http.client, json, os, time, urllib.parse
URL = urllib.parse.urlparse(os.environ["AWS_ENDPOINT_URL"])

def handler(event, context):
    c = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)
    c.request("PUT", "/sns-seen/%s/%s" % (os.environ["PREFIX"], context.aws_request_id),
              body=json.dumps(event).encode())
    assert c.getresponse().status == 200
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("sns") / "data")).start()
    s3_client(s.endpoint).create_bucket(Bucket=BUCKET)
    yield s
    assert s.stop() == 0, s.logs()


@pytest.fixture(scope="module")
def sns(srv):
    return client("sns", srv.endpoint)


@pytest.fixture(scope="module")
def sqs(srv):
    return client("sqs", srv.endpoint)


def queue(sqs, fifo=False):
    name = unique_name("snsq") + (".fifo" if fifo else "")
    attrs = {"FifoQueue": "true"} if fifo else {}
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(sqs, url, want, attrs=False):
    """want messages from queue url (their bodies parsed when JSON)."""
    got = []

    def more():
        kw = {"MessageAttributeNames": ["All"]} if attrs else {}
        got.extend(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       **kw).get("Messages", []))
        return len(got) >= want

    wait_until(more, timeout=30, what="%d messages" % want)
    return got


def empty(sqs, url):
    return sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []


def topic(sns, fifo=False, **attrs):
    name = unique_name("topic") + (".fifo" if fifo else "")
    if fifo:
        attrs["FifoTopic"] = "true"
    return sns.create_topic(Name=name, Attributes=attrs)["TopicArn"]


def test_topics(sns):
    """CreateTopic answers the topic's ARN, the same again for the same
    name and attributes, InvalidParameter for other attributes or a bad
    name; GetTopicAttributes has AWS's members and the default policy;
    SetTopicAttributes and tags change them; ListTopics lists it;
    DeleteTopic removes it (twice is fine), after which it is NotFound."""
    name = unique_name("topic")
    arn = sns.create_topic(Name=name, Attributes={"DisplayName": "d"})["TopicArn"]
    assert arn == "arn:aws:sns:us-east-1:000000000000:" + name
    assert sns.create_topic(Name=name, Attributes={"DisplayName": "d"})["TopicArn"] == arn
    e = client_error(sns.create_topic, Name=name, Attributes={"DisplayName": "other"})
    assert e["Error"]["Code"] == "InvalidParameter"
    assert client_error(sns.create_topic, Name="bad name!")["Error"]["Code"] == "InvalidParameter"
    e = client_error(sns.create_topic, Name="x.fifo")
    assert "FifoTopic" in e["Error"]["Message"]
    a = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert a["TopicArn"] == arn and a["Owner"] == "000000000000" and a["DisplayName"] == "d"
    assert a["SubscriptionsConfirmed"] == "0"
    assert json.loads(a["Policy"])["Statement"][0]["Resource"] == arn
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="new")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "new"
    e = client_error(sns.set_topic_attributes, TopicArn=arn, AttributeName="Nope",
                     AttributeValue="x")
    assert e["Error"]["Code"] == "InvalidParameter"
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "data"}])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "data"}]
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == []
    arns = [t["TopicArn"] for p in sns.get_paginator("list_topics").paginate() for t in p["Topics"]]
    assert arn in arns
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)
    e = client_error(sns.get_topic_attributes, TopicArn=arn)
    assert e["Error"]["Code"] == "NotFound"
    assert e["ResponseMetadata"]["HTTPStatusCode"] == 404
    e = client_error(sns.publish, TopicArn=arn, Message="x")
    assert e["Error"]["Code"] == "NotFound"


def test_fan_out_to_queues_and_functions(srv, sns, sqs):
    """Every subscription gets its copy: each queue the JSON envelope
    (Powertools' SnsSqsNotificationSchema accepts it), each function
    Lambda's SNS event (SnsSchema accepts it), with the message, subject
    and attributes; subscribing again answers the same subscription;
    ListSubscriptionsByTopic lists them; an unsubscribed queue gets
    nothing more."""
    lam = lambda_client(srv.endpoint)
    s3 = s3_client(srv.endpoint)
    arn = topic(sns)
    queues = [queue(sqs) for _ in range(3)]
    subs = [sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=q[1])["SubscriptionArn"]
            for q in queues]
    assert sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queues[0][1])["SubscriptionArn"] == subs[0]
    prefixes = []
    for _ in range(2):
        prefix = unique_name("fn")
        name = unique_name("snsfn")
        fn = lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                                 Handler="app.handler", Code={"ZipFile": py_zip(HANDLER)},
                                 Environment={"Variables": {"PREFIX": prefix}})["FunctionArn"]
        lam.add_permission(FunctionName=name, StatementId="sns", Action="lambda:InvokeFunction",
                           Principal="sns.amazonaws.com", SourceArn=arn)
        sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint=fn)
        prefixes.append(prefix)
    listed = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert len(listed) == 5 and {s["Protocol"] for s in listed} == {"sqs", "lambda"}
    out = sns.publish(TopicArn=arn, Message="hello", Subject="greeting",
                      MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"},
                                         "n": {"DataType": "Number", "StringValue": "42"}})
    mid = out["MessageId"]
    for url, _ in queues:
        body = json.loads(drain(sqs, url, 1)[0]["Body"])
        assert body["Type"] == "Notification" and body["MessageId"] == mid
        assert body["TopicArn"] == arn and body["Message"] == "hello"
        assert body["Subject"] == "greeting"
        assert body["MessageAttributes"] == {"kind": {"Type": "String", "Value": "order"},
                                             "n": {"Type": "Number", "Value": "42"}}
        assert "UnsubscribeURL" in body and "SigningCertURL" in body
        proc = subprocess.run(["/usr/bin/node", "check_event.js", "SnsSqsNotificationSchema"],
                              cwd=NODE_DIR, input=json.dumps(body), capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
    for prefix in prefixes:
        def seen(prefix=prefix):
            return s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/").get("Contents", [])
        wait_until(seen, timeout=30, what="the function's event")
        event = json.loads(s3.get_object(Bucket=BUCKET, Key=seen()[0]["Key"])["Body"].read())
        rec = event["Records"][0]
        assert rec["EventSource"] == "aws:sns" and rec["EventSubscriptionArn"].startswith(arn + ":")
        assert rec["Sns"]["Message"] == "hello" and rec["Sns"]["MessageId"] == mid
        assert rec["Sns"]["MessageAttributes"]["kind"] == {"Type": "String", "Value": "order"}
        proc = subprocess.run(["/usr/bin/node", "check_event.js", "SnsSchema"], cwd=NODE_DIR,
                              input=json.dumps(event), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
    sns.unsubscribe(SubscriptionArn=subs[2])
    sns.publish(TopicArn=arn, Message="again")
    assert json.loads(drain(sqs, queues[0][0], 1)[0]["Body"])["Message"] == "again"
    assert empty(sqs, queues[2][0])
    e = client_error(sns.get_subscription_attributes, SubscriptionArn=subs[2])
    assert e["Error"]["Code"] == "NotFound"


def test_filter_policies(sns, sqs):
    """A FilterPolicy on message attributes (the default scope) delivers
    only what matches: exact, prefix, anything-but, numeric, exists and
    String.Array values; with FilterPolicyScope MessageBody it matches the
    JSON body, nested; a bad policy is refused with InvalidParameter."""
    arn = topic(sns)
    (u1, q1), (u2, q2) = queue(sqs), queue(sqs)
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=q1, Attributes={"FilterPolicy": json.dumps({
        "kind": ["order", {"prefix": "ret"}], "price": [{"numeric": [">", 10, "<=", 100]}],
        "region": [{"anything-but": ["eu-west-1"]}], "flag": [{"exists": False}]})})
    s2 = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=q2, Attributes={
        "FilterPolicyScope": "MessageBody",
        "FilterPolicy": json.dumps({"order": {"status": ["paid"], "total": [{"numeric": [">=", 5]}]}})})["SubscriptionArn"]

    def attrs(**kw):
        out = {}
        for k, v in kw.items():
            if isinstance(v, list):
                out[k] = {"DataType": "String.Array", "StringValue": json.dumps(v)}
            elif isinstance(v, (int, float)):
                out[k] = {"DataType": "Number", "StringValue": str(v)}
            else:
                out[k] = {"DataType": "String", "StringValue": v}
        return out

    cases = [
        ("m1", attrs(kind="order", price=50, region="us-east-1"), True),
        ("m2", attrs(kind="return", price=11, region="us-east-1"), True),
        ("m3", attrs(kind="order", price=5, region="us-east-1"), False),
        ("m4", attrs(kind="order", price=50, region="eu-west-1"), False),
        ("m5", attrs(kind="order", price=50, region="us-east-1", flag="x"), False),
        ("m6", attrs(kind=["misc", "order"], price=20, region="ap"), True),
        ("m7", attrs(price=50, region="us-east-1"), False),
        ("m8", attrs(kind="order", price="50", region="us-east-1"), False),
    ]
    for body, a, _ in cases:
        sns.publish(TopicArn=arn, Message=body, MessageAttributes=a)
    want = sorted(b for b, _, ok in cases if ok)
    got = sorted(json.loads(m["Body"])["Message"] for m in drain(sqs, u1, len(want)))
    assert got == want
    assert empty(sqs, u1)
    for doc in [{"order": {"status": "paid", "total": 9}}, {"order": {"status": "new", "total": 9}},
                {"order": {"status": "paid", "total": 1}}, "not json"]:
        sns.publish(TopicArn=arn, Message=doc if isinstance(doc, str) else json.dumps(doc))
    got = [json.loads(json.loads(m["Body"])["Message"]) for m in drain(sqs, u2, 1)]
    assert got == [{"order": {"status": "paid", "total": 9}}]
    assert empty(sqs, u2)
    a = sns.get_subscription_attributes(SubscriptionArn=s2)["Attributes"]
    assert a["FilterPolicyScope"] == "MessageBody" and a["RawMessageDelivery"] == "false"
    e = client_error(sns.set_subscription_attributes, SubscriptionArn=s2,
                     AttributeName="FilterPolicy", AttributeValue='{"a": [{"wildcardx": "b"}]}')
    assert e["Error"]["Code"] == "InvalidParameter"
    e = client_error(sns.subscribe, TopicArn=arn, Protocol="sqs", Endpoint=q1,
                     Attributes={"FilterPolicyScope": "Everything"})
    assert e["Error"]["Code"] == "InvalidParameter"
    # A nested policy needs the MessageBody scope: refused on attributes,
    # whichever of the two is set last.
    (_, q3) = queue(sqs)
    e = client_error(sns.subscribe, TopicArn=arn, Protocol="sqs", Endpoint=q3,
                     Attributes={"FilterPolicy": json.dumps({"order": {"status": ["paid"]}})})
    assert e["Error"]["Code"] == "InvalidParameter" and "nested" in e["Error"]["Message"]
    e = client_error(sns.set_subscription_attributes, SubscriptionArn=s2,
                     AttributeName="FilterPolicyScope", AttributeValue="MessageAttributes")
    assert e["Error"]["Code"] == "InvalidParameter" and "nested" in e["Error"]["Message"]


def test_raw_delivery_batch_and_structure(sns, sqs):
    """RawMessageDelivery puts the message itself in the queue with its
    attributes as SQS message attributes; PublishBatch publishes each
    valid entry and answers the others in Failed; MessageStructure json
    sends the protocol's own entry (else the default); a batch's empty,
    oversized or duplicate-id requests get SNS's errors."""
    arn = topic(sns)
    url, qarn = queue(sqs)
    sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn,
                        Attributes={"RawMessageDelivery": "true"})["SubscriptionArn"]
    sns.publish(TopicArn=arn, Message="raw body",
                MessageAttributes={"a": {"DataType": "String", "StringValue": "1"}})
    m = drain(sqs, url, 1, attrs=True)[0]
    assert m["Body"] == "raw body"
    assert m["MessageAttributes"]["a"]["StringValue"] == "1"
    out = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
        {"Id": "one", "Message": "b1"}, {"Id": "two", "Message": ""},
        {"Id": "three", "Message": "b3"}])
    assert [s["Id"] for s in out["Successful"]] == ["one", "three"]
    assert out["Failed"][0]["Id"] == "two" and out["Failed"][0]["Code"] == "InvalidParameter"
    assert out["Failed"][0]["SenderFault"] is True
    assert sorted(x["Body"] for x in drain(sqs, url, 2)) == ["b1", "b3"]
    sns.publish(TopicArn=arn, MessageStructure="json",
                Message=json.dumps({"default": "dflt", "sqs": "for queues"}))
    assert drain(sqs, url, 1)[0]["Body"] == "for queues"
    e = client_error(sns.publish, TopicArn=arn, MessageStructure="json", Message='{"sqs": "x"}')
    assert "No default entry" in e["Error"]["Message"]
    e = client_error(sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "x"}, {"Id": "a", "Message": "y"}])
    assert e["Error"]["Code"] == "BatchEntryIdsNotDistinct"
    e = client_error(sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=[
        {"Id": "i%d" % i, "Message": "x"} for i in range(11)])
    assert e["Error"]["Code"] == "TooManyEntriesInBatchRequest"
    e = client_error(sns.set_subscription_attributes, SubscriptionArn=sub,
                     AttributeName="RawMessageDelivery", AttributeValue="maybe")
    assert e["Error"]["Code"] == "InvalidParameter"
    for bad in ["abc", "nan", "inf", "0x10"]:
        e = client_error(sns.publish, TopicArn=arn, Message="x", MessageAttributes={
            "n": {"DataType": "Number", "StringValue": bad}})
        assert e["Error"]["Code"] == "ParameterValueInvalid", bad


def test_fifo_topic(sns, sqs):
    """A FIFO topic delivers to FIFO queues in order per group with
    sequence numbers; a repeated deduplication id within five minutes is
    not delivered again and answers the first message's id; a message
    without a group, or without a deduplication id on a topic without
    content-based deduplication, is refused."""
    arn = topic(sns, fifo=True)
    url, qarn = queue(sqs, fifo=True)
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    ids = []
    for i in range(5):
        out = sns.publish(TopicArn=arn, Message="m%d" % i, MessageGroupId="g",
                          MessageDeduplicationId="d%d" % i)
        ids.append(out["MessageId"])
        assert len(out["SequenceNumber"]) == 20
    again = sns.publish(TopicArn=arn, Message="m0 again", MessageGroupId="g",
                        MessageDeduplicationId="d0")
    assert again["MessageId"] == ids[0]
    got = []
    while len(got) < 5:
        msgs = drain(sqs, url, 1)
        for m in msgs:
            got.append(json.loads(m["Body"])["Message"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert got == ["m%d" % i for i in range(5)]
    assert empty(sqs, url)
    e = client_error(sns.publish, TopicArn=arn, Message="x", MessageDeduplicationId="z")
    assert "MessageGroupId" in e["Error"]["Message"]
    e = client_error(sns.publish, TopicArn=arn, Message="x", MessageGroupId="g")
    assert "ContentBasedDeduplication" in e["Error"]["Message"]
    cbd = topic(sns, fifo=True, ContentBasedDeduplication="true")
    a = sns.publish(TopicArn=cbd, Message="same", MessageGroupId="g")["MessageId"]
    assert sns.publish(TopicArn=cbd, Message="same", MessageGroupId="g")["MessageId"] == a


def test_dead_letter_queue_and_s3_target(srv, sns, sqs):
    """A copy whose queue is gone goes to the subscription's
    RedrivePolicy queue; a topic is an S3 notification target whose
    subscribers get the S3 event with the subject Amazon S3 Notification."""
    arn = topic(sns)
    gone_url, gone_arn = queue(sqs)
    dlq_url, dlq_arn = queue(sqs)
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=gone_arn,
                  Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})
    sqs.delete_queue(QueueUrl=gone_url)
    sns.publish(TopicArn=arn, Message="lost")
    body = json.loads(drain(sqs, dlq_url, 1)[0]["Body"])
    assert body["Message"] == "lost" and body["TopicArn"] == arn

    s3 = s3_client(srv.endpoint)
    bucket = unique_name("snsb")
    s3.create_bucket(Bucket=bucket)
    t2 = topic(sns)
    url, qarn = queue(sqs)
    sns.subscribe(TopicArn=t2, Protocol="sqs", Endpoint=qarn)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "TopicConfigurations": [{"TopicArn": t2, "Events": ["s3:ObjectCreated:*"]}]})
    s3.put_object(Bucket=bucket, Key="k.txt", Body=b"x")

    def created():
        for m in drain(sqs, url, 1):
            env = json.loads(m["Body"])
            if "Records" in json.loads(env["Message"]):
                return env
        return None

    env = wait_until(created, timeout=30, what="the S3 event")
    assert env["Subject"] == "Amazon S3 Notification"
    assert json.loads(env["Message"])["Records"][0]["s3"]["object"]["key"] == "k.txt"


def test_cli_publish(srv, sns, sqs):
    """The aws CLI creates a topic, subscribes a queue and publishes with
    attributes."""
    out = json.loads(aws_cli(srv.endpoint, "sns", "create-topic", "--name",
                             unique_name("clitopic")).stdout)
    arn = out["TopicArn"]
    url, qarn = queue(sqs)
    aws_cli(srv.endpoint, "sns", "subscribe", "--topic-arn", arn, "--protocol", "sqs",
            "--notification-endpoint", qarn)
    mid = json.loads(aws_cli(srv.endpoint, "sns", "publish", "--topic-arn", arn, "--message",
                             "from the cli", "--message-attributes",
                             '{"k": {"DataType": "String", "StringValue": "v"}}').stdout)["MessageId"]
    body = json.loads(drain(sqs, url, 1)[0]["Body"])
    assert body["MessageId"] == mid and body["Message"] == "from the cli"
    subs = json.loads(aws_cli(srv.endpoint, "sns", "list-subscriptions").stdout)["Subscriptions"]
    assert any(s["TopicArn"] == arn for s in subs)


def test_kill9_keeps_acknowledged_messages(tmp_path):
    """Every message Publish acknowledged before a kill -9 is in the
    subscribed queue after the restart."""
    s = Server(str(tmp_path / "data")).start()
    try:
        sns = client("sns", s.endpoint)
        sqs = client("sqs", s.endpoint)
        arn = topic(sns)
        url, qarn = queue(sqs)
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn,
                      Attributes={"RawMessageDelivery": "true"})
        acked = [sns.publish(TopicArn=arn, Message="m%d" % i) and "m%d" % i for i in range(100)]
        s.kill9()
        s.start(port=s.port)
        sqs = client("sqs", s.endpoint)
        got = set()

        def all_there():
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                         WaitTimeSeconds=1).get("Messages", []):
                got.add(m["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            return got >= set(acked)

        wait_until(all_there, timeout=60, what="every acknowledged message")
    finally:
        s.stop()
