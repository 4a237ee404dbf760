/*
 * Structured logging: one JSON object per line on stderr (or a chosen stream).
 *
 *   {"time":"2026-11-28T12:00:00.123Z","level":"info","msg":"...", ...fields}
 *
 * Fields are passed as a pre-rendered JSON fragment (`"k":"v","n":1`) built with ka_buf so the
 * logger never formats untrusted text unescaped. The KA_LOG macro checks the level before any
 * formatting. Never log request bodies, env values or keys.
 */
#ifndef KADMIT_LOG_H
#define KADMIT_LOG_H

#include <stdio.h>

enum ka_log_level { KA_LOG_DEBUG = 0, KA_LOG_INFO = 1, KA_LOG_WARN = 2, KA_LOG_ERROR = 3 };

/** Current threshold (messages below it are dropped). Default KA_LOG_INFO. */
extern enum ka_log_level ka_log_threshold;

/** Parse "debug|info|warn|error". Returns 0 or KA_EINVAL. */
__attribute__((warn_unused_result)) int ka_log_parse_level(const char *s, enum ka_log_level *out);
/** Send log lines to `f` (default stderr). Not thread-safe against concurrent logging. */
void ka_log_set_stream(FILE *f);

/**
 * Write one line. `fields` is NULL or a JSON fragment of members without braces. `fmt` formats
 * msg (escaped). Each line is written with a single write so lines never interleave.
 */
__attribute__((format(printf, 3, 4))) void ka_log_write(enum ka_log_level level, const char *fields,
                                                        const char *fmt, ...);

#define KA_LOG(level, fields, ...)                                                                 \
    do {                                                                                           \
        if ((level) >= ka_log_threshold) {                                                         \
            ka_log_write((level), (fields), __VA_ARGS__);                                          \
        }                                                                                          \
    } while (0)

#define KA_LOG_D(...) KA_LOG(KA_LOG_DEBUG, NULL, __VA_ARGS__)
#define KA_LOG_I(...) KA_LOG(KA_LOG_INFO, NULL, __VA_ARGS__)
#define KA_LOG_W(...) KA_LOG(KA_LOG_WARN, NULL, __VA_ARGS__)
#define KA_LOG_E(...) KA_LOG(KA_LOG_ERROR, NULL, __VA_ARGS__)

#endif
