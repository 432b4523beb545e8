/*
 * The generic layer over the generated model tables: routing by URI
 * template, decoding a request into one JSON object, validating it with
 * AWS's ValidationException wording, and encoding an operation's output.
 */
#include "aws/model.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_VALIDATION_ERRORS 10

static int cmp_op(const void *key, const void *elem)
{
    return strcmp(key, ((const struct sl_operation *)elem)->name);
}

const struct sl_operation *sl_model_op_by_name(const struct sl_service_model *m,
                                               const char *name)
{
    return name ? bsearch(name, m->ops, m->nops, sizeof(*m->ops), cmp_op) : NULL;
}

static int cmp_shape(const void *key, const void *elem)
{
    return strcmp(key, ((const struct sl_shape *)elem)->name);
}

const struct sl_shape *sl_model_shape(const struct sl_service_model *m, const char *name)
{
    return bsearch(name, m->shapes, m->nshapes, sizeof(*m->shapes), cmp_shape);
}

/* ---- routing --------------------------------------------------------- */

/* A captured URI label: its name in the template and the raw segment(s). */
struct label {
    const char *name;
    size_t name_len;
    const char *value; /* raw, percent-encoded */
    size_t value_len;
};

/*
 * Matches a request path against a template's path part ("/a/{B}/c",
 * "{Key+}" greedy), ignoring one trailing slash on either. Fills labels.
 * Returns whether it matched.
 */
static bool match_path(const char *tpl, size_t tlen, const char *path, struct label *labels,
                       size_t *nlabels)
{
    size_t plen = strlen(path);
    if (tlen > 1 && tpl[tlen - 1] == '/')
        tlen--;
    if (plen > 1 && path[plen - 1] == '/')
        plen--;
    size_t ti = 0, pi = 0, n = 0;
    while (ti < tlen) {
        if (tpl[ti] == '{') {
            const char *close = memchr(tpl + ti, '}', tlen - ti);
            if (!close || n == SL_MODEL_MAX_LABELS)
                return false;
            size_t name_len = (size_t)(close - tpl - ti - 1);
            bool greedy = name_len && tpl[ti + name_len] == '+';
            size_t start = pi;
            if (greedy) {
                pi = plen;
                name_len--;
            } else {
                while (pi < plen && path[pi] != '/')
                    pi++;
            }
            if (pi == start)
                return false; /* labels are never empty */
            labels[n++] = (struct label){tpl + ti + 1, name_len, path + start, pi - start};
            ti = (size_t)(close - tpl) + 1;
        } else {
            if (pi >= plen || tpl[ti] != path[pi])
                return false;
            ti++;
            pi++;
        }
    }
    *nlabels = n;
    return pi == plen;
}

/* Whether the literal query of a template ("find=LayerVersion&x") is in r. */
static bool match_query(const char *q, const struct sl_http_request *r)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", q);
    char *save = NULL;
    for (char *part = strtok_r(buf, "&", &save); part; part = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(part, '=');
        if (eq)
            *eq = '\0';
        const char *v = sl_http_param(r, part);
        if (!v || (eq && strcmp(v, eq + 1) != 0))
            return false;
    }
    return true;
}

const struct sl_operation *sl_model_route(const struct sl_service_model *m,
                                          const struct sl_http_request *r)
{
    const struct sl_operation *best = NULL;
    int best_score = -1;
    for (size_t i = 0; i < m->nops; i++) {
        const struct sl_operation *op = &m->ops[i];
        if (strcmp(op->method, r->method) != 0)
            continue;
        const char *q = strchr(op->uri, '?');
        size_t tlen = q ? (size_t)(q - op->uri) : strlen(op->uri);
        struct label labels[SL_MODEL_MAX_LABELS];
        size_t n = 0;
        if (!match_path(op->uri, tlen, r->path_raw, labels, &n))
            continue;
        if (q && !match_query(q + 1, r))
            continue;
        /* Literal segments beat labels; a literal query beats none. */
        int score = (int)(tlen - n * 8) + (q ? 1000 : 0);
        if (score > best_score) {
            best = op;
            best_score = score;
        }
    }
    return best;
}

/* ---- validation ------------------------------------------------------ */

struct vctx {
    const struct sl_service_model *m;
    struct sl_buf msgs;
    int count;
    bool serialization; /* a value of the wrong JSON type */
    char ser_msg[256];
};

/* AWS names members in messages with a lower-case first letter. */
static void path_push(char *path, size_t cap, const char *name)
{
    size_t n = strlen(path);
    if (n && n + 1 < cap)
        path[n++] = '.';
    for (size_t i = 0; name[i] && n + 1 < cap; i++)
        path[n++] = (char)(i == 0 ? tolower((unsigned char)name[i]) : name[i]);
    path[n] = '\0';
}

static void verror(struct vctx *v, json_t *value, const char *path, const char *fmt, ...)
    SL_PRINTF(4, 5);

static void verror(struct vctx *v, json_t *value, const char *path, const char *fmt, ...)
{
    if (++v->count > MAX_VALIDATION_ERRORS)
        return;
    char shown[160];
    if (!value) {
        snprintf(shown, sizeof(shown), "null");
    } else if (json_is_string(value)) {
        snprintf(shown, sizeof(shown), "'%.150s'", json_string_value(value));
    } else {
        char *d = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(shown, sizeof(shown), "'%.150s'", d ? d : "?");
        free(d);
    }
    if (v->msgs.len)
        sl_buf_puts(&v->msgs, "; ");
    sl_buf_printf(&v->msgs, "Value %s at '%s' failed to satisfy constraint: ", shown, path);
    va_list ap;
    va_start(ap, fmt);
    sl_buf_vprintf(&v->msgs, fmt, ap);
    va_end(ap);
}

static void type_error(struct vctx *v, const char *path, const char *want)
{
    if (!v->serialization)
        snprintf(v->ser_msg, sizeof(v->ser_msg), "Unexpected value type at '%s': expected %s",
                 path, want);
    v->serialization = true;
}

/* Length of a UTF-8 string in code points (what AWS's length limits count). */
static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static void fmt_num(char *out, size_t n, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, n, "%.0f", v);
    else
        snprintf(out, n, "%g", v);
}

static void check_bounds(struct vctx *v, const struct sl_shape *s, json_t *value,
                         const char *path, double x, bool is_length)
{
    char num[40];
    if (s->has_min && x < s->min) {
        fmt_num(num, sizeof(num), s->min);
        verror(v, value, path, "Member must have %s greater than or equal to %s",
               is_length ? "length" : "value", num);
    }
    if (s->has_max && x > s->max) {
        fmt_num(num, sizeof(num), s->max);
        verror(v, value, path, "Member must have %s less than or equal to %s",
               is_length ? "length" : "value", num);
    }
}

/* An enum constrains strings, and integers by their decimal text (the
 * overrides give CloudWatch Logs' retention days that way). */
static void check_enum(struct vctx *v, const struct sl_shape *s, json_t *value,
                       const char *path, const char *text)
{
    if (!s->nenums)
        return;
    for (size_t i = 0; i < s->nenums; i++)
        if (strcmp(s->enums[i], text) == 0)
            return;
    struct sl_buf set;
    sl_buf_init(&set, 8192);
    for (size_t i = 0; i < s->nenums; i++)
        sl_buf_printf(&set, "%s%s", i ? ", " : "", s->enums[i]);
    verror(v, value, path, "Member must satisfy enum value set: [%s]", set.data ? set.data : "");
    sl_buf_free(&set);
}

static void validate(struct vctx *v, const struct sl_shape *s, json_t *value, char *path,
                     size_t cap);

static void validate_structure(struct vctx *v, const struct sl_shape *s, json_t *value,
                               char *path, size_t cap)
{
    if (!json_is_object(value)) {
        type_error(v, path, "a structure");
        return;
    }
    size_t base = strlen(path);
    for (size_t i = 0; i < s->nmembers; i++) {
        const struct sl_member *mem = &s->members[i];
        json_t *child = json_object_get(value, mem->name);
        path_push(path, cap, mem->name);
        if (!child || json_is_null(child)) {
            if (mem->required)
                verror(v, NULL, path, "Member must not be null");
        } else {
            validate(v, &v->m->shapes[mem->shape], child, path, cap);
        }
        path[base] = '\0';
    }
}

static void validate(struct vctx *v, const struct sl_shape *s, json_t *value, char *path,
                     size_t cap)
{
    switch (s->type) {
    case SL_SHAPE_STRUCTURE:
        validate_structure(v, s, value, path, cap);
        break;
    case SL_SHAPE_LIST: {
        if (!json_is_array(value)) {
            type_error(v, path, "a list");
            return;
        }
        check_bounds(v, s, value, path, (double)json_array_size(value), true);
        size_t base = strlen(path), i;
        json_t *el;
        json_array_foreach(value, i, el)
        {
            snprintf(path + base, cap - base, ".%zu.member", i + 1);
            validate(v, &v->m->shapes[s->element], el, path, cap);
            path[base] = '\0';
        }
        break;
    }
    case SL_SHAPE_MAP: {
        if (!json_is_object(value)) {
            type_error(v, path, "a map");
            return;
        }
        check_bounds(v, s, value, path, (double)json_object_size(value), true);
        const char *k;
        json_t *el;
        json_object_foreach(value, k, el)
        {
            json_t *key = json_string(k);
            validate(v, &v->m->shapes[s->key], key, path, cap);
            json_decref(key);
            validate(v, &v->m->shapes[s->element], el, path, cap);
        }
        break;
    }
    case SL_SHAPE_STRING: {
        if (!json_is_string(value)) {
            type_error(v, path, "a string");
            return;
        }
        const char *str = json_string_value(value);
        check_bounds(v, s, value, path, (double)utf8_len(str), true);
        check_enum(v, s, value, path, str);
        break;
    }
    case SL_SHAPE_INTEGER:
    case SL_SHAPE_LONG: {
        if (!json_is_integer(value)) {
            type_error(v, path, "an integer");
            return;
        }
        check_bounds(v, s, value, path, (double)json_integer_value(value), false);
        char num[32];
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(value));
        check_enum(v, s, value, path, num);
        break;
    }
    case SL_SHAPE_DOUBLE:
    case SL_SHAPE_FLOAT:
        if (!json_is_number(value)) {
            type_error(v, path, "a number");
            return;
        }
        check_bounds(v, s, value, path, json_number_value(value), false);
        break;
    case SL_SHAPE_BOOLEAN:
        if (!json_is_boolean(value))
            type_error(v, path, "a boolean");
        break;
    case SL_SHAPE_BLOB: {
        if (!json_is_string(value)) {
            type_error(v, path, "a base64 string");
            return;
        }
        const char *b64 = json_string_value(value);
        size_t n = strlen(b64);
        uint8_t *tmp = malloc(n / 4 * 3 + 3);
        size_t out = 0;
        if (!tmp || sl_base64_decode(b64, n, tmp, n / 4 * 3 + 3, &out)) {
            if (!v->serialization)
                snprintf(v->ser_msg, sizeof(v->ser_msg),
                         "Value at '%s' is not valid base64", path);
            v->serialization = true;
        } else {
            check_bounds(v, s, value, path, (double)out, true);
        }
        free(tmp);
        break;
    }
    case SL_SHAPE_TIMESTAMP:
        if (!json_is_number(value) && !json_is_string(value))
            type_error(v, path, "a timestamp");
        break;
    }
}

int sl_model_validate(const struct sl_service_model *m, const struct sl_shape *shape,
                      json_t *value, struct sl_model_error *e)
{
    struct vctx v = {.m = m};
    sl_buf_init(&v.msgs, 16384);
    char path[512] = "";
    validate(&v, shape, value, path, sizeof(path));
    int rc = 0;
    if (v.serialization) {
        e->code = "SerializationException";
        snprintf(e->message, sizeof(e->message), "%s", v.ser_msg);
        rc = SL_EINVAL;
    } else if (v.count) {
        e->code = "ValidationException";
        snprintf(e->message, sizeof(e->message), "%d validation error%s detected: %s", v.count,
                 v.count == 1 ? "" : "s", v.msgs.data ? v.msgs.data : "");
        rc = SL_EINVAL;
    }
    sl_buf_free(&v.msgs);
    return rc;
}

/* ---- decoding -------------------------------------------------------- */

/* Converts text from a URI, query or header into the member's JSON type. */
static json_t *scalar_from_text(const struct sl_shape *s, const char *text)
{
    char *end;
    switch (s->type) {
    case SL_SHAPE_INTEGER:
    case SL_SHAPE_LONG: {
        long long v = strtoll(text, &end, 10);
        return *text && !*end ? json_integer(v) : json_string(text);
    }
    case SL_SHAPE_DOUBLE:
    case SL_SHAPE_FLOAT: {
        double d = strtod(text, &end);
        return *text && !*end ? json_real(d) : json_string(text);
    }
    case SL_SHAPE_BOOLEAN:
        if (strcasecmp(text, "true") == 0)
            return json_true();
        if (strcasecmp(text, "false") == 0)
            return json_false();
        return json_string(text);
    default:
        return json_string(text);
    }
}

int sl_model_decode(const struct sl_service_model *m, const struct sl_operation *op,
                    const struct sl_http_request *r, const char *body, size_t body_len,
                    json_t **input, struct sl_model_error *e)
{
    *input = NULL;
    json_t *in = NULL;
    const struct sl_shape *s = op->input >= 0 ? &m->shapes[op->input] : NULL;
    const struct sl_member *payload = s && s->payload >= 0 ? &s->members[s->payload] : NULL;
    bool json_body = !payload || m->shapes[payload->shape].type == SL_SHAPE_STRUCTURE;
    /* The JSON body: the input itself, or the payload member. */
    json_t *doc = NULL;
    if (json_body && body_len) {
        json_error_t jerr;
        doc = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc || !json_is_object(doc)) {
            json_decref(doc);
            e->code = "SerializationException";
            snprintf(e->message, sizeof(e->message), "Could not parse request body into json: %s",
                     doc ? "the body is not a JSON object" : jerr.text);
            return SL_EINVAL;
        }
    }
    if (payload) {
        in = json_object();
        if (doc)
            json_object_set_new(in, payload->name, doc);
    } else {
        in = doc ? doc : json_object();
    }
    if (!in)
        return SL_ENOMEM;
    if (s) {
        /* URI labels. */
        const char *q = strchr(op->uri, '?');
        size_t tlen = q ? (size_t)(q - op->uri) : strlen(op->uri);
        struct label labels[SL_MODEL_MAX_LABELS];
        size_t nl = 0;
        match_path(op->uri, tlen, r->path_raw, labels, &nl);
        for (size_t i = 0; i < s->nmembers; i++) {
            const struct sl_member *mem = &s->members[i];
            const struct sl_shape *ms = &m->shapes[mem->shape];
            json_t *val = NULL;
            if (mem->location == SL_LOC_URI) {
                for (size_t k = 0; k < nl && !val; k++) {
                    if (strlen(mem->location_name) != labels[k].name_len ||
                        strncmp(mem->location_name, labels[k].name, labels[k].name_len) != 0)
                        continue;
                    struct sl_buf dec;
                    sl_buf_init(&dec, 0);
                    if (sl_uri_decode(&dec, labels[k].value, labels[k].value_len, false) == 0)
                        val = scalar_from_text(ms, dec.data ? dec.data : "");
                    sl_buf_free(&dec);
                }
            } else if (mem->location == SL_LOC_QUERY) {
                if (ms->type == SL_SHAPE_LIST) {
                    for (size_t k = 0; k < r->nparams; k++) {
                        if (strcmp(r->params[k].name, mem->location_name) != 0)
                            continue;
                        if (!val)
                            val = json_array();
                        json_array_append_new(val, json_string(r->params[k].value));
                    }
                } else {
                    const char *t = sl_http_param(r, mem->location_name);
                    if (t)
                        val = scalar_from_text(ms, t);
                }
            } else if (mem->location == SL_LOC_HEADER) {
                const char *t = sl_http_header(r, mem->location_name);
                if (t)
                    val = scalar_from_text(ms, t);
            }
            if (val)
                json_object_set_new(in, mem->name, val);
        }
        if (sl_model_validate(m, s, in, e)) {
            json_decref(in);
            return SL_EINVAL;
        }
    }
    *input = in;
    return 0;
}

/* ---- responses ------------------------------------------------------- */

void sl_model_respond(const struct sl_service_model *m, const struct sl_operation *op,
                      struct sl_http_request *r, json_t *output, const char *payload_body,
                      size_t payload_len)
{
    int status = op->success_status ? op->success_status : 200;
    const struct sl_shape *s = op->output >= 0 ? &m->shapes[op->output] : NULL;
    /* Only top-level members are dropped: a shallow copy will do. */
    json_t *body = output ? json_copy(output) : NULL;
    bool raw_payload = false;
    for (size_t i = 0; s && body && i < s->nmembers; i++) {
        const struct sl_member *mem = &s->members[i];
        json_t *val = json_object_get(body, mem->name);
        if (!val)
            continue;
        if (mem->location == SL_LOC_HEADER) {
            char text[64];
            const char *t = text;
            if (json_is_string(val))
                t = json_string_value(val);
            else if (json_is_integer(val))
                snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(val));
            else if (json_is_boolean(val))
                t = json_is_true(val) ? "true" : "false";
            else
                t = NULL;
            if (t)
                sl_http_set_header(r, mem->location_name, t);
            json_object_del(body, mem->name);
        } else if (mem->location == SL_LOC_STATUS) {
            if (json_is_integer(val))
                status = (int)json_integer_value(val);
            json_object_del(body, mem->name);
        }
    }
    if (s && s->payload >= 0) {
        const struct sl_member *pm = &s->members[s->payload];
        if (m->shapes[pm->shape].type != SL_SHAPE_STRUCTURE) {
            raw_payload = true;
            if (payload_len)
                sl_buf_append(&r->resp.body, payload_body, payload_len);
        } else {
            json_t *inner = json_incref(json_object_get(body, pm->name));
            json_decref(body);
            body = inner;
        }
    }
    if (!raw_payload && body && status != 204) {
        char *text = json_dumps(body, JSON_COMPACT);
        if (text) {
            sl_buf_puts(&r->resp.body, text);
            free(text);
        }
        sl_http_set_header(r, "Content-Type", "application/json");
    }
    json_decref(body);
    sl_http_send(r, status);
}
