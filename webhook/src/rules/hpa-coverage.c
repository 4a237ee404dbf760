/*
 * hpa-coverage (relation, audit only): "HPA on custom metrics (sessions, queue depth), not just
 * CPU/memory". hpa-custom-metrics judges each HPA; this checks that every agent workload is the
 * scaleTargetRef of an HPA in its namespace that passes hpa-custom-metrics.
 */
#include "rule_api.h"

/* The HPA's scaleTargetRef is the subject. */
static int targets(const struct ka_relation_workload *w, const cJSON *hpa)
{
    const cJSON *t = item(hpa, "target");
    return strcmp(ka_relation_str(t, "kind"), ka_relation_str(w->entry, "kind")) == 0 &&
           strcmp(ka_relation_str(t, "name"), ka_relation_str(w->entry, "name")) == 0;
}

static void judge_hpa(const struct ka_relation_run *run, const struct ka_relation_workload *w,
                      struct ka_relation_result *res)
{
    (void)run;
    const char *failing;
    if (ka_relation_covered(w, "HorizontalPodAutoscaler", targets, &failing)) {
        return;
    }
    struct ka_relation_finding *f;
    if (failing != NULL) {
        f = ka_relation_what(
            res, "HorizontalPodAutoscaler %.100s targets it but fails hpa-custom-metrics", failing);
        ka_relation_fix(
            res, f,
            "give %.100s a Pods, Object or External metric and a scale-down window of 5+ minutes "
            "(kadmit explain hpa-custom-metrics)",
            failing);
        return;
    }
    f = ka_relation_what(res, "no HorizontalPodAutoscaler in %.63s has it as scaleTargetRef",
                         res->namespace_);
    ka_relation_fix(res, f,
                    "kubectl apply -n %.63s an autoscaling/v2 HorizontalPodAutoscaler with "
                    "scaleTargetRef {kind: %s, name: %.100s} and a Pods metric such as "
                    "agent_active_sessions (kubectl autoscale makes a CPU-only one)",
                    res->namespace_, res->kind, res->name);
}

static const struct ka_relation_loop hpa_loop = {
    .roles = {"agents"}, .needs = KA_REL_HPA, .judge = judge_hpa};

const struct ka_rule_def ka_rule_hpa_coverage = {
    .id = "hpa-coverage",
    .summary = "every agent workload is the target of an HPA that passes hpa-custom-metrics "
               "(audit only)",
    .description =
        "A relation of several objects, judged by `kadmit audit` over a snapshot: each "
        "StatefulSet or Deployment whose pod template matches `agents` is the scaleTargetRef of a "
        "HorizontalPodAutoscaler in its namespace that passes hpa-custom-metrics. Not evaluated "
        "when the input has no HorizontalPodAutoscaler objects. At admission (serve, review) it "
        "does nothing: one object cannot judge it.",
    .default_action = KA_ACTION_ENFORCE,
    .params = ka_relation_params_agents,
    .relation = &hpa_loop,
};
