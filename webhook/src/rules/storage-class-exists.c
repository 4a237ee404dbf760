/*
 * storage-class-exists (relation, audit only): "StorageClass fast-ssd with sufficient IOPS".
 * memory-spine-storage makes the Memory Spine's claims name an allowed class; when the snapshot
 * holds StorageClasses, this checks that the classes they name exist (a claim naming a class
 * that does not exist stays Pending, and the replica never starts).
 */
#include "rule_api.h"

static int class_exists(const struct ka_relation_index *idx, const char *name)
{
    const cJSON *e;
    const cJSON *cluster = ka_relation_entries(idx, ""); /* cluster-scoped objects */
    cJSON_ArrayForEach(e, cluster)
    {
        if (strcmp(ka_relation_str(e, "kind"), "StorageClass") == 0 &&
            strcmp(ka_relation_str(e, "name"), name) == 0) {
            return 1;
        }
    }
    return 0;
}

static void judge_classes(const struct ka_relation_run *run, const struct ka_relation_workload *w,
                          struct ka_relation_result *res)
{
    const cJSON *cls;
    cJSON_ArrayForEach(cls, item(w->entry, "classes"))
    {
        if (!cJSON_IsString(cls) || class_exists(run->idx, cls->valuestring)) {
            continue;
        }
        struct ka_relation_finding *f =
            ka_relation_what(res,
                             "its volumeClaimTemplates use storageClassName %.100s, which is not "
                             "a StorageClass of the cluster",
                             cls->valuestring);
        ka_relation_fix(res, f,
                        "kubectl apply a StorageClass named %.100s (SSD-backed, "
                        "volumeBindingMode: WaitForFirstConsumer) or use a class that exists",
                        cls->valuestring);
    }
}

static const struct ka_relation_loop classes_loop = {
    .roles = {"memorySpine"}, .needs = KA_REL_STORAGECLASS, .judge = judge_classes};

const struct ka_rule_def ka_rule_storage_class_exists = {
    .id = "storage-class-exists",
    .summary = "the storage classes the Memory Spine's claims name exist (audit only)",
    .description =
        "A relation of several objects, judged by `kadmit audit` over a snapshot: every "
        "storageClassName in the volumeClaimTemplates of a StatefulSet whose pod template "
        "matches `memorySpine` (memory-spine-storage requires fast-ssd) is a StorageClass of the "
        "snapshot. Not evaluated when the input has no StorageClass objects. At admission "
        "(serve, review) it does nothing: one object cannot judge it.",
    .default_action = KA_ACTION_ENFORCE,
    .params = ka_relation_params_spine,
    .relation = &classes_loop,
};
