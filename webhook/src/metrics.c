#include "kadmit/metrics.h"
#include "kadmit/decisionlog.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kadmit/buf.h"
#include "kadmit/error.h"
#include "kadmit/fetch_queue.h"
#include "kadmit/rules.h"
#include "kadmit/version.h"

/* ---------------------------------------------------------------- labelled counter families */

#define LABELS_MAX 320 /* rendered label set, e.g. webhook="validate",kind="Pod",... */

struct series {
    char labels[LABELS_MAX];
    _Atomic uint64_t count;
};

struct family {
    struct series series[KA_METRICS_MAX_SERIES];
    _Atomic size_t n;          /* published entries (release after the entry is written) */
    pthread_mutex_t grow;      /* held only to add an entry */
    _Atomic uint64_t overflow; /* label sets that did not fit */
};

static void family_init(struct family *f)
{
    atomic_init(&f->n, 0);
    atomic_init(&f->overflow, 0);
    pthread_mutex_init(&f->grow, NULL);
}

static void family_free(struct family *f)
{
    pthread_mutex_destroy(&f->grow);
}

static struct series *family_find(struct family *f, const char *labels, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(f->series[i].labels, labels) == 0) {
            return &f->series[i];
        }
    }
    return NULL;
}

static void family_add(struct family *f, const char *labels, uint64_t v)
{
    size_t n = atomic_load_explicit(&f->n, memory_order_acquire);
    struct series *s = family_find(f, labels, n);
    if (s == NULL) {
        pthread_mutex_lock(&f->grow);
        n = atomic_load_explicit(&f->n, memory_order_acquire);
        s = family_find(f, labels, n);
        if (s == NULL && n < KA_METRICS_MAX_SERIES && strlen(labels) < LABELS_MAX) {
            s = &f->series[n];
            snprintf(s->labels, sizeof(s->labels), "%s", labels);
            atomic_init(&s->count, 0);
            atomic_store_explicit(&f->n, n + 1, memory_order_release);
        }
        pthread_mutex_unlock(&f->grow);
    }
    if (s == NULL) {
        atomic_fetch_add_explicit(&f->overflow, v, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&s->count, v, memory_order_relaxed);
}

/* ---------------------------------------------------------------------------- the registry */

static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                 0.025,  0.05,    0.1,    0.25,  0.5,    1.0};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct ka_metrics {
    struct family requests;                           /* webhook, kind, operation, decision */
    struct family rules;                              /* rule, action, result */
    struct family stale;                              /* rule, reason */
    _Atomic uint64_t duration_buckets[N_BUCKETS + 1]; /* last is +Inf; not cumulative */
    _Atomic uint64_t duration_sum_ns;
    _Atomic uint64_t duration_count;
    _Atomic uint64_t reloads_ok;
    _Atomic uint64_t reloads_error;
    _Atomic int64_t last_reload_success;
    _Atomic int64_t cert_expiry;
    /* kadmit_rule_misconfigured: rule ids (static strings) and 0/1, set on each policy load */
    const char *_Atomic misconfigured_rule[KA_METRICS_MAX_MISCONFIGURED];
    _Atomic int misconfigured[KA_METRICS_MAX_MISCONFIGURED];
    int64_t start_time;
    const struct ka_decision_log *decision_log;
    /* the registry fetcher: queued, tracked, dropped, written, none, failed; registry_on once set
     */
    _Atomic uint64_t registry[6];
    _Atomic int registry_on;
};

void ka_metrics_set_decision_log(struct ka_metrics *m, const struct ka_decision_log *dl)
{
    m->decision_log = dl;
}

struct ka_metrics *ka_metrics_new(void)
{
    struct ka_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    family_init(&m->requests);
    family_init(&m->rules);
    family_init(&m->stale);
    /* exported from the start at 0, so increase() sees the first stale admission */
    family_add(&m->stale, "rule=\"image-scan-attestation\",reason=\"scan-age\"", 0);
    family_add(&m->stale, "rule=\"image-scan-attestation\",reason=\"scan-findings\"", 0);
    m->start_time = (int64_t)time(NULL);
    /* Use the kernel's idea of the start time when it is available. */
    FILE *f = fopen("/proc/self/stat", "r");
    FILE *s = fopen("/proc/stat", "r");
    if (f != NULL && s != NULL) {
        char line[1024];
        unsigned long long start_ticks = 0;
        long long btime = 0;
        if (fgets(line, sizeof(line), f) != NULL) {
            const char *p = strrchr(line, ')');
            /* fields after the comm: state is field 3; starttime is field 22 */
            if (p != NULL) {
                p++;
                for (int field = 3; field <= 22 && p != NULL; field++) {
                    p = strchr(p + 1, ' ');
                    if (field == 21 && p != NULL) {
                        start_ticks = strtoull(p + 1, NULL, 10);
                    }
                }
            }
        }
        while (fgets(line, sizeof(line), s) != NULL) {
            if (strncmp(line, "btime ", 6) == 0) {
                btime = strtoll(line + 6, NULL, 10);
            }
        }
        long hz = sysconf(_SC_CLK_TCK);
        if (btime > 0 && hz > 0 && start_ticks > 0) {
            m->start_time = btime + (int64_t)(start_ticks / (unsigned long long)hz);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    if (s != NULL) {
        fclose(s);
    }
    return m;
}

void ka_metrics_free(struct ka_metrics *m)
{
    if (m == NULL) {
        return;
    }
    family_free(&m->requests);
    family_free(&m->rules);
    family_free(&m->stale);
    free(m);
}

/* Append `s` as a Prometheus label value (escaping \, " and newline), at most `max` bytes. */
static void label_value(char *out, size_t out_len, const char *s, const char *fallback)
{
    size_t o = 0;
    if (s == NULL || s[0] == '\0') {
        s = fallback;
    }
    for (size_t i = 0; s[i] != '\0' && o + 3 < out_len; i++) {
        char c = s[i];
        if (c == '\\' || c == '"') {
            out[o++] = '\\';
            out[o++] = c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if ((unsigned char)c < 0x20) {
            out[o++] = '_';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
}

/* One kadmit_stale_admissions_total per admitted request and (rule, reason) among its findings
 * (a dry run admits nothing). */
static void observe_stale(struct ka_metrics *m, const struct ka_review_summary *s)
{
    size_t n = s->n_findings < 64 ? s->n_findings : 64;
    for (size_t i = 0; s->allowed && !s->dry_run && i < n; i++) {
        const struct ka_finding *f = &s->findings[i];
        int seen = f->stale == KA_STALE_NONE;
        for (size_t j = 0; !seen && j < i; j++) {
            seen = s->findings[j].stale == f->stale && strcmp(s->findings[j].rule, f->rule) == 0;
        }
        if (!seen) {
            char rule[96], labels[LABELS_MAX];
            label_value(rule, sizeof(rule), f->rule, "unknown");
            ka_str_join(labels, sizeof(labels), "rule=\"", rule, "\",reason=\"",
                        ka_stale_name(f->stale), "\"", (char *)NULL);
            family_add(&m->stale, labels, 1);
        }
    }
}

void ka_metrics_observe_review(struct ka_metrics *m, enum ka_endpoint ep,
                               const struct ka_review_summary *summary, int result, double seconds)
{
    if (m == NULL) {
        return;
    }
    char kind[80], op[32], rule[96], labels[LABELS_MAX];
    const char *decision = "error";
    if (result == 0 && summary != NULL) {
        decision = summary->namespace_excluded && summary->allowed ? "skipped"
                   : summary->allowed                              ? "allowed"
                                                                   : "denied";
    }
    /* Label values come only from fixed sets: a caller (authenticated or not) chooses the kind
     * and operation it sends, so anything kadmit does not check counts as "other". */
    const char *k = summary != NULL ? summary->kind : NULL;
    label_value(kind, sizeof(kind), ka_kind_from_name(k) != KA_KIND_OTHER ? k : "other", "other");
    static const char *const ops[] = {"CREATE", "UPDATE", "DELETE", "CONNECT"};
    const char *o = "other";
    for (size_t i = 0; summary != NULL && i < sizeof(ops) / sizeof(ops[0]); i++) {
        o = strcmp(summary->operation, ops[i]) == 0 ? ops[i] : o;
    }
    label_value(op, sizeof(op), summary != NULL ? o : NULL, "unknown");
    /* ka_str_join, not snprintf: this runs on every request (snprintf was most of its cost) */
    ka_str_join(labels, sizeof(labels), "webhook=\"", ka_endpoint_name(ep), "\",kind=\"", kind,
                "\",operation=\"", op, "\",decision=\"", decision, "\"", (char *)NULL);
    family_add(&m->requests, labels, 1);

    if (summary != NULL && result == 0) {
        for (size_t i = 0; i < summary->n_findings && i < 64; i++) {
            const struct ka_finding *fd = &summary->findings[i];
            label_value(rule, sizeof(rule), fd->rule, "unknown");
            ka_str_join(labels, sizeof(labels), "rule=\"", rule, "\",action=\"",
                        ka_action_name(fd->action), "\",result=\"",
                        fd->preexisting ? "preexisting" : "violation", "\"", (char *)NULL);
            family_add(&m->rules, labels, 1);
        }
        observe_stale(m, summary);
        /* one per rule that patched the object, however many operations its patch has */
        for (size_t i = 0; i < summary->n_mutations; i++) {
            const char *id = summary->mutations[i].rule;
            size_t j = 0;
            while (j < i && strcmp(summary->mutations[j].rule, id) != 0) {
                j++;
            }
            if (j < i) {
                continue;
            }
            label_value(rule, sizeof(rule), id, "unknown");
            ka_str_join(labels, sizeof(labels), "rule=\"", rule,
                        "\",action=\"mutate\",result=\"patched\"", (char *)NULL);
            family_add(&m->rules, labels, 1);
        }
    }

    if (seconds < 0) {
        seconds = 0;
    }
    size_t b = 0;
    while (b < N_BUCKETS && seconds > buckets[b]) {
        b++;
    }
    atomic_fetch_add_explicit(&m->duration_buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->duration_sum_ns, (uint64_t)(seconds * 1e9), memory_order_relaxed);
    atomic_fetch_add_explicit(&m->duration_count, 1, memory_order_relaxed);
}

void ka_metrics_policy_reload(struct ka_metrics *m, int ok, int64_t when)
{
    if (m == NULL) {
        return;
    }
    if (ok) {
        atomic_fetch_add(&m->reloads_ok, 1);
        atomic_store(&m->last_reload_success, when);
    } else {
        atomic_fetch_add(&m->reloads_error, 1);
    }
}

void ka_metrics_set_cert_expiry(struct ka_metrics *m, int64_t not_after)
{
    if (m != NULL) {
        atomic_store(&m->cert_expiry, not_after);
    }
}

void ka_metrics_set_registry(struct ka_metrics *m, const struct ka_fetch_queue_stats *s)
{
    if (m == NULL) {
        return;
    }
    const size_t v[6] = {s->queued, s->tracked, s->dropped, s->written, s->none, s->failed};
    for (size_t i = 0; i < 6; i++) {
        atomic_store(&m->registry[i], (uint64_t)v[i]);
    }
    atomic_store(&m->registry_on, 1);
}

void ka_metrics_set_misconfigured(struct ka_metrics *m, const char *rule_id, int on)
{
    for (size_t i = 0; m != NULL && i < KA_METRICS_MAX_MISCONFIGURED; i++) {
        const char *id = atomic_load(&m->misconfigured_rule[i]);
        if (id == NULL || strcmp(id, rule_id) == 0) {
            atomic_store(&m->misconfigured[i], on ? 1 : 0);
            atomic_store(&m->misconfigured_rule[i], rule_id); /* only the main thread writes */
            return;
        }
    }
}

/* ------------------------------------------------------------------------------ rendering */

static int render_family(struct ka_buf *out, const char *name, struct family *f,
                         const char *overflow_labels)
{
    int ret = 0;
    size_t n = atomic_load_explicit(&f->n, memory_order_acquire);
    for (size_t i = 0; ret == 0 && i < n; i++) {
        ret = ka_buf_printf(out, "%s{%s} %llu\n", name, f->series[i].labels,
                            (unsigned long long)atomic_load(&f->series[i].count));
    }
    uint64_t ov = atomic_load(&f->overflow);
    if (ret == 0 && ov > 0) {
        ret = ka_buf_printf(out, "%s{%s} %llu\n", name, overflow_labels, (unsigned long long)ov);
    }
    return ret;
}

static void process_stats(double *cpu, unsigned long long *rss, unsigned long long *fds)
{
    *cpu = 0;
    *rss = 0;
    *fds = 0;
    long hz = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/stat", "r");
    if (f != NULL) {
        char line[1024];
        if (fgets(line, sizeof(line), f) != NULL) {
            const char *p = strrchr(line, ')');
            unsigned long long ut = 0, st = 0;
            if (p != NULL) {
                p++; /* at the space before field 3; after iteration k, before field k+1 */
            }
            /* after ")": field 3 state ... field 14 utime, 15 stime, 24 rss */
            for (int field = 3; p != NULL && field <= 24; field++) {
                p = strchr(p + 1, ' ');
                if (p == NULL) {
                    break;
                }
                if (field == 13) {
                    ut = strtoull(p + 1, NULL, 10);
                } else if (field == 14) {
                    st = strtoull(p + 1, NULL, 10);
                } else if (field == 23) {
                    *rss = strtoull(p + 1, NULL, 10) * (unsigned long long)page;
                }
            }
            if (hz > 0) {
                *cpu = (double)(ut + st) / (double)hz;
            }
        }
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] != '.') {
                (*fds)++;
            }
        }
        closedir(d);
        if (*fds > 0) {
            (*fds)--; /* the directory stream's own descriptor */
        }
    }
}

int ka_metrics_render(struct ka_metrics *m, struct ka_buf *out)
{
    int ret = KA_EINTERNAL;
    ret = ka_buf_adds(out, "# HELP kadmit_admission_requests_total Admission requests answered.\n"
                           "# TYPE kadmit_admission_requests_total counter\n");
    if (ret == 0) {
        ret = render_family(out, "kadmit_admission_requests_total", &m->requests,
                            "webhook=\"_other\",kind=\"_other\",operation=\"_other\","
                            "decision=\"_other\"");
    }
    if (ret == 0) {
        ret = ka_buf_adds(out, "# HELP kadmit_admission_duration_seconds Time to review one "
                               "AdmissionReview.\n"
                               "# TYPE kadmit_admission_duration_seconds histogram\n");
    }
    uint64_t cum = 0;
    for (size_t b = 0; ret == 0 && b < N_BUCKETS; b++) {
        cum += atomic_load(&m->duration_buckets[b]);
        ret = ka_buf_printf(out, "kadmit_admission_duration_seconds_bucket{le=\"%g\"} %llu\n",
                            buckets[b], (unsigned long long)cum);
    }
    if (ret == 0) {
        cum += atomic_load(&m->duration_buckets[N_BUCKETS]);
        ret = ka_buf_printf(out,
                            "kadmit_admission_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                            "kadmit_admission_duration_seconds_sum %.9f\n"
                            "kadmit_admission_duration_seconds_count %llu\n",
                            (unsigned long long)cum, (double)atomic_load(&m->duration_sum_ns) / 1e9,
                            (unsigned long long)atomic_load(&m->duration_count));
    }
    if (ret == 0) {
        ret = ka_buf_adds(out, "# HELP kadmit_rule_results_total Rule findings and mutations.\n"
                               "# TYPE kadmit_rule_results_total counter\n");
    }
    if (ret == 0) {
        ret = render_family(out, "kadmit_rule_results_total", &m->rules,
                            "rule=\"_other\",action=\"_other\",result=\"_other\"");
    }
    if (ret == 0) {
        ret = ka_buf_adds(out, "# HELP kadmit_stale_admissions_total Requests admitted although an "
                               "image's scan is older than maxAge (reason scan-age) or over the "
                               "severity limits (scan-findings): controllers' replacements, and "
                               "every such image when the rule's action is warn.\n"
                               "# TYPE kadmit_stale_admissions_total counter\n");
    }
    if (ret == 0) {
        ret = render_family(out, "kadmit_stale_admissions_total", &m->stale,
                            "rule=\"_other\",reason=\"_other\"");
    }
    char misconfigured[KA_METRICS_MAX_MISCONFIGURED * 96] = "";
    for (size_t i = 0, at = 0; i < KA_METRICS_MAX_MISCONFIGURED; i++) {
        const char *id = atomic_load(&m->misconfigured_rule[i]);
        int w = id == NULL ? 0
                           : snprintf(misconfigured + at, sizeof(misconfigured) - at,
                                      "kadmit_rule_misconfigured{rule=\"%.60s\"} %d\n", id,
                                      atomic_load(&m->misconfigured[i]));
        at += w > 0 ? (size_t)w : 0;
    }
    if (ret == 0) {
        ret = ka_buf_printf(
            out,
            "# HELP kadmit_policy_reloads_total Policy loads and reloads by result.\n"
            "# TYPE kadmit_policy_reloads_total counter\n"
            "kadmit_policy_reloads_total{result=\"success\"} %llu\n"
            "kadmit_policy_reloads_total{result=\"error\"} %llu\n"
            "# HELP kadmit_policy_last_reload_success_timestamp_seconds Time of the last good "
            "policy load.\n"
            "# TYPE kadmit_policy_last_reload_success_timestamp_seconds gauge\n"
            "kadmit_policy_last_reload_success_timestamp_seconds %lld\n"
            "# HELP kadmit_tls_certificate_expiry_timestamp_seconds notAfter of the serving "
            "certificate.\n"
            "# TYPE kadmit_tls_certificate_expiry_timestamp_seconds gauge\n"
            "kadmit_tls_certificate_expiry_timestamp_seconds %lld\n"
            "# HELP kadmit_rule_misconfigured 1 when an enforced rule, as configured, denies every "
            "object (e.g. image-scan-attestation without trusted keys).\n"
            "# TYPE kadmit_rule_misconfigured gauge\n"
            "%s"
            "# HELP kadmit_build_info Build information.\n"
            "# TYPE kadmit_build_info gauge\n"
            "kadmit_build_info{version=\"%s\"} 1\n",
            (unsigned long long)atomic_load(&m->reloads_ok),
            (unsigned long long)atomic_load(&m->reloads_error),
            (long long)atomic_load(&m->last_reload_success),
            (long long)atomic_load(&m->cert_expiry), misconfigured, KADMIT_VERSION);
    }
    if (ret == 0 && atomic_load(&m->registry_on)) {
        unsigned long long r[6];
        for (size_t i = 0; i < 6; i++) {
            r[i] = (unsigned long long)atomic_load(&m->registry[i]);
        }
        ret = ka_buf_printf(
            out,
            "# HELP kadmit_registry_fetch_queue Digests waiting for the registry fetcher "
            "(queued) and remembered with their last answer (tracked).\n"
            "# TYPE kadmit_registry_fetch_queue gauge\n"
            "kadmit_registry_fetch_queue{state=\"queued\"} %llu\n"
            "kadmit_registry_fetch_queue{state=\"tracked\"} %llu\n"
            "# HELP kadmit_registry_fetch_dropped_total Denied digests not queued: the fetch "
            "queue was full.\n"
            "# TYPE kadmit_registry_fetch_dropped_total counter\n"
            "kadmit_registry_fetch_dropped_total %llu\n"
            "# HELP kadmit_registry_fetches_total Registry fetches by result: attestations "
            "written, none in the registry, or the registry could not be read.\n"
            "# TYPE kadmit_registry_fetches_total counter\n"
            "kadmit_registry_fetches_total{result=\"written\"} %llu\n"
            "kadmit_registry_fetches_total{result=\"none\"} %llu\n"
            "kadmit_registry_fetches_total{result=\"error\"} %llu\n",
            r[0], r[1], r[2], r[3], r[4], r[5]);
    }
    if (ret == 0) {
        double cpu;
        unsigned long long rss, fds;
        process_stats(&cpu, &rss, &fds);
        ret = ka_buf_printf(out,
                            "# HELP process_cpu_seconds_total User and system CPU time.\n"
                            "# TYPE process_cpu_seconds_total counter\n"
                            "process_cpu_seconds_total %.2f\n"
                            "# HELP process_resident_memory_bytes Resident memory.\n"
                            "# TYPE process_resident_memory_bytes gauge\n"
                            "process_resident_memory_bytes %llu\n"
                            "# HELP process_open_fds Open file descriptors.\n"
                            "# TYPE process_open_fds gauge\n"
                            "process_open_fds %llu\n"
                            "# HELP process_start_time_seconds Start time since the epoch.\n"
                            "# TYPE process_start_time_seconds gauge\n"
                            "process_start_time_seconds %lld\n",
                            cpu, rss, fds, (long long)m->start_time);
    }
    if (ret == 0) {
        ret = ka_decision_log_render_metrics(m->decision_log, out);
    }
    return ret;
}
