/*
 * parquet — Apache Parquet files, written and read in C (no library in
 * Debian 12 does it): flat schemas of required or optional columns of
 * booleans, 32- and 64-bit integers, floats, doubles, strings, binary,
 * dates, timestamps (ms or µs, UTC) and decimals.
 *
 * The writer streams rows into row groups (each column's values, its
 * definition levels and its statistics buffered until the group is full),
 * then pages: data pages v1 or v2, PLAIN or dictionary (RLE_DICTIONARY)
 * encoded, definition levels RLE/bit-packed, compressed with SNAPPY, GZIP
 * or ZSTD; the footer (Thrift compact) at the end. Bytes go to a callback
 * as they are made.
 *
 * The reader takes a whole file in memory and calls back once per row
 * group with each column's values decoded (INT96 timestamps as UTC
 * microseconds, nanosecond timestamps floored to microseconds, unsigned
 * 32-bit integers as int64; unsigned 64-bit ones are refused): PLAIN, PLAIN_DICTIONARY and
 * RLE_DICTIONARY, RLE/bit-packed levels, data pages v1 and v2, any of the
 * codecs above, the logical and the older converted types. What it does
 * not take (nested columns, encodings it lacks) is an SL_EINVAL that
 * names it.
 *
 * May call: core, formats (thrift), libsnappy, libzstd, zlib, jansson.
 */
#ifndef SL_FORMATS_PARQUET_H
#define SL_FORMATS_PARQUET_H

#include "core/core.h"

enum sl_pq_type {
    SL_PQ_BOOL,
    SL_PQ_INT32,
    SL_PQ_INT64,
    SL_PQ_FLOAT,
    SL_PQ_DOUBLE,
    SL_PQ_STRING,       /* UTF-8 (BYTE_ARRAY, STRING) */
    SL_PQ_BINARY,       /* BYTE_ARRAY */
    SL_PQ_DATE,         /* days since 1970-01-01 (INT32, DATE) */
    SL_PQ_TIMESTAMP_MS, /* ms since the epoch, UTC (INT64, TIMESTAMP) */
    SL_PQ_TIMESTAMP_US, /* µs since the epoch, UTC */
    SL_PQ_DECIMAL,      /* an unscaled integer (INT32 up to precision 9, INT64 up to 18) */
};

struct sl_pq_column {
    const char *name;
    enum sl_pq_type type;
    bool optional;
    int precision, scale; /* SL_PQ_DECIMAL */
};

enum sl_pq_codec { SL_PQ_UNCOMPRESSED, SL_PQ_SNAPPY, SL_PQ_GZIP, SL_PQ_ZSTD };

/* One value; null only in an optional column. i64 carries INT32, DATE,
 * INT64, timestamps and decimals; d FLOAT and DOUBLE; s strings and
 * binary (not NUL-terminated). */
struct sl_pq_value {
    bool null;
    bool b;
    int64_t i64;
    double d;
    const char *s;
    size_t n;
};

struct sl_pq_options {
    enum sl_pq_codec codec;
    size_t row_group_rows; /* 0: 128 Ki rows */
    size_t row_group_bytes; /* a group ends when its values' PLAIN bytes reach it too (0: 128 MiB) */
    size_t page_rows;      /* 0: 16 Ki rows */
    int page_version;      /* 1 (0 too) or 2 */
    bool dictionary;       /* dictionary-encode columns while it pays (at most 64 Ki entries) */
    const char *created_by; /* NULL: "sluice" */
};

/* Where the writer's bytes go: 0, or an error that stops it. */
typedef int (*sl_pq_out_fn)(void *arg, const void *p, size_t n);

struct sl_pq_writer;
/* A writer of rows of ncols columns (names and types copied). */
int sl_pq_writer_new(const struct sl_pq_column *cols, size_t ncols,
                     const struct sl_pq_options *opts, sl_pq_out_fn out, void *arg,
                     struct sl_pq_writer **w, struct sl_err *err);
/* Adds a row (ncols values). SL_EINVAL for a null in a required column or
 * a value out of its column's range (err says which). */
int sl_pq_write_row(struct sl_pq_writer *w, const struct sl_pq_value *row, struct sl_err *err);
/* The bytes the row group under way holds (its values, dictionaries,
 * indexes and levels), and its end now (nothing when it has no rows): for
 * a caller that bounds the memory of several writers together. */
size_t sl_pq_writer_buffered(const struct sl_pq_writer *w);
int sl_pq_writer_flush(struct sl_pq_writer *w, struct sl_err *err);
/* Writes what is buffered and the footer. */
int sl_pq_writer_finish(struct sl_pq_writer *w, struct sl_err *err);
void sl_pq_writer_free(struct sl_pq_writer *w);

/* ---- reading ------------------------------------------------------------------------- */

/* A row group as the reader hands it out: cols[c][r] is column c's value
 * in row r (strings point into the reader's memory, valid during the
 * call). */
struct sl_pq_group {
    size_t nrows, ncols;
    const struct sl_pq_column *columns;
    struct sl_pq_value **cols;
};
typedef int (*sl_pq_group_fn)(void *arg, const struct sl_pq_group *g);

/* The file's schema, rows and row groups: 0, or SL_EINVAL with why. */
struct sl_pq_file;
int sl_pq_open(const void *data, size_t len, struct sl_pq_file **f, struct sl_err *err);
size_t sl_pq_ncolumns(const struct sl_pq_file *f);
const struct sl_pq_column *sl_pq_columns(const struct sl_pq_file *f);
int64_t sl_pq_nrows(const struct sl_pq_file *f);
/* Decodes every row group in order, calling fn with each (a non-zero
 * return stops and is returned). */
int sl_pq_read(struct sl_pq_file *f, sl_pq_group_fn fn, void *arg, struct sl_err *err);
void sl_pq_close(struct sl_pq_file *f);

/* ---- JSON -------------------------------------------------------------------------- */

#include <jansson.h>

/* A JSON value as column c's (strings borrowed from j; binary decoded
 * from base64 into a): 0, or SL_EINVAL naming the column and the type it
 * wants. null is a null. Dates are "YYYY-MM-DD" or days, timestamps RFC
 * 3339 or numbers of the column's unit, decimals strings or numbers. */
int sl_pq_value_from_json(const struct sl_pq_column *c, json_t *j, struct sl_arena *a,
                          struct sl_pq_value *v, struct sl_err *err);
/* A CSV cell's text s[0..n) (not NUL-terminated) as column c's value
 * (strings and binary borrowed from s; a is unused today): 0, or
 * SL_EINVAL naming the column and what it wants. Empty is null (an error
 * in a required column); booleans true/false in any case; integers
 * [+-]digits in the column's range (int: 32 bits); numbers [+-]d[.d][e±d]
 * (no "NaN" or "inf"); dates YYYY-MM-DD of the calendar; timestamps a
 * date, or a date, 'T' or ' ', HH:MM:SS[.f…] and a zone Z or ±hh:mm (none
 * is UTC), the fraction cut to the column's unit; decimals [+-]d[.d] with
 * at most scale digits after the point (zeros past it aside) and
 * precision - scale before; strings UTF-8; binary the bytes as they are.
 * Whatever formats/infer.h infers for a column converts. */
int sl_pq_value_from_text(const struct sl_pq_column *c, const char *s, size_t n,
                          struct sl_arena *a, struct sl_pq_value *v, struct sl_err *err);
/* v as JSON (a new reference): dates "YYYY-MM-DD", timestamps RFC 3339 in
 * UTC, decimals strings of their digits, binary base64. */
json_t *sl_pq_value_to_json(const struct sl_pq_column *c, const struct sl_pq_value *v);
/* A type's name, as Glue's catalog names types ("int", "bigint",
 * "string", "decimal(10,2)", "timestamp", ...), into c (type, precision,
 * scale): 0, or SL_EINVAL. And back. */
int sl_pq_type_parse(const char *name, struct sl_pq_column *c);
const char *sl_pq_type_name(const struct sl_pq_column *c, char *buf, size_t n);
/* A schema's text, "id:bigint!,name:string,price:decimal(10,2)" (Glue's
 * type names; ! for a required column), into at most max columns whose
 * names point into text (which is cut up): 0, or SL_EINVAL with err
 * naming the problem. */
int sl_pq_schema_parse(char *text, struct sl_pq_column *cols, size_t max, size_t *n,
                       struct sl_err *err);

#endif
