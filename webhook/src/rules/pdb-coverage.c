/*
 * pdb-coverage (relation, audit only): "PodDisruptionBudgets: at least 1 agent and 2 Memory
 * Spine replicas available". pdb-availability judges each PDB; this checks that every agent and
 * Memory Spine workload (StatefulSet, Deployment) has one: a PodDisruptionBudget in its namespace
 * whose selector selects its pods and which passes pdb-availability. Without one a node drain may
 * evict every replica at once.
 */
#include "rule_api.h"

/* minAvailable that pdb-availability asks for these labels (its minimums), else 1. */
static int wanted_min(const struct ka_relation_run *run, const cJSON *labels)
{
    const struct ka_rule *pa = ka_relation_policy_rule(run, "pdb-availability");
    const cJSON *m;
    const cJSON *minimums = pa != NULL ? item(pa->params, "minimums") : NULL;
    cJSON_ArrayForEach(m, minimums)
    {
        const cJSON *min = item(m, "minAvailable");
        if (cJSON_IsNumber(min) && ka_selector_matches(item(m, "selector"), labels)) {
            return min->valueint;
        }
    }
    return 1;
}

/* The PDB's selector selects the subject's pods. */
static int selects(const struct ka_relation_workload *w, const cJSON *pdb)
{
    const cJSON *sel = item(pdb, "selector");
    return cJSON_GetArraySize(sel) != 0 && ka_selector_matches(sel, ka_relation_labels(w->entry));
}

static void judge_pdb(const struct ka_relation_run *run, const struct ka_relation_workload *w,
                      struct ka_relation_result *res)
{
    const cJSON *labels = ka_relation_labels(w->entry);
    const char *failing;
    if (ka_relation_covered(w, "PodDisruptionBudget", selects, &failing)) {
        return;
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
    .params = ka_relation_params_agents_spine,
    .relation = &pdb_loop,
};
