/* The C side of the sluice_data Python module
 * (runtimes/python/sluice_data/sluice_data.c, built into this test too):
 * rows of JSON Lines written as Parquet with a schema in Glue's form and
 * read back as JSON, options, and the errors that name the row and the
 * column. (tests/integration/test_sluice_data.py drives it from Python;
 * here it runs under ASan and UBSan too.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"

/* (No header: Python's ctypes is its only other caller.) */
int sl_data_write(const char *schema_json, const char *options_json, const char *jsonl,
                  size_t n, void **out, size_t *out_len, char **error);
int sl_data_read(const void *data, size_t n, char **schema_out, char **rows_out,
                 size_t *rows_len, char **error);
void sl_data_free(void *p);
int sl_data_abi(void);

static const char SCHEMA[] =
    "[{\"Name\":\"id\",\"Type\":\"bigint\",\"Required\":true},"
    "{\"Name\":\"n\",\"Type\":\"int\"},{\"Name\":\"f\",\"Type\":\"float\"},"
    "{\"Name\":\"d\",\"Type\":\"double\"},{\"Name\":\"s\",\"Type\":\"string\"},"
    "{\"Name\":\"ok\",\"Type\":\"boolean\"},{\"Name\":\"raw\",\"Type\":\"binary\"},"
    "{\"Name\":\"day\",\"Type\":\"date\"},{\"Name\":\"ms\",\"Type\":\"timestamp\"},"
    "{\"Name\":\"us\",\"Type\":\"timestamp_us\"},{\"Name\":\"p\",\"Type\":\"decimal(9,2)\","
    "\"Required\":false}]";

static const char ROWS[] =
    "{\"id\":-9223372036854775808,\"n\":-7,\"f\":0.25,\"d\":\"-Infinity\",\"s\":\"a\\u0000\xc3\xa9\","
    "\"ok\":true,\"raw\":\"AP8=\",\"day\":\"1969-12-31\",\"ms\":\"2024-05-01T12:30:00.123+02:00\","
    "\"us\":\"1969-12-31T23:59:59.999999Z\",\"p\":\"-.05\"}\n"
    "\n"
    "{\"id\":2,\"d\":\"NaN\",\"unknown\":[1,2]}\r\n"
    "{\"id\":3,\"n\":2147483647,\"d\":1.5,\"s\":\"\",\"ok\":false,\"raw\":\"\",\"day\":0,"
    "\"ms\":0,\"us\":1,\"p\":12}";

static const char WANT[] =
    "[[-9223372036854775808,-7,0.25,\"-Infinity\",\"a\\u0000\xc3\xa9\",true,\"AP8=\",-1,"
    "1714559400123,-1,\"-0.05\"],"
    "[2,null,null,\"NaN\",null,null,null,null,null,null,null],"
    "[3,2147483647,null,1.5,\"\",false,\"\",0,0,1,\"12.00\"]]";

/* Writes rows with options; returns the file (sl_data_free it). */
static void *write_ok(const char *options, const char *rows, size_t *len)
{
    void *out = NULL;
    char *error = NULL;
    int rc = sl_data_write(SCHEMA, options, rows, strlen(rows), &out, len, &error);
    if (rc)
        fail_msg("sl_data_write: %d %s", rc, error ? error : "");
    assert_null(error);
    assert_non_null(out);
    return out;
}

static void test_round_trip(void **state)
{
    (void)state;
    assert_int_equal(sl_data_abi(), 1);
    static const char *const options[] = {
        NULL, "", "{}", "{\"codec\":\"none\",\"page_version\":2}",
        "{\"codec\":\"zstd\",\"row_group_rows\":1,\"page_rows\":1,\"dictionary\":true}",
        "{\"codec\":\"gzip\",\"dictionary\":false}"};
    for (size_t i = 0; i < SL_ARRAY_LEN(options); i++) {
        size_t len = 0, rows_len = 0;
        void *file = write_ok(options[i], ROWS, &len);
        assert_true(len > 8 && memcmp(file, "PAR1", 4) == 0);
        char *schema = NULL, *rows = NULL, *error = NULL;
        assert_int_equal(sl_data_read(file, len, &schema, &rows, &rows_len, &error), 0);
        assert_null(error);
        assert_string_equal(rows, WANT);
        assert_int_equal(rows_len, strlen(WANT));
        assert_non_null(strstr(schema, "{\"Name\":\"id\",\"Type\":\"bigint\",\"Required\":true}"));
        assert_non_null(strstr(schema, "{\"Name\":\"p\",\"Type\":\"decimal(9,2)\",\"Required\":false}"));
        sl_data_free(rows);
        sl_data_free(schema);
        /* The schema alone. */
        assert_int_equal(sl_data_read(file, len, &schema, NULL, NULL, &error), 0);
        assert_non_null(strstr(schema, "\"us\",\"Type\":\"timestamp_us\""));
        sl_data_free(schema);
        sl_data_free(file);
    }
    /* No rows: a file of none. */
    size_t len = 0, rows_len = 0;
    void *file = write_ok(NULL, "", &len);
    char *schema = NULL, *rows = NULL;
    assert_int_equal(sl_data_read(file, len, &schema, &rows, &rows_len, NULL), 0);
    assert_string_equal(rows, "[]");
    sl_data_free(rows);
    sl_data_free(schema);
    sl_data_free(file);
    sl_data_free(NULL);
}

/* sl_data_write fails with SL_EINVAL and a message holding want. */
static void write_fails(const char *schema, const char *options, const char *rows,
                        const char *want)
{
    void *out = (void *)1;
    size_t len = 1;
    char *error = NULL;
    int rc = sl_data_write(schema, options, rows, strlen(rows), &out, &len, &error);
    assert_int_equal(rc, SL_EINVAL);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_non_null(error);
    if (!strstr(error, want))
        fail_msg("'%s' does not say '%s'", error, want);
    sl_data_free(error);
}

static void test_refusals(void **state)
{
    (void)state;
    write_fails("{", NULL, "", "the schema is not a JSON array");
    write_fails("[]", NULL, "", "no columns");
    write_fails("[{\"Type\":\"int\"}]", NULL, "", "column 0 of the schema has no Name");
    write_fails("[{\"Name\":\"a\",\"Type\":\"varchar(3)\"}]", NULL, "",
                "column a: unknown type 'varchar(3)'");
    write_fails("[{\"Name\":\"a\"}]", NULL, "", "column a: unknown type '(none)'");
    write_fails("[{\"Name\":\"a\",\"Type\":\"int\",\"Required\":1}]", NULL, "",
                "Required is not true or false");
    write_fails("[{\"Name\":\"a\",\"Type\":\"int\"},{\"Name\":\"a\",\"Type\":\"date\"}]", NULL,
                "", "column a comes twice");
    write_fails(SCHEMA, "[]", "", "the options are not a JSON object");
    write_fails(SCHEMA, "{\"codec\":\"lz4\"}", "", "unknown codec 'lz4'");
    write_fails(SCHEMA, "{\"row_group_rows\":-1}", "", "option row_group_rows");
    write_fails(SCHEMA, "{\"page_version\":3}", "", "option page_version");
    write_fails(SCHEMA, "{\"colour\":\"red\"}", "", "option colour");
    write_fails(SCHEMA, NULL, "{\"id\":1}\n[1]", "row 1: not a JSON object");
    write_fails(SCHEMA, NULL, "{\"id\":1}\n{\"id\":", "row 1: not a JSON object: ");
    write_fails(SCHEMA, NULL, "{\"id\":1}\n{\"n\":1}", "row 1: column id is required");
    write_fails(SCHEMA, NULL, "{\"id\":1,\"n\":2147483648}", "row 0: column n");
    write_fails(SCHEMA, NULL, "{\"id\":1,\"d\":\"nan\"}", "row 0: column d");
    write_fails(SCHEMA, NULL, "{\"id\":1,\"raw\":\"not base64\"}", "row 0: column raw");
    write_fails(SCHEMA, NULL, "{\"id\":1,\"p\":\"1.005\"}", "row 0: column p");
    write_fails(SCHEMA, NULL, "{\"id\":1,\"s\":\"\xff\"}", "row 0: not a JSON object");

    char *schema = (char *)1, *rows = (char *)1, *error = NULL;
    size_t len = 1;
    assert_int_equal(sl_data_read("id,name\n", 8, &schema, &rows, &len, &error), SL_EINVAL);
    assert_null(schema);
    assert_null(rows);
    assert_non_null(strstr(error, "not a Parquet file"));
    sl_data_free(error);
    assert_int_equal(sl_data_read(NULL, 0, &schema, NULL, NULL, NULL), SL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
