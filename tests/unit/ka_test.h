/* Shared CUnit runner: returns non-zero when any assertion failed. */
#ifndef KA_TEST_H
#define KA_TEST_H

#include <CUnit/Basic.h>
#include <stdlib.h>

struct ka_test {
    const char *name;
    void (*fn)(void);
};

static inline int ka_test_run(const char *suite_name, const struct ka_test *tests)
{
    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 2;
    }
    CU_pSuite suite = CU_add_suite(suite_name, NULL, NULL);
    if (suite == NULL) {
        CU_cleanup_registry();
        return 2;
    }
    for (const struct ka_test *t = tests; t->name != NULL; t++) {
        if (CU_add_test(suite, t->name, t->fn) == NULL) {
            CU_cleanup_registry();
            return 2;
        }
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return (failures == 0 && ran > 0) ? 0 : 1;
}

#endif
