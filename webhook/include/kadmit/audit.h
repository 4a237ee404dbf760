/*
 * Audits: evaluate manifests, cluster snapshots and AdmissionReview requests against a policy
 * as CREATE, read decision logs, and render the results for people and tools.
 *
 * Inputs: manifests and snapshots read as kubectl reads them (manifest.h: YAML streams, JSON
 * values and streams, `kind: List` item by item), AdmissionReview requests
 * (ka_audit_add_path / ka_audit_add_bytes), and kadmit decision logs
 * (ka_audit_add_decision_log). Each object goes through ka_admission_evaluate() - the server's
 * own rules. Every document is accounted for: read = evaluated + skipped (kinds not checked) +
 * owned (a controller in the same input was evaluated) + errors. Documents that cannot be
 * parsed or evaluated are kept as error items, never dropped; decision-log lines that are
 * truncated or malformed are kept as problem items with their file:line (they do not make the
 * audit fail). Call ka_audit_finish() after the last input and before counting or rendering.
 *
 * Relations (relations.h): while objects stream by, the few fields relation rules compare are
 * kept in a compact index (a->relations); ka_audit_finish() judges them and emits one item per
 * (workload or namespace, relation rule), "not evaluated" when the input lacks a kind.
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
#include <stdio.h>

#include "kadmit/admission.h"
#include "kadmit/buf.h"
#include "kadmit/manifest.h"
#include "kadmit/policy.h"
#include "kadmit/relations.h"

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

/* A policy exception that exempted the object from a rule (owned strings). */
struct ka_audit_exemption {
    char *rule;
    char *exception; /* the exception's name */
    char *reason;
};

struct ka_audit_mutation {
    char *rule;
    char op[8];
    char *path;
};

struct ka_audit_item {
    enum ka_audit_origin origin;
    char source[512]; /* file:line of the document or log line */
    char *owner_uid;  /* objects: the controller's uid in ownerReferences, or NULL */
    char *owner_ref;  /* objects: "Kind/namespace/name" of the controller, or NULL */
    char api_version[64];
    char kind[64];
    char namespace_[64];
    char name[256];
    char uid[128]; /* metadata.uid (objects) or request uid (admissions), or "" */
    int error;     /* objects: could not be parsed or evaluated; admissions: bad log line */
    int kept;      /* emitted, and kept for a renderer (KA_AUDIT_KEEP) */
    char error_msg[512];
    int allowed;
    size_t n_findings;
    struct ka_audit_finding *findings;
    size_t n_dropped_findings;
    size_t n_mutations;
    struct ka_audit_mutation *mutations;
    size_t n_exemptions;
    struct ka_audit_exemption *exemptions;
    /* relation results (relations.h): the relation rule's id, "" for everything else. The item
     * names the subject (a workload, or the Namespace); not_evaluated: the input lacks a kind
     * the relation needs (why in error_msg; neither passed nor failed). */
    char relation[48];
    int not_evaluated;
    /* admissions only */
    char time[40]; /* RFC 3339 as logged */
    char user[128];
    char operation[16];
    char endpoint[16];
    int dry_run;
};

/** Counts over all items. read = objects + skipped + owned + errors. */
struct ka_audit_counts {
    size_t read, objects, denied, warned, audited, passed, errors, skipped, mutated, owned;
    /* decision logs: admissions read, by outcome, and lines that could not be read */
    size_t admissions, admissions_denied, admissions_warned, admissions_audited, admissions_passed,
        log_problems;
    /* findings (violations) over objects and admissions, by action */
    size_t findings, findings_enforce, findings_warn, findings_audit;
    /* objects with a finding that would be denied on redeploy (ka_audit_finding.stale) */
    size_t redeploy;
    /* relation results (not documents: not in `read`), by outcome; their findings are in
     * `findings` too */
    size_t relations, relations_denied, relations_warned, relations_audited, relations_passed,
        relations_not_evaluated;
};

/* Kinds (and excluded namespaces) listed with their own count among the skipped objects; the
 * rest are counted together as "other". */
#define KA_AUDIT_MAX_SKIPPED_KINDS 32

/* Skipped objects counted by one name (a kind, or a namespace), sorted by count, descending. */
struct ka_audit_name_tally {
    struct ka_audit_name_count {
        char name[64];
        size_t n;
    } top[KA_AUDIT_MAX_SKIPPED_KINDS];
    size_t n_top, other;
};

/* Findings counted under a key: a rule, or a namespace. */
struct ka_audit_tally {
    const char *key;
    size_t enforce, warn, audit, total;
};
struct ka_audit_tallies {
    struct ka_audit_tally *v;
    size_t n, cap;
};

/* Rows in a Markdown findings table (a GitHub comment holds at most 65536 characters). */
#define KA_AUDIT_MARKDOWN_MAX_ROWS 200

struct ka_audit {
    struct ka_audit_item *items;
    size_t n_items, cap_items;
    size_t n_skipped; /* objects of kinds kadmit does not check (Service, ConfigMap...), and
                         objects in the policy's excluded namespaces (no rule looks at them) */
    struct ka_audit_name_tally skipped_kinds, skipped_namespaces;
    /* documents that are not Kubernetes objects, by file name: a mapping with no kind and no
     * metadata (a Helm chart's Chart.yaml and values.yaml, a kustomization.yaml without kind) */
    struct ka_audit_name_tally skipped_not_objects;
    size_t n_owned;    /* objects whose controller (ownerReferences, controller: true) is in the
                          same input and was evaluated: a Deployment's ReplicaSets and Pods.
                          Their owner's template is what they run, so they are not reported
                          again. An object whose controller is not in the input is evaluated. */
    char **identities; /* "uid:<uid>" and "ref:Kind/ns/name" of every workload evaluated
                          (an open-addressing set, identities only, never objects) */
    size_t cap_identities, n_identities;
    const char *default_namespace; /* for namespaced kinds without one (`--namespace`; default
                                      "default", where kubectl apply puts them); borrowed */
    struct ka_manifest_opts read_opts;
    int include_owned;              /* evaluate owned objects too (`--include-owned`) */
    int show_passed;                /* text: list objects without findings too (`--show-passed`) */
    size_t text_width;              /* text: wrap at this many columns (0: 100; at least 40) */
    const char *source_base;        /* html, markdown: sources are shown relative to this prefix
                                       (the audited directory, "dir/"); NULL: as given; borrowed */
    size_t n_errors;                /* object items with error (not decision-log problems) */
    const struct ka_policy *policy; /* borrowed */
    struct ka_review_opts opts;
    int64_t now;             /* Unix seconds stamped into reports (policyreport, html, md) */
    const char *policy_name; /* PolicyReport `policy` field; default "checklist" (borrowed) */
    struct ka_review_summary *scratch; /* reused for each evaluation (owned) */
    /* Streaming (set before adding inputs; optional): each item is handed to `emit` as soon as
     * it is decided - at once, or, for an object whose controller may still come later, at
     * ka_audit_finish() - then counted and released, so memory holds only the objects waiting
     * for their controller. `emit` returns 0, KA_AUDIT_KEEP (the item stays in `items` for a
     * renderer: a report keeps only what it prints) or a KA_E* code (stops the audit). NULL:
     * every item is kept for the renderers. */
    int (*emit)(void *ctx, const struct ka_audit *a, const struct ka_audit_item *it);
    void *emit_ctx;
    struct ka_audit_counts emitted; /* counts of the items already released */
    size_t n_waiting;               /* items[0..n_waiting) wait for ka_audit_finish() */
    /* Streaming: a waiting object (its controller may come later) is written to an unlinked
     * temporary file in $TMPDIR (else /tmp) as its result only - rule, message and location of
     * each finding, never the object - and read back by ka_audit_finish(), so memory stays
     * flat however many objects wait (a `kubectl get pods -A` snapshot: every Pod's
     * ReplicaSet is absent). Without a writable temporary directory they wait in `items`. */
    /* findings of items released before a report's end (markdown and html render rows as items
     * come): still in the per-rule and per-namespace counts (ka_audit_tally_released; keys
     * owned) */
    struct ka_audit_tallies released_by_rule, released_by_namespace;
    FILE *spool;
    size_t n_spooled;
    struct ka_buf spool_buf; /* one record */
    int spool_failed;        /* no temporary file could be made: wait in memory */
    int finished;
    /* Progress (optional): every 256 documents, with the bytes read of the current input. */
    void (*progress)(void *ctx, size_t documents, size_t bytes);
    void *progress_ctx;
    size_t n_documents;
    /* RBAC in the same input (agent-rbac): the service accounts each binding binds to a role
     * (ka_review_opts.role_bindings, identities only), and the Roles and ClusterRoles, which
     * are evaluated at ka_audit_finish() when every binding has been read (owned copies,
     * {"source", "namespace", "object"}). */
    struct cJSON *role_bindings;
    struct cJSON *deferred_roles;
    size_t n_rbac_objects;
    /* Relations (relations.h): the compact index built while streaming, evaluated once by the
     * first ka_audit_finish() after the objects; its results are emitted as items. Objects the
     * index could not take (KA_AUDIT_MAX_RELATION_OBJECTS, KA_RELATION_MAX_ENTRY_NODES) are
     * counted and reported as one error item; the relations are then not evaluated. */
    struct ka_relation_index relations;
    struct ka_audit_name_tally not_evaluated; /* relation results not evaluated, by rule and the
                                                 kind the input lacked */
    size_t n_relation_overflow;
    char relation_error[256];
    int relations_done;
};

/* An emit callback's "keep this item" (not an error). */
#define KA_AUDIT_KEEP 1

/** `policy` may be NULL when only decision logs are added. */
void ka_audit_init(struct ka_audit *a, const struct ka_policy *policy);
void ka_audit_free(struct ka_audit *a);

/** Evaluate every object in `data` (named `name` in sources). Parse errors become items;
 * only KA_ENOMEM / KA_EIO are returned. */
__attribute__((warn_unused_result)) int ka_audit_add_bytes(struct ka_audit *a, const char *name,
                                                           const char *data, size_t len);
/** A file, a directory (recursively: *.yaml, *.yml, *.json, *.jsonl) or "-" for stdin, read as a
 * stream (manifest.h): memory grows with the largest object, not with the input. */
__attribute__((warn_unused_result)) int ka_audit_add_path(struct ka_audit *a, const char *path);

/** An open stream (a pipe from `kubectl get -o json`), named `name` in sources, read to its end
 * as ka_audit_add_path() reads a file; the caller closes `f`. A read error is an error item. */
__attribute__((warn_unused_result)) int ka_audit_add_file(struct ka_audit *a, const char *name,
                                                          FILE *f);

/** After the last manifest or snapshot: objects whose controller was evaluated are counted as
 * owned and their items dropped; the others waiting are emitted; then, once, the relation rules
 * run over the relation index and each result is emitted as an item (relation set). Decision logs
 * may still be added after it. Call it again after the last input; safe to call more than once. */
__attribute__((warn_unused_result)) int ka_audit_finish(struct ka_audit *a);

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

void ka_audit_count(const struct ka_audit *a, struct ka_audit_counts *c);

/** Count an item's findings by rule and namespace before it is released without being kept
 * (markdown and html print per-rule and per-namespace counts and charts at the end, after their
 * rows were rendered item by item). */
__attribute__((warn_unused_result)) int ka_audit_tally_released(struct ka_audit *a,
                                                                const struct ka_audit_item *it);
void ka_audit_tallies_free(struct ka_audit_tallies *t);

/*
 * The report view: the parts every renderer shows, written once and marked up per format.
 * A renderer fills a markup (NULL strings are not allowed; use "") and calls these; adding a
 * count or a sentence to the summary is one edit here for text, Markdown and HTML.
 */
struct ka_audit_markup {
    int (*escape)(struct ka_buf *out, const char *text); /* NULL: as is */
    const char *deny, *warn, *pass, *end; /* around the denied, warned and passed counts */
    const char *strong, *strong_end;      /* around "N objects" and "N admissions" */
    const char *line, *line_end;          /* around each sentence */
    /* the error block (only when there are errors): head, then per error item, source, sep,
     * message, item_end; then tail */
    const char *errors_head, *error_item, *error_sep, *error_item_end, *errors_tail;
};

/** The summary: "N objects: ... denied ...", the accounting sentence "read N: E evaluated, S
 * skipped (kinds ...: Service 3), O owned (...), X errors", and decision-log admissions. */
__attribute__((warn_unused_result)) int ka_audit_render_summary(const struct ka_audit *a,
                                                                const struct ka_audit_counts *c,
                                                                const struct ka_audit_markup *m,
                                                                struct ka_buf *out);
/** Every item that could not be read or evaluated (objects and decision-log lines). */
__attribute__((warn_unused_result)) int ka_audit_render_errors(const struct ka_audit *a,
                                                               const struct ka_audit_markup *m,
                                                               struct ka_buf *out);
/** "DENY", "WARN", "AUDIT" or "PASS". */
const char *ka_audit_verdict(const struct ka_audit_item *it);
/** The item's source relative to a->source_base (borrowed). */
const char *ka_audit_source(const struct ka_audit *a, const struct ka_audit_item *it);

/** The summary, then one block per object with a finding: the object once, then per finding
 * action, rule and message, wrapped at a->text_width. `color`: ANSI colours. Objects without
 * findings are listed only with a->show_passed. */
__attribute__((warn_unused_result)) int ka_audit_render_text(const struct ka_audit *a,
                                                             struct ka_buf *out, int color);
/** {"results":[...],"errors":[...],"decisions":[...],"decisionLogProblems":[...],
 * "summary":{...}} (field names documented in the README). */
__attribute__((warn_unused_result)) int ka_audit_render_json(const struct ka_audit *a,
                                                             struct ka_buf *out);
/** The same written as results are decided: init, every item as it is emitted (results and
 * decisions are appended to `out` at once; errors and decision-log problems are held until their
 * array's turn), then end (the held arrays and the summary). Items of one kind come in order:
 * every object (result or error) before the first decision; KA_EINTERNAL otherwise. */
struct ka_audit_json {
    int started, open;     /* the array being written: 0 results .. 3 problems, 4 summary */
    size_t n[4];           /* items written per array */
    struct ka_buf held[2]; /* errors, decision-log problems: rendered, not yet written */
};
void ka_audit_json_init(struct ka_audit_json *j);
void ka_audit_json_free(struct ka_audit_json *j);
__attribute__((warn_unused_result)) int
ka_audit_json_item(struct ka_audit_json *j, const struct ka_audit_item *it, struct ka_buf *out);
__attribute__((warn_unused_result)) int
ka_audit_json_end(struct ka_audit_json *j, const struct ka_audit *a, struct ka_buf *out);
/** JSON Lines (`-o jsonl`), for pipelines and streaming: one record per item, {"type":
 * "result"|"error"|"decision"|"decisionLogProblem", ...the fields of its json counterpart}, and
 * last {"type":"summary", ...the json summary}. */
__attribute__((warn_unused_result)) int ka_audit_render_jsonl_item(const struct ka_audit *a,
                                                                   const struct ka_audit_item *it,
                                                                   struct ka_buf *out);
__attribute__((warn_unused_result)) int ka_audit_render_jsonl_summary(const struct ka_audit *a,
                                                                      struct ka_buf *out);
/** Text for one item (nothing for a passing object unless a->show_passed; *hidden counts
 * those), and the closing lines: the hidden count and the summary. ka_audit_render_text() is
 * the summary, then every item. */
__attribute__((warn_unused_result)) int ka_audit_render_text_item(const struct ka_audit *a,
                                                                  const struct ka_audit_item *it,
                                                                  int color, size_t *hidden,
                                                                  struct ka_buf *out);
__attribute__((warn_unused_result)) int ka_audit_render_text_end(const struct ka_audit *a,
                                                                 int color, size_t hidden,
                                                                 int summary, struct ka_buf *out);

/** One self-contained HTML page: summary, SVG bar charts, filterable findings table. */
__attribute__((warn_unused_result)) int ka_audit_render_html(const struct ka_audit *a,
                                                             struct ka_buf *out);
/** The same page written as results are decided, in bounded memory: ka_audit_html_item() renders
 * an item's finding and exemption rows at once (held up to 64 KiB, then in an unlinked temporary
 * file; in memory when none can be made) and keeps nothing of the item; ka_audit_html_end() writes
 * the page around them. The counts and charts come from `a` at the end: an item released after
 * ka_audit_html_item() must be tallied (ka_audit_tally_released), and error items kept. `to`: the
 * page is written to it as it goes (`out` is a staging buffer); NULL: appended to `out`. */
struct ka_audit_spill {
    struct ka_buf mem;
    FILE *file; /* owned, NULL until the bytes outgrow memory */
    int failed; /* no temporary file: everything in `mem` */
};
/** Markdown for a pull-request comment: summary, per-rule and per-namespace counts, findings. */
__attribute__((warn_unused_result)) int ka_audit_render_markdown(const struct ka_audit *a,
                                                                 struct ka_buf *out);
/** The same written as results are decided: ka_audit_markdown_item() renders an item's first
 * rows (up to KA_AUDIT_MARKDOWN_MAX_ROWS in all) and its exemption rows (spilled as html's are),
 * ka_audit_markdown_end() the comment around them; as for html, a released item must be tallied
 * and error items kept. */
struct ka_audit_markdown {
    struct ka_buf rows;
    size_t n_rows;
    struct ka_audit_spill exemptions;
    size_t n_exemptions;
};
void ka_audit_markdown_init(struct ka_audit_markdown *m);
void ka_audit_markdown_free(struct ka_audit_markdown *m);
__attribute__((warn_unused_result)) int ka_audit_markdown_item(struct ka_audit_markdown *m,
                                                               const struct ka_audit *a,
                                                               const struct ka_audit_item *it);
__attribute__((warn_unused_result)) int ka_audit_markdown_end(struct ka_audit_markdown *m,
                                                              const struct ka_audit *a,
                                                              struct ka_buf *out, FILE *to);
struct ka_audit_html {
    struct ka_audit_spill rows, exemptions;
    size_t n_exemptions;
};
void ka_audit_html_init(struct ka_audit_html *h);
void ka_audit_html_free(struct ka_audit_html *h);
__attribute__((warn_unused_result)) int ka_audit_html_item(struct ka_audit_html *h,
                                                           const struct ka_audit *a,
                                                           const struct ka_audit_item *it);
__attribute__((warn_unused_result)) int
ka_audit_html_end(struct ka_audit_html *h, const struct ka_audit *a, struct ka_buf *out, FILE *to);

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

/**
 * The same PolicyReports written as results are decided, in bounded memory: each object's
 * results are written as they come (ka_audit_policyreport_item) to an unlinked temporary file,
 * as the strings a result prints, each record chained to the previous one of its namespace;
 * ka_audit_policyreport_end() then writes the List one namespace at a time, holding one report
 * (at most max_results results) and the namespaces' names. Items of any origin may be passed:
 * only objects become results. `to`: the output is written to it after each report (`out` is a
 * staging buffer); NULL: everything is appended to `out`.
 */
struct ka_audit_policyreport {
    FILE *spool;  /* owned */
    uint64_t end; /* bytes written to the spool */
    struct ka_audit_policyreport_namespace {
        char *name;    /* owned; "" for the ClusterPolicyReport */
        uint64_t last; /* offset of its last record, plus one */
        size_t n;      /* records */
    } * namespaces;    /* sorted by name */
    size_t n_namespaces, cap_namespaces, hit;
    size_t max_results, max_bytes;
    struct ka_buf record; /* one record being written or read */
};
void ka_audit_policyreport_init(struct ka_audit_policyreport *p, size_t max_results,
                                size_t max_bytes);
void ka_audit_policyreport_free(struct ka_audit_policyreport *p);
__attribute__((warn_unused_result)) int ka_audit_policyreport_item(struct ka_audit_policyreport *p,
                                                                   const struct ka_audit *a,
                                                                   const struct ka_audit_item *it);
__attribute__((warn_unused_result)) int ka_audit_policyreport_end(struct ka_audit_policyreport *p,
                                                                  const struct ka_audit *a,
                                                                  struct ka_buf *out, FILE *to);

/** An unlinked temporary file in $TMPDIR (else /tmp), opened "w+b"; NULL when none can be made.
 * Gone when closed, however the audit ends. */
FILE *ka_audit_tmpfile(void);

/** "would-be-denied-on-redeploy" for an object's finding about an aged or now-failing scan
 * (ka_audit_finding.stale), else NULL: the finding kind every renderer shows. */
const char *ka_audit_finding_kind(const struct ka_audit_item *it, const struct ka_audit_finding *f);

/** The message without its "<rule>: <Kind> <ns/name> " prefix (borrowed, points into it). */
const char *ka_audit_short_message(const struct ka_audit_item *it,
                                   const struct ka_audit_finding *f);

#endif
