#!/usr/bin/python3
"""statesbench — Sluice's Step Functions benchmark, run by hand (`make bench`).

It starts its own `sluice serve` (fresh data directory) and measures, with
boto3's StartSyncExecution:
  - EXPRESS transitions/s: a machine of Pass and Choice states that counts
    to --loops (each loop is a Choice and a Pass with States.MathAdd, so an
    execution enters 2 x loops + 3 states); an execution's transitions over
    its wall time, the best of --runs, and the same with --clients
    executions at once (their transitions together over the wall time).
One call carries thousands of transitions, so the client's own cost is
small beside them. STANDARD executions (durable progress) and the Map
benchmark need executions Sluice does not run yet.
"""

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config

MUST = 50_000
AIM = 500_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def counter(loops):
    return {"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Result": {"i": 0}, "Next": "Loop"},
        "Loop": {"Type": "Choice", "Choices": [
            {"Variable": "$.i", "NumericLessThan": loops, "Next": "Inc"}], "Default": "Done"},
        "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "Loop"},
        "Done": {"Type": "Succeed"}}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--loops", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--clients", type=int, default=2)
    args = ap.parse_args()
    port = free_port()
    data = tempfile.mkdtemp(prefix="statesbench.")
    proc = subprocess.Popen([args.sluice, "serve", "--listen", f"127.0.0.1:{port}",
                             "--data-dir", data], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        cfg = Config(inject_host_prefix=False, read_timeout=600, retries={"max_attempts": 1})
        mk = lambda: boto3.client("stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
                                  aws_access_key_id="bench", aws_secret_access_key="bench",
                                  config=cfg)
        sfn = mk()
        deadline = time.time() + 10
        while True:
            try:
                sfn.list_state_machines()
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        arn = sfn.create_state_machine(
            name="counter", definition=json.dumps(counter(args.loops)),
            roleArn="arn:aws:iam::000000000000:role/bench", type="EXPRESS")["stateMachineArn"]
        per_exec = 2 * args.loops + 3

        def one(client):
            t = time.perf_counter()
            out = client.start_sync_execution(stateMachineArn=arn, input="{}")
            assert out["status"] == "SUCCEEDED", out
            return time.perf_counter() - t

        one(sfn)  # (warm)
        best = min(one(sfn) for _ in range(args.runs))
        clients = [mk() for _ in range(args.clients)]
        times = []

        def worker(c):
            for _ in range(args.runs):
                times.append(one(c))

        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        together = per_exec * args.runs * args.clients / wall
        single = per_exec / best
        print("| bench/states (EXPRESS, Pass + Choice) | transitions/s | must | aim |")
        print("|---|---|---|---|")
        print(f"| one execution of {per_exec:,} states | {single:,.0f} | {MUST:,} "
              f"{'PASS' if single >= MUST else 'FAIL'} | {AIM:,} "
              f"{'met' if single >= AIM else 'not met'} |")
        print(f"| {args.clients} executions at once | {together:,.0f} | – | – |")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
