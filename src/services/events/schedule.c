/*
 * Rules with a ScheduleExpression (default buses only, UTC): the loop
 * keeps each enabled one's next fire time and sleeps on one timer until
 * the earliest; when it fires, a transaction reads the rule again (still
 * there, enabled, the same expression) and delivers AWS's "Scheduled
 * Event" to its targets. The list is read again after each change of the
 * rules (posted once the change is durable). A rate() counts from the
 * rule's creation, as AWS's do. A fire missed while Sluice was down is
 * not made up (the Scheduler's flexible windows are another service's).
 */
#include "services/events/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/schedule.h"

struct entry {
    char pk[400], name[80], expr[SL_SCHEDULE_EXPR_MAX + 1];
    struct sl_schedule *s;
    int64_t anchor_ms, next_ms;
};

struct ev_sched {
    struct ev *st;
    struct sl_inflight inflight;
    /* Loop thread only: */
    struct entry *v;
    size_t n;
    struct sl_timer *timer;
};

/* One fire, in its transaction. */
struct fire {
    struct ev_sched *sc;
    struct entry e; /* (a copy: its schedule is not used) */
    int64_t at_ms;
    struct sl_err err;
};

int ev_sched_check(const char *expr, struct sl_err *err)
{
    struct sl_schedule *s = NULL;
    int rc = sl_schedule_parse(expr, NULL, SL_SCHEDULE_RULE, &s, err);
    sl_schedule_free(s);
    return rc;
}

static void clear(struct ev_sched *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        sl_schedule_free(sc->v[i].s);
    free(sc->v);
    sc->v = NULL;
    sc->n = 0;
}

static void arm(struct ev_sched *sc);

static int fire_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct fire *f = arg;
    struct sl_item it;
    int rc = sl_txn_get(t, EV_NS_RULE, f->e.pk, f->e.name, &it);
    if (rc)
        return rc == SL_ENOTFOUND ? 0 : rc;
    json_t *rule = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    const char *state = json_string_value(json_object_get(rule, "State"));
    const char *expr = json_string_value(json_object_get(rule, "ScheduleExpression"));
    const char *arn = json_string_value(json_object_get(rule, "Arn"));
    if (!state || strcmp(state, "ENABLED") != 0 || !expr || strcmp(expr, f->e.expr) != 0 ||
        !arn) {
        json_decref(rule);
        return 0; /* (changed meanwhile: the reload will see it) */
    }
    /* pk is "<account>/<region>/default". */
    char account[16] = "", region[64] = "";
    const char *slash = strchr(f->e.pk, '/');
    const char *slash2 = slash ? strchr(slash + 1, '/') : NULL;
    if (slash && slash2 && (size_t)(slash - f->e.pk) < sizeof(account) &&
        (size_t)(slash2 - slash - 1) < sizeof(region)) {
        memcpy(account, f->e.pk, (size_t)(slash - f->e.pk));
        account[slash - f->e.pk] = '\0';
        memcpy(region, slash + 1, (size_t)(slash2 - slash - 1));
        region[slash2 - slash - 1] = '\0';
    }
    struct ev_bus_ref b;
    ev_bus_ref_make(&b, account, region, "default");
    char id[40], time[40];
    sl_uuid(id);
    sl_time_iso8601_s(f->at_ms, time, sizeof(time));
    json_t *event = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:{}}", "version", "0",
                              "id", id, "detail-type", "Scheduled Event", "source", "aws.events",
                              "account", account, "time", time, "region", region, "resources",
                              arn, "detail");
    rc = event ? ev_rule_deliver_txn(t, f->sc->st, &b, f->e.name, event) : SL_ENOMEM;
    json_decref(event);
    json_decref(rule);
    return rc;
}

static void fired(void *arg, int result)
{
    struct fire *f = arg;
    if (result)
        sl_log(SL_LOG_WARN, "events", "schedule of rule %s: delivery failed: %s", f->e.name,
               f->err.msg[0] ? f->err.msg : sl_strerror(result));
    struct ev_sched *sc = f->sc;
    free(f);
    sl_inflight_drop(&sc->inflight);
}

/* Loop thread: fires what is due, then sleeps until the next. */
static void on_timer(struct sl_loop *l, void *arg)
{
    (void)l;
    struct ev_sched *sc = arg;
    sc->timer = NULL;
    int64_t now = sl_time_now_ms();
    for (size_t i = 0; i < sc->n; i++) {
        struct entry *e = &sc->v[i];
        if (e->next_ms < 0 || e->next_ms > now)
            continue;
        struct fire *f = calloc(1, sizeof(*f));
        if (f) {
            f->sc = sc;
            f->e = *e;
            f->e.s = NULL;
            f->at_ms = e->next_ms;
            sl_inflight_hold(&sc->inflight);
            if (sl_store_submit(sc->st->app->store, fire_txn, f, &f->err, fired, f)) {
                free(f);
                sl_inflight_drop(&sc->inflight);
            }
        }
        e->next_ms = sl_schedule_next(e->s, e->anchor_ms, now);
    }
    arm(sc);
}

static void arm(struct ev_sched *sc)
{
    if (sc->timer) {
        sl_loop_timer_cancel(sc->st->app->loop, sc->timer);
        sc->timer = NULL;
    }
    int64_t first = -1;
    for (size_t i = 0; i < sc->n; i++)
        if (sc->v[i].next_ms >= 0 && (first < 0 || sc->v[i].next_ms < first))
            first = sc->v[i].next_ms;
    if (first >= 0)
        sc->timer = sl_loop_timer(sc->st->app->loop,
                                  sl_loop_now_ms() + (first - sl_time_now_ms()), on_timer, sc);
}

/* Loop thread: the scheduled rules, read again. */
static void reload(struct sl_loop *l, void *arg)
{
    (void)l;
    struct ev_sched *sc = arg;
    if (sl_inflight_stopping(&sc->inflight)) {
        sl_inflight_drop(&sc->inflight);
        return;
    }
    clear(sc);
    char **pks = NULL;
    size_t npks = 0;
    int rc = sl_kv_list_pks(sc->st->app->store, EV_NS_RULE, &pks, &npks);
    int64_t now = sl_time_now_ms();
    for (size_t p = 0; p < npks; p++) {
        size_t len = strlen(pks[p]);
        struct sl_item *items = NULL;
        size_t n = 0;
        if (!rc && len > 8 && strcmp(pks[p] + len - 8, "/default") == 0 &&
            sl_kv_list(sc->st->app->store, EV_NS_RULE, pks[p], NULL, NULL, SIZE_MAX, &items,
                       &n) == 0) {
            for (size_t i = 0; i < n; i++) {
                json_t *r = json_loadb(items[i].val, items[i].val_len, 0, NULL);
                const char *expr = json_string_value(json_object_get(r, "ScheduleExpression"));
                const char *state = json_string_value(json_object_get(r, "State"));
                struct sl_schedule *s = NULL;
                struct sl_err err = {0};
                struct entry *grown = expr && state && strcmp(state, "ENABLED") == 0 &&
                                              strlen(expr) <= SL_SCHEDULE_EXPR_MAX &&
                                              strlen(items[i].sk) < sizeof(grown->name) &&
                                              sl_schedule_parse(expr, NULL, SL_SCHEDULE_RULE, &s,
                                                                &err) == 0
                                          ? realloc(sc->v, (sc->n + 1) * sizeof(*sc->v))
                                          : NULL;
                if (grown) {
                    sc->v = grown;
                    struct entry *e = &sc->v[sc->n++];
                    memset(e, 0, sizeof(*e));
                    sl_strlcpy(e->pk, pks[p], sizeof(e->pk));
                    sl_strlcpy(e->name, items[i].sk, sizeof(e->name));
                    sl_strlcpy(e->expr, expr, sizeof(e->expr));
                    e->s = s;
                    e->anchor_ms = json_integer_value(json_object_get(r, "_created_ms"));
                    e->next_ms = sl_schedule_next(s, e->anchor_ms, now);
                } else {
                    sl_schedule_free(s);
                }
                json_decref(r);
                sl_item_free(&items[i]);
            }
            free(items);
        }
        free(pks[p]);
    }
    free(pks);
    arm(sc);
    sl_inflight_drop(&sc->inflight);
}

void ev_sched_reload(struct ev *st)
{
    struct ev_sched *sc = st->sched;
    if (!sc || sl_inflight_stopping(&sc->inflight))
        return;
    sl_inflight_hold(&sc->inflight);
    if (sl_loop_post(st->app->loop, reload, sc))
        sl_inflight_drop(&sc->inflight);
}

int ev_sched_new(struct ev *st)
{
    struct ev_sched *sc = calloc(1, sizeof(*sc));
    if (!sc)
        return SL_ENOMEM;
    sc->st = st;
    sl_inflight_init(&sc->inflight);
    st->sched = sc;
    return 0;
}

int ev_sched_start(struct ev *st)
{
    ev_sched_reload(st);
    return 0;
}

static void stop_timer(struct sl_loop *l, void *arg)
{
    struct ev_sched *sc = arg;
    if (sc->timer)
        sl_loop_timer_cancel(l, sc->timer);
    sc->timer = NULL;
}

void ev_sched_stop(struct ev *st)
{
    struct ev_sched *sc = st->sched;
    if (!sc || sl_inflight_stop(&sc->inflight))
        return;
    sl_loop_call(st->app->loop, stop_timer, sc);
    sl_inflight_wait(&sc->inflight);
}

void ev_sched_free(struct ev *st)
{
    struct ev_sched *sc = st->sched;
    if (!sc)
        return;
    clear(sc);
    sl_inflight_destroy(&sc->inflight);
    free(sc);
    st->sched = NULL;
}
