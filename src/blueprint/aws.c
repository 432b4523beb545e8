/*
 * The blueprints' AWS client: S3 objects streamed in and out, and JSON
 * calls (Glue), signed with SigV4 by the function's own credentials
 * ($AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY, $AWS_SESSION_TOKEN) and sent
 * with libcurl to $AWS_ENDPOINT_URL, path-style, as any SDK would. The
 * signing is the front door's canonicalization run the other way
 * (sl_sigv4_sign_request).
 */
#include "blueprint/blueprint.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aws/sigv4.h"

int bp_aws_init(struct bp_aws *a, struct sl_err *err)
{
    memset(a, 0, sizeof(*a));
    const char *ep = getenv("AWS_ENDPOINT_URL"), *key = getenv("AWS_ACCESS_KEY_ID"),
               *secret = getenv("AWS_SECRET_ACCESS_KEY"), *token = getenv("AWS_SESSION_TOKEN"),
               *region = getenv("AWS_REGION");
    if (!ep || strncmp(ep, "http://", 7) != 0)
        return sl_errf(err, SL_EINVAL, "AWS_ENDPOINT_URL must be an http:// URL");
    snprintf(a->endpoint, sizeof(a->endpoint), "%s", ep);
    size_t n = strlen(a->endpoint);
    while (n && a->endpoint[n - 1] == '/')
        a->endpoint[--n] = '\0';
    const char *host = a->endpoint + 7, *slash = strchr(host, '/');
    snprintf(a->host, sizeof(a->host), "%.*s", (int)(slash ? slash - host : (long)strlen(host)),
             host);
    snprintf(a->access_key, sizeof(a->access_key), "%s", key ? key : "");
    snprintf(a->secret_key, sizeof(a->secret_key), "%s", secret ? secret : "");
    snprintf(a->token, sizeof(a->token), "%s", token ? token : "");
    snprintf(a->region, sizeof(a->region), "%s", region && *region ? region : "us-east-1");
    a->curl = curl_easy_init();
    if (!a->curl)
        return sl_errf(err, SL_ENOMEM, "no curl handle");
    return 0;
}

void bp_aws_free(struct bp_aws *a)
{
    if (a->curl)
        curl_easy_cleanup(a->curl);
    a->curl = NULL;
}

/* What one exchange gathers. */
struct exchange {
    CURL *curl;
    bp_sink_fn sink;
    void *sink_arg;
    int sink_rc;
    long status;
    struct sl_buf body; /* the response's body, when it is not the sink's (or an error) */
    int fd;             /* an upload's source */
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct exchange *x = arg;
    size_t n = size * nmemb;
    if (!x->status)
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->sink && x->status / 100 == 2) {
        x->sink_rc = x->sink(x->sink_arg, p, n);
        return x->sink_rc ? 0 : n;
    }
    return sl_buf_append(&x->body, p, n) ? 0 : n;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *arg)
{
    struct exchange *x = arg;
    ssize_t n = read(x->fd, p, size * nmemb);
    return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

/* One signed request: method on path (percent-encoded) with query, the
 * body from body/len or from fd (size bytes, unsigned payload), extra
 * headers ("name", "value" pairs). */
static int request(struct bp_aws *a, const char *service, const char *method, const char *path,
                   const char *query, const char *const *extra, size_t nextra, const void *body,
                   size_t len, int fd, uint64_t size, struct exchange *x, struct sl_err *err)
{
    char date[17], hash[65], auth[1024];
    time_t now = time(NULL);
    sl_time_amz(now, date, sizeof(date));
    if (fd >= 0) {
        snprintf(hash, sizeof(hash), "%s", SL_SIGV4_UNSIGNED_PAYLOAD);
    } else {
        uint8_t h[SL_SHA256_LEN];
        sl_sha256(body ? body : "", len, h);
        sl_hex_encode(h, sizeof(h), hash);
    }
    struct sl_sigv4_header hs[16];
    size_t nh = 0;
    hs[nh++] = (struct sl_sigv4_header){"host", a->host};
    hs[nh++] = (struct sl_sigv4_header){"x-amz-date", date};
    hs[nh++] = (struct sl_sigv4_header){"x-amz-content-sha256", hash};
    if (a->token[0])
        hs[nh++] = (struct sl_sigv4_header){"x-amz-security-token", a->token};
    for (size_t i = 0; i + 1 < nextra * 2 && nh < 16; i += 2)
        hs[nh++] = (struct sl_sigv4_header){extra[i], extra[i + 1]};
    struct sl_sigv4_request req = {.method = method, .path = path, .query = query,
                                   .headers = hs, .nheaders = nh};
    int rc = sl_sigv4_sign_request(&req, service, a->region, a->access_key, a->secret_key, hash,
                                   now, auth, sizeof(auth));
    if (rc)
        return sl_errf(err, rc, "the request could not be signed");
    struct curl_slist *list = NULL;
    char line[4200];
    for (size_t i = 1; i < nh; i++) { /* (curl sends Host itself) */
        snprintf(line, sizeof(line), "%s: %s", hs[i].name, hs[i].value);
        list = curl_slist_append(list, line);
    }
    snprintf(line, sizeof(line), "Authorization: %s", auth);
    list = curl_slist_append(list, line);
    list = curl_slist_append(list, "Expect:");
    char url[4096];
    snprintf(url, sizeof(url), "%s%s%s%s", a->endpoint, path, query && *query ? "?" : "",
             query ? query : "");
    CURL *c = a->curl;
    x->curl = c;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* (The path as signed: no removal of . and .. segments. A connection
     * that cannot be made, or a transfer stalled for a minute, fails.) */
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
    if (fd >= 0) {
        x->fd = fd;
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, x);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
        curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (strcmp(method, "GET") && strcmp(method, "POST") && fd < 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->status);
    curl_slist_free_all(list);
    if (x->sink_rc)
        return x->sink_rc;
    if (cc != CURLE_OK)
        return sl_errf(err, SL_EIO, "%s %s: %s", method, url, curl_easy_strerror(cc));
    return 0;
}

/* The code of an AWS error body (S3's <Code>, JSON's __type). */
static void error_code(const struct sl_buf *b, char *out, size_t n)
{
    out[0] = '\0';
    const char *s = b->data ? b->data : "";
    const char *code = strstr(s, "<Code>");
    if (code) {
        code += 6;
        const char *end = strstr(code, "</Code>");
        snprintf(out, n, "%.*s", end ? (int)(end - code) : 0, code);
        return;
    }
    json_t *j = json_loadb(s, b->len, 0, NULL);
    const char *t = json_string_value(json_object_get(j, "__type"));
    if (t) {
        const char *hash = strrchr(t, '#');
        snprintf(out, n, "%s", hash ? hash + 1 : t);
    }
    json_decref(j);
}

/* An S3 answer that is not 200 as an error naming the call and the code
 * S3 gave. */
static int s3_status(const struct exchange *x, const char *op, const char *bucket,
                     const char *key, struct sl_err *err)
{
    if (x->status == 200)
        return 0;
    char code[128];
    error_code(&x->body, code, sizeof(code));
    return sl_errf(err, x->status == 404 ? SL_ENOTFOUND : SL_EIO, "%s s3://%s/%s: HTTP %ld %s",
                   op, bucket, key, x->status, code);
}

static int object_path(const char *bucket, const char *key, struct sl_buf *path)
{
    int rc = sl_buf_printf(path, "/%s/", bucket);
    return rc ? rc : sl_uri_encode(path, key, strlen(key), true);
}

int bp_s3_get(struct bp_aws *a, const char *bucket, const char *key, bp_sink_fn sink, void *arg,
              struct sl_err *err)
{
    struct sl_buf path;
    sl_buf_init(&path, 0);
    struct exchange x = {.sink = sink, .sink_arg = arg, .fd = -1};
    sl_buf_init(&x.body, 64 * 1024);
    int rc = object_path(bucket, key, &path);
    if (!rc)
        rc = request(a, "s3", "GET", path.data, NULL, NULL, 0, NULL, 0, -1, 0, &x, err);
    if (!rc)
        rc = s3_status(&x, "GetObject", bucket, key, err);
    sl_buf_free(&x.body);
    sl_buf_free(&path);
    return rc;
}

int bp_s3_put_file(struct bp_aws *a, const char *bucket, const char *key, int fd,
                   const char *content_type, struct sl_err *err)
{
    struct stat st;
    if (fstat(fd, &st) || lseek(fd, 0, SEEK_SET) < 0)
        return sl_errf(err, SL_EIO, "the file for s3://%s/%s cannot be read", bucket, key);
    struct sl_buf path;
    sl_buf_init(&path, 0);
    struct exchange x = {.fd = -1};
    sl_buf_init(&x.body, 64 * 1024);
    const char *extra[] = {"content-type", content_type};
    int rc = object_path(bucket, key, &path);
    if (!rc)
        rc = request(a, "s3", "PUT", path.data, NULL, extra, 1, NULL, 0, fd, (uint64_t)st.st_size,
                     &x, err);
    if (!rc)
        rc = s3_status(&x, "PutObject", bucket, key, err);
    sl_buf_free(&x.body);
    sl_buf_free(&path);
    return rc;
}

int bp_json_call(struct bp_aws *a, const char *service, const char *target, const json_t *in,
                 json_t **out, char *code, size_t codelen, struct sl_err *err)
{
    char *body = json_dumps(in, JSON_COMPACT);
    if (!body)
        return SL_ENOMEM;
    struct exchange x = {.fd = -1};
    sl_buf_init(&x.body, 16 * 1024 * 1024);
    const char *extra[] = {"x-amz-target", target, "content-type", "application/x-amz-json-1.1"};
    int rc = request(a, service, "POST", "/", NULL, extra, 2, body, strlen(body), -1, 0, &x, err);
    free(body);
    code[0] = '\0';
    *out = NULL;
    if (!rc && x.status != 200) {
        error_code(&x.body, code, codelen);
        rc = sl_errf(err, SL_EIO, "%s: HTTP %ld %s", target, x.status, code);
    } else if (!rc) {
        *out = json_loadb(x.body.data ? x.body.data : "{}", x.body.len ? x.body.len : 2, 0, NULL);
        if (!*out)
            rc = sl_errf(err, SL_EIO, "%s: the answer is not JSON", target);
    }
    sl_buf_free(&x.body);
    return rc;
}
