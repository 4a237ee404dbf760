/* Decision log: line format, rotation, concurrency, reopen, and full disks (/dev/full, tmpfs). */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ka_test.h"
#include "kadmit/admission.h"
#include "kadmit/audit.h"
#include "kadmit/decisionlog.h"
#include "kadmit/error.h"
#include "kadmit/policy.h"

static struct ka_policy *policy;

/* A real review of a Deployment that breaks several rules (and holds a literal secret). */
static const char bad_review[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
    "\"uid\":\"u-1\",\"kind\":{\"group\":\"apps\",\"version\":\"v1\",\"kind\":\"Deployment\"},"
    "\"resource\":{\"group\":\"apps\",\"version\":\"v1\",\"resource\":\"deployments\"},"
    "\"namespace\":\"shop\",\"operation\":\"CREATE\",\"userInfo\":{\"username\":\"alice\"},"
    "\"dryRun\":true,\"object\":{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
    "\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},\"spec\":{\"selector\":{"
    "\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:latest\",\"env\":[{\"name\":"
    "\"DB_PASSWORD\",\"value\":\"hunter2-very-secret\"}]}]}}}}}}";

static const char good_review[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
    "\"uid\":\"u-2\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"ConfigMap\"},"
    "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"configmaps\"},"
    "\"namespace\":\"shop\",\"operation\":\"CREATE\",\"userInfo\":{\"username\":\"bob\"},"
    "\"object\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"}}}}";

static void review(const char *body, struct ka_review_summary *s)
{
    struct ka_buf resp;
    ka_buf_init(&resp, 1 << 20);
    CU_ASSERT_EQUAL_FATAL(
        ka_admission_review(policy, KA_ENDPOINT_VALIDATE, body, strlen(body), NULL, &resp, s), 0);
    ka_buf_free(&resp);
}

static char *tmpdir(void)
{
    char dir[64];
    CU_ASSERT_EQUAL_FATAL(ka_test_make_dir(dir, sizeof(dir), "dlog"), 0);
    return strdup(dir);
}

static void rm_rf(const char *dir)
{
    CU_ASSERT_EQUAL(ka_test_remove_tree(dir), 0);
}

/* Read a file's lines; every line must be a complete decision (returns count, -1 on a bad one). */
static long count_good_lines(const char *path, long *bad)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    long n = 0;
    ssize_t len;
    *bad = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n') {
            (*bad)++;
            continue;
        }
        cJSON *j = cJSON_ParseWithLength(line, (size_t)len);
        if (j != NULL && cJSON_IsArray(cJSON_GetObjectItem(j, "findings"))) {
            n++;
        } else {
            (*bad)++;
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    return n;
}

/* The log counted `written` lines and `dropped` ones, and its metrics say so. */
static void expect_counters(const struct ka_decision_log *dl, uint64_t written, uint64_t dropped)
{
    CU_ASSERT_EQUAL(ka_decision_log_written(dl), written);
    CU_ASSERT_EQUAL(ka_decision_log_dropped(dl), dropped);
    struct ka_buf m;
    ka_buf_init(&m, 4096);
    CU_ASSERT_EQUAL(ka_decision_log_render_metrics(dl, &m), 0);
    char lines[80], drops[80];
    snprintf(lines, sizeof(lines), "\nkadmit_decision_log_lines_total %" PRIu64 "\n", written);
    snprintf(drops, sizeof(drops), "\nkadmit_decision_log_dropped_total %" PRIu64 "\n", dropped);
    KA_ASSERT_HAS(m.data, lines, drops);
    ka_buf_free(&m);
}

static void test_format(void)
{
    struct ka_review_summary *s = calloc(1, sizeof(*s));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    review(bad_review, s);
    CU_ASSERT_FALSE(s->allowed);
    struct ka_buf line;
    ka_buf_init(&line, KA_DECISION_LOG_MAX_LINE);
    /* 2026-11-28T12:00:00.123Z */
    CU_ASSERT_EQUAL_FATAL(ka_decision_log_format(s, KA_ENDPOINT_VALIDATE, 1795867200123LL, &line),
                          0);
    CU_ASSERT_EQUAL(line.data[line.len - 1], '\n');
    CU_ASSERT_PTR_NULL(memchr(line.data, '\n', line.len - 1)); /* one line */
    KA_ASSERT_LACKS(line.data, "hunter2");                     /* never env values */
    cJSON *j = cJSON_Parse(line.data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(j, "time")->valuestring, "2026-11-28T12:00:00.123Z");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(j, "uid")->valuestring, "u-1");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(j, "user")->valuestring, "alice");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(j, "operation")->valuestring, "CREATE");
    CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(j, "dryRun")));
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(j, "kind")->valuestring, "Deployment");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(j, "namespace")->valuestring, "shop");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(j, "name")->valuestring, "web");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(j, "endpoint")->valuestring, "validate");
    CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(j, "allowed")));
    cJSON *fs = cJSON_GetObjectItem(j, "findings");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(fs), (int)s->n_findings);
    int saw_secret_rule = 0;
    cJSON *f;
    cJSON_ArrayForEach(f, fs)
    {
        CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(f, "rule"));
        CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(f, "action"));
        CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(f, "message"));
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(f, "container")->valuestring, "web");
        saw_secret_rule |=
            strcmp(cJSON_GetObjectItem(f, "rule")->valuestring, "no-literal-secrets") == 0;
    }
    CU_ASSERT_TRUE(saw_secret_rule);
    cJSON_Delete(j);
    /* what is logged */
    CU_ASSERT_TRUE(ka_decision_log_wants(s, 0));
    review(good_review, s);
    CU_ASSERT_TRUE(s->allowed);
    CU_ASSERT_FALSE(ka_decision_log_wants(s, 0));
    CU_ASSERT_TRUE(ka_decision_log_wants(s, 1));
    /* a body that is not an AdmissionReview: only with all */
    struct ka_buf resp;
    ka_buf_init(&resp, 4096);
    CU_ASSERT_EQUAL(ka_admission_review(policy, KA_ENDPOINT_VALIDATE, "{}", 2, NULL, &resp, s),
                    KA_EREVIEW);
    ka_buf_free(&resp);
    CU_ASSERT_EQUAL(s->http_status, 400);
    CU_ASSERT_FALSE(ka_decision_log_wants(s, 0));
    CU_ASSERT_TRUE(ka_decision_log_wants(s, 1));
    ka_buf_reset(&line);
    CU_ASSERT_EQUAL(ka_decision_log_format(s, KA_ENDPOINT_MUTATE, 0, &line), 0);
    KA_ASSERT_HAS(line.data, "\"status\":400,\"reason\":");
    /* a finding about an aged scan says so (a controller's replacement, admitted) */
    s->http_status = 200;
    s->n_findings = 1;
    s->findings[0] = (struct ka_finding){
        .rule = "image-scan-attestation", .action = KA_ACTION_WARN, .stale = KA_STALE_AGE};
    ka_buf_reset(&line);
    CU_ASSERT_EQUAL(ka_decision_log_format(s, KA_ENDPOINT_VALIDATE, 0, &line), 0);
    KA_ASSERT_HAS(line.data, "\"path\":\"\",\"stale\":\"scan-age\"}");
    /* the exceptions that exempted the object are logged with it (alone they are not reason
     * enough to log: the checklist's own exception applies to every agent pod) */
    s->n_findings = s->n_dropped_findings = 0;
    s->allowed = 1;
    s->n_exemptions = 1;
    s->exemptions[0] = (struct ka_exemption){.rule = "probes-required"};
    snprintf(s->exemptions[0].exception, sizeof(s->exemptions[0].exception), "legacy-web");
    snprintf(s->exemptions[0].reason, sizeof(s->exemptions[0].reason), "vendor \"image\"");
    CU_ASSERT_FALSE(ka_decision_log_wants(s, 0));
    ka_buf_reset(&line);
    CU_ASSERT_EQUAL(ka_decision_log_format(s, KA_ENDPOINT_VALIDATE, 0, &line), 0);
    KA_ASSERT_HAS(line.data, ",\"exempted\":[{\"rule\":\"probes-required\","
                             "\"exception\":\"legacy-web\",\"reason\":"
                             "\"vendor \\\"image\\\"\"}]");
    char ts[40];
    ka_decision_log_time(-1, ts, sizeof(ts));
    CU_ASSERT_STRING_EQUAL(ts, "1969-12-31T23:59:59.999Z");
    ka_buf_free(&line);
    free(s);
}

static void test_write_and_read_back(void)
{
    char *dir = tmpdir();
    char path[512];
    snprintf(path, sizeof(path), "%s/decisions.log", dir);
    struct ka_review_summary *bad = calloc(1, sizeof(*bad)), *good = calloc(1, sizeof(*good));
    review(bad_review, bad);
    review(good_review, good);
    struct ka_decision_log *dl = NULL;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(ka_decision_log_open(&dl, path, 0, 3, 0, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(ka_decision_log_write(dl, bad, KA_ENDPOINT_VALIDATE), 1);
    CU_ASSERT_EQUAL(ka_decision_log_write(dl, good, KA_ENDPOINT_VALIDATE), 0); /* not logged */
    CU_ASSERT_EQUAL(ka_decision_log_write(dl, bad, KA_ENDPOINT_VALIDATE), 1);
    expect_counters(dl, 2, 0);
    ka_decision_log_close(dl);
    /* --decision-log-all logs the clean admission too */
    CU_ASSERT_EQUAL_FATAL(ka_decision_log_open(&dl, path, 0, 3, 1, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(ka_decision_log_write(dl, good, KA_ENDPOINT_MUTATE), 1);
    ka_decision_log_close(dl);
    ka_decision_log_close(NULL);

    struct ka_audit a;
    ka_audit_init(&a, NULL);
    CU_ASSERT_EQUAL(ka_audit_add_decision_log(&a, path), 0);
    KA_EXPECT_ADMISSIONS(&a, .read = 3, .denied = 2, .passed = 1);
    CU_ASSERT_EQUAL(a.items[0].n_findings, bad->n_findings);
    CU_ASSERT_STRING_EQUAL(a.items[2].endpoint, "mutate");
    ka_audit_free(&a);
    free(bad);
    free(good);
    rm_rf(dir);
    free(dir);
}

static void test_rotation(void)
{
    char *dir = tmpdir();
    char path[512], p1[520], p2[520], p3[520];
    snprintf(path, sizeof(path), "%s/d.log", dir);
    snprintf(p1, sizeof(p1), "%s.1", path);
    snprintf(p2, sizeof(p2), "%s.2", path);
    snprintf(p3, sizeof(p3), "%s.3", path);
    struct ka_review_summary *s = calloc(1, sizeof(*s));
    review(bad_review, s);
    struct ka_buf line;
    ka_buf_init(&line, KA_DECISION_LOG_MAX_LINE);
    CU_ASSERT_EQUAL_FATAL(ka_decision_log_format(s, KA_ENDPOINT_VALIDATE, 0, &line), 0);
    size_t per_line = line.len;
    ka_buf_free(&line);
    /* 4 lines per file: 11 lines rotate twice (after lines 4 and 8) and leave 3 in PATH */
    uint64_t max = 4 * per_line - 10;
    struct ka_decision_log *dl = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_decision_log_open(&dl, path, max, 2, 0, NULL, 0), 0);
    for (int i = 0; i < 11; i++) {
        CU_ASSERT_EQUAL(ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE), 1);
    }
    long bad = 0;
    CU_ASSERT_EQUAL(count_good_lines(path, &bad), 3);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(count_good_lines(p1, &bad), 4);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(count_good_lines(p2, &bad), 4);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_NOT_EQUAL(access(p3, F_OK), 0); /* keep 2 */
    /* a third rotation drops the oldest file: still PATH, .1, .2 */
    for (int i = 0; i < 1; i++) {
        CU_ASSERT_EQUAL(ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE), 1);
    }
    CU_ASSERT_EQUAL(count_good_lines(path, &bad), 0);
    CU_ASSERT_EQUAL(count_good_lines(p1, &bad), 4);
    CU_ASSERT_NOT_EQUAL(access(p3, F_OK), 0);
    CU_ASSERT_EQUAL(ka_decision_log_dropped(dl), 0);
    ka_decision_log_close(dl);
    /* keep 0: truncate in place */
    CU_ASSERT_EQUAL_FATAL(ka_decision_log_open(&dl, path, max, 0, 0, NULL, 0), 0);
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE), 1);
    }
    CU_ASSERT_EQUAL(count_good_lines(path, &bad), 1);
    ka_decision_log_close(dl);
    /* bad arguments */
    char err[128] = "";
    CU_ASSERT_EQUAL(ka_decision_log_open(&dl, path, 0, 101, 0, err, sizeof(err)), KA_EINVAL);
    CU_ASSERT_PTR_NULL(dl);
    CU_ASSERT_EQUAL(ka_decision_log_open(&dl, "/nonexistent-dir/x.log", 0, 1, 0, err, sizeof(err)),
                    KA_EIO);
    KA_ASSERT_HAS(err, "/nonexistent-dir/x.log");
    free(s);
    rm_rf(dir);
    free(dir);
}

struct writer_arg {
    struct ka_decision_log *dl;
    const struct ka_review_summary *s;
    int n;
    int ok;
};

static void *writer(void *p)
{
    struct writer_arg *w = p;
    for (int i = 0; i < w->n; i++) {
        w->ok += ka_decision_log_write(w->dl, w->s, KA_ENDPOINT_VALIDATE) == 1;
    }
    return NULL;
}

static void test_concurrent_writers_and_rotation(void)
{
    char *dir = tmpdir();
    char path[512];
    snprintf(path, sizeof(path), "%s/c.log", dir);
    struct ka_review_summary *s = calloc(1, sizeof(*s));
    review(bad_review, s);
    struct ka_decision_log *dl = NULL;
    /* small files, many rotations while 4 threads write */
    CU_ASSERT_EQUAL_FATAL(ka_decision_log_open(&dl, path, 64 * 1024, 100, 0, NULL, 0), 0);
    enum { THREADS = 4, PER = 400 };
    pthread_t t[THREADS];
    struct writer_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct writer_arg){dl, s, PER, 0};
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, writer, &args[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ok += args[i].ok;
    }
    CU_ASSERT_EQUAL(ok, THREADS * PER);
    CU_ASSERT_EQUAL(ka_decision_log_written(dl), THREADS * PER);
    ka_decision_log_close(dl);
    long total = 0, bad = 0, files = 0;
    for (int i = 0; i <= 100; i++) {
        char p[530];
        if (i == 0) {
            snprintf(p, sizeof(p), "%s", path);
        } else {
            snprintf(p, sizeof(p), "%s.%d", path, i);
        }
        long b = 0, n = count_good_lines(p, &b);
        if (n < 0) {
            continue;
        }
        files++;
        total += n;
        bad += b;
    }
    CU_ASSERT_EQUAL(total, THREADS * PER); /* every line, whole, in some file */
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(files > 2);
    free(s);
    rm_rf(dir);
    free(dir);
}

static void test_reopen(void)
{
    char *dir = tmpdir();
    char path[512], moved[530];
    snprintf(path, sizeof(path), "%s/r.log", dir);
    snprintf(moved, sizeof(moved), "%s/r.log.old", dir);
    struct ka_review_summary *s = calloc(1, sizeof(*s));
    review(bad_review, s);
    struct ka_decision_log *dl = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_decision_log_open(&dl, path, 0, 1, 0, NULL, 0), 0);
    CU_ASSERT_EQUAL(ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE), 1);
    CU_ASSERT_EQUAL(rename(path, moved), 0); /* logrotate moves the file... */
    CU_ASSERT_EQUAL(ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE), 1); /* still old file */
    CU_ASSERT_EQUAL(ka_decision_log_reopen(dl), 0);                         /* ...then SIGHUP */
    CU_ASSERT_EQUAL(ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE), 1);
    long bad = 0;
    CU_ASSERT_EQUAL(count_good_lines(moved, &bad), 2);
    CU_ASSERT_EQUAL(count_good_lines(path, &bad), 1);
    ka_decision_log_close(dl);
    free(s);
    rm_rf(dir);
    free(dir);
}

/* kill -9 mid-write left a torn line: the next process starts on a new line, so its first
 * record is whole and the fragment stays one bad line (nothing else is lost) */
static void test_torn_by_crash(void)
{
    char *dir = tmpdir();
    char path[512];
    snprintf(path, sizeof(path), "%s/t.log", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("{\"time\":\"2026-12-05T07:00:00.000Z\",\"uid\":\"torn", f); /* no "\n" */
    fclose(f);
    struct ka_review_summary *s = calloc(1, sizeof(*s));
    review(bad_review, s);
    struct ka_decision_log *dl = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_decision_log_open(&dl, path, 0, 1, 0, NULL, 0), 0);
    CU_ASSERT_EQUAL(ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE), 1);
    CU_ASSERT_EQUAL(ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE), 1);
    ka_decision_log_close(dl);
    long bad = 0;
    CU_ASSERT_EQUAL(count_good_lines(path, &bad), 2);
    CU_ASSERT_EQUAL(bad, 1);
    /* reopened after a whole line: no empty line added */
    CU_ASSERT_EQUAL_FATAL(ka_decision_log_open(&dl, path, 0, 1, 0, NULL, 0), 0);
    CU_ASSERT_EQUAL(ka_decision_log_reopen(dl), 0);
    CU_ASSERT_EQUAL(ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE), 1);
    ka_decision_log_close(dl);
    bad = 0;
    CU_ASSERT_EQUAL(count_good_lines(path, &bad), 3);
    CU_ASSERT_EQUAL(bad, 1);
    free(s);
    rm_rf(dir);
    free(dir);
}

static void test_dev_full_drops(void)
{
    if (access("/dev/full", W_OK) != 0) {
        printf("SKIP: /dev/full not writable\n");
        return;
    }
    struct ka_review_summary *s = calloc(1, sizeof(*s));
    review(bad_review, s);
    struct ka_decision_log *dl = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_decision_log_open(&dl, "/dev/full", 0, 1, 0, NULL, 0), 0);
    for (int i = 0; i < 50; i++) {
        CU_ASSERT(ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE) < 0);
    }
    expect_counters(dl, 0, 50);
    ka_decision_log_close(dl);
    free(s);
}

/* A real full filesystem: a 64 KiB tmpfs. Lines are dropped and counted, never torn into the
 * next one; once space is back, logging resumes with whole lines. */
static void test_tmpfs_enospc(void)
{
    char *dir = tmpdir();
    if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0) {
        printf("SKIP: cannot mount a tmpfs (%s): run as root for the ENOSPC test\n",
               strerror(errno));
        rm_rf(dir);
        free(dir);
        return;
    }
    char path[512], filler[512];
    snprintf(path, sizeof(path), "%s/d.log", dir);
    snprintf(filler, sizeof(filler), "%s/filler", dir);
    struct ka_review_summary *s = calloc(1, sizeof(*s));
    review(bad_review, s);
    /* Fill all but two pages: a few lines fit, then one is cut short at the end of a page. */
    FILE *f = fopen(filler, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    static char block[1024];
    memset(block, 'x', sizeof(block));
    size_t filled = 0;
    while (filled < 56 * 1024 && fwrite(block, 1, sizeof(block), f) == sizeof(block)) {
        filled += sizeof(block);
    }
    fclose(f);
    struct ka_decision_log *dl = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_decision_log_open(&dl, path, 0, 1, 0, NULL, 0), 0);
    int written = 0, dropped = 0;
    for (int i = 0; i < 200; i++) {
        int r = ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE);
        written += r == 1;
        dropped += r < 0;
    }
    CU_ASSERT(written > 0);
    CU_ASSERT(dropped > 0);
    expect_counters(dl, (uint64_t)written, (uint64_t)dropped);
    /* space comes back: the next line is whole and on its own line */
    CU_ASSERT_EQUAL(unlink(filler), 0);
    CU_ASSERT_EQUAL(ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE), 1);
    ka_decision_log_close(dl);
    long bad = 0;
    long good = count_good_lines(path, &bad);
    CU_ASSERT_EQUAL(good, written + 1);
    CU_ASSERT(bad <= 1); /* at most the one torn line */
    struct ka_audit a;
    ka_audit_init(&a, NULL);
    CU_ASSERT_EQUAL(ka_audit_add_decision_log(&a, path), 0);
    struct ka_audit_counts c;
    ka_audit_count(&a, &c);
    CU_ASSERT_EQUAL(c.admissions, (size_t)written + 1);
    CU_ASSERT_EQUAL(c.log_problems, (size_t)bad);
    printf("tmpfs: %d written, %d dropped, %ld torn\n", written, dropped, bad);
    ka_audit_free(&a);
    CU_ASSERT_EQUAL(umount(dir), 0);
    free(s);
    rm_rf(dir);
    free(dir);
}

static void test_stdout(void)
{
    struct ka_review_summary *s = calloc(1, sizeof(*s));
    review(bad_review, s);
    struct ka_decision_log *dl = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_decision_log_open(&dl, "-", 1000, 1, 0, NULL, 0), 0);
    fflush(stdout);
    CU_ASSERT_EQUAL(ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE), 1);
    CU_ASSERT_EQUAL(ka_decision_log_reopen(dl), 0); /* no-op */
    ka_decision_log_close(dl);
    free(s);
}

/* "-" with a reader that never reads: writes never block; once the pipe is full lines are
 * dropped and counted; what got through is whole lines. */
static void test_stdout_stalled_pipe(void)
{
    int fds[2];
    CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    CU_ASSERT_FATAL(saved >= 0);
    CU_ASSERT_FATAL(dup2(fds[1], STDOUT_FILENO) >= 0);
    struct ka_review_summary *s = calloc(1, sizeof(*s));
    review(bad_review, s);
    struct ka_decision_log *dl = NULL;
    int opened = ka_decision_log_open(&dl, "-", 0, 1, 0, NULL, 0);
    int written = 0, dropped = 0;
    for (int i = 0; opened == 0 && i < 400; i++) { /* ~500 KiB into a 64 KiB pipe */
        int r = ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE);
        written += r == 1;
        dropped += r < 0;
    }
    uint64_t counted = ka_decision_log_dropped(dl);
    ka_decision_log_close(dl);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(fds[1]);
    CU_ASSERT_EQUAL_FATAL(opened, 0);
    CU_ASSERT(written > 0);
    CU_ASSERT(dropped > 0);
    CU_ASSERT_EQUAL(counted, (uint64_t)dropped);
    /* the standard output descriptor itself was not made non-blocking */
    CU_ASSERT_EQUAL(fcntl(STDOUT_FILENO, F_GETFL) & O_NONBLOCK, 0);
    /* drain: whole lines only, as many as were written (a torn tail at most) */
    FILE *f = fdopen(fds[0], "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int good = 0, bad = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        cJSON *j = line[n - 1] == '\n' ? cJSON_ParseWithLength(line, (size_t)n) : NULL;
        good += j != NULL;
        bad += j == NULL;
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    CU_ASSERT_EQUAL(good, written);
    CU_ASSERT(bad <= 1);
    printf("stalled pipe: %d written, %d dropped, %d torn\n", written, dropped, bad);
    free(s);
}

static const struct ka_test tests[] = {
    {"line format, no env values, what is logged", test_format},
    {"write and read back with kadmit audit's reader", test_write_and_read_back},
    {"size rotation keeps N files", test_rotation},
    {"4 threads with rotations: every line whole", test_concurrent_writers_and_rotation},
    {"reopen after external rotation", test_reopen},
    {"a line torn by a crash is not glued to the next", test_torn_by_crash},
    {"/dev/full: drops counted", test_dev_full_drops},
    {"full tmpfs: drops counted, no torn follow-up line", test_tmpfs_enospc},
    {"standard output", test_stdout},
    {"standard output to a stalled pipe: drops, never blocks", test_stdout_stalled_pipe},
    {NULL, NULL},
};

KA_TEST_MAIN_WITH_POLICY("decisionlog", tests, ka_test_load_checklist, &policy)
