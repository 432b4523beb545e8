"""SNS HTTP and HTTPS subscriptions through boto3 and the aws CLI, against
a recording web server run in the test process: the SubscriptionConfirmation
POST and the pending state until it is confirmed (by an unsigned GET of its
SubscribeURL, even under --auth=strict, by ConfirmSubscription from boto3
or the CLI); the Notification POST with AWS's headers and JSON envelope
(Powertools' schema accepts it), filter policies, raw delivery and
MessageStructure json; the DeliveryPolicy's retries of 5xx answers and
unreachable endpoints, then the RedrivePolicy's queue, while a 4xx is
neither retried nor dead-lettered; requestPolicy's Content-Type; the
UnsubscribeConfirmation and resubscribing through its SubscribeURL; HTTPS
to an endpoint whose certificate --sns-https-ca-file trusts, and none to
one it does not; and a kill -9 after which every acknowledged message
still reaches the endpoint. Each test states the AWS behaviour it checks."""

import json
import os
import re
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import (ACCESS_KEY, ROOT, SECRET_KEY, Server, aws_cli, client, client_error,
                      unique_name, wait_until)

NODE_DIR = os.path.join(ROOT, "tests", "node")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
AGENT = "Amazon Simple Notification Service Agent"
TEXT_PLAIN = "text/plain; charset=UTF-8"
CONFIRMATION_KEYS = {"Type", "MessageId", "Token", "TopicArn", "Message", "SubscribeURL",
                     "Timestamp", "SignatureVersion", "Signature", "SigningCertURL"}
NOTIFICATION_KEYS = {"Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp",
                     "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL",
                     "MessageAttributes"}


def retry_policy(retries, delay=1, **extra):
    """A DeliveryPolicy of retries attempts after the first, delay seconds
    apart (--time-scale divides the delay)."""
    return json.dumps(dict({"healthyRetryPolicy": {
        "minDelayTarget": delay, "maxDelayTarget": delay, "numRetries": retries,
        "numNoDelayRetries": 0, "numMinDelayRetries": 0, "numMaxDelayRetries": 0,
        "backoffFunction": "linear"}}, **extra))


# ---- the recording endpoint ----------------------------------------------------------------

@dataclass
class Request:
    """One request the endpoint took, and the status it answered."""
    method: str
    path: str
    headers: dict  # names lowercased
    body: str
    status: int

    @property
    def type(self):
        return self.headers.get("x-amz-sns-message-type")

    @property
    def message_id(self):
        return self.headers.get("x-amz-sns-message-id")

    def json(self):
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # (so that Expect: 100-continue is answered)

    def log_message(self, *args):
        pass

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _record(self):
        body = self._read_body()
        ep = self.server.endpoint
        with ep.cond:
            status = ep.status
            ep.requests.append(Request(self.command, self.path,
                                       {k.lower(): v for k, v in self.headers.items()},
                                       body.decode("utf-8", errors="replace"), status))
            ep.cond.notify_all()
        # Recorded before the answer: when the sender has its status, the
        # test sees the request.
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    do_POST = do_GET = do_PUT = _record


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    endpoint = None
    tls = None

    def finish_request(self, request, client_address):
        if self.tls is None:
            return super().finish_request(request, client_address)
        # The TLS handshake on the connection's own thread, so that a client
        # that refuses the certificate is recorded and blocks nobody.
        request.settimeout(10)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except OSError as e:
            with self.endpoint.cond:
                self.endpoint.tls_errors.append(repr(e))
                self.endpoint.cond.notify_all()
            return None
        try:
            return super().finish_request(conn, client_address)
        finally:
            conn.close()

    def handle_error(self, request, client_address):
        pass  # (a sender that hangs up is no failure of the test's)


class Endpoint:
    """A web server on a free loopback port, in a daemon thread, that
    records every request and answers status (a test may change it)."""

    def __init__(self, tls=None):
        self.status = 200
        self.requests = []
        self.tls_errors = []
        self.cond = threading.Condition()
        self.httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.endpoint = self
        self.httpd.tls = tls
        self.port = self.httpd.server_address[1]
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.closed = False

    def close(self):
        """Stops listening: the port refuses connections from now on."""
        if not self.closed:
            self.closed = True
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=10)

    def matching(self, pred=lambda r: True):
        with self.cond:
            return [r for r in self.requests if pred(r)]

    def summary(self):
        return [(r.method, r.path, r.type, r.message_id, r.status) for r in self.matching()]

    def wait(self, pred=lambda r: True, n=1, timeout=20, what="requests"):
        """The requests pred accepts, once there are n of them."""
        def enough():
            got = self.matching(pred)
            return got if len(got) >= n else None
        try:
            return wait_until(enough, timeout=timeout, what=what)
        except AssertionError:
            raise AssertionError("timed out waiting for %d %s; the endpoint got %s (TLS errors %s)"
                                 % (n, what, self.summary(), self.tls_errors)) from None


@pytest.fixture
def endpoints():
    """endpoints(tls=None) starts a recording endpoint (over TLS with an
    ssl.SSLContext); all are shut down after the test."""
    made = []

    def make(tls=None):
        ep = Endpoint(tls)
        made.append(ep)
        return ep

    yield make
    for ep in made:
        ep.close()


def notification(mid, path=None):
    """A predicate: the Notification POST of message mid (to path)."""
    return lambda r: (r.method == "POST" and r.type == "Notification" and r.message_id == mid
                      and (path is None or r.path == path))


def assert_never(cond, seconds, what):
    """cond() stays false for seconds: for what must not happen within a
    window longer than the one it would happen in."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert not cond(), what
        time.sleep(0.02)
    assert not cond(), what


# ---- SNS and SQS helpers ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("snshttp") / "data")).start()
    yield s
    assert s.stop() == 0, s.logs()


@pytest.fixture(scope="module")
def sns(srv):
    return client("sns", srv.endpoint)


@pytest.fixture(scope="module")
def sqs(srv):
    return client("sqs", srv.endpoint)


def topic(sns):
    return sns.create_topic(Name=unique_name("httptopic"))["TopicArn"]


def queue(sqs):
    url = sqs.create_queue(QueueName=unique_name("httpq"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(sqs, url, want):
    got = []

    def more():
        got.extend(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=1).get("Messages", []))
        return len(got) >= want

    wait_until(more, timeout=30, what="%d messages" % want)
    return got


def empty(sqs, url):
    return sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []


def subscribe(sns, arn, url, protocol="http", **attrs):
    """Subscribes url; answers the subscription's ARN (ReturnSubscriptionArn)."""
    kw = {"Attributes": attrs} if attrs else {}
    return sns.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=url,
                         ReturnSubscriptionArn=True, **kw)["SubscriptionArn"]


def confirmation(ep, path, kind="SubscriptionConfirmation"):
    """The endpoint's (first) POST of type kind at path."""
    return ep.wait(lambda r: r.method == "POST" and r.path == path and r.type == kind,
                   what="%s POST at %s" % (kind, path))[0]


def visit(url):
    """An unsigned GET, as a browser or curl would: (status, body text)."""
    with urllib.request.urlopen(url, timeout=15) as r:
        return r.status, r.read().decode()


def confirmed_arn(xml_text):
    """The SubscriptionArn of a ConfirmSubscriptionResponse."""
    root = ET.fromstring(xml_text)
    assert root.tag.split("}")[-1] == "ConfirmSubscriptionResponse", xml_text
    arns = [e.text for e in root.iter() if e.tag.split("}")[-1] == "SubscriptionArn"]
    assert len(arns) == 1, xml_text
    return arns[0]


def confirmed(sns, arn, ep, path="/hook", protocol="http", **attrs):
    """A confirmed subscription of ep's path (by its SubscribeURL); its ARN."""
    sub = subscribe(sns, arn, ep.url + path, protocol, **attrs)
    status, text = visit(confirmation(ep, path).json()["SubscribeURL"])
    assert status == 200 and confirmed_arn(text) == sub
    return sub


def sub_attrs(sns, sub):
    return sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]


def topic_attrs(sns, arn):
    return sns.get_topic_attributes(TopicArn=arn)["Attributes"]


def listed(sns, arn):
    return [(s["SubscriptionArn"], s["Protocol"], s["Endpoint"])
            for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]]


def check_schema(name, doc):
    """Powertools' (AWS's own) zod schema name accepts doc."""
    proc = subprocess.run(["/usr/bin/node", "check_event.js", name], cwd=NODE_DIR,
                          input=json.dumps(doc), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def metric(srv, family, arn):
    """family's value for topic arn at /_sluice/metrics (None when absent)."""
    with urllib.request.urlopen(srv.endpoint + "/_sluice/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r'^%s\{topic="%s"\} (\d+)$' % (re.escape(family), re.escape(arn)), text, re.M)
    return int(m.group(1)) if m else None


# ---- subscribing and confirming --------------------------------------------------------------

def test_subscribe_endpoint_must_match_protocol(sns, endpoints):
    """Subscribe answers "pending confirmation" for an http endpoint (no
    ARN unless ReturnSubscriptionArn); an endpoint that is not a URL of the
    protocol's scheme is InvalidParameter (400)."""
    ep = endpoints()
    arn = topic(sns)
    https_url = "https://127.0.0.1:%d/hook" % ep.port
    for protocol, bad in [("http", https_url), ("http", "not-a-url"), ("http", ""),
                          ("https", ep.url + "/hook"), ("https", "not-a-url")]:
        e = client_error(sns.subscribe, TopicArn=arn, Protocol=protocol, Endpoint=bad)
        assert e["Error"]["Code"] == "InvalidParameter", (protocol, bad, e)
        assert e["ResponseMetadata"]["HTTPStatusCode"] == 400
    out = sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=ep.url + "/plain")
    assert out["SubscriptionArn"] == "pending confirmation"
    confirmation(ep, "/plain")


def test_subscription_pending_until_confirmed(srv, sns, sqs, endpoints):
    """The endpoint gets a SubscriptionConfirmation POST with AWS's headers
    and body; until it is confirmed the subscription is listed as
    PendingConfirmation, its attributes say PendingConfirmation true, the
    topic counts it in SubscriptionsPending and a publish does not reach
    it. An unsigned GET of the SubscribeURL confirms it (answering the
    ConfirmSubscriptionResponse XML with its ARN), after which it is
    listed by its ARN and gets what is published."""
    ep = endpoints()
    arn = topic(sns)
    url = ep.url + "/hook"
    sub = subscribe(sns, arn, url)
    assert sub.startswith(arn + ":") and UUID.fullmatch(sub[len(arn) + 1:]), sub

    r = confirmation(ep, "/hook")
    h = r.headers
    assert h["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert h["x-amz-sns-topic-arn"] == arn
    assert h["content-type"] == TEXT_PLAIN
    assert h["user-agent"] == AGENT
    body = r.json()
    assert set(body) == CONFIRMATION_KEYS, body
    assert body["Type"] == "SubscriptionConfirmation"
    assert body["MessageId"] == h["x-amz-sns-message-id"] and UUID.fullmatch(body["MessageId"])
    assert body["TopicArn"] == arn and arn in body["Message"]
    assert body["Token"] and body["Signature"] and body["SignatureVersion"] == "1"
    assert TIMESTAMP.fullmatch(body["Timestamp"]), body["Timestamp"]
    assert body["SigningCertURL"].startswith(("https://", "http://"))
    subscribe_url = urllib.parse.urlparse(body["SubscribeURL"])
    assert subscribe_url.scheme == "http" and subscribe_url.port == srv.port, body["SubscribeURL"]

    assert listed(sns, arn) == [("PendingConfirmation", "http", url)]
    a = sub_attrs(sns, sub)
    assert a["PendingConfirmation"] == "true"
    assert a["Protocol"] == "http" and a["Endpoint"] == url and a["TopicArn"] == arn
    t = topic_attrs(sns, arn)
    assert t["SubscriptionsPending"] == "1" and t["SubscriptionsConfirmed"] == "0"

    # A publish while it is pending reaches the topic's confirmed queue only.
    qurl, qarn = queue(sqs)
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn,
                  Attributes={"RawMessageDelivery": "true"})
    early = sns.publish(TopicArn=arn, Message="while pending")["MessageId"]
    assert drain(sqs, qurl, 1)[0]["Body"] == "while pending"
    assert_never(lambda: ep.matching(notification(early)), 0.5, "a delivery while pending")

    status, text = visit(body["SubscribeURL"])
    assert status == 200 and confirmed_arn(text) == sub
    assert sub_attrs(sns, sub)["PendingConfirmation"] == "false"
    assert (sub, "http", url) in listed(sns, arn)
    t = topic_attrs(sns, arn)
    assert t["SubscriptionsPending"] == "0" and t["SubscriptionsConfirmed"] == "2"
    later = sns.publish(TopicArn=arn, Message="confirmed")["MessageId"]
    assert ep.wait(notification(later, "/hook"), what="the notification")[0].json()["Message"] == "confirmed"
    assert ep.matching(notification(early)) == []


def test_confirm_subscription_with_boto3_and_cli(srv, sns, endpoints):
    """ConfirmSubscription with the POSTed token (boto3's, the aws CLI's)
    confirms the subscription and answers its ARN; a wrong token is
    InvalidParameter (400)."""
    ep = endpoints()
    arn = topic(sns)
    a = subscribe(sns, arn, ep.url + "/sdk")
    token = confirmation(ep, "/sdk").json()["Token"]
    e = client_error(sns.confirm_subscription, TopicArn=arn, Token="not-the-token")
    assert e["Error"]["Code"] == "InvalidParameter"
    assert e["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sub_attrs(sns, a)["PendingConfirmation"] == "true"
    assert sns.confirm_subscription(TopicArn=arn, Token=token)["SubscriptionArn"] == a
    assert sub_attrs(sns, a)["PendingConfirmation"] == "false"

    out = json.loads(aws_cli(srv.endpoint, "sns", "subscribe", "--topic-arn", arn, "--protocol",
                             "http", "--notification-endpoint", ep.url + "/cli").stdout)
    assert out["SubscriptionArn"] == "pending confirmation"
    token = confirmation(ep, "/cli").json()["Token"]
    proc = aws_cli(srv.endpoint, "sns", "confirm-subscription", "--topic-arn", arn, "--token",
                   "wrong" + token, check=False)
    assert proc.returncode != 0 and "InvalidParameter" in proc.stderr, proc.stderr
    b = json.loads(aws_cli(srv.endpoint, "sns", "confirm-subscription", "--topic-arn", arn,
                           "--token", token).stdout)["SubscriptionArn"]
    assert b.startswith(arn + ":") and b != a
    assert sorted(listed(sns, arn)) == sorted([(a, "http", ep.url + "/sdk"),
                                               (b, "http", ep.url + "/cli")])
    mid = sns.publish(TopicArn=arn, Message="to both")["MessageId"]
    ep.wait(notification(mid, "/sdk"), what="the /sdk notification")
    ep.wait(notification(mid, "/cli"), what="the /cli notification")


def test_subscribe_url_needs_no_signature_under_strict_auth(fresh_server, endpoints, tmp_path):
    """Under --auth=strict, where an unsigned API request is refused, the
    unsigned GET of a SubscribeURL (a browser's, curl's) still confirms."""
    creds = tmp_path / "credentials"
    creds.write_text("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                     % (ACCESS_KEY, SECRET_KEY))
    s = fresh_server(["--auth", "strict", "--credentials", str(creds)]).start()
    sns = client("sns", s.endpoint)
    ep = endpoints()
    arn = topic(sns)
    sub = subscribe(sns, arn, ep.url + "/hook")
    body = confirmation(ep, "/hook").json()
    with pytest.raises(urllib.error.HTTPError) as e:
        visit(s.endpoint + "/?Action=ListTopics")
    assert e.value.code == 403
    status, text = visit(body["SubscribeURL"])
    assert status == 200 and confirmed_arn(text) == sub
    assert sub_attrs(sns, sub)["PendingConfirmation"] == "false"
    mid = sns.publish(TopicArn=arn, Message="strict")["MessageId"]
    ep.wait(notification(mid), what="the notification")
    assert s.stop() == 0, s.logs()


# ---- notifications ---------------------------------------------------------------------------

def test_notification_envelope(srv, sns, endpoints):
    """A publish reaches a confirmed http subscription as a POST with the
    x-amz-sns-* headers (the message id is the Publish's) and the JSON
    envelope with subject and attributes, which Powertools' schema of that
    envelope accepts; /_sluice/metrics counts the topic's published and
    delivered messages."""
    ep = endpoints()
    arn = topic(sns)
    sub = confirmed(sns, arn, ep)
    mid = sns.publish(TopicArn=arn, Message="hello http", Subject="greeting",
                      MessageAttributes={"name": {"DataType": "String", "StringValue": "v"}}
                      )["MessageId"]
    r = ep.wait(notification(mid), what="the notification")[0]
    assert r.method == "POST" and r.path == "/hook"
    h = r.headers
    assert h["x-amz-sns-message-type"] == "Notification"
    assert h["x-amz-sns-message-id"] == mid
    assert h["x-amz-sns-topic-arn"] == arn
    assert h["x-amz-sns-subscription-arn"] == sub
    assert h["content-type"] == TEXT_PLAIN
    assert h["user-agent"] == AGENT
    body = r.json()
    assert set(body) == NOTIFICATION_KEYS, body
    assert body["Type"] == "Notification" and body["MessageId"] == mid
    assert body["TopicArn"] == arn and body["Subject"] == "greeting"
    assert body["Message"] == "hello http"
    assert body["MessageAttributes"] == {"name": {"Type": "String", "Value": "v"}}
    assert body["SignatureVersion"] == "1" and body["Signature"]
    assert TIMESTAMP.fullmatch(body["Timestamp"]), body["Timestamp"]
    assert sub in urllib.parse.unquote(body["UnsubscribeURL"])
    # The body is the JSON envelope SNS also puts in SQS queues
    # (UnsubscribeURL, SigningCertURL): Powertools' schema of it is
    # SnsSqsNotificationSchema. (Its SnsNotificationSchema is the Sns
    # member of Lambda's SNS event, which spells them UnsubscribeUrl and
    # SigningCertUrl and requires UnsubscribeUrl.)
    check_schema("SnsSqsNotificationSchema", body)
    assert metric(srv, "sluice_sns_published_total", arn) == 1
    wait_until(lambda: (metric(srv, "sluice_sns_delivered_total", arn) or 0) >= 1,
               what="the delivered count")


def test_filter_policy_raw_delivery_and_message_structure(sns, endpoints):
    """A FilterPolicy keeps what it does not match from the endpoint;
    RawMessageDelivery POSTs the message itself with
    x-amz-sns-rawdelivery: true; MessageStructure json sends the http
    entry."""
    ep = endpoints()
    arn = topic(sns)
    filtered = confirmed(sns, arn, ep, "/filtered",
                         FilterPolicy=json.dumps({"kind": ["order"]}))
    raw = confirmed(sns, arn, ep, "/raw")
    sns.set_subscription_attributes(SubscriptionArn=raw, AttributeName="RawMessageDelivery",
                                    AttributeValue="true")
    confirmed(sns, arn, ep, "/plain")
    assert json.loads(sub_attrs(sns, filtered)["FilterPolicy"]) == {"kind": ["order"]}

    def kind(k):
        return {"kind": {"DataType": "String", "StringValue": k}}

    a = sns.publish(TopicArn=arn, Message="a", MessageAttributes=kind("other"))["MessageId"]
    b = sns.publish(TopicArn=arn, Message="b", MessageAttributes=kind("order"))["MessageId"]
    c = sns.publish(TopicArn=arn, MessageStructure="json", MessageAttributes=kind("order"),
                    Message=json.dumps({"default": "dflt", "http": "for http",
                                        "sqs": "for queues"}))["MessageId"]
    d = sns.publish(TopicArn=arn, Message="d", MessageAttributes=kind("other"))["MessageId"]
    e = sns.publish(TopicArn=arn, Message="e", MessageAttributes=kind("order"))["MessageId"]

    def message(mid, path):
        return ep.wait(notification(mid, path), what="%s at %s" % (mid, path))[0]

    for mid, text in [(b, "b"), (c, "for http"), (e, "e")]:
        assert message(mid, "/filtered").json()["Message"] == text
    for mid, text in [(a, "a"), (b, "b"), (c, "for http"), (d, "d"), (e, "e")]:
        r = message(mid, "/raw")
        assert r.body == text
        assert r.headers.get("x-amz-sns-rawdelivery") == "true"
        assert r.headers["x-amz-sns-subscription-arn"] == raw
        env = message(mid, "/plain").json()
        assert env["Type"] == "Notification" and env["Message"] == text
    assert ep.matching(notification(a, "/filtered")) == []
    assert ep.matching(notification(d, "/filtered")) == []


def test_delivery_policy_content_type_and_validation(sns, endpoints):
    """A DeliveryPolicy's requestPolicy.headerContentType is the
    notifications' Content-Type; a policy that is not JSON or whose
    minDelayTarget exceeds its maxDelayTarget is InvalidParameter."""
    ep = endpoints()
    arn = topic(sns)
    sub = confirmed(sns, arn, ep)
    sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="DeliveryPolicy",
        AttributeValue=retry_policy(3, requestPolicy={"headerContentType": "application/json"}))
    mid = sns.publish(TopicArn=arn, Message="typed")["MessageId"]
    r = ep.wait(notification(mid), what="the notification")[0]
    assert r.headers["content-type"] == "application/json"
    assert r.json()["Message"] == "typed"
    # The policy in force, as AWS shows it: the subscription's retries
    # over AWS's defaults.
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    eff = json.loads(attrs["EffectiveDeliveryPolicy"])
    assert eff["healthyRetryPolicy"]["numRetries"] == 3
    assert eff["healthyRetryPolicy"]["backoffFunction"] == "linear"
    assert eff["requestPolicy"] == {"headerContentType": "application/json"}
    bad = json.dumps({"healthyRetryPolicy": {"minDelayTarget": 5, "maxDelayTarget": 1,
                                             "numRetries": 2}})
    for value in [bad, "not json"]:
        e = client_error(sns.set_subscription_attributes, SubscriptionArn=sub,
                         AttributeName="DeliveryPolicy", AttributeValue=value)
        assert e["Error"]["Code"] == "InvalidParameter", (value, e)
        assert e["ResponseMetadata"]["HTTPStatusCode"] == 400


# ---- retries and dead-letter queues (--time-scale 10: 1 s retries become 0.1 s) ---------------

def fast_setup(fresh_server, endpoints, retries=2):
    """A server with --time-scale 10, its clients, a topic, a queue for
    dead letters and a confirmed http subscription retried retries times,
    with that queue as its RedrivePolicy's."""
    s = fresh_server(["--time-scale", "10"]).start()
    sns, sqs = client("sns", s.endpoint), client("sqs", s.endpoint)
    ep = endpoints()
    arn = topic(sns)
    dlq_url, dlq_arn = queue(sqs)
    sub = confirmed(sns, arn, ep)
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="DeliveryPolicy",
                                    AttributeValue=retry_policy(retries))
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RedrivePolicy",
                                    AttributeValue=json.dumps({"deadLetterTargetArn": dlq_arn}))
    return s, sns, sqs, ep, arn, sub, dlq_url


def test_server_errors_retried_then_dead_letter_queue(fresh_server, endpoints):
    """An endpoint answering 500 gets the first attempt and numRetries
    more, the same message id each time; then the envelope goes to the
    RedrivePolicy's queue, and the topic's failed count goes up."""
    s, sns, sqs, ep, arn, sub, dlq_url = fast_setup(fresh_server, endpoints)
    ep.status = 500
    mid = sns.publish(TopicArn=arn, Message="doomed")["MessageId"]
    body = json.loads(drain(sqs, dlq_url, 1)[0]["Body"])
    assert body["Type"] == "Notification" and body["MessageId"] == mid
    assert body["Message"] == "doomed" and body["TopicArn"] == arn
    posts = ep.matching(notification(mid))
    assert len(posts) == 3, ep.summary()
    assert all(p.status == 500 and p.headers["x-amz-sns-subscription-arn"] == sub for p in posts)
    wait_until(lambda: (metric(s, "sluice_sns_failed_total", arn) or 0) >= 1,
               what="the failed count")
    assert s.stop() == 0, s.logs()


def test_client_error_neither_retried_nor_dead_lettered(fresh_server, endpoints):
    """A 4xx answer is final: no retry, and nothing in the dead-letter
    queue."""
    s, sns, sqs, ep, arn, sub, dlq_url = fast_setup(fresh_server, endpoints)
    ep.status = 404
    first = sns.publish(TopicArn=arn, Message="refused")["MessageId"]
    ep.wait(notification(first), what="the first attempt")
    ep.status = 200  # (a retry now would be taken, and seen)
    # Retries would come 0.1 s apart: a window ten times as long.
    assert_never(lambda: len(ep.matching(notification(first))) > 1, 1.0, "a retry of a 404")
    second = sns.publish(TopicArn=arn, Message="taken")["MessageId"]
    ep.wait(notification(second), what="the second message")
    assert len(ep.matching(notification(first))) == 1, ep.summary()
    assert empty(sqs, dlq_url)
    assert s.stop() == 0, s.logs()


def test_unreachable_endpoint_retried_then_dead_letter_queue(fresh_server, endpoints):
    """An endpoint that refuses connections (nothing listens on its port
    any more) fails each attempt; the envelope then goes to the
    dead-letter queue."""
    s, sns, sqs, ep, arn, sub, dlq_url = fast_setup(fresh_server, endpoints)
    ep.close()
    mid = sns.publish(TopicArn=arn, Message="nobody home")["MessageId"]
    body = json.loads(drain(sqs, dlq_url, 1)[0]["Body"])
    assert body["Type"] == "Notification" and body["MessageId"] == mid
    assert body["Message"] == "nobody home"
    assert s.stop() == 0, s.logs()


# ---- unsubscribing ---------------------------------------------------------------------------

def test_unsubscribe_confirmation_and_resubscribe(sns, endpoints):
    """Unsubscribe POSTs an UnsubscribeConfirmation to the endpoint and
    removes the subscription; a GET of its SubscribeURL subscribes the
    endpoint again, confirmed, with the same ARN."""
    ep = endpoints()
    arn = topic(sns)
    url = ep.url + "/hook"
    sub = confirmed(sns, arn, ep)
    sns.unsubscribe(SubscriptionArn=sub)
    r = confirmation(ep, "/hook", "UnsubscribeConfirmation")
    assert r.headers["x-amz-sns-subscription-arn"] == sub
    assert r.headers["x-amz-sns-topic-arn"] == arn
    body = r.json()
    assert body["Type"] == "UnsubscribeConfirmation" and body["TopicArn"] == arn
    assert body["MessageId"] == r.headers["x-amz-sns-message-id"]
    assert body["Token"] and body["SubscribeURL"]
    assert listed(sns, arn) == []
    assert client_error(sns.get_subscription_attributes,
                        SubscriptionArn=sub)["Error"]["Code"] == "NotFound"
    gone = sns.publish(TopicArn=arn, Message="while gone")["MessageId"]

    status, text = visit(body["SubscribeURL"])
    assert status == 200 and confirmed_arn(text) == sub
    assert listed(sns, arn) == [(sub, "http", url)]
    assert sub_attrs(sns, sub)["PendingConfirmation"] == "false"
    back = sns.publish(TopicArn=arn, Message="back")["MessageId"]
    assert ep.wait(notification(back), what="the notification")[0].json()["Message"] == "back"
    assert ep.matching(notification(gone)) == []


def test_unsubscribe_url(srv, sns, endpoints):
    """An unsigned GET of a notification's UnsubscribeURL unsubscribes (an
    UnsubscribeResponse; the endpoint gets its UnsubscribeConfirmation)."""
    ep = endpoints()
    arn = topic(sns)
    sub = confirmed(sns, arn, ep)
    mid = sns.publish(TopicArn=arn, Message="last")["MessageId"]
    unsubscribe_url = ep.wait(notification(mid), what="the notification")[0].json()["UnsubscribeURL"]
    assert urllib.parse.urlparse(unsubscribe_url).port == srv.port, unsubscribe_url
    status, text = visit(unsubscribe_url)
    assert status == 200 and ET.fromstring(text).tag.split("}")[-1] == "UnsubscribeResponse", text
    r = confirmation(ep, "/hook", "UnsubscribeConfirmation")
    assert r.headers["x-amz-sns-subscription-arn"] == sub
    assert listed(sns, arn) == []



def visit_error(url):
    """An unsigned GET that must fail: (status, error code)."""
    try:
        urllib.request.urlopen(url, timeout=15)
    except urllib.error.HTTPError as e:
        root = ET.fromstring(e.read().decode())
        return e.code, [x.text for x in root.iter() if x.tag.split("}")[-1] == "Code"][0]
    raise AssertionError("%s succeeded" % url)


def test_unsigned_unsubscribe_limits(srv, sns, sqs, endpoints):
    """Without a signature only an http(s) subscription can be deleted, and
    not one confirmed by its owner's signed ConfirmSubscription with
    AuthenticateOnUnsubscribe (AuthorizationError, 403); an unsigned
    confirmation cannot ask for that."""
    arn = topic(sns)
    _, qarn = queue(sqs)
    qsub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
    base = srv.endpoint + "/?Action=Unsubscribe&SubscriptionArn="
    assert visit_error(base + qsub) == (403, "AuthorizationError")
    ep = endpoints()
    sub = subscribe(sns, arn, ep.url + "/signed", "http")
    token = confirmation(ep, "/signed").json()["Token"]
    assert sns.confirm_subscription(TopicArn=arn, Token=token,
                                    AuthenticateOnUnsubscribe="true")["SubscriptionArn"] == sub
    assert visit_error(base + sub) == (403, "AuthorizationError")
    # Followed unsigned, the same request of the token changes nothing.
    url = confirmation(ep, "/signed").json()["SubscribeURL"] + "&AuthenticateOnUnsubscribe=true"
    assert confirmed_arn(visit(url)[1]) == sub
    assert visit_error(base + sub) == (403, "AuthorizationError")
    assert sub_attrs(sns, sub)["ConfirmationWasAuthenticated"] == "true"
    loose = confirmed(sns, arn, ep, path="/loose")
    url = None
    for r in ep.matching(lambda r: r.path == "/loose" and r.type == "SubscriptionConfirmation"):
        url = r.json()["SubscribeURL"]
    assert confirmed_arn(visit(url + "&AuthenticateOnUnsubscribe=true")[1]) == loose
    assert sub_attrs(sns, loose)["ConfirmationWasAuthenticated"] == "false"
    status, text = visit(base + loose)
    assert status == 200
    assert sorted(a for a, _, _ in listed(sns, arn)) == sorted([qsub, sub])
    sns.unsubscribe(SubscriptionArn=sub)  # (signed: the owner's)
    assert [a for a, _, _ in listed(sns, arn)] == [qsub]


def test_unsubscribe_ends_retries(fresh_server, endpoints):
    """A message being retried stops when its subscription is deleted: after
    the UnsubscribeConfirmation no more than the post then under way."""
    s, sns, sqs, ep, arn, sub, dlq_url = fast_setup(fresh_server, endpoints, retries=60)
    ep.status = 500
    mid = sns.publish(TopicArn=arn, Message="stop me")["MessageId"]
    ep.wait(notification(mid), n=2, what="two attempts")
    sns.unsubscribe(SubscriptionArn=sub)
    confirmation(ep, "/hook", "UnsubscribeConfirmation")
    seen = len(ep.matching(notification(mid)))
    assert_never(lambda: len(ep.matching(notification(mid))) > seen + 1, 1.5,
                 "retries after the subscription was deleted")
    assert empty(sqs, dlq_url)
    assert s.stop() == 0, s.logs()


# ---- HTTPS -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (cert.pem, key.pem)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def tls_context(certificate):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*certificate)
    return ctx


def test_https_endpoint_trusted_by_ca_file(fresh_server, endpoints, certificate):
    """With --sns-https-ca-file naming the endpoint's certificate, an https
    subscription gets its confirmation and, confirmed, its notifications
    (MessageStructure json's https entry among them) over TLS."""
    s = fresh_server(["--sns-https-ca-file", certificate[0]]).start()
    sns = client("sns", s.endpoint)
    ep = endpoints(tls=tls_context(certificate))
    arn = topic(sns)
    sub = confirmed(sns, arn, ep, "/", protocol="https")
    a = sub_attrs(sns, sub)
    assert a["Protocol"] == "https" and a["Endpoint"] == ep.url + "/"
    mid = sns.publish(TopicArn=arn, Message="secret", Subject="tls")["MessageId"]
    r = ep.wait(notification(mid), what="the notification")[0]
    assert r.headers["x-amz-sns-subscription-arn"] == sub
    body = r.json()
    assert body["Message"] == "secret" and body["Subject"] == "tls"
    check_schema("SnsSqsNotificationSchema", body)
    mid = sns.publish(TopicArn=arn, MessageStructure="json", Message=json.dumps(
        {"default": "dflt", "http": "for http", "https": "for https"}))["MessageId"]
    assert ep.wait(notification(mid), what="the json one")[0].json()["Message"] == "for https"
    assert ep.tls_errors == []
    assert s.stop() == 0, s.logs()


def test_https_endpoint_untrusted_certificate(srv, sns, endpoints, certificate):
    """Without --sns-https-ca-file a self-signed certificate is not
    trusted: the TLS handshake fails, nothing is POSTed and the
    subscription stays pending."""
    ep = endpoints(tls=tls_context(certificate))
    arn = topic(sns)
    sub = subscribe(sns, arn, ep.url + "/", protocol="https")
    wait_until(lambda: ep.tls_errors, what="a TLS handshake the sender gave up")
    assert ep.requests == [], ep.summary()
    assert sub_attrs(sns, sub)["PendingConfirmation"] == "true"
    assert topic_attrs(sns, arn)["SubscriptionsPending"] == "1"


# ---- a crash ---------------------------------------------------------------------------------

def test_kill9_keeps_acknowledged_deliveries(fresh_server, endpoints):
    """Every message Publish acknowledged for an http subscription whose
    endpoint was failing reaches the endpoint after a kill -9 and a
    restart (at least once: repeats are allowed)."""
    s = fresh_server(["--time-scale", "10"]).start()
    sns = client("sns", s.endpoint)
    ep = endpoints()
    arn = topic(sns)
    sub = confirmed(sns, arn, ep)
    # 100 retries 0.1 s apart: ten seconds before an early message's
    # retries would run out, however slowly the twenty publishes go.
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="DeliveryPolicy",
                                    AttributeValue=retry_policy(100))
    ep.status = 503
    acked = {sns.publish(TopicArn=arn, Message="m%d" % i)["MessageId"] for i in range(20)}
    assert len(acked) == 20
    ep.wait(lambda r: r.type == "Notification", what="a failed attempt")
    s.kill9()
    ep.status = 200
    s.start(port=s.port)

    def delivered():
        return {r.message_id for r in ep.matching(lambda r: r.type == "Notification"
                                                  and r.status == 200)}

    try:
        wait_until(lambda: delivered() >= acked, timeout=30, what="every acknowledged message")
    except AssertionError:
        raise AssertionError("never delivered: %s" % sorted(acked - delivered())) from None
    assert delivered() <= acked
    assert s.stop() == 0, s.logs()
