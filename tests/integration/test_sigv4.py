"""SigV4 through the real clients: --auth=strict verifies Authorization
headers, presigned URLs, chunked STREAMING-AWS4-HMAC-SHA256-PAYLOAD uploads
and STREAMING-UNSIGNED-PAYLOAD-TRAILER uploads with checksum trailers, and
answers as S3 does (SignatureDoesNotMatch, InvalidAccessKeyId, AccessDenied).
The chunked requests are built here by a small independent implementation
of AWS's documented algorithm."""

import base64
import datetime
import hashlib
import hmac
import http.client
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import zlib

import botocore.auth
import botocore.exceptions
import pytest

from conftest import ACCESS_KEY, OTHER_KEY, OTHER_SECRET, SECRET_KEY, aws_cli, s3_client

def code_of(exc_info):
    return exc_info.value.response["Error"]["Code"]


def test_strict_accepts_right_signatures(strict):
    """boto3 with a known key works end to end under --auth=strict."""
    s3 = s3_client(strict.endpoint)
    s3.create_bucket(Bucket="strict-ok")
    s3.put_object(Bucket="strict-ok", Key="a b/ü", Body=b"signed")
    assert s3.get_object(Bucket="strict-ok", Key="a b/ü")["Body"].read() == b"signed"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="strict-ok", Prefix="a b/")["Contents"]] == ["a b/ü"]


def test_strict_aws_cli(strict, tmp_path):
    """The aws CLI's own signer is accepted too (cp up and down)."""
    f = tmp_path / "f.txt"
    f.write_text("cli signed\n")
    aws_cli(strict.endpoint, "s3", "mb", "s3://strict-cli")
    aws_cli(strict.endpoint, "s3", "cp", str(f), "s3://strict-cli/dir/f.txt")
    out = aws_cli(strict.endpoint, "s3", "cp", "s3://strict-cli/dir/f.txt", "-").stdout
    assert out == "cli signed\n"


def test_strict_wrong_secret(strict):
    """A wrong secret is 403 SignatureDoesNotMatch with S3's diagnostic fields."""
    s3 = s3_client(strict.endpoint, secret_key="wrong-secret")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_buckets()
    assert code_of(e) == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "StringToSign" in e.value.response["Error"]
    assert "CanonicalRequest" in e.value.response["Error"]


def test_strict_unknown_key(strict):
    """An access key not in the credentials file is 403 InvalidAccessKeyId."""
    s3 = s3_client(strict.endpoint, access_key="AKIDUNKNOWN")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_buckets()
    assert code_of(e) == "InvalidAccessKeyId"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_strict_unsigned_denied(strict):
    """An unsigned request under --auth=strict is 403 AccessDenied."""
    try:
        urllib.request.urlopen(strict.endpoint + "/", timeout=10)
        raise AssertionError("unsigned request accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 403
        assert ET.fromstring(e.read()).findtext("Code") == "AccessDenied"


def test_strict_accounts_are_separate(strict):
    """Keys map to accounts: another account does not see or reach the bucket."""
    mine = s3_client(strict.endpoint)
    other = s3_client(strict.endpoint, access_key=OTHER_KEY, secret_key=OTHER_SECRET)
    mine.create_bucket(Bucket="acct-mine")
    other.create_bucket(Bucket="acct-other")
    assert "acct-other" not in [b["Name"] for b in mine.list_buckets()["Buckets"]]
    assert "acct-mine" not in [b["Name"] for b in other.list_buckets()["Buckets"]]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.put_object(Bucket="acct-mine", Key="k", Body=b"x")
    assert code_of(e) == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.create_bucket(Bucket="acct-mine")
    assert code_of(e) == "BucketAlreadyExists"


def test_presigned_urls(strict):
    """A SigV4 presigned GET and PUT work with a plain HTTP client; an
    expired or tampered URL is refused."""
    s3 = s3_client(strict.endpoint, signature_version="s3v4")
    s3.create_bucket(Bucket="presign")
    s3.put_object(Bucket="presign", Key="doc 1.txt", Body=b"presigned body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "presign", "Key": "doc 1.txt"},
                                    ExpiresIn=300)
    assert "X-Amz-Signature=" in url
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == b"presigned body"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "presign", "Key": "up"},
                                        ExpiresIn=300)
    req = urllib.request.Request(put_url, data=b"uploaded", method="PUT")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    assert s3.get_object(Bucket="presign", Key="up")["Body"].read() == b"uploaded"
    tampered = url.replace("doc%201.txt", "up")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered, timeout=10)
    assert e.value.code == 403
    assert ET.fromstring(e.value.read()).findtext("Code") == "SignatureDoesNotMatch"
    # Signed 2 hours ago, valid for 1 hour.
    signed_at = datetime.datetime.utcnow() - datetime.timedelta(hours=2)

    class TwoHoursAgo(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return signed_at
    from unittest import mock
    with mock.patch.object(botocore.auth.datetime, "datetime", TwoHoursAgo):
        old = s3.generate_presigned_url("get_object", Params={"Bucket": "presign", "Key": "up"},
                                        ExpiresIn=3600)
    assert signed_at.strftime("X-Amz-Date=%Y%m%dT%H") in old
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(old, timeout=10)
    assert e.value.code == 403
    assert ET.fromstring(e.value.read()).findtext("Code") == "AccessDenied"


# ---- aws-chunked uploads, built by hand --------------------------------

def _sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _signing_key(secret, date, region="us-east-1", service="s3"):
    k = _sign(("AWS4" + secret).encode(), date)
    k = _sign(k, region)
    k = _sign(k, service)
    return _sign(k, "aws4_request")


def chunked_put(server, bucket, key, data, chunk=65536, secret=SECRET_KEY, tamper=False,
                trailer=None, signed=True):
    """PUTs data with aws-chunked framing. signed: STREAMING-AWS4-HMAC-SHA256-PAYLOAD;
    else STREAMING-UNSIGNED-PAYLOAD-TRAILER with a checksum trailer
    (trailer = (name, value))."""
    now = datetime.datetime.utcnow()
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    scope = f"{date}/us-east-1/s3/aws4_request"
    host = f"127.0.0.1:{server.port}"
    path = f"/{bucket}/{key}"
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" if signed else "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    if signed:
        sizes = sum(len(f"{len(p):x};chunk-signature=") + 64 + 2 + len(p) + 2 for p in pieces)
    else:
        sizes = sum(len(f"{len(p):x}") + 2 + len(p) + (2 if p else 0) for p in pieces)
        tl = f"{trailer[0]}:{trailer[1]}\r\n".encode()
        sizes += len(tl) + 2
    headers = {
        "host": host,
        "x-amz-content-sha256": mode,
        "x-amz-date": amz_date,
        "x-amz-decoded-content-length": str(len(data)),
        "content-encoding": "aws-chunked",
        "content-length": str(sizes),
    }
    if not signed:
        headers["x-amz-trailer"] = trailer[0]
    signed_names = sorted(headers)
    canonical = "\n".join([
        "PUT", path, "",
        "".join(f"{h}:{headers[h]}\n" for h in signed_names),
        ";".join(signed_names), mode])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    key_bytes = _signing_key(secret, date)
    seed = hmac.new(key_bytes, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
                                f"SignedHeaders={';'.join(signed_names)}, Signature={seed}")
    body = b""
    prev = seed
    for i, p in enumerate(pieces):
        if signed:
            csts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev,
                              hashlib.sha256(b"").hexdigest(), hashlib.sha256(p).hexdigest()])
            sig = hmac.new(key_bytes, csts.encode(), hashlib.sha256).hexdigest()
            if tamper and i == 1:
                sig = "0" * 64
            body += f"{len(p):x};chunk-signature={sig}\r\n".encode() + p + b"\r\n"
            prev = sig
        else:
            body += f"{len(p):x}\r\n".encode() + p + (b"\r\n" if p else b"")
    if not signed:
        body += tl + b"\r\n"
    assert len(body) == sizes
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
    for h, v in headers.items():
        conn.putheader(h, v)
    conn.endheaders()
    conn.send(body)
    resp = conn.getresponse()
    out = resp.read()
    conn.close()
    return resp, out


def test_streaming_signed_chunks(strict):
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD: chained chunk signatures verified,
    the decoded bytes stored; a bad chunk signature stores nothing."""
    s3 = s3_client(strict.endpoint)
    s3.create_bucket(Bucket="chunked")
    data = bytes(range(256)) * 1000  # 256,000 bytes, four chunks
    resp, out = chunked_put(strict, "chunked", "signed.bin", data)
    assert resp.status == 200, out
    got = s3.get_object(Bucket="chunked", Key="signed.bin")
    assert got["Body"].read() == data
    assert "ContentEncoding" not in got  # aws-chunked is not the object's encoding
    resp, out = chunked_put(strict, "chunked", "tampered.bin", data, tamper=True)
    assert resp.status == 403
    assert ET.fromstring(out).findtext("Code") == "SignatureDoesNotMatch"
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket="chunked", Key="tampered.bin")


def test_streaming_unsigned_trailer_checksums(strict):
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER with x-amz-checksum-crc32 / -crc32c /
    -sha256 trailers: right ones are stored and echoed; a wrong one is
    400 BadDigest and stores nothing."""
    s3 = s3_client(strict.endpoint)
    s3.create_bucket(Bucket="trailer")
    data = b"trailer payload " * 10000
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    resp, out = chunked_put(strict, "trailer", "crc32", data, signed=False,
                            trailer=("x-amz-checksum-crc32", crc))
    assert resp.status == 200, out
    assert s3.get_object(Bucket="trailer", Key="crc32")["Body"].read() == data
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    resp, out = chunked_put(strict, "trailer", "sha256", data, signed=False,
                            trailer=("x-amz-checksum-sha256", sha))
    assert resp.status == 200, out
    bad = base64.b64encode((zlib.crc32(data) ^ 0xFF).to_bytes(4, "big")).decode()
    resp, out = chunked_put(strict, "trailer", "bad", data, signed=False,
                            trailer=("x-amz-checksum-crc32", bad))
    assert resp.status == 400
    assert ET.fromstring(out).findtext("Code") == "BadDigest"
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket="trailer", Key="bad")


def test_dev_mode_presigned_default_boto3(server):
    """boto3 1.26 presigns S3 URLs with SigV2 by default; dev mode serves them."""
    s3 = s3_client(server.endpoint)
    s3.create_bucket(Bucket="dev-presign")
    s3.put_object(Bucket="dev-presign", Key="k", Body=b"v2 url")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "dev-presign", "Key": "k"})
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == b"v2 url"


def test_dev_mode_accepts_any_key_and_unsigned(server):
    """--auth=dev (the default) takes any key and unsigned requests."""
    s3 = s3_client(server.endpoint, access_key="ANYTHING", secret_key="whatever")
    s3.create_bucket(Bucket="dev-any-key")
    with urllib.request.urlopen(server.endpoint + "/dev-any-key?list-type=2", timeout=10) as r:
        assert b"<ListBucketResult" in r.read()


def test_strict_copy_needs_read_access_to_source(strict):
    """CopyObject from another account's bucket is 403 AccessDenied: copying
    is reading."""
    mine = s3_client(strict.endpoint)
    other = s3_client(strict.endpoint, access_key=OTHER_KEY, secret_key=OTHER_SECRET)
    mine.create_bucket(Bucket="copy-secret-src")
    mine.put_object(Bucket="copy-secret-src", Key="secret.txt", Body=b"top secret")
    other.create_bucket(Bucket="copy-thief-dst")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.copy_object(Bucket="copy-thief-dst", Key="loot",
                          CopySource={"Bucket": "copy-secret-src", "Key": "secret.txt"})
    assert code_of(e) == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError):
        other.head_object(Bucket="copy-thief-dst", Key="loot")
