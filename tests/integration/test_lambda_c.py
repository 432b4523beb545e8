"""Native custom runtimes: a bootstrap written in C on runtimes/c's
sluice_lambda library (the example runtimes/c/examples/echo.c), built here
with the system's cc and deployed as a provided.al2 function through boto3.
Each test states the AWS behaviour it checks. The last one drives the
library against a scripted Runtime API to check its HTTP handling."""

import json
import os
import socket
import subprocess
import threading

import pytest

from conftest import ROLE, ROOT, make_zip, unique_name

LIB_DIR = os.path.join(ROOT, "runtimes", "c")
BUILD_TIMEOUT = 120


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory):
    """The echo example compiled against sluice_lambda, as the function's
    `bootstrap` (dynamically linked against libc only)."""
    out = tmp_path_factory.mktemp("c-runtime") / "bootstrap"
    cmd = ["cc", "-std=c17", "-O2", "-Wall", "-Wextra", "-Werror", "-I", LIB_DIR, "-o", str(out),
           os.path.join(LIB_DIR, "examples", "echo.c"), os.path.join(LIB_DIR, "sluice_lambda.c")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert p.returncode == 0, f"building the bootstrap failed:\n{p.stderr}"
    return out


@pytest.fixture(scope="module")
def bootstrap_asan(tmp_path_factory):
    """The same bootstrap under AddressSanitizer and UBSan, for the tests
    that feed the library hostile answers."""
    out = tmp_path_factory.mktemp("c-runtime-asan") / "bootstrap"
    cmd = ["cc", "-std=c17", "-O1", "-g", "-fno-omit-frame-pointer",
           "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-I", LIB_DIR,
           "-o", str(out), os.path.join(LIB_DIR, "examples", "echo.c"),
           os.path.join(LIB_DIR, "sluice_lambda.c")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert p.returncode == 0, f"building the bootstrap failed:\n{p.stderr}"
    return out


def run_against(bootstrap, api):
    """Runs the bootstrap against a scripted Runtime API until it exits."""
    env = {"AWS_LAMBDA_RUNTIME_API": api.address, "PATH": os.environ.get("PATH", ""),
           "ASAN_OPTIONS": "detect_leaks=1:exitcode=86", "UBSAN_OPTIONS": "exitcode=87"}
    try:
        p = subprocess.run([str(bootstrap)], env=env, capture_output=True, text=True, timeout=30)
        api.thread.join(timeout=5)
    finally:
        api.sock.close()
    assert api.error is None, api.error
    return p


def create_c(lam, bootstrap, **kw):
    """A provided.al2 function whose zip holds the bootstrap (mode 0755)."""
    name = unique_name("c")
    args = dict(FunctionName=name, Runtime="provided.al2", Role=ROLE, Handler="echo",
                Code={"ZipFile": make_zip({"bootstrap": (bootstrap.read_bytes(), 0o755)})})
    args.update(kw)
    cfg = lam.create_function(**args)
    assert cfg["State"] == "Active"
    return name


def invoke(lam, name, payload):
    r = lam.invoke(FunctionName=name, Payload=payload)
    return r, r["Payload"].read()


def test_return_value_and_context(lam, bootstrap):
    """What the handler returns is the Invoke response, byte for byte; the
    handler sees the request id the caller gets, the function's ARN and a
    deadline within the function's Timeout."""
    name = create_c(lam, bootstrap, Timeout=7)
    payload = b'{"hello": "world", "list": [1, 2, 3], "unicode": "\xc3\xa9"}'
    r, body = invoke(lam, name, payload)
    assert r["StatusCode"] == 200 and "FunctionError" not in r
    assert body == payload
    r, body = invoke(lam, name, b'{"context": 1}')
    assert "FunctionError" not in r, body
    ctx = json.loads(body)
    assert ctx["request_id"] == r["ResponseMetadata"]["RequestId"]
    arn = lam.get_function_configuration(FunctionName=name)["FunctionArn"]
    assert ctx["function_arn"] == arn
    assert 0 < ctx["remaining_ms"] <= 7000
    assert ctx["trace_id"].startswith("Root=1-")


def test_handler_error(lam, bootstrap):
    """An error posted to /error is a 200 with X-Amz-Function-Error:
    Unhandled and the runtime's error document as the payload."""
    name = create_c(lam, bootstrap)
    # echo.c copies the raw text between the quotes: the library must
    # escape its backslashes and keep its UTF-8 for the document to parse.
    message = "caf\u00e9 \\\\ done"
    r, body = invoke(lam, name, json.dumps({"fail": "caf\u00e9 \\ done"},
                                           ensure_ascii=False).encode())
    assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled"
    assert json.loads(body) == {"errorType": "EchoError", "errorMessage": message,
                                "stackTrace": []}


def test_warm_reuse(lam, bootstrap):
    """One environment serves consecutive invokes (its static state
    persists), survives a handler error, and a new revision of the
    configuration gets a new environment."""
    name = create_c(lam, bootstrap)
    counts = [json.loads(invoke(lam, name, b'{"count": 1}')[1])["count"] for _ in range(4)]
    assert counts == [1, 2, 3, 4]
    r, _ = invoke(lam, name, b'{"fail": "x"}')
    assert r["FunctionError"] == "Unhandled"
    assert json.loads(invoke(lam, name, b'{"count": 1}')[1])["count"] == 6
    lam.update_function_configuration(FunctionName=name,
                                      Environment={"Variables": {"REVISION": "2"}})
    assert json.loads(invoke(lam, name, b'{"count": 1}')[1])["count"] == 1


def test_large_response(lam, bootstrap):
    """A 1 MiB response goes back to the caller whole."""
    name = create_c(lam, bootstrap)
    size = 1 << 20
    r, body = invoke(lam, name, json.dumps({"size": size}).encode())
    assert "FunctionError" not in r, body[:200]
    assert len(body) == size
    assert json.loads(body) == "x" * (size - 2)


def test_large_event(lam, bootstrap):
    """A 1 MiB event reaches the handler whole (and comes back as the
    response)."""
    name = create_c(lam, bootstrap)
    event = json.dumps({"blob": "y" * (1 << 20)}).encode()
    for _ in range(3):  # warm invokes too: /next is then answered later
        r, body = invoke(lam, name, event)
        assert "FunctionError" not in r, body[:200]
        assert body == event


def test_init_error(lam, bootstrap):
    """A bootstrap that reports /init/error fails the invoke with its error
    document (X-Amz-Function-Error: Unhandled)."""
    name = create_c(lam, bootstrap, Environment={"Variables": {"ECHO_INIT_FAIL": "yes"}})
    r, body = invoke(lam, name, b"{}")
    assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled"
    assert json.loads(body) == {"errorType": "EchoInitError",
                                "errorMessage": "ECHO_INIT_FAIL is set (yes)", "stackTrace": []}


class ScriptedRuntimeApi:
    """A Runtime API that answers with scripted raw bytes, to check the
    client's HTTP handling beyond what Sluice sends. Records each request
    as (connection number, method, path, headers, body)."""

    def __init__(self, answers):
        # Per request: (raw response pieces, close after[, await the next
        # request's head before answering: whether it came is in early]).
        self.answers = list(answers)
        self.requests = []
        self.early = []
        self.connections = 0
        self.error = None
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(20)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.sock.getsockname()[1]

    def serve(self):
        try:
            while self.answers:
                conn, _ = self.sock.accept()
                self.connections += 1
                with conn:
                    conn.settimeout(20)
                    self.serve_connection(conn)
        except Exception as e:  # reported by the test
            self.error = e

    @staticmethod
    def await_head(conn, data, seconds=5):
        """data and what comes until it holds a whole request head, the
        peer closes, or seconds pass."""
        conn.settimeout(seconds)
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        conn.settimeout(20)
        return data

    def serve_connection(self, conn):
        data = b""
        while self.answers:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, data = data.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            method, path, _ = lines[0].split(" ")
            headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
            length = int(headers.get("content-length", "0"))
            while len(data) < length:
                data += conn.recv(65536)
            body, data = data[:length], data[length:]
            self.requests.append((self.connections, method, path, headers, body))
            pieces, close, *rest = self.answers.pop(0)
            if rest and rest[0]:
                data = self.await_head(conn, data)
                self.early.append(b"\r\n\r\n" in data)
            for piece in pieces:
                conn.sendall(piece)
            if close:
                return


def test_client_http_handling(bootstrap_asan):
    """The library reads what HTTP/1.1 allows beyond Sluice's own answers:
    an interim 100, lower-case header names, a chunked event split across
    writes, Connection: close (it reconnects), an HTTP/1.0 answer that
    ends at EOF; it percent-encodes the request id in the path, sends
    Content-Length bodies, reuses its connection, and exits non-zero when
    /next answers 500."""
    event1 = b'{"first": "event, chunked"}'
    next1 = [b"HTTP/1.1 100 Continue\r\n\r\n",
             b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n"
             b"lambda-runtime-aws-request-id: id one/1\r\n"
             b"LAMBDA-RUNTIME-DEADLINE-MS: 4102444800000\r\ncontent-type: application/json\r\n\r\n",
             b"%x;ext=1\r\n%s\r\n" % (10, event1[:10]),
             b"%X\r\n%s\r\n0\r\ntrailer: x\r\n\r\n" % (len(event1) - 10, event1[10:])]
    accepted = b'HTTP/1.1 202 Accepted\r\nContent-Length: 15\r\n\r\n{"status":"OK"}'
    event2 = b'{"fail": "second"}'
    next2 = [b"HTTP/1.1 200 OK\nContent-Length: %d\nLambda-Runtime-Aws-Request-Id: id2\n"
             b"Connection: close\n\n%s" % (len(event2), event2)]
    accepted_10 = b'HTTP/1.0 202 Accepted\r\n\r\n{"status":"OK"}'
    gone = b'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}'
    api = ScriptedRuntimeApi([(next1, False), ([accepted], False), (next2, True),
                              ([accepted_10], True), ([gone], False)])
    p = run_against(bootstrap_asan, api)
    assert p.returncode == 1, p.stderr
    assert "HTTP 500" in p.stderr, p.stderr
    reqs = [(conn, method, path, body) for conn, method, path, _, body in api.requests]
    assert reqs == [
        (1, "GET", "/2018-06-01/runtime/invocation/next", b""),
        (1, "POST", "/2018-06-01/runtime/invocation/id%20one%2F1/response", event1),
        (1, "GET", "/2018-06-01/runtime/invocation/next", b""),
        (2, "POST", "/2018-06-01/runtime/invocation/id2/error",
         b'{"errorMessage":"second","errorType":"EchoError","stackTrace":[]}'),
        (3, "GET", "/2018-06-01/runtime/invocation/next", b""),
    ]
    error_headers = api.requests[3][3]
    assert error_headers["lambda-runtime-function-error-type"] == "EchoError"
    assert error_headers["content-length"] == str(len(api.requests[3][4]))
    assert "transfer-encoding" not in error_headers


def test_client_pipelines_its_next_request(bootstrap_asan):
    """The library sends its result and its next GET /next in one write,
    without waiting for the result's 202 (HTTP/1.1 pipelining), so that a
    Runtime API that has the next event answers both at once; after a
    result answered with Connection: close, the /next goes again on a new
    connection."""
    event = b'{"n": 1}'
    nxt = [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nLambda-Runtime-Aws-Request-Id: r%%d\r\n\r\n%s"
           % (len(event), event)]
    accepted = b'HTTP/1.1 202 Accepted\r\nContent-Length: 15\r\n\r\n{"status":"OK"}'
    closing = (b'HTTP/1.1 202 Accepted\r\nContent-Length: 15\r\nConnection: close\r\n\r\n'
               b'{"status":"OK"}')
    gone = b'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}'
    api = ScriptedRuntimeApi([([nxt[0] % 1], False), ([accepted], False, True),
                              ([nxt[0] % 2], False), ([closing], True, True),
                              ([gone], False)])
    p = run_against(bootstrap_asan, api)
    assert p.returncode == 1 and "HTTP 500" in p.stderr, p.stderr
    reqs = [(conn, method, path) for conn, method, path, _, _ in api.requests]
    assert reqs == [(1, "GET", "/2018-06-01/runtime/invocation/next"),
                    (1, "POST", "/2018-06-01/runtime/invocation/r1/response"),
                    (1, "GET", "/2018-06-01/runtime/invocation/next"),
                    (1, "POST", "/2018-06-01/runtime/invocation/r2/response"),
                    (2, "GET", "/2018-06-01/runtime/invocation/next")]
    # Each /next was there before its result's answer went out.
    assert api.early == [True, True]


def test_error_document_is_json_whatever_the_message(bootstrap_asan):
    """The error document posted to /error stays valid JSON when the
    message holds control characters, backslashes or invalid UTF-8 (which
    becomes U+FFFD), and its type goes in Lambda-Runtime-Function-Error-Type."""
    event = b'{"fail": "a\x01b\xffc\td\\\\e\xc3\xa9"}'  # echo.c passes the raw text on
    nxt = [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nLambda-Runtime-Aws-Request-Id: r1\r\n\r\n%s"
           % (len(event), event)]
    accepted = b'HTTP/1.1 202 Accepted\r\nContent-Length: 15\r\n\r\n{"status":"OK"}'
    gone = b'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}'
    api = ScriptedRuntimeApi([(nxt, False), ([accepted], False), ([gone], False)])
    p = run_against(bootstrap_asan, api)
    assert p.returncode == 1, p.stderr
    _, method, path, headers, body = api.requests[1]
    assert (method, path) == ("POST", "/2018-06-01/runtime/invocation/r1/error")
    assert headers["lambda-runtime-function-error-type"] == "EchoError"
    assert json.loads(body) == {"errorMessage": "a\x01b\ufffdc\td\\\\e\u00e9",
                                "errorType": "EchoError", "stackTrace": []}


MALFORMED = [
    (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
     "two different Content-Lengths"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", "over the"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ntoo short", "connection closed"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "cannot read"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
     "over"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}}\r\n0\r\n\r\n",
     "does not end where its size says"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", "over 64 KiB"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", "Lambda-Runtime-Aws-Request-Id"),
    (b"HTTP/1.1 200 OK\r\n folded: x\r\nContent-Length: 0\r\n\r\n", "folded"),
    (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n{}", "HTTP 403"),
    (b"HTTP/1.1 200 OK\r\nContent-Len", "middle of a response head"),
]


@pytest.mark.parametrize("answer,reason", MALFORMED, ids=[r for _, r in MALFORMED])
def test_client_refuses_malformed_answers(bootstrap_asan, answer, reason):
    """An answer to /next that is not well-formed HTTP, or that the client
    cannot take, ends the loop with exit status 1 and a line on stderr
    saying why: never a crash, a hang or a memory error."""
    api = ScriptedRuntimeApi([([answer], True)])
    p = run_against(bootstrap_asan, api)
    assert p.returncode == 1, p.stderr
    assert "sluice_lambda: " in p.stderr and reason in p.stderr, p.stderr
