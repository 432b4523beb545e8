"""csv-to-json: runs when a CSV file lands under raw/ in a bucket.

Reads the file with boto3 (no endpoint argument: Sluice gives every
function AWS_ENDPOINT_URL), checks each row against a small schema, and
writes the valid rows as JSON Lines under curated/ and the rejected ones,
each with the reason, under rejected/. raw/orders/2024-05.csv becomes
curated/orders/2024-05.jsonl and rejected/orders/2024-05.jsonl.
"""

import csv
import datetime
import io
import json
import urllib.parse

import boto3

s3 = boto3.client("s3")


def as_int(v):
    return int(v)


def as_amount(v):
    x = float(v)
    if x < 0:
        raise ValueError("must not be negative")
    return round(x, 2)


def as_date(v):
    return datetime.date.fromisoformat(v).isoformat()


def as_text(v):
    if not v.strip():
        raise ValueError("must not be empty")
    return v.strip()


# column -> how to check and convert it
SCHEMA = {"order_id": as_int, "customer": as_text, "amount": as_amount, "date": as_date}


def check(row):
    """The row converted, or raises ValueError naming the bad column."""
    missing = [c for c in SCHEMA if row.get(c) in (None, "")]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    out = {}
    for column, convert in SCHEMA.items():
        try:
            out[column] = convert(row[column])
        except ValueError as e:
            raise ValueError(f"{column}: {row[column]!r} {e}") from None
    return out


def handler(event, context):
    done = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8-sig")
        valid, rejected = [], []
        for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            try:
                valid.append(check(row))
            except ValueError as e:
                rejected.append({"line": line, "row": row, "reason": str(e)})
        name = key[len("raw/"):].rsplit(".", 1)[0] + ".jsonl"
        s3.put_object(Bucket=bucket, Key="curated/" + name,
                      Body="".join(json.dumps(r) + "\n" for r in valid).encode(),
                      ContentType="application/x-ndjson")
        if rejected:
            s3.put_object(Bucket=bucket, Key="rejected/" + name,
                          Body="".join(json.dumps(r) + "\n" for r in rejected).encode(),
                          ContentType="application/x-ndjson")
        print(f"{key}: {len(valid)} valid, {len(rejected)} rejected")
        done.append({"key": key, "valid": len(valid), "rejected": len(rejected)})
    return done
