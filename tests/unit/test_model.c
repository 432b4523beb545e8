/* Unit tests of the model layer on the generated Lambda and Logs tables:
 * routing by URI template, decoding URI labels, query strings, headers
 * and bodies, and AWS's validation messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws/model.h"
#include "services/service.h"

SL_SERVICE_TABLES(lambda);
SL_SERVICE_TABLES(logs);
SL_SERVICE_TABLES(s3);

/* A request with method, raw URI and headers, built in its arena. */
static void make_request(struct sl_http_request *r, const char *method, const char *uri,
                         const char *const *headers)
{
    memset(r, 0, sizeof(*r));
    sl_arena_init(&r->arena, 0);
    r->method = method;
    const char *q = strchr(uri, '?');
    r->path_raw = q ? sl_arena_strndup(&r->arena, uri, (size_t)(q - uri)) : uri;
    r->query_raw = q ? q + 1 : "";
    assert_int_equal(sl_http_parse_query(&r->arena, r->query_raw, &r->params, &r->nparams), 0);
    r->headers = sl_arena_alloc(&r->arena, 8 * sizeof(*r->headers));
    for (size_t i = 0; headers && headers[i]; i += 2)
        r->headers[r->nheaders++] = (struct sl_http_header){headers[i], headers[i + 1]};
    r->resp.fd = -1;
    sl_buf_init(&r->resp.body, 0);
}

static void free_request(struct sl_http_request *r)
{
    sl_buf_free(&r->resp.body);
    sl_arena_free(&r->arena);
}

static const char *route(const char *method, const char *uri)
{
    struct sl_http_request r;
    make_request(&r, method, uri, NULL);
    const struct sl_operation *op = sl_model_route(&sl_model_lambda, &r);
    free_request(&r);
    return op ? op->name : NULL;
}

static void test_route_lambda(void **state)
{
    (void)state;
    assert_string_equal(route("POST", "/2015-03-31/functions"), "CreateFunction");
    assert_string_equal(route("POST", "/2015-03-31/functions/"), "CreateFunction");
    assert_string_equal(route("GET", "/2015-03-31/functions/"), "ListFunctions");
    assert_string_equal(route("GET", "/2015-03-31/functions/f"), "GetFunction");
    assert_string_equal(route("GET", "/2015-03-31/functions/f/configuration"),
                        "GetFunctionConfiguration");
    assert_string_equal(route("PUT", "/2015-03-31/functions/f/code"), "UpdateFunctionCode");
    assert_string_equal(route("POST",
                              "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A0%3Afunction"
                              "%3Af/invocations"),
                        "Invoke");
    assert_string_equal(route("GET", "/2019-09-30/functions/f/concurrency"),
                        "GetFunctionConcurrency");
    assert_string_equal(route("PUT", "/2017-10-31/functions/f/concurrency"),
                        "PutFunctionConcurrency");
    assert_string_equal(route("GET", "/2019-09-30/functions/f/provisioned-concurrency?List=ALL"),
                        "ListProvisionedConcurrencyConfigs");
    assert_string_equal(route("GET", "/2019-09-30/functions/f/provisioned-concurrency?Qualifier=1"),
                        "GetProvisionedConcurrencyConfig");
    assert_string_equal(route("GET", "/2016-08-19/account-settings/"), "GetAccountSettings");
    assert_null(route("PATCH", "/2015-03-31/functions/f"));
    assert_null(route("GET", "/2015-03-31/nothing"));
}

static void test_decode_invoke(void **state)
{
    (void)state;
    const char *h[] = {"X-Amz-Invocation-Type", "Event", "X-Amz-Log-Type", "Tail", NULL};
    struct sl_http_request r;
    make_request(&r, "POST", "/2015-03-31/functions/my%3Afn/invocations?Qualifier=7", h);
    const struct sl_operation *op = sl_model_route(&sl_model_lambda, &r);
    assert_non_null(op);
    json_t *in = NULL;
    struct sl_model_error e = {0};
    assert_int_equal(sl_model_decode(&sl_model_lambda, op, SL_PROTO_REST_JSON, &r, "{\"a\":1}", 7, NULL, 0, &in, &e), 0);
    assert_string_equal(json_string_value(json_object_get(in, "FunctionName")), "my:fn");
    assert_string_equal(json_string_value(json_object_get(in, "InvocationType")), "Event");
    assert_string_equal(json_string_value(json_object_get(in, "LogType")), "Tail");
    assert_string_equal(json_string_value(json_object_get(in, "Qualifier")), "7");
    /* The blob payload is not parsed into the input: it is marked present,
     * and the body is the bytes. */
    assert_true(json_is_true(json_object_get(in, "Payload")));
    json_decref(in);
    free_request(&r);
}

static void test_validation_messages(void **state)
{
    (void)state;
    struct sl_http_request r;
    make_request(&r, "POST", "/2015-03-31/functions", NULL);
    const struct sl_operation *op = sl_model_route(&sl_model_lambda, &r);
    json_t *in = NULL;
    struct sl_model_error e = {0};
    const char *body = "{\"FunctionName\":\"f\",\"Role\":\"arn:aws:iam::000000000000:role/r\","
                       "\"Code\":{},\"MemorySize\":20000,\"Timeout\":0,\"Runtime\":\"cobol\"}";
    assert_int_equal(sl_model_decode(&sl_model_lambda, op, SL_PROTO_REST_JSON, &r, body, strlen(body), NULL, 0, &in, &e),
                     SL_EINVAL);
    assert_null(in);
    assert_string_equal(e.code, "ValidationException");
    assert_non_null(strstr(e.message, "3 validation errors detected: "));
    assert_non_null(strstr(e.message, "Value '20000' at 'memorySize' failed to satisfy "
                                      "constraint: Member must have value less than or equal "
                                      "to 10240"));
    assert_non_null(strstr(e.message, "Value '0' at 'timeout' failed to satisfy constraint: "
                                      "Member must have value greater than or equal to 1"));
    assert_non_null(strstr(e.message, "Value 'cobol' at 'runtime' failed to satisfy constraint: "
                                      "Member must satisfy enum value set: ["));
    /* Newer runtimes come from the overrides. */
    assert_non_null(strstr(e.message, "python3.12"));
    free_request(&r);
}

static void test_required_and_types(void **state)
{
    (void)state;
    struct sl_http_request r;
    make_request(&r, "POST", "/2015-03-31/functions", NULL);
    const struct sl_operation *op = sl_model_route(&sl_model_lambda, &r);
    json_t *in = NULL;
    struct sl_model_error e = {0};
    const char *body = "{\"FunctionName\":\"f\",\"Code\":{}}";
    assert_int_equal(sl_model_decode(&sl_model_lambda, op, SL_PROTO_REST_JSON, &r, body, strlen(body), NULL, 0, &in, &e),
                     SL_EINVAL);
    assert_string_equal(e.message, "1 validation error detected: Value null at 'role' failed to "
                                   "satisfy constraint: Member must not be null");
    body = "{\"FunctionName\":\"f\",\"Role\":\"r\",\"Code\":{},\"MemorySize\":\"big\"}";
    assert_int_equal(sl_model_decode(&sl_model_lambda, op, SL_PROTO_REST_JSON, &r, body, strlen(body), NULL, 0, &in, &e),
                     SL_EINVAL);
    assert_string_equal(e.code, "SerializationException");
    assert_int_equal(sl_model_decode(&sl_model_lambda, op, SL_PROTO_REST_JSON, &r, "{nope", 5, NULL, 0, &in, &e), SL_EINVAL);
    assert_string_equal(e.code, "SerializationException");
    free_request(&r);
}

static void test_json_protocol_ops(void **state)
{
    (void)state;
    const struct sl_operation *op = sl_model_op_by_name(&sl_model_logs, "GetLogEvents");
    assert_non_null(op);
    assert_null(sl_model_op_by_name(&sl_model_logs, "NoSuchOperation"));
    struct sl_http_request r;
    make_request(&r, "POST", "/", NULL);
    json_t *in = NULL;
    struct sl_model_error e = {0};
    const char *body = "{\"logGroupName\":\"/aws/lambda/f\",\"logStreamName\":\"s\",\"limit\":0}";
    assert_int_equal(sl_model_decode(&sl_model_logs, op, SL_PROTO_JSON, &r, body, strlen(body), NULL, 0, &in, &e),
                     SL_EINVAL);
    assert_non_null(strstr(e.message, "at 'limit'"));
    free_request(&r);
}

/* An enum on an integer shape (CloudWatch Logs' retention days, from the
 * overrides) is checked against the value's decimal text. */
static void test_integer_enum(void **state)
{
    (void)state;
    const struct sl_operation *op = sl_model_op_by_name(&sl_model_logs, "PutRetentionPolicy");
    assert_non_null(op);
    struct sl_http_request r;
    make_request(&r, "POST", "/", NULL);
    json_t *in = NULL;
    struct sl_model_error e = {0};
    const char *ok = "{\"logGroupName\":\"g\",\"retentionInDays\":731}";
    assert_int_equal(sl_model_decode(&sl_model_logs, op, SL_PROTO_JSON, &r, ok, strlen(ok), NULL, 0, &in, &e), 0);
    json_decref(in);
    const char *bad = "{\"logGroupName\":\"g\",\"retentionInDays\":2}";
    assert_int_equal(sl_model_decode(&sl_model_logs, op, SL_PROTO_JSON, &r, bad, strlen(bad), NULL, 0, &in, &e),
                     SL_EINVAL);
    assert_string_equal(e.code, "ValidationException");
    assert_non_null(strstr(e.message, "Value '2' at 'retentionInDays' failed to satisfy "
                                      "constraint: Member must satisfy enum value set: [1, 3, 5, "
                                      "7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, "
                                      "1096, 1827, 2192, 2557, 2922, 3288, 3653]"));
    free_request(&r);
}

static const char *route_s3(const char *method, const char *uri, const char *const *headers)
{
    struct sl_http_request r;
    make_request(&r, method, uri, headers);
    const struct sl_operation *op = sl_model_route(&sl_model_s3, &r);
    free_request(&r);
    return op ? op->name : NULL;
}

/* S3's operations share URIs: the literal query and the query and header
 * members an operation requires tell them apart. */
static void test_route_s3(void **state)
{
    (void)state;
    const char *copy[] = {"x-amz-copy-source", "/b/src", NULL};
    assert_string_equal(route_s3("GET", "/", NULL), "ListBuckets");
    assert_string_equal(route_s3("PUT", "/b", NULL), "CreateBucket");
    assert_string_equal(route_s3("GET", "/b", NULL), "ListObjects");
    assert_string_equal(route_s3("GET", "/b?list-type=2&prefix=a", NULL), "ListObjectsV2");
    assert_string_equal(route_s3("GET", "/b?location", NULL), "GetBucketLocation");
    assert_string_equal(route_s3("PUT", "/b?notification", NULL),
                        "PutBucketNotificationConfiguration");
    assert_string_equal(route_s3("GET", "/b?tagging", NULL), "GetBucketTagging");
    assert_string_equal(route_s3("POST", "/b?delete", NULL), "DeleteObjects");
    assert_string_equal(route_s3("PUT", "/b/k/e/y", NULL), "PutObject");
    assert_string_equal(route_s3("PUT", "/b/k", copy), "CopyObject");
    assert_string_equal(route_s3("PUT", "/b/k?partNumber=1&uploadId=u", NULL), "UploadPart");
    assert_string_equal(route_s3("PUT", "/b/k?partNumber=1&uploadId=u", copy), "UploadPartCopy");
    assert_string_equal(route_s3("GET", "/b/k", NULL), "GetObject");
    assert_string_equal(route_s3("GET", "/b/k?uploadId=u", NULL), "ListParts");
    assert_string_equal(route_s3("POST", "/b/k?uploads", NULL), "CreateMultipartUpload");
    assert_string_equal(route_s3("POST", "/b/k?uploadId=u", NULL), "CompleteMultipartUpload");
    assert_string_equal(route_s3("DELETE", "/b/k?uploadId=u", NULL), "AbortMultipartUpload");
    assert_string_equal(route_s3("DELETE", "/b/k", NULL), "DeleteObject");
    assert_null(route_s3("PATCH", "/b/k", NULL));
    assert_null(route_s3("POST", "/b/k", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_lambda),
        cmocka_unit_test(test_decode_invoke),
        cmocka_unit_test(test_validation_messages),
        cmocka_unit_test(test_required_and_types),
        cmocka_unit_test(test_json_protocol_ops),
        cmocka_unit_test(test_integer_enum),
        cmocka_unit_test(test_route_s3),
    };
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
