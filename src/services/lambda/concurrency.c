/*
 * Concurrency: PutFunctionConcurrency, GetFunctionConcurrency,
 * DeleteFunctionConcurrency and GetAccountSettings. A reservation is the
 * private member "_reserved" of the function's configuration; the runtime
 * hears of every change.
 */
#include "services/lambda/internal.h"

#include <stdlib.h>
#include <string.h>

/* The reservations and code sizes of an account's functions. */
struct tally {
    const char *except; /* a function left out of the sum, or NULL */
    long sum, count;
    uint64_t code_size;
};

/* Adds up the functions of pk: in transaction t when not NULL (seeing its
 * writes), else from the last commit. */
static int tally_functions(struct sl_store *st, struct sl_txn *t, const char *pk,
                           struct tally *out)
{
    char last[80] = "";
    for (;;) {
        struct sl_item *items = NULL;
        size_t n = 0;
        const char *after = last[0] ? last : NULL;
        int rc = t ? sl_txn_list(t, SL_LAMBDA_NS, pk, after, 500, &items, &n)
                   : sl_kv_list(st, SL_LAMBDA_NS, pk, NULL, after, 500, &items, &n);
        if (rc)
            return rc;
        for (size_t i = 0; i < n; i++) {
            json_t *cfg = json_loadb(items[i].val, items[i].val_len, 0, NULL);
            if (!out->except || strcmp(items[i].sk, out->except) != 0)
                out->sum += (long)json_integer_value(json_object_get(cfg, "_reserved"));
            out->code_size += (uint64_t)json_integer_value(json_object_get(cfg, "CodeSize"));
            out->count++;
            json_decref(cfg);
        }
        if (n)
            snprintf(last, sizeof(last), "%s", items[n - 1].sk);
        for (size_t i = 0; i < n; i++)
            sl_item_free(&items[i]);
        free(items);
        if (n < 500)
            return 0;
    }
}

struct reserve {
    const char *pk, *name;
    long want;  /* -1: clear */
    long limit; /* the account's concurrency */
};

/* Sets or clears the reservation (not a revision). The account's
 * unreserved minimum is checked here, against the other functions'
 * reservations as this transaction sees them: two concurrent puts cannot
 * both take the last of it. */
static int set_reserved(struct sl_txn *t, json_t *cfg, void *arg, struct sl_err *err)
{
    struct reserve *r = arg;
    if (r->want < 0) {
        json_object_del(cfg, "_reserved");
        return 0;
    }
    struct tally others = {.except = r->name};
    int rc = tally_functions(NULL, t, r->pk, &others);
    if (rc)
        return rc;
    if (r->limit - others.sum - r->want < SL_LAMBDA_UNRESERVED_MIN)
        return sl_errf(err, SL_EINVAL,
                       "Specified ReservedConcurrentExecutions for function decreases account's "
                       "UnreservedConcurrentExecution below its minimum value of [%d].",
                       SL_LAMBDA_UNRESERVED_MIN);
    json_object_set_new(cfg, "_reserved", json_integer(r->want));
    return 0;
}

/* After a change of the reservation: the runtime hears of it. */
static int reserved(struct sl_call *c)
{
    struct lreq *l = sl_lambda_req(c);
    struct sl_lambda_change *m = c->write_arg;
    struct reserve *r = m->arg;
    if (c->write_rc)
        return sl_lambda_modify_failed(l, m->name, c->write_rc, &c->write_err);
    sl_lambda_runtime_set_reserved(l->lam, l->pk, m->name, r->want);
    if (r->want < 0)
        return 0;
    return sl_call_ok(c, json_pack("{s:I}", "ReservedConcurrentExecutions", (json_int_t)r->want));
}

/* Sets (want >= 0) or clears the reservation of the input's function. */
static int reserve(struct sl_call *c, long want)
{
    struct lreq *l = sl_lambda_req(c);
    struct reserve *r = sl_call_alloc(c, sizeof(*r));
    if (!l || !r)
        return SL_ENOMEM;
    char name[80];
    int rc = sl_lambda_exists(l, name, sizeof(name));
    if (rc)
        return rc;
    *r = (struct reserve){l->pk, NULL, want, (long)sl_governor_account_limit(c->app->governor)};
    r->name = sl_arena_strdup(&c->http->arena, name);
    if (!r->name)
        return SL_ENOMEM;
    return sl_lambda_modify(l, name, set_reserved, r, reserved);
}

SL_OP(lambda, PutFunctionConcurrency)
{
    return reserve(c, (long)json_integer_value(json_object_get(c->in, "ReservedConcurrentExecutions")));
}

SL_OP(lambda, DeleteFunctionConcurrency)
{
    return reserve(c, -1);
}

SL_OP(lambda, GetFunctionConcurrency)
{
    struct lreq *l = sl_lambda_req(c);
    if (!l)
        return SL_ENOMEM;
    char name[80];
    json_t *cfg;
    int rc = sl_lambda_load(l, name, sizeof(name), &cfg, NULL);
    if (rc)
        return rc;
    json_t *out = json_object();
    json_t *r = json_object_get(cfg, "_reserved");
    if (r)
        json_object_set(out, "ReservedConcurrentExecutions", r);
    json_decref(cfg);
    return sl_call_ok(c, out);
}

SL_OP(lambda, GetAccountSettings)
{
    struct lreq *l = sl_lambda_req(c);
    if (!l)
        return SL_ENOMEM;
    struct tally all = {0};
    int rc = tally_functions(c->app->store, NULL, l->pk, &all);
    if (rc)
        return rc;
    long limit = (long)sl_governor_account_limit(c->app->governor);
    return sl_call_ok(
        c, json_pack("{s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I}}", "AccountLimit",
                     "TotalCodeSize", (json_int_t)80530636800LL, "CodeSizeUnzipped",
                     (json_int_t)SL_LAMBDA_MAX_UNZIPPED, "CodeSizeZipped",
                     (json_int_t)SL_LAMBDA_MAX_ZIPPED, "ConcurrentExecutions", (json_int_t)limit,
                     "UnreservedConcurrentExecutions", (json_int_t)(limit - all.sum),
                     "AccountUsage", "TotalCodeSize", (json_int_t)all.code_size, "FunctionCount",
                     (json_int_t)all.count));
}
