/*
 * Trusted public keys for image-scan attestations: PEM loading, classification, and signature
 * verification (ECDSA P-256/P-384, RSA PKCS#1 v1.5 and PSS). See kadmit/attest_keys.h.
 */
#include "kadmit/attest_keys.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <pthread.h>

#include "kadmit/error.h"
#include "mbedtls_compat.h"

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

int ka_attest_keys_clone(const struct ka_attest_keys *src, struct ka_attest_keys **out)
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
        d->label = strdup(s->label);
        d->keyid = s->keyid ? strdup(s->keyid) : NULL;
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

int ka_attest_keys_fingerprint(const struct ka_attest_keys *k, unsigned char out[32])
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
        ka_buf_diag(err, "%s: is a private key; configure the public key (openssl pkey -pubout)",
                    label);
        goto exit;
    }
    if (strstr(copy, "CERTIFICATE") != NULL) {
        ka_buf_diag(err, "%s: certificates are not supported; configure the public key", label);
        goto exit;
    }
    int mret = mbedtls_pk_parse_public_key(&key->pk, (const unsigned char *)copy, len + 1);
    if (mret != 0 && is_ed25519_pem(copy)) {
        ka_buf_diag(
            err, "%s: Ed25519 keys are not supported by this build (use ECDSA P-256/P-384 or RSA)",
            label);
        goto exit;
    }
    if (mret != 0) {
        ka_buf_diag(err, "%s: not a PEM public key (mbedtls -0x%04x)", label, (unsigned)-mret);
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
            ka_buf_diag(err, "%s: unsupported elliptic curve (P-256 and P-384 are supported)",
                        label);
            goto exit;
        }
    } else if (t == MBEDTLS_PK_RSA) {
        size_t bits = mbedtls_pk_get_bitlen(&key->pk);
        if (bits < 2048 || bits > 8192) {
            ka_buf_diag(err, "%s: RSA key of %zu bits (2048 to 8192 are accepted)", label, bits);
            goto exit;
        }
        key->kind = KEY_RSA;
    } else {
        ka_buf_diag(err, "%s: unsupported key type %s", label, mbedtls_pk_get_name(&key->pk));
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
            ka_buf_diag(err, "%s: PEM block without its END line", label);
            ret = KA_EINVAL;
            goto exit;
        }
        close += 5;
        if (k->n >= KA_ATTEST_MAX_KEYS) {
            ka_buf_diag(err, "%s: more than %d trusted keys", label, KA_ATTEST_MAX_KEYS);
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
        key->label = strdup(name);
        key->keyid = (keyid != NULL && *keyid != '\0') ? strdup(keyid) : NULL;
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
        ka_buf_diag(err, "%s: no PEM public key found", label);
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
        ka_buf_diag(err, "%s: no such key file", path);
        ret = KA_ENOTFOUND;
        goto exit;
    }
    if (gr != 0) {
        ka_buf_diag(err, "%s: cannot list key files", path);
        ret = gr == GLOB_NOSPACE ? KA_ENOMEM : KA_EIO;
        goto exit;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        ka_buf_reset(&data);
        ret = ka_buf_read_file(&data, g.gl_pathv[i]);
        if (ret != 0) {
            ka_buf_diag(err, "%s: %s%s", g.gl_pathv[i],
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

/* ---- signature verification ------------------------------------------------------------- */

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

int ka_attest_keys_verify(const struct ka_attest_keys *k, const char *keyid,
                          const unsigned char *msg, size_t len, const unsigned char *sig,
                          size_t sig_len, const char **by, unsigned *seen)
{
    *by = NULL;
    *seen = 0;
    for (size_t i = 0; k != NULL && i < k->n; i++) {
        const struct key *key = &k->v[i];
        if (key->keyid != NULL && keyid != NULL && *keyid != '\0' &&
            strcmp(key->keyid, keyid) != 0) {
            *seen |= KA_ATTEST_SIG_KEYID_MISS;
            continue;
        }
        *seen |= KA_ATTEST_SIG_TRIED;
        enum sig_result sr = key_verify(k, key, msg, len, sig, sig_len);
        if (sr == SIG_OK) {
            *by = key->label;
            return 0;
        }
        if (sr == SIG_MALFORMED) {
            *seen |= KA_ATTEST_SIG_MALFORMED;
        }
    }
    return KA_EVERIFY;
}
