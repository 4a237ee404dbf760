/*
 * `kadmit serve`: the admission webhook server.
 *
 * flags/env -> config -> TLS certificate + policy snapshot -> server (tls + HTTP + metrics),
 * then a signal loop on the main thread: every second it polls the certificate, key, client CA,
 * policy and attestation files for changes (stat follows the symlinks that cert-manager and the
 * kubelet swap) and reloads them; SIGHUP forces a reload; SIGTERM/SIGINT drain and exit.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "kadmit/admission.h"
#include "kadmit/cli.h"
#include "kadmit/decisionlog.h"
#include "kadmit/config.h"
#include "kadmit/error.h"
#include "kadmit/fetch_queue.h"
#include "kadmit/file.h"
#include "kadmit/log.h"
#include "kadmit/metrics.h"
#include "kadmit/policy.h"
#include "kadmit/registry.h"
#include "kadmit/rules.h"
#include "kadmit/server.h"
#include "kadmit/tls.h"
#include "kadmit/version.h"

struct serve {
    struct ka_config cfg;
    struct ka_policy_holder policy;
    struct ka_tls_holder tls;
    struct ka_metrics *metrics;
    struct ka_decision_log *decision_log;
    struct ka_fetch_queue *fetch_queue;  /* --attestation-source registry, else NULL */
    struct ka_registry_fetcher *fetcher; /* takes from fetch_queue */
    uint64_t policy_fingerprint;
    uint64_t tls_fingerprint;
};

/* ============================================================================ admission */

static double elapsed_s(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void log_admission(const struct ka_review_summary *sm, enum ka_endpoint ep, int ret,
                          double seconds)
{
    /* Clean admissions are the bulk of the traffic: logged at debug (the decision log and the
     * metrics count them); denials, warnings and findings at info; errors at warn. The level is
     * checked before anything is formatted. */
    enum ka_log_level level = ret != 0                               ? KA_LOG_WARN
                              : (!sm->allowed || sm->n_findings > 0) ? KA_LOG_INFO
                                                                     : KA_LOG_DEBUG;
    if (level < ka_log_threshold) {
        return;
    }
    struct ka_buf f;
    ka_buf_init(&f, 16 * 1024);
    const char *decision = ret != 0 ? "error" : (sm->allowed ? "allowed" : "denied");
    int r = ka_buf_add_json_member(&f, "webhook", ka_endpoint_name(ep), 0);
    r = r ? r : ka_buf_add_json_member(&f, "uid", sm->uid, 1);
    r = r ? r : ka_buf_add_json_member(&f, "kind", sm->kind, 1);
    r = r ? r : ka_buf_add_json_member(&f, "namespace", sm->namespace_, 1);
    r = r ? r : ka_buf_add_json_member(&f, "name", sm->name, 1);
    r = r ? r : ka_buf_add_json_member(&f, "operation", sm->operation, 1);
    if (r == 0) {
        r = ka_buf_printf(&f, ",\"dryRun\":%s,\"decision\":\"%s\",\"rules\":[",
                          sm->dry_run ? "true" : "false", decision);
    }
    size_t listed = 0;
    for (size_t i = 0; r == 0 && i < sm->n_findings && i < 64; i++) {
        const char *rule = sm->findings[i].rule != NULL ? sm->findings[i].rule : "";
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) {
            seen = sm->findings[j].rule != NULL && strcmp(sm->findings[j].rule, rule) == 0;
        }
        if (seen) {
            continue;
        }
        if (listed++ > 0) {
            r = ka_buf_add(&f, ",", 1);
        }
        if (r == 0) {
            r = ka_buf_add_json_string(&f, rule, strlen(rule));
        }
    }
    if (r == 0) {
        r = ka_buf_printf(&f, "],\"duration_ms\":%.3f", seconds * 1000.0);
    }
    if (r == 0 && ret != 0) {
        r = ka_buf_add_json_member(&f, "reason", sm->reason, 1);
    }
    if (r == 0) {
        KA_LOG(level, f.data, "admission");
    }
    ka_buf_free(&f);
}

static int serve_handler(void *ctx, enum ka_endpoint ep, const char *body, size_t len,
                         int client_cert_verified, struct ka_buf *response, int *http_status)
{
    struct serve *sv = ctx;
    int ret = KA_EINTERNAL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* ~80 KB; ka_admission_review() resets only what it reads, so no calloc (no zeroing). */
    struct ka_review_summary *sm = malloc(sizeof(*sm));
    struct ka_policy *policy = ka_policy_holder_get(&sv->policy);
    if (sm == NULL || policy == NULL) {
        ret = sm == NULL ? KA_ENOMEM : KA_EINTERNAL;
        goto exit;
    }
    struct ka_review_opts opts = {.max_depth = (unsigned)sv->cfg.max_json_depth,
                                  .max_values = sv->cfg.max_json_values,
                                  .fetch_queue = sv->fetch_queue};
    ret = ka_admission_review(policy, ep, body, len, &opts, response, sm);
    sm->client_cert_verified = client_cert_verified;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = elapsed_s(&t0, &t1);
    ka_metrics_observe_review(sv->metrics, ep, sm, ret, seconds);
    log_admission(sm, ep, ret, seconds);
    (void)ka_decision_log_write(sv->decision_log, sm, ep); /* never fails the admission */
    if (ret == 0) {
        *http_status = 200;
    } else if (ret == KA_EREVIEW) {
        *http_status = 400; /* response holds the short reason */
        if (response->len == 0 || response->data[response->len - 1] != '\n') {
            int r = ka_buf_add(response, "\n", 1);
            (void)r;
        }
        ret = 0;
    }
exit:
    ka_policy_unref(policy);
    free(sm);
    return ret;
}

static int serve_ready(void *ctx, char *why, size_t why_len)
{
    struct serve *sv = ctx;
    struct ka_policy *p = ka_policy_holder_get(&sv->policy);
    int ready = p != NULL;
    ka_policy_unref(p);
    if (!ready) {
        snprintf(why, why_len, "no policy loaded");
    }
    return ready;
}

/* ============================================================================== reloads */

/* The files behind a snapshot: the policy path, --attestations and what `p` was built from
 * (the rules' attestation and key directories; NULL: none yet). */
static uint64_t policy_files_fingerprint(const struct serve *sv, const struct ka_policy *p)
{
    uint64_t h =
        ka_file_fingerprint(ka_file_fingerprint(0, sv->cfg.policies), sv->cfg.attestations);
    const char *paths[16];
    size_t n = ka_policy_watch_paths(p, paths, 16);
    for (size_t i = 0; i < n; i++) {
        h = ka_file_fingerprint(h, paths[i]);
    }
    return h;
}

/* Load a new policy snapshot and publish it; a bad one is refused and the old one kept. */
/*
 * Rules that, as configured, deny every object (image-scan-attestation without trusted keys):
 * set kadmit_rule_misconfigured for each rule that can say so, and when `log` log each one at
 * error level (serve calls this on every load and every minute: never a silent deny-all).
 */
static void report_misconfigured(struct serve *sv, int log)
{
    struct ka_policy *p = ka_policy_holder_get(&sv->policy);
    size_t n = 0;
    const struct ka_rule *rules = p != NULL ? ka_policy_rules(p, &n) : NULL;
    for (size_t i = 0; i < n; i++) {
        const struct ka_rule *r = &rules[i];
        if (r->def->denies_all == NULL) {
            continue;
        }
        const char *why = r->action == KA_ACTION_ENFORCE ? r->def->denies_all(r) : NULL;
        ka_metrics_set_misconfigured(sv->metrics, r->def->id, why != NULL);
        if (why != NULL && log) {
            KA_LOG_E("rule %s is enforced but denies every object: %s (see deploy/README.md, "
                     "Install)",
                     r->def->id, why);
        }
    }
    ka_policy_unref(p);
}

static int reload_policy(struct serve *sv, const char *why)
{
    int ret = KA_EINTERNAL;
    struct ka_buf diag;
    ka_buf_init(&diag, 64 * 1024);
    struct ka_policy *p = NULL;
    struct ka_policy *previous = ka_policy_holder_get(&sv->policy); /* unchanged parts reused */
    struct ka_rule_override override;
    char *override_json = NULL;
    struct ka_policy_load_opts opts = {.max_depth = (unsigned)sv->cfg.max_json_depth,
                                       .previous = previous};
    if (sv->cfg.attestations[0] != '\0') {
        ret = ka_cli_attestations_override(sv->cfg.attestations, &override, &override_json);
        if (ret != 0) {
            ka_policy_unref(previous);
            ka_buf_free(&diag);
            return ret;
        }
        opts.overrides = &override;
        opts.n_overrides = 1;
    }
    /* Taken before loading, so a change made while loading is seen at the next check. */
    uint64_t before = policy_files_fingerprint(sv, previous);
    sv->policy_fingerprint = before;
    if (sv->cfg.policies[0] != '\0') {
        ret = ka_policy_load_path(sv->cfg.policies, &opts, &p, &diag);
    } else {
        ret = ka_policy_load_default(&opts, &p, &diag);
    }
    struct ka_buf f;
    ka_buf_init(&f, 70 * 1024);
    const char *src =
        ret == 0 ? ka_policy_source(p) : (sv->cfg.policies[0] ? sv->cfg.policies : "(embedded)");
    int r = ka_buf_add_json_member(&f, "source", src, 0);
    if (r == 0 && diag.len > 0) {
        r = ka_buf_adds(&f, ",\"diagnostics\":");
        if (r == 0) {
            r = ka_buf_add_json_string(&f, diag.data, diag.len);
        }
    }
    if (ret == 0) {
        /* The new snapshot may watch other files (the first load learns the key files and the
         * attestation directory): fingerprint those, unless the old ones changed meanwhile. */
        if (policy_files_fingerprint(sv, previous) == before) {
            sv->policy_fingerprint = policy_files_fingerprint(sv, p);
        }
        ka_policy_holder_set(&sv->policy, p);
        ka_metrics_policy_reload(sv->metrics, 1, (int64_t)time(NULL));
        KA_LOG(KA_LOG_INFO, r == 0 ? f.data : NULL, "policy loaded (%s)", why);
        report_misconfigured(sv, 1);
    } else {
        ka_metrics_policy_reload(sv->metrics, 0, 0);
        KA_LOG(KA_LOG_ERROR, r == 0 ? f.data : NULL,
               "policy %s refused: %s; the previous policy keeps serving", why, ka_strerror(ret));
    }
    ka_buf_free(&f);
    ka_buf_free(&diag);
    cJSON_free(override_json);
    ka_policy_unref(previous);
    return ret;
}

/* The private key must not be readable by others, nor by a group kadmit does not run as (the
 * kubelet mounts Secrets root:fsGroup, mode 0440, which is kadmit's own group). KA_EINVAL with
 * the reason in diag, unless --allow-insecure-key-mode 1. */
static int check_key_mode(const struct ka_config *cfg, struct ka_buf *diag)
{
    struct stat st;
    if (cfg->allow_insecure_key_mode || stat(cfg->tls_key, &st) != 0) {
        return 0; /* a missing key is reported by the loader */
    }
    int others = (st.st_mode & 0004) != 0;
    int foreign_group = (st.st_mode & 0040) != 0 && st.st_gid != getegid();
    if (!others && !foreign_group) {
        return 0;
    }
    int ret = ka_buf_printf(diag,
                            "%s: private key is readable by %s (mode %04o); make it 0600 or 0640 "
                            "with kadmit's group (or pass --allow-insecure-key-mode 1)",
                            cfg->tls_key, others ? "everyone" : "another group",
                            (unsigned)(st.st_mode & 07777));
    (void)ret;
    return KA_EINVAL;
}

/* Load the certificate and publish it; a bad pair is refused and the old one kept. */
static int reload_tls(struct serve *sv, const char *why)
{
    struct ka_buf diag;
    ka_buf_init(&diag, 4096);
    struct ka_tls_config *tc = NULL;
    sv->tls_fingerprint =
        ka_tls_files_fingerprint(sv->cfg.tls_cert, sv->cfg.tls_key, sv->cfg.client_ca);
    int ret = check_key_mode(&sv->cfg, &diag);
    if (ret == 0) {
        ret = ka_tls_config_load(sv->cfg.tls_cert, sv->cfg.tls_key, sv->cfg.client_ca, &tc, &diag);
    }
    if (ret == 0) {
        ret = ka_tls_config_set_min_version(tc, ka_config_tls_version(sv->cfg.tls_min_version));
    }
    if (ret != 0) {
        ka_tls_config_unref(tc);
        tc = NULL;
    }
    if (ret == 0) {
        int64_t not_after = ka_tls_config_not_after(tc);
        ka_metrics_set_cert_expiry(sv->metrics, not_after);
        ka_tls_holder_set(&sv->tls, tc);
        char fields[96];
        snprintf(fields, sizeof(fields), "\"notAfter\":%lld", (long long)not_after);
        KA_LOG(KA_LOG_INFO, fields, "TLS certificate loaded (%s)", why);
        if (not_after < (int64_t)time(NULL)) {
            KA_LOG_W("TLS certificate has expired; /readyz reports not ready");
        }
    } else {
        struct ka_tls_config *serving = ka_tls_holder_get(&sv->tls);
        KA_LOG_E("TLS certificate %s refused: %s%s", why,
                 diag.data != NULL ? diag.data : ka_strerror(ret),
                 serving != NULL ? "; the previous certificate keeps serving" : "");
        ka_tls_config_unref(serving);
    }
    ka_buf_free(&diag);
    return ret;
}

/* The background registry fetcher: admission queues the digests it denies, the fetcher writes
 * what their registries hold into --attestations, and the reload picks it up. */
static int start_fetcher(struct serve *sv)
{
    struct ka_registry_opts o;
    ka_registry_opts_init(&o);
    o.auth_file = sv->cfg.registry_auth[0] != '\0' ? sv->cfg.registry_auth : NULL;
    o.ca_file = sv->cfg.registry_ca_file[0] != '\0' ? sv->cfg.registry_ca_file : NULL;
    o.timeout_s = (long)sv->cfg.registry_timeout;
    o.plain_http = sv->cfg.registry_plain_http != 0;
    o.allowed_hosts = sv->cfg.registry_hosts;
    int ret = ka_fetch_queue_new((int64_t)sv->cfg.registry_refresh, &sv->fetch_queue);
    if (ret == 0) { /* refused at the miss: the first denial says so, the queue stays free */
        ka_fetch_queue_set_filter(sv->fetch_queue, ka_registry_image_allowed,
                                  sv->cfg.registry_hosts);
    }
    const char *images = sv->cfg.registry_images[0] != '\0' ? sv->cfg.registry_images : NULL;
    ret = ret ? ret
              : ka_registry_fetcher_start(sv->fetch_queue, sv->cfg.attestations, &o, images,
                                          &sv->fetcher);
    if (ret == 0) {
        KA_LOG_I("registry fetcher: denied digests are fetched into %s (refresh every %lus)",
                 sv->cfg.attestations, sv->cfg.registry_refresh);
    }
    return ret;
}

/* ================================================================================ command */

static void serve_usage(FILE *f)
{
    static const struct ka_cli_usage usage = {
        "kadmit serve --tls-cert FILE --tls-key FILE [flags]",
        "Runs the HTTPS admission webhook. Every flag can also be set by its environment\n"
        "variable; flags win.\n",
        "Signals: SIGHUP reloads certificate and policies; SIGTERM/SIGINT drain and exit.\n"};
    ka_cli_settings_usage(f, &usage);
}

int ka_cmd_serve(int argc, char **argv)
{
    int rc = 2;
    char err[512];
    struct serve sv;
    struct ka_server *server = NULL;
    struct ka_buf diag;
    memset(&sv, 0, sizeof(sv));
    ka_policy_holder_init(&sv.policy);
    ka_tls_holder_init(&sv.tls);
    ka_buf_init(&diag, 4096);
    int done = ka_config_from_args(&sv.cfg, argc, argv, "kadmit serve", serve_usage);
    if (done >= 0) {
        rc = done;
        goto exit;
    }
    sv.metrics = ka_metrics_new();
    if (sv.metrics == NULL) {
        fprintf(stderr, "kadmit serve: out of memory\n");
        goto exit;
    }
    if (sv.cfg.decision_log[0] != '\0' &&
        ka_decision_log_open(&sv.decision_log, sv.cfg.decision_log, sv.cfg.decision_log_max_bytes,
                             (unsigned)sv.cfg.decision_log_keep, sv.cfg.decision_log_all != 0, err,
                             sizeof(err)) != 0) {
        fprintf(stderr, "kadmit serve: %s\n", err);
        goto exit;
    }
    ka_metrics_set_decision_log(sv.metrics, sv.decision_log);
    if (reload_tls(&sv, "at startup") != 0) {
        fprintf(stderr,
                "kadmit serve: no certificate to serve: cannot load --tls-cert %s and "
                "--tls-key %s; make them with `kadmit certs --out-dir DIR` (add --ip or "
                "--dns for this host) and pass --tls-cert DIR/tls.crt --tls-key "
                "DIR/tls.key\n",
                sv.cfg.tls_cert, sv.cfg.tls_key);
        goto exit;
    }
    if (reload_policy(&sv, "at startup") != 0) {
        fprintf(stderr, "kadmit serve: cannot load --policies\n");
        goto exit;
    }

    /* Signals are taken synchronously by this thread; every other thread blocks them. */
    sigset_t set;
    ka_server_block_signals(&set);
    if (strcmp(sv.cfg.attestation_source, "registry") == 0 && start_fetcher(&sv) != 0) {
        fprintf(stderr, "kadmit serve: cannot start the registry fetcher: out of memory\n");
        goto exit;
    }

    struct ka_server_opts opts = {.config = &sv.cfg,
                                  .tls = &sv.tls,
                                  .metrics = sv.metrics,
                                  .handler = serve_handler,
                                  .handler_ctx = &sv,
                                  .ready = serve_ready,
                                  .ready_ctx = &sv};
    int ret = ka_server_start(&opts, &server, &diag);
    if (ret != 0) {
        fprintf(stderr, "kadmit serve: %s\n", diag.data != NULL ? diag.data : ka_strerror(ret));
        goto exit;
    }
    {
        char fields[128];
        snprintf(fields, sizeof(fields), "\"port\":%u,\"metricsPort\":%u", ka_server_port(server),
                 ka_server_metrics_port(server));
        KA_LOG(KA_LOG_INFO, fields, "kadmit %s serving on %s (metrics on %s; Mbed TLS %s, TLS %s+)",
               KADMIT_VERSION, sv.cfg.listen, sv.cfg.metrics_listen, ka_tls_library_version(),
               sv.cfg.tls_min_version);
    }

    for (unsigned ticks = 1;; ticks++) {
        /* the fetcher's series are there from the first scrape, then follow it each second */
        if (sv.fetch_queue != NULL) {
            struct ka_fetch_queue_stats st;
            ka_fetch_queue_stats(sv.fetch_queue, &st);
            ka_metrics_set_registry(sv.metrics, &st);
        }
        struct timespec tick = {1, 0};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (ticks % 60 == 0) {
            report_misconfigured(&sv, 1);
        }
        if (sig == SIGTERM || sig == SIGINT) {
            break;
        }
        if (sig == SIGHUP) {
            KA_LOG_I("SIGHUP: reloading certificate and policy");
            int r = reload_tls(&sv, "on SIGHUP");
            r = reload_policy(&sv, "on SIGHUP");
            if (ka_decision_log_reopen(sv.decision_log) != 0) {
                KA_LOG_W("decision log: cannot reopen %s", sv.cfg.decision_log);
            }
            (void)r;
            continue;
        }
        if (ka_tls_files_fingerprint(sv.cfg.tls_cert, sv.cfg.tls_key, sv.cfg.client_ca) !=
            sv.tls_fingerprint) {
            int r = reload_tls(&sv, "after a file change");
            (void)r;
        }
        struct ka_policy *current = ka_policy_holder_get(&sv.policy);
        uint64_t fingerprint = policy_files_fingerprint(&sv, current);
        ka_policy_unref(current);
        if (fingerprint != sv.policy_fingerprint) {
            int r = reload_policy(&sv, "after a file change");
            (void)r;
        }
    }

    KA_LOG_I("draining: %ld connections open, up to %lus", ka_server_connections(server),
             sv.cfg.drain_timeout);
    ka_server_drain(server);
    if (ka_server_wait_drained(server, (long)sv.cfg.drain_timeout * 1000) != 0) {
        KA_LOG_W("drain timeout: closing %ld connections", ka_server_connections(server));
    } else {
        KA_LOG_I("drained");
    }
    rc = 0;
exit:
    ka_server_free(server);
    ka_registry_fetcher_stop(sv.fetcher);
    ka_fetch_queue_free(sv.fetch_queue);
    ka_decision_log_close(sv.decision_log);
    ka_tls_holder_free(&sv.tls);
    ka_policy_holder_free(&sv.policy);
    ka_metrics_free(sv.metrics);
    ka_buf_free(&diag);
    return rc;
}
