/*
 * memory-spine-replication: The Memory Spine keeps agents' memory; losing a replica must not
 * lose data or quorum. Its StatefulSet (selected by the rule's match, shipped: app:
 * memory-spine) runs at least minReplicas replicas, starts them one at a time
 * (podManagementPolicy OrderedReady, the API default when absent) so a peer joins a formed
 * cluster, and the spine container sets the replication factor as a literal integer between
 * the minimum and the replica count (a factor above the replica count can never be met).
 */
#include "rule_api.h"

static const struct ka_param_def replication_params[] = {
    {"minReplicas", KA_P_INT, "3", "the fewest replicas the StatefulSet may run"},
    {"container", KA_P_STRING, "\"memory-spine\"", "the name of the spine container"},
    {"factorEnv", KA_P_STRING, "\"SPINE_REPLICATION_FACTOR\"",
     "the env var that sets the replication factor"},
    {"minFactor", KA_P_INT, "2", "the smallest replication factor allowed"},
    {NULL, 0, NULL, NULL},
};

/* 0 and the value in `out` when `s` is a plain decimal integer; -1 otherwise. */
static int literal_int(const char *s, long *out)
{
    char *end = NULL;
    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v > 1000000) {
        return -1;
    }
    *out = v;
    return 0;
}

static int check_factor(struct ka_rule_run *run, double replicas)
{
    const char *cname = param_str(run, "container");
    const char *env = param_str(run, "factorEnv");
    int min = param_int(run, "minFactor");
    struct ka_container_ref at;
    char what[300], fix[300], where[192];
    const cJSON *c = ka_app_container(run, cname, &at);
    if (c == NULL) {
        snprintf(what, sizeof(what), "has no container named %.60s to set %.60s", cname, env);
        snprintf(where, sizeof(where), "%s/containers", run->obj->pod_spec_path);
        snprintf(fix, sizeof(fix), "name the spine container %.60s (param container)", cname);
        return ka_rule_report(run, NULL, where, what, fix);
    }
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, item(c, "env"))
    {
        const char *n = str_at(e, "name");
        if (n != NULL && strcmp(n, env) == 0) {
            break;
        }
        i++;
    }
    long v = 0;
    if (e != NULL) {
        ka_container_path(run, &at, where, sizeof(where), "/env/%zu", i);
    } else {
        ka_container_path(run, &at, where, sizeof(where), "/env");
    }
    snprintf(fix, sizeof(fix), "set env %.60s to a literal integer from %d to %.0f (the replicas)",
             env, min, replicas);
    if (e == NULL) {
        snprintf(what, sizeof(what), "does not set %.60s", env);
    } else if (literal_int(str_at(e, "value"), &v) != 0) {
        const char *value = str_at(e, "value");
        if (value == NULL) {
            snprintf(what, sizeof(what), "takes %.60s from valueFrom, not a literal integer", env);
        } else {
            snprintf(what, sizeof(what), "sets %.60s to \"%.40s\", not a literal integer", env,
                     value);
        }
    } else if (v < min || (double)v > replicas) {
        snprintf(what, sizeof(what), "sets %.60s to %ld, outside %d..%.0f (replicas)", env, v, min,
                 replicas);
    } else {
        return 0;
    }
    return ka_rule_report(run, cname, where, what, fix);
}

static int run_replication(struct ka_rule_run *run)
{
    const cJSON *spec = item(run->obj->root, "spec");
    const cJSON *r = item(spec, "replicas");
    double replicas = cJSON_IsNumber(r) ? r->valuedouble : 1.0; /* the API default */
    int min = param_int(run, "minReplicas");
    char what[200], fix[200];
    int ret = 0;
    if (replicas < min) {
        snprintf(what, sizeof(what), "spec.replicas is %.0f%s (minimum %d)", replicas,
                 cJSON_IsNumber(r) ? "" : " by default", min);
        snprintf(fix, sizeof(fix), "set spec.replicas: %d or more", min);
        ret = ka_rule_report(run, NULL, "/spec/replicas", what, fix);
        if (ret == 0) {
            ret = ka_rule_fix_number(run, ka_add_or_replace(r), "/spec/replicas", min);
        }
    }
    const char *policy = str_at(spec, "podManagementPolicy");
    if (ret == 0 && policy != NULL && strcmp(policy, "OrderedReady") != 0) {
        snprintf(what, sizeof(what), "spec.podManagementPolicy is %.40s", policy);
        ret = ka_rule_report(run, NULL, "/spec/podManagementPolicy", what,
                             "set spec.podManagementPolicy: OrderedReady (or remove it) so "
                             "replicas join one at a time");
    }
    return ret == 0 ? check_factor(run, replicas) : ret;
}

const struct ka_rule_def ka_rule_memory_spine_replication = {
    .id = "memory-spine-replication",
    .summary = "selected StatefulSets (shipped: `app: memory-spine`) run `minReplicas` (3) "
               "replicas, OrderedReady, with a replication factor from 2 to the replicas",
    .description =
        "StatefulSets selected by match.selector (shipped: app: memory-spine) have spec.replicas "
        ">= minReplicas (absent means 1), podManagementPolicy OrderedReady (absent means "
        "OrderedReady), and the container named by `container` sets the env var factorEnv to a "
        "literal integer from minFactor to spec.replicas.",
    .kinds = KA_KIND_STATEFULSET,
    .params = replication_params,
    .run = run_replication,
};
