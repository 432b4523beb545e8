"""The Runtime API server (2018-06-01) as a runtime sees it: its status
codes and error types, the HTTP/1.1 a client may use (keep-alive, chunked
bodies, Expect: 100-continue, percent-encoded request ids, several
connections), and the response size limit. The function is a provided.al2
runtime written here as a Python script speaking raw HTTP on sockets, so
that every byte on the wire is the test's choice."""

import json
import os

from conftest import ROLE, make_zip

# The runtime: it answers the first event with what its probes of the API
# got back, the second with a body over AWS's 6 MB limit, and the third by
# echoing it over a fresh connection per request, as curl-based runtimes do.
BOOTSTRAP = r'''#!/usr/bin/python3
import json, os, socket

HOST, PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
BASE = "/2018-06-01/runtime"


def connect():
    return socket.create_connection((HOST, int(PORT)))


def read_response(s, buf=b""):
    """(status, headers, body, rest) of one response on s."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return None, {}, b"", b""
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    n = int(headers.get("content-length", "0"))
    while len(buf) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return status, headers, buf[:n], buf[n:]


def request(s, method, path, body=b"", extra=""):
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len(body)}\r\n"
              f"{extra}\r\n".encode() + body)
    return read_response(s)


def error_type(body):
    try:
        return json.loads(body).get("errorType")
    except ValueError:
        return None


def closed(s):
    s.settimeout(5)
    try:
        return s.recv(1) == b""
    except OSError:
        return True


def next_event(s):
    status, h, body, _ = request(s, "GET", BASE + "/invocation/next")
    assert status == 200, status
    return h["lambda-runtime-aws-request-id"], body


a = connect()
rid, event = next_event(a)
probes = {}
b = connect()
st, _, body, _ = request(b, "GET", BASE + "/nope")
probes["unknown_path"] = [st, error_type(body)]
st, _, body, _ = request(b, "POST", BASE + "/invocation/not-the-id/response", b"{}")
probes["wrong_id"] = [st, error_type(body)]
st, _, body, _ = request(b, "GET", BASE + "/invocation/next")
probes["next_while_busy"] = [st, error_type(body)]
st, _, body, _ = request(b, "POST", BASE + "/init/error", b"{}",
                         "Lambda-Runtime-Function-Error-Type: X\r\n")
probes["init_error_after_init"] = [st, error_type(body)]
st, _, body, _ = request(b, "PUT", BASE + "/invocation/next")
probes["wrong_method"] = [st, error_type(body)]
c = connect()
c.sendall(b"NONSENSE\r\n\r\n")
st, _, _, _ = read_response(c)
probes["malformed"] = [st, closed(c)]
d = connect()
d.sendall(b"GET " + BASE.encode() + b"/invocation/next HTTP/1.1\r\nContent-Length: 1\r\n"
          b"Transfer-Encoding: chunked\r\n\r\n")
st, _, _, _ = read_response(d)
probes["both_framings"] = [st, closed(d)]

# The answer: chunked, after waiting for 100 Continue, to a percent-encoded
# path, on the connection that got the event.
answer = json.dumps({"event": json.loads(event), "probes": probes}).encode()
quoted = "".join("%{:02X}".format(ord(ch)) if ch == "-" else ch for ch in rid)
a.sendall(f"POST {BASE}/invocation/{quoted}/response HTTP/1.1\r\nHost: {HOST}\r\n"
          "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n".encode())
st, _, _, rest = read_response(a)
assert st == 100, st
half = len(answer) // 2
for part in (answer[:half], answer[half:]):
    a.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
a.sendall(b"0\r\n\r\n")
st, _, body, _ = read_response(a, rest)
assert st == 202, (st, body)

# Second event: a response over the limit, framed by Content-Length. The
# connection stays usable for the next request.
rid, event = next_event(a)
big = 7 * 1024 * 1024
a.sendall(f"POST {BASE}/invocation/{rid}/response HTTP/1.1\r\nHost: {HOST}\r\n"
          f"Content-Length: {big}\r\n\r\n".encode())
sent = 0
block = b"x" * 65536
try:
    while sent < big:
        a.sendall(block)
        sent += len(block)
except OSError:
    pass
st, _, body, _ = read_response(a)
assert st == 413 and error_type(body) == "RequestEntityTooLarge", (st, body)

# Third event on the same connection, then answered over fresh ones.
rid, event = next_event(a)
a.close()
e = connect()
st, _, _, _ = request(e, "POST", f"{BASE}/invocation/{rid}/response", event,
                      "Connection: close\r\n")
assert st == 202 and closed(e)
while True:
    f = connect()
    rid, event = next_event(f)
    f.close()
    g = connect()
    request(g, "POST", f"{BASE}/invocation/{rid}/response", event)
    g.close()
'''


def create(lam):
    name = f"rapi-{os.getpid()}"
    lam.create_function(FunctionName=name, Runtime="provided.al2", Role=ROLE, Handler="unused",
                        Code={"ZipFile": make_zip({"bootstrap": (BOOTSTRAP, 0o755)})}, Timeout=20)
    return name


def test_runtime_api_status_codes_and_http(lam):
    """AWS's Runtime API answers 404 for an unknown path, 400
    InvalidRequestID for a result with the wrong id, 403
    InvalidStateTransition for /next while an event is out and for
    /init/error after init, 413 RequestEntityTooLarge for a response over
    6 MB (the invoke then fails with Function.ResponseSizeTooLarge);
    malformed HTTP gets 400 and the connection is closed; chunked bodies,
    100-continue, percent-encoded ids and one connection per request all
    work."""
    name = create(lam)
    r = lam.invoke(FunctionName=name, Payload=b'{"n": 1}')
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    assert body["event"] == {"n": 1}
    p = body["probes"]
    assert p["unknown_path"] == [404, "NotFound"]
    assert p["wrong_id"] == [400, "InvalidRequestID"]
    assert p["next_while_busy"] == [403, "InvalidStateTransition"]
    assert p["init_error_after_init"] == [403, "InvalidStateTransition"]
    assert p["wrong_method"] == [404, "NotFound"]
    assert p["malformed"] == [400, True]
    assert p["both_framings"] == [400, True]

    r = lam.invoke(FunctionName=name, Payload=b'{"n": 2}')
    body = json.loads(r["Payload"].read())
    assert r.get("FunctionError") == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"

    for n in range(3, 6):
        r = lam.invoke(FunctionName=name, Payload=json.dumps({"n": n}).encode())
        assert "FunctionError" not in r
        assert json.loads(r["Payload"].read()) == {"n": n}
