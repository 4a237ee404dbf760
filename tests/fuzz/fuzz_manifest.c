/*
 * libFuzzer target: manifest bytes (multi-document YAML, JSON, kind: List, AdmissionReview) ->
 * ka_audit_add_bytes() with the embedded default policy, then both renderers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kadmit/audit.h"
#include "kadmit/error.h"
#include "kadmit/policy.h"
#include "fuzz_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ka_audit a;
    ka_audit_init(&a, policy);
    a.opts.now = 1795000000;
    int ret = ka_audit_add_bytes(&a, "fuzz.yaml", (const char *)data, size);
    if (ret != 0 && ret != KA_ENOMEM && ret != KA_ELIMIT) {
        abort();
    }
    struct ka_buf out;
    ka_buf_init(&out, 64u * 1024u * 1024u);
    if (ka_audit_render_text(&a, &out, 1) != 0) {
        abort();
    }
    ka_buf_reset(&out);
    if (ka_audit_render_json(&a, &out) != 0) {
        abort();
    }
    ka_buf_free(&out);
    ka_audit_free(&a);
    return 0;
}
