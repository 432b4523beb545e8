"""Parquet files for Python handlers, without pyarrow.

    import sluice_data
    sluice_data.write_parquet(rows, "s3://bucket/orders.parquet")
    rows = sluice_data.read_parquet("s3://bucket/orders.parquet")
    sluice_data.parquet_schema("/tmp/orders.parquet")   # [("id", "bigint"), ...]

A thin layer over Sluice's own Parquet writer and reader in C
(src/formats), which libsluice_data.so holds (sluice_data.c beside this
file is its C side; the build copies the library here). Every Python
function in Sluice can import this package: Sluice's runtimes directory is
on sys.path as /var/runtime/python. Rows go to C as JSON Lines and come
back as JSON, converted here to and from Python values:

    Glue type            Python value
    boolean              bool
    int, bigint          int (int is 32 bits)
    float, double        float (NaN and infinities too)
    string               str
    binary               bytes (bytearray, memoryview and str taken)
    date                 datetime.date
    timestamp            datetime.datetime in UTC (milliseconds; timestamp_us:
                         microseconds); a naive datetime is taken as UTC
    decimal(p,s)         decimal.Decimal, p up to 18 (int, float, str taken)

A column may hold None unless its schema says "Required". A local path,
an s3://bucket/key URL (through boto3, which inside Sluice reaches Sluice
by the function's AWS_ENDPOINT_URL) or, to read, the file's bytes.
"""

import base64
import datetime as _dt
import decimal
import json
import os

__all__ = ["ParquetError", "infer_schema", "parquet_schema", "read_parquet", "write_parquet"]

# The version of libsluice_data.so's functions this module calls
# (SL_DATA_ABI in sluice_data.c).
_ABI = 1
_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_EPOCH_DAY = _dt.date(1970, 1, 1).toordinal()
_MINUTE = _dt.timedelta(minutes=1)
_MAX_DECIMAL_DIGITS = 18  # (Sluice's decimals are INT32 or INT64)


class ParquetError(ValueError):
    """A file or a row the library refused; the message names the row and
    the column."""


# ---- the library ---------------------------------------------------------------------

_lib = None


def _library():
    """libsluice_data.so, loaded at the first call: $SLUICE_DATA_LIBRARY if
    set, else the one beside this file, else one the dynamic linker finds
    (LD_LIBRARY_PATH: a function may ship its own in its package's lib/)."""
    global _lib
    if _lib is not None:
        return _lib
    import ctypes
    explicit = os.environ.get("SLUICE_DATA_LIBRARY")
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libsluice_data.so")
    tried = []
    for path in [explicit] if explicit else [here, "libsluice_data.so"]:
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as e:
            tried.append(str(e))
    else:
        raise ImportError("sluice_data: no libsluice_data.so (build Sluice: `make build`): "
                          + "; ".join(tried))
    lib.sl_data_abi.restype = ctypes.c_int
    lib.sl_data_abi.argtypes = []
    if lib.sl_data_abi() != _ABI:
        raise ImportError(f"sluice_data: {lib._name} has ABI {lib.sl_data_abi()}, this module "
                          f"needs {_ABI}: build Sluice again")
    out = ctypes.POINTER(ctypes.c_void_p)
    size = ctypes.POINTER(ctypes.c_size_t)
    lib.sl_data_write.restype = ctypes.c_int
    lib.sl_data_write.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                  ctypes.c_size_t, out, size, out]
    lib.sl_data_read.restype = ctypes.c_int
    lib.sl_data_read.argtypes = [ctypes.c_char_p, ctypes.c_size_t, out, out, size, out]
    lib.sl_data_free.restype = None
    lib.sl_data_free.argtypes = [ctypes.c_void_p]
    _lib = lib
    return lib


def _take(lib, ptr, n=None):
    """The bytes at a pointer the library handed out, which is then freed."""
    import ctypes
    if not ptr.value:
        return None
    try:
        return ctypes.string_at(ptr.value, n) if n is not None else ctypes.string_at(ptr.value)
    finally:
        lib.sl_data_free(ptr.value)


def _fail(lib, rc, error):
    message = _take(lib, error)
    text = message.decode("utf-8", "replace") if message else f"error {rc}"
    if rc == -1:  # SL_ENOMEM
        raise MemoryError(f"sluice_data: {text}")
    raise ParquetError(text)


def _write(schema, options, jsonl):
    import ctypes
    lib = _library()
    out, err = ctypes.c_void_p(), ctypes.c_void_p()
    n = ctypes.c_size_t()
    rc = lib.sl_data_write(json.dumps(schema).encode(), json.dumps(options).encode(), jsonl,
                           len(jsonl), ctypes.byref(out), ctypes.byref(n), ctypes.byref(err))
    if rc:
        _fail(lib, rc, err)
    return _take(lib, out, n.value)


def _read(data, rows):
    """(schema, rows as JSON text or None)."""
    import ctypes
    lib = _library()
    schema, text, err = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    n = ctypes.c_size_t()
    rc = lib.sl_data_read(data, len(data), ctypes.byref(schema),
                          ctypes.byref(text) if rows else None, ctypes.byref(n),
                          ctypes.byref(err))
    if rc:
        _fail(lib, rc, err)
    return json.loads(_take(lib, schema)), _take(lib, text, n.value) if rows else None


# ---- where files are -----------------------------------------------------------------

_s3_default = None


def _s3(client):
    global _s3_default
    if client is not None:
        return client
    if _s3_default is None:  # (kept: a client costs tens of ms to make)
        import boto3
        _s3_default = boto3.client("s3")
    return _s3_default


def _s3_url(url):
    bucket, _, key = url[5:].partition("/")
    if not bucket or not key:
        raise ValueError(f"sluice_data: {url} is not s3://bucket/key")
    return bucket, key


def _load(src, s3_client):
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src)
    src = os.fspath(src)
    if src.startswith("s3://"):
        bucket, key = _s3_url(src)
        return _s3(s3_client).get_object(Bucket=bucket, Key=key)["Body"].read()
    with open(src, "rb") as f:
        return f.read()


# ---- schemas -------------------------------------------------------------------------

def _columns(schema):
    """A schema as the library takes it: [{"Name", "Type", "Required"}]
    from (name, type), (name, type, required) or Glue's {"Name", "Type"}
    (with "Required" optional)."""
    cols = []
    for c in schema:
        if isinstance(c, dict):
            name, typ, required = c.get("Name"), c.get("Type"), c.get("Required", False)
        else:
            name, typ, *rest = c
            required = rest[0] if rest else False
        cols.append({"Name": str(name), "Type": str(typ).strip().lower(),
                     "Required": bool(required)})
    return cols


def _decimal_digits(d):
    """(digits before the point, digits after) of a finite Decimal."""
    t = d.as_tuple()
    if not isinstance(t.exponent, int):
        raise ValueError(f"sluice_data: Decimal {d} has no place in a Parquet decimal")
    scale = max(0, -t.exponent)
    return max(len(t.digits) + t.exponent, 1 if scale == 0 else 0), scale


# The kind of column each type of value asks for (a subclass counts as its
# first base here).
_KINDS = {bool: "boolean", int: "bigint", float: "double", str: "string", bytes: "binary",
          bytearray: "binary", memoryview: "binary", _dt.datetime: "timestamp",
          _dt.date: "date", decimal.Decimal: "decimal", type(None): None}


def _base(v):
    for t in _KINDS:
        if isinstance(v, t):
            return t
    raise TypeError(f"sluice_data: a {type(v).__name__} has no Parquet column type here")


def _column_type(name, seen):
    """The type of a column that holds values of the types in seen (type:
    what sizes it: an int's largest magnitude, a datetime's need of
    microseconds, a Decimal's digits before and after the point)."""
    kinds = {_KINDS[t] for t in seen} - {None}
    if not kinds:
        return "string"
    if kinds == {"bigint", "double"}:
        return "double"
    if kinds <= {"date", "timestamp"}:
        if "timestamp" not in kinds:
            return "date"
        return "timestamp_us" if seen.get(_dt.datetime) else "timestamp"
    if kinds == {"bigint", "decimal"} or kinds == {"decimal"}:
        digits, scale = seen[decimal.Decimal]
        if int in seen:
            digits = max(digits, len(str(seen[int])))
        if digits + scale > _MAX_DECIMAL_DIGITS:
            raise ValueError(f"sluice_data: column {name}'s decimals need {digits + scale} "
                             f"digits, more than {_MAX_DECIMAL_DIGITS}: give a schema "
                             "(double or string)")
        return f"decimal({max(digits + scale, 1)},{scale})"
    if len(kinds) > 1:
        raise TypeError(f"sluice_data: column {name} has both "
                        + " and ".join(sorted(kinds)) + " values; give write_parquet a schema")
    return kinds.pop()


def infer_schema(rows):
    """The schema write_parquet infers from rows (dicts): [(name, type)] in
    the order names first appear; every column may be null; a column of
    None alone is a string column."""
    columns = {}
    for row in rows:
        for name, v in row.items():
            seen = columns.get(name)
            if seen is None:
                seen = columns[name] = {}
            t = type(v)
            if t not in _KINDS:
                t = _base(v)
            if t is int:
                seen[t] = max(seen.get(t, 0), abs(v))
            elif t is _dt.datetime:
                seen[t] = seen.get(t) or v.microsecond % 1000 != 0
            elif t is decimal.Decimal:
                d = _decimal_digits(v)
                old = seen.get(t, d)
                seen[t] = (max(old[0], d[0]), max(old[1], d[1]))
            else:
                seen[t] = None
    return [(str(name), _column_type(name, seen)) for name, seen in columns.items()]


# ---- values --------------------------------------------------------------------------

def _utc_text(v):
    off = v.utcoffset()
    if off is None:
        return v.isoformat(timespec="microseconds") + "Z"  # (naive: UTC)
    if off % _MINUTE:  # (RFC 3339's offsets are whole minutes)
        return (v - off).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    return v.isoformat(timespec="microseconds")  # (+hh:mm, which the library takes)


def _decimal_text(v):
    if not isinstance(v, decimal.Decimal):
        return v  # (ints, floats and text the library takes as they are)
    return format(v, "f")


def _float_value(v):
    if isinstance(v, float):
        if v != v:
            return "NaN"
        if v in (float("inf"), float("-inf")):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    return float(v) if isinstance(v, decimal.Decimal) else v


def _binary_text(v):
    if isinstance(v, str):
        v = v.encode("utf-8")
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode("ascii")
    return v


def _date_text(v):
    if isinstance(v, _dt.datetime):
        raise TypeError(f"a datetime ({v}) in a date column: give its .date()")
    return v.isoformat() if isinstance(v, _dt.date) else v


def _timestamp_text(v):
    if isinstance(v, _dt.datetime):
        return _utc_text(v)
    return v.isoformat() if isinstance(v, _dt.date) else v


def _encoder(typ):
    """What turns a column's Python values into the JSON the library takes
    (None: json as it is)."""
    if typ.startswith("decimal"):
        return _decimal_text
    if typ.startswith("timestamp"):
        return _timestamp_text
    return {"float": _float_value, "double": _float_value, "binary": _binary_text,
            "date": _date_text}.get(typ)


_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False,
                         separators=(",", ":")).encode


def _jsonl(rows, cols):
    encoders = [(c["Name"], f) for c in cols for f in [_encoder(c["Type"])] if f]
    lines = []
    for i, row in enumerate(rows):
        name = None
        try:
            if encoders:
                row = dict(row)
                for name, f in encoders:
                    v = row.get(name)
                    if v is not None:
                        row[name] = f(v)
                name = None
            lines.append(_json(row))
        except (TypeError, ValueError, OverflowError) as e:
            if name is None:  # (json's: find the value it means)
                name = next((k for k, v in row.items() if not _encodes(v)), "?")
            raise ParquetError(f"row {i}: column {name}: {e}") from None
    # (A lone surrogate goes on as bytes that are not UTF-8, for the library
    # to name its row.)
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def _encodes(v):
    try:
        _json(v)
        return True
    except (TypeError, ValueError):
        return False


def _decoder(typ):
    """What turns a column's JSON values from the library into Python's."""
    if typ == "timestamp":
        return lambda v: _EPOCH + _dt.timedelta(milliseconds=v)
    if typ == "timestamp_us":
        return lambda v: _EPOCH + _dt.timedelta(microseconds=v)
    if typ == "date":
        return lambda v: _dt.date.fromordinal(_EPOCH_DAY + v)
    if typ.startswith("decimal"):
        return decimal.Decimal
    if typ == "binary":
        return base64.b64decode
    if typ in ("float", "double"):
        return float  # (NaN and the infinities come as text)
    return None


# ---- the API -------------------------------------------------------------------------

def write_parquet(rows, dest=None, schema=None, codec="snappy", row_group_rows=None, *,
                  dictionary=True, s3_client=None):
    """Writes rows (an iterable of dicts, a key per column; a key absent is
    a null) as a Parquet file to dest: a local path, or s3://bucket/key
    (with s3_client, or boto3.client("s3")); with dest None, returns the
    file's bytes.

    schema: [(name, glue_type)], [(name, glue_type, required)] or Glue's
    [{"Name", "Type", "Required"}]; None infers one from the values
    (infer_schema). Keys of no column are left out. codec: "snappy",
    "gzip", "zstd" or None; row_group_rows: rows per row group (128 Ki by
    default); dictionary: dictionary-encode columns while it pays.
    ParquetError names the row (counting from 0) and column of a value
    the column cannot take."""
    if schema is None:
        rows = rows if isinstance(rows, (list, tuple)) else list(rows)
        schema = infer_schema(rows)
    cols = _columns(schema)
    codec = (codec or "none").lower()
    options = {"codec": "none" if codec == "uncompressed" else codec,
               "dictionary": bool(dictionary)}
    if row_group_rows:
        options["row_group_rows"] = int(row_group_rows)
    data = _write(cols, options, _jsonl(rows, cols))
    if dest is None:
        return data
    dest = os.fspath(dest)
    if dest.startswith("s3://"):
        bucket, key = _s3_url(dest)
        _s3(s3_client).put_object(Bucket=bucket, Key=key, Body=data)
    else:
        with open(dest, "wb") as f:
            f.write(data)
    return None


def read_parquet(src, *, s3_client=None):
    """The rows of a Parquet file (a local path, s3://bucket/key or its
    bytes) as a list of dicts, its values as the table above says."""
    schema, text = _read(_load(src, s3_client), True)
    names = [c["Name"] for c in schema]
    decoders = [(i, c["Name"], f) for i, c in enumerate(schema)
                for f in [_decoder(c["Type"])] if f]
    rows = json.loads(text)
    for r, values in enumerate(rows):
        for i, name, f in decoders:
            v = values[i]
            if v is not None:
                try:
                    values[i] = f(v)
                except (ValueError, OverflowError) as e:
                    raise ParquetError(f"row {r}, column {name}: {v} has no Python value "
                                       f"({e})") from None
        rows[r] = dict(zip(names, values))
    return rows


def parquet_schema(src, *, s3_client=None):
    """A Parquet file's columns as [(name, glue_type)] ("bigint",
    "decimal(10,2)", "timestamp", ...)."""
    schema, _ = _read(_load(src, s3_client), False)
    return [(c["Name"], c["Type"]) for c in schema]
