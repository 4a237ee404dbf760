/* YAML -> cJSON with positions and Kubernetes-style scalar typing. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "ka_test.h"
#include "kadmit/error.h"
#include "kadmit/yaml.h"

static void test_types_and_positions(void)
{
    const char *text = "---\na: 1\nb: \"1\"\nc: true\nd: ~\ne: 0755\nf: 1.5e3\ng: [x, 'y']\n"
                       "---\n---\nkind: Second\n";
    struct ka_yaml_stream s;
    ka_yaml_stream_init(&s);
    CU_ASSERT_EQUAL_FATAL(ka_yaml_parse(&s, "t.yaml", text, strlen(text), 0, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(s.n_docs, 2); /* the empty document is skipped */
    cJSON *d = s.docs[0];
    CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(d, "a")));
    CU_ASSERT(cJSON_IsString(cJSON_GetObjectItem(d, "b")));
    CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(d, "c")));
    CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(d, "d")));
    CU_ASSERT(cJSON_IsString(cJSON_GetObjectItem(d, "e")));
    CU_ASSERT_DOUBLE_EQUAL(cJSON_GetObjectItem(d, "f")->valuedouble, 1500.0, 0.001);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(d, "g")), 2);
    unsigned line, col;
    ka_yaml_position(&s, cJSON_GetObjectItem(d, "c"), &line, &col);
    CU_ASSERT_EQUAL(line, 4);
    CU_ASSERT_EQUAL(col, 4);
    CU_ASSERT_EQUAL(s.doc_lines[1], 11);
    ka_yaml_stream_free(&s);
}

static void test_errors(void)
{
    static const struct {
        const char *text;
        int code;
        const char *msg;
    } cases[] = {
        {"a: [1, 2\n", KA_EPARSE, "t.yaml:2:1:"},
        {"a: *nope\n", KA_EPARSE, "t.yaml:1:4: unknown anchor \"nope\""},
        {"a: &x [1, *x]\n", KA_EPARSE, "unknown anchor \"x\""}, /* contains itself */
        {"a: {x: 1}\nb: {<<: [1]}\n", KA_EPARSE, "merge key"},
        {"a: 1\na: 2\n", KA_EPARSE, "t.yaml:2:4: duplicate key \"a\""},
        {"? [1]\n: 2\n", KA_EPARSE, "mapping keys must be strings"},
        {"[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]", KA_EDEPTH,
         "t.yaml:1:17: nested deeper than 16 levels"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ka_yaml_stream s;
        struct ka_buf diag;
        ka_yaml_stream_init(&s);
        ka_buf_init(&diag, 4096);
        CU_ASSERT_EQUAL(
            ka_yaml_parse(&s, "t.yaml", cases[i].text, strlen(cases[i].text), 16, &diag),
            cases[i].code);
        CU_ASSERT_PTR_NOT_NULL(diag.data);
        if (diag.data != NULL && strstr(diag.data, cases[i].msg) == NULL) {
            fprintf(stderr, "\nwant %s, got %s\n", cases[i].msg, diag.data);
            CU_FAIL("diagnostic");
        }
        ka_buf_free(&diag);
        ka_yaml_stream_free(&s);
    }
}

/* Anchors, aliases and merge keys as go-yaml reads them. */
static void test_anchors_and_merge_keys(void)
{
    const char *text = "base: &base {image: app, port: 80}\n"
                       "extra: &extra {port: 81, debug: true}\n"
                       "one:\n  <<: *base\n  port: 8080\n" /* own key wins */
                       "two:\n  <<: [*extra, *base]\n"     /* earlier wins */
                       "list: &l [a, b]\ncopy: *l\n"
                       "scalar: &s hello\nagain: *s\n";
    struct ka_yaml_stream s;
    ka_yaml_stream_init(&s);
    CU_ASSERT_EQUAL_FATAL(ka_yaml_parse(&s, "t.yaml", text, strlen(text), 0, NULL), 0);
    cJSON *d = s.docs[0];
    char *got = cJSON_PrintUnformatted(d);
    CU_ASSERT_STRING_EQUAL(got, "{\"base\":{\"image\":\"app\",\"port\":80},"
                                "\"extra\":{\"port\":81,\"debug\":true},"
                                "\"one\":{\"port\":8080,\"image\":\"app\"},"
                                "\"two\":{\"port\":81,\"debug\":true,\"image\":\"app\"},"
                                "\"list\":[\"a\",\"b\"],\"copy\":[\"a\",\"b\"],"
                                "\"scalar\":\"hello\",\"again\":\"hello\"}");
    free(got);
    ka_yaml_stream_free(&s);
    /* anchors are local to their document */
    const char *two = "a: &x 1\n---\nb: *x\n";
    ka_yaml_stream_init(&s);
    CU_ASSERT_EQUAL(ka_yaml_parse(&s, "t.yaml", two, strlen(two), 0, NULL), KA_EPARSE);
    ka_yaml_stream_free(&s);
}

/* "Billion laughs": nine levels of ten aliases would be 10^9 nodes; the expansion bound stops it
 * after KA_MAX_YAML_NODES copies, without allocating them. */
static void test_alias_bomb(void)
{
    char text[1024];
    size_t n = (size_t)snprintf(text, sizeof(text), "a: &a [lol]\n");
    for (char c = 'b'; c <= 'j'; c++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c, c - 1,
                              c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
    }
    struct ka_yaml_stream s;
    struct ka_buf diag;
    ka_yaml_stream_init(&s);
    ka_buf_init(&diag, 4096);
    CU_ASSERT_EQUAL(ka_yaml_parse(&s, "bomb.yaml", text, n, 0, &diag), KA_ELIMIT);
    CU_ASSERT_PTR_NOT_NULL_FATAL(diag.data);
    KA_ASSERT_HAS(diag.data, "aliases expand to too many nodes");
    ka_buf_free(&diag);
    ka_yaml_stream_free(&s);
}

static const struct ka_test tests[] = {
    {"types_and_positions", test_types_and_positions},
    {"errors", test_errors},
    {"anchors_and_merge_keys", test_anchors_and_merge_keys},
    {"alias_bomb", test_alias_bomb},
    {NULL, NULL},
};

KA_TEST_MAIN("yaml", tests)
