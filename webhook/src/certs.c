/* Webhook certificates: private CA + serving certificate, idempotent renewal, caBundle. */
#include "kadmit/certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/base64.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>
#include <yaml.h>

#include "kadmit/duration.h"
#include "kadmit/error.h"
#include "kadmit/file.h"
#include "kadmit/tls.h"
#include "mbedtls_compat.h"

/* Private keys in PEM: RSA-3072 PKCS#1 is ~2.5 KB. Certificates: a few KB with 36 SANs. */
#define KEY_PEM_MAX 8192
#define CRT_PEM_MAX 16384
#define SAN_DER_MAX 12288

static const char *const key_type_names[] = {"ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072"};

/* ---- small helpers ------------------------------------------------------------------------ */

int ka_certs_parse_key_type(const char *s, enum ka_certs_key_type *out)
{
    for (size_t i = 0; i < sizeof(key_type_names) / sizeof(key_type_names[0]); i++) {
        if (s != NULL && strcmp(s, key_type_names[i]) == 0) {
            *out = (enum ka_certs_key_type)i;
            return 0;
        }
    }
    return KA_EINVAL;
}

const char *ka_certs_key_type_name(enum ka_certs_key_type t)
{
    if ((size_t)t < sizeof(key_type_names) / sizeof(key_type_names[0])) {
        return key_type_names[t];
    }
    return "unknown";
}

const char *ka_certs_action_name(enum ka_certs_action a)
{
    switch (a) {
    case KA_CERTS_KEPT:
        return "kept";
    case KA_CERTS_CREATED:
        return "created";
    case KA_CERTS_RENEWED:
        return "renewed";
    }
    return "unknown";
}

int ka_certs_parse_duration(const char *s, int64_t *seconds)
{
    int64_t v = 0;
    if (ka_duration_parse(s, &v) != 0 || v > KA_CERTS_MAX_DURATION) {
        return KA_EINVAL;
    }
    *seconds = v;
    return 0;
}

void ka_certs_opts_init(struct ka_certs_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->service = "kadmit";
    o->namespace = "kadmit-system";
    o->key_type = KA_CERTS_KEY_ECDSA_P256;
    o->ca_validity = 3650LL * 86400;
    o->validity = 365LL * 86400;
    o->renew_before = 30LL * 86400;
}

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, as Kubernetes names Services and Namespaces. */
static int is_dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > KA_CERTS_MAX_LABEL_LEN || s[0] == '-' || s[n - 1] == '-') {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            return 0;
        }
    }
    return 1;
}

/* A DNS name for a SAN: dot-separated labels of letters, digits and '-', "*." prefix allowed. */
static int is_dns_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > KA_CERTS_MAX_DNS_LEN) {
        return 0;
    }
    if (s[0] == '*' && s[1] == '.') {
        s += 2;
    }
    size_t label = 0;
    for (const char *p = s;; p++) {
        char c = *p;
        if (c == '.' || c == '\0') {
            if (label == 0 || label > KA_CERTS_MAX_LABEL_LEN || p[-1] == '-') {
                return 0;
            }
            if (c == '\0') {
                return 1;
            }
            label = 0;
            continue;
        }
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 (c == '-' && label > 0);
        if (!ok) {
            return 0;
        }
        label++;
    }
}

/* IP text to bytes: 4 or 16, or 0 when it is not an address. */
static size_t parse_ip(const char *s, unsigned char out[16])
{
    if (inet_pton(AF_INET, s, out) == 1) {
        return 4;
    }
    if (inet_pton(AF_INET6, s, out) == 1) {
        return 16;
    }
    return 0;
}

int ka_certs_opts_check(const struct ka_certs_opts *o, struct ka_buf *diag)
{
    const char *what = NULL;
    const char *value = "";
    unsigned char ip[16];
    if (o->service == NULL || !is_dns_label(o->service)) {
        what = "--service must be a DNS label (lower case letters, digits, '-', at most 63)";
        value = o->service ? o->service : "";
    } else if (o->namespace == NULL || !is_dns_label(o->namespace)) {
        what = "--namespace must be a DNS label (lower case letters, digits, '-', at most 63)";
        value = o->namespace ? o->namespace : "";
    } else if (o->n_dns > KA_CERTS_MAX_NAMES || o->n_ip > KA_CERTS_MAX_NAMES) {
        what = "too many --dns or --ip names (at most 32 of each)";
    } else if (o->ca_validity <= 0 || o->validity <= 0 || o->renew_before < 0) {
        what = "validity must be positive and --renew-before not negative";
    }
    for (size_t i = 0; what == NULL && i < o->n_dns; i++) {
        if (!is_dns_name(o->dns[i])) {
            what = "--dns is not a valid DNS name";
            value = o->dns[i];
        }
    }
    for (size_t i = 0; what == NULL && i < o->n_ip; i++) {
        if (parse_ip(o->ip[i], ip) == 0) {
            what = "--ip is not an IPv4 or IPv6 address";
            value = o->ip[i];
        }
    }
    if (what == NULL) {
        return 0;
    }
    ka_buf_diag(diag, "%s%s%s%s", what, *value ? ": \"" : "", value, *value ? "\"" : "");
    return KA_EINVAL;
}

/* ---- base64, time --------------------------------------------------------------------------- */

int ka_certs_base64(const char *pem, size_t len, struct ka_buf *out)
{
    size_t need = 0;
    (void)mbedtls_base64_encode(NULL, 0, &need, (const unsigned char *)pem, len);
    char *tmp = malloc(need);
    if (tmp == NULL) {
        return KA_ENOMEM;
    }
    int ret = KA_EINTERNAL;
    size_t olen = 0;
    if (mbedtls_base64_encode((unsigned char *)tmp, need, &olen, (const unsigned char *)pem, len) !=
        0) {
        goto cleanup;
    }
    ret = ka_buf_add(out, tmp, olen);
cleanup:
    free(tmp);
    return ret;
}

/* "YYYYMMDDHHMMSS" in UTC, as mbedtls_x509write_crt_set_validity() wants. */
static int format_x509_time(time_t t, char out[16])
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        return KA_EINVAL;
    }
    if (strftime(out, 16, "%Y%m%d%H%M%S", &tm) != 14) {
        return KA_EINVAL;
    }
    return 0;
}

/* "3d", "5h", "12m", "expired". */
static void format_remaining(int64_t seconds, char *out, size_t size)
{
    if (seconds <= 0) {
        snprintf(out, size, "expired");
    } else if (seconds >= 86400) {
        snprintf(out, size, "expires in %lldd", (long long)(seconds / 86400));
    } else if (seconds >= 3600) {
        snprintf(out, size, "expires in %lldh", (long long)(seconds / 3600));
    } else {
        snprintf(out, size, "expires in %lldm", (long long)(seconds / 60));
    }
}

static time_t opts_now(const struct ka_certs_opts *o)
{
    return o->now != 0 ? o->now : time(NULL);
}

/* ---- random, keys -----------------------------------------------------------------------------
 */

struct rng {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    int seeded;
};

static void rng_init(struct rng *r)
{
    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    r->seeded = 0;
}

static void rng_free(struct rng *r)
{
    mbedtls_ctr_drbg_free(&r->drbg);
    mbedtls_entropy_free(&r->entropy);
    r->seeded = 0;
}

static int rng_seed(struct rng *r)
{
    static const char pers[] = "kadmit certs";
    if (r->seeded) {
        return 0;
    }
    if (mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
                              (const unsigned char *)pers, sizeof(pers) - 1) != 0) {
        return KA_ECERT;
    }
    r->seeded = 1;
    return 0;
}

static int key_generate(mbedtls_pk_context *pk, enum ka_certs_key_type type, struct rng *r)
{
    int ret = KA_ECERT;
    switch (type) {
    case KA_CERTS_KEY_ECDSA_P256:
    case KA_CERTS_KEY_ECDSA_P384:
        if (mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0) {
            goto cleanup;
        }
        if (mbedtls_ecp_gen_key(type == KA_CERTS_KEY_ECDSA_P256 ? MBEDTLS_ECP_DP_SECP256R1
                                                                : MBEDTLS_ECP_DP_SECP384R1,
                                mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random, &r->drbg) != 0) {
            goto cleanup;
        }
        break;
    case KA_CERTS_KEY_RSA_2048:
    case KA_CERTS_KEY_RSA_3072:
        if (mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)) != 0) {
            goto cleanup;
        }
        if (mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk), mbedtls_ctr_drbg_random, &r->drbg,
                                type == KA_CERTS_KEY_RSA_2048 ? 2048 : 3072, 65537) != 0) {
            goto cleanup;
        }
        break;
    default:
        goto cleanup;
    }
    ret = 0;
cleanup:
    return ret;
}

/* The key type of a key or certificate's public key; -1 when it is none of ours. */
static int key_type_of(const mbedtls_pk_context *pk)
{
    if (mbedtls_pk_get_type(pk) == MBEDTLS_PK_ECKEY) {
        switch (ka_pk_ec_group_id(pk)) {
        case MBEDTLS_ECP_DP_SECP256R1:
            return KA_CERTS_KEY_ECDSA_P256;
        case MBEDTLS_ECP_DP_SECP384R1:
            return KA_CERTS_KEY_ECDSA_P384;
        default:
            return -1;
        }
    }
    if (mbedtls_pk_get_type(pk) == MBEDTLS_PK_RSA) {
        size_t bits = mbedtls_pk_get_bitlen(pk);
        return bits == 2048 ? KA_CERTS_KEY_RSA_2048 : bits == 3072 ? KA_CERTS_KEY_RSA_3072 : -1;
    }
    return -1;
}

/* ---- certificate writing ----------------------------------------------------------------------
 */

/* SubjectAltName ::= GeneralNames ::= SEQUENCE OF GeneralName; dNSName [2], iPAddress [7]. */
static int san_der_write(unsigned char *start, unsigned char **p, const char *const *dns,
                         size_t n_dns, const unsigned char (*ips)[16], const size_t *ip_lens,
                         size_t n_ip)
{
    int ret = 0;
    size_t len = 0;
    for (size_t i = n_ip; i > 0; i--) {
        MBEDTLS_ASN1_CHK_ADD(len,
                             mbedtls_asn1_write_raw_buffer(p, start, ips[i - 1], ip_lens[i - 1]));
        MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(p, start, ip_lens[i - 1]));
        MBEDTLS_ASN1_CHK_ADD(len,
                             mbedtls_asn1_write_tag(p, start, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7));
    }
    for (size_t i = n_dns; i > 0; i--) {
        size_t n = strlen(dns[i - 1]);
        MBEDTLS_ASN1_CHK_ADD(
            len, mbedtls_asn1_write_raw_buffer(p, start, (const unsigned char *)dns[i - 1], n));
        MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(p, start, n));
        MBEDTLS_ASN1_CHK_ADD(len,
                             mbedtls_asn1_write_tag(p, start, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2));
    }
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(p, start, len));
    MBEDTLS_ASN1_CHK_ADD(
        len, mbedtls_asn1_write_tag(p, start, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    return (int)len;
}

/* The names a leaf must carry: the four Service names, then --dns. Strings live in `store`. */
struct names {
    const char *dns[4 + KA_CERTS_MAX_NAMES];
    size_t n_dns;
    unsigned char ip[KA_CERTS_MAX_NAMES][16];
    size_t ip_len[KA_CERTS_MAX_NAMES];
    size_t n_ip;
    char store[4][KA_CERTS_MAX_DNS_LEN + 1];
};

static int names_build(struct names *nm, const struct ka_certs_opts *o)
{
    memset(nm, 0, sizeof(*nm));
    int n0 = snprintf(nm->store[0], sizeof(nm->store[0]), "%s", o->service);
    int n1 = snprintf(nm->store[1], sizeof(nm->store[1]), "%s.%s", o->service, o->namespace);
    int n2 = snprintf(nm->store[2], sizeof(nm->store[2]), "%s.%s.svc", o->service, o->namespace);
    int n3 = snprintf(nm->store[3], sizeof(nm->store[3]), "%s.%s.svc.cluster.local", o->service,
                      o->namespace);
    if (n0 < 0 || n1 < 0 || n2 < 0 || n3 < 0 || (size_t)n3 >= sizeof(nm->store[3])) {
        return KA_EINVAL;
    }
    for (size_t i = 0; i < 4; i++) {
        nm->dns[nm->n_dns++] = nm->store[i];
    }
    for (size_t i = 0; i < o->n_dns && i < KA_CERTS_MAX_NAMES; i++) {
        nm->dns[nm->n_dns++] = o->dns[i];
    }
    for (size_t i = 0; i < o->n_ip && i < KA_CERTS_MAX_NAMES; i++) {
        nm->ip_len[i] = parse_ip(o->ip[i], nm->ip[i]);
        if (nm->ip_len[i] == 0) {
            return KA_EINVAL;
        }
        nm->n_ip++;
    }
    return 0;
}

/* extKeyUsage: SEQUENCE { id-kp-serverAuth } */
static const unsigned char eku_server_auth_der[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
                                                    0x01, 0x05, 0x05, 0x07, 0x03, 0x01};

struct crt_spec {
    const char *subject; /* "CN=...,O=..." */
    int is_ca;
    time_t not_before, not_after;
    mbedtls_pk_context *subject_key;
    mbedtls_pk_context *issuer_key;
    const char *issuer_subject;      /* self-signed CA: == subject */
    const mbedtls_x509_name *issuer; /* leaf: the CA certificate's subject, copied exactly */
    const struct names *names;       /* leaf only */
};

/*
 * Copy a parsed Name into a writer's list. The writer emits its list head last, the parser keeps
 * DER order, so prepending each entry reproduces the CA's subject byte for byte (string types
 * included), which is what chain building compares.
 */
static int name_copy(mbedtls_asn1_named_data **dst, const mbedtls_x509_name *src)
{
    for (const mbedtls_x509_name *cur = src; cur != NULL; cur = cur->next) {
        mbedtls_asn1_named_data *n = calloc(1, sizeof(*n));
        if (n == NULL) {
            return KA_ENOMEM;
        }
        n->oid.tag = cur->oid.tag;
        n->oid.len = cur->oid.len;
        n->val.tag = cur->val.tag;
        n->val.len = cur->val.len;
        n->oid.p = malloc(cur->oid.len + 1);
        n->val.p = malloc(cur->val.len + 1);
        n->next = *dst;
        *dst = n; /* owned by the list from here on, freed with it */
        if (n->oid.p == NULL || n->val.p == NULL) {
            return KA_ENOMEM;
        }
        memcpy(n->oid.p, cur->oid.p, cur->oid.len);
        memcpy(n->val.p, cur->val.p, cur->val.len);
    }
    return 0;
}

static mbedtls_md_type_t md_for(const mbedtls_pk_context *issuer_key)
{
    return key_type_of(issuer_key) == KA_CERTS_KEY_ECDSA_P384 ? MBEDTLS_MD_SHA384
                                                              : MBEDTLS_MD_SHA256;
}

static int crt_write_pem(const struct crt_spec *s, struct rng *r, unsigned char *pem,
                         size_t pem_size)
{
    int ret = KA_ECERT;
    mbedtls_x509write_cert crt;
    unsigned char serial_bytes[16];
    unsigned char *san = NULL;
    char from[16], to[16];

    mbedtls_x509write_crt_init(&crt);

    if (format_x509_time(s->not_before, from) != 0 || format_x509_time(s->not_after, to) != 0) {
        goto cleanup;
    }
    /* 16 random bytes; top bit cleared so the DER INTEGER stays positive, never zero. */
    if (mbedtls_ctr_drbg_random(&r->drbg, serial_bytes, sizeof(serial_bytes)) != 0) {
        goto cleanup;
    }
    serial_bytes[0] = (unsigned char)((serial_bytes[0] & 0x7f) | 0x40);

    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, md_for(s->issuer_key));
    mbedtls_x509write_crt_set_subject_key(&crt, s->subject_key);
    mbedtls_x509write_crt_set_issuer_key(&crt, s->issuer_key);
    if (ka_x509write_crt_set_serial(&crt, serial_bytes, sizeof(serial_bytes)) != 0 ||
        mbedtls_x509write_crt_set_validity(&crt, from, to) != 0 ||
        mbedtls_x509write_crt_set_subject_name(&crt, s->subject) != 0 ||
        (s->issuer != NULL ? name_copy(KA_X509WRITE_ISSUER(&crt), s->issuer)
                           : mbedtls_x509write_crt_set_issuer_name(&crt, s->issuer_subject)) != 0 ||
        mbedtls_x509write_crt_set_subject_key_identifier(&crt) != 0 ||
        mbedtls_x509write_crt_set_authority_key_identifier(&crt) != 0) {
        goto cleanup;
    }
    if (s->is_ca) {
        if (mbedtls_x509write_crt_set_basic_constraints(&crt, 1, 0) != 0 ||
            mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE |
                                                          MBEDTLS_X509_KU_KEY_CERT_SIGN |
                                                          MBEDTLS_X509_KU_CRL_SIGN) != 0) {
            goto cleanup;
        }
    } else {
        unsigned int ku = MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
        if (mbedtls_pk_get_type(s->subject_key) == MBEDTLS_PK_RSA) {
            ku |= MBEDTLS_X509_KU_KEY_ENCIPHERMENT;
        }
        san = malloc(SAN_DER_MAX);
        if (san == NULL) {
            ret = KA_ENOMEM;
            goto cleanup;
        }
        unsigned char *p = san + SAN_DER_MAX;
        int san_len = san_der_write(san, &p, s->names->dns, s->names->n_dns,
                                    (const unsigned char(*)[16])s->names->ip, s->names->ip_len,
                                    s->names->n_ip);
        if (san_len < 0) {
            goto cleanup;
        }
        if (mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1) != 0 ||
            mbedtls_x509write_crt_set_key_usage(&crt, ku) != 0 ||
            mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                                MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
                                                eku_server_auth_der,
                                                sizeof(eku_server_auth_der)) != 0 ||
            mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                                                p, (size_t)san_len) != 0) {
            goto cleanup;
        }
    }
    if (mbedtls_x509write_crt_pem(&crt, pem, pem_size, mbedtls_ctr_drbg_random, &r->drbg) != 0) {
        goto cleanup;
    }
    ret = 0;
cleanup:
    free(san);
    mbedtls_x509write_crt_free(&crt);
    return ret;
}

/* ---- files ------------------------------------------------------------------------------------
 */

/* Write a private key as PEM, wiping the buffer afterwards. */
static int key_save(mbedtls_pk_context *pk, const char *path)
{
    int ret = KA_ECERT;
    unsigned char *pem = calloc(1, KEY_PEM_MAX);
    if (pem == NULL) {
        return KA_ENOMEM;
    }
    if (mbedtls_pk_write_key_pem(pk, pem, KEY_PEM_MAX) != 0) {
        goto cleanup;
    }
    ret = ka_file_write_atomic(path, pem, strlen((char *)pem), 0600);
cleanup:
    mbedtls_platform_zeroize(pem, KEY_PEM_MAX);
    free(pem);
    return ret;
}

/*
 * Write a key and its certificate, the key first, so that a certificate on disk always has its
 * key next to it. A server reloading between the two renames sees a key that does not match its
 * certificate; it must reject that pair and keep serving the old one (kadmit does), and it picks
 * the new pair up on the next change.
 */
static int pair_save(mbedtls_pk_context *key, const char *key_path, const unsigned char *crt_pem,
                     const char *crt_path, struct ka_buf *diag)
{
    int ret = key_save(key, key_path);
    if (ret == 0) {
        ret = ka_file_write_atomic(crt_path, crt_pem, strlen((const char *)crt_pem), 0644);
    }
    if (ret != 0) {
        ka_buf_diag(diag, "cannot write %s: %s", crt_path, strerror(errno));
    }
    return ret;
}

static int path_join(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    return (n < 0 || (size_t)n >= size) ? KA_EINVAL : 0;
}

/* ---- checking an existing leaf ----------------------------------------------------------------
 */

/*
 * Does the certificate carry this GeneralName? mbedTLS 2.28 keeps only dNSNames in
 * crt->subject_alt_names, so we walk the raw extensions (crt->v3_ext) for iPAddress too.
 */
static int crt_has_name(const mbedtls_x509_crt *crt, int tag, const unsigned char *val,
                        size_t val_len)
{
    unsigned char *p = crt->v3_ext.p;
    size_t len = 0;
    if (p == NULL || crt->v3_ext.len == 0) {
        return 0;
    }
    const unsigned char *end = p + crt->v3_ext.len;
    if (*p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 3)) {
        if (mbedtls_asn1_get_tag(&p, end, &len, *p) != 0) {
            return 0;
        }
    }
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
        0) {
        return 0;
    }
    end = p + len;
    while (p < end) {
        if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
            0) {
            return 0;
        }
        const unsigned char *ext_end = p + len;
        size_t oid_len = 0;
        if (mbedtls_asn1_get_tag(&p, ext_end, &oid_len, MBEDTLS_ASN1_OID) != 0) {
            return 0;
        }
        int is_san = oid_len == MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME) &&
                     memcmp(p, MBEDTLS_OID_SUBJECT_ALT_NAME, oid_len) == 0;
        p += oid_len;
        int critical = 0;
        int bret = mbedtls_asn1_get_bool(&p, ext_end, &critical);
        if (bret != 0 && bret != MBEDTLS_ERR_ASN1_UNEXPECTED_TAG) {
            return 0;
        }
        if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0) {
            return 0;
        }
        if (is_san) {
            if (mbedtls_asn1_get_tag(&p, ext_end, &len,
                                     MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
                return 0;
            }
            const unsigned char *names_end = p + len;
            while (p < names_end) {
                int t = *p++;
                size_t n = 0;
                if (mbedtls_asn1_get_len(&p, names_end, &n) != 0) {
                    return 0;
                }
                if (t == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | tag) && n == val_len &&
                    (tag == 2 ? strncasecmp((const char *)p, (const char *)val, n) == 0
                              : memcmp(p, val, n) == 0)) {
                    return 1;
                }
                p += n;
            }
            return 0;
        }
        p = (unsigned char *)ext_end;
    }
    return 0;
}

int ka_certs_check_leaf(const char *leaf_pem, const char *leaf_key_pem, const char *ca_pem,
                        const struct ka_certs_opts *o, char *reason, size_t reason_size)
{
    int ret = KA_EINTERNAL;
    mbedtls_x509_crt leaf, ca;
    mbedtls_pk_context key;
    struct rng rng;
    struct names *nm = NULL;
    uint32_t flags = 0;

    mbedtls_x509_crt_init(&leaf);
    mbedtls_x509_crt_init(&ca);
    mbedtls_pk_init(&key);
    rng_init(&rng);
    reason[0] = '\0';

    if (mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_pem, strlen(ca_pem) + 1) != 0) {
        ret = KA_ECERT;
        goto cleanup;
    }
    if (mbedtls_x509_crt_parse(&leaf, (const unsigned char *)leaf_pem, strlen(leaf_pem) + 1) != 0) {
        snprintf(reason, reason_size, "tls.crt is not a valid certificate");
        ret = 1;
        goto cleanup;
    }
    if (leaf_key_pem != NULL) {
        if (rng_seed(&rng) != 0) {
            ret = KA_ECERT;
            goto cleanup;
        }
        if (ka_pk_parse_key(&key, (const unsigned char *)leaf_key_pem, strlen(leaf_key_pem) + 1,
                            mbedtls_ctr_drbg_random, &rng.drbg) != 0) {
            snprintf(reason, reason_size, "tls.key is not a valid private key");
            ret = 1;
            goto cleanup;
        }
        if (ka_pk_check_pair(&leaf.pk, &key, mbedtls_ctr_drbg_random, &rng.drbg) != 0) {
            snprintf(reason, reason_size, "tls.key does not match tls.crt");
            ret = 1;
            goto cleanup;
        }
    }
    /* Signature chain only: validity times are judged below against o->now. */
    (void)mbedtls_x509_crt_verify(&leaf, &ca, NULL, NULL, &flags, NULL, NULL);
    flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
    if (flags != 0) {
        snprintf(reason, reason_size, "not signed by the CA");
        ret = 1;
        goto cleanup;
    }
    time_t now = opts_now(o);
    time_t not_before = (time_t)ka_tls_x509_time(&leaf.valid_from);
    time_t not_after = (time_t)ka_tls_x509_time(&leaf.valid_to);
    if (now >= not_after) {
        snprintf(reason, reason_size, "expired");
        ret = 1;
        goto cleanup;
    }
    if (now < not_before) {
        snprintf(reason, reason_size, "not valid yet");
        ret = 1;
        goto cleanup;
    }
    nm = malloc(sizeof(*nm));
    if (nm == NULL) {
        ret = KA_ENOMEM;
        goto cleanup;
    }
    if (names_build(nm, o) != 0) {
        ret = KA_EINVAL;
        goto cleanup;
    }
    for (size_t i = 0; i < nm->n_dns; i++) {
        if (!crt_has_name(&leaf, 2, (const unsigned char *)nm->dns[i], strlen(nm->dns[i]))) {
            snprintf(reason, reason_size, "missing name %s", nm->dns[i]);
            ret = 1;
            goto cleanup;
        }
    }
    for (size_t i = 0; i < nm->n_ip; i++) {
        if (!crt_has_name(&leaf, 7, nm->ip[i], nm->ip_len[i])) {
            snprintf(reason, reason_size, "missing address %s", o->ip[i]);
            ret = 1;
            goto cleanup;
        }
    }
    if (mbedtls_x509_crt_check_extended_key_usage(&leaf, MBEDTLS_OID_SERVER_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) != 0) {
        snprintf(reason, reason_size, "not usable for serverAuth");
        ret = 1;
        goto cleanup;
    }
    if (o->key_type_set && key_type_of(&leaf.pk) != (int)o->key_type) {
        snprintf(reason, reason_size, "key type is not %s", ka_certs_key_type_name(o->key_type));
        ret = 1;
        goto cleanup;
    }
    char remaining[48];
    format_remaining((int64_t)(not_after - now), remaining, sizeof(remaining));
    if ((int64_t)(not_after - now) <= o->renew_before) {
        snprintf(reason, reason_size, "%s", remaining);
        ret = 1;
        goto cleanup;
    }
    if (o->force) {
        snprintf(reason, reason_size, "--force; was valid, %s", remaining);
        ret = 1;
        goto cleanup;
    }
    snprintf(reason, reason_size, "%s", remaining);
    ret = 0;
cleanup:
    free(nm);
    mbedtls_pk_free(&key);
    rng_free(&rng);
    mbedtls_x509_crt_free(&leaf);
    mbedtls_x509_crt_free(&ca);
    return ret;
}

/* ---- ensure -----------------------------------------------------------------------------------
 */

static void wipe_buf(struct ka_buf *b)
{
    if (b->data != NULL) {
        mbedtls_platform_zeroize(b->data, b->cap);
    }
    ka_buf_free(b);
}

static int pem_from_file(const char *path, struct ka_buf *b)
{
    ka_buf_reset(b);
    return ka_buf_read_file(b, path);
}

/*
 * Read a private key file into `b` without leaving copies in freed memory: the exact size is
 * reserved first so the buffer never grows (and reallocates) while reading.
 */
static int key_pem_from_file(const char *path, struct ka_buf *b)
{
    int ret = KA_EIO;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        return errno == ENOENT ? KA_ENOTFOUND : KA_EIO;
    }
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        goto cleanup;
    }
    if ((size_t)st.st_size > KEY_PEM_MAX) {
        ret = KA_ELIMIT;
        goto cleanup;
    }
    char *p = calloc(1, KEY_PEM_MAX + 1);
    if (p == NULL) {
        ret = KA_ENOMEM;
        goto cleanup;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, p + got, KEY_PEM_MAX - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    wipe_buf(b);
    b->data = p;
    b->len = got;
    b->cap = KEY_PEM_MAX + 1;
    b->max = KEY_PEM_MAX;
    ret = 0;
cleanup:
    close(fd);
    return ret;
}

static int ensure_dir(const char *dir, struct ka_buf *diag)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            ka_buf_diag(diag, "%s: not a directory", dir);
            return KA_EINVAL;
        }
        return 0;
    }
    /* Like mkdir -p: missing parents get 0755 (less the umask), the directory itself 0700. */
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s", dir);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        ka_buf_diag(diag, "%s: path too long", dir);
        return KA_EINVAL;
    }
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            ka_buf_diag(diag, "%s: cannot create directory: %s", path, strerror(errno));
            return KA_EIO;
        }
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        ka_buf_diag(diag, "%s: cannot create directory: %s", dir, strerror(errno));
        return KA_EIO;
    }
    return 0;
}

int ka_certs_ensure(const char *dir, const struct ka_certs_opts *o, struct ka_certs_report *report,
                    struct ka_buf *diag)
{
    int ret = KA_EINTERNAL;
    char ca_crt_path[4096], ca_key_path[4096], crt_path[4096], key_path[4096];
    struct ka_buf ca_pem, ca_key_pem, leaf_pem, leaf_key_pem;
    mbedtls_x509_crt ca;
    mbedtls_pk_context ca_key, leaf_key;
    struct rng rng;
    struct names *nm = NULL;
    unsigned char *crt_pem = NULL;
    int need_new_ca = 0, need_leaf = 0;
    time_t now = opts_now(o);
    time_t ca_not_after = 0;

    ka_buf_init(&ca_pem, KA_CERTS_MAX_PEM);
    ka_buf_init(&ca_key_pem, KEY_PEM_MAX);
    ka_buf_init(&leaf_pem, KA_CERTS_MAX_PEM);
    ka_buf_init(&leaf_key_pem, KEY_PEM_MAX);
    mbedtls_x509_crt_init(&ca);
    mbedtls_pk_init(&ca_key);
    mbedtls_pk_init(&leaf_key);
    rng_init(&rng);
    memset(report, 0, sizeof(*report));

    ret = ka_certs_opts_check(o, diag);
    if (ret != 0) {
        goto cleanup;
    }
    if (path_join(ca_crt_path, sizeof(ca_crt_path), dir, "ca.crt") != 0 ||
        path_join(ca_key_path, sizeof(ca_key_path), dir, "ca.key") != 0 ||
        path_join(crt_path, sizeof(crt_path), dir, "tls.crt") != 0 ||
        path_join(key_path, sizeof(key_path), dir, "tls.key") != 0) {
        ka_buf_diag(diag, "%s: path too long", dir);
        ret = KA_EINVAL;
        goto cleanup;
    }
    ret = ensure_dir(dir, diag);
    if (ret != 0) {
        goto cleanup;
    }

    /* 1. The CA: keep a valid one, create one only when there is none usable. */
    ret = pem_from_file(ca_crt_path, &ca_pem);
    if (ret == KA_ENOTFOUND) {
        need_new_ca = 1;
        snprintf(report->ca_reason, sizeof(report->ca_reason), "there was none");
    } else if (ret != 0) {
        ka_buf_diag(diag, "%s: %s", ca_crt_path, ka_strerror(ret));
        goto cleanup;
    } else if (mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_pem.data, ca_pem.len + 1) !=
               0) {
        need_new_ca = 1;
        snprintf(report->ca_reason, sizeof(report->ca_reason),
                 "replaced ca.crt, which was not a valid certificate");
    } else if (!ka_x509_crt_is_ca(&ca)) {
        need_new_ca = 1;
        snprintf(report->ca_reason, sizeof(report->ca_reason),
                 "replaced ca.crt, which was not a CA certificate");
    } else if ((time_t)ka_tls_x509_time(&ca.valid_to) <= now) {
        need_new_ca = 1;
        snprintf(report->ca_reason, sizeof(report->ca_reason), "replaced the expired CA");
    }
    if (!need_new_ca) {
        ca_not_after = (time_t)ka_tls_x509_time(&ca.valid_to);
        format_remaining((int64_t)(ca_not_after - now), report->ca_reason,
                         sizeof(report->ca_reason));
        if ((int64_t)(ca_not_after - now) <= o->renew_before) {
            size_t n = strlen(report->ca_reason);
            snprintf(report->ca_reason + n, sizeof(report->ca_reason) - n,
                     "; WARNING: rotate the CA soon, see certs/README.md");
        }
        ret = key_pem_from_file(ca_key_path, &ca_key_pem);
        if (ret == 0) {
            ret = rng_seed(&rng);
            if (ret != 0) {
                ka_buf_diag(diag, "cannot seed the random generator");
                goto cleanup;
            }
            if (ka_pk_parse_key(&ca_key, (const unsigned char *)ca_key_pem.data, ca_key_pem.len + 1,
                                mbedtls_ctr_drbg_random, &rng.drbg) != 0 ||
                ka_pk_check_pair(&ca.pk, &ca_key, mbedtls_ctr_drbg_random, &rng.drbg) != 0) {
                ka_buf_diag(diag,
                            "%s is not the private key of %s; the CA is valid and "
                            "trusted by installed webhooks, so it is not replaced: "
                            "restore the right ca.key, or remove ca.crt to start over",
                            ca_key_path, ca_crt_path);
                ret = KA_ECERT;
                goto cleanup;
            }
        } else if (ret != KA_ENOTFOUND) {
            ka_buf_diag(diag, "%s: %s", ca_key_path, ka_strerror(ret));
            goto cleanup;
        }
        /* A missing ca.key is only a problem if the leaf needs signing (checked below). */
    }

    /* 2. The leaf. */
    if (need_new_ca) {
        need_leaf = 1;
        report->leaf = KA_CERTS_CREATED;
        snprintf(report->leaf_reason, sizeof(report->leaf_reason), "new CA");
    } else {
        int r1 = pem_from_file(crt_path, &leaf_pem);
        int r2 = key_pem_from_file(key_path, &leaf_key_pem);
        if (r1 == KA_ENOTFOUND || r2 == KA_ENOTFOUND) {
            need_leaf = 1;
            report->leaf = r1 == KA_ENOTFOUND ? KA_CERTS_CREATED : KA_CERTS_RENEWED;
            snprintf(report->leaf_reason, sizeof(report->leaf_reason), "%s",
                     r1 == KA_ENOTFOUND ? "there was none" : "tls.key was missing");
        } else if (r1 != 0 || r2 != 0) {
            need_leaf = 1;
            report->leaf = KA_CERTS_RENEWED;
            snprintf(report->leaf_reason, sizeof(report->leaf_reason), "could not read: %s",
                     ka_strerror(r1 != 0 ? r1 : r2));
        } else {
            ret = ka_certs_check_leaf(leaf_pem.data, leaf_key_pem.data, ca_pem.data, o,
                                      report->leaf_reason, sizeof(report->leaf_reason));
            if (ret < 0) {
                ka_buf_diag(diag, "checking %s: %s", crt_path, ka_strerror(ret));
                goto cleanup;
            }
            need_leaf = ret == 1;
            report->leaf = need_leaf ? KA_CERTS_RENEWED : KA_CERTS_KEPT;
            if (!need_leaf) {
                mbedtls_x509_crt leaf;
                mbedtls_x509_crt_init(&leaf);
                if (mbedtls_x509_crt_parse(&leaf, (const unsigned char *)leaf_pem.data,
                                           leaf_pem.len + 1) == 0) {
                    report->leaf_not_after = (time_t)ka_tls_x509_time(&leaf.valid_to);
                }
                mbedtls_x509_crt_free(&leaf);
            }
        }
        if (need_leaf && mbedtls_pk_get_type(&ca_key) == MBEDTLS_PK_NONE) {
            ka_buf_diag(diag,
                        "%s must be re-issued (%s) but %s is missing: restore the CA "
                        "key, or remove ca.crt to create a new CA",
                        crt_path, report->leaf_reason, ca_key_path);
            ret = KA_ECERT;
            goto cleanup;
        }
    }
    report->ca = need_new_ca ? KA_CERTS_CREATED : KA_CERTS_KEPT;
    report->ca_not_after = ca_not_after;
    if (!need_new_ca && !need_leaf) {
        ret = 0;
        goto cleanup;
    }

    ret = rng_seed(&rng);
    if (ret != 0) {
        ka_buf_diag(diag, "cannot seed the random generator");
        goto cleanup;
    }
    crt_pem = calloc(1, CRT_PEM_MAX);
    nm = malloc(sizeof(*nm));
    if (crt_pem == NULL || nm == NULL) {
        ret = KA_ENOMEM;
        goto cleanup;
    }

    if (need_new_ca) {
        static const char ca_subject[] = "CN=kadmit-ca,O=kadmit";
        mbedtls_pk_free(&ca_key);
        mbedtls_pk_init(&ca_key);
        ret = key_generate(&ca_key, o->key_type, &rng);
        if (ret != 0) {
            ka_buf_diag(diag, "cannot generate the CA key");
            goto cleanup;
        }
        struct crt_spec spec = {
            .subject = ca_subject,
            .is_ca = 1,
            .not_before = now - KA_CERTS_BACKDATE_SECONDS,
            .not_after = now + (time_t)o->ca_validity,
            .subject_key = &ca_key,
            .issuer_key = &ca_key,
            .issuer_subject = ca_subject,
        };
        ret = crt_write_pem(&spec, &rng, crt_pem, CRT_PEM_MAX);
        if (ret != 0) {
            ka_buf_diag(diag, "cannot write the CA certificate");
            goto cleanup;
        }
        ret = pair_save(&ca_key, ca_key_path, crt_pem, ca_crt_path, diag);
        if (ret != 0) {
            goto cleanup;
        }
        ka_buf_reset(&ca_pem);
        ret = ka_buf_adds(&ca_pem, (const char *)crt_pem);
        if (ret != 0) {
            goto cleanup;
        }
        report->ca_not_after = spec.not_after;
        ca_not_after = spec.not_after;
        snprintf(report->leaf_reason, sizeof(report->leaf_reason), "signed by the new CA");
    }

    /* The leaf's subject names the Service; its life never outlasts the CA. */
    ret = names_build(nm, o);
    if (ret != 0) {
        goto cleanup;
    }
    char subject[KA_CERTS_MAX_DNS_LEN + 16];
    snprintf(subject, sizeof(subject), "CN=%.63s,O=kadmit", nm->dns[2]);
    ret = key_generate(&leaf_key, o->key_type, &rng);
    if (ret != 0) {
        ka_buf_diag(diag, "cannot generate the serving key");
        goto cleanup;
    }
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_init(&ca);
    if (mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_pem.data, ca_pem.len + 1) != 0) {
        ka_buf_diag(diag, "cannot read back the CA certificate");
        ret = KA_ECERT;
        goto cleanup;
    }
    time_t leaf_not_after = now + (time_t)o->validity;
    if (leaf_not_after > ca_not_after) {
        leaf_not_after = ca_not_after;
    }
    struct crt_spec leaf_spec = {
        .subject = subject,
        .is_ca = 0,
        .not_before = now - KA_CERTS_BACKDATE_SECONDS,
        .not_after = leaf_not_after,
        .subject_key = &leaf_key,
        .issuer_key = &ca_key,
        .issuer = &ca.subject,
        .names = nm,
    };
    ret = crt_write_pem(&leaf_spec, &rng, crt_pem, CRT_PEM_MAX);
    if (ret != 0) {
        ka_buf_diag(diag, "cannot write the serving certificate");
        goto cleanup;
    }
    ret = pair_save(&leaf_key, key_path, crt_pem, crt_path, diag);
    if (ret != 0) {
        goto cleanup;
    }
    report->leaf_not_after = leaf_not_after;
    ret = 0;
cleanup:
    free(crt_pem);
    free(nm);
    rng_free(&rng);
    mbedtls_pk_free(&leaf_key);
    mbedtls_pk_free(&ca_key);
    mbedtls_x509_crt_free(&ca);
    wipe_buf(&leaf_key_pem);
    wipe_buf(&ca_key_pem);
    ka_buf_free(&leaf_pem);
    ka_buf_free(&ca_pem);
    return ret;
}
