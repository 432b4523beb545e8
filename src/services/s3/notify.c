/*
 * S3 event notifications' configuration:
 * Put/GetBucketNotificationConfiguration. The events themselves are
 * events.c's.
 *
 * A bucket's configuration is kept in the bucket's item ("notification":
 * rules of {id, kind, arn, events, prefix, suffix}, and "eventbridge"), so
 * the transaction that writes or deletes an object reads the rules that
 * hold at its commit.
 *
 * Validation as S3 does it: event types from S3's list, at most one prefix
 * and one suffix rule, no two configurations that could match the same key
 * for a shared event type, and destinations that exist and let
 * s3.amazonaws.com in (a function's resource policy), unless the request
 * carries x-amz-skip-destination-validation: true. Each event carries its
 * source, and the function's policy is checked again when the event is
 * about to run (not in the writer's transaction, which must not block).
 */
#include "services/s3/internal.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xml.h"
#include "engine/targets.h"

#define MAX_RULES 100

static const struct {
    const char *element, *arn_element, *kind;
} config_kinds[] = {
    {"CloudFunctionConfiguration", "CloudFunction", "lambda"},
    {"QueueConfiguration", "Queue", "queue"},
    {"TopicConfiguration", "Topic", "topic"},
};

/* ---- parsing a configuration ------------------------------------------- */

static int fail(struct s3_notify_error *e, const char *code, const char *name,
                const char *value, const char *msg)
{
    snprintf(e->code, sizeof(e->code), "%s", code);
    snprintf(e->arg_name, sizeof(e->arg_name), "%s", name ? name : "");
    snprintf(e->arg_value, sizeof(e->arg_value), "%s", value ? value : "");
    snprintf(e->msg, sizeof(e->msg), "%s", msg);
    return SL_EINVAL;
}

static int malformed(struct s3_notify_error *e)
{
    return fail(e, "MalformedXML", NULL, NULL,
                "The XML you provided was not well-formed or did not validate against our "
                "published schema");
}

/* One configuration element into a rule. */
static int parse_rule(const struct sl_xml_node *n, size_t kind, json_t **out,
                      struct s3_notify_error *e)
{
    const char *arn = sl_xml_child_text(n, config_kinds[kind].arn_element);
    if (!arn || !arn[0])
        return malformed(e);
    const char *id = sl_xml_child_text(n, "Id");
    char gen_id[40];
    if (!id || !id[0]) {
        uint8_t raw[16];
        sl_random(raw, sizeof(raw));
        sl_hex_encode(raw, sizeof(raw), gen_id);
        id = gen_id;
    }
    json_t *rule = json_pack("{s:s, s:s, s:s, s:[], s:s, s:s}", "id", id, "kind",
                             config_kinds[kind].kind, "arn", arn, "events", "prefix", "",
                             "suffix", "");
    if (!rule)
        return malformed(e); /* not UTF-8 text, or out of memory */
    json_t *events = json_object_get(rule, "events");
    int rc = 0;
    for (const struct sl_xml_node *c = n->children; c && !rc; c = c->next) {
        if (strcmp(c->name, "Event") == 0) {
            if (!sl_s3_event_known(c->text))
                rc = fail(e, "InvalidArgument", "Event", c->text,
                          "The event is not supported for notifications");
            else
                json_array_append_new(events, json_string(c->text));
        } else if (strcmp(c->name, "Filter") == 0) {
            const struct sl_xml_node *key = sl_xml_child(c, "S3Key");
            bool seen[2] = {false, false};
            for (const struct sl_xml_node *fr = key ? key->children : NULL; fr && !rc;
                 fr = fr->next) {
                if (strcmp(fr->name, "FilterRule") != 0)
                    continue;
                const char *name = sl_xml_child_text(fr, "Name");
                const char *value = sl_xml_child_text(fr, "Value");
                int which = !name ? -1 : strcasecmp(name, "prefix") == 0 ? 0
                                     : strcasecmp(name, "suffix") == 0 ? 1
                                                                      : -1;
                if (which < 0 || !value)
                    rc = fail(e, "InvalidArgument", "FilterRule", name,
                              "filter rule name must be either prefix or suffix");
                else if (seen[which])
                    rc = fail(e, "InvalidArgument", "FilterRule", name,
                              which ? "Cannot specify more than one suffix rule in a filter."
                                    : "Cannot specify more than one prefix rule in a filter.");
                else if (json_object_set_new(rule, which ? "suffix" : "prefix",
                                             json_string(value)))
                    rc = malformed(e);
                else
                    seen[which] = true;
            }
        } else if (strcmp(c->name, "Id") != 0 &&
                   strcmp(c->name, config_kinds[kind].arn_element) != 0) {
            rc = malformed(e);
        }
    }
    if (!rc && json_array_size(events) == 0)
        rc = fail(e, "InvalidArgument", "Event", "", "At least one event must be specified");
    if (rc) {
        json_decref(rule);
        return rc;
    }
    *out = rule;
    return 0;
}

/* Two rules that share an event type must not both match any key. */
static int check_overlaps(json_t *rules, struct s3_notify_error *e)
{
    size_t n = json_array_size(rules);
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(rules, i);
        for (size_t j = i + 1; j < n; j++) {
            json_t *b = json_array_get(rules, j);
            bool share = false;
            size_t x, y;
            json_t *ea, *eb;
            json_array_foreach(json_object_get(a, "events"), x, ea)
            {
                json_array_foreach(json_object_get(b, "events"), y, eb)
                {
                    share |= sl_s3_events_share(json_string_value(ea), json_string_value(eb));
                }
            }
            if (!share)
                continue;
            const char *pa = sl_s3_rule_str(a, "prefix"), *pb = sl_s3_rule_str(b, "prefix");
            const char *sa = sl_s3_rule_str(a, "suffix"), *sb = sl_s3_rule_str(b, "suffix");
            bool prefixes = sl_str_starts_with(pa, pb) || sl_str_starts_with(pb, pa);
            bool suffixes = sl_str_ends_with(sa, sb) || sl_str_ends_with(sb, sa);
            if (!prefixes || !suffixes)
                continue;
            if (strcmp(pa, pb) == 0 && strcmp(sa, sb) == 0)
                return fail(e, "InvalidArgument", "Event",
                            json_string_value(json_array_get(json_object_get(a, "events"), 0)),
                            "Configurations overlap. Configurations on the same bucket cannot "
                            "share a common event type.");
            return fail(e, "InvalidArgument", "FilterRule", sa,
                        "Configuration is ambiguously defined. Cannot have overlapping "
                        "suffixes in two rules if the prefixes are overlapping for the same "
                        "event type.");
        }
    }
    return 0;
}

int sl_s3_notification_parse(struct sl_arena *a, const char *data, size_t len, json_t **out,
                             struct s3_notify_error *e)
{
    *out = NULL;
    struct sl_xml_node *root;
    struct sl_err err = {0};
    if (sl_xml_parse(a, data ? data : "", len, &root, &err) ||
        strcmp(root->name, "NotificationConfiguration") != 0)
        return malformed(e);
    json_t *config = json_pack("{s:[], s:b}", "rules", "eventbridge", 0);
    if (!config)
        return fail(e, "InternalError", NULL, NULL, "out of memory");
    json_t *rules = json_object_get(config, "rules");
    int rc = 0;
    for (const struct sl_xml_node *c = root->children; c && !rc; c = c->next) {
        size_t k;
        for (k = 0; k < SL_ARRAY_LEN(config_kinds); k++)
            if (strcmp(c->name, config_kinds[k].element) == 0)
                break;
        json_t *rule = NULL;
        if (k < SL_ARRAY_LEN(config_kinds)) {
            rc = parse_rule(c, k, &rule, e);
            if (!rc)
                json_array_append_new(rules, rule);
            if (!rc && json_array_size(rules) > MAX_RULES)
                rc = fail(e, "InvalidArgument", "NotificationConfiguration", "",
                          "Too many notification configurations");
        } else if (strcmp(c->name, "EventBridgeConfiguration") == 0) {
            json_object_set_new(config, "eventbridge", json_true());
        } else {
            rc = malformed(e);
        }
    }
    if (!rc)
        rc = check_overlaps(rules, e);
    if (rc) {
        json_decref(config);
        return rc;
    }
    *out = config;
    return 0;
}

/* ---- PUT ?notification ------------------------------------------------- */

/* Every destination exists and lets S3 in; 0, or answered as S3 does:
 * ArgumentNameN is a destination, ArgumentValueN what is wrong with it. */
static int check_destinations(struct s3_req *s, json_t *rules)
{
    enum { MAX_BAD = 8 };
    char source[128];
    snprintf(source, sizeof(source), "arn:aws:s3:::%s", s->bucket);
    const char *extra[4 * MAX_BAD + 1] = {NULL};
    char names[MAX_BAD][2][24], reasons[MAX_BAD][400];
    size_t bad = 0, i;
    json_t *rule;
    json_array_foreach(rules, i, rule)
    {
        const char *arn = sl_s3_rule_str(rule, "arn");
        int rc = sl_target_check(s->q->app->targets, arn, S3_PRINCIPAL, source, s->q->account);
        if (rc == 0 || bad == MAX_BAD)
            continue;
        snprintf(names[bad][0], sizeof(names[bad][0]), "ArgumentName%zu", bad + 1);
        snprintf(names[bad][1], sizeof(names[bad][1]), "ArgumentValue%zu", bad + 1);
        snprintf(reasons[bad], sizeof(reasons[bad]), "%s",
                 rc == SL_EAUTH   ? "Not authorized to invoke the function: its resource policy "
                                    "does not allow s3.amazonaws.com"
                 : rc == SL_ENOTSUP ? "Sluice does not have this kind of destination yet"
                                   : "The destination does not exist");
        extra[4 * bad] = names[bad][0];
        extra[4 * bad + 1] = arn;
        extra[4 * bad + 2] = names[bad][1];
        extra[4 * bad + 3] = reasons[bad];
        bad++;
    }
    if (!bad)
        return 0;
    sl_s3_error_ex(s, S3_E_INVALID_ARGUMENT, extra,
                   "Unable to validate the following destination configurations");
    return SL_DONE;
}

struct notify_put {
    const char *bucket;
    json_t *config;
    struct sl_targets *targets;
    const char *request_id, *account;
};

/* S3's s3:TestEvent, which a queue (or topic) gets when a configuration
 * names it, once per destination, in the transaction that sets it. */
static int send_test_events(struct sl_txn *t, struct notify_put *p)
{
    json_t *rules = json_object_get(p->config, "rules");
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule)
    {
        const char *arn = sl_s3_rule_str(rule, "arn");
        if (strcmp(sl_s3_rule_str(rule, "kind"), "queue") != 0)
            continue;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(sl_s3_rule_str(json_array_get(rules, k), "arn"), arn) == 0;
        if (seen)
            continue;
        char ts[32], host[64], source[128];
        sl_time_iso8601_ms(sl_time_now_ms(), ts, sizeof(ts));
        sl_aws_host_id(host, sizeof(host));
        snprintf(source, sizeof(source), "arn:aws:s3:::%s", p->bucket);
        json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "Service", "Amazon S3", "Event",
                               "s3:TestEvent", "Time", ts, "Bucket", p->bucket, "RequestId",
                               p->request_id, "HostId", host);
        char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
        json_decref(ev);
        if (!text)
            return SL_ENOMEM;
        struct sl_target_source src = {.principal = S3_PRINCIPAL, .source_arn = source,
                                       .source_account = p->account};
        int rc = sl_target_deliver_txn(p->targets, t, arn, text, strlen(text), &src);
        free(text);
        if (rc && rc != SL_ENOTSUP)
            return rc;
    }
    return 0;
}

static int put_config_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct notify_put *p = arg;
    struct sl_item it;
    int rc = sl_txn_get(t, S3_NS_BUCKETS, "", p->bucket, &it);
    if (rc)
        return rc;
    json_t *v = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    if (!v)
        return SL_ECORRUPT;
    if (json_array_size(json_object_get(p->config, "rules")) ||
        json_is_true(json_object_get(p->config, "eventbridge")))
        json_object_set(v, "notification", p->config);
    else
        json_object_del(v, "notification");
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    rc = text ? sl_txn_set_val(t, S3_NS_BUCKETS, "", p->bucket, text, strlen(text)) : SL_ENOMEM;
    free(text);
    return rc ? rc : send_test_events(t, p);
}

static void notification_put(struct s3_req *s, int rc, const struct sl_err *err)
{
    struct notify_put *p = s->q->write_arg;
    json_decref(p->config);
    p->config = NULL;
    if (rc == SL_ENOTFOUND)
        sl_s3_no_such_bucket(s);
    else if (rc)
        sl_s3_internal(s, err);
    else
        sl_s3_send_xml(s, 200);
}

static void put_notification_finish(struct s3_req *s)
{
    json_t *config;
    struct s3_notify_error e;
    if (sl_s3_notification_parse(&s->q->http->arena, s->body.data, s->body.len, &config, &e)) {
        if (strcmp(e.code, "InvalidArgument") == 0) {
            const char *extra[] = {"ArgumentName", e.arg_name, "ArgumentValue", e.arg_value,
                                   NULL};
            sl_s3_error_ex(s, S3_E_INVALID_ARGUMENT, extra, "%s", e.msg);
        } else {
            sl_s3_error(s, sl_s3_error_id(e.code), e.msg);
        }
        return;
    }
    const char *skip = sl_http_header(s->q->http, "x-amz-skip-destination-validation");
    if (!(skip && strcasecmp(skip, "true") == 0) &&
        check_destinations(s, json_object_get(config, "rules"))) {
        json_decref(config);
        return;
    }
    struct notify_put *p = sl_call_alloc(s->q, sizeof(*p));
    if (!p) {
        json_decref(config);
        sl_s3_internal(s, NULL);
        return;
    }
    *p = (struct notify_put){s->bucket, config, s->q->app->targets, s->q->request_id,
                             s->q->account};
    sl_s3_write(s, put_config_txn, p, notification_put);
}

void sl_s3_put_notification(struct s3_req *s)
{
    if (sl_s3_bucket_check(s))
        return;
    sl_s3_take_xml(s, put_notification_finish);
}

/* ---- GET ?notification ------------------------------------------------- */

void sl_s3_get_notification(struct s3_req *s)
{
    if (sl_s3_bucket_check(s))
        return;
    struct sl_item it;
    int rc = sl_kv_get(s->q->app->store, S3_NS_BUCKETS, "", s->bucket, &it);
    if (rc == SL_ENOTFOUND) {
        sl_s3_no_such_bucket(s);
        return;
    }
    if (rc) {
        sl_s3_internal(s, NULL);
        return;
    }
    json_t *v = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    json_t *config = json_object_get(v, "notification");
    struct sl_buf *b = &s->q->http->resp.body;
    sl_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<NotificationConfiguration "
                   "xmlns=\"" S3_XMLNS "\">");
    size_t i;
    json_t *rule;
    json_array_foreach(json_object_get(config, "rules"), i, rule)
    {
        size_t k = 0;
        while (k + 1 < SL_ARRAY_LEN(config_kinds) &&
               strcmp(config_kinds[k].kind, sl_s3_rule_str(rule, "kind")) != 0)
            k++;
        sl_buf_printf(b, "<%s>", config_kinds[k].element);
        sl_xml_element(b, "Id", sl_s3_rule_str(rule, "id"));
        sl_xml_element(b, config_kinds[k].arn_element, sl_s3_rule_str(rule, "arn"));
        size_t e;
        json_t *ev;
        json_array_foreach(json_object_get(rule, "events"), e, ev)
        {
            sl_xml_element(b, "Event", json_string_value(ev));
        }
        const char *prefix = sl_s3_rule_str(rule, "prefix"), *suffix = sl_s3_rule_str(rule, "suffix");
        if (prefix[0] || suffix[0]) {
            sl_buf_puts(b, "<Filter><S3Key>");
            if (prefix[0]) {
                sl_buf_puts(b, "<FilterRule>");
                sl_xml_element(b, "Name", "Prefix");
                sl_xml_element(b, "Value", prefix);
                sl_buf_puts(b, "</FilterRule>");
            }
            if (suffix[0]) {
                sl_buf_puts(b, "<FilterRule>");
                sl_xml_element(b, "Name", "Suffix");
                sl_xml_element(b, "Value", suffix);
                sl_buf_puts(b, "</FilterRule>");
            }
            sl_buf_puts(b, "</S3Key></Filter>");
        }
        sl_buf_printf(b, "</%s>", config_kinds[k].element);
    }
    if (json_is_true(json_object_get(config, "eventbridge")))
        sl_buf_puts(b, "<EventBridgeConfiguration></EventBridgeConfiguration>");
    sl_buf_puts(b, "</NotificationConfiguration>");
    json_decref(v);
    sl_s3_send_xml(s, 200);
}
