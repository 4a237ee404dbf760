/*
 * The helpers rules build on (see rule_api.h): the container walk and the mutation helpers.
 */
#include "rule_api.h"

#include <stdarg.h>

#include "kadmit/buf.h"
#include "kadmit/patch.h"

/* ------------------------------------------------------------------------------------------
 * The container walk
 */

__attribute__((format(printf, 5, 0))) static void container_vpath(const struct ka_rule_run *run,
                                                                  const struct ka_container_ref *at,
                                                                  char *out, size_t len,
                                                                  const char *suffix, va_list ap)
{
    int n = snprintf(out, len, "%s/%s/%zu", run->obj->pod_spec_path, at->field, at->index);
    if (n >= 0 && (size_t)n < len) {
        vsnprintf(out + n, len - (size_t)n, suffix, ap);
    }
}

void ka_container_path(const struct ka_rule_run *run, const struct ka_container_ref *at, char *out,
                       size_t len, const char *suffix, ...)
{
    va_list ap;
    va_start(ap, suffix);
    container_vpath(run, at, out, len, suffix, ap);
    va_end(ap);
}

int ka_container_report(struct ka_rule_run *run, const char *name,
                        const struct ka_container_ref *at, const char *what, const char *fix,
                        const char *suffix, ...)
{
    char where[KA_CONTAINER_PATH_MAX];
    va_list ap;
    va_start(ap, suffix);
    container_vpath(run, at, where, sizeof(where), suffix, ap);
    va_end(ap);
    return ka_rule_report(run, name, where, what, fix);
}

int ka_for_each_container(struct ka_rule_run *run, unsigned lists, ka_container_fn fn, void *arg)
{
    static const struct {
        unsigned bit;
        const char *field;
    } fields[] = {{KA_INIT | KA_SIDECAR, "initContainers"},
                  {KA_APP, "containers"},
                  {KA_EPHEMERAL, "ephemeralContainers"}};
    for (size_t l = 0; l < 3; l++) {
        if ((lists & fields[l].bit) == 0) {
            continue;
        }
        int sidecars_only = l == 0 && (lists & KA_INIT) == 0;
        cJSON *arr = item(run->obj->pod_spec, fields[l].field);
        cJSON *c;
        size_t i = 0;
        cJSON_ArrayForEach(c, arr)
        {
            struct ka_container_ref at = {fields[l].field, i++};
            if (sidecars_only && !ka_is_native_sidecar(c)) {
                continue;
            }
            const char *name = str_at(c, "name");
            int ret = fn(run, c, name ? name : "(unnamed)", &at, arg);
            if (ret != 0) {
                return ret;
            }
        }
    }
    return 0;
}

static int check_elements(struct ka_rule_run *run, cJSON *c, const char *name,
                          const struct ka_container_ref *at, void *arg)
{
    const struct ka_element_check *check = arg;
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, item(c, check->field))
    {
        size_t index = i++;
        char what[300];
        if (!check->judge(run, e, what, sizeof(what))) {
            continue;
        }
        int ret = ka_container_report(run, name, at, what, check->fix, "/%s/%zu%s", check->field,
                                      index, check->suffix);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

int ka_check_container_elements(struct ka_rule_run *run, const struct ka_element_check *check)
{
    return ka_for_each_container(run, check->lists, check_elements, (void *)check);
}

cJSON *ka_app_container(const struct ka_rule_run *run, const char *name,
                        struct ka_container_ref *at)
{
    cJSON *c;
    size_t i = 0;
    cJSON_ArrayForEach(c, item(run->obj->pod_spec, "containers"))
    {
        const char *cn = str_at(c, "name");
        if (cn != NULL && strcmp(cn, name) == 0) {
            at->field = "containers";
            at->index = i;
            return c;
        }
        i++;
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------------
 * Mutations
 */

/* cJSON_AddItemToObject() copies the key and fails when that allocation fails, leaving `value`
 * unattached: attach or free it, and say so. */
int ka_attach_member(cJSON *obj, const char *key, cJSON *value)
{
    if (!cJSON_AddItemToObject(obj, key, value)) {
        cJSON_Delete(value);
        return KA_ENOMEM;
    }
    return 0;
}

int ka_rule_record_add(struct ka_rule_run *run, const char *path, const cJSON *value)
{
    struct ka_eval *ev = run->ev;
    if (ev->patch == NULL) {
        return 0;
    }
    int ret = ka_patch_add(ev->patch, path, value);
    if (ret != 0) {
        return ret;
    }
    struct ka_findings *s = ev->findings;
    if (s != NULL && s->n_mutations < sizeof(s->mutations) / sizeof(s->mutations[0])) {
        struct ka_mutation *m = &s->mutations[s->n_mutations++];
        m->rule = run->rule->def->id;
        snprintf(m->op, sizeof(m->op), "add");
        snprintf(m->path, sizeof(m->path), "%s", path);
    }
    return 0;
}

int ka_rule_add_member(struct ka_rule_run *run, const char *path, cJSON *obj, const char *key,
                       cJSON *value)
{
    int ret = ka_rule_record_add(run, path, value);
    if (ret != 0) {
        cJSON_Delete(value);
        return ret;
    }
    return ka_attach_member(obj, key, value);
}

/* ka_rule_add_member() at the pod metadata's pointer + /<field>[/<key>] (`key` may be NULL). */
static int add_to_pod_meta(struct ka_rule_run *run, cJSON *obj, const char *field, const char *key,
                           cJSON *value)
{
    struct ka_buf path;
    ka_buf_init(&path, 512);
    int ret = ka_buf_adds(&path, run->obj->pod_meta_path);
    if (ret == 0) {
        ret = ka_pointer_append(&path, field);
    }
    if (ret == 0 && key != NULL) {
        ret = ka_pointer_append(&path, key);
    }
    if (ret == 0) {
        ret = ka_rule_add_member(run, path.data, obj, key != NULL ? key : field, value);
    } else {
        cJSON_Delete(value);
    }
    ka_buf_free(&path);
    return ret;
}

/* Make sure pod metadata and its `field` map exist; returns the map. */
int ka_rule_ensure_pod_map(struct ka_rule_run *run, const char *field, cJSON **out)
{
    struct ka_object *obj = run->obj;
    int ret;
    if (obj->pod_meta == NULL) {
        cJSON *meta = cJSON_CreateObject();
        if (meta == NULL) {
            return KA_ENOMEM;
        }
        /* the template (or pod) exists, since pod_spec does: parent of pod_meta_path */
        char parent_path[48];
        snprintf(parent_path, sizeof(parent_path), "%s", obj->pod_meta_path);
        char *slash = strrchr(parent_path, '/');
        *slash = '\0';
        cJSON *parent = obj->root;
        if (parent_path[0] != '\0') {
            parent = cJSON_GetObjectItemCaseSensitive(item(obj->root, "spec"), "template");
            if (obj->kind == KA_KIND_CRONJOB) {
                parent =
                    item(item(item(item(obj->root, "spec"), "jobTemplate"), "spec"), "template");
            }
        }
        if (!cJSON_IsObject(parent)) {
            cJSON_Delete(meta);
            return KA_EINTERNAL;
        }
        ret = ka_rule_add_member(run, obj->pod_meta_path, parent, "metadata", meta);
        if (ret != 0) {
            return ret;
        }
        obj->pod_meta = meta;
    }
    cJSON *map = item(obj->pod_meta, field);
    if (map == NULL || cJSON_IsNull(map)) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj->pod_meta, field);
        map = cJSON_CreateObject();
        if (map == NULL) {
            return KA_ENOMEM;
        }
        ret = add_to_pod_meta(run, obj->pod_meta, field, NULL, map);
        if (ret != 0) {
            return ret;
        }
    }
    if (!cJSON_IsObject(map)) {
        return KA_ETYPE;
    }
    *out = map;
    return 0;
}

int ka_rule_add_annotations(struct ka_rule_run *run, const cJSON *wanted)
{
    const cJSON *kv;
    int ret = 0;
    cJSON *annotations = NULL;
    cJSON_ArrayForEach(kv, wanted)
    {
        if (annotations == NULL) {
            ret = ka_rule_ensure_pod_map(run, "annotations", &annotations);
            if (ret != 0) {
                return ret;
            }
        }
        if (item(annotations, kv->string) != NULL) {
            continue; /* never override what the user set */
        }
        cJSON *v = cJSON_CreateString(kv->valuestring);
        if (v == NULL) {
            return KA_ENOMEM;
        }
        ret = add_to_pod_meta(run, annotations, "annotations", kv->string, v);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

/* Append `value` (owned, consumed) to pod_spec[field], creating the array if needed. */
int ka_rule_append_to_spec_array(struct ka_rule_run *run, const char *field, cJSON *value)
{
    cJSON *arr = item(run->obj->pod_spec, field);
    char path[160];
    int ret;
    if (arr == NULL || cJSON_IsNull(arr)) {
        cJSON_DeleteItemFromObjectCaseSensitive(run->obj->pod_spec, field);
        arr = cJSON_CreateArray();
        if (arr == NULL) {
            cJSON_Delete(value);
            return KA_ENOMEM;
        }
        cJSON_AddItemToArray(arr, value);
        snprintf(path, sizeof(path), "%s/%s", run->obj->pod_spec_path, field);
        return ka_rule_add_member(run, path, run->obj->pod_spec, field, arr);
    }
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(value);
        return KA_ETYPE;
    }
    snprintf(path, sizeof(path), "%s/%s/-", run->obj->pod_spec_path, field);
    ret = ka_rule_record_add(run, path, value);
    if (ret != 0) {
        cJSON_Delete(value);
        return ret;
    }
    cJSON_AddItemToArray(arr, value);
    return 0;
}

int ka_rule_fix_number(struct ka_rule_run *run, const char *op, const char *path, double value)
{
    if (run->ev->fixes == NULL) {
        return 0;
    }
    cJSON *n = cJSON_CreateNumber(value);
    int ret = n != NULL ? ka_rule_fix(run, NULL, op, path, n) : KA_ENOMEM;
    cJSON_Delete(n);
    return ret;
}

/* ------------------------------------------------------------------------------------------
 * Relations
 */

#define AGENTS_PARAM                                                                               \
    {                                                                                              \
        "agents", KA_P_OBJECT, "{\"matchLabels\":{\"app\":\"agent\"}}",                            \
            "label selector of the agent pods (pod template labels)"                               \
    }
#define SPINE_PARAM                                                                                \
    {                                                                                              \
        "memorySpine", KA_P_OBJECT, "{\"matchLabels\":{\"app\":\"memory-spine\"}}",                \
            "label selector of the Memory Spine pods"                                              \
    }

const struct ka_param_def ka_relation_params_agents[] = {AGENTS_PARAM, {NULL, 0, NULL, NULL}};
const struct ka_param_def ka_relation_params_spine[] = {SPINE_PARAM, {NULL, 0, NULL, NULL}};
const struct ka_param_def ka_relation_params_agents_spine[] = {
    AGENTS_PARAM, SPINE_PARAM, {NULL, 0, NULL, NULL}};

int ka_relation_covered(const struct ka_relation_workload *w, const char *kind,
                        ka_relation_cover_fn covers, const char **failing)
{
    const cJSON *e;
    *failing = NULL;
    cJSON_ArrayForEach(e, w->entries)
    {
        if (strcmp(ka_relation_str(e, "kind"), kind) != 0 || !covers(w, e)) {
            continue;
        }
        if (cJSON_IsTrue(item(e, "ok"))) {
            return 1;
        }
        *failing = *failing ? *failing : ka_relation_str(e, "name");
    }
    return 0;
}
