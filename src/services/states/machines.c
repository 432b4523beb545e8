/*
 * Step Functions' control plane: CreateStateMachine (idempotent for the
 * same name, definition, role and type), DescribeStateMachine,
 * ListStateMachines, UpdateStateMachine, DeleteStateMachine, and
 * ValidateStateMachineDefinition. Every definition is checked by the
 * States Language parser (asl.h) before it is stored.
 */
#include "services/states/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT 100
#define LIST_MAX 1000

json_t *sfn_timestamp(int64_t ms)
{
    return json_real((double)ms / 1000.0);
}

/* Checks a definition (of an EXPRESS machine when express): 0, or the
 * call has InvalidDefinition. */
static int check_definition(struct sl_call *c, const char *definition, bool express)
{
    struct sl_asl *m = NULL;
    struct sl_err err = {0};
    int rc = sl_asl_parse(definition, &m, &err);
    if (!rc && express)
        rc = sl_asl_check_express(m, &err);
    sl_asl_free(m);
    if (rc == SL_EINVAL)
        return sl_call_fail(c, SFN_E_INVALID_DEFINITION, "%s", err.msg);
    return rc ? sl_call_internal(c, rc, &err) : 0;
}

/* Checks a role's ARN: 0, or the call has InvalidArn. */
static int check_role(struct sl_call *c, const char *role)
{
    if (role && strncmp(role, "arn:aws:iam::", 13) == 0 && strstr(role, ":role/"))
        return 0;
    return sl_call_fail(c, SFN_E_INVALID_ARN, "Invalid Arn: 'Resource type not valid in this "
                                              "context: %.200s'",
                        role ? role : "");
}

size_t sfn_page_limit(const struct sl_call *c)
{
    json_t *max = json_object_get(c->in, "maxResults");
    size_t limit = max && json_integer_value(max) > 0 ? (size_t)json_integer_value(max)
                                                      : LIST_DEFAULT;
    return limit > LIST_MAX ? LIST_MAX : limit;
}

int sfn_call_ref(struct sl_call *c, struct sfn_ref *r)
{
    const char *arn = json_string_value(json_object_get(c->in, "stateMachineArn"));
    if (!sfn_ref_parse(arn, r))
        return sl_call_fail(c, SFN_E_INVALID_ARN, "Invalid Arn: '%.300s'", arn ? arn : "");
    return 0;
}

int sfn_read_machine(struct sl_store *s, const struct sfn_ref *r, json_t **rec)
{
    struct sl_item it;
    int rc = sl_kv_get(s, SFN_NS_MACHINE, r->pk, r->name, &it);
    if (rc)
        return rc;
    *rec = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    return *rec ? 0 : SL_ECORRUPT;
}

static int write_record(struct sl_txn *t, const struct sfn_ref *r, const json_t *rec)
{
    char *text = json_dumps(rec, JSON_COMPACT);
    int rc = text ? sl_txn_put(t, SFN_NS_MACHINE, r->pk, r->name, text, strlen(text), NULL)
                  : SL_ENOMEM;
    free(text);
    return rc;
}

/* ---- CreateStateMachine ------------------------------------------------------------ */

struct create {
    struct sfn_ref r;
    json_t *rec;
    int64_t created;
    bool differs;
};

static void create_free(struct sl_call *c)
{
    struct create *w = c->state;
    if (w)
        json_decref(w->rec);
}

static int create_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct create *w = arg;
    struct sl_item it;
    int rc = sl_txn_get(t, SFN_NS_MACHINE, w->r.pk, w->r.name, &it);
    if (rc == SL_ENOTFOUND)
        return write_record(t, &w->r, w->rec);
    if (rc)
        return rc;
    /* The same machine again: the one there (as AWS, when the definition,
     * role and type are the same). */
    json_t *old = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    static const char *const same[] = {"definition", "roleArn", "type"};
    for (size_t i = 0; i < SL_ARRAY_LEN(same); i++)
        if (!json_equal(json_object_get(old, same[i]), json_object_get(w->rec, same[i])))
            w->differs = true;
    w->created = json_integer_value(json_object_get(old, "created"));
    json_decref(old);
    return 0;
}

static int created(struct sl_call *c)
{
    struct create *w = c->write_arg;
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (w->differs)
        return sl_call_fail(c, SFN_E_EXISTS, "State Machine Already Exists: '%s'", w->r.arn);
    return sl_call_ok(c, json_pack("{s:s, s:o}", "stateMachineArn", w->r.arn, "creationDate",
                                   sfn_timestamp(w->created)));
}

SL_OP(states, CreateStateMachine)
{
    struct create *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return SL_ENOMEM;
    const char *name = json_string_value(json_object_get(c->in, "name"));
    const char *definition = json_string_value(json_object_get(c->in, "definition"));
    const char *role = json_string_value(json_object_get(c->in, "roleArn"));
    const char *type = json_string_value(json_object_get(c->in, "type"));
    if (!sfn_name_ok(name))
        return sl_call_fail(c, SFN_E_INVALID_NAME, "Invalid Name: '%.200s'", name ? name : "");
    int rc = check_role(c, role);
    if (!rc)
        rc = check_definition(c, definition, type && strcmp(type, "EXPRESS") == 0);
    if (rc)
        return rc;
    sfn_ref_make(&w->r, c->account, c->region, name);
    w->created = sl_time_now_ms();
    w->rec = json_pack("{s:s, s:s, s:s, s:I}", "definition", definition, "roleArn", role, "type",
                       type ? type : "STANDARD", "created", (json_int_t)w->created);
    if (!w->rec)
        return SL_ENOMEM;
    static const char *const kept[] = {"loggingConfiguration", "tracingConfiguration", "tags"};
    for (size_t i = 0; i < SL_ARRAY_LEN(kept); i++)
        if (json_object_get(c->in, kept[i]))
            json_object_set(w->rec, kept[i], json_object_get(c->in, kept[i]));
    c->state = w;
    c->state_free = create_free;
    return sl_call_write(c, create_txn, w, created);
}

/* ---- DescribeStateMachine, ListStateMachines ------------------------------------------ */

SL_OP(states, DescribeStateMachine)
{
    struct sfn_ref r;
    int rc = sfn_call_ref(c, &r);
    if (rc)
        return rc;
    json_t *rec = NULL;
    rc = sfn_read_machine(c->app->store, &r, &rec);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, SFN_E_NOT_FOUND, "State Machine Does Not Exist: '%s'", r.arn);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *out = json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:o}", "stateMachineArn", r.arn,
                            "name", r.name, "status", "ACTIVE", "definition",
                            json_object_get(rec, "definition"), "roleArn",
                            json_object_get(rec, "roleArn"), "type",
                            json_object_get(rec, "type"), "creationDate",
                            sfn_timestamp(json_integer_value(json_object_get(rec, "created"))));
    json_t *logging = json_object_get(rec, "loggingConfiguration");
    json_object_set_new(out, "loggingConfiguration",
                        logging ? json_incref(logging)
                                : json_pack("{s:s, s:b}", "level", "OFF",
                                            "includeExecutionData", 0));
    json_t *tracing = json_object_get(rec, "tracingConfiguration");
    json_object_set_new(out, "tracingConfiguration",
                        tracing ? json_incref(tracing) : json_pack("{s:b}", "enabled", 0));
    json_decref(rec);
    return sl_call_ok(c, out);
}

SL_OP(states, ListStateMachines)
{
    size_t limit = sfn_page_limit(c);
    const char *token = json_string_value(json_object_get(c->in, "nextToken"));
    if (token && !sfn_name_ok(token))
        return sl_call_fail(c, SFN_E_INVALID_TOKEN, "Invalid Token: '%.200s'", token);
    char pk[96];
    snprintf(pk, sizeof(pk), "%s/%s", c->account, c->region);
    struct sl_item *items = NULL;
    size_t n = 0;
    /* (One more than the page: whether there is a next one.) */
    int rc = sl_kv_list(c->app->store, SFN_NS_MACHINE, pk, NULL, token, limit + 1, &items, &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *list = json_array();
    for (size_t i = 0; i < n && i < limit; i++) {
        json_t *rec = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        struct sfn_ref r;
        sfn_ref_make(&r, c->account, c->region, items[i].sk);
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:O, s:o}", "stateMachineArn", r.arn, "name", r.name,
                            "type", json_object_get(rec, "type"), "creationDate",
                            sfn_timestamp(json_integer_value(json_object_get(rec, "created")))));
        json_decref(rec);
    }
    json_t *out = json_pack("{s:o}", "stateMachines", list);
    if (n > limit)
        json_object_set_new(out, "nextToken", json_string(items[limit - 1].sk));
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return sl_call_ok(c, out);
}

/* ---- UpdateStateMachine, DeleteStateMachine --------------------------------------------- */

struct change {
    struct sfn_ref r;
    json_t *set; /* the members to change; NULL: delete */
    int64_t at;
};

static void change_free(struct sl_call *c)
{
    struct change *w = c->state;
    if (w)
        json_decref(w->set);
}

static int change_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct change *w = arg;
    if (!w->set) {
        int rc = sl_txn_delete(t, SFN_NS_MACHINE, w->r.pk, w->r.name);
        return rc == SL_ENOTFOUND ? 0 : rc;
    }
    struct sl_item it;
    int rc = sl_txn_get(t, SFN_NS_MACHINE, w->r.pk, w->r.name, &it);
    if (rc)
        return rc;
    json_t *rec = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    if (!rec)
        return SL_ECORRUPT;
    json_object_update(rec, w->set);
    json_object_set_new(rec, "updated", json_integer((json_int_t)w->at));
    rc = write_record(t, &w->r, rec);
    json_decref(rec);
    return rc;
}

static int changed(struct sl_call *c)
{
    struct change *w = c->write_arg;
    if (c->write_rc == SL_ENOTFOUND)
        return sl_call_fail(c, SFN_E_NOT_FOUND, "State Machine Does Not Exist: '%s'", w->r.arn);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (!w->set)
        return sl_call_ok(c, json_object());
    return sl_call_ok(c, json_pack("{s:o}", "updateDate", sfn_timestamp(w->at)));
}

static struct change *change_begin(struct sl_call *c, int *rc)
{
    struct change *w = sl_call_alloc(c, sizeof(*w));
    if (!w) {
        *rc = SL_ENOMEM;
        return NULL;
    }
    if ((*rc = sfn_call_ref(c, &w->r)) != 0)
        return NULL;
    c->state = w;
    c->state_free = change_free;
    return w;
}

SL_OP(states, UpdateStateMachine)
{
    int rc;
    struct change *w = change_begin(c, &rc);
    if (!w)
        return rc;
    w->set = json_object();
    static const char *const fields[] = {"definition", "roleArn", "loggingConfiguration",
                                         "tracingConfiguration"};
    for (size_t i = 0; i < SL_ARRAY_LEN(fields); i++)
        if (json_object_get(c->in, fields[i]))
            json_object_set(w->set, fields[i], json_object_get(c->in, fields[i]));
    if (!json_object_size(w->set))
        return sl_call_fail(c, SFN_E_MISSING, "Either the definition, the role ARN, the "
                                              "LoggingConfiguration, or the TracingConfiguration "
                                              "must be specified");
    const char *role = json_string_value(json_object_get(w->set, "roleArn"));
    const char *definition = json_string_value(json_object_get(w->set, "definition"));
    if (role && (rc = check_role(c, role)) != 0)
        return rc;
    if (definition) {
        json_t *rec = NULL;
        bool express = sfn_read_machine(c->app->store, &w->r, &rec) == 0 &&
                       strcmp(json_string_value(json_object_get(rec, "type"))
                                  ? json_string_value(json_object_get(rec, "type"))
                                  : "",
                              "EXPRESS") == 0;
        json_decref(rec);
        if ((rc = check_definition(c, definition, express)) != 0)
            return rc;
    }
    w->at = sl_time_now_ms();
    return sl_call_write(c, change_txn, w, changed);
}

SL_OP(states, DeleteStateMachine)
{
    int rc;
    struct change *w = change_begin(c, &rc);
    if (!w)
        return rc;
    return sl_call_write(c, change_txn, w, changed);
}

/* ---- ValidateStateMachineDefinition -------------------------------------------------- */

SL_OP(states, ValidateStateMachineDefinition)
{
    const char *definition = json_string_value(json_object_get(c->in, "definition"));
    struct sl_asl *m = NULL;
    struct sl_err err = {0};
    const char *type = json_string_value(json_object_get(c->in, "type"));
    int rc = sl_asl_parse(definition, &m, &err);
    if (!rc && type && strcmp(type, "EXPRESS") == 0)
        rc = sl_asl_check_express(m, &err);
    sl_asl_free(m);
    if (rc && rc != SL_EINVAL)
        return sl_call_internal(c, rc, &err);
    json_t *diagnostics = json_array();
    if (rc) {
        char code[64], what[1024], where[512];
        sl_asl_diagnostic(err.msg, code, sizeof(code), what, sizeof(what), where,
                          sizeof(where));
        json_t *d = json_pack("{s:s, s:s, s:s}", "severity", "ERROR", "code", code, "message",
                              what);
        if (where[0])
            json_object_set_new(d, "location", json_string(where));
        json_array_append_new(diagnostics, d);
    }
    return sl_call_ok(c, json_pack("{s:s, s:o, s:b}", "result", rc ? "FAIL" : "OK",
                                   "diagnostics", diagnostics, "truncated", 0));
}
