/* Error codes and error contexts. */
#include "core/core.h"

#include <stdio.h>

const char *sl_strerror(int code)
{
    switch (code) {
    case SL_OK:
        return "ok";
#define SL_ERR_CASE(name, value, text) \
    case name:                         \
        return text;
        SL_ERRORS(SL_ERR_CASE)
#undef SL_ERR_CASE
    }
    return "unknown error";
}

int sl_errf(struct sl_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}
