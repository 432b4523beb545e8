/* CSV read as a stream (formats/csv.h): quoted fields holding delimiters,
 * quotes and line breaks; the same rows wherever the chunks split the
 * text; CR, LF and CRLF; the byte order mark; empty lines; the refusals
 * (an unclosed quote, a row past the cap); a callback that stops;
 * sniffing the delimiter and the header. Column types inferred from text
 * and JSON (formats/infer.h), every pair of kinds widened; and CSV cells
 * as Parquet values (sl_pq_value_from_text) for every type, with what
 * inference calls a kind always converting to it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats/csv.h"
#include "formats/infer.h"
#include "formats/parquet.h"

/* ---- the parser ----------------------------------------------------------------------- */

/* Rows as text: "line:" then each field as [..] (q[..] when quoted). */
struct rec {
    struct sl_buf out;
    size_t rows;
    size_t stop_at; /* the row whose callback returns 7 (0: none) */
};

static int record(void *arg, const struct sl_csv_field *f, size_t nf, int64_t line)
{
    struct rec *r = arg;
    assert_true(nf >= 1);
    sl_buf_printf(&r->out, "%lld:", (long long)line);
    for (size_t i = 0; i < nf; i++) {
        assert_non_null(f[i].s);
        sl_buf_puts(&r->out, f[i].quoted ? "q[" : "[");
        sl_buf_append(&r->out, f[i].s, f[i].n);
        sl_buf_putc(&r->out, ']');
    }
    sl_buf_putc(&r->out, '\n');
    return ++r->rows == r->stop_at ? 7 : 0;
}

/* Parses text[0..n) fed in pieces cut at cuts[0..ncuts) (ascending),
 * then finishes: the return of the first call that fails, or 0. */
static int parse_cut(const char *text, size_t n, char delim, size_t max, const size_t *cuts,
                     size_t ncuts, struct rec *r, struct sl_err *err)
{
    struct sl_csv *c;
    sl_buf_init(&r->out, 0);
    r->rows = 0;
    assert_int_equal(sl_csv_new(delim, max, record, r, &c), 0);
    size_t at = 0;
    int rc = 0;
    for (size_t i = 0; i <= ncuts && !rc; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        rc = sl_csv_feed(c, text + at, to - at, err);
        at = to;
    }
    if (!rc)
        rc = sl_csv_finish(c, err);
    sl_csv_free(c);
    return rc;
}

static char *parse_all(const char *text, size_t n, char delim)
{
    struct rec r = {0};
    struct sl_err err = {0};
    assert_int_equal(parse_cut(text, n, delim, 0, NULL, 0, &r, &err), 0);
    return r.out.data ? r.out.data : calloc(1, 1);
}

static void expect_rows(const char *text, const char *want)
{
    char *got = parse_all(text, strlen(text), ',');
    assert_string_equal(got, want);
    free(got);
}

static void test_quoted_fields(void **state)
{
    (void)state;
    expect_rows("a,b,c\n1,2,3\n", "1:[a][b][c]\n2:[1][2][3]\n");
    expect_rows("x,\"a,b\",\"say \"\"hi\"\"\"\n", "1:[x]q[a,b]q[say \"hi\"]\n");
    expect_rows("\"two\nlines\",z\nnext\n", "1:q[two\nlines][z]\n3:[next]\n");
    /* Empty fields, an empty quoted one, a trailing delimiter, no final
     * line break. */
    expect_rows(",,\"\"\na,", "1:[][]q[]\n2:[a][]\n");
    /* The forgiving cases: a quote inside an unquoted field is kept;
     * what follows a closing quote joins the field. */
    expect_rows("a\"b,\"ab\"c,\"\"\"\"\n", "1:[a\"b]q[abc]q[\"]\n");
    /* Another delimiter; a comma is then text. */
    char *got = parse_all("a;b,c\n", 6, ';');
    assert_string_equal(got, "1:[a][b,c]\n");
    free(got);
    /* A NUL is a byte like another. */
    got = parse_all("a\0b,c\n", 6, ',');
    assert_memory_equal(got, "1:[a\0b][c]\n", 11);
    free(got);
    struct sl_csv *c;
    assert_int_equal(sl_csv_new('"', 0, record, NULL, &c), SL_EINVAL);
    assert_int_equal(sl_csv_new('\n', 0, record, NULL, &c), SL_EINVAL);
    sl_csv_free(NULL);
}

static void test_line_breaks(void **state)
{
    (void)state;
    expect_rows("a,b\r\nc,d\r\n", "1:[a][b]\n2:[c][d]\n");
    expect_rows("a\rb\rc", "1:[a]\n2:[b]\n3:[c]\n");
    expect_rows("a\n\n\r\n\r\rb\n", "1:[a]\n6:[b]\n");
    expect_rows("a\n\r\n\nb\n", "1:[a]\n4:[b]\n");
    expect_rows("a\r\n\r\n\r\r\n\rb", "1:[a]\n6:[b]\n");
    /* Breaks inside quotes are the field's and count as lines: CRLF once. */
    expect_rows("\"1\r\n2\r3\n4\",x\r\ny\n", "1:q[1\r\n2\r3\n4][x]\n5:[y]\n");
    /* Only empty lines are skipped: a line of a space is a row. */
    expect_rows("\n \n", "2:[ ]\n");
    expect_rows("", "");
    expect_rows("\r\n\n", "");
}

static void test_bom(void **state)
{
    (void)state;
    expect_rows("\xEF\xBB\xBFid,v\n1,2\n", "1:[id][v]\n2:[1][2]\n");
    expect_rows("\xEF\xBB\xBF\"q\",v\n", "1:q[q][v]\n");
    /* Only at the start; and what only begins like one is text. */
    expect_rows("a\n\xEF\xBB\xBF" "b\n", "1:[a]\n2:[\xEF\xBB\xBF" "b]\n");
    expect_rows("\xEF\xBC\x8C,x\n", "1:[\xEF\xBC\x8C][x]\n");
    expect_rows("\xEF\xBB", "1:[\xEF\xBB]\n");
    expect_rows("\xEF\xBB\xBF", "");
    /* Split anywhere. */
    const char *text = "\xEF\xBB\xBF" "a,b\n";
    for (size_t i = 0; i <= strlen(text); i++) {
        struct rec r = {0};
        struct sl_err err = {0};
        assert_int_equal(parse_cut(text, strlen(text), ',', 0, &i, 1, &r, &err), 0);
        assert_string_equal(r.out.data, "1:[a][b]\n");
        sl_buf_free(&r.out);
    }
}

static const char TRICKY[] = "\xEF\xBB\xBF"
                             "id,name,note\r\n"
                             "1,\"a,b\",\"say \"\"hi\"\"\"\r\n"
                             "\r\n"
                             "2,\"multi\r\nline\nfield\rhere\",x\n"
                             "\n"
                             "3,,\"\"\r"
                             "4,\"\"\"\",\"ab\"c,d\"e\r\n"
                             "5,last,\"\"\"x\"\"\"";
static const char TRICKY_ROWS[] = "1:[id][name][note]\n"
                                  "2:[1]q[a,b]q[say \"hi\"]\n"
                                  "4:[2]q[multi\r\nline\nfield\rhere][x]\n"
                                  "9:[3][]q[]\n"
                                  "10:[4]q[\"]q[abc][d\"e]\n"
                                  "11:[5][last]q[\"x\"]\n";

static void test_every_split(void **state)
{
    (void)state;
    size_t n = sizeof(TRICKY) - 1;
    expect_rows(TRICKY, TRICKY_ROWS);
    /* Every pair of cut points (one cut too, when they meet). */
    for (size_t i = 0; i <= n; i++)
        for (size_t j = i; j <= n; j++) {
            size_t cuts[2] = {i, j};
            struct rec r = {0};
            struct sl_err err = {0};
            assert_int_equal(parse_cut(TRICKY, n, ',', 0, cuts, 2, &r, &err), 0);
            if (strcmp(r.out.data, TRICKY_ROWS) != 0)
                fail_msg("cut at %zu and %zu:\n%s", i, j, r.out.data);
            sl_buf_free(&r.out);
        }
    /* A byte at a time. */
    size_t cuts[sizeof(TRICKY)];
    for (size_t i = 0; i < n; i++)
        cuts[i] = i;
    struct rec r = {0};
    struct sl_err err = {0};
    assert_int_equal(parse_cut(TRICKY, n, ',', 0, cuts, n, &r, &err), 0);
    assert_string_equal(r.out.data, TRICKY_ROWS);
    sl_buf_free(&r.out);
}

static void test_unclosed_quote(void **state)
{
    (void)state;
    const char *text = "a,b\nc,\"open\nstill\n";
    struct rec r = {0};
    struct sl_err err = {0};
    struct sl_csv *c;
    assert_int_equal(sl_csv_new(',', 0, record, &r, &c), 0);
    sl_buf_init(&r.out, 0);
    assert_int_equal(sl_csv_feed(c, text, strlen(text), &err), 0);
    assert_true(sl_csv_in_quote(c));
    assert_int_equal(sl_csv_finish(c, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "line 2"));
    assert_int_equal(sl_csv_finish(c, &err), SL_EINVAL); /* (and stays so) */
    assert_string_equal(r.out.data, "1:[a][b]\n");
    sl_csv_free(c);
    sl_buf_free(&r.out);
    /* A quote closed at the very end is no open one. */
    assert_int_equal(sl_csv_new(',', 0, record, &r, &c), 0);
    sl_buf_init(&r.out, 0);
    r.rows = 0;
    assert_int_equal(sl_csv_feed(c, "\"x\"", 3, &err), 0);
    assert_false(sl_csv_in_quote(c));
    assert_int_equal(sl_csv_finish(c, &err), 0);
    assert_string_equal(r.out.data, "1:q[x]\n");
    sl_csv_free(c);
    sl_buf_free(&r.out);
}

static void test_row_cap(void **state)
{
    (void)state;
    const char *text = "abc\n0123456789\n\"01\",34567\n0123456789A\nz\n";
    size_t n = strlen(text);
    size_t cuts[64];
    for (size_t i = 0; i < n; i++)
        cuts[i] = i;
    /* Whole (in place), a byte at a time (copied), and cut in two. */
    for (size_t k = 0; k < 3; k++) {
        struct rec r = {0};
        struct sl_err err = {0};
        size_t mid = 20;
        int rc = parse_cut(text, n, ',', 10, k == 1 ? cuts : &mid, k == 0 ? 0 : k == 1 ? n : 1,
                           &r, &err);
        assert_int_equal(rc, SL_ETOOBIG);
        assert_non_null(strstr(err.msg, "line 4"));
        assert_string_equal(r.out.data, "1:[abc]\n2:[0123456789]\n3:q[01][34567]\n");
        sl_buf_free(&r.out);
    }
    /* Quotes count: "0123456789" is 12 bytes. */
    struct rec r = {0};
    struct sl_err err = {0};
    assert_int_equal(parse_cut("\"0123456789\"\n", 13, ',', 10, NULL, 0, &r, &err), SL_ETOOBIG);
    assert_non_null(strstr(err.msg, "line 1"));
    sl_buf_free(&r.out);
    /* A long row with the default cap of 1 MiB is read whole. */
    size_t big = 300000;
    char *t = malloc(big + 1);
    memset(t, 'x', big);
    for (size_t i = 100; i < big; i += 100)
        t[i] = ',';
    t[big - 1] = '\n';
    size_t cut = big / 2;
    assert_int_equal(parse_cut(t, big, ',', 0, &cut, 1, &r, &err), 0);
    assert_int_equal(r.rows, 1);
    sl_buf_free(&r.out);
    free(t);
}

static void test_stop(void **state)
{
    (void)state;
    struct rec r = {.stop_at = 2};
    struct sl_csv *c;
    struct sl_err err = {0};
    sl_buf_init(&r.out, 0);
    assert_int_equal(sl_csv_new(',', 0, record, &r, &c), 0);
    assert_int_equal(sl_csv_feed(c, "a\nb\nc\n", 6, &err), 7);
    assert_int_equal(sl_csv_feed(c, "d\n", 2, &err), 7);
    assert_int_equal(sl_csv_finish(c, &err), 7);
    assert_string_equal(r.out.data, "1:[a]\n2:[b]\n");
    sl_csv_free(c);
    sl_buf_free(&r.out);
}

static void sniff(const char *text, char want_delim, bool want_header)
{
    char d = 0;
    bool h = !want_header;
    assert_int_equal(sl_csv_sniff(text, strlen(text), &d, &h), 0);
    if (d != want_delim || h != want_header)
        fail_msg("%s: got '%c' %d, want '%c' %d", text, d, h, want_delim, want_header);
}

static void test_sniff(void **state)
{
    (void)state;
    sniff("name,age,city\nbob,30,paris\nann,25,rome\n", ',', true);
    sniff("a\tb\tc\n1\t2\t3\n", '\t', true);
    sniff("x;y\n1,5;2\n3,5;4\n", ';', true);
    sniff("a|b\nc|d\n", '|', false);      /* all strings: no header */
    sniff("1,2\n3,4\n", ',', false);      /* numbers in the first row */
    sniff("name,\nbob,3\n", ',', false);  /* an empty header field */
    sniff("day,n\n2024-01-02,x\n2024-01-03,y\n", ',', true); /* dates */
    sniff("\"a,b\",c\n\"x,y\",1\n", ',', true);
    sniff("a,b,c", ',', false);           /* one row */
    sniff("", ',', false);
    sniff("hello\nworld\n", ',', false);  /* one column */
    sniff("a,b;c\nd,e;f;g\n", ',', false);
    /* The last row the sample cuts is not looked at once two are whole. */
    sniff("k,v\nab,1\ncd,2\nef,x", ',', true);
    /* Unless it is needed. */
    sniff("k,v\nab,1", ',', true);
}

/* ---- inference ------------------------------------------------------------------------ */

static enum sl_pq_type infer(const char *const *texts)
{
    struct sl_infer_col c;
    sl_infer_init(&c);
    for (size_t i = 0; texts[i]; i++)
        sl_infer_text(&c, texts[i], strlen(texts[i]));
    struct sl_pq_column col = {0};
    sl_infer_result(&c, &col);
    return col.type;
}

static void test_infer_kinds(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum sl_infer_kind kind;
    } cases[] = {
        {"", SL_INFER_NULL},
        {"true", SL_INFER_BOOL},
        {"FALSE", SL_INFER_BOOL},
        {"tRuE", SL_INFER_BOOL},
        {"t", SL_INFER_STRING},
        {"yes", SL_INFER_STRING},
        {"0", SL_INFER_BIGINT},
        {"-0", SL_INFER_BIGINT},
        {"+42", SL_INFER_BIGINT},
        {"-9223372036854775808", SL_INFER_BIGINT},
        {"9223372036854775807", SL_INFER_BIGINT},
        {"9223372036854775808", SL_INFER_DOUBLE},
        {"007", SL_INFER_STRING},
        {"1.5", SL_INFER_DOUBLE},
        {"-0.25", SL_INFER_DOUBLE},
        {".5", SL_INFER_DOUBLE},
        {"5.", SL_INFER_DOUBLE},
        {"1e5", SL_INFER_DOUBLE},
        {"1E-05", SL_INFER_DOUBLE},
        {"00.5", SL_INFER_STRING},
        {"1.2.3", SL_INFER_STRING},
        {"1e", SL_INFER_STRING},
        {"-", SL_INFER_STRING},
        {".", SL_INFER_STRING},
        {"NaN", SL_INFER_STRING},
        {"inf", SL_INFER_STRING},
        {"-inf", SL_INFER_STRING},
        {"0x10", SL_INFER_STRING},
        {" 1", SL_INFER_STRING},
        {"1 ", SL_INFER_STRING},
        {"2024-02-29", SL_INFER_DATE},
        {"2023-02-29", SL_INFER_STRING},
        {"2023-02-30", SL_INFER_STRING},
        {"2023-13-01", SL_INFER_STRING},
        {"2023-1-01", SL_INFER_STRING},
        {"2024-05-01T12:30:00Z", SL_INFER_TIMESTAMP},
        {"2024-05-01T12:30:00.123456+02:00", SL_INFER_TIMESTAMP},
        {"2024-05-01t12:30:00-05:30", SL_INFER_TIMESTAMP},
        {"2024-05-01 12:30:00", SL_INFER_TIMESTAMP},
        {"2024-05-01 12:30:00.5", SL_INFER_TIMESTAMP},
        {"2024-05-01T12:30:00", SL_INFER_TIMESTAMP},
        {"2024-05-01T24:00:00Z", SL_INFER_STRING},
        {"2024-05-01T12:30Z", SL_INFER_STRING},
        {"2024-05-01T12:30:00.Z", SL_INFER_STRING},
        {"2024-05-01T12:30:00+2:00", SL_INFER_STRING},
        {"2024-05-01T12:30:00+02:60", SL_INFER_STRING},
        {"2024-05-01T12:30:00Zx", SL_INFER_STRING},
        {"hello", SL_INFER_STRING},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++)
        if (sl_infer_kind_of(cases[i].text, strlen(cases[i].text)) != cases[i].kind)
            fail_msg("%s: kind %d, want %d", cases[i].text,
                     sl_infer_kind_of(cases[i].text, strlen(cases[i].text)), cases[i].kind);
    /* Not NUL-terminated: only n bytes are read. */
    assert_int_equal(sl_infer_kind_of("12abc", 2), SL_INFER_BIGINT);
    assert_int_equal(sl_infer_kind_of("2024-01-02T", 10), SL_INFER_DATE);
}

static void test_infer_widening(void **state)
{
    (void)state;
    static const char *const sample[] = {"true", "42", "1.5", "2024-01-02",
                                         "2024-01-02 03:04:05", "x"};
    static const enum sl_pq_type alone[] = {SL_PQ_BOOL, SL_PQ_INT64, SL_PQ_DOUBLE,
                                            SL_PQ_DATE, SL_PQ_TIMESTAMP_US, SL_PQ_STRING};
    for (size_t a = 0; a < 6; a++)
        for (size_t b = 0; b < 6; b++) {
            enum sl_pq_type want = SL_PQ_STRING;
            if (a == b)
                want = alone[a];
            else if ((a == 1 || a == 2) && (b == 1 || b == 2))
                want = SL_PQ_DOUBLE;
            else if ((a == 3 || a == 4) && (b == 3 || b == 4))
                want = SL_PQ_TIMESTAMP_US;
            const char *texts[] = {sample[a], "", sample[b], NULL};
            if (infer(texts) != want)
                fail_msg("%s + %s: %d, want %d", sample[a], sample[b], infer(texts), want);
        }
    /* Three kinds: bigint, double and a date are a string. */
    const char *mix[] = {"1", "2.5", "2024-01-01", NULL};
    assert_int_equal(infer(mix), SL_PQ_STRING);
    /* Nulls alone, or nothing: an optional string. Never null: required. */
    struct sl_infer_col c;
    struct sl_pq_column col;
    sl_infer_init(&c);
    sl_infer_result(&c, &col);
    assert_int_equal(col.type, SL_PQ_STRING);
    assert_true(col.optional);
    sl_infer_text(&c, "", 0);
    sl_infer_result(&c, &col);
    assert_int_equal(col.type, SL_PQ_STRING);
    assert_true(col.optional);
    sl_infer_init(&c);
    sl_infer_text(&c, "7", 1);
    sl_infer_result(&c, &col);
    assert_int_equal(col.type, SL_PQ_INT64);
    assert_false(col.optional);
    char name[32];
    assert_string_equal(sl_pq_type_name(&col, name, sizeof(name)), "bigint");
    /* Merging another file's view of the column. */
    struct sl_infer_col d;
    sl_infer_init(&d);
    sl_infer_text(&d, "2.5", 3);
    sl_infer_text(&d, "", 0);
    sl_infer_merge(&c, &d);
    sl_infer_result(&c, &col);
    assert_int_equal(col.type, SL_PQ_DOUBLE);
    assert_true(col.optional);
    assert_int_equal(c.values, 3);
}

static enum sl_pq_type infer_json(const char *text, bool *optional)
{
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    struct sl_infer_col c;
    sl_infer_init(&c);
    size_t i;
    json_t *v;
    json_array_foreach(doc, i, v)
    {
        bool absent = json_is_string(v) && !strcmp(json_string_value(v), "<absent>");
        sl_infer_json(&c, absent ? NULL : v);
    }
    json_decref(doc);
    struct sl_pq_column col;
    sl_infer_result(&c, &col);
    *optional = col.optional;
    return col.type;
}

static void test_infer_json(void **state)
{
    (void)state;
    bool opt;
    assert_int_equal(infer_json("[1, 2, -3]", &opt), SL_PQ_INT64);
    assert_false(opt);
    assert_int_equal(infer_json("[1, 2.5]", &opt), SL_PQ_DOUBLE);
    assert_int_equal(infer_json("[true, false, null]", &opt), SL_PQ_BOOL);
    assert_true(opt);
    assert_int_equal(infer_json("[\"2024-01-02\", \"<absent>\"]", &opt), SL_PQ_DATE);
    assert_true(opt);
    assert_int_equal(infer_json("[\"2024-01-02\", \"2024-01-02T03:04:05Z\"]", &opt),
                     SL_PQ_TIMESTAMP_US);
    /* Strings are never numbers or booleans (from_json takes none from one). */
    assert_int_equal(infer_json("[\"123\"]", &opt), SL_PQ_STRING);
    assert_int_equal(infer_json("[\"true\"]", &opt), SL_PQ_STRING);
    assert_int_equal(infer_json("[\"\"]", &opt), SL_PQ_STRING);
    assert_false(opt);
    assert_int_equal(infer_json("[{\"a\": 1}]", &opt), SL_PQ_STRING);
    assert_int_equal(infer_json("[[1]]", &opt), SL_PQ_STRING);
    assert_int_equal(infer_json("[1, \"x\"]", &opt), SL_PQ_STRING);
    assert_int_equal(infer_json("[null]", &opt), SL_PQ_STRING);
    assert_true(opt);
}

/* ---- cells as values ------------------------------------------------------------------ */

static int from_text(enum sl_pq_type t, const char *s, struct sl_pq_value *v, struct sl_err *err)
{
    struct sl_pq_column c = {"col", t, true, 0, 0};
    return sl_pq_value_from_text(&c, s, strlen(s), NULL, v, err);
}

static void expect_int(enum sl_pq_type t, const char *s, int64_t want)
{
    struct sl_pq_value v;
    struct sl_err err = {0};
    if (from_text(t, s, &v, &err) || v.null || v.i64 != want)
        fail_msg("%s: %lld (%s), want %lld", s, (long long)v.i64, err.msg, (long long)want);
}

static void expect_bad(enum sl_pq_type t, const char *s, const char *msg)
{
    struct sl_pq_value v;
    struct sl_err err = {0};
    assert_int_equal(from_text(t, s, &v, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "column col"));
    if (!strstr(err.msg, msg))
        fail_msg("%s: \"%s\" lacks \"%s\"", s, err.msg, msg);
}

static void test_value_scalars(void **state)
{
    (void)state;
    struct sl_pq_value v;
    struct sl_err err = {0};
    /* Empty: null, or refused in a required column. */
    assert_int_equal(from_text(SL_PQ_INT64, "", &v, &err), 0);
    assert_true(v.null);
    struct sl_pq_column req = {"must", SL_PQ_STRING, false, 0, 0};
    assert_int_equal(sl_pq_value_from_text(&req, "", 0, NULL, &v, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "column must"));
    assert_int_equal(sl_pq_value_from_text(&req, "x", 1, NULL, &v, &err), 0);
    assert_false(v.null);

    assert_int_equal(from_text(SL_PQ_BOOL, "TRUE", &v, &err), 0);
    assert_true(v.b);
    assert_int_equal(from_text(SL_PQ_BOOL, "False", &v, &err), 0);
    assert_false(v.b);
    expect_bad(SL_PQ_BOOL, "yes", "boolean");
    expect_bad(SL_PQ_BOOL, "1", "boolean");

    expect_int(SL_PQ_INT32, "2147483647", INT32_MAX);
    expect_int(SL_PQ_INT32, "-2147483648", INT32_MIN);
    expect_int(SL_PQ_INT32, "+007", 7);
    expect_bad(SL_PQ_INT32, "2147483648", "out of range for int");
    expect_bad(SL_PQ_INT32, "-2147483649", "out of range for int");
    expect_int(SL_PQ_INT64, "9223372036854775807", INT64_MAX);
    expect_int(SL_PQ_INT64, "-9223372036854775808", INT64_MIN);
    expect_bad(SL_PQ_INT64, "9223372036854775808", "out of range for bigint");
    expect_bad(SL_PQ_INT64, "-99999999999999999999999", "out of range");
    expect_bad(SL_PQ_INT64, "1.5", "not an integer");
    expect_bad(SL_PQ_INT64, "12a", "not an integer");
    expect_bad(SL_PQ_INT64, "-", "not an integer");
    expect_bad(SL_PQ_INT64, " 1", "not an integer");

    /* Numbers: s is not NUL-terminated. */
    struct sl_pq_column dc = {"col", SL_PQ_DOUBLE, true, 0, 0};
    assert_int_equal(sl_pq_value_from_text(&dc, "1.5e3999", 3, NULL, &v, &err), 0);
    assert_true(v.d == 1.5);
    assert_int_equal(sl_pq_value_from_text(&dc, "-2.5e-3,", 7, NULL, &v, &err), 0);
    assert_true(v.d == -2.5e-3);
    assert_int_equal(from_text(SL_PQ_DOUBLE, "12345678901234567890", &v, &err), 0);
    assert_true(v.d == 12345678901234567890.0);
    assert_int_equal(from_text(SL_PQ_DOUBLE, ".5", &v, &err), 0);
    assert_true(v.d == 0.5);
    expect_bad(SL_PQ_DOUBLE, "NaN", "not a number");
    expect_bad(SL_PQ_DOUBLE, "inf", "not a number");
    expect_bad(SL_PQ_DOUBLE, "0x1p3", "not a number");
    expect_bad(SL_PQ_DOUBLE, "1e", "not a number");
    assert_int_equal(from_text(SL_PQ_FLOAT, "3.25", &v, &err), 0);
    assert_true(v.d == 3.25);
    expect_bad(SL_PQ_FLOAT, "1e39", "out of range for float");
    /* A long number (copied to be read). */
    char longnum[300];
    memset(longnum, '0', sizeof(longnum));
    longnum[0] = '1';
    longnum[1] = '.';
    longnum[sizeof(longnum) - 1] = '\0';
    assert_int_equal(from_text(SL_PQ_DOUBLE, longnum, &v, &err), 0);
    assert_true(v.d == 1.0);

    /* Strings must be UTF-8; binary is anything. */
    assert_int_equal(from_text(SL_PQ_STRING, "caf\xc3\xa9", &v, &err), 0);
    assert_int_equal(v.n, 5);
    expect_bad(SL_PQ_STRING, "caf\xe9", "UTF-8");
    expect_bad(SL_PQ_STRING, "\xc0\x80", "UTF-8");
    assert_int_equal(from_text(SL_PQ_BINARY, "\xff\xfe", &v, &err), 0);
    assert_int_equal(v.n, 2);
    assert_memory_equal(v.s, "\xff\xfe", 2);
}

static void test_value_dates(void **state)
{
    (void)state;
    expect_int(SL_PQ_DATE, "1970-01-01", 0);
    expect_int(SL_PQ_DATE, "1969-12-31", -1);
    expect_int(SL_PQ_DATE, "2024-02-29", 19782);
    expect_int(SL_PQ_DATE, "9999-12-31", 2932896);
    expect_int(SL_PQ_DATE, "0001-01-01", -719162);
    expect_bad(SL_PQ_DATE, "2023-02-29", "not a date");
    expect_bad(SL_PQ_DATE, "2023-02-30", "not a date");
    expect_bad(SL_PQ_DATE, "2023-04-31", "not a date");
    expect_bad(SL_PQ_DATE, "2023-00-10", "not a date");
    expect_bad(SL_PQ_DATE, "2023-1-1", "not a date");
    expect_bad(SL_PQ_DATE, "2023-01-01T00:00:00Z", "not a date");
    expect_bad(SL_PQ_DATE, "19782", "not a date");

    /* Timestamps: zones applied, fractions to the unit (cut, floored). */
    expect_int(SL_PQ_TIMESTAMP_US, "2024-05-01T12:30:00.123456+02:00", 1714559400123456);
    expect_int(SL_PQ_TIMESTAMP_US, "2024-05-01T10:30:00.123456Z", 1714559400123456);
    expect_int(SL_PQ_TIMESTAMP_US, "2024-05-01 10:30:00.1234567", 1714559400123456);
    expect_int(SL_PQ_TIMESTAMP_MS, "2024-05-01T12:30:00.123456+02:00", 1714559400123);
    expect_int(SL_PQ_TIMESTAMP_MS, "2024-05-01T12:30:00-05:30", 1714586400000);
    expect_int(SL_PQ_TIMESTAMP_MS, "2021-03-04 05:06:07.89", 1614834367890);
    expect_int(SL_PQ_TIMESTAMP_US, "2021-03-04 05:06:07.89", 1614834367890000);
    expect_int(SL_PQ_TIMESTAMP_US, "2024-02-29", 19782LL * 86400 * 1000000);
    expect_int(SL_PQ_TIMESTAMP_MS, "1969-12-31T23:59:59.9995Z", -1);
    expect_int(SL_PQ_TIMESTAMP_US, "1970-01-01T00:00:00+01:00", -3600000000LL);
    expect_bad(SL_PQ_TIMESTAMP_US, "2024-05-01T12:30", "not a timestamp");
    expect_bad(SL_PQ_TIMESTAMP_US, "2024-05-01T25:00:00Z", "not a timestamp");
    expect_bad(SL_PQ_TIMESTAMP_US, "2024-05-01T12:30:00+0200", "not a timestamp");
    expect_bad(SL_PQ_TIMESTAMP_US, "2023-02-30 00:00:00", "not a timestamp");
    expect_bad(SL_PQ_TIMESTAMP_MS, "1714559400123", "not a timestamp");
}

static void expect_decimal(int p, int s, const char *text, int64_t want)
{
    struct sl_pq_column c = {"col", SL_PQ_DECIMAL, true, p, s};
    struct sl_pq_value v;
    struct sl_err err = {0};
    if (sl_pq_value_from_text(&c, text, strlen(text), NULL, &v, &err) || v.i64 != want)
        fail_msg("%s as decimal(%d,%d): %lld (%s)", text, p, s, (long long)v.i64, err.msg);
}

static void expect_bad_decimal(int p, int s, const char *text, const char *msg)
{
    struct sl_pq_column c = {"col", SL_PQ_DECIMAL, true, p, s};
    struct sl_pq_value v;
    struct sl_err err = {0};
    assert_int_equal(sl_pq_value_from_text(&c, text, strlen(text), NULL, &v, &err), SL_EINVAL);
    if (!strstr(err.msg, msg) || !strstr(err.msg, "column col"))
        fail_msg("%s as decimal(%d,%d): \"%s\"", text, p, s, err.msg);
}

static void test_value_decimals(void **state)
{
    (void)state;
    expect_decimal(5, 2, "123.45", 12345);
    expect_decimal(5, 2, "-0.5", -50);
    expect_decimal(5, 2, "+7", 700);
    expect_decimal(5, 2, "007.10", 710);
    expect_decimal(5, 2, "1.230", 123); /* (zeros past the scale change nothing) */
    expect_decimal(5, 2, ".5", 50);
    expect_decimal(5, 2, "999.99", 99999);
    expect_decimal(18, 0, "999999999999999999", 999999999999999999LL);
    expect_decimal(18, 18, "-0.999999999999999999", -999999999999999999LL);
    expect_decimal(9, 0, "-5", -5);
    expect_bad_decimal(5, 2, "1.234", "more than 2 digits after the point");
    expect_bad_decimal(5, 2, "1234.5", "more than 3 digits before the point");
    expect_bad_decimal(18, 0, "1000000000000000000", "more than 18 digits before");
    expect_bad_decimal(5, 2, "1e3", "not a decimal");
    expect_bad_decimal(5, 2, "abc", "not a decimal");
    expect_bad_decimal(5, 2, ".", "not a decimal");
    expect_bad_decimal(5, 2, "-", "not a decimal");
    expect_bad_decimal(5, 2, "1.2.3", "not a decimal");
    /* The JSON side shares the scanner: a string past the precision is
     * refused there too; numbers are scaled. */
    struct sl_pq_column c = {"col", SL_PQ_DECIMAL, true, 5, 2};
    struct sl_pq_value v;
    struct sl_err err = {0};
    json_t *j = json_string("1234.5");
    assert_int_equal(sl_pq_value_from_json(&c, j, NULL, &v, &err), SL_EINVAL);
    json_decref(j);
    j = json_string("-12.3");
    assert_int_equal(sl_pq_value_from_json(&c, j, NULL, &v, &err), 0);
    assert_int_equal(v.i64, -1230);
    json_decref(j);
    j = json_integer(1000);
    assert_int_equal(sl_pq_value_from_json(&c, j, NULL, &v, &err), SL_EINVAL);
    json_decref(j);
    j = json_real(-0.125);
    assert_int_equal(sl_pq_value_from_json(&c, j, NULL, &v, &err), 0);
    assert_int_equal(v.i64, -13);
    json_decref(j);
    j = json_real(1e30);
    assert_int_equal(sl_pq_value_from_json(&c, j, NULL, &v, &err), SL_EINVAL);
    json_decref(j);
}

/* What inference calls a kind converts to the type it gives. */
static void test_inferred_converts(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "true", "False", "0", "-0", "+12", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "1.5", ".5", "5.", "-1e-7", "1E+300", "1e999", "2024-02-29",
        "0000-01-01", "9999-12-31T23:59:60.999999-23:59", "2024-01-02 03:04:05.123456789",
        "2024-01-02t03:04:05z", "x", "007",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(texts); i++) {
        const char *s = texts[i];
        struct sl_infer_col ic;
        sl_infer_init(&ic);
        sl_infer_text(&ic, s, strlen(s));
        struct sl_pq_column c = {"col", SL_PQ_STRING, false, 0, 0};
        sl_infer_result(&ic, &c);
        struct sl_pq_value v;
        struct sl_err err = {0};
        if (sl_pq_value_from_text(&c, s, strlen(s), NULL, &v, &err))
            fail_msg("%s inferred as %d does not convert: %s", s, c.type, err.msg);
        /* Widened types take the narrower kinds' texts. */
        if (c.type == SL_PQ_INT64 || c.type == SL_PQ_DATE) {
            c.type = c.type == SL_PQ_INT64 ? SL_PQ_DOUBLE : SL_PQ_TIMESTAMP_US;
            if (sl_pq_value_from_text(&c, s, strlen(s), NULL, &v, &err))
                fail_msg("%s widened does not convert: %s", s, err.msg);
        }
    }
}

/* Doubles read from text are the same bits strtod gives (the fast path
 * for short decimals, and strtod past it), over many random forms. */
static void test_doubles_as_strtod(void **state)
{
    (void)state;
    struct sl_pq_column c = {.name = "d", .type = SL_PQ_DOUBLE, .optional = true};
    uint64_t x = 88172645463325252ull;
    char text[64];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int len = 0;
        if (x & 1)
            text[len++] = '-';
        int ints = (int)(x >> 8 & 15), fracs = (int)(x >> 12 & 15);
        for (int k = 0; k < ints || (!ints && !fracs && k < 1); k++)
            text[len++] = (char)('0' + (x >> (16 + k * 3) & 7) + (k ? 2 : 1));
        if (fracs) {
            text[len++] = '.';
            for (int k = 0; k < fracs; k++)
                text[len++] = (char)('0' + (x >> (20 + k * 2) % 64 & 7) + 2);
        }
        if (x >> 60 & 1)
            len += snprintf(text + len, sizeof(text) - (size_t)len, "e%d",
                            (int)(x >> 40 & 63) - 32);
        text[len] = '\0';
        struct sl_pq_value v;
        struct sl_err err = {0};
        assert_int_equal(sl_pq_value_from_text(&c, text, (size_t)len, NULL, &v, &err), 0);
        double want = strtod(text, NULL);
        if (memcmp(&v.d, &want, sizeof(want)) != 0)
            fail_msg("%s: %.17g, strtod %.17g", text, v.d, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoted_fields),
        cmocka_unit_test(test_line_breaks),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_unclosed_quote),
        cmocka_unit_test(test_row_cap),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_infer_kinds),
        cmocka_unit_test(test_infer_widening),
        cmocka_unit_test(test_infer_json),
        cmocka_unit_test(test_value_scalars),
        cmocka_unit_test(test_value_dates),
        cmocka_unit_test(test_value_decimals),
        cmocka_unit_test(test_inferred_converts),
        cmocka_unit_test(test_doubles_as_strtod),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
