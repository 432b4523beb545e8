/*
 * A streaming CSV parser (formats/csv.h).
 *
 * A row that lies whole in the chunk being fed and has no quote is read
 * in place: one pass over its bytes with a table of the bytes that matter
 * (the delimiter, '"', CR, LF), its fields pointing into the chunk. Any
 * other row (quoted fields, or one that a chunk cuts) goes through a
 * state machine that copies its fields' bytes, one after the other, into
 * the parser's buffer: runs of ordinary bytes at a time (memchr for the
 * closing quote), never a byte at a time through a function.
 */
#include "formats/csv.h"
#include "formats/infer.h"

#include <stdlib.h>
#include <string.h>

enum state {
    ROW_START,       /* between rows (an LF may be due, skip_lf) */
    FIELD_START,     /* after a delimiter */
    UNQUOTED,        /* in a field without quotes, or after a quoted field's closing quote */
    QUOTED,          /* in quotes */
    QUOTE_IN_QUOTED, /* after a '"' in quotes: a "" or the closing quote */
};

/* Classes of bytes outside quotes (bits). */
enum { C_DELIM = 1, C_BREAK = 2, C_QUOTE = 4 };

struct sl_csv {
    sl_csv_row_fn fn;
    void *arg;
    size_t max;  /* the longest row */
    char delim;
    enum state st;
    int rc;      /* a failure or a stop, returned again */
    int bom;     /* bytes of a byte order mark matched at the start; 3 when past it */
    bool skip_lf; /* the last row ended at a CR: an LF next is the rest of a CRLF */
    bool qcr;     /* the last byte in quotes was a CR (for counting lines) */
    bool fquoted; /* the field being read began with a quote */
    int64_t line; /* the line of the next byte */
    int64_t row_line, quote_line;
    size_t raw;    /* bytes of the row so far (the slow path's) */
    size_t fstart; /* where the field being read begins in buf */
    char *buf;     /* the fields of the row being read, end to end */
    size_t len, cap;
    struct sl_csv_field *f; /* (the field lengths until the row is handed out) */
    size_t nf, fcap;
    struct sl_err *err; /* (that of the call under way) */
    unsigned char cls[256];
};

int sl_csv_new(char delim, size_t max_row_bytes, sl_csv_row_fn fn, void *arg, struct sl_csv **out)
{
    *out = NULL;
    if (delim == '"' || delim == '\r' || delim == '\n' || !fn)
        return SL_EINVAL;
    struct sl_csv *c = calloc(1, sizeof(*c));
    if (!c)
        return SL_ENOMEM;
    c->fn = fn;
    c->arg = arg;
    c->delim = delim;
    c->max = max_row_bytes ? max_row_bytes : SL_CSV_MAX_ROW;
    c->line = 1;
    c->cap = SL_MIN(c->max, (size_t)4096);
    c->fcap = 16;
    c->buf = malloc(c->cap);
    c->f = malloc(c->fcap * sizeof(*c->f));
    if (!c->buf || !c->f) {
        sl_csv_free(c);
        return SL_ENOMEM;
    }
    c->cls[(unsigned char)delim] = C_DELIM;
    c->cls['\r'] = c->cls['\n'] = C_BREAK;
    c->cls['"'] = C_QUOTE;
    *out = c;
    return 0;
}

void sl_csv_free(struct sl_csv *c)
{
    if (!c)
        return;
    free(c->buf);
    free(c->f);
    free(c);
}

bool sl_csv_in_quote(const struct sl_csv *c)
{
    return c->st == QUOTED;
}

static int grow_fields(struct sl_csv *c)
{
    size_t cap = c->fcap * 2;
    struct sl_csv_field *f = realloc(c->f, cap * sizeof(*f));
    if (!f)
        return SL_ENOMEM;
    c->f = f;
    c->fcap = cap;
    return 0;
}

/* Counts k more bytes of the row against the cap. */
static int account(struct sl_csv *c, size_t k)
{
    if (k > c->max - c->raw)
        return sl_errf(c->err, SL_ETOOBIG, "line %lld: the row is longer than %zu bytes",
                       (long long)c->row_line, c->max);
    c->raw += k;
    return 0;
}

/* Adds p[0..k) to the field being read. */
static int append(struct sl_csv *c, const char *p, size_t k)
{
    int rc = account(c, k);
    if (rc || !k)
        return rc;
    if (k > c->cap - c->len) {
        /* (len + k <= raw <= max: the buffer never passes the cap.) */
        size_t cap = c->cap > c->max / 2 ? c->max : SL_MAX(c->cap * 2, c->len + k);
        char *b = realloc(c->buf, cap);
        if (!b)
            return SL_ENOMEM;
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, p, k);
    c->len += k;
    return 0;
}

static int end_field(struct sl_csv *c)
{
    if (c->nf == c->fcap && grow_fields(c))
        return SL_ENOMEM;
    c->f[c->nf++] = (struct sl_csv_field){NULL, c->len - c->fstart, c->fquoted};
    return 0;
}

static void begin_row(struct sl_csv *c)
{
    c->row_line = c->line;
    c->raw = c->len = c->nf = 0;
}

/* Hands the row in buf to the callback. */
static int emit(struct sl_csv *c)
{
    size_t pos = 0;
    for (size_t i = 0; i < c->nf; i++) {
        c->f[i].s = c->buf + pos;
        pos += c->f[i].n;
    }
    return c->fn(c->arg, c->f, c->nf, c->row_line);
}

/* Counts the line breaks in k bytes of a quoted field (a CRLF once, even
 * when a chunk splits it). */
static void lines_in_quotes(struct sl_csv *c, const char *p, size_t k)
{
    if (!memchr(p, '\n', k) && !memchr(p, '\r', k)) {
        c->qcr = false;
        return;
    }
    for (size_t i = 0; i < k; i++) {
        if (p[i] == '\n') {
            c->line += !c->qcr;
            c->qcr = false;
        } else {
            c->qcr = p[i] == '\r';
            c->line += c->qcr;
        }
    }
}

/* The row at p if the chunk holds it whole and it has no quote: handed to
 * the callback in place; returns the bytes it took, its line break
 * included. 0: the slow path is to read it. */
static size_t fast_row(struct sl_csv *c, const char *p, const char *end)
{
    const unsigned char *s = (const unsigned char *)p, *q = s, *fs = s;
    const unsigned char *e = (const unsigned char *)end;
    size_t avail = (size_t)(end - p);
    const unsigned char *lim = avail > c->max ? s + c->max + 1 : e;
    const unsigned char *cls = c->cls;
    size_t nf = 0;
    for (;;) {
        while (lim - q >= 4 && !(cls[q[0]] | cls[q[1]] | cls[q[2]] | cls[q[3]]))
            q += 4;
        while (q < lim && !cls[*q])
            q++;
        if (q == lim || cls[*q] == C_QUOTE)
            return 0;
        if (nf == c->fcap && grow_fields(c))
            return 0; /* (the slow path says SL_ENOMEM) */
        c->f[nf++] = (struct sl_csv_field){(const char *)fs, (size_t)(q - fs), false};
        if (cls[*q] == C_DELIM) {
            fs = ++q;
            continue;
        }
        break;
    }
    size_t used = (size_t)(q - s) + 1;
    if (*q == '\r') {
        if (q + 1 == e)
            c->skip_lf = true;
        else if (q[1] == '\n')
            used++;
    }
    int64_t line = c->line++;
    c->rc = c->fn(c->arg, c->f, nf, line);
    return used;
}

/* The bytes taken for a byte order mark that turned out not to be one
 * begin the first field. */
static int bom_undo(struct sl_csv *c)
{
    int k = c->bom;
    c->bom = 3;
    if (!k)
        return 0;
    begin_row(c);
    c->fstart = 0;
    c->fquoted = false;
    c->st = UNQUOTED;
    return append(c, "\xEF\xBB\xBF", (size_t)k);
}

int sl_csv_feed(struct sl_csv *c, const void *data, size_t n, struct sl_err *err)
{
    if (c->rc || !n)
        return c->rc;
    c->err = err;
    const char *p = data, *end = p + n;
    int rc = 0;
    while (c->bom < 3 && p < end) {
        static const char bom[3] = "\xEF\xBB\xBF";
        if (*p != bom[c->bom]) {
            rc = bom_undo(c);
            break;
        }
        c->bom++;
        p++;
    }
    while (p < end && !rc) {
        switch (c->st) {
        case ROW_START: {
            if (c->skip_lf) {
                c->skip_lf = false;
                if (*p == '\n') {
                    p++;
                    break;
                }
            }
            if (*p == '\n' || *p == '\r') { /* (an empty line) */
                c->line++;
                c->skip_lf = *p++ == '\r';
                break;
            }
            size_t used = fast_row(c, p, end);
            if (used) {
                p += used;
                rc = c->rc;
                break;
            }
            begin_row(c);
            c->st = FIELD_START;
        }
            /* fall through */
        case FIELD_START:
            c->fstart = c->len;
            c->fquoted = *p == '"';
            if (c->fquoted) {
                rc = account(c, 1);
                c->quote_line = c->line;
                c->qcr = false;
                c->st = QUOTED;
                p++;
                break;
            }
            c->st = UNQUOTED;
            /* fall through */
        case UNQUOTED: {
            const char *q = p;
            while (q < end && !(c->cls[(unsigned char)*q] & (C_DELIM | C_BREAK)))
                q++;
            rc = append(c, p, (size_t)(q - p));
            p = q;
            if (rc || q == end)
                break;
            if ((rc = end_field(c)))
                break;
            if (c->cls[(unsigned char)*p] & C_DELIM) {
                rc = account(c, 1);
                c->st = FIELD_START;
                p++;
                break;
            }
            c->skip_lf = *p++ == '\r';
            c->line++;
            c->st = ROW_START;
            rc = emit(c);
            break;
        }
        case QUOTED: {
            const char *q = memchr(p, '"', (size_t)(end - p));
            size_t k = q ? (size_t)(q - p) : (size_t)(end - p);
            lines_in_quotes(c, p, k);
            rc = append(c, p, k);
            p += k;
            if (rc || !q)
                break;
            rc = account(c, 1);
            c->st = QUOTE_IN_QUOTED;
            p++;
            break;
        }
        case QUOTE_IN_QUOTED:
            if (*p == '"') { /* "" */
                rc = append(c, p++, 1);
                c->qcr = false;
                c->st = QUOTED;
                break;
            }
            c->st = UNQUOTED;
            break;
        }
    }
    c->rc = rc;
    return rc;
}

int sl_csv_finish(struct sl_csv *c, struct sl_err *err)
{
    if (c->rc)
        return c->rc;
    c->err = err;
    int rc = c->bom < 3 ? bom_undo(c) : 0;
    if (!rc) {
        switch (c->st) {
        case ROW_START:
            break;
        case QUOTED:
            rc = sl_errf(err, SL_EINVAL, "line %lld: the quoted field opened there is not closed",
                         (long long)c->quote_line);
            break;
        case FIELD_START: /* (after a delimiter: an empty last field) */
            c->fstart = c->len;
            c->fquoted = false;
            /* fall through */
        case UNQUOTED:
        case QUOTE_IN_QUOTED:
            c->st = ROW_START;
            rc = end_field(c);
            if (!rc)
                rc = emit(c);
            break;
        }
    }
    c->rc = rc;
    return rc;
}

/* ---- sniffing ----------------------------------------------------------------------- */

#define SNIFF_ROWS 1000 /* rows of the sample looked at */

/* Runs the sample's rows through fn (which counts them in *rows); a
 * callback's stop is no failure. */
static int sniff_parse(const char *p, size_t n, char delim, sl_csv_row_fn fn, void *arg,
                       const size_t *rows)
{
    struct sl_csv *c;
    int rc = sl_csv_new(delim, n ? n : 1, fn, arg, &c);
    if (rc)
        return rc;
    rc = sl_csv_feed(c, p, n, NULL);
    if (!rc && *rows < 2)
        rc = sl_csv_finish(c, NULL);
    sl_csv_free(c);
    return rc == SL_ENOMEM ? rc : 0;
}

struct shape {
    size_t counts[SNIFF_ROWS];
    size_t rows;
};

static int count_fields(void *arg, const struct sl_csv_field *f, size_t nf, int64_t line)
{
    (void)f, (void)line;
    struct shape *s = arg;
    s->counts[s->rows++] = nf;
    return s->rows == SNIFF_ROWS;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* The most frequent count of fields (the larger of equals) and how many
 * rows have it. */
static size_t mode(struct shape *s, size_t *freq)
{
    qsort(s->counts, s->rows, sizeof(s->counts[0]), cmp_size);
    size_t best = 0, bestn = 0;
    for (size_t i = 0, j; i < s->rows; i = j) {
        for (j = i; j < s->rows && s->counts[j] == s->counts[i]; j++)
            ;
        if (j - i >= bestn) {
            best = s->counts[i];
            bestn = j - i;
        }
    }
    *freq = bestn;
    return best;
}

struct head {
    size_t rows, ncols;
    bool strings; /* every field of the first row is a non-empty string */
    struct sl_infer_col *cols;
};

static int see_row(void *arg, const struct sl_csv_field *f, size_t nf, int64_t line)
{
    (void)line;
    struct head *h = arg;
    if (h->rows++ == 0) {
        h->strings = true;
        for (size_t i = 0; i < nf && h->strings; i++)
            h->strings = sl_infer_kind_of(f[i].s, f[i].n) == SL_INFER_STRING;
        if (!h->strings)
            return 1; /* (no header: nothing more to learn) */
        h->cols = calloc(nf, sizeof(*h->cols));
        if (!h->cols)
            return SL_ENOMEM;
        h->ncols = nf;
        return 0;
    }
    for (size_t i = 0; i < nf && i < h->ncols; i++)
        sl_infer_text(&h->cols[i], f[i].s, f[i].n);
    return h->rows == SNIFF_ROWS;
}

int sl_csv_sniff(const char *p, size_t n, char *delim, bool *header)
{
    static const char cands[] = {',', '\t', ';', '|'};
    *delim = ',';
    *header = false;
    struct shape *s = malloc(sizeof(*s));
    if (!s)
        return SL_ENOMEM;
    size_t best_count = 0, best_freq = 0, best_rows = 1;
    for (size_t i = 0; i < SL_ARRAY_LEN(cands); i++) {
        s->rows = 0;
        if (sniff_parse(p, n, cands[i], count_fields, s, &s->rows)) {
            free(s);
            return SL_ENOMEM;
        }
        size_t freq, count = mode(s, &freq);
        if (count < 2)
            continue;
        /* (More of the rows agreeing wins; then more fields; then the
         * order of the candidates.) */
        size_t a = freq * best_rows, b = best_freq * s->rows; /* (both below 10^6) */
        if (a > b || (a == b && count > best_count)) {
            *delim = cands[i];
            best_count = count;
            best_freq = freq;
            best_rows = s->rows;
        }
    }
    free(s);
    struct head h = {0};
    if (sniff_parse(p, n, *delim, see_row, &h, &h.rows)) {
        free(h.cols);
        return SL_ENOMEM;
    }
    if (h.strings && h.rows >= 2)
        for (size_t i = 0; i < h.ncols && !*header; i++) {
            struct sl_pq_column col;
            sl_infer_result(&h.cols[i], &col);
            *header = col.type != SL_PQ_STRING;
        }
    free(h.cols);
    return 0;
}
