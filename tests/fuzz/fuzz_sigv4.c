/* libFuzzer target: SigV4 parsing and verification of a request built from
 * the input (first line: method, path and query; then "name: value"
 * header lines). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/sigv4.h"

#define MAX_HEADERS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct sl_sigv4_header headers[MAX_HEADERS];
    size_t nh = 0;
    char *save = NULL;
    char *line = strtok_r(s, "\n", &save);
    const char *method = "GET", *path = "/", *query = "";
    if (line) {
        char *sp = strchr(line, ' ');
        if (sp) {
            *sp = '\0';
            method = line;
            path = sp + 1;
            char *q = strchr(sp + 1, '?');
            if (q) {
                *q = '\0';
                query = q + 1;
            }
        }
        while ((line = strtok_r(NULL, "\n", &save)) && nh < MAX_HEADERS) {
            char *colon = strchr(line, ':');
            if (!colon)
                continue;
            *colon = '\0';
            headers[nh].name = line;
            headers[nh].value = colon + 1;
            nh++;
        }
    }
    struct sl_sigv4_request req = {method, path, query, headers, nh};
    struct sl_sigv4_auth auth;
    struct sl_err err = {0};
    if (sl_sigv4_parse(&req, &auth, &err) == 0) {
        struct sl_sigv4_result res;
        sl_sigv4_result_init(&res);
        (void)sl_sigv4_verify(&req, &auth, "secret", SL_SIGV4_EMPTY_SHA256, auth.time, &res,
                              &err);
        sl_sigv4_result_close(&res);
    }
    enum sl_sigv4_payload kind;
    (void)sl_sigv4_payload_kind(&req, &kind, NULL, &err);
    free(s);
    return 0;
}
