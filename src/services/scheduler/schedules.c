/*
 * Schedules: CreateSchedule, UpdateSchedule (which, as AWS's, replaces
 * every member: what it leaves out takes its default), GetSchedule,
 * DeleteSchedule and ListSchedules. A schedule's input is checked as AWS
 * checks it (its expression and zone, the flexible window, the dates of a
 * recurring schedule, the target) and each change is one transaction,
 * after which the runner reads the schedules again.
 */
#include "services/scheduler/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX 100
#define LIST_PAGE 100
/* How far in the past a recurring schedule's StartDate may be. */
#define START_SLACK_MS (5 * 60 * 1000)

static const char *in_str(const json_t *o, const char *member)
{
    return json_string_value(json_object_get(o, member));
}

/* ---- a schedule's input ---------------------------------------------------------- */

/* The service field of an ARN ("lambda"), in out; "" when it is not one. */
static void arn_service(const char *arn, char *out, size_t n)
{
    out[0] = '\0';
    if (!arn || strncmp(arn, "arn:", 4) != 0)
        return;
    const char *p = strchr(arn + 4, ':');
    const char *end = p ? strchr(p + 1, ':') : NULL;
    if (end && (size_t)(end - p - 1) < n) {
        memcpy(out, p + 1, (size_t)(end - p - 1));
        out[end - p - 1] = '\0';
    }
}

/* Why target cannot be a schedule's (NULL: it can). A target that does
 * not exist (yet) is taken, as AWS takes it: its invocations fail. */
static const char *target_problem(struct sl_call *c, const json_t *target, char *buf, size_t n)
{
    const char *arn = in_str(target, "Arn");
    char service[32];
    arn_service(arn, service, sizeof(service));
    int rc = sl_target_check(c->app->targets, arn, NULL, NULL, NULL);
    /* (Services deliver to standard queues; a schedule may name a FIFO
     * queue with a message group.) */
    if (rc == SL_EINVAL && strcmp(service, "sqs") == 0 && sl_str_ends_with(arn, ".fifo")) {
        if (!in_str(json_object_get(target, "SqsParameters"), "MessageGroupId"))
            return "Target SqsParameters with a MessageGroupId is required for a FIFO queue.";
        rc = 0;
    }
    if (rc == SL_EINVAL || rc == SL_ENOTSUP) {
        snprintf(buf, n, "Invalid Target Arn %s: Sluice delivers to functions, queues, topics, "
                         "event buses, streams and state machines.",
                 arn);
        return buf;
    }
    /* Templated Lambda, Step Functions and EventBridge targets take JSON. */
    const char *input = in_str(target, "Input");
    bool bus = strcmp(service, "events") == 0;
    if (input && (bus || strcmp(service, "lambda") == 0 || strcmp(service, "states") == 0)) {
        json_t *v = json_loads(input, JSON_DECODE_ANY, NULL);
        bool ok = v && (!bus || json_is_object(v));
        json_decref(v);
        if (!ok)
            return bus ? "Target Input must be a JSON object for an EventBridge target."
                       : "Target Input must be well-formed JSON for this target.";
    }
    if (bus && !json_object_get(target, "EventBridgeParameters"))
        return "Target EventBridgeParameters (DetailType and Source) are required for an "
               "EventBridge target.";
    return NULL;
}

/* The record of the call's schedule, from its input, into w (w->r,
 * w->rec): 0, or answers. */
static int schedule_input(struct sl_call *c, struct sch_change *w)
{
    const json_t *in = c->in;
    const char *name = in_str(in, "Name"), *group = in_str(in, "GroupName");
    if (!sch_ref_make(&w->r, c->account, c->region, group, name) || !w->r.name[0])
        return sl_call_fail(c, SCH_E_VALIDATION, "Invalid schedule name %s in group %s.",
                            name ? name : "", group ? group : SCH_DEFAULT_GROUP);
    const char *expr = in_str(in, "ScheduleExpression");
    const char *tz = in_str(in, "ScheduleExpressionTimezone");
    struct sl_schedule *s = NULL;
    struct sl_err err = {0};
    if (sl_schedule_parse(expr, NULL, SL_SCHEDULE_SCHEDULER, &s, &err))
        return sl_call_fail(c, SCH_E_VALIDATION, "Invalid Schedule Expression %s.",
                            expr ? expr : "");
    bool once = sl_schedule_kind(s) == SL_SCHEDULE_AT;
    sl_schedule_free(s);
    struct sl_tz *zone = NULL;
    if (tz && sl_tz_load(NULL, tz, &zone, &err))
        return sl_call_fail(c, SCH_E_VALIDATION, "Invalid Schedule Expression Timezone %s.", tz);
    sl_tz_free(zone);
    const json_t *fw = json_object_get(in, "FlexibleTimeWindow");
    const char *mode = in_str(fw, "Mode");
    bool flexible = mode && strcmp(mode, "FLEXIBLE") == 0;
    bool window = json_object_get(fw, "MaximumWindowInMinutes") != NULL;
    if (flexible != window)
        return sl_call_fail(c, SCH_E_VALIDATION,
                            flexible ? "MaximumWindowInMinutes is required when the "
                                       "FlexibleTimeWindow Mode is FLEXIBLE."
                                     : "MaximumWindowInMinutes is not allowed when the "
                                       "FlexibleTimeWindow Mode is OFF.");
    int64_t start, end, now = sl_time_now_ms();
    if (sch_date_ms(json_object_get(in, "StartDate"), &start))
        return sl_call_fail(c, SCH_E_VALIDATION, "Invalid StartDate.");
    if (sch_date_ms(json_object_get(in, "EndDate"), &end))
        return sl_call_fail(c, SCH_E_VALIDATION, "Invalid EndDate.");
    /* (The Scheduler ignores both dates for a one-time schedule.) */
    if (!once && start >= 0 && start < now - START_SLACK_MS)
        return sl_call_fail(c, SCH_E_VALIDATION, "The StartDate you specify cannot be earlier "
                                                 "than 5 minutes ago.");
    if (!once && end >= 0 && end <= now)
        return sl_call_fail(c, SCH_E_VALIDATION, "The EndDate you specify cannot be earlier "
                                                 "than the current time.");
    if (!once && start >= 0 && end >= 0 && end <= start)
        return sl_call_fail(c, SCH_E_VALIDATION, "The EndDate you specify must be later than "
                                                 "the StartDate.");
    json_t *target = json_deep_copy(json_object_get(in, "Target"));
    char buf[512];
    const char *why = target ? target_problem(c, target, buf, sizeof(buf)) : NULL;
    if (why) {
        json_decref(target);
        return sl_call_fail(c, SCH_E_VALIDATION, "%s", why);
    }
    json_t *retry = json_object_get(target, "RetryPolicy");
    if (!retry) {
        retry = json_object();
        json_object_set_new(target, "RetryPolicy", retry);
    }
    if (!json_object_get(retry, "MaximumEventAgeInSeconds"))
        json_object_set_new(retry, "MaximumEventAgeInSeconds", json_integer(SCH_MAX_AGE_S));
    if (!json_object_get(retry, "MaximumRetryAttempts"))
        json_object_set_new(retry, "MaximumRetryAttempts", json_integer(SCH_MAX_RETRIES));
    const char *state = in_str(in, "State"), *after = in_str(in, "ActionAfterCompletion");
    w->rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:s, s:o}", "Arn", w->r.arn, "Name",
                       w->r.name, "GroupName", w->r.group, "ScheduleExpression", expr,
                       "ScheduleExpressionTimezone", tz ? tz : "UTC", "FlexibleTimeWindow", fw,
                       "State", state ? state : "ENABLED", "ActionAfterCompletion",
                       after ? after : "NONE", "Target", target);
    if (!w->rec)
        return SL_ENOMEM;
    static const char *const kept[] = {"Description", "KmsKeyArn"};
    for (size_t i = 0; i < SL_ARRAY_LEN(kept); i++)
        if (json_object_get(in, kept[i]))
            json_object_set(w->rec, kept[i], json_object_get(in, kept[i]));
    if (start >= 0)
        json_object_set_new(w->rec, "StartDate", sch_timestamp(start));
    if (end >= 0)
        json_object_set_new(w->rec, "EndDate", sch_timestamp(end));
    /* Where a rate() counts from: its StartDate, else when it is made. */
    json_object_set_new(w->rec, "_anchor_ms", json_integer(start >= 0 ? start : now));
    w->out = json_pack("{s:s}", "ScheduleArn", w->r.arn);
    w->schedules = true;
    return w->out ? 0 : SL_ENOMEM;
}

/* In a transaction: the schedule's stored record (*rec), or refuses the
 * change (its group, or itself, is missing). */
static int read_schedule(struct sl_txn *t, struct sch_change *w, json_t **rec)
{
    *rec = NULL;
    int rc = sch_group_exists_txn(t, &w->r);
    if (rc == SL_ENOTFOUND)
        return sch_change_fail(w, SCH_E_NOT_FOUND, SCH_GROUP_MISSING, w->r.group);
    struct sl_item it;
    if (!rc)
        rc = sl_txn_get(t, SCH_NS_SCHEDULE, w->r.schedules, w->r.name, &it);
    if (rc)
        return rc;
    *rec = sch_record_parse(&it);
    sl_item_free(&it);
    return *rec ? 0 : SL_ECORRUPT;
}

/* ---- changes ---------------------------------------------------------------------- */

/* Marks rec as written at now: its modification date, version and the
 * time it fires after. */
static void stamp(json_t *rec, int64_t now, json_int_t version)
{
    json_object_set_new(rec, "LastModificationDate", sch_timestamp(now));
    json_object_set_new(rec, "_version", json_integer(version));
    json_object_set_new(rec, "_from_ms", json_integer(now));
}

static int create_schedule(struct sl_txn *t, struct sch_change *w)
{
    json_t *old = NULL;
    int rc = read_schedule(t, w, &old);
    const char *token = in_str(w->in, "ClientToken");
    if (!rc) {
        /* (The same request again, by its ClientToken: the same answer.) */
        const char *was = in_str(old, "_token");
        bool again = token && was && strcmp(token, was) == 0;
        json_decref(old);
        w->schedules = false;
        return again ? 0
                     : sch_change_fail(w, SCH_E_CONFLICT, "Schedule %s already exists.",
                                       w->r.name);
    }
    if (rc != SL_ENOTFOUND)
        return rc;
    int64_t now = sl_time_now_ms();
    json_object_set_new(w->rec, "CreationDate", sch_timestamp(now));
    stamp(w->rec, now, 1);
    if (token)
        json_object_set_new(w->rec, "_token", json_string(token));
    return sch_put_json(t, SCH_NS_SCHEDULE, w->r.schedules, w->r.name, w->rec);
}

/* CreateSchedule and UpdateSchedule: the input, then fn's change. */
static int schedule_op(struct sl_call *c, int (*fn)(struct sl_txn *, struct sch_change *))
{
    struct sch_change *w = sch_change_new(c, fn);
    if (!w)
        return SL_ENOMEM;
    int rc = schedule_input(c, w);
    return rc ? rc : sch_change_run(c, w);
}

SL_OP(scheduler, CreateSchedule)
{
    return schedule_op(c, create_schedule);
}

static bool same_member(const json_t *a, const json_t *b, const char *member)
{
    const json_t *x = json_object_get(a, member), *y = json_object_get(b, member);
    return (!x && !y) || (x && y && json_equal(x, y));
}

static int update_schedule(struct sl_txn *t, struct sch_change *w)
{
    json_t *old = NULL;
    int rc = read_schedule(t, w, &old);
    if (rc == SL_ENOTFOUND)
        return sch_change_fail(w, SCH_E_NOT_FOUND, SCH_SCHEDULE_MISSING, w->r.name);
    if (rc)
        return rc;
    int64_t now = sl_time_now_ms();
    static const char *const kept[] = {"CreationDate", "_last_ms", "_token"};
    for (size_t i = 0; i < SL_ARRAY_LEN(kept); i++)
        if (json_object_get(old, kept[i]))
            json_object_set(w->rec, kept[i], json_object_get(old, kept[i]));
    /* A rate() keeps its phase while its expression and start stay. */
    if (same_member(old, w->rec, "ScheduleExpression") &&
        same_member(old, w->rec, "ScheduleExpressionTimezone") &&
        same_member(old, w->rec, "StartDate") && json_object_get(old, "_anchor_ms"))
        json_object_set(w->rec, "_anchor_ms", json_object_get(old, "_anchor_ms"));
    stamp(w->rec, now, json_integer_value(json_object_get(old, "_version")) + 1);
    json_decref(old);
    return sch_put_json(t, SCH_NS_SCHEDULE, w->r.schedules, w->r.name, w->rec);
}

SL_OP(scheduler, UpdateSchedule)
{
    return schedule_op(c, update_schedule);
}

static int delete_schedule(struct sl_txn *t, struct sch_change *w)
{
    json_t *old = NULL;
    int rc = read_schedule(t, w, &old);
    json_decref(old);
    if (rc == SL_ENOTFOUND)
        return sch_change_fail(w, SCH_E_NOT_FOUND, SCH_SCHEDULE_MISSING, w->r.name);
    return rc ? rc : sl_txn_delete(t, SCH_NS_SCHEDULE, w->r.schedules, w->r.name);
}

/* The call's schedule (Name, GroupName): 0, or answers. */
static int call_schedule(struct sl_call *c, struct sch_ref *r)
{
    const char *name = in_str(c->in, "Name"), *group = in_str(c->in, "GroupName");
    if (!sch_ref_make(r, c->account, c->region, group, name) || !r->name[0])
        return sl_call_fail(c, SCH_E_VALIDATION, "Invalid schedule name %s in group %s.",
                            name ? name : "", group ? group : SCH_DEFAULT_GROUP);
    return 0;
}

SL_OP(scheduler, DeleteSchedule)
{
    struct sch_change *w = sch_change_new(c, delete_schedule);
    if (!w)
        return SL_ENOMEM;
    int rc = call_schedule(c, &w->r);
    if (rc)
        return rc;
    w->schedules = true;
    return sch_change_run(c, w);
}

/* ---- reads ------------------------------------------------------------------------- */

SL_OP(scheduler, GetSchedule)
{
    struct sch_ref r;
    int rc = call_schedule(c, &r);
    if (rc)
        return rc;
    rc = sch_group_exists(c->app->store, &r);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, SCH_E_NOT_FOUND, SCH_GROUP_MISSING, r.group);
    struct sl_item it;
    if (!rc)
        rc = sl_kv_get(c->app->store, SCH_NS_SCHEDULE, r.schedules, r.name, &it);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, SCH_E_NOT_FOUND, SCH_SCHEDULE_MISSING, r.name);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *rec = sch_record_parse(&it);
    sl_item_free(&it);
    return rec ? sl_call_ok(c, sch_shown(rec)) : sl_call_internal(c, SL_ECORRUPT, NULL);
}

/* What ListSchedules gathers: up to max + 1 summaries, and where the
 * last one came from. */
struct listing {
    const char *prefix, *state;
    size_t max;
    json_t *out; /* the summaries */
    char last[2 * SCH_NAME_MAX + 2]; /* "<group>/<name>" of the max-th */
    bool more;
};

/* Adds the schedules of group (pk) after name `after` to l; SL_E* on a
 * store error. */
static int list_group(struct sl_store *s, const char *pk, const char *after, struct listing *l)
{
    char from[SCH_NAME_MAX + 1];
    sl_strlcpy(from, after ? after : "", sizeof(from));
    for (;;) {
        struct sl_item *items = NULL;
        size_t n = 0;
        int rc = sl_kv_list(s, SCH_NS_SCHEDULE, pk, l->prefix, from[0] ? from : NULL, LIST_PAGE,
                            &items, &n);
        if (rc)
            return rc;
        for (size_t i = 0; i < n; i++) {
            json_t *rec = l->more ? NULL : sch_record_parse(&items[i]);
            const char *state = in_str(rec, "State");
            if (rec && (!l->state || (state && strcmp(state, l->state) == 0))) {
                if (json_array_size(l->out) == l->max) {
                    l->more = true;
                } else {
                    json_array_append_new(
                        l->out,
                        json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:{s:O}}", "Arn",
                                  json_object_get(rec, "Arn"), "CreationDate",
                                  json_object_get(rec, "CreationDate"), "GroupName",
                                  json_object_get(rec, "GroupName"), "LastModificationDate",
                                  json_object_get(rec, "LastModificationDate"), "Name",
                                  json_object_get(rec, "Name"), "State",
                                  json_object_get(rec, "State"), "Target", "Arn",
                                  json_object_get(json_object_get(rec, "Target"), "Arn")));
                    snprintf(l->last, sizeof(l->last), "%s/%s", in_str(rec, "GroupName"),
                             items[i].sk);
                }
            }
            json_decref(rec);
        }
        if (n)
            sl_strlcpy(from, items[n - 1].sk, sizeof(from));
        for (size_t i = 0; i < n; i++)
            sl_item_free(&items[i]);
        free(items);
        if (n < LIST_PAGE || l->more)
            return 0;
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

SL_OP(scheduler, ListSchedules)
{
    json_t *lim = json_object_get(c->in, "MaxResults");
    struct listing l = {
        .prefix = in_str(c->in, "NamePrefix"),
        .state = in_str(c->in, "State"),
        .max = json_is_integer(lim) ? (size_t)json_integer_value(lim) : LIST_MAX,
    };
    /* The token: "<group>/<name>" of the last schedule answered. */
    const char *token = in_str(c->in, "NextToken");
    char tgroup[SCH_NAME_MAX + 1] = "";
    const char *tname = token ? strchr(token, '/') : NULL;
    if (token && (!tname || (size_t)(tname - token) >= sizeof(tgroup)))
        return sl_call_fail(c, SCH_E_VALIDATION, "Invalid NextToken.");
    if (tname) {
        memcpy(tgroup, token, (size_t)(tname - token));
        tgroup[tname - token] = '\0';
        tname++;
    }
    /* The groups to look in, in order: the one asked for, or all. */
    struct sch_ref r;
    const char *group = in_str(c->in, "GroupName");
    if (!sch_ref_make(&r, c->account, c->region, group, NULL))
        return sl_call_fail(c, SCH_E_VALIDATION, "Schedule group name %s is not valid.", group);
    int rc = group ? sch_group_exists(c->app->store, &r) : 0;
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, SCH_E_NOT_FOUND, SCH_GROUP_MISSING, r.group);
    struct sl_item *items = NULL;
    size_t n = 0;
    if (!rc && !group)
        rc = sl_kv_list(c->app->store, SCH_NS_GROUP, r.pk, NULL, NULL, SIZE_MAX, &items, &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    const char **groups = calloc(n + 1, sizeof(*groups));
    size_t ng = 0;
    if (groups) {
        groups[ng++] = group ? group : SCH_DEFAULT_GROUP;
        for (size_t i = 0; !group && i < n; i++)
            if (strcmp(items[i].sk, SCH_DEFAULT_GROUP) != 0)
                groups[ng++] = items[i].sk;
        qsort(groups, ng, sizeof(*groups), by_name);
    }
    l.out = json_array();
    for (size_t i = 0; groups && !rc && !l.more && i < ng; i++) {
        int cmp = tname ? strcmp(groups[i], tgroup) : 1;
        if (cmp < 0 || !sch_ref_make(&r, c->account, c->region, groups[i], NULL))
            continue;
        rc = list_group(c->app->store, r.schedules, cmp == 0 ? tname : NULL, &l);
    }
    free(groups);
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    if (rc || !l.out) {
        json_decref(l.out);
        return sl_call_internal(c, rc ? rc : SL_ENOMEM, NULL);
    }
    json_t *out = json_pack("{s:o}", "Schedules", l.out);
    if (l.more)
        json_object_set_new(out, "NextToken", json_string(l.last));
    return sl_call_ok(c, out);
}
