/* libFuzzer target: what EventBridge reads from PutTargets and PutEvents
 * beyond the protocol layer's checks: bus names and ARNs (whatever parses
 * must name the same bus again), JSON paths, and targets' inputs (Input,
 * InputPath, InputTransformer) applied to an event: never a crash, and a
 * JSON template always gives JSON. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/events/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct ev_bus_ref b;
    if (ev_bus_ref_parse(s, "000000000000", "us-east-1", &b)) {
        struct ev_bus_ref again;
        if (!ev_bus_ref_parse(b.arn, "x", "y", &again) || strcmp(again.arn, b.arn) != 0)
            abort();
    }
    json_t *in = json_loadb(s, size, 0, NULL);
    json_t *event = json_object_get(in, "event");
    json_t *target = json_object_get(in, "target");
    if (json_is_object(target)) {
        char *out = ev_target_input(target, event ? event : in, "rule", "arn:aws:events:r");
        json_t *tr = json_object_get(target, "InputTransformer");
        const char *tpl = json_string_value(json_object_get(tr, "InputTemplate"));
        if (out && tpl && !json_object_get(target, "Input") && !json_object_get(target, "InputPath")) {
            json_t *parsed = json_loads(out, JSON_DECODE_ANY, NULL);
            if (!parsed)
                abort();
            json_decref(parsed);
        }
        free(out);
    }
    const char *path = json_string_value(json_object_get(in, "path"));
    if (path)
        (void)ev_path(event ? event : in, path);
    (void)ev_path(in, s);
    json_decref(in);
    free(s);
    return 0;
}
