/*
 * A JSON checker that allocates nothing, for the payloads Invoke must
 * only check (jansson builds a tree just to throw it away). It is the fast
 * path, not the judge: it says yes only to texts jansson's json_loadb()
 * with JSON_DECODE_ANY also accepts, and says "not sure" to what it does
 * not handle (numbers jansson may find too big, \u escapes of NUL or of
 * surrogates, nesting past its stack), so the caller then asks jansson,
 * which also words the error. tests/fuzz/fuzz_json.c holds it to that.
 */
#include "core/core.h"

#include <string.h>

#define MAX_DEPTH 512     /* deeper: "not sure" (jansson allows 2048) */
#define MAX_DIGITS 15     /* integer digits a double and an int64 both hold */
#define MAX_EXPONENT 290  /* with MAX_DIGITS digits, still far from 1e308 */

struct scan {
    const unsigned char *p, *end;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool literal(struct scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return false;
    s->p += n;
    return true;
}

static bool digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* A number jansson cannot find too big: an integer part of at most
 * MAX_DIGITS digits, any fraction, and an exponent up to MAX_EXPONENT
 * (strtod overflows past 1e308; jansson then refuses the text). */
static bool number(struct scan *s)
{
    if (s->p < s->end && *s->p == '-')
        s->p++;
    const unsigned char *start = s->p;
    while (s->p < s->end && digit(*s->p))
        s->p++;
    size_t n = (size_t)(s->p - start);
    if (n == 0 || n > MAX_DIGITS || (n > 1 && *start == '0'))
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (s->p == s->end || !digit(*s->p))
            return false;
        while (s->p < s->end && digit(*s->p))
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (s->p == s->end || !digit(*s->p))
            return false;
        unsigned e = 0;
        while (s->p < s->end && digit(*s->p)) {
            e = e * 10 + (unsigned)(*s->p++ - '0');
            if (e > MAX_EXPONENT)
                return false;
        }
    }
    return true;
}

/* The body of a string after its opening quote, through its closing one. */
static bool string(struct scan *s)
{
    const unsigned char *p = s->p, *end = s->end;
    while (p < end) {
        unsigned char c = *p;
        if (c == '"') {
            s->p = p + 1;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (++p == end)
                return false;
            c = *p;
            if (c == 'u') {
                if (end - p < 5)
                    return false;
                unsigned v = 0;
                for (int i = 1; i <= 4; i++) {
                    int d = sl_hex_digit(p[i]);
                    if (d < 0)
                        return false;
                    v = v << 4 | (unsigned)d;
                }
                if (v == 0 || (v >= 0xd800 && v <= 0xdfff))
                    return false; /* NUL, surrogates: jansson decides */
                p += 5;
            } else if (strchr("\"\\/bfnrt", c) && c) {
                p++;
            } else {
                return false;
            }
            continue;
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        /* One UTF-8 sequence: no overlong forms, surrogates or values
         * past U+10FFFF. */
        size_t len = c >= 0xc2 && c <= 0xdf   ? 2
                     : c >= 0xe0 && c <= 0xef ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4
                                              : 0;
        if (!len || (size_t)(end - p) < len || !sl_utf8_valid((const char *)p, len))
            return false;
        p += len;
    }
    return false;
}

/* A member's key and its colon, then the space before its value. */
static bool member_key(struct scan *s)
{
    if (s->p == s->end || *s->p != '"')
        return false;
    s->p++;
    if (!string(s))
        return false;
    skip_ws(s);
    if (s->p == s->end || *s->p != ':')
        return false;
    s->p++;
    skip_ws(s);
    return true;
}

bool sl_json_valid(const char *text, size_t n)
{
    struct scan s = {(const unsigned char *)text, (const unsigned char *)text + n};
    char stack[MAX_DEPTH]; /* '{' or '[' of each open container */
    size_t depth = 0;
    skip_ws(&s);
    for (;;) {
        /* A value. */
        if (s.p == s.end)
            return false;
        unsigned char c = *s.p;
        if (c == '{' || c == '[') {
            if (depth == MAX_DEPTH)
                return false;
            stack[depth++] = (char)c;
            s.p++;
            skip_ws(&s);
            if (s.p < s.end && *s.p == (c == '{' ? '}' : ']')) {
                s.p++;
                depth--;
            } else if (c == '{' && !member_key(&s)) {
                return false;
            } else {
                continue;
            }
        } else if (c == '"') {
            s.p++;
            if (!string(&s))
                return false;
        } else if (c == 't') {
            if (!literal(&s, "true", 4))
                return false;
        } else if (c == 'f') {
            if (!literal(&s, "false", 5))
                return false;
        } else if (c == 'n') {
            if (!literal(&s, "null", 4))
                return false;
        } else if (!number(&s)) {
            return false;
        }
        /* After a value: close containers, or the next member. */
        for (;;) {
            skip_ws(&s);
            if (depth == 0)
                return s.p == s.end;
            if (s.p == s.end)
                return false;
            char open = stack[depth - 1];
            if (*s.p == (open == '{' ? '}' : ']')) {
                s.p++;
                depth--;
                continue;
            }
            if (*s.p != ',')
                return false;
            s.p++;
            skip_ws(&s);
            if (open == '{' && !member_key(&s))
                return false;
            break;
        }
    }
}
