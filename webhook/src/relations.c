/*
 * Relations: the compact index the audit builds while it streams, and the engine that runs the
 * relation rules (webhook/src/rules/<rule-id>.c with a `relation` loop) over it once the input
 * is drained. See kadmit/relations.h.
 */
#include "kadmit/relations.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/error.h"
#include "kadmit/json.h"
#include "kadmit/select.h"

/* ------------------------------------------------------------------------------------------
 * Kinds
 */

static const struct {
    unsigned bit;
    const char *kind;
} relation_kinds[] = {
    {KA_REL_PDB, "PodDisruptionBudget"},     {KA_REL_HPA, "HorizontalPodAutoscaler"},
    {KA_REL_NETWORKPOLICY, "NetworkPolicy"}, {KA_REL_RESOURCEQUOTA, "ResourceQuota"},
    {KA_REL_LIMITRANGE, "LimitRange"},       {KA_REL_STORAGECLASS, "StorageClass"},
};
#define N_RELATION_KINDS (sizeof(relation_kinds) / sizeof(relation_kinds[0]))

unsigned ka_relation_kind_bit(const char *kind)
{
    for (size_t i = 0; kind != NULL && i < N_RELATION_KINDS; i++) {
        if (strcmp(kind, relation_kinds[i].kind) == 0) {
            return relation_kinds[i].bit;
        }
    }
    return 0;
}

const char *ka_relation_kind_name(unsigned bit)
{
    for (size_t i = 0; i < N_RELATION_KINDS; i++) {
        if (relation_kinds[i].bit == bit) {
            return relation_kinds[i].kind;
        }
    }
    return "";
}

static int is_workload(const char *kind)
{
    return kind != NULL && (strcmp(kind, "StatefulSet") == 0 || strcmp(kind, "Deployment") == 0 ||
                            strcmp(kind, "Rollout") == 0); /* Argo Rollouts: a Deployment's role */
}

int ka_relation_reads(const char *kind)
{
    return is_workload(kind) || ka_relation_kind_bit(kind) != 0;
}

const char *ka_relations_cluster_kinds(void)
{
    /* the object rules' kinds and the relations' */
    return "pods,deployments,statefulsets,daemonsets,replicasets,replicationcontrollers,jobs,"
           "cronjobs,"
           "horizontalpodautoscalers,poddisruptionbudgets,ingresses,roles,rolebindings,"
           "clusterroles,clusterrolebindings,networkpolicies,resourcequotas,limitranges,"
           "storageclasses";
}

/* ------------------------------------------------------------------------------------------
 * The index
 */

void ka_relation_index_init(struct ka_relation_index *idx)
{
    memset(idx, 0, sizeof(*idx));
}

void ka_relation_index_free(struct ka_relation_index *idx)
{
    for (size_t i = 0; i < idx->n_namespaces; i++) {
        free(idx->namespaces[i].name);
        cJSON_Delete(idx->namespaces[i].entries);
    }
    free(idx->namespaces);
    free(idx->slots);
    memset(idx, 0, sizeof(*idx));
}

static size_t hash_name(const char *s)
{
    size_t h = 5381;
    while (*s != '\0') {
        h = h * 33 + (unsigned char)*s++;
    }
    return h;
}

/* The slot of `ns`: where it is, or the empty slot where it would go. */
static size_t *ns_slot(const struct ka_relation_index *idx, const char *ns)
{
    size_t mask = idx->cap_slots - 1;
    for (size_t i = hash_name(ns) & mask;; i = (i + 1) & mask) {
        size_t *slot = &idx->slots[i];
        if (*slot == 0 || strcmp(idx->namespaces[*slot - 1].name, ns) == 0) {
            return slot;
        }
    }
}

const cJSON *ka_relation_entries(const struct ka_relation_index *idx, const char *ns)
{
    if (idx->cap_slots == 0) {
        return NULL;
    }
    size_t *slot = ns_slot(idx, ns);
    return *slot != 0 ? idx->namespaces[*slot - 1].entries : NULL;
}

/* The namespace's entries, created on first use. */
static cJSON *ns_entries(struct ka_relation_index *idx, const char *ns)
{
    if (idx->n_namespaces * 2 >= idx->cap_slots) { /* grow: at most half full */
        size_t cap = idx->cap_slots ? idx->cap_slots * 2 : 64;
        size_t *slots = calloc(cap, sizeof(*slots));
        if (slots == NULL) {
            return NULL;
        }
        free(idx->slots);
        idx->slots = slots;
        idx->cap_slots = cap;
        for (size_t i = 0; i < idx->n_namespaces; i++) {
            *ns_slot(idx, idx->namespaces[i].name) = i + 1;
        }
    }
    size_t *slot = ns_slot(idx, ns);
    if (*slot != 0) {
        return idx->namespaces[*slot - 1].entries;
    }
    if (ka_array_grow(&idx->namespaces, &idx->cap_namespaces, idx->n_namespaces + 1,
                      sizeof(*idx->namespaces)) != 0) {
        return NULL;
    }
    struct ka_relation_namespace *n = &idx->namespaces[idx->n_namespaces];
    n->name = strdup(ns);
    n->entries = cJSON_CreateArray();
    if (n->name == NULL || n->entries == NULL) {
        free(n->name);
        cJSON_Delete(n->entries);
        return NULL;
    }
    *slot = ++idx->n_namespaces;
    return n->entries;
}

static cJSON *item(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

const char *ka_relation_str(const cJSON *entry, const char *key)
{
    const char *s = cJSON_GetStringValue(item(entry, key));
    return s != NULL ? s : "";
}

const cJSON *ka_relation_labels(const cJSON *entry)
{
    return item(item(entry, "meta"), "labels");
}

static size_t count_nodes(const cJSON *v)
{
    size_t n = 1;
    for (const cJSON *c = v != NULL ? v->child : NULL; c != NULL; c = c->next) {
        n += count_nodes(c);
    }
    return n;
}

/* Add `item` under a string-literal key, which is not copied (the index holds thousands of
 * entries: every allocation counts). NULL when `item` is NULL or cannot be added. */
static cJSON *put(cJSON *obj, const char *literal_key, cJSON *item)
{
    if (item != NULL && !cJSON_AddItemToObjectCS(obj, literal_key, item)) {
        cJSON_Delete(item);
        return NULL;
    }
    return item;
}

/* A copy of `v` (NULL stays NULL), added under `key`. */
static int add_copy(cJSON *entry, const char *key, const cJSON *v)
{
    if (v == NULL) {
        return 0;
    }
    cJSON *copy = cJSON_Duplicate(v, 1);
    return put(entry, key, copy) == NULL ? KA_ENOMEM : 0;
}

/* Does an enabled relation rule look at this workload? */
static int workload_wanted(const struct ka_rule *rules, size_t n_rules, const char *kind,
                           const char *ns, const char *name, const cJSON *pod_meta)
{
    struct ka_object obj;
    memset(&obj, 0, sizeof(obj));
    obj.kind = ka_kind_from_name(kind);
    obj.kind_name = kind;
    obj.api_version = "";
    obj.namespace_ = ns;
    snprintf(obj.name, sizeof(obj.name), "%s", name);
    obj.pod_meta = (cJSON *)pod_meta;
    static const char *const selectors[] = {"agents", "memorySpine"};
    for (size_t i = 0; i < n_rules; i++) {
        const struct ka_rule *r = &rules[i];
        if (r->def->relation == NULL || r->action == KA_ACTION_OFF || !ka_rule_selects(r, &obj)) {
            continue;
        }
        for (size_t s = 0; s < 2; s++) {
            const cJSON *sel = item(r->params, selectors[s]);
            if (sel != NULL && ka_selector_matches(sel, item(pod_meta, "labels"))) {
                return 1;
            }
        }
    }
    return 0;
}

/* An egress rule open to every destination on every port: no `to` (or 0.0.0.0/0, ::/0) and no
 * `ports`. */
static int egress_open(const cJSON *rule)
{
    const cJSON *to = item(rule, "to");
    const cJSON *ports = item(rule, "ports");
    int any_dest = cJSON_GetArraySize(to) == 0;
    const cJSON *peer;
    cJSON_ArrayForEach(peer, to)
    {
        const char *cidr = cJSON_GetStringValue(item(item(peer, "ipBlock"), "cidr"));
        any_dest |= cidr != NULL && (strcmp(cidr, "0.0.0.0/0") == 0 || strcmp(cidr, "::/0") == 0);
    }
    return any_dest && cJSON_GetArraySize(ports) == 0;
}

static int fill_network_policy(cJSON *e, const cJSON *spec)
{
    const cJSON *pod_sel = item(spec, "podSelector");
    const cJSON *types = item(spec, "policyTypes");
    const cJSON *egress = item(spec, "egress");
    /* Kubernetes' defaults: Ingress always, Egress when there are egress rules */
    int ingress_type = types != NULL ? ka_list_has(types, "Ingress") : 1;
    int egress_type = types != NULL ? ka_list_has(types, "Egress") : cJSON_GetArraySize(egress) > 0;
    cJSON *from = put(e, "from", cJSON_CreateArray());
    if (put(e, "ingress", cJSON_CreateBool(ingress_type)) == NULL ||
        put(e, "egress", cJSON_CreateBool(egress_type)) == NULL || from == NULL) {
        return KA_ENOMEM;
    }
    int ret = pod_sel != NULL ? add_copy(e, "podSelector", pod_sel)
                              : (put(e, "podSelector", cJSON_CreateObject()) ? 0 : KA_ENOMEM);
    const cJSON *rule;
    cJSON_ArrayForEach(rule, item(spec, "ingress"))
    {
        const cJSON *peers = item(rule, "from");
        cJSON *copy =
            cJSON_GetArraySize(peers) > 0 ? cJSON_Duplicate(peers, 1) : cJSON_CreateNull();
        if (ret != 0 || copy == NULL || !cJSON_AddItemToArray(from, copy)) {
            cJSON_Delete(copy);
            return ret ? ret : KA_ENOMEM;
        }
    }
    int i = 0;
    cJSON_ArrayForEach(rule, egress)
    {
        if (egress_open(rule)) {
            return put(e, "openEgress", cJSON_CreateNumber(i)) ? ret : KA_ENOMEM;
        }
        i++;
    }
    return ret;
}

int ka_relation_index_add(struct ka_relation_index *idx, const struct ka_rule *rules,
                          size_t n_rules, const cJSON *obj, const char *ns,
                          enum ka_relation_verdict verdict, char *err, size_t err_len)
{
    const char *kind = cJSON_GetStringValue(item(obj, "kind"));
    const cJSON *meta = item(obj, "metadata");
    const cJSON *spec = item(obj, "spec");
    const char *name = cJSON_GetStringValue(item(meta, "name"));
    unsigned bit = ka_relation_kind_bit(kind);
    if (kind == NULL || (!is_workload(kind) && bit == 0)) {
        return 0;
    }
    name = name != NULL ? name : "(unnamed)";
    ns = ns != NULL ? ns : "";
    idx->seen |= bit;
    const cJSON *pod_meta = item(item(spec, "template"), "metadata");
    if (is_workload(kind) && !workload_wanted(rules, n_rules, kind, ns, name, pod_meta)) {
        return 0;
    }
    if ((bit & (KA_REL_RESOURCEQUOTA | KA_REL_LIMITRANGE)) &&
        ka_relation_has_kind(ka_relation_entries(idx, ns), kind)) {
        return 0;
    }
    if (idx->n_entries >= KA_AUDIT_MAX_RELATION_OBJECTS) {
        snprintf(err, err_len,
                 "not part of the relations: more objects than KA_AUDIT_MAX_RELATION_OBJECTS "
                 "(%d) for pdb-coverage, network-policy-coverage...; audit the cluster in parts "
                 "(by namespace)",
                 KA_AUDIT_MAX_RELATION_OBJECTS);
        return KA_ELIMIT;
    }
    cJSON *entries = ns_entries(idx, ns);
    if (entries == NULL) {
        return KA_ENOMEM;
    }
    cJSON *e = cJSON_CreateObject();
    /* the kind as a static string: not copied */
    const char *static_kind = bit != 0                           ? ka_relation_kind_name(bit)
                              : strcmp(kind, "StatefulSet") == 0 ? "StatefulSet"
                              : strcmp(kind, "Rollout") == 0     ? "Rollout"
                                                                 : "Deployment";
    if (e == NULL || put(e, "kind", cJSON_CreateStringReference(static_kind)) == NULL ||
        put(e, "name", cJSON_CreateString(name)) == NULL) {
        cJSON_Delete(e);
        return KA_ENOMEM;
    }
    int ret = 0;
    if (is_workload(kind)) {
        const char *api = cJSON_GetStringValue(item(obj, "apiVersion"));
        /* each put() owns what it is given, so one failing leaks nothing */
        cJSON *av =
            put(e, "apiVersion",
                api == NULL || strcmp(api, "apps/v1") == 0 ? cJSON_CreateStringReference("apps/v1")
                                                           : cJSON_CreateString(api));
        cJSON *m = put(e, "meta", cJSON_CreateObject());
        cJSON *classes = put(e, "classes", cJSON_CreateArray());
        ret = av == NULL || m == NULL || classes == NULL
                  ? KA_ENOMEM
                  : add_copy(m, "labels", item(pod_meta, "labels"));
        const cJSON *claim;
        cJSON_ArrayForEach(claim, item(spec, "volumeClaimTemplates"))
        {
            const char *cls = cJSON_GetStringValue(item(item(claim, "spec"), "storageClassName"));
            if (ret == 0 && cls != NULL) {
                cJSON *s = cJSON_CreateString(cls);
                if (s == NULL || !cJSON_AddItemToArray(classes, s)) {
                    cJSON_Delete(s);
                    ret = KA_ENOMEM;
                }
            }
        }
    } else if (bit == KA_REL_PDB || bit == KA_REL_HPA) {
        const cJSON *target = item(spec, "scaleTargetRef");
        ret = put(e, "ok", cJSON_CreateBool(verdict == KA_REL_PASSES)) == NULL ? KA_ENOMEM : 0;
        if (ret == 0 && bit == KA_REL_PDB) {
            ret = add_copy(e, "selector", item(spec, "selector"));
        } else if (ret == 0) {
            cJSON *t = put(e, "target", cJSON_CreateObject());
            const char *tk = cJSON_GetStringValue(item(target, "kind"));
            const char *tn = cJSON_GetStringValue(item(target, "name"));
            ret = t == NULL || put(t, "kind", cJSON_CreateString(tk ? tk : "")) == NULL ||
                          put(t, "name", cJSON_CreateString(tn ? tn : "")) == NULL
                      ? KA_ENOMEM
                      : 0;
        }
    } else if (bit == KA_REL_NETWORKPOLICY) {
        ret = fill_network_policy(e, spec);
    }
    if (ret == 0 && count_nodes(e) > KA_RELATION_MAX_ENTRY_NODES) {
        snprintf(err, err_len,
                 "not part of the relations: its labels and selectors are larger than "
                 "KA_RELATION_MAX_ENTRY_NODES (%d JSON values)",
                 KA_RELATION_MAX_ENTRY_NODES);
        ret = KA_ELIMIT;
    }
    if (ret != 0 || !cJSON_AddItemToArray(entries, e)) {
        cJSON_Delete(e);
        return ret ? ret : KA_ENOMEM;
    }
    idx->n_entries++;
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * What relation rules build on
 */

/* The object view of a workload entry, for match, exclude and exceptions. */
static void entry_view(const cJSON *entry, const char *ns, struct ka_object *obj)
{
    const char *kind = ka_relation_str(entry, "kind");
    memset(obj, 0, sizeof(*obj));
    obj->kind = ka_kind_from_name(kind);
    obj->kind_name = kind;
    obj->api_version = ka_relation_str(entry, "apiVersion");
    obj->namespace_ = ns;
    snprintf(obj->name, sizeof(obj->name), "%s", ka_relation_str(entry, "name"));
    obj->pod_meta = item(entry, "meta");
}

int ka_relation_subject(const struct ka_relation_run *run, const cJSON *entry, const char *ns,
                        const char *selector_param)
{
    const cJSON *sel = item(run->rule->params, selector_param);
    if (!is_workload(ka_relation_str(entry, "kind")) || sel == NULL ||
        !ka_selector_matches(sel, ka_relation_labels(entry))) {
        return 0;
    }
    struct ka_object obj;
    entry_view(entry, ns, &obj);
    return ka_rule_selects(run->rule, &obj);
}

void ka_relation_labels_text(const struct ka_relation_run *run, const char *selector_param,
                             const cJSON *entry, int yaml, char *out, size_t len)
{
    const cJSON *labels = item(item(run->rule->params, selector_param), "matchLabels");
    if (cJSON_GetArraySize(labels) == 0) {
        labels = ka_relation_labels(entry);
    }
    size_t n = 0;
    out[0] = '\0';
    const cJSON *kv;
    cJSON_ArrayForEach(kv, labels)
    {
        if (cJSON_IsString(kv) && n < len) {
            n += (size_t)snprintf(out + n, len - n, "%s%s%s%s", n ? (yaml ? ", " : ",") : "",
                                  kv->string, yaml ? ": " : "=", kv->valuestring);
        }
    }
}

void ka_relation_result_start(const struct ka_relation_run *run, struct ka_relation_result *res,
                              const cJSON *subject, const char *ns)
{
    memset(res, 0, sizeof(*res));
    res->rule = run->rule->def->id;
    res->action = run->rule->action;
    res->kind = ka_relation_str(subject, "kind");
    res->namespace_ = ns;
    res->name = ka_relation_str(subject, "name");
    res->api_version = ka_relation_str(subject, "apiVersion");
    struct ka_object obj;
    entry_view(subject, ns, &obj);
    const cJSON *ex = ka_rule_exception_for(run->rule, &obj);
    if (ex != NULL) {
        const char *name = cJSON_GetStringValue(item(ex, "name"));
        const char *reason = cJSON_GetStringValue(item(ex, "reason"));
        snprintf(res->exception, sizeof(res->exception), "%s", name != NULL ? name : "");
        snprintf(res->exception_reason, sizeof(res->exception_reason), "%s",
                 reason != NULL ? reason : "");
    }
}

int ka_relation_needs(const struct ka_relation_run *run, struct ka_relation_result *res,
                      unsigned kind_bit)
{
    if (((run->idx->seen | run->idx->listed) & kind_bit) != 0) {
        return 0;
    }
    if (!res->not_evaluated) {
        res->not_evaluated = 1;
        snprintf(res->reason, sizeof(res->reason), "not evaluated: the input has no %s objects",
                 ka_relation_kind_name(kind_bit));
    } else {
        size_t n = strlen(res->reason);
        snprintf(res->reason + n, sizeof(res->reason) - n, " (nor %s objects)",
                 ka_relation_kind_name(kind_bit));
    }
    return 1;
}

struct ka_relation_finding *ka_relation_what(struct ka_relation_result *res, const char *fmt, ...)
{
    if (res->n_findings >= KA_RELATION_MAX_FINDINGS) {
        res->n_dropped++;
        return NULL;
    }
    struct ka_relation_finding *f = &res->findings[res->n_findings++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->what, sizeof(f->what), fmt, ap);
    va_end(ap);
    return f;
}

void ka_relation_fix(const struct ka_relation_result *res, struct ka_relation_finding *f,
                     const char *fmt, ...)
{
    if (f == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->fix, sizeof(f->fix), fmt, ap);
    va_end(ap);
    int has_ns = res->namespace_[0] != '\0';
    snprintf(f->message, sizeof(f->message), "%s: %s %s%s%s: %s (%s)", res->rule, res->kind,
             has_ns ? res->namespace_ : "", has_ns ? "/" : "", res->name, f->what, f->fix);
}

void ka_relation_report(struct ka_relation_result *res, const char *what, const char *fix)
{
    ka_relation_fix(res, ka_relation_what(res, "%s", what), "%s", fix);
}

int ka_relation_emit(const struct ka_relation_run *run, const struct ka_relation_result *res)
{
    if (res->exception[0] == '\0') {
        return run->fn(run->ctx, res);
    }
    /* exempted: its findings are not reported; a result without findings is not "exempted" */
    struct ka_relation_result *copy = malloc(sizeof(*copy));
    if (copy == NULL) {
        return KA_ENOMEM;
    }
    *copy = *res;
    if (copy->n_findings == 0 && copy->n_dropped == 0) {
        copy->exception[0] = '\0';
    }
    copy->n_findings = copy->n_dropped = 0;
    int ret = run->fn(run->ctx, copy);
    free(copy);
    return ret;
}

int ka_relation_has_kind(const cJSON *entries, const char *kind)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, entries)
    {
        if (strcmp(ka_relation_str(e, "kind"), kind) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The first of `roles` (NULL-terminated) that makes the entry a subject of the rule, or NULL. */
static const char *subject_role(const struct ka_relation_run *run, const cJSON *entry,
                                const char *ns, const char *const *roles)
{
    for (; *roles != NULL; roles++) {
        if (ka_relation_subject(run, entry, ns, *roles)) {
            return *roles;
        }
    }
    return NULL;
}

/* Start, judge and emit the result of one subject. */
static int judge_one(const struct ka_relation_run *run, const struct ka_relation_loop *loop,
                     const struct ka_relation_workload *subject)
{
    struct ka_relation_result res;
    ka_relation_result_start(run, &res, subject->entry, subject->ns);
    if (loop->per_namespace) {
        res.api_version = "v1";
        res.kind = "Namespace";
        res.name = subject->ns;
    }
    for (unsigned bit = 1; bit <= KA_REL_ALL; bit <<= 1) {
        if ((loop->needs & bit) != 0) {
            (void)ka_relation_needs(run, &res, bit);
        }
    }
    if (!res.not_evaluated) {
        loop->judge(run, subject, &res);
    }
    return ka_relation_emit(run, &res);
}

/* Run one relation rule: for each subject, in namespace then input order, start a result, mark
 * it not evaluated when the input lacks a kind of `loop->needs`, else let `loop->judge` add
 * findings, and emit it. */
static int judge_each(const struct ka_relation_run *run, const struct ka_relation_loop *loop)
{
    for (size_t n = 0; n < run->idx->n_namespaces; n++) {
        struct ka_relation_workload subject = {.ns = run->idx->namespaces[n].name,
                                               .entries = run->idx->namespaces[n].entries};
        const cJSON *w;
        cJSON_ArrayForEach(w, subject.entries)
        {
            subject.role = subject_role(run, w, subject.ns, loop->roles);
            if (subject.role == NULL) {
                continue;
            }
            subject.entry = w;
            int ret = judge_one(run, loop, &subject);
            if (ret != 0) {
                return ret;
            }
            if (loop->per_namespace) {
                break; /* the namespace is judged once */
            }
        }
    }
    return 0;
}

const struct ka_rule *ka_relation_policy_rule(const struct ka_relation_run *run, const char *id)
{
    for (size_t i = 0; i < run->n_rules; i++) {
        if (strcmp(run->rules[i].def->id, id) == 0) {
            return &run->rules[i];
        }
    }
    return NULL;
}

int ka_relation_check_selectors(const cJSON *params, char *err, size_t err_len, const cJSON **where)
{
    static const char *const names[] = {"agents", "memorySpine"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *sel = item(params, names[i]);
        if (sel == NULL) {
            continue;
        }
        *where = sel;
        if (cJSON_GetArraySize(item(sel, "matchLabels")) == 0 &&
            cJSON_GetArraySize(item(sel, "matchExpressions")) == 0) {
            snprintf(err, err_len,
                     "%s must be a label selector that selects something "
                     "(matchLabels or matchExpressions)",
                     names[i]);
            return KA_EPOLICY;
        }
        int ret = ka_selector_validate(sel, err, err_len, where);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * The engine
 */

int ka_relations_evaluate(const struct ka_relation_index *idx, const struct ka_rule *rules,
                          size_t n_rules, ka_relation_fn fn, void *ctx)
{
    for (size_t i = 0; i < n_rules; i++) {
        const struct ka_rule *r = &rules[i];
        if (r->def->relation == NULL || r->action == KA_ACTION_OFF) {
            continue;
        }
        struct ka_relation_run run = {
            .idx = idx, .rule = r, .rules = rules, .n_rules = n_rules, .fn = fn, .ctx = ctx};
        int ret = judge_each(&run, r->def->relation);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}
