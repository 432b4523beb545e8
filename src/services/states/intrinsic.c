/*
 * The States Language's intrinsic functions (intrinsic.h): a call is
 * parsed into a tree of literals, paths and calls; evaluation computes the
 * arguments, then the function.
 */
#include "services/states/intrinsic.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/states/jsonpath.h"

#define ARGS_MAX 256
#define DEPTH_MAX 16
#define RANGE_MAX 1000
#define TEXT_MAX 10000

enum akind { A_LIT, A_PATH, A_CALL };

struct arg {
    enum akind kind;
    json_t *lit;
    char *raw; /* a string literal as written (its escapes kept), for Format */
    struct sl_jsonpath *path;
    struct sl_intrinsic *call;
};

typedef int (*fn_eval)(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                       struct sl_err *err);

struct fn {
    const char *name;
    int min, max; /* arguments; max -1: any number */
    fn_eval eval;
};

struct sl_intrinsic {
    const struct fn *fn;
    struct arg *args;
    size_t n;
};

/* ---- the functions --------------------------------------------------------------- */

static int wrong(struct sl_err *err, const struct sl_intrinsic *f, size_t i, const char *want)
{
    return sl_errf(err, SL_EINVAL, "The %s argument of %s must be %s", i == 0   ? "first"
                                                                       : i == 1 ? "second"
                                                                       : i == 2 ? "third"
                                                                                : "last",
                   f->fn->name, want);
}

/* Whether v is an integral number (an integer, or a real without a
 * fraction) that fits lo..hi; its value in *out. */
static bool int_arg(const json_t *v, double lo, double hi, long long *out)
{
    if (!json_is_number(v))
        return false;
    double d = json_number_value(v);
    if (d != floor(d) || d < lo || d > hi)
        return false;
    *out = (long long)d;
    return true;
}

/* The text of v as Format and Hash put it: a string as itself, anything
 * else as JSON. New, or NULL. */
static char *text_of(const json_t *v)
{
    if (json_is_string(v))
        return strndup(json_string_value(v), json_string_length(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static int fn_format(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                     struct sl_err *err)
{
    /* A literal template keeps its escapes: \{ and \} are braces, not a
     * placeholder's. */
    const char *tpl = f->args[0].kind == A_LIT && f->args[0].raw ? f->args[0].raw
                                                                  : json_string_value(v[0]);
    if (!tpl)
        return wrong(err, f, 0, "a string");
    struct sl_buf b;
    sl_buf_init(&b, 0);
    size_t next = 1;
    int rc = 0;
    for (const char *s = tpl; *s && !rc; s++) {
        if (*s == '\\' && s[1] && f->args[0].kind == A_LIT) {
            s++;
            sl_buf_append(&b, s, 1);
        } else if (s[0] == '{' && s[1] == '}') {
            if (next >= n) {
                rc = sl_errf(err, SL_EINVAL,
                             "States.Format has more placeholders {} than arguments");
                break;
            }
            json_t *a = v[next++];
            if (json_is_object(a) || json_is_array(a)) {
                rc = wrong(err, f, next - 1, "a string, number, boolean or null");
                break;
            }
            char *t = text_of(a);
            if (!t) {
                rc = SL_ENOMEM;
                break;
            }
            sl_buf_puts(&b, t);
            free(t);
            s++;
        } else {
            sl_buf_append(&b, s, 1);
        }
    }
    if (!rc && next != n)
        rc = sl_errf(err, SL_EINVAL, "States.Format has %zu arguments for %zu placeholders {}",
                     n - 1, next - 1);
    if (!rc) {
        *out = json_stringn(b.data ? b.data : "", b.len);
        rc = *out ? 0 : sl_errf(err, SL_EINVAL, "States.Format's result is not UTF-8");
    }
    sl_buf_free(&b);
    return rc;
}

static int fn_string_to_json(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                             struct sl_err *err)
{
    (void)n;
    if (!json_is_string(v[0]))
        return wrong(err, f, 0, "a string");
    json_error_t je;
    *out = json_loadb(json_string_value(v[0]), json_string_length(v[0]), JSON_DECODE_ANY, &je);
    if (!*out)
        return sl_errf(err, SL_EINVAL, "States.StringToJson: the string is not JSON: %s",
                       je.text);
    return 0;
}

static int fn_json_to_string(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                             struct sl_err *err)
{
    (void)f;
    (void)n;
    char *t = json_dumps(v[0], JSON_ENCODE_ANY | JSON_COMPACT);
    *out = t ? json_string(t) : NULL;
    free(t);
    return *out ? 0 : sl_errf(err, SL_ENOMEM, "out of memory");
}

static int fn_array(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                    struct sl_err *err)
{
    (void)f;
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append(a, v[i])) {
            json_decref(a);
            a = NULL;
        }
    *out = a;
    return a ? 0 : sl_errf(err, SL_ENOMEM, "out of memory");
}

static int fn_array_partition(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                              struct sl_err *err)
{
    (void)n;
    long long size;
    if (!json_is_array(v[0]))
        return wrong(err, f, 0, "an array");
    if (!int_arg(v[1], 1, 1e9, &size))
        return wrong(err, f, 1, "a positive integer");
    json_t *a = json_array();
    json_t *chunk = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(v[0], i, e)
    {
        if (!chunk) {
            chunk = json_array();
            json_array_append_new(a, chunk);
        }
        json_array_append(chunk, e);
        if ((long long)json_array_size(chunk) == size)
            chunk = NULL;
    }
    *out = a;
    return a ? 0 : sl_errf(err, SL_ENOMEM, "out of memory");
}

static int fn_array_contains(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                             struct sl_err *err)
{
    (void)n;
    if (!json_is_array(v[0]))
        return wrong(err, f, 0, "an array");
    bool found = false;
    size_t i;
    json_t *e;
    json_array_foreach(v[0], i, e)
    {
        if (!found && json_equal(e, v[1]))
            found = true;
    }
    *out = json_boolean(found);
    return 0;
}

static int fn_array_range(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                          struct sl_err *err)
{
    (void)n;
    long long a, b, step;
    for (size_t i = 0; i < 3; i++)
        if (!json_is_number(v[i]) || json_number_value(v[i]) != floor(json_number_value(v[i])))
            return wrong(err, f, i, "an integer");
    if (!int_arg(v[0], -1e15, 1e15, &a) || !int_arg(v[1], -1e15, 1e15, &b) ||
        !int_arg(v[2], -1e15, 1e15, &step) || step == 0)
        return sl_errf(err, SL_EINVAL, "States.ArrayRange's step must not be 0, and its "
                                       "numbers must be integers");
    long long count = (b - a) / step + 1;
    if ((step > 0 && b < a) || (step < 0 && b > a))
        count = 0;
    if (count > RANGE_MAX)
        return sl_errf(err, SL_EINVAL, "States.ArrayRange would make %lld items, more than "
                                       "the %d allowed",
                       count, RANGE_MAX);
    json_t *r = json_array();
    for (long long i = 0; r && i < count; i++)
        json_array_append_new(r, json_integer((json_int_t)(a + i * step)));
    *out = r;
    return r ? 0 : sl_errf(err, SL_ENOMEM, "out of memory");
}

static int fn_array_get_item(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                             struct sl_err *err)
{
    (void)n;
    long long i;
    if (!json_is_array(v[0]))
        return wrong(err, f, 0, "an array");
    if (!int_arg(v[1], 0, 1e15, &i))
        return wrong(err, f, 1, "a non-negative integer");
    if ((size_t)i >= json_array_size(v[0]))
        return sl_errf(err, SL_EINVAL, "States.ArrayGetItem: the index %lld is out of bounds "
                                       "of an array of %zu items",
                       i, json_array_size(v[0]));
    *out = json_incref(json_array_get(v[0], (size_t)i));
    return 0;
}

static int fn_array_length(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                           struct sl_err *err)
{
    (void)n;
    if (!json_is_array(v[0]))
        return wrong(err, f, 0, "an array");
    *out = json_integer((json_int_t)json_array_size(v[0]));
    return 0;
}

static int fn_array_unique(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                           struct sl_err *err)
{
    (void)n;
    if (!json_is_array(v[0]))
        return wrong(err, f, 0, "an array");
    json_t *r = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(v[0], i, e)
    {
        bool seen = false;
        for (size_t j = 0; j < json_array_size(r) && !seen; j++)
            seen = json_equal(json_array_get(r, j), e);
        if (!seen)
            json_array_append(r, e);
    }
    *out = r;
    return 0;
}

static int fn_base64_encode(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                            struct sl_err *err)
{
    (void)n;
    if (!json_is_string(v[0]))
        return wrong(err, f, 0, "a string");
    if (json_string_length(v[0]) > TEXT_MAX)
        return sl_errf(err, SL_EINVAL, "States.Base64Encode takes at most %d characters",
                       TEXT_MAX);
    struct sl_buf b;
    sl_buf_init(&b, 0);
    sl_base64_encode(&b, (const uint8_t *)json_string_value(v[0]), json_string_length(v[0]));
    *out = json_stringn(b.data ? b.data : "", b.len);
    sl_buf_free(&b);
    return *out ? 0 : sl_errf(err, SL_ENOMEM, "out of memory");
}

static int fn_base64_decode(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                            struct sl_err *err)
{
    (void)n;
    if (!json_is_string(v[0]))
        return wrong(err, f, 0, "a string");
    size_t len = json_string_length(v[0]);
    if (len > TEXT_MAX)
        return sl_errf(err, SL_EINVAL, "States.Base64Decode takes at most %d characters",
                       TEXT_MAX);
    uint8_t *buf = malloc(len + 1);
    size_t got = 0;
    if (!buf)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    int rc = sl_base64_decode(json_string_value(v[0]), len, buf, len + 1, &got);
    *out = rc ? NULL : json_stringn((const char *)buf, got);
    free(buf);
    if (rc)
        return sl_errf(err, SL_EINVAL, "States.Base64Decode: the string is not base64");
    return *out ? 0 : sl_errf(err, SL_EINVAL, "States.Base64Decode: the decoded bytes are "
                                              "not UTF-8 text");
}

static int fn_hash(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                   struct sl_err *err)
{
    (void)n;
    static const struct {
        const char *name;
        const EVP_MD *(*md)(void);
    } algs[] = {{"MD5", EVP_md5},       {"SHA-1", EVP_sha1},     {"SHA-256", EVP_sha256},
                {"SHA-384", EVP_sha384}, {"SHA-512", EVP_sha512}};
    const char *alg = json_string_value(v[1]);
    const EVP_MD *md = NULL;
    for (size_t i = 0; alg && i < SL_ARRAY_LEN(algs); i++)
        if (strcmp(alg, algs[i].name) == 0)
            md = algs[i].md();
    if (!md)
        return wrong(err, f, 1, "one of MD5, SHA-1, SHA-256, SHA-384 and SHA-512");
    char *data = text_of(v[0]);
    if (!data)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    if (strlen(data) > TEXT_MAX) {
        free(data);
        return sl_errf(err, SL_EINVAL, "States.Hash takes at most %d characters", TEXT_MAX);
    }
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned dn = 0;
    int ok = EVP_Digest(data, strlen(data), digest, &dn, md, NULL);
    free(data);
    if (!ok)
        return sl_errf(err, SL_EINVAL, "States.Hash failed");
    char hex[EVP_MAX_MD_SIZE * 2 + 1];
    sl_hex_encode(digest, dn, hex);
    *out = json_string(hex);
    return 0;
}

static int fn_json_merge(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                         struct sl_err *err)
{
    (void)n;
    if (!json_is_object(v[0]))
        return wrong(err, f, 0, "an object");
    if (!json_is_object(v[1]))
        return wrong(err, f, 1, "an object");
    if (!json_is_false(v[2]))
        return sl_errf(err, SL_EINVAL, "States.JsonMerge: only a shallow merge (false) is "
                                       "supported");
    json_t *r = json_copy(v[0]);
    if (!r || json_object_update(r, v[1])) {
        json_decref(r);
        return sl_errf(err, SL_ENOMEM, "out of memory");
    }
    *out = r;
    return 0;
}

static int fn_math_random(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                          struct sl_err *err)
{
    long long lo, hi, seed = 0;
    if (!int_arg(v[0], -2147483648.0, 2147483647.0, &lo))
        return wrong(err, f, 0, "an integer");
    if (!int_arg(v[1], -2147483648.0, 2147483647.0, &hi))
        return wrong(err, f, 1, "an integer");
    if (n > 2 && !int_arg(v[2], -9.2e18, 9.2e18, &seed))
        return wrong(err, f, 2, "an integer");
    if (hi <= lo)
        return sl_errf(err, SL_EINVAL, "States.MathRandom's end must be greater than its start");
    uint64_t r;
    if (n > 2) {
        /* A seed gives the same number each time (splitmix64 of it). */
        uint64_t z = (uint64_t)seed + 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        r = z ^ (z >> 31);
    } else {
        sl_random(&r, sizeof(r));
    }
    *out = json_integer((json_int_t)(lo + (long long)(r % (uint64_t)(hi - lo))));
    return 0;
}

static int fn_math_add(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                       struct sl_err *err)
{
    (void)n;
    long long a, b;
    if (!int_arg(v[0], -2147483648.0, 2147483647.0, &a))
        return wrong(err, f, 0, "an integer between -2147483648 and 2147483647");
    if (!int_arg(v[1], -2147483648.0, 2147483647.0, &b))
        return wrong(err, f, 1, "an integer between -2147483648 and 2147483647");
    if (a + b < -2147483648LL || a + b > 2147483647LL)
        return sl_errf(err, SL_EINVAL, "States.MathAdd: the sum is out of the integer range");
    *out = json_integer((json_int_t)(a + b));
    return 0;
}

static int fn_string_split(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                           struct sl_err *err)
{
    (void)n;
    if (!json_is_string(v[0]))
        return wrong(err, f, 0, "a string");
    if (!json_is_string(v[1]))
        return wrong(err, f, 1, "a string");
    const char *s = json_string_value(v[0]), *delims = json_string_value(v[1]);
    json_t *r = json_array();
    size_t len = json_string_length(v[0]), start = 0;
    for (size_t i = 0; i <= len; i++) {
        bool cut = i == len || (*delims && strchr(delims, s[i]) && s[i]);
        if (!cut)
            continue;
        if (i > start)
            json_array_append_new(r, json_stringn(s + start, i - start));
        start = i + 1;
    }
    *out = r;
    return 0;
}

static int fn_uuid(const struct sl_intrinsic *f, json_t **v, size_t n, json_t **out,
                   struct sl_err *err)
{
    (void)f;
    (void)v;
    (void)n;
    (void)err;
    char id[40];
    sl_uuid(id);
    *out = json_string(id);
    return 0;
}

static const struct fn fns[] = {
    {"States.Format", 1, -1, fn_format},
    {"States.StringToJson", 1, 1, fn_string_to_json},
    {"States.JsonToString", 1, 1, fn_json_to_string},
    {"States.Array", 0, -1, fn_array},
    {"States.ArrayPartition", 2, 2, fn_array_partition},
    {"States.ArrayContains", 2, 2, fn_array_contains},
    {"States.ArrayRange", 3, 3, fn_array_range},
    {"States.ArrayGetItem", 2, 2, fn_array_get_item},
    {"States.ArrayLength", 1, 1, fn_array_length},
    {"States.ArrayUnique", 1, 1, fn_array_unique},
    {"States.Base64Encode", 1, 1, fn_base64_encode},
    {"States.Base64Decode", 1, 1, fn_base64_decode},
    {"States.Hash", 2, 2, fn_hash},
    {"States.JsonMerge", 3, 3, fn_json_merge},
    {"States.MathRandom", 2, 3, fn_math_random},
    {"States.MathAdd", 2, 2, fn_math_add},
    {"States.StringSplit", 2, 2, fn_string_split},
    {"States.UUID", 0, 0, fn_uuid},
};

/* ---- parsing -------------------------------------------------------------------- */

struct parser {
    const char *s;
    size_t pos;
    struct sl_err *err;
    int depth;
};

static int fail(struct parser *ps, const char *what)
{
    return sl_errf(ps->err, SL_EINVAL,
                   "The intrinsic function '%.200s' is not valid: %s at character %zu", ps->s,
                   what, ps->pos + 1);
}

static void skip_space(struct parser *ps)
{
    while (ps->s[ps->pos] == ' ' || ps->s[ps->pos] == '\t' || ps->s[ps->pos] == '\n')
        ps->pos++;
}

static bool name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

bool sl_intrinsic_is_call(const char *text)
{
    if (!text || strncmp(text, "States.", 7) != 0)
        return false;
    const char *s = text + 7;
    while (name_char(*s))
        s++;
    return s > text + 7 && *s == '(';
}

static void arg_clear(struct arg *a)
{
    json_decref(a->lit);
    free(a->raw);
    sl_jsonpath_free(a->path);
    sl_intrinsic_free(a->call);
}

void sl_intrinsic_free(struct sl_intrinsic *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        arg_clear(&f->args[i]);
    free(f->args);
    free(f);
}

static int parse_call(struct parser *ps, struct sl_intrinsic **out);

/* A string literal: its value into a->lit, as written into a->raw. */
static int parse_string(struct parser *ps, struct arg *a)
{
    size_t start = ++ps->pos;
    struct sl_buf b;
    sl_buf_init(&b, 0);
    for (;;) {
        char ch = ps->s[ps->pos];
        if (!ch) {
            sl_buf_free(&b);
            return fail(ps, "an unterminated string");
        }
        if (ch == '\'')
            break;
        if (ch == '\\') {
            char next = ps->s[ps->pos + 1];
            if (next != '\'' && next != '{' && next != '}' && next != '\\') {
                sl_buf_free(&b);
                return fail(ps, "an escape other than \\' \\{ \\} \\\\");
            }
            ps->pos++;
            ch = next;
        }
        sl_buf_append(&b, &ch, 1);
        ps->pos++;
    }
    a->raw = strndup(ps->s + start, ps->pos - start);
    a->lit = json_stringn(b.data ? b.data : "", b.len);
    sl_buf_free(&b);
    ps->pos++;
    if (!a->raw)
        return SL_ENOMEM;
    return a->lit ? 0 : fail(ps, "a string that is not UTF-8");
}

/* A path: up to the , or ) that ends it (outside brackets and quotes). */
static int parse_path(struct parser *ps, struct arg *a)
{
    size_t start = ps->pos;
    int depth = 0;
    char quote = 0;
    for (;; ps->pos++) {
        char ch = ps->s[ps->pos];
        if (!ch)
            break;
        if (quote) {
            if (ch == '\\' && ps->s[ps->pos + 1])
                ps->pos++;
            else if (ch == quote)
                quote = 0;
            continue;
        }
        if (ch == '\'' || ch == '"')
            quote = ch;
        else if (ch == '[' || ch == '(')
            depth++;
        else if ((ch == ']' || ch == ')') && depth > 0)
            depth--;
        else if ((ch == ',' || ch == ')' || ch == ' ') && depth == 0)
            break;
    }
    char *text = strndup(ps->s + start, ps->pos - start);
    if (!text)
        return SL_ENOMEM;
    struct sl_err perr = {0};
    int rc = sl_jsonpath_compile(text, 0, &a->path, &perr);
    free(text);
    if (rc == SL_EINVAL)
        return sl_errf(ps->err, SL_EINVAL, "The intrinsic function '%.200s' is not valid: %s",
                       ps->s, perr.msg);
    return rc;
}

static int parse_arg(struct parser *ps, struct arg *a)
{
    const char *s = ps->s + ps->pos;
    if (*s == '\'') {
        a->kind = A_LIT;
        return parse_string(ps, a);
    }
    if (*s == '$') {
        a->kind = A_PATH;
        return parse_path(ps, a);
    }
    if (strncmp(s, "States.", 7) == 0) {
        a->kind = A_CALL;
        return parse_call(ps, &a->call);
    }
    a->kind = A_LIT;
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < SL_ARRAY_LEN(words); i++) {
        size_t n = strlen(words[i]);
        if (strncmp(s, words[i], n) == 0 && !name_char(s[n])) {
            ps->pos += n;
            a->lit = i == 0 ? json_true() : i == 1 ? json_false() : json_null();
            return 0;
        }
    }
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(*s == '-' || (*s >= '0' && *s <= '9')) || !isfinite(v))
        return fail(ps, "an argument must be a string in single quotes, a number, true, false, "
                        "null, a path or a call");
    bool integral = v == floor(v) && fabs(v) < 9e15 &&
                    !memchr(s, '.', (size_t)(end - s)) && !memchr(s, 'e', (size_t)(end - s)) &&
                    !memchr(s, 'E', (size_t)(end - s));
    ps->pos += (size_t)(end - s);
    a->lit = integral ? json_integer((json_int_t)v) : json_real(v);
    return a->lit ? 0 : SL_ENOMEM;
}

static int parse_call(struct parser *ps, struct sl_intrinsic **out)
{
    if (++ps->depth > DEPTH_MAX)
        return fail(ps, "calls nested too deeply");
    size_t start = ps->pos;
    if (strncmp(ps->s + start, "States.", 7) != 0)
        return fail(ps, "a call must name a States. function");
    ps->pos += 7;
    while (name_char(ps->s[ps->pos]))
        ps->pos++;
    const struct fn *fn = NULL;
    for (size_t i = 0; i < SL_ARRAY_LEN(fns); i++)
        if (strlen(fns[i].name) == ps->pos - start &&
            strncmp(fns[i].name, ps->s + start, ps->pos - start) == 0)
            fn = &fns[i];
    if (!fn)
        return sl_errf(ps->err, SL_EINVAL,
                       "The intrinsic function '%.200s' is not valid: there is no function "
                       "%.*s",
                       ps->s, (int)SL_MIN(ps->pos - start, 100), ps->s + start);
    skip_space(ps);
    if (ps->s[ps->pos] != '(')
        return fail(ps, "( was expected");
    ps->pos++;
    struct sl_intrinsic *f = calloc(1, sizeof(*f));
    if (!f)
        return SL_ENOMEM;
    f->fn = fn;
    int rc = 0;
    skip_space(ps);
    if (ps->s[ps->pos] == ')') {
        ps->pos++;
    } else {
        for (;;) {
            if (f->n >= ARGS_MAX) {
                rc = fail(ps, "too many arguments");
                break;
            }
            struct arg *args = realloc(f->args, (f->n + 1) * sizeof(*args));
            if (!args) {
                rc = SL_ENOMEM;
                break;
            }
            f->args = args;
            struct arg *a = &f->args[f->n++];
            memset(a, 0, sizeof(*a));
            skip_space(ps);
            if ((rc = parse_arg(ps, a)) != 0)
                break;
            skip_space(ps);
            if (ps->s[ps->pos] == ',') {
                ps->pos++;
                continue;
            }
            if (ps->s[ps->pos] == ')') {
                ps->pos++;
                break;
            }
            rc = fail(ps, ", or ) was expected");
            break;
        }
    }
    if (!rc && ((int)f->n < fn->min || (fn->max >= 0 && (int)f->n > fn->max))) {
        char takes[48];
        if (fn->max < 0)
            snprintf(takes, sizeof(takes), "at least %d argument%s", fn->min,
                     fn->min == 1 ? "" : "s");
        else if (fn->max == fn->min)
            snprintf(takes, sizeof(takes), "%d argument%s", fn->min, fn->min == 1 ? "" : "s");
        else
            snprintf(takes, sizeof(takes), "%d to %d arguments", fn->min, fn->max);
        rc = sl_errf(ps->err, SL_EINVAL,
                     "The intrinsic function '%.200s' is not valid: %s takes %s, not %zu", ps->s,
                     fn->name, takes, f->n);
    }
    if (rc) {
        sl_intrinsic_free(f);
        return rc;
    }
    ps->depth--;
    *out = f;
    return 0;
}

int sl_intrinsic_compile(const char *text, struct sl_intrinsic **out, struct sl_err *err)
{
    *out = NULL;
    struct parser ps = {.s = text ? text : "", .err = err};
    int rc = parse_call(&ps, out);
    if (!rc) {
        skip_space(&ps);
        if (ps.s[ps.pos]) {
            sl_intrinsic_free(*out);
            *out = NULL;
            rc = fail(&ps, "text after the call");
        }
    }
    if (rc == SL_ENOMEM)
        sl_errf(err, SL_ENOMEM, "out of memory");
    return rc;
}

/* ---- evaluation ----------------------------------------------------------------- */

int sl_intrinsic_eval(const struct sl_intrinsic *f, json_t *input, json_t *context,
                      json_t **out, struct sl_err *err)
{
    *out = NULL;
    json_t **v = calloc(f->n ? f->n : 1, sizeof(*v));
    if (!v)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < f->n && !rc; i++) {
        const struct arg *a = &f->args[i];
        if (a->kind == A_LIT) {
            v[i] = json_incref(a->lit);
        } else if (a->kind == A_CALL) {
            rc = sl_intrinsic_eval(a->call, input, context, &v[i], err);
        } else {
            json_t *doc = sl_jsonpath_is_context(a->path) ? context : input;
            rc = doc ? sl_jsonpath_get(a->path, doc, &v[i]) : SL_ENOTFOUND;
            if (rc == SL_ENOTFOUND)
                rc = sl_errf(err, SL_EINVAL, "The path '%.200s' in %s has no value",
                             sl_jsonpath_text(a->path), f->fn->name);
            else if (rc)
                rc = sl_errf(err, rc, "out of memory");
        }
    }
    if (!rc)
        rc = f->fn->eval(f, v, f->n, out, err);
    for (size_t i = 0; i < f->n; i++)
        json_decref(v[i]);
    free(v);
    return rc;
}
