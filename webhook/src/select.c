#include "kadmit/select.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/error.h"
#include "kadmit/json.h"
#include "kadmit/limits.h"

static int fold(int c, int nocase)
{
    return nocase ? tolower((unsigned char)c) : c;
}

int ka_glob_match(const char *pattern, const char *text, int nocase)
{
    const char *star = NULL, *resume = NULL;
    while (*text != '\0') {
        if (*pattern == '*') {
            star = pattern++;
            resume = text;
        } else if (*pattern == '?' ||
                   (*pattern != '\0' && fold(*pattern, nocase) == fold(*text, nocase))) {
            pattern++;
            text++;
        } else if (star != NULL) {
            pattern = star + 1;
            text = ++resume;
        } else {
            return 0;
        }
    }
    while (*pattern == '*') {
        pattern++;
    }
    return *pattern == '\0';
}

int ka_glob_match_any(const cJSON *patterns, const char *text, int nocase)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, patterns)
    {
        if (cJSON_IsString(p) && ka_glob_match(p->valuestring, text, nocase)) {
            return 1;
        }
    }
    return 0;
}

/*
 * Label lookups. An object's labels are a cJSON object, whose lookup is a linear scan: a
 * selector of E requirements on L labels would cost E x L string compares (a 45,000-label pod
 * with a 30,000-expression anti-affinity term took seconds). Past a few labels, a hash index is
 * built once per evaluation, so a selector costs O(L + E).
 */
#define LINEAR_LABELS 16

struct label_index {
    const cJSON *labels;
    const cJSON **slots; /* open addressing; NULL: linear lookups */
    size_t mask;
};

static size_t key_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    }
    return (size_t)h;
}

static void index_build(struct label_index *ix, const cJSON *labels)
{
    memset(ix, 0, sizeof(*ix));
    ix->labels = labels;
    size_t n = 0;
    const cJSON *kv;
    cJSON_ArrayForEach(kv, labels)
    {
        n++;
    }
    if (n <= LINEAR_LABELS) {
        return;
    }
    size_t cap = 64;
    while (cap < 2 * n) {
        cap *= 2;
    }
    ix->slots = calloc(cap, sizeof(*ix->slots)); /* on failure: linear lookups, still correct */
    ix->mask = cap - 1;
    if (ix->slots == NULL) {
        return;
    }
    cJSON_ArrayForEach(kv, labels)
    {
        size_t i = key_hash(kv->string) & ix->mask;
        while (ix->slots[i] != NULL && strcmp(ix->slots[i]->string, kv->string) != 0) {
            i = (i + 1) & ix->mask;
        }
        if (ix->slots[i] == NULL) {
            ix->slots[i] = kv; /* the first of duplicate keys, as cJSON's lookup finds */
        }
    }
}

static const char *label(const struct label_index *ix, const char *key)
{
    const cJSON *v = NULL;
    if (ix->slots == NULL) {
        v = cJSON_GetObjectItemCaseSensitive(ix->labels, key);
    } else {
        size_t i = key_hash(key) & ix->mask;
        while (ix->slots[i] != NULL && strcmp(ix->slots[i]->string, key) != 0) {
            i = (i + 1) & ix->mask;
        }
        v = ix->slots[i];
    }
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Requirements (matchLabels entries + matchExpressions) and values per expression: past
 * KA_MAX_SELECTOR_REQUIREMENTS / KA_MAX_SELECTOR_VALUES a selector matches nothing. Policy
 * selectors are checked against the same limits when they load. */
int ka_selector_too_large(const cJSON *selector)
{
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(selector, "matchLabels");
    const cJSON *exprs = cJSON_GetObjectItemCaseSensitive(selector, "matchExpressions");
    size_t n = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, ml)
    {
        if (++n > KA_MAX_SELECTOR_REQUIREMENTS) {
            return 1;
        }
    }
    cJSON_ArrayForEach(x, exprs)
    {
        if (++n > KA_MAX_SELECTOR_REQUIREMENTS) {
            return 1;
        }
        size_t v = 0;
        const cJSON *y;
        cJSON_ArrayForEach(y, cJSON_GetObjectItemCaseSensitive(x, "values"))
        {
            if (++v > KA_MAX_SELECTOR_VALUES) {
                return 1;
            }
        }
    }
    return 0;
}

static int selector_matches(const cJSON *selector, const struct label_index *ix);

int ka_selector_matches(const cJSON *selector, const cJSON *labels)
{
    if (selector == NULL || cJSON_IsNull(selector)) {
        return 1;
    }
    if (ka_selector_too_large(selector)) {
        return 0;
    }
    struct label_index ix;
    index_build(&ix, labels);
    int ok = selector_matches(selector, &ix);
    free(ix.slots);
    return ok;
}

static int selector_matches(const cJSON *selector, const struct label_index *labels)
{
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(selector, "matchLabels");
    const cJSON *kv;
    cJSON_ArrayForEach(kv, ml)
    {
        const char *have = label(labels, kv->string);
        if (have == NULL || !cJSON_IsString(kv) || strcmp(have, kv->valuestring) != 0) {
            return 0;
        }
    }
    const cJSON *exprs = cJSON_GetObjectItemCaseSensitive(selector, "matchExpressions");
    const cJSON *e;
    cJSON_ArrayForEach(e, exprs)
    {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(e, "operator");
        const cJSON *values = cJSON_GetObjectItemCaseSensitive(e, "values");
        if (!cJSON_IsString(k) || !cJSON_IsString(op)) {
            return 0;
        }
        const char *have = label(labels, k->valuestring);
        if (strcmp(op->valuestring, "In") == 0) {
            if (have == NULL || !ka_list_has(values, have)) {
                return 0;
            }
        } else if (strcmp(op->valuestring, "NotIn") == 0) {
            if (have != NULL && ka_list_has(values, have)) {
                return 0;
            }
        } else if (strcmp(op->valuestring, "Exists") == 0) {
            if (have == NULL) {
                return 0;
            }
        } else if (strcmp(op->valuestring, "DoesNotExist") == 0) {
            if (have != NULL) {
                return 0;
            }
        } else {
            return 0; /* unknown operator: match nothing (fail safe) */
        }
    }
    return 1;
}

int ka_selector_validate(const cJSON *selector, char *err, size_t err_len, const cJSON **where)
{
    *where = selector;
    if (!cJSON_IsObject(selector)) {
        snprintf(err, err_len, "selector must be a mapping with matchLabels/matchExpressions");
        return KA_EPOLICY;
    }
    if (ka_selector_too_large(selector)) {
        snprintf(err, err_len,
                 "selector has more than %d requirements or an expression with more than %d "
                 "values",
                 KA_MAX_SELECTOR_REQUIREMENTS, KA_MAX_SELECTOR_VALUES);
        return KA_EPOLICY;
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, selector)
    {
        *where = f;
        if (strcmp(f->string, "matchLabels") == 0) {
            if (!cJSON_IsObject(f)) {
                snprintf(err, err_len, "matchLabels must be a mapping of strings");
                return KA_EPOLICY;
            }
            const cJSON *kv;
            cJSON_ArrayForEach(kv, f)
            {
                if (!cJSON_IsString(kv)) {
                    *where = kv;
                    snprintf(err, err_len, "matchLabels.%s must be a string", kv->string);
                    return KA_EPOLICY;
                }
            }
        } else if (strcmp(f->string, "matchExpressions") == 0) {
            if (!cJSON_IsArray(f)) {
                snprintf(err, err_len, "matchExpressions must be a list");
                return KA_EPOLICY;
            }
            const cJSON *e;
            cJSON_ArrayForEach(e, f)
            {
                *where = e;
                const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
                const cJSON *op = cJSON_GetObjectItemCaseSensitive(e, "operator");
                const cJSON *values = cJSON_GetObjectItemCaseSensitive(e, "values");
                if (!cJSON_IsString(k) || !cJSON_IsString(op)) {
                    snprintf(err, err_len, "matchExpressions entries need string key and operator");
                    return KA_EPOLICY;
                }
                int needs_values =
                    strcmp(op->valuestring, "In") == 0 || strcmp(op->valuestring, "NotIn") == 0;
                int no_values = strcmp(op->valuestring, "Exists") == 0 ||
                                strcmp(op->valuestring, "DoesNotExist") == 0;
                if (!needs_values && !no_values) {
                    snprintf(err, err_len,
                             "unknown operator \"%.40s\" (use In, NotIn, Exists, DoesNotExist)",
                             op->valuestring);
                    return KA_EPOLICY;
                }
                if (needs_values && (!cJSON_IsArray(values) || cJSON_GetArraySize(values) == 0)) {
                    snprintf(err, err_len, "operator %s needs a non-empty values list",
                             op->valuestring);
                    return KA_EPOLICY;
                }
                if (no_values && values != NULL && cJSON_GetArraySize(values) > 0) {
                    snprintf(err, err_len, "operator %s takes no values", op->valuestring);
                    return KA_EPOLICY;
                }
            }
        } else {
            snprintf(err, err_len, "unknown selector field \"%.60s\"", f->string);
            return KA_EPOLICY;
        }
    }
    return 0;
}
