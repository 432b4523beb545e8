/*
 * The compact protocol (thrift.h): varints of zigzagged integers, field
 * headers as deltas of ids, lists with their size in the header byte.
 */
#include "formats/thrift.h"

#include <string.h>

/* ---- writing ----------------------------------------------------------------------- */

void sl_tc_writer_init(struct sl_tc_writer *w, struct sl_buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

static void put(struct sl_tc_writer *w, const void *p, size_t n)
{
    if (!w->rc)
        w->rc = sl_buf_append(w->out, p, n);
}

int sl_varint_put(struct sl_buf *out, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    return sl_buf_append(out, b, n);
}

static void varint(struct sl_tc_writer *w, uint64_t v)
{
    if (!w->rc)
        w->rc = sl_varint_put(w->out, v);
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

void sl_tc_field(struct sl_tc_writer *w, int16_t id, int type)
{
    int16_t *last = &w->last[w->depth];
    int delta = id - *last;
    if (delta > 0 && delta <= 15) {
        uint8_t b = (uint8_t)(delta << 4 | type);
        put(w, &b, 1);
    } else {
        uint8_t b = (uint8_t)type;
        put(w, &b, 1);
        varint(w, zigzag(id));
    }
    *last = id;
}

void sl_tc_field_bool(struct sl_tc_writer *w, int16_t id, bool v)
{
    sl_tc_field(w, id, v ? SL_TC_TRUE : SL_TC_FALSE);
}

void sl_tc_field_i32(struct sl_tc_writer *w, int16_t id, int32_t v)
{
    sl_tc_field(w, id, SL_TC_I32);
    varint(w, zigzag(v));
}

void sl_tc_field_i64(struct sl_tc_writer *w, int16_t id, int64_t v)
{
    sl_tc_field(w, id, SL_TC_I64);
    varint(w, zigzag(v));
}

void sl_tc_field_binary(struct sl_tc_writer *w, int16_t id, const void *p, size_t n)
{
    sl_tc_field(w, id, SL_TC_BINARY);
    sl_tc_binary(w, p, n);
}

void sl_tc_field_string(struct sl_tc_writer *w, int16_t id, const char *s)
{
    sl_tc_field_binary(w, id, s, strlen(s));
}

void sl_tc_struct_begin(struct sl_tc_writer *w)
{
    if (w->depth + 1 >= SL_TC_DEPTH) {
        w->rc = w->rc ? w->rc : SL_EINVAL;
        return;
    }
    w->last[++w->depth] = 0;
}

void sl_tc_field_struct(struct sl_tc_writer *w, int16_t id)
{
    sl_tc_field(w, id, SL_TC_STRUCT);
    sl_tc_struct_begin(w);
}

void sl_tc_struct_end(struct sl_tc_writer *w)
{
    uint8_t stop = SL_TC_STOP;
    put(w, &stop, 1);
    if (w->depth > 0)
        w->depth--;
}

void sl_tc_field_list(struct sl_tc_writer *w, int16_t id, int type, size_t n)
{
    sl_tc_field(w, id, SL_TC_LIST);
    if (n < 15) {
        uint8_t b = (uint8_t)(n << 4 | (size_t)type);
        put(w, &b, 1);
    } else {
        uint8_t b = (uint8_t)(0xF0 | type);
        put(w, &b, 1);
        varint(w, n);
    }
}

void sl_tc_i32(struct sl_tc_writer *w, int32_t v)
{
    varint(w, zigzag(v));
}

void sl_tc_i64(struct sl_tc_writer *w, int64_t v)
{
    varint(w, zigzag(v));
}

void sl_tc_binary(struct sl_tc_writer *w, const void *p, size_t n)
{
    varint(w, n);
    put(w, p, n);
}

/* ---- reading ----------------------------------------------------------------------- */

void sl_tc_reader_init(struct sl_tc_reader *r, const void *p, size_t n)
{
    memset(r, 0, sizeof(*r));
    r->p = p;
    r->end = r->p + n;
    r->depth = -1;
}

static void bad(struct sl_tc_reader *r)
{
    r->rc = SL_EINVAL;
    r->p = r->end;
}

static uint64_t read_varint(struct sl_tc_reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            bad(r);
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return v;
    }
    bad(r);
    return 0;
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

void sl_tc_enter(struct sl_tc_reader *r)
{
    if (r->depth + 1 >= SL_TC_DEPTH) {
        bad(r);
        return;
    }
    r->last[++r->depth] = 0;
}

bool sl_tc_next(struct sl_tc_reader *r, int16_t *id, int *type)
{
    if (r->rc || r->depth < 0)
        return false;
    if (r->p >= r->end) {
        bad(r);
        return false;
    }
    uint8_t b = *r->p++;
    if (b == SL_TC_STOP) {
        r->depth--;
        return false;
    }
    *type = b & 0x0F;
    int delta = b >> 4;
    if (delta) {
        *id = (int16_t)(r->last[r->depth] + delta);
    } else {
        int64_t v = unzigzag(read_varint(r));
        if (v < INT16_MIN || v > INT16_MAX) {
            bad(r);
            return false;
        }
        *id = (int16_t)v;
    }
    r->last[r->depth] = *id;
    if (*type == SL_TC_TRUE || *type == SL_TC_FALSE)
        r->bool_value = *type == SL_TC_TRUE;
    return !r->rc;
}

int64_t sl_tc_int(struct sl_tc_reader *r, int type)
{
    if (type == SL_TC_I8) {
        if (r->p >= r->end) {
            bad(r);
            return 0;
        }
        return (int8_t)*r->p++;
    }
    if (type != SL_TC_I16 && type != SL_TC_I32 && type != SL_TC_I64) {
        sl_tc_skip(r, type);
        bad(r);
        return 0;
    }
    return unzigzag(read_varint(r));
}

bool sl_tc_bool(struct sl_tc_reader *r, int type)
{
    if (type != SL_TC_TRUE && type != SL_TC_FALSE)
        bad(r);
    return r->bool_value;
}

double sl_tc_double(struct sl_tc_reader *r)
{
    double d = 0;
    if (r->end - r->p < 8) {
        bad(r);
        return 0;
    }
    memcpy(&d, r->p, 8);
    r->p += 8;
    return d;
}

const uint8_t *sl_tc_binary_read(struct sl_tc_reader *r, size_t *n)
{
    uint64_t len = read_varint(r);
    if (r->rc || len > (uint64_t)(r->end - r->p)) {
        bad(r);
        *n = 0;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += len;
    *n = (size_t)len;
    return p;
}

size_t sl_tc_list(struct sl_tc_reader *r, int *elem)
{
    if (r->p >= r->end) {
        bad(r);
        return 0;
    }
    uint8_t b = *r->p++;
    *elem = b & 0x0F;
    size_t n = b >> 4;
    if (n == 15) {
        uint64_t v = read_varint(r);
        /* (Each element takes a byte at least.) */
        if (v > (uint64_t)(r->end - r->p)) {
            bad(r);
            return 0;
        }
        n = (size_t)v;
    }
    return r->rc ? 0 : n;
}

void sl_tc_skip(struct sl_tc_reader *r, int type)
{
    if (r->rc)
        return;
    size_t n;
    int16_t id;
    int t, elem;
    switch (type) {
    case SL_TC_TRUE:
    case SL_TC_FALSE:
        break; /* (a field's: its value is its header) */
    case SL_TC_I8:
        if (r->p >= r->end)
            bad(r);
        else
            r->p++;
        break;
    case SL_TC_I16:
    case SL_TC_I32:
    case SL_TC_I64:
        read_varint(r);
        break;
    case SL_TC_DOUBLE:
        sl_tc_double(r);
        break;
    case SL_TC_BINARY:
        sl_tc_binary_read(r, &n);
        break;
    case SL_TC_LIST:
    case SL_TC_SET:
        /* (Containers count as depth too: nesting is bounded.) */
        if (r->depth + 1 >= SL_TC_DEPTH) {
            bad(r);
            break;
        }
        r->depth++;
        n = sl_tc_list(r, &elem);
        for (size_t i = 0; i < n && !r->rc; i++) {
            if (elem == SL_TC_TRUE || elem == SL_TC_FALSE)
                sl_tc_skip(r, SL_TC_I8); /* (a list's bools take a byte each) */
            else
                sl_tc_skip(r, elem);
        }
        r->depth--;
        break;
    case SL_TC_MAP: {
        if (r->depth + 1 >= SL_TC_DEPTH) {
            bad(r);
            break;
        }
        uint64_t count = read_varint(r);
        if (!count)
            break;
        if (r->p >= r->end || count > (uint64_t)(r->end - r->p)) {
            bad(r);
            break;
        }
        uint8_t kv = *r->p++;
        r->depth++;
        int kt = kv >> 4, vt = kv & 0x0F;
        /* (A map's bools take a byte each, as a list's do.) */
        if (kt == SL_TC_TRUE || kt == SL_TC_FALSE)
            kt = SL_TC_I8;
        if (vt == SL_TC_TRUE || vt == SL_TC_FALSE)
            vt = SL_TC_I8;
        for (uint64_t i = 0; i < count && !r->rc; i++) {
            sl_tc_skip(r, kt);
            sl_tc_skip(r, vt);
        }
        r->depth--;
        break;
    }
    case SL_TC_STRUCT:
        sl_tc_enter(r);
        while (sl_tc_next(r, &id, &t))
            sl_tc_skip(r, t);
        break;
    default:
        bad(r);
        break;
    }
}

size_t sl_tc_consumed(const struct sl_tc_reader *r, const void *start)
{
    return (size_t)(r->p - (const uint8_t *)start);
}
