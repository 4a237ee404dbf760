/*
 * bench_core: the admission core on its own, no sockets.
 *
 *   bench_core [--root DIR] [--runs N] [--run-ms MS] [--policy FILE] [--json FILE]
 *   bench_core [--root DIR] --emit DIR
 *   bench_core [--root DIR] [--policy FILE] --count N [--case NAME] [--endpoint EP]
 *
 * Timing mode: for each AdmissionReview (a realistic 2-container agent Pod as the API server
 * sends it, the checklist's StatefulSets and HPA, a 1 MiB Pod) and each endpoint, runs
 * ka_admission_review() in N timed runs of about MS milliseconds of this thread's CPU time each
 * and reports the median, fastest and slowest run as nanoseconds per review, plus allocations per
 * review (counted by this binary's own malloc/calloc/realloc/free, which interpose on glibc's for
 * every library). Then the request-path JSON alternatives on the same bodies: cJSON_Parse +
 * cJSON_Delete on malloc, cJSON in the hot path's own per-thread arena (kadmit/json.h: begin,
 * parse, end), jsmn (JSMN_PARENT_LINKS + JSMN_STRICT) with its token array sized by a counting
 * first pass and, as a server would keep it, in a reused per-thread token array (one pass), and,
 * as a lower bound, cJSON in one preallocated bump arena reset per request
 * (cJSON_InitHooks).
 *
 * Count mode: runs exactly N reviews of one case (default pod-agent, validate) and no timing,
 * for instruction counts (`valgrind --tool=callgrind bench_core --count 1000`: every function's
 * inclusive instructions divided by N are its cost per review).
 *
 * Emit mode: writes every AdmissionReview used here and by tests/bench/run (the benchmark set
 * and the verdict-parity set) as compact JSON files DIR/<name>.json.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#define JSMN_STATIC
#define JSMN_PARENT_LINKS
#define JSMN_STRICT
#include <jsmn.h>

#include "kadmit/admission.h"
#include "kadmit/buf.h"
#include "kadmit/error.h"
#include "kadmit/json.h"
#include "kadmit/policy.h"
#include "kadmit/yaml.h"
#include "bench_flags.h"
#include "bench_time.h"

/* ------------------------------------------------------------------------------------------
 * Allocation counting: these definitions interpose on glibc's allocator for the whole process
 * (libcjson, libyaml and kadmit_core included). Single-threaded program.
 */
static unsigned long long n_allocs, n_alloc_bytes;

/* Sanitizer builds bring their own allocator: no counting there (counts print as 0). */
#if defined(__SANITIZE_ADDRESS__)
#define BENCH_COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define BENCH_COUNT_ALLOCS 0
#endif
#endif
#ifndef BENCH_COUNT_ALLOCS
#define BENCH_COUNT_ALLOCS 1
#endif

#if BENCH_COUNT_ALLOCS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

void *malloc(size_t n)
{
    n_allocs++;
    n_alloc_bytes += n;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    n_allocs++;
    n_alloc_bytes += n * m;
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    n_allocs++;
    n_alloc_bytes += n;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}
#endif

/* ------------------------------------------------------------------------------------------
 * Building the AdmissionReviews
 */

struct review_case {
    char name[64];
    char *body; /* compact JSON, owned */
    size_t len;
    int bench; /* part of the timed set (else parity only) */
};

#define MAX_CASES 64
static struct review_case cases[MAX_CASES];
static size_t n_cases;

static int add_case(const char *name, const cJSON *review, int bench)
{
    if (n_cases >= MAX_CASES) {
        return KA_ELIMIT;
    }
    char *text = cJSON_PrintUnformatted(review);
    if (text == NULL) {
        return KA_ENOMEM;
    }
    struct review_case *c = &cases[n_cases++];
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->body = text;
    c->len = strlen(text);
    c->bench = bench;
    return 0;
}

static cJSON *gvk(const char *group, const char *version, const char *kind_or_resource,
                  const char *field)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "group", group);
    cJSON_AddStringToObject(o, "version", version);
    cJSON_AddStringToObject(o, field, kind_or_resource);
    return o;
}

/* Wrap an object into an AdmissionReview v1 request as the API server sends it. */
static cJSON *wrap(const cJSON *object, const char *group, const char *version, const char *kind,
                   const char *resource, const char *op, const char *uid)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name"));
    const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "namespace"));
    cJSON *review = cJSON_CreateObject();
    cJSON_AddStringToObject(review, "apiVersion", "admission.k8s.io/v1");
    cJSON_AddStringToObject(review, "kind", "AdmissionReview");
    cJSON *req = cJSON_AddObjectToObject(review, "request");
    cJSON_AddStringToObject(req, "uid", uid);
    cJSON_AddItemToObject(req, "kind", gvk(group, version, kind, "kind"));
    cJSON_AddItemToObject(req, "resource", gvk(group, version, resource, "resource"));
    cJSON_AddItemToObject(req, "requestKind", gvk(group, version, kind, "kind"));
    cJSON_AddItemToObject(req, "requestResource", gvk(group, version, resource, "resource"));
    cJSON_AddStringToObject(req, "name", name ? name : "");
    cJSON_AddStringToObject(req, "namespace", ns ? ns : "default");
    cJSON_AddStringToObject(req, "operation", op);
    cJSON *user = cJSON_AddObjectToObject(req, "userInfo");
    cJSON_AddStringToObject(user, "username", "kubernetes-admin");
    cJSON *groups = cJSON_AddArrayToObject(user, "groups");
    cJSON_AddItemToArray(groups, cJSON_CreateString("system:masters"));
    cJSON_AddItemToArray(groups, cJSON_CreateString("system:authenticated"));
    cJSON_AddItemToObject(req, "object", cJSON_Duplicate(object, 1));
    cJSON_AddNullToObject(req, "oldObject");
    cJSON_AddFalseToObject(req, "dryRun");
    cJSON *opts = cJSON_AddObjectToObject(req, "options");
    cJSON_AddStringToObject(opts, "kind", "CreateOptions");
    cJSON_AddStringToObject(opts, "apiVersion", "meta.k8s.io/v1");
    return review;
}

static int read_whole(const char *path, struct ka_buf *b)
{
    ka_buf_init(b, 16u * 1024u * 1024u);
    int ret = ka_buf_read_file(b, path);
    if (ret != 0) {
        fprintf(stderr, "bench_core: %s: %s\n", path, ka_strerror(ret));
    }
    return ret;
}

/* First document of a YAML manifest. Caller deletes. */
static cJSON *load_yaml_doc(const char *path)
{
    struct ka_buf text, diag;
    struct ka_yaml_stream ys;
    cJSON *doc = NULL;
    ka_buf_init(&diag, 64 * 1024);
    ka_yaml_stream_init(&ys);
    if (read_whole(path, &text) != 0) {
        goto cleanup;
    }
    if (ka_yaml_parse(&ys, path, text.data, text.len, 64, &diag) != 0 || ys.n_docs == 0) {
        fprintf(stderr, "bench_core: %s", diag.data ? diag.data : "cannot parse YAML\n");
        goto cleanup;
    }
    doc = cJSON_Duplicate(ys.docs[0], 1);
cleanup:
    ka_yaml_stream_free(&ys);
    ka_buf_free(&text);
    ka_buf_free(&diag);
    return doc;
}

static cJSON *at(cJSON *node, const char *pointer_like)
{
    /* "a.b.0.c": object keys and array indexes */
    char part[128];
    const char *p = pointer_like;
    while (node != NULL && *p != '\0') {
        size_t n = strcspn(p, ".");
        snprintf(part, sizeof(part), "%.*s", (int)n, p);
        p += n + (p[n] == '.');
        if (cJSON_IsArray(node)) {
            node = cJSON_GetArrayItem(node, (int)strtol(part, NULL, 10));
        } else {
            node = cJSON_GetObjectItemCaseSensitive(node, part);
        }
    }
    return node;
}

static void set_string(cJSON *obj, const char *key, const char *value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    cJSON_AddStringToObject(obj, key, value);
}

/* A pod variant: a copy of the agent pod review, changed by `edit`. */
static int pod_variant(const cJSON *pod_review, const char *name, void (*edit)(cJSON *review))
{
    cJSON *r = cJSON_Duplicate(pod_review, 1);
    if (r == NULL) {
        return KA_ENOMEM;
    }
    edit(r);
    int ret = add_case(name, r, 0);
    cJSON_Delete(r);
    return ret;
}

static cJSON *agent_container(cJSON *r)
{
    return at(r, "request.object.spec.containers.0");
}

static void edit_bare(cJSON *r)
{
    cJSON_DeleteItemFromArray(at(r, "request.object.spec.containers"), 1);
}
static void edit_no_probes(cJSON *r)
{
    cJSON_DeleteItemFromObject(agent_container(r), "livenessProbe");
    cJSON_DeleteItemFromObject(agent_container(r), "readinessProbe");
}
static void edit_latest(cJSON *r)
{
    set_string(agent_container(r), "image", "registry.chaozcode.com/agent:latest");
}
static void edit_no_tag(cJSON *r)
{
    set_string(agent_container(r), "image", "registry.chaozcode.com/agent");
}
static void edit_port_no_tag(cJSON *r)
{
    set_string(agent_container(r), "image", "localhost:5000/agent");
}
static void edit_digest(cJSON *r)
{
    set_string(agent_container(r), "image",
               "registry.chaozcode.com/agent@sha256:"
               "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
}
static void edit_no_limits(cJSON *r)
{
    cJSON_DeleteItemFromObject(at(agent_container(r), "resources"), "limits");
}
static void edit_init_no_resources(cJSON *r)
{
    cJSON *init = cJSON_AddArrayToObject(at(r, "request.object.spec"), "initContainers");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "name", "init-schema");
    cJSON_AddStringToObject(c, "image", "registry.chaozcode.com/agent-migrate:2.4.0");
    cJSON_AddItemToArray(init, c);
}
static void edit_helper_no_probes(cJSON *r)
{
    set_string(at(r, "request.object.spec.containers.1"), "name", "helper");
}
static void make_bad(cJSON *r)
{
    edit_no_probes(r);
    edit_latest(r);
    edit_no_limits(r);
}
static void edit_excluded_ns(cJSON *r)
{
    make_bad(r);
    set_string(at(r, "request"), "namespace", "kube-system");
    set_string(at(r, "request.object.metadata"), "namespace", "kube-system");
}
static void edit_delete(cJSON *r)
{
    make_bad(r);
    set_string(at(r, "request"), "operation", "DELETE");
}
static void edit_status(cJSON *r)
{
    make_bad(r);
    set_string(at(r, "request"), "subResource", "status");
}
static void edit_mirror(cJSON *r)
{
    make_bad(r);
    cJSON_AddStringToObject(at(r, "request.object.metadata.annotations"),
                            "kubernetes.io/config.mirror", "0f1e2d3c");
}
static void edit_job_owned(cJSON *r)
{
    make_bad(r);
    cJSON_AddStringToObject(at(r, "request.object.metadata.labels"), "job-name", "agent-batch");
}
static void edit_bad(cJSON *r)
{
    make_bad(r);
}

/* A workload of `kind` whose template is the agent pod's (changed by `edit` first). */
static int workload_variant(const cJSON *pod_review, const char *name, const char *kind,
                            const char *resource, void (*edit)(cJSON *review))
{
    int ret = KA_ENOMEM;
    cJSON *r = cJSON_Duplicate(pod_review, 1);
    cJSON *w = cJSON_CreateObject();
    cJSON *review = NULL;
    if (r == NULL || w == NULL) {
        goto cleanup;
    }
    if (edit != NULL) {
        edit(r);
    }
    cJSON *pod = at(r, "request.object");
    cJSON_AddStringToObject(w, "apiVersion", kind[0] == 'J' ? "batch/v1" : "apps/v1");
    cJSON_AddStringToObject(w, "kind", kind);
    cJSON *meta = cJSON_AddObjectToObject(w, "metadata");
    cJSON_AddStringToObject(meta, "name", kind[0] == 'J' ? "agent-batch" : "agent-api");
    cJSON_AddStringToObject(meta, "namespace", "ai-agents");
    cJSON *spec = cJSON_AddObjectToObject(w, "spec");
    cJSON *tmpl = cJSON_AddObjectToObject(spec, "template");
    cJSON *tmeta = cJSON_AddObjectToObject(tmpl, "metadata");
    cJSON *labels = cJSON_AddObjectToObject(tmeta, "labels");
    cJSON_AddStringToObject(labels, "app", "agent-api");
    cJSON_AddItemToObject(tmpl, "spec", cJSON_Duplicate(at(pod, "spec"), 1));
    if (kind[0] == 'J') {
        set_string(at(tmpl, "spec"), "restartPolicy", "Never");
    }
    review = wrap(w, kind[0] == 'J' ? "batch" : "apps", "v1", kind, resource, "CREATE",
                  "7a0e5c3b-1d2f-4e6a-9b8c-0d1e2f3a4b5c");
    ret = review != NULL ? add_case(name, review, 0) : KA_ENOMEM;
cleanup:
    cJSON_Delete(r);
    cJSON_Delete(w);
    cJSON_Delete(review);
    return ret;
}

static int spine_variant(const cJSON *spine, const char *name, const char *edit)
{
    cJSON *s = cJSON_Duplicate(spine, 1);
    cJSON *anti = at(s, "spec.template.spec.affinity.podAntiAffinity");
    cJSON *term = at(anti, "requiredDuringSchedulingIgnoredDuringExecution.0");
    if (strcmp(edit, "none") == 0) {
        cJSON_DeleteItemFromObject(at(s, "spec.template.spec"), "affinity");
    } else if (strcmp(edit, "zone") == 0) {
        set_string(term, "topologyKey", "topology.kubernetes.io/zone");
    } else if (strcmp(edit, "miss") == 0) {
        cJSON *values = at(term, "labelSelector.matchExpressions.0.values");
        cJSON_ReplaceItemInArray(values, 0, cJSON_CreateString("other"));
    } else if (strcmp(edit, "preferred") == 0) {
        cJSON *req =
            cJSON_DetachItemFromObject(anti, "requiredDuringSchedulingIgnoredDuringExecution");
        cJSON *pref =
            cJSON_AddArrayToObject(anti, "preferredDuringSchedulingIgnoredDuringExecution");
        cJSON *w = cJSON_CreateObject();
        cJSON_AddNumberToObject(w, "weight", 100);
        cJSON_AddItemToObject(w, "podAffinityTerm", cJSON_DetachItemFromArray(req, 0));
        cJSON_AddItemToArray(pref, w);
        cJSON_Delete(req);
    } else if (strcmp(edit, "matchlabels") == 0) {
        cJSON *sel = at(term, "labelSelector");
        cJSON_DeleteItemFromObject(sel, "matchExpressions");
        cJSON *ml = cJSON_AddObjectToObject(sel, "matchLabels");
        cJSON_AddStringToObject(ml, "app", "memory-spine");
    }
    cJSON *review = wrap(s, "apps", "v1", "StatefulSet", "statefulsets", "CREATE",
                         "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7");
    int ret = add_case(name, review, 0);
    cJSON_Delete(review);
    cJSON_Delete(s);
    return ret;
}

/* The 1 MiB pod: the agent pod plus annotations of 1000-byte values (like a big
 * kubectl.kubernetes.io/last-applied-configuration spread over many keys). */
static int add_big_pod(const cJSON *pod_review)
{
    cJSON *r = cJSON_Duplicate(pod_review, 1);
    cJSON *ann = at(r, "request.object.metadata.annotations");
    char value[1001];
    for (size_t i = 0; i < sizeof(value) - 1; i++) {
        value[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"[(i * 7) % 64];
    }
    value[sizeof(value) - 1] = '\0';
    for (int i = 0; i < 1024; i++) {
        char key[64];
        snprintf(key, sizeof(key), "bench.kadmit.dev/pad-%04d", i);
        cJSON_AddStringToObject(ann, key, value);
    }
    int ret = add_case("pod-1mib", r, 1);
    cJSON_Delete(r);
    return ret;
}

static int build_cases(const char *root)
{
    int ret = KA_EINTERNAL;
    char path[4096];
    struct ka_buf text;
    cJSON *pod = NULL, *agent = NULL, *spine = NULL, *hpa = NULL, *r = NULL;
    ka_buf_init(&text, 1);
    snprintf(path, sizeof(path), "%s/tests/bench/fixtures/agent-pod-review.json", root);
    if (read_whole(path, &text) != 0) {
        goto cleanup;
    }
    pod = cJSON_ParseWithLength(text.data, text.len);
    snprintf(path, sizeof(path), "%s/tests/fixtures/manifests/agent-statefulset.yaml", root);
    agent = load_yaml_doc(path);
    snprintf(path, sizeof(path), "%s/tests/fixtures/manifests/memory-spine-statefulset.yaml", root);
    spine = load_yaml_doc(path);
    snprintf(path, sizeof(path), "%s/tests/fixtures/manifests/agent-hpa.yaml", root);
    hpa = load_yaml_doc(path);
    if (pod == NULL || agent == NULL || spine == NULL || hpa == NULL) {
        fprintf(stderr, "bench_core: cannot build the AdmissionReviews (run from the repo root "
                        "or pass --root)\n");
        goto cleanup;
    }
    /* The timed set. */
    ret = add_case("pod-agent", pod, 1);
    if (ret == 0) {
        ret = pod_variant(pod, "pod-agent-bare", edit_bare);
        cases[n_cases - 1].bench = 1; /* mutate adds the sidecar: a real patch */
    }
    if (ret == 0) {
        r = wrap(agent, "apps", "v1", "StatefulSet", "statefulsets", "CREATE",
                 "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e");
        ret = add_case("sts-agent", r, 1);
        cJSON_Delete(r);
    }
    if (ret == 0) {
        r = wrap(spine, "apps", "v1", "StatefulSet", "statefulsets", "CREATE",
                 "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f");
        ret = add_case("sts-memory-spine", r, 1);
        cJSON_Delete(r);
    }
    if (ret == 0) {
        r = wrap(hpa, "autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
                 "CREATE", "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8");
        ret = add_case("hpa-agent", r, 1);
        cJSON_Delete(r);
    }
    if (ret == 0) {
        ret = add_big_pod(pod);
    }
    /* The verdict-parity set. */
    static const struct {
        const char *name;
        void (*edit)(cJSON *);
    } pods[] = {
        {"pod-no-probes", edit_no_probes},
        {"pod-latest", edit_latest},
        {"pod-no-tag", edit_no_tag},
        {"pod-port-no-tag", edit_port_no_tag},
        {"pod-digest", edit_digest},
        {"pod-no-limits", edit_no_limits},
        {"pod-init-no-resources", edit_init_no_resources},
        {"pod-helper-no-probes", edit_helper_no_probes},
        {"pod-bad", edit_bad},
        {"pod-bad-excluded-ns", edit_excluded_ns},
        {"pod-bad-delete", edit_delete},
        {"pod-bad-status", edit_status},
        {"pod-bad-mirror", edit_mirror},
        {"pod-bad-job-owned", edit_job_owned},
    };
    for (size_t i = 0; ret == 0 && i < sizeof(pods) / sizeof(pods[0]); i++) {
        ret = pod_variant(pod, pods[i].name, pods[i].edit);
    }
    if (ret == 0) {
        ret = workload_variant(pod, "deployment-bad", "Deployment", "deployments", edit_bad);
    }
    if (ret == 0) {
        ret = workload_variant(pod, "job-no-probes", "Job", "jobs", edit_no_probes);
    }
    if (ret == 0) {
        ret = workload_variant(pod, "job-bad", "Job", "jobs", edit_bad);
    }
    static const char *const spine_edits[] = {"none", "zone", "miss", "preferred", "matchlabels"};
    for (size_t i = 0; ret == 0 && i < sizeof(spine_edits) / sizeof(spine_edits[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "sts-memory-spine-%s", spine_edits[i]);
        ret = spine_variant(spine, name, spine_edits[i]);
    }
cleanup:
    cJSON_Delete(pod);
    cJSON_Delete(agent);
    cJSON_Delete(spine);
    cJSON_Delete(hpa);
    ka_buf_free(&text);
    return ret;
}

static int emit(const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "bench_core: mkdir %s: %s\n", dir, strerror(errno));
        return 2;
    }
    for (size_t i = 0; i < n_cases; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s.json", dir, cases[i].name);
        FILE *f = fopen(path, "wb");
        if (f == NULL || fwrite(cases[i].body, 1, cases[i].len, f) != cases[i].len) {
            fprintf(stderr, "bench_core: write %s: %s\n", path, strerror(errno));
            if (f != NULL) {
                fclose(f);
            }
            return 2;
        }
        fclose(f);
        printf("%s %zu %s\n", cases[i].name, cases[i].len, cases[i].bench ? "bench" : "parity");
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Timing
 */

struct stats {
    double median_ns, min_ns, max_ns;
    double allocs, alloc_bytes; /* per operation */
    unsigned long iters;        /* per run */
};

typedef int (*op_fn)(const struct review_case *c, void *ctx);

#define MAX_RUNS 101

/* Time `op` on `c`: a warm-up, calibration to about run_ms per run, then `runs` runs. */
static int measure(op_fn op, const struct review_case *c, void *ctx, int runs, double run_ms,
                   struct stats *st)
{
    double t[MAX_RUNS];
    for (int i = 0; i < 3; i++) {
        if (op(c, ctx) != 0) {
            return KA_EINTERNAL;
        }
    }
    unsigned long long a0 = n_allocs, b0 = n_alloc_bytes;
    if (op(c, ctx) != 0) {
        return KA_EINTERNAL;
    }
    st->allocs = (double)(n_allocs - a0);
    st->alloc_bytes = (double)(n_alloc_bytes - b0);
    double t0 = bench_cpu_ns();
    unsigned long probe = 0;
    while (bench_cpu_ns() - t0 < run_ms * 1e6 / 4 || probe < 2) {
        if (op(c, ctx) != 0) {
            return KA_EINTERNAL;
        }
        probe++;
    }
    double per = (bench_cpu_ns() - t0) / (double)probe;
    unsigned long iters = (unsigned long)(run_ms * 1e6 / per);
    if (iters < 1) {
        iters = 1;
    }
    for (int r = 0; r < runs; r++) {
        double s = bench_cpu_ns();
        for (unsigned long i = 0; i < iters; i++) {
            if (op(c, ctx) != 0) {
                return KA_EINTERNAL;
            }
        }
        t[r] = (bench_cpu_ns() - s) / (double)iters;
    }
    qsort(t, (size_t)runs, sizeof(double), bench_cmp_double);
    st->median_ns = t[runs / 2];
    st->min_ns = t[0];
    st->max_ns = t[runs - 1];
    st->iters = iters;
    return 0;
}

struct review_ctx {
    const struct ka_policy *policy;
    enum ka_endpoint ep;
    struct ka_buf out;
    int expect_allowed; /* -1: don't check */
};

static int op_review(const struct review_case *c, void *ctx)
{
    struct review_ctx *rc = ctx;
    struct ka_review_summary summary;
    struct ka_review_opts opts = {.now = 1764324942};
    int ret = ka_admission_review(rc->policy, rc->ep, c->body, c->len, &opts, &rc->out, &summary);
    if (ret != 0 || summary.http_status != 200) {
        fprintf(stderr, "bench_core: %s: review failed: %s\n", c->name, ka_strerror(ret));
        return KA_EINTERNAL;
    }
    return 0;
}

static int op_cjson(const struct review_case *c, void *ctx)
{
    (void)ctx;
    cJSON *root = cJSON_ParseWithLength(c->body, c->len);
    if (root == NULL) {
        return KA_EINTERNAL;
    }
    cJSON_Delete(root);
    return 0;
}

/* A per-request bump arena for cJSON: allocation is a pointer bump, free is a no-op, and the
 * whole request's memory goes back in one reset. */
struct arena {
    char *base;
    size_t size, used, high;
};
static struct arena g_arena;

static void *arena_malloc(size_t n)
{
    size_t need = (n + 15u) & ~(size_t)15u;
    if (g_arena.size - g_arena.used < need) {
        return NULL;
    }
    void *p = g_arena.base + g_arena.used;
    g_arena.used += need;
    if (g_arena.used > g_arena.high) {
        g_arena.high = g_arena.used;
    }
    return p;
}

static void arena_free(void *p)
{
    (void)p;
}

/* The hot path's own arena (kadmit/json.h): begin, parse, end; no cJSON_Delete. */
static int op_kadmit_arena(const struct review_case *c, void *ctx)
{
    (void)ctx;
    if (ka_json_arena_begin() != 0) {
        return KA_EINTERNAL;
    }
    cJSON *root = cJSON_ParseWithLength(c->body, c->len);
    g_arena.high = ka_json_arena_used() > g_arena.high ? ka_json_arena_used() : g_arena.high;
    ka_json_arena_end();
    return root != NULL ? 0 : KA_EINTERNAL;
}

/* The lower bound: one preallocated bump arena, reset per request (needs this binary's own
 * cJSON hooks, so it runs last). */
static int op_bump_arena(const struct review_case *c, void *ctx)
{
    (void)ctx;
    g_arena.used = 0;
    return cJSON_ParseWithLength(c->body, c->len) != NULL ? 0 : KA_EINTERNAL;
}

static int op_jsmn(const struct review_case *c, void *ctx)
{
    (void)ctx;
    jsmn_parser p;
    jsmn_init(&p);
    int n = jsmn_parse(&p, c->body, c->len, NULL, 0);
    if (n <= 0) {
        return KA_EINTERNAL;
    }
    jsmntok_t *tok = malloc((size_t)n * sizeof(*tok));
    if (tok == NULL) {
        return KA_ENOMEM;
    }
    jsmn_init(&p);
    int m = jsmn_parse(&p, c->body, c->len, tok, (unsigned)n);
    free(tok);
    return m == n ? 0 : KA_EINTERNAL;
}

/* jsmn in a server's steady state: one token array per thread, grown when a body needs more, so
 * a single pass per request. */
static jsmntok_t *g_tokens;
static unsigned g_tokens_cap;

static int op_jsmn_one_pass(const struct review_case *c, void *ctx)
{
    (void)ctx;
    for (;;) {
        jsmn_parser p;
        jsmn_init(&p);
        int n = g_tokens_cap > 0 ? jsmn_parse(&p, c->body, c->len, g_tokens, g_tokens_cap)
                                 : JSMN_ERROR_NOMEM;
        if (n > 0) {
            return 0;
        }
        if (n != JSMN_ERROR_NOMEM) {
            return KA_EINTERNAL;
        }
        unsigned cap = g_tokens_cap ? g_tokens_cap * 2 : 1024;
        jsmntok_t *t = realloc(g_tokens, (size_t)cap * sizeof(*t));
        if (t == NULL) {
            return KA_ENOMEM;
        }
        g_tokens = t;
        g_tokens_cap = cap;
    }
}

/* ------------------------------------------------------------------------------------------
 * Output
 */

static void json_stats(FILE *f, const char *name, const char *what, const char *ep,
                       const struct review_case *c, const struct stats *st, int *first)
{
    fprintf(f,
            "%s\n    {\"case\":\"%s\",\"bytes\":%zu,\"op\":\"%s\",\"endpoint\":\"%s\","
            "\"median_ns\":%.0f,\"min_ns\":%.0f,\"max_ns\":%.0f,\"allocs\":%.0f,"
            "\"alloc_bytes\":%.0f,\"iters_per_run\":%lu}",
            *first ? "" : ",", name, c->len, what, ep, st->median_ns, st->min_ns, st->max_ns,
            st->allocs, st->alloc_bytes, st->iters);
    *first = 0;
}

/* --count: N reviews of one case, nothing else, so instruction counts divide cleanly. */
static int run_count(const struct ka_policy *policy, const char *name, const char *ep, long count,
                     struct review_ctx *rctx)
{
    const struct review_case *c = NULL;
    for (size_t i = 0; i < n_cases && c == NULL; i++) {
        c = strcmp(cases[i].name, name) == 0 ? &cases[i] : NULL;
    }
    if (c == NULL || (strcmp(ep, "validate") != 0 && strcmp(ep, "mutate") != 0)) {
        fprintf(stderr, "bench_core: no case %s or endpoint %s\n", name, ep);
        return 2;
    }
    rctx->policy = policy;
    rctx->ep = strcmp(ep, "mutate") == 0 ? KA_ENDPOINT_MUTATE : KA_ENDPOINT_VALIDATE;
    for (long i = 0; i < count; i++) {
        if (op_review(c, rctx) != 0) {
            return 1;
        }
    }
    printf("%s %s: %ld reviews\n", name, ep, count);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_core [--root DIR] [--runs N] [--run-ms MS] [--policy FILE] "
               "[--json FILE]\n"
               "       bench_core [--root DIR] --emit DIR\n"
               "       bench_core [--root DIR] [--policy FILE] --count N [--case NAME] "
               "[--endpoint validate|mutate]\n\n"
               "  --root DIR     repository root (default .)\n"
               "  --runs N       timed runs per measurement, median reported (default 11, 3..101)\n"
               "  --run-ms MS    length of one run in milliseconds (default 40)\n"
               "  --policy FILE  policy file (default: the embedded checklist)\n"
               "  --json FILE    also write the results as JSON\n"
               "  --emit DIR     write the AdmissionReviews as DIR/<name>.json and exit\n"
               "  --count N      run N reviews of one case, untimed (for callgrind), and exit\n"
               "  --case NAME    the case of --count (default pod-agent)\n"
               "  --endpoint EP  the endpoint of --count (default validate)\n");
}

int main(int argc, char **argv)
{
    int rc = 2;
    const char *root = ".", *json_path = NULL, *emit_dir = NULL, *policy_path = NULL;
    const char *count_case = "pod-agent", *count_ep = "validate";
    long count = 0;
    long runs = 11;
    double run_ms = 40;
    struct ka_policy *policy = NULL;
    struct review_ctx rctx;
    FILE *jf = NULL;
    ka_buf_init(&rctx.out, 16u * 1024u * 1024u);
    const struct bench_flag flags[] = {
        {"--root", .text = &root},         {"--json", .text = &json_path},
        {"--emit", .text = &emit_dir},     {"--policy", .text = &policy_path},
        {"--count", .whole = &count},      {"--case", .text = &count_case},
        {"--endpoint", .text = &count_ep}, {"--runs", .whole = &runs},
        {"--run-ms", .number = &run_ms},   {.name = NULL},
    };
    int parsed = bench_flags_parse(argc, argv, flags);
    if (parsed != 0) {
        usage(parsed == BENCH_FLAGS_HELP ? stdout : stderr);
        rc = parsed == BENCH_FLAGS_HELP ? 0 : 2;
        goto exit;
    }
    if (runs < 3 || runs > MAX_RUNS || !(run_ms > 0 && run_ms <= 10000)) {
        usage(stderr);
        goto exit;
    }
    if (build_cases(root) != 0) {
        goto exit;
    }
    if (emit_dir != NULL) {
        rc = emit(emit_dir);
        goto exit;
    }
    struct ka_buf diag;
    ka_buf_init(&diag, 64 * 1024);
    int ret = policy_path != NULL ? ka_policy_load_path(policy_path, NULL, &policy, &diag)
                                  : ka_policy_load_default(NULL, &policy, &diag);
    if (ret != 0) {
        fprintf(stderr, "bench_core: policy: %s%s\n", diag.data ? diag.data : "", ka_strerror(ret));
        ka_buf_free(&diag);
        goto exit;
    }
    ka_buf_free(&diag);
    if (count > 0) {
        rc = run_count(policy, count_case, count_ep, count, &rctx);
        goto exit;
    }
    if (json_path != NULL) {
        jf = fopen(json_path, "w");
        if (jf == NULL) {
            fprintf(stderr, "bench_core: %s: %s\n", json_path, strerror(errno));
            goto exit;
        }
        fprintf(jf, "{\"runs\":%ld,\"run_ms\":%.0f,\"policy\":\"%s\",\"results\":[", runs, run_ms,
                policy_path ? policy_path : "embedded checklist");
    }
    int first = 1;
    printf("ka_admission_review(): thread CPU time, median of %ld runs of ~%.0f ms; allocations "
           "per review\n",
           runs, run_ms);
    printf("%-18s %9s %-9s %11s %11s %11s %8s %10s\n", "case", "bytes", "endpoint", "median_us",
           "min_us", "max_us", "allocs", "alloc_KiB");
    rctx.policy = policy;
    for (size_t i = 0; i < n_cases; i++) {
        if (!cases[i].bench) {
            continue;
        }
        for (int e = 0; e < 2; e++) {
            struct stats st;
            rctx.ep = e == 0 ? KA_ENDPOINT_VALIDATE : KA_ENDPOINT_MUTATE;
            if (measure(op_review, &cases[i], &rctx, (int)runs, run_ms, &st) != 0) {
                goto exit;
            }
            printf("%-18s %9zu %-9s %11.2f %11.2f %11.2f %8.0f %10.1f\n", cases[i].name,
                   cases[i].len, ka_endpoint_name(rctx.ep), st.median_ns / 1e3, st.min_ns / 1e3,
                   st.max_ns / 1e3, st.allocs, st.alloc_bytes / 1024);
            if (jf != NULL) {
                json_stats(jf, cases[i].name, "review", ka_endpoint_name(rctx.ep), &cases[i], &st,
                           &first);
            }
        }
    }

    printf("\nRequest-path JSON parsing alone, same bodies (median of %ld runs)\n", runs);
    printf("%-18s %9s %-22s %11s %11s %8s %10s\n", "case", "bytes", "parser", "median_us", "min_us",
           "allocs", "alloc_KiB");
    g_arena.size = 64u * 1024u * 1024u;
    g_arena.base = malloc(g_arena.size);
    if (g_arena.base == NULL) {
        goto exit;
    }
    static const struct {
        const char *name;
        op_fn fn;
        int bump; /* installs this binary's cJSON hooks: must be last */
    } parsers[] = {
        {"cjson_parse_delete", op_cjson, 0}, {"kadmit_arena", op_kadmit_arena, 0},
        {"jsmn_two_pass", op_jsmn, 0},       {"jsmn_one_pass", op_jsmn_one_pass, 0},
        {"bump_arena", op_bump_arena, 1},
    };
    for (size_t p = 0; p < sizeof(parsers) / sizeof(parsers[0]); p++) {
        if (parsers[p].bump) {
            cJSON_Hooks hooks = {.malloc_fn = arena_malloc, .free_fn = arena_free};
            cJSON_InitHooks(&hooks);
        }
        for (size_t i = 0; i < n_cases; i++) {
            if (!cases[i].bench || strcmp(cases[i].name, "pod-agent-bare") == 0) {
                continue;
            }
            struct stats st;
            g_arena.high = 0;
            ret = measure(parsers[p].fn, &cases[i], NULL, (int)runs, run_ms, &st);
            if (ret != 0) {
                fprintf(stderr, "bench_core: %s: %s failed\n", cases[i].name, parsers[p].name);
                goto exit;
            }
            if (g_arena.high > 0) {
                st.alloc_bytes = (double)g_arena.high; /* arena bytes used */
            }
            printf("%-18s %9zu %-22s %11.2f %11.2f %8.0f %10.1f\n", cases[i].name, cases[i].len,
                   parsers[p].name, st.median_ns / 1e3, st.min_ns / 1e3, st.allocs,
                   st.alloc_bytes / 1024);
            if (jf != NULL) {
                json_stats(jf, cases[i].name, parsers[p].name, "", &cases[i], &st, &first);
            }
        }
    }
    cJSON_InitHooks(NULL); /* the bodies below were malloc'd: free them with free() */
    if (jf != NULL) {
        fprintf(jf, "\n]}\n");
    }
    rc = 0;
exit:
    if (jf != NULL) {
        fclose(jf);
    }
    free(g_arena.base);
    free(g_tokens);
    ka_policy_unref(policy);
    ka_buf_free(&rctx.out);
    for (size_t i = 0; i < n_cases; i++) {
        cJSON_free(cases[i].body);
    }
    return rc;
}
