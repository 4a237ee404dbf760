/*
 * kill -9 while writing the decision log. A child process writes decision-log lines as fast as
 * it can (real summaries of a denied and an allowed review, through ka_decision_log_write, with
 * size rotation to PATH.1 and PATH.2 on), and is killed with SIGKILL at a random moment, 40
 * times. After each kill, every file of the log must read back (kadmit audit --decision-log):
 * every line an admission with the uid that was written, and the writer must be able to reopen
 * and append. A kill mid-write may leave a torn line; the next writer (ka_decision_log_open sees
 * the file ends inside a line) starts on a new line, so a torn line is a fragment of one record,
 * never glued to the next: no line holds the start of two records.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ka_test.h"
#include "kadmit/admission.h"
#include "kadmit/audit.h"
#include "kadmit/decisionlog.h"
#include "kadmit/error.h"
#include "kadmit/policy.h"

static const char deny_body[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
    "\"uid\":\"dl-deny\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
    "\"namespace\":\"ai-agents\",\"operation\":\"CREATE\",\"userInfo\":{\"username\":\"me\"},"
    "\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"agent-0\","
    "\"labels\":{\"app\":\"agent\"}},\"spec\":{\"containers\":[{\"name\":\"agent\","
    "\"image\":\"r.example/agent:latest\",\"env\":[{\"name\":\"API_KEY\",\"value\":\"x\"}]}]}}}}";

static char dir[64];
static char path[256];

/* The child: write forever (until SIGKILL). */
static void writer(const struct ka_review_summary *s)
{
    struct ka_decision_log *dl = NULL;
    char err[256];
    if (ka_decision_log_open(&dl, path, 64u * 1024u, 2, 1, err, sizeof(err)) != 0) {
        _exit(3);
    }
    for (;;) {
        ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE);
    }
}

/* Read one file of the log: 1 when it is consistent. Counts admissions into *lines. */
static int check_file(const char *file, size_t *lines)
{
    struct ka_buf data;
    ka_buf_init(&data, 16u * 1024u * 1024u);
    int ret = ka_buf_read_file(&data, file);
    if (ret == KA_ENOTFOUND) {
        ka_buf_free(&data);
        return 1; /* not rotated yet */
    }
    int ok = ret == 0;
    struct ka_audit a;
    ka_audit_init(&a, NULL);
    ok = ok && ka_audit_add_decision_log_bytes(&a, file, data.data, data.len) == 0;
    for (size_t i = 0; ok && i < a.n_items; i++) {
        const struct ka_audit_item *it = &a.items[i];
        if (!it->error && strcmp(it->uid, "dl-deny") != 0) {
            fprintf(stderr, "\n  %s: item %zu has uid \"%s\"\n", file, i, it->uid);
            ok = 0;
        }
        *lines += !it->error;
    }
    /* a torn line is a fragment of one record: a record starts twice on no line */
    for (const char *l = data.data; ok && l != NULL && l < data.data + data.len;) {
        const char *nl = memchr(l, '\n', (size_t)(data.data + data.len - l));
        const char *end = nl != NULL ? nl : data.data + data.len;
        const char *second = memmem(l + 1, end > l ? (size_t)(end - l - 1) : 0, "{\"time\":", 8);
        if (second != NULL) {
            fprintf(stderr, "\n  %s: a torn line glued to the next record at byte %zu\n", file,
                    (size_t)(second - data.data));
            ok = 0;
        }
        l = nl != NULL ? nl + 1 : NULL;
    }
    ka_audit_free(&a);
    ka_buf_free(&data);
    return ok;
}

static void test_kill9(void)
{
    struct ka_policy *policy = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_policy_load_default(NULL, &policy, NULL), 0);
    struct ka_review_summary s;
    struct ka_buf out;
    ka_buf_init(&out, 1u << 20);
    struct ka_review_opts opts = {.now = 1795000000};
    CU_ASSERT_EQUAL_FATAL(ka_admission_review(policy, KA_ENDPOINT_VALIDATE, deny_body,
                                              sizeof(deny_body) - 1, &opts, &out, &s),
                          0);
    CU_ASSERT_FALSE(s.allowed);
    ka_buf_free(&out);
    ka_policy_unref(policy);

    CU_ASSERT_EQUAL_FATAL(ka_test_make_dir(dir, sizeof(dir), "dl"), 0);
    snprintf(path, sizeof(path), "%s/decisions.log", dir);
    srand((unsigned)time(NULL));
    size_t total = 0;
    int rounds_ok = 0;
    for (int round = 0; round < 40; round++) {
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0) {
            writer(&s);
        }
        struct timespec t = {0, (long)(1 + rand() % 20) * 1000000L};
        nanosleep(&t, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        size_t lines = 0;
        char file[300];
        int ok = check_file(path, &lines);
        for (int k = 1; k <= 2; k++) {
            snprintf(file, sizeof(file), "%s.%d", path, k);
            ok &= check_file(file, &lines);
        }
        CU_ASSERT(ok);
        rounds_ok += ok;
        total += lines;
    }
    printf("\n  40 kills: %d rounds consistent, %zu lines read back\n", rounds_ok, total);
    CU_ASSERT(total > 0);
    CU_ASSERT_EQUAL(ka_test_remove_tree(dir), 0);
}

static const struct ka_test tests[] = {
    {"kill -9 while writing the decision log (40 times)", test_kill9},
    {NULL, NULL},
};

KA_TEST_MAIN("torture_decisionlog", tests)
