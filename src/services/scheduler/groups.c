/*
 * Schedule groups: Create/Get/List/DeleteScheduleGroup (a group goes with
 * its schedules, in one transaction; "default" always exists and cannot
 * be deleted) and the tags of groups (Tag/Untag/ListTagsForResource).
 */
#include "services/scheduler/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX 100

/* The call's group, from member (a name; NULL: "default"): 0, or answers. */
static int call_group(struct sl_call *c, const char *member, struct sch_ref *r)
{
    const char *name = json_string_value(json_object_get(c->in, member));
    if (!sch_ref_make(r, c->account, c->region, name, NULL))
        return sl_call_fail(c, SCH_E_VALIDATION, "Schedule group name %s is not valid.",
                            name ? name : "");
    return 0;
}

/* A group as the API shows it: its place, and the dates of its record
 * (none for "default"). */
static json_t *group_shown(const struct sch_ref *r, const json_t *rec)
{
    json_t *g = json_pack("{s:s, s:s, s:s}", "Arn", r->group_arn, "Name", r->group, "State",
                          "ACTIVE");
    static const char *const dates[] = {"CreationDate", "LastModificationDate"};
    for (size_t i = 0; g && i < SL_ARRAY_LEN(dates); i++) {
        json_t *d = json_object_get(rec, dates[i]);
        if (d)
            json_object_set(g, dates[i], d);
    }
    return g;
}

/* ---- changes -------------------------------------------------------------------- */

static int create_group(struct sl_txn *t, struct sch_change *w)
{
    if (strcmp(w->r.group, SCH_DEFAULT_GROUP) == 0)
        return sch_change_fail(w, SCH_E_CONFLICT, "Schedule group %s already exists.",
                               w->r.group);
    struct sl_item it;
    int rc = sl_txn_get(t, SCH_NS_GROUP, w->r.pk, w->r.group, &it);
    if (rc == SL_ENOTFOUND)
        return sch_put_json(t, SCH_NS_GROUP, w->r.pk, w->r.group, w->rec);
    if (rc)
        return rc;
    json_t *old = sch_record_parse(&it);
    sl_item_free(&it);
    /* (The same request again, by its ClientToken: the same answer.) */
    const char *token = json_string_value(json_object_get(w->in, "ClientToken"));
    const char *was = json_string_value(json_object_get(old, "_token"));
    bool again = token && was && strcmp(token, was) == 0;
    json_decref(old);
    return again ? 0
                 : sch_change_fail(w, SCH_E_CONFLICT, "Schedule group %s already exists.",
                                   w->r.group);
}

SL_OP(scheduler, CreateScheduleGroup)
{
    struct sch_change *w = sch_change_new(c, create_group);
    if (!w)
        return SL_ENOMEM;
    int rc = call_group(c, "Name", &w->r);
    if (rc)
        return rc;
    json_t *tags = json_object();
    size_t i;
    json_t *tag;
    json_array_foreach(json_object_get(c->in, "Tags"), i, tag)
    {
        json_object_set(tags, json_string_value(json_object_get(tag, "Key")),
                        json_object_get(tag, "Value"));
    }
    int64_t now = sl_time_now_ms();
    w->rec = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "Arn", w->r.group_arn, "Name",
                       w->r.group, "State", "ACTIVE", "CreationDate", sch_timestamp(now),
                       "LastModificationDate", sch_timestamp(now), "Tags", tags);
    const char *token = json_string_value(json_object_get(c->in, "ClientToken"));
    if (w->rec && token)
        json_object_set_new(w->rec, "_token", json_string(token));
    w->out = json_pack("{s:s}", "ScheduleGroupArn", w->r.group_arn);
    return w->rec && w->out ? sch_change_run(c, w) : SL_ENOMEM;
}

static int delete_group(struct sl_txn *t, struct sch_change *w)
{
    int rc = sl_txn_delete(t, SCH_NS_GROUP, w->r.pk, w->r.group);
    if (rc == SL_ENOTFOUND)
        return sch_change_fail(w, SCH_E_NOT_FOUND, SCH_GROUP_MISSING, w->r.group);
    return rc ? rc : sl_txn_delete_pk(t, SCH_NS_SCHEDULE, w->r.schedules, NULL);
}

SL_OP(scheduler, DeleteScheduleGroup)
{
    struct sch_change *w = sch_change_new(c, delete_group);
    if (!w)
        return SL_ENOMEM;
    int rc = call_group(c, "Name", &w->r);
    if (rc)
        return rc;
    if (strcmp(w->r.group, SCH_DEFAULT_GROUP) == 0)
        return sl_call_fail(c, SCH_E_VALIDATION, "The default schedule group cannot be "
                                                 "deleted.");
    w->schedules = true;
    return sch_change_run(c, w);
}

/* ---- reads ------------------------------------------------------------------------ */

SL_OP(scheduler, GetScheduleGroup)
{
    struct sch_ref r;
    int rc = call_group(c, "Name", &r);
    if (rc)
        return rc;
    struct sl_item it;
    rc = sl_kv_get(c->app->store, SCH_NS_GROUP, r.pk, r.group, &it);
    if (rc == SL_ENOTFOUND && strcmp(r.group, SCH_DEFAULT_GROUP) == 0)
        return sl_call_ok(c, group_shown(&r, NULL));
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, SCH_E_NOT_FOUND, SCH_GROUP_MISSING, r.group);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *rec = sch_record_parse(&it);
    sl_item_free(&it);
    json_t *out = group_shown(&r, rec);
    json_decref(rec);
    return sl_call_ok(c, out);
}

SL_OP(scheduler, ListScheduleGroups)
{
    const char *prefix = json_string_value(json_object_get(c->in, "NamePrefix"));
    const char *token = json_string_value(json_object_get(c->in, "NextToken"));
    json_t *lim = json_object_get(c->in, "MaxResults");
    size_t max = json_is_integer(lim) ? (size_t)json_integer_value(lim) : LIST_MAX;
    struct sch_ref d;
    sch_ref_make(&d, c->account, c->region, NULL, NULL);
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(c->app->store, SCH_NS_GROUP, d.pk, prefix, token, max + 1, &items, &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    /* "default" has no record until it is tagged: it takes its place in
     * the order among the others all the same. */
    bool stored = false;
    for (size_t i = 0; i < n; i++)
        stored = stored || strcmp(items[i].sk, SCH_DEFAULT_GROUP) == 0;
    bool add_default = !stored &&
                       (!prefix || strncmp(SCH_DEFAULT_GROUP, prefix, strlen(prefix)) == 0) &&
                       (!token || strcmp(SCH_DEFAULT_GROUP, token) > 0) &&
                       (n <= max || strcmp(SCH_DEFAULT_GROUP, items[n - 1].sk) < 0);
    size_t total = n + add_default;
    json_t *groups = json_array();
    const char *last = NULL;
    for (size_t k = 0, i = 0; k < total && k < max; k++) {
        struct sch_ref r;
        if (add_default && (i == n || strcmp(SCH_DEFAULT_GROUP, items[i].sk) < 0)) {
            json_array_append_new(groups, group_shown(&d, NULL));
            last = SCH_DEFAULT_GROUP;
            add_default = false;
            continue;
        }
        json_t *rec = sch_record_parse(&items[i]);
        if (sch_ref_make(&r, c->account, c->region, items[i].sk, NULL))
            json_array_append_new(groups, group_shown(&r, rec));
        json_decref(rec);
        last = items[i++].sk;
    }
    json_t *out = json_pack("{s:o}", "ScheduleGroups", groups);
    if (total > max && last)
        json_object_set_new(out, "NextToken", json_string(last));
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return sl_call_ok(c, out);
}

/* ---- tags ----------------------------------------------------------------------------- */

/* The call's tagged group (ResourceArn): 0, or answers. */
static int call_tagged(struct sl_call *c, struct sch_ref *r)
{
    const char *arn = json_string_value(json_object_get(c->in, "ResourceArn"));
    if (!sch_ref_parse_arn(arn, r) || r->name[0])
        return sl_call_fail(c, SCH_E_VALIDATION, "Invalid ResourceArn %s.", arn ? arn : "");
    if (strcmp(r->account, c->account) != 0 || strcmp(r->region, c->region) != 0)
        return sl_call_fail(c, SCH_E_NOT_FOUND, SCH_GROUP_MISSING, r->group);
    return 0;
}

/* Changes the group's tags: adds Tags, removes TagKeys. */
static int retag(struct sl_txn *t, struct sch_change *w)
{
    struct sl_item it;
    int rc = sl_txn_get(t, SCH_NS_GROUP, w->r.pk, w->r.group, &it);
    json_t *rec = NULL;
    if (rc == SL_ENOTFOUND && strcmp(w->r.group, SCH_DEFAULT_GROUP) == 0)
        rec = json_object();
    else if (rc == SL_ENOTFOUND)
        return sch_change_fail(w, SCH_E_NOT_FOUND, SCH_GROUP_MISSING, w->r.group);
    else if (rc)
        return rc;
    else {
        rec = sch_record_parse(&it);
        sl_item_free(&it);
    }
    if (!rec)
        return SL_ECORRUPT;
    json_t *tags = json_object_get(rec, "Tags");
    if (!json_is_object(tags)) {
        tags = json_object();
        json_object_set_new(rec, "Tags", tags);
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(w->in, "Tags"), i, v)
    {
        json_object_set(tags, json_string_value(json_object_get(v, "Key")),
                        json_object_get(v, "Value"));
    }
    json_array_foreach(json_object_get(w->in, "TagKeys"), i, v)
    {
        json_object_del(tags, json_string_value(v));
    }
    rc = sch_put_json(t, SCH_NS_GROUP, w->r.pk, w->r.group, rec);
    json_decref(rec);
    return rc;
}

static int tag_op(struct sl_call *c)
{
    struct sch_change *w = sch_change_new(c, retag);
    if (!w)
        return SL_ENOMEM;
    int rc = call_tagged(c, &w->r);
    return rc ? rc : sch_change_run(c, w);
}

SL_OP(scheduler, TagResource)
{
    return tag_op(c);
}

SL_OP(scheduler, UntagResource)
{
    return tag_op(c);
}

SL_OP(scheduler, ListTagsForResource)
{
    struct sch_ref r;
    int rc = call_tagged(c, &r);
    if (rc)
        return rc;
    struct sl_item it;
    rc = sl_kv_get(c->app->store, SCH_NS_GROUP, r.pk, r.group, &it);
    json_t *rec = NULL;
    if (rc == SL_ENOTFOUND && strcmp(r.group, SCH_DEFAULT_GROUP) != 0)
        return sl_call_fail(c, SCH_E_NOT_FOUND, SCH_GROUP_MISSING, r.group);
    if (rc && rc != SL_ENOTFOUND)
        return sl_call_internal(c, rc, NULL);
    if (!rc) {
        rec = sch_record_parse(&it);
        sl_item_free(&it);
    }
    json_t *tags = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(rec, "Tags"), k, v)
    {
        json_array_append_new(tags, json_pack("{s:s, s:O}", "Key", k, "Value", v));
    }
    json_decref(rec);
    return sl_call_ok(c, json_pack("{s:o}", "Tags", tags));
}
