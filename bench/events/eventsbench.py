#!/usr/bin/python3
"""eventsbench — Sluice's event benchmark, run by hand (`make bench`).

It starts its own `sluice serve` (fresh data directory on disk, --auth dev)
and deploys `notifier`, a native bootstrap that sends a UDP datagram to
this program the moment an event reaches it. Then it measures, in the same
run:
  - its floor: GET /_sluice/health over one keep-alive connection with the
    same client code the PUTs use;
  - PutObject -> function start: one PUT at a time into a bucket whose
    notification runs the function; each latency is from just before the
    PUT is sent to the datagram's arrival (the PUT's fsync, the event
    committed with it, the async queue, the dispatcher, the runtime);
  - async events accepted/s: wrk posting Invoke with InvocationType Event
    (each 202 is a durable event) for --duration seconds at --connections;
  - processed/s: datagrams per second until every accepted event ran.
The orchestration is Python; the measured paths are not (the load is wrk,
the function is C). Prints markdown tables with the budgets beside.
"""

import argparse
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile

BUDGET_P50_MS = 1.0
BUDGET_P99_MS = 5.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RawClient:
    """A leaner client for the timed loops: one keep-alive socket, the
    request bytes built beforehand, the response read by Content-Length
    (http.client costs ~100 µs a request, which would be in every sample)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def roundtrip(self, raw):
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        n = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                n = int(value)
        while len(rest) < n:
            rest += self.sock.recv(65536)
        self.buf = rest[n:]
        if status >= 300:
            raise RuntimeError(f"{raw[:40]!r}: {status}")


def raw_request(method, path, body=b""):
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}"
            "\r\n\r\n").encode() + body


class Client:
    """One keep-alive HTTP/1.1 connection, unsigned requests."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method, path, body=b"", headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
        return data


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]


def fmt_us(s):
    return f"{s * 1e6:,.0f} µs" if s < 0.01 else f"{s * 1e3:,.1f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--notifier", required=True, help="the notifier bootstrap binary")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where the data directory goes")
    ap.add_argument("--puts", type=int, default=500, help="PutObject -> start samples")
    ap.add_argument("--duration", type=int, default=5, help="seconds wrk sends events")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections")
    ap.add_argument("--keep", action="store_true")
    o = ap.parse_args()

    work = tempfile.mkdtemp(prefix="eventsbench.", dir=o.dir)
    port, udp_port = free_port(), free_port()
    log = open(os.path.join(work, "server.log"), "wb")
    server = subprocess.Popen([o.sluice, "serve", "--listen", f"127.0.0.1:{port}",
                               "--data-dir", os.path.join(work, "data"), "--auth", "dev",
                               "--log-level", "warn"], stdout=log, stderr=log)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", udp_port))
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                Client(port).request("GET", "/_sluice/health")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        c = Client(port)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            info = zipfile.ZipInfo("bootstrap")
            info.external_attr = 0o100755 << 16
            with open(o.notifier, "rb") as f:
                z.writestr(info, f.read())
        import base64
        fn = {"FunctionName": "notifier", "Runtime": "provided.al2", "Handler": "x",
              "Role": "arn:aws:iam::000000000000:role/bench", "MemorySize": 1769,
              "Timeout": 10, "Code": {"ZipFile": base64.b64encode(buf.getvalue()).decode()},
              "Environment": {"Variables": {"BENCH_UDP_PORT": str(udp_port)}}}
        arn = json.loads(c.request("POST", "/2015-03-31/functions", json.dumps(fn).encode(),
                                   {"Content-Type": "application/json"}))["FunctionArn"]
        c.request("POST", "/2015-03-31/functions/notifier/policy", json.dumps(
            {"StatementId": "s3", "Action": "lambda:InvokeFunction",
             "Principal": "s3.amazonaws.com", "SourceArn": "arn:aws:s3:::bench"}).encode(),
            {"Content-Type": "application/json"})
        c.request("PUT", "/bench")
        c.request("PUT", "/bench?notification", (
            "<NotificationConfiguration><CloudFunctionConfiguration><Id>bench</Id>"
            f"<CloudFunction>{arn}</CloudFunction><Event>s3:ObjectCreated:*</Event>"
            "</CloudFunctionConfiguration></NotificationConfiguration>").encode())

        # Floor: health GETs over one connection, the same client.
        raw = RawClient(port)
        floor = []
        health = raw_request("GET", "/_sluice/health")
        for _ in range(2000):
            t0 = time.perf_counter()
            raw.roundtrip(health)
            floor.append(time.perf_counter() - t0)

        # PutObject -> function start, one at a time (the first warms up).
        udp.settimeout(10)
        lat = []
        for i in range(o.puts + 1):
            key = f"k{i:06d}"
            put = raw_request("PUT", f"/bench/{key}", b"x" * 1024)
            t0 = time.perf_counter()
            raw.roundtrip(put)
            while True:
                data = udp.recv(4096)
                if key.encode() in data:
                    break
            if i:
                lat.append(time.perf_counter() - t0)

        # Async events: wrk posts Invoke(Event) for --duration seconds.
        lua = os.path.join(work, "event.lua")
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = "{\\"n\\":1}"\n'
                    'wrk.headers["Content-Type"] = "application/json"\n'
                    'wrk.headers["X-Amz-Invocation-Type"] = "Event"\n')
        # Datagrams are read all along (a full socket buffer would drop them).
        udp.settimeout(0.2)
        seen = {"n": 0, "last": time.monotonic(), "stop": False}

        def reader():
            while not seen["stop"]:
                try:
                    udp.recv(4096)
                    seen["n"] += 1
                    seen["last"] = time.monotonic()
                except socket.timeout:
                    pass

        import threading
        th = threading.Thread(target=reader)
        th.start()
        t_start = time.monotonic()
        proc = subprocess.run(["wrk", "-t", "2", "-c", str(o.connections), "-d",
                               f"{o.duration}s", "-s", lua,
                               f"http://127.0.0.1:{port}/2015-03-31/functions/notifier/"
                               "invocations"], capture_output=True, text=True)
        t_sent = time.monotonic()
        out = proc.stdout
        requests = int(next(l for l in out.splitlines() if "requests in" in l).split()[0])
        non2xx = 0
        for line in out.splitlines():
            if "Non-2xx" in line:
                non2xx = int(line.split()[-1])
        accepted = requests - non2xx
        # Until every accepted event ran (or 60 s without one).
        while seen["n"] < accepted and time.monotonic() - seen["last"] < 60:
            time.sleep(0.05)
        seen["stop"] = True
        th.join()
        processed, t_done = seen["n"], seen["last"]
        # The server's own count: every event of the notifier ran once at
        # least (the PUT phase's included).
        metrics = Client(port).request("GET", "/_sluice/metrics").decode()
        invocations = next(int(float(line.rsplit(" ", 1)[1])) for line in metrics.splitlines()
                           if line.startswith("sluice_lambda_invocations_total{")
                           and 'function="notifier"' in line)
        ran = invocations - (o.puts + 1)

        print("# Sluice events benchmark\n")
        print(f"- host: {os.uname().nodename}, {os.cpu_count()} CPUs; server `{o.sluice}`; "
              f"function: native bootstrap (runtimes/c), MemorySize 1769")
        print(f"- {o.puts} sequential PutObject of 1 KiB into a bucket notifying the function; "
              f"wrk {o.connections} connections for {o.duration} s of Invoke(Event)\n")
        print("| measure | p50 | p99 | n | budget |")
        print("|---|---|---|---|---|")
        print(f"| floor: GET /_sluice/health, this client | {fmt_us(pct(floor, .5))} | "
              f"{fmt_us(pct(floor, .99))} | {len(floor)} | |")
        p50, p99 = pct(lat, .5), pct(lat, .99)
        ok50, ok99 = p50 * 1e3 <= BUDGET_P50_MS, p99 * 1e3 <= BUDGET_P99_MS
        print(f"| PutObject → function start | {fmt_us(p50)} | {fmt_us(p99)} | {len(lat)} | "
              f"p50 ≤ 1 ms: **{'PASS' if ok50 else 'FAIL'}**, p99 ≤ 5 ms: "
              f"**{'PASS' if ok99 else 'FAIL'}** |")
        print()
        print("| async events | count | seconds | per second |")
        print("|---|---|---|---|")
        print(f"| accepted (202, durable) | {accepted:,} | {t_sent - t_start:.1f} | "
              f"{accepted / (t_sent - t_start):,.0f} |")
        print(f"| processed (function ran) | {processed:,} | {t_done - t_start:.1f} | "
              f"{processed / (t_done - t_start):,.0f} |")
        if non2xx:
            print(f"\n{non2xx} Invoke requests were refused (non-2xx).")
        if ran < accepted:
            print(f"\n**{accepted - ran} accepted events did not run within 60 s.**")
        elif processed < accepted:
            print(f"\n{accepted - processed} datagrams were lost (the server counted "
                  f"{ran:,} runs: every accepted event ran).")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        if not o.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"\nkept {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
