/* libFuzzer target: the text Kinesis clients send back that Sluice made
 * (shard iterators, sequence numbers) and hash keys, parsed as a request
 * carries them; whatever parses must print back the same. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/kinesis/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct kinesis_iterator it;
    if (kinesis_iterator_parse(s, &it)) {
        struct sl_buf b;
        sl_buf_init(&b, 4096);
        kinesis_iterator_text(&it, &b);
        struct kinesis_iterator again;
        if (!kinesis_iterator_parse(b.data ? b.data : "", &again) || again.seq != it.seq ||
            again.shard != it.shard || strcmp(again.name, it.name) != 0)
            abort();
        sl_buf_free(&b);
    }
    unsigned shard;
    uint64_t seq;
    if (kinesis_seq_parse(s, &shard, &seq)) {
        char text[48];
        kinesis_seq_text(shard, seq, text);
        unsigned shard2;
        uint64_t seq2;
        if (!kinesis_seq_parse(text, &shard2, &seq2) || shard2 != shard || seq2 != seq)
            abort();
    }
    sl_u128 v;
    if (kinesis_u128_parse(s, &v)) {
        char text[41];
        kinesis_u128_text(v, text);
        if (strcmp(text, s) != 0)
            abort();
    }
    free(s);
    return 0;
}
