"""Fixtures that start a real `sluice serve` on a free loopback port and
hand out real clients (boto3, the aws CLI) pointed at it."""

import http.client
import io
import itertools
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import zipfile

import boto3
import botocore.config
import botocore.exceptions
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLUICE = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "build", "sluice"))
# The build without sanitizers, for what measures the process (its memory).
SLUICE_PLAIN = os.environ.get("SLUICE_PLAIN_BIN", os.path.join(ROOT, "build", "sluice"))
AWS_CLI = "/usr/bin/aws"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout=20.0, what="condition"):
    """Waits for cond() to be truthy, with a deadline."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def execution_end(sfn, arn, timeout=30):
    """A Step Functions execution's DescribeExecution once it is no longer
    RUNNING."""
    out = {}

    def done():
        out.update(sfn.describe_execution(executionArn=arn))
        return out["status"] != "RUNNING"
    wait_until(done, timeout=timeout, what="the execution's end")
    return out


class Server:
    """One `sluice serve` process with its own data directory."""

    def __init__(self, data_dir, extra_args=(), env=None, binary=None):
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.env = env
        self.binary = binary or SLUICE
        self.port = None
        self.proc = None
        self.log_path = os.path.join(data_dir + ".log")

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, port=None):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        if self.env:
            env.update(self.env)
        for attempt in range(5):
            self.port = port or free_port()
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}",
                 "--data-dir", self.data_dir] + self.extra_args,
                stdout=self.log, stderr=self.log, env=env)
            try:
                wait_until(self.healthy, what="sluice to answer /_sluice/health")
                return self
            except AssertionError:
                # A port free_port() found may be taken before sluice binds
                # it (every bind to port 0 draws from the same range, the
                # environments' Runtime API listeners' among them): another.
                lost = (port is None and self.proc.poll() is not None and
                        f"cannot listen on 127.0.0.1:{self.port}" in self.logs())
                if not lost or attempt == 4:
                    raise
        return self

    def healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"sluice exited with {self.proc.returncode}: {self.logs()}")
        try:
            with urllib.request.urlopen(self.endpoint + "/_sluice/health", timeout=1) as r:
                return json.load(r)["status"] == "ok"
        except OSError:
            return False

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the server; returns its exit status. One that does not
        exit within timeout is killed (no server outlives its test) and the
        wait's TimeoutExpired raised."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self.log.close()
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    data = str(tmp_path_factory.mktemp("sluice") / "data")
    srv = Server(data).start()
    yield srv
    rc = srv.stop()
    assert rc == 0, f"sluice exited with {rc} (sanitizer report?): {srv.logs()}"


@pytest.fixture(scope="session", autouse=True)
def every_minute(tmp_path_factory):
    """An EventBridge rule on cron(* * * * ? *) with a queue target, on a
    server of its own made as the session starts, so that the wait for a
    minute's start (test_events' scheduled-rule test) runs while the other
    tests do: (server, the rule's ARN, the queue's URL). And a Glue crawler
    on the same schedule, "every-minute-crawler" (test_glue_crawler)."""
    s = Server(str(tmp_path_factory.mktemp("minute") / "data")).start()
    ev, sqs = client("events", s.endpoint), client("sqs", s.endpoint)
    s3, glue = client("s3", s.endpoint), client("glue", s.endpoint)
    s3.create_bucket(Bucket="sched")
    s3.put_object(Bucket="sched", Key="ticks/t.jsonl", Body=b'{"tick": 1}\n')
    glue.create_crawler(Name="every-minute-crawler", Role="arn:aws:iam::000000000000:role/c",
                        DatabaseName="scheduled", Schedule="cron(* * * * ? *)",
                        Targets={"S3Targets": [{"Path": "s3://sched/ticks/"}]})
    url = sqs.create_queue(QueueName="every-minute")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    arn = ev.put_rule(Name="every-minute", ScheduleExpression="cron(* * * * ? *)")["RuleArn"]
    ev.put_targets(Rule="every-minute", Targets=[{"Id": "q", "Arn": qarn}])
    yield s, arn, url
    rc = s.stop()
    assert rc == 0, f"sluice exited with {rc} (sanitizer report?): {s.logs()}"


OTHER_KEY, OTHER_SECRET, OTHER_ACCOUNT = "AKIDOTHER", "otherSecret/xyz", "111111111111"


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """A server under --auth=strict that accepts the test keys (account
    000000000000) and OTHER_KEY (account OTHER_ACCOUNT)."""
    d = tmp_path_factory.mktemp("strict")
    creds = d / "credentials"
    creds.write_text(f"""# accepted keys
[default]
aws_access_key_id = {ACCESS_KEY}
aws_secret_access_key = {SECRET_KEY}

[other]
aws_access_key_id = {OTHER_KEY}
aws_secret_access_key = {OTHER_SECRET}
account_id = {OTHER_ACCOUNT}
""")
    srv = Server(str(d / "data"), ["--auth", "strict", "--credentials", str(creds)]).start()
    yield srv
    assert srv.stop() == 0, srv.logs()


@pytest.fixture
def fresh_server(tmp_path):
    """A server of the test's own, for tests that restart or kill it."""
    servers = []

    def make(extra_args=(), env=None, binary=None):
        srv = Server(str(tmp_path / f"data{len(servers)}"), extra_args, env, binary)
        servers.append(srv)
        return srv

    yield make
    # Stopped, not killed: a killed server leaves its environments'
    # cgroups until its data directory's next start, which never comes.
    for srv in servers:
        if srv.proc and srv.proc.poll() is None:
            try:
                srv.stop(timeout=20)
            except subprocess.TimeoutExpired:
                srv.kill9()


def client_config(retries=None, **kw):
    """No retries unless retries says (botocore's retries setting)."""
    return botocore.config.Config(retries=retries or {"max_attempts": 1}, **kw)


def client(service, endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, **kw):
    """A boto3 client of service against endpoint, with the test keys (or
    those given), no retries; kw goes to its botocore Config."""
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                        config=client_config(**kw))


def s3_client(endpoint, addressing="path", **kw):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=kw.pop("access_key", ACCESS_KEY),
        aws_secret_access_key=kw.pop("secret_key", SECRET_KEY),
        config=client_config(s3={"addressing_style": addressing}, **kw))


@pytest.fixture
def s3(server):
    return s3_client(server.endpoint)


_bucket_counter = [0]


@pytest.fixture
def bucket(s3):
    _bucket_counter[0] += 1
    name = f"test-bucket-{os.getpid()}-{_bucket_counter[0]}"
    s3.create_bucket(Bucket=name)
    return name


def raw(server, method, path, body=None, headers=None):
    """One plain HTTP request to server; returns (response, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def cli_env(**extra):
    """The environment the aws CLI runs in: Debian's, the test keys, no
    user configuration; extra adds variables."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PAGER": "",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    env.update(extra)
    return env


def aws_cli(endpoint, *args, check=True, input=None, cwd=None, env=None):
    """Runs the aws CLI from Debian against endpoint (env: variables to
    add to cli_env()); returns the result."""
    env = cli_env(**(env or {}))
    proc = subprocess.run([AWS_CLI, "--endpoint-url", endpoint] + list(args),
                          capture_output=True, text=True, env=env, input=input, cwd=cwd,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def lambda_client(endpoint, **kw):
    """boto3's Lambda client; reads wait 30 s, as invokes may."""
    return boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=client_config(read_timeout=30, **kw))


@pytest.fixture
def lam(server):
    return lambda_client(server.endpoint)


def run_threads(fn, n):
    """Runs fn(0) ... fn(n - 1) at once, each on its own thread; returns the
    exceptions they raised."""
    import threading
    errors = []

    def one(k):
        try:
            fn(k)
        except Exception as e:  # noqa: BLE001 (returned to the test)
            errors.append(e)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


_names = itertools.count(1)


def unique_name(prefix):
    """A name (function, bucket, group) no other test of this run uses."""
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def client_error(call, **kw):
    """Calls; returns botocore's response of the AWS error the call fails with."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    return e.value.response


def py_zip(source, name="app.py"):
    """A Python function's package: one module."""
    return make_zip({name: (source, 0o644)})


def invoke(lam, name, payload=None, **kw):
    """Invokes; returns the response and its payload decoded from JSON."""
    r = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}), **kw)
    body = r["Payload"].read()
    return r, json.loads(body) if body else None


def make_zip(files):
    """A function package from {path: (content, mode)}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, (content, mode) in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            z.writestr(info, content)
    return buf.getvalue()


def logs_client(endpoint):
    return boto3.client("logs", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=client_config())


@pytest.fixture
def logs(server):
    return logs_client(server.endpoint)


def function_log_messages(logs, name):
    """Every message in a function's log group so far ([] before it exists)."""
    try:
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=f"/aws/lambda/{name}")
        return [e["message"] for p in pages for e in p["events"]]
    except logs.exceptions.ResourceNotFoundException:
        return []


def blueprint_output(key, ext):
    """The name a data blueprint gives its output of the object key: the
    key's file name without its extension, '-', the FNV-1a (32-bit) hash
    of the whole key in hex, and ext."""
    h = 2166136261
    for b in key.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    base = key.rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base[1:] else base
    return f"{stem}-{h:08x}.{ext}"
