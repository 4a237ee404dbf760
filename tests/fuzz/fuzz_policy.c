/*
 * libFuzzer target: policy file bytes (YAML or JSON) -> ka_policy_load_buffer().
 * A policy that loads must also review a fixed pod without error (the loader's checks must be
 * enough for the rules to run on any accepted params).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/admission.h"
#include "kadmit/error.h"
#include "kadmit/policy.h"

static const char review_body[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
    "\"uid\":\"fuzz\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
    "\"namespace\":\"ai-agents\",\"operation\":\"CREATE\",\"object\":{\"apiVersion\":\"v1\","
    "\"kind\":\"Pod\",\"metadata\":{\"name\":\"agent-0\",\"labels\":{\"app\":\"agent\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"agent\",\"image\":\"r.example/agent:1\","
    "\"env\":[{\"name\":\"API_KEY\",\"value\":\"sk-123\"}]}]}}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ka_policy *policy = NULL;
    struct ka_buf diag;
    ka_buf_init(&diag, 256u * 1024u);
    int ret = ka_policy_load_buffer("fuzz.yaml", (const char *)data, size, NULL, &policy, &diag);
    if (ret == 0) {
        static const enum ka_endpoint eps[] = {KA_ENDPOINT_VALIDATE, KA_ENDPOINT_MUTATE};
        for (size_t i = 0; i < 2; i++) {
            struct ka_buf out;
            ka_buf_init(&out, 16u * 1024u * 1024u);
            struct ka_review_opts opts = {.now = 1795000000};
            int r = ka_admission_review(policy, eps[i], review_body, sizeof(review_body) - 1, &opts,
                                        &out, NULL);
            if (r != 0 && r != KA_ENOMEM) {
                abort();
            }
            ka_buf_free(&out);
        }
        ka_policy_unref(policy);
    } else if (ret != KA_EPOLICY && ret != KA_ENOMEM && ret != KA_ENOTFOUND && ret != KA_EIO) {
        abort();
    }
    ka_buf_free(&diag);
    return 0;
}
