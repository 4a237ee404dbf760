/* Shared CUnit runner: returns non-zero when any assertion failed. */
#ifndef KA_TEST_H
#define KA_TEST_H

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/buf.h"
#include "kadmit/policy.h"

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

/*
 * The shipped checklist with image-scan-attestation switched off. Most tests exercise the other
 * rules; attestations need keys and signatures made at test time and have their own tests
 * (test_attest.c, test_attest_rule.sh).
 */
static inline int ka_test_load_checklist_without_attestations(struct ka_policy **out,
                                                              struct ka_buf *diag)
{
    static const struct ka_rule_override off = {"image-scan-attestation", NULL, "off"};
    const struct ka_policy_load_opts opts = {.overrides = &off, .n_overrides = 1};
    return ka_policy_load_default(&opts, out, diag);
}

#endif
