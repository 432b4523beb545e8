/*
 * State machine definitions (asl.h): parsed state by state, each field
 * checked and compiled, then the transitions resolved and the states no
 * transition reaches refused, as Step Functions does.
 */
#include "services/states/asl.h"

#include <math.h>
#include <stdarg.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATES_MAX 10000
#define NAME_MAX_LEN 80
#define DEPTH_MAX 16

/* ---- messages ------------------------------------------------------------------- */

struct ctx {
    struct sl_err *err;
    char where[512]; /* "/States/A/Branches[0]" ... the machine's place */
    int depth;
};

static int bad(struct ctx *c, const char *code, const char *field, const char *fmt, ...)
    SL_PRINTF(4, 5);
static int bad(struct ctx *c, const char *code, const char *field, const char *fmt, ...)
{
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return sl_errf(c->err, SL_EINVAL, "Invalid State Machine Definition: '%s: %s at %s%s%s'",
                   code, what, c->where, field && *field ? "/" : "", field ? field : "");
}

/* ---- freeing ------------------------------------------------------------------------ */

static void path_clear(struct sl_asl_path *p)
{
    sl_jsonpath_free(p->path);
}

static void state_clear(struct sl_asl_state *s)
{
    path_clear(&s->input_path);
    path_clear(&s->output_path);
    path_clear(&s->result_path);
    path_clear(&s->items_path);
    sl_template_free(s->parameters);
    sl_template_free(s->result_selector);
    sl_template_free(s->item_selector);
    sl_template_free(s->reader_params);
    sl_template_free(s->writer_params);
    sl_template_free(s->batch_input);
    sl_jsonpath_free(s->timeout.path);
    sl_jsonpath_free(s->heartbeat.path);
    sl_jsonpath_free(s->wait_seconds.path);
    sl_jsonpath_free(s->wait_timestamp_path);
    sl_jsonpath_free(s->error.path);
    sl_jsonpath_free(s->cause.path);
    sl_intrinsic_free(s->error.call);
    sl_intrinsic_free(s->cause.call);
    for (size_t i = 0; i < s->nretry; i++)
        free(s->retry[i].errors);
    free(s->retry);
    for (size_t i = 0; i < s->ncatch; i++) {
        free(s->catch_[i].errors);
        path_clear(&s->catch_[i].result_path);
    }
    free(s->catch_);
    for (size_t i = 0; i < s->nchoices; i++)
        sl_choice_free(s->choices[i].rule);
    free(s->choices);
    for (size_t i = 0; i < s->nbranches; i++)
        sl_asl_free(s->branches[i]);
    free(s->branches);
    sl_asl_free(s->processor);
}

void sl_asl_free(struct sl_asl *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        state_clear(&m->states[i]);
    free(m->states);
    json_decref(m->doc);
    free(m);
}

void sl_asl_diagnostic(const char *msg, char *code, size_t cn, char *what, size_t wn, char *where,
                       size_t ln)
{
    static const char prefix[] = "Invalid State Machine Definition: '";
    const char *body = strncmp(msg, prefix, sizeof(prefix) - 1) == 0 ? msg + sizeof(prefix) - 1
                                                                      : msg;
    size_t n = strlen(body);
    if (n && body[n - 1] == '\'')
        n--;
    const char *colon = memchr(body, ':', n);
    const char *at = NULL;
    for (const char *p = body; p + 4 <= body + n; p++)
        if (strncmp(p, " at /", 5) == 0 || (strncmp(p, " at ", 4) == 0 && p + 4 == body + n))
            at = p; /* (the last one) */
    snprintf(code, cn, "%.*s", colon ? (int)(colon - body) : 0, body);
    const char *w = colon ? colon + 2 : body;
    if (w > body + n)
        w = body + n;
    const char *wend = at && at > w ? at : body + n;
    snprintf(what, wn, "%.*s", (int)(wend - w), w);
    snprintf(where, ln, "%.*s", at && at > w ? (int)(body + n - at - 4) : 0, at ? at + 4 : "");
}

size_t sl_asl_find(const struct sl_asl *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->states[i].name, name) == 0)
            return i;
    return SL_ASL_NONE;
}

/* ---- fields ------------------------------------------------------------------------ */

/* The fields each type of state may have (beyond Type and Comment). */
static const struct {
    enum sl_asl_type type;
    const char *name;
    const char *fields;
} types[] = {
    {SL_ASL_PASS, "Pass", "|Next|End|InputPath|OutputPath|ResultPath|Parameters|Result|"},
    {SL_ASL_TASK, "Task",
     "|Next|End|InputPath|OutputPath|ResultPath|Parameters|ResultSelector|Resource|"
     "TimeoutSeconds|TimeoutSecondsPath|HeartbeatSeconds|HeartbeatSecondsPath|Retry|Catch|"
     "Credentials|"},
    {SL_ASL_CHOICE, "Choice", "|InputPath|OutputPath|Choices|Default|"},
    {SL_ASL_WAIT, "Wait",
     "|Next|End|InputPath|OutputPath|Seconds|Timestamp|SecondsPath|TimestampPath|"},
    {SL_ASL_SUCCEED, "Succeed", "|InputPath|OutputPath|"},
    {SL_ASL_FAIL, "Fail", "|Error|Cause|ErrorPath|CausePath|"},
    {SL_ASL_PARALLEL, "Parallel",
     "|Next|End|InputPath|OutputPath|ResultPath|Parameters|ResultSelector|Branches|Retry|"
     "Catch|"},
    {SL_ASL_MAP, "Map",
     "|Next|End|InputPath|OutputPath|ResultPath|Parameters|ResultSelector|ItemsPath|"
     "ItemSelector|ItemProcessor|Iterator|MaxConcurrency|MaxConcurrencyPath|ItemReader|"
     "ResultWriter|ItemBatcher|ToleratedFailurePercentage|ToleratedFailureCount|"
     "ToleratedFailurePercentagePath|ToleratedFailureCountPath|Label|Retry|Catch|"},
};

static int path_field(struct ctx *c, const json_t *st, const char *field, bool reference,
                      struct sl_asl_path *out)
{
    json_t *v = json_object_get(st, field);
    if (!v)
        return 0;
    if (json_is_null(v)) {
        out->null = true;
        return 0;
    }
    const char *text = json_string_value(v);
    struct sl_err perr = {0};
    if (!text || sl_jsonpath_compile(text, reference ? SL_JSONPATH_REFERENCE : 0, &out->path,
                                     &perr))
        return bad(c, "SCHEMA_VALIDATION_FAILED", field, "The value for the field '%s' must be "
                                                         "a valid %s",
                   field, reference ? "Reference Path" : "JSONPath");
    return 0;
}

static int template_field(struct ctx *c, const json_t *st, const char *field,
                          struct sl_template **out)
{
    json_t *v = json_object_get(st, field);
    if (!v)
        return 0;
    struct sl_err terr = {0};
    if (sl_template_compile(v, out, &terr))
        return bad(c, "SCHEMA_VALIDATION_FAILED", field, "%s", terr.msg);
    return 0;
}

/* A positive integer field (or absent: 0). */
static int int_field(struct ctx *c, const json_t *st, const char *field, long min, long max,
                     long *out)
{
    json_t *v = json_object_get(st, field);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return bad(c, "SCHEMA_VALIDATION_FAILED", field,
                   "The value for the field '%s' must be an integer from %ld to %ld", field, min,
                   max);
    *out = (long)json_integer_value(v);
    return 0;
}

/* TimeoutSeconds or TimeoutSecondsPath (one of them). */
static int seconds_field(struct ctx *c, const json_t *st, const char *field,
                         struct sl_asl_seconds *out)
{
    char pfield[64];
    snprintf(pfield, sizeof(pfield), "%sPath", field);
    json_t *v = json_object_get(st, field), *p = json_object_get(st, pfield);
    if (v && p)
        return bad(c, "SCHEMA_VALIDATION_FAILED", field, "'%s' and '%s' are mutually exclusive",
                   field, pfield);
    if (v) {
        long n = 0;
        int rc = int_field(c, st, field, 1, 99999999, &n);
        out->value = (double)n;
        return rc;
    }
    if (p) {
        struct sl_asl_path ap = {0};
        int rc = path_field(c, st, pfield, true, &ap);
        if (!rc && ap.null)
            rc = bad(c, "SCHEMA_VALIDATION_FAILED", pfield, "The value for the field '%s' must "
                                                            "be a valid Reference Path",
                     pfield);
        out->path = ap.path;
        return rc;
    }
    return 0;
}

/* ErrorEquals: a non-empty array of strings, States.ALL alone and last
 * (its place is checked by the caller, over the list). */
static int errors_field(struct ctx *c, const json_t *r, const char *where, const char ***out,
                        size_t *n)
{
    json_t *e = json_object_get(r, "ErrorEquals");
    if (!json_is_array(e) || json_array_size(e) == 0)
        return bad(c, "SCHEMA_VALIDATION_FAILED", where,
                   "The field 'ErrorEquals' must be a non-empty array of error names");
    *out = calloc(json_array_size(e), sizeof(**out));
    if (!*out)
        return sl_errf(c->err, SL_ENOMEM, "out of memory");
    size_t i;
    json_t *x;
    json_array_foreach(e, i, x)
    {
        if (!json_is_string(x))
            return bad(c, "SCHEMA_VALIDATION_FAILED", where,
                       "The field 'ErrorEquals' must be a non-empty array of error names");
        (*out)[(*n)++] = json_string_value(x);
        if (strcmp(json_string_value(x), "States.ALL") == 0 && json_array_size(e) != 1)
            return bad(c, "SCHEMA_VALIDATION_FAILED", where,
                       "States.ALL must appear alone in 'ErrorEquals'");
    }
    return 0;
}

/* What a retrier and a catcher share: element i of field's list is an
 * object with ErrorEquals, and States.ALL only in the last one. where
 * gets "<field>[i]". */
static int handler_common(struct ctx *c, const json_t *list, size_t i, const char *field,
                          char *where, size_t wn, const char ***errors, size_t *nerrors)
{
    const json_t *r = json_array_get(list, i);
    const char *what = strcmp(field, "Retry") == 0 ? "retrier" : "catcher";
    snprintf(where, wn, "%s[%zu]", field, i);
    if (!json_is_object(r))
        return bad(c, "SCHEMA_VALIDATION_FAILED", where, "A %s must be an object", what);
    int rc = errors_field(c, r, where, errors, nerrors);
    if (!rc && strcmp((*errors)[*nerrors - 1], "States.ALL") == 0 &&
        i + 1 != json_array_size(list))
        rc = bad(c, "SCHEMA_VALIDATION_FAILED", where, "A %s with States.ALL must be the last",
                 what);
    return rc;
}

/* The list of field (Retry or Catch), allocated as n elements of size. */
static int handler_list(struct ctx *c, const json_t *st, const char *field, size_t size,
                        void **out)
{
    json_t *list = json_object_get(st, field);
    if (!list)
        return 0;
    if (!json_is_array(list))
        return bad(c, "SCHEMA_VALIDATION_FAILED", field, "The field '%s' must be an array",
                   field);
    *out = calloc(json_array_size(list) + 1, size);
    return *out ? 0 : sl_errf(c->err, SL_ENOMEM, "out of memory");
}

static int retry_field(struct ctx *c, const json_t *st, struct sl_asl_state *s)
{
    json_t *list = json_object_get(st, "Retry");
    int rc = handler_list(c, st, "Retry", sizeof(*s->retry), (void **)&s->retry);
    if (rc || !list)
        return rc;
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r)
    {
        char where[48];
        struct sl_asl_retrier *t = &s->retry[s->nretry++];
        *t = (struct sl_asl_retrier){.interval_s = 1, .backoff = 2, .max_attempts = 3};
        if ((rc = handler_common(c, list, i, "Retry", where, sizeof(where), &t->errors,
                                 &t->nerrors)) != 0)
            return rc;
        const char *k;
        json_t *v;
        json_object_foreach(r, k, v)
        {
            if (strcmp(k, "ErrorEquals") == 0 || strcmp(k, "Comment") == 0)
                continue;
            bool ok;
            if (strcmp(k, "IntervalSeconds") == 0) {
                ok = json_is_integer(v) && json_integer_value(v) >= 1 &&
                     json_integer_value(v) <= 99999999;
                t->interval_s = (double)json_integer_value(v);
            } else if (strcmp(k, "MaxAttempts") == 0) {
                ok = json_is_integer(v) && json_integer_value(v) >= 0 &&
                     json_integer_value(v) <= 99999999;
                t->max_attempts = (long)json_integer_value(v);
            } else if (strcmp(k, "BackoffRate") == 0) {
                ok = json_is_number(v) && json_number_value(v) >= 1.0;
                t->backoff = json_number_value(v);
            } else if (strcmp(k, "MaxDelaySeconds") == 0) {
                ok = json_is_integer(v) && json_integer_value(v) >= 1 &&
                     json_integer_value(v) <= 31622400;
                t->max_delay_s = (long)json_integer_value(v);
            } else if (strcmp(k, "JitterStrategy") == 0) {
                const char *j = json_string_value(v);
                ok = j && (strcmp(j, "FULL") == 0 || strcmp(j, "NONE") == 0);
                t->jitter_full = ok && strcmp(j, "FULL") == 0;
            } else {
                return bad(c, "SCHEMA_VALIDATION_FAILED", where,
                           "Field '%s' is not supported in a retrier", k);
            }
            if (!ok)
                return bad(c, "SCHEMA_VALIDATION_FAILED", where,
                           "The value of the field '%s' is not valid", k);
        }
    }
    return 0;
}

static int catch_field(struct ctx *c, const json_t *st, struct sl_asl_state *s)
{
    json_t *list = json_object_get(st, "Catch");
    int rc = handler_list(c, st, "Catch", sizeof(*s->catch_), (void **)&s->catch_);
    if (rc || !list)
        return rc;
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r)
    {
        char where[48];
        struct sl_asl_catcher *t = &s->catch_[s->ncatch++];
        t->next = SL_ASL_NONE;
        if ((rc = handler_common(c, list, i, "Catch", where, sizeof(where), &t->errors,
                                 &t->nerrors)) != 0)
            return rc;
        if (!json_is_string(json_object_get(r, "Next")))
            return bad(c, "SCHEMA_VALIDATION_FAILED", where,
                       "A catcher must have a string field 'Next'");
        char rp[64];
        snprintf(rp, sizeof(rp), "%s/ResultPath", where);
        json_t *res = json_object_get(r, "ResultPath");
        if (res && !json_is_null(res)) {
            struct sl_err perr = {0};
            if (!json_is_string(res) ||
                sl_jsonpath_compile(json_string_value(res), SL_JSONPATH_REFERENCE,
                                    &t->result_path.path, &perr))
                return bad(c, "SCHEMA_VALIDATION_FAILED", rp,
                           "The value for the field 'ResultPath' must be a valid Reference "
                           "Path");
        } else if (res) {
            t->result_path.null = true;
        }
        const char *k;
        json_t *v;
        json_object_foreach(r, k, v)
        {
            if (strcmp(k, "ErrorEquals") && strcmp(k, "Next") && strcmp(k, "ResultPath") &&
                strcmp(k, "Comment"))
                return bad(c, "SCHEMA_VALIDATION_FAILED", where,
                           "Field '%s' is not supported in a catcher", k);
        }
    }
    return 0;
}

static int parse_machine(struct ctx *c, const json_t *doc, struct sl_asl **out);

/* A sub-machine (a Parallel branch, a Map's processor) at where. */
static int sub_machine(struct ctx *c, const json_t *doc, const char *where, struct sl_asl **out)
{
    size_t len = strlen(c->where);
    snprintf(c->where + len, sizeof(c->where) - len, "/%s", where);
    c->depth++;
    int rc = c->depth > DEPTH_MAX
                 ? bad(c, "SCHEMA_VALIDATION_FAILED", "", "Machines are nested too deeply")
                 : parse_machine(c, doc, out);
    c->depth--;
    c->where[len] = '\0';
    return rc;
}

/* field of st as a non-empty array (a state of type must have one), and
 * as many zeroed elements of size in *out; NULL with the error in *rc. */
static json_t *nonempty_list(struct ctx *c, const json_t *st, const char *field,
                             const char *type, size_t size, void **out, int *rc)
{
    json_t *list = json_object_get(st, field);
    *rc = 0;
    if (!json_is_array(list) || json_array_size(list) == 0) {
        *rc = bad(c, "SCHEMA_VALIDATION_FAILED", field, "A %s state must have a non-empty array "
                                                        "'%s'",
                  type, field);
        return NULL;
    }
    *out = calloc(json_array_size(list), size);
    if (!*out) {
        *rc = sl_errf(c->err, SL_ENOMEM, "out of memory");
        return NULL;
    }
    return list;
}

/* A distributed Map's ItemReader: s3:getObject (JSON, JSONL or CSV, with
 * its headers from the first row or given) or s3:listObjectsV2. */
static int item_reader(struct ctx *c, struct sl_asl_state *s)
{
    const json_t *r = s->item_reader;
    const char *res = json_string_value(json_object_get(r, "Resource"));
    if (!json_is_object(r) || !res)
        return bad(c, "SCHEMA_VALIDATION_FAILED", "ItemReader",
                   "An ItemReader must be an object with a string field 'Resource'");
    s->reader_list = strcmp(res, "arn:aws:states:::s3:listObjectsV2") == 0;
    if (!s->reader_list && strcmp(res, "arn:aws:states:::s3:getObject") != 0)
        return bad(c, "SCHEMA_VALIDATION_FAILED", "ItemReader/Resource",
                   "Sluice's ItemReader reads arn:aws:states:::s3:getObject or "
                   "arn:aws:states:::s3:listObjectsV2, not %.200s",
                   res);
    if (!json_is_object(json_object_get(r, "Parameters")))
        return bad(c, "SCHEMA_VALIDATION_FAILED", "ItemReader/Parameters",
                   "An ItemReader must have an object field 'Parameters'");
    int rc = template_field(c, r, "Parameters", &s->reader_params);
    const json_t *cfg = json_object_get(r, "ReaderConfig");
    if (!rc && cfg)
        rc = int_field(c, cfg, "MaxItems", 0, 100000000, &s->reader_max);
    if (rc || s->reader_list)
        return rc;
    s->reader_type = json_string_value(json_object_get(cfg, "InputType"));
    if (!s->reader_type || (strcmp(s->reader_type, "JSON") && strcmp(s->reader_type, "JSONL") &&
                            strcmp(s->reader_type, "CSV")))
        return bad(c, "SCHEMA_VALIDATION_FAILED", "ItemReader/ReaderConfig/InputType",
                   "An s3:getObject ItemReader's InputType must be JSON, JSONL or CSV in "
                   "Sluice");
    const char *where = json_string_value(json_object_get(cfg, "CSVHeaderLocation"));
    if (strcmp(s->reader_type, "CSV") == 0 && where && strcmp(where, "GIVEN") == 0) {
        s->csv_headers = json_object_get(cfg, "CSVHeaders");
        if (!json_is_array(s->csv_headers) || !json_array_size(s->csv_headers))
            return bad(c, "SCHEMA_VALIDATION_FAILED", "ItemReader/ReaderConfig/CSVHeaders",
                       "CSVHeaderLocation GIVEN needs a list of CSVHeaders");
    } else if (where && strcmp(where, "FIRST_ROW") != 0) {
        return bad(c, "SCHEMA_VALIDATION_FAILED", "ItemReader/ReaderConfig/CSVHeaderLocation",
                   "CSVHeaderLocation must be FIRST_ROW or GIVEN");
    }
    return 0;
}

/* A distributed Map's ResultWriter: s3:putObject with Bucket and Prefix. */
static int result_writer(struct ctx *c, struct sl_asl_state *s)
{
    const json_t *w = s->result_writer;
    const char *res = json_string_value(json_object_get(w, "Resource"));
    if (!json_is_object(w) || !res || strcmp(res, "arn:aws:states:::s3:putObject") != 0)
        return bad(c, "SCHEMA_VALIDATION_FAILED", "ResultWriter",
                   "A ResultWriter must have the Resource arn:aws:states:::s3:putObject");
    if (!json_is_object(json_object_get(w, "Parameters")))
        return bad(c, "SCHEMA_VALIDATION_FAILED", "ResultWriter/Parameters",
                   "A ResultWriter must have an object field 'Parameters'");
    return template_field(c, w, "Parameters", &s->writer_params);
}

static int type_fields(struct ctx *c, const json_t *st, struct sl_asl_state *s)
{
    int rc = 0;
    switch (s->type) {
    case SL_ASL_PASS:
        s->result = json_object_get(st, "Result");
        break;
    case SL_ASL_TASK: {
        s->resource = json_string_value(json_object_get(st, "Resource"));
        if (!s->resource)
            return bad(c, "SCHEMA_VALIDATION_FAILED", "", "A Task must have a string field "
                                                          "'Resource'");
        if (strncmp(s->resource, "arn:", 4) != 0)
            return bad(c, "SCHEMA_VALIDATION_FAILED", "Resource",
                       "The value for the field 'Resource' must be an ARN");
        struct sl_err rerr = {0};
        if (sl_asl_resource_parse(s->resource, &s->res, &rerr))
            return bad(c, "SCHEMA_VALIDATION_FAILED", "Resource", "%s", rerr.msg);
        if ((rc = seconds_field(c, st, "TimeoutSeconds", &s->timeout)) ||
            (rc = seconds_field(c, st, "HeartbeatSeconds", &s->heartbeat)))
            return rc;
        if (s->timeout.value && s->heartbeat.value && s->heartbeat.value >= s->timeout.value)
            return bad(c, "SCHEMA_VALIDATION_FAILED", "HeartbeatSeconds",
                       "HeartbeatSeconds must be smaller than TimeoutSeconds");
        break;
    }
    case SL_ASL_CHOICE: {
        json_t *list = nonempty_list(c, st, "Choices", "Choice", sizeof(*s->choices),
                                     (void **)&s->choices, &rc);
        if (!list)
            return rc;
        size_t i;
        json_t *r;
        json_array_foreach(list, i, r)
        {
            char where[48];
            snprintf(where, sizeof(where), "Choices[%zu]", i);
            struct sl_err rerr = {0};
            s->choices[i].next = SL_ASL_NONE;
            if (sl_choice_compile(r, true, &s->choices[i].rule, &rerr))
                return bad(c, "SCHEMA_VALIDATION_FAILED", where, "%s", rerr.msg);
            s->nchoices++;
        }
        json_t *d = json_object_get(st, "Default");
        if (d && !json_is_string(d))
            return bad(c, "SCHEMA_VALIDATION_FAILED", "Default",
                       "The field 'Default' must be a state's name");
        break;
    }
    case SL_ASL_WAIT: {
        static const char *const kinds[] = {"Seconds", "Timestamp", "SecondsPath",
                                            "TimestampPath"};
        int given = 0;
        for (size_t i = 0; i < SL_ARRAY_LEN(kinds); i++)
            given += json_object_get(st, kinds[i]) != NULL;
        if (given != 1)
            return bad(c, "SCHEMA_VALIDATION_FAILED", "",
                       "A Wait state must have exactly one of 'Seconds', 'Timestamp', "
                       "'SecondsPath' and 'TimestampPath'");
        json_t *sec = json_object_get(st, "Seconds");
        json_t *ts = json_object_get(st, "Timestamp");
        int64_t us;
        if (sec && (!json_is_integer(sec) || json_integer_value(sec) < 0 ||
                    json_integer_value(sec) > 99999999))
            return bad(c, "SCHEMA_VALIDATION_FAILED", "Seconds",
                       "The value for the field 'Seconds' must be an integer from 0 to "
                       "99999999");
        if (sec)
            s->wait_seconds.value = (double)json_integer_value(sec);
        if (ts && (!json_is_string(ts) || !sl_rfc3339_parse(json_string_value(ts), &us)))
            return bad(c, "SCHEMA_VALIDATION_FAILED", "Timestamp",
                       "The value for the field 'Timestamp' must be an RFC 3339 timestamp");
        s->wait_timestamp = json_string_value(ts);
        struct sl_asl_path p = {0};
        if ((rc = path_field(c, st, "SecondsPath", true, &p)) != 0)
            return rc;
        s->wait_seconds.path = p.path;
        memset(&p, 0, sizeof(p));
        if ((rc = path_field(c, st, "TimestampPath", true, &p)) != 0)
            return rc;
        s->wait_timestamp_path = p.path;
        break;
    }
    case SL_ASL_FAIL: {
        static const char *const pairs[][2] = {{"Error", "ErrorPath"}, {"Cause", "CausePath"}};
        for (size_t i = 0; i < 2; i++) {
            struct sl_asl_text *t = i == 0 ? &s->error : &s->cause;
            json_t *lit = json_object_get(st, pairs[i][0]);
            json_t *dyn = json_object_get(st, pairs[i][1]);
            if (lit && dyn)
                return bad(c, "SCHEMA_VALIDATION_FAILED", pairs[i][0],
                           "'%s' and '%s' are mutually exclusive", pairs[i][0], pairs[i][1]);
            if (lit && !json_is_string(lit))
                return bad(c, "SCHEMA_VALIDATION_FAILED", pairs[i][0],
                           "The value for the field '%s' must be a string", pairs[i][0]);
            t->text = json_string_value(lit);
            const char *d = json_string_value(dyn);
            struct sl_err e2 = {0};
            if (dyn && !(d && ((d[0] == '$' && !sl_jsonpath_compile(d, 0, &t->path, &e2)) ||
                               (sl_intrinsic_is_call(d) &&
                                !sl_intrinsic_compile(d, &t->call, &e2)))))
                return bad(c, "SCHEMA_VALIDATION_FAILED", pairs[i][1],
                           "The value for the field '%s' must be a valid JSONPath or a valid "
                           "intrinsic function call",
                           pairs[i][1]);
        }
        break;
    }
    case SL_ASL_PARALLEL: {
        json_t *list = nonempty_list(c, st, "Branches", "Parallel", sizeof(*s->branches),
                                     (void **)&s->branches, &rc);
        if (!list)
            return rc;
        size_t i;
        json_t *b;
        json_array_foreach(list, i, b)
        {
            char where[48];
            snprintf(where, sizeof(where), "Branches[%zu]", i);
            if ((rc = sub_machine(c, b, where, &s->branches[i])) != 0)
                return rc;
            s->nbranches++;
        }
        break;
    }
    case SL_ASL_MAP: {
        json_t *proc = json_object_get(st, "ItemProcessor");
        const char *pname = "ItemProcessor";
        if (!proc) {
            proc = json_object_get(st, "Iterator");
            pname = "Iterator";
        }
        if (!json_is_object(proc))
            return bad(c, "SCHEMA_VALIDATION_FAILED", "",
                       "A Map state must have an object 'ItemProcessor' (or 'Iterator')");
        if (json_object_get(st, "ItemProcessor") && json_object_get(st, "Iterator"))
            return bad(c, "SCHEMA_VALIDATION_FAILED", "Iterator",
                       "'ItemProcessor' and 'Iterator' are mutually exclusive");
        const char *mode = json_string_value(
            json_object_get(json_object_get(proc, "ProcessorConfig"), "Mode"));
        s->distributed = mode && strcmp(mode, "DISTRIBUTED") == 0;
        if ((rc = sub_machine(c, proc, pname, &s->processor)) != 0)
            return rc;
        if ((rc = path_field(c, st, "ItemsPath", true, &s->items_path)) != 0)
            return rc;
        if (json_object_get(st, "ItemSelector") && json_object_get(st, "Parameters"))
            return bad(c, "SCHEMA_VALIDATION_FAILED", "ItemSelector",
                       "'ItemSelector' and 'Parameters' are mutually exclusive");
        if ((rc = template_field(c, st, "ItemSelector", &s->item_selector)) != 0)
            return rc;
        if ((rc = int_field(c, st, "MaxConcurrency", 0, 99999999, &s->max_concurrency)) != 0)
            return rc;
        json_t *pct = json_object_get(st, "ToleratedFailurePercentage");
        if (pct && (!json_is_number(pct) || json_number_value(pct) < 0 ||
                    json_number_value(pct) > 100))
            return bad(c, "SCHEMA_VALIDATION_FAILED", "ToleratedFailurePercentage",
                       "The value for the field 'ToleratedFailurePercentage' must be a number "
                       "from 0 to 100");
        s->tolerated_percentage = pct ? json_number_value(pct) : 0;
        if ((rc = int_field(c, st, "ToleratedFailureCount", 0, 99999999,
                            &s->tolerated_count)) != 0)
            return rc;
        s->item_reader = json_object_get(st, "ItemReader");
        s->result_writer = json_object_get(st, "ResultWriter");
        json_t *batcher = json_object_get(st, "ItemBatcher");
        if ((s->item_reader || s->result_writer || batcher) && !s->distributed)
            return bad(c, "SCHEMA_VALIDATION_FAILED",
                       s->item_reader ? "ItemReader" : s->result_writer ? "ResultWriter"
                                                                        : "ItemBatcher",
                       "'ItemReader', 'ResultWriter' and 'ItemBatcher' need ProcessorConfig "
                       "Mode DISTRIBUTED");
        if ((s->item_reader && (rc = item_reader(c, s)) != 0) ||
            (s->result_writer && (rc = result_writer(c, s)) != 0))
            return rc;
        if (batcher) {
            if (!json_is_object(batcher))
                return bad(c, "SCHEMA_VALIDATION_FAILED", "ItemBatcher",
                           "The field 'ItemBatcher' must be an object");
            if ((rc = int_field(c, batcher, "MaxItemsPerBatch", 1, 99999999, &s->batch_max)) ||
                (rc = template_field(c, batcher, "BatchInput", &s->batch_input)))
                return rc;
            if (!s->batch_max)
                return bad(c, "SCHEMA_VALIDATION_FAILED", "ItemBatcher",
                           "Sluice's ItemBatcher needs MaxItemsPerBatch");
        }
        break;
    }
    case SL_ASL_SUCCEED:
        break;
    }
    return rc;
}

static int parse_state(struct ctx *c, const char *name, const json_t *st,
                       struct sl_asl_state *s)
{
    s->name = name;
    s->next = SL_ASL_NONE;
    s->default_next = SL_ASL_NONE;
    size_t len = strlen(c->where);
    snprintf(c->where + len, sizeof(c->where) - len, "/States/%s", name);
    int rc = 0;
    if (strlen(name) > NAME_MAX_LEN || !*name)
        rc = bad(c, "SCHEMA_VALIDATION_FAILED", "", "A state's name must be 1 to %d characters",
                 NAME_MAX_LEN);
    if (!rc && !json_is_object(st))
        rc = bad(c, "SCHEMA_VALIDATION_FAILED", "", "A state must be an object");
    const char *type = rc ? NULL : json_string_value(json_object_get(st, "Type"));
    size_t t = SL_ARRAY_LEN(types);
    for (size_t i = 0; type && i < SL_ARRAY_LEN(types); i++)
        if (strcmp(type, types[i].name) == 0)
            t = i;
    if (!rc && t == SL_ARRAY_LEN(types))
        rc = bad(c, "SCHEMA_VALIDATION_FAILED", "Type",
                 "The field 'Type' must be one of Pass, Task, Choice, Wait, Succeed, Fail, "
                 "Parallel and Map");
    if (!rc) {
        s->type = types[t].type;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)st, k, v)
        {
            char want[64];
            snprintf(want, sizeof(want), "|%.60s|", k);
            if (!rc && strcmp(k, "Type") && strcmp(k, "Comment") && !strstr(types[t].fields, want))
                rc = bad(c, "SCHEMA_VALIDATION_FAILED", "",
                         "Field '%s' is not supported by a %s state", k, types[t].name);
        }
    }
    if (!rc && strstr(types[t].fields, "|End|")) {
        json_t *next = json_object_get(st, "Next"), *end = json_object_get(st, "End");
        if (next && end)
            rc = bad(c, "SCHEMA_VALIDATION_FAILED", "",
                     "A state may have 'Next' or 'End', not both");
        else if (!next && !json_is_true(end))
            rc = bad(c, "SCHEMA_VALIDATION_FAILED", "",
                     "A state must have 'Next' or 'End': true");
        else if (next && !json_is_string(next))
            rc = bad(c, "SCHEMA_VALIDATION_FAILED", "Next",
                     "The field 'Next' must be a state's name");
    }
    if (!rc)
        rc = path_field(c, st, "InputPath", false, &s->input_path);
    if (!rc)
        rc = path_field(c, st, "OutputPath", false, &s->output_path);
    if (!rc)
        rc = path_field(c, st, "ResultPath", true, &s->result_path);
    if (!rc)
        rc = template_field(c, st, "Parameters", &s->parameters);
    if (!rc)
        rc = template_field(c, st, "ResultSelector", &s->result_selector);
    if (!rc)
        rc = retry_field(c, st, s);
    if (!rc)
        rc = catch_field(c, st, s);
    if (!rc)
        rc = type_fields(c, st, s);
    c->where[len] = '\0';
    return rc;
}

/* Resolves name (a transition of state s's field) to an index. */
static int resolve(struct ctx *c, struct sl_asl *m, const struct sl_asl_state *s,
                   const char *field, const char *name, size_t *out)
{
    *out = sl_asl_find(m, name);
    if (*out != SL_ASL_NONE)
        return 0;
    size_t len = strlen(c->where);
    snprintf(c->where + len, sizeof(c->where) - len, "/States/%s", s->name);
    int rc = bad(c, "MISSING_TRANSITION_TARGET", field, "Missing '%s' target: %s",
                 strchr(field, '/') ? strrchr(field, '/') + 1 : field, name);
    c->where[len] = '\0';
    return rc;
}

static void mark(const struct sl_asl *m, size_t i, bool *seen)
{
    if (i == SL_ASL_NONE || seen[i])
        return;
    seen[i] = true;
    const struct sl_asl_state *s = &m->states[i];
    mark(m, s->next, seen);
    mark(m, s->default_next, seen);
    for (size_t k = 0; k < s->nchoices; k++)
        mark(m, s->choices[k].next, seen);
    for (size_t k = 0; k < s->ncatch; k++)
        mark(m, s->catch_[k].next, seen);
}

static int parse_machine(struct ctx *c, const json_t *doc, struct sl_asl **out)
{
    *out = NULL;
    if (!json_is_object(doc))
        return bad(c, "SCHEMA_VALIDATION_FAILED", "", "A state machine must be an object");
    const char *start = json_string_value(json_object_get(doc, "StartAt"));
    json_t *states = json_object_get(doc, "States");
    if (!start)
        return bad(c, "SCHEMA_VALIDATION_FAILED", "", "The field 'StartAt' must be a state's "
                                                      "name");
    if (!json_is_object(states) || json_object_size(states) == 0)
        return bad(c, "SCHEMA_VALIDATION_FAILED", "", "The field 'States' must be a non-empty "
                                                      "object");
    if (json_object_size(states) > STATES_MAX)
        return bad(c, "SCHEMA_VALIDATION_FAILED", "States", "A machine may have at most %d "
                                                            "states",
                   STATES_MAX);
    const char *lang = json_string_value(json_object_get(doc, "QueryLanguage"));
    if (lang && strcmp(lang, "JSONPath") != 0)
        return bad(c, "SCHEMA_VALIDATION_FAILED", "QueryLanguage",
                   "Sluice supports the JSONPath query language only, not '%.40s'", lang);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        if (strcmp(k, "StartAt") && strcmp(k, "States") && strcmp(k, "Comment") &&
            strcmp(k, "Version") && strcmp(k, "TimeoutSeconds") && strcmp(k, "QueryLanguage") &&
            strcmp(k, "ProcessorConfig"))
            return bad(c, "SCHEMA_VALIDATION_FAILED", "", "Field '%s' is not supported", k);
    }
    struct sl_asl *m = calloc(1, sizeof(*m));
    if (!m)
        return sl_errf(c->err, SL_ENOMEM, "out of memory");
    m->states = calloc(json_object_size(states), sizeof(*m->states));
    int rc = m->states ? int_field(c, doc, "TimeoutSeconds", 1, 99999999, &m->timeout_s)
                       : sl_errf(c->err, SL_ENOMEM, "out of memory");
    json_object_foreach(states, k, v)
    {
        if (rc)
            break;
        rc = parse_state(c, k, v, &m->states[m->n++]);
    }
    /* Transitions. */
    if (!rc) {
        m->start = sl_asl_find(m, start);
        if (m->start == SL_ASL_NONE)
            rc = bad(c, "MISSING_TRANSITION_TARGET", "StartAt", "Missing 'StartAt' target: %s",
                     start);
    }
    for (size_t i = 0; !rc && i < m->n; i++) {
        struct sl_asl_state *s = &m->states[i];
        const json_t *st = json_object_get(states, s->name);
        const char *next = json_string_value(json_object_get(st, "Next"));
        if (next)
            rc = resolve(c, m, s, "Next", next, &s->next);
        const char *dflt = json_string_value(json_object_get(st, "Default"));
        if (!rc && dflt)
            rc = resolve(c, m, s, "Default", dflt, &s->default_next);
        for (size_t k2 = 0; !rc && k2 < s->nchoices; k2++) {
            char field[48];
            snprintf(field, sizeof(field), "Choices[%zu]/Next", k2);
            rc = resolve(c, m, s, field,
                         json_string_value(json_object_get(
                             json_array_get(json_object_get(st, "Choices"), k2), "Next")),
                         &s->choices[k2].next);
        }
        for (size_t k2 = 0; !rc && k2 < s->ncatch; k2++) {
            char field[48];
            snprintf(field, sizeof(field), "Catch[%zu]/Next", k2);
            rc = resolve(c, m, s, field,
                         json_string_value(json_object_get(
                             json_array_get(json_object_get(st, "Catch"), k2), "Next")),
                         &s->catch_[k2].next);
        }
    }
    /* Every state reachable from StartAt. */
    if (!rc) {
        bool *seen = calloc(m->n, sizeof(*seen));
        if (!seen) {
            rc = sl_errf(c->err, SL_ENOMEM, "out of memory");
        } else {
            mark(m, m->start, seen);
            for (size_t i = 0; !rc && i < m->n; i++)
                if (!seen[i]) {
                    size_t len = strlen(c->where);
                    snprintf(c->where + len, sizeof(c->where) - len, "/States/%s",
                             m->states[i].name);
                    rc = bad(c, "UNREACHABLE_STATE", "", "State \"%s\" is not reachable",
                             m->states[i].name);
                    c->where[len] = '\0';
                }
            free(seen);
        }
    }
    if (rc) {
        sl_asl_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int sl_asl_parse(const char *text, struct sl_asl **out, struct sl_err *err)
{
    *out = NULL;
    json_error_t je;
    json_t *doc = json_loads(text ? text : "", JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return sl_errf(err, SL_EINVAL, "Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: "
                                       "%s at line %d, column %d'",
                       je.text, je.line, je.column);
    struct ctx c = {.err = err};
    int rc = parse_machine(&c, doc, out);
    if (rc) {
        json_decref(doc);
        return rc;
    }
    (*out)->doc = doc; /* (the states borrow their names and fields from it) */
    return 0;
}

/* ---- input and output ------------------------------------------------------------------ */

int sl_asl_path_apply(const struct sl_asl_path *p, json_t *doc, json_t *context, json_t **out,
                      struct sl_err *err)
{
    if (p->null) {
        *out = json_object();
        return 0;
    }
    if (!p->path) {
        *out = json_incref(doc);
        return 0;
    }
    json_t *from = sl_jsonpath_is_context(p->path) ? context : doc;
    int rc = from ? sl_jsonpath_get(p->path, from, out) : SL_ENOTFOUND;
    if (rc == SL_ENOTFOUND)
        return sl_errf(err, SL_EINVAL, "Invalid path '%.200s' : No results for path: %.200s",
                       sl_jsonpath_text(p->path), sl_jsonpath_text(p->path));
    return rc ? sl_errf(err, rc, "out of memory") : 0;
}

int sl_asl_input(const struct sl_asl_state *s, json_t *input, json_t *context, json_t **out,
                 struct sl_err *err)
{
    json_t *v = NULL;
    int rc = sl_asl_path_apply(&s->input_path, input, context, &v, err);
    if (rc || !s->parameters || s->type == SL_ASL_MAP) {
        *out = v;
        return rc;
    }
    rc = sl_template_eval(s->parameters, v, context, out, err);
    json_decref(v);
    return rc;
}

int sl_asl_output(const struct sl_asl_state *s, json_t *input, json_t *result, json_t *context,
                  json_t **out, const char **error, struct sl_err *err)
{
    *out = NULL;
    *error = "States.Runtime";
    json_t *r = NULL;
    int rc = 0;
    if (s->result_selector)
        rc = sl_template_eval(s->result_selector, result, context, &r, err);
    else
        r = json_incref(result);
    if (rc)
        return rc;
    json_t *merged = NULL;
    if (s->result_path.null) {
        merged = json_incref(input);
    } else if (!s->result_path.path) {
        merged = json_incref(r);
    } else {
        merged = json_deep_copy(input);
        rc = merged ? sl_jsonpath_set(s->result_path.path, &merged, r, err)
                    : sl_errf(err, SL_ENOMEM, "out of memory");
        if (rc == SL_EINVAL) {
            *error = "States.ResultPathMatchFailure";
            char *shown = json_dumps(input, JSON_ENCODE_ANY | JSON_COMPACT);
            rc = sl_errf(err, SL_EINVAL,
                         "Unable to apply ResultPath \"%.200s\" to input \"%.1000s\"",
                         sl_jsonpath_text(s->result_path.path), shown ? shown : "");
            free(shown);
        }
    }
    json_decref(r);
    if (rc) {
        json_decref(merged);
        return rc;
    }
    rc = sl_asl_path_apply(&s->output_path, merged, context, out, err);
    json_decref(merged);
    return rc;
}

bool sl_asl_error_matches(const char *const *errors, size_t n, const char *error)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(errors[i], error) == 0)
            return true;
        if (strcmp(errors[i], "States.ALL") == 0 && strcmp(error, "States.Runtime") != 0 &&
            strcmp(error, "States.DataLimitExceeded") != 0)
            return true;
        if (strcmp(errors[i], "States.TaskFailed") == 0 && strcmp(error, "States.Timeout") != 0 &&
            strcmp(error, "States.Runtime") != 0 && strcmp(error, "States.DataLimitExceeded") != 0)
            return true;
    }
    return false;
}

/* ---- Task resources ------------------------------------------------------------------ */

/* The services a Task reaches: the resource's name, botocore's, and the
 * error prefixes of the optimized and the SDK integrations. */
static const struct res_service {
    const char *name, *botocore, *optimized, *sdk;
} res_services[] = {
    {"lambda", "lambda", "Lambda", "Lambda"},
    {"sqs", "sqs", "SQS", "Sqs"},
    {"sns", "sns", "SNS", "Sns"},
    {"dynamodb", "dynamodb", "DynamoDB", "DynamoDb"},
    {"events", "events", "EventBridge", "EventBridge"},
    {"eventbridge", "events", "EventBridge", "EventBridge"},
    {"states", "stepfunctions", "StepFunctions", "Sfn"},
    {"sfn", "stepfunctions", "StepFunctions", "Sfn"},
    {"kinesis", "kinesis", "Kinesis", "Kinesis"},
    {"scheduler", "scheduler", "Scheduler", "Scheduler"},
    {"cloudwatchlogs", "logs", "CloudWatchLogs", "CloudWatchLogs"},
    {"sts", "sts", "Sts", "Sts"},
    {"dynamodbstreams", "dynamodbstreams", "DynamoDbStreams", "DynamoDbStreams"},
};

/* The optimized integrations, with the patterns each takes. */
static const struct res_optimized {
    const char *service, *action;
    bool token, sync;
} res_optimized[] = {
    {"lambda", "invoke", true, false},          {"sqs", "sendMessage", true, false},
    {"sns", "publish", true, false},            {"dynamodb", "putItem", false, false},
    {"dynamodb", "getItem", false, false},      {"dynamodb", "updateItem", false, false},
    {"dynamodb", "deleteItem", false, false},   {"events", "putEvents", true, false},
    {"states", "startExecution", true, true},
};

/* AWS's other optimized integrations: valid in a definition, not run. */
static const char *const res_elsewhere[] = {
    "athena",   "batch",        "bedrock",         "codebuild",      "ecs",
    "eks",      "elasticmapreduce", "emr-containers", "emr-serverless", "apigateway",
    "glue",     "databrew",     "sagemaker",       "http",           "mediaconvert",
    "evidently", "states-activity",
};

static bool res_elsewhere_has(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof(res_elsewhere) / sizeof(res_elsewhere[0]); i++)
        if (strlen(res_elsewhere[i]) == n && strncmp(res_elsewhere[i], name, n) == 0)
            return true;
    return false;
}

static const struct res_service *res_service(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof(res_services) / sizeof(res_services[0]); i++)
        if (strlen(res_services[i].name) == n && strncmp(res_services[i].name, name, n) == 0)
            return &res_services[i];
    return NULL;
}

int sl_asl_resource_parse(const char *arn, struct sl_asl_resource *out, struct sl_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *lambda = "arn:aws:lambda:";
    if (strncmp(arn, lambda, strlen(lambda)) == 0) {
        /* arn:aws:lambda:region:account:function:name[:qualifier] */
        const char *p = arn + strlen(lambda);
        const char *c1 = strchr(p, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || strncmp(c2 + 1, "function:", 9) != 0 || !c2[10])
            return sl_errf(err, SL_EINVAL, "The resource provided %.300s is not a function's "
                                           "ARN",
                           arn);
        out->kind = SL_RES_FUNCTION;
        sl_strlcpy(out->service, "lambda", sizeof(out->service));
        sl_strlcpy(out->botocore, "lambda", sizeof(out->botocore));
        sl_strlcpy(out->op, "Invoke", sizeof(out->op));
        sl_strlcpy(out->prefix, "Lambda", sizeof(out->prefix));
        return 0;
    }
    const char *states = "arn:aws:states:::";
    const char *activity = strstr(arn, ":activity:");
    if (strncmp(arn, "arn:aws:states:", 15) == 0 && activity && activity[10]) {
        out->kind = SL_RES_UNSUPPORTED; /* (an activity: its workers poll) */
        return 0;
    }
    if (strncmp(arn, states, strlen(states)) != 0)
        return sl_errf(err, SL_EINVAL,
                       "The resource provided %.300s is not recognized. The value is not a "
                       "valid resource ARN, or the resource is not available in this region.",
                       arn);
    const char *p = arn + strlen(states);
    bool sdk = strncmp(p, "aws-sdk:", 8) == 0;
    if (sdk)
        p += 8;
    const char *colon = strchr(p, ':');
    const struct res_service *svc = colon ? res_service(p, (size_t)(colon - p)) : NULL;
    const char *action = colon ? colon + 1 : "";
    const char *dot = strchr(action, '.');
    size_t alen = dot ? (size_t)(dot - action) : strlen(action);
    const char *pattern = dot ? dot + 1 : "";
    bool pattern_ok = true;
    if (strcmp(pattern, "sync") == 0)
        out->mode = SL_RES_SYNC;
    else if (strcmp(pattern, "sync:2") == 0)
        out->mode = SL_RES_SYNC, out->sync2 = true;
    else if (strcmp(pattern, "waitForTaskToken") == 0)
        out->mode = SL_RES_TOKEN;
    else if (*pattern)
        pattern_ok = false;
    if (!pattern_ok)
        svc = NULL;
    size_t slen = colon ? (size_t)(colon - p) : 0;
    if (!svc && pattern_ok && slen && alen > 0 && !memchr(action, ':', alen) &&
        (sdk ? out->mode != SL_RES_SYNC && !strchr(action, ':') : res_elsewhere_has(p, slen))) {
        /* A service Sluice does not have, which AWS's definitions may
         * name: the Task fails when it runs. */
        out->kind = SL_RES_UNSUPPORTED;
        return 0;
    }
    bool known = svc && alen > 0 && alen < sizeof(out->op) && !memchr(action, ':', alen);
    if (known && !sdk) {
        known = false;
        for (size_t i = 0; i < sizeof(res_optimized) / sizeof(res_optimized[0]); i++) {
            const struct res_optimized *o = &res_optimized[i];
            if (strcmp(o->service, svc->name) == 0 && strlen(o->action) == alen &&
                strncmp(o->action, action, alen) == 0)
                known = out->mode == SL_RES_RESPONSE || (out->mode == SL_RES_TOKEN && o->token) ||
                        (out->mode == SL_RES_SYNC && o->sync);
        }
    } else if (known && out->mode == SL_RES_SYNC) {
        known = false; /* (the SDK integrations take no .sync) */
    }
    if (!known)
        return sl_errf(err, SL_EINVAL,
                       "The resource provided %.300s is not recognized. The value is not a "
                       "valid resource ARN, or the resource is not available in this region.",
                       arn);
    out->kind = sdk ? SL_RES_SDK : SL_RES_OPTIMIZED;
    sl_strlcpy(out->service, svc->name, sizeof(out->service));
    sl_strlcpy(out->botocore, svc->botocore, sizeof(out->botocore));
    sl_strlcpy(out->prefix, sdk ? svc->sdk : svc->optimized, sizeof(out->prefix));
    memcpy(out->op, action, alen);
    out->op[alen] = '\0';
    out->op[0] = (char)toupper((unsigned char)out->op[0]);
    return 0;
}

/* The first Task of m (or of its branches and processors) with a pattern
 * EXPRESS machines do not take; where is its path. */
static const struct sl_asl_state *express_refuses(const struct sl_asl *m, char *where, size_t n)
{
    size_t base = strlen(where);
    for (size_t i = 0; i < m->n; i++) {
        const struct sl_asl_state *s = &m->states[i];
        snprintf(where + base, n - base, "/States/%s", s->name);
        if (s->type == SL_ASL_TASK && s->res.kind != SL_RES_UNSUPPORTED &&
            s->res.mode != SL_RES_RESPONSE)
            return s;
        size_t at = strlen(where);
        for (size_t b = 0; b < s->nbranches; b++) {
            snprintf(where + at, n - at, "/Branches[%zu]", b);
            const struct sl_asl_state *found = express_refuses(s->branches[b], where, n);
            if (found)
                return found;
        }
        if (s->processor) {
            snprintf(where + at, n - at, "/ItemProcessor");
            const struct sl_asl_state *found = express_refuses(s->processor, where, n);
            if (found)
                return found;
        }
        where[base] = '\0';
    }
    return NULL;
}

int sl_asl_check_express(const struct sl_asl *m, struct sl_err *err)
{
    char where[1024] = "";
    const struct sl_asl_state *s = express_refuses(m, where, sizeof(where));
    if (!s)
        return 0;
    const char *dot = strrchr(s->resource, '.');
    return sl_errf(err, SL_EINVAL,
                   "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Express state "
                   "machine does not support '%s' service integration at %s/Resource'",
                   dot ? dot : "", where);
}
