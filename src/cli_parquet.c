/*
 * `sluice parquet`: Parquet files from JSON Lines and back, with Sluice's
 * own writer and reader (formats/parquet.h).
 *
 *   sluice parquet write --schema 'id:bigint!,name:string,price:decimal(10,2)'
 *                        [--codec none|snappy|gzip|zstd] [--dictionary] [--page-v2]
 *                        [--row-group-rows N] [--page-rows N] OUT.parquet < rows.jsonl
 *   sluice parquet read [--schema] FILE.parquet > rows.jsonl
 *
 * A schema is comma-separated name:type pairs (Glue's type names);
 * columns may be null unless their type ends in '!'. JSON values map as
 * formats/pqjson.c says.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "formats/parquet.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: sluice parquet write --schema 'name:type[!],...' [--codec none|snappy|gzip|"
            "zstd]\n"
            "                            [--dictionary] [--page-v2] [--row-group-rows N] "
            "[--page-rows N] OUT\n"
            "       sluice parquet read [--schema] FILE\n");
    return 2;
}

static int to_file(void *arg, const void *p, size_t n)
{
    return fwrite(p, 1, n, arg) == n ? 0 : SL_EIO;
}

static int cmd_write(int argc, char **argv)
{
    char *schema = NULL;
    const char *out = NULL;
    struct sl_pq_options o = {.codec = SL_PQ_SNAPPY};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--schema") == 0 && next) {
            schema = argv[++i];
        } else if (strcmp(a, "--codec") == 0 && next) {
            i++;
            if (strcmp(next, "none") == 0)
                o.codec = SL_PQ_UNCOMPRESSED;
            else if (strcmp(next, "snappy") == 0)
                o.codec = SL_PQ_SNAPPY;
            else if (strcmp(next, "gzip") == 0)
                o.codec = SL_PQ_GZIP;
            else if (strcmp(next, "zstd") == 0)
                o.codec = SL_PQ_ZSTD;
            else
                return usage();
        } else if (strcmp(a, "--dictionary") == 0) {
            o.dictionary = true;
        } else if (strcmp(a, "--page-v2") == 0) {
            o.page_version = 2;
        } else if (strcmp(a, "--row-group-rows") == 0 && next) {
            o.row_group_rows = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(a, "--page-rows") == 0 && next) {
            o.page_rows = strtoul(argv[++i], NULL, 10);
        } else if (a[0] != '-' && !out) {
            out = a;
        } else {
            return usage();
        }
    }
    struct sl_pq_column cols[256];
    size_t ncols = 0;
    struct sl_err serr = {0};
    if (schema && sl_pq_schema_parse(schema, cols, 256, &ncols, &serr)) {
        fprintf(stderr, "sluice parquet: %s\n", serr.msg);
        return 2;
    }
    if (!schema || !out)
        return usage();
    FILE *f = fopen(out, "wb");
    if (!f) {
        fprintf(stderr, "sluice parquet: %s: %s\n", out, strerror(errno));
        return 1;
    }
    struct sl_pq_writer *w = NULL;
    struct sl_err err = {0};
    int rc = sl_pq_writer_new(cols, ncols, &o, to_file, f, &w, &err);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t lineno = 0;
    struct sl_pq_value *row = calloc(ncols, sizeof(*row));
    if (!row && !rc)
        rc = sl_errf(&err, SL_ENOMEM, "out of memory");
    while (!rc && (len = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)len)
            continue;
        json_error_t je;
        json_t *doc = json_loadb(line, (size_t)len, 0, &je);
        if (!json_is_object(doc)) {
            json_decref(doc);
            rc = sl_errf(&err, SL_EINVAL, "line %zu is not a JSON object", lineno);
            break;
        }
        struct sl_arena a;
        sl_arena_init(&a, 0);
        for (size_t c = 0; !rc && c < ncols; c++)
            rc = sl_pq_value_from_json(&cols[c], json_object_get(doc, cols[c].name), &a, &row[c],
                                       &err);
        if (!rc)
            rc = sl_pq_write_row(w, row, &err);
        if (rc == SL_EINVAL) {
            char why[sizeof(err.msg)];
            snprintf(why, sizeof(why), "%s", err.msg);
            sl_errf(&err, rc, "line %zu: %.900s", lineno, why);
        }
        sl_arena_free(&a);
        json_decref(doc);
    }
    free(line);
    free(row);
    if (!rc)
        rc = sl_pq_writer_finish(w, &err);
    sl_pq_writer_free(w);
    if (fclose(f) && !rc)
        rc = sl_errf(&err, SL_EIO, "%s: %s", out, strerror(errno));
    if (rc) {
        fprintf(stderr, "sluice parquet: %s\n", err.msg[0] ? err.msg : sl_strerror(rc));
        unlink(out);
        return 1;
    }
    return 0;
}

static int print_group(void *arg, const struct sl_pq_group *g)
{
    (void)arg;
    for (size_t r = 0; r < g->nrows; r++) {
        json_t *obj = json_object();
        for (size_t c = 0; c < g->ncols; c++) {
            json_t *v = sl_pq_value_to_json(&g->columns[c], &g->cols[c][r]);
            if (!v || json_object_set_new(obj, g->columns[c].name, v)) {
                /* (Text that is not UTF-8, in a value or a column's name.) */
                json_decref(obj);
                fprintf(stderr, "sluice parquet: column %s, row %zu: not UTF-8 text\n",
                        g->columns[c].name, r);
                return SL_EINVAL;
            }
        }
        char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(obj);
        if (!text || puts(text) < 0) {
            free(text);
            return SL_EIO;
        }
        free(text);
    }
    return 0;
}

static int cmd_read(int argc, char **argv)
{
    bool schema = false;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--schema") == 0)
            schema = true;
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            return usage();
    }
    if (!path)
        return usage();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        fprintf(stderr, "sluice parquet: %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    size_t len = (size_t)st.st_size;
    void *data = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (len && data == MAP_FAILED) {
        fprintf(stderr, "sluice parquet: %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct sl_pq_file *f = NULL;
    struct sl_err err = {0};
    int rc = sl_pq_open(data ? data : "", len, &f, &err);
    if (!rc && schema) {
        json_t *cols = json_array();
        for (size_t c = 0; c < sl_pq_ncolumns(f); c++) {
            const struct sl_pq_column *col = &sl_pq_columns(f)[c];
            char type[64];
            json_array_append_new(cols, json_pack("{s:s, s:s, s:b}", "name", col->name, "type",
                                                  sl_pq_type_name(col, type, sizeof(type)),
                                                  "optional", col->optional));
        }
        json_t *doc = json_pack("{s:o, s:I}", "columns", cols, "rows",
                                (json_int_t)sl_pq_nrows(f));
        char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        puts(text ? text : "{}");
        free(text);
        json_decref(doc);
    } else if (!rc) {
        rc = sl_pq_read(f, print_group, NULL, &err);
    }
    sl_pq_close(f);
    if (data && data != MAP_FAILED)
        munmap(data, len);
    if (fflush(stdout) && !rc)
        rc = SL_EIO;
    if (rc) {
        fprintf(stderr, "sluice parquet: %s: %s\n", path, err.msg[0] ? err.msg : sl_strerror(rc));
        return 1;
    }
    return 0;
}

int sl_cli_parquet(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "write") == 0)
        return cmd_write(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "read") == 0)
        return cmd_read(argc - 1, argv + 1);
    return usage();
}
