/* Relations: the index (what is kept, its limits) and the relation rules over it. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ka_test.h"
#include "kadmit/error.h"
#include "kadmit/relations.h"

#define AGENT                                                                                      \
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"agent\","       \
    "\"namespace\":\"ai\"},\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"app\":\"agent\"}}}" \
    "}}"
#define SPINE                                                                                      \
    "{\"apiVersion\":\"apps/"                                                                      \
    "v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"memory-spine\","                       \
    "\"namespace\":\"ai\"},\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"app\":\"memory-"    \
    "spine\"}}},\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"d\"},\"spec\":{"               \
    "\"storageClassName\":\"fast-ssd\"}}]}}"
#define OTHER                                                                                      \
    "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\",\"namespace\":\"ai\"},\"spec\":{"     \
    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}}}}}"
#define PDB(name, app)                                                                             \
    "{\"kind\":\"PodDisruptionBudget\",\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ai\"}," \
    "\"spec\":{\"minAvailable\":2,\"selector\":{\"matchLabels\":{\"app\":\"" app "\"}}}}"
/* What only PDB(name, ...) contains: to leave it out of the complete namespace. */
#define PDB_OF(name) "\"name\":\"" name "\",\"namespace\":\"ai\"},\"spec\":{\"minAvailable\""
#define HPA(target)                                                                                \
    "{\"kind\":\"HorizontalPodAutoscaler\",\"metadata\":{\"name\":\"h\",\"namespace\":\"ai\"},"    \
    "\"spec\":{\"scaleTargetRef\":{\"kind\":\"StatefulSet\",\"name\":\"" target "\"}}}"
#define NETPOL(name, app, ingress, egress)                                                         \
    "{\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ai\"},"       \
    "\"spec\":{\"podSelector\":{\"matchLabels\":{\"app\":\"" app "\"}},\"policyTypes\":["          \
    "\"Ingress\",\"Egress\"],\"ingress\":" ingress ",\"egress\":" egress "}}"
#define FROM_AGENTS "[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"app\":\"agent\"}}}]}]"
#define TO_SPINE "[{\"to\":[{\"podSelector\":{\"matchLabels\":{\"app\":\"memory-spine\"}}}]}]"
#define QUOTA "{\"kind\":\"ResourceQuota\",\"metadata\":{\"name\":\"q\",\"namespace\":\"ai\"}}"
#define LIMITS "{\"kind\":\"LimitRange\",\"metadata\":{\"name\":\"l\",\"namespace\":\"ai\"}}"
#define CLASS(name) "{\"kind\":\"StorageClass\",\"metadata\":{\"name\":\"" name "\"}}"

/* What the callback saw. */
struct seen {
    size_t n;
    struct ka_relation_result r[32];
};

/* pdb-coverage results: how many fail for want of a PDB, how many pass. */
struct tally {
    size_t failing, passing;
};

static int count_pdb(void *ctx, const struct ka_relation_result *r)
{
    struct tally *t = ctx;
    t->failing += r->n_findings > 0 && strstr(r->findings[0].message, "no PodDisruptionBudget");
    t->passing += r->n_findings == 0 && !r->not_evaluated;
    return 0;
}

static int collect(void *ctx, const struct ka_relation_result *r)
{
    struct seen *s = ctx;
    if (s->n < 32) {
        s->r[s->n++] = *r;
    }
    return 0;
}

/* The result of `rule` for subject `name`, or NULL. */
static const struct ka_relation_result *find(const struct seen *s, const char *rule,
                                             const char *name)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->r[i].rule, rule) == 0 && strcmp(s->r[i].name, name) == 0) {
            return &s->r[i];
        }
    }
    return NULL;
}

static int mentions(const struct ka_relation_result *r, const char *text)
{
    for (size_t f = 0; r != NULL && f < r->n_findings; f++) {
        if (strstr(r->findings[f].message, text) != NULL) {
            return 1;
        }
    }
    return 0;
}

static struct ka_policy *policy;
static const struct ka_rule *rules;
static size_t n_rules;

static void add(struct ka_relation_index *idx, const char *json, enum ka_relation_verdict v)
{
    cJSON *o = cJSON_Parse(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    const char *ns =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "namespace"));
    char err[256] = "";
    CU_ASSERT_EQUAL(
        ka_relation_index_add(idx, rules, n_rules, o, ns ? ns : "", v, err, sizeof(err)), 0);
    cJSON_Delete(o);
}

/* Does the object contain one of `skip` (NULL-terminated; NULL: none)? */
static int skipped(const char *obj, const char *const *skip)
{
    for (; skip != NULL && *skip != NULL; skip++) {
        if (strstr(obj, *skip) != NULL) {
            return 1;
        }
    }
    return 0;
}

/* A new index of the objects, but those containing one of `skip`, all passing their own
 * rules. */
static void add_all(struct ka_relation_index *idx, const char *const *objs, size_t n,
                    const char *const *skip)
{
    ka_relation_index_init(idx);
    for (size_t i = 0; i < n; i++) {
        if (!skipped(objs[i], skip)) {
            add(idx, objs[i], KA_REL_PASSES);
        }
    }
}

/* The complete namespace: agent, Memory Spine, their PDBs, the HPA, NetworkPolicies, quota,
 * limit range, storage class. The objects containing one of `skip` (substrings of the JSON,
 * NULL-terminated; NULL: none) are left out. */
static void complete(struct ka_relation_index *idx, const char *const *skip)
{
    const char *all[] = {AGENT,
                         SPINE,
                         OTHER,
                         PDB("agent", "agent"),
                         PDB("spine", "memory-spine"),
                         HPA("agent"),
                         NETPOL("agent", "agent", FROM_AGENTS, TO_SPINE),
                         NETPOL("spine", "memory-spine", FROM_AGENTS, "[]"),
                         QUOTA,
                         LIMITS,
                         CLASS("fast-ssd")};
    add_all(idx, all, sizeof(all) / sizeof(all[0]), skip);
}

static void run(const struct ka_relation_index *idx, struct seen *s)
{
    memset(s, 0, sizeof(*s));
    CU_ASSERT_EQUAL(ka_relations_evaluate(idx, rules, n_rules, collect, s), 0);
}

/* The complete namespace without the objects containing `skip`, judged: the result of `rule` for
 * `subject`, which must be there. */
static const struct ka_relation_result *judge_without(struct ka_relation_index *idx, struct seen *s,
                                                      const char *skip, const char *rule,
                                                      const char *subject)
{
    const char *const skips[] = {skip, NULL};
    complete(idx, skips);
    run(idx, s);
    const struct ka_relation_result *r = find(s, rule, subject);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    return r;
}

static void test_complete_passes(void)
{
    struct ka_relation_index idx;
    struct seen s;
    complete(&idx, NULL);
    run(&idx, &s);
    /* pdb 2, hpa 1, network policies 2, guardrails 1 (the namespace), storage 1 */
    CU_ASSERT_EQUAL(s.n, 7);
    for (size_t i = 0; i < s.n; i++) {
        CU_ASSERT_EQUAL(s.r[i].n_findings, 0);
        CU_ASSERT(!s.r[i].not_evaluated);
        CU_ASSERT(strcmp(s.r[i].name, "web") != 0); /* neither agent nor Memory Spine */
    }
    const struct ka_relation_result *g = find(&s, "namespace-guardrails", "ai");
    CU_ASSERT_PTR_NOT_NULL(g);
    CU_ASSERT_STRING_EQUAL(g ? g->kind : "", "Namespace");
    CU_ASSERT_STRING_EQUAL(g ? g->namespace_ : "", "ai");
    /* the unrelated Deployment is not even indexed: 10 entries of 11 objects */
    CU_ASSERT_EQUAL(idx.n_entries, 10);
    ka_relation_index_free(&idx);
}

static void test_one_missing(void)
{
    static const struct {
        const char *skip, *rule, *subject, *says;
    } cases[] = {
        {PDB_OF("agent"), "pdb-coverage", "agent",
         "no PodDisruptionBudget in ai selects its pods (app=agent)"},
        {PDB_OF("spine"), "pdb-coverage", "memory-spine",
         "kubectl create poddisruptionbudget memory-spine -n ai "
         "--selector=app=memory-spine --min-available=2"},
        {"\"name\":\"agent\",\"namespace\":\"ai\"},\"spec\":{\"podSelector\"",
         "network-policy-coverage", "agent", "selects its pods (app=agent) for Ingress and Egress"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ka_relation_index idx;
        struct seen s;
        const struct ka_relation_result *r =
            judge_without(&idx, &s, cases[i].skip, cases[i].rule, cases[i].subject);
        CU_ASSERT(mentions(r, cases[i].says));
        size_t failing = 0;
        for (size_t k = 0; k < s.n; k++) {
            failing += s.r[k].n_findings > 0;
        }
        CU_ASSERT_EQUAL(failing, 1);
        ka_relation_index_free(&idx);
    }
}

/* The last object of a kind gone: "not evaluated", unless the input lists the kind. */
static void test_not_evaluated(void)
{
    static const struct {
        const char *skip, *rule, *subject;
        unsigned bit;
        const char *reason;
    } cases[] = {
        {"HorizontalPodAutoscaler", "hpa-coverage", "agent", KA_REL_HPA,
         "not evaluated: the input has no HorizontalPodAutoscaler objects"},
        {"NetworkPolicy", "network-policy-coverage", "memory-spine", KA_REL_NETWORKPOLICY,
         "not evaluated: the input has no NetworkPolicy objects"},
        {"ResourceQuota", "namespace-guardrails", "ai", KA_REL_RESOURCEQUOTA,
         "not evaluated: the input has no ResourceQuota objects"},
        {"LimitRange", "namespace-guardrails", "ai", KA_REL_LIMITRANGE,
         "not evaluated: the input has no LimitRange objects"},
        {"StorageClass", "storage-class-exists", "memory-spine", KA_REL_STORAGECLASS,
         "not evaluated: the input has no StorageClass objects"},
        {"PodDisruptionBudget", "pdb-coverage", "agent", KA_REL_PDB,
         "not evaluated: the input has no PodDisruptionBudget objects"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ka_relation_index idx;
        struct seen s;
        const struct ka_relation_result *r =
            judge_without(&idx, &s, cases[i].skip, cases[i].rule, cases[i].subject);
        CU_ASSERT(r->not_evaluated);
        CU_ASSERT_EQUAL(r->n_findings, 0);
        CU_ASSERT_STRING_EQUAL(r->reason, cases[i].reason);
        /* listed (kadmit audit --cluster): none of them is a finding */
        idx.listed = cases[i].bit;
        run(&idx, &s);
        r = find(&s, cases[i].rule, cases[i].subject);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        CU_ASSERT(!r->not_evaluated);
        CU_ASSERT(r->n_findings > 0);
        CU_ASSERT(mentions(r, "kubectl"));
        ka_relation_index_free(&idx);
    }
}

static void test_failing_partner(void)
{
    struct ka_relation_index idx;
    struct seen s;
    /* the complete namespace, but the agent's PDB fails pdb-availability, the HPA is another
     * workload's and the only storage class is slow-hdd */
    const char *const skip[] = {PDB_OF("agent"), "HorizontalPodAutoscaler", "StorageClass", NULL};
    complete(&idx, skip);
    add(&idx, PDB("weak", "agent"), KA_REL_FAILS);
    add(&idx, HPA("other"), KA_REL_PASSES);
    add(&idx, CLASS("slow-hdd"), KA_REL_PASSES);
    run(&idx, &s);
    CU_ASSERT(mentions(find(&s, "pdb-coverage", "agent"),
                       "PodDisruptionBudget weak selects its pods but fails pdb-availability"));
    CU_ASSERT(mentions(find(&s, "hpa-coverage", "agent"),
                       "no HorizontalPodAutoscaler in ai has it as scaleTargetRef"));
    CU_ASSERT(mentions(find(&s, "storage-class-exists", "memory-spine"),
                       "storageClassName fast-ssd, which is not a StorageClass"));
    ka_relation_index_free(&idx);
}

static void test_network_policy_details(void)
{
    struct ka_relation_index idx;
    struct seen s;
    /* the spine admits another namespace and a rule without `from`; the agent's egress is open */
    const char *objs[] = {
        AGENT, SPINE,
        NETPOL("agent", "agent", "[]",
               "[{\"to\":[{\"ipBlock\":{\"cidr\":\"0.0.0.0/0\"}}]},{\"ports\":[{\"port\":443}]}]"),
        NETPOL("spine", "memory-spine",
               "[{\"from\":[{\"namespaceSelector\":{}}]},{\"ports\":[{\"port\":8788}]},"
               "{\"from\":[{\"podSelector\":{\"matchLabels\":{\"app\":\"memory-spine\"}}}]}]",
               "[]")};
    add_all(&idx, objs, sizeof(objs) / sizeof(objs[0]), NULL);
    run(&idx, &s);
    const struct ka_relation_result *spine = find(&s, "network-policy-coverage", "memory-spine");
    const struct ka_relation_result *agent = find(&s, "network-policy-coverage", "agent");
    CU_ASSERT_EQUAL(spine ? spine->n_findings : 0, 2);
    CU_ASSERT(mentions(spine, "NetworkPolicy spine ingress rule 0 admits pods other than agents"));
    CU_ASSERT(mentions(spine, "NetworkPolicy spine ingress rule 1 admits every source"));
    CU_ASSERT_EQUAL(agent ? agent->n_findings : 0, 1);
    CU_ASSERT(mentions(agent, "NetworkPolicy agent egress rule 0 allows every destination on "
                              "every port"));
    ka_relation_index_free(&idx);

    /* policyTypes absent: Ingress only (no egress rules), so Egress is missing */
    ka_relation_index_init(&idx);
    add(&idx, AGENT, KA_REL_PASSES);
    add(&idx,
        "{\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"i\",\"namespace\":\"ai\"},"
        "\"spec\":{\"podSelector\":{}}}",
        KA_REL_PASSES);
    run(&idx, &s);
    CU_ASSERT(mentions(find(&s, "network-policy-coverage", "agent"), "for Egress"));
    ka_relation_index_free(&idx);
}

static void test_index_limits(void)
{
    struct ka_relation_index idx;
    ka_relation_index_init(&idx);
    /* quotas and limit ranges: presence per namespace, kept once */
    add(&idx, QUOTA, KA_REL_PASSES);
    add(&idx, QUOTA, KA_REL_PASSES);
    CU_ASSERT_EQUAL(idx.n_entries, 1);
    CU_ASSERT_EQUAL(idx.seen, KA_REL_RESOURCEQUOTA);
    /* an entry past KA_RELATION_MAX_ENTRY_NODES is refused with a message naming the limit */
    cJSON *big = cJSON_Parse(AGENT);
    cJSON *labels = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(big, "spec"), "template"),
                            "metadata"),
        "labels");
    for (int i = 0; i < KA_RELATION_MAX_ENTRY_NODES; i++) {
        char k[32];
        snprintf(k, sizeof(k), "l%d", i);
        cJSON_AddStringToObject(labels, k, "v");
    }
    char err[256] = "";
    CU_ASSERT_EQUAL(
        ka_relation_index_add(&idx, rules, n_rules, big, "ai", KA_REL_PASSES, err, sizeof(err)),
        KA_ELIMIT);
    KA_ASSERT_HAS(err, "KA_RELATION_MAX_ENTRY_NODES");
    CU_ASSERT_EQUAL(idx.n_entries, 1);
    cJSON_Delete(big);
    /* a relation rule turned off indexes nothing for it and reports nothing */
    ka_relation_index_free(&idx);
}

/* Many namespaces: each result compares only its namespace's objects (and the hash grows). */
static void test_many_namespaces(void)
{
    struct ka_relation_index idx;
    ka_relation_index_init(&idx);
    cJSON *agent = cJSON_Parse(AGENT);
    cJSON *pdb = cJSON_Parse(PDB("agent", "agent"));
    char err[256];
    for (int i = 0; i < 3000; i++) {
        char ns[32];
        snprintf(ns, sizeof(ns), "ns-%d", i);
        CU_ASSERT_EQUAL(
            ka_relation_index_add(&idx, rules, n_rules, agent, ns, KA_REL_PASSES, err, sizeof(err)),
            0);
        if (i % 2 == 0) { /* every other namespace has its PDB */
            CU_ASSERT_EQUAL(ka_relation_index_add(&idx, rules, n_rules, pdb, ns, KA_REL_PASSES, err,
                                                  sizeof(err)),
                            0);
        }
    }
    CU_ASSERT_EQUAL(idx.n_namespaces, 3000);
    CU_ASSERT_EQUAL(idx.n_entries, 4500);
    CU_ASSERT_PTR_NOT_NULL(ka_relation_entries(&idx, "ns-2999"));
    CU_ASSERT_PTR_NULL(ka_relation_entries(&idx, "ns-3000"));
    struct tally t = {0, 0};
    for (size_t i = 0; i < n_rules; i++) {
        if (strcmp(rules[i].def->id, "pdb-coverage") == 0) {
            CU_ASSERT_EQUAL(ka_relations_evaluate(&idx, &rules[i], 1, count_pdb, &t), 0);
        }
    }
    CU_ASSERT_EQUAL(t.failing, 1500);
    CU_ASSERT_EQUAL(t.passing, 1500);
    cJSON_Delete(agent);
    cJSON_Delete(pdb);
    ka_relation_index_free(&idx);
}

static void test_kinds(void)
{
    CU_ASSERT_EQUAL(ka_relation_kind_bit("NetworkPolicy"), KA_REL_NETWORKPOLICY);
    CU_ASSERT_EQUAL(ka_relation_kind_bit("Service"), 0);
    CU_ASSERT(ka_relation_reads("Deployment"));
    CU_ASSERT(!ka_relation_reads("DaemonSet"));
    CU_ASSERT_STRING_EQUAL(ka_relation_kind_name(KA_REL_STORAGECLASS), "StorageClass");
    const char *kinds = ka_relations_cluster_kinds();
    KA_ASSERT_HAS(kinds, "networkpolicies", "storageclasses");
    /* every built-in kind the rules check is listed, as kubectl names it (ReplicationControllers
     * were missing); Rollouts are a custom resource, added only where served */
    for (unsigned bit = 1; bit <= KA_KIND_LAST; bit <<= 1) {
        const char *name = ka_kind_name((enum ka_kind)bit);
        if (bit == KA_KIND_ROLLOUT || name[0] == '\0') {
            continue;
        }
        char plural[64] = ","; /* ",roles," is not found in ",clusterroles," */
        size_t n = 1;
        for (; name[n - 1] != '\0' && n < sizeof(plural) - 4; n++) {
            char c = name[n - 1];
            plural[n] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        snprintf(plural + n, sizeof(plural) - n, "%s,", plural[n - 1] == 's' ? "es" : "s");
        char listed[1024];
        snprintf(listed, sizeof(listed), ",%s,", kinds);
        KA_ASSERT_HAS(listed, plural);
    }
}

int main(int argc, char **argv)
{
    struct ka_buf diag;
    ka_buf_init(&diag, 1u << 20);
    if (ka_test_load_checklist_without_attestations(&policy, &diag) != 0) {
        fprintf(stderr, "cannot load the checklist: %.*s\n", (int)diag.len, diag.data);
        return 2;
    }
    ka_buf_free(&diag);
    rules = ka_policy_rules(policy, &n_rules);
    static const struct ka_test tests[] = {
        {"complete_passes", test_complete_passes},
        {"one_missing", test_one_missing},
        {"not_evaluated", test_not_evaluated},
        {"failing_partner", test_failing_partner},
        {"network_policy_details", test_network_policy_details},
        {"index_limits", test_index_limits},
        {"many_namespaces", test_many_namespaces},
        {"kinds", test_kinds},
        {NULL, NULL},
    };
    int rc = ka_test_run("relations", tests, argc, argv);
    ka_policy_unref(policy);
    return rc;
}
