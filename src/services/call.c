/*
 * The layer between the front door and a service's handlers: finding the
 * operation of a routed request in its service's table, taking the body
 * up to the service's cap, decoding and validating the input by the
 * model, running the handler, and answering with its output or its error
 * in the request's protocol. Operations a service does not implement yet,
 * and endpoints Sluice has no service for, get their protocol's own
 * error from here.
 */
#include "services/frontdoor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The protocols' own errors for an operation Sluice does not implement
 * (it exists in AWS's model) and for one the service does not have. */
struct missing {
    const char *code;
    int status;
};
static const struct missing not_implemented[] = {
    [SL_PROTO_REST_XML] = {"NotImplemented", 501},
    [SL_PROTO_REST_JSON] = {"UnknownOperationException", 501},
    [SL_PROTO_JSON] = {"UnknownOperationException", 400},
    [SL_PROTO_QUERY] = {"InvalidAction", 400},
};
static const struct missing unknown_operation[] = {
    [SL_PROTO_REST_XML] = {"MethodNotAllowed", 405},
    [SL_PROTO_REST_JSON] = {"UnknownOperationException", 404},
    [SL_PROTO_JSON] = {"UnknownOperationException", 400},
    [SL_PROTO_QUERY] = {"InvalidAction", 400},
};

/*
 * A query service that also speaks JSON (SQS) answers a JSON request's
 * error as AWS does: __type names the error's shape in the service's
 * namespace ("com.amazonaws.sqs#QueueDoesNotExist"), and the header
 * x-amzn-query-error carries the query protocol's code and fault
 * ("AWS.SimpleQueueService.NonExistentQueue;Sender"), which query-
 * compatible clients report as the error's Code. An error the model has
 * no shape for is named by its code.
 */
static void query_compatible(const struct sl_call *c, const char *code, bool receiver,
                             char *type, size_t ntype, char *query, size_t nquery)
{
    const struct sl_service_model *m = c->service->model;
    const char *name = code;
    for (size_t i = 0; i < m->nshapes; i++) {
        const struct sl_shape *s = &m->shapes[i];
        if ((s->flags & SL_SHAPE_EXCEPTION) && s->error_code && strcmp(s->error_code, code) == 0) {
            name = s->name;
            break;
        }
    }
    snprintf(type, ntype, "com.amazonaws.%s#%s", c->endpoint->name, name);
    snprintf(query, nquery, "%s;%s", code, receiver ? "Receiver" : "Sender");
}

static void local_fault(struct sl_call *c, const char *code, int status, const char *msg);
static void local_wake(struct sl_local *lo);
static void local_finish(struct sl_call *c, int rc);

void sl_call_fault(struct sl_call *c, const char *code, int status, bool receiver,
                   const char *const *extra, json_t *fields, const char *msg)
{
    if (c->local) {
        local_fault(c, code, status, msg);
        return;
    }
    char type[192], query[192];
    const char *query_error = NULL;
    if (c->protocol == SL_PROTO_JSON && c->service &&
        c->service->model->protocol == SL_PROTO_QUERY) {
        query_compatible(c, code, receiver, type, sizeof(type), query, sizeof(query));
        code = type;
        query_error = query;
    }
    struct sl_aws_fault f = {
        .code = code,
        .status = status,
        .receiver = receiver,
        .message = msg,
        .extra = extra,
        .fields = fields,
        .json_version = c->endpoint ? c->endpoint->json_version : NULL,
        .xmlns = c->service ? c->service->model->xml_namespace : NULL,
        .query_error = query_error,
    };
    sl_aws_fault_send(c->http, c->protocol, &f, c->request_id);
}

static int vfail(struct sl_call *c, int id, const char *const *extra, json_t *fields,
                 const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    const struct sl_aws_error *e = &c->service->errors[id];
    sl_call_fault(c, e->code, e->status, e->receiver, extra, fields, msg);
    json_decref(fields);
    return SL_DONE;
}

int sl_call_vfail(struct sl_call *c, int id, const char *fmt, va_list ap)
{
    return vfail(c, id, NULL, NULL, fmt, ap);
}

int sl_call_fail(struct sl_call *c, int id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(c, id, NULL, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

int sl_call_fail_ex(struct sl_call *c, int id, const char *const *extra, json_t *fields,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(c, id, extra, fields, fmt, ap);
    va_end(ap);
    return rc;
}

int sl_call_internal(struct sl_call *c, int rc, const struct sl_err *err)
{
    sl_error(c->service->name, "%s: %s", c->op ? c->op->name : "request",
             err && err->msg[0] ? err->msg : sl_strerror(rc));
    const struct sl_aws_error *e = &c->service->errors[c->service->e_internal];
    sl_call_fault(c, e->code, e->status, e->receiver, NULL, NULL,
          "We encountered an internal error. Please try again.");
    return SL_DONE;
}

int sl_call_ok(struct sl_call *c, json_t *out)
{
    json_decref(c->out);
    c->out = out;
    return 0;
}

void *sl_call_alloc(struct sl_call *c, size_t n)
{
    void *p = sl_arena_alloc(&c->http->arena, n);
    if (p)
        memset(p, 0, n);
    return p;
}

void sl_call_wait(struct sl_call *c, sl_op_fn then)
{
    c->then = then;
    c->waiting = true;
    if (!c->local)
        sl_http_wait(c->http);
}

void sl_call_wake(struct sl_call *c)
{
    if (c->local)
        local_wake(c->local);
    else
        sl_http_resume(c->http);
}

bool sl_call_waiting(const struct sl_call *c)
{
    return c->waiting;
}

void sl_call_resume(struct sl_call *c)
{
    c->waiting = false;
    sl_call_finish(c, c->then(c));
}

/* The write's batch is durable or failed (the writer's thread). */
static void write_done(void *arg, int result)
{
    struct sl_call *c = arg;
    c->write_rc = result;
    sl_call_wake(c);
}

int sl_call_write(struct sl_call *c, sl_txn_fn fn, void *arg, sl_op_fn then)
{
    c->write_arg = arg;
    memset(&c->write_err, 0, sizeof(c->write_err));
    sl_call_wait(c, then);
    int rc = sl_store_submit(c->app->store, fn, arg, &c->write_err, write_done, c);
    if (rc) {
        c->write_rc = sl_errf(&c->write_err, rc, "%s",
                              rc == SL_ECLOSED ? "the store is closing" : "out of memory");
        sl_call_wake(c);
    }
    return SL_LATER;
}

int sl_call_ok_text(struct sl_call *c, const char *body, size_t len)
{
    if (c->local) {
        json_t *out = json_loadb(body, len, 0, NULL);
        return out ? sl_call_ok(c, out) : SL_ENOMEM;
    }
    struct sl_http_request *r = c->http;
    sl_aws_set_request_id(r, c->protocol, c->request_id);
    if (sl_buf_append(&r->resp.body, body, len))
        return SL_ENOMEM;
    sl_http_set_header(r, "Content-Type",
                       sl_aws_json_content_type(c->protocol, c->endpoint->json_version));
    sl_http_send(r, c->op && c->op->success_status ? c->op->success_status : 200);
    return 0;
}

void sl_call_finish(struct sl_call *c, int rc)
{
    struct sl_http_request *r = c->http;
    if (c->local) {
        local_finish(c, rc);
        return;
    }
    if (rc == SL_LATER && c->waiting)
        return;
    c->waiting = false; /* (a wait that ended before it began: answered now) */
    if (rc == SL_LATER) {
        sl_error(c->service->name, "%s waits for nothing", c->op ? c->op->name : "request");
        rc = SL_EINVAL;
    }
    if (rc == 0 && !r->resp.ready) {
        struct sl_model_answer a = {
            .protocol = c->protocol,
            .json_version = c->endpoint->json_version,
            .request_id = c->request_id,
            .payload = c->out_payload,
            .payload_len = c->out_payload_len,
        };
        sl_model_respond(c->service->model, c->op, r, c->out, &a);
    } else if (rc < 0) {
        sl_call_internal(c, rc, NULL);
    } else if (!r->resp.ready) {
        sl_error(c->service->name, "%s ended without an answer", c->op ? c->op->name : "request");
        sl_call_internal(c, SL_EINVAL, NULL);
    }
    json_decref(c->out);
    c->out = NULL;
}

/* ---- the front door's side ------------------------------------------- */

/* Answers the protocol's error for an operation Sluice lacks. */
static void answer_missing(struct sl_call *c, const char *op, bool known)
{
    const char *name = c->endpoint->name;
    const struct missing *row =
        known ? &not_implemented[c->protocol] : &unknown_operation[c->protocol];
    char msg[512];
    if (c->protocol == SL_PROTO_QUERY)
        snprintf(msg, sizeof(msg), "The action %s is not valid for this web service%s%s%s.",
                 op ? op : "(none)", known ? " (Sluice does not implement " : "",
                 known ? name : "", known ? " yet)" : "");
    else if (known)
        snprintf(msg, sizeof(msg), "Operation %s of service %s is not implemented by Sluice yet.",
                 op ? op : c->http->path, name);
    else if (c->protocol == SL_PROTO_REST_XML)
        snprintf(msg, sizeof(msg), "The specified method is not allowed against this resource.");
    else if (c->protocol == SL_PROTO_REST_JSON)
        snprintf(msg, sizeof(msg), "No %s operation matches %s %s", name, c->http->method,
                 c->http->path);
    else
        snprintf(msg, sizeof(msg), "%s has no operation %s.", name, op ? op : "(none)");
    sl_call_fault(c, row->code, row->status, false, NULL, NULL, msg);
}

/* Finds c's operation and handler; 0, or the call has its answer. */
static int find_operation(struct sl_call *c, const struct sl_http_param *params, size_t n)
{
    const struct sl_service *svc = c->service;
    c->op = sl_model_operation(svc->model, c->protocol, c->http, params, n);
    if (!c->op) {
        answer_missing(c, sl_aws_operation(c->http, c->protocol, params, n), false);
        return SL_DONE;
    }
    if (!svc->handlers[c->op - svc->model->ops]) {
        answer_missing(c, c->op->name, true);
        return SL_DONE;
    }
    return 0;
}

static size_t body_cap(const struct sl_call *c)
{
    const struct sl_service *svc = c->service;
    size_t cap = c->op && svc->op_body_cap ? svc->op_body_cap(c->op) : 0;
    return cap ? cap : svc->body_cap;
}

/* A streaming service's handler of a request without a body, at its end:
 * what it chose to run at the end (for an empty body) runs at once. */
static int run_bodiless(struct sl_call *c)
{
    const struct sl_service *svc = c->service;
    int rc = svc->handlers[c->op - svc->model->ops](c);
    if (rc == 0 && c->end) {
        sl_op_fn end = c->end;
        c->end = NULL;
        return end(c);
    }
    return rc ? rc : SL_EINVAL;
}

int sl_call_begin(struct sl_call *c)
{
    const struct sl_service *svc = c->service;
    if (!svc) {
        /* An endpoint Sluice has no service for: the protocol's error. */
        const char *op = sl_aws_operation(c->http, c->protocol, NULL, 0);
        answer_missing(c, op, true);
        return SL_DONE;
    }
    int rc;
    if (svc->streaming) {
        if (svc->prepare && (rc = svc->prepare(c)) != 0) {
            sl_call_finish(c, rc);
            return SL_DONE;
        }
        if (find_operation(c, NULL, 0))
            return SL_DONE;
        /* Without a body the handler runs at the end, where it may wait. */
        if (!sl_http_has_body(c->http)) {
            c->end = run_bodiless;
            return 0;
        }
        rc = svc->handlers[c->op - svc->model->ops](c);
        if (rc == 0 && (c->body_cb || c->end))
            return 0; /* taking the body */
        sl_call_finish(c, rc ? rc : SL_EINVAL);
        return SL_DONE;
    }
    /* A query request may name its Action in its body: found at the end. */
    bool deferred = c->protocol == SL_PROTO_QUERY && !sl_http_param(c->http, "Action");
    if (!deferred && find_operation(c, NULL, 0))
        return SL_DONE;
    sl_buf_init(&c->body, body_cap(c));
    c->body_too_big = c->http->has_content_length && c->http->content_length > body_cap(c);
    return 0;
}

int sl_call_body(struct sl_call *c, const char *p, size_t n)
{
    if (c->body_cb)
        return c->body_cb(c, p, n);
    if (!c->service || c->service->streaming)
        return 0;
    if (c->body_too_big)
        return 0;
    int rc = sl_buf_append(&c->body, p, n);
    if (rc == SL_ETOOBIG) {
        c->body_too_big = true; /* the rest is drained; end answers */
        return 0;
    }
    return rc;
}

/* Answers a body over the cap with the service's error. */
static void too_big(struct sl_call *c)
{
    const struct sl_service *svc = c->service;
    char msg[512];
    if (svc->too_big_message)
        svc->too_big_message(c->op, msg, sizeof(msg));
    else
        snprintf(msg, sizeof(msg), "Your request was too big: the limit is %zu bytes.",
                 body_cap(c));
    sl_call_fail(c, svc->e_too_big, "%s", msg);
}

void sl_call_end(struct sl_call *c)
{
    const struct sl_service *svc = c->service;
    if (c->end) {
        sl_op_fn end = c->end;
        c->end = NULL;
        sl_call_finish(c, end(c));
        return;
    }
    if (c->body_too_big) {
        too_big(c);
        return;
    }
    struct sl_http_param *params = NULL;
    size_t nparams = 0;
    if (c->protocol == SL_PROTO_QUERY &&
        sl_model_form_params(&c->http->arena, c->body.data, c->body.len, &params, &nparams)) {
        sl_call_fail(c, svc->e_serialization, "The request body is not a valid form encoding.");
        return;
    }
    if (!c->op && find_operation(c, params, nparams))
        return;
    if (svc->fast && (c->protocol == SL_PROTO_JSON || c->protocol == SL_PROTO_REST_JSON)) {
        int rc = svc->fast(c);
        if (rc != SL_EAGAIN) {
            sl_call_finish(c, rc);
            return;
        }
    }
    struct sl_model_error e = {0};
    int rc = sl_model_decode(svc->model, c->op, c->protocol, c->http, c->body.data, c->body.len,
                             params, nparams, &c->in, &e);
    if (rc == SL_EINVAL) {
        bool validation = strcmp(e.code, "ValidationException") == 0;
        sl_call_fail(c, validation ? svc->e_validation : svc->e_serialization, "%s", e.message);
        return;
    }
    if (rc) {
        sl_call_internal(c, rc, NULL);
        return;
    }
    if (svc->check && (rc = svc->check(c)) != 0) {
        sl_call_finish(c, rc);
        return;
    }
    sl_call_finish(c, svc->handlers[c->op - svc->model->ops](c));
}

void sl_call_abort(struct sl_call *c)
{
    if (c->abort)
        c->abort(c);
}

void sl_call_close(struct sl_call *c)
{
    if (c->state_free)
        c->state_free(c);
    json_decref(c->in);
    json_decref(c->out);
    c->in = c->out = NULL;
    sl_buf_free(&c->body);
}

/* ---- calls from inside Sluice ---------------------------------------- */

struct sl_local {
    struct sl_http_request req; /* no connection: an arena, a Host header */
    struct sl_http_header host;
    struct sl_call call;
    sl_local_fn done;
    void *arg;
    int posts;     /* wakes posted to the loop, not run yet (atomic) */
    bool finished; /* done was called */
    int status;    /* a failure's */
    char code[128];
    char *message;
};

static void local_release(struct sl_local *lo)
{
    if (!lo->finished || __atomic_load_n(&lo->posts, __ATOMIC_ACQUIRE))
        return;
    sl_call_close(&lo->call);
    json_decref(lo->call.out);
    sl_buf_free(&lo->req.resp.body);
    sl_arena_free(&lo->req.arena);
    free(lo->message);
    struct sl_app *app = lo->call.app;
    free(lo);
    sl_inflight_drop(&app->local_calls);
}

static void local_fault(struct sl_call *c, const char *code, int status, const char *msg)
{
    struct sl_local *lo = c->local;
    if (!lo->code[0]) {
        sl_strlcpy(lo->code, code, sizeof(lo->code));
        lo->status = status;
        lo->message = strdup(msg ? msg : "");
    }
    c->http->resp.ready = true;
}

/* The call has its outcome: the caller hears it, and what the call holds
 * goes once no wake is still on its way. */
static void local_finish(struct sl_call *c, int rc)
{
    struct sl_local *lo = c->local;
    if (rc == SL_LATER && c->waiting)
        return;
    c->waiting = false;
    if (lo->finished)
        return;
    if (rc == SL_LATER) {
        sl_error(c->service->name, "%s waits for nothing", c->op->name);
        rc = SL_EINVAL;
    }
    if (rc < 0)
        sl_call_internal(c, rc, NULL);
    else if (rc == SL_DONE && !lo->code[0])
        sl_call_internal(c, SL_EINVAL, NULL); /* (ended without an answer) */
    struct sl_local_answer a = {.request_id = c->request_id};
    if (lo->code[0]) {
        a.status = lo->status;
        a.code = lo->code;
        a.message = lo->message ? lo->message : "";
    } else {
        a.status = c->op->success_status ? c->op->success_status : 200;
        a.out = c->out;
        a.payload = c->out_payload;
        a.payload_len = c->out_payload_len;
    }
    lo->finished = true;
    lo->done(lo->arg, &a);
    local_release(lo);
}

/* A wake (from any thread): the continuation runs on the loop's thread. */
static void local_resume(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sl_local *lo = arg;
    __atomic_sub_fetch(&lo->posts, 1, __ATOMIC_ACQ_REL);
    if (!lo->finished && lo->call.waiting)
        sl_call_resume(&lo->call);
    else
        local_release(lo);
}

static void local_wake(struct sl_local *lo)
{
    __atomic_add_fetch(&lo->posts, 1, __ATOMIC_ACQ_REL);
    if (sl_loop_post(lo->call.app->loop, local_resume, lo) == 0)
        return;
    /* (Cannot happen while sl_app_stop waits for the call; said if it
     * does.) */
    sl_error(lo->call.service->name, "%s: a wake came after the loop stopped",
             lo->call.op->name);
}

/* Runs the operation's handler (the loop's thread). */
static void local_start(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sl_local *lo = arg;
    struct sl_call *c = &lo->call;
    const struct sl_service *svc = c->service;
    const struct sl_service_model *m = svc->model;
    if (c->op->input >= 0) {
        struct sl_model_error e = {0};
        if (sl_model_validate(m, &m->shapes[c->op->input], c->in, &e)) {
            bool validation = strcmp(e.code, "ValidationException") == 0;
            local_finish(c, sl_call_fail(c, validation ? svc->e_validation : svc->e_serialization,
                                         "%s", e.message));
            return;
        }
    }
    int rc = svc->check ? svc->check(c) : 0;
    local_finish(c, rc ? rc : svc->handlers[c->op - m->ops](c));
}

int sl_call_local(struct sl_app *app, const char *service, const char *op, const char *account,
                  const char *region, json_t *in, const char *payload, size_t len,
                  sl_local_fn done, void *arg)
{
    const struct sl_service *svc = sl_service_by_name(service);
    const struct sl_operation *o = svc ? sl_model_op_by_name(svc->model, op) : NULL;
    void *state = svc ? sl_app_state(app, svc) : NULL;
    if (!o || !state || !svc->handlers[o - svc->model->ops]) {
        json_decref(in);
        return SL_ENOTFOUND;
    }
    if (svc->streaming) {
        json_decref(in);
        return SL_ENOTSUP;
    }
    sl_inflight_hold(&app->local_calls);
    if (sl_inflight_stopping(&app->local_calls)) {
        sl_inflight_drop(&app->local_calls);
        json_decref(in);
        return SL_ECLOSED;
    }
    struct sl_local *lo = calloc(1, sizeof(*lo));
    if (!lo) {
        sl_inflight_drop(&app->local_calls);
        json_decref(in);
        return SL_ENOMEM;
    }
    struct sl_http_request *r = &lo->req;
    sl_arena_init(&r->arena, 0);
    r->method = "POST";
    r->raw_uri = r->path_raw = r->path = "/";
    r->query_raw = "";
    r->resp.fd = -1;
    const char *url = app->endpoint_url ? app->endpoint_url : "";
    const char *host = strstr(url, "://");
    lo->host = (struct sl_http_header){"Host", host ? host + 3 : url};
    r->headers = &lo->host;
    r->nheaders = 1;
    struct sl_call *c = &lo->call;
    c->http = r;
    c->app = app;
    c->endpoint = sl_aws_endpoint_by_name(service);
    c->service = svc;
    c->svc = state;
    c->protocol = c->endpoint && c->endpoint->json_too ? SL_PROTO_JSON : svc->model->protocol;
    c->op = o;
    c->local = lo;
    sl_aws_request_id(c->request_id);
    sl_strlcpy(c->account, account, sizeof(c->account));
    sl_strlcpy(c->region, region, sizeof(c->region));
    c->in = in ? in : json_object();
    sl_buf_init(&c->body, 0);
    lo->done = done;
    lo->arg = arg;
    int rc = payload ? sl_buf_append(&c->body, payload, len) : 0;
    if (!rc && !c->in)
        rc = SL_ENOMEM;
    if (!rc)
        rc = sl_loop_post(app->loop, local_start, lo);
    if (rc) {
        lo->finished = true;
        local_release(lo);
    }
    return rc;
}
