/*
 * Step Functions' row of the service table, and what its operations
 * share: state machines' names and places.
 */
#include "services/states/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct sl_aws_error errors[] = {SFN_ERRORS(SL_ERROR_ROW)};

bool sfn_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (!n || n > SFN_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch <= 0x20 || ch == 0x7F || strchr("<>{}[]?*\"#%\\^|~`$&,;:/", ch))
            return false;
        /* U+0080..U+009F, as UTF-8: C2 80..C2 9F. */
        if (ch == 0xC2 && i + 1 < n && (unsigned char)name[i + 1] >= 0x80 &&
            (unsigned char)name[i + 1] <= 0x9F)
            return false;
    }
    return true;
}

void sfn_ref_make(struct sfn_ref *out, const char *account, const char *region,
                  const char *name)
{
    memset(out, 0, sizeof(*out));
    sl_strlcpy(out->account, account, sizeof(out->account));
    sl_strlcpy(out->region, region, sizeof(out->region));
    sl_strlcpy(out->name, name, sizeof(out->name));
    snprintf(out->pk, sizeof(out->pk), "%s/%s", out->account, out->region);
    snprintf(out->arn, sizeof(out->arn), "arn:aws:states:%s:%s:stateMachine:%s", out->region,
             out->account, out->name);
}

bool sfn_ref_parse(const char *arn, struct sfn_ref *out)
{
    static const char prefix[] = "arn:aws:states:";
    if (!arn || strncmp(arn, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *r = arn + sizeof(prefix) - 1;
    const char *a = strchr(r, ':');
    const char *k = a ? strchr(a + 1, ':') : NULL;
    if (!a || !k || a == r || k == a + 1 || strncmp(k + 1, "stateMachine:", 13) != 0 ||
        (size_t)(a - r) >= sizeof(out->region) || (size_t)(k - a - 1) >= sizeof(out->account))
        return false;
    const char *name = k + 14;
    if (!sfn_name_ok(name))
        return false;
    char region[64], account[16];
    memcpy(region, r, (size_t)(a - r));
    region[a - r] = '\0';
    memcpy(account, a + 1, (size_t)(k - a - 1));
    account[k - a - 1] = '\0';
    sfn_ref_make(out, account, region, name);
    return true;
}

json_t *sfn_json_text(json_t *v)
{
    char *text = json_dumps(v ? v : json_null(), JSON_ENCODE_ANY | JSON_COMPACT);
    json_t *s = json_string(text ? text : "null");
    free(text);
    return s;
}

void sfn_eref_make(struct sfn_eref *e, const char *account, const char *region,
                      const char *machine, const char *name)
{
    memset(e, 0, sizeof(*e));
    sl_strlcpy(e->account, account, sizeof(e->account));
    sl_strlcpy(e->region, region, sizeof(e->region));
    sl_strlcpy(e->machine, machine, sizeof(e->machine));
    sl_strlcpy(e->name, name, sizeof(e->name));
    snprintf(e->pk, sizeof(e->pk), "%s/%s/%s", account, region, machine);
    snprintf(e->arn, sizeof(e->arn), "arn:aws:states:%s:%s:execution:%s:%s", region, account,
             machine, name);
    snprintf(e->machine_arn, sizeof(e->machine_arn), "arn:aws:states:%s:%s:stateMachine:%s",
             region, account, machine);
}

/* arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME */
bool sfn_eref_parse(const char *arn, struct sfn_eref *e)
{
    static const char prefix[] = "arn:aws:states:";
    if (!arn || strncmp(arn, prefix, sizeof(prefix) - 1) != 0 || strlen(arn) >= 400)
        return false;
    char buf[400];
    sl_strlcpy(buf, arn + sizeof(prefix) - 1, sizeof(buf));
    char *parts[5], *save = NULL, *p = buf;
    for (int i = 0; i < 5; i++) {
        parts[i] = strtok_r(i ? NULL : p, ":", &save);
        if (!parts[i])
            return false;
    }
    if (strtok_r(NULL, ":", &save) || strcmp(parts[2], "execution") != 0 ||
        strlen(parts[0]) >= sizeof(e->region) || strlen(parts[1]) >= sizeof(e->account) ||
        !sfn_name_ok(parts[3]) || !sfn_name_ok(parts[4]))
        return false;
    sfn_eref_make(e, parts[1], parts[0], parts[3], parts[4]);
    return true;
}


static int sfn_new(struct sl_app *app, void **state, struct sl_err *err)
{
    (void)err;
    struct sfn *st = calloc(1, sizeof(*st));
    if (!st)
        return SL_ENOMEM;
    st->app = app;
    sfn_tasks_init(st);
    *state = st;
    return 0;
}

static int sfn_start(void *state, struct sl_err *err)
{
    int rc = sfn_standard_start(state, err);
    return rc ? rc : sfn_targets_start(state, err);
}

static void sfn_stop(void *state)
{
    sfn_targets_stop(state);
    sfn_executions_stop(state);
}

static void sfn_free(void *state)
{
    sfn_targets_free(state);
    sfn_tasks_free(state);
    free(state);
}

SL_SERVICE_TABLES(states);

const struct sl_service sl_service_states = {
    .name = "stepfunctions",
    .model = &sl_model_states,
    .handlers = sl_states_handlers,
    .errors = errors,
    .e_internal = SFN_E_INTERNAL,
    .e_validation = SFN_E_VALIDATION,
    .e_serialization = SFN_E_SERIALIZATION,
    .e_too_big = SFN_E_VALIDATION,
    /* A definition is up to 1 MiB, JSON-escaped in the request. */
    .body_cap = 4 * 1024 * 1024,
    .new = sfn_new,
    .start = sfn_start,
    .stop = sfn_stop,
    .free = sfn_free,
    .targets = sfn_targets,
};
