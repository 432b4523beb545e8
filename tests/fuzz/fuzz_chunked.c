/* libFuzzer target: the aws-chunked body decoder, in each of its modes,
 * fed in pieces whose sizes come from the input too. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "aws/sigv4.h"

static int sink(void *ud, const void *p, size_t n)
{
    (void)p;
    *(size_t *)ud += n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const enum sl_sigv4_payload modes[] = {
        SL_SIGV4_PAYLOAD_STREAMING,
        SL_SIGV4_PAYLOAD_STREAMING_TRAILER,
        SL_SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER,
    };
    static const char *const trailers[] = {NULL, "x-amz-checksum-crc32",
                                           "x-amz-checksum-crc32c", "x-amz-checksum-sha256"};
    uint8_t sel = data[0], step = data[1];
    data += 2;
    size -= 2;
    /* A signed mode gets a fixed seed so that signatures are checked too. */
    struct sl_sigv4_result seed;
    sl_sigv4_result_init(&seed);
    sl_sigv4_signing_key("secret", "20240101", "us-east-1", "s3", seed.signing_key);
    memset(seed.signature, 'a', SL_SIGV4_SIG_HEX);
    seed.signature[SL_SIGV4_SIG_HEX] = '\0';
    strcpy(seed.amz_date, "20240101T000000Z");
    strcpy(seed.scope, "20240101/us-east-1/s3/aws4_request");
    size_t decoded = 0;
    struct sl_chunked_config cfg = {
        .mode = modes[sel % 3],
        .seed = (sel & 4) ? &seed : NULL,
        .trailer = trailers[(sel >> 3) % 4],
        .decoded_length = (sel & 0x20) ? (int64_t)(size / 2) : -1,
        .sink = sink,
        .ud = &decoded,
    };
    if (cfg.mode == SL_SIGV4_PAYLOAD_STREAMING)
        cfg.trailer = NULL;
    struct sl_chunked c;
    struct sl_err err = {0};
    if (sl_chunked_init(&c, &cfg, &err) == 0) {
        size_t piece = (size_t)step + 1, off = 0;
        int rc = 0;
        while (off < size && !rc) {
            size_t n = size - off < piece ? size - off : piece;
            rc = sl_chunked_feed(&c, data + off, n, &err);
            off += n;
        }
        if (!rc)
            (void)sl_chunked_finish(&c, &err);
    }
    sl_chunked_close(&c);
    sl_sigv4_result_close(&seed);
    return 0;
}
