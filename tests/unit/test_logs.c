/* Unit tests of the CloudWatch Logs service's pieces: the filter-pattern
 * matcher (CloudWatch's term semantics), event keys, the JSON encoding of
 * messages, and the sink (queue bound, group commit, flush on free). */
#include <dirent.h>
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "services/logs/internal.h"

/* ---- filter patterns ---------------------------------------------------- */

static struct sl_logs_filter *parse(const char *pattern)
{
    struct sl_logs_filter *f = NULL;
    struct sl_err err = {0};
    assert_int_equal(sl_logs_filter_parse(pattern, strlen(pattern), &f, &err), 0);
    assert_non_null(f);
    return f;
}

static bool match(const char *pattern, const char *msg)
{
    struct sl_logs_filter *f = parse(pattern);
    bool m = sl_logs_filter_match(f, msg, strlen(msg));
    sl_logs_filter_free(f);
    return m;
}

static void test_filter_empty_matches_all(void **state)
{
    (void)state;
    assert_true(match("", "anything"));
    assert_true(match("   ", ""));
    struct sl_logs_filter *f = parse(" \t ");
    assert_int_equal(sl_logs_filter_terms(f), 0);
    sl_logs_filter_free(f);
}

static void test_filter_terms_all_must_occur(void **state)
{
    (void)state;
    assert_true(match("ERROR", "2024 ERROR disk full"));
    assert_false(match("ERROR", "2024 error disk full")); /* case-sensitive */
    assert_true(match("ERROR disk", "disk: ERROR"));      /* any order */
    assert_false(match("ERROR memory", "ERROR disk full"));
    assert_true(match("ERR", "ERROR")); /* a term matches inside words */
    assert_true(match("  a \t b  ", "b a"));
    struct sl_logs_filter *f = parse("a b c");
    assert_int_equal(sl_logs_filter_terms(f), 3);
    sl_logs_filter_free(f);
}

static void test_filter_quoted_phrases(void **state)
{
    (void)state;
    assert_true(match("\"Task timed out\"", "x Task timed out after 3.00 seconds"));
    assert_false(match("\"Task timed out\"", "Task out timed"));
    assert_true(match("\"RequestId: abc\" START", "START RequestId: abc Version"));
    assert_true(match("\"say \\\"hi\\\"\"", "they say \"hi\" here"));
    assert_true(match("\"back\\\\slash\"", "a back\\slash b"));
    assert_true(match("\"\"", "empty phrase matches everything"));
    struct sl_logs_filter *f = parse("\"a b\" c");
    assert_int_equal(sl_logs_filter_terms(f), 2);
    sl_logs_filter_free(f);
}

static void test_filter_optional_terms(void **state)
{
    (void)state;
    assert_true(match("?ERROR ?WARN", "WARN low disk"));
    assert_true(match("?ERROR ?WARN", "ERROR"));
    assert_false(match("?ERROR ?WARN", "INFO all good"));
    assert_true(match("?\"timed out\" ?Exception", "Task timed out"));
    /* Plain terms still all have to occur. */
    assert_true(match("disk ?ERROR ?WARN", "disk WARN"));
    assert_false(match("disk ?ERROR ?WARN", "cpu WARN"));
    assert_false(match("disk ?ERROR ?WARN", "disk INFO"));
}

static void test_filter_excluded_terms(void **state)
{
    (void)state;
    assert_true(match("ERROR -Exiting", "ERROR disk"));
    assert_false(match("ERROR -Exiting", "ERROR Exiting now"));
    assert_false(match("-\"health check\"", "GET /health check ok"));
    assert_true(match("-\"health check\"", "GET /health ok"));
    /* A lone '?' or '-' is a term of its own. */
    assert_true(match("- x", "a - x"));
    assert_false(match("- x", "a x"));
    assert_true(match("?", "why?"));
}

static void test_filter_binary_messages(void **state)
{
    (void)state;
    struct sl_logs_filter *f = parse("needle");
    const char msg[] = "hay\0stack needle";
    assert_true(sl_logs_filter_match(f, msg, sizeof(msg) - 1));
    assert_false(sl_logs_filter_match(f, msg, 8));
    sl_logs_filter_free(f);
    assert_true(sl_logs_filter_match(NULL, "x", 1)); /* no filter: all */
}

static void test_filter_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\"unterminated",  "a \"b",          "\"a\"b",        "{ $.level = \"error\" }",
        "[ip, user, ...]", "%ERROR [0-9]+%", "  { $.x = 1 }",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        struct sl_logs_filter *f = (void *)1;
        struct sl_err err = {0};
        assert_int_equal(sl_logs_filter_parse(bad[i], strlen(bad[i]), &f, &err), SL_EINVAL);
        assert_null(f);
        assert_non_null(strstr(err.msg, "filter pattern"));
    }
}

/* ---- keys and JSON ------------------------------------------------------ */

static void test_keys_sort_by_time_then_arrival(void **state)
{
    (void)state;
    char a[SL_LOGS_KEY_LEN + 1], b[SL_LOGS_KEY_LEN + 1], c[SL_LOGS_KEY_LEN + 1];
    sl_logs_key(a, 1700000000000, 9);
    sl_logs_key(b, 1700000000000, 10);
    sl_logs_key(c, 1700000000001, 1);
    assert_int_equal(strlen(a), SL_LOGS_KEY_LEN);
    assert_string_equal(a, "00017000000000000000000000000009");
    assert_true(strcmp(a, b) < 0 && strcmp(b, c) < 0);
    /* The boundary (t, 0) sorts before every event of time t. */
    char t0[SL_LOGS_KEY_LEN + 1];
    sl_logs_key(t0, 1700000000001, 0);
    assert_true(strcmp(b, t0) < 0 && strcmp(t0, c) < 0);
    int64_t ts;
    uint64_t seq;
    assert_int_equal(sl_logs_key_parse(b, strlen(b), &ts, &seq), 0);
    assert_int_equal(ts, 1700000000000);
    assert_int_equal(seq, 10);
    assert_int_equal(sl_logs_key_parse(b, strlen(b) - 1, &ts, &seq), SL_EINVAL);
    assert_int_equal(sl_logs_key_parse("0001700000000000000000000000000x", 32, &ts, &seq),
                     SL_EINVAL);
    /* Out-of-range timestamps are clamped, so keys stay fixed-width. */
    sl_logs_key(a, -5, 1);
    assert_string_equal(a, "00000000000000000000000000000001");
    sl_logs_key(a, INT64_MAX, 1);
    assert_int_equal(strlen(a), SL_LOGS_KEY_LEN);
    assert_memory_equal(a, "9999999999999999", 16);
}

static char *json_of(const char *s, size_t n, bool newline)
{
    struct sl_buf b;
    sl_buf_init(&b, 0);
    assert_int_equal(sl_logs_json_string(&b, s, n, newline), 0);
    return sl_buf_steal(&b, NULL);
}

static void test_json_string_escapes_and_repairs(void **state)
{
    (void)state;
    char *j = json_of("a\"b\\c\td\x01", 8, true);
    assert_string_equal(j, "\"a\\\"b\\\\c\\td\\u0001\\n\"");
    free(j);
    /* Well-formed UTF-8 is kept; invalid bytes and NUL become U+FFFD. */
    const char in[] = "\xc3\xa9 \xff \xc3 \xed\xa0\x80 \x00 \xf0\x9f\x98\x80";
    j = json_of(in, sizeof(in) - 1, false);
    json_error_t e;
    json_t *v = json_loads(j, JSON_DECODE_ANY, &e);
    assert_non_null(v);
    assert_string_equal(json_string_value(v), "\xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd "
                                              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                                              "\xef\xbf\xbd \xf0\x9f\x98\x80");
    json_decref(v);
    free(j);
    /* A sequence cut at the end of the line. */
    j = json_of("ab\xe2\x82", 4, false);
    assert_string_equal(j, "\"ab\xef\xbf\xbd\xef\xbf\xbd\"");
    free(j);
}

/* ---- the sink ----------------------------------------------------------- */

struct fixture {
    char root[512];
    struct sl_store *s;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    const char *base = getenv("SLUICE_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700);
    snprintf(fx->root, sizeof(fx->root), "%s/logs-XXXXXX", base);
    assert_non_null(mkdtemp(fx->root));
    struct sl_err err = {0};
    assert_int_equal(sl_store_open(&fx->s, fx->root, &err), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    sl_store_close(fx->s);
    nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

/* The events of a stream, in key order. */
static size_t list_events(struct fixture *fx, const char *group, const char *stream,
                          struct sl_item **items)
{
    char epk[SL_LOGS_EPK_MAX];
    sl_logs_event_pk(epk, sizeof(epk), "000000000000", "us-east-1", group, stream);
    size_t n = 0;
    assert_int_equal(sl_kv_list(fx->s, SL_LOGS_NS_EVENT, epk, NULL, NULL, SIZE_MAX, items, &n), 0);
    return n;
}

static json_t *item_json(const struct sl_item *it)
{
    json_t *v = json_loadb(it->val, it->val_len, 0, NULL);
    assert_non_null(v);
    return v;
}

static void free_list(struct sl_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
}

/* A transaction that holds the store's writer until released. */
struct hold {
    atomic_bool running, release;
};

static int hold_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)t;
    (void)err;
    struct hold *h = arg;
    atomic_store(&h->running, true);
    while (!atomic_load(&h->release))
        sched_yield();
    return 0;
}

struct holder {
    struct sl_store *s;
    struct hold h;
    pthread_t thread;
};

static void *hold_thread(void *arg)
{
    struct holder *hd = arg;
    struct sl_err err = {0};
    assert_int_equal(sl_store_write(hd->s, hold_txn, &hd->h, &err), 0);
    return NULL;
}

static void test_sink_group_commit(void **state)
{
    struct fixture *fx = *state;
    struct sl_logs *l = NULL;
    struct sl_err err = {0};
    assert_int_equal(sl_logs_new(&l, fx->s, 0, &err), 0);

    /* While the writer is held, every line queues: the flusher gets at
     * most one write in before the others, which then go in one more. */
    struct holder hd = {.s = fx->s};
    assert_int_equal(pthread_create(&hd.thread, NULL, hold_thread, &hd), 0);
    while (!atomic_load(&hd.h.running))
        sched_yield();
    struct sl_store_stats before;
    sl_store_get_stats(fx->s, &before);
    enum { LINES = 3000 };
    static const char *const streams[] = {"2024/01/02/[$LATEST]aa", "2024/01/02/[$LATEST]bb"};
    for (int i = 0; i < LINES; i++) {
        char line[64];
        int n = snprintf(line, sizeof(line), "line %d", i);
        const char *group = i % 3 == 2 ? "/aws/lambda/g" : "/aws/lambda/f";
        sl_logs_sink(l, "000000000000", "us-east-1", group, streams[i % 2], 1700000000000 + i, line,
                     (size_t)n);
    }
    atomic_store(&hd.h.release, true);
    pthread_join(hd.thread, NULL);
    /* Wait (with a deadline) for the flusher to store everything. */
    struct sl_logs_stats st;
    int64_t deadline = sl_time_mono_ns() + 30 * 1000000000LL;
    do {
        sched_yield();
        sl_logs_get_stats(l, &st);
    } while (st.written < LINES && sl_time_mono_ns() < deadline);
    assert_int_equal(st.queued, LINES);
    assert_int_equal(st.written, LINES);
    assert_int_equal(st.dropped, 0);
    assert_true(st.flushes >= 1 && st.flushes <= 2);
    sl_logs_free(l);
    /* The holder's transaction, and one per flush. */
    struct sl_store_stats after;
    sl_store_get_stats(fx->s, &after);
    assert_int_equal(after.transactions - before.transactions, 1 + st.flushes);

    /* Groups and streams were created on first use; lines keep their order. */
    struct sl_item it;
    assert_int_equal(
        sl_kv_get(fx->s, SL_LOGS_NS_GROUP, "000000000000:us-east-1", "/aws/lambda/f", &it), 0);
    json_t *g = item_json(&it);
    assert_string_equal(json_string_value(json_object_get(g, "arn")),
                        "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/f:*");
    json_decref(g);
    sl_item_free(&it);
    size_t total = 0;
    for (size_t s = 0; s < 2; s++) {
        for (size_t gi = 0; gi < 2; gi++) {
            const char *group = gi ? "/aws/lambda/g" : "/aws/lambda/f";
            struct sl_item *items;
            size_t n = list_events(fx, group, streams[s], &items);
            int64_t prev = -1;
            for (size_t i = 0; i < n; i++) {
                json_t *v = item_json(&items[i]);
                int64_t ts = (int64_t)json_integer_value(json_object_get(v, "timestamp"));
                int line = (int)(ts - 1700000000000);
                char want[64];
                snprintf(want, sizeof(want), "line %d\n", line);
                assert_string_equal(json_string_value(json_object_get(v, "message")), want);
                assert_true(ts > prev);
                assert_int_equal(line % 2, (int)s);
                assert_int_equal(line % 3 == 2, (int)gi);
                prev = ts;
                json_decref(v);
            }
            total += n;
            free_list(items, n);
            char spk[SL_LOGS_SPK_MAX];
            sl_logs_stream_pk(spk, sizeof(spk), "000000000000", "us-east-1", group);
            assert_int_equal(sl_kv_get(fx->s, SL_LOGS_NS_STREAM, spk, streams[s], &it), 0);
            json_t *sv = item_json(&it);
            assert_true(json_integer_value(json_object_get(sv, "firstEventTimestamp")) >=
                        1700000000000);
            assert_true(json_integer_value(json_object_get(sv, "lastEventTimestamp")) <
                        1700000000000 + LINES);
            json_decref(sv);
            sl_item_free(&it);
        }
    }
    assert_int_equal(total, LINES);
}

static void test_sink_stats_and_drops(void **state)
{
    struct fixture *fx = *state;
    struct sl_logs *l = NULL;
    struct sl_err err = {0};
    /* A queue smaller than any line: everything is dropped, nothing blocks. */
    assert_int_equal(sl_logs_new(&l, fx->s, 16, &err), 0);
    for (int i = 0; i < 10; i++)
        sl_logs_sink(l, "000000000000", "us-east-1", "/g", "s", 1, "x", 1);
    struct sl_logs_stats st;
    sl_logs_get_stats(l, &st);
    assert_int_equal(st.dropped, 10);
    assert_int_equal(st.queued, 0);
    sl_logs_free(l);
    struct sl_item it;
    assert_int_equal(sl_kv_get(fx->s, SL_LOGS_NS_GROUP, "000000000000:us-east-1", "/g", &it),
                     SL_ENOTFOUND);

    assert_int_equal(sl_logs_new(&l, fx->s, 0, &err), 0);
    for (int i = 0; i < 10; i++)
        sl_logs_sink(l, "000000000000", "us-east-1", "/g", "s", 1, "x", 1);
    sl_logs_free(l);
    struct sl_item *items;
    size_t n = list_events(fx, "/g", "s", &items);
    assert_int_equal(n, 10);
    free_list(items, n);
    sl_logs_free(NULL);
}

static void test_sink_long_and_invalid_lines(void **state)
{
    struct fixture *fx = *state;
    struct sl_logs *l = NULL;
    struct sl_err err = {0};
    assert_int_equal(sl_logs_new(&l, fx->s, 0, &err), 0);
    size_t big = 300 * 1024;
    char *line = malloc(big);
    assert_non_null(line);
    memset(line, 'a', big);
    sl_logs_sink(l, "000000000000", "us-east-1", "/g", "s", 1, line, big);
    sl_logs_sink(l, "000000000000", "us-east-1", "/g", "s", 2, "bad \xff byte", 10);
    sl_logs_sink(l, "000000000000", "us-east-1", "/g", "s", 3, "", 0);
    free(line);
    sl_logs_free(l);
    struct sl_item *items;
    size_t n = list_events(fx, "/g", "s", &items);
    assert_int_equal(n, 3);
    /* Cut to CloudWatch's event size, the newline included. */
    json_t *v = item_json(&items[0]);
    assert_int_equal(json_string_length(json_object_get(v, "message")),
                     SL_LOGS_EVENT_MAX - SL_LOGS_EVENT_OVERHEAD);
    json_decref(v);
    v = item_json(&items[1]);
    assert_string_equal(json_string_value(json_object_get(v, "message")),
                        "bad \xef\xbf\xbd byte\n");
    json_decref(v);
    v = item_json(&items[2]);
    assert_string_equal(json_string_value(json_object_get(v, "message")), "\n");
    json_decref(v);
    free_list(items, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_empty_matches_all),
        cmocka_unit_test(test_filter_terms_all_must_occur),
        cmocka_unit_test(test_filter_quoted_phrases),
        cmocka_unit_test(test_filter_optional_terms),
        cmocka_unit_test(test_filter_excluded_terms),
        cmocka_unit_test(test_filter_binary_messages),
        cmocka_unit_test(test_filter_refused),
        cmocka_unit_test(test_keys_sort_by_time_then_arrival),
        cmocka_unit_test(test_json_string_escapes_and_repairs),
        cmocka_unit_test_setup_teardown(test_sink_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_stats_and_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_long_and_invalid_lines, setup, teardown),
    };
    return cmocka_run_group_tests_name("logs", tests, NULL, NULL);
}
