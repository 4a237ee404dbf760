/*
 * memory-spine-anti-affinity: Memory Spine replicas must not share a node: pods selected by the
 * rule's match carry a required podAntiAffinity term on the topology key that selects their own
 * labels.
 */
#include "rule_api.h"

static const struct ka_param_def anti_affinity_params[] = {
    {"topologyKey", KA_P_STRING, "\"kubernetes.io/hostname\"",
     "the topology key the required term must use"},
    {NULL, 0, NULL, NULL},
};

/* The required term on `key` selecting the pod's own labels; it replaces a preferred-only term
 * and keeps every other affinity. Pods without labels get no fix: nothing would select them. */
static int anti_affinity_fix(struct ka_rule_run *run, const char *key, const char *anti_path)
{
    const cJSON *labels = pod_labels(run->obj);
    if (run->ev->fixes == NULL || !cJSON_IsObject(labels) || labels->child == NULL) {
        return 0;
    }
    const cJSON *affinity = item(run->obj->pod_spec, "affinity");
    const cJSON *anti = item(affinity, "podAntiAffinity");
    const cJSON *required = item(anti, "requiredDuringSchedulingIgnoredDuringExecution");
    cJSON *term = cJSON_CreateObject();
    cJSON *sel = cJSON_AddObjectToObject(term, "labelSelector");
    cJSON *match = cJSON_Duplicate(labels, 1);
    cJSON *value = NULL; /* what is added where */
    char path[256];
    int ret = KA_ENOMEM;
    if (sel == NULL || match == NULL || !cJSON_AddItemToObject(sel, "matchLabels", match)) {
        cJSON_Delete(match);
        goto cleanup;
    }
    if (cJSON_AddStringToObject(term, "topologyKey", key) == NULL) {
        goto cleanup;
    }
    if (cJSON_IsArray(required)) {
        snprintf(path, sizeof(path), "%s/requiredDuringSchedulingIgnoredDuringExecution/-",
                 anti_path);
        ret = ka_rule_fix(run, NULL, "add", path, term);
        goto cleanup;
    }
    /* Build the missing part top-down: affinity > podAntiAffinity > required: [term]. */
    value = cJSON_CreateArray();
    if (value == NULL) {
        goto cleanup;
    }
    cJSON_AddItemToArray(value, term);
    term = NULL;
    snprintf(path, sizeof(path), "%s/requiredDuringSchedulingIgnoredDuringExecution", anti_path);
    static const char *const levels[] = {"requiredDuringSchedulingIgnoredDuringExecution",
                                         "podAntiAffinity", "affinity"};
    const cJSON *have[] = {required, anti, affinity};
    for (size_t i = 0; i + 1 < 3 && (have[i + 1] == NULL || cJSON_IsNull(have[i + 1])); i++) {
        cJSON *wrap = cJSON_CreateObject();
        if (wrap == NULL || !cJSON_AddItemToObject(wrap, levels[i], value)) {
            cJSON_Delete(wrap);
            goto cleanup;
        }
        value = wrap;
        *strrchr(path, '/') = '\0';
    }
    ret = ka_rule_fix(run, NULL, "add", path, value);
    const cJSON *preferred = item(anti, "preferredDuringSchedulingIgnoredDuringExecution");
    if (ret == 0 && preferred != NULL) {
        snprintf(path, sizeof(path), "%s/preferredDuringSchedulingIgnoredDuringExecution",
                 anti_path);
        ret = ka_rule_fix(run, NULL, "remove", path, NULL);
    }
cleanup:
    cJSON_Delete(term);
    cJSON_Delete(value);
    return ret;
}

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
    if (cJSON_GetArraySize(required) > KA_MAX_AFFINITY_TERMS) {
        snprintf(what, sizeof(what),
                 "required podAntiAffinity has more than %d terms; kadmit does not evaluate it",
                 KA_MAX_AFFINITY_TERMS);
        return ka_rule_report(run, NULL, path, what, fix);
    }
    const cJSON *term;
    cJSON_ArrayForEach(term, required)
    {
        const char *tk = str_at(term, "topologyKey");
        if (tk == NULL || strcmp(tk, key) != 0) {
            wrong_key++;
            continue;
        }
        const cJSON *sel = item(term, "labelSelector");
        if (ka_selector_too_large(sel)) {
            snprintf(what, sizeof(what),
                     "required podAntiAffinity on %s has a labelSelector with more than %d "
                     "requirements or %d values in one expression; kadmit does not evaluate it",
                     key, KA_MAX_SELECTOR_REQUIREMENTS, KA_MAX_SELECTOR_VALUES);
            return ka_rule_report(run, NULL, path, what, fix);
        }
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
    int ret = ka_rule_report(run, NULL, path, what, fix);
    return ret == 0 ? anti_affinity_fix(run, key, path) : ret;
}

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
