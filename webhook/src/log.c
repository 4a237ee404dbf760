#include "kadmit/log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "kadmit/buf.h"
#include "kadmit/error.h"

enum ka_log_level ka_log_threshold = KA_LOG_INFO;
static FILE *log_stream;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int ka_log_parse_level(const char *s, enum ka_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum ka_log_level)i;
            return 0;
        }
    }
    return KA_EINVAL;
}

void ka_log_set_stream(FILE *f)
{
    log_stream = f;
}

void ka_log_write(enum ka_log_level level, const char *fields, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    size_t msg_len = (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

    struct ka_buf line;
    ka_buf_init(&line, 64 * 1024);
    int ret = ka_buf_printf(&line, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":", ts,
                            (long)(tv.tv_usec / 1000), level_names[level & 3]);
    if (ret == 0) {
        ret = ka_buf_add_json_string(&line, msg, msg_len);
    }
    if (ret == 0 && fields != NULL && fields[0] != '\0') {
        ret = ka_buf_printf(&line, ",%s", fields);
    }
    if (ret == 0) {
        ret = ka_buf_add(&line, "}\n", 2);
    }
    if (ret == 0) {
        FILE *f = log_stream ? log_stream : stderr;
        fflush(f);
        ssize_t w = write(fileno(f), line.data, line.len);
        (void)w;
    }
    ka_buf_free(&line);
}
