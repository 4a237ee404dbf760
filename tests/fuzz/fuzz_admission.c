/*
 * libFuzzer target: AdmissionReview request bytes -> ka_admission_review(), on both endpoints,
 * with the embedded default policy loaded once.
 *
 * Invariants checked beyond "no crash, no leak, no UB":
 *  - the return is 0, KA_EREVIEW or KA_ENOMEM/KA_ELIMIT (never another code);
 *  - on 0 the response is JSON that cJSON parses, with response.allowed a boolean;
 *  - on 0 a deny (allowed == false) always carries a status message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kadmit/admission.h"
#include "kadmit/error.h"
#include "kadmit/policy.h"
#include "fuzz_policy.h"

static void check_response(const struct ka_buf *out)
{
    cJSON *root = cJSON_ParseWithLength(out->data, out->len);
    if (root == NULL) {
        abort(); /* the core wrote JSON that does not parse */
    }
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(root, "response");
    const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(resp, "allowed");
    if (!cJSON_IsBool(allowed)) {
        abort();
    }
    if (cJSON_IsFalse(allowed)) {
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(resp, "status");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(status, "message");
        if (!cJSON_IsString(msg) || msg->valuestring[0] == '\0') {
            abort(); /* a deny without a reason */
        }
    }
    cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum ka_endpoint eps[] = {KA_ENDPOINT_VALIDATE, KA_ENDPOINT_MUTATE};
    struct ka_review_opts opts = {.now = 1795000000};
    for (size_t i = 0; i < 2; i++) {
        struct ka_buf out;
        ka_buf_init(&out, 16u * 1024u * 1024u);
        struct ka_review_summary summary;
        int ret =
            ka_admission_review(policy, eps[i], (const char *)data, size, &opts, &out, &summary);
        if (ret == 0) {
            if (summary.http_status != 200) {
                abort();
            }
            check_response(&out);
        } else if (ret != KA_EREVIEW && ret != KA_ENOMEM && ret != KA_ELIMIT) {
            abort();
        }
        ka_buf_free(&out);
    }
    return 0;
}
