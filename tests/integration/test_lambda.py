"""Lambda functions through boto3 and the aws CLI: the control plane, and
synchronous invocation of Python and custom (provided) runtimes with AWS's
semantics for errors, timeouts, init failures, warm reuse, concurrency and
logs. Each test states the AWS behaviour it checks."""

import base64
import hashlib
import io
import json
import os
import time
import zipfile

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import (ROLE, aws_cli, client, client_error, invoke, lambda_client, make_zip,
                      py_zip, run_threads, s3_client, unique_name, wait_until)


def server_said(server, text):
    """Whether the server's log (all of it) has text: what it lacks here."""
    with open(server.log_path, errors="replace") as f:
        return text in f.read()


def create_py(lam, source, **kw):
    name = unique_name("py")
    args = dict(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                Code={"ZipFile": py_zip(source)})
    args.update(kw)
    lam.create_function(**args)
    return name


def test_create_get_list_update_delete(lam):
    """CreateFunction returns the configuration (State Active, CodeSha256 the
    base64 SHA-256 of the zip); Get/List/Update/Delete behave as on AWS and the
    SDK waiters are satisfied."""
    import hashlib
    code = py_zip("def handler(e, c):\n    return 1\n")
    name = unique_name("crud")
    cfg = lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                              Handler="app.handler", Code={"ZipFile": code},
                              Environment={"Variables": {"AB": "1"}}, Timeout=5, MemorySize=256,
                              Description="d", Tags={"team": "data"})
    assert cfg["State"] == "Active" and cfg["LastUpdateStatus"] == "Successful"
    assert cfg["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    assert cfg["CodeSize"] == len(code)
    assert cfg["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert cfg["Timeout"] == 5 and cfg["MemorySize"] == 256 and cfg["Version"] == "$LATEST"
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["Environment"] == {"Variables": {"AB": "1"}}
    assert got["Tags"] == {"team": "data"}
    import urllib.error
    import urllib.request
    with urllib.request.urlopen(got["Code"]["Location"]) as r:
        assert r.read() == code
    # Only the signed URL serves it: not the bare path, nor a forged one.
    bare = got["Code"]["Location"].split("?")[0]
    for url in (bare, bare + "?Expires=9999999999&Signature=" + "0" * 64):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url)
        assert e.value.code == 403
    names = [f["FunctionName"] for p in lam.get_paginator("list_functions").paginate()
             for f in p["Functions"]]
    assert name in names
    upd = lam.update_function_configuration(FunctionName=name, Timeout=9)
    assert upd["Timeout"] == 9 and upd["RevisionId"] != cfg["RevisionId"]
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    code2 = py_zip("def handler(e, c):\n    return 2\n")
    upd = lam.update_function_code(FunctionName=name, ZipFile=code2)
    assert upd["CodeSize"] == len(code2)
    assert invoke(lam, name)[1] == 2
    by_arn = lam.get_function_configuration(FunctionName=cfg["FunctionArn"])
    assert by_arn["FunctionName"] == name
    lam.delete_function(FunctionName=name)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function(FunctionName=name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_concurrent_updates_lose_nothing(lam):
    """Configuration changes are read-modify-write in one transaction: many
    concurrent updates of different members all land, a stale RevisionId
    gets 412, and reserved concurrency does not change the RevisionId."""
    name = create_py(lam, "def handler(e, c):\n    return 1\n")
    rev = lam.get_function_configuration(FunctionName=name)["RevisionId"]

    def update(k):
        c = lambda_client(lam.meta.endpoint_url)
        if k % 2:
            c.update_function_configuration(FunctionName=name, Description=f"d{k}")
        else:
            c.add_permission(FunctionName=name, StatementId=f"s{k}",
                             Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")

    assert run_threads(update, 12) == []
    sids = {s["Sid"] for s in json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]}
    assert sids == {f"s{k}" for k in range(0, 12, 2)}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_configuration(FunctionName=name, Timeout=5, RevisionId=rev)
    assert e.value.response["Error"]["Code"] == "PreconditionFailedException"
    before = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    assert lam.get_function_configuration(FunctionName=name)["RevisionId"] == before


def test_code_updates_lose_no_concurrent_change(lam):
    """UpdateFunctionCode reads, changes and writes the configuration in one
    transaction like every other change: permissions added while code
    updates run all survive, and the function runs the last code stored."""
    name = create_py(lam, "def handler(e, c):\n    return 0\n")

    def update(k):
        c = lambda_client(lam.meta.endpoint_url)
        if k % 2:
            c.update_function_code(
                FunctionName=name, ZipFile=py_zip(f"def handler(e, c):\n    return {k}\n"))
        else:
            c.add_permission(FunctionName=name, StatementId=f"s{k}",
                             Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")

    assert run_threads(update, 16) == []
    sids = {s["Sid"] for s in json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]}
    assert sids == {f"s{k}" for k in range(0, 16, 2)}
    sha = lam.get_function_configuration(FunctionName=name)["CodeSha256"]
    answer = invoke(lam, name)[1]
    assert answer in range(1, 16, 2)
    want = base64.b64encode(hashlib.sha256(py_zip(f"def handler(e, c):\n    return {answer}\n"))
                            .digest()).decode()
    assert sha == want


def test_concurrent_reservations_keep_the_unreserved_minimum(fresh_server):
    """Ten functions reserve 100 each at once on a 1,000 account: the check
    of the unreserved minimum (100) is in the write's transaction, so
    exactly nine succeed and the account keeps its 100."""
    import threading
    srv = fresh_server().start()
    lam = lambda_client(srv.endpoint)
    names = []
    for i in range(10):
        names.append(f"reserve-{i}")
        lam.create_function(FunctionName=names[-1], Runtime="python3.11", Role=ROLE,
                            Handler="app.handler",
                            Code={"ZipFile": py_zip("def handler(e, c):\n    return 1\n")})
    results = []

    def reserve(name):
        c = lambda_client(srv.endpoint)
        try:
            c.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=100)
            results.append("ok")
        except botocore.exceptions.ClientError as e:
            results.append(e.response["Error"]["Code"])

    threads = [threading.Thread(target=reserve, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["InvalidParameterValueException"] + ["ok"] * 9
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100


def test_reservations_count_after_a_restart(fresh_server):
    """A function's reserved concurrency still shrinks the unreserved pool
    after a restart, before anything invokes that function: with an account
    limit of 101 and one function reserving 1, the 101st concurrent invoke
    of another function is throttled. Each handler holds its environment
    until the test releases it (a byte on a loopback connection)."""
    import socket
    import threading
    import urllib.error
    import urllib.request
    release = socket.create_server(("127.0.0.1", 0), backlog=200)
    port = release.getsockname()[1]
    srv = fresh_server(["--account-concurrency", "101"]).start()
    lam = lambda_client(srv.endpoint)
    lam.create_function(FunctionName="reserving", Runtime="python3.11", Role=ROLE,
                        Handler="app.handler",
                        Code={"ZipFile": py_zip("def handler(e, c):\n    return 1\n")})
    lam.put_function_concurrency(FunctionName="reserving", ReservedConcurrentExecutions=1)
    lam.create_function(
        FunctionName="holder", Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Timeout=120, MemorySize=128,
        Code={"ZipFile": py_zip(f"import socket\ndef handler(e, c):\n"
                                f"    socket.create_connection(('127.0.0.1', {port})).recv(1)\n"
                                f"    return 1\n")})
    assert srv.stop() == 0
    srv.start()
    url = f"{srv.endpoint}/2015-03-31/functions/holder/invocations"
    results = []

    def one():
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=b"{}"),
                                        timeout=150) as r:
                results.append(r.status)
        except urllib.error.HTTPError as e:
            results.append(json.loads(e.read()).get("Reason"))
    threads = [threading.Thread(target=one) for _ in range(101)]
    held = []
    try:
        for t in threads:
            t.start()
        release.settimeout(120)
        while len(held) < 100:
            held.append(release.accept()[0])
        wait_until(lambda: results, timeout=30, what="the 101st invoke to be answered")
        assert results == ["ConcurrentInvocationLimitExceeded"]
    finally:
        release.settimeout(0.5)
        try:
            while True:
                held.append(release.accept()[0])
        except OSError:
            pass
        for conn in held:
            conn.sendall(b"x")
            conn.close()
        for t in threads:
            t.join(timeout=150)
        release.close()
    assert sorted(results, key=str) == [200] * 100 + ["ConcurrentInvocationLimitExceeded"], \
        results


def test_invoke_sees_every_change(lam):
    """Invoke keeps configurations in memory: each change of a function is
    seen by the very next invoke (environment, code, reserved concurrency,
    deletion), never an older configuration."""
    name = create_py(lam, "import os\ndef handler(e, c):\n    return ['v1', os.environ.get('STAGE')]\n",
                     Environment={"Variables": {"STAGE": "a"}})
    assert invoke(lam, name)[1] == ["v1", "a"]
    for stage in ("b", "c"):
        lam.update_function_configuration(FunctionName=name,
                                          Environment={"Variables": {"STAGE": stage}})
        assert invoke(lam, name)[1] == ["v1", stage]
    lam.update_function_code(
        FunctionName=name,
        ZipFile=py_zip("import os\ndef handler(e, c):\n    return ['v2', os.environ.get('STAGE')]\n"))
    assert invoke(lam, name)[1] == ["v2", "c"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(lam, name)
    assert e.value.response["Error"]["Code"] == "TooManyRequestsException"
    lam.delete_function_concurrency(FunctionName=name)
    assert invoke(lam, name)[1] == ["v2", "c"]
    lam.delete_function(FunctionName=name)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(lam, name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_create_errors(lam):
    """Conflicts, bad values and bad packages get Lambda's error types."""
    name = create_py(lam, "def handler(e, c):\n    return 1\n")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create_py(lam, "x", FunctionName=name)
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    cases = [
        (dict(MemorySize=20000), "ValidationException"),
        (dict(Timeout=901), "ValidationException"),
        (dict(Runtime="cobol85"), "ValidationException"),
        (dict(Runtime="java21"), "InvalidParameterValueException"),
        (dict(Role="not-a-role"), "ValidationException"),
        (dict(Environment={"Variables": {"AWS_REGION": "x"}}), "InvalidParameterValueException"),
        (dict(Environment={"Variables": {"BIG": "x" * 5000}}), "InvalidParameterValueException"),
        (dict(Code={"ZipFile": b"this is not a zip"}), "InvalidParameterValueException"),
        (dict(Code={"ZipFile": make_zip({"../evil.py": ("x", 0o644)})}),
         "InvalidParameterValueException"),
        (dict(Code={"ZipFile": make_zip({"/abs.py": ("x", 0o644)})}),
         "InvalidParameterValueException"),
        (dict(Code={"S3Bucket": "no-such-bucket-lambda", "S3Key": "k"}),
         "InvalidParameterValueException"),
    ]
    for kw, code in cases:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            create_py(lam, "def handler(e, c):\n    return 1\n", **kw)
        assert e.value.response["Error"]["Code"] == code, kw
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(FunctionName=unique_name("nohandler"), Runtime="python3.11", Role=ROLE,
                            Code={"ZipFile": py_zip("x")})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_empty_package_refused(lam):
    """An empty ZipFile, or a zip without a file in it, is AWS's
    InvalidParameterValueException: 'Uploaded file must be a non-empty zip'."""
    for package in (b"", make_zip({})):
        err = client_error(lam.create_function, FunctionName=unique_name("empty"),
                           Runtime="python3.11", Role=ROLE, Handler="app.handler",
                           Code={"ZipFile": package})
        assert err["Error"]["Code"] == "InvalidParameterValueException", err
        assert err["Error"]["Message"] == "Uploaded file must be a non-empty zip"
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_zip_bomb_refused(lam):
    """A package that inflates past 250 MB is refused, not unpacked."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("app.py", "def handler(e, c):\n    return 1\n")
        with z.open("zeros.bin", "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(260):
                f.write(chunk)
    assert len(buf.getvalue()) < 2 * 1024 * 1024
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(FunctionName=unique_name("bomb"), Runtime="python3.11", Role=ROLE,
                            Handler="app.handler", Code={"ZipFile": buf.getvalue()})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_code_from_s3(server, lam):
    """Code can come from Sluice's own S3 (S3Bucket/S3Key)."""
    s3 = s3_client(server.endpoint)
    s3.create_bucket(Bucket="lambda-code")
    s3.put_object(Bucket="lambda-code", Key="fn.zip",
                  Body=py_zip("def handler(e, c):\n    return 'from s3'\n"))
    name = unique_name("s3code")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                        Handler="app.handler", Code={"S3Bucket": "lambda-code", "S3Key": "fn.zip"})
    assert invoke(lam, name)[1] == "from s3"


def test_python_return_value_and_context(lam):
    """A Python handler gets the event and a context with AWS's attributes;
    its return value is the response."""
    name = create_py(lam, """
import os
def handler(event, context):
    return {
        "event": event,
        "function_name": context.function_name,
        "version": context.function_version,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "request_id": context.aws_request_id,
        "group": context.log_group_name,
        "stream": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "env_region": os.environ["AWS_REGION"],
        "env_name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
        "exec_env": os.environ["AWS_EXECUTION_ENV"],
        "handler": os.environ["_HANDLER"],
        "task_root_cwd": os.getcwd() == os.environ["LAMBDA_TASK_ROOT"],
        "user": os.environ.get("USER_VAR"),
    }
""", Timeout=7, MemorySize=512, Environment={"Variables": {"USER_VAR": "yes"}})
    r, out = invoke(lam, name, {"k": [1, 2]})
    assert r["StatusCode"] == 200 and "FunctionError" not in r
    assert r["ExecutedVersion"] == "$LATEST"
    assert out["event"] == {"k": [1, 2]}
    assert out["function_name"] == name and out["version"] == "$LATEST"
    assert out["arn"].endswith(f":function:{name}")
    assert out["memory"] == "512"
    assert out["request_id"] == r["ResponseMetadata"]["RequestId"]
    assert out["group"] == f"/aws/lambda/{name}"
    assert out["stream"].startswith(time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()))
    assert 0 < out["remaining"] <= 7000
    assert out["env_region"] == "us-east-1" and out["env_name"] == name
    assert out["exec_env"] == "AWS_Lambda_python3.11" and out["handler"] == "app.handler"
    assert out["task_root_cwd"] and out["user"] == "yes"


def test_unhandled_error(lam):
    """An exception is a 200 with X-Amz-Function-Error: Unhandled and the
    error JSON (errorMessage, errorType, stackTrace) as the payload."""
    name = create_py(lam, "def handler(e, c):\n    raise KeyError('missing')\n")
    r, out = invoke(lam, name)
    assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "KeyError" and out["errorMessage"] == "'missing'"
    assert any("app.py" in line for line in out["stackTrace"])
    assert not any("bootstrap" in line for line in out["stackTrace"])


def test_timeout(lam):
    """A handler running past Timeout is stopped: Sandbox.Timedout, and the
    next invoke starts a fresh environment."""
    name = create_py(lam, """
import time
STATE = {"n": 0}
def handler(event, context):
    STATE["n"] += 1
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return STATE["n"]
""", Timeout=1)
    start = time.monotonic()
    r, out = invoke(lam, name, {"sleep": 5})
    assert time.monotonic() - start < 4
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.0" in out["errorMessage"]
    assert invoke(lam, name)[1] == 1  # a new environment: state starts over


def test_init_failure(lam):
    """A module that cannot be imported fails the invoke with the runtime's
    init error (Runtime.ImportModuleError); a missing handler function with
    Runtime.HandlerNotFound."""
    name = create_py(lam, "import no_such_module_anywhere\ndef handler(e, c):\n    return 1\n")
    r, out = invoke(lam, name)
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module_anywhere" in out["errorMessage"]
    name = create_py(lam, "def other(e, c):\n    return 1\n")
    r, out = invoke(lam, name)
    assert out["errorType"] == "Runtime.HandlerNotFound"


def test_runtime_exit(lam):
    """A runtime that dies during an invoke is Runtime.ExitError, with how
    it ended as AWS words it: an exit status (137 too, which is no signal)
    or the signal; the next invoke gets a new environment."""
    name = create_py(lam, """
import os, signal
def handler(event, context):
    if event.get("die") is not None:
        os._exit(event["die"])
    if event.get("signal"):
        os.kill(os.getpid(), signal.SIGTERM)
    return "alive"
""")
    for payload, why in (({"die": 3}, "exit status 3"), ({"die": 137}, "exit status 137"),
                         ({"signal": True}, "signal: terminated")):
        r, out = invoke(lam, name, payload)
        assert r["FunctionError"] == "Unhandled" and out["errorType"] == "Runtime.ExitError"
        assert out["errorMessage"].endswith("Runtime exited with error: " + why), out
        assert invoke(lam, name)[1] == "alive"


def test_warm_reuse(lam):
    """Module-level state survives between invokes of a warm environment."""
    name = create_py(lam, "N = 0\ndef handler(e, c):\n    global N\n    N += 1\n    return N\n")
    assert [invoke(lam, name)[1] for _ in range(4)] == [1, 2, 3, 4]


def test_reserved_concurrency_zero_throttles(lam):
    """Reserved concurrency 0 makes every synchronous invoke a 429
    TooManyRequestsException with Reason
    ReservedFunctionConcurrentInvocationLimitExceeded."""
    name = create_py(lam, "def handler(e, c):\n    return 1\n")
    assert lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)[
        "ReservedConcurrentExecutions"] == 0
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 0
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(lam, name)
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err["Error"]["Code"] == "TooManyRequestsException"
    assert err["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName=name)
    assert invoke(lam, name)[1] == 1
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=950)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    settings = lam.get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000


def test_python_logging_path_and_builtins(lam):
    """The Python runtime configures logging as Lambda does (root handler on
    stdout with level, time and request id; WARNING by default) even though
    it sets it up only when the handler imports logging; sys.path starts at
    the task root and reaches the machine's site-packages; exit() exists;
    a handler that imports json itself gets the same event and answer."""
    name = create_py(lam, """
import json
import logging
import sys
logging.getLogger().setLevel(logging.INFO)
def handler(event, context):
    logging.getLogger("app").info("info %s", event["n"])
    logging.debug("not shown")
    print("printed")
    return {"n": event["n"], "path0": sys.path[0],
            "site": any(p.endswith(("dist-packages", "site-packages")) for p in sys.path),
            "exit": callable(exit) and callable(quit),
            "dumped": json.dumps({"x": 1.5})}
""")
    r, out = invoke(lam, name, {"n": 7}, LogType="Tail")
    assert out == {"n": 7, "path0": "/var/task", "site": True, "exit": True,
                   "dumped": '{"x": 1.5}'}
    rid = r["ResponseMetadata"]["RequestId"]
    lines = base64.b64decode(r["LogResult"]).decode().splitlines()
    info = [l for l in lines if l.startswith("[INFO]")]
    assert len(info) == 1, lines
    level, stamp, req, msg = info[0].split("\t")
    assert (req, msg) == (rid, "info 7")
    assert time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S") and stamp.endswith("Z")
    assert "printed" in lines and not any("not shown" in l for l in lines)


def test_log_tail(lam):
    """LogType Tail returns the invocation's log: START, what the handler
    printed, END and REPORT in AWS's exact layout."""
    name = create_py(lam, "def handler(e, c):\n    print('line one')\n    print('line two')\n"
                          "    return 0\n")
    r, _ = invoke(lam, name, LogType="Tail")
    log = base64.b64decode(r["LogResult"]).decode()
    rid = r["ResponseMetadata"]["RequestId"]
    lines = log.splitlines()
    assert lines[0] == f"START RequestId: {rid} Version: $LATEST"
    assert "line one" in lines and "line two" in lines
    assert f"END RequestId: {rid}" in lines
    report = next(l for l in lines if l.startswith("REPORT"))
    fields = report.split("\t")
    assert fields[0] == f"REPORT RequestId: {rid}"
    assert fields[1].startswith("Duration: ") and fields[1].endswith(" ms")
    assert fields[2].startswith("Billed Duration: ")
    assert fields[3] == "Memory Size: 128 MB"
    assert fields[4].startswith("Max Memory Used: ")
    assert fields[5].startswith("Init Duration: ")  # first invoke: a cold start
    r, _ = invoke(lam, name, LogType="Tail")
    report = next(l for l in base64.b64decode(r["LogResult"]).decode().splitlines()
                  if l.startswith("REPORT"))
    assert "Init Duration" not in report  # warm


def test_invoke_bad_payloads(server, lam):
    """An invalid JSON payload is InvalidRequestContentException; one over
    6 MB is 413 RequestEntityTooLargeException; DryRun is 204."""
    name = create_py(lam, "def handler(e, c):\n    return 1\n")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName=name, Payload=b"{not json")
    assert e.value.response["Error"]["Code"] == "InvalidRequestContentException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName=name, Payload=json.dumps({"x": "y" * (6 * 1024 * 1024)}))
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert e.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert lam.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName="no-such-function-here")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert server.healthy()


def test_handler_writes_to_s3_without_endpoint(server, lam):
    """A handler using boto3 with no endpoint argument reaches Sluice (the
    environment's AWS_ENDPOINT_URL, honoured even by Debian's older boto3)."""
    s3 = s3_client(server.endpoint)
    s3.create_bucket(Bucket="from-lambda")
    name = create_py(lam, """
import boto3
def handler(event, context):
    boto3.client("s3").put_object(Bucket="from-lambda", Key="hello.txt", Body=b"written by a function")
    return "ok"
""", Timeout=30)
    r, out = invoke(lam, name)
    assert out == "ok", out
    assert s3.get_object(Bucket="from-lambda", Key="hello.txt")["Body"].read() == \
        b"written by a function"


BASH_BOOTSTRAP = r"""#!/bin/bash
# The custom runtime of AWS's tutorial: bash and curl.
set -euo pipefail
source "$LAMBDA_TASK_ROOT/$(echo $_HANDLER | cut -d. -f1).sh"
while true; do
  HEADERS="$(mktemp)"
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EVENT_DATA")
  curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" -d "$RESPONSE" >/dev/null
done
"""

BASH_FUNCTION = r"""function handler () {
  EVENT_DATA=$1
  echo "$EVENT_DATA" 1>&2;
  RESPONSE="Echoing request: '$EVENT_DATA'"
  echo $RESPONSE
}
"""


def test_bash_curl_custom_runtime(lam):
    """An unmodified bash + curl custom runtime (AWS's tutorial) works on
    provided.al2: bootstrap in the zip, the Runtime API by curl."""
    name = unique_name("bash")
    lam.create_function(FunctionName=name, Runtime="provided.al2", Role=ROLE,
                        Handler="function.handler",
                        Code={"ZipFile": make_zip({"bootstrap": (BASH_BOOTSTRAP, 0o755),
                                                   "function.sh": (BASH_FUNCTION, 0o755)})})
    for i in range(3):
        r = lam.invoke(FunctionName=name, Payload=json.dumps({"n": i}))
        assert "FunctionError" not in r
        assert r["Payload"].read().decode() == f"Echoing request: '{{\"n\": {i}}}'"


def test_provided_without_bootstrap(lam):
    """provided.al2023 without an executable bootstrap fails the invoke with
    Runtime.InvalidEntrypoint."""
    name = unique_name("noboot")
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE,
                        Handler="x", Code={"ZipFile": make_zip({"readme": ("x", 0o644)})})
    r, out = invoke(lam, name)
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.InvalidEntrypoint"


def test_aws_cli_invoke(server, lam, tmp_path):
    """`aws lambda invoke` writes the response to a file and prints the
    status; `aws lambda get-function` shows the configuration."""
    name = create_py(lam, "def handler(e, c):\n    return {'cli': e['x']}\n")
    out = tmp_path / "out.json"
    p = aws_cli(server.endpoint, "lambda", "invoke", "--function-name", name,
                "--cli-binary-format", "raw-in-base64-out", "--payload", '{"x": 42}', str(out))
    assert json.loads(p.stdout)["StatusCode"] == 200
    assert json.loads(out.read_text()) == {"cli": 42}
    p = aws_cli(server.endpoint, "lambda", "get-function-configuration", "--function-name", name)
    assert json.loads(p.stdout)["Runtime"] == "python3.11"


def test_root_template_follows_host_files(fresh_server):
    """A host file bound into every root, replaced on the host (by a rename,
    as resolvers replace /etc/resolv.conf), shows replaced in the next new
    environment: the template of roots is built again."""
    path = next((p for p in ("/etc/host.conf", "/etc/mime.types")
                 if os.path.isfile(p) and not os.path.islink(p)), None)
    if path is None:
        pytest.skip("neither /etc/host.conf nor /etc/mime.types is here")
    srv = fresh_server().start()
    if server_said(srv, "no template of roots here"):
        pytest.skip("this kernel cannot make a template of roots (Sluice says so in its log)")
    lam = lambda_client(srv.endpoint)
    name = create_py(lam, f"def handler(e, c):\n    return open({path!r}).read()\n")
    with open(path, "rb") as f:
        original = f.read()
    stat = os.stat(path)
    r, before = invoke(lam, name)
    assert "FunctionError" not in r and before == original.decode(), before

    def replace(data):
        tmp = path + ".sluice-test"
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, stat.st_mode & 0o7777)
        os.chown(tmp, stat.st_uid, stat.st_gid)
        os.rename(tmp, path)
    marker = b"\n# sluice test: a replaced file\n"
    try:
        replace(original + marker)
        # A new environment (a changed configuration ends the old ones).
        lam.update_function_configuration(FunctionName=name,
                                          Environment={"Variables": {"VERSION": "2"}})
        lam.get_waiter("function_updated").wait(FunctionName=name)
        r, after = invoke(lam, name)
    finally:
        replace(original)
    assert "FunctionError" not in r and after == (original + marker).decode(), after
    assert server_said(srv, f"built the template of roots again: {path} changed")


@pytest.mark.parametrize("template", [True, False], ids=["template", "built"])
def test_environment_is_isolated(request, template):
    """A function runs as an unprivileged user, in its own PID namespace as
    the child of PID 1 (sluice-init), in a minimal root: Sluice's data
    directory is out of reach, /var/task and its user files are read-only,
    /tmp is writable, mounting is refused, and the mount table names no host
    path. Both ways to the root: a copy of the template, and (with
    --no-root-template) one built in the child."""
    server = (request.getfixturevalue("server") if template
              else request.getfixturevalue("fresh_server")(["--no-root-template"]).start())
    if template and server_said(server, "no template of roots here"):
        pytest.skip("this kernel cannot make a template of roots (Sluice says so in its log)")
    lam = lambda_client(server.endpoint)
    name = create_py(lam, """
import ctypes, errno, os
def handler(event, context):
    data_dir = event["data_dir"]
    out = {"uid": os.getuid(), "pid": os.getpid(), "ppid": os.getppid(),
           "init": open("/proc/1/cmdline").read().split(chr(0))[0],
           "data_visible": os.path.exists(data_dir) or os.path.exists(data_dir + "/sluice.db"),
           "root": sorted(os.listdir("/")), "mountinfo": open("/proc/self/mountinfo").read()}
    for what, path in (("task", "/var/task/x"), ("passwd", "/etc/passwd"), ("group", "/etc/group")):
        try:
            open(path, "a").close()
            out[what + "_writable"] = True
        except OSError:
            out[what + "_writable"] = False
    out["passwd"] = open("/etc/passwd").read()
    with open("/tmp/scratch", "w") as f:
        f.write("ok")
    out["tmp_ok"] = open("/tmp/scratch").read() == "ok"
    libc = ctypes.CDLL(None, use_errno=True)
    rc = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
    out["mount_errno"] = ctypes.get_errno() if rc else 0
    return out
""")
    r, out = invoke(lam, name, {"data_dir": server.data_dir})
    assert "FunctionError" not in r, out
    assert out["uid"] != 0 and (out["pid"], out["ppid"], out["init"]) == (2, 1, "sluice-init")
    assert not out["data_visible"]
    assert "work" not in out["root"] and "root" not in out["root"]
    assert not out["task_writable"] and out["tmp_ok"]
    assert not out["passwd_writable"] and not out["group_writable"]
    assert f"sbx_user1051:x:{out['uid']}:{out['uid']}:" in out["passwd"], out["passwd"]
    assert out["mount_errno"] == errno_EPERM()
    # No host path of Sluice's shows in its mount table: the code and the
    # bootstraps are overlays (a bind mount would show its directory's
    # path on its disk), and nothing names the data directory or the
    # source tree (/tmp, where this machine has no loop devices, is a
    # directory of the data directory: that line is left out then).
    from conftest import ROOT
    mounts = {l.split()[4]: l for l in out["mountinfo"].splitlines()}
    for where in ("/var/task", "/var/runtime"):
        assert " - overlay " in mounts[where], mounts[where]
    if " - ext4 /dev/loop" not in mounts["/tmp"]:
        del mounts["/tmp"]
    for line in mounts.values():
        root = line.split()[3]
        for host in (os.path.realpath(server.data_dir), os.path.realpath(ROOT)):
            assert host not in line, (host, line)
        assert "/lambda/" not in root and not root.endswith("/runtimes"), line


VICTIM = """
import os
def handler(event, context):
    import pwd
    return {"api": os.environ["AWS_LAMBDA_RUNTIME_API"], "uid": os.getuid(),
            "user": pwd.getpwuid(os.getuid()).pw_name,
            "users": sorted(p.pw_name for p in pwd.getpwall()),
            "secret": event.get("secret")}
"""

# Scans every port listening on loopback (the host's network is shared, so
# /proc/net/tcp lists them all) and, on each but its own Runtime API, asks
# for the next event and posts a forged answer: what each port said back.
ATTACKER = """
import os, socket
ASK = (b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n",
       b"POST /2018-06-01/runtime/invocation/forged/response HTTP/1.1\\r\\nHost: x\\r\\n"
       b"Content-Length: 8\\r\\n\\r\\n\\"forged\\"")
def said(port, req):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    got = b""
    try:
        s.sendall(req)
        while b"\\r\\n\\r\\n" not in got:
            chunk = s.recv(4096)
            if not chunk:
                return ["closed", got.decode("latin-1")]
            got += chunk
        return ["answered", got.decode("latin-1")]
    except socket.timeout:
        return ["waiting", got.decode("latin-1")]
    except OSError as e:
        return ["closed", str(e)]
    finally:
        s.close()
def handler(event, context):
    own = int(os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)[1])
    ports = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            ip, port = cols[1].split(":")
            if cols[3] == "0A" and ip == "0100007F":
                ports.add(int(port, 16))
    ports.discard(own)
    return {"uid": os.getuid(), "scan": {str(p): [said(p, r) for r in ASK] for p in sorted(ports)}}
"""


def test_runtime_api_answers_only_its_environment(server, lam):
    """Environments share the host's network, so a function can find every
    other environment's Runtime API port. Each environment runs as a user
    of its own and its Runtime API closes any connection from a socket of
    another user: a function scanning loopback for Runtime APIs gets no
    event and cannot post an answer, nor can a process on the host, while
    the victim's callers get the victim's answers."""
    if server_said(server, "no sock_diag for TCP here"):
        pytest.skip("no sock_diag here: the check is off (the server's log says so)")
    victim = create_py(lam, VICTIM)
    attacker = create_py(lam, ATTACKER, Timeout=120)
    first = invoke(lam, victim, {"secret": "s0"})[1]
    port = int(first["api"].rsplit(":", 1)[1])

    # The host (this test, as root) cannot either: closed (or reset), unanswered.
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        assert s.recv(4096) == b"", "the Runtime API answered a process of the host"
    except ConnectionResetError:
        pass
    s.close()

    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as pool:
        scanning = pool.submit(invoke, lam, attacker)
        victims = [pool.submit(invoke, lam, victim, {"secret": f"s{k}"}) for k in range(1, 4)]
        for k, f in enumerate(victims, 1):
            r, out = f.result()
            assert "FunctionError" not in r, out
            assert out["secret"] == f"s{k}", out
        r, scanned = scanning.result()
    assert "FunctionError" not in r, scanned
    scan = scanned["scan"]
    assert str(port) in scan, "the attacker did not find the victim's port"
    assert [state for state, _ in scan[str(port)]] == ["closed", "closed"], scan[str(port)]
    assert not any("HTTP/" in text for _, text in scan[str(port)]), scan[str(port)]
    for p, replies in scan.items():
        for state, text in replies:
            assert "lambda-runtime-aws-request-id" not in text.lower(), (p, text)

    # Two environments: two users, neither Sluice's nor nobody.
    uids = {first["uid"], scanned["uid"]}
    assert len(uids) == 2 and not uids & {0, 65534}, uids
    # Named as on AWS, in a user list of its own (not the host's).
    assert first["user"] == "sbx_user1051", first
    assert first["users"] == ["nobody", "root", "sbx_user1051"], first


SESSION_USER = """
import boto3, os
def handler(event, context):
    s3 = boto3.client("s3")
    s3.put_object(Bucket=event["bucket"], Key="from-handler", Body=b"hi")
    body = s3.get_object(Bucket=event["bucket"], Key="from-handler")["Body"].read().decode()
    me = boto3.client("sts").get_caller_identity()
    return {"arn": me["Arn"], "account": me["Account"], "user_id": me["UserId"], "body": body,
            "key": os.environ["AWS_ACCESS_KEY_ID"], "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
            "token": os.environ["AWS_SESSION_TOKEN"]}
"""


def session_client(service, endpoint, out, token=None):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=out["key"], aws_secret_access_key=out["secret"],
                        aws_session_token=token or out["token"],
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def test_handler_calls_under_strict_auth(strict):
    """Each environment gets session credentials of its own (key, secret and
    token) for its function's role, which --auth=strict accepts: a handler's
    boto3 calls work, and the caller is the role's session named after the
    function, as on AWS. A forged token is refused, and so is the session
    once its environment has ended (revoked)."""
    lam = client("lambda", strict.endpoint)
    s3 = s3_client(strict.endpoint)
    bucket = unique_name("creds")
    s3.create_bucket(Bucket=bucket)
    name = create_py(lam, SESSION_USER, Timeout=30,
                     Role="arn:aws:iam::000000000000:role/service/lambda-role")
    r, out = invoke(lam, name, {"bucket": bucket})
    assert "FunctionError" not in r, out
    assert out["body"] == "hi"
    assert out["account"] == "000000000000"
    assert out["arn"] == f"arn:aws:sts::000000000000:assumed-role/lambda-role/{name}"
    assert out["user_id"].startswith("AROA") and out["user_id"].endswith(":" + name)
    assert out["key"].startswith("ASIA") and len(out["key"]) == 20

    # Good wherever it is used while the environment lives...
    live = session_client("s3", strict.endpoint, out)
    assert live.get_object(Bucket=bucket, Key="from-handler")["Body"].read() == b"hi"
    # ...but not with another token: S3's error, and STS's (query protocol).
    forged = out["token"][:-4] + ("AAAA" if not out["token"].endswith("AAAA") else "BBBB")
    for service, call, code, status in (
            ("s3", lambda c: c.list_objects_v2(Bucket=bucket), "InvalidToken", 400),
            ("sts", lambda c: c.get_caller_identity(), "InvalidClientTokenId", 403)):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call(session_client(service, strict.endpoint, out, forged))
        assert e.value.response["Error"]["Code"] == code, e.value.response
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status

    # A new configuration ends the idle environment, and its session with it.
    lam.update_function_configuration(FunctionName=name, Timeout=31)

    def revoked():
        try:
            live.list_objects_v2(Bucket=bucket)
            return False
        except botocore.exceptions.ClientError as e:
            return e.response["Error"]["Code"] == "InvalidAccessKeyId"
    wait_until(revoked, what="the ended environment's session to be refused")
    r, again = invoke(lam, name, {"bucket": bucket})
    assert "FunctionError" not in r, again
    assert again["key"] != out["key"]


TMP_FILLER = """
import errno, os
def handler(event, context):
    out = {"empty": os.listdir("/tmp") == [], "written": 0, "errno": 0}
    st = os.statvfs("/tmp")
    out["size"] = st.f_blocks * st.f_frsize
    out["mount"] = next(l.split() for l in open("/proc/self/mountinfo") if l.split()[4] == "/tmp")
    block = b"x" * (1 << 20)
    try:
        for k in range(8):  # files of 100 MB: each below the file size limit
            with open(f"/tmp/f{k}", "wb") as f:
                for _ in range(100):
                    f.write(block)
                    out["written"] += len(block)
                f.flush()
                os.fsync(f.fileno())
    except OSError as e:
        out["errno"] = e.errno
    return out
"""


def test_tmp_holds_at_most_ephemeral_storage(server, lam):
    """/tmp is a filesystem of its own of EphemeralStorage (512 MB here):
    writing past it fails with ENOSPC inside the function, the image behind
    it on the host's disk is no bigger, it starts empty in each new
    environment, and its mount shows no host path."""
    if server_said(server, "no loop devices or no mke2fs here"):
        pytest.skip("no loop devices here: /tmp is a directory (the server's log says so)")
    name = create_py(lam, TMP_FILLER, Timeout=120, MemorySize=1769)
    r, out = invoke(lam, name)
    assert "FunctionError" not in r, out
    assert out["empty"], out
    assert 500 << 20 <= out["size"] <= 512 << 20, out
    assert out["errno"] == 28, out  # ENOSPC
    assert out["written"] <= 512 << 20, out
    root, source = out["mount"][3], out["mount"][-2]
    assert root == "/" and source.startswith("/dev/loop"), out["mount"]
    # The host's side: the loop device is 512 MB, its image deleted.
    dev = os.path.basename(source)
    with open(f"/sys/block/{dev}/size") as f:
        assert int(f.read()) * 512 == 512 << 20
    # A new environment (a new configuration) starts with an empty /tmp.
    lam.update_function_configuration(FunctionName=name, Description="again")
    wait_until(lambda: lam.get_function_configuration(FunctionName=name)
               ["LastUpdateStatus"] == "Successful", what="the update")
    r, again = invoke(lam, name)
    assert again["empty"], again
    # Another size: its filesystem is made when the function is configured.
    big = create_py(lam, """
import os
def handler(event, context):
    st = os.statvfs("/tmp")
    return st.f_blocks * st.f_frsize
""", EphemeralStorage={"Size": 1024})
    assert 1000 << 20 <= invoke(lam, big)[1] <= 1024 << 20


def errno_EPERM():
    import errno
    return errno.EPERM


def test_out_of_memory(lam):
    """A function that allocates past MemorySize is killed: the invoke fails
    with Runtime.OutOfMemory and REPORT shows the memory used at the limit;
    the next invoke gets a new environment."""
    name = create_py(lam, """
def handler(event, context):
    if event.get("hog"):
        blocks = []
        while True:
            blocks.append(bytearray(16 * 1024 * 1024))
    return "fine"
""", MemorySize=128, Timeout=20)
    r, out = invoke(lam, name, {"hog": True}, LogType="Tail")
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.OutOfMemory", out
    assert "signal: killed" in out["errorMessage"]
    report = next(l for l in base64.b64decode(r["LogResult"]).decode().splitlines()
                  if l.startswith("REPORT"))
    used = int(report.split("Max Memory Used: ")[1].split(" MB")[0])
    assert used >= 120
    assert invoke(lam, name)[1] == "fine"


OOM_FAST = """
import time
def handler(event, context):
    blocks, t = [], time.monotonic()
    while len(blocks) < 25:  # 400 MB, by 16 MB
        blocks.append(bytearray(16 << 20))
        print("allocated", len(blocks) * 16, "MB at", round((time.monotonic() - t) * 1000), "ms",
              flush=True)
    return "not killed"
"""


def test_out_of_memory_fails_fast(lam):
    """No swap inside the environment's limit: a 256 MB function allocating
    400 MB is killed as soon as it reaches its limit and reported as
    Runtime.OutOfMemory, not left to thrash (it took 42 s with swap). The
    allocation itself runs at the function's share of a CPU (256/1,769 of
    a core, as on AWS), so what is bounded is the time from the last block
    that fit to the end of the invocation."""
    name = create_py(lam, OOM_FAST, MemorySize=256, Timeout=60)
    r, out = invoke(lam, name, LogType="Tail")
    assert out["errorType"] == "Runtime.OutOfMemory", out
    log = base64.b64decode(r["LogResult"]).decode()
    fitted = [l.split() for l in log.splitlines() if l.startswith("allocated")]
    assert fitted and int(fitted[-1][1]) >= 192, log  # most of the 256 MB was used
    report = next(l for l in log.splitlines() if l.startswith("REPORT"))
    duration = float(report.split("Duration: ")[1].split(" ms")[0])
    assert duration - int(fitted[-1][4]) < 2000, log


ORPHANS = """
import os, subprocess
def counts():
    procs = zombies = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    zombies += f.read().rsplit(")", 1)[1].split()[0] == "Z"
                procs += 1
            except OSError:
                pass
    return {"procs": procs, "zombies": zombies}
def handler(e, c):
    if e.get("orphans"):
        subprocess.run("for i in 1 2 3 4 5; do (sleep 0.2 &); done", shell=True, check=True)
    return counts()
"""


def test_orphans_are_reaped(lam):
    """Processes orphaned inside an environment (a shell's `(sleep 1 &)`)
    are handed to PID 1, sluice-init, which waits for them: once they end,
    none stays a zombie, and only sluice-init and the runtime are left."""
    name = create_py(lam, ORPHANS)
    assert invoke(lam, name, {"orphans": True})[0]["StatusCode"] == 200

    def settled():
        out = invoke(lam, name)[1]
        return out == {"procs": 2, "zombies": 0} and out
    wait_until(settled, timeout=20, what="the orphans to end and be reaped")


def test_sluice_init_starts_a_bootstrap_itself():
    """sluice-init's other mode, `sluice-init [--status-fd=N] BOOTSTRAP
    [ARG...]` (Sluice's environments use --runtime-pid): it starts the
    bootstrap, ends with its exit status or 128 plus its signal, writes the
    wait status to N, and refuses --runtime-pid without a PID."""
    import struct
    import subprocess
    from conftest import SLUICE
    init = os.path.join(os.path.dirname(SLUICE), "sluice-init")
    for script, code, status in (("exit 3", 3, 3 << 8), ("kill -TERM $$", 128 + 15, 15)):
        r, w = os.pipe()
        p = subprocess.run([init, f"--status-fd={w}", "/bin/sh", "-c", script],
                           pass_fds=(w,), timeout=20)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            got = f.read()
        assert p.returncode == code, (script, p.returncode)
        assert struct.unpack("i", got) == (status,), (script, got)
    for bad in ("--runtime-pid=0", "--runtime-pid=x", "--runtime-pid="):
        p = subprocess.run([init, bad], capture_output=True, timeout=20)
        assert p.returncode == 2 and b"usage" in p.stderr, (bad, p)


FORK_BOMB = """
import os
def handler(e, c):
    n = 0
    try:
        while n < 5000:
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", "600"])
            n += 1
    except OSError as err:
        return {"forked": n, "errno": err.errno}
    return {"forked": n, "errno": 0}
"""

FORKER = """
import os
def handler(e, c):
    for _ in range(50):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    return "forked 50"
"""


def test_fork_bomb_stays_in_its_environment(fresh_server):
    """A function that forks all it can is stopped by its own environment's
    1,024 processes (the pids controller), not by a count shared with every
    other environment (all run as one user): another function still
    forks meanwhile."""
    srv = fresh_server().start()
    lam = client("lambda", srv.endpoint, read_timeout=150)
    bomb = create_py(lam, FORK_BOMB, Timeout=120, MemorySize=1769)  # (a whole core)
    forker = create_py(lam, FORKER, Timeout=60, MemorySize=1769)
    out = invoke(lam, bomb)[1]
    if out["forked"] >= 5000:
        pytest.skip("environments get no pids limit here")
    assert 1000 <= out["forked"] < 1024 and out["errno"] == 11, out  # EAGAIN
    assert invoke(lam, forker)[1] == "forked 50"


def test_metrics(server, lam):
    """GET /_sluice/metrics reports each function's Invocations, Errors,
    Throttles, Duration and ConcurrentExecutions in Prometheus text format."""
    import urllib.request
    name = create_py(lam, """
def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("no")
    return 1
""")
    for payload in ({}, {}, {"fail": True}):
        invoke(lam, name, payload)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    once = boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="AKID", aws_secret_access_key="SECRET",
                        config=botocore.config.Config(retries={"total_max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError):
        invoke(once, name)
    with urllib.request.urlopen(server.endpoint + "/_sluice/metrics") as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    label = f'{{function="{name}",account="000000000000",region="us-east-1"}}'

    def value(metric, lbl=label):
        line = next(l for l in text.splitlines() if l.startswith(metric + lbl))
        return float(line.rsplit(" ", 1)[1])
    assert value("sluice_lambda_invocations_total") == 3
    assert value("sluice_lambda_errors_total") == 1
    assert value("sluice_lambda_throttles_total") == 1
    assert value("sluice_lambda_duration_milliseconds_count") == 3
    assert value("sluice_lambda_duration_milliseconds_sum") > 0
    p50 = value("sluice_lambda_duration_milliseconds",
                label[:-1] + ',quantile="0.5"}')
    assert value("sluice_lambda_duration_min_milliseconds") <= p50 <= \
        value("sluice_lambda_duration_max_milliseconds")
    assert value("sluice_lambda_concurrent_executions") == 0
    assert value("sluice_lambda_concurrent_executions_max") >= 1
    assert "# TYPE sluice_lambda_invocations_total counter" in text


def test_sluice_invoke_cli(server, lam):
    """`sluice invoke NAME JSON` prints the response (and the log tail on
    stderr); a function error or an API error exits non-zero."""
    import subprocess
    from conftest import SLUICE
    name = create_py(lam, "def handler(e, c):\n    print('cli saw', e)\n"
                          "    if e.get('fail'):\n        raise ValueError('bad')\n    return {'got': e}\n")
    p = subprocess.run([SLUICE, "invoke", "--endpoint", server.endpoint, name, '{"n": 7}'],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"got": {"n": 7}}
    assert "cli saw {'n': 7}" in p.stderr and "REPORT RequestId:" in p.stderr
    p = subprocess.run([SLUICE, "invoke", "--endpoint", server.endpoint, name, '{"fail": true}'],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and json.loads(p.stdout)["errorType"] == "ValueError"
    p = subprocess.run([SLUICE, "invoke", "--endpoint", server.endpoint, "no-such-fn"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "ResourceNotFoundException" in p.stdout


def test_sluice_logs_cli(server, lam):
    """`sluice logs NAME` prints the function's log events from CloudWatch
    Logs: its own lines and the platform's START/END/REPORT."""
    import subprocess
    from conftest import SLUICE, wait_until
    name = create_py(lam, "def handler(e, c):\n    print('marker-for-cli-logs')\n    return 0\n")
    rid = invoke(lam, name)[0]["ResponseMetadata"]["RequestId"]

    def logged():
        p = subprocess.run([SLUICE, "logs", "--endpoint", server.endpoint, name],
                           capture_output=True, text=True, timeout=60)
        return p.returncode == 0 and f"REPORT RequestId: {rid}" in p.stdout and p.stdout
    out = wait_until(logged, timeout=20, what="the invocation's log in sluice logs")
    lines = out.splitlines()
    assert any(l.endswith(" marker-for-cli-logs") for l in lines)
    assert any(l.endswith(f"START RequestId: {rid} Version: $LATEST") for l in lines)
    assert "" not in lines  # one line per event, no blank ones


def test_reserved_concurrency_caps_parallel_invokes(server, lam):
    """With reserved concurrency 2, four invokes at once run at most two
    environments: two answer, the others are throttled with 429."""
    import threading
    name = create_py(lam, "import time\ndef handler(e, c):\n    time.sleep(1.5)\n    return 1\n",
                     Timeout=10)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    results = []

    def one():
        c = boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1",
                         aws_access_key_id="AKID", aws_secret_access_key="SECRET",
                         config=botocore.config.Config(retries={"total_max_attempts": 1},
                                                       read_timeout=30))
        try:
            c.invoke(FunctionName=name, Payload=b"{}")
            results.append("ok")
        except botocore.exceptions.ClientError as e:
            results.append(e.response.get("Reason"))
    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results, key=str) == ["ReservedFunctionConcurrentInvocationLimitExceeded"] * 2 + \
        ["ok"] * 2, results
    # Once the two are done, the reservation admits the next invoke.
    assert invoke(lam, name)[1] == 1


def cgroup_group_dirs(data_dir):
    """This data directory's cgroup directories, sluice/<group>/ under each
    v1 controller Sluice uses (the group: SHA-256 of the environments'
    directory, its first 8 bytes in hex)."""
    import hashlib
    where = os.path.realpath(os.path.join(data_dir, "lambda", "tmp"))
    group = hashlib.sha256(where.encode()).hexdigest()[:16]
    dirs = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctls, path = line.rstrip("\n").split(":", 2)
            for ctl in ("memory", "cpu", "pids"):
                if ctl in ctls.split(","):
                    dirs.append(f"/sys/fs/cgroup/{ctl}{'' if path == '/' else path}/sluice/{group}")
    return dirs


def test_environments_are_born_in_their_own_cgroups(server, lam):
    """Each environment runs in cgroups of its own under this data
    directory's group, its memory limited to its function's MemorySize
    (written for each one: 256 MB, then 1024), at most 1,024 pids, and a CPU
    quota of MemorySize/1,769 of a core once init is done. With cgroup v1
    the environment is cloned by a thread of Sluice waiting in its cgroups:
    that thread moves on to the next environment's, leaving the environment
    alone in them."""
    src = "def handler(e, c):\n    return open('/proc/self/cgroup').read()\n"
    small = create_py(lam, src, MemorySize=256)
    big = create_py(lam, src, MemorySize=1024)
    group = hashlib.sha256(os.path.realpath(
        os.path.join(server.data_dir, "lambda", "tmp")).encode()).hexdigest()[:16]
    seen = set()
    for name, mb in ((small, 256), (big, 1024)):
        lines = invoke(lam, name)[1].splitlines()
        v1 = {}
        for line in lines:
            _, ctls, path = line.split(":", 2)
            for ctl in ctls.split(","):
                if ctl in ("memory", "cpu", "pids"):
                    v1[ctl] = f"/sys/fs/cgroup/{ctl}{path}"
        if not v1:
            pytest.skip("environments get no v1 cgroups here")
        assert set(v1) == {"memory", "cpu", "pids"}, lines
        for ctl, d in v1.items():
            assert f"/sluice/{group}/" in d, d
            assert d not in seen  # its own
            seen.add(d)

        def read(ctl, f):
            with open(os.path.join(v1[ctl], f)) as fh:
                return fh.read().split()
        assert int(read("memory", "memory.limit_in_bytes")[0]) == mb << 20
        assert read("pids", "pids.max") == ["1024"]
        period = int(read("cpu", "cpu.cfs_period_us")[0])
        assert int(read("cpu", "cpu.cfs_quota_us")[0]) == period * mb // 1769
        # The environment's processes alone (sluice-init and the runtime):
        # the spawner thread has moved on.
        sluice_tids = set(os.listdir(f"/proc/{server.proc.pid}/task"))
        wait_until(lambda: not sluice_tids & set(read("memory", "tasks")),
                   what="the spawner thread to leave the environment's cgroup")
        for ctl in v1:
            procs = read(ctl, "cgroup.procs")
            assert len(procs) == 2 and str(server.proc.pid) not in procs, (ctl, procs)


def test_environments_that_end_at_once_leave_no_cgroups(fresh_server):
    """An environment whose runtime exits as it starts ends while the thread
    that cloned it may still be in its cgroups: they are removed once that
    thread has moved on, leaving only the ones it waits in."""
    srv = fresh_server().start()
    lam = lambda_client(srv.endpoint)
    name = unique_name("exit")
    lam.create_function(FunctionName=name, Runtime="provided.al2", Role=ROLE, Handler="x",
                        Code={"ZipFile": make_zip({"bootstrap": ("#!/bin/sh\nexit 3\n", 0o755)})})
    dirs = [d for d in cgroup_group_dirs(srv.data_dir) if os.path.isdir(d)]
    if not dirs:
        pytest.skip("no v1 cgroups here")
    for _ in range(6):
        r, out = invoke(lam, name)
        assert out["errorType"] == "Runtime.ExitError", out

    def cgroups():
        return [e for d in dirs for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))]
    wait_until(lambda: len(cgroups()) <= len(dirs), what="the environments' cgroups to go")
    assert srv.stop() == 0
    assert not [d for d in dirs if os.path.exists(d)]


def loop_devices_of(data_dir):
    """The loop devices whose (deleted) image lies under data_dir."""
    found = []
    for dev in os.listdir("/sys/block"):
        try:
            with open(f"/sys/block/{dev}/loop/backing_file") as f:
                if f.read().startswith(os.path.realpath(data_dir) + "/"):
                    found.append(dev)
        except OSError:
            pass
    return found


def test_tmp_filesystems_go_with_a_killed_server(fresh_server):
    """The /tmp filesystems are mounted in no namespace of the host's (each
    is attached in its environment's own): none shows in the host's mount
    table, and a kill -9 of the server ends them and frees their loop
    devices."""
    srv = fresh_server().start()
    lam = lambda_client(srv.endpoint)
    name = create_py(lam, "def handler(e, c):\n    return 1\n")
    assert invoke(lam, name)[1] == 1
    if not loop_devices_of(srv.data_dir):
        pytest.skip("no loop devices here: /tmp is a directory")
    with open("/proc/self/mountinfo") as f:
        assert os.path.realpath(srv.data_dir) not in f.read()
    srv.kill9()
    wait_until(lambda: not loop_devices_of(srv.data_dir), what="the loop devices to be freed")


def test_cgroups_of_a_killed_server_are_removed(fresh_server):
    """Environments' cgroups outlive a kill -9 of the server; its next start
    removes them (and makes the spawner's for the next environment), and a
    clean stop leaves nothing."""
    srv = fresh_server().start()
    lam = lambda_client(srv.endpoint)
    name = create_py(lam, "def handler(e, c):\n    return 1\n")
    assert invoke(lam, name)[1] == 1
    dirs = [d for d in cgroup_group_dirs(srv.data_dir) if os.path.isdir(d)]
    if not dirs:
        pytest.skip("no v1 cgroups here")
    assert all(os.listdir(d) for d in dirs)
    srv.kill9()
    left = {d: [e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))] for d in dirs}
    assert all(left.values()), left  # what a crash leaves
    srv.start()
    for d in dirs:
        assert not set(left[d]) & set(os.listdir(d)), d
    assert invoke(lambda_client(srv.endpoint), name)[1] == 1
    assert srv.stop() == 0
    assert not [d for d in dirs if os.path.exists(d)]


def test_idle_environment_is_reaped(fresh_server):
    """An environment idle past --idle-reap ends; the next invoke is a cold
    start again (REPORT carries Init Duration)."""
    srv = fresh_server(["--idle-reap", "1"]).start()
    lam = lambda_client(srv.endpoint)
    name = create_py(lam, "def handler(e, c):\n    return 1\n")

    def report(r):
        return next(l for l in base64.b64decode(r["LogResult"]).decode().splitlines()
                    if l.startswith("REPORT"))
    assert "Init Duration" in report(invoke(lam, name, LogType="Tail")[0])
    assert "Init Duration" not in report(invoke(lam, name, LogType="Tail")[0])

    # An environment lives in its own directory under the data directory
    # (beside vol/, the /tmp filesystems, and roots/, the template of
    # roots): watch it go (invoking would keep the environment warm).
    scratch = os.path.join(srv.data_dir, "lambda", "tmp")

    def envs():
        return [d for d in os.listdir(scratch) if d not in ("vol", "roots")]
    assert envs()
    wait_until(lambda: not envs(), timeout=20, what="the idle environment to be reaped")
    assert "Init Duration" in report(invoke(lam, name, LogType="Tail")[0])
    assert srv.stop() == 0


def test_python_version_fallback_warns(lam):
    """A python3.X that is not installed runs on the machine's python3 and
    the function's log says so."""
    import shutil
    missing = next(v for v in ("python3.13", "python3.12", "python3.10", "python3.9")
                   if not shutil.which(v, path="/usr/bin"))
    name = create_py(lam, "import sys\ndef handler(e, c):\n    return sys.version\n",
                     Runtime=missing)
    r, out = invoke(lam, name, LogType="Tail")
    assert "FunctionError" not in r
    log = base64.b64decode(r["LogResult"]).decode()
    assert f"WARNING: {missing} is not installed here" in log


def test_python_bootstrap_bytecode_is_built():
    """The build compiles the Python runtime into a hash-checked .pyc for the
    machine's python3, matching the source, so that cold starts load it
    instead of compiling it; and the handler runs under that module."""
    import importlib.util
    import sys
    from conftest import ROOT
    src_path = os.path.join(ROOT, "runtimes", "python", "_sluice_bootstrap.py")
    pyc = importlib.util.cache_from_source(src_path)
    with open(src_path, "rb") as f:
        source = f.read()
    with open(pyc, "rb") as f:
        head = f.read(16)
    assert head[:4] == importlib.util.MAGIC_NUMBER, f"{pyc} is not for {sys.version}"
    assert int.from_bytes(head[4:8], "little") == 0b11  # hash-based, checked
    assert head[8:16] == importlib.util.source_hash(source)


def test_python_runtime_module_runs_the_handler(lam):
    """bootstrap.py is a launcher: the runtime itself is the imported module
    _sluice_bootstrap (whose bytecode the build compiled)."""
    name = create_py(lam, "import sys\ndef handler(e, c):\n"
                          "    m = sys.modules['_sluice_bootstrap']\n"
                          "    return [m.__file__, sys.modules['__main__'].__file__]\n")
    r, out = invoke(lam, name)
    assert "FunctionError" not in r
    module, script = out
    assert module.endswith("/python/_sluice_bootstrap.py")
    assert script.endswith("/python/bootstrap.py")


def test_shutdown_with_a_running_invocation(fresh_server):
    """SIGTERM while a function runs: the invocation gets the grace period,
    then ends, and the server exits 0 promptly instead of waiting for it."""
    import signal
    import threading
    import urllib.request
    srv = fresh_server(["--shutdown-grace", "1"]).start()
    lam = lambda_client(srv.endpoint)
    name = create_py(lam, "import time\ndef handler(e, c):\n    time.sleep(60)\n    return 1\n",
                     Timeout=120)
    done = []

    def call():
        try:
            r = lam.invoke(FunctionName=name, Payload=b"{}")
            done.append(json.loads(r["Payload"].read()))
        except Exception as e:  # the connection may be closed instead
            done.append(repr(e))
    t = threading.Thread(target=call)
    t.start()

    def running():
        with urllib.request.urlopen(srv.endpoint + "/_sluice/metrics") as r:
            return any(l.startswith("sluice_lambda_concurrent_executions{") and
                       f'"{name}"' in l and l.endswith(" 1") for l in r.read().decode().splitlines())
    wait_until(running, timeout=30, what="the invocation to be running")
    start = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=20) == 0
    assert time.monotonic() - start < 10
    t.join(timeout=20)
    assert done and ("Sluice is shutting down" in str(done[0]) or "Error" in str(done[0]))


STUCK_BOOTSTRAP = r"""#!/bin/bash
# Answers one event, then never asks for another.
H="$(mktemp)"
curl -sS -D "$H" -o /dev/null "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next"
ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$H" | tr -d '[:space:]' | cut -d: -f2)
curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$ID/response" -d '"first"' >/dev/null
exec sleep 3600
"""


def test_runtime_that_stops_asking(lam):
    """A runtime that answers and then never calls /next again does not hold
    the next invoke forever: it times out (Sandbox.Timedout) and the
    environment is replaced."""
    name = unique_name("stuck")
    lam.create_function(FunctionName=name, Runtime="provided.al2", Role=ROLE, Handler="x",
                        Timeout=2, Code={"ZipFile": make_zip({"bootstrap": (STUCK_BOOTSTRAP, 0o755)})})
    assert invoke(lam, name)[1] == "first"
    start = time.monotonic()
    r, out = invoke(lam, name)
    assert time.monotonic() - start < 10
    assert r["FunctionError"] == "Unhandled" and out["errorType"] == "Sandbox.Timedout"
    assert invoke(lam, name)[1] == "first"  # a fresh environment


def test_functions_survive_kill9(fresh_server):
    """Acknowledged means durable: functions created (and updated) before a
    kill -9 are there after a restart, code and configuration, and run."""
    srv = fresh_server().start()
    lam = lambda_client(srv.endpoint)
    names = []
    for i in range(5):
        name = create_py(lam, f"def handler(e, c):\n    return {i}\n")
        names.append(name)
    lam.update_function_configuration(FunctionName=names[0], Timeout=11)
    lam.put_function_concurrency(FunctionName=names[1], ReservedConcurrentExecutions=7)
    srv.kill9()
    srv.start()
    lam = lambda_client(srv.endpoint)
    for i, name in enumerate(names):
        assert invoke(lam, name)[1] == i
    assert lam.get_function_configuration(FunctionName=names[0])["Timeout"] == 11
    assert lam.get_function_concurrency(FunctionName=names[1])["ReservedConcurrentExecutions"] == 7
    assert srv.stop() == 0


TWO_NEXT_BOOTSTRAP = r"""#!/bin/bash
# Asks for the next event twice at once: one request may wait, the other
# is refused; the event goes to the one that waits.
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  A="$(mktemp)"; B="$(mktemp)"
  curl -sS -D "$A.h" -o "$A" "$API/invocation/next" & P1=$!
  curl -sS -D "$B.h" -o "$B" "$API/invocation/next" & P2=$!
  wait $P1 $P2
  for F in "$A" "$B"; do
    if grep -q "200 OK" "$F.h"; then
      ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$F.h" | tr -d '[:space:]' | cut -d: -f2)
      OTHER=$([ "$F" = "$A" ] && echo "$B.h" || echo "$A.h")
      CODE=$(head -1 "$OTHER" | cut -d' ' -f2)
      curl -sS "$API/invocation/$ID/response" -d "\"other got $CODE\"" >/dev/null
    fi
  done
done
"""


def test_two_waiting_next_requests(lam):
    """A runtime that asks for /next twice at once gets one answer and one
    403, and ending its environment afterwards is clean (no stuck request)."""
    name = unique_name("twonext")
    lam.create_function(FunctionName=name, Runtime="provided.al2", Role=ROLE, Handler="x",
                        Timeout=5,
                        Code={"ZipFile": make_zip({"bootstrap": (TWO_NEXT_BOOTSTRAP, 0o755)})})
    r, out = invoke(lam, name)
    assert "FunctionError" not in r and out == "other got 403"
    # A new revision ends the old environment, which has a /next waiting.
    lam.update_function_configuration(FunctionName=name, Timeout=6)
    r, out = invoke(lam, name)
    assert out == "other got 403"
