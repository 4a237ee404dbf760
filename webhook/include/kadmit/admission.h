/*
 * The admission core: AdmissionReview bytes in, AdmissionReview bytes out.
 *
 * No sockets, no globals: the server, `kadmit review`, `kadmit audit`, the tests and the fuzzers
 * all call ka_admission_review() with a body and a policy snapshot. The core fails closed: an
 * internal error produces a deny with a reason, never a silent allow.
 */
#ifndef KADMIT_ADMISSION_H
#define KADMIT_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#include "kadmit/buf.h"
#include "kadmit/limits.h"
#include "kadmit/policy.h"

struct ka_fetch_queue;

enum ka_endpoint { KA_ENDPOINT_VALIDATE = 0, KA_ENDPOINT_MUTATE = 1 };

/** "validate" / "mutate". */
const char *ka_endpoint_name(enum ka_endpoint ep);

struct cJSON;

struct ka_review_opts {
    unsigned max_depth; /* JSON nesting limit; 0: KA_MAX_DEPTH_DEFAULT */
    size_t max_values;  /* JSON values (nodes) limit; 0: KA_MAX_JSON_VALUES_DEFAULT */
    int64_t now;        /* Unix time for time-dependent rules; 0: time(NULL) */
    /* Audits: the service accounts the RBAC bindings of the input bind each role to, a cJSON
     * array of {"role": "Role/<ns>/<name>" or "ClusterRole/<name>", "serviceAccount":
     * "<ns>/<name>", "binding": "<Kind> <ns>/<name>"} (see audit.h); NULL: unknown. Borrowed. */
    const struct cJSON *role_bindings;
    /* serve --attestation-source registry: image-scan-attestation queues the digests it denies
     * here and says where their fetch stands (kadmit/fetch_queue.h); NULL: no fetcher. */
    struct ka_fetch_queue *fetch_queue;
    /* `kadmit fix`: the namespace of namespaced objects that name none (--namespace), as the
     * audit judges them; NULL: "default", where kubectl apply puts them. Borrowed. */
    const char *default_namespace;
};

/*
 * Why an image with a signed, usable scan attestation no longer passes image-scan-attestation:
 * its scan aged past maxAge, or its newest scan has more findings than maxSeverity allows. A
 * controller's replacement pod is admitted anyway (a warning, kadmit_stale_admissions_total);
 * `kadmit audit` reports such objects as "would be denied on redeploy".
 */
enum ka_stale { KA_STALE_NONE = 0, KA_STALE_AGE, KA_STALE_FINDINGS };

/** "" / "scan-age" / "scan-findings": the `reason` label and the decision log's "stale". */
const char *ka_stale_name(enum ka_stale s);

/* One finding of one rule on one object (a violation, at the rule's action). */
struct ka_finding {
    const char *rule;      /* rule id (static) */
    enum ka_action action; /* enforce, warn or audit (effective, after ratcheting) */
    int preexisting;       /* UPDATE: the old object had it too */
    enum ka_stale stale;   /* image-scan-attestation: an aged or now-failing scan, else NONE */
    char container[64];    /* container name or "" */
    char path[160];        /* JSON pointer of the offending field or "" */
    char message[512];     /* full "<rule>: <Kind> ns/name container ...: ..." text */
    char what[256];        /* the "what is wrong" part of message */
    char fix[192];         /* the "how to fix" part, without parentheses */
};

/* One JSON patch operation kadmit added (for reports; the patch itself is in the response). */
struct ka_mutation {
    const char *rule;
    char op[8];
    char path[192];
};

/* A policy exception that exempted the object, or one of its containers, from a rule. */
struct ka_exemption {
    const char *rule;   /* rule id (static) */
    char exception[64]; /* the exception's name */
    char reason[256];   /* the exception's reason */
};

/*
 * What the rules found in one object: findings and the mutations they recorded. The rules see
 * only this (struct ka_eval.findings), never the request around it.
 */
#define KA_FINDINGS_MEMBERS                                                                        \
    size_t n_findings;                                                                             \
    struct ka_finding findings[KA_MAX_FINDINGS];                                                   \
    size_t n_dropped_findings;                                                                     \
    size_t n_mutations;                                                                            \
    struct ka_mutation mutations[KA_MAX_MUTATIONS_LISTED];                                         \
    size_t n_exemptions;                                                                           \
    struct ka_exemption exemptions[KA_MAX_EXEMPTIONS_LISTED];
struct ka_findings {
    KA_FINDINGS_MEMBERS
};

/* What the core decided, for logs, metrics, the decision log and reports. */
struct ka_review_summary {
    int http_status; /* 200, or 400 when the body is not an AdmissionReview */
    int allowed;
    int dry_run;
    char uid[128];
    char kind[64]; /* request.kind.kind */
    char group[64];
    char version[32];
    char namespace_[64];
    char name[256];
    char operation[16];
    char user[128];
    char reason[256];         /* 400 reason or internal-error reason */
    int client_cert_verified; /* set by the server: the caller's certificate verified (--client-ca)
                               */
    int namespace_excluded;   /* the object's namespace is in the policy's exclude.namespaces: no
                                 rule looked at it (allowed, counted as skipped) */
    /* The rules' findings: `found` for the rules, the same members by name (s->n_findings) for
     * everything that reads the summary. */
    union {
        struct ka_findings found;
        struct {
            KA_FINDINGS_MEMBERS
        };
    };
};

/**
 * Reset a summary for a new review: clears the header fields and counts, not the (large) finding
 * and mutation arrays, which are only read up to n_findings / n_mutations.
 */
void ka_review_summary_reset(struct ka_review_summary *s);

/**
 * Review one AdmissionReview v1 request.
 *
 * On 0: `response` holds the AdmissionReview v1 response JSON and summary->http_status is 200.
 * On KA_EREVIEW: the body is not JSON or not an AdmissionReview; `response` holds a short
 * plain-text reason and summary->http_status is 400. Other negative codes: out of memory etc.;
 * the caller answers 500. `summary` may be NULL.
 */
__attribute__((warn_unused_result)) int
ka_admission_review(const struct ka_policy *policy, enum ka_endpoint ep, const char *body,
                    size_t len, const struct ka_review_opts *opts, struct ka_buf *response,
                    struct ka_review_summary *summary);

/**
 * Evaluate one object as a CREATE would be at the API server: kadmit's mutations are applied to
 * `object` in place (and listed in summary->mutations), then validation runs on the result.
 * `summary->kind` and `summary->namespace_` may be preset (else taken from the object).
 * Used by `kadmit audit`. Returns 0, KA_ETYPE or KA_ENOTFOUND (kind not checked; `err` says
 * why), or another negative code.
 */
__attribute__((warn_unused_result)) int ka_admission_evaluate(const struct ka_policy *policy,
                                                              struct cJSON *object,
                                                              const struct ka_review_opts *opts,
                                                              struct ka_review_summary *summary,
                                                              char *err, size_t err_len);

struct ka_patch;
/**
 * For `kadmit fix`: the changes that bring `object` in line with the policy, as RFC 6902
 * operations appended to `fixes`. Mutation rules come first and apply to workload templates as
 * to pods: when any would change the object, only their operations are returned (the caller
 * applies them and asks again). Otherwise validation runs, `summary` gets the findings, and
 * `fixes` gets each rule's determined fix (see ka_rule_fix()). `object` is changed in memory.
 * Returns 0, KA_ETYPE or KA_ENOTFOUND (`err` says why), or another negative code.
 */
__attribute__((warn_unused_result)) int
ka_admission_fix(const struct ka_policy *policy, struct cJSON *object,
                 const struct ka_review_opts *opts, struct ka_review_summary *summary,
                 struct ka_patch *fixes, char *err, size_t err_len);

#endif
