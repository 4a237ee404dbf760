/*
 * resources-required: Every container and initContainer sets cpu and memory requests and limits, so
 * the scheduler can place it and a runaway agent cannot starve its neighbours.
 */
#include "rule_api.h"

static const struct ka_param_def resources_params[] = {
    {"require", KA_P_STRINGS,
     "[\"requests.cpu\",\"requests.memory\",\"limits.cpu\",\"limits.memory\"]",
     "which of requests.cpu, requests.memory, limits.cpu, limits.memory must be set"},
    {"fix", KA_P_OBJECT, NULL,
     "values `kadmit fix` writes where one is missing, e.g. {requests: {cpu: 100m, memory: "
     "128Mi}, limits: {memory: 512Mi}}; without them fix reports the finding"},
    {NULL, 0, NULL, NULL},
};

/* Splits a required key: "requests.cpu" puts "requests" (cut to fit) in `section` and returns
 * "cpu". The loader checked the key is one of the four, so the dot is there. */
static const char *split_required(const char *req, char *section, size_t len)
{
    const char *dot = strchr(req, '.');
    size_t n = (size_t)(dot - req) < len - 1 ? (size_t)(dot - req) : len - 1;
    memcpy(section, req, n);
    section[n] = '\0';
    return dot + 1;
}

/* A request or limit counts as missing when absent, null or "". */
static int unset(const cJSON *v)
{
    return v == NULL || cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == '\0');
}

/* Whether `resources` lacks section.key as the container will run. Kubernetes defaults a
 * missing request to the container's limit (pkg/apis/core/v1/defaults.go), so a request whose
 * limit is set is not missing; fix must not write one either (it could exceed the limit). */
static int lacks(const cJSON *res, const char *section, const char *key)
{
    if (!unset(item(item(res, section), key))) {
        return 0;
    }
    return strcmp(section, "requests") != 0 || unset(item(item(res, "limits"), key));
}

/* A resource quantity ("250m", "1.5", "64Mi", "1e3", 2) in base units; 0 when it is not one. */
static int quantity(const cJSON *v, double *out)
{
    static const struct {
        const char *suffix;
        double factor;
    } suffixes[] = {{"", 1},
                    {"m", 1e-3},
                    {"k", 1e3},
                    {"M", 1e6},
                    {"G", 1e9},
                    {"T", 1e12},
                    {"P", 1e15},
                    {"E", 1e18},
                    {"Ki", 1024.0},
                    {"Mi", 1048576.0},
                    {"Gi", 1073741824.0},
                    {"Ti", 1099511627776.0},
                    {"Pi", 1125899906842624.0},
                    {"Ei", 1152921504606846976.0}};
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return 1;
    }
    if (!cJSON_IsString(v) || strspn(v->valuestring, "+-.0123456789") == 0) {
        return 0; /* strtod alone would also take "inf", "nan" and hex */
    }
    char *end = NULL;
    double n = strtod(v->valuestring, &end);
    for (size_t i = 0; end != v->valuestring && i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (strcmp(end, suffixes[i].suffix) == 0) {
            *out = n * suffixes[i].factor;
            return 1;
        }
    }
    return 0;
}

/* Whether fix may write limits.key = `v`: not below the container's request, which the API
 * server would reject ("must be less than or equal to cpu limit"). Unreadable counts as below. */
static int limit_fits(const cJSON *res, const char *key, const cJSON *v)
{
    const cJSON *request = item(item(res, "requests"), key);
    double limit_q = 0, request_q = 0;
    if (unset(request)) {
        return 1;
    }
    return quantity(v, &limit_q) && quantity(request, &request_q) && limit_q >= request_q;
}

/* Fill the required requests and limits the container lacks from the admin's `fix` params, as
 * one add of the deepest missing map (so the file gets one readable block). */
static int resources_fix(struct ka_rule_run *run, const char *name, const cJSON *res,
                         const char *where)
{
    const cJSON *given = param(run, "fix");
    if (run->ev->fixes == NULL || given == NULL ||
        (res != NULL && !cJSON_IsObject(res) && !cJSON_IsNull(res))) {
        return 0;
    }
    static const char *const sections[] = {"requests", "limits"};
    cJSON *add = cJSON_CreateObject(); /* what `resources` gains: {section: {key: value}} */
    int ret = add != NULL ? 0 : KA_ENOMEM;
    const cJSON *req;
    cJSON_ArrayForEach(req, param(run, "require"))
    {
        char section[16];
        const char *key = split_required(req->valuestring, section, sizeof(section));
        const cJSON *v = item(item(given, section), key);
        if (ret != 0 || v == NULL || !lacks(res, section, key) ||
            (strcmp(section, "limits") == 0 && !limit_fits(res, key, v))) {
            continue; /* a limit below the request stays a finding, for a person to size */
        }
        cJSON *sec = item(add, section);
        if (sec == NULL && (sec = cJSON_AddObjectToObject(add, section)) == NULL) {
            ret = KA_ENOMEM;
        }
        cJSON *copy = cJSON_Duplicate(v, 0);
        if (ret == 0 && (copy == NULL || !cJSON_AddItemToObject(sec, key, copy))) {
            cJSON_Delete(copy);
            ret = KA_ENOMEM;
        }
    }
    char path[256];
    for (size_t i = 0; ret == 0 && i < 2; i++) {
        const cJSON *sec = item(add, sections[i]);
        const cJSON *have = item(res, sections[i]);
        if (sec == NULL || cJSON_IsNull(res) || res == NULL) {
            continue;
        }
        if (have == NULL || cJSON_IsNull(have)) {
            snprintf(path, sizeof(path), "%s/%s", where, sections[i]);
            ret = ka_rule_fix(run, name, "add", path, sec);
            continue;
        }
        const cJSON *kv;
        cJSON_ArrayForEach(kv, sec)
        {
            snprintf(path, sizeof(path), "%s/%s/%s", where, sections[i], kv->string);
            if (ret == 0 && cJSON_IsObject(have)) {
                ret = ka_rule_fix(run, name, ka_add_or_replace(item(have, kv->string)), path, kv);
            }
        }
    }
    if (ret == 0 && (res == NULL || cJSON_IsNull(res)) && add->child != NULL) {
        ret = ka_rule_fix(run, name, "add", where, add);
    }
    cJSON_Delete(add);
    return ret;
}

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
        char section[16];
        const char *key = split_required(req->valuestring, section, sizeof(section));
        if (lacks(res, section, key)) {
            int is_req = strcmp(section, "requests") == 0;
            mlen += (size_t)snprintf(missing + mlen, sizeof(missing) - mlen, "%sno %s %s",
                                     mlen ? ", " : "", key, is_req ? "request" : "limit");
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
    ka_container_path(run, at, where, sizeof(where), "/resources");
    int ret = ka_rule_report(run, name, where, missing, fix);
    return ret == 0 ? resources_fix(run, name, res, where) : ret;
}

static int run_resources(struct ka_rule_run *run)
{
    return ka_for_each_container(run, KA_INIT | KA_APP, resources_container, NULL);
}

static int check_resources(const cJSON *params, char *err, size_t err_len, const cJSON **where)
{
    const cJSON *fix = item(params, "fix");
    const cJSON *sec;
    cJSON_ArrayForEach(sec, fix)
    {
        const cJSON *q;
        *where = sec;
        if (strcmp(sec->string, "requests") != 0 && strcmp(sec->string, "limits") != 0) {
            snprintf(err, err_len, "fix: unknown field \"%.60s\" (use requests, limits)",
                     sec->string);
            return KA_EPOLICY;
        }
        cJSON_ArrayForEach(q, sec)
        {
            *where = q;
            if ((strcmp(q->string, "cpu") != 0 && strcmp(q->string, "memory") != 0) ||
                !(cJSON_IsString(q) || cJSON_IsNumber(q))) {
                snprintf(err, err_len,
                         "fix.%s.%.60s: use cpu or memory with a quantity such as 100m or 128Mi",
                         sec->string, q->string);
                return KA_EPOLICY;
            }
        }
    }
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

const struct ka_rule_def ka_rule_resources_required = {
    .id = "resources-required",
    .summary = "every container and initContainer has cpu and memory requests and limits",
    .description = "Every container and initContainer (regular or native sidecar) sets requests "
                   "and limits. A request left out "
                   "while its limit is set counts as set: Kubernetes defaults it to the limit.",
    .kinds = KA_KINDS_WORKLOAD,
    .params = resources_params,
    .check = check_resources,
    .run = run_resources,
};
