/*
 * pdb-availability: Disruptions (drains, upgrades) keep enough replicas: a PDB protecting the pods
 * a minimum names has an integer minAvailable at least that minimum.
 */
#include "rule_api.h"

static const struct ka_param_def pdb_params[] = {
    {"minimums", KA_P_LIST,
     "[{\"selector\":{\"matchLabels\":{\"app\":\"memory-spine\"}},\"minAvailable\":2},"
     "{\"selector\":{\"matchLabels\":{\"app\":\"agent\"}},\"minAvailable\":1}]",
     "list of {selector: {matchLabels: ...}, minAvailable: N}"},
    {NULL, 0, NULL, NULL},
};

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
        snprintf(fix, sizeof(fix), "set spec.minAvailable: %d (an integer)", need);
        if (cJSON_IsNumber(min_av) && min_av->valuedouble >= need) {
            continue;
        }
        if (cJSON_IsNumber(min_av)) {
            snprintf(what, sizeof(what), "minAvailable is %.0f for %s pods (minimum %d)",
                     min_av->valuedouble, pods, need);
        } else if (cJSON_IsString(min_av)) {
            snprintf(what, sizeof(what),
                     "minAvailable is the percentage %.20s for %s pods, which cannot guarantee %d",
                     min_av->valuestring, pods, need);
        } else {
            snprintf(what, sizeof(what), "has no minAvailable for %s pods (minimum %d)", pods,
                     need);
        }
        int ret = ka_rule_report(run, NULL, "/spec/minAvailable", what, fix);
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
        ">= that entry's minimum (a percentage or maxUnavailable cannot guarantee it).",
    .kinds = KA_KIND_PDB,
    .params = pdb_params,
    .check = check_pdb,
    .run = run_pdb,
};
