/*
 * `sluice blueprint deploy NAME --steps validate+convert --output s3://... [...]`:
 * the blueprint packaged as a function (a zip whose bootstrap is this very
 * program) and created, or updated when it exists, through Lambda's API on
 * --endpoint, as `aws lambda create-function` would. `--zip FILE` writes
 * the package and stops, for a deployment by other means.
 */
#include "blueprint/blueprint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "cli.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: sluice blueprint deploy NAME --steps validate|convert|validate+convert\n"
            "         [--output s3://bucket/prefix/] [--rejected s3://bucket/prefix/]\n"
            "         [--schema 'name:type[!],...'] [--json-schema JSON]\n"
            "         [--catalog-table db.table] [--partition-by col,...]\n"
            "         [--input-format auto|csv|jsonl|json|parquet] [--csv-delimiter C]\n"
            "         [--csv-header true|false] [--codec none|snappy|gzip|zstd]\n"
            "         [--max-rejected N] [--memory MB] [--timeout S] [--ephemeral-storage MB]\n"
            "         [--role ARN]\n"
            "         [--env NAME=VALUE]... [--endpoint URL] [--zip FILE]\n"
            "       sluice blueprint run   (the bootstrap, inside a function)\n");
}

/* The package: bootstrap (this program, executable) in a zip, in memory. */
static int package(struct sl_buf *out)
{
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, NULL);
    zip_t *za = src ? zip_open_from_source(src, ZIP_TRUNCATE, NULL) : NULL;
    if (!za) {
        zip_source_free(src);
        return SL_ENOMEM;
    }
    zip_source_keep(src);
    zip_source_t *exe = zip_source_file(za, "/proc/self/exe", 0, -1);
    zip_int64_t idx = exe ? zip_file_add(za, "bootstrap", exe, ZIP_FL_OVERWRITE) : -1;
    if (idx < 0) {
        zip_source_free(exe);
        zip_discard(za);
        zip_source_free(src);
        return SL_EIO;
    }
    zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX, 0100755u << 16);
    if (zip_close(za) < 0) {
        zip_discard(za);
        zip_source_free(src);
        return SL_EIO;
    }
    int rc = 0;
    zip_stat_t st;
    if (zip_source_stat(src, &st) || zip_source_open(src)) {
        rc = SL_EIO;
    } else {
        char *p = sl_buf_extend(out, (size_t)st.size);
        if (!p || zip_source_read(src, p, st.size) != (zip_int64_t)st.size)
            rc = SL_EIO;
        zip_source_close(src);
    }
    zip_source_free(src);
    return rc;
}

static int call(const char *endpoint, const char *method, const char *path, json_t *body,
                int *status, struct sl_buf *answer)
{
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return SL_ENOMEM;
    const char *headers[] = {"Content-Type", "application/json", NULL};
    struct sl_cli_reply r;
    int rc = sl_cli_http(endpoint, method, path, headers, text, strlen(text), &r);
    free(text);
    if (rc)
        return SL_EIO;
    *status = r.status;
    sl_buf_append(answer, r.body.data ? r.body.data : "", r.body.len);
    sl_cli_reply_free(&r);
    return 0;
}

int sl_cli_blueprint(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "run"))
        return bp_bootstrap_main();
    if (argc < 2 || strcmp(argv[0], "deploy") != 0 || argv[1][0] == '-') {
        usage();
        return 2;
    }
    const char *name = argv[1], *steps = NULL, *endpoint = NULL, *zip_out = NULL;
    const char *role = "arn:aws:iam::000000000000:role/sluice-blueprint";
    /* (Outputs wait in /tmp until their object is done: room for a few GB
     * of Parquet by default; 10,240 MB at most, as on AWS.) */
    long memory = 1769, timeout = 900, ephemeral = 4096;
    json_t *vars = json_object();
    static const struct {
        const char *flag, *var;
    } map[] = {{"--output", "OUTPUT"},
               {"--rejected", "REJECTED"},
               {"--schema", "SCHEMA"},
               {"--json-schema", "JSON_SCHEMA"},
               {"--catalog-table", "CATALOG_TABLE"},
               {"--partition-by", "PARTITION_BY"},
               {"--input-format", "INPUT_FORMAT"},
               {"--csv-delimiter", "CSV_DELIMITER"},
               {"--csv-header", "CSV_HEADER"},
               {"--codec", "CODEC"},
               {"--max-rejected", "MAX_REJECTED"}};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool known = false;
        for (size_t k = 0; k < SL_ARRAY_LEN(map) && v; k++)
            if (!strcmp(a, map[k].flag)) {
                json_object_set_new(vars, map[k].var, json_string(v));
                known = true;
            }
        if (known) {
            i++;
            continue;
        }
        if (!v) {
            usage();
            json_decref(vars);
            return 2;
        }
        if (!strcmp(a, "--steps"))
            steps = v;
        else if (!strcmp(a, "--endpoint"))
            endpoint = v;
        else if (!strcmp(a, "--zip"))
            zip_out = v;
        else if (!strcmp(a, "--role"))
            role = v;
        else if (!strcmp(a, "--memory"))
            memory = atol(v);
        else if (!strcmp(a, "--timeout"))
            timeout = atol(v);
        else if (!strcmp(a, "--ephemeral-storage"))
            ephemeral = atol(v);
        else if (!strcmp(a, "--env") && strchr(v, '=') && strchr(v, '=') != v) {
            char k[256];
            snprintf(k, sizeof(k), "%.*s", (int)(strchr(v, '=') - v), v);
            json_object_set_new(vars, k, json_string(strchr(v, '=') + 1));
        } else {
            usage();
            json_decref(vars);
            return 2;
        }
        i++;
    }
    if (!steps) {
        fprintf(stderr, "sluice blueprint deploy: --steps is required\n");
        json_decref(vars);
        return 2;
    }
    struct sl_buf zip;
    sl_buf_init(&zip, 0);
    if (package(&zip)) {
        fprintf(stderr, "sluice blueprint: cannot package this program\n");
        json_decref(vars);
        sl_buf_free(&zip);
        return 1;
    }
    if (zip_out) {
        FILE *f = fopen(zip_out, "wb");
        bool ok = f && fwrite(zip.data, 1, zip.len, f) == zip.len;
        if (f && fclose(f))
            ok = false;
        sl_buf_free(&zip);
        json_decref(vars);
        if (!ok) {
            fprintf(stderr, "sluice blueprint: cannot write %s\n", zip_out);
            return 1;
        }
        printf("%s: handler %s, runtime provided.al2\n", zip_out, steps);
        return 0;
    }
    struct sl_buf b64;
    sl_buf_init(&b64, 0);
    sl_base64_encode(&b64, (const uint8_t *)zip.data, zip.len);
    sl_buf_free(&zip);
    const char *ep = sl_cli_endpoint(endpoint);
    json_t *config = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:{s:I}, s:{s:O}}",
                               "FunctionName", name, "Runtime", "provided.al2", "Handler", steps,
                               "Role", role, "MemorySize", (json_int_t)memory, "Timeout",
                               (json_int_t)timeout, "EphemeralStorage", "Size",
                               (json_int_t)ephemeral, "Environment", "Variables", vars);
    json_t *create = json_deep_copy(config);
    json_object_set_new(create, "Code", json_pack("{s:s}", "ZipFile", b64.data ? b64.data : ""));
    int status = 0, rc;
    struct sl_buf answer;
    sl_buf_init(&answer, 0);
    rc = call(ep, "POST", "/2015-03-31/functions", create, &status, &answer);
    json_decref(create);
    if (!rc && status == 409) {
        /* It exists: new code, then the configuration. */
        char path[400];
        snprintf(path, sizeof(path), "/2015-03-31/functions/%.200s/code", name);
        json_t *code = json_pack("{s:s}", "ZipFile", b64.data ? b64.data : "");
        answer.len = 0;
        rc = call(ep, "PUT", path, code, &status, &answer);
        json_decref(code);
        if (!rc && status == 200) {
            snprintf(path, sizeof(path), "/2015-03-31/functions/%.200s/configuration", name);
            json_object_del(config, "FunctionName");
            answer.len = 0;
            rc = call(ep, "PUT", path, config, &status, &answer);
        }
    }
    sl_buf_free(&b64);
    json_decref(config);
    json_decref(vars);
    if (!rc && (status == 200 || status == 201)) {
        json_t *j = json_loadb(answer.data ? answer.data : "", answer.len, 0, NULL);
        printf("%s\n", json_string_value(json_object_get(j, "FunctionArn"))
                           ? json_string_value(json_object_get(j, "FunctionArn"))
                           : name);
        json_decref(j);
        sl_buf_free(&answer);
        return 0;
    }
    fprintf(stderr, "sluice blueprint deploy: %s answered %d: %.*s\n", ep, status,
            (int)answer.len, answer.data ? answer.data : "");
    sl_buf_free(&answer);
    return 1;
}
