/*
 * termination-grace-period: Agent pods get time to drain their sessions:
 * terminationGracePeriodSeconds is at least the minimum (absent means Kubernetes' 30).
 */
#include "rule_api.h"

static const struct ka_param_def grace_params[] = {
    {"minSeconds", KA_P_INT, "120", "the smallest terminationGracePeriodSeconds allowed"},
    {NULL, 0, NULL, NULL},
};

static int run_grace(struct ka_rule_run *run)
{
    int min = param_int(run, "minSeconds");
    const cJSON *v = item(run->obj->pod_spec, "terminationGracePeriodSeconds");
    double have = cJSON_IsNumber(v) ? v->valuedouble : 30.0; /* Kubernetes' default */
    if (have >= min) {
        return 0;
    }
    char what[160], fix[160], path[160];
    snprintf(what, sizeof(what), "terminationGracePeriodSeconds is %.0f%s (minimum %d)", have,
             cJSON_IsNumber(v) ? "" : " by default", min);
    snprintf(fix, sizeof(fix), "set terminationGracePeriodSeconds: %d or more so sessions drain",
             min);
    snprintf(path, sizeof(path), "%s/terminationGracePeriodSeconds", run->obj->pod_spec_path);
    int ret = ka_rule_report(run, NULL, path, what, fix);
    return ret == 0 ? ka_rule_fix_number(run, ka_add_or_replace(v), path, min) : ret;
}

const struct ka_rule_def ka_rule_termination_grace_period = {
    .id = "termination-grace-period",
    .summary = "selected pods (shipped: `app: agent`) have `terminationGracePeriodSeconds` at or "
               "above the minimum",
    .description = "Pods selected by match.selector (shipped: app: agent) have "
                   "terminationGracePeriodSeconds >= the minimum; absent means Kubernetes' 30. "
                   "kadmit fix sets it to the minimum.",
    .kinds = KA_KINDS_WORKLOAD,
    .params = grace_params,
    .run = run_grace,
};
