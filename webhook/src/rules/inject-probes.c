/*
 * inject-probes: Agent containers that expose the health port get readiness and liveness httpGet
 * probes on it when they lack them; nothing is guessed for containers without the port.
 */
#include "rule_api.h"

static const struct ka_param_def inject_probes_params[] = {
    {"port", KA_P_PORT, "\"http\"", "the port the probes target: a name or a number"},
    {"fallbackPort", KA_P_INT, "8080",
     "a port number that also counts when the named port is absent"},
    {"readiness", KA_P_OBJECT,
     "{\"path\":\"/health/ready\",\"initialDelaySeconds\":10,\"periodSeconds\":15}",
     "the readinessProbe added: path and timing fields"},
    {"liveness", KA_P_OBJECT,
     "{\"path\":\"/health/live\",\"initialDelaySeconds\":30,\"periodSeconds\":20,"
     "\"failureThreshold\":3}",
     "the livenessProbe added: path and timing fields"},
    {NULL, 0, NULL, NULL},
};

static cJSON *make_probe(const cJSON *cfg, const cJSON *port)
{
    cJSON *probe = cJSON_CreateObject();
    cJSON *get = cJSON_AddObjectToObject(probe, "httpGet");
    cJSON *p = cJSON_Duplicate(port, 0);
    if (probe == NULL || get == NULL || p == NULL ||
        cJSON_AddStringToObject(get, "path", str_at(cfg, "path")) == NULL) {
        cJSON_Delete(probe);
        cJSON_Delete(p);
        return NULL;
    }
    if (!cJSON_AddItemToObject(get, "port", p)) {
        cJSON_Delete(probe);
        cJSON_Delete(p);
        return NULL;
    }
    static const char *const fields[] = {"initialDelaySeconds", "periodSeconds", "timeoutSeconds",
                                         "failureThreshold", "successThreshold"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const cJSON *v = item(cfg, fields[i]);
        if (cJSON_IsNumber(v) &&
            cJSON_AddNumberToObject(probe, fields[i], v->valuedouble) == NULL) {
            cJSON_Delete(probe);
            return NULL;
        }
    }
    return probe;
}

static int probes_inject_container(struct ka_rule_run *run, cJSON *c, const char *name,
                                   const struct ka_container_ref *at, void *arg)
{
    (void)name;
    (void)arg;
    const cJSON *want = param(run, "port");
    int fallback = param_int(run, "fallbackPort");
    const cJSON *found = NULL;
    const cJSON *p;
    cJSON_ArrayForEach(p, item(c, "ports"))
    {
        const char *pn = str_at(p, "name");
        const cJSON *num = item(p, "containerPort");
        if (cJSON_IsString(want) && pn != NULL && strcmp(pn, want->valuestring) == 0) {
            found = item(p, "name");
            break;
        }
        if (cJSON_IsNumber(want) && cJSON_IsNumber(num) && num->valueint == want->valueint) {
            found = num;
            break;
        }
        if (found == NULL && fallback > 0 && cJSON_IsNumber(num) && num->valueint == fallback) {
            found = num;
        }
    }
    if (found == NULL) {
        return 0; /* nothing is guessed for containers without the port */
    }
    static const char *const kinds[] = {"readiness", "liveness"};
    for (size_t i = 0; i < 2; i++) {
        char field[32];
        snprintf(field, sizeof(field), "%sProbe", kinds[i]);
        if (item(c, field) != NULL && !cJSON_IsNull(item(c, field))) {
            continue;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(c, field);
        cJSON *probe = make_probe(param(run, kinds[i]), found);
        if (probe == NULL) {
            return KA_ENOMEM;
        }
        char ppath[192];
        ka_container_path(run, at, ppath, sizeof(ppath), "/%s", field);
        int ret = ka_rule_add_member(run, ppath, c, field, probe);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

static int run_inject_probes(struct ka_rule_run *run)
{
    return ka_for_each_container(run, KA_APP, probes_inject_container, NULL);
}

static int check_probe_cfg(const cJSON *params, char *err, size_t err_len, const cJSON **where)
{
    static const char *const kinds[] = {"readiness", "liveness"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *cfg = item(params, kinds[i]);
        const cJSON *f;
        *where = cfg;
        if (!cJSON_IsString(item(cfg, "path")) || item(cfg, "path")->valuestring[0] != '/') {
            snprintf(err, err_len, "%s.path must be an absolute HTTP path like /health/ready",
                     kinds[i]);
            return KA_EPOLICY;
        }
        cJSON_ArrayForEach(f, cfg)
        {
            int known = strcmp(f->string, "path") == 0;
            static const char *const nums[] = {"initialDelaySeconds", "periodSeconds",
                                               "timeoutSeconds", "failureThreshold",
                                               "successThreshold"};
            for (size_t n = 0; n < 5; n++) {
                if (strcmp(f->string, nums[n]) == 0) {
                    known = 1;
                    if (!cJSON_IsNumber(f) || f->valuedouble < 0) {
                        *where = f;
                        snprintf(err, err_len, "%s.%s must be a non-negative integer", kinds[i],
                                 f->string);
                        return KA_EPOLICY;
                    }
                }
            }
            if (!known) {
                *where = f;
                snprintf(err, err_len, "%s: unknown field \"%.60s\"", kinds[i], f->string);
                return KA_EPOLICY;
            }
        }
    }
    return 0;
}

const struct ka_rule_def ka_rule_inject_probes = {
    .id = "inject-probes",
    .summary = "containers exposing the port (`http`, or 8080) without probes get readiness and "
               "liveness `httpGet` probes",
    .description = "In selected pods, a container exposing the port (by name, or the fallback "
                   "number) and lacking a probe gets readiness and liveness httpGet probes on that "
                   "port. Probe fields: path, initialDelaySeconds, periodSeconds, timeoutSeconds, "
                   "failureThreshold, successThreshold.",
    .mutating = 1,
    .kinds = KA_KINDS_WORKLOAD,
    .params = inject_probes_params,
    .check = check_probe_cfg,
    .run = run_inject_probes,
};
