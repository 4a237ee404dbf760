#include "kadmit/json.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define ARENA_FIRST_CHUNK (64u * 1024u)
#define ARENA_MAX_CHUNK (8u * 1024u * 1024u)
#define ARENA_ALIGN 16u

struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    /* data follows, aligned */
};

struct arena {
    int active;
    struct chunk *head; /* newest first */
    size_t used;
};

static __thread struct arena tls_arena;
static _Atomic int arena_enabled = 1;

void ka_json_arena_set_enabled(int on)
{
    arena_enabled = on != 0;
}

#define CHUNK_HEADER ((sizeof(struct chunk) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

static unsigned char *chunk_data(struct chunk *c)
{
    return (unsigned char *)c + CHUNK_HEADER;
}

static void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    struct chunk *c = a->head;
    if (c == NULL || c->size - c->used < n) {
        size_t size = c ? c->size * 2 : ARENA_FIRST_CHUNK;
        if (size > ARENA_MAX_CHUNK) {
            size = ARENA_MAX_CHUNK;
        }
        if (size < n) {
            size = n; /* one large allocation gets a chunk of its own */
        }
        struct chunk *fresh = malloc(CHUNK_HEADER + size);
        if (fresh == NULL) {
            return NULL;
        }
        fresh->size = size;
        fresh->used = 0;
        fresh->next = c;
        a->head = fresh;
        c = fresh;
    }
    void *p = chunk_data(c) + c->used;
    c->used += n;
    a->used += n;
    return p;
}

static int arena_owns(const struct arena *a, const void *p)
{
    for (const struct chunk *c = a->head; c != NULL; c = c->next) {
        const unsigned char *d = chunk_data((struct chunk *)c);
        if ((const unsigned char *)p >= d && (const unsigned char *)p < d + c->size) {
            return 1;
        }
    }
    return 0;
}

static void *hook_malloc(size_t n)
{
    struct arena *a = &tls_arena;
    return a->active ? arena_alloc(a, n) : malloc(n);
}

static void hook_free(void *p)
{
    struct arena *a = &tls_arena;
    if (p == NULL) {
        return;
    }
    if (a->active && arena_owns(a, p)) {
        return; /* released with the arena */
    }
    free(p);
}

__attribute__((constructor)) static void install_hooks(void)
{
    cJSON_Hooks hooks = {.malloc_fn = hook_malloc, .free_fn = hook_free};
    cJSON_InitHooks(&hooks);
}

int ka_json_arena_begin(void)
{
    struct arena *a = &tls_arena;
    if (a->active || !arena_enabled) {
        return -1;
    }
    a->active = 1;
    a->used = 0;
    return 0;
}

void ka_json_arena_end(void)
{
    struct arena *a = &tls_arena;
    struct chunk *c = a->head;
    while (c != NULL) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->active = 0;
    a->used = 0;
}

int ka_json_arena_active(void)
{
    return tls_arena.active;
}

size_t ka_json_arena_used(void)
{
    return tls_arena.used;
}

/* ---- bounded parsing ------------------------------------------------------------------- */

/* Nesting depth of JSON text (brackets outside strings), to refuse deep input before cJSON. */
static int depth_ok(const char *s, size_t len, int max)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_str = 0;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max) {
                return 0;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}

cJSON *ka_json_parse_bounded(const char *s, size_t len, size_t max_bytes, int max_depth, char *msg,
                             size_t msg_len)
{
    char ignored[1];
    if (msg == NULL || msg_len == 0) {
        msg = ignored;
        msg_len = sizeof(ignored);
    }
    if (len > max_bytes) {
        snprintf(msg, msg_len, "JSON document is %zu bytes, over the %zu byte limit", len,
                 max_bytes);
        return NULL;
    }
    if (!depth_ok(s, len, max_depth)) {
        snprintf(msg, msg_len, "JSON nested deeper than %d levels", max_depth);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (root != NULL) {
        while (end < s + len && isspace((unsigned char)*end)) {
            end++;
        }
        if (end == s + len) {
            return root;
        }
        cJSON_Delete(root);
    }
    if (end == NULL || end < s || end > s + len) {
        end = s;
    }
    unsigned line = 1, col = 1;
    for (const char *p = s; p < end; p++) {
        if (*p == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(msg, msg_len, "%s at line %u column %u",
             root != NULL ? "unexpected data after the JSON document" : "malformed JSON", line,
             col);
    return NULL;
}
