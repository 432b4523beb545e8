/*
 * SQS message attributes and bodies: the checks AWS makes of them, and
 * the MD5 digests it answers with (MD5OfMessageBody, and
 * MD5OfMessageAttributes by its documented algorithm: the attributes in
 * name order, each as length-prefixed name and data type, a transport
 * byte, and the length-prefixed value), which SDKs verify.
 */
#include "services/sqs/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ATTRS_MAX 10
#define ATTR_NAME_MAX 256

void sqs_md5_hex(const void *p, size_t n, char out[33])
{
    uint8_t d[SL_MD5_LEN];
    sl_md5(p, n, d);
    sl_hex_encode(d, sizeof(d), out);
}

/* Decodes a UTF-8 sequence at s (n bytes left) into *cp; its length, or 0
 * when it is not valid UTF-8. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || len > n)
        return 0;
    uint32_t v = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < least[len] || v > 0x10FFFF)
        return 0;
    *cp = v;
    return len;
}

bool sqs_body_valid(const char *body, size_t n)
{
    const unsigned char *s = (const unsigned char *)body;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_next(s + i, n - i, &cp);
        if (!len)
            return false;
        bool ok = cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
                  (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
        if (!ok)
            return false;
        i += len;
    }
    return true;
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > ATTR_NAME_MAX || name[0] == '.' || name[n - 1] == '.')
        return false;
    if (strncasecmp(name, "AWS.", 4) == 0 || strncasecmp(name, "Amazon.", 7) == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!isalnum((unsigned char)ch) && ch != '_' && ch != '-' && ch != '.')
            return false;
        if (ch == '.' && name[i + 1] == '.')
            return false;
    }
    return true;
}

/* The base type of a data type ("Number.float" -> "Number"), or NULL. */
static const char *base_type(const char *type)
{
    static const char *const bases[] = {"String", "Number", "Binary"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bases); i++) {
        size_t n = strlen(bases[i]);
        if (strncmp(type, bases[i], n) == 0 && (type[n] == '\0' || (type[n] == '.' && type[n + 1])))
            return bases[i];
    }
    return NULL;
}

static bool number_ok(const char *s)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return false;
    strtod(s, &end);
    return *end == '\0' && strlen(s) <= 40;
}

int sqs_attrs_check(json_t *attrs, size_t *size, struct sl_err *err)
{
    if (!attrs)
        return 0;
    if (json_object_size(attrs) > ATTRS_MAX)
        return sl_errf(err, SL_EINVAL, "Number of message attributes [%zu] exceeds the allowed maximum [%d].",
                       json_object_size(attrs), ATTRS_MAX);
    const char *name;
    json_t *v;
    json_object_foreach(attrs, name, v)
    {
        if (!name_ok(name))
            return sl_errf(err, SL_EINVAL, "Message (user) attribute '%s' name is invalid.", name);
        const char *type = json_string_value(json_object_get(v, "DataType"));
        if (!type || !*type)
            return sl_errf(err, SL_EINVAL, "The message attribute '%s' must contain non-empty message attribute type.", name);
        const char *base = base_type(type);
        if (!base || strlen(type) > ATTR_NAME_MAX)
            return sl_errf(err, SL_EINVAL, "The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name);
        const char *sv = json_string_value(json_object_get(v, "StringValue"));
        const char *bv = json_string_value(json_object_get(v, "BinaryValue"));
        bool binary = strcmp(base, "Binary") == 0;
        if (binary ? !bv : !sv)
            return sl_errf(err, SL_EINVAL, "The message attribute '%s' with type '%s' must use field '%s'.", name, base,
                           binary ? "Binary" : "String");
        if (binary ? sv != NULL : bv != NULL)
            return sl_errf(err, SL_EINVAL, "The message attribute '%s' with type '%s' must use field '%s'.", name, base,
                           binary ? "Binary" : "String");
        size_t vlen = binary ? strlen(bv) / 4 * 3 : strlen(sv);
        if (!binary && !*sv)
            return sl_errf(err, SL_EINVAL, "The message attribute '%s' must contain a non-empty message attribute value for message attribute type '%s'.", name, base);
        if (!binary && !sqs_body_valid(sv, strlen(sv)))
            return sl_errf(err, SL_EINVAL, "Message (user) attribute '%s' value contains invalid characters.", name);
        if (strcmp(base, "Number") == 0 && !number_ok(sv))
            return sl_errf(err, SL_EINVAL, "Can't cast the value of message (user) attribute '%s' to a number.", name);
        *size += strlen(name) + strlen(type) + vlen;
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_len(struct sl_hash *h, size_t n)
{
    uint8_t be[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    sl_hash_update(h, be, 4);
}

static void put_str(struct sl_hash *h, const char *s, size_t n)
{
    put_len(h, n);
    sl_hash_update(h, s, n);
}

void sqs_attrs_md5(json_t *attrs, char out[33])
{
    out[0] = '\0';
    size_t n = json_object_size(attrs);
    if (!n || n > ATTRS_MAX)
        return;
    const char *names[ATTRS_MAX];
    size_t k = 0;
    const char *name;
    json_t *v;
    json_object_foreach(attrs, name, v)
        names[k++] = name;
    qsort(names, k, sizeof(names[0]), cmp_names);
    struct sl_hash h;
    if (sl_hash_init(&h, SL_HASH_MD5))
        return;
    for (size_t i = 0; i < k; i++) {
        json_t *a = json_object_get(attrs, names[i]);
        const char *type = json_string_value(json_object_get(a, "DataType"));
        const char *sv = json_string_value(json_object_get(a, "StringValue"));
        const char *bv = json_string_value(json_object_get(a, "BinaryValue"));
        put_str(&h, names[i], strlen(names[i]));
        put_str(&h, type ? type : "", type ? strlen(type) : 0);
        if (bv) {
            uint8_t one = 2;
            sl_hash_update(&h, &one, 1);
            size_t blen = strlen(bv), dlen = 0;
            uint8_t *raw = malloc(blen / 4 * 3 + 3);
            if (raw && sl_base64_decode(bv, blen, raw, blen / 4 * 3 + 3, &dlen) == 0)
                put_str(&h, (const char *)raw, dlen);
            else
                put_len(&h, 0);
            free(raw);
        } else {
            uint8_t one = 1;
            sl_hash_update(&h, &one, 1);
            put_str(&h, sv ? sv : "", sv ? strlen(sv) : 0);
        }
    }
    uint8_t d[32];
    size_t len = sl_hash_final(&h, d);
    sl_hash_close(&h);
    sl_hex_encode(d, len, out);
}

bool sqs_wants(json_t *names, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        size_t n = strlen(s);
        if (strcmp(s, "All") == 0 || strcmp(s, ".*") == 0 || strcmp(s, name) == 0)
            return true;
        if (n > 2 && strcmp(s + n - 2, ".*") == 0 && strncmp(s, name, n - 1) == 0)
            return true; /* a prefix: "Order.*" */
    }
    return false;
}

void sqs_put_num(json_t *o, const char *name, long long v)
{
    char num[32];
    snprintf(num, sizeof(num), "%lld", v);
    json_object_set_new(o, name, json_string(num));
}
