"""STS through the real clients. GetCallerIdentity, what the aws CLI and
most tools call first, answers with the account of the caller's access key
(the account's root user, as AWS answers for an account's own keys), in the
query protocol's XML; a request with a bad signature or an unknown key gets
STS's own error."""

import json

from conftest import OTHER_ACCOUNT, OTHER_KEY, OTHER_SECRET, aws_cli, client, client_error, raw


def test_get_caller_identity_aws_cli(server):
    """`aws sts get-caller-identity` prints the caller's account."""
    out = aws_cli(server.endpoint, "sts", "get-caller-identity", "--output", "json").stdout
    assert json.loads(out) == {"UserId": "000000000000", "Account": "000000000000",
                               "Arn": "arn:aws:iam::000000000000:root"}


def test_get_caller_identity_boto3(server):
    """boto3's get_caller_identity, with STS's request id."""
    r = client("sts", server.endpoint).get_caller_identity()
    assert (r["Account"], r["UserId"], r["Arn"]) == \
        ("000000000000", "000000000000", "arn:aws:iam::000000000000:root")
    assert len(r["ResponseMetadata"]["RequestId"]) == 36


def test_get_caller_identity_is_the_keys_account(strict):
    """Under --auth=strict each key's account_id is who the caller is."""
    assert client("sts", strict.endpoint).get_caller_identity()["Account"] == "000000000000"
    other = client("sts", strict.endpoint, access_key=OTHER_KEY, secret_key=OTHER_SECRET)
    r = other.get_caller_identity()
    assert r["Account"] == OTHER_ACCOUNT
    assert r["Arn"] == f"arn:aws:iam::{OTHER_ACCOUNT}:root"


def test_bad_signature_gets_sts_error(strict):
    """A wrong secret is 403 SignatureDoesNotMatch, in STS's ErrorResponse;
    a key Sluice does not know is 403 InvalidClientTokenId."""
    bad = client("sts", strict.endpoint, secret_key="wrong-secret")
    r = client_error(bad.get_caller_identity)
    assert r["Error"]["Code"] == "SignatureDoesNotMatch"
    assert r["Error"]["Type"] == "Sender"
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 403
    unknown = client("sts", strict.endpoint, access_key="AKIDUNKNOWN")
    r = client_error(unknown.get_caller_identity)
    assert r["Error"]["Code"] == "InvalidClientTokenId"
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 403
    p = aws_cli(strict.endpoint, "sts", "get-caller-identity", check=False,
                env={"AWS_SECRET_ACCESS_KEY": "wrong-secret"})
    assert p.returncode != 0 and "SignatureDoesNotMatch" in p.stderr
    assert "Traceback" not in p.stderr


def test_sts_operations_not_implemented(server):
    """An STS operation Sluice does not implement yet is the query
    protocol's InvalidAction; one STS does not have, too."""
    r = client_error(client("sts", server.endpoint).get_session_token)
    assert r["Error"]["Code"] == "InvalidAction"
    resp, body = raw(server, "POST", "/", b"Action=NoSuchThing&Version=2011-06-15",
                     {"Content-Type": "application/x-www-form-urlencoded",
                     "X-Amz-Date": "20240101T000000Z",
                      "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/"
                                       "aws4_request, SignedHeaders=host, Signature=" + "0" * 64})
    assert resp.status == 400 and b"<Code>InvalidAction</Code>" in body
