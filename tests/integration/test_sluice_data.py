"""sluice_data, the Parquet module every Python function in Sluice can
import (runtimes/python/sluice_data, over libsluice_data.so): a function
writes rows of every type to S3 and the independent reader hyparquet
(tests/node/parquet_check.mjs) reads them as written; a function reads a
file hyparquet-writer wrote; and, in this process, values of every type
make the round trip through a local file, with the errors a caller gets."""
import base64
import datetime
import decimal
import json
import math
import os
import subprocess
import sys

import pytest

from conftest import ROLE, ROOT, SLUICE, invoke, make_zip, unique_name

NODE_DIR = os.path.join(ROOT, "tests", "node")
UTC = datetime.timezone.utc

# The rows the function writes, made the same way here to check them.
ROWS_SOURCE = r'''
import datetime, decimal
UTC = datetime.timezone.utc
IST = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
N = 500
SCHEMA = [("id", "bigint", True), ("n", "int"), ("ratio", "float"), ("score", "double"),
          ("name", "string"), ("flag", "boolean"), ("blob", "binary"), ("day", "date"),
          ("at", "timestamp"), ("at_us", "timestamp_us"), ("price", "decimal(9,2)"),
          {"Name": "big", "Type": "decimal(18,4)"}]

def row(i):
    null = i % 7 == 3
    return {
        "id": i * 1000003 - 7,
        "n": None if null else i - 250,
        "ratio": None if null else i / 4,
        "score": i * 1.5 - 7.25,
        "name": None if i % 11 == 5 else f"név-{i % 23}-✓ 日本 🚀",
        "flag": None if null else i % 3 == 0,
        "blob": None if null else f"b{i % 5}".encode(),
        "day": None if null else (datetime.date(1969, 12, 31) + datetime.timedelta(days=i * 40)),
        # (A zone of +05:30: written as the same instant in UTC.)
        "at": datetime.datetime(2024, 3, 1 + i % 28, i % 24, i % 60, i % 60, (i % 1000) * 1000,
                                tzinfo=IST),
        "at_us": None if null else datetime.datetime(2024, 3, 1, 0, 0, i % 60, i * 37 % 1000000,
                                                     tzinfo=UTC),
        "price": None if null else decimal.Decimal(i - 250).scaleb(-2),
        "big": decimal.Decimal(i * 123456789).scaleb(-4),
    }

def inferred_row(i):
    """Values whose schema write_parquet infers."""
    return {"id": i, "mixed": i if i % 2 else i + 0.5, "name": f"ü{i}", "ok": i % 2 == 0,
            "raw": bytes([i % 256, 0, 255]), "day": datetime.date(2024, 1, 1),
            "at": datetime.datetime(2024, 1, 1, 12, tzinfo=UTC) + datetime.timedelta(seconds=i),
            "price": decimal.Decimal("12.5") if i % 2 else decimal.Decimal("-1234.25"),
            "nothing": None}
'''

HANDLER = r'''
import datetime
import os
import sluice_data
from rows import N, SCHEMA, row, inferred_row

def plain(v):
    """A value as JSON can carry it back to the test."""
    if isinstance(v, (datetime.date, datetime.datetime)):
        return [type(v).__name__, v.isoformat()]
    if isinstance(v, bytes):
        return ["bytes", v.hex()]
    if not isinstance(v, (str, int, float, bool, type(None))):
        return [type(v).__name__, str(v)]
    return v

def write(event, context):
    bucket = event["bucket"]
    rows = [row(i) for i in range(N)]
    sluice_data.write_parquet((row(i) for i in range(N)), f"s3://{bucket}/typed.parquet",
                              schema=SCHEMA, codec=event["codec"], row_group_rows=128)
    sluice_data.write_parquet([inferred_row(i) for i in range(10)],
                              f"s3://{bucket}/inferred.parquet")
    back = sluice_data.read_parquet(f"s3://{bucket}/typed.parquet")
    return {
        "same": back == rows,
        "first": {k: plain(v) for k, v in back[0].items()},
        "schema": sluice_data.parquet_schema(f"s3://{bucket}/typed.parquet"),
        "inferred": sluice_data.parquet_schema(f"s3://{bucket}/inferred.parquet"),
        "library": sluice_data._library()._name,
        "runtime_dir": os.environ["LAMBDA_RUNTIME_DIR"],
    }

def read(event, context):
    url = f"s3://{event['bucket']}/{event['key']}"
    return {"schema": sluice_data.parquet_schema(url),
            "rows": [{k: plain(v) for k, v in r.items()} for r in sluice_data.read_parquet(url)]}
'''


def rows_module():
    ns = {}
    exec(compile(ROWS_SOURCE, "rows.py", "exec"), ns)
    return ns


def node(*args):
    p = subprocess.run(["/usr/bin/node", "parquet_check.mjs", *args], capture_output=True,
                       text=True, cwd=NODE_DIR, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def create_function(lam, handler):
    name = unique_name("pqdata")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler=handler,
                        Timeout=60, MemorySize=256,
                        Code={"ZipFile": make_zip({"app.py": (HANDLER, 0o644),
                                                   "rows.py": (ROWS_SOURCE, 0o644)})})
    return name


def ms_iso(t):
    """A datetime as hyparquet prints it (a JavaScript Date: milliseconds)."""
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def as_hyparquet(r):
    """A row of ROWS_SOURCE as hyparquet reads it: INT64 as text, dates and
    timestamps as Dates, decimals as numbers, binary as text."""
    day = r["day"]
    return {
        "id": str(r["id"]), "n": r["n"], "ratio": r["ratio"], "score": r["score"],
        "name": r["name"], "flag": r["flag"],
        "blob": None if r["blob"] is None else r["blob"].decode(),
        "day": None if day is None else day.isoformat() + "T00:00:00.000Z",
        "at": ms_iso(r["at"]),
        "at_us": None if r["at_us"] is None else ms_iso(r["at_us"]),
        "price": None if r["price"] is None else float(r["price"]),
        "big": float(r["big"]),
    }


@pytest.mark.parametrize("codec", ["snappy", "zstd"])
def test_function_writes_parquet_to_s3(lam, s3, bucket, tmp_path, codec):
    """A Python function imports sluice_data and writes rows of every type
    (nulls, unicode, dates before 1970, timestamps in a zone and in µs,
    decimals) to s3://; hyparquet reads each value as it was given, with
    Parquet's logical types; the function reads the same rows back."""
    name = create_function(lam, "app.write")
    r, out = invoke(lam, name, {"bucket": bucket, "codec": codec})
    assert "FunctionError" not in r, out
    assert out["same"] is True, out["first"]
    # (The library Sluice's runtimes directory holds, as the function sees it.)
    assert out["library"] == out["runtime_dir"] + "/python/sluice_data/libsluice_data.so"
    m = rows_module()
    assert out["schema"] == [list(c[:2]) if isinstance(c, tuple) else [c["Name"], c["Type"]]
                             for c in m["SCHEMA"]]

    path = tmp_path / "typed.parquet"
    path.write_bytes(s3.get_object(Bucket=bucket, Key="typed.parquet")["Body"].read())
    got = node("read", str(path))
    assert len(got) == m["N"]
    for i in range(m["N"]):
        want = as_hyparquet(m["row"](i))
        for k, v in want.items():
            if isinstance(v, float):
                assert got[i][k] == pytest.approx(v, rel=1e-7), (i, k)
            else:
                assert got[i][k] == v, (i, k, got[i][k], v)
    cols = {c["name"]: c for c in node("schema", str(path))["columns"]}
    assert cols["id"]["type"] == "INT64" and cols["id"]["repetition_type"] == "REQUIRED"
    assert cols["n"]["type"] == "INT32" and cols["n"]["repetition_type"] == "OPTIONAL"
    assert cols["name"]["logical_type"] == {"type": "STRING"}
    assert cols["price"]["logical_type"] == {"type": "DECIMAL", "scale": 2, "precision": 9}
    assert cols["big"]["logical_type"] == {"type": "DECIMAL", "scale": 4, "precision": 18}
    assert cols["day"]["logical_type"] == {"type": "DATE"}
    assert cols["at"]["logical_type"] == {"type": "TIMESTAMP", "isAdjustedToUTC": True,
                                          "unit": "MILLIS"}
    assert cols["at_us"]["logical_type"]["unit"] == "MICROS"
    assert cols["blob"]["type"] == "BYTE_ARRAY" and "logical_type" not in cols["blob"]

    # The schema inferred from Python's values, as hyparquet reads the file.
    assert out["inferred"] == [["id", "bigint"], ["mixed", "double"], ["name", "string"],
                               ["ok", "boolean"], ["raw", "binary"], ["day", "date"],
                               ["at", "timestamp"], ["price", "decimal(6,2)"],
                               ["nothing", "string"]]
    path = tmp_path / "inferred.parquet"
    path.write_bytes(s3.get_object(Bucket=bucket, Key="inferred.parquet")["Body"].read())
    got = node("read", str(path))
    assert [r["mixed"] for r in got] == [i if i % 2 else i + 0.5 for i in range(10)]
    assert [r["price"] for r in got[:2]] == [-1234.25, 12.5]
    assert got[3]["at"] == "2024-01-01T12:00:03.000Z" and got[3]["nothing"] is None
    assert got[3]["id"] == "3" and got[3]["name"] == "ü3" and got[3]["ok"] is False


def test_function_reads_parquet_from_s3(lam, s3, bucket, tmp_path):
    """A Python function reads with sluice_data a file hyparquet-writer
    wrote (several row groups, nulls, INT32, INT64, strings, doubles,
    booleans, timestamps): Python's ints, floats, bools, str, None and
    datetimes in UTC."""
    path = tmp_path / "hw.parquet"
    subprocess.run(["/usr/bin/node", "parquet_check.mjs", "write-hw", str(path)], check=True,
                   cwd=NODE_DIR, timeout=120)
    s3.put_object(Bucket=bucket, Key="in/hw.parquet", Body=path.read_bytes())
    name = create_function(lam, "app.read")
    r, out = invoke(lam, name, {"bucket": bucket, "key": "in/hw.parquet"})
    assert "FunctionError" not in r, out
    assert out["schema"] == [["id", "int"], ["big", "bigint"], ["name", "string"],
                             ["score", "double"], ["ok", "boolean"], ["at", "timestamp"]]
    assert len(out["rows"]) == 300
    for i, row in enumerate(out["rows"]):
        at = datetime.datetime(2024, 1, 1, tzinfo=UTC) + datetime.timedelta(seconds=i)
        assert row == {"id": i, "big": i * 10000000000,
                       "name": None if i % 9 == 4 else f"row-{i % 17}",
                       "score": i * 0.5, "ok": i % 3 == 0,
                       "at": ["datetime", at.isoformat()]}, i


# ---- in this process ----------------------------------------------------------------

@pytest.fixture(scope="module")
def sd():
    """sluice_data from runtimes/python, on the library of the build under
    test (beside its sluice)."""
    lib = os.path.join(os.path.dirname(SLUICE), "libsluice_data.so")
    assert os.path.exists(lib), f"{lib}: not built"
    old = os.environ.get("SLUICE_DATA_LIBRARY")
    os.environ["SLUICE_DATA_LIBRARY"] = lib
    sys.path.insert(0, os.path.join(ROOT, "runtimes", "python"))
    try:
        import sluice_data
        sluice_data._lib = None  # (loaded again, from lib)
        sluice_data._library()
        yield sluice_data
    finally:
        sys.path.remove(os.path.join(ROOT, "runtimes", "python"))
        if old is None:
            del os.environ["SLUICE_DATA_LIBRARY"]
        else:
            os.environ["SLUICE_DATA_LIBRARY"] = old


EDGE_SCHEMA = [{"Name": "i", "Type": "int", "Required": True}, ("b", "bigint"), ("f", "float"),
               ("d", "double"), ("s", "string"), ("raw", "binary"), ("day", "date"),
               ("ms", "timestamp"), ("us", "timestamp_us"), ("small", "decimal(1,0)"),
               ("wide", "decimal(18,0)"), ("frac", "decimal(18,18)"), ("ok", "boolean", False)]
EDGE_ROWS = [
    {"i": -2**31, "b": -2**63, "f": 1.5, "d": math.inf, "s": "", "raw": b"", "ok": True,
     "day": datetime.date(1, 1, 1), "ms": datetime.datetime(1, 1, 1, tzinfo=UTC),
     "us": datetime.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
     "small": decimal.Decimal("-9"), "wide": decimal.Decimal("999999999999999999"),
     "frac": decimal.Decimal("-0.999999999999999999")},
    {"i": 2**31 - 1, "b": 2**63 - 1, "f": -math.inf, "d": -0.0, "s": "nul\x00inside ☃",
     "raw": bytes(range(256)), "ok": False, "day": datetime.date(9999, 12, 31),
     "ms": datetime.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
     "us": datetime.datetime(2024, 2, 29, 12, 0, 0, 1, tzinfo=UTC),
     "small": decimal.Decimal(0), "wide": decimal.Decimal(-1), "frac": decimal.Decimal("1E-18")},
    {"i": 0},
]


@pytest.mark.parametrize("codec", [None, "snappy", "gzip", "zstd"])
def test_local_round_trip(sd, tmp_path, codec):
    """Every type's extremes (32- and 64-bit limits, the infinities, NUL in
    text, every byte, years 1 and 9999, a microsecond before the epoch,
    decimals of 1 and 18 digits) come back as they went, through a local
    file, in one row group or several; a column's missing key is a null."""
    path = tmp_path / "edge.parquet"
    rows = EDGE_ROWS * 40
    assert sd.write_parquet(rows, path, schema=EDGE_SCHEMA, codec=codec, row_group_rows=7) is None
    back = sd.read_parquet(str(path))
    names = [c["Name"] if isinstance(c, dict) else c[0] for c in EDGE_SCHEMA]
    assert back == [{n: r.get(n) for n in names} for r in rows]
    assert math.copysign(1, back[1]["d"]) == -1
    assert sd.parquet_schema(path) == [(n, c["Type"] if isinstance(c, dict) else c[1])
                                       for n, c in zip(names, EDGE_SCHEMA)]
    # NaN (which equals nothing) and the bytes of a file instead of a path.
    data = sd.write_parquet([{"x": math.nan}, {"x": 2.0}], schema=[("x", "double")], codec=codec)
    assert data[:4] == b"PAR1"
    x = [r["x"] for r in sd.read_parquet(data)]
    assert math.isnan(x[0]) and x[1] == 2.0


def test_local_inferred_values(sd):
    """Without a schema: Python's types give the columns' (a tz-aware
    datetime in UTC, microseconds keep timestamp_us, a naive datetime is
    UTC, ints and floats mixed are doubles, ints and Decimals a decimal
    wide enough), and the values come back as given."""
    ist = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    rows = [{"at": datetime.datetime(2024, 5, 1, 12, 0, 0, 250, tzinfo=ist),
             "naive": datetime.datetime(2024, 5, 1, 12, 0), "n": 1, "dec": 7},
            {"at": None, "naive": datetime.datetime(2024, 5, 2), "n": 2.5,
             "dec": decimal.Decimal("-0.125"), "when": datetime.date(2024, 1, 31)},
            {"dec": decimal.Decimal("123.1"), "when": datetime.datetime(2024, 2, 1, 6, tzinfo=UTC)}]
    assert sd.infer_schema(rows) == [("at", "timestamp_us"), ("naive", "timestamp"),
                                     ("n", "double"), ("dec", "decimal(6,3)"),
                                     ("when", "timestamp")]
    back = sd.read_parquet(sd.write_parquet(rows))
    assert back[0]["at"] == rows[0]["at"] and back[0]["at"].tzinfo == UTC
    assert back[0]["naive"] == datetime.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert [r["n"] for r in back] == [1.0, 2.5, None]
    assert [r["dec"] for r in back] == [decimal.Decimal("7.000"), decimal.Decimal("-0.125"),
                                        decimal.Decimal("123.100")]
    assert [r["when"] for r in back] == [None, datetime.datetime(2024, 1, 31, tzinfo=UTC),
                                         datetime.datetime(2024, 2, 1, 6, tzinfo=UTC)]
    assert sd.read_parquet(sd.write_parquet([], schema=[("a", "string")])) == []


def test_local_errors(sd, tmp_path):
    """What cannot be written says which row and column, and nothing is
    written; what is not Parquet says so."""
    path = tmp_path / "bad.parquet"
    with pytest.raises(sd.ParquetError, match=r"row 1: column a is required"):
        sd.write_parquet([{"a": 1}, {"a": None}], path, schema=[("a", "int", True)])
    with pytest.raises(sd.ParquetError, match=r"row 0: column a: .*not an integer"):
        sd.write_parquet([{"a": "x"}], path, schema=[("a", "bigint")])
    with pytest.raises(sd.ParquetError, match=r"row 0: column a: .*32 bits"):
        sd.write_parquet([{"a": 2**31}], path, schema=[("a", "int")])
    with pytest.raises(sd.ParquetError, match=r"row 0: column p"):
        sd.write_parquet([{"p": decimal.Decimal("1.005")}], path, schema=[("p", "decimal(9,2)")])
    with pytest.raises(sd.ParquetError, match=r"row 0: column d: a datetime"):
        sd.write_parquet([{"d": datetime.datetime(2024, 1, 1)}], path, schema=[("d", "date")])
    with pytest.raises(sd.ParquetError, match=r"unknown type 'varchar\(9\)'"):
        sd.write_parquet([], path, schema=[("a", "varchar(9)")])
    with pytest.raises(TypeError, match="column a has both bigint and string"):
        sd.write_parquet([{"a": 1}, {"a": "1"}], path)
    with pytest.raises(ValueError, match="19 digits"):
        sd.write_parquet([{"a": decimal.Decimal("1234567890.123456789")}], path)
    with pytest.raises(sd.ParquetError, match="unknown codec 'lz4'"):
        sd.write_parquet([{"a": 1}], path, codec="lz4")
    assert not path.exists()
    with pytest.raises(sd.ParquetError, match="not a Parquet file"):
        sd.read_parquet(b"id,name\n1,a\n")
    with pytest.raises(ValueError, match="s3://bucket/key"):
        sd.read_parquet("s3://only-a-bucket")
