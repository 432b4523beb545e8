/* libFuzzer target: the Parquet reader (formats/parquet.h), which reads
 * files from S3 objects: whatever opens is decoded row group by row group
 * (never a read out of bounds, a crash or a hang), each value checked
 * against its column (strings within the file's decoded bytes). The input
 * is also taken as the Thrift compact protocol and skipped as a struct. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "formats/parquet.h"
#include "formats/thrift.h"

static int walk(void *arg, const struct sl_pq_group *g)
{
    size_t *sum = arg;
    for (size_t c = 0; c < g->ncols; c++)
        for (size_t r = 0; r < g->nrows; r++) {
            const struct sl_pq_value *v = &g->cols[c][r];
            if (v->null && !g->columns[c].optional)
                abort();
            if (!v->null && v->n)
                *sum += (unsigned char)v->s[0] + (unsigned char)v->s[v->n - 1];
        }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_pq_file *f = NULL;
    struct sl_err err = {0};
    size_t sum = 0;
    if (sl_pq_open(data, size, &f, &err) == 0) {
        (void)sl_pq_read(f, walk, &sum, &err);
        sl_pq_close(f);
    }
    struct sl_tc_reader r;
    sl_tc_reader_init(&r, data, size);
    sl_tc_skip(&r, SL_TC_STRUCT);
    return (int)(sum & 0); /* (sum keeps the reads from being optimized away) */
}
