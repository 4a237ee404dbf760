/*
 * Shared by the JSON parser's fuzzers and unit test: the two trees are the same, node for node
 * (type, key, string, number bit for bit, valueint, order, and child->prev at the last child as
 * cJSON keeps it). Header-only; static.
 */
#ifndef KADMIT_TESTS_JSON_SAME_H
#define KADMIT_TESTS_JSON_SAME_H

#include <string.h>

#include <cjson/cJSON.h>

static int json_same(const cJSON *a, const cJSON *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    if (a->type != b->type || (a->string == NULL) != (b->string == NULL) ||
        (a->string != NULL && strcmp(a->string, b->string) != 0) ||
        (a->valuestring == NULL) != (b->valuestring == NULL) ||
        (a->valuestring != NULL && strcmp(a->valuestring, b->valuestring) != 0) ||
        a->valueint != b->valueint ||
        memcmp(&a->valuedouble, &b->valuedouble, sizeof(double)) != 0) {
        return 0;
    }
    const cJSON *x = a->child, *y = b->child, *last_x = NULL, *last_y = NULL;
    for (; x != NULL && y != NULL; x = x->next, y = y->next) {
        if (!json_same(x, y)) {
            return 0;
        }
        last_x = x;
        last_y = y;
    }
    if (x != NULL || y != NULL) {
        return 0;
    }
    /* cJSON appends through child->prev: both must point at the last child */
    return last_x == NULL || (a->child->prev == last_x && b->child->prev == last_y);
}

#endif
