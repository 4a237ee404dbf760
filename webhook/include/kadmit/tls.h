/*
 * TLS termination with mbedTLS 2.28. The only module that touches mbedTLS's SSL layer.
 *
 * Policy (fixed, not configurable): TLS 1.2 only (2.28 has no 1.3), ECDHE key exchange with AEAD
 * ciphers only (ECDHE-ECDSA/RSA with AES-128/256-GCM and CHACHA20-POLY1305), curves X25519,
 * secp256r1, secp384r1 in that order, no renegotiation, ALPN "http/1.1". With a client CA the
 * peer must present a certificate that chains to it.
 *
 * A struct ka_tls_config is an immutable, reference-counted snapshot (ssl config + certificate
 * chain + key + client CA + RNG). A struct ka_tls_holder publishes the current one; a reload
 * builds a new snapshot and swaps it in, so new connections get the new certificate while open
 * ones keep theirs. A struct ka_tls_conn is one non-blocking server-side TLS session on a socket.
 */
#ifndef KADMIT_TLS_H
#define KADMIT_TLS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/x509.h>

#include "kadmit/buf.h"

struct ka_tls_config; /* opaque, refcounted */

/** Once at start-up, before any handshake: Mbed TLS 3.6 initialises PSA Crypto here (its TLS 1.3
 * needs it). 0, or KA_ETLS. */
__attribute__((warn_unused_result)) int ka_tls_global_init(void);
/** The Mbed TLS version kadmit runs with, e.g. "3.6.6" (static storage, not thread-safe on the
 * first call: call it from main). */
const char *ka_tls_library_version(void);
struct ka_tls_conn; /* opaque, one per connection */

/**
 * Load a certificate chain, its private key and optionally a client CA bundle (`client_ca` NULL
 * or "": client certificates not requested). Checks that the key matches the certificate and
 * signs once so later handshakes never build mbedTLS's lazy tables concurrently. On error
 * returns KA_ETLS (or KA_ENOMEM) and writes a one-line reason to `diag` (may be NULL). On 0,
 * *out holds one reference owned by the caller.
 */
__attribute__((warn_unused_result)) int ka_tls_config_load(const char *cert, const char *key,
                                                           const char *client_ca,
                                                           struct ka_tls_config **out,
                                                           struct ka_buf *diag);
struct ka_tls_config *ka_tls_config_ref(struct ka_tls_config *c);
void ka_tls_config_unref(struct ka_tls_config *c);
/** notAfter of the leaf certificate, Unix seconds (UTC). */
int64_t ka_tls_config_not_after(const struct ka_tls_config *c);
/** notBefore of the leaf certificate. */
int64_t ka_tls_config_not_before(const struct ka_tls_config *c);

/* TLS protocol versions, numbered as on the wire. */
#define KA_TLS_1_2 0x0303
#define KA_TLS_1_3 0x0304
/** The newest version this build serves: KA_TLS_1_3 with Mbed TLS 3.6, KA_TLS_1_2 with 2.28. */
int ka_tls_max_version(void);
/**
 * Refuse clients older than version (KA_TLS_1_2 or KA_TLS_1_3; a config serves 1.2 up to
 * ka_tls_max_version() by default). Call before the config serves a connection.
 * 0, or KA_EINVAL for another version or one this build cannot serve.
 */
__attribute__((warn_unused_result)) int ka_tls_config_set_min_version(struct ka_tls_config *c,
                                                                      int version);

/*
 * A fingerprint of the files behind a config: device, inode, size and mtime of the resolved
 * paths (stat follows the symlinks cert-manager and the kubelet swap). Two fingerprints differ
 * when any file changed.
 */
uint64_t ka_tls_files_fingerprint(const char *cert, const char *key, const char *client_ca);

struct ka_tls_holder {
    struct ka_tls_config *current; /* owned reference, may be NULL */
    pthread_mutex_t lock;
};
void ka_tls_holder_init(struct ka_tls_holder *h);
void ka_tls_holder_free(struct ka_tls_holder *h);
/** A new reference to the current config (caller unrefs), or NULL. */
struct ka_tls_config *ka_tls_holder_get(struct ka_tls_holder *h);
/** Publish `c`, taking over the caller's reference; the old one is unreffed. */
void ka_tls_holder_set(struct ka_tls_holder *h, struct ka_tls_config *c);

/* What a non-blocking operation waits for. */
enum ka_tls_want { KA_TLS_WANT_NONE = 0, KA_TLS_WANT_READ = 1, KA_TLS_WANT_WRITE = 2 };

/** Start a server-side session on the connected non-blocking socket `fd` (not owned). */
__attribute__((warn_unused_result)) int ka_tls_conn_new(struct ka_tls_config *cfg, int fd,
                                                        struct ka_tls_conn **out);
/** Free the session (fd is not closed). NULL safe. */
void ka_tls_conn_free(struct ka_tls_conn *c);

/**
 * Drive the handshake. 0: done. KA_EWOULDBLOCK: call again when ka_tls_conn_want() is ready.
 * KA_ETLS: failed (reason from ka_tls_conn_error()).
 */
__attribute__((warn_unused_result)) int ka_tls_conn_handshake(struct ka_tls_conn *c);
/**
 * Read decrypted bytes. 0 with *got > 0: data; 0 with *got == 0: the peer closed (close_notify
 * or EOF). KA_EWOULDBLOCK or KA_ETLS as above.
 */
__attribute__((warn_unused_result)) int ka_tls_conn_read(struct ka_tls_conn *c, void *buf, size_t n,
                                                         size_t *got);
/**
 * Encrypt and send. 0 with *written bytes taken (maybe fewer than n). KA_EWOULDBLOCK: call again
 * with the SAME data later. KA_ETLS on failure.
 */
__attribute__((warn_unused_result)) int ka_tls_conn_write(struct ka_tls_conn *c, const void *buf,
                                                          size_t n, size_t *written);
/** Decrypted bytes already buffered inside the session (read them without waiting). */
size_t ka_tls_conn_pending(const struct ka_tls_conn *c);
/** What the last KA_EWOULDBLOCK waits for. */
enum ka_tls_want ka_tls_conn_want(const struct ka_tls_conn *c);
/** Best-effort close_notify alert (non-blocking; dropped if the socket is full). */
void ka_tls_conn_close_notify(struct ka_tls_conn *c);
/**
 * After the handshake: 1 when the client presented a certificate that verified against the
 * client CA (only possible with one configured), and then its subject Common Name in `cn`
 * ("" when it has none); 0 otherwise.
 */
int ka_tls_conn_peer_verified(const struct ka_tls_conn *c, char *cn, size_t cn_len);
/** Text of the last error (static storage in the session). */
/** The negotiated protocol, "TLSv1.2" or "TLSv1.3" (static storage), once the handshake is done. */
const char *ka_tls_conn_version(const struct ka_tls_conn *c);
const char *ka_tls_conn_error(const struct ka_tls_conn *c);

/** An X.509 time (UTC) as Unix seconds. */
int64_t ka_tls_x509_time(const mbedtls_x509_time *t);

#endif
