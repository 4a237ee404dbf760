/* The fix span engine (one RFC 6902 operation -> one edit of the text) and ka_fix_bytes(). The
 * golden files of tests/fixtures/fix/ are checked by tests/integration/test_fix.sh. */
#include <CUnit/Basic.h>
#include <string.h>

#include "ka_test.h"
#include "kadmit/error.h"
#include "kadmit/fix.h"

/* Apply `op` with `value_json` (NULL: none) at `path` to `text`; expect `want` (NULL: an error
 * `want_ret`). */
static void expect_edit(const char *text, const char *op, const char *path, const char *value_json,
                        const char *want, int want_ret)
{
    struct ka_buf out;
    ka_buf_init(&out, 1u << 20);
    cJSON *value = value_json != NULL ? cJSON_Parse(value_json) : NULL;
    char err[200] = "";
    int ret = ka_fix_apply_op(text, strlen(text), op, path, value, &out, err, sizeof(err));
    CU_ASSERT_EQUAL(ret, want_ret);
    if (want != NULL && ret == 0) {
        CU_ASSERT_STRING_EQUAL(out.data, want);
        if (strcmp(out.data ? out.data : "", want) != 0) {
            fprintf(stderr, "\n--- got:\n%s\n--- want:\n%s\n", out.data ? out.data : "", want);
        }
    }
    if (ret != want_ret) {
        fprintf(stderr, "\n%s %s: ret %d (%s)\n", op, path, ret, err);
    }
    cJSON_Delete(value);
    ka_buf_free(&out);
}

static void test_block_member_keeps_comments_and_crlf(void)
{
    /* a comment indented deeper than the new key belongs to the block above it */
    expect_edit(
        "a: 1 # one\r\nb:\r\n  c: 2   # two\r\n    # about c\r\n\r\n  # about d\r\nd: 3\r\n", "add",
        "/b/e", "{\"f\":[1,\"x y\"]}",
        "a: 1 # one\r\nb:\r\n  c: 2   # two\r\n    # about c\r\n  e:\r\n    f:\r\n"
        "      - 1\r\n      - x y\r\n\r\n  # about d\r\nd: 3\r\n",
        0);
}

static void test_four_space_indent_and_indentless_lists(void)
{
    expect_edit("spec:\n    containers:\n    - name: a\n", "add", "/spec/containers/-",
                "{\"name\":\"b\",\"ports\":[{\"containerPort\":9090}]}",
                "spec:\n    containers:\n    - name: a\n    - name: b\n      ports:\n      - "
                "containerPort: 9090\n",
                0);
    expect_edit("spec:\n  list:\n    -   name: a\n", "add", "/spec/list/-", "{\"name\":\"b\"}",
                "spec:\n  list:\n    -   name: a\n    -   name: b\n", 0);
}

static void test_flow_and_json(void)
{
    expect_edit("m: {a: 1}  # flow\n", "add", "/m/b", "\"x\"", "m: {a: 1, b: x}  # flow\n", 0);
    expect_edit("m: {}\n", "add", "/m/b", "{\"c\":true}", "m: {b: {c: true}}\n", 0);
    expect_edit("l: [1, 2]\n", "add", "/l/-", "3", "l: [1, 2, 3]\n", 0);
    expect_edit("{\n  \"a\": {\n    \"b\": 1\n  }\n}\n", "add", "/a/c", "{\"d\":\"e\"}",
                "{\n  \"a\": {\n    \"b\": 1,\n    \"c\": {\n      \"d\": \"e\"\n    }\n  }\n}\n",
                0);
    expect_edit("{\"a\": [1]}", "add", "/a/-", "\"x\"", "{\"a\": [1, \"x\"]}", 0);
}

static void test_replace_and_remove(void)
{
    expect_edit("spec:\n  grace: 30   # short\n  x: 1\n", "replace", "/spec/grace", "120",
                "spec:\n  grace: 120   # short\n  x: 1\n", 0);
    /* a null value becomes a block below its key, the comment staying on the key's line */
    expect_edit("spec:\n  affinity: ~ # none yet\n  x: 1\n", "add", "/spec/affinity",
                "{\"a\":{\"b\":1}}", "spec:\n  affinity: # none yet\n    a:\n      b: 1\n  x: 1\n",
                0);
    expect_edit("spec:\n  affinity:\n  x: 1\n", "add", "/spec/affinity", "5",
                "spec:\n  affinity: 5\n  x: 1\n", 0);
    expect_edit("spec:\n  keep: 1\n  # about drop\n  drop:\n    deep: [1]\n  last: 2\n", "remove",
                "/spec/drop", NULL, "spec:\n  keep: 1\n  # about drop\n  last: 2\n", 0);
    expect_edit("m: {a: 1, b: 2, c: 3}\n", "remove", "/m/b", NULL, "m: {a: 1, c: 3}\n", 0);
    expect_edit("m: {a: 1, b: 2}\n", "remove", "/m/a", NULL, "m: {b: 2}\n", 0);
}

static void test_scalars_keep_their_type(void)
{
    /* strings that YAML would read as numbers, booleans or null are quoted */
    expect_edit("a: 1\n", "add", "/p", "\"9090\"", "a: 1\np: \"9090\"\n", 0);
    expect_edit("a: 1\n", "add", "/p", "\"true\"", "a: 1\np: \"true\"\n", 0);
    expect_edit("a: 1\n", "add", "/p", "\"on\"", "a: 1\np: \"on\"\n", 0);
    expect_edit("a: 1\n", "add", "/p", "\"1:30\"", "a: 1\np: \"1:30\"\n", 0);
    expect_edit("a: 1\n", "add", "/p", "\"- x\"", "a: 1\np: \"- x\"\n", 0);
    expect_edit("a: 1\n", "add", "/p", "\"100m\"", "a: 1\np: 100m\n", 0);
    expect_edit("a: 1\n", "add", "/prometheus.io~1port", "\"reg/x:1.2\"",
                "a: 1\nprometheus.io/port: reg/x:1.2\n", 0);
    /* a file without a final newline gets one before the new line */
    expect_edit("a: 1", "add", "/b", "2", "a: 1\nb: 2\n", 0);
}

static void test_refusals(void)
{
    expect_edit("a: 1\n", "add", "/x/y", "1", NULL, KA_ENOTFOUND);
    expect_edit("a: 1\n", "replace", "/b", "1", NULL, KA_ENOTFOUND);
    /* the first key of a list item shares its line with the dash */
    expect_edit("l:\n- a: 1\n  b: 2\n", "remove", "/l/0/a", NULL, NULL, KA_EINVAL);
    /* only appending to a list */
    expect_edit("l: [1, 2]\n", "add", "/l/0", "0", NULL, KA_EINVAL);
    expect_edit("a: [unclosed\n", "add", "/b", "1", NULL, KA_EPARSE);
    expect_edit("a: 1\n", "add", "", "1", NULL, KA_EINVAL);
    /* anchors: a copy made by an alias or a merge key has no text; an anchor's own text is
     * shared by its aliases; keys written beside a merge key are edited as usual */
    static const char anchored[] = "a: &x {b: 1}\nc: *x\nd:\n  <<: *x\n  e: 2\n";
    expect_edit(anchored, "replace", "/c/b", "5", NULL, KA_EINVAL);
    expect_edit(anchored, "replace", "/a/b", "5", NULL, KA_EINVAL);
    expect_edit(anchored, "replace", "/d/b", "5", NULL, KA_EINVAL);
    expect_edit(anchored, "add", "/d/f", "3", "a: &x {b: 1}\nc: *x\nd:\n  <<: *x\n  e: 2\n  f: 3\n",
                0);
}

/* The shipped checklist without image-scan-attestation, for the ka_fix_bytes() tests. */
static struct ka_policy *policy;

/* The whole driver: a workload with gaps, fixed, then fixed again. */
static void test_fix_bytes_idempotent(void)
{
    static const char manifest[] = "# keep me\n"
                                   "apiVersion: apps/v1\n"
                                   "kind: Deployment\n"
                                   "metadata: {name: agent, namespace: ai}\n"
                                   "spec:\n"
                                   "  template:\n"
                                   "    metadata:\n"
                                   "      labels: {app: agent}\n"
                                   "    spec:\n"
                                   "      containers:\n"
                                   "        - name: agent\n"
                                   "          image: reg/agent:1.0\n"
                                   "          ports: [{name: http, containerPort: 8080}]\n"
                                   "          resources:\n"
                                   "            requests: {cpu: 1, memory: 1Gi}\n"
                                   "            limits: {cpu: 1, memory: 1Gi}\n"
                                   "---\n"
                                   "apiVersion: v1\n"
                                   "kind: ConfigMap\n"
                                   "metadata: {name: untouched}\n";
    struct ka_fix_result once, twice;
    ka_fix_result_init(&once);
    ka_fix_result_init(&twice);
    CU_ASSERT_EQUAL(ka_fix_bytes(policy, NULL, "m.yaml", manifest, strlen(manifest), &once), 0);
    CU_ASSERT_FALSE(once.parse_error);
    CU_ASSERT(once.n_ops >= 4); /* sidecar, annotations, two probes, grace period */
    CU_ASSERT_EQUAL(once.n_docs_changed, 1);
    CU_ASSERT_EQUAL(once.n_notes, 0);
    KA_ASSERT_HAS(once.text.data, "# keep me\n", "terminationGracePeriodSeconds: 120\n");
    CU_ASSERT_PTR_NOT_NULL(strstr(
        once.text.data, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: untouched}\n"));
    CU_ASSERT_EQUAL(ka_fix_bytes(policy, NULL, "m.yaml", once.text.data, once.text.len, &twice), 0);
    CU_ASSERT_EQUAL(twice.n_ops, 0);
    CU_ASSERT_EQUAL(twice.text.len, once.text.len);
    CU_ASSERT(memcmp(twice.text.data, once.text.data, once.text.len) == 0);
    ka_fix_result_free(&once);
    ka_fix_result_free(&twice);
}

static void test_fix_bytes_bad_input(void)
{
    static const char bad[] = "kind: Pod\nspec: [\n";
    struct ka_fix_result r;
    ka_fix_result_init(&r);
    CU_ASSERT_EQUAL(ka_fix_bytes(policy, NULL, "bad.yaml", bad, strlen(bad), &r), 0);
    CU_ASSERT_TRUE(r.parse_error);
    CU_ASSERT_EQUAL(r.n_notes, 1);
    CU_ASSERT_EQUAL(r.text.len, strlen(bad));
    ka_fix_result_free(&r);
}

/* A List's items are fixed one by one, each as its own text; an alias from one item into
 * another makes fix take the List whole. Both give idempotent, parseable results. */
static void test_list_items(void)
{
#define DEPLOY(name, tmpl)                                                                         \
    "  - apiVersion: apps/v1\n"                                                                    \
    "    kind: Deployment   # item " name "\n"                                                     \
    "    metadata: {name: " name ", namespace: ai}\n"                                              \
    "    spec:\n"                                                                                  \
    "      template: " tmpl
#define TEMPLATE                                                                                   \
    "\n        metadata:\n"                                                                        \
    "          labels: {app: agent}\n"                                                             \
    "        spec:\n"                                                                              \
    "          containers:\n"                                                                      \
    "            - name: agent\n"                                                                  \
    "              image: reg/agent:1.0\n"                                                         \
    "              ports: [{name: http, containerPort: 8080}]\n"                                   \
    "              resources:\n"                                                                   \
    "                requests: {cpu: 1, memory: 1Gi}\n"                                            \
    "                limits: {cpu: 1, memory: 1Gi}\n"
    static const char separate[] =
        "# two\napiVersion: v1\nkind: List\nitems:\n" DEPLOY("one", "" TEMPLATE)
            DEPLOY("two", "" TEMPLATE) "metadata: {}\n";
    static const char aliased[] =
        "apiVersion: v1\nkind: List\nitems:\n" DEPLOY("one", "&tmpl" TEMPLATE)
            DEPLOY("two", "*tmpl\n") "metadata: {}\n";
#undef DEPLOY
#undef TEMPLATE
    const char *cases[] = {separate, aliased};
    for (int i = 0; i < 2; i++) {
        struct ka_fix_result once, twice;
        ka_fix_result_init(&once);
        ka_fix_result_init(&twice);
        CU_ASSERT_EQUAL(ka_fix_bytes(policy, NULL, "l.yaml", cases[i], strlen(cases[i]), &once), 0);
        CU_ASSERT_FALSE(once.parse_error);
        CU_ASSERT(i == 0 ? once.n_ops >= 2 : once.n_ops == 0);
        CU_ASSERT_EQUAL(once.n_docs_changed, i == 0 ? 1 : 0);
        KA_ASSERT_HAS(once.text.data, "kind: Deployment   # item two\n", "\nmetadata: {}\n");
        CU_ASSERT_EQUAL(ka_fix_bytes(policy, NULL, "l.yaml", once.text.data, once.text.len, &twice),
                        0);
        CU_ASSERT_EQUAL(twice.n_ops, 0);
        CU_ASSERT(twice.text.len == once.text.len &&
                  memcmp(twice.text.data, once.text.data, once.text.len) == 0);
        if (i == 0) { /* each item got its own grace period, in the item's indentation */
            const char *g =
                strstr(once.text.data, "\n          terminationGracePeriodSeconds: 120");
            CU_ASSERT_PTR_NOT_NULL(g);
            CU_ASSERT_PTR_NOT_NULL(g ? strstr(g + 1, "terminationGracePeriodSeconds: 120") : NULL);
        } else { /* the template both items share is left (listed as not fixed) */
            CU_ASSERT(once.n_notes >= 1);
            CU_ASSERT_STRING_EQUAL(once.text.data, aliased);
        }
        ka_fix_result_free(&once);
        ka_fix_result_free(&twice);
    }
}

/* A quoted string replaced keeps its quotes (fix --resolve-digests writes image@sha256:...). */
static void test_replace_keeps_quotes(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"image: \"a:1\"   # pinned\n", "image: \"a:1@sha256:x\"   # pinned\n"},
        {"image: 'a:1'\n", "image: 'a:1@sha256:x'\n"},
        {"image: a:1\n", "image: a:1@sha256:x\n"},
        {"{\"image\": \"a:1\"}\n", "{\"image\": \"a:1@sha256:x\"}\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ka_buf out;
        ka_buf_init(&out, 1u << 16);
        char err[200] = "";
        cJSON *v = cJSON_CreateString("a:1@sha256:x");
        CU_ASSERT_EQUAL(ka_fix_apply_op(cases[i].in, strlen(cases[i].in), "replace", "/image", v,
                                        &out, err, sizeof(err)),
                        0);
        CU_ASSERT_STRING_EQUAL(out.data ? out.data : err, cases[i].out);
        cJSON_Delete(v);
        ka_buf_free(&out);
    }
}

static const struct ka_test tests[] = {
    {"list_items", test_list_items},
    {"replace_keeps_quotes", test_replace_keeps_quotes},
    {"block_member_keeps_comments_and_crlf", test_block_member_keeps_comments_and_crlf},
    {"four_space_indent_and_indentless_lists", test_four_space_indent_and_indentless_lists},
    {"flow_and_json", test_flow_and_json},
    {"replace_and_remove", test_replace_and_remove},
    {"scalars_keep_their_type", test_scalars_keep_their_type},
    {"refusals", test_refusals},
    {"fix_bytes_idempotent", test_fix_bytes_idempotent},
    {"fix_bytes_bad_input", test_fix_bytes_bad_input},
    {NULL, NULL},
};

KA_TEST_MAIN_WITH_POLICY("fix", tests, ka_test_load_checklist_without_attestations, &policy)
