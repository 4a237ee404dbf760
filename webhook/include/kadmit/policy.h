/*
 * Policy snapshots.
 *
 * A policy is loaded from YAML or JSON files (a file, or a directory of *.yaml, *.yml and *.json
 * files) or from the embedded default checklist, validated, and frozen into an immutable,
 * reference-counted snapshot. A document without spec.base is a complete policy; one with
 * spec.base is an overlay that changes the rules of its base (the embedded checklist when no
 * complete policy is loaded). A directory holds at most one complete policy; its overlays apply
 * in file-name order. Requests hold a reference for their whole life; a reload
 * builds a new snapshot and swaps it in (see ka_policy_holder), so a bad file never replaces a
 * good snapshot and requests in flight keep the one they started with.
 *
 * Ownership: ka_policy_load_*() return a snapshot with one reference owned by the caller;
 * ka_policy_ref() adds one, ka_policy_unref() drops one and frees at zero. Thread-safe.
 */
#ifndef KADMIT_POLICY_H
#define KADMIT_POLICY_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "kadmit/buf.h"

struct ka_policy; /* opaque */

enum ka_action { KA_ACTION_OFF = 0, KA_ACTION_AUDIT, KA_ACTION_WARN, KA_ACTION_ENFORCE };

/** "off", "audit", "warn", "enforce". */
const char *ka_action_name(enum ka_action a);
/** The action named `s` ("off", "audit", "warn", "enforce"; may be NULL): 0 or KA_EINVAL. */
int ka_action_parse(const char *s, enum ka_action *out);

/*
 * A setting for one rule that overrides the policy files (a flag such as the server's
 * --attestations, or a test switching a rule off). An override of a rule the policy does not
 * configure is ignored.
 */
struct ka_rule_override {
    const char *rule;  /* rule id */
    const char *param; /* param name, or NULL to override the rule's action */
    const char *value; /* the param's value as JSON text, or an action name ("off", "warn") */
};

struct ka_policy_load_opts {
    /* Applied in order after the files are read, before rules load their state. */
    const struct ka_rule_override *overrides;
    size_t n_overrides;
    /* Count warnings (ka_policy_warnings) without writing them to diag: the offline commands
     * other than `kadmit lint` are not where a policy is reviewed. */
    int quiet_warnings;
    /* Maximum nesting depth of policy documents. 0: KA_MAX_DEPTH_DEFAULT. */
    unsigned max_depth;
    /* The snapshot being replaced (a reload), or NULL. Rules may reuse its loaded state, e.g.
     * attestation files that did not change are not verified again. Only read. */
    const struct ka_policy *previous;
};

/**
 * Load a file or a directory of policy files. On error returns KA_EPOLICY (or KA_ENOTFOUND,
 * KA_EIO, KA_ENOMEM) and writes `file:line:column: message` lines to `diag` (may be NULL).
 */
__attribute__((warn_unused_result)) int ka_policy_load_path(const char *path,
                                                            const struct ka_policy_load_opts *opts,
                                                            struct ka_policy **out,
                                                            struct ka_buf *diag);
/** Load from memory; `name` is used in diagnostics. */
__attribute__((warn_unused_result)) int
ka_policy_load_buffer(const char *name, const char *data, size_t len,
                      const struct ka_policy_load_opts *opts, struct ka_policy **out,
                      struct ka_buf *diag);
/** Load the embedded default (the shipped policies/checklist.yaml). */
__attribute__((warn_unused_result)) int
ka_policy_load_default(const struct ka_policy_load_opts *opts, struct ka_policy **out,
                       struct ka_buf *diag);

/** The embedded checklist's bytes (static, borrowed). */
const char *ka_policy_default_text(size_t *len);

/**
 * Validate without keeping the result: every problem is a `file:line:column: message` line in
 * `diag`, every warning a `file:line:column: warning: message` line, and *warnings counts the
 * warnings. Returns 0 when valid (warnings or not), KA_EPOLICY when not.
 */
__attribute__((warn_unused_result)) int ka_policy_lint_path(const char *path, struct ka_buf *diag,
                                                            size_t *warnings);

struct ka_policy *ka_policy_ref(struct ka_policy *p);
void ka_policy_unref(struct ka_policy *p);

struct ka_rule;
struct cJSON;
/** The snapshot's compiled rules, in policy order (borrowed for the snapshot's life). */
const struct ka_rule *ka_policy_rules(const struct ka_policy *p, size_t *n);
/** Globs of namespaces no rule looks at (borrowed). */
const struct cJSON *ka_policy_excluded_namespaces(const struct ka_policy *p);

/**
 * Files and directories, besides the policy files themselves, that the snapshot was built from
 * (e.g. the attestation directory and the directories of trusted key files): a change to any of
 * them should reload the policy. Fills up to `max` borrowed paths; returns how many.
 */
size_t ka_policy_watch_paths(const struct ka_policy *p, const char **paths, size_t max);

/** metadata.name of the complete policy the snapshot was built from ("checklist" for the
 * embedded one; borrowed). */
const char *ka_policy_name(const struct ka_policy *p);

/**
 * How many warnings loading wrote to `diag`: a rule set by two overlays, a checklist rule left
 * off without `action: off`, an enforced rule whose configuration denies every object.
 */
size_t ka_policy_warnings(const struct ka_policy *p);

/**
 * The effective policy as one complete Policy document (caller frees with cJSON_Delete): every
 * catalogue rule with its action, match, exclude, exceptions and params (rules the policy does
 * not list appear with action off), plus status.origins: the same shape, each value replaced by
 * where it came from ("file:line", "(checklist default)", "(default)", "(not set)").
 * Returns 0 or KA_ENOMEM.
 */
__attribute__((warn_unused_result)) int ka_policy_effective(const struct ka_policy *p,
                                                            struct cJSON **out);

/** Human-readable identity of the snapshot: names of the files/policies merged (borrowed). */
const char *ka_policy_source(const struct ka_policy *p);

/*
 * A holder publishes the current snapshot to many threads. get() returns a new reference (the
 * caller unrefs it); set() takes over the caller's reference to the new snapshot.
 */
struct ka_policy_holder {
    struct ka_policy *current;
    pthread_mutex_t lock; /* held only to copy the pointer and take a reference */
};
void ka_policy_holder_init(struct ka_policy_holder *h);
void ka_policy_holder_free(struct ka_policy_holder *h);
struct ka_policy *ka_policy_holder_get(struct ka_policy_holder *h);
void ka_policy_holder_set(struct ka_policy_holder *h, struct ka_policy *p);

#endif
