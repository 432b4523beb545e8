/*
 * The `sluice` command. `sluice serve` runs the server: the front door on
 * --listen, the store in --data-dir. Every option is declared once in the
 * table below, which drives parsing, environment variables, defaults and
 * the help text.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aws/credentials.h"
#include "cli.h"
#include "core/core.h"
#include "http/http.h"
#include "engine/engine.h"
#include "engine/targets.h"
#include "runtime/runtime.h"
#include "services/frontdoor.h"
#include "services/lambda/lambda.h"
#include "services/logs/logs.h"
#include "services/s3/s3.h"
#include "store/store.h"

struct options {
    const char *listen;
    const char *data_dir;
    const char *log_level;
    const char *auth;
    const char *credentials;
    const char *shutdown_grace;
    const char *account_concurrency;
    const char *idle_reap;
    const char *runtimes_dir;
    const char *strict_runtimes;
    const char *time_scale;
    const char *async_workers;
};

static const struct option_spec {
    const char *flag, *env, *def, *help;
    size_t offset;
    bool boolean; /* a flag without a value */
} option_table[] = {
    {"--listen", "SLUICE_LISTEN", "127.0.0.1:4566", "address and port to serve on",
     offsetof(struct options, listen), false},
    {"--data-dir", "SLUICE_DATA_DIR", "./.sluice", "where the store keeps its data",
     offsetof(struct options, data_dir), false},
    {"--log-level", "SLUICE_LOG_LEVEL", "info", "debug, info, warn or error",
     offsetof(struct options, log_level), false},
    {"--auth", "SLUICE_AUTH", "dev",
     "dev: any credentials and unsigned requests; strict: verify SigV4 against --credentials",
     offsetof(struct options, auth), false},
    {"--credentials", "SLUICE_CREDENTIALS", NULL,
     "AWS shared-credentials file of the accepted keys (profiles may set account_id)",
     offsetof(struct options, credentials), false},
    {"--shutdown-grace", "SLUICE_SHUTDOWN_GRACE", "2",
     "seconds in-flight requests get to finish on SIGINT/SIGTERM",
     offsetof(struct options, shutdown_grace), false},
    {"--account-concurrency", "SLUICE_ACCOUNT_CONCURRENCY", "1000",
     "Lambda's concurrent executions limit for an account",
     offsetof(struct options, account_concurrency), false},
    {"--idle-reap", "SLUICE_IDLE_REAP", "300",
     "seconds an idle function environment lives before it is ended",
     offsetof(struct options, idle_reap), false},
    {"--runtimes-dir", "SLUICE_RUNTIMES_DIR", NULL,
     "Sluice's runtime bootstraps (default: runtimes/ of the source tree)",
     offsetof(struct options, runtimes_dir), false},
    {"--strict-runtimes", "SLUICE_STRICT_RUNTIMES", NULL,
     "refuse python3.X or nodejsN.x when that exact version is not installed",
     offsetof(struct options, strict_runtimes), true},
    {"--time-scale", "SLUICE_TIME_SCALE", "1",
     "divide AWS's platform delays (async retry backoff, event age) by this, for tests",
     offsetof(struct options, time_scale), false},
    {"--async-workers", "SLUICE_ASYNC_WORKERS", "16",
     "asynchronous invocations run at once (each also needs the function's concurrency)",
     offsetof(struct options, async_workers), false},
};

static const char **option_slot(struct options *o, const struct option_spec *s)
{
    return (const char **)((char *)o + s->offset);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice serve [options]\n"
               "       sluice invoke [--endpoint URL] FUNCTION [JSON]\n"
               "       sluice logs [--endpoint URL] [--follow] FUNCTION\n"
               "       sluice version\n\noptions of serve:\n");
    for (size_t i = 0; i < SL_ARRAY_LEN(option_table); i++) {
        const struct option_spec *s = &option_table[i];
        fprintf(f, "  %-18s %s (env %s%s%s)\n", s->flag, s->help, s->env,
                s->def ? ", default " : "", s->def ? s->def : "");
    }
}

/* Fills o from defaults, then the environment, then argv (which wins). */
static int parse_options(struct options *o, int argc, char **argv)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(option_table); i++) {
        const char *env = getenv(option_table[i].env);
        *option_slot(o, &option_table[i]) = env && *env ? env : option_table[i].def;
    }
    for (int a = 0; a < argc; a++) {
        const char *arg = argv[a], *val = NULL;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        const struct option_spec *spec = NULL;
        for (size_t i = 0; i < SL_ARRAY_LEN(option_table) && !spec; i++) {
            size_t n = strlen(option_table[i].flag);
            if (strncmp(arg, option_table[i].flag, n) == 0 && (arg[n] == '=' || !arg[n])) {
                spec = &option_table[i];
                val = arg[n] == '=' ? arg + n + 1 : NULL;
            }
        }
        if (!spec) {
            fprintf(stderr, "sluice: unknown option %s\n", arg);
            return -1;
        }
        if (!val && spec->boolean) {
            val = "true";
        } else if (!val) {
            if (a + 1 >= argc) {
                fprintf(stderr, "sluice: %s needs a value\n", arg);
                return -1;
            }
            val = argv[++a];
        }
        *option_slot(o, spec) = val;
    }
    return 0;
}

/* Splits "host:port" / "[v6]:port" / ":port" / "port". */
static int parse_listen(const char *s, char *host, size_t hn, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    const char *p = colon ? colon + 1 : s;
    char *end;
    long v = strtol(p, &end, 10);
    if (!*p || *end || v < 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    if (!colon || colon == s) {
        snprintf(host, hn, "127.0.0.1");
    } else if (s[0] == '[' && colon[-1] == ']') {
        snprintf(host, hn, "%.*s", (int)(colon - s - 2), s + 1);
    } else {
        snprintf(host, hn, "%.*s", (int)(colon - s), s);
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, hn, "127.0.0.1");
    return 0;
}

static int serve(int argc, char **argv)
{
    struct options o;
    if (parse_options(&o, argc, argv))
        return 2;
    int level = sl_log_parse_level(o.log_level);
    if (level < 0) {
        fprintf(stderr, "sluice: --log-level must be debug, info, warn or error\n");
        return 2;
    }
    sl_log_set_level((enum sl_log_level)level);
    enum sl_auth_mode auth;
    if (strcmp(o.auth, "dev") == 0) {
        auth = SL_AUTH_DEV;
    } else if (strcmp(o.auth, "strict") == 0) {
        auth = SL_AUTH_STRICT;
    } else {
        fprintf(stderr, "sluice: --auth must be dev or strict\n");
        return 2;
    }
    if (auth == SL_AUTH_STRICT && !o.credentials) {
        fprintf(stderr, "sluice: --auth=strict needs --credentials FILE\n");
        return 2;
    }
    char host[128];
    uint16_t port;
    if (parse_listen(o.listen, host, sizeof(host), &port)) {
        fprintf(stderr, "sluice: --listen must be HOST:PORT, got %s\n", o.listen);
        return 2;
    }
    char *end;
    long concurrency = strtol(o.account_concurrency, &end, 10);
    if (*end || concurrency < 100 || concurrency > 1000000) {
        fprintf(stderr, "sluice: --account-concurrency must be a number from 100 up\n");
        return 2;
    }
    long reap = strtol(o.idle_reap, &end, 10);
    if (*end || reap < 1 || reap > 86400) {
        fprintf(stderr, "sluice: --idle-reap must be a number of seconds (1 to 86400)\n");
        return 2;
    }
    double time_scale = strtod(o.time_scale, &end);
    if (*end || !(time_scale >= 1 && time_scale <= 1e6)) {
        fprintf(stderr, "sluice: --time-scale must be a number from 1 to 1000000\n");
        return 2;
    }
    long async_workers = strtol(o.async_workers, &end, 10);
    if (*end || async_workers < 1 || async_workers > 1024) {
        fprintf(stderr, "sluice: --async-workers must be a number from 1 to 1024\n");
        return 2;
    }
    /* Sluice's own bootstraps: the source tree's runtimes/ unless told. */
    const char *runtimes = o.runtimes_dir ? o.runtimes_dir : SLUICE_RUNTIMES_DIR;
    double grace = strtod(o.shutdown_grace, &end);
    if (*end || !(grace >= 0 && grace <= 3600)) { /* NaN fails too */
        fprintf(stderr, "sluice: --shutdown-grace must be a number of seconds\n");
        return 2;
    }

    /* Signals are taken by sigwait in this thread alone: block them before
     * any other thread starts so that every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sl_err err = {0};
    struct sl_credentials creds = {0};
    struct sl_store *store = NULL;
    struct sl_http_server *server = NULL;
    struct sl_loop *loop = NULL;
    struct sl_runtime *runtime = NULL;
    struct sl_lambda *lambda = NULL;
    struct sl_logs *logs = NULL;
    struct sl_s3 *s3 = NULL;
    struct sl_lambda_async *async = NULL;
    struct sl_targets *targets = NULL;
    int status = 1;
    if (o.credentials && sl_credentials_load(&creds, o.credentials, &err)) {
        sl_error("main", "%s", err.msg);
        goto out;
    }
    if (mkdir(o.data_dir, 0700) && errno != EEXIST) {
        sl_error("main", "cannot create data directory %s: %s", o.data_dir, strerror(errno));
        goto out;
    }
    if (sl_store_open(&store, o.data_dir, &err)) {
        sl_error("main", "cannot open the store in %s: %s", o.data_dir, err.msg);
        goto out;
    }
    if (sl_logs_new(&logs, store, 0, &err)) {
        sl_error("main", "%s", err.msg);
        goto out;
    }
    if (sl_s3_new(&s3) || sl_targets_new(&targets)) {
        sl_error("main", "out of memory");
        goto out;
    }
    if (sl_loop_new(&loop, &err)) {
        sl_error("main", "%s", err.msg);
        goto out;
    }
    char endpoint[256], scratch[4096];
    snprintf(endpoint, sizeof(endpoint), "http://%s:%u", host, port);
    snprintf(scratch, sizeof(scratch), "%s/lambda/tmp", o.data_dir);
    struct sl_runtime_config rcfg = {
        .loop = loop,
        .runtimes_dir = runtimes,
        .scratch_dir = scratch,
        .endpoint_url = endpoint,
        .account_limit = (unsigned)concurrency,
        .unreserved_min = 100,
        .idle_reap_s = (unsigned)reap,
        .strict_runtimes = o.strict_runtimes && strcmp(o.strict_runtimes, "false") != 0,
        .log = sl_logs_sink,
        .log_ud = logs,
    };
    if (sl_runtime_new(&runtime, &rcfg, &err) || sl_lambda_new(&lambda, runtime)) {
        sl_error("main", "cannot start the function runtime: %s", err.msg);
        goto out;
    }
    struct sl_app app = {.store = store,
                         .data_dir = o.data_dir,
                         .started = time(NULL),
                         .account_concurrency = (unsigned)concurrency,
                         .lambda = lambda,
                         .s3 = s3,
                         .time_scale = time_scale,
                         .targets = targets};
    if (sl_lambda_load_reservations(&app)) {
        sl_error("main", "cannot read the functions' reserved concurrency");
        goto out;
    }
    if (sl_lambda_async_start(&app, (unsigned)async_workers, time_scale, &async, &err)) {
        sl_error("main", "cannot start asynchronous invocation: %s", err.msg);
        goto out;
    }
    struct sl_frontdoor door = {.app = &app, .auth = auth, .creds = &creds};
    struct sl_http_handler handler;
    sl_frontdoor_handler(&door, &handler);
    struct sl_http_config cfg = {.host = host, .port = port};
    if (sl_http_server_start(&server, &cfg, &handler, &err)) {
        sl_error("main", "%s", err.msg);
        goto out;
    }
    sl_info("main", "sluice %s listening on %s:%u, data in %s, auth %s", SL_VERSION, host,
            sl_http_server_port(server), o.data_dir, o.auth);
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }
    sl_info("main", "signal %d: shutting down (grace %.1f s)", sig, grace);
    /* In-flight requests get the grace period; invocations still running
     * after it are ended, so that their requests' threads can finish. */
    sl_http_server_quiesce(server, (unsigned)(grace * 1000));
    sl_lambda_async_stop(async); /* events still running go back on the queue */
    sl_runtime_shutdown(runtime);
    sl_http_server_stop(server, 0);
    server = NULL;
    status = 0;
out:
    sl_http_server_stop(server, 0);
    sl_lambda_async_stop(async);
    sl_runtime_shutdown(runtime); /* ends the invocations async workers wait on */
    sl_lambda_async_free(async);
    sl_runtime_free(runtime); /* then: it is what calls the log sink */
    sl_lambda_free(lambda);
    sl_loop_free(loop);
    sl_s3_free(s3);
    sl_targets_free(targets);
    sl_logs_free(logs);
    sl_store_close(store);
    sl_credentials_free(&creds);
    if (status == 0)
        sl_info("main", "stopped; the store is flushed");
    return status;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return serve(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "invoke") == 0)
        return sl_cli_invoke(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "logs") == 0)
        return sl_cli_logs(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "version") == 0) {
        printf("sluice %s\n", SL_VERSION);
        return 0;
    }
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
                      strcmp(argv[1], "help") == 0)) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
