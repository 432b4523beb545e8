/*
 * Outbound HTTP(S) on one libcurl multi thread (client.h).
 */
#include "http/client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* One request, from its post to its end. */
struct job {
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    sl_http_out_cb cb;
    void *arg;
    char error[CURL_ERROR_SIZE];
    struct job *prev, *next;
};

struct sl_http_client {
    CURLM *multi;
    pthread_t thread;
    bool thread_on;
    pthread_mutex_t mu;
    struct job *posted; /* under mu: not yet the thread's */
    bool stopping;      /* under mu */
    struct job *active; /* the thread's: in the multi */
    char *ca_file;      /* more authorities, or NULL */
};

/* curl_global_init is not thread-safe: once, and cleaned up with the last
 * client. */
static pthread_mutex_t global_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned global_users;

static int global_hold(void)
{
    pthread_mutex_lock(&global_mu);
    int rc = 0;
    if (global_users == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        rc = SL_EIO;
    if (!rc)
        global_users++;
    pthread_mutex_unlock(&global_mu);
    return rc;
}

static void global_drop(void)
{
    pthread_mutex_lock(&global_mu);
    if (--global_users == 0)
        curl_global_cleanup();
    pthread_mutex_unlock(&global_mu);
}

static void job_free(struct job *j)
{
    if (j->easy)
        curl_easy_cleanup(j->easy);
    curl_slist_free_all(j->headers);
    free(j->body);
    free(j);
}

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

static void unlink_active(struct sl_http_client *cl, struct job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        cl->active = j->next;
    if (j->next)
        j->next->prev = j->prev;
}

/* Reports the ends of finished transfers. */
static void reap(struct sl_http_client *cl)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(cl->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct job *j = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        CURLcode result = msg->data.result;
        curl_multi_remove_handle(cl->multi, msg->easy_handle);
        if (!j)
            continue;
        unlink_active(cl, j);
        long status = 0;
        if (result == CURLE_OK)
            curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
        const char *why = j->error[0] ? j->error : curl_easy_strerror(result);
        j->cb(j->arg, result == CURLE_OK ? status : 0, result == CURLE_OK ? NULL : why);
        job_free(j);
    }
}

static void *client_main(void *arg)
{
    struct sl_http_client *cl = arg;
    for (;;) {
        pthread_mutex_lock(&cl->mu);
        struct job *take = cl->posted;
        cl->posted = NULL;
        bool stop = cl->stopping;
        pthread_mutex_unlock(&cl->mu);
        while (take) {
            struct job *j = take;
            take = j->next;
            j->prev = NULL;
            j->next = cl->active;
            if (cl->active)
                cl->active->prev = j;
            cl->active = j;
            if (curl_multi_add_handle(cl->multi, j->easy) != CURLM_OK) {
                unlink_active(cl, j);
                j->cb(j->arg, 0, "cannot start the request");
                job_free(j);
            }
        }
        if (stop)
            break;
        int running = 0;
        curl_multi_perform(cl->multi, &running);
        reap(cl);
        /* Asleep until a transfer needs the thread or a post wakes it
         * (a day is only the call's bound: nothing runs when idle). */
        CURLMcode prc = curl_multi_poll(cl->multi, NULL, 0, 24 * 3600 * 1000, NULL);
        if (prc != CURLM_OK) {
            /* (Not expected: a pause rather than a spin.) */
            sl_warn("http", "client: curl_multi_poll: %s", curl_multi_strerror(prc));
            struct timespec pause = {0, 100 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
    /* Stopping: what is under way ends without an answer. */
    while (cl->active) {
        struct job *j = cl->active;
        unlink_active(cl, j);
        curl_multi_remove_handle(cl->multi, j->easy);
        j->cb(j->arg, 0, "stopped");
        job_free(j);
    }
    return NULL;
}

int sl_http_client_new(struct sl_http_client **out, const char *ca_file, struct sl_err *err)
{
    *out = NULL;
    if (global_hold())
        return sl_errf(err, SL_EIO, "cannot initialise libcurl");
    struct sl_http_client *cl = calloc(1, sizeof(*cl));
    if (!cl) {
        global_drop();
        return sl_errf(err, SL_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&cl->mu, NULL);
    cl->multi = curl_multi_init();
    if (!cl->multi) {
        sl_http_client_free(cl);
        return sl_errf(err, SL_EIO, "cannot make a libcurl multi handle");
    }
    if (ca_file && !(cl->ca_file = strdup(ca_file))) {
        sl_http_client_free(cl);
        return sl_errf(err, SL_ENOMEM, "out of memory");
    }
    if (pthread_create(&cl->thread, NULL, client_main, cl)) {
        sl_http_client_free(cl);
        return sl_errf(err, SL_EIO, "cannot start the HTTP client's thread");
    }
    cl->thread_on = true;
    *out = cl;
    return 0;
}

/* The file's authorities and the system's: CURLOPT_CAINFO takes the
 * place of the default bundle, so the system's directory is named too
 * (OpenSSL reads both). */
static bool set_authorities(CURL *e, const char *ca_file)
{
    static const char system_dir[] = "/etc/ssl/certs";
    struct stat st;
    if (curl_easy_setopt(e, CURLOPT_CAINFO, ca_file) != CURLE_OK)
        return false;
    return stat(system_dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
           curl_easy_setopt(e, CURLOPT_CAPATH, system_dir) == CURLE_OK;
}

int sl_http_client_post(struct sl_http_client *cl, const struct sl_http_out *req,
                        sl_http_out_cb cb, void *arg)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return SL_ENOMEM;
    j->cb = cb;
    j->arg = arg;
    j->easy = curl_easy_init();
    j->body = malloc(req->body_len + 1);
    if (!j->easy || !j->body) {
        job_free(j);
        return SL_ENOMEM;
    }
    memcpy(j->body, req->body ? req->body : "", req->body_len);
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        struct curl_slist *h = curl_slist_append(j->headers, req->headers[i]);
        if (!h) {
            job_free(j);
            return SL_ENOMEM;
        }
        j->headers = h;
    }
    /* (No "Expect: 100-continue": the body goes with the headers.) */
    struct curl_slist *h = curl_slist_append(j->headers, "Expect:");
    if (!h) {
        job_free(j);
        return SL_ENOMEM;
    }
    j->headers = h;
    CURL *e = j->easy;
    bool ok = curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) ==
                  CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->error) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_PRIVATE, j) == CURLE_OK &&
              (!cl->ca_file || set_authorities(e, cl->ca_file));
    if (!ok) {
        job_free(j);
        return SL_EINVAL;
    }
    pthread_mutex_lock(&cl->mu);
    bool stopping = cl->stopping;
    if (!stopping) {
        j->next = cl->posted;
        cl->posted = j;
    }
    pthread_mutex_unlock(&cl->mu);
    if (stopping) {
        job_free(j);
        return SL_ECLOSED;
    }
    curl_multi_wakeup(cl->multi);
    return 0;
}

void sl_http_client_stop(struct sl_http_client *cl)
{
    if (!cl)
        return;
    pthread_mutex_lock(&cl->mu);
    cl->stopping = true;
    pthread_mutex_unlock(&cl->mu);
    if (cl->thread_on) {
        curl_multi_wakeup(cl->multi);
        pthread_join(cl->thread, NULL);
        cl->thread_on = false;
    }
    /* Posted after the thread's last look. */
    pthread_mutex_lock(&cl->mu);
    struct job *late = cl->posted;
    cl->posted = NULL;
    pthread_mutex_unlock(&cl->mu);
    while (late) {
        struct job *j = late;
        late = j->next;
        j->cb(j->arg, 0, "stopped");
        job_free(j);
    }
}

void sl_http_client_free(struct sl_http_client *cl)
{
    if (!cl)
        return;
    sl_http_client_stop(cl);
    if (cl->multi)
        curl_multi_cleanup(cl->multi);
    pthread_mutex_destroy(&cl->mu);
    free(cl->ca_file);
    free(cl);
    global_drop();
}
