"""`sluice serve` itself: health endpoint, configuration by flags and
SLUICE_* variables, graceful shutdown with a grace period for in-flight
requests, structured logs, and the protocol-correct error of every service
Sluice does not implement yet."""

import json
import os
import signal
import socket
import subprocess
import urllib.request

import boto3
import botocore.exceptions
import pytest

from conftest import SLUICE, SLUICE_PLAIN, aws_cli, client_config, free_port, s3_client, wait_until


def test_health(server):
    """GET /_sluice/health answers JSON with status, version and uptime."""
    with urllib.request.urlopen(server.endpoint + "/_sluice/health", timeout=5) as r:
        assert r.headers["Content-Type"] == "application/json"
        body = json.load(r)
    assert body["status"] == "ok"
    assert body["version"]
    assert isinstance(body["uptime_seconds"], int) and body["uptime_seconds"] >= 0


def test_env_configuration(fresh_server, tmp_path):
    """SLUICE_LISTEN and SLUICE_DATA_DIR configure the server like the flags."""
    port = free_port()
    data = tmp_path / "envdata"
    env = dict(os.environ, SLUICE_LISTEN=f"127.0.0.1:{port}", SLUICE_DATA_DIR=str(data),
               SLUICE_LOG_LEVEL="warn")
    proc = subprocess.Popen([SLUICE, "serve"], env=env, stderr=subprocess.PIPE)
    try:
        def up():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sluice/health", timeout=1):
                    return True
            except OSError:
                assert proc.poll() is None
                return False
        wait_until(up, what="server on SLUICE_LISTEN")
        assert (data / "sluice.db").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    # warn level: the info lines of start-up are not printed.
    assert b"listening" not in proc.stderr.read()


def test_bad_configuration_exits_nonzero(tmp_path):
    """Invalid options are refused with a message and a non-zero exit."""
    for args in (["--auth", "maybe"], ["--listen", "nonsense"], ["--log-level", "loud"],
                 ["--auth", "strict"], ["--no-such-flag"]):
        p = subprocess.run([SLUICE, "serve", "--data-dir", str(tmp_path / "d")] + args,
                           capture_output=True, timeout=30)
        assert p.returncode != 0, args
        assert p.stderr, args


def test_structured_logs(fresh_server):
    """Log lines on stderr are logfmt: ts=, level=, comp=, msg=."""
    srv = fresh_server().start()
    assert srv.stop() == 0
    lines = [l for l in srv.logs().splitlines() if l.startswith("ts=")]
    assert lines
    for l in lines:
        assert " level=" in l and " comp=" in l and ' msg="' in l


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown_finishes_in_flight(fresh_server, sig):
    """On SIGTERM/SIGINT an upload in flight gets the grace period to finish,
    is acknowledged, and is there after a restart; the exit status is 0."""
    srv = fresh_server().start()
    s3 = s3_client(srv.endpoint)
    s3.create_bucket(Bucket="graceful")
    body = os.urandom(300_000)
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    sock.sendall(f"PUT /graceful/inflight HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode())
    # 100 Continue says the server has taken the request in: it is in flight.
    assert sock.recv(100).startswith(b"HTTP/1.1 100")
    srv.proc.send_signal(sig)
    sock.sendall(body)
    reply = sock.recv(4096)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert srv.proc.wait(timeout=30) == 0
    srv.log.close()
    srv.start(port=srv.port)
    assert s3.get_object(Bucket="graceful", Key="inflight")["Body"].read() == body
    assert srv.stop() == 0


def test_unimplemented_services_answer_in_their_protocol(server):
    """A service Sluice does not implement yet answers with its protocol's
    error shape, which boto3 turns into a clean ClientError."""
    kw = dict(endpoint_url=server.endpoint, region_name="us-east-1",
              aws_access_key_id="AKID", aws_secret_access_key="SECRET", config=client_config())
    cases = [
        ("iam", lambda c: c.list_users(), "InvalidAction"),                # query
        ("glue", lambda c: c.list_jobs(), "UnknownOperationException"),  # json 1.1
        ("stepfunctions", lambda c: c.list_activities(), "UnknownOperationException"),  # json 1.0
        ("lambda", lambda c: c.list_layers(), "UnknownOperationException"),  # rest-json
        ("cloudwatch", lambda c: c.list_metrics(), "InvalidAction"),
        ("secretsmanager", lambda c: c.list_secrets(), "UnknownOperationException"),
    ]
    for name, call, code in cases:
        client = boto3.client(name, **kw)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call(client)
        assert e.value.response["Error"]["Code"] == code, name
        assert "not implemented" in e.value.response["Error"]["Message"] or \
            "not valid" in e.value.response["Error"]["Message"], name


def test_unimplemented_service_cli_message(server):
    """The aws CLI prints the error cleanly (no traceback)."""
    p = aws_cli(server.endpoint, "stepfunctions", "list-activities", check=False)
    assert p.returncode != 0
    assert "UnknownOperationException" in p.stderr
    assert "Traceback" not in p.stderr


def read_until_closed(sock):
    """All a peer sends until it closes (each recv waits at most the
    socket's timeout: a peer that keeps it open fails the test)."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_conflicting_content_lengths_refused(server, s3, bucket):
    """Two Content-Length headers that differ make where the body ends
    ambiguous (the request-smuggling pattern): 400 at once, the connection
    closes, and neither the object nor what follows the first length as a
    request is taken."""
    body = b"hello"
    smuggled = b"PUT /%s/smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx" % (
        bucket.encode())
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"PUT /%s/ambiguous HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Content-Length: %d\r\n\r\n" % (bucket.encode(), 5 + len(smuggled))
                     + body + smuggled)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert b"<Code>BadRequest</Code>" in answer, answer
    for key in ("ambiguous", "smuggled"):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.head_object(Bucket=bucket, Key=key)
        assert e.value.response["Error"]["Code"] == "404", key
    # A first length of 0 changes nothing, and Sluice's own endpoints
    # refuse it too.
    for path in (b"/%s/zero" % bucket.encode(), b"/_sluice/health"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                         b"Content-Length: %d\r\n\r\n" % (path, len(smuggled)) + smuggled)
            answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 400 "), (path, answer)
        assert answer.count(b"HTTP/1.1 ") == 1, (path, answer)
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="smuggled")
    # The same value twice is one length.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"PUT /%s/twice HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Content-Length: 5\r\nConnection: close\r\n\r\nhello" % bucket.encode())
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert s3.get_object(Bucket=bucket, Key="twice")["Body"].read() == b"hello"


def test_bytes_that_cannot_be_http_get_400_at_once(server):
    """A connection whose first bytes cannot begin an HTTP request (a TLS
    handshake sent to the plain port, binary noise) is answered 400 and
    closed at once, not left open until the idle timeout (60 s); a request
    line that has only begun is waited for."""
    for first in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)),
                  b"\x00\x01\x02binary", b" GET / HTTP/1.1\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(first)
            answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), (first, answer)
        assert answer.endswith(b"\r\n\r\nThis is not the start of an HTTP request.\n"), answer
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GE")
        sock.sendall(b"T /_sluice/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 200 ")


HEALTH = b"GET /_sluice/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def health_on(sock):
    """Whether a health check on sock gets 200 (False: the server closed
    or reset it)."""
    try:
        sock.sendall(HEALTH)
        answer = sock.recv(4096)
    except (ConnectionResetError, BrokenPipeError):
        return False
    return answer.startswith(b"HTTP/1.1 200 ")


def test_connections_per_client_capped(fresh_server):
    """--max-connections-per-client: a client address holding its share
    gets more connections closed at accept, while another address is
    served; once it closes one, the next gets in."""
    srv = fresh_server(["--max-connections-per-client", "8"]).start()

    def served():
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        if health_on(s):
            return s
        s.close()  # (the start-up check's connection, not yet seen closed)
        return None
    held = []
    try:
        for _ in range(8):
            held.append(wait_until(served, timeout=10, what="a connection within the cap"))
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as extra:
            assert not health_on(extra)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10,
                                      source_address=("127.0.0.2", 0)) as other:
            assert health_on(other)
        held.pop().close()
        held.append(wait_until(served, timeout=10, what="a connection once one was closed"))
    finally:
        for s in held:
            s.close()


def test_keep_alive_across_gets(server, s3, bucket):
    """Answers without a request body keep the connection open (HTTP/1.1
    keep-alive), as AWS endpoints do."""
    import http.client
    s3.put_object(Bucket=bucket, Key="ka", Body=b"keep")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for path in [f"/{bucket}/ka", f"/{bucket}/ka", "/_sluice/health", f"/{bucket}/missing"]:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        assert resp.getheader("Connection", "").lower() != "close", path
    sock = conn.sock
    conn.request("HEAD", f"/{bucket}/ka")
    conn.getresponse().read()
    assert conn.sock is sock  # the same connection served every request
    conn.close()


def store_metrics(endpoint):
    with urllib.request.urlopen(endpoint + "/_sluice/metrics") as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("sluice_store_"):
            name, value = line.split()
            out[name] = int(value)
    return out


def test_store_metrics_count_writes(fresh_server):
    """/_sluice/metrics counts the store's transactions and batches: each
    acknowledged PutObject is one transaction, and batches never outnumber
    them (group commit shares one fsync among concurrent writes)."""
    srv = fresh_server().start()
    s3 = s3_client(srv.endpoint)
    s3.create_bucket(Bucket="metrics")
    before = store_metrics(srv.endpoint)
    for i in range(20):
        s3.put_object(Bucket="metrics", Key=f"k{i}", Body=b"x" * 100)
    after = store_metrics(srv.endpoint)
    txns = after["sluice_store_transactions_total"] - before["sluice_store_transactions_total"]
    batches = after["sluice_store_batches_total"] - before["sluice_store_batches_total"]
    assert txns == 20
    assert 1 <= batches <= txns
    assert "sluice_store_checkpoints_total" in after


def proc_threads_and_rss(pid):
    """The process's thread count and resident memory in MB."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) / 1024


def test_idle_connections_hold_no_thread(fresh_server):
    """5,000 idle client connections, half of them kept alive after a
    request, hold no thread each: the server stays within 64 threads and
    150 MB (the build without sanitizers), answers health checks all along,
    and every connection still answers at the end."""
    import resource
    n = 5000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n + 1024:
        pytest.skip(f"the open-file limit ({hard}) cannot hold {n} connections on each side")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 2 * n + 1024)), hard))
    srv = fresh_server(binary=SLUICE_PLAIN).start()
    health = (b"GET /_sluice/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

    def read_answer(s):
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            assert chunk, "the server closed an idle connection"
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(body) < length:
            body += s.recv(4096)
        assert json.loads(body)["status"] == "ok"

    conns = []
    try:
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
            conns.append(s)
            if i % 2:
                s.sendall(health)
                read_answer(s)
            if i % 1000 == 999:
                # A new client is answered while the others sit idle.
                with urllib.request.urlopen(srv.endpoint + "/_sluice/health", timeout=5) as r:
                    assert json.load(r)["status"] == "ok"
        threads, rss = proc_threads_and_rss(srv.proc.pid)
        assert threads <= 64, f"{threads} threads for {n} idle connections"
        assert rss <= 150, f"{rss:.0f} MB for {n} idle connections"
        # Every connection was accepted and is alive: each answers.
        for s in conns[::2]:
            s.sendall(health)
        for s in conns[::2]:
            read_answer(s)
    finally:
        for s in conns:
            s.close()
    assert srv.stop() == 0
