/*
 * The client commands of `sluice`: `sluice invoke NAME [JSON]` and
 * `sluice logs NAME [--follow]`, thin conveniences over the same APIs the
 * aws CLI uses (Invoke; CloudWatch Logs FilterLogEvents), sent unsigned to
 * --endpoint (SLUICE_ENDPOINT, default http://127.0.0.1:4566), which
 * --auth=dev accepts.
 */
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

#define MAX_RESPONSE (64 * 1024 * 1024)


static const char *reply_header(const struct sl_cli_reply *r, const char *name, char *out, size_t n)
{
    const char *p = r->headers.data;
    size_t nl = strlen(name);
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)(eol - v), v);
            return out;
        }
        p = eol + 2;
    }
    return NULL;
}

/* One HTTP/1.1 request on a new connection; 0 or -1 (message on stderr). */
int sl_cli_http(const char *endpoint, const char *method, const char *path,
                     const char *const *headers, const char *body, size_t body_len,
                     struct sl_cli_reply *out)
{
    char host[256] = "127.0.0.1", port[16] = "4566";
    const char *hp = strncmp(endpoint, "http://", 7) == 0 ? endpoint + 7 : endpoint;
    const char *colon = strrchr(hp, ':');
    if (colon) {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - hp), hp);
        snprintf(port, sizeof(port), "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
    } else {
        snprintf(host, sizeof(host), "%.*s", (int)strcspn(hp, "/"), hp);
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) || !ai) {
        fprintf(stderr, "sluice: cannot resolve %s\n", host);
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
        fprintf(stderr, "sluice: cannot connect to %s: %s\n", endpoint, strerror(errno));
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    freeaddrinfo(ai);
    struct sl_buf req;
    sl_buf_init(&req, 0);
    sl_buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Length: %zu\r\n"
                        "Connection: close\r\n",
                  method, path, host, port, body_len);
    for (size_t i = 0; headers && headers[i]; i += 2)
        sl_buf_printf(&req, "%s: %s\r\n", headers[i], headers[i + 1]);
    sl_buf_puts(&req, "\r\n");
    sl_buf_append(&req, body, body_len);
    int rc = 0;
    for (size_t off = 0; off < req.len && !rc;) {
        ssize_t n = write(fd, req.data + off, req.len - off);
        if (n <= 0)
            rc = -1;
        else
            off += (size_t)n;
    }
    sl_buf_free(&req);
    struct sl_buf all;
    sl_buf_init(&all, MAX_RESPONSE);
    char buf[65536];
    ssize_t n;
    while (!rc && (n = read(fd, buf, sizeof(buf))) > 0)
        if (sl_buf_append(&all, buf, (size_t)n))
            rc = -1;
    close(fd);
    char *sep = all.data ? strstr(all.data, "\r\n\r\n") : NULL;
    if (rc || !sep || sscanf(all.data, "HTTP/1.%*d %d", &out->status) != 1) {
        fprintf(stderr, "sluice: no valid answer from %s\n", endpoint);
        sl_buf_free(&all);
        return -1;
    }
    sl_buf_init(&out->headers, 0);
    sl_buf_init(&out->body, 0);
    sl_buf_append(&out->headers, all.data, (size_t)(sep - all.data) + 2);
    sl_buf_append(&out->body, sep + 4, all.len - (size_t)(sep + 4 - all.data));
    sl_buf_free(&all);
    return 0;
}

void sl_cli_reply_free(struct sl_cli_reply *r)
{
    sl_buf_free(&r->headers);
    sl_buf_free(&r->body);
}

const char *sl_cli_endpoint(const char *given)
{
    const char *e = given ? given : getenv("SLUICE_ENDPOINT");
    return e && *e ? e : "http://127.0.0.1:4566";
}

int sl_cli_invoke(int argc, char **argv)
{
    const char *endpoint = NULL, *name = NULL, *payload = "{}";
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--endpoint") == 0 && i + 1 < argc)
            endpoint = argv[++i];
        else if (!name)
            name = argv[i];
        else
            payload = argv[i];
    }
    if (!name) {
        fprintf(stderr, "usage: sluice invoke [--endpoint URL] FUNCTION [JSON]\n");
        return 2;
    }
    struct sl_buf path;
    sl_buf_init(&path, 0);
    sl_buf_puts(&path, "/2015-03-31/functions/");
    sl_uri_encode(&path, name, strlen(name), false);
    sl_buf_puts(&path, "/invocations");
    const char *headers[] = {"X-Amz-Log-Type", "Tail", "Content-Type", "application/json", NULL};
    struct sl_cli_reply r;
    int rc = sl_cli_http(sl_cli_endpoint(endpoint), "POST", path.data, headers, payload,
                       strlen(payload), &r);
    sl_buf_free(&path);
    if (rc)
        return 1;
    char log[8192], ferr[64];
    if (reply_header(&r, "X-Amz-Log-Result", log, sizeof(log))) {
        uint8_t *dec = malloc(strlen(log) + 1);
        size_t n = 0;
        if (dec && sl_base64_decode(log, strlen(log), dec, strlen(log), &n) == 0)
            fprintf(stderr, "%.*s", (int)n, (const char *)dec);
        free(dec);
    }
    fwrite(r.body.data ? r.body.data : "", 1, r.body.len, stdout);
    printf("\n");
    int status = r.status;
    bool failed = reply_header(&r, "X-Amz-Function-Error", ferr, sizeof(ferr)) != NULL;
    sl_cli_reply_free(&r);
    return status >= 300 || failed ? 1 : 0;
}

/* Prints the events of one FilterLogEvents answer; returns the latest
 * timestamp seen and the nextToken (malloc'd) in *next. */
static int64_t print_events(const char *body, size_t len, int64_t since, char **next)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    json_t *events = json_object_get(doc, "events");
    size_t i;
    json_t *ev;
    int64_t last = since;
    json_array_foreach(events, i, ev)
    {
        int64_t ts = (int64_t)json_integer_value(json_object_get(ev, "timestamp"));
        char when[32];
        sl_time_iso8601_ms(ts, when, sizeof(when));
        /* Messages end in a newline, as CloudWatch stores them. */
        const char *msg = json_string_value(json_object_get(ev, "message"));
        size_t mlen = msg ? strlen(msg) : 0;
        while (mlen && (msg[mlen - 1] == '\n' || msg[mlen - 1] == '\r'))
            mlen--;
        printf("%s %s %.*s\n", when, json_string_value(json_object_get(ev, "logStreamName")),
               (int)mlen, msg ? msg : "");
        if (ts > last)
            last = ts;
    }
    const char *tok = json_string_value(json_object_get(doc, "nextToken"));
    *next = tok ? strdup(tok) : NULL;
    json_decref(doc);
    fflush(stdout);
    return last;
}

int sl_cli_logs(int argc, char **argv)
{
    const char *endpoint = NULL, *name = NULL;
    bool follow = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--endpoint") == 0 && i + 1 < argc)
            endpoint = argv[++i];
        else if (strcmp(argv[i], "--follow") == 0 || strcmp(argv[i], "-f") == 0)
            follow = true;
        else
            name = argv[i];
    }
    if (!name) {
        fprintf(stderr, "usage: sluice logs [--endpoint URL] [--follow] FUNCTION\n");
        return 2;
    }
    char group[160];
    snprintf(group, sizeof(group), "/aws/lambda/%s", name);
    const char *headers[] = {"X-Amz-Target", "Logs_20140328.FilterLogEvents", "Content-Type",
                             "application/x-amz-json-1.1", NULL};
    int64_t since = 0;
    char *token = NULL;
    for (;;) {
        json_t *req = json_pack("{s:s, s:I}", "logGroupName", group, "startTime",
                                (json_int_t)since);
        if (token)
            json_object_set_new(req, "nextToken", json_string(token));
        char *body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        struct sl_cli_reply r;
        int rc = sl_cli_http(sl_cli_endpoint(endpoint), "POST", "/", headers, body, strlen(body), &r);
        free(body);
        if (rc)
            return 1;
        if (r.status != 200) {
            fprintf(stderr, "sluice: %.*s\n", (int)r.body.len, r.body.data ? r.body.data : "");
            sl_cli_reply_free(&r);
            return 1;
        }
        free(token);
        int64_t last = print_events(r.body.data, r.body.len, since, &token);
        sl_cli_reply_free(&r);
        if (token)
            continue; /* more of this query */
        if (!follow)
            return 0;
        since = last + 1;
        /* Like `aws logs tail --follow`: ask again each second. */
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
}
