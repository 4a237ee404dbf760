#include <CUnit/Basic.h>
#include <stdint.h>
#include <string.h>

#include "kadmit/buf.h"
#include "kadmit/error.h"
#include "ka_test.h"

static void test_ceiling(void)
{
    struct ka_buf b;
    ka_buf_init(&b, 8);
    CU_ASSERT_EQUAL(ka_buf_adds(&b, "12345678"), 0);
    CU_ASSERT_EQUAL(ka_buf_adds(&b, "9"), KA_ELIMIT);
    CU_ASSERT_EQUAL(b.len, 8);
    CU_ASSERT_STRING_EQUAL(b.data, "12345678");
    ka_buf_free(&b);
    ka_buf_free(&b); /* safe twice */
    CU_ASSERT_PTR_NULL(b.data);
}

static void test_printf_and_grow(void)
{
    struct ka_buf b;
    ka_buf_init(&b, 1 << 20);
    for (int i = 0; i < 1000; i++) {
        CU_ASSERT_EQUAL_FATAL(ka_buf_printf(&b, "%04d", i), 0);
    }
    CU_ASSERT_EQUAL(b.len, 4000);
    CU_ASSERT_EQUAL(memcmp(b.data + 3996, "0999", 4), 0);
    ka_buf_reset(&b);
    CU_ASSERT_EQUAL(b.len, 0);
    ka_buf_free(&b);
}

static void test_json_string(void)
{
    struct ka_buf b;
    ka_buf_init(&b, 1024);
    const char in[] = "a\"b\\c\n\x01z";
    CU_ASSERT_EQUAL(ka_buf_add_json_string(&b, in, sizeof(in) - 1), 0);
    CU_ASSERT_STRING_EQUAL(b.data, "\"a\\\"b\\\\c\\n\\u0001z\"");
    ka_buf_reset(&b);
    CU_ASSERT_EQUAL(ka_buf_add_json_member(&b, "uid", "a\"b", 0), 0);
    CU_ASSERT_EQUAL(ka_buf_add_json_member(&b, "user", NULL, 1), 0);
    CU_ASSERT_STRING_EQUAL(b.data, "\"uid\":\"a\\\"b\",\"user\":\"\"");
    ka_buf_free(&b);
}

static void test_take(void)
{
    struct ka_buf b;
    ka_buf_init(&b, 16);
    size_t n = 99;
    char *p = ka_buf_take(&b, &n); /* empty buffer gives an empty string */
    CU_ASSERT_PTR_NOT_NULL(p);
    CU_ASSERT_EQUAL(n, 0);
    free(p);
    CU_ASSERT_EQUAL(ka_buf_adds(&b, "xy"), 0);
    p = ka_buf_take(&b, &n);
    CU_ASSERT_STRING_EQUAL(p, "xy");
    CU_ASSERT_PTR_NULL(b.data);
    free(p);
}

static void test_read_file(void)
{
    struct ka_buf b;
    ka_buf_init(&b, 4);
    CU_ASSERT_EQUAL(ka_buf_read_file(&b, "/nonexistent/kadmit"), KA_ENOTFOUND);
    CU_ASSERT_EQUAL(ka_buf_read_file(&b, "CMakeLists.txt"), KA_ELIMIT);
    ka_buf_free(&b);
}

static void test_array(void)
{
    int *v = NULL;
    size_t cap = 0;
    CU_ASSERT_EQUAL(ka_array_grow(&v, &cap, 1, sizeof(*v)), 0);
    CU_ASSERT_EQUAL(cap, 16);
    v[15] = 7;
    CU_ASSERT_EQUAL(ka_array_grow(&v, &cap, 16, sizeof(*v)), 0); /* fits: unchanged */
    CU_ASSERT_EQUAL(cap, 16);
    CU_ASSERT_EQUAL(ka_array_grow(&v, &cap, 100, sizeof(*v)), 0);
    CU_ASSERT_EQUAL(cap, 128);
    CU_ASSERT_EQUAL(v[15], 7);
    int *keep = v;
    CU_ASSERT_EQUAL(ka_array_grow(&v, &cap, SIZE_MAX / 2, sizeof(*v)), KA_ENOMEM);
    CU_ASSERT_PTR_EQUAL(v, keep);
    CU_ASSERT_EQUAL(cap, 128);
    CU_ASSERT_EQUAL(ka_array_resize(&v, 3, sizeof(*v)), 0);
    CU_ASSERT_EQUAL(ka_array_resize(&v, SIZE_MAX / 2, sizeof(*v)), KA_ENOMEM);
    CU_ASSERT_PTR_NOT_NULL(v);
    free(v);
}

static const struct ka_test tests[] = {
    {"ceiling", test_ceiling},
    {"printf_and_grow", test_printf_and_grow},
    {"json_string", test_json_string},
    {"take", test_take},
    {"read_file", test_read_file},
    {"array", test_array},
    {NULL, NULL},
};

KA_TEST_MAIN("buf", tests)
