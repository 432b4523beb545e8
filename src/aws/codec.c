/*
 * The generic layer over the generated model tables, answer side: an
 * operation's output (a JSON object keyed by member names) written in its
 * protocol's shape. JSON bodies keep the output's values as they are (the
 * handler gives timestamps as epoch seconds and blobs as base64, which is
 * what the json protocols send); XML bodies (query, rest-xml) are written
 * by walking the output shape: lists with their member elements or
 * flattened, maps as entry/key/value, timestamps in ISO 8601.
 */
#include "aws/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xml.h"

/* ---- XML ------------------------------------------------------------- */

static void xml_value(struct sl_buf *b, const struct sl_service_model *m,
                      const struct sl_shape *s, const char *name, json_t *v, bool flattened);

/* The text of a scalar value as XML carries it. */
static void xml_scalar(struct sl_buf *b, const struct sl_shape *s, json_t *v)
{
    char num[64];
    if (json_is_string(v)) {
        sl_xml_escape(b, json_string_value(v));
    } else if (json_is_boolean(v)) {
        sl_buf_puts(b, json_is_true(v) ? "true" : "false");
    } else if (json_is_integer(v) && s->type == SL_SHAPE_TIMESTAMP) {
        sl_time_iso8601_ms((int64_t)json_integer_value(v) * 1000, num, sizeof(num));
        sl_buf_puts(b, num);
    } else if (json_is_real(v) && s->type == SL_SHAPE_TIMESTAMP) {
        sl_time_iso8601_ms((int64_t)llround(json_real_value(v) * 1000), num, sizeof(num));
        sl_buf_puts(b, num);
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        sl_buf_puts(b, num);
    } else if (json_is_real(v)) {
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        sl_buf_puts(b, num);
    }
}

static void open_tag(struct sl_buf *b, const char *name)
{
    sl_buf_putc(b, '<');
    sl_buf_puts(b, name);
    sl_buf_putc(b, '>');
}

static void close_tag(struct sl_buf *b, const char *name)
{
    sl_buf_puts(b, "</");
    sl_buf_puts(b, name);
    sl_buf_putc(b, '>');
}

/* The members of structure s present in v, as elements. */
static void xml_members(struct sl_buf *b, const struct sl_service_model *m,
                        const struct sl_shape *s, json_t *v)
{
    for (size_t i = 0; i < s->nmembers; i++) {
        const struct sl_member *mem = &s->members[i];
        if (mem->location != SL_LOC_BODY || (mem->flags & SL_MEMBER_XML_ATTRIBUTE))
            continue;
        json_t *child = json_object_get(v, mem->name);
        if (!child || json_is_null(child))
            continue;
        const struct sl_shape *ms = &m->shapes[mem->shape];
        bool flat = (mem->flags & SL_MEMBER_FLATTENED) || (ms->flags & SL_SHAPE_FLATTENED);
        xml_value(b, m, ms, mem->wire, child, flat);
    }
}

static void xml_value(struct sl_buf *b, const struct sl_service_model *m,
                      const struct sl_shape *s, const char *name, json_t *v, bool flattened)
{
    switch (s->type) {
    case SL_SHAPE_STRUCTURE:
        open_tag(b, name);
        xml_members(b, m, s, v);
        close_tag(b, name);
        break;
    case SL_SHAPE_LIST: {
        const struct sl_shape *es = &m->shapes[s->element];
        /* Flattened: the elements stand in the parent under the list's
         * name (or its members' name, when the model gives one). */
        const char *el = flattened && strcmp(s->element_name, "member") != 0 ? s->element_name
                         : flattened                                        ? name
                                                                            : s->element_name;
        if (!flattened)
            open_tag(b, name);
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
            xml_value(b, m, es, el, item, false);
        if (!flattened)
            close_tag(b, name);
        break;
    }
    case SL_SHAPE_MAP: {
        const struct sl_shape *ks = &m->shapes[s->key], *vs = &m->shapes[s->element];
        if (!flattened)
            open_tag(b, name);
        const char *k;
        json_t *item;
        json_object_foreach(v, k, item)
        {
            open_tag(b, flattened ? name : "entry");
            json_t *key = json_string(k);
            xml_value(b, m, ks, s->key_name, key, false);
            json_decref(key);
            xml_value(b, m, vs, s->element_name, item, false);
            close_tag(b, flattened ? name : "entry");
        }
        if (!flattened)
            close_tag(b, name);
        break;
    }
    default:
        open_tag(b, name);
        xml_scalar(b, s, v);
        close_tag(b, name);
        break;
    }
}

static void xml_prolog(struct sl_buf *b, const char *root, const char *xmlns)
{
    sl_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    sl_buf_puts(b, root);
    if (xmlns) {
        sl_buf_puts(b, " xmlns=\"");
        sl_xml_escape(b, xmlns);
        sl_buf_putc(b, '"');
    }
    sl_buf_putc(b, '>');
}

/* The query protocol's answer: <OpResponse><OpResult>...</OpResult>
 * <ResponseMetadata><RequestId/></ResponseMetadata></OpResponse>. */
static void query_body(struct sl_buf *b, const struct sl_service_model *m,
                       const struct sl_operation *op, json_t *out, const char *request_id)
{
    char root[160];
    snprintf(root, sizeof(root), "%sResponse", op->name);
    xml_prolog(b, root, m->xml_namespace);
    if (op->result_wrapper) {
        open_tag(b, op->result_wrapper);
        if (op->output >= 0 && out)
            xml_members(b, m, &m->shapes[op->output], out);
        close_tag(b, op->result_wrapper);
    }
    sl_buf_puts(b, "<ResponseMetadata>");
    sl_xml_element(b, "RequestId", request_id);
    sl_buf_puts(b, "</ResponseMetadata>");
    close_tag(b, root);
}

/* ---- answers --------------------------------------------------------- */

/* A header's text for a scalar member. */
static const char *header_text(const struct sl_shape *s, json_t *val, char *buf, size_t n)
{
    if (json_is_string(val))
        return json_string_value(val);
    if (json_is_boolean(val))
        return json_is_true(val) ? "true" : "false";
    if (json_is_number(val) && s->type == SL_SHAPE_TIMESTAMP) {
        sl_time_http((time_t)json_number_value(val), buf, n);
        return buf;
    }
    if (json_is_integer(val)) {
        snprintf(buf, n, "%lld", (long long)json_integer_value(val));
        return buf;
    }
    if (json_is_real(val)) {
        snprintf(buf, n, "%.17g", json_real_value(val));
        return buf;
    }
    return NULL;
}

void sl_model_respond(const struct sl_service_model *m, const struct sl_operation *op,
                      struct sl_http_request *r, json_t *output,
                      const struct sl_model_answer *a)
{
    int status = op->success_status ? op->success_status : 200;
    const struct sl_shape *s = op->output >= 0 ? &m->shapes[op->output] : NULL;
    struct sl_buf *b = &r->resp.body;
    sl_aws_set_request_id(r, a->protocol, a->request_id);
    if (a->protocol == SL_PROTO_QUERY) {
        query_body(b, m, op, output, a->request_id);
        sl_http_set_header(r, "Content-Type", "text/xml");
        sl_http_send(r, status);
        return;
    }
    /* The rest protocols' locations; what stays goes in the body. */
    json_t *body = json_object();
    const struct sl_member *payload = NULL;
    for (size_t i = 0; s && output && body && i < s->nmembers; i++) {
        const struct sl_member *mem = &s->members[i];
        json_t *val = json_object_get(output, mem->name);
        if (!val)
            continue;
        const struct sl_shape *ms = &m->shapes[mem->shape];
        char text[64];
        switch (mem->location) {
        case SL_LOC_HEADER: {
            const char *t = header_text(ms, val, text, sizeof(text));
            if (t)
                sl_http_set_header(r, mem->wire, t);
            break;
        }
        case SL_LOC_HEADERS: {
            const char *k;
            json_t *hv;
            json_object_foreach(val, k, hv)
            {
                char h[300];
                snprintf(h, sizeof(h), "%s%s", mem->wire, k);
                if (json_is_string(hv))
                    sl_http_set_header(r, h, json_string_value(hv));
            }
            break;
        }
        case SL_LOC_STATUS:
            if (json_is_integer(val))
                status = (int)json_integer_value(val);
            break;
        default:
            if ((int)i == s->payload)
                payload = mem;
            else if (a->protocol == SL_PROTO_JSON || a->protocol == SL_PROTO_REST_JSON)
                /* (A query model's wire names are its XML's: a JSON
                 * answer of it names members as they are.) */
                json_object_set(body, m->protocol == SL_PROTO_QUERY ? mem->name : mem->wire,
                                val);
            break;
        }
    }
    if (s && s->payload >= 0 && !payload)
        payload = &s->members[s->payload];
    if (payload && m->shapes[payload->shape].type != SL_SHAPE_STRUCTURE) {
        /* A raw payload: the handler's bytes. */
        if (a->payload_len)
            sl_buf_append(b, a->payload, a->payload_len);
    } else if (a->protocol == SL_PROTO_REST_XML) {
        const struct sl_shape *root = s;
        json_t *v = output;
        const char *name = s ? s->name : NULL;
        if (payload) {
            root = &m->shapes[payload->shape];
            v = json_object_get(output, payload->name);
            name = payload->wire;
        }
        if (root && v && status != 204) {
            xml_prolog(b, name, "http://s3.amazonaws.com/doc/2006-03-01/");
            xml_members(b, m, root, v);
            close_tag(b, name);
            sl_http_set_header(r, "Content-Type", "application/xml");
        }
    } else if (status != 204 && (output || a->protocol == SL_PROTO_JSON)) {
        /* (No output, no body: as AWS's rest-json services answer.) */
        json_t *doc = output ? body : NULL;
        if (payload)
            doc = json_object_get(output, payload->name);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (text) {
            sl_buf_puts(b, text);
            free(text);
        }
        sl_http_set_header(r, "Content-Type",
                           sl_aws_json_content_type(a->protocol, a->json_version));
    }
    json_decref(body);
    sl_http_send(r, status);
}
