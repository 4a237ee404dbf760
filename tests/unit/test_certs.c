#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kadmit/buf.h"
#include "kadmit/certs.h"
#include "kadmit/certs_webhooks.h"
#include "kadmit/error.h"
#include "ka_test.h"

#define DAY 86400LL
/* A fixed "now" so validity decisions never depend on the wall clock: 2030-01-01T00:00:00Z. */
#define T0 ((time_t)1893456000)

static char tmpdir[256];

static void path_in(char *out, size_t size, const char *dir, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

static void test_key_types(void)
{
    enum ka_certs_key_type t;
    const char *names[] = {"ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072"};
    for (size_t i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(ka_certs_parse_key_type(names[i], &t), 0);
        CU_ASSERT_STRING_EQUAL(ka_certs_key_type_name(t), names[i]);
    }
    CU_ASSERT_EQUAL(ka_certs_parse_key_type("rsa-1024", &t), KA_EINVAL);
    CU_ASSERT_EQUAL(ka_certs_parse_key_type("", &t), KA_EINVAL);
    CU_ASSERT_EQUAL(ka_certs_parse_key_type(NULL, &t), KA_EINVAL);
}

static void test_durations(void)
{
    int64_t s = 0;
    CU_ASSERT_EQUAL(ka_certs_parse_duration("30d", &s), 0);
    CU_ASSERT_EQUAL(s, 30 * DAY);
    CU_ASSERT_EQUAL(ka_certs_parse_duration("12h", &s), 0);
    CU_ASSERT_EQUAL(s, 12 * 3600);
    CU_ASSERT_EQUAL(ka_certs_parse_duration("90m", &s), 0);
    CU_ASSERT_EQUAL(s, 5400);
    CU_ASSERT_EQUAL(ka_certs_parse_duration("0s", &s), 0);
    CU_ASSERT_EQUAL(s, 0);
    const char *bad[] = {
        "", "d", "30", "30x", "-1d", "1dd", "1.5d", " 1d", "36501d", "99999999999999999999d", NULL};
    for (const char **b = bad; *b != NULL; b++) {
        CU_ASSERT_EQUAL(ka_certs_parse_duration(*b, &s), KA_EINVAL);
    }
    CU_ASSERT_EQUAL(ka_certs_parse_duration("36500d", &s), 0); /* the cap itself is fine */
}

static void test_opts_check(void)
{
    struct ka_certs_opts o;
    struct ka_buf diag;
    ka_buf_init(&diag, 1024);
    ka_certs_opts_init(&o);
    CU_ASSERT_EQUAL(ka_certs_opts_check(&o, &diag), 0);

    o.service = "Kadmit";
    CU_ASSERT_EQUAL(ka_certs_opts_check(&o, &diag), KA_EINVAL);
    KA_ASSERT_HAS(diag.data, "--service");
    ka_certs_opts_init(&o);
    o.namespace = "-bad";
    CU_ASSERT_EQUAL(ka_certs_opts_check(&o, NULL), KA_EINVAL);
    ka_certs_opts_init(&o);
    o.dns[o.n_dns++] = "*.example.com";
    o.dns[o.n_dns++] = "a-b.c";
    o.ip[o.n_ip++] = "127.0.0.1";
    o.ip[o.n_ip++] = "fd00::1";
    CU_ASSERT_EQUAL(ka_certs_opts_check(&o, NULL), 0);
    o.dns[o.n_dns++] = "under_score.example";
    CU_ASSERT_EQUAL(ka_certs_opts_check(&o, NULL), KA_EINVAL);
    o.n_dns--;
    o.dns[o.n_dns++] = "trailing-.example";
    CU_ASSERT_EQUAL(ka_certs_opts_check(&o, NULL), KA_EINVAL);
    o.n_dns--;
    o.ip[o.n_ip++] = "300.1.1.1";
    CU_ASSERT_EQUAL(ka_certs_opts_check(&o, NULL), KA_EINVAL);
    ka_certs_opts_init(&o);
    o.validity = 0;
    CU_ASSERT_EQUAL(ka_certs_opts_check(&o, NULL), KA_EINVAL);
    ka_buf_free(&diag);
}

static void test_base64(void)
{
    struct ka_buf b;
    ka_buf_init(&b, 64);
    CU_ASSERT_EQUAL(ka_certs_base64("hello", 5, &b), 0);
    CU_ASSERT_STRING_EQUAL(b.data, "aGVsbG8=");
    ka_buf_reset(&b);
    CU_ASSERT_EQUAL(ka_certs_base64("", 0, &b), 0);
    CU_ASSERT_EQUAL(b.len, 0);
    ka_buf_free(&b);
    ka_buf_init(&b, 4);
    CU_ASSERT_EQUAL(ka_certs_base64("hello", 5, &b), KA_ELIMIT);
    ka_buf_free(&b);
}

/* The whole life of a leaf, judged at chosen times. */
static void test_ensure_and_renew(void)
{
    char dir[512], ca_path[600], crt_path[600], key_path[600];
    struct ka_certs_opts o;
    struct ka_certs_report r;
    struct ka_buf diag;
    char reason[160];
    ka_buf_init(&diag, 4096);
    path_in(dir, sizeof(dir), tmpdir, "life");
    path_in(ca_path, sizeof(ca_path), dir, "ca.crt");
    path_in(crt_path, sizeof(crt_path), dir, "tls.crt");
    path_in(key_path, sizeof(key_path), dir, "tls.key");

    ka_certs_opts_init(&o);
    o.now = T0;
    o.ip[o.n_ip++] = "127.0.0.1";
    CU_ASSERT_EQUAL_FATAL(ka_certs_ensure(dir, &o, &r, &diag), 0);
    CU_ASSERT_EQUAL(r.ca, KA_CERTS_CREATED);
    CU_ASSERT_EQUAL(r.leaf, KA_CERTS_CREATED);
    CU_ASSERT_EQUAL(r.leaf_not_after, T0 + 365 * DAY);
    CU_ASSERT_EQUAL(r.ca_not_after, T0 + 3650 * DAY);

    char *ca = ka_test_slurp(ca_path, NULL);
    char *crt = ka_test_slurp(crt_path, NULL);
    char *key = ka_test_slurp(key_path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ca);
    CU_ASSERT_PTR_NOT_NULL_FATAL(crt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(key);
    KA_ASSERT_HAS(crt, "-----BEGIN CERTIFICATE-----");

    o.now = T0 + 200 * DAY;
    CU_ASSERT_EQUAL(ka_certs_check_leaf(crt, key, ca, &o, reason, sizeof(reason)), 0);
    CU_ASSERT_STRING_EQUAL(reason, "expires in 165d");
    o.now = T0 + 340 * DAY;
    CU_ASSERT_EQUAL(ka_certs_check_leaf(crt, key, ca, &o, reason, sizeof(reason)), 1);
    CU_ASSERT_STRING_EQUAL(reason, "expires in 25d");
    o.now = T0 + 366 * DAY;
    CU_ASSERT_EQUAL(ka_certs_check_leaf(crt, key, ca, &o, reason, sizeof(reason)), 1);
    CU_ASSERT_STRING_EQUAL(reason, "expired");
    o.now = T0 - DAY;
    CU_ASSERT_EQUAL(ka_certs_check_leaf(crt, key, ca, &o, reason, sizeof(reason)), 1);
    CU_ASSERT_STRING_EQUAL(reason, "not valid yet");
    o.now = T0 + DAY;
    o.dns[o.n_dns++] = "more.example";
    CU_ASSERT_EQUAL(ka_certs_check_leaf(crt, key, ca, &o, reason, sizeof(reason)), 1);
    CU_ASSERT_STRING_EQUAL(reason, "missing name more.example");
    o.n_dns = 0;
    o.ip[o.n_ip++] = "::1";
    CU_ASSERT_EQUAL(ka_certs_check_leaf(crt, key, ca, &o, reason, sizeof(reason)), 1);
    CU_ASSERT_STRING_EQUAL(reason, "missing address ::1");
    o.n_ip = 1;
    o.key_type = KA_CERTS_KEY_RSA_2048;
    o.key_type_set = 1;
    CU_ASSERT_EQUAL(ka_certs_check_leaf(crt, key, ca, &o, reason, sizeof(reason)), 1);
    o.key_type = KA_CERTS_KEY_ECDSA_P256;
    CU_ASSERT_EQUAL(ka_certs_check_leaf(crt, key, ca, &o, reason, sizeof(reason)), 0);
    o.key_type_set = 0;
    CU_ASSERT_EQUAL(ka_certs_check_leaf(crt, NULL, ca, &o, reason, sizeof(reason)), 0);
    CU_ASSERT_EQUAL(ka_certs_check_leaf("junk", key, ca, &o, reason, sizeof(reason)), 1);
    CU_ASSERT_EQUAL(ka_certs_check_leaf(crt, key, "junk", &o, reason, sizeof(reason)), KA_ECERT);

    /* The CA's own certificate is not a leaf it signed for these names. */
    CU_ASSERT_EQUAL(ka_certs_check_leaf(ca, NULL, ca, &o, reason, sizeof(reason)), 1);

    /* ensure() at T0+340d renews the leaf and keeps the CA byte for byte. */
    o.now = T0 + 340 * DAY;
    CU_ASSERT_EQUAL(ka_certs_ensure(dir, &o, &r, &diag), 0);
    CU_ASSERT_EQUAL(r.ca, KA_CERTS_KEPT);
    CU_ASSERT_EQUAL(r.leaf, KA_CERTS_RENEWED);
    CU_ASSERT_STRING_EQUAL(r.leaf_reason, "expires in 25d");
    CU_ASSERT_EQUAL(r.leaf_not_after, T0 + 705 * DAY);
    char *ca2 = ka_test_slurp(ca_path, NULL);
    char *crt2 = ka_test_slurp(crt_path, NULL);
    char *key2 = ka_test_slurp(key_path, NULL);
    CU_ASSERT_STRING_EQUAL(ca2, ca);
    CU_ASSERT_STRING_NOT_EQUAL(crt2, crt);
    CU_ASSERT_STRING_NOT_EQUAL(key2, key);
    CU_ASSERT_EQUAL(ka_certs_check_leaf(crt2, key2, ca2, &o, reason, sizeof(reason)), 0);
    /* the old key does not match the new certificate */
    CU_ASSERT_EQUAL(ka_certs_check_leaf(crt2, key, ca2, &o, reason, sizeof(reason)), 1);
    CU_ASSERT_STRING_EQUAL(reason, "tls.key does not match tls.crt");

    /* and again: nothing to do */
    CU_ASSERT_EQUAL(ka_certs_ensure(dir, &o, &r, &diag), 0);
    CU_ASSERT_EQUAL(r.leaf, KA_CERTS_KEPT);

    /* A leaf never outlives its CA. */
    o.now = T0 + 3600 * DAY;
    o.renew_before = 0;
    CU_ASSERT_EQUAL(ka_certs_ensure(dir, &o, &r, &diag), 0);
    CU_ASSERT_EQUAL(r.leaf, KA_CERTS_RENEWED); /* the previous leaf expired */
    CU_ASSERT_EQUAL(r.leaf_not_after, T0 + 3650 * DAY);
    /* After the CA expires, both are replaced. */
    o.now = T0 + 3651 * DAY;
    CU_ASSERT_EQUAL(ka_certs_ensure(dir, &o, &r, &diag), 0);
    CU_ASSERT_EQUAL(r.ca, KA_CERTS_CREATED);
    CU_ASSERT_STRING_EQUAL(r.ca_reason, "replaced the expired CA");
    CU_ASSERT_EQUAL(r.leaf, KA_CERTS_CREATED);

    free(ca);
    free(crt);
    free(key);
    free(ca2);
    free(crt2);
    free(key2);
    ka_buf_free(&diag);
}

static void test_other_ca(void)
{
    char a[512], b[512], p[600];
    struct ka_certs_opts o;
    struct ka_certs_report r;
    char reason[160];
    ka_certs_opts_init(&o);
    o.now = T0;
    path_in(a, sizeof(a), tmpdir, "ca-a");
    path_in(b, sizeof(b), tmpdir, "ca-b");
    CU_ASSERT_EQUAL_FATAL(ka_certs_ensure(a, &o, &r, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(ka_certs_ensure(b, &o, &r, NULL), 0);
    path_in(p, sizeof(p), a, "tls.crt");
    char *crt_a = ka_test_slurp(p, NULL);
    path_in(p, sizeof(p), b, "ca.crt");
    char *ca_b = ka_test_slurp(p, NULL);
    CU_ASSERT_EQUAL(ka_certs_check_leaf(crt_a, NULL, ca_b, &o, reason, sizeof(reason)), 1);
    CU_ASSERT_STRING_EQUAL(reason, "not signed by the CA");
    free(crt_a);
    free(ca_b);
}

static void test_render(void)
{
    size_t len = 0;
    const char *tmpl = ka_certs_webhooks_template(&len);
    struct ka_buf out, diag;
    ka_buf_init(&out, 1 << 20);
    ka_buf_init(&diag, 1024);
    CU_ASSERT_TRUE_FATAL(len > 0);
    KA_ASSERT_HAS(tmpl, "ValidatingWebhookConfiguration");

    struct ka_certs_render_opts ro = {.ca_bundle_b64 = "QUJD"};
    CU_ASSERT_EQUAL(ka_certs_render_webhooks(tmpl, len, &ro, &out, &diag), 0);
    KA_ASSERT_HAS(out.data, "caBundle: QUJD", "MutatingWebhookConfiguration", "failurePolicy: Fail",
                  "failurePolicy: Ignore", "path: /validate");
    KA_ASSERT_LACKS(out.data, "url:");
    const char *second = strstr(out.data, "caBundle: QUJD");
    CU_ASSERT_PTR_NOT_NULL(second != NULL ? strstr(second + 1, "caBundle: QUJD") : NULL);

    ka_buf_reset(&out);
    ro.webhook_url = "https://127.0.0.1:8443";
    CU_ASSERT_EQUAL(ka_certs_render_webhooks(tmpl, len, &ro, &out, &diag), 0);
    KA_ASSERT_HAS(out.data, "url: https://127.0.0.1:8443/mutate",
                  "url: https://127.0.0.1:8443/validate");
    KA_ASSERT_LACKS(out.data, "service:");

    /* an existing caBundle is replaced, not duplicated */
    static const char with_bundle[] = "webhooks:\n- name: a\n  clientConfig:\n    caBundle: old\n"
                                      "    url: https://x/\n";
    ka_buf_reset(&out);
    ro.webhook_url = NULL;
    CU_ASSERT_EQUAL(
        ka_certs_render_webhooks(with_bundle, sizeof(with_bundle) - 1, &ro, &out, &diag), 0);
    KA_ASSERT_HAS(out.data, "caBundle: QUJD");
    KA_ASSERT_LACKS(out.data, "old");

    ka_buf_reset(&out);
    CU_ASSERT_EQUAL(ka_certs_render_webhooks("a: [", 4, &ro, &out, &diag), KA_EPARSE);
    CU_ASSERT_EQUAL(ka_certs_render_webhooks("kind: ConfigMap\n", 16, &ro, &out, &diag), KA_EPARSE);
    CU_ASSERT_EQUAL(ka_certs_render_webhooks("", 0, &ro, &out, &diag), KA_EPARSE);
    ro.ca_bundle_b64 = "";
    CU_ASSERT_EQUAL(ka_certs_render_webhooks(tmpl, len, &ro, &out, &diag), KA_EINVAL);
    ro.ca_bundle_b64 = "QUJD";
    ro.webhook_url = "http://127.0.0.1:1";
    CU_ASSERT_EQUAL(ka_certs_render_webhooks(tmpl, len, &ro, &out, &diag), KA_EINVAL);

    /* output ceiling is an error, not a truncation */
    struct ka_buf small;
    ka_buf_init(&small, 64);
    ro.webhook_url = NULL;
    CU_ASSERT_NOT_EQUAL(ka_certs_render_webhooks(tmpl, len, &ro, &small, &diag), 0);
    ka_buf_free(&small);
    ka_buf_free(&out);
    ka_buf_free(&diag);
}

static const struct ka_test tests[] = {
    {"key_types", test_key_types},
    {"durations", test_durations},
    {"opts_check", test_opts_check},
    {"base64", test_base64},
    {"ensure_and_renew", test_ensure_and_renew},
    {"other_ca", test_other_ca},
    {"render", test_render},
    {NULL, NULL},
};

KA_TEST_MAIN_IN_DIR("certs", tests, tmpdir)
