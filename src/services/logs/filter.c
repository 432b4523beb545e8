/*
 * Filter patterns of FilterLogEvents (and `aws logs tail --filter-pattern`)
 * with CloudWatch's term semantics: see internal.h. A pattern is parsed
 * once per request into a list of terms; matching is a substring search
 * per term.
 */
#include "services/logs/internal.h"

#include <stdlib.h>
#include <string.h>

enum term_kind {
    TERM_PLAIN,    /* must occur */
    TERM_OPTIONAL, /* ?term: one of these must occur */
    TERM_EXCLUDE,  /* -term: must not occur */
};

struct term {
    enum term_kind kind;
    char *text;
    size_t len;
};

struct sl_logs_filter {
    struct term *terms;
    size_t n, nopt;
};

void sl_logs_filter_free(struct sl_logs_filter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->terms[i].text);
    free(f->terms);
    free(f);
}

size_t sl_logs_filter_terms(const struct sl_logs_filter *f)
{
    return f ? f->n : 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Reads one term at p[*i..n) into t (text malloc'd, exactly its size). */
static int read_term(const char *p, size_t n, size_t *i, struct term *t, struct sl_err *err)
{
    size_t j = *i;
    t->kind = TERM_PLAIN;
    /* '?' and '-' mark a term only when a term follows them. */
    if ((p[j] == '?' || p[j] == '-') && j + 1 < n && !is_space(p[j + 1])) {
        t->kind = p[j] == '?' ? TERM_OPTIONAL : TERM_EXCLUDE;
        j++;
    }
    bool quoted = p[j] == '"';
    size_t start = quoted ? j + 1 : j, end = start, len = 0;
    if (quoted) {
        while (end < n && p[end] != '"') {
            end += p[end] == '\\' && end + 1 < n ? 2 : 1;
            len++;
        }
        if (end >= n)
            return sl_errf(err, SL_EINVAL, "Invalid filter pattern: a quoted term is not closed.");
        if (end + 1 < n && !is_space(p[end + 1]))
            return sl_errf(err, SL_EINVAL,
                           "Invalid filter pattern: a quoted term must be followed by a space.");
    } else {
        while (end < n && !is_space(p[end]))
            end++;
        len = end - start;
    }
    char *text = malloc(len + 1);
    if (!text)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t c = start; c < end; c++) {
        if (quoted && p[c] == '\\' && c + 1 < end)
            c++;
        text[k++] = p[c];
    }
    text[k] = '\0';
    t->text = text;
    t->len = k;
    *i = quoted ? end + 1 : end;
    return 0;
}

int sl_logs_filter_parse(const char *pattern, size_t len, struct sl_logs_filter **out,
                         struct sl_err *err)
{
    *out = NULL;
    struct sl_logs_filter *f = calloc(1, sizeof(*f));
    if (!f)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    size_t i = 0, cap = 0;
    while (i < len && is_space(pattern[i]))
        i++;
    if (i < len && (pattern[i] == '{' || pattern[i] == '[' || pattern[i] == '%')) {
        sl_logs_filter_free(f);
        return sl_errf(err, SL_EINVAL,
                       "Invalid filter pattern: JSON, space-delimited and regular-expression "
                       "patterns are not supported by Sluice yet; use terms and \"quoted "
                       "phrases\".");
    }
    while (i < len) {
        if (is_space(pattern[i])) {
            i++;
            continue;
        }
        if (f->n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            struct term *nt = realloc(f->terms, ncap * sizeof(*nt));
            if (!nt) {
                sl_logs_filter_free(f);
                return sl_errf(err, SL_ENOMEM, "out of memory");
            }
            f->terms = nt;
            cap = ncap;
        }
        int rc = read_term(pattern, len, &i, &f->terms[f->n], err);
        if (rc) {
            sl_logs_filter_free(f);
            return rc;
        }
        if (f->terms[f->n].kind == TERM_OPTIONAL)
            f->nopt++;
        f->n++;
    }
    *out = f;
    return 0;
}

bool sl_logs_filter_match(const struct sl_logs_filter *f, const char *msg, size_t len)
{
    if (!f)
        return true;
    bool any_optional = false;
    for (size_t i = 0; i < f->n; i++) {
        const struct term *t = &f->terms[i];
        bool found = t->len == 0 || memmem(msg, len, t->text, t->len) != NULL;
        switch (t->kind) {
        case TERM_PLAIN:
            if (!found)
                return false;
            break;
        case TERM_EXCLUDE:
            if (found)
                return false;
            break;
        case TERM_OPTIONAL:
            any_optional = any_optional || found;
            break;
        }
    }
    return f->nopt == 0 || any_optional;
}
