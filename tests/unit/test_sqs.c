/*
 * Unit tests of SQS's receive and send inside a store transaction
 * (services/sqs/internal.h), where the integration tests cannot wait:
 * messages past the queue's retention are removed, not received; past
 * the redrive policy's count they move to the dead-letter queue, unread
 * there (not to one of the other kind); a receive stops at its byte
 * budget; a FIFO deduplication id answers with the first send's message
 * (by group: group and id never run together); receipt handles
 * round-trip and refuse forgeries and other queues.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "services/sqs/internal.h"

struct fixture {
    char root[512], dir[600];
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
    const char *base = getenv("SLUICE_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700);
    snprintf(fx->root, sizeof(fx->root), "%s/sqs-XXXXXX", base);
    assert_non_null(mkdtemp(fx->root));
    snprintf(fx->dir, sizeof(fx->dir), "%s/data", fx->root);
    struct sl_err err = {0};
    assert_int_equal(sl_store_open(&fx->s, fx->dir, &err), 0);
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

/* A queue as its record says (attrs: JSON of its attributes). */
static void make_queue(struct sqs_queue *q, const char *name, const char *id, const char *attrs)
{
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:o, s:i}", "id", id, "account",
                            "000000000000", "region", "us-east-1", "name", name, "attrs",
                            json_loads(attrs, 0, NULL), "seq", 0);
    assert_int_equal(sqs_queue_parse(rec, q), 0);
}

/* What a transaction of the test does. */
struct op {
    struct sqs_queue *q, *dlq;
    struct sqs_send m;
    struct sqs_take k;
    int64_t lease_ms;
    int kind; /* 0 send, 1 take, 2 put the dead-letter queue's record */
};

static int op_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct op *o = arg;
    if (o->kind == 0)
        return sqs_send_txn(t, o->q, &o->m);
    if (o->kind == 2)
        return sqs_record_put(t, &o->dlq->ref, o->dlq->rec);
    return sqs_take_txn(t, o->q, o->lease_ms, &o->k);
}

static void send(struct fixture *fx, struct sqs_queue *q, const char *body, const char *group,
                 const char *dedup, struct sqs_send *out)
{
    struct op o = {.q = q, .kind = 0};
    o.m = (struct sqs_send){.body = body, .body_len = strlen(body), .group = group,
                            .dedup = dedup, .delay = -1};
    struct sl_err err = {0};
    assert_int_equal(sl_store_write(fx->s, op_txn, &o, &err), 0);
    if (out)
        *out = o.m;
}

static size_t take(struct fixture *fx, struct sqs_queue *q, size_t max, size_t max_bytes,
                   int64_t lease_ms, struct sqs_take *out)
{
    struct op o = {.q = q, .kind = 1, .lease_ms = lease_ms};
    o.k = (struct sqs_take){.max = max, .max_bytes = max_bytes};
    struct sl_err err = {0};
    assert_int_equal(sl_store_write(fx->s, op_txn, &o, &err), 0);
    size_t n = o.k.n;
    if (out)
        *out = o.k;
    else
        sl_qmsgs_free(o.k.msgs, o.k.n);
    return n;
}

static size_t count(struct fixture *fx, const char *id)
{
    size_t n = 0;
    assert_int_equal(sl_queue_count(fx->s, id, &n), 0);
    return n;
}

/* Retention 0 s: whatever was put before the receive has expired, and
 * goes (not received, not counted). */
static void test_expired_messages_go(void **state)
{
    struct fixture *fx = *state;
    struct sqs_queue q;
    make_queue(&q, "old", "sqs:old", "{\"MessageRetentionPeriod\": \"0\"}");
    send(fx, &q, "a", NULL, NULL, NULL);
    send(fx, &q, "b", NULL, NULL, NULL);
    usleep(3000);
    assert_int_equal(take(fx, &q, 10, 0, 30000, NULL), 0);
    assert_int_equal(count(fx, "sqs:old"), 0);
    sqs_queue_clear(&q);
}

/* maxReceiveCount 2: two receives, then the next moves it, with the
 * source's ARN in its meta, unreceived in the dead-letter queue; a
 * dead-letter queue of the other kind is not used. */
static void test_redrive_moves_after_count(void **state)
{
    struct fixture *fx = *state;
    struct sqs_queue q, dlq;
    make_queue(&dlq, "dlq", "sqs:dlq", "{}");
    struct op put = {.dlq = &dlq, .kind = 2};
    struct sl_err err = {0};
    assert_int_equal(sl_store_write(fx->s, op_txn, &put, &err), 0);
    make_queue(&q, "src", "sqs:src",
               "{\"RedrivePolicy\": \"{\\\"deadLetterTargetArn\\\": "
               "\\\"arn:aws:sqs:us-east-1:000000000000:dlq\\\", \\\"maxReceiveCount\\\": 2}\"}");
    assert_int_equal(q.max_receives, 2);
    send(fx, &q, "poison", NULL, NULL, NULL);
    for (int i = 0; i < 2; i++)
        assert_int_equal(take(fx, &q, 1, 0, 0, NULL), 1); /* lease 0: visible again */
    assert_int_equal(take(fx, &q, 1, 0, 0, NULL), 0);
    assert_int_equal(count(fx, "sqs:src"), 0);
    struct sqs_take k;
    assert_int_equal(take(fx, &dlq, 10, 0, 30000, &k), 1);
    assert_int_equal(k.msgs[0].receives, 1);
    assert_non_null(strstr(k.msgs[0].meta, "arn:aws:sqs:us-east-1:000000000000:src"));
    sl_qmsgs_free(k.msgs, k.n);

    struct sqs_queue fifo;
    make_queue(&fifo, "f.fifo", "sqs:f",
               "{\"FifoQueue\": \"true\", \"RedrivePolicy\": \"{\\\"deadLetterTargetArn\\\": "
               "\\\"arn:aws:sqs:us-east-1:000000000000:dlq\\\", \\\"maxReceiveCount\\\": 1}\"}");
    send(fx, &fifo, "x", "g", "d1", NULL);
    assert_int_equal(take(fx, &fifo, 1, 0, 0, NULL), 1);
    assert_int_equal(take(fx, &fifo, 1, 0, 0, NULL), 1); /* a standard DLQ: not moved */
    sqs_queue_clear(&fifo);
    sqs_queue_clear(&dlq);
    sqs_queue_clear(&q);
}

/* A receive stops before the message that would pass its byte budget
 * (the first always fits), and says it stopped there. */
static void test_byte_budget(void **state)
{
    struct fixture *fx = *state;
    struct sqs_queue q;
    make_queue(&q, "big", "sqs:big", "{}");
    char body[1001];
    memset(body, 'x', 1000);
    body[1000] = '\0';
    for (int i = 0; i < 5; i++)
        send(fx, &q, body, NULL, NULL, NULL);
    struct sqs_take k;
    assert_int_equal(take(fx, &q, 10, 2500, 30000, &k), 2);
    assert_true(k.full);
    assert_int_equal(k.bytes, 2000);
    sl_qmsgs_free(k.msgs, k.n);
    assert_int_equal(take(fx, &q, 10, 10, 30000, &k), 1);
    sl_qmsgs_free(k.msgs, k.n);
    sqs_queue_clear(&q);
}

/* FIFO: a deduplication id answers with the first send's message id and
 * sequence number, queues nothing; by group, the same id in another
 * group is another message; sequence numbers grow. */
static void test_fifo_deduplication(void **state)
{
    struct fixture *fx = *state;
    struct sqs_queue q;
    make_queue(&q, "d.fifo", "sqs:d", "{\"FifoQueue\": \"true\"}");
    struct sqs_send a, b, c;
    send(fx, &q, "one", "g", "same", &a);
    send(fx, &q, "two", "g", "same", &b);
    assert_false(a.duplicate);
    assert_true(b.duplicate);
    assert_string_equal(a.message_id, b.message_id);
    assert_string_equal(a.seq, b.seq);
    send(fx, &q, "three", "g", "other", &c);
    assert_true(strcmp(c.seq, a.seq) > 0);
    assert_int_equal(count(fx, "sqs:d"), 2);
    sqs_queue_clear(&q);

    struct sqs_queue g;
    make_queue(&g, "g.fifo", "sqs:g",
               "{\"FifoQueue\": \"true\", \"DeduplicationScope\": \"messageGroup\"}");
    send(fx, &g, "x", "a/b", "c", &a);
    send(fx, &g, "y", "a", "b/c", &b); /* a different pair, however it is spelled */
    assert_false(b.duplicate);
    send(fx, &g, "z", "a", "b/c", &c);
    assert_true(c.duplicate);
    assert_int_equal(count(fx, "sqs:g"), 2);
    sqs_queue_clear(&g);
}

/* Receipt handles: what was signed parses back; a forged byte, another
 * queue's place or text that is not a handle is refused. */
static void test_receipts(void **state)
{
    (void)state;
    struct sqs st = {0};
    memset(st.key, 7, sizeof(st.key));
    struct sqs_ref a, b;
    sqs_ref_set(&a, "000000000000", "us-east-1", "a");
    sqs_ref_set(&b, "000000000000", "us-east-1", "b");
    char h[128];
    sqs_receipt(&st, &a, 42, 3, h, sizeof(h));
    int64_t id = 0;
    uint32_t receives = 0;
    assert_int_equal(sqs_receipt_parse(&st, &a, h, &id, &receives), 0);
    assert_int_equal(id, 42);
    assert_int_equal(receives, 3);
    assert_int_equal(sqs_receipt_parse(&st, &b, h, &id, &receives), SL_EINVAL);
    h[3] = h[3] == '0' ? '1' : '0';
    assert_int_equal(sqs_receipt_parse(&st, &a, h, &id, &receives), SL_EINVAL);
    assert_int_equal(sqs_receipt_parse(&st, &a, "zz", &id, &receives), SL_EINVAL);
    assert_int_equal(sqs_receipt_parse(&st, &a, "", &id, &receives), SL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_expired_messages_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redrive_moves_after_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_byte_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_deduplication, setup, teardown),
        cmocka_unit_test(test_receipts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
