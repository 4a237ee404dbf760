/*
 * namespace-guardrails (relation, audit only): "Namespace ai-agents with resource quotas and
 * limit ranges". Each namespace holding agent workloads has a ResourceQuota (a runaway
 * autoscaler cannot take the cluster) and a LimitRange (a container without requests still gets
 * defaults).
 */
#include "rule_api.h"

/* What a namespace with agents needs, and the kubectl that adds it: before and after the
 * namespace's name. */
static const struct {
    unsigned bit;
    const char *fix, *fix_end;
} guardrails[] = {
    {KA_REL_RESOURCEQUOTA, "kubectl create quota agents -n ",
     " --hard=requests.cpu=N,requests.memory=N,limits.cpu=N,limits.memory=N"},
    {KA_REL_LIMITRANGE, "kubectl apply -n ",
     " a LimitRange with type: Container default and defaultRequest cpu/memory"},
};

/* The namespace of the subject `w` (its first agent workload) has both kinds. */
static void judge_guardrails(const struct ka_relation_run *run,
                             const struct ka_relation_workload *w, struct ka_relation_result *res)
{
    (void)run;
    for (size_t g = 0; g < sizeof(guardrails) / sizeof(guardrails[0]); g++) {
        const char *kind = ka_relation_kind_name(guardrails[g].bit);
        if (ka_relation_has_kind(w->entries, kind)) {
            continue;
        }
        struct ka_relation_finding *f = ka_relation_what(
            res, "holds agent workloads (%s %.100s) but has no %s",
            ka_relation_str(w->entry, "kind"), ka_relation_str(w->entry, "name"), kind);
        ka_relation_fix(res, f, "%s%.63s%s", guardrails[g].fix, w->ns, guardrails[g].fix_end);
    }
}

static const struct ka_relation_loop guardrails_loop = {.roles = {"agents"},
                                                        .needs = KA_REL_RESOURCEQUOTA |
                                                                 KA_REL_LIMITRANGE,
                                                        .per_namespace = 1,
                                                        .judge = judge_guardrails};

const struct ka_rule_def ka_rule_namespace_guardrails = {
    .id = "namespace-guardrails",
    .summary = "each namespace holding agent workloads has a ResourceQuota and a LimitRange "
               "(audit only)",
    .description =
        "A relation of several objects, judged by `kadmit audit` over a snapshot: a namespace "
        "with a StatefulSet or Deployment whose pod template matches `agents` has a ResourceQuota "
        "and a LimitRange. Not evaluated when the input has no ResourceQuota or no LimitRange "
        "objects at all. At admission (serve, review) it does nothing: one object cannot judge "
        "it.",
    .default_action = KA_ACTION_ENFORCE,
    .params = ka_relation_params_agents,
    .relation = &guardrails_loop,
};
