/* kadmit/file.h: atomic writes, sorted listings, change fingerprints, on a real temporary dir. */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kadmit/buf.h"
#include "kadmit/error.h"
#include "kadmit/file.h"
#include "ka_test.h"

static char tmpdir[256];

static void path_in(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", tmpdir, name);
}

static void test_write_atomic(void)
{
    char p[512];
    struct stat st;
    path_in(p, sizeof(p), "atomic.key");
    CU_ASSERT_EQUAL(ka_file_write_atomic(p, "secret", 6, 0600), 0);
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    CU_ASSERT_EQUAL(ka_file_write_atomic(p, "second", 6, 0644), 0); /* replaces */
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0644);
    char *c = ka_test_slurp(p, NULL);
    CU_ASSERT_STRING_EQUAL(c, "second");
    free(c);
    CU_ASSERT_EQUAL(ka_file_write_atomic(p, "", 0, 0600), 0); /* empty content */
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_size, 0);
    path_in(p, sizeof(p), "missing-dir/x");
    CU_ASSERT_EQUAL(ka_file_write_atomic(p, "x", 1, 0600), KA_EIO);
    char longp[5000];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    CU_ASSERT_EQUAL(ka_file_write_atomic(longp, "x", 1, 0600), KA_EINVAL);
    unlink(p);
}

static int ends_txt(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".txt") == 0;
}

static void test_list_dir(void)
{
    char dir[512], p[600];
    path_in(dir, sizeof(dir), "list");
    CU_ASSERT_EQUAL(mkdir(dir, 0700), 0);
    const char *names[] = {"b.txt", "a.txt", ".hidden.txt", "c.yaml", "A.txt"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        CU_ASSERT_EQUAL(ka_file_write_atomic(p, "x", 1, 0600), 0);
    }
    struct ka_file_list l;
    CU_ASSERT_EQUAL(ka_file_list_dir(dir, NULL, SIZE_MAX, &l), 0);
    CU_ASSERT_EQUAL(l.n, 4); /* no hidden names, no temporaries left behind */
    CU_ASSERT_FALSE(l.truncated);
    if (l.n == 4) {
        CU_ASSERT_STRING_EQUAL(l.names[0], "A.txt");
        CU_ASSERT_STRING_EQUAL(l.names[1], "a.txt");
        CU_ASSERT_STRING_EQUAL(l.names[2], "b.txt");
        CU_ASSERT_STRING_EQUAL(l.names[3], "c.yaml");
    }
    ka_file_list_free(&l);
    ka_file_list_free(&l); /* safe twice */
    CU_ASSERT_EQUAL(ka_file_list_dir(dir, ends_txt, SIZE_MAX, &l), 0);
    CU_ASSERT_EQUAL(l.n, 3);
    ka_file_list_free(&l);
    CU_ASSERT_EQUAL(ka_file_list_dir(dir, ends_txt, 2, &l), 0);
    CU_ASSERT_EQUAL(l.n, 2);
    CU_ASSERT_TRUE(l.truncated);
    if (l.n == 2) {
        CU_ASSERT_TRUE(strcmp(l.names[0], l.names[1]) < 0);
    }
    ka_file_list_free(&l);
    path_in(p, sizeof(p), "no-such-dir");
    CU_ASSERT_EQUAL(ka_file_list_dir(p, NULL, SIZE_MAX, &l), KA_ENOTFOUND);
    CU_ASSERT_EQUAL(l.n, 0);
    snprintf(p, sizeof(p), "%s/a.txt", dir);
    CU_ASSERT_EQUAL(ka_file_list_dir(p, NULL, SIZE_MAX, &l), KA_EIO); /* not a directory */
}

static void test_fingerprint(void)
{
    char dir[512], p[600];
    path_in(dir, sizeof(dir), "fp");
    CU_ASSERT_EQUAL(mkdir(dir, 0700), 0);
    snprintf(p, sizeof(p), "%s/one", dir);
    CU_ASSERT_EQUAL(ka_file_write_atomic(p, "1", 1, 0600), 0);
    uint64_t file0 = ka_file_fingerprint(0, p), dir0 = ka_file_fingerprint(0, dir);
    CU_ASSERT_EQUAL(ka_file_fingerprint(0, p), file0); /* stable while nothing changes */
    CU_ASSERT_EQUAL(ka_file_fingerprint(0, dir), dir0);
    CU_ASSERT_NOT_EQUAL(ka_file_fingerprint(1, p), file0);      /* the seed counts */
    CU_ASSERT_EQUAL(ka_file_write_atomic(p, "22", 2, 0600), 0); /* replaced: new inode, size */
    CU_ASSERT_NOT_EQUAL(ka_file_fingerprint(0, p), file0);
    CU_ASSERT_NOT_EQUAL(ka_file_fingerprint(0, dir), dir0);
    uint64_t dir1 = ka_file_fingerprint(0, dir);
    snprintf(p, sizeof(p), "%s/.hidden", dir); /* e.g. Kubernetes' ..data swap */
    CU_ASSERT_EQUAL(ka_file_write_atomic(p, "h", 1, 0600), 0);
    CU_ASSERT_NOT_EQUAL(ka_file_fingerprint(0, dir), dir1);
    path_in(p, sizeof(p), "missing");
    CU_ASSERT_EQUAL(ka_file_fingerprint(0, p), ka_file_fingerprint(0, p));
    CU_ASSERT_NOT_EQUAL(ka_file_fingerprint(0, p), ka_file_fingerprint(0, NULL));
    CU_ASSERT_EQUAL(ka_file_fingerprint(0, NULL), ka_file_fingerprint(0, ""));
}

static const struct ka_test tests[] = {
    {"write_atomic", test_write_atomic},
    {"list_dir", test_list_dir},
    {"fingerprint", test_fingerprint},
    {NULL, NULL},
};

KA_TEST_MAIN_IN_DIR("file", tests, tmpdir)
