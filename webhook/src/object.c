/* The object view: where a Kubernetes object keeps its pod spec and pod metadata. */
#include <stdio.h>
#include <string.h>

#include "kadmit/error.h"
#include "kadmit/rules.h"

#define KA_GROUP_RBAC "rbac.authorization.k8s.io"

/* Each kind with the API groups that serve it ("" is the core group; extensions is where
 * Deployments, DaemonSets, ReplicaSets and Ingresses were served before apps and networking). */
static const struct {
    const char *name;
    enum ka_kind kind;
    const char *groups[2];
} kind_names[] = {
    {"Pod", KA_KIND_POD, {""}},
    {"Deployment", KA_KIND_DEPLOYMENT, {"apps", "extensions"}},
    {"StatefulSet", KA_KIND_STATEFULSET, {"apps"}},
    {"DaemonSet", KA_KIND_DAEMONSET, {"apps", "extensions"}},
    {"ReplicaSet", KA_KIND_REPLICASET, {"apps", "extensions"}},
    {"ReplicationController", KA_KIND_REPLICATIONCONTROLLER, {""}},
    {"Job", KA_KIND_JOB, {"batch"}},
    {"CronJob", KA_KIND_CRONJOB, {"batch"}},
    {"HorizontalPodAutoscaler", KA_KIND_HPA, {"autoscaling"}},
    {"PodDisruptionBudget", KA_KIND_PDB, {"policy"}},
    {"Ingress", KA_KIND_INGRESS, {"networking.k8s.io", "extensions"}},
    {"Role", KA_KIND_ROLE, {KA_GROUP_RBAC}},
    {"ClusterRole", KA_KIND_CLUSTERROLE, {KA_GROUP_RBAC}},
    {"RoleBinding", KA_KIND_ROLEBINDING, {KA_GROUP_RBAC}},
    {"ClusterRoleBinding", KA_KIND_CLUSTERROLEBINDING, {KA_GROUP_RBAC}},
    /* Argo Rollouts: a Deployment with progressive delivery; only argoproj.io's Rollout */
    {"Rollout", KA_KIND_ROLLOUT, {"argoproj.io"}},
};

enum ka_kind ka_kind_from_name(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
        if (strcmp(name, kind_names[i].name) == 0) {
            return kind_names[i].kind;
        }
    }
    return KA_KIND_OTHER;
}

enum ka_kind ka_kind_of(const char *api_version, const char *name)
{
    enum ka_kind kind = ka_kind_from_name(name);
    if (kind == KA_KIND_OTHER || api_version == NULL || api_version[0] == '\0') {
        return kind;
    }
    const char *slash = strchr(api_version, '/');
    size_t glen = slash != NULL ? (size_t)(slash - api_version) : 0; /* "v1": the core group */
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
        if (kind_names[i].kind != kind) {
            continue;
        }
        for (size_t g = 0; g < 2 && kind_names[i].groups[g] != NULL; g++) {
            const char *group = kind_names[i].groups[g];
            if (strlen(group) == glen && strncmp(api_version, group, glen) == 0) {
                return kind;
            }
        }
    }
    return KA_KIND_OTHER;
}

const char *ka_kind_name(enum ka_kind kind)
{
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
        if (kind_names[i].kind == kind) {
            return kind_names[i].name;
        }
    }
    return "";
}

int ka_object_identity_error(const cJSON *obj, char *msg, size_t len)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    const cJSON *api_version = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
    if (!cJSON_IsString(kind) || kind->valuestring[0] == '\0') {
        if (cJSON_GetObjectItemCaseSensitive(obj, "metadata") == NULL) {
            return 0; /* not an object at all: another tool's YAML, the caller's to skip */
        }
        snprintf(msg, len,
                 "document has no kind (it has metadata, so it looks like a Kubernetes "
                 "object missing its kind)");
        return 1;
    }
    if (!cJSON_IsString(api_version) || api_version->valuestring[0] == '\0') {
        snprintf(msg, len,
                 "%.60s has no apiVersion (kubectl refuses it too; set the kind's group/version, "
                 "e.g. apps/v1 or v1)",
                 kind->valuestring);
        return 1;
    }
    return 0;
}

static const char *string_at(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Follow `keys` (NULL-terminated) from `node`; every step must be an object. */
static int descend(cJSON *node, const char *const *keys, cJSON **out, char *err, size_t err_len)
{
    char path[128] = "";
    size_t n = 0;
    *out = NULL;
    for (; *keys != NULL; keys++) {
        if (!cJSON_IsObject(node)) {
            snprintf(err, err_len, "%s is not an object", n ? path : "the object");
            return KA_ETYPE;
        }
        n += (size_t)snprintf(path + n, sizeof(path) - n, "%s%s", n ? "." : "", *keys);
        if (n >= sizeof(path)) {
            n = sizeof(path) - 1;
        }
        node = cJSON_GetObjectItemCaseSensitive(node, *keys);
        if (node == NULL || cJSON_IsNull(node)) {
            return 0;
        }
    }
    *out = node;
    return 0;
}

/* A pod whose controller is a Job (what the Job controller sets). A `job-name` label is not
 * enough: a pod author writes labels. */
static int owned_by_job(const cJSON *meta)
{
    const cJSON *refs = cJSON_GetObjectItemCaseSensitive(meta, "ownerReferences");
    const cJSON *r;
    cJSON_ArrayForEach(r, refs)
    {
        const char *k = string_at(r, "kind");
        const char *api = string_at(r, "apiVersion");
        if (k != NULL && strcmp(k, "Job") == 0 && api != NULL && strncmp(api, "batch/", 6) == 0 &&
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "controller"))) {
            return 1;
        }
    }
    return 0;
}

int ka_object_view(cJSON *root, const char *kind_name, const char *ns, struct ka_object *out,
                   char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(root)) {
        snprintf(err, err_len, "object is not a JSON object");
        return KA_ETYPE;
    }
    out->root = root;
    if (kind_name == NULL || kind_name[0] == '\0') {
        kind_name = string_at(root, "kind");
    }
    out->kind_name = kind_name ? kind_name : "";
    const char *api = string_at(root, "apiVersion");
    out->kind = ka_kind_of(api, kind_name);
    out->api_version = api ? api : "";

    cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    if (meta != NULL && !cJSON_IsObject(meta)) {
        snprintf(err, err_len, "metadata is not an object");
        return KA_ETYPE;
    }
    const char *obj_ns = string_at(meta, "namespace");
    out->namespace_ = (obj_ns != NULL && obj_ns[0] != '\0') ? obj_ns : (ns ? ns : "");
    if ((out->kind & KA_KINDS_CLUSTER_SCOPED) != 0) {
        out->namespace_ = ""; /* the API server ignores a namespace on these */
    }
    const char *name = string_at(meta, "name");
    const char *gen = string_at(meta, "generateName");
    if (name != NULL && name[0] != '\0') {
        snprintf(out->name, sizeof(out->name), "%s", name);
    } else if (gen != NULL) {
        snprintf(out->name, sizeof(out->name), "%s*", gen);
    } else {
        snprintf(out->name, sizeof(out->name), "(unnamed)");
    }

    static const char *const k_spec_tmpl_spec[] = {"spec", "template", "spec", NULL};
    static const char *const k_spec_tmpl_meta[] = {"spec", "template", "metadata", NULL};
    static const char *const k_cron_spec[] = {"spec",     "jobTemplate", "spec",
                                              "template", "spec",        NULL};
    static const char *const k_cron_meta[] = {"spec",     "jobTemplate", "spec",
                                              "template", "metadata",    NULL};
    static const char *const k_pod_spec[] = {"spec", NULL};
    const char *const *spec_keys = NULL, *const *meta_keys = NULL;
    const char *spec_path = "", *meta_path = "";

    switch (out->kind) {
    case KA_KIND_POD:
        spec_keys = k_pod_spec;
        spec_path = "/spec";
        meta_path = "/metadata";
        out->pod_meta = meta;
        out->job_pod = meta != NULL && owned_by_job(meta);
        out->mirror_pod = string_at(cJSON_GetObjectItemCaseSensitive(meta, "annotations"),
                                    "kubernetes.io/config.mirror") != NULL;
        break;
    case KA_KIND_DEPLOYMENT:
    case KA_KIND_STATEFULSET:
    case KA_KIND_DAEMONSET:
    case KA_KIND_REPLICASET:
    case KA_KIND_REPLICATIONCONTROLLER:
    case KA_KIND_JOB:
    case KA_KIND_ROLLOUT: /* with spec.workloadRef instead, it has no template: nothing to judge */
        spec_keys = k_spec_tmpl_spec;
        meta_keys = k_spec_tmpl_meta;
        spec_path = "/spec/template/spec";
        meta_path = "/spec/template/metadata";
        out->job_pod = out->kind == KA_KIND_JOB;
        break;
    case KA_KIND_CRONJOB:
        spec_keys = k_cron_spec;
        meta_keys = k_cron_meta;
        spec_path = "/spec/jobTemplate/spec/template/spec";
        meta_path = "/spec/jobTemplate/spec/template/metadata";
        out->job_pod = 1;
        break;
    default:
        out->pod_meta = meta;
        snprintf(out->pod_meta_path, sizeof(out->pod_meta_path), "/metadata");
        return 0;
    }
    int ret = descend(root, spec_keys, &out->pod_spec, err, err_len);
    if (ret == 0 && meta_keys != NULL) {
        ret = descend(root, meta_keys, &out->pod_meta, err, err_len);
    }
    if (ret != 0) {
        return ret;
    }
    if (out->pod_spec != NULL && !cJSON_IsObject(out->pod_spec)) {
        snprintf(err, err_len, "%s is not an object", spec_path);
        return KA_ETYPE;
    }
    if (out->pod_meta != NULL && !cJSON_IsObject(out->pod_meta)) {
        snprintf(err, err_len, "%s is not an object", meta_path);
        return KA_ETYPE;
    }
    snprintf(out->pod_spec_path, sizeof(out->pod_spec_path), "%s", spec_path);
    snprintf(out->pod_meta_path, sizeof(out->pod_meta_path), "%s", meta_path);
    return 0;
}
