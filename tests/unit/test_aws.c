/*
 * Unit tests of the aws layer's protocol code (src/aws/protocol.c): routing
 * a request to its service by credential scope, X-Amz-Target and path the
 * way AWS endpoints do, and the error shape each of the four botocore
 * protocols reads; and of the shared-credentials parser
 * (src/aws/credentials.c). Requests are built by hand, with no server.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/aws.h"
#include "aws/credentials.h"
#include "aws/sessions.h"
#include "core/xml.h"

/* ---- a hand-made request ---------------------------------------------------- */

struct req_fx {
    struct sl_http_request r;
    struct sl_http_header headers[8];
    struct sl_http_param params[8];
    struct sl_arena parse; /* for parsing response bodies */
};

static int req_setup(void **state)
{
    struct req_fx *fx = calloc(1, sizeof(*fx));
    if (!fx)
        return -1;
    sl_arena_init(&fx->r.arena, 0);
    sl_arena_init(&fx->parse, 0);
    fx->r.method = "POST";
    fx->r.raw_uri = "/";
    fx->r.path_raw = "/";
    fx->r.path = "/";
    fx->r.query_raw = "";
    fx->r.headers = fx->headers;
    fx->r.params = fx->params;
    fx->r.resp.fd = -1;
    sl_buf_init(&fx->r.resp.body, 0);
    *state = fx;
    return 0;
}

static int req_teardown(void **state)
{
    struct req_fx *fx = *state;
    sl_buf_free(&fx->r.resp.body);
    sl_arena_free(&fx->r.arena);
    sl_arena_free(&fx->parse);
    free(fx);
    return 0;
}

static void add_header(struct req_fx *fx, const char *name, const char *value)
{
    assert_true(fx->r.nheaders < SL_ARRAY_LEN(fx->headers));
    fx->headers[fx->r.nheaders++] = (struct sl_http_header){name, value};
}

static void add_param(struct req_fx *fx, const char *name, const char *value)
{
    assert_true(fx->r.nparams < SL_ARRAY_LEN(fx->params));
    fx->params[fx->r.nparams++] = (struct sl_http_param){name, value, true};
}

/* A response header's value (name in any case), or NULL. */
static const char *resp_header(const struct sl_http_request *r, const char *name)
{
    for (size_t i = 0; i < r->resp.nheaders; i++)
        if (strcasecmp(r->resp.headers[i].name, name) == 0)
            return r->resp.headers[i].value;
    return NULL;
}

/* Routes fx's request; checks the service's name and the protocol. */
static void expect_route(struct req_fx *fx, const char *scope, const char *service,
                         enum sl_aws_protocol protocol)
{
    enum sl_aws_protocol got = (enum sl_aws_protocol)-1;
    const struct sl_aws_endpoint *s = sl_aws_route(&fx->r, scope, &got);
    assert_non_null(s);
    assert_string_equal(s->name, service);
    assert_int_equal(got, protocol);
}

/* ---- routing ---------------------------------------------------------------- */

static void route_scope_s3(void **state)
{
    struct req_fx *fx = *state;
    fx->r.path = "/bucket/key";
    expect_route(fx, "s3", "s3", SL_PROTO_REST_XML);
}

static void route_scope_dynamodb_streams_target(void **state)
{
    struct req_fx *fx = *state;
    add_header(fx, "X-Amz-Target", "DynamoDBStreams_20120810.GetRecords");
    expect_route(fx, "dynamodb", "dynamodbstreams", SL_PROTO_JSON);
}

static void route_scope_dynamodb_target(void **state)
{
    struct req_fx *fx = *state;
    add_header(fx, "X-Amz-Target", "DynamoDB_20120810.PutItem");
    expect_route(fx, "dynamodb", "dynamodb", SL_PROTO_JSON);
}

static void route_scope_dynamodb_without_target(void **state)
{
    struct req_fx *fx = *state;
    expect_route(fx, "dynamodb", "dynamodb", SL_PROTO_JSON);
}

static void route_target_header_name_is_case_insensitive(void **state)
{
    struct req_fx *fx = *state;
    add_header(fx, "x-amz-target", "DynamoDBStreams_20120810.ListStreams");
    expect_route(fx, "dynamodb", "dynamodbstreams", SL_PROTO_JSON);
}

static void route_scope_sqs_with_target_speaks_json(void **state)
{
    struct req_fx *fx = *state;
    add_header(fx, "X-Amz-Target", "AmazonSQS.SendMessage");
    expect_route(fx, "sqs", "sqs", SL_PROTO_JSON);
}

static void route_scope_sqs_without_target_speaks_query(void **state)
{
    struct req_fx *fx = *state;
    add_header(fx, "Content-Type", "application/x-www-form-urlencoded");
    expect_route(fx, "sqs", "sqs", SL_PROTO_QUERY);
}

static void route_scope_signing_name_differs_from_service(void **state)
{
    struct req_fx *fx = *state;
    add_header(fx, "X-Amz-Target", "AWSStepFunctions.StartExecution");
    expect_route(fx, "states", "stepfunctions", SL_PROTO_JSON);
}

static void route_target_prefix_needs_dot(void **state)
{
    struct req_fx *fx = *state;
    /* "DynamoDB_20120810X" is not DynamoDB's prefix followed by '.'. */
    add_header(fx, "X-Amz-Target", "DynamoDB_20120810X.PutItem");
    expect_route(fx, NULL, "s3", SL_PROTO_REST_XML);
}

static void route_unsigned_kinesis_target(void **state)
{
    struct req_fx *fx = *state;
    add_header(fx, "X-Amz-Target", "Kinesis_20131202.PutRecord");
    expect_route(fx, NULL, "kinesis", SL_PROTO_JSON);
}

static void route_unsigned_sqs_target_speaks_json(void **state)
{
    struct req_fx *fx = *state;
    add_header(fx, "X-Amz-Target", "AmazonSQS.ReceiveMessage");
    expect_route(fx, NULL, "sqs", SL_PROTO_JSON);
}

static void route_unsigned_lambda_path(void **state)
{
    struct req_fx *fx = *state;
    fx->r.method = "GET";
    fx->r.path = "/2015-03-31/functions";
    expect_route(fx, NULL, "lambda", SL_PROTO_REST_JSON);
    fx->r.path = "/2015-03-31/functions/f1/invocations";
    expect_route(fx, NULL, "lambda", SL_PROTO_REST_JSON);
}

static void route_unsigned_scheduler_path_boundary(void **state)
{
    struct req_fx *fx = *state;
    fx->r.path = "/schedules";
    expect_route(fx, NULL, "scheduler", SL_PROTO_REST_JSON);
    fx->r.path = "/schedules/s1";
    expect_route(fx, NULL, "scheduler", SL_PROTO_REST_JSON);
    /* A prefix match that stops inside a segment is a bucket. */
    fx->r.path = "/schedules-bucket/key";
    expect_route(fx, NULL, "s3", SL_PROTO_REST_XML);
}

static void route_unsigned_other_is_s3(void **state)
{
    struct req_fx *fx = *state;
    fx->r.method = "PUT";
    fx->r.path = "/my-bucket/some/key";
    expect_route(fx, NULL, "s3", SL_PROTO_REST_XML);
    fx->r.path = "/";
    expect_route(fx, NULL, "s3", SL_PROTO_REST_XML);
}

static void route_unknown_scope_falls_back(void **state)
{
    struct req_fx *fx = *state;
    fx->r.path = "/bucket";
    expect_route(fx, "nosuchservice", "s3", SL_PROTO_REST_XML);
}

static void service_by_name(void **state)
{
    (void)state;
    const struct sl_aws_endpoint *s = sl_aws_endpoint_by_name("dynamodbstreams");
    assert_non_null(s);
    assert_string_equal(s->signing_name, "dynamodb");
    assert_string_equal(s->target_prefix, "DynamoDBStreams_20120810");
    assert_null(sl_aws_endpoint_by_name("nosuchservice"));
}

static void operation_from_target_and_action(void **state)
{
    struct req_fx *fx = *state;
    add_header(fx, "X-Amz-Target", "DynamoDB_20120810.PutItem");
    add_param(fx, "Action", "SendMessage");
    assert_string_equal(sl_aws_operation(&fx->r, SL_PROTO_JSON, NULL, 0), "PutItem");
    assert_string_equal(sl_aws_operation(&fx->r, SL_PROTO_QUERY, NULL, 0), "SendMessage");
    assert_null(sl_aws_operation(&fx->r, SL_PROTO_REST_XML, NULL, 0));
}

static void request_id_is_uuid(void **state)
{
    (void)state;
    char id[37];
    sl_aws_request_id(id);
    assert_int_equal(strlen(id), 36);
    assert_int_equal(id[8], '-');
    assert_int_equal(id[23], '-');
}

/* ---- error shapes ------------------------------------------------------------- */

#define RID "11111111-2222-4333-8444-555555555555"

/* Parses the XML response body of fx. */
static struct sl_xml_node *body_xml(struct req_fx *fx)
{
    struct sl_xml_node *root = NULL;
    struct sl_err err = {0};
    int rc = sl_xml_parse(&fx->parse, fx->r.resp.body.data, fx->r.resp.body.len, &root, &err);
    if (rc)
        fail_msg("response body is not XML (%s): %s", err.msg, fx->r.resp.body.data);
    return root;
}

/* Parses the JSON response body of fx (caller json_decref()s). */
static json_t *body_json(struct req_fx *fx)
{
    json_error_t jerr;
    json_t *j = json_loadb(fx->r.resp.body.data, fx->r.resp.body.len, 0, &jerr);
    if (!j)
        fail_msg("response body is not JSON (%s): %s", jerr.text, fx->r.resp.body.data);
    assert_true(json_is_object(j));
    return j;
}

static void error_rest_xml_shape(void **state)
{
    struct req_fx *fx = *state;
    sl_aws_error(&fx->r, SL_PROTO_REST_XML, 404, "NoSuchBucket", RID, NULL,
                 "The specified bucket %s does not exist", "b1");
    assert_true(fx->r.resp.ready);
    assert_int_equal(fx->r.resp.status, 404);
    assert_string_equal(resp_header(&fx->r, "x-amz-request-id"), RID);
    const char *id2 = resp_header(&fx->r, "x-amz-id-2");
    assert_non_null(id2);
    assert_true(strlen(id2) > 0);
    assert_null(resp_header(&fx->r, "x-amzn-RequestId"));
    assert_null(resp_header(&fx->r, "x-amzn-ErrorType"));
    assert_string_equal(resp_header(&fx->r, "Content-Type"), "application/xml");
    struct sl_xml_node *root = body_xml(fx);
    assert_string_equal(root->name, "Error");
    assert_string_equal(sl_xml_child_text(root, "Code"), "NoSuchBucket");
    assert_string_equal(sl_xml_child_text(root, "Message"),
                        "The specified bucket b1 does not exist");
    assert_string_equal(sl_xml_child_text(root, "RequestId"), RID);
}

static void error_rest_xml_extra_elements(void **state)
{
    struct req_fx *fx = *state;
    const char *const extra[] = {"BucketName", "b<1>", "Key", "k&1", NULL};
    sl_aws_error(&fx->r, SL_PROTO_REST_XML, 404, "NoSuchKey", RID, extra, "missing");
    struct sl_xml_node *root = body_xml(fx);
    assert_string_equal(sl_xml_child_text(root, "BucketName"), "b<1>");
    assert_string_equal(sl_xml_child_text(root, "Key"), "k&1");
    assert_string_equal(sl_xml_child_text(root, "Code"), "NoSuchKey");
}

static void error_rest_xml_escapes_message(void **state)
{
    struct req_fx *fx = *state;
    sl_aws_error(&fx->r, SL_PROTO_REST_XML, 400, "InvalidArgument", RID, NULL,
                 "bad <value> & \"quote\"");
    struct sl_xml_node *root = body_xml(fx);
    assert_string_equal(sl_xml_child_text(root, "Message"), "bad <value> & \"quote\"");
}

static void error_host_id_differs_between_errors(void **state)
{
    struct req_fx *fx = *state;
    sl_aws_error(&fx->r, SL_PROTO_REST_XML, 500, "InternalError", RID, NULL, "x");
    char first[128];
    snprintf(first, sizeof(first), "%s", resp_header(&fx->r, "x-amz-id-2"));
    sl_aws_error(&fx->r, SL_PROTO_REST_XML, 500, "InternalError", RID, NULL, "x");
    assert_string_not_equal(first, resp_header(&fx->r, "x-amz-id-2"));
}

static void error_query_shape_sender(void **state)
{
    struct req_fx *fx = *state;
    sl_aws_error(&fx->r, SL_PROTO_QUERY, 400, "AWS.SimpleQueueService.NonExistentQueue", RID,
                 NULL, "The specified queue does not exist.");
    assert_true(fx->r.resp.ready);
    assert_int_equal(fx->r.resp.status, 400);
    assert_string_equal(resp_header(&fx->r, "x-amzn-RequestId"), RID);
    assert_null(resp_header(&fx->r, "x-amz-request-id"));
    assert_null(resp_header(&fx->r, "x-amzn-ErrorType"));
    assert_string_equal(resp_header(&fx->r, "Content-Type"), "text/xml");
    struct sl_xml_node *root = body_xml(fx);
    assert_string_equal(root->name, "ErrorResponse");
    struct sl_xml_node *e = sl_xml_child(root, "Error");
    assert_non_null(e);
    assert_string_equal(sl_xml_child_text(e, "Type"), "Sender");
    assert_string_equal(sl_xml_child_text(e, "Code"), "AWS.SimpleQueueService.NonExistentQueue");
    assert_string_equal(sl_xml_child_text(e, "Message"), "The specified queue does not exist.");
    assert_string_equal(sl_xml_child_text(root, "RequestId"), RID);
}

static void error_query_shape_receiver_on_5xx(void **state)
{
    struct req_fx *fx = *state;
    sl_aws_error(&fx->r, SL_PROTO_QUERY, 503, "ServiceUnavailable", RID, NULL, "later");
    assert_int_equal(fx->r.resp.status, 503);
    struct sl_xml_node *e = sl_xml_child(body_xml(fx), "Error");
    assert_non_null(e);
    assert_string_equal(sl_xml_child_text(e, "Type"), "Receiver");
}

static void error_json_shape(void **state)
{
    struct req_fx *fx = *state;
    sl_aws_error(&fx->r, SL_PROTO_JSON, 400, "ResourceNotFoundException", RID, NULL,
                 "Requested resource not found: Table: %s not found", "t1");
    assert_true(fx->r.resp.ready);
    assert_int_equal(fx->r.resp.status, 400);
    assert_string_equal(resp_header(&fx->r, "x-amzn-ErrorType"), "ResourceNotFoundException");
    assert_string_equal(resp_header(&fx->r, "x-amzn-RequestId"), RID);
    assert_null(resp_header(&fx->r, "x-amz-request-id"));
    const char *ct = resp_header(&fx->r, "Content-Type");
    assert_non_null(ct);
    assert_non_null(strstr(ct, "application/x-amz-json-1."));
    json_t *j = body_json(fx);
    assert_string_equal(json_string_value(json_object_get(j, "__type")),
                        "ResourceNotFoundException");
    assert_string_equal(json_string_value(json_object_get(j, "message")),
                        "Requested resource not found: Table: t1 not found");
    json_decref(j);
}

static void error_rest_json_shape(void **state)
{
    struct req_fx *fx = *state;
    sl_aws_error(&fx->r, SL_PROTO_REST_JSON, 404, "ResourceNotFoundException", RID, NULL,
                 "Function not found: %s", "f1");
    assert_int_equal(fx->r.resp.status, 404);
    assert_string_equal(resp_header(&fx->r, "x-amzn-ErrorType"), "ResourceNotFoundException");
    assert_string_equal(resp_header(&fx->r, "x-amzn-RequestId"), RID);
    assert_null(resp_header(&fx->r, "x-amz-request-id"));
    assert_string_equal(resp_header(&fx->r, "Content-Type"), "application/json");
    json_t *j = body_json(fx);
    assert_string_equal(json_string_value(json_object_get(j, "__type")),
                        "ResourceNotFoundException");
    /* Lambda spells it "Message"; botocore reads either case. */
    json_t *m = json_object_get(j, "Message");
    if (!m)
        m = json_object_get(j, "message");
    assert_string_equal(json_string_value(m), "Function not found: f1");
    json_decref(j);
}

static void error_json_escapes_message(void **state)
{
    struct req_fx *fx = *state;
    const char *msg = "quote \" backslash \\ newline \n tab \t ctl \x01 caf\xc3\xa9";
    sl_aws_error(&fx->r, SL_PROTO_JSON, 400, "ValidationException", RID, NULL, "%s", msg);
    json_t *j = body_json(fx);
    assert_string_equal(json_string_value(json_object_get(j, "message")), msg);
    json_decref(j);
}

static void error_replaces_previous_response(void **state)
{
    struct req_fx *fx = *state;
    assert_int_equal(sl_buf_puts(&fx->r.resp.body, "partial"), 0);
    assert_int_equal(sl_http_set_header(&fx->r, "ETag", "\"abc\""), 0);
    sl_aws_error(&fx->r, SL_PROTO_JSON, 500, "InternalFailure", RID, NULL, "boom");
    assert_null(resp_header(&fx->r, "ETag"));
    json_t *j = body_json(fx);
    assert_string_equal(json_string_value(json_object_get(j, "__type")), "InternalFailure");
    json_decref(j);
}

/* ---- credentials -------------------------------------------------------------- */

static const char two_profiles[] =
    "# shared credentials\n"
    "[default]\n"
    "aws_access_key_id = AKIDEFAULT\n"
    "aws_secret_access_key = secret/default+key\n"
    "\n"
    "; another comment\n"
    "[team]\n"
    "  aws_access_key_id=AKITEAM  \n"
    "aws_secret_access_key\t=\tteamsecret\n"
    "account_id = 123456789012\n"
    "region = eu-west-1\n";

static void credentials_parse_two_profiles(void **state)
{
    (void)state;
    struct sl_credentials c;
    struct sl_err err = {0};
    assert_int_equal(sl_credentials_parse(&c, two_profiles, &err), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.items[0].access_key, "AKIDEFAULT");
    assert_string_equal(c.items[0].secret_key, "secret/default+key");
    assert_string_equal(c.items[0].account, SL_DEFAULT_ACCOUNT);
    assert_string_equal(c.items[1].access_key, "AKITEAM");
    assert_string_equal(c.items[1].secret_key, "teamsecret");
    assert_string_equal(c.items[1].account, "123456789012");
    sl_credentials_free(&c);
    assert_int_equal(c.n, 0);
    assert_null(c.items);
}

static void credentials_find(void **state)
{
    (void)state;
    struct sl_credentials c;
    assert_int_equal(sl_credentials_parse(&c, two_profiles, NULL), 0);
    const struct sl_credential *t = sl_credentials_find(&c, "AKITEAM");
    assert_non_null(t);
    assert_string_equal(t->secret_key, "teamsecret");
    assert_string_equal(t->account, "123456789012");
    assert_ptr_equal(sl_credentials_find(&c, "AKIDEFAULT"), &c.items[0]);
    assert_null(sl_credentials_find(&c, "AKINOPE"));
    assert_null(sl_credentials_find(&c, "akiteam"));
    assert_null(sl_credentials_find(NULL, "AKITEAM"));
    sl_credentials_free(&c);
}

static void credentials_profile_without_secret_is_skipped(void **state)
{
    (void)state;
    struct sl_credentials c;
    const char *text = "[half]\n"
                       "aws_access_key_id = AKIHALF\n"
                       "account_id = 111111111111\n"
                       "[full]\n"
                       "aws_access_key_id = AKIFULL\n"
                       "aws_secret_access_key = s\n"
                       "[secretonly]\n"
                       "aws_secret_access_key = orphan\n";
    assert_int_equal(sl_credentials_parse(&c, text, NULL), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.items[0].access_key, "AKIFULL");
    assert_string_equal(c.items[0].account, SL_DEFAULT_ACCOUNT);
    assert_null(sl_credentials_find(&c, "AKIHALF"));
    sl_credentials_free(&c);
}

static void credentials_crlf_lines(void **state)
{
    (void)state;
    struct sl_credentials c;
    const char *text = "[default]\r\naws_access_key_id = AKICRLF\r\n"
                       "aws_secret_access_key = s3cr3t\r\naccount_id = 000000000042\r\n";
    assert_int_equal(sl_credentials_parse(&c, text, NULL), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.items[0].secret_key, "s3cr3t");
    assert_string_equal(c.items[0].account, "000000000042");
    sl_credentials_free(&c);
}

static void credentials_empty_text(void **state)
{
    (void)state;
    struct sl_credentials c;
    assert_int_equal(sl_credentials_parse(&c, "", NULL), 0);
    assert_int_equal(c.n, 0);
    assert_null(sl_credentials_find(&c, "AKI"));
    sl_credentials_free(&c);
}

static void credentials_bad_account_id(void **state)
{
    (void)state;
    static const char *bad[] = {"12345678901", "1234567890123", "12345678901a", "", "-12345678901"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "[default]\naws_access_key_id = AK\naws_secret_access_key = s\n"
                 "account_id = %s\n",
                 bad[i]);
        struct sl_credentials c;
        struct sl_err err = {0};
        int rc = sl_credentials_parse(&c, text, &err);
        if (rc != SL_EINVAL)
            fail_msg("account_id \"%s\": %d, want SL_EINVAL", bad[i], rc);
        assert_int_equal(err.code, SL_EINVAL);
        assert_non_null(strstr(err.msg, "account_id"));
        assert_int_equal(c.n, 0);
        assert_null(c.items);
    }
}

static void credentials_error_frees_earlier_profiles(void **state)
{
    (void)state;
    /* The first profile is complete when the second fails; nothing leaks
     * (ASan checks) and nothing is returned. */
    const char *text = "[a]\naws_access_key_id = AK1\naws_secret_access_key = s1\n"
                       "[b]\naws_access_key_id = AK2\naccount_id = 12\n";
    struct sl_credentials c;
    assert_int_equal(sl_credentials_parse(&c, text, NULL), SL_EINVAL);
    assert_int_equal(c.n, 0);
    assert_null(c.items);
}

static void credentials_line_without_equals(void **state)
{
    (void)state;
    struct sl_credentials c;
    struct sl_err err = {0};
    assert_int_equal(sl_credentials_parse(&c, "[default]\nthis is not ini\n", &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "line 2"));
}

/* Blank lines count: the bad account_id on line 5 is reported as line 5. */
static void credentials_error_names_line_after_blank_lines(void **state)
{
    (void)state;
    const char *text = "[default]\n"
                       "aws_access_key_id = AK\n"
                       "\n"
                       "aws_secret_access_key = s\n"
                       "account_id = 12\n";
    struct sl_credentials c;
    struct sl_err err = {0};
    assert_int_equal(sl_credentials_parse(&c, text, &err), SL_EINVAL);
    if (!strstr(err.msg, "line 5"))
        fail_msg("error names the wrong line: %s", err.msg);
}

static void credentials_load_missing_file(void **state)
{
    (void)state;
    struct sl_credentials c = {0};
    struct sl_err err = {0};
    assert_int_equal(sl_credentials_load(&c, "/nonexistent/sluice/credentials", &err), SL_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/sluice/credentials"));
}

#define REQ_TEST(f) cmocka_unit_test_setup_teardown(f, req_setup, req_teardown)

/* A session is good with its own token until it expires or is revoked;
 * it names its role's session as AWS does. */
static void sessions_issue_check_expire_revoke(void **state)
{
    (void)state;
    struct sl_sessions *ss = NULL;
    assert_int_equal(sl_sessions_new(&ss), 0);
    struct sl_session a, b, got;
    assert_int_equal(sl_sessions_issue(ss, "123456789012", "arn:aws:iam::123456789012:role/p/r1",
                                       "fn-1", 1000, 60, &a),
                     0);
    assert_int_equal(sl_sessions_issue(ss, "123456789012", "arn:aws:iam::123456789012:role/p/r1",
                                       "fn-2", 1000, 60, &b),
                     0);
    assert_int_equal(strlen(a.access_key), 20);
    assert_memory_equal(a.access_key, "ASIA", 4);
    assert_string_not_equal(a.access_key, b.access_key);
    assert_string_not_equal(a.token, b.token);
    assert_string_equal(a.arn, "arn:aws:sts::123456789012:assumed-role/r1/fn-1");
    assert_memory_equal(a.user_id, "AROA", 4);
    assert_memory_equal(a.user_id, b.user_id, 21); /* one role, one id */
    assert_string_equal(a.user_id + 21, ":fn-1");
    assert_int_equal(sl_sessions_check(ss, a.access_key, a.token, 1059, &got), SL_SESSION_OK);
    assert_string_equal(got.secret_key, a.secret_key);
    assert_string_equal(got.account, "123456789012");
    assert_int_equal(sl_sessions_check(ss, a.access_key, b.token, 1000, &got),
                     SL_SESSION_BAD_TOKEN);
    assert_int_equal(sl_sessions_check(ss, a.access_key, "", 1000, &got), SL_SESSION_BAD_TOKEN);
    assert_int_equal(sl_sessions_check(ss, a.access_key, NULL, 1000, &got), SL_SESSION_BAD_TOKEN);
    assert_int_equal(sl_sessions_check(ss, a.access_key, a.token, 1060, &got),
                     SL_SESSION_EXPIRED);
    sl_sessions_revoke(ss, a.access_key);
    assert_int_equal(sl_sessions_check(ss, a.access_key, a.token, 1000, &got),
                     SL_SESSION_UNKNOWN);
    assert_int_equal(sl_sessions_check(ss, b.access_key, b.token, 1000, &got), SL_SESSION_OK);
    assert_int_equal(sl_sessions_check(ss, "AKIDEXAMPLE", b.token, 1000, &got),
                     SL_SESSION_UNKNOWN);
    /* Not a role, or not a session name. */
    assert_int_equal(sl_sessions_issue(ss, "1", "arn:aws:iam::1:user/u", "fn", 0, 1, &got),
                     SL_EINVAL);
    assert_int_equal(sl_sessions_issue(ss, "1", "arn:aws:iam::1:role/r", "a b", 0, 1, &got),
                     SL_EINVAL);
    sl_sessions_free(ss); /* with b still in it */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        REQ_TEST(route_scope_s3),
        REQ_TEST(route_scope_dynamodb_streams_target),
        REQ_TEST(route_scope_dynamodb_target),
        REQ_TEST(route_scope_dynamodb_without_target),
        REQ_TEST(route_target_header_name_is_case_insensitive),
        REQ_TEST(route_scope_sqs_with_target_speaks_json),
        REQ_TEST(route_scope_sqs_without_target_speaks_query),
        REQ_TEST(route_scope_signing_name_differs_from_service),
        REQ_TEST(route_target_prefix_needs_dot),
        REQ_TEST(route_unsigned_kinesis_target),
        REQ_TEST(route_unsigned_sqs_target_speaks_json),
        REQ_TEST(route_unsigned_lambda_path),
        REQ_TEST(route_unsigned_scheduler_path_boundary),
        REQ_TEST(route_unsigned_other_is_s3),
        REQ_TEST(route_unknown_scope_falls_back),
        cmocka_unit_test(service_by_name),
        REQ_TEST(operation_from_target_and_action),
        cmocka_unit_test(request_id_is_uuid),
        REQ_TEST(error_rest_xml_shape),
        REQ_TEST(error_rest_xml_extra_elements),
        REQ_TEST(error_rest_xml_escapes_message),
        REQ_TEST(error_host_id_differs_between_errors),
        REQ_TEST(error_query_shape_sender),
        REQ_TEST(error_query_shape_receiver_on_5xx),
        REQ_TEST(error_json_shape),
        REQ_TEST(error_rest_json_shape),
        REQ_TEST(error_json_escapes_message),
        REQ_TEST(error_replaces_previous_response),
        cmocka_unit_test(credentials_parse_two_profiles),
        cmocka_unit_test(credentials_find),
        cmocka_unit_test(credentials_profile_without_secret_is_skipped),
        cmocka_unit_test(credentials_crlf_lines),
        cmocka_unit_test(credentials_empty_text),
        cmocka_unit_test(credentials_bad_account_id),
        cmocka_unit_test(credentials_error_frees_earlier_profiles),
        cmocka_unit_test(credentials_line_without_equals),
        cmocka_unit_test(credentials_error_names_line_after_blank_lines),
        cmocka_unit_test(credentials_load_missing_file),
        cmocka_unit_test(sessions_issue_check_expire_revoke),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
