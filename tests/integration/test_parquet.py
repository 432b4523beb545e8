"""Parquet files written by Sluice (`sluice parquet write`) and read by an
independent reader, the npm package hyparquet (with hyparquet-compressors):
every type, nulls, unicode, several row groups and pages, every codec,
data pages v1 and v2, PLAIN and dictionary encodings; and files written by
other writers (hyparquet-writer, @dsnp/parquetjs) read by Sluice
(`sluice parquet read`). Bad input gets an error that names it."""
import base64
import datetime
import json
import os
import subprocess

import pytest

from conftest import ROOT, SLUICE

NODE_DIR = os.path.join(ROOT, "tests", "node")
COLUMNS = ["id:bigint!", "n:int", "ratio:float", "score:double", "name:string", "flag:boolean",
           "blob:binary", "day:date", "at:timestamp", "at_us:timestamp_us", "price:decimal(9,2)",
           "big:decimal(18,4)"]
SCHEMA = ",".join(COLUMNS)
ROWS = 3000


def row(i):
    null = i % 7 == 3
    return {
        "id": i * 1000003,
        "n": None if null else i - 1500,
        "ratio": None if null else i / 4,
        "score": i * 1.5 - 7.25,
        "name": None if i % 11 == 5 else f"név-{i % 23}-✓",
        "flag": None if null else i % 3 == 0,
        "blob": base64.b64encode(f"b{i % 5}".encode()).decode(),
        "day": None if null else (datetime.date(2020, 1, 1) + datetime.timedelta(days=i)).isoformat(),
        "at": f"2024-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
        "at_us": None if null else f"2024-03-01T00:00:{i % 60:02d}.{i:06d}Z",
        "price": None if null else f"{(i - 1000) / 100:.2f}",
        "big": f"{i * 123456789 / 10000:.4f}",
    }


def sluice(*args, input=None, check=True):
    p = subprocess.run([SLUICE, "parquet", *args], input=input, capture_output=True, text=True,
                       timeout=120)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def node(*args):
    p = subprocess.run(["/usr/bin/node", "parquet_check.mjs", *args], capture_output=True,
                       text=True, cwd=NODE_DIR, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if p.stdout.strip() else None


@pytest.fixture(scope="module")
def rows_jsonl(tmp_path_factory):
    path = tmp_path_factory.mktemp("pq") / "rows.jsonl"
    path.write_text("".join(json.dumps(row(i), ensure_ascii=False) + "\n" for i in range(ROWS)))
    return path


def as_hyparquet(r):
    """A row as hyparquet gives it (BigInt as text, Dates as ISO, decimals as numbers)."""
    iso = lambda s: s if s is None else datetime.datetime.fromisoformat(
        s.replace("Z", "+00:00")).astimezone(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "id": str(r["id"]), "n": r["n"], "ratio": r["ratio"], "score": r["score"],
        "name": r["name"], "flag": r["flag"],
        "blob": base64.b64decode(r["blob"]).decode(),
        "day": None if r["day"] is None else r["day"] + "T00:00:00.000Z",
        "at": iso(r["at"]), "at_us": iso(r["at_us"]),
        "price": None if r["price"] is None else float(r["price"]),
        "big": float(r["big"]),
    }


@pytest.mark.parametrize("codec", ["none", "snappy", "gzip", "zstd"])
@pytest.mark.parametrize("v2", [False, True])
@pytest.mark.parametrize("dictionary", [False, True])
def test_sluice_writes_hyparquet_reads(tmp_path, rows_jsonl, codec, v2, dictionary):
    out = str(tmp_path / "out.parquet")
    args = ["write", "--schema", SCHEMA, "--codec", codec, "--row-group-rows", "1024",
            "--page-rows", "300", out]
    if v2:
        args.insert(1, "--page-v2")
    if dictionary:
        args.insert(1, "--dictionary")
    sluice(*args, input=rows_jsonl.read_text())
    got = node("read", out)
    assert len(got) == ROWS
    for i in (0, 1, 3, 5, 1023, 1024, 1025, ROWS - 1):
        want = as_hyparquet(row(i))
        for k, v in want.items():
            if isinstance(v, float):
                assert got[i][k] == pytest.approx(v, rel=1e-6), (i, k)
            else:
                assert got[i][k] == v, (i, k, got[i][k], v)
    # And Sluice's own reader gives back what went in.
    back = [json.loads(line) for line in sluice("read", out).stdout.splitlines()]
    assert len(back) == ROWS
    assert back[ROWS - 1]["name"] == row(ROWS - 1)["name"] and back[3]["n"] is None
    assert back[10]["price"] == row(10)["price"] and back[10]["at"] == row(10)["at"]


def test_schema_as_others_see_it(tmp_path, rows_jsonl):
    """The logical and converted types an independent reader sees."""
    out = str(tmp_path / "s.parquet")
    sluice("write", "--schema", SCHEMA, out, input=rows_jsonl.read_text())
    s = node("schema", out)
    assert s["rows"] == ROWS
    cols = {c["name"]: c for c in s["columns"]}
    assert cols["id"]["type"] == "INT64" and cols["id"]["repetition_type"] == "REQUIRED"
    assert cols["name"]["logical_type"] == {"type": "STRING"}
    assert cols["price"]["logical_type"] == {"type": "DECIMAL", "scale": 2, "precision": 9}
    assert cols["price"]["type"] == "INT32" and cols["big"]["type"] == "INT64"
    assert cols["day"]["logical_type"] == {"type": "DATE"}
    assert cols["at"]["logical_type"]["type"] == "TIMESTAMP"
    assert cols["at"]["logical_type"]["unit"] == "MILLIS"
    assert cols["at"]["logical_type"]["isAdjustedToUTC"] is True
    assert cols["at_us"]["logical_type"]["unit"] == "MICROS"
    assert cols["blob"]["type"] == "BYTE_ARRAY" and "logical_type" not in cols["blob"]
    ours = json.loads(sluice("read", "--schema", out).stdout)
    assert [f'{c["name"]}:{c["type"]}{"" if c["optional"] else "!"}'
            for c in ours["columns"]] == COLUMNS


@pytest.mark.parametrize("writer", ["write-hw", "write-pjs"])
def test_others_write_sluice_reads(tmp_path, writer):
    """Files of hyparquet-writer and @dsnp/parquetjs, read by Sluice."""
    path = str(tmp_path / f"{writer}.parquet")
    node(writer, path)
    rows = [json.loads(line) for line in sluice("read", path).stdout.splitlines()]
    assert len(rows) == 300
    for i, r in enumerate(rows):
        assert r["id"] == i and r["big"] == i * 10000000000
        assert r["name"] == (None if i % 9 == 4 else f"row-{i % 17}")
        assert r["score"] == i * 0.5 and r["ok"] == (i % 3 == 0)
        t = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=i)
        assert r["at"] == t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_errors(tmp_path):
    """A value of the wrong type names its line and column; a required
    column's null is refused; nothing is left behind; a file that is not
    Parquet is said to be so."""
    out = tmp_path / "bad.parquet"
    p = sluice("write", "--schema", "a:int!,b:date", str(out),
               input='{"a": 1, "b": "2024-01-01"}\n{"a": 2, "b": "yesterday"}\n', check=False)
    assert p.returncode == 1 and "line 2" in p.stderr and "column b" in p.stderr
    assert not out.exists()
    p = sluice("write", "--schema", "a:int!", str(out), input='{"a": null}\n', check=False)
    assert p.returncode == 1 and "column a is required" in p.stderr
    p = sluice("write", "--schema", "a:nosuchtype", str(out), input="", check=False)
    assert p.returncode == 2 and "unknown type" in p.stderr
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 this is not parquet at all PAR1")
    p = sluice("read", str(junk), check=False)
    assert p.returncode == 1 and "footer" in p.stderr
    empty = tmp_path / "empty.parquet"
    sluice("write", "--schema", "a:int", str(empty), input="")
    assert sluice("read", str(empty)).stdout == ""
    assert json.loads(sluice("read", "--schema", str(empty)).stdout)["rows"] == 0


@pytest.mark.parametrize("dictionary", [True, False])
def test_statistics(tmp_path, dictionary):
    """Each row group's min, max and null count, as an independent reader
    sees them: strings kept in a dictionary, strings whose dictionary is
    given up midway (nearly all distinct), integers, doubles with nulls."""
    rows = []
    for i in range(20000):
        rows.append({"few": ["m", "b", "x", None][i % 4], "many": f"v{(i * 7919) % 20000:05d}",
                     "n": (i * 37) % 1000 - 500, "d": None if i % 5 == 0 else i / 8})
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "s.parquet"
    args = ["write", "--schema", "few:string,many:string,n:bigint!,d:double",
            "--row-group-rows", "12000", str(out)]
    if dictionary:
        args.insert(1, "--dictionary")
    sluice(*args, input=src.read_text())
    groups = node("stats", str(out))
    assert len(groups) == 2
    for g, part in zip(groups, (rows[:12000], rows[12000:])):
        few = [r["few"] for r in part if r["few"] is not None]
        many = [r["many"] for r in part]
        d = [r["d"] for r in part if r["d"] is not None]
        n = [r["n"] for r in part]
        assert (g[0]["min_value"], g[0]["max_value"], g[0]["null_count"]) == \
            (min(few), max(few), str(len(part) - len(few)))
        assert (g[1]["min_value"], g[1]["max_value"], g[1]["null_count"]) == \
            (min(many), max(many), "0")
        assert (g[2]["min_value"], g[2]["max_value"]) == (str(min(n)), str(max(n)))
        assert (g[3]["min_value"], g[3]["max_value"], g[3]["null_count"]) == \
            (min(d), max(d), str(len(part) - len(d)))
