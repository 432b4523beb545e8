/*
 * EventBridge buses, rules and targets: Create/Describe/List/DeleteEventBus,
 * PutRule (an event pattern, compiled here so a bad one is refused with
 * AWS's error, or a schedule on the default bus), DescribeRule, ListRules,
 * Enable/DisableRule, DeleteRule, PutTargets, ListTargetsByRule and
 * RemoveTargets. Each change is one transaction that also marks the
 * compiled rule sets stale (put.c), so the next event sees it.
 */
#include "services/events/internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX 100
#define TARGETS_MAX 5

static bool name_ok(const char *s, size_t max, bool dots)
{
    size_t n = s ? strlen(s) : 0;
    if (!n || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' &&
            !(dots && s[i] == '.'))
            return false;
    return true;
}

/* The call's bus (EventBusName, a name or an ARN): 0, or answers. */
static int call_bus(struct sl_call *c, const char *member, struct ev_bus_ref *b)
{
    const char *name = json_string_value(json_object_get(c->in, member));
    if (!ev_bus_ref_parse(name, c->account, c->region, b))
        return sl_call_fail(c, EV_E_VALIDATION, "Parameter %s is not valid.", member);
    /* (Only the caller's own account and region's buses.) */
    int rc = strcmp(b->account, c->account) || strcmp(b->region, c->region)
                 ? SL_ENOTFOUND
                 : ev_bus_exists(c->app->store, b);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, EV_E_NOT_FOUND, "Event bus %s does not exist.", b->name);
    return rc ? sl_call_internal(c, rc, NULL) : 0;
}

/* ---- one transaction per change ----------------------------------------------- */

/* A change: fn runs in the transaction with the state; SL_EINVAL and
 * friends carry code and msg to the answer. */
struct change {
    struct ev *st;
    struct ev_bus_ref b;
    const char *rule;
    json_t *in;
    int (*fn)(struct sl_txn *t, struct change *w);
    json_t *out; /* the answer */
    int code;
    char msg[512];
};

static void change_free(struct sl_call *c)
{
    struct change *w = c->state;
    if (w)
        json_decref(w->out);
}

static int fail(struct change *w, int code, const char *fmt, ...) SL_PRINTF(3, 4);
static int fail(struct change *w, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
    va_end(ap);
    w->code = code;
    return SL_EINVAL;
}

static int change_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct change *w = arg;
    int rc = w->fn(t, w);
    if (!rc)
        ev_rules_changed(w->st); /* (in the transaction: the next ones see it) */
    return rc;
}

static int changed(struct sl_call *c)
{
    struct change *w = c->write_arg;
    if (c->write_rc == SL_EINVAL)
        return sl_call_fail(c, w->code, "%s", w->msg);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    ev_sched_reload(w->st);
    json_t *out = w->out ? json_incref(w->out) : json_object();
    return sl_call_ok(c, out);
}

static struct change *change_new(struct sl_call *c, int (*fn)(struct sl_txn *, struct change *))
{
    struct change *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return NULL;
    w->st = c->svc;
    w->in = c->in;
    w->fn = fn;
    c->state = w;
    c->state_free = change_free;
    return w;
}

static int put_json(struct sl_txn *t, const char *ns, const char *pk, const char *sk, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    int rc = text ? sl_txn_put(t, ns, pk, sk, text, strlen(text), NULL) : SL_ENOMEM;
    free(text);
    return rc;
}

static int get_json(struct sl_txn *t, const char *ns, const char *pk, const char *sk, json_t **v)
{
    struct sl_item it;
    int rc = sl_txn_get(t, ns, pk, sk, &it);
    if (rc)
        return rc;
    *v = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    return *v ? 0 : SL_ECORRUPT;
}

/* ---- buses ------------------------------------------------------------------------ */

static int create_bus(struct sl_txn *t, struct change *w)
{
    if (strcmp(w->b.name, "default") == 0 || sl_txn_exists(t, EV_NS_BUS, w->b.pk, w->b.name) == 0)
        return fail(w, EV_E_EXISTS, "Event bus %s already exists.", w->b.name);
    json_t *rec = json_pack("{s:s, s:s, s:f}", "Name", w->b.name, "Arn", w->b.arn,
                            "CreationTime", (double)sl_time_now_ms() / 1000.0);
    const char *desc = json_string_value(json_object_get(w->in, "Description"));
    if (rec && desc)
        json_object_set_new(rec, "Description", json_string(desc));
    int rc = rec ? put_json(t, EV_NS_BUS, w->b.pk, w->b.name, rec) : SL_ENOMEM;
    json_decref(rec);
    w->out = json_pack("{s:s}", "EventBusArn", w->b.arn);
    return rc;
}

SL_OP(events, CreateEventBus)
{
    const char *name = json_string_value(json_object_get(c->in, "Name"));
    struct change *w = change_new(c, create_bus);
    if (!w)
        return SL_ENOMEM;
    if (!name_ok(name, 256, true) || strchr(name, '/'))
        return sl_call_fail(c, EV_E_VALIDATION, "Event bus name %s is not valid.",
                            name ? name : "");
    ev_bus_ref_make(&w->b, c->account, c->region, name);
    return sl_call_write(c, change_txn, w, changed);
}

static int delete_bus(struct sl_txn *t, struct change *w)
{
    struct sl_item *rules = NULL;
    size_t n = 0;
    int rc = sl_txn_list(t, EV_NS_RULE, w->b.rules, NULL, 1, &rules, &n);
    for (size_t i = 0; i < n; i++)
        sl_item_free(&rules[i]);
    free(rules);
    if (rc)
        return rc;
    if (n)
        return fail(w, EV_E_VALIDATION, "Cannot delete event bus %s because it has rules.",
                    w->b.name);
    rc = sl_txn_delete(t, EV_NS_BUS, w->b.pk, w->b.name);
    return rc == SL_ENOTFOUND ? 0 : rc;
}

SL_OP(events, DeleteEventBus)
{
    const char *name = json_string_value(json_object_get(c->in, "Name"));
    struct change *w = change_new(c, delete_bus);
    if (!w)
        return SL_ENOMEM;
    if (!ev_bus_ref_parse(name, c->account, c->region, &w->b))
        return sl_call_fail(c, EV_E_VALIDATION, "Parameter Name is not valid.");
    if (strcmp(w->b.name, "default") == 0)
        return sl_call_fail(c, EV_E_VALIDATION, "Cannot delete event bus default.");
    return sl_call_write(c, change_txn, w, changed);
}

SL_OP(events, DescribeEventBus)
{
    struct ev_bus_ref b;
    int rc = call_bus(c, "Name", &b);
    if (rc)
        return rc;
    json_t *out = json_pack("{s:s, s:s}", "Name", b.name, "Arn", b.arn);
    struct sl_item it;
    if (strcmp(b.name, "default") != 0 &&
        sl_kv_get(c->app->store, EV_NS_BUS, b.pk, b.name, &it) == 0) {
        json_t *rec = json_loadb(it.val, it.val_len, 0, NULL);
        sl_item_free(&it);
        json_object_update_missing(out, rec);
        json_decref(rec);
    }
    return sl_call_ok(c, out);
}

SL_OP(events, ListEventBuses)
{
    char pk[96];
    snprintf(pk, sizeof(pk), "%s/%s", c->account, c->region);
    const char *prefix = json_string_value(json_object_get(c->in, "NamePrefix"));
    json_t *buses = json_array();
    struct ev_bus_ref d;
    ev_bus_ref_make(&d, c->account, c->region, "default");
    if (!prefix || strncmp("default", prefix, strlen(prefix)) == 0)
        json_array_append_new(buses, json_pack("{s:s, s:s}", "Name", "default", "Arn", d.arn));
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(c->app->store, EV_NS_BUS, pk, prefix, NULL, SIZE_MAX, &items, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *rec = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        if (rec)
            json_array_append_new(buses, json_pack("{s:O, s:O}", "Name",
                                                   json_object_get(rec, "Name"), "Arn",
                                                   json_object_get(rec, "Arn")));
        json_decref(rec);
        sl_item_free(&items[i]);
    }
    free(items);
    if (rc) {
        json_decref(buses);
        return sl_call_internal(c, rc, NULL);
    }
    return sl_call_ok(c, json_pack("{s:o}", "EventBuses", buses));
}

/* ---- rules ------------------------------------------------------------------------- */

static int put_rule(struct sl_txn *t, struct change *w)
{
    int rc = ev_bus_exists_txn(t, &w->b);
    if (rc == SL_ENOTFOUND)
        return fail(w, EV_E_NOT_FOUND, "Event bus %s does not exist.", w->b.name);
    if (rc)
        return rc;
    json_t *old = NULL;
    rc = get_json(t, EV_NS_RULE, w->b.rules, w->rule, &old);
    if (rc && rc != SL_ENOTFOUND)
        return rc;
    char arn[700];
    ev_rule_arn(&w->b, w->rule, arn, sizeof(arn));
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "Name", w->rule, "Arn", arn, "EventBusName",
                            w->b.name, "CreatedBy", w->b.account);
    static const char *const members[] = {"EventPattern", "ScheduleExpression", "Description",
                                          "RoleArn"};
    for (size_t i = 0; i < SL_ARRAY_LEN(members); i++) {
        json_t *v = json_object_get(w->in, members[i]);
        if (v)
            json_object_set(rec, members[i], v);
    }
    const char *state = json_string_value(json_object_get(w->in, "State"));
    json_object_set_new(rec, "State", json_string(state ? state : "ENABLED"));
    /* (When it was made: where a rate() counts from.) */
    json_t *made = json_object_get(old, "_created_ms");
    json_object_set_new(rec, "_created_ms",
                        made ? json_incref(made) : json_integer(sl_time_now_ms()));
    json_decref(old);
    rc = put_json(t, EV_NS_RULE, w->b.rules, w->rule, rec);
    json_decref(rec);
    w->out = json_pack("{s:s}", "RuleArn", arn);
    return rc;
}

SL_OP(events, PutRule)
{
    struct change *w = change_new(c, put_rule);
    if (!w)
        return SL_ENOMEM;
    int rc = call_bus(c, "EventBusName", &w->b);
    if (rc)
        return rc;
    w->rule = json_string_value(json_object_get(c->in, "Name"));
    if (!name_ok(w->rule, 64, true))
        return sl_call_fail(c, EV_E_VALIDATION, "1 validation error detected: Value '%s' at "
                                                "'name' failed to satisfy constraint: Member "
                                                "must satisfy regular expression pattern: "
                                                "[\\.\\-_A-Za-z0-9]+",
                            w->rule ? w->rule : "");
    const char *pattern = json_string_value(json_object_get(c->in, "EventPattern"));
    const char *schedule = json_string_value(json_object_get(c->in, "ScheduleExpression"));
    const char *state = json_string_value(json_object_get(c->in, "State"));
    if (!pattern && !schedule)
        return sl_call_fail(c, EV_E_VALIDATION, "Parameter(s) EventPattern or "
                                                "ScheduleExpression must be specified.");
    if (pattern) {
        struct sl_pattern *p = NULL;
        struct sl_err err = {0};
        if (sl_pattern_compile(pattern, strlen(pattern), &p, &err))
            return sl_call_fail(c, EV_E_PATTERN, "Event pattern is not valid. Reason: %s",
                                err.msg);
        sl_pattern_free(p);
    }
    if (schedule) {
        if (strcmp(w->b.name, "default") != 0)
            return sl_call_fail(c, EV_E_VALIDATION, "ScheduleExpression is supported only on "
                                                    "the default event bus.");
        struct sl_err err = {0};
        if (ev_sched_check(schedule, &err))
            return sl_call_fail(c, EV_E_VALIDATION, "Parameter ScheduleExpression is not "
                                                    "valid.");
    }
    if (state && strcmp(state, "ENABLED") != 0 && strcmp(state, "DISABLED") != 0)
        return sl_call_fail(c, EV_E_VALIDATION, "1 validation error detected: Value '%s' at "
                                                "'state' failed to satisfy constraint: Member "
                                                "must satisfy enum value set: [ENABLED, "
                                                "DISABLED]",
                            state);
    return sl_call_write(c, change_txn, w, changed);
}

/* A rule's record as AWS shows it (rec taken): without Sluice's own
 * members. */
static json_t *shown(json_t *rec)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(rec, tmp, k, v)
    {
        if (k[0] == '_')
            json_object_del(rec, k);
    }
    return rec;
}

/* The call's rule (Name or Rule, on EventBusName): 0, or answers. */
static int call_rule(struct sl_call *c, const char *member, struct ev_bus_ref *b,
                     const char **name, json_t **rec)
{
    int rc = call_bus(c, "EventBusName", b);
    if (rc)
        return rc;
    *name = json_string_value(json_object_get(c->in, member));
    struct sl_item it;
    rc = *name ? sl_kv_get(c->app->store, EV_NS_RULE, b->rules, *name, &it) : SL_ENOTFOUND;
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, EV_E_NOT_FOUND, "Rule %s does not exist on EventBus %s.",
                            *name ? *name : "", b->name);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    if (rec)
        *rec = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    return 0;
}

SL_OP(events, DescribeRule)
{
    struct ev_bus_ref b;
    const char *name;
    json_t *rec = NULL;
    int rc = call_rule(c, "Name", &b, &name, &rec);
    if (rc)
        return rc;
    return rec ? sl_call_ok(c, shown(rec)) : sl_call_internal(c, SL_ECORRUPT, NULL);
}

SL_OP(events, ListRules)
{
    struct ev_bus_ref b;
    int rc = call_bus(c, "EventBusName", &b);
    if (rc)
        return rc;
    const char *prefix = json_string_value(json_object_get(c->in, "NamePrefix"));
    const char *token = json_string_value(json_object_get(c->in, "NextToken"));
    json_t *lim = json_object_get(c->in, "Limit");
    size_t max = json_is_integer(lim) ? (size_t)json_integer_value(lim) : LIST_MAX;
    struct sl_item *items = NULL;
    size_t n = 0;
    rc = sl_kv_list(c->app->store, EV_NS_RULE, b.rules, prefix, token, max + 1, &items, &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *rules = json_array();
    for (size_t i = 0; i < n && i < max; i++)
        json_array_append_new(rules, shown(json_loadb(items[i].val, items[i].val_len, 0, NULL)));
    json_t *out = json_pack("{s:o}", "Rules", rules);
    if (n > max && max)
        json_object_set_new(out, "NextToken", json_string(items[max - 1].sk));
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return sl_call_ok(c, out);
}

static int set_state(struct sl_txn *t, struct change *w)
{
    json_t *rec = NULL;
    int rc = get_json(t, EV_NS_RULE, w->b.rules, w->rule, &rec);
    if (rc == SL_ENOTFOUND)
        return fail(w, EV_E_NOT_FOUND, "Rule %s does not exist.", w->rule);
    if (rc)
        return rc;
    json_object_set(rec, "State", json_object_get(w->in, "_state"));
    rc = put_json(t, EV_NS_RULE, w->b.rules, w->rule, rec);
    json_decref(rec);
    return rc;
}

static int state_op(struct sl_call *c, const char *state)
{
    struct change *w = change_new(c, set_state);
    if (!w)
        return SL_ENOMEM;
    int rc = call_bus(c, "EventBusName", &w->b);
    if (rc)
        return rc;
    w->rule = json_string_value(json_object_get(c->in, "Name"));
    if (!w->rule)
        return sl_call_fail(c, EV_E_VALIDATION, "Parameter Name is not valid.");
    json_object_set_new(c->in, "_state", json_string(state));
    return sl_call_write(c, change_txn, w, changed);
}

SL_OP(events, EnableRule)
{
    return state_op(c, "ENABLED");
}

SL_OP(events, DisableRule)
{
    return state_op(c, "DISABLED");
}

static int delete_rule(struct sl_txn *t, struct change *w)
{
    char pk[700];
    ev_targets_pk(&w->b, w->rule, pk, sizeof(pk));
    size_t n = 0;
    int rc = sl_txn_count(t, EV_NS_TARGET, pk, 1, &n);
    if (rc)
        return rc;
    if (n)
        return fail(w, EV_E_VALIDATION, "Rule can't be deleted since it has targets.");
    rc = sl_txn_delete(t, EV_NS_RULE, w->b.rules, w->rule);
    return rc == SL_ENOTFOUND ? 0 : rc;
}

SL_OP(events, DeleteRule)
{
    struct change *w = change_new(c, delete_rule);
    if (!w)
        return SL_ENOMEM;
    int rc = call_bus(c, "EventBusName", &w->b);
    if (rc)
        return rc;
    w->rule = json_string_value(json_object_get(c->in, "Name"));
    if (!w->rule)
        return sl_call_fail(c, EV_E_VALIDATION, "Parameter Name is not valid.");
    return sl_call_write(c, change_txn, w, changed);
}

/* ---- targets ----------------------------------------------------------------------- */

/* Why target cannot be a rule's (NULL: it can). */
static const char *target_problem(struct sl_call *c, const json_t *target, char *buf, size_t n)
{
    const char *id = json_string_value(json_object_get(target, "Id"));
    const char *arn = json_string_value(json_object_get(target, "Arn"));
    if (!name_ok(id, 64, true))
        return "Parameter Id is not valid.";
    int inputs = (json_object_get(target, "Input") != NULL) +
                 (json_object_get(target, "InputPath") != NULL) +
                 (json_object_get(target, "InputTransformer") != NULL);
    if (inputs > 1)
        return "Only one of Input, InputPath, or InputTransformer must be provided.";
    const char *input = json_string_value(json_object_get(target, "Input"));
    json_t *parsed = input ? json_loads(input, JSON_DECODE_ANY, NULL) : NULL;
    json_decref(parsed);
    if (input && !parsed)
        return "Input is not valid JSON text.";
    const char *path = json_string_value(json_object_get(target, "InputPath"));
    if (path && path[0] != '$')
        return "InputPath is not a valid JSON path.";
    json_t *tr = json_object_get(target, "InputTransformer");
    if (tr && !json_string_value(json_object_get(tr, "InputTemplate")))
        return "InputTemplate is required for an InputTransformer.";
    const char *group = json_string_value(
        json_object_get(json_object_get(target, "SqsParameters"), "MessageGroupId"));
    if (json_object_get(json_object_get(target, "SqsParameters"), "MessageGroupId") &&
        (!group || !*group || strlen(group) > 128))
        return "Parameter MessageGroupId is not valid: 1 to 128 characters.";
    int rc = arn ? sl_target_check(c->app->targets, arn, NULL, NULL, NULL) : SL_EINVAL;
    /* (A FIFO queue is a target with a message group; the services'
     * check is for standard queues.) */
    size_t len = arn ? strlen(arn) : 0;
    if (rc == SL_EINVAL && len > 5 && strcmp(arn + len - 5, ".fifo") == 0 &&
        strncmp(arn, "arn:aws:sqs:", 12) == 0)
        rc = json_string_value(json_object_get(json_object_get(target, "SqsParameters"),
                                               "MessageGroupId"))
                 ? 0
                 : SL_EINVAL;
    if (rc == SL_EINVAL && len > 5 && strcmp(arn + len - 5, ".fifo") == 0)
        return "Parameter(s) SqsParameters must be specified for a FIFO queue target.";
    if (rc == SL_ENOTSUP || rc == SL_EINVAL) {
        snprintf(buf, n, "Parameter %s is not valid: Sluice delivers to functions, queues, "
                         "topics, streams, event buses and state machines.",
                 arn ? arn : "Arn");
        return buf;
    }
    return NULL;
}

static int put_targets(struct sl_txn *t, struct change *w)
{
    int rc = sl_txn_exists(t, EV_NS_RULE, w->b.rules, w->rule);
    if (rc == SL_ENOTFOUND)
        return fail(w, EV_E_NOT_FOUND, "Rule %s does not exist on EventBus %s.", w->rule,
                    w->b.name);
    if (rc)
        return rc;
    char pk[700];
    ev_targets_pk(&w->b, w->rule, pk, sizeof(pk));
    size_t i;
    json_t *target;
    json_array_foreach(json_object_get(w->in, "Targets"), i, target)
    {
        const char *id = json_string_value(json_object_get(target, "Id"));
        if (id && (rc = put_json(t, EV_NS_TARGET, pk, id, target)) != 0)
            return rc;
    }
    size_t n = 0;
    rc = sl_txn_count(t, EV_NS_TARGET, pk, 0, &n);
    if (!rc && n > TARGETS_MAX)
        return fail(w, EV_E_LIMIT, "The requested resource exceeds the maximum number allowed.");
    return rc;
}

SL_OP(events, PutTargets)
{
    struct change *w = change_new(c, put_targets);
    if (!w)
        return SL_ENOMEM;
    int rc = call_bus(c, "EventBusName", &w->b);
    if (rc)
        return rc;
    w->rule = json_string_value(json_object_get(c->in, "Rule"));
    json_t *targets = json_object_get(c->in, "Targets");
    /* Targets refused are answered in FailedEntries; the others kept. */
    json_t *failed = json_array(), *ok = json_array();
    size_t i;
    json_t *target;
    json_array_foreach(targets, i, target)
    {
        char buf[600];
        const char *why = target_problem(c, target, buf, sizeof(buf));
        if (why)
            json_array_append_new(failed,
                                  json_pack("{s:O, s:s, s:s}", "TargetId",
                                            json_object_get(target, "Id"), "ErrorCode",
                                            "ValidationException", "ErrorMessage", why));
        else
            json_array_append(ok, target);
    }
    json_object_set_new(c->in, "Targets", ok);
    w->out = json_pack("{s:I, s:o}", "FailedEntryCount", (json_int_t)json_array_size(failed),
                       "FailedEntries", failed);
    return sl_call_write(c, change_txn, w, changed);
}

static int remove_targets(struct sl_txn *t, struct change *w)
{
    char pk[700];
    ev_targets_pk(&w->b, w->rule, pk, sizeof(pk));
    size_t i;
    json_t *id;
    json_array_foreach(json_object_get(w->in, "Ids"), i, id)
    {
        int rc = sl_txn_delete(t, EV_NS_TARGET, pk, json_string_value(id));
        if (rc && rc != SL_ENOTFOUND)
            return rc;
    }
    return 0;
}

SL_OP(events, RemoveTargets)
{
    struct change *w = change_new(c, remove_targets);
    if (!w)
        return SL_ENOMEM;
    const char *name;
    int rc = call_rule(c, "Rule", &w->b, &name, NULL);
    if (rc)
        return rc;
    w->rule = name;
    w->out = json_pack("{s:i, s:[]}", "FailedEntryCount", 0, "FailedEntries");
    return sl_call_write(c, change_txn, w, changed);
}

SL_OP(events, ListTargetsByRule)
{
    struct ev_bus_ref b;
    const char *name;
    int rc = call_rule(c, "Rule", &b, &name, NULL);
    if (rc)
        return rc;
    char pk[700];
    ev_targets_pk(&b, name, pk, sizeof(pk));
    struct sl_item *items = NULL;
    size_t n = 0;
    rc = sl_kv_list(c->app->store, EV_NS_TARGET, pk, NULL, NULL, SIZE_MAX, &items, &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *targets = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(targets, json_loadb(items[i].val, items[i].val_len, 0, NULL));
        sl_item_free(&items[i]);
    }
    free(items);
    return sl_call_ok(c, json_pack("{s:o}", "Targets", targets));
}
