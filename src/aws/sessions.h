/*
 * Session credentials that Sluice issues and recognises: an access key
 * (ASIA…), a secret and a session token, valid until they expire or are
 * revoked, for a role's session in an account. Each function environment
 * gets one, tied to the function's execution role, so that a handler's
 * own AWS calls are signed with credentials --auth=strict accepts, and
 * name the caller as AWS does (an assumed role). Kept in memory: an
 * environment does not outlive the server that issued its session.
 * Thread-safe.
 *
 * May call: core.
 */
#ifndef SL_AWS_SESSIONS_H
#define SL_AWS_SESSIONS_H

#include "core/core.h"

#define SL_SESSION_KEY_LEN 20    /* ASIA + 16 */
#define SL_SESSION_SECRET_LEN 40
#define SL_SESSION_TOKEN_LEN 128

struct sl_session {
    char access_key[SL_SESSION_KEY_LEN + 1];
    char secret_key[SL_SESSION_SECRET_LEN + 1];
    char token[SL_SESSION_TOKEN_LEN + 1];
    char account[16];
    char role_arn[256];
    char arn[384];     /* arn:aws:sts::<account>:assumed-role/<role>/<session> */
    char user_id[128]; /* AROA<role id>:<session> */
    int64_t expires;   /* Unix seconds */
};

enum sl_session_check {
    SL_SESSION_OK,
    SL_SESSION_UNKNOWN,   /* no such key: never issued, or revoked */
    SL_SESSION_BAD_TOKEN, /* the key's, with another token (or none) */
    SL_SESSION_EXPIRED,
};

struct sl_sessions;

int sl_sessions_new(struct sl_sessions **out);
void sl_sessions_free(struct sl_sessions *s);
/*
 * Issues credentials for a session named session_name (1 to 64 of
 * [\w+=,.@-]) of role_arn (arn:aws:iam::<account>:role/[path/]<name>) in
 * account, valid from now for ttl_s seconds: 0 with *out, or SL_EINVAL
 * (a role ARN that is not one) or SL_ENOMEM.
 */
int sl_sessions_issue(struct sl_sessions *s, const char *account, const char *role_arn,
                      const char *session_name, int64_t now, int64_t ttl_s,
                      struct sl_session *out);
/* Ends the session of access_key: its key is unknown from now on. */
void sl_sessions_revoke(struct sl_sessions *s, const char *access_key);
/* Whether access_key with token is a live session at now; *out is its
 * copy when SL_SESSION_OK. */
enum sl_session_check sl_sessions_check(struct sl_sessions *s, const char *access_key,
                                        const char *token, int64_t now, struct sl_session *out);

#endif
