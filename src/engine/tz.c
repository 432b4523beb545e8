/*
 * Time zones for schedules (see schedule.h): a reader of TZif files
 * (RFC 8536) of version 2 or later — their 64-bit transitions and local
 * time types, then the POSIX TZ string of their footer for the times after
 * the last transition (with version 3's rule times beyond 24 hours) — and
 * the proleptic Gregorian calendar both this file and the expressions use.
 *
 * Parsed zones are cached by path for the life of the process: they are
 * immutable, a few kilobytes each and at most a few hundred, and a
 * schedule's zone is asked for at every CreateSchedule. This is the one
 * piece of process state of the engine layer, as tzset()'s is libc's.
 */
#include "engine/schedule.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_DIR_DEFAULT "/usr/share/zoneinfo"
#define TZ_DIR_ENV "SLUICE_ZONEINFO"
#define TZ_NAME_MAX 128
/* The largest TZif file read: real ones are under 4 KiB. */
#define TZ_FILE_MAX (256 * 1024)
/* Zones cached; past this (only a test's directories of made-up zones
 * could get there) a zone is loaded for its caller alone. */
#define TZ_CACHE_MAX 1024
/* RFC 8536 3.2: a local time type's offset should be within these. */
#define UTOFF_MIN (-89999)
#define UTOFF_MAX 93599
#define SECS_PER_DAY 86400
/* Times beyond this many seconds from the epoch (35 million years) are
 * read as at it, so that the calendar's arithmetic cannot overflow. */
#define T_LIMIT ((int64_t)1 << 50)

/* ---- calendar --------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Howard Hinnant's days_from_civil and civil_from_days. */
int64_t sl_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void sl_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    days += 719468;
    int64_t era = floor_div(days, 146097);
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int sl_weekday(int64_t days)
{
    /* 1970-01-01 was a Thursday (5). */
    return (int)((days % 7 + 7 + 4) % 7) + 1;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int sl_days_in_month(int64_t y, int m)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/* ---- POSIX TZ rules (RFC 8536 3.3) ------------------------------------ */

/* A day of the year a rule changes the clocks on, and when. */
struct rule_date {
    char kind;             /* 'J' Julian 1-365 (no Feb 29), 'D' 0-365, 'M' */
    int month, week, wday; /* 'M': the week-th (5: last) weekday wday of month */
    int day;               /* 'J' and 'D' */
    int32_t time;          /* seconds after local midnight, -167h..167h */
};

struct posix_tz {
    bool present, has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    struct rule_date start, end;
};

struct sl_tz {
    atomic_uint refs; /* the cache holds one; the static UTC zone none */
    char *name, *path;
    size_t ntrans;
    int64_t *trans;     /* transition times, ascending */
    int32_t *trans_off; /* offset from each transition on */
    int32_t first_off;  /* before the first: time type 0 */
    size_t noffs;
    int32_t *offs; /* every offset the zone ever uses */
    struct posix_tz posix;
};

static int32_t utc_offs[1] = {0};
static struct sl_tz utc_zone = {.name = "UTC", .noffs = 1, .offs = utc_offs};

/* The local seconds (from 1970-01-01 00:00 wall time) at which rule r
 * falls in year y. */
static int64_t rule_local(const struct rule_date *r, int64_t y)
{
    int64_t days;
    switch (r->kind) {
    case 'J':
        days = sl_days_from_civil(y, 1, 1) + r->day - 1 + (is_leap(y) && r->day >= 60);
        break;
    case 'D':
        days = sl_days_from_civil(y, 1, 1) + r->day;
        break;
    default: {
        int mdays = sl_days_in_month(y, r->month);
        int64_t first = sl_days_from_civil(y, r->month, 1);
        int d = 1 + (r->wday + 1 - sl_weekday(first) + 7) % 7 + 7 * (r->week - 1);
        while (d > mdays)
            d -= 7;
        days = first + d - 1;
    }
    }
    return days * SECS_PER_DAY + r->time;
}

static int32_t posix_offset(const struct posix_tz *p, int64_t t)
{
    if (!p->has_dst)
        return p->std_off;
    int64_t y;
    int m, d;
    sl_civil_from_days(floor_div(t + p->std_off, SECS_PER_DAY), &y, &m, &d);
    /* The last change at or before t among three years' (so that either
     * hemisphere, and rules past the year's end, come out right); a tie
     * goes to daylight time, as in "permanent DST" strings
     * (EST5EDT4,0/0,J365/25). */
    bool found = false, dst = false;
    int64_t best = 0;
    for (int64_t yy = y - 1; yy <= y + 1; yy++) {
        int64_t on = rule_local(&p->start, yy) - p->std_off;
        int64_t off = rule_local(&p->end, yy) - p->dst_off;
        if (off <= t && (!found || off > best)) {
            best = off;
            dst = false;
            found = true;
        }
        if (on <= t && (!found || on >= best)) {
            best = on;
            dst = true;
            found = true;
        }
    }
    return dst ? p->dst_off : p->std_off;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* A zone abbreviation: three or more letters, or <...> of letters, digits,
 * '+' and '-'. Returns the rest of s, or NULL. */
static const char *posix_name(const char *s)
{
    const char *b;
    if (*s == '<') {
        b = ++s;
        while (is_alpha(*s) || is_digit(*s) || *s == '+' || *s == '-')
            s++;
        return *s == '>' && s - b >= 3 ? s + 1 : NULL;
    }
    b = s;
    while (is_alpha(*s))
        s++;
    return s - b >= 3 ? s : NULL;
}

/* A number of 1 to digits digits, at most max. */
static const char *posix_num(const char *s, int digits, int max, int *out)
{
    int v = 0, n = 0;
    while (is_digit(*s) && n < digits) {
        v = v * 10 + (*s++ - '0');
        n++;
    }
    if (n == 0 || v > max)
        return NULL;
    *out = v;
    return s;
}

/* [+-]hh[:mm[:ss]] with hh at most hmax, in seconds. */
static const char *posix_hms(const char *s, int hmax, int32_t *out)
{
    int sign = 1, h, mi = 0, sec = 0;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (!(s = posix_num(s, 3, hmax, &h)))
        return NULL;
    if (*s == ':') {
        if (!(s = posix_num(s + 1, 2, 59, &mi)))
            return NULL;
        if (*s == ':' && !(s = posix_num(s + 1, 2, 59, &sec)))
            return NULL;
    }
    *out = sign * (h * 3600 + mi * 60 + sec);
    return s;
}

static const char *posix_date(const char *s, struct rule_date *r)
{
    r->time = 2 * 3600;
    if (*s == 'J') {
        r->kind = 'J';
        if (!(s = posix_num(s + 1, 3, 365, &r->day)) || r->day < 1)
            return NULL;
    } else if (*s == 'M') {
        r->kind = 'M';
        if (!(s = posix_num(s + 1, 2, 12, &r->month)) || r->month < 1 || *s != '.' ||
            !(s = posix_num(s + 1, 1, 5, &r->week)) || r->week < 1 || *s != '.' ||
            !(s = posix_num(s + 1, 1, 6, &r->wday)))
            return NULL;
    } else {
        r->kind = 'D';
        if (!(s = posix_num(s, 3, 365, &r->day)))
            return NULL;
    }
    if (*s == '/')
        s = posix_hms(s + 1, 167, &r->time);
    return s;
}

/* Parses a POSIX TZ string (std offset [dst [offset] [,start[/time],end[/time]]]). */
static bool posix_parse(const char *s, struct posix_tz *p)
{
    int32_t v;
    memset(p, 0, sizeof(*p));
    if (!(s = posix_name(s)) || !(s = posix_hms(s, 24, &v)))
        return false;
    p->std_off = -v;
    p->present = true;
    if (!*s)
        return true;
    if (!(s = posix_name(s)))
        return false;
    p->has_dst = true;
    p->dst_off = p->std_off + 3600;
    if (*s && *s != ',') {
        if (!(s = posix_hms(s, 24, &v)))
            return false;
        p->dst_off = -v;
    }
    if (!*s) {
        /* No rule: POSIX leaves it to the implementation; glibc and tzcode
         * take the United States' (M3.2.0,M11.1.0). */
        p->start = (struct rule_date){'M', 3, 2, 0, 0, 7200};
        p->end = (struct rule_date){'M', 11, 1, 0, 0, 7200};
        return true;
    }
    if (*s != ',' || !(s = posix_date(s + 1, &p->start)) || *s != ',' ||
        !(s = posix_date(s + 1, &p->end)))
        return false;
    return *s == '\0';
}

/* ---- TZif ------------------------------------------------------------- */

struct reader {
    const uint8_t *p;
    size_t n, off;
};

static bool rd_take(struct reader *r, size_t n, const uint8_t **out)
{
    if (n > r->n - r->off)
        return false;
    *out = r->p + r->off;
    r->off += n;
    return true;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static bool tzif_header(struct reader *r, char *version, struct tzif_counts *c)
{
    const uint8_t *h;
    if (!rd_take(r, 44, &h) || memcmp(h, "TZif", 4) != 0)
        return false;
    *version = (char)h[4];
    c->isut = be32(h + 20);
    c->isstd = be32(h + 24);
    c->leap = be32(h + 28);
    c->time = be32(h + 32);
    c->type = be32(h + 36);
    c->chars = be32(h + 40);
    /* Bounds that keep the sizes below from overflowing; the file's size
     * bounds them far more. */
    return c->isut <= TZ_FILE_MAX && c->isstd <= TZ_FILE_MAX && c->leap <= TZ_FILE_MAX &&
           c->time <= TZ_FILE_MAX && c->type <= TZ_FILE_MAX && c->chars <= TZ_FILE_MAX;
}

static size_t tzif_block_size(const struct tzif_counts *c, size_t time_size)
{
    return (size_t)c->time * (time_size + 1) + (size_t)c->type * 6 + c->chars +
           (size_t)c->leap * (time_size + 4) + c->isstd + c->isut;
}

static void add_offset(struct sl_tz *z, int32_t off)
{
    for (size_t i = 0; i < z->noffs; i++)
        if (z->offs[i] == off)
            return;
    z->offs[z->noffs++] = off;
}

/* Fills z from the file's bytes; SL_ECORRUPT or SL_EINVAL (err says why),
 * SL_ENOMEM. */
static int tzif_parse(const uint8_t *p, size_t n, struct sl_tz *z, const char *name,
                      struct sl_err *err)
{
    struct reader r = {p, n, 0};
    struct tzif_counts c;
    char version;
    const uint8_t *b;
    if (!tzif_header(&r, &version, &c))
        return sl_errf(err, SL_ECORRUPT, "time zone '%s': not a TZif file", name);
    if (version < '2')
        return sl_errf(err, SL_ECORRUPT, "time zone '%s': TZif version 1 is not supported", name);
    if (!rd_take(&r, tzif_block_size(&c, 4), &b) || !tzif_header(&r, &version, &c))
        return sl_errf(err, SL_ECORRUPT, "time zone '%s': truncated TZif file", name);
    if (c.leap)
        return sl_errf(err, SL_EINVAL, "time zone '%s' counts leap seconds; not supported", name);
    if (c.type == 0 || c.type > 256 || c.chars == 0 || (c.isut && c.isut != c.type) ||
        (c.isstd && c.isstd != c.type))
        return sl_errf(err, SL_ECORRUPT, "time zone '%s': bad TZif counts", name);
    if (!rd_take(&r, tzif_block_size(&c, 8), &b))
        return sl_errf(err, SL_ECORRUPT, "time zone '%s': truncated TZif file", name);
    const uint8_t *times = b, *idx = b + (size_t)c.time * 8, *types = idx + c.time;

    int32_t *type_off = malloc(c.type * sizeof(*type_off));
    z->trans = malloc((c.time ? c.time : 1) * sizeof(*z->trans));
    z->trans_off = malloc((c.time ? c.time : 1) * sizeof(*z->trans_off));
    z->offs = malloc((c.type + 2) * sizeof(*z->offs));
    if (!type_off || !z->trans || !z->trans_off || !z->offs) {
        free(type_off);
        return sl_errf(err, SL_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (uint32_t i = 0; i < c.type; i++) {
        int32_t off = (int32_t)be32(types + 6 * i);
        if (off < UTOFF_MIN || off > UTOFF_MAX || types[6 * i + 4] > 1 ||
            types[6 * i + 5] >= c.chars) {
            rc = sl_errf(err, SL_ECORRUPT, "time zone '%s': bad local time type", name);
            goto done;
        }
        type_off[i] = off;
        add_offset(z, off);
    }
    z->first_off = type_off[0];
    for (uint32_t i = 0; i < c.time; i++) {
        z->trans[i] = be64(times + 8 * i);
        if (idx[i] >= c.type || (i > 0 && z->trans[i] <= z->trans[i - 1])) {
            rc = sl_errf(err, SL_ECORRUPT, "time zone '%s': bad transitions", name);
            goto done;
        }
        z->trans_off[i] = type_off[idx[i]];
    }
    z->ntrans = c.time;

    /* The footer: "\n" TZ string "\n"; an empty string means no rule. */
    const uint8_t *nl;
    if (!rd_take(&r, 1, &b) || *b != '\n' ||
        !(nl = memchr(r.p + r.off, '\n', r.n - r.off))) {
        rc = sl_errf(err, SL_ECORRUPT, "time zone '%s': no TZ string footer", name);
        goto done;
    }
    size_t flen = (size_t)(nl - (r.p + r.off));
    if (flen > 0) {
        char footer[128];
        if (flen >= sizeof(footer) || memchr(r.p + r.off, '\0', flen)) {
            rc = sl_errf(err, SL_ECORRUPT, "time zone '%s': bad TZ string", name);
            goto done;
        }
        memcpy(footer, r.p + r.off, flen);
        footer[flen] = '\0';
        if (!posix_parse(footer, &z->posix) || z->posix.std_off < UTOFF_MIN ||
            z->posix.std_off > UTOFF_MAX || z->posix.dst_off < UTOFF_MIN ||
            z->posix.dst_off > UTOFF_MAX) {
            rc = sl_errf(err, SL_ECORRUPT, "time zone '%s': bad TZ string '%s'", name, footer);
            goto done;
        }
        add_offset(z, z->posix.std_off);
        if (z->posix.has_dst)
            add_offset(z, z->posix.dst_off);
    }
done:
    free(type_off);
    return rc;
}

/* ---- loading and the cache ------------------------------------------- */

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sl_tz *cache[TZ_CACHE_MAX];
static size_t cache_n;

static void tz_destroy(struct sl_tz *z)
{
    free(z->name);
    free(z->path);
    free(z->trans);
    free(z->trans_off);
    free(z->offs);
    free(z);
}

void sl_tz_free(struct sl_tz *z)
{
    if (!z || z == &utc_zone)
        return;
    if (atomic_fetch_sub(&z->refs, 1) == 1)
        tz_destroy(z);
}

/* An IANA name: '/'-separated non-empty parts of letters, digits, '_',
 * '-' and '+'. No '.' at all, so no "..", and no leading '/'. */
static bool name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || name[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (ch == '/' && name[i + 1] == '/')
            return false;
        if (!is_alpha(ch) && !is_digit(ch) && ch != '_' && ch != '-' && ch != '+' && ch != '/')
            return false;
    }
    return true;
}

static int read_file(const char *path, const char *name, uint8_t **out, size_t *len,
                     struct sl_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR || errno == ELOOP)
            return sl_errf(err, SL_EINVAL, "unknown time zone '%s'", name);
        return sl_errf(err, SL_EIO, "time zone '%s': %s", name, strerror(errno));
    }
    struct stat st;
    uint8_t *buf = NULL;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = sl_errf(err, SL_EIO, "time zone '%s': %s", name, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = sl_errf(err, SL_EINVAL, "unknown time zone '%s'", name);
        goto done;
    }
    if (st.st_size > TZ_FILE_MAX) {
        rc = sl_errf(err, SL_ECORRUPT, "time zone '%s': file too large", name);
        goto done;
    }
    size_t size = (size_t)st.st_size, got = 0;
    if (!(buf = malloc(size ? size : 1))) {
        rc = sl_errf(err, SL_ENOMEM, "out of memory");
        goto done;
    }
    while (got < size) {
        ssize_t k = read(fd, buf + got, size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            rc = sl_errf(err, SL_EIO, "time zone '%s': %s", name,
                         k < 0 ? strerror(errno) : "file shrank while read");
            goto done;
        }
        got += (size_t)k;
    }
    *out = buf;
    *len = size;
    buf = NULL;
done:
    free(buf);
    close(fd);
    return rc;
}

int sl_tz_load(const char *dir, const char *name, struct sl_tz **out, struct sl_err *err)
{
    *out = NULL;
    if (!name || !name_valid(name))
        return sl_errf(err, SL_EINVAL, "invalid time zone name '%.*s'", TZ_NAME_MAX,
                       name ? name : "");
    if (strcmp(name, "UTC") == 0) {
        *out = &utc_zone;
        return 0;
    }
    if (!dir) {
        dir = getenv(TZ_DIR_ENV);
        if (!dir || !*dir)
            dir = TZ_DIR_DEFAULT;
    }
    size_t plen = strlen(dir) + 1 + strlen(name) + 1;
    char *path = malloc(plen);
    if (!path)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    memcpy(path, dir, strlen(dir));
    path[strlen(dir)] = '/';
    memcpy(path + strlen(dir) + 1, name, strlen(name) + 1);

    int rc = 0;
    uint8_t *data = NULL;
    size_t len = 0;
    struct sl_tz *z = NULL;
    /* Loads are rare and small: done under the lock, so that two threads
     * asking for one zone parse it once. */
    pthread_mutex_lock(&cache_mu);
    for (size_t i = 0; i < cache_n; i++) {
        if (strcmp(cache[i]->path, path) == 0) {
            atomic_fetch_add(&cache[i]->refs, 1);
            *out = cache[i];
            goto done;
        }
    }
    if ((rc = read_file(path, name, &data, &len, err)))
        goto done;
    if (!(z = calloc(1, sizeof(*z))) || !(z->name = strdup(name))) {
        rc = sl_errf(err, SL_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = tzif_parse(data, len, z, name, err)))
        goto done;
    z->path = path;
    path = NULL;
    atomic_init(&z->refs, 1);
    if (cache_n < TZ_CACHE_MAX) {
        atomic_fetch_add(&z->refs, 1);
        cache[cache_n++] = z;
    }
    *out = z;
    z = NULL;
done:
    pthread_mutex_unlock(&cache_mu);
    if (z)
        tz_destroy(z);
    free(data);
    free(path);
    return rc;
}

const char *sl_tz_name(const struct sl_tz *z)
{
    return z->name;
}

static int64_t clamp_t(int64_t t)
{
    return t > T_LIMIT ? T_LIMIT : t < -T_LIMIT ? -T_LIMIT : t;
}

int32_t sl_tz_offset(const struct sl_tz *z, int64_t t)
{
    t = clamp_t(t);
    if (z->ntrans == 0)
        return z->posix.present ? posix_offset(&z->posix, t) : z->first_off;
    if (t < z->trans[0])
        return z->first_off;
    size_t last = z->ntrans - 1;
    if (t > z->trans[last] && z->posix.present)
        return posix_offset(&z->posix, t);
    /* The last transition at or before t. */
    size_t lo = 0, hi = last;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return z->trans_off[lo];
}

int sl_tz_resolve(const struct sl_tz *z, int64_t local, int64_t *t)
{
    /* Every instant whose wall clock reads local is local - o for an
     * offset o the zone uses, and is one exactly when the offset at
     * local - o is o. */
    bool found = false;
    int64_t best = 0, latest = 0;
    local = clamp_t(local);
    int32_t omin = z->offs[0];
    for (size_t i = 0; i < z->noffs; i++) {
        int32_t o = z->offs[i];
        int64_t cand = local - o;
        if (o < omin)
            omin = o;
        if (sl_tz_offset(z, cand) != o)
            continue;
        if (!found || cand < best)
            best = cand;
        if (!found || cand > latest)
            latest = cand;
        found = true;
    }
    if (found) {
        *t = best;
        return best == latest ? 1 : 2;
    }
    /* A gap: the offset in force after it, read at the latest instant
     * that could have matched, gives back the one before it, o1; local
     * moved later by the gap's length is then local - o1. */
    int32_t after = sl_tz_offset(z, local - omin);
    *t = local - sl_tz_offset(z, local - after);
    return 0;
}
