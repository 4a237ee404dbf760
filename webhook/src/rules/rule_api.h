/*
 * What a rule (webhook/src/rules/<rule-id>.c) builds on: parameter getters, the container walk
 * and container paths, reporting, and the mutation helpers that change the tree and record the
 * JSON patch together. Internal to the rules: nothing outside webhook/src/rules*.c includes it.
 *
 * A rule file defines `const struct ka_rule_def ka_rule_<rule_id>` (dashes become underscores);
 * CMake lists the folder and generates the registry, so the file is all a new rule needs.
 * Parameters arrive merged with their defaults and already type-checked by the policy loader,
 * so run functions read them without re-validating.
 */
#ifndef KADMIT_RULE_API_H
#define KADMIT_RULE_API_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "kadmit/error.h"
#include "kadmit/json.h"
#include "kadmit/limits.h"
#include "kadmit/relations.h"
#include "kadmit/rules.h"
#include "kadmit/select.h"

/* ------------------------------------------------------------------------------------------
 * Accessors (borrowed results; NULL when absent or of another type)
 */

static inline cJSON *item(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static inline const char *str_at(const cJSON *obj, const char *key)
{
    const cJSON *v = item(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline const cJSON *param(const struct ka_rule_run *run, const char *name)
{
    return item(run->rule->params, name);
}

static inline int param_int(const struct ka_rule_run *run, const char *name)
{
    const cJSON *v = param(run, name);
    return cJSON_IsNumber(v) ? v->valueint : 0;
}

static inline int param_bool(const struct ka_rule_run *run, const char *name)
{
    return cJSON_IsTrue(param(run, name));
}

static inline const char *param_str(const struct ka_rule_run *run, const char *name)
{
    return str_at(run->rule->params, name);
}

/** The pod's labels (the template's for workloads), or NULL. */
static inline const cJSON *pod_labels(const struct ka_object *obj)
{
    return item(obj->pod_meta, "labels");
}

/* ------------------------------------------------------------------------------------------
 * The container walk
 */

/* Container lists, as bits for ka_for_each_container(). */
#define KA_INIT 1u      /* initContainers */
#define KA_APP 2u       /* containers */
#define KA_EPHEMERAL 4u /* ephemeralContainers */
/* initContainers with restartPolicy: Always: native sidecars (Kubernetes 1.28+), which start
 * before the app containers and run as long as they do; KA_INIT includes them */
#define KA_SIDECAR 8u

/* A container field's JSON pointer fits (a finding keeps 160 bytes of it). */
#define KA_CONTAINER_PATH_MAX 192

/* Where a container is; its JSON pointer is only built when something is reported. */
struct ka_container_ref {
    const char *field; /* "containers", ... */
    size_t index;
};

/** JSON pointer of a container's field: pod spec path + /<field>/<index> + the printf-formatted
 * `suffix` ("/image", "/env/%zu/value"), cut to fit `len`. */
__attribute__((format(printf, 5, 6))) void ka_container_path(const struct ka_rule_run *run,
                                                             const struct ka_container_ref *at,
                                                             char *out, size_t len,
                                                             const char *suffix, ...);

/** ka_rule_report() about container `name` at its field ka_container_path() makes of `suffix`. */
__attribute__((warn_unused_result, format(printf, 6, 7))) int
ka_container_report(struct ka_rule_run *run, const char *name, const struct ka_container_ref *at,
                    const char *what, const char *fix, const char *suffix, ...);

/* Called per container; `name` is "(unnamed)" when the container has none. Non-zero stops. */
typedef int (*ka_container_fn)(struct ka_rule_run *run, cJSON *c, const char *name,
                               const struct ka_container_ref *at, void *arg);

/** Calls fn for each container of the `lists` (KA_INIT | KA_SIDECAR | KA_APP | KA_EPHEMERAL), in
 * the pod's order: initContainers (all of them with KA_INIT, the native sidecars among them with
 * KA_SIDECAR alone), containers, ephemeralContainers. */
__attribute__((warn_unused_result)) int
ka_for_each_container(struct ka_rule_run *run, unsigned lists, ka_container_fn fn, void *arg);

/** 1 when `c`, an initContainer, is a native sidecar: its restartPolicy is Always. */
static inline int ka_is_native_sidecar(const cJSON *c)
{
    const char *policy = str_at(c, "restartPolicy");
    return policy != NULL && strcmp(policy, "Always") == 0;
}

/* A check of each element of a container array ("env", "volumeMounts"): `judge` writes what is
 * wrong with one into `what` and returns 1, or returns 0 when it is fine. */
struct ka_element_check {
    unsigned lists;     /* KA_INIT | KA_SIDECAR | KA_APP | KA_EPHEMERAL */
    const char *field;  /* the container's array */
    const char *suffix; /* the finding's path after /<field>/<index> ("" or "/value") */
    const char *fix;
    int (*judge)(const struct ka_rule_run *run, const cJSON *element, char *what, size_t len);
};

/** Runs `check` over the elements of every container of its lists, reporting each finding. */
__attribute__((warn_unused_result)) int
ka_check_container_elements(struct ka_rule_run *run, const struct ka_element_check *check);

/** The app container (in `containers`) named `name`, its place in `at`; NULL when none. */
cJSON *ka_app_container(const struct ka_rule_run *run, const char *name,
                        struct ka_container_ref *at);

/* ------------------------------------------------------------------------------------------
 * Mutations: change the tree and record the patch together
 */

/** Add `value` under `key`; on failure `value` is freed and KA_ENOMEM returned. */
__attribute__((warn_unused_result)) int ka_attach_member(cJSON *obj, const char *key, cJSON *value);

/** Record an "add" of `value` at `path` in the patch and in the findings' mutation list. */
__attribute__((warn_unused_result)) int ka_rule_record_add(struct ka_rule_run *run,
                                                           const char *path, const cJSON *value);

/** ka_rule_record_add() of `value` at `path`, then attach it as obj[key]; `value` is consumed. */
__attribute__((warn_unused_result)) int ka_rule_add_member(struct ka_rule_run *run,
                                                           const char *path, cJSON *obj,
                                                           const char *key, cJSON *value);

/** Make sure pod metadata and its `field` map exist (recording the adds); returns the map. */
__attribute__((warn_unused_result)) int ka_rule_ensure_pod_map(struct ka_rule_run *run,
                                                               const char *field, cJSON **out);

/** Add each of `wanted`'s annotations the pod does not have (never overrides the user's). */
__attribute__((warn_unused_result)) int ka_rule_add_annotations(struct ka_rule_run *run,
                                                                const cJSON *wanted);

/** Append `value` (consumed) to pod_spec[field], creating the array if needed. */
__attribute__((warn_unused_result)) int
ka_rule_append_to_spec_array(struct ka_rule_run *run, const char *field, cJSON *value);

/* ------------------------------------------------------------------------------------------
 * Relations (rules with a `relation` loop, see kadmit/relations.h)
 */

/* The params of a relation's roles: the label selectors "agents", "memorySpine", or both. */
extern const struct ka_param_def ka_relation_params_agents[];
extern const struct ka_param_def ka_relation_params_spine[];
extern const struct ka_param_def ka_relation_params_agents_spine[];

/* Does the entry (of the subject's namespace) cover the subject? */
typedef int (*ka_relation_cover_fn)(const struct ka_relation_workload *w, const cJSON *entry);

/** For kinds checked by their own rule (an "ok" entry: PDBs, HPAs): 1 when an entry of `kind` in
 * the subject's namespace covers it and passes; else 0, `*failing` naming the first that covers
 * it but fails (NULL when none covers it). */
int ka_relation_covered(const struct ka_relation_workload *w, const char *kind,
                        ka_relation_cover_fn covers, const char **failing);

/* ------------------------------------------------------------------------------------------
 * Determined fixes (`kadmit fix`, see ka_rule_fix())
 */

/** ka_rule_fix() with a number as the value. */
__attribute__((warn_unused_result)) int ka_rule_fix_number(struct ka_rule_run *run, const char *op,
                                                           const char *path, double value);

/** "replace" when the field is there (and not null), else "add". */
static inline const char *ka_add_or_replace(const cJSON *v)
{
    return v != NULL && !cJSON_IsNull(v) ? "replace" : "add";
}

#endif
