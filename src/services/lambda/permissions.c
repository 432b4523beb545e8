/*
 * Resource policies of functions: AddPermission, RemovePermission and
 * GetPolicy. The statements live in the function's configuration as the
 * private member "_policy" (policy.c); every change gives the function a
 * new RevisionId, which GetPolicy reports.
 */
#include "services/lambda/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_MAX 20480 /* bytes of the policy document */

static bool all_chars(const char *s, const char *extra)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(extra, c)))
            return false;
    }
    return true;
}

/* Principal as a policy shows it. */
static json_t *principal_of(const char *p)
{
    if (strcmp(p, "*") == 0)
        return json_string("*");
    size_t n = strlen(p);
    bool digits = n == 12 && all_chars(p, "") && strspn(p, "0123456789") == 12;
    if (digits) {
        char arn[64];
        snprintf(arn, sizeof(arn), "arn:aws:iam::%s:root", p);
        return json_pack("{s:s}", "AWS", arn);
    }
    if (strncmp(p, "arn:", 4) == 0)
        return json_pack("{s:s}", "AWS", p);
    return json_pack("{s:s}", "Service", p);
}

static json_t *find_statement(json_t *stmts, const char *sid, size_t *index)
{
    size_t i;
    json_t *s;
    json_array_foreach(stmts, i, s)
    {
        const char *have = json_string_value(json_object_get(s, "Sid"));
        if (have && strcmp(have, sid) == 0) {
            if (index)
                *index = i;
            return s;
        }
    }
    return NULL;
}

/* A policy change's qualifier ($LATEST only): 0, or answered (SL_DONE). */
static int qualifier_ok(struct lreq *l, const char *name)
{
    const char *qual = sl_lambda_in_str(l, "Qualifier");
    if (qual && qual[0] && strcmp(qual, "$LATEST") != 0)
        return sl_lambda_error(l, LAMBDA_E_NOT_FOUND,
                               "Function not found: arn:aws:lambda:%s:%s:function:%s:%s",
                               l->c->region, l->c->account, name, qual);
    return 0;
}

struct add {
    const char *sid, *action, *principal, *account, *source, *token, *org;
    char *statement; /* out: the statement added, JSON */
};

static int add_statement(struct sl_txn *t, json_t *cfg, void *arg, struct sl_err *err)
{
    (void)t;
    struct add *a = arg;
    json_t *stmts = json_object_get(cfg, "_policy");
    if (!json_is_array(stmts)) {
        stmts = json_array();
        json_object_set_new(cfg, "_policy", stmts);
    }
    if (find_statement(stmts, a->sid, NULL))
        return sl_errf(err, SL_EEXIST,
                       "The statement id (%s) provided already exists. Please provide a new "
                       "statement id, or remove the existing statement.",
                       a->sid);
    json_t *st = json_pack("{s:s, s:s, s:o, s:s, s:O}", "Sid", a->sid, "Effect", "Allow",
                           "Principal", principal_of(a->principal), "Action", a->action,
                           "Resource", json_object_get(cfg, "FunctionArn"));
    if (!st)
        return SL_ENOMEM;
    json_t *cond = json_object(), *eq = json_object();
    if (a->account)
        json_object_set_new(eq, "AWS:SourceAccount", json_string(a->account));
    if (a->token)
        json_object_set_new(eq, "lambda:EventSourceToken", json_string(a->token));
    if (a->org)
        json_object_set_new(eq, "aws:PrincipalOrgID", json_string(a->org));
    if (json_object_size(eq))
        json_object_set(cond, "StringEquals", eq);
    json_decref(eq);
    if (a->source)
        json_object_set_new(cond, "ArnLike", json_pack("{s:s}", "AWS:SourceArn", a->source));
    if (json_object_size(cond))
        json_object_set(st, "Condition", cond);
    json_decref(cond);
    json_array_append(stmts, st);
    char *doc = sl_lambda_policy_document(stmts);
    bool too_big = !doc || strlen(doc) > POLICY_MAX;
    free(doc);
    a->statement = too_big ? NULL : json_dumps(st, JSON_COMPACT);
    json_decref(st);
    if (too_big)
        return SL_ETOOBIG;
    sl_lambda_new_revision_id(cfg);
    return a->statement ? 0 : SL_ENOMEM;
}

static int permission_added(struct sl_call *c)
{
    struct lreq *l = sl_lambda_req(c);
    struct sl_lambda_change *m = c->write_arg;
    struct add *a = m->arg;
    int rc = c->write_rc ? sl_lambda_modify_failed(l, m->name, c->write_rc, &c->write_err)
                         : sl_call_ok(c, json_pack("{s:s}", "Statement", a->statement));
    free(a->statement);
    return rc;
}

SL_OP(lambda, AddPermission)
{
    struct lreq *l = sl_lambda_req(c);
    struct add *a = sl_call_alloc(c, sizeof(*a));
    if (!l || !a)
        return SL_ENOMEM;
    const char *sid = sl_lambda_in_str(l, "StatementId"), *action = sl_lambda_in_str(l, "Action"),
               *principal = sl_lambda_in_str(l, "Principal");
    if (!sid || !sid[0] || strlen(sid) > 100 || !all_chars(sid, "-_"))
        return sl_lambda_error(l, LAMBDA_E_VALIDATION,
                               "1 validation error detected: Value '%s' at 'statementId' failed "
                               "to satisfy constraint: Member must satisfy regular expression "
                               "pattern: ([a-zA-Z0-9-_]+)",
                               sid ? sid : "");
    bool action_ok = action && (strcmp(action, "*") == 0 || strcmp(action, "lambda:*") == 0 ||
                                (strncmp(action, "lambda:", 7) == 0 && action[7] &&
                                 all_chars(action + 7, "") && !strpbrk(action + 7, "0123456789")));
    if (!action_ok)
        return sl_lambda_error(l, LAMBDA_E_VALIDATION,
                               "1 validation error detected: Value '%s' at 'action' failed to "
                               "satisfy constraint: Member must satisfy regular expression "
                               "pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])",
                               action ? action : "");
    if (!principal || !principal[0] || strpbrk(principal, " \t\r\n"))
        return sl_lambda_invalid(l, "The provided principal was invalid. Please check the "
                                    "principal and try again.");
    char name[80];
    int rc = sl_lambda_exists(l, name, sizeof(name));
    if (rc)
        return rc; /* a bad or unknown name */
    if ((rc = qualifier_ok(l, name)) != 0)
        return rc;
    *a = (struct add){sid,
                      action,
                      principal,
                      sl_lambda_in_str(l, "SourceAccount"),
                      sl_lambda_in_str(l, "SourceArn"),
                      sl_lambda_in_str(l, "EventSourceToken"),
                      sl_lambda_in_str(l, "PrincipalOrgID"),
                      NULL};
    return sl_lambda_modify(l, name, add_statement, a, permission_added);
}

static int remove_statement(struct sl_txn *t, json_t *cfg, void *arg, struct sl_err *err)
{
    (void)t;
    const char *sid = arg;
    json_t *stmts = json_object_get(cfg, "_policy");
    size_t index;
    if (!find_statement(stmts, sid, &index))
        return sl_errf(err, SL_ENOTFOUND, "Statement %s is not found in resource policy.", sid);
    json_array_remove(stmts, index);
    if (json_array_size(stmts) == 0)
        json_object_del(cfg, "_policy");
    sl_lambda_new_revision_id(cfg);
    return 0;
}

static int permission_removed(struct sl_call *c)
{
    struct sl_lambda_change *m = c->write_arg;
    if (c->write_rc)
        return sl_lambda_modify_failed(sl_lambda_req(c), m->name, c->write_rc, &c->write_err);
    return 0;
}

SL_OP(lambda, RemovePermission)
{
    struct lreq *l = sl_lambda_req(c);
    if (!l)
        return SL_ENOMEM;
    char name[80];
    int rc = sl_lambda_exists(l, name, sizeof(name));
    if (rc)
        return rc;
    if ((rc = qualifier_ok(l, name)) != 0)
        return rc;
    const char *sid = sl_lambda_in_str(l, "StatementId");
    return sl_lambda_modify(l, name, remove_statement, (void *)(sid ? sid : ""),
                            permission_removed);
}

SL_OP(lambda, GetPolicy)
{
    struct lreq *l = sl_lambda_req(c);
    if (!l)
        return SL_ENOMEM;
    char name[80];
    json_t *cfg;
    int rc = sl_lambda_load(l, name, sizeof(name), &cfg, NULL);
    if (rc)
        return rc;
    json_t *stmts = json_object_get(cfg, "_policy");
    const char *qual = sl_lambda_in_str(l, "Qualifier");
    if (json_array_size(stmts) == 0 || (qual && qual[0] && strcmp(qual, "$LATEST") != 0)) {
        json_decref(cfg);
        return sl_lambda_error(l, LAMBDA_E_NOT_FOUND,
                               "The resource you requested does not exist.");
    }
    char *doc = sl_lambda_policy_document(stmts);
    json_t *out = json_pack("{s:s, s:O}", "Policy", doc ? doc : "{}", "RevisionId",
                            json_object_get(cfg, "RevisionId"));
    free(doc);
    json_decref(cfg);
    return sl_call_ok(c, out);
}
