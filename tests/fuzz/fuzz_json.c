/* libFuzzer target: the allocation-free JSON check Invoke runs on every
 * payload. It may only accept what jansson accepts (it is the fast path of
 * a check jansson answers otherwise). */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sl_json_valid((const char *)data, size)) {
        json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
        if (!doc)
            __builtin_trap();
        json_decref(doc);
    }
    return 0;
}
