/*
 * network-policy-coverage (relation, audit only): "NetworkPolicies restrict agent-to-memory,
 * agent-to-tool, tool-to-external traffic" and "Egress restricted to model API domains".
 *   - every agent and Memory Spine pod template is selected by NetworkPolicies of its namespace
 *     with both the Ingress and the Egress policy type (unselected pods accept and send anything);
 *   - the Memory Spine's ingress admits only agent pods (by podSelector) and its own peers;
 *   - no agent egress rule allows every destination (no `to`, or 0.0.0.0/0) on every port.
 * Domain names cannot be expressed in a Kubernetes NetworkPolicy; that part is not checked.
 */
#include "rule_api.h"

/* A peer that admits only agents or Memory Spine pods of the same namespace. */
static int peer_allowed(const struct ka_relation_run *run, const cJSON *peer)
{
    const cJSON *labels = item(item(peer, "podSelector"), "matchLabels");
    if (item(peer, "ipBlock") != NULL || item(peer, "namespaceSelector") != NULL ||
        cJSON_GetArraySize(labels) == 0) {
        return 0;
    }
    /* the labels every selected pod carries must make it an agent or a spine pod */
    return ka_selector_matches(item(run->rule->params, "agents"), labels) ||
           ka_selector_matches(item(run->rule->params, "memorySpine"), labels);
}

static void check_spine_ingress(const struct ka_relation_run *run, struct ka_relation_result *res,
                                const cJSON *np)
{
    const cJSON *peers;
    int i = 0;
    static const char fix[] =
        "admit only podSelector peers of the agents and the Memory Spine itself (from: "
        "[{podSelector: {matchLabels: {app: agent}}}, {podSelector: {matchLabels: {app: "
        "memory-spine}}}])";
    cJSON_ArrayForEach(peers, item(np, "from"))
    {
        const cJSON *peer;
        int bad = cJSON_IsNull(peers);
        cJSON_ArrayForEach(peer, peers)
        {
            bad |= !peer_allowed(run, peer);
        }
        if (bad) {
            struct ka_relation_finding *f =
                ka_relation_what(res, "NetworkPolicy %.100s ingress rule %d admits %s",
                                 ka_relation_str(np, "name"), i,
                                 cJSON_IsNull(peers) ? "every source"
                                                     : "pods other than agents and Memory Spine "
                                                       "peers");
            ka_relation_fix(res, f, "%s", fix);
        }
        i++;
    }
}

static void judge_netpol(const struct ka_relation_run *run, const struct ka_relation_workload *w,
                         struct ka_relation_result *res)
{
    int spine = strcmp(w->role, "memorySpine") == 0;
    int ingress = 0, egress = 0;
    const cJSON *np;
    cJSON_ArrayForEach(np, w->entries)
    {
        if (strcmp(ka_relation_str(np, "kind"), "NetworkPolicy") != 0 ||
            !ka_selector_matches(item(np, "podSelector"), ka_relation_labels(w->entry))) {
            continue;
        }
        ingress |= cJSON_IsTrue(item(np, "ingress"));
        egress |= cJSON_IsTrue(item(np, "egress"));
        if (spine && cJSON_IsTrue(item(np, "ingress"))) {
            check_spine_ingress(run, res, np);
        }
        const cJSON *open = item(np, "openEgress");
        if (!spine && cJSON_IsTrue(item(np, "egress")) && cJSON_IsNumber(open)) {
            struct ka_relation_finding *f = ka_relation_what(
                res, "NetworkPolicy %.100s egress rule %d allows every destination on every port",
                ka_relation_str(np, "name"), open->valueint);
            ka_relation_fix(res, f,
                            "name the destinations (to: the model APIs' ipBlocks, the Memory "
                            "Spine's podSelector) or the ports (443)");
        }
    }
    if (!ingress || !egress) {
        char labels[160], yaml[160];
        ka_relation_labels_text(run, w->role, w->entry, 0, labels, sizeof(labels));
        ka_relation_labels_text(run, w->role, w->entry, 1, yaml, sizeof(yaml));
        struct ka_relation_finding *f = ka_relation_what(
            res, "no NetworkPolicy in %.63s selects its pods (%s) for %s", res->namespace_, labels,
            !ingress && !egress ? "Ingress and Egress"
            : !ingress          ? "Ingress"
                                : "Egress");
        ka_relation_fix(res, f,
                        "kubectl apply -n %.63s a NetworkPolicy with podSelector {matchLabels: "
                        "{%s}} and policyTypes [Ingress, Egress]",
                        res->namespace_, yaml);
    }
}

static const struct ka_relation_loop netpol_loop = {
    .roles = {"memorySpine", "agents"}, .needs = KA_REL_NETWORKPOLICY, .judge = judge_netpol};

const struct ka_rule_def ka_rule_network_policy_coverage = {
    .id = "network-policy-coverage",
    .summary = "NetworkPolicies select agent and Memory Spine pods for Ingress and Egress, the "
               "Memory Spine admits only agents and peers, no open agent egress (audit only)",
    .description =
        "A relation of several objects, judged by `kadmit audit` over a snapshot: every "
        "StatefulSet or Deployment whose pod template matches `agents` or `memorySpine` is "
        "selected by NetworkPolicies of its namespace with both policy types; every ingress peer "
        "of the Memory Spine's policies is a podSelector of agents or Memory Spine pods (no "
        "namespaceSelector, no ipBlock, no rule without `from`); no egress rule of the agents' "
        "policies allows every destination (no `to`, or 0.0.0.0/0) on every port. Not evaluated "
        "when the input has no NetworkPolicy objects. At admission (serve, review) it does "
        "nothing: one object cannot judge it.",
    .default_action = KA_ACTION_ENFORCE,
    .params = ka_relation_params_agents_spine,
    .relation = &netpol_loop,
};
