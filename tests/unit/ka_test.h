/* Shared CUnit runner: returns non-zero when any assertion failed. */
#ifndef KA_TEST_H
#define KA_TEST_H

#include <CUnit/Basic.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/audit.h"
#include "kadmit/buf.h"
#include "kadmit/policy.h"

struct ka_test {
    const char *name;
    void (*fn)(void);
};

/* True when `name` is one of argv[1..argc-1], or when no names are given. */
static inline int ka_test_selected(const char *name, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return 1;
        }
    }
    return argc <= 1;
}

/*
 * Run `tests` (NULL-terminated) as one suite. Test names given on the command line
 * (`build/test_policy rule_overrides duration`) run only those; an unknown name is an error.
 */
static inline int ka_test_run(const char *suite_name, const struct ka_test *tests, int argc,
                              char **argv)
{
    for (int i = 1; i < argc; i++) {
        const struct ka_test *t = tests;
        while (t->name != NULL && strcmp(t->name, argv[i]) != 0) {
            t++;
        }
        if (t->name == NULL) {
            fprintf(stderr, "%s: no test \"%s\"; tests:", suite_name, argv[i]);
            for (t = tests; t->name != NULL; t++) {
                fprintf(stderr, " %s", t->name);
            }
            fprintf(stderr, "\n");
            return 2;
        }
    }
    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 2;
    }
    CU_pSuite suite = CU_add_suite(suite_name, NULL, NULL);
    if (suite == NULL) {
        CU_cleanup_registry();
        return 2;
    }
    for (const struct ka_test *t = tests; t->name != NULL; t++) {
        if (ka_test_selected(t->name, argc, argv) && CU_add_test(suite, t->name, t->fn) == NULL) {
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

/* How a suite gets the policy its tests judge by: ka_policy_load_*() with `diag` for errors. */
typedef int (*ka_test_policy_loader)(struct ka_policy **out, struct ka_buf *diag);

/*
 * ka_test_run() with `*policy` loaded by `load` first (when it fails: its diagnostics and exit 2)
 * and released after.
 */
static inline int ka_test_run_with_policy(const char *suite_name, const struct ka_test *tests,
                                          int argc, char **argv, ka_test_policy_loader load,
                                          struct ka_policy **policy)
{
    struct ka_buf diag;
    ka_buf_init(&diag, 64 * 1024);
    if (load(policy, &diag) != 0) {
        fprintf(stderr, "%s: cannot load the suite's policy: %s\n", suite_name,
                diag.data ? diag.data : "");
        ka_buf_free(&diag);
        return 2;
    }
    ka_buf_free(&diag);
    int rc = ka_test_run(suite_name, tests, argc, argv);
    ka_policy_unref(*policy);
    *policy = NULL;
    return rc;
}

/* A fresh directory /tmp/kadmit-<name>-XXXXXX, its path in `dir`. Returns 0, or -1. */
static inline int ka_test_make_dir(char *dir, size_t len, const char *name)
{
    int n = snprintf(dir, len, "/tmp/kadmit-%s-XXXXXX", name);
    return n > 0 && (size_t)n < len && mkdtemp(dir) != NULL ? 0 : -1;
}

static inline int ka_test_remove_entry(const char *path, const struct stat *st, int type,
                                       struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

/* Remove `dir` and all it holds (links are removed, not followed). Returns 0, or -1. */
static inline int ka_test_remove_tree(const char *dir)
{
    return nftw(dir, ka_test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ka_test_run() with a fresh directory made as ka_test_make_dir(dir, len, suite_name) does,
 * for the tests to use, and removed after. */
static inline int ka_test_run_in_dir(const char *suite_name, const struct ka_test *tests, int argc,
                                     char **argv, char *dir, size_t len)
{
    if (ka_test_make_dir(dir, len, suite_name) != 0) {
        fprintf(stderr, "%s: cannot make a directory in /tmp\n", suite_name);
        return 2;
    }
    int rc = ka_test_run(suite_name, tests, argc, argv);
    if (ka_test_remove_tree(dir) != 0) {
        fprintf(stderr, "%s: could not remove %s\n", suite_name, dir);
    }
    return rc;
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

/* The shipped checklist, as the server loads it without a --policies flag. */
static inline int ka_test_load_checklist(struct ka_policy **out, struct ka_buf *diag)
{
    return ka_policy_load_default(NULL, out, diag);
}

/* A whole file (at most 16 MiB) as a NUL-terminated string the caller frees; *len (may be NULL)
 * its length. NULL when it cannot be read. */
static inline char *ka_test_slurp(const char *path, size_t *len)
{
    struct ka_buf b;
    ka_buf_init(&b, 16u * 1024u * 1024u);
    if (ka_buf_read_file(&b, path) != 0) {
        ka_buf_free(&b);
        return NULL;
    }
    return ka_buf_take(&b, len);
}

/*
 * One assertion per needle that `text` (may be NULL) holds it (`want` 1) or lacks it (`want` 0),
 * reported at the caller's line with the needle named. Called through KA_ASSERT_HAS/LACKS.
 */
static inline void ka_test_assert_text(const char *text, int want, const char *const *needles,
                                       unsigned line, const char *file, const char *func)
{
    for (; *needles != NULL; needles++) {
        int found = text != NULL && strstr(text, *needles) != NULL;
        char what[512];
        snprintf(what, sizeof(what), "the text %s \"%s\"", want ? "holds" : "lacks", *needles);
        CU_assertImplementation(found == want ? CU_TRUE : CU_FALSE, line, what, file, func,
                                CU_FALSE);
    }
}

/* KA_ASSERT_HAS(out.data, "a", "b"): `text` holds each string; KA_ASSERT_LACKS: none of them. */
#define KA_ASSERT_HAS(text, ...)                                                                   \
    ka_test_assert_text((text), 1, (const char *const[]){__VA_ARGS__, NULL}, __LINE__, __FILE__,   \
                        __func__)
#define KA_ASSERT_LACKS(text, ...)                                                                 \
    ka_test_assert_text((text), 0, (const char *const[]){__VA_ARGS__, NULL}, __LINE__, __FILE__,   \
                        __func__)

/* The decision-log side of ka_audit_count(): admissions read, by outcome, and unreadable lines. */
struct ka_test_admissions {
    size_t read, denied, warned, audited, passed, problems;
};

static inline void ka_test_expect_admissions(const struct ka_audit *a,
                                             struct ka_test_admissions want, unsigned line,
                                             const char *file, const char *func)
{
    struct ka_audit_counts c;
    ka_audit_count(a, &c);
    const struct {
        const char *name;
        size_t got, want;
    } counts[] = {
        {"admissions", c.admissions, want.read},
        {"admissions_denied", c.admissions_denied, want.denied},
        {"admissions_warned", c.admissions_warned, want.warned},
        {"admissions_audited", c.admissions_audited, want.audited},
        {"admissions_passed", c.admissions_passed, want.passed},
        {"log_problems", c.log_problems, want.problems},
    };
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        char what[96];
        snprintf(what, sizeof(what), "%s %zu, want %zu", counts[i].name, counts[i].got,
                 counts[i].want);
        CU_assertImplementation(counts[i].got == counts[i].want ? CU_TRUE : CU_FALSE, line, what,
                                file, func, CU_FALSE);
    }
}

/* KA_EXPECT_ADMISSIONS(&audit, .read = 2, .denied = 1, .problems = 4): the decision-log counts
 * are exactly these (a count not named is 0), one assertion each at the caller's line. */
#define KA_EXPECT_ADMISSIONS(audit, ...)                                                           \
    ka_test_expect_admissions((audit), (struct ka_test_admissions){__VA_ARGS__}, __LINE__,         \
                              __FILE__, __func__)

/* main() for a test binary whose whole job is running `tests`: `KA_TEST_MAIN("policy", tests)`. */
#define KA_TEST_MAIN(suite_name, tests)                                                            \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        return ka_test_run(suite_name, tests, argc, argv);                                         \
    }

/* main() running `tests` with `*policy` loaded by `load`: ka_test_run_with_policy(). */
#define KA_TEST_MAIN_WITH_POLICY(suite_name, tests, load, policy)                                  \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        return ka_test_run_with_policy(suite_name, tests, argc, argv, load, policy);               \
    }

/* main() running `tests` in a fresh directory whose path is in the char array `dir`:
 * ka_test_run_in_dir(). */
#define KA_TEST_MAIN_IN_DIR(suite_name, tests, dir)                                                \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        return ka_test_run_in_dir(suite_name, tests, argc, argv, dir, sizeof(dir));                \
    }

#endif
