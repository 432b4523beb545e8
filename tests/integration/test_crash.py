"""Acknowledged means durable: kill -9 in the middle of a stream of
PutObject calls (small inline objects and large file-backed ones, from
several clients at once); after a restart every acknowledged object is
there with the right bytes and no partial object is visible."""

import hashlib
import os
import random
import threading

import botocore.exceptions

from conftest import s3_client, wait_until


def test_kill9_during_puts_loses_nothing_acknowledged(fresh_server):
    srv = fresh_server().start()
    s3 = s3_client(srv.endpoint)
    s3.create_bucket(Bucket="crash")
    acked = {}       # key -> sha256 of the acknowledged body
    attempted = {}   # key -> sha256 of every body sent for it
    lock = threading.Lock()
    stop = threading.Event()
    rng = random.Random(1234)
    sizes = [10, 1000, 60_000, 70_000, 300_000, 1_100_000]

    def writer(n):
        client = s3_client(srv.endpoint)
        i = 0
        while not stop.is_set() and i < 5000:
            key = f"w{n}/obj-{i:05d}"
            body = os.urandom(rng.choice(sizes))
            digest = hashlib.sha256(body).hexdigest()
            with lock:
                attempted.setdefault(key, set()).add(digest)
            try:
                client.put_object(Bucket="crash", Key=key, Body=body)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                return  # the server is gone
            with lock:
                acked[key] = digest
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    # Kill while the writers are busy, once a good number is acknowledged.
    wait_until(lambda: len(acked) >= 200, timeout=120, what="200 acknowledged puts")
    srv.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert len(acked) >= 200

    srv.start()
    s3 = s3_client(srv.endpoint)
    for key, digest in acked.items():
        body = s3.get_object(Bucket="crash", Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == digest, key
    # Nothing partial: every visible object is one of the bodies sent for it.
    listed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="crash"):
        for o in page.get("Contents", []):
            body = s3.get_object(Bucket="crash", Key=o["Key"])["Body"].read()
            assert len(body) == o["Size"]
            assert hashlib.sha256(body).hexdigest() in attempted[o["Key"]], o["Key"]
            listed += 1
    assert listed >= len(acked)
    # Recovery removed the temp files of the uploads that were cut off.
    blobs = os.path.join(srv.data_dir, "blobs")
    assert not [f for f in os.listdir(blobs) if f.startswith("tmp-")]
    assert srv.stop() == 0
