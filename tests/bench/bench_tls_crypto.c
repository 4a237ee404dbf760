/*
 * bench_tls_crypto [BYTES]: what kadmit's TLS costs in the installed mbedTLS, primitive by
 * primitive, in this thread's CPU time (median of 11 runs):
 *   - record protection of one BYTES-long request (default 6605, the benchmark's agent Pod
 *     AdmissionReview): AES-128-GCM (what kadmit negotiates today), AES-256-GCM and
 *     ChaCha20-Poly1305;
 *   - the public-key work of one full handshake: ECDHE key generation + shared secret on a fresh
 *     group (P-256 and X25519) and one ECDSA P-256 signature with the server's key; and one
 *     ECDSA P-256 verification (what every attestation load costs).
 * Prints one "BENCH_CRYPTO {json}" line per measurement and never fails on time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/chachapoly.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/gcm.h>
#include <mbedtls/sha256.h>

#include "mbedtls_compat.h"
#include "bench_time.h"

#define RUNS 11

struct ctx {
    unsigned char *in, *out;
    size_t len;
    mbedtls_gcm_context gcm128, gcm256;
    mbedtls_chachapoly_context chacha;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_entropy_context entropy;
    mbedtls_ecdsa_context key; /* the server's P-256 key */
    unsigned char hash[32], sig[MBEDTLS_ECDSA_MAX_LEN];
    size_t sig_len;
};

typedef int (*op_fn)(struct ctx *c);

static int op_gcm128(struct ctx *c)
{
    unsigned char iv[12] = {0}, tag[16];
    return mbedtls_gcm_crypt_and_tag(&c->gcm128, MBEDTLS_GCM_ENCRYPT, c->len, iv, sizeof(iv), NULL,
                                     0, c->in, c->out, sizeof(tag), tag);
}

static int op_gcm256(struct ctx *c)
{
    unsigned char iv[12] = {0}, tag[16];
    return mbedtls_gcm_crypt_and_tag(&c->gcm256, MBEDTLS_GCM_ENCRYPT, c->len, iv, sizeof(iv), NULL,
                                     0, c->in, c->out, sizeof(tag), tag);
}

static int op_chacha(struct ctx *c)
{
    unsigned char nonce[12] = {0}, tag[16];
    return mbedtls_chachapoly_encrypt_and_tag(&c->chacha, c->len, nonce, NULL, 0, c->in, c->out,
                                              tag);
}

/* The server's ECDHE work in one handshake: a fresh group, a key pair, the shared secret with
 * the client's public value (made once, in setup). */
static int ecdhe(struct ctx *c, mbedtls_ecp_group_id id, const unsigned char *peer, size_t lpeer)
{
    int ret;
    mbedtls_ecdh_context a;
    unsigned char pa[100], secret[66];
    size_t la = 0, ls = 0;
    mbedtls_ecdh_init(&a);
    if ((ret = mbedtls_ecdh_setup(&a, id)) == 0 &&
        (ret = mbedtls_ecdh_make_public(&a, &la, pa, sizeof(pa), mbedtls_ctr_drbg_random,
                                        &c->drbg)) == 0 &&
        (ret = mbedtls_ecdh_read_public(&a, peer, lpeer)) == 0) {
        ret = mbedtls_ecdh_calc_secret(&a, &ls, secret, sizeof(secret), mbedtls_ctr_drbg_random,
                                       &c->drbg);
    }
    mbedtls_ecdh_free(&a);
    return ret;
}

static unsigned char peer_p256[100], peer_x25519[100];
static size_t lpeer_p256, lpeer_x25519;

static int make_peer(struct ctx *c, mbedtls_ecp_group_id id, unsigned char *out, size_t *len)
{
    mbedtls_ecdh_context b;
    mbedtls_ecdh_init(&b);
    int ret = mbedtls_ecdh_setup(&b, id);
    if (ret == 0) {
        ret = mbedtls_ecdh_make_public(&b, len, out, 100, mbedtls_ctr_drbg_random, &c->drbg);
    }
    mbedtls_ecdh_free(&b);
    return ret;
}

static int op_ecdhe_p256(struct ctx *c)
{
    return ecdhe(c, MBEDTLS_ECP_DP_SECP256R1, peer_p256, lpeer_p256);
}

static int op_ecdhe_x25519(struct ctx *c)
{
    return ecdhe(c, MBEDTLS_ECP_DP_CURVE25519, peer_x25519, lpeer_x25519);
}

static int op_sign(struct ctx *c)
{
    return ka_ecdsa_write_signature(&c->key, MBEDTLS_MD_SHA256, c->hash, sizeof(c->hash), c->sig,
                                    sizeof(c->sig), &c->sig_len, mbedtls_ctr_drbg_random, &c->drbg);
}

static int op_verify(struct ctx *c)
{
    return mbedtls_ecdsa_read_signature(&c->key, c->hash, sizeof(c->hash), c->sig, c->sig_len);
}

static int measure(const char *name, op_fn op, struct ctx *c, double scale, const char *note)
{
    double t[RUNS];
    for (int i = 0; i < 3; i++) {
        if (op(c) != 0) {
            fprintf(stderr, "bench_tls_crypto: %s failed\n", name);
            return 1;
        }
    }
    double s = bench_cpu_ns();
    int iters = 0;
    while (bench_cpu_ns() - s < 20e6 || iters < 2) {
        if (op(c) != 0) {
            return 1;
        }
        iters++;
    }
    for (int r = 0; r < RUNS; r++) {
        double t0 = bench_cpu_ns();
        for (int i = 0; i < iters; i++) {
            if (op(c) != 0) {
                return 1;
            }
        }
        t[r] = (bench_cpu_ns() - t0) / iters;
    }
    qsort(t, RUNS, sizeof(double), bench_cmp_double);
    printf("BENCH_CRYPTO {\"op\":\"%s\",\"bytes\":%zu,\"median_us\":%.2f,\"min_us\":%.2f,"
           "\"note\":\"%s\"}\n",
           name, c->len, t[RUNS / 2] * scale / 1e3, t[0] * scale / 1e3, note);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 1;
    struct ctx c;
    memset(&c, 0, sizeof(c));
    c.len = argc > 1 ? strtoul(argv[1], NULL, 10) : 6605;
    if (c.len == 0 || c.len > (16u << 20)) {
        fprintf(stderr, "usage: bench_tls_crypto [BYTES]\n");
        return 2;
    }
    c.in = calloc(1, c.len);
    c.out = calloc(1, c.len);
    mbedtls_gcm_init(&c.gcm128);
    mbedtls_gcm_init(&c.gcm256);
    mbedtls_chachapoly_init(&c.chacha);
    mbedtls_ctr_drbg_init(&c.drbg);
    mbedtls_entropy_init(&c.entropy);
    mbedtls_ecdsa_init(&c.key);
    unsigned char k[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    static const char pers[] = "kadmit-bench-crypto";
    if (c.in == NULL || c.out == NULL ||
        mbedtls_gcm_setkey(&c.gcm128, MBEDTLS_CIPHER_ID_AES, k, 128) != 0 ||
        mbedtls_gcm_setkey(&c.gcm256, MBEDTLS_CIPHER_ID_AES, k, 256) != 0 ||
        mbedtls_chachapoly_setkey(&c.chacha, k) != 0 ||
        mbedtls_ctr_drbg_seed(&c.drbg, mbedtls_entropy_func, &c.entropy,
                              (const unsigned char *)pers, sizeof(pers) - 1) != 0 ||
        mbedtls_ecdsa_genkey(&c.key, MBEDTLS_ECP_DP_SECP256R1, mbedtls_ctr_drbg_random, &c.drbg) !=
            0 ||
        ka_sha256(c.in, c.len, c.hash) != 0 ||
        make_peer(&c, MBEDTLS_ECP_DP_SECP256R1, peer_p256, &lpeer_p256) != 0 ||
        make_peer(&c, MBEDTLS_ECP_DP_CURVE25519, peer_x25519, &lpeer_x25519) != 0) {
        fprintf(stderr, "bench_tls_crypto: setup failed\n");
        goto exit;
    }
    if (measure("aes128_gcm_record", op_gcm128, &c, 1, "what kadmit negotiates now") ||
        measure("aes256_gcm_record", op_gcm256, &c, 1, "") ||
        measure("chacha20_poly1305_record", op_chacha, &c, 1, "") ||
        measure("ecdhe_p256_server", op_ecdhe_p256, &c, 1,
                "fresh group: key pair + shared secret") ||
        measure("ecdhe_x25519_server", op_ecdhe_x25519, &c, 1,
                "fresh group: key pair + shared secret") ||
        measure("ecdsa_p256_sign", op_sign, &c, 1, "the handshake's ServerKeyExchange") ||
        measure("ecdsa_p256_verify", op_verify, &c, 1, "one attestation signature")) {
        goto exit;
    }
    rc = 0;
exit:
    mbedtls_gcm_free(&c.gcm128);
    mbedtls_gcm_free(&c.gcm256);
    mbedtls_chachapoly_free(&c.chacha);
    mbedtls_ecdsa_free(&c.key);
    mbedtls_ctr_drbg_free(&c.drbg);
    mbedtls_entropy_free(&c.entropy);
    free(c.in);
    free(c.out);
    return rc;
}
