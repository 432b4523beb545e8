/* Hex, base64 and URI encodings. */
#include "core/core.h"

#include <openssl/evp.h>
#include <string.h>

void sl_hex_encode(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

int sl_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sl_hex_decode(const char *s, size_t slen, uint8_t *out)
{
    if (slen % 2)
        return SL_EINVAL;
    for (size_t i = 0; i < slen; i += 2) {
        int hi = sl_hex_digit(s[i]), lo = sl_hex_digit(s[i + 1]);
        if (hi < 0 || lo < 0)
            return SL_EINVAL;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

size_t sl_base64_encode_to(char *out, const uint8_t *p, size_t n)
{
    size_t done = 0;
    /* (EVP_EncodeBlock takes an int: large inputs go in slices of whole
     * three-byte groups.) */
    while (n - done > (size_t)3 << 28) {
        size_t k = (size_t)3 << 28;
        EVP_EncodeBlock((unsigned char *)out + done / 3 * 4, p + done, (int)k);
        done += k;
    }
    out[done / 3 * 4] = '\0';
    if (n > done)
        EVP_EncodeBlock((unsigned char *)out + done / 3 * 4, p + done, (int)(n - done));
    return 4 * ((n + 2) / 3);
}

int sl_base64_encode(struct sl_buf *b, const uint8_t *p, size_t n)
{
    size_t need = 4 * ((n + 2) / 3);
    if (need > b->max || b->len > b->max - need)
        return SL_ETOOBIG;
    char *out = sl_buf_extend(b, need);
    if (!out)
        return SL_ENOMEM;
    sl_base64_encode_to(out, p, n);
    return 0;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int sl_base64_decode(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen)
{
    if (slen % 4)
        return SL_EINVAL;
    size_t need = slen / 4 * 3;
    if (slen && s[slen - 1] == '=')
        need -= (s[slen - 2] == '=') ? 2 : 1;
    if (out && need > cap)
        return SL_ETOOBIG;
    size_t o = 0;
    for (size_t i = 0; i < slen; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = s[i + k];
            if (c == '=' && i + 4 == slen && k >= 2) {
                v[k] = 0;
                pad++;
            } else {
                if (pad)
                    return SL_EINVAL;
                v[k] = b64_value(c);
                if (v[k] < 0)
                    return SL_EINVAL;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        if (!out) { /* (a check: only the length) */
            o += (size_t)(3 - pad);
            continue;
        }
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
    }
    *outlen = o;
    return 0;
}

int sl_uri_encode(struct sl_buf *b, const char *s, size_t n, bool keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && keep_slash)) {
            rc = sl_buf_putc(b, (char)c);
        } else {
            char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
            rc = sl_buf_append(b, esc, 3);
        }
        if (rc)
            return rc;
    }
    return 0;
}

int sl_uri_decode(struct sl_buf *b, const char *s, size_t n, bool plus_space)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int rc;
        if (c == '%') {
            if (n - i < 3)
                return SL_EINVAL;
            int hi = sl_hex_digit(s[i + 1]), lo = sl_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return SL_EINVAL;
            rc = sl_buf_putc(b, (char)(hi << 4 | lo));
            i += 2;
        } else if (c == '+' && plus_space) {
            rc = sl_buf_putc(b, ' ');
        } else {
            rc = sl_buf_putc(b, c);
        }
        if (rc)
            return rc;
    }
    return 0;
}

bool sl_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        size_t len;
        uint32_t cp, min;
        if (c == 0)
            return false;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if ((size_t)(end - p) < len)
            return false;
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += len;
    }
    return true;
}
