/* libFuzzer target: the Runtime API's HTTP/1.1 request parser, on every
 * prefix length a connection could have received, with a body cap that
 * comes from the input too; complete requests have their body decoded. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "runtime/rapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t body_max = (size_t)data[0] * 64;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    /* Whole input, then a few prefixes: "more needed" must hold for them. */
    size_t cuts[] = {n, n / 2, n / 3, n > 7 ? n - 7 : 0};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        struct sl_rapi_request rq;
        int st = sl_rapi_parse(p, cuts[i], body_max, &rq);
        if (st == 1) {
            if (rq.total > cuts[i] || rq.body_len > body_max || rq.head_len > rq.total)
                __builtin_trap();
            struct sl_buf body;
            sl_buf_init(&body, body_max + 1);
            if (sl_rapi_body(p, &rq, &body) || body.len != rq.body_len)
                __builtin_trap();
            sl_buf_free(&body);
        } else if (st != 0 && st != 400 && st != 413 && st != 431 && st != 501) {
            __builtin_trap();
        }
    }
    return 0;
}
