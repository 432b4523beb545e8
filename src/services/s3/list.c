/* S3 listings: ListObjects (v1) and ListObjectsV2, with prefix, delimiter
 * and CommonPrefixes, pagination, and encoding-type=url. */
#include "services/s3/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_PAGE 1000

/* Appends <name>value</name>, URL-encoding value when encode is set. */
static void element(struct sl_buf *b, const char *name, const char *value, bool encode)
{
    if (!encode) {
        sl_xml_element(b, name, value);
        return;
    }
    struct sl_buf e;
    sl_buf_init(&e, 0);
    sl_uri_encode(&e, value, strlen(value), true);
    sl_xml_element(b, name, e.data ? e.data : "");
    sl_buf_free(&e);
}

struct listing {
    char **keys; /* entries in order: keys and common prefixes interleaved */
    bool *is_prefix;
    struct sl_item *items; /* the item of each key entry */
    size_t n, cap;
    bool truncated;
    char *last; /* the last entry returned, for markers and tokens */
};

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (!l->is_prefix[i])
            sl_item_free(&l->items[i]);
        free(l->keys[i]);
    }
    free(l->keys);
    free(l->is_prefix);
    free(l->items);
}

static int listing_add(struct listing *l, char *key, bool is_prefix, struct sl_item *it)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **k = realloc(l->keys, cap * sizeof(*k));
        if (!k)
            return SL_ENOMEM;
        l->keys = k;
        bool *p = realloc(l->is_prefix, cap * sizeof(*p));
        if (!p)
            return SL_ENOMEM;
        l->is_prefix = p;
        struct sl_item *i = realloc(l->items, cap * sizeof(*i));
        if (!i)
            return SL_ENOMEM;
        l->items = i;
        l->cap = cap;
    }
    l->keys[l->n] = key;
    l->is_prefix[l->n] = is_prefix;
    if (it)
        l->items[l->n] = *it;
    l->n++;
    return 0;
}

/* Walks keys after `after` under prefix, folding keys that contain the
 * delimiter past the prefix into common prefixes, until max entries. */
static int list_walk(struct sl_store *st, const char *bucket, const char *prefix,
                     const char *delim, const char *after, size_t max, struct listing *l)
{
    char *cursor = after ? strdup(after) : NULL;
    size_t plen = strlen(prefix), dlen = delim ? strlen(delim) : 0;
    int rc = 0;
    while (l->n < max || max == 0) {
        struct sl_item *items = NULL;
        size_t count = 0;
        rc = sl_kv_list(st, S3_NS_OBJECTS, bucket, prefix, cursor, LIST_PAGE, &items, &count);
        if (rc)
            break;
        size_t i = 0;
        bool restart = false, stuck = false;
        for (; i < count; i++) {
            const char *key = items[i].sk;
            const char *d = dlen ? strstr(key + plen, delim) : NULL;
            if (l->n == max) {
                l->truncated = true;
                break;
            }
            if (d) {
                size_t cplen = (size_t)(d - key) + dlen;
                /* A marker inside this common prefix means an earlier page
                 * returned it already (markers and tokens name the last
                 * entry, which may be a common prefix). */
                bool seen = after && strncmp(after, key, cplen) == 0;
                char *cp = strndup(key, cplen);
                if (!cp || (!seen && listing_add(l, cp, true, NULL))) {
                    free(cp);
                    rc = SL_ENOMEM;
                    break;
                }
                if (seen)
                    free(cp);
                /* Skip every key under this common prefix: UTF-8 has no
                 * 0xFF byte, so cp + 0xFF sorts after all of them. */
                free(cursor);
                cursor = malloc(cplen + 2);
                if (!cursor) {
                    rc = SL_ENOMEM;
                    break;
                }
                memcpy(cursor, key, cplen);
                cursor[cplen] = (char)0xFF;
                cursor[cplen + 1] = '\0';
                /* Keys are UTF-8 (no 0xFF byte), so the cursor moves past
                 * every key under the prefix; should one not be, stop
                 * rather than walk in place. */
                if (strcmp(cursor, key) <= 0) {
                    stuck = true;
                    break;
                }
                restart = true;
                i++;
                break;
            }
            char *k = strdup(key);
            if (!k || listing_add(l, k, false, &items[i])) {
                free(k);
                rc = SL_ENOMEM;
                break;
            }
            items[i] = (struct sl_item){0}; /* the listing owns what it held */
            free(cursor);
            cursor = strdup(key);
        }
        for (size_t k = 0; k < count; k++)
            sl_item_free(&items[k]);
        free(items);
        if (rc || l->truncated || stuck)
            break;
        if (!restart && count < LIST_PAGE)
            break;
    }
    free(cursor);
    if (!rc && l->n)
        l->last = l->keys[l->n - 1];
    return rc;
}

/* Whether more entries come after the listing (when it stopped at max). */
static int list_has_more(struct sl_store *st, const char *bucket, const char *prefix,
                         struct listing *l)
{
    if (l->truncated || !l->last)
        return 0;
    char *after = l->last;
    char tmp[2048];
    if (l->is_prefix[l->n - 1]) {
        size_t n = strlen(after);
        if (n + 2 > sizeof(tmp))
            return 0;
        memcpy(tmp, after, n);
        tmp[n] = (char)0xFF;
        tmp[n + 1] = '\0';
        after = tmp;
    }
    struct sl_item *items = NULL;
    size_t count = 0;
    int rc = sl_kv_list(st, S3_NS_OBJECTS, bucket, prefix, after, 1, &items, &count);
    if (rc)
        return rc;
    l->truncated = count > 0;
    for (size_t k = 0; k < count; k++)
        sl_item_free(&items[k]);
    free(items);
    return 0;
}

void sl_s3_list_objects(struct s3_req *s, int version)
{
    struct sl_http_request *r = s->q->http;
    struct sl_store *st = s->q->app->store;
    if (sl_s3_bucket_check(s))
        return;
    const char *prefix = sl_http_param(r, "prefix");
    const char *delim = sl_http_param(r, "delimiter");
    const char *enc = sl_http_param(r, "encoding-type");
    if (enc && strcmp(enc, "url") != 0) {
        sl_s3_error(s, S3_E_INVALID_ARGUMENT, "Invalid Encoding Method specified in Request");
        return;
    }
    bool encode = enc != NULL;
    const char *const texts[] = {prefix, delim, sl_http_param(r, "marker"),
                                 sl_http_param(r, "start-after")};
    for (size_t i = 0; i < SL_ARRAY_LEN(texts); i++) {
        if (texts[i] && !sl_utf8_valid(texts[i], strlen(texts[i]))) {
            sl_s3_error(s, S3_E_INVALID_ARGUMENT, "Invalid Argument: not valid UTF-8");
            return;
        }
    }
    long max = sl_s3_int_param(s, "max-keys", 1000);
    if (max < 0) {
        sl_s3_error(s, S3_E_INVALID_ARGUMENT,
                    "Provided max-keys not an integer or within integer range");
        return;
    }
    if (max > 1000)
        max = 1000;
    if (!prefix)
        prefix = "";
    if (delim && !*delim)
        delim = NULL;
    const char *after = NULL;
    const char *token = version == 2 ? sl_http_param(r, "continuation-token") : NULL;
    const char *start_after = version == 2 ? sl_http_param(r, "start-after")
                                           : sl_http_param(r, "marker");
    char *token_key = NULL;
    if (token) {
        size_t tlen = strlen(token), klen = 0;
        token_key = calloc(1, tlen + 4);
        if (!token_key || sl_base64_decode(token, tlen, (uint8_t *)token_key, tlen, &klen) || !klen) {
            free(token_key);
            sl_s3_error(s, S3_E_INVALID_ARGUMENT, "The continuation token provided is incorrect");
            return;
        }
        token_key[klen] = '\0';
        after = token_key;
    } else if (start_after && *start_after) {
        after = start_after;
    }
    struct listing l = {0};
    int rc = max ? list_walk(st, s->bucket, prefix, delim, after, (size_t)max, &l) : 0;
    if (!rc && max)
        rc = list_has_more(st, s->bucket, prefix, &l);
    if (!rc && !max) {
        /* max-keys=0: nothing listed; truncated when anything is there. */
        struct sl_item *items = NULL;
        size_t count = 0;
        rc = sl_kv_list(st, S3_NS_OBJECTS, s->bucket, prefix, after, 1, &items, &count);
        l.truncated = !rc && count > 0;
        for (size_t k = 0; k < count; k++)
            sl_item_free(&items[k]);
        free(items);
    }
    if (rc) {
        free(token_key);
        listing_free(&l);
        sl_s3_internal(s, NULL);
        return;
    }
    char owner[65];
    sl_s3_owner_id(s->q->account, owner);
    bool fetch_owner = version == 1 || (sl_http_param(r, "fetch-owner") &&
                                        strcmp(sl_http_param(r, "fetch-owner"), "true") == 0);
    struct sl_buf *b = &r->resp.body;
    sl_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"" S3_XMLNS "\">");
    sl_xml_element(b, "Name", s->bucket);
    element(b, "Prefix", prefix, encode);
    if (version == 2) {
        if (token)
            sl_xml_element(b, "ContinuationToken", token);
        if (start_after)
            element(b, "StartAfter", start_after, encode);
        sl_buf_printf(b, "<KeyCount>%zu</KeyCount>", l.n);
    } else {
        element(b, "Marker", start_after ? start_after : "", encode);
        if (l.truncated && delim && l.last)
            element(b, "NextMarker", l.last, encode);
    }
    sl_buf_printf(b, "<MaxKeys>%ld</MaxKeys>", max);
    if (delim)
        element(b, "Delimiter", delim, encode);
    if (encode)
        sl_xml_element(b, "EncodingType", "url");
    sl_buf_printf(b, "<IsTruncated>%s</IsTruncated>", l.truncated ? "true" : "false");
    if (version == 2 && l.truncated && l.last) {
        struct sl_buf t;
        sl_buf_init(&t, 0);
        sl_base64_encode(&t, (const uint8_t *)l.last, strlen(l.last));
        sl_xml_element(b, "NextContinuationToken", t.data ? t.data : "");
        sl_buf_free(&t);
    }
    for (size_t i = 0; i < l.n; i++) {
        if (l.is_prefix[i])
            continue;
        struct s3_object o;
        if (sl_s3_object_parse(&l.items[i], &o))
            continue;
        char ts[32];
        sl_s3_time(o.mtime_ms, ts, sizeof(ts));
        sl_buf_puts(b, "<Contents>");
        element(b, "Key", l.keys[i], encode);
        sl_xml_element(b, "LastModified", ts);
        sl_buf_printf(b, "<ETag>&quot;%s&quot;</ETag>", o.etag);
        sl_buf_printf(b, "<Size>%llu</Size>", (unsigned long long)o.size);
        if (fetch_owner) {
            sl_buf_puts(b, "<Owner>");
            sl_xml_element(b, "ID", owner);
            sl_xml_element(b, "DisplayName", s->q->account);
            sl_buf_puts(b, "</Owner>");
        }
        sl_buf_puts(b, "<StorageClass>STANDARD</StorageClass></Contents>");
        sl_s3_object_free(&o);
    }
    for (size_t i = 0; i < l.n; i++) {
        if (!l.is_prefix[i])
            continue;
        sl_buf_puts(b, "<CommonPrefixes>");
        element(b, "Prefix", l.keys[i], encode);
        sl_buf_puts(b, "</CommonPrefixes>");
    }
    sl_buf_puts(b, "</ListBucketResult>");
    free(token_key);
    listing_free(&l);
    sl_s3_send_xml(s, 200);
}
