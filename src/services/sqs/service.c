/*
 * SQS's row of the service table: its errors, its state (the key its
 * receipt handles are signed with, the long polls waiting), its target
 * kind and its metrics.
 */
#include "services/sqs/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct sl_aws_error sl_sqs_errors[] = {SQS_ERRORS(SL_ERROR_ROW)};

/* ---- receipt handles -------------------------------------------------- */

/* Whether a and b differ, in time that does not depend on where. */
static bool differ(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= a[i] ^ b[i];
    return d != 0;
}

/* The MAC of a receipt: HMAC-SHA256 of the queue's place, the message id
 * and receive count, cut to 16 bytes. */
static void receipt_mac(const struct sqs *st, const struct sqs_ref *ref, int64_t id,
                        uint32_t receives, uint8_t out[16])
{
    char text[256];
    int n = snprintf(text, sizeof(text), "%s/%s/%lld/%u", ref->pk, ref->name, (long long)id,
                     receives);
    uint8_t mac[SL_SHA256_LEN];
    sl_hmac_sha256(st->key, sizeof(st->key), text, (size_t)n, mac);
    memcpy(out, mac, 16);
}

void sqs_receipt(const struct sqs *st, const struct sqs_ref *ref, int64_t id, uint32_t receives,
                 char *out, size_t n)
{
    uint8_t raw[28];
    for (int i = 0; i < 8; i++)
        raw[i] = (uint8_t)((uint64_t)id >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        raw[8 + i] = (uint8_t)(receives >> (24 - 8 * i));
    receipt_mac(st, ref, id, receives, raw + 12);
    char hex[2 * sizeof(raw) + 1];
    sl_hex_encode(raw, sizeof(raw), hex);
    snprintf(out, n, "%s", hex);
}

int sqs_receipt_parse(const struct sqs *st, const struct sqs_ref *ref, const char *handle,
                      int64_t *id, uint32_t *receives)
{
    uint8_t raw[28], mac[16];
    if (strlen(handle) != 2 * sizeof(raw) || sl_hex_decode(handle, 2 * sizeof(raw), raw))
        return SL_EINVAL;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | raw[i];
    uint32_t r = 0;
    for (int i = 0; i < 4; i++)
        r = r << 8 | raw[8 + i];
    receipt_mac(st, ref, (int64_t)v, r, mac);
    if (differ(mac, raw + 12, sizeof(mac)))
        return SL_EINVAL;
    *id = (int64_t)v;
    *receives = r;
    return 0;
}

/* ---- lifecycle -------------------------------------------------------- */

/* The key of receipt handles: made once, kept in the store, so handles
 * stay good across restarts. */
static int key_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct sqs *st = arg;
    struct sl_item it;
    if (sl_txn_get(t, SQS_NS_META, "key", "", &it) == 0) {
        int rc = it.val_len == 2 * SQS_KEY_LEN ? sl_hex_decode(it.val, it.val_len, st->key)
                                               : SL_ECORRUPT;
        sl_item_free(&it);
        return rc;
    }
    char hex[2 * SQS_KEY_LEN + 1];
    sl_random(st->key, sizeof(st->key));
    sl_hex_encode(st->key, sizeof(st->key), hex);
    return sl_txn_put(t, SQS_NS_META, "key", "", hex, strlen(hex), NULL);
}

static int sqs_new(struct sl_app *app, void **state, struct sl_err *err)
{
    struct sqs *st = calloc(1, sizeof(*st));
    if (!st)
        return SL_ENOMEM;
    st->app = app;
    st->store = app->store;
    pthread_mutex_init(&st->mu, NULL);
    int rc = sl_store_write(app->store, key_txn, st, err);
    if (!rc)
        rc = sl_store_queue_watch_prefix(app->store, SQS_Q_PREFIX, sqs_wait_notify, st);
    if (rc) {
        if (!err->msg[0])
            sl_errf(err, rc, "sqs: cannot start: %s", sl_strerror(rc));
        pthread_mutex_destroy(&st->mu);
        free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static void sqs_stop(void *state)
{
    struct sqs *st = state;
    sl_store_queue_unwatch_prefix(st->store, sqs_wait_notify, st);
    sqs_wait_stop(st);
}

static void sqs_free(void *state)
{
    struct sqs *st = state;
    if (!st)
        return;
    sqs_wait_free(st);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* ---- metrics ---------------------------------------------------------- */

static void sqs_metrics(void *state, struct sl_buf *out)
{
    struct sqs *st = state;
    char **pks = NULL;
    size_t npk = 0;
    if (sl_kv_list_pks(st->store, SQS_NS_QUEUE, &pks, &npk))
        return;
    static const char *const help =
        "# HELP sluice_sqs_messages Messages of a queue, by state (visible, in_flight, delayed).\n"
        "# TYPE sluice_sqs_messages gauge\n"
        "# HELP sluice_sqs_oldest_message_age_seconds Age of a queue's oldest message.\n"
        "# TYPE sluice_sqs_oldest_message_age_seconds gauge\n";
    sl_buf_puts(out, help);
    int64_t now = sl_time_now_ms();
    for (size_t p = 0; p < npk; p++) {
        struct sl_item *items = NULL;
        size_t n = 0;
        if (sl_kv_list(st->store, SQS_NS_QUEUE, pks[p], NULL, NULL, SIZE_MAX, &items, &n) == 0) {
            for (size_t i = 0; i < n; i++) {
                struct sqs_queue q;
                json_t *rec = json_loadb(items[i].val, items[i].val_len, 0, NULL);
                struct sl_queue_stats s;
                if (!rec || sqs_queue_parse(rec, &q))
                    continue;
                if (sl_queue_stats(st->store, q.id, now, now - q.retention * 1000, &s) == 0) {
                    const char *lbl = q.arn;
                    sl_buf_printf(out, "sluice_sqs_messages{queue=\"%s\",state=\"visible\"} %llu\n", lbl,
                                  (unsigned long long)s.visible);
                    sl_buf_printf(out, "sluice_sqs_messages{queue=\"%s\",state=\"in_flight\"} %llu\n",
                                  lbl, (unsigned long long)s.in_flight);
                    sl_buf_printf(out, "sluice_sqs_messages{queue=\"%s\",state=\"delayed\"} %llu\n", lbl,
                                  (unsigned long long)s.delayed);
                    sl_buf_printf(out, "sluice_sqs_oldest_message_age_seconds{queue=\"%s\"} %.3f\n", lbl,
                                  s.oldest_ms ? (double)(now - s.oldest_ms) / 1000.0 : 0.0);
                }
                sqs_queue_clear(&q);
            }
            for (size_t i = 0; i < n; i++)
                sl_item_free(&items[i]);
            free(items);
        }
        free(pks[p]);
    }
    free(pks);
}

static const struct sl_target_kind targets[] = {
    {"sqs", sqs_target_check, sqs_target_deliver},
    {NULL, NULL, NULL},
};

SL_SERVICE_TABLES(sqs);

const struct sl_service sl_service_sqs = {
    .name = "sqs",
    .model = &sl_model_sqs,
    .handlers = sl_sqs_handlers,
    .errors = sl_sqs_errors,
    .e_internal = SQS_E_INTERNAL,
    .e_validation = SQS_E_VALIDATION,
    .e_serialization = SQS_E_SERIALIZATION,
    .e_too_big = SQS_E_TOO_BIG,
    /* Ten 256 KiB messages, form-encoded (up to three bytes a byte). */
    .body_cap = 8 * 1024 * 1024,
    .new = sqs_new,
    .stop = sqs_stop,
    .free = sqs_free,
    .targets = targets,
    .metrics = sqs_metrics,
};
