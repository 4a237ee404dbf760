/*
 * memory-spine-storage: The Memory Spine's data lives on fast, node-exclusive disks that follow
 * each replica: every volumeClaimTemplate of its StatefulSet (selected by the rule's match,
 * shipped: app: memory-spine) names a storage class from the allowed list (absent would take
 * the cluster's default class), asks for ReadWriteOnce only, and is mounted by the spine
 * container; a StatefulSet without a volumeClaimTemplate keeps its data nowhere durable.
 */
#include "rule_api.h"

static const struct ka_param_def storage_params[] = {
    {"storageClasses", KA_P_STRINGS, "[\"fast-ssd\"]",
     "the storage classes a volumeClaimTemplate may name"},
    {"container", KA_P_STRING, "\"memory-spine\"",
     "the name of the spine container, which mounts every claim"},
    {NULL, 0, NULL, NULL},
};

/* Is the volume `name` mounted by the container `c`? */
static int mounts(const cJSON *c, const char *name)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, item(c, "volumeMounts"))
    {
        const char *vn = str_at(m, "name");
        if (vn != NULL && strcmp(vn, name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The access modes are exactly ReadWriteOnce (once or more). */
static int only_rwo(const cJSON *modes)
{
    const cJSON *m;
    int n = 0;
    cJSON_ArrayForEach(m, modes)
    {
        if (!cJSON_IsString(m) || strcmp(m->valuestring, "ReadWriteOnce") != 0) {
            return 0;
        }
        n++;
    }
    return n > 0;
}

static int check_claim(struct ka_rule_run *run, const cJSON *claim, size_t index,
                       const cJSON *spine, const char *cname)
{
    const cJSON *spec = item(claim, "spec");
    const char *name = str_at(item(claim, "metadata"), "name");
    const char *cls = str_at(spec, "storageClassName");
    const cJSON *classes = param(run, "storageClasses");
    char what[300], fix[300], path[160];
    int ret = 0;
    if (name == NULL) {
        name = "(unnamed)";
    }
    if (cls == NULL || !ka_list_has(classes, cls)) {
        char *list = cJSON_PrintUnformatted(classes);
        snprintf(path, sizeof(path), "/spec/volumeClaimTemplates/%zu/spec/storageClassName", index);
        snprintf(what, sizeof(what), "volumeClaimTemplate %.60s %s%.60s%s", name,
                 cls != NULL ? "uses storageClassName " : "has no storageClassName",
                 cls != NULL ? cls : "",
                 cls != NULL ? ", not an allowed class" : " (the cluster default)");
        snprintf(fix, sizeof(fix), "set storageClassName to one of %.120s (param storageClasses)",
                 list != NULL ? list : "storageClasses");
        cJSON_free(list);
        ret = ka_rule_report(run, NULL, path, what, fix);
    }
    if (ret == 0 && !only_rwo(item(spec, "accessModes"))) {
        snprintf(path, sizeof(path), "/spec/volumeClaimTemplates/%zu/spec/accessModes", index);
        snprintf(what, sizeof(what),
                 "volumeClaimTemplate %.60s does not ask for ReadWriteOnce only", name);
        ret = ka_rule_report(run, NULL, path, what,
                             "set accessModes: [ReadWriteOnce] so each replica owns its disk");
    }
    if (ret == 0 && spine != NULL && !mounts(spine, name)) {
        snprintf(path, sizeof(path), "/spec/volumeClaimTemplates/%zu", index);
        snprintf(what, sizeof(what),
                 "volumeClaimTemplate %.60s is not mounted by the %.60s container", name, cname);
        snprintf(fix, sizeof(fix), "add a volumeMount of %.60s to the %.60s container", name,
                 cname);
        ret = ka_rule_report(run, cname, path, what, fix);
    }
    return ret;
}

static int run_storage(struct ka_rule_run *run)
{
    const char *cname = param_str(run, "container");
    const cJSON *claims = item(item(run->obj->root, "spec"), "volumeClaimTemplates");
    struct ka_container_ref at;
    const cJSON *spine = ka_app_container(run, cname, &at);
    char what[200], fix[200], path[160];
    int ret = 0;
    if (spine == NULL) {
        snprintf(what, sizeof(what), "has no container named %.60s to mount the data", cname);
        snprintf(fix, sizeof(fix), "name the spine container %.60s (param container)", cname);
        snprintf(path, sizeof(path), "%s/containers", run->obj->pod_spec_path);
        ret = ka_rule_report(run, NULL, path, what, fix);
    }
    if (ret == 0 && cJSON_GetArraySize(claims) == 0) {
        return ka_rule_report(run, NULL, "/spec/volumeClaimTemplates",
                              "has no volumeClaimTemplates, so the spine's data is not durable",
                              "add a volumeClaimTemplate for the data volume and mount it in the "
                              "spine container");
    }
    const cJSON *claim;
    size_t i = 0;
    cJSON_ArrayForEach(claim, claims)
    {
        if (ret != 0) {
            break;
        }
        ret = check_claim(run, claim, i++, spine, cname);
    }
    return ret;
}

const struct ka_rule_def ka_rule_memory_spine_storage = {
    .id = "memory-spine-storage",
    .summary = "selected StatefulSets' (shipped: `app: memory-spine`) volumeClaimTemplates use "
               "`storageClasses` (fast-ssd), ReadWriteOnce, and are mounted by the spine",
    .description =
        "StatefulSets selected by match.selector (shipped: app: memory-spine) have at least one "
        "volumeClaimTemplate; each names a storageClassName from storageClasses (absent, the "
        "cluster default, is a violation), asks for ReadWriteOnce only, and is mounted by the "
        "container named by `container`.",
    .kinds = KA_KIND_STATEFULSET,
    .params = storage_params,
    .run = run_storage,
};
