#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/admission.h"
#include "kadmit/error.h"
#include "kadmit/metrics.h"
#include "ka_test.h"

static char *render(struct ka_metrics *m)
{
    struct ka_buf b;
    ka_buf_init(&b, 1 << 22);
    CU_ASSERT_EQUAL(ka_metrics_render(m, &b), 0);
    return ka_buf_take(&b, NULL);
}

static void summary_of(struct ka_review_summary *s, const char *kind, const char *op, int allowed)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->kind, sizeof(s->kind), "%s", kind);
    snprintf(s->operation, sizeof(s->operation), "%s", op);
    s->allowed = allowed;
}

static void test_counts_and_histogram(void)
{
    struct ka_metrics *m = ka_metrics_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    struct ka_review_summary s;
    summary_of(&s, "Pod", "CREATE", 0);
    s.n_findings = 2;
    s.findings[0].rule = "probes-required";
    s.findings[0].action = KA_ACTION_ENFORCE;
    s.findings[1].rule = "probes-required";
    s.findings[1].action = KA_ACTION_ENFORCE;
    s.findings[1].preexisting = 1;
    s.n_mutations = 1;
    s.mutations[0].rule = "default-seccomp";
    ka_metrics_observe_review(m, KA_ENDPOINT_VALIDATE, &s, 0, 0.0002);
    ka_metrics_observe_review(m, KA_ENDPOINT_VALIDATE, &s, 0, 0.003);
    summary_of(&s, "Deployment", "UPDATE", 1);
    ka_metrics_observe_review(m, KA_ENDPOINT_MUTATE, &s, 0, 2.0);
    ka_metrics_observe_review(m, KA_ENDPOINT_VALIDATE, NULL, KA_EREVIEW, 0.00001);
    ka_metrics_policy_reload(m, 1, 1700000000);
    ka_metrics_policy_reload(m, 0, 0);
    ka_metrics_policy_reload(m, 0, 0);
    ka_metrics_set_cert_expiry(m, 1800000000);

    char *t = render(m);
    const char *want[] = {
        "# TYPE kadmit_admission_requests_total counter\n",
        "kadmit_admission_requests_total{webhook=\"validate\",kind=\"Pod\",operation=\"CREATE\","
        "decision=\"denied\"} 2\n",
        "kadmit_admission_requests_total{webhook=\"mutate\",kind=\"Deployment\","
        "operation=\"UPDATE\",decision=\"allowed\"} 1\n",
        "kadmit_admission_requests_total{webhook=\"validate\",kind=\"other\","
        "operation=\"unknown\",decision=\"error\"} 1\n",
        "# TYPE kadmit_admission_duration_seconds histogram\n",
        "kadmit_admission_duration_seconds_bucket{le=\"0.0001\"} 1\n",
        "kadmit_admission_duration_seconds_bucket{le=\"0.00025\"} 2\n",
        "kadmit_admission_duration_seconds_bucket{le=\"0.005\"} 3\n",
        "kadmit_admission_duration_seconds_bucket{le=\"1\"} 3\n",
        "kadmit_admission_duration_seconds_bucket{le=\"+Inf\"} 4\n",
        "kadmit_admission_duration_seconds_count 4\n",
        "kadmit_rule_results_total{rule=\"probes-required\",action=\"enforce\","
        "result=\"violation\"} 2\n",
        "kadmit_rule_results_total{rule=\"probes-required\",action=\"enforce\","
        "result=\"preexisting\"} 2\n",
        "kadmit_rule_results_total{rule=\"default-seccomp\",action=\"mutate\","
        "result=\"patched\"} 2\n",
        "kadmit_policy_reloads_total{result=\"success\"} 1\n",
        "kadmit_policy_reloads_total{result=\"error\"} 2\n",
        "kadmit_policy_last_reload_success_timestamp_seconds 1700000000\n",
        "kadmit_tls_certificate_expiry_timestamp_seconds 1800000000\n",
        "kadmit_build_info{version=\"",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_cpu_seconds_total ",
        "process_start_time_seconds ",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(t, want[i]) == NULL) {
            fprintf(stderr, "missing: %s\n", want[i]);
        }
        CU_ASSERT_PTR_NOT_NULL(strstr(t, want[i]));
    }
    /* every sample line is NAME{...} VALUE or NAME VALUE; process values are sane */
    const char *p = strstr(t, "\nprocess_resident_memory_bytes ");
    CU_ASSERT(p != NULL && strtoull(p + 31, NULL, 10) > 0);
    p = strstr(t, "\nprocess_open_fds ");
    CU_ASSERT(p != NULL && strtoull(p + 18, NULL, 10) >= 3);
    p = strstr(t, "\nprocess_start_time_seconds ");
    CU_ASSERT(p != NULL && strtoll(p + 28, NULL, 10) > 1600000000);
    free(t);
    ka_metrics_free(m);
    ka_metrics_free(NULL);
}

static void test_hostile_labels_are_escaped_and_bounded(void)
{
    struct ka_metrics *m = ka_metrics_new();
    struct ka_review_summary s;
    summary_of(&s, "Evil\"Kind\\\n", "CREATE", 1);
    ka_metrics_observe_review(m, KA_ENDPOINT_VALIDATE, &s, 0, 0.001);
    /* a caller sending made-up kinds and operations creates no series (series flood) */
    for (int i = 0; i < KA_METRICS_MAX_SERIES + 50; i++) {
        char kind[32], op[32];
        snprintf(kind, sizeof(kind), "Kind%d", i);
        snprintf(op, sizeof(op), "OP%d", i);
        summary_of(&s, kind, op, 1);
        ka_metrics_observe_review(m, KA_ENDPOINT_VALIDATE, &s, 0, 0.001);
    }
    /* so a real denial after the flood is still counted under its own labels */
    summary_of(&s, "Pod", "CREATE", 0);
    ka_metrics_observe_review(m, KA_ENDPOINT_VALIDATE, &s, 0, 0.001);
    char *t = render(m);
    KA_ASSERT_LACKS(t, "Evil", "Kind1",
                    "kind=\"_other\",operation=\"_other\",decision=\"_other\"} 1");
    KA_ASSERT_HAS(t, "kind=\"other\",operation=\"other\"",
                  "kind=\"Pod\",operation=\"CREATE\",decision=\"denied\"} 1");
    size_t n = 0;
    for (const char *p = t; (p = strstr(p, "\nkadmit_admission_requests_total{")) != NULL; p++) {
        n++;
    }
    CU_ASSERT(n <= 4);
    free(t);
    ka_metrics_free(m);
}

/* One count per admitted request and (rule, reason); denied requests and dry runs admit
 * nothing. Both series exist at 0 before the first stale admission (for increase()). */
static void test_stale_admissions(void)
{
    struct ka_metrics *m = ka_metrics_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    char *t = render(m);
    KA_ASSERT_HAS(t, "\nkadmit_stale_admissions_total{rule=\"image-scan-"
                     "attestation\",reason=\"scan-age\"} 0\n");
    free(t);
    struct ka_review_summary s;
    summary_of(&s, "Pod", "CREATE", 1);
    s.n_findings = 3;
    for (size_t i = 0; i < 3; i++) {
        s.findings[i].rule = "image-scan-attestation";
        s.findings[i].action = KA_ACTION_WARN;
        s.findings[i].stale = i < 2 ? KA_STALE_AGE : KA_STALE_FINDINGS;
    }
    ka_metrics_observe_review(m, KA_ENDPOINT_VALIDATE, &s, 0, 0.0001); /* age 1, findings 1 */
    s.findings[2].stale = KA_STALE_NONE;
    ka_metrics_observe_review(m, KA_ENDPOINT_VALIDATE, &s, 0, 0.0001); /* age 2 */
    s.dry_run = 1;
    ka_metrics_observe_review(m, KA_ENDPOINT_VALIDATE, &s, 0, 0.0001);
    s.dry_run = 0;
    s.allowed = 0;
    ka_metrics_observe_review(m, KA_ENDPOINT_VALIDATE, &s, 0, 0.0001);
    t = render(m);
    KA_ASSERT_HAS(t, "# TYPE kadmit_stale_admissions_total counter\n",
                  "\nkadmit_stale_admissions_total{rule=\"image-scan-"
                  "attestation\",reason=\"scan-age\"} 2\n",
                  "\nkadmit_stale_admissions_total{rule=\"image-scan-"
                  "attestation\",reason=\"scan-findings\"} 1\n");
    free(t);
    ka_metrics_free(m);
}

static void test_render_respects_ceiling(void)
{
    struct ka_metrics *m = ka_metrics_new();
    struct ka_buf b;
    ka_buf_init(&b, 100);
    CU_ASSERT_EQUAL(ka_metrics_render(m, &b), KA_ELIMIT);
    ka_buf_free(&b);
    ka_metrics_free(m);
}

static const struct ka_test tests[] = {
    {"counts and histogram", test_counts_and_histogram},
    {"hostile labels escaped and bounded", test_hostile_labels_are_escaped_and_bounded},
    {"render respects the buffer ceiling", test_render_respects_ceiling},
    {"stale admissions", test_stale_admissions},
    {NULL, NULL},
};

KA_TEST_MAIN("metrics", tests)
