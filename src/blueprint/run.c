/*
 * The blueprint as a function: the Runtime API loop (runtimes/c's
 * sluice_lambda), the objects an event names, and what is reported — the
 * result, a line in the log, metrics in the Embedded Metric Format.
 *
 * Events: S3 notifications (Records[].s3), the same wrapped in SQS
 * messages (Records[].body) or SNS notifications (Records[].Sns.Message),
 * EventBridge's "Object Created" (detail.bucket.name, detail.object.key),
 * or {"bucket": ..., "key": ...} for a direct invocation.
 */
#include "blueprint/blueprint.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_lambda.h"

struct bp_fn {
    struct bp_config cfg;
    struct bp_aws aws;
};

/* An S3 event's key: '+' is a space and %XX a byte. */
static char *event_key(const char *k)
{
    struct sl_buf b;
    sl_buf_init(&b, 0);
    if (sl_uri_decode(&b, k, strlen(k), true) || !b.data) {
        sl_buf_free(&b);
        return strdup(k);
    }
    return b.data;
}

/* Adds the objects ev names to list ([{"bucket", "key"}]). */
static void objects_of(const json_t *ev, json_t *list, int depth)
{
    if (!json_is_object(ev) || depth > 3)
        return;
    const char *bucket = json_string_value(json_object_get(ev, "bucket"));
    const char *key = json_string_value(json_object_get(ev, "key"));
    if (bucket && key) {
        json_array_append_new(list, json_pack("{s:s, s:s}", "bucket", bucket, "key", key));
        return;
    }
    const json_t *detail = json_object_get(ev, "detail");
    if (json_is_object(detail)) {
        bucket = json_string_value(json_object_get(json_object_get(detail, "bucket"), "name"));
        key = json_string_value(json_object_get(json_object_get(detail, "object"), "key"));
        if (bucket && key)
            json_array_append_new(list, json_pack("{s:s, s:s}", "bucket", bucket, "key", key));
        return;
    }
    size_t i;
    json_t *rec;
    json_array_foreach(json_object_get(ev, "Records"), i, rec)
    {
        const json_t *s3 = json_object_get(rec, "s3");
        if (s3) {
            bucket = json_string_value(json_object_get(json_object_get(s3, "bucket"), "name"));
            key = json_string_value(json_object_get(json_object_get(s3, "object"), "key"));
            if (bucket && key) {
                char *k = event_key(key);
                json_array_append_new(list, json_pack("{s:s, s:s}", "bucket", bucket, "key",
                                                      k ? k : key));
                free(k);
            }
            continue;
        }
        const char *body = json_string_value(json_object_get(rec, "body"));
        if (!body)
            body = json_string_value(json_object_get(json_object_get(rec, "Sns"), "Message"));
        json_t *inner = body ? json_loads(body, 0, NULL) : NULL;
        objects_of(inner, list, depth + 1);
        json_decref(inner);
    }
}

/* The process's peak resident memory, in KiB (VmHWM). */
static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

/* The object's counts as metrics (Embedded Metric Format, one line of the
 * function's log) and a line for people. */
static void report(const char *fn, const char *uri, const struct bp_result *r, double secs)
{
    json_t *emf = json_pack(
        "{s:{s:I, s:[{s:s, s:[[s]], s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}]}, "
        "s:s, s:s, s:I, s:I, s:I, s:I}",
        "_aws", "Timestamp", (json_int_t)sl_time_now_ms(), "CloudWatchMetrics", "Namespace",
        "Sluice/Blueprints", "Dimensions", "FunctionName", "Metrics", "Name", "Rows", "Unit",
        "Count", "Name", "RowsValid", "Unit", "Count", "Name", "RowsRejected", "Unit", "Count",
        "Name", "BytesIn", "Unit", "Bytes", "FunctionName", fn, "Object", uri, "Rows",
        (json_int_t)r->rows, "RowsValid", (json_int_t)r->valid, "RowsRejected",
        (json_int_t)r->rejected, "BytesIn", (json_int_t)r->bytes_in);
    char *line = emf ? json_dumps(emf, JSON_COMPACT) : NULL;
    if (line)
        printf("%s\n", line);
    free(line);
    json_decref(emf);
    printf("%s: %llu rows, %llu valid, %llu rejected, %llu bytes in %.3f s\n", uri,
           (unsigned long long)r->rows, (unsigned long long)r->valid,
           (unsigned long long)r->rejected, (unsigned long long)r->bytes_in, secs);
    fflush(stdout);
}

static int handler(const struct sl_lambda_event *ev, struct sl_lambda_reply *reply, void *ud)
{
    struct bp_fn *fn = ud;
    json_t *event = json_loadb(ev->payload, ev->payload_len, 0, NULL);
    json_t *objects = json_array();
    objects_of(event, objects, 0);
    json_decref(event);
    if (!json_array_size(objects)) {
        json_decref(objects);
        return sl_lambda_reply_error(reply, "Blueprint.NoObject",
                                     "the event names no S3 object (an S3 notification, or "
                                     "{\"bucket\", \"key\"})");
    }
    const char *name = getenv("AWS_LAMBDA_FUNCTION_NAME");
    json_t *out = json_array();
    uint64_t rows = 0, valid = 0, rejected = 0;
    size_t i;
    json_t *o;
    int failed = 0;
    char failure[700] = "";
    json_array_foreach(objects, i, o)
    {
        const char *bucket = json_string_value(json_object_get(o, "bucket"));
        const char *key = json_string_value(json_object_get(o, "key"));
        struct bp_result r;
        struct sl_err err = {0};
        int64_t t0 = sl_time_mono_ns();
        int rc = bp_process(&fn->cfg, &fn->aws, bucket, key, &r, &err);
        double secs = (double)(sl_time_mono_ns() - t0) / 1e9;
        char uri[1200];
        snprintf(uri, sizeof(uri), "s3://%s/%s", bucket, key);
        if (r.skipped) {
            printf("%s: skipped, it is under the blueprint's own OUTPUT or REJECTED\n", uri);
            fflush(stdout);
            json_array_append_new(out, json_pack("{s:s, s:b}", "input", uri, "skipped", 1));
            bp_result_free(&r);
            continue;
        }
        report(name ? name : "blueprint", uri, &r, secs);
        json_t *one = json_pack("{s:s, s:I, s:I, s:I, s:I, s:O, s:O, s:f}", "input", uri, "rows",
                                (json_int_t)r.rows, "valid", (json_int_t)r.valid, "rejected",
                                (json_int_t)r.rejected, "bytes_in", (json_int_t)r.bytes_in,
                                "outputs", r.outputs, "partitions", r.partitions, "seconds",
                                secs);
        if (r.rejected_uri[0])
            json_object_set_new(one, "rejected_uri", json_string(r.rejected_uri));
        if (rc) {
            fprintf(stderr, "%s: %s\n", uri, err.msg[0] ? err.msg : sl_strerror(rc));
            json_object_set_new(one, "error", json_string(err.msg[0] ? err.msg : sl_strerror(rc)));
            if (!failed) {
                failed = rc;
                snprintf(failure, sizeof(failure), "%s", err.msg[0] ? err.msg : sl_strerror(rc));
            }
        }
        json_array_append_new(out, one);
        rows += r.rows;
        valid += r.valid;
        rejected += r.rejected;
        bp_result_free(&r);
    }
    json_decref(objects);
    if (failed) {
        json_decref(out);
        return sl_lambda_reply_error(reply,
                                     failed == SL_ECONDITION ? "Blueprint.TooManyRejected"
                                                             : "Blueprint.Failed",
                                     "%s", failure);
    }
    json_t *res = json_pack("{s:o, s:I, s:I, s:I, s:I}", "objects", out, "rows", (json_int_t)rows,
                            "valid", (json_int_t)valid, "rejected", (json_int_t)rejected,
                            "peak_rss_kb", (json_int_t)peak_rss_kb());
    char *text = res ? json_dumps(res, JSON_COMPACT) : NULL;
    json_decref(res);
    if (!text)
        return sl_lambda_reply_error(reply, "Runtime.OutOfMemory", "no memory for the result");
    sl_lambda_reply_take(reply, text, strlen(text));
    return 0;
}

int bp_bootstrap_main(void)
{
    struct bp_fn fn;
    struct sl_err err = {0};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = bp_aws_init(&fn.aws, &err);
    if (!rc)
        rc = bp_config_load(&fn.cfg, getenv("_HANDLER"), &fn.aws, &err);
    if (rc) {
        sl_lambda_init_error("Blueprint.Config", "%s", err.msg[0] ? err.msg : sl_strerror(rc));
        bp_aws_free(&fn.aws);
        return 1;
    }
    rc = sl_lambda_run(handler, &fn);
    bp_config_free(&fn.cfg);
    bp_aws_free(&fn.aws);
    curl_global_cleanup();
    return rc ? 1 : 0;
}
