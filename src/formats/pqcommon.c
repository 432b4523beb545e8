/*
 * The Parquet writer's and reader's shared pieces (pqcommon.h).
 */
#include "formats/pqcommon.h"

#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

int pq_physical(const struct sl_pq_column *c)
{
    switch (c->type) {
    case SL_PQ_BOOL:
        return PQ_BOOLEAN;
    case SL_PQ_INT32:
    case SL_PQ_DATE:
        return PQ_INT32;
    case SL_PQ_INT64:
    case SL_PQ_TIMESTAMP_MS:
    case SL_PQ_TIMESTAMP_US:
        return PQ_INT64;
    case SL_PQ_FLOAT:
        return PQ_FLOAT;
    case SL_PQ_DOUBLE:
        return PQ_DOUBLE;
    case SL_PQ_STRING:
    case SL_PQ_BINARY:
        return PQ_BYTE_ARRAY;
    case SL_PQ_DECIMAL:
        return c->precision <= 9 ? PQ_INT32 : PQ_INT64;
    }
    return PQ_BYTE_ARRAY;
}

int pq_codec_id(enum sl_pq_codec c)
{
    static const int ids[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY, PQ_CODEC_GZIP,
                              PQ_CODEC_ZSTD};
    return ids[c];
}

int pq_codec_from_id(int id)
{
    switch (id) {
    case PQ_CODEC_UNCOMPRESSED:
        return SL_PQ_UNCOMPRESSED;
    case PQ_CODEC_SNAPPY:
        return SL_PQ_SNAPPY;
    case PQ_CODEC_GZIP:
        return SL_PQ_GZIP;
    case PQ_CODEC_ZSTD:
        return SL_PQ_ZSTD;
    default:
        return -1;
    }
}

/* Room for n more bytes at the end of out (its len unchanged). */
static uint8_t *reserve(struct sl_buf *out, size_t n)
{
    uint8_t *p = (uint8_t *)sl_buf_extend(out, n);
    if (p)
        out->len -= n;
    return p;
}

/* n bytes written at the end of out are its now. */
static void grew(struct sl_buf *out, size_t n)
{
    out->len += n;
    out->data[out->len] = '\0';
}

int pq_compress(enum sl_pq_codec c, const void *in, size_t n, struct sl_buf *out)
{
    switch (c) {
    case SL_PQ_UNCOMPRESSED:
        return sl_buf_append(out, in, n);
    case SL_PQ_SNAPPY: {
        size_t cap = snappy_max_compressed_length(n);
        uint8_t *p = reserve(out, cap);
        if (!p)
            return SL_ENOMEM;
        if (snappy_compress(in, n, (char *)p, &cap) != SNAPPY_OK)
            return SL_EIO;
        grew(out, cap);
        return 0;
    }
    case SL_PQ_ZSTD: {
        size_t cap = ZSTD_compressBound(n);
        uint8_t *p = reserve(out, cap);
        if (!p)
            return SL_ENOMEM;
        size_t got = ZSTD_compress(p, cap, in, n, 1);
        if (ZSTD_isError(got))
            return SL_EIO;
        grew(out, got);
        return 0;
    }
    case SL_PQ_GZIP: {
        z_stream z = {0};
        if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return SL_ENOMEM;
        size_t cap = deflateBound(&z, (uLong)n) + 32;
        uint8_t *p = reserve(out, cap);
        if (!p) {
            deflateEnd(&z);
            return SL_ENOMEM;
        }
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)n;
        z.next_out = p;
        z.avail_out = (uInt)cap;
        int rc = deflate(&z, Z_FINISH);
        size_t got = cap - z.avail_out;
        deflateEnd(&z);
        if (rc != Z_STREAM_END)
            return SL_EIO;
        grew(out, got);
        return 0;
    }
    }
    return SL_EINVAL;
}

int pq_decompress(enum sl_pq_codec c, const void *in, size_t n, size_t want, struct sl_buf *out)
{
    size_t len = 0;
    /* (Lengths the data itself states are checked before memory is taken.) */
    if ((c == SL_PQ_UNCOMPRESSED && n != want) ||
        (c == SL_PQ_SNAPPY &&
         (snappy_uncompressed_length(in, n, &len) != SNAPPY_OK || len != want)))
        return SL_EINVAL;
    if (c == SL_PQ_ZSTD) {
        unsigned long long size = ZSTD_getFrameContentSize(in, n);
        if (size != ZSTD_CONTENTSIZE_UNKNOWN && size != want)
            return SL_EINVAL;
    }
    uint8_t *p = reserve(out, want ? want : 1);
    if (!p)
        return SL_ENOMEM;
    switch (c) {
    case SL_PQ_UNCOMPRESSED:
        if (n != want)
            return SL_EINVAL;
        memcpy(p, in, n);
        break;
    case SL_PQ_SNAPPY:
        if (snappy_uncompress(in, n, (char *)p, &len) != SNAPPY_OK || len != want)
            return SL_EINVAL;
        break;
    case SL_PQ_ZSTD: {
        size_t got = ZSTD_decompress(p, want, in, n);
        if (ZSTD_isError(got) || got != want)
            return SL_EINVAL;
        break;
    }
    case SL_PQ_GZIP: {
        z_stream z = {0};
        if (inflateInit2(&z, 15 + 32) != Z_OK)
            return SL_ENOMEM;
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)n;
        z.next_out = p;
        z.avail_out = (uInt)want;
        int rc = inflate(&z, Z_FINISH);
        size_t got = want - z.avail_out;
        inflateEnd(&z);
        if ((rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && z.avail_out == 0)) || got != want)
            return SL_EINVAL;
        break;
    }
    default:
        return SL_EINVAL;
    }
    grew(out, want);
    return 0;
}


int pq_bit_width(uint32_t max)
{
    int w = 0;
    while (max) {
        w++;
        max >>= 1;
    }
    return w;
}

int pq_rle_runs(const uint8_t *v, size_t n, int width, struct sl_buf *out)
{
    size_t bytes = ((size_t)width + 7) / 8;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j] == v[i])
            j++;
        uint8_t val[4] = {v[i], 0, 0, 0};
        int rc = sl_varint_put(out, (uint64_t)(j - i) << 1);
        if (!rc)
            rc = sl_buf_append(out, val, bytes);
        if (rc)
            return rc;
        i = j;
    }
    return 0;
}

int pq_bitpack(const uint32_t *v, size_t n, int width, struct sl_buf *out)
{
    size_t groups = (n + 7) / 8;
    int rc = sl_varint_put(out, (uint64_t)groups << 1 | 1);
    if (rc || !groups)
        return rc;
    size_t bytes = groups * (size_t)width;
    uint8_t *p = reserve(out, bytes);
    if (!p)
        return SL_ENOMEM;
    memset(p, 0, bytes);
    /* LSB first, through an accumulator that never holds more than 7 + 32
     * bits. */
    uint64_t acc = 0, mask = width == 32 ? 0xffffffffu : (1u << width) - 1;
    int have = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= (uint64_t)(v[i] & mask) << have;
        have += width;
        while (have >= 8) {
            p[o++] = (uint8_t)acc;
            acc >>= 8;
            have -= 8;
        }
    }
    if (have)
        p[o] = (uint8_t)acc;
    grew(out, bytes);
    return 0;
}

int pq_hybrid_decode(const uint8_t *p, size_t len, int width, size_t n, uint32_t *out)
{
    if (width < 0 || width > 32)
        return SL_EINVAL;
    const uint8_t *end = p + len;
    size_t got = 0, bytes = ((size_t)width + 7) / 8;
    while (got < n) {
        uint64_t h = 0;
        int shift = 0;
        for (;;) {
            if (p >= end || shift > 63)
                return SL_EINVAL;
            uint8_t b = *p++;
            h |= (uint64_t)(b & 0x7F) << shift;
            shift += 7;
            if (!(b & 0x80))
                break;
        }
        if (h & 1) {
            uint64_t groups = h >> 1;
            /* (Checked by division: the product may not wrap.) */
            if (!groups || groups > (uint64_t)(end - p) / (uint64_t)(width ? width : 1) ||
                groups > SIZE_MAX / 8)
                return SL_EINVAL;
            uint64_t count = groups * 8;
            size_t bit = 0;
            for (uint64_t i = 0; i < count && got < n; i++, bit += (size_t)width) {
                uint32_t v = 0;
                for (int b = 0; b < width; b++)
                    v |= (uint32_t)(p[(bit + (size_t)b) / 8] >> ((bit + (size_t)b) % 8) & 1) << b;
                out[got++] = v;
            }
            p += groups * (uint64_t)width;
        } else {
            uint64_t count = h >> 1;
            if (!count || (size_t)(end - p) < bytes)
                return SL_EINVAL;
            uint32_t v = 0;
            for (size_t b = 0; b < bytes; b++)
                v |= (uint32_t)p[b] << (8 * b);
            p += bytes;
            for (uint64_t i = 0; i < count && got < n; i++)
                out[got++] = v;
        }
    }
    return 0;
}
