/*
 * RFC 6902 JSON patches with RFC 6901 pointers.
 *
 * kadmit only ever adds: missing parents are created by adding the whole parent object, arrays
 * are appended to with "/-", and a whole array is never replaced. The caller applies each change
 * to its in-memory tree too, so later rules (and validation) see the mutated object.
 */
#ifndef KADMIT_PATCH_H
#define KADMIT_PATCH_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "kadmit/buf.h"

struct ka_patch {
    struct ka_buf ops; /* "{...},{...}" without the surrounding brackets */
    size_t n_ops;
    size_t max_ops;
};

void ka_patch_init(struct ka_patch *p, size_t max_ops);
void ka_patch_free(struct ka_patch *p);

/** Append "/" and `segment` escaped per RFC 6901 (~ -> ~0, / -> ~1) to `path`. */
__attribute__((warn_unused_result)) int ka_pointer_append(struct ka_buf *path, const char *segment);
/** Append "/<index>". */
__attribute__((warn_unused_result)) int ka_pointer_append_index(struct ka_buf *path, size_t index);

/**
 * Record {"op":"add","path":path,"value":value}. `path` is an already-escaped pointer.
 * Returns KA_ELIMIT past max_ops.
 */
__attribute__((warn_unused_result)) int ka_patch_add(struct ka_patch *p, const char *path,
                                                     const cJSON *value);
/**
 * Record any operation: `op` is "add", "replace" or "remove" (`value` NULL for remove). The
 * admission patch only adds; `kadmit fix` also replaces and removes (see fix.h).
 */
__attribute__((warn_unused_result)) int ka_patch_op(struct ka_patch *p, const char *op,
                                                    const char *path, const cJSON *value);

/** Write the patch as a JSON array into `out`. */
__attribute__((warn_unused_result)) int ka_patch_render(const struct ka_patch *p,
                                                        struct ka_buf *out);

/** Append standard base64 of `data` to `out`. */
__attribute__((warn_unused_result)) int ka_base64_append(struct ka_buf *out, const void *data,
                                                         size_t len);

#endif
