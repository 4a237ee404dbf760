/* JSON pointers (RFC 6901), patches (RFC 6902) and base64. */
#include <CUnit/Basic.h>
#include <string.h>

#include "ka_test.h"
#include "kadmit/error.h"
#include "kadmit/patch.h"

static void test_pointer_escaping(void)
{
    struct ka_buf p;
    ka_buf_init(&p, 256);
    CU_ASSERT_EQUAL(ka_pointer_append(&p, "metadata"), 0);
    CU_ASSERT_EQUAL(ka_pointer_append(&p, "annotations"), 0);
    CU_ASSERT_EQUAL(ka_pointer_append(&p, "prometheus.io/scrape"), 0);
    CU_ASSERT_EQUAL(ka_pointer_append(&p, "a~b/c"), 0);
    CU_ASSERT_EQUAL(ka_pointer_append_index(&p, 3), 0);
    CU_ASSERT_STRING_EQUAL(p.data, "/metadata/annotations/prometheus.io~1scrape/a~0b~1c/3");
    ka_buf_free(&p);
}

static void test_patch_render_and_limit(void)
{
    struct ka_patch patch;
    ka_patch_init(&patch, 2);
    cJSON *v = cJSON_CreateString("x\"y");
    CU_ASSERT_EQUAL(ka_patch_add(&patch, "/a~1b", v), 0);
    CU_ASSERT_EQUAL(ka_patch_add(&patch, "/c/-", v), 0);
    CU_ASSERT_EQUAL(ka_patch_add(&patch, "/d", v), KA_ELIMIT);
    struct ka_buf out;
    ka_buf_init(&out, 4096);
    CU_ASSERT_EQUAL(ka_patch_render(&patch, &out), 0);
    CU_ASSERT_STRING_EQUAL(out.data, "[{\"op\":\"add\",\"path\":\"/a~1b\",\"value\":\"x\\\"y\"},"
                                     "{\"op\":\"add\",\"path\":\"/c/-\",\"value\":\"x\\\"y\"}]");
    cJSON *parsed = cJSON_Parse(out.data);
    CU_ASSERT_PTR_NOT_NULL(parsed);
    cJSON_Delete(parsed);
    cJSON_Delete(v);
    ka_buf_free(&out);
    ka_patch_free(&patch);
}

static void test_base64(void)
{
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""},
             {"f", "Zg=="},
             {"fo", "Zm8="},
             {"foo", "Zm9v"},
             {"foob", "Zm9vYg=="},
             {"fooba", "Zm9vYmE="},
             {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct ka_buf out;
        ka_buf_init(&out, 64);
        CU_ASSERT_EQUAL(ka_base64_append(&out, v[i].in, strlen(v[i].in)), 0);
        CU_ASSERT_STRING_EQUAL(out.data ? out.data : "", v[i].out);
        ka_buf_free(&out);
    }
    unsigned char bin[3] = {0xFB, 0xFF, 0x00};
    struct ka_buf out;
    ka_buf_init(&out, 64);
    CU_ASSERT_EQUAL(ka_base64_append(&out, bin, 3), 0);
    CU_ASSERT_STRING_EQUAL(out.data, "+/8A");
    ka_buf_free(&out);
}

static const struct ka_test tests[] = {
    {"pointer_escaping", test_pointer_escaping},
    {"patch_render_and_limit", test_patch_render_and_limit},
    {"base64", test_base64},
    {NULL, NULL},
};

KA_TEST_MAIN("patch", tests)
