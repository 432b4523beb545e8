/*
 * echo — an example bootstrap for provided.al2 functions on sluice_lambda:
 * it answers each event with the event itself, without copying it.
 *
 * A few event members show the rest of the library (the tests use them):
 *   {"fail": "text"}  fails the invocation: errorType "EchoError", errorMessage "text"
 *   {"count": 1}      answers {"count": N}: N invocations this process has served
 *                     (a new environment starts over at 1)
 *   {"size": N}       answers a JSON string N bytes long, quotes included
 *   {"context": 1}    answers the invocation's request id, function ARN,
 *                     milliseconds left and trace id
 * With ECHO_INIT_FAIL set in the environment, initialisation fails instead
 * (sl_lambda_init_error), as a bootstrap does when its configuration is bad.
 *
 * Build: cc -O2 -I runtimes/c -o bootstrap runtimes/c/examples/echo.c \
 *           runtimes/c/sluice_lambda.c   (or link build/libsluice_lambda.a)
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_lambda.h"

/*
 * The value of a top-level member "name" of a JSON object, or NULL. Enough
 * for this example's flat events: a real function would use a JSON parser.
 */
static const char *member(const char *json, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = json; (p = strchr(p, '"')); p++) {
        if (strncmp(p + 1, name, n) != 0 || p[n + 1] != '"')
            continue;
        const char *v = p + n + 2;
        v += strspn(v, " \t\r\n");
        if (*v != ':')
            continue;
        v++;
        return v + strspn(v, " \t\r\n");
    }
    return NULL;
}

/* Copies the JSON string at v (no escapes handled) into out. */
static void string_value(const char *v, char *out, size_t n)
{
    size_t len = 0;
    if (*v == '"') {
        v++;
        len = strcspn(v, "\"");
    }
    if (len >= n)
        len = n - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

static int handler(const struct sl_lambda_event *ev, struct sl_lambda_reply *reply, void *ud)
{
    unsigned long *served = ud; /* warm invocations share the process */
    ++*served;
    const char *v;
    if ((v = member(ev->payload, "fail"))) {
        char text[256];
        string_value(v, text, sizeof(text));
        return sl_lambda_reply_error(reply, "EchoError", "%s", text);
    }
    if (member(ev->payload, "count"))
        return sl_lambda_reply_printf(reply, "{\"count\": %lu}", *served);
    if ((v = member(ev->payload, "size"))) {
        size_t size = strtoul(v, NULL, 10);
        if (size < 2 || size > (6u << 20))
            return sl_lambda_reply_error(reply, "EchoError", "size must be 2..6 MiB, not %zu",
                                         size);
        char *body = malloc(size);
        if (!body)
            return sl_lambda_reply_error(reply, "EchoError", "out of memory");
        memset(body, 'x', size);
        body[0] = body[size - 1] = '"';
        sl_lambda_reply_take(reply, body, size); /* freed by the library */
        return 0;
    }
    if (member(ev->payload, "context"))
        return sl_lambda_reply_printf(reply,
                                      "{\"request_id\": \"%s\", \"function_arn\": \"%s\", "
                                      "\"remaining_ms\": %" PRId64 ", \"trace_id\": \"%s\"}",
                                      ev->request_id, ev->function_arn, sl_lambda_remaining_ms(ev),
                                      ev->trace_id);
    sl_lambda_reply_ref(reply, ev->payload, ev->payload_len);
    return 0;
}

int main(void)
{
    static unsigned long served;
    if (getenv("ECHO_INIT_FAIL")) {
        sl_lambda_init_error("EchoInitError", "ECHO_INIT_FAIL is set (%s)",
                             getenv("ECHO_INIT_FAIL"));
        return 1;
    }
    return sl_lambda_run(handler, &served) ? 1 : 0;
}
