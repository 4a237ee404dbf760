/*
 * Table-driven admission fixtures. A case is a folder holding request.json, endpoint
 * (validate|mutate), expected.json (the exact response) and optionally policy.yaml:
 *   tests/fixtures/rules/<rule-id>/<case>/  judged with only that rule on (the shipped checklist
 *                                           with every other rule off), unless policy.yaml
 *   tests/fixtures/checklist/<case>/        judged with the whole checklist (image-scan-attestation
 *                                           off), unless policy.yaml
 * The response is compared as JSON, with the base64 patch decoded and compared as JSON too, so a
 * difference is shown readably. A new case is a new folder; CMake makes each its own ctest test
 * (`ctest -R image-pinned`). `coverage` fails when a rule has no case that passes it and none
 * that it acts on (deny, warning or patch).
 *
 * usage: test_fixtures [rules/<rule-id>/<case> | checklist/<case> | coverage]  (none: all)
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
#include "kadmit/rules.h"

#define FIXTURES "tests/fixtures"

static const char *only; /* the case (or "coverage") named on the command line, or NULL */

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

/* The shipped checklist with every rule but `rule` switched off. */
static int load_checklist_only(const char *rule, struct ka_policy **out, struct ka_buf *diag)
{
    struct ka_rule_override off[64];
    size_t n = 0;
    for (size_t i = 0; ka_rule_defs[i] != NULL && n < sizeof(off) / sizeof(off[0]); i++) {
        if (strcmp(ka_rule_defs[i]->id, rule) != 0) {
            off[n++] = (struct ka_rule_override){ka_rule_defs[i]->id, NULL, "off"};
        }
    }
    const struct ka_policy_load_opts opts = {.overrides = off, .n_overrides = n};
    return ka_policy_load_default(&opts, out, diag);
}

/* Judge one case: `dir`/`name`, with only `rule` on (NULL: the whole checklist). */
static int run_case(const char *dir, const char *name, const char *rule)
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
    } else if (rule != NULL) {
        ret = load_checklist_only(rule, &policy, &diag);
    } else {
        ret = ka_test_load_checklist_without_attestations(&policy, &diag);
    }
    CU_ASSERT_EQUAL(ret, 0);
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

/* Calls fn(dir, name, rule) for each case folder under tests/fixtures/rules/ and checklist/. */
static void
for_each_case(void (*fn)(const char *dir, const char *name, const char *rule, void *arg), void *arg)
{
    DIR *rules = opendir(FIXTURES "/rules");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rules);
    struct dirent *r;
    while ((r = readdir(rules)) != NULL) {
        if (r->d_name[0] == '.') {
            continue;
        }
        char dir[512];
        snprintf(dir, sizeof(dir), FIXTURES "/rules/%s", r->d_name);
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (e->d_name[0] != '.') {
                fn(dir, e->d_name, r->d_name, arg);
            }
        }
        if (d != NULL) {
            closedir(d);
        }
    }
    closedir(rules);
    DIR *d = opendir(FIXTURES "/checklist");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            fn(FIXTURES "/checklist", e->d_name, NULL, arg);
        }
    }
    closedir(d);
}

struct tally {
    int n, failed;
};

static void judge(const char *dir, const char *name, const char *rule, void *arg)
{
    struct tally *t = arg;
    char id[600];
    snprintf(id, sizeof(id), "%s/%s", dir + sizeof(FIXTURES), name);
    if (only != NULL && strcmp(only, id) != 0) {
        return;
    }
    t->n++;
    if (!run_case(dir, name, rule)) {
        t->failed++;
        fprintf(stderr, "FAIL fixture %s\n", id);
    }
}

static void test_cases(void)
{
    struct tally t = {0, 0};
    for_each_case(judge, &t);
    printf("\n  %d fixtures, %d failed\n", t.n, t.failed);
    CU_ASSERT(only != NULL ? t.n == 1 : t.n >= 50);
    CU_ASSERT_EQUAL(t.failed, 0);
}

/* A case "acts" when the rule denies, warns or patches; it "passes" when the response is a plain
 * allow. */
static int case_acts(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s/expected.json", dir, name);
    struct ka_buf b;
    ka_buf_init(&b, 4u << 20);
    int acts = -1;
    if (ka_buf_read_file(&b, path) == 0) {
        cJSON *review = cJSON_Parse(b.data);
        const cJSON *resp = cJSON_GetObjectItemCaseSensitive(review, "response");
        if (resp != NULL) {
            acts = !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "allowed")) ||
                   cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(resp, "warnings")) > 0 ||
                   cJSON_GetObjectItemCaseSensitive(resp, "patch") != NULL;
        }
        cJSON_Delete(review);
    }
    ka_buf_free(&b);
    return acts;
}

static void test_coverage(void)
{
    int missing = 0;
    for (size_t i = 0; ka_rule_defs[i] != NULL; i++) {
        const char *id = ka_rule_defs[i]->id;
        if (ka_rule_defs[i]->relation != NULL) {
            continue; /* a relation: audit fixtures (tests/fixtures/relations/, test_relations) */
        }
        char dir[512];
        snprintf(dir, sizeof(dir), FIXTURES "/rules/%s", id);
        int passes = 0, acts = 0;
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (e->d_name[0] != '.') {
                int a = case_acts(dir, e->d_name);
                passes += a == 0;
                acts += a == 1;
            }
        }
        if (d != NULL) {
            closedir(d);
        }
        if (passes == 0 || acts == 0) {
            fprintf(stderr,
                    "rule %s: %s/ needs a case the rule passes (%d) and one it acts on (%d)\n", id,
                    dir, passes, acts);
            missing++;
        }
    }
    CU_ASSERT_EQUAL(missing, 0);
}

int main(int argc, char **argv)
{
    only = argc > 1 ? argv[1] : NULL;
    static const struct ka_test all[] = {
        {"cases", test_cases},
        {"coverage", test_coverage},
        {NULL, NULL},
    };
    static const struct ka_test coverage[] = {{"coverage", test_coverage}, {NULL, NULL}};
    static const struct ka_test cases[] = {{"cases", test_cases}, {NULL, NULL}};
    if (only == NULL) {
        return ka_test_run("fixtures", all, 1, argv);
    }
    return ka_test_run("fixtures", strcmp(only, "coverage") == 0 ? coverage : cases, 1, argv);
}
