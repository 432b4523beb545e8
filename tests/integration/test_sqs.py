"""SQS through the clients that speak it: boto3 and the aws CLI from Debian
(the query protocol) and the current AWS SDK for JavaScript v3 from npm
(JSON 1.0, query-compatible errors). Each test states the AWS behaviour
it checks."""

import base64
import hashlib
import json
import os
import struct
import subprocess
import threading
import time

import pytest

from conftest import ROOT, aws_cli, client, client_error, unique_name, wait_until

NODE_DIR = os.path.join(ROOT, "tests", "node")


@pytest.fixture
def sqs(server):
    return client("sqs", server.endpoint)


def new_queue(sqs, prefix="q", **attrs):
    name = unique_name(prefix)
    if attrs.get("FifoQueue") == "true":
        name += ".fifo"
    return sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]


def attrs_md5(attrs):
    """MD5OfMessageAttributes as AWS documents it: names sorted, each
    length-prefixed name and type, a transport byte, the length-prefixed
    value."""
    h = hashlib.md5()
    for name in sorted(attrs):
        a = attrs[name]
        for s in (name, a["DataType"]):
            b = s.encode()
            h.update(struct.pack(">I", len(b)) + b)
        if "BinaryValue" in a:
            h.update(b"\x02" + struct.pack(">I", len(a["BinaryValue"])) + a["BinaryValue"])
        else:
            b = a["StringValue"].encode()
            h.update(b"\x01" + struct.pack(">I", len(b)) + b)
    return h.hexdigest()


def receive_all(sqs, url, n, **kw):
    """Receives until n messages came (or fails after a deadline)."""
    got = []
    deadline = time.monotonic() + 20
    while len(got) < n and time.monotonic() < deadline:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, n - len(got)),
                                WaitTimeSeconds=1, **kw)
        got += r.get("Messages", [])
    return got


def test_queue_lifecycle(sqs):
    """CreateQueue answers the URL for the endpoint used, is idempotent for
    the same attributes and refuses different ones (QueueAlreadyExists);
    GetQueueUrl, ListQueues with a prefix and pages; DeleteQueue, after
    which the queue does not exist and its name cannot be reused for 60 s."""
    name = unique_name("life")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "40"})["QueueUrl"]
    assert url == f"{sqs.meta.endpoint_url}/000000000000/{name}"
    assert sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "40"})["QueueUrl"] == url
    r = client_error(sqs.create_queue, QueueName=name, Attributes={"VisibilityTimeout": "41"})
    assert r["Error"]["Code"] == "QueueAlreadyExists"
    assert "VisibilityTimeout" in r["Error"]["Message"]
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    prefix = unique_name("page")
    urls = [sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5)]
    assert sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"] == urls
    seen, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, **kw)
        seen += page["QueueUrls"]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == urls
    sqs.delete_queue(QueueUrl=url)
    r = client_error(sqs.get_queue_url, QueueName=name)
    assert r["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    r = client_error(sqs.send_message, QueueUrl=url, MessageBody="x")
    assert r["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    r = client_error(sqs.create_queue, QueueName=name)
    assert r["Error"]["Code"] == "AWS.SimpleQueueService.QueueDeletedRecently"
    for bad in ("has space", "x" * 81, "dot.name"):
        assert client_error(sqs.create_queue, QueueName=bad)["Error"]["Code"] == \
            "InvalidParameterValue"


def test_queue_attributes(sqs):
    """GetQueueAttributes gives AWS's defaults and the read-only ones;
    SetQueueAttributes changes them; unknown names and out-of-range values
    are refused with InvalidAttributeName / InvalidAttributeValue."""
    url = new_queue(sqs)
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert a["VisibilityTimeout"] == "30" and a["DelaySeconds"] == "0"
    assert a["MaximumMessageSize"] == "262144" and a["MessageRetentionPeriod"] == "345600"
    assert a["ReceiveMessageWaitTimeSeconds"] == "0"
    assert a["QueueArn"] == "arn:aws:sqs:us-east-1:000000000000:" + url.rsplit("/", 1)[1]
    assert a["ApproximateNumberOfMessages"] == "0"
    assert int(a["CreatedTimestamp"]) <= time.time() + 1
    sqs.set_queue_attributes(QueueUrl=url, Attributes={
        "VisibilityTimeout": "5", "DelaySeconds": "2", "MaximumMessageSize": "2048",
        "MessageRetentionPeriod": "120", "ReceiveMessageWaitTimeSeconds": "3",
        "Policy": json.dumps({"Version": "2012-10-17", "Statement": []})})
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "Policy",
                                                               "MaximumMessageSize"])["Attributes"]
    assert a == {"VisibilityTimeout": "5", "MaximumMessageSize": "2048",
                 "Policy": json.dumps({"Version": "2012-10-17", "Statement": []})}
    r = client_error(sqs.set_queue_attributes, QueueUrl=url, Attributes={"Nope": "1"})
    assert r["Error"]["Code"] == "InvalidAttributeName"
    r = client_error(sqs.set_queue_attributes, QueueUrl=url, Attributes={"VisibilityTimeout": "43201"})
    assert r["Error"]["Code"] == "InvalidAttributeValue"
    r = client_error(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["Bogus"])
    assert r["Error"]["Code"] == "InvalidAttributeName"
    r = client_error(sqs.set_queue_attributes, QueueUrl=url,
                     Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": "x",
                                                              "maxReceiveCount": 3})})
    assert r["Error"]["Code"] == "InvalidAttributeValue"
    # The counts by state.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0"})
    sqs.send_message(QueueUrl=url, MessageBody="visible")
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=600)
    sqs.send_message(QueueUrl=url, MessageBody="in flight")
    assert len(sqs.receive_message(QueueUrl=url)["Messages"]) == 1
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"],
            a["ApproximateNumberOfMessagesDelayed"]) == ("1", "1", "1")


def test_send_receive_delete_with_md5s(sqs):
    """SendMessage answers AWS's MD5s of the body and of the attributes
    (String, Number, Binary); ReceiveMessage returns the message with its
    system attributes (receive count, timestamps in ms, sender) and the
    attributes asked for; DeleteMessage removes it."""
    url = new_queue(sqs)
    attrs = {"Kind": {"DataType": "String", "StringValue": "order"},
             "Count": {"DataType": "Number", "StringValue": "42"},
             "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\xffbin"},
             "Custom": {"DataType": "String.label", "StringValue": "é ü"}}
    body = '{"orderId":42} ünïcode'
    before = int(time.time() * 1000)
    r = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs)
    assert r["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert r["MD5OfMessageAttributes"] == attrs_md5(attrs)
    m = sqs.receive_message(QueueUrl=url, AttributeNames=["All"],
                            MessageAttributeNames=["All"])["Messages"][0]
    assert m["MessageId"] == r["MessageId"] and m["Body"] == body
    assert m["MD5OfBody"] == r["MD5OfMessageBody"]
    assert m["MessageAttributes"] == attrs
    assert m["MD5OfMessageAttributes"] == attrs_md5(attrs)
    sa = m["Attributes"]
    assert sa["ApproximateReceiveCount"] == "1"
    assert before <= int(sa["SentTimestamp"]) <= int(sa["ApproximateFirstReceiveTimestamp"])
    assert sa["SenderId"]
    # Attribute names by prefix; none asked, none returned.
    dotted = {n: {"DataType": "String", "StringValue": n} for n in ("Order.id", "Order.kind", "Other")}
    sqs.send_message(QueueUrl=url, MessageBody="two", MessageAttributes=dotted)
    m2 = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["Order.*"])["Messages"][0]
    assert set(m2["MessageAttributes"]) == {"Order.id", "Order.kind"}
    assert "Attributes" not in m2
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"])
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0"
    # A deleted message's handle still deletes without error, as on AWS.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    r = client_error(sqs.delete_message, QueueUrl=url, ReceiptHandle="not-a-handle")
    assert r["Error"]["Code"] == "ReceiptHandleIsInvalid"


def test_message_limits_and_errors(sqs):
    """Bodies over MaximumMessageSize, invalid characters, bad attributes,
    receive parameters out of range: AWS's codes."""
    url = new_queue(sqs, MaximumMessageSize="1024")
    sqs.send_message(QueueUrl=url, MessageBody="a" * 1024)
    r = client_error(sqs.send_message, QueueUrl=url, MessageBody="a" * 1025)
    assert r["Error"]["Code"] == "InvalidParameterValue"
    assert "shorter than 1024 bytes" in r["Error"]["Message"]
    r = client_error(sqs.send_message, QueueUrl=url, MessageBody="bad \x01 char")
    assert r["Error"]["Code"] == "InvalidMessageContents"
    r = client_error(sqs.send_message, QueueUrl=url, MessageBody="x",
                     MessageAttributes={"N": {"DataType": "Number", "StringValue": "abc"}})
    assert r["Error"]["Code"] == "InvalidParameterValue"
    r = client_error(sqs.send_message, QueueUrl=url, MessageBody="x",
                     MessageAttributes={"AWS.x": {"DataType": "String", "StringValue": "v"}})
    assert r["Error"]["Code"] == "InvalidParameterValue"
    r = client_error(sqs.send_message, QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert r["Error"]["Code"] == "InvalidParameterValue"
    for kw in ({"MaxNumberOfMessages": 11}, {"WaitTimeSeconds": 21}, {"VisibilityTimeout": -1}):
        assert client_error(sqs.receive_message, QueueUrl=url, **kw)["Error"]["Code"] == \
            "InvalidParameterValue", kw


def test_batches_report_each_entry(sqs):
    """SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch
    answer Successful and Failed per entry with HTTP 200; the batch itself
    is refused when empty, over 10 entries, with repeated or malformed ids,
    or over 256 KiB in all."""
    url = new_queue(sqs)
    r = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "one"},
        {"Id": "b", "MessageBody": "two", "DelaySeconds": 901},
        {"Id": "c", "MessageBody": "three",
         "MessageAttributes": {"K": {"DataType": "String", "StringValue": "v"}}}])
    assert sorted(e["Id"] for e in r["Successful"]) == ["a", "c"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in r["Failed"]] == \
        [("b", "InvalidParameterValue", True)]
    c = next(e for e in r["Successful"] if e["Id"] == "c")
    assert c["MD5OfMessageBody"] == hashlib.md5(b"three").hexdigest()
    assert c["MD5OfMessageAttributes"] == attrs_md5({"K": {"DataType": "String", "StringValue": "v"}})
    got = receive_all(sqs, url, 2)
    handles = [m["ReceiptHandle"] for m in got]
    r = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "x", "ReceiptHandle": handles[0], "VisibilityTimeout": 100},
        {"Id": "y", "ReceiptHandle": "garbage", "VisibilityTimeout": 1}])
    assert [e["Id"] for e in r["Successful"]] == ["x"]
    assert r["Failed"][0]["Id"] == "y" and r["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    r = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "d1", "ReceiptHandle": handles[0]}, {"Id": "d2", "ReceiptHandle": handles[1]},
        {"Id": "d3", "ReceiptHandle": "garbage"}])
    assert sorted(e["Id"] for e in r["Successful"]) == ["d1", "d2"]
    assert r["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    codes = {
        "AWS.SimpleQueueService.EmptyBatchRequest": [],
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest":
            [{"Id": f"m{i}", "MessageBody": "x"} for i in range(11)],
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct":
            [{"Id": "same", "MessageBody": "x"}, {"Id": "same", "MessageBody": "y"}],
        "AWS.SimpleQueueService.InvalidBatchEntryId": [{"Id": "no spaces", "MessageBody": "x"}],
        "AWS.SimpleQueueService.BatchRequestTooLong":
            [{"Id": f"m{i}", "MessageBody": "x" * 100_000} for i in range(3)],
    }
    for code, entries in codes.items():
        assert client_error(sqs.send_message_batch, QueueUrl=url, Entries=entries)["Error"]["Code"] \
            == code


def test_long_poll_wakes_on_arrival(server, sqs):
    """A ReceiveMessage waiting (WaitTimeSeconds) returns as soon as
    another client sends, not at the end of its wait; an empty long poll
    returns after its wait; ReceiveMessageWaitTimeSeconds is the default."""
    url = new_queue(sqs)
    other = client("sqs", server.endpoint)
    started = threading.Event()

    def send_later():
        started.wait(10)
        time.sleep(0.3)
        other.send_message(QueueUrl=url, MessageBody="wake up")

    t = threading.Thread(target=send_later)
    t.start()
    t0 = time.monotonic()
    started.set()
    r = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)
    elapsed = time.monotonic() - t0
    t.join()
    assert r["Messages"][0]["Body"] == "wake up"
    assert 0.25 <= elapsed < 5, elapsed  # it waited for the send, and no longer
    t0 = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert time.monotonic() - t0 >= 0.9
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"ReceiveMessageWaitTimeSeconds": "1"})
    t0 = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    assert time.monotonic() - t0 >= 0.9


def test_visibility_timeout_and_redelivery(sqs):
    """A received message is invisible for the visibility timeout, then
    comes back with a higher ApproximateReceiveCount and a new receipt
    handle; ChangeMessageVisibility 0 returns it at once; a message not in
    flight cannot have its visibility changed; a long poll wakes when a
    message comes back from flight."""
    url = new_queue(sqs, VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="again")
    m1 = sqs.receive_message(QueueUrl=url)["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    t0 = time.monotonic()
    m2 = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5,
                             AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert 0.5 < time.monotonic() - t0 < 4
    assert m2["MessageId"] == m1["MessageId"] and m2["ReceiptHandle"] != m1["ReceiptHandle"]
    assert m2["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"], VisibilityTimeout=0)
    m3 = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30)["Messages"][0]
    assert m3["MessageId"] == m1["MessageId"]
    # The old handle is stale: it deletes nothing.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"])
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessagesNotVisible"])["Attributes"][
        "ApproximateNumberOfMessagesNotVisible"] == "1"
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m3["ReceiptHandle"], VisibilityTimeout=0)
    r = client_error(sqs.change_message_visibility, QueueUrl=url,
                     ReceiptHandle=m3["ReceiptHandle"], VisibilityTimeout=10)
    assert r["Error"]["Code"] == "AWS.SimpleQueueService.MessageNotInflight"


def test_redrive_to_dead_letter_queue(sqs):
    """After maxReceiveCount receives, the next receive moves the message to
    the RedrivePolicy's dead-letter queue, where it carries
    DeadLetterQueueSourceArn; ListDeadLetterSourceQueues names the source."""
    dlq = new_queue(sqs, "dlq")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = new_queue(sqs, "src", VisibilityTimeout="0", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}))
    src_arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mid = sqs.send_message(QueueUrl=src, MessageBody="poison")["MessageId"]
    for n in (1, 2):
        m = sqs.receive_message(QueueUrl=src, AttributeNames=["All"])["Messages"][0]
        assert m["Attributes"]["ApproximateReceiveCount"] == str(n)
    assert "Messages" not in sqs.receive_message(QueueUrl=src)
    m = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"], WaitTimeSeconds=2)["Messages"][0]
    assert m["MessageId"] == mid and m["Body"] == "poison"
    assert m["Attributes"]["DeadLetterQueueSourceArn"] == src_arn
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]
    # The dead-letter queue must exist and be of the source's kind.
    fifo_dlq = new_queue(sqs, "fdlq", FifoQueue="true")
    fifo_arn = sqs.get_queue_attributes(QueueUrl=fifo_dlq, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    for target in (fifo_arn, dlq_arn + "-none"):
        r = client_error(sqs.set_queue_attributes, QueueUrl=src, Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": target, "maxReceiveCount": 3})})
        assert r["Error"]["Code"] == "InvalidParameterValue", target


def test_fifo_order_groups_and_deduplication(sqs):
    """FIFO: messages of a group come in order with growing SequenceNumbers;
    a group with a message in flight gives no more until it is deleted;
    other groups go on; a repeated MessageDeduplicationId (or body, with
    ContentBasedDeduplication) within 5 minutes is accepted but not queued
    again; MessageGroupId is required."""
    url = new_queue(sqs, "fifo", FifoQueue="true")
    seqs = []
    for i in range(5):
        r = sqs.send_message(QueueUrl=url, MessageBody=f"a{i}", MessageGroupId="A",
                             MessageDeduplicationId=f"a{i}")
        seqs.append(int(r["SequenceNumber"]))
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    first = sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="B",
                             MessageDeduplicationId="b0")
    dup = sqs.send_message(QueueUrl=url, MessageBody="other body", MessageGroupId="B",
                           MessageDeduplicationId="b0")
    assert dup["MessageId"] == first["MessageId"]
    r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in r] == ["a0", "a1"]
    assert r[0]["Attributes"]["MessageGroupId"] == "A"
    assert r[0]["Attributes"]["SequenceNumber"] == str(seqs[0])
    # Group A is blocked while a0, a1 are in flight; B is not.
    r2 = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in r2] == ["b0"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=r[0]["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    # a1 back from flight comes before a2: order holds across redelivery.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=r[1]["ReceiptHandle"], VisibilityTimeout=0)
    r3 = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in r3] == ["a1", "a2", "a3", "a4"]
    r = client_error(sqs.send_message, QueueUrl=url, MessageBody="x")
    assert r["Error"]["Code"] == "MissingParameter"
    r = client_error(sqs.send_message, QueueUrl=url, MessageBody="x", MessageGroupId="A")
    assert r["Error"]["Code"] == "InvalidParameterValue"
    r = client_error(sqs.send_message, QueueUrl=url, MessageBody="x", MessageGroupId="A",
                     MessageDeduplicationId="z", DelaySeconds=5)
    assert r["Error"]["Code"] == "InvalidParameterValue"
    # A receive retried with its ReceiveRequestAttemptId gets the same
    # messages and receipt handles; another attempt finds the group blocked.
    att = new_queue(sqs, "att", FifoQueue="true", ContentBasedDeduplication="true")
    for i in range(3):
        sqs.send_message(QueueUrl=att, MessageBody=f"t{i}", MessageGroupId="g")
    first = sqs.receive_message(QueueUrl=att, MaxNumberOfMessages=2,
                                ReceiveRequestAttemptId="try-1")["Messages"]
    again = sqs.receive_message(QueueUrl=att, MaxNumberOfMessages=2,
                                ReceiveRequestAttemptId="try-1")["Messages"]
    assert [m["Body"] for m in first] == ["t0", "t1"]
    assert [(m["MessageId"], m["ReceiptHandle"]) for m in again] == \
        [(m["MessageId"], m["ReceiptHandle"]) for m in first]
    assert "Messages" not in sqs.receive_message(QueueUrl=att, ReceiveRequestAttemptId="try-2")
    for m in again:
        sqs.delete_message(QueueUrl=att, ReceiptHandle=m["ReceiptHandle"])
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=att, MaxNumberOfMessages=10)[
        "Messages"]] == ["t2"]
    cbd = new_queue(sqs, "cbd", FifoQueue="true", ContentBasedDeduplication="true")
    one = sqs.send_message(QueueUrl=cbd, MessageBody="same", MessageGroupId="g")
    two = sqs.send_message(QueueUrl=cbd, MessageBody="same", MessageGroupId="g")
    assert one["MessageId"] == two["MessageId"]
    assert len(sqs.receive_message(QueueUrl=cbd, MaxNumberOfMessages=10)["Messages"]) == 1
    assert client_error(sqs.create_queue, QueueName=unique_name("nofifo"),
                        Attributes={"FifoQueue": "true"})["Error"]["Code"] == "InvalidParameterValue"


def test_purge_and_tags(sqs):
    """PurgeQueue deletes every message, once per 60 seconds
    (PurgeQueueInProgress); TagQueue, UntagQueue, ListQueueTags and
    CreateQueue's tags."""
    name = unique_name("tags")
    url = sqs.create_queue(QueueName=name, tags={"team": "data"})["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    sqs.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    r = client_error(sqs.purge_queue, QueueUrl=url)
    assert r["Error"]["Code"] == "AWS.SimpleQueueService.PurgeQueueInProgress"
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 403
    sqs.tag_queue(QueueUrl=url, Tags={"env": "test", "team": "ml"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "ml", "env": "test"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}


def test_cli_speaks_query(server):
    """The aws CLI from Debian (query protocol) drives SQS end to end."""
    name = unique_name("cli")
    out = json.loads(aws_cli(server.endpoint, "sqs", "create-queue", "--queue-name", name,
                             "--attributes", "VisibilityTimeout=7").stdout)
    url = out["QueueUrl"]
    sent = json.loads(aws_cli(server.endpoint, "sqs", "send-message", "--queue-url", url,
                              "--message-body", "from the cli", "--message-attributes",
                              '{"K":{"DataType":"String","StringValue":"v"}}').stdout)
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"from the cli").hexdigest()
    got = json.loads(aws_cli(server.endpoint, "sqs", "receive-message", "--queue-url", url,
                             "--attribute-names", "All", "--message-attribute-names", "All",
                             "--wait-time-seconds", "1").stdout)["Messages"][0]
    assert got["Body"] == "from the cli" and got["MessageAttributes"]["K"]["StringValue"] == "v"
    attrs = json.loads(aws_cli(server.endpoint, "sqs", "get-queue-attributes", "--queue-url", url,
                               "--attribute-names", "VisibilityTimeout").stdout)
    assert attrs["Attributes"] == {"VisibilityTimeout": "7"}
    aws_cli(server.endpoint, "sqs", "delete-message", "--queue-url", url, "--receipt-handle",
            got["ReceiptHandle"])
    p = aws_cli(server.endpoint, "sqs", "get-queue-url", "--queue-name", name + "-none", check=False)
    assert p.returncode != 0 and "NonExistentQueue" in p.stderr and "Traceback" not in p.stderr


def sdk_calls(endpoint, calls):
    """Runs calls through @aws-sdk/client-sqs (JSON 1.0); their results."""
    proc = subprocess.run(["/usr/bin/node", "sdk_calls.js", "@aws-sdk/client-sqs", endpoint],
                          input=json.dumps(calls), capture_output=True, text=True, cwd=NODE_DIR,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_javascript_sdk_speaks_json(server):
    """The current AWS SDK for JavaScript v3 (JSON 1.0, query-compatible):
    every SQS operation, its MD5 checks of bodies, and errors whose name is
    the error's shape and whose Code is the query protocol's."""
    name = unique_name("js")
    dlq = unique_name("jsdlq")
    url = f"{server.endpoint}/000000000000/{name}"
    dlq_url = f"{server.endpoint}/000000000000/{dlq}"
    attrs = {"K": {"DataType": "String", "StringValue": "v"},
             "B": {"DataType": "Binary", "BinaryValue": {"$base64": base64.b64encode(b"\x01\x02").decode()}}}
    calls = [
        {"command": "CreateQueue", "input": {"QueueName": dlq}},
        {"command": "CreateQueue", "input": {"QueueName": name, "Attributes": {
            "VisibilityTimeout": "0", "RedrivePolicy": json.dumps({
                "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:000000000000:{dlq}",
                "maxReceiveCount": "5"})}, "tags": {"t": "1"}}},
        {"command": "GetQueueUrl", "input": {"QueueName": name}},
        {"command": "ListQueues", "input": {"QueueNamePrefix": name}},
        {"command": "SendMessage", "input": {"QueueUrl": url, "MessageBody": "js body",
                                             "MessageAttributes": attrs}},
        {"command": "SendMessageBatch", "input": {"QueueUrl": url, "Entries": [
            {"Id": "1", "MessageBody": "b1"}, {"Id": "2", "MessageBody": "b2"}]}},
        {"command": "ReceiveMessage", "input": {"QueueUrl": url, "MaxNumberOfMessages": 10,
                                                "WaitTimeSeconds": 1,
                                                "MessageSystemAttributeNames": ["All"],
                                                "MessageAttributeNames": ["All"]}},
        {"command": "GetQueueAttributes", "input": {"QueueUrl": url, "AttributeNames": ["All"]}},
        {"command": "SetQueueAttributes", "input": {"QueueUrl": url,
                                                    "Attributes": {"DelaySeconds": "1"}}},
        {"command": "ListDeadLetterSourceQueues", "input": {"QueueUrl": dlq_url}},
        {"command": "TagQueue", "input": {"QueueUrl": url, "Tags": {"u": "2"}}},
        {"command": "UntagQueue", "input": {"QueueUrl": url, "TagKeys": ["t"]}},
        {"command": "ListQueueTags", "input": {"QueueUrl": url}},
        {"command": "GetQueueUrl", "input": {"QueueName": name + "-none"}},
        {"command": "DeleteMessage", "input": {"QueueUrl": url, "ReceiptHandle": "bad"}},
        {"command": "PurgeQueue", "input": {"QueueUrl": url}},
        {"command": "DeleteQueue", "input": {"QueueUrl": url}},
        {"command": "SendMessage", "input": {"QueueUrl": url, "MessageBody": "x"}},
    ]
    res = sdk_calls(server.endpoint, calls)
    for r, call in zip(res[:13], calls):
        assert "ok" in r, (call, r)
    assert res[1]["ok"]["QueueUrl"] == url
    assert res[3]["ok"]["QueueUrls"] == [url]
    assert res[4]["ok"]["MD5OfMessageAttributes"] == attrs_md5(
        {"K": attrs["K"], "B": {"DataType": "Binary", "BinaryValue": b"\x01\x02"}})
    assert len(res[5]["ok"]["Successful"]) == 2
    msgs = res[6]["ok"]["Messages"]
    assert len(msgs) == 3
    first = next(m for m in msgs if m["Body"] == "js body")
    assert first["MessageAttributes"]["K"] == {"DataType": "String", "StringValue": "v"}
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert res[7]["ok"]["Attributes"]["QueueArn"].endswith(":" + name)
    assert res[9]["ok"]["queueUrls"] == [url]
    assert res[12]["ok"]["Tags"] == {"u": "2"}
    err = res[13]["error"]
    assert err["name"] == "QueueDoesNotExist"
    assert err["code"] == "AWS.SimpleQueueService.NonExistentQueue" and err["status"] == 400
    assert res[14]["error"]["name"] == "ReceiptHandleIsInvalid"
    assert "ok" in res[15] and "ok" in res[16]
    assert res[17]["error"]["name"] == "QueueDoesNotExist"


def test_kill9_keeps_acknowledged_messages(fresh_server):
    """Acknowledged means durable: messages acknowledged before a kill -9
    are all received after the restart, and those deleted before it stay
    deleted."""
    srv = fresh_server().start()
    sqs = client("sqs", srv.endpoint)
    url = sqs.create_queue(QueueName="crash", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    acked, lock, stop = set(), threading.Lock(), threading.Event()

    def sender(n):
        c = client("sqs", srv.endpoint)
        i = 0
        while not stop.is_set():
            entries = [{"Id": f"e{k}", "MessageBody": f"w{n}-{i}-{k}"} for k in range(10)]
            try:
                r = c.send_message_batch(QueueUrl=url, Entries=entries)
            except Exception:  # noqa: BLE001 (the server is gone)
                return
            with lock:
                acked.update(f"w{n}-{i}-{e['Id'][1:]}" for e in r["Successful"])
            i += 1

    # Some messages deleted before the crash.
    deleted = set()
    for i in range(20):
        sqs.send_message(QueueUrl=url, MessageBody=f"gone-{i}")
    for m in receive_all(sqs, url, 20):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        deleted.add(m["Body"])
    assert len(deleted) == 20
    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acked) >= 500, timeout=60, what="500 acknowledged messages")
    srv.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    srv.start()
    sqs = client("sqs", srv.endpoint)
    got = set()
    while True:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)
        if "Messages" not in r:
            break
        got.update(m["Body"] for m in r["Messages"])
    assert acked <= got, f"{len(acked - got)} acknowledged messages lost"
    assert not (got & deleted)
