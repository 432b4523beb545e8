/* The event loop: epoll, a wake-up eventfd for posted tasks, and a binary
 * heap of timers whose earliest deadline is epoll_wait's timeout. */
#include "engine/engine.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct watch {
    int fd;
    sl_io_cb cb;
    void *arg;
    struct watch *next;
};

struct task {
    sl_task_cb cb;
    void *arg;
    struct task *next;
    /* for sl_loop_call */
    bool *done;
    pthread_cond_t *cond;
};

struct sl_timer {
    int64_t at;
    uint64_t seq; /* ties fire in creation order */
    sl_timer_cb cb;
    void *arg;
    size_t index; /* position in the heap */
};

struct sl_loop {
    int epfd, wakefd;
    pthread_t thread;
    bool stopping;
    struct watch *watches; /* few: a list is enough */
    struct sl_timer **heap;
    size_t nheap, capheap;
    uint64_t timer_seq;
    pthread_mutex_t mu; /* guards tasks, stopping */
    struct task *head, *tail;
    /* Posted by the loop's own thread: no lock, no eventfd. */
    struct task *own_head, *own_tail;
    /* Deferred by the loop's own thread: run once the tasks are done. */
    struct task *defer_head, *defer_tail;
};

int64_t sl_loop_now_ms(void)
{
    return sl_time_mono_ns() / 1000000;
}

bool sl_loop_is_current(const struct sl_loop *l)
{
    return pthread_equal(pthread_self(), l->thread);
}

/* ---- timers ---------------------------------------------------------- */

static bool timer_less(const struct sl_timer *a, const struct sl_timer *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_swap(struct sl_loop *l, size_t i, size_t j)
{
    struct sl_timer *t = l->heap[i];
    l->heap[i] = l->heap[j];
    l->heap[j] = t;
    l->heap[i]->index = i;
    l->heap[j]->index = j;
}

static void heap_up(struct sl_loop *l, size_t i)
{
    while (i > 0 && timer_less(l->heap[i], l->heap[(i - 1) / 2])) {
        heap_swap(l, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(struct sl_loop *l, size_t i)
{
    for (;;) {
        size_t m = i, a = 2 * i + 1, b = 2 * i + 2;
        if (a < l->nheap && timer_less(l->heap[a], l->heap[m]))
            m = a;
        if (b < l->nheap && timer_less(l->heap[b], l->heap[m]))
            m = b;
        if (m == i)
            return;
        heap_swap(l, i, m);
        i = m;
    }
}

static void heap_remove(struct sl_loop *l, size_t i)
{
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->index = i;
        heap_down(l, i);
        heap_up(l, i);
    }
}

struct sl_timer *sl_loop_timer(struct sl_loop *l, int64_t at_ms, sl_timer_cb cb, void *arg)
{
    if (l->nheap == l->capheap) {
        size_t cap = l->capheap ? 2 * l->capheap : 16;
        struct sl_timer **h = realloc(l->heap, cap * sizeof(*h));
        if (!h)
            return NULL;
        l->heap = h;
        l->capheap = cap;
    }
    struct sl_timer *t = malloc(sizeof(*t));
    if (!t)
        return NULL;
    *t = (struct sl_timer){.at = at_ms, .seq = l->timer_seq++, .cb = cb, .arg = arg};
    t->index = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->index);
    return t;
}

void sl_loop_timer_cancel(struct sl_loop *l, struct sl_timer *t)
{
    if (!t)
        return;
    heap_remove(l, t->index);
    free(t);
}

/* ---- watches --------------------------------------------------------- */

int sl_loop_watch(struct sl_loop *l, int fd, uint32_t events, sl_io_cb cb, void *arg)
{
    struct watch *w = malloc(sizeof(*w));
    if (!w)
        return SL_ENOMEM;
    *w = (struct watch){fd, cb, arg, l->watches};
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        free(w);
        return SL_EIO;
    }
    l->watches = w;
    return 0;
}

static struct watch *find_watch(struct sl_loop *l, int fd, struct watch ***link)
{
    for (struct watch **p = &l->watches; *p; p = &(*p)->next) {
        if ((*p)->fd == fd) {
            if (link)
                *link = p;
            return *p;
        }
    }
    return NULL;
}

int sl_loop_rewatch(struct sl_loop *l, int fd, uint32_t events)
{
    struct watch *w = find_watch(l, fd, NULL);
    if (!w)
        return SL_ENOTFOUND;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) ? SL_EIO : 0;
}

void sl_loop_unwatch(struct sl_loop *l, int fd)
{
    struct watch **link;
    struct watch *w = find_watch(l, fd, &link);
    if (!w)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    *link = w->next;
    /* Events already fetched for w in this round must not reach it: the
     * dispatcher re-checks membership (see run_events). */
    free(w);
}

/* ---- tasks ----------------------------------------------------------- */

static int post(struct sl_loop *l, struct task *t)
{
    pthread_mutex_lock(&l->mu);
    if (l->stopping) {
        pthread_mutex_unlock(&l->mu);
        return SL_ECLOSED;
    }
    if (l->tail)
        l->tail->next = t;
    else
        l->head = t;
    l->tail = t;
    pthread_mutex_unlock(&l->mu);
    uint64_t one = 1;
    if (write(l->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        return SL_EIO;
    return 0;
}

/* A task list of the loop's own thread: no lock. */
static void append(struct task **head, struct task **tail, struct task *t)
{
    if (*tail)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

static struct task *task_new(sl_task_cb cb, void *arg)
{
    struct task *t = calloc(1, sizeof(*t));
    if (t) {
        t->cb = cb;
        t->arg = arg;
    }
    return t;
}

int sl_loop_post(struct sl_loop *l, sl_task_cb cb, void *arg)
{
    struct task *t = task_new(cb, arg);
    if (!t)
        return SL_ENOMEM;
    if (sl_loop_is_current(l)) {
        /* The loop runs it before it next sleeps: nothing to wake. */
        append(&l->own_head, &l->own_tail, t);
        return 0;
    }
    int rc = post(l, t);
    if (rc)
        free(t);
    return rc;
}

int sl_loop_defer(struct sl_loop *l, sl_task_cb cb, void *arg)
{
    struct task *t = task_new(cb, arg);
    if (!t)
        return SL_ENOMEM;
    append(&l->defer_head, &l->defer_tail, t);
    return 0;
}

void sl_loop_undefer(struct sl_loop *l, sl_task_cb cb, void *arg)
{
    struct task *prev = NULL;
    for (struct task **p = &l->defer_head; *p;) {
        struct task *t = *p;
        if (t->cb == cb && t->arg == arg) {
            *p = t->next;
            free(t);
            continue;
        }
        prev = t;
        p = &t->next;
    }
    l->defer_tail = prev;
}

static void run_list(struct sl_loop *l, struct task **head, struct task **tail)
{
    while (*head) {
        struct task *t = *head;
        *head = t->next;
        if (!*head)
            *tail = NULL;
        t->cb(l, t->arg);
        free(t);
    }
}

/* Runs what the loop posted itself, and what those post in turn; then
 * what was deferred until they were done (and again what that posts). */
static void run_own_tasks(struct sl_loop *l)
{
    while (l->own_head || l->defer_head) {
        run_list(l, &l->own_head, &l->own_tail);
        run_list(l, &l->defer_head, &l->defer_tail);
    }
}

int sl_loop_call(struct sl_loop *l, sl_task_cb cb, void *arg)
{
    pthread_cond_t cond;
    pthread_cond_init(&cond, NULL);
    bool done = false;
    struct task *t = calloc(1, sizeof(*t));
    if (!t) {
        pthread_cond_destroy(&cond);
        return SL_ENOMEM;
    }
    *t = (struct task){.cb = cb, .arg = arg, .done = &done, .cond = &cond};
    int rc = post(l, t);
    if (rc) {
        free(t);
    } else {
        pthread_mutex_lock(&l->mu);
        while (!done)
            pthread_cond_wait(&cond, &l->mu);
        pthread_mutex_unlock(&l->mu);
    }
    pthread_cond_destroy(&cond);
    return rc;
}

/* Runs every task queued so far; returns whether the loop should stop. */
static bool run_tasks(struct sl_loop *l)
{
    uint64_t n;
    if (read(l->wakefd, &n, sizeof(n)) < 0) {
        /* EAGAIN: nothing new; tasks may still be queued. */
    }
    pthread_mutex_lock(&l->mu);
    struct task *t = l->head;
    l->head = l->tail = NULL;
    bool stop = l->stopping;
    pthread_mutex_unlock(&l->mu);
    while (t) {
        struct task *next = t->next;
        t->cb(l, t->arg);
        if (t->done) {
            pthread_mutex_lock(&l->mu);
            *t->done = true;
            pthread_cond_signal(t->cond);
            pthread_mutex_unlock(&l->mu);
        }
        free(t);
        t = next;
    }
    return stop;
}

/* ---- the loop -------------------------------------------------------- */

static bool watch_alive(struct sl_loop *l, struct watch *w)
{
    for (struct watch *x = l->watches; x; x = x->next)
        if (x == w)
            return true;
    return false;
}

static void *loop_main(void *arg)
{
    struct sl_loop *l = arg;
    struct epoll_event evs[64];
    for (;;) {
        run_own_tasks(l);
        int timeout = -1;
        if (l->nheap) {
            int64_t d = l->heap[0]->at - sl_loop_now_ms();
            timeout = d < 0 ? 0 : d > INT32_MAX ? INT32_MAX : (int)d;
        }
        int n = epoll_wait(l->epfd, evs, SL_ARRAY_LEN(evs), timeout);
        if (n < 0 && errno != EINTR)
            break;
        bool stop = false;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                stop = run_tasks(l);
                continue;
            }
            struct watch *w = evs[i].data.ptr;
            /* A callback earlier in this round may have removed it. */
            if (watch_alive(l, w))
                w->cb(l, w->fd, evs[i].events, w->arg);
        }
        int64_t now = sl_loop_now_ms();
        while (l->nheap && l->heap[0]->at <= now) {
            struct sl_timer *t = l->heap[0];
            heap_remove(l, 0);
            t->cb(l, t->arg);
            free(t);
        }
        if (stop) {
            run_own_tasks(l);
            break;
        }
    }
    return NULL;
}

int sl_loop_new(struct sl_loop **out, struct sl_err *err)
{
    struct sl_loop *l = calloc(1, sizeof(*l));
    if (!l)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&l->mu, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (l->epfd < 0 || l->wakefd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev)) {
        int e = errno;
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->wakefd >= 0)
            close(l->wakefd);
        pthread_mutex_destroy(&l->mu);
        free(l);
        return sl_errf(err, SL_EIO, "event loop: %s", strerror(e));
    }
    int perr = pthread_create(&l->thread, NULL, loop_main, l);
    if (!perr)
        pthread_setname_np(l->thread, "sl-loop"); /* (for top and perf) */
    if (perr) {
        close(l->epfd);
        close(l->wakefd);
        pthread_mutex_destroy(&l->mu);
        free(l);
        return sl_errf(err, SL_EIO, "event loop thread: %s", strerror(perr));
    }
    *out = l;
    return 0;
}

void sl_loop_free(struct sl_loop *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_mutex_unlock(&l->mu);
    uint64_t one = 1;
    if (write(l->wakefd, &one, sizeof(one)) < 0) {
        /* The eventfd cannot be full here (EAGAIN only past 2^64-2). */
    }
    pthread_join(l->thread, NULL);
    run_tasks(l); /* anything posted in the race with stopping */
    run_own_tasks(l);
    while (l->watches) {
        struct watch *w = l->watches;
        l->watches = w->next;
        free(w);
    }
    for (size_t i = 0; i < l->nheap; i++)
        free(l->heap[i]);
    free(l->heap);
    close(l->epfd);
    close(l->wakefd);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int64_t sl_delay_scaled_ms(int64_t ms, double scale)
{
    return (int64_t)ceil((double)ms / (scale >= 1 ? scale : 1));
}

/* ---- work in flight ---------------------------------------------------- */

void sl_inflight_init(struct sl_inflight *f)
{
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->quiet, NULL);
    f->n = 0;
    f->stopping = false;
}

void sl_inflight_destroy(struct sl_inflight *f)
{
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->quiet);
}

void sl_inflight_hold(struct sl_inflight *f)
{
    pthread_mutex_lock(&f->mu);
    f->n++;
    pthread_mutex_unlock(&f->mu);
}

void sl_inflight_drop(struct sl_inflight *f)
{
    pthread_mutex_lock(&f->mu);
    if (--f->n == 0)
        pthread_cond_broadcast(&f->quiet);
    pthread_mutex_unlock(&f->mu);
}

bool sl_inflight_stopping(struct sl_inflight *f)
{
    pthread_mutex_lock(&f->mu);
    bool s = f->stopping;
    pthread_mutex_unlock(&f->mu);
    return s;
}

bool sl_inflight_stop(struct sl_inflight *f)
{
    pthread_mutex_lock(&f->mu);
    bool was = f->stopping;
    f->stopping = true;
    pthread_mutex_unlock(&f->mu);
    return was;
}

void sl_inflight_wait(struct sl_inflight *f)
{
    pthread_mutex_lock(&f->mu);
    while (f->n > 0)
        pthread_cond_wait(&f->quiet, &f->mu);
    pthread_mutex_unlock(&f->mu);
}
