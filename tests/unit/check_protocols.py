#!/usr/bin/python3
"""Has Debian's botocore judge Sluice's protocol layer (ctest
protocols_parsed_by_botocore).

1. `test_protocol --emit` writes an answer and an error of a sample
   operation of each protocol (rest-xml, rest-json, json 1.0 and 1.1,
   query); botocore's own parser for that protocol must read back exactly
   the output or the error that was written.
2. botocore's query serializer writes requests (nested structures, wrapped
   and flattened lists, flattened maps, numbers, booleans);
   `test_protocol --decode` must read back exactly the parameters given.

Usage: check_protocols.py PATH/TO/test_protocol
"""

import base64
import datetime
import json
import subprocess
import sys

import botocore.awsrequest
import botocore.parsers
import botocore.serialize
import botocore.session

SESSION = botocore.session.get_session()
RID = "11111111-2222-3333-4444-555555555555"


def op_model(service, op):
    return SESSION.get_service_model(service).operation_model(op)


def ts(s):
    return datetime.datetime.fromtimestamp(s, datetime.timezone.utc)


# What botocore must read from each sample (test_protocol.c's samples).
EXPECTED = {
    "rest-json success": {"StatusCode": 200, "FunctionError": "Unhandled", "LogResult": "bG9n",
                          "ExecutedVersion": "$LATEST", "Payload": b'{"errorMessage":"boom"}'},
    "rest-json success, JSON body": {"ReservedConcurrentExecutions": 7},
    "rest-json error": {"Error": {"Code": "TooManyRequestsException",
                                  "Message": "what went wrong"},
                        "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                        "Type": "User"},
    "json 1.1 success": {"logGroups": [{"logGroupName": "/aws/lambda/f",
                                        "creationTime": 1700000000000, "storedBytes": 42}],
                         "nextToken": "t"},
    "json 1.1 error": {"Error": {"Code": "ResourceNotFoundException",
                                 "Message": "what went wrong"}},
    "json 1.0 success": {"Streams": [{
        "StreamArn": "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/"
                     "2024-01-01T00:00:00.000",
        "TableName": "t", "StreamLabel": "2024-01-01T00:00:00.000"}],
        "LastEvaluatedStreamArn": "x"},
    "json 1.0 error": {"Error": {"Code": "ResourceNotFoundException",
                                 "Message": "what went wrong"},
                       "message": "what went wrong"},  # the modeled error's member
    "query success": {"UserId": "000000000000", "Account": "000000000000",
                      "Arn": "arn:aws:iam::000000000000:root"},
    "query success, nested and timestamps": {
        "Credentials": {"AccessKeyId": "AKID", "SecretAccessKey": "s<&>", "SessionToken": "t",
                        "Expiration": ts(1700000000)},
        "AssumedRoleUser": {"AssumedRoleId": "AROA:s",
                            "Arn": "arn:aws:sts::000000000000:assumed-role/r/s"},
        "PackedPolicySize": 6},
    "query success, flattened lists and maps": {"Messages": [
        {"MessageId": "m1", "ReceiptHandle": "r1", "MD5OfBody": "x", "Body": "hello",
         "Attributes": {"SenderId": "AIDA", "SentTimestamp": "1"},
         "MessageAttributes": {"color": {"StringValue": "red", "DataType": "String"}}},
        {"MessageId": "m2", "ReceiptHandle": "r2", "Body": "world"}]},
    "query success, wrapped list": {"QueueUrls": ["http://q/1", "http://q/2"]},
    "query error": {"Error": {"Code": "InvalidClientTokenId", "Message": "what went wrong",
                              "Type": "Sender"}},
    "rest-xml success": {"Buckets": [{"Name": "a", "CreationDate": ts(1700000000)},
                                     {"Name": "b", "CreationDate": datetime.datetime(
                                         2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)}],
                         "Owner": {"ID": "o", "DisplayName": "d"}},
    "rest-xml success, payload": {"CopyObjectResult": {"ETag": '"e"',
                                                       "LastModified": ts(1700000000)},
                                  "VersionId": "v"},
    "rest-xml error": {"Error": {"Code": "NoSuchKey", "Message": "what went wrong",
                                 "Key": "missing/key"}},
}

# Requests botocore's query serializer writes, for --decode to read back.
QUERY_REQUESTS = [
    ("sqs", "SendMessage", {
        "QueueUrl": "http://q", "MessageBody": "hi & bye", "DelaySeconds": 5,
        "MessageAttributes": {
            "color": {"DataType": "String", "StringValue": "red"},
            "n": {"DataType": "Number", "StringValue": "7"}}}),
    ("sqs", "ReceiveMessage", {
        "QueueUrl": "http://q", "AttributeNames": ["All", "VisibilityTimeout"],
        "MessageAttributeNames": ["color"], "MaxNumberOfMessages": 10, "WaitTimeSeconds": 20}),
    ("sqs", "SetQueueAttributes", {
        "QueueUrl": "http://q", "Attributes": {"VisibilityTimeout": "30", "DelaySeconds": "0"}}),
    ("sqs", "SendMessageBatch", {
        "QueueUrl": "http://q", "Entries": [
            {"Id": "1", "MessageBody": "a"},
            {"Id": "2", "MessageBody": "b", "DelaySeconds": 3,
             "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}]}),
    ("sts", "AssumeRole", {
        "RoleArn": "arn:aws:iam::000000000000:role/r", "RoleSessionName": "session",
        "DurationSeconds": 900, "Tags": [{"Key": "k", "Value": "v"}],
        "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/p"}], "TransitiveTagKeys": ["k"]}),
]


def plain(v):
    """A parsed value made comparable: streaming bodies read."""
    if hasattr(v, "read"):
        return v.read()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def check_answers(binary):
    out = subprocess.run([binary, "--emit"], capture_output=True, check=True, text=True)
    failures = []
    seen = set()
    for line in out.stdout.splitlines():
        s = json.loads(line)
        model = op_model(s["service"], s["op"])
        protocol = model.metadata["protocol"]
        response = {"status_code": s["status"],
                    "headers": botocore.awsrequest.HeadersDict(s["headers"]),
                    "body": s["body"].encode()}
        if s["service"] == "lambda" and s["op"] == "Invoke" and s["status"] < 300:
            # The payload member streams: botocore hands it over unread.
            import io
            import urllib3
            response["body"] = urllib3.response.HTTPResponse(
                body=io.BytesIO(response["body"]), preload_content=False)
        parser = botocore.parsers.create_parser(protocol)
        parsed = plain(parser.parse(response, model.output_shape))
        if s["status"] >= 300:
            # As botocore's endpoint does: the members of a modeled error.
            shape = model.service_model.shape_for_error_code(parsed["Error"]["Code"])
            if shape:
                parsed.update(plain(parser.parse(response, shape)))
        meta = parsed.pop("ResponseMetadata", {})
        if meta.get("RequestId") != RID:
            failures.append(f"{s['name']}: request id {meta.get('RequestId')!r}")
        want = EXPECTED[s["name"]]
        if parsed != want:
            failures.append(f"{s['name']}: botocore read\n  {parsed!r}\nnot\n  {want!r}")
        seen.add(s["name"])
    missing = set(EXPECTED) - seen
    if missing:
        failures.append(f"samples not emitted: {sorted(missing)}")
    return failures


def check_query_decoding(binary):
    failures = []
    for service, op, params in QUERY_REQUESTS:
        model = op_model(service, op)
        req = botocore.serialize.create_serializer("query").serialize_to_request(params, model)
        body = req["body"]
        if isinstance(body, dict):
            import urllib.parse
            body = urllib.parse.urlencode(body)
        out = subprocess.run([binary, "--decode", service, op], input=body.encode(),
                             capture_output=True, check=True)
        got = json.loads(out.stdout)
        if got != json.loads(json.dumps(params, sort_keys=True)):
            failures.append(f"{service} {op}: decoded\n  {got!r}\nfrom {body!r}\nnot\n  {params!r}")
    return failures


def main():
    binary = sys.argv[1]
    failures = check_answers(binary) + check_query_decoding(binary)
    for f in failures:
        print("FAIL", f)
    if failures:
        return 1
    print(f"ok: {len(EXPECTED)} answers read by botocore, {len(QUERY_REQUESTS)} query requests "
          "of botocore's decoded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
