/* DynamoDB's expression language (src/services/dynamodb/expr.c): parses
 * and DynamoDB's error words, conditions on items, projections and
 * updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/dynamodb/internal.h"

static json_t *js(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v)
        fail_msg("bad JSON in the test: %s: %s", text, e.text);
    return v;
}

struct ctx {
    struct ddb_placeholders ph;
    char msg[512];
};

static void ctx_init(struct ctx *c, const char *names, const char *values)
{
    memset(c, 0, sizeof(*c));
    c->ph.names = names ? js(names) : NULL;
    c->ph.values = values ? js(values) : NULL;
    c->ph.used_names = json_object();
    c->ph.used_values = json_object();
}

static void ctx_free(struct ctx *c)
{
    json_decref(c->ph.names);
    json_decref(c->ph.values);
    json_decref(c->ph.used_names);
    json_decref(c->ph.used_values);
}

static const char *ITEM = "{\"id\":{\"S\":\"a1\"},\"n\":{\"N\":\"5\"},\"name\":{\"S\":\"Widget\"},"
                          "\"tags\":{\"SS\":[\"red\",\"blue\"]},\"nums\":{\"NS\":[\"1\",\"2\"]},"
                          "\"lst\":{\"L\":[{\"N\":\"10\"},{\"S\":\"x\"},{\"M\":{\"k\":{\"S\":\"v\"}}}]},"
                          "\"mp\":{\"M\":{\"inr\":{\"M\":{\"deep\":{\"N\":\"7\"}}},\"s\":{\"S\":\"hi\"}}},"
                          "\"flag\":{\"BOOL\":true},\"nothing\":{\"NULL\":true},"
                          "\"bin\":{\"B\":\"AAEC\"}}";

static const char *VALUES =
    "{\":five\":{\"N\":\"5\"},\":four\":{\"N\":\"4.0\"},\":six\":{\"N\":\"6\"},"
    "\":wid\":{\"S\":\"Wid\"},\":widget\":{\"S\":\"Widget\"},\":red\":{\"S\":\"red\"},"
    "\":S\":{\"S\":\"S\"},\":SS\":{\"S\":\"SS\"},\":bad\":{\"S\":\"XYZ\"},\":ten\":{\"N\":\"10\"},"
    "\":x\":{\"S\":\"x\"},\":one\":{\"N\":\"1\"},\":b\":{\"B\":\"AAE=\"},\":seven\":{\"N\":\"7\"},"
    "\":t\":{\"BOOL\":true},\":l\":{\"L\":[{\"N\":\"1\"}]},\":tags\":{\"SS\":[\"green\",\"red\"]}}";

/* cond on ITEM: want true/false; names {"#n": "name"} always given. */
static void expect_cond(const char *cond, bool want)
{
    struct ctx c;
    ctx_init(&c, "{\"#n\":\"name\",\"#s\":\"s\"}", VALUES);
    struct ddb_expr *e;
    if (ddb_expr_parse(DDB_EXPR_CONDITION, cond, &c.ph, &e, c.msg, sizeof(c.msg)))
        fail_msg("%s: %s", cond, c.msg);
    json_t *item = js(ITEM);
    bool r;
    if (ddb_expr_test(e, item, &r, c.msg, sizeof(c.msg)))
        fail_msg("%s: %s", cond, c.msg);
    if (r != want)
        fail_msg("%s: got %d", cond, r);
    json_decref(item);
    ddb_expr_free(e);
    ctx_free(&c);
}

static void test_conditions(void **state)
{
    (void)state;
    expect_cond("n = :five", true);
    expect_cond("n <> :five", false);
    expect_cond("n > :four AND n < :six", true);
    expect_cond("n >= :five", true);
    expect_cond("n BETWEEN :four AND :six", true);
    expect_cond("n BETWEEN :six AND :ten", false);
    expect_cond("n IN (:four, :five)", true);
    expect_cond("n IN (:four, :six)", false);
    expect_cond("#n = :widget", true);
    expect_cond("begins_with(#n, :wid)", true);
    expect_cond("contains(tags, :red)", true);
    expect_cond("contains(#n, :wid)", true);
    expect_cond("contains(lst, :x)", true);
    expect_cond("attribute_exists(mp.inr.deep)", true);
    expect_cond("attribute_not_exists(mp.inr.zilch)", true);
    expect_cond("attribute_exists(lst[2].k)", true);
    expect_cond("mp.inr.deep = :seven", true);
    expect_cond("lst[0] = :ten", true);
    expect_cond("attribute_type(#n, :S)", true);
    expect_cond("attribute_type(tags, :SS)", true);
    expect_cond("attribute_type(tags, :S)", false);
    expect_cond("size(#n) = :six", true);
    expect_cond("size(tags) > :one", true);
    expect_cond("size(lst) BETWEEN :one AND :ten", true);
    expect_cond("NOT n = :five OR flag = :t", true);
    expect_cond("NOT (n = :five OR flag = :t)", false);
    expect_cond("(n = :five) AND ((flag = :t))", true);
    expect_cond("absent = :five", false);
    expect_cond("absent <> :five", true);
    expect_cond("n < :wid", false); /* (types differ) */
    expect_cond("begins_with(bin, :b)", true);
    expect_cond("mp.#s = :x OR mp.s = :x", false);
    expect_cond("n = :five and n = :five", true); /* (keywords in any case) */
}

static void expect_error(enum ddb_expr_kind kind, const char *text, const char *want)
{
    struct ctx c;
    ctx_init(&c, "{\"#n\":\"name\"}", VALUES);
    struct ddb_expr *e = NULL;
    if (ddb_expr_parse(kind, text, &c.ph, &e, c.msg, sizeof(c.msg)) != SL_EINVAL)
        fail_msg("%s: parsed", text);
    if (strcmp(c.msg, want) != 0)
        fail_msg("%s:\n got  %s\n want %s", text, c.msg, want);
    ctx_free(&c);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_error(DDB_EXPR_CONDITION, "n = ",
                 "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"= \"");
    expect_error(DDB_EXPR_CONDITION, "n == :five",
                 "Invalid ConditionExpression: Syntax error; token: \"=\", near: \"== :five\"");
    expect_error(DDB_EXPR_CONDITION, "name = :five",
                 "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved "
                 "keyword: name");
    expect_error(DDB_EXPR_CONDITION, "#x = :five",
                 "Invalid ConditionExpression: An expression attribute name used in the document "
                 "path is not defined; attribute name: #x");
    expect_error(DDB_EXPR_CONDITION, "n = :nope",
                 "Invalid ConditionExpression: An expression attribute value used in expression "
                 "is not defined; attribute value: :nope");
    expect_error(DDB_EXPR_CONDITION, "frob(n)",
                 "Invalid ConditionExpression: Invalid function name; function: frob");
    expect_error(DDB_EXPR_CONDITION, "",
                 "Invalid ConditionExpression: The expression can not be empty;");
    expect_error(DDB_EXPR_UPDATE, "SET a = :five SET b = :five",
                 "Invalid UpdateExpression: The \"SET\" section can only be used once in an "
                 "update expression;");
    expect_error(DDB_EXPR_UPDATE, "SET a = :five, a.b = :five",
                 "Invalid UpdateExpression: Two document paths overlap with each other; must "
                 "remove or rewrite one of these paths; path one: [a], path two: [a, b]");
    expect_error(DDB_EXPR_UPDATE, "ADD a b",
                 "Invalid UpdateExpression: Syntax error; token: \"b\", near: \"a b\"");
    expect_error(DDB_EXPR_UPDATE, "SET a = size(b)",
                 "Invalid UpdateExpression: The function is not allowed in an update "
                 "expression; function: size");
    expect_error(DDB_EXPR_PROJECTION, "a, b, a",
                 "Invalid ProjectionExpression: Two document paths overlap with each other; must "
                 "remove or rewrite one of these paths; path one: [a], path two: [a]");
    expect_error(DDB_EXPR_CONDITION, "n = :five AND",
                 "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"AND\"");
}

static void test_unused_placeholders(void **state)
{
    (void)state;
    struct ctx c;
    ctx_init(&c, "{\"#n\":\"name\",\"#u\":\"u\"}", "{\":a\":{\"N\":\"1\"},\":b\":{\"N\":\"2\"}}");
    struct ddb_expr *e;
    assert_int_equal(ddb_expr_parse(DDB_EXPR_CONDITION, "#n = :a", &c.ph, &e, c.msg, sizeof(c.msg)), 0);
    ddb_expr_free(e);
    assert_int_equal(ddb_placeholders_check(&c.ph, c.msg, sizeof(c.msg)), SL_EINVAL);
    assert_string_equal(c.msg, "Value provided in ExpressionAttributeValues unused in "
                               "expressions: keys: {:b}");
    json_object_del(c.ph.values, ":b");
    assert_int_equal(ddb_placeholders_check(&c.ph, c.msg, sizeof(c.msg)), SL_EINVAL);
    assert_string_equal(c.msg, "Value provided in ExpressionAttributeNames unused in "
                               "expressions: keys: {#u}");
    ctx_free(&c);
}

static void test_projection(void **state)
{
    (void)state;
    struct ctx c;
    ctx_init(&c, "{\"#n\":\"name\"}", NULL);
    struct ddb_expr *e;
    assert_int_equal(ddb_expr_parse(DDB_EXPR_PROJECTION, "id, #n, mp.inr.deep, lst[2].k, nope",
                                    &c.ph, &e, c.msg, sizeof(c.msg)),
                     0);
    json_t *item = js(ITEM), *out = ddb_expr_project(e, item);
    json_t *want = js("{\"id\":{\"S\":\"a1\"},\"name\":{\"S\":\"Widget\"},"
                      "\"mp\":{\"M\":{\"inr\":{\"M\":{\"deep\":{\"N\":\"7\"}}}}},"
                      "\"lst\":{\"L\":[{\"M\":{\"k\":{\"S\":\"v\"}}}]}}");
    if (!json_equal(out, want))
        fail_msg("got %s", json_dumps(out, JSON_COMPACT));
    json_decref(out);
    json_decref(want);
    json_decref(item);
    ddb_expr_free(e);
    ctx_free(&c);
}

/* update on ITEM, then cond must hold (or the update fails with msg). */
static void expect_update(const char *update, const char *want_json, const char *want_error)
{
    struct ctx c;
    ctx_init(&c, "{\"#n\":\"name\"}", VALUES);
    struct ddb_expr *e;
    if (ddb_expr_parse(DDB_EXPR_UPDATE, update, &c.ph, &e, c.msg, sizeof(c.msg)))
        fail_msg("%s: %s", update, c.msg);
    json_t *item = js(ITEM);
    int rc = ddb_expr_update(e, item, NULL, c.msg, sizeof(c.msg));
    if (want_error) {
        if (rc != SL_EINVAL || strcmp(c.msg, want_error) != 0)
            fail_msg("%s: got %d %s", update, rc, c.msg);
    } else {
        if (rc)
            fail_msg("%s: %s", update, c.msg);
        json_t *want = js(want_json);
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
            json_t *got = json_object_get(item, k);
            if (json_is_null(v) ? got != NULL : !json_equal(got, v))
                fail_msg("%s: %s is %s", update, k, got ? json_dumps(got, JSON_COMPACT) : "gone");
        }
        json_decref(want);
    }
    json_decref(item);
    ddb_expr_free(e);
    ctx_free(&c);
}

static void test_updates(void **state)
{
    (void)state;
    expect_update("SET n = n + :one, newone = :five", "{\"n\":{\"N\":\"6\"},\"newone\":{\"N\":\"5\"}}",
                  NULL);
    expect_update("SET n = :ten - n", "{\"n\":{\"N\":\"5\"}}", NULL);
    expect_update("SET c = if_not_exists(c, :one), n = if_not_exists(n, :ten)",
                  "{\"c\":{\"N\":\"1\"},\"n\":{\"N\":\"5\"}}", NULL);
    expect_update("SET lst = list_append(lst, :l)", "{}", NULL);
    expect_update("SET mp.inr.deep = :one, lst[0] = :x, lst[9] = :t",
                  "{\"mp\":{\"M\":{\"inr\":{\"M\":{\"deep\":{\"N\":\"1\"}}},\"s\":{\"S\":\"hi\"}}},"
                  "\"lst\":{\"L\":[{\"S\":\"x\"},{\"S\":\"x\"},{\"M\":{\"k\":{\"S\":\"v\"}}},"
                  "{\"BOOL\":true}]}}",
                  NULL);
    expect_update("REMOVE flag, lst[0], lst[1]",
                  "{\"flag\":null,\"lst\":{\"L\":[{\"M\":{\"k\":{\"S\":\"v\"}}}]}}", NULL);
    expect_update("ADD n :five, tags :tags, fresh :one",
                  "{\"n\":{\"N\":\"10\"},\"tags\":{\"SS\":[\"red\",\"blue\",\"green\"]},"
                  "\"fresh\":{\"N\":\"1\"}}",
                  NULL);
    expect_update("DELETE tags :tags", "{\"tags\":{\"SS\":[\"blue\"]}}", NULL);
    expect_update("SET a = nope + :one", NULL,
                  "The provided expression refers to an attribute that does not exist in the "
                  "item");
    expect_update("SET a = #n + :one", NULL,
                  "Invalid UpdateExpression: Incorrect operand type for operator or function; "
                  "operator: +, operand type: S");
    expect_update("SET nope.deeper = :one", NULL,
                  "The document path provided in the update expression is invalid for update");
    expect_update("ADD #n :one", NULL,
                  "An operand in the update expression has an incorrect data type");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_unused_placeholders),
        cmocka_unit_test(test_projection),
        cmocka_unit_test(test_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
