#!/usr/bin/python3
"""statesbench — Sluice's Step Functions benchmark, run by hand (`make bench`).

It starts its own `sluice serve` (fresh data directory) and measures, with
boto3's StartSyncExecution:
  - EXPRESS transitions/s: a machine of Pass and Choice states that counts
    to --loops (each loop is a Choice and a Pass with States.MathAdd, so an
    execution enters 2 x loops + 3 states); an execution's transitions over
    its wall time, the best of --runs, and the same with --clients
    executions at once (their transitions together over the wall time).
  - STANDARD transitions/s, durable: --standard executions of the same
    machine (counting to --standard-loops, under AWS's 25,000 history
    events) started at once with StartExecution; their transitions over
    the time from the first start to the last stop (DescribeExecution's
    dates, the server's own clock).
  - Map over --items items to a trivial native function (runtimes/c's echo
    bootstrap on provided.al2, given by --bootstrap), MaxConcurrency 40,
    one EXPRESS execution through StartSyncExecution: seconds to finish.
One call carries thousands of transitions, so the client's own cost is
small beside them.
"""

import argparse
import io
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

import boto3
from botocore.config import Config

MUST = 50_000
AIM = 500_000
STD_MUST = 5_000
STD_AIM = 20_000
MAP_MUST = 10.0
MAP_AIM = 2.0


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


def standard(sfn, mk, args):
    """STANDARD executions at once: transitions over first start to last stop."""
    arn = sfn.create_state_machine(
        name="counter-std", definition=json.dumps(counter(args.standard_loops)),
        roleArn="arn:aws:iam::000000000000:role/bench")["stateMachineArn"]
    clients = [mk() for _ in range(args.standard)]
    arns = [None] * args.standard

    def start(i):
        arns[i] = clients[i].start_execution(stateMachineArn=arn, input="{}")["executionArn"]

    threads = [threading.Thread(target=start, args=(i,)) for i in range(args.standard)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts, stops = [], []
    for a in arns:
        while True:
            d = sfn.describe_execution(executionArn=a)
            if d["status"] != "RUNNING":
                break
            time.sleep(0.05)
        assert d["status"] == "SUCCEEDED", d
        starts.append(d["startDate"].timestamp())
        stops.append(d["stopDate"].timestamp())
    per_exec = 2 * args.standard_loops + 3
    return per_exec * args.standard / (max(stops) - min(starts))


def map_bench(endpoint, sfn, args):
    """One Map over items, each a native function's invoke."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = (0o100755) << 16
        with open(args.bootstrap, "rb") as f:
            z.writestr(info, f.read())
    lam = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="bench", aws_secret_access_key="bench",
                       config=Config(retries={"max_attempts": 1}))
    fn = lam.create_function(FunctionName="echo", Runtime="provided.al2",
                             Role="arn:aws:iam::000000000000:role/bench", Handler="echo",
                             Code={"ZipFile": buf.getvalue()}, MemorySize=128,
                             Timeout=30)["FunctionArn"]
    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "MaxConcurrency": 40, "ItemsPath": "$.items", "End": True,
        "ItemProcessor": {"StartAt": "Call", "States": {"Call": {
            "Type": "Task", "Resource": fn, "End": True}}}}}}
    arn = sfn.create_state_machine(name="map", definition=json.dumps(definition),
                                   roleArn="arn:aws:iam::000000000000:role/bench",
                                   type="EXPRESS")["stateMachineArn"]
    items = json.dumps({"items": [{"i": i} for i in range(args.items)]})
    warm = json.dumps({"items": [{"i": i} for i in range(40)]})
    out = sfn.start_sync_execution(stateMachineArn=arn, input=warm)
    assert out["status"] == "SUCCEEDED", out
    t = time.perf_counter()
    out = sfn.start_sync_execution(stateMachineArn=arn, input=items)
    secs = time.perf_counter() - t
    assert out["status"] == "SUCCEEDED", out
    assert len(json.loads(out["output"])) == args.items
    return secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--loops", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--standard", type=int, default=16)
    ap.add_argument("--standard-loops", type=int, default=2000)
    ap.add_argument("--items", type=int, default=10000)
    ap.add_argument("--bootstrap", help="runtimes/c's echo bootstrap (the Map benchmark)")
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
        std = standard(sfn, mk, args)
        print(f"| STANDARD, {args.standard} executions at once, durable "
              f"({2 * args.standard_loops + 3:,} states each) | {std:,.0f} | {STD_MUST:,} "
              f"{'PASS' if std >= STD_MUST else 'FAIL'} | {STD_AIM:,} "
              f"{'met' if std >= STD_AIM else 'not met'} |")
        if args.bootstrap:
            secs = map_bench(endpoint, sfn, args)
            print(f"| Map over {args.items:,} items to a native function, MaxConcurrency 40 "
                  f"| {secs:.2f} s | ≤ {MAP_MUST:.0f} s {'PASS' if secs <= MAP_MUST else 'FAIL'} "
                  f"| ≤ {MAP_AIM:.0f} s {'met' if secs <= MAP_AIM else 'not met'} |")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
