/*
 * What the operations on a function share: the request's state, errors,
 * function names and ARNs, loading a function's item (or its cached
 * configuration), and changing its configuration in one transaction. A
 * function is one item of SL_LAMBDA_NS (pk "<account>:<region>", sk its
 * name) whose value is its FunctionConfiguration as AWS returns it, plus
 * private members whose names start with '_', and whose blob is its
 * deployment package.
 */
#include "services/lambda/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct sl_aws_error sl_lambda_errors[] = {SL_LAMBDA_ERRORS(SL_ERROR_ROW)};

struct lreq *sl_lambda_req(struct sl_call *c)
{
    if (c->state)
        return c->state;
    struct lreq *l = sl_call_alloc(c, sizeof(*l));
    if (!l)
        return NULL;
    l->c = c;
    l->lam = c->svc;
    l->in = c->in;
    snprintf(l->pk, sizeof(l->pk), "%s:%s", c->account, c->region);
    c->state = l;
    return l;
}

int sl_lambda_error(struct lreq *l, int id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sl_call_vfail(l->c, id, fmt, ap);
    va_end(ap);
    return rc;
}

int sl_lambda_invalid(struct lreq *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sl_call_vfail(l->c, LAMBDA_E_INVALID_PARAMETER, fmt, ap);
    va_end(ap);
    return rc;
}

const char *sl_lambda_in_str(struct lreq *l, const char *name)
{
    return json_string_value(json_object_get(l->in, name));
}

/* ---- names ----------------------------------------------------------- */

static bool valid_name(const char *s, size_t n)
{
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

int sl_lambda_parse_name(struct lreq *l, const char *input, char *name, size_t ncap, char *qual,
                         size_t qcap)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", input);
    char *parts[8];
    int n = 0;
    char *save = NULL;
    for (char *p = strtok_r(buf, ":", &save); p && n < 8; p = strtok_r(NULL, ":", &save))
        parts[n++] = p;
    const char *fn = NULL, *q = NULL, *account = NULL, *region = NULL;
    if (n >= 1 && strcmp(parts[0], "arn") == 0) {
        /* arn:aws:lambda:region:account:function:name[:qualifier] */
        if ((n == 7 || n == 8) && strcmp(parts[2], "lambda") == 0 &&
            strcmp(parts[5], "function") == 0) {
            region = parts[3];
            account = parts[4];
            fn = parts[6];
            q = n == 8 ? parts[7] : NULL;
        }
    } else if (n >= 3 && strcmp(parts[1], "function") == 0) {
        account = parts[0];
        fn = parts[2];
        q = n == 4 ? parts[3] : NULL;
        if (n > 4)
            fn = NULL;
    } else if (n == 1 || n == 2) {
        fn = parts[0];
        q = n == 2 ? parts[1] : NULL;
    }
    if (!fn || !valid_name(fn, strlen(fn)))
        return sl_lambda_error(
            l, LAMBDA_E_VALIDATION,
            "1 validation error detected: Value '%s' at 'functionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
            "(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
            input);
    if ((account && strcmp(account, l->c->account) != 0) ||
        (region && strcmp(region, l->c->region) != 0))
        return sl_lambda_error(l, LAMBDA_E_NOT_FOUND, "Function not found: %s", input);
    const char *given = sl_lambda_in_str(l, "Qualifier");
    if (q && given && strcmp(q, given) != 0)
        return sl_lambda_invalid(l, "The derived qualifier from the function name does not "
                                    "match the specified qualifier.");
    snprintf(name, ncap, "%s", fn);
    snprintf(qual, qcap, "%s", q ? q : given ? given : "");
    return 0;
}

void sl_lambda_function_arn(struct lreq *l, const char *name, char *out, size_t n)
{
    snprintf(out, n, "arn:aws:lambda:%s:%s:function:%s", l->c->region, l->c->account, name);
}

int sl_lambda_not_found(struct lreq *l, const char *name)
{
    char arn[256];
    sl_lambda_function_arn(l, name, arn, sizeof(arn));
    return sl_lambda_error(l, LAMBDA_E_NOT_FOUND, "Function not found: %s", arn);
}

/* ---- loading --------------------------------------------------------- */

/* Only $LATEST exists so far: another qualifier is not found. */
int sl_lambda_load(struct lreq *l, char *name, size_t ncap, json_t **cfg, struct sl_item *item)
{
    char qual[130];
    int rc = sl_lambda_parse_name(l, sl_lambda_in_str(l, "FunctionName"), name, ncap, qual,
                                  sizeof(qual));
    if (rc)
        return rc;
    struct sl_item it;
    rc = sl_kv_get(l->c->app->store, SL_LAMBDA_NS, l->pk, name, &it);
    if (rc == SL_ENOTFOUND || (qual[0] && strcmp(qual, "$LATEST") != 0)) {
        if (!rc)
            sl_item_free(&it);
        return sl_lambda_not_found(l, name);
    }
    if (rc)
        return rc;
    *cfg = json_loadb(it.val, it.val_len, 0, NULL);
    if (!*cfg) {
        sl_item_free(&it);
        return SL_ECORRUPT;
    }
    if (item)
        *item = it;
    else
        sl_item_free(&it);
    return 0;
}

int sl_lambda_exists(struct lreq *l, char *name, size_t ncap)
{
    json_t *cfg = NULL;
    int rc = sl_lambda_load(l, name, ncap, &cfg, NULL);
    json_decref(cfg);
    return rc;
}

int sl_lambda_get_config(struct sl_lambda *lam, const char *pk, const char *name, json_t **cfg)
{
    *cfg = NULL;
    uint64_t gen = 0;
    if ((*cfg = sl_lambda_cache_get(lam->cache, pk, name, &gen)) != NULL)
        return 0;
    struct sl_item it;
    int rc = sl_kv_get(lam->app->store, SL_LAMBDA_NS, pk, name, &it);
    if (rc)
        return rc;
    *cfg = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    if (!*cfg)
        return SL_ECORRUPT;
    sl_lambda_cache_put(lam->cache, pk, name, *cfg, gen);
    return 0;
}

int sl_lambda_load_shared(struct lreq *l, char *name, size_t ncap, json_t **cfg)
{
    char qual[130];
    int rc = sl_lambda_parse_name(l, sl_lambda_in_str(l, "FunctionName"), name, ncap, qual,
                                  sizeof(qual));
    if (rc)
        return rc;
    if (qual[0] && strcmp(qual, "$LATEST") != 0)
        return sl_lambda_load(l, name, ncap, cfg, NULL); /* answers not found */
    rc = sl_lambda_get_config(l->lam, l->pk, name, cfg);
    return rc == SL_ENOTFOUND ? sl_lambda_not_found(l, name) : rc;
}

json_t *sl_lambda_public_config(json_t *cfg)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(cfg, k, v)
    {
        if (k[0] != '_')
            json_object_set(out, k, v);
    }
    return out;
}

/* ---- changes --------------------------------------------------------- */

void sl_lambda_new_revision_id(json_t *cfg)
{
    char uuid[37];
    sl_uuid(uuid);
    json_object_set_new(cfg, "RevisionId", json_string(uuid));
}

void sl_lambda_new_revision(json_t *cfg)
{
    sl_lambda_new_revision_id(cfg);
    /* "2024-01-02T03:04:05.678+0000" */
    char iso[32], lm[40];
    sl_time_iso8601_ms(sl_time_now_ms(), iso, sizeof(iso));
    iso[23] = '\0';
    snprintf(lm, sizeof(lm), "%s+0000", iso);
    json_object_set_new(cfg, "LastModified", json_string(lm));
}

void sl_lambda_forget_cached(struct sl_lambda *lam, const char *pk, const char *name)
{
    sl_lambda_cache_forget(lam->cache, pk, name);
}

/* Reads, changes and writes the configuration in one transaction, so
 * concurrent changes cannot lose one another. */
static int change_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    struct sl_lambda_change *m = arg;
    struct sl_item it;
    int rc = sl_txn_get(t, SL_LAMBDA_NS, m->pk, m->name, &it);
    if (rc == SL_ENOTFOUND)
        err->msg[0] = '\0'; /* the function is gone: answered as Lambda does */
    if (rc)
        return rc;
    json_t *cfg = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    if (!cfg)
        return SL_ECORRUPT;
    const char *have = json_string_value(json_object_get(cfg, "RevisionId"));
    if (m->revision && (!have || strcmp(have, m->revision) != 0))
        rc = SL_ECONDITION;
    if (!rc)
        rc = m->fn(t, cfg, m->arg, err);
    char *val = NULL;
    if (!rc) {
        val = json_dumps(cfg, JSON_COMPACT);
        rc = val ? sl_txn_set_val(t, SL_LAMBDA_NS, m->pk, m->name, val, strlen(val))
                 : SL_ENOMEM;
    }
    free(val);
    if (rc)
        json_decref(cfg);
    else
        m->result = cfg;
    return rc;
}

/* After the change: the cache forgets the function, whatever the outcome. */
static int changed(struct sl_call *c)
{
    struct sl_lambda_change *m = c->write_arg;
    struct lreq *l = sl_lambda_req(c);
    sl_lambda_forget_cached(l->lam, m->pk, m->name);
    if (c->write_rc) { /* the batch may fail after the transaction succeeded */
        json_decref(m->result);
        m->result = NULL;
    }
    int rc = m->then(c);
    json_decref(m->result);
    m->result = NULL;
    return rc;
}

int sl_lambda_modify(struct lreq *l, const char *name, sl_lambda_modify_fn fn, void *arg,
                     sl_op_fn then)
{
    struct sl_lambda_change *m = sl_call_alloc(l->c, sizeof(*m));
    char *copy = m ? sl_arena_strdup(&l->c->http->arena, name) : NULL;
    if (!copy)
        return SL_ENOMEM;
    *m = (struct sl_lambda_change){.pk = l->pk,
                                   .name = copy,
                                   .revision = sl_lambda_in_str(l, "RevisionId"),
                                   .fn = fn,
                                   .arg = arg,
                                   .then = then};
    return sl_call_write(l->c, change_txn, m, changed);
}

int sl_lambda_modify_failed(struct lreq *l, const char *name, int rc, const struct sl_err *err)
{
    if (rc == SL_ENOTFOUND && err->msg[0] == '\0')
        return sl_lambda_not_found(l, name);
    if (rc == SL_ENOTFOUND)
        return sl_lambda_error(l, LAMBDA_E_NOT_FOUND, "%s", err->msg);
    if (rc == SL_ECONDITION)
        return sl_lambda_error(l, LAMBDA_E_PRECONDITION,
                               "The Revision Id provided does not match the latest Revision Id. "
                               "Call the GetFunction/GetAlias API to retrieve the latest "
                               "Revision Id");
    if (rc == SL_EEXIST)
        return sl_lambda_error(l, LAMBDA_E_CONFLICT, "%s", err->msg);
    if (rc == SL_ETOOBIG)
        return sl_lambda_error(l, LAMBDA_E_POLICY_LENGTH,
                               "The final policy size is bigger than the limit.");
    if (rc == SL_EINVAL)
        return sl_lambda_error(l, LAMBDA_E_INVALID_PARAMETER, "%s", err->msg);
    return sl_call_internal(l->c, rc, err);
}
