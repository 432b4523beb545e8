/* libFuzzer target: schedule expressions as PutRule and CreateSchedule
 * receive them. The first byte picks the owner (bit 0: the Scheduler) and
 * the times asked about; then the expression, and after a newline an
 * optional time zone name. Whatever parses must answer consistently: a
 * next fire time strictly after the time asked, the same answer from any
 * time between the two, a cron time at second 0 of the zone's wall
 * clock, a rate's fires evenly spaced, an at() time that does not move. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/schedule.h"

/* Times to ask from: around New York's and Berlin's 2024 changes, a leap
 * day, the end of the years cron allows, before the epoch. */
static const int64_t afters[] = {
    1710052200000, /* 2024-03-10T06:30:00Z */
    1730611800000, /* 2024-11-03T05:30:00Z */
    1711846800000, /* 2024-03-31T01:00:00Z */
    1709164800000, /* 2024-02-29T00:00:00Z */
    7258032000000, /* 2199-12-31T00:00:00Z */
    -86400000,     /* 1969-12-31 */
    0,
    951782399999, /* 2000-02-28T23:59:59.999Z */
};

static void check_cron(const struct sl_schedule *s, const struct sl_tz *z, int64_t after)
{
    int64_t n = sl_schedule_next(s, 0, after);
    if (n == -1)
        return;
    if (n <= after || n % 1000 != 0)
        abort();
    int64_t sec = n / 1000;
    if ((sec + (z ? sl_tz_offset(z, sec) : 0)) % 60 != 0)
        abort();
    /* Asked from anywhere before it, not before after, the same answer. */
    for (int64_t k = 1; k <= 4; k++) {
        int64_t t = after + (n - after) * k / 5;
        if (sl_schedule_next(s, 0, t) != n)
            abort();
    }
    if (sl_schedule_next(s, 0, n - 1) != n)
        abort();
    int64_t m = sl_schedule_next(s, 0, n);
    if (m != -1 && m <= n)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1024)
        return 0;
    enum sl_schedule_owner owner = (data[0] & 1) ? SL_SCHEDULE_SCHEDULER : SL_SCHEDULE_RULE;
    size_t pick = (size_t)(data[0] >> 1) % SL_ARRAY_LEN(afters);
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    char *tz = strchr(text, '\n');
    if (tz)
        *tz++ = '\0';

    struct sl_err err = {0};
    struct sl_schedule *s = (struct sl_schedule *)&err;
    int rc = sl_schedule_parse(text, tz, owner, &s, &err);
    if (rc) {
        if (rc > 0 || s || strnlen(err.msg, sizeof(err.msg)) == sizeof(err.msg))
            abort();
        free(text);
        return 0;
    }
    struct sl_tz *z = NULL;
    if (tz && sl_tz_load(NULL, tz, &z, &err) != 0)
        abort(); /* it loaded for the schedule */

    int64_t after = afters[pick];
    switch (sl_schedule_kind(s)) {
    case SL_SCHEDULE_CRON:
        check_cron(s, z, after);
        check_cron(s, z, afters[(pick + 1) % SL_ARRAY_LEN(afters)]);
        break;
    case SL_SCHEDULE_RATE: {
        int64_t anchor = afters[(pick + 3) % SL_ARRAY_LEN(afters)];
        int64_t a = sl_schedule_next(s, anchor, after);
        if (a == -1)
            break;
        int64_t b = sl_schedule_next(s, anchor, a), c = sl_schedule_next(s, anchor, b);
        if (a <= after || (b != -1 && b <= a) || (b != -1 && c != -1 && c - b != b - a))
            abort();
        if (sl_schedule_next(s, anchor, a - 1) != a)
            abort();
        break;
    }
    case SL_SCHEDULE_AT: {
        int64_t a = sl_schedule_next(s, 0, -1);
        int64_t b = sl_schedule_next(s, 0, after);
        if ((b != -1 && b != a) || (a != -1 && sl_schedule_next(s, 0, a) != -1))
            abort();
        break;
    }
    }
    sl_tz_free(z);
    sl_schedule_free(s);
    free(text);
    return 0;
}
