/* Policy loading and lint diagnostics (file:line:column: message). */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "ka_test.h"
#include "kadmit/duration.h"
#include "kadmit/error.h"
#include "kadmit/policy.h"
#include "kadmit/rules.h"

/* Load `text`; return the code and leave diagnostics in diag. */
static int load(const char *text, struct ka_buf *diag, struct ka_policy **out)
{
    ka_buf_init(diag, 64 * 1024);
    return ka_policy_load_buffer("p.yaml", text, strlen(text), NULL, out, diag);
}

#define HEAD "apiVersion: kadmit.dev/v1alpha1\nkind: Policy\nmetadata: {name: t}\nspec:\n"

static void expect_diag(const char *text, const char *needle)
{
    struct ka_buf diag;
    struct ka_policy *p = NULL;
    int ret = load(text, &diag, &p);
    CU_ASSERT_EQUAL(ret, KA_EPOLICY);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(diag.data);
    if (strstr(diag.data, needle) == NULL) {
        fprintf(stderr, "\nwanted \"%s\" in:\n%s\n", needle, diag.data);
        CU_FAIL("diagnostic not found");
    }
    ka_buf_free(&diag);
}

static void test_default_loads(void)
{
    struct ka_buf diag;
    ka_buf_init(&diag, 4096);
    struct ka_policy *p = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_policy_load_default(NULL, &p, &diag), 0);
    size_t n = 0;
    const struct ka_rule *rules = ka_policy_rules(p, &n);
    CU_ASSERT(n >= 10);
    /* every rule the checklist names is enforced; the others run at their registry default */
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT(rules[i].action == KA_ACTION_ENFORCE ||
                  rules[i].action == rules[i].def->default_action);
    }
    CU_ASSERT(strstr(ka_policy_source(p), "checklist") != NULL);
    /* the embedded default is the shipped file, byte for byte */
    struct ka_buf file;
    ka_buf_init(&file, 1 << 20);
    CU_ASSERT_EQUAL_FATAL(ka_buf_read_file(&file, "policies/checklist.yaml"), 0);
    size_t len = 0;
    const char *text = ka_policy_default_text(&len);
    CU_ASSERT_EQUAL(len, file.len);
    CU_ASSERT_EQUAL(memcmp(text, file.data, len), 0);
    ka_buf_free(&file);
    ka_policy_unref(p);
    ka_buf_free(&diag);
}

static void test_unknown_field_has_position(void)
{
    expect_diag(HEAD "  rules:\n    - id: probes-required\n      requird: true\n",
                "p.yaml:7:16: rule: unknown field \"requird\"");
}

static void test_unknown_rule_id(void)
{
    expect_diag(HEAD "  rules:\n    - id: probes-requird\n",
                "p.yaml:6:11: unknown rule id \"probes-requird\"");
}

static void test_duplicate_id(void)
{
    expect_diag(HEAD "  rules:\n    - id: image-pinned\n    - id: image-pinned\n",
                "p.yaml:7:11: duplicate rule id \"image-pinned\"");
}

static void test_bad_action_and_param_type(void)
{
    const char *text = HEAD "  rules:\n    - id: termination-grace-period\n      action: block\n"
                            "      params: {minSeconds: soon}\n";
    expect_diag(text, "p.yaml:7:15: rule \"termination-grace-period\": action must be one of");
    expect_diag(
        text,
        "p.yaml:8:28: rule \"termination-grace-period\": param \"minSeconds\" must be an integer");
}

/* image-scan-attestation's replacement params: named choices and kinds, `0` for "never". */
static void test_replacement_params(void)
{
#define ATTEST HEAD "  rules:\n    - id: image-scan-attestation\n      params:\n"
    expect_diag(ATTEST "        onReplacementFindings: deny\n",
                "onReplacementFindings must be enforce or warn");
    expect_diag(ATTEST "        replacementControllers: {alice: [Pod]}\n",
                "replacementControllers.alice must list the kinds that user manages");
    expect_diag(ATTEST "        replacementControllers: {alice: StatefulSet}\n",
                "replacementControllers.alice must list the kinds that user manages");
    expect_diag(ATTEST "        replacementMaxAge: 3\n",
                "param \"replacementMaxAge\" must be a duration");
    struct ka_buf diag;
    struct ka_policy *p = NULL;
    CU_ASSERT_EQUAL(load(ATTEST "        replacementMaxAge: 0\n        keys: []\n"
                                "        replacementControllers: {\"system:serviceaccount:ops:"
                                "spine\": [StatefulSet, Deployment]}\n",
                         &diag, &p),
                    0);
    ka_policy_unref(p);
    ka_buf_free(&diag);
#undef ATTEST
}

static void test_bad_selector(void)
{
    expect_diag(HEAD "  rules:\n    - id: termination-grace-period\n      match:\n"
                     "        selector:\n          matchExpressions:\n"
                     "            - {key: app, operator: Inn, values: [a]}\n",
                "unknown operator \"Inn\"");
    expect_diag(HEAD "  rules:\n    - id: image-pinned\n      match: {kinds: [Pods]}\n",
                "unknown kind \"Pods\"");
}

static void test_exception_needs_reason(void)
{
    expect_diag(HEAD "  rules:\n    - id: image-pinned\n      exceptions:\n"
                     "        - name: x\n          containers: [a]\n",
                "\"reason\" is required");
}

static void test_wrong_api_version_and_yaml_error(void)
{
    expect_diag("apiVersion: v1\nkind: Policy\nmetadata: {name: t}\nspec: {}\n",
                "p.yaml:1:13: apiVersion must be kadmit.dev/v1alpha1");
    expect_diag("spec: [\n", "p.yaml:");
    expect_diag(HEAD "  rules: &a []\n", "anchors and aliases are not supported");
    expect_diag("a: 1\na: 2\n", "duplicate key \"a\"");
}

static void test_params_merge_defaults(void)
{
    struct ka_buf diag;
    struct ka_policy *p = NULL;
    CU_ASSERT_EQUAL_FATAL(load(HEAD "  rules:\n    - id: termination-grace-period\n"
                                    "      action: warn\n      params: {minSeconds: 90}\n"
                                    "    - id: inject-probes\n",
                               &diag, &p),
                          0);
    size_t n = 0;
    const struct ka_rule *rules = ka_policy_rules(p, &n);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(rules[0].action, KA_ACTION_WARN);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(rules[0].params, "minSeconds")->valueint, 90);
    const cJSON *ready = cJSON_GetObjectItem(rules[1].params, "readiness");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(ready, "path")->valuestring, "/health/ready");
    const cJSON *ex = ka_policy_excluded_namespaces(p);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(ex), 4); /* the default list */
    ka_policy_unref(p);
    ka_buf_free(&diag);
}

static void test_duration(void)
{
    int64_t s = 0;
    CU_ASSERT_EQUAL(ka_duration_parse("168h", &s), 0);
    CU_ASSERT_EQUAL(s, 168 * 3600);
    CU_ASSERT_EQUAL(ka_duration_parse("1d12h", &s), 0);
    CU_ASSERT_EQUAL(s, 36 * 3600);
    CU_ASSERT_EQUAL(ka_duration_parse("90", &s), KA_EINVAL); /* a unit is required */
    CU_ASSERT_EQUAL(ka_duration_parse("99999999999999999999d", &s), KA_EINVAL);
    CU_ASSERT_EQUAL(ka_duration_parse("5x", &s), KA_EINVAL);
    CU_ASSERT_EQUAL(ka_duration_parse("", &s), KA_EINVAL);
    CU_ASSERT_EQUAL(ka_duration_parse("h", &s), KA_EINVAL);
}

static void test_holder_swaps(void)
{
    struct ka_policy_holder h;
    ka_policy_holder_init(&h);
    CU_ASSERT_PTR_NULL(ka_policy_holder_get(&h));
    struct ka_policy *a = NULL, *b = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_policy_load_default(NULL, &a, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(ka_policy_load_default(NULL, &b, NULL), 0);
    ka_policy_holder_set(&h, a);
    struct ka_policy *in_flight = ka_policy_holder_get(&h); /* a request keeps its snapshot */
    CU_ASSERT_PTR_EQUAL(in_flight, a);
    ka_policy_holder_set(&h, b); /* reload */
    struct ka_policy *next = ka_policy_holder_get(&h);
    CU_ASSERT_PTR_EQUAL(next, b);
    size_t n = 0;
    CU_ASSERT_PTR_NOT_NULL(ka_policy_rules(in_flight, &n)); /* still valid */
    ka_policy_unref(in_flight);
    ka_policy_unref(next);
    ka_policy_holder_free(&h);
}

/* Overrides from outside the files: an action, a param, and refusals that name the problem. */
static void test_rule_overrides(void)
{
    static const char text[] = HEAD "  rules:\n    - id: termination-grace-period\n"
                                    "      params: {minSeconds: 120}\n";
    const struct ka_rule_override good[] = {
        {"termination-grace-period", "minSeconds", "300"},
        {"termination-grace-period", NULL, "warn"},
        {"image-pinned", NULL, "off"}, /* not configured: ignored */
    };
    struct ka_policy_load_opts opts = {.overrides = good, .n_overrides = 3};
    struct ka_policy *p = NULL;
    struct ka_buf diag;
    ka_buf_init(&diag, 4096);
    CU_ASSERT_EQUAL_FATAL(ka_policy_load_buffer("p.yaml", text, strlen(text), &opts, &p, &diag), 0);
    size_t n = 0;
    const struct ka_rule *rules = ka_policy_rules(p, &n);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(rules[0].action, KA_ACTION_WARN);
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(rules[0].params, "minSeconds")->valueint, 300);
    ka_policy_unref(p);

    static const struct {
        struct ka_rule_override ov;
        const char *needle;
    } bad[] = {
        {{"termination-grace-period", "minSeconds", "\"soon\""},
         "param minSeconds: must be an integer"},
        {{"termination-grace-period", "maxSeconds", "1"}, "param maxSeconds: unknown param"},
        {{"termination-grace-period", NULL, "loud"}, "action: action must be one of"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        opts = (struct ka_policy_load_opts){.overrides = &bad[i].ov, .n_overrides = 1};
        p = NULL;
        ka_buf_reset(&diag);
        CU_ASSERT_EQUAL(ka_policy_load_buffer("p.yaml", text, strlen(text), &opts, &p, &diag),
                        KA_EPOLICY);
        CU_ASSERT_PTR_NULL(p);
        CU_ASSERT_PTR_NOT_NULL_FATAL(diag.data);
        if (strstr(diag.data, bad[i].needle) == NULL) {
            fprintf(stderr, "\nwanted \"%s\" in:\n%s\n", bad[i].needle, diag.data);
            CU_FAIL("override diagnostic");
        }
    }
    ka_buf_free(&diag);
}

/* spec.otherRules: default adds every unnamed rule whose registry default action is not off, at
 * that action; off (or absent) adds none; anything else is refused. */
static void test_other_rules(void)
{
    static const char with[] = HEAD "  otherRules: default\n  rules:\n"
                                    "    - id: image-pinned\n      action: audit\n";
    static const char without[] = HEAD "  otherRules: \"off\"\n  rules:\n"
                                       "    - id: image-pinned\n      action: audit\n";
    struct ka_buf diag;
    struct ka_policy *p = NULL;
    size_t want = 1;
    for (size_t d = 0; ka_rule_defs[d] != NULL; d++) {
        want += strcmp(ka_rule_defs[d]->id, "image-pinned") != 0 &&
                ka_rule_defs[d]->default_action != KA_ACTION_OFF;
    }
    CU_ASSERT_EQUAL_FATAL(load(with, &diag, &p), 0);
    size_t n = 0;
    const struct ka_rule *rules = ka_policy_rules(p, &n);
    CU_ASSERT_EQUAL(n, want);
    CU_ASSERT_EQUAL(rules[0].action, KA_ACTION_AUDIT); /* a named rule keeps its action */
    for (size_t i = 1; i < n; i++) {
        CU_ASSERT_EQUAL(rules[i].action, rules[i].def->default_action);
        CU_ASSERT_PTR_NOT_NULL(rules[i].params);
    }
    ka_policy_unref(p);
    ka_buf_free(&diag);
    CU_ASSERT_EQUAL_FATAL(load(without, &diag, &p), 0);
    ka_policy_rules(p, &n);
    CU_ASSERT_EQUAL(n, 1);
    ka_policy_unref(p);
    ka_buf_free(&diag);
    expect_diag(HEAD "  otherRules: all\n", "p.yaml:5:15: spec.otherRules must be default or off");
}

int main(void)
{
    static const struct ka_test tests[] = {
        {"default_loads", test_default_loads},
        {"unknown_field_has_position", test_unknown_field_has_position},
        {"unknown_rule_id", test_unknown_rule_id},
        {"duplicate_id", test_duplicate_id},
        {"bad_action_and_param_type", test_bad_action_and_param_type},
        {"bad_selector", test_bad_selector},
        {"image-scan-attestation replacement params", test_replacement_params},
        {"exception_needs_reason", test_exception_needs_reason},
        {"wrong_api_version_and_yaml_error", test_wrong_api_version_and_yaml_error},
        {"params_merge_defaults", test_params_merge_defaults},
        {"duration", test_duration},
        {"holder_swaps", test_holder_swaps},
        {"rule_overrides", test_rule_overrides},
        {"other_rules", test_other_rules},
        {NULL, NULL},
    };
    return ka_test_run("policy", tests);
}
