/*
 * Who an environment is, and who is calling its Runtime API.
 *
 * Each environment runs as a user of its own, from a range of uids: one
 * function cannot signal, trace or read the files of another, its
 * processes count apart, and a connection to a Runtime API is known to
 * come from its environment by the user owning the calling socket, which
 * the kernel tells through sock_diag. A uid is claimed by a lock on a file
 * named after it (flock) in /run/sluice/uids, which functions cannot
 * reach: the claim holds across every Sluice on the machine (two servers
 * with the same range never hand one uid to two environments) and goes
 * with the descriptor, even when Sluice is killed.
 */
#include "runtime/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

int sl_uid_claim(struct sl_uids *u, uid_t *uid, int *fd)
{
    for (uint32_t i = 0; i < u->count; i++) {
        uint32_t k = (u->next + i) % u->count;
        char path[1200];
        snprintf(path, sizeof(path), "%s/%lu", u->dir, (unsigned long)u->first + k);
        int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (f < 0)
            return -1;
        if (flock(f, LOCK_EX | LOCK_NB) == 0) {
            u->next = (k + 1) % u->count;
            *uid = (uid_t)(u->first + k);
            *fd = f;
            return 0;
        }
        int e = errno;
        close(f);
        if (e != EWOULDBLOCK) {
            errno = e;
            return -1;
        }
    }
    errno = EUSERS;
    return -1;
}

/* Asks diag about a connection of its own, on loopback: whether the kernel
 * answers (it has TCP's sock_diag) with this process's user. */
static bool diag_works(int diag)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1, s = -1;
    bool ok = false;
    if (l >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0 &&
        getsockname(l, (struct sockaddr *)&a, &n) == 0 &&
        (c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0 &&
        connect(c, (struct sockaddr *)&a, sizeof(a)) == 0) {
        struct sockaddr_in peer;
        socklen_t pn = sizeof(peer);
        s = accept4(l, (struct sockaddr *)&peer, &pn, SOCK_CLOEXEC);
        uid_t uid;
        ok = s >= 0 && sl_peer_uid(diag, &a, &peer, &uid) == 0 && uid == geteuid();
    }
    int e = errno;
    int fds[] = {s, c, l};
    for (size_t i = 0; i < SL_ARRAY_LEN(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    errno = ok ? 0 : (e ? e : ENOENT);
    return ok;
}

int sl_diag_open(void)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -1;
    /* A reply that never comes (it always does) must not hang the loop. */
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    /* The netlink family can be there without TCP's part of it (a module
     * not loaded): then every question would fail, and every caller be
     * refused. */
    if (!diag_works(fd)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int sl_peer_uid(int diag_fd, const struct sockaddr_in *local, const struct sockaddr_in *peer,
                uid_t *uid)
{
    static uint32_t last_seq;
    uint32_t seq = __atomic_add_fetch(&last_seq, 1, __ATOMIC_RELAXED);
    /* The calling socket is the one whose own end is peer and whose
     * other end is local: looked up by that 4-tuple. */
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 r;
    } req = {
        .nlh = {.nlmsg_len = sizeof(req),
                .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                .nlmsg_flags = NLM_F_REQUEST,
                .nlmsg_seq = seq},
        .r = {.sdiag_family = AF_INET,
              .sdiag_protocol = IPPROTO_TCP,
              .idiag_states = ~0u,
              .id = {.idiag_sport = peer->sin_port,
                     .idiag_dport = local->sin_port,
                     .idiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE}}},
    };
    req.r.id.idiag_src[0] = peer->sin_addr.s_addr;
    req.r.id.idiag_dst[0] = local->sin_addr.s_addr;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(diag_fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
        return -1;
    union {
        struct nlmsghdr h;
        char bytes[8192];
    } reply;
    for (;;) {
        ssize_t n = recv(diag_fd, &reply, sizeof(reply), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        for (struct nlmsghdr *h = &reply.h; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != seq)
                continue; /* the late reply of an earlier question */
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                errno = h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error ? -e->error : EPROTO;
                return -1;
            }
            if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
                h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
                errno = EPROTO;
                return -1;
            }
            const struct inet_diag_msg *m = NLMSG_DATA(h);
            *uid = (uid_t)m->idiag_uid;
            return 0;
        }
    }
}
