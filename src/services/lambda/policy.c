/*
 * Resource policies of functions: the check other services make before
 * invoking a function (sl_lambda_policy_allows: S3 may invoke only where a
 * statement allows its service principal, with SourceArn/SourceAccount
 * conditions that hold), and the policy document GetPolicy shows. The
 * statements live in the function's configuration as the private member
 * "_policy" (an array, in AWS's statement format); permissions.c changes
 * them.
 */
#include "services/lambda/internal.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

char *sl_lambda_policy_document(json_t *stmts)
{
    json_t *doc = json_pack("{s:s, s:s, s:O}", "Version", "2012-10-17", "Id", "default",
                            "Statement", stmts);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
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
