/*
 * inject-metrics-sidecar: Every agent pod exports metrics: selected pods get the metrics sidecar
 * (unless a container of that name exists) and the scrape annotations where absent; a Job's pods
 * get it as a native sidecar, so the Job still completes. Mutations only add.
 */
#include "rule_api.h"

static const struct ka_param_def sidecar_params[] = {
    {"name", KA_P_STRING, "\"metrics-sidecar\"",
     "the sidecar container's name (an existing container of this name counts as present)"},
    {"image", KA_P_STRING, "\"registry.chaozcode.com/agent-metrics:1.2.0\"", "the sidecar image"},
    {"port", KA_P_INT, "9090", "the sidecar's metrics port"},
    {"requests", KA_P_OBJECT, "{\"cpu\":\"50m\",\"memory\":\"64Mi\"}",
     "the sidecar's resource requests"},
    {"limits", KA_P_OBJECT, "{\"cpu\":\"100m\",\"memory\":\"128Mi\"}",
     "the sidecar's resource limits"},
    {"annotations", KA_P_OBJECT,
     "{\"prometheus.io/scrape\":\"true\",\"prometheus.io/port\":\"9090\"}",
     "pod annotations added where absent"},
    {NULL, 0, NULL, NULL},
};

static int run_sidecar(struct ka_rule_run *run)
{
    const char *name = str_at(run->rule->params, "name");
    int ret = 0;
    int present = 0;
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        const cJSON *c;
        cJSON_ArrayForEach(c, item(run->obj->pod_spec, lists[l]))
        {
            const char *n = str_at(c, "name");
            present |= n != NULL && strcmp(n, name) == 0;
        }
    }
    if (!present) {
        /* name, image, ports, resources: the order users write, for readable patches; cJSON's
         * adds fail (and free what they were given) when the object is NULL */
        cJSON *c = cJSON_CreateObject();
        cJSON *port = cJSON_CreateObject();
        if (cJSON_AddStringToObject(c, "name", name) == NULL ||
            cJSON_AddStringToObject(c, "image", param_str(run, "image")) == NULL ||
            cJSON_AddNumberToObject(port, "containerPort", param_int(run, "port")) == NULL ||
            cJSON_AddStringToObject(port, "protocol", "TCP") == NULL ||
            !cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "ports"), port)) {
            cJSON_Delete(port);
            cJSON_Delete(c);
            return KA_ENOMEM;
        }
        cJSON *res = cJSON_AddObjectToObject(c, "resources");
        static const char *const sections[] = {"requests", "limits"};
        for (size_t i = 0; i < 2; i++) {
            cJSON *copy = cJSON_Duplicate(param(run, sections[i]), 1);
            if (ka_attach_member(res, sections[i], copy) != 0) { /* frees copy; res may be NULL */
                cJSON_Delete(c);
                return KA_ENOMEM;
            }
        }
        /* A Job's pod completes when its containers have exited, which a sidecar in
         * `containers` never does: there it goes in as a native sidecar (an init container with
         * restartPolicy: Always, stopped by the kubelet once the main containers end). */
        const char *list = "containers";
        if (run->obj->job_pod) {
            if (cJSON_AddStringToObject(c, "restartPolicy", "Always") == NULL) {
                cJSON_Delete(c);
                return KA_ENOMEM;
            }
            list = "initContainers";
        }
        ret = ka_rule_append_to_spec_array(run, list, c);
        if (ret != 0) {
            return ret;
        }
    }
    return ka_rule_add_annotations(run, param(run, "annotations"));
}

static int check_quantities(const cJSON *params, char *err, size_t err_len, const cJSON **where)
{
    static const char *const sections[] = {"requests", "limits"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *q;
        cJSON_ArrayForEach(q, item(params, sections[i]))
        {
            if (!cJSON_IsString(q) && !cJSON_IsNumber(q)) {
                *where = q;
                snprintf(err, err_len, "%s.%s must be a quantity such as 100m or 128Mi",
                         sections[i], q->string);
                return KA_EPOLICY;
            }
        }
    }
    const cJSON *a;
    cJSON_ArrayForEach(a, item(params, "annotations"))
    {
        if (!cJSON_IsString(a)) {
            *where = a;
            snprintf(err, err_len, "annotations.%s must be a string (quote numbers and booleans)",
                     a->string);
            return KA_EPOLICY;
        }
    }
    return 0;
}

const struct ka_rule_def ka_rule_inject_metrics_sidecar = {
    .id = "inject-metrics-sidecar",
    .summary = "selected pods (shipped: `app: agent`) get the metrics sidecar and the "
               "`prometheus.io` scrape annotations",
    .description = "Pods selected by match.selector (shipped: app: agent) get the metrics sidecar "
                   "unless a container of that name exists, plus the scrape annotations where "
                   "absent; a Job's pods (and Job and CronJob templates) get it as a native "
                   "sidecar (initContainers, restartPolicy: Always) so the Job completes. Nothing "
                   "the user set is overwritten.",
    .mutating = 1,
    .kinds = KA_KINDS_WORKLOAD,
    .params = sidecar_params,
    .check = check_quantities,
    .run = run_sidecar,
};
