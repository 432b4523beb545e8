/*
 * The Parquet reader (parquet.h): the footer parsed into a flat schema and
 * the row groups' column chunks, then each row group decoded page by page
 * into arrays of values. Every length and offset is checked against the
 * file: a malformed file is an SL_EINVAL that says what is wrong, never a
 * read out of bounds.
 */
#include "formats/pqcommon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rchunk {
    int64_t offset, size;  /* the chunk's pages: [offset, offset + size) */
    int64_t num_values;
    int codec;
};

struct rcol {
    struct sl_pq_column c;
    char name[256];
    int physical;
    int type_length;
    int64_t divide;     /* nanosecond timestamps: 1000 (to µs), else 1 */
    bool unsigned32;    /* an unsigned INT32 (uint8..uint32) */
};

#define READ_BUDGET ((uint64_t)1 << 30) /* a row group's values and pages, at most */

struct sl_pq_file {
    const uint8_t *data;
    size_t len;
    struct rcol *cols;
    struct sl_pq_column *columns;
    size_t ncols;
    int64_t nrows;
    size_t ngroups;
    int64_t *group_rows;
    struct rchunk *chunks; /* ngroups x ncols */
};

void sl_pq_close(struct sl_pq_file *f)
{
    if (!f)
        return;
    free(f->cols);
    free(f->columns);
    free(f->group_rows);
    free(f->chunks);
    free(f);
}

size_t sl_pq_ncolumns(const struct sl_pq_file *f)
{
    return f->ncols;
}

const struct sl_pq_column *sl_pq_columns(const struct sl_pq_file *f)
{
    return f->columns;
}

int64_t sl_pq_nrows(const struct sl_pq_file *f)
{
    return f->nrows;
}

/* ---- the footer ------------------------------------------------------------------------- */

struct logical {
    int kind; /* the LogicalType union's field id, 0 for none */
    int unit; /* TIMESTAMP: 1 ms, 2 µs, 3 ns */
    int scale, precision;
    bool is_unsigned; /* INTEGER's isSigned false */
};

static void read_logical(struct sl_tc_reader *r, struct logical *l)
{
    int16_t id, iid, uid;
    int type, itype, utype;
    sl_tc_enter(r);
    while (sl_tc_next(r, &id, &type)) {
        if (type != SL_TC_STRUCT) {
            sl_tc_skip(r, type);
            continue;
        }
        l->kind = id;
        sl_tc_enter(r);
        while (sl_tc_next(r, &iid, &itype)) {
            if (id == 5 && (iid == 1 || iid == 2) && itype == SL_TC_I32) {
                int64_t v = sl_tc_int(r, itype);
                if (iid == 1)
                    l->scale = (int)v;
                else
                    l->precision = (int)v;
            } else if (id == 10 && iid == 2 && (itype == SL_TC_TRUE || itype == SL_TC_FALSE)) {
                l->is_unsigned = !sl_tc_bool(r, itype);
            } else if ((id == 8 || id == 7) && iid == 2 && itype == SL_TC_STRUCT) {
                sl_tc_enter(r);
                while (sl_tc_next(r, &uid, &utype)) {
                    l->unit = uid;
                    sl_tc_skip(r, utype);
                }
            } else {
                sl_tc_skip(r, itype);
            }
        }
    }
}

/* A schema element (a leaf column): 0, or SL_EINVAL with why. */
static int read_element(struct sl_tc_reader *r, struct rcol *c, int *children, struct sl_err *err)
{
    int16_t id;
    int type;
    int converted = -1, repetition = PQ_REQUIRED;
    struct logical l = {0};
    c->physical = -1;
    sl_tc_enter(r);
    while (sl_tc_next(r, &id, &type)) {
        if (id == 1 && type == SL_TC_I32) {
            c->physical = (int)sl_tc_int(r, type);
        } else if (id == 2 && type == SL_TC_I32) {
            c->type_length = (int)sl_tc_int(r, type);
        } else if (id == 3 && type == SL_TC_I32) {
            repetition = (int)sl_tc_int(r, type);
        } else if (id == 4 && type == SL_TC_BINARY) {
            size_t n;
            const uint8_t *p = sl_tc_binary_read(r, &n);
            snprintf(c->name, sizeof(c->name), "%.*s", (int)(n < 255 ? n : 255),
                     p ? (const char *)p : "");
        } else if (id == 5 && type == SL_TC_I32) {
            *children = (int)sl_tc_int(r, type);
        } else if (id == 6 && type == SL_TC_I32) {
            converted = (int)sl_tc_int(r, type);
        } else if (id == 7 && type == SL_TC_I32) {
            l.scale = (int)sl_tc_int(r, type);
        } else if (id == 8 && type == SL_TC_I32) {
            l.precision = (int)sl_tc_int(r, type);
        } else if (id == 10 && type == SL_TC_STRUCT) {
            struct logical inner = {0};
            read_logical(r, &inner);
            l.kind = inner.kind;
            l.unit = inner.unit;
            l.is_unsigned = inner.is_unsigned;
            if (inner.kind == 5) {
                l.scale = inner.scale;
                l.precision = inner.precision;
            }
        } else {
            sl_tc_skip(r, type);
        }
    }
    if (r->rc)
        return sl_errf(err, SL_EINVAL, "the footer's schema is malformed");
    if (*children > 0)
        return 0; /* (a group: the caller refuses nesting) */
    if (repetition == PQ_REPEATED)
        return sl_errf(err, SL_EINVAL, "column %s is repeated: nested data is not read", c->name);
    c->c.optional = repetition == PQ_OPTIONAL;
    c->c.name = c->name;
    bool decimal = l.kind == 5 || converted == PQ_CT_DECIMAL;
    c->c.scale = l.scale;
    c->c.precision = l.precision;
    c->divide = 1;
    if (decimal && (l.scale < 0 || l.scale > 18 || l.precision < 0 || l.scale > l.precision))
        return sl_errf(err, SL_EINVAL, "column %s: a decimal of precision %d and scale %d is "
                                       "not read",
                       c->name, l.precision, l.scale);
    switch (c->physical) {
    case PQ_BOOLEAN:
        c->c.type = SL_PQ_BOOL;
        break;
    case PQ_INT32:
        c->c.type = decimal ? SL_PQ_DECIMAL
                    : (l.kind == 6 || converted == PQ_CT_DATE) ? SL_PQ_DATE
                                                                : SL_PQ_INT32;
        /* (uint8..uint32: as their unsigned values, which an int64 holds) */
        c->unsigned32 = (l.kind == 10 && l.is_unsigned) || (converted >= 11 && converted <= 13);
        if (c->unsigned32)
            c->c.type = SL_PQ_INT64;
        break;
    case PQ_INT96:
        /* The old Impala/Spark timestamp: nanoseconds of the day, Julian day. */
        c->c.type = SL_PQ_TIMESTAMP_US;
        break;
    case PQ_INT64:
        if (decimal)
            c->c.type = SL_PQ_DECIMAL;
        else if ((l.kind == 8 && l.unit == 1) || converted == PQ_CT_TIMESTAMP_MILLIS)
            c->c.type = SL_PQ_TIMESTAMP_MS;
        else if ((l.kind == 8 && l.unit == 2) || converted == PQ_CT_TIMESTAMP_MICROS)
            c->c.type = SL_PQ_TIMESTAMP_US;
        else if (l.kind == 8 && l.unit == 3)
            c->c.type = SL_PQ_TIMESTAMP_US, c->divide = 1000; /* (ns: to µs) */
        else if ((l.kind == 10 && l.is_unsigned) || converted == 14 /* UINT_64 */)
            return sl_errf(err, SL_EINVAL,
                           "column %s holds unsigned 64-bit integers, which are not read",
                           c->name);
        else
            c->c.type = SL_PQ_INT64;
        break;
    case PQ_FLOAT:
        c->c.type = SL_PQ_FLOAT;
        break;
    case PQ_DOUBLE:
        c->c.type = SL_PQ_DOUBLE;
        break;
    case PQ_BYTE_ARRAY:
        if (decimal)
            return sl_errf(err, SL_EINVAL, "column %s: byte-array decimals are not read",
                           c->name);
        c->c.type = (l.kind == 1 || l.kind == 4 || l.kind == 12 || converted == PQ_CT_UTF8 ||
                     converted == 4 || converted == 19)
                        ? SL_PQ_STRING
                        : SL_PQ_BINARY;
        break;
    case PQ_FLBA:
        if (c->type_length <= 0)
            return sl_errf(err, SL_EINVAL, "column %s: a fixed length of %d", c->name,
                           c->type_length);
        if (decimal && c->type_length > 8)
            return sl_errf(err, SL_EINVAL, "column %s: decimals over 8 bytes are not read",
                           c->name);
        c->c.type = decimal ? SL_PQ_DECIMAL : SL_PQ_BINARY;
        break;
    default:
        return sl_errf(err, SL_EINVAL, "column %s: physical type %d is not read", c->name,
                       c->physical);
    }
    return 0;
}

static int read_chunk(struct sl_tc_reader *r, struct rchunk *ch)
{
    int16_t id, mid;
    int type, mtype;
    int64_t data_off = -1, dict_off = -1;
    sl_tc_enter(r);
    while (sl_tc_next(r, &id, &type)) {
        if (id != 3 || type != SL_TC_STRUCT) {
            sl_tc_skip(r, type);
            continue;
        }
        sl_tc_enter(r);
        while (sl_tc_next(r, &mid, &mtype)) {
            if (mid == 4 && mtype == SL_TC_I32)
                ch->codec = (int)sl_tc_int(r, mtype);
            else if (mid == 5 && mtype == SL_TC_I64)
                ch->num_values = sl_tc_int(r, mtype);
            else if (mid == 7 && mtype == SL_TC_I64)
                ch->size = sl_tc_int(r, mtype);
            else if (mid == 9 && mtype == SL_TC_I64)
                data_off = sl_tc_int(r, mtype);
            else if (mid == 11 && mtype == SL_TC_I64)
                dict_off = sl_tc_int(r, mtype);
            else
                sl_tc_skip(r, mtype);
        }
    }
    /* (Some writers set a dictionary offset of 0 for none.) */
    ch->offset = dict_off > 0 && dict_off < data_off ? dict_off : data_off;
    return r->rc;
}

int sl_pq_open(const void *data, size_t len, struct sl_pq_file **out, struct sl_err *err)
{
    const uint8_t *d = data;
    if (len < 12 || memcmp(d, "PAR1", 4) != 0 || memcmp(d + len - 4, "PAR1", 4) != 0)
        return sl_errf(err, SL_EINVAL, "not a Parquet file (no PAR1 at its start and end)");
    uint32_t flen;
    memcpy(&flen, d + len - 8, 4);
    if ((size_t)flen > len - 12)
        return sl_errf(err, SL_EINVAL, "the footer's length (%u) is longer than the file",
                       flen);
    struct sl_pq_file *f = calloc(1, sizeof(*f));
    if (!f)
        return SL_ENOMEM;
    f->data = d;
    f->len = len;
    struct sl_tc_reader r;
    sl_tc_reader_init(&r, d + len - 8 - flen, flen);
    int16_t id;
    int type, elem;
    int rc = 0;
    size_t nchunks_seen = 0;
    sl_tc_enter(&r);
    while (!rc && sl_tc_next(&r, &id, &type)) {
        if (id == 2 && type == SL_TC_LIST) {
            size_t n = sl_tc_list(&r, &elem);
            if (elem != SL_TC_STRUCT || n < 2 || f->cols) {
                rc = sl_errf(err, SL_EINVAL, f->cols ? "the footer has two schemas"
                                                     : "the footer's schema has no columns");
                break;
            }
            f->ncols = n - 1;
            f->cols = calloc(f->ncols, sizeof(*f->cols));
            f->columns = calloc(f->ncols, sizeof(*f->columns));
            if (!f->cols || !f->columns) {
                rc = SL_ENOMEM;
                break;
            }
            for (size_t i = 0; i < n && !rc; i++) {
                struct rcol root = {0};
                int children = 0;
                rc = read_element(&r, i ? &f->cols[i - 1] : &root, &children, err);
                if (!rc && i && children > 0)
                    rc = sl_errf(err, SL_EINVAL, "column %s is a group: nested data is not read",
                                 f->cols[i - 1].name);
                if (!rc && !i && (size_t)children != n - 1)
                    rc = sl_errf(err, SL_EINVAL, "the schema's root has %d children, not %zu",
                                 children, n - 1);
            }
        } else if (id == 3 && type == SL_TC_I64) {
            f->nrows = sl_tc_int(&r, type);
        } else if (id == 4 && type == SL_TC_LIST) {
            size_t n = sl_tc_list(&r, &elem);
            if (!f->ncols || elem != SL_TC_STRUCT || f->chunks) {
                rc = sl_errf(err, SL_EINVAL, f->chunks ? "the footer has two lists of row groups"
                                                       : "the footer's row groups come before "
                                                         "its schema");
                break;
            }
            f->ngroups = n;
            f->group_rows = calloc(n ? n : 1, sizeof(*f->group_rows));
            f->chunks = calloc(n ? n * f->ncols : 1, sizeof(*f->chunks));
            if (!f->group_rows || !f->chunks) {
                rc = SL_ENOMEM;
                break;
            }
            for (size_t g = 0; g < n && !rc; g++) {
                int16_t gid;
                int gtype;
                sl_tc_enter(&r);
                while (!rc && sl_tc_next(&r, &gid, &gtype)) {
                    if (gid == 1 && gtype == SL_TC_LIST) {
                        size_t nc = sl_tc_list(&r, &elem);
                        if (nc != f->ncols || elem != SL_TC_STRUCT) {
                            rc = sl_errf(err, SL_EINVAL,
                                         "row group %zu has %zu column chunks, not %zu", g, nc,
                                         f->ncols);
                            break;
                        }
                        for (size_t c = 0; c < nc && !rc; c++)
                            rc = read_chunk(&r, &f->chunks[g * f->ncols + c]);
                        nchunks_seen += nc;
                    } else if (gid == 3 && gtype == SL_TC_I64) {
                        f->group_rows[g] = sl_tc_int(&r, gtype);
                    } else {
                        sl_tc_skip(&r, gtype);
                    }
                }
            }
        } else {
            sl_tc_skip(&r, type);
        }
    }
    if (!rc && r.rc)
        rc = sl_errf(err, SL_EINVAL, "the footer is malformed");
    if (!rc && nchunks_seen != f->ngroups * f->ncols)
        rc = sl_errf(err, SL_EINVAL, "the footer's row groups lack column chunks");
    for (size_t g = 0; !rc && g < f->ngroups; g++) {
        if (f->group_rows[g] < 0)
            rc = sl_errf(err, SL_EINVAL, "row group %zu has %lld rows", g,
                         (long long)f->group_rows[g]);
        for (size_t c = 0; !rc && c < f->ncols; c++) {
            const struct rchunk *ch = &f->chunks[g * f->ncols + c];
            uint64_t data_end = len - 8 - flen; /* (where the footer begins) */
            if (ch->offset < 4 || ch->size < 0 || (uint64_t)ch->offset > data_end ||
                (uint64_t)ch->size > data_end - (uint64_t)ch->offset)
                rc = sl_errf(err, SL_EINVAL, "row group %zu: column %s's chunk is outside the "
                                             "file",
                             g, f->cols[c].name);
            else if (pq_codec_from_id(ch->codec) < 0)
                rc = sl_errf(err, SL_EINVAL, "column %s: compression codec %d is not read",
                             f->cols[c].name, ch->codec);
        }
    }
    if (rc) {
        sl_pq_close(f);
        return rc == SL_EINVAL || rc == SL_ENOMEM ? rc : SL_EINVAL;
    }
    for (size_t i = 0; i < f->ncols; i++)
        f->columns[i] = f->cols[i].c;
    *out = f;
    return 0;
}

/* ---- pages ---------------------------------------------------------------------------------- */

struct page_hdr {
    int type;
    int64_t uncompressed, compressed;
    int64_t num_values, num_nulls, num_rows;
    int encoding, def_encoding;
    int64_t def_len, rep_len;
    bool v2_compressed;
};

static int read_page_header(struct sl_tc_reader *r, struct page_hdr *h)
{
    int16_t id, sid;
    int type, stype;
    memset(h, 0, sizeof(*h));
    h->type = -1;
    h->v2_compressed = true;
    h->def_encoding = PQ_ENC_RLE;
    sl_tc_enter(r);
    while (sl_tc_next(r, &id, &type)) {
        if (id == 1 && type == SL_TC_I32)
            h->type = (int)sl_tc_int(r, type);
        else if (id == 2 && type == SL_TC_I32)
            h->uncompressed = sl_tc_int(r, type);
        else if (id == 3 && type == SL_TC_I32)
            h->compressed = sl_tc_int(r, type);
        else if ((id == 5 || id == 7 || id == 8) && type == SL_TC_STRUCT) {
            sl_tc_enter(r);
            while (sl_tc_next(r, &sid, &stype)) {
                if (stype == SL_TC_TRUE || stype == SL_TC_FALSE) {
                    if (id == 8 && sid == 7)
                        h->v2_compressed = sl_tc_bool(r, stype);
                    continue;
                }
                if (stype != SL_TC_I32) {
                    sl_tc_skip(r, stype);
                    continue;
                }
                int64_t v = sl_tc_int(r, stype);
                if (sid == 1)
                    h->num_values = v;
                else if (id == 5 && sid == 2)
                    h->encoding = (int)v;
                else if (id == 5 && sid == 3)
                    h->def_encoding = (int)v;
                else if (id == 7 && sid == 2)
                    h->encoding = (int)v;
                else if (id == 8 && sid == 2)
                    h->num_nulls = v;
                else if (id == 8 && sid == 3)
                    h->num_rows = v;
                else if (id == 8 && sid == 4)
                    h->encoding = (int)v;
                else if (id == 8 && sid == 5)
                    h->def_len = v;
                else if (id == 8 && sid == 6)
                    h->rep_len = v;
            }
        } else {
            sl_tc_skip(r, type);
        }
    }
    /* (Every one is an i32 of the format: out of that range, malformed.) */
    int64_t all[] = {h->compressed, h->uncompressed, h->num_values, h->num_nulls, h->num_rows,
                     h->def_len, h->rep_len};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (all[i] < 0 || all[i] > INT32_MAX)
            return SL_EINVAL;
    if (r->rc)
        return SL_EINVAL;
    return 0;
}

/* The state of one column chunk's decoding. */
struct decoding {
    const struct rcol *col;
    struct sl_pq_value *dict;
    size_t ndict;
    struct sl_pq_value *out; /* the group's values of this column */
    size_t nrows, filled;
};

/* Decodes n PLAIN values from p[0..len) into vals: 0 or SL_EINVAL. */
static int plain(const struct rcol *c, const uint8_t *p, size_t len, size_t n,
                 struct sl_pq_value *vals, size_t *used)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        struct sl_pq_value *v = &vals[i];
        memset(v, 0, sizeof(*v));
        switch (c->physical) {
        case PQ_BOOLEAN:
            if (i / 8 >= len)
                return SL_EINVAL;
            v->b = p[i / 8] >> (i % 8) & 1;
            at = i / 8 + 1;
            break;
        case PQ_INT32: {
            int32_t x;
            if (len - at < 4)
                return SL_EINVAL;
            memcpy(&x, p + at, 4);
            at += 4;
            v->i64 = c->unsigned32 ? (int64_t)(uint32_t)x : x;
            break;
        }
        case PQ_INT64:
            if (len - at < 8)
                return SL_EINVAL;
            memcpy(&v->i64, p + at, 8);
            at += 8;
            if (c->divide > 1)
                v->i64 = v->i64 / c->divide - (v->i64 % c->divide < 0);
            break;
        case PQ_INT96: {
            int64_t nanos;
            int32_t julian;
            if (len - at < 12)
                return SL_EINVAL;
            memcpy(&nanos, p + at, 8);
            memcpy(&julian, p + at + 8, 4);
            at += 12;
            /* (Days past int64's microseconds either way are refused.) */
            if (nanos < 0 || nanos >= 86400LL * 1000000000LL ||
                (int64_t)julian - 2440588 > 106751990 || (int64_t)julian - 2440588 < -106751990)
                return SL_EINVAL;
            v->i64 = ((int64_t)julian - 2440588) * 86400LL * 1000000 + nanos / 1000;
            break;
        }
        case PQ_FLOAT: {
            float x;
            if (len - at < 4)
                return SL_EINVAL;
            memcpy(&x, p + at, 4);
            at += 4;
            v->d = x;
            break;
        }
        case PQ_DOUBLE:
            if (len - at < 8)
                return SL_EINVAL;
            memcpy(&v->d, p + at, 8);
            at += 8;
            break;
        case PQ_BYTE_ARRAY: {
            uint32_t n32;
            if (len - at < 4)
                return SL_EINVAL;
            memcpy(&n32, p + at, 4);
            at += 4;
            if (len - at < n32)
                return SL_EINVAL;
            v->s = (const char *)p + at;
            v->n = n32;
            at += n32;
            break;
        }
        case PQ_FLBA: {
            size_t tl = (size_t)c->type_length;
            if (len - at < tl)
                return SL_EINVAL;
            if (c->c.type == SL_PQ_DECIMAL) {
                /* Big-endian two's complement. */
                int64_t x = (p[at] & 0x80) ? -1 : 0;
                for (size_t k = 0; k < tl; k++)
                    x = (int64_t)((uint64_t)x << 8 | p[at + k]);
                v->i64 = x;
            } else {
                v->s = (const char *)p + at;
                v->n = tl;
            }
            at += tl;
            break;
        }
        default:
            return SL_EINVAL;
        }
    }
    if (used)
        *used = at;
    return 0;
}

/* Places the page's values (n_present of them in vals, nulls where defs
 * says 0) at the end of the column's rows. */
static int place(struct decoding *dc, const uint32_t *defs, size_t nrows,
                 const struct sl_pq_value *vals, size_t npresent)
{
    if (dc->filled + nrows > dc->nrows)
        return SL_EINVAL;
    size_t k = 0;
    for (size_t i = 0; i < nrows; i++) {
        struct sl_pq_value *v = &dc->out[dc->filled + i];
        if (defs && !defs[i]) {
            memset(v, 0, sizeof(*v));
            v->null = true;
            continue;
        }
        if (k >= npresent)
            return SL_EINVAL;
        *v = vals[k++];
    }
    dc->filled += nrows;
    return 0;
}

/* One data page's body (levels then values, uncompressed). */
static int data_page(struct decoding *dc, const struct page_hdr *h, const uint8_t *levels,
                     size_t levels_len, const uint8_t *values, size_t values_len,
                     struct sl_err *err)
{
    const struct rcol *c = dc->col;
    size_t nrows = (size_t)h->num_values;
    if (nrows > dc->nrows - dc->filled)
        return sl_errf(err, SL_EINVAL, "column %s: a page has more values than its row group",
                       c->name);
    uint32_t *defs = NULL;
    struct sl_pq_value *vals = calloc(nrows ? nrows : 1, sizeof(*vals));
    size_t present = nrows;
    int rc = vals ? 0 : SL_ENOMEM;
    if (!rc && c->c.optional) {
        defs = calloc(nrows ? nrows : 1, sizeof(*defs));
        rc = defs ? pq_hybrid_decode(levels, levels_len, 1, nrows, defs) : SL_ENOMEM;
        present = 0;
        for (size_t i = 0; !rc && i < nrows; i++) {
            if (defs[i] > 1)
                rc = SL_EINVAL;
            present += defs[i];
        }
    }
    if (!rc) {
        if (h->encoding == PQ_ENC_PLAIN) {
            rc = plain(c, values, values_len, present, vals, NULL);
        } else if (h->encoding == PQ_ENC_RLE_DICTIONARY || h->encoding == PQ_ENC_PLAIN_DICTIONARY) {
            uint32_t *idx = calloc(present ? present : 1, sizeof(*idx));
            rc = idx ? 0 : SL_ENOMEM;
            if (!rc && present && (values_len < 1 ||
                                   pq_hybrid_decode(values + 1, values_len - 1, values[0],
                                                    present, idx)))
                rc = SL_EINVAL;
            for (size_t i = 0; !rc && i < present; i++) {
                if (idx[i] >= dc->ndict)
                    rc = SL_EINVAL;
                else
                    vals[i] = dc->dict[idx[i]];
            }
            free(idx);
        } else if (h->encoding == PQ_ENC_RLE && c->physical == PQ_BOOLEAN) {
            uint32_t *bits = calloc(present ? present : 1, sizeof(*bits));
            uint32_t blen = 0;
            rc = bits ? 0 : SL_ENOMEM;
            const uint8_t *bp = values;
            size_t bl = values_len;
            if (!rc) {
                /* (RLE values: a 4-byte length first, in v1 and v2 pages) */
                if (bl < 4)
                    rc = SL_EINVAL;
                else {
                    memcpy(&blen, bp, 4);
                    bp += 4;
                    bl -= 4;
                    if (blen < bl)
                        bl = blen;
                }
            }
            if (!rc && present)
                rc = pq_hybrid_decode(bp, bl, 1, present, bits) ? SL_EINVAL : 0;
            for (size_t i = 0; !rc && i < present; i++) {
                memset(&vals[i], 0, sizeof(vals[i]));
                vals[i].b = bits[i] != 0;
            }
            free(bits);
        } else {
            rc = sl_errf(err, SL_EINVAL, "column %s: encoding %d is not read", c->name,
                         h->encoding);
        }
    }
    if (!rc)
        rc = place(dc, defs, nrows, vals, present);
    if (rc == SL_EINVAL && !err->msg[0])
        sl_errf(err, SL_EINVAL, "column %s: a data page is malformed", c->name);
    free(defs);
    free(vals);
    return rc;
}

/* Keeps buf's bytes alive until the group is handed out. */
struct keep {
    struct sl_buf *bufs;
    size_t n, cap;
    uint64_t bytes; /* the group's decompressed pages so far */
};

static struct sl_buf *keep_new(struct keep *k)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        struct sl_buf *b = realloc(k->bufs, cap * sizeof(*b));
        if (!b)
            return NULL;
        k->bufs = b;
        k->cap = cap;
    }
    struct sl_buf *b = &k->bufs[k->n++];
    sl_buf_init(b, 0);
    return b;
}

static void keep_free(struct keep *k)
{
    for (size_t i = 0; i < k->n; i++)
        sl_buf_free(&k->bufs[i]);
    free(k->bufs);
    memset(k, 0, sizeof(*k));
}

static int read_chunk_pages(struct sl_pq_file *f, const struct rchunk *ch, struct decoding *dc,
                            struct keep *keep, struct sl_err *err)
{
    const struct rcol *c = dc->col;
    enum sl_pq_codec codec = (enum sl_pq_codec)pq_codec_from_id(ch->codec);
    const uint8_t *p = f->data + ch->offset, *end = p + ch->size;
    while (p < end && dc->filled < dc->nrows) {
        struct sl_tc_reader r;
        sl_tc_reader_init(&r, p, (size_t)(end - p));
        struct page_hdr h;
        if (read_page_header(&r, &h))
            return sl_errf(err, SL_EINVAL, "column %s: a page header is malformed", c->name);
        p += sl_tc_consumed(&r, p);
        if (h.compressed > end - p)
            return sl_errf(err, SL_EINVAL, "column %s: a page runs past its chunk", c->name);
        const uint8_t *body = p;
        p += h.compressed;
        keep->bytes += (uint64_t)h.uncompressed;
        if (keep->bytes > READ_BUDGET)
            return sl_errf(err, SL_EINVAL, "row group's pages decompress to more than %llu "
                                           "bytes: not read",
                           (unsigned long long)READ_BUDGET);
        struct sl_buf *raw = keep_new(keep);
        if (!raw)
            return SL_ENOMEM;
        int rc = 0;
        if (h.type == PQ_PAGE_DICTIONARY) {
            rc = pq_decompress(codec, body, (size_t)h.compressed, (size_t)h.uncompressed, raw);
            if (!rc && (h.num_values < 0 || (uint64_t)h.num_values > raw->len * 8 + 8))
                rc = SL_EINVAL;
            struct sl_pq_value *d = rc ? NULL : calloc(h.num_values ? (size_t)h.num_values : 1,
                                                       sizeof(*d));
            if (!rc && !d)
                rc = SL_ENOMEM;
            if (!rc)
                rc = plain(c, (const uint8_t *)raw->data, raw->len, (size_t)h.num_values, d,
                           NULL);
            if (rc) {
                free(d);
                return rc == SL_ENOMEM ? rc
                                       : sl_errf(err, SL_EINVAL,
                                                 "column %s: its dictionary page is malformed",
                                                 c->name);
            }
            free(dc->dict);
            dc->dict = d;
            dc->ndict = (size_t)h.num_values;
        } else if (h.type == PQ_PAGE_DATA) {
            rc = pq_decompress(codec, body, (size_t)h.compressed, (size_t)h.uncompressed, raw);
            if (rc)
                return rc == SL_ENOMEM ? rc
                                       : sl_errf(err, SL_EINVAL,
                                                 "column %s: a page does not decompress",
                                                 c->name);
            const uint8_t *q = (const uint8_t *)raw->data;
            size_t qlen = raw->len, llen = 0;
            const uint8_t *levels = q;
            if (c->c.optional) {
                uint32_t n32;
                if (qlen < 4)
                    return sl_errf(err, SL_EINVAL, "column %s: a page lacks its levels", c->name);
                memcpy(&n32, q, 4);
                if (n32 > qlen - 4)
                    return sl_errf(err, SL_EINVAL, "column %s: its levels run past the page",
                                   c->name);
                levels = q + 4;
                llen = n32;
                q += 4 + n32;
                qlen -= 4 + (size_t)n32;
            }
            rc = data_page(dc, &h, levels, llen, q, qlen, err);
        } else if (h.type == PQ_PAGE_DATA_V2) {
            if (h.def_len + h.rep_len > h.compressed || h.def_len + h.rep_len > h.uncompressed)
                return sl_errf(err, SL_EINVAL, "column %s: a page's levels run past it", c->name);
            if (h.rep_len)
                return sl_errf(err, SL_EINVAL, "column %s: repetition levels (nested data) "
                                               "are not read",
                               c->name);
            size_t lv = (size_t)h.def_len;
            size_t vlen = (size_t)(h.compressed - h.def_len - h.rep_len);
            size_t want = (size_t)(h.uncompressed - h.def_len - h.rep_len);
            rc = pq_decompress(h.v2_compressed ? codec : SL_PQ_UNCOMPRESSED,
                               body + lv + h.rep_len, vlen, want, raw);
            if (rc)
                return rc == SL_ENOMEM ? rc
                                       : sl_errf(err, SL_EINVAL,
                                                 "column %s: a page does not decompress",
                                                 c->name);
            rc = data_page(dc, &h, body, lv, (const uint8_t *)raw->data, raw->len, err);
        } else {
            /* (Index pages and the like: skipped.) */
        }
        if (rc)
            return rc;
    }
    if (dc->filled != dc->nrows)
        return sl_errf(err, SL_EINVAL, "column %s: its pages hold %zu of the row group's %zu "
                                       "rows",
                       c->name, dc->filled, dc->nrows);
    return 0;
}

int sl_pq_read(struct sl_pq_file *f, sl_pq_group_fn fn, void *arg, struct sl_err *err)
{
    int rc = 0;
    for (size_t g = 0; g < f->ngroups && !rc; g++) {
        size_t nrows = (size_t)f->group_rows[g];
        if (f->group_rows[g] > (int64_t)f->len * 8 ||
            (uint64_t)nrows * f->ncols * sizeof(struct sl_pq_value) > READ_BUDGET)
            return sl_errf(err, SL_EINVAL, "row group %zu's %lld rows of %zu columns are more "
                                           "than Sluice reads at once",
                           g, (long long)f->group_rows[g], f->ncols);
        struct sl_pq_value **cols = calloc(f->ncols, sizeof(*cols));
        struct keep keep = {0};
        rc = cols ? 0 : SL_ENOMEM;
        for (size_t c = 0; c < f->ncols && !rc; c++) {
            cols[c] = calloc(nrows ? nrows : 1, sizeof(**cols));
            if (!cols[c]) {
                rc = SL_ENOMEM;
                break;
            }
            struct decoding dc = {.col = &f->cols[c], .out = cols[c], .nrows = nrows};
            rc = read_chunk_pages(f, &f->chunks[g * f->ncols + c], &dc, &keep, err);
            free(dc.dict);
        }
        if (!rc) {
            struct sl_pq_group grp = {.nrows = nrows, .ncols = f->ncols, .columns = f->columns,
                                      .cols = cols};
            rc = fn(arg, &grp);
        }
        for (size_t c = 0; cols && c < f->ncols; c++)
            free(cols[c]);
        free(cols);
        keep_free(&keep);
    }
    return rc;
}
