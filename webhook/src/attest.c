/*
 * Image-scan attestations: load DSSE envelopes / Sigstore bundles, verify them against trusted
 * public keys once, index them by subject digest, and answer admission lookups from memory.
 * See kadmit/attest.h for the formats and the contract.
 */
#include "kadmit/attest.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <pthread.h>

#include "kadmit/duration.h"
#include "kadmit/error.h"
#include "kadmit/log.h"
#include "mbedtls_compat.h"

#define PAYLOAD_TYPE_INTOTO "application/vnd.in-toto+json"
#define PREDICATE_VULN "cosign.sigstore.dev/attestation/vuln/v1"
#define BUNDLE_MEDIA_PREFIX "application/vnd.dev.sigstore.bundle"

/* ======================================================================================== */
/* severities                                                                               */
/* ======================================================================================== */

static const char *const sev_names[KA_SEV_COUNT] = {"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"};

const char *ka_attest_sev_name(enum ka_sev s)
{
    if ((int)s < 0 || s >= KA_SEV_COUNT) {
        return "?";
    }
    return sev_names[s];
}

static int ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen) {
        return 0;
    }
    for (size_t i = 0; i < alen; i++) {
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) {
            return 0;
        }
    }
    return 1;
}

int ka_attest_sev_parse(const char *s, size_t len)
{
    if (s == NULL) {
        return -1;
    }
    for (int i = 0; i < KA_SEV_COUNT; i++) {
        if (ieq(s, len, sev_names[i])) {
            return i;
        }
    }
    if (ieq(s, len, "negligible")) {
        return KA_SEV_LOW;
    }
    return -1;
}

/* ======================================================================================== */
/* durations and times                                                                      */
/* ======================================================================================== */

void ka_attest_params_init(struct ka_attest_params *p)
{
    p->max_age_s = 168 * 3600;
    p->max_future_skew_s = 5 * 60;
    for (int i = 0; i < KA_SEV_COUNT; i++) {
        p->max_severity[i] = -1;
    }
    p->max_severity[KA_SEV_CRITICAL] = 0;
}

int ka_attest_format_duration(struct ka_buf *b, int64_t s)
{
    int ret = 0;
    if (s < 0) {
        ret = ka_buf_add(b, "-", 1);
        s = s == INT64_MIN ? INT64_MAX : -s;
    }
    if (ret != 0) {
        return ret;
    }
    long long d = (long long)(s / 86400), h = (long long)(s % 86400 / 3600);
    long long m = (long long)(s % 3600 / 60), sec = (long long)(s % 60);
    if (d > 0) {
        return h > 0 ? ka_buf_printf(b, "%lldd%lldh", d, h) : ka_buf_printf(b, "%lldd", d);
    }
    if (h > 0) {
        return m > 0 ? ka_buf_printf(b, "%lldh%lldm", h, m) : ka_buf_printf(b, "%lldh", h);
    }
    if (m > 0) {
        return sec > 0 ? ka_buf_printf(b, "%lldm%llds", m, sec) : ka_buf_printf(b, "%lldm", m);
    }
    return ka_buf_printf(b, "%llds", sec);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, size_t len, size_t at, size_t n, int *out)
{
    int v = 0;
    if (at + n > len) {
        return -1;
    }
    for (size_t i = at; i < at + n; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int ka_attest_parse_time(const char *s, size_t len, int64_t *out)
{
    int y, mo, d, h, mi, se;
    if (s == NULL || out == NULL || digits(s, len, 0, 4, &y) || len < 19 || s[4] != '-' ||
        digits(s, len, 5, 2, &mo) || s[7] != '-' || digits(s, len, 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || digits(s, len, 11, 2, &h) ||
        s[13] != ':' || digits(s, len, 14, 2, &mi) || s[16] != ':' || digits(s, len, 17, 2, &se)) {
        return KA_EINVAL;
    }
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || se > 60) {
        return KA_EINVAL;
    }
    size_t i = 19;
    if (i < len && s[i] == '.') {
        i++;
        size_t start = i;
        while (i < len && isdigit((unsigned char)s[i])) {
            i++;
        }
        if (i == start) {
            return KA_EINVAL;
        }
    }
    int64_t offset = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (digits(s, len, i + 1, 2, &oh) || i + 3 >= len || s[i + 3] != ':' ||
            digits(s, len, i + 4, 2, &om) || oh > 23 || om > 59) {
            return KA_EINVAL;
        }
        offset = (int64_t)(oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return KA_EINVAL;
    }
    if (i != len) {
        return KA_EINVAL;
    }
    *out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se - offset;
    return 0;
}

int ka_attest_parse_severity_limits(const char *s, struct ka_attest_params *p)
{
    if (s == NULL || p == NULL) {
        return KA_EINVAL;
    }
    int limits[KA_SEV_COUNT];
    memcpy(limits, p->max_severity, sizeof(limits));
    const char *q = s;
    while (*q != '\0') {
        const char *eq = strchr(q, '=');
        if (eq == NULL || eq == q) {
            return KA_EINVAL;
        }
        int sev = ka_attest_sev_parse(q, (size_t)(eq - q));
        if (sev < 0 || ieq(q, (size_t)(eq - q), "negligible")) {
            return KA_EINVAL;
        }
        const char *v = eq + 1;
        int neg = 0;
        if (*v == '-') {
            neg = 1;
            v++;
        }
        if (!isdigit((unsigned char)*v)) {
            return KA_EINVAL;
        }
        long n = 0;
        while (isdigit((unsigned char)*v)) {
            if (n > 100000000) {
                return KA_EINVAL;
            }
            n = n * 10 + (*v - '0');
            v++;
        }
        if (neg && n != 1) {
            return KA_EINVAL;
        }
        limits[sev] = neg ? -1 : (int)n;
        if (*v == ',') {
            v++;
            if (*v == '\0') {
                return KA_EINVAL;
            }
        } else if (*v != '\0') {
            return KA_EINVAL;
        }
        q = v;
    }
    memcpy(p->max_severity, limits, sizeof(limits));
    return 0;
}

/* ======================================================================================== */
/* trusted keys                                                                             */
/* ======================================================================================== */

enum key_kind { KEY_EC_P256, KEY_EC_P384, KEY_RSA };

struct key {
    mbedtls_pk_context pk;
    enum key_kind kind;
    char *label;
    char *keyid;        /* NULL: matches any signature */
    unsigned char *der; /* SubjectPublicKeyInfo, to clone the key for loader threads */
    size_t der_len;
};

struct ka_attest_keys {
    struct key *v;
    size_t n;
    /* EC verification runs on each key's own group, which caches its generator table on first
     * use; the lock makes concurrent loads with one key set safe. */
    pthread_mutex_t lock;
};

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static char *dup_s(const char *s)
{
    return dup_n(s, strlen(s));
}

static void errmsg(struct ka_buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errmsg(struct ka_buf *err, const char *fmt, ...)
{
    if (err == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int r = ka_buf_vprintf(err, fmt, ap);
    va_end(ap);
    (void)r; /* a full message buffer only truncates the message */
}

int ka_attest_keys_new(struct ka_attest_keys **out)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL) {
        return KA_ENOMEM;
    }
    if (pthread_mutex_init(&(*out)->lock, NULL) != 0) {
        free(*out);
        *out = NULL;
        return KA_ENOMEM;
    }
    return 0;
}

void ka_attest_keys_free(struct ka_attest_keys *k)
{
    if (k == NULL) {
        return;
    }
    for (size_t i = 0; i < k->n; i++) {
        mbedtls_pk_free(&k->v[i].pk);
        free(k->v[i].label);
        free(k->v[i].keyid);
        free(k->v[i].der);
    }
    free(k->v);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

/* A private copy of a key set, so loader threads never share mbedTLS key contexts. */
static int keys_clone(const struct ka_attest_keys *src, struct ka_attest_keys **out)
{
    int ret = ka_attest_keys_new(out);
    if (ret != 0 || src == NULL || src->n == 0) {
        return ret;
    }
    struct ka_attest_keys *k = *out;
    k->v = calloc(src->n, sizeof(*k->v));
    if (k->v == NULL) {
        ret = KA_ENOMEM;
        goto exit;
    }
    for (size_t i = 0; i < src->n; i++) {
        const struct key *s = &src->v[i];
        struct key *d = &k->v[i];
        mbedtls_pk_init(&d->pk);
        k->n++;
        d->kind = s->kind;
        d->label = dup_s(s->label);
        d->keyid = s->keyid ? dup_s(s->keyid) : NULL;
        d->der = malloc(s->der_len);
        if (d->label == NULL || (s->keyid && d->keyid == NULL) || d->der == NULL) {
            ret = KA_ENOMEM;
            goto exit;
        }
        memcpy(d->der, s->der, s->der_len);
        d->der_len = s->der_len;
        if (mbedtls_pk_parse_public_key(&d->pk, d->der, d->der_len) != 0) {
            ret = KA_EINTERNAL;
            goto exit;
        }
    }
    ret = 0;
exit:
    if (ret != 0) {
        ka_attest_keys_free(*out);
        *out = NULL;
    }
    return ret;
}

/* SHA-256 over every key (DER) and keyid: two key sets with equal fingerprints verify alike. */
static int keys_fingerprint(const struct ka_attest_keys *k, unsigned char out[32])
{
    int ret = KA_EINTERNAL;
    mbedtls_sha256_context sha;
    mbedtls_sha256_init(&sha);
    if (ka_sha256_starts(&sha) != 0) {
        goto exit;
    }
    for (size_t i = 0; k != NULL && i < k->n; i++) {
        const char *id = k->v[i].keyid ? k->v[i].keyid : "";
        unsigned char sep[1] = {0};
        if (ka_sha256_update(&sha, k->v[i].der, k->v[i].der_len) != 0 ||
            ka_sha256_update(&sha, (const unsigned char *)id, strlen(id) + 1) != 0 ||
            ka_sha256_update(&sha, sep, 1) != 0) {
            goto exit;
        }
    }
    if (ka_sha256_finish(&sha, out) != 0) {
        goto exit;
    }
    ret = 0;
exit:
    mbedtls_sha256_free(&sha);
    return ret;
}

size_t ka_attest_keys_count(const struct ka_attest_keys *k)
{
    return k == NULL ? 0 : k->n;
}

const char *ka_attest_keys_label(const struct ka_attest_keys *k, size_t i)
{
    return (k == NULL || i >= k->n) ? "" : k->v[i].label;
}

static const char *find_n(const char *hay, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; nl <= len && i <= len - nl; i++) {
        if (memcmp(hay + i, needle, nl) == 0) {
            return hay + i;
        }
    }
    return NULL;
}

/*
 * Is this PEM block an Ed25519 SubjectPublicKeyInfo? Its DER always starts with
 * 30 2a 30 05 06 03 2b 65 70 (SEQUENCE, AlgorithmIdentifier, OID 1.3.101.112), which is
 * "MCowBQYDK2Vw" in base64.
 */
static int is_ed25519_pem(const char *block)
{
    const char *body = strstr(block, "-----BEGIN PUBLIC KEY-----");
    if (body == NULL) {
        return 0;
    }
    body += strlen("-----BEGIN PUBLIC KEY-----");
    while (isspace((unsigned char)*body)) {
        body++;
    }
    return strncmp(body, "MCowBQYDK2Vw", 12) == 0;
}

/* Parse one PEM block (NUL-terminated copy) into a key and classify it. */
static int key_parse_block(struct key *key, const char *block, size_t len, const char *label,
                           struct ka_buf *err)
{
    int ret = KA_EINVAL;
    char *copy = dup_n(block, len);
    if (copy == NULL) {
        return KA_ENOMEM;
    }
    mbedtls_pk_init(&key->pk);
    if (strstr(copy, "PRIVATE KEY") != NULL) {
        errmsg(err, "%s: is a private key; configure the public key (openssl pkey -pubout)", label);
        goto exit;
    }
    if (strstr(copy, "CERTIFICATE") != NULL) {
        errmsg(err, "%s: certificates are not supported; configure the public key", label);
        goto exit;
    }
    int mret = mbedtls_pk_parse_public_key(&key->pk, (const unsigned char *)copy, len + 1);
    if (mret != 0 && is_ed25519_pem(copy)) {
        errmsg(err,
               "%s: Ed25519 keys are not supported by this build (use ECDSA P-256/P-384 or RSA)",
               label);
        goto exit;
    }
    if (mret != 0) {
        errmsg(err, "%s: not a PEM public key (mbedtls -0x%04x)", label, (unsigned)-mret);
        goto exit;
    }
    mbedtls_pk_type_t t = mbedtls_pk_get_type(&key->pk);
    if (t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECDSA) {
        mbedtls_ecp_group_id gid = ka_pk_ec_group_id(&key->pk);
        if (gid == MBEDTLS_ECP_DP_SECP256R1) {
            key->kind = KEY_EC_P256;
        } else if (gid == MBEDTLS_ECP_DP_SECP384R1) {
            key->kind = KEY_EC_P384;
        } else {
            errmsg(err, "%s: unsupported elliptic curve (P-256 and P-384 are supported)", label);
            goto exit;
        }
    } else if (t == MBEDTLS_PK_RSA) {
        size_t bits = mbedtls_pk_get_bitlen(&key->pk);
        if (bits < 2048 || bits > 8192) {
            errmsg(err, "%s: RSA key of %zu bits (2048 to 8192 are accepted)", label, bits);
            goto exit;
        }
        key->kind = KEY_RSA;
    } else {
        errmsg(err, "%s: unsupported key type %s", label, mbedtls_pk_get_name(&key->pk));
        goto exit;
    }
    ret = 0;
exit:
    free(copy);
    if (ret != 0) {
        mbedtls_pk_free(&key->pk);
    }
    return ret;
}

int ka_attest_keys_add_pem(struct ka_attest_keys *k, const char *pem, size_t len, const char *label,
                           const char *keyid, struct ka_buf *err)
{
    int ret = KA_EINTERNAL;
    char fallback[32];
    size_t added = 0;
    if (k == NULL || pem == NULL) {
        return KA_EINVAL;
    }
    if (label == NULL || *label == '\0') {
        snprintf(fallback, sizeof(fallback), "keys[%zu]", k->n);
        label = fallback;
    }
    const char *p = pem, *end = pem + len;
    for (;;) {
        const char *begin = find_n(p, (size_t)(end - p), "-----BEGIN ");
        if (begin == NULL) {
            break;
        }
        const char *stop = find_n(begin, (size_t)(end - begin), "-----END ");
        const char *close = stop ? find_n(stop + 9, (size_t)(end - stop - 9), "-----") : NULL;
        if (close == NULL) {
            errmsg(err, "%s: PEM block without its END line", label);
            ret = KA_EINVAL;
            goto exit;
        }
        close += 5;
        if (k->n >= KA_ATTEST_MAX_KEYS) {
            errmsg(err, "%s: more than %d trusted keys", label, KA_ATTEST_MAX_KEYS);
            ret = KA_ELIMIT;
            goto exit;
        }
        struct key *v = realloc(k->v, (k->n + 1) * sizeof(*v));
        if (v == NULL) {
            ret = KA_ENOMEM;
            goto exit;
        }
        k->v = v;
        struct key *key = &k->v[k->n];
        memset(key, 0, sizeof(*key));
        char name[600];
        if (added == 0) {
            snprintf(name, sizeof(name), "%s", label);
        } else {
            snprintf(name, sizeof(name), "%s#%zu", label, added + 1);
        }
        ret = key_parse_block(key, begin, (size_t)(close - begin), name, err);
        if (ret != 0) {
            goto exit;
        }
        key->label = dup_s(name);
        key->keyid = (keyid != NULL && *keyid != '\0') ? dup_s(keyid) : NULL;
        unsigned char der[2048];
        int dn = mbedtls_pk_write_pubkey_der(&key->pk, der, sizeof(der));
        if (dn > 0) {
            key->der = malloc((size_t)dn);
            key->der_len = (size_t)dn;
        }
        if (key->label == NULL || (keyid != NULL && *keyid != '\0' && key->keyid == NULL) ||
            key->der == NULL) {
            mbedtls_pk_free(&key->pk);
            free(key->label);
            free(key->keyid);
            free(key->der);
            ret = dn > 0 ? KA_ENOMEM : KA_EINVAL;
            goto exit;
        }
        memcpy(key->der, der + sizeof(der) - dn, (size_t)dn);
        k->n++;
        added++;
        p = close;
    }
    if (added == 0) {
        errmsg(err, "%s: no PEM public key found", label);
        ret = KA_EINVAL;
        goto exit;
    }
    ret = 0;
exit:
    return ret;
}

int ka_attest_keys_add_file(struct ka_attest_keys *k, const char *path, struct ka_buf *err)
{
    int ret = KA_EINTERNAL;
    glob_t g;
    struct ka_buf data;
    ka_buf_init(&data, KA_ATTEST_MAX_KEY_FILE);
    memset(&g, 0, sizeof(g));
    if (k == NULL || path == NULL) {
        return KA_EINVAL;
    }
    int gr = glob(path, GLOB_ERR | GLOB_BRACE, NULL, &g);
    if (gr == GLOB_NOMATCH) {
        errmsg(err, "%s: no such key file", path);
        ret = KA_ENOTFOUND;
        goto exit;
    }
    if (gr != 0) {
        errmsg(err, "%s: cannot list key files", path);
        ret = gr == GLOB_NOSPACE ? KA_ENOMEM : KA_EIO;
        goto exit;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        ka_buf_reset(&data);
        ret = ka_buf_read_file(&data, g.gl_pathv[i]);
        if (ret != 0) {
            errmsg(err, "%s: %s%s", g.gl_pathv[i],
                   ret == KA_ELIMIT ? "key file over 64 KiB" : "cannot read: ",
                   ret == KA_ELIMIT ? "" : strerror(errno));
            goto exit;
        }
        ret = ka_attest_keys_add_pem(k, data.data, data.len, g.gl_pathv[i], NULL, err);
        if (ret != 0) {
            goto exit;
        }
    }
    ret = 0;
exit:
    globfree(&g);
    ka_buf_free(&data);
    return ret;
}

/* ======================================================================================== */
/* the index                                                                                */
/* ======================================================================================== */

struct att {            /* one attestation (one envelope); shared by its subject entries */
    const char *source; /* borrowed from idx->sources */
    unsigned line;
    const char *format; /* static */
    size_t subjects;
    char *statement_type;
    char *predicate_type;
    char *scanner_uri;
    char *scanner_version;
    int64_t scan_finished;
    int has_scan_time;
    unsigned counts[KA_SEV_COUNT];
    int verified;
    char *verified_by;
    char *problem; /* NULL when usable */
};

struct entry { /* one subject digest of one attestation, in load order */
    unsigned char digest[32];
    size_t att;
};

struct slot { /* lookup table, sorted by digest then newest scan first */
    unsigned char digest[32];
    int64_t finished;
    size_t entry;
};

struct source { /* one file or add_bytes call */
    char *name;
    unsigned char sha256[32]; /* of the content; all zero when it was not read */
    int hashed;
    size_t first_att, natts;      /* its attestations, contiguous in atts */
    size_t first_entry, nentries; /* its entries, contiguous in entries */
    char *diag;                   /* what was reported about it, NULL when nothing */
    int bad;                      /* yielded no attestation */
    size_t dropped;               /* documents over KA_ATTEST_MAX_DOCUMENT */
    char *first_drop;             /* where the first of them was, NULL when none */
};

struct ka_attest_index {
    struct source *sources;
    size_t nsources, cap_sources;
    unsigned char keys_fp[32]; /* fingerprint of the key set used to verify */
    int has_keys_fp;
    struct att *atts;
    size_t natts, cap_atts;
    struct entry *entries;
    size_t nentries, cap_entries;
    struct slot *slots; /* nentries long once sorted */
    size_t nslots;
    size_t dropped;         /* oversize documents in all sources (index_sort) */
    const char *first_drop; /* borrowed from a source, NULL when none */
    struct ka_attest_stats stats;
};

int ka_attest_index_new(struct ka_attest_index **out)
{
    *out = calloc(1, sizeof(**out));
    return *out == NULL ? KA_ENOMEM : 0;
}

static void att_free(struct att *a)
{
    free(a->statement_type);
    free(a->predicate_type);
    free(a->scanner_uri);
    free(a->scanner_version);
    free(a->verified_by);
    free(a->problem);
    memset(a, 0, sizeof(*a));
}

void ka_attest_index_free(struct ka_attest_index *idx)
{
    if (idx == NULL) {
        return;
    }
    for (size_t i = 0; i < idx->natts; i++) {
        att_free(&idx->atts[i]);
    }
    for (size_t i = 0; i < idx->nsources; i++) {
        free(idx->sources[i].name);
        free(idx->sources[i].diag);
        free(idx->sources[i].first_drop);
    }
    free(idx->sources);
    free(idx->atts);
    free(idx->entries);
    free(idx->slots);
    free(idx);
}

void ka_attest_index_stats(const struct ka_attest_index *idx, struct ka_attest_stats *out)
{
    if (idx == NULL) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = idx->stats;
    out->entries = idx->nentries;
}

static int slot_cmp(const void *a, const void *b)
{
    const struct slot *x = a, *y = b;
    int c = memcmp(x->digest, y->digest, 32);
    if (c != 0) {
        return c;
    }
    if (x->finished != y->finished) {
        return x->finished > y->finished ? -1 : 1; /* newest first */
    }
    return x->entry < y->entry ? -1 : (x->entry > y->entry);
}

/* Rebuild the sorted lookup table from the entries. */
static int index_sort(struct ka_attest_index *idx)
{
    struct slot *s = realloc(idx->slots, (idx->nentries ? idx->nentries : 1) * sizeof(*s));
    if (s == NULL) {
        return KA_ENOMEM;
    }
    idx->slots = s;
    for (size_t i = 0; i < idx->nentries; i++) {
        const struct att *a = &idx->atts[idx->entries[i].att];
        memcpy(s[i].digest, idx->entries[i].digest, 32);
        s[i].finished = a->has_scan_time ? a->scan_finished : INT64_MIN;
        s[i].entry = i;
    }
    if (idx->nentries > 1) {
        qsort(s, idx->nentries, sizeof(*s), slot_cmp);
    }
    idx->nslots = idx->nentries;
    idx->dropped = 0;
    idx->first_drop = NULL;
    for (size_t i = 0; i < idx->nsources; i++) {
        idx->dropped += idx->sources[i].dropped;
        if (idx->first_drop == NULL) {
            idx->first_drop = idx->sources[i].first_drop;
        }
    }
    return 0;
}

/* ---- small JSON and encoding helpers ---------------------------------------------------- */

/* Nesting depth of JSON text (brackets outside strings), to refuse deep input before cJSON. */
static int json_depth_ok(const char *s, size_t len, int max)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_str = 0;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max) {
                return 0;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}

/*
 * Parse one JSON document occupying all of s[0..len) (whitespace around it allowed). On error
 * writes "reason" (with line:column relative to s) into msg.
 */
static cJSON *json_parse(const char *s, size_t len, char *msg, size_t msg_len)
{
    if (!json_depth_ok(s, len, KA_ATTEST_MAX_DEPTH)) {
        snprintf(msg, msg_len, "JSON nested deeper than %d levels", KA_ATTEST_MAX_DEPTH);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (root != NULL) {
        while (end < s + len && isspace((unsigned char)*end)) {
            end++;
        }
        if (end == s + len) {
            return root;
        }
        cJSON_Delete(root);
    }
    if (end == NULL || end < s || end > s + len) {
        end = s;
    }
    unsigned line = 1, col = 1;
    for (const char *p = s; p < end; p++) {
        if (*p == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(msg, msg_len, "%s at line %u column %u",
             root != NULL ? "unexpected data after the JSON document" : "malformed JSON", line,
             col);
    return NULL;
}

static const char *jstr(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * Decode DSSE base64: standard or URL-safe alphabet, padding optional (the DSSE reference
 * implementation accepts both). Returns 0 and a malloc'd buffer, or KA_EINVAL.
 */
static int b64_decode(const char *in, unsigned char **out, size_t *out_len)
{
    int ret = KA_EINVAL;
    size_t n = strlen(in);
    char *norm = NULL;
    unsigned char *dec = NULL;
    *out = NULL;
    *out_len = 0;
    if (n % 4 == 1 || n > KA_ATTEST_MAX_DOCUMENT) {
        goto exit;
    }
    norm = malloc(n + 4);
    dec = malloc(n / 4 * 3 + 4);
    if (norm == NULL || dec == NULL) {
        ret = KA_ENOMEM;
        goto exit;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '-') {
            c = '+';
        } else if (c == '_') {
            c = '/';
        } else if (!(isalnum((unsigned char)c) || c == '+' || c == '/' || c == '=')) {
            goto exit; /* no whitespace, no line breaks: the formats never wrap */
        }
        norm[m++] = c;
    }
    while (m % 4 != 0) {
        norm[m++] = '=';
    }
    size_t olen = 0;
    if (mbedtls_base64_decode(dec, n / 4 * 3 + 4, &olen, (const unsigned char *)norm, m) != 0) {
        goto exit;
    }
    *out = dec;
    *out_len = olen;
    dec = NULL;
    ret = 0;
exit:
    free(norm);
    free(dec);
    return ret;
}

static int hex_digest(const char *hex, unsigned char out[32])
{
    if (hex == NULL || strlen(hex) != 64) {
        return KA_EINVAL;
    }
    for (size_t i = 0; i < 32; i++) {
        int v = 0;
        for (size_t j = 0; j < 2; j++) {
            char c = (char)tolower((unsigned char)hex[2 * i + j]);
            int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
            if (d < 0) {
                return KA_EINVAL;
            }
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

static void digest_hex(const unsigned char d[32], char out[65])
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[64] = '\0';
}

/* ---- signature verification ------------------------------------------------------------- */

/* DSSE PAE: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
static int pae_build(struct ka_buf *b, const char *type, const unsigned char *body, size_t len)
{
    int ret = ka_buf_printf(b, "DSSEv1 %zu %s %zu ", strlen(type), type, len);
    if (ret == 0) {
        ret = ka_buf_add(b, body, len);
    }
    return ret;
}

enum sig_result { SIG_OK = 0, SIG_BAD, SIG_MALFORMED };

static enum sig_result key_verify(const struct ka_attest_keys *keys, const struct key *key,
                                  const unsigned char *msg, size_t len, const unsigned char *sig,
                                  size_t sig_len)
{
    unsigned char hash[64];
    mbedtls_md_type_t md = key->kind == KEY_EC_P384 ? MBEDTLS_MD_SHA384 : MBEDTLS_MD_SHA256;
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(md);
    if (info == NULL || mbedtls_md(info, msg, len, hash) != 0) {
        return SIG_BAD;
    }
    size_t hlen = mbedtls_md_get_size(info);
    /* mbedtls_pk_verify takes a non-const context but only reads the public key (RSA's lazily
     * computed blinding values are guarded by mbedtls' own mutex in the Debian build). */
    mbedtls_pk_context *pk = (mbedtls_pk_context *)&key->pk;
    if (key->kind == KEY_RSA) {
        if (mbedtls_pk_verify(pk, md, hash, hlen, sig, sig_len) == 0) {
            return SIG_OK;
        }
        mbedtls_pk_rsassa_pss_options pss = {.mgf1_hash_id = md,
                                             .expected_salt_len = MBEDTLS_RSA_SALT_LEN_ANY};
        if (mbedtls_pk_verify_ext(MBEDTLS_PK_RSASSA_PSS, &pss, pk, md, hash, hlen, sig, sig_len) ==
            0) {
            return SIG_OK;
        }
        return sig_len == mbedtls_pk_get_len(pk) ? SIG_BAD : SIG_MALFORMED;
    }
    /* ECDSA on the key's own keypair (not mbedtls_pk_verify, which copies the group and so
     * recomputes the generator's comb table on every call: about 30% slower). */
    pthread_mutex_t *lock = (pthread_mutex_t *)&keys->lock;
    pthread_mutex_lock(lock);
    int r = mbedtls_ecdsa_read_signature(mbedtls_pk_ec(*pk), hash, hlen, sig, sig_len);
    pthread_mutex_unlock(lock);
    if (r == 0) {
        return SIG_OK;
    }
    return r == MBEDTLS_ERR_ECP_VERIFY_FAILED ? SIG_BAD : SIG_MALFORMED;
}

/*
 * Verify the envelope's signatures over PAE(type, payload). On success sets *by to the label of
 * the key (borrowed). Otherwise writes the reason into `why`.
 */
static int envelope_verify(const cJSON *sigs, const char *type, const unsigned char *payload,
                           size_t plen, const struct ka_attest_keys *keys, const char **by,
                           char *why, size_t why_len)
{
    int ret = KA_EVERIFY;
    struct ka_buf pae;
    int b64_bad = 0, der_bad = 0, keyid_miss = 0, tried = 0;
    const char *missing_keyid = NULL;
    ka_buf_init(&pae, KA_ATTEST_MAX_DOCUMENT + 256);
    *by = NULL;
    if (keys == NULL || keys->n == 0) {
        snprintf(why, why_len, "no trusted keys are configured");
        goto exit;
    }
    int r = pae_build(&pae, type, payload, plen);
    if (r != 0) {
        ret = r;
        snprintf(why, why_len, "cannot build the signed message: %s", ka_strerror(r));
        goto exit;
    }
    const cJSON *s;
    cJSON_ArrayForEach(s, sigs)
    {
        const char *sig64 = jstr(s, "sig");
        const char *keyid = jstr(s, "keyid");
        unsigned char *sig = NULL;
        size_t sig_len = 0;
        if (sig64 == NULL || b64_decode(sig64, &sig, &sig_len) != 0 || sig_len == 0) {
            b64_bad = 1;
            free(sig);
            continue;
        }
        for (size_t i = 0; i < keys->n && *by == NULL; i++) {
            const struct key *key = &keys->v[i];
            if (key->keyid != NULL && keyid != NULL && *keyid != '\0' &&
                strcmp(key->keyid, keyid) != 0) {
                keyid_miss = 1;
                missing_keyid = keyid;
                continue;
            }
            tried = 1;
            enum sig_result sr =
                key_verify(keys, key, (const unsigned char *)pae.data, pae.len, sig, sig_len);
            if (sr == SIG_OK) {
                *by = key->label;
            } else if (sr == SIG_MALFORMED) {
                der_bad = 1;
            }
        }
        free(sig);
        if (*by != NULL) {
            ret = 0;
            goto exit;
        }
    }
    if (!tried && keyid_miss) {
        snprintf(why, why_len,
                 "signature does not verify with any trusted key (no key has keyid %s)",
                 missing_keyid);
    } else if (b64_bad && !tried) {
        snprintf(why, why_len,
                 "signature does not verify with any trusted key (sig is not valid base64)");
    } else if (der_bad) {
        snprintf(why, why_len,
                 "signature does not verify with any trusted key (sig is not a "
                 "well-formed signature for the key type, e.g. bad ASN.1 DER)");
    } else {
        snprintf(why, why_len, "signature does not verify with any trusted key");
    }
exit:
    ka_buf_free(&pae);
    return ret;
}

/* ---- statement and predicate ------------------------------------------------------------ */

static void count_sev(unsigned counts[KA_SEV_COUNT], const cJSON *sev)
{
    int s =
        cJSON_IsString(sev) ? ka_attest_sev_parse(sev->valuestring, strlen(sev->valuestring)) : -1;
    counts[s < 0 ? KA_SEV_UNKNOWN : s]++;
}

/* Count findings in a Trivy or Grype JSON report. Returns 0 or writes a reason. */
static int count_findings(const cJSON *result, unsigned counts[KA_SEV_COUNT], char *why,
                          size_t why_len)
{
    memset(counts, 0, KA_SEV_COUNT * sizeof(counts[0]));
    if (!cJSON_IsObject(result)) {
        snprintf(why, why_len, "predicate.scanner.result is missing or not an object");
        return KA_EATTEST;
    }
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(result, "Results");
    const cJSON *matches = cJSON_GetObjectItemCaseSensitive(result, "matches");
    if (cJSON_IsArray(matches)) { /* Grype */
        const cJSON *m;
        cJSON_ArrayForEach(m, matches)
        {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "vulnerability");
            count_sev(counts, cJSON_GetObjectItemCaseSensitive(v, "severity"));
        }
        return 0;
    }
    if (cJSON_IsArray(results) ||
        ((results == NULL || cJSON_IsNull(results)) &&
         cJSON_GetObjectItemCaseSensitive(result, "SchemaVersion") != NULL)) { /* Trivy */
        const cJSON *r;
        cJSON_ArrayForEach(r, results)
        {
            const cJSON *vulns = cJSON_GetObjectItemCaseSensitive(r, "Vulnerabilities");
            if (vulns != NULL && !cJSON_IsNull(vulns) && !cJSON_IsArray(vulns)) {
                snprintf(why, why_len, "Trivy Results[].Vulnerabilities is not an array");
                return KA_EATTEST;
            }
            const cJSON *secrets = cJSON_GetObjectItemCaseSensitive(r, "Secrets");
            if (secrets != NULL && !cJSON_IsNull(secrets) && !cJSON_IsArray(secrets)) {
                snprintf(why, why_len, "Trivy Results[].Secrets is not an array");
                return KA_EATTEST;
            }
            const cJSON *v;
            cJSON_ArrayForEach(v, vulns)
            {
                count_sev(counts, cJSON_GetObjectItemCaseSensitive(v, "Severity"));
            }
            cJSON_ArrayForEach(v, secrets) /* a leaked key is a finding like a CVE */
            {
                count_sev(counts, cJSON_GetObjectItemCaseSensitive(v, "Severity"));
            }
        }
        return 0;
    }
    snprintf(why, why_len,
             "predicate.scanner.result is neither a Trivy report (Results) nor a "
             "Grype report (matches)");
    return KA_EATTEST;
}

static int is_statement_type(const char *t)
{
    return t != NULL && (strcmp(t, "https://in-toto.io/Statement/v0.1") == 0 ||
                         strcmp(t, "https://in-toto.io/Statement/v1") == 0);
}

static int is_vuln_predicate(const char *t)
{
    if (t == NULL) {
        return 0;
    }
    if (strncmp(t, "https://", 8) == 0) {
        t += 8;
    }
    return strcmp(t, PREDICATE_VULN) == 0;
}

/* Fill the predicate part of `a`; on a problem writes the reason. */
static int read_predicate(const cJSON *stmt, struct att *a, char *why, size_t why_len)
{
    const cJSON *pred = cJSON_GetObjectItemCaseSensitive(stmt, "predicate");
    const cJSON *scanner = cJSON_GetObjectItemCaseSensitive(pred, "scanner");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pred, "metadata");
    const char *uri = jstr(scanner, "uri"), *ver = jstr(scanner, "version");
    a->scanner_uri = dup_s(uri ? uri : "");
    a->scanner_version = dup_s(ver ? ver : "");
    if (a->scanner_uri == NULL || a->scanner_version == NULL) {
        return KA_ENOMEM;
    }
    if (!is_vuln_predicate(a->predicate_type)) {
        snprintf(why, why_len,
                 "predicate type %.200s is not a vulnerability scan (want https://%s)",
                 a->predicate_type, PREDICATE_VULN);
        return KA_EATTEST;
    }
    if (!cJSON_IsObject(pred) || !cJSON_IsObject(scanner)) {
        snprintf(why, why_len, "predicate has no scanner object");
        return KA_EATTEST;
    }
    int ret = count_findings(cJSON_GetObjectItemCaseSensitive(scanner, "result"), a->counts, why,
                             why_len);
    if (ret != 0) {
        return ret;
    }
    const char *fin = jstr(meta, "scanFinishedOn");
    if (fin == NULL) {
        snprintf(why, why_len, "predicate has no metadata.scanFinishedOn");
        return KA_EATTEST;
    }
    if (ka_attest_parse_time(fin, strlen(fin), &a->scan_finished) != 0) {
        snprintf(why, why_len, "metadata.scanFinishedOn \"%.64s\" is not an RFC 3339 time", fin);
        return KA_EATTEST;
    }
    a->has_scan_time = 1;
    return 0;
}

/* ---- one document ----------------------------------------------------------------------- */

struct ctx {
    struct ka_attest_index *idx;
    const struct ka_attest_keys *keys;
    struct ka_buf *diag;
    const char *source;   /* borrowed from idx->sources */
    size_t added;         /* attestations added from this source */
    struct ka_buf report; /* what was reported about this source */
    size_t dropped;       /* documents over KA_ATTEST_MAX_DOCUMENT */
    char first_drop[200]; /* "file:line: N bytes" of the first of them */
};

static void report(struct ctx *c, unsigned line, const char *reason)
{
    struct ka_buf f;
    ka_buf_init(&f, 2048);
    int r = ka_buf_adds(&f, "\"file\":");
    if (r == 0) {
        r = ka_buf_add_json_string(&f, c->source, strlen(c->source));
    }
    if (r == 0 && line > 0) {
        r = ka_buf_printf(&f, ",\"line\":%u", line);
    }
    if (r == 0) {
        r = ka_buf_adds(&f, ",\"reason\":");
    }
    if (r == 0) {
        r = ka_buf_add_json_string(&f, reason, strlen(reason));
    }
    KA_LOG(KA_LOG_WARN, r == 0 ? f.data : NULL, "attestation skipped");
    ka_buf_free(&f);
    if (line > 0) {
        errmsg(&c->report, "%s:%u: %s\n", c->source, line, reason);
    } else {
        errmsg(&c->report, "%s: %s\n", c->source, reason);
    }
}

/* A document too large to parse: reported, counted, and named in misses (see index_sort). */
static void drop_document(struct ctx *c, unsigned line, size_t size)
{
    char why[160];
    snprintf(why, sizeof(why),
             "document is %zu bytes, over the %u byte limit per envelope or bundle; dropped", size,
             KA_ATTEST_MAX_DOCUMENT);
    report(c, line, why);
    if (c->dropped++ == 0 && line > 0) {
        snprintf(c->first_drop, sizeof(c->first_drop), "%.120s:%u (%zu bytes)", c->source, line,
                 size);
    } else if (c->dropped == 1) {
        snprintf(c->first_drop, sizeof(c->first_drop), "%.120s (%zu bytes)", c->source, size);
    }
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return 0;
    }
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need) {
        n *= 2;
    }
    void *q = realloc(*p, n * size);
    if (q == NULL) {
        return KA_ENOMEM;
    }
    *p = q;
    *cap = n;
    return 0;
}

/*
 * Process one parsed document (envelope or bundle). Returns 0 when an attestation was indexed,
 * KA_EATTEST with the reason in `why` when the document is unusable, KA_ENOMEM/KA_ELIMIT.
 */
static int add_document(struct ctx *c, const cJSON *root, unsigned line, int jsonl, char *why,
                        size_t why_len)
{
    int ret = KA_EATTEST;
    unsigned char *payload = NULL;
    size_t plen = 0;
    cJSON *stmt = NULL;
    struct att a;
    memset(&a, 0, sizeof(a));
    a.source = c->source;
    a.line = line;
    a.format = jsonl ? "dsse-jsonl" : "dsse";

    if (!cJSON_IsObject(root)) {
        snprintf(why, why_len, "expected a JSON object (DSSE envelope or Sigstore bundle)");
        goto exit;
    }
    const cJSON *env = root;
    const char *media = jstr(root, "mediaType");
    if (media != NULL) {
        if (strncmp(media, BUNDLE_MEDIA_PREFIX, strlen(BUNDLE_MEDIA_PREFIX)) != 0 ||
            strstr(media, "+json") == NULL) {
            snprintf(why, why_len, "mediaType %.100s is not a Sigstore bundle", media);
            goto exit;
        }
        env = cJSON_GetObjectItemCaseSensitive(root, "dsseEnvelope");
        if (!cJSON_IsObject(env)) {
            snprintf(why, why_len,
                     "Sigstore bundle has no dsseEnvelope (a messageSignature "
                     "bundle signs a blob, not an attestation)");
            goto exit;
        }
        a.format = "sigstore-bundle";
    }
    const char *ptype = jstr(env, "payloadType");
    const char *p64 = jstr(env, "payload");
    const cJSON *sigs = cJSON_GetObjectItemCaseSensitive(env, "signatures");
    if (ptype == NULL || p64 == NULL || !cJSON_IsArray(sigs)) {
        snprintf(why, why_len,
                 "not a DSSE envelope (needs string payloadType and payload, and a "
                 "signatures array)");
        goto exit;
    }
    int nsig = cJSON_GetArraySize(sigs);
    if (nsig < 1 || nsig > KA_ATTEST_MAX_SIGNATURES) {
        snprintf(why, why_len, "envelope has %d signatures (1 to %d allowed)", nsig,
                 KA_ATTEST_MAX_SIGNATURES);
        goto exit;
    }
    if (strcmp(ptype, PAYLOAD_TYPE_INTOTO) != 0) {
        snprintf(why, why_len, "payloadType %.100s is not %s", ptype, PAYLOAD_TYPE_INTOTO);
        goto exit;
    }
    int r = b64_decode(p64, &payload, &plen);
    if (r != 0) {
        ret = r == KA_ENOMEM ? r : KA_EATTEST;
        snprintf(why, why_len, "payload is not valid base64");
        goto exit;
    }

    char sigwhy[256] = "";
    const char *by = NULL;
    r = envelope_verify(sigs, ptype, payload, plen, c->keys, &by, sigwhy, sizeof(sigwhy));
    if (r == KA_ENOMEM) {
        ret = r;
        goto exit;
    }
    a.verified = r == 0;

    char pmsg[160];
    stmt = json_parse((const char *)payload, plen, pmsg, sizeof(pmsg));
    if (stmt == NULL || !cJSON_IsObject(stmt)) {
        snprintf(why, why_len, "payload is not an in-toto statement: %s%s",
                 stmt == NULL ? pmsg : "not a JSON object",
                 a.verified ? ""
                            : " (and the "
                              "signature does not verify)");
        goto exit;
    }
    const cJSON *subjects = cJSON_GetObjectItemCaseSensitive(stmt, "subject");
    int nsub = cJSON_GetArraySize(subjects);
    if (!cJSON_IsArray(subjects) || nsub < 1) {
        snprintf(why, why_len, "statement has no subject");
        goto exit;
    }
    if (nsub > KA_ATTEST_MAX_SUBJECTS) {
        snprintf(why, why_len, "statement has %d subjects (max %d)", nsub, KA_ATTEST_MAX_SUBJECTS);
        goto exit;
    }
    const char *stype = jstr(stmt, "_type"), *predtype = jstr(stmt, "predicateType");
    a.statement_type = dup_s(stype ? stype : "");
    a.predicate_type = dup_s(predtype ? predtype : "");
    a.verified_by = dup_s(by ? by : "");
    if (a.statement_type == NULL || a.predicate_type == NULL || a.verified_by == NULL) {
        ret = KA_ENOMEM;
        goto exit;
    }
    char pwhy[300] = "";
    if (!is_statement_type(stype)) {
        snprintf(pwhy, sizeof(pwhy), "_type %.100s is not an in-toto Statement (v0.1 or v1)",
                 a.statement_type);
    } else {
        r = read_predicate(stmt, &a, pwhy, sizeof(pwhy));
        if (r == KA_ENOMEM) {
            ret = r;
            goto exit;
        }
    }
    if (!a.verified) {
        a.problem = dup_s(sigwhy);
    } else if (pwhy[0] != '\0') {
        a.problem = dup_s(pwhy);
    }
    if ((!a.verified || pwhy[0] != '\0') && a.problem == NULL) {
        ret = KA_ENOMEM;
        goto exit;
    }

    /* index one entry per subject with a sha256 digest */
    if (grow((void **)&c->idx->atts, &c->idx->cap_atts, c->idx->natts + 1, sizeof(struct att)) !=
            0 ||
        grow((void **)&c->idx->entries, &c->idx->cap_entries, c->idx->nentries + (size_t)nsub,
             sizeof(struct entry)) != 0) {
        ret = KA_ENOMEM;
        goto exit;
    }
    if (c->idx->nentries + (size_t)nsub > KA_ATTEST_MAX_ENTRIES) {
        snprintf(why, why_len, "index is full (%d entries)", KA_ATTEST_MAX_ENTRIES);
        ret = KA_ELIMIT;
        goto exit;
    }
    size_t first = c->idx->nentries, n = 0;
    const cJSON *sub;
    cJSON_ArrayForEach(sub, subjects)
    {
        const cJSON *dig = cJSON_GetObjectItemCaseSensitive(sub, "digest");
        struct entry *e = &c->idx->entries[first + n];
        if (hex_digest(jstr(dig, "sha256"), e->digest) == 0) {
            e->att = c->idx->natts;
            n++;
        }
    }
    if (n == 0) {
        snprintf(why, why_len, "no subject has a sha256 digest of 64 hex digits");
        goto exit;
    }
    a.subjects = (size_t)nsub;
    c->idx->nentries += n;
    c->idx->atts[c->idx->natts++] = a;
    memset(&a, 0, sizeof(a));
    c->idx->stats.attestations++;
    if (c->idx->atts[c->idx->natts - 1].verified) {
        c->idx->stats.verified++;
    }
    c->added++;
    ret = 0;
exit:
    att_free(&a);
    cJSON_Delete(stmt);
    free(payload);
    return ret;
}

/* Parse a whole source: one document, or JSON Lines. */
static int add_source(struct ctx *c, const char *data, size_t len)
{
    int ret = 0;
    char why[512];
    size_t i = 0;
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) { /* UTF-8 BOM */
        i = 3;
    }
    while (i < len && isspace((unsigned char)data[i])) {
        i++;
    }
    if (i == len) {
        report(c, 0, "file is empty");
        return KA_EATTEST;
    }
    if (memchr(data, '\0', len) != NULL) {
        report(c, 0, "file contains NUL bytes; not JSON");
        return KA_EATTEST;
    }
    const char *nl = memchr(data + i, '\n', len - i);
    cJSON *root = NULL;
    if (len - i <= KA_ATTEST_MAX_DOCUMENT) {
        root = json_parse(data + i, len - i, why, sizeof(why));
    } else if (nl == NULL) {
        drop_document(c, 0, len - i);
        return KA_EATTEST;
    } else {
        snprintf(why, sizeof(why), "neither one JSON document nor JSON Lines");
    }
    if (root != NULL) {
        int r = add_document(c, root, 0, 0, why, sizeof(why));
        cJSON_Delete(root);
        if (r == KA_ENOMEM) {
            return r;
        }
        if (r != 0) {
            report(c, 0, why);
        }
        return r;
    }
    /* JSON Lines? Only if the first non-blank line is a complete document by itself (or too
     * large to tell, which the loop below reports). */
    char why2[160];
    size_t first_len = nl ? (size_t)(nl - (data + i)) : 0;
    if (first_len <= KA_ATTEST_MAX_DOCUMENT) {
        cJSON *first = nl ? json_parse(data + i, first_len, why2, sizeof(why2)) : NULL;
        if (first == NULL) {
            report(c, 0, why);
            return KA_EATTEST;
        }
        cJSON_Delete(first);
    }
    unsigned line = 1, lines = 0;
    for (size_t k = 0; k < i; k++) {
        line += data[k] == '\n';
    }
    size_t pos = i;
    while (pos < len) {
        const char *eol = memchr(data + pos, '\n', len - pos);
        size_t end = eol ? (size_t)(eol - data) : len;
        size_t s = pos;
        while (s < end && isspace((unsigned char)data[s])) {
            s++;
        }
        if (s < end) {
            if (++lines > KA_ATTEST_MAX_LINES) {
                snprintf(why, sizeof(why), "more than %d JSON Lines; the rest is ignored",
                         KA_ATTEST_MAX_LINES);
                report(c, line, why);
                break;
            }
            if (end - s > KA_ATTEST_MAX_DOCUMENT) {
                drop_document(c, line, end - s);
                pos = end + 1;
                line++;
                continue;
            }
            cJSON *doc = json_parse(data + s, end - s, why, sizeof(why));
            int r = KA_EATTEST;
            if (doc != NULL) {
                r = add_document(c, doc, line, 1, why, sizeof(why));
                cJSON_Delete(doc);
            }
            if (r == KA_ENOMEM) {
                return r;
            }
            if (r != 0) {
                report(c, line, why);
            }
            if (r == KA_ELIMIT) {
                ret = r;
                break;
            }
        }
        pos = end + 1;
        line++;
    }
    if (ret == 0 && c->added == 0) {
        ret = KA_EATTEST;
    }
    return ret;
}

static struct source *source_new(struct ka_attest_index *idx, const char *name)
{
    if (grow((void **)&idx->sources, &idx->cap_sources, idx->nsources + 1, sizeof(struct source)) !=
        0) {
        return NULL;
    }
    struct source *src = &idx->sources[idx->nsources];
    memset(src, 0, sizeof(*src));
    src->name = dup_s(name);
    if (src->name == NULL) {
        return NULL;
    }
    src->first_att = idx->natts;
    src->first_entry = idx->nentries;
    idx->nsources++;
    idx->stats.files++;
    return src;
}

static int att_counts(const struct att *a)
{
    return a->verified && a->problem == NULL && a->has_scan_time;
}

/*
 * Of the verified scans a source added (atts [first, natts)), keep the newest
 * KA_ATTEST_KEEP_PER_FILE; mark the others dropped, so they stay visible but never count.
 */
static void keep_newest(struct ka_attest_index *idx, size_t first, struct ctx *c)
{
    for (;;) {
        size_t valid = 0, oldest = 0;
        for (size_t i = first; i < idx->natts; i++) {
            const struct att *a = &idx->atts[i];
            if (att_counts(a)) {
                if (valid++ == 0 || a->scan_finished < idx->atts[oldest].scan_finished) {
                    oldest = i;
                }
            }
        }
        if (valid <= KA_ATTEST_KEEP_PER_FILE) {
            return;
        }
        char why[160];
        snprintf(why, sizeof(why),
                 "dropped: the file holds more than %d verified scans and only the newest %d "
                 "are kept",
                 KA_ATTEST_KEEP_PER_FILE, KA_ATTEST_KEEP_PER_FILE);
        idx->atts[oldest].problem = dup_s(why);
        if (idx->atts[oldest].problem == NULL) {
            idx->atts[oldest].verified = 0; /* out of memory: it still must not count */
        }
        report(c, idx->atts[oldest].line, why);
    }
}

/* Parse and verify one source's bytes. `data` is not read when len is over the limit. */
static int index_add(struct ka_attest_index *idx, const char *source, const char *data, size_t len,
                     const struct ka_attest_keys *keys, struct ka_buf *diag)
{
    int ret = KA_EINTERNAL;
    struct source *src = source_new(idx, source);
    if (src == NULL) {
        return KA_ENOMEM;
    }
    struct ctx c = {.idx = idx, .keys = keys, .diag = diag, .source = src->name};
    ka_buf_init(&c.report, 8192);
    if (len > KA_ATTEST_MAX_FILE) {
        char why[128];
        snprintf(why, sizeof(why), "file is %zu bytes, over the %u byte limit", len,
                 KA_ATTEST_MAX_FILE);
        report(&c, 0, why);
        ret = KA_ELIMIT;
    } else {
        if (ka_sha256((const unsigned char *)data, len, src->sha256) == 0) {
            src->hashed = 1;
        }
        ret = add_source(&c, data, len);
    }
    keep_newest(idx, src->first_att, &c);
    src->dropped = c.dropped;
    if (c.dropped > 0 && (src->first_drop = dup_s(c.first_drop)) == NULL) {
        ret = KA_ENOMEM;
    }
    src->natts = idx->natts - src->first_att;
    src->nentries = idx->nentries - src->first_entry;
    src->bad = c.added == 0;
    if (src->bad) {
        idx->stats.bad_files++;
    }
    if (c.report.len > 0) {
        if (diag != NULL) {
            errmsg(diag, "%s", c.report.data);
        }
        src->diag = ka_buf_take(&c.report, NULL);
    }
    ka_buf_free(&c.report);
    return ret;
}

static int att_copy(struct att *dst, const struct att *a, const char *source)
{
    *dst = *a;
    dst->source = source;
    dst->statement_type = dup_s(a->statement_type);
    dst->predicate_type = dup_s(a->predicate_type);
    dst->scanner_uri = a->scanner_uri ? dup_s(a->scanner_uri) : NULL;
    dst->scanner_version = a->scanner_version ? dup_s(a->scanner_version) : NULL;
    dst->verified_by = dup_s(a->verified_by);
    dst->problem = a->problem ? dup_s(a->problem) : NULL;
    if (dst->statement_type == NULL || dst->predicate_type == NULL || dst->verified_by == NULL ||
        (a->scanner_uri && dst->scanner_uri == NULL) ||
        (a->scanner_version && dst->scanner_version == NULL) ||
        (a->problem && dst->problem == NULL)) {
        att_free(dst);
        return KA_ENOMEM;
    }
    return 0;
}

/* Copy what `prev` learned from one unchanged source, without parsing or verifying again. */
static int index_reuse(struct ka_attest_index *idx, const struct ka_attest_index *prev,
                       const struct source *ps, struct ka_buf *diag)
{
    if (idx->nentries + ps->nentries > KA_ATTEST_MAX_ENTRIES) {
        return KA_ELIMIT;
    }
    if (grow((void **)&idx->atts, &idx->cap_atts, idx->natts + ps->natts, sizeof(struct att)) !=
            0 ||
        grow((void **)&idx->entries, &idx->cap_entries, idx->nentries + ps->nentries,
             sizeof(struct entry)) != 0) {
        return KA_ENOMEM;
    }
    struct source *src = source_new(idx, ps->name);
    if (src == NULL) {
        return KA_ENOMEM;
    }
    memcpy(src->sha256, ps->sha256, 32);
    src->hashed = ps->hashed;
    src->bad = ps->bad;
    src->dropped = ps->dropped;
    if (ps->first_drop != NULL && (src->first_drop = dup_s(ps->first_drop)) == NULL) {
        return KA_ENOMEM;
    }
    if (ps->diag != NULL) {
        src->diag = dup_s(ps->diag);
        if (src->diag == NULL) {
            return KA_ENOMEM;
        }
        if (diag != NULL) {
            errmsg(diag, "%s", ps->diag);
        }
    }
    for (size_t i = 0; i < ps->natts; i++) {
        const struct att *a = &prev->atts[ps->first_att + i];
        if (att_copy(&idx->atts[idx->natts], a, src->name) != 0) {
            return KA_ENOMEM;
        }
        idx->natts++;
        idx->stats.attestations++;
        idx->stats.verified += a->verified ? 1 : 0;
    }
    for (size_t i = 0; i < ps->nentries; i++) {
        struct entry e = prev->entries[ps->first_entry + i];
        e.att = e.att - ps->first_att + src->first_att;
        idx->entries[idx->nentries++] = e;
    }
    src->natts = ps->natts;
    src->nentries = ps->nentries;
    idx->stats.bad_files += ps->bad ? 1 : 0;
    idx->stats.reused++;
    return 0;
}

int ka_attest_index_add_bytes(struct ka_attest_index *idx, const char *source, const char *data,
                              size_t len, const struct ka_attest_keys *keys, struct ka_buf *diag)
{
    if (idx == NULL || source == NULL || (data == NULL && len > 0)) {
        return KA_EINVAL;
    }
    int ret = index_add(idx, source, data ? data : "", len, keys, diag);
    int r = index_sort(idx);
    return r != 0 ? r : ret;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int source_ptr_cmp(const void *a, const void *b)
{
    return strcmp((*(const struct source *const *)a)->name,
                  (*(const struct source *const *)b)->name);
}

/* The source of `prev` named `name` with content hash `sha`, or NULL. */
static const struct source *prev_source(const struct source *const *sorted, size_t n,
                                        const char *name, const unsigned char sha[32])
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(sorted[mid]->name, name);
        if (c == 0) {
            return (sorted[mid]->hashed && memcmp(sorted[mid]->sha256, sha, 32) == 0) ? sorted[mid]
                                                                                      : NULL;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

int ka_attest_index_load_dir(const char *dir, const struct ka_attest_keys *keys,
                             struct ka_attest_index **out, struct ka_buf *diag)
{
    return ka_attest_index_reload_dir(dir, keys, NULL, out, diag);
}

/* Move everything `src` holds to the end of `dst`; `src` is left empty. */
static int index_merge(struct ka_attest_index *dst, struct ka_attest_index *src)
{
    if (dst->nentries + src->nentries > KA_ATTEST_MAX_ENTRIES) {
        return KA_ELIMIT;
    }
    if (grow((void **)&dst->sources, &dst->cap_sources, dst->nsources + src->nsources,
             sizeof(struct source)) != 0 ||
        grow((void **)&dst->atts, &dst->cap_atts, dst->natts + src->natts, sizeof(struct att)) !=
            0 ||
        grow((void **)&dst->entries, &dst->cap_entries, dst->nentries + src->nentries,
             sizeof(struct entry)) != 0) {
        return KA_ENOMEM;
    }
    size_t att_off = dst->natts, entry_off = dst->nentries;
    for (size_t i = 0; i < src->nsources; i++) {
        struct source so = src->sources[i];
        so.first_att += att_off;
        so.first_entry += entry_off;
        dst->sources[dst->nsources++] = so;
    }
    if (src->natts > 0) { /* both may still be NULL when empty */
        memcpy(dst->atts + dst->natts, src->atts, src->natts * sizeof(struct att));
    }
    dst->natts += src->natts;
    for (size_t i = 0; i < src->nentries; i++) {
        struct entry e = src->entries[i];
        e.att += att_off;
        dst->entries[dst->nentries++] = e;
    }
    dst->stats.files += src->stats.files;
    dst->stats.bad_files += src->stats.bad_files;
    dst->stats.attestations += src->stats.attestations;
    dst->stats.verified += src->stats.verified;
    dst->stats.reused += src->stats.reused;
    src->nsources = src->natts = src->nentries = 0; /* moved, not freed */
    return 0;
}

/* One loader thread: files names[from, to) into its own index, with its own copy of the keys. */
struct loader {
    const char *dir;
    char *const *names;
    size_t from, to;
    struct ka_attest_keys *keys; /* owned clone */
    const struct ka_attest_index *prev;
    const struct source *const *sorted; /* prev's sources by name, NULL: reuse nothing */
    size_t nsorted;
    struct ka_attest_index *idx;
    struct ka_buf diag;
    int ret;
};

static void *loader_run(void *arg)
{
    struct loader *w = arg;
    struct ka_buf path, data;
    ka_buf_init(&path, PATH_MAX);
    ka_buf_init(&data, KA_ATTEST_MAX_FILE);
    w->ret = 0;
    for (size_t i = w->from; i < w->to && w->ret == 0; i++) {
        const char *name = w->names[i];
        ka_buf_reset(&path);
        ka_buf_reset(&data);
        if (ka_buf_printf(&path, "%s/%s", w->dir, name) != 0) {
            errmsg(&w->diag, "%s: path too long\n", name);
            continue;
        }
        struct stat st;
        if (stat(path.data, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue; /* directories, sockets, dangling links: not attestation files */
        }
        int r;
        if ((uintmax_t)st.st_size > KA_ATTEST_MAX_FILE) {
            /* index_add checks the length before touching the bytes: it reports the size */
            r = index_add(w->idx, name, "", (size_t)st.st_size, w->keys, &w->diag);
        } else {
            r = ka_buf_read_file(&data, path.data);
            unsigned char sha[32];
            const struct source *ps = NULL;
            if (r == 0 && w->nsorted > 0 &&
                ka_sha256((const unsigned char *)data.data, data.len, sha) == 0) {
                ps = prev_source(w->sorted, w->nsorted, name, sha);
            }
            if (r == 0 && ps != NULL) {
                r = index_reuse(w->idx, w->prev, ps, &w->diag);
            } else if (r == 0) {
                r = index_add(w->idx, name, data.data, data.len, w->keys, &w->diag);
            } else {
                /* unreadable, or grew past the limit since stat */
                errmsg(&w->diag, "%s: cannot read: %s\n", name, ka_strerror(r));
                KA_LOG_W("attestation file %s cannot be read: %s", name, ka_strerror(r));
                w->idx->stats.files++;
                w->idx->stats.bad_files++;
                r = 0;
            }
        }
        if (r == KA_ENOMEM) {
            w->ret = r;
        }
    }
    ka_buf_free(&path);
    ka_buf_free(&data);
    return NULL;
}

/* Loader threads for n files: one per CPU (at most 8), none beyond one per 32 files. */
static size_t loader_count(size_t n)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t w = cpus > 1 ? (size_t)cpus : 1;
    if (w > 8) {
        w = 8;
    }
    if (w > n / 32 + 1) {
        w = n / 32 + 1;
    }
    return w;
}

int ka_attest_index_reload_dir(const char *dir, const struct ka_attest_keys *keys,
                               const struct ka_attest_index *prev, struct ka_attest_index **out,
                               struct ka_buf *diag)
{
    int ret = KA_EINTERNAL;
    struct ka_attest_index *idx = NULL;
    DIR *d = NULL;
    char **names = NULL;
    size_t nnames = 0, cap = 0;
    const struct source **sorted = NULL;
    size_t nsorted = 0;
    struct loader *w = NULL;
    size_t nw = 0;
    *out = NULL;
    if (dir == NULL) {
        return KA_EINVAL;
    }
    d = opendir(dir);
    if (d == NULL) {
        ret = errno == ENOENT ? KA_ENOTFOUND : KA_EIO;
        errmsg(diag, "%s: cannot open attestation directory: %s\n", dir, strerror(errno));
        goto exit;
    }
    ret = ka_attest_index_new(&idx);
    if (ret != 0) {
        goto exit;
    }
    idx->has_keys_fp = keys_fingerprint(keys, idx->keys_fp) == 0;
    if (prev != NULL && prev->has_keys_fp && idx->has_keys_fp &&
        memcmp(prev->keys_fp, idx->keys_fp, 32) == 0 && prev->nsources > 0) {
        sorted = malloc(prev->nsources * sizeof(*sorted));
        if (sorted == NULL) {
            ret = KA_ENOMEM;
            goto exit;
        }
        for (size_t i = 0; i < prev->nsources; i++) {
            sorted[nsorted++] = &prev->sources[i];
        }
        qsort(sorted, nsorted, sizeof(*sorted), source_ptr_cmp);
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        if (nnames >= KA_ATTEST_MAX_FILES) {
            errmsg(diag, "%s: more than %d files; the rest are ignored\n", dir,
                   KA_ATTEST_MAX_FILES);
            KA_LOG_W("attestation directory has more than %d files; the rest are ignored",
                     KA_ATTEST_MAX_FILES);
            break;
        }
        if (grow((void **)&names, &cap, nnames + 1, sizeof(*names)) != 0 ||
            (names[nnames] = dup_s(de->d_name)) == NULL) {
            ret = KA_ENOMEM;
            goto exit;
        }
        nnames++;
    }
    if (nnames > 1) { /* an empty directory leaves names NULL */
        qsort(names, nnames, sizeof(*names), name_cmp);
    }

    /* contiguous slices of the sorted names, merged back in order */
    nw = loader_count(nnames);
    w = calloc(nw, sizeof(*w));
    if (w == NULL) {
        ret = KA_ENOMEM;
        goto exit;
    }
    for (size_t i = 0; i < nw; i++) {
        w[i] = (struct loader){.dir = dir,
                               .names = names,
                               .from = nnames * i / nw,
                               .to = nnames * (i + 1) / nw,
                               .prev = prev,
                               .sorted = sorted,
                               .nsorted = nsorted};
        ka_buf_init(&w[i].diag, 256 * 1024);
        ret = keys_clone(keys, &w[i].keys);
        ret = ret ? ret : ka_attest_index_new(&w[i].idx);
        if (ret != 0) {
            goto exit;
        }
    }
    pthread_t tids[8];
    size_t started = 0;
    for (size_t i = 1; i < nw; i++) {
        if (pthread_create(&tids[i], NULL, loader_run, &w[i]) != 0) {
            break;
        }
        started = i;
    }
    loader_run(&w[0]);
    for (size_t i = 1; i <= started; i++) {
        pthread_join(tids[i], NULL);
    }
    for (size_t i = started + 1; i < nw; i++) {
        loader_run(&w[i]); /* threads that could not start: do their share here */
    }
    for (size_t i = 0; i < nw; i++) {
        if (w[i].ret != 0) {
            ret = w[i].ret;
            goto exit;
        }
        if (diag != NULL && w[i].diag.len > 0) {
            errmsg(diag, "%s", w[i].diag.data);
        }
        ret = index_merge(idx, w[i].idx);
        if (ret == KA_ELIMIT) {
            errmsg(diag, "%s: more than %d attestation subjects; the rest are ignored\n", dir,
                   KA_ATTEST_MAX_ENTRIES);
            break;
        }
        if (ret != 0) {
            goto exit;
        }
    }
    ret = index_sort(idx);
    if (ret != 0) {
        goto exit;
    }
    KA_LOG_I("attestations loaded from %s: %zu files (%zu bad, %zu unchanged), %zu "
             "attestations, %zu verified, %zu subject entries",
             dir, idx->stats.files, idx->stats.bad_files, idx->stats.reused,
             idx->stats.attestations, idx->stats.verified, idx->nentries);
    *out = idx;
    idx = NULL;
    ret = 0;
exit:
    if (d != NULL) {
        closedir(d);
    }
    for (size_t i = 0; w != NULL && i < nw; i++) {
        ka_attest_keys_free(w[i].keys);
        ka_attest_index_free(w[i].idx);
        ka_buf_free(&w[i].diag);
    }
    free(w);
    for (size_t i = 0; i < nnames; i++) {
        free(names[i]);
    }
    free(names);
    free(sorted);
    ka_attest_index_free(idx);
    return ret;
}

/* ======================================================================================== */
/* admission check                                                                          */
/* ======================================================================================== */

/* a - b, saturated at the int64 limits (`now` comes from the caller) */
static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t d;
    if (__builtin_sub_overflow(a, b, &d)) {
        return b < 0 ? INT64_MAX : INT64_MIN;
    }
    return d;
}

/* Evaluate one candidate; on failure append its clause (no source prefix) to `why`. */
static int evaluate(const char *problem, int has_time, int64_t finished,
                    const unsigned counts[KA_SEV_COUNT], const struct ka_attest_params *p,
                    int64_t now, struct ka_buf *why)
{
    int r = 0;
    if (problem != NULL) {
        if (why != NULL) {
            r = ka_buf_adds(why, problem);
        }
        return KA_EATTEST;
    }
    if (!has_time) {
        if (why != NULL) {
            r = ka_buf_adds(why, "scan has no finish time");
        }
        return KA_EATTEST;
    }
    int bad = 0;
    int64_t ahead = sat_sub(finished, now), age = sat_sub(now, finished);
    if (ahead > 0 && ahead > p->max_future_skew_s) {
        if (why != NULL) {
            r = ka_buf_adds(why, "scan is dated ");
            r = r ? r : ka_attest_format_duration(why, ahead);
            r = r ? r : ka_buf_adds(why, " in the future (max skew ");
            r = r ? r : ka_attest_format_duration(why, p->max_future_skew_s);
            r = r ? r : ka_buf_adds(why, ")");
        }
        bad = 1;
    } else if (age > 0 && age > p->max_age_s) {
        if (why != NULL) {
            r = ka_buf_adds(why, "scan is ");
            r = r ? r : ka_attest_format_duration(why, age);
            r = r ? r : ka_buf_adds(why, " old (max ");
            r = r ? r : ka_attest_format_duration(why, p->max_age_s);
            r = r ? r : ka_buf_adds(why, ")");
        }
        bad = 1;
    }
    for (int s = 0; s < KA_SEV_COUNT; s++) {
        if (p->max_severity[s] >= 0 && counts[s] > (unsigned)p->max_severity[s]) {
            if (why != NULL) {
                r = r ? r
                      : ka_buf_printf(why, "%s%u %s finding%s (max %d)", bad ? ", " : "", counts[s],
                                      sev_names[s], counts[s] == 1 ? "" : "s", p->max_severity[s]);
            }
            bad = 1;
        }
    }
    (void)r; /* a full `why` only truncates the explanation; the verdict stands */
    return bad ? KA_EATTEST : 0;
}

static int eval_entry(const struct ka_attest_index *idx, size_t e, const struct ka_attest_params *p,
                      int64_t now, struct ka_buf *why)
{
    const struct att *a = &idx->atts[idx->entries[e].att];
    return evaluate(a->problem, a->has_scan_time, a->scan_finished, a->counts, p, now, why);
}

/* The slots [*lo, *end) of a digest (newest first). */
static void digest_range(const struct ka_attest_index *idx, const unsigned char digest[32],
                         size_t *lo, size_t *end)
{
    size_t l = 0, hi = idx->nslots;
    while (l < hi) {
        size_t mid = l + (hi - l) / 2;
        if (memcmp(idx->slots[mid].digest, digest, 32) < 0) {
            l = mid + 1;
        } else {
            hi = mid;
        }
    }
    size_t e = l;
    while (e < idx->nslots && memcmp(idx->slots[e].digest, digest, 32) == 0) {
        e++;
    }
    *lo = l;
    *end = e;
}

/* First slot in [lo, end) (newest first) that holds a verified, usable scan; end when none. */
static size_t decider(const struct ka_attest_index *idx, size_t lo, size_t end)
{
    for (size_t i = lo; i < end; i++) {
        if (att_counts(&idx->atts[idx->entries[idx->slots[i].entry].att])) {
            return i;
        }
    }
    return end;
}

static void clause_sep(struct ka_buf *why)
{
    if (why != NULL && why->len > 0) {
        int r = ka_buf_adds(why, "; ");
        (void)r;
    }
}

int ka_attest_check(const struct ka_attest_index *idx, const char *image,
                    const struct ka_attest_params *p, int64_t now, struct ka_buf *why)
{
    int r = 0;
    if (idx == NULL || image == NULL || p == NULL) {
        return KA_EINVAL;
    }
    const char *at = strrchr(image, '@');
    if (at == NULL) {
        clause_sep(why);
        if (why != NULL) {
            r = ka_buf_printf(why,
                              "image %.200s is referenced by tag; pin the digest "
                              "(repo@sha256:...)",
                              image);
        }
        return KA_EATTEST;
    }
    unsigned char digest[32];
    if (strncmp(at + 1, "sha256:", 7) != 0 || hex_digest(at + 8, digest) != 0) {
        clause_sep(why);
        if (why != NULL) {
            r = ka_buf_printf(why,
                              "image %.200s has no valid sha256 digest (want "
                              "repo@sha256:<64 hex digits>)",
                              image);
        }
        return KA_EATTEST;
    }
    size_t lo, end;
    digest_range(idx, digest, &lo, &end);
    if (lo == end) {
        char hex[65];
        digest_hex(digest, hex);
        clause_sep(why);
        if (why != NULL) {
            r = ka_buf_printf(why, "no attestation for sha256:%s", hex);
            if (idx->dropped > 0) {
                r = r ? r
                      : ka_buf_printf(why,
                                      " (%zu document%s over the %u byte limit %s dropped at "
                                      "load, first %s)",
                                      idx->dropped, idx->dropped == 1 ? "" : "s",
                                      KA_ATTEST_MAX_DOCUMENT, idx->dropped == 1 ? "was" : "were",
                                      idx->first_drop ? idx->first_drop : "?");
            }
        }
        return KA_EATTEST;
    }
    size_t newest = decider(idx, lo, end);
    if (newest < end) {
        /* the newest verified scan decides; scans finished the same second must all pass */
        size_t last = newest, bad = 0;
        while (last < end && idx->slots[last].finished == idx->slots[newest].finished) {
            const struct att *a = &idx->atts[idx->entries[idx->slots[last].entry].att];
            if (att_counts(a) && eval_entry(idx, idx->slots[last].entry, p, now, NULL) != 0 &&
                bad++ < KA_ATTEST_MAX_CLAUSES) {
                if (why != NULL) {
                    clause_sep(why);
                    r = r ? r
                          : (a->line ? ka_buf_printf(why, "%s:%u: ", a->source, a->line)
                                     : ka_buf_printf(why, "%s: ", a->source));
                    (void)eval_entry(idx, idx->slots[last].entry, p, now, why);
                }
            }
            last++;
        }
        size_t older = 0;
        for (size_t i = last; i < end; i++) {
            older += att_counts(&idx->atts[idx->entries[idx->slots[i].entry].att]);
        }
        if (bad > KA_ATTEST_MAX_CLAUSES && why != NULL) {
            r = r ? r : ka_buf_printf(why, "; and %zu more", bad - KA_ATTEST_MAX_CLAUSES);
        }
        if (bad && why != NULL && older > 0) {
            r = r ? r
                  : ka_buf_printf(why,
                                  " (the newest verified scan decides; %zu older scan%s not "
                                  "count)",
                                  older, older == 1 ? " does" : "s do");
        }
        (void)r;
        return bad ? KA_EATTEST : 0;
    }
    if (why != NULL) {
        size_t listed = 0;
        for (size_t i = lo; i < end && listed < KA_ATTEST_MAX_CLAUSES; i++, listed++) {
            const struct att *a = &idx->atts[idx->entries[idx->slots[i].entry].att];
            clause_sep(why);
            r = r ? r
                  : (a->line ? ka_buf_printf(why, "%s:%u: ", a->source, a->line)
                             : ka_buf_printf(why, "%s: ", a->source));
            (void)eval_entry(idx, idx->slots[i].entry, p, now, why);
        }
        if (end - lo > listed) {
            r = r ? r : ka_buf_printf(why, "; and %zu more", end - lo - listed);
        }
    }
    (void)r;
    return KA_EATTEST;
}

/* ---- inspection ------------------------------------------------------------------------- */

size_t ka_attest_index_count(const struct ka_attest_index *idx)
{
    return idx == NULL ? 0 : idx->nentries;
}

int ka_attest_index_entry(const struct ka_attest_index *idx, size_t i, struct ka_attest_entry *out)
{
    if (idx == NULL || out == NULL || i >= idx->nentries) {
        return KA_EINVAL;
    }
    const struct att *a = &idx->atts[idx->entries[i].att];
    memset(out, 0, sizeof(*out));
    out->source = a->source;
    out->line = a->line;
    out->format = a->format;
    memcpy(out->digest, "sha256:", 7);
    digest_hex(idx->entries[i].digest, out->digest + 7);
    out->subjects = a->subjects;
    out->statement_type = a->statement_type;
    out->predicate_type = a->predicate_type;
    out->scanner_uri = a->scanner_uri ? a->scanner_uri : "";
    out->scanner_version = a->scanner_version ? a->scanner_version : "";
    out->scan_finished = a->scan_finished;
    out->has_scan_time = a->has_scan_time;
    memcpy(out->counts, a->counts, sizeof(out->counts));
    out->verified = a->verified;
    out->verified_by = a->verified_by ? a->verified_by : "";
    out->problem = a->problem;
    if (att_counts(a)) {
        /* is this the digest's newest verified scan (or tied with it)? */
        size_t lo, end;
        digest_range(idx, idx->entries[i].digest, &lo, &end);
        size_t first = decider(idx, lo, end);
        out->decides = first < end && idx->slots[first].finished == a->scan_finished;
    }
    return 0;
}

int ka_attest_entry_evaluate(const struct ka_attest_entry *e, const char *digest,
                             const struct ka_attest_params *p, int64_t now, struct ka_buf *why)
{
    if (e == NULL || digest == NULL || p == NULL) {
        return KA_EINVAL;
    }
    if (strcasecmp(e->digest, digest) != 0) {
        if (why != NULL) {
            int r = ka_buf_printf(why, "subject %s is not %.80s", e->digest, digest);
            (void)r;
        }
        return KA_EATTEST;
    }
    return evaluate(e->problem, e->has_scan_time, e->scan_finished, e->counts, p, now, why);
}
