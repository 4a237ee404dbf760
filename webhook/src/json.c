#include "kadmit/json.h"

#include <ctype.h>
#include <limits.h>
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

/* ------------------------------------------------------------------------------------------
 * The request parser: bytes -> cJSON tree in one pass, with the request path's limits.
 *
 * It builds the tree cJSON_ParseWithLengthOpts() builds (same nodes, same order, child->prev
 * pointing at the last child, the same numbers), straight into this thread's arena when one is
 * active, so the rules and everything else keep reading cJSON. What it does differently:
 *   - it checks while reading what a separate pass used to check first: nesting depth and value
 *     count, valid UTF-8 in strings, no raw control character or NUL, no \u0000;
 *   - it refuses a \u escape whose four characters are not hex digits (cJSON reads those as
 *     U+0000 and so would silently end the string there);
 *   - strings are copied once (no separate length pass), integers of up to 15 digits are read
 *     without strtod, and literals are matched without strncmp.
 * tests/fuzz/fuzz_json_diff.c holds it to cJSON's tree on every input both accept.
 */

#define WS 1u    /* cJSON's whitespace: every byte from 1 to 32 */
#define PLAIN 2u /* a string byte copied as is: 0x20..0x7F but '"' and '\\' */
#define NUM 4u   /* a byte cJSON's number reader collects: 0-9 + - . e E */
static unsigned char byte_class[256];

__attribute__((constructor)) static void fill_byte_class(void)
{
    for (unsigned c = 1; c <= 32; c++) {
        byte_class[c] |= WS;
    }
    for (unsigned c = 0x20; c < 0x80; c++) {
        byte_class[c] |= c == '"' || c == '\\' ? 0 : PLAIN;
    }
    for (const char *n = "0123456789+-.eE"; *n != '\0'; n++) {
        byte_class[(unsigned char)*n] |= NUM;
    }
}

struct parser {
    const unsigned char *start, *p, *end; /* start: for the byte offsets in messages */
    struct arena *arena;                  /* this thread's, when active */
    unsigned depth, max_depth;
    size_t values, max_values;
    const char *problem; /* static text, or msg */
    char *msg;
    size_t msg_len;
};

/* From the arena (its newest chunk, inline, when there is room) or, without one, cJSON_malloc. */
static inline __attribute__((always_inline)) void *tree_alloc(struct parser *ps, size_t n)
{
    struct arena *a = ps->arena;
    if (a == NULL) {
        return cJSON_malloc(n);
    }
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    struct chunk *c = a->head;
    if (c == NULL || c->size - c->used < n) {
        return arena_alloc(a, n);
    }
    void *p = chunk_data(c) + c->used;
    c->used += n;
    a->used += n;
    return p;
}

static cJSON *new_node(struct parser *ps)
{
    cJSON *node = tree_alloc(ps, sizeof(*node));
    if (node == NULL) {
        ps->problem = "out of memory";
        return NULL;
    }
    memset(node, 0, sizeof(*node));
    return node;
}

static inline __attribute__((always_inline)) void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (byte_class[*ps->p] & WS) != 0) {
        ps->p++;
    }
}

static int fail(struct parser *ps, const char *problem)
{
    if (ps->p < ps->end && *ps->p == '\0') {
        problem = "NUL byte in the body"; /* cJSON would skip it as whitespace */
    }
    if (ps->problem == NULL) {
        ps->problem = problem;
    }
    return -1;
}

/* Length of the UTF-8 sequence at s (2..4) if valid, else 0 (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF). */
static size_t utf8_sequence(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0];
    size_t n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
    unsigned min = n == 3 ? 0x10000 : n == 2 ? 0x800 : 0x80;
    unsigned cp = c & (n == 3 ? 0x07u : n == 2 ? 0x0Fu : 0x1Fu);
    if (c < 0xC2 || c > 0xF4 || (size_t)(end - s) <= n) {
        return 0;
    }
    for (size_t k = 1; k <= n; k++) {
        if ((s[k] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[k] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return n + 1;
}

/* Four hex digits at s, or -1. */
static long hex4(const unsigned char *s)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i];
        unsigned d = c - '0' <= 9 ? c - '0' : (c | 0x20) - 'a' <= 5 ? (c | 0x20) - 'a' + 10 : 16;
        if (d > 15) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/* The code point of the \u escape (and its low surrogate) at s, setting *n to the bytes read;
 * -1 when cJSON would refuse it, -2 when it is not hex. */
static long unicode_escape(const unsigned char *s, const unsigned char *end, size_t *n)
{
    if (end - s < 6) {
        return -1;
    }
    long first = hex4(s + 2);
    *n = 6;
    if (first < 0) {
        return -2;
    }
    if (first >= 0xDC00 && first <= 0xDFFF) {
        return -1;
    }
    if (first < 0xD800 || first > 0xDBFF) {
        return first;
    }
    if (end - s < 12 || s[6] != '\\' || s[7] != 'u') {
        return -1;
    }
    long second = hex4(s + 8);
    if (second < 0) {
        return -2;
    }
    if (second < 0xDC00 || second > 0xDFFF) {
        return -1;
    }
    *n = 12;
    return 0x10000 + (((first & 0x3FF) << 10) | (second & 0x3FF));
}

static size_t put_utf8(unsigned char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The string at ps->p (its opening quote), checked, unescaped and copied; NULL on error. */
static char *parse_string(struct parser *ps)
{
    const unsigned char *start = ps->p + 1, *s = start, *end = ps->end;
    int escaped = 0;
    for (;;) {
        while (s < end && (byte_class[*s] & PLAIN) != 0) {
            s++;
        }
        if (s >= end) {
            fail(ps, "malformed JSON");
            return NULL;
        }
        unsigned c = *s;
        if (c == '"') {
            break;
        }
        if (c == '\\') {
            escaped = 1;
            if (end - s < 2) {
                fail(ps, "malformed JSON");
                return NULL;
            }
            if (s[1] == 'u') {
                size_t n = 0;
                long cp = unicode_escape(s, end, &n);
                if (cp <= 0) {
                    fail(ps, cp == 0    ? "\\u0000 in a JSON string"
                             : cp == -2 ? "malformed JSON (a \\u escape needs four hex digits)"
                                        : "malformed JSON");
                    return NULL;
                }
                s += n;
            } else if (strchr("\"\\/bfnrt", s[1]) != NULL && s[1] != '\0') {
                s += 2;
            } else {
                fail(ps, "malformed JSON");
                return NULL;
            }
        } else if (c < 0x20) {
            fail(ps,
                 c == 0 ? "NUL byte in the body" : "unescaped control character in a JSON string");
            return NULL;
        } else {
            size_t n = utf8_sequence(s, end);
            if (n == 0) {
                fail(ps, "invalid UTF-8");
                return NULL;
            }
            s += n;
        }
    }
    size_t raw = (size_t)(s - start);
    unsigned char *out = tree_alloc(ps, raw + 1);
    if (out == NULL) {
        fail(ps, "out of memory");
        return NULL;
    }
    ps->p = s + 1;
    if (!escaped) {
        memcpy(out, start, raw);
        out[raw] = '\0';
        return (char *)out;
    }
    unsigned char *o = out;
    for (const unsigned char *i = start; i < s;) {
        if (*i != '\\') {
            *o++ = *i++;
            continue;
        }
        switch (i[1]) {
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            size_t n = 0;
            o += put_utf8(o, (unsigned long)unicode_escape(i, s, &n));
            i += n;
            continue;
        }
        default: /* " \ / */
            *o++ = i[1];
            break;
        }
        i += 2;
    }
    *o = '\0';
    return (char *)out;
}

/* A number as cJSON reads it: every following byte of 0-9 + - . e E, then strtod on them (what
 * strtod leaves is read next); short integers (what the API server sends nearly always) without
 * strtod, to the same double. */
static int parse_number(struct parser *ps, cJSON *node)
{
    const unsigned char *s = ps->p, *end = ps->end;
    size_t n = 0;
    while (s + n < end && (byte_class[s[n]] & NUM) != 0) {
        n++;
    }
    double v;
    size_t neg = s[0] == '-', digits = n - neg;
    int plain = digits >= 1 && digits <= 15;
    uint64_t iv = 0;
    for (size_t i = neg; plain && i < n; i++) {
        plain = s[i] - (unsigned)'0' <= 9;
        iv = iv * 10 + (s[i] - (unsigned)'0');
    }
    if (plain) {
        v = neg ? -(double)iv : (double)iv;
    } else {
        char small[64];
        char *text = n < sizeof(small) ? small : malloc(n + 1);
        char *after = NULL;
        if (text == NULL) {
            return fail(ps, "out of memory");
        }
        memcpy(text, s, n);
        text[n] = '\0';
        v = strtod(text, &after);
        n = (size_t)(after - text);
        if (text != small) {
            free(text);
        }
        if (n == 0) {
            return fail(ps, "malformed JSON");
        }
    }
    node->type = cJSON_Number;
    node->valuedouble = v;
    node->valueint = v >= INT_MAX ? INT_MAX : v <= (double)INT_MIN ? INT_MIN : (int)v;
    ps->p = s + n;
    return 0;
}

static int parse_value(struct parser *ps, cJSON *node);

/* Every value but the first follows a '[', '{', ',' or ':': one count at each, as the limit
 * KA_MAX_JSON_VALUES has always been counted. */
static inline __attribute__((always_inline)) int count_value(struct parser *ps)
{
    if (++ps->values > ps->max_values) {
        snprintf(ps->msg, ps->msg_len,
                 "JSON has more than %zu values (--max-json-values) at byte offset %zu",
                 ps->max_values, (size_t)(ps->p - ps->start));
        return fail(ps, ps->msg);
    }
    return 0;
}

/* An array or object at ps->p; `object` says which. */
static int parse_container(struct parser *ps, cJSON *node, int object)
{
    char close = object ? '}' : ']';
    if (++ps->depth > ps->max_depth) {
        snprintf(ps->msg, ps->msg_len,
                 "JSON nesting deeper than %u levels (--max-json-depth) at byte offset %zu",
                 ps->max_depth, (size_t)(ps->p - ps->start));
        return fail(ps, ps->msg);
    }
    node->type = object ? cJSON_Object : cJSON_Array;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return count_value(ps);
    }
    cJSON *last = NULL;
    for (int ret = count_value(ps); ret == 0; ret = count_value(ps)) {
        cJSON *child = new_node(ps);
        if (child == NULL) {
            return -1;
        }
        if (last == NULL) {
            node->child = child;
        } else {
            last->next = child;
            child->prev = last;
        }
        last = child;
        node->child->prev = last;
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"') {
                return fail(ps, "malformed JSON");
            }
            child->string = parse_string(ps);
            if (child->string == NULL) {
                return -1;
            }
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':' || count_value(ps) != 0) {
                return fail(ps, "malformed JSON");
            }
            ps->p++;
            skip_ws(ps);
        }
        if (parse_value(ps, child) != 0) {
            return -1;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            ps->depth--;
            return 0;
        }
        if (ps->p >= ps->end || *ps->p != ',') {
            return fail(ps, "malformed JSON");
        }
        ps->p++;
        skip_ws(ps);
    }
    return -1;
}

static int literal(struct parser *ps, const char *word, size_t n)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        return fail(ps, "malformed JSON");
    }
    ps->p += n;
    return 0;
}

static int parse_value(struct parser *ps, cJSON *node)
{
    if (ps->p >= ps->end) {
        return fail(ps, "malformed JSON");
    }
    switch (*ps->p) {
    case '"':
        node->type = cJSON_String;
        node->valuestring = parse_string(ps);
        return node->valuestring != NULL ? 0 : -1;
    case '{':
        return parse_container(ps, node, 1);
    case '[':
        return parse_container(ps, node, 0);
    case 'n':
        node->type = cJSON_NULL;
        return literal(ps, "null", 4);
    case 't':
        node->type = cJSON_True;
        node->valueint = 1;
        return literal(ps, "true", 4);
    case 'f':
        node->type = cJSON_False;
        return literal(ps, "false", 5);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return parse_number(ps, node);
    case '\0':
        return fail(ps, "NUL byte in the body");
    default:
        return fail(ps, "malformed JSON");
    }
}

cJSON *ka_json_parse_request(const char *text, size_t len, unsigned max_depth, size_t max_values,
                             char *msg, size_t msg_len)
{
    struct parser ps = {.start = (const unsigned char *)text,
                        .p = (const unsigned char *)text,
                        .end = (const unsigned char *)text + len,
                        .max_depth = max_depth,
                        .max_values = max_values,
                        .values = 1,
                        .msg = msg,
                        .msg_len = msg_len,
                        .arena = tls_arena.active ? &tls_arena : NULL};
    if (len >= 5 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) { /* cJSON: only in 5 bytes or more */
        ps.p += 3; /* cJSON skips a UTF-8 byte order mark */
    }
    skip_ws(&ps);
    cJSON *root = new_node(&ps);
    if (root != NULL && parse_value(&ps, root) == 0) {
        while (ps.p < ps.end && (*ps.p == ' ' || *ps.p == '\t' || *ps.p == '\n' || *ps.p == '\r')) {
            ps.p++;
        }
        if (ps.p == ps.end) {
            return root;
        }
        fail(&ps, "data after the JSON document");
    }
    if (ps.problem != msg) {
        snprintf(msg, msg_len, "%s", ps.problem != NULL ? ps.problem : "malformed JSON");
    }
    cJSON_Delete(root); /* in an arena: nothing to do */
    return NULL;
}

/* ---- bounded parsing ------------------------------------------------------------------- */

/* Nesting depth of JSON text (brackets outside strings), to refuse deep input before cJSON:
 * `len` when within `max`, else the offset of the first bracket past it. */
static size_t depth_past(const char *s, size_t len, int max)
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
                return i;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return len;
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
    size_t too_deep = depth_past(s, len, max_depth);
    if (too_deep < len) {
        snprintf(msg, msg_len, "JSON nested deeper than %d levels at byte offset %zu", max_depth,
                 too_deep);
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

int ka_list_has(const cJSON *list, const char *s)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, list)
    {
        if (cJSON_IsString(x) && strcmp(x->valuestring, s) == 0) {
            return 1;
        }
    }
    return 0;
}
