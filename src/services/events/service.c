/*
 * EventBridge's row of the service table, and what its operations share:
 * buses' places, counts per rule, and buses as targets (engine/targets.h)
 * of other buses' rules, Lambda destinations and S3's EventBridge
 * notifications: a delivery is the routing of the event on that bus
 * inside the deliverer's transaction.
 */
#include "services/events/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct sl_aws_error errors[] = {EV_ERRORS(SL_ERROR_ROW)};

void ev_bus_ref_make(struct ev_bus_ref *out, const char *account, const char *region,
                     const char *name)
{
    memset(out, 0, sizeof(*out));
    sl_strlcpy(out->account, account, sizeof(out->account));
    sl_strlcpy(out->region, region, sizeof(out->region));
    sl_strlcpy(out->name, name, sizeof(out->name));
    snprintf(out->pk, sizeof(out->pk), "%s/%s", out->account, out->region);
    snprintf(out->rules, sizeof(out->rules), "%s/%s", out->pk, out->name);
    snprintf(out->arn, sizeof(out->arn), "arn:aws:events:%s:%s:event-bus/%s", out->region,
             out->account, out->name);
}

bool ev_bus_ref_parse(const char *s, const char *account, const char *region,
                      struct ev_bus_ref *out)
{
    static const char prefix[] = "arn:aws:events:";
    if (!s || !*s)
        s = "default";
    if (strncmp(s, prefix, sizeof(prefix) - 1) == 0) {
        const char *r = s + sizeof(prefix) - 1;
        const char *a = strchr(r, ':');
        const char *n = a ? strchr(a + 1, ':') : NULL;
        if (!a || !n || strncmp(n + 1, "event-bus/", 10) != 0 || !n[11] ||
            (size_t)(a - r) >= sizeof(out->region) || (size_t)(n - a - 1) >= sizeof(out->account))
            return false;
        char rg[64], ac[16];
        memcpy(rg, r, (size_t)(a - r));
        rg[a - r] = '\0';
        memcpy(ac, a + 1, (size_t)(n - a - 1));
        ac[n - a - 1] = '\0';
        if (strlen(n + 11) >= sizeof(out->name) || strchr(n + 11, '/'))
            return false;
        ev_bus_ref_make(out, ac, rg, n + 11);
        return true;
    }
    size_t len = strlen(s);
    if (len >= sizeof(out->name) || strchr(s, '/') || strchr(s, ':'))
        return false;
    ev_bus_ref_make(out, account, region, s);
    return true;
}

int ev_bus_exists(struct sl_store *s, const struct ev_bus_ref *b)
{
    if (strcmp(b->name, "default") == 0)
        return 0;
    struct sl_item it;
    int rc = sl_kv_get(s, EV_NS_BUS, b->pk, b->name, &it);
    if (!rc)
        sl_item_free(&it);
    return rc;
}

int ev_bus_exists_txn(struct sl_txn *t, const struct ev_bus_ref *b)
{
    if (strcmp(b->name, "default") == 0)
        return 0;
    return sl_txn_exists(t, EV_NS_BUS, b->pk, b->name);
}

void ev_rule_arn(const struct ev_bus_ref *b, const char *name, char *out, size_t n)
{
    if (strcmp(b->name, "default") == 0)
        snprintf(out, n, "arn:aws:events:%s:%s:rule/%s", b->region, b->account, name);
    else
        snprintf(out, n, "arn:aws:events:%s:%s:rule/%s/%s", b->region, b->account, b->name,
                 name);
}

void ev_targets_pk(const struct ev_bus_ref *b, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", b->rules, name);
}

/* ---- counts ----------------------------------------------------------------- */

struct ev_count *ev_count_of(struct ev *st, const char *arn)
{
    pthread_mutex_lock(&st->mu);
    struct ev_count *k = st->counts;
    while (k && strcmp(k->arn, arn) != 0)
        k = k->next;
    if (!k && (k = calloc(1, sizeof(*k))) != NULL) {
        sl_strlcpy(k->arn, arn, sizeof(k->arn));
        k->next = st->counts;
        st->counts = k;
    }
    pthread_mutex_unlock(&st->mu);
    return k;
}

static void ev_metrics(void *state, struct sl_buf *out)
{
    struct ev *st = state;
    static const char *const names[] = {"matched_events", "invocations", "failed_invocations"};
    static const char *const help[] = {
        "Events a rule matched (or a schedule fired).",
        "Deliveries of a rule's events to its targets.",
        "Deliveries to a rule's targets that found the target gone.",
    };
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < 3; i++) {
        sl_buf_printf(out,
                      "# HELP sluice_events_rule_%s_total %s\n"
                      "# TYPE sluice_events_rule_%s_total counter\n",
                      names[i], help[i], names[i]);
        for (struct ev_count *k = st->counts; k; k = k->next) {
            uint64_t v = i == 0   ? atomic_load(&k->matched)
                         : i == 1 ? atomic_load(&k->invocations)
                                  : atomic_load(&k->failed);
            sl_buf_printf(out, "sluice_events_rule_%s_total{rule=\"%s\"} %llu\n", names[i],
                          k->arn, (unsigned long long)v);
        }
    }
    pthread_mutex_unlock(&st->mu);
}

/* ---- buses as targets -------------------------------------------------------- */

static int target_check(void *ctx, const char *arn, const char *principal,
                        const char *source_arn, const char *source_account)
{
    (void)principal;
    (void)source_arn;
    (void)source_account;
    struct ev *st = ctx;
    struct ev_bus_ref b;
    if (strncmp(arn ? arn : "", "arn:aws:events:", 15) != 0 || !ev_bus_ref_parse(arn, "", "", &b))
        return SL_EINVAL;
    return ev_bus_exists(st->app->store, &b);
}

/* A payload for a bus: an event (from another bus's rule), or, from a
 * service that sends what it has (a Lambda destination's record), that
 * wrapped as an event's detail. */
static int target_deliver(void *ctx, struct sl_txn *t, const char *arn, const char *payload,
                          size_t len, const struct sl_target_source *src)
{
    struct ev *st = ctx;
    struct ev_bus_ref b;
    if (!ev_bus_ref_parse(arn, "", "", &b))
        return 0;
    int rc = ev_bus_exists_txn(t, &b);
    if (rc == SL_ENOTFOUND) {
        sl_warn("events", "%s: no event bus to deliver to; event dropped", arn);
        if (src && src->missing)
            *src->missing = 1;
        return 0;
    }
    if (rc)
        return rc;
    json_t *event = json_loadb(payload, len, 0, NULL);
    /* (How far it has come travels beside it, never in it.) */
    int depth = src ? src->depth + 1 : 1;
    int own = EV_DELIVERIES_MAX, *budget = src && src->budget ? src->budget : &own;
    if (depth > EV_DEPTH_MAX || *budget <= 0) {
        sl_warn("events", "%s: an event went through %d buses (or caused %d deliveries); "
                          "dropped",
                arn, depth - 1, EV_DELIVERIES_MAX);
        json_decref(event);
        return 0;
    }
    if (!(json_is_object(event) && json_object_get(event, "detail-type") &&
          json_object_get(event, "source"))) {
        json_t *detail = json_is_object(event) ? event : json_pack("{s:s%}", "message",
                                                                   payload, len);
        if (detail != event)
            json_decref(event); /* (an array: kept as text in the detail) */
        const char *cond = json_string_value(
            json_object_get(json_object_get(detail, "requestContext"), "condition"));
        bool ok = !cond || strcmp(cond, "Success") == 0;
        char id[40], time[40];
        sl_uuid(id);
        sl_time_iso8601_s(sl_time_now_ms(), time, sizeof(time));
        event = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[], s:o}", "version", "0", "id",
                          id, "detail-type",
                          ok ? "Lambda Function Invocation Result - Success"
                             : "Lambda Function Invocation Result - Failure",
                          "source", "lambda", "account", b.account, "time", time, "region",
                          b.region, "resources", "detail", detail ? detail : json_object());
        if (src && src->source_arn)
            json_array_append_new(json_object_get(event, "resources"),
                                  json_string(src->source_arn));
    }
    rc = event ? ev_route_txn(t, st, &b, event, depth, budget) : 0;
    json_decref(event);
    return rc;
}

static const struct sl_target_kind targets[] = {
    {"events", target_check, target_deliver},
    {NULL, NULL, NULL},
};

/* ---- the row ---------------------------------------------------------------- */

static int ev_new(struct sl_app *app, void **state, struct sl_err *err)
{
    struct ev *st = calloc(1, sizeof(*st));
    if (!st)
        return SL_ENOMEM;
    st->app = app;
    pthread_mutex_init(&st->mu, NULL);
    int rc = ev_sched_new(st);
    if (rc) {
        pthread_mutex_destroy(&st->mu);
        free(st);
        return sl_errf(err, rc, "events: cannot start: %s", sl_strerror(rc));
    }
    *state = st;
    return 0;
}

static int ev_start(void *state, struct sl_err *err)
{
    int rc = ev_sched_start(state);
    return rc ? sl_errf(err, rc, "events: cannot start schedules: %s", sl_strerror(rc)) : 0;
}

static void ev_stop(void *state)
{
    ev_sched_stop(state);
}

void ev_sets_free(struct ev *st);

static void ev_free(void *state)
{
    struct ev *st = state;
    if (!st)
        return;
    ev_sched_free(st);
    ev_sets_free(st);
    while (st->counts) {
        struct ev_count *k = st->counts;
        st->counts = k->next;
        free(k);
    }
    pthread_mutex_destroy(&st->mu);
    free(st);
}

SL_SERVICE_TABLES(events);

const struct sl_service sl_service_events = {
    .name = "events",
    .model = &sl_model_events,
    .handlers = sl_events_handlers,
    .errors = errors,
    .e_internal = EV_E_INTERNAL,
    .e_validation = EV_E_VALIDATION,
    .e_serialization = EV_E_SERIALIZATION,
    .e_too_big = EV_E_VALIDATION,
    .body_cap = 1024 * 1024,
    .new = ev_new,
    .start = ev_start,
    .stop = ev_stop,
    .free = ev_free,
    .targets = targets,
    .metrics = ev_metrics,
};
