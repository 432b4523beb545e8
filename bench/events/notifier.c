/*
 * notifier — the function of bench/events: a native bootstrap (on
 * runtimes/c's sluice_lambda) that, for each event, sends one UDP datagram
 * with the event's first bytes to 127.0.0.1:$BENCH_UDP_PORT, the
 * benchmark's listener, the moment the event arrives. The benchmark times
 * PutObject -> function start and counts events processed by them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice_lambda.h"

struct target {
    int fd;
    struct sockaddr_in addr;
};

static int handler(const struct sl_lambda_event *ev, struct sl_lambda_reply *r, void *ud)
{
    struct target *t = ud;
    size_t n = ev->payload_len < 4096 ? ev->payload_len : 4096; /* an S3 event fits */
    sendto(t->fd, ev->payload, n, 0, (const struct sockaddr *)&t->addr, sizeof(t->addr));
    sl_lambda_reply_ref(r, "null", 4);
    return 0;
}

int main(void)
{
    const char *port = getenv("BENCH_UDP_PORT");
    struct target t = {.fd = socket(AF_INET, SOCK_DGRAM, 0)};
    if (!port || t.fd < 0) {
        sl_lambda_init_error("Bench.Config", "BENCH_UDP_PORT is not set");
        return 1;
    }
    t.addr.sin_family = AF_INET;
    t.addr.sin_port = htons((uint16_t)atoi(port));
    t.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sl_lambda_run(handler, &t) ? 1 : 0;
}
