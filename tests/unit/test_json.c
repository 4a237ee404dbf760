/* The request parser (ka_json_parse_request) against cJSON, its refusals, and its arena. */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../fuzz/json_same.h"
#include "ka_test.h"
#include "kadmit/json.h"

static cJSON *parse(const char *s, size_t len, char *msg, size_t msg_len)
{
    return ka_json_parse_request(s, len, 64, 1u << 20, msg, msg_len);
}

/* Documents both accept: the same tree as cJSON's, node for node. */
static void test_same_tree_as_cjson(void)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        " \t\r\n[ ] ",
        "\xEF\xBB\xBF{\"bom\":1}",
        "[1,-0,0.5,-2.25e-3,1E2,123456789012345,1234567890123456789,2147483648,-2147483649,007]",
        "[1e400,-1e400,1.7976931348623157e308,5e-324]",
        "{\"a\":\"\\ud83d\\ude00\\u00e9\\/\\b\\f\\n\\r\\t\\\"\\\\\",\"a\":null}",
        "{\"b\":[true,false,null,{},[],[[]]],\"c\":{\"d\":{\"e\":\"f\"}}}",
        "[1\x01,\x1f"
        "2]", /* cJSON's whitespace is every byte from 1 to 32 */
        "\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\"",
        "{\"k\":\"\x7f\"}",
        /* cJSON reads a number of any length (fuzz_json_diff found the 63-byte cut) */
        "[9999999999999999999999999999999999999999999999999999999999999999999999999999999999.5]",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        char msg[128] = "";
        cJSON *mine = parse(docs[i], strlen(docs[i]), msg, sizeof(msg));
        cJSON *ref = cJSON_ParseWithLength(docs[i], strlen(docs[i]));
        CU_ASSERT_PTR_NOT_NULL(mine);
        CU_ASSERT_PTR_NOT_NULL(ref);
        CU_ASSERT_TRUE(json_same(mine, ref));
        if (mine == NULL || !json_same(mine, ref)) {
            fprintf(stderr, "doc %zu: %s\n", i, msg);
        }
        cJSON_Delete(mine);
        cJSON_Delete(ref);
    }
}

static void expect_refused(const char *s, size_t len, const char *want)
{
    char msg[128] = "";
    cJSON *t = parse(s, len, msg, sizeof(msg));
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, want));
    if (strstr(msg, want) == NULL) {
        fprintf(stderr, "want \"%s\", got \"%s\"\n", want, msg);
    }
    cJSON_Delete(t);
}

#define REFUSED(lit, want) expect_refused(lit, sizeof(lit) - 1, want)

static void test_refusals(void)
{
    REFUSED("", "malformed JSON");
    REFUSED("{\"a\":", "malformed JSON");
    REFUSED("{\"a\" 1}", "malformed JSON");
    REFUSED("[1,]", "malformed JSON");
    REFUSED("[nul]", "malformed JSON");
    REFUSED("[-]", "malformed JSON");
    REFUSED("\"abc", "malformed JSON");
    REFUSED("\"\\x\"", "malformed JSON");
    REFUSED("\"\\udc00\"", "malformed JSON");        /* lone low surrogate */
    REFUSED("\"\\ud800\\u0041\"", "malformed JSON"); /* high surrogate without its low one */
    REFUSED("{} {}", "data after the JSON document");
    REFUSED("\xEF\xBB\xBF"
            "1",
            "malformed JSON"); /* cJSON skips a BOM only in 5 bytes or more */
    REFUSED("{}\x01", "data after the JSON document");
    REFUSED("[1\0]", "NUL byte in the body");
    REFUSED("\"a\0b\"", "NUL byte in the body");
    REFUSED("\"a\\u0000b\"", "\\u0000 in a JSON string");
    REFUSED("\"a\\u00zzb\"", "four hex digits"); /* cJSON reads it as U+0000 */
    REFUSED("\"a\nb\"", "unescaped control character");
    REFUSED("\"\xff\"", "invalid UTF-8");
    REFUSED("\"\xC0\xAF\"", "invalid UTF-8");         /* overlong '/' */
    REFUSED("\"\xED\xA0\x80\"", "invalid UTF-8");     /* a surrogate */
    REFUSED("\"\xF4\x90\x80\x80\"", "invalid UTF-8"); /* past U+10FFFF */
}

static void test_limits(void)
{
    char deep[200];
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    char msg[128] = "";
    cJSON *t = ka_json_parse_request(deep, 130, 64, 1000, msg, sizeof(msg));
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_STRING_EQUAL(
        msg, "JSON nesting deeper than 64 levels (--max-json-depth) at byte offset 64");
    t = ka_json_parse_request(deep + 1, 128, 64, 1000, msg, sizeof(msg));
    CU_ASSERT_PTR_NOT_NULL(t);
    cJSON_Delete(t);
    /* values: the first, plus one at every '[' '{' ',' ':' (empty containers count) */
    t = ka_json_parse_request("[[],{\"a\":1}]", 12, 64, 6, msg, sizeof(msg));
    CU_ASSERT_PTR_NOT_NULL(t);
    cJSON_Delete(t);
    t = ka_json_parse_request("[[],{\"a\":1}]", 12, 64, 5, msg, sizeof(msg));
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_STRING_EQUAL(msg, "JSON has more than 5 values (--max-json-values) at byte offset 8");
}

/* In an arena the tree lives there; appending through cJSON (child->prev) still works. */
static void test_arena_and_append(void)
{
    char msg[128];
    CU_ASSERT_EQUAL_FATAL(ka_json_arena_begin(), 0);
    cJSON *t = parse("{\"a\":[1,2]}", 11, msg, sizeof(msg));
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_TRUE(ka_json_arena_used() > 0);
    cJSON *a = cJSON_GetObjectItemCaseSensitive(t, "a");
    CU_ASSERT_TRUE(cJSON_AddItemToArray(a, cJSON_CreateNumber(3)));
    CU_ASSERT_TRUE(cJSON_AddStringToObject(t, "b", "c") != NULL);
    char *text = cJSON_PrintUnformatted(t);
    CU_ASSERT_STRING_EQUAL(text, "{\"a\":[1,2,3],\"b\":\"c\"}");
    cJSON_free(text);
    cJSON_Delete(t);
    ka_json_arena_end();
}

static const struct ka_test tests[] = {
    {"same_tree_as_cjson", test_same_tree_as_cjson},
    {"refusals", test_refusals},
    {"limits", test_limits},
    {"arena_and_append", test_arena_and_append},
    {NULL, NULL},
};

KA_TEST_MAIN("json", tests)
