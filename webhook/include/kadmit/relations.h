/*
 * Relations: checks that need several objects together (a PodDisruptionBudget for every Memory
 * Spine, NetworkPolicies around the agents...). One object cannot judge them, so they run only in
 * `kadmit audit`, never at admission.
 *
 * The audit streams its input and releases every object once it is evaluated; relations keep
 * only a compact index of the fields they compare (struct ka_relation_index): per workload its
 * kind, namespace, name, pod-template labels and claim storage classes; per PodDisruptionBudget
 * its selector and whether it passes pdb-availability; per HPA its scaleTargetRef and whether it
 * passes hpa-custom-metrics; per NetworkPolicy its podSelector, policy types, ingress peers and
 * whether an egress rule is open to everything; which namespaces have a ResourceQuota or a
 * LimitRange; the StorageClass names; and which of these kinds the input had at all. Workloads
 * are indexed only when a relation rule of the policy looks at them. The index is bounded
 * (KA_AUDIT_MAX_RELATION_OBJECTS entries, KA_RELATION_MAX_ENTRY_NODES JSON nodes each; about
 * 1 KB an entry) and grouped by namespace, so a relation compares only objects of one namespace.
 *
 * After the input is drained, ka_relations_evaluate() - a pure function of the index and the
 * policy's rules - hands one result per (subject, relation rule) to a callback: the findings,
 * none (the relation holds), or "not evaluated" when the input lacks a kind the relation needs.
 *
 * Ownership: the index owns its entries (ka_relation_index_free); results passed to the callback
 * are borrowed for the call.
 */
#ifndef KADMIT_RELATIONS_H
#define KADMIT_RELATIONS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "kadmit/admission.h"
#include "kadmit/limits.h"
#include "kadmit/rules.h"

/* Findings of one relation result. */
#define KA_RELATION_MAX_FINDINGS 8

/* The kinds relations read, as bits (seen / listed). */
enum ka_relation_kind {
    KA_REL_PDB = 1 << 0,
    KA_REL_HPA = 1 << 1,
    KA_REL_NETWORKPOLICY = 1 << 2,
    KA_REL_RESOURCEQUOTA = 1 << 3,
    KA_REL_LIMITRANGE = 1 << 4,
    KA_REL_STORAGECLASS = 1 << 5,
};
#define KA_REL_ALL 0x3fu

/* The entries of one namespace ("" for cluster-scoped objects: StorageClasses). Relations compare
 * objects of one namespace, so each looks only at its namespace's entries. */
struct ka_relation_namespace {
    char *name;     /* owned */
    cJSON *entries; /* array of compact entries (owned), in input order */
};

struct ka_relation_index {
    struct ka_relation_namespace *namespaces; /* in order of first appearance */
    size_t n_namespaces, cap_namespaces;
    size_t *slots; /* open addressing over namespaces by name: index + 1, 0 empty */
    size_t cap_slots;
    size_t n_entries;
    unsigned seen;   /* kinds of which the input had at least one object */
    unsigned listed; /* kinds the input lists completely (`kadmit audit --cluster`): none of
                        them is a finding, not "not evaluated" */
};

/* Verdict of the object's own rule, for the kinds relations require to pass one. */
enum ka_relation_verdict {
    KA_REL_PASSES = 0, /* pdb-availability / hpa-custom-metrics reported nothing */
    KA_REL_FAILS = 1,
};

void ka_relation_index_init(struct ka_relation_index *idx);
void ka_relation_index_free(struct ka_relation_index *idx);

/** The kind bit of a kind name ("NetworkPolicy"), or 0 when relations do not read it; workloads
 * (StatefulSet, Deployment) are indexed too but have no bit. */
unsigned ka_relation_kind_bit(const char *kind);
/** "NetworkPolicy", ... for one bit. */
const char *ka_relation_kind_name(unsigned bit);
/** True when a relation reads objects of this kind (workloads and the bits above). */
int ka_relation_reads(const char *kind);

/**
 * Index one object (borrowed) of namespace `ns` ("" for cluster-scoped) if a relation needs it.
 * `verdict` is its own rule's verdict (PDBs and HPAs). `rules` are the policy's rules: a
 * workload is kept only when an enabled relation rule looks at it. Returns 0, KA_ENOMEM, or
 * KA_ELIMIT with a message in `err` (the index is full, or the entry too large).
 */
__attribute__((warn_unused_result)) int
ka_relation_index_add(struct ka_relation_index *idx, const struct ka_rule *rules, size_t n_rules,
                      const cJSON *obj, const char *ns, enum ka_relation_verdict verdict, char *err,
                      size_t err_len);

/* One finding of a relation result. */
struct ka_relation_finding {
    char what[KA_MAX_MESSAGE_LEN];
    char fix[KA_MAX_MESSAGE_LEN];
    char message[KA_MAX_MESSAGE_LEN * 2 + 64]; /* "<rule>: <Kind> <ns>/<name>: what (fix)" */
};

/* One result: a subject (workload, or Namespace for namespace-guardrails) and one rule. */
struct ka_relation_result {
    const char *rule;        /* rule id */
    enum ka_action action;   /* the rule's action */
    const char *api_version; /* the subject's, or "v1" */
    const char *kind;
    const char *namespace_;
    const char *name;
    int not_evaluated; /* the input lacks a kind the rule needs */
    char reason[256];  /* not evaluated: "not evaluated: the input has no ... objects" */
    /* A policy exception of the rule that exempts the subject: its findings are dropped and the
     * result says so (exception name and reason; "" when none) */
    char exception[128];
    char exception_reason[256];
    size_t n_findings; /* 0: the relation holds (or is exempted) */
    size_t n_dropped;  /* findings past KA_RELATION_MAX_FINDINGS */
    struct ka_relation_finding findings[KA_RELATION_MAX_FINDINGS];
};

/* Called per result; non-zero stops the evaluation and is returned. */
typedef int (*ka_relation_fn)(void *ctx, const struct ka_relation_result *r);

/**
 * Run the enabled relation rules of `rules` over the index, in rule order, then subject order
 * (input order). Pure: reads only its arguments. Returns 0, KA_ENOMEM or the callback's code.
 */
__attribute__((warn_unused_result)) int ka_relations_evaluate(const struct ka_relation_index *idx,
                                                              const struct ka_rule *rules,
                                                              size_t n_rules, ka_relation_fn fn,
                                                              void *ctx);

/* ------------------------------------------------------------------------------------------
 * For relation rules (webhook/src/rules/<rule-id>.c with a `relation` loop)
 *
 * Index entries are JSON objects, grouped by namespace: every entry has "kind" and "name";
 * workloads have "apiVersion", "meta": {"labels"} and "classes" (their claim templates' storage
 * classes); PodDisruptionBudgets "selector" and "ok" (passes pdb-availability); HPAs "target":
 * {"kind", "name"} and "ok" (passes hpa-custom-metrics); NetworkPolicies "podSelector", "ingress"
 * and "egress" (policy types, defaults applied), "from" (per ingress rule, its peers; null for a
 * rule without `from`) and "openEgress" (the index of an egress rule open to every destination on
 * every port, or absent).
 */

struct ka_relation_run {
    const struct ka_relation_index *idx;
    const struct ka_rule *rule;  /* the relation rule running */
    const struct ka_rule *rules; /* the whole policy (a relation may read another rule's params) */
    size_t n_rules;
    ka_relation_fn fn;
    void *ctx;
};

/** The entries of namespace `ns` ("" for cluster-scoped kinds), or NULL when it has none. */
const cJSON *ka_relation_entries(const struct ka_relation_index *idx, const char *ns);

/** The entry's string member (never NULL: "" when absent). */
const char *ka_relation_str(const cJSON *entry, const char *key);
/** The workload's pod-template labels (may be NULL). */
const cJSON *ka_relation_labels(const cJSON *entry);
/** True when the workload entry (of namespace `ns`) is one the rule looks at: its match/exclude
 * and the label selector of param `selector_param` ("agents", "memorySpine"). */
int ka_relation_subject(const struct ka_relation_run *run, const cJSON *entry, const char *ns,
                        const char *selector_param);
/** "app=agent" (`yaml` 0) or "app: agent" (`yaml` 1): the matchLabels of the rule's selector
 * param, else the entry's labels. */
void ka_relation_labels_text(const struct ka_relation_run *run, const char *selector_param,
                             const cJSON *entry, int yaml, char *out, size_t len);
/** Start a result for the subject entry of namespace `ns` (borrowed for the result's life). */
void ka_relation_result_start(const struct ka_relation_run *run, struct ka_relation_result *res,
                              const cJSON *subject, const char *ns);
/** Mark it not evaluated: the input has no object of `kind_bit` (and the kind is not listed).
 * Returns 1 when marked, 0 when the kind is there (or listed). */
int ka_relation_needs(const struct ka_relation_run *run, struct ka_relation_result *res,
                      unsigned kind_bit);
/** Add a finding (formatted "what (fix)"). */
void ka_relation_report(struct ka_relation_result *res, const char *what, const char *fix);
/** Add a finding of what is wrong (printf format), to be completed with ka_relation_fix(). NULL
 * when the result holds KA_RELATION_MAX_FINDINGS already (counted as dropped). */
__attribute__((format(printf, 2, 3))) struct ka_relation_finding *
ka_relation_what(struct ka_relation_result *res, const char *fmt, ...);
/** Give the finding `f` (from ka_relation_what; NULL does nothing) how to fix it, printf format. */
__attribute__((format(printf, 3, 4))) void ka_relation_fix(const struct ka_relation_result *res,
                                                           struct ka_relation_finding *f,
                                                           const char *fmt, ...);
/** Hand the result to the callback. */
__attribute__((warn_unused_result)) int ka_relation_emit(const struct ka_relation_run *run,
                                                         const struct ka_relation_result *res);
/** True when `entries` (one namespace's) hold an entry of `kind` ("ResourceQuota"). */
int ka_relation_has_kind(const cJSON *entries, const char *kind);

/* A workload a relation rule judges (its subject). */
struct ka_relation_workload {
    const cJSON *entry; /* the workload's index entry */
    const char *ns;
    const cJSON *entries; /* its namespace's entries */
    const char *role;     /* the selector param it matched ("agents", "memorySpine") */
};

/* Adds the findings of one subject to its result (ka_relation_report). Called only when the
 * relation is evaluated. */
typedef void (*ka_relation_judge_fn)(const struct ka_relation_run *run,
                                     const struct ka_relation_workload *subject,
                                     struct ka_relation_result *res);

/* A relation rule (its ka_rule_def's `relation`): which workloads are its subjects, the kinds it
 * compares, and how it judges one. ka_relations_evaluate() runs it: for each subject, in
 * namespace then input order, a result is started (ka_relation_result_start), marked not
 * evaluated when the input lacks a kind of `needs`, else judged, and emitted. */
struct ka_relation_loop {
    /* selector params that make a workload a subject (ka_relation_subject), tried in order; the
     * first that matches is the subject's role. NULL-terminated. */
    const char *roles[3];
    /* kind bits it compares: the input has none of one (and does not list it), and the result
     * is "not evaluated" (ka_relation_needs, in bit order) */
    unsigned needs;
    /* 0: one result per subject workload. 1: one per namespace holding a subject, the
     * Namespace being the result's subject; the judge gets the namespace's first subject. */
    int per_namespace;
    ka_relation_judge_fn judge;
};

/** The configured rule `id` of the policy, or NULL. */
const struct ka_rule *ka_relation_policy_rule(const struct ka_relation_run *run, const char *id);

/** The params check of every relation rule (the policy loader runs it; a relation's ka_rule_def
 * needs no `check`): the "agents" and "memorySpine" params, when present, are label selectors. */
int ka_relation_check_selectors(const cJSON *params, char *err, size_t err_len,
                                const cJSON **where);

/** The kinds `kadmit audit --cluster` lists with kubectl, comma-separated, as kubectl names
 * them (static): every kind kadmit checks but custom resources (Argo Rollouts, listed only where
 * the cluster serves them), and the relations' kinds. */
const char *ka_relations_cluster_kinds(void);

#endif
