/*
 * Invoke (RequestResponse, Event and DryRun) and the legacy InvokeAsync:
 * resolve the function, check the payload, then run it through the
 * runtime and answer as Lambda does (a function error is a 200 with
 * X-Amz-Function-Error, a throttle a 429 with Reason), or store it as an
 * asynchronous event and answer 202 once that is durable.
 */
#include "services/lambda/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

/* A 429 TooManyRequestsException with its Reason member, as Lambda sends. */
static int throttled(struct lreq *l, const char *reason)
{
    int rc = sl_call_fail_ex(l->c, LAMBDA_E_TOO_MANY_REQUESTS, NULL,
                             json_pack("{s:s, s:s}", "Reason", reason, "Type", "User"),
                             "Rate Exceeded.");
    sl_http_set_header(l->c->http, "Retry-After", "1");
    return rc;
}

/* A synchronous invoke under way: lives as long as its call. */
struct lrun {
    struct sl_invocation inv;
    char name[80];
    char *context; /* the client context's JSON (malloc'd), or NULL */
};

/* The call is done: the runtime's side of an answered invoke ends once
 * the answer is sent (sl_runtime_settle()), and the invocation's buffers
 * go. */
static void invoke_free(struct sl_call *c)
{
    struct lreq *l = c->state;
    if (!l)
        return;
    if (l->settle)
        sl_lambda_settle(l->lam, l->settle);
    if (l->run) {
        sl_invocation_close(&l->run->inv);
        free(l->run->context);
        l->run = NULL;
    }
}

/* The payload must be JSON: checked without building it, and by jansson
 * (which words the error) when that check is not sure. 0, or answered. */
static int check_payload(struct lreq *l, const char *payload, size_t len)
{
    if (!len || sl_json_valid(payload, len))
        return 0;
    json_error_t jerr;
    json_t *doc = json_loadb(payload, len, JSON_DECODE_ANY, &jerr);
    if (doc) {
        json_decref(doc);
        return 0;
    }
    return sl_lambda_error(l, LAMBDA_E_INVALID_CONTENT,
                           "Could not parse request body into json: Could not parse payload "
                           "into json: %s",
                           jerr.text);
}

static int event_accepted(struct sl_call *c)
{
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    bool legacy = strcmp(c->op->name, "InvokeAsync") == 0;
    return sl_call_ok(c, json_pack("{s:i}", legacy ? "Status" : "StatusCode", 202));
}

/* Stores an asynchronous invocation (Invoke's Event, InvokeAsync). */
static int accept_event(struct lreq *l, const char *name, const char *payload, size_t len)
{
    if (len > SL_LAMBDA_MAX_ASYNC)
        return sl_lambda_error(l, LAMBDA_E_TOO_LARGE,
                               "Request must be smaller than %llu bytes for the InvokeFunction "
                               "operation",
                               SL_LAMBDA_MAX_ASYNC);
    return sl_lambda_async_accept(l->c, name, len ? payload : "{}", len ? len : 2,
                                  event_accepted);
}

/* The invocation ended (the loop's thread): the call answers. */
static void invoke_ended(struct sl_invocation *inv, void *arg)
{
    (void)inv;
    sl_call_wake(arg);
}

/* Answers a synchronous invoke from its ended invocation. */
static int invoke_answer(struct sl_call *c)
{
    struct lreq *l = c->state;
    struct sl_invocation *inv = &l->run->inv;
    sl_lambda_run_end(l->lam, c->account, c->region, l->run->name, inv, 0);
    if (inv->settle)
        l->settle = inv->settle;
    if (inv->result == SL_INVOKE_FAILED)
        return sl_call_internal(c, SL_EIO, NULL);
    if (inv->result == SL_INVOKE_THROTTLED)
        return throttled(l, inv->throttle_reason);
    json_t *out = json_pack("{s:i, s:s}", "StatusCode", 200, "ExecutedVersion", "$LATEST");
    if (inv->result == SL_INVOKE_FUNCTION_ERROR)
        json_object_set_new(out, "FunctionError", json_string("Unhandled"));
    if (inv->want_log) {
        /* The last 4 KB of the log, base64. */
        size_t n = inv->log.len, from = n > 4096 ? n - 4096 : 0;
        struct sl_buf b64;
        sl_buf_init(&b64, 0);
        sl_base64_encode(&b64, (const uint8_t *)inv->log.data + from, n - from);
        json_object_set_new(out, "LogResult", json_string(b64.data ? b64.data : ""));
        sl_buf_free(&b64);
    }
    sl_http_set_header(c->http, "Content-Type", "application/json");
    /* The payload is the invocation's, which lives as long as the call. */
    c->out_payload = inv->response.data;
    c->out_payload_len = inv->response.len;
    return sl_call_ok(c, out);
}

SL_OP(lambda, Invoke)
{
    struct lreq *l = sl_lambda_req(c);
    if (!l)
        return SL_ENOMEM;
    char name[80];
    json_t *cfg;
    int rc = sl_lambda_load_shared(l, name, sizeof(name), &cfg);
    if (rc)
        return rc;
    const char *type = sl_lambda_in_str(l, "InvocationType");
    const char *payload = c->body.data;
    size_t len = c->body.len;
    if ((rc = check_payload(l, payload, len)) != 0) {
        json_decref(cfg);
        return rc;
    }
    if (type && strcmp(type, "DryRun") == 0) {
        json_decref(cfg);
        return sl_call_ok(c, json_pack("{s:i}", "StatusCode", 204));
    }
    if (type && strcmp(type, "Event") == 0) {
        json_decref(cfg);
        return accept_event(l, name, payload, len);
    }
    /* X-Amz-Client-Context is base64 of JSON; the runtime gets the JSON. */
    char *context = NULL;
    const char *cc = sl_lambda_in_str(l, "ClientContext");
    if (cc) {
        size_t n = strlen(cc), out = 0;
        context = calloc(1, n + 1);
        if (!context || sl_base64_decode(cc, n, (uint8_t *)context, n, &out)) {
            free(context);
            json_decref(cfg);
            return sl_lambda_error(l, LAMBDA_E_INVALID_CONTENT,
                                   "Client context must be a valid Base64-encoded JSON object.");
        }
    }
    struct lrun *run = sl_call_alloc(c, sizeof(*run));
    if (!run) {
        free(context);
        json_decref(cfg);
        return SL_ENOMEM;
    }
    l->run = run;
    c->state_free = invoke_free;
    struct sl_invocation *inv = &run->inv;
    sl_invocation_init(inv);
    run->context = context;
    memcpy(run->name, name, sizeof(run->name));
    sl_strlcpy(inv->request_id, c->request_id, sizeof(inv->request_id));
    inv->payload = payload;
    inv->payload_len = len;
    inv->client_context = context;
    const char *log_type = sl_lambda_in_str(l, "LogType");
    inv->want_log = log_type && strcmp(log_type, "Tail") == 0;
    inv->defer_settle = true;
    /* A warm function's quick answer comes at once; else the call waits
     * for invoke_ended() without its thread. */
    sl_call_wait(c, invoke_answer);
    /* (On the engine loop, a call from inside Sluice (sl_call_local)
     * never waits there for the answer.) */
    bool on_loop = sl_loop_is_current(c->app->loop);
    rc = on_loop ? sl_lambda_run_start(l->lam, c->account, c->region, name, cfg, inv,
                                       invoke_ended, c)
                 : sl_lambda_call(l->lam, c->account, c->region, name, cfg, inv, invoke_ended, c);
    json_decref(cfg);
    if (rc == SL_LATER || (on_loop && rc == 0))
        return SL_LATER;
    if (rc)
        return rc;
    return invoke_answer(c);
}

/* The legacy asynchronous invoke (aws lambda invoke-async): the body is
 * the event. */
SL_OP(lambda, InvokeAsync)
{
    struct lreq *l = sl_lambda_req(c);
    if (!l)
        return SL_ENOMEM;
    char name[80];
    json_t *cfg;
    int rc = sl_lambda_load_shared(l, name, sizeof(name), &cfg);
    if (rc)
        return rc;
    json_decref(cfg);
    if ((rc = check_payload(l, c->body.data, c->body.len)) != 0)
        return rc;
    return accept_event(l, name, c->body.data, c->body.len);
}
