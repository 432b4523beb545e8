/*
 * The C side of the sluice_data Python module (__init__.py beside this
 * file): Parquet written from JSON Lines and read back as JSON, through
 * Sluice's own writer and reader (src/formats/parquet.h), for Python
 * handlers that have no pyarrow. CMake builds it with the formats and core
 * layers into libsluice_data.so, which exports only the sl_data_*
 * functions below (ctypes calls them; no header: __init__.py and
 * tests/unit/test_sluice_data.c, their only callers, declare them).
 *
 * Schemas travel as JSON in the Glue catalog's form, [{"Name": "id",
 * "Type": "bigint", "Required": true}, ...] (Glue's type names, see
 * sl_pq_type_parse; a column may be null unless "Required" is true).
 * Values travel as formats/pqjson.c reads and writes them (but dates and
 * timestamps come back as integers, see value_to_json), plus what JSON
 * cannot say: a float or double that is not finite is the string "NaN",
 * "Infinity" or "-Infinity".
 *
 * Every function is reentrant (no state outside its arguments); errors
 * come back as a message the caller frees with sl_data_free.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "formats/parquet.h"

#define SL_DATA_API __attribute__((visibility("default")))

/* Bumped whenever a function's arguments or their JSON change, so that
 * __init__.py refuses a library built from other sources. */
#define SL_DATA_ABI 1

/* A schema parsed from its JSON: cols' names point into doc. */
struct schema {
    json_t *doc;
    struct sl_pq_column *cols;
    size_t n;
};

static void schema_free(struct schema *s)
{
    free(s->cols);
    json_decref(s->doc);
}

static int schema_parse(const char *text, struct schema *s, struct sl_err *err)
{
    memset(s, 0, sizeof(*s));
    json_error_t je;
    s->doc = json_loads(text ? text : "", 0, &je);
    if (!json_is_array(s->doc))
        return sl_errf(err, SL_EINVAL, "the schema is not a JSON array: %s", je.text);
    s->n = json_array_size(s->doc);
    if (!s->n)
        return sl_errf(err, SL_EINVAL, "the schema has no columns");
    s->cols = calloc(s->n, sizeof(*s->cols));
    if (!s->cols)
        return SL_ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        json_t *col = json_array_get(s->doc, i);
        const char *name = json_string_value(json_object_get(col, "Name"));
        const char *type = json_string_value(json_object_get(col, "Type"));
        json_t *required = json_object_get(col, "Required");
        if (!name || !*name)
            return sl_errf(err, SL_EINVAL, "column %zu of the schema has no Name", i);
        if (!type || sl_pq_type_parse(type, &s->cols[i]))
            return sl_errf(err, SL_EINVAL, "column %s: unknown type '%s'", name,
                           type ? type : "(none)");
        if (required && !json_is_boolean(required))
            return sl_errf(err, SL_EINVAL, "column %s: Required is not true or false", name);
        for (size_t k = 0; k < i; k++)
            if (strcmp(s->cols[k].name, name) == 0)
                return sl_errf(err, SL_EINVAL, "column %s comes twice in the schema", name);
        s->cols[i].name = name;
        s->cols[i].optional = !json_is_true(required);
    }
    return 0;
}

/* Options as JSON: {"codec": "snappy"|"gzip"|"zstd"|"none",
 * "row_group_rows": N, "page_rows": N, "dictionary": bool,
 * "page_version": 1|2}, each optional. */
static int options_parse(const char *text, struct sl_pq_options *o, struct sl_err *err)
{
    *o = (struct sl_pq_options){.codec = SL_PQ_SNAPPY, .created_by = "sluice_data"};
    if (!text || !*text)
        return 0;
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return sl_errf(err, SL_EINVAL, "the options are not a JSON object");
    }
    int rc = 0;
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (rc)
            break;
        static const char *const codecs[] = {"none", "snappy", "gzip", "zstd"};
        json_int_t n = json_integer_value(v);
        if (strcmp(key, "codec") == 0 && json_is_string(v)) {
            rc = SL_EINVAL;
            for (size_t i = 0; i < SL_ARRAY_LEN(codecs); i++)
                if (strcmp(json_string_value(v), codecs[i]) == 0) {
                    o->codec = (enum sl_pq_codec)i;
                    rc = 0;
                }
            if (rc)
                sl_errf(err, rc, "unknown codec '%s' (none, snappy, gzip or zstd)",
                        json_string_value(v));
        } else if (strcmp(key, "row_group_rows") == 0 && json_is_integer(v) && n >= 0) {
            o->row_group_rows = (size_t)n;
        } else if (strcmp(key, "page_rows") == 0 && json_is_integer(v) && n >= 0) {
            o->page_rows = (size_t)n;
        } else if (strcmp(key, "dictionary") == 0 && json_is_boolean(v)) {
            o->dictionary = json_is_true(v);
        } else if (strcmp(key, "page_version") == 0 && json_is_integer(v) && n >= 0 && n <= 2) {
            o->page_version = (int)n;
        } else {
            rc = sl_errf(err, SL_EINVAL, "option %s: unknown, or a value of the wrong type", key);
        }
    }
    json_decref(doc);
    return rc;
}

static int to_buf(void *arg, const void *p, size_t n)
{
    return sl_buf_append(arg, p, n);
}

/* What the caller gets for an error: a copy of err's message (or the
 * code's text); NULL when out of memory. */
static void error_out(int rc, const struct sl_err *err, char **error)
{
    if (error)
        *error = strdup(err->msg[0] ? err->msg : sl_strerror(rc));
}

/* v as column c's value: pqjson's conversion, and the non-finite floats. */
static int value_from_json(const struct sl_pq_column *c, json_t *j, struct sl_arena *a,
                           struct sl_pq_value *v, struct sl_err *err)
{
    const char *s = json_string_value(j);
    if (s && (c->type == SL_PQ_FLOAT || c->type == SL_PQ_DOUBLE)) {
        static const struct {
            const char *text;
            double value;
        } special[] = {{"NaN", NAN}, {"Infinity", INFINITY}, {"-Infinity", -INFINITY}};
        for (size_t i = 0; i < SL_ARRAY_LEN(special); i++)
            if (strcmp(s, special[i].text) == 0) {
                memset(v, 0, sizeof(*v));
                v->d = special[i].value;
                return 0;
            }
    }
    return sl_pq_value_from_json(c, j, a, v, err);
}

static bool blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

/* Writes a Parquet file of the rows in jsonl[0..n) (JSON Lines: one object
 * a row, its keys the columns' names; a key absent or null is a null;
 * keys of no column are ignored; blank lines skipped) with the schema and
 * options (JSON, as above; options may be NULL). 0 and the file in *out
 * (*out_len bytes, the caller's: sl_data_free); or a negative code and
 * *error, a message naming the row (counted from 0) and the column (the
 * caller's to free, NULL if memory ran out). */
SL_DATA_API int sl_data_write(const char *schema_json, const char *options_json,
                              const char *jsonl, size_t n, void **out, size_t *out_len,
                              char **error)
{
    struct sl_err err = {0};
    struct schema s;
    struct sl_pq_options o;
    struct sl_pq_writer *w = NULL;
    struct sl_pq_value *row = NULL;
    struct sl_buf file;
    sl_buf_init(&file, 0);
    *out = NULL;
    *out_len = 0;
    if (error)
        *error = NULL;
    int rc = schema_parse(schema_json, &s, &err);
    if (!rc)
        rc = options_parse(options_json, &o, &err);
    if (!rc)
        rc = sl_pq_writer_new(s.cols, s.n, &o, to_buf, &file, &w, &err);
    if (!rc && !(row = calloc(s.n, sizeof(*row))))
        rc = SL_ENOMEM;
    size_t index = 0;
    for (const char *p = jsonl, *end = jsonl + n; !rc && p < end; p++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        const char *line = p;
        p += len;
        if (blank(line, len))
            continue;
        json_error_t je;
        json_t *doc = json_loadb(line, len, JSON_ALLOW_NUL, &je);
        if (!json_is_object(doc)) {
            rc = sl_errf(&err, SL_EINVAL, "row %zu: not a JSON object%s%s", index,
                         doc ? "" : ": ", doc ? "" : je.text);
            json_decref(doc);
            break;
        }
        struct sl_arena a;
        sl_arena_init(&a, 0);
        for (size_t c = 0; !rc && c < s.n; c++)
            rc = value_from_json(&s.cols[c], json_object_get(doc, s.cols[c].name), &a, &row[c],
                                 &err);
        if (!rc)
            rc = sl_pq_write_row(w, row, &err);
        if (rc == SL_EINVAL) {
            char why[sizeof(err.msg)];
            snprintf(why, sizeof(why), "%s", err.msg);
            sl_errf(&err, rc, "row %zu: %.480s", index, why);
        }
        sl_arena_free(&a);
        json_decref(doc);
        index++;
    }
    if (!rc)
        rc = sl_pq_writer_finish(w, &err);
    if (!rc) {
        *out = sl_buf_steal(&file, out_len);
        if (!*out)
            rc = SL_ENOMEM;
    }
    if (rc)
        error_out(rc, &err, error);
    sl_pq_writer_free(w);
    free(row);
    sl_buf_free(&file);
    schema_free(&s);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------- */

struct reading {
    struct sl_buf text; /* "[[row],[row],..." */
    struct sl_err err;
    size_t row; /* rows read before this group */
};

static int dump_to_buf(const char *p, size_t n, void *arg)
{
    return sl_buf_append(arg, p, n) ? -1 : 0;
}

/* v as JSON for Python: pqjson's form, but dates and timestamps as the
 * integers they are (days; ms or µs), which Python turns into date and
 * datetime values without parsing text, and non-finite floats as text. */
static json_t *value_to_json(const struct sl_pq_column *c, const struct sl_pq_value *v)
{
    if (v->null)
        return json_null();
    switch (c->type) {
    case SL_PQ_DATE:
    case SL_PQ_TIMESTAMP_MS:
    case SL_PQ_TIMESTAMP_US:
        return json_integer(v->i64);
    case SL_PQ_FLOAT:
    case SL_PQ_DOUBLE:
        if (isnan(v->d))
            return json_string("NaN");
        if (isinf(v->d))
            return json_string(v->d > 0 ? "Infinity" : "-Infinity");
        return json_real(v->d);
    default:
        return sl_pq_value_to_json(c, v);
    }
}

static int add_group(void *arg, const struct sl_pq_group *g)
{
    struct reading *rd = arg;
    for (size_t r = 0; r < g->nrows; r++) {
        json_t *values = json_array();
        if (!values)
            return SL_ENOMEM;
        for (size_t c = 0; c < g->ncols; c++) {
            json_t *v = value_to_json(&g->columns[c], &g->cols[c][r]);
            if (!v || json_array_append_new(values, v)) {
                json_decref(values);
                /* (jansson takes only UTF-8: a string column's bytes that are not.) */
                return sl_errf(&rd->err, SL_EINVAL, "row %zu, column %s: not UTF-8 text",
                               rd->row + r, g->columns[c].name);
            }
        }
        int rc = sl_buf_putc(&rd->text, rd->text.len ? ',' : '[');
        if (!rc && json_dump_callback(values, dump_to_buf, &rd->text, JSON_COMPACT))
            rc = SL_ENOMEM;
        json_decref(values);
        if (rc)
            return rc;
    }
    rd->row += g->nrows;
    return 0;
}

/* The schema of f as JSON ([{"Name", "Type", "Required"}], Glue's type
 * names): the caller's to free, or NULL when out of memory. */
static char *schema_json(const struct sl_pq_file *f)
{
    json_t *cols = json_array();
    for (size_t c = 0; cols && c < sl_pq_ncolumns(f); c++) {
        const struct sl_pq_column *col = &sl_pq_columns(f)[c];
        char type[64];
        if (json_array_append_new(cols, json_pack("{s:s, s:s, s:b}", "Name", col->name, "Type",
                                                  sl_pq_type_name(col, type, sizeof(type)),
                                                  "Required", !col->optional))) {
            json_decref(cols);
            return NULL;
        }
    }
    char *text = cols ? json_dumps(cols, JSON_COMPACT) : NULL;
    json_decref(cols);
    return text;
}

/* Reads the Parquet file data[0..n): 0 and its schema in *schema_out
 * (JSON, as sl_data_write takes it) and, when rows_out is not NULL, its
 * rows in *rows_out (*rows_len bytes, NUL-terminated): one JSON array of
 * rows, each an array of the columns' values in the schema's order, as
 * value_to_json above writes them. Both are the caller's (sl_data_free).
 * Or a negative code and *error, as sl_data_write. */
SL_DATA_API int sl_data_read(const void *data, size_t n, char **schema_out, char **rows_out,
                             size_t *rows_len, char **error)
{
    struct reading rd = {.row = 0};
    sl_buf_init(&rd.text, 0);
    *schema_out = NULL;
    if (rows_out) {
        *rows_out = NULL;
        *rows_len = 0;
    }
    if (error)
        *error = NULL;
    struct sl_pq_file *f = NULL;
    int rc = sl_pq_open(data ? data : "", data ? n : 0, &f, &rd.err);
    if (!rc && !(*schema_out = schema_json(f)))
        rc = SL_ENOMEM;
    if (!rc && rows_out) {
        rc = sl_pq_read(f, add_group, &rd, &rd.err);
        if (!rc)
            rc = sl_buf_puts(&rd.text, rd.text.len ? "]" : "[]");
        if (!rc && !(*rows_out = sl_buf_steal(&rd.text, rows_len)))
            rc = SL_ENOMEM;
    }
    if (rc) {
        free(*schema_out);
        *schema_out = NULL;
        error_out(rc, &rd.err, error);
    }
    sl_pq_close(f);
    sl_buf_free(&rd.text);
    return rc;
}

/* Frees what the functions above hand out; NULL is fine. */
SL_DATA_API void sl_data_free(void *p)
{
    free(p);
}

/* The version of these functions' arguments and JSON (SL_DATA_ABI). */
SL_DATA_API int sl_data_abi(void)
{
    return SL_DATA_ABI;
}
