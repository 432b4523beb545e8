/*
 * The `sluice` command. `sluice serve` runs the server: the front door on
 * --listen, the store in --data-dir. Every option is declared once in the
 * table below, which drives parsing, environment variables, defaults and
 * the help text.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "aws/credentials.h"
#include "blueprint/blueprint.h"
#include "cli.h"
#include "core/core.h"
#include "http/http.h"
#include "engine/engine.h"
#include "engine/targets.h"
#include "services/frontdoor.h"
#include "services/service.h"
#include "store/store.h"

/* The options of `sluice serve` itself; each service declares its own in
 * its row of the service table. */
static const struct sl_option core_options[] = {
    {"--listen", "SLUICE_LISTEN", "127.0.0.1:4566", "address and port to serve on", false},
    {"--data-dir", "SLUICE_DATA_DIR", "./.sluice", "where the store keeps its data", false},
    {"--log-level", "SLUICE_LOG_LEVEL", "info", "debug, info, warn or error", false},
    {"--auth", "SLUICE_AUTH", "dev",
     "dev: any credentials and unsigned requests; strict: verify SigV4 against --credentials",
     false},
    {"--credentials", "SLUICE_CREDENTIALS", NULL,
     "AWS shared-credentials file of the accepted keys (profiles may set account_id)", false},
    {"--max-connections-per-client", "SLUICE_MAX_CONNECTIONS_PER_CLIENT", "0",
     "connections one client address may hold at once (0: half of what the server takes)",
     false},
    {"--shutdown-grace", "SLUICE_SHUTDOWN_GRACE", "2",
     "seconds in-flight requests get to finish on SIGINT/SIGTERM", false},
    {"--account-concurrency", "SLUICE_ACCOUNT_CONCURRENCY", "1000",
     "Lambda's concurrent executions limit for an account", false},
    {"--time-scale", "SLUICE_TIME_SCALE", "1",
     "divide AWS's platform delays (async retry backoff, event age) by this, for tests", false},
    {NULL, NULL, NULL, NULL, false},
};

#define MAX_OPTIONS 64

/* Every option: the core's, then each service's, in the table's order. */
struct options {
    const struct sl_option *spec[MAX_OPTIONS];
    const char *pairs[2 * MAX_OPTIONS]; /* flag, value: what sl_app_option() reads */
    size_t n;
};

static void collect(struct options *o, const struct sl_option *list)
{
    for (const struct sl_option *s = list; s && s->flag && o->n < MAX_OPTIONS; s++) {
        o->spec[o->n] = s;
        o->pairs[2 * o->n] = s->flag;
        o->n++;
    }
}

static void all_options(struct options *o)
{
    o->n = 0;
    collect(o, core_options);
    for (size_t i = 0; sl_services[i]; i++)
        collect(o, sl_services[i]->options);
}

static const char *value_of(const struct options *o, const char *flag)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->spec[i]->flag, flag) == 0)
            return o->pairs[2 * i + 1];
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice serve [options]\n"
               "       sluice invoke [--endpoint URL] FUNCTION [JSON]\n"
               "       sluice logs [--endpoint URL] [--follow] FUNCTION\n"
               "       sluice parquet write --schema 'name:type[!],...' [options] OUT < rows.jsonl\n"
               "       sluice parquet read [--schema] FILE\n"
               "       sluice blueprint deploy NAME --steps validate|convert|validate+convert "
               "[options]\n"
               "       sluice version\n\noptions of serve:\n");
    struct options o;
    all_options(&o);
    for (size_t i = 0; i < o.n; i++) {
        const struct sl_option *s = o.spec[i];
        fprintf(f, "  %-22s %s (env %s%s%s)\n", s->flag, s->help, s->env,
                s->def ? ", default " : "", s->def ? s->def : "");
    }
}

/* Fills o from defaults, then the environment, then argv (which wins). */
static int parse_options(struct options *o, int argc, char **argv)
{
    all_options(o);
    for (size_t i = 0; i < o->n; i++) {
        const char *env = getenv(o->spec[i]->env);
        o->pairs[2 * i + 1] = env && *env ? env : o->spec[i]->def;
    }
    for (int a = 0; a < argc; a++) {
        const char *arg = argv[a], *val = NULL;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        size_t found = o->n;
        for (size_t i = 0; i < o->n && found == o->n; i++) {
            size_t n = strlen(o->spec[i]->flag);
            if (strncmp(arg, o->spec[i]->flag, n) == 0 && (arg[n] == '=' || !arg[n])) {
                found = i;
                val = arg[n] == '=' ? arg + n + 1 : NULL;
            }
        }
        if (found == o->n) {
            fprintf(stderr, "sluice: unknown option %s\n", arg);
            return -1;
        }
        if (!val && o->spec[found]->boolean) {
            val = "true";
        } else if (!val) {
            if (a + 1 >= argc) {
                fprintf(stderr, "sluice: %s needs a value\n", arg);
                return -1;
            }
            val = argv[++a];
        }
        o->pairs[2 * found + 1] = val;
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

/* Raises the soft limit of open files to the hard one: the default 1,024
 * would hold too few idle clients (the front door's connection limit
 * follows whatever the limit is). */
static void raise_open_files(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl))
        sl_warn("main", "cannot raise the open-file limit: %s", strerror(errno));
}

static int serve(int argc, char **argv)
{
    struct options opts;
    if (parse_options(&opts, argc, argv))
        return 2;
    const char *log_level = value_of(&opts, "--log-level"), *auth_mode = value_of(&opts, "--auth");
    const char *credentials = value_of(&opts, "--credentials");
    const char *data_dir = value_of(&opts, "--data-dir"), *listen = value_of(&opts, "--listen");
    int level = sl_log_parse_level(log_level);
    if (level < 0) {
        fprintf(stderr, "sluice: --log-level must be debug, info, warn or error\n");
        return 2;
    }
    sl_log_set_level((enum sl_log_level)level);
    enum sl_auth_mode auth;
    if (strcmp(auth_mode, "dev") == 0) {
        auth = SL_AUTH_DEV;
    } else if (strcmp(auth_mode, "strict") == 0) {
        auth = SL_AUTH_STRICT;
    } else {
        fprintf(stderr, "sluice: --auth must be dev or strict\n");
        return 2;
    }
    if (auth == SL_AUTH_STRICT && !credentials) {
        fprintf(stderr, "sluice: --auth=strict needs --credentials FILE\n");
        return 2;
    }
    char host[128];
    uint16_t port;
    if (parse_listen(listen, host, sizeof(host), &port)) {
        fprintf(stderr, "sluice: --listen must be HOST:PORT, got %s\n", listen);
        return 2;
    }
    char *end;
    long concurrency = strtol(value_of(&opts, "--account-concurrency"), &end, 10);
    if (*end || concurrency < 100 || concurrency > 1000000) {
        fprintf(stderr, "sluice: --account-concurrency must be a number from 100 up\n");
        return 2;
    }
    double time_scale = strtod(value_of(&opts, "--time-scale"), &end);
    if (*end || !(time_scale >= 1 && time_scale <= 1e6)) {
        fprintf(stderr, "sluice: --time-scale must be a number from 1 to 1000000\n");
        return 2;
    }
    long per_client = strtol(value_of(&opts, "--max-connections-per-client"), &end, 10);
    if (*end || per_client < 0 || per_client > 1000000) {
        fprintf(stderr, "sluice: --max-connections-per-client must be a number from 0 up\n");
        return 2;
    }
    double grace = strtod(value_of(&opts, "--shutdown-grace"), &end);
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
    raise_open_files();

    struct sl_err err = {0};
    struct sl_credentials creds = {0};
    struct sl_store *store = NULL;
    struct sl_http_server *server = NULL;
    struct sl_loop *loop = NULL;
    struct sl_targets *targets = NULL;
    struct sl_governor *governor = NULL;
    struct sl_sessions *sessions = NULL;
    bool started = false;
    int status = 1;
    char endpoint[256];
    snprintf(endpoint, sizeof(endpoint), "http://%s:%u", host, port);
    struct sl_app app = {.data_dir = data_dir,
                         .endpoint_url = endpoint,
                         .started = time(NULL),
                         .time_scale = time_scale,
                         .options = opts.pairs,
                         .noptions = opts.n};
    if (credentials && sl_credentials_load(&creds, credentials, &err)) {
        sl_error("main", "%s", err.msg);
        goto out;
    }
    if (mkdir(data_dir, 0700) && errno != EEXIST) {
        sl_error("main", "cannot create data directory %s: %s", data_dir, strerror(errno));
        goto out;
    }
    if (sl_store_open(&store, data_dir, &err)) {
        sl_error("main", "cannot open the store in %s: %s", data_dir, err.msg);
        goto out;
    }
    if (sl_targets_new(&targets) || sl_governor_new(&governor, (unsigned)concurrency) ||
        sl_sessions_new(&sessions)) {
        sl_error("main", "out of memory");
        goto out;
    }
    if (sl_loop_new(&loop, &err)) {
        sl_error("main", "%s", err.msg);
        goto out;
    }
    app.store = store;
    app.loop = loop;
    app.targets = targets;
    app.governor = governor;
    app.sessions = sessions;
    if (sl_app_start(&app, &err)) {
        sl_error("main", "%s", err.msg);
        goto out;
    }
    started = true;
    struct sl_frontdoor door = {.app = &app, .auth = auth, .creds = &creds, .sessions = sessions};
    struct sl_http_handler handler;
    sl_frontdoor_handler(&door, &handler);
    struct sl_http_config cfg = {.host = host, .port = port,
                                 .per_client_limit = (unsigned)per_client};
    if (sl_http_server_start(&server, &cfg, &handler, &err)) {
        sl_error("main", "%s", err.msg);
        goto out;
    }
    sl_info("main", "sluice %s listening on %s:%u, data in %s, auth %s", SL_VERSION, host,
            sl_http_server_port(server), data_dir, auth_mode);
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }
    sl_info("main", "signal %d: shutting down (grace %.1f s)", sig, grace);
    /* In-flight requests get the grace period; invocations still running
     * after it are ended (the services stop), so that their requests'
     * threads can finish. */
    sl_http_server_quiesce(server, (unsigned)(grace * 1000));
    sl_app_stop(&app);
    sl_http_server_stop(server, 0);
    server = NULL;
    status = 0;
out:
    sl_http_server_stop(server, 0);
    if (started) {
        if (status != 0)
            sl_app_stop(&app);
        sl_app_free(&app);
    }
    sl_loop_free(loop);
    sl_targets_free(targets);
    sl_governor_free(governor);
    sl_sessions_free(sessions);
    sl_store_close(store);
    sl_credentials_free(&creds);
    if (status == 0)
        sl_info("main", "stopped; the store is flushed");
    return status;
}

int main(int argc, char **argv)
{
    /* A data blueprint's package runs this program as its bootstrap. */
    const char *base = argc ? strrchr(argv[0], '/') : NULL;
    base = base ? base + 1 : argc ? argv[0] : "";
    if (strcmp(base, "bootstrap") == 0 && getenv("AWS_LAMBDA_RUNTIME_API"))
        return bp_bootstrap_main();
    if (argc >= 2 && strcmp(argv[1], "blueprint") == 0)
        return sl_cli_blueprint(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return serve(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "invoke") == 0)
        return sl_cli_invoke(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "logs") == 0)
        return sl_cli_logs(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "parquet") == 0)
        return sl_cli_parquet(argc - 2, argv + 2);
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
