/* Policy loading and lint diagnostics (file:line:column: message). */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ka_test.h"
#include "kadmit/error.h"
#include "kadmit/policy.h"
#include "kadmit/rules.h"

/* Load `text`; return the code and leave diagnostics in diag. */
static int load(const char *text, struct ka_buf *diag, struct ka_policy **out)
{
    ka_buf_init(diag, 64 * 1024);
    return ka_policy_load_buffer("p.yaml", text, strlen(text), NULL, out, diag);
}

/* `text` loaded, which must succeed (else its diagnostics are shown); the caller unrefs it. */
static struct ka_policy *load_ok(const char *text)
{
    struct ka_buf diag;
    struct ka_policy *p = NULL;
    int ret = load(text, &diag, &p);
    if (ret != 0) {
        fprintf(stderr, "\n%s\n", diag.data ? diag.data : "");
    }
    ka_buf_free(&diag);
    CU_ASSERT_EQUAL_FATAL(ret, 0);
    return p;
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
    struct ka_policy *p =
        load_ok(ATTEST "        replacementMaxAge: 0\n        keys: []\n"
                       "        replacementControllers: {\"system:serviceaccount:ops:"
                       "spine\": [StatefulSet, Deployment]}\n");
    ka_policy_unref(p);
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
    /* a relation rule's selector params are checked although the rule has no check of its own */
    expect_diag(HEAD "  rules:\n    - id: pdb-coverage\n      params:\n        memorySpine:\n"
                     "          matchExpressions: [{key: app, operator: Inn, values: [a]}]\n",
                "unknown operator \"Inn\"");
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
    expect_diag(HEAD "  rules: *a\n", "unknown anchor \"a\"");
    expect_diag("a: 1\na: 2\n", "duplicate key \"a\"");
}

static void test_params_merge_defaults(void)
{
    struct ka_policy *p = load_ok(HEAD "  rules:\n    - id: termination-grace-period\n"
                                       "      action: warn\n      params: {minSeconds: 90}\n"
                                       "    - id: inject-probes\n");
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
    ka_buf_init(&diag, 64u * 1024u); /* a warning per checklist rule the policy leaves out */
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

/* ------------------------------------------------------------------------------------------
 * Overlays
 */

#define OVERLAY(name, base)                                                                        \
    "apiVersion: kadmit.dev/v1alpha1\nkind: Policy\nmetadata: {name: " name                        \
    "}\nspec:\n  base: " base "\n"

/* A fresh directory holding `n` files; returns its path (static storage). */
static const char *write_dir(const char *const *names, const char *const *texts, size_t n)
{
    static char dir[64];
    CU_ASSERT_EQUAL_FATAL(ka_test_make_dir(dir, sizeof(dir), "policy"), 0);
    for (size_t i = 0; i < n; i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "w");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        fputs(texts[i], f);
        fclose(f);
    }
    return dir;
}

static void remove_dir(const char *dir)
{
    CU_ASSERT_EQUAL(ka_test_remove_tree(dir), 0);
}

static const struct ka_rule *rule_of(const struct ka_policy *p, const char *id)
{
    size_t n = 0;
    const struct ka_rule *rules = ka_policy_rules(p, &n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rules[i].def->id, id) == 0) {
            return &rules[i];
        }
    }
    return NULL;
}

static void expect_in(const char *text, const char *needle)
{
    if (text == NULL || strstr(text, needle) == NULL) {
        fprintf(stderr, "\nwanted \"%s\" in:\n%s\n", needle, text ? text : "(nothing)");
        CU_FAIL("text not found");
    }
}

/* The effective policy's origin text of one field of one rule. */
static const char *origin_of(const cJSON *eff, const char *id, const char *field)
{
    const cJSON *rules =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(eff, "spec"), "rules");
    const cJSON *origins = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(eff, "status"),
                                         "origins"),
        "rules");
    for (int i = 0; i < cJSON_GetArraySize(rules); i++) {
        const cJSON *r = cJSON_GetArrayItem(rules, i);
        if (strcmp(cJSON_GetObjectItemCaseSensitive(r, "id")->valuestring, id) == 0) {
            return cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(origins, i), field));
        }
    }
    return NULL;
}

static void test_overlay_over_embedded_checklist(void)
{
    static const char text[] = OVERLAY("tune", "checklist") "  rules:\n"
                                                            "    - id: image-pinned\n"
                                                            "      action: warn\n";
    struct ka_policy *p = load_ok(text);
    size_t n = 0;
    const struct ka_rule *rules = ka_policy_rules(p, &n);
    struct ka_policy *checklist = NULL;
    size_t n_checklist = 0;
    CU_ASSERT_EQUAL_FATAL(ka_policy_load_default(NULL, &checklist, NULL), 0);
    ka_policy_rules(checklist, &n_checklist);
    CU_ASSERT(n >= 11);
    CU_ASSERT_EQUAL(n, n_checklist); /* the whole checklist, not just the rule it names */
    for (size_t i = 0; i < n; i++) {
        const struct ka_rule *in_checklist = rule_of(checklist, rules[i].def->id);
        CU_ASSERT_PTR_NOT_NULL_FATAL(in_checklist);
        CU_ASSERT_EQUAL(rules[i].action, strcmp(rules[i].def->id, "image-pinned") == 0
                                             ? KA_ACTION_WARN
                                             : in_checklist->action);
    }
    ka_policy_unref(checklist);
    /* the checklist's own exception is still there */
    CU_ASSERT_EQUAL(cJSON_GetArraySize(rule_of(p, "probes-required")->exceptions), 1);
    CU_ASSERT_STRING_EQUAL(ka_policy_name(p), "checklist");
    cJSON *eff = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_policy_effective(p, &eff), 0);
    CU_ASSERT_STRING_EQUAL(origin_of(eff, "image-pinned", "action"), "p.yaml:8");
    CU_ASSERT_STRING_EQUAL(origin_of(eff, "resources-required", "action"), "(checklist default)");
    CU_ASSERT_STRING_EQUAL(origin_of(eff, "resources-required", "match"), "(not set)");
    cJSON_Delete(eff);
    ka_policy_unref(p);
}

static void test_overlay_over_named_policy(void)
{
    static const char *const names[] = {"00-prod.yaml", "10-tune.yaml"};
    static const char *const texts[] = {
        "apiVersion: kadmit.dev/v1alpha1\nkind: Policy\nmetadata: {name: prod}\nspec:\n"
        "  rules:\n    - id: image-pinned\n    - id: termination-grace-period\n"
        "      params: {minSeconds: 60}\n",
        OVERLAY("tune", "prod") "  rules:\n    - id: termination-grace-period\n"
                                "      action: audit\n"};
    const char *dir = write_dir(names, texts, 2);
    struct ka_buf diag;
    ka_buf_init(&diag, 64 * 1024);
    struct ka_policy *p = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_policy_load_path(dir, NULL, &p, &diag), 0);
    size_t n = 0;
    ka_policy_rules(p, &n);
    CU_ASSERT_EQUAL(n, 2);
    const struct ka_rule *r = rule_of(p, "termination-grace-period");
    CU_ASSERT_EQUAL(r->action, KA_ACTION_AUDIT);
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(r->params, "minSeconds")->valueint, 60);
    CU_ASSERT_STRING_EQUAL(ka_policy_name(p), "prod");
    ka_policy_unref(p);
    remove_dir(dir); /* write_dir() reuses its buffer */

    /* an overlay on the checklist does not fit a directory whose policy is prod */
    static const char *const wrong_names[] = {"00-prod.yaml", "10-tune.yaml"};
    static const char *const wrong[] = {texts[0], OVERLAY("tune", "checklist") "  rules: []\n"};
    const char *dir2 = write_dir(wrong_names, wrong, 2);
    ka_buf_reset(&diag);
    CU_ASSERT_EQUAL(ka_policy_load_path(dir2, NULL, &p, &diag), KA_EPOLICY);
    expect_in(diag.data, "10-tune.yaml:5:9: spec.base \"checklist\" is not a policy applied "
                         "before this one (the policy in force is \"prod\"");
    remove_dir(dir2);
    ka_buf_free(&diag);
}

static void test_overlay_params_merge(void)
{
    static const char text[] = OVERLAY("tune", "checklist") "  rules:\n"
                                                            "    - id: image-scan-attestation\n"
                                                            "      params:\n"
                                                            "        maxSeverity: {HIGH: 3}\n"
                                                            "        keyFiles: [/k/*.pem]\n";
    struct ka_policy *p = load_ok(text);
    const cJSON *params = rule_of(p, "image-scan-attestation")->params;
    const cJSON *sev = cJSON_GetObjectItemCaseSensitive(params, "maxSeverity");
    /* mappings merge key by key: the checklist's CRITICAL: 0 stays */
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(sev, "CRITICAL")->valueint, 0);
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(sev, "HIGH")->valueint, 3);
    /* a list replaces the list */
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(params, "keyFiles");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(keys), 1);
    CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(keys, 0)->valuestring, "/k/*.pem");
    /* params not given keep the checklist's values */
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(params, "maxAge")->valuestring, "168h");
    ka_policy_unref(p);
    expect_diag(OVERLAY("tune", "checklist") "  rules:\n    - id: image-pinned\n"
                                             "      params: {requireDigest: 1}\n",
                "p.yaml:8:31: rule \"image-pinned\": param \"requireDigest\" must be");
}

static void test_overlay_exceptions_append_and_replace(void)
{
    static const char append[] =
        OVERLAY("tune", "checklist") "  rules:\n    - id: probes-required\n"
                                     "      exceptions:\n"
                                     "        - {name: legacy, names: [old-*], reason: OPS-1}\n";
    struct ka_policy *p = load_ok(append);
    const cJSON *ex = rule_of(p, "probes-required")->exceptions;
    CU_ASSERT_EQUAL(cJSON_GetArraySize(ex), 2);
    CU_ASSERT_STRING_EQUAL(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ex, 0), "name")->valuestring,
        "metrics-sidecar");
    CU_ASSERT_STRING_EQUAL(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ex, 1), "name")->valuestring, "legacy");
    ka_policy_unref(p);

    static const char replace[] =
        OVERLAY("tune", "checklist") "  rules:\n    - id: probes-required\n"
                                     "      exceptions:\n        replace:\n"
                                     "          - {name: legacy, names: [old-*], reason: OPS-1}\n";
    p = load_ok(replace);
    ex = rule_of(p, "probes-required")->exceptions;
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(ex), 1);
    CU_ASSERT_STRING_EQUAL(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ex, 0), "name")->valuestring, "legacy");
    cJSON *eff = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_policy_effective(p, &eff), 0);
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(eff, "status"),
                                         "origins"),
        "rules");
    CU_ASSERT_STRING_EQUAL(
        cJSON_GetArrayItem(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rules, 1), "exceptions"), 0)
            ->valuestring,
        "p.yaml:10");
    cJSON_Delete(eff);
    ka_policy_unref(p);
    expect_diag(OVERLAY("tune", "checklist") "  rules:\n    - id: probes-required\n"
                                             "      exceptions: {replcae: []}\n",
                "p.yaml:8:29: exceptions: unknown field \"replcae\"");
    /* an exception added by an overlay still needs its reason */
    expect_diag(OVERLAY("tune", "checklist") "  rules:\n    - id: probes-required\n"
                                             "      exceptions: [{name: x}]\n",
                "\"reason\" is required");
}

static void test_overlay_unknown_rule(void)
{
    expect_diag(
        OVERLAY("tune", "checklist") "  rules:\n    - id: image-pined\n      action: warn\n",
        "p.yaml:7:11: unknown rule id \"image-pined\"");
    /* a rule the base does not have */
    static const char *const names[] = {"a.yaml", "b.yaml"};
    static const char *const texts[] = {
        HEAD "  rules:\n    - id: image-pinned\n",
        OVERLAY("tune", "t") "  rules:\n    - id: probes-required\n      action: warn\n"};
    const char *dir = write_dir(names, texts, 2);
    struct ka_buf diag;
    ka_buf_init(&diag, 64 * 1024);
    struct ka_policy *p = NULL;
    CU_ASSERT_EQUAL(ka_policy_load_path(dir, NULL, &p, &diag), KA_EPOLICY);
    expect_in(diag.data, "b.yaml:7:11: rule \"probes-required\" is not in base \"t\"");
    remove_dir(dir);
    ka_buf_free(&diag);
    /* a base that is not loaded, and two complete policies in one directory */
    expect_diag(OVERLAY("tune", "prod") "  rules: []\n",
                "p.yaml:5:9: spec.base \"prod\" is not a policy applied before this one");
    static const char *const two[] = {HEAD "  rules: []\n", HEAD "  rules: []\n"};
    dir = write_dir(names, two, 2);
    ka_buf_init(&diag, 64 * 1024);
    CU_ASSERT_EQUAL(ka_policy_load_path(dir, NULL, &p, &diag), KA_EPOLICY);
    expect_in(diag.data, "b.yaml:1:1: a second complete policy");
    remove_dir(dir);
    ka_buf_free(&diag);
}

static void test_two_overlays_one_field(void)
{
    static const char *const names[] = {"10-a.yaml", "20-b.yaml"};
    static const char *const texts[] = {
        OVERLAY("a", "checklist") "  rules:\n    - id: image-pinned\n      action: warn\n"
                                  "      params: {requireDigest: true}\n",
        OVERLAY("b", "a") "  rules:\n    - id: image-pinned\n      action: audit\n"};
    const char *dir = write_dir(names, texts, 2);
    struct ka_buf diag;
    ka_buf_init(&diag, 64 * 1024);
    struct ka_policy *p = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_policy_load_path(dir, NULL, &p, &diag), 0);
    const struct ka_rule *r = rule_of(p, "image-pinned");
    CU_ASSERT_EQUAL(r->action, KA_ACTION_AUDIT); /* the later file wins */
    CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->params, "requireDigest")));
    CU_ASSERT_EQUAL(ka_policy_warnings(p), 1 + 1); /* + the attestation rule without keys */
    char want[256];
    snprintf(want, sizeof(want),
             "%s/20-b.yaml:8:15: warning: rule \"image-pinned\": \"action\" is also set by the "
             "overlay at %s/10-a.yaml:8; this file is applied later and wins",
             dir, dir);
    expect_in(diag.data, want);
    ka_policy_unref(p);
    remove_dir(dir);
    ka_buf_free(&diag);
}

static void test_lint_warns_rules_silently_off(void)
{
    /* a complete policy listing two rules: the other nine checklist rules are off */
    static const char *const names[] = {"tuning.yaml"};
    static const char *const texts[] = {HEAD "  rules:\n    - id: image-pinned\n"
                                             "    - id: probes-required\n      action: off\n"};
    const char *dir = write_dir(names, texts, 1);
    struct ka_buf diag;
    ka_buf_init(&diag, 64 * 1024);
    size_t warnings = 0;
    CU_ASSERT_EQUAL(ka_policy_lint_path(dir, &diag, &warnings), 0);
    struct ka_policy *checklist = NULL;
    size_t n_checklist = 0;
    CU_ASSERT_EQUAL_FATAL(ka_policy_load_default(NULL, &checklist, NULL), 0);
    ka_policy_rules(checklist, &n_checklist);
    ka_policy_unref(checklist);
    CU_ASSERT_EQUAL(warnings, n_checklist - 2);
    expect_in(diag.data, "tuning.yaml:6:5: warning: checklist rule \"resources-required\" is not "
                         "in policy \"t\", so it is off");
    /* explicitly off: no warning */
    CU_ASSERT(strstr(diag.data, "\"probes-required\" is not in policy") == NULL);
    CU_ASSERT(strstr(diag.data, "\"image-pinned\" is not in policy") == NULL);
    remove_dir(dir);

    /* an overlay turning a rule off says so; the only warning left is the attestation rule,
     * enforced without trusted keys: it denies every object */
    static const char *const otexts[] = {OVERLAY("tune", "checklist") "  rules:\n"
                                                                      "    - id: image-pinned\n"
                                                                      "      action: off\n"};
    dir = write_dir(names, otexts, 1);
    ka_buf_reset(&diag);
    CU_ASSERT_EQUAL(ka_policy_lint_path(dir, &diag, &warnings), 0);
    CU_ASSERT_EQUAL(warnings, 1);
    /* at the line of the rule's action in the embedded checklist */
    const char *text = ka_policy_default_text(NULL);
    const char *at = strstr(text, "- id: image-scan-attestation\n      action: enforce");
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    unsigned line = 2;
    for (const char *c = text; c < at; c++) {
        line += *c == '\n';
    }
    char want[160];
    snprintf(want, sizeof(want),
             "(embedded)policies/checklist.yaml:%u:1: warning: rule \"image-scan-attestation\" "
             "is enforced but denies every object",
             line);
    expect_in(diag.data, want);
    remove_dir(dir);
    ka_buf_free(&diag);
}

static void test_policy_show_origins(void)
{
    static const char *const names[] = {"checklist.yaml", "50-tune.yaml"};
    static const char *const texts[] = {
        HEAD "  exclude: {namespaces: [kube-system]}\n  rules:\n    - id: image-pinned\n"
             "      match: {namespaces: [prod-*]}\n",
        OVERLAY("tune",
                "t") "  rules:\n    - id: image-pinned\n      params: {requireDigest: true}\n"};
    const char *dir = write_dir(names, texts, 2);
    struct ka_policy *p = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_policy_load_path(dir, NULL, &p, NULL), 0);
    cJSON *eff = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_policy_effective(p, &eff), 0);
    char want[128];
    snprintf(want, sizeof(want), "%s/checklist.yaml:8", dir);
    CU_ASSERT_STRING_EQUAL(origin_of(eff, "image-pinned", "match"), want);
    CU_ASSERT_STRING_EQUAL(origin_of(eff, "image-pinned", "action"), "(default)");
    const cJSON *rules =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(eff, "spec"), "rules");
    /* every catalogue rule is listed; those the policy lacks are off */
    size_t n_defs = 0;
    while (ka_rule_defs[n_defs] != NULL) {
        n_defs++;
    }
    CU_ASSERT_EQUAL(cJSON_GetArraySize(rules), (int)n_defs);
    CU_ASSERT_STRING_EQUAL(origin_of(eff, "probes-required", "action"), "(not in this policy)");
    const cJSON *origins = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(eff, "status"), "origins");
    snprintf(want, sizeof(want), "%s/checklist.yaml:5", dir);
    CU_ASSERT_STRING_EQUAL(
        cJSON_GetObjectItemCaseSensitive(origins, "exclude.namespaces")->valuestring, want);
    const cJSON *po = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(origins, "rules"), 0), "params");
    snprintf(want, sizeof(want), "%s/50-tune.yaml:8", dir);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(po, "requireDigest")->valuestring,
                           want);
    /* the effective policy is itself a complete policy that loads to the same rules */
    char *text = cJSON_Print(eff);
    struct ka_policy *again = NULL;
    struct ka_buf diag;
    ka_buf_init(&diag, 64 * 1024);
    CU_ASSERT_EQUAL(ka_policy_load_buffer("eff.json", text, strlen(text), NULL, &again, &diag), 0);
    if (again != NULL) {
        const struct ka_rule *r = rule_of(again, "image-pinned");
        CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->params, "requireDigest")));
        CU_ASSERT_EQUAL(rule_of(again, "probes-required")->action, KA_ACTION_OFF);
    }
    ka_policy_unref(again);
    cJSON_free(text);
    cJSON_Delete(eff);
    ka_policy_unref(p);
    remove_dir(dir);
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
    struct ka_policy *p = NULL;
    size_t want = 1;
    for (size_t d = 0; ka_rule_defs[d] != NULL; d++) {
        want += strcmp(ka_rule_defs[d]->id, "image-pinned") != 0 &&
                ka_rule_defs[d]->default_action != KA_ACTION_OFF;
    }
    p = load_ok(with);
    size_t n = 0;
    const struct ka_rule *rules = ka_policy_rules(p, &n);
    CU_ASSERT_EQUAL(n, want);
    CU_ASSERT_EQUAL(rules[0].action, KA_ACTION_AUDIT); /* a named rule keeps its action */
    for (size_t i = 1; i < n; i++) {
        CU_ASSERT_EQUAL(rules[i].action, rules[i].def->default_action);
        CU_ASSERT_PTR_NOT_NULL(rules[i].params);
    }
    ka_policy_unref(p);
    p = load_ok(without);
    ka_policy_rules(p, &n);
    CU_ASSERT_EQUAL(n, 1);
    ka_policy_unref(p);
    expect_diag(HEAD "  otherRules: all\n", "p.yaml:5:15: spec.otherRules must be default or off");
}

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
    {"holder_swaps", test_holder_swaps},
    {"rule_overrides", test_rule_overrides},
    {"overlay_over_embedded_checklist", test_overlay_over_embedded_checklist},
    {"overlay_over_named_policy", test_overlay_over_named_policy},
    {"overlay_params_merge", test_overlay_params_merge},
    {"overlay_exceptions_append_and_replace", test_overlay_exceptions_append_and_replace},
    {"overlay_unknown_rule", test_overlay_unknown_rule},
    {"two_overlays_one_field", test_two_overlays_one_field},
    {"lint_warns_rules_silently_off", test_lint_warns_rules_silently_off},
    {"policy_show_origins", test_policy_show_origins},
    {"other_rules", test_other_rules},
    {NULL, NULL},
};

KA_TEST_MAIN("policy", tests)
