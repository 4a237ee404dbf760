/*
 * agent-cold-start: "A typical agent takes 15-45 seconds to become healthy. If your liveness
 * probe fires before initialization completes, the pod enters a restart loop." The time before
 * a failing probe can restart an agent container is at least the minimum. That time is
 * failureThreshold x periodSeconds of the startupProbe when there is one (the liveness probe
 * waits for it), else initialDelaySeconds + failureThreshold x periodSeconds of the
 * livenessProbe, with Kubernetes' defaults (0, 3, 10) for absent fields. A container with
 * neither probe is never restarted by one (probes-required asks for the liveness probe).
 */
#include "kadmit/duration.h"
#include "rule_api.h"

static const struct ka_param_def cold_start_params[] = {
    {"minColdStart", KA_P_DURATION, "\"45s\"",
     "the shortest time a failing startup or liveness probe may take to restart a container"},
    {NULL, 0, NULL, NULL},
};

/* The probe's integer field, or Kubernetes' default when absent. */
static double probe_field(const cJSON *probe, const char *field, double fallback)
{
    const cJSON *v = item(probe, field);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

static int present(const cJSON *v)
{
    return v != NULL && !cJSON_IsNull(v);
}

static int cold_start_container(struct ka_rule_run *run, cJSON *c, const char *name,
                                const struct ka_container_ref *at, void *arg)
{
    int64_t min = *(const int64_t *)arg;
    const cJSON *startup = item(c, "startupProbe");
    const cJSON *liveness = item(c, "livenessProbe");
    const char *field = present(startup) ? "startupProbe" : "livenessProbe";
    const cJSON *probe = present(startup) ? startup : liveness;
    if (!present(probe)) {
        return 0;
    }
    double delay = present(startup) ? 0 : probe_field(probe, "initialDelaySeconds", 0);
    double threshold = probe_field(probe, "failureThreshold", 3);
    double period = probe_field(probe, "periodSeconds", 10);
    double have = delay + threshold * period;
    if (have >= (double)min) {
        return 0;
    }
    char what[300], fix[300];
    if (present(startup)) {
        snprintf(what, sizeof(what),
                 "startupProbe allows %.0fs before a restart (failureThreshold %.0f x "
                 "periodSeconds %.0f; minimum %llds for the agent's cold start)",
                 have, threshold, period, (long long)min);
        snprintf(fix, sizeof(fix),
                 "raise startupProbe.failureThreshold or periodSeconds so their product is %lld "
                 "or more",
                 (long long)min);
    } else {
        snprintf(what, sizeof(what),
                 "livenessProbe can restart it after %.0fs (initialDelaySeconds %.0f + "
                 "failureThreshold %.0f x periodSeconds %.0f; minimum %llds for the agent's cold "
                 "start)",
                 have, delay, threshold, period, (long long)min);
        snprintf(fix, sizeof(fix),
                 "set livenessProbe.initialDelaySeconds: %.0f or more, or add a startupProbe "
                 "with failureThreshold x periodSeconds >= %lld",
                 (double)min - threshold * period, (long long)min);
    }
    return ka_container_report(run, name, at, what, fix, "/%s", field);
}

static int run_cold_start(struct ka_rule_run *run)
{
    const cJSON *v = param(run, "minColdStart");
    int64_t min = 0; /* a number here is the `0` the loader accepts without a unit */
    if (cJSON_IsString(v) && ka_duration_parse(v->valuestring, &min) != 0) {
        return KA_EINVAL; /* the loader checked it: not reached */
    }
    return ka_for_each_container(run, KA_APP, cold_start_container, &min);
}

const struct ka_rule_def ka_rule_agent_cold_start = {
    .id = "agent-cold-start",
    .summary = "selected pods' (shipped: `app: agent`) startup or liveness probes allow at least "
               "`minColdStart` (45s) before a restart",
    .description =
        "In pods selected by match.selector (shipped: app: agent), the time before a failing "
        "probe can restart an app container is at least minColdStart: failureThreshold x "
        "periodSeconds of the startupProbe, or else initialDelaySeconds + failureThreshold x "
        "periodSeconds of the livenessProbe (Kubernetes' defaults 0, 3 and 10 where absent). "
        "The checklist: a typical agent takes 15-45 seconds to become healthy.",
    .kinds = KA_KINDS_WORKLOAD,
    .params = cold_start_params,
    .run = run_cold_start,
};
