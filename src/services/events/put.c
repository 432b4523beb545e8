/*
 * EventBridge events: PutEvents and TestEventPattern, and the routing of
 * an event on a bus: the bus's enabled rules whose patterns match it
 * (compiled once per change of the bus's rules, and matched by the
 * shared event-pattern module) hand it, transformed as each target says
 * (Input, InputPath, InputTransformer), to the engine's targets inside
 * the transaction that accepted it — so an acknowledged event has
 * reached its targets' queues, and survives a kill -9 with them.
 */
#include "services/events/internal.h"

#include <ctype.h>
#include <stdio.h>

#include "engine/ruleset.h"
#include <stdlib.h>
#include <string.h>

/* ---- compiled rule sets ------------------------------------------------------- */

/* The enabled, pattern-bearing rules of one bus, compiled, and indexed
 * as one rule set (engine/ruleset.h): an event is matched against all of
 * them at once. */
struct ev_set {
    char pk[400];
    uint64_t gen;
    size_t n;
    char **names;
    struct sl_pattern **pats;
    struct sl_ruleset *rs;
    struct ev_set *next;
};

static void set_free(struct ev_set *s)
{
    for (size_t i = 0; s && i < s->n; i++) {
        free(s->names[i]);
        sl_pattern_free(s->pats[i]);
    }
    if (s) {
        sl_ruleset_free(s->rs);
        free(s->names);
        free(s->pats);
    }
    free(s);
}

void ev_sets_free(struct ev *st)
{
    struct ev_set *s = st->sets;
    while (s) {
        struct ev_set *next = s->next;
        set_free(s);
        s = next;
    }
    st->sets = NULL;
}

void ev_rules_changed(struct ev *st)
{
    pthread_mutex_lock(&st->mu);
    st->gen++;
    pthread_mutex_unlock(&st->mu);
}

/* Reads and compiles the bus's rules as the transaction sees them. */
static int set_build(struct sl_txn *t, const char *pk, uint64_t gen, struct ev_set **out)
{
    struct ev_set *s = calloc(1, sizeof(*s));
    if (!s)
        return SL_ENOMEM;
    sl_strlcpy(s->pk, pk, sizeof(s->pk));
    s->gen = gen;
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_txn_list(t, EV_NS_RULE, pk, NULL, SIZE_MAX, &items, &n);
    if (!rc && n) {
        s->names = calloc(n, sizeof(*s->names));
        s->pats = calloc(n, sizeof(*s->pats));
        if (!s->names || !s->pats)
            rc = SL_ENOMEM;
    }
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *r = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        const char *state = json_string_value(json_object_get(r, "State"));
        const char *pattern = json_string_value(json_object_get(r, "EventPattern"));
        struct sl_err err = {0};
        if (pattern && state && strcmp(state, "ENABLED") == 0 &&
            sl_pattern_compile(pattern, strlen(pattern), &s->pats[s->n], &err) == 0) {
            s->names[s->n] = strdup(items[i].sk);
            if (!s->names[s->n]) {
                sl_pattern_free(s->pats[s->n]);
                rc = SL_ENOMEM;
            } else {
                s->n++;
            }
        }
        json_decref(r);
    }
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    if (!rc)
        rc = sl_ruleset_build(s->pats, s->n, &s->rs);
    if (rc) {
        set_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

struct matched {
    const struct ev_set *s;
    json_t *names;
};

static void on_match(void *arg, size_t i)
{
    struct matched *m = arg;
    json_array_append_new(m->names, json_string(m->s->names[i]));
}

/* The names of the rules of b that event matches (a new array). Runs on
 * the writer thread: the sets are read and built there only. */
static int matching(struct sl_txn *t, struct ev *st, const struct ev_bus_ref *b,
                    const json_t *event, json_t **names)
{
    pthread_mutex_lock(&st->mu);
    uint64_t gen = st->gen;
    struct ev_set **p = (struct ev_set **)&st->sets;
    while (*p && strcmp((*p)->pk, b->rules) != 0)
        p = &(*p)->next;
    struct ev_set *s = *p;
    pthread_mutex_unlock(&st->mu);
    if (!s || s->gen != gen) {
        struct ev_set *fresh = NULL;
        int rc = set_build(t, b->rules, gen, &fresh);
        if (rc)
            return rc;
        pthread_mutex_lock(&st->mu);
        /* (Replaced in place: only this thread reads the sets.) */
        p = (struct ev_set **)&st->sets;
        while (*p && strcmp((*p)->pk, b->rules) != 0)
            p = &(*p)->next;
        if (*p) {
            fresh->next = (*p)->next;
            set_free(*p);
        }
        *p = fresh;
        pthread_mutex_unlock(&st->mu);
        s = fresh;
    }
    struct matched m = {s, json_array()};
    sl_ruleset_match(s->rs, event, on_match, &m);
    *names = m.names;
    return 0;
}

/* ---- JSON paths and input transformers -------------------------------------------- */

json_t *ev_path(const json_t *event, const char *path)
{
    if (!path || path[0] != '$')
        return NULL;
    const json_t *v = event;
    const char *p = path + 1;
    char name[257];
    while (*p && v) {
        if (*p == '.') {
            p++;
            size_t n = strcspn(p, ".[");
            if (!n || n >= sizeof(name))
                return NULL;
            memcpy(name, p, n);
            name[n] = '\0';
            v = json_object_get(v, name);
            p += n;
        } else if (p[0] == '[' && (p[1] == '\'' || p[1] == '"')) {
            char q = p[1];
            const char *end = strchr(p + 2, q);
            if (!end || end[1] != ']' || (size_t)(end - p - 2) >= sizeof(name))
                return NULL;
            memcpy(name, p + 2, (size_t)(end - p - 2));
            name[end - p - 2] = '\0';
            v = json_object_get(v, name);
            p = end + 2;
        } else if (*p == '[') {
            char *end;
            long i = strtol(p + 1, &end, 10);
            if (*end != ']' || i < 0)
                return NULL;
            v = json_array_get(v, (size_t)i);
            p = end + 1;
        } else {
            return NULL;
        }
    }
    return (json_t *)v;
}

/* The value of placeholder name for a transformer: one of the paths'
 * values, or a reserved variable. A new reference, or NULL. */
static json_t *variable(const char *name, const json_t *paths, const json_t *event,
                        const char *rule_name, const char *rule_arn)
{
    const char *path = json_string_value(json_object_get(paths, name));
    if (path)
        return json_incref(ev_path(event, path));
    if (strcmp(name, "aws.events.event.json") == 0)
        return json_incref((json_t *)event);
    if (strcmp(name, "aws.events.event") == 0) { /* (without its detail) */
        json_t *copy = json_copy((json_t *)event);
        json_object_del(copy, "detail");
        return copy;
    }
    if (strcmp(name, "aws.events.rule-name") == 0)
        return json_string(rule_name);
    if (strcmp(name, "aws.events.rule-arn") == 0)
        return json_string(rule_arn);
    if (strcmp(name, "aws.events.event.ingestion-time") == 0) {
        char now[40];
        sl_time_iso8601_s(sl_time_now_ms(), now, sizeof(now));
        return json_string(now);
    }
    return NULL;
}

/* InputTemplate with its placeholders filled: inside a JSON string a
 * value goes in as text (a string without its quotes), outside as JSON. */
static char *transform(const json_t *tr, const json_t *event, const char *rule_name,
                       const char *rule_arn)
{
    const char *tpl = json_string_value(json_object_get(tr, "InputTemplate"));
    const json_t *paths = json_object_get(tr, "InputPathsMap");
    struct sl_buf out;
    sl_buf_init(&out, 4 * EV_ENTRY_MAX);
    bool in_string = false, escaped = false, failed = false;
    for (const char *p = tpl ? tpl : ""; *p; p++) {
        if (in_string && escaped)
            escaped = false;
        else if (in_string && *p == '\\')
            escaped = true;
        else if (*p == '"')
            in_string = !in_string;
        const char *end = *p == '<' ? strchr(p + 1, '>') : NULL;
        char name[300];
        json_t *v = NULL;
        if (end && (size_t)(end - p - 1) < sizeof(name)) {
            memcpy(name, p + 1, (size_t)(end - p - 1));
            name[end - p - 1] = '\0';
            v = variable(name, paths, event, rule_name, rule_arn);
            if (!v && !json_object_get(paths, name))
                end = NULL; /* (not a placeholder: text) */
        } else {
            end = NULL;
        }
        if (!end) {
            if (sl_buf_putc(&out, *p))
                failed = true;
            continue;
        }
        if (in_string && json_is_string(v)) {
            char *q = json_dumps(v, JSON_ENCODE_ANY);
            if (!q || sl_buf_append(&out, q + 1, strlen(q) - 2))
                failed = true;
            free(q);
        } else if (v) {
            char *q = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            if (q && in_string) { /* (JSON inside a string: escaped) */
                json_t *qs = json_string(q);
                char *e = qs ? json_dumps(qs, JSON_ENCODE_ANY) : NULL;
                json_decref(qs);
                if (!e || sl_buf_append(&out, e + 1, strlen(e) - 2))
                    failed = true;
                free(e);
            } else if (!q || sl_buf_puts(&out, q)) {
                failed = true;
            }
            free(q);
        } else if (!in_string && sl_buf_puts(&out, "null")) {
            failed = true;
        }
        json_decref(v);
        p = end;
    }
    if (failed) {
        sl_buf_free(&out);
        return NULL; /* (too big: the target fails, and its DLQ gets the event) */
    }
    char *text = sl_buf_steal(&out, NULL);
    if (!text)
        return strdup("");
    /* A template that is not JSON gives a string (AWS sends it quoted). */
    json_t *parsed = json_loads(text, JSON_DECODE_ANY, NULL);
    if (parsed) {
        json_decref(parsed);
        return text;
    }
    json_t *s = json_string(text);
    free(text);
    char *quoted = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    json_decref(s);
    return quoted;
}

char *ev_target_input(const json_t *target, const json_t *event, const char *rule_name,
                      const char *rule_arn)
{
    const char *input = json_string_value(json_object_get(target, "Input"));
    if (input)
        return strdup(input);
    const char *path = json_string_value(json_object_get(target, "InputPath"));
    if (path) {
        json_t *v = ev_path(event, path);
        return v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : strdup("null");
    }
    json_t *tr = json_object_get(target, "InputTransformer");
    if (tr)
        return transform(tr, event, rule_name, rule_arn);
    return json_dumps(event, JSON_COMPACT);
}

/* ---- routing ------------------------------------------------------------------------ */

bool ev_fatal(int rc)
{
    return rc && rc != SL_EINVAL && rc != SL_ENOTSUP && rc != SL_ENOTFOUND &&
           rc != SL_ETOOBIG && rc != SL_EAUTH;
}

static int deliver_targets(struct sl_txn *t, struct ev *st, const struct ev_bus_ref *b,
                           const char *rule, json_t *event, int depth, int *budget)
{
    char pk[700], arn[700];
    ev_targets_pk(b, rule, pk, sizeof(pk));
    ev_rule_arn(b, rule, arn, sizeof(arn));
    struct ev_count *k = ev_count_of(st, arn);
    if (k)
        atomic_fetch_add(&k->matched, 1);
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_txn_list(t, EV_NS_TARGET, pk, NULL, SIZE_MAX, &items, &n);
    for (size_t i = 0; !rc && i < n && *budget > 0; i++) {
        json_t *target = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        const char *dest = json_string_value(json_object_get(target, "Arn"));
        char *input = dest ? ev_target_input(target, event, rule, arn) : NULL;
        (*budget)--;
        int missing = 0;
        struct sl_target_source src = {
            .principal = "events.amazonaws.com",
            .source_arn = arn,
            .source_account = b->account,
            .group_id = json_string_value(
                json_object_get(json_object_get(target, "SqsParameters"), "MessageGroupId")),
            .missing = &missing,
            .depth = depth,
            .budget = budget,
        };
        if (src.group_id)
            src.dedup_id = json_string_value(json_object_get(event, "id"));
        /* (A stream's partition key: KinesisParameters' path into the
         * event, else the event's id.) */
        const char *kpath = json_string_value(json_object_get(
            json_object_get(target, "KinesisParameters"), "PartitionKeyPath"));
        json_t *kv = kpath ? ev_path(event, kpath) : NULL;
        char *kv_text = kv && !json_is_string(kv) ? json_dumps(kv, JSON_ENCODE_ANY) : NULL;
        src.partition_key = json_is_string(kv) ? json_string_value(kv)
                            : kv_text              ? kv_text
                                                   : json_string_value(json_object_get(event, "id"));
        int drc = input ? sl_target_deliver_txn(st->app->targets, t, dest, input, strlen(input),
                                                &src)
                        : SL_ETOOBIG; /* (an input that could not be made) */
        if (ev_fatal(drc))
            rc = drc;
        bool failed = drc || missing;
        const char *dlq = json_string_value(
            json_object_get(json_object_get(target, "DeadLetterConfig"), "Arn"));
        if (!rc && failed && dlq) {
            /* The event, with why it is there, to the target's dead-letter
             * queue (as EventBridge's message attributes say). */
            char *body = json_dumps(event, JSON_COMPACT);
            json_t *attrs = json_pack(
                "{s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}}", "RULE_ARN", "DataType", "String",
                "StringValue", arn, "TARGET_ARN", "DataType", "String", "StringValue", dest,
                "ERROR_CODE", "DataType", "String", "StringValue",
                missing ? "ResourceNotFoundException" : "SDK_CLIENT_ERROR");
            char *attrs_text = attrs ? json_dumps(attrs, JSON_COMPACT) : NULL;
            json_decref(attrs);
            struct sl_target_source dsrc = {.principal = "events.amazonaws.com",
                                            .source_arn = arn,
                                            .source_account = b->account,
                                            .attributes = attrs_text};
            int qrc = body ? sl_target_deliver_txn(st->app->targets, t, dlq, body, strlen(body),
                                                   &dsrc)
                           : SL_ENOMEM;
            if (ev_fatal(qrc))
                rc = qrc;
            free(body);
            free(attrs_text);
        }
        if (k) {
            atomic_fetch_add(&k->invocations, 1);
            if (failed)
                atomic_fetch_add(&k->failed, 1);
        }
        free(input);
        free(kv_text);
        json_decref(target);
    }
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return rc;
}

int ev_rule_deliver_txn(struct sl_txn *t, struct ev *st, const struct ev_bus_ref *b,
                        const char *rule, json_t *event)
{
    int budget = EV_DELIVERIES_MAX;
    return deliver_targets(t, st, b, rule, event, 1, &budget);
}

int ev_route_txn(struct sl_txn *t, struct ev *st, const struct ev_bus_ref *b, json_t *event,
                 int depth, int *budget)
{
    json_t *names = NULL;
    int rc = matching(t, st, b, event, &names);
    size_t i;
    json_t *name;
    json_array_foreach(names, i, name)
    {
        if (rc)
            break;
        rc = deliver_targets(t, st, b, json_string_value(name), event, depth, budget);
    }
    json_decref(names);
    return rc;
}

/* ---- PutEvents ------------------------------------------------------------------------ */

struct put {
    struct ev *st;
    size_t n;
    json_t *events;  /* the events to route, or null for an entry refused */
    json_t *results; /* the answer's entries */
    struct ev_bus_ref *buses;
};

static void put_free(struct sl_call *c)
{
    struct put *p = c->state;
    if (!p)
        return;
    json_decref(p->events);
    json_decref(p->results);
    free(p->buses);
}

static int put_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct put *p = arg;
    int rc = 0;
    for (size_t i = 0; !rc && i < p->n; i++) {
        json_t *e = json_array_get(p->events, i);
        int budget = EV_DELIVERIES_MAX;
        if (json_is_object(e))
            rc = ev_route_txn(t, p->st, &p->buses[i], e, 1, &budget);
    }
    return rc;
}

static int put_done(struct sl_call *c)
{
    struct put *p = c->write_arg;
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    size_t failed = 0;
    for (size_t i = 0; i < p->n; i++)
        failed += json_object_get(json_array_get(p->results, i), "ErrorCode") != NULL;
    return sl_call_ok(c, json_pack("{s:I, s:O}", "FailedEntryCount", (json_int_t)failed,
                                   "Entries", p->results));
}

/* The event of entry, or NULL with its error in *code and *msg. */
static json_t *event_of(struct sl_call *c, const json_t *entry, struct ev_bus_ref *b,
                        const char **code, char *msg, size_t n)
{
    const char *source = json_string_value(json_object_get(entry, "Source"));
    const char *type = json_string_value(json_object_get(entry, "DetailType"));
    const char *detail = json_string_value(json_object_get(entry, "Detail"));
    const char *bus = json_string_value(json_object_get(entry, "EventBusName"));
    *code = "InvalidArgument";
    if (!source || !*source) {
        snprintf(msg, n, "Parameter Source is not valid. Reason: Source is a required argument.");
        return NULL;
    }
    if (strncmp(source, "aws.", 4) == 0) {
        /* (AWS's own sources are AWS's to send.) */
        *code = "NotAuthorizedForSourceException";
        snprintf(msg, n, "Not authorized for the source.");
        return NULL;
    }
    if (!type || !*type) {
        snprintf(msg, n, "Parameter DetailType is not valid. Reason: DetailType is a required "
                         "argument.");
        return NULL;
    }
    if (!detail) {
        snprintf(msg, n, "Parameter Detail is not valid. Reason: Detail is a required "
                         "argument.");
        return NULL;
    }
    json_t *d = json_loads(detail, 0, NULL);
    if (!json_is_object(d)) {
        json_decref(d);
        *code = "MalformedDetail";
        snprintf(msg, n, "Detail is malformed.");
        return NULL;
    }
    if (!ev_bus_ref_parse(bus, c->account, c->region, b) || strcmp(b->account, c->account) ||
        strcmp(b->region, c->region) || ev_bus_exists(c->app->store, b) != 0) {
        json_decref(d);
        *code = "InvalidArgument";
        snprintf(msg, n, "Event bus %s does not exist.", bus ? bus : "default");
        return NULL;
    }
    char id[40], time[40];
    sl_uuid(id);
    json_t *at = json_object_get(entry, "Time");
    double secs = json_number_value(at);
    if (at && (!json_is_number(at) || !(secs >= 0 && secs <= 253402300799.0))) {
        json_decref(d);
        snprintf(msg, n, "Parameter Time is not valid.");
        return NULL;
    }
    int64_t ms = at ? (int64_t)(secs * 1000.0) : sl_time_now_ms();
    sl_time_iso8601_s(ms, time, sizeof(time));
    json_t *resources = json_object_get(entry, "Resources");
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "version", "0", "id", id,
                     "detail-type", type, "source", source, "account", c->account, "time", time,
                     "region", c->region, "resources",
                     json_is_array(resources) ? json_incref(resources) : json_array(), "detail",
                     d);
}

SL_OP(events, PutEvents)
{
    json_t *entries = json_object_get(c->in, "Entries");
    size_t n = json_array_size(entries);
    struct put *p = sl_call_alloc(c, sizeof(*p));
    if (!p)
        return SL_ENOMEM;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(entries, i);
        static const char *const parts[] = {"Source", "DetailType", "Detail"};
        for (size_t k = 0; k < SL_ARRAY_LEN(parts); k++)
            total += json_string_length(json_object_get(e, parts[k]));
        size_t j;
        json_t *r;
        json_array_foreach(json_object_get(e, "Resources"), j, r) total += json_string_length(r);
        total += json_object_get(e, "Time") ? 14 : 0;
    }
    if (total > EV_ENTRY_MAX)
        return sl_call_fail(c, EV_E_VALIDATION, "Total size of the entries in the request is "
                                                "over the limit.");
    p->st = c->svc;
    p->n = n;
    p->events = json_array();
    p->results = json_array();
    p->buses = calloc(n ? n : 1, sizeof(*p->buses));
    c->state = p;
    c->state_free = put_free;
    if (!p->buses)
        return SL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *code = NULL;
        char msg[256];
        json_t *ev = event_of(c, json_array_get(entries, i), &p->buses[i], &code, msg,
                              sizeof(msg));
        if (ev) {
            json_array_append_new(p->results,
                                  json_pack("{s:O}", "EventId", json_object_get(ev, "id")));
            json_array_append_new(p->events, ev);
        } else {
            json_array_append_new(p->results,
                                  json_pack("{s:s, s:s}", "ErrorCode", code, "ErrorMessage", msg));
            json_array_append_new(p->events, json_null());
        }
    }
    return sl_call_write(c, put_txn, p, put_done);
}

/* ---- TestEventPattern ------------------------------------------------------------------ */

SL_OP(events, TestEventPattern)
{
    const char *pattern = json_string_value(json_object_get(c->in, "EventPattern"));
    const char *text = json_string_value(json_object_get(c->in, "Event"));
    struct sl_pattern *p = NULL;
    struct sl_err err = {0};
    if (!pattern || sl_pattern_compile(pattern, strlen(pattern), &p, &err))
        return sl_call_fail(c, EV_E_PATTERN, "Event pattern is not valid. Reason: %s",
                            err.msg[0] ? err.msg : "it is missing");
    json_t *event = text ? json_loads(text, 0, NULL) : NULL;
    static const char *const required[] = {"id", "account", "source", "time", "region",
                                           "detail-type"};
    bool ok = json_is_object(event);
    for (size_t i = 0; ok && i < SL_ARRAY_LEN(required); i++)
        ok = json_object_get(event, required[i]) != NULL;
    if (!ok) {
        json_decref(event);
        sl_pattern_free(p);
        return sl_call_fail(c, EV_E_VALIDATION, "Parameter Event is not valid.");
    }
    bool result = sl_pattern_match(p, event);
    json_decref(event);
    sl_pattern_free(p);
    return sl_call_ok(c, json_pack("{s:b}", "Result", result));
}
