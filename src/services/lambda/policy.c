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

/* Loads the function of l for a policy change; 0, or answered. */
static int load_for_policy(struct lreq *l, char *name, size_t ncap, json_t **cfg)
{
    if (sl_lambda_load(l, name, ncap, cfg, NULL))
        return -1;
    const char *qual = in_str(l, "Qualifier");
    if (qual && qual[0] && strcmp(qual, "$LATEST") != 0) {
        sl_lambda_error(l, 404, "ResourceNotFoundException", "Function not found: %s:%s",
                        json_string_value(json_object_get(*cfg, "FunctionArn")), qual);
        json_decref(*cfg);
        return -1;
    }
    if (sl_lambda_check_revision(l, *cfg)) {
        json_decref(*cfg);
        return -1;
    }
    return 0;
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
    if (load_for_policy(l, name, sizeof(name), &cfg))
        return;
    json_t *stmts = json_object_get(cfg, "_policy");
    if (!json_is_array(stmts)) {
        stmts = json_array();
        json_object_set_new(cfg, "_policy", stmts);
    }
    if (find_statement(stmts, sid, NULL)) {
        json_decref(cfg);
        sl_lambda_error(l, 409, "ResourceConflictException",
                        "The statement id (%s) provided already exists. Please provide a new "
                        "statement id, or remove the existing statement.",
                        sid);
        return;
    }
    json_t *st = json_pack("{s:s, s:s, s:o, s:s, s:O}", "Sid", sid, "Effect", "Allow",
                           "Principal", principal_of(principal), "Action", action, "Resource",
                           json_object_get(cfg, "FunctionArn"));
    json_t *cond = json_object();
    const char *account = in_str(l, "SourceAccount"), *source = in_str(l, "SourceArn");
    const char *token = in_str(l, "EventSourceToken"), *org = in_str(l, "PrincipalOrgID");
    json_t *eq = json_object();
    if (account)
        json_object_set_new(eq, "AWS:SourceAccount", json_string(account));
    if (token)
        json_object_set_new(eq, "lambda:EventSourceToken", json_string(token));
    if (org)
        json_object_set_new(eq, "aws:PrincipalOrgID", json_string(org));
    if (json_object_size(eq))
        json_object_set(cond, "StringEquals", eq);
    json_decref(eq);
    if (source)
        json_object_set_new(cond, "ArnLike", json_pack("{s:s}", "AWS:SourceArn", source));
    if (json_object_size(cond))
        json_object_set(st, "Condition", cond);
    json_decref(cond);
    json_array_append(stmts, st);
    char *doc = policy_document(stmts);
    if (!doc || strlen(doc) > POLICY_MAX) {
        free(doc);
        json_decref(st);
        json_decref(cfg);
        sl_lambda_error(l, 400, "PolicyLengthExceededException",
                        "The final policy size is bigger than the limit.");
        return;
    }
    free(doc);
    sl_lambda_new_revision_id(cfg);
    if (sl_lambda_save(l, name, cfg) == 0) {
        char *text = json_dumps(st, JSON_COMPACT);
        json_t *out = json_pack("{s:s}", "Statement", text ? text : "{}");
        sl_lambda_respond(l, out, NULL, 0);
        json_decref(out);
        free(text);
    }
    json_decref(st);
    json_decref(cfg);
}

void sl_lambda_op_remove_permission(struct lreq *l)
{
    char name[80];
    json_t *cfg;
    if (load_for_policy(l, name, sizeof(name), &cfg))
        return;
    const char *sid = in_str(l, "StatementId");
    json_t *stmts = json_object_get(cfg, "_policy");
    size_t index;
    if (!sid || !find_statement(stmts, sid, &index)) {
        json_decref(cfg);
        sl_lambda_error(l, 404, "ResourceNotFoundException",
                        "Statement %s is not found in resource policy.", sid ? sid : "");
        return;
    }
    json_array_remove(stmts, index);
    if (json_array_size(stmts) == 0)
        json_object_del(cfg, "_policy");
    sl_lambda_new_revision_id(cfg);
    if (sl_lambda_save(l, name, cfg) == 0)
        sl_lambda_respond(l, NULL, NULL, 0);
    json_decref(cfg);
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
