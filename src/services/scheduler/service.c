/*
 * EventBridge Scheduler's row of the service table, and what its
 * operations share: the places of groups and schedules, the model's
 * patterns (the model layer checks lengths, enums and ranges, not
 * patterns), one transaction per change, and its counts.
 */
#include "services/scheduler/internal.h"

#include <assert.h>
#include <ctype.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct sl_aws_error errors[] = {SCH_ERRORS(SL_ERROR_ROW)};

/* ---- places ------------------------------------------------------------------- */

bool sch_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (!n || n > SCH_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

bool sch_ref_make(struct sch_ref *out, const char *account, const char *region,
                  const char *group, const char *name)
{
    memset(out, 0, sizeof(*out));
    if (!group)
        group = SCH_DEFAULT_GROUP;
    if (!sch_name_ok(group) || (name && *name && !sch_name_ok(name)) ||
        strlen(account) >= sizeof(out->account) || strlen(region) >= sizeof(out->region))
        return false;
    sl_strlcpy(out->account, account, sizeof(out->account));
    sl_strlcpy(out->region, region, sizeof(out->region));
    sl_strlcpy(out->group, group, sizeof(out->group));
    sl_strlcpy(out->name, name ? name : "", sizeof(out->name));
    snprintf(out->pk, sizeof(out->pk), "%s/%s", out->account, out->region);
    snprintf(out->schedules, sizeof(out->schedules), "%s/%s", out->pk, out->group);
    snprintf(out->group_arn, sizeof(out->group_arn), "arn:aws:scheduler:%s:%s:schedule-group/%s",
             out->region, out->account, out->group);
    if (out->name[0])
        snprintf(out->arn, sizeof(out->arn), "arn:aws:scheduler:%s:%s:schedule/%s/%s",
                 out->region, out->account, out->group, out->name);
    return true;
}

/* Copies the n bytes at s into out (of size cap) when they fit. */
static bool part(char *out, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

bool sch_ref_parse_arn(const char *arn, struct sch_ref *out)
{
    static const char prefix[] = "arn:aws:scheduler:";
    if (!arn || strncmp(arn, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *r = arn + sizeof(prefix) - 1;
    const char *a = strchr(r, ':');
    const char *res = a ? strchr(a + 1, ':') : NULL;
    char region[64], account[16], group[SCH_NAME_MAX + 1], name[SCH_NAME_MAX + 1];
    if (!a || !res || a == r || res == a + 1 || !part(region, sizeof(region), r, (size_t)(a - r)) ||
        !part(account, sizeof(account), a + 1, (size_t)(res - a - 1)))
        return false;
    for (const char *p = account; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    res++;
    if (strncmp(res, "schedule-group/", 15) == 0)
        return sch_ref_make(out, account, region, res + 15, NULL) && strchr(res + 15, '/') == NULL;
    const char *slash = strncmp(res, "schedule/", 9) == 0 ? strchr(res + 9, '/') : NULL;
    if (!slash || !part(group, sizeof(group), res + 9, (size_t)(slash - res - 9)) ||
        !part(name, sizeof(name), slash + 1, strlen(slash + 1)) || !name[0])
        return false;
    return sch_ref_make(out, account, region, group, name);
}

bool sch_ref_parse_pk(const char *pk, const char *name, struct sch_ref *out)
{
    const char *a = strchr(pk, '/');
    const char *g = a ? strchr(a + 1, '/') : NULL;
    char account[16], region[64];
    if (!g || !part(account, sizeof(account), pk, (size_t)(a - pk)) ||
        !part(region, sizeof(region), a + 1, (size_t)(g - a - 1)))
        return false;
    return sch_ref_make(out, account, region, g + 1, name);
}

int sch_group_exists_txn(struct sl_txn *t, const struct sch_ref *r)
{
    if (strcmp(r->group, SCH_DEFAULT_GROUP) == 0)
        return 0;
    return sl_txn_exists(t, SCH_NS_GROUP, r->pk, r->group);
}

int sch_group_exists(struct sl_store *s, const struct sch_ref *r)
{
    if (strcmp(r->group, SCH_DEFAULT_GROUP) == 0)
        return 0;
    struct sl_item it;
    int rc = sl_kv_get(s, SCH_NS_GROUP, r->pk, r->group, &it);
    if (!rc)
        sl_item_free(&it);
    return rc;
}

/* ---- records ----------------------------------------------------------------------- */

json_t *sch_shown(json_t *rec)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(rec, tmp, k, v)
    {
        if (k[0] == '_')
            json_object_del(rec, k);
    }
    return rec;
}

json_t *sch_record_parse(const struct sl_item *it)
{
    json_t *rec = json_loadb(it->val, it->val_len, 0, NULL);
    if (rec && !json_is_object(rec)) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

int sch_put_json(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
                 const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    int rc = text ? sl_txn_put(t, ns, pk, sk, text, strlen(text), NULL) : SL_ENOMEM;
    free(text);
    return rc;
}

json_t *sch_timestamp(int64_t ms)
{
    return json_real((double)ms / 1000.0);
}

/* ---- one transaction per change ------------------------------------------------------ */

static void change_free(struct sl_call *c)
{
    struct sch_change *w = c->state;
    if (w) {
        json_decref(w->rec);
        json_decref(w->out);
    }
}

struct sch_change *sch_change_new(struct sl_call *c, int (*fn)(struct sl_txn *,
                                                               struct sch_change *))
{
    struct sch_change *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return NULL;
    w->st = c->svc;
    w->in = c->in;
    w->fn = fn;
    c->state = w;
    c->state_free = change_free;
    return w;
}

int sch_change_fail(struct sch_change *w, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
    va_end(ap);
    w->code = code;
    return SL_EINVAL;
}

static int change_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct sch_change *w = arg;
    return w->fn(t, w);
}

static int changed(struct sl_call *c)
{
    struct sch_change *w = c->write_arg;
    if (c->write_rc == SL_EINVAL && w->code)
        return sl_call_fail(c, w->code, "%s", w->msg);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (w->schedules)
        sch_runner_reload(w->st);
    return sl_call_ok(c, w->out ? json_incref(w->out) : json_object());
}

int sch_change_run(struct sl_call *c, struct sch_change *w)
{
    return sl_call_write(c, change_txn, w, changed);
}

/* ---- the model's patterns -------------------------------------------------------------- */

/* Input members whose shape has a pattern: where the member is, the
 * pattern as AWS's message shows it, and the same in POSIX ERE. */
static const struct {
    const char *path; /* "Target.RoleArn" */
    const char *aws, *ere;
} patterns[] = {
    {"Name", "^[0-9a-zA-Z-_.]+$", "^[0-9a-zA-Z_.-]+$"},
    {"GroupName", "^[0-9a-zA-Z-_.]+$", "^[0-9a-zA-Z_.-]+$"},
    {"NamePrefix", "^[a-zA-Z][0-9a-zA-Z-_]*$", "^[a-zA-Z][0-9a-zA-Z_-]*$"},
    {"ClientToken", "^[a-zA-Z0-9-_]+$", "^[a-zA-Z0-9_-]+$"},
    {"ResourceArn",
     "^arn:aws(-[a-z]+)?:scheduler:[a-z0-9\\-]+:\\d{12}:schedule-group\\/[0-9a-zA-Z-_.]+$",
     "^arn:aws(-[a-z]+)?:scheduler:[a-z0-9-]+:[0-9]{12}:schedule-group/[0-9a-zA-Z_.-]+$"},
    {"KmsKeyArn",
     "^arn:aws(-[a-z]+)?:kms:[a-z0-9\\-]+:\\d{12}:(key|alias)\\/[0-9a-zA-Z-_]*$",
     "^arn:aws(-[a-z]+)?:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[0-9a-zA-Z_-]*$"},
    {"Target.RoleArn",
     "^arn:aws(-[a-z]+)?:iam::\\d{12}:role\\/(service-role\\/){0,1}[a-zA-Z0-9\\+=,\\.@\\-_]+$",
     "^arn:aws(-[a-z]+)?:iam::[0-9]{12}:role/(service-role/)?[a-zA-Z0-9+=,.@_-]+$"},
    {"Target.DeadLetterConfig.Arn",
     "^arn:aws(-[a-z]+)?:sqs:[a-z0-9\\-]+:\\d{12}:[a-zA-Z0-9\\-_]+$",
     "^arn:aws(-[a-z]+)?:sqs:[a-z0-9-]+:[0-9]{12}:[a-zA-Z0-9_-]+$"},
};

static int compile_patterns(struct sch *st)
{
    st->patterns = calloc(SL_ARRAY_LEN(patterns), sizeof(regex_t));
    if (!st->patterns)
        return SL_ENOMEM;
    for (size_t i = 0; i < SL_ARRAY_LEN(patterns); i++) {
        /* (The table is ours: a pattern that does not compile is a bug.) */
        int rc = regcomp(&st->patterns[i], patterns[i].ere, REG_EXTENDED | REG_NOSUB);
        assert(rc == 0);
        (void)rc;
    }
    return 0;
}

static void free_patterns(struct sch *st)
{
    if (!st->patterns)
        return;
    for (size_t i = 0; i < SL_ARRAY_LEN(patterns); i++)
        regfree(&st->patterns[i]);
    free(st->patterns);
    st->patterns = NULL;
}

/* Checks every patterned member of the input: 0, or answers (SL_DONE). */
static int check_patterns(struct sl_call *c)
{
    struct sch *st = c->svc;
    for (size_t i = 0; i < SL_ARRAY_LEN(patterns); i++) {
        const json_t *v = c->in;
        char path[64] = "", seg[32];
        for (const char *p = patterns[i].path; v && *p;) {
            size_t n = strcspn(p, ".");
            snprintf(seg, sizeof(seg), "%.*s", (int)n, p);
            v = json_object_get(v, seg);
            seg[0] = (char)tolower((unsigned char)seg[0]);
            sl_strlcat(path, path[0] ? "." : "", sizeof(path));
            sl_strlcat(path, seg, sizeof(path));
            p += n + (p[n] == '.');
        }
        const char *s = json_string_value(v);
        if (s && regexec(&st->patterns[i], s, 0, NULL, 0) != 0)
            return sl_call_fail(c, SCH_E_VALIDATION,
                                "1 validation error detected: Value '%.150s' at '%s' failed to "
                                "satisfy constraint: Member must satisfy regular expression "
                                "pattern: %s",
                                s, path, patterns[i].aws);
    }
    return 0;
}

/* ---- the row ------------------------------------------------------------------------- */

static void sch_metrics(void *state, struct sl_buf *out)
{
    struct sch *st = state;
    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
        {"invocations", "Schedules' invocations of their targets.",
         offsetof(struct sch_counts, invocations)},
        {"failed_invocations", "Invocations that found their target gone.",
         offsetof(struct sch_counts, failed)},
        {"dead_lettered", "Failed invocations sent to a dead-letter queue.",
         offsetof(struct sch_counts, dead_lettered)},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(counters); i++) {
        atomic_uint_fast64_t *v = (atomic_uint_fast64_t *)((char *)&st->counts + counters[i].off);
        sl_buf_printf(out,
                      "# HELP sluice_scheduler_%s_total %s\n"
                      "# TYPE sluice_scheduler_%s_total counter\n"
                      "sluice_scheduler_%s_total %llu\n",
                      counters[i].name, counters[i].help, counters[i].name, counters[i].name,
                      (unsigned long long)atomic_load(v));
    }
}

static void sch_free(void *state)
{
    struct sch *st = state;
    if (!st)
        return;
    sch_runner_free(st);
    free_patterns(st);
    free(st);
}

static int sch_new(struct sl_app *app, void **state, struct sl_err *err)
{
    struct sch *st = calloc(1, sizeof(*st));
    if (!st)
        return SL_ENOMEM;
    st->app = app;
    int rc = compile_patterns(st);
    if (!rc)
        rc = sch_runner_new(st);
    if (rc) {
        sch_free(st);
        return sl_errf(err, rc, "scheduler: cannot start: %s", sl_strerror(rc));
    }
    *state = st;
    return 0;
}

static int sch_start(void *state, struct sl_err *err)
{
    int rc = sch_runner_start(state);
    return rc ? sl_errf(err, rc, "scheduler: cannot start schedules: %s", sl_strerror(rc)) : 0;
}

static void sch_stop(void *state)
{
    sch_runner_stop(state);
}

SL_SERVICE_TABLES(scheduler);

const struct sl_service sl_service_scheduler = {
    .name = "scheduler",
    .model = &sl_model_scheduler,
    .handlers = sl_scheduler_handlers,
    .errors = errors,
    .e_internal = SCH_E_INTERNAL,
    .e_validation = SCH_E_VALIDATION,
    .e_serialization = SCH_E_VALIDATION,
    .e_too_big = SCH_E_VALIDATION,
    .body_cap = 1024 * 1024,
    .check = check_patterns,
    .new = sch_new,
    .start = sch_start,
    .stop = sch_stop,
    .free = sch_free,
    .metrics = sch_metrics,
};
