/*
 * The metadata kept with each S3 object (ETag, size, time, the headers S3
 * stores, x-amz-meta-*), its headers in answers, and conditional writes
 * (If-Match, If-None-Match) checked inside the write's transaction.
 */
#include "services/s3/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Headers stored with an object and returned by GET and HEAD. */
static const char *const stored_headers[] = {
    "content-type",     "content-encoding", "content-disposition",
    "content-language", "cache-control",    "expires",
    "x-amz-website-redirect-location",
};

/* ---- metadata -------------------------------------------------------- */

int sl_s3_object_parse(const struct sl_item *it, struct s3_object *o)
{
    memset(o, 0, sizeof(*o));
    json_t *v = json_loadb(it->val, it->val_len, 0, NULL);
    if (!v)
        return SL_ECORRUPT;
    snprintf(o->etag, sizeof(o->etag), "%s", json_string_value(json_object_get(v, "etag")) ?: "");
    o->size = (uint64_t)json_integer_value(json_object_get(v, "size"));
    o->mtime_ms = json_integer_value(json_object_get(v, "mtime"));
    o->headers = json_incref(json_object_get(v, "headers"));
    o->meta = json_incref(json_object_get(v, "meta"));
    json_decref(v);
    if (!o->headers)
        o->headers = json_object();
    if (!o->meta)
        o->meta = json_object();
    return 0;
}

char *sl_s3_object_dump(const struct s3_object *o)
{
    json_t *v = json_pack("{s:s, s:I, s:I, s:O, s:O}", "etag", o->etag, "size",
                          (json_int_t)o->size, "mtime", (json_int_t)o->mtime_ms, "headers",
                          o->headers, "meta", o->meta);
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    return s;
}

void sl_s3_object_free(struct s3_object *o)
{
    json_decref(o->headers);
    json_decref(o->meta);
    o->headers = o->meta = NULL;
}

int sl_s3_object_from_request(struct s3_req *s, struct s3_object *o)
{
    struct sl_http_request *r = s->q->http;
    o->headers = json_object();
    o->meta = json_object();
    size_t meta_bytes = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *name = r->headers[i].name, *val = r->headers[i].value;
        if (strncasecmp(name, "x-amz-meta-", 11) == 0) {
            char lower[256];
            size_t n = strlen(name + 11);
            if (n >= sizeof(lower))
                return SL_ETOOBIG;
            for (size_t k = 0; k <= n; k++) {
                char c = name[11 + k];
                lower[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            }
            meta_bytes += n + strlen(val);
            json_object_set_new(o->meta, lower, json_string(val));
            continue;
        }
        for (size_t k = 0; k < SL_ARRAY_LEN(stored_headers); k++) {
            if (strcasecmp(name, stored_headers[k]) != 0)
                continue;
            if (k == 1) {
                /* aws-chunked is transport framing, not the object's. */
                char buf[256];
                size_t w = 0;
                const char *p = val;
                while (*p) {
                    const char *comma = strchr(p, ',');
                    size_t n = comma ? (size_t)(comma - p) : strlen(p);
                    while (n && *p == ' ') {
                        p++;
                        n--;
                    }
                    if (n && !(n == 11 && strncasecmp(p, "aws-chunked", 11) == 0) &&
                        w + n + 1 < sizeof(buf)) {
                        if (w)
                            buf[w++] = ',';
                        memcpy(buf + w, p, n);
                        w += n;
                    }
                    p = comma ? comma + 1 : p + n;
                }
                buf[w] = '\0';
                if (w)
                    json_object_set_new(o->headers, stored_headers[k], json_string(buf));
            } else {
                json_object_set_new(o->headers, stored_headers[k], json_string(val));
            }
        }
    }
    if (!json_object_get(o->headers, "content-type"))
        json_object_set_new(o->headers, "content-type", json_string("binary/octet-stream"));
    return meta_bytes > S3_MAX_METADATA ? SL_ETOOBIG : 0;
}

static const char *const header_case[] = {
    "Content-Type",     "Content-Encoding", "Content-Disposition",
    "Content-Language", "Cache-Control",    "Expires",
    "x-amz-website-redirect-location",
};

void sl_s3_object_headers(struct s3_req *s, const struct s3_object *o)
{
    struct sl_http_request *r = s->q->http;
    char etag[64], lm[40];
    snprintf(etag, sizeof(etag), "\"%s\"", o->etag);
    sl_time_http((time_t)(o->mtime_ms / 1000), lm, sizeof(lm));
    sl_http_set_header(r, "ETag", etag);
    sl_http_set_header(r, "Last-Modified", lm);
    sl_http_set_header(r, "Accept-Ranges", "bytes");
    for (size_t k = 0; k < SL_ARRAY_LEN(stored_headers); k++) {
        const char *v = json_string_value(json_object_get(o->headers, stored_headers[k]));
        if (v)
            sl_http_set_header(r, header_case[k], v);
    }
    const char *name;
    json_t *val;
    json_object_foreach(o->meta, name, val)
    {
        char h[300];
        snprintf(h, sizeof(h), "x-amz-meta-%s", name);
        sl_http_set_header(r, h, json_string_value(val));
    }
}

int sl_s3_object_item(struct sl_store *st, const char *bucket, const char *key,
                      struct sl_item *out)
{
    return sl_kv_get(st, S3_NS_OBJECTS, bucket, key, out);
}

/* ---- conditional writes ---------------------------------------------- */

/* Whether an entity tag list (If-Match / If-None-Match) matches etag. */
bool sl_s3_etag_matches(const char *list, const char *etag)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && end[-1] == ' ')
            end--;
        if (end - start == 1 && *start == '*')
            return true;
        if (end - start >= 2 && *start == '"' && end[-1] == '"') {
            start++;
            end--;
        }
        if ((size_t)(end - start) == strlen(etag) && strncmp(start, etag, strlen(etag)) == 0)
            return true;
    }
    return false;
}

int sl_s3_write_condition(struct sl_txn *t, const char *bucket, const char *key,
                          const struct s3_write_cond *c)
{
    if (!c->if_match && !c->if_none_match)
        return 0;
    struct sl_item it;
    int rc = sl_txn_get(t, S3_NS_OBJECTS, bucket, key, &it);
    if (rc == SL_ENOTFOUND)
        return c->if_match ? SL_ENOTFOUND : 0;
    if (rc)
        return rc;
    struct s3_object o;
    rc = sl_s3_object_parse(&it, &o);
    sl_item_free(&it);
    if (rc)
        return rc;
    bool fail = (c->if_none_match && strcmp(c->if_none_match, "*") == 0) ||
                (c->if_match && !sl_s3_etag_matches(c->if_match, o.etag));
    sl_s3_object_free(&o);
    return fail ? SL_ECONDITION : 0;
}

void sl_s3_write_cond_init(struct s3_req *s, struct s3_write_cond *c)
{
    c->if_match = sl_http_header(s->q->http, "If-Match");
    c->if_none_match = sl_http_header(s->q->http, "If-None-Match");
}

void sl_s3_write_cond_error(struct s3_req *s, int rc)
{
    if (rc == SL_ECONDITION)
        sl_s3_error(s, S3_E_PRECONDITION_FAILED,
                    "At least one of the pre-conditions you specified did not hold");
    else
        sl_s3_no_such_key(s);
}
