/* The shared-credentials file of --auth=strict. */
#include "aws/credentials.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Closes the profile being read: keeps it when it has a key pair. */
static int flush_profile(struct sl_credentials *c, struct sl_credential *cur)
{
    if (!cur->access_key || !cur->secret_key) {
        free(cur->access_key);
        free(cur->secret_key);
        free(cur->account);
        memset(cur, 0, sizeof(*cur));
        return 0;
    }
    if (!cur->account && !(cur->account = strdup(SL_DEFAULT_ACCOUNT)))
        return SL_ENOMEM;
    struct sl_credential *items = realloc(c->items, (c->n + 1) * sizeof(*items));
    if (!items)
        return SL_ENOMEM;
    c->items = items;
    c->items[c->n++] = *cur;
    memset(cur, 0, sizeof(*cur));
    return 0;
}

/* Parses text; where names the source in messages. */
static int parse(struct sl_credentials *c, const char *text, const char *where,
                 struct sl_err *err)
{
    memset(c, 0, sizeof(*c));
    struct sl_credential cur = {0};
    char *copy = strdup(text);
    if (!copy)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    int rc = 0, lineno = 0;
    char *next = copy;
    while (next) {
        char *line = next;
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        next = nl ? nl + 1 : NULL;
        lineno++;
        char *l = trim(line);
        if (!*l || *l == '#' || *l == ';')
            continue;
        if (*l == '[') {
            if ((rc = flush_profile(c, &cur)))
                break;
            continue;
        }
        char *eq = strchr(l, '=');
        if (!eq) {
            rc = sl_errf(err, SL_EINVAL, "%s line %d: expected key = value", where, lineno);
            break;
        }
        *eq = '\0';
        char *k = trim(l), *v = trim(eq + 1);
        char **slot = strcmp(k, "aws_access_key_id") == 0       ? &cur.access_key
                      : strcmp(k, "aws_secret_access_key") == 0 ? &cur.secret_key
                      : strcmp(k, "account_id") == 0            ? &cur.account
                                                                : NULL;
        if (!slot)
            continue;
        if (slot == &cur.account && (strlen(v) != 12 || strspn(v, "0123456789") != 12)) {
            rc = sl_errf(err, SL_EINVAL, "%s line %d: account_id must be 12 digits", where,
                         lineno);
            break;
        }
        free(*slot);
        if (!(*slot = strdup(v))) {
            rc = sl_errf(err, SL_ENOMEM, "out of memory");
            break;
        }
    }
    if (!rc)
        rc = flush_profile(c, &cur);
    else
        flush_profile(c, &(struct sl_credential){0});
    free(cur.access_key);
    free(cur.secret_key);
    free(cur.account);
    free(copy);
    if (rc)
        sl_credentials_free(c);
    return rc;
}

int sl_credentials_parse(struct sl_credentials *c, const char *text, struct sl_err *err)
{
    return parse(c, text, "credentials", err);
}

int sl_credentials_load(struct sl_credentials *c, const char *path, struct sl_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return sl_errf(err, SL_EIO, "cannot read credentials file %s", path);
    struct sl_buf b;
    sl_buf_init(&b, 1 << 20);
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && !rc)
        rc = sl_buf_append(&b, chunk, n);
    fclose(f);
    if (!rc)
        rc = parse(c, b.data ? b.data : "", path, err);
    else
        sl_errf(err, rc, "credentials file %s is too large", path);
    sl_buf_free(&b);
    return rc;
}

void sl_credentials_free(struct sl_credentials *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].access_key);
        free(c->items[i].secret_key);
        free(c->items[i].account);
    }
    free(c->items);
    c->items = NULL;
    c->n = 0;
}

const struct sl_credential *sl_credentials_find(const struct sl_credentials *c,
                                                const char *access_key)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (strcmp(c->items[i].access_key, access_key) == 0)
            return &c->items[i];
    return NULL;
}
