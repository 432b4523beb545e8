/* libFuzzer target: the text DynamoDB Streams clients send back that
 * Sluice made (shard iterators, sequence numbers, stream ARNs), parsed as
 * a request carries them (whatever parses must print back the same); and
 * a stream record rendered from any log data (it must not crash, and
 * what it renders must be JSON). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/dynamodb/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char arn[DDB_ARN_MAX];
    uint64_t seq;
    int64_t made;
    if (ddb_iterator_parse(s, arn, &seq, &made)) {
        struct sl_buf b;
        sl_buf_init(&b, 1024);
        ddb_iterator_text(arn, seq, made, &b);
        char arn2[DDB_ARN_MAX];
        uint64_t seq2;
        int64_t made2;
        if (!ddb_iterator_parse(b.data ? b.data : "", arn2, &seq2, &made2) || seq2 != seq ||
            made2 != made || strcmp(arn, arn2) != 0)
            abort();
        sl_buf_free(&b);
    }
    if (ddb_seq_parse(s, &seq)) {
        char text[DDB_SEQ_TEXT_MAX];
        ddb_seq_text(seq, text);
        if (strcmp(text, s) != 0)
            abort();
    }
    char pk[96];
    (void)ddb_stream_arn_parse(s, pk, sizeof(pk));
    struct sl_log_record r = {.seq = 7, .ts_ms = 1, .key = s, .key_len = size, .data = s,
                              .data_len = size};
    json_t *rec = ddb_stream_record("dynamodb:x", "us-east-1", &r);
    if (rec) {
        char *text = json_dumps(rec, JSON_COMPACT);
        json_t *back = text ? json_loads(text, 0, NULL) : NULL;
        if (!back || !json_is_string(json_object_get(json_object_get(back, "dynamodb"),
                                                     "SequenceNumber")))
            abort();
        json_decref(back);
        free(text);
        json_decref(rec);
    }
    free(s);
    return 0;
}
