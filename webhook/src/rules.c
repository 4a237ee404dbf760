/*
 * The checklist rules.
 *
 * Each rule is a static struct ka_rule_def: id, kinds, parameter schema (with defaults) and a
 * run function. Parameters arrive merged with their defaults, already type-checked by the
 * policy loader, so run functions read them without re-validating.
 */
#include "kadmit/rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/error.h"
#include "kadmit/limits.h"
#include "kadmit/select.h"

/* ------------------------------------------------------------------------------------------
 * Small accessors
 */

static const char *str_at(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *item(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static const cJSON *param(const struct ka_rule_run *run, const char *name)
{
    return item(run->rule->params, name);
}

static int param_int(const struct ka_rule_run *run, const char *name)
{
    const cJSON *v = param(run, name);
    return cJSON_IsNumber(v) ? v->valueint : 0;
}

static int param_bool(const struct ka_rule_run *run, const char *name)
{
    return cJSON_IsTrue(param(run, name));
}

static int list_has(const cJSON *list, const char *s)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, list)
    {
        if (cJSON_IsString(x) && strcmp(x->valuestring, s) == 0) {
            return 1;
        }
    }
    return 0;
}

static const cJSON *pod_labels(const struct ka_object *obj)
{
    return item(obj->pod_meta, "labels");
}

/* ------------------------------------------------------------------------------------------
 * Matching and reporting
 */

static int kinds_match(const cJSON *kinds, const struct ka_object *obj)
{
    return kinds == NULL || list_has(kinds, obj->kind_name);
}

/* match/exclude blocks: kinds, namespaces (globs), names (globs), selector. All given must hold. */
static int block_matches(const cJSON *block, const struct ka_object *obj)
{
    const cJSON *kinds = item(block, "kinds");
    const cJSON *nss = item(block, "namespaces");
    const cJSON *names = item(block, "names");
    const cJSON *sel = item(block, "selector");
    if (!kinds_match(kinds, obj)) {
        return 0;
    }
    if (nss != NULL && !ka_glob_match_any(nss, obj->namespace_, 0)) {
        return 0;
    }
    if (names != NULL && !ka_glob_match_any(names, obj->name, 0)) {
        return 0;
    }
    if (sel != NULL && !ka_selector_matches(sel, pod_labels(obj))) {
        return 0;
    }
    return 1;
}

int ka_rules_namespace_excluded(const struct ka_eval *ev, const char *ns)
{
    return ns != NULL && ns[0] != '\0' && ka_glob_match_any(ev->excluded_namespaces, ns, 0);
}

static int rule_applies(const struct ka_rule *rule, const struct ka_eval *ev)
{
    const struct ka_object *obj = ev->obj;
    if (rule->action == KA_ACTION_OFF || (rule->def->kinds & (unsigned)obj->kind) == 0) {
        return 0;
    }
    if (rule->match != NULL && !block_matches(rule->match, obj)) {
        return 0;
    }
    if (rule->exclude != NULL && block_matches(rule->exclude, obj)) {
        return 0;
    }
    return 1;
}

static int excepted(const struct ka_rule_run *run, const char *container)
{
    const cJSON *ex;
    cJSON_ArrayForEach(ex, run->rule->exceptions)
    {
        const cJSON *containers = item(ex, "containers");
        if (!block_matches(ex, run->obj)) {
            continue;
        }
        if (containers != NULL && (container == NULL || !list_has(containers, container))) {
            continue;
        }
        return 1;
    }
    return 0;
}

int ka_rule_report(struct ka_rule_run *run, const char *container, const char *path,
                   const char *what, const char *fix)
{
    struct ka_review_summary *s = run->ev->summary;
    if (excepted(run, container)) {
        return 0;
    }
    if (s->n_findings >= sizeof(s->findings) / sizeof(s->findings[0])) {
        s->n_dropped_findings++;
        return 0;
    }
    struct ka_finding *f = &s->findings[s->n_findings++];
    f->preexisting = 0;
    f->rule = run->rule->def->id;
    f->action = run->rule->action;
    snprintf(f->container, sizeof(f->container), "%s", container ? container : "");
    snprintf(f->path, sizeof(f->path), "%s", path ? path : "");
    const struct ka_object *o = run->obj;
    char where[400];
    if (o->namespace_[0] != '\0') {
        snprintf(where, sizeof(where), "%s %s/%s", o->kind_name, o->namespace_, o->name);
    } else {
        snprintf(where, sizeof(where), "%s %s", o->kind_name, o->name);
    }
    snprintf(f->what, sizeof(f->what), "%s", what);
    snprintf(f->fix, sizeof(f->fix), "%s", fix);
    if (container != NULL) {
        snprintf(f->message, sizeof(f->message), "%s: %s container \"%s\": %s (%s)", f->rule, where,
                 container, what, fix);
    } else {
        snprintf(f->message, sizeof(f->message), "%s: %s: %s (%s)", f->rule, where, what, fix);
    }
    return 0;
}

int ka_rule_fix(struct ka_rule_run *run, const char *container, const char *op, const char *path,
                const cJSON *value)
{
    if (run->ev->fixes == NULL || excepted(run, container)) {
        return 0;
    }
    return ka_patch_op(run->ev->fixes, op, path, value);
}

/* The same with a number as the value. */
static int fix_number(struct ka_rule_run *run, const char *op, const char *path, double v)
{
    if (run->ev->fixes == NULL) {
        return 0;
    }
    cJSON *n = cJSON_CreateNumber(v);
    int ret = n != NULL ? ka_rule_fix(run, NULL, op, path, n) : KA_ENOMEM;
    cJSON_Delete(n);
    return ret;
}

static const char *add_or_replace(const cJSON *v)
{
    return v != NULL && !cJSON_IsNull(v) ? "replace" : "add";
}

/* Calls fn for each container of the lists selected by `lists` (bit 0 initContainers, bit 1
 * containers, bit 2 ephemeralContainers). */
#define KA_INIT 1u
#define KA_APP 2u
#define KA_EPHEMERAL 4u
/* Where a container is; its JSON pointer is only built when something is reported. */
struct ctr_ref {
    const char *field; /* "containers", ... */
    size_t index;
};

static void ctr_path(const struct ka_rule_run *run, const struct ctr_ref *at, const char *suffix,
                     char *out, size_t len)
{
    snprintf(out, len, "%s/%s/%zu%s", run->obj->pod_spec_path, at->field, at->index, suffix);
}

typedef int (*container_fn)(struct ka_rule_run *run, cJSON *c, const char *name,
                            const struct ctr_ref *at, void *arg);

static int for_each_container(struct ka_rule_run *run, unsigned lists, container_fn fn, void *arg)
{
    static const struct {
        unsigned bit;
        const char *field;
    } fields[] = {
        {KA_INIT, "initContainers"}, {KA_APP, "containers"}, {KA_EPHEMERAL, "ephemeralContainers"}};
    for (size_t l = 0; l < 3; l++) {
        if ((lists & fields[l].bit) == 0) {
            continue;
        }
        cJSON *arr = item(run->obj->pod_spec, fields[l].field);
        cJSON *c;
        size_t i = 0;
        cJSON_ArrayForEach(c, arr)
        {
            struct ctr_ref at = {fields[l].field, i++};
            const char *name = str_at(c, "name");
            int ret = fn(run, c, name ? name : "(unnamed)", &at, arg);
            if (ret != 0) {
                return ret;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * resources-required
 */

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
        const char *dot = strchr(req->valuestring, '.');
        char section[16];
        snprintf(section, sizeof(section), "%.*s", (int)(dot - req->valuestring), req->valuestring);
        const cJSON *have = item(item(res, section), dot + 1);
        const cJSON *v = item(item(given, section), dot + 1);
        if (ret != 0 || v == NULL ||
            !(have == NULL || cJSON_IsNull(have) ||
              (cJSON_IsString(have) && have->valuestring[0] == '\0'))) {
            continue;
        }
        cJSON *sec = item(add, section);
        if (sec == NULL && (sec = cJSON_AddObjectToObject(add, section)) == NULL) {
            ret = KA_ENOMEM;
        }
        cJSON *copy = cJSON_Duplicate(v, 0);
        if (ret == 0 && (copy == NULL || !cJSON_AddItemToObject(sec, dot + 1, copy))) {
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
                ret = ka_rule_fix(run, name, add_or_replace(item(have, kv->string)), path, kv);
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
                               const struct ctr_ref *at, void *arg)
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
    ctr_path(run, at, "/resources", where, sizeof(where));
    int ret = ka_rule_report(run, name, where, missing, fix);
    return ret == 0 ? resources_fix(run, name, res, where) : ret;
}

static int run_resources(struct ka_rule_run *run)
{
    return for_each_container(run, KA_INIT | KA_APP, resources_container, NULL);
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

static const struct ka_param_def resources_params[] = {
    {"require", KA_P_STRINGS,
     "[\"requests.cpu\",\"requests.memory\",\"limits.cpu\",\"limits.memory\"]"},
    {"fix", KA_P_OBJECT, NULL}, /* values `kadmit fix` fills in: {requests: {cpu: 100m}, ...} */
    {NULL, 0, NULL},
};

static const struct ka_rule_def rule_resources = {
    .id = "resources-required",
    .kinds = KA_KINDS_WORKLOAD,
    .params = resources_params,
    .check = check_resources,
    .run = run_resources,
};

/* ------------------------------------------------------------------------------------------
 * probes-required
 */

static int probes_container(struct ka_rule_run *run, cJSON *c, const char *name,
                            const struct ctr_ref *at, void *arg)
{
    (void)arg;
    const cJSON *p;
    cJSON_ArrayForEach(p, param(run, "probes"))
    {
        char field[32], what[80], fix[160], where[192];
        snprintf(field, sizeof(field), "%sProbe", p->valuestring);
        if (item(c, field) != NULL && !cJSON_IsNull(item(c, field))) {
            continue;
        }
        snprintf(what, sizeof(what), "has no %s", field);
        snprintf(fix, sizeof(fix), "add %s with httpGet, tcpSocket, grpc or exec", field);
        char suffix[40];
        snprintf(suffix, sizeof(suffix), "/%s", field);
        ctr_path(run, at, suffix, where, sizeof(where));
        int ret = ka_rule_report(run, name, where, what, fix);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

static int run_probes(struct ka_rule_run *run)
{
    if (param_bool(run, "skipJobPods") && run->obj->job_pod) {
        return 0;
    }
    return for_each_container(run, KA_APP, probes_container, NULL);
}

static int check_probes(const cJSON *params, char *err, size_t err_len, const cJSON **where)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, item(params, "probes"))
    {
        if (strcmp(p->valuestring, "readiness") != 0 && strcmp(p->valuestring, "liveness") != 0 &&
            strcmp(p->valuestring, "startup") != 0) {
            *where = p;
            snprintf(err, err_len, "probes: unknown probe \"%.40s\" (readiness, liveness, startup)",
                     p->valuestring);
            return KA_EPOLICY;
        }
    }
    return 0;
}

static const struct ka_param_def probes_params[] = {
    {"probes", KA_P_STRINGS, "[\"readiness\",\"liveness\"]"},
    {"skipJobPods", KA_P_BOOL, "true"},
    {NULL, 0, NULL},
};

static const struct ka_rule_def rule_probes = {
    .id = "probes-required",
    .kinds = KA_KINDS_WORKLOAD,
    .params = probes_params,
    .check = check_probes,
    .run = run_probes,
};

/* ------------------------------------------------------------------------------------------
 * image-pinned
 */

static int image_container(struct ka_rule_run *run, cJSON *c, const char *name,
                           const struct ctr_ref *at, void *arg)
{
    (void)arg;
    const char *image = str_at(c, "image");
    char where[160];
    ctr_path(run, at, "/image", where, sizeof(where));
    if (image == NULL || image[0] == '\0') {
        return ka_rule_report(run, name, where, "has no image",
                              "set image to repo:tag or repo@sha256:digest");
    }
    if (strstr(image, "@sha256:") != NULL) {
        return 0;
    }
    char what[300];
    const char *slash = strrchr(image, '/');
    const char *colon = strchr(slash ? slash : image, ':');
    if (param_bool(run, "requireDigest")) {
        snprintf(what, sizeof(what), "image \"%.200s\" is not pinned by digest", image);
        return ka_rule_report(run, name, where, what, "use repo@sha256:<digest>");
    }
    if (colon == NULL) {
        snprintf(what, sizeof(what), "image \"%.200s\" has no tag (means :latest)", image);
        return ka_rule_report(run, name, where, what, "use a version tag or @sha256 digest");
    }
    if (strcmp(colon + 1, "latest") == 0) {
        snprintf(what, sizeof(what), "image \"%.200s\" uses the latest tag", image);
        return ka_rule_report(run, name, where, what, "use a version tag or @sha256 digest");
    }
    return 0;
}

static int run_image_pinned(struct ka_rule_run *run)
{
    return for_each_container(run, KA_INIT | KA_APP | KA_EPHEMERAL, image_container, NULL);
}

static const struct ka_param_def image_params[] = {
    {"requireDigest", KA_P_BOOL, "false"},
    {NULL, 0, NULL},
};

static const struct ka_rule_def rule_image_pinned = {
    .id = "image-pinned",
    .kinds = KA_KINDS_WORKLOAD,
    .params = image_params,
    .run = run_image_pinned,
};

/* ------------------------------------------------------------------------------------------
 * memory-spine-anti-affinity
 */

/* The required term on `key` selecting the pod's own labels; it replaces a preferred-only term
 * and keeps every other affinity. Pods without labels get no fix: nothing would select them. */
static int anti_affinity_fix(struct ka_rule_run *run, const char *key, const char *anti_path)
{
    const cJSON *labels = pod_labels(run->obj);
    if (run->ev->fixes == NULL || !cJSON_IsObject(labels) || labels->child == NULL) {
        return 0;
    }
    const cJSON *affinity = item(run->obj->pod_spec, "affinity");
    const cJSON *anti = item(affinity, "podAntiAffinity");
    const cJSON *required = item(anti, "requiredDuringSchedulingIgnoredDuringExecution");
    cJSON *term = cJSON_CreateObject();
    cJSON *sel = cJSON_AddObjectToObject(term, "labelSelector");
    cJSON *match = cJSON_Duplicate(labels, 1);
    cJSON *value = NULL; /* what is added where */
    char path[256];
    int ret = KA_ENOMEM;
    if (sel == NULL || match == NULL || !cJSON_AddItemToObject(sel, "matchLabels", match)) {
        cJSON_Delete(match);
        goto cleanup;
    }
    if (cJSON_AddStringToObject(term, "topologyKey", key) == NULL) {
        goto cleanup;
    }
    if (cJSON_IsArray(required)) {
        snprintf(path, sizeof(path), "%s/requiredDuringSchedulingIgnoredDuringExecution/-",
                 anti_path);
        ret = ka_rule_fix(run, NULL, "add", path, term);
        goto cleanup;
    }
    /* Build the missing part top-down: affinity > podAntiAffinity > required: [term]. */
    value = cJSON_CreateArray();
    if (value == NULL) {
        goto cleanup;
    }
    cJSON_AddItemToArray(value, term);
    term = NULL;
    snprintf(path, sizeof(path), "%s/requiredDuringSchedulingIgnoredDuringExecution", anti_path);
    static const char *const levels[] = {"requiredDuringSchedulingIgnoredDuringExecution",
                                         "podAntiAffinity", "affinity"};
    const cJSON *have[] = {required, anti, affinity};
    for (size_t i = 0; i + 1 < 3 && (have[i + 1] == NULL || cJSON_IsNull(have[i + 1])); i++) {
        cJSON *wrap = cJSON_CreateObject();
        if (wrap == NULL || !cJSON_AddItemToObject(wrap, levels[i], value)) {
            cJSON_Delete(wrap);
            goto cleanup;
        }
        value = wrap;
        *strrchr(path, '/') = '\0';
    }
    ret = ka_rule_fix(run, NULL, "add", path, value);
    const cJSON *preferred = item(anti, "preferredDuringSchedulingIgnoredDuringExecution");
    if (ret == 0 && preferred != NULL) {
        snprintf(path, sizeof(path), "%s/preferredDuringSchedulingIgnoredDuringExecution",
                 anti_path);
        ret = ka_rule_fix(run, NULL, "remove", path, NULL);
    }
cleanup:
    cJSON_Delete(term);
    cJSON_Delete(value);
    return ret;
}

static int run_anti_affinity(struct ka_rule_run *run)
{
    const char *key = str_at(run->rule->params, "topologyKey");
    const cJSON *labels = pod_labels(run->obj);
    const cJSON *anti = item(item(run->obj->pod_spec, "affinity"), "podAntiAffinity");
    const cJSON *required = item(anti, "requiredDuringSchedulingIgnoredDuringExecution");
    const cJSON *preferred = item(anti, "preferredDuringSchedulingIgnoredDuringExecution");
    char path[160], fix[300], what[200];
    snprintf(path, sizeof(path), "%s/affinity/podAntiAffinity", run->obj->pod_spec_path);
    snprintf(fix, sizeof(fix),
             "add podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution with "
             "topologyKey %s and a labelSelector matching the pod's own labels",
             key);
    int wrong_key = 0, misses = 0;
    const cJSON *term;
    cJSON_ArrayForEach(term, required)
    {
        const char *tk = str_at(term, "topologyKey");
        if (tk == NULL || strcmp(tk, key) != 0) {
            wrong_key++;
            continue;
        }
        const cJSON *sel = item(term, "labelSelector");
        if (sel == NULL || !ka_selector_matches(sel, labels) ||
            (item(sel, "matchLabels") == NULL && item(sel, "matchExpressions") == NULL)) {
            misses++;
            continue;
        }
        return 0; /* a required term on the right key that selects the pod's own replicas */
    }
    if (misses > 0) {
        snprintf(what, sizeof(what),
                 "required podAntiAffinity on %s has a labelSelector that does not select the "
                 "pod's own labels",
                 key);
    } else if (wrong_key > 0) {
        snprintf(what, sizeof(what), "required podAntiAffinity uses another topologyKey than %s",
                 key);
    } else if (cJSON_GetArraySize(preferred) > 0) {
        snprintf(what, sizeof(what),
                 "podAntiAffinity is only preferred, so replicas may share a node");
    } else {
        snprintf(what, sizeof(what),
                 "has no required podAntiAffinity, so replicas may share a node");
    }
    int ret = ka_rule_report(run, NULL, path, what, fix);
    return ret == 0 ? anti_affinity_fix(run, key, path) : ret;
}

static const struct ka_param_def anti_affinity_params[] = {
    {"topologyKey", KA_P_STRING, "\"kubernetes.io/hostname\""},
    {NULL, 0, NULL},
};

static const struct ka_rule_def rule_anti_affinity = {
    .id = "memory-spine-anti-affinity",
    .kinds = KA_KINDS_WORKLOAD,
    .params = anti_affinity_params,
    .run = run_anti_affinity,
};

/* ------------------------------------------------------------------------------------------
 * termination-grace-period
 */

static int run_grace(struct ka_rule_run *run)
{
    int min = param_int(run, "minSeconds");
    const cJSON *v = item(run->obj->pod_spec, "terminationGracePeriodSeconds");
    double have = cJSON_IsNumber(v) ? v->valuedouble : 30.0; /* Kubernetes' default */
    if (have >= min) {
        return 0;
    }
    char what[160], fix[160], path[160];
    snprintf(what, sizeof(what), "terminationGracePeriodSeconds is %.0f%s (minimum %d)", have,
             cJSON_IsNumber(v) ? "" : " by default", min);
    snprintf(fix, sizeof(fix), "set terminationGracePeriodSeconds: %d or more so sessions drain",
             min);
    snprintf(path, sizeof(path), "%s/terminationGracePeriodSeconds", run->obj->pod_spec_path);
    int ret = ka_rule_report(run, NULL, path, what, fix);
    return ret == 0 ? fix_number(run, add_or_replace(v), path, min) : ret;
}

static const struct ka_param_def grace_params[] = {
    {"minSeconds", KA_P_INT, "120"},
    {NULL, 0, NULL},
};

static const struct ka_rule_def rule_grace = {
    .id = "termination-grace-period",
    .kinds = KA_KINDS_WORKLOAD,
    .params = grace_params,
    .run = run_grace,
};

/* ------------------------------------------------------------------------------------------
 * no-literal-secrets
 */

static int ends_with_nocase(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int secrets_container(struct ka_rule_run *run, cJSON *c, const char *name,
                             const struct ctr_ref *at, void *arg)
{
    (void)arg;
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, item(c, "env"))
    {
        size_t index = i++;
        const char *var = str_at(e, "name");
        const cJSON *value = item(e, "value");
        if (var == NULL || !cJSON_IsString(value) || value->valuestring[0] == '\0') {
            continue;
        }
        if (!ka_glob_match_any(param(run, "names"), var, 1)) {
            continue;
        }
        int allowed = 0;
        const cJSON *suf;
        cJSON_ArrayForEach(suf, param(run, "allowSuffixes"))
        {
            allowed |= ends_with_nocase(var, suf->valuestring);
        }
        if (allowed) {
            continue;
        }
        char what[200], where[192];
        snprintf(what, sizeof(what), "env %.100s holds a literal value that looks like a secret",
                 var);
        char suffix[48];
        snprintf(suffix, sizeof(suffix), "/env/%zu/value", index);
        ctr_path(run, at, suffix, where, sizeof(where));
        int ret = ka_rule_report(run, name, where, what,
                                 "use valueFrom.secretKeyRef and keep the value in a Secret");
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

static int run_secrets(struct ka_rule_run *run)
{
    return for_each_container(run, KA_INIT | KA_APP | KA_EPHEMERAL, secrets_container, NULL);
}

static const struct ka_param_def secrets_params[] = {
    {"names", KA_P_STRINGS,
     "[\"*API_KEY*\",\"*APIKEY*\",\"*TOKEN*\",\"*SECRET*\",\"*PASSWORD*\",\"*PASSWD*\","
     "\"*CREDENTIAL*\",\"*PRIVATE_KEY*\"]"},
    {"allowSuffixes", KA_P_STRINGS, "[\"_PATH\",\"_FILE\",\"_DIR\"]"},
    {NULL, 0, NULL},
};

static const struct ka_rule_def rule_secrets = {
    .id = "no-literal-secrets",
    .kinds = KA_KINDS_WORKLOAD,
    .params = secrets_params,
    .run = run_secrets,
};

/* ------------------------------------------------------------------------------------------
 * hpa-custom-metrics
 */

static int run_hpa(struct ka_rule_run *run)
{
    const cJSON *root = run->obj->root;
    int ret = 0;
    if (strcmp(run->obj->api_version, "autoscaling/v1") == 0) {
        return ka_rule_report(run, NULL, "/apiVersion",
                              "uses autoscaling/v1, which can only scale on CPU",
                              "use autoscaling/v2 with a Pods, Object or External metric");
    }
    const cJSON *spec = item(root, "spec");
    int custom = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, item(spec, "metrics"))
    {
        const char *type = str_at(m, "type");
        custom |= type != NULL && (strcmp(type, "Pods") == 0 || strcmp(type, "Object") == 0 ||
                                   strcmp(type, "External") == 0);
    }
    if (!custom) {
        ret = ka_rule_report(run, NULL, "/spec/metrics", "scales on CPU/memory only",
                             "add a Pods, Object or External metric such as "
                             "agent_active_sessions or agent_request_queue_depth");
    }
    const cJSON *win =
        item(item(item(spec, "behavior"), "scaleDown"), "stabilizationWindowSeconds");
    int min = param_int(run, "minScaleDownStabilizationSeconds");
    if (ret == 0 && cJSON_IsNumber(win) && win->valuedouble < min) {
        char what[160], fix[160];
        snprintf(what, sizeof(what), "scaleDown.stabilizationWindowSeconds is %.0f (minimum %d)",
                 win->valuedouble, min);
        snprintf(fix, sizeof(fix),
                 "set behavior.scaleDown.stabilizationWindowSeconds: %d or more to protect "
                 "active sessions",
                 min);
        ret = ka_rule_report(run, NULL, "/spec/behavior/scaleDown/stabilizationWindowSeconds", what,
                             fix);
        if (ret == 0) {
            ret = fix_number(run, "replace", "/spec/behavior/scaleDown/stabilizationWindowSeconds",
                             min);
        }
    }
    return ret;
}

static const struct ka_param_def hpa_params[] = {
    {"minScaleDownStabilizationSeconds", KA_P_INT, "300"},
    {NULL, 0, NULL},
};

static const struct ka_rule_def rule_hpa = {
    .id = "hpa-custom-metrics",
    .kinds = KA_KIND_HPA,
    .params = hpa_params,
    .run = run_hpa,
};

/* ------------------------------------------------------------------------------------------
 * pdb-availability
 */

static int run_pdb(struct ka_rule_run *run)
{
    const cJSON *spec = item(run->obj->root, "spec");
    const cJSON *sel = item(spec, "selector");
    const cJSON *min_av = item(spec, "minAvailable");
    const cJSON *m;
    cJSON_ArrayForEach(m, param(run, "minimums"))
    {
        /* The PDB protects these pods if its selector selects the labels the minimum names. */
        const cJSON *want = item(item(m, "selector"), "matchLabels");
        int need = item(m, "minAvailable")->valueint;
        if (sel == NULL || want == NULL || !ka_selector_matches(sel, want) ||
            (item(sel, "matchLabels") == NULL && item(sel, "matchExpressions") == NULL)) {
            continue;
        }
        char what[200], fix[160], pods[120] = "";
        size_t n = 0;
        const cJSON *kv;
        cJSON_ArrayForEach(kv, want)
        {
            n += (size_t)snprintf(pods + n, sizeof(pods) - n, "%s%s=%s", n ? "," : "", kv->string,
                                  kv->valuestring);
            if (n >= sizeof(pods)) {
                break;
            }
        }
        snprintf(fix, sizeof(fix), "set spec.minAvailable: %d (an integer)", need);
        if (cJSON_IsNumber(min_av) && min_av->valuedouble >= need) {
            continue;
        }
        if (cJSON_IsNumber(min_av)) {
            snprintf(what, sizeof(what), "minAvailable is %.0f for %s pods (minimum %d)",
                     min_av->valuedouble, pods, need);
        } else if (cJSON_IsString(min_av)) {
            snprintf(what, sizeof(what),
                     "minAvailable is the percentage %.20s for %s pods, which cannot guarantee %d",
                     min_av->valuestring, pods, need);
        } else {
            snprintf(what, sizeof(what), "has no minAvailable for %s pods (minimum %d)", pods,
                     need);
        }
        int ret = ka_rule_report(run, NULL, "/spec/minAvailable", what, fix);
        if (ret == 0 && item(spec, "maxUnavailable") != NULL) {
            ret = ka_rule_fix(run, NULL, "remove", "/spec/maxUnavailable", NULL); /* one or other */
        }
        if (ret == 0) {
            ret = fix_number(run, add_or_replace(min_av), "/spec/minAvailable", need);
        }
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

static int check_pdb(const cJSON *params, char *err, size_t err_len, const cJSON **where)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, item(params, "minimums"))
    {
        *where = m;
        const cJSON *sel = item(m, "selector");
        const cJSON *min = item(m, "minAvailable");
        if (!cJSON_IsObject(m) || !cJSON_IsObject(item(sel, "matchLabels")) ||
            !cJSON_IsNumber(min) || min->valuedouble < 0) {
            snprintf(err, err_len,
                     "minimums entries need selector.matchLabels and an integer minAvailable");
            return KA_EPOLICY;
        }
        int ret = ka_selector_validate(sel, err, err_len, where);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

static const struct ka_param_def pdb_params[] = {
    {"minimums", KA_P_LIST,
     "[{\"selector\":{\"matchLabels\":{\"app\":\"memory-spine\"}},\"minAvailable\":2},"
     "{\"selector\":{\"matchLabels\":{\"app\":\"agent\"}},\"minAvailable\":1}]"},
    {NULL, 0, NULL},
};

static const struct ka_rule_def rule_pdb = {
    .id = "pdb-availability",
    .kinds = KA_KIND_PDB,
    .params = pdb_params,
    .check = check_pdb,
    .run = run_pdb,
};

/* ------------------------------------------------------------------------------------------
 * Mutations: helpers that change the tree and record the patch together
 */

/* cJSON_AddItemToObject() copies the key and fails when that allocation fails, leaving `value`
 * unattached: attach or free it, and say so. */
static int attach_member(cJSON *obj, const char *key, cJSON *value)
{
    if (!cJSON_AddItemToObject(obj, key, value)) {
        cJSON_Delete(value);
        return KA_ENOMEM;
    }
    return 0;
}

static int record_add(struct ka_rule_run *run, const char *path, const cJSON *value)
{
    struct ka_eval *ev = run->ev;
    if (ev->patch == NULL) {
        return 0;
    }
    int ret = ka_patch_add(ev->patch, path, value);
    if (ret != 0) {
        return ret;
    }
    struct ka_review_summary *s = ev->summary;
    if (s != NULL && s->n_mutations < sizeof(s->mutations) / sizeof(s->mutations[0])) {
        struct ka_mutation *m = &s->mutations[s->n_mutations++];
        m->rule = run->rule->def->id;
        snprintf(m->op, sizeof(m->op), "add");
        snprintf(m->path, sizeof(m->path), "%s", path);
    }
    return 0;
}

/* Make sure pod metadata and its `field` map exist; returns the map. */
static int ensure_pod_map(struct ka_rule_run *run, const char *field, cJSON **out)
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
        ret = record_add(run, obj->pod_meta_path, meta);
        if (ret != 0) {
            cJSON_Delete(meta);
            return ret;
        }
        ret = attach_member(parent, "metadata", meta);
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
        struct ka_buf path;
        ka_buf_init(&path, 256);
        ret = ka_buf_adds(&path, obj->pod_meta_path);
        if (ret == 0) {
            ret = ka_pointer_append(&path, field);
        }
        if (ret == 0) {
            ret = record_add(run, path.data, map);
        }
        ka_buf_free(&path);
        if (ret != 0) {
            cJSON_Delete(map);
            return ret;
        }
        ret = attach_member(obj->pod_meta, field, map);
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

static int add_annotations(struct ka_rule_run *run, const cJSON *wanted)
{
    const cJSON *kv;
    int ret = 0;
    cJSON *annotations = NULL;
    cJSON_ArrayForEach(kv, wanted)
    {
        if (annotations == NULL) {
            ret = ensure_pod_map(run, "annotations", &annotations);
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
        struct ka_buf path;
        ka_buf_init(&path, 512);
        ret = ka_buf_adds(&path, run->obj->pod_meta_path);
        if (ret == 0) {
            ret = ka_pointer_append(&path, "annotations");
        }
        if (ret == 0) {
            ret = ka_pointer_append(&path, kv->string);
        }
        if (ret == 0) {
            ret = record_add(run, path.data, v);
        }
        ka_buf_free(&path);
        if (ret != 0) {
            cJSON_Delete(v);
            return ret;
        }
        ret = attach_member(annotations, kv->string, v);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

/* Append `value` (owned, consumed) to pod_spec[field], creating the array if needed. */
static int append_to_spec_array(struct ka_rule_run *run, const char *field, cJSON *value)
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
        ret = record_add(run, path, arr);
        if (ret != 0) {
            cJSON_Delete(arr);
            return ret;
        }
        return attach_member(run->obj->pod_spec, field, arr);
    }
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(value);
        return KA_ETYPE;
    }
    snprintf(path, sizeof(path), "%s/%s/-", run->obj->pod_spec_path, field);
    ret = record_add(run, path, value);
    if (ret != 0) {
        cJSON_Delete(value);
        return ret;
    }
    cJSON_AddItemToArray(arr, value);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * inject-metrics-sidecar
 */

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
        /* name, image, ports, resources: the order users write, for readable patches */
        cJSON *c = cJSON_CreateObject();
        if (c == NULL || cJSON_AddStringToObject(c, "name", name) == NULL ||
            cJSON_AddStringToObject(c, "image", str_at(run->rule->params, "image")) == NULL) {
            cJSON_Delete(c);
            return KA_ENOMEM;
        }
        cJSON *ports = cJSON_AddArrayToObject(c, "ports");
        cJSON *port = cJSON_CreateObject();
        if (ports == NULL || port == NULL) {
            cJSON_Delete(c);
            cJSON_Delete(port);
            return KA_ENOMEM;
        }
        cJSON_AddItemToArray(ports, port); /* cannot fail: both exist */
        cJSON *res = NULL;
        if (cJSON_AddNumberToObject(port, "containerPort", param_int(run, "port")) == NULL ||
            cJSON_AddStringToObject(port, "protocol", "TCP") == NULL ||
            (res = cJSON_AddObjectToObject(c, "resources")) == NULL) {
            cJSON_Delete(c);
            return KA_ENOMEM;
        }
        static const char *const sections[] = {"requests", "limits"};
        for (size_t i = 0; i < 2; i++) {
            cJSON *copy = cJSON_Duplicate(param(run, sections[i]), 1);
            if (copy == NULL || attach_member(res, sections[i], copy) != 0) {
                cJSON_Delete(c);
                return KA_ENOMEM;
            }
        }
        ret = append_to_spec_array(run, "containers", c);
        if (ret != 0) {
            return ret;
        }
    }
    return add_annotations(run, param(run, "annotations"));
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

static const struct ka_param_def sidecar_params[] = {
    {"name", KA_P_STRING, "\"metrics-sidecar\""},
    {"image", KA_P_STRING, "\"registry.chaozcode.com/agent-metrics:1.2.0\""},
    {"port", KA_P_INT, "9090"},
    {"requests", KA_P_OBJECT, "{\"cpu\":\"50m\",\"memory\":\"64Mi\"}"},
    {"limits", KA_P_OBJECT, "{\"cpu\":\"100m\",\"memory\":\"128Mi\"}"},
    {"annotations", KA_P_OBJECT,
     "{\"prometheus.io/scrape\":\"true\",\"prometheus.io/port\":\"9090\"}"},
    {NULL, 0, NULL},
};

static const struct ka_rule_def rule_sidecar = {
    .id = "inject-metrics-sidecar",
    .mutating = 1,
    .kinds = KA_KINDS_WORKLOAD,
    .params = sidecar_params,
    .check = check_quantities,
    .run = run_sidecar,
};

/* ------------------------------------------------------------------------------------------
 * inject-probes
 */

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
                                   const struct ctr_ref *at, void *arg)
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
        char ppath[192], suffix[40];
        snprintf(suffix, sizeof(suffix), "/%s", field);
        ctr_path(run, at, suffix, ppath, sizeof(ppath));
        int ret = record_add(run, ppath, probe);
        if (ret != 0) {
            cJSON_Delete(probe);
            return ret;
        }
        ret = attach_member(c, field, probe);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

static int run_inject_probes(struct ka_rule_run *run)
{
    return for_each_container(run, KA_APP, probes_inject_container, NULL);
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

static const struct ka_param_def inject_probes_params[] = {
    {"port", KA_P_PORT, "\"http\""},
    {"fallbackPort", KA_P_INT, "8080"},
    {"readiness", KA_P_OBJECT,
     "{\"path\":\"/health/ready\",\"initialDelaySeconds\":10,\"periodSeconds\":15}"},
    {"liveness", KA_P_OBJECT,
     "{\"path\":\"/health/live\",\"initialDelaySeconds\":30,\"periodSeconds\":20,"
     "\"failureThreshold\":3}"},
    {NULL, 0, NULL},
};

static const struct ka_rule_def rule_inject_probes = {
    .id = "inject-probes",
    .mutating = 1,
    .kinds = KA_KINDS_WORKLOAD,
    .params = inject_probes_params,
    .check = check_probe_cfg,
    .run = run_inject_probes,
};

/* ------------------------------------------------------------------------------------------
 * Catalogue and drivers
 */

extern const struct ka_rule_def ka_rule_image_scan_attestation; /* rules_attest.c */

const struct ka_rule_def *const ka_rule_defs[] = {
    &rule_resources,     &rule_probes,        &rule_image_pinned,
    &rule_anti_affinity, &rule_grace,         &rule_secrets,
    &rule_hpa,           &rule_pdb,           &ka_rule_image_scan_attestation,
    &rule_sidecar,       &rule_inject_probes, NULL,
};

const struct ka_rule_def *ka_rule_def_find(const char *id)
{
    for (size_t i = 0; ka_rule_defs[i] != NULL; i++) {
        if (strcmp(ka_rule_defs[i]->id, id) == 0) {
            return ka_rule_defs[i];
        }
    }
    return NULL;
}

static int run_rules(struct ka_eval *ev, int mutating)
{
    struct ka_object *obj = ev->obj;
    if (obj->mirror_pod || ka_rules_namespace_excluded(ev, obj->namespace_)) {
        return 0;
    }
    for (size_t i = 0; i < ev->n_rules; i++) {
        const struct ka_rule *rule = &ev->rules[i];
        if (rule->def->mutating != mutating || !rule_applies(rule, ev)) {
            continue;
        }
        if (mutating && obj->kind != KA_KIND_POD && !rule->target_templates &&
            !ev->templates_as_pods) {
            continue;
        }
        if (rule->def->kinds & KA_KINDS_WORKLOAD && obj->pod_spec == NULL) {
            continue;
        }
        struct ka_rule_run run = {.rule = rule, .ev = ev, .obj = obj};
        int ret = rule->def->run(&run);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

int ka_rules_mutate(struct ka_eval *ev)
{
    return run_rules(ev, 1);
}

int ka_rules_validate(struct ka_eval *ev)
{
    return run_rules(ev, 0);
}
