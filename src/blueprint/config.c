/*
 * A blueprint's configuration: its environment variables (README's
 * "Data blueprints" lists them) and its Handler, which names the steps.
 */
#include "blueprint/blueprint.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats/validate.h"

#define MAX_COLUMNS 1024

int bp_s3_uri(const char *uri, char *bucket, size_t bn, char *prefix, size_t pn)
{
    if (!uri || strncmp(uri, "s3://", 5) != 0)
        return SL_EINVAL;
    const char *b = uri + 5, *slash = strchr(b, '/');
    size_t blen = slash ? (size_t)(slash - b) : strlen(b);
    if (!blen || blen >= bn)
        return SL_EINVAL;
    memcpy(bucket, b, blen);
    bucket[blen] = '\0';
    const char *rest = slash ? slash + 1 : "";
    size_t rl = strlen(rest);
    if (rl + 2 > pn)
        return SL_EINVAL;
    memcpy(prefix, rest, rl + 1);
    if (rl && prefix[rl - 1] != '/') {
        prefix[rl] = '/';
        prefix[rl + 1] = '\0';
    }
    return 0;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static bool truthy(const char *v, bool dflt)
{
    if (!v)
        return dflt;
    return !strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes");
}

int bp_catalog_columns(struct bp_aws *aws, const char *db, const char *table,
                       struct sl_pq_column **colsp, size_t *np, struct sl_err *err)
{
    char code[128];
    json_t *out = NULL;
    *colsp = NULL;
    *np = 0;
    json_t *in = json_pack("{s:s, s:s}", "DatabaseName", db, "Name", table);
    int rc = bp_json_call(aws, "glue", "AWSGlue.GetTable", in, &out, code, sizeof(code), err);
    json_decref(in);
    if (rc) {
        json_decref(out);
        /* (A table that is not there yet is made by the first conversion.) */
        return !strcmp(code, "EntityNotFoundException") ? 0 : rc;
    }
    json_t *t = json_object_get(out, "Table");
    json_t *cols = json_object_get(json_object_get(t, "StorageDescriptor"), "Columns");
    json_t *keys = json_object_get(t, "PartitionKeys");
    size_t n = json_array_size(cols) + json_array_size(keys), got = 0;
    struct sl_pq_column *list = n ? calloc(n, sizeof(*list)) : NULL;
    if (n && !list) {
        json_decref(out);
        return SL_ENOMEM;
    }
    for (size_t i = 0; !rc && i < n; i++) {
        size_t nc = json_array_size(cols);
        json_t *c = i < nc ? json_array_get(cols, i) : json_array_get(keys, i - nc);
        const char *name = json_string_value(json_object_get(c, "Name"));
        const char *type = json_string_value(json_object_get(c, "Type"));
        struct sl_pq_column *col = &list[got];
        if (!name || !type || sl_pq_type_parse(type, col)) {
            rc = sl_errf(err, SL_EINVAL, "%s.%s: column %s has a type Sluice does not write (%s)",
                         db, table, name ? name : "?", type ? type : "none");
            break;
        }
        col->name = strdup(name);
        col->optional = true;
        if (!col->name)
            rc = SL_ENOMEM;
        else
            got++;
    }
    json_decref(out);
    if (rc) {
        for (size_t i = 0; i < got; i++)
            free((char *)list[i].name);
        free(list);
        return rc;
    }
    *colsp = list;
    *np = got;
    return 0;
}

int bp_config_load(struct bp_config *cfg, const char *steps, struct bp_aws *aws,
                   struct sl_err *err)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->delimiter = ',';
    cfg->max_rejected = -1;
    cfg->codec = SL_PQ_SNAPPY;
    cfg->tmpdir = env("TMPDIR") ? env("TMPDIR") : "/tmp";
    /* The steps: the Handler ("validate", "convert", "validate+convert"). */
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", steps ? steps : "");
    for (char *save = NULL, *s = strtok_r(buf, "+,; ", &save); s;
         s = strtok_r(NULL, "+,; ", &save)) {
        if (!strcmp(s, "validate"))
            cfg->validate = true;
        else if (!strcmp(s, "convert"))
            cfg->convert = true;
        else
            return sl_errf(err, SL_EINVAL,
                           "the handler names the steps: validate, convert or validate+convert, "
                           "not '%s'",
                           s);
    }
    if (!cfg->validate && !cfg->convert)
        return sl_errf(err, SL_EINVAL, "the handler must name validate, convert or both");
    const char *v;
    if ((v = env("INPUT_FORMAT"))) {
        static const char *const names[] = {"auto", "csv", "jsonl", "json", "parquet"};
        size_t i = 0;
        while (i < SL_ARRAY_LEN(names) && strcasecmp(v, names[i]))
            i++;
        if (i == SL_ARRAY_LEN(names))
            return sl_errf(err, SL_EINVAL, "INPUT_FORMAT must be auto, csv, jsonl, json or "
                                           "parquet, not '%.64s'", v);
        cfg->format = (enum bp_format)i;
    }
    if ((v = env("CSV_DELIMITER"))) {
        cfg->delimiter_set = true;
        if (!strcmp(v, "\\t") || !strcasecmp(v, "tab"))
            cfg->delimiter = '\t';
        else if (strlen(v) == 1 && *v != '"' && *v != '\n' && *v != '\r')
            cfg->delimiter = *v;
        else
            return sl_errf(err, SL_EINVAL, "CSV_DELIMITER must be one character (or tab)");
    }
    cfg->header = truthy(env("CSV_HEADER"), true);
    if ((v = env("CODEC"))) {
        static const char *const names[] = {"none", "snappy", "gzip", "zstd"};
        size_t i = 0;
        while (i < SL_ARRAY_LEN(names) && strcasecmp(v, names[i]))
            i++;
        if (i == SL_ARRAY_LEN(names))
            return sl_errf(err, SL_EINVAL, "CODEC must be none, snappy, gzip or zstd");
        cfg->codec = (enum sl_pq_codec)i;
    }
    if ((v = env("OUTPUT")) &&
        bp_s3_uri(v, cfg->out_bucket, sizeof(cfg->out_bucket), cfg->out_prefix,
                  sizeof(cfg->out_prefix)))
        return sl_errf(err, SL_EINVAL, "OUTPUT must be an s3://bucket/prefix/ URI");
    if (cfg->convert && !cfg->out_bucket[0])
        return sl_errf(err, SL_EINVAL, "convert needs OUTPUT (s3://bucket/prefix/)");
    if ((v = env("REJECTED"))) {
        if (bp_s3_uri(v, cfg->rej_bucket, sizeof(cfg->rej_bucket), cfg->rej_prefix,
                      sizeof(cfg->rej_prefix)))
            return sl_errf(err, SL_EINVAL, "REJECTED must be an s3://bucket/prefix/ URI");
    } else {
        snprintf(cfg->rej_prefix, sizeof(cfg->rej_prefix), "rejected/");
    }
    if ((v = env("MAX_REJECTED"))) {
        char *end;
        long long n = strtoll(v, &end, 10);
        if (*end || n < 0)
            return sl_errf(err, SL_EINVAL, "MAX_REJECTED must be a count (0 or more)");
        cfg->max_rejected = n;
    }
    if ((v = env("PARTITION_BY"))) {
        char *copy = strdup(v);
        if (!copy)
            return SL_ENOMEM;
        for (char *save = NULL, *s = strtok_r(copy, ", ", &save); s;
             s = strtok_r(NULL, ", ", &save)) {
            char **more = realloc(cfg->partition_by, (cfg->npartition + 1) * sizeof(*more));
            if (!more || !(more[cfg->npartition] = strdup(s))) {
                free(more ? more : cfg->partition_by);
                cfg->partition_by = NULL;
                free(copy);
                return SL_ENOMEM;
            }
            cfg->partition_by = more;
            cfg->npartition++;
        }
        free(copy);
    }
    /* Memory: row groups take a share of the function's. */
    long mb = (v = env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")) ? atol(v) : 512;
    cfg->memory_budget = (size_t)(mb > 0 ? mb : 512) * 1024 * 1024 / 8;
    if (cfg->memory_budget > 32u * 1024 * 1024)
        cfg->memory_budget = 32u * 1024 * 1024;
    cfg->whole_max = (size_t)(mb > 0 ? mb : 512) * 1024 * 1024 / 4;
    /* The columns: SCHEMA, else the catalog's table, else inferred. */
    int rc = 0;
    if ((v = env("CATALOG_TABLE"))) {
        const char *dot = strchr(v, '.');
        if (!dot || dot == v || !dot[1] || (size_t)(dot - v) >= sizeof(cfg->db) ||
            strlen(dot + 1) >= sizeof(cfg->table))
            return sl_errf(err, SL_EINVAL, "CATALOG_TABLE must be database.table");
        snprintf(cfg->db, sizeof(cfg->db), "%.*s", (int)(dot - v), v);
        snprintf(cfg->table, sizeof(cfg->table), "%s", dot + 1);
    }
    if ((v = env("SCHEMA"))) {
        char *text = strdup(v);
        struct sl_pq_column *cols = calloc(MAX_COLUMNS, sizeof(*cols));
        size_t n = 0;
        if (!text || !cols) {
            free(text);
            free(cols);
            return SL_ENOMEM;
        }
        rc = sl_pq_schema_parse(text, cols, MAX_COLUMNS, &n, err);
        cfg->cols = cols;
        for (size_t i = 0; !rc && i < n; i++, cfg->ncols++)
            if (!(cols[i].name = strdup(cols[i].name)))
                rc = SL_ENOMEM;
        free(text);
        if (rc == SL_EINVAL) {
            char why[sizeof(err->msg)];
            snprintf(why, sizeof(why), "%s", err->msg);
            return sl_errf(err, rc, "SCHEMA: %.200s", why);
        }
        if (rc)
            return rc;
    } else if (cfg->db[0] &&
               (rc = bp_catalog_columns(aws, cfg->db, cfg->table, &cfg->cols, &cfg->ncols, err))) {
        return rc;
    }
    /* The rules: JSON_SCHEMA, else the columns. */
    if (cfg->validate) {
        if ((v = env("JSON_SCHEMA"))) {
            json_error_t jerr;
            json_t *schema = json_loads(v, 0, &jerr);
            if (!schema)
                return sl_errf(err, SL_EINVAL, "JSON_SCHEMA is not JSON: %s", jerr.text);
            rc = sl_rules_from_json_schema(schema, &cfg->rules, err);
            json_decref(schema);
            if (rc == SL_EINVAL) {
                char why[sizeof(err->msg)];
                snprintf(why, sizeof(why), "%s", err->msg);
                return sl_errf(err, rc, "JSON_SCHEMA: %.200s", why);
            }
            if (rc)
                return rc;
        } else if (cfg->ncols) {
            if ((rc = sl_rules_from_columns(cfg->cols, cfg->ncols, &cfg->rules, err)))
                return rc;
        } else {
            return sl_errf(err, SL_EINVAL,
                           "validate needs JSON_SCHEMA, SCHEMA or CATALOG_TABLE (an existing "
                           "table) to check rows against");
        }
    }
    return 0;
}

void bp_config_free(struct bp_config *cfg)
{
    for (size_t i = 0; i < cfg->ncols; i++)
        free((char *)cfg->cols[i].name);
    free(cfg->cols);
    for (size_t i = 0; i < cfg->npartition; i++)
        free(cfg->partition_by[i]);
    free(cfg->partition_by);
    sl_rules_free(cfg->rules);
    memset(cfg, 0, sizeof(*cfg));
}
