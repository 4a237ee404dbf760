/*
 * memory-spine-anti-affinity: Memory Spine replicas must not share a node: pods selected by the
 * rule's match carry a required podAntiAffinity term on the topology key that selects their own
 * labels.
 */
#include "rule_api.h"

static int run_anti_affinity(struct ka_rule_run *run)
{
    const char *key = str_at(run->rule->params, "topologyKey");
    const cJSON *labels = pod_labels(run->obj);
    const cJSON *anti = item(item(run->obj->pod_spec, "affinity"), "podAntiAffinity");
    const cJSON *required = item(anti, "requiredDuringSchedulingIgnoredDuringExecution");
    const cJSON *preferred = item(anti, "preferredDuringSchedulingIgnoredDuringExecution");
    char path[160], fix[300], what[200];
    snprintf(path, sizeof(path), "%s/affinity/podAntiAffinity", run->obj->pod_spec_path);
    snprintf(fix, sizeof(fix),
             "add podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution with "
             "topologyKey %s and a labelSelector matching the pod's own labels",
             key);
    int wrong_key = 0, misses = 0;
    const cJSON *term;
    cJSON_ArrayForEach(term, required)
    {
        const char *tk = str_at(term, "topologyKey");
        if (tk == NULL || strcmp(tk, key) != 0) {
            wrong_key++;
            continue;
        }
        const cJSON *sel = item(term, "labelSelector");
        if (sel == NULL || !ka_selector_matches(sel, labels) ||
            (item(sel, "matchLabels") == NULL && item(sel, "matchExpressions") == NULL)) {
            misses++;
            continue;
        }
        return 0; /* a required term on the right key that selects the pod's own replicas */
    }
    if (misses > 0) {
        snprintf(what, sizeof(what),
                 "required podAntiAffinity on %s has a labelSelector that does not select the "
                 "pod's own labels",
                 key);
    } else if (wrong_key > 0) {
        snprintf(what, sizeof(what), "required podAntiAffinity uses another topologyKey than %s",
                 key);
    } else if (cJSON_GetArraySize(preferred) > 0) {
        snprintf(what, sizeof(what),
                 "podAntiAffinity is only preferred, so replicas may share a node");
    } else {
        snprintf(what, sizeof(what),
                 "has no required podAntiAffinity, so replicas may share a node");
    }
    return ka_rule_report(run, NULL, path, what, fix);
}

static const struct ka_param_def anti_affinity_params[] = {
    {"topologyKey", KA_P_STRING, "\"kubernetes.io/hostname\"",
     "the topology key the required term must use"},
    {NULL, 0, NULL, NULL},
};

const struct ka_rule_def ka_rule_memory_spine_anti_affinity = {
    .id = "memory-spine-anti-affinity",
    .summary = "selected pods (shipped: `app: memory-spine`) carry a required podAntiAffinity on "
               "the topology key that selects their own labels",
    .description =
        "Pods selected by the rule's match.selector (shipped: app: memory-spine) have a required "
        "podAntiAffinity term on the topology key whose labelSelector selects the pod's own "
        "labels. Preferred-only, another key, or a selector that misses the pod are violations.",
    .kinds = KA_KINDS_WORKLOAD,
    .params = anti_affinity_params,
    .run = run_anti_affinity,
};
