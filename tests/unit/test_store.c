/*
 * Unit tests of the embedded store (src/store): items, listing order and
 * ranges, transactions and their rollback inside a shared batch, blobs
 * inline and in files, removal of replaced blob files, crash recovery,
 * group commit and close. Each test runs on a fresh store in its own
 * temporary directory, removed afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/internal.h"
#include "store/store.h"

#define NS "t"
#define WAIT_MS 20000

struct fixture {
    char root[1024]; /* removed by teardown */
    char dir[1100];  /* the store's directory, inside root */
    char blobs[1200];
    struct sl_store *s;
};

/* ---- helpers -------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void open_store(struct fixture *fx)
{
    struct sl_err err = {0};
    int rc = sl_store_open(&fx->s, fx->dir, &err);
    if (rc)
        fail_msg("sl_store_open: %s", err.msg);
}

static void reopen_store(struct fixture *fx)
{
    sl_store_close(fx->s);
    fx->s = NULL;
    open_store(fx);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    const char *base = getenv("SLUICE_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700); /* ctest points at build/test-tmp, which may not exist */
    assert_true((size_t)snprintf(fx->root, sizeof fx->root, "%s/store-XXXXXX", base) <
                sizeof fx->root);
    assert_non_null(mkdtemp(fx->root));
    snprintf(fx->dir, sizeof fx->dir, "%s/data/store", fx->root);
    snprintf(fx->blobs, sizeof fx->blobs, "%s/blobs", fx->dir);
    open_store(fx);
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

/* Files in the blob directory whose name starts with prefix ("" for all). */
static int count_files(struct fixture *fx, const char *prefix)
{
    DIR *d = opendir(fx->blobs);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] != '.' && strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static bool blob_file_exists(struct fixture *fx, const char *id)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", fx->blobs, id);
    return access(path, F_OK) == 0;
}

/* Deterministic bytes, different for each seed. */
static void fill(char *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (char)(x >> 24);
    }
}

/* Writes n bytes of fill(seed) in uneven chunks and finishes the blob. */
static void make_blob(struct fixture *fx, size_t n, uint32_t seed, struct sl_blob *out)
{
    char *p = malloc(n ? n : 1);
    assert_non_null(p);
    fill(p, n, seed);
    struct sl_blob_writer *w;
    assert_int_equal(sl_blob_writer_new(fx->s, &w), 0);
    for (size_t off = 0; off < n;) {
        size_t k = SL_MIN(n - off, (size_t)7777);
        assert_int_equal(sl_blob_writer_write(w, p + off, k), 0);
        off += k;
    }
    assert_int_equal(sl_blob_writer_size(w), n);
    assert_int_equal(sl_blob_writer_finish(w, out), 0);
    assert_int_equal(out->size, n);
    free(p);
}

/* Reads a blob through sl_blob_open() into a malloc'd buffer. */
static char *read_blob(struct fixture *fx, const struct sl_blob *b)
{
    char *p = malloc(b->size ? b->size : 1);
    assert_non_null(p);
    int fd;
    assert_int_equal(sl_blob_open(fx->s, b, &fd), 0);
    if (fd < 0) {
        assert_null(b->file_id);
        memcpy(p, b->inline_data, b->size);
        return p;
    }
    size_t got = 0;
    ssize_t k;
    while ((k = read(fd, p + got, b->size - got)) > 0)
        got += (size_t)k;
    assert_int_equal(got, b->size);
    char extra;
    assert_int_equal(read(fd, &extra, 1), 0);
    close(fd);
    return p;
}

static void assert_blob_bytes(struct fixture *fx, const struct sl_blob *b, size_t n, uint32_t seed)
{
    assert_int_equal(b->size, n);
    char *want = malloc(n ? n : 1);
    assert_non_null(want);
    fill(want, n, seed);
    char *got = read_blob(fx, b);
    assert_memory_equal(got, want, n);
    free(got);
    free(want);
}

/* One transaction: put or delete an item, then optionally fail. */
struct op {
    const char *pk, *sk, *val;
    const struct sl_blob *blob;
    bool del;
    int fail; /* returned (after the write) when non-zero */
};

static int op_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    struct op *o = arg;
    int rc = o->del ? sl_txn_delete(t, NS, o->pk, o->sk)
                    : sl_txn_put(t, NS, o->pk, o->sk, o->val, o->val ? strlen(o->val) : 0, o->blob);
    if (rc)
        return rc;
    if (o->fail)
        return sl_errf(err, o->fail, "deliberate failure of %s", o->sk);
    return 0;
}

static int put(struct fixture *fx, const char *pk, const char *sk, const char *val,
               const struct sl_blob *blob)
{
    struct op o = {.pk = pk, .sk = sk, .val = val, .blob = blob};
    struct sl_err err = {0};
    return sl_store_write(fx->s, op_txn, &o, &err);
}

static int del(struct fixture *fx, const char *pk, const char *sk)
{
    struct op o = {.pk = pk, .sk = sk, .del = true};
    struct sl_err err = {0};
    return sl_store_write(fx->s, op_txn, &o, &err);
}

static void assert_val(struct fixture *fx, const char *pk, const char *sk, const char *val)
{
    struct sl_item it;
    assert_int_equal(sl_kv_get(fx->s, NS, pk, sk, &it), 0);
    assert_string_equal(it.ns, NS);
    assert_string_equal(it.pk, pk);
    assert_string_equal(it.sk, sk);
    assert_int_equal(it.val_len, strlen(val));
    assert_string_equal(it.val, val);
    sl_item_free(&it);
}

/* A one-shot event to wait for with a deadline. */
struct latch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool set;
};
#define LATCH_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false}

static void latch_set(struct latch *l)
{
    pthread_mutex_lock(&l->mu);
    l->set = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static bool latch_wait(struct latch *l)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&l->mu);
    while (!l->set && pthread_cond_timedwait(&l->cv, &l->mu, &dl) == 0)
        ;
    bool set = l->set;
    pthread_mutex_unlock(&l->mu);
    return set;
}

/* A write run on its own thread. */
struct writer {
    pthread_t th;
    struct fixture *fx;
    sl_txn_fn fn;
    void *arg;
    int rc;
    struct sl_err err;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    w->rc = sl_store_write(w->fx->s, w->fn, w->arg, &w->err);
    return NULL;
}

static void writer_start(struct writer *w, struct fixture *fx, sl_txn_fn fn, void *arg)
{
    memset(w, 0, sizeof *w);
    w->fx = fx;
    w->fn = fn;
    w->arg = arg;
    assert_int_equal(pthread_create(&w->th, NULL, writer_main, w), 0);
}

/*
 * A transaction that holds the writer thread until `want` more
 * transactions are queued behind it, so that those share the next batch.
 */
struct gate {
    struct sl_store *s;
    struct latch running;
    size_t want;
};

static int gate_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    struct gate *g = arg;
    latch_set(&g->running);
    int rc = sl_store_wait_queued(g->s, g->want, WAIT_MS);
    if (rc)
        return sl_errf(err, rc, "gate: the others were never queued");
    return sl_txn_put(t, NS, "gate", "gate", "open", 4, NULL);
}

/* ---- items ---------------------------------------------------------------- */

struct txn_reads {
    int rc_get, rc_count;
    size_t count_all, count_lim;
    char val[16];
};

static int reads_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    struct txn_reads *r = arg;
    (void)err;
    for (int i = 0; i < 3; i++) {
        char sk[8];
        snprintf(sk, sizeof sk, "k%d", i);
        int rc = sl_txn_put(t, NS, "c", sk, sk, strlen(sk), NULL);
        if (rc)
            return rc;
    }
    struct sl_item it;
    r->rc_get = sl_txn_get(t, NS, "c", "k1", &it);
    if (r->rc_get == 0)
        snprintf(r->val, sizeof r->val, "%s", it.val);
    sl_item_free(&it);
    r->rc_count = sl_txn_count(t, NS, "c", 0, &r->count_all);
    if (!r->rc_count)
        r->rc_count = sl_txn_count(t, NS, "c", 2, &r->count_lim);
    return 0;
}

static int nested_write_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)t;
    struct fixture *fx = arg;
    struct op o = {.pk = "x", .sk = "x", .val = "x"};
    return sl_store_write(fx->s, op_txn, &o, err);
}

static void test_put_get_replace_delete(void **state)
{
    struct fixture *fx = *state;
    struct sl_item it;
    assert_int_equal(sl_kv_get(fx->s, NS, "a", "1", &it), SL_ENOTFOUND);

    assert_int_equal(put(fx, "a", "1", "v1", NULL), 0);
    assert_val(fx, "a", "1", "v1");
    assert_int_equal(sl_kv_get(fx->s, NS, "a", "1", &it), 0);
    assert_false(it.has_blob);
    assert_null(it.blob.inline_data);
    assert_null(it.blob.file_id);
    sl_item_free(&it);

    assert_int_equal(put(fx, "a", "1", "version two", NULL), 0);
    assert_val(fx, "a", "1", "version two");
    assert_int_equal(put(fx, "a", "2", NULL, NULL), 0);
    assert_val(fx, "a", "2", "");
    /* Same sort key in another partition and namespace: separate items. */
    assert_int_equal(put(fx, "b", "1", "other", NULL), 0);
    assert_val(fx, "a", "1", "version two");

    assert_int_equal(del(fx, "a", "1"), 0);
    assert_int_equal(sl_kv_get(fx->s, NS, "a", "1", &it), SL_ENOTFOUND);
    assert_val(fx, "b", "1", "other");

    struct op o = {.pk = "a", .sk = "1", .del = true};
    struct sl_err err = {0};
    assert_int_equal(sl_store_write(fx->s, op_txn, &o, &err), SL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "not found"));

    /* Reads inside a transaction see its own writes. */
    struct txn_reads r = {0};
    assert_int_equal(sl_store_write(fx->s, reads_txn, &r, &err), 0);
    assert_int_equal(r.rc_get, 0);
    assert_string_equal(r.val, "k1");
    assert_int_equal(r.rc_count, 0);
    assert_int_equal(r.count_all, 3);
    assert_int_equal(r.count_lim, 2);

    /* A transaction may not wait for another one. */
    assert_int_equal(sl_store_write(fx->s, nested_write_txn, fx, &err), SL_EINVAL);
    assert_int_equal(sl_kv_get(fx->s, NS, "x", "x", &it), SL_ENOTFOUND);
}

/* ---- listing -------------------------------------------------------------- */

static const char *const list_keys[] = {
    "b", "a", "ab", "\xc3\xa9" /* é */, "z", "\xe6\x97\xa5\xe6\x9c\xac" /* 日本 */,
    "\xf0\x9f\x98\x80" /* 😀 */, "a\xff", "a\xff\x01", "a\xff\xff", "a\xffz", "b\x01",
    "\xff\xff", "\xff\xff\xff", "\xff", "A", "\xc3\xa9t\xc3\xa9",
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void check_list(struct fixture *fx, const char *prefix, const char *after, size_t limit)
{
    const char *sorted[SL_ARRAY_LEN(list_keys)];
    memcpy(sorted, list_keys, sizeof sorted);
    qsort(sorted, SL_ARRAY_LEN(sorted), sizeof sorted[0], cmp_str);
    const char *want[SL_ARRAY_LEN(list_keys)];
    size_t nwant = 0;
    for (size_t i = 0; i < SL_ARRAY_LEN(sorted) && nwant < limit; i++) {
        const char *k = sorted[i];
        if (prefix && strncmp(k, prefix, strlen(prefix)) != 0)
            continue;
        if (after && strcmp(k, after) <= 0)
            continue;
        want[nwant++] = k;
    }

    struct sl_item *items;
    size_t n;
    assert_int_equal(sl_kv_list(fx->s, NS, "p", prefix, after, limit, &items, &n), 0);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++) {
        char val[64];
        snprintf(val, sizeof val, "v:%s", want[i]);
        assert_string_equal(items[i].ns, NS);
        assert_string_equal(items[i].pk, "p");
        assert_string_equal(items[i].sk, want[i]);
        assert_string_equal(items[i].val, val);
        assert_false(items[i].has_blob);
        sl_item_free(&items[i]);
    }
    free(items);
}

/* sl_kv_list_desc against a model: the same filter, descending. */
static void check_list_desc(struct fixture *fx, const char *prefix, const char *before,
                            size_t limit)
{
    const char *sorted[SL_ARRAY_LEN(list_keys)];
    memcpy(sorted, list_keys, sizeof sorted);
    qsort(sorted, SL_ARRAY_LEN(sorted), sizeof sorted[0], cmp_str);
    const char *want[SL_ARRAY_LEN(list_keys)];
    size_t nwant = 0;
    for (size_t i = SL_ARRAY_LEN(sorted); i-- > 0 && nwant < limit;) {
        const char *k = sorted[i];
        if (prefix && strncmp(k, prefix, strlen(prefix)) != 0)
            continue;
        if (before && strcmp(k, before) >= 0)
            continue;
        want[nwant++] = k;
    }
    struct sl_item *items;
    size_t n;
    assert_int_equal(sl_kv_list_desc(fx->s, NS, "p", prefix, before, limit, &items, &n), 0);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(items[i].sk, want[i]);
        assert_string_equal(items[i].pk, "p");
        sl_item_free(&items[i]);
    }
    free(items);
}

static void test_list(void **state)
{
    struct fixture *fx = *state;
    for (size_t i = 0; i < SL_ARRAY_LEN(list_keys); i++) {
        char val[64];
        snprintf(val, sizeof val, "v:%s", list_keys[i]);
        assert_int_equal(put(fx, "p", list_keys[i], val, NULL), 0);
    }
    /* Neighbours that must never show up. */
    assert_int_equal(put(fx, "p2", "a", "x", NULL), 0);
    assert_int_equal(put(fx, "o", "b", "x", NULL), 0);

    check_list(fx, NULL, NULL, SIZE_MAX);
    check_list(fx, "", NULL, SIZE_MAX);
    check_list(fx, "a", NULL, SIZE_MAX);
    check_list(fx, "a\xff", NULL, SIZE_MAX);     /* successor "b" excluded */
    check_list(fx, "a\xff\xff", NULL, SIZE_MAX); /* successor "b" excluded */
    check_list(fx, "\xff", NULL, SIZE_MAX);      /* no successor at all */
    check_list(fx, "\xff\xff", NULL, SIZE_MAX);
    check_list(fx, "\xc3", NULL, SIZE_MAX); /* first byte of é */
    check_list(fx, "\xc3\xa9", NULL, SIZE_MAX);
    check_list(fx, "\xe6\x97\xa5", NULL, SIZE_MAX);
    check_list(fx, "nothing", NULL, SIZE_MAX);
    check_list(fx, "a", "ab", SIZE_MAX);
    check_list(fx, "a", "a\xff\x01", 2);
    check_list(fx, "a", "zzz", SIZE_MAX); /* after past the prefix */
    check_list(fx, "b", "a", SIZE_MAX);   /* after before the prefix */
    check_list(fx, NULL, "z", SIZE_MAX);
    check_list(fx, NULL, "\xff\xff\xff", SIZE_MAX);
    check_list(fx, NULL, NULL, 3);
    check_list(fx, NULL, NULL, 1);
    check_list(fx, "a", NULL, 0);
    for (size_t i = 0; i < SL_ARRAY_LEN(list_keys); i++)
        check_list(fx, NULL, list_keys[i], 4);

    /* Descending: before is exclusive, the prefix bounds both ends. */
    check_list_desc(fx, NULL, NULL, SIZE_MAX);
    check_list_desc(fx, "a", NULL, SIZE_MAX);
    check_list_desc(fx, "a\xff", NULL, SIZE_MAX);
    check_list_desc(fx, "\xff", NULL, SIZE_MAX);
    check_list_desc(fx, "nothing", NULL, SIZE_MAX);
    check_list_desc(fx, "a", "ab", SIZE_MAX);
    check_list_desc(fx, "a", "zzz", SIZE_MAX); /* before past the prefix */
    check_list_desc(fx, "b", "a", SIZE_MAX);   /* before below the prefix */
    check_list_desc(fx, NULL, NULL, 3);
    check_list_desc(fx, "a", NULL, 0);
    for (size_t i = 0; i < SL_ARRAY_LEN(list_keys); i++)
        check_list_desc(fx, NULL, list_keys[i], 4);

    /* Listing shows blobs by size, without loading inline bytes. */
    struct sl_blob small, big;
    make_blob(fx, 100, 1, &small);
    make_blob(fx, SL_BLOB_INLINE_MAX + 1, 2, &big);
    assert_int_equal(put(fx, "q", "1", "s", &small), 0);
    assert_int_equal(put(fx, "q", "2", "b", &big), 0);
    struct sl_item *items;
    size_t n;
    assert_int_equal(sl_kv_list(fx->s, NS, "q", NULL, NULL, 10, &items, &n), 0);
    assert_int_equal(n, 2);
    assert_true(items[0].has_blob);
    assert_int_equal(items[0].blob.size, 100);
    assert_null(items[0].blob.inline_data);
    assert_null(items[0].blob.file_id);
    assert_true(items[1].has_blob);
    assert_int_equal(items[1].blob.size, SL_BLOB_INLINE_MAX + 1);
    assert_string_equal(items[1].blob.file_id, big.file_id);
    int fd;
    assert_int_equal(sl_blob_open(fx->s, &items[0].blob, &fd), SL_EINVAL);
    assert_blob_bytes(fx, &items[1].blob, SL_BLOB_INLINE_MAX + 1, 2);
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    sl_blob_free(&small);
    sl_blob_free(&big);

    assert_int_equal(sl_kv_list(fx->s, NS, "empty", NULL, NULL, 10, &items, &n), 0);
    assert_int_equal(n, 0);
    free(items);
}

static void test_list_pks(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(put(fx, "b", "1", "x", NULL), 0);
    assert_int_equal(put(fx, "a", "1", "x", NULL), 0);
    assert_int_equal(put(fx, "a", "2", "x", NULL), 0);
    assert_int_equal(put(fx, "\xc3\xa9", "1", "x", NULL), 0);
    assert_int_equal(put(fx, "", "1", "x", NULL), 0);
    assert_int_equal(put(fx, "b\xff", "1", "x", NULL), 0);
    struct op o = {.pk = "zz", .sk = "1", .val = "x"};
    struct sl_err err;
    assert_int_equal(sl_store_write(fx->s, op_txn, &o, &err), 0);

    char **pks;
    size_t n;
    assert_int_equal(sl_kv_list_pks(fx->s, NS, &pks, &n), 0);
    const char *want[] = {"", "a", "b", "b\xff", "zz", "\xc3\xa9"};
    assert_int_equal(n, SL_ARRAY_LEN(want));
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(pks[i], want[i]);
        free(pks[i]);
    }
    free(pks);

    assert_int_equal(sl_kv_list_pks(fx->s, "no-such-ns", &pks, &n), 0);
    assert_int_equal(n, 0);
    free(pks);
}

/* ---- transactions in a batch ---------------------------------------------- */

/* Puts two items, then fails: both must disappear, nothing else. */
static int two_then_fail_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)arg;
    int rc = sl_txn_put(t, NS, "r", "bad1", "x", 1, NULL);
    if (!rc)
        rc = sl_txn_put(t, NS, "r", "shared", "overwritten", 11, NULL);
    if (!rc)
        rc = sl_errf(err, SL_ECONDITION, "deliberate failure");
    return rc;
}

static void test_txn_rollback_in_batch(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(put(fx, "r", "shared", "original", NULL), 0);
    struct sl_store_stats before, after;
    sl_store_get_stats(fx->s, &before);

    struct gate g = {.s = fx->s, .running = LATCH_INIT, .want = 3};
    struct writer wg, w1, w2, w3;
    writer_start(&wg, fx, gate_txn, &g);
    assert_true(latch_wait(&g.running));
    struct op ok1 = {.pk = "r", .sk = "good1", .val = "1"};
    struct op ok2 = {.pk = "r", .sk = "good2", .val = "2"};
    writer_start(&w1, fx, op_txn, &ok1);
    writer_start(&w2, fx, two_then_fail_txn, NULL);
    writer_start(&w3, fx, op_txn, &ok2);
    pthread_join(wg.th, NULL);
    pthread_join(w1.th, NULL);
    pthread_join(w2.th, NULL);
    pthread_join(w3.th, NULL);

    assert_int_equal(wg.rc, 0);
    assert_int_equal(w1.rc, 0);
    assert_int_equal(w2.rc, SL_ECONDITION);
    assert_string_equal(w2.err.msg, "deliberate failure");
    assert_int_equal(w3.rc, 0);
    sl_store_get_stats(fx->s, &after);
    /* The gate's batch, then one batch of the three. */
    assert_int_equal(after.batches - before.batches, 2);
    assert_int_equal(after.transactions - before.transactions, 4);

    assert_val(fx, "r", "good1", "1");
    assert_val(fx, "r", "good2", "2");
    assert_val(fx, "r", "shared", "original");
    struct sl_item it;
    assert_int_equal(sl_kv_get(fx->s, NS, "r", "bad1", &it), SL_ENOTFOUND);
}

/* Ends the SQLite transaction behind the store's back, as an I/O error
 * would: the whole batch must fail. */
static int sabotage_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)arg;
    (void)err;
    int rc = sl_txn_put(t, NS, "f", "sabotage", "x", 1, NULL);
    if (!rc)
        sqlite3_exec(t->s->writer.db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static void test_failed_batch_fails_all(void **state)
{
    struct fixture *fx = *state;
    struct sl_blob f1, f2;
    make_blob(fx, SL_BLOB_INLINE_MAX + 10, 1, &f1);
    make_blob(fx, SL_BLOB_INLINE_MAX + 20, 2, &f2);
    assert_int_equal(put(fx, "f", "item", "old", &f1), 0);
    struct sl_store_stats before, after;
    sl_store_get_stats(fx->s, &before);

    struct gate g = {.s = fx->s, .running = LATCH_INIT, .want = 3};
    struct writer wg, w1, w2, w3;
    writer_start(&wg, fx, gate_txn, &g);
    assert_true(latch_wait(&g.running));
    struct op replace = {.pk = "f", .sk = "item", .val = "new", .blob = &f2};
    struct op other = {.pk = "f", .sk = "other", .val = "x"};
    writer_start(&w1, fx, op_txn, &replace);
    writer_start(&w2, fx, sabotage_txn, NULL);
    writer_start(&w3, fx, op_txn, &other);
    pthread_join(wg.th, NULL);
    pthread_join(w1.th, NULL);
    pthread_join(w2.th, NULL);
    pthread_join(w3.th, NULL);

    assert_int_equal(wg.rc, 0);
    assert_int_equal(w1.rc, SL_EIO);
    assert_int_equal(w2.rc, SL_EIO);
    assert_int_equal(w3.rc, SL_EIO);
    assert_non_null(strstr(w1.err.msg, "commit failed"));
    sl_store_get_stats(fx->s, &after);
    assert_int_equal(after.batches - before.batches, 1);

    struct sl_item it;
    assert_int_equal(sl_kv_get(fx->s, NS, "f", "item", &it), 0);
    assert_string_equal(it.val, "old");
    assert_string_equal(it.blob.file_id, f1.file_id);
    sl_item_free(&it);
    assert_int_equal(sl_kv_get(fx->s, NS, "f", "other", &it), SL_ENOTFOUND);
    assert_int_equal(sl_kv_get(fx->s, NS, "f", "sabotage", &it), SL_ENOTFOUND);
    /* The old file was not removed; the new one is the caller's to discard. */
    assert_true(blob_file_exists(fx, f1.file_id));
    assert_true(blob_file_exists(fx, f2.file_id));
    sl_blob_discard(fx->s, &f2);
    assert_false(blob_file_exists(fx, f2.file_id));

    /* The store goes on working. */
    assert_int_equal(put(fx, "f", "later", "ok", NULL), 0);
    assert_val(fx, "f", "later", "ok");
    sl_blob_free(&f1);
    sl_blob_free(&f2);
}

/* ---- blobs ---------------------------------------------------------------- */

static void test_inline_blob(void **state)
{
    struct fixture *fx = *state;
    struct sl_blob b;
    make_blob(fx, 1000, 7, &b);
    assert_null(b.file_id);
    assert_non_null(b.inline_data);
    assert_int_equal(count_files(fx, ""), 0);
    assert_int_equal(put(fx, "i", "1", "meta", &b), 0);

    struct sl_item it;
    assert_int_equal(sl_kv_get(fx->s, NS, "i", "1", &it), 0);
    assert_true(it.has_blob);
    assert_null(it.blob.file_id);
    int fd = 123;
    assert_int_equal(sl_blob_open(fx->s, &it.blob, &fd), 0);
    assert_int_equal(fd, -1);
    assert_blob_bytes(fx, &it.blob, 1000, 7);
    sl_item_free(&it);
    sl_blob_free(&b);

    /* The threshold: SL_BLOB_INLINE_MAX stays inline, one more is a file. */
    make_blob(fx, SL_BLOB_INLINE_MAX, 8, &b);
    assert_null(b.file_id);
    sl_blob_free(&b);
    make_blob(fx, SL_BLOB_INLINE_MAX + 1, 9, &b);
    assert_non_null(b.file_id);
    sl_blob_discard(fx->s, &b);
    sl_blob_free(&b);
    assert_int_equal(count_files(fx, ""), 0);

    /* An empty blob is a blob. */
    make_blob(fx, 0, 0, &b);
    assert_non_null(b.inline_data);
    assert_int_equal(put(fx, "i", "empty", "", &b), 0);
    assert_int_equal(sl_kv_get(fx->s, NS, "i", "empty", &it), 0);
    assert_true(it.has_blob);
    assert_int_equal(it.blob.size, 0);
    assert_null(it.blob.file_id);
    sl_item_free(&it);
    sl_blob_free(&b);
}

static void test_file_blob(void **state)
{
    struct fixture *fx = *state;
    const size_t n = 1 << 20;
    char *p = malloc(n);
    assert_non_null(p);
    fill(p, n, 42);
    struct sl_blob_writer *w;
    assert_int_equal(sl_blob_writer_new(fx->s, &w), 0);
    assert_int_equal(sl_blob_writer_write(w, p, 1000), 0);
    assert_int_equal(count_files(fx, ""), 0); /* still in memory */
    assert_int_equal(sl_blob_writer_write(w, p + 1000, n - 1000), 0);
    assert_int_equal(count_files(fx, SL_BLOB_TMP_PREFIX), 1); /* spilled */
    struct sl_blob b;
    assert_int_equal(sl_blob_writer_finish(w, &b), 0);
    assert_int_equal(count_files(fx, SL_BLOB_TMP_PREFIX), 0);
    assert_int_equal(count_files(fx, ""), 1);
    assert_null(b.inline_data);
    assert_true(sl_blob_id_valid(b.file_id));
    assert_true(blob_file_exists(fx, b.file_id));
    free(p);

    assert_int_equal(put(fx, "f", "big", "meta", &b), 0);
    struct sl_item it;
    assert_int_equal(sl_kv_get(fx->s, NS, "f", "big", &it), 0);
    assert_true(it.has_blob);
    assert_string_equal(it.blob.file_id, b.file_id);
    assert_blob_bytes(fx, &it.blob, n, 42);
    sl_item_free(&it);

    /* The same file cannot belong to two items. */
    assert_int_equal(put(fx, "f", "twin", "meta", &b), SL_EINVAL);
    /* Putting the item's own blob again keeps the file. */
    assert_int_equal(put(fx, "f", "big", "meta2", &b), 0);
    assert_true(blob_file_exists(fx, b.file_id));
    sl_blob_free(&b);

    /* Abort removes what was spilled. */
    assert_int_equal(sl_blob_writer_new(fx->s, &w), 0);
    char chunk[4096] = {0};
    for (int i = 0; i < 40; i++)
        assert_int_equal(sl_blob_writer_write(w, chunk, sizeof chunk), 0);
    assert_int_equal(count_files(fx, SL_BLOB_TMP_PREFIX), 1);
    sl_blob_writer_abort(w);
    sl_blob_writer_abort(NULL);
    assert_int_equal(count_files(fx, SL_BLOB_TMP_PREFIX), 0);
    assert_int_equal(count_files(fx, ""), 1);

    /* A blob whose file is gone cannot be stored. */
    make_blob(fx, SL_BLOB_INLINE_MAX * 2, 3, &b);
    sl_blob_discard(fx->s, &b);
    assert_false(blob_file_exists(fx, b.file_id));
    assert_int_equal(put(fx, "f", "gone", "meta", &b), SL_EINVAL);
    int fd;
    assert_int_equal(sl_blob_open(fx->s, &b, &fd), SL_ENOTFOUND);
    sl_blob_free(&b);
}

static void test_replace_removes_old_file(void **state)
{
    struct fixture *fx = *state;
    struct sl_blob f1, f2, f3, f4, in;
    make_blob(fx, 100000, 1, &f1);
    make_blob(fx, 100000, 2, &f2);
    make_blob(fx, 100000, 3, &f3);
    make_blob(fx, 100000, 4, &f4);
    make_blob(fx, 10, 5, &in);

    assert_int_equal(put(fx, "x", "item", "1", &f1), 0);
    assert_int_equal(put(fx, "x", "item", "2", &f2), 0);
    assert_false(blob_file_exists(fx, f1.file_id));
    assert_true(blob_file_exists(fx, f2.file_id));
    int fd;
    assert_int_equal(sl_blob_open(fx->s, &f1, &fd), SL_ENOTFOUND);

    /* A replacement that rolls back removes nothing. */
    struct op o = {.pk = "x", .sk = "item", .val = "3", .blob = &f3, .fail = SL_ECONDITION};
    struct sl_err err;
    assert_int_equal(sl_store_write(fx->s, op_txn, &o, &err), SL_ECONDITION);
    assert_true(blob_file_exists(fx, f2.file_id));
    assert_true(blob_file_exists(fx, f3.file_id));
    sl_blob_discard(fx->s, &f3);
    assert_false(blob_file_exists(fx, f3.file_id));

    /* Replaced by an inline blob, then by none. */
    assert_int_equal(put(fx, "x", "item", "4", &in), 0);
    assert_false(blob_file_exists(fx, f2.file_id));
    assert_int_equal(put(fx, "x", "item", "5", &f4), 0);
    assert_int_equal(put(fx, "x", "item", "6", NULL), 0);
    assert_false(blob_file_exists(fx, f4.file_id));
    assert_int_equal(count_files(fx, ""), 0);

    /* Deleted. */
    struct sl_blob f5;
    make_blob(fx, 100000, 6, &f5);
    assert_int_equal(put(fx, "x", "other", "7", &f5), 0);
    assert_true(blob_file_exists(fx, f5.file_id));
    assert_int_equal(del(fx, "x", "other"), 0);
    assert_false(blob_file_exists(fx, f5.file_id));
    assert_int_equal(count_files(fx, ""), 0);

    sl_blob_free(&f1);
    sl_blob_free(&f2);
    sl_blob_free(&f3);
    sl_blob_free(&f4);
    sl_blob_free(&f5);
    sl_blob_free(&in);
}

static void test_append_and_copy(void **state)
{
    struct fixture *fx = *state;
    const size_t big_n = 200000;
    struct sl_blob big, small;
    make_blob(fx, big_n, 11, &big);
    make_blob(fx, 5, 12, &small);
    assert_int_equal(put(fx, "c", "big", "", &big), 0);
    assert_int_equal(put(fx, "c", "small", "", &small), 0);

    /* "head" + small + big + small. */
    size_t total = 4 + 5 + big_n + 5;
    char *want = malloc(total);
    assert_non_null(want);
    memcpy(want, "head", 4);
    fill(want + 4, 5, 12);
    fill(want + 9, big_n, 11);
    fill(want + 9 + big_n, 5, 12);

    struct sl_blob_writer *w;
    assert_int_equal(sl_blob_writer_new(fx->s, &w), 0);
    assert_int_equal(sl_blob_writer_write(w, "head", 4), 0);
    assert_int_equal(sl_blob_writer_append_blob(w, &small), 0);
    assert_int_equal(sl_blob_writer_append_blob(w, &big), 0);
    assert_int_equal(sl_blob_writer_append_blob(w, &small), 0);
    assert_int_equal(sl_blob_writer_size(w), total);
    struct sl_blob cat;
    assert_int_equal(sl_blob_writer_finish(w, &cat), 0);
    assert_non_null(cat.file_id);
    char *got = read_blob(fx, &cat);
    assert_memory_equal(got, want, total);
    free(got);
    sl_blob_discard(fx->s, &cat);
    sl_blob_free(&cat);

    /* Small enough to stay inline. */
    assert_int_equal(sl_blob_writer_new(fx->s, &w), 0);
    assert_int_equal(sl_blob_writer_write(w, "head", 4), 0);
    assert_int_equal(sl_blob_writer_append_blob(w, &small), 0);
    assert_int_equal(sl_blob_writer_finish(w, &cat), 0);
    assert_null(cat.file_id);
    assert_memory_equal(cat.inline_data, want, 9);
    sl_blob_free(&cat);

    /* Copies are independent of their source. */
    struct sl_blob big_copy, small_copy;
    assert_int_equal(sl_blob_copy(fx->s, &big, &big_copy), 0);
    assert_non_null(big_copy.file_id);
    assert_string_not_equal(big_copy.file_id, big.file_id);
    assert_int_equal(sl_blob_copy(fx->s, &small, &small_copy), 0);
    assert_null(small_copy.file_id);
    assert_ptr_not_equal(small_copy.inline_data, small.inline_data);
    assert_memory_equal(small_copy.inline_data, small.inline_data, 5);
    assert_int_equal(put(fx, "c", "big2", "", &big_copy), 0);
    assert_int_equal(del(fx, "c", "big"), 0);
    assert_false(blob_file_exists(fx, big.file_id));
    struct sl_item it;
    assert_int_equal(sl_kv_get(fx->s, NS, "c", "big2", &it), 0);
    assert_blob_bytes(fx, &it.blob, big_n, 11);
    sl_item_free(&it);

    /* The source of a copy must exist. */
    struct sl_blob none;
    assert_int_equal(sl_blob_copy(fx->s, &big, &none), SL_ENOTFOUND);
    assert_int_equal(count_files(fx, SL_BLOB_TMP_PREFIX), 0);

    free(want);
    sl_blob_free(&big);
    sl_blob_free(&small);
    sl_blob_free(&big_copy);
    sl_blob_free(&small_copy);
}

/* ---- durability, recovery, concurrency ------------------------------------ */

static void test_reopen_keeps_data(void **state)
{
    struct fixture *fx = *state;
    struct sl_blob in, file;
    make_blob(fx, 3000, 21, &in);
    make_blob(fx, 300000, 22, &file);
    assert_int_equal(put(fx, "k", "plain", "value", NULL), 0);
    assert_int_equal(put(fx, "k", "inline", "i", &in), 0);
    assert_int_equal(put(fx, "k", "file", "f", &file), 0);
    reopen_store(fx);
    reopen_store(fx); /* migrations run once */

    assert_val(fx, "k", "plain", "value");
    struct sl_item it;
    assert_int_equal(sl_kv_get(fx->s, NS, "k", "inline", &it), 0);
    assert_blob_bytes(fx, &it.blob, 3000, 21);
    sl_item_free(&it);
    assert_int_equal(sl_kv_get(fx->s, NS, "k", "file", &it), 0);
    assert_string_equal(it.blob.file_id, file.file_id);
    assert_blob_bytes(fx, &it.blob, 300000, 22);
    sl_item_free(&it);
    sl_blob_free(&in);
    sl_blob_free(&file);

    /* Nobody else may open the same store meanwhile (flock per open). */
    struct sl_store *other = NULL;
    struct sl_err err = {0};
    assert_int_equal(sl_store_open(&other, fx->dir, &err), SL_EBUSY);
    assert_null(other);
    assert_non_null(strstr(err.msg, "in use"));
}

static void test_recovery_removes_orphans(void **state)
{
    struct fixture *fx = *state;
    struct sl_blob kept, orphan;
    make_blob(fx, 100000, 31, &kept);
    make_blob(fx, 100000, 32, &orphan); /* finished, never committed */
    assert_int_equal(put(fx, "o", "kept", "", &kept), 0);
    char path[2048];
    snprintf(path, sizeof path, "%s/%sunfinished", fx->blobs, SL_BLOB_TMP_PREFIX);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "partial", 7), 7);
    close(fd);
    snprintf(path, sizeof path, "%s/README", fx->blobs);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(count_files(fx, ""), 4);

    reopen_store(fx);
    assert_true(blob_file_exists(fx, kept.file_id));
    assert_false(blob_file_exists(fx, orphan.file_id));
    assert_int_equal(count_files(fx, SL_BLOB_TMP_PREFIX), 0);
    assert_true(blob_file_exists(fx, "README")); /* not ours: left alone */
    assert_int_equal(count_files(fx, ""), 2);
    struct sl_item it;
    assert_int_equal(sl_kv_get(fx->s, NS, "o", "kept", &it), 0);
    assert_blob_bytes(fx, &it.blob, 100000, 31);
    sl_item_free(&it);
    sl_blob_free(&kept);
    sl_blob_free(&orphan);
}

#define GC_THREADS 16
#define GC_WRITES 50

struct gc_thread {
    pthread_t th;
    struct fixture *fx;
    int id;
    int failures;
};

static void *gc_main(void *arg)
{
    struct gc_thread *g = arg;
    for (int i = 0; i < GC_WRITES; i++) {
        char sk[32], val[64];
        snprintf(sk, sizeof sk, "t%02d-%03d", g->id, i);
        snprintf(val, sizeof val, "value of %s", sk);
        if (put(g->fx, "g", sk, val, NULL) != 0)
            g->failures++;
    }
    return NULL;
}

/* Reads while the writers write: every read sees whole items. */
struct gc_reader {
    pthread_t th;
    struct fixture *fx;
    atomic_bool *stop;
    int reads, failures;
};

static void *gc_reader_main(void *arg)
{
    struct gc_reader *r = arg;
    for (int i = 0; !atomic_load(r->stop); i++) {
        char sk[32], val[64];
        snprintf(sk, sizeof sk, "t%02d-%03d", i % GC_THREADS, (i / GC_THREADS) % GC_WRITES);
        snprintf(val, sizeof val, "value of %s", sk);
        struct sl_item it;
        int rc = sl_kv_get(r->fx->s, NS, "g", sk, &it);
        if (rc == 0 && strcmp(it.val, val) != 0)
            r->failures++;
        else if (rc != 0 && rc != SL_ENOTFOUND)
            r->failures++;
        sl_item_free(&it);
        struct sl_item *items;
        size_t n;
        if (sl_kv_list(r->fx->s, NS, "g", "t0", sk, 5, &items, &n) != 0) {
            r->failures++;
            continue;
        }
        for (size_t j = 0; j < n; j++) {
            if (strncmp(items[j].val, "value of t0", 11) != 0 || strcmp(items[j].sk, sk) <= 0)
                r->failures++;
            sl_item_free(&items[j]);
        }
        free(items);
        r->reads++;
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    struct fixture *fx = *state;
    struct sl_store_stats before, after;
    sl_store_get_stats(fx->s, &before);
    atomic_bool stop = false;
    struct gc_reader rd[2];
    for (int i = 0; i < 2; i++) {
        rd[i] = (struct gc_reader){.fx = fx, .stop = &stop};
        assert_int_equal(pthread_create(&rd[i].th, NULL, gc_reader_main, &rd[i]), 0);
    }
    struct gc_thread th[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        th[i] = (struct gc_thread){.fx = fx, .id = i};
        assert_int_equal(pthread_create(&th[i].th, NULL, gc_main, &th[i]), 0);
    }
    for (int i = 0; i < GC_THREADS; i++) {
        pthread_join(th[i].th, NULL);
        assert_int_equal(th[i].failures, 0);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++) {
        pthread_join(rd[i].th, NULL);
        assert_int_equal(rd[i].failures, 0);
        assert_true(rd[i].reads > 0);
    }
    sl_store_get_stats(fx->s, &after);
    uint64_t txns = after.transactions - before.transactions;
    uint64_t batches = after.batches - before.batches;
    print_message("group commit: %llu transactions in %llu batches\n",
                  (unsigned long long)txns, (unsigned long long)batches);
    assert_int_equal(txns, GC_THREADS * GC_WRITES);
    assert_true(batches >= 1);
    assert_true(batches < txns);

    struct sl_item *items;
    size_t n;
    assert_int_equal(sl_kv_list(fx->s, NS, "g", NULL, NULL, SIZE_MAX, &items, &n), 0);
    assert_int_equal(n, GC_THREADS * GC_WRITES);
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
}

/* Holds the writer until sl_store_close() has begun. */
static int hold_until_closing_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    struct gate *g = arg;
    struct sl_store *s = g->s;
    latch_set(&g->running);
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&s->mu);
    while (!s->closing && pthread_cond_timedwait(&s->wake, &s->mu, &dl) == 0)
        ;
    bool closing = s->closing;
    pthread_mutex_unlock(&s->mu);
    if (!closing)
        return sl_errf(err, SL_EAGAIN, "close never began");
    return sl_txn_put(t, NS, "d", "gate", "x", 1, NULL);
}

static void test_close_drains_queue(void **state)
{
    struct fixture *fx = *state;
    struct gate g = {.s = fx->s, .running = LATCH_INIT};
    struct writer wg, w[4];
    struct op ops[4];
    char sks[4][8];
    writer_start(&wg, fx, hold_until_closing_txn, &g);
    assert_true(latch_wait(&g.running));
    for (int i = 0; i < 4; i++) {
        snprintf(sks[i], sizeof sks[i], "w%d", i);
        ops[i] = (struct op){.pk = "d", .sk = sks[i], .val = sks[i]};
        writer_start(&w[i], fx, op_txn, &ops[i]);
    }
    assert_int_equal(sl_store_wait_queued(fx->s, 4, WAIT_MS), 0);
    sl_store_close(fx->s);
    fx->s = NULL;
    pthread_join(wg.th, NULL);
    assert_int_equal(wg.rc, 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(w[i].th, NULL);
        assert_int_equal(w[i].rc, 0);
    }
    open_store(fx);
    assert_val(fx, "d", "gate", "x");
    for (int i = 0; i < 4; i++)
        assert_val(fx, "d", sks[i], sks[i]);
}

static int set_val_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    const char **kv = arg;
    return sl_txn_set_val(t, NS, kv[0], kv[1], kv[2], strlen(kv[2]));
}

/* sl_txn_set_val changes the value and keeps the blob; absent items fail. */
static void test_set_val_keeps_blob(void **state)
{
    struct fixture *fx = *state;
    struct sl_blob file;
    make_blob(fx, 200000, 7, &file);
    assert_int_equal(put(fx, "k", "f", "old", &file), 0);
    const char *kv[] = {"k", "f", "new"};
    struct sl_err err = {0};
    assert_int_equal(sl_store_write(fx->s, set_val_txn, kv, &err), 0);
    assert_val(fx, "k", "f", "new");
    struct sl_item it;
    assert_int_equal(sl_kv_get(fx->s, NS, "k", "f", &it), 0);
    assert_string_equal(it.blob.file_id, file.file_id);
    assert_blob_bytes(fx, &it.blob, 200000, 7);
    sl_item_free(&it);
    const char *missing[] = {"k", "nope", "v"};
    assert_int_equal(sl_store_write(fx->s, set_val_txn, missing, &err), SL_ENOTFOUND);
    sl_blob_free(&file);
}

static int insert_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    const char **kv = arg;
    return sl_txn_insert(t, NS, kv[0], kv[1], kv[2], strlen(kv[2]));
}

/* sl_txn_insert adds new items and refuses existing ones, whatever they
 * hold, leaving them as they were. */
static void test_insert_only_new(void **state)
{
    struct fixture *fx = *state;
    const char *kv[] = {"k", "a", "first"};
    struct sl_err err = {0};
    assert_int_equal(sl_store_write(fx->s, insert_txn, kv, &err), 0);
    assert_val(fx, "k", "a", "first");
    const char *again[] = {"k", "a", "second"};
    assert_int_equal(sl_store_write(fx->s, insert_txn, again, &err), SL_EEXIST);
    assert_val(fx, "k", "a", "first");
    struct sl_blob file;
    make_blob(fx, 200000, 3, &file);
    assert_int_equal(put(fx, "k", "b", "with blob", &file), 0);
    const char *over_blob[] = {"k", "b", "x"};
    assert_int_equal(sl_store_write(fx->s, insert_txn, over_blob, &err), SL_EEXIST);
    struct sl_item it;
    assert_int_equal(sl_kv_get(fx->s, NS, "k", "b", &it), 0);
    assert_string_equal(it.blob.file_id, file.file_id);
    sl_item_free(&it);
    sl_blob_free(&file);
}

/* The checkpointer copies the WAL into the database file on its own: the
 * file grows (in WAL mode only a checkpoint writes it) without any commit
 * having to wait for it. */
static void test_checkpointer_runs(void **state)
{
    struct fixture *fx = *state;
    char path[1200], val[8192];
    snprintf(path, sizeof(path), "%s/sluice.db", fx->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    off_t before = st.st_size;
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (int i = 0; i < 600; i++) {
        char sk[32];
        snprintf(sk, sizeof(sk), "k%04d", i);
        assert_int_equal(put(fx, "ckpt", sk, val, NULL), 0);
    }
    /* 600 rows of 8 KiB are well past CHECKPOINT_PAGES WAL pages. */
    int64_t deadline = sl_time_mono_ns() + (int64_t)WAIT_MS * 1000000;
    for (;;) {
        assert_int_equal(stat(path, &st), 0);
        if (st.st_size > before + 2 * 1024 * 1024)
            break;
        if (sl_time_mono_ns() > deadline)
            fail_msg("no checkpoint: %s stayed at %lld bytes", path, (long long)st.st_size);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    assert_val(fx, "ckpt", "k0599", val);
}

/* Writers that never pause: the checkpointer cannot catch up while frames
 * keep landing, yet the WAL must not grow without bound. */
#define WB_THREADS 8
#define WB_WRITES 800
#define WB_VAL 9000 /* three pages per row: 19,200 frames in all, more if
                       leaf pages are shared by batches */

struct wb_thread {
    struct fixture *fx;
    pthread_t th;
    int id, failures;
};

static void *wb_main(void *arg)
{
    struct wb_thread *w = arg;
    char *val = malloc(WB_VAL + 1);
    if (!val) {
        w->failures++;
        return NULL;
    }
    memset(val, 'a' + w->id, WB_VAL);
    val[WB_VAL] = '\0';
    for (int i = 0; i < WB_WRITES; i++) {
        char sk[32];
        snprintf(sk, sizeof(sk), "%d-%05d", w->id, i);
        if (put(w->fx, "wal", sk, val, NULL) != 0)
            w->failures++;
    }
    free(val);
    return NULL;
}

static void test_wal_stays_bounded(void **state)
{
    struct fixture *fx = *state;
    struct wb_thread th[WB_THREADS];
    for (int i = 0; i < WB_THREADS; i++) {
        th[i] = (struct wb_thread){.fx = fx, .id = i};
        assert_int_equal(pthread_create(&th[i].th, NULL, wb_main, &th[i]), 0);
    }
    for (int i = 0; i < WB_THREADS; i++) {
        pthread_join(th[i].th, NULL);
        assert_int_equal(th[i].failures, 0);
    }
    char path[1200];
    snprintf(path, sizeof(path), "%s/sluice.db-wal", fx->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    /* A frame is a 24-byte header and a page; allow one more batch. */
    off_t frame = 24 + 4096, limit = (off_t)(SL_WAL_MAX_PAGES + 2000) * frame;
    print_message("WAL: %lld bytes after %d writes (limit %lld)\n", (long long)st.st_size,
                  WB_THREADS * WB_WRITES, (long long)limit);
    assert_true(st.st_size <= limit);
    char want[WB_VAL + 1];
    memset(want, 'a' + 7, WB_VAL);
    want[WB_VAL] = '\0';
    assert_val(fx, "wal", "7-00799", want);
}

/* ---- queues ---------------------------------------------------------------- */

struct qop {
    const char *q;
    const char *group; /* put: its group; receive: only its (NULL: any) */
    enum { Q_PUT, Q_RECEIVE, Q_DELETE, Q_UPDATE, Q_RELEASE, Q_PUT_FAIL } kind;
    const char *body, *meta;
    int64_t now, ms; /* receive: now and lease; put/update: visible */
    size_t max;
    int64_t id;
    uint32_t receives;
    struct sl_qmsg *got;
    size_t n;
};

static int qop_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct qop *o = arg;
    switch (o->kind) {
    case Q_PUT:
    case Q_PUT_FAIL: {
        int rc = sl_txn_queue_put(t, o->q, o->group, o->body, strlen(o->body), o->meta, o->ms,
                                  &o->id);
        return rc ? rc : o->kind == Q_PUT_FAIL ? SL_ECONDITION : 0;
    }
    case Q_RECEIVE:
        return sl_txn_queue_receive(t, o->q, o->group, o->now, o->ms, o->max, &o->got, &o->n);
    case Q_DELETE:
        return sl_txn_queue_delete(t, o->q, o->id, o->receives);
    case Q_UPDATE:
        return sl_txn_queue_update(t, o->q, o->id, o->receives, o->ms, o->meta);
    case Q_RELEASE:
        return sl_txn_queue_release(t, o->q, o->now, &o->n);
    }
    return SL_EINVAL;
}

static int qrun(struct fixture *fx, struct qop *o)
{
    struct sl_err err = {0};
    return sl_store_write(fx->s, qop_txn, o, &err);
}

static int64_t qput(struct fixture *fx, const char *q, const char *body, const char *meta,
                    int64_t visible)
{
    struct qop o = {.q = q, .kind = Q_PUT, .body = body, .meta = meta, .ms = visible};
    assert_int_equal(qrun(fx, &o), 0);
    assert_true(o.id > 0);
    return o.id;
}

/* Put, receive (oldest visible first, leased), delete with the receipt,
 * update for a later retry; stale receipts change nothing; all of it
 * survives a reopen. */
static void test_queue_lease_cycle(void **state)
{
    struct fixture *fx = *state;
    int64_t now = sl_time_now_ms();
    int64_t a = qput(fx, "jobs", "a", "{\"n\":1}", 0);
    int64_t b = qput(fx, "jobs", "b", "{}", 0);
    qput(fx, "jobs", "later", "{}", now + 3600 * 1000);
    qput(fx, "other", "x", "{}", 0);
    size_t count;
    assert_int_equal(sl_queue_count(fx->s, "jobs", &count), 0);
    assert_int_equal(count, 3);

    struct qop r = {.q = "jobs", .kind = Q_RECEIVE, .now = now + 1000, .ms = 30000, .max = 10};
    assert_int_equal(qrun(fx, &r), 0);
    assert_int_equal(r.n, 2); /* "later" is not visible yet */
    assert_int_equal(r.got[0].id, a);
    assert_string_equal(r.got[0].body, "a");
    assert_string_equal(r.got[0].meta, "{\"n\":1}");
    assert_int_equal(r.got[0].receives, 1);
    assert_int_equal(r.got[1].id, b);
    /* Leased: a second receive sees nothing before the lease ends. */
    struct qop r2 = {.q = "jobs", .kind = Q_RECEIVE, .now = now + 2000, .ms = 30000, .max = 10};
    assert_int_equal(qrun(fx, &r2), 0);
    assert_int_equal(r2.n, 0);
    /* a is done; b fails and comes back in a minute with new meta. */
    struct qop d = {.q = "jobs", .kind = Q_DELETE, .id = a, .receives = 1};
    assert_int_equal(qrun(fx, &d), 0);
    assert_int_equal(qrun(fx, &d), SL_ENOTFOUND);
    struct qop u = {.q = "jobs", .kind = Q_UPDATE, .id = b, .receives = 1,
                    .ms = now + 60000, .meta = "{\"attempts\":1}"};
    assert_int_equal(qrun(fx, &u), 0);
    int64_t next = 0;
    assert_int_equal(sl_queue_next_visible(fx->s, "jobs", &next), 0);
    assert_int_equal(next, now + 60000);
    sl_qmsgs_free(r.got, r.n);
    sl_qmsgs_free(r2.got, r2.n);

    reopen_store(fx);
    struct qop r3 = {.q = "jobs", .kind = Q_RECEIVE, .now = now + 60000, .ms = 1000, .max = 1};
    assert_int_equal(qrun(fx, &r3), 0);
    assert_int_equal(r3.n, 1);
    assert_int_equal(r3.got[0].id, b);
    assert_int_equal(r3.got[0].receives, 2);
    assert_string_equal(r3.got[0].meta, "{\"attempts\":1}");
    /* The old receipt (receive 1) is stale now. */
    struct qop stale = {.q = "jobs", .kind = Q_DELETE, .id = b, .receives = 1};
    assert_int_equal(qrun(fx, &stale), SL_ENOTFOUND);
    struct qop keep = {.q = "jobs", .kind = Q_UPDATE, .id = b, .receives = 2, .ms = now};
    assert_int_equal(qrun(fx, &keep), 0); /* meta NULL: kept */
    struct qop r4 = {.q = "jobs", .kind = Q_RECEIVE, .now = now + 1, .ms = 1000, .max = 5};
    assert_int_equal(qrun(fx, &r4), 0);
    assert_int_equal(r4.n, 1);
    assert_string_equal(r4.got[0].meta, "{\"attempts\":1}");
    sl_qmsgs_free(r3.got, r3.n);
    sl_qmsgs_free(r4.got, r4.n);
    assert_int_equal(sl_queue_next_visible(fx->s, "empty", &next), SL_ENOTFOUND);
}

static void collect_group(void *arg, const char *group, int64_t ms)
{
    char *out = arg;
    char item[64];
    snprintf(item, sizeof(item), "%s@%lld;", group, (long long)ms);
    strcat(out, item);
}

/* Messages in groups: a receive of one group leases only its messages,
 * and the groups are listed with their earliest visible time. */
static void test_queue_groups(void **state)
{
    struct fixture *fx = *state;
    int64_t now = sl_time_now_ms();
    /* (A put makes a message visible at its own clock reading at the
     * earliest: these are later.) */
    struct qop p1 = {.q = "g", .group = "fn-a", .kind = Q_PUT, .body = "a1", .meta = "{}",
                     .ms = now + 1000};
    struct qop p2 = {.q = "g", .group = "fn-b", .kind = Q_PUT, .body = "b1", .meta = "{}",
                     .ms = now + 1000};
    struct qop p3 = {.q = "g", .group = "fn-a", .kind = Q_PUT, .body = "a2", .meta = "{}",
                     .ms = now + 5000};
    assert_int_equal(qrun(fx, &p1), 0);
    assert_int_equal(qrun(fx, &p2), 0);
    assert_int_equal(qrun(fx, &p3), 0);
    qput(fx, "g", "none", "{}", now + 9000); /* no group: "" */
    char listed[256] = "";
    assert_int_equal(sl_queue_groups(fx->s, "g", collect_group, listed), 0);
    char want[256];
    snprintf(want, sizeof(want), "@%lld;fn-a@%lld;fn-b@%lld;", (long long)(now + 9000),
             (long long)(now + 1000), (long long)(now + 1000));
    assert_string_equal(listed, want);
    struct qop r = {.q = "g", .group = "fn-b", .kind = Q_RECEIVE, .now = now + 10000,
                    .ms = 60000, .max = 10};
    assert_int_equal(qrun(fx, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.got[0].body, "b1");
    assert_string_equal(r.got[0].group, "fn-b");
    sl_qmsgs_free(r.got, r.n);
    int64_t next = 0;
    assert_int_equal(sl_queue_next_visible_group(fx->s, "g", "fn-b", &next), 0);
    assert_int_equal(next, now + 10000 + 60000); /* leased */
    assert_int_equal(sl_queue_next_visible_group(fx->s, "g", "fn-a", &next), 0);
    assert_int_equal(next, now + 1000);
    assert_int_equal(sl_queue_next_visible_group(fx->s, "g", "fn-c", &next), SL_ENOTFOUND);
    listed[0] = '\0';
    assert_int_equal(sl_queue_groups(fx->s, "empty", collect_group, listed), 0);
    assert_string_equal(listed, "");
}

struct submitted {
    atomic_int done, result;
};

static void submit_done(void *arg, int result)
{
    struct submitted *s = arg;
    atomic_store(&s->result, result);
    atomic_fetch_add(&s->done, 1);
}

/* Waits (with a deadline) for a submitted transaction's callback: the
 * writer runs them after it wakes the batch's synchronous writers. */
static int done_of(struct submitted *s)
{
    for (int i = 0; i < 5000 && !atomic_load(&s->done); i++)
        usleep(1000);
    return atomic_load(&s->done);
}

/* sl_store_submit: the callback runs once the batch is durable, with the
 * transaction's result; after close begins, submit fails and the callback
 * never runs. */
static void test_submit(void **state)
{
    struct fixture *fx = *state;
    static struct submitted ok, failed;
    atomic_store(&ok.done, 0);
    atomic_store(&failed.done, 0);
    struct qop p = {.q = "s", .kind = Q_PUT, .body = "x", .meta = "{}"};
    struct qop bad = {.q = "s", .kind = Q_PUT_FAIL, .body = "y", .meta = "{}"};
    struct sl_err e1 = {0}, e2 = {0};
    assert_int_equal(sl_store_submit(fx->s, qop_txn, &p, &e1, submit_done, &ok), 0);
    assert_int_equal(sl_store_submit(fx->s, qop_txn, &bad, &e2, submit_done, &failed), 0);
    /* A synchronous write behind them commits in their batch or after it. */
    qput(fx, "s", "z", "{}", 0);
    assert_int_equal(done_of(&ok), 1);
    assert_int_equal(atomic_load(&ok.result), 0);
    assert_int_equal(done_of(&failed), 1);
    assert_int_equal(atomic_load(&failed.result), SL_ECONDITION);
    size_t count;
    assert_int_equal(sl_queue_count(fx->s, "s", &count), 0);
    assert_int_equal(count, 2);
    /* Queued ones run before close returns. */
    static struct submitted late;
    atomic_store(&late.done, 0);
    struct qop p2 = {.q = "s", .kind = Q_PUT, .body = "w", .meta = "{}"};
    struct sl_err e3 = {0};
    assert_int_equal(sl_store_submit(fx->s, qop_txn, &p2, &e3, submit_done, &late), 0);
    sl_store_close(fx->s);
    fx->s = NULL;
    assert_int_equal(atomic_load(&late.done), 1);
    assert_int_equal(atomic_load(&late.result), 0);
    reopen_store(fx);
    assert_int_equal(sl_queue_count(fx->s, "s", &count), 0);
    assert_int_equal(count, 3);
}

static void count_wake(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

/* A watch fires after a committed put to its queue only (not for other
 * queues, not for a put rolled back); release ends every lease at once. */
static void test_queue_watch_and_release(void **state)
{
    struct fixture *fx = *state;
    static atomic_int wakes;
    atomic_store(&wakes, 0);
    assert_int_equal(sl_store_queue_watch(fx->s, "w", count_wake, &wakes), 0);
    qput(fx, "w", "1", "{}", 0);
    assert_int_equal(atomic_load(&wakes), 1);
    qput(fx, "not-w", "1", "{}", 0);
    assert_int_equal(atomic_load(&wakes), 1);
    struct qop fail = {.q = "w", .kind = Q_PUT_FAIL, .body = "2", .meta = "{}"};
    assert_int_equal(qrun(fx, &fail), SL_ECONDITION);
    assert_int_equal(atomic_load(&wakes), 1);
    size_t count;
    assert_int_equal(sl_queue_count(fx->s, "w", &count), 0);
    assert_int_equal(count, 1);

    qput(fx, "w", "2", "{}", 0);
    /* After the put, which makes "2" visible at its own clock reading. */
    int64_t now = sl_time_now_ms();
    qput(fx, "w", "3", "{}", now + 3600 * 1000); /* a retry scheduled, not leased */
    struct qop r = {.q = "w", .kind = Q_RECEIVE, .now = now, .ms = 3600 * 1000, .max = 10};
    assert_int_equal(qrun(fx, &r), 0);
    assert_int_equal(r.n, 2);
    sl_qmsgs_free(r.got, r.n);
    struct qop rel = {.q = "w", .kind = Q_RELEASE, .now = now};
    assert_int_equal(qrun(fx, &rel), 0);
    assert_int_equal(rel.n, 2);
    struct qop again = {.q = "w", .kind = Q_RECEIVE, .now = now, .ms = 1000, .max = 10};
    assert_int_equal(qrun(fx, &again), 0);
    assert_int_equal(again.n, 2); /* the scheduled one still waits */
    assert_int_equal(again.got[0].receives, 2);
    sl_qmsgs_free(again.got, again.n);
}

/* What SQS's receive is made of, in one transaction each. */
struct sqs_ops {
    const char *q, *to;
    int64_t now;
    int step;
    struct sl_qmsg *got;
    size_t n;
    char *group;
    size_t purged;
};

static int sqs_ops_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct sqs_ops *o = arg;
    int rc;
    switch (o->step) {
    case 0: /* a FIFO group's first messages in put order, visible or not */
        return sl_txn_queue_scan_fifo(t, o->q, "g1", 10, &o->got, &o->n);
    case 1: /* lease the first; its first receive is now */
        rc = sl_txn_queue_scan_fifo(t, o->q, "g1", 1, &o->got, &o->n);
        return rc ? rc : sl_txn_queue_lease(t, o->q, &o->got[0], o->now, o->now + 60000);
    case 2: /* the groups after "" and after g1 */
        return sl_txn_queue_next_group(t, o->q, NULL, &o->group);
    case 3:
        return sl_txn_queue_next_group(t, o->q, "g2", &o->group);
    default:
        return sl_txn_queue_purge(t, o->q, &o->purged);
    }
}

static int sqs_op(struct fixture *fx, struct sqs_ops *o, int step)
{
    struct sl_err err = {0};
    o->step = step;
    return sl_store_write(fx->s, sqs_ops_txn, o, &err);
}

struct sqs_msg_op {
    const char *q, *to;
    int64_t id, now, visible;
    uint32_t receives;
    int kind; /* 0 visibility, 1 move, 2 remove */
};

static int sqs_msg_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct sqs_msg_op *o = arg;
    if (o->kind == 0)
        return sl_txn_queue_visibility(t, o->q, o->id, o->receives, o->now, o->visible);
    if (o->kind == 1)
        return sl_txn_queue_move(t, o->q, o->id, o->to, "{\"moved\":1}", o->visible);
    return sl_txn_queue_remove(t, o->q, o->id);
}

static int sqs_msg(struct fixture *fx, struct sqs_msg_op o)
{
    struct sl_err err = {0};
    return sl_store_write(fx->s, sqs_msg_txn, &o, &err);
}

static void count_named(void *arg, const char *q)
{
    char *seen = arg;
    if (q && strlen(seen) + strlen(q) + 2 < 256) {
        strcat(seen, q);
        strcat(seen, ";");
    }
}

/* FIFO scans keep put order across redelivery; groups are found one
 * after another; a lease records the first receive; visibility changes
 * only what is in flight under its receipt; a move lands in the other
 * queue unreceived and wakes its prefix watch; stats count each state;
 * purge empties one queue. */
static void test_queue_sqs_pieces(void **state)
{
    struct fixture *fx = *state;
    static char seen[256];
    seen[0] = '\0';
    assert_int_equal(sl_store_queue_watch_prefix(fx->s, "sqs:", count_named, seen), 0);
    int64_t now = sl_time_now_ms();
    struct qop p = {.q = "sqs:f", .kind = Q_PUT, .group = "g1", .body = "m1", .meta = "{}"};
    assert_int_equal(qrun(fx, &p), 0);
    int64_t m1 = p.id;
    p.body = "m2";
    assert_int_equal(qrun(fx, &p), 0);
    int64_t m2 = p.id;
    p.group = "g2";
    p.body = "other";
    assert_int_equal(qrun(fx, &p), 0);
    qput(fx, "plain", "x", "{}", 0);
    assert_string_equal(seen, "sqs:f;sqs:f;sqs:f;"); /* not "plain" */

    struct sqs_ops o = {.q = "sqs:f", .now = now};
    assert_int_equal(sqs_op(fx, &o, 1), 0);
    assert_int_equal(o.got[0].id, m1);
    assert_int_equal(o.got[0].receives, 1);
    assert_int_equal(o.got[0].first_ms, now);
    assert_true(o.got[0].leased);
    sl_qmsgs_free(o.got, o.n);
    /* In flight at now: its visibility can change, with its receipt only. */
    struct sqs_msg_op v = {.q = "sqs:f", .id = m1, .receives = 2, .now = now, .visible = now};
    assert_int_equal(sqs_msg(fx, v), SL_ENOTFOUND);
    v.receives = 1;
    v.visible = now - 1; /* back now, before m2 */
    assert_int_equal(sqs_msg(fx, v), 0);
    assert_int_equal(sqs_msg(fx, v), SL_ENOTFOUND); /* not in flight any more */
    assert_int_equal(sqs_op(fx, &o, 0), 0);
    assert_int_equal(o.n, 2);
    assert_int_equal(o.got[0].id, m1); /* put order, not visible order */
    assert_int_equal(o.got[1].id, m2);
    sl_qmsgs_free(o.got, o.n);
    assert_int_equal(sqs_op(fx, &o, 2), 0);
    assert_string_equal(o.group, "g1");
    free(o.group);
    assert_int_equal(sqs_op(fx, &o, 3), SL_ENOTFOUND);

    struct sl_queue_stats st;
    assert_int_equal(sl_queue_stats(fx->s, "sqs:f", now, 0, &st), 0);
    assert_int_equal(st.visible + st.in_flight + st.delayed, 3);
    assert_int_equal(sl_queue_stats(fx->s, "sqs:f", now, now + 3600 * 1000, &st), 0);
    assert_int_equal(st.visible + st.in_flight + st.delayed, 0); /* all older: expired */

    seen[0] = '\0';
    struct sqs_msg_op mv = {.q = "sqs:f", .to = "sqs:dlq", .id = m2, .kind = 1, .visible = now};
    assert_int_equal(sqs_msg(fx, mv), 0);
    assert_string_equal(seen, "sqs:dlq;");
    struct qop r = {.q = "sqs:dlq", .kind = Q_RECEIVE, .now = now, .ms = 1000, .max = 10};
    assert_int_equal(qrun(fx, &r), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.got[0].id, m2);
    assert_int_equal(r.got[0].receives, 1);
    assert_string_equal(r.got[0].meta, "{\"moved\":1}");
    sl_qmsgs_free(r.got, r.n);
    struct sqs_msg_op rm = {.q = "sqs:dlq", .id = m2, .kind = 2};
    assert_int_equal(sqs_msg(fx, rm), 0);
    assert_int_equal(sqs_msg(fx, rm), SL_ENOTFOUND);

    assert_int_equal(sqs_op(fx, &o, 4), 0);
    assert_int_equal(o.purged, 2);
    size_t count;
    assert_int_equal(sl_queue_count(fx->s, "plain", &count), 0);
    assert_int_equal(count, 1);
    sl_store_queue_unwatch_prefix(fx->s, count_named, seen);
}

/* A log's appends in one transaction, and what a test reads back. */
struct log_op {
    const char *log;
    uint32_t shard;
    int64_t ts;
    int n;          /* records to append ("r<i>") */
    bool fail;      /* roll back after appending */
    int64_t trim;   /* > 0: trim before this time instead */
    size_t trim_max, trimmed;
    bool drop;
    bool run; /* append the n records as one run (each at ts) */
    uint64_t seqs[16];
};

static int log_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct log_op *o = arg;
    if (o->drop)
        return sl_txn_log_drop(t, o->log);
    if (o->trim)
        return sl_txn_log_trim(t, o->log, o->shard, o->trim, o->trim_max ? o->trim_max : 100,
                               &o->trimmed);
    if (o->run) {
        static const char *const datas[] = {"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"};
        struct sl_log_entry v[8];
        for (int i = 0; i < o->n && i < 8; i++)
            v[i] = (struct sl_log_entry){"k", 1, datas[i], strlen(datas[i])};
        int rc = sl_txn_log_append_run(t, o->log, o->shard, o->ts, v, (size_t)o->n, &o->seqs[0]);
        for (int i = 1; i < o->n; i++)
            o->seqs[i] = o->seqs[0] + (uint64_t)i;
        return rc ? rc : o->fail ? SL_ECONDITION : 0;
    }
    for (int i = 0; i < o->n; i++) {
        char data[32];
        snprintf(data, sizeof(data), "r%d", i);
        int rc = sl_txn_log_append(t, o->log, o->shard, o->ts + i, "pk", 2, data, strlen(data),
                                   &o->seqs[i]);
        if (rc)
            return rc;
    }
    return o->fail ? SL_ECONDITION : 0;
}

static int log_run(struct fixture *fx, struct log_op *o)
{
    struct sl_err err = {0};
    return sl_store_write(fx->s, log_txn, o, &err);
}

static void count_log(void *arg, const char *name)
{
    if (name && strncmp(name, "log:", 4) == 0)
        atomic_fetch_add((atomic_int *)arg, 1);
}

/* Sequence numbers grow per shard, across a rolled-back append (a gap)
 * and a reopen; reads go from any number, stop at their limits, skip what
 * is older than since; bounds and the number at a time; a trim keeps the
 * shard's last record; a drop empties the log; appends wake the prefix
 * watch once per batch. */
static void test_log(void **state)
{
    struct fixture *fx = *state;
    static atomic_int wakes;
    atomic_store(&wakes, 0);
    assert_int_equal(sl_store_queue_watch_prefix(fx->s, "log:", count_log, &wakes), 0);
    struct log_op a = {.log = "log:s", .shard = 0, .ts = 1000, .n = 5};
    assert_int_equal(log_run(fx, &a), 0);
    assert_int_equal(atomic_load(&wakes), 1);
    for (int i = 0; i < 5; i++)
        assert_int_equal(a.seqs[i], (uint64_t)i + 1);
    struct log_op other = {.log = "log:s", .shard = 1, .ts = 1000, .n = 2};
    assert_int_equal(log_run(fx, &other), 0);
    assert_int_equal(other.seqs[0], 1); /* each shard its own numbers */
    struct log_op failed = {.log = "log:s", .shard = 0, .ts = 2000, .n = 2, .fail = true};
    assert_int_equal(log_run(fx, &failed), SL_ECONDITION);
    reopen_store(fx);
    struct log_op b = {.log = "log:s", .shard = 0, .ts = 3000, .n = 3};
    assert_int_equal(log_run(fx, &b), 0);
    assert_true(b.seqs[0] > 5); /* after the reopen, past the gap */

    struct sl_log_record *v = NULL;
    size_t n = 0;
    bool full = false;
    assert_int_equal(sl_log_read(fx->s, "log:s", 0, 3, 0, 100, 0, &v, &n, &full), 0);
    assert_int_equal(n, 6); /* 3, 4, 5 and b's three */
    assert_false(full);
    assert_int_equal(v[0].seq, 3);
    assert_string_equal(v[0].data, "r2");
    assert_string_equal(v[0].key, "pk");
    assert_int_equal(v[0].ts_ms, 1002);
    assert_int_equal(v[3].seq, b.seqs[0]);
    sl_log_records_free(v, n);
    assert_int_equal(sl_log_read(fx->s, "log:s", 0, 1, 0, 2, 0, &v, &n, &full), 0);
    assert_int_equal(n, 2);
    assert_true(full);
    sl_log_records_free(v, n);
    assert_int_equal(sl_log_read(fx->s, "log:s", 0, 1, 0, 100, 3, &v, &n, &full), 0);
    assert_int_equal(n, 1); /* the first always, then 3 bytes at most */
    assert_true(full);
    sl_log_records_free(v, n);
    assert_int_equal(sl_log_read(fx->s, "log:s", 0, 1, 3000, 100, 0, &v, &n, NULL), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].seq, b.seqs[0]);
    sl_log_records_free(v, n);

    uint64_t first = 0, last = 0, at = 0;
    assert_int_equal(sl_log_bounds(fx->s, "log:s", 0, 0, &first, &last), 0);
    assert_int_equal(first, 1);
    assert_int_equal(last, b.seqs[2]);
    assert_int_equal(sl_log_seq_at(fx->s, "log:s", 0, 1003, &at), 0);
    assert_int_equal(at, 4);
    assert_int_equal(sl_log_seq_at(fx->s, "log:s", 0, 9999, &at), SL_ENOTFOUND);

    /* A trim looks at the oldest records only: 2 at a time here. */
    struct log_op trim = {.log = "log:s", .shard = 0, .trim = 99999, .trim_max = 2};
    assert_int_equal(log_run(fx, &trim), 0);
    assert_int_equal(trim.trimmed, 2);
    assert_int_equal(sl_log_bounds(fx->s, "log:s", 0, 0, &first, &last), 0);
    assert_int_equal(first, 3);
    trim.trim_max = 100;
    assert_int_equal(log_run(fx, &trim), 0);
    assert_int_equal(sl_log_bounds(fx->s, "log:s", 0, 0, &first, &last), 0);
    assert_int_equal(first, b.seqs[2]); /* the last stays */
    assert_int_equal(last, b.seqs[2]);
    assert_int_equal(sl_log_bounds(fx->s, "log:s", 0, 99999, &first, &last), 0);
    assert_int_equal(first, 0); /* none readable since */
    reopen_store(fx);
    struct log_op c = {.log = "log:s", .shard = 0, .ts = 100000, .n = 1};
    assert_int_equal(log_run(fx, &c), 0);
    assert_int_equal(c.seqs[0], b.seqs[2] + 1); /* numbers go on after a trim */

    struct log_op drop = {.log = "log:s", .drop = true};
    assert_int_equal(log_run(fx, &drop), 0);
    assert_int_equal(sl_log_bounds(fx->s, "log:s", 1, 0, &first, &last), 0);
    assert_int_equal(last, 0);
    sl_store_queue_unwatch_prefix(fx->s, count_log, &wakes);
}

/* A run of records is one row with consecutive sequence numbers: reads
 * start inside it and stop inside it at their limits; bounds, the number
 * at a time, the head after a reopen and a trim (which keeps the last
 * run) see through it. */
static void test_log_runs(void **state)
{
    struct fixture *fx = *state;
    struct log_op a = {.log = "log:r", .shard = 2, .ts = 1000, .n = 4, .run = true};
    assert_int_equal(log_run(fx, &a), 0);
    assert_int_equal(a.seqs[0], 1);
    struct log_op one = {.log = "log:r", .shard = 2, .ts = 2000, .n = 1};
    assert_int_equal(log_run(fx, &one), 0);
    assert_int_equal(one.seqs[0], 5);
    reopen_store(fx);
    struct log_op b = {.log = "log:r", .shard = 2, .ts = 3000, .n = 3, .run = true};
    assert_int_equal(log_run(fx, &b), 0);
    assert_int_equal(b.seqs[0], 6); /* the head found past the run after a reopen */

    struct sl_log_record *v = NULL;
    size_t n = 0;
    bool full = false;
    assert_int_equal(sl_log_read(fx->s, "log:r", 2, 3, 0, 100, 0, &v, &n, &full), 0);
    assert_int_equal(n, 6); /* 3 and 4 of the first run, 5, and the second run */
    assert_false(full);
    assert_int_equal(v[0].seq, 3);
    assert_string_equal(v[0].data, "r2");
    assert_string_equal(v[0].key, "k");
    assert_int_equal(v[0].ts_ms, 1000);
    assert_int_equal(v[2].seq, 5);
    assert_string_equal(v[2].data, "r0");
    assert_int_equal(v[5].seq, 8);
    assert_string_equal(v[5].data, "r2");
    sl_log_records_free(v, n);
    assert_int_equal(sl_log_read(fx->s, "log:r", 2, 2, 0, 2, 0, &v, &n, &full), 0);
    assert_int_equal(n, 2); /* stopped inside the run */
    assert_true(full);
    assert_int_equal(v[1].seq, 3);
    sl_log_records_free(v, n);
    assert_int_equal(sl_log_read(fx->s, "log:r", 2, 1, 0, 100, 5, &v, &n, &full), 0);
    assert_int_equal(n, 2); /* 2 bytes each, 5 at most past the first */
    assert_true(full);
    sl_log_records_free(v, n);
    assert_int_equal(sl_log_read(fx->s, "log:r", 2, 1, 2500, 100, 0, &v, &n, NULL), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].seq, 6);
    sl_log_records_free(v, n);

    uint64_t first = 0, last = 0, at = 0;
    assert_int_equal(sl_log_bounds(fx->s, "log:r", 2, 0, &first, &last), 0);
    assert_int_equal(first, 1);
    assert_int_equal(last, 8);
    assert_int_equal(sl_log_seq_at(fx->s, "log:r", 2, 1500, &at), 0);
    assert_int_equal(at, 5);
    struct log_op trim = {.log = "log:r", .shard = 2, .trim = 99999};
    assert_int_equal(log_run(fx, &trim), 0);
    assert_int_equal(trim.trimmed, 2); /* two rows: the first run and the single */
    assert_int_equal(sl_log_bounds(fx->s, "log:r", 2, 0, &first, &last), 0);
    assert_int_equal(first, 6); /* the last run stays whole */
    assert_int_equal(last, 8);
    struct log_op c = {.log = "log:r", .shard = 2, .ts = 100000, .n = 2, .run = true};
    assert_int_equal(log_run(fx, &c), 0);
    assert_int_equal(c.seqs[0], 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_replace_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_pks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_rollback_in_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_batch_fails_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_removes_old_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_and_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_removes_orphans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_drains_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpointer_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_stays_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_lease_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_watch_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_sqs_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_val_keeps_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_only_new, setup, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
