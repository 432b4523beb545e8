/* Structured (logfmt) log lines on stderr, one write per line. */
#include "core/core.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum sl_log_level log_level = SL_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sl_log_set_level(enum sl_log_level level)
{
    log_level = level;
}

int sl_log_parse_level(const char *s)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(level_names); i++)
        if (strcmp(s, level_names[i]) == 0)
            return (int)i;
    return -1;
}

void sl_log(enum sl_log_level level, const char *comp, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char msg[1024], line[1400], ts[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_time_iso8601_ms(sl_time_now_ms(), ts, sizeof(ts));
    /* Quote the message: escape quotes, backslashes and control bytes. */
    char esc[1100];
    size_t j = 0;
    for (const char *p = msg; *p && j + 5 < sizeof(esc); p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            esc[j++] = '\\';
            esc[j++] = (char)c;
        } else if (c < 0x20) {
            j += (size_t)snprintf(esc + j, sizeof(esc) - j, "\\x%02x", c);
        } else {
            esc[j++] = (char)c;
        }
    }
    esc[j] = '\0';
    int n = snprintf(line, sizeof(line), "ts=%s level=%s comp=%s msg=\"%s\"\n", ts,
                     level_names[level], comp, esc);
    if (n > (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 1;
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* Nowhere left to report a failing stderr. */
    }
}
