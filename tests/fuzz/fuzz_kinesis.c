/* libFuzzer target: the text Kinesis clients send back that Sluice made
 * (shard iterators, sequence numbers) and hash keys, parsed as a request
 * carries them (whatever parses must print back the same); and
 * PutRecords bodies read by the fast path, whose every span must lie in
 * the body and hold no quote, and which must agree with jansson that the
 * body is JSON. */
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
    static struct fast_rec recs[PUT_MAX];
    struct span name;
    size_t nrecs = 0;
    if (kinesis_scan_put_records(s, size, &name, recs, &nrecs)) {
        json_t *doc = json_loadb(s, size, 0, NULL);
        if (!doc || nrecs < 1 || nrecs > PUT_MAX ||
            name.p < s || name.p + name.n > s + size || memchr(name.p, '"', name.n))
            abort();
        for (size_t i = 0; i < nrecs; i++)
            if (recs[i].key.p < s || recs[i].key.p + recs[i].key.n > s + size ||
                recs[i].data.p < s || recs[i].data.p + recs[i].data.n > s + size ||
                memchr(recs[i].key.p, '"', recs[i].key.n))
                abort();
        json_decref(doc);
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
