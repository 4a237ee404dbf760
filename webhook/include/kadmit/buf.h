/*
 * Bounded growable byte buffer (after curl's dynbuf).
 *
 * A buffer is created with a ceiling; growing past it fails with KA_ELIMIT instead of
 * reallocating. The content is always NUL-terminated (the NUL is not counted in len).
 * Ownership: the buffer owns its memory; ka_buf_free() releases it and is safe twice.
 */
#ifndef KADMIT_BUF_H
#define KADMIT_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

struct ka_buf {
    char *data; /* NUL-terminated content, NULL while empty and never grown */
    size_t len; /* bytes used, not counting the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* ceiling on len */
};

/** Initialise an empty buffer that may hold at most `max` bytes. Cannot fail. */
void ka_buf_init(struct ka_buf *b, size_t max);
/** Release the memory; the buffer is empty and reusable afterwards. */
void ka_buf_free(struct ka_buf *b);
/** Forget the content but keep the allocation. */
void ka_buf_reset(struct ka_buf *b);

/** Append bytes. Returns 0, KA_ENOMEM or KA_ELIMIT (content unchanged on error). */
__attribute__((warn_unused_result)) int ka_buf_add(struct ka_buf *b, const void *p, size_t n);
/** Append a NUL-terminated string. */
__attribute__((warn_unused_result)) int ka_buf_adds(struct ka_buf *b, const char *s);
/** Append printf-formatted text. */
__attribute__((warn_unused_result, format(printf, 2, 3))) int ka_buf_printf(struct ka_buf *b,
                                                                            const char *fmt, ...);
__attribute__((warn_unused_result, format(printf, 2, 0))) int
ka_buf_vprintf(struct ka_buf *b, const char *fmt, va_list ap);
/** Append a diagnostic for a caller (who may pass NULL): a full buffer only truncates it. */
__attribute__((format(printf, 2, 3))) void ka_buf_diag(struct ka_buf *diag, const char *fmt, ...);
/** Append `s` escaped for the inside of a JSON string literal, without the quotes (to build
 * one string from several pieces). */
__attribute__((warn_unused_result)) int ka_buf_add_json_chars(struct ka_buf *b, const char *s,
                                                              size_t n);
/** Append `s` as a JSON string literal, quotes included. */
__attribute__((warn_unused_result)) int ka_buf_add_json_string(struct ka_buf *b, const char *s,
                                                               size_t n);
/** Append `"key":"value"` (`value` escaped; NULL is ""), after a comma when `comma`. For JSON
 * log lines and records written by hand: no printf, so cheap on the request path. */
__attribute__((warn_unused_result)) int ka_buf_add_json_member(struct ka_buf *b, const char *key,
                                                               const char *value, int comma);
/** Take the content: the caller frees the returned pointer; the buffer is left empty. */
char *ka_buf_take(struct ka_buf *b, size_t *len);

/**
 * Concatenate the strings that follow (a NULL ends the list) into dst of `n` bytes (n > 0),
 * cut to fit and always terminated, as snprintf(dst, n, "%s%s...") would, without its cost on
 * the request path. Returns the length written.
 */
__attribute__((sentinel)) size_t ka_str_join(char *dst, size_t n, ...);

/**
 * Growable arrays of any element type. `array` is the address of the array's pointer (`T **`,
 * NULL while empty); on KA_ENOMEM the array and `*cap` are left as they were.
 *
 * ka_array_resize: make the array exactly `n` elements of `size` bytes.
 * ka_array_grow: make room for at least `need` elements, doubling the capacity `*cap` (from 16).
 */
__attribute__((warn_unused_result)) int ka_array_resize(void *array, size_t n, size_t size);
__attribute__((warn_unused_result)) int ka_array_grow(void *array, size_t *cap, size_t need,
                                                      size_t size);

/** Read a whole file into `b` (bounded by b->max). KA_ENOTFOUND, KA_EIO or KA_ELIMIT. */
__attribute__((warn_unused_result)) int ka_buf_read_file(struct ka_buf *b, const char *path);
/** Read a whole stream (e.g. stdin). */
__attribute__((warn_unused_result)) int ka_buf_read_stream(struct ka_buf *b, FILE *f);

#endif
