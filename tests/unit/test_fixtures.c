/*
 * Table-driven admission fixtures: every tests/fixtures/cases/<case>/ holds request.json,
 * endpoint (validate|mutate), optional policy.yaml, and expected.json (the exact response).
 * The response is compared as JSON, with the base64 patch decoded and compared as JSON too,
 * so a difference is shown readably. A new case is a new folder.
 */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ka_test.h"
#include "kadmit/admission.h"
#include "kadmit/buf.h"
#include "kadmit/policy.h"

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Replace response.patch (base64) with its decoded JSON so trees compare structurally. */
static void decode_patch(cJSON *review)
{
    cJSON *resp = cJSON_GetObjectItemCaseSensitive(review, "response");
    cJSON *patch = cJSON_GetObjectItemCaseSensitive(resp, "patch");
    if (!cJSON_IsString(patch)) {
        return;
    }
    const char *s = patch->valuestring;
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) {
            continue;
        }
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[o] = '\0';
    cJSON *decoded = cJSON_Parse(out);
    CU_ASSERT_PTR_NOT_NULL(decoded); /* the patch must be valid JSON */
    if (decoded != NULL) {
        cJSON_ReplaceItemInObjectCaseSensitive(resp, "patch", decoded);
    }
    free(out);
}

static int run_case(const char *dir, const char *name)
{
    char path[1024];
    struct ka_buf req, expected, endpoint, out, diag;
    ka_buf_init(&req, 4u << 20);
    ka_buf_init(&expected, 4u << 20);
    ka_buf_init(&endpoint, 64);
    ka_buf_init(&out, 8u << 20);
    ka_buf_init(&diag, 64 * 1024);
    struct ka_policy *policy = NULL;
    cJSON *got = NULL, *want = NULL;
    int ok = 0;

    snprintf(path, sizeof(path), "%s/%s/request.json", dir, name);
    if (ka_buf_read_file(&req, path) != 0) {
        fprintf(stderr, "%s: cannot read request.json\n", name);
        goto done;
    }
    snprintf(path, sizeof(path), "%s/%s/expected.json", dir, name);
    if (ka_buf_read_file(&expected, path) != 0) {
        fprintf(stderr, "%s: cannot read expected.json\n", name);
        goto done;
    }
    snprintf(path, sizeof(path), "%s/%s/endpoint", dir, name);
    if (ka_buf_read_file(&endpoint, path) != 0) {
        fprintf(stderr, "%s: cannot read endpoint\n", name);
        goto done;
    }
    enum ka_endpoint ep =
        strncmp(endpoint.data, "mutate", 6) == 0 ? KA_ENDPOINT_MUTATE : KA_ENDPOINT_VALIDATE;
    snprintf(path, sizeof(path), "%s/%s/policy.yaml", dir, name);
    FILE *f = fopen(path, "r");
    int ret;
    if (f != NULL) {
        fclose(f);
        ret = ka_policy_load_path(path, NULL, &policy, &diag);
    } else {
        ret = ka_test_load_checklist_without_attestations(&policy, &diag);
        CU_ASSERT_EQUAL(ret, 0);
    }
    if (ret != 0) {
        fprintf(stderr, "%s: policy: %s\n", name, diag.data ? diag.data : "?");
        goto done;
    }
    struct ka_review_opts opts = {.now = 1790000000};
    ret = ka_admission_review(policy, ep, req.data, req.len, &opts, &out, NULL);
    if (ret != 0) {
        fprintf(stderr, "%s: review failed: %d\n", name, ret);
        goto done;
    }
    got = cJSON_Parse(out.data);
    want = cJSON_Parse(expected.data);
    if (got == NULL || want == NULL) {
        fprintf(stderr, "%s: response or expected.json is not JSON\n", name);
        goto done;
    }
    decode_patch(got);
    decode_patch(want);
    ok = cJSON_Compare(got, want, 1);
    if (!ok) {
        char *g = cJSON_Print(got), *w = cJSON_Print(want);
        fprintf(stderr, "\n%s: response differs\n--- expected\n%s\n--- got\n%s\n", name, w, g);
        free(g);
        free(w);
    }
done:
    cJSON_Delete(got);
    cJSON_Delete(want);
    ka_policy_unref(policy);
    ka_buf_free(&req);
    ka_buf_free(&expected);
    ka_buf_free(&endpoint);
    ka_buf_free(&out);
    ka_buf_free(&diag);
    return ok;
}

static void test_all_cases(void)
{
    const char *dir = "tests/fixtures/cases";
    DIR *d = opendir(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct dirent *e;
    int n = 0, failed = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        n++;
        if (!run_case(dir, e->d_name)) {
            failed++;
            fprintf(stderr, "FAIL fixture %s\n", e->d_name);
        }
    }
    closedir(d);
    printf("\n  %d fixtures, %d failed\n", n, failed);
    CU_ASSERT(n >= 50);
    CU_ASSERT_EQUAL(failed, 0);
}

int main(void)
{
    static const struct ka_test tests[] = {
        {"all_cases", test_all_cases},
        {NULL, NULL},
    };
    return ka_test_run("fixtures", tests);
}
