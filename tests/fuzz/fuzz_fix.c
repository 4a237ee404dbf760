/*
 * libFuzzer target: random YAML/JSON -> ka_fix_bytes() with the embedded checklist (its
 * attestation rule off). The fixed text must parse whenever the input did, and fixing it again
 * must change nothing (idempotence).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/error.h"
#include "kadmit/fix.h"
#include "kadmit/policy.h"
#include "kadmit/yaml.h"

static struct ka_policy *policy;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const struct ka_rule_override off = {"image-scan-attestation", NULL, "off"};
    const struct ka_policy_load_opts opts = {.overrides = &off, .n_overrides = 1};
    if (ka_policy_load_default(&opts, &policy, NULL) != 0) {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct ka_review_opts opts = {.now = 1795000000};
    struct ka_fix_result once, twice;
    ka_fix_result_init(&once);
    ka_fix_result_init(&twice);
    int ret = ka_fix_bytes(policy, &opts, "fuzz.yaml", (const char *)data, size, &once);
    if (ret == KA_ENOMEM || ret == KA_ELIMIT) {
        goto done;
    }
    if (ret != 0) {
        abort();
    }
    if (once.parse_error) {
        /* a file fix cannot read is returned as it was */
        if (once.text.len != size || (size > 0 && memcmp(once.text.data, data, size) != 0)) {
            abort();
        }
        goto done;
    }
    struct ka_yaml_stream s;
    ka_yaml_stream_init(&s);
    ret = ka_yaml_parse(&s, "fixed.yaml", once.text.data ? once.text.data : "", once.text.len, 0,
                        NULL);
    ka_yaml_stream_free(&s);
    if (ret != 0 && ret != KA_ENOMEM && ret != KA_ELIMIT) {
        abort(); /* the input parsed, the output must too */
    }
    ret = ka_fix_bytes(policy, &opts, "fuzz.yaml", once.text.data ? once.text.data : "",
                       once.text.len, &twice);
    if (ret == 0 &&
        (twice.n_ops != 0 || twice.text.len != once.text.len ||
         (once.text.len > 0 && memcmp(twice.text.data, once.text.data, once.text.len) != 0))) {
        abort(); /* not idempotent */
    }
done:
    ka_fix_result_free(&once);
    ka_fix_result_free(&twice);
    return 0;
}
