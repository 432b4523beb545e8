/*
 * What the Parquet writer and reader share (formats/parquet.h): the
 * format's enumerations, the mapping of Sluice's column types to physical,
 * logical and converted types, the RLE/bit-packed hybrid and the codecs.
 */
#ifndef SL_FORMATS_PQCOMMON_H
#define SL_FORMATS_PQCOMMON_H

#include "formats/parquet.h"
#include "formats/thrift.h"

/* parquet.thrift's Type, Encoding, CompressionCodec, PageType,
 * FieldRepetitionType and ConvertedType values. */
enum { PQ_BOOLEAN, PQ_INT32, PQ_INT64, PQ_INT96, PQ_FLOAT, PQ_DOUBLE, PQ_BYTE_ARRAY, PQ_FLBA };
enum {
    PQ_ENC_PLAIN = 0,
    PQ_ENC_PLAIN_DICTIONARY = 2,
    PQ_ENC_RLE = 3,
    PQ_ENC_BIT_PACKED = 4,
    PQ_ENC_RLE_DICTIONARY = 8,
};
enum { PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY, PQ_CODEC_GZIP, PQ_CODEC_ZSTD = 6 };
enum { PQ_PAGE_DATA, PQ_PAGE_INDEX, PQ_PAGE_DICTIONARY, PQ_PAGE_DATA_V2 };
enum { PQ_REQUIRED, PQ_OPTIONAL, PQ_REPEATED };
enum {
    PQ_CT_UTF8 = 0,
    PQ_CT_DECIMAL = 5,
    PQ_CT_DATE = 6,
    PQ_CT_TIMESTAMP_MILLIS = 9,
    PQ_CT_TIMESTAMP_MICROS = 10,
    PQ_CT_INT_32 = 17,
    PQ_CT_INT_64 = 18,
};

/* The physical type of a column. */
int pq_physical(const struct sl_pq_column *c);
/* The file's codec number of ours, and back (-1: not one we take). */
int pq_codec_id(enum sl_pq_codec c);
int pq_codec_from_id(int id);

/* Compresses (or copies) in into out (appended). */
int pq_compress(enum sl_pq_codec c, const void *in, size_t n, struct sl_buf *out);
/* Decompresses in into exactly want bytes appended to out: 0, or
 * SL_EINVAL when the data is not that. */
int pq_decompress(enum sl_pq_codec c, const void *in, size_t n, size_t want, struct sl_buf *out);

/* The RLE/bit-packed hybrid: runs of equal values as RLE runs (levels). */
int pq_rle_runs(const uint8_t *v, size_t n, int width, struct sl_buf *out);
/* All of v in bit-packed groups of 8 (dictionary indices). */
int pq_bitpack(const uint32_t *v, size_t n, int width, struct sl_buf *out);
/* Decodes n values of width bits from p[0..len) into out: 0, or SL_EINVAL. */
int pq_hybrid_decode(const uint8_t *p, size_t len, int width, size_t n, uint32_t *out);
/* Bits needed for values up to max. */
int pq_bit_width(uint32_t max);

#endif
