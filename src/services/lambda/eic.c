/*
 * The event invoke config API: Put/Get/Update/Delete
 * FunctionEventInvokeConfig and ListFunctionEventInvokeConfigs, items of
 * SL_LAMBDA_EIC_NS (pk "<account>:<region>", sk the function) that the
 * asynchronous events of a function follow (async.c): MaximumRetryAttempts,
 * MaximumEventAgeInSeconds and the destinations.
 */
#include "services/lambda/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The function named by the request ($LATEST only); 0, or answered. */
static int eic_function(struct lreq *l, char *name, size_t ncap, char *arn, size_t acap)
{
    json_t *cfg = NULL;
    int rc = sl_lambda_load(l, name, ncap, &cfg, NULL);
    if (rc)
        return rc;
    const char *fn_arn = json_string_value(json_object_get(cfg, "FunctionArn"));
    snprintf(arn, acap, "%s:$LATEST", fn_arn ? fn_arn : name);
    json_decref(cfg);
    const char *qual = json_string_value(json_object_get(l->in, "Qualifier"));
    if (qual && strcmp(qual, "$LATEST") != 0)
        return sl_lambda_error(l, LAMBDA_E_NOT_FOUND, "Function not found: %.*s:%s",
                               (int)(strlen(arn) - 8), arn, qual);
    return 0;
}

/* Checks the destinations of a DestinationConfig; 0, or answered. */
static int check_destinations(struct lreq *l, json_t *dc)
{
    static const char *const which[] = {"OnSuccess", "OnFailure"};
    for (size_t i = 0; i < SL_ARRAY_LEN(which); i++) {
        const char *arn =
            json_string_value(json_object_get(json_object_get(dc, which[i]), "Destination"));
        if (arn && arn[0] && sl_target_check(l->c->app->targets, arn, NULL, NULL, NULL) != 0)
            return sl_lambda_invalid(l, "The destination ARN %s is invalid.", arn);
    }
    return 0;
}

/* The stored config as the API shows it. */
static json_t *eic_view(json_t *stored, const char *arn)
{
    json_t *out = json_deep_copy(stored);
    json_object_set_new(out, "FunctionArn", json_string(arn));
    json_t *dc = json_object_get(out, "DestinationConfig");
    if (!json_is_object(dc)) {
        dc = json_object();
        json_object_set_new(out, "DestinationConfig", dc);
    }
    static const char *const which[] = {"OnSuccess", "OnFailure"};
    for (size_t i = 0; i < SL_ARRAY_LEN(which); i++) {
        json_t *d = json_object_get(dc, which[i]);
        const char *arn_d = json_string_value(json_object_get(d, "Destination"));
        if (!arn_d || !arn_d[0])
            json_object_set_new(dc, which[i], json_object());
    }
    return out;
}

/* Answers with the view of stored (taken). */
static int respond_view(struct lreq *l, json_t *stored, const char *arn)
{
    json_t *out = eic_view(stored, arn);
    json_decref(stored);
    return sl_call_ok(l->c, out);
}

/* A write of a function's event invoke config, in one transaction with
 * the check that the function still exists (and, to merge, the read of
 * the stored config): a racing DeleteFunction or update cannot be lost. */
struct eic_write {
    const char *pk, *name;
    json_t *in;     /* the request's members; NULL: delete */
    bool merge;     /* Update: over the stored config */
    json_t *result; /* out: the config written */
    char arn[400];  /* the function's, as the answer shows it */
};

static int eic_write_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct eic_write *w = arg;
    int rc = sl_txn_exists(t, SL_LAMBDA_NS, w->pk, w->name);
    if (rc)
        return rc;
    if (!w->in) {
        rc = sl_txn_delete(t, SL_LAMBDA_EIC_NS, w->pk, w->name);
        return rc == SL_ENOTFOUND ? 0 : rc;
    }
    json_t *stored = NULL;
    struct sl_item it;
    if (w->merge && sl_txn_get(t, SL_LAMBDA_EIC_NS, w->pk, w->name, &it) == 0) {
        stored = json_loadb(it.val, it.val_len, 0, NULL);
        sl_item_free(&it);
    }
    if (!stored)
        stored = json_object();
    static const char *const members[] = {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"};
    for (size_t i = 0; i < SL_ARRAY_LEN(members); i++) {
        json_t *v = json_object_get(w->in, members[i]);
        if (v)
            json_object_set(stored, members[i], v);
    }
    json_t *dc = json_object_get(w->in, "DestinationConfig");
    json_t *have = json_object_get(stored, "DestinationConfig");
    if (dc && w->merge && json_is_object(have))
        json_object_update(have, dc);
    else if (dc)
        json_object_set(stored, "DestinationConfig", dc);
    json_object_set_new(stored, "LastModified", json_real((double)sl_time_now_ms() / 1000.0));
    char *val = json_dumps(stored, JSON_COMPACT);
    rc = val ? sl_txn_put(t, SL_LAMBDA_EIC_NS, w->pk, w->name, val, strlen(val), NULL)
             : SL_ENOMEM;
    free(val);
    if (rc)
        json_decref(stored);
    else
        w->result = stored;
    return rc;
}

/* After the write: 404 when the function went meanwhile, else the view
 * (or nothing, for a deletion). */
static int eic_written(struct sl_call *c)
{
    struct lreq *l = sl_lambda_req(c);
    struct eic_write *w = c->write_arg;
    sl_lambda_cache_forget(l->lam->eic_cache, l->pk, w->name);
    if (c->write_rc) { /* the batch may fail after the transaction succeeded */
        json_decref(w->result);
        w->result = NULL;
    }
    if (c->write_rc == SL_ENOTFOUND)
        return sl_lambda_error(l, LAMBDA_E_NOT_FOUND,
                               "Function not found: arn:aws:lambda:%s:%s:function:%s",
                               c->region, c->account, w->name);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    return w->result ? respond_view(l, w->result, w->arn) : 0;
}

static int eic_put(struct sl_call *c, bool merge)
{
    struct lreq *l = sl_lambda_req(c);
    struct eic_write *w = sl_call_alloc(c, sizeof(*w));
    if (!l || !w)
        return SL_ENOMEM;
    char name[80];
    int rc = eic_function(l, name, sizeof(name), w->arn, sizeof(w->arn));
    if (rc)
        return rc;
    json_t *dc = json_object_get(l->in, "DestinationConfig");
    if (dc && (rc = check_destinations(l, dc)) != 0)
        return rc;
    w->pk = l->pk;
    w->name = sl_arena_strdup(&c->http->arena, name);
    w->in = l->in;
    w->merge = merge;
    return w->name ? sl_call_write(c, eic_write_txn, w, eic_written) : SL_ENOMEM;
}

SL_OP(lambda, PutFunctionEventInvokeConfig)
{
    return eic_put(c, false);
}

SL_OP(lambda, UpdateFunctionEventInvokeConfig)
{
    return eic_put(c, true);
}

/* The stored config of the request's function; 0, or answered 404. */
static int eic_load(struct lreq *l, char *name, size_t ncap, char *arn, size_t acap,
                    json_t **stored)
{
    int rc = eic_function(l, name, ncap, arn, acap);
    if (rc)
        return rc;
    *stored = sl_lambda_eic_stored(l->lam, l->pk, name);
    if (!*stored)
        return sl_lambda_error(l, LAMBDA_E_NOT_FOUND,
                               "The function %s doesn't have an EventInvokeConfig", arn);
    return 0;
}

SL_OP(lambda, GetFunctionEventInvokeConfig)
{
    struct lreq *l = sl_lambda_req(c);
    if (!l)
        return SL_ENOMEM;
    char name[80], arn[400];
    json_t *stored = NULL;
    int rc = eic_load(l, name, sizeof(name), arn, sizeof(arn), &stored);
    return rc ? rc : respond_view(l, stored, arn);
}

SL_OP(lambda, DeleteFunctionEventInvokeConfig)
{
    struct lreq *l = sl_lambda_req(c);
    struct eic_write *w = sl_call_alloc(c, sizeof(*w));
    if (!l || !w)
        return SL_ENOMEM;
    char name[80];
    json_t *stored = NULL;
    int rc = eic_load(l, name, sizeof(name), w->arn, sizeof(w->arn), &stored);
    if (rc)
        return rc;
    json_decref(stored);
    w->pk = l->pk;
    w->name = sl_arena_strdup(&c->http->arena, name);
    return w->name ? sl_call_write(c, eic_write_txn, w, eic_written) : SL_ENOMEM;
}

SL_OP(lambda, ListFunctionEventInvokeConfigs)
{
    struct lreq *l = sl_lambda_req(c);
    if (!l)
        return SL_ENOMEM;
    char name[80], arn[400];
    int rc = eic_function(l, name, sizeof(name), arn, sizeof(arn));
    if (rc)
        return rc;
    json_t *list = json_array();
    json_t *stored = sl_lambda_eic_stored(l->lam, l->pk, name);
    if (stored)
        json_array_append_new(list, eic_view(stored, arn));
    json_decref(stored);
    return sl_call_ok(c, json_pack("{s:o}", "FunctionEventInvokeConfigs", list));
}
