#include "kadmit/buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/error.h"

void ka_buf_init(struct ka_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void ka_buf_free(struct ka_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void ka_buf_reset(struct ka_buf *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

static int buf_reserve(struct ka_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) {
        return KA_ELIMIT;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    if (cap > b->max + 1) {
        cap = b->max + 1;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        return KA_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int ka_buf_add(struct ka_buf *b, const void *p, size_t n)
{
    int ret = buf_reserve(b, n);
    if (ret != 0) {
        return ret;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int ka_buf_adds(struct ka_buf *b, const char *s)
{
    return ka_buf_add(b, s, strlen(s));
}

int ka_buf_vprintf(struct ka_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return KA_EINVAL;
    }
    int ret = buf_reserve(b, (size_t)n);
    if (ret != 0) {
        return ret;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int ka_buf_printf(struct ka_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int ret = ka_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return ret;
}

void ka_buf_diag(struct ka_buf *diag, const char *fmt, ...)
{
    if (diag == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int ret = ka_buf_vprintf(diag, fmt, ap);
    va_end(ap);
    (void)ret; /* the message is lost, the caller's error code still says what happened */
}

int ka_buf_add_json_chars(struct ka_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int ret = 0;
    size_t run = 0; /* start of the current run of bytes that need no escaping */
    for (size_t i = 0; ret == 0 && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        char esc[7] = {'\\', (char)c};
        size_t esc_len = 2;
        if (c == '\n' || c == '\t' || c == '\r') {
            esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            esc_len = 6;
        }
        ret = ka_buf_add(b, s + run, i - run);
        if (ret == 0) {
            ret = ka_buf_add(b, esc, esc_len);
        }
        run = i + 1;
    }
    return ret == 0 ? ka_buf_add(b, s + run, n - run) : ret;
}

int ka_buf_add_json_string(struct ka_buf *b, const char *s, size_t n)
{
    int ret = ka_buf_add(b, "\"", 1);
    if (ret == 0) {
        ret = ka_buf_add_json_chars(b, s, n);
    }
    return ret == 0 ? ka_buf_add(b, "\"", 1) : ret;
}

int ka_buf_add_json_member(struct ka_buf *b, const char *key, const char *value, int comma)
{
    int ret = comma ? ka_buf_add(b, ",\"", 2) : ka_buf_add(b, "\"", 1);
    ret = ret ? ret : ka_buf_adds(b, key);
    ret = ret ? ret : ka_buf_add(b, "\":", 2);
    return ret ? ret
               : ka_buf_add_json_string(b, value != NULL ? value : "",
                                        value != NULL ? strlen(value) : 0);
}

size_t ka_str_join(char *dst, size_t n, ...)
{
    va_list ap;
    size_t len = 0;
    va_start(ap, n);
    for (const char *s = va_arg(ap, const char *); s != NULL; s = va_arg(ap, const char *)) {
        size_t k = strlen(s);
        if (k > n - 1 - len) {
            k = n - 1 - len;
        }
        memcpy(dst + len, s, k);
        len += k;
    }
    va_end(ap);
    dst[len] = '\0';
    return len;
}

char *ka_buf_take(struct ka_buf *b, size_t *len)
{
    char *p = b->data;
    if (len != NULL) {
        *len = b->len;
    }
    if (p == NULL) {
        p = calloc(1, 1);
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

int ka_array_resize(void *array, size_t n, size_t size)
{
    void *p;
    memcpy(&p, array, sizeof(p)); /* array is a T **: its pointer read and written as bytes */
    if (size != 0 && n > SIZE_MAX / size) {
        return KA_ENOMEM;
    }
    p = realloc(p, n * size);
    if (p == NULL) {
        return KA_ENOMEM;
    }
    memcpy(array, &p, sizeof(p));
    return 0;
}

int ka_array_grow(void *array, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return 0;
    }
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need) {
        n = n > SIZE_MAX / 2 ? need : n * 2;
    }
    int ret = ka_array_resize(array, n, size);
    if (ret == 0) {
        *cap = n;
    }
    return ret;
}

int ka_buf_read_stream(struct ka_buf *b, FILE *f)
{
    char chunk[16384];
    size_t n;
    int ret = 0;
    while (ret == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        ret = ka_buf_add(b, chunk, n);
    }
    if (ret == 0 && ferror(f)) {
        ret = KA_EIO;
    }
    if (ret == 0 && b->data == NULL) {
        ret = ka_buf_add(b, "", 0);
    }
    return ret;
}

int ka_buf_read_file(struct ka_buf *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return errno == ENOENT ? KA_ENOTFOUND : KA_EIO;
    }
    int ret = ka_buf_read_stream(b, f);
    fclose(f);
    return ret;
}
