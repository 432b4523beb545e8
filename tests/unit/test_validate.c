/* Rule sets for rows (formats/validate.h): every JSON Schema keyword of
 * the subset passing and failing for text cells and JSON cells, required,
 * absent and null values, additionalProperties, several types, enum and
 * const, ECMA-262 patterns and the constructs refused, formats, bounds,
 * lengths in code points, refused schemas; rules from every Glue column
 * type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats/validate.h"

static char why[256];

static struct sl_rules *compile(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j)
        fail_msg("bad test JSON %s: %s", text, jerr.text);
    struct sl_rules *r = NULL;
    struct sl_err err = {0};
    int rc = sl_rules_from_json_schema(j, &r, &err);
    if (rc)
        fail_msg("schema %s refused: %s", text, err.msg);
    json_decref(j);
    return r;
}

/* A schema of one property "v" with the given keywords. */
static struct sl_rules *prop(const char *keywords)
{
    char text[1024];
    snprintf(text, sizeof(text), "{\"type\":\"object\",\"properties\":{\"v\":{%s}}}", keywords);
    return compile(text);
}

/* Whether the schema is refused, with a message holding needle. */
static void refused(const char *text, const char *needle)
{
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    assert_non_null(j);
    struct sl_rules *r = NULL;
    struct sl_err err = {0};
    int rc = sl_rules_from_json_schema(j, &r, &err);
    json_decref(j);
    if (rc != SL_EINVAL)
        fail_msg("schema %s: %d, not refused", text, rc);
    assert_null(r);
    if (!strstr(err.msg, needle))
        fail_msg("schema %s: message \"%s\" lacks \"%s\"", text, err.msg, needle);
}

static void pattern_refused(const char *pattern_json, const char *needle)
{
    char text[512];
    snprintf(text, sizeof(text), "{\"properties\":{\"v\":{\"pattern\":%s}}}", pattern_json);
    refused(text, needle);
}

/* The first property against text (NULL: absent). */
static int text1(const struct sl_rules *r, const char *s)
{
    struct sl_cell c = {s, s ? strlen(s) : 0, NULL, s != NULL};
    why[0] = '\0';
    int rc = sl_rules_check(r, &c, 0, why, sizeof(why));
    assert_true(rc == 0 || rc == SL_EINVAL);
    assert_true(rc == 0 ? why[0] == '\0' : why[0] != '\0');
    /* (The same answer without a message.) */
    assert_int_equal(sl_rules_check(r, &c, 0, NULL, 0), rc);
    return rc;
}

/* The first property against a JSON value (its text). */
static int json1(const struct sl_rules *r, const char *value)
{
    json_t *j = json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!j)
        fail_msg("bad test JSON %s", value);
    struct sl_cell c = {NULL, 0, j, true};
    why[0] = '\0';
    int rc = sl_rules_check(r, &c, 0, why, sizeof(why));
    assert_true(rc == 0 || rc == SL_EINVAL);
    assert_int_equal(sl_rules_check(r, &c, 0, NULL, 0), rc);
    json_decref(j);
    return rc;
}

/* A JSON Lines row (an object's text) through sl_rules_json_cells. */
static int json_row(const struct sl_rules *r, const char *row)
{
    json_t *j = json_loads(row, 0, NULL);
    assert_non_null(j);
    struct sl_cell cells[16];
    size_t extra = 99;
    assert_true(sl_rules_count(r) <= 16);
    assert_int_equal(sl_rules_json_cells(r, j, cells, &extra), 0);
    why[0] = '\0';
    int rc = sl_rules_check(r, cells, extra, why, sizeof(why));
    json_decref(j);
    return rc;
}

/* A CSV row: header names and cells, mapped through sl_rules_index. */
static int csv_row(const struct sl_rules *r, const char *const *header, const char *const *vals,
                   size_t n)
{
    struct sl_cell cells[16] = {0};
    size_t extra = 0;
    for (size_t i = 0; i < n; i++) {
        ssize_t at = sl_rules_index(r, header[i], strlen(header[i]));
        if (at < 0) {
            extra++;
            continue;
        }
        cells[at] = (struct sl_cell){vals[i], strlen(vals[i]), NULL, true};
    }
    why[0] = '\0';
    return sl_rules_check(r, cells, extra, why, sizeof(why));
}

#define PASS_T(r, s) assert_int_equal(text1(r, s), 0)
#define FAIL_T(r, s) assert_int_equal(text1(r, s), SL_EINVAL)
#define PASS_J(r, s) assert_int_equal(json1(r, s), 0)
#define FAIL_J(r, s) assert_int_equal(json1(r, s), SL_EINVAL)
#define WHY(s) assert_string_equal(why, s)

static void test_types_text(void **state)
{
    (void)state;
    struct sl_rules *r = prop("\"type\":\"integer\"");
    PASS_T(r, "12");
    PASS_T(r, "-12");
    PASS_T(r, "+7");
    PASS_T(r, "007");
    PASS_T(r, "123456789012345678901234567890"); /* (beyond int64: still an integer) */
    FAIL_T(r, "x1");
    WHY("v: \"x1\" is not an integer");
    FAIL_T(r, "1.0"); /* (text: digits only) */
    FAIL_T(r, "1e3");
    FAIL_T(r, " 1");
    FAIL_T(r, "-");
    FAIL_T(r, "true");
    sl_rules_free(r);

    r = prop("\"type\":\"number\"");
    PASS_T(r, "12");
    PASS_T(r, "-1.5");
    PASS_T(r, ".5");
    PASS_T(r, "5.");
    PASS_T(r, "1e-3");
    PASS_T(r, "+2.5E+10");
    FAIL_T(r, ".");
    FAIL_T(r, "1e");
    FAIL_T(r, "e5");
    FAIL_T(r, "1.2.3");
    FAIL_T(r, "NaN");
    FAIL_T(r, "Infinity");
    FAIL_T(r, "0x10");
    WHY("v: \"0x10\" is not a number");
    sl_rules_free(r);

    r = prop("\"type\":\"boolean\"");
    PASS_T(r, "true");
    PASS_T(r, "FALSE");
    PASS_T(r, "True");
    FAIL_T(r, "yes");
    WHY("v: \"yes\" is not a boolean");
    FAIL_T(r, "1");
    sl_rules_free(r);

    r = prop("\"type\":\"string\"");
    PASS_T(r, "anything at all");
    PASS_T(r, "12");
    PASS_T(r, "caf\xc3\xa9");
    FAIL_T(r, "caf\xe9"); /* (Latin-1) */
    WHY("v: the text is not valid UTF-8 (or holds a NUL)");
    FAIL_T(r, "\xed\xa0\x80"); /* (a surrogate) */
    sl_rules_free(r);

    /* null: the empty cell, which passes when not required whatever the type. */
    r = prop("\"type\":\"null\"");
    PASS_T(r, "");
    FAIL_T(r, "null");
    WHY("v: \"null\" is not null");
    sl_rules_free(r);
    r = prop("\"type\":\"integer\",\"minimum\":5");
    PASS_T(r, "");
    PASS_T(r, NULL);
    sl_rules_free(r);

    /* Arrays and objects: JSON only. */
    r = prop("\"type\":\"array\"");
    FAIL_T(r, "[1]");
    PASS_J(r, "[1, 2]");
    FAIL_J(r, "{}");
    WHY("v: an object is not an array");
    sl_rules_free(r);
}

static void test_types_json(void **state)
{
    (void)state;
    struct sl_rules *r = prop("\"type\":\"integer\"");
    PASS_J(r, "12");
    PASS_J(r, "1.0"); /* (a number with a zero fraction is an integer) */
    PASS_J(r, "-0.0");
    PASS_J(r, "1e3");
    PASS_J(r, "9223372036854775807");
    FAIL_J(r, "1.5");
    WHY("v: 1.5 is not an integer");
    FAIL_J(r, "\"12\"");
    WHY("v: \"12\" is not an integer");
    FAIL_J(r, "null"); /* (present, and null: not an integer) */
    WHY("v: null is not an integer");
    FAIL_J(r, "true");
    sl_rules_free(r);

    r = prop("\"type\":\"number\"");
    PASS_J(r, "12");
    PASS_J(r, "-1.25e-7");
    FAIL_J(r, "\"1\"");
    FAIL_J(r, "[]");
    sl_rules_free(r);

    r = prop("\"type\":\"string\"");
    PASS_J(r, "\"x\"");
    PASS_J(r, "\"\""); /* (JSON: an empty string is a string, not null) */
    FAIL_J(r, "1");
    FAIL_J(r, "null");
    sl_rules_free(r);

    r = prop("\"type\":\"boolean\"");
    PASS_J(r, "false");
    FAIL_J(r, "\"true\"");
    FAIL_J(r, "0");
    sl_rules_free(r);

    r = prop("\"type\":\"null\"");
    PASS_J(r, "null");
    FAIL_J(r, "0");
    FAIL_J(r, "\"\"");
    sl_rules_free(r);

    r = prop("\"type\":\"object\"");
    PASS_J(r, "{\"a\":1}");
    FAIL_J(r, "[]");
    sl_rules_free(r);

    /* No type: any value. */
    r = prop("\"description\":\"anything\"");
    PASS_J(r, "null");
    PASS_J(r, "{}");
    PASS_T(r, "whatever");
    sl_rules_free(r);

    /* A false schema: the member must be absent. */
    r = compile("{\"properties\":{\"v\":false}}");
    assert_int_equal(json_row(r, "{\"v\":null}"), SL_EINVAL);
    WHY("v: not allowed (its schema is false)");
    assert_int_equal(json_row(r, "{}"), 0);
    sl_rules_free(r);
    r = compile("{\"properties\":{\"v\":true}}");
    PASS_J(r, "[1,{}]");
    sl_rules_free(r);
}

static void test_required_absent_null(void **state)
{
    (void)state;
    struct sl_rules *r = compile("{\"type\":\"object\",\"properties\":{\"country\":{\"type\":"
                                 "\"string\"},\"note\":{\"type\":[\"string\",\"null\"]}},"
                                 "\"required\":[\"country\"]}");
    assert_int_equal(sl_rules_count(r), 2);
    assert_string_equal(sl_rules_name(r, 0), "country");
    assert_string_equal(sl_rules_name(r, 1), "note");
    assert_null(sl_rules_name(r, 2));
    assert_int_equal(sl_rules_index(r, "note", 4), 1);
    assert_int_equal(sl_rules_index(r, "NOTE", 4), -1);
    assert_int_equal(sl_rules_index(r, "notes", 5), -1);

    /* JSON rows: absent fails only required; null is a present value. */
    assert_int_equal(json_row(r, "{\"country\":\"FR\"}"), 0);
    assert_int_equal(json_row(r, "{\"note\":\"x\"}"), SL_EINVAL);
    WHY("country: missing (required)");
    assert_int_equal(json_row(r, "{\"country\":null}"), SL_EINVAL);
    WHY("country: null is not a string");
    assert_int_equal(json_row(r, "{\"country\":\"FR\",\"note\":null}"), 0);
    assert_int_equal(json_row(r, "{\"country\":\"\"}"), 0);
    assert_int_equal(json_row(r, "{\"country\":\"FR\",\"other\":1}"), 0); /* (open) */

    /* CSV rows: an empty cell is null, which a required column lacks. */
    const char *h[] = {"country", "note"};
    const char *ok[] = {"FR", ""};
    const char *empty[] = {"", "x"};
    assert_int_equal(csv_row(r, h, ok, 2), 0);
    assert_int_equal(csv_row(r, h, empty, 2), SL_EINVAL);
    WHY("country: missing (required)");
    assert_int_equal(csv_row(r, h + 1, empty + 1, 1), SL_EINVAL); /* (no such column) */
    WHY("country: missing (required)");
    sl_rules_free(r);

    /* A name in required but not in properties: any value, present. */
    r = compile("{\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\",\"b\",\"b\"]}");
    assert_int_equal(sl_rules_count(r), 2);
    assert_string_equal(sl_rules_name(r, 1), "b");
    assert_int_equal(json_row(r, "{\"a\":1,\"b\":[]}"), 0);
    assert_int_equal(json_row(r, "{\"a\":1}"), SL_EINVAL);
    WHY("b: missing (required)");
    sl_rules_free(r);
}

static void test_additional_properties(void **state)
{
    (void)state;
    struct sl_rules *r =
        compile("{\"properties\":{\"a\":{},\"b\":{}},\"additionalProperties\":false}");
    assert_int_equal(json_row(r, "{\"a\":1,\"b\":2}"), 0);
    assert_int_equal(json_row(r, "{\"a\":1}"), 0);
    assert_int_equal(json_row(r, "{\"a\":1,\"c\":2}"), SL_EINVAL);
    WHY("1 column or member not in properties (additionalProperties is false)");
    assert_int_equal(json_row(r, "{\"A\":1,\"c\":2}"), SL_EINVAL);
    WHY("2 columns or members not in properties (additionalProperties is false)");
    const char *h[] = {"a", "b", "c"};
    const char *v[] = {"1", "2", "3"};
    assert_int_equal(csv_row(r, h, v, 2), 0);
    assert_int_equal(csv_row(r, h, v, 3), SL_EINVAL);
    sl_rules_free(r);

    r = compile("{\"properties\":{\"a\":{}},\"additionalProperties\":true}");
    assert_int_equal(json_row(r, "{\"a\":1,\"c\":2}"), 0);
    sl_rules_free(r);
    r = compile("{\"properties\":{\"a\":{}},\"additionalProperties\":{}}");
    assert_int_equal(json_row(r, "{\"c\":2}"), 0);
    sl_rules_free(r);

    /* Required but not a property, with additionalProperties false: never passes. */
    r = compile("{\"properties\":{\"a\":{}},\"required\":[\"b\"],\"additionalProperties\":false}");
    assert_int_equal(json_row(r, "{\"a\":1}"), SL_EINVAL);
    WHY("b: missing (required)");
    assert_int_equal(json_row(r, "{\"a\":1,\"b\":1}"), SL_EINVAL);
    WHY("b: not allowed (additionalProperties is false)");
    sl_rules_free(r);

    /* Boolean schemas. */
    r = compile("false");
    assert_int_equal(sl_rules_count(r), 0);
    assert_int_equal(json_row(r, "{}"), SL_EINVAL);
    r = (sl_rules_free(r), compile("true"));
    assert_int_equal(json_row(r, "{\"x\":1}"), 0);
    sl_rules_free(r);

    /* Not an object. */
    r = compile("{}");
    struct sl_cell c;
    size_t extra;
    json_t *arr = json_array();
    assert_int_equal(sl_rules_json_cells(r, arr, &c, &extra), SL_EINVAL);
    json_decref(arr);
    sl_rules_free(r);
}

static void test_several_types_readings(void **state)
{
    (void)state;
    /* A text that fits several types passes when one reading passes. */
    struct sl_rules *r =
        prop("\"type\":[\"string\",\"integer\"],\"minimum\":0,\"pattern\":\"^[a0-9]\"");
    PASS_T(r, "12");
    PASS_T(r, "abc");
    FAIL_T(r, "-3"); /* (an integer below 0; a string not matching) */
    WHY("v: -3 is less than the minimum 0");
    FAIL_T(r, "xyz");
    WHY("v: does not match the pattern ^[a0-9]");
    sl_rules_free(r);

    r = prop("\"type\":[\"integer\",\"null\"]");
    PASS_T(r, "3");
    PASS_T(r, "");
    FAIL_T(r, "three");
    WHY("v: \"three\" is not an integer or null");
    PASS_J(r, "null");
    PASS_J(r, "4");
    FAIL_J(r, "\"4\"");
    sl_rules_free(r);

    r = prop("\"type\":[\"boolean\",\"number\"]");
    PASS_T(r, "TRUE");
    PASS_T(r, "2.5");
    FAIL_T(r, "maybe");
    WHY("v: \"maybe\" is not a number or a boolean");
    sl_rules_free(r);

    /* integer and number together: number. */
    r = prop("\"type\":[\"integer\",\"number\"]");
    PASS_T(r, "2.5");
    PASS_J(r, "2.5");
    sl_rules_free(r);

    /* No type: the types the keywords constrain, for text. */
    r = prop("\"minimum\":10");
    PASS_T(r, "11");
    FAIL_T(r, "9");
    FAIL_T(r, "ten");
    WHY("v: \"ten\" is not a number");
    PASS_J(r, "\"ten\""); /* (JSON: minimum ignores strings) */
    FAIL_J(r, "9");
    sl_rules_free(r);
    r = prop("\"maxLength\":2");
    PASS_T(r, "12");
    FAIL_T(r, "123");
    PASS_J(r, "123");
    sl_rules_free(r);
}

static void test_enum_const(void **state)
{
    (void)state;
    struct sl_rules *r = prop("\"type\":\"integer\",\"enum\":[1,2,3]");
    PASS_T(r, "3");
    PASS_T(r, "+3");
    FAIL_T(r, "4");
    WHY("v: 4 is not one of the allowed values [1,2,3]");
    PASS_J(r, "3");
    PASS_J(r, "3.0"); /* (1 == 1.0) */
    FAIL_J(r, "3.5");
    sl_rules_free(r);

    r = prop("\"enum\":[1.5,\"a\",true,null,[1,2],{\"k\":[1.0]}]");
    PASS_J(r, "1.5");
    PASS_J(r, "\"a\"");
    PASS_J(r, "true");
    PASS_J(r, "null");
    PASS_J(r, "[1,2.0]");
    PASS_J(r, "{\"k\":[1]}");
    FAIL_J(r, "[2,1]");
    FAIL_J(r, "{\"k\":[1],\"x\":0}");
    FAIL_J(r, "false");
    FAIL_J(r, "\"A\"");
    WHY("v: \"A\" is not one of the allowed values [1.5,\"a\",true,null,[1,2],{\"k\":[1.0]}]");
    /* Text: the readings of the enum's types (number, string, boolean). */
    PASS_T(r, "1.5");
    PASS_T(r, "1.50");
    PASS_T(r, "15e-1");
    PASS_T(r, "a");
    PASS_T(r, "True");
    FAIL_T(r, "false");
    FAIL_T(r, "b");
    sl_rules_free(r);

    /* Strings: compared as text, under a string type; numbers under a numeric one. */
    r = prop("\"type\":\"string\",\"enum\":[\"3\",\"red\",\"green\"]");
    PASS_T(r, "3");
    FAIL_T(r, "3.0");
    PASS_T(r, "red");
    FAIL_T(r, "Red");
    PASS_J(r, "\"green\"");
    FAIL_J(r, "3");
    sl_rules_free(r);
    r = prop("\"type\":\"number\",\"enum\":[\"3\",0.1]");
    FAIL_T(r, "3");
    PASS_T(r, "0.1");
    PASS_T(r, "0.10");
    PASS_T(r, "1e-1");
    sl_rules_free(r);

    /* Big integers compare exactly. */
    r = prop("\"enum\":[9007199254740993]");
    PASS_J(r, "9007199254740993");
    FAIL_J(r, "9007199254740992");
    FAIL_J(r, "9007199254740992.0");
    PASS_T(r, "9007199254740993");
    FAIL_T(r, "9007199254740992");
    sl_rules_free(r);

    r = prop("\"const\":\"FR\"");
    PASS_T(r, "FR");
    FAIL_T(r, "DE");
    WHY("v: \"DE\" is not the constant \"FR\"");
    PASS_J(r, "\"FR\"");
    FAIL_J(r, "null");
    sl_rules_free(r);
    r = prop("\"type\":\"number\",\"const\":2");
    PASS_T(r, "2.0");
    PASS_J(r, "2.0");
    FAIL_T(r, "2.01");
    WHY("v: 2.01 is not the constant 2");
    sl_rules_free(r);
    r = prop("\"const\":null");
    PASS_J(r, "null");
    FAIL_J(r, "0");
    FAIL_T(r, "null");
    PASS_T(r, ""); /* (empty: null, not required) */
    sl_rules_free(r);

    /* enum and const together: both apply. */
    r = prop("\"enum\":[1,2,3],\"const\":2.0");
    PASS_J(r, "2");
    FAIL_J(r, "3");
    WHY("v: 3 is not the constant 2.0");
    PASS_T(r, "2");
    sl_rules_free(r);
    r = prop("\"enum\":[1,2,3],\"const\":4");
    FAIL_J(r, "4");
    FAIL_J(r, "1");
    sl_rules_free(r);

    /* An empty enum: nothing passes. */
    r = prop("\"enum\":[]");
    FAIL_J(r, "1");
    FAIL_T(r, "1");
    sl_rules_free(r);

    /* Many strings (sorted, searched). */
    char kw[2048] = "\"enum\":[";
    for (int i = 0; i < 100; i++)
        snprintf(kw + strlen(kw), sizeof(kw) - strlen(kw), "%s\"s%d\"", i ? "," : "", i * 7);
    strcat(kw, "]");
    r = prop(kw);
    PASS_T(r, "s0");
    PASS_T(r, "s693");
    PASS_T(r, "s350");
    FAIL_T(r, "s351");
    FAIL_T(r, "s");
    sl_rules_free(r);
}

static void test_numeric_bounds(void **state)
{
    (void)state;
    struct sl_rules *r = prop("\"type\":\"number\",\"minimum\":0,\"maximum\":10");
    PASS_T(r, "0");
    PASS_T(r, "10");
    PASS_T(r, "10.0");
    PASS_T(r, "5.5");
    FAIL_T(r, "-3");
    WHY("v: -3 is less than the minimum 0");
    FAIL_T(r, "10.000001");
    WHY("v: 10.000001 is greater than the maximum 10");
    FAIL_T(r, "-0.0000001");
    PASS_T(r, "-0");
    PASS_J(r, "0");
    PASS_J(r, "10.0");
    FAIL_J(r, "-3");
    WHY("v: -3 is less than the minimum 0");
    sl_rules_free(r);

    r = prop("\"type\":\"number\",\"exclusiveMinimum\":0,\"exclusiveMaximum\":1.5");
    FAIL_T(r, "0");
    WHY("v: 0 is not greater than the exclusive minimum 0");
    PASS_T(r, "0.0000000001");
    PASS_T(r, "1.4999");
    FAIL_T(r, "1.5");
    WHY("v: 1.5 is not less than the exclusive maximum 1.5");
    FAIL_J(r, "1.5");
    FAIL_J(r, "0.0");
    PASS_J(r, "1");
    sl_rules_free(r);

    /* Past 2^53: integers exactly; an integer against a real exactly. */
    r = prop("\"type\":\"integer\",\"maximum\":9007199254740993");
    PASS_J(r, "9007199254740993");
    FAIL_J(r, "9007199254740994");
    PASS_T(r, "9007199254740993");
    FAIL_T(r, "9007199254740994");
    FAIL_T(r, "99999999999999999999999"); /* (beyond int64: as a double) */
    PASS_T(r, "-99999999999999999999999");
    sl_rules_free(r);
    r = prop("\"maximum\":9007199254740992.0");
    PASS_J(r, "9007199254740992");
    FAIL_J(r, "9007199254740993");
    PASS_T(r, "9007199254740992");
    FAIL_T(r, "9007199254740993");
    sl_rules_free(r);
    r = prop("\"type\":\"integer\",\"minimum\":-9223372036854775808,"
             "\"maximum\":9223372036854775807");
    PASS_T(r, "-9223372036854775808");
    PASS_T(r, "9223372036854775807");
    FAIL_T(r, "9223372036854775808");
    FAIL_T(r, "-9223372036854775809");
    sl_rules_free(r);
    r = prop("\"minimum\":0.1");
    PASS_T(r, "0.1");
    FAIL_T(r, "0.09999999999999999");
    PASS_T(r, "1000000000000000000000000000000000000000000000");
    PASS_T(r, "0.1000000000000000000000000000000000000000000001");
    FAIL_T(r, "0.0000000000000000000000000000000000000000000001");
    FAIL_T(r, "-1e400");
    PASS_T(r, "1e400");
    sl_rules_free(r);

    r = prop("\"type\":\"number\",\"multipleOf\":0.1");
    PASS_T(r, "0.3");
    PASS_T(r, "12");
    FAIL_T(r, "0.35");
    WHY("v: 0.35 is not a multiple of 0.1");
    PASS_J(r, "0.3");
    FAIL_J(r, "0.35");
    sl_rules_free(r);
    r = prop("\"type\":\"integer\",\"multipleOf\":3");
    PASS_T(r, "-9");
    PASS_T(r, "0");
    FAIL_T(r, "10");
    PASS_J(r, "9.0");
    PASS_J(r, "9223372036854775806");
    FAIL_J(r, "9223372036854775807");
    sl_rules_free(r);
    r = prop("\"type\":\"integer\",\"multipleOf\":0.123456789");
    FAIL_J(r, "1e308");
    sl_rules_free(r);
    r = prop("\"multipleOf\":2.0");
    PASS_J(r, "4");
    FAIL_J(r, "5");
    sl_rules_free(r);
}

static void test_lengths(void **state)
{
    (void)state;
    struct sl_rules *r = prop("\"type\":\"string\",\"minLength\":2,\"maxLength\":3");
    FAIL_T(r, "a");
    WHY("v: \"a\" is shorter than 2 characters");
    PASS_T(r, "ab");
    PASS_T(r, "abc");
    FAIL_T(r, "abcd");
    WHY("v: \"abcd\" is longer than 3 characters");
    PASS_T(r, "\xc3\xa9\xc3\xa9\xc3\xa9");         /* (3 code points, 6 bytes) */
    PASS_T(r, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80"); /* (2 code points) */
    FAIL_T(r, "\xf0\x9f\x98\x80");
    PASS_J(r, "\"\\u00e9t\\u00e9\"");
    FAIL_J(r, "\"\\ud83d\\ude00\"");
    FAIL_J(r, "12345");
    WHY("v: 12345 is not a string");
    sl_rules_free(r);
    r = prop("\"minLength\":2");
    PASS_J(r, "1"); /* (not a string: lengths do not apply) */
    FAIL_T(r, "1"); /* (text: read as a string) */
    sl_rules_free(r);
    r = prop("\"minLength\":1.0,\"maxLength\":0");
    FAIL_J(r, "\"\"");
    sl_rules_free(r);
    r = prop("\"type\":\"string\",\"maxLength\":0");
    PASS_J(r, "\"\"");
    PASS_T(r, "");
    FAIL_T(r, "x");
    sl_rules_free(r);
}

/* Whether the ECMA-262 pattern matches s (text cell and JSON string). */
static bool re_match(const char *pattern_json, const char *s)
{
    char kw[512];
    snprintf(kw, sizeof(kw), "\"type\":\"string\",\"pattern\":%s", pattern_json);
    struct sl_rules *r = prop(kw);
    int rc = text1(r, s);
    json_t *j = json_string(s);
    struct sl_cell c = {NULL, 0, j, true};
    assert_int_equal(sl_rules_check(r, &c, 0, NULL, 0), rc);
    json_decref(j);
    sl_rules_free(r);
    return rc == 0;
}

static void test_patterns(void **state)
{
    (void)state;
    struct {
        const char *pattern; /* as JSON */
        const char *s;
        bool match;
    } cases[] = {
        {"\"^[^@]+@[^@]+$\"", "a@b.c", true},
        {"\"^[^@]+@[^@]+$\"", "a@b@c", false},
        {"\"b\"", "abc", true}, /* (not anchored) */
        {"\"^b\"", "abc", false},
        {"\"c$\"", "abc", true},
        {"\"\\\\d{3}-\\\\d{4}\"", "call 555-1234 now", true},
        {"\"^\\\\d+$\"", "12a", false},
        {"\"^\\\\D+$\"", "abc", true},
        {"\"^\\\\D+$\"", "ab1", false},
        {"\"^\\\\w+$\"", "a_Z9", true},
        {"\"^\\\\w+$\"", "a-b", false},
        {"\"^\\\\W$\"", "-", true},
        {"\"^\\\\s$\"", "\t", true},
        {"\"^a\\\\sb$\"", "a b", true},
        {"\"^\\\\S+$\"", "a b", false},
        {"\"^[\\\\d.]+$\"", "1.5", true},
        {"\"^[\\\\d.]+$\"", "1,5", false},
        {"\"^[\\\\w-]+$\"", "a-b_c", true},
        {"\"^[\\\\s,]+$\"", " ,\t", true},
        {"\"^[a\\\\-z]+$\"", "a-z", true},
        {"\"^[a\\\\-z]+$\"", "b", false},
        {"\"^[\\\\]x]+$\"", "]x]", true},
        {"\"^[\\\\^]$\"", "^", true},
        {"\"^[\\\\^-]+$\"", "^-", true},
        {"\"^[^\\\\^]$\"", "^", false},
        {"\"^[^\\\\]]$\"", "]", false},
        {"\"^[^\\\\]]$\"", "a", true},
        {"\"^[^-]$\"", "-", false},
        {"\"^[[]$\"", "[", true},
        {"\"^[[:]+$\"", "[:", true}, /* (ECMA: the characters [ and :) */
        {"\"^[\\\\\\\\]$\"", "\\", true},
        {"\"^\\\\\\\\$\"", "\\", true},
        {"\"^a.c$\"", "abc", true},
        {"\"^a.c$\"", "a\nc", false},
        {"\"^a.c$\"",
         "a\xc3\xa9"
         "c",
         true}, /* (. is one code point) */
        {"\"^.{3}$\"", "\xc3\xa9\xc3\xa9\xc3\xa9", true},
        {"\"^.{3}$\"", "\xc3\xa9\xc3\xa9", false},
        {"\"^[^a]$\"", "\xf0\x9f\x98\x80", true},
        {"\"^\\\\W$\"", "\xc3\xa9", true},
        {"\"^caf\\u00e9+$\"", "caf\xc3\xa9\xc3\xa9", true}, /* (+ takes the whole é) */
        {"\"^caf\\\\u00e9$\"", "caf\xc3\xa9", true},
        {"\"^\\\\x41$\"", "A", true},
        {"\"^[\\u00e9\\u00e8a]+$\"", "a\xc3\xa9\xc3\xa8", true},
        {"\"^[\\u00e9\\u00e8a]+$\"",
         "a\xc3\xa9"
         "b",
         false},
        {"\"^\\\\ud83d\\\\ude00$\"", "\xf0\x9f\x98\x80", true},
        {"\"^(?:ab)+$\"", "abab", true},
        {"\"^(?<pair>ab)+$\"", "abab", true},
        {"\"^(ab|cd){2}$\"", "abcd", true},
        {"\"^(ab|cd){2}$\"", "ab", false},
        {"\"^a{2,}$\"", "aaa", true},
        {"\"^a{2,3}$\"", "aaaa", false},
        {"\"^a+?b*?c??$\"", "aab", true}, /* (lazy: the same yes or no) */
        {"\"^a{1,2}?$\"", "aa", true},
        {"\"^a{$\"", "a{", true}, /* (a literal {) */
        {"\"^a{1,x}$\"", "a{1,x}", true},
        {"\"^x}]$\"", "x}]", true},
        {"\"^\\\\.\\\\*\\\\+\\\\?\\\\(\\\\)\\\\[\\\\]\\\\{\\\\}\\\\|\\\\/\\\\-\\\\$\\\\^$\"",
         ".*+?()[]{}|/-$^", true},
        {"\"^a\\\\tb$\"", "a\tb", true},
        {"\"\\\\bfoo\\\\b\"", "a foo b", true},
        {"\"\\\\bfoo\\\\b\"", "afoob", false},
        {"\"^[\\\\b]$\"", "\b", true},
        {"\"^$\"", "", true},
        {"\"\"", "anything", true},
        {"\"a|^b\"", "cb", false},
        {"\"a|^b\"", "ba", true},
        {"\"^(\\\\w+\\\\s?){1,20}$\"", "one two three", true},
        {"\"^([a-z]{1,50}\\\\.){1,9}[a-z]{2,9}$\"", "mail.example.com", true},
        {"\"\\\\B\"", "b\xc3\xa9x", false}, /* (never between the bytes of é) */
        {"\"\\\\B\"", "\xc3\xa9", true},
        {"\"\\\\b\"", "\xc3\xa9-", false},
        {"\"\\\\bx\"", "\xc3\xa9x", true},
        {"\"(^|\\\\n)a\\\\b\"", "b\nab", false},
        {"\"(^|\\\\n)a\\\\b\"", "b\na b", true},
        {"\"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}$\"", "deadBEEF-0123", true},
        {"\"^[!-~]+$\"", "a[b]^c-d\\\\", true},
        {"\"^[ -\\\\/]+$\"", " !/", true},
        {"\"^[ -\\\\/]+$\"", "0", false},
        /* ^ and $ inside a pattern: never at a newline (glibc would). */
        {"\"[^a]^\"", ".x\n/", false},
        {"\"\\\\n^a\"", "x\na", false},
        {"\"(^|,)x\"", "a\nx", false},
        {"\"(^|,)x\"", "y,x", true},
        {"\"(^|,)x\"", "x", true},
        {"\"a$\\\\nb\"", "a\nb", false},
        {"\"a\\\\nb|c$x\"", "a\nb", true},
        {"\"^a\\\\s+b$|x^\"", "a \n b", true},
        {"\"^[^\\\\n]*$|q^\"", "a\nb", false},
        {"\"^.*$|q^\"", "a\nb", false},
        {"\"^(\\\\s|\\\\S)*$|q^\"", "a\nb", true},
        {"\"^[\\\\n\\u00e9]+$|q^\"", "\n\xc3\xa9\n", true},
        {"\"^a$\"", "a\n", false},
        {"\"^a\"", "x\na", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (re_match(cases[i].pattern, cases[i].s) != cases[i].match)
            fail_msg("pattern %s on \"%s\": want %s", cases[i].pattern, cases[i].s,
                     cases[i].match ? "a match" : "no match");

    /* Long subjects (past the copy on the stack), newline mode or not. */
    char *big = malloc(6001);
    memset(big, 'a', 6000);
    big[6000] = '\0';
    big[4999] = '\n';
    assert_true(re_match("\"a\\\\na|q^\"", big));
    assert_false(re_match("\"a\\\\nb|q^\"", big));
    assert_false(re_match("\"(^|x)a\"", big + 4999));
    assert_true(re_match("\"(^|x)a\"", big + 5000));
    assert_true(re_match("\"^a+\\\\na+$\"", big));
    assert_false(re_match("\"^a+$\"", big));
    free(big);

    struct sl_rules *r = prop("\"pattern\":\"^[^@]+@[^@]+$\"");
    FAIL_T(r, "nope");
    WHY("v: does not match the pattern ^[^@]+@[^@]+$");
    PASS_J(r, "12"); /* (patterns apply to strings only) */
    FAIL_J(r, "\"a\\u0000b\"");
    PASS_J(r, "\"a\\u0000@b\"");
    sl_rules_free(r);

    pattern_refused("\"(?=a)\"", "lookahead");
    pattern_refused("\"(?!a)\"", "lookahead");
    pattern_refused("\"(?<=a)b\"", "lookbehind");
    pattern_refused("\"(?<!a)b\"", "lookbehind");
    pattern_refused("\"(a)\\\\1\"", "backreferences");
    pattern_refused("\"(?<n>a)\\\\k<n>\"", "backreferences");
    pattern_refused("\"\\\\p{L}\"", "\\p{...}");
    pattern_refused("\"\\\\cA\"", "\\cX");
    pattern_refused("\"\\\\0\"", "NUL");
    pattern_refused("\"\\\\x00\"", "NUL");
    pattern_refused("\"a\\u0000\"", "NUL");
    pattern_refused("\"\\\\q\"", "unknown escape");
    pattern_refused("\"[]\"", "[]");
    pattern_refused("\"[^]\"", "[]");
    pattern_refused("\"[a-\\\\d]\"", "range with a class");
    pattern_refused("\"[\\\\D]\"", "inside a class");
    pattern_refused("\"[^\\u00e9]\"", "negated class");
    pattern_refused("\"[\\u00e0-\\u00ff]\"", "non-ASCII");
    pattern_refused("\"[z-a]\"", "out of order");
    pattern_refused("\"[abc\"", "not closed");
    pattern_refused("\"(ab\"", "not closed");
    pattern_refused("\"ab)\"", "without its (");
    pattern_refused("\"*a\"", "nothing to repeat");
    pattern_refused("\"a**\"", "nothing to repeat");
    pattern_refused("\"a|+\"", "nothing to repeat");
    pattern_refused("\"^*\"", "nothing to repeat");
    pattern_refused("\"a{3,2}\"", "m < n");
    pattern_refused("\"a{1001}\"", "1000");
    pattern_refused("\"(a{1000}){1000}\"", "too large");
    pattern_refused("\"(a{100}){10}b\"", "too large");
    pattern_refused("\"(^|a)+\"", "inside a repeated group");
    pattern_refused("\"(a|\\\\b){2}\"", "inside a repeated group");
    pattern_refused("\"((b|$)x)*\"", "inside a repeated group");
    pattern_refused("\"a\\\\\"", "ends the pattern");
    pattern_refused("\"\\\\u{1F600}\"", "four hex digits");
    pattern_refused("\"(?i)a\"", "(?");
    pattern_refused("1", "must be a string");
}

static void test_formats(void **state)
{
    (void)state;
    struct sl_rules *r = prop("\"type\":\"string\",\"format\":\"date\"");
    PASS_T(r, "2024-02-29");
    PASS_T(r, "2000-02-29");
    PASS_T(r, "1999-12-31");
    FAIL_T(r, "2023-02-29");
    WHY("v: \"2023-02-29\" is not a date (RFC 3339 YYYY-MM-DD)");
    FAIL_T(r, "1900-02-29");
    FAIL_T(r, "2024-04-31");
    FAIL_T(r, "2024-13-01");
    FAIL_T(r, "2024-00-10");
    FAIL_T(r, "2024-01-00");
    FAIL_T(r, "2024-1-01");
    FAIL_T(r, "20240101");
    FAIL_T(r, "2024-01-01T00:00:00Z");
    FAIL_T(r, "2024-01-0\xd9\xa1"); /* (a non-ASCII digit) */
    PASS_J(r, "\"2024-02-29\"");
    FAIL_J(r, "\"2023-02-29\"");
    sl_rules_free(r);
    r = prop("\"format\":\"date\"");
    PASS_J(r, "20240101"); /* (formats apply to strings only) */
    FAIL_T(r, "20240101");
    sl_rules_free(r);

    r = prop("\"format\":\"date-time\"");
    PASS_T(r, "1985-04-12T23:20:50.52Z");
    PASS_T(r, "1996-12-19T16:39:57-08:00");
    PASS_T(r, "1963-06-19t08:30:06.283185z");
    PASS_T(r, "2024-02-29T00:00:00+14:00");
    PASS_T(r, "1998-12-31T23:59:60Z");
    PASS_T(r, "1998-12-31T15:59:60.123-08:00");
    FAIL_T(r, "1998-12-31T23:59:61Z");
    FAIL_T(r, "1998-12-31T23:58:60Z");
    FAIL_T(r, "1998-12-31T22:59:60Z");
    FAIL_T(r, "2024-01-01T00:00:00"); /* (no offset) */
    WHY("v: \"2024-01-01T00:00:00\" is not a date-time (RFC 3339, with Z or an offset)");
    FAIL_T(r, "2024-01-01 00:00:00Z");
    FAIL_T(r, "2023-02-29T00:00:00Z");
    FAIL_T(r, "2024-01-01T24:00:00Z");
    FAIL_T(r, "2024-01-01T00:60:00Z");
    FAIL_T(r, "2024-01-01T00:00:00.Z");
    FAIL_T(r, "2024-01-01T00:00:00+24:00");
    FAIL_T(r, "2024-01-01T00:00:00+01:60");
    FAIL_T(r, "2024-01-01T00:00:00+0100");
    FAIL_T(r, "2024-01-01T00:00:00Zjunk");
    FAIL_T(r, "2024-01-01");
    FAIL_T(r, "2024-01-01T");
    PASS_J(r, "\"2024-01-01T00:00:00.000Z\"");
    FAIL_J(r, "\"2024-01-01T00:00:00\"");
    sl_rules_free(r);

    r = prop("\"format\":\"time\"");
    PASS_T(r, "08:30:06Z");
    PASS_T(r, "08:30:06.283185+02:00");
    PASS_T(r, "23:59:60Z");
    PASS_T(r, "01:29:60+01:30");
    FAIL_T(r, "22:59:60Z");
    FAIL_T(r, "08:30:06");
    FAIL_T(r, "8:30:06Z");
    sl_rules_free(r);

    refused("{\"properties\":{\"v\":{\"format\":\"email\"}}}", "format \"email\" is not supported");
    refused("{\"properties\":{\"v\":{\"format\":3}}}", "must be a string");
}

static void test_refusals(void **state)
{
    (void)state;
    refused("[]", "not a JSON object");
    refused("{\"type\":\"array\"}", "\"type\" must be \"object\"");
    refused("{\"allOf\":[{}]}", "\"allOf\" is not supported");
    refused("{\"$ref\":\"#/$defs/x\"}", "\"$ref\" is not supported");
    refused("{\"oneOf\":[]}", "\"oneOf\"");
    refused("{\"patternProperties\":{}}", "\"patternProperties\"");
    refused("{\"minProperties\":1}", "\"minProperties\"");
    refused("{\"properties\":[]}", "\"properties\" must be an object");
    refused("{\"required\":\"a\"}", "\"required\" must be an array");
    refused("{\"required\":[1]}", "\"required\" must be an array");
    refused("{\"additionalProperties\":{\"type\":\"string\"}}", "a schema is not supported");
    refused("{\"properties\":{\"addr\":{\"type\":\"object\",\"properties\":{}}}}",
            "property addr: the keyword \"properties\" is not supported");
    refused("{\"properties\":{\"tags\":{\"type\":\"array\",\"items\":{}}}}",
            "property tags: the keyword \"items\"");
    refused("{\"properties\":{\"a\":{\"$ref\":\"#\"}}}", "\"$ref\"");
    refused("{\"properties\":{\"a\":{\"anyOf\":[]}}}", "\"anyOf\"");
    refused("{\"properties\":{\"a\":{\"minimun\":1}}}", "\"minimun\""); /* (a typo) */
    refused("{\"properties\":{\"a\":{\"nullable\":true}}}", "\"nullable\"");
    refused("{\"properties\":{\"a\":3}}", "not an object or a boolean");
    refused("{\"properties\":{\"a\":{\"type\":\"int\"}}}", "\"type\" must be");
    refused("{\"properties\":{\"a\":{\"type\":[]}}}", "\"type\" must be");
    refused("{\"properties\":{\"a\":{\"type\":[\"string\",\"date\"]}}}", "\"type\" must be");
    refused("{\"properties\":{\"a\":{\"enum\":{}}}}", "\"enum\" must be an array");
    refused("{\"properties\":{\"a\":{\"minimum\":\"0\"}}}", "\"minimum\" must be a number");
    refused("{\"properties\":{\"a\":{\"exclusiveMinimum\":true}}}", "draft-04");
    refused("{\"properties\":{\"a\":{\"multipleOf\":0}}}", "greater than 0");
    refused("{\"properties\":{\"a\":{\"multipleOf\":-2}}}", "greater than 0");
    refused("{\"properties\":{\"a\":{\"minLength\":-1}}}", "non-negative integer");
    refused("{\"properties\":{\"a\":{\"maxLength\":1.5}}}", "non-negative integer");
    refused("{\"properties\":{\"a\":{\"pattern\":\"(?=x)\"}}}",
            "property a: pattern (?=x): lookahead");
    /* (A name with a NUL: jansson parses none, but builds them.) */
    json_t *props = json_object(), *schema = json_pack("{s:o}", "properties", props);
    json_object_setn_new(props, "a\0b", 3, json_object());
    struct sl_rules *nul = NULL;
    struct sl_err err = {0};
    assert_int_equal(sl_rules_from_json_schema(schema, &nul, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "NUL"));
    json_decref(schema);

    /* Annotations are ignored. */
    struct sl_rules *r =
        compile("{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"x\","
                "\"title\":\"t\",\"description\":\"d\",\"$comment\":\"c\",\"$defs\":{\"x\":{}},"
                "\"examples\":[{}],\"x-vendor\":1,\"type\":[\"object\"],\"properties\":{\"a\":{"
                "\"title\":\"A\",\"description\":\"an a\",\"default\":1,\"examples\":[1],"
                "\"deprecated\":false,\"readOnly\":true,\"writeOnly\":false,\"x-ui\":{},"
                "\"type\":\"integer\"}}}");
    PASS_T(r, "1");
    sl_rules_free(r);
}

static void test_messages(void **state)
{
    (void)state;
    struct sl_rules *r = compile(
        "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"amount\":{\"type\":"
        "\"number\",\"minimum\":0},\"country\":{\"type\":\"string\"},\"email\":{\"type\":"
        "\"string\",\"pattern\":\"^[^@]+@[^@]+$\"}},\"required\":[\"id\",\"country\"]}");
    const char *h[] = {"id", "amount", "country", "email"};
    const char *v1[] = {"1", "-3", "FR", "a@b"};
    const char *v2[] = {"2", "3", "", "a@b"};
    const char *v3[] = {"3", "3", "FR", "ab"};
    const char *v4[] = {"x1", "3", "FR", "a@b"};
    const char *v5[] = {"4", "0", "FR", "a@b"};
    assert_int_equal(csv_row(r, h, v1, 4), SL_EINVAL);
    WHY("amount: -3 is less than the minimum 0");
    assert_int_equal(csv_row(r, h, v2, 4), SL_EINVAL);
    WHY("country: missing (required)");
    assert_int_equal(csv_row(r, h, v3, 4), SL_EINVAL);
    WHY("email: does not match the pattern ^[^@]+@[^@]+$");
    assert_int_equal(csv_row(r, h, v4, 4), SL_EINVAL);
    WHY("id: \"x1\" is not an integer");
    assert_int_equal(csv_row(r, h, v5, 4), 0);
    assert_string_equal(why, "");

    /* Excerpts are cut, quoted and escaped; why is cut to whylen. */
    struct sl_cell cells[4] = {
        {"\"quoted\"\tand a very long value that goes on and on and on", 57, NULL, true},
        {NULL, 0, NULL, false},
        {"FR", 2, NULL, true},
        {NULL, 0, NULL, false}};
    char small[16];
    assert_int_equal(sl_rules_check(r, cells, 0, why, sizeof(why)), SL_EINVAL);
    WHY("id: \"\\\"quoted\\\"\\u0009and a very long value that goes...\" is not an integer");
    assert_int_equal(sl_rules_check(r, cells, 0, small, sizeof(small)), SL_EINVAL);
    assert_string_equal(small, "id: \"\\\"quoted\\\"");
    cells[0] = (struct sl_cell){"\xff\xfe", 2, NULL, true};
    assert_int_equal(sl_rules_check(r, cells, 0, why, sizeof(why)), SL_EINVAL);
    WHY("id: \"\\xff\\xfe\" is not an integer");
    sl_rules_free(r);
}

static struct sl_rules *cols(const char *type, bool optional)
{
    struct sl_pq_column c = {.name = "c", .optional = optional};
    assert_int_equal(sl_pq_type_parse(type, &c), 0);
    struct sl_rules *r = NULL;
    struct sl_err err = {0};
    assert_int_equal(sl_rules_from_columns(&c, 1, &r, &err), 0);
    return r;
}

static void test_columns(void **state)
{
    (void)state;
    struct sl_rules *r = cols("boolean", true);
    PASS_T(r, "true");
    PASS_T(r, "FALSE");
    PASS_T(r, "");
    FAIL_T(r, "1");
    WHY("c: \"1\" is not a boolean");
    PASS_J(r, "true");
    PASS_J(r, "null");
    FAIL_J(r, "\"true\"");
    FAIL_J(r, "0");
    sl_rules_free(r);

    r = cols("int", true);
    PASS_T(r, "2147483647");
    PASS_T(r, "-2147483648");
    FAIL_T(r, "2147483648");
    WHY("c: \"2147483648\" is out of range for int");
    FAIL_T(r, "1.0");
    WHY("c: \"1.0\" is not an int");
    FAIL_T(r, "x");
    PASS_J(r, "7");
    FAIL_J(r, "7.0");
    FAIL_J(r, "\"7\"");
    FAIL_J(r, "2147483648");
    sl_rules_free(r);

    r = cols("bigint", true);
    PASS_T(r, "9223372036854775807");
    PASS_T(r, "-9223372036854775808");
    FAIL_T(r, "9223372036854775808");
    WHY("c: \"9223372036854775808\" is out of range for bigint");
    FAIL_T(r, "12abc");
    PASS_J(r, "-9223372036854775808");
    FAIL_J(r, "1.5");
    sl_rules_free(r);

    r = cols("double", true);
    PASS_T(r, "1.5e300");
    PASS_T(r, "-3");
    PASS_T(r, "1e400"); /* (an infinity, as the conversion makes it) */
    FAIL_T(r, "abc");
    WHY("c: \"abc\" is not a double");
    PASS_J(r, "1");
    PASS_J(r, "1.5");
    FAIL_J(r, "\"1.5\"");
    sl_rules_free(r);

    r = cols("float", true);
    PASS_T(r, "3.4e38");
    FAIL_T(r, "3.5e38");
    WHY("c: \"3.5e38\" is out of range for float");
    PASS_T(r, "1e400");
    FAIL_T(r, "1e");
    PASS_J(r, "2.5");
    FAIL_J(r, "1e300");
    sl_rules_free(r);

    r = cols("string", true);
    PASS_T(r, "anything");
    FAIL_T(r, "\xc0\xaf");
    PASS_J(r, "\"x\"");
    FAIL_J(r, "1");
    WHY("c: 1 is not a string");
    sl_rules_free(r);

    r = cols("binary", true);
    PASS_T(r, "aGVsbG8=");
    PASS_T(r, "hello\xff"); /* (text: the bytes as they are) */
    PASS_J(r, "\"aGk=\"");  /* (JSON: base64) */
    FAIL_J(r, "\"a\"");
    WHY("c: \"a\" is not base64 text (binary)");
    sl_rules_free(r);

    r = cols("date", true);
    PASS_T(r, "2024-02-29");
    FAIL_T(r, "2023-02-29");
    WHY("c: \"2023-02-29\" is not a date (YYYY-MM-DD)");
    FAIL_T(r, "2024-02-29 00:00:00");
    PASS_J(r, "\"2024-02-29\"");
    PASS_J(r, "19000");
    FAIL_J(r, "\"2023-02-29\"");
    FAIL_J(r, "1.5");
    sl_rules_free(r);

    r = cols("timestamp", true);
    PASS_T(r, "2024-02-29 12:30:00");
    PASS_T(r, "2024-02-29T12:30:00.123456Z");
    PASS_T(r, "2024-02-29T12:30:00+02:00");
    PASS_T(r, "2024-02-29");
    FAIL_T(r, "2024-02-29 12:30");
    FAIL_T(r, "2024-02-30 12:30:00");
    FAIL_T(r, "1709209800");
    PASS_J(r, "\"2024-02-29 12:30:00\"");
    PASS_J(r, "1709209800000");
    FAIL_J(r, "true");
    sl_rules_free(r);

    r = cols("timestamp_us", true);
    PASS_T(r, "2024-02-29T12:30:00.123456789Z");
    FAIL_T(r, "2024-02-29T12:30:00.Z");
    sl_rules_free(r);

    r = cols("decimal(10,2)", true);
    PASS_T(r, "12345678.91");
    PASS_T(r, "-0.5");
    PASS_T(r, "+3");
    PASS_T(r, "00012345678.9");
    FAIL_T(r, "123456789.1");
    WHY("c: \"123456789.1\" has more than 8 digits before the point (decimal(10,2))");
    FAIL_T(r, "1.234");
    WHY("c: \"1.234\" has more than 2 digits after the point (decimal(10,2))");
    PASS_T(r, "1.2300");
    FAIL_T(r, "1e3");
    WHY("c: \"1e3\" is not a decimal(10,2)");
    FAIL_T(r, ".");
    PASS_J(r, "\"12.30\"");
    PASS_J(r, "12");
    PASS_J(r, "12.5");
    PASS_J(r, "-99999999");
    PASS_J(r, "99999999.994");
    FAIL_J(r, "99999999.996");
    FAIL_J(r, "100000000");
    WHY("c: 100000000 is out of range for decimal(10,2)");
    FAIL_J(r, "1e8");
    FAIL_J(r, "\"1.234\"");
    FAIL_J(r, "true");
    sl_rules_free(r);

    /* Required (optional false): empty and null fail. */
    r = cols("int", false);
    FAIL_T(r, "");
    WHY("c: missing (required)");
    FAIL_J(r, "null");
    WHY("c: missing (required)");
    PASS_T(r, "1");
    sl_rules_free(r);

    /* Several columns: names without regard to case; other columns allowed. */
    struct sl_pq_column cs[3] = {{"id", SL_PQ_INT64, false, 0, 0},
                                 {"Name", SL_PQ_STRING, true, 0, 0},
                                 {"price", SL_PQ_DECIMAL, true, 18, 4}};
    struct sl_err err = {0};
    assert_int_equal(sl_rules_from_columns(cs, 3, &r, &err), 0);
    assert_int_equal(sl_rules_index(r, "NAME", 4), 1);
    assert_int_equal(sl_rules_index(r, "ID", 2), 0);
    assert_int_equal(json_row(r, "{\"ID\":5,\"name\":\"x\",\"extra\":[]}"), 0);
    assert_int_equal(json_row(r, "{\"name\":\"x\"}"), SL_EINVAL);
    WHY("id: missing (required)");
    assert_int_equal(json_row(r, "{\"id\":1,\"price\":\"99999999999999.9999\"}"), 0);
    assert_int_equal(json_row(r, "{\"id\":1,\"price\":9223372036854775807}"), SL_EINVAL);
    sl_rules_free(r);

    /* Refusals. */
    struct sl_pq_column dup[2] = {{"a", SL_PQ_INT64, true, 0, 0}, {"A", SL_PQ_STRING, true, 0, 0}};
    assert_int_equal(sl_rules_from_columns(dup, 2, &r, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "twice"));
    assert_null(r);
    struct sl_pq_column noname = {NULL, SL_PQ_INT64, true, 0, 0};
    assert_int_equal(sl_rules_from_columns(&noname, 1, &r, &err), SL_EINVAL);
    struct sl_pq_column bad = {"d", SL_PQ_DECIMAL, true, 5, 6};
    assert_int_equal(sl_rules_from_columns(&bad, 1, &r, &err), SL_EINVAL);
    assert_int_equal(sl_rules_from_columns(NULL, 0, &r, &err), 0);
    assert_int_equal(sl_rules_count(r), 0);
    sl_rules_free(r);
    sl_rules_free(NULL);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_text),
        cmocka_unit_test(test_types_json),
        cmocka_unit_test(test_required_absent_null),
        cmocka_unit_test(test_additional_properties),
        cmocka_unit_test(test_several_types_readings),
        cmocka_unit_test(test_enum_const),
        cmocka_unit_test(test_numeric_bounds),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
