/*
 * Subject-aware ratcheting (see kadmit/ratchet.h): a set of the old object's findings by rule
 * and path, and a walk that checks the subject of a finding did not change.
 */
#include "kadmit/ratchet.h"

#include <stdlib.h>
#include <string.h>

#include "kadmit/error.h"
#include "kadmit/limits.h"

#define KA_RATCHET_KEY_MAX 256 /* rule id + path, both bounded well below this */

void ka_ratchet_init(struct ka_ratchet *r, const cJSON *old_root)
{
    memset(r, 0, sizeof(*r));
    r->old_root = old_root;
    ka_buf_init(&r->keys, (size_t)KA_MAX_RATCHET_FINDINGS * KA_RATCHET_KEY_MAX);
}

void ka_ratchet_free(struct ka_ratchet *r)
{
    ka_buf_free(&r->keys);
    free(r->slots);
    r->slots = NULL;
    r->n_slots = 0;
    r->n_keys = 0;
}

static uint64_t key_hash(const char *rule, const char *path)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *s = rule; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    }
    h = (h ^ 0xffu) * 0x100000001b3ull;
    for (const char *s = path; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    }
    return h;
}

/* The slot holding (rule, path), or the empty slot where it would go. */
static uint32_t *find_slot(uint32_t *slots, size_t n_slots, const struct ka_buf *keys,
                           const char *rule, const char *path)
{
    size_t mask = n_slots - 1;
    for (size_t i = (size_t)key_hash(rule, path) & mask;; i = (i + 1) & mask) {
        if (slots[i] == 0) {
            return &slots[i];
        }
        const char *k = keys->data + slots[i] - 1;
        if (strcmp(k, rule) == 0 && strcmp(k + strlen(k) + 1, path) == 0) {
            return &slots[i];
        }
    }
}

static int grow(struct ka_ratchet *r)
{
    size_t n = r->n_slots ? r->n_slots * 2 : 128;
    uint32_t *slots = calloc(n, sizeof(*slots));
    if (slots == NULL) {
        return KA_ENOMEM;
    }
    for (size_t i = 0; i < r->n_slots; i++) {
        if (r->slots[i] != 0) {
            const char *k = r->keys.data + r->slots[i] - 1;
            *find_slot(slots, n, &r->keys, k, k + strlen(k) + 1) = r->slots[i];
        }
    }
    free(r->slots);
    r->slots = slots;
    r->n_slots = n;
    return 0;
}

int ka_ratchet_record(struct ka_ratchet *r, const char *rule, const char *path)
{
    size_t rule_len = strlen(rule), path_len = strlen(path);
    if (r->n_keys >= KA_MAX_RATCHET_FINDINGS || rule_len + path_len + 2 > KA_RATCHET_KEY_MAX) {
        r->n_dropped++;
        return 0;
    }
    if (2 * (r->n_keys + 1) > r->n_slots) {
        int ret = grow(r);
        if (ret != 0) {
            return ret;
        }
    }
    uint32_t *slot = find_slot(r->slots, r->n_slots, &r->keys, rule, path);
    if (*slot != 0) {
        return 0;
    }
    size_t at = r->keys.len;
    int ret = ka_buf_add(&r->keys, rule, rule_len + 1);
    if (ret == 0) {
        ret = ka_buf_add(&r->keys, path, path_len + 1);
    }
    if (ret != 0) {
        r->keys.len = at;
        return ret == KA_ELIMIT ? 0 : ret;
    }
    *slot = (uint32_t)at + 1;
    r->n_keys++;
    return 0;
}

/* Same JSON value: same type and content, object members in the same order (the API server
 * serialises in a fixed order; a reordered object counts as changed, which only means fresh).
 * Linear in the size of the values; depth is bounded by the review's depth limit. */
static int same_json(const cJSON *a, const cJSON *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    if ((a->type & 0xFF) != (b->type & 0xFF)) {
        return 0;
    }
    if (cJSON_IsString(a)) {
        return strcmp(a->valuestring, b->valuestring) == 0;
    }
    if (cJSON_IsNumber(a)) {
        return a->valuedouble == b->valuedouble;
    }
    if (!cJSON_IsArray(a) && !cJSON_IsObject(a)) {
        return 1; /* null, true, false */
    }
    const cJSON *x = a->child, *y = b->child;
    for (; x != NULL && y != NULL; x = x->next, y = y->next) {
        if (cJSON_IsObject(a) && strcmp(x->string, y->string) != 0) {
            return 0;
        }
        if (!same_json(x, y)) {
            return 0;
        }
    }
    return x == NULL && y == NULL;
}

/* What identifies the object a path goes through: a container's or env entry's name, a
 * container's image. */
static int same_identity(const cJSON *a, const cJSON *b)
{
    static const char *const keys[] = {"name", "image"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (!same_json(cJSON_GetObjectItemCaseSensitive(a, keys[i]),
                       cJSON_GetObjectItemCaseSensitive(b, keys[i]))) {
            return 0;
        }
    }
    return 1;
}

/* One RFC 6901 step: the child of `node` named by the token s[0..n) ("~1" is '/', "~0" '~'). */
static const cJSON *step(const cJSON *node, const char *s, size_t n)
{
    if (cJSON_IsArray(node)) {
        size_t index = 0;
        if (n == 0 || n > 9 || (n > 1 && s[0] == '0')) {
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9') {
                return NULL;
            }
            index = index * 10 + (size_t)(s[i] - '0');
        }
        return cJSON_GetArrayItem(node, (int)index);
    }
    if (!cJSON_IsObject(node)) {
        return NULL;
    }
    char key[KA_RATCHET_KEY_MAX];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof(key); i++, k++) {
        key[k] = s[i];
        if (s[i] == '~' && i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
            key[k] = s[i + 1] == '1' ? '/' : '~';
            i++;
        }
    }
    key[k] = '\0';
    return cJSON_GetObjectItemCaseSensitive(node, key);
}

int ka_ratchet_preexisting(const struct ka_ratchet *r, const cJSON *new_root, const char *rule,
                           const char *path)
{
    if (r->n_slots == 0 || *find_slot(r->slots, r->n_slots, &r->keys, rule, path) == 0) {
        return 0;
    }
    const cJSON *a = new_root, *b = r->old_root;
    const char *s = path;
    while (a != NULL && b != NULL && *s == '/') {
        if (cJSON_IsObject(a) && !same_identity(a, b)) {
            return 0;
        }
        const char *end = strchr(s + 1, '/');
        size_t n = end ? (size_t)(end - s - 1) : strlen(s + 1);
        a = step(a, s + 1, n);
        b = step(b, s + 1, n);
        s += 1 + n;
    }
    return same_json(a, b);
}
