#!/usr/bin/python3
"""Writes tests/unit/sigv4_vectors.h: requests signed by botocore's own SigV4
signers (SigV4Auth, S3SigV4Auth, S3SigV4QueryAuth, SigV4QueryAuth) at a fixed
time, with the canonical request, string to sign and signature botocore
computed, as the wire would carry them (encoded path, raw query, headers).

Run with Debian's python3 and its python3-botocore (the version the header
names):

    /usr/bin/python3 tests/unit/gen_sigv4_vectors.py > tests/unit/sigv4_vectors.h
"""
import calendar
import datetime
import hashlib
import json
import sys
import types
from urllib.parse import quote, urlsplit

import botocore
import botocore.auth
import botocore.awsrequest
import botocore.credentials

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+token/with+base64=="
FIXED = (2024, 1, 2, 3, 4, 5)
ENDPOINT = "http://localhost:4566"


class FixedDatetime(datetime.datetime):
    """botocore reads the signing time from datetime.datetime.utcnow()."""

    @classmethod
    def utcnow(cls):
        return cls(*FIXED)


botocore.auth.datetime = types.SimpleNamespace(datetime=FixedDatetime)
FIXED_EPOCH = calendar.timegm(FixedDatetime(*FIXED).timetuple())


def sign(name, signer_cls, service, method, url, headers=(), data=b"", params=None,
         token=None, expires=None, region="us-east-1"):
    creds = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY, token)
    if expires is not None:
        signer = signer_cls(creds, service, region, expires=expires)
    else:
        signer = signer_cls(creds, service, region)
    captured = {}

    def capture(method_name):
        orig = getattr(signer, method_name)

        def wrapper(*args):
            captured[method_name] = orig(*args)
            return captured[method_name]

        setattr(signer, method_name, wrapper)

    for m in ("canonical_request", "string_to_sign", "signature"):
        capture(m)
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=data, params=params)
    for k, v in headers:
        req.headers[k] = v  # HTTPHeaders appends: repeated names stay repeated
    signer.add_auth(req)
    prepared = req.prepare()
    parts = urlsplit(prepared.url)
    # The request's own headers keep repeated names; prepare() adds
    # Content-Length (unsigned, as on the wire).
    wire = list(req.headers.items())
    wire += [(k, v) for k, v in prepared.headers.items()
             if not any(k.lower() == w.lower() for w, _ in wire)]
    if not any(k.lower() == "host" for k, _ in wire):
        wire.insert(0, ("Host", botocore.auth._host_from_url(prepared.url)))
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    return {
        "name": name,
        "method": method,
        "path": parts.path,
        "query": parts.query,
        "headers": wire,
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "now": FIXED_EPOCH + 60,
        "canonical_request": captured["canonical_request"],
        "string_to_sign": captured["string_to_sign"],
        "signature": captured["signature"],
    }


def s3_key_url(bucket, key, query=""):
    # botocore's rest-xml serializer quotes the key with safe='/~'.
    return f"{ENDPOINT}/{bucket}/{quote(key, safe='/~')}" + (f"?{query}" if query else "")


VECTORS = [
    sign("s3_put_special_key", botocore.auth.S3SigV4Auth, "s3", "PUT",
         s3_key_url("my-bucket", "dir one/ünïcødé file +&=@$,;!'()*~.txt"),
         headers=[("Content-Type", "text/plain"),
                  ("x-amz-meta-note", "  spaced    out\tvalue  "),
                  ("x-amz-meta-multi", "first"),
                  ("x-amz-meta-multi", "second")],
         data=b"hello, world\n"),
    sign("s3_get_repeated_query", botocore.auth.S3SigV4Auth, "s3", "GET",
         f"{ENDPOINT}/my-bucket?versions&prefix=a%20b%2Fc&key-marker=&delimiter=%2F"
         "&tag=z&tag=a&encoding-type=url"),
    sign("s3_list_params", botocore.auth.S3SigV4Auth, "s3", "GET",
         f"{ENDPOINT}/my-bucket",
         params=[("list-type", "2"), ("prefix", "photos/2024 ünï"), ("start-after", ""),
                 ("max-keys", "10"), ("continuation-token", "a+b/c=")]),
    sign("s3_put_session_token", botocore.auth.S3SigV4Auth, "s3", "PUT",
         s3_key_url("bucket.with.dots", "a//double/./dot/../key"),
         headers=[("x-amz-storage-class", "STANDARD")], data=b"x" * 100, token=TOKEN),
    sign("s3_presigned_get", botocore.auth.S3SigV4QueryAuth, "s3", "GET",
         s3_key_url("my-bucket", "photos/2024/a b+c.jpg",
                    "response-content-disposition=attachment%3B%20filename%3D%22a%20b.jpg%22"),
         expires=3600),
    sign("s3_presigned_put_token", botocore.auth.S3SigV4QueryAuth, "s3", "PUT",
         s3_key_url("my-bucket", "upload.bin"),
         headers=[("Content-Type", "application/octet-stream")], token=TOKEN, expires=600),
    sign("kinesis_json11_put_record", botocore.auth.SigV4Auth, "kinesis", "POST",
         f"{ENDPOINT}/",
         headers=[("Content-Type", "application/x-amz-json-1.1"),
                  ("X-Amz-Target", "Kinesis_20131202.PutRecord")],
         data=json.dumps({"StreamName": "clicks", "Data": "aGVsbG8=",
                          "PartitionKey": "user-1"}).encode()),
    sign("dynamodb_json10_token", botocore.auth.SigV4Auth, "dynamodb", "POST",
         f"{ENDPOINT}/",
         headers=[("Content-Type", "application/x-amz-json-1.0"),
                  ("X-Amz-Target", "DynamoDB_20120810.GetItem")],
         data=b'{"TableName":"t","Key":{"pk":{"S":"a"}}}', token=TOKEN, region="eu-west-3"),
    sign("lambda_rest_json_encoded_path", botocore.auth.SigV4Auth, "lambda", "POST",
         f"{ENDPOINT}/2015-03-31/functions/{quote('my func:prod', safe='')}/invocations",
         headers=[("X-Amz-Invocation-Type", "Event"), ("Content-Type", "application/json")],
         data=b'{"k": "v"}'),
    sign("non_s3_path_normalized", botocore.auth.SigV4Auth, "execute-api", "GET",
         f"{ENDPOINT}/a/./b//c/../d%20e/"),
    sign("sqs_query_form_post", botocore.auth.SigV4Auth, "sqs", "POST",
         f"{ENDPOINT}/",
         headers=[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
         data=b"Action=SendMessage&MessageBody=hello%20world&QueueUrl=http%3A%2F%2Flocalhost"
              b"%3A4566%2F000000000000%2Fq&Version=2012-11-05"),
    sign("iam_query_get_repeated_empty", botocore.auth.SigV4Auth, "iam", "GET",
         f"{ENDPOINT}/?Version=2010-05-08&Action=ListUsers&Marker=&Tag=b&Tag=a&Flag"
         "&PathPrefix=%2Fdivision%2F"),
    sign("sts_date_header", botocore.auth.SigV4Auth, "sts", "POST",
         f"{ENDPOINT}/",
         headers=[("Date", "Mon, 01 Jan 2024 00:00:00 GMT"),
                  ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
         data=b"Action=GetCallerIdentity&Version=2011-06-15"),
    sign("sts_presigned_get_caller_identity", botocore.auth.SigV4QueryAuth, "sts", "GET",
         f"{ENDPOINT}/?Action=GetCallerIdentity&Version=2011-06-15", expires=60),
]


def c_string(s):
    """A C string literal, split into lines at newlines; bytes outside
    printable ASCII as octal escapes."""
    if s is None:
        return "NULL"
    if isinstance(s, str):
        s = s.encode("utf-8")
    out, line = [], ""
    for b in s:
        ch = chr(b)
        if ch == "\\":
            line += "\\\\"
        elif ch == '"':
            line += '\\"'
        elif ch == "\n":
            line += "\\n"
            out.append(line)
            line = ""
            continue
        elif ch == "\t":
            line += "\\t"
        elif 32 <= b < 127:
            line += ch
        else:
            line += "\\%03o" % b
        if len(line) > 80:
            out.append(line)
            line = ""
    if line or not out:
        out.append(line)
    return "\n            ".join(f'"{x}"' for x in out)


def main():
    w = sys.stdout.write
    w("/* Generated by tests/unit/gen_sigv4_vectors.py with botocore %s; do not edit.\n"
      " * Requests signed by botocore's SigV4 signers at %s, as they travel on the\n"
      " * wire, with the canonical request, string to sign and signature botocore\n"
      " * computed. Credentials: %s / %s. */\n"
      % (botocore.__version__, "%04d-%02d-%02dT%02d:%02d:%02dZ" % FIXED, ACCESS_KEY, SECRET_KEY))
    w("#ifndef SIGV4_VECTORS_H\n#define SIGV4_VECTORS_H\n\n")
    w('#include "aws/sigv4.h"\n\n')
    w("#define SIGV4_VECTOR_ACCESS_KEY %s\n" % c_string(ACCESS_KEY))
    w("#define SIGV4_VECTOR_SECRET_KEY %s\n" % c_string(SECRET_KEY))
    w("#define SIGV4_VECTOR_TOKEN %s\n\n" % c_string(TOKEN))
    w("struct sigv4_vector {\n"
      "    const char *name;\n"
      "    const char *method;\n"
      "    const char *path;  /* as on the wire */\n"
      "    const char *query; /* as on the wire, without '?' */\n"
      "    struct sl_sigv4_header headers[12];\n"
      "    size_t nheaders;\n"
      "    const char *body_sha256;\n"
      "    long long now; /* a minute after signing */\n"
      "    const char *canonical_request;\n"
      "    const char *string_to_sign;\n"
      "    const char *signature;\n"
      "};\n\n")
    w("static const struct sigv4_vector sigv4_vectors[] = {\n")
    for v in VECTORS:
        assert len(v["headers"]) <= 12
        w("    {\n")
        w("        .name = %s,\n" % c_string(v["name"]))
        w("        .method = %s,\n" % c_string(v["method"]))
        w("        .path = %s,\n" % c_string(v["path"]))
        w("        .query = %s,\n" % c_string(v["query"]))
        w("        .headers = {\n")
        for k, val in v["headers"]:
            w("            {%s, %s},\n" % (c_string(k), c_string(val)))
        w("        },\n")
        w("        .nheaders = %d,\n" % len(v["headers"]))
        w("        .body_sha256 = %s,\n" % c_string(v["body_sha256"]))
        w("        .now = %dLL,\n" % v["now"])
        w("        .canonical_request =\n            %s,\n" % c_string(v["canonical_request"]))
        w("        .string_to_sign =\n            %s,\n" % c_string(v["string_to_sign"]))
        w("        .signature = %s,\n" % c_string(v["signature"]))
        w("    },\n")
    w("};\n\n#endif\n")


if __name__ == "__main__":
    main()
