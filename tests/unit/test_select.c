/* Globs and label selectors. */
#include <CUnit/Basic.h>
#include <string.h>

#include "ka_test.h"
#include "kadmit/error.h"
#include "kadmit/limits.h"
#include "kadmit/select.h"

static void test_glob(void)
{
    CU_ASSERT(ka_glob_match("*API_KEY*", "OPENAI_API_KEY", 0));
    CU_ASSERT(ka_glob_match("*api_key*", "OPENAI_API_KEY", 1));
    CU_ASSERT(!ka_glob_match("*api_key*", "OPENAI_API_KEY", 0));
    CU_ASSERT(ka_glob_match("kube-*", "kube-system", 0));
    CU_ASSERT(!ka_glob_match("kube-*", "my-kube-system", 0));
    CU_ASSERT(ka_glob_match("a?c", "abc", 0));
    CU_ASSERT(!ka_glob_match("a?c", "ac", 0));
    CU_ASSERT(ka_glob_match("*", "", 0));
    CU_ASSERT(ka_glob_match("a*b*c", "axxbyyc", 0));
    CU_ASSERT(!ka_glob_match("a*b*c", "axxbyy", 0));
}

static void test_selector(void)
{
    cJSON *labels = cJSON_Parse("{\"app\":\"memory-spine\",\"tier\":\"data\"}");
    cJSON *yes = cJSON_Parse("{\"matchLabels\":{\"app\":\"memory-spine\"},\"matchExpressions\":["
                             "{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"data\",\"x\"]},"
                             "{\"key\":\"zone\",\"operator\":\"DoesNotExist\"},"
                             "{\"key\":\"app\",\"operator\":\"Exists\"},"
                             "{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[\"web\"]}]}");
    cJSON *no1 = cJSON_Parse("{\"matchLabels\":{\"app\":\"agent\"}}");
    cJSON *no2 = cJSON_Parse("{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"NotIn\","
                             "\"values\":[\"data\"]}]}");
    cJSON *bad = cJSON_Parse("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Like\"}]}");
    CU_ASSERT(ka_selector_matches(yes, labels));
    CU_ASSERT(!ka_selector_matches(no1, labels));
    CU_ASSERT(!ka_selector_matches(no2, labels));
    CU_ASSERT(ka_selector_matches(NULL, labels));
    CU_ASSERT(!ka_selector_matches(no1, NULL));
    CU_ASSERT(!ka_selector_matches(bad, labels)); /* unknown operator matches nothing */
    char err[200];
    const cJSON *where = NULL;
    CU_ASSERT_EQUAL(ka_selector_validate(yes, err, sizeof(err), &where), 0);
    CU_ASSERT_EQUAL(ka_selector_validate(bad, err, sizeof(err), &where), KA_EPOLICY);
    KA_ASSERT_HAS(err, "unknown operator");
    cJSON_Delete(labels);
    cJSON_Delete(yes);
    cJSON_Delete(no1);
    cJSON_Delete(no2);
    cJSON_Delete(bad);
}

/* Many labels: lookups go through the hash index and give the same answers as a scan; a
 * selector past the named limits selects nothing and a policy's is rejected. */
static void test_selector_many_labels_and_limits(void)
{
    cJSON *labels = cJSON_CreateObject();
    char key[32], val[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        cJSON_AddStringToObject(labels, key, val);
    }
    cJSON_AddStringToObject(labels, "k7", "duplicate"); /* the first one counts, as in cJSON */
    cJSON *yes = cJSON_Parse("{\"matchLabels\":{\"k4999\":\"v4999\",\"k7\":\"v7\"},"
                             "\"matchExpressions\":[{\"key\":\"k0\",\"operator\":\"In\","
                             "\"values\":[\"x\",\"v0\"]},{\"key\":\"nope\","
                             "\"operator\":\"DoesNotExist\"}]}");
    cJSON *no = cJSON_Parse("{\"matchLabels\":{\"k12\":\"v13\"}}");
    CU_ASSERT(ka_selector_matches(yes, labels));
    CU_ASSERT(!ka_selector_matches(no, labels));
    cJSON *big = cJSON_Parse("{\"matchExpressions\":[]}");
    cJSON *exprs = cJSON_GetObjectItemCaseSensitive(big, "matchExpressions");
    for (int i = 0; i <= KA_MAX_SELECTOR_REQUIREMENTS; i++) {
        cJSON_AddItemToArray(exprs, cJSON_Parse("{\"key\":\"absent\",\"operator\":"
                                                "\"DoesNotExist\"}"));
    }
    CU_ASSERT(!ka_selector_matches(big, labels)); /* would match, but is too large */
    char err[200];
    const cJSON *where = NULL;
    CU_ASSERT_EQUAL(ka_selector_validate(big, err, sizeof(err), &where), KA_EPOLICY);
    KA_ASSERT_HAS(err, "more than");
    cJSON_DeleteItemFromArray(exprs, 0);
    CU_ASSERT(ka_selector_matches(big, labels)); /* at the limit: evaluated */
    cJSON_Delete(labels);
    cJSON_Delete(yes);
    cJSON_Delete(no);
    cJSON_Delete(big);
}

static const struct ka_test tests[] = {
    {"glob", test_glob},
    {"selector", test_selector},
    {"selector_many_labels_and_limits", test_selector_many_labels_and_limits},
    {NULL, NULL},
};

KA_TEST_MAIN("select", tests)
