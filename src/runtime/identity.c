/*
 * Who an environment is, and who is calling its Runtime API.
 *
 * Each environment runs as a user of its own, from a range of uids: one
 * function cannot signal, trace or read the files of another, its
 * processes count apart, and a connection to a Runtime API is known to
 * come from its environment by the user owning the calling socket, which
 * the kernel tells through sock_diag. A uid is claimed by binding an
 * abstract Unix socket named after it: the claim holds across every Sluice
 * on the machine (two servers with the same range never hand one uid to
 * two environments) and goes with the descriptor, even when Sluice is
 * killed.
 */
#include "runtime/internal.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sl_uid_claim(struct sl_uids *u, uid_t *uid, int *fd)
{
    for (uint32_t i = 0; i < u->count; i++) {
        uint32_t k = (u->next + i) % u->count;
        int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0)
            return -1;
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        /* sun_path[0] = '\0': the abstract namespace. */
        int n = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "sluice/uid/%lu",
                         (unsigned long)u->first + k);
        if (bind(s, (struct sockaddr *)&sun,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) == 0) {
            u->next = (k + 1) % u->count;
            *uid = (uid_t)(u->first + k);
            *fd = s;
            return 0;
        }
        int e = errno;
        close(s);
        if (e != EADDRINUSE) {
            errno = e;
            return -1;
        }
    }
    errno = EUSERS;
    return -1;
}

int sl_diag_open(void)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -1;
    /* A reply that never comes (it always does) must not hang the loop. */
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
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
