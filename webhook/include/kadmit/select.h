/*
 * Matching helpers shared by policies and rules: shell-style globs and Kubernetes label
 * selectors ({matchLabels, matchExpressions}) evaluated on cJSON trees. All pure functions.
 */
#ifndef KADMIT_SELECT_H
#define KADMIT_SELECT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "kadmit/buf.h"

/** Glob match with `*` and `?`. `nocase` folds ASCII case. */
int ka_glob_match(const char *pattern, const char *text, int nocase);

/** True when `text` matches any string in the cJSON array of globs `patterns`. */
int ka_glob_match_any(const cJSON *patterns, const char *text, int nocase);

/**
 * True when the label selector matches `labels` (a cJSON object of strings, or NULL for none).
 * A NULL or empty selector matches everything, as in Kubernetes.
 */
int ka_selector_matches(const cJSON *selector, const cJSON *labels);

/** True when a selector is past KA_MAX_SELECTOR_REQUIREMENTS or KA_MAX_SELECTOR_VALUES (it then
 * matches nothing). */
int ka_selector_too_large(const cJSON *selector);

/**
 * Check a selector's shape. Returns 0, or KA_EPOLICY with a message in `err` and the offending
 * node in *where.
 */
__attribute__((warn_unused_result)) int ka_selector_validate(const cJSON *selector, char *err,
                                                             size_t err_len, const cJSON **where);

#endif
