/*
 * Mbed TLS 2.28 (Debian 12) and 3.6 (Debian 13) behind one set of names.
 *
 * Internal to webhook/src and the benchmarks: every difference between the two branches that
 * kadmit's code meets is here, so the modules call ka_* once and never test the version. 3.x
 * dropped the `_ret` SHA-256 names, made struct fields private (accessors instead), added RNG
 * arguments to key parsing and pair checks and a buffer size to signing, and renamed the
 * version, curve and serial setters. Mbed TLS 4 removed sha256, ctr_drbg and ecdsa from its
 * public API: that is a port, not a shim, and CMakeLists.txt stops before it gets here.
 */
#ifndef KADMIT_MBEDTLS_COMPAT_H
#define KADMIT_MBEDTLS_COMPAT_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#if MBEDTLS_VERSION_MAJOR >= 4
#error "kadmit supports Mbed TLS 2.28 and 3.6; 4.x needs a port to PSA (see README.md)"
#elif MBEDTLS_VERSION_MAJOR == 3
#define KA_MBEDTLS_3 1
#include <psa/crypto.h>
#elif MBEDTLS_VERSION_NUMBER < 0x021C0000
#error "kadmit needs Mbed TLS 2.28 or 3.6"
#endif

/* PSA Crypto: 3.6's TLS 1.3 runs on it and needs it initialised once, before any handshake.
 * Returns 0, or a negative PSA status. */
static inline int ka_mbedtls_init(void)
{
#ifdef KA_MBEDTLS_3
    return psa_crypto_init() == PSA_SUCCESS ? 0 : -1;
#else
    return 0;
#endif
}

/* ---------------------------------------------------------------------------- SHA-256 */

static inline int ka_sha256(const unsigned char *in, size_t len, unsigned char out[32])
{
#ifdef KA_MBEDTLS_3
    return mbedtls_sha256(in, len, out, 0);
#else
    return mbedtls_sha256_ret(in, len, out, 0);
#endif
}

static inline int ka_sha256_starts(mbedtls_sha256_context *ctx)
{
#ifdef KA_MBEDTLS_3
    return mbedtls_sha256_starts(ctx, 0);
#else
    return mbedtls_sha256_starts_ret(ctx, 0);
#endif
}

static inline int ka_sha256_update(mbedtls_sha256_context *ctx, const unsigned char *in, size_t len)
{
#ifdef KA_MBEDTLS_3
    return mbedtls_sha256_update(ctx, in, len);
#else
    return mbedtls_sha256_update_ret(ctx, in, len);
#endif
}

static inline int ka_sha256_finish(mbedtls_sha256_context *ctx, unsigned char out[32])
{
#ifdef KA_MBEDTLS_3
    return mbedtls_sha256_finish(ctx, out);
#else
    return mbedtls_sha256_finish_ret(ctx, out);
#endif
}

/* ------------------------------------------------------------------------------ keys */

/* An unencrypted private key (PEM with its NUL, or DER). 3.x blinds RSA private-key checks
 * with f_rng; 2.28 ignores it. */
static inline int ka_pk_parse_key(mbedtls_pk_context *pk, const unsigned char *key, size_t len,
                                  int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
#ifdef KA_MBEDTLS_3
    return mbedtls_pk_parse_key(pk, key, len, NULL, 0, f_rng, p_rng);
#else
    (void)f_rng;
    (void)p_rng;
    return mbedtls_pk_parse_key(pk, key, len, NULL, 0);
#endif
}

static inline int ka_pk_parse_keyfile(mbedtls_pk_context *pk, const char *path,
                                      int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
#ifdef KA_MBEDTLS_3
    return mbedtls_pk_parse_keyfile(pk, path, NULL, f_rng, p_rng);
#else
    (void)f_rng;
    (void)p_rng;
    return mbedtls_pk_parse_keyfile(pk, path, NULL);
#endif
}

static inline int ka_pk_check_pair(const mbedtls_pk_context *pub, const mbedtls_pk_context *prv,
                                   int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
#ifdef KA_MBEDTLS_3
    return mbedtls_pk_check_pair(pub, prv, f_rng, p_rng);
#else
    (void)f_rng;
    (void)p_rng;
    return mbedtls_pk_check_pair(pub, prv);
#endif
}

/* sig_size is sig's capacity (2.28 assumes MBEDTLS_PK_SIGNATURE_MAX_SIZE). */
static inline int ka_pk_sign(mbedtls_pk_context *pk, mbedtls_md_type_t md,
                             const unsigned char *hash, size_t hash_len, unsigned char *sig,
                             size_t sig_size, size_t *sig_len,
                             int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
#ifdef KA_MBEDTLS_3
    return mbedtls_pk_sign(pk, md, hash, hash_len, sig, sig_size, sig_len, f_rng, p_rng);
#else
    (void)sig_size;
    return mbedtls_pk_sign(pk, md, hash, hash_len, sig, sig_len, f_rng, p_rng);
#endif
}

static inline int ka_ecdsa_write_signature(mbedtls_ecdsa_context *ctx, mbedtls_md_type_t md,
                                           const unsigned char *hash, size_t hash_len,
                                           unsigned char *sig, size_t sig_size, size_t *sig_len,
                                           int (*f_rng)(void *, unsigned char *, size_t),
                                           void *p_rng)
{
#ifdef KA_MBEDTLS_3
    return mbedtls_ecdsa_write_signature(ctx, md, hash, hash_len, sig, sig_size, sig_len, f_rng,
                                         p_rng);
#else
    (void)sig_size;
    return mbedtls_ecdsa_write_signature(ctx, md, hash, hash_len, sig, sig_len, f_rng, p_rng);
#endif
}

/* The curve of an EC key (the caller checked mbedtls_pk_get_type is an EC type). */
static inline mbedtls_ecp_group_id ka_pk_ec_group_id(const mbedtls_pk_context *pk)
{
#ifdef KA_MBEDTLS_3
    return mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(*pk));
#else
    return mbedtls_pk_ec(*pk)->grp.id;
#endif
}

/* ----------------------------------------------------------------------- certificates */

/* 1 when the certificate's basicConstraints says CA:TRUE. */
static inline int ka_x509_crt_is_ca(const mbedtls_x509_crt *crt)
{
#ifdef KA_MBEDTLS_3
    return mbedtls_x509_crt_get_ca_istrue(crt) == 1;
#else
    return crt->ca_istrue == 1;
#endif
}

/* A big-endian serial number (at most MBEDTLS_X509_RFC5280_MAX_SERIAL_LEN bytes). */
static inline int ka_x509write_crt_set_serial(mbedtls_x509write_cert *crt, unsigned char *serial,
                                              size_t len)
{
#ifdef KA_MBEDTLS_3
    return mbedtls_x509write_crt_set_serial_raw(crt, serial, len);
#else
    mbedtls_mpi mpi;
    mbedtls_mpi_init(&mpi);
    int ret = mbedtls_mpi_read_binary(&mpi, serial, len);
    if (ret == 0) {
        ret = mbedtls_x509write_crt_set_serial(crt, &mpi);
    }
    mbedtls_mpi_free(&mpi);
    return ret;
#endif
}

/* The issuer name list of a certificate being written, to copy a CA's subject into exactly. */
#ifdef KA_MBEDTLS_3
#define KA_X509WRITE_ISSUER(crt) (&(crt)->MBEDTLS_PRIVATE(issuer))
#else
#define KA_X509WRITE_ISSUER(crt) (&(crt)->issuer)
#endif

/* -------------------------------------------------------------------------------- TLS */

/* Named groups for key exchange: 3.x takes IANA group numbers, 2.28 its curve ids. */
#ifdef KA_MBEDTLS_3
typedef uint16_t ka_tls_group;
#define KA_TLS_GROUP_X25519 MBEDTLS_SSL_IANA_TLS_GROUP_X25519
#define KA_TLS_GROUP_SECP256R1 MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1
#define KA_TLS_GROUP_SECP384R1 MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1
#define KA_TLS_GROUP_NONE MBEDTLS_SSL_IANA_TLS_GROUP_NONE
#define ka_ssl_conf_groups mbedtls_ssl_conf_groups
#else
typedef mbedtls_ecp_group_id ka_tls_group;
#define KA_TLS_GROUP_X25519 MBEDTLS_ECP_DP_CURVE25519
#define KA_TLS_GROUP_SECP256R1 MBEDTLS_ECP_DP_SECP256R1
#define KA_TLS_GROUP_SECP384R1 MBEDTLS_ECP_DP_SECP384R1
#define KA_TLS_GROUP_NONE MBEDTLS_ECP_DP_NONE
#define ka_ssl_conf_groups mbedtls_ssl_conf_curves
#endif

/* TLS 1.3 is there when the library was built with it (Debian's 3.6 is). */
#if defined(KA_MBEDTLS_3) && defined(MBEDTLS_SSL_PROTO_TLS1_3)
#define KA_HAVE_TLS1_3 1
#endif

/* Protocol versions as TLS numbers them on the wire: 0x0303 is 1.2, 0x0304 is 1.3. Returns 0,
 * or -1 when the library cannot do max. */
static inline int ka_ssl_conf_versions(mbedtls_ssl_config *conf, int min, int max)
{
#ifdef KA_MBEDTLS_3
#ifndef KA_HAVE_TLS1_3
    if (max > 0x0303) {
        return -1;
    }
#endif
    mbedtls_ssl_conf_min_tls_version(conf, (mbedtls_ssl_protocol_version)min);
    mbedtls_ssl_conf_max_tls_version(conf, (mbedtls_ssl_protocol_version)max);
#else
    if (max > 0x0303) {
        return -1;
    }
    mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, min & 0xff);
    mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, max & 0xff);
#endif
    return 0;
}

#endif
