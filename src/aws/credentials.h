/*
 * Credentials for --auth=strict: access keys with their secrets and the
 * account each belongs to, read from a file in the AWS shared-credentials
 * INI format. A profile may carry `account_id`; the default is
 * 000000000000.
 *
 * May call: core.
 */
#ifndef SL_AWS_CREDENTIALS_H
#define SL_AWS_CREDENTIALS_H

#include "core/core.h"

struct sl_credential {
    char *access_key, *secret_key, *account;
};

struct sl_credentials {
    struct sl_credential *items;
    size_t n;
};

/* Reads path; SL_EIO / SL_EINVAL with err naming the file and line. */
int sl_credentials_load(struct sl_credentials *c, const char *path, struct sl_err *err);
/* Parses INI text (for tests). */
int sl_credentials_parse(struct sl_credentials *c, const char *text, struct sl_err *err);
void sl_credentials_free(struct sl_credentials *c);
/* The credential of access_key, or NULL. */
const struct sl_credential *sl_credentials_find(const struct sl_credentials *c,
                                                const char *access_key);

#endif
