/* The registry of target kinds and the delivery path by ARN (targets.h). */
#include "engine/targets.h"

#include <stdlib.h>
#include <string.h>

struct kind {
    char service[32];
    sl_target_check_fn check;
    sl_target_deliver_fn deliver;
    void *ctx;
};

/* Registered at start-up, before any delivery: read without a lock. */
struct sl_targets {
    struct kind *kinds;
    size_t n, cap;
};

int sl_targets_new(struct sl_targets **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : SL_ENOMEM;
}

void sl_targets_free(struct sl_targets *ts)
{
    if (ts)
        free(ts->kinds);
    free(ts);
}

int sl_targets_register(struct sl_targets *ts, const char *service, sl_target_check_fn check,
                        sl_target_deliver_fn deliver, void *ctx)
{
    if (!ts || !service || strlen(service) >= sizeof(ts->kinds[0].service) || !check ||
        !deliver)
        return SL_EINVAL;
    if (ts->n == ts->cap) {
        size_t cap = ts->cap ? 2 * ts->cap : 8;
        struct kind *kinds = realloc(ts->kinds, cap * sizeof(*kinds));
        if (!kinds)
            return SL_ENOMEM;
        ts->kinds = kinds;
        ts->cap = cap;
    }
    struct kind *k = &ts->kinds[ts->n++];
    memcpy(k->service, service, strlen(service) + 1);
    k->check = check;
    k->deliver = deliver;
    k->ctx = ctx;
    return 0;
}

/* The kind of "arn:<partition>:<service>:..." in *out: 0, SL_EINVAL (not
 * an ARN), or SL_ENOTSUP (a service nobody registered). */
static int kind_of(const struct sl_targets *ts, const char *arn, const struct kind **out)
{
    if (!ts || !arn || strncmp(arn, "arn:", 4) != 0)
        return SL_EINVAL;
    const char *svc = strchr(arn + 4, ':');
    if (!svc)
        return SL_EINVAL;
    svc++;
    const char *end = strchr(svc, ':');
    if (!end)
        return SL_EINVAL;
    size_t n = (size_t)(end - svc);
    for (size_t i = 0; i < ts->n; i++) {
        if (strlen(ts->kinds[i].service) == n && strncmp(ts->kinds[i].service, svc, n) == 0) {
            *out = &ts->kinds[i];
            return 0;
        }
    }
    return SL_ENOTSUP;
}

int sl_target_check(struct sl_targets *ts, const char *arn, const char *principal,
                    const char *source_arn, const char *source_account)
{
    const struct kind *k = NULL;
    int rc = kind_of(ts, arn, &k);
    return rc ? rc : k->check(k->ctx, arn, principal, source_arn, source_account);
}

int sl_target_deliver_txn(struct sl_targets *ts, struct sl_txn *t, const char *arn,
                          const char *payload, size_t len, const struct sl_target_source *src)
{
    const struct kind *k = NULL;
    int rc = kind_of(ts, arn, &k);
    return rc ? rc : k->deliver(k->ctx, t, arn, payload, len, src);
}
