/*
 * Resource policies of functions: AddPermission, RemovePermission,
 * GetPolicy, and the check other services make before invoking a function
 * (sl_lambda_policy_allows: S3 may invoke only where a statement allows
 * its service principal, with SourceArn/SourceAccount conditions that
 * hold). The statements live in the function's configuration as the
 * private member "_policy" (an array, in AWS's statement format); every
 * change gives the function a new RevisionId, which GetPolicy reports.
 */
#include "services/lambda/internal.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_MAX 20480 /* bytes of the policy document */

static const char *in_str(struct lreq *l, const char *name)
{
    return json_string_value(json_object_get(l->in, name));
}

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

/* The policy document of cfg's statements (caller frees), or NULL. */
static char *policy_document(json_t *stmts)
{
    json_t *doc = json_pack("{s:s, s:s, s:O}", "Version", "2012-10-17", "Id", "default",
                            "Statement", stmts);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
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

/* A policy change: the function, its qualifier ($LATEST only), and how
 * sl_lambda_modify() failed, answered as Lambda does. 0, or answered. */
static int qualifier_ok(struct lreq *l, const char *name)
{
    const char *qual = in_str(l, "Qualifier");
    if (qual && qual[0] && strcmp(qual, "$LATEST") != 0) {
        sl_lambda_error(l, 404, "ResourceNotFoundException",
                        "Function not found: arn:aws:lambda:%s:%s:function:%s:%s", l->q->region,
                        l->q->account, name, qual);
        return -1;
    }
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
    char *doc = policy_document(stmts);
    bool too_big = !doc || strlen(doc) > POLICY_MAX;
    free(doc);
    a->statement = too_big ? NULL : json_dumps(st, JSON_COMPACT);
    json_decref(st);
    if (too_big)
        return SL_ETOOBIG;
    sl_lambda_new_revision_id(cfg);
    return a->statement ? 0 : SL_ENOMEM;
}

void sl_lambda_op_add_permission(struct lreq *l)
{
    const char *sid = in_str(l, "StatementId"), *action = in_str(l, "Action"),
               *principal = in_str(l, "Principal");
    if (!sid || !sid[0] || strlen(sid) > 100 || !all_chars(sid, "-_")) {
        sl_lambda_error(l, 400, "ValidationException",
                        "1 validation error detected: Value '%s' at 'statementId' failed to "
                        "satisfy constraint: Member must satisfy regular expression pattern: "
                        "([a-zA-Z0-9-_]+)",
                        sid ? sid : "");
        return;
    }
    bool action_ok = action && (strcmp(action, "*") == 0 || strcmp(action, "lambda:*") == 0 ||
                                (strncmp(action, "lambda:", 7) == 0 && action[7] &&
                                 all_chars(action + 7, "") && !strpbrk(action + 7, "0123456789")));
    if (!action_ok) {
        sl_lambda_error(l, 400, "ValidationException",
                        "1 validation error detected: Value '%s' at 'action' failed to satisfy "
                        "constraint: Member must satisfy regular expression pattern: "
                        "(lambda:[*]|lambda:[a-zA-Z]+|[*])",
                        action ? action : "");
        return;
    }
    if (!principal || !principal[0] || strpbrk(principal, " \t\r\n")) {
        sl_lambda_error(l, 400, "InvalidParameterValueException",
                        "The provided principal was invalid. Please check the principal and try "
                        "again.");
        return;
    }
    char name[80];
    json_t *cfg;
    if (sl_lambda_load(l, name, sizeof(name), &cfg, NULL))
        return; /* answers a bad or unknown name */
    json_decref(cfg);
    if (qualifier_ok(l, name))
        return;
    struct add a = {sid,
                    action,
                    principal,
                    in_str(l, "SourceAccount"),
                    in_str(l, "SourceArn"),
                    in_str(l, "EventSourceToken"),
                    in_str(l, "PrincipalOrgID"),
                    NULL};
    struct sl_err err = {0};
    int rc = sl_lambda_modify(l, name, add_statement, &a, &err, NULL);
    if (rc) {
        sl_lambda_modify_failed(l, name, rc, &err);
    } else {
        json_t *out = json_pack("{s:s}", "Statement", a.statement);
        sl_lambda_respond(l, out, NULL, 0);
        json_decref(out);
    }
    free(a.statement);
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

void sl_lambda_op_remove_permission(struct lreq *l)
{
    char name[80];
    json_t *cfg;
    if (sl_lambda_load(l, name, sizeof(name), &cfg, NULL))
        return;
    json_decref(cfg);
    if (qualifier_ok(l, name))
        return;
    const char *sid = in_str(l, "StatementId");
    struct sl_err err = {0};
    int rc = sl_lambda_modify(l, name, remove_statement, (void *)(sid ? sid : ""), &err, NULL);
    if (rc)
        sl_lambda_modify_failed(l, name, rc, &err);
    else
        sl_lambda_respond(l, NULL, NULL, 0);
}

void sl_lambda_op_get_policy(struct lreq *l)
{
    char name[80];
    json_t *cfg;
    if (sl_lambda_load(l, name, sizeof(name), &cfg, NULL))
        return;
    json_t *stmts = json_object_get(cfg, "_policy");
    const char *qual = in_str(l, "Qualifier");
    if (json_array_size(stmts) == 0 || (qual && qual[0] && strcmp(qual, "$LATEST") != 0)) {
        json_decref(cfg);
        sl_lambda_error(l, 404, "ResourceNotFoundException",
                        "The resource you requested does not exist.");
        return;
    }
    char *doc = policy_document(stmts);
    json_t *out = json_pack("{s:s, s:O}", "Policy", doc ? doc : "{}", "RevisionId",
                            json_object_get(cfg, "RevisionId"));
    sl_lambda_respond(l, out, NULL, 0);
    json_decref(out);
    free(doc);
    json_decref(cfg);
}

/* ---- the check ------------------------------------------------------------ */

/* The statement's principal covers the service: the service itself, or
 * everyone. */
static bool principal_matches(json_t *p, const char *service)
{
    if (json_is_string(p))
        return strcmp(json_string_value(p), "*") == 0;
    const char *svc = json_string_value(json_object_get(p, "Service"));
    const char *aws = json_string_value(json_object_get(p, "AWS"));
    return (svc && strcmp(svc, service) == 0) || (aws && strcmp(aws, "*") == 0);
}

static bool action_allows_invoke(const char *a)
{
    return a && (strcmp(a, "*") == 0 || strcmp(a, "lambda:*") == 0 ||
                 strcmp(a, "lambda:InvokeFunction") == 0);
}

/* Every condition of the statement holds for source_arn / source_account
 * (conditions Sluice cannot evaluate do not hold). */
static bool conditions_hold(json_t *cond, const char *source_arn, const char *source_account)
{
    const char *op;
    json_t *tests;
    json_object_foreach(cond, op, tests)
    {
        const char *key;
        json_t *want;
        json_object_foreach(tests, key, want)
        {
            const char *w = json_string_value(want);
            if (!w)
                return false;
            if (strcmp(key, "AWS:SourceArn") == 0 || strcmp(key, "aws:SourceArn") == 0) {
                bool like = strcmp(op, "ArnLike") == 0 || strcmp(op, "StringLike") == 0;
                bool eq = strcmp(op, "ArnEquals") == 0 || strcmp(op, "StringEquals") == 0;
                if (!source_arn || !((like && fnmatch(w, source_arn, 0) == 0) ||
                                     (eq && strcmp(w, source_arn) == 0)))
                    return false;
            } else if (strcmp(key, "AWS:SourceAccount") == 0 ||
                       strcmp(key, "aws:SourceAccount") == 0) {
                if (!source_account || strcmp(op, "StringEquals") != 0 ||
                    strcmp(w, source_account) != 0)
                    return false;
            } else {
                return false;
            }
        }
    }
    return true;
}

bool sl_lambda_policy_allows(json_t *cfg, const char *service, const char *source_arn,
                             const char *source_account)
{
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(cfg, "_policy"), i, st)
    {
        const char *effect = json_string_value(json_object_get(st, "Effect"));
        if (!effect || strcmp(effect, "Allow") != 0 ||
            !action_allows_invoke(json_string_value(json_object_get(st, "Action"))) ||
            !principal_matches(json_object_get(st, "Principal"), service))
            continue;
        if (conditions_hold(json_object_get(st, "Condition"), source_arn, source_account))
            return true;
    }
    return false;
}
