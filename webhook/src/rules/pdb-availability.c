/*
 * pdb-availability: Disruptions (drains, upgrades) keep enough replicas: a PDB protecting the pods
 * a minimum names has an integer minAvailable at least that minimum.
 *
 * A PDB does not know how many replicas its workload runs (an HPA or `kubectl scale` changes
 * that), so only what holds for any count guarantees the minimum: an integer minAvailable, or a
 * budget that allows no voluntary disruption at all (maxUnavailable 0 or "0%", minAvailable
 * "100%"), which keeps every replica. maxUnavailable: 1 keeps replicas - 1, which is 0 for a
 * workload running one replica; the finding says to replace it with minAvailable (a PDB sets one
 * or the other), and that is what `kadmit fix` writes.
 */
#include "rule_api.h"

static const struct ka_param_def pdb_params[] = {
    {"minimums", KA_P_LIST,
     "[{\"selector\":{\"matchLabels\":{\"app\":\"memory-spine\"}},\"minAvailable\":2},"
     "{\"selector\":{\"matchLabels\":{\"app\":\"agent\"}},\"minAvailable\":1}]",
     "list of {selector: {matchLabels: ...}, minAvailable: N}"},
    {NULL, 0, NULL, NULL},
};

/* The budget allows no voluntary disruption, so every replica stays: maxUnavailable 0 or "0%"
 * (without minAvailable), or minAvailable "100%". */
static int blocks_disruption(const cJSON *min_av, const cJSON *max_un)
{
    if (min_av == NULL) {
        return (cJSON_IsNumber(max_un) && max_un->valuedouble == 0) ||
               (cJSON_IsString(max_un) && strcmp(max_un->valuestring, "0%") == 0);
    }
    return cJSON_IsString(min_av) && strcmp(min_av->valuestring, "100%") == 0;
}

static int run_pdb(struct ka_rule_run *run)
{
    const cJSON *spec = item(run->obj->root, "spec");
    const cJSON *sel = item(spec, "selector");
    const cJSON *min_av = item(spec, "minAvailable");
    const cJSON *m;
    cJSON_ArrayForEach(m, param(run, "minimums"))
    {
        /* The PDB protects these pods if its selector selects the labels the minimum names. */
        const cJSON *want = item(item(m, "selector"), "matchLabels");
        int need = item(m, "minAvailable")->valueint;
        if (sel == NULL || want == NULL || !ka_selector_matches(sel, want) ||
            (item(sel, "matchLabels") == NULL && item(sel, "matchExpressions") == NULL)) {
            continue;
        }
        char what[200], fix[160], pods[120] = "";
        size_t n = 0;
        const cJSON *kv;
        cJSON_ArrayForEach(kv, want)
        {
            n += (size_t)snprintf(pods + n, sizeof(pods) - n, "%s%s=%s", n ? "," : "", kv->string,
                                  kv->valuestring);
            if (n >= sizeof(pods)) {
                break;
            }
        }
        const cJSON *max_un = item(spec, "maxUnavailable");
        if ((cJSON_IsNumber(min_av) && min_av->valuedouble >= need) ||
            blocks_disruption(min_av, max_un)) {
            continue;
        }
        const char *at = "/spec/minAvailable";
        snprintf(fix, sizeof(fix), "set spec.minAvailable: %d (an integer)", need);
        if (cJSON_IsNumber(min_av)) {
            snprintf(what, sizeof(what), "minAvailable is %.0f for %s pods (minimum %d)",
                     min_av->valuedouble, pods, need);
        } else if (cJSON_IsString(min_av)) {
            snprintf(what, sizeof(what),
                     "minAvailable is the percentage %.20s for %s pods, which cannot guarantee %d",
                     min_av->valuestring, pods, need);
        } else if (cJSON_IsNumber(max_un) || cJSON_IsString(max_un)) {
            char value[24];
            if (cJSON_IsNumber(max_un)) {
                snprintf(value, sizeof(value), "%.0f", max_un->valuedouble);
            } else {
                snprintf(value, sizeof(value), "%.20s", max_un->valuestring);
            }
            at = "/spec/maxUnavailable";
            snprintf(what, sizeof(what),
                     "maxUnavailable: %s for %s pods does not guarantee %d available: it keeps "
                     "replicas - %s, and a PDB does not know the replica count",
                     value, pods, need, value);
            snprintf(fix, sizeof(fix),
                     "replace spec.maxUnavailable with spec.minAvailable: %d; a PDB sets one or "
                     "the other",
                     need);
        } else {
            snprintf(what, sizeof(what), "has no minAvailable for %s pods (minimum %d)", pods,
                     need);
        }
        int ret = ka_rule_report(run, NULL, at, what, fix);
        if (ret == 0 && item(spec, "maxUnavailable") != NULL) {
            ret = ka_rule_fix(run, NULL, "remove", "/spec/maxUnavailable", NULL); /* one or other */
        }
        if (ret == 0) {
            ret = ka_rule_fix_number(run, ka_add_or_replace(min_av), "/spec/minAvailable", need);
        }
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

static int check_pdb(const cJSON *params, char *err, size_t err_len, const cJSON **where)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, item(params, "minimums"))
    {
        *where = m;
        const cJSON *sel = item(m, "selector");
        const cJSON *min = item(m, "minAvailable");
        if (!cJSON_IsObject(m) || !cJSON_IsObject(item(sel, "matchLabels")) ||
            !cJSON_IsNumber(min) || min->valuedouble < 0) {
            snprintf(err, err_len,
                     "minimums entries need selector.matchLabels and an integer minAvailable");
            return KA_EPOLICY;
        }
        int ret = ka_selector_validate(sel, err, err_len, where);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

const struct ka_rule_def ka_rule_pdb_availability = {
    .id = "pdb-availability",
    .summary = "PDBs keep the minimum pods available (shipped: 2 Memory Spine, 1 agent)",
    .description =
        "A PDB whose selector selects the labels of a minimums entry has an integer minAvailable "
        ">= that entry's minimum, or allows no voluntary disruption at all (maxUnavailable 0 or "
        "\"0%\", minAvailable \"100%\"). Another percentage or a maxUnavailable above 0 cannot "
        "guarantee it: a PDB does not know its workload's replica count, and maxUnavailable: 1 "
        "keeps none of a single replica. Replace maxUnavailable with minAvailable (kadmit fix "
        "does).",
    .kinds = KA_KIND_PDB,
    .params = pdb_params,
    .check = check_pdb,
    .run = run_pdb,
};
