/*
 * Unit tests of the engine's consumer (src/engine/consumer.c) with a test
 * target: AWS's schedules, unscaled and scaled; the retry ladder and its
 * records for destinations; the event age; messages whose target is gone;
 * the governor's gate (a group never runs more deliveries than its
 * reservation, and waits for a slot instead of being throttled); a stop
 * that puts deliveries back; and a consumer killed (kill -9, in a child
 * process) with messages leased, whose messages all run after a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/consumer.h"

#define Q "test.q"

/* ---- AWS's schedules ---------------------------------------------------- */

/* Function errors: about one minute before the first retry, two before
 * the second. */
static void test_retry_schedule_unscaled(void **state)
{
    (void)state;
    assert_int_equal(sl_retry_lambda_error_ms(1), 60000);
    assert_int_equal(sl_retry_lambda_error_ms(2), 120000);
}

/* Throttles and system errors: 1 s, doubling, capped at 5 minutes. */
static void test_throttle_schedule_unscaled(void **state)
{
    (void)state;
    static const int64_t want[] = {1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000,
                                   300000, 300000};
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(sl_retry_lambda_throttle_ms(i + 1), want[i]);
    assert_int_equal(sl_retry_lambda_throttle_ms(60), 300000);
}

/* --time-scale divides every delay (rounding up: never zero). */
static void test_scaled(void **state)
{
    (void)state;
    assert_int_equal(sl_delay_scaled_ms(sl_retry_lambda_error_ms(1), 600), 100);
    assert_int_equal(sl_delay_scaled_ms(sl_retry_lambda_error_ms(2), 600), 200);
    assert_int_equal(sl_delay_scaled_ms(sl_retry_lambda_throttle_ms(1), 600), 2);
    assert_int_equal(sl_delay_scaled_ms(sl_retry_lambda_throttle_ms(1), 1e6), 1);
    assert_int_equal(sl_delay_scaled_ms(60000, 0), 60000); /* no scale: AWS's */
}

/* ---- the test target ------------------------------------------------------- */

/*
 * A message's body says what its deliveries do: "ok" succeeds, "err"
 * fails (a try), "gone" has no target any more, "slow" succeeds after 20
 * ms, "hang" never ends until the consumer stops. Its group is its
 * meta's "group". Records for destinations go to the queue "sink" (the
 * target kind "test").
 */
struct world {
    char root[1024];
    struct sl_store *store;
    struct sl_loop *loop;
    struct sl_governor *gov;
    struct sl_targets *targets;
    struct sl_consumer *con;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int deliveries;
    bool hang_ok; /* "hang" messages succeed (a restart's second chance) */
    int running, max_running; /* of the "slow" messages */
    int64_t at[16]; /* when "err" was delivered */
    int nat;
    bool stopping;
    struct sl_delivery *hung[64];
    int nhung;
    int64_t max_age_ms;
    int retries;
};

static int t_prepare(void *ctx, struct sl_delivery *d)
{
    struct world *w = ctx;
    if (strcmp(d->m.body, "gone") == 0)
        return SL_ENOTFOUND;
    d->retries = w->retries;
    d->max_age_ms = w->max_age_ms;
    snprintf(d->on_success, sizeof(d->on_success), "arn:aws:test:::sink");
    snprintf(d->on_failure, sizeof(d->on_failure), "arn:aws:test:::sink");
    return 0;
}

struct later_done {
    struct world *w;
    struct sl_delivery *d;
};

static void *slow_end(void *arg)
{
    struct later_done *ld = arg;
    usleep(20000);
    struct world *w = ld->w;
    pthread_mutex_lock(&w->mu);
    w->running--;
    pthread_mutex_unlock(&w->mu);
    /* (The slot the delivery got is the target's to give back.) */
    if (ld->d->slot_held)
        sl_governor_release(w->gov, ld->d->m.group);
    sl_consumer_done(w->con, ld->d, SL_DELIVERED);
    free(ld);
    return NULL;
}

static int t_deliver(void *ctx, struct sl_delivery *d)
{
    struct world *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->deliveries++;
    if (strcmp(d->m.body, "err") == 0 && w->nat < 16)
        w->at[w->nat++] = sl_time_now_ms();
    bool hang = strcmp(d->m.body, "hang") == 0 && !w->hang_ok,
         slow = strcmp(d->m.body, "slow") == 0;
    if (hang && w->nhung < 64)
        w->hung[w->nhung++] = d;
    if (slow) { /* (the slow ones are the gated group's: counted alone) */
        w->running++;
        if (w->running > w->max_running)
            w->max_running = w->running;
    }
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (hang)
        return 0;
    if (slow) {
        struct later_done *ld = malloc(sizeof(*ld));
        *ld = (struct later_done){w, d};
        pthread_t t;
        pthread_create(&t, NULL, slow_end, ld);
        pthread_detach(t);
        return 0;
    }
    if (d->slot_held)
        sl_governor_release(w->gov, d->m.group);
    sl_consumer_done(w->con, d,
                     strcmp(d->m.body, "err") == 0 ? SL_DELIVERY_ERROR : SL_DELIVERED);
    return 0;
}

static char *t_record(void *ctx, struct sl_delivery *d, const char *condition)
{
    (void)ctx;
    json_t *r = json_pack("{s:s, s:s, s:i}", "condition", condition, "body", d->m.body,
                          "tries", (int)d->tries);
    char *text = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(r);
    return text;
}

static const struct sl_consumer_ops t_ops = {
    .prepare = t_prepare, .deliver = t_deliver, .record = t_record};

static int sink_check(void *ctx, const char *arn, const char *p, const char *sa, const char *so)
{
    (void)ctx;
    (void)p;
    (void)sa;
    (void)so;
    return strcmp(arn, "arn:aws:test:::sink") == 0 ? 0 : SL_ENOTFOUND;
}

static int sink_deliver(void *ctx, struct sl_txn *t, const char *arn, const char *payload,
                        size_t len, const struct sl_target_source *src)
{
    (void)ctx;
    (void)arn;
    (void)src;
    return sl_txn_queue_put(t, "sink", NULL, payload, len, "{}", 0, NULL);
}

static void world_open(struct world *w, const char *root)
{
    struct sl_err err = {0};
    snprintf(w->root, sizeof(w->root), "%s", root);
    assert_int_equal(sl_store_open(&w->store, root, &err), 0);
    assert_int_equal(sl_loop_new(&w->loop, &err), 0);
    assert_int_equal(sl_governor_new(&w->gov, 1000), 0);
    assert_int_equal(sl_targets_new(&w->targets), 0);
    assert_int_equal(sl_targets_register(w->targets, "test", sink_check, sink_deliver, w), 0);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->retries = 2;
}

static void world_start(struct world *w, double scale, unsigned inflight)
{
    struct sl_consumer_config cfg = {
        .store = w->store,
        .loop = w->loop,
        .governor = w->gov,
        .targets = w->targets,
        .queue = Q,
        .max_inflight = inflight,
        .time_scale = scale,
        .lease_ms = 60000,
        .policy = {sl_retry_lambda_error_ms, sl_retry_lambda_throttle_ms},
        .ops = &t_ops,
        .ctx = w,
    };
    struct sl_err err = {0};
    assert_int_equal(sl_consumer_start(&w->con, &cfg, &err), 0);
}

/* Ends what hangs as a stopping server's runtime would. */
static void end_hung(struct world *w)
{
    pthread_mutex_lock(&w->mu);
    int n = w->nhung;
    w->nhung = 0;
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < n; i++) {
        if (w->hung[i]->slot_held)
            sl_governor_release(w->gov, w->hung[i]->m.group);
        sl_consumer_done(w->con, w->hung[i], SL_DELIVERY_STOPPED);
    }
}

static void world_close(struct world *w)
{
    sl_consumer_stop(w->con);
    end_hung(w);
    sl_consumer_free(w->con);
    sl_loop_free(w->loop);
    sl_targets_free(w->targets);
    sl_governor_free(w->gov);
    sl_store_close(w->store);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

struct put {
    const char *group, *body;
};

static int put_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct put *p = arg;
    char meta[128];
    snprintf(meta, sizeof(meta), "{\"group\":\"%s\"}", p->group);
    return sl_txn_queue_put(t, Q, p->group, p->body, strlen(p->body), meta, 0, NULL);
}

static void put(struct world *w, const char *group, const char *body)
{
    struct put p = {group, body};
    struct sl_err err = {0};
    assert_int_equal(sl_store_write(w->store, put_txn, &p, &err), 0);
}

/* Waits (with a deadline) until cond(w) holds. */
static void wait_for(struct world *w, bool (*cond)(struct world *w, void *arg), void *arg,
                     int64_t timeout_ms)
{
    struct timespec dl = sl_time_deadline(CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&w->mu);
    while (!cond(w, arg))
        if (pthread_cond_timedwait(&w->cv, &w->mu, &dl)) {
            bool ok = cond(w, arg);
            pthread_mutex_unlock(&w->mu);
            assert_true(ok);
            return;
        }
    pthread_mutex_unlock(&w->mu);
}

static bool queue_count_is(struct world *w, void *arg)
{
    size_t n = 0;
    sl_queue_count(w->store, (const char *)arg + 1, &n);
    return n == (size_t)((const char *)arg)[0];
}

/* Waits until queue q holds n messages (polled by the waiting test, a
 * condition with a deadline: the consumer has no event for it). */
static void wait_count(struct world *w, const char *q, size_t n, int64_t timeout_ms)
{
    char arg[64];
    arg[0] = (char)n;
    snprintf(arg + 1, sizeof(arg) - 1, "%s", q);
    int64_t until = sl_time_now_ms() + timeout_ms;
    while (!queue_count_is(w, arg)) {
        assert_true(sl_time_now_ms() < until);
        usleep(2000);
    }
}

/* A receive of up to 100 messages of q, leased for lease_ms. */
struct recv {
    const char *q;
    int64_t now, lease_ms;
    struct sl_qmsg *got;
    size_t n;
};

static int recv_txn(struct sl_txn *t, void *arg, struct sl_err *e)
{
    (void)e;
    struct recv *r = arg;
    return sl_txn_queue_receive(t, r->q, NULL, r->now, r->lease_ms, 100, &r->got, &r->n);
}

static void receive(struct sl_store *st, struct recv *r)
{
    struct sl_err err = {0};
    assert_int_equal(sl_store_write(st, recv_txn, r, &err), 0);
}

/* The records the sink got, a line each. */
static void sink_records(struct world *w, char *out, size_t n)
{
    struct recv r = {.q = "sink", .now = sl_time_now_ms(), .lease_ms = 60000};
    receive(w->store, &r);
    out[0] = '\0';
    for (size_t i = 0; i < r.n; i++) {
        strncat(out, r.got[i].body, n - strlen(out) - 2);
        strcat(out, "\n");
    }
    sl_qmsgs_free(r.got, r.n);
}

static char tmp_root[1024];

static int setup(void **state)
{
    const char *base = getenv("SLUICE_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700);
    snprintf(tmp_root, sizeof(tmp_root), "%s/consumer-XXXXXX", base);
    assert_non_null(mkdtemp(tmp_root));
    struct world *w = calloc(1, sizeof(*w));
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    sl_rm_tree(tmp_root);
    return 0;
}

/* ---- the tests --------------------------------------------------------------- */

/* An error is retried after AWS's scaled delays, then the message leaves
 * with a RetriesExhausted record for its OnFailure destination, in the
 * transaction that deletes it; a success leaves with a Success record. */
static void test_retry_ladder(void **state)
{
    struct world *w = *state;
    world_open(w, tmp_root);
    world_start(w, 600, 16); /* 100 ms, 200 ms */
    put(w, "fn-a", "err");
    put(w, "fn-b", "ok");
    wait_count(w, Q, 0, 10000);
    assert_int_equal(w->nat, 3); /* the first try and two retries */
    assert_true(w->at[1] - w->at[0] >= 100);
    assert_true(w->at[2] - w->at[1] >= 200);
    char recs[1024];
    sink_records(w, recs, sizeof(recs));
    assert_non_null(strstr(recs, "{\"body\":\"ok\",\"condition\":\"Success\",\"tries\":1}"));
    assert_non_null(
        strstr(recs, "{\"body\":\"err\",\"condition\":\"RetriesExhausted\",\"tries\":3}"));
    struct sl_consumer_stats st;
    sl_consumer_get_stats(w->con, &st);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.retried, 2);
    assert_int_equal(st.throttled, 0);
    world_close(w);
}

/* A message whose target is gone leaves without a record; one older than
 * its maximum age leaves with EventAgeExceeded, not delivered. */
static void test_dropped_and_too_old(void **state)
{
    struct world *w = *state;
    world_open(w, tmp_root);
    w->max_age_ms = 60000;
    put(w, "g", "gone");
    put(w, "g", "ok");
    usleep(150000); /* the messages age: 150 ms, over 60 s / 600 */
    world_start(w, 600, 16);
    wait_count(w, Q, 0, 10000);
    char recs[1024];
    sink_records(w, recs, sizeof(recs));
    assert_string_equal(recs, "{\"body\":\"ok\",\"condition\":\"EventAgeExceeded\","
                              "\"tries\":0}\n");
    assert_int_equal(w->deliveries, 0);
    struct sl_consumer_stats st;
    sl_consumer_get_stats(w->con, &st);
    assert_int_equal(st.dropped, 1);
    world_close(w);
}

static bool delivered(struct world *w, void *arg)
{
    return w->deliveries >= *(int *)arg;
}

/* A group with reserved concurrency 2 never has more than 2 deliveries
 * under way, its messages wait for a slot rather than being throttled,
 * and all of them run; another group runs beside it. */
static void test_governor_gate(void **state)
{
    struct world *w = *state;
    world_open(w, tmp_root);
    sl_governor_set_reserved(w->gov, "two", 2);
    for (int i = 0; i < 40; i++)
        put(w, "two", "slow");
    put(w, "other", "ok");
    int64_t t0 = sl_time_now_ms();
    world_start(w, 1, 16);
    int all = 41;
    wait_for(w, delivered, &all, 20000);
    wait_count(w, Q, 0, 10000);
    int64_t took = sl_time_now_ms() - t0;
    assert_int_equal(w->max_running, 2);
    struct sl_consumer_stats st;
    sl_consumer_get_stats(w->con, &st);
    assert_int_equal(st.throttled, 0);
    assert_int_equal(st.delivered, 41);
    /* 20 rounds of 20 ms: well under the throttle back-off's seconds. */
    print_message("40 messages at 2 at once: %lld ms\n", (long long)took);
    assert_true(took < 5000);
    /* Reserved concurrency 0: its messages fail at once. */
    sl_governor_set_reserved(w->gov, "zero", 0);
    put(w, "zero", "ok");
    wait_count(w, Q, 0, 10000);
    char recs[4096];
    sink_records(w, recs, sizeof(recs));
    assert_non_null(strstr(recs, "\"condition\":\"RetriesExhausted\",\"tries\":0"));
    world_close(w);
}

static bool hung_n(struct world *w, void *arg)
{
    return w->nhung >= *(int *)arg;
}

/* Waits until the consumer has leased n messages (polled: the consumer
 * has no event for it); its statistics in st. */
static void wait_leased(struct world *w, uint64_t n, struct sl_consumer_stats *st)
{
    int64_t until = sl_time_now_ms() + 10000;
    for (;;) {
        sl_consumer_get_stats(w->con, st);
        if (st->leased >= n)
            return;
        assert_true(sl_time_now_ms() < until);
        usleep(2000);
    }
}

/* 30 messages of a group with reserved concurrency 40 that hang, four at
 * a time: once four hang and sixteen are leased (four running, three
 * rounds ahead). */
static void hang_and_lease_ahead(struct world *w, struct sl_consumer_stats *st)
{
    world_open(w, tmp_root);
    sl_governor_set_reserved(w->gov, "forty", 40);
    for (int i = 0; i < 30; i++)
        put(w, "forty", "hang");
    world_start(w, 1, 4);
    int four = 4;
    wait_for(w, hung_n, &four, 10000);
    wait_leased(w, 16, st);
}

/* The hung deliveries end (and come back); from now on "hang" succeeds. */
static void run_hung_again(struct world *w)
{
    pthread_mutex_lock(&w->mu);
    w->hang_ok = true;
    pthread_mutex_unlock(&w->mu);
    end_hung(w);
}

/* Messages leased ahead of the deliveries under way hold no slot past a
 * round's worth: a synchronous call of the function finds the rest of its
 * reserved concurrency free. Once slots free, those leased ahead run. */
static void test_leased_ahead_hold_no_slots(void **state)
{
    struct world *w = *state;
    struct sl_consumer_stats st = {0};
    hang_and_lease_ahead(w, &st);
    assert_int_equal(st.leased, 16); /* four running, three rounds ahead */
    /* Four running and at most a round (four) with their slots. */
    assert_true(sl_governor_active(w->gov, "forty") <= 8);
    assert_true(sl_governor_available(w->gov, "forty") >= 32);
    assert_int_equal(w->nhung, 4);
    /* Those hung end (and come back); now every one runs, those leased
     * ahead taking their slots as they start. */
    run_hung_again(w);
    wait_count(w, Q, 0, 10000);
    /* Every slot comes back (a lease that found nothing gives its own
     * back when it ends: polled, as above). */
    int64_t until = sl_time_now_ms() + 10000;
    while (sl_governor_active(w->gov, "forty") != 0) {
        assert_true(sl_time_now_ms() < until);
        usleep(2000);
    }
    world_close(w);
}

/* Reserved concurrency 0 set while messages wait leased ahead without a
 * slot: they fail as the group's others do, never waiting for a slot that
 * cannot come; those that had their slot run. */
static void test_leased_ahead_stopped_later(void **state)
{
    struct world *w = *state;
    struct sl_consumer_stats st = {0};
    hang_and_lease_ahead(w, &st);
    sl_governor_set_reserved(w->gov, "forty", 0);
    run_hung_again(w);
    wait_count(w, Q, 0, 10000);
    /* The four hung, then the round leased ahead with its slots. */
    assert_int_equal(w->deliveries, 8);
    sl_consumer_get_stats(w->con, &st);
    assert_int_equal(st.delivered, 4);
    assert_int_equal(st.failed, 26);
    world_close(w);
}

/* A stop puts the deliveries it ended back on the queue, as they were
 * (no try counted). */
static void test_stop_puts_back(void **state)
{
    struct world *w = *state;
    world_open(w, tmp_root);
    world_start(w, 1, 16);
    put(w, "g", "hang");
    put(w, "g", "hang");
    int two = 2;
    wait_for(w, hung_n, &two, 10000);
    world_close(w);
    struct world w2 = {0};
    world_open(&w2, tmp_root);
    size_t n = 0;
    assert_int_equal(sl_queue_count(w2.store, Q, &n), 0);
    assert_int_equal(n, 2);
    /* Visible now, with no try counted in their meta. */
    struct recv r = {.q = Q, .now = sl_time_now_ms(), .lease_ms = 1000};
    receive(w2.store, &r);
    assert_int_equal(r.n, 2);
    for (size_t i = 0; i < r.n; i++)
        assert_null(strstr(r.got[i].meta, "\"tries\":1"));
    sl_qmsgs_free(r.got, r.n);
    sl_loop_free(w2.loop);
    sl_targets_free(w2.targets);
    sl_governor_free(w2.gov);
    sl_store_close(w2.store);
    pthread_cond_destroy(&w2.cv);
    pthread_mutex_destroy(&w2.mu);
}

/* kill -9 of a consumer with messages leased and deliveries under way
 * loses none: at the next start every lease ends and each runs. */
static void test_kill9_loses_nothing(void **state)
{
    struct world *w = *state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct world cw = {0};
        world_open(&cw, tmp_root);
        for (int i = 0; i < 20; i++)
            put(&cw, i % 2 ? "a" : "b", "hang");
        world_start(&cw, 1, 8);
        int eight = 8;
        wait_for(&cw, hung_n, &eight, 10000);
        if (write(ready[1], "x", 1) != 1)
            _exit(2);
        pause(); /* killed here, leases held */
        _exit(1);
    }
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    close(ready[0]);
    world_open(w, tmp_root);
    size_t n = 0;
    assert_int_equal(sl_queue_count(w->store, Q, &n), 0);
    assert_int_equal(n, 20); /* every message is still there, 8 of them leased */
    /* This time they succeed; the 8 leased ones (for a minute) run only
     * if the start ended their leases. */
    w->hang_ok = true;
    world_start(w, 1, 8);
    int all = 20;
    wait_for(w, delivered, &all, 10000);
    wait_count(w, Q, 0, 10000);
    struct sl_consumer_stats st;
    sl_consumer_get_stats(w->con, &st);
    assert_int_equal(st.delivered, 20);
    world_close(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_schedule_unscaled),
        cmocka_unit_test(test_throttle_schedule_unscaled),
        cmocka_unit_test(test_scaled),
        cmocka_unit_test_setup_teardown(test_retry_ladder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped_and_too_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_governor_gate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_puts_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leased_ahead_hold_no_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leased_ahead_stopped_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_loses_nothing, setup, teardown),
    };
    return cmocka_run_group_tests_name("consumer", tests, NULL, NULL);
}
