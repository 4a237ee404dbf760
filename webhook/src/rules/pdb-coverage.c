/*
 * pdb-coverage (relation, audit only): "PodDisruptionBudgets: at least 1 agent and 2 Memory
 * Spine replicas available". pdb-availability judges each PDB; this checks that every agent and
 * Memory Spine workload (StatefulSet, Deployment) has one: a PodDisruptionBudget in its namespace
 * whose selector selects its pods and which passes pdb-availability. Without one a node drain may
 * evict every replica at once.
 */
#include "kadmit/relations.h"

#include <stdio.h>
#include <string.h>

#include "kadmit/select.h"

/* minAvailable that pdb-availability asks for these labels (its minimums), else 1. */
static int wanted_min(const struct ka_relation_run *run, const cJSON *labels)
{
    const struct ka_rule *pa = ka_relation_policy_rule(run, "pdb-availability");
    const cJSON *m;
    const cJSON *minimums =
        pa != NULL ? cJSON_GetObjectItemCaseSensitive(pa->params, "minimums") : NULL;
    cJSON_ArrayForEach(m, minimums)
    {
        const cJSON *sel = cJSON_GetObjectItemCaseSensitive(m, "selector");
        const cJSON *min = cJSON_GetObjectItemCaseSensitive(m, "minAvailable");
        if (cJSON_IsNumber(min) && ka_selector_matches(sel, labels)) {
            return min->valueint;
        }
    }
    return 1;
}

static void judge_pdb(const struct ka_relation_run *run, const struct ka_relation_workload *w,
                      struct ka_relation_result *res)
{
    const cJSON *labels = ka_relation_labels(w->entry);
    const char *failing = NULL;
    const cJSON *p;
    cJSON_ArrayForEach(p, w->entries)
    {
        const cJSON *sel = cJSON_GetObjectItemCaseSensitive(p, "selector");
        if (strcmp(ka_relation_str(p, "kind"), "PodDisruptionBudget") != 0 ||
            cJSON_GetArraySize(sel) == 0 || !ka_selector_matches(sel, labels)) {
            continue;
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "ok"))) {
            return; /* covered */
        }
        failing = failing ? failing : ka_relation_str(p, "name");
    }
    struct ka_relation_finding *f;
    if (failing != NULL) {
        f = ka_relation_what(
            res, "PodDisruptionBudget %.100s selects its pods but fails pdb-availability", failing);
        ka_relation_fix(res, f, "set minAvailable: %d on %.100s (kadmit explain pdb-availability)",
                        wanted_min(run, labels), failing);
        return;
    }
    char text[160];
    ka_relation_labels_text(run, w->role, w->entry, 0, text, sizeof(text));
    f = ka_relation_what(res, "no PodDisruptionBudget in %.63s selects its pods (%s)",
                         res->namespace_, text);
    ka_relation_fix(res, f,
                    "kubectl create poddisruptionbudget %.100s -n %.63s --selector=%s "
                    "--min-available=%d",
                    res->name, res->namespace_, text, wanted_min(run, labels));
}

static const struct ka_relation_loop pdb_loop = {
    .roles = {"memorySpine", "agents"}, .needs = KA_REL_PDB, .judge = judge_pdb};

static const struct ka_param_def pdb_coverage_params[] = {
    {"agents", KA_P_OBJECT, "{\"matchLabels\":{\"app\":\"agent\"}}",
     "label selector of the agent pods (pod template labels)"},
    {"memorySpine", KA_P_OBJECT, "{\"matchLabels\":{\"app\":\"memory-spine\"}}",
     "label selector of the Memory Spine pods"},
    {NULL, 0, NULL, NULL},
};

const struct ka_rule_def ka_rule_pdb_coverage = {
    .id = "pdb-coverage",
    .summary = "every agent and Memory Spine workload has a PDB that selects its pods and passes "
               "pdb-availability (audit only)",
    .description =
        "A relation of several objects, judged by `kadmit audit` over a snapshot: each "
        "StatefulSet or Deployment whose pod template matches `agents` or `memorySpine` has a "
        "PodDisruptionBudget in its namespace whose selector selects those pods and which passes "
        "pdb-availability. Not evaluated when the input has no PodDisruptionBudget objects. At "
        "admission (serve, review) it does nothing: one object cannot judge it.",
    .default_action = KA_ACTION_ENFORCE,
    .params = pdb_coverage_params,
    .check = ka_relation_check_selectors,
    .relation = &pdb_loop,
};
