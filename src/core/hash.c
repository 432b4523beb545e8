/* Hashes: SHA-256, HMAC, MD5, SHA-1 through libcrypto; CRC32 through zlib;
 * CRC32C and CRC64/NVME by hand (table-driven), since neither libcrypto nor
 * zlib provides them. Random bytes and UUIDs. */
#include "core/core.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <zlib.h>

uint32_t sl_fnv1a(uint32_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

void sl_sha256(const void *p, size_t n, uint8_t out[SL_SHA256_LEN])
{
    unsigned int len = 0;
    EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

void sl_hmac_sha256(const void *key, size_t keylen, const void *p, size_t n,
                    uint8_t out[SL_SHA256_LEN])
{
    unsigned int len = 0;
    HMAC(EVP_sha256(), key, (int)keylen, p, n, out, &len);
}

void sl_md5(const void *p, size_t n, uint8_t out[SL_MD5_LEN])
{
    unsigned int len = 0;
    EVP_Digest(p, n, out, &len, EVP_md5(), NULL);
}

static uint32_t crc32c_table[256];

static void crc32c_init_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[i] = c;
    }
}

uint32_t sl_crc32c_update(uint32_t crc, const void *p, size_t n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc32c_init_table);
    const uint8_t *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc32c_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static uint64_t crc64_table[256];

static void crc64_init_table(void)
{
    for (uint64_t i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x9A6C9329AC4BC9B5ull : c >> 1;
        crc64_table[i] = c;
    }
}

uint64_t sl_crc64nvme_update(uint64_t crc, const void *p, size_t n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc64_init_table);
    const uint8_t *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc64_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

int sl_hash_init(struct sl_hash *h, enum sl_hash_alg alg)
{
    h->alg = alg;
    h->ctx = NULL;
    h->crc = 0;
    h->crc64 = 0;
    const EVP_MD *md = NULL;
    switch (alg) {
    case SL_HASH_MD5:
        md = EVP_md5();
        break;
    case SL_HASH_SHA1:
        md = EVP_sha1();
        break;
    case SL_HASH_SHA256:
        md = EVP_sha256();
        break;
    case SL_HASH_CRC32:
    case SL_HASH_CRC32C:
    case SL_HASH_CRC64NVME:
        return 0;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return SL_ENOMEM;
    if (!EVP_DigestInit_ex(ctx, md, NULL)) {
        EVP_MD_CTX_free(ctx);
        return SL_ENOMEM;
    }
    h->ctx = ctx;
    return 0;
}

void sl_hash_update(struct sl_hash *h, const void *p, size_t n)
{
    switch (h->alg) {
    case SL_HASH_CRC32:
        while (n) {
            uInt step = n > 1u << 30 ? 1u << 30 : (uInt)n;
            h->crc = (uint32_t)crc32(h->crc, p, step);
            p = (const char *)p + step;
            n -= step;
        }
        break;
    case SL_HASH_CRC32C:
        h->crc = sl_crc32c_update(h->crc, p, n);
        break;
    case SL_HASH_CRC64NVME:
        h->crc64 = sl_crc64nvme_update(h->crc64, p, n);
        break;
    default:
        EVP_DigestUpdate(h->ctx, p, n);
    }
}

size_t sl_hash_final(struct sl_hash *h, uint8_t *out)
{
    if (h->alg == SL_HASH_CRC64NVME) {
        for (int i = 0; i < 8; i++)
            out[i] = (uint8_t)(h->crc64 >> (56 - 8 * i));
        return 8;
    }
    if (h->alg == SL_HASH_CRC32 || h->alg == SL_HASH_CRC32C) {
        out[0] = (uint8_t)(h->crc >> 24);
        out[1] = (uint8_t)(h->crc >> 16);
        out[2] = (uint8_t)(h->crc >> 8);
        out[3] = (uint8_t)h->crc;
        return 4;
    }
    unsigned int len = 0;
    EVP_DigestFinal_ex(h->ctx, out, &len);
    return len;
}

void sl_hash_close(struct sl_hash *h)
{
    if (h && h->ctx) {
        EVP_MD_CTX_free(h->ctx);
        h->ctx = NULL;
    }
}

void sl_random(void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t got = getrandom(b, n, 0);
        if (got < 0) {
            perror("getrandom");
            abort();
        }
        b += got;
        n -= (size_t)got;
    }
}

void sl_uuid(char *out)
{
    /* The bytes come from getrandom() a pool at a time (one system call
     * per 32 ids, not one per id), per thread. Sluice forks only to exec,
     * so no two processes draw from one pool. */
    static _Thread_local uint8_t pool[512];
    static _Thread_local size_t left;
    if (left < 16) {
        sl_random(pool, sizeof(pool));
        left = sizeof(pool);
    }
    uint8_t *r = pool + sizeof(pool) - left;
    left -= 16;
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[r[i] >> 4];
        *o++ = hex[r[i] & 15];
    }
    *o = '\0';
    memset(r, 0, 16); /* used once */
}
