/*
 * Audits: evaluate manifests, cluster snapshots and AdmissionReview requests against a policy
 * as CREATE, read decision logs, and render the results for people and tools.
 *
 * Inputs: multi-document YAML or JSON, `kind: List` (kubectl get -o json), AdmissionReview
 * requests (ka_audit_add_path / ka_audit_add_bytes), and kadmit decision logs
 * (ka_audit_add_decision_log). Each object goes through ka_admission_evaluate() - the server's
 * own rules. Documents that cannot be parsed or evaluated are kept as error items, never
 * dropped; decision-log lines that are truncated or malformed are kept as problem items with
 * their file:line (they do not make the audit fail).
 *
 * Outputs: text, json, markdown, html (self-contained), policyreport (wgpolicyk8s.io/v1alpha2
 * PolicyReport / ClusterPolicyReport objects in a v1 List). Every renderer appends to `out` and
 * returns 0 or a negative KA_E* code; the output depends only on the inputs and a->now.
 *
 * Ownership: a struct ka_audit owns its items, their findings and strings.
 */
#ifndef KADMIT_AUDIT_H
#define KADMIT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "kadmit/admission.h"
#include "kadmit/buf.h"
#include "kadmit/policy.h"

/* Where an item comes from. */
enum ka_audit_origin {
    KA_AUDIT_OBJECT = 0,    /* an object in a manifest or snapshot, evaluated now */
    KA_AUDIT_ADMISSION = 1, /* a line of a decision log: what the server decided then */
};

/* One finding (owned strings). */
struct ka_audit_finding {
    char *rule;
    enum ka_action action;
    char *message;   /* full "<rule>: <Kind> ns/name ...: ..." text */
    char *container; /* "" when none */
    char *path;      /* JSON pointer or "" */
    /* An image whose signed scan aged past maxAge or now fails the severity limits. On an
     * object: its own kind of finding, "would be denied on redeploy" (its pods are replaced,
     * within replacementMaxAge, but a new rollout of the image is denied). */
    enum ka_stale stale;
};

struct ka_audit_mutation {
    char *rule;
    char op[8];
    char *path;
};

struct ka_audit_item {
    enum ka_audit_origin origin;
    char source[512]; /* file:line of the document or log line */
    char api_version[64];
    char kind[64];
    char namespace_[64];
    char name[256];
    char uid[128]; /* metadata.uid (objects) or request uid (admissions), or "" */
    int error;     /* objects: could not be parsed or evaluated; admissions: bad log line */
    char error_msg[512];
    int allowed;
    size_t n_findings;
    struct ka_audit_finding *findings;
    size_t n_dropped_findings;
    size_t n_mutations;
    struct ka_audit_mutation *mutations;
    /* admissions only */
    char time[40]; /* RFC 3339 as logged */
    char user[128];
    char operation[16];
    char endpoint[16];
    int dry_run;
};

struct ka_audit {
    struct ka_audit_item *items;
    size_t n_items, cap_items;
    size_t n_skipped;  /* objects of kinds kadmit does not check (Service, ConfigMap...) */
    size_t n_owned;    /* objects a checked controller owns (a Deployment's ReplicaSets and Pods):
                          their owner's template is checked, so they are not evaluated again */
    int include_owned; /* evaluate owned objects too (`--include-owned`) */
    int show_passed;   /* text: list objects without findings too (`--show-passed`) */
    size_t n_errors;   /* object items with error (not decision-log problems) */
    const struct ka_policy *policy; /* borrowed */
    struct ka_review_opts opts;
    int64_t now;             /* Unix seconds stamped into reports (policyreport, html, md) */
    const char *policy_name; /* PolicyReport `policy` field; default "checklist" (borrowed) */
    struct ka_review_summary *scratch; /* reused for each evaluation (owned) */
};

/** `policy` may be NULL when only decision logs are added. */
void ka_audit_init(struct ka_audit *a, const struct ka_policy *policy);
void ka_audit_free(struct ka_audit *a);

/** Evaluate every object in `data` (named `name` in sources). Parse errors become items. */
__attribute__((warn_unused_result)) int ka_audit_add_bytes(struct ka_audit *a, const char *name,
                                                           const char *data, size_t len);
/** A file, a directory (recursively: *.yaml, *.yml, *.json) or "-" for stdin. */
__attribute__((warn_unused_result)) int ka_audit_add_path(struct ka_audit *a, const char *path);

/**
 * Read a decision log (one JSON object per line, see decisionlog.h) from memory. Every line
 * becomes an admission item; a malformed line, or a last line without its "\n" (a torn write),
 * becomes a problem item "name:line: reason". Only KA_ENOMEM is returned as an error.
 */
__attribute__((warn_unused_result)) int
ka_audit_add_decision_log_bytes(struct ka_audit *a, const char *name, const char *data, size_t len);
/** The same from a file ("-": stdin). A missing file is a problem item, not an error. */
__attribute__((warn_unused_result)) int ka_audit_add_decision_log(struct ka_audit *a,
                                                                  const char *path);

/** Counts over all items. */
struct ka_audit_counts {
    size_t objects, denied, warned, audited, passed, errors, skipped, mutated, owned;
    /* decision logs: admissions read, by outcome, and lines that could not be read */
    size_t admissions, admissions_denied, admissions_warned, admissions_audited, admissions_passed,
        log_problems;
    /* findings (violations) over objects and admissions, by action */
    size_t findings, findings_enforce, findings_warn, findings_audit;
    /* objects with a finding that would be denied on redeploy (ka_audit_finding.stale) */
    size_t redeploy;
};
void ka_audit_count(const struct ka_audit *a, struct ka_audit_counts *c);

/** Summary line, then one block per object with a finding: action, rule, message. `color`:
 * ANSI colours. Objects without findings are listed only with a->show_passed. */
__attribute__((warn_unused_result)) int ka_audit_render_text(const struct ka_audit *a,
                                                             struct ka_buf *out, int color);
/** {"results":[...],"errors":[...],"decisions":[...],"decisionLogProblems":[...],
 * "summary":{...}} (field names documented in the README). */
__attribute__((warn_unused_result)) int ka_audit_render_json(const struct ka_audit *a,
                                                             struct ka_buf *out);
/** Markdown for a pull-request comment: summary, per-rule and per-namespace counts, findings. */
__attribute__((warn_unused_result)) int ka_audit_render_markdown(const struct ka_audit *a,
                                                                 struct ka_buf *out);
/** One self-contained HTML page: summary, SVG bar charts, filterable findings table. */
__attribute__((warn_unused_result)) int ka_audit_render_html(const struct ka_audit *a,
                                                             struct ka_buf *out);

/* PolicyReport limits: a report is split past this many results or about this many bytes. */
#define KA_POLICYREPORT_MAX_RESULTS 1000
#define KA_POLICYREPORT_MAX_BYTES (1000u * 1000u)
/**
 * A v1 List of wgpolicyk8s.io/v1alpha2 PolicyReports (one per namespace, named
 * `kadmit-<policy>`, split into `-2`, `-3`... past the limits) and one ClusterPolicyReport for
 * objects without a namespace. Only objects, not decision-log admissions. `max_results` /
 * `max_bytes` 0: the defaults above.
 */
__attribute__((warn_unused_result)) int ka_audit_render_policyreport(const struct ka_audit *a,
                                                                     struct ka_buf *out,
                                                                     size_t max_results,
                                                                     size_t max_bytes);

/** "would-be-denied-on-redeploy" for an object's finding about an aged or now-failing scan
 * (ka_audit_finding.stale), else NULL: the finding kind every renderer shows. */
const char *ka_audit_finding_kind(const struct ka_audit_item *it, const struct ka_audit_finding *f);

/** The message without its "<rule>: <Kind> <ns/name> " prefix (borrowed, points into it). */
const char *ka_audit_short_message(const struct ka_audit_item *it,
                                   const struct ka_audit_finding *f);

#endif
