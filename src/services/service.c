/* Helpers every service handler shares. */
#include "services/service.h"

static int take_piece(struct sl_svc_request *q, const char *data, size_t n)
{
    if (q->body_too_big || n > q->body_cap - q->body_buf.len) {
        q->body_too_big = true;
        return 0; /* keep draining: the service answers at the end */
    }
    return sl_buf_append(&q->body_buf, data, n);
}

void sl_svc_take_body(struct sl_svc_request *q, size_t cap, void (*done)(struct sl_svc_request *q))
{
    sl_buf_init(&q->body_buf, 0);
    q->body_cap = cap;
    q->body_too_big = q->http->has_content_length && q->http->content_length > cap;
    q->body = take_piece;
    q->end = done;
}
