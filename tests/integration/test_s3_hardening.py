"""Hostile and concurrent input against S3, and S3 behaviours found missing
in review: each test states what S3 does."""

import base64
import hashlib
import http.client
import socket
import threading
import time
import xml.etree.ElementTree as ET

import botocore.exceptions
import pytest

from conftest import raw, s3_client


def code(data):
    return ET.fromstring(data).findtext("Code")


def test_long_content_md5_is_invalid_digest(server, bucket):
    """A Content-MD5 that is not 16 bytes of base64 is 400 InvalidDigest,
    whatever its length (no buffer is overrun)."""
    for value in ["Q" * 3000, "QUFB" * 200]:
        resp, data = raw(server, "PUT", f"/{bucket}/md5", b"x", {"Content-MD5": value})
        assert resp.status == 400 and code(data) == "InvalidDigest"
    assert server.healthy()


def test_xml_with_many_elements_is_bounded(server):
    """A CreateBucketConfiguration of 1 MB of tiny elements is answered
    quickly with MalformedXML, not with memory exhaustion."""
    body = b"<CreateBucketConfiguration>" + b"x<a/>" * 200_000 + b"</CreateBucketConfiguration>"
    start = time.monotonic()
    resp, data = raw(server, "PUT", "/xml-bomb-bucket", body)
    assert resp.status == 400 and code(data) == "MalformedXML"
    assert time.monotonic() - start < 10
    with open(f"/proc/{server.proc.pid}/status") as f:
        rss_kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    assert rss_kb < 512 * 1024
    assert server.healthy()


def test_keys_must_be_utf8_without_nul(server, bucket):
    """Keys that are not UTF-8, or hold NUL, are 400 InvalidURI: nothing is
    stored under a truncated or undecodable name."""
    for path in [f"/{bucket}/d/%FF%FF", f"/{bucket}/a%00b", f"/{bucket}/%C0%AF"]:
        resp, data = raw(server, "PUT", path, b"x")
        assert resp.status == 400 and code(data) == "InvalidURI", path
    resp, _ = raw(server, "HEAD", f"/{bucket}/a")
    assert resp.status == 404
    resp, data = raw(server, "GET", f"/{bucket}?delimiter=/&prefix=%FF")
    assert resp.status == 400 and code(data) == "InvalidArgument"


def test_many_metadata_headers_and_range(s3, bucket):
    """Every user metadata header comes back, and a 206 always carries
    Content-Range, however many headers the object has."""
    meta = {f"k{i:02d}": "v" for i in range(50)}
    s3.put_object(Bucket=bucket, Key="meta", Body=b"0123456789", Metadata=meta)
    got = s3.get_object(Bucket=bucket, Key="meta", Range="bytes=2-4")
    assert got["ContentRange"] == "bytes 2-4/10"
    assert got["Body"].read() == b"234"
    assert got["Metadata"] == meta
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]


def test_decoded_length_without_aws_chunked_is_ignored(server, bucket):
    """x-amz-decoded-content-length only counts for aws-chunked bodies: a
    plain upload declaring 6 GiB is refused at once with EntityTooLarge."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(f"PUT /{bucket}/huge HTTP/1.1\r\nHost: x\r\nContent-Length: 6442450944\r\n"
                  "x-amz-decoded-content-length: 1\r\nExpect: 100-continue\r\n\r\n".encode())
        resp = http.client.HTTPResponse(s)
        resp.begin()
        data = resp.read()
    assert resp.status == 400 and code(data) == "EntityTooLarge"


def test_streaming_upload_with_transfer_encoding(server, s3, bucket):
    """An aws-chunked upload may come with Transfer-Encoding: chunked and no
    Content-Length, as long as x-amz-decoded-content-length says its size."""
    import zlib
    data = b"streamed without content-length"
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    inner = (f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n" +
             f"x-amz-checksum-crc32:{crc}\r\n\r\n".encode())
    outer = f"{len(inner):x}\r\n".encode() + inner + b"\r\n0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(f"PUT /{bucket}/te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  "Content-Encoding: aws-chunked\r\n"
                  "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n"
                  f"x-amz-decoded-content-length: {len(data)}\r\n"
                  "x-amz-trailer: x-amz-checksum-crc32\r\n\r\n".encode() + outer)
        resp = http.client.HTTPResponse(s)
        resp.begin()
        body = resp.read()
    assert resp.status == 200, body
    assert s3.get_object(Bucket=bucket, Key="te")["Body"].read() == data


def test_malformed_checksum_header(server, bucket):
    """A checksum header that is not a checksum is 400 InvalidRequest."""
    resp, data = raw(server, "PUT", f"/{bucket}/ck", b"x", {"x-amz-checksum-crc32": "zz"})
    assert resp.status == 400 and code(data) == "InvalidRequest"


def test_conditional_writes(server, s3, bucket):
    """PutObject with If-None-Match: * fails with 412 when the key exists;
    If-Match must match the current ETag (404 when there is no object)."""
    resp, _ = raw(server, "PUT", f"/{bucket}/cw", b"one", {"If-None-Match": "*"})
    assert resp.status == 200
    resp, data = raw(server, "PUT", f"/{bucket}/cw", b"two", {"If-None-Match": "*"})
    assert resp.status == 412 and code(data) == "PreconditionFailed"
    resp, data = raw(server, "PUT", f"/{bucket}/cw", b"two", {"If-Match": '"nope"'})
    assert resp.status == 412
    etag = '"%s"' % hashlib.md5(b"one").hexdigest()
    resp, _ = raw(server, "PUT", f"/{bucket}/cw", b"two", {"If-Match": etag})
    assert resp.status == 200
    resp, data = raw(server, "PUT", f"/{bucket}/absent", b"x", {"If-Match": etag})
    assert resp.status == 404 and code(data) == "NoSuchKey"
    assert s3.get_object(Bucket=bucket, Key="cw")["Body"].read() == b"two"


def test_head_bucket_region(s3):
    """HeadBucket's x-amz-bucket-region is the bucket's own region."""
    s3.create_bucket(Bucket="region-eu-bucket",
                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    head = s3.head_bucket(Bucket="region-eu-bucket")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"


def test_delete_bucket_with_unfinished_upload(s3):
    """An unfinished multipart upload does not keep a bucket from being
    deleted (S3 drops the upload with it)."""
    s3.create_bucket(Bucket="mpu-delete-bucket")
    uid = s3.create_multipart_upload(Bucket="mpu-delete-bucket", Key="k")["UploadId"]
    s3.upload_part(Bucket="mpu-delete-bucket", Key="k", UploadId=uid, PartNumber=1, Body=b"p")
    s3.delete_bucket(Bucket="mpu-delete-bucket")
    assert "mpu-delete-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_list_uploads_pages_within_one_key(s3, bucket):
    """ListMultipartUploads pages through several uploads of one key with
    key-marker and upload-id-marker."""
    ids = [s3.create_multipart_upload(Bucket=bucket, Key="same")["UploadId"] for _ in range(3)]
    seen, kw = [], {}
    while True:
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=1, **kw)
        seen += [u["UploadId"] for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        kw = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
    assert seen == ids  # in initiation order, each once


def test_abort_during_part_uploads_leaves_no_parts(server, s3, bucket):
    """Parts uploaded while the upload is aborted are refused or removed:
    none survives the abort."""
    uid = s3.create_multipart_upload(Bucket=bucket, Key="race")["UploadId"]
    stop = threading.Event()

    def uploader(n):
        c = s3_client(server.endpoint)
        i = 0
        while not stop.is_set() and i < 200:
            try:
                c.upload_part(Bucket=bucket, Key="race", UploadId=uid, PartNumber=n * 100 + i % 100 + 1,
                              Body=b"x" * 100)
            except botocore.exceptions.ClientError:
                return
            i += 1
    threads = [threading.Thread(target=uploader, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    s3.abort_multipart_upload(Bucket=bucket, Key="race", UploadId=uid)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="race", UploadId=uid)
    assert e.value.response["Error"]["Code"] == "NoSuchUpload"
    # Nothing of the upload is left in the store's part namespace.
    import sqlite3
    db = sqlite3.connect(f"file:{server.data_dir}/sluice.db?mode=ro", uri=True)
    left = db.execute("SELECT count(*) FROM items WHERE ns = 's3.part' AND pk = ?", (uid,)).fetchone()[0]
    db.close()
    assert left == 0


def test_list_parts_bad_numbers(server, s3, bucket):
    """Non-numeric or negative max-parts / part-number-marker are 400."""
    uid = s3.create_multipart_upload(Bucket=bucket, Key="lp")["UploadId"]
    for q in ["max-parts=abc", "max-parts=-1", "part-number-marker=-5"]:
        resp, data = raw(server, "GET", f"/{bucket}/lp?uploadId={uid}&{q}")
        assert resp.status == 400 and code(data) == "InvalidArgument", q


def test_copy_source_missing_bucket_is_named(server, s3, bucket):
    """CopyObject from a missing bucket names that bucket in NoSuchBucket."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": "missing-src-bkt", "Key": "k"})
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"
    assert e.value.response["Error"]["BucketName"] == "missing-src-bkt"


def test_delete_with_a_body_is_answered(server, s3, bucket):
    """A request whose operation writes before its body is read (DeleteObject
    sent with one) waits for its write like any other and is answered."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("DELETE", f"/{bucket}/k", body=b"ignored")
    r = conn.getresponse()
    r.read()
    assert r.status == 204
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="k")
    conn.close()
