/*
 * Execution environments: the pool of a function's warm environments,
 * their states and governor slots, spawning one (its variables, its
 * interpreter, its sandbox), its output as log lines, its exit, and the
 * idle reaper.
 */
#include "runtime/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- environment lifecycle --------------------------------------------- */

void sl_rt_env_kill(struct env *e)
{
    if (e->pid > 0)
        kill(-e->pid, SIGKILL);
}

/* An environment initialising or busy holds a slot of the governor's: it
 * takes its call's (acquired when the call was admitted) and gives it
 * back when it goes idle or dies. */
static void env_set_active(struct env *e, bool active)
{
    if (active == e->slot)
        return;
    if (active) {
        if (e->call && e->call->slot)
            e->call->slot = false;
        else /* (no call takes an environment without a slot) */
            sl_governor_acquire(e->rt->cfg.governor, e->fs->key);
        e->slot = true;
    } else {
        sl_governor_release(e->rt->cfg.governor, e->fs->key);
        e->slot = false;
    }
}

void sl_rt_env_set_state(struct env *e, enum env_state s)
{
    env_set_active(e, s == ENV_INIT || s == ENV_BUSY);
    /* Started once its first call is answered (the cold start's end), or
     * ended. */
    if (e->tmp_starting && (s == ENV_IDLE || s == ENV_DEAD)) {
        sl_tmpvols_started(e->rt->tmpvols);
        e->tmp_starting = false;
    }
    e->state = s;
    if (s == ENV_IDLE) {
        e->idle_since_ms = sl_loop_now_ms();
        e->idle_seq = ++e->rt->idle_seq;
    }
}

/* The idle reaper: one timer per environment from its first /next on,
 * which does nothing per invoke; when it fires it ends the environment
 * if it has been idle long enough, else sets itself again. */
void sl_rt_on_reap(struct sl_loop *l, void *arg)
{
    struct env *e = arg;
    struct sl_runtime *rt = e->rt;
    pthread_mutex_lock(&rt->mu);
    e->reap_timer = NULL;
    int64_t now = sl_loop_now_ms(), idle_ms = (int64_t)rt->cfg.idle_reap_s * 1000;
    if (e->state == ENV_IDLE && now - e->idle_since_ms >= idle_ms) {
        sl_debug("runtime", "reaping idle environment of %s", e->fn.name);
        sl_rt_env_set_state(e, ENV_DEAD);
        sl_rt_env_kill(e);
    } else if (e->state != ENV_DEAD) {
        int64_t at = e->state == ENV_IDLE ? e->idle_since_ms + idle_ms : now + idle_ms;
        e->reap_timer = sl_loop_timer(l, at, sl_rt_on_reap, e);
    }
    pthread_mutex_unlock(&rt->mu);
}

static void drain_output(struct env *e);

/* Logs a call's END and REPORT lines, after what the runtime printed. */
static void env_log_end(struct env *e, const char *request_id, double dur)
{
    char report[512];
    char end[64];
    struct sl_text t;
    sl_text_init(&t, end, sizeof(end));
    sl_text_str(&t, "END RequestId: ");
    sl_text_str(&t, request_id);
    drain_output(e);
    sl_rt_env_log(e, end, t.len);
    int n = sl_runtime_report_line(report, sizeof(report), request_id, dur, e->fn.memory_mb,
                                   sl_rt_max_memory_mb(e), e->init_reported ? 0 : e->init_ms);
    sl_rt_env_log(e, report, (size_t)n);
    e->init_reported = true;
}

/* Writes the END and REPORT a settled call left, if any. */
void sl_rt_env_flush_end(struct env *e)
{
    if (e->end.on) {
        e->end.on = false;
        env_log_end(e, e->end.request_id, e->end.duration_ms);
    }
}

/* Ends the current call of e (response, error, timeout or exit): logs END
 * and REPORT (or leaves them for sl_runtime_settle(): defer), and makes e
 * idle unless it is dying. */
void sl_rt_env_end_call(struct env *e, bool dying, bool defer)
{
    struct call *c = e->call;
    if (!c)
        return;
    double dur = (double)(sl_time_mono_ns() - c->start_ns) / 1e6;
    if (!c->delivered)
        dur = 0;
    c->inv->duration_ms = dur;
    if (defer) {
        e->end.on = true;
        memcpy(e->end.request_id, c->inv->request_id, sizeof(e->end.request_id));
        e->end.duration_ms = dur;
    } else {
        env_log_end(e, c->inv->request_id, dur);
    }
    e->call = NULL;
    c->env = NULL;
    sl_rt_call_wake(c);
    if (dying || e->stale || e->state == ENV_DEAD) {
        sl_rt_env_set_state(e, ENV_DEAD);
        sl_rt_env_kill(e);
    } else {
        sl_rt_env_set_state(e, ENV_IDLE);
    }
}


/* ---- processes ----------------------------------------------------------- */

static void linebuf_feed(struct env *e, struct linebuf *lb, const char *p, size_t n, bool eof)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (lb->len + take > lb->cap) {
            size_t cap = lb->cap ? lb->cap : 4096;
            while (cap < lb->len + take && cap < LINE_MAX_BYTES)
                cap *= 2;
            char *d = realloc(lb->data, cap);
            if (d) {
                lb->data = d;
                lb->cap = cap;
            }
        }
        size_t room = lb->cap - lb->len;
        size_t copy = take < room ? take : room;
        if (copy) {
            memcpy(lb->data + lb->len, p, copy);
            lb->len += copy;
        }
        if (nl || lb->len >= LINE_MAX_BYTES) {
            sl_rt_env_log(e, lb->data ? lb->data : "", lb->len);
            lb->len = 0;
        }
        p += take + (nl ? 1 : 0);
        n -= take + (nl ? 1 : 0);
    }
    if (eof && lb->len) {
        sl_rt_env_log(e, lb->data, lb->len);
        lb->len = 0;
    }
}

/* Reads what the runtime has written so far (the pipes are non-blocking),
 * so that lines printed before a result are logged before its END. */
static void drain_output(struct env *e)
{
    char buf[16384];
    ssize_t n;
    while (e->out_fd >= 0 && (n = read(e->out_fd, buf, sizeof(buf))) > 0)
        linebuf_feed(e, &e->out_lb, buf, (size_t)n, false);
    while (e->err_fd >= 0 && (n = read(e->err_fd, buf, sizeof(buf))) > 0)
        linebuf_feed(e, &e->err_lb, buf, (size_t)n, false);
}

static void on_output(struct sl_loop *l, int fd, uint32_t events, void *arg)
{
    (void)events;
    struct env *e = arg;
    char buf[16384];
    pthread_mutex_lock(&e->rt->mu);
    ssize_t n = read(fd, buf, sizeof(buf));
    struct linebuf *lb = fd == e->out_fd ? &e->out_lb : &e->err_lb;
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
        if (n > 0)
            linebuf_feed(e, lb, buf, (size_t)n, false);
        pthread_mutex_unlock(&e->rt->mu);
        return;
    }
    linebuf_feed(e, lb, "", 0, true);
    sl_loop_unwatch(l, fd);
    close(fd);
    if (fd == e->out_fd)
        e->out_fd = -1;
    else
        e->err_fd = -1;
    pthread_mutex_unlock(&e->rt->mu);
}

/* Frees e (loop thread, under rt->mu). A connection a caller holds stays
 * with that caller, which closes it. */
void sl_rt_env_free(struct env *e)
{
    struct sl_runtime *rt = e->rt;
    struct sl_loop *l = rt->cfg.loop;
    sl_rt_env_flush_end(e);
    sl_rt_env_set_state(e, ENV_DEAD); /* its slot goes back */
    if (e->reap_timer)
        sl_loop_timer_cancel(l, e->reap_timer);
    e->reap_timer = NULL;
    for (struct env **p = &rt->envs; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    while (e->conns) {
        struct conn *c = e->conns;
        if (c->owner == CONN_CALLER) {
            e->conns = c->next;
            c->e = NULL;
        } else {
            sl_rt_conn_close(c);
        }
    }
    if (e->listen_fd >= 0) {
        sl_loop_unwatch(l, e->listen_fd);
        close(e->listen_fd);
    }
    if (e->out_fd >= 0) {
        sl_loop_unwatch(l, e->out_fd);
        close(e->out_fd);
    }
    if (e->err_fd >= 0) {
        sl_loop_unwatch(l, e->err_fd);
        close(e->err_fd);
    }
    if (e->pidfd >= 0) {
        sl_loop_unwatch(l, e->pidfd);
        close(e->pidfd);
        e->sb.pidfd = -1;
    }
    sl_sandbox_cleanup(&e->sb, e->scratch);
    if (e->scratch[0])
        sl_rm_tree(e->scratch);
    /* Its processes are gone (its PID 1 is reaped, or it never ran), its
     * files too: the user may serve another environment. */
    if (e->tmp_fd >= 0)
        sl_tmpvols_drop(rt->tmpvols, e->tmp_fd);
    if (e->status_fd >= 0)
        close(e->status_fd);
    if (e->uid_fd >= 0) {
        sl_roots_forget(rt->roots, e->uid);
        close(e->uid_fd);
    }
    if (e->creds.access_key[0] && rt->cfg.revoke)
        rt->cfg.revoke(rt->cfg.creds_ud, e->creds.access_key);
    free(e->out_lb.data);
    free(e->err_lb.data);
    sl_buf_free(&e->init_error_body);
    free(e);
}

static void on_exit_event(struct sl_loop *l, int fd, uint32_t events, void *arg)
{
    (void)events;
    struct env *e = arg;
    struct sl_runtime *rt = e->rt;
    siginfo_t si = {0};
    if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) != 0 || si.si_pid == 0)
        return;
    pthread_mutex_lock(&rt->mu);
    sl_loop_unwatch(l, fd);
    close(fd);
    e->pidfd = -1;
    e->sb.pidfd = -1;
    e->pid = -1; /* reaped: its number may be reused, never signal it again */
    /* Whatever it wrote last is still in the pipes. */
    drain_output(e);
    char why[96];
    int sig = si.si_code == CLD_EXITED ? 0 : si.si_status, code = si.si_status;
    int status;
    if (e->status_fd >= 0 && read(e->status_fd, &status, sizeof(status)) == sizeof(status)) {
        /* sluice-init's word on how the runtime ended. */
        sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    } else if (!sig && e->sb.init && code > 128 && code < 128 + NSIG) {
        sig = code - 128; /* (sluice-init ends with 128 + the runtime's signal) */
    }
    if (!sig) {
        snprintf(why, sizeof(why), "exit status %d", code);
    } else {
        /* As AWS words it (Go's names: the C library's, in lower case). */
        int n = snprintf(why, sizeof(why), "signal: %s", strsignal(sig));
        if (n > 8 && why[8] >= 'A' && why[8] <= 'Z')
            why[8] = (char)(why[8] - 'A' + 'a');
    }
    struct call *c = e->call;
    bool was_init = e->state == ENV_INIT;
    if (c && !c->delivered && !was_init) {
        /* A warm runtime that exits after answering, before asking for
         * this call (which AWS would hand only to a runtime in /next):
         * the call goes to a new environment instead. */
        struct fn_state *fs = e->fs;
        e->call = NULL;
        c->env = NULL;
        /* The call keeps the environment's slot for the next one. */
        e->slot = false;
        c->slot = true;
        sl_rt_env_set_state(e, ENV_DEAD);
        sl_debug("runtime", "environment of %s ended (%s) before its next call", e->fn.name, why);
        sl_rt_env_free(e);
        sl_rt_env_spawn(rt, fs, c);
        pthread_mutex_unlock(&rt->mu);
        return;
    }
    if (c) {
        sl_rt_env_logf(e, "RequestId: %s Error: Runtime exited with error: %s", c->inv->request_id, why);
        if (was_init) {
            sl_rt_env_logf(e, "INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: error\tError "
                        "Type: Runtime.ExitError",
                     (double)(sl_loop_now_ms() - e->spawned_ms));
            e->init_reported = true;
        }
        bool oom = sig == SIGKILL && sl_sandbox_oom_killed(&e->sb);
        sl_rt_call_fail(c, oom ? "Runtime.OutOfMemory" : "Runtime.ExitError",
                  "RequestId: %s Error: Runtime exited with error: %s", c->inv->request_id,
                  why);
        sl_rt_env_end_call(e, true, false);
    }
    sl_rt_env_set_state(e, ENV_DEAD);
    sl_debug("runtime", "environment of %s ended (%s)", e->fn.name, why);
    sl_rt_env_free(e);
    pthread_mutex_unlock(&rt->mu);
}

/* The interpreter for a managed runtime: python3.X if installed, else
 * python3 (a warning goes to the function's log). */
static int interpreter(struct sl_runtime *rt, const char *runtime, char *path, size_t n,
                       char *warning, size_t wn)
{
    warning[0] = '\0';
    if (strncmp(runtime, "python", 6) == 0) {
        snprintf(path, n, "/usr/bin/%s", runtime);
        if (access(path, X_OK) == 0)
            return 0;
        if (rt->cfg.strict_runtimes)
            return SL_ENOTFOUND;
        snprintf(path, n, "/usr/bin/python3");
        snprintf(warning, wn,
                 "WARNING: %s is not installed here; running on the machine's python3 (%s)",
                 runtime, "/usr/bin/python3");
        return access(path, X_OK) == 0 ? 0 : SL_ENOTFOUND;
    }
    if (strncmp(runtime, "nodejs", 6) == 0) {
        snprintf(path, n, "/usr/bin/node");
        if (access(path, X_OK) != 0)
            return SL_ENOTFOUND;
        if (atoi(runtime + 6) != atoi(rt->node_version)) { /* "nodejs22.x" -> 22 */
            if (rt->cfg.strict_runtimes)
                return SL_ENOTFOUND;
            snprintf(warning, wn,
                     "WARNING: %.32s is not installed here; running on the machine's node v%s "
                     "(/usr/bin/node)",
                     runtime, rt->node_version[0] ? rt->node_version : "?");
        }
        return 0;
    }
    return SL_EINVAL;
}

/* Builds the environment variables of an environment; caller frees. */
static char **build_env(struct env *e, const char *task_root, const char *runtime_dir)
{
    struct sl_runtime *rt = e->rt;
    const struct sl_function *fn = &e->fn;
    size_t nuser = 0;
    for (char **p = fn->env; p && *p; p++)
        nuser++;
    char **env = calloc(48 + nuser, sizeof(char *));
    if (!env)
        return NULL;
    size_t n = 0;
#define ADD(...)                                      \
    do {                                              \
        char *s_ = NULL;                              \
        if (asprintf(&s_, __VA_ARGS__) >= 0 && s_) \
            env[n++] = s_;                            \
    } while (0)
    /* User variables first: the reserved ones below cannot be overridden
     * (CreateFunction refuses them anyway). */
    for (char **p = fn->env; p && *p; p++)
        ADD("%s", *p);
    ADD("AWS_LAMBDA_RUNTIME_API=127.0.0.1:%u", e->port);
    ADD("_HANDLER=%s", fn->handler);
    ADD("LAMBDA_TASK_ROOT=%s", task_root);
    ADD("LAMBDA_RUNTIME_DIR=%s", runtime_dir);
    if (strncmp(fn->runtime, "provided", 8) != 0)
        ADD("AWS_EXECUTION_ENV=AWS_Lambda_%s", fn->runtime);
    ADD("AWS_REGION=%s", fn->region);
    ADD("AWS_DEFAULT_REGION=%s", fn->region);
    ADD("AWS_LAMBDA_FUNCTION_NAME=%s", fn->name);
    ADD("AWS_LAMBDA_FUNCTION_VERSION=%s", fn->version);
    ADD("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%u", fn->memory_mb);
    ADD("AWS_LAMBDA_LOG_GROUP_NAME=%s", fn->log_group);
    ADD("AWS_LAMBDA_LOG_STREAM_NAME=%s", e->stream);
    ADD("AWS_LAMBDA_INITIALIZATION_TYPE=on-demand");
    bool own = e->creds.access_key[0] != '\0';
    ADD("AWS_ACCESS_KEY_ID=%s", own ? e->creds.access_key : "ASIASLUICE00000000000");
    ADD("AWS_SECRET_ACCESS_KEY=%s", own ? e->creds.secret_key : "sluice-function-secret");
    ADD("AWS_SESSION_TOKEN=%s", own ? e->creds.token : "sluice-function-session");
    ADD("AWS_ENDPOINT_URL=%s", rt->endpoint);
    ADD("AWS_XRAY_CONTEXT_MISSING=LOG_ERROR");
    ADD("TZ=:UTC");
    ADD("LANG=en_US.UTF-8");
    ADD("PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin");
    ADD("LD_LIBRARY_PATH=/lib64:/usr/lib64:%s:%s/lib:%s:%s/lib:/opt/lib", runtime_dir,
        runtime_dir, task_root, task_root);
    ADD("HOME=/tmp");
    ADD("PYTHONUNBUFFERED=1");
    ADD("PYTHONDONTWRITEBYTECODE=1");
    ADD("NODE_PATH=/opt/nodejs/node_modules:%s/node_modules", task_root);
#undef ADD
    env[n] = NULL;
    return env;
}

static void free_strv(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

/*
 * Starts an environment for fn and binds c to it. 0, or fails c (with the
 * error a caller sees) and returns an error code.
 */
int sl_rt_env_spawn(struct sl_runtime *rt, struct fn_state *fs, struct call *c)
{
    struct env *e = calloc(1, sizeof(*e));
    if (!e) {
        sl_rt_call_fail(c, "Runtime.Unknown", "RequestId: %s Error: out of memory", c->inv->request_id);
        sl_rt_call_wake(c);
        return SL_ENOMEM;
    }
    e->rt = rt;
    e->fs = fs;
    e->fn = c->fn;
    e->fn.env = NULL;
    e->pid = -1;
    e->pidfd = e->out_fd = e->err_fd = e->listen_fd = e->uid_fd = e->tmp_fd = e->status_fd = -1;
    e->sb.pid = -1;
    e->sb.pidfd = -1;
    e->sb.peak_fd = -1;
    e->state = ENV_DEAD;
    sl_buf_init(&e->init_error_body, 1 << 20);
    /* Log stream: YYYY/MM/DD/[$LATEST]<32 hex>. */
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    uint8_t rnd[16];
    char hex[33];
    sl_random(rnd, sizeof(rnd));
    sl_hex_encode(rnd, sizeof(rnd), hex);
    snprintf(e->stream, sizeof(e->stream), "%04d/%02d/%02d/[%s]%s", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, c->fn.version, hex);
    e->next = rt->envs;
    rt->envs = e;

    /* Its own user, where isolated (65534 where no uid of the range can be
     * had); without namespaces it stays Sluice's. */
    e->uid = rt->isolate && !rt->uids.count ? 65534 : geteuid();
    if (rt->isolate && rt->uids.count && sl_uid_claim(&rt->uids, &e->uid, &e->uid_fd)) {
        sl_warn("runtime", "no user for an environment of %s: %s", c->fn.name,
                errno == EUSERS ? "every uid of --sandbox-uids is in use" : strerror(errno));
        sl_rt_call_fail(c, "Runtime.Unknown", "RequestId: %s Error: cannot start the runtime",
                        c->inv->request_id);
        sl_rt_env_free(e);
        sl_rt_call_wake(c);
        return SL_EIO;
    }

    /* The Runtime API listener. */
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    e->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (e->listen_fd < 0 || bind(e->listen_fd, (struct sockaddr *)&sin, sizeof(sin)) ||
        listen(e->listen_fd, 16) || getsockname(e->listen_fd, (struct sockaddr *)&sin, &sl) ||
        sl_loop_watch(rt->cfg.loop, e->listen_fd, EPOLLIN, sl_rt_on_listen, e)) {
        if (e->listen_fd >= 0)
            close(e->listen_fd);
        e->listen_fd = -1;
        sl_rt_call_fail(c, "Runtime.Unknown", "RequestId: %s Error: cannot start the Runtime API",
                  c->inv->request_id);
        sl_rt_env_free(e);
        sl_rt_call_wake(c);
        return SL_EIO;
    }
    e->port = ntohs(sin.sin_port);

    /* What to run, named as the environment sees it: /var/task and
     * /var/runtime inside the sandbox's root, the host paths without. */
    char exe[1100], script[1100], warning[256] = "";
    const char *argv[4] = {NULL};
    const char *task_root = rt->isolate ? "/var/task" : c->fn.code_dir;
    const char *runtime_dir = rt->isolate ? "/var/runtime" : rt->runtimes_dir;
    if (strncmp(c->fn.runtime, "provided", 8) == 0) {
        char host[1100];
        snprintf(host, sizeof(host), "%s/bootstrap", c->fn.code_dir);
        if (access(host, X_OK) != 0) {
            sl_rt_call_fail(c, "Runtime.InvalidEntrypoint",
                      "RequestId: %s Error: Couldn't find valid bootstrap(s): "
                      "[/var/task/bootstrap /opt/bootstrap]",
                      c->inv->request_id);
            sl_rt_env_free(e);
            sl_rt_call_wake(c);
            return SL_ENOTFOUND;
        }
        snprintf(exe, sizeof(exe), "%s/bootstrap", task_root);
        argv[0] = exe;
    } else {
        int rc = interpreter(rt, c->fn.runtime, exe, sizeof(exe), warning, sizeof(warning));
        if (rc) {
            sl_rt_call_fail(c, "Runtime.InvalidRuntime",
                      "RequestId: %s Error: runtime %s is not installed on this machine",
                      c->inv->request_id, c->fn.runtime);
            sl_rt_env_free(e);
            sl_rt_call_wake(c);
            return rc;
        }
        bool python = strncmp(c->fn.runtime, "python", 6) == 0;
        snprintf(script, sizeof(script), "%s/%s", runtime_dir,
                 python ? "python/bootstrap.py" : "node/bootstrap.js");
        int a = 0;
        argv[a++] = exe;
        if (python)
            argv[a++] = "-S"; /* the bootstrap sets sys.path up itself */
        argv[a++] = script;
    }
    /* Its session: the credentials its handler's own AWS calls sign with. */
    if (rt->cfg.issue && rt->cfg.issue(rt->cfg.creds_ud, &c->fn, &e->creds)) {
        sl_warn("runtime", "no session credentials for %s (role %s)", c->fn.name, c->fn.role);
        memset(&e->creds, 0, sizeof(e->creds));
    }
    /* Everything the child needs is built before the clone. */
    e->fn.env = c->fn.env;
    char **envp = build_env(e, task_root, runtime_dir);
    e->fn.env = NULL;
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    if (!envp || pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
        free_strv(envp);
        sl_rt_call_fail(c, "Runtime.Unknown", "RequestId: %s Error: cannot set up the environment",
                  c->inv->request_id);
        sl_rt_env_free(e);
        sl_rt_call_wake(c);
        return SL_EIO;
    }
    char name[40];
    uint8_t idb[8];
    sl_random(idb, sizeof(idb));
    sl_hex_encode(idb, sizeof(idb), name);
    snprintf(e->scratch, sizeof(e->scratch), "%s/%s", rt->scratch_dir, name);
    struct sl_sandbox_spec spec = {
        .group = rt->group,
        .spawner = rt->spawner,
        .name = name,
        .scratch = e->scratch,
        .code_dir = c->fn.code_dir,
        .runtimes_dir = rt->runtimes_dir,
        .memory_mb = c->fn.memory_mb ? c->fn.memory_mb : 128,
        .ephemeral_mb = c->fn.ephemeral_mb ? c->fn.ephemeral_mb : 512,
        .isolate = rt->isolate,
        .uid = e->uid,
        .init_fd = rt->init_fd,
        .roots = rt->roots,
    };
    /* Its /tmp: a filesystem of EphemeralStorage (or, where there is none
     * to be had, a directory without a total limit: the log says so). It
     * goes with the environment's mount namespace. */
    spec.tmp_fd = rt->tmpvols ? sl_tmpvols_take(rt->tmpvols, spec.ephemeral_mb, e->uid) : -1;
    /* How the runtime ends, in sluice-init's words (its own exit status
     * cannot tell 128 + a signal from that exit status). */
    int statusp[2] = {-1, -1};
    spec.status_fd = -1;
    if (rt->init_fd >= 0 && pipe2(statusp, O_CLOEXEC | O_NONBLOCK) == 0) {
        e->status_fd = statusp[0];
        spec.status_fd = statusp[1];
    }
    e->spawned_ms = sl_loop_now_ms();
    struct sl_err serr = {0};
    int src = sl_sandbox_spawn(&e->sb, &spec, argv, envp, outp[1], errp[1], &serr);
    if (statusp[1] >= 0)
        close(statusp[1]);
    if (spec.tmp_fd >= 0) {
        e->tmp_fd = spec.tmp_fd; /* (its unmount waits for the end: envs free) */
        e->tmp_starting = true;
    }
    free_strv(envp);
    close(outp[1]);
    close(errp[1]);
    if (src) {
        close(outp[0]);
        close(errp[0]);
        sl_warn("runtime", "cannot start an environment of %s: %s", c->fn.name, serr.msg);
        sl_rt_call_fail(c, "Runtime.Unknown", "RequestId: %s Error: cannot start the runtime",
                  c->inv->request_id);
        sl_rt_env_free(e);
        sl_rt_call_wake(c);
        return SL_EIO;
    }
    e->pid = e->sb.pid;
    e->pidfd = e->sb.pidfd;
    e->out_fd = outp[0];
    e->err_fd = errp[0];
    fcntl(e->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(e->err_fd, F_SETFL, O_NONBLOCK);
    sl_loop_watch(rt->cfg.loop, e->out_fd, EPOLLIN, on_output, e);
    sl_loop_watch(rt->cfg.loop, e->err_fd, EPOLLIN, on_output, e);
    if (e->pidfd >= 0)
        sl_loop_watch(rt->cfg.loop, e->pidfd, EPOLLIN, on_exit_event, e);
    if (e->sb.missing[0]) {
        char w[256];
        snprintf(w, sizeof(w), "WARNING: this environment runs without: %s (the kernel refused "
                               "them); it is limited by rlimits only there",
                 e->sb.missing);
        sl_rt_env_log(e, w, strlen(w));
    }
    e->call = c;
    c->env = e;
    sl_rt_env_set_state(e, ENV_INIT); /* takes the call's slot */
    if (warning[0])
        sl_rt_env_log(e, warning, strlen(warning));
    sl_rt_call_nudge(c); /* bound: its caller's deadline is the init limit now */
    sl_debug("runtime", "started environment of %s (pid %d, Runtime API port %u)", c->fn.name,
             (int)e->pid, e->port);
    return 0;
}
