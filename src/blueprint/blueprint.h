/*
 * blueprint — the data blueprints: native functions a user deploys like
 * any other (runtime provided.al2; `sluice blueprint deploy`), whose
 * bootstrap is the sluice binary itself. For each object an S3 event (or
 * a direct {"bucket", "key"}) names, they stream it from S3 and
 *
 *   validate  check each row (CSV, JSON Lines, a JSON array) against a
 *             schema: a JSON Schema, columns, or a Glue table's columns;
 *             rejected rows go with their reason to a rejected/ prefix;
 *   convert   write the rows as Parquet (a schema given, taken from the
 *             catalog, or inferred from the first rows), partitioned into
 *             Hive-style key=value/ prefixes; Parquet in is written out as
 *             JSON Lines;
 *
 * or both in one pass (the function's Handler names the steps:
 * "validate", "convert", "validate+convert"). Memory stays bounded
 * whatever the size of the object: rows stream from the HTTP body through
 * the CSV parser into row groups, and outputs go to files in /tmp, uploaded
 * whole when the object is done (so an object appears complete or not at
 * all). What they did is the function's result, a line in its log and
 * metrics in the Embedded Metric Format.
 *
 * May call: core, aws (sigv4), formats, libcurl, jansson. Runs inside a
 * function environment, never in `sluice serve`.
 */
#ifndef SL_BLUEPRINT_H
#define SL_BLUEPRINT_H

#include <jansson.h>

#include "core/core.h"
#include "formats/parquet.h"

/* ---- the AWS client (aws.c) ------------------------------------------------------------- */

struct bp_aws {
    char endpoint[256], host[256];
    char access_key[129], secret_key[257], token[4097], region[64];
    void *curl;
};
/* From the environment Lambda gives a function: 0, or SL_EINVAL. */
int bp_aws_init(struct bp_aws *a, struct sl_err *err);
void bp_aws_free(struct bp_aws *a);

/* Receives an object's bytes as they arrive: 0, or an error that stops
 * the transfer (and is returned). */
typedef int (*bp_sink_fn)(void *arg, const void *p, size_t n);
/* GetObject, streamed to sink: 0, SL_ENOTFOUND, the sink's error, or
 * SL_EIO (err says what S3 answered). */
int bp_s3_get(struct bp_aws *a, const char *bucket, const char *key, bp_sink_fn sink, void *arg,
              struct sl_err *err);
/* PutObject of the whole file fd (read from its start). */
int bp_s3_put_file(struct bp_aws *a, const char *bucket, const char *key, int fd,
                   const char *content_type, struct sl_err *err);
/* A JSON 1.1 call (X-Amz-Target target) to service: 0 with the answer in
 * *out, or SL_EIO with the error's code in code ("" when none). */
int bp_json_call(struct bp_aws *a, const char *service, const char *target, const json_t *in,
                 json_t **out, char *code, size_t codelen, struct sl_err *err);

/* ---- configuration (config.c) ----------------------------------------------------------- */

enum bp_format { BP_AUTO, BP_CSV, BP_JSONL, BP_JSON, BP_PARQUET };

struct bp_config {
    bool validate, convert;
    enum bp_format format; /* INPUT_FORMAT (auto: by the key's extension) */
    char delimiter;        /* CSV_DELIMITER (',') */
    bool delimiter_set;    /* (else a .tsv key's is a tab) */
    bool header;           /* CSV_HEADER */
    /* The columns (SCHEMA, or the catalog's table): none to infer them. */
    struct sl_pq_column *cols;
    size_t ncols;
    struct sl_rules *rules; /* validate: JSON_SCHEMA, else the columns */
    char **partition_by;    /* PARTITION_BY */
    size_t npartition;
    enum sl_pq_codec codec; /* CODEC */
    char out_bucket[64], out_prefix[1024]; /* OUTPUT (s3://bucket/prefix/) */
    char rej_bucket[64], rej_prefix[1024]; /* REJECTED (default: the input's bucket, rejected/) */
    char db[256], table[256];              /* CATALOG_TABLE db.table */
    int64_t max_rejected;                  /* MAX_REJECTED: more fail the object (-1: no limit) */
    size_t memory_budget;                  /* bytes for row groups (from the function's memory) */
    size_t whole_max;                      /* a JSON array or Parquet input read whole: its cap */
    const char *tmpdir;
};
/* Reads the configuration from the environment (steps from the handler;
 * the catalog's columns through aws): 0, or SL_EINVAL with err saying
 * which variable is wrong. */
int bp_config_load(struct bp_config *cfg, const char *steps, struct bp_aws *aws,
                   struct sl_err *err);
void bp_config_free(struct bp_config *cfg);
/* A Glue table's columns, its partition keys after them (a new array,
 * names owned; none when the table does not exist): 0, or an error. */
int bp_catalog_columns(struct bp_aws *aws, const char *db, const char *table,
                       struct sl_pq_column **cols, size_t *n, struct sl_err *err);
/* An s3://bucket/prefix URI into its parts (prefix ends with '/' unless
 * empty): 0, or SL_EINVAL. */
int bp_s3_uri(const char *uri, char *bucket, size_t bn, char *prefix, size_t pn);

/* ---- one object (pipeline.c) ------------------------------------------------------------ */

/* What the blueprint did with an object. */
struct bp_result {
    uint64_t rows, valid, rejected, bytes_in;
    json_t *outputs;    /* [{"uri", "rows", "bytes", "partition"}] */
    json_t *partitions; /* [[values]] registered (or to register) */
    char rejected_uri[2400];
    bool skipped; /* the key is under the blueprint's own OUTPUT or REJECTED */
};
/* Runs the steps over s3://bucket/key: 0 (rows rejected included), or an
 * error with err saying why (too many rejected rows: SL_ECONDITION, the
 * rejected rows still written). r is filled either way (free with
 * bp_result_free). */
int bp_process(const struct bp_config *cfg, struct bp_aws *aws, const char *bucket,
               const char *key, struct bp_result *r, struct sl_err *err);
void bp_result_free(struct bp_result *r);

/* ---- the function (run.c) and the command (deploy.c) ------------------------------------ */

/* The bootstrap: serves invocations until the environment ends. */
int bp_bootstrap_main(void);
/* `sluice blueprint ...` */
int sl_cli_blueprint(int argc, char **argv);

#endif
