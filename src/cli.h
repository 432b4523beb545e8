/* The client commands of `sluice` (cli.c). */
#ifndef SL_CLI_H
#define SL_CLI_H

#include "core/core.h"

int sl_cli_invoke(int argc, char **argv);
int sl_cli_logs(int argc, char **argv);
/* `sluice parquet write|read` (cli_parquet.c). */
int sl_cli_parquet(int argc, char **argv);


/* One HTTP/1.1 exchange with endpoint (http://host:port), unsigned (what
 * --auth=dev takes): 0 with the answer in out (sl_cli_reply_free), or -1
 * (said on stderr). headers: name, value, ..., NULL. */
struct sl_cli_reply {
    int status;
    struct sl_buf headers; /* raw header block */
    struct sl_buf body;
};
int sl_cli_http(const char *endpoint, const char *method, const char *path,
                const char *const *headers, const char *body, size_t body_len,
                struct sl_cli_reply *out);
void sl_cli_reply_free(struct sl_cli_reply *r);
/* given, else $SLUICE_ENDPOINT, else http://127.0.0.1:4566. */
const char *sl_cli_endpoint(const char *given);

#endif
