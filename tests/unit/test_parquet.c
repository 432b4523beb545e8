/* Parquet written and read back by Sluice's own writer and reader
 * (formats/parquet.h): every type, required and optional columns with
 * nulls, several row groups and pages, PLAIN and dictionary encodings,
 * data pages v1 and v2, every codec; and the writer's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats/parquet.h"
#include "formats/pqcommon.h"
#include "formats/thrift.h"

static int to_buf(void *arg, const void *p, size_t n)
{
    return sl_buf_append(arg, p, n);
}

static const struct sl_pq_column COLS[] = {
    {"flag", SL_PQ_BOOL, false, 0, 0},
    {"n32", SL_PQ_INT32, true, 0, 0},
    {"n64", SL_PQ_INT64, false, 0, 0},
    {"f", SL_PQ_FLOAT, true, 0, 0},
    {"d", SL_PQ_DOUBLE, false, 0, 0},
    {"name", SL_PQ_STRING, true, 0, 0},
    {"blob", SL_PQ_BINARY, false, 0, 0},
    {"day", SL_PQ_DATE, true, 0, 0},
    {"ms", SL_PQ_TIMESTAMP_MS, false, 0, 0},
    {"us", SL_PQ_TIMESTAMP_US, true, 0, 0},
    {"price", SL_PQ_DECIMAL, true, 9, 2},
    {"big", SL_PQ_DECIMAL, false, 18, 4},
};
#define NCOLS (sizeof(COLS) / sizeof(COLS[0]))
#define NROWS 2500

/* Row r's values (strings in buf, which must hold 64 bytes a column). */
static void row_of(size_t r, struct sl_pq_value *v, char (*buf)[64])
{
    memset(v, 0, NCOLS * sizeof(*v));
    bool null = r % 7 == 3;
    v[0].b = r % 3 == 0;
    v[1].i64 = (int64_t)r * 1000 - 7;
    v[1].null = null;
    v[2].i64 = (int64_t)r * 4000000000LL - 12;
    v[3].d = (double)(float)(r * 0.5);
    v[3].null = null;
    v[4].d = r * 1.25 - 3;
    snprintf(buf[5], 64, "name-%zu-é", r % 40); /* (repeats: the dictionary pays) */
    v[5].s = buf[5];
    v[5].n = strlen(buf[5]);
    v[5].null = r % 11 == 5;
    snprintf(buf[6], 64, "%c%zu", (char)(r % 26 + 'a'), r);
    v[6].s = buf[6];
    v[6].n = strlen(buf[6]) + 1; /* (with its NUL: binary) */
    v[7].i64 = 19000 + (int64_t)r;
    v[7].null = null;
    v[8].i64 = 1700000000000LL + (int64_t)r;
    v[9].i64 = 1700000000000000LL + (int64_t)r * 3;
    v[9].null = r % 5 == 0;
    v[10].i64 = (int64_t)r * 101 - 99999;
    v[10].null = null;
    v[11].i64 = (int64_t)r * 123456789LL;
}

struct check {
    size_t row;
};

static int check_group(void *arg, const struct sl_pq_group *g)
{
    struct check *ck = arg;
    assert_int_equal(g->ncols, NCOLS);
    for (size_t r = 0; r < g->nrows; r++, ck->row++) {
        struct sl_pq_value want[NCOLS];
        char buf[NCOLS][64];
        row_of(ck->row, want, buf);
        for (size_t c = 0; c < NCOLS; c++) {
            const struct sl_pq_value *got = &g->cols[c][r];
            assert_int_equal(got->null, want[c].null);
            if (want[c].null)
                continue;
            switch (COLS[c].type) {
            case SL_PQ_BOOL:
                assert_int_equal(got->b, want[c].b);
                break;
            case SL_PQ_FLOAT:
            case SL_PQ_DOUBLE:
                assert_true(got->d == want[c].d);
                break;
            case SL_PQ_STRING:
            case SL_PQ_BINARY:
                assert_int_equal(got->n, want[c].n);
                assert_memory_equal(got->s, want[c].s, want[c].n);
                break;
            default:
                assert_int_equal(got->i64, want[c].i64);
                break;
            }
        }
    }
    return 0;
}

static void round_trip(enum sl_pq_codec codec, int version, bool dictionary)
{
    struct sl_buf file;
    sl_buf_init(&file, 0);
    struct sl_pq_options o = {.codec = codec, .row_group_rows = 1000, .page_rows = 300,
                              .page_version = version, .dictionary = dictionary};
    struct sl_pq_writer *w = NULL;
    struct sl_err err = {0};
    assert_int_equal(sl_pq_writer_new(COLS, NCOLS, &o, to_buf, &file, &w, &err), 0);
    for (size_t r = 0; r < NROWS; r++) {
        struct sl_pq_value v[NCOLS];
        char buf[NCOLS][64];
        row_of(r, v, buf);
        assert_int_equal(sl_pq_write_row(w, v, &err), 0);
    }
    assert_int_equal(sl_pq_writer_finish(w, &err), 0);
    sl_pq_writer_free(w);
    struct sl_pq_file *f = NULL;
    int rc = sl_pq_open(file.data, file.len, &f, &err);
    if (rc)
        fail_msg("open: %s", err.msg);
    assert_int_equal(sl_pq_nrows(f), NROWS);
    assert_int_equal(sl_pq_ncolumns(f), NCOLS);
    for (size_t c = 0; c < NCOLS; c++) {
        const struct sl_pq_column *col = &sl_pq_columns(f)[c];
        assert_string_equal(col->name, COLS[c].name);
        assert_int_equal(col->type, COLS[c].type);
        assert_int_equal(col->optional, COLS[c].optional);
        if (col->type == SL_PQ_DECIMAL) {
            assert_int_equal(col->precision, COLS[c].precision);
            assert_int_equal(col->scale, COLS[c].scale);
        }
    }
    struct check ck = {0};
    rc = sl_pq_read(f, check_group, &ck, &err);
    if (rc)
        fail_msg("read: %s", err.msg);
    assert_int_equal(ck.row, NROWS);
    sl_pq_close(f);
    /* Any cut of the file is refused, never read past. */
    for (size_t cut = 0; cut < file.len; cut += file.len / 37 + 1) {
        struct sl_pq_file *g = NULL;
        if (sl_pq_open(file.data, cut, &g, &err) == 0) {
            struct check ck2 = {0};
            (void)sl_pq_read(g, check_group, &ck2, &err);
            sl_pq_close(g);
        }
    }
    sl_buf_free(&file);
}

static void test_round_trips(void **state)
{
    (void)state;
    enum sl_pq_codec codecs[] = {SL_PQ_UNCOMPRESSED, SL_PQ_SNAPPY, SL_PQ_GZIP, SL_PQ_ZSTD};
    for (size_t i = 0; i < 4; i++)
        for (int version = 1; version <= 2; version++)
            for (int dict = 0; dict <= 1; dict++)
                round_trip(codecs[i], version, dict);
}

static int count_rows(void *arg, const struct sl_pq_group *g)
{
    *(size_t *)arg += g->nrows;
    return 0;
}

static void test_empty_and_refusals(void **state)
{
    (void)state;
    struct sl_buf file;
    sl_buf_init(&file, 0);
    struct sl_pq_writer *w = NULL;
    struct sl_err err = {0};
    /* No rows: a valid file of none. */
    assert_int_equal(sl_pq_writer_new(COLS, NCOLS, NULL, to_buf, &file, &w, &err), 0);
    assert_int_equal(sl_pq_writer_finish(w, &err), 0);
    sl_pq_writer_free(w);
    struct sl_pq_file *f = NULL;
    assert_int_equal(sl_pq_open(file.data, file.len, &f, &err), 0);
    size_t n = 0;
    assert_int_equal(sl_pq_read(f, count_rows, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sl_pq_nrows(f), 0);
    sl_pq_close(f);
    /* A null in a required column, a value over its type. */
    file.len = 0;
    assert_int_equal(sl_pq_writer_new(COLS, NCOLS, NULL, to_buf, &file, &w, &err), 0);
    struct sl_pq_value v[NCOLS];
    char buf[NCOLS][64];
    row_of(1, v, buf);
    v[2].null = true;
    assert_int_equal(sl_pq_write_row(w, v, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "n64 is required"));
    row_of(1, v, buf);
    v[1].i64 = (int64_t)1 << 40;
    assert_int_equal(sl_pq_write_row(w, v, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "32 bits"));
    row_of(1, v, buf);
    v[10].i64 = 1000000000;
    assert_int_equal(sl_pq_write_row(w, v, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "more than 9 digits"));
    /* (A refused row leaves the writer as it was.) */
    row_of(0, v, buf);
    assert_int_equal(sl_pq_write_row(w, v, &err), 0);
    assert_int_equal(sl_pq_writer_finish(w, &err), 0);
    sl_pq_writer_free(w);
    assert_int_equal(sl_pq_open(file.data, file.len, &f, &err), 0);
    struct check ck = {0};
    assert_int_equal(sl_pq_read(f, check_group, &ck, &err), 0);
    assert_int_equal(ck.row, 1);
    sl_pq_close(f);
    struct sl_pq_column bad = {"x", SL_PQ_DECIMAL, false, 30, 2};
    assert_int_equal(sl_pq_writer_new(&bad, 1, NULL, to_buf, &file, &w, &err), SL_EINVAL);
    assert_int_equal(sl_pq_open("PAR1xxxxPAR1", 12, &f, &err), SL_EINVAL);
    sl_buf_free(&file);
}

static void test_thrift(void **state)
{
    (void)state;
    struct sl_buf b;
    sl_buf_init(&b, 0);
    struct sl_tc_writer w;
    sl_tc_writer_init(&w, &b);
    sl_tc_struct_begin(&w);
    sl_tc_field_i32(&w, 1, -5);
    sl_tc_field_i64(&w, 40, 1LL << 40); /* (a long delta) */
    sl_tc_field_bool(&w, 41, true);
    sl_tc_field_list(&w, 42, SL_TC_I32, 20);
    for (int i = 0; i < 20; i++)
        sl_tc_i32(&w, i * i);
    sl_tc_field_struct(&w, 43);
    sl_tc_field_string(&w, 1, "inner");
    sl_tc_struct_end(&w);
    sl_tc_field_string(&w, 44, "after");
    sl_tc_struct_end(&w);
    assert_int_equal(w.rc, 0);
    struct sl_tc_reader r;
    sl_tc_reader_init(&r, b.data, b.len);
    sl_tc_enter(&r);
    int16_t id;
    int type, elem;
    int seen = 0;
    while (sl_tc_next(&r, &id, &type)) {
        seen++;
        if (id == 1)
            assert_int_equal(sl_tc_int(&r, type), -5);
        else if (id == 40)
            assert_int_equal(sl_tc_int(&r, type), 1LL << 40);
        else if (id == 41)
            assert_true(sl_tc_bool(&r, type));
        else if (id == 42) {
            size_t n = sl_tc_list(&r, &elem);
            assert_int_equal(n, 20);
            for (size_t i = 0; i < n; i++)
                assert_int_equal(sl_tc_int(&r, elem), (int64_t)(i * i));
        } else if (id == 43) {
            sl_tc_skip(&r, type);
        } else if (id == 44) {
            size_t n;
            const uint8_t *p = sl_tc_binary_read(&r, &n);
            assert_int_equal(n, 5);
            assert_memory_equal(p, "after", 5);
        }
    }
    assert_int_equal(r.rc, 0);
    assert_int_equal(seen, 6);
    assert_int_equal(sl_tc_consumed(&r, b.data), b.len);
    sl_buf_free(&b);
}

static void test_hybrid_bounds(void **state)
{
    (void)state;
    /* A bit-packed run whose size wraps 64 bits: refused, nothing read. */
    uint8_t run[16];
    size_t n = 0;
    uint64_t h = (1ULL << 60) | 1; /* 2^59 groups */
    while (h >= 0x80) {
        run[n++] = (uint8_t)(h | 0x80);
        h >>= 7;
    }
    run[n++] = (uint8_t)h;
    uint32_t out[16];
    assert_int_equal(pq_hybrid_decode(run, n, 32, 16, out), SL_EINVAL);
    assert_int_equal(pq_hybrid_decode(run, n, 3, 16, out), SL_EINVAL);
    /* What the writer makes decodes back. */
    struct sl_buf b;
    sl_buf_init(&b, 0);
    uint32_t v[20];
    for (uint32_t i = 0; i < 20; i++)
        v[i] = i * 7 % 13;
    assert_int_equal(pq_bitpack(v, 20, 4, &b), 0);
    uint32_t back[20];
    assert_int_equal(pq_hybrid_decode((const uint8_t *)b.data, b.len, 4, 20, back), 0);
    assert_memory_equal(back, v, sizeof(v));
    sl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thrift),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_empty_and_refusals),
        cmocka_unit_test(test_hybrid_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
