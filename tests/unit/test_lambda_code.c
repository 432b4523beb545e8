/* Unit tests of function package checking and unpacking: layout and modes
 * kept, and every escape refused before anything is written: "..",
 * absolute names, links that leave the package, and zip bombs. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <cmocka.h>

#include "services/lambda/internal.h"

struct entry {
    const char *name, *data;
    unsigned mode; /* unix mode with type bits; 0: a plain 0644 file */
};

/* Builds a zip in memory (malloc'd into *out). */
static size_t build_zip(const struct entry *e, size_t n, char **out)
{
    zip_error_t zerr;
    zip_error_init(&zerr);
    zip_source_t *buf = zip_source_buffer_create(NULL, 0, 0, &zerr);
    zip_source_keep(buf);
    zip_t *za = zip_open_from_source(buf, ZIP_TRUNCATE, &zerr);
    assert_non_null(za);
    for (size_t i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(za, e[i].data, strlen(e[i].data), 0);
        zip_int64_t idx = zip_file_add(za, e[i].name, s, ZIP_FL_ENC_UTF_8);
        assert_true(idx >= 0);
        unsigned mode = e[i].mode ? e[i].mode : 0100644;
        zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                         (zip_uint32_t)mode << 16);
    }
    assert_int_equal(zip_close(za), 0);
    zip_source_open(buf);
    zip_source_seek(buf, 0, SEEK_END);
    zip_int64_t len = zip_source_tell(buf);
    zip_source_seek(buf, 0, SEEK_SET);
    *out = malloc((size_t)len);
    assert_int_equal(zip_source_read(buf, *out, (zip_uint64_t)len), len);
    zip_source_close(buf);
    zip_source_free(buf);
    return (size_t)len;
}

static char dir[640];

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("SLUICE_TEST_TMP");
    char tmpl[600];
    if (base) {
        sl_mkdirs(base, 0755);
        snprintf(tmpl, sizeof(tmpl), "%s/code-XXXXXX", base);
    } else {
        snprintf(tmpl, sizeof(tmpl), "/tmp/code-XXXXXX");
    }
    assert_non_null(mkdtemp(tmpl));
    snprintf(dir, sizeof(dir), "%s", tmpl);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sl_rm_tree(dir);
    return 0;
}

/* Unpacks a package; returns the code and the directory it went to. */
static int unpack(const char *data, size_t len, char *out, size_t n, struct sl_err *err)
{
    struct sl_lambda_code code = {.data = data, .len = len, .fd = -1};
    uint8_t d[32];
    sl_sha256(data, len, d);
    sl_hex_encode(d, sizeof(d), code.sha_hex);
    return sl_lambda_code_unpack(dir, &code, out, n, err);
}

static void test_unpacks_tree_and_modes(void **state)
{
    (void)state;
    const struct entry e[] = {
        {"app.py", "print(1)\n", 0},
        {"pkg/mod/inner.py", "x = 1\n", 0},
        {"bootstrap", "#!/bin/sh\n", 0100755},
        {"link", "pkg/mod/inner.py", 0120777},
    };
    char *zip, out[4096];
    size_t len = build_zip(e, 4, &zip);
    struct sl_err err = {0};
    assert_int_equal(unpack(zip, len, out, sizeof(out), &err), 0);
    char path[4300];
    struct stat st;
    snprintf(path, sizeof(path), "%s/pkg/mod/inner.py", out);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof(path), "%s/bootstrap", out);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_mode & 0100);
    snprintf(path, sizeof(path), "%s/app.py", out);
    assert_int_equal(stat(path, &st), 0);
    assert_false(st.st_mode & 0111);
    snprintf(path, sizeof(path), "%s/link", out);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    /* The same package again: unpacked once, found in place. */
    assert_int_equal(unpack(zip, len, out, sizeof(out), &err), 0);
    free(zip);
}

static void refuse(const struct entry *e, size_t n, const char *why)
{
    char *zip, out[4096];
    size_t len = build_zip(e, n, &zip);
    struct sl_err err = {0};
    int rc = unpack(zip, len, out, sizeof(out), &err);
    free(zip);
    if (rc != SL_EINVAL)
        fail_msg("%s: rc %d (%s)", why, rc, err.msg);
    /* Nothing of it was left behind. */
    assert_int_equal(access(out, F_OK), -1);
}

static void test_refuses_escapes(void **state)
{
    (void)state;
    const struct entry dotdot[] = {{"ok.py", "1", 0}, {"../evil.py", "x", 0}};
    refuse(dotdot, 2, "..");
    const struct entry deep[] = {{"a/b/../../../evil.py", "x", 0}};
    refuse(deep, 1, "a/b/../../..");
    const struct entry abs[] = {{"/etc/evil", "x", 0}};
    refuse(abs, 1, "absolute");
    const struct entry back[] = {{"a\\..\\evil", "x", 0}};
    refuse(back, 1, "backslash");
    const struct entry link_out[] = {{"l", "../../etc/passwd", 0120777}};
    refuse(link_out, 1, "link out of the package");
    const struct entry link_abs[] = {{"l", "/etc/passwd", 0120777}};
    refuse(link_abs, 1, "absolute link");
    /* A chain of links, each harmless as text: x/y -> .., x/l -> y/.., then
     * a file through x/l would land outside. */
    const struct entry chain[] = {
        {"x/y", "..", 0120777}, {"x/l", "y/..", 0120777}, {"x/l/PWNED", "boom", 0}};
    char *zip, out[4096];
    size_t len = build_zip(chain, 3, &zip);
    struct sl_err err = {0};
    int rc = unpack(zip, len, out, sizeof(out), &err);
    free(zip);
    assert_int_not_equal(rc, 0);
    char outside[800];
    snprintf(outside, sizeof(outside), "%s/PWNED", dir);
    assert_int_equal(access(outside, F_OK), -1);
    const struct entry nested[] = {{"a", "b", 0120777}, {"a/c", "d", 0120777}};
    refuse(nested, 2, "a link under a link");
}

static void test_refuses_garbage(void **state)
{
    (void)state;
    char out[4096];
    struct sl_err err = {0};
    const char junk[] = "PK\x03\x04 this is not really a zip";
    assert_int_equal(unpack(junk, sizeof(junk), out, sizeof(out), &err), SL_EINVAL);
}

static void test_refuses_bomb(void **state)
{
    (void)state;
    /* 260 MB of zeros compress to a few hundred KB: past 250 MB unzipped. */
    char path[700];
    snprintf(path, sizeof(path), "%s/zeros", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 260LL << 20), 0);
    close(fd);
    char zpath[800];
    snprintf(zpath, sizeof(zpath), "%s/bomb.zip", dir);
    int zerr = 0;
    zip_t *za = zip_open(zpath, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    assert_non_null(za);
    zip_source_t *s = zip_source_file(za, path, 0, -1);
    assert_true(zip_file_add(za, "zeros.bin", s, 0) >= 0);
    assert_int_equal(zip_close(za), 0);
    unlink(path);
    int zfd = open(zpath, O_RDONLY);
    struct stat st;
    fstat(zfd, &st);
    assert_true(st.st_size < 2 << 20);
    struct sl_lambda_code code = {.fd = zfd};
    snprintf(code.sha_hex, sizeof(code.sha_hex), "%064d", 7);
    char out[4096];
    struct sl_err err = {0};
    assert_int_equal(sl_lambda_code_unpack(dir, &code, out, sizeof(out), &err), SL_ETOOBIG);
    assert_non_null(strstr(err.msg, "unzipped size"));
    close(zfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unpacks_tree_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_bomb, setup, teardown),
    };
    return cmocka_run_group_tests_name("lambda_code", tests, NULL, NULL);
}
