/*
 * STS: GetCallerIdentity answers with the account the caller's access key
 * belongs to (--credentials' account_id, else the default account). Keys of
 * --credentials are an account's own, so the caller is the account's root
 * user: its UserId is the account id and its ARN arn:aws:iam::<account>:root,
 * as AWS answers for root credentials. A function's session key names its
 * role's session, as AWS's do: arn:aws:sts::<account>:assumed-role/<role>/
 * <function> and UserId AROA…:<function>.
 */
#include "services/sts/sts.h"

#include <stdio.h>

#define STS_ERRORS(X)                                                                   \
    X(STS_E_INTERNAL, "InternalFailure", 500, true)                                       \
    X(STS_E_VALIDATION, "ValidationError", 400, false)                                    \
    X(STS_E_MALFORMED, "MalformedQueryString", 404, false)                                \
    X(STS_E_TOO_BIG, "ValidationError", 400, false)

enum { STS_ERRORS(SL_ERROR_ENUM) };
static const struct sl_aws_error errors[] = {STS_ERRORS(SL_ERROR_ROW)};

SL_OP(sts, GetCallerIdentity)
{
    char arn[64];
    snprintf(arn, sizeof(arn), "arn:aws:iam::%s:root", c->account);
    bool session = c->caller_arn[0] != '\0';
    return sl_call_ok(c, json_pack("{s:s, s:s, s:s}", "UserId", session ? c->caller_id : c->account,
                                   "Account", c->account, "Arn", session ? c->caller_arn : arn));
}

SL_SERVICE_TABLES(sts);

const struct sl_service sl_service_sts = {
    .name = "sts",
    .model = &sl_model_sts,
    .handlers = sl_sts_handlers,
    .errors = errors,
    .e_internal = STS_E_INTERNAL,
    .e_validation = STS_E_VALIDATION,
    .e_serialization = STS_E_MALFORMED,
    .e_too_big = STS_E_TOO_BIG,
    .body_cap = 64 * 1024,
};
