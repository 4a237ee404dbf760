/*
 * namespace-guardrails (relation, audit only): "Namespace ai-agents with resource quotas and
 * limit ranges". Each namespace holding agent workloads has a ResourceQuota (a runaway
 * autoscaler cannot take the cluster) and a LimitRange (a container without requests still gets
 * defaults).
 */
#include "kadmit/relations.h"

#include <stdio.h>
#include <string.h>

static int has_kind(const cJSON *entries, const char *kind)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, entries)
    {
        if (strcmp(ka_relation_str(e, "kind"), kind) == 0) {
            return 1;
        }
    }
    return 0;
}

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

static int relate_guardrails(const struct ka_relation_run *run)
{
    for (size_t n = 0; n < run->idx->n_namespaces; n++) {
        const char *ns = run->idx->namespaces[n].name;
        const cJSON *entries = run->idx->namespaces[n].entries;
        const cJSON *w = NULL; /* the namespace's first agent workload */
        cJSON_ArrayForEach(w, entries)
        {
            if (ka_relation_subject(run, w, ns, "agents")) {
                break;
            }
        }
        if (w == NULL) {
            continue; /* no agent workload: not a namespace this rule looks at */
        }
        struct ka_relation_result res;
        ka_relation_result_start(run, &res, w, ns);
        res.api_version = "v1";
        res.kind = "Namespace";
        res.name = ns;
        /* both kinds are needed: either absent from the input, and it is not evaluated */
        for (size_t g = 0; g < 2; g++) {
            (void)ka_relation_needs(run, &res, guardrails[g].bit);
        }
        for (size_t g = 0; g < 2 && !res.not_evaluated; g++) {
            const char *kind = ka_relation_kind_name(guardrails[g].bit);
            char what[300], fix[400];
            if (has_kind(entries, kind)) {
                continue;
            }
            snprintf(what, sizeof(what), "holds agent workloads (%s %.100s) but has no %s",
                     ka_relation_str(w, "kind"), ka_relation_str(w, "name"), kind);
            snprintf(fix, sizeof(fix), "%s%.63s%s", guardrails[g].fix, ns, guardrails[g].fix_end);
            ka_relation_report(&res, what, fix);
        }
        int ret = ka_relation_emit(run, &res);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

static const struct ka_param_def guardrails_params[] = {
    {"agents", KA_P_OBJECT, "{\"matchLabels\":{\"app\":\"agent\"}}",
     "label selector of the agent pods (pod template labels)"},
    {NULL, 0, NULL, NULL},
};

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
    .params = guardrails_params,
    .check = ka_relation_check_selectors,
    .relate = relate_guardrails,
};
