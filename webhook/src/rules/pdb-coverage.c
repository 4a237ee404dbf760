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

static int relate_pdb(const struct ka_relation_run *run)
{
    static const char *const roles[] = {"memorySpine", "agents"};
    for (size_t n = 0; n < run->idx->n_namespaces; n++) {
        const char *ns = run->idx->namespaces[n].name;
        const cJSON *entries = run->idx->namespaces[n].entries;
        const cJSON *w;
        cJSON_ArrayForEach(w, entries)
        {
            const char *role = ka_relation_subject(run, w, ns, roles[0])   ? roles[0]
                               : ka_relation_subject(run, w, ns, roles[1]) ? roles[1]
                                                                           : NULL;
            if (role == NULL) {
                continue;
            }
            struct ka_relation_result res;
            ka_relation_result_start(run, &res, w, ns);
            const char *failing = NULL;
            int covered = 0;
            const cJSON *p;
            const cJSON *all = ka_relation_needs(run, &res, KA_REL_PDB) ? NULL : entries;
            cJSON_ArrayForEach(p, all)
            {
                const cJSON *sel = cJSON_GetObjectItemCaseSensitive(p, "selector");
                if (strcmp(ka_relation_str(p, "kind"), "PodDisruptionBudget") != 0 ||
                    cJSON_GetArraySize(sel) == 0 ||
                    !ka_selector_matches(sel, ka_relation_labels(w))) {
                    continue;
                }
                if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "ok"))) {
                    covered = 1;
                    break;
                }
                failing = failing ? failing : ka_relation_str(p, "name");
            }
            char labels[160], what[300], fix[400];
            ka_relation_labels_text(run, role, w, 0, labels, sizeof(labels));
            if (!res.not_evaluated && !covered && failing != NULL) {
                snprintf(what, sizeof(what),
                         "PodDisruptionBudget %.100s selects its pods but fails pdb-availability",
                         failing);
                snprintf(fix, sizeof(fix),
                         "set minAvailable: %d on %.100s (kadmit explain pdb-availability)",
                         wanted_min(run, ka_relation_labels(w)), failing);
                ka_relation_report(&res, what, fix);
            } else if (!res.not_evaluated && !covered) {
                snprintf(what, sizeof(what),
                         "no PodDisruptionBudget in %.63s selects its pods (%s)", res.namespace_,
                         labels);
                snprintf(fix, sizeof(fix),
                         "kubectl create poddisruptionbudget %.100s -n %.63s --selector=%s "
                         "--min-available=%d",
                         res.name, res.namespace_, labels, wanted_min(run, ka_relation_labels(w)));
                ka_relation_report(&res, what, fix);
            }
            int ret = ka_relation_emit(run, &res);
            if (ret != 0) {
                return ret;
            }
        }
    }
    return 0;
}

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
    .relate = relate_pdb,
};
