/* libFuzzer target: what EventBridge Scheduler reads beyond the protocol
 * layer's checks: ARNs of groups and schedules (whatever parses must name
 * the same place again), schedules' pks, a schedule's record as stored
 * (its fire times: a next time strictly after the time asked and inside
 * the dates, a missed time not later than now nor earlier than its
 * lateness allows), dates, and inputs with the context attributes put in
 * (text without them comes back as it was). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/scheduler/internal.h"

/* 2024-03-10T06:30:00Z: around New York's spring change. */
#define NOW_MS 1710052200000LL

static void check_plan(const json_t *rec)
{
    struct sch_plan p;
    struct sl_err err = {0};
    if (sch_plan_parse(rec, &p, &err))
        return;
    json_t *now_v = json_object_get(rec, "now");
    int64_t now = json_is_integer(now_v) ? (int64_t)json_integer_value(now_v) : NOW_MS;
    if (now < 0 || now > 253402300799000LL)
        now = NOW_MS;
    int64_t next = sch_plan_next(&p, now);
    if (next >= 0 && (next <= now || (p.start_ms >= 0 && next < p.start_ms) ||
                      (p.end_ms >= 0 && next >= p.end_ms)))
        abort();
    int64_t missed = sch_plan_missed(&p, now);
    if (missed >= 0 && (missed > now || missed <= p.from_ms || now - missed > p.late_ms ||
                        (p.end_ms >= 0 && missed >= p.end_ms)))
        abort();
    sch_plan_clear(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct sch_ref r, again;
    if (sch_ref_parse_arn(s, &r)) {
        const char *arn = r.name[0] ? r.arn : r.group_arn;
        if (strcmp(arn, s) != 0 || !sch_ref_parse_arn(arn, &again) ||
            strcmp(again.arn, r.arn) != 0 || strcmp(again.group_arn, r.group_arn) != 0)
            abort();
    }
    if (sch_ref_parse_pk(s, "name", &r) && strcmp(r.schedules, s) != 0)
        abort();
    char *out = sch_input_expand(s, "arn:aws:scheduler:us-east-1:000000000000:schedule/default/s",
                                 NOW_MS, "00000000-0000-0000-0000-000000000000", 1, 1 << 20);
    if (out && !strstr(s, "<aws.scheduler.") && strcmp(out, s) != 0)
        abort();
    free(out);
    json_t *rec = json_loadb(s, size, 0, NULL);
    if (json_is_object(rec)) {
        check_plan(rec);
        int64_t ms;
        (void)sch_date_ms(json_object_get(rec, "StartDate"), &ms);
    }
    json_decref(rec);
    free(s);
    return 0;
}
