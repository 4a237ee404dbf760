/*
 * no-host-path: containers do not mount hostPath volumes. A hostPath mount reaches the node's
 * files (the container runtime's socket, kubelet credentials, other pods' data), so an agent
 * that is compromised or confused escapes its pod. Paths an operator vouches for (a log
 * directory, say) are listed in allowedPaths. Not a checklist item: shipped at warn.
 */
#include "rule_api.h"

static const struct ka_param_def no_host_path_params[] = {
    {"allowedPaths", KA_P_STRINGS, "[]", "hostPath paths (globs) containers may mount"},
    {NULL, 0, NULL, NULL},
};

/* The hostPath path of the pod volume named `name`, or NULL when it is not a hostPath. */
static const char *host_path_of(const struct ka_rule_run *run, const char *name)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, item(run->obj->pod_spec, "volumes"))
    {
        const char *vn = str_at(v, "name");
        if (vn != NULL && strcmp(vn, name) == 0) {
            return str_at(item(v, "hostPath"), "path");
        }
    }
    return NULL;
}

static int host_path_mount(const struct ka_rule_run *run, const cJSON *m, char *what, size_t len)
{
    const char *volume = str_at(m, "name");
    const char *path = volume != NULL ? host_path_of(run, volume) : NULL;
    if (path == NULL || ka_glob_match_any(param(run, "allowedPaths"), path, 0)) {
        return 0;
    }
    snprintf(what, len, "mounts hostPath %.200s (volume %.60s)", path, volume);
    return 1;
}

static const struct ka_element_check host_path_mounts = {
    KA_INIT | KA_APP | KA_EPHEMERAL, "volumeMounts", "",
    "use an emptyDir, a PersistentVolumeClaim or a projected volume, or list the path in "
    "allowedPaths",
    host_path_mount};

static int run_no_host_path(struct ka_rule_run *run)
{
    return ka_check_container_elements(run, &host_path_mounts);
}

const struct ka_rule_def ka_rule_no_host_path = {
    .id = "no-host-path",
    .summary = "containers do not mount hostPath volumes, except paths in `allowedPaths`",
    .description = "Every container, initContainer and ephemeralContainer mounts no volume of type "
                   "hostPath whose path is not matched by a glob in allowedPaths. hostPath gives "
                   "a pod the node's files. Not named by the checklist, so shipped at warn.",
    .default_action = KA_ACTION_WARN,
    .kinds = KA_KINDS_WORKLOAD,
    .params = no_host_path_params,
    .run = run_no_host_path,
};
