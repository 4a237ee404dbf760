/*
 * Prometheus metrics: lock-cheap counters and a text-format renderer.
 *
 * Counters are atomics; a labelled series is found by a lock-free scan of a bounded table and
 * created under a mutex the first time it is seen. Every label value comes from a fixed set
 * (webhook, the kinds kadmit checks or "other", the four operations or "other", decision, rule
 * ids, actions), so no caller can create series: the families stay below KA_METRICS_MAX_SERIES
 * (2 x 11 x 5 x 3 = 330 request series). Past it, label sets would count under "_other".
 *
 * Ownership: ka_metrics_new() returns an object the caller frees with ka_metrics_free(). All
 * other functions are thread-safe.
 */
#ifndef KADMIT_METRICS_H
#define KADMIT_METRICS_H

#include <stdint.h>

#include "kadmit/admission.h"
#include "kadmit/buf.h"

#define KA_METRICS_MAX_SERIES 512

struct ka_metrics; /* opaque */

/** Create the registry (records the process start time). NULL on out of memory. */
struct ka_metrics *ka_metrics_new(void);
void ka_metrics_free(struct ka_metrics *m);

/**
 * Count one admission request. `result` is ka_admission_review()'s return code: 0 counts
 * decision allowed/denied from summary->allowed (skipped: allowed in an excluded namespace), any
 * other code counts decision="error". `summary` may be NULL (then kind and operation are
 * "unknown"). Each finding counts one kadmit_rule_results_total{rule,action,
 * result="violation"|"preexisting"}, each rule that patched the object one
 * {rule,action="mutate",result="patched"} (not one per patch operation). An admitted request (not a
 * dry run) counts one kadmit_stale_admissions_total{rule,reason} per rule and stale reason among
 * its findings (enum ka_stale: scan-age, scan-findings). `seconds` goes into the duration
 * histogram.
 */
void ka_metrics_observe_review(struct ka_metrics *m, enum ka_endpoint ep,
                               const struct ka_review_summary *summary, int result, double seconds);

/** Count a policy reload; on success also sets the last-success timestamp to `when`. */
void ka_metrics_policy_reload(struct ka_metrics *m, int ok, int64_t when);

#define KA_METRICS_MAX_MISCONFIGURED 16 /* rules with a kadmit_rule_misconfigured series */

/**
 * Set kadmit_rule_misconfigured{rule=rule_id} to 1 (`on`) or 0. `rule_id` must outlive the
 * metrics (a ka_rule_def's id). Called from one thread (the policy loader); renders are safe.
 */
void ka_metrics_set_misconfigured(struct ka_metrics *m, const char *rule_id, int on);

struct ka_fetch_queue_stats;
/**
 * Set the registry fetcher's series (serve --attestation-source registry; absent otherwise):
 * kadmit_registry_fetch_queue{state="queued"|"tracked"}, kadmit_registry_fetch_dropped_total,
 * kadmit_registry_fetches_total{result="written"|"none"|"error"}. Called from one thread.
 */
void ka_metrics_set_registry(struct ka_metrics *m, const struct ka_fetch_queue_stats *s);

/** Set kadmit_tls_certificate_expiry_timestamp_seconds (notAfter of the serving cert). */
void ka_metrics_set_cert_expiry(struct ka_metrics *m, int64_t not_after);

struct ka_decision_log;
/** Also render the decision log's counters (borrowed; NULL: none). */
void ka_metrics_set_decision_log(struct ka_metrics *m, const struct ka_decision_log *dl);

/** Render every metric in Prometheus text format 0.0.4, appended to `out`. */
__attribute__((warn_unused_result)) int ka_metrics_render(struct ka_metrics *m, struct ka_buf *out);

#endif
