/* YAML -> cJSON with positions and Kubernetes-style scalar typing. */
#include <CUnit/Basic.h>
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
        {"a: &x 1\nb: *x\n", KA_EPARSE, "anchors and aliases"},
        {"a: 1\na: 2\n", KA_EPARSE, "t.yaml:2:4: duplicate key \"a\""},
        {"? [1]\n: 2\n", KA_EPARSE, "mapping keys must be strings"},
        {"[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]", KA_EDEPTH, "nesting too deep"},
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

int main(int argc, char **argv)
{
    static const struct ka_test tests[] = {
        {"types_and_positions", test_types_and_positions},
        {"errors", test_errors},
        {NULL, NULL},
    };
    return ka_test_run("yaml", tests, argc, argv);
}
