/* Clocks and the date formats AWS protocols use. */
#include "core/core.h"

#include <stdio.h>
#include <string.h>

int64_t sl_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sl_time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct timespec sl_time_deadline(clockid_t clock, int64_t ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

void sl_time_iso8601_ms(int64_t ms, char *out, size_t n)
{
    /* Floor division: -1 ms is 1969-12-31T23:59:59.999Z. */
    int64_t sec = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        sec--;
        frac += 1000;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

void sl_time_iso8601_s(int64_t ms, char *out, size_t n)
{
    char full[64];
    sl_time_iso8601_ms(ms, full, sizeof(full));
    size_t len = strlen(full);
    /* "...:SS.mmmZ" -> "...:SSZ" */
    if (len >= 5 && full[len - 5] == '.') {
        full[len - 5] = 'Z';
        full[len - 4] = '\0';
    }
    snprintf(out, n, "%s", full);
}

void sl_time_amz(time_t t, char *out, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y%m%dT%H%M%SZ", &tm);
}

static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void sl_time_http(time_t t, char *out, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int month_index(const char *m)
{
    for (int i = 0; i < 12; i++)
        if (strncmp(m, months[i], 3) == 0)
            return i;
    return -1;
}

/* Whether tm names a real instant (timegm would quietly move 31 Feb on). */
static int tm_valid(const struct tm *tm)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (tm->tm_mon < 0 || tm->tm_mon >= 12 || tm->tm_year < 0)
        return 0;
    int year = tm->tm_year + 1900;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int days = mdays[tm->tm_mon] + (tm->tm_mon == 1 && leap);
    return tm->tm_mday >= 1 && tm->tm_mday <= days && tm->tm_hour >= 0 && tm->tm_hour < 24 &&
           tm->tm_min >= 0 && tm->tm_min < 60 && tm->tm_sec >= 0 && tm->tm_sec <= 60;
}

/* A zone of an RFC 1123 / RFC 2822 date: "GMT", "UTC", "Z" or [+-]hhmm.
 * Sets *offset (seconds east of UTC); 0 or SL_EINVAL. */
static int parse_zone(const char *z, long *offset)
{
    if (strcmp(z, "GMT") == 0 || strcmp(z, "UTC") == 0 || strcmp(z, "UT") == 0 ||
        strcmp(z, "Z") == 0) {
        *offset = 0;
        return 0;
    }
    if (strlen(z) != 5 || (z[0] != '+' && z[0] != '-'))
        return SL_EINVAL;
    for (int i = 1; i < 5; i++)
        if (z[i] < '0' || z[i] > '9')
            return SL_EINVAL;
    long hh = (z[1] - '0') * 10 + (z[2] - '0'), mm = (z[3] - '0') * 10 + (z[4] - '0');
    if (hh > 23 || mm > 59)
        return SL_EINVAL;
    *offset = (hh * 3600 + mm * 60) * (z[0] == '-' ? -1 : 1);
    return 0;
}

int sl_time_parse_http(const char *s, time_t *out)
{
    struct tm tm = {0};
    char mon[4] = {0}, wd[16] = {0}, zone[8] = {0};
    int year, consumed = 0;
    long offset = 0;
    /* RFC 1123 (Sun, 06 Nov 1994 08:49:37 GMT), also with the numeric zone
     * and optional weekday of RFC 2822 (botocore's Date: ... -0000). */
    const char *p = s;
    const char *comma = strchr(s, ',');
    if (comma && comma - s <= 9 && sscanf(s, "%15[A-Za-z],", wd) == 1)
        p = comma + 1;
    if (sscanf(p, " %2d %3s %4d %2d:%2d:%2d %7s%n", &tm.tm_mday, mon, &year, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, zone, &consumed) == 7 &&
        p[consumed] == '\0' && month_index(mon) >= 0) {
        if (parse_zone(zone, &offset))
            return SL_EINVAL;
    } else if (comma && sscanf(s, "%15[A-Za-z], %d-%3s-%d %d:%d:%d %7s%n", wd, &tm.tm_mday, mon,
                               &year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, zone, &consumed) == 8 &&
               s[consumed] == '\0' && strcmp(zone, "GMT") == 0) {
        /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
        if (year < 100)
            year += year < 70 ? 2000 : 1900;
    } else if (sscanf(s, "%3s %3s %d %d:%d:%d %d%n", wd, mon, &tm.tm_mday, &tm.tm_hour,
                      &tm.tm_min, &tm.tm_sec, &year, &consumed) == 7 &&
               s[consumed] == '\0') {
        /* asctime: Sun Nov  6 08:49:37 1994 */
    } else {
        return SL_EINVAL;
    }
    tm.tm_mon = month_index(mon);
    tm.tm_year = year - 1900;
    if (!tm_valid(&tm))
        return SL_EINVAL;
    *out = timegm(&tm) - offset;
    return 0;
}

/* Completes a struct tm read with 4-digit year and 1-based month into a
 * time; SL_EINVAL when it names no real instant. */
static int tm_finish(struct tm *tm, time_t *out)
{
    tm->tm_year -= 1900;
    tm->tm_mon -= 1;
    if (!tm_valid(tm))
        return SL_EINVAL;
    *out = timegm(tm);
    return 0;
}

int sl_time_parse_amz(const char *s, time_t *out)
{
    struct tm tm = {0};
    int consumed = 0;
    if (strlen(s) != 16 || sscanf(s, "%4d%2d%2dT%2d%2d%2dZ%n", &tm.tm_year, &tm.tm_mon,
                                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
                                  &consumed) != 6 ||
        consumed != 16)
        return SL_EINVAL;
    for (int i = 0; i < 16; i++)
        if (i != 8 && i != 15 && (s[i] < '0' || s[i] > '9'))
            return SL_EINVAL;
    return tm_finish(&tm, out);
}

int sl_time_parse_iso8601(const char *s, time_t *out)
{
    struct tm tm = {0};
    int consumed = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
        return SL_EINVAL;
    const char *p = s + consumed;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return SL_EINVAL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return SL_EINVAL;
    return tm_finish(&tm, out);
}
