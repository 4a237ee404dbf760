/*
 * resources-required: Every container and initContainer sets cpu and memory requests and limits, so
 * the scheduler can place it and a runaway agent cannot starve its neighbours.
 */
#include "rule_api.h"

static int resources_container(struct ka_rule_run *run, cJSON *c, const char *name,
                               const struct ka_container_ref *at, void *arg)
{
    (void)arg;
    const cJSON *res = item(c, "resources");
    char missing[160] = "", keys[160] = "";
    size_t mlen = 0, klen = 0;
    const cJSON *req;
    cJSON_ArrayForEach(req, param(run, "require"))
    {
        const char *dot = strchr(req->valuestring, '.');
        char section[16];
        snprintf(section, sizeof(section), "%.*s", (int)(dot - req->valuestring), req->valuestring);
        const cJSON *v = item(item(res, section), dot + 1);
        if (v == NULL || cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == '\0')) {
            int is_req = strcmp(section, "requests") == 0;
            mlen += (size_t)snprintf(missing + mlen, sizeof(missing) - mlen, "%sno %s %s",
                                     mlen ? ", " : "", dot + 1, is_req ? "request" : "limit");
            klen += (size_t)snprintf(keys + klen, sizeof(keys) - klen, "%sresources.%s",
                                     klen ? ", " : "", req->valuestring);
            if (mlen >= sizeof(missing) || klen >= sizeof(keys)) {
                break;
            }
        }
    }
    if (mlen == 0) {
        return 0;
    }
    char fix[200];
    snprintf(fix, sizeof(fix), "set %s", keys);
    char where[160];
    ka_container_path(run, at, "/resources", where, sizeof(where));
    return ka_rule_report(run, name, where, missing, fix);
}

static int run_resources(struct ka_rule_run *run)
{
    return ka_for_each_container(run, KA_INIT | KA_APP, resources_container, NULL);
}

static int check_resources(const cJSON *params, char *err, size_t err_len, const cJSON **where)
{
    static const char *const allowed[] = {"requests.cpu", "requests.memory", "limits.cpu",
                                          "limits.memory"};
    const cJSON *r;
    cJSON_ArrayForEach(r, item(params, "require"))
    {
        int ok = 0;
        for (size_t i = 0; i < 4; i++) {
            ok |= strcmp(r->valuestring, allowed[i]) == 0;
        }
        if (!ok) {
            *where = r;
            snprintf(err, err_len,
                     "require: unknown key \"%.60s\" (use requests.cpu, requests.memory, "
                     "limits.cpu, limits.memory)",
                     r->valuestring);
            return KA_EPOLICY;
        }
    }
    return 0;
}

static const struct ka_param_def resources_params[] = {
    {"require", KA_P_STRINGS,
     "[\"requests.cpu\",\"requests.memory\",\"limits.cpu\",\"limits.memory\"]",
     "which of requests.cpu, requests.memory, limits.cpu, limits.memory must be set"},
    {NULL, 0, NULL, NULL},
};

const struct ka_rule_def ka_rule_resources_required = {
    .id = "resources-required",
    .summary = "every container and initContainer has cpu and memory requests and limits",
    .description = "Every container and initContainer sets requests and limits.",
    .kinds = KA_KINDS_WORKLOAD,
    .params = resources_params,
    .check = check_resources,
    .run = run_resources,
};
