/*
 * hpa-custom-metrics: Agents scale on what loads them (sessions, queue depth), not on CPU alone,
 * and scale down slowly enough not to cut active sessions.
 */
#include "rule_api.h"

static const struct ka_param_def hpa_params[] = {
    {"minScaleDownStabilizationSeconds", KA_P_INT, "300",
     "the shortest scale-down stabilization window allowed"},
    {NULL, 0, NULL, NULL},
};

static int run_hpa(struct ka_rule_run *run)
{
    const cJSON *root = run->obj->root;
    int ret = 0;
    if (strcmp(run->obj->api_version, "autoscaling/v1") == 0) {
        return ka_rule_report(run, NULL, "/apiVersion",
                              "uses autoscaling/v1, which can only scale on CPU",
                              "use autoscaling/v2 with a Pods, Object or External metric");
    }
    const cJSON *spec = item(root, "spec");
    int custom = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, item(spec, "metrics"))
    {
        const char *type = str_at(m, "type");
        custom |= type != NULL && (strcmp(type, "Pods") == 0 || strcmp(type, "Object") == 0 ||
                                   strcmp(type, "External") == 0);
    }
    if (!custom) {
        ret = ka_rule_report(run, NULL, "/spec/metrics", "scales on CPU/memory only",
                             "add a Pods, Object or External metric such as "
                             "agent_active_sessions or agent_request_queue_depth");
    }
    const cJSON *win =
        item(item(item(spec, "behavior"), "scaleDown"), "stabilizationWindowSeconds");
    int min = param_int(run, "minScaleDownStabilizationSeconds");
    if (ret == 0 && cJSON_IsNumber(win) && win->valuedouble < min) {
        char what[160], fix[160];
        snprintf(what, sizeof(what), "scaleDown.stabilizationWindowSeconds is %.0f (minimum %d)",
                 win->valuedouble, min);
        snprintf(fix, sizeof(fix),
                 "set behavior.scaleDown.stabilizationWindowSeconds: %d or more to protect "
                 "active sessions",
                 min);
        ret = ka_rule_report(run, NULL, "/spec/behavior/scaleDown/stabilizationWindowSeconds", what,
                             fix);
        if (ret == 0) {
            ret = ka_rule_fix_number(run, "replace",
                                     "/spec/behavior/scaleDown/stabilizationWindowSeconds", min);
        }
    }
    return ret;
}

const struct ka_rule_def ka_rule_hpa_custom_metrics = {
    .id = "hpa-custom-metrics",
    .summary = "HPAs scale on a Pods/Object/External metric and scale down over at least the "
               "minimum window",
    .description = "An HPA has at least one metric of type Pods, Object or External; "
                   "behavior.scaleDown.stabilizationWindowSeconds, when set, is at least the "
                   "minimum. autoscaling/v1 HPAs fail (CPU only).",
    .kinds = KA_KIND_HPA,
    .params = hpa_params,
    .run = run_hpa,
};
