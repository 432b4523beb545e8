"""Bad input gets S3's error XML with the right code and status, and the
server stays up: malformed XML, oversized headers, missing Content-Length,
invalid bucket names, bad ranges, wrong Content-MD5, unknown operations,
truncated bodies, an empty key to delete."""

import base64
import hashlib
import http.client
import socket
import xml.etree.ElementTree as ET

import botocore.exceptions
import pytest

from conftest import client_error, raw, s3_client


def s3_error(data):
    root = ET.fromstring(data)
    assert root.tag == "Error", data
    return root.findtext("Code"), root.findtext("Message"), root


def assert_up(server):
    assert server.healthy()


def test_malformed_xml(server, s3, bucket):
    """A DeleteObjects body that is not XML is 400 MalformedXML."""
    body = b"<Delete><Object><Key>a</Key></Object"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    resp, data = raw(server, "POST", f"/{bucket}?delete", body, {"Content-MD5": md5})
    assert resp.status == 400
    assert s3_error(data)[0] == "MalformedXML"
    body = b"<Nope/>"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    resp, data = raw(server, "POST", f"/{bucket}?delete", body, {"Content-MD5": md5})
    assert resp.status == 400 and s3_error(data)[0] == "MalformedXML"
    assert_up(server)


def test_delete_objects_empty_key(server, bucket):
    """A DeleteObjects entry with an empty key is S3's 400
    UserKeyMustBeSpecified (boto3 with its own checks off), and nothing is
    deleted."""
    s3 = s3_client(server.endpoint, parameter_validation=False)
    s3.put_object(Bucket=bucket, Key="kept", Body=b"x")
    err = client_error(s3.delete_objects, Bucket=bucket,
                       Delete={"Objects": [{"Key": "kept"}, {"Key": ""}]})
    assert err["Error"]["Code"] == "UserKeyMustBeSpecified", err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "field name" in err["Error"]["Message"]
    assert s3.head_object(Bucket=bucket, Key="kept")["ContentLength"] == 1
    assert_up(server)


def test_xml_entity_expansion_refused(server, bucket):
    """An XML body with a DOCTYPE (entity expansion) is refused, not expanded."""
    body = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
            b'<Delete><Object><Key>&lol2;</Key></Object></Delete>')
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    resp, data = raw(server, "POST", f"/{bucket}?delete", body, {"Content-MD5": md5})
    assert resp.status == 400 and s3_error(data)[0] == "MalformedXML"
    assert_up(server)


def test_oversized_headers(server, bucket):
    """Headers past S3's 8 KiB limit: 400 RequestHeaderSectionTooLarge;
    user metadata past 2 KiB: 400 MetadataTooLarge."""
    resp, data = raw(server, "PUT", f"/{bucket}/big-headers", b"x",
                     {f"X-Pad-{i}": "v" * 100 for i in range(90)})
    assert resp.status == 400
    assert s3_error(data)[0] == "RequestHeaderSectionTooLarge"
    resp, data = raw(server, "PUT", f"/{bucket}/big-meta", b"x",
                     {"x-amz-meta-a": "v" * 1500, "x-amz-meta-b": "v" * 1000})
    assert resp.status == 400
    assert s3_error(data)[0] == "MetadataTooLarge"
    assert_up(server)


def test_huge_header_block(server):
    """A header block far past every limit still gets an answer, not a hang."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 300_000 + b"\r\n\r\n")
        try:
            first = s.recv(100)
        except ConnectionResetError:
            first = b""
        # Either an HTTP error status or a closed connection; never silence.
        assert first == b"" or first.startswith(b"HTTP/1.1 4")
    assert_up(server)


def test_missing_content_length(server, bucket):
    """PutObject with neither Content-Length nor aws-chunked framing is 411
    MissingContentLength."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(f"PUT /{bucket}/nolen HTTP/1.1\r\nHost: x\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".encode())
        resp = http.client.HTTPResponse(s)
        resp.begin()
        data = resp.read()
    assert resp.status == 411
    assert s3_error(data)[0] == "MissingContentLength"
    assert_up(server)


def test_malformed_uri(server, bucket):
    """A malformed %-escape in the path or query is 400 InvalidURI, not a
    request with its query silently dropped."""
    for path in [f"/{bucket}/k%zz", f"/{bucket}?uploads&x=%zz", f"/{bucket}/k%"]:
        resp, data = raw(server, "GET", path)
        assert resp.status == 400, path
        assert s3_error(data)[0] == "InvalidURI"
    assert_up(server)


def test_invalid_bucket_names(server):
    """Bucket names outside S3's alphabet are 400 InvalidBucketName."""
    for path in ["/bad%21name", "/UPPER_and_%24"]:
        resp, data = raw(server, "PUT", path)
        assert resp.status == 400
        assert s3_error(data)[0] == "InvalidBucketName"
    resp, data = raw(server, "PUT", "/UpperCase")
    assert resp.status == 400 and s3_error(data)[0] == "InvalidBucketName"
    assert_up(server)


def test_bad_ranges(server, s3, bucket):
    """Unsatisfiable ranges are 416 InvalidRange; malformed ones are ignored
    (the whole object, 200), as S3 does."""
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    resp, data = raw(server, "GET", f"/{bucket}/r", headers={"Range": "bytes=20-30"})
    assert resp.status == 416
    code, _, root = s3_error(data)
    assert code == "InvalidRange" and root.findtext("ActualObjectSize") == "10"
    for bad in ["bytes=abc", "items=0-1", "bytes=5-2", "bytes=0-1,3-4"]:
        resp, data = raw(server, "GET", f"/{bucket}/r", headers={"Range": bad})
        assert resp.status == 200 and data == b"0123456789", bad
    assert_up(server)


def test_wrong_content_md5(server, s3, bucket):
    """A Content-MD5 that does not match is 400 BadDigest and stores nothing;
    one that is not an MD5 at all is 400 InvalidDigest."""
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"payload", ContentMD5=wrong)
    assert e.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="md5")
    resp, data = raw(server, "PUT", f"/{bucket}/md5", b"payload", {"Content-MD5": "notbase64!"})
    assert resp.status == 400 and s3_error(data)[0] == "InvalidDigest"
    right = base64.b64encode(hashlib.md5(b"payload").digest()).decode()
    s3.put_object(Bucket=bucket, Key="md5", Body=b"payload", ContentMD5=right)
    assert_up(server)


def test_wrong_checksum_header(server, s3, bucket):
    """An x-amz-checksum-crc32 header that does not match is 400 BadDigest;
    a right one is echoed back."""
    import zlib
    good = base64.b64encode(zlib.crc32(b"data").to_bytes(4, "big")).decode()
    resp, data = raw(server, "PUT", f"/{bucket}/ck", b"data", {"x-amz-checksum-crc32": good})
    assert resp.status == 200 and resp.getheader("x-amz-checksum-crc32") == good
    bad = base64.b64encode((zlib.crc32(b"data") ^ 1).to_bytes(4, "big")).decode()
    resp, data = raw(server, "PUT", f"/{bucket}/ck2", b"data", {"x-amz-checksum-crc32": bad})
    assert resp.status == 400 and s3_error(data)[0] == "BadDigest"
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="ck2")


def test_wrong_content_sha256(server, bucket):
    """An x-amz-content-sha256 that does not match the body is 400
    XAmzContentSHA256Mismatch and stores nothing."""
    resp, data = raw(server, "PUT", f"/{bucket}/sha", b"body",
                     {"x-amz-content-sha256": hashlib.sha256(b"other").hexdigest()})
    assert resp.status == 400 and s3_error(data)[0] == "XAmzContentSHA256Mismatch"
    resp, _ = raw(server, "HEAD", f"/{bucket}/sha")
    assert resp.status == 404


def test_unknown_operations(server, s3, bucket):
    """Operations Sluice lacks get 501 NotImplemented (S3) or the protocol's
    own error, never HTML or a hang; boto3 shows a clean ClientError."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "NotImplemented"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    resp, data = raw(server, "PATCH", f"/{bucket}/k")
    assert resp.status == 405 and s3_error(data)[0] == "MethodNotAllowed"
    assert_up(server)


def test_truncated_body_stores_nothing(server, bucket):
    """A PUT whose connection dies before the declared body arrives stores
    nothing and leaves the server up."""
    for size in (1000, 200_000):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(f"PUT /{bucket}/trunc-{size} HTTP/1.1\r\nHost: x\r\n"
                      f"Content-Length: {size}\r\n\r\n".encode() + b"x" * (size // 2))
        # The server sees the connection close; the object must not exist.
        resp, _ = raw(server, "HEAD", f"/{bucket}/trunc-{size}")
        assert resp.status == 404
    assert_up(server)


def test_garbage_requests(server):
    """Broken request lines get an HTTP error or a closed connection, and
    binary junk does not take the server down."""
    for junk in [b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                 b"PUT /b/k HTTP/1.1\r\nContent-Length: -5\r\n\r\n"]:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(junk)
            first = s.recv(1000)
            assert first == b"" or first.startswith(b"HTTP/1.1 4") or \
                first.startswith(b"HTTP/1.1 5"), (junk, first)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"\x00\x01\x02\r\n\r\n")
    assert_up(server)
