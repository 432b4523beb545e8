"""S3 API behaviour through boto3: buckets, objects, listings, copies,
conditional and ranged reads, multipart uploads. Each test names the S3
behaviour it checks."""

import datetime
import hashlib
import os

import botocore.exceptions
import pytest

from conftest import s3_client


def error_code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def test_create_list_head_delete_bucket(s3):
    """CreateBucket makes a bucket that ListBuckets and HeadBucket see;
    DeleteBucket removes it; HeadBucket of a missing bucket is 404."""
    s3.create_bucket(Bucket="life-cycle-bucket")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "life-cycle-bucket" in names
    s3.head_bucket(Bucket="life-cycle-bucket")
    s3.delete_bucket(Bucket="life-cycle-bucket")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_bucket(Bucket="life-cycle-bucket")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_bucket_location(s3):
    """GetBucketLocation is null for us-east-1 and the constraint otherwise."""
    s3.create_bucket(Bucket="loc-default")
    assert s3.get_bucket_location(Bucket="loc-default")["LocationConstraint"] is None
    s3.create_bucket(Bucket="loc-eu",
                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_bucket_location(Bucket="loc-eu")["LocationConstraint"] == "eu-west-1"


def test_delete_non_empty_bucket(s3, bucket):
    """DeleteBucket on a bucket with objects fails with 409 BucketNotEmpty."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert error_code(e) == "BucketNotEmpty"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_no_such_bucket(s3):
    """Object operations on a missing bucket answer 404 NoSuchBucket."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket="does-not-exist-at-all", Key="k", Body=b"x")
    assert error_code(e) == "NoSuchBucket"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_objects_v2(Bucket="does-not-exist-at-all")
    assert error_code(e) == "NoSuchBucket"


def test_put_get_roundtrip_with_metadata(s3, bucket):
    """PutObject stores bytes, Content-* headers and x-amz-meta-*; GetObject
    and HeadObject return them with the MD5 ETag."""
    body = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key="dir/file.bin", Body=body,
                        ContentType="application/x-test", ContentEncoding="identity",
                        ContentDisposition="attachment", CacheControl="no-cache",
                        ContentLanguage="en", Metadata={"Owner": "me", "x": "1"})
    etag = '"%s"' % hashlib.md5(body).hexdigest()
    assert put["ETag"] == etag
    got = s3.get_object(Bucket=bucket, Key="dir/file.bin")
    assert got["Body"].read() == body
    assert got["ETag"] == etag
    assert got["ContentType"] == "application/x-test"
    assert got["ContentEncoding"] == "identity"
    assert got["ContentDisposition"] == "attachment"
    assert got["CacheControl"] == "no-cache"
    assert got["ContentLanguage"] == "en"
    assert got["Metadata"] == {"owner": "me", "x": "1"}
    assert got["ContentLength"] == len(body)
    head = s3.head_object(Bucket=bucket, Key="dir/file.bin")
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == etag
    assert isinstance(head["LastModified"], datetime.datetime)


def test_default_content_type_and_empty_object(s3, bucket):
    """An object without Content-Type is binary/octet-stream; empty bodies work."""
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentType"] == "binary/octet-stream"
    assert got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'


def test_overwrite_replaces(s3, bucket):
    """A second PutObject of a key replaces the first."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"one" * 50000)
    s3.put_object(Bucket=bucket, Key="k", Body=b"two")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"


def test_get_missing_key(s3, bucket):
    """GetObject of a missing key is 404 NoSuchKey; HeadObject is a bare 404."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope")
    assert error_code(e) == "NoSuchKey"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key="nope")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_keys_with_special_characters(s3, bucket):
    """Keys keep spaces, unicode, '+', '%', '?', '#', and repeated slashes."""
    keys = ["a b", "ünïcødé/ключ", "plus+sign", "100%", "q?x=1", "hash#tag", "a//b/", "~tilde"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    for k in keys:
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed, key=lambda s: s.encode()) == listed
    assert set(listed) == set(keys)


def test_range_requests(s3, bucket):
    """Range gives 206 with Content-Range; suffix and open ranges work; an
    unsatisfiable range is 416 InvalidRange."""
    body = bytes(range(256)) * 4
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert got["Body"].read() == body[10:20]
    assert got["ContentRange"] == "bytes 10-19/1024"
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == body[-5:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-")["Body"].read() == body[1000:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-5000")["Body"].read() == body[1000:]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=5000-6000")
    assert error_code(e) == "InvalidRange"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_large_object_range(s3, bucket):
    """Ranges inside a large (file-backed) object."""
    body = os.urandom(3 * 1024 * 1024 + 17)
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    got = s3.get_object(Bucket=bucket, Key="big", Range="bytes=1048576-2097151")
    assert got["Body"].read() == body[1048576:2097152]
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == body


def test_conditional_get(s3, bucket):
    """If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since."""
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"cond")
    etag = put["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"cond"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert error_code(e) == "PreconditionFailed"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == b"cond"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    assert error_code(e) == "PreconditionFailed"
    # If-Match wins over a failing If-Unmodified-Since.
    got = s3.get_object(Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince=past)
    assert got["Body"].read() == b"cond"


def test_response_header_overrides(s3, bucket):
    """response-content-type & co override the stored headers on GET."""
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    got = s3.get_object(Bucket=bucket, Key="o", ResponseContentType="application/json",
                        ResponseContentDisposition="inline")
    assert got["ContentType"] == "application/json"
    assert got["ContentDisposition"] == "inline"


def test_delete_object_and_objects(s3, bucket):
    """DeleteObject is 204 whether or not the key exists; DeleteObjects
    reports each key, or nothing when Quiet."""
    s3.put_object(Bucket=bucket, Key="d1", Body=b"1")
    assert s3.delete_object(Bucket=bucket, Key="d1")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=bucket, Key="d1")["ResponseMetadata"]["HTTPStatusCode"] == 204
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"m{i}", Body=b"x")
    res = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": f"m{i}"} for i in range(5)] + [{"Key": "never-existed"}]})
    assert sorted(d["Key"] for d in res["Deleted"]) == ["m0", "m1", "m2", "m3", "m4",
                                                         "never-existed"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="q", Body=b"x")
    res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "q"}], "Quiet": True})
    assert "Deleted" not in res


def test_copy_object(s3, bucket):
    """CopyObject copies bytes and metadata (COPY) or takes new metadata
    (REPLACE); copying onto itself without REPLACE is refused."""
    body = os.urandom(200_000)
    s3.put_object(Bucket=bucket, Key="src", Body=body, ContentType="text/csv",
                  Metadata={"a": "1"})
    res = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert res["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/csv"
    assert got["Metadata"] == {"a": "1"}
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src",
                   MetadataDirective="REPLACE", ContentType="text/plain", Metadata={"b": "2"})
    got = s3.head_object(Bucket=bucket, Key="dst2")
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"b": "2"}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert error_code(e) == "InvalidRequest"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "missing"})
    assert error_code(e) == "NoSuchKey"
    # Replacing the source afterwards leaves the copy intact.
    s3.put_object(Bucket=bucket, Key="src", Body=b"new")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == body


def test_copy_key_with_special_characters(s3, bucket):
    """CopySource keys are URL-encoded by the client and decoded by S3."""
    s3.put_object(Bucket=bucket, Key="a b/ü+1", Body=b"z")
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "a b/ü+1"})
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"z"


def test_list_objects_v2_prefix_delimiter_pagination(s3, bucket):
    """ListObjectsV2 with prefix, delimiter (CommonPrefixes), max-keys and
    continuation tokens, start-after; KeyCount counts both."""
    keys = ["a/1", "a/2", "a/b/3", "b/1", "c", "d/x/y", "e"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b".")
    res = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in res["CommonPrefixes"]] == ["a/", "b/", "d/"]
    assert [o["Key"] for o in res["Contents"]] == ["c", "e"]
    assert res["KeyCount"] == 5
    res = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in res["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in res["CommonPrefixes"]] == ["a/b/"]
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        res = s3.list_objects_v2(Bucket=bucket, MaxKeys=2, **kw)
        seen += [o["Key"] for o in res.get("Contents", [])]
        assert res["KeyCount"] <= 2
        if not res["IsTruncated"]:
            break
        token = res["NextContinuationToken"]
    assert seen == sorted(keys)
    res = s3.list_objects_v2(Bucket=bucket, StartAfter="b/1")
    assert [o["Key"] for o in res["Contents"]] == ["c", "d/x/y", "e"]
    # Pages made of common prefixes.
    res = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert res["IsTruncated"]
    assert [p["Prefix"] for p in res["CommonPrefixes"]] == ["a/", "b/"]
    res = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=2,
                             ContinuationToken=res["NextContinuationToken"])
    assert [o["Key"] for o in res.get("Contents", [])] == ["c"]
    assert [p["Prefix"] for p in res["CommonPrefixes"]] == ["d/"]
    paginator = s3.get_paginator("list_objects_v2")
    allkeys = [o["Key"] for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 3})
               for o in page.get("Contents", [])]
    assert allkeys == sorted(keys)


def test_list_objects_v1_marker(s3, bucket):
    """ListObjects (v1) pages with Marker and returns NextMarker with a delimiter."""
    for k in ["k1", "k2", "k3", "p/1", "p/2"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b".")
    res = s3.list_objects(Bucket=bucket, MaxKeys=2)
    assert [o["Key"] for o in res["Contents"]] == ["k1", "k2"]
    assert res["IsTruncated"]
    res = s3.list_objects(Bucket=bucket, Marker="k2")
    assert [o["Key"] for o in res["Contents"]] == ["k3", "p/1", "p/2"]
    res = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=3)
    assert [o["Key"] for o in res["Contents"]] == ["k1", "k2", "k3"]
    assert res["IsTruncated"] and res["NextMarker"] == "k3"
    res = s3.list_objects(Bucket=bucket, Delimiter="/", Marker="k3")
    assert [p["Prefix"] for p in res["CommonPrefixes"]] == ["p/"]
    assert not res["IsTruncated"]
    keys = [o["Key"] for page in s3.get_paginator("list_objects").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}) for o in page.get("Contents", [])]
    assert keys == ["k1", "k2", "k3", "p/1", "p/2"]


def test_list_encoding_type_url(s3, bucket):
    """With encoding-type=url (which botocore sets by itself and then
    decodes) keys and prefixes come URL-encoded."""
    s3.put_object(Bucket=bucket, Key="sp ace/ü+", Body=b".")
    res = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in res["CommonPrefixes"]] == ["sp ace/"]
    res = s3.list_objects_v2(Bucket=bucket)
    assert res["Contents"][0]["Key"] == "sp ace/ü+"
    # Asked for explicitly, botocore leaves the encoding in place.
    res = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert res["Contents"][0]["Key"] == "sp%20ace/%C3%BC%2B"


def test_multipart_upload(s3, bucket):
    """Create / UploadPart / ListParts / ListMultipartUploads / Complete: the
    object is the parts in order and its ETag is md5-of-md5s-N."""
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="text/x-mp",
                                    Metadata={"m": "v"})
    uid = up["UploadId"]
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024), b"tail"]
    etags = []
    for i, p in enumerate(parts, 1):
        etags.append(s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=i,
                                    Body=p)["ETag"])
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3]
    assert [p["Size"] for p in listed["Parts"]] == [len(p) for p in parts]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["UploadId"] for u in uploads] == [uid]
    res = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": i, "ETag": e} for i, e in enumerate(etags, 1)]})
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    assert res["ETag"] == '"%s-3"' % hashlib.md5(md5s).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == b"".join(parts)
    assert got["ContentType"] == "text/x-mp"
    assert got["Metadata"] == {"m": "v"}
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert error_code(e) == "NoSuchUpload"


def test_multipart_errors(s3, bucket):
    """EntityTooSmall, InvalidPart, InvalidPartOrder, NoSuchUpload, Abort."""
    uid = s3.create_multipart_upload(Bucket=bucket, Key="e")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="e", UploadId=uid, PartNumber=1, Body=b"small")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="e", UploadId=uid, PartNumber=2, Body=b"small")["ETag"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="e", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert error_code(e) == "EntityTooSmall"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="e", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    assert error_code(e) == "InvalidPartOrder"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="e", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]})
    assert error_code(e) == "InvalidPart"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="e", UploadId=uid, PartNumber=10001, Body=b"x")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    s3.abort_multipart_upload(Bucket=bucket, Key="e", UploadId=uid)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="e", UploadId=uid, PartNumber=3, Body=b"x")
    assert error_code(e) == "NoSuchUpload"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.abort_multipart_upload(Bucket=bucket, Key="e", UploadId="bogus")
    assert error_code(e) == "NoSuchUpload"
    # A single small part is a valid upload (the last part may be small).
    uid = s3.create_multipart_upload(Bucket=bucket, Key="one")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="one", UploadId=uid, PartNumber=1, Body=b"tiny")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="one", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}]})
    assert s3.get_object(Bucket=bucket, Key="one")["Body"].read() == b"tiny"


def test_virtual_host_style(server, s3):
    """Virtual-host-style requests (bucket.localhost) reach the same bucket."""
    s3.create_bucket(Bucket="vhost-bucket")
    s3.put_object(Bucket="vhost-bucket", Key="k/v", Body=b"via path")
    # *.localhost may not resolve here: connect to 127.0.0.1, send the Host.
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/k/v", headers={"Host": f"vhost-bucket.localhost:{server.port}"})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.read() == b"via path"
    conn.request("PUT", "/new-key", body=b"via vhost",
                 headers={"Host": f"vhost-bucket.localhost:{server.port}"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200
    conn.request("GET", "/?list-type=2", headers={"Host": f"vhost-bucket.localhost:{server.port}"})
    resp = conn.getresponse()
    body = resp.read().decode()
    assert "<Key>new-key</Key>" in body and "<Key>k/v</Key>" in body
    assert s3.get_object(Bucket="vhost-bucket", Key="new-key")["Body"].read() == b"via vhost"


def test_virtual_host_style_boto3(server):
    """boto3 with addressing_style=virtual, Host header sent explicitly."""
    s3v = s3_client(server.endpoint, addressing="virtual")

    def fix_host(request, **kwargs):
        # botocore puts the bucket into the URL's host; send to 127.0.0.1.
        from urllib.parse import urlsplit, urlunsplit
        parts = urlsplit(request.url)
        request.headers["Host"] = parts.netloc
        request.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{server.port}"))
    s3v.meta.events.register_last("before-send.s3", fix_host)
    s3v.create_bucket(Bucket="vhost-boto")
    s3v.put_object(Bucket="vhost-boto", Key="a/b c", Body=b"virtual")
    assert s3v.get_object(Bucket="vhost-boto", Key="a/b c")["Body"].read() == b"virtual"
    assert [o["Key"] for o in s3v.list_objects_v2(Bucket="vhost-boto")["Contents"]] == ["a/b c"]


def test_bucket_name_validation(s3):
    """CreateBucket refuses names that break S3's rules with InvalidBucketName."""
    for name in ["ab", "a" * 64, "Upper-Case", "bad_underscore", "-leading", "trailing-",
                 "192.168.5.4", "double..dot", "xn--prefix", "name-s3alias"]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.create_bucket(Bucket=name)
        code = error_code(e)
        assert code == "InvalidBucketName", (name, code)


def test_bucket_already_exists(s3):
    """Creating one's own bucket again in us-east-1 succeeds (S3's legacy rule)."""
    s3.create_bucket(Bucket="twice-bucket")
    s3.create_bucket(Bucket="twice-bucket")


def test_large_upload_is_streamed(fresh_server):
    """A large PutObject is streamed to disk, not held in memory: the
    server's resident memory grows far less than the object's size."""
    import http.client
    srv = fresh_server().start()
    s3 = s3_client(srv.endpoint)
    s3.create_bucket(Bucket="stream")

    def rss_kib():
        with open(f"/proc/{srv.proc.pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    before = rss_kib()
    size, block = 256 * 1024 * 1024, os.urandom(1 << 20)
    h = hashlib.md5()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    conn.putrequest("PUT", "/stream/big")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    peak = before
    for i in range(size // len(block)):
        conn.send(block)
        h.update(block)
        if i % 32 == 0:
            peak = max(peak, rss_kib())
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200
    assert resp.getheader("ETag") == '"%s"' % h.hexdigest()
    peak = max(peak, rss_kib())
    assert peak - before < 64 * 1024, f"RSS grew by {(peak - before) // 1024} MiB"
    assert s3.head_object(Bucket="stream", Key="big")["ContentLength"] == size
    assert srv.stop() == 0
