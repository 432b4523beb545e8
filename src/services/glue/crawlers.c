/*
 * Crawlers of the Glue Data Catalog: their records (kv glue.crawler), the
 * API that makes, changes, starts and stops them, their runs on threads of
 * their own (crawl.c does the crawling), and their cron schedules on the
 * engine loop's timers (engine/schedule.h, as EventBridge's rules).
 *
 * A crawler's State is the store's: StartCrawler writes RUNNING before it
 * answers, StopCrawler STOPPING, and the run's end READY with LastCrawl.
 * A crawl that Sluice's stop interrupts leaves RUNNING behind, and the
 * next start runs it again (a crawl writes the catalog in one
 * transaction, so it is done whole or not at all); one left STOPPING ends
 * CANCELLED.
 */
#include "services/glue/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/schedule.h"
#include "services/logs/logs.h"

#define LOG_GROUP "/aws-glue/crawlers"
#define RUNTIMES_KEPT 20 /* runs whose times make MedianRuntimeSeconds */

/* A crawl under way. */
struct glue_job {
    struct glue_state *gs;
    char account[16], region[64], name[GLUE_NAME_MAX + 1];
    bool claimed;  /* its RUNNING is written */
    atomic_bool shutdown; /* Sluice stops: leave the record RUNNING */
    atomic_bool stop;
    char prefix[40]; /* LastCrawl's MessagePrefix */
    struct glue_job *next;
};

/* A crawler's schedule (loop thread only). */
struct glue_sched {
    struct glue_state *gs;
    char account[16], region[64], name[GLUE_NAME_MAX + 1];
    struct sl_schedule *sched;
    struct sl_timer *timer;
    struct glue_sched *next;
};

static void spawn(struct glue_state *gs, const char *account, const char *region,
                  const char *name, bool claimed);

static struct glue_state *state_of(struct sl_app *app)
{
    return sl_app_state(app, &sl_service_glue);
}

static void crawler_pk(const char *account, const char *region, char *out, size_t n)
{
    snprintf(out, n, "%.15s/%.63s", account, region);
}

/* The crawler's name from field: 0, or the call has its error. */
static int crawler_name(struct sl_call *c, const char *field, char *out, size_t n)
{
    const char *v = json_string_value(json_object_get(c->in, field));
    size_t len = v ? strlen(v) : 0;
    if (!len || len > GLUE_NAME_MAX || len >= n)
        return sl_call_fail(c, GLUE_E_INVALID, "%s is not a valid name: '%.255s'", field,
                            v ? v : "");
    memcpy(out, v, len + 1);
    return 0;
}

/* The record as the API shows it (a new object). */
static json_t *public_of(const json_t *rec)
{
    json_t *out = json_deep_copy(rec);
    json_object_del(out, "_Metrics");
    json_object_del(out, "_Tags");
    return out;
}

/* A cron() expression Glue takes: 0, or the call has its error. */
static int check_schedule(struct sl_call *c, const char *expr)
{
    struct sl_schedule *s = NULL;
    struct sl_err err = {0};
    int rc = sl_schedule_parse(expr, NULL, SL_SCHEDULE_RULE, &s, &err);
    bool cron = !rc && sl_schedule_kind(s) == SL_SCHEDULE_CRON;
    sl_schedule_free(s);
    if (!cron)
        return sl_call_fail(c, GLUE_E_INVALID, "Invalid schedule expression: %.256s%s%s", expr,
                            rc ? ": " : " (a crawler takes cron() only)", rc ? err.msg : "");
    return 0;
}

/* Checks the members of a CreateCrawler or UpdateCrawler input: 0, or the
 * call has its error. */
static int check_input(struct sl_call *c)
{
    const json_t *targets = json_object_get(c->in, "Targets");
    if (targets) {
        size_t i, n = 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)targets, k, v) n += json_array_size(v);
        if (!n)
            return sl_call_fail(c, GLUE_E_INVALID, "Targets must name at least one target.");
        json_array_foreach(json_object_get(targets, "S3Targets"), i, v)
        {
            const char *path = json_string_value(json_object_get(v, "Path"));
            if (!path || strncmp(path, "s3://", 5) != 0 || !path[5] || path[5] == '/')
                return sl_call_fail(c, GLUE_E_INVALID,
                                    "S3 target path must be an s3://bucket/prefix URL: '%.256s'",
                                    path ? path : "");
        }
    }
    const char *sched = json_string_value(json_object_get(c->in, "Schedule"));
    return sched && *sched ? check_schedule(c, sched) : 0;
}

/* Copies the members of a (checked) CreateCrawler or UpdateCrawler input
 * into rec, with AWS's defaults. */
static void apply_input(const json_t *in, json_t *rec, bool create)
{
    static const char *const copied[] = {
        "Role", "DatabaseName", "Description", "Targets", "Classifiers", "TablePrefix",
        "SchemaChangePolicy", "RecrawlPolicy", "LineageConfiguration", "Configuration",
        "CrawlerSecurityConfiguration", "LakeFormationConfiguration"};
    for (size_t i = 0; i < SL_ARRAY_LEN(copied); i++) {
        json_t *v = json_object_get(in, copied[i]);
        if (v)
            json_object_set_new(rec, copied[i], json_deep_copy(v));
    }
    json_t *policy = json_object_get(rec, "SchemaChangePolicy");
    if (!json_is_object(policy))
        json_object_set_new(rec, "SchemaChangePolicy", policy = json_object());
    if (!json_object_get(policy, "UpdateBehavior"))
        json_object_set_new(policy, "UpdateBehavior", json_string("UPDATE_IN_DATABASE"));
    if (!json_object_get(policy, "DeleteBehavior"))
        json_object_set_new(policy, "DeleteBehavior", json_string("DEPRECATE_IN_DATABASE"));
    if (create) {
        if (!json_object_get(rec, "Classifiers"))
            json_object_set_new(rec, "Classifiers", json_array());
        if (!json_object_get(rec, "RecrawlPolicy"))
            json_object_set_new(rec, "RecrawlPolicy",
                                json_pack("{s:s}", "RecrawlBehavior", "CRAWL_EVERYTHING"));
        if (!json_object_get(rec, "LineageConfiguration"))
            json_object_set_new(rec, "LineageConfiguration",
                                json_pack("{s:s}", "CrawlerLineageSettings", "DISABLE"));
        if (!json_object_get(rec, "LakeFormationConfiguration"))
            json_object_set_new(rec, "LakeFormationConfiguration",
                                json_pack("{s:b, s:s}", "UseLakeFormationCredentials", 0,
                                          "AccountId", ""));
    }
    const char *sched = json_string_value(json_object_get(in, "Schedule"));
    if (sched && *sched)
        json_object_set_new(rec, "Schedule", json_pack("{s:s, s:s}", "ScheduleExpression", sched,
                                                       "State", "SCHEDULED"));
    else if (sched)
        json_object_del(rec, "Schedule");
}

/* ---- writes ----------------------------------------------------------------------------- */

enum cw_mode { CW_CREATE, CW_EDIT, CW_DELETE };

/* One change of a crawler's record, in a transaction: edit may refuse it
 * (an error id, the message in msg) or change rec. */
struct cwrite {
    enum cw_mode mode;
    char pk[96], name[GLUE_NAME_MAX + 1];
    json_t *rec; /* CREATE: the record; EDIT: the stored one, once read */
    int (*edit)(struct cwrite *w);
    struct sl_call *c;
    int fail;
    char msg[400];
    sl_op_fn then; /* the answer, once written */
};

static int cwrite_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct cwrite *w = arg;
    json_t *old = NULL;
    int rc = glue_txn_get(t, GLUE_NS_CRAWLER, w->pk, w->name, &old);
    if (rc && rc != SL_ENOTFOUND)
        return rc;
    bool exists = rc == 0;
    if (exists && w->mode == CW_CREATE) {
        json_decref(old);
        w->fail = GLUE_E_EXISTS;
        snprintf(w->msg, sizeof(w->msg), "%.255s already exists", w->name);
        return 0;
    }
    if (!exists && w->mode != CW_CREATE) {
        w->fail = GLUE_E_NOT_FOUND;
        snprintf(w->msg, sizeof(w->msg), "Crawler entry with name %.255s does not exist",
                 w->name);
        return 0;
    }
    if (exists) {
        json_decref(w->rec);
        w->rec = old;
    }
    if (w->edit && (w->fail = w->edit(w)))
        return 0;
    if (w->mode == CW_DELETE)
        return sl_txn_delete(t, GLUE_NS_CRAWLER, w->pk, w->name);
    return glue_txn_put(t, GLUE_NS_CRAWLER, w->pk, w->name, w->rec);
}

static void cwrite_free(struct sl_call *c)
{
    struct cwrite *w = c->state;
    if (w)
        json_decref(w->rec);
}

static struct cwrite *cwrite_new(struct sl_call *c, enum cw_mode mode, const char *field)
{
    struct cwrite *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return NULL;
    c->state = w;
    c->state_free = cwrite_free;
    w->mode = mode;
    w->c = c;
    crawler_pk(c->account, c->region, w->pk, sizeof(w->pk));
    if (crawler_name(c, field, w->name, sizeof(w->name))) {
        w->fail = -1; /* answered */
        return w;
    }
    return w;
}

static int cwritten(struct sl_call *c)
{
    struct cwrite *w = c->state;
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (w->fail)
        return sl_call_fail(c, w->fail, "%s", w->msg);
    return w->then ? w->then(c) : sl_call_ok(c, json_object());
}

static int cwrite_run(struct sl_call *c, struct cwrite *w)
{
    return sl_call_write(c, cwrite_txn, w, cwritten);
}

static bool is_running(const json_t *rec)
{
    const char *s = json_string_value(json_object_get(rec, "State"));
    return s && strcmp(s, "READY") != 0;
}

/* ---- schedules (loop thread) ---------------------------------------------------------------- */

struct resched {
    struct glue_state *gs;
    char account[16], region[64], name[GLUE_NAME_MAX + 1];
};

static void sched_free(struct glue_sched *s)
{
    if (s->timer)
        sl_loop_timer_cancel(s->gs->app->loop, s->timer);
    sl_schedule_free(s->sched);
    free(s);
}

static void arm(struct glue_sched *s);

static void on_timer(struct sl_loop *l, void *arg)
{
    (void)l;
    struct glue_sched *s = arg;
    s->timer = NULL;
    if (sl_inflight_stopping(&s->gs->crawls))
        return;
    /* (A crawl that is still running when its time comes is skipped, as
     * on AWS: the thread finds the crawler not READY.) */
    spawn(s->gs, s->account, s->region, s->name, false);
    arm(s);
}

static void arm(struct glue_sched *s)
{
    int64_t now = sl_time_now_ms(), next = sl_schedule_next(s->sched, now, now);
    if (next >= 0)
        s->timer = sl_loop_timer(s->gs->app->loop, sl_loop_now_ms() + (next - now), on_timer, s);
}

/* The crawler's schedule as its record says: armed when SCHEDULED, else
 * gone. */
static void resched_task(struct sl_loop *l, void *arg)
{
    (void)l;
    struct resched *r = arg;
    struct glue_state *gs = r->gs;
    for (struct glue_sched **p = &gs->scheds; *p; p = &(*p)->next) {
        struct glue_sched *s = *p;
        if (!strcmp(s->account, r->account) && !strcmp(s->region, r->region) &&
            !strcmp(s->name, r->name)) {
            *p = s->next;
            sched_free(s);
            break;
        }
    }
    char pk[96];
    crawler_pk(r->account, r->region, pk, sizeof(pk));
    json_t *rec = NULL;
    if (!sl_inflight_stopping(&gs->crawls) &&
        !glue_read(gs->app->store, GLUE_NS_CRAWLER, pk, r->name, &rec)) {
        json_t *sch = json_object_get(rec, "Schedule");
        const char *expr = json_string_value(json_object_get(sch, "ScheduleExpression"));
        const char *state = json_string_value(json_object_get(sch, "State"));
        struct sl_schedule *parsed = NULL;
        struct sl_err err = {0};
        if (expr && state && !strcmp(state, "SCHEDULED") &&
            !sl_schedule_parse(expr, NULL, SL_SCHEDULE_RULE, &parsed, &err)) {
            struct glue_sched *s = calloc(1, sizeof(*s));
            if (s) {
                s->gs = gs;
                s->sched = parsed;
                snprintf(s->account, sizeof(s->account), "%s", r->account);
                snprintf(s->region, sizeof(s->region), "%s", r->region);
                snprintf(s->name, sizeof(s->name), "%s", r->name);
                s->next = gs->scheds;
                gs->scheds = s;
                arm(s);
            } else {
                sl_schedule_free(parsed);
            }
        }
    }
    json_decref(rec);
    free(r);
    sl_inflight_drop(&gs->crawls);
}

/* Posts resched_task (held on gs->crawls until it has run, so that the
 * stop waits for it). */
static void resched(struct glue_state *gs, const char *account, const char *region,
                    const char *name)
{
    sl_inflight_hold(&gs->crawls);
    struct resched *r = sl_inflight_stopping(&gs->crawls) ? NULL : calloc(1, sizeof(*r));
    if (!r) {
        sl_inflight_drop(&gs->crawls);
        return;
    }
    r->gs = gs;
    snprintf(r->account, sizeof(r->account), "%s", account);
    snprintf(r->region, sizeof(r->region), "%s", region);
    snprintf(r->name, sizeof(r->name), "%s", name);
    if (sl_loop_post(gs->app->loop, resched_task, r)) {
        free(r);
        sl_inflight_drop(&gs->crawls);
    }
}

/* ---- runs ------------------------------------------------------------------------------------ */

struct run_end {
    struct glue_job *job;
    int64_t start_ms, end_ms;
    const char *status; /* NULL: the claim (READY to RUNNING) */
    const char *error;
    unsigned created, updated, deleted;
    bool claimed; /* the claim's outcome */
    json_t *rec;  /* the record after the claim */
};

static double median(json_t *times)
{
    size_t n = json_array_size(times);
    double v[RUNTIMES_KEPT];
    if (!n || n > RUNTIMES_KEPT)
        return 0;
    for (size_t i = 0; i < n; i++)
        v[i] = json_number_value(json_array_get(times, i));
    for (size_t i = 1; i < n; i++) /* (insertion sort of at most 20) */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int run_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct run_end *e = arg;
    struct glue_job *j = e->job;
    char pk[96];
    crawler_pk(j->account, j->region, pk, sizeof(pk));
    json_t *rec = NULL;
    int rc = glue_txn_get(t, GLUE_NS_CRAWLER, pk, j->name, &rec);
    if (rc)
        return rc == SL_ENOTFOUND ? 0 : rc;
    const char *state = json_string_value(json_object_get(rec, "State"));
    if (!e->status) {
        if (state && strcmp(state, "READY") != 0) {
            json_decref(rec);
            return 0;
        }
        json_object_set_new(rec, "State", json_string("RUNNING"));
        e->claimed = true;
    } else {
        double secs = (double)(e->end_ms - e->start_ms) / 1000.0;
        json_object_set_new(rec, "State", json_string("READY"));
        json_object_set_new(rec, "CrawlElapsedTime", json_integer(0));
        json_t *last = json_pack("{s:s, s:o, s:s, s:s, s:s}", "Status", e->status, "StartTime",
                                 glue_time(e->start_ms), "LogGroup", LOG_GROUP, "LogStream",
                                 j->name, "MessagePrefix", j->prefix);
        if (e->error)
            json_object_set_new(last, "ErrorMessage", json_string(e->error));
        json_object_set_new(rec, "LastCrawl", last);
        json_t *m = json_object_get(rec, "_Metrics");
        if (!json_is_object(m))
            json_object_set_new(rec, "_Metrics", m = json_object());
        json_t *times = json_object_get(m, "Runtimes");
        if (!json_is_array(times))
            json_object_set_new(m, "Runtimes", times = json_array());
        json_array_append_new(times, json_real(secs));
        while (json_array_size(times) > RUNTIMES_KEPT)
            json_array_remove(times, 0);
        json_object_set_new(m, "LastRuntimeSeconds", json_real(secs));
        json_object_set_new(m, "MedianRuntimeSeconds", json_real(median(times)));
        json_object_set_new(m, "TablesCreated", json_integer(e->created));
        json_object_set_new(m, "TablesUpdated", json_integer(e->updated));
        json_object_set_new(m, "TablesDeleted", json_integer(e->deleted));
    }
    rc = glue_txn_put(t, GLUE_NS_CRAWLER, pk, j->name, rec);
    if (!e->status && !rc)
        e->rec = rec;
    else
        json_decref(rec);
    return rc;
}

static void job_log(struct glue_crawl *cr, const char *msg)
{
    struct glue_job *j = cr->log_arg;
    struct sl_logs *logs = sl_app_state(j->gs->app, &sl_service_logs);
    char line[1200];
    int n = snprintf(line, sizeof(line), "[%s] %s", j->prefix, msg);
    if (logs && n > 0)
        sl_logs_sink(logs, j->account, j->region, LOG_GROUP, j->name, sl_time_now_ms(), line,
                     (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void job_unlink(struct glue_job *j)
{
    struct glue_state *gs = j->gs;
    pthread_mutex_lock(&gs->mu);
    for (struct glue_job **p = &gs->jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    pthread_mutex_unlock(&gs->mu);
}

static void *crawl_main(void *arg)
{
    struct glue_job *j = arg;
    struct glue_state *gs = j->gs;
    struct sl_err err = {0};
    struct run_end e = {.job = j, .start_ms = sl_time_now_ms()};
    int rc = 0;
    if (!j->claimed) {
        rc = sl_store_write(gs->app->store, run_txn, &e, &err);
        j->claimed = !rc && e.claimed;
    } else {
        char pk[96];
        crawler_pk(j->account, j->region, pk, sizeof(pk));
        rc = glue_read(gs->app->store, GLUE_NS_CRAWLER, pk, j->name, &e.rec);
        if (rc && rc != SL_ENOTFOUND) {
            /* (RUNNING is written: the run ends, or it would stay so.) */
            e.end_ms = sl_time_now_ms();
            e.status = "FAILED";
            e.error = "The crawler's record could not be read.";
            if (sl_store_write(gs->app->store, run_txn, &e, &err))
                sl_warn("glue", "crawler %s: its end could not be recorded", j->name);
        }
    }
    if (j->claimed && e.rec) {
        struct glue_crawl cr = {.app = gs->app,
                                .account = j->account,
                                .region = j->region,
                                .crawler = e.rec,
                                .stop = &j->stop,
                                .log = job_log,
                                .log_arg = j};
        job_log(&cr, "BENCHMARK : Running Start Crawl for Crawler");
        rc = glue_crawl_run(&cr);
        if (rc == SL_ECLOSED && atomic_load(&j->shutdown)) {
            /* (Sluice stops: RUNNING stays, and the next start runs it.) */
        } else {
            e.end_ms = sl_time_now_ms();
            e.status = rc == SL_ECLOSED ? "CANCELLED" : rc ? "FAILED" : "SUCCEEDED";
            e.error = rc && rc != SL_ECLOSED ? cr.error : NULL;
            e.created = cr.created;
            e.updated = cr.updated;
            e.deleted = cr.deleted;
            char msg[1400];
            snprintf(msg, sizeof(msg),
                     "Crawler %s: %s; tables created %u, updated %u, deleted %u%s%.512s",
                     e.status, j->name, cr.created, cr.updated, cr.deleted,
                     e.error ? ": " : "", e.error ? e.error : "");
            job_log(&cr, msg);
            json_decref(e.rec);
            e.rec = NULL;
            rc = sl_store_write(gs->app->store, run_txn, &e, &err);
            if (rc)
                sl_warn("glue", "crawler %s: its end could not be recorded: %s", j->name,
                        err.msg[0] ? err.msg : sl_strerror(rc));
        }
    }
    json_decref(e.rec);
    job_unlink(j);
    free(j);
    sl_inflight_drop(&gs->crawls);
    return NULL;
}

/* A run whose RUNNING is written but that cannot start (no thread): its
 * end is written FAILED, without waiting, from any thread. */
struct unrun {
    struct run_end e;
    struct sl_err err;
};

static void unrun_done(void *arg, int result)
{
    (void)result; /* (the record then stays RUNNING until the next start runs it) */
    struct unrun *u = arg;
    free(u->e.job);
    free(u);
}

static void end_unrun(struct glue_job *j)
{
    struct unrun *u = calloc(1, sizeof(*u));
    if (u) {
        int64_t now = sl_time_now_ms();
        u->e = (struct run_end){.job = j, .start_ms = now, .end_ms = now, .status = "FAILED",
                                .error = "The crawl could not be started."};
        if (!sl_store_submit(j->gs->app->store, run_txn, &u->e, &u->err, unrun_done, u))
            return;
    }
    free(u);
    free(j);
}

/* Runs the crawler on a thread of its own (claimed: its RUNNING is
 * written; else the thread claims it, and does nothing unless it was
 * READY). */
static void spawn(struct glue_state *gs, const char *account, const char *region,
                  const char *name, bool claimed)
{
    struct glue_job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    j->gs = gs;
    j->claimed = claimed;
    snprintf(j->account, sizeof(j->account), "%s", account);
    snprintf(j->region, sizeof(j->region), "%s", region);
    snprintf(j->name, sizeof(j->name), "%s", name);
    char uuid[40];
    sl_uuid(uuid);
    snprintf(j->prefix, sizeof(j->prefix), "%s", uuid);
    /* (Checked under mu, which the stop takes to flag every job: a job is
     * either refused here or flagged there.) */
    pthread_mutex_lock(&gs->mu);
    sl_inflight_hold(&gs->crawls);
    if (sl_inflight_stopping(&gs->crawls)) {
        pthread_mutex_unlock(&gs->mu);
        sl_inflight_drop(&gs->crawls);
        free(j);
        return;
    }
    j->next = gs->jobs;
    gs->jobs = j;
    pthread_mutex_unlock(&gs->mu);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, crawl_main, j)) {
        sl_warn("glue", "crawler %s: no thread to run it", name);
        job_unlink(j);
        if (claimed)
            end_unrun(j);
        else
            free(j);
        sl_inflight_drop(&gs->crawls);
    }
    pthread_attr_destroy(&attr);
}

/* Tells the crawler's run to stop: whether one was under way. */
static bool signal_stop(struct glue_state *gs, const char *account, const char *region,
                        const char *name)
{
    bool found = false;
    pthread_mutex_lock(&gs->mu);
    for (struct glue_job *j = gs->jobs; j; j = j->next)
        if (!strcmp(j->account, account) && !strcmp(j->region, region) &&
            !strcmp(j->name, name)) {
            atomic_store(&j->stop, true);
            found = true;
        }
    pthread_mutex_unlock(&gs->mu);
    return found;
}

/* ---- the API ------------------------------------------------------------------------------- */

static int after_schedule_change(struct sl_call *c)
{
    struct cwrite *w = c->state;
    resched(state_of(c->app), c->account, c->region, w->name);
    return sl_call_ok(c, json_object());
}

SL_OP(glue, CreateCrawler)
{
    struct cwrite *w = cwrite_new(c, CW_CREATE, "Name");
    if (!w)
        return SL_ENOMEM;
    if (w->fail)
        return SL_DONE;
    int64_t now = sl_time_now_ms();
    w->rec = json_pack("{s:s, s:s, s:i, s:o, s:o, s:i}", "Name", w->name, "State", "READY",
                       "CrawlElapsedTime", 0, "CreationTime", glue_time(now), "LastUpdated",
                       glue_time(now), "Version", 1);
    if (check_input(c))
        return SL_DONE;
    apply_input(c->in, w->rec, true);
    json_t *tags = json_object_get(c->in, "Tags");
    if (json_is_object(tags))
        json_object_set(w->rec, "_Tags", tags);
    w->then = after_schedule_change;
    return cwrite_run(c, w);
}

static int edit_update(struct cwrite *w)
{
    if (is_running(w->rec)) {
        snprintf(w->msg, sizeof(w->msg), "Crawler with name %.255s has already started",
                 w->name);
        return GLUE_E_CRAWLER_RUNNING;
    }
    apply_input(w->c->in, w->rec, false);
    json_object_set_new(w->rec, "LastUpdated", glue_time(sl_time_now_ms()));
    json_object_set_new(w->rec, "Version",
                        json_integer(json_integer_value(json_object_get(w->rec, "Version")) + 1));
    return 0;
}

SL_OP(glue, UpdateCrawler)
{
    struct cwrite *w = cwrite_new(c, CW_EDIT, "Name");
    if (!w)
        return SL_ENOMEM;
    if (w->fail)
        return SL_DONE;
    if (check_input(c))
        return SL_DONE;
    w->edit = edit_update;
    w->then = after_schedule_change;
    return cwrite_run(c, w);
}

static int edit_delete(struct cwrite *w)
{
    if (is_running(w->rec)) {
        snprintf(w->msg, sizeof(w->msg), "Crawler with name %.255s has already started",
                 w->name);
        return GLUE_E_CRAWLER_RUNNING;
    }
    return 0;
}

SL_OP(glue, DeleteCrawler)
{
    struct cwrite *w = cwrite_new(c, CW_DELETE, "Name");
    if (!w)
        return SL_ENOMEM;
    if (w->fail)
        return SL_DONE;
    w->edit = edit_delete;
    w->then = after_schedule_change;
    return cwrite_run(c, w);
}

SL_OP(glue, GetCrawler)
{
    char name[GLUE_NAME_MAX + 1], pk[96];
    if (crawler_name(c, "Name", name, sizeof(name)))
        return SL_DONE;
    crawler_pk(c->account, c->region, pk, sizeof(pk));
    json_t *rec = NULL;
    int rc = glue_read(c->app->store, GLUE_NS_CRAWLER, pk, name, &rec);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, GLUE_E_NOT_FOUND, "Crawler entry with name %.255s does not exist",
                            name);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *out = json_pack("{s:o}", "Crawler", public_of(rec));
    json_decref(rec);
    return sl_call_ok(c, out);
}

/* Whether the record carries every tag of the call's Tags filter. */
static bool tags_match(void *arg, json_t *rec)
{
    const json_t *want = arg;
    const json_t *have = json_object_get(rec, "_Tags");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v)
    {
        const json_t *h = json_object_get(have, k);
        if (!h || !json_equal(h, v))
            return false;
    }
    return true;
}

/* Answers a page of the crawlers keep (may be NULL) takes, each as view
 * shows it, in the list member. */
static int crawler_page(struct sl_call *c, bool (*keep)(void *arg, json_t *rec), void *arg,
                        json_t *(*view)(const json_t *rec), const char *member)
{
    char pk[96];
    crawler_pk(c->account, c->region, pk, sizeof(pk));
    json_t *list = json_array(), *out = json_object();
    if (glue_page(c, GLUE_NS_CRAWLER, pk, keep, arg, list, out)) {
        json_decref(list);
        json_decref(out);
        return SL_DONE;
    }
    json_t *shown = json_array(), *rec;
    size_t i;
    json_array_foreach(list, i, rec) json_array_append_new(shown, view(rec));
    json_decref(list);
    json_object_set_new(out, member, shown);
    return sl_call_ok(c, out);
}

static json_t *name_of(const json_t *rec)
{
    return json_incref(json_object_get(rec, "Name"));
}

SL_OP(glue, GetCrawlers)
{
    return crawler_page(c, NULL, NULL, public_of, "Crawlers");
}

SL_OP(glue, ListCrawlers)
{
    json_t *tags = json_object_get(c->in, "Tags");
    return crawler_page(c, json_object_size(tags) ? tags_match : NULL, tags, name_of,
                        "CrawlerNames");
}

SL_OP(glue, BatchGetCrawlers)
{
    char pk[96];
    crawler_pk(c->account, c->region, pk, sizeof(pk));
    json_t *found = json_array(), *missing = json_array(), *v;
    size_t i;
    json_array_foreach(json_object_get(c->in, "CrawlerNames"), i, v)
    {
        json_t *rec = NULL;
        const char *name = json_string_value(v);
        int rc = name ? glue_read(c->app->store, GLUE_NS_CRAWLER, pk, name, &rec) : SL_ENOTFOUND;
        if (rc == SL_ENOTFOUND) {
            json_array_append(missing, v);
        } else if (rc) {
            json_decref(found);
            json_decref(missing);
            return sl_call_internal(c, rc, NULL);
        } else {
            json_array_append_new(found, public_of(rec));
            json_decref(rec);
        }
    }
    return sl_call_ok(c, json_pack("{s:o, s:o}", "Crawlers", found, "CrawlersNotFound", missing));
}

/* What GetCrawlerMetrics answers of a record. */
static json_t *metrics_of(const json_t *rec)
{
    const json_t *m = json_object_get(rec, "_Metrics");
    return json_pack("{s:O, s:f, s:b, s:f, s:f, s:I, s:I, s:I}", "CrawlerName",
                     json_object_get(rec, "Name"), "TimeLeftSeconds", 0.0, "StillEstimating",
                     is_running(rec), "LastRuntimeSeconds",
                     json_number_value(json_object_get(m, "LastRuntimeSeconds")),
                     "MedianRuntimeSeconds",
                     json_number_value(json_object_get(m, "MedianRuntimeSeconds")),
                     "TablesCreated", json_integer_value(json_object_get(m, "TablesCreated")),
                     "TablesUpdated", json_integer_value(json_object_get(m, "TablesUpdated")),
                     "TablesDeleted", json_integer_value(json_object_get(m, "TablesDeleted")));
}

static bool named_in(void *arg, json_t *rec)
{
    const json_t *names = arg, *v;
    size_t i;
    const char *name = json_string_value(json_object_get(rec, "Name"));
    json_array_foreach(names, i, v) if (name && json_string_value(v) &&
                                        !strcmp(json_string_value(v), name)) return true;
    return false;
}

SL_OP(glue, GetCrawlerMetrics)
{
    json_t *names = json_object_get(c->in, "CrawlerNameList");
    return crawler_page(c, json_array_size(names) ? named_in : NULL, names, metrics_of,
                        "CrawlerMetricsList");
}

static int edit_start(struct cwrite *w)
{
    if (is_running(w->rec)) {
        snprintf(w->msg, sizeof(w->msg), "Crawler with name %.255s has already started",
                 w->name);
        return GLUE_E_CRAWLER_RUNNING;
    }
    json_object_set_new(w->rec, "State", json_string("RUNNING"));
    return 0;
}

static int started(struct sl_call *c)
{
    struct cwrite *w = c->state;
    spawn(state_of(c->app), c->account, c->region, w->name, true);
    return sl_call_ok(c, json_object());
}

SL_OP(glue, StartCrawler)
{
    struct cwrite *w = cwrite_new(c, CW_EDIT, "Name");
    if (!w)
        return SL_ENOMEM;
    if (w->fail)
        return SL_DONE;
    w->edit = edit_start;
    w->then = started;
    return cwrite_run(c, w);
}

static int edit_stop(struct cwrite *w)
{
    const char *s = json_string_value(json_object_get(w->rec, "State"));
    if (s && !strcmp(s, "STOPPING")) {
        snprintf(w->msg, sizeof(w->msg), "Crawler with name %.255s is stopping", w->name);
        return GLUE_E_CRAWLER_STOPPING;
    }
    if (!is_running(w->rec)) {
        snprintf(w->msg, sizeof(w->msg), "Crawler with name %.255s isn't running", w->name);
        return GLUE_E_CRAWLER_NOT_RUNNING;
    }
    json_object_set_new(w->rec, "State", json_string("STOPPING"));
    return 0;
}

static int stopped(struct sl_call *c)
{
    struct cwrite *w = c->state;
    signal_stop(state_of(c->app), c->account, c->region, w->name);
    return sl_call_ok(c, json_object());
}

SL_OP(glue, StopCrawler)
{
    struct cwrite *w = cwrite_new(c, CW_EDIT, "Name");
    if (!w)
        return SL_ENOMEM;
    if (w->fail)
        return SL_DONE;
    w->edit = edit_stop;
    w->then = stopped;
    return cwrite_run(c, w);
}

static int edit_schedule(struct cwrite *w)
{
    json_t *sch = json_object_get(w->rec, "Schedule");
    const char *state = json_string_value(json_object_get(sch, "State"));
    const char *op = w->c->op->name;
    if (!strcmp(op, "UpdateCrawlerSchedule")) {
        const char *expr = json_string_value(json_object_get(w->c->in, "Schedule"));
        if (!expr || !*expr) {
            json_object_del(w->rec, "Schedule");
        } else {
            json_object_set_new(w->rec, "Schedule",
                                json_pack("{s:s, s:s}", "ScheduleExpression", expr, "State",
                                          state ? state : "SCHEDULED"));
        }
    } else if (!json_object_get(sch, "ScheduleExpression")) {
        snprintf(w->msg, sizeof(w->msg), "Crawler with name %.255s does not have a schedule",
                 w->name);
        return GLUE_E_NO_SCHEDULE;
    } else if (!strcmp(op, "StartCrawlerSchedule")) {
        if (state && !strcmp(state, "SCHEDULED")) {
            snprintf(w->msg, sizeof(w->msg), "Crawler schedule for %.255s is already scheduled",
                     w->name);
            return GLUE_E_SCHEDULER_RUNNING;
        }
        json_object_set_new(sch, "State", json_string("SCHEDULED"));
    } else {
        if (!state || strcmp(state, "SCHEDULED") != 0) {
            snprintf(w->msg, sizeof(w->msg), "Crawler schedule for %.255s is not scheduled",
                     w->name);
            return GLUE_E_SCHEDULER_NOT_RUNNING;
        }
        json_object_set_new(sch, "State", json_string("NOT_SCHEDULED"));
    }
    json_object_set_new(w->rec, "LastUpdated", glue_time(sl_time_now_ms()));
    return 0;
}

static int schedule_op(struct sl_call *c)
{
    struct cwrite *w = cwrite_new(c, CW_EDIT, "CrawlerName");
    if (!w)
        return SL_ENOMEM;
    if (w->fail)
        return SL_DONE;
    const char *expr = json_string_value(json_object_get(c->in, "Schedule"));
    if (!strcmp(c->op->name, "UpdateCrawlerSchedule") && expr && *expr &&
        check_schedule(c, expr))
        return SL_DONE;
    w->edit = edit_schedule;
    w->then = after_schedule_change;
    return cwrite_run(c, w);
}

SL_OP(glue, UpdateCrawlerSchedule)
{
    return schedule_op(c);
}

SL_OP(glue, StartCrawlerSchedule)
{
    return schedule_op(c);
}

SL_OP(glue, StopCrawlerSchedule)
{
    return schedule_op(c);
}

/* ---- the service's life ------------------------------------------------------------------- */

/* At start: crawls Sluice's stop interrupted run again, those stopping
 * end CANCELLED (their thread claims them from READY), and schedules are
 * armed. On the loop. */
static void resume_task(struct sl_loop *l, void *arg)
{
    (void)l;
    struct glue_state *gs = arg;
    char **pks = NULL;
    size_t npk = 0;
    if (sl_kv_list_pks(gs->app->store, GLUE_NS_CRAWLER, &pks, &npk))
        return;
    for (size_t p = 0; p < npk; p++) {
        struct sl_item *items = NULL;
        size_t n = 0;
        char account[16] = "", region[64] = "";
        const char *slash = strchr(pks[p], '/');
        if (slash && (size_t)(slash - pks[p]) < sizeof(account)) {
            memcpy(account, pks[p], (size_t)(slash - pks[p]));
            snprintf(region, sizeof(region), "%s", slash + 1);
        }
        if (*account && !sl_kv_list(gs->app->store, GLUE_NS_CRAWLER, pks[p], NULL, NULL,
                                    SIZE_MAX, &items, &n)) {
            for (size_t i = 0; i < n; i++) {
                json_t *rec = json_loadb(items[i].val, items[i].val_len, 0, NULL);
                const char *state = json_string_value(json_object_get(rec, "State"));
                if (state && !strcmp(state, "RUNNING")) {
                    spawn(gs, account, region, items[i].sk, true);
                } else if (state && !strcmp(state, "STOPPING")) {
                    /* (Its run stops at once and records CANCELLED.) */
                    spawn(gs, account, region, items[i].sk, true);
                    signal_stop(gs, account, region, items[i].sk);
                }
                if (json_object_get(rec, "Schedule"))
                    resched(gs, account, region, items[i].sk);
                json_decref(rec);
                sl_item_free(&items[i]);
            }
            free(items);
        }
        free(pks[p]);
    }
    free(pks);
}

int glue_crawlers_start(struct glue_state *gs)
{
    return sl_loop_post(gs->app->loop, resume_task, gs);
}

static void drop_scheds(struct sl_loop *l, void *arg)
{
    (void)l;
    struct glue_state *gs = arg;
    while (gs->scheds) {
        struct glue_sched *s = gs->scheds;
        gs->scheds = s->next;
        sched_free(s);
    }
}

void glue_crawlers_stop(struct glue_state *gs)
{
    pthread_mutex_lock(&gs->mu);
    sl_inflight_stop(&gs->crawls);
    for (struct glue_job *j = gs->jobs; j; j = j->next) {
        atomic_store(&j->shutdown, true);
        atomic_store(&j->stop, true);
    }
    pthread_mutex_unlock(&gs->mu);
    sl_inflight_wait(&gs->crawls);
    sl_loop_call(gs->app->loop, drop_scheds, gs);
}
