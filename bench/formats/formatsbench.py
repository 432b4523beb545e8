#!/usr/bin/python3
"""formatsbench — the data blueprints' benchmark, run by hand (`make bench`).

It starts its own `sluice serve` (fresh data directory under --dir, which
must not be a memory filesystem), writes a CSV of --mib MiB with 10 columns
of mixed types (bigint, string, a low-cardinality string, decimal(10,2),
int, double, date, timestamp, boolean, string), puts it in S3, and measures
with the blueprints deployed as functions of MemorySize 1769 (one core):

  - convert: CSV to Parquet (SNAPPY), one invocation over the whole object:
    MB/s of input over the invocation's wall time (GetObject streamed in,
    the Parquet file written and PutObject of it included), and the
    function's peak RSS (its VmHWM, which the blueprint reports);
  - validate only: the same object checked against the 10 columns' types
    (rows/s, the blueprint's own time for the object);
  - for comparison, in the same run: Debian's pandas reading the same CSV
    from a local file with read_csv (its C parser) and the same dtypes,
    the half of the job a Python function would pay before it could write.
"""

import argparse
import datetime
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
from botocore.config import Config

MUST_MBS = 100
AIM_MBS = 400
AIM_RSS_MIB = 64
VALIDATE_MUST = 1_000_000

SCHEMA = ("id:bigint!,customer:string,country:string,amount:decimal(10,2),qty:int,"
          "price:double,placed:date,at:timestamp,gift:boolean,note:string")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_csv(path, mib):
    """Rows until the file reaches mib MiB; returns the row count."""
    rnd = random.Random(7)
    countries = ["FR", "DE", "ES", "IT", "NL", "BE", "PT", "PL"]
    names = [f"customer-{i:05d}" for i in range(5000)]
    notes = ["", "gift wrap", "leave at the door", "fragile, handle with care", "call first"]
    base = datetime.datetime(2024, 1, 1)
    target = mib * 1024 * 1024
    rows = 0
    with open(path, "w", buffering=1 << 20) as f:
        f.write("id,customer,country,amount,qty,price,placed,at,gift,note\n")
        size = 0
        while size < target:
            chunk = []
            for _ in range(20000):
                i = rows
                rows += 1
                t = base + datetime.timedelta(seconds=rnd.randrange(0, 3 * 365 * 86400))
                note = notes[i % len(notes)]
                if "," in note:
                    note = f'"{note}"'
                chunk.append(f"{i},{names[i % 5000]},{countries[i % 8]},{rnd.randrange(0, 10**6) / 100:.2f},"
                             f"{rnd.randrange(1, 50)},{rnd.random() * 1000:.6f},{t:%Y-%m-%d},"
                             f"{t:%Y-%m-%dT%H:%M:%S}.{rnd.randrange(1000):03d}Z,"
                             f"{'true' if i % 3 == 0 else 'false'},{note}\n")
            text = "".join(chunk)
            f.write(text)
            size += len(text)
    return rows


def wait_healthy(endpoint, proc):
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"sluice exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(endpoint + "/_sluice/health", timeout=1) as r:
                if json.load(r)["status"] == "ok":
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("sluice did not start")


def deploy(sluice, endpoint, name, *args):
    p = subprocess.run([sluice, "blueprint", "deploy", name, "--endpoint", endpoint,
                        "--memory", "1769", "--timeout", "900", *args],
                       capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"deploy {name}: {p.stderr}")


def invoke(lam, name, bucket, key):
    t = time.perf_counter()
    r = lam.invoke(FunctionName=name, Payload=json.dumps({"bucket": bucket, "key": key}))
    secs = time.perf_counter() - t
    out = json.loads(r["Payload"].read())
    if r.get("FunctionError"):
        raise SystemExit(f"{name} failed: {out}")
    return secs, out


def pandas_read(path):
    import pandas as pd
    dtypes = {"id": "int64", "customer": "string", "country": "string", "amount": "float64",
              "qty": "int32", "price": "float64", "gift": "bool", "note": "string"}
    t = time.perf_counter()
    df = pd.read_csv(path, dtype=dtypes, parse_dates=["placed", "at"], engine="c")
    secs = time.perf_counter() - t
    return secs, len(df)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--dir", default=None, help="where the data and the CSV go (not tmpfs)")
    ap.add_argument("--mib", type=int, default=1024, help="the CSV's size")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--no-pandas", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="formatsbench-", dir=args.dir)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(os.path.join(work, "server.log"), "wb")
    proc = subprocess.Popen([args.sluice, "serve", "--listen", f"127.0.0.1:{port}",
                             "--data-dir", os.path.join(work, "data")], stdout=log, stderr=log)
    try:
        wait_healthy(endpoint, proc)
        mk = lambda svc: boto3.client(svc, endpoint_url=endpoint, region_name="us-east-1",
                                      aws_access_key_id="bench", aws_secret_access_key="bench",
                                      config=Config(retries={"max_attempts": 1},
                                                    read_timeout=900))
        s3, lam = mk("s3"), mk("lambda")
        csv = os.path.join(work, "orders.csv")
        print(f"formatsbench: writing a {args.mib} MiB CSV", file=sys.stderr)
        rows = write_csv(csv, args.mib)
        size = os.path.getsize(csv)
        s3.create_bucket(Bucket="raw")
        s3.create_bucket(Bucket="curated")
        s3.upload_file(csv, "raw", "orders.csv")
        deploy(args.sluice, endpoint, "convert", "--steps", "convert", "--schema", SCHEMA,
               "--output", "s3://curated/orders/", "--codec", "snappy")
        deploy(args.sluice, endpoint, "validate", "--steps", "validate", "--schema", SCHEMA)
        conv, val = [], []
        for run in range(args.runs):
            print(f"formatsbench: run {run + 1}", file=sys.stderr)
            secs, out = invoke(lam, "convert", "raw", "orders.csv")
            o = out["objects"][0]
            assert o["valid"] == rows and o["rejected"] == 0, out
            conv.append((size / 1e6 / secs, out["peak_rss_kb"] / 1024, o["outputs"][0]["bytes"],
                         secs))
            secs, out = invoke(lam, "validate", "raw", "orders.csv")
            o = out["objects"][0]
            assert o["valid"] == rows, out
            val.append((rows / o["seconds"], o["seconds"]))
        pd = None if args.no_pandas else pandas_read(csv)
        best = max(conv)
        print(f"\n## bench/formats: {size / 2**20:.0f} MiB CSV, {rows:,} rows, 10 columns, "
              f"MemorySize 1769\n")
        print("| measure | result | must | aim |")
        print("|---|---|---|---|")
        print(f"| CSV → Parquet (SNAPPY), one invocation | "
              f"{' / '.join(f'{c[0]:.0f}' for c in conv)} MB/s "
              f"(Parquet {best[2] / 2**20:.0f} MiB) | {MUST_MBS} "
              f"{'PASS' if best[0] >= MUST_MBS else 'FAIL'} | {AIM_MBS} "
              f"{'met' if best[0] >= AIM_MBS else 'not met'} |")
        print(f"| its peak RSS | {' / '.join(f'{c[1]:.1f}' for c in conv)} MiB | – | "
              f"≤ {AIM_RSS_MIB} {'met' if max(c[1] for c in conv) <= AIM_RSS_MIB else 'not met'} |")
        print(f"| validate only | {' / '.join(f'{v[0]:,.0f}' for v in val)} rows/s | "
              f"{VALIDATE_MUST:,} {'PASS' if max(val)[0] >= VALIDATE_MUST else 'FAIL'} | – |")
        if pd:
            print(f"| pandas read_csv (C parser), same file, local | {size / 1e6 / pd[0]:.0f} MB/s, "
                  f"{pd[1] / pd[0]:,.0f} rows/s ({pd[0]:.1f} s) | – | – |")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
