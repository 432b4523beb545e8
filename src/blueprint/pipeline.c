/*
 * One object through the blueprint's steps, streamed: the HTTP body feeds
 * the input's reader (CSV parser, JSON Lines splitter; a JSON array or a
 * Parquet file is gathered whole first), each row is validated, converted
 * to the columns' values and routed to its partition's output (a Parquet
 * writer, or rows in the input's own format when only validating, or JSON
 * Lines out of Parquet), and rejected rows with their reason go to JSON
 * Lines of their own. Outputs are files in the temporary directory until
 * the object is done; then each is uploaded whole.
 *
 * Without columns to convert to, the first rows (up to PRELUDE_BYTES of
 * the input) are held back and their types inferred (formats/infer.h);
 * a later row that does not fit them, or has a member they lack, is
 * rejected with the reason.
 */
#include "blueprint/blueprint.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "formats/csv.h"
#include "formats/infer.h"
#include "formats/validate.h"

#define PRELUDE_BYTES (4u * 1024 * 1024)
#define MAX_PARTITIONS 512 /* (each an open file while the object is read) */
#define MEMORY_CHECK_ROWS 4096 /* rows between checks of all writers' memory */
#define WBUF (256 * 1024)

enum out_kind { OUT_PARQUET, OUT_JSONL, OUT_CSV };

/* A file being written, flushed in WBUF pieces. */
struct tmpfile_ {
    int fd;
    char path[300];
    struct sl_buf buf;
    uint64_t bytes;
};

/* One partition's output. */
struct out {
    char part[1024]; /* "k=v/.../" or "" */
    json_t *values;
    struct tmpfile_ f;
    struct sl_pq_writer *w;
    uint64_t rows;
    struct out *next;
};

struct pipe {
    const struct bp_config *cfg;
    struct bp_aws *aws;
    const char *bucket, *key;
    struct bp_result *r;
    struct sl_err *err;
    int rc;
    enum bp_format fmt;
    enum out_kind kind;
    char delim;
    bool sniff_array; /* JSON Lines by the key's extension, unless it opens with '[' */
    /* The columns in effect (the configuration's, or inferred) and, of
     * them, those the files hold (not partition columns). */
    struct sl_pq_column *cols;
    size_t ncols;
    bool cols_owned, ready;
    bool no_columns; /* inferred from nothing: rows have nothing to convert to */
    bool inferred;   /* the columns are inferred (not given) */
    size_t *part_col; /* partition i: its column */
    size_t *file_col; /* file column i: its column */
    size_t nfile;
    struct sl_pq_column *file_schema;
    struct sl_buf prelude;
    /* CSV */
    struct sl_csv *csv;
    bool header_done;
    char **header;
    size_t nheader;
    ssize_t *col_field;  /* column -> field (-1: none) */
    ssize_t *rule_field; /* rule property -> field */
    size_t rule_extra;
    /* JSON Lines */
    struct sl_buf line;
    int64_t line_no;
    struct sl_buf whole; /* JSON array or Parquet */
    /* Per row */
    struct sl_pq_value *vals; /* ncols */
    struct sl_pq_value *frow; /* nfile */
    struct sl_cell *cells;
    struct sl_arena arena;
    struct sl_err verr; /* a value's error (written only on failure) */
    char why[600];
    /* Outputs */
    struct out *outs, *last;
    size_t nouts, since_check;
    struct tmpfile_ rej;
    bool rej_open;
};

/* A CSV header's name: trimmed of spaces and tabs (a new string). */
static char *header_name(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

/* A JSON row's member called name, matched without regard to case when
 * no member has it exactly (a catalog's names are lower case). */
static json_t *member(const json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    if (v)
        return v;
    const char *k;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (!strcasecmp(k, name))
            return v;
    }
    return NULL;
}

/* ---- temporary files ------------------------------------------------------------------- */

static int tf_open(struct pipe *p, struct tmpfile_ *f, const char *what)
{
    snprintf(f->path, sizeof(f->path), "%s/sluice-%s-XXXXXX", p->cfg->tmpdir, what);
    f->fd = mkstemp(f->path);
    if (f->fd < 0)
        return sl_errf(p->err, SL_EIO, "cannot make a file in %s: %s", p->cfg->tmpdir,
                       strerror(errno));
    unlink(f->path); /* (gone with the descriptor, whatever happens) */
    sl_buf_init(&f->buf, 0);
    f->bytes = 0;
    return 0;
}

static int tf_flush(struct tmpfile_ *f)
{
    size_t at = 0;
    while (at < f->buf.len) {
        ssize_t n = write(f->fd, f->buf.data + at, f->buf.len - at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return SL_EIO;
        at += (size_t)n;
    }
    f->buf.len = 0;
    return 0;
}

static int tf_write(void *arg, const void *data, size_t n)
{
    struct tmpfile_ *f = arg;
    f->bytes += n;
    if (f->buf.len + n > WBUF && tf_flush(f))
        return SL_EIO;
    if (n >= WBUF) {
        const char *p = data;
        while (n) {
            ssize_t w = write(f->fd, p, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return SL_EIO;
            p += w;
            n -= (size_t)w;
        }
        return 0;
    }
    return sl_buf_append(&f->buf, data, n);
}

static void tf_close(struct tmpfile_ *f)
{
    if (f->fd > 0)
        close(f->fd);
    f->fd = -1;
    sl_buf_free(&f->buf);
}

/* ---- outputs ----------------------------------------------------------------------------- */

/* Hive's escaping of a partition value in a path: 0, or the buffer's
 * error (past its cap). */
static int hive_escape(struct sl_buf *b, const char *s, size_t n)
{
    if (!n)
        return sl_buf_puts(b, "__HIVE_DEFAULT_PARTITION__");
    static const char special[] = "\"#%'*/:=?\\{[]^";
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f || strchr(special, ch))
            rc = sl_buf_printf(b, "%%%02X", ch);
        else
            rc = sl_buf_putc(b, (char)ch);
    }
    return rc;
}

static struct out *out_for(struct pipe *p, const char *part, size_t plen, json_t *values)
{
    if (p->last && strlen(p->last->part) == plen && !memcmp(p->last->part, part, plen))
        return p->last;
    for (struct out *o = p->outs; o; o = o->next)
        if (strlen(o->part) == plen && !memcmp(o->part, part, plen))
            return p->last = o;
    if (p->nouts == MAX_PARTITIONS) {
        p->rc = sl_errf(p->err, SL_ETOOBIG, "more than %d partitions in one object",
                        MAX_PARTITIONS);
        return NULL;
    }
    struct out *o = calloc(1, sizeof(*o));
    if (!o || plen >= sizeof(o->part)) {
        free(o);
        p->rc = sl_errf(p->err, o ? SL_ETOOBIG : SL_ENOMEM, "a partition's path is too long");
        return NULL;
    }
    memcpy(o->part, part, plen);
    o->values = json_incref(values);
    o->f.fd = -1;
    if ((p->rc = tf_open(p, &o->f, "out"))) {
        json_decref(o->values);
        free(o);
        return NULL;
    }
    if (p->kind == OUT_PARQUET) {
        /* (One writer's row groups end at the budget; several share it,
         * emit_parquet sees to that.) */
        size_t budget = p->cfg->memory_budget;
        struct sl_pq_options opt = {.codec = p->cfg->codec,
                                    .dictionary = true,
                                    .row_group_bytes = budget < (1u << 20) ? 1u << 20 : budget};
        p->rc = sl_pq_writer_new(p->file_schema, p->nfile, &opt, tf_write, &o->f, &o->w, p->err);
    } else if (p->kind == OUT_CSV && p->nheader) {
        /* The header, again. */
        struct sl_buf h;
        sl_buf_init(&h, 0);
        for (size_t i = 0; i < p->nheader; i++) {
            if (i)
                sl_buf_putc(&h, p->delim);
            sl_buf_puts(&h, p->header[i]);
        }
        sl_buf_putc(&h, '\n');
        p->rc = tf_write(&o->f, h.data, h.len);
        sl_buf_free(&h);
    }
    if (p->rc) {
        tf_close(&o->f);
        json_decref(o->values);
        free(o);
        return NULL;
    }
    o->next = p->outs;
    p->outs = p->last = o;
    p->nouts++;
    return o;
}

static void outs_free(struct pipe *p)
{
    while (p->outs) {
        struct out *o = p->outs;
        p->outs = o->next;
        sl_pq_writer_free(o->w);
        tf_close(&o->f);
        json_decref(o->values);
        free(o);
    }
}

/* ---- rejected rows ---------------------------------------------------------------------- */

/* A rejected row: {"line", "reason", "record"} (record taken). */
static int reject(struct pipe *p, int64_t line, const char *reason, json_t *record)
{
    p->r->rejected++;
    if (!p->rej_open) {
        if ((p->rc = tf_open(p, &p->rej, "rejected"))) {
            json_decref(record);
            return p->rc;
        }
        p->rej_open = true;
    }
    json_t *j = json_pack("{s:I, s:s, s:o}", "line", (json_int_t)line, "reason", reason,
                          "record", record ? record : json_null());
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(j);
    int rc = text ? tf_write(&p->rej, text, strlen(text)) : SL_ENOMEM;
    if (!rc)
        rc = tf_write(&p->rej, "\n", 1);
    free(text);
    return p->rc = rc;
}

/* A CSV row as the rejected file shows it: by the header's names, else
 * a list. */
static json_t *csv_record(const struct pipe *p, const struct sl_csv_field *f, size_t nf)
{
    json_t *o = p->nheader ? json_object() : json_array();
    for (size_t i = 0; i < nf; i++) {
        json_t *v = json_stringn(f[i].s, f[i].n);
        if (!v) { /* (not UTF-8: its bytes, as a latin-1 reading would) */
            struct sl_buf b;
            sl_buf_init(&b, 0);
            for (size_t k = 0; k < f[i].n; k++) {
                unsigned char ch = (unsigned char)f[i].s[k];
                if (ch < 0x80) {
                    sl_buf_putc(&b, (char)ch);
                } else {
                    sl_buf_putc(&b, (char)(0xc0 | (ch >> 6)));
                    sl_buf_putc(&b, (char)(0x80 | (ch & 0x3f)));
                }
            }
            v = json_stringn(b.data ? b.data : "", b.len);
            sl_buf_free(&b);
        }
        if (p->nheader && i < p->nheader)
            json_object_set_new(o, p->header[i], v);
        else if (p->nheader) {
            char name[32];
            snprintf(name, sizeof(name), "_%zu", i);
            json_object_set_new(o, name, v);
        } else {
            json_array_append_new(o, v);
        }
    }
    return o;
}

/* ---- the columns ---------------------------------------------------------------------- */

/* Settles the columns: where partitions and the file's columns are, the
 * buffers of a row. */
static int columns_ready(struct pipe *p)
{
    const struct bp_config *cfg = p->cfg;
    p->part_col = calloc(cfg->npartition + 1, sizeof(*p->part_col));
    p->file_col = calloc(p->ncols + 1, sizeof(*p->file_col));
    p->file_schema = calloc(p->ncols + 1, sizeof(*p->file_schema));
    p->vals = calloc(p->ncols + 1, sizeof(*p->vals));
    p->frow = calloc(p->ncols + 1, sizeof(*p->frow));
    p->col_field = calloc(p->ncols + 1, sizeof(*p->col_field));
    if (!p->part_col || !p->file_col || !p->file_schema || !p->vals || !p->frow || !p->col_field)
        return p->rc = SL_ENOMEM;
    for (size_t i = 0; i < cfg->npartition; i++) {
        size_t c = 0;
        while (c < p->ncols && strcasecmp(p->cols[c].name, cfg->partition_by[i]) != 0)
            c++;
        if (c == p->ncols)
            return p->rc = sl_errf(p->err, SL_EINVAL,
                                   "PARTITION_BY names %s, which is not a column", 
                                   cfg->partition_by[i]);
        p->part_col[i] = c;
    }
    p->nfile = 0;
    for (size_t c = 0; c < p->ncols; c++) {
        bool part = false;
        for (size_t i = 0; i < cfg->npartition; i++)
            part |= p->part_col[i] == c;
        p->col_field[c] = (ssize_t)c; /* (positional until a header says otherwise) */
        if (!part) {
            p->file_schema[p->nfile] = p->cols[c];
            p->file_col[p->nfile++] = c;
        }
    }
    if (p->kind == OUT_PARQUET && !p->nfile)
        return p->rc = sl_errf(p->err, SL_EINVAL, "every column is a partition column");
    p->ready = true;
    return 0;
}

/* ---- a row -------------------------------------------------------------------------------- */

/* The partition path of a row (its partition columns' text or JSON). */
static int partition_of(struct pipe *p, const struct sl_csv_field *f, size_t nf,
                        const json_t *obj, struct sl_buf *path, json_t *values)
{
    for (size_t i = 0; i < p->cfg->npartition; i++) {
        size_t c = p->part_col[i];
        const char *s = "";
        size_t n = 0;
        char num[64];
        if (f) {
            ssize_t fi = p->col_field[c];
            if (fi >= 0 && (size_t)fi < nf) {
                s = f[fi].s;
                n = f[fi].n;
            }
        } else {
            const json_t *v = member(obj, p->cols[c].name);
            if (json_is_string(v)) {
                s = json_string_value(v);
                n = json_string_length(v);
            } else if (json_is_integer(v)) {
                n = (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                                     json_integer_value(v));
                s = num;
            } else if (json_is_real(v)) {
                n = (size_t)snprintf(num, sizeof(num), "%.17g", json_real_value(v));
                s = num;
            } else if (json_is_boolean(v)) {
                s = json_is_true(v) ? "true" : "false";
                n = strlen(s);
            }
        }
        if (sl_buf_printf(path, "%s=", p->cfg->partition_by[i]) || hive_escape(path, s, n) ||
            sl_buf_putc(path, '/')) {
            snprintf(p->why, sizeof(p->why), "the partition's path is longer than %zu bytes",
                     sizeof(((struct out *)0)->part) - 1);
            return SL_EINVAL;
        }
        json_array_append_new(values, n ? json_stringn(s, n) : json_string("__HIVE_DEFAULT_PARTITION__"));
        if (!json_is_string(json_array_get(values, i)))
            return SL_EINVAL;
    }
    return 0;
}

/* Writes a converted row's file columns to its partition's writer. */
static int emit_parquet(struct pipe *p, const struct sl_csv_field *f, size_t nf, const json_t *obj)
{
    struct sl_buf path;
    sl_buf_init(&path, sizeof(((struct out *)0)->part) - 1);
    json_t *values = p->cfg->npartition ? json_array() : NULL;
    struct out *o = NULL;
    if (p->cfg->npartition) {
        if (partition_of(p, f, nf, obj, &path, values)) {
            json_decref(values);
            sl_buf_free(&path);
            return 1; /* (a value that is not UTF-8: rejected by the caller) */
        }
        o = out_for(p, path.data ? path.data : "", path.len, values);
    } else {
        o = out_for(p, "", 0, NULL);
    }
    json_decref(values);
    sl_buf_free(&path);
    if (!o)
        return p->rc;
    for (size_t i = 0; i < p->nfile; i++)
        p->frow[i] = p->vals[p->file_col[i]];
    int rc = sl_pq_write_row(o->w, p->frow, &p->verr);
    if (rc == SL_EINVAL) {
        snprintf(p->why, sizeof(p->why), "%s", p->verr.msg);
        return 1;
    }
    if (rc)
        return p->rc = sl_errf(p->err, rc, "writing Parquet: %.400s", p->verr.msg);
    o->rows++;
    /* Partitions share the memory: past it, the largest row group is
     * written out. */
    if (p->nouts > 1 && ++p->since_check >= MEMORY_CHECK_ROWS) {
        p->since_check = 0;
        for (;;) {
            size_t total = 0, most = 0;
            struct out *big = NULL;
            for (struct out *x = p->outs; x; x = x->next) {
                size_t b = sl_pq_writer_buffered(x->w);
                total += b;
                if (b > most) {
                    most = b;
                    big = x;
                }
            }
            if (total <= p->cfg->memory_budget || !big)
                break;
            if ((rc = sl_pq_writer_flush(big->w, p->err)))
                return p->rc = rc;
        }
    }
    return 0;
}

static int emit_text(struct pipe *p, const char *text, size_t n)
{
    struct out *o = out_for(p, "", 0, NULL);
    if (!o)
        return p->rc;
    int rc = tf_write(&o->f, text, n);
    if (!rc)
        rc = tf_write(&o->f, "\n", 1);
    o->rows++;
    return p->rc = rc;
}

/* A CSV row re-written (validate only). */
static int emit_csv(struct pipe *p, const struct sl_csv_field *f, size_t nf)
{
    struct sl_buf b;
    sl_buf_init(&b, 0);
    char d = p->delim;
    for (size_t i = 0; i < nf; i++) {
        if (i)
            sl_buf_putc(&b, d);
        bool quote = f[i].quoted || memchr(f[i].s, d, f[i].n) || memchr(f[i].s, '"', f[i].n) ||
                     memchr(f[i].s, '\n', f[i].n) || memchr(f[i].s, '\r', f[i].n);
        if (!quote) {
            sl_buf_append(&b, f[i].s, f[i].n);
            continue;
        }
        sl_buf_putc(&b, '"');
        for (size_t k = 0; k < f[i].n; k++) {
            if (f[i].s[k] == '"')
                sl_buf_putc(&b, '"');
            sl_buf_putc(&b, f[i].s[k]);
        }
        sl_buf_putc(&b, '"');
    }
    int rc = emit_text(p, b.data ? b.data : "", b.len);
    sl_buf_free(&b);
    return rc;
}

/* Names, after the reason, the members or columns that are not
 * properties. */
static void name_extra(struct pipe *p, const json_t *obj, const struct sl_csv_field *f, size_t nf)
{
    size_t at = strlen(p->why);
    const char *sep = ": ";
    if (obj) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)obj, k, v)
        {
            if (sl_rules_index(p->cfg->rules, k, strlen(k)) >= 0 || at >= sizeof(p->why))
                continue;
            at += (size_t)snprintf(p->why + at, sizeof(p->why) - at, "%s%.64s", sep, k);
            sep = ", ";
        }
        return;
    }
    for (size_t i = 0; i < nf && i < p->nheader; i++) {
        const char *k = p->header[i];
        if (sl_rules_index(p->cfg->rules, k, strlen(k)) >= 0 || at >= sizeof(p->why))
            continue;
        at += (size_t)snprintf(p->why + at, sizeof(p->why) - at, "%s%.64s", sep, k);
        sep = ", ";
    }
    (void)f;
}

/* One CSV data row. */
static int csv_data(struct pipe *p, const struct sl_csv_field *f, size_t nf, int64_t line)
{
    p->r->rows++;
    p->why[0] = '\0';
    const struct bp_config *cfg = p->cfg;
    if (cfg->rules) {
        size_t nr = sl_rules_count(cfg->rules);
        for (size_t i = 0; i < nr; i++) {
            ssize_t fi = p->rule_field[i];
            bool present = fi >= 0 && (size_t)fi < nf;
            p->cells[i] = (struct sl_cell){.s = present ? f[fi].s : "",
                                           .n = present ? f[fi].n : 0,
                                           .present = present};
        }
        size_t extra = p->nheader ? p->rule_extra : (nf > nr ? nf - nr : 0);
        if (sl_rules_check(cfg->rules, p->cells, extra, p->why, sizeof(p->why))) {
            if (extra && strstr(p->why, "additionalProperties"))
                name_extra(p, NULL, f, nf);
            return reject(p, line, p->why, csv_record(p, f, nf));
        }
    }
    if (p->kind == OUT_CSV) {
        p->r->valid++;
        return cfg->out_bucket[0] ? emit_csv(p, f, nf) : 0;
    }
    if (!cfg->convert) {
        p->r->valid++;
        return 0;
    }
    if (p->no_columns)
        return reject(p, line, "no columns to convert to (none inferred)", csv_record(p, f, nf));
    if (p->arena.head) {
        sl_arena_free(&p->arena);
        sl_arena_init(&p->arena, 0);
    }
    for (size_t c = 0; c < p->ncols; c++) {
        ssize_t fi = p->col_field[c];
        const char *s = "";
        size_t n = 0;
        if (fi >= 0 && (size_t)fi < nf) {
            s = f[fi].s;
            n = f[fi].n;
        }
        /* (p->verr is not cleared for each value: a failure writes it.) */
        if (sl_pq_value_from_text(&p->cols[c], s, n, &p->arena, &p->vals[c], &p->verr))
            return reject(p, line, p->verr.msg, csv_record(p, f, nf));
    }
    int rc = emit_parquet(p, f, nf, NULL);
    if (rc == 1)
        return reject(p, line, p->why[0] ? p->why : "a partition value is not UTF-8",
                      csv_record(p, f, nf));
    if (!rc)
        p->r->valid++;
    return rc;
}

static int csv_header(struct pipe *p, const struct sl_csv_field *f, size_t nf)
{
    p->header = calloc(nf, sizeof(*p->header));
    if (!p->header)
        return p->rc = SL_ENOMEM;
    p->nheader = nf;
    /* (Names are trimmed and compared without regard to case.) */
    for (size_t i = 0; i < nf; i++)
        if (!(p->header[i] = header_name(f[i].s, f[i].n)))
            return p->rc = SL_ENOMEM;
    if (p->ready)
        for (size_t c = 0; c < p->ncols; c++) {
            p->col_field[c] = -1;
            for (size_t i = 0; i < nf; i++)
                if (!strcasecmp(p->header[i], p->cols[c].name)) {
                    p->col_field[c] = (ssize_t)i;
                    break;
                }
        }
    if (p->cfg->rules) {
        size_t nr = sl_rules_count(p->cfg->rules);
        for (size_t i = 0; i < nr; i++)
            p->rule_field[i] = -1;
        p->rule_extra = 0;
        for (size_t i = 0; i < nf; i++) {
            ssize_t r = sl_rules_index(p->cfg->rules, p->header[i], strlen(p->header[i]));
            if (r < 0)
                p->rule_extra++;
            else if (p->rule_field[r] < 0)
                p->rule_field[r] = (ssize_t)i;
        }
    }
    return 0;
}

static int csv_row(void *arg, const struct sl_csv_field *f, size_t nf, int64_t line)
{
    struct pipe *p = arg;
    if (!p->header_done) {
        p->header_done = true;
        if (p->cfg->header)
            return csv_header(p, f, nf);
    }
    int rc = csv_data(p, f, nf, line);
    return rc ? rc : p->rc;
}

/* One JSON row (an object; line is its line, or its index in an array). */
static int json_data(struct pipe *p, json_t *obj, const char *text, size_t tlen, int64_t line)
{
    p->r->rows++;
    p->why[0] = '\0';
    const struct bp_config *cfg = p->cfg;
    if (!json_is_object(obj))
        return reject(p, line, "the row is not a JSON object", json_incref(obj));
    if (cfg->rules) {
        size_t extra = 0;
        sl_rules_json_cells(cfg->rules, obj, p->cells, &extra);
        if (sl_rules_check(cfg->rules, p->cells, extra, p->why, sizeof(p->why))) {
            if (extra && strstr(p->why, "additionalProperties"))
                name_extra(p, obj, NULL, 0);
            return reject(p, line, p->why, json_incref(obj));
        }
    }
    if (p->kind == OUT_JSONL) {
        p->r->valid++;
        if (!cfg->out_bucket[0])
            return 0;
        if (text)
            return emit_text(p, text, tlen);
        char *dump = json_dumps(obj, JSON_COMPACT);
        int rc = dump ? emit_text(p, dump, strlen(dump)) : SL_ENOMEM;
        free(dump);
        return rc;
    }
    if (!cfg->convert) {
        p->r->valid++;
        return 0;
    }
    if (p->no_columns)
        return reject(p, line, "no columns to convert to (none inferred)", json_incref(obj));
    sl_arena_free(&p->arena);
    sl_arena_init(&p->arena, 0);
    size_t found = 0;
    for (size_t c = 0; c < p->ncols; c++) {
        json_t *v = member(obj, p->cols[c].name);
        found += v != NULL;
        if ((json_is_object(v) || json_is_array(v)) && p->cols[c].type == SL_PQ_STRING) {
            /* (Nested values go in a string column as their JSON text.) */
            char *dump = json_dumps(v, JSON_COMPACT);
            char *copy = dump ? sl_arena_strdup(&p->arena, dump) : NULL;
            free(dump);
            if (!copy)
                return p->rc = SL_ENOMEM;
            p->vals[c] = (struct sl_pq_value){.s = copy, .n = strlen(copy)};
            continue;
        }
        if (sl_pq_value_from_json(&p->cols[c], v, &p->arena, &p->vals[c], &p->verr))
            return reject(p, line, p->verr.msg, json_incref(obj));
    }
    /* Members the inferred columns lack would be lost: the row is
     * rejected instead (a given schema leaves them out on purpose). */
    if (p->inferred && found < json_object_size(obj)) {
        snprintf(p->why, sizeof(p->why), "two members name one column");
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v)
        {
            size_t c = 0;
            while (c < p->ncols && strcasecmp(p->cols[c].name, k) != 0)
                c++;
            if (c == p->ncols) {
                snprintf(p->why, sizeof(p->why),
                         "%.200s: not among the columns inferred from the first rows", k);
                break;
            }
        }
        return reject(p, line, p->why, json_incref(obj));
    }
    int rc = emit_parquet(p, NULL, 0, obj);
    if (rc == 1)
        return reject(p, line, p->why[0] ? p->why : "a partition value is not usable",
                      json_incref(obj));
    if (!rc)
        p->r->valid++;
    return rc;
}

static int jsonl_line(struct pipe *p, const char *s, size_t n)
{
    p->line_no++;
    while (n && (s[n - 1] == '\r' || isspace((unsigned char)s[n - 1])))
        n--;
    size_t lead = 0;
    while (lead < n && isspace((unsigned char)s[lead]))
        lead++;
    if (lead == n)
        return 0;
    json_error_t jerr;
    json_t *obj = json_loadb(s + lead, n - lead, 0, &jerr);
    int rc;
    if (!obj) {
        char why[300];
        snprintf(why, sizeof(why), "not JSON: %.200s", jerr.text);
        p->r->rows++;
        json_t *raw = json_stringn(s + lead, n - lead);
        return reject(p, p->line_no, why, raw ? raw : json_string("(not UTF-8)"));
    }
    rc = json_data(p, obj, s + lead, n - lead, p->line_no);
    json_decref(obj);
    return rc ? rc : p->rc;
}

/* ---- inference ------------------------------------------------------------------------- */

struct infer_csv {
    struct pipe *p;
    size_t n;
    char **names;
    struct sl_infer_col *inf;
    bool header, first;
};

static int infer_row(void *arg, const struct sl_csv_field *f, size_t nf, int64_t line)
{
    (void)line;
    struct infer_csv *ic = arg;
    if (ic->first) {
        ic->first = false;
        ic->n = nf;
        ic->names = calloc(nf, sizeof(*ic->names));
        ic->inf = calloc(nf, sizeof(*ic->inf));
        if (!ic->names || !ic->inf)
            return SL_ENOMEM;
        for (size_t i = 0; i < nf; i++) {
            char gen[32];
            snprintf(gen, sizeof(gen), "col%zu", i);
            ic->names[i] = ic->header ? header_name(f[i].s, f[i].n) : strdup(gen);
            if (!ic->names[i])
                return SL_ENOMEM;
        }
        if (ic->header)
            return 0;
    }
    for (size_t i = 0; i < nf && i < ic->n; i++)
        sl_infer_text(&ic->inf[i], f[i].s, f[i].n);
    for (size_t i = nf; i < ic->n; i++)
        sl_infer_text(&ic->inf[i], "", 0);
    return 0;
}

/* The columns, from the prelude's rows. */
static int infer_columns(struct pipe *p, const char *text, size_t n, bool whole)
{
    struct infer_csv ic = {.p = p, .header = p->cfg->header, .first = true};
    int rc = 0;
    if (p->fmt == BP_CSV) {
        struct sl_csv *csv = NULL;
        struct sl_err err = {0};
        rc = sl_csv_new(p->delim, 0, infer_row, &ic, &csv);
        if (!rc)
            rc = sl_csv_feed(csv, text, n, &err);
        if (!rc && whole)
            rc = sl_csv_finish(csv, &err);
        sl_csv_free(csv);
        rc = rc == SL_EINVAL ? 0 : rc; /* (the parse proper says what is wrong) */
    } else {
        /* JSON Lines: the members in the order they first appear. */
        json_t *seen = json_object();
        const char *s = text, *end = text + n;
        while (!rc && s < end) {
            const char *nl = memchr(s, '\n', (size_t)(end - s));
            if (!nl && !whole)
                break;
            size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
            json_t *o = json_loadb(s, len, 0, NULL);
            const char *k;
            json_t *v;
            json_object_foreach(o, k, v)
            {
                if (!json_object_get(seen, k)) {
                    json_object_set_new(seen, k, json_integer((json_int_t)ic.n));
                    struct sl_infer_col *inf = realloc(ic.inf, (ic.n + 1) * sizeof(*inf));
                    char **names = realloc(ic.names, (ic.n + 1) * sizeof(*names));
                    if (inf)
                        ic.inf = inf;
                    if (names)
                        ic.names = names;
                    if (!inf || !names || !(ic.names[ic.n] = strdup(k))) {
                        rc = SL_ENOMEM;
                        break;
                    }
                    sl_infer_init(&ic.inf[ic.n++]);
                }
                sl_infer_json(&ic.inf[json_integer_value(json_object_get(seen, k))], v);
            }
            json_decref(o);
            s = nl ? nl + 1 : end;
        }
        json_decref(seen);
    }
    if (!rc && !ic.n) {
        /* (An empty object: nothing to convert, and no failure.) */
        free(ic.names);
        free(ic.inf);
        p->ready = p->no_columns = true;
        return 0;
    }
    if (!rc) {
        p->cols = calloc(ic.n, sizeof(*p->cols));
        if (!p->cols)
            rc = SL_ENOMEM;
    }
    for (size_t i = 0; i < ic.n; i++) {
        if (!rc) {
            sl_infer_result(&ic.inf[i], &p->cols[i]);
            p->cols[i].optional = true;
            p->cols[i].name = ic.names[i];
            ic.names[i] = NULL;
        }
        free(ic.names[i]);
    }
    if (!rc) {
        p->ncols = ic.n;
        p->cols_owned = p->inferred = true;
    }
    free(ic.names);
    free(ic.inf);
    return rc ? (p->rc = rc) : columns_ready(p);
}

/* ---- feeding ---------------------------------------------------------------------------- */

static int feed_rows(struct pipe *p, const char *s, size_t n)
{
    if (p->fmt == BP_CSV)
        return sl_csv_feed(p->csv, s, n, p->err);
    /* JSON Lines */
    const char *end = s + n;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (!nl)
            return sl_buf_append(&p->line, s, (size_t)(end - s));
        int rc;
        if (p->line.len) {
            rc = sl_buf_append(&p->line, s, (size_t)(nl - s));
            if (!rc)
                rc = jsonl_line(p, p->line.data, p->line.len);
            p->line.len = 0;
        } else {
            rc = jsonl_line(p, s, (size_t)(nl - s));
        }
        if (rc)
            return rc;
        s = nl + 1;
    }
    return 0;
}

static int sink(void *arg, const void *data, size_t n)
{
    struct pipe *p = arg;
    p->r->bytes_in += n;
    if (p->sniff_array) {
        const char *s = data;
        size_t i = 0;
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
            i++;
        if (i < n) {
            p->sniff_array = false;
            if (s[i] == '[') {
                p->fmt = BP_JSON;
                if (p->kind == OUT_PARQUET && !p->cols)
                    p->ready = false; /* (inferred from the array, when it is whole) */
            }
        }
    }
    if (p->fmt == BP_JSON || p->fmt == BP_PARQUET) {
        if (p->whole.len + n > p->cfg->whole_max)
            return p->rc = sl_errf(p->err, SL_ETOOBIG,
                                   "a %s input is read whole, and this one is over %zu MiB (a "
                                   "quarter of the function's memory)",
                                   p->fmt == BP_JSON ? "JSON" : "Parquet", p->cfg->whole_max >> 20);
        return p->rc = sl_buf_append(&p->whole, data, n);
    }
    if (!p->ready) {
        int rc = sl_buf_append(&p->prelude, data, n);
        if (rc || p->prelude.len < PRELUDE_BYTES)
            return p->rc = rc;
        if ((rc = infer_columns(p, p->prelude.data, p->prelude.len, false)))
            return rc;
        rc = feed_rows(p, p->prelude.data, p->prelude.len);
        sl_buf_free(&p->prelude);
        return rc ? rc : p->rc;
    }
    int rc = feed_rows(p, data, n);
    return rc ? rc : p->rc;
}

static int parquet_group(void *arg, const struct sl_pq_group *g)
{
    struct pipe *p = arg;
    for (size_t r = 0; r < g->nrows; r++) {
        json_t *o = json_object();
        for (size_t c = 0; c < g->ncols; c++)
            json_object_set_new(o, g->columns[c].name,
                                sl_pq_value_to_json(&g->columns[c], &g->cols[c][r]));
        int rc = json_data(p, o, NULL, 0, (int64_t)p->r->rows + 1);
        json_decref(o);
        if (rc || p->rc)
            return rc ? rc : p->rc;
    }
    return 0;
}

/* The end of the input: what was held back goes through. */
static int finish_input(struct pipe *p)
{
    int rc = 0;
    if (p->fmt == BP_JSON) {
        json_error_t jerr;
        json_t *arr = json_loadb(p->whole.data ? p->whole.data : "", p->whole.len, 0, &jerr);
        if (!json_is_array(arr)) {
            json_decref(arr);
            return sl_errf(p->err, SL_EINVAL, "the object is not a JSON array%s%.200s",
                           arr ? "" : ": ", arr ? "" : jerr.text);
        }
        if (!p->ready && (p->cols || (p->cfg->convert && p->kind == OUT_PARQUET))) {
            /* (Inferred from the array's objects, as JSON Lines.) */
            struct sl_buf lines;
            sl_buf_init(&lines, 0);
            size_t i;
            json_t *v;
            json_array_foreach(arr, i, v)
            {
                if (i >= 10000 || lines.len > PRELUDE_BYTES)
                    break;
                char *d = json_dumps(v, JSON_COMPACT);
                if (d) {
                    sl_buf_puts(&lines, d);
                    sl_buf_putc(&lines, '\n');
                }
                free(d);
            }
            rc = p->cols ? columns_ready(p)
                         : infer_columns(p, lines.data ? lines.data : "", lines.len, true);
            sl_buf_free(&lines);
        }
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
        {
            if (rc || (rc = json_data(p, v, NULL, 0, (int64_t)i + 1)) || (rc = p->rc))
                break;
        }
        json_decref(arr);
        return rc;
    }
    if (p->fmt == BP_PARQUET) {
        struct sl_pq_file *f = NULL;
        rc = sl_pq_open(p->whole.data ? p->whole.data : "", p->whole.len, &f, p->err);
        if (!rc)
            rc = sl_pq_read(f, parquet_group, p, p->err);
        sl_pq_close(f);
        return rc ? rc : p->rc;
    }
    if (!p->ready) {
        if ((rc = infer_columns(p, p->prelude.data ? p->prelude.data : "", p->prelude.len, true)))
            return rc;
        rc = feed_rows(p, p->prelude.data ? p->prelude.data : "", p->prelude.len);
        sl_buf_free(&p->prelude);
        if (rc || p->rc)
            return rc ? rc : p->rc;
    }
    if (p->fmt == BP_CSV)
        return sl_csv_finish(p->csv, p->err);
    if (p->line.len) {
        rc = jsonl_line(p, p->line.data, p->line.len);
        p->line.len = 0;
    }
    return rc;
}

/* ---- the catalog ------------------------------------------------------------------------ */

static json_t *glue_columns(const struct sl_pq_column *cols, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        struct sl_pq_column c = cols[i];
        char type[64];
        if (c.type == SL_PQ_TIMESTAMP_US)
            c.type = SL_PQ_TIMESTAMP_MS; /* (Glue has one timestamp type) */
        json_array_append_new(list, json_pack("{s:s, s:s}", "Name", c.name, "Type",
                                              sl_pq_type_name(&c, type, sizeof(type))));
    }
    return list;
}

static json_t *parquet_storage(const char *location, json_t *columns)
{
    return json_pack(
        "{s:o, s:s, s:s, s:s, s:{s:s, s:{s:s}}}", "Columns", columns, "Location", location,
        "InputFormat", "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat", "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo", "SerializationLibrary",
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe", "Parameters",
        "serialization.format", "1");
}

/* The catalog learns the new partitions (the table, and its database,
 * made first when missing). */
static int register_partitions(struct pipe *p)
{
    const struct bp_config *cfg = p->cfg;
    char code[128], location[1200];
    json_t *out = NULL;
    struct sl_err *err = p->err;
    snprintf(location, sizeof(location), "s3://%s/%s", cfg->out_bucket, cfg->out_prefix);
    json_t *in = json_pack("{s:s, s:s}", "DatabaseName", cfg->db, "Name", cfg->table);
    int rc = bp_json_call(p->aws, "glue", "AWSGlue.GetTable", in, &out, code, sizeof(code), err);
    json_decref(in);
    json_decref(out);
    if (rc && !strcmp(code, "EntityNotFoundException")) {
        in = json_pack("{s:{s:s}}", "DatabaseInput", "Name", cfg->db);
        rc = bp_json_call(p->aws, "glue", "AWSGlue.CreateDatabase", in, &out, code, sizeof(code),
                          err);
        json_decref(in);
        json_decref(out);
        if (rc && strcmp(code, "AlreadyExistsException") != 0)
            return rc;
        json_t *keys = json_array();
        for (size_t i = 0; i < cfg->npartition; i++) {
            const struct sl_pq_column *c = &p->cols[p->part_col[i]];
            char type[64];
            json_array_append_new(keys, json_pack("{s:s, s:s}", "Name", c->name, "Type",
                                                  sl_pq_type_name(c, type, sizeof(type))));
        }
        in = json_pack("{s:s, s:{s:s, s:s, s:o, s:o, s:{s:s}}}", "DatabaseName", cfg->db,
                       "TableInput", "Name", cfg->table, "TableType", "EXTERNAL_TABLE",
                       "StorageDescriptor",
                       parquet_storage(location, glue_columns(p->file_schema, p->nfile)),
                       "PartitionKeys", keys, "Parameters", "classification", "parquet");
        rc = bp_json_call(p->aws, "glue", "AWSGlue.CreateTable", in, &out, code, sizeof(code),
                          err);
        json_decref(in);
        json_decref(out);
        if (rc && strcmp(code, "AlreadyExistsException") != 0)
            return rc;
        rc = 0;
    }
    if (rc || !cfg->npartition || !p->nouts)
        return rc;
    json_t *list = json_array();
    for (struct out *o = p->outs; o; o = o->next) {
        if (!o->rows)
            continue;
        char ploc[2300];
        snprintf(ploc, sizeof(ploc), "%s%s", location, o->part);
        json_array_append_new(list, json_pack("{s:O, s:o}", "Values", o->values,
                                              "StorageDescriptor",
                                              parquet_storage(ploc, glue_columns(p->file_schema,
                                                                                 p->nfile))));
    }
    /* (At most 100 a call, as Glue takes them.) */
    for (size_t at = 0; !rc && at < json_array_size(list); at += 100) {
        json_t *part = json_array();
        for (size_t i = at; i < at + 100 && i < json_array_size(list); i++)
            json_array_append(part, json_array_get(list, i));
        in = json_pack("{s:s, s:s, s:o}", "DatabaseName", cfg->db, "TableName", cfg->table,
                       "PartitionInputList", part);
        rc = bp_json_call(p->aws, "glue", "AWSGlue.BatchCreatePartition", in, &out, code,
                          sizeof(code), err);
        json_decref(in);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(out, "Errors"), i, e)
        {
            const char *ec = json_string_value(
                json_object_get(json_object_get(e, "ErrorDetail"), "ErrorCode"));
            if (ec && strcmp(ec, "AlreadyExistsException") != 0)
                rc = sl_errf(err, SL_EIO, "BatchCreatePartition: %s", ec);
        }
        json_decref(out);
    }
    json_decref(list);
    return rc;
}

/* ---- the object ------------------------------------------------------------------------ */

static enum bp_format format_of(const char *key, enum bp_format given)
{
    if (given != BP_AUTO)
        return given;
    const char *dot = strrchr(key, '.');
    if (dot && (!strcasecmp(dot, ".jsonl") || !strcasecmp(dot, ".ndjson")))
        return BP_JSONL;
    if (dot && !strcasecmp(dot, ".json"))
        return BP_JSONL; /* (JSON Lines unless INPUT_FORMAT says json: an array) */
    if (dot && !strcasecmp(dot, ".parquet"))
        return BP_PARQUET;
    return BP_CSV;
}

void bp_result_free(struct bp_result *r)
{
    json_decref(r->outputs);
    json_decref(r->partitions);
    r->outputs = r->partitions = NULL;
}

int bp_process(const struct bp_config *cfg, struct bp_aws *aws, const char *bucket,
               const char *key, struct bp_result *r, struct sl_err *err)
{
    memset(r, 0, sizeof(*r));
    r->outputs = json_array();
    r->partitions = json_array();
    /* The blueprint's own outputs are not its inputs (a notification on the
     * whole bucket would otherwise run it on what it wrote). */
    const char *rb = cfg->rej_bucket[0] ? cfg->rej_bucket : bucket;
    if ((!strcmp(bucket, cfg->out_bucket) && cfg->out_prefix[0] &&
         sl_str_starts_with(key, cfg->out_prefix)) ||
        (!strcmp(bucket, rb) && cfg->rej_prefix[0] && sl_str_starts_with(key, cfg->rej_prefix))) {
        r->skipped = true;
        return 0;
    }
    struct pipe p = {.cfg = cfg, .aws = aws, .bucket = bucket, .key = key, .r = r, .err = err};
    p.fmt = format_of(key, cfg->format);
    /* (A .tsv key is tab-separated unless CSV_DELIMITER says otherwise; a
     * .json key whose text opens with '[' is an array.) */
    p.delim = cfg->delimiter;
    if (p.fmt == BP_CSV && cfg->format == BP_AUTO && !cfg->delimiter_set && strrchr(key, '.') &&
        !strcasecmp(strrchr(key, '.'), ".tsv"))
        p.delim = '\t';
    p.sniff_array = cfg->format == BP_AUTO && p.fmt == BP_JSONL && strrchr(key, '.') &&
                    !strcasecmp(strrchr(key, '.'), ".json");
    p.kind = cfg->convert ? (p.fmt == BP_PARQUET ? OUT_JSONL : OUT_PARQUET)
                          : (p.fmt == BP_CSV ? OUT_CSV : OUT_JSONL);
    p.rej.fd = -1;
    sl_buf_init(&p.prelude, 0);
    sl_buf_init(&p.line, 16 * 1024 * 1024);
    sl_buf_init(&p.whole, 0);
    sl_arena_init(&p.arena, 0);
    int rc = 0;
    size_t nr = cfg->rules ? sl_rules_count(cfg->rules) : 0;
    p.cells = calloc(nr + 1, sizeof(*p.cells));
    p.rule_field = calloc(nr + 1, sizeof(*p.rule_field));
    if (!p.cells || !p.rule_field)
        rc = SL_ENOMEM;
    for (size_t i = 0; i < nr; i++)
        p.rule_field[i] = (ssize_t)i;
    /* The columns: the configuration's; else the catalog table's, read for
     * each object (the first conversion may have made the table). */
    if (!rc && cfg->ncols) {
        p.cols = cfg->cols;
        p.ncols = cfg->ncols;
    } else if (!rc && cfg->db[0] && cfg->convert) {
        rc = bp_catalog_columns(aws, cfg->db, cfg->table, &p.cols, &p.ncols, err);
        p.cols_owned = true;
    }
    if (!rc && p.ncols)
        rc = columns_ready(&p);
    else if (!rc && !(cfg->convert && p.kind == OUT_PARQUET))
        p.ready = true; /* (nothing to convert to: rows are only checked) */
    if (!rc && p.fmt == BP_CSV)
        rc = sl_csv_new(p.delim, 0, csv_row, &p, &p.csv);
    if (!rc)
        rc = bp_s3_get(aws, bucket, key, sink, &p, err);
    if (rc && p.rc)
        rc = p.rc;
    if (!rc)
        rc = finish_input(&p);
    if (!rc && p.rc)
        rc = p.rc;
    /* The outputs, finished. */
    for (struct out *o = p.outs; !rc && o; o = o->next)
        if (o->w && !(rc = sl_pq_writer_finish(o->w, err)))
            rc = tf_flush(&o->f);
        else if (!o->w)
            rc = tf_flush(&o->f);
    if (!rc && p.rej_open)
        rc = tf_flush(&p.rej);
    bool too_many = !rc && cfg->max_rejected >= 0 && (int64_t)r->rejected > cfg->max_rejected;
    /* The rejected rows go to REJECTED/<key>.rejected.jsonl. */
    if (!rc && p.rej_open) {
        char rkey[2200];
        snprintf(rkey, sizeof(rkey), "%s%s.rejected.jsonl", cfg->rej_prefix, key);
        rc = strlen(rkey) > 1024 ? sl_errf(err, SL_ETOOBIG, "the rejected rows' key would be "
                                                           "longer than S3's 1,024 bytes")
                                 : bp_s3_put_file(aws, rb, rkey, p.rej.fd, "application/x-ndjson",
                                                  err);
        snprintf(r->rejected_uri, sizeof(r->rejected_uri), "s3://%s/%s", rb, rkey);
    }
    if (!rc && too_many)
        rc = sl_errf(err, SL_ECONDITION,
                     "%llu rows of s3://%s/%s were rejected, more than MAX_REJECTED (%lld); "
                     "see %s",
                     (unsigned long long)r->rejected, bucket, key, (long long)cfg->max_rejected,
                     r->rejected_uri);
    /* Each output, whole, under OUTPUT/<partition>/<the key's file name>-
     * <a hash of the whole key>.<ext>: the same on every run over the key
     * (a retry writes over what an earlier one may have left), another
     * for a file of the same name in another folder. */
    const char *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    const char *dot = strrchr(base, '.');
    int blen = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    const char *ext = p.kind == OUT_PARQUET ? "parquet" : p.kind == OUT_CSV ? "csv" : "jsonl";
    uint32_t khash = sl_fnv1a(2166136261u, key);
    for (struct out *o = p.outs; !rc && o; o = o->next) {
        if (!cfg->out_bucket[0])
            break;
        if (!o->rows)
            continue; /* (a partition whose rows were all refused by the writer) */
        char okey[2400];
        snprintf(okey, sizeof(okey), "%s%s%.*s-%08x.%s", cfg->out_prefix, o->part, blen, base,
                 khash, ext);
        if (strlen(okey) > 1024) {
            rc = sl_errf(err, SL_ETOOBIG, "the output key %.100s... would be longer than S3's "
                                          "1,024 bytes", okey);
            break;
        }
        rc = bp_s3_put_file(aws, cfg->out_bucket, okey, o->f.fd,
                            p.kind == OUT_PARQUET ? "application/vnd.apache.parquet"
                            : p.kind == OUT_CSV   ? "text/csv"
                                                  : "application/x-ndjson",
                            err);
        char uri[2500];
        snprintf(uri, sizeof(uri), "s3://%s/%s", cfg->out_bucket, okey);
        json_array_append_new(r->outputs, json_pack("{s:s, s:I, s:I}", "uri", uri, "rows",
                                                    (json_int_t)o->rows, "bytes",
                                                    (json_int_t)o->f.bytes));
        if (o->values)
            json_array_append(r->partitions, o->values);
    }
    if (!rc && cfg->db[0] && p.kind == OUT_PARQUET && p.ready && cfg->out_bucket[0])
        rc = register_partitions(&p);
    /* (free) */
    sl_csv_free(p.csv);
    outs_free(&p);
    if (p.rej_open)
        tf_close(&p.rej);
    for (size_t i = 0; i < p.nheader; i++)
        free(p.header[i]);
    free(p.header);
    if (p.cols_owned) {
        for (size_t i = 0; i < p.ncols; i++)
            free((char *)p.cols[i].name);
        free(p.cols);
    }
    free(p.part_col);
    free(p.file_col);
    free(p.file_schema);
    free(p.vals);
    free(p.frow);
    free(p.col_field);
    free(p.rule_field);
    free(p.cells);
    sl_arena_free(&p.arena);
    sl_buf_free(&p.prelude);
    sl_buf_free(&p.line);
    sl_buf_free(&p.whole);
    return rc;
}
