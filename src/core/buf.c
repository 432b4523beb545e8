/* Capped growable buffers and the per-request arena. */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_buf_init(struct sl_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : SIZE_MAX / 2;
}

void sl_buf_free(struct sl_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void sl_buf_reset(struct sl_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Makes room for n more bytes plus the terminator. */
static int buf_reserve(struct sl_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return SL_ETOOBIG;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return SL_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

char *sl_buf_extend(struct sl_buf *b, size_t n)
{
    if (buf_reserve(b, n))
        return NULL;
    char *p = b->data + b->len;
    b->len += n;
    b->data[b->len] = '\0';
    return p;
}

int sl_buf_append(struct sl_buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int sl_buf_puts(struct sl_buf *b, const char *s)
{
    return sl_buf_append(b, s, strlen(s));
}

int sl_buf_putc(struct sl_buf *b, char c)
{
    return sl_buf_append(b, &c, 1);
}

int sl_buf_vprintf(struct sl_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return SL_EINVAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int sl_buf_printf(struct sl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sl_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *sl_buf_steal(struct sl_buf *b, size_t *len)
{
    char *p = b->data;
    if (!p)
        p = calloc(1, 1);
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

/* ---- fixed-buffer text ---- */

void sl_text_init(struct sl_text *t, char *p, size_t cap)
{
    t->p = p;
    t->len = 0;
    t->cap = cap;
    t->over = cap == 0;
    if (cap)
        p[0] = '\0';
}

void sl_text_mem(struct sl_text *t, const void *s, size_t n)
{
    if (!t->cap)
        return;
    size_t room = t->cap - 1 - t->len;
    if (n > room) {
        n = room;
        t->over = true;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

void sl_text_str(struct sl_text *t, const char *s)
{
    sl_text_mem(t, s, strlen(s));
}

void sl_text_u64(struct sl_text *t, uint64_t v, unsigned width)
{
    char d[24];
    size_t i = sizeof(d);
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (sizeof(d) - i < width && i)
        d[--i] = '0';
    sl_text_mem(t, d + i, sizeof(d) - i);
}

void sl_text_i64(struct sl_text *t, int64_t v)
{
    if (v < 0)
        sl_text_mem(t, "-", 1);
    sl_text_u64(t, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 0);
}

void sl_text_hex(struct sl_text *t, uint64_t v, unsigned width)
{
    char d[16];
    size_t i = sizeof(d);
    do {
        d[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v && i);
    while (sizeof(d) - i < width && i)
        d[--i] = '0';
    sl_text_mem(t, d + i, sizeof(d) - i);
}

void sl_text_fixed(struct sl_text *t, double v, unsigned decimals)
{
    static const uint64_t scale[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    if (decimals > 6)
        decimals = 6;
    if (!(v >= 0)) /* negative or NaN */
        v = 0;
    if (v > 1e12)
        v = 1e12;
    uint64_t units = (uint64_t)(v * (double)scale[decimals] + 0.5);
    sl_text_u64(t, units / scale[decimals], 0);
    if (!decimals)
        return;
    sl_text_mem(t, ".", 1);
    sl_text_u64(t, units % scale[decimals], decimals); /* zero-padded to width */
}

/* ---- arena ---- */

struct sl_arena_chunk {
    struct sl_arena_chunk *next;
    size_t size, used;
    _Alignas(max_align_t) unsigned char mem[];
};

#define ARENA_CHUNK 4096

void sl_arena_init(struct sl_arena *a, size_t max)
{
    a->head = NULL;
    a->used = 0;
    a->max = max;
}

void sl_arena_free(struct sl_arena *a)
{
    if (!a)
        return;
    struct sl_arena_chunk *c = a->head;
    while (c) {
        struct sl_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}

void *sl_arena_alloc(struct sl_arena *a, size_t n)
{
    size_t align = _Alignof(max_align_t);
    if (n > SIZE_MAX / 4)
        return NULL; /* rounding up and the chunk header would overflow */
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    if (a->max && (n > a->max || a->used > a->max - n))
        return NULL;
    struct sl_arena_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = n > ARENA_CHUNK / 2 ? n : ARENA_CHUNK;
        c = malloc(sizeof(*c) + size);
        if (!c)
            return NULL;
        c->size = size;
        c->used = 0;
        if (n > ARENA_CHUNK / 2 && a->head) {
            /* A big allocation gets its own chunk behind the current one,
             * so the current one keeps serving small requests. */
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->mem + c->used;
    c->used += n;
    a->used += n;
    memset(p, 0, n);
    return p;
}

char *sl_arena_strndup(struct sl_arena *a, const char *s, size_t n)
{
    char *p = sl_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *sl_arena_strdup(struct sl_arena *a, const char *s)
{
    return sl_arena_strndup(a, s, strlen(s));
}

char *sl_arena_printf(struct sl_arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n < 0 ? NULL : sl_arena_alloc(a, (size_t)n + 1);
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}
