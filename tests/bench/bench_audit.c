/*
 * Benchmark: `kadmit audit` on a generated 10,000-object cluster snapshot (kubectl get -o json
 * shape), every renderer, and decision-log write throughput. Prints times and peak memory
 * (getrusage ru_maxrss); asserts nothing about time.
 *
 * Usage: build/bench_audit [OBJECTS] [NAMESPACES]      (default 10000 objects in 50 namespaces)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_time.h"
#include "kadmit/admission.h"
#include "kadmit/audit.h"
#include "kadmit/decisionlog.h"
#include "kadmit/error.h"
#include "kadmit/policy.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One object of a realistic mix; about a third break a rule. */
static int gen_object(struct ka_buf *b, int i, int namespaces)
{
    int ns = i % namespaces;
    int bad = i % 3 == 0;
    const char *res = bad ? ""
                          : ",\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"128Mi\"},"
                            "\"limits\":{\"cpu\":\"500m\",\"memory\":\"256Mi\"}}";
    const char *probes = i % 5 == 0 ? ""
                                    : ",\"readinessProbe\":{\"httpGet\":{\"path\":\"/ready\","
                                      "\"port\":8080}},\"livenessProbe\":{\"httpGet\":{\"path\":"
                                      "\"/live\",\"port\":8080}}";
    const char *image = i % 7 == 0 ? "nginx:latest" : "registry.example/app:1.4.2";
    char container[1024];
    snprintf(container, sizeof(container),
             "{\"name\":\"app\",\"image\":\"%s\",\"ports\":[{\"name\":\"http\",\"containerPort\":"
             "8080}],\"env\":[{\"name\":\"MODE\",\"value\":\"prod\"}]%s%s}",
             image, res, probes);
    char meta[512];
    snprintf(meta, sizeof(meta),
             "\"metadata\":{\"name\":\"obj-%d\",\"namespace\":\"team-%02d\",\"uid\":"
             "\"00000000-0000-4000-8000-%012d\",\"labels\":{\"app\":\"app-%d\"}}",
             i, ns, i, i % 40);
    switch (i % 6) {
    case 0:
    case 1:
        return ka_buf_printf(b,
                             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",%s,\"spec\":{"
                             "\"containers\":[%s]}}",
                             meta, container);
    case 2:
    case 3:
        return ka_buf_printf(b,
                             "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",%s,\"spec\":{"
                             "\"replicas\":2,\"selector\":{\"matchLabels\":{\"app\":\"app-%d\"}},"
                             "\"template\":{\"metadata\":{\"labels\":{\"app\":\"app-%d\"}},"
                             "\"spec\":{\"containers\":[%s]}}}}",
                             meta, i % 40, i % 40, container);
    case 4:
        return ka_buf_printf(b,
                             "{\"apiVersion\":\"autoscaling/v2\",\"kind\":"
                             "\"HorizontalPodAutoscaler\",%s,\"spec\":{\"scaleTargetRef\":{"
                             "\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"x\"},"
                             "\"minReplicas\":2,\"maxReplicas\":5,\"metrics\":[{\"type\":"
                             "\"Resource\",\"resource\":{\"name\":\"cpu\",\"target\":{\"type\":"
                             "\"Utilization\",\"averageUtilization\":70}}}]}}",
                             meta);
    default:
        return ka_buf_printf(b,
                             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",%s,\"spec\":{"
                             "\"ports\":[{\"port\":80}]}}",
                             meta);
    }
}

static double render(const char *name, struct ka_audit *a, int fmt)
{
    struct ka_buf out;
    ka_buf_init(&out, 1024u * 1024u * 1024u);
    double t0 = now_s();
    int ret = fmt == 0   ? ka_audit_render_text(a, &out, 0)
              : fmt == 1 ? ka_audit_render_json(a, &out)
              : fmt == 2 ? ka_audit_render_markdown(a, &out)
              : fmt == 3 ? ka_audit_render_html(a, &out)
                         : ka_audit_render_policyreport(a, &out, 0, 0);
    double t = now_s() - t0;
    printf("  render %-13s %8.3f s  %9.1f KiB%s\n", name, t, (double)out.len / 1024.0,
           ret != 0 ? "  (FAILED)" : "");
    ka_buf_free(&out);
    return t;
}

int main(int argc, char **argv)
{
    int objects = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 10000;
    int namespaces = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 50;
    if (objects <= 0 || namespaces <= 0) {
        fprintf(stderr, "usage: bench_audit [OBJECTS] [NAMESPACES]\n");
        return 2;
    }
    struct ka_policy *policy = NULL;
    if (ka_policy_load_default(NULL, &policy, NULL) != 0) {
        fprintf(stderr, "cannot load the embedded checklist\n");
        return 1;
    }
    struct ka_buf snap;
    ka_buf_init(&snap, 1024u * 1024u * 1024u);
    int ret = ka_buf_adds(&snap, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
    for (int i = 0; ret == 0 && i < objects; i++) {
        ret = i > 0 ? ka_buf_add(&snap, ",\n", 2) : 0;
        ret = ret ? ret : gen_object(&snap, i, namespaces);
    }
    ret = ret ? ret : ka_buf_adds(&snap, "]}\n");
    if (ret != 0) {
        fprintf(stderr, "generating the snapshot: %s\n", ka_strerror(ret));
        return 1;
    }
    char path[] = "/tmp/kadmit-bench-snapshot-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, snap.data, snap.len) != (ssize_t)snap.len) {
        fprintf(stderr, "cannot write the snapshot\n");
        return 1;
    }
    close(fd);
    printf("snapshot: %d objects in %d namespaces, %.1f MiB (%s)\n", objects, namespaces,
           (double)snap.len / 1048576.0, path);
    ka_buf_free(&snap);
    long rss0 = bench_peak_rss_kib();

    struct ka_audit a;
    ka_audit_init(&a, policy);
    a.now = 1795867200;
    double t0 = now_s();
    ret = ka_audit_add_path(&a, path);
    double t_load = now_s() - t0;
    struct ka_audit_counts c;
    ka_audit_count(&a, &c);
    printf("  read + evaluate    %8.3f s  (%.0f objects/s)  %zu evaluated, %zu denied, %zu "
           "skipped, %zu findings%s\n",
           t_load, (double)objects / t_load, c.objects, c.denied, c.skipped, c.findings,
           ret != 0 ? "  (FAILED)" : "");
    static const char *const names[] = {"text", "json", "markdown", "html", "policyreport"};
    for (int f = 0; f < 5; f++) {
        render(names[f], &a, f);
    }
    printf("  peak RSS           %8ld KiB (%ld KiB before the audit)\n", bench_peak_rss_kib(),
           rss0);
    ka_audit_free(&a);
    unlink(path);

    /* decision log: lines/s into a file, with rotation every 8 MiB */
    struct ka_review_summary *s = calloc(1, sizeof(*s));
    static const char body[] =
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
        "\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},\"resource\":"
        "{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},\"namespace\":\"ns\","
        "\"operation\":\"CREATE\",\"userInfo\":{\"username\":\"u\"},\"object\":{\"apiVersion\":"
        "\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{"
        "\"name\":\"c\",\"image\":\"nginx\"}]}}}}";
    struct ka_buf resp;
    ka_buf_init(&resp, 1 << 20);
    if (s == NULL || ka_admission_review(policy, KA_ENDPOINT_VALIDATE, body, strlen(body), NULL,
                                         &resp, s) != 0) {
        fprintf(stderr, "review failed\n");
        return 1;
    }
    ka_buf_free(&resp);
    char dir[] = "/tmp/kadmit-bench-dlog-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    char logpath[128];
    snprintf(logpath, sizeof(logpath), "%s/decisions.log", dir);
    struct ka_decision_log *dl = NULL;
    if (ka_decision_log_open(&dl, logpath, 8u * 1024u * 1024u, 3, 0, NULL, 0) != 0) {
        return 1;
    }
    const int lines = 100000;
    t0 = now_s();
    for (int i = 0; i < lines; i++) {
        (void)ka_decision_log_write(dl, s, KA_ENDPOINT_VALIDATE);
    }
    double t_log = now_s() - t0;
    printf("decision log: %d lines of %zu findings in %.3f s (%.0f lines/s, %.1f us/line), %llu "
           "dropped\n",
           lines, s->n_findings, t_log, lines / t_log, t_log * 1e6 / lines,
           (unsigned long long)ka_decision_log_dropped(dl));
    ka_decision_log_close(dl);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", dir);
    }
    free(s);
    ka_policy_unref(policy);
    return 0;
}
