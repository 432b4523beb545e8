/*
 * SNS's row of the service table, and what its operations share: topics'
 * places and records, its counts, and topics as targets (engine/targets.h)
 * of S3 notifications, Lambda destinations, stream mappings' on-failure
 * records and dead-letter queues: a delivery is a publish inside the
 * transaction that caused it.
 */
#include "services/sns/internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct sl_aws_error errors[] = {SNS_ERRORS(SL_ERROR_ROW)};

/* ---- topics --------------------------------------------------------------- */

void sns_ref_make(struct sns_ref *out, const char *account, const char *region,
                  const char *name)
{
    memset(out, 0, sizeof(*out));
    sl_strlcpy(out->account, account, sizeof(out->account));
    sl_strlcpy(out->region, region, sizeof(out->region));
    sl_strlcpy(out->name, name, sizeof(out->name));
    snprintf(out->pk, sizeof(out->pk), "%s/%s", out->account, out->region);
    snprintf(out->arn, sizeof(out->arn), "arn:aws:sns:%s:%s:%s", out->region, out->account,
             out->name);
}

bool sns_ref_from_arn(const char *arn, struct sns_ref *out)
{
    static const char prefix[] = "arn:aws:sns:";
    if (!arn || strncmp(arn, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *r = arn + sizeof(prefix) - 1;
    const char *a = strchr(r, ':');
    const char *n = a ? strchr(a + 1, ':') : NULL;
    if (!a || !n || a == r || n == a + 1 || !n[1] || strchr(n + 1, ':') ||
        (size_t)(a - r) >= sizeof(out->region) || (size_t)(n - a - 1) >= sizeof(out->account) ||
        strlen(n + 1) >= sizeof(out->name))
        return false;
    char region[64], account[16];
    memcpy(region, r, (size_t)(a - r));
    region[a - r] = '\0';
    memcpy(account, a + 1, (size_t)(n - a - 1));
    account[n - a - 1] = '\0';
    sns_ref_make(out, account, region, n + 1);
    return true;
}

void sns_topic_clear(struct sns_topic *t)
{
    json_decref(t->rec);
    memset(t, 0, sizeof(*t));
}

static int topic_parse(int rc, struct sl_item *it, struct sns_topic *out)
{
    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    out->rec = json_loadb(it->val, it->val_len, 0, NULL);
    sl_item_free(it);
    out->attrs = json_object_get(out->rec, "Attributes");
    if (!json_is_object(out->attrs)) {
        sns_topic_clear(out);
        return SL_ECORRUPT;
    }
    const char *fifo = json_string_value(json_object_get(out->attrs, "FifoTopic"));
    const char *cbd = json_string_value(json_object_get(out->attrs, "ContentBasedDeduplication"));
    out->fifo = fifo && strcmp(fifo, "true") == 0;
    out->content_dedup = cbd && strcmp(cbd, "true") == 0;
    return 0;
}

int sns_topic_read(struct sl_store *s, const struct sns_ref *r, struct sns_topic *out)
{
    struct sl_item it;
    return topic_parse(sl_kv_get(s, SNS_NS_TOPIC, r->pk, r->name, &it), &it, out);
}

int sns_topic_read_txn(struct sl_txn *t, const struct sns_ref *r, struct sns_topic *out)
{
    struct sl_item it;
    return topic_parse(sl_txn_get(t, SNS_NS_TOPIC, r->pk, r->name, &it), &it, out);
}

int sns_call_topic(struct sl_call *c, const char *member, struct sns_ref *r, struct sns_topic *t)
{
    const char *arn = json_string_value(json_object_get(c->in, member));
    if (!arn || !sns_ref_from_arn(arn, r))
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: %s Reason: An ARN must have "
                                              "at least 6 elements, not %s",
                            member, arn ? "a topic's" : "none");
    if (strcmp(r->account, c->account) != 0 || strcmp(r->region, c->region) != 0)
        return sl_call_fail(c, SNS_E_NOT_FOUND, "Topic does not exist");
    int rc = sns_topic_read(c->app->store, r, t);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, SNS_E_NOT_FOUND, "Topic does not exist");
    return rc ? sl_call_internal(c, rc, NULL) : 0;
}

/* ---- counts ----------------------------------------------------------------- */

struct sns_count *sns_count_of(struct sns *st, const char *arn)
{
    pthread_mutex_lock(&st->mu);
    struct sns_count *k = st->counts;
    while (k && strcmp(k->arn, arn) != 0)
        k = k->next;
    if (!k && (k = calloc(1, sizeof(*k))) != NULL) {
        sl_strlcpy(k->arn, arn, sizeof(k->arn));
        k->next = st->counts;
        st->counts = k;
    }
    pthread_mutex_unlock(&st->mu);
    return k;
}

static void sns_metrics(void *state, struct sl_buf *out)
{
    struct sns *st = state;
    static const char *const names[] = {"published", "delivered", "failed"};
    static const char *const help[] = {
        "Messages published to a topic (Publish, PublishBatch and deliveries to it).",
        "Copies of a topic's messages delivered to its subscriptions.",
        "Copies of a topic's messages its subscriptions' endpoints could not take.",
    };
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < 3; i++) {
        sl_buf_printf(out, "# HELP sluice_sns_%s_total %s\n# TYPE sluice_sns_%s_total counter\n",
                      names[i], help[i], names[i]);
        for (struct sns_count *k = st->counts; k; k = k->next) {
            uint64_t v = i == 0   ? atomic_load(&k->published)
                         : i == 1 ? atomic_load(&k->delivered)
                                  : atomic_load(&k->failed);
            sl_buf_printf(out, "sluice_sns_%s_total{topic=\"%s\"} %llu\n", names[i], k->arn,
                          (unsigned long long)v);
        }
    }
    pthread_mutex_unlock(&st->mu);
}

/* ---- topics as targets --------------------------------------------------------- */

static int target_check(void *ctx, const char *arn, const char *principal,
                        const char *source_arn, const char *source_account)
{
    (void)principal;
    (void)source_arn;
    (void)source_account;
    struct sns *st = ctx;
    struct sns_ref r;
    if (!sns_ref_from_arn(arn, &r))
        return SL_EINVAL;
    struct sns_topic t;
    int rc = sns_topic_read(st->app->store, &r, &t);
    /* (Services deliver to standard topics only, as on AWS.) */
    if (!rc && t.fifo)
        rc = SL_EINVAL;
    sns_topic_clear(&t);
    return rc;
}

static int target_deliver(void *ctx, struct sl_txn *t, const char *arn, const char *payload,
                          size_t len, const struct sl_target_source *src)
{
    struct sns *st = ctx;
    struct sns_ref r;
    struct sns_topic topic;
    if (!sns_ref_from_arn(arn, &r))
        return 0;
    int rc = sns_topic_read_txn(t, &r, &topic);
    if (rc == SL_ENOTFOUND || (!rc && topic.fifo)) {
        /* Gone since it was checked: dropped, as AWS drops it; what caused
         * it still commits. */
        sl_warn("sns", "%s: no standard topic to deliver to; event dropped", arn);
        sns_topic_clear(&topic);
        return 0;
    }
    if (rc)
        return rc;
    char *text = strndup(payload, len);
    bool s3 = src && src->principal && strcmp(src->principal, "s3.amazonaws.com") == 0;
    struct sns_message m = {
        .message = text,
        .subject = s3 ? "Amazon S3 Notification" : NULL,
    };
    rc = text ? sns_publish_txn(t, st, &r, &topic, &m) : SL_ENOMEM;
    free(text);
    sns_topic_clear(&topic);
    return rc;
}

static const struct sl_target_kind targets[] = {
    {"sns", target_check, target_deliver},
    {NULL, NULL, NULL},
};

/* ---- the row ------------------------------------------------------------------- */

static int sns_new(struct sl_app *app, void **state, struct sl_err *err)
{
    (void)err;
    struct sns *st = calloc(1, sizeof(*st));
    if (!st)
        return SL_ENOMEM;
    st->app = app;
    pthread_mutex_init(&st->mu, NULL);
    *state = st;
    return 0;
}

static int sns_start(void *state, struct sl_err *err)
{
    return sns_http_start(state, err);
}

static void sns_stop(void *state)
{
    sns_http_stop(state);
}

static void sns_free(void *state)
{
    struct sns *st = state;
    if (!st)
        return;
    sns_http_free(st);
    while (st->counts) {
        struct sns_count *k = st->counts;
        st->counts = k->next;
        free(k);
    }
    pthread_mutex_destroy(&st->mu);
    free(st);
}

static const struct sl_option options[] = {
    {"--sns-https-ca-file", "SLUICE_SNS_HTTPS_CA_FILE", NULL,
     "a PEM file of certificate authorities that https subscriptions' endpoints may be signed "
     "by, besides the system's",
     false},
    {NULL, NULL, NULL, NULL, false},
};

SL_SERVICE_TABLES(sns);

const struct sl_service sl_service_sns = {
    .name = "sns",
    .model = &sl_model_sns,
    .handlers = sl_sns_handlers,
    .errors = errors,
    .e_internal = SNS_E_INTERNAL,
    .e_validation = SNS_E_INVALID,
    .e_serialization = SNS_E_MALFORMED,
    .e_too_big = SNS_E_INVALID,
    /* A PublishBatch carries up to 256 KB of messages, query-encoded. */
    .body_cap = 1024 * 1024,
    .new = sns_new,
    .start = sns_start,
    .stop = sns_stop,
    .free = sns_free,
    .options = options,
    .targets = targets,
    .metrics = sns_metrics,
};
