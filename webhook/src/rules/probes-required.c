/*
 * probes-required: Every app container has a readinessProbe and a livenessProbe, so traffic only
 * reaches ready agents and hung ones restart; a startupProbe does not replace them.
 *
 * Native sidecars (initContainers with restartPolicy: Always, Kubernetes 1.28+: the memory proxy,
 * the log forwarder) are long-running containers too: Kubernetes runs all three probes on them,
 * only the livenessProbe restarts a hung one, and their readiness counts toward the pod's Ready
 * condition. So they need the same probes. Regular init containers run to completion and may not
 * have probes at all (the API server refuses them).
 */
#include "rule_api.h"

static const struct ka_param_def probes_params[] = {
    {"probes", KA_P_STRINGS, "[\"readiness\",\"liveness\"]",
     "the probes each app container needs: readiness, liveness, startup"},
    {"nativeSidecars", KA_P_BOOL, "true",
     "initContainers with restartPolicy: Always (native sidecars) need the probes too"},
    {"skipJobPods", KA_P_BOOL, "true",
     "Job and CronJob templates, and pods whose controller ownerReference is a Job, are not "
     "checked (a job-name label is not enough)"},
    {NULL, 0, NULL, NULL},
};

static int probes_container(struct ka_rule_run *run, cJSON *c, const char *name,
                            const struct ka_container_ref *at, void *arg)
{
    (void)arg;
    const cJSON *p;
    cJSON_ArrayForEach(p, param(run, "probes"))
    {
        char field[32], what[80], fix[160];
        ka_str_join(field, sizeof(field), p->valuestring, "Probe", (char *)NULL);
        if (item(c, field) != NULL && !cJSON_IsNull(item(c, field))) {
            continue;
        }
        ka_str_join(what, sizeof(what), "has no ", field, (char *)NULL);
        ka_str_join(fix, sizeof(fix), "add ", field, " with httpGet, tcpSocket, grpc or exec",
                    (char *)NULL);
        int ret = ka_container_report(run, name, at, what, fix, "/%s", field);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

static int run_probes(struct ka_rule_run *run)
{
    if (param_bool(run, "skipJobPods") && run->obj->job_pod) {
        return 0;
    }
    unsigned lists = KA_APP | (param_bool(run, "nativeSidecars") ? KA_SIDECAR : 0u);
    return ka_for_each_container(run, lists, probes_container, NULL);
}

static int check_probes(const cJSON *params, char *err, size_t err_len, const cJSON **where)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, item(params, "probes"))
    {
        if (strcmp(p->valuestring, "readiness") != 0 && strcmp(p->valuestring, "liveness") != 0 &&
            strcmp(p->valuestring, "startup") != 0) {
            *where = p;
            snprintf(err, err_len, "probes: unknown probe \"%.40s\" (readiness, liveness, startup)",
                     p->valuestring);
            return KA_EPOLICY;
        }
    }
    return 0;
}

const struct ka_rule_def ka_rule_probes_required = {
    .id = "probes-required",
    .summary = "app containers and native sidecars have readiness and liveness probes (Job pods "
               "and the metrics sidecar excepted)",
    .description =
        "Every app container, and every native sidecar (an initContainer with restartPolicy: "
        "Always, which runs as long as the app containers; nativeSidecars: false skips them), "
        "has a readinessProbe and a livenessProbe; a startupProbe does not replace them. Regular "
        "init containers run to completion and are not checked. The shipped policy excepts the "
        "injected metrics sidecar (it serves no health endpoint) by name and image: a user "
        "container named metrics-sidecar with another image is checked.",
    .kinds = KA_KINDS_WORKLOAD,
    .params = probes_params,
    .check = check_probes,
    .run = run_probes,
};
