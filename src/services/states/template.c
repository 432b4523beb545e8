/*
 * Payload templates (template.h): compiled into a tree whose leaves are
 * literals (whole subtrees with nothing to compute), paths and calls.
 */
#include "services/states/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/states/intrinsic.h"
#include "services/states/jsonpath.h"

#define DEPTH_MAX 64

enum tkind { T_LIT, T_PATH, T_CALL, T_OBJECT, T_ARRAY };

struct tnode {
    enum tkind kind;
    char *key;   /* a member's key in the output ("" in arrays and at the top) */
    char *field; /* a ".$" member's key as written, for messages */
    json_t *lit;
    struct sl_jsonpath *path;
    struct sl_intrinsic *call;
    struct tnode *kids;
    size_t n;
};

struct sl_template {
    struct tnode root;
};

static void node_clear(struct tnode *t)
{
    free(t->key);
    free(t->field);
    json_decref(t->lit);
    sl_jsonpath_free(t->path);
    sl_intrinsic_free(t->call);
    for (size_t i = 0; i < t->n; i++)
        node_clear(&t->kids[i]);
    free(t->kids);
}

void sl_template_free(struct sl_template *t)
{
    if (!t)
        return;
    node_clear(&t->root);
    free(t);
}

/* Whether v has a ".$" member anywhere. */
static bool dynamic(const json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            size_t n = strlen(k);
            if ((n >= 2 && strcmp(k + n - 2, ".$") == 0) || dynamic(m))
                return true;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach((json_t *)v, i, m)
        {
            if (dynamic(m))
                return true;
        }
    }
    return false;
}

static int compile(const json_t *v, struct tnode *t, int depth, struct sl_err *err);

/* A ".$" member: key (as written) with value v into t. */
static int compile_dollar(const char *key, const json_t *v, struct tnode *t, struct sl_err *err)
{
    t->field = strdup(key);
    t->key = strndup(key, strlen(key) - 2);
    if (!t->field || !t->key)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    const char *text = json_string_value(v);
    if (!text || (text[0] != '$' && !sl_intrinsic_is_call(text)))
        return sl_errf(err, SL_EINVAL,
                       "The value for the field '%.200s' must be a valid JSONPath or a valid "
                       "intrinsic function call",
                       key);
    struct sl_err inner = {0};
    int rc;
    if (text[0] == '$') {
        t->kind = T_PATH;
        rc = sl_jsonpath_compile(text, 0, &t->path, &inner);
    } else {
        t->kind = T_CALL;
        rc = sl_intrinsic_compile(text, &t->call, &inner);
    }
    if (rc == SL_EINVAL)
        return sl_errf(err, SL_EINVAL, "The value for the field '%.200s' must be a valid "
                                       "JSONPath or a valid intrinsic function call: %s",
                       key, inner.msg);
    return rc ? sl_errf(err, rc, "out of memory") : 0;
}

static int compile(const json_t *v, struct tnode *t, int depth, struct sl_err *err)
{
    if (depth > DEPTH_MAX)
        return sl_errf(err, SL_EINVAL, "The template is nested too deeply");
    if (!dynamic(v)) {
        t->kind = T_LIT;
        t->lit = json_deep_copy(v);
        return t->lit ? 0 : sl_errf(err, SL_ENOMEM, "out of memory");
    }
    size_t n = json_is_object(v) ? json_object_size(v) : json_array_size(v);
    t->kind = json_is_object(v) ? T_OBJECT : T_ARRAY;
    t->kids = calloc(n ? n : 1, sizeof(*t->kids));
    if (!t->kids)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    int rc = 0;
    if (t->kind == T_ARRAY) {
        size_t i;
        json_t *m;
        json_array_foreach((json_t *)v, i, m)
        {
            if (rc)
                break;
            t->n++;
            rc = compile(m, &t->kids[i], depth + 1, err);
        }
        return rc;
    }
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m)
    {
        if (rc)
            break;
        struct tnode *kid = &t->kids[t->n++];
        size_t kl = strlen(k);
        if (kl >= 2 && strcmp(k + kl - 2, ".$") == 0) {
            rc = compile_dollar(k, m, kid, err);
        } else {
            kid->key = strdup(k);
            rc = kid->key ? compile(m, kid, depth + 1, err)
                          : sl_errf(err, SL_ENOMEM, "out of memory");
        }
    }
    /* Two members may not end with one key ("a" and "a.$"). */
    for (size_t i = 0; !rc && i < t->n; i++)
        for (size_t j = i + 1; !rc && j < t->n; j++)
            if (strcmp(t->kids[i].key, t->kids[j].key) == 0)
                rc = sl_errf(err, SL_EINVAL,
                             "The field '%.200s' is given twice (with and without .$)",
                             t->kids[i].key);
    return rc;
}

int sl_template_compile(const json_t *tpl, struct sl_template **out, struct sl_err *err)
{
    *out = NULL;
    struct sl_template *t = calloc(1, sizeof(*t));
    if (!t)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    int rc = compile(tpl, &t->root, 0, err);
    if (rc) {
        sl_template_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

static int eval(const struct tnode *t, json_t *input, json_t *context, json_t **out,
                struct sl_err *err)
{
    *out = NULL;
    switch (t->kind) {
    case T_LIT:
        *out = json_incref(t->lit);
        return 0;
    case T_PATH: {
        json_t *doc = sl_jsonpath_is_context(t->path) ? context : input;
        int rc = doc ? sl_jsonpath_get(t->path, doc, out) : SL_ENOTFOUND;
        if (rc == SL_ENOTFOUND) {
            char *shown = doc ? json_dumps(doc, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            rc = sl_errf(err, SL_EINVAL,
                         "The JSONPath '%.200s' specified for the field '%.200s' could not be "
                         "found in the input '%.1000s'",
                         sl_jsonpath_text(t->path), t->field, shown ? shown : "");
            free(shown);
        }
        return rc;
    }
    case T_CALL:
        return sl_intrinsic_eval(t->call, input, context, out, err);
    case T_OBJECT:
    case T_ARRAY: {
        json_t *o = t->kind == T_OBJECT ? json_object() : json_array();
        if (!o)
            return sl_errf(err, SL_ENOMEM, "out of memory");
        for (size_t i = 0; i < t->n; i++) {
            json_t *v = NULL;
            int rc = eval(&t->kids[i], input, context, &v, err);
            if (!rc && (t->kind == T_OBJECT ? json_object_set_new(o, t->kids[i].key, v)
                                            : json_array_append_new(o, v)))
                rc = sl_errf(err, SL_ENOMEM, "out of memory");
            if (rc) {
                json_decref(o);
                return rc;
            }
        }
        *out = o;
        return 0;
    }
    }
    return SL_EINVAL;
}

int sl_template_eval(const struct sl_template *t, json_t *input, json_t *context, json_t **out,
                     struct sl_err *err)
{
    return eval(&t->root, input, context, out, err);
}
