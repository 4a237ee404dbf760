/* The admission core on bad input: every case gets a 400 reason or a well-formed deny. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ka_test.h"
#include "kadmit/admission.h"
#include "kadmit/error.h"
#include "kadmit/rules.h"

static struct ka_policy *policy;

static int review(const char *body, enum ka_endpoint ep, struct ka_buf *out,
                  struct ka_review_summary *s)
{
    ka_buf_init(out, 1 << 20);
    return ka_admission_review(policy, ep, body, strlen(body), NULL, out, s);
}

static void expect_400(const char *body, const char *reason)
{
    struct ka_buf out;
    struct ka_review_summary *s = calloc(1, sizeof(*s));
    CU_ASSERT_EQUAL(review(body, KA_ENDPOINT_VALIDATE, &out, s), KA_EREVIEW);
    CU_ASSERT_EQUAL(s->http_status, 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(out.data, reason));
    ka_buf_free(&out);
    free(s);
}

static void test_not_admission_reviews(void)
{
    expect_400("", "malformed JSON");
    expect_400("{\"a\":", "malformed JSON");
    expect_400("[1,2]", "not an AdmissionReview");
    expect_400("{\"kind\":\"Pod\",\"apiVersion\":\"v1\"}", "not an AdmissionReview");
    expect_400("{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\"}",
               "no request");
    expect_400("{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
               "\"request\":{\"kind\":{\"kind\":\"Pod\"}}}",
               "no request.uid");
    expect_400("{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
               "\"request\":{\"uid\":7}}",
               "no request.uid");
}

static void test_value_limit(void)
{
    /* a million-element array is refused before parsing */
    size_t n = 1000000;
    char *body = malloc(n * 2 + 3);
    body[0] = '[';
    for (size_t i = 0; i < n; i++) {
        body[1 + 2 * i] = '0';
        body[2 + 2 * i] = ',';
    }
    body[2 * n] = ']';
    body[2 * n + 1] = '\0';
    expect_400(body, "JSON has more than 262144 values (--max-json-values) at byte offset 524287");
    free(body);
    /* commas and colons inside strings do not count */
    struct ka_buf big;
    ka_buf_init(&big, 4u << 20);
    CU_ASSERT_EQUAL(ka_buf_adds(&big, "{\"kind\":\"AdmissionReview\",\"apiVersion\":"
                                      "\"admission.k8s.io/v1\",\"request\":{\"uid\":\"u1\","
                                      "\"operation\":\"DELETE\",\"kind\":{\"kind\":\"Pod\"},"
                                      "\"name\":\""),
                    0);
    int ret = 0;
    for (int i = 0; ret == 0 && i < 300000; i++) {
        ret = ka_buf_add(&big, ",:", 2);
    }
    CU_ASSERT_EQUAL_FATAL(ret, 0);
    CU_ASSERT_EQUAL(ka_buf_adds(&big, "\"}}"), 0);
    struct ka_buf out;
    CU_ASSERT_EQUAL(review(big.data, KA_ENDPOINT_VALIDATE, &out, NULL), 0);
    ka_buf_free(&out);
    ka_buf_free(&big);
}

static void test_depth_limit(void)
{
    size_t depth = 100000;
    char *body = malloc(depth * 2 + 1);
    memset(body, '[', depth);
    memset(body + depth, ']', depth);
    body[depth * 2] = '\0';
    expect_400(body, "JSON nesting deeper than 64 levels (--max-json-depth) at byte offset 64");
    free(body);
    /* brackets inside strings do not count */
    struct ka_buf out;
    const char *ok =
        "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
        "\"request\":{\"uid\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "[[[[[[[[[[[[[[[[[[[[\\\"\",\"operation\":\"DELETE\",\"kind\":{\"kind\":\"Pod\"}}}";
    CU_ASSERT_EQUAL(review(ok, KA_ENDPOINT_VALIDATE, &out, NULL), 0);
    ka_buf_free(&out);
}

/* Parse the response, check uid and allowed, return the response object (caller deletes root). */
static cJSON *response(const char *body, enum ka_endpoint ep, cJSON **root)
{
    struct ka_buf out;
    CU_ASSERT_EQUAL_FATAL(review(body, ep, &out, NULL), 0);
    *root = cJSON_Parse(out.data);
    ka_buf_free(&out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*root);
    cJSON *resp = cJSON_GetObjectItem(*root, "response");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(resp, "uid")->valuestring, "u1");
    return resp;
}

static void test_wrong_types_deny(void)
{
    static const char *const bodies[] = {
        /* kind is a string, not a GroupVersionKind */
        "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\",\"request\":"
        "{\"uid\":\"u1\",\"kind\":\"Pod\",\"operation\":\"CREATE\",\"object\":{}}}",
        /* operation missing */
        "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\",\"request\":"
        "{\"uid\":\"u1\",\"kind\":{\"kind\":\"Pod\"},\"object\":{}}}",
        /* object is an array */
        "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\",\"request\":"
        "{\"uid\":\"u1\",\"kind\":{\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"object\":[]}}",
        /* spec is a number */
        "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\",\"request\":"
        "{\"uid\":\"u1\",\"kind\":{\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"object\":"
        "{\"metadata\":{\"name\":\"p\"},\"spec\":5}}}",
        /* metadata is a string */
        "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\",\"request\":"
        "{\"uid\":\"u1\",\"kind\":{\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"object\":"
        "{\"metadata\":\"x\",\"spec\":{}}}}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        for (int ep = 0; ep < 2; ep++) {
            cJSON *root = NULL;
            cJSON *resp = response(bodies[i], (enum ka_endpoint)ep, &root);
            CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(resp, "allowed")));
            cJSON *status = cJSON_GetObjectItem(resp, "status");
            CU_ASSERT_EQUAL(cJSON_GetObjectItem(status, "code")->valueint, 400);
            CU_ASSERT(strncmp(cJSON_GetObjectItem(status, "message")->valuestring, "kadmit: ", 8) ==
                      0);
            cJSON_Delete(root);
        }
    }
}

static void test_v1beta1_echo_and_unknown_kind(void)
{
    cJSON *root = NULL;
    cJSON *resp = response("{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/"
                           "v1beta1\",\"request\":{\"uid\":\"u1\",\"kind\":{\"kind\":\"Service\"},"
                           "\"operation\":\"CREATE\",\"object\":{\"kind\":\"Service\"}}}",
                           KA_ENDPOINT_VALIDATE, &root);
    CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(resp, "allowed")));
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(root, "apiVersion")->valuestring,
                           "admission.k8s.io/v1beta1");
    cJSON_Delete(root);
}

static void test_summary_fields(void)
{
    struct ka_buf out;
    struct ka_review_summary *s = calloc(1, sizeof(*s));
    const char *body =
        "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
        "\"request\":{\"uid\":\"u9\",\"kind\":{\"kind\":\"Pod\"},\"namespace\":\"ns\","
        "\"operation\":\"CREATE\",\"dryRun\":true,\"userInfo\":{\"username\":\"bob\"},"
        "\"object\":{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":"
        "[{\"name\":\"c\",\"image\":\"nginx:1\"}]}}}}";
    CU_ASSERT_EQUAL_FATAL(review(body, KA_ENDPOINT_VALIDATE, &out, s), 0);
    CU_ASSERT_EQUAL(s->http_status, 200);
    CU_ASSERT_EQUAL(s->allowed, 0);
    CU_ASSERT_EQUAL(s->dry_run, 1);
    CU_ASSERT_STRING_EQUAL(s->user, "bob");
    CU_ASSERT_STRING_EQUAL(s->name, "p");
    CU_ASSERT_EQUAL(s->n_findings, 3); /* resources + readiness + liveness */
    CU_ASSERT_STRING_EQUAL(s->findings[0].rule, "resources-required");
    CU_ASSERT_STRING_EQUAL(s->findings[0].container, "c");
    CU_ASSERT_STRING_EQUAL(s->findings[0].path, "/spec/containers/0/resources");
    ka_buf_free(&out);
    free(s);
}

static void test_many_findings_bounded(void)
{
    /* 200 containers with no resources: the findings list is bounded, the rest counted. */
    struct ka_buf body;
    ka_buf_init(&body, 1 << 20);
    int ret =
        ka_buf_adds(&body, "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/"
                           "v1\",\"request\":{\"uid\":\"u1\",\"kind\":{\"kind\":\"Pod\"},"
                           "\"operation\":\"CREATE\",\"object\":{\"metadata\":{\"name\":\"big\"},"
                           "\"spec\":{\"containers\":[");
    for (int i = 0; ret == 0 && i < 200; i++) {
        ret = ka_buf_printf(&body, "%s{\"name\":\"c%d\",\"image\":\"x:1\"}", i ? "," : "", i);
    }
    CU_ASSERT_EQUAL_FATAL(ka_buf_adds(&body, "]}}}}"), 0);
    struct ka_review_summary *s = calloc(1, sizeof(*s));
    struct ka_buf out;
    CU_ASSERT_EQUAL_FATAL(review(body.data, KA_ENDPOINT_VALIDATE, &out, s), 0);
    CU_ASSERT_EQUAL(s->n_findings, 64);
    CU_ASSERT_EQUAL(s->n_dropped_findings, 600 - 64);
    KA_ASSERT_HAS(out.data, "and 536 more findings");
    ka_buf_free(&out);
    ka_buf_free(&body);
    free(s);
}

static void test_kind_of_api_group(void)
{
    /* A kind counts only from the API groups that serve it; no apiVersion accepts the name. */
    CU_ASSERT_EQUAL(ka_kind_of("batch/v1", "Job"), KA_KIND_JOB);
    CU_ASSERT_EQUAL(ka_kind_of("batch.volcano.sh/v1alpha1", "Job"), KA_KIND_OTHER);
    CU_ASSERT_EQUAL(ka_kind_of("v1", "Pod"), KA_KIND_POD);
    CU_ASSERT_EQUAL(ka_kind_of("example.com/v1", "Pod"), KA_KIND_OTHER);
    CU_ASSERT_EQUAL(ka_kind_of("apps/v1", "Pod"), KA_KIND_OTHER);
    CU_ASSERT_EQUAL(ka_kind_of("extensions/v1beta1", "Deployment"), KA_KIND_DEPLOYMENT);
    CU_ASSERT_EQUAL(ka_kind_of("app/v1", "Deployment"), KA_KIND_OTHER);
    CU_ASSERT_EQUAL(ka_kind_of("networking.k8s.io/v1", "Ingress"), KA_KIND_INGRESS);
    CU_ASSERT_EQUAL(ka_kind_of(NULL, "StatefulSet"), KA_KIND_STATEFULSET);
    CU_ASSERT_EQUAL(ka_kind_of("", "CronJob"), KA_KIND_CRONJOB);
}

/* An autoscaling/v1 HPA as a real kube-apiserver 1.37 sends it to the shipped webhook
 * (matchPolicy: Equivalent): converted to autoscaling/v2, requestKind naming v1. It is judged as
 * the v1 object the user wrote, with the message `kadmit audit` gives for the file; once said in
 * autoscaling/v2, the v2 message (found comparing the two on real manifests). */
static void test_converted_request_kind(void)
{
/* A literal, so -Wformat=2 checks the argument at -O0 too (the ASan build). */
#define HPA_V1_FMT                                                                                 \
    "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\",\"request\":{"           \
    "\"uid\":\"u1\",\"kind\":{\"group\":\"autoscaling\",\"version\":\"v2\","                       \
    "\"kind\":\"HorizontalPodAutoscaler\"},\"requestKind\":{\"group\":\"autoscaling\","            \
    "\"version\":\"%s\",\"kind\":\"HorizontalPodAutoscaler\"},\"namespace\":\"hpa\","              \
    "\"operation\":\"CREATE\",\"object\":{\"apiVersion\":\"autoscaling/v2\","                      \
    "\"kind\":\"HorizontalPodAutoscaler\",\"metadata\":{\"name\":\"agent-v1\","                    \
    "\"namespace\":\"hpa\"},\"spec\":{\"maxReplicas\":10,\"metrics\":[{\"resource\":"              \
    "{\"name\":\"cpu\",\"target\":{\"averageUtilization\":70,\"type\":\"Utilization\"}},"          \
    "\"type\":\"Resource\"}],\"minReplicas\":2,\"scaleTargetRef\":{\"apiVersion\":"                \
    "\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"agent\"}}}}}"
    static const char *const versions[] = {"v1", "v2"};
    static const char *const want[] = {"uses autoscaling/v1, which can only scale on CPU",
                                       "scales on CPU/memory only"};
    for (size_t i = 0; i < 2; i++) {
        char body[1024];
        snprintf(body, sizeof(body), HPA_V1_FMT, versions[i]);
        struct ka_buf out;
        struct ka_review_summary *s = calloc(1, sizeof(*s));
        CU_ASSERT_EQUAL_FATAL(review(body, KA_ENDPOINT_VALIDATE, &out, s), 0);
        CU_ASSERT_EQUAL(s->allowed, 0);
        CU_ASSERT_EQUAL_FATAL(s->n_findings, 1);
        CU_ASSERT_STRING_EQUAL(s->findings[0].rule, "hpa-custom-metrics");
        KA_ASSERT_HAS(out.data, want[i]);
        ka_buf_free(&out);
        free(s);
    }
#undef HPA_V1_FMT
}

static const struct ka_test tests[] = {
    {"not_admission_reviews", test_not_admission_reviews},
    {"depth_limit", test_depth_limit},
    {"value_limit", test_value_limit},
    {"wrong_types_deny", test_wrong_types_deny},
    {"v1beta1_echo_and_unknown_kind", test_v1beta1_echo_and_unknown_kind},
    {"summary_fields", test_summary_fields},
    {"many_findings_bounded", test_many_findings_bounded},
    {"kind_of_api_group", test_kind_of_api_group},
    {"converted_request_kind", test_converted_request_kind},
    {NULL, NULL},
};

KA_TEST_MAIN_WITH_POLICY("admission", tests, ka_test_load_checklist_without_attestations, &policy)
