/*
 * Unit tests of the protocol layer (src/aws/codec.c, model.c, protocol.c)
 * for every protocol: an answer and an error of a sample operation each,
 * written from the generated model tables, and the query protocol's
 * decoding. Run with --emit, it prints those answers as JSON lines;
 * tests/unit/check_protocols.py (ctest protocols_parsed_by_botocore) has
 * Debian's botocore parse each one, and serializes requests for --decode
 * to decode, so that the real client's parsers and serializers judge the
 * layer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws/model.h"
#include "core/xml.h"
#include "services/service.h"

SL_SERVICE_TABLES(lambda);
SL_SERVICE_TABLES(logs);
SL_SERVICE_TABLES(sts);
SL_SERVICE_TABLES(s3);
extern const struct sl_service_model sl_model_dynamodbstreams;
extern const struct sl_service_model sl_model_sqs;

#define RID "11111111-2222-3333-4444-555555555555"

static void request_init(struct sl_http_request *r)
{
    memset(r, 0, sizeof(*r));
    sl_arena_init(&r->arena, 0);
    r->method = "POST";
    r->path_raw = r->path = r->raw_uri = "/";
    r->query_raw = "";
    r->resp.fd = -1;
    sl_buf_init(&r->resp.body, 0);
}

static void request_free(struct sl_http_request *r)
{
    sl_buf_free(&r->resp.body);
    sl_arena_free(&r->arena);
}

/* One sample answer. */
struct sample {
    const char *name;
    const char *service; /* botocore's name */
    const char *op;
    enum sl_aws_protocol protocol;
    const char *json_version;
    const struct sl_service_model *m;
    const char *output; /* JSON of the output, or NULL for an error */
    const char *payload;
    /* an error */
    const char *code;
    int status;
    const char *fields; /* JSON of more members, or NULL */
};

static const struct sample samples[] = {
    {"rest-json success", "lambda", "Invoke", SL_PROTO_REST_JSON, NULL, &sl_model_lambda,
     "{\"StatusCode\":200,\"FunctionError\":\"Unhandled\",\"LogResult\":\"bG9n\","
     "\"ExecutedVersion\":\"$LATEST\"}",
     "{\"errorMessage\":\"boom\"}", NULL, 0, NULL},
    {"rest-json success, JSON body", "lambda", "GetFunctionConcurrency", SL_PROTO_REST_JSON,
     NULL, &sl_model_lambda, "{\"ReservedConcurrentExecutions\":7}", NULL, NULL, 0, NULL},
    {"rest-json error", "lambda", "Invoke", SL_PROTO_REST_JSON, NULL, &sl_model_lambda, NULL,
     NULL, "TooManyRequestsException", 429,
     "{\"Reason\":\"ReservedFunctionConcurrentInvocationLimitExceeded\",\"Type\":\"User\"}"},
    {"json 1.1 success", "logs", "DescribeLogGroups", SL_PROTO_JSON, "1.1", &sl_model_logs,
     "{\"logGroups\":[{\"logGroupName\":\"/aws/lambda/f\",\"creationTime\":1700000000000,"
     "\"storedBytes\":42}],\"nextToken\":\"t\"}",
     NULL, NULL, 0, NULL},
    {"json 1.1 error", "logs", "DescribeLogGroups", SL_PROTO_JSON, "1.1", &sl_model_logs, NULL,
     NULL, "ResourceNotFoundException", 400, NULL},
    {"json 1.0 success", "dynamodbstreams", "ListStreams", SL_PROTO_JSON, "1.0",
     &sl_model_dynamodbstreams,
     "{\"Streams\":[{\"StreamArn\":\"arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/"
     "2024-01-01T00:00:00.000\",\"TableName\":\"t\",\"StreamLabel\":\"2024-01-01T00:00:00.000\"}"
     "],\"LastEvaluatedStreamArn\":\"x\"}",
     NULL, NULL, 0, NULL},
    {"json 1.0 error", "dynamodbstreams", "ListStreams", SL_PROTO_JSON, "1.0",
     &sl_model_dynamodbstreams, NULL, NULL, "ResourceNotFoundException", 400, NULL},
    {"query success", "sts", "GetCallerIdentity", SL_PROTO_QUERY, NULL, &sl_model_sts,
     "{\"UserId\":\"000000000000\",\"Account\":\"000000000000\","
     "\"Arn\":\"arn:aws:iam::000000000000:root\"}",
     NULL, NULL, 0, NULL},
    {"query success, nested and timestamps", "sts", "AssumeRole", SL_PROTO_QUERY, NULL,
     &sl_model_sts,
     "{\"Credentials\":{\"AccessKeyId\":\"AKID\",\"SecretAccessKey\":\"s<&>\","
     "\"SessionToken\":\"t\",\"Expiration\":1700000000},\"AssumedRoleUser\":"
     "{\"AssumedRoleId\":\"AROA:s\",\"Arn\":\"arn:aws:sts::000000000000:assumed-role/r/s\"},"
     "\"PackedPolicySize\":6}",
     NULL, NULL, 0, NULL},
    {"query success, flattened lists and maps", "sqs", "ReceiveMessage", SL_PROTO_QUERY, NULL,
     &sl_model_sqs,
     "{\"Messages\":[{\"MessageId\":\"m1\",\"ReceiptHandle\":\"r1\",\"MD5OfBody\":\"x\","
     "\"Body\":\"hello\",\"Attributes\":{\"SenderId\":\"AIDA\",\"SentTimestamp\":\"1\"},"
     "\"MessageAttributes\":{\"color\":{\"StringValue\":\"red\",\"DataType\":\"String\"}}},"
     "{\"MessageId\":\"m2\",\"ReceiptHandle\":\"r2\",\"Body\":\"world\"}]}",
     NULL, NULL, 0, NULL},
    {"query success, wrapped list", "sqs", "ListQueues", SL_PROTO_QUERY, NULL, &sl_model_sqs,
     "{\"QueueUrls\":[\"http://q/1\",\"http://q/2\"]}", NULL, NULL, 0, NULL},
    {"query error", "sts", "GetCallerIdentity", SL_PROTO_QUERY, NULL, &sl_model_sts, NULL, NULL,
     "InvalidClientTokenId", 403, NULL},
    {"rest-xml success", "s3", "ListBuckets", SL_PROTO_REST_XML, NULL, &sl_model_s3,
     "{\"Buckets\":[{\"Name\":\"a\",\"CreationDate\":1700000000},{\"Name\":\"b\","
     "\"CreationDate\":\"2024-01-02T03:04:05.000Z\"}],\"Owner\":{\"ID\":\"o\","
     "\"DisplayName\":\"d\"}}",
     NULL, NULL, 0, NULL},
    {"rest-xml success, payload", "s3", "CopyObject", SL_PROTO_REST_XML, NULL, &sl_model_s3,
     "{\"CopyObjectResult\":{\"ETag\":\"\\\"e\\\"\",\"LastModified\":1700000000},"
     "\"VersionId\":\"v\"}",
     NULL, NULL, 0, NULL},
    {"rest-xml error", "s3", "GetObject", SL_PROTO_REST_XML, NULL, &sl_model_s3, NULL, NULL,
     "NoSuchKey", 404, NULL},
};

/* Writes sample s's answer into r. */
static void answer(const struct sample *s, struct sl_http_request *r)
{
    const struct sl_operation *op = sl_model_op_by_name(s->m, s->op);
    assert_non_null(op);
    if (s->output) {
        json_t *out = json_loads(s->output, 0, NULL);
        assert_non_null(out);
        struct sl_model_answer a = {
            .protocol = s->protocol,
            .json_version = s->json_version,
            .request_id = RID,
            .payload = s->payload,
            .payload_len = s->payload ? strlen(s->payload) : 0,
        };
        sl_model_respond(s->m, op, r, out, &a);
        json_decref(out);
    } else {
        json_t *fields = s->fields ? json_loads(s->fields, 0, NULL) : NULL;
        const char *extra[] = {"Key", "missing/key", NULL};
        struct sl_aws_fault f = {
            .code = s->code,
            .status = s->status,
            .message = "what went wrong",
            .extra = s->protocol == SL_PROTO_REST_XML ? extra : NULL,
            .fields = fields,
            .json_version = s->json_version,
            .xmlns = s->m->xml_namespace,
        };
        sl_aws_fault_send(r, s->protocol, &f, RID);
        json_decref(fields);
    }
    assert_true(r->resp.ready);
}

static const char *header(const struct sl_http_request *r, const char *name)
{
    for (size_t i = 0; i < r->resp.nheaders; i++)
        if (strcasecmp(r->resp.headers[i].name, name) == 0)
            return r->resp.headers[i].value;
    return NULL;
}

/* ---- the tests ---------------------------------------------------------- */

/* Every sample answers with a body in its protocol's content type and the
 * request id where its clients read it. */
static void test_samples(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(samples); i++) {
        const struct sample *s = &samples[i];
        struct sl_http_request r;
        request_init(&r);
        answer(s, &r);
        const char *ctype = header(&r, "Content-Type");
        assert_true(ctype || s->payload); /* a raw payload's type is the handler's */
        if (s->protocol == SL_PROTO_JSON && ctype)
            assert_string_equal(ctype, strcmp(s->json_version, "1.0") == 0
                                           ? "application/x-amz-json-1.0"
                                           : "application/x-amz-json-1.1");
        if (s->protocol == SL_PROTO_QUERY) {
            assert_string_equal(ctype, "text/xml");
            assert_non_null(strstr(r.resp.body.data, "<RequestId>" RID "</RequestId>"));
            struct sl_xml_node *root;
            struct sl_err err;
            assert_int_equal(
                sl_xml_parse(&r.arena, r.resp.body.data, r.resp.body.len, &root, &err), 0);
        }
        assert_string_equal(header(&r, s->protocol == SL_PROTO_REST_XML ? "x-amz-request-id"
                                                                         : "x-amzn-RequestId"),
                            RID);
        if (s->code)
            assert_int_equal(r.resp.status, s->status);
        request_free(&r);
    }
}

/* The query protocol's keys become the input by its shape: nested
 * structures, wrapped lists, flattened lists and maps; scalars get their
 * types; Action and Version are not members. */
static void test_query_decode(void **state)
{
    (void)state;
    struct sl_http_request r;
    request_init(&r);
    const char *body = "Action=SendMessage&Version=2012-11-05&QueueUrl=http%3A%2F%2Fq&"
                       "MessageBody=hi&DelaySeconds=5&"
                       "MessageAttribute.1.Name=color&MessageAttribute.1.Value.DataType=String&"
                       "MessageAttribute.1.Value.StringValue=red&"
                       "MessageAttribute.2.Name=n&MessageAttribute.2.Value.DataType=Number&"
                       "MessageAttribute.2.Value.StringValue=7";
    struct sl_http_param *params;
    size_t n;
    assert_int_equal(sl_model_form_params(&r.arena, body, strlen(body), &params, &n), 0);
    const struct sl_operation *op =
        sl_model_operation(&sl_model_sqs, SL_PROTO_QUERY, &r, params, n);
    assert_non_null(op);
    assert_string_equal(op->name, "SendMessage");
    json_t *in = NULL;
    struct sl_model_error e = {0};
    assert_int_equal(sl_model_decode(&sl_model_sqs, op, SL_PROTO_QUERY, &r, body, strlen(body),
                                     params, n, &in, &e),
                     0);
    assert_string_equal(json_string_value(json_object_get(in, "QueueUrl")), "http://q");
    assert_int_equal(json_integer_value(json_object_get(in, "DelaySeconds")), 5);
    json_t *attrs = json_object_get(in, "MessageAttributes");
    assert_int_equal(json_object_size(attrs), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(attrs, "color"), "StringValue")),
        "red");
    assert_null(json_object_get(in, "Action"));
    json_decref(in);
    /* A required member missing: AWS's validation wording. */
    const char *bad = "Action=SendMessage&QueueUrl=q";
    assert_int_equal(sl_model_form_params(&r.arena, bad, strlen(bad), &params, &n), 0);
    assert_int_equal(sl_model_decode(&sl_model_sqs, op, SL_PROTO_QUERY, &r, bad, strlen(bad),
                                     params, n, &in, &e),
                     SL_EINVAL);
    assert_non_null(strstr(e.message, "Value null at 'messageBody'"));
    /* A key given twice is malformed, not a crash. */
    const char *twice = "Action=SendMessage&QueueUrl=q&QueueUrl=r&MessageBody=b";
    assert_int_equal(sl_model_form_params(&r.arena, twice, strlen(twice), &params, &n), 0);
    assert_int_equal(sl_model_decode(&sl_model_sqs, op, SL_PROTO_QUERY, &r, twice,
                                     strlen(twice), params, n, &in, &e),
                     SL_EINVAL);
    assert_string_equal(e.code, "MalformedQueryString");
    request_free(&r);
}

/* ---- for check_protocols.py ------------------------------------------------ */

static void print_json_string(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    char *text = json_dumps(v, JSON_ENCODE_ANY);
    fputs(text ? text : "\"\"", stdout);
    free(text);
    json_decref(v);
}

/* Prints every sample's answer: one JSON object a line. */
static int emit(void)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(samples); i++) {
        const struct sample *s = &samples[i];
        struct sl_http_request r;
        request_init(&r);
        answer(s, &r);
        json_t *headers = json_object();
        for (size_t k = 0; k < r.resp.nheaders; k++)
            json_object_set_new(headers, r.resp.headers[k].name,
                                json_string(r.resp.headers[k].value));
        char *h = json_dumps(headers, JSON_COMPACT);
        printf("{\"name\":\"%s\",\"service\":\"%s\",\"op\":\"%s\",\"status\":%d,"
               "\"headers\":%s,\"body\":",
               s->name, s->service, s->op, r.resp.status, h);
        print_json_string(r.resp.body.data ? r.resp.body.data : "", r.resp.body.len);
        printf("}\n");
        free(h);
        json_decref(headers);
        request_free(&r);
    }
    return 0;
}

/* Decodes a query-protocol body (stdin) as operation op of service svc
 * (sqs, sts) and prints the input, or {"error": code}. */
static int decode(const char *svc, const char *op_name)
{
    const struct sl_service_model *m = strcmp(svc, "sqs") == 0 ? &sl_model_sqs : &sl_model_sts;
    static char body[1 << 16];
    size_t len = fread(body, 1, sizeof(body) - 1, stdin);
    struct sl_http_request r;
    request_init(&r);
    struct sl_http_param *params;
    size_t n;
    const struct sl_operation *op = sl_model_op_by_name(m, op_name);
    json_t *in = NULL;
    struct sl_model_error e = {0};
    if (!op || sl_model_form_params(&r.arena, body, len, &params, &n) ||
        sl_model_decode(m, op, SL_PROTO_QUERY, &r, body, len, params, n, &in, &e)) {
        printf("{\"error\":\"%s\",\"message\":", e.code ? e.code : "?");
        print_json_string(e.message, strlen(e.message));
        printf("}\n");
    } else {
        char *text = json_dumps(in, JSON_COMPACT | JSON_SORT_KEYS);
        printf("%s\n", text);
        free(text);
    }
    json_decref(in);
    request_free(&r);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--emit") == 0)
        return emit();
    if (argc == 4 && strcmp(argv[1], "--decode") == 0)
        return decode(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_query_decode),
    };
    return cmocka_run_group_tests_name("protocol", tests, NULL, NULL);
}
