/*
 * The checklist rules and the object view they run on.
 *
 * A rule definition (struct ka_rule_def) is static: id, kinds, parameter schema, and a run
 * function. A policy compiles each configured rule into a struct ka_rule (action, match,
 * exclude, exceptions, parameters merged with defaults), borrowed by evaluations.
 *
 * Evaluation: ka_rules_mutate() applies the mutation rules to an object tree (and records the
 * JSON patch), ka_rules_validate() runs the validation rules and appends to a struct ka_findings.
 */
#ifndef KADMIT_RULES_H
#define KADMIT_RULES_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "kadmit/admission.h"
#include "kadmit/buf.h"
#include "kadmit/patch.h"
#include "kadmit/policy.h"
#include "kadmit/ratchet.h"

/* Kinds kadmit understands. */
enum ka_kind {
    KA_KIND_OTHER = 0,
    KA_KIND_POD = 1 << 0,
    KA_KIND_DEPLOYMENT = 1 << 1,
    KA_KIND_STATEFULSET = 1 << 2,
    KA_KIND_DAEMONSET = 1 << 3,
    KA_KIND_REPLICASET = 1 << 4,
    KA_KIND_REPLICATIONCONTROLLER = 1 << 5,
    KA_KIND_JOB = 1 << 6,
    KA_KIND_CRONJOB = 1 << 7,
    KA_KIND_HPA = 1 << 8,
    KA_KIND_PDB = 1 << 9,
    KA_KIND_INGRESS = 1 << 10,
    KA_KIND_ROLE = 1 << 11,
    KA_KIND_CLUSTERROLE = 1 << 12,
    KA_KIND_ROLEBINDING = 1 << 13,
    KA_KIND_CLUSTERROLEBINDING = 1 << 14,
    KA_KIND_ROLLOUT = 1 << 15, /* Argo Rollouts (argoproj.io): spec.template as a Deployment's */
};
#define KA_KIND_LAST KA_KIND_ROLLOUT /* the highest bit, for loops over the kinds */
/* Kinds without a namespace: a policy's `namespaces` globs do not apply to them. */
#define KA_KINDS_CLUSTER_SCOPED (KA_KIND_CLUSTERROLE | KA_KIND_CLUSTERROLEBINDING)
#define KA_KINDS_WORKLOAD                                                                          \
    (KA_KIND_POD | KA_KIND_DEPLOYMENT | KA_KIND_STATEFULSET | KA_KIND_DAEMONSET |                  \
     KA_KIND_REPLICASET | KA_KIND_REPLICATIONCONTROLLER | KA_KIND_JOB | KA_KIND_CRONJOB |          \
     KA_KIND_ROLLOUT)

/** Kind name ("StatefulSet") to enum; KA_KIND_OTHER when unknown. */
enum ka_kind ka_kind_from_name(const char *name);
/** Kind name to enum as ka_kind_from_name(), but KA_KIND_OTHER when `api_version` ("apps/v1";
 *  NULL or "" accepts any) names an API group the kind is not served from: a custom resource
 *  that reuses a kind's name (Volcano's batch.volcano.sh Job) is not the Kubernetes kind. */
enum ka_kind ka_kind_of(const char *api_version, const char *name);
/** One kind's name ("StatefulSet"), or "" for KA_KIND_OTHER and combinations. Static. */
const char *ka_kind_name(enum ka_kind kind);
/** Whether a mapping that looks like a Kubernetes object cannot be identified as one, as kubectl
 *  refuses it: metadata but no kind, or a kind but no apiVersion. 1 with the reason in `msg`
 *  (audit's error, fix's note), else 0. Lists and AdmissionReviews are the caller's to unwrap. */
int ka_object_identity_error(const cJSON *obj, char *msg, size_t len);

/* A view of one Kubernetes object: where its pod spec and pod metadata are. Borrowed. */
struct ka_object {
    enum ka_kind kind;
    const char *kind_name;
    const char *api_version; /* "apps/v1", or "" */
    const char *namespace_;  /* "" when unknown */
    char name[256];          /* name, or "<generateName>*" */
    cJSON *root;
    cJSON *pod_meta;        /* pod metadata (Pod: metadata; templates: template.metadata) */
    cJSON *pod_spec;        /* pod spec, or NULL for HPA/PDB/other */
    char pod_meta_path[48]; /* JSON pointer of pod_meta's position ("/metadata", ...) */
    char pod_spec_path[48];
    int job_pod; /* a Job/CronJob template, or a pod owned by a Job */
    int mirror_pod;
};

/**
 * Build the view. `kind_name` is the request's kind (or the object's), `ns` the request's
 * namespace used when the object has none. Returns 0 or KA_ETYPE when a present field has the
 * wrong type (message in err).
 */
__attribute__((warn_unused_result)) int ka_object_view(cJSON *root, const char *kind_name,
                                                       const char *ns, struct ka_object *out,
                                                       char *err, size_t err_len);

enum ka_param_type {
    KA_P_BOOL,
    KA_P_INT,
    KA_P_STRING,
    KA_P_STRINGS,  /* list of strings */
    KA_P_DURATION, /* "168h", "7d", "5m", "30s" */
    KA_P_PORT,     /* port number or name */
    KA_P_OBJECT,   /* mapping, checked by the rule's check function */
    KA_P_LIST,     /* list, checked by the rule's check function */
};

struct ka_param_def {
    const char *name;
    enum ka_param_type type;
    const char *default_json; /* JSON text of the default, or NULL for none */
    const char *help;         /* one line: what the param changes (`kadmit explain`) */
};

/** "bool", "int", "string", "list of strings", ... (for messages and `kadmit explain`). */
const char *ka_param_type_name(enum ka_param_type t);

struct ka_rule;
struct ka_rule_run;
struct ka_relation_loop;

struct ka_rule_def {
    const char *id;
    const char *summary;     /* one line for `kadmit rules` and the READMEs' tables */
    const char *description; /* the checklist item and why, for `kadmit explain` */
    /* The action in a policy that says `otherRules: default` (the shipped checklist) without
     * naming the rule; KA_ACTION_OFF (the zero value): the rule runs only where named. */
    enum ka_action default_action;
    int mutating;
    unsigned kinds;                    /* enum ka_kind bits the rule applies to */
    const struct ka_param_def *params; /* NULL-terminated */
    /* Extra checks on merged params (may be NULL). Fill err, set *where; return KA_EPOLICY. */
    int (*check)(const cJSON *params, char *err, size_t err_len, const cJSON **where);
    /* Optional compiled state built at load (e.g. the attestation index). */
    int (*load)(struct ka_rule *rule, const struct ka_policy_load_opts *opts, struct ka_buf *diag);
    void (*unload)(struct ka_rule *rule);
    /* Files or directories whose change should reload the policy (may be NULL). */
    size_t (*watch)(const struct ka_rule *rule, const char **paths, size_t max);
    int (*run)(struct ka_rule_run *run);
    /* A relation (several objects together, relations.h): NULL for rules of one object. A
     * relation has no kinds and no run function: admission never runs it; `kadmit audit` runs
     * the loop once over the whole input's relation index. */
    const struct ka_relation_loop *relation;
    /* After load: why the rule, as configured, denies every object it looks at (e.g. no trusted
     * keys), or NULL. `kadmit lint` warns when such a rule is enforced. May be NULL. */
    const char *(*denies_all)(const struct ka_rule *rule);
};

/* One configured rule of a policy snapshot. */
struct ka_rule {
    const struct ka_rule_def *def;
    enum ka_action action;
    int target_templates; /* mutation rules: also mutate workload templates */
    const cJSON *match;   /* borrowed from the policy document */
    const cJSON *exclude;
    const cJSON *exceptions;
    cJSON *params; /* owned: defaults merged with the file's params */
    void *state;   /* owned by def->load/unload */
};

/** The rule catalogue (NULL-terminated, sorted by id; generated from webhook/src/rules/) and
 * lookup by id. */
extern const struct ka_rule_def *const ka_rule_defs[];
const struct ka_rule_def *ka_rule_def_find(const char *id);

/* Evaluation context shared by all rules of one review. */
struct ka_eval {
    const struct ka_rule *rules;
    size_t n_rules;
    const cJSON *excluded_namespaces;
    struct ka_object *obj;
    struct ka_findings *findings; /* findings and mutations go here */
    struct ka_patch *patch;       /* mutations: record ops (NULL: apply in memory only) */
    struct ka_patch *fixes; /* validation: collect the determined fixes (`kadmit fix`), or NULL */
    int64_t now;
    int templates_as_pods; /* apply pod mutations to templates (validation view) */
    /* The request: "CREATE", "UPDATE"; request.userInfo.username, set by the API server (""
     * in audits and for the old object of an UPDATE). Borrowed. */
    const char *operation;
    const char *user;
    /* UPDATE: while evaluating the old object, record its findings here (nothing is listed);
     * while evaluating the new one, findings about an unchanged subject are "existing". */
    struct ka_ratchet *ratchet_record;
    const struct ka_ratchet *ratchet_match;
    /* Audits: who the RBAC bindings of the same input bind each role to (ka_review_opts);
     * NULL in admission, where kadmit sees one object at a time. Borrowed. */
    const cJSON *role_bindings;
    /* Admission with a registry fetcher: where denied digests are queued (fetch_queue.h), or
     * NULL (audits, fix, review). */
    struct ka_fetch_queue *fetch_queue;
};

/* Handed to a rule's run function. */
struct ka_rule_run {
    const struct ka_rule *rule;
    struct ka_eval *ev;
    struct ka_object *obj;
};

/**
 * Report a violation: formats the message, applies exceptions, appends to ev->findings.
 * `container` may be NULL. `fix` is the remedy shown in parentheses.
 */
__attribute__((warn_unused_result)) int ka_rule_report(struct ka_rule_run *run,
                                                       const char *container, const char *path,
                                                       const char *what, const char *fix);

/**
 * Like ka_rule_report(), at the rule's action or `most`, whichever is weaker: for one check of
 * a rule that ships at a lower action than the rule's others (agent-rbac's `roleAction`).
 */
__attribute__((warn_unused_result)) int ka_rule_report_at(struct ka_rule_run *run,
                                                          enum ka_action most, const char *path,
                                                          const char *what, const char *fix);

/**
 * Like ka_rule_report(), for a finding about an aged or now-failing scan (`stale`), reported at
 * warn instead of enforce when `soften` is set (a controller's replacement).
 */
__attribute__((warn_unused_result)) int
ka_rule_report_stale(struct ka_rule_run *run, enum ka_stale stale, int soften,
                     const char *container, const char *path, const char *what, const char *fix);

/**
 * Propose the determined change that removes a finding just reported for `container` (may be
 * NULL): an RFC 6902 `op` ("add", "replace", "remove") at `path` with `value` (borrowed; NULL
 * for remove). Recorded in ev->fixes when the evaluation collects fixes (`kadmit fix`), and
 * only when the finding is not excepted; otherwise a no-op. A rule proposes a fix only when the
 * value is determined by the object and the rule's params, never guessed.
 */
__attribute__((warn_unused_result)) int ka_rule_fix(struct ka_rule_run *run, const char *container,
                                                    const char *op, const char *path,
                                                    const cJSON *value);

/** Run mutation rules (in policy order) on ev->obj. Returns 0 or a negative code. */
__attribute__((warn_unused_result)) int ka_rules_mutate(struct ka_eval *ev);
/** Run validation rules on ev->obj. */
__attribute__((warn_unused_result)) int ka_rules_validate(struct ka_eval *ev);

/**
 * For audits (agent-rbac, webhook/src/rules/agent-rbac.c): append to the array `out` one
 * {"role", "serviceAccount", "binding"} entry (ka_review_opts.role_bindings) per service
 * account that the RoleBinding or ClusterRoleBinding `binding`, in namespace `ns` ("" for a
 * ClusterRoleBinding), binds. Returns 0 or KA_ENOMEM.
 */
__attribute__((warn_unused_result)) int ka_rbac_record_bindings(const cJSON *binding,
                                                                const char *ns, cJSON *out);

/** The rule's first exception that exempts the whole object (one without `containers` or
 * `images`), or NULL: for relations, whose findings are about a workload, not a container. */
const cJSON *ka_rule_exception_for(const struct ka_rule *rule, const struct ka_object *obj);

/** True when the rule's match and exclude blocks select the object (kinds are not checked). */
int ka_rule_selects(const struct ka_rule *rule, const struct ka_object *obj);

/** True when the namespace is excluded for every rule. */
int ka_rules_namespace_excluded(const struct ka_eval *ev, const char *ns);

#endif
