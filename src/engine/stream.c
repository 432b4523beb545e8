/*
 * Event source mappings over a log (stream.h). A stream mapping keeps,
 * per shard, a poller of engine/mapping.h whose source is the shard: its
 * records are read (on the mapping's reader thread) into a buffer in
 * sequence order, each marked with its lane and state:
 *
 *   QUEUED ──batch──▶ OUT ──ok──▶ DONE (or HELD until a tumbling window's
 *     ▲                │                 final invocation succeeds)
 *     └──failed, retry─┘ (or DONE, dropped to OnFailure, once exhausted)
 *
 * The checkpoint is the first record not DONE; it is written, with the
 * on-failure records of what was dropped, after each batch. Everything of
 * a shard but its counters is the loop thread's.
 */
#include "engine/stream.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "engine/mapping.h"

#define LANES_MAX 10
#define SEGS_MAX 32
#define FETCH_MAX 10000
#define FETCH_BYTES (8 * 1024 * 1024)
/* A batch's records stop short of the 6 MB invocation payload. */
#define BATCH_BYTES (5 * 1024 * 1024)
/* A tumbling window ends this long after its end time, for records
 * stamped just before it that commit just after. */
#define WINDOW_GRACE_MS 1000

/* ---- the hub: one store watch per prefix ------------------------------ */

struct hub_watch {
    const char *log;
    void (*cb)(void *arg);
    void *arg;
    struct hub_watch *next;
};

#define HUB_PREFIXES 3
struct sl_stream_hub {
    struct sl_store *store;
    pthread_mutex_t mu; /* the watches: held while they are called */
    struct hub_watch *watches;
    pthread_mutex_t pmu; /* the prefixes */
    char prefixes[HUB_PREFIXES][32];
    size_t nprefixes;
};

static void hub_cb(void *arg, const char *q)
{
    struct sl_stream_hub *h = arg;
    pthread_mutex_lock(&h->mu);
    for (struct hub_watch *w = h->watches; w; w = w->next)
        if (!q || strcmp(q, w->log) == 0)
            w->cb(w->arg);
    pthread_mutex_unlock(&h->mu);
}

int sl_stream_hub_new(struct sl_store *s, struct sl_stream_hub **out)
{
    struct sl_stream_hub *h = calloc(1, sizeof(*h));
    if (!h)
        return SL_ENOMEM;
    h->store = s;
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->pmu, NULL);
    *out = h;
    return 0;
}

void sl_stream_hub_free(struct sl_stream_hub *h)
{
    if (!h)
        return;
    if (h->nprefixes)
        sl_store_queue_unwatch_prefix(h->store, hub_cb, h);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->pmu);
    free(h);
}

/* Calls cb(arg) after each commit that appended to log, until unwatched. */
static int hub_watch(struct sl_stream_hub *h, struct hub_watch *w)
{
    char prefix[32];
    const char *colon = strchr(w->log, ':');
    size_t n = colon ? (size_t)(colon - w->log) + 1 : strlen(w->log);
    if (n >= sizeof(prefix))
        return SL_EINVAL;
    memcpy(prefix, w->log, n);
    prefix[n] = '\0';
    int rc = 0;
    pthread_mutex_lock(&h->pmu);
    bool known = false;
    for (size_t i = 0; i < h->nprefixes && !known; i++)
        known = strcmp(h->prefixes[i], prefix) == 0;
    if (!known) {
        if (h->nprefixes == HUB_PREFIXES)
            rc = SL_EBUSY;
        else if ((rc = sl_store_queue_watch_prefix(h->store, prefix, hub_cb, h)) == 0)
            sl_strlcpy(h->prefixes[h->nprefixes++], prefix, sizeof(h->prefixes[0]));
    }
    pthread_mutex_unlock(&h->pmu);
    if (rc)
        return rc;
    pthread_mutex_lock(&h->mu);
    w->next = h->watches;
    h->watches = w;
    pthread_mutex_unlock(&h->mu);
    return 0;
}

/* Once it returns, w's callback is not running and will not run. */
static void hub_unwatch(struct sl_stream_hub *h, struct hub_watch *w)
{
    pthread_mutex_lock(&h->mu);
    for (struct hub_watch **p = &h->watches; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    pthread_mutex_unlock(&h->mu);
}

/* ---- shards ------------------------------------------------------------ */

void sl_stream_desc_clear(struct sl_stream_desc *d)
{
    free(d->shards);
    memset(d, 0, sizeof(*d));
}

enum rstate { R_QUEUED, R_OUT, R_HELD, R_DONE };

struct rec {
    struct sl_log_record r;
    uint8_t lane;
    uint8_t state;
};

struct lane {
    bool out;          /* a batch of it is with the function */
    unsigned attempts; /* failed invocations of its next records */
    /* Bisection: the sizes of its next batches (segs[0] first). */
    uint32_t segs[SEGS_MAX];
    unsigned nsegs;
};

struct shard;

/* A read of the log, on the reader thread. */
struct fetch {
    struct shard *sh;
    uint64_t from;
    int64_t since_ms;
    size_t max;
    bool describe;
    /* Out: */
    int rc;
    struct sl_log_record *recs;
    size_t n;
    bool full;
    bool *pass;
    struct sl_stream_desc desc;
    int describe_rc;
    struct fetch *next;
};

/* The pending read of the shard's poller. */
struct read_req {
    bool on;
    size_t max;
    struct sl_batch *b;
    struct sl_err *err;
    sl_source_done done;
    void *arg;
};

/* A batch's cursor. */
struct sbatch {
    struct shard *sh;
    unsigned lane;
    bool final; /* a tumbling window's final invocation */
    bool acked;
    int64_t win_start;
    struct sl_log_record *recs; /* shallow copies: the buffer owns their bytes */
    size_t n;
    struct sl_batch *b;
    struct sl_buf event;
    struct sl_stream_call call;
    /* The target's report, kept for retry and on-failure records: */
    enum sl_stream_result result;
    char request_id[40];
    int status;
    char function_error[32];
    char *state; /* tumbling: the state the function answered */
};

struct shard {
    struct sl_stream *st;
    struct sl_stream_shard_desc d;
    struct sl_mapping *m; /* NULL until its parents are finished */
    bool finished;
    /* The loop thread's: */
    struct rec *buf;
    size_t head, len, cap;
    size_t queued;   /* records QUEUED */
    uint64_t ckpt;   /* the first sequence number not done */
    uint64_t saved;  /* the checkpoint last written */
    uint64_t next;   /* the next one to read from the log */
    bool dry;        /* the last read reached the log's end, no wake since */
    bool fetching;
    bool describe;   /* learn the shard's state with the next read */
    struct lane lanes[LANES_MAX];
    struct read_req rd;
    struct fetch job;
    char **pending; /* on-failure records for the next checkpoint */
    size_t npending;
    bool win_open;
    int64_t win_start;
    char *win_state;
    /* Any thread: */
    bool woke; /* (atomic) */
    void (*wake)(void *arg); /* the poller's, under the stream's mu */
    void *wake_arg;
    int64_t age_ms; /* (atomic) */
    uint64_t records, batches, failures, done; /* (atomic) */
};

struct sl_stream {
    struct sl_stream_config cfg;
    char *source_arn, *function_arn, *on_failure, *ckpt_ns, *ckpt_pk;
    char log[96];
    int64_t retention_ms; /* the loop thread's, from the last description */
    unsigned nlanes;
    pthread_mutex_t mu; /* shards (the list and their wakes), stopping */
    struct shard **shards;
    size_t nshards, cap;
    bool stopping;
    struct hub_watch watch;
    struct sl_inflight work; /* posts and checkpoints under way */
    /* The reader thread. */
    pthread_t reader;
    bool has_reader;
    pthread_mutex_t rmu;
    pthread_cond_t rcv;
    struct fetch *jobs, **jtail;
    bool rstop;
};

#define COUNT(sh, field, n) __atomic_fetch_add(&(sh)->field, (n), __ATOMIC_RELAXED)

static int64_t window_of(const struct sl_stream *st, int64_t ts_ms)
{
    int64_t w = st->cfg.tumbling_ms;
    return ts_ms - ((ts_ms % w) + w) % w;
}

static void iso_s(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the reader thread ------------------------------------------------- */

static void fetched(struct sl_loop *l, void *arg);

static void run_fetch(struct sl_stream *st, struct fetch *f)
{
    struct shard *sh = f->sh;
    if (f->describe)
        f->describe_rc = st->cfg.ops->describe(st->cfg.ops_ctx, &f->desc);
    f->rc = sl_log_read(st->cfg.store, st->log, sh->d.n, f->from, f->since_ms, f->max,
                        FETCH_BYTES, &f->recs, &f->n, &f->full);
    if (!f->rc && f->n && st->cfg.ops->pass) {
        f->pass = malloc(f->n * sizeof(bool));
        for (size_t i = 0; f->pass && i < f->n; i++)
            f->pass[i] = st->cfg.ops->pass(st->cfg.ops_ctx, &sh->d, &f->recs[i]);
    }
}

static void *reader_main(void *arg)
{
    struct sl_stream *st = arg;
    pthread_mutex_lock(&st->rmu);
    for (;;) {
        while (!st->jobs && !st->rstop)
            pthread_cond_wait(&st->rcv, &st->rmu);
        if (!st->jobs)
            break;
        struct fetch *f = st->jobs;
        st->jobs = f->next;
        if (!st->jobs)
            st->jtail = &st->jobs;
        pthread_mutex_unlock(&st->rmu);
        run_fetch(st, f);
        if (sl_loop_post(st->cfg.loop, fetched, f->sh))
            fetched(st->cfg.loop, f->sh); /* (the loop stops) */
        pthread_mutex_lock(&st->rmu);
    }
    pthread_mutex_unlock(&st->rmu);
    return NULL;
}

/* Ends the reader thread once its jobs are done. */
static void reader_stop(struct sl_stream *st)
{
    pthread_mutex_lock(&st->rmu);
    st->rstop = true;
    pthread_cond_signal(&st->rcv);
    pthread_mutex_unlock(&st->rmu);
    pthread_join(st->reader, NULL);
}

static void start_fetch(struct shard *sh)
{
    struct sl_stream *st = sh->st;
    struct fetch *f = &sh->job;
    size_t want = SL_MAX(st->cfg.batch_size * st->nlanes * 2, (size_t)500);
    *f = (struct fetch){
        .sh = sh,
        .from = SL_MAX(sh->next, sh->ckpt),
        .since_ms = sl_time_now_ms() - st->retention_ms,
        .max = SL_MIN(want, (size_t)FETCH_MAX),
        .describe = sh->describe,
    };
    sh->describe = false;
    sh->fetching = true;
    pthread_mutex_lock(&st->rmu);
    *st->jtail = f;
    st->jtail = &f->next;
    pthread_cond_signal(&st->rcv);
    pthread_mutex_unlock(&st->rmu);
}

/* ---- checkpoints and on-failure records -------------------------------- */

struct flush {
    struct sl_stream *st;
    struct shard *sh;
    int rc;
    uint32_t shard;
    uint64_t ckpt;
    char **payloads;
    size_t n;
    sl_source_done done;
    void *arg;
    struct sl_err err;
};

static int flush_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct flush *f = arg;
    struct sl_stream *st = f->st;
    for (size_t i = 0; i < f->n; i++) {
        int rc = sl_target_deliver_txn(st->cfg.targets, t, st->on_failure, f->payloads[i],
                                       strlen(f->payloads[i]), NULL);
        if (rc)
            sl_warn("engine", "event source mapping: on-failure destination %s: %s",
                    st->on_failure, sl_strerror(rc));
    }
    char sk[16], val[24];
    snprintf(sk, sizeof(sk), "%u", f->shard);
    snprintf(val, sizeof(val), "%llu", (unsigned long long)f->ckpt);
    return sl_txn_put(t, st->ckpt_ns, st->ckpt_pk, sk, val, strlen(val), NULL);
}

static void flush_free(struct flush *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->payloads[i]);
    free(f->payloads);
    free(f);
}

/* A checkpoint that did not commit (loop thread): its on-failure records
 * go back to the shard's, and the next batch writes the checkpoint again. */
static void flush_restore(struct sl_loop *l, void *arg)
{
    (void)l;
    struct flush *f = arg;
    struct shard *sh = f->sh;
    struct sl_stream *st = f->st;
    char **v = f->n ? realloc(sh->pending, (sh->npending + f->n) * sizeof(*v)) : NULL;
    if (v) {
        memmove(v + f->n, v, sh->npending * sizeof(*v));
        memcpy(v, f->payloads, f->n * sizeof(*v));
        sh->pending = v;
        sh->npending += f->n;
        f->n = 0;
    }
    sh->saved = UINT64_MAX;
    if (f->done)
        f->done(f->arg, f->rc);
    flush_free(f);
    sl_inflight_drop(&st->work);
}

static void flush_done(void *arg, int rc)
{
    struct flush *f = arg;
    struct sl_stream *st = f->st;
    if (rc)
        sl_warn("engine", "event source mapping: checkpoint: %s",
                f->err.msg[0] ? f->err.msg : sl_strerror(rc));
    f->rc = rc;
    if (rc && sl_loop_post(st->cfg.loop, flush_restore, f) == 0)
        return;
    if (f->done)
        f->done(f->arg, rc);
    flush_free(f);
    sl_inflight_drop(&st->work);
}

/* Writes the shard's checkpoint, with the on-failure records pending;
 * done(arg, rc) (may be NULL) once durable, at once when nothing
 * changed. */
static void flush(struct shard *sh, sl_source_done done, void *arg)
{
    struct sl_stream *st = sh->st;
    if (sh->ckpt == sh->saved && !sh->npending) {
        if (done)
            done(arg, 0);
        return;
    }
    struct flush *f = calloc(1, sizeof(*f));
    if (!f) {
        if (done)
            done(arg, SL_ENOMEM);
        return;
    }
    *f = (struct flush){.st = st, .sh = sh, .shard = sh->d.n, .ckpt = sh->ckpt, .payloads = sh->pending,
                        .n = sh->npending, .done = done, .arg = arg};
    sh->pending = NULL;
    sh->npending = 0;
    sh->saved = sh->ckpt;
    sl_inflight_hold(&st->work);
    int rc = sl_store_submit(st->cfg.store, flush_txn, f, &f->err, flush_done, f);
    if (rc) {
        f->rc = rc;
        flush_restore(st->cfg.loop, f);
    }
}

/* Queues AWS's on-failure record for records [first, last] of the shard
 * (count of them) dropped for condition. */
static void on_failure(struct shard *sh, const struct sl_log_record *first,
                       const struct sl_log_record *last, size_t count, const char *condition,
                       const struct sbatch *sb, unsigned invokes)
{
    struct sl_stream *st = sh->st;
    sl_warn("engine", "event source mapping of %s: %zu records of %s dropped (%s)",
            st->source_arn, count, sh->d.id, condition);
    if (!st->on_failure)
        return;
    char start[64], end[64], t0[40], t1[40], now[40], rid[40];
    st->cfg.ops->seq_text(st->cfg.ops_ctx, sh->d.n, first->seq, start, sizeof(start));
    st->cfg.ops->seq_text(st->cfg.ops_ctx, sh->d.n, last->seq, end, sizeof(end));
    sl_time_iso8601_ms(first->ts_ms, t0, sizeof(t0));
    sl_time_iso8601_ms(last->ts_ms, t1, sizeof(t1));
    sl_time_iso8601_ms(sl_time_now_ms(), now, sizeof(now));
    if (sb && sb->request_id[0])
        sl_strlcpy(rid, sb->request_id, sizeof(rid));
    else
        sl_uuid(rid);
    json_t *doc = json_pack(
        "{s:{s:s, s:s, s:s, s:i}, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:I, s:s}}",
        "requestContext", "requestId", rid, "functionArn", st->function_arn, "condition",
        condition, "approximateInvokeCount", (int)invokes, "version", "1.0", "timestamp", now,
        st->cfg.ops->batch_info, "shardId", sh->d.id, "startSequenceNumber", start,
        "endSequenceNumber", end, "approximateArrivalOfFirstRecord", t0,
        "approximateArrivalOfLastRecord", t1, "batchSize", (json_int_t)count, "streamArn",
        st->source_arn);
    if (doc && sb && sb->result != SL_STREAM_NOT_RUN) {
        json_t *rc = json_pack("{s:i, s:s}", "statusCode", sb->status ? sb->status : 200,
                               "executedVersion", "$LATEST");
        if (rc && sb->function_error[0])
            json_object_set_new(rc, "functionError", json_string(sb->function_error));
        if (rc)
            json_object_set_new(doc, "responseContext", rc);
    }
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    char **v = text ? realloc(sh->pending, (sh->npending + 1) * sizeof(*v)) : NULL;
    if (!v) {
        free(text);
        return;
    }
    v[sh->npending++] = text;
    sh->pending = v;
}

/* ---- the buffer -------------------------------------------------------- */

static size_t find(const struct shard *sh, uint64_t seq)
{
    size_t lo = sh->head, hi = sh->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sh->buf[mid].r.seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void set_state(struct shard *sh, struct rec *r, enum rstate s)
{
    if (r->state == R_QUEUED)
        sh->queued--;
    if (s == R_QUEUED)
        sh->queued++;
    r->state = (uint8_t)s;
}

/* Moves the checkpoint past the records done, and frees them. */
static void advance(struct shard *sh)
{
    while (sh->head < sh->len && sh->buf[sh->head].state == R_DONE) {
        struct rec *r = &sh->buf[sh->head++];
        sh->ckpt = r->r.seq + 1;
        free(r->r.key);
        free(r->r.data);
    }
    if (sh->head == sh->len) {
        sh->head = sh->len = 0;
        if (sh->next > sh->ckpt)
            sh->ckpt = sh->next;
    } else if (sh->head > 1024 && sh->head * 2 > sh->len) {
        memmove(sh->buf, sh->buf + sh->head, (sh->len - sh->head) * sizeof(*sh->buf));
        sh->len -= sh->head;
        sh->head = 0;
    }
}

static int append(struct shard *sh, struct sl_log_record *r, bool pass)
{
    if (sh->len == sh->cap) {
        size_t cap = sh->cap ? sh->cap * 2 : 256;
        struct rec *v = realloc(sh->buf, cap * sizeof(*v));
        if (!v)
            return SL_ENOMEM;
        sh->buf = v;
        sh->cap = cap;
    }
    unsigned lane = 0;
    if (sh->st->nlanes > 1)
        lane = sl_fnv1a(SL_FNV1A_SEED, r->key) % sh->st->nlanes;
    sh->buf[sh->len++] = (struct rec){.r = *r, .lane = (uint8_t)lane, .state = R_DONE};
    if (pass)
        set_state(sh, &sh->buf[sh->len - 1], R_QUEUED);
    sh->next = r->seq + 1;
    return 0;
}

/* ---- reading batches --------------------------------------------------- */

static void stream_start_ready(struct sl_stream *st);
static void merge_desc(struct sl_stream *st, struct sl_stream_desc *d);

static void complete(struct shard *sh, int rc)
{
    struct read_req rd = sh->rd;
    sh->rd.on = false;
    rd.done(rd.arg, rc);
}

static void complete_none(struct shard *sh, bool blocked, int64_t again_ms)
{
    sh->rd.b->n = 0;
    sh->rd.b->more = false;
    sh->rd.b->blocked = blocked;
    sh->rd.b->again_ms = again_ms;
    complete(sh, 0);
}

static struct sbatch *new_batch(struct shard *sh, unsigned lane, size_t n)
{
    struct sbatch *sb = calloc(1, sizeof(*sb));
    if (sb && n && !(sb->recs = calloc(n, sizeof(*sb->recs)))) {
        free(sb);
        return NULL;
    }
    if (sb) {
        sb->sh = sh;
        sb->lane = lane;
        sb->result = SL_STREAM_NOT_RUN;
        sl_buf_init(&sb->event, 0);
    }
    return sb;
}

static void hand_out(struct shard *sh, struct sbatch *sb)
{
    struct sl_batch *b = sh->rd.b;
    sh->lanes[sb->lane].out = true;
    b->records = sb->recs;
    b->n = sb->final ? 1 : sb->n; /* (a final invocation counts as one) */
    b->cursor = sb;
    b->blocked = false;
    b->again_ms = 0;
    /* (An open window has its final invocation to come, a closed shard
     * its end: the next read learns when.) */
    b->more = sh->queued > 0 || !sh->dry || sh->win_open || sh->d.closed;
    complete(sh, 0);
}

/* The lane free to take a batch whose first queued record comes first:
 * its index in the buffer, or SIZE_MAX. */
static size_t first_free(const struct shard *sh, bool *blocked)
{
    *blocked = false;
    for (size_t i = sh->head; i < sh->len; i++) {
        const struct rec *r = &sh->buf[i];
        if (r->state != R_QUEUED)
            continue;
        if (!sh->lanes[r->lane].out)
            return i;
        *blocked = true;
    }
    return SIZE_MAX;
}

/* Drops the queued records of lane older than the oldest allowed, with an
 * on-failure record for them. */
static void expire(struct shard *sh, unsigned lane, int64_t oldest)
{
    struct sl_log_record first = {0}, last = {0};
    size_t count = 0;
    for (size_t i = sh->head; i < sh->len; i++) {
        struct rec *r = &sh->buf[i];
        if (r->state != R_QUEUED || r->lane != lane || r->r.ts_ms >= oldest)
            continue;
        if (!count)
            first = r->r;
        last = r->r;
        count++;
        set_state(sh, r, R_DONE);
    }
    if (!count)
        return;
    on_failure(sh, &first, &last, count, "RecordAgeExceeded", NULL, sh->lanes[lane].attempts);
    sh->lanes[lane].attempts = 0;
    sh->lanes[lane].nsegs = 0;
    advance(sh);
    flush(sh, NULL, NULL);
}

/* A batch of lane from the buffer, up to max records. */
static struct sbatch *take(struct shard *sh, unsigned lane, size_t max)
{
    struct sl_stream *st = sh->st;
    struct lane *ln = &sh->lanes[lane];
    size_t cap = SL_MIN(max, st->cfg.batch_size);
    if (ln->nsegs)
        cap = SL_MIN(cap, (size_t)ln->segs[0]);
    size_t n = 0, bytes = 0;
    int64_t win = 0;
    for (size_t i = sh->head; i < sh->len && n < cap; i++) {
        const struct rec *r = &sh->buf[i];
        if (r->state != R_QUEUED || r->lane != lane)
            continue;
        size_t size = r->r.data_len / 3 * 4 + r->r.key_len + 512;
        if (n && bytes + size > BATCH_BYTES)
            break;
        if (st->cfg.tumbling_ms) {
            int64_t w = window_of(st, r->r.ts_ms);
            if (n && w != win)
                break;
            win = w;
        }
        bytes += size;
        n++;
    }
    struct sbatch *sb = new_batch(sh, lane, n);
    if (!sb)
        return NULL;
    for (size_t i = sh->head; i < sh->len && sb->n < n; i++) {
        struct rec *r = &sh->buf[i];
        if (r->state != R_QUEUED || r->lane != lane)
            continue;
        sb->recs[sb->n++] = r->r;
        set_state(sh, r, R_OUT);
    }
    sb->win_start = win;
    return sb;
}

/* Tumbling windows: whether the open window ends now (its final
 * invocation goes out), else when it will (*again_ms, monotonic, 0 for
 * not yet known). */
static bool window_ends(struct shard *sh, int64_t *again_ms)
{
    struct sl_stream *st = sh->st;
    *again_ms = 0;
    if (!st->cfg.tumbling_ms || !sh->win_open || sh->lanes[0].out)
        return false;
    for (size_t i = sh->head; i < sh->len; i++) {
        const struct rec *r = &sh->buf[i];
        if (r->state == R_QUEUED)
            return window_of(st, r->r.ts_ms) != sh->win_start; /* a later one has begun */
    }
    int64_t end = sh->win_start + st->cfg.tumbling_ms + WINDOW_GRACE_MS;
    int64_t now = sl_time_now_ms();
    if (sh->dry && now >= end)
        return true;
    *again_ms = sl_loop_now_ms() + SL_MAX(end - now, (int64_t)1);
    return false;
}

static void finish_shard(struct shard *sh)
{
    sh->finished = true;
    if (sh->d.last >= sh->ckpt)
        sh->ckpt = sh->d.last + 1;
    flush(sh, NULL, NULL);
    stream_start_ready(sh->st);
}

/* Serves the pending read from the buffer, reading the log first when it
 * runs low. */
static void serve(struct shard *sh)
{
    struct sl_stream *st = sh->st;
    if (!sh->rd.on || sh->fetching)
        return;
    if (__atomic_exchange_n(&sh->woke, false, __ATOMIC_ACQ_REL) && sh->dry) {
        sh->dry = false;
        sh->describe = !sh->d.closed; /* (a resharding wakes its parents too) */
    }
    if (sh->finished) {
        complete_none(sh, false, 0);
        return;
    }
    size_t want = SL_MAX(st->cfg.batch_size * st->nlanes, (size_t)1);
    if (!sh->dry && sh->queued < want) {
        start_fetch(sh);
        return;
    }
    for (;;) {
        int64_t again = 0;
        if (window_ends(sh, &again)) {
            struct sbatch *sb = new_batch(sh, 0, 0);
            if (!sb) {
                complete(sh, SL_ENOMEM);
                return;
            }
            sb->final = true;
            sb->win_start = sh->win_start;
            hand_out(sh, sb);
            return;
        }
        bool blocked;
        size_t i = first_free(sh, &blocked);
        if (i == SIZE_MAX) {
            /* A window's final invocation, or a closed shard's end, waits
             * for the batches out. */
            bool out = false;
            for (unsigned k = 0; k < st->nlanes; k++)
                out |= sh->lanes[k].out;
            blocked |= out && (sh->win_open || sh->d.closed);
            if (!blocked && sh->d.closed && sh->dry && sh->head == sh->len) {
                finish_shard(sh);
                complete_none(sh, false, 0);
                return;
            }
            complete_none(sh, blocked, again);
            return;
        }
        unsigned lane = sh->buf[i].lane;
        int64_t now = sl_time_now_ms();
        int64_t oldest = now - st->retention_ms;
        if (st->cfg.max_age_ms >= 0)
            oldest = SL_MAX(oldest, now - st->cfg.max_age_ms);
        if (sh->buf[i].r.ts_ms < oldest) {
            expire(sh, lane, oldest);
            continue;
        }
        if (st->cfg.tumbling_ms && sh->win_open &&
            window_of(st, sh->buf[i].r.ts_ms) != sh->win_start) {
            complete_none(sh, true, 0); /* (the window's final invocation is out) */
            return;
        }
        struct sbatch *sb = take(sh, lane, sh->rd.max);
        if (!sb) {
            complete(sh, SL_ENOMEM);
            return;
        }
        if (st->cfg.tumbling_ms && !sh->win_open) {
            sh->win_open = true;
            sh->win_start = sb->win_start;
        }
        hand_out(sh, sb);
        return;
    }
}

static void fetched(struct sl_loop *l, void *arg)
{
    (void)l;
    struct shard *sh = arg;
    struct sl_stream *st = sh->st;
    struct fetch *f = &sh->job;
    sh->fetching = false;
    if (f->describe && f->describe_rc == 0)
        merge_desc(st, &f->desc);
    sl_stream_desc_clear(&f->desc);
    int rc = f->rc;
    for (size_t i = 0; i < f->n; i++) {
        if (!rc && f->recs[i].seq >= sh->next) {
            rc = append(sh, &f->recs[i], !f->pass || f->pass[i]);
            if (!rc)
                continue;
        }
        sl_log_record_free(&f->recs[i]);
    }
    free(f->recs);
    free(f->pass);
    f->recs = NULL;
    f->pass = NULL;
    if (rc) {
        if (sh->rd.on) {
            sl_errf(sh->rd.err, rc, "reading %s of %s: %s", sh->d.id, st->source_arn,
                    sl_strerror(rc));
            complete(sh, rc);
        }
        return;
    }
    if (!f->full)
        sh->dry = true;
    advance(sh); /* (past records the filters dropped) */
    serve(sh);
}

/* ---- the shard as a source --------------------------------------------- */

static int sh_read(void *self, size_t max, struct sl_batch *b, struct sl_err *err,
                   sl_source_done done, void *arg)
{
    struct shard *sh = self;
    sh->rd = (struct read_req){.on = true, .max = max, .b = b, .err = err, .done = done,
                               .arg = arg};
    serve(sh);
    return 0;
}

/* Records [from, n) of the batch go back to the queue. */
static void requeue(struct shard *sh, struct sbatch *sb, size_t from)
{
    for (size_t i = from; i < sb->n; i++) {
        size_t k = find(sh, sb->recs[i].seq);
        if (k < sh->len && sh->buf[k].r.seq == sb->recs[i].seq && sh->buf[k].state == R_OUT)
            set_state(sh, &sh->buf[k], R_QUEUED);
    }
}

static void mark(struct shard *sh, struct sbatch *sb, size_t from, size_t to, enum rstate s)
{
    for (size_t i = from; i < to; i++) {
        size_t k = find(sh, sb->recs[i].seq);
        if (k < sh->len && sh->buf[k].r.seq == sb->recs[i].seq)
            set_state(sh, &sh->buf[k], s);
    }
}

/* The lane's next segment took n records. */
static void consume(struct lane *ln, size_t n)
{
    if (!ln->nsegs)
        return;
    if (ln->segs[0] > n) {
        ln->segs[0] -= (uint32_t)n;
        return;
    }
    memmove(ln->segs, ln->segs + 1, --ln->nsegs * sizeof(ln->segs[0]));
}

/* Records [from, n) of the batch failed in an invocation: an attempt;
 * they go back, or are dropped once the attempts run out. */
static void failed(struct shard *sh, struct sbatch *sb, size_t from)
{
    struct sl_stream *st = sh->st;
    struct lane *ln = &sh->lanes[sb->lane];
    ln->attempts++;
    if (st->cfg.max_retries < 0 || ln->attempts <= (unsigned long)st->cfg.max_retries) {
        requeue(sh, sb, from);
        return;
    }
    mark(sh, sb, from, sb->n, R_DONE);
    on_failure(sh, &sb->recs[from], &sb->recs[sb->n - 1], sb->n - from,
               "RetryAttemptsExhausted", sb, ln->attempts);
    ln->attempts = 0;
    consume(ln, sb->n - from);
    advance(sh);
    flush(sh, NULL, NULL);
}

static void window_done(struct shard *sh)
{
    for (size_t i = sh->head; i < sh->len; i++)
        if (sh->buf[i].state == R_HELD)
            set_state(sh, &sh->buf[i], R_DONE);
    sh->win_open = false;
    free(sh->win_state);
    sh->win_state = NULL;
}

static int sh_ack(void *self, struct sl_batch *b, struct sl_err *err, sl_source_done done,
                  void *arg)
{
    (void)err;
    struct shard *sh = self;
    struct sl_stream *st = sh->st;
    struct sbatch *sb = b->cursor;
    struct lane *ln = &sh->lanes[sb->lane];
    ln->out = false;
    sb->acked = true;
    if (sb->final) {
        window_done(sh);
        ln->attempts = 0;
    } else {
        size_t k = sb->n;
        for (size_t i = 0; b->failed && i < sb->n; i++)
            if (b->failed[i]) {
                k = i;
                break;
            }
        if (k) {
            int64_t age = sl_time_now_ms() - sb->recs[k - 1].ts_ms;
            __atomic_store_n(&sh->age_ms, SL_MAX(age, (int64_t)0), __ATOMIC_RELAXED);
        }
        mark(sh, sb, 0, k, st->cfg.tumbling_ms ? R_HELD : R_DONE);
        COUNT(sh, done, k);
        if (st->cfg.tumbling_ms && sb->state) {
            free(sh->win_state);
            sh->win_state = sb->state;
            sb->state = NULL;
        }
        if (k < sb->n) {
            COUNT(sh, failures, 1);
            b->back_off = true; /* (what failed comes again: not at once) */
            consume(ln, k);
            /* Retried from the lowest failure on; bisection retries that
             * remainder as one batch. */
            if (st->cfg.bisect) {
                if (!ln->nsegs)
                    ln->nsegs = 1;
                ln->segs[0] = (uint32_t)(sb->n - k);
            }
            failed(sh, sb, k);
        } else {
            ln->attempts = 0;
            consume(ln, sb->n);
        }
    }
    advance(sh);
    flush(sh, done, arg);
    return 0;
}

static void sh_retry(void *self, struct sl_batch *b)
{
    struct shard *sh = self;
    struct sl_stream *st = sh->st;
    struct sbatch *sb = b->cursor;
    struct lane *ln = &sh->lanes[sb->lane];
    if (sb->acked)
        return; /* (its checkpoint failed: the next one covers it; its lane may be out again) */
    ln->out = false;
    if (sb->result == SL_STREAM_NOT_RUN) {
        requeue(sh, sb, 0);
        return;
    }
    COUNT(sh, failures, 1);
    if (sb->final) {
        ln->attempts++;
        if (st->cfg.max_retries >= 0 && ln->attempts > (unsigned long)st->cfg.max_retries) {
            sl_warn("engine", "event source mapping of %s: the window at %lld of %s dropped "
                              "after %u attempts",
                    st->source_arn, (long long)sb->win_start, sh->d.id, ln->attempts);
            window_done(sh);
            ln->attempts = 0;
            advance(sh);
            flush(sh, NULL, NULL);
        }
        return;
    }
    if (st->cfg.bisect && sb->n > 1 && ln->nsegs + 1 < SEGS_MAX) {
        /* Two halves, each its own batch; no attempt spent. */
        uint32_t a = (uint32_t)((sb->n + 1) / 2), c = (uint32_t)(sb->n / 2);
        if (ln->nsegs)
            memmove(ln->segs + 2, ln->segs + 1, (ln->nsegs - 1) * sizeof(ln->segs[0]));
        else
            ln->nsegs = 1;
        ln->segs[0] = a;
        ln->segs[1] = c;
        ln->nsegs++;
        requeue(sh, sb, 0);
        return;
    }
    failed(sh, sb, 0);
}

static void sh_release(void *self, struct sl_batch *b)
{
    (void)self;
    struct sbatch *sb = b->cursor;
    if (!sb)
        return;
    sl_buf_free(&sb->event);
    free(sb->recs);
    free(sb->state);
    free(sb);
    b->cursor = NULL;
}

static int sh_watch(void *self, void (*wake)(void *arg), void *arg)
{
    struct shard *sh = self;
    pthread_mutex_lock(&sh->st->mu);
    sh->wake = wake;
    sh->wake_arg = arg;
    pthread_mutex_unlock(&sh->st->mu);
    return 0;
}

static void sh_unwatch(void *self, void (*wake)(void *arg), void *arg)
{
    (void)wake;
    (void)arg;
    struct shard *sh = self;
    pthread_mutex_lock(&sh->st->mu);
    sh->wake = NULL;
    pthread_mutex_unlock(&sh->st->mu);
}

static const struct sl_source shard_source = {
    .read = sh_read,
    .ack = sh_ack,
    .retry = sh_retry,
    .release = sh_release,
    .watch = sh_watch,
    .unwatch = sh_unwatch,
};

/* Records may have come to the stream (the writer thread). */
static void stream_wake(void *arg)
{
    struct sl_stream *st = arg;
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < st->nshards; i++) {
        struct shard *sh = st->shards[i];
        __atomic_store_n(&sh->woke, true, __ATOMIC_RELEASE);
        if (sh->wake)
            sh->wake(sh->wake_arg);
    }
    pthread_mutex_unlock(&st->mu);
}

/* ---- delivering -------------------------------------------------------- */

static int render(struct shard *sh, struct sbatch *sb)
{
    struct sl_stream *st = sh->st;
    struct sl_buf *out = &sb->event;
    int rc = sl_buf_puts(out, "{\"Records\":[");
    for (size_t i = 0; !rc && !sb->final && i < sb->n; i++) {
        if (i)
            rc = sl_buf_putc(out, ',');
        if (!rc)
            rc = st->cfg.ops->record(st->cfg.ops_ctx, &sh->d, &sb->recs[i], out);
    }
    if (!rc)
        rc = sl_buf_putc(out, ']');
    if (!rc && st->cfg.tumbling_ms) {
        char t0[32], t1[32];
        iso_s(sb->win_start, t0, sizeof(t0));
        iso_s(sb->win_start + st->cfg.tumbling_ms, t1, sizeof(t1));
        json_t *arn = json_string(st->source_arn);
        char *arn_text = arn ? json_dumps(arn, JSON_ENCODE_ANY) : NULL;
        json_decref(arn);
        rc = arn_text ? sl_buf_printf(out,
                                      ",\"window\":{\"start\":\"%s\",\"end\":\"%s\"},\"state\":%s,"
                                      "\"shardId\":\"%s\",\"eventSourceARN\":%s,"
                                      "\"isFinalInvokeForWindow\":%s,"
                                      "\"isWindowTerminatedEarly\":false",
                                      t0, t1, sh->win_state ? sh->win_state : "{}", sh->d.id,
                                      arn_text, sb->final ? "true" : "false")
                      : SL_ENOMEM;
        free(arn_text);
    }
    if (!rc)
        rc = sl_buf_putc(out, '}');
    return rc;
}

static void deliver(void *ctx, struct sl_mapping *m, struct sl_batch *b)
{
    struct shard *sh = ctx;
    struct sl_stream *st = sh->st;
    struct sbatch *sb = b->cursor;
    sb->b = b;
    if (render(sh, sb)) {
        sl_mapping_done(m, b, false);
        return;
    }
    COUNT(sh, batches, 1);
    COUNT(sh, records, sb->n);
    if (st->cfg.ops->delivered && sb->n)
        st->cfg.ops->delivered(st->cfg.ops_ctx, sb->n);
    sb->call = (struct sl_stream_call){.payload = sb->event.data, .len = sb->event.len,
                                       .nrecords = sb->final ? 0 : sb->n,
                                       .result = SL_STREAM_NOT_RUN};
    st->cfg.invoke(st->cfg.ctx, &sb->call);
}

/* Reads a partial batch response into b->failed; false when it is not
 * one AWS accepts (the whole batch failed). */
static bool partial(struct sl_stream *st, struct sbatch *sb, json_t *list)
{
    if (!list || json_is_null(list))
        return true;
    if (!json_is_array(list))
        return false;
    if (!json_array_size(list))
        return true;
    bool *failed = calloc(sb->n ? sb->n : 1, sizeof(bool));
    if (!failed)
        return false;
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "itemIdentifier"));
        uint32_t shard;
        uint64_t seq;
        if (!id || !*id || !st->cfg.ops->seq_parse(st->cfg.ops_ctx, id, &shard, &seq) ||
            shard != sb->sh->d.n) {
            free(failed);
            return false;
        }
        size_t lo = 0, hi = sb->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (sb->recs[mid].seq < seq)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == sb->n || sb->recs[lo].seq != seq) {
            free(failed);
            return false;
        }
        failed[lo] = true;
    }
    sb->b->failed = failed;
    return true;
}

void sl_stream_call_done(struct sl_stream_call *call)
{
    struct sbatch *sb = (struct sbatch *)((char *)call - offsetof(struct sbatch, call));
    struct shard *sh = sb->sh;
    struct sl_stream *st = sh->st;
    sb->result = call->result;
    sl_strlcpy(sb->request_id, call->request_id, sizeof(sb->request_id));
    sb->status = call->status;
    sl_strlcpy(sb->function_error, call->function_error, sizeof(sb->function_error));
    bool ok = call->result == SL_STREAM_OK;
    if (ok && (st->cfg.tumbling_ms || (st->cfg.report_failures && !sb->final))) {
        json_t *doc = call->response_len ? json_loadb(call->response, call->response_len,
                                                      JSON_DECODE_ANY, NULL)
                                         : NULL;
        if (st->cfg.tumbling_ms) {
            /* The answer must carry the window's state. */
            json_t *state = json_object_get(doc, "state");
            sb->state = json_is_object(state) ? json_dumps(state, JSON_COMPACT) : NULL;
            ok = sb->state != NULL;
        }
        if (ok && st->cfg.report_failures && !sb->final) {
            if (call->response_len && !doc)
                ok = false;
            else if (json_is_object(doc))
                ok = partial(st, sb, json_object_get(doc, "batchItemFailures"));
        }
        json_decref(doc);
        if (!ok)
            sb->result = SL_STREAM_FUNCTION_ERROR;
    }
    call->response = NULL;
    sl_mapping_done(sh->m, sb->b, ok);
}

/* ---- the stream -------------------------------------------------------- */

static struct shard *shard_of(struct sl_stream *st, uint32_t n)
{
    for (size_t i = 0; i < st->nshards; i++)
        if (st->shards[i]->d.n == n)
            return st->shards[i];
    return NULL;
}

/* Where a shard seen for the first time starts: its checkpoint, else the
 * mapping's starting position (a child of a resharding: its beginning). */
static uint64_t starting_point(struct sl_stream *st, const struct sl_stream_shard_desc *d,
                               bool child, bool *stored)
{
    struct sl_item it;
    char sk[16];
    snprintf(sk, sizeof(sk), "%u", d->n);
    *stored = false;
    if (sl_kv_get(st->cfg.store, st->ckpt_ns, st->ckpt_pk, sk, &it) == 0) {
        char text[24] = "";
        memcpy(text, it.val, SL_MIN(it.val_len, sizeof(text) - 1));
        sl_item_free(&it);
        *stored = true;
        return strtoull(text, NULL, 10);
    }
    if (child || st->cfg.start == SL_STREAM_TRIM_HORIZON)
        return 0;
    uint64_t first = 0, last = 0, seq = 0;
    if (st->cfg.start == SL_STREAM_AT_TIMESTAMP &&
        sl_log_seq_at(st->cfg.store, st->log, d->n, st->cfg.start_ms, &seq) == 0)
        return seq;
    if (sl_log_bounds(st->cfg.store, st->log, d->n, 0, &first, &last))
        return 0;
    return last + 1;
}

static int add_shard(struct sl_stream *st, const struct sl_stream_shard_desc *d, bool child)
{
    struct shard *sh = calloc(1, sizeof(*sh));
    if (!sh)
        return SL_ENOMEM;
    sh->st = st;
    sh->d = *d;
    bool stored;
    sh->ckpt = sh->next = starting_point(st, d, child, &stored);
    sh->saved = stored ? sh->ckpt : UINT64_MAX; /* (a new one is written when it starts) */
    if (d->closed && (d->last == 0 || sh->ckpt > d->last))
        sh->finished = true;
    pthread_mutex_lock(&st->mu);
    if (st->nshards == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 8;
        struct shard **v = realloc(st->shards, cap * sizeof(*v));
        if (!v) {
            pthread_mutex_unlock(&st->mu);
            free(sh);
            return SL_ENOMEM;
        }
        st->shards = v;
        st->cap = cap;
    }
    st->shards[st->nshards++] = sh;
    pthread_mutex_unlock(&st->mu);
    return 0;
}

/* A newer description of the stream (loop thread): new shards, and the
 * state of the known ones. */
static void merge_desc(struct sl_stream *st, struct sl_stream_desc *d)
{
    st->retention_ms = d->retention_ms;
    bool added = false;
    for (size_t i = 0; i < d->nshards; i++) {
        struct shard *sh = shard_of(st, d->shards[i].n);
        if (sh) {
            sh->d.closed = d->shards[i].closed;
            sh->d.last = d->shards[i].last;
        } else if (add_shard(st, &d->shards[i], true) == 0) {
            added = true;
        }
    }
    if (added)
        stream_start_ready(st);
}

static bool parents_finished(struct sl_stream *st, const struct shard *sh)
{
    for (size_t i = 0; i < sh->d.nparents; i++) {
        struct shard *p = shard_of(st, sh->d.parents[i]);
        if (p && !p->finished)
            return false;
    }
    return true;
}

/* Starts the poller of each shard whose parents are finished. */
static void stream_start_ready(struct sl_stream *st)
{
    pthread_mutex_lock(&st->mu);
    bool stopping = st->stopping;
    size_t n = st->nshards;
    pthread_mutex_unlock(&st->mu);
    if (stopping)
        return;
    for (size_t i = 0; i < n; i++) {
        struct shard *sh = st->shards[i];
        if (sh->m || sh->finished || !parents_finished(st, sh))
            continue;
        flush(sh, NULL, NULL); /* where a new one starts, before a restart */
        struct sl_mapping_config mc = {
            .loop = st->cfg.loop,
            .source = &shard_source,
            .source_self = sh,
            .batch_size = st->cfg.batch_size,
            .concurrency = st->nlanes,
            .window_ms = st->cfg.window_ms,
            .backoff_ms = 1000,
            .backoff_max_ms = 60000,
            .time_scale = st->cfg.time_scale,
            .deliver = deliver,
            .ctx = sh,
        };
        struct sl_err err = {0};
        struct sl_mapping *m = NULL;
        if (sl_mapping_start(&m, &mc, &err))
            sl_warn("engine", "event source mapping of %s: %s does not run: %s",
                    st->source_arn, sh->d.id, err.msg);
        pthread_mutex_lock(&st->mu);
        sh->m = m;
        pthread_mutex_unlock(&st->mu);
    }
}

static void start_task(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sl_stream *st = arg;
    stream_start_ready(st);
    sl_inflight_drop(&st->work);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void stream_free(struct sl_stream *st)
{
    for (size_t i = 0; i < st->nshards; i++) {
        struct shard *sh = st->shards[i];
        for (size_t k = sh->head; k < sh->len; k++) {
            free(sh->buf[k].r.key);
            free(sh->buf[k].r.data);
        }
        free(sh->buf);
        for (size_t k = 0; k < sh->npending; k++)
            free(sh->pending[k]);
        free(sh->pending);
        free(sh->win_state);
        free(sh);
    }
    free(st->shards);
    free(st->source_arn);
    free(st->function_arn);
    free(st->on_failure);
    free(st->ckpt_ns);
    free(st->ckpt_pk);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->rmu);
    pthread_cond_destroy(&st->rcv);
    sl_inflight_destroy(&st->work);
    free(st);
}

int sl_stream_start(struct sl_stream **out, const struct sl_stream_config *cfg,
                    struct sl_err *err)
{
    if (!cfg->loop || !cfg->store || !cfg->hub || !cfg->ops || !cfg->invoke ||
        !cfg->batch_size || !cfg->source_arn || !cfg->ckpt_ns || !cfg->ckpt_pk)
        return sl_errf(err, SL_EINVAL, "stream mapping: incomplete configuration");
    struct sl_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    st->cfg = *cfg;
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->rmu, NULL);
    pthread_cond_init(&st->rcv, NULL);
    sl_inflight_init(&st->work);
    st->jtail = &st->jobs;
    st->source_arn = strdup(cfg->source_arn);
    st->function_arn = dup_or_null(cfg->function_arn ? cfg->function_arn : "");
    st->on_failure = dup_or_null(cfg->on_failure);
    st->ckpt_ns = strdup(cfg->ckpt_ns);
    st->ckpt_pk = strdup(cfg->ckpt_pk);
    st->nlanes = cfg->tumbling_ms ? 1 : SL_MAX(SL_MIN(cfg->parallelization, LANES_MAX), 1u);
    if (!st->source_arn || !st->function_arn || !st->ckpt_ns || !st->ckpt_pk ||
        (cfg->on_failure && !st->on_failure)) {
        stream_free(st);
        return sl_errf(err, SL_ENOMEM, "out of memory");
    }
    struct sl_stream_desc d = {0};
    int rc = cfg->ops->describe(cfg->ops_ctx, &d);
    if (rc) {
        stream_free(st);
        return sl_errf(err, rc, "%s: %s", cfg->source_arn,
                       rc == SL_ENOTFOUND ? "no such stream" : sl_strerror(rc));
    }
    sl_strlcpy(st->log, d.log, sizeof(st->log));
    st->retention_ms = d.retention_ms;
    for (size_t i = 0; !rc && i < d.nshards; i++)
        rc = add_shard(st, &d.shards[i], false);
    sl_stream_desc_clear(&d);
    if (!rc && pthread_create(&st->reader, NULL, reader_main, st))
        rc = SL_ENOMEM;
    else if (!rc)
        pthread_setname_np(st->reader, "sl-stream");
    if (rc) {
        stream_free(st);
        return sl_errf(err, rc, "stream mapping: %s", sl_strerror(rc));
    }
    st->has_reader = true;
    st->watch = (struct hub_watch){.log = st->log, .cb = stream_wake, .arg = st};
    rc = hub_watch(cfg->hub, &st->watch);
    if (!rc) {
        sl_inflight_hold(&st->work);
        if (sl_loop_post(cfg->loop, start_task, st)) {
            sl_inflight_drop(&st->work);
            rc = SL_ECLOSED;
            hub_unwatch(cfg->hub, &st->watch);
        }
    }
    if (rc) {
        reader_stop(st);
        stream_free(st);
        return sl_errf(err, rc, "stream mapping: cannot watch %s", cfg->source_arn);
    }
    *out = st;
    return 0;
}

static void stop_mark(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sl_stream *st = arg;
    pthread_mutex_lock(&st->mu);
    st->stopping = true;
    pthread_mutex_unlock(&st->mu);
}

void sl_stream_stop(struct sl_stream *st)
{
    if (!st)
        return;
    /* On the loop: no poller starts after this. */
    if (sl_loop_call(st->cfg.loop, stop_mark, st))
        stop_mark(st->cfg.loop, st);
    hub_unwatch(st->cfg.hub, &st->watch);
    for (size_t i = 0;; i++) {
        /* (The loop may still learn of new shards; none of them runs.) */
        pthread_mutex_lock(&st->mu);
        struct shard *sh = i < st->nshards ? st->shards[i] : NULL;
        struct sl_mapping *m = sh ? sh->m : NULL;
        pthread_mutex_unlock(&st->mu);
        if (!sh)
            break;
        sl_mapping_stop(m);
    }
    sl_inflight_stop(&st->work);
    sl_inflight_wait(&st->work);
    reader_stop(st);
    stream_free(st);
}

void sl_stream_stats(struct sl_stream *st,
                     void (*cb)(void *arg, const struct sl_stream_shard_stats *s), void *arg)
{
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < st->nshards; i++) {
        struct shard *sh = st->shards[i];
        if (!sh->m)
            continue;
        struct sl_stream_shard_stats s = {
            .id = sh->d.id,
            .iterator_age_ms = __atomic_load_n(&sh->age_ms, __ATOMIC_RELAXED),
            .records = __atomic_load_n(&sh->records, __ATOMIC_RELAXED),
            .batches = __atomic_load_n(&sh->batches, __ATOMIC_RELAXED),
            .failures = __atomic_load_n(&sh->failures, __ATOMIC_RELAXED),
            .done = __atomic_load_n(&sh->done, __ATOMIC_RELAXED),
        };
        cb(arg, &s);
    }
    pthread_mutex_unlock(&st->mu);
}
