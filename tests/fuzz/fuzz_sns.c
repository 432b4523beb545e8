/* libFuzzer target: what SNS reads from a request beyond the protocol
 * layer's checks: topic ARNs (whatever parses must name the same topic
 * again), and a message with its attributes, structure and FIFO ids
 * checked against a standard and a FIFO topic (never a crash; a message
 * that passes must have a default entry when it is a structure), and the
 * text as a subscription's and a topic's DeliveryPolicy. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/sns/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct sns_ref r;
    if (sns_ref_from_arn(s, &r)) {
        struct sns_ref again;
        if (!sns_ref_from_arn(r.arn, &again) || strcmp(again.arn, r.arn) != 0 ||
            strcmp(again.name, r.name) != 0)
            abort();
    }
    char why[512];
    (void)sns_delivery_policy_check(s, false, why, sizeof(why));
    (void)sns_delivery_policy_check(s, true, why, sizeof(why));
    json_t *in = json_loadb(s, size, 0, NULL);
    if (json_is_object(in)) {
        struct sns_message m = {
            .message = json_string_value(json_object_get(in, "Message")),
            .subject = json_string_value(json_object_get(in, "Subject")),
            .structure_json = json_is_true(json_object_get(in, "Json")),
            .attributes = json_object_get(in, "MessageAttributes"),
            .group_id = json_string_value(json_object_get(in, "MessageGroupId")),
            .dedup_id = json_string_value(json_object_get(in, "MessageDeduplicationId")),
        };
        if (!json_is_object(m.attributes))
            m.attributes = NULL;
        for (int fifo = 0; fifo < 2; fifo++) {
            struct sns_topic t = {.fifo = fifo, .content_dedup = fifo};
            char msg[512];
            int code = 0;
            if (sns_message_check(&t, &m, msg, sizeof(msg), &code) == 0 && m.structure_json) {
                json_t *st = json_loads(m.message, 0, NULL);
                if (!json_is_string(json_object_get(st, "default")))
                    abort();
                json_decref(st);
            }
        }
    }
    json_decref(in);
    free(s);
    return 0;
}
