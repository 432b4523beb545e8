/*
 * One state's step (step.h).
 */
#include "services/states/step.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_step_clear(struct sl_step *st)
{
    json_decref(st->output);
    json_decref(st->input);
    json_decref(st->items);
    free(st->cause);
    memset(st, 0, sizeof(*st));
}

static void fail_with(struct sl_step *out, const char *error, const char *cause)
{
    json_decref(out->output);
    json_decref(out->input);
    json_decref(out->items);
    free(out->cause);
    memset(out, 0, sizeof(*out));
    out->kind = SL_STEP_FAIL;
    sl_strlcpy(out->error, error ? error : "", sizeof(out->error));
    out->cause = cause ? strdup(cause) : NULL;
}

/* NEXT or END (by the state's Next) with output (taken). */
static void go_on(const struct sl_asl_state *s, json_t *output, struct sl_step *out)
{
    out->kind = s->next == SL_ASL_NONE ? SL_STEP_END : SL_STEP_NEXT;
    out->next = s->next;
    out->output = output;
}

/* A text field of Fail (Error, Cause): the literal, or from its path or
 * call; NULL when absent. New, or NULL with err set (rc). */
static char *text_field(const struct sl_asl_text *t, json_t *input, json_t *context, int *rc,
                        struct sl_err *err)
{
    *rc = 0;
    if (t->text)
        return strdup(t->text);
    json_t *v = NULL;
    if (t->path) {
        json_t *doc = sl_jsonpath_is_context(t->path) ? context : input;
        *rc = doc ? sl_jsonpath_get(t->path, doc, &v) : SL_ENOTFOUND;
        if (*rc == SL_ENOTFOUND)
            *rc = sl_errf(err, SL_EINVAL, "Invalid path '%.200s' : No results for path",
                          sl_jsonpath_text(t->path));
    } else if (t->call) {
        *rc = sl_intrinsic_eval(t->call, input, context, &v, err);
    } else {
        return NULL;
    }
    if (*rc)
        return NULL;
    char *s = json_is_string(v) ? strdup(json_string_value(v))
                                : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(v);
    return s;
}

/* Seconds from a field (a number, or its path into input): ms, or -1
 * with err. */
static int64_t seconds_of(const struct sl_asl_seconds *sec, json_t *input, struct sl_err *err)
{
    if (!sec->path)
        return (int64_t)(sec->value * 1000.0);
    json_t *v = NULL;
    int rc = sl_jsonpath_get(sec->path, input, &v);
    double d = json_number_value(v);
    bool ok = !rc && json_is_number(v) && d >= 0 && d == floor(d) && d <= 99999999;
    json_decref(v);
    if (!ok) {
        sl_errf(err, SL_EINVAL, "The value at '%.200s' must be a non-negative integer of "
                                "seconds",
                sl_jsonpath_text(sec->path));
        return -1;
    }
    return (int64_t)d * 1000;
}

int sl_step_map_select(const struct sl_asl_state *s, json_t *input, json_t *items,
                       json_t *context, json_t **out, struct sl_err *err)
{
    const struct sl_template *sel = s->item_selector ? s->item_selector : s->parameters;
    json_t *each = json_array();
    size_t k;
    json_t *item;
    json_array_foreach(items, k, item)
    {
        json_t *iv = NULL;
        if (sel) {
            json_t *ctx = json_is_object(context) ? json_copy(context) : json_object();
            json_object_set_new(ctx, "Map",
                                json_pack("{s:{s:I, s:O}}", "Item", "Index", (json_int_t)k,
                                          "Value", item));
            int rc = sl_template_eval(sel, input, ctx, &iv, err);
            json_decref(ctx);
            if (rc) {
                json_decref(each);
                return rc;
            }
        } else {
            iv = json_incref(item);
        }
        json_array_append_new(each, iv);
    }
    if (s->batch_max && each) {
        /* ItemBatcher: {"Items": [...], "BatchInput": ...} of at most
         * MaxItemsPerBatch each. */
        json_t *batch_input = NULL;
        if (s->batch_input && sl_template_eval(s->batch_input, input, context, &batch_input, err)) {
            json_decref(each);
            return SL_EINVAL;
        }
        json_t *batches = json_array();
        for (size_t i = 0; i < json_array_size(each); i += (size_t)s->batch_max) {
            json_t *part = json_array();
            for (size_t j = i; j < json_array_size(each) && j < i + (size_t)s->batch_max; j++)
                json_array_append(part, json_array_get(each, j));
            json_t *b = json_pack("{s:o}", "Items", part);
            if (batch_input)
                json_object_set(b, "BatchInput", batch_input);
            json_array_append_new(batches, b);
        }
        json_decref(batch_input);
        json_decref(each);
        each = batches;
    }
    *out = each;
    return each ? 0 : SL_ENOMEM;
}

static void run_map(const struct sl_asl_state *s, json_t *input, json_t *context,
                    struct sl_step *out)
{
    struct sl_err err = {0};
    json_t *v = NULL, *items = NULL;
    if (sl_asl_path_apply(&s->input_path, input, context, &v, &err)) {
        fail_with(out, "States.Runtime", err.msg);
        return;
    }
    if (s->item_reader) {
        /* The items come from the reader (the caller's): the effective
         * input is handed out for its Parameters and ItemSelector. */
        out->kind = SL_STEP_MAP;
        out->input = v;
        out->max_concurrency = s->max_concurrency;
        return;
    }
    if (sl_asl_path_apply(&s->items_path, v, context, &items, &err)) {
        json_decref(v);
        fail_with(out, "States.Runtime", err.msg);
        return;
    }
    if (!json_is_array(items)) {
        json_decref(v);
        json_decref(items);
        fail_with(out, "States.Runtime", "The value at ItemsPath must be an array");
        return;
    }
    json_t *each = NULL;
    int rc = sl_step_map_select(s, v, items, context, &each, &err);
    json_decref(items);
    json_decref(v);
    if (rc) {
        fail_with(out, "States.Runtime", rc == SL_ENOMEM ? "out of memory" : err.msg);
        return;
    }
    out->kind = SL_STEP_MAP;
    out->items = each;
    out->max_concurrency = s->max_concurrency;
}

void sl_step_run(const struct sl_asl *m, size_t i, json_t *input, json_t *context,
                 int64_t now_ms, struct sl_step *out)
{
    memset(out, 0, sizeof(*out));
    const struct sl_asl_state *s = &m->states[i];
    struct sl_err err = {0};
    json_t *v = NULL;
    int rc = 0;
    switch (s->type) {
    case SL_ASL_PASS: {
        if ((rc = sl_asl_input(s, input, context, &v, &err)) != 0)
            break;
        json_t *result = s->result ? json_incref(s->result) : json_incref(v);
        json_decref(v);
        sl_step_result(m, i, input, result, context, out);
        json_decref(result);
        return;
    }
    case SL_ASL_CHOICE: {
        if ((rc = sl_asl_path_apply(&s->input_path, input, context, &v, &err)) != 0)
            break;
        size_t next = s->default_next;
        for (size_t k = 0; k < s->nchoices; k++) {
            bool holds = false;
            if ((rc = sl_choice_eval(s->choices[k].rule, v, context, &holds, &err)) != 0)
                break;
            if (holds) {
                next = s->choices[k].next;
                break;
            }
        }
        if (rc)
            break;
        if (next == SL_ASL_NONE) {
            json_decref(v);
            fail_with(out, "States.NoChoiceMatched", "No Matches!");
            return;
        }
        json_t *o = NULL;
        rc = sl_asl_path_apply(&s->output_path, v, context, &o, &err);
        if (rc)
            break;
        json_decref(v);
        out->kind = SL_STEP_NEXT;
        out->next = next;
        out->output = o;
        return;
    }
    case SL_ASL_WAIT: {
        if ((rc = sl_asl_path_apply(&s->input_path, input, context, &v, &err)) != 0)
            break;
        const char *ts = s->wait_timestamp;
        json_t *tv = NULL;
        if (s->wait_timestamp_path) {
            rc = sl_jsonpath_get(s->wait_timestamp_path, v, &tv);
            ts = json_string_value(tv);
        }
        int64_t until;
        if (ts || s->wait_timestamp_path) {
            int64_t us = 0;
            if (rc || !ts || !sl_rfc3339_parse(ts, &us)) {
                json_decref(tv);
                rc = sl_errf(&err, SL_EINVAL, "The value at '%.200s' must be an RFC 3339 "
                                              "timestamp",
                             s->wait_timestamp_path ? sl_jsonpath_text(s->wait_timestamp_path)
                                                    : "Timestamp");
                break;
            }
            until = us / 1000;
        } else {
            int64_t ms = seconds_of(&s->wait_seconds, v, &err);
            if (ms < 0) {
                rc = SL_EINVAL;
                break;
            }
            until = now_ms + ms;
        }
        json_decref(tv);
        json_decref(v);
        out->kind = SL_STEP_WAIT;
        out->until_ms = until;
        return;
    }
    case SL_ASL_SUCCEED: {
        json_t *o = NULL;
        if ((rc = sl_asl_path_apply(&s->input_path, input, context, &v, &err)) != 0 ||
            (rc = sl_asl_path_apply(&s->output_path, v, context, &o, &err)) != 0)
            break;
        json_decref(v);
        out->kind = SL_STEP_END;
        out->output = o;
        return;
    }
    case SL_ASL_FAIL: {
        int erc, crc;
        char *error = text_field(&s->error, input, context, &erc, &err);
        char *cause = erc ? NULL : text_field(&s->cause, input, context, &crc, &err);
        if (erc || crc) {
            free(error);
            free(cause);
            fail_with(out, "States.Runtime", err.msg);
            return;
        }
        fail_with(out, error ? error : "", cause);
        free(error);
        free(cause);
        return;
    }
    case SL_ASL_TASK:
    case SL_ASL_PARALLEL: {
        int64_t timeout = 0, heartbeat = 0;
        if ((rc = sl_asl_input(s, input, context, &v, &err)) != 0 ||
            (s->type == SL_ASL_TASK && ((timeout = seconds_of(&s->timeout, input, &err)) < 0 ||
                                        (heartbeat = seconds_of(&s->heartbeat, input, &err)) <
                                            0))) {
            if (!rc)
                rc = SL_EINVAL;
            json_decref(v);
            v = NULL;
            /* (The state's own error: its Retry and Catch see it.) */
            sl_step_error(m, i, input, "States.Runtime", err.msg, NULL, context, 0, out);
            return;
        }
        out->kind = s->type == SL_ASL_TASK ? SL_STEP_TASK : SL_STEP_PARALLEL;
        out->input = v;
        out->resource = s->resource;
        out->timeout_ms = timeout;
        out->heartbeat_ms = heartbeat;
        return;
    }
    case SL_ASL_MAP:
        run_map(s, input, context, out);
        return;
    }
    json_decref(v);
    if (rc)
        fail_with(out, "States.Runtime", err.msg);
}

void sl_step_after_wait(const struct sl_asl *m, size_t i, json_t *input, json_t *context,
                        struct sl_step *out)
{
    memset(out, 0, sizeof(*out));
    const struct sl_asl_state *s = &m->states[i];
    struct sl_err err = {0};
    json_t *v = NULL, *o = NULL;
    if (sl_asl_path_apply(&s->input_path, input, context, &v, &err) ||
        sl_asl_path_apply(&s->output_path, v, context, &o, &err)) {
        json_decref(v);
        fail_with(out, "States.Runtime", err.msg);
        return;
    }
    json_decref(v);
    go_on(s, o, out);
}

void sl_step_result(const struct sl_asl *m, size_t i, json_t *input, json_t *result,
                    json_t *context, struct sl_step *out)
{
    memset(out, 0, sizeof(*out));
    const struct sl_asl_state *s = &m->states[i];
    struct sl_err err = {0};
    json_t *o = NULL;
    const char *error = NULL;
    if (sl_asl_output(s, input, result, context, &o, &error, &err)) {
        sl_step_error(m, i, input, error, err.msg, NULL, context, 0, out);
        return;
    }
    go_on(s, o, out);
}

int64_t sl_step_retry_delay_ms(const struct sl_asl_retrier *r, unsigned attempt)
{
    double d = r->interval_s * pow(r->backoff, attempt > 0 ? (double)(attempt - 1) : 0);
    if (r->max_delay_s > 0 && d > (double)r->max_delay_s)
        d = (double)r->max_delay_s;
    if (d > 31622400.0) /* (a year: no delay is longer) */
        d = 31622400.0;
    return (int64_t)(d * 1000.0);
}

void sl_step_error(const struct sl_asl *m, size_t i, json_t *input, const char *error,
                   const char *cause, unsigned *attempts, json_t *context, int64_t now_ms,
                   struct sl_step *out)
{
    (void)context;
    memset(out, 0, sizeof(*out));
    const struct sl_asl_state *s = &m->states[i];
    /* The first retrier that names the error decides whether it runs
     * again; one out of attempts leaves it to the catchers. */
    for (size_t r = 0; attempts && r < s->nretry; r++) {
        const struct sl_asl_retrier *t = &s->retry[r];
        if (!sl_asl_error_matches(t->errors, t->nerrors, error))
            continue;
        if (attempts[r] < (unsigned)t->max_attempts) {
            attempts[r]++;
            int64_t delay = sl_step_retry_delay_ms(t, attempts[r]);
            if (t->jitter_full && delay > 0) {
                uint64_t x;
                sl_random(&x, sizeof(x));
                delay = (int64_t)(x % (uint64_t)(delay + 1));
            }
            out->kind = SL_STEP_RETRY;
            out->until_ms = now_ms + delay;
            return;
        }
        break;
    }
    for (size_t k = 0; k < s->ncatch; k++) {
        const struct sl_asl_catcher *c = &s->catch_[k];
        if (!sl_asl_error_matches(c->errors, c->nerrors, error))
            continue;
        json_t *eo = json_pack("{s:s, s:s}", "Error", error, "Cause", cause ? cause : "");
        json_t *o = NULL;
        struct sl_err err = {0};
        int rc = 0;
        if (c->result_path.null) {
            o = json_incref(input);
        } else if (!c->result_path.path) {
            o = json_incref(eo);
        } else {
            o = json_deep_copy(input);
            rc = o ? sl_jsonpath_set(c->result_path.path, &o, eo, &err) : SL_ENOMEM;
        }
        json_decref(eo);
        if (rc) {
            json_decref(o);
            fail_with(out, "States.ResultPathMatchFailure", err.msg);
            return;
        }
        out->kind = SL_STEP_NEXT;
        out->next = c->next;
        out->output = o;
        return;
    }
    fail_with(out, error, cause);
}
