#include "kadmit/tls.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "kadmit/error.h"
#include "kadmit/file.h"
#include "mbedtls_compat.h"

int64_t ka_tls_x509_time(const mbedtls_x509_time *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = t->year - 1900;
    tm.tm_mon = t->mon - 1;
    tm.tm_mday = t->day;
    tm.tm_hour = t->hour;
    tm.tm_min = t->min;
    tm.tm_sec = t->sec;
    return (int64_t)timegm(&tm);
}

/* ------------------------------------------------------------------------------- policy */

/* In server preference order (mbedTLS 2.28 picks the first of ours the client offers).
 * ChaCha20-Poly1305 first: mbedTLS 2.28 runs AES-GCM a block at a time, and measured on a
 * 6.6 KB AdmissionReview record ChaCha20-Poly1305 costs 22 us against AES-128-GCM's 29 us
 * (tests/bench/bench_tls_crypto). Clients without it still get AES-GCM. */
static const int ciphersuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
#ifdef KA_HAVE_TLS1_3
    /* TLS 1.3's suites are all AEAD; its key exchange is ephemeral ECDHE (no PSK, below). */
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
#endif
    0,
};

/* Without an explicit list mbedTLS would negotiate secp521r1 first, doubling handshake cost. */
static const ka_tls_group curves[] = {
    KA_TLS_GROUP_X25519,
    KA_TLS_GROUP_SECP256R1,
    KA_TLS_GROUP_SECP384R1,
    KA_TLS_GROUP_NONE,
};

static const char *alpn[] = {"http/1.1", NULL};

/* ------------------------------------------------------------------------------ configs */

struct ka_tls_config {
    _Atomic int refs;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt chain;
    mbedtls_x509_crt ca;
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg; /* thread-safe: mbedTLS is built with MBEDTLS_THREADING_C */
    int64_t not_after;
    int64_t not_before;
};

static void diag_mbedtls(struct ka_buf *diag, const char *what, const char *path, int err)
{
    if (diag == NULL) {
        return;
    }
    char text[160];
    mbedtls_strerror(err, text, sizeof(text));
    int ret = ka_buf_printf(diag, "%s %s: %s (-0x%04x)", what, path, text, (unsigned)-err);
    (void)ret;
}

static void config_free(struct ka_tls_config *c)
{
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_x509_crt_free(&c->chain);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_pk_free(&c->key); /* mbedtls_pk_free zeroizes the key material */
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
    mbedtls_platform_zeroize(c, sizeof(*c));
    free(c);
}

int ka_tls_config_load(const char *cert, const char *key, const char *client_ca,
                       struct ka_tls_config **out, struct ka_buf *diag)
{
    int ret = KA_EINTERNAL;
    int err;
    unsigned char hash[32] = {0};
    unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t sig_len = 0;
    struct ka_tls_config *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return KA_ENOMEM;
    }
    atomic_init(&c->refs, 1);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_x509_crt_init(&c->chain);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_pk_init(&c->key);
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);

    ret = KA_ETLS;
    err = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                                (const unsigned char *)"kadmit-tls", 10);
    if (err != 0) {
        diag_mbedtls(diag, "seeding the RNG for", cert, err);
        goto exit;
    }
    err = mbedtls_x509_crt_parse_file(&c->chain, cert);
    if (err != 0) {
        diag_mbedtls(diag, "cannot load certificate", cert, err);
        goto exit;
    }
    err = ka_pk_parse_keyfile(&c->key, key, mbedtls_ctr_drbg_random, &c->drbg);
    if (err != 0) {
        diag_mbedtls(diag, "cannot load private key", key, err);
        goto exit;
    }
    err = ka_pk_check_pair(&c->chain.pk, &c->key, mbedtls_ctr_drbg_random, &c->drbg);
    if (err != 0) {
        if (diag != NULL) {
            int r = ka_buf_printf(diag, "private key %s does not match certificate %s", key, cert);
            (void)r;
        }
        goto exit;
    }
    if (client_ca != NULL && client_ca[0] != '\0') {
        err = mbedtls_x509_crt_parse_file(&c->ca, client_ca);
        if (err != 0) {
            diag_mbedtls(diag, "cannot load client CA", client_ca, err);
            goto exit;
        }
    }
    c->not_after = ka_tls_x509_time(&c->chain.valid_to);
    c->not_before = ka_tls_x509_time(&c->chain.valid_from);

    /* Sign once now: mbedTLS 2.28 builds the ECDSA comb table lazily on first use, and doing
     * that from several serving threads at once would race. */
    err = ka_pk_sign(&c->key, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, sizeof(sig), &sig_len,
                     mbedtls_ctr_drbg_random, &c->drbg);
    if (err != 0) {
        diag_mbedtls(diag, "cannot sign with private key", key, err);
        goto exit;
    }

    err = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT);
    if (err != 0) {
        diag_mbedtls(diag, "ssl config for", cert, err);
        goto exit;
    }
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    err = ka_ssl_conf_versions(&c->conf, KA_TLS_1_2, ka_tls_max_version());
    if (err != 0) {
        diag_mbedtls(diag, "TLS versions for", cert, MBEDTLS_ERR_SSL_BAD_CONFIG);
        goto exit;
    }
#ifdef KA_HAVE_TLS1_3
    mbedtls_ssl_conf_tls13_key_exchange_modes(&c->conf,
                                              MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL);
#endif
    mbedtls_ssl_conf_ciphersuites(&c->conf, ciphersuites);
    ka_ssl_conf_groups(&c->conf, curves);
    mbedtls_ssl_conf_renegotiation(&c->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    mbedtls_ssl_conf_legacy_renegotiation(&c->conf, MBEDTLS_SSL_LEGACY_NO_RENEGOTIATION);
    err = mbedtls_ssl_conf_alpn_protocols(&c->conf, alpn);
    if (err != 0) {
        diag_mbedtls(diag, "ALPN for", cert, err);
        goto exit;
    }
    if (c->ca.raw.p != NULL) {
        mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
        mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    } else {
        mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_NONE);
    }
    err = mbedtls_ssl_conf_own_cert(&c->conf, &c->chain, &c->key);
    if (err != 0) {
        diag_mbedtls(diag, "cannot use certificate", cert, err);
        goto exit;
    }
    *out = c;
    c = NULL;
    ret = 0;
exit:
    mbedtls_platform_zeroize(sig, sizeof(sig));
    if (c != NULL) {
        config_free(c);
    }
    return ret;
}

int ka_tls_global_init(void)
{
    return ka_mbedtls_init() == 0 ? 0 : KA_ETLS;
}

const char *ka_tls_library_version(void)
{
    static char version[18];
    mbedtls_version_get_string(version);
    return version;
}

int ka_tls_max_version(void)
{
#ifdef KA_HAVE_TLS1_3
    return KA_TLS_1_3;
#else
    return KA_TLS_1_2;
#endif
}

int ka_tls_config_set_min_version(struct ka_tls_config *c, int version)
{
    if ((version != KA_TLS_1_2 && version != KA_TLS_1_3) || version > ka_tls_max_version()) {
        return KA_EINVAL;
    }
    return ka_ssl_conf_versions(&c->conf, version, ka_tls_max_version()) == 0 ? 0 : KA_EINVAL;
}

struct ka_tls_config *ka_tls_config_ref(struct ka_tls_config *c)
{
    if (c != NULL) {
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    }
    return c;
}

void ka_tls_config_unref(struct ka_tls_config *c)
{
    if (c != NULL && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
        config_free(c);
    }
}

int64_t ka_tls_config_not_after(const struct ka_tls_config *c)
{
    return c->not_after;
}

int64_t ka_tls_config_not_before(const struct ka_tls_config *c)
{
    return c->not_before;
}

uint64_t ka_tls_files_fingerprint(const char *cert, const char *key, const char *client_ca)
{
    uint64_t h = 0x6b61646d6974ull;
    h = ka_file_fingerprint(h, cert);
    h = ka_file_fingerprint(h, key);
    return ka_file_fingerprint(h, client_ca);
}

void ka_tls_holder_init(struct ka_tls_holder *h)
{
    h->current = NULL;
    pthread_mutex_init(&h->lock, NULL);
}

void ka_tls_holder_free(struct ka_tls_holder *h)
{
    /* The mutex is a default one and holds no resources, so free stays safe twice. */
    ka_tls_config_unref(h->current);
    h->current = NULL;
}

struct ka_tls_config *ka_tls_holder_get(struct ka_tls_holder *h)
{
    pthread_mutex_lock(&h->lock);
    struct ka_tls_config *c = ka_tls_config_ref(h->current);
    pthread_mutex_unlock(&h->lock);
    return c;
}

void ka_tls_holder_set(struct ka_tls_holder *h, struct ka_tls_config *c)
{
    pthread_mutex_lock(&h->lock);
    struct ka_tls_config *old = h->current;
    h->current = c;
    pthread_mutex_unlock(&h->lock);
    ka_tls_config_unref(old);
}

/* ---------------------------------------------------------------------------- sessions */

/* Read-ahead: mbedTLS asks for a record header and then its body, two recv() calls per record;
 * one larger recv() into this buffer serves both. */
#define READ_AHEAD (16384 + 256) /* one full record with its header and MAC */

struct ka_tls_conn {
    mbedtls_ssl_context ssl;
    struct ka_tls_config *cfg; /* reference held for the session's life */
    int fd;
    enum ka_tls_want want;
    size_t ra_pos, ra_len;
    unsigned char ra[READ_AHEAD];
    char error[160];
};

static int conn_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct ka_tls_conn *c = ctx;
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0) {
        return (int)n;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    }
    return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET
                                                 : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int conn_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct ka_tls_conn *c = ctx;
    if (c->ra_pos < c->ra_len) {
        size_t n = c->ra_len - c->ra_pos;
        if (n > len) {
            n = len;
        }
        memcpy(buf, c->ra + c->ra_pos, n);
        c->ra_pos += n;
        return (int)n;
    }
    if (len < sizeof(c->ra)) {
        ssize_t n = recv(c->fd, c->ra, sizeof(c->ra), 0);
        if (n > 0) {
            c->ra_pos = 0;
            c->ra_len = (size_t)n;
            return conn_recv(ctx, buf, len);
        }
        if (n == 0) {
            return 0;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return MBEDTLS_ERR_SSL_WANT_READ;
        }
        return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
    }
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n >= 0) {
        return (int)n;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        return MBEDTLS_ERR_SSL_WANT_READ;
    }
    return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

int ka_tls_conn_new(struct ka_tls_config *cfg, int fd, struct ka_tls_conn **out)
{
    int ret = KA_EINTERNAL;
    struct ka_tls_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return KA_ENOMEM;
    }
    mbedtls_ssl_init(&c->ssl);
    c->fd = fd;
    c->cfg = ka_tls_config_ref(cfg);
    int err = mbedtls_ssl_setup(&c->ssl, &cfg->conf);
    if (err != 0) {
        ret = err == MBEDTLS_ERR_SSL_ALLOC_FAILED ? KA_ENOMEM : KA_ETLS;
        goto exit;
    }
    mbedtls_ssl_set_bio(&c->ssl, c, conn_send, conn_recv, NULL);
    *out = c;
    c = NULL;
    ret = 0;
exit:
    ka_tls_conn_free(c);
    return ret;
}

void ka_tls_conn_free(struct ka_tls_conn *c)
{
    if (c == NULL) {
        return;
    }
    mbedtls_ssl_free(&c->ssl); /* zeroizes keys and buffers */
    mbedtls_platform_zeroize(c->ra, sizeof(c->ra));
    ka_tls_config_unref(c->cfg);
    free(c);
}

/* Map an mbedTLS status to 0 / KA_EWOULDBLOCK / KA_ETLS and remember what to wait for. */
static int conn_status(struct ka_tls_conn *c, int err)
{
    c->want = KA_TLS_WANT_NONE;
    if (err >= 0) {
        return 0;
    }
    if (err == MBEDTLS_ERR_SSL_WANT_READ) {
        c->want = KA_TLS_WANT_READ;
        return KA_EWOULDBLOCK;
    }
    if (err == MBEDTLS_ERR_SSL_WANT_WRITE) {
        c->want = KA_TLS_WANT_WRITE;
        return KA_EWOULDBLOCK;
    }
    mbedtls_strerror(err, c->error, sizeof(c->error));
    return KA_ETLS;
}

int ka_tls_conn_handshake(struct ka_tls_conn *c)
{
    return conn_status(c, mbedtls_ssl_handshake(&c->ssl));
}

int ka_tls_conn_read(struct ka_tls_conn *c, void *buf, size_t n, size_t *got)
{
    *got = 0;
    int r = mbedtls_ssl_read(&c->ssl, buf, n);
    if (r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || r == 0) {
        c->want = KA_TLS_WANT_NONE;
        return 0;
    }
    if (r == MBEDTLS_ERR_NET_CONN_RESET) {
        return conn_status(c, r);
    }
    int ret = conn_status(c, r);
    if (ret == 0) {
        *got = (size_t)r;
    }
    return ret;
}

int ka_tls_conn_write(struct ka_tls_conn *c, const void *buf, size_t n, size_t *written)
{
    *written = 0;
    int r = mbedtls_ssl_write(&c->ssl, buf, n);
    int ret = conn_status(c, r);
    if (ret == 0) {
        *written = (size_t)r;
    }
    return ret;
}

size_t ka_tls_conn_pending(const struct ka_tls_conn *c)
{
    return mbedtls_ssl_get_bytes_avail(&c->ssl) + (c->ra_len - c->ra_pos);
}

enum ka_tls_want ka_tls_conn_want(const struct ka_tls_conn *c)
{
    return c->want;
}

void ka_tls_conn_close_notify(struct ka_tls_conn *c)
{
    int r = mbedtls_ssl_close_notify(&c->ssl);
    (void)r;
}

const char *ka_tls_conn_version(const struct ka_tls_conn *c)
{
    return mbedtls_ssl_get_version(&c->ssl);
}

const char *ka_tls_conn_error(const struct ka_tls_conn *c)
{
    return c->error[0] != '\0' ? c->error : "no error";
}

int ka_tls_conn_peer_verified(const struct ka_tls_conn *c, char *cn, size_t cn_len)
{
    const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&c->ssl);
    if (cn_len > 0) {
        cn[0] = '\0';
    }
    if (peer == NULL || mbedtls_ssl_get_verify_result(&c->ssl) != 0) {
        return 0;
    }
    for (const mbedtls_x509_name *n = &peer->subject; n != NULL; n = n->next) {
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0 && cn_len > 0) {
            size_t len = n->val.len < cn_len - 1 ? n->val.len : cn_len - 1;
            memcpy(cn, n->val.p, len);
            cn[len] = '\0';
            break;
        }
    }
    return 1;
}
