/* libFuzzer target: S3's PUT ?notification body, parsed and validated
 * (rules, event types, filters, overlaps) as the handler does. */
#include <stddef.h>
#include <stdint.h>

#include "services/s3/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_arena a;
    sl_arena_init(&a, 1 << 24);
    json_t *config = NULL;
    struct s3_notify_error e;
    if (sl_s3_notification_parse(&a, (const char *)data, size, &config, &e) == 0)
        json_decref(config);
    sl_arena_free(&a);
    return 0;
}
