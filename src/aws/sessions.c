/*
 * Session credentials (sessions.h): a table of live sessions by access
 * key, under one mutex. Lookups happen once per signed request that uses
 * a session key; the table holds one session per function environment.
 */
#include "aws/sessions.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024

struct entry {
    struct sl_session s;
    struct entry *next;
};

struct sl_sessions {
    pthread_mutex_t mu;
    struct entry *buckets[BUCKETS];
};

static size_t bucket_of(const char *key)
{
    return sl_fnv1a(SL_FNV1A_SEED, key) % BUCKETS;
}

/* n random characters of alphabet (of 2^k letters, k <= 8) into out. */
static void random_text(char *out, size_t n, const char *alphabet, size_t letters)
{
    uint8_t rnd[SL_SESSION_TOKEN_LEN];
    sl_random(rnd, n);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[rnd[i] % letters];
    out[n] = '\0';
}

static const char upper32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char base64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sl_sessions_new(struct sl_sessions **out)
{
    struct sl_sessions *s = calloc(1, sizeof(*s));
    if (!s)
        return SL_ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return 0;
}

void sl_sessions_free(struct sl_sessions *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        while (s->buckets[i]) {
            struct entry *e = s->buckets[i];
            s->buckets[i] = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static bool session_name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len < 1 || len > 64)
        return false;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("_+=,.@-", *p)))
            return false;
    return true;
}

int sl_sessions_issue(struct sl_sessions *s, const char *account, const char *role_arn,
                      const char *session_name, int64_t now, int64_t ttl_s,
                      struct sl_session *out)
{
    /* arn:<partition>:iam::<account>:role/[path/]<name> */
    const char *iam = strstr(role_arn, ":iam::");
    const char *role = iam ? strstr(iam, ":role/") : NULL;
    const char *name = role ? strrchr(role, '/') + 1 : NULL;
    if (strncmp(role_arn, "arn:", 4) != 0 || !name || !*name || strlen(role_arn) >= 256 ||
        strlen(account) >= 16 || !session_name_ok(session_name))
        return SL_EINVAL;
    struct entry *e = calloc(1, sizeof(*e));
    if (!e)
        return SL_ENOMEM;
    struct sl_session *n = &e->s;
    memcpy(n->access_key, "ASIA", 4);
    random_text(n->access_key + 4, SL_SESSION_KEY_LEN - 4, upper32, 32);
    random_text(n->secret_key, SL_SESSION_SECRET_LEN, base64, 64);
    random_text(n->token, SL_SESSION_TOKEN_LEN, base64, 64);
    sl_strlcpy(n->account, account, sizeof(n->account));
    sl_strlcpy(n->role_arn, role_arn, sizeof(n->role_arn));
    snprintf(n->arn, sizeof(n->arn), "arn:aws:sts::%s:assumed-role/%s/%s", account, name,
             session_name);
    /* The role's unique id: AROA and 17 characters, the same for every
     * session of the role (derived from its ARN). */
    uint8_t digest[SL_SHA256_LEN];
    sl_sha256(role_arn, strlen(role_arn), digest);
    char role_id[22] = "AROA";
    for (int i = 0; i < 17; i++)
        role_id[4 + i] = upper32[digest[i] % 32];
    role_id[21] = '\0';
    snprintf(n->user_id, sizeof(n->user_id), "%s:%s", role_id, session_name);
    n->expires = now + ttl_s;
    *out = *n;
    size_t b = bucket_of(n->access_key);
    pthread_mutex_lock(&s->mu);
    e->next = s->buckets[b];
    s->buckets[b] = e;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void sl_sessions_revoke(struct sl_sessions *s, const char *access_key)
{
    pthread_mutex_lock(&s->mu);
    for (struct entry **p = &s->buckets[bucket_of(access_key)]; *p; p = &(*p)->next) {
        if (strcmp((*p)->s.access_key, access_key) == 0) {
            struct entry *e = *p;
            *p = e->next;
            free(e);
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* a == b, in time that depends on their lengths alone. */
static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned diff = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned)(a[i] ^ b[i]);
    return diff == 0;
}

enum sl_session_check sl_sessions_check(struct sl_sessions *s, const char *access_key,
                                        const char *token, int64_t now, struct sl_session *out)
{
    enum sl_session_check r = SL_SESSION_UNKNOWN;
    pthread_mutex_lock(&s->mu);
    for (struct entry *e = s->buckets[bucket_of(access_key)]; e; e = e->next) {
        if (strcmp(e->s.access_key, access_key) != 0)
            continue;
        if (!token || !same_secret(e->s.token, token))
            r = SL_SESSION_BAD_TOKEN;
        else if (now >= e->s.expires)
            r = SL_SESSION_EXPIRED;
        else {
            r = SL_SESSION_OK;
            *out = e->s;
        }
        break;
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}
