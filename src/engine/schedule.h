/*
 * schedule — the schedule expressions of EventBridge rules and EventBridge
 * Scheduler, written once for both: parsing (with a message that names
 * what is wrong) and the next time a schedule fires. Beneath it, a reader
 * of the system's time zone files (TZif, RFC 8536), because no C library
 * on Debian converts times in an arbitrary zone without changing the
 * whole process's TZ.
 *
 * Expressions (AWS's syntax, AWS's rules):
 *   rate(N unit)   N a positive integer; unit minute|hour|day when N is 1,
 *                  minutes|hours|days otherwise. A fixed period of
 *                  milliseconds: a day is 24 hours, whatever the clocks do.
 *                  A rule fires first one period after it was created
 *                  ("rate schedules start counting from rule creation");
 *                  the Scheduler fires first at StartDate, or at creation
 *                  when there is none ("starts invoking the target
 *                  immediately"). Either way the caller passes that anchor.
 *   cron(Minutes Hours Day-of-month Month Day-of-week Year)
 *                  ranges (wrapping ones too: 22-2), lists, *, a/n and a-b/n
 *                  increments, month names JAN-DEC, weekdays 1-7 = SUN-SAT
 *                  (names too), years 1970-2199; exactly one of the two day
 *                  fields is ?; day-of-month also L (last day), LW (last
 *                  weekday), nW (the weekday nearest day n, never in another
 *                  month; none in a month without day n); day-of-week also L
 *                  (Saturday, the week's last day), nL (the month's last
 *                  weekday n) and n#k (its k-th weekday n, k 1-5). L, W, nL
 *                  and n#k stand alone in their field. Names and letters
 *                  in any case. Fires at second 0 of each matching minute
 *                  of the zone's wall clock.
 *   at(yyyy-mm-ddThh:mm:ss)
 *                  Scheduler only: once, at that wall-clock time in the
 *                  schedule's zone.
 *
 * Daylight saving time (Scheduler's zones; rules are always UTC), as the
 * Scheduler documents it: a cron time that falls in the hour skipped in
 * spring does not fire that day; a cron time the autumn repeats fires once,
 * at its first occurrence (the daylight-time one). An at() time in a gap
 * moves later by the gap's length (02:30 becomes 03:30 daylight time); an
 * at() time that occurs twice means the first.
 *
 * Time zones are IANA names ("America/New_York", "UTC"), read from
 * /usr/share/zoneinfo (tzdata) or the directory $SLUICE_ZONEINFO names;
 * a parsed zone is cached for the life of the process.
 *
 * Thread safety: a parsed schedule or zone is immutable; any thread may
 * use it, and loads may race.
 *
 * May call: core, libc.
 */
#ifndef SL_ENGINE_SCHEDULE_H
#define SL_ENGINE_SCHEDULE_H

#include <stdint.h>

#include "core/core.h"

/* AWS's text for any invalid expression (EventBridge's ValidationException
 * and the Scheduler's); sl_schedule_parse() puts the detail in its err. */
#define SL_SCHEDULE_INVALID "Parameter ScheduleExpression is not valid."
/* The longest expression either service accepts. */
#define SL_SCHEDULE_EXPR_MAX 256
/* The years a cron expression may name. */
#define SL_SCHEDULE_YEAR_MIN 1970
#define SL_SCHEDULE_YEAR_MAX 2199

/* Whose expression it is: which forms it may use and when rate() begins. */
enum sl_schedule_owner {
    SL_SCHEDULE_RULE,      /* EventBridge rule: rate() and cron(), UTC */
    SL_SCHEDULE_SCHEDULER, /* EventBridge Scheduler: at() too, any zone */
};

enum sl_schedule_kind {
    SL_SCHEDULE_RATE,
    SL_SCHEDULE_CRON,
    SL_SCHEDULE_AT,
};

struct sl_schedule;
struct sl_tz;

/* Parses expr for owner, evaluated in time zone tz (an IANA name; NULL is
 * UTC, and a rule takes no other). On success *out is the caller's
 * (sl_schedule_free). SL_EINVAL with err naming the problem ("cron:
 * day-of-month 32 is out of range 1-31", "unknown time zone 'Mars/Olympus'"),
 * SL_ECORRUPT when the zone's file is damaged, SL_EIO, SL_ENOMEM; *out is
 * then NULL. */
int sl_schedule_parse(const char *expr, const char *tz, enum sl_schedule_owner owner,
                      struct sl_schedule **out, struct sl_err *err);

enum sl_schedule_kind sl_schedule_kind(const struct sl_schedule *s);

/* The first time s fires strictly after after_ms, in milliseconds since
 * the epoch, or -1 when it never does again (an at() already past, a cron
 * whose years ran out). Fire times are never before the epoch. anchor_ms is where rate() counts from (the rule's
 * creation; the schedule's StartDate, else its creation) and is ignored by
 * the other kinds; a StartDate or EndDate is otherwise the caller's to
 * apply. Never allocates. */
int64_t sl_schedule_next(const struct sl_schedule *s, int64_t anchor_ms, int64_t after_ms);

void sl_schedule_free(struct sl_schedule *s); /* NULL ok */

/* ---- time zones -------------------------------------------------------- */

/* Loads zone name (an IANA name: letters, digits, '_', '-', '+' in
 * '/'-separated parts; no '.', so no way out of the directory) from dir,
 * or with dir NULL from $SLUICE_ZONEINFO or /usr/share/zoneinfo. "UTC"
 * never needs a file. *out is the caller's reference (sl_tz_free); zones
 * are cached, so loading one again is cheap. SL_EINVAL (a bad or unknown
 * name, a zone with leap seconds), SL_ECORRUPT (not a TZif file of
 * version 2 or later), SL_EIO, SL_ENOMEM. */
int sl_tz_load(const char *dir, const char *name, struct sl_tz **out, struct sl_err *err);
void sl_tz_free(struct sl_tz *z); /* drops a reference; NULL ok */

/* The zone's name as loaded. */
const char *sl_tz_name(const struct sl_tz *z);
/* Seconds east of UTC of the zone's wall clock at t (seconds since the
 * epoch): the file's transitions, then its POSIX TZ rule. Any t (past
 * 2^50 seconds either way, as at 2^50). */
int32_t sl_tz_offset(const struct sl_tz *z, int64_t t);
/* When the zone's wall clock reads local (wall-clock seconds counted from
 * 1970-01-01 00:00 as if it were UTC): sets *t (seconds since the epoch)
 * and returns how many instants read so: 1; 2 when the wall time repeats
 * (*t is the earlier); 0 when it falls in a gap (*t is then where it lands
 * moved later by the gap's length). */
int sl_tz_resolve(const struct sl_tz *z, int64_t local, int64_t *t);

/* ---- calendar (proleptic Gregorian, any year) ------------------------- */

/* Days from 1970-01-01 to y-m-d (m 1-12, d 1-31), negative before. */
int64_t sl_days_from_civil(int64_t y, int m, int d);
/* The date of day days since 1970-01-01. */
void sl_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* 1 = Sunday .. 7 = Saturday, as cron counts, of day days. */
int sl_weekday(int64_t days);
int sl_days_in_month(int64_t y, int m);

#endif
