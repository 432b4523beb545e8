/*
 * SNS's http and https subscriptions: the messages they get (confirmation
 * requests, notifications, unsubscribe confirmations) are put on a store
 * queue in the transaction that causes them, and a consumer
 * (engine/consumer.h) posts them through the outbound HTTP client
 * (http/client.h) with AWS's headers:
 *   - an answer from 200 to 499 ends the delivery (AWS retries neither
 *     success nor a client error);
 *   - 5xx, no connection, or no answer within 15 s fail the try: it runs
 *     again by the delivery policy (the subscription's healthyRetryPolicy,
 *     else the topic's http.defaultHealthyRetryPolicy, else AWS's 3
 *     retries 20 s apart), then goes to the subscription's dead-letter
 *     queue if it has one.
 * The retries' phases follow AWS's: immediate, then at the minimum
 * delay, a backoff from minimum to maximum (linear, arithmetic, geometric
 * or exponential), then at the maximum.
 *
 * Storage:
 *   queue sns.http    a message to post: the body, meta JSON {"url",
 *                     "type", "mid", "topic", "sub", "raw", "ctype",
 *                     "retry", "dlq"} (the consumer adds its counts)
 */
#include "services/sns/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/consumer.h"
#include "http/client.h"

#define HTTP_Q "sns.http"
#define HTTP_TIMEOUT_MS 15000
#define HTTP_INFLIGHT 32
#define HTTP_LEASE_MS (5 * 60 * 1000)
#define RETRY_MAX_TOTAL_S 3600

/* ---- delivery policies ----------------------------------------------------------- */

struct retry_policy {
    long min_delay, max_delay; /* seconds */
    long retries, no_delay, min_retries, max_retries;
    char backoff[16];
};

static const struct retry_policy aws_default = {20, 20, 3, 0, 0, 0, "linear"};

static const char *const content_types[] = {
    "text/plain; charset=UTF-8", "text/plain", "application/json", "application/xml",
    "text/html",        "text/xml",             "text/css",
    "text/csv",         "text/javascript",      "application/javascript",
    "application/x-www-form-urlencoded",        "application/octet-stream",
    "multipart/form-data", "multipart/mixed",   "application/EDI-X12",
    "application/EDIFACT", "application/atom+xml", "application/font-woff",
    "application/gzip", "application/ld+json",  "application/ogg",
    "application/pdf",  "application/postscript", "application/rdf+xml",
    "application/rss+xml", "application/soap+xml", "application/vnd.api+json",
    "application/x-httpd-php", "application/x-shockwave-flash", "application/xhtml+xml",
    "application/zip",  "text/x-markdown",
};

/* A member of o: a non-negative integer (or absent: def). false when it
 * is of another type. */
static bool int_member(const json_t *o, const char *name, long def, long *out)
{
    json_t *v = json_object_get(o, name);
    if (!v) {
        *out = def;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000)
        return false;
    *out = (long)json_integer_value(v);
    return true;
}

/* Delay (seconds) before retry k (1-based) of p. */
static double retry_delay_s(const struct retry_policy *p, long k)
{
    if (k <= p->no_delay)
        return 0;
    k -= p->no_delay;
    if (k <= p->min_retries)
        return (double)p->min_delay;
    k -= p->min_retries;
    long backoff = p->retries - p->no_delay - p->min_retries - p->max_retries;
    if (k > backoff)
        return (double)p->max_delay;
    double lo = (double)p->min_delay, hi = (double)p->max_delay;
    double f = (double)k / (double)backoff; /* 0 < f ≤ 1 */
    if (strcmp(p->backoff, "arithmetic") == 0)
        return lo + (hi - lo) * f * f;
    if (strcmp(p->backoff, "geometric") == 0)
        return lo * pow(hi / lo, f);
    if (strcmp(p->backoff, "exponential") == 0)
        return lo + (hi - lo) * (exp2((double)k) - 1) / (exp2((double)backoff) - 1);
    return lo + (hi - lo) * f;
}

/* p from a healthyRetryPolicy object: 0, or SL_EINVAL with why. */
static int retry_parse(const json_t *o, struct retry_policy *p, char *why, size_t n)
{
    *p = aws_default;
    if (!json_is_object(o)) {
        snprintf(why, n, "healthyRetryPolicy must be an object");
        return SL_EINVAL;
    }
    static const char *const known[] = {"minDelayTarget",     "maxDelayTarget",
                                        "numRetries",         "numNoDelayRetries",
                                        "numMinDelayRetries", "numMaxDelayRetries",
                                        "backoffFunction"};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        bool ok = false;
        for (size_t i = 0; i < SL_ARRAY_LEN(known) && !ok; i++)
            ok = strcmp(k, known[i]) == 0;
        if (!ok) {
            snprintf(why, n, "healthyRetryPolicy: unknown field %s", k);
            return SL_EINVAL;
        }
    }
    if (!int_member(o, "minDelayTarget", aws_default.min_delay, &p->min_delay) ||
        !int_member(o, "maxDelayTarget", aws_default.max_delay, &p->max_delay) ||
        !int_member(o, "numRetries", aws_default.retries, &p->retries) ||
        !int_member(o, "numNoDelayRetries", 0, &p->no_delay) ||
        !int_member(o, "numMinDelayRetries", 0, &p->min_retries) ||
        !int_member(o, "numMaxDelayRetries", 0, &p->max_retries)) {
        snprintf(why, n, "healthyRetryPolicy: the delays and counts must be non-negative "
                         "integers");
        return SL_EINVAL;
    }
    const char *backoff = json_string_value(json_object_get(o, "backoffFunction"));
    if (json_object_get(o, "backoffFunction") && !backoff)
        backoff = "";
    if (backoff) {
        if (strcmp(backoff, "linear") && strcmp(backoff, "arithmetic") &&
            strcmp(backoff, "geometric") && strcmp(backoff, "exponential")) {
            snprintf(why, n, "healthyRetryPolicy: backoffFunction must be linear, arithmetic, "
                             "geometric or exponential");
            return SL_EINVAL;
        }
        sl_strlcpy(p->backoff, backoff, sizeof(p->backoff));
    }
    if (p->min_delay < 1 || p->max_delay < 1) {
        snprintf(why, n, "healthyRetryPolicy: minDelayTarget and maxDelayTarget must be at "
                         "least 1");
        return SL_EINVAL;
    }
    if (p->min_delay > p->max_delay) {
        snprintf(why, n, "healthyRetryPolicy: minDelayTarget must be less than or equal to "
                         "maxDelayTarget");
        return SL_EINVAL;
    }
    if (p->retries > 100) {
        snprintf(why, n, "healthyRetryPolicy: numRetries must be at most 100");
        return SL_EINVAL;
    }
    if (p->no_delay + p->min_retries + p->max_retries > p->retries) {
        snprintf(why, n, "healthyRetryPolicy: numNoDelayRetries, numMinDelayRetries and "
                         "numMaxDelayRetries together exceed numRetries");
        return SL_EINVAL;
    }
    double total = 0;
    for (long k = 1; k <= p->retries; k++)
        total += retry_delay_s(p, k);
    if (total > RETRY_MAX_TOTAL_S) {
        snprintf(why, n, "healthyRetryPolicy: the total policy retry time must not exceed "
                         "3600 seconds");
        return SL_EINVAL;
    }
    return 0;
}

static bool content_type_ok(const char *t)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(content_types); i++)
        if (strcmp(t, content_types[i]) == 0)
            return true;
    return false;
}

int sns_delivery_policy_check(const char *text, bool topic, char *msg, size_t n)
{
    char why[256] = "";
    int rc = 0;
    json_t *o = json_loads(text, 0, NULL);
    json_t *http = topic ? json_object_get(o, "http") : o;
    if (!json_is_object(o) || (topic && http && !json_is_object(http))) {
        snprintf(why, sizeof(why), "not a JSON object");
        rc = SL_EINVAL;
    }
    struct retry_policy p;
    json_t *retry = json_object_get(http, topic ? "defaultHealthyRetryPolicy"
                                                : "healthyRetryPolicy");
    if (!rc && retry)
        rc = retry_parse(retry, &p, why, sizeof(why));
    json_t *req = json_object_get(http, topic ? "defaultRequestPolicy" : "requestPolicy");
    const char *ctype = json_string_value(json_object_get(req, "headerContentType"));
    if (!rc && req && (!json_is_object(req) || (json_object_get(req, "headerContentType") &&
                                                 (!ctype || !content_type_ok(ctype))))) {
        snprintf(why, sizeof(why), "requestPolicy: headerContentType is not one of the "
                                   "supported content types");
        rc = SL_EINVAL;
    }
    json_t *thr = json_object_get(http, topic ? "defaultThrottlePolicy" : "throttlePolicy");
    json_t *mrps = json_object_get(thr, "maxReceivesPerSecond");
    if (!rc && thr && (!json_is_object(thr) ||
                       (mrps && (!json_is_integer(mrps) || json_integer_value(mrps) < 1)))) {
        snprintf(why, sizeof(why), "throttlePolicy: maxReceivesPerSecond must be a positive "
                                   "integer");
        rc = SL_EINVAL;
    }
    json_decref(o);
    if (rc)
        snprintf(msg, n, "Invalid parameter: DeliveryPolicy: %s", why);
    return rc;
}

/* The policy a subscription's deliveries follow: {"retry": {...},
 * "ctype": "..."} with what the subscription or its topic set (absent:
 * AWS's). A new object. */
static json_t *effective_policy(const json_t *topic_attrs, const json_t *sub_attrs)
{
    json_t *out = json_object();
    const char *tp = json_string_value(json_object_get(topic_attrs, "DeliveryPolicy"));
    const char *sp = json_string_value(json_object_get(sub_attrs, "DeliveryPolicy"));
    json_t *topic = tp ? json_loads(tp, 0, NULL) : NULL;
    json_t *sub = sp ? json_loads(sp, 0, NULL) : NULL;
    json_t *http = json_object_get(topic, "http");
    bool overrides = !json_is_true(json_object_get(http, "disableSubscriptionOverrides"));
    json_t *retry = overrides ? json_object_get(sub, "healthyRetryPolicy") : NULL;
    if (!retry)
        retry = json_object_get(http, "defaultHealthyRetryPolicy");
    if (json_is_object(retry))
        json_object_set(out, "retry", retry);
    json_t *req = overrides ? json_object_get(sub, "requestPolicy") : NULL;
    if (!json_object_get(req, "headerContentType"))
        req = json_object_get(http, "defaultRequestPolicy");
    /* (Checked again: it becomes a header, and a topic's policy may have
     * been stored before policies were checked.) */
    json_t *ctype = json_object_get(req, "headerContentType");
    if (json_is_string(ctype) && content_type_ok(json_string_value(ctype)))
        json_object_set(out, "ctype", ctype);
    json_decref(topic);
    json_decref(sub);
    return out;
}

char *sns_effective_delivery_policy(const json_t *topic_attrs, const json_t *sub_attrs)
{
    json_t *eff = effective_policy(topic_attrs, sub_attrs);
    struct retry_policy p = aws_default;
    char why[256];
    json_t *retry = json_object_get(eff, "retry");
    if (retry && retry_parse(retry, &p, why, sizeof(why)))
        p = aws_default;
    json_t *out = json_pack(
        "{s:{s:i, s:i, s:i, s:i, s:i, s:i, s:s}, s:n, s:n, s:b}", "healthyRetryPolicy",
        "minDelayTarget", (int)p.min_delay, "maxDelayTarget", (int)p.max_delay, "numRetries",
        (int)p.retries, "numMaxDelayRetries", (int)p.max_retries, "numNoDelayRetries",
        (int)p.no_delay, "numMinDelayRetries", (int)p.min_retries, "backoffFunction", p.backoff,
        "sicklyRetryPolicy", "throttlePolicy", "guaranteed", 0);
    json_t *ctype = json_object_get(eff, "ctype");
    if (out && ctype)
        json_object_set_new(out, "requestPolicy", json_pack("{s:O}", "headerContentType", ctype));
    char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    json_decref(eff);
    return text;
}

/* ---- putting messages on the queue ---------------------------------------------- */

int sns_http_put_txn(struct sl_txn *t, const struct sns_http_msg *hm)
{
    json_t *meta = json_pack("{s:s, s:s, s:s, s:s, s:b}", "url", hm->url, "type", hm->type,
                             "mid", hm->message_id, "topic", hm->topic_arn, "raw", hm->raw);
    if (!meta)
        return SL_ENOMEM;
    if (hm->sub_arn)
        json_object_set_new(meta, "sub", json_string(hm->sub_arn));
    json_t *policy = effective_policy(hm->topic_attrs, hm->sub_attrs);
    json_object_update(meta, policy);
    json_decref(policy);
    if (hm->dlq)
        json_object_set_new(meta, "dlq", json_string(hm->dlq));
    char *text = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    int rc = text ? sl_txn_queue_put(t, HTTP_Q, NULL, hm->body, strlen(hm->body), text, 0, NULL)
                  : SL_ENOMEM;
    free(text);
    return rc;
}

/* ---- the consumer ------------------------------------------------------------------ */

struct post {
    struct sns *st;
    struct sl_delivery *d;
    json_t *meta; /* borrowed: d->meta */
};

static int prepare(void *ctx, struct sl_delivery *d)
{
    struct sns *st = ctx;
    const char *url = json_string_value(json_object_get(d->meta, "url"));
    if (!url)
        return SL_ENOTFOUND; /* (not a message of ours: dropped) */
    /* A subscription deleted meanwhile (or its topic) gets nothing more,
     * but the unsubscribe confirmation that says so. */
    const char *type = json_string_value(json_object_get(d->meta, "type"));
    const char *topic = json_string_value(json_object_get(d->meta, "topic"));
    const char *sub = json_string_value(json_object_get(d->meta, "sub"));
    const char *colon = sub ? strrchr(sub, ':') : NULL;
    if (type && strcmp(type, "UnsubscribeConfirmation") != 0 && topic && colon) {
        struct sl_item it;
        int rc = sl_kv_get(st->app->store, SNS_NS_SUB, topic, colon + 1, &it);
        if (rc == SL_ENOTFOUND)
            return SL_ENOTFOUND;
        if (rc)
            return rc; /* (tried again later) */
        sl_item_free(&it);
    }
    struct retry_policy p = aws_default;
    char why[256];
    json_t *retry = json_object_get(d->meta, "retry");
    if (retry && retry_parse(retry, &p, why, sizeof(why)))
        p = aws_default;
    d->retries = (int)p.retries;
    d->max_age_ms = 0;
    d->error_delay_ms = (int64_t)(retry_delay_s(&p, (long)d->tries + 1) * 1000.0);
    const char *dlq = json_string_value(json_object_get(d->meta, "dlq"));
    sl_strlcpy(d->dlq, dlq ? dlq : "", sizeof(d->dlq));
    struct post *po = calloc(1, sizeof(*po));
    if (!po)
        return SL_ENOMEM;
    *po = (struct post){st, d, d->meta};
    d->state = po;
    return 0;
}

static void posted(void *arg, long status, const char *error)
{
    struct post *po = arg;
    struct sns *st = po->st;
    enum sl_delivery_outcome outcome = SL_DELIVERED;
    if (error && strcmp(error, "stopped") == 0) {
        outcome = SL_DELIVERY_STOPPED;
    } else if (status < 200 || status >= 500) {
        outcome = SL_DELIVERY_ERROR;
        const char *url = json_string_value(json_object_get(po->meta, "url"));
        if (error)
            sl_info("sns", "delivery to %s failed: %s", url ? url : "?", error);
        else
            sl_info("sns", "delivery to %s failed: HTTP %ld", url ? url : "?", status);
    }
    sl_consumer_done(st->http_consumer, po->d, outcome);
}

static int deliver(void *ctx, struct sl_delivery *d)
{
    struct sns *st = ctx;
    struct post *po = d->state;
    const char *type = json_string_value(json_object_get(d->meta, "type"));
    const char *mid = json_string_value(json_object_get(d->meta, "mid"));
    const char *topic = json_string_value(json_object_get(d->meta, "topic"));
    const char *sub = json_string_value(json_object_get(d->meta, "sub"));
    const char *ctype = json_string_value(json_object_get(d->meta, "ctype"));
    char h[6][512];
    const char *headers[8];
    size_t n = 0;
    snprintf(h[n], sizeof(h[n]), "x-amz-sns-message-type: %s", type ? type : "Notification");
    headers[n] = h[n], n++;
    snprintf(h[n], sizeof(h[n]), "x-amz-sns-message-id: %s", mid ? mid : "");
    headers[n] = h[n], n++;
    snprintf(h[n], sizeof(h[n]), "x-amz-sns-topic-arn: %s", topic ? topic : "");
    headers[n] = h[n], n++;
    if (sub && type && strcmp(type, "SubscriptionConfirmation") != 0) {
        snprintf(h[n], sizeof(h[n]), "x-amz-sns-subscription-arn: %s", sub);
        headers[n] = h[n], n++;
    }
    if (json_is_true(json_object_get(d->meta, "raw"))) {
        snprintf(h[n], sizeof(h[n]), "x-amz-sns-rawdelivery: true");
        headers[n] = h[n], n++;
    }
    snprintf(h[n], sizeof(h[n]), "Content-Type: %s",
             ctype ? ctype : "text/plain; charset=UTF-8");
    headers[n] = h[n], n++;
    headers[n++] = "User-Agent: Amazon Simple Notification Service Agent";
    headers[n] = NULL;
    struct sl_http_out req = {
        .method = "POST",
        .url = json_string_value(json_object_get(d->meta, "url")),
        .headers = headers,
        .body = d->m.body,
        .body_len = d->m.body_len,
        .timeout_ms = HTTP_TIMEOUT_MS,
    };
    int rc = req.url ? sl_http_client_post(st->http, &req, posted, po) : SL_EINVAL;
    if (rc == SL_EINVAL) {
        /* A request that can never start (a URL libcurl refuses): a
         * failed try, so that it ends in the dead-letter queue. */
        sl_info("sns", "delivery to %s cannot start", req.url ? req.url : "?");
        sl_consumer_done(st->http_consumer, d, SL_DELIVERY_ERROR);
        return 0;
    }
    return rc;
}

static char *record(void *ctx, struct sl_delivery *d, const char *condition)
{
    (void)ctx;
    (void)d;
    (void)condition;
    return NULL; /* (no destinations: a dead-letter queue only) */
}

/* The counts of the message's topic: a notification delivered when it
 * left with success, failed when it left without. */
static void left(void *ctx, struct sl_delivery *d, const char *condition, bool dest_gone)
{
    (void)dest_gone;
    struct sns *st = ctx;
    const char *topic = json_string_value(json_object_get(d->meta, "topic"));
    const char *type = json_string_value(json_object_get(d->meta, "type"));
    if (!topic || !type || strcmp(type, "Notification") != 0)
        return;
    struct sns_count *k = sns_count_of(st, topic);
    if (k)
        atomic_fetch_add(strcmp(condition, "Success") == 0 ? &k->delivered : &k->failed, 1);
}

static void release(void *ctx, struct sl_delivery *d)
{
    (void)ctx;
    free(d->state);
    d->state = NULL;
}

static const struct sl_consumer_ops ops = {
    .prepare = prepare,
    .deliver = deliver,
    .record = record,
    .left = left,
    .release = release,
};

/* (The consumer's own policy is not used: prepare sets each message's.) */
static int64_t error_ms(unsigned tries)
{
    (void)tries;
    return aws_default.min_delay * 1000;
}

static int64_t throttle_ms(unsigned throttles)
{
    /* The client could not start the request (out of memory, stopping):
     * from 1 s, doubling, to a minute. */
    int64_t ms = 1000;
    for (unsigned i = 1; i < throttles && ms < 60000; i++)
        ms *= 2;
    return SL_MIN(ms, 60000);
}

int sns_http_start(struct sns *st, struct sl_err *err)
{
    struct sl_app *app = st->app;
    int rc = sl_http_client_new(&st->http, sl_app_option(app, "--sns-https-ca-file"), err);
    if (rc)
        return rc;
    struct sl_consumer_config cfg = {
        .store = app->store,
        .loop = app->loop,
        .governor = NULL,
        .targets = app->targets,
        .queue = HTTP_Q,
        .max_inflight = HTTP_INFLIGHT,
        .time_scale = app->time_scale,
        .lease_ms = HTTP_LEASE_MS,
        .policy = {error_ms, throttle_ms},
        .ops = &ops,
        .ctx = st,
    };
    return sl_consumer_start(&st->http_consumer, &cfg, err);
}

void sns_http_stop(struct sns *st)
{
    /* The consumer takes no more messages; then the client ends what it
     * has under way, which goes back on the queue as it was (the consumer
     * waits for that when it is freed). */
    sl_consumer_stop(st->http_consumer);
    sl_http_client_stop(st->http);
}

void sns_http_free(struct sns *st)
{
    sl_consumer_free(st->http_consumer);
    sl_http_client_free(st->http);
    st->http_consumer = NULL;
    st->http = NULL;
}
