/*
 * Subject-aware ratcheting for UPDATE.
 *
 * On UPDATE an object that does not get worse is admitted with warnings: a finding the old
 * object already had is reported as "(existing)" at warn instead of enforce. "Already had"
 * means the same rule at the same JSON pointer *about the same subject*: the value at that
 * pointer is unchanged in both objects, and so are the `name` and `image` of every object on the
 * way down (the container, the env entry). A replaced image, a renamed container, or a new
 * literal value at the same env index is judged fresh.
 *
 * Use: evaluate the old object with struct ka_eval.ratchet_record set (each finding's rule and
 * path are recorded, nothing is listed), then the new object with ka_eval.ratchet_match.
 * Recording stops at KA_MAX_RATCHET_FINDINGS; findings past it are judged fresh (fail closed).
 */
#ifndef KADMIT_RATCHET_H
#define KADMIT_RATCHET_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "kadmit/buf.h"

struct ka_ratchet {
    const cJSON *old_root; /* borrowed: the old object, as it was evaluated */
    struct ka_buf keys;    /* "rule\0path\0" records */
    uint32_t *slots;       /* open addressing: offset + 1 into keys, 0 empty */
    size_t n_slots;
    size_t n_keys;
    size_t n_dropped; /* findings past KA_MAX_RATCHET_FINDINGS */
};

/** Start an empty set for `old_root` (borrowed). Cannot fail. */
void ka_ratchet_init(struct ka_ratchet *r, const cJSON *old_root);
/** Release the set; safe twice. */
void ka_ratchet_free(struct ka_ratchet *r);

/** Remember that the old object has a finding of `rule` at `path`. KA_ENOMEM, else 0 (past the
 * limit the finding is counted in n_dropped and forgotten). */
__attribute__((warn_unused_result)) int ka_ratchet_record(struct ka_ratchet *r, const char *rule,
                                                          const char *path);

/** True when the old object had a finding of `rule` at `path` and the subject at `path` is the
 * same in `new_root` as in the old object. */
int ka_ratchet_preexisting(const struct ka_ratchet *r, const cJSON *new_root, const char *rule,
                           const char *path);

#endif
