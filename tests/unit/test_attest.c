/*
 * Unit tests for the attest module. Keys and signatures are made fresh by openssl through
 * tests/attest/{keygen,statement,sign}.sh into a temporary directory; nothing is pre-signed.
 */
#include <CUnit/Basic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>

#include "kadmit/attest.h"
#include "kadmit/duration.h"
#include "kadmit/buf.h"
#include "kadmit/error.h"
#include "kadmit/log.h"
#include "ka_test.h"

#define D1 "1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "2222222222222222222222222222222222222222222222222222222222222222"
#define IMG1 "registry.example/app@sha256:" D1
#define IMG2 "registry.example/app@sha256:" D2
#define FINISHED "2026-11-27T10:00:00Z"
#define NOW_TEXT "2026-11-28T12:00:00Z"

static char tmp[256];
static char src[1024];
static int64_t now;
static struct ka_attest_keys *trusted; /* p256, p384, rsa2048 */
static int setup_ok;

/* ---- helpers ------------------------------------------------------------------------------ */

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(cmd)) {
        return -1;
    }
    int st = system(cmd);
    return st == 0 ? 0 : -1;
}

static int spit(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return -1;
    }
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

/*
 * Make a signed attestation: statement.sh (digest, finish time, extra flags) over `report`, then
 * sign.sh with key `key` (a name under tmp). Returns the envelope text (caller frees).
 */
static char *make_att(const char *key, const char *report, const char *digest, const char *finished,
                      const char *stmt_flags, const char *sign_flags)
{
    static int seq;
    char st[512], out[512];
    snprintf(st, sizeof(st), "%s/st%d.json", tmp, seq);
    snprintf(out, sizeof(out), "%s/env%d.json", tmp, seq);
    seq++;
    if (run("bash %s/tests/attest/statement.sh --digest %s --finished %s %s %s/tests/attest/%s > "
            "%s",
            src, digest, finished, stmt_flags ? stmt_flags : "", src, report, st) != 0) {
        return NULL;
    }
    if (run("bash %s/tests/attest/sign.sh %s %s/%s.key %s > %s", src, sign_flags ? sign_flags : "",
            tmp, key, st, out) != 0) {
        return NULL;
    }
    return ka_test_slurp(out, NULL);
}

static int contains(const char *hay, const char *needle)
{
    return hay != NULL && strstr(hay, needle) != NULL;
}

/* Index one text, check an image, return check's result and copy the reason. */
static int check_text(const char *text, const char *image, const struct ka_attest_params *p,
                      char *why_out, size_t why_len)
{
    struct ka_attest_index *idx = NULL;
    struct ka_buf why, diag;
    ka_buf_init(&why, 8192);
    ka_buf_init(&diag, 8192);
    int ret = KA_EINTERNAL;
    if (text == NULL || ka_attest_index_new(&idx) != 0) {
        goto exit;
    }
    int r = ka_attest_index_add_bytes(idx, "t.json", text, strlen(text), trusted, &diag);
    if (r != 0 && r != KA_EATTEST) {
        ret = r;
        goto exit;
    }
    struct ka_attest_params def;
    ka_attest_params_init(&def);
    ret = ka_attest_check(idx, image, p ? p : &def, now, &why);
    if (why_out != NULL) {
        snprintf(why_out, why_len, "%s%s", why.data ? why.data : "", diag.data ? diag.data : "");
    }
exit:
    ka_attest_index_free(idx);
    ka_buf_free(&why);
    ka_buf_free(&diag);
    return ret;
}

/* check_text() must return `want`, and the reason must name `reason` (unless NULL). */
static void expect_text(const char *text, const char *image, const struct ka_attest_params *p,
                        int want, const char *reason)
{
    char why[2048] = "";
    int ret = check_text(text, image, p, why, sizeof(why));
    CU_ASSERT_EQUAL(ret, want);
    if (reason != NULL) {
        CU_ASSERT_TRUE(contains(why, reason));
    }
    if (ret != want || (reason != NULL && !contains(why, reason))) {
        fprintf(stderr, "%s: want %d \"%s\", got %d \"%s\"\n", image, want, reason ? reason : "",
                ret, why);
    }
}

/* ka_attest_check() of a loaded index (`p` NULL: the default params) must return `want`, and
 * the reason must name `reason` (unless NULL). */
static void expect_check(const struct ka_attest_index *idx, const char *image,
                         const struct ka_attest_params *p, int want, const char *reason)
{
    struct ka_attest_params def;
    ka_attest_params_init(&def);
    struct ka_buf why;
    ka_buf_init(&why, 8192);
    int ret = ka_attest_check(idx, image, p ? p : &def, now, &why);
    CU_ASSERT_EQUAL(ret, want);
    if (reason != NULL) {
        CU_ASSERT_TRUE(contains(why.data, reason));
    }
    if (ret != want || (reason != NULL && !contains(why.data, reason))) {
        fprintf(stderr, "%s: want %d \"%s\", got %d \"%s\"\n", image, want, reason ? reason : "",
                ret, why.data ? why.data : "");
    }
    ka_buf_free(&why);
}

/* Indexing `len` bytes of `data` as file `name` must return `want`, with a diagnostic naming
 * `reason`, and index nothing. */
static void expect_load_error(const char *name, const char *data, size_t len, int want,
                              const char *reason)
{
    struct ka_attest_index *idx = NULL;
    struct ka_buf diag;
    ka_buf_init(&diag, 4096);
    CU_ASSERT_EQUAL_FATAL(ka_attest_index_new(&idx), 0);
    CU_ASSERT_EQUAL(ka_attest_index_add_bytes(idx, name, data, len, trusted, &diag), want);
    CU_ASSERT_TRUE(contains(diag.data, reason));
    if (!contains(diag.data, reason)) {
        fprintf(stderr, "%s: want \"%s\" in \"%s\"\n", name, reason, diag.data ? diag.data : "");
    }
    CU_ASSERT_EQUAL(ka_attest_index_count(idx), 0);
    ka_attest_index_free(idx);
    ka_buf_free(&diag);
}

/* A new index holding `text` (one document, which must load) under `keys`; its entry in *e. */
static struct ka_attest_index *index_one(const char *text, const struct ka_attest_keys *keys,
                                         struct ka_attest_entry *e)
{
    struct ka_attest_index *idx = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL_FATAL(ka_attest_index_new(&idx), 0);
    CU_ASSERT_EQUAL(ka_attest_index_add_bytes(idx, "t.json", text, strlen(text), keys, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(ka_attest_index_entry(idx, 0, e), 0);
    return idx;
}

/* tmp/name, made afresh; its path in `dir`. */
static void make_subdir(char *dir, size_t len, const char *name)
{
    snprintf(dir, len, "%s/%s", tmp, name);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
}

/* Write `text` to dir/name. */
static int spit_in(const char *dir, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return spit(path, text, strlen(text));
}

static char *b64(const unsigned char *p, size_t n)
{
    size_t olen = 0;
    char *out = malloc(n * 4 / 3 + 8);
    if (out == NULL ||
        mbedtls_base64_encode((unsigned char *)out, n * 4 / 3 + 8, &olen, p, n) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Replace a string field of the envelope (or of signatures[0] when sig != 0). */
static char *envelope_with(const char *env, int sig, const char *field, const char *value)
{
    cJSON *root = cJSON_Parse(env);
    if (root == NULL) {
        return NULL;
    }
    cJSON *obj = root;
    if (sig) {
        obj = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "signatures"), 0);
    }
    cJSON_ReplaceItemInObject(obj, field, cJSON_CreateString(value));
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

static char *field_of(const char *env, int sig, const char *field)
{
    cJSON *root = cJSON_Parse(env);
    cJSON *obj = root;
    if (sig) {
        obj = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "signatures"), 0);
    }
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(obj, field));
    char *out = v ? strdup(v) : NULL;
    cJSON_Delete(root);
    return out;
}

static unsigned char *unb64(const char *s, size_t *n)
{
    size_t cap = strlen(s) + 4;
    unsigned char *out = malloc(cap);
    if (out != NULL &&
        mbedtls_base64_decode(out, cap, n, (const unsigned char *)s, strlen(s)) != 0) {
        free(out);
        out = NULL;
    }
    return out;
}

/* ---- setup -------------------------------------------------------------------------------- */

static void test_setup(void)
{
    const char *s = getenv("KADMIT_SOURCE_DIR");
    snprintf(src, sizeof(src), "%s", s ? s : ".");
    CU_ASSERT_EQUAL_FATAL(ka_test_make_dir(tmp, sizeof(tmp), "attest"), 0);
    static const char *const kinds[][2] = {{"p256", "p256"},       {"p384", "p384"},
                                           {"rsa2048", "rsa2048"}, {"p256", "other"},
                                           {"rsa1024", "rsa1024"}, {"p521", "p521"}};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        CU_ASSERT_EQUAL_FATAL(
            run("bash %s/tests/attest/keygen.sh %s %s/%s", src, kinds[i][0], tmp, kinds[i][1]), 0);
    }
    CU_ASSERT_EQUAL_FATAL(ka_attest_keys_new(&trusted), 0);
    struct ka_buf err;
    ka_buf_init(&err, 1024);
    char path[512];
    snprintf(path, sizeof(path), "%s/p*.pub", tmp); /* glob: p256, p384 (and p521: refused) */
    CU_ASSERT_NOT_EQUAL(ka_attest_keys_add_file(trusted, path, &err), 0);
    CU_ASSERT_TRUE(contains(err.data, "unsupported elliptic curve"));
    ka_attest_keys_free(trusted);
    CU_ASSERT_EQUAL_FATAL(ka_attest_keys_new(&trusted), 0);
    snprintf(path, sizeof(path), "%s/p[23]*.pub", tmp);
    CU_ASSERT_EQUAL_FATAL(ka_attest_keys_add_file(trusted, path, &err), 0);
    snprintf(path, sizeof(path), "%s/rsa2048.pub", tmp);
    CU_ASSERT_EQUAL_FATAL(ka_attest_keys_add_file(trusted, path, &err), 0);
    CU_ASSERT_EQUAL(ka_attest_keys_count(trusted), 3);
    ka_buf_free(&err);
    CU_ASSERT_EQUAL_FATAL(ka_attest_parse_time(NOW_TEXT, strlen(NOW_TEXT), &now), 0);
    ka_log_threshold = KA_LOG_ERROR; /* skipped files are expected here */
    setup_ok = 1;
}

/* ---- keys --------------------------------------------------------------------------------- */

static void test_key_rejects(void)
{
    CU_ASSERT_FATAL(setup_ok);
    struct ka_attest_keys *k = NULL;
    struct ka_buf err;
    ka_buf_init(&err, 1024);
    CU_ASSERT_EQUAL_FATAL(ka_attest_keys_new(&k), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/rsa1024.pub", tmp);
    CU_ASSERT_EQUAL(ka_attest_keys_add_file(k, path, &err), KA_EINVAL);
    CU_ASSERT_TRUE(contains(err.data, "1024 bits"));
    ka_buf_reset(&err);
    snprintf(path, sizeof(path), "%s/p256.key", tmp);
    CU_ASSERT_EQUAL(ka_attest_keys_add_file(k, path, &err), KA_EINVAL);
    CU_ASSERT_TRUE(contains(err.data, "private key"));
    ka_buf_reset(&err);
    snprintf(path, sizeof(path), "%s/nothing-*.pem", tmp);
    CU_ASSERT_EQUAL(ka_attest_keys_add_file(k, path, &err), KA_ENOTFOUND);
    ka_buf_reset(&err);
    static const char junk[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    CU_ASSERT_EQUAL(ka_attest_keys_add_pem(k, junk, sizeof(junk) - 1, "junk", NULL, &err),
                    KA_EINVAL);
    CU_ASSERT_EQUAL(ka_attest_keys_add_pem(k, "hello", 5, "none", NULL, &err), KA_EINVAL);
    CU_ASSERT_EQUAL(ka_attest_keys_count(k), 0);
    /* two keys in one PEM file */
    size_t n1 = 0, n2 = 0;
    snprintf(path, sizeof(path), "%s/p256.pub", tmp);
    char *a = ka_test_slurp(path, &n1);
    snprintf(path, sizeof(path), "%s/rsa2048.pub", tmp);
    char *b = ka_test_slurp(path, &n2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    struct ka_buf both;
    ka_buf_init(&both, 1 << 16);
    CU_ASSERT_EQUAL(ka_buf_add(&both, a, n1), 0);
    CU_ASSERT_EQUAL(ka_buf_add(&both, b, n2), 0);
    CU_ASSERT_EQUAL(ka_attest_keys_add_pem(k, both.data, both.len, "both.pem", NULL, &err), 0);
    CU_ASSERT_EQUAL(ka_attest_keys_count(k), 2);
    CU_ASSERT_STRING_EQUAL(ka_attest_keys_label(k, 1), "both.pem#2");
    free(a);
    free(b);
    ka_buf_free(&both);
    ka_buf_free(&err);
    ka_attest_keys_free(k);
    ka_attest_keys_free(NULL);
}

/* ---- good attestations, every key type and container -------------------------------------- */

static void expect_pass(const char *key, const char *sign_flags, const char *want_label)
{
    char *env = make_att(key, "trivy-clean.json", D1, FINISHED, NULL, sign_flags);
    expect_text(env, IMG1, NULL, 0, NULL);
    struct ka_attest_entry e;
    struct ka_attest_index *idx = index_one(env, trusted, &e);
    CU_ASSERT_TRUE(e.verified);
    CU_ASSERT_TRUE(contains(e.verified_by, want_label));
    CU_ASSERT_PTR_NULL(e.problem);
    CU_ASSERT_STRING_EQUAL(e.digest, "sha256:" D1);
    ka_attest_index_free(idx);
    free(env);
}

static void test_good_p256(void)
{
    CU_ASSERT_FATAL(setup_ok);
    expect_pass("p256", NULL, "p256.pub");
}

static void test_good_p384(void)
{
    CU_ASSERT_FATAL(setup_ok);
    expect_pass("p384", NULL, "p384.pub");
}

static void test_good_rsa_pkcs1(void)
{
    CU_ASSERT_FATAL(setup_ok);
    expect_pass("rsa2048", NULL, "rsa2048.pub");
}

static void test_good_rsa_pss(void)
{
    CU_ASSERT_FATAL(setup_ok);
    expect_pass("rsa2048", "--pss", "rsa2048.pub");
}

static void test_good_bundle(void)
{
    CU_ASSERT_FATAL(setup_ok);
    expect_pass("p256", "--bundle", "p256.pub");
    char *env = make_att("p384", "trivy-clean.json", D1, FINISHED, NULL, "--bundle");
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    CU_ASSERT_TRUE(contains(env, "application/vnd.dev.sigstore.bundle.v0.3+json"));
    /* v0.1/v0.2 style media type, and a bundle that is not one */
    char *inner = NULL;
    cJSON *root = cJSON_Parse(env);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    cJSON_ReplaceItemInObject(root, "mediaType",
                              cJSON_CreateString("application/vnd.dev.sigstore.bundle+json;"
                                                 "version=0.2"));
    inner = cJSON_PrintUnformatted(root);
    expect_text(inner, IMG1, NULL, 0, NULL);
    free(inner);
    cJSON_DeleteItemFromObject(root, "dsseEnvelope");
    cJSON_AddObjectToObject(root, "messageSignature");
    inner = cJSON_PrintUnformatted(root);
    expect_text(inner, IMG1, NULL, KA_EATTEST, "no dsseEnvelope");
    free(inner);
    cJSON_Delete(root);
    free(env);
}

static void test_predicate_without_scheme_and_v01(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char *env = make_att("p256", "trivy-clean.json", D1, FINISHED,
                         "--predicate-type cosign.sigstore.dev/attestation/vuln/v1 "
                         "--statement-type https://in-toto.io/Statement/v0.1",
                         NULL);
    expect_text(env, IMG1, NULL, 0, NULL);
    free(env);
}

/* ---- signature failures ------------------------------------------------------------------- */

static void test_wrong_key(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char *env = make_att("other", "trivy-clean.json", D1, FINISHED, NULL, NULL);
    expect_text(env, IMG1, NULL, KA_EATTEST,
                "t.json: signature does not verify with any trusted key");
    free(env);
}

static void test_no_keys(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char *env = make_att("p256", "trivy-clean.json", D1, FINISHED, NULL, NULL);
    struct ka_attest_entry e;
    struct ka_attest_index *idx = index_one(env, NULL, &e);
    CU_ASSERT_FALSE(e.verified);
    expect_check(idx, IMG1, NULL, KA_EATTEST, "no trusted keys");
    ka_attest_index_free(idx);
    free(env);
}

static void test_tampered_payload(void)
{
    CU_ASSERT_FATAL(setup_ok);
    /* signed with 3 CRITICAL findings; the attacker rewrites them to LOW and keeps the sig */
    char *env = make_att("p256", "trivy-findings.json", D1, FINISHED, NULL, NULL);
    char *p64 = field_of(env, 0, "payload");
    size_t n = 0;
    unsigned char *payload = unb64(p64, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    char *text = calloc(1, n + 1);
    memcpy(text, payload, n);
    for (char *c = strstr(text, "\"CRITICAL\""); c != NULL; c = strstr(c, "\"CRITICAL\"")) {
        memcpy(c, "\"LOW\"     ", 10); /* same length; JSON stays valid */
    }
    char *forged64 = b64((unsigned char *)text, n);
    char *forged = envelope_with(env, 0, "payload", forged64);
    expect_text(forged, IMG1, NULL, KA_EATTEST, "signature does not verify");
    /* the untampered one fails on the findings instead */
    expect_text(env, IMG1, NULL, KA_EATTEST, "3 CRITICAL findings (max 0)");
    /* a payloadType swap is covered by the PAE too */
    char *swapped = envelope_with(env, 0, "payloadType", "application/json");
    expect_text(swapped, IMG1, NULL, KA_EATTEST, "payloadType application/json");
    free(swapped);
    free(forged);
    free(forged64);
    free(text);
    free(payload);
    free(p64);
    free(env);
}

static void test_tampered_signature(void)
{
    CU_ASSERT_FATAL(setup_ok);
    static const char *const keys[] = {"p256", "p384", "rsa2048"};
    for (size_t k = 0; k < 3; k++) {
        char *env = make_att(keys[k], "trivy-clean.json", D1, FINISHED, NULL, NULL);
        char *s64 = field_of(env, 1, "sig");
        size_t n = 0;
        unsigned char *sig = unb64(s64, &n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(sig);
        sig[n - 1] ^= 0x01; /* last byte of s (ECDSA) or of the RSA block: still well-formed */
        char *bad64 = b64(sig, n);
        char *bad = envelope_with(env, 1, "sig", bad64);
        expect_text(bad, IMG1, NULL, KA_EATTEST, "signature does not verify with any trusted key");
        free(bad);
        free(bad64);
        free(sig);
        free(s64);
        free(env);
    }
}

static void test_malformed_sig(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char *env = make_att("p256", "trivy-clean.json", D1, FINISHED, NULL, NULL);
    /* DER SEQUENCE with a length running past the end */
    static const unsigned char trunc[] = {0x30, 0x45, 0x02, 0x21, 0x00, 0x01};
    char *t64 = b64(trunc, sizeof(trunc));
    const struct {
        int sig; /* the field is in signatures[0] */
        const char *field, *value, *reason;
    } cases[] = {
        {1, "sig", "!!!not base64!!!", "not valid base64"},
        /* base64 of bytes that are not an ASN.1 DER ECDSA signature */
        {1, "sig", "MEUCIQDeadBeef", "DER"},
        {1, "sig", t64, "signature does not verify"},
        {0, "payload", "%%%%", "payload is not valid base64"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *bad = envelope_with(env, cases[i].sig, cases[i].field, cases[i].value);
        expect_text(bad, IMG1, NULL, KA_EATTEST, cases[i].reason);
        free(bad);
    }
    free(t64);
    free(env);
}

/* Base64 to its URL-safe alphabet, without padding, in place. */
static void to_url_safe(char *s)
{
    for (; *s; s++) {
        *s = *s == '+' ? '-' : *s == '/' ? '_' : *s == '=' ? '\0' : *s;
    }
}

static void test_url_safe_base64(void)
{
    CU_ASSERT_FATAL(setup_ok);
    /* DSSE allows URL-safe base64 without padding; convert both fields */
    char *env = make_att("p256", "trivy-clean.json", D1, FINISHED, NULL, NULL);
    char *p64 = field_of(env, 0, "payload"), *s64 = field_of(env, 1, "sig");
    to_url_safe(p64);
    to_url_safe(s64);
    char *e1 = envelope_with(env, 0, "payload", p64);
    char *e2 = envelope_with(e1, 1, "sig", s64);
    expect_text(e2, IMG1, NULL, 0, NULL);
    free(e1);
    free(e2);
    free(p64);
    free(s64);
    free(env);
}

static void test_keyid(void)
{
    CU_ASSERT_FATAL(setup_ok);
    struct ka_attest_keys *k = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_attest_keys_new(&k), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/p256.pub", tmp);
    size_t n = 0;
    char *pem = ka_test_slurp(path, &n);
    CU_ASSERT_EQUAL_FATAL(ka_attest_keys_add_pem(k, pem, n, "scanner", "scanner-1", NULL), 0);
    static const struct {
        const char *flags;
        int verified;
    } cases[] = {{"--keyid scanner-1", 1}, {"", 1}, {"--keyid scanner-2", 0}};
    for (size_t i = 0; i < 3; i++) {
        char *env = make_att("p256", "trivy-clean.json", D1, FINISHED, NULL, cases[i].flags);
        struct ka_attest_entry e;
        struct ka_attest_index *idx = index_one(env, k, &e);
        CU_ASSERT_EQUAL(e.verified, cases[i].verified);
        if (!cases[i].verified) {
            CU_ASSERT_TRUE(contains(e.problem, "no key has keyid scanner-2"));
        }
        ka_attest_index_free(idx);
        free(env);
    }
    free(pem);
    ka_attest_keys_free(k);
}

/* ---- statement and predicate ------------------------------------------------------------- */

static void test_digest_mismatch(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char *env = make_att("p256", "trivy-clean.json", D1, FINISHED, NULL, NULL);
    expect_text(env, IMG2, NULL, KA_EATTEST, "no attestation for sha256:" D2);
    /* same digest in capitals is the same image */
    CU_ASSERT_EQUAL(check_text(env,
                               "r/app@sha256:"
                               "1111111111111111111111111111111111111111111111111111111111111111",
                               NULL, NULL, 0),
                    0);
    free(env);
    /* several subjects: both digests are attested */
    env = make_att("p256", "trivy-clean.json", D1, FINISHED, "--digest " D2, NULL);
    expect_text(env, IMG1, NULL, 0, NULL);
    expect_text(env, IMG2, NULL, 0, NULL);
    free(env);
}

static void test_tag_only(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char *env = make_att("p256", "trivy-clean.json", D1, FINISHED, NULL, NULL);
    char why[2048];
    expect_text(env, "registry.example/app:1.2", NULL, KA_EATTEST,
                "image registry.example/app:1.2 is referenced by tag; pin the "
                "digest (repo@sha256:...)");
    expect_text(env, "registry.example/app@sha256:abc", NULL, KA_EATTEST, "no valid sha256 digest");
    CU_ASSERT_EQUAL(check_text(env, "nginx", NULL, why, sizeof(why)), KA_EATTEST);
    CU_ASSERT_TRUE(contains(why, "image nginx has no digest; pin the digest (repo@sha256:...)"));
    CU_ASSERT_FALSE(contains(why, "referenced by tag"));
    expect_text(env, "localhost:5000/app", NULL, KA_EATTEST, "has no digest");
    expect_text(env, "registry.example/app:1.2@sha256:" D1, NULL, 0, NULL);
    free(env);
}

static void test_image_digest(void)
{
    const char *h64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char img[300];
    const char *hex = NULL;
    CU_ASSERT_EQUAL(ka_image_digest(NULL, NULL), KA_DIGEST_NONE);
    CU_ASSERT_EQUAL(ka_image_digest("nginx:1.27", NULL), KA_DIGEST_NONE);
    snprintf(img, sizeof(img), "nginx@sha256:%s", h64);
    CU_ASSERT_EQUAL(ka_image_digest(img, &hex), KA_DIGEST_SHA256);
    CU_ASSERT_PTR_EQUAL(hex, img + strlen("nginx@sha256:"));
    snprintf(img, sizeof(img), "nginx@sha256:%.63s", h64); /* one digit short */
    CU_ASSERT_EQUAL(ka_image_digest(img, NULL), KA_DIGEST_MALFORMED);
    snprintf(img, sizeof(img), "nginx@sha256:%sa", h64); /* one digit too many */
    CU_ASSERT_EQUAL(ka_image_digest(img, NULL), KA_DIGEST_MALFORMED);
    snprintf(img, sizeof(img), "nginx@sha256:%.63sg", h64); /* not hex */
    CU_ASSERT_EQUAL(ka_image_digest(img, NULL), KA_DIGEST_MALFORMED);
    snprintf(img, sizeof(img), "nginx@sha512:%s%s", h64, h64);
    CU_ASSERT_EQUAL(ka_image_digest(img, NULL), KA_DIGEST_SHA512);
    snprintf(img, sizeof(img), "nginx@sha512:%s", h64); /* sha256 length under sha512 */
    CU_ASSERT_EQUAL(ka_image_digest(img, NULL), KA_DIGEST_MALFORMED);
    snprintf(img, sizeof(img), "nginx@md5:%s", h64);
    CU_ASSERT_EQUAL(ka_image_digest(img, NULL), KA_DIGEST_MALFORMED);
}

static void test_wrong_predicate(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char *env = make_att("p256", "trivy-clean.json", D1, FINISHED,
                         "--predicate-type https://slsa.dev/provenance/v1", NULL);
    expect_text(env, IMG1, NULL, KA_EATTEST,
                "predicate type https://slsa.dev/provenance/v1 is not a "
                "vulnerability scan");
    free(env);
    env = make_att("p256", "trivy-clean.json", D1, FINISHED,
                   "--statement-type https://example.com/Statement/v9", NULL);
    expect_text(env, IMG1, NULL, KA_EATTEST, "is not an in-toto Statement");
    free(env);
    env = make_att("p256", "trivy-clean.json", D1, "yesterday", NULL, NULL);
    expect_text(env, IMG1, NULL, KA_EATTEST, "not an RFC 3339 time");
    free(env);
}

static void test_stale_and_future(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char *env = make_att("p256", "trivy-clean.json", D1, "2026-11-19T09:00:00Z", NULL, NULL);
    expect_text(env, IMG1, NULL, KA_EATTEST, "scan is 9d3h old (max 7d)");
    struct ka_attest_params p;
    ka_attest_params_init(&p);
    CU_ASSERT_EQUAL(ka_duration_parse("10d", &p.max_age_s), 0);
    expect_text(env, IMG1, &p, 0, NULL);
    free(env);

    env = make_att("p256", "trivy-clean.json", D1, "2026-11-28T13:00:00+00:00", NULL, NULL);
    expect_text(env, IMG1, NULL, KA_EATTEST, "scan is dated 1h in the future (max skew 5m)");
    free(env);
    /* within the skew, with a fractional second and an offset */
    env = make_att("p256", "trivy-clean.json", D1, "2026-11-28T14:03:00.5+02:00", NULL, NULL);
    expect_text(env, IMG1, NULL, 0, NULL);
    free(env);
}

static void test_severity_limits(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char *env = make_att("p256", "trivy-findings.json", D1, FINISHED, NULL, NULL);
    expect_text(env, IMG1, NULL, KA_EATTEST, "t.json: 3 CRITICAL findings (max 0)");
    struct ka_attest_params p;
    ka_attest_params_init(&p);
    CU_ASSERT_EQUAL(ka_attest_parse_severity_limits("critical=-1,HIGH=1,Medium=0", &p), 0);
    expect_text(env, IMG1, &p, KA_EATTEST, "2 HIGH findings (max 1), 1 MEDIUM finding (max 0)");
    CU_ASSERT_EQUAL(ka_attest_parse_severity_limits("HIGH=2,MEDIUM=1,LOW=1,UNKNOWN=1", &p), 0);
    expect_text(env, IMG1, &p, 0, NULL);
    CU_ASSERT_EQUAL(ka_attest_parse_severity_limits("CRITICAL=3", &p), 0);
    expect_text(env, IMG1, &p, 0, NULL);
    free(env);
}

static void expect_counts(const char *report, const unsigned want[KA_SEV_COUNT])
{
    char *env = make_att("p384", report, D1, FINISHED, NULL, NULL);
    struct ka_attest_entry e;
    struct ka_attest_index *idx = index_one(env, trusted, &e);
    for (int s = 0; s < KA_SEV_COUNT; s++) {
        CU_ASSERT_EQUAL(e.counts[s], want[s]);
    }
    ka_attest_index_free(idx);
    free(env);
}

static void test_trivy_and_grype_counts(void)
{
    CU_ASSERT_FATAL(setup_ok);
    static const unsigned trivy[KA_SEV_COUNT] = {3, 2, 1, 1, 1};
    static const unsigned grype[KA_SEV_COUNT] = {1, 2, 1, 2, 1}; /* Negligible counts as LOW */
    static const unsigned clean[KA_SEV_COUNT] = {0, 0, 0, 0, 0};
    expect_counts("trivy-findings.json", trivy);
    expect_counts("grype-findings.json", grype);
    expect_counts("trivy-clean.json", clean);
    static const unsigned secret[KA_SEV_COUNT] = {1, 0, 1, 0, 0}; /* Results[].Secrets */
    expect_counts("trivy-secret.json", secret);
    char *env = make_att("p256", "grype-findings.json", D1, FINISHED, NULL, NULL);
    expect_text(env, IMG1, NULL, KA_EATTEST, "1 CRITICAL finding (max 0)");
    free(env);
}

static void test_unrecognised_result(void)
{
    CU_ASSERT_FATAL(setup_ok);
    /* a report that is neither Trivy nor Grype */
    char odd[512];
    snprintf(odd, sizeof(odd), "%s/odd-report.json", tmp);
    static const char text[] = "{\"vulns\":[{\"sev\":\"CRITICAL\"}]}";
    CU_ASSERT_EQUAL_FATAL(spit(odd, text, sizeof(text) - 1), 0);
    char st[512], out[512];
    snprintf(st, sizeof(st), "%s/odd-st.json", tmp);
    snprintf(out, sizeof(out), "%s/odd-env.json", tmp);
    CU_ASSERT_EQUAL_FATAL(run("bash %s/tests/attest/statement.sh --digest %s --finished %s %s > %s",
                              src, D1, FINISHED, odd, st),
                          0);
    CU_ASSERT_EQUAL_FATAL(
        run("bash %s/tests/attest/sign.sh %s/p256.key %s > %s", src, tmp, st, out), 0);
    char *env = ka_test_slurp(out, NULL);
    expect_text(env, IMG1, NULL, KA_EATTEST, "neither a Trivy report");
    free(env);
}

/* ---- containers and malformed input ------------------------------------------------------- */

static void test_json_lines(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char *a = make_att("p256", "trivy-findings.json", D1, FINISHED, NULL, NULL);
    char *b = make_att("rsa2048", "trivy-clean.json", D1, "2026-11-26T10:00:00Z", NULL, NULL);
    char *c = make_att("p384", "trivy-clean.json", D2, FINISHED, NULL, NULL);
    struct ka_buf all, diag;
    ka_buf_init(&all, 1 << 24);
    ka_buf_init(&diag, 4096);
    CU_ASSERT_EQUAL(ka_buf_adds(&all, a), 0); /* each envelope ends with \n */
    CU_ASSERT_EQUAL(ka_buf_adds(&all, "{\"payloadType\": oops\n\n"), 0);
    CU_ASSERT_EQUAL(ka_buf_adds(&all, b), 0);
    CU_ASSERT_EQUAL(ka_buf_adds(&all, c), 0);
    struct ka_attest_index *idx = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_attest_index_new(&idx), 0);
    CU_ASSERT_EQUAL(ka_attest_index_add_bytes(idx, "img.jsonl", all.data, all.len, trusted, &diag),
                    0);
    CU_ASSERT_EQUAL(ka_attest_index_count(idx), 3);
    CU_ASSERT_TRUE(contains(diag.data, "img.jsonl:2: malformed JSON"));
    struct ka_attest_entry e;
    CU_ASSERT_EQUAL(ka_attest_index_entry(idx, 1, &e), 0);
    CU_ASSERT_EQUAL(e.line, 4);
    CU_ASSERT_STRING_EQUAL(e.format, "dsse-jsonl");
    /* line 1 is the newest scan and has criticals: it decides, the older clean one on line 4
     * does not count */
    expect_check(idx, IMG1, NULL, KA_EATTEST,
                 "img.jsonl:1: 3 CRITICAL findings (max 0) (the newest verified scan decides; 1 "
                 "older scan does not count)");
    expect_check(idx, IMG2, NULL, 0, NULL);
    ka_attest_index_free(idx);
    ka_buf_free(&all);
    ka_buf_free(&diag);
    free(a);
    free(b);
    free(c);
}

static void test_malformed_json(void)
{
    CU_ASSERT_FATAL(setup_ok);
    static const char *const bad[] = {
        "",
        "   \n",
        "{",
        "[1,2,3]",
        "{\"payloadType\":\"application/vnd.in-toto+json\"}",
        "{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"e30=\","
        "\"signatures\":[]}",
        "{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"e30=\","
        "\"signatures\":[{\"sig\":\"AAAA\"}]}", /* payload {} has no subject */
        "{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"bm90IGpzb24=\","
        "\"signatures\":[{\"sig\":\"AAAA\"}]}", /* payload "not json" */
        "{\"mediaType\":\"application/json\"}",
        "{\"a\":1} trailing",
        NULL,
    };
    static const char *const want[] = {
        "file is empty",
        "file is empty",
        "malformed JSON",
        "expected a JSON object",
        "not a DSSE envelope",
        "envelope has 0 signatures",
        "statement has no subject",
        "payload is not an in-toto statement",
        "is not a Sigstore bundle",
        "unexpected data after the JSON document",
    };
    for (size_t i = 0; bad[i] != NULL; i++) {
        expect_load_error("bad.json", bad[i], strlen(bad[i]), KA_EATTEST, want[i]);
    }
}

static void test_deep_json(void)
{
    CU_ASSERT_FATAL(setup_ok);
    struct ka_buf b;
    ka_buf_init(&b, 1 << 20);
    for (int i = 0; i < 100000; i++) {
        CU_ASSERT_EQUAL_FATAL(ka_buf_add(&b, "[", 1), 0);
    }
    expect_load_error("deep", b.data, b.len, KA_EATTEST,
                      "nested deeper than 64 levels at byte offset 64");
    ka_buf_free(&b);
}

static void test_oversize(void)
{
    CU_ASSERT_FATAL(setup_ok);
    size_t n = KA_ATTEST_MAX_FILE + 1;
    char *big = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    char want[128];
    snprintf(want, sizeof(want), "big.json: file is %zu bytes, over the %u", n, KA_ATTEST_MAX_FILE);
    expect_load_error("big.json", big, n, KA_ELIMIT, want);
    free(big);
}

static void test_load_dir(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char dir[512], path[600];
    make_subdir(dir, sizeof(dir), "dir");
    char *good = make_att("p256", "trivy-clean.json", D1, FINISHED, NULL, NULL);
    char *bundle = make_att("rsa2048", "trivy-clean.json", D2, FINISHED, NULL, "--pss --bundle");
    char *wrong = make_att("other", "trivy-clean.json", D2, FINISHED, NULL, NULL);
    CU_ASSERT_EQUAL(spit_in(dir, "a-bad.json", "{nope"), 0);
    CU_ASSERT_EQUAL(spit_in(dir, "b-good.json", good), 0);
    CU_ASSERT_EQUAL(spit_in(dir, "c-bundle.json", bundle), 0);
    CU_ASSERT_EQUAL(spit_in(dir, "d-wrong-key.json", wrong), 0);
    CU_ASSERT_EQUAL(spit_in(dir, "e-empty.json", ""), 0);
    CU_ASSERT_EQUAL(spit_in(dir, ".hidden.json", "{nope"), 0); /* skipped: dot file */
    snprintf(path, sizeof(path), "%s/f-subdir", dir);          /* skipped: not a regular file */
    CU_ASSERT_EQUAL(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/g-link.json", dir); /* followed: ConfigMap style */
    CU_ASSERT_EQUAL(symlink("b-good.json", path), 0);
    /* oversize file: sparse, never read */
    CU_ASSERT_EQUAL(spit_in(dir, "h-huge.json", ""), 0);
    snprintf(path, sizeof(path), "%s/h-huge.json", dir);
    CU_ASSERT_EQUAL(truncate(path, (off_t)KA_ATTEST_MAX_FILE + 10), 0);

    struct ka_attest_index *idx = NULL;
    struct ka_buf diag;
    ka_buf_init(&diag, 8192);
    CU_ASSERT_EQUAL_FATAL(ka_attest_index_load_dir(dir, trusted, &idx, &diag), 0);
    struct ka_attest_stats st;
    ka_attest_index_stats(idx, &st);
    CU_ASSERT_EQUAL(st.files, 7);     /* a b c d e g h */
    CU_ASSERT_EQUAL(st.bad_files, 3); /* a e h */
    CU_ASSERT_EQUAL(st.attestations, 4);
    CU_ASSERT_EQUAL(st.verified, 3);
    CU_ASSERT_TRUE(contains(diag.data, "a-bad.json: malformed JSON"));
    CU_ASSERT_TRUE(contains(diag.data, "e-empty.json: file is empty"));
    char want[128];
    snprintf(want, sizeof(want), "h-huge.json: file is %u bytes", KA_ATTEST_MAX_FILE + 10);
    CU_ASSERT_TRUE(contains(diag.data, want));
    CU_ASSERT_FALSE(contains(diag.data, "hidden"));
    expect_check(idx, IMG1, NULL, 0, NULL);
    expect_check(idx, IMG2, NULL, 0, NULL); /* bundle passes */
    ka_attest_index_free(idx);

    struct ka_attest_index *none = NULL;
    CU_ASSERT_EQUAL(ka_attest_index_load_dir("/nonexistent/kadmit", trusted, &none, &diag),
                    KA_ENOTFOUND);
    CU_ASSERT_PTR_NULL(none);
    /* an empty directory is an empty index, not an error */
    make_subdir(path, sizeof(path), "empty");
    CU_ASSERT_EQUAL_FATAL(ka_attest_index_load_dir(path, trusted, &none, &diag), 0);
    CU_ASSERT_EQUAL(ka_attest_index_count(none), 0);
    expect_check(none, IMG1, NULL, KA_EATTEST, "no attestation for sha256:" D1);
    ka_attest_index_free(none);
    ka_buf_free(&diag);
    free(good);
    free(bundle);
    free(wrong);
}

static void test_reload_reuses_unchanged(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char dir[512], path[600];
    make_subdir(dir, sizeof(dir), "reload");
    char *a = make_att("p256", "trivy-clean.json", D1, FINISHED, NULL, NULL);
    char *b = make_att("p384", "trivy-findings.json", D2, FINISHED, NULL, NULL);
    char *c = make_att("rsa2048", "trivy-clean.json", D2, "2026-11-27T11:00:00Z", NULL, NULL);
    char *rogue = make_att("other", "trivy-clean.json", D1, FINISHED, NULL, NULL);
    CU_ASSERT_EQUAL(spit_in(dir, "a.json", a), 0);
    CU_ASSERT_EQUAL(spit_in(dir, "b.json", b), 0);
    CU_ASSERT_EQUAL(spit_in(dir, "bad.json", "{"), 0);

    struct ka_attest_index *first = NULL, *second = NULL, *third = NULL;
    struct ka_attest_stats st;
    struct ka_attest_params p;
    struct ka_buf diag;
    ka_buf_init(&diag, 8192);
    ka_attest_params_init(&p);
    CU_ASSERT_EQUAL_FATAL(ka_attest_index_load_dir(dir, trusted, &first, &diag), 0);
    expect_check(first, IMG1, NULL, 0, NULL);
    expect_check(first, IMG2, NULL, KA_EATTEST, NULL);

    /* a.json replaced by a forgery, c.json added, b.json and bad.json unchanged */
    CU_ASSERT_EQUAL(spit_in(dir, "a.json", rogue), 0);
    CU_ASSERT_EQUAL(spit_in(dir, "c.json", c), 0);
    ka_buf_reset(&diag);
    CU_ASSERT_EQUAL_FATAL(ka_attest_index_reload_dir(dir, trusted, first, &second, &diag), 0);
    ka_attest_index_stats(second, &st);
    CU_ASSERT_EQUAL(st.files, 4);
    CU_ASSERT_EQUAL(st.reused, 2); /* b.json and bad.json */
    CU_ASSERT_EQUAL(st.bad_files, 1);
    CU_ASSERT_EQUAL(st.attestations, 3);
    CU_ASSERT_EQUAL(st.verified, 2);
    CU_ASSERT_TRUE(contains(diag.data, "bad.json: malformed JSON")); /* still reported */
    ka_attest_index_free(first);                                     /* the new index owns copies */
    expect_check(second, IMG1, NULL, KA_EATTEST, "a.json: signature does not verify");
    expect_check(second, IMG2, NULL, 0, NULL); /* c.json is newer */
    struct ka_attest_entry e;
    CU_ASSERT_EQUAL(ka_attest_index_entry(second, 1, &e), 0);
    CU_ASSERT_STRING_EQUAL(e.source, "b.json");
    CU_ASSERT_EQUAL(e.counts[KA_SEV_CRITICAL], 3);
    CU_ASSERT_TRUE(contains(e.verified_by, "p384.pub"));

    /* another key set: nothing is reused, everything is verified again */
    struct ka_attest_keys *k = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_attest_keys_new(&k), 0);
    snprintf(path, sizeof(path), "%s/other.pub", tmp);
    CU_ASSERT_EQUAL_FATAL(ka_attest_keys_add_file(k, path, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(ka_attest_index_reload_dir(dir, k, second, &third, NULL), 0);
    ka_attest_index_stats(third, &st);
    CU_ASSERT_EQUAL(st.reused, 0);
    CU_ASSERT_EQUAL(st.verified, 1); /* only the forgery's key is trusted now */
    CU_ASSERT_EQUAL(ka_attest_check(third, IMG1, &p, now, NULL), 0);
    ka_attest_keys_free(k);
    ka_attest_index_free(second);
    ka_attest_index_free(third);
    ka_buf_free(&diag);
    free(a);
    free(b);
    free(c);
    free(rogue);
}

static void test_load_dir_many(void)
{
    CU_ASSERT_FATAL(setup_ok);
    /* enough files for several loader threads; results merge back in name order */
    char dir[512];
    make_subdir(dir, sizeof(dir), "many");
    char *good = make_att("p256", "trivy-clean.json", D1, FINISHED, NULL, NULL);
    char *other = make_att("rsa2048", "trivy-findings.json", D2, FINISHED, NULL, "--pss");
    for (int i = 0; i < 300; i++) {
        char name[32];
        snprintf(name, sizeof(name), "f%03d.json", i);
        CU_ASSERT_EQUAL(spit_in(dir, name, i == 150 ? "{broken" : (i % 2) ? other : good), 0);
    }
    struct ka_attest_index *idx = NULL, *again = NULL;
    struct ka_buf diag;
    ka_buf_init(&diag, 8192);
    CU_ASSERT_EQUAL_FATAL(ka_attest_index_load_dir(dir, trusted, &idx, &diag), 0);
    struct ka_attest_stats st;
    ka_attest_index_stats(idx, &st);
    CU_ASSERT_EQUAL(st.files, 300);
    CU_ASSERT_EQUAL(st.bad_files, 1);
    CU_ASSERT_EQUAL(st.attestations, 299);
    CU_ASSERT_EQUAL(st.verified, 299);
    CU_ASSERT_TRUE(contains(diag.data, "f150.json: malformed JSON"));
    int in_order = 1;
    for (size_t i = 0; i < ka_attest_index_count(idx); i++) {
        struct ka_attest_entry e;
        char want[32];
        CU_ASSERT_EQUAL_FATAL(ka_attest_index_entry(idx, i, &e), 0);
        snprintf(want, sizeof(want), "f%03zu.json", i < 150 ? i : i + 1);
        in_order &= strcmp(e.source, want) == 0;
        in_order &= strcmp(e.digest, (i < 150 ? i : i + 1) % 2 ? "sha256:" D2 : "sha256:" D1) == 0;
    }
    CU_ASSERT_TRUE(in_order);
    expect_check(idx, IMG1, NULL, 0, NULL);
    expect_check(idx, IMG2, NULL, KA_EATTEST, "3 CRITICAL findings (max 0); ");
    expect_check(idx, IMG2, NULL, KA_EATTEST, "; and 142 more"); /* 150 candidates, 8 listed */
    CU_ASSERT_EQUAL_FATAL(ka_attest_index_reload_dir(dir, trusted, idx, &again, NULL), 0);
    ka_attest_index_stats(again, &st);
    CU_ASSERT_EQUAL(st.reused, 300);
    CU_ASSERT_EQUAL(st.verified, 299);
    ka_attest_index_free(idx);
    ka_attest_index_free(again);
    ka_buf_free(&diag);
    free(good);
    free(other);
}

/* ---- newest scan, per-document limits, key files ----------------------------------------- */

/* Index `texts` (NULL-terminated) as JSON Lines of one file; returns the index. */
static struct ka_attest_index *index_lines(const char *const *texts, struct ka_buf *diag)
{
    struct ka_attest_index *idx = NULL;
    struct ka_buf all;
    ka_buf_init(&all, 1u << 26);
    for (size_t i = 0; texts[i] != NULL; i++) {
        CU_ASSERT_EQUAL(ka_buf_adds(&all, texts[i]), 0);
    }
    CU_ASSERT_EQUAL_FATAL(ka_attest_index_new(&idx), 0);
    int r = ka_attest_index_add_bytes(idx, "scans.jsonl", all.data, all.len, trusted, diag);
    CU_ASSERT_TRUE(r == 0 || r == KA_EATTEST);
    ka_buf_free(&all);
    return idx;
}

static void test_newest_scan_decides(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char *old_clean = make_att("p256", "trivy-clean.json", D1, "2026-11-26T10:00:00Z", NULL, NULL);
    char *new_bad = make_att("p384", "trivy-findings.json", D1, FINISHED, NULL, NULL);
    char *old_bad = make_att("p256", "trivy-findings.json", D1, "2026-11-25T10:00:00Z", NULL, NULL);
    char *new_clean = make_att("rsa2048", "trivy-clean.json", D1, FINISHED, NULL, NULL);
    char *forged = make_att("other", "trivy-findings.json", D1, "2026-11-28T11:00:00Z", NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(forged);
    struct ka_attest_params p;
    ka_attest_params_init(&p);
    struct ka_buf why;
    ka_buf_init(&why, 8192);

    /* an older clean scan does not outvote a newer one that found criticals (order in the file
     * does not matter) */
    const char *const a[] = {new_bad, old_clean, NULL};
    struct ka_attest_index *idx = index_lines(a, NULL);
    CU_ASSERT_EQUAL(ka_attest_check(idx, IMG1, &p, now, &why), KA_EATTEST);
    CU_ASSERT_TRUE(contains(why.data, "scans.jsonl:1: 3 CRITICAL findings (max 0) (the newest "
                                      "verified scan decides; 1 older scan does not count)"));
    CU_ASSERT_FALSE(contains(why.data, "scans.jsonl:2"));
    struct ka_attest_entry e;
    CU_ASSERT_EQUAL(ka_attest_index_entry(idx, 0, &e), 0);
    CU_ASSERT_TRUE(e.decides);
    CU_ASSERT_EQUAL(ka_attest_index_entry(idx, 1, &e), 0);
    CU_ASSERT_FALSE(e.decides);
    ka_attest_index_free(idx);

    /* a newer clean scan fixes an older failing one */
    const char *const b[] = {old_bad, new_clean, NULL};
    idx = index_lines(b, NULL);
    CU_ASSERT_EQUAL(ka_attest_check(idx, IMG1, &p, now, NULL), 0);
    ka_attest_index_free(idx);

    /* a newer scan signed by an untrusted key decides nothing */
    const char *const c[] = {forged, new_clean, NULL};
    idx = index_lines(c, NULL);
    CU_ASSERT_EQUAL(ka_attest_check(idx, IMG1, &p, now, NULL), 0);
    ka_attest_index_free(idx);

    /* two scans finished the same second must both pass */
    const char *const d[] = {new_clean, new_bad, NULL};
    idx = index_lines(d, NULL);
    expect_check(idx, IMG1, &p, KA_EATTEST, "scans.jsonl:2: 3 CRITICAL findings");
    ka_attest_index_free(idx);

    /* the newest scan is judged on age too: a stale newest scan is not rescued by nothing */
    p.max_age_s = 3600;
    const char *const e2[] = {new_clean, old_clean, NULL};
    idx = index_lines(e2, NULL);
    expect_check(idx, IMG1, &p, KA_EATTEST, "scans.jsonl:1: scan is 1d2h old (max 1h)");
    ka_attest_index_free(idx);

    ka_buf_free(&why);
    free(old_clean);
    free(new_bad);
    free(old_bad);
    free(new_clean);
    free(forged);
}

static void test_per_document_limits(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char *clean = make_att("p256", "trivy-clean.json", D1, FINISHED, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(clean);
    /* one line over the per-document limit, between two good ones: the file is over the old
     * whole-file limit too, and its good documents still count */
    size_t n = KA_ATTEST_MAX_DOCUMENT + 100;
    char *big = malloc(n + 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, ' ', n);
    memcpy(big, "{\"payload\":\"", 12);
    memcpy(big + n - 2, "\"}", 2);
    big[n] = '\n';
    big[n + 1] = '\0';
    const char *const lines[] = {clean, big, clean, NULL};
    struct ka_buf diag;
    ka_buf_init(&diag, 8192);
    struct ka_attest_index *idx = index_lines(lines, &diag);
    char want[160];
    snprintf(want, sizeof(want),
             "scans.jsonl:2: document is %zu bytes, over the %u byte limit per envelope or "
             "bundle; dropped",
             n, KA_ATTEST_MAX_DOCUMENT);
    CU_ASSERT_TRUE(contains(diag.data, want));
    CU_ASSERT_EQUAL(ka_attest_index_count(idx), 2);
    struct ka_attest_params p;
    ka_attest_params_init(&p);
    CU_ASSERT_EQUAL(ka_attest_check(idx, IMG1, &p, now, NULL), 0);
    /* a digest with no attestation is told what was dropped, since it may have been there */
    snprintf(want, sizeof(want),
             "no attestation for sha256:" D2 " (1 document over the %u byte limit was dropped at "
             "load, first scans.jsonl:2 (%zu bytes))",
             KA_ATTEST_MAX_DOCUMENT, n);
    expect_check(idx, IMG2, &p, KA_EATTEST, want);
    ka_attest_index_free(idx);
    /* one whole-file document over the limit */
    expect_load_error("one.json", big, n, KA_EATTEST, "one.json: document is");
    ka_buf_free(&diag);
    free(big);
    free(clean);
}

static void test_keep_newest_per_file(void)
{
    CU_ASSERT_FATAL(setup_ok);
    enum { N = KA_ATTEST_KEEP_PER_FILE + 2 };
    char *scans[N + 1];
    for (int i = 0; i < N; i++) { /* scan i finished on 2026-11-27 at i:00, newest last */
        char t[32];
        snprintf(t, sizeof(t), "2026-11-27T%02d:00:00Z", i);
        scans[i] = make_att("p256", "trivy-clean.json", D1, t, NULL, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(scans[i]);
    }
    scans[N] = NULL;
    struct ka_buf diag;
    ka_buf_init(&diag, 8192);
    struct ka_attest_index *idx = index_lines((const char *const *)scans, &diag);
    CU_ASSERT_EQUAL(ka_attest_index_count(idx), N);
    char want[160];
    snprintf(want, sizeof(want),
             "scans.jsonl:1: dropped: the file holds more than %d verified scans and only the "
             "newest %d are kept",
             KA_ATTEST_KEEP_PER_FILE, KA_ATTEST_KEEP_PER_FILE);
    CU_ASSERT_TRUE(contains(diag.data, want));
    CU_ASSERT_TRUE(contains(diag.data, "scans.jsonl:2: dropped"));
    CU_ASSERT_FALSE(contains(diag.data, "scans.jsonl:3: dropped"));
    struct ka_attest_entry e;
    CU_ASSERT_EQUAL(ka_attest_index_entry(idx, 0, &e), 0);
    CU_ASSERT_TRUE(contains(e.problem, "dropped"));
    CU_ASSERT_EQUAL(ka_attest_index_entry(idx, N - 1, &e), 0);
    CU_ASSERT_PTR_NULL(e.problem);
    CU_ASSERT_TRUE(e.decides);
    ka_attest_index_free(idx);
    ka_buf_free(&diag);
    for (int i = 0; i < N; i++) {
        free(scans[i]);
    }
}

static void test_mixed_bundles_and_envelopes(void)
{
    CU_ASSERT_FATAL(setup_ok);
    /* cosign v3 pushes bundles, older versions .att envelopes; one download may hold both */
    char *env = make_att("p256", "trivy-clean.json", D1, "2026-11-26T10:00:00Z", NULL, NULL);
    char *bundle = make_att("p384", "trivy-findings.json", D1, FINISHED, NULL, "--bundle");
    char *bundle2 = make_att("rsa2048", "trivy-clean.json", D2, FINISHED, NULL, "--pss --bundle");
    const char *const lines[] = {env, bundle, bundle2, NULL};
    struct ka_attest_index *idx = index_lines(lines, NULL);
    CU_ASSERT_EQUAL_FATAL(ka_attest_index_count(idx), 3);
    struct ka_attest_entry e;
    CU_ASSERT_EQUAL(ka_attest_index_entry(idx, 0, &e), 0);
    CU_ASSERT_STRING_EQUAL(e.format, "dsse-jsonl");
    CU_ASSERT_EQUAL(ka_attest_index_entry(idx, 1, &e), 0);
    CU_ASSERT_STRING_EQUAL(e.format, "sigstore-bundle");
    CU_ASSERT_TRUE(e.verified);
    CU_ASSERT_EQUAL(e.line, 2);
    expect_check(idx, IMG1, NULL, KA_EATTEST, "scans.jsonl:2: 3 CRITICAL"); /* newer bundle */
    struct ka_attest_params p;
    ka_attest_params_init(&p);
    CU_ASSERT_EQUAL(ka_attest_check(idx, IMG2, &p, now, NULL), 0);
    ka_attest_index_free(idx);
    free(env);
    free(bundle);
    free(bundle2);
}

static void test_pub_glob_and_ed25519(void)
{
    CU_ASSERT_FATAL(setup_ok);
    char dir[512], path[700];
    make_subdir(dir, sizeof(dir), "keydir");
    /* cosign generate-key-pair writes cosign.pub; the default glob is *.{pem,pub} */
    CU_ASSERT_EQUAL(
        run("cp %s/p256.pub %s/cosign.pub && cp %s/rsa2048.pub %s/scanner.pem", tmp, dir, tmp, dir),
        0);
    struct ka_attest_keys *k = NULL;
    struct ka_buf err;
    ka_buf_init(&err, 1024);
    CU_ASSERT_EQUAL_FATAL(ka_attest_keys_new(&k), 0);
    snprintf(path, sizeof(path), "%s/*.{pem,pub}", dir);
    CU_ASSERT_EQUAL(ka_attest_keys_add_file(k, path, &err), 0);
    CU_ASSERT_EQUAL(ka_attest_keys_count(k), 2);
    ka_attest_keys_free(k);
    /* Ed25519, which cosign accepts: refused by name, not as an unreadable PEM */
    CU_ASSERT_EQUAL(run("openssl genpkey -algorithm ED25519 -out %s/ed.key 2>/dev/null && openssl "
                        "pkey -in %s/ed.key -pubout -out %s/ed.pub",
                        tmp, tmp, tmp),
                    0);
    CU_ASSERT_EQUAL_FATAL(ka_attest_keys_new(&k), 0);
    snprintf(path, sizeof(path), "%s/ed.pub", tmp);
    CU_ASSERT_EQUAL(ka_attest_keys_add_file(k, path, &err), KA_EINVAL);
    CU_ASSERT_TRUE(contains(err.data, "ed.pub: Ed25519 keys are not supported by this build (use "
                                      "ECDSA P-256/P-384 or RSA)"));
    CU_ASSERT_EQUAL(ka_attest_keys_count(k), 0);
    ka_attest_keys_free(k);
    ka_buf_free(&err);
}

/* ---- parsers ------------------------------------------------------------------------------ */

static void test_durations_and_times(void)
{
    struct ka_buf b;
    ka_buf_init(&b, 64);
    CU_ASSERT_EQUAL(ka_attest_format_duration(&b, 9 * 86400 + 3 * 3600 + 59), 0);
    CU_ASSERT_STRING_EQUAL(b.data, "9d3h");
    ka_buf_reset(&b);
    CU_ASSERT_EQUAL(ka_attest_format_duration(&b, 300), 0);
    CU_ASSERT_STRING_EQUAL(b.data, "5m");
    ka_buf_free(&b);

    int64_t t = 0;
    CU_ASSERT_EQUAL(ka_attest_parse_time("1970-01-01T00:00:00Z", 20, &t), 0);
    CU_ASSERT_EQUAL(t, 0);
    CU_ASSERT_EQUAL(ka_attest_parse_time("2024-02-29T12:00:00.123456789Z", 30, &t), 0);
    CU_ASSERT_EQUAL(t, 1709208000);
    CU_ASSERT_EQUAL(ka_attest_parse_time("2024-02-29T14:00:00+02:00", 25, &t), 0);
    CU_ASSERT_EQUAL(t, 1709208000);
    static const char *const badt[] = {"2023-02-29T00:00:00Z",  "2024-13-01T00:00:00Z",
                                       "2024-01-01T00:00:00",   "2024-01-01 00:00Z",
                                       "2024-01-01T00:00:00Zx", "2024-01-01T00:00:00.Z"};
    for (size_t i = 0; i < sizeof(badt) / sizeof(badt[0]); i++) {
        CU_ASSERT_EQUAL(ka_attest_parse_time(badt[i], strlen(badt[i]), &t), KA_EINVAL);
    }
    struct ka_attest_params p;
    ka_attest_params_init(&p);
    CU_ASSERT_EQUAL(p.max_age_s, 168 * 3600);
    CU_ASSERT_EQUAL(p.max_future_skew_s, 300);
    CU_ASSERT_EQUAL(p.max_severity[KA_SEV_CRITICAL], 0);
    CU_ASSERT_EQUAL(p.max_severity[KA_SEV_HIGH], -1);
    CU_ASSERT_EQUAL(ka_attest_parse_severity_limits("BOGUS=1", &p), KA_EINVAL);
    CU_ASSERT_EQUAL(ka_attest_parse_severity_limits("HIGH=", &p), KA_EINVAL);
    CU_ASSERT_EQUAL(ka_attest_parse_severity_limits("HIGH=1,", &p), KA_EINVAL);
    CU_ASSERT_EQUAL(ka_attest_parse_severity_limits("HIGH=-2", &p), KA_EINVAL);
    CU_ASSERT_EQUAL(p.max_severity[KA_SEV_HIGH], -1); /* unchanged after errors */
    CU_ASSERT_EQUAL(ka_attest_sev_parse("Negligible", 10), KA_SEV_LOW);
    CU_ASSERT_EQUAL(ka_attest_sev_parse("high", 4), KA_SEV_HIGH);
    CU_ASSERT_EQUAL(ka_attest_sev_parse("severe", 6), -1);
}

static void test_cleanup(void)
{
    ka_attest_keys_free(trusted);
    trusted = NULL;
    if (tmp[0] != '\0' && getenv("KADMIT_KEEP_TMP") == NULL) {
        CU_ASSERT_EQUAL(ka_test_remove_tree(tmp), 0);
    }
}

static const struct ka_test tests[] = {
    {"setup (openssl keys)", test_setup},
    {"key_rejects", test_key_rejects},
    {"good_p256", test_good_p256},
    {"good_p384", test_good_p384},
    {"good_rsa_pkcs1", test_good_rsa_pkcs1},
    {"good_rsa_pss", test_good_rsa_pss},
    {"good_bundle", test_good_bundle},
    {"predicate_without_scheme_and_v01", test_predicate_without_scheme_and_v01},
    {"wrong_key", test_wrong_key},
    {"no_keys", test_no_keys},
    {"tampered_payload", test_tampered_payload},
    {"tampered_signature", test_tampered_signature},
    {"malformed_sig", test_malformed_sig},
    {"url_safe_base64", test_url_safe_base64},
    {"keyid", test_keyid},
    {"digest_mismatch", test_digest_mismatch},
    {"tag_only", test_tag_only},
    {"image_digest", test_image_digest},
    {"wrong_predicate", test_wrong_predicate},
    {"stale_and_future", test_stale_and_future},
    {"severity_limits", test_severity_limits},
    {"trivy_and_grype_counts", test_trivy_and_grype_counts},
    {"unrecognised_result", test_unrecognised_result},
    {"json_lines", test_json_lines},
    {"malformed_json", test_malformed_json},
    {"deep_json", test_deep_json},
    {"oversize", test_oversize},
    {"load_dir", test_load_dir},
    {"reload_reuses_unchanged", test_reload_reuses_unchanged},
    {"load_dir_many", test_load_dir_many},
    {"durations_and_times", test_durations_and_times},
    {"newest_scan_decides", test_newest_scan_decides},
    {"per_document_limits", test_per_document_limits},
    {"keep_newest_per_file", test_keep_newest_per_file},
    {"mixed_bundles_and_envelopes", test_mixed_bundles_and_envelopes},
    {"pub_glob_and_ed25519", test_pub_glob_and_ed25519},
    {"cleanup", test_cleanup},
    {NULL, NULL},
};

KA_TEST_MAIN("attest", tests)
