/*
 * runtime — execution environments for functions: starting a function's
 * runtime process, serving it the Lambda Runtime API (2018-06-01) on a
 * loopback port of its own, handing it invocations one at a time, reusing
 * it while warm, killing it on timeout, reaping it when idle, capturing
 * its output as log lines. Every environment initialising or busy holds a
 * slot of the engine's concurrency governor (engine/governor.h).
 *
 * Environments are watched from one engine loop; sl_runtime_invoke() is
 * called from other threads and waits for its invocation to end, serving
 * the runtime's connection itself when the environment is warm.
 *
 * May call: core, engine.
 */
#ifndef SL_RUNTIME_H
#define SL_RUNTIME_H

#include "core/core.h"
#include "engine/engine.h"

struct sl_runtime;

/* A log line of an environment, or a platform line (START, END, REPORT),
 * for the log group and stream of the function's account and region.
 * Called on the loop thread: it must not block. */
typedef void (*sl_runtime_log_fn)(void *ud, const char *account, const char *region,
                                  const char *group, const char *stream, int64_t ts_ms,
                                  const char *msg, size_t len);

struct sl_governor;

/* The uids environments run as unless told: far above the users and the
 * subordinate ranges (100000 up) that systems hand out. */
#define SL_RUNTIME_UID_FIRST 2000000000u
#define SL_RUNTIME_UID_COUNT 65536u

/* An environment's AWS credentials (AWS_ACCESS_KEY_ID and the rest). */
struct sl_env_credentials {
    char access_key[32], secret_key[64], token[256];
    int64_t expires; /* Unix seconds */
};

struct sl_function;

struct sl_runtime_config {
    struct sl_loop *loop;
    struct sl_governor *governor; /* admits executions (engine/governor.h) */
    const char *runtimes_dir; /* holds python/bootstrap.py, node/bootstrap.js */
    const char *scratch_dir;  /* environments' /tmp directories go below */
    const char *endpoint_url; /* AWS_ENDPOINT_URL given to functions */
    unsigned idle_reap_s;     /* idle environments end after this */
    bool strict_runtimes;     /* refuse python3.X/node when not installed */
    bool no_root_template;    /* each environment builds its root (sl_roots_new: no template) */
    /* Environments' users, one each: uids uid_first to uid_first +
     * uid_count - 1 (0: the default range, SL_RUNTIME_UIDS). */
    uint32_t uid_first, uid_count;
    /* Session credentials for an environment of fn, valid until
     * out->expires (Unix seconds), and their end once it is gone: each
     * environment's own (NULL: every environment gets placeholders). */
    int (*issue)(void *ud, const struct sl_function *fn, struct sl_env_credentials *out);
    void (*revoke)(void *ud, const char *access_key);
    void *creds_ud;
    sl_runtime_log_fn log;
    void *log_ud;
};

/* What an environment needs to know of a function version. Copied. */
struct sl_function {
    char key[256];       /* identity for pooling and concurrency */
    char revision[40];   /* environments of another revision are not reused */
    char name[80];
    char arn[256];
    char role[256];      /* its execution role's ARN: its session's */
    char version[16];    /* "$LATEST" */
    char runtime[32];
    char handler[160];
    char code_dir[1024];
    char region[64];
    char account[16];
    char log_group[160];
    unsigned memory_mb, timeout_s, ephemeral_mb;
    long reserved;       /* reserved concurrency, -1 when none */
    char **env;          /* user variables "K=V", NULL-terminated, or NULL */
};

enum sl_invoke_result {
    SL_INVOKE_OK,             /* the runtime posted a response */
    SL_INVOKE_FUNCTION_ERROR, /* an error payload (runtime's or the platform's) */
    SL_INVOKE_THROTTLED,      /* no concurrency: nothing ran */
    SL_INVOKE_FAILED,         /* the environment could not be set up */
};

struct sl_invocation {
    /* in */
    char request_id[37];
    const char *payload;
    size_t payload_len;
    const char *client_context; /* JSON text, or NULL */
    bool want_log;              /* collect the invocation's log lines */
    bool defer_settle;          /* see sl_runtime_settle() */
    bool slot_held;             /* the caller took the function's governor slot */
    /* out */
    enum sl_invoke_result result;
    struct sl_buf response;   /* the payload returned, or the error payload */
    char error_type[64];      /* function errors: the type */
    char throttle_reason[64]; /* throttles: TooManyRequestsException's Reason */
    struct sl_buf log;        /* the invocation's log lines, when want_log */
    double duration_ms;       /* handler time, as REPORT's Duration */
    char message[256];        /* failures: what went wrong */
    void *settle;             /* for sl_runtime_settle(), when not NULL */
};

int sl_runtime_new(struct sl_runtime **out, const struct sl_runtime_config *cfg,
                   struct sl_err *err);
/* Kills every environment and fails every call in flight; later calls
 * fail at once. For shutdown, before the threads that wait on calls are
 * joined. */
void sl_runtime_shutdown(struct sl_runtime *rt);
/* Shuts down (if not done) and frees everything. NULL ok. */
void sl_runtime_free(struct sl_runtime *rt);

/* Initialises inv's buffers; release them with sl_invocation_close(). */
void sl_invocation_init(struct sl_invocation *inv);
void sl_invocation_close(struct sl_invocation *inv);

typedef void (*sl_invoke_cb)(struct sl_invocation *inv, void *arg);

/* Runs one invocation of fn and waits until it ends (result in inv).
 * Not from the loop thread. */
int sl_runtime_invoke(struct sl_runtime *rt, const struct sl_function *fn,
                      struct sl_invocation *inv);

/*
 * Starts one invocation of fn without waiting: cb(inv, arg) runs on the
 * loop's thread once it ended (result in inv; never inside this call).
 * inv must live until then; fn is copied. With inv->slot_held the caller
 * took fn's slot of the governor already, and the invocation takes it
 * over (it is given back with the environment, or at the end). 0, or an
 * error (cb never runs). Any thread.
 */
int sl_runtime_start(struct sl_runtime *rt, const struct sl_function *fn,
                     struct sl_invocation *inv, sl_invoke_cb cb, void *arg);

/*
 * Runs one invocation of fn without blocking for long: a warm
 * environment's quick answer is read on the caller's thread (as
 * sl_runtime_invoke() does, spinning briefly), and 0 means inv holds the
 * result (cb never runs). SL_LATER means the invocation goes on without
 * the caller: cb(inv, arg) runs on the loop's thread once it ends (inv
 * must live until then; fn is copied as needed). Else an error (cb never
 * runs). Not from the loop thread.
 */
int sl_runtime_call(struct sl_runtime *rt, const struct sl_function *fn,
                    struct sl_invocation *inv, sl_invoke_cb cb, void *arg);

/*
 * With inv->defer_settle (and not want_log), a warm invocation may return
 * before its runtime hears that its answer arrived and before its END and
 * REPORT lines are written, so that the caller answers its own client
 * first. inv->settle is then not NULL, and the caller must pass it here
 * once, soon (the environment takes no other event until then). Any
 * thread; NULL ok.
 */
void sl_runtime_settle(struct sl_runtime *rt, void *settle);

/* Ends the environments of a function (code or configuration changed, or
 * it was deleted); an invocation in flight finishes first. */
void sl_runtime_forget(struct sl_runtime *rt, const char *key);
/* A function's configuration asks for ephemeral_mb of /tmp: its
 * environments' filesystems are made ahead, off their cold starts. */
void sl_runtime_prepare(struct sl_runtime *rt, unsigned ephemeral_mb);

/* Formats the platform's REPORT line (tabs included, as AWS writes it). */
int sl_runtime_report_line(char *out, size_t n, const char *request_id, double duration_ms,
                           unsigned memory_mb, unsigned max_used_mb, double init_ms);

#endif
