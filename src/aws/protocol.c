/* Routing to the endpoints, request ids and the error shapes of the four
 * botocore protocols. */
#include "aws/aws.h"
#include "core/xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct sl_aws_endpoint *sl_aws_endpoint_by_name(const char *name)
{
    for (size_t i = 0; i < sl_aws_nendpoints; i++)
        if (strcmp(sl_aws_endpoints[i].name, name) == 0)
            return &sl_aws_endpoints[i];
    return NULL;
}

/* Whether target ("Prefix.Op") starts with prefix followed by '.'. */
static bool target_matches(const char *target, const char *prefix)
{
    size_t n = strlen(prefix);
    return target && strncmp(target, prefix, n) == 0 && target[n] == '.';
}

static bool path_matches(const char *path, const char *prefixes)
{
    const char *p = prefixes;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (strncmp(path, p, n) == 0 && (p[n - 1] == '/' || path[n] == '\0' ||
                                         path[n] == '/' || path[n] == '?'))
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

const struct sl_aws_endpoint *sl_aws_route(const struct sl_http_request *r,
                                           const char *scope_service,
                                           enum sl_aws_protocol *protocol)
{
    const struct sl_aws_endpoint *services = sl_aws_endpoints;
    const size_t n = sl_aws_nendpoints;
    const char *target = sl_http_header(r, "X-Amz-Target");
    const struct sl_aws_endpoint *found = NULL;
    bool by_target = false;
    if (scope_service) {
        /* Several services may share a signing name (DynamoDB and its
         * streams): the target, where one matches, decides. */
        for (size_t i = 0; i < n && !by_target; i++) {
            const struct sl_aws_endpoint *s = &services[i];
            if (strcmp(s->signing_name, scope_service) != 0)
                continue;
            if (s->target_prefix && target_matches(target, s->target_prefix)) {
                found = s;
                by_target = true;
            } else if (!found) {
                found = s;
            }
        }
    }
    if (!found && target) {
        for (size_t i = 0; i < n && !found; i++)
            if (services[i].target_prefix && target_matches(target, services[i].target_prefix)) {
                found = &services[i];
                by_target = true;
            }
    }
    if (!found) {
        for (size_t i = 0; i < n && !found; i++)
            if (services[i].path_prefixes && path_matches(r->path, services[i].path_prefixes))
                found = &services[i];
    }
    if (!found)
        found = &services[0];
    *protocol = found->protocol;
    /* Services that speak query and json (SQS, CloudWatch) answer in the
     * protocol the request came in. */
    if (found->protocol == SL_PROTO_QUERY && by_target && found->json_too)
        *protocol = SL_PROTO_JSON;
    return found;
}

const char *sl_aws_operation(const struct sl_http_request *r, enum sl_aws_protocol protocol,
                             const struct sl_http_param *params, size_t nparams)
{
    if (protocol == SL_PROTO_JSON) {
        const char *target = sl_http_header(r, "X-Amz-Target");
        const char *dot = target ? strrchr(target, '.') : NULL;
        return dot ? dot + 1 : NULL;
    }
    if (protocol == SL_PROTO_QUERY) {
        for (size_t i = 0; i < nparams; i++)
            if (strcmp(params[i].name, "Action") == 0)
                return params[i].value;
        return sl_http_param(r, "Action");
    }
    return NULL;
}

static const struct sl_aws_checksum checksums[] = {
    {"x-amz-checksum-crc32", "CRC32", SL_HASH_CRC32, 4},
    {"x-amz-checksum-crc32c", "CRC32C", SL_HASH_CRC32C, 4},
    {"x-amz-checksum-crc64nvme", "CRC64NVME", SL_HASH_CRC64NVME, 8},
    {"x-amz-checksum-sha1", "SHA1", SL_HASH_SHA1, 20},
    {"x-amz-checksum-sha256", "SHA256", SL_HASH_SHA256, 32},
};

const struct sl_aws_checksum *sl_aws_checksum_find(const char *name, size_t n)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(checksums); i++)
        if (strlen(checksums[i].header) == n && strncasecmp(checksums[i].header, name, n) == 0)
            return &checksums[i];
    return NULL;
}

void sl_aws_request_id(char *out)
{
    sl_uuid(out);
}

void sl_aws_host_id(char *out, size_t n)
{
    uint8_t raw[24];
    sl_random(raw, sizeof(raw));
    struct sl_buf b;
    sl_buf_init(&b, 0);
    sl_base64_encode(&b, raw, sizeof(raw));
    snprintf(out, n, "%s", b.data ? b.data : "");
    sl_buf_free(&b);
}

void sl_aws_set_request_id(struct sl_http_request *r, enum sl_aws_protocol protocol,
                           const char *request_id)
{
    if (protocol == SL_PROTO_REST_XML) {
        char host_id[64];
        sl_aws_host_id(host_id, sizeof(host_id));
        sl_http_set_header(r, "x-amz-request-id", request_id);
        sl_http_set_header(r, "x-amz-id-2", host_id);
    } else {
        sl_http_set_header(r, "x-amzn-RequestId", request_id);
    }
}

static void sl_aws_json_string(struct sl_buf *b, const char *s)
{
    sl_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            sl_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            sl_buf_printf(b, "\\u%04x", *p);
        else
            sl_buf_putc(b, (char)*p);
    }
    sl_buf_putc(b, '"');
}

void sl_aws_fault_send(struct sl_http_request *r, enum sl_aws_protocol protocol,
                       const struct sl_aws_fault *f, const char *request_id)
{
    struct sl_buf *b = &r->resp.body;
    sl_buf_reset(b);
    r->resp.nheaders = 0;
    sl_aws_set_request_id(r, protocol, request_id);
    switch (protocol) {
    case SL_PROTO_REST_XML:
        sl_http_set_header(r, "Content-Type", "application/xml");
        sl_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
        sl_xml_element(b, "Code", f->code);
        sl_xml_element(b, "Message", f->message);
        for (size_t i = 0; f->extra && f->extra[i] && f->extra[i + 1]; i += 2)
            sl_xml_element(b, f->extra[i], f->extra[i + 1]);
        sl_xml_element(b, "RequestId", request_id);
        sl_buf_puts(b, "</Error>");
        break;
    case SL_PROTO_QUERY:
        sl_http_set_header(r, "Content-Type", "text/xml");
        sl_buf_puts(b, "<?xml version=\"1.0\"?>\n<ErrorResponse");
        if (f->xmlns) {
            sl_buf_puts(b, " xmlns=\"");
            sl_xml_escape(b, f->xmlns);
            sl_buf_putc(b, '"');
        }
        sl_buf_puts(b, "><Error><Type>");
        sl_buf_puts(b, f->receiver ? "Receiver" : "Sender");
        sl_buf_puts(b, "</Type>");
        sl_xml_element(b, "Code", f->code);
        sl_xml_element(b, "Message", f->message);
        sl_buf_puts(b, "</Error>");
        sl_xml_element(b, "RequestId", request_id);
        sl_buf_puts(b, "</ErrorResponse>");
        break;
    case SL_PROTO_JSON:
    case SL_PROTO_REST_JSON: {
        sl_http_set_header(r, "x-amzn-ErrorType", f->code);
        if (f->query_error)
            sl_http_set_header(r, "x-amzn-query-error", f->query_error);
        sl_http_set_header(r, "Content-Type", sl_aws_json_content_type(protocol, f->json_version));
        sl_buf_puts(b, "{\"__type\":");
        sl_aws_json_string(b, f->code);
        sl_buf_puts(b, protocol == SL_PROTO_JSON ? ",\"message\":" : ",\"Message\":");
        sl_aws_json_string(b, f->message);
        const char *k;
        json_t *v;
        json_object_foreach(f->fields, k, v)
        {
            char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            if (!text)
                continue;
            sl_buf_putc(b, ',');
            sl_aws_json_string(b, k);
            sl_buf_putc(b, ':');
            sl_buf_puts(b, text);
            free(text);
        }
        sl_buf_puts(b, "}");
        break;
    }
    }
    sl_http_send(r, f->status);
}

const char *sl_aws_json_content_type(enum sl_aws_protocol protocol, const char *json_version)
{
    if (protocol != SL_PROTO_JSON)
        return "application/json";
    return json_version && strcmp(json_version, "1.0") == 0 ? "application/x-amz-json-1.0"
                                                            : "application/x-amz-json-1.1";
}

void sl_aws_error(struct sl_http_request *r, enum sl_aws_protocol protocol, int status,
                  const char *code, const char *request_id, const char *const *extra,
                  const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct sl_aws_fault f = {
        .code = code, .status = status, .receiver = status >= 500, .message = msg, .extra = extra};
    sl_aws_fault_send(r, protocol, &f, request_id);
}
