/* The front door: authentication, routing, payload verification. */
#include "services/frontdoor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/sigv4.h"

/* One request's front-door state, kept in the http request. */
struct door {
    struct sl_call q;
    struct sl_sigv4_request view;
    bool signed_req;
    struct sl_sigv4_auth auth;
    struct sl_sigv4_result res;
    bool have_res;
    bool chunked_on;
    struct sl_chunked chunked;
    bool hash_body; /* x-amz-content-sha256 is a hex digest */
    struct sl_hash sha;
    char want_sha[65];
    const char *secret;           /* the signing key's secret: --credentials', or */
    char session_secret[SL_SESSION_SECRET_LEN + 1]; /* a session's copy */
    int body_rc;                  /* first failure while taking the body */
    enum sl_sigv4_reason reason;  /* its AWS reason, where it has one */
    struct sl_err body_err;
};

static void door_cleanup(struct sl_http_request *r)
{
    struct door *d = r->handler_data;
    if (!d)
        return;
    sl_call_close(&d->q);
    if (d->chunked_on)
        sl_chunked_close(&d->chunked);
    if (d->hash_body)
        sl_hash_close(&d->sha);
    if (d->have_res)
        sl_sigv4_result_close(&d->res);
    free(d);
    r->handler_data = NULL;
}

/* Answers q with an error of the front door's own (authentication,
 * payload checks) in its protocol's shape. */
static void door_error(struct sl_call *q, int status, const char *code, const char *const *extra,
                       const char *fmt, ...) SL_PRINTF(5, 6);

static void door_error(struct sl_call *q, int status, const char *code, const char *const *extra,
                       const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_call_fault(q, code, status, status >= 500, extra, NULL, msg);
}

/* Answers with the AWS error for a SigV4 reason in the request's protocol. */
static void auth_error(struct door *d, enum sl_sigv4_reason reason, const char *msg)
{
    struct sl_call *q = &d->q;
    if (q->protocol == SL_PROTO_REST_XML) {
        const char *extra[13] = {0};
        size_t n = 0;
        if (reason == SL_SIGV4_MISMATCH && d->have_res) {
            extra[n++] = "AWSAccessKeyId";
            extra[n++] = d->auth.access_key;
            extra[n++] = "StringToSign";
            extra[n++] = d->res.string_to_sign.data ? d->res.string_to_sign.data : "";
            extra[n++] = "SignatureProvided";
            extra[n++] = d->auth.signature;
            extra[n++] = "CanonicalRequest";
            extra[n++] = d->res.canonical_request.data ? d->res.canonical_request.data : "";
        }
        door_error(q, sl_sigv4_reason_status(reason), sl_sigv4_reason_s3_code(reason), extra,
                   "%s", msg);
    } else {
        int status = reason == SL_SIGV4_MISMATCH || reason == SL_SIGV4_SKEWED ? 403 : 400;
        door_error(q, status,
                   q->protocol == SL_PROTO_QUERY ? sl_sigv4_reason_query_code(reason)
                                                 : sl_sigv4_reason_json_code(reason),
                   NULL, "%s", msg);
    }
}

static void health(struct sl_frontdoor *fd, struct sl_http_request *r)
{
    sl_buf_printf(&r->resp.body,
                  "{\"status\":\"ok\",\"service\":\"sluice\",\"version\":\"%s\","
                  "\"uptime_seconds\":%lld}\n",
                  SL_VERSION, (long long)(time(NULL) - fd->app->started));
    sl_http_set_header(r, "Content-Type", "application/json");
    sl_http_send(r, 200);
}

/* GET /_sluice/metrics: the store's counters, then each service's. */
static void metrics(struct sl_frontdoor *fd, struct sl_http_request *r)
{
    struct sl_store_stats st;
    sl_store_get_stats(fd->app->store, &st);
    sl_buf_printf(&r->resp.body,
                  "# HELP sluice_store_batches_total Committed write batches (one fsync each).\n"
                  "# TYPE sluice_store_batches_total counter\n"
                  "sluice_store_batches_total %llu\n"
                  "# HELP sluice_store_transactions_total Write transactions run.\n"
                  "# TYPE sluice_store_transactions_total counter\n"
                  "sluice_store_transactions_total %llu\n"
                  "# HELP sluice_store_checkpoints_total Copies of the WAL into the database.\n"
                  "# TYPE sluice_store_checkpoints_total counter\n"
                  "sluice_store_checkpoints_total %llu\n",
                  (unsigned long long)st.batches, (unsigned long long)st.transactions,
                  (unsigned long long)st.checkpoints);
    sl_app_metrics(fd->app, &r->resp.body);
    sl_http_set_header(r, "Content-Type", "text/plain; version=0.0.4");
    sl_http_send(r, 200);
}

/* Feeds decoded body bytes to the service. */
static int to_service(void *ud, const void *p, size_t n)
{
    struct door *d = ud;
    if (d->hash_body)
        sl_hash_update(&d->sha, p, n);
    return sl_call_body(&d->q, p, n);
}

/* Answers the front door's own internal error; SL_DONE. */
static int internal(struct door *d)
{
    door_error(&d->q, 500, "InternalError", NULL,
               "We encountered an internal error. Please try again.");
    return SL_DONE;
}

/* Sets up verification of the body as x-amz-content-sha256 asks; 0, or
 * it has answered (SL_DONE). */
static int setup_payload(struct door *d, struct sl_frontdoor *fd)
{
    enum sl_sigv4_payload kind;
    struct sl_err err = {0};
    enum sl_sigv4_reason reason = SL_SIGV4_OK;
    if (sl_sigv4_payload_kind(&d->view, &kind, &reason, &err)) {
        auth_error(d, reason, err.msg);
        return SL_DONE;
    }
    if (kind == SL_SIGV4_PAYLOAD_SHA256) {
        const char *h = sl_sigv4_header(&d->view, "x-amz-content-sha256");
        snprintf(d->want_sha, sizeof(d->want_sha), "%s", h);
        for (char *c = d->want_sha; *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'F' ? *c + 32 : *c);
        if (sl_hash_init(&d->sha, SL_HASH_SHA256))
            return internal(d);
        d->hash_body = true;
    } else if (kind == SL_SIGV4_PAYLOAD_STREAMING || kind == SL_SIGV4_PAYLOAD_STREAMING_TRAILER ||
               kind == SL_SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER) {
        struct sl_chunked_config cfg;
        if (sl_chunked_config_from(&cfg, &d->view, &reason, &err)) {
            auth_error(d, reason, err.msg);
            return SL_DONE;
        }
        cfg.seed = fd->auth == SL_AUTH_STRICT && d->have_res ? &d->res : NULL;
        cfg.sink = to_service;
        cfg.ud = d;
        int rc = sl_chunked_init(&d->chunked, &cfg, &err);
        d->chunked_on = true;
        if (rc) {
            auth_error(d, SL_SIGV4_BAD_ENCODING, err.msg);
            return SL_DONE;
        }
    }
    return 0;
}

/* The error for a key that is not good, as each protocol's services
 * answer it: one that does not exist (or a session revoked), a session's
 * key with another token, or a session that has expired. */
static void key_refused(struct door *d, enum sl_session_check why)
{
    struct sl_call *q = &d->q;
    bool expired = why == SL_SESSION_EXPIRED;
    if (q->protocol == SL_PROTO_REST_XML && why == SL_SESSION_UNKNOWN) {
        const char *extra[] = {"AWSAccessKeyId", d->auth.access_key, NULL};
        door_error(q, 403, "InvalidAccessKeyId", extra,
                   "The AWS Access Key Id you provided does not exist in our records.");
    } else if (q->protocol == SL_PROTO_REST_XML) {
        door_error(q, 400, expired ? "ExpiredToken" : "InvalidToken", NULL,
                   expired ? "The provided token has expired."
                           : "The provided token is malformed or otherwise invalid.");
    } else {
        bool query = q->protocol == SL_PROTO_QUERY;
        const char *code = expired ? (query ? "ExpiredToken" : "ExpiredTokenException")
                                   : (query ? "InvalidClientTokenId" : "UnrecognizedClientException");
        door_error(q, 403, code, NULL,
                   expired ? "The security token included in the request is expired"
                           : "The security token included in the request is invalid.");
    }
}

/* Authenticates a signed request; 0 to go on, or it has answered
 * (SL_DONE). The key is one of --credentials, or a session Sluice issued
 * (a function environment's). */
static int authenticate(struct door *d, struct sl_frontdoor *fd)
{
    struct sl_call *q = &d->q;
    const struct sl_credential *cred =
        d->signed_req ? sl_credentials_find(fd->creds, d->auth.access_key) : NULL;
    struct sl_session sess;
    enum sl_session_check check = SL_SESSION_UNKNOWN;
    if (cred) {
        snprintf(q->account, sizeof(q->account), "%s", cred->account);
        d->secret = cred->secret_key; /* (the credentials outlive every request) */
    } else if (d->signed_req && fd->sessions) {
        check = sl_sessions_check(fd->sessions, d->auth.access_key, d->auth.security_token,
                                  time(NULL), &sess);
        if (check == SL_SESSION_OK) {
            snprintf(q->account, sizeof(q->account), "%s", sess.account);
            sl_strlcpy(q->caller_arn, sess.arn, sizeof(q->caller_arn));
            sl_strlcpy(q->caller_id, sess.user_id, sizeof(q->caller_id));
            sl_strlcpy(d->session_secret, sess.secret_key, sizeof(d->session_secret));
            d->secret = d->session_secret; /* (the session may be revoked meanwhile) */
        }
    }
    if (fd->auth == SL_AUTH_DEV || q->anonymous)
        return 0;
    if (!d->signed_req) {
        if (q->protocol == SL_PROTO_REST_XML)
            door_error(q, 403, "AccessDenied", NULL, "Access Denied");
        else if (q->protocol == SL_PROTO_QUERY)
            door_error(q, 403, "MissingAuthenticationToken", NULL,
                       "Request is missing Authentication Token");
        else
            door_error(q, 403, "MissingAuthenticationTokenException", NULL,
                       "Missing Authentication Token");
        return SL_DONE;
    }
    if (!cred && check != SL_SESSION_OK) {
        key_refused(d, check);
        return SL_DONE;
    }
    sl_sigv4_result_init(&d->res);
    d->have_res = true;
    struct sl_err err = {0};
    int rc = sl_sigv4_verify(&d->view, &d->auth, d->secret, NULL, time(NULL), &d->res,
                             &err);
    if (rc == SL_EAGAIN) {
        /* JSON and query services sign the body's hash: verify at the end. */
        if (sl_hash_init(&d->sha, SL_HASH_SHA256))
            return internal(d);
        d->hash_body = true;
        d->want_sha[0] = '\0';
        return 0;
    }
    if (rc) {
        auth_error(d, d->res.reason != SL_SIGV4_OK ? d->res.reason : SL_SIGV4_HEADER_MALFORMED,
                   err.msg);
        return SL_DONE;
    }
    return 0;
}

/* GET /_sluice/...: Sluice's own endpoints, then the services'. */
static void own_endpoint(struct sl_frontdoor *fd, struct sl_http_request *r)
{
    if (r->bad_framing) { /* (the services' answer it in their protocol) */
        sl_buf_puts(&r->resp.body, "{\"message\":\"Content-Length headers with different "
                                   "values\"}\n");
        sl_http_set_header(r, "Content-Type", "application/json");
        sl_http_send(r, 400);
        return;
    }
    bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    if (get && strcmp(r->path, "/_sluice/health") == 0) {
        health(fd, r);
        return;
    }
    if (get && strcmp(r->path, "/_sluice/metrics") == 0) {
        metrics(fd, r);
        return;
    }
    if (get && sl_app_endpoint(fd->app, r) == 0)
        return;
    sl_buf_puts(&r->resp.body, "{\"message\":\"no such Sluice endpoint\"}\n");
    sl_http_set_header(r, "Content-Type", "application/json");
    sl_http_send(r, 404);
}

/* Whether unsigned request r is one of the calls AWS takes without a
 * signature: the URLs SNS sends to http(s) endpoints, SubscribeURL
 * (ConfirmSubscription with its token) and UnsubscribeURL. */
static bool anonymous_call(const struct sl_http_request *r)
{
    const char *action = sl_http_param(r, "Action");
    if (!action || strcmp(r->path, "/") != 0 || !sl_aws_endpoint_by_name("sns"))
        return false;
    const char *arn = strcmp(action, "ConfirmSubscription") == 0 ? sl_http_param(r, "TopicArn")
                      : strcmp(action, "Unsubscribe") == 0 ? sl_http_param(r, "SubscriptionArn")
                                                           : NULL;
    return arn && strncmp(arn, "arn:aws:sns:", 12) == 0;
}

static void door_begin(void *ctx, struct sl_http_request *r)
{
    struct sl_frontdoor *fd = ctx;
    if (strncmp(r->path, "/_sluice/", 9) == 0) {
        own_endpoint(fd, r);
        return;
    }
    struct door *d = calloc(1, sizeof(*d));
    if (!d)
        return; /* no answer: the connection is dropped */
    r->handler_data = d;
    r->handler_cleanup = door_cleanup;
    struct sl_call *q = &d->q;
    q->http = r;
    q->app = fd->app;
    sl_aws_request_id(q->request_id);
    snprintf(q->account, sizeof(q->account), "%s", SL_DEFAULT_ACCOUNT);
    snprintf(q->region, sizeof(q->region), "%s", SL_DEFAULT_REGION);

    struct sl_sigv4_header *hv = sl_arena_alloc(&r->arena, (r->nheaders + 1) * sizeof(*hv));
    if (!hv)
        return;
    for (size_t i = 0; i < r->nheaders; i++)
        hv[i] = (struct sl_sigv4_header){r->headers[i].name, r->headers[i].value};
    d->view = (struct sl_sigv4_request){r->method, r->path_raw, r->query_raw, hv, r->nheaders};

    struct sl_err err = {0};
    int rc = sl_sigv4_parse(&d->view, &d->auth, &err);
    d->signed_req = rc == 0;
    q->endpoint = sl_aws_route(r, d->signed_req ? d->auth.service : NULL, &q->protocol);
    if (!d->signed_req && anonymous_call(r)) {
        q->endpoint = sl_aws_endpoint_by_name("sns");
        q->protocol = SL_PROTO_QUERY;
        q->anonymous = true;
    }
    q->service = sl_service_by_name(q->endpoint->name);
    q->svc = q->service ? sl_app_state(fd->app, q->service) : NULL;
    if (d->signed_req && d->auth.region[0])
        snprintf(q->region, sizeof(q->region), "%s", d->auth.region);
    if (rc == SL_EINVAL &&
        !(fd->auth == SL_AUTH_DEV && d->auth.reason == SL_SIGV4_UNSUPPORTED)) {
        auth_error(d, d->auth.reason, err.msg);
        return;
    }
    if (r->bad_framing) {
        /* Answered at once, before the body: the connection then closes. */
        door_error(q, 400, "BadRequest", NULL,
                   "The request has Content-Length headers with different values.");
        return;
    }
    if (r->bad_uri) {
        if (q->protocol == SL_PROTO_REST_XML)
            door_error(q, 400, "InvalidURI", NULL, "Couldn't parse the specified URI.");
        else
            door_error(q, 400, "MalformedQueryString", NULL,
                       "The request URI has a malformed percent-escape.");
        return;
    }
    if (authenticate(d, fd) || setup_payload(d, fd))
        return;
    if (sl_call_begin(q))
        d->body_rc = SL_DONE; /* answered: the body is drained */
}

static int door_body(void *ctx, struct sl_http_request *r, const char *data, size_t n)
{
    (void)ctx;
    struct door *d = r->handler_data;
    if (!d || d->body_rc)
        return SL_EINVAL; /* stops the pieces: the body is drained */
    int rc;
    if (d->chunked_on) {
        rc = sl_chunked_feed(&d->chunked, data, n, &d->body_err);
        if (rc && d->chunked.reason != SL_SIGV4_OK)
            d->reason = d->chunked.reason;
    } else {
        rc = to_service(d, data, n);
    }
    if (rc)
        d->body_rc = rc;
    return rc;
}

/* Whether the body passed every check; answers and returns false if not. */
static bool body_ok(struct door *d, struct sl_frontdoor *fd)
{
    struct sl_call *q = &d->q;
    if (!d->body_rc && d->chunked_on) {
        d->body_rc = sl_chunked_finish(&d->chunked, &d->body_err);
        if (d->body_rc)
            d->reason = d->chunked.reason;
    }
    if (!d->body_rc && d->hash_body) {
        uint8_t digest[SL_SHA256_LEN];
        char hex[65];
        sl_hash_final(&d->sha, digest);
        sl_hex_encode(digest, sizeof(digest), hex);
        if (d->want_sha[0] && strcmp(hex, d->want_sha) != 0) {
            d->reason = SL_SIGV4_CONTENT_SHA256_MISMATCH;
            d->body_rc = sl_errf(&d->body_err, SL_EAUTH,
                                 "The provided 'x-amz-content-sha256' header does not match "
                                 "what was computed.");
        } else if (!d->want_sha[0] && fd->auth == SL_AUTH_STRICT) {
            int rc = sl_sigv4_verify(&d->view, &d->auth, d->secret, hex, time(NULL),
                                     &d->res, &d->body_err);
            if (rc) {
                d->reason = d->res.reason != SL_SIGV4_OK ? d->res.reason : SL_SIGV4_MISMATCH;
                d->body_rc = rc;
            }
        }
    }
    if (!d->body_rc)
        return true;
    sl_call_abort(q);
    if (d->reason != SL_SIGV4_OK)
        auth_error(d, d->reason, d->body_err.msg);
    else if (d->body_rc == SL_ETOOBIG)
        door_error(q, 400, q->protocol == SL_PROTO_REST_XML ? "MaxMessageLengthExceeded"
                                                            : "SerializationException",
                   NULL, "Your request was too big.");
    else
        internal(d);
    return false;
}

/* A call that neither answered nor waits gets the internal error. */
static void answered(struct door *d)
{
    if (!d->q.http->resp.ready && !sl_call_waiting(&d->q))
        internal(d);
}

static void door_end(void *ctx, struct sl_http_request *r)
{
    struct sl_frontdoor *fd = ctx;
    struct door *d = r->handler_data;
    if (!d) {
        sl_http_send(r, 500);
        return;
    }
    if (d->body_rc == SL_DONE)
        return; /* answered in begin */
    if (!body_ok(d, fd))
        return;
    sl_call_end(&d->q);
    answered(d);
}

static void door_resume(void *ctx, struct sl_http_request *r)
{
    (void)ctx;
    struct door *d = r->handler_data;
    sl_call_resume(&d->q);
    answered(d);
}

void sl_frontdoor_handler(struct sl_frontdoor *fd, struct sl_http_handler *out)
{
    *out = (struct sl_http_handler){.ctx = fd,
                                    .begin = door_begin,
                                    .body = door_body,
                                    .end = door_end,
                                    .resume = door_resume};
}
