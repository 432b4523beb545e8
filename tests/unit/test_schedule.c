/* Unit tests of schedule expressions and time zones (engine/schedule.h):
 * numbered cases of an expression, a time zone, a time and the next fire
 * time after it, one table per behaviour (the rows follow EventBridge's
 * "cron and rate expressions" and the Scheduler's "schedule types" pages;
 * every expected time was worked out by hand, the calendar and zone ones
 * checked against `date` and Python's zoneinfo), then expressions parsing
 * must refuse, with the reason checked, then the TZif reader on tzdata's
 * files and on files made here. Times are UTC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/schedule.h"

/* "2024-01-02T03:04:05Z" or "2024-01-02T03:04:05.678Z" in ms; "-" is -1. */
static int64_t ms(const char *iso)
{
    if (strcmp(iso, "-") == 0)
        return -1;
    time_t t;
    assert_int_equal(sl_time_parse_iso8601(iso, &t), 0);
    const char *dot = strchr(iso, '.');
    return (int64_t)t * 1000 + (dot ? strtol(dot + 1, NULL, 10) : 0);
}

static void iso(int64_t v, char *out, size_t n)
{
    if (v == -1)
        snprintf(out, n, "-");
    else
        sl_time_iso8601_ms(v, out, n);
}

struct ncase {
    int id;
    const char *expr, *tz; /* tz NULL: UTC */
    const char *after, *want;
};

static struct sl_schedule *parse_ok(int id, const char *expr, const char *tz,
                                    enum sl_schedule_owner owner)
{
    struct sl_err err = {0};
    struct sl_schedule *s = NULL;
    int rc = sl_schedule_parse(expr, tz, owner, &s, &err);
    if (rc)
        fail_msg("case %d: %s (%s) does not parse: %s", id, expr, tz ? tz : "UTC", err.msg);
    return s;
}

/* Runs cases through the Scheduler's parser (rules' too when in UTC: the
 * two share cron). anchor is for rate(). */
static void run_cases(const struct ncase *v, size_t n, enum sl_schedule_owner owner,
                      const char *anchor)
{
    for (size_t i = 0; i < n; i++) {
        struct sl_schedule *s = parse_ok(v[i].id, v[i].expr, v[i].tz, owner);
        int64_t got = sl_schedule_next(s, anchor ? ms(anchor) : 0, ms(v[i].after));
        sl_schedule_free(s);
        if (got != ms(v[i].want)) {
            char g[40];
            iso(got, g, sizeof(g));
            fail_msg("case %d: %s (%s) after %s: %s, want %s", v[i].id, v[i].expr,
                     v[i].tz ? v[i].tz : "UTC", v[i].after, g, v[i].want);
        }
    }
}

#define RUN(table) run_cases(table, SL_ARRAY_LEN(table), SL_SCHEDULE_SCHEDULER, NULL)

/* ---- rate() ------------------------------------------------------------ */

static void test_rate_rule_counts_from_creation(void **state)
{
    (void)state;
    /* A rule's rate schedule starts counting at its creation: the first
     * event is one period later. */
    static const struct ncase v[] = {
        {1, "rate(5 minutes)", NULL, "2024-01-01T00:00:00Z", "2024-01-01T00:05:00Z"},
        {2, "rate(5 minutes)", NULL, "2023-12-31T00:00:00Z", "2024-01-01T00:05:00Z"},
        {3, "rate(5 minutes)", NULL, "2024-01-01T00:04:59.999Z", "2024-01-01T00:05:00Z"},
        {4, "rate(5 minutes)", NULL, "2024-01-01T00:05:00Z", "2024-01-01T00:10:00Z"},
        {5, "rate(5 minutes)", NULL, "2024-01-01T01:02:03Z", "2024-01-01T01:05:00Z"},
        {6, "rate(1 minute)", NULL, "2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"},
        {7, "rate(1 hour)", NULL, "2024-01-01T00:30:00Z", "2024-01-01T01:00:00Z"},
        {8, "rate(12 hours)", NULL, "2024-01-01T12:00:00Z", "2024-01-02T00:00:00Z"},
        {9, "rate(1 day)", NULL, "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"},
        {10, "rate(7 days)", NULL, "2024-01-02T00:00:00Z", "2024-01-08T00:00:00Z"},
    };
    run_cases(v, SL_ARRAY_LEN(v), SL_SCHEDULE_RULE, "2024-01-01T00:00:00Z");
}

static void test_rate_scheduler_starts_at_start_date(void **state)
{
    (void)state;
    /* The Scheduler's first invocation is at StartDate (or at creation). */
    static const struct ncase v[] = {
        {1, "rate(5 minutes)", NULL, "2024-01-01T00:00:00Z", "2024-01-01T09:30:00Z"},
        {2, "rate(5 minutes)", NULL, "2024-01-01T09:29:59.999Z", "2024-01-01T09:30:00Z"},
        {3, "rate(5 minutes)", NULL, "2024-01-01T09:30:00Z", "2024-01-01T09:35:00Z"},
        {4, "rate(1 hour)", NULL, "2024-01-01T09:30:00Z", "2024-01-01T10:30:00Z"},
        {5, "rate(2 days)", NULL, "2024-01-02T09:30:00Z", "2024-01-03T09:30:00Z"},
    };
    run_cases(v, SL_ARRAY_LEN(v), SL_SCHEDULE_SCHEDULER, "2024-01-01T09:30:00Z");

    /* A day is 24 hours, not a calendar day: across New York's spring
     * forward, 07:00 EST becomes 08:00 EDT. */
    static const struct ncase ny[] = {
        {6, "rate(1 day)", "America/New_York", "2024-03-09T12:00:00Z", "2024-03-10T12:00:00Z"},
        {7, "rate(1 day)", "America/New_York", "2024-03-10T12:00:00Z", "2024-03-11T12:00:00Z"},
    };
    run_cases(ny, SL_ARRAY_LEN(ny), SL_SCHEDULE_SCHEDULER, "2024-03-09T12:00:00Z");

    /* Each value of N counts in its own unit. */
    struct sl_schedule *s = parse_ok(8, "rate(90 minutes)", NULL, SL_SCHEDULE_RULE);
    assert_int_equal(sl_schedule_kind(s), SL_SCHEDULE_RATE);
    assert_int_equal(sl_schedule_next(s, 0, 0), 90 * 60000);
    assert_int_equal(sl_schedule_next(s, 0, 90 * 60000), 180 * 60000);
    sl_schedule_free(s);
    s = parse_ok(9, "rate(2147483647 days)", NULL, SL_SCHEDULE_RULE);
    assert_int_equal(sl_schedule_next(s, 0, 0), 2147483647LL * 86400000);
    sl_schedule_free(s);
}

/* ---- cron(): the fields ------------------------------------------------- */

static void test_cron_fields(void **state)
{
    (void)state;
    static const struct ncase v[] = {
        /* Single values; strictly after: a fire time itself is passed. */
        {1, "cron(0 10 * * ? *)", NULL, "2024-01-01T09:00:00Z", "2024-01-01T10:00:00Z"},
        {2, "cron(0 10 * * ? *)", NULL, "2024-01-01T10:00:00Z", "2024-01-02T10:00:00Z"},
        {3, "cron(0 10 * * ? *)", NULL, "2024-01-01T09:59:59.999Z", "2024-01-01T10:00:00Z"},
        {4, "cron(15 12 * * ? *)", NULL, "2024-12-31T12:15:01Z", "2025-01-01T12:15:00Z"},
        /* Every minute. */
        {5, "cron(* * * * ? *)", NULL, "2024-01-01T10:00:30Z", "2024-01-01T10:01:00Z"},
        {6, "cron(* * * * ? *)", NULL, "2024-12-31T23:59:00Z", "2025-01-01T00:00:00Z"},
        /* Lists. */
        {7, "cron(5,35 14 * * ? *)", NULL, "2024-01-01T14:05:00Z", "2024-01-01T14:35:00Z"},
        {8, "cron(5,35 14 * * ? *)", NULL, "2024-01-01T14:35:00Z", "2024-01-02T14:05:00Z"},
        {9, "cron(0 8,12,18 * * ? *)", NULL, "2024-01-01T12:00:00Z", "2024-01-01T18:00:00Z"},
        /* Increments: 1/10 is 1, 11, 21...; */
        {10, "cron(1/10 * * * ? *)", NULL, "2024-01-01T10:05:00Z", "2024-01-01T10:11:00Z"},
        {11, "cron(1/10 * * * ? *)", NULL, "2024-01-01T10:51:00Z", "2024-01-01T11:01:00Z"},
        {12, "cron(0/15 * * * ? *)", NULL, "2024-01-01T10:46:00Z", "2024-01-01T11:00:00Z"},
        {13, "cron(*/20 * * * ? *)", NULL, "2024-01-01T10:21:00Z", "2024-01-01T10:40:00Z"},
        {14, "cron(10-30/10 * * * ? *)", NULL, "2024-01-01T10:31:00Z", "2024-01-01T11:10:00Z"},
        {15, "cron(0 0/6 * * ? *)", NULL, "2024-01-01T13:00:00Z", "2024-01-01T18:00:00Z"},
        {16, "cron(0 0 1/10 * ? *)", NULL, "2024-01-22T00:00:00Z", "2024-01-31T00:00:00Z"},
        {17, "cron(0 0 1/10 * ? *)", NULL, "2024-02-21T00:00:00Z", "2024-03-01T00:00:00Z"},
        {18, "cron(0 0 1 1/3 ? *)", NULL, "2024-02-01T00:00:00Z", "2024-04-01T00:00:00Z"},
        /* Ranges, a wrapping one too. */
        {19, "cron(0/5 8-17 ? * MON-FRI *)", NULL, "2024-01-05T17:55:00Z", "2024-01-08T08:00:00Z"},
        {20, "cron(0 22-2 * * ? *)", NULL, "2024-01-01T02:30:00Z", "2024-01-01T22:00:00Z"},
        {21, "cron(0 22-2 * * ? *)", NULL, "2024-01-01T23:00:00Z", "2024-01-02T00:00:00Z"},
        {22, "cron(0 22-2/2 * * ? *)", NULL, "2024-01-01T22:00:00Z", "2024-01-02T00:00:00Z"},
        {23, "cron(0 22-2/2 * * ? *)", NULL, "2024-01-02T00:00:00Z", "2024-01-02T02:00:00Z"},
        {24, "cron(0 12 ? * FRI-MON *)", NULL, "2024-01-02T12:00:00Z", "2024-01-05T12:00:00Z"},
        {25, "cron(0 12 ? * FRI-MON *)", NULL, "2024-01-06T12:00:00Z", "2024-01-07T12:00:00Z"},
        {26, "cron(0 0 1 NOV-FEB ? *)", NULL, "2024-02-01T00:00:00Z", "2024-11-01T00:00:00Z"},
        /* Month and weekday names, in any case; numbers 1-7 are SUN-SAT. */
        {27, "cron(0 9 1 JAN,JUL ? *)", NULL, "2024-01-01T09:00:00Z", "2024-07-01T09:00:00Z"},
        {28, "cron(0 9 1 jan-mar ? *)", NULL, "2024-03-01T09:00:00Z", "2025-01-01T09:00:00Z"},
        {29, "cron(0 18 ? * MON-FRI *)", NULL, "2024-01-05T18:00:00Z", "2024-01-08T18:00:00Z"},
        {30, "cron(0 18 ? * 2-6 *)", NULL, "2024-01-05T18:00:00Z", "2024-01-08T18:00:00Z"},
        {31, "cron(0 18 ? * sun *)", NULL, "2024-01-01T00:00:00Z", "2024-01-07T18:00:00Z"},
        {32, "cron(0 18 ? * 1 *)", NULL, "2024-01-01T00:00:00Z", "2024-01-07T18:00:00Z"},
        {33, "cron(0 18 ? * 7 *)", NULL, "2024-01-01T00:00:00Z", "2024-01-06T18:00:00Z"},
        {34, "cron(0/10 * ? * MON-FRI *)", NULL, "2024-01-06T00:00:00Z", "2024-01-08T00:00:00Z"},
        /* Days of the month past a month's end never match it. */
        {35, "cron(0 8 31 * ? *)", NULL, "2024-03-31T08:00:00Z", "2024-05-31T08:00:00Z"},
        {36, "cron(0 8 1 * ? *)", NULL, "2024-01-31T23:59:00Z", "2024-02-01T08:00:00Z"},
        /* Several spaces between fields. */
        {37, "cron(0  10 *   * ? *)", NULL, "2024-01-01T09:00:00Z", "2024-01-01T10:00:00Z"},
        /* Seconds of the time asked about do not shift the minute. */
        {38, "cron(* * * * ? *)", NULL, "2024-01-01T10:00:59.999Z", "2024-01-01T10:01:00Z"},
    };
    RUN(v);
}

static void test_cron_years(void **state)
{
    (void)state;
    static const struct ncase v[] = {
        {1, "cron(15 10 ? * 6L 2019-2022)", NULL, "2022-12-30T10:15:00Z", "-"},
        {2, "cron(15 10 ? * 6L 2019-2022)", NULL, "2018-06-01T00:00:00Z", "2019-01-25T10:15:00Z"},
        {3, "cron(0 0 1 1 ? 2030-2032)", NULL, "2024-05-01T00:00:00Z", "2030-01-01T00:00:00Z"},
        {4, "cron(0 0 1 1 ? 2030-2032)", NULL, "2032-01-01T00:00:00Z", "-"},
        {5, "cron(0 0 1 1 ? 2025/5)", NULL, "2025-06-01T00:00:00Z", "2030-01-01T00:00:00Z"},
        {6, "cron(0 0 1 1 ? 2027,2029)", NULL, "2027-06-01T00:00:00Z", "2029-01-01T00:00:00Z"},
        {7, "cron(0 12 * * ? 2024)", NULL, "2024-12-31T12:00:00Z", "-"},
        /* The last minute there is, and none after it. */
        {8, "cron(* * * * ? *)", NULL, "2199-12-31T23:58:00Z", "2199-12-31T23:59:00Z"},
        {9, "cron(* * * * ? *)", NULL, "2199-12-31T23:59:00Z", "-"},
        {10, "cron(* * * * ? *)", NULL, "2300-01-01T00:00:00Z", "-"},
        /* Before 1970, the first minute of 1970. */
        {11, "cron(* * * * ? *)", NULL, "1960-01-01T00:00:00Z", "1970-01-01T00:00:00Z"},
        {12, "cron(0 0 1 1 ? 1970)", NULL, "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z"},
        /* The year is the zone's: 23:59 on 2199-12-31 in New York is 2200 in UTC. */
        {13, "cron(59 23 31 12 ? 2199)", "America/New_York", "2199-12-31T00:00:00Z",
         "2200-01-01T04:59:00Z"},
    };
    RUN(v);
}

static void test_cron_feb_29(void **state)
{
    (void)state;
    /* Feb 29 comes only in leap years: 2100 is not one, 2000 was. */
    static const struct ncase v[] = {
        {1, "cron(0 12 29 2 ? *)", NULL, "2021-01-01T00:00:00Z", "2024-02-29T12:00:00Z"},
        {2, "cron(0 12 29 2 ? *)", NULL, "2024-02-29T12:00:00Z", "2028-02-29T12:00:00Z"},
        {3, "cron(0 12 29 2 ? *)", NULL, "2096-03-01T00:00:00Z", "2104-02-29T12:00:00Z"},
        {4, "cron(0 12 29 2 ? *)", NULL, "1997-01-01T00:00:00Z", "2000-02-29T12:00:00Z"},
        {5, "cron(0 0 L 2 ? *)", NULL, "2023-01-01T00:00:00Z", "2023-02-28T00:00:00Z"},
        {6, "cron(0 0 L 2 ? *)", NULL, "2024-01-01T00:00:00Z", "2024-02-29T00:00:00Z"},
        /* A day no month has never fires. */
        {7, "cron(0 0 30 2 ? *)", NULL, "1970-01-01T00:00:00Z", "-"},
        {8, "cron(0 0 31 4,6,9,11 ? *)", NULL, "1970-01-01T00:00:00Z", "-"},
    };
    RUN(v);
}

/* ---- cron(): L, W, # ----------------------------------------------------- */

static void test_cron_day_of_month_l_w(void **state)
{
    (void)state;
    static const struct ncase v[] = {
        /* L: the last day of the month. */
        {1, "cron(0 0 L * ? *)", NULL, "2024-04-01T00:00:00Z", "2024-04-30T00:00:00Z"},
        {2, "cron(0 0 L * ? *)", NULL, "2024-04-30T00:00:00Z", "2024-05-31T00:00:00Z"},
        {3, "cron(0 0 L * ? *)", NULL, "2024-12-31T00:00:00Z", "2025-01-31T00:00:00Z"},
        /* LW: the last weekday. 2024-03-31 is a Sunday, 2024-08-31 a
         * Saturday, 2024-02-29 a Thursday. */
        {4, "cron(0 9 LW * ? *)", NULL, "2024-03-01T00:00:00Z", "2024-03-29T09:00:00Z"},
        {5, "cron(0 9 LW * ? *)", NULL, "2024-08-01T00:00:00Z", "2024-08-30T09:00:00Z"},
        {6, "cron(0 9 LW * ? *)", NULL, "2024-02-01T00:00:00Z", "2024-02-29T09:00:00Z"},
        /* nW: the weekday nearest day n. 2024-06-15 is a Saturday (Friday
         * the 14th), 2024-09-15 a Sunday (Monday the 16th), 2024-05-15 a
         * Wednesday. */
        {7, "cron(0 9 15W * ? *)", NULL, "2024-06-01T00:00:00Z", "2024-06-14T09:00:00Z"},
        {8, "cron(0 9 15W * ? *)", NULL, "2024-09-01T00:00:00Z", "2024-09-16T09:00:00Z"},
        {9, "cron(0 9 15W * ? *)", NULL, "2024-05-01T00:00:00Z", "2024-05-15T09:00:00Z"},
        /* ...never in another month: Saturday the 1st gives Monday the 3rd
         * (2022-01-01, 2024-06-01), Sunday the 31st gives Friday the 29th
         * (2024-03-31), Sunday the 30th of June gives Friday the 28th. */
        {10, "cron(0 9 1W * ? *)", NULL, "2021-12-02T00:00:00Z", "2022-01-03T09:00:00Z"},
        {11, "cron(0 9 1W * ? *)", NULL, "2024-05-02T00:00:00Z", "2024-06-03T09:00:00Z"},
        {12, "cron(0 9 31W * ? *)", NULL, "2024-03-01T00:00:00Z", "2024-03-29T09:00:00Z"},
        {13, "cron(0 9 30W * ? *)", NULL, "2024-06-01T00:00:00Z", "2024-06-28T09:00:00Z"},
        /* Sunday the 1st: Monday the 2nd (2024-09-01). */
        {14, "cron(0 9 1W * ? *)", NULL, "2024-08-02T00:00:00Z", "2024-09-02T09:00:00Z"},
        /* A month without day n has no nW: 31W skips April to May 31st
         * (a Friday). */
        {15, "cron(0 9 31W * ? *)", NULL, "2024-04-01T00:00:00Z", "2024-05-31T09:00:00Z"},
        /* The day W picks may be before the day asked about: Friday the
         * 14th is passed once the 15th has come. */
        {16, "cron(0 9 15W * ? *)", NULL, "2024-06-14T10:00:00Z", "2024-07-15T09:00:00Z"},
    };
    RUN(v);
}

static void test_cron_day_of_week_l_hash(void **state)
{
    (void)state;
    static const struct ncase v[] = {
        /* nL: the last weekday n of the month. 6L is the last Friday:
         * 2024-01-26, 2024-02-23 (the 29th is a Thursday), 2024-03-29. */
        {1, "cron(0 12 ? * 6L *)", NULL, "2024-01-01T00:00:00Z", "2024-01-26T12:00:00Z"},
        {2, "cron(0 12 ? * 6L *)", NULL, "2024-01-26T12:00:00Z", "2024-02-23T12:00:00Z"},
        {3, "cron(0 12 ? * 6L *)", NULL, "2024-02-23T12:00:00Z", "2024-03-29T12:00:00Z"},
        {4, "cron(0 12 ? * FRIL *)", NULL, "2024-01-01T00:00:00Z", "2024-01-26T12:00:00Z"},
        {5, "cron(0 12 ? * 1L *)", NULL, "2024-03-01T00:00:00Z", "2024-03-31T12:00:00Z"},
        /* n#k: the k-th weekday n. 2#1 is the first Monday: 2024-01-01,
         * then 2024-02-05 (February begins on a Thursday). */
        {6, "cron(0 9 ? * 2#1 *)", NULL, "2023-12-05T00:00:00Z", "2024-01-01T09:00:00Z"},
        {7, "cron(0 9 ? * 2#1 *)", NULL, "2024-01-01T09:00:00Z", "2024-02-05T09:00:00Z"},
        {8, "cron(0 9 ? * MON#1 *)", NULL, "2024-01-01T09:00:00Z", "2024-02-05T09:00:00Z"},
        {9, "cron(0 8 ? * 3#2 *)", NULL, "2024-01-01T00:00:00Z", "2024-01-09T08:00:00Z"},
        /* A fifth Sunday only some months have: March 2024 (the 31st),
         * then not April or May, then June 30th. */
        {10, "cron(0 0 ? * 1#5 *)", NULL, "2024-03-01T00:00:00Z", "2024-03-31T00:00:00Z"},
        {11, "cron(0 0 ? * 1#5 *)", NULL, "2024-03-31T00:00:00Z", "2024-06-30T00:00:00Z"},
        /* L alone is the week's last day, Saturday. */
        {12, "cron(0 0 ? * L *)", NULL, "2024-01-01T00:00:00Z", "2024-01-06T00:00:00Z"},
        {13, "cron(0 0 ? * L *)", NULL, "2024-01-06T00:00:00Z", "2024-01-13T00:00:00Z"},
    };
    RUN(v);
}

static void test_cron_question_mark(void **state)
{
    (void)state;
    /* '?' in one day field leaves the choice to the other. */
    static const struct ncase v[] = {
        {1, "cron(0 8 1 * ? *)", NULL, "2024-01-01T08:00:00Z", "2024-02-01T08:00:00Z"},
        {2, "cron(0 8 ? * 4 *)", NULL, "2024-01-01T08:00:00Z", "2024-01-03T08:00:00Z"},
        {3, "cron(0 20 * * ? *)", NULL, "2024-01-01T20:00:00Z", "2024-01-02T20:00:00Z"},
        {4, "cron(0 20 ? * * *)", NULL, "2024-01-01T20:00:00Z", "2024-01-02T20:00:00Z"},
    };
    RUN(v);
}

static void test_cron_successive_fires(void **state)
{
    (void)state;
    /* Asking again from each answer walks the schedule, weekend skipped. */
    static const char *const want[] = {
        "2024-01-05T10:45:00Z", "2024-01-08T09:00:00Z", "2024-01-08T09:15:00Z",
        "2024-01-08T09:30:00Z", "2024-01-08T09:45:00Z", "2024-01-08T10:00:00Z",
        "2024-01-08T10:15:00Z", "2024-01-08T10:30:00Z", "2024-01-08T10:45:00Z",
        "2024-01-09T09:00:00Z",
    };
    struct sl_schedule *s = parse_ok(1, "cron(0/15 9-10 ? * MON-FRI *)", NULL, SL_SCHEDULE_RULE);
    int64_t t = ms("2024-01-05T10:40:00Z");
    for (size_t i = 0; i < SL_ARRAY_LEN(want); i++) {
        t = sl_schedule_next(s, 0, t);
        char g[40];
        iso(t, g, sizeof(g));
        if (t != ms(want[i]))
            fail_msg("fire %zu: %s, want %s", i, g, want[i]);
    }
    assert_int_equal(sl_schedule_kind(s), SL_SCHEDULE_CRON);
    sl_schedule_free(s);
}

/* ---- time zones and daylight saving time ------------------------------- */

static void test_cron_zones(void **state)
{
    (void)state;
    static const struct ncase v[] = {
        /* Standard and daylight time (EST -5, EDT -4; CET +1, CEST +2). */
        {1, "cron(0 9 * * ? *)", "America/New_York", "2024-01-15T00:00:00Z",
         "2024-01-15T14:00:00Z"},
        {2, "cron(0 9 * * ? *)", "America/New_York", "2024-07-15T00:00:00Z",
         "2024-07-15T13:00:00Z"},
        {3, "cron(0 9 * * ? *)", "Europe/Berlin", "2024-01-15T00:00:00Z", "2024-01-15T08:00:00Z"},
        {4, "cron(0 9 * * ? *)", "Europe/Berlin", "2024-07-15T00:00:00Z", "2024-07-15T07:00:00Z"},
        /* The day is the zone's: 23:00 on Sunday 2023-12-31 in New York is
         * Monday in UTC. */
        {5, "cron(0 23 ? * SUN *)", "America/New_York", "2024-01-01T00:00:00Z",
         "2024-01-01T04:00:00Z"},
        {8, "cron(0 23 ? * SUN *)", "America/New_York", "2024-01-01T04:00:00Z",
         "2024-01-08T04:00:00Z"},
        /* Half-hour offsets: Kolkata is +05:30 all year. */
        {6, "cron(0 9 * * ? *)", "Asia/Kolkata", "2024-01-15T00:00:00Z", "2024-01-15T03:30:00Z"},
        /* "UTC" needs no file and changes nothing. */
        {7, "cron(0 9 * * ? *)", "UTC", "2024-01-15T00:00:00Z", "2024-01-15T09:00:00Z"},
    };
    RUN(v);
}

static void test_cron_dst_new_york(void **state)
{
    (void)state;
    /* 2024-03-10 02:00 EST (07:00Z) the clocks go to 03:00 EDT; 2024-11-03
     * 02:00 EDT (06:00Z) back to 01:00 EST. */
    static const struct ncase v[] = {
        /* 02:30 does not exist on March 10: that day is skipped. */
        {1, "cron(30 2 * * ? *)", "America/New_York", "2024-03-09T08:00:00Z",
         "2024-03-11T06:30:00Z"},
        {2, "cron(30 2 * * ? *)", "America/New_York", "2024-03-08T08:00:00Z",
         "2024-03-09T07:30:00Z"},
        /* Hourly: 01:00 EST, then 03:00 EDT (no 02:00). */
        {3, "cron(0 * * * ? *)", "America/New_York", "2024-03-10T06:00:00Z",
         "2024-03-10T07:00:00Z"},
        {4, "cron(0 * * * ? *)", "America/New_York", "2024-03-10T05:59:00Z",
         "2024-03-10T06:00:00Z"},
        /* 01:30 comes twice on November 3: it fires at the first (EDT),
         * and next on November 4 (EST). */
        {5, "cron(30 1 * * ? *)", "America/New_York", "2024-11-02T06:00:00Z",
         "2024-11-03T05:30:00Z"},
        {6, "cron(30 1 * * ? *)", "America/New_York", "2024-11-03T05:30:00Z",
         "2024-11-04T06:30:00Z"},
        /* Every half hour: 01:30 EDT, then the repeated hour passes without
         * a fire, then 02:00 EST. */
        {7, "cron(0/30 * * * ? *)", "America/New_York", "2024-11-03T05:00:00Z",
         "2024-11-03T05:30:00Z"},
        {8, "cron(0/30 * * * ? *)", "America/New_York", "2024-11-03T05:30:00Z",
         "2024-11-03T07:00:00Z"},
        /* ...also when asked from inside the repeated hour. */
        {9, "cron(0/30 * * * ? *)", "America/New_York", "2024-11-03T06:10:00Z",
         "2024-11-03T07:00:00Z"},
        /* Hourly across the fall: 01:00 EDT, 02:00 EST (no second 01:00). */
        {10, "cron(0 * * * ? *)", "America/New_York", "2024-11-03T05:00:00Z",
         "2024-11-03T07:00:00Z"},
        /* A time always in the gap (the second Sunday of March at 02:00,
         * the rule since 2007) never fires, through 2199. */
        {11, "cron(0 2 ? 3 1#2 *)", "America/New_York", "2024-01-01T00:00:00Z", "-"},
        /* Before 2007 the change was on the first Sunday of April. */
        {12, "cron(0 2 ? 3 1#2 *)", "America/New_York", "2006-01-01T00:00:00Z",
         "2006-03-12T07:00:00Z"},
    };
    RUN(v);
}

static void test_cron_dst_berlin(void **state)
{
    (void)state;
    /* 2024-03-31 02:00 CET (01:00Z) the clocks go to 03:00 CEST; 2024-10-27
     * 03:00 CEST (01:00Z) back to 02:00 CET. */
    static const struct ncase v[] = {
        {1, "cron(30 2 * * ? *)", "Europe/Berlin", "2024-03-30T12:00:00Z", "2024-04-01T00:30:00Z"},
        {2, "cron(30 2 * * ? *)", "Europe/Berlin", "2024-10-26T12:00:00Z", "2024-10-27T00:30:00Z"},
        {3, "cron(30 2 * * ? *)", "Europe/Berlin", "2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"},
        {4, "cron(0 9 * * ? *)", "Europe/Berlin", "2024-03-30T09:00:00Z", "2024-03-31T07:00:00Z"},
        {5, "cron(0 9 * * ? *)", "Europe/Berlin", "2024-10-26T09:00:00Z", "2024-10-27T08:00:00Z"},
        {6, "cron(0 * * * ? *)", "Europe/Berlin", "2024-03-31T00:00:00Z", "2024-03-31T01:00:00Z"},
        {7, "cron(0 * * * ? *)", "Europe/Berlin", "2024-10-27T00:00:00Z", "2024-10-27T02:00:00Z"},
        /* The last Sunday of October at 02:30 is always repeated: it fires
         * once, at its CEST instant. */
        {8, "cron(30 2 ? 10 1L *)", "Europe/Berlin", "2024-01-01T00:00:00Z",
         "2024-10-27T00:30:00Z"},
        {9, "cron(30 2 ? 10 1L *)", "Europe/Berlin", "2024-10-27T00:30:00Z",
         "2025-10-26T00:30:00Z"},
        /* The last Sunday of March at 02:30 is always in the gap. */
        {10, "cron(30 2 ? 3 1L *)", "Europe/Berlin", "2024-01-01T00:00:00Z", "-"},
        /* Far past tzdata's table, its POSIX rule: 2150-03-29 is the last
         * Sunday of March. */
        {11, "cron(0 9 ? 3 1L *)", "Europe/Berlin", "2150-01-01T00:00:00Z", "2150-03-29T07:00:00Z"},
    };
    RUN(v);
}

/* ---- at() -------------------------------------------------------------- */

static void test_at(void **state)
{
    (void)state;
    static const struct ncase v[] = {
        {1, "at(2024-06-01T09:30:00)", NULL, "2024-01-01T00:00:00Z", "2024-06-01T09:30:00Z"},
        {2, "at(2024-06-01T09:30:00)", NULL, "2024-06-01T09:29:59.999Z", "2024-06-01T09:30:00Z"},
        {3, "at(2024-06-01T09:30:00)", NULL, "2024-06-01T09:30:00Z", "-"},
        {4, "at(2024-06-01T09:30:00)", "America/New_York", "2024-01-01T00:00:00Z",
         "2024-06-01T13:30:00Z"},
        {5, "at(2024-01-15T12:00:00)", "Europe/Berlin", "2024-01-01T00:00:00Z",
         "2024-01-15T11:00:00Z"},
        {6, "at(2024-01-15T12:00:00)", "Asia/Kolkata", "2024-01-01T00:00:00Z",
         "2024-01-15T06:30:00Z"},
        /* Seconds count. */
        {7, "at(2024-01-15T12:00:45)", NULL, "2024-01-01T00:00:00Z", "2024-01-15T12:00:45Z"},
        /* In the spring's gap: moved later by the gap (03:30 EDT). */
        {8, "at(2024-03-10T02:30:00)", "America/New_York", "2024-01-01T00:00:00Z",
         "2024-03-10T07:30:00Z"},
        /* Repeated in the fall: the first (EDT). */
        {9, "at(2024-11-03T01:30:00)", "America/New_York", "2024-01-01T00:00:00Z",
         "2024-11-03T05:30:00Z"},
        {10, "at(2024-02-29T00:00:00)", NULL, "2024-01-01T00:00:00Z", "2024-02-29T00:00:00Z"},
        /* Before the epoch: never. */
        {11, "at(1969-12-31T23:59:59)", NULL, "1960-01-01T00:00:00Z", "-"},
    };
    RUN(v);
    struct sl_schedule *s = parse_ok(12, "at(2024-06-01T09:30:00)", NULL, SL_SCHEDULE_SCHEDULER);
    assert_int_equal(sl_schedule_kind(s), SL_SCHEDULE_AT);
    sl_schedule_free(s);
}

/* ---- what parsing refuses ---------------------------------------------- */

struct ecase {
    int id;
    const char *expr, *tz;
    enum sl_schedule_owner owner;
    const char *msg; /* a part of the reason */
};

#define R SL_SCHEDULE_RULE
#define S SL_SCHEDULE_SCHEDULER

static void test_invalid(void **state)
{
    (void)state;
    static const struct ecase v[] = {
        {1, "", NULL, R, "empty"},
        {2, "cron(0 10 * * ?)", NULL, R, "expected 6 fields"},
        {3, "cron(0 10 * * ? * *)", NULL, R, "got 7"},
        {4, "cron(60 10 * * ? *)", NULL, R, "minutes: 60 is out of range 0-59"},
        {5, "cron(0 24 * * ? *)", NULL, R, "hours: 24 is out of range 0-23"},
        {6, "cron(0 10 32 * ? *)", NULL, R, "day-of-month: 32 is out of range 1-31"},
        {7, "cron(0 10 0 * ? *)", NULL, R, "day-of-month: 0 is out of range 1-31"},
        {8, "cron(0 10 * 13 ? *)", NULL, R, "month: 13 is out of range 1-12"},
        {9, "cron(0 10 ? * 0 *)", NULL, R, "day-of-week: 0 is out of range 1-7"},
        {10, "cron(0 10 ? * 8 *)", NULL, R, "day-of-week: 8 is out of range 1-7"},
        {11, "cron(0 10 * * ? 1969)", NULL, R, "year: 1969 is out of range 1970-2199"},
        {12, "cron(0 10 * * ? 2200)", NULL, R, "year: 2200 is out of range 1970-2199"},
        {13, "cron(0 10 * * * *)", NULL, R, "one of day-of-month and day-of-week must be '?'"},
        {14, "cron(0 10 1 * MON *)", NULL, R, "one of day-of-month and day-of-week must be '?'"},
        {15, "cron(0 10 ? * ? *)", NULL, R, "cannot both be '?'"},
        {16, "cron(? 10 * * ? *)", NULL, R, "minutes: '?' is only allowed in day-of-month"},
        {17, "cron(0 10 ?,1 * ? *)", NULL, R, "'?' stands alone"},
        {18, "cron(0 10 * JANUARY ? *)", NULL, R, "'JANUARY' is not a number or month name"},
        {19, "cron(0 10 ? * MOM *)", NULL, R, "'MOM' is not a number or weekday name"},
        {20, "cron(0 MON * * ? *)", NULL, R, "hours: 'MON' is not a number"},
        {21, "cron(0/0 10 * * ? *)", NULL, R, "the increment in '0/0' must be 1-60"},
        {22, "cron(0/61 10 * * ? *)", NULL, R, "the increment in '0/61' must be 1-60"},
        {23, "cron(0/x 10 * * ? *)", NULL, R, "the increment in '0/x'"},
        {24, "cron(0 10 ? * 2#6 *)", NULL, R, "the week after '#' must be 1-5"},
        {25, "cron(0 10 ? * 2#0 *)", NULL, R, "the week after '#' must be 1-5"},
        {26, "cron(0 10 ? * 2#1,3 *)", NULL, R, "n#k stands alone"},
        {27, "cron(0 10 ? * 8#1 *)", NULL, R, "day-of-week: 8 is out of range 1-7"},
        {28, "cron(0 10 ? * 8L *)", NULL, R, "day-of-week: 8 is out of range 1-7"},
        {29, "cron(0 10 ? * 2L,3 *)", NULL, R, "stand alone"},
        {30, "cron(0 10 L,15 * ? *)", NULL, R, "stand alone"},
        {31, "cron(0 10 L-3 * ? *)", NULL, R, "stand alone"},
        {32, "cron(0 10 32W * ? *)", NULL, R, "day-of-month: 32 is out of range 1-31"},
        {33, "cron(0 10 1-5W * ? *)", NULL, R, "stand alone"},
        {34, "cron(0 10 * * ? 2030-2020)", NULL, R, "the range 2030-2020 runs backwards"},
        {35, "cron(0 10 1,,2 * ? *)", NULL, R, "an empty value in the list"},
        {36, "cron(0 10 1- * ? *)", NULL, R, "a value is missing in '1-'"},
        {37, "cron(0 10 * * ? *", NULL, R, "missing its closing ')'"},
        {38, "cron(0 10 * * ? *))", NULL, R, "unexpected parenthesis"},
        {39, "cron 0 10 * * ? *", NULL, R, "must be rate(...) or cron(...)"},
        {40, "CRON(0 10 * * ? *)", NULL, R, "must be rate(...) or cron(...)"},
        {41, "0 10 * * ? *", NULL, S, "must be rate(...), cron(...) or at(...)"},
        {42, "rate(1 minutes)", NULL, R, "the unit must be 'minute' when the value is 1"},
        {43, "rate(1 hours)", NULL, R, "the unit must be 'hour' when the value is 1"},
        {44, "rate(5 hour)", NULL, R, "the unit must be 'hours' when the value is greater than 1"},
        {45, "rate(2 day)", NULL, S, "the unit must be 'days' when the value is greater than 1"},
        {46, "rate(0 minutes)", NULL, R, "a positive integer, not 0"},
        {47, "rate(-5 minutes)", NULL, R, "a positive integer"},
        {48, "rate(1.5 hours)", NULL, R, "a positive integer"},
        {49, "rate(2 weeks)", NULL, R, "unknown unit 'weeks'"},
        {50, "rate(5)", NULL, R, "unknown unit ''"},
        {51, "rate(2147483648 minutes)", NULL, R, "too large"},
        {52, "at(2024-01-01T10:00:00)", NULL, R, "at(...) is for EventBridge Scheduler"},
        {53, "at(2023-02-29T00:00:00)", NULL, S, "there is no date 2023-02-29"},
        {54, "at(2024-04-31T00:00:00)", NULL, S, "there is no date 2024-04-31"},
        {55, "at(2024-01-01 10:00:00)", NULL, S, "yyyy-mm-ddThh:mm:ss"},
        {56, "at(2024-01-01T10:00)", NULL, S, "yyyy-mm-ddThh:mm:ss"},
        {57, "at(2024-01-01T24:00:00)", NULL, S, "24:00:00 is not a time of day"},
        {58, "cron(0 10 * * ? *)", "America/New_York", R, "takes no time zone"},
        {59, "cron(0 10 * * ? *)", "Mars/Olympus_Mons", S, "unknown time zone 'Mars/Olympus_Mons'"},
        {60, "cron(0 10 * * ? *)", "../../etc/passwd", S, "invalid time zone name"},
        {61, "cron(0 10 * * ? *)", "/etc/localtime", S, "invalid time zone name"},
        {62, "cron(0 10 * * ? *)", "America", S, "unknown time zone 'America'"},
        {63, "cron(0 10 * * ? *)", "", S, "invalid time zone name"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(v); i++) {
        struct sl_err err = {0};
        struct sl_schedule *s = (struct sl_schedule *)&err; /* must come back NULL */
        int rc = sl_schedule_parse(v[i].expr, v[i].tz, v[i].owner, &s, &err);
        if (rc != SL_EINVAL)
            fail_msg("case %d: %s: rc %d, want SL_EINVAL", v[i].id, v[i].expr, rc);
        if (s)
            fail_msg("case %d: *out not NULL", v[i].id);
        if (!strstr(err.msg, v[i].msg))
            fail_msg("case %d: %s: \"%s\" does not say \"%s\"", v[i].id, v[i].expr, err.msg,
                     v[i].msg);
    }

    /* NULL, and more than AWS's 256 characters. */
    struct sl_err err = {0};
    struct sl_schedule *s;
    assert_int_equal(sl_schedule_parse(NULL, NULL, R, &s, &err), SL_EINVAL);
    char longer[SL_SCHEDULE_EXPR_MAX + 16];
    memset(longer, ' ', sizeof(longer));
    memcpy(longer, "cron(0 10 * * ? *", 17);
    longer[sizeof(longer) - 2] = ')';
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(sl_schedule_parse(longer, NULL, R, &s, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "longer than 256"));
    assert_string_equal(SL_SCHEDULE_INVALID, "Parameter ScheduleExpression is not valid.");
}

/* ---- the TZif reader --------------------------------------------------- */

static char dir[640];

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("SLUICE_TEST_TMP");
    char tmpl[600];
    if (base) {
        sl_mkdirs(base, 0755);
        snprintf(tmpl, sizeof(tmpl), "%s/tz-XXXXXX", base);
    } else {
        snprintf(tmpl, sizeof(tmpl), "/tmp/tz-XXXXXX");
    }
    assert_non_null(mkdtemp(tmpl));
    snprintf(dir, sizeof(dir), "%s", tmpl);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sl_rm_tree(dir);
    return 0;
}

static void write_file(const char *name, const void *p, size_t n)
{
    char path[800];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    sl_mkdirs(path, 0755);
    *slash = '/';
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A TZif file of version 2 with no transitions, one local time type of
 * offset off and footer TZ string footer; returns its length. */
static size_t make_tzif(uint8_t *out, char version, int32_t off, const char *footer)
{
    size_t n = 0;
    for (int block = 0; block < 2; block++) {
        memset(out + n, 0, 44);
        memcpy(out + n, "TZif", 4);
        out[n + 4] = (uint8_t)version;
        put32(out + n + 36, 1); /* typecnt */
        put32(out + n + 40, 4); /* charcnt */
        n += 44;
        put32(out + n, (uint32_t)off);
        out[n + 4] = 0;
        out[n + 5] = 0;
        memcpy(out + n + 6, "XXX", 4);
        n += 10;
    }
    out[n++] = '\n';
    memcpy(out + n, footer, strlen(footer));
    n += strlen(footer);
    out[n++] = '\n';
    return n;
}

static struct sl_tz *load_ok(const char *d, const char *name)
{
    struct sl_err err = {0};
    struct sl_tz *z = NULL;
    if (sl_tz_load(d, name, &z, &err))
        fail_msg("%s: %s", name, err.msg);
    return z;
}

static void test_tz_tzdata(void **state)
{
    (void)state;
    struct sl_tz *ny = load_ok(NULL, "America/New_York");
    assert_string_equal(sl_tz_name(ny), "America/New_York");
    assert_int_equal(sl_tz_offset(ny, ms("2024-01-15T00:00:00Z") / 1000), -5 * 3600);
    assert_int_equal(sl_tz_offset(ny, ms("2024-07-15T00:00:00Z") / 1000), -4 * 3600);
    /* The transition instants themselves. */
    assert_int_equal(sl_tz_offset(ny, ms("2024-03-10T06:59:59Z") / 1000), -5 * 3600);
    assert_int_equal(sl_tz_offset(ny, ms("2024-03-10T07:00:00Z") / 1000), -4 * 3600);
    assert_int_equal(sl_tz_offset(ny, ms("2024-11-03T05:59:59Z") / 1000), -4 * 3600);
    assert_int_equal(sl_tz_offset(ny, ms("2024-11-03T06:00:00Z") / 1000), -5 * 3600);
    /* Past the file's transitions, its footer (EST5EDT,M3.2.0,M11.1.0):
     * 2190-03-14 is the second Sunday of March. */
    assert_int_equal(sl_tz_offset(ny, ms("2190-03-14T06:59:59Z") / 1000), -5 * 3600);
    assert_int_equal(sl_tz_offset(ny, ms("2190-03-14T07:00:00Z") / 1000), -4 * 3600);
    /* Before the first: local mean time, -4:56:02. */
    assert_int_equal(sl_tz_offset(ny, sl_days_from_civil(1850, 1, 1) * 86400), -17762);

    /* Wall times: one instant, two (the first is given), none (moved later
     * by the gap). */
    int64_t t;
    int64_t local = ms("2024-07-01T12:00:00Z") / 1000;
    assert_int_equal(sl_tz_resolve(ny, local, &t), 1);
    assert_int_equal(t * 1000, ms("2024-07-01T16:00:00Z"));
    local = ms("2024-11-03T01:30:00Z") / 1000;
    assert_int_equal(sl_tz_resolve(ny, local, &t), 2);
    assert_int_equal(t * 1000, ms("2024-11-03T05:30:00Z"));
    local = ms("2024-03-10T02:30:00Z") / 1000;
    assert_int_equal(sl_tz_resolve(ny, local, &t), 0);
    assert_int_equal(t * 1000, ms("2024-03-10T07:30:00Z"));

    /* Cached: the same zone again. */
    struct sl_tz *again = load_ok(NULL, "America/New_York");
    assert_ptr_equal(again, ny);
    sl_tz_free(again);
    sl_tz_free(ny);

    /* Southern hemisphere: Sydney is +11 in January, +10 in July. */
    struct sl_tz *syd = load_ok(NULL, "Australia/Sydney");
    assert_int_equal(sl_tz_offset(syd, ms("2024-01-15T00:00:00Z") / 1000), 11 * 3600);
    assert_int_equal(sl_tz_offset(syd, ms("2024-07-15T00:00:00Z") / 1000), 10 * 3600);
    assert_int_equal(sl_tz_offset(syd, ms("2150-01-15T00:00:00Z") / 1000), 11 * 3600);
    assert_int_equal(sl_tz_offset(syd, ms("2150-07-15T00:00:00Z") / 1000), 10 * 3600);
    sl_tz_free(syd);

    /* Rule times past 24 hours (version 3: IST-2IDT,M3.4.4/26,M10.5.0):
     * Israel's summer time starts the Friday before the last Sunday of
     * March at 02:00, written as Thursday 26:00; 2150-03-27 is a Friday. */
    struct sl_tz *jer = load_ok(NULL, "Asia/Jerusalem");
    assert_int_equal(sl_tz_offset(jer, ms("2150-03-26T23:59:59Z") / 1000), 2 * 3600);
    assert_int_equal(sl_tz_offset(jer, ms("2150-03-27T00:00:00Z") / 1000), 3 * 3600);
    sl_tz_free(jer);

    /* UTC needs no file; sl_tz_free of it is harmless. */
    struct sl_tz *utc = load_ok("/nonexistent", "UTC");
    assert_int_equal(sl_tz_offset(utc, 0), 0);
    sl_tz_free(utc);
    sl_tz_free(NULL);
}

static void test_tz_names(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "../etc/passwd", "/etc/passwd",    "America/../../etc/passwd", "America/./New_York",
        "America//New_York", "America/", ".hidden", "America/New York", "America\\New_York", "",
        "posix/../../../etc/shadow",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        struct sl_err err = {0};
        struct sl_tz *z = NULL;
        if (sl_tz_load(NULL, bad[i], &z, &err) != SL_EINVAL || z)
            fail_msg("'%s' was not refused", bad[i]);
        assert_non_null(strstr(err.msg, "invalid time zone name"));
    }
    struct sl_err err = {0};
    struct sl_tz *z = NULL;
    assert_int_equal(sl_tz_load(NULL, NULL, &z, &err), SL_EINVAL);
    /* Good names that do not exist, and a directory. */
    assert_int_equal(sl_tz_load(NULL, "Nowhere/Town", &z, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "unknown time zone 'Nowhere/Town'"));
    assert_int_equal(sl_tz_load(NULL, "Europe", &z, &err), SL_EINVAL);
    /* Names with '+', '-' and '_' exist. */
    z = load_ok(NULL, "Etc/GMT+5");
    assert_int_equal(sl_tz_offset(z, 0), -5 * 3600);
    sl_tz_free(z);
    z = load_ok(NULL, "America/Port-au-Prince");
    sl_tz_free(z);
}

static void test_tz_files(void **state)
{
    (void)state;
    uint8_t buf[512];
    struct sl_err err = {0};
    struct sl_tz *z = NULL;

    /* POSIX TZ strings as footers, without transitions: a fixed
     * :45 offset... */
    write_file("Test/Chatham", buf, make_tzif(buf, '2', 45900, "<+1245>-12:45"));
    z = load_ok(dir, "Test/Chatham");
    assert_int_equal(sl_tz_offset(z, 0), 45900);
    sl_tz_free(z);
    /* ...a northern rule... */
    write_file("Test/Eastern", buf, make_tzif(buf, '2', -18000, "EST5EDT,M3.2.0,M11.1.0"));
    z = load_ok(dir, "Test/Eastern");
    assert_int_equal(sl_tz_offset(z, ms("2030-01-01T00:00:00Z") / 1000), -18000);
    assert_int_equal(sl_tz_offset(z, ms("2030-07-01T00:00:00Z") / 1000), -14400);
    /* 2030-03-10 is the second Sunday of March: 02:00 EST is 07:00Z. */
    assert_int_equal(sl_tz_offset(z, ms("2030-03-10T06:59:59Z") / 1000), -18000);
    assert_int_equal(sl_tz_offset(z, ms("2030-03-10T07:00:00Z") / 1000), -14400);
    sl_tz_free(z);
    /* ...a southern one with a time: AEDT ends at 03:00 local on the first
     * Sunday of April (2030-04-07; 16:00Z the day before)... */
    write_file("Test/South", buf, make_tzif(buf, '3', 36000, "AEST-10AEDT,M10.1.0,M4.1.0/3"));
    z = load_ok(dir, "Test/South");
    assert_int_equal(sl_tz_offset(z, ms("2030-01-01T00:00:00Z") / 1000), 39600);
    assert_int_equal(sl_tz_offset(z, ms("2030-04-06T15:59:59Z") / 1000), 39600);
    assert_int_equal(sl_tz_offset(z, ms("2030-04-06T16:00:00Z") / 1000), 36000);
    assert_int_equal(sl_tz_offset(z, ms("2030-07-01T00:00:00Z") / 1000), 36000);
    sl_tz_free(z);
    /* ...daylight time all year, as version 3 writes it... */
    write_file("Test/AlwaysDst", buf, make_tzif(buf, '3', -14400, "EST5EDT4,0/0,J365/25"));
    z = load_ok(dir, "Test/AlwaysDst");
    assert_int_equal(sl_tz_offset(z, ms("2030-01-01T00:00:00Z") / 1000), -14400);
    assert_int_equal(sl_tz_offset(z, ms("2030-07-01T00:00:00Z") / 1000), -14400);
    assert_int_equal(sl_tz_offset(z, ms("2030-12-31T23:59:59Z") / 1000), -14400);
    sl_tz_free(z);
    /* ...Julian days: J60 is March 1st even in a leap year; 59 (zero-based)
     * is February 29th in one. */
    write_file("Test/Julian", buf, make_tzif(buf, '2', 0, "AAA0BBB,J60/0,59/0"));
    z = load_ok(dir, "Test/Julian");
    assert_int_equal(sl_tz_offset(z, ms("2028-02-29T12:00:00Z") / 1000), 0);
    assert_int_equal(sl_tz_offset(z, ms("2028-03-01T00:00:00Z") / 1000), 3600);
    sl_tz_free(z);
    /* ...and an empty footer: the one local time type. */
    write_file("Test/Fixed", buf, make_tzif(buf, '2', 3600, ""));
    z = load_ok(dir, "Test/Fixed");
    assert_int_equal(sl_tz_offset(z, ms("2030-07-01T00:00:00Z") / 1000), 3600);
    sl_tz_free(z);

    /* The directory can come from $SLUICE_ZONEINFO. */
    setenv("SLUICE_ZONEINFO", dir, 1);
    z = load_ok(NULL, "Test/Chatham");
    assert_int_equal(sl_tz_offset(z, 0), 45900);
    sl_tz_free(z);
    struct sl_schedule *s = parse_ok(1, "cron(0 12 * * ? *)", "Test/Chatham", S);
    assert_int_equal(sl_schedule_next(s, 0, ms("2030-01-01T00:00:00Z")),
                     ms("2030-01-01T23:15:00Z"));
    sl_schedule_free(s);
    unsetenv("SLUICE_ZONEINFO");

    /* What the reader refuses. */
    static const struct {
        const char *name;
        const char *msg;
        int rc;
    } bad[] = {
        {"Bad/Text", "not a TZif file", SL_ECORRUPT},
        {"Bad/V1", "version 1", SL_ECORRUPT},
        {"Bad/Truncated", "truncated", SL_ECORRUPT},
        {"Bad/NoFooter", "no TZ string footer", SL_ECORRUPT},
        {"Bad/Footer", "bad TZ string 'EST5EDT,M13.1.0,M11.1.0'", SL_ECORRUPT},
        {"Bad/Offset", "bad local time type", SL_ECORRUPT},
        {"Bad/Leap", "leap seconds", SL_EINVAL},
    };
    write_file("Bad/Text", "not a zone\n", 11);
    size_t n = make_tzif(buf, 0, 0, "UTC0");
    write_file("Bad/V1", buf, n);
    n = make_tzif(buf, '2', 0, "UTC0");
    write_file("Bad/Truncated", buf, 70);
    write_file("Bad/NoFooter", buf, n - 6);
    n = make_tzif(buf, '2', -18000, "EST5EDT,M13.1.0,M11.1.0");
    write_file("Bad/Footer", buf, n);
    n = make_tzif(buf, '2', 100000, "UTC0");
    write_file("Bad/Offset", buf, n);
    n = make_tzif(buf, '2', 0, "UTC0");
    put32(buf + 54 + 28, 1); /* a leap second count in the 64-bit header */
    write_file("Bad/Leap", buf, n);
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        int rc = sl_tz_load(dir, bad[i].name, &z, &err);
        if (rc != bad[i].rc || z)
            fail_msg("%s: rc %d, want %d", bad[i].name, rc, bad[i].rc);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].name, err.msg, bad[i].msg);
    }
}

static void test_extremes(void **state)
{
    (void)state;
    /* Any time may be asked about. */
    static const char *const exprs[] = {"cron(* * * * ? *)", "rate(1 minute)",
                                        "at(2024-01-01T00:00:00)"};
    for (size_t i = 0; i < SL_ARRAY_LEN(exprs); i++) {
        struct sl_schedule *s = parse_ok((int)i, exprs[i], "America/New_York", S);
        assert_int_equal(sl_schedule_next(s, INT64_MAX, INT64_MAX), -1);
        assert_int_equal(sl_schedule_next(s, 0, INT64_MAX), -1);
        assert_true(sl_schedule_next(s, INT64_MIN, INT64_MIN) >= 0);
        assert_true(sl_schedule_next(s, 0, INT64_MIN) >= 0);
        sl_schedule_free(s);
    }
    /* A rule's first rate fire past the end of time: none. */
    struct sl_schedule *s = parse_ok(4, "rate(1 day)", NULL, R);
    assert_int_equal(sl_schedule_next(s, INT64_MAX - 1000, 0), -1);
    sl_schedule_free(s);
    struct sl_tz *z = load_ok(NULL, "America/New_York");
    int32_t off = sl_tz_offset(z, INT64_MAX);
    assert_true(off == -18000 || off == -14400);
    off = sl_tz_offset(z, INT64_MIN);
    assert_int_equal(off, -17762);
    int64_t t;
    sl_tz_resolve(z, INT64_MAX, &t);
    sl_tz_resolve(z, INT64_MIN, &t);
    sl_tz_free(z);
}

static void test_calendar(void **state)
{
    (void)state;
    assert_int_equal(sl_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(sl_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(sl_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(sl_weekday(0), 5);                              /* Thursday */
    assert_int_equal(sl_weekday(sl_days_from_civil(2024, 1, 7)), 1); /* Sunday */
    assert_int_equal(sl_weekday(-1), 4);
    assert_int_equal(sl_days_in_month(2024, 2), 29);
    assert_int_equal(sl_days_in_month(2100, 2), 28);
    assert_int_equal(sl_days_in_month(2000, 2), 29);
    for (int64_t d = -800000; d < 800000; d += 37) {
        int64_t y;
        int m, dd;
        sl_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(sl_days_from_civil(y, m, dd), d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_rule_counts_from_creation),
        cmocka_unit_test(test_rate_scheduler_starts_at_start_date),
        cmocka_unit_test(test_cron_fields),
        cmocka_unit_test(test_cron_years),
        cmocka_unit_test(test_cron_feb_29),
        cmocka_unit_test(test_cron_day_of_month_l_w),
        cmocka_unit_test(test_cron_day_of_week_l_hash),
        cmocka_unit_test(test_cron_question_mark),
        cmocka_unit_test(test_cron_successive_fires),
        cmocka_unit_test(test_cron_zones),
        cmocka_unit_test(test_cron_dst_new_york),
        cmocka_unit_test(test_cron_dst_berlin),
        cmocka_unit_test(test_at),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_tz_tzdata),
        cmocka_unit_test(test_tz_names),
        cmocka_unit_test_setup_teardown(test_tz_files, setup, teardown),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_calendar),
    };
    return cmocka_run_group_tests_name("schedule", tests, NULL, NULL);
}
