/*
 * The generic layer over the generated model tables, request side: finding
 * a request's operation, decoding it (rest labels, query strings,
 * headers, JSON bodies, form-encoded query bodies) into one JSON object,
 * and validating that object with AWS's ValidationException wording. The
 * answers are written by codec.c.
 */
#include "aws/model.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_VALIDATION_ERRORS 10
/* Query keys deeper than this ("A.1.B.2...") are refused. */
#define QUERY_MAX_DEPTH 16

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

/* Whether the literal query of a template ("find=LayerVersion&x") is in
 * r; *count counts its parameters. */
static bool match_query(const char *q, const struct sl_http_request *r, int *count)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", q);
    char *save = NULL;
    *count = 0;
    for (char *part = strtok_r(buf, "&", &save); part; part = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(part, '=');
        if (eq)
            *eq = '\0';
        const char *v = sl_http_param(r, part);
        if (!v || (eq && strcmp(v, eq + 1) != 0))
            return false;
        (*count)++;
    }
    return true;
}

/* How many query and header members op's input requires; -1 when r lacks
 * one of them (the operation is not the one r means). */
static int required_locations(const struct sl_service_model *m, const struct sl_operation *op,
                              const struct sl_http_request *r)
{
    if (op->input < 0)
        return 0;
    const struct sl_shape *s = &m->shapes[op->input];
    int n = 0;
    for (size_t i = 0; i < s->nmembers; i++) {
        const struct sl_member *mem = &s->members[i];
        if (!(mem->flags & SL_MEMBER_REQUIRED))
            continue;
        if (mem->location == SL_LOC_QUERY) {
            if (!sl_http_has_param(r, mem->wire))
                return -1;
            n++;
        } else if (mem->location == SL_LOC_HEADER) {
            if (!sl_http_header(r, mem->wire))
                return -1;
            n++;
        }
    }
    return n;
}

const struct sl_operation *sl_model_route(const struct sl_service_model *m,
                                          const struct sl_http_request *r)
{
    const struct sl_operation *best = NULL;
    long best_score = -1;
    for (size_t i = 0; i < m->nops; i++) {
        const struct sl_operation *op = &m->ops[i];
        if (strcmp(op->method, r->method) != 0)
            continue;
        const char *q = strchr(op->uri, '?');
        size_t tlen = q ? (size_t)(q - op->uri) : strlen(op->uri);
        struct label labels[SL_MODEL_MAX_LABELS];
        size_t n = 0;
        int literal = 0;
        if (!match_path(op->uri, tlen, r->path_raw, labels, &n))
            continue;
        if (q && !match_query(q + 1, r, &literal))
            continue;
        int required = required_locations(m, op, r);
        if (required < 0)
            continue;
        /* The most specific wins: literal query parameters, then required
         * query and header members (UploadPart over PutObject), then
         * literal path characters over labels. */
        long score = (long)literal * 100000 + (long)required * 1000 + (long)tlen - (long)n * 8;
        if (score > best_score) {
            best = op;
            best_score = score;
        }
    }
    return best;
}

const struct sl_operation *sl_model_operation(const struct sl_service_model *m,
                                              enum sl_aws_protocol protocol,
                                              const struct sl_http_request *r,
                                              const struct sl_http_param *params,
                                              size_t nparams)
{
    if (protocol == SL_PROTO_REST_JSON || protocol == SL_PROTO_REST_XML)
        return sl_model_route(m, r);
    return sl_model_op_by_name(m, sl_aws_operation(r, protocol, params, nparams));
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
        const struct sl_shape *ms = &v->m->shapes[mem->shape];
        path_push(path, cap, mem->name);
        if (!child || json_is_null(child)) {
            if (mem->flags & SL_MEMBER_REQUIRED)
                verror(v, NULL, path, "Member must not be null");
        } else if ((int)i == s->payload && ms->type == SL_SHAPE_BLOB) {
            /* A raw payload: decoding marked it present; the bytes are the
             * body's. */
        } else {
            validate(v, ms, child, path, cap);
        }
        path[base] = '\0';
    }
}

static void validate(struct vctx *v, const struct sl_shape *s, json_t *value, char *path,
                     size_t cap)
{
    if (s->flags & SL_SHAPE_DOCUMENT)
        return; /* any JSON value */
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
        size_t out = 0;
        if (sl_base64_decode(b64, json_string_length(value), NULL, 0, &out)) {
            if (!v->serialization)
                snprintf(v->ser_msg, sizeof(v->ser_msg),
                         "Value at '%s' is not valid base64", path);
            v->serialization = true;
        } else {
            check_bounds(v, s, value, path, (double)out, true);
        }
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

/* Converts text from a URI, query string, header or query body into the
 * member's JSON type (text that is not one stays a string, which
 * validation then reports). */
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

static int decode_fail(struct sl_model_error *e, const char *code, const char *fmt, ...)
    SL_PRINTF(3, 4);

static int decode_fail(struct sl_model_error *e, const char *code, const char *fmt, ...)
{
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return SL_EINVAL;
}

/* The JSON body of a json or rest-json request: an object (empty when
 * the body is). */
static int json_body(const char *body, size_t len, json_t **out, struct sl_model_error *e)
{
    *out = NULL;
    if (!len) {
        *out = json_object();
        return *out ? 0 : SL_ENOMEM;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc || !json_is_object(doc)) {
        json_decref(doc);
        return decode_fail(e, "SerializationException",
                           "Could not parse request body into json: %s",
                           doc ? "the body is not a JSON object" : jerr.text);
    }
    *out = doc;
    return 0;
}

/* Renames the members of a JSON body whose wire name differs from their
 * member name (locationName), at the top level. */
static void json_wire_names(const struct sl_shape *s, json_t *in)
{
    for (size_t i = 0; s && i < s->nmembers; i++) {
        const struct sl_member *mem = &s->members[i];
        if (mem->location != SL_LOC_BODY || strcmp(mem->wire, mem->name) == 0)
            continue;
        json_t *v = json_object_get(in, mem->wire);
        if (v) {
            json_object_set(in, mem->name, v);
            json_object_del(in, mem->wire);
        }
    }
}

/* ---- the query protocol's keys ---- */

/*
 * The query protocol flattens the input into keys ("QueueUrl",
 * "Attribute.1.Name", "Tags.member.2.Key"): first into a tree of JSON
 * objects by the dotted parts of each key, then by the input shape into
 * the input (lists from their numbered entries, maps from entry/key/value).
 */
static int tree_put(json_t *tree, const char *key, const char *value)
{
    char buf[512];
    size_t n = strlen(key);
    if (n == 0 || n >= sizeof(buf))
        return SL_EINVAL;
    memcpy(buf, key, n + 1);
    json_t *node = tree;
    char *save = NULL;
    int depth = 0;
    char *part = strtok_r(buf, ".", &save);
    while (part) {
        char *next = strtok_r(NULL, ".", &save);
        if (++depth > QUERY_MAX_DEPTH)
            return SL_EINVAL;
        json_t *child = json_object_get(node, part);
        if (!next) {
            if (child)
                return SL_EINVAL; /* given twice, or both a value and a parent */
            return json_object_set_new(node, part, json_string(value)) ? SL_ENOMEM : 0;
        }
        if (!child) {
            child = json_object();
            if (!child || json_object_set_new(node, part, child))
                return SL_ENOMEM;
        } else if (!json_is_object(child)) {
            return SL_EINVAL;
        }
        node = child;
        part = next;
    }
    return 0;
}

static json_t *from_tree(const struct sl_service_model *m, const struct sl_shape *s,
                         json_t *node, bool flattened);

/* The numbered entries of node ("1", "2", ...) in order, as a new array. */
static json_t *numbered(json_t *node)
{
    json_t *out = json_array();
    if (!out || !json_is_object(node))
        return out;
    size_t n = json_object_size(node);
    for (size_t i = 1; i <= n; i++) {
        char idx[24];
        snprintf(idx, sizeof(idx), "%zu", i);
        json_t *v = json_object_get(node, idx);
        if (!v)
            break; /* entries are numbered from 1 without gaps */
        json_array_append(out, v);
    }
    return out;
}

static json_t *list_from_tree(const struct sl_service_model *m, const struct sl_shape *s,
                              json_t *node, bool flattened)
{
    json_t *out = json_array();
    if (json_is_string(node)) /* "Prefix=": an empty list */
        return out;
    json_t *entries = flattened ? numbered(node)
                                : numbered(json_object_get(node, s->element_name));
    size_t i;
    json_t *v;
    json_array_foreach(entries, i, v)
    {
        json_t *el = from_tree(m, &m->shapes[s->element], v, false);
        if (el)
            json_array_append_new(out, el);
    }
    json_decref(entries);
    return out;
}

static json_t *map_from_tree(const struct sl_service_model *m, const struct sl_shape *s,
                             json_t *node, bool flattened)
{
    json_t *out = json_object();
    if (json_is_string(node))
        return out;
    json_t *entries = flattened ? numbered(node) : numbered(json_object_get(node, "entry"));
    size_t i;
    json_t *v;
    json_array_foreach(entries, i, v)
    {
        const char *k = json_string_value(json_object_get(v, s->key_name));
        json_t *val = json_object_get(v, s->element_name);
        if (!k || !val)
            continue;
        json_t *el = from_tree(m, &m->shapes[s->element], val, false);
        if (el)
            json_object_set_new(out, k, el);
    }
    json_decref(entries);
    return out;
}

static json_t *from_tree(const struct sl_service_model *m, const struct sl_shape *s,
                         json_t *node, bool flattened)
{
    switch (s->type) {
    case SL_SHAPE_STRUCTURE: {
        if (!json_is_object(node))
            return json_incref(node); /* validation reports the type */
        json_t *out = json_object();
        for (size_t i = 0; out && i < s->nmembers; i++) {
            const struct sl_member *mem = &s->members[i];
            const struct sl_shape *ms = &m->shapes[mem->shape];
            bool flat = (mem->flags & SL_MEMBER_FLATTENED) || (ms->flags & SL_SHAPE_FLATTENED);
            /* A flattened list whose members are named goes by that name
             * (botocore's serializer does the same). */
            const char *key = mem->wire;
            if (flat && ms->type == SL_SHAPE_LIST && strcmp(ms->element_name, "member") != 0)
                key = ms->element_name;
            json_t *child = json_object_get(node, key);
            if (!child)
                continue;
            json_t *v = from_tree(m, ms, child, flat);
            if (v)
                json_object_set_new(out, mem->name, v);
        }
        return out;
    }
    case SL_SHAPE_LIST:
        return list_from_tree(m, s, node, flattened);
    case SL_SHAPE_MAP:
        return map_from_tree(m, s, node, flattened);
    default:
        return json_is_string(node) ? scalar_from_text(s, json_string_value(node))
                                    : json_incref(node);
    }
}

static int query_input(const struct sl_service_model *m, const struct sl_shape *s,
                       const struct sl_http_request *r, const struct sl_http_param *params,
                       size_t nparams, json_t **out, struct sl_model_error *e)
{
    json_t *tree = json_object();
    if (!tree)
        return SL_ENOMEM;
    const struct sl_http_param *sets[2] = {r->params, params};
    size_t counts[2] = {r->nparams, nparams};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < counts[k]; i++) {
            const char *name = sets[k][i].name;
            if (strcmp(name, "Action") == 0 || strcmp(name, "Version") == 0)
                continue;
            int rc = tree_put(tree, name, sets[k][i].value);
            if (rc == SL_ENOMEM) {
                json_decref(tree);
                return rc;
            }
            if (rc) {
                json_decref(tree);
                return decode_fail(e, "MalformedQueryString",
                                   "The parameter %.200s is given twice or is malformed.",
                                   name);
            }
        }
    }
    *out = s ? from_tree(m, s, tree, false) : json_object();
    json_decref(tree);
    return *out ? 0 : SL_ENOMEM;
}

int sl_model_form_params(struct sl_arena *a, const char *body, size_t len,
                         struct sl_http_param **params, size_t *n)
{
    char *text = sl_arena_strndup(a, body ? body : "", len);
    if (!text)
        return SL_ENOMEM;
    if (strlen(text) != len)
        return SL_EINVAL; /* a NUL in a form body */
    return sl_http_parse_query(a, text, params, n);
}

/* ---- rest locations ---- */

/* Adds the URI labels, query and header members of s from r to in. */
static int rest_locations(const struct sl_service_model *m, const struct sl_operation *op,
                          const struct sl_shape *s, const struct sl_http_request *r, json_t *in)
{
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
                if (strlen(mem->wire) != labels[k].name_len ||
                    strncmp(mem->wire, labels[k].name, labels[k].name_len) != 0)
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
                    if (strcmp(r->params[k].name, mem->wire) != 0)
                        continue;
                    if (!val)
                        val = json_array();
                    json_array_append_new(val, json_string(r->params[k].value));
                }
            } else if (ms->type != SL_SHAPE_MAP) {
                const char *t = sl_http_param(r, mem->wire);
                if (t)
                    val = scalar_from_text(ms, t);
            }
        } else if (mem->location == SL_LOC_HEADER) {
            const char *t = sl_http_header(r, mem->wire);
            if (t)
                val = scalar_from_text(ms, t);
        } else if (mem->location == SL_LOC_HEADERS) {
            size_t plen = strlen(mem->wire);
            for (size_t k = 0; k < r->nheaders; k++) {
                if (strncasecmp(r->headers[k].name, mem->wire, plen) != 0)
                    continue;
                if (!val)
                    val = json_object();
                json_object_set_new(val, r->headers[k].name + plen,
                                    json_string(r->headers[k].value));
            }
        }
        if (val && json_object_set_new(in, mem->name, val))
            return SL_ENOMEM;
    }
    return 0;
}

int sl_model_decode(const struct sl_service_model *m, const struct sl_operation *op,
                    enum sl_aws_protocol protocol, const struct sl_http_request *r,
                    const char *body, size_t body_len, const struct sl_http_param *params,
                    size_t nparams, json_t **input, struct sl_model_error *e)
{
    *input = NULL;
    const struct sl_shape *s = op->input >= 0 ? &m->shapes[op->input] : NULL;
    json_t *in = NULL;
    int rc = 0;
    if (protocol == SL_PROTO_QUERY) {
        rc = query_input(m, s, r, params, nparams, &in, e);
    } else if (protocol == SL_PROTO_JSON) {
        rc = json_body(body, body_len, &in, e);
        if (!rc && m->protocol != SL_PROTO_QUERY) /* (a query model's are XML's) */
            json_wire_names(s, in);
    } else {
        const struct sl_member *payload =
            s && s->payload >= 0 ? &s->members[s->payload] : NULL;
        const struct sl_shape *ps = payload ? &m->shapes[payload->shape] : NULL;
        if (payload && ps->type == SL_SHAPE_STRUCTURE && protocol == SL_PROTO_REST_JSON) {
            json_t *doc = NULL;
            rc = json_body(body, body_len, &doc, e);
            in = rc ? NULL : json_object();
            if (in && body_len)
                json_object_set(in, payload->name, doc);
            json_decref(doc);
        } else if (payload) {
            /* A raw payload (a blob, or XML the service reads itself). */
            in = json_object();
            if (in && (body_len || ps->type != SL_SHAPE_STRUCTURE))
                json_object_set_new(in, payload->name, json_true());
        } else if (protocol == SL_PROTO_REST_JSON) {
            rc = json_body(body, body_len, &in, e);
            if (!rc)
                json_wire_names(s, in);
        } else {
            in = json_object(); /* rest-xml bodies are the service's */
        }
        if (!rc && !in)
            rc = SL_ENOMEM;
        if (!rc && s)
            rc = rest_locations(m, op, s, r, in);
    }
    if (!rc && !in)
        rc = SL_ENOMEM; /* (query's and json's) */
    if (!rc && s)
        rc = sl_model_validate(m, s, in, e);
    if (rc) {
        json_decref(in);
        return rc;
    }
    *input = in;
    return 0;
}
