/* libFuzzer target: the streaming CSV parser (formats/csv.h), which reads
 * HTTP bodies and S3 objects, with sniffing, type inference
 * (formats/infer.h) and cells as Parquet values (sl_pq_value_from_text).
 * The first two bytes choose the delimiter, a row cap and two points where
 * the rest is cut into three chunks: the rows (their fields, lines and
 * quoted flags) and the outcome must be those of the text fed whole, and
 * a byte at a time for short inputs. Every cell that inference calls a
 * kind must convert to that kind's type (and to the wider types it widens
 * to); the other conversions must not crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/csv.h"
#include "formats/infer.h"
#include "formats/parquet.h"

#define NCOLS 8

struct run {
    uint64_t hash;
    size_t rows;
    bool convert;
    struct sl_infer_col cols[NCOLS];
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

static void convert(const char *s, size_t n)
{
    static const struct sl_pq_column cols[] = {
        {"b", SL_PQ_BOOL, true, 0, 0},        {"i", SL_PQ_INT32, true, 0, 0},
        {"l", SL_PQ_INT64, false, 0, 0},      {"f", SL_PQ_FLOAT, true, 0, 0},
        {"d", SL_PQ_DOUBLE, true, 0, 0},      {"s", SL_PQ_STRING, true, 0, 0},
        {"x", SL_PQ_BINARY, true, 0, 0},      {"day", SL_PQ_DATE, true, 0, 0},
        {"ms", SL_PQ_TIMESTAMP_MS, true, 0, 0}, {"us", SL_PQ_TIMESTAMP_US, true, 0, 0},
        {"p", SL_PQ_DECIMAL, true, 9, 2},     {"q", SL_PQ_DECIMAL, true, 18, 18},
        {"r", SL_PQ_DECIMAL, true, 0, 0},
    };
    struct sl_pq_value v;
    struct sl_err err;
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        err.msg[0] = '\0';
        if (sl_pq_value_from_text(&cols[i], s, n, NULL, &v, &err) && !err.msg[0])
            abort(); /* (a refusal always says why) */
        if (cols[i].type == SL_PQ_DECIMAL && !v.null && (v.i64 <= -1000000000000000000LL ||
                                                         v.i64 >= 1000000000000000000LL))
            abort();
    }
    /* What inference calls a kind converts to it. */
    struct sl_infer_col one;
    sl_infer_init(&one);
    sl_infer_text(&one, s, n);
    struct sl_pq_column c = {"k", SL_PQ_STRING, false, 0, 0};
    sl_infer_result(&one, &c);
    if (c.type == SL_PQ_STRING && !sl_utf8_valid(s, n))
        return; /* (a string must also be UTF-8: the caller's concern) */
    if (n && sl_pq_value_from_text(&c, s, n, NULL, &v, &err))
        abort();
    if (c.type == SL_PQ_INT64 || c.type == SL_PQ_DATE) {
        c.type = c.type == SL_PQ_INT64 ? SL_PQ_DOUBLE : SL_PQ_TIMESTAMP_US;
        if (sl_pq_value_from_text(&c, s, n, NULL, &v, &err))
            abort();
    }
}

static int on_row(void *arg, const struct sl_csv_field *f, size_t nf, int64_t line)
{
    struct run *r = arg;
    if (!nf || line < 1)
        abort();
    r->rows++;
    r->hash = mix(r->hash, &line, sizeof(line));
    r->hash = mix(r->hash, &nf, sizeof(nf));
    for (size_t i = 0; i < nf; i++) {
        if (!f[i].s)
            abort();
        r->hash = mix(r->hash, &f[i].n, sizeof(f[i].n));
        r->hash = mix(r->hash, f[i].s, f[i].n);
        r->hash = mix(r->hash, &f[i].quoted, 1);
        if (r->convert) {
            if (i < NCOLS)
                sl_infer_text(&r->cols[i], f[i].s, f[i].n);
            if (f[i].n < 64)
                convert(f[i].s, f[i].n);
        }
    }
    return 0;
}

/* Parses p[0..n) cut at a and b (a <= b <= n), or a byte at a time. */
static int parse(const char *p, size_t n, char delim, size_t max, size_t a, size_t b,
                 bool bytes, struct run *r, struct sl_err *err)
{
    struct sl_csv *c;
    int rc = sl_csv_new(delim, max, on_row, r, &c);
    if (rc)
        return rc;
    if (bytes) {
        for (size_t i = 0; i < n && !rc; i++)
            rc = sl_csv_feed(c, p + i, 1, err);
    } else {
        rc = sl_csv_feed(c, p, a, err);
        if (!rc)
            rc = sl_csv_feed(c, p + a, b - a, err);
        if (!rc)
            rc = sl_csv_feed(c, p + b, n - b, err);
    }
    bool open = !rc && sl_csv_in_quote(c);
    if (!rc)
        rc = sl_csv_finish(c, err);
    if (open != (rc == SL_EINVAL))
        abort();
    sl_csv_free(c);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const char delims[] = {',', '\t', ';', '|'};
    char delim = delims[data[0] & 3];
    size_t max = data[0] & 4 ? 0 : 1 + (data[0] >> 3);
    const char *p = (const char *)data + 2;
    size_t n = size - 2;
    size_t a = n * data[1] / 256, b = a + (n - a) * (data[1] & 15) / 16;

    struct run whole = {.hash = 14695981039346656037ULL, .convert = true};
    struct sl_err e1 = {0}, e2 = {0};
    int rc1 = parse(p, n, delim, max, n, n, false, &whole, &e1);
    struct run cut = {.hash = 14695981039346656037ULL};
    int rc2 = parse(p, n, delim, max, a, b, false, &cut, &e2);
    if (rc1 != rc2 || whole.hash != cut.hash || whole.rows != cut.rows ||
        (rc1 && strcmp(e1.msg, e2.msg)))
        abort();
    if (n <= 512) {
        struct run bytes = {.hash = 14695981039346656037ULL};
        int rc3 = parse(p, n, delim, max, 0, 0, true, &bytes, &e2);
        if (rc3 != rc1 || bytes.hash != whole.hash)
            abort();
    }
    for (size_t i = 0; i < NCOLS; i++) {
        struct sl_pq_column c;
        sl_infer_result(&whole.cols[i], &c);
        if (c.type != SL_PQ_STRING && !whole.cols[i].values)
            abort();
    }
    char d;
    bool header;
    if (sl_csv_sniff(p, n, &d, &header))
        abort();
    if (d != ',' && d != '\t' && d != ';' && d != '|')
        abort();
    return 0;
}
