/*
 * The Parquet writer (parquet.h). Each column of the row group under way
 * keeps its values PLAIN-encoded, its definition levels, its statistics
 * and, while the dictionary stays small, a dictionary with each value's
 * index; page boundaries are marked as rows arrive. A full row group is
 * written column by column (a dictionary page when the dictionary held,
 * then data pages), its metadata kept for the footer.
 */
#include "formats/pqcommon.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DICT_MAX_ENTRIES 65536
#define DICT_MAX_BYTES (1024 * 1024)
#define DICT_TABLE_START 1024 /* slots; doubled as entries come, up to 2 x DICT_MAX_ENTRIES */
#define DICT_PROBE 8192 /* values seen before the share of distinct ones decides */

/* A column chunk's place and sizes, for the footer. */
struct chunk_meta {
    int64_t data_offset, dict_offset; /* dict_offset < 0: none */
    int64_t uncompressed, compressed, num_values;
    bool dict;
    int64_t nulls;
    struct sl_buf min, max; /* PLAIN bytes (a byte array's without its length) */
    bool has_stats;
};

struct group_meta {
    int64_t rows, offset, uncompressed, compressed;
    struct chunk_meta *chunks;
};

struct col {
    struct sl_pq_column c;
    int physical;
    struct sl_buf values; /* PLAIN, non-null values */
    uint8_t *defs;        /* per row: 1 present, 0 null (optional columns) */
    size_t cap_defs;
    size_t nrows, nvalues, nulls;
    /* Page boundaries: the row, the values' byte offset and count where each page starts. */
    size_t *page_row, *page_off, *page_val;
    size_t npages, cap_pages;
    /* Dictionary (while it holds): entries' PLAIN bytes, a hash table of
     * entry indexes, each value's index. */
    bool dict_on;
    bool dict_failed; /* gave up in an earlier group: PLAIN for the rest of the file */
    bool dict_stats;  /* byte arrays: the dictionary's entries are not in the statistics yet */
    struct sl_buf dict;
    size_t *dict_off; /* entry i's bytes: dict_off[i] .. dict_off[i+1] */
    size_t ndict, cap_dict;
    uint32_t *table; /* open addressing: index + 1, 0 empty */
    size_t table_size;
    uint32_t *idx;
    size_t cap_idx;
    /* Statistics of the group so far. */
    bool has_stats;
    int64_t imin, imax;
    double dmin, dmax;
    struct sl_buf smin, smax;
};

struct sl_pq_writer {
    struct col *cols;
    size_t ncols;
    struct sl_pq_options o;
    sl_pq_out_fn out;
    void *arg;
    int64_t pos, total_rows;
    struct group_meta *groups;
    size_t ngroups, cap_groups;
    size_t rows; /* in the group under way */
    int failed;
    struct sl_buf scratch, body, raw, page, header;
};

static int emit(struct sl_pq_writer *w, const void *p, size_t n)
{
    if (w->failed)
        return w->failed;
    int rc = n ? w->out(w->arg, p, n) : 0;
    if (rc)
        w->failed = rc;
    w->pos += (int64_t)n;
    return rc;
}

static void col_reset(struct col *c)
{
    c->values.len = 0;
    c->nrows = c->nvalues = c->nulls = 0;
    c->npages = 0;
    c->dict.len = 0;
    c->ndict = 0;
    if (c->table)
        memset(c->table, 0, c->table_size * sizeof(*c->table));
    c->dict_on = c->table != NULL && !c->dict_failed;
    c->has_stats = false;
    c->dict_stats = false;
    c->smin.len = c->smax.len = 0;
}

static void col_free(struct col *c)
{
    free((char *)c->c.name);
    sl_buf_free(&c->values);
    free(c->defs);
    free(c->page_row);
    free(c->page_off);
    free(c->page_val);
    sl_buf_free(&c->dict);
    free(c->dict_off);
    free(c->table);
    free(c->idx);
    sl_buf_free(&c->smin);
    sl_buf_free(&c->smax);
}

void sl_pq_writer_free(struct sl_pq_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->ncols; i++)
        col_free(&w->cols[i]);
    free(w->cols);
    for (size_t g = 0; g < w->ngroups; g++) {
        for (size_t i = 0; i < w->ncols; i++) {
            sl_buf_free(&w->groups[g].chunks[i].min);
            sl_buf_free(&w->groups[g].chunks[i].max);
        }
        free(w->groups[g].chunks);
    }
    free(w->groups);
    sl_buf_free(&w->scratch);
    sl_buf_free(&w->body);
    sl_buf_free(&w->raw);
    sl_buf_free(&w->page);
    sl_buf_free(&w->header);
    free(w);
}

int sl_pq_writer_new(const struct sl_pq_column *cols, size_t ncols,
                     const struct sl_pq_options *opts, sl_pq_out_fn out, void *arg,
                     struct sl_pq_writer **wout, struct sl_err *err)
{
    if (!ncols)
        return sl_errf(err, SL_EINVAL, "a Parquet file needs one column at least");
    struct sl_pq_writer *w = calloc(1, sizeof(*w));
    if (!w || !(w->cols = calloc(ncols, sizeof(*w->cols)))) {
        free(w);
        return SL_ENOMEM;
    }
    w->ncols = ncols;
    w->o = opts ? *opts : (struct sl_pq_options){0};
    if (!w->o.row_group_rows)
        w->o.row_group_rows = 128 * 1024;
    if (!w->o.row_group_bytes)
        w->o.row_group_bytes = 128u * 1024 * 1024;
    if (!w->o.page_rows)
        w->o.page_rows = 16 * 1024;
    w->out = out;
    w->arg = arg;
    sl_buf_init(&w->scratch, 0);
    sl_buf_init(&w->body, 0);
    sl_buf_init(&w->raw, 0);
    sl_buf_init(&w->page, 0);
    sl_buf_init(&w->header, 0);
    for (size_t i = 0; i < ncols; i++) {
        struct col *c = &w->cols[i];
        c->c = cols[i];
        c->c.name = strdup(cols[i].name ? cols[i].name : "");
        sl_buf_init(&c->values, 0);
        sl_buf_init(&c->dict, 0);
        sl_buf_init(&c->smin, 0);
        sl_buf_init(&c->smax, 0);
        if (!c->c.name || !cols[i].name || !*cols[i].name) {
            sl_pq_writer_free(w);
            return sl_errf(err, SL_EINVAL, "column %zu has no name", i);
        }
        if (cols[i].type == SL_PQ_DECIMAL &&
            (cols[i].precision < 1 || cols[i].precision > 18 || cols[i].scale < 0 ||
             cols[i].scale > cols[i].precision)) {
            sl_pq_writer_free(w);
            return sl_errf(err, SL_EINVAL,
                           "column %s: a decimal's precision must be 1 to 18 and its scale 0 "
                           "to its precision",
                           cols[i].name);
        }
        c->physical = pq_physical(&cols[i]);
        if (w->o.dictionary && c->physical != PQ_BOOLEAN) {
            c->table_size = DICT_TABLE_START;
            c->table = calloc(c->table_size, sizeof(*c->table));
            if (!c->table) {
                sl_pq_writer_free(w);
                return SL_ENOMEM;
            }
        }
        col_reset(c);
    }
    *wout = w;
    return emit(w, "PAR1", 4);
}

/* ---- adding values ------------------------------------------------------------------- */

/* The n (1 to 7) bytes at p as one word, from loads that overlap rather
 * than a copy through memory (which would stall the load that follows). */
static inline uint64_t short_word(const uint8_t *p, size_t n)
{
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        return (uint64_t)b << 32 | a;
    }
    return (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
}

/* A hash of a value's PLAIN bytes, eight at a time (the slots take its
 * low bits, which the last mix spreads; the length is in the seed). */
static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    size_t m = n;
    const uint8_t *q = p;
    while (m >= 8) {
        uint64_t w;
        memcpy(&w, q, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        q += 8;
        m -= 8;
    }
    if (m) {
        uint64_t w;
        if (n >= 8)
            memcpy(&w, p + n - 8, 8); /* (the last 8, overlapping) */
        else
            w = short_word(q, m);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 29;
    }
    h *= 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 32);
}

/* Appends to b without a call while it has room (every value takes this
 * way; sl_buf_append grows it otherwise). */
static inline int put(struct sl_buf *b, const void *p, size_t n)
{
    if (b->cap - b->len > n && b->len + n <= b->max) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
    }
    return sl_buf_append(b, p, n);
}

/* Whether a[0..n) and b[0..n) are equal: short values without a call. */
static inline bool bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n > 32)
        return memcmp(a, b, n) == 0;
    if (n > 16)
        return bytes_equal(a, b, 16) && bytes_equal(a + 16, b + 16, n - 16);
    if (n >= 8) {
        uint64_t x, y, u, v;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        memcpy(&u, a + n - 8, 8);
        memcpy(&v, b + n - 8, 8);
        return x == y && u == v;
    }
    return !n || short_word(a, n) == short_word(b, n);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 1024;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (!q)
        return SL_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* Doubles c's table of slots (kept at most half full, and small while the
 * dictionary is, so that a column of few values probes memory that stays
 * in cache). */
static int dict_grow(struct col *c)
{
    size_t size = c->table_size * 2, mask = size - 1;
    uint32_t *t = calloc(size, sizeof(*t));
    if (!t)
        return SL_ENOMEM;
    for (size_t e = 0; e < c->ndict; e++) {
        size_t from = c->dict_off[e], to = c->dict_off[e + 1];
        size_t at = (size_t)hash_bytes((const uint8_t *)c->dict.data + from, to - from) & mask;
        while (t[at])
            at = (at + 1) & mask;
        t[at] = (uint32_t)(e + 1);
    }
    free(c->table);
    c->table = t;
    c->table_size = size;
    return 0;
}

/* Value bytes p[0..n) (PLAIN) into c's dictionary: its index, or gives
 * the dictionary up. */
static int dict_add(struct col *c, const uint8_t *p, size_t n)
{
    if (c->ndict * 2 >= c->table_size && c->table_size < 2 * DICT_MAX_ENTRIES && dict_grow(c))
        return SL_ENOMEM;
    uint64_t h = hash_bytes(p, n);
    size_t mask = c->table_size - 1, at = (size_t)h & mask;
    for (;;) {
        uint32_t e = c->table[at];
        if (!e)
            break;
        size_t from = c->dict_off[e - 1], to = c->dict_off[e];
        if (to - from == n && bytes_equal((const uint8_t *)c->dict.data + from, p, n))
            return grow((void **)&c->idx, &c->cap_idx, c->nvalues + 1, sizeof(*c->idx))
                       ? SL_ENOMEM
                       : (c->idx[c->nvalues] = e - 1, 0);
        at = (at + 1) & mask;
    }
    /* A dictionary that does not pay is given up: full, or nearly every
     * value distinct once there are enough of them to tell. Once given
     * up, the column stays PLAIN in the groups that follow (its values do
     * not change their nature), as other writers do. */
    if (c->ndict >= DICT_MAX_ENTRIES || c->dict.len + n > DICT_MAX_BYTES ||
        (c->nvalues >= DICT_PROBE && c->ndict * 4 > c->nvalues * 3)) {
        c->dict_on = false;
        c->dict_failed = true;
        return 0;
    }
    if (grow((void **)&c->dict_off, &c->cap_dict, c->ndict + 2, sizeof(*c->dict_off)) ||
        grow((void **)&c->idx, &c->cap_idx, c->nvalues + 1, sizeof(*c->idx)) ||
        sl_buf_append(&c->dict, p, n))
        return SL_ENOMEM;
    c->dict_off[0] = 0;
    c->dict_off[c->ndict + 1] = c->dict.len;
    c->table[at] = (uint32_t)++c->ndict;
    c->idx[c->nvalues] = (uint32_t)(c->ndict - 1);
    return 0;
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b ? b : "", an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int stats_bytes(struct col *c, const char *p, size_t n)
{
    int rc = 0;
    if (!c->has_stats || cmp_bytes(p, n, c->smin.data, c->smin.len) < 0) {
        c->smin.len = 0;
        rc = sl_buf_append(&c->smin, p, n);
    }
    if (!rc && (!c->has_stats || cmp_bytes(p, n, c->smax.data, c->smax.len) > 0)) {
        c->smax.len = 0;
        rc = sl_buf_append(&c->smax, p, n);
    }
    return rc;
}

/* A byte array column's statistics, while its dictionary holds, come from
 * the dictionary's entries (the same minimum and maximum, each distinct
 * value compared once): folded in when it is given up or written. */
static int fold_dict_stats(struct col *c)
{
    int rc = 0;
    for (size_t e = 0; !rc && c->dict_stats && e < c->ndict; e++) {
        size_t from = c->dict_off[e], to = c->dict_off[e + 1];
        rc = stats_bytes(c, c->dict.data + from + 4, to - from - 4);
        c->has_stats = true;
    }
    c->dict_stats = false;
    return rc;
}

/* Whether v fits c: 0, or SL_EINVAL saying why. */
static int check_value(const struct col *c, const struct sl_pq_value *v, struct sl_err *err)
{
    if (c->physical == PQ_INT32 && (v->i64 < INT32_MIN || v->i64 > INT32_MAX))
        return sl_errf(err, SL_EINVAL, "column %s: %lld does not fit in 32 bits", c->c.name,
                       (long long)v->i64);
    if (c->c.type == SL_PQ_DECIMAL) {
        int64_t limit = 1;
        for (int i = 0; i < c->c.precision; i++)
            limit *= 10;
        if (v->i64 <= -limit || v->i64 >= limit)
            return sl_errf(err, SL_EINVAL, "column %s: %lld has more than %d digits",
                           c->c.name, (long long)v->i64, c->c.precision);
    }
    if (c->physical == PQ_BYTE_ARRAY && v->n > UINT32_MAX)
        return sl_errf(err, SL_EINVAL, "column %s: a value longer than 4 GiB", c->c.name);
    return 0;
}

/* Adds value v (checked) to c: PLAIN bytes, dictionary, statistics. */
static int add_value(struct col *c, const struct sl_pq_value *v)
{
    uint8_t b[8];
    const uint8_t *bytes = b;
    size_t n = 0;
    size_t start = c->values.len;
    int rc = 0;
    switch (c->physical) {
    case PQ_BOOLEAN:
        /* (Bit-packed when its page is written: one byte each meanwhile.) */
        b[0] = v->b ? 1 : 0;
        n = 1;
        if (!c->has_stats || (!v->b && c->imin)) c->imin = v->b;
        if (!c->has_stats || (v->b && !c->imax)) c->imax = v->b;
        break;
    case PQ_INT32: {
        int32_t x = (int32_t)v->i64;
        memcpy(b, &x, 4);
        n = 4;
        goto ints;
    }
    case PQ_INT64:
        memcpy(b, &v->i64, 8);
        n = 8;
    ints:
        if (!c->has_stats || v->i64 < c->imin)
            c->imin = v->i64;
        if (!c->has_stats || v->i64 > c->imax)
            c->imax = v->i64;
        break;
    case PQ_FLOAT: {
        float f = (float)v->d;
        memcpy(b, &f, 4);
        n = 4;
        goto reals;
    }
    case PQ_DOUBLE:
        memcpy(b, &v->d, 8);
        n = 8;
    reals:
        if (!isnan(v->d)) {
            if (!c->has_stats || v->d < c->dmin)
                c->dmin = v->d;
            if (!c->has_stats || v->d > c->dmax)
                c->dmax = v->d;
        } else if (!c->has_stats) {
            goto values; /* (NaN: no statistics from it) */
        }
        break;
    case PQ_BYTE_ARRAY: {
        uint32_t len = (uint32_t)v->n;
        rc = put(&c->values, &len, 4);
        if (!rc)
            rc = put(&c->values, v->s ? v->s : "", v->n);
        if (!rc && c->dict_on) {
            rc = dict_add(c, (const uint8_t *)c->values.data + start, v->n + 4);
            c->dict_stats |= c->dict_on;
            if (!rc && !c->dict_on) /* (given up: its entries, then this value) */
                rc = fold_dict_stats(c);
            else if (!rc)
                goto counted;
        }
        if (!rc)
            rc = stats_bytes(c, v->s ? v->s : "", v->n);
        if (rc)
            return rc;
        c->has_stats = true;
        goto counted;
    }
    }
    c->has_stats = true;
values:
    if ((rc = put(&c->values, bytes, n)) != 0)
        return rc;
    if (c->dict_on && (rc = dict_add(c, (const uint8_t *)c->values.data + start, n)) != 0)
        return rc;
counted:
    c->nvalues++;
    return 0;
}

static int flush_group(struct sl_pq_writer *w);

int sl_pq_write_row(struct sl_pq_writer *w, const struct sl_pq_value *row, struct sl_err *err)
{
    if (w->failed)
        return w->failed;
    for (size_t i = 0; i < w->ncols; i++) {
        if (row[i].null && !w->cols[i].c.optional)
            return sl_errf(err, SL_EINVAL, "column %s is required: a null is not allowed",
                           w->cols[i].c.name);
        int rc = row[i].null ? 0 : check_value(&w->cols[i], &row[i], err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < w->ncols; i++) {
        struct col *c = &w->cols[i];
        int rc = 0;
        if (c->nrows % w->o.page_rows == 0) {
            size_t cap = c->cap_pages;
            rc = grow((void **)&c->page_row, &cap, c->npages + 1, sizeof(size_t));
            if (!rc && cap != c->cap_pages) {
                size_t *off = realloc(c->page_off, cap * sizeof(size_t));
                if (off)
                    c->page_off = off;
                size_t *val = off ? realloc(c->page_val, cap * sizeof(size_t)) : NULL;
                if (val)
                    c->page_val = val;
                rc = off && val ? 0 : SL_ENOMEM;
                if (!rc)
                    c->cap_pages = cap;
            }
            if (!rc) {
                c->page_row[c->npages] = c->nrows;
                c->page_off[c->npages] = c->values.len;
                c->page_val[c->npages] = c->nvalues;
                c->npages++;
            }
        }
        if (!rc && c->c.optional) {
            if (grow((void **)&c->defs, &c->cap_defs, c->nrows + 1, 1))
                rc = SL_ENOMEM;
            else
                c->defs[c->nrows] = row[i].null ? 0 : 1;
        }
        if (!rc) {
            c->nrows++;
            if (row[i].null)
                c->nulls++;
            else
                rc = add_value(c, &row[i]);
        }
        if (rc) {
            w->failed = rc; /* (out of memory midway through a row: the writer stops) */
            return sl_errf(err, rc, "%s", sl_strerror(rc));
        }
    }
    w->total_rows++;
    size_t buffered = 0;
    for (size_t i = 0; i < w->ncols; i++)
        buffered += w->cols[i].values.len;
    if (++w->rows >= w->o.row_group_rows || buffered >= w->o.row_group_bytes)
        return flush_group(w);
    return 0;
}

/* ---- writing a row group --------------------------------------------------------------- */

/* Writes a page: its header (what fill adds to the PageHeader after its
 * sizes) and w->page; counts its sizes into cm. */
static int put_page(struct sl_pq_writer *w, struct chunk_meta *cm, int type, size_t uncompressed,
                    void (*fill)(struct sl_tc_writer *tw, void *arg), void *arg)
{
    w->header.len = 0;
    struct sl_tc_writer tw;
    sl_tc_writer_init(&tw, &w->header);
    sl_tc_struct_begin(&tw);
    sl_tc_field_i32(&tw, 1, type);
    sl_tc_field_i32(&tw, 2, (int32_t)uncompressed);
    sl_tc_field_i32(&tw, 3, (int32_t)w->page.len);
    fill(&tw, arg);
    sl_tc_struct_end(&tw);
    if (tw.rc)
        return tw.rc;
    if (uncompressed > INT32_MAX || w->page.len > INT32_MAX)
        return SL_ETOOBIG;
    cm->uncompressed += (int64_t)(w->header.len + uncompressed);
    cm->compressed += (int64_t)(w->header.len + w->page.len);
    int rc = emit(w, w->header.data, w->header.len);
    return rc ? rc : emit(w, w->page.data, w->page.len);
}

struct page_info {
    int32_t values, nulls, rows, encoding, def_len;
    bool compressed;
};

static void fill_dict(struct sl_tc_writer *tw, void *arg)
{
    const struct page_info *pi = arg;
    sl_tc_field_struct(tw, 7);
    sl_tc_field_i32(tw, 1, pi->values);
    sl_tc_field_i32(tw, 2, PQ_ENC_PLAIN);
    sl_tc_struct_end(tw);
}

static void fill_v1(struct sl_tc_writer *tw, void *arg)
{
    const struct page_info *pi = arg;
    sl_tc_field_struct(tw, 5);
    sl_tc_field_i32(tw, 1, pi->rows);
    sl_tc_field_i32(tw, 2, pi->encoding);
    sl_tc_field_i32(tw, 3, PQ_ENC_RLE);
    sl_tc_field_i32(tw, 4, PQ_ENC_RLE);
    sl_tc_struct_end(tw);
}

static void fill_v2(struct sl_tc_writer *tw, void *arg)
{
    const struct page_info *pi = arg;
    sl_tc_field_struct(tw, 8);
    sl_tc_field_i32(tw, 1, pi->rows);
    sl_tc_field_i32(tw, 2, pi->nulls);
    sl_tc_field_i32(tw, 3, pi->rows);
    sl_tc_field_i32(tw, 4, pi->encoding);
    sl_tc_field_i32(tw, 5, pi->def_len);
    sl_tc_field_i32(tw, 6, 0);
    sl_tc_field_bool(tw, 7, pi->compressed);
    sl_tc_struct_end(tw);
}

/* The PLAIN bytes of a statistic. */
static int stat_bytes(const struct col *c, bool max, struct sl_buf *out)
{
    uint8_t b[8];
    switch (c->physical) {
    case PQ_BOOLEAN:
        b[0] = (uint8_t)(max ? c->imax : c->imin);
        return sl_buf_append(out, b, 1);
    case PQ_INT32: {
        int32_t x = (int32_t)(max ? c->imax : c->imin);
        return sl_buf_append(out, &x, 4);
    }
    case PQ_INT64: {
        int64_t x = max ? c->imax : c->imin;
        return sl_buf_append(out, &x, 8);
    }
    case PQ_FLOAT: {
        float f = (float)(max ? c->dmax : c->dmin);
        return sl_buf_append(out, &f, 4);
    }
    case PQ_DOUBLE: {
        double d = max ? c->dmax : c->dmin;
        return sl_buf_append(out, &d, 8);
    }
    default: {
        const struct sl_buf *s = max ? &c->smax : &c->smin;
        return sl_buf_append(out, s->data ? s->data : "", s->len);
    }
    }
}

static int write_column(struct sl_pq_writer *w, struct col *c, struct chunk_meta *cm)
{
    int rc = 0;
    enum sl_pq_codec codec = w->o.codec;
    bool dict = c->dict_on && c->ndict > 0;
    cm->dict_offset = -1;
    cm->dict = dict;
    cm->num_values = (int64_t)c->nrows;
    cm->nulls = (int64_t)c->nulls;
    sl_buf_init(&cm->min, 0);
    sl_buf_init(&cm->max, 0);
    if ((rc = fold_dict_stats(c)))
        return rc;
    if (c->has_stats) {
        cm->has_stats = true;
        if ((rc = stat_bytes(c, false, &cm->min)) || (rc = stat_bytes(c, true, &cm->max)))
            return rc;
    }
    if (dict) {
        w->page.len = 0;
        if ((rc = pq_compress(codec, c->dict.data, c->dict.len, &w->page)))
            return rc;
        cm->dict_offset = w->pos;
        struct page_info pi = {.values = (int32_t)c->ndict};
        if ((rc = put_page(w, cm, PQ_PAGE_DICTIONARY, c->dict.len, fill_dict, &pi)))
            return rc;
    }
    int width = dict ? (c->ndict > 1 ? pq_bit_width((uint32_t)(c->ndict - 1)) : 1) : 0;
    cm->data_offset = w->pos;
    for (size_t p = 0; p < c->npages; p++) {
        size_t r0 = c->page_row[p], r1 = p + 1 < c->npages ? c->page_row[p + 1] : c->nrows;
        size_t v0 = c->page_val[p], v1 = p + 1 < c->npages ? c->page_val[p + 1] : c->nvalues;
        size_t o0 = c->page_off[p], o1 = p + 1 < c->npages ? c->page_off[p + 1] : c->values.len;
        /* Definition levels. */
        w->scratch.len = 0;
        if (c->c.optional && (rc = pq_rle_runs(c->defs + r0, r1 - r0, 1, &w->scratch)))
            return rc;
        /* Values. */
        w->body.len = 0;
        if (dict) {
            uint8_t bw = (uint8_t)width;
            rc = sl_buf_append(&w->body, &bw, 1);
            if (!rc)
                rc = pq_bitpack(c->idx + v0, v1 - v0, width, &w->body);
        } else if (c->physical == PQ_BOOLEAN) {
            size_t n = o1 - o0, bytes = (n + 7) / 8;
            char *q = sl_buf_extend(&w->body, bytes);
            rc = q ? 0 : SL_ENOMEM;
            if (q) {
                memset(q, 0, bytes);
                for (size_t i = 0; i < n; i++)
                    if (c->values.data[o0 + i])
                        q[i / 8] = (char)(q[i / 8] | (1 << (i % 8)));
            }
        } else {
            rc = sl_buf_append(&w->body, c->values.data + o0, o1 - o0);
        }
        if (rc)
            return rc;
        struct page_info pi = {.values = (int32_t)(r1 - r0),
                               .nulls = (int32_t)((r1 - r0) - (v1 - v0)),
                               .rows = (int32_t)(r1 - r0),
                               .encoding = dict ? PQ_ENC_RLE_DICTIONARY : PQ_ENC_PLAIN,
                               .def_len = (int32_t)w->scratch.len,
                               .compressed = codec != SL_PQ_UNCOMPRESSED};
        w->page.len = 0;
        size_t uncompressed;
        if (w->o.page_version == 2) {
            rc = sl_buf_append(&w->page, w->scratch.data, w->scratch.len);
            if (!rc)
                rc = pq_compress(codec, w->body.data, w->body.len, &w->page);
            uncompressed = w->scratch.len + w->body.len;
            if (!rc)
                rc = put_page(w, cm, PQ_PAGE_DATA_V2, uncompressed, fill_v2, &pi);
        } else {
            w->raw.len = 0;
            if (c->c.optional) {
                uint32_t len = (uint32_t)w->scratch.len;
                rc = sl_buf_append(&w->raw, &len, 4);
                if (!rc)
                    rc = sl_buf_append(&w->raw, w->scratch.data, w->scratch.len);
            }
            if (!rc)
                rc = sl_buf_append(&w->raw, w->body.data, w->body.len);
            if (!rc)
                rc = pq_compress(codec, w->raw.data, w->raw.len, &w->page);
            uncompressed = w->raw.len;
            if (!rc)
                rc = put_page(w, cm, PQ_PAGE_DATA, uncompressed, fill_v1, &pi);
        }
        if (rc)
            return rc;
    }
    return 0;
}

size_t sl_pq_writer_buffered(const struct sl_pq_writer *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->ncols; i++) {
        const struct col *c = &w->cols[i];
        n += c->values.len + c->dict.len + c->nvalues * sizeof(*c->idx) + c->nrows;
    }
    return n;
}

int sl_pq_writer_flush(struct sl_pq_writer *w, struct sl_err *err)
{
    int rc = flush_group(w);
    return rc ? sl_errf(err, rc, "%s", sl_strerror(rc)) : 0;
}

static int flush_group(struct sl_pq_writer *w)
{
    if (!w->rows || w->failed)
        return w->failed;
    if (grow((void **)&w->groups, &w->cap_groups, w->ngroups + 1, sizeof(*w->groups)))
        return w->failed = SL_ENOMEM;
    struct group_meta *g = &w->groups[w->ngroups];
    memset(g, 0, sizeof(*g));
    if (!(g->chunks = calloc(w->ncols, sizeof(*g->chunks))))
        return w->failed = SL_ENOMEM;
    w->ngroups++;
    g->rows = (int64_t)w->rows;
    g->offset = w->pos;
    for (size_t i = 0; i < w->ncols; i++) {
        int rc = write_column(w, &w->cols[i], &g->chunks[i]);
        if (rc)
            return w->failed = rc;
        g->uncompressed += g->chunks[i].uncompressed;
        g->compressed += g->chunks[i].compressed;
        col_reset(&w->cols[i]);
    }
    w->rows = 0;
    return 0;
}

/* ---- the footer --------------------------------------------------------------------------- */

static void schema_element(struct sl_tc_writer *tw, const struct col *c)
{
    const struct sl_pq_column *col = &c->c;
    sl_tc_struct_begin(tw);
    sl_tc_field_i32(tw, 1, c->physical);
    sl_tc_field_i32(tw, 3, col->optional ? PQ_OPTIONAL : PQ_REQUIRED);
    sl_tc_field_string(tw, 4, col->name);
    int converted = -1;
    switch (col->type) {
    case SL_PQ_STRING:
        converted = PQ_CT_UTF8;
        break;
    case SL_PQ_DATE:
        converted = PQ_CT_DATE;
        break;
    case SL_PQ_TIMESTAMP_MS:
        converted = PQ_CT_TIMESTAMP_MILLIS;
        break;
    case SL_PQ_TIMESTAMP_US:
        converted = PQ_CT_TIMESTAMP_MICROS;
        break;
    case SL_PQ_DECIMAL:
        converted = PQ_CT_DECIMAL;
        break;
    default:
        break;
    }
    if (converted >= 0)
        sl_tc_field_i32(tw, 6, converted);
    if (col->type == SL_PQ_DECIMAL) {
        sl_tc_field_i32(tw, 7, col->scale);
        sl_tc_field_i32(tw, 8, col->precision);
    }
    if (converted >= 0) {
        sl_tc_field_struct(tw, 10); /* LogicalType */
        switch (col->type) {
        case SL_PQ_STRING:
            sl_tc_field_struct(tw, 1);
            sl_tc_struct_end(tw);
            break;
        case SL_PQ_DATE:
            sl_tc_field_struct(tw, 6);
            sl_tc_struct_end(tw);
            break;
        case SL_PQ_TIMESTAMP_MS:
        case SL_PQ_TIMESTAMP_US:
            sl_tc_field_struct(tw, 8);
            sl_tc_field_bool(tw, 1, true);
            sl_tc_field_struct(tw, 2);
            sl_tc_field_struct(tw, col->type == SL_PQ_TIMESTAMP_MS ? 1 : 2);
            sl_tc_struct_end(tw);
            sl_tc_struct_end(tw);
            sl_tc_struct_end(tw);
            break;
        default: /* DECIMAL */
            sl_tc_field_struct(tw, 5);
            sl_tc_field_i32(tw, 1, col->scale);
            sl_tc_field_i32(tw, 2, col->precision);
            sl_tc_struct_end(tw);
            break;
        }
        sl_tc_struct_end(tw);
    }
    sl_tc_struct_end(tw);
}

static void column_chunk(struct sl_tc_writer *tw, const struct col *c, const struct chunk_meta *cm,
                         int codec)
{
    sl_tc_struct_begin(tw);
    sl_tc_field_i64(tw, 2, cm->dict_offset >= 0 ? cm->dict_offset : cm->data_offset);
    sl_tc_field_struct(tw, 3); /* ColumnMetaData */
    sl_tc_field_i32(tw, 1, c->physical);
    sl_tc_field_list(tw, 2, SL_TC_I32, cm->dict ? 3 : 2);
    sl_tc_i32(tw, cm->dict ? PQ_ENC_RLE_DICTIONARY : PQ_ENC_PLAIN);
    sl_tc_i32(tw, PQ_ENC_RLE);
    if (cm->dict)
        sl_tc_i32(tw, PQ_ENC_PLAIN);
    sl_tc_field_list(tw, 3, SL_TC_BINARY, 1);
    sl_tc_binary(tw, c->c.name, strlen(c->c.name));
    sl_tc_field_i32(tw, 4, codec);
    sl_tc_field_i64(tw, 5, cm->num_values);
    sl_tc_field_i64(tw, 6, cm->uncompressed);
    sl_tc_field_i64(tw, 7, cm->compressed);
    sl_tc_field_i64(tw, 9, cm->data_offset);
    if (cm->dict_offset >= 0)
        sl_tc_field_i64(tw, 11, cm->dict_offset);
    sl_tc_field_struct(tw, 12); /* Statistics */
    sl_tc_field_i64(tw, 3, cm->nulls);
    if (cm->has_stats) {
        sl_tc_field_binary(tw, 5, cm->max.data ? cm->max.data : "", cm->max.len);
        sl_tc_field_binary(tw, 6, cm->min.data ? cm->min.data : "", cm->min.len);
    }
    sl_tc_struct_end(tw);
    sl_tc_struct_end(tw);
    sl_tc_struct_end(tw);
}

int sl_pq_writer_finish(struct sl_pq_writer *w, struct sl_err *err)
{
    int rc = flush_group(w);
    if (rc)
        return sl_errf(err, rc, "the Parquet file could not be written: %s", sl_strerror(rc));
    struct sl_buf foot;
    sl_buf_init(&foot, 0);
    struct sl_tc_writer tw;
    sl_tc_writer_init(&tw, &foot);
    sl_tc_struct_begin(&tw);
    sl_tc_field_i32(&tw, 1, 1);
    sl_tc_field_list(&tw, 2, SL_TC_STRUCT, w->ncols + 1);
    sl_tc_struct_begin(&tw);
    sl_tc_field_string(&tw, 4, "schema");
    sl_tc_field_i32(&tw, 5, (int32_t)w->ncols);
    sl_tc_struct_end(&tw);
    for (size_t i = 0; i < w->ncols; i++)
        schema_element(&tw, &w->cols[i]);
    sl_tc_field_i64(&tw, 3, w->total_rows);
    sl_tc_field_list(&tw, 4, SL_TC_STRUCT, w->ngroups);
    int codec = pq_codec_id(w->o.codec);
    for (size_t g = 0; g < w->ngroups; g++) {
        const struct group_meta *gm = &w->groups[g];
        sl_tc_struct_begin(&tw);
        sl_tc_field_list(&tw, 1, SL_TC_STRUCT, w->ncols);
        for (size_t i = 0; i < w->ncols; i++)
            column_chunk(&tw, &w->cols[i], &gm->chunks[i], codec);
        sl_tc_field_i64(&tw, 2, gm->uncompressed);
        sl_tc_field_i64(&tw, 3, gm->rows);
        sl_tc_field_i64(&tw, 5, gm->offset);
        sl_tc_field_i64(&tw, 6, gm->compressed);
        sl_tc_struct_end(&tw);
    }
    /* (parquet-mr trusts a file's statistics only from a writer named so.) */
    sl_tc_field_string(&tw, 6, w->o.created_by ? w->o.created_by : "sluice version " SL_VERSION " (build 0)");
    sl_tc_struct_end(&tw);
    rc = tw.rc;
    uint32_t len = (uint32_t)foot.len;
    if (!rc)
        rc = emit(w, foot.data, foot.len);
    if (!rc)
        rc = emit(w, &len, 4);
    if (!rc)
        rc = emit(w, "PAR1", 4);
    sl_buf_free(&foot);
    if (rc)
        return sl_errf(err, rc, "the Parquet file could not be written: %s", sl_strerror(rc));
    return 0;
}
