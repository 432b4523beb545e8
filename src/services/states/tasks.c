/*
 * Task states' work: what a Resource names, called through the other
 * services' APIs (sl_call_local(): their own checks, limits and errors),
 * and the answer shaped as Step Functions shapes it — a function's result
 * for a function ARN, the wrapped result of lambda:invoke, the API's
 * output with its HTTP metadata for the other optimized integrations, the
 * bare output for the AWS SDK ones; errors named "Prefix.Exception" with
 * the service's message as the cause. TimeoutSeconds ends a task with
 * States.Timeout. A .waitForTaskToken task waits, after its call
 * succeeded, for SendTaskSuccess or SendTaskFailure with its token,
 * SendTaskHeartbeat holding off its HeartbeatSeconds.
 *
 * Everything here runs on the engine loop's thread; the handlers of the
 * SendTask* operations come to it with sl_loop_post().
 */
#include "services/states/internal.h"
#include "services/s3/s3.h"
#include "services/states/template.h"
#include "formats/csv.h"

#include <ctype.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_BYTES 48 /* random bytes of a token, hex-encoded */
#define OUTPUT_MAX (256 * 1024)

struct task {
    struct sfn *st;
    sl_run_task_fn done; /* the run's; NULL once the task ended for it */
    void *arg;
    struct sl_asl_resource res;
    char token[2 * TOKEN_BYTES + 1]; /* .waitForTaskToken: its token ("" when none) */
    bool registered;                 /* in st->tokens */
    bool call_pending;               /* its call has not answered yet */
    struct sl_timer *timeout, *heartbeat, *later;
    int64_t heartbeat_ms;
    char error[256];
    char *cause; /* what `later` reports */
    /* .sync: the execution it started, which it waits for (st->syncs) */
    char sync_arn[512];
    struct task *sync_next;
    bool syncing;
};

static int token_cmp(const void *a, const void *b)
{
    return strcmp(((const struct task *)a)->token, ((const struct task *)b)->token);
}

static void task_release(struct task *t)
{
    if (t->done || t->call_pending)
        return;
    free(t->cause);
    free(t);
}

/* The task stops waiting: its timers, its token, its wait for an
 * execution go. */
static void task_detach(struct task *t)
{
    if (t->syncing) {
        for (struct task **p = (struct task **)&t->st->syncs; *p; p = &(*p)->sync_next)
            if (*p == t) {
                *p = t->sync_next;
                break;
            }
        t->syncing = false;
    }
    struct sl_loop *loop = t->st->app->loop;
    struct sl_timer **timers[] = {&t->timeout, &t->heartbeat, &t->later};
    for (size_t i = 0; i < 3; i++)
        if (*timers[i]) {
            sl_loop_timer_cancel(loop, *timers[i]);
            *timers[i] = NULL;
        }
    if (t->registered) {
        tdelete(t, &t->st->tokens, token_cmp);
        t->registered = false;
    }
}

/* The task ends for its run (once): done is told. */
static void task_end(struct task *t, json_t *result, const char *error, const char *cause)
{
    if (!t->done)
        return;
    task_detach(t);
    sl_run_task_fn done = t->done;
    t->done = NULL;
    done(t->arg, result, error, cause);
    task_release(t);
}

static void on_later(struct sl_loop *l, void *arg)
{
    (void)l;
    struct task *t = arg;
    t->later = NULL;
    char *cause = t->cause;
    t->cause = NULL;
    task_end(t, NULL, t->error, cause);
    free(cause);
}

/* Ends t with an error from the loop's next turn (start may not call done
 * itself). */
static void fail_later(struct task *t, const char *error, const char *fmt, ...) SL_PRINTF(3, 4);
static void fail_later(struct task *t, const char *error, const char *fmt, ...)
{
    sl_strlcpy(t->error, error, sizeof(t->error));
    va_list ap;
    va_start(ap, fmt);
    free(t->cause);
    if (vasprintf(&t->cause, fmt, ap) < 0)
        t->cause = NULL;
    va_end(ap);
    t->later = sl_loop_timer(t->st->app->loop, sl_loop_now_ms(), on_later, t);
}

static void on_timeout(struct sl_loop *l, void *arg)
{
    (void)l;
    struct task *t = arg;
    t->timeout = NULL;
    task_end(t, NULL, "States.Timeout", "The task ran longer than its TimeoutSeconds");
}

static void on_heartbeat(struct sl_loop *l, void *arg)
{
    (void)l;
    struct task *t = arg;
    t->heartbeat = NULL;
    task_end(t, NULL, "States.HeartbeatTimeout",
             "No heartbeat came for the task within its HeartbeatSeconds");
}

/* ---- member names ---------------------------------------------------------------------- */

/* Step Functions writes an API's members in PascalCase, whatever the
 * API's own case (stepfunctions' stateMachineArn is StateMachineArn):
 * v's keys are renamed, by the operation's shapes, to the model's member
 * names (to_model) or to PascalCase (the output). Maps' keys are data,
 * never renamed. */
static void rename_keys(const struct sl_service_model *m, const struct sl_shape *s, json_t *v,
                        bool to_model, int depth)
{
    if ((s->flags & SL_SHAPE_DOCUMENT) || depth > 32)
        return;
    size_t i;
    json_t *el;
    const char *k;
    switch (s->type) {
    case SL_SHAPE_STRUCTURE:
        if (!json_is_object(v))
            return;
        for (size_t n = 0; n < s->nmembers; n++) {
            const struct sl_member *mem = &s->members[n];
            char pascal[128];
            snprintf(pascal, sizeof(pascal), "%s", mem->name);
            pascal[0] = (char)toupper((unsigned char)pascal[0]);
            const char *want = to_model ? mem->name : pascal;
            const char *have = NULL;
            json_object_foreach(v, k, el)
            {
                if (to_model ? strcasecmp(k, mem->name) == 0 : strcmp(k, mem->name) == 0) {
                    have = k;
                    break;
                }
            }
            if (!have)
                continue;
            json_t *child = json_incref(json_object_get(v, have));
            if (strcmp(have, want) != 0) {
                json_object_del(v, have);
                json_object_set(v, want, child);
            }
            rename_keys(m, &m->shapes[mem->shape], child, to_model, depth + 1);
            json_decref(child);
        }
        break;
    case SL_SHAPE_LIST:
        json_array_foreach(v, i, el)
            rename_keys(m, &m->shapes[s->element], el, to_model, depth + 1);
        break;
    case SL_SHAPE_MAP:
        json_object_foreach(v, k, el)
            rename_keys(m, &m->shapes[s->element], el, to_model, depth + 1);
        break;
    default:
        break;
    }
}

/* Renames v for t's operation: its input (to_model) or its output. */
static void rename_for(const struct task *t, json_t *v, bool to_model)
{
    const struct sl_service *svc = sl_service_by_name(t->res.botocore);
    const struct sl_operation *op = svc ? sl_model_op_by_name(svc->model, t->res.op) : NULL;
    int shape = op ? (to_model ? op->input : op->output) : -1;
    if (shape >= 0)
        rename_keys(svc->model, &svc->model->shapes[shape], v, to_model, 0);
}

/* ---- answers ------------------------------------------------------------------------- */

/* The error's name as Step Functions gives it: "Prefix.Exception", the
 * exception named as the callee's model names it (the SDKs' class), with
 * the Exception suffix. */
static void error_name(const struct task *t, const char *code, char *out, size_t n)
{
    const char *hash = strrchr(code, '#'); /* ("com.amazonaws.dynamodb.v20120810#...") */
    if (hash)
        code = hash + 1;
    const char *name = code;
    const struct sl_service *svc = sl_service_by_name(t->res.botocore);
    const struct sl_service_model *m = svc ? svc->model : NULL;
    for (size_t i = 0; m && i < m->nshapes; i++) {
        const struct sl_shape *s = &m->shapes[i];
        if ((s->flags & SL_SHAPE_EXCEPTION) && s->error_code && strcmp(s->error_code, code) == 0) {
            name = s->name;
            break;
        }
    }
    size_t len = strlen(name);
    bool suffixed = len >= 9 && strcmp(name + len - 9, "Exception") == 0;
    snprintf(out, n, "%s.%s%s", t->res.prefix, name, suffixed ? "" : "Exception");
}

/* SdkHttpMetadata and SdkResponseMetadata, as the optimized integrations
 * of SQS, SNS, DynamoDB and Lambda add them to the output. */
static void add_metadata(json_t *out, const struct sl_local_answer *a)
{
    /* (Lambda's status is its StatusCode member: 202 for an Event.) */
    json_t *code = json_object_get(out, "StatusCode");
    int status = json_is_integer(code) ? (int)json_integer_value(code) : a->status;
    json_t *headers = json_pack("{s:s}", "x-amzn-RequestId", a->request_id);
    json_t *all = json_pack("{s:[s]}", "x-amzn-RequestId", a->request_id);
    json_object_set_new(out, "SdkHttpMetadata",
                        json_pack("{s:o, s:o, s:i}", "AllHttpHeaders", all, "HttpHeaders",
                                  headers, "HttpStatusCode", status));
    json_object_set_new(out, "SdkResponseMetadata",
                        json_pack("{s:s}", "RequestId", a->request_id));
}

/* A function's payload as JSON (a text that is not JSON stays a string). */
static json_t *payload_json(const struct sl_local_answer *a)
{
    if (!a->payload || !a->payload_len)
        return json_null();
    json_t *v = json_loadb(a->payload, a->payload_len, JSON_DECODE_ANY, NULL);
    return v ? v : json_stringn(a->payload, a->payload_len);
}

/* A function's error (Invoke answered with FunctionError): its errorType
 * names it, the whole payload is the cause. */
static void function_failed(struct task *t, const struct sl_local_answer *a)
{
    json_t *p = payload_json(a);
    const char *type = json_string_value(json_object_get(p, "errorType"));
    char *cause = a->payload ? strndup(a->payload, a->payload_len) : NULL;
    task_end(t, NULL, type && *type ? type : "Lambda.Unknown", cause);
    free(cause);
    json_decref(p);
}

static void on_answer(void *arg, const struct sl_local_answer *a)
{
    struct task *t = arg;
    t->call_pending = false;
    if (!t->done) {
        task_release(t);
        return;
    }
    if (a->code) {
        char name[256], *cause = NULL;
        error_name(t, a->code, name, sizeof(name));
        if (asprintf(&cause, "%s (Service: %s, Status Code: %d, Request ID: %s)", a->message,
                     t->res.prefix, a->status, a->request_id) < 0)
            cause = NULL;
        task_end(t, NULL, name, cause);
        free(cause);
        return;
    }
    bool lambda = strcmp(t->res.botocore, "lambda") == 0 && strcmp(t->res.op, "Invoke") == 0;
    /* (A function's error fails the task, but through the SDK integration
     * it is the API's output, FunctionError and all.) */
    if (lambda && t->res.kind != SL_RES_SDK && json_object_get(a->out, "FunctionError")) {
        function_failed(t, a);
        return;
    }
    if (t->res.mode == SL_RES_TOKEN)
        return; /* (the task now waits for its token) */
    const char *started = json_string_value(json_object_get(a->out, "executionArn"));
    if (t->res.mode == SL_RES_SYNC && started) {
        /* (Registered before the execution's run starts: that comes from a
         * later turn of the loop.) */
        sl_strlcpy(t->sync_arn, started, sizeof(t->sync_arn));
        t->sync_next = t->st->syncs;
        t->st->syncs = t;
        t->syncing = true;
        return;
    }
    json_t *result;
    if (t->res.kind == SL_RES_FUNCTION) {
        result = payload_json(a);
    } else {
        result = a->out ? json_deep_copy(a->out) : json_object();
        if (result)
            rename_for(t, result, false);
        if (lambda && result)
            json_object_set_new(result, "Payload", payload_json(a));
        /* (EventBridge's answer is Entries and FailedEntryCount only.) */
        if (t->res.kind == SL_RES_OPTIMIZED && result && strcmp(t->res.service, "events") != 0)
            add_metadata(result, a);
    }
    if (!result) {
        task_end(t, NULL, "States.Runtime", "out of memory");
        return;
    }
    long failed = json_integer_value(json_object_get(result, "FailedEntryCount"));
    if (t->res.kind == SL_RES_OPTIMIZED && strcmp(t->res.service, "events") == 0 && failed) {
        char *cause = json_dumps(result, JSON_COMPACT);
        task_end(t, NULL, "EventBridge.FailedEntry", cause);
        free(cause);
    } else {
        task_end(t, result, NULL, NULL);
    }
    json_decref(result);
}

/* ---- calls ----------------------------------------------------------------------------- */

/* Members the optimized integrations take as any JSON but the API as
 * text: serialized (a string stays as it is). */
static int stringify(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_string(v))
        return 0;
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text)
        return SL_ENOMEM;
    json_object_set_new(obj, key, json_string(text));
    free(text);
    return 0;
}

/* The execution's machine, from $$.StateMachine.Id (the default account
 * and region if it has none). */
static void machine_of(json_t *context, struct sfn_ref *r)
{
    const char *id = json_string_value(
        json_object_get(json_object_get(context, "StateMachine"), "Id"));
    if (!sfn_ref_parse(id, r))
        sfn_ref_make(r, SL_DEFAULT_ACCOUNT, SL_DEFAULT_REGION, "");
}

/* Builds the call of t's resource with the state's effective input: the
 * operation's input, and a payload for Invoke. 0, SL_EINVAL (with why),
 * or SL_ENOMEM. */
static int build_call(const struct task *t, const char *resource, json_t *input, json_t **in,
                      char **payload, struct sl_err *err)
{
    *payload = NULL;
    if (t->res.kind == SL_RES_FUNCTION) {
        *in = json_pack("{s:s}", "FunctionName", resource);
        *payload = json_dumps(input, JSON_ENCODE_ANY | JSON_COMPACT);
        return *in && *payload ? 0 : SL_ENOMEM;
    }
    if (!json_is_object(input))
        return sl_errf(err, SL_EINVAL, "The Parameters of a Task calling %s:%s must be an "
                                       "object",
                       t->res.service, t->res.op);
    *in = json_deep_copy(input);
    if (!*in)
        return SL_ENOMEM;
    int rc = 0;
    const char *svc = t->res.service;
    bool sdk = t->res.kind == SL_RES_SDK;
    if (strcmp(t->res.botocore, "lambda") == 0 && strcmp(t->res.op, "Invoke") == 0) {
        /* The payload is the request's body, not a member. */
        json_t *p = json_object_get(*in, "Payload");
        *payload = p ? json_dumps(p, JSON_ENCODE_ANY | JSON_COMPACT) : strdup("{}");
        json_object_del(*in, "Payload");
        rc = *payload ? 0 : SL_ENOMEM;
    } else if (sdk) {
        /* (As given.) */
    } else if (strcmp(svc, "sqs") == 0) {
        rc = stringify(*in, "MessageBody");
    } else if (strcmp(svc, "sns") == 0) {
        rc = stringify(*in, "Message");
    } else if (strcmp(svc, "states") == 0) {
        rc = stringify(*in, "Input");
    } else if (strcmp(svc, "events") == 0) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(*in, "Entries"), i, e)
        {
            if (json_is_object(e) && (rc = stringify(e, "Detail")) != 0)
                break;
        }
    }
    if (!rc)
        rename_for(t, *in, true);
    return rc;
}

static void *tasks_start(void *ctx, const struct sl_run_task *rt, sl_run_task_fn done, void *arg)
{
    struct sfn *st = ctx;
    struct task *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->st = st;
    t->done = done;
    t->arg = arg;
    t->res = rt->state->res;
    struct sl_loop *loop = st->app->loop;
    if (rt->timeout_ms > 0)
        t->timeout = sl_loop_timer(loop, sl_loop_now_ms() + rt->timeout_ms, on_timeout, t);
    if (t->res.mode == SL_RES_TOKEN) {
        const char *token = json_string_value(
            json_object_get(json_object_get(rt->context, "Task"), "Token"));
        sl_strlcpy(t->token, token ? token : "", sizeof(t->token));
        if (tsearch(t, &st->tokens, token_cmp))
            t->registered = true;
        else
            fail_later(t, "States.Runtime", "out of memory");
        t->heartbeat_ms = rt->heartbeat_ms;
        if (t->heartbeat_ms > 0)
            t->heartbeat =
                sl_loop_timer(loop, sl_loop_now_ms() + t->heartbeat_ms, on_heartbeat, t);
    }
    if (t->res.kind == SL_RES_UNSUPPORTED) {
        fail_later(t, "States.Runtime", "Sluice does not run tasks of %s", rt->state->resource);
        return t;
    }
    json_t *in = NULL;
    char *payload = NULL;
    struct sl_err err = {0};
    int rc = build_call(t, rt->state->resource, rt->input, &in, &payload, &err);
    if (rc) {
        json_decref(in);
        free(payload);
        fail_later(t, "States.Runtime", "%s", rc == SL_EINVAL ? err.msg : "out of memory");
        return t;
    }
    struct sfn_ref place;
    machine_of(rt->context, &place);
    t->call_pending = true;
    rc = sl_call_local(st->app, t->res.botocore, t->res.op, place.account, place.region, in,
                       payload,
                       payload ? strlen(payload) : 0, on_answer, t);
    free(payload);
    if (rc) {
        t->call_pending = false;
        if (rc == SL_ENOTFOUND)
            fail_later(t, "States.Runtime", "Sluice does not have %s's %s operation yet",
                       t->res.botocore, t->res.op);
        else
            fail_later(t, "States.Runtime", "The task could not start: %s", sl_strerror(rc));
    }
    return t;
}

static void tasks_cancel(void *ctx, void *handle)
{
    (void)ctx;
    struct task *t = handle;
    /* (Ends without telling the run, which dropped it.) */
    task_detach(t);
    t->done = NULL;
    task_release(t);
}

static void tasks_token(void *ctx, char *out, size_t n)
{
    (void)ctx;
    uint8_t raw[TOKEN_BYTES];
    sl_random(raw, sizeof(raw));
    char hex[2 * TOKEN_BYTES + 1];
    sl_hex_encode(raw, sizeof(raw), hex);
    sl_strlcpy(out, hex, n);
}

static int tasks_read_items(void *ctx, const struct sl_asl_state *s, json_t *input,
                            json_t *context, json_t **out, char *error, size_t en, char **cause);
static int tasks_write_results(void *ctx, const struct sl_asl_state *s, json_t *input,
                               json_t *context, json_t *items, json_t *results, json_t *failures,
                               json_t **out, char *error, size_t en, char **cause);

void sfn_tasks_init(struct sfn *st)
{
    st->tasks = (struct sl_run_tasks){.ctx = st,
                                      .start = tasks_start,
                                      .cancel = tasks_cancel,
                                      .token = tasks_token,
                                      .read_items = tasks_read_items,
                                      .write_results = tasks_write_results};
}

static void no_free(void *p)
{
    (void)p;
}

void sfn_tasks_free(struct sfn *st)
{
    /* (Tasks are their runs': the tree only points at them.) */
    tdestroy(st->tokens, no_free);
    st->tokens = NULL;
}

/* ---- SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat ---------------------------------- */

enum send_kind { SEND_SUCCESS, SEND_FAILURE, SEND_HEARTBEAT };

struct send {
    struct sl_call *c;
    struct sfn *st;
    enum send_kind kind;
    const char *token, *error, *cause;
    json_t *output;
    int rc; /* 0, SL_ENOTFOUND (no task waits for it) */
};

static void send_on_loop(struct sl_loop *l, void *arg)
{
    (void)l;
    struct send *s = arg;
    struct task key;
    sl_strlcpy(key.token, s->token, sizeof(key.token));
    struct task **found = tfind(&key, &s->st->tokens, token_cmp);
    struct task *t = found ? *found : NULL;
    if (!t || !t->done) {
        s->rc = SL_ENOTFOUND;
    } else if (s->kind == SEND_HEARTBEAT) {
        if (t->heartbeat) {
            sl_loop_timer_cancel(t->st->app->loop, t->heartbeat);
            t->heartbeat =
                sl_loop_timer(t->st->app->loop, sl_loop_now_ms() + t->heartbeat_ms, on_heartbeat, t);
        }
    } else if (s->kind == SEND_SUCCESS) {
        task_end(t, s->output, NULL, NULL);
    } else {
        task_end(t, NULL, s->error ? s->error : "", s->cause);
    }
    sl_call_wake(s->c);
}

static int send_answer(struct sl_call *c)
{
    struct send *s = c->state;
    json_decref(s->output);
    s->output = NULL;
    if (s->rc)
        return sl_call_fail(c, SFN_E_TASK_TIMED_OUT,
                            "Task Timed Out: 'Provided task does not exist anymore'");
    return sl_call_ok(c, json_object());
}

static void send_free(struct sl_call *c)
{
    struct send *s = c->state;
    if (s)
        json_decref(s->output);
}

static int send(struct sl_call *c, enum send_kind kind)
{
    struct send *s = sl_call_alloc(c, sizeof(*s));
    if (!s)
        return SL_ENOMEM;
    s->c = c;
    s->st = c->svc;
    s->kind = kind;
    c->state = s;
    c->state_free = send_free;
    s->token = json_string_value(json_object_get(c->in, "taskToken"));
    size_t n = strlen(s->token);
    bool hex = n == 2 * TOKEN_BYTES;
    for (size_t i = 0; hex && i < n; i++)
        hex = strchr("0123456789abcdef", s->token[i]) != NULL;
    if (!hex)
        return sl_call_fail(c, SFN_E_INVALID_TOKEN, "Invalid Token: 'Invalid token'");
    if (kind == SEND_SUCCESS) {
        const char *text = json_string_value(json_object_get(c->in, "output"));
        json_error_t je;
        s->output = text ? json_loads(text, JSON_DECODE_ANY, &je) : NULL;
        if (!s->output)
            return sl_call_fail(c, SFN_E_INVALID_OUTPUT, "Invalid Output: '%s'", je.text);
        if (strlen(text) > OUTPUT_MAX)
            return sl_call_fail(c, SFN_E_INVALID_OUTPUT,
                                "Invalid Output: 'the output is larger than 256 KiB'");
    } else if (kind == SEND_FAILURE) {
        s->error = json_string_value(json_object_get(c->in, "error"));
        s->cause = json_string_value(json_object_get(c->in, "cause"));
    }
    sl_call_wait(c, send_answer);
    if (sl_loop_post(c->app->loop, send_on_loop, s)) {
        s->rc = SL_ENOTFOUND;
        sl_call_wake(c);
    }
    return SL_LATER;
}

SL_OP(states, SendTaskSuccess)
{
    return send(c, SEND_SUCCESS);
}

SL_OP(states, SendTaskFailure)
{
    return send(c, SEND_FAILURE);
}

SL_OP(states, SendTaskHeartbeat)
{
    return send(c, SEND_HEARTBEAT);
}

/* ---- a distributed Map's ItemReader and ResultWriter (S3) ------------------------------- */

#define READER_MAX (256 * 1024 * 1024) /* the largest object an ItemReader reads */

static int reader_fail(char *error, size_t en, char **cause, const char *fmt, ...) SL_PRINTF(4, 5);
static int reader_fail(char *error, size_t en, char **cause, const char *fmt, ...)
{
    sl_strlcpy(error, "States.ItemReaderFailed", en);
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(cause, fmt, ap) < 0)
        *cause = NULL;
    va_end(ap);
    return SL_EINVAL;
}

static int csv_row(void *arg, const struct sl_csv_field *f, size_t nf, int64_t line)
{
    (void)line;
    json_t *row = json_array();
    for (size_t i = 0; i < nf; i++) {
        json_t *v = json_stringn(f[i].s, f[i].n);
        if (!v || json_array_append_new(row, v)) {
            json_decref(row); /* (not UTF-8: no row is made of it) */
            return SL_EINVAL;
        }
    }
    return json_array_append_new(arg, row) ? SL_ENOMEM : 0;
}

/* CSV (RFC 4180: quoted fields, "" in them, line breaks inside quotes;
 * formats/csv.h) as rows of fields: each row an array of strings. NULL
 * when a field is not UTF-8. */
json_t *sfn_csv_rows(const char *p, size_t n)
{
    json_t *rows = json_array();
    struct sl_csv *c = NULL;
    int rc = sl_csv_new(',', n + 1, csv_row, rows, &c);
    if (!rc)
        rc = sl_csv_feed(c, p, n, NULL);
    /* (An unclosed quote ends with the text: its row too.) */
    if (!rc && sl_csv_in_quote(c))
        rc = sl_csv_feed(c, "\"", 1, NULL);
    if (!rc)
        rc = sl_csv_finish(c, NULL);
    sl_csv_free(c);
    if (rc) {
        json_decref(rows);
        return NULL;
    }
    return rows;
}

/* The items of an object's text read as type ("JSON", "JSONL", "CSV"). */
static int parse_items(const struct sl_asl_state *s, const char *text, size_t len, json_t **out,
                       char *error, size_t en, char **cause)
{
    json_error_t je;
    if (strcmp(s->reader_type, "JSON") == 0) {
        json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &je);
        if (!json_is_array(v)) {
            json_decref(v);
            return reader_fail(error, en, cause, "The object is not a JSON array: %s",
                               v ? "another value" : je.text);
        }
        *out = v;
        return 0;
    }
    json_t *items = json_array();
    if (strcmp(s->reader_type, "JSONL") == 0) {
        for (const char *p = text, *end = text + len; p < end;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            if (strspn(p, " \t\r") < n) {
                json_t *v = json_loadb(p, n, JSON_DECODE_ANY, &je);
                if (!v) {
                    json_decref(items);
                    return reader_fail(error, en, cause, "A line is not JSON: %s", je.text);
                }
                json_array_append_new(items, v);
            }
            p += n + 1;
        }
        *out = items;
        return 0;
    }
    json_t *rows = sfn_csv_rows(text, len);
    if (!rows) {
        json_decref(items);
        return reader_fail(error, en, cause, "The CSV object is not UTF-8 text");
    }
    const json_t *headers = s->csv_headers;
    size_t first = 0;
    if (!headers) {
        headers = json_array_get(rows, 0);
        first = 1;
    }
    for (size_t r = first; r < json_array_size(rows); r++) {
        json_t *row = json_array_get(rows, r), *item = json_object();
        size_t nh = json_array_size(headers);
        if (json_array_size(row) > nh) {
            json_decref(item);
            json_decref(items);
            json_decref(rows);
            return reader_fail(error, en, cause,
                               "Row %zu has %zu fields, more than the %zu headers", r + 1,
                               json_array_size(row), nh);
        }
        for (size_t k = 0; k < nh; k++) {
            json_t *v = json_array_get(row, k);
            json_object_set_new(item, json_string_value(json_array_get(headers, k)),
                                v ? json_incref(v) : json_string(""));
        }
        json_array_append_new(items, item);
    }
    json_decref(rows);
    *out = items;
    return 0;
}

static int tasks_read_items(void *ctx, const struct sl_asl_state *s, json_t *input,
                            json_t *context, json_t **out, char *error, size_t en, char **cause)
{
    struct sfn *st = ctx;
    struct sl_err err = {0};
    json_t *params = NULL;
    if (sl_template_eval(s->reader_params, input, context, &params, &err))
        return reader_fail(error, en, cause, "%s", err.msg);
    const char *bucket = json_string_value(json_object_get(params, "Bucket"));
    const char *key = json_string_value(json_object_get(params, "Key"));
    const char *prefix = json_string_value(json_object_get(params, "Prefix"));
    int rc;
    if (!bucket || (!s->reader_list && !key)) {
        rc = reader_fail(error, en, cause, "The ItemReader's Parameters need Bucket%s",
                         s->reader_list ? "" : " and Key");
    } else if (s->reader_list) {
        rc = sl_s3_list_keys(st->app->store, bucket, prefix ? prefix : "", (size_t)s->reader_max,
                             out);
        if (rc == SL_ENOTFOUND)
            rc = reader_fail(error, en, cause, "The bucket %s does not exist", bucket);
    } else {
        struct sl_buf text;
        sl_buf_init(&text, 0);
        bool no_bucket = false;
        rc = sl_s3_read_object(st->app->store, bucket, key, READER_MAX, &text, &no_bucket);
        if (rc == SL_ENOTFOUND)
            rc = reader_fail(error, en, cause, no_bucket ? "The bucket %s does not exist"
                                                         : "The object %s/%s does not exist",
                             bucket, key);
        else if (rc == SL_ETOOBIG)
            rc = reader_fail(error, en, cause, "The object %s/%s is larger than %d bytes",
                             bucket, key, READER_MAX);
        else if (!rc)
            rc = parse_items(s, text.data ? text.data : "", text.len, out, error, en, cause);
        sl_buf_free(&text);
        if (!rc && s->reader_max && json_array_size(*out) > (size_t)s->reader_max) {
            json_t *some = json_array();
            for (size_t i = 0; i < (size_t)s->reader_max; i++)
                json_array_append(some, json_array_get(*out, i));
            json_decref(*out);
            *out = some;
        }
    }
    json_decref(params);
    if (rc && !*cause)
        reader_fail(error, en, cause, "%s", sl_strerror(rc));
    return rc;
}

/* Writes one JSON document under prefix; adds {"Key", "Size"} to files. */
static int write_doc(struct sfn *st, const char *account, const char *bucket, const char *key,
                     json_t *doc, json_t *files, struct sl_err *err)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc = text ? sl_s3_write_object(st->app, account, bucket, key, text, strlen(text),
                                       "application/json", err)
                  : SL_ENOMEM;
    if (!rc && files)
        json_array_append_new(files, json_pack("{s:s, s:I}", "Key", key, "Size",
                                               (json_int_t)strlen(text)));
    free(text);
    return rc;
}

static int tasks_write_results(void *ctx, const struct sl_asl_state *s, json_t *input,
                               json_t *context, json_t *items, json_t *results, json_t *failures,
                               json_t **out, char *error, size_t en, char **cause)
{
    struct sfn *st = ctx;
    struct sl_err err = {0};
    json_t *eff = NULL, *params = NULL;
    if (sl_asl_path_apply(&s->input_path, input, context, &eff, &err) ||
        sl_template_eval(s->writer_params, eff, context, &params, &err)) {
        json_decref(eff);
        sl_strlcpy(error, "States.ResultWriterFailed", en);
        *cause = strdup(err.msg);
        return SL_EINVAL;
    }
    json_decref(eff);
    const char *bucket = json_string_value(json_object_get(params, "Bucket"));
    const char *prefix = json_string_value(json_object_get(params, "Prefix"));
    struct sfn_ref m;
    machine_of(context, &m);
    const char *account = m.account;
    char id[40];
    sl_uuid(id);
    const char *exec = json_string_value(
        json_object_get(json_object_get(context, "Execution"), "Id"));
    char run_arn[512], dir[1200], key[1300];
    snprintf(run_arn, sizeof(run_arn), "arn:aws:states:%s:%s:mapRun:%s/%s:%s", m.region,
             account, m.name, s->name, id);
    size_t plen = prefix ? strlen(prefix) : 0;
    snprintf(dir, sizeof(dir), "%s%s%s/", plen ? prefix : "",
             plen && prefix[plen - 1] != '/' ? "/" : "", id);
    json_t *ok = json_array(), *bad = json_array(), *files_ok = json_array(),
           *files_bad = json_array();
    size_t i;
    json_t *r;
    char now[40];
    sl_time_iso8601_ms(sl_time_now_ms(), now, sizeof(now));
    size_t nres = json_array_size(results);
    bool *failed = calloc(nres ? nres : 1, sizeof(*failed));
    json_t *f;
    json_array_foreach(failures, i, f)
    {
        size_t index = (size_t)json_integer_value(json_object_get(f, "index"));
        if (failed && index < nres)
            failed[index] = true;
    }
    json_array_foreach(results, i, r)
    {
        if (!failed || failed[i])
            continue; /* (a null output of a success is a success) */
        json_t *one = json_pack("{s:s, s:o, s:{s:b}, s:o, s:{s:b}, s:s, s:s}", "ExecutionArn",
                                exec ? exec : "", "Input", sfn_json_text(json_array_get(items, i)),
                                "InputDetails", "Included", 1, "Output", sfn_json_text(r),
                                "OutputDetails", "Included", 1, "Status", "SUCCEEDED",
                                "StopDate", now);
        json_array_append_new(ok, one);
    }
    free(failed);
    json_array_foreach(failures, i, f)
    {
        size_t index = (size_t)json_integer_value(json_object_get(f, "index"));
        json_t *one = json_pack("{s:s, s:o, s:{s:b}, s:O, s:s, s:s}", "ExecutionArn",
                                exec ? exec : "", "Input",
                                sfn_json_text(json_array_get(items, index)), "InputDetails", "Included",
                                1, "Error", json_object_get(f, "error"), "Status", "FAILED",
                                "StopDate", now);
        if (json_object_get(f, "cause"))
            json_object_set(one, "Cause", json_object_get(f, "cause"));
        json_array_append_new(bad, one);
    }
    int rc = bucket ? 0 : SL_EINVAL;
    if (!rc && json_array_size(ok)) {
        snprintf(key, sizeof(key), "%sSUCCEEDED_0.json", dir);
        rc = write_doc(st, account, bucket, key, ok, files_ok, &err);
    }
    if (!rc && json_array_size(bad)) {
        snprintf(key, sizeof(key), "%sFAILED_0.json", dir);
        rc = write_doc(st, account, bucket, key, bad, files_bad, &err);
    }
    if (!rc) {
        json_t *manifest = json_pack("{s:s, s:s, s:{s:O, s:[], s:O}}", "DestinationBucket",
                                     bucket, "MapRunArn", run_arn, "ResultFiles", "FAILED",
                                     files_bad, "PENDING", "SUCCEEDED", files_ok);
        snprintf(key, sizeof(key), "%smanifest.json", dir);
        rc = write_doc(st, account, bucket, key, manifest, NULL, &err);
        json_decref(manifest);
    }
    if (rc) {
        sl_strlcpy(error, "States.ResultWriterFailed", en);
        *cause = strdup(bucket ? err.msg : "The ResultWriter's Parameters need a Bucket");
    } else {
        *out = json_pack("{s:s, s:{s:s, s:s}}", "MapRunArn", run_arn, "ResultWriterDetails",
                         "Bucket", bucket, "Key", key);
    }
    json_decref(ok);
    json_decref(bad);
    json_decref(files_ok);
    json_decref(files_bad);
    json_decref(params);
    return rc;
}

/* ---- .sync: waiting for an execution's end ----------------------------------------------------- */

void sfn_tasks_execution_ended(struct sfn *st, const char *arn, const char *status,
                               json_t *described)
{
    struct task *t = st->syncs;
    while (t) {
        struct task *next = t->sync_next;
        if (strcmp(t->sync_arn, arn) != 0) {
            t = next;
            continue;
        }
        json_t *out = json_deep_copy(described);
        if (t->res.sync2 && out) {
            /* (.sync:2: the input and output as JSON, not text) */
            static const char *const texts[] = {"Input", "Output"};
            for (size_t i = 0; i < 2; i++) {
                const char *text = json_string_value(json_object_get(out, texts[i]));
                json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
                if (v)
                    json_object_set_new(out, texts[i], v);
            }
        }
        if (strcmp(status, "SUCCEEDED") == 0) {
            task_end(t, out, NULL, NULL);
        } else {
            char *cause = json_dumps(described, JSON_COMPACT);
            task_end(t, NULL, "States.TaskFailed", cause);
            free(cause);
        }
        json_decref(out);
        t = st->syncs; /* (the list changed: from its start again) */
    }
}
