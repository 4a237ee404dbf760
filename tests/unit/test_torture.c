/*
 * Allocation-failure ("torture") test, after curl's torture tests.
 *
 * malloc/calloc/realloc/free are interposed for this binary (they forward to glibc's
 * __libc_* functions, or to ASan's interceptors in the sanitizer build) and cJSON's hooks point
 * at them too. For N = 1..total, the Nth allocation of one review is made to fail. Each run must
 * end without a crash and without a leak (a live-block count here; LeakSanitizer in the ASan
 * build), and its answer must be one of:
 *   - an error code (the server answers 500 / 400; the API server then applies failurePolicy),
 *   - a well-formed deny with a reason (fail closed),
 *   - exactly the answer of the run without failures.
 * An allow that differs from the real answer (e.g. a mutation with a missing part, or an allow
 * where the real answer is a deny) fails the test. The same is done for loading the embedded
 * policy: a policy that loads despite a failed allocation must judge like the real one.
 */
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ka_test.h"
#include "kadmit/admission.h"
#include "kadmit/audit.h"
#include "kadmit/error.h"
#include "kadmit/json.h"
#include "kadmit/policy.h"
#include "kadmit/relations.h"

/* ---- allocation interposition --------------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define KA_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KA_UNDER_ASAN 1
#endif
#endif

/* Under ASan, strdup() and friends allocate inside ASan without calling malloc(), so the live
 * count would be wrong: LeakSanitizer checks for leaks at exit instead. */
#ifdef KA_UNDER_ASAN
#define REAL(fn) __interceptor_##fn
#define KA_COUNT_LIVE 0
#else
#define REAL(fn) __libc_##fn
#define KA_COUNT_LIVE 1
#endif
/* The wrappers run before ASan has mapped its shadow memory (the dynamic loader allocates while
 * ASan initialises), so they must not be instrumented themselves. */
#define KA_NO_ASAN __attribute__((no_sanitize_address))

extern void *REAL(malloc)(size_t n);
extern void *REAL(calloc)(size_t n, size_t size);
extern void *REAL(realloc)(void *p, size_t n);
extern void REAL(free)(void *p);

static struct {
    int failing;   /* count allocation calls and fail the fail_at-th */
    int tracking;  /* count live blocks */
    long calls;    /* allocation calls while failing */
    long fail_at;  /* 0: never */
    long injected; /* failures injected */
    long live;     /* blocks allocated minus blocks freed while tracking */
    long trace_at; /* KA_TORTURE_TRACE=N: print the stack of the Nth allocation when it fails */
} t;

/* From here on, count allocations and live blocks, and fail the fail_at-th (0: none). */
static void fail_allocation(long fail_at)
{
    t.calls = 0;
    t.fail_at = fail_at;
    t.injected = 0;
    t.live = 0;
    t.tracking = 1;
    t.failing = 1;
}

KA_NO_ASAN static int should_fail(void)
{
    if (!t.failing) {
        return 0;
    }
    t.calls++;
    if (t.calls == t.fail_at) {
        t.injected++;
        if (t.fail_at == t.trace_at) {
            void *frames[32];
            t.failing = 0; /* backtrace() may allocate */
            int n = backtrace(frames, 32);
            backtrace_symbols_fd(frames, n, STDERR_FILENO);
            t.failing = 1;
        }
        return 1;
    }
    return 0;
}

KA_NO_ASAN void *malloc(size_t n)
{
    if (should_fail()) {
        return NULL;
    }
    void *p = REAL(malloc)(n);
    if (p != NULL && t.tracking) {
        t.live++;
    }
    return p;
}

KA_NO_ASAN void *calloc(size_t n, size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    void *p = REAL(calloc)(n, size);
    if (p != NULL && t.tracking) {
        t.live++;
    }
    return p;
}

KA_NO_ASAN void *realloc(void *p, size_t n)
{
    if (should_fail()) {
        return NULL;
    }
    void *q = REAL(realloc)(p, n);
    if (q != NULL && p == NULL && t.tracking) {
        t.live++;
    }
    return q;
}

KA_NO_ASAN void free(void *p)
{
    if (p != NULL && t.tracking) {
        t.live--;
    }
    REAL(free)(p);
}

static int arena_on; /* the per-review cJSON arena is enabled */

/* ---- requests ------------------------------------------------------------------------- */

/* The requests are tests/fixtures/torture/<file>.json, read by main() before any run. */
static struct torture_case {
    const char *name;
    enum ka_endpoint ep;
    const char *file;
    int want_allowed; /* the real answer, checked on the reference run */
    char *body;
} cases[] = {
    /* A 2-container agent pod that passes the checklist. */
    {"validate 2-container agent pod (allow)", KA_ENDPOINT_VALIDATE, "validate-good", 1, NULL},
    /* The same pod with missing probes, a latest tag, a literal API key, missing limits and a
     * short grace period: six findings. */
    {"validate 2-container agent pod (deny)", KA_ENDPOINT_VALIDATE, "validate-bad", 0, NULL},
    /* An agent pod with a helper container, no probes, no sidecar: 8 patch operations. */
    {"mutate 2-container agent pod (patch)", KA_ENDPOINT_MUTATE, "mutate-pod", 1, NULL},
    /* UPDATE of a StatefulSet that adds a literal secret: older findings ratcheted to warnings. */
    {"validate StatefulSet UPDATE (ratchet)", KA_ENDPOINT_VALIDATE, "validate-update", 0, NULL},
};

/* ---- checks --------------------------------------------------------------------------- */

static struct ka_policy *policy;

/* 1 when `out` is a deny with a non-empty status.message, 0 when allowed, -1 when malformed. */
static int response_denies(const struct ka_buf *out)
{
    cJSON *root = cJSON_ParseWithLength(out->data ? out->data : "", out->len);
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(root, "response");
    const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(resp, "allowed");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(resp, "status");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(status, "message");
    int ret = -1;
    if (cJSON_IsTrue(allowed)) {
        ret = 0;
    } else if (cJSON_IsFalse(allowed) && cJSON_IsString(msg) && msg->valuestring[0] != '\0') {
        ret = 1;
    }
    cJSON_Delete(root);
    return ret;
}

struct outcome {
    int ret;
    int verdict; /* response_denies() when ret == 0 */
    int summary_allowed;
    char *response; /* when ret == 0 (REAL-allocated, not tracked) */
};

/* One review with the fail_at-th allocation failing (0: none). Returns live blocks left. */
static long review_once(const struct ka_policy *pol, const struct torture_case *tc, long fail_at,
                        int own_summary, struct outcome *o)
{
    struct ka_review_summary summary;
    struct ka_buf out;
    struct ka_review_opts opts = {.now = 1795000000};
    memset(o, 0, sizeof(*o));
    ka_buf_init(&out, 16u * 1024u * 1024u);
    long saved_live = t.live;
    int saved_tracking = t.tracking;
    fail_allocation(fail_at);
    o->ret = ka_admission_review(pol, tc->ep, tc->body, strlen(tc->body), &opts, &out,
                                 own_summary ? NULL : &summary);
    t.failing = 0;
    if (o->ret == 0) {
        o->verdict = response_denies(&out);
        o->summary_allowed = own_summary ? -1 : summary.allowed;
        o->response = REAL(malloc)(out.len + 1);
        if (o->response != NULL) {
            memcpy(o->response, out.data, out.len + 1);
        }
    }
    ka_buf_free(&out);
    long leaked = KA_COUNT_LIVE ? t.live : 0;
    t.live = saved_live;
    t.tracking = saved_tracking;
    return leaked;
}

static void torture_review(const struct torture_case *tc, int own_summary)
{
    struct outcome ref;
    long leaked = review_once(policy, tc, 0, own_summary, &ref);
    long total = t.calls;
    CU_ASSERT_EQUAL_FATAL(ref.ret, 0);
    CU_ASSERT_EQUAL(leaked, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref.response);
    CU_ASSERT_EQUAL(ref.verdict, tc->want_allowed ? 0 : 1);
    /* the interposition works: a review allocates, some of it through cJSON's hooks */
    CU_ASSERT(total >= (arena_on ? 2 : 20)); /* with the arena: a chunk and the response */

    long n_error = 0, n_deny = 0, n_same = 0, n_bad = 0, n_leak = 0;
    for (long n = 1; n <= total; n++) {
        struct outcome o;
        leaked = review_once(policy, tc, n, own_summary, &o);
        if (t.injected != 1) {
            fprintf(stderr, "  %s: allocation %ld of %ld was never reached\n", tc->name, n, total);
            n_bad++;
        }
        if (leaked != 0) {
            fprintf(stderr, "  %s: failing allocation %ld leaks %ld blocks\n", tc->name, n, leaked);
            n_leak++;
        }
        if (o.ret != 0) {
            n_error++; /* KA_ENOMEM etc.: the server answers 500, KA_EREVIEW: 400 */
        } else if (o.verdict == 1) {
            n_deny++;
        } else if (o.verdict == 0 && strcmp(o.response, ref.response) == 0 &&
                   (own_summary || o.summary_allowed == 1)) {
            n_same++;
        } else {
            fprintf(stderr, "  %s: failing allocation %ld of %ld gives %s:\n    %s\n", tc->name, n,
                    total, o.verdict == 0 ? "an allow unlike the real answer" : "bad JSON",
                    o.response ? o.response : "(null)");
            n_bad++;
        }
        REAL(free)(o.response);
    }
    REAL(free)(ref.response);
    printf("\n  %s: %ld allocations (%s summary): %ld errors, %ld denies, %ld same answer, "
           "%ld wrong, %ld leaking\n",
           tc->name, total, own_summary ? "owned" : "caller", n_error, n_deny, n_same, n_bad,
           n_leak);
    CU_ASSERT_EQUAL(n_bad, 0);
    CU_ASSERT_EQUAL(n_leak, 0);
}

static void test_all_with_arena(void)
{
    ka_json_arena_set_enabled(1);
    arena_on = 1;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        torture_review(&cases[i], 0);
    }
    arena_on = 0;
    ka_json_arena_set_enabled(0);
}

static void test_validate_allow(void)
{
    torture_review(&cases[0], 0);
}

static void test_validate_deny(void)
{
    torture_review(&cases[1], 0);
    torture_review(&cases[1], 1);
}

static void test_mutate(void)
{
    torture_review(&cases[2], 0);
}

static void test_validate_update(void)
{
    torture_review(&cases[3], 0);
}

static int load_embedded(struct ka_policy **out)
{
    return ka_policy_load_default(NULL, out, NULL);
}

/* An overlay on the checklist: replaced fields, params merged key by key, exceptions appended
 * and replaced, a block removed. */
static int load_overlay(struct ka_policy **out)
{
    static const char text[] =
        "apiVersion: kadmit.dev/v1alpha1\nkind: Policy\nmetadata: {name: tune}\nspec:\n"
        "  base: checklist\n  exclude: {namespaces: [kube-system]}\n  rules:\n"
        "    - id: image-pinned\n      action: warn\n      params: {requireDigest: true}\n"
        "    - id: termination-grace-period\n      match: null\n"
        "    - id: inject-metrics-sidecar\n      params: {requests: {cpu: 10m}}\n"
        "    - id: resources-required\n      exceptions:\n"
        "        - {name: legacy, names: [old-*], reason: OPS-1}\n"
        "    - id: probes-required\n      exceptions:\n        replace:\n"
        "          - {name: sidecar, containers: [metrics-sidecar], reason: no health endpoint}\n";
    return ka_policy_load_buffer("tune.yaml", text, sizeof(text) - 1, NULL, out, NULL);
}

/* Loading a policy with the Nth allocation failing: an error, or a policy that judges every
 * case like the one loaded without failures (never a policy with a rule silently missing). */
static void policy_load_torture(const char *what, int (*load)(struct ka_policy **))
{
    struct ka_policy *p = NULL;
    t.calls = 0;
    t.fail_at = 0;
    t.failing = 1;
    int ret = load(&p);
    t.failing = 0;
    long total = t.calls;
    CU_ASSERT_EQUAL_FATAL(ret, 0);
    ka_policy_unref(p);
    CU_ASSERT(total >= 100);

    /* The reference answers come from the policy loaded without failures. */
    struct ka_policy *embedded = NULL;
    CU_ASSERT_EQUAL_FATAL(load(&embedded), 0);
    struct outcome ref[4];
    for (size_t c = 0; c < 4; c++) {
        review_once(embedded, &cases[c], 0, 0, &ref[c]);
    }
    ka_policy_unref(embedded);
    long n_error = 0, n_ok = 0, n_bad = 0, n_leak = 0;
    for (long n = 1; n <= total; n++) {
        p = NULL;
        fail_allocation(n);
        ret = load(&p);
        t.failing = 0;
        if (ret != 0) {
            n_error++;
            CU_ASSERT_PTR_NULL(p);
        } else {
            int same = 1;
            for (size_t c = 0; c < 4; c++) {
                struct outcome o;
                review_once(p, &cases[c], 0, 0, &o);
                same &= o.ret == 0 && strcmp(o.response, ref[c].response) == 0;
                REAL(free)(o.response);
            }
            if (!same) {
                fprintf(stderr,
                        "  %s: failing allocation %ld of %ld loads a policy "
                        "that judges differently\n",
                        what, n, total);
                n_bad++;
            } else {
                n_ok++;
            }
            ka_policy_unref(p);
        }
        t.tracking = 0;
        if (KA_COUNT_LIVE && t.live != 0) {
            fprintf(stderr, "  %s: failing allocation %ld leaks %ld blocks\n", what, n, t.live);
            n_leak++;
        }
    }
    for (size_t c = 0; c < 4; c++) {
        REAL(free)(ref[c].response);
    }
    printf("\n  %s: %ld allocations: %ld errors, %ld same policy, %ld wrong, "
           "%ld leaking\n",
           what, total, n_error, n_ok, n_bad, n_leak);
    CU_ASSERT_EQUAL(n_bad, 0);
    CU_ASSERT_EQUAL(n_leak, 0);
}

static void test_policy_load(void)
{
    policy_load_torture("policy load", load_embedded);
}

static void test_overlay_load(void)
{
    policy_load_torture("overlay load", load_overlay);
}

/* ---- relations: the index and the relation rules ------------------------------------- */

/* A namespace with an agent and a Memory Spine, a PDB for the agent only, policies, quota and a
 * StorageClass: every relation runs, pdb-coverage fails for the spine, hpa-coverage is not
 * evaluated. */
static const char *const relation_objects[] = {
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"agent\"},"
    "\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"app\":\"agent\"}}}}}",
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"memory-spine\"},"
    "\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"app\":\"memory-spine\"}}},"
    "\"volumeClaimTemplates\":[{\"spec\":{\"storageClassName\":\"fast-ssd\"}}]}}",
    "{\"kind\":\"PodDisruptionBudget\",\"metadata\":{\"name\":\"agent\"},\"spec\":{"
    "\"selector\":{\"matchLabels\":{\"app\":\"agent\"}}}}",
    "{\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"all\"},\"spec\":{\"podSelector\":{},"
    "\"policyTypes\":[\"Ingress\",\"Egress\"],\"ingress\":[{\"from\":[{\"podSelector\":{"
    "\"matchLabels\":{\"app\":\"agent\"}}}]}],\"egress\":[{}]}}",
    "{\"kind\":\"ResourceQuota\",\"metadata\":{\"name\":\"q\"}}",
    "{\"kind\":\"LimitRange\",\"metadata\":{\"name\":\"l\"}}",
    "{\"kind\":\"StorageClass\",\"metadata\":{\"name\":\"fast-ssd\"}}",
};

/* Appends "rule kind/name findings|-" per result to the caller's text (REAL-allocated). */
static int relation_text(void *ctx, const struct ka_relation_result *r)
{
    char *text = ctx;
    size_t n = strlen(text);
    snprintf(text + n, 4096 - n, "%s %s/%s %zu%s\n", r->rule, r->kind, r->name, r->n_findings,
             r->not_evaluated ? " not-evaluated" : "");
    return 0;
}

/* Index and judge the objects with the fail_at-th allocation failing; returns the results as
 * text in `text` (4096 bytes) or "" on an error, and the live blocks left. */
static long relations_once(cJSON *const *objs, size_t n_objs, long fail_at, int *ret, char *text)
{
    size_t n_rules = 0;
    const struct ka_rule *rules = ka_policy_rules(policy, &n_rules);
    struct ka_relation_index idx;
    char err[256];
    text[0] = '\0';
    fail_allocation(fail_at);
    ka_relation_index_init(&idx);
    *ret = 0;
    for (size_t i = 0; *ret == 0 && i < n_objs; i++) {
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(objs[i], "kind"));
        const char *ns = strcmp(kind, "StorageClass") == 0 ? "" : "ai";
        *ret = ka_relation_index_add(&idx, rules, n_rules, objs[i], ns, KA_REL_PASSES, err,
                                     sizeof(err));
    }
    if (*ret == 0) {
        *ret = ka_relations_evaluate(&idx, rules, n_rules, relation_text, text);
    }
    ka_relation_index_free(&idx);
    t.failing = 0;
    t.tracking = 0;
    return KA_COUNT_LIVE ? t.live : 0;
}

static void test_relations(void)
{
    size_t n_objs = sizeof(relation_objects) / sizeof(relation_objects[0]);
    cJSON *objs[sizeof(relation_objects) / sizeof(relation_objects[0])];
    for (size_t i = 0; i < n_objs; i++) {
        objs[i] = cJSON_Parse(relation_objects[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(objs[i]);
    }
    char *ref = REAL(malloc)(4096), *got = REAL(malloc)(4096);
    int ret = 0;
    CU_ASSERT_EQUAL(relations_once(objs, n_objs, 0, &ret, ref), 0);
    long total = t.calls;
    CU_ASSERT_EQUAL_FATAL(ret, 0);
    KA_ASSERT_HAS(ref, "pdb-coverage StatefulSet/memory-spine 1\n",
                  "hpa-coverage StatefulSet/agent 0 not-evaluated\n");
    long n_error = 0, n_same = 0, n_bad = 0, n_leak = 0;
    for (long n = 1; n <= total; n++) {
        long leaked = relations_once(objs, n_objs, n, &ret, got);
        n_leak += leaked != 0;
        if (leaked != 0) {
            fprintf(stderr, "  relations: failing allocation %ld leaks %ld blocks\n", n, leaked);
        }
        if (ret == KA_ENOMEM) {
            n_error++;
        } else if (ret == 0 && strcmp(got, ref) == 0) {
            n_same++; /* a failure the index or a rule survives without a change */
        } else {
            fprintf(stderr, "  relations: failing allocation %ld gives %d:\n%s", n, ret, got);
            n_bad++;
        }
    }
    printf("\n  relations: %ld allocations: %ld errors, %ld same results, %ld wrong, %ld leaking\n",
           total, n_error, n_same, n_bad, n_leak);
    CU_ASSERT(total > 50);
    CU_ASSERT_EQUAL(n_bad, 0);
    CU_ASSERT_EQUAL(n_leak, 0);
    REAL(free)(ref);
    REAL(free)(got);
    for (size_t i = 0; i < n_objs; i++) {
        cJSON_Delete(objs[i]);
    }
}

/* ---- audit reports ---------------------------------------------------------------------- */

/* Streamed html, markdown and policyreport of a small audit (two namespaces, a cluster-scoped
 * object, an error) with the fail_at-th allocation failing: the page and the List in `text` (the
 * REAL heap;
 * "" on an error), and the live blocks left. */
static long reports_once(const struct ka_audit *a, long fail_at, int *ret, char **text)
{
    struct ka_audit_html html;
    struct ka_audit_markdown md;
    struct ka_audit_policyreport pr;
    struct ka_buf out;
    fail_allocation(fail_at);
    ka_buf_init(&out, 1u << 24);
    ka_audit_html_init(&html);
    ka_audit_markdown_init(&md);
    ka_audit_policyreport_init(&pr, 2, 0);
    *ret = 0;
    for (size_t i = 0; *ret == 0 && i < a->n_items; i++) {
        *ret = ka_audit_html_item(&html, a, &a->items[i]);
        *ret = *ret ? *ret : ka_audit_markdown_item(&md, a, &a->items[i]);
        *ret = *ret ? *ret : ka_audit_policyreport_item(&pr, a, &a->items[i]);
    }
    *ret = *ret ? *ret : ka_audit_html_end(&html, a, &out, NULL);
    *ret = *ret ? *ret : ka_audit_markdown_end(&md, a, &out, NULL);
    *ret = *ret ? *ret : ka_audit_policyreport_end(&pr, a, &out, NULL);
    t.failing = 0;
    *text = REAL(calloc)(1, out.len + 1);
    if (*ret == 0 && *text != NULL && out.len > 0) {
        memcpy(*text, out.data, out.len);
    }
    ka_audit_html_free(&html);
    ka_audit_markdown_free(&md);
    ka_audit_policyreport_free(&pr);
    ka_buf_free(&out);
    t.tracking = 0;
    return KA_COUNT_LIVE ? t.live : 0;
}

static void test_reports(void)
{
    static const char manifests[] =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
        "spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: "
        "web}}\n    spec:\n      containers:\n      - {name: web, image: \"nginx:latest\"}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: pay}\nspec:\n  "
        "containers:\n  - {name: c, image: \"r.example/c:1\"}\n"
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n"
        "rules: [{apiGroups: [\"\"], resources: [secrets], verbs: [\"*\"]}]\n"
        "---\nkind: Deployment\nmetadata: {name: broken\n";
    struct ka_audit a;
    ka_audit_init(&a, policy);
    a.now = 1795867200;
    CU_ASSERT_EQUAL_FATAL(ka_audit_add_bytes(&a, "m.yaml", manifests, sizeof(manifests) - 1), 0);
    CU_ASSERT_EQUAL_FATAL(ka_audit_finish(&a), 0);
    int ret = 0;
    char *ref = NULL, *got = NULL;
    /* a first run allocates what libc keeps for good (stdio, time zone): not counted */
    reports_once(&a, 0, &ret, &ref);
    REAL(free)(ref);
    CU_ASSERT_EQUAL(reports_once(&a, 0, &ret, &ref), 0);
    long total = t.calls;
    CU_ASSERT_EQUAL_FATAL(ret, 0);
    KA_ASSERT_HAS(ref, "<tr data-rule=\"resources-required\"", "\"kind\":\t\"ClusterPolicyReport\"",
                  "\"name\":\t\"kadmit-checklist-2\"");
    long n_error = 0, n_same = 0, n_bad = 0, n_leak = 0;
    for (long n = 1; n <= total; n++) {
        long leaked = reports_once(&a, n, &ret, &got);
        n_leak += leaked != 0;
        if (leaked != 0) {
            fprintf(stderr, "  reports: failing allocation %ld leaks %ld blocks\n", n, leaked);
        }
        if (ret == KA_ENOMEM || ret == KA_EIO) {
            n_error++; /* KA_EIO: no temporary file (fdopen could not allocate) */
        } else if (ret == 0 && got != NULL && strcmp(got, ref) == 0) {
            n_same++;
        } else {
            fprintf(stderr, "  reports: failing allocation %ld gives %d\n", n, ret);
            n_bad++;
        }
        REAL(free)(got);
        got = NULL;
    }
    printf("\n  reports: %ld allocations: %ld errors, %ld same, %ld wrong, %ld leaking\n", total,
           n_error, n_same, n_bad, n_leak);
    CU_ASSERT(total > 50);
    CU_ASSERT_EQUAL(n_bad, 0);
    CU_ASSERT_EQUAL(n_leak, 0);
    REAL(free)(ref);
    ka_audit_free(&a);
}

static const struct ka_test tests[] = {
    {"validate: allowed pod, every allocation failing in turn", test_validate_allow},
    {"validate: denied pod, every allocation failing in turn", test_validate_deny},
    {"mutate: patched pod, every allocation failing in turn", test_mutate},
    {"validate: UPDATE with ratcheting, every allocation failing", test_validate_update},
    {"policy load: every allocation failing in turn", test_policy_load},
    {"overlay load: every allocation failing in turn", test_overlay_load},
    {"every review with the cJSON arena, every allocation failing", test_all_with_arena},
    {"relations: index and rules, every allocation failing in turn", test_relations},
    {"audit reports: html, markdown and policyreport streamed, every allocation failing",
     test_reports},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    /* Without the per-review arena (kadmit/json.h) every cJSON node is its own malloc, so each
     * can be failed in turn. test_arena runs the reviews again with the arena on. */
    ka_json_arena_set_enabled(0);
    const char *trace = getenv("KA_TORTURE_TRACE");
    t.trace_at = trace != NULL ? strtol(trace, NULL, 10) : 0;
    size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < n; i++) {
        char path[128];
        snprintf(path, sizeof(path), "tests/fixtures/torture/%s.json", cases[i].file);
        cases[i].body = ka_test_slurp(path, NULL);
        if (cases[i].body == NULL) {
            fprintf(stderr, "torture: cannot read %s\n", path);
            return 2;
        }
    }
    int rc = ka_test_run_with_policy("torture", tests, argc, argv,
                                     ka_test_load_checklist_without_attestations, &policy);
    for (size_t i = 0; i < n; i++) {
        free(cases[i].body);
    }
    return rc;
}
