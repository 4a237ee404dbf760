/*
 * Audits: evaluate manifests, cluster snapshots and AdmissionReview requests against a policy
 * as CREATE, and render the results for people and tools.
 *
 * Inputs: multi-document YAML or JSON, `kind: List` (kubectl get -o json), AdmissionReview
 * requests. Each object goes through ka_admission_evaluate() - the server's own rules.
 * Documents that cannot be parsed or evaluated are kept as error items, never dropped.
 *
 * Ownership: a struct ka_audit owns its items and their summaries.
 */
#ifndef KADMIT_AUDIT_H
#define KADMIT_AUDIT_H

#include <stddef.h>

#include "kadmit/admission.h"
#include "kadmit/buf.h"
#include "kadmit/policy.h"

struct ka_audit_item {
    char source[512]; /* file:line of the document */
    char api_version[64];
    char kind[64];
    char namespace_[64];
    char name[256];
    int error; /* 1: could not be parsed or evaluated; see error_msg */
    char error_msg[512];
    struct ka_review_summary *summary; /* owned; NULL for error items */
};

struct ka_audit {
    struct ka_audit_item *items;
    size_t n_items, cap_items;
    size_t n_skipped; /* objects of kinds kadmit does not check (Service, ConfigMap...) */
    size_t n_errors;
    const struct ka_policy *policy; /* borrowed */
    struct ka_review_opts opts;
};

void ka_audit_init(struct ka_audit *a, const struct ka_policy *policy);
void ka_audit_free(struct ka_audit *a);

/** Evaluate every object in `data` (named `name` in sources). Parse errors become items. */
__attribute__((warn_unused_result)) int ka_audit_add_bytes(struct ka_audit *a, const char *name,
                                                           const char *data, size_t len);
/** A file, a directory (recursively: *.yaml, *.yml, *.json) or "-" for stdin. */
__attribute__((warn_unused_result)) int ka_audit_add_path(struct ka_audit *a, const char *path);

/** Counts over all items. */
struct ka_audit_counts {
    size_t objects, denied, warned, audited, passed, errors, skipped, mutated;
};
void ka_audit_count(const struct ka_audit *a, struct ka_audit_counts *c);

/** Readable table. `color`: ANSI colours. */
__attribute__((warn_unused_result)) int ka_audit_render_text(const struct ka_audit *a,
                                                             struct ka_buf *out, int color);
/** {"results":[...],"summary":{...}} (field names documented in README). */
__attribute__((warn_unused_result)) int ka_audit_render_json(const struct ka_audit *a,
                                                             struct ka_buf *out);

#endif
