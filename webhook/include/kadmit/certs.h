/*
 * Webhook certificates: a private CA and a serving certificate signed by it (mbedTLS x509write).
 *
 * ka_certs_ensure() is idempotent. With a usable CA in the output directory it keeps it, and it
 * re-issues the serving ("leaf") certificate only when the leaf is missing, unreadable, does not
 * match its key, is not signed by the CA, lacks a required name, is expired, or expires within
 * `renew_before`. Otherwise no file is touched. Files are written atomically (temporary file +
 * rename in the same directory) so a server watching them never reads half a file; private keys
 * are created with mode 0600 and never exist with wider permissions.
 *
 * Files in the output directory: ca.crt, ca.key, tls.crt, tls.key (PEM). ca.crt may hold more than
 * one certificate during a CA rotation: the first is the CA that signs (its key is ca.key), the
 * others stay trusted (they are part of the caBundle) until removed.
 *
 * Ownership: every function borrows its pointer arguments; output goes to caller-owned buffers.
 * Private key material held in memory is wiped (mbedtls_platform_zeroize) before it is freed.
 */
#ifndef KADMIT_CERTS_H
#define KADMIT_CERTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <mbedtls/x509.h>

#include "kadmit/buf.h"

/* Extra --dns and --ip names on one certificate. */
#define KA_CERTS_MAX_NAMES 32
/* Longest DNS name (RFC 1035) and Kubernetes object name (a DNS label). */
#define KA_CERTS_MAX_DNS_LEN 253
#define KA_CERTS_MAX_LABEL_LEN 63
/* Durations are capped at 100 years. */
#define KA_CERTS_MAX_DURATION (100LL * 365 * 86400)
/* A new certificate's notBefore is this far in the past, to absorb clock skew. */
#define KA_CERTS_BACKDATE_SECONDS 300
/* Biggest certificate file (PEM) we read back. */
#define KA_CERTS_MAX_PEM (64u * 1024u)

enum ka_certs_key_type {
    KA_CERTS_KEY_ECDSA_P256 = 0,
    KA_CERTS_KEY_ECDSA_P384,
    KA_CERTS_KEY_RSA_2048,
    KA_CERTS_KEY_RSA_3072,
};

/** Parse "ecdsa-p256|ecdsa-p384|rsa-2048|rsa-3072". Returns 0 or KA_EINVAL. */
__attribute__((warn_unused_result)) int ka_certs_parse_key_type(const char *s,
                                                                enum ka_certs_key_type *out);
/** Name of a key type, as accepted by ka_certs_parse_key_type() (static string). */
const char *ka_certs_key_type_name(enum ka_certs_key_type t);

/**
 * Parse a duration as ka_duration_parse() does ("365d", "1d12h") into seconds.
 * Returns 0, or KA_EINVAL for anything else or more than KA_CERTS_MAX_DURATION.
 */
__attribute__((warn_unused_result)) int ka_certs_parse_duration(const char *s, int64_t *seconds);

struct ka_certs_opts {
    const char *service;                 /* Service name, default "kadmit" */
    const char *namespace;               /* its namespace, default "kadmit-system" */
    const char *dns[KA_CERTS_MAX_NAMES]; /* extra DNS SANs (borrowed) */
    size_t n_dns;
    const char *ip[KA_CERTS_MAX_NAMES]; /* extra IP SANs, IPv4 or IPv6 text (borrowed) */
    size_t n_ip;
    enum ka_certs_key_type key_type; /* for new keys */
    int key_type_set;                /* 1: also re-issue a leaf whose key is of another type */
    int64_t ca_validity;             /* seconds, default 3650 days */
    int64_t validity;                /* leaf, seconds, default 365 days */
    int64_t renew_before;            /* seconds, default 30 days */
    int force;                       /* re-issue the leaf whatever its state */
    time_t now;                      /* the time to judge validity against; 0: time(NULL) */
};

/** Fill `o` with the defaults above. Cannot fail. */
void ka_certs_opts_init(struct ka_certs_opts *o);

/**
 * Check the options: service and namespace are DNS labels, extra names are valid DNS names or IP
 * addresses, durations are positive. Returns 0 or KA_EINVAL with a message in `diag`.
 */
__attribute__((warn_unused_result)) int ka_certs_opts_check(const struct ka_certs_opts *o,
                                                            struct ka_buf *diag);

enum ka_certs_action {
    KA_CERTS_KEPT = 0, /* left alone */
    KA_CERTS_CREATED,  /* there was none (or it was unusable) and a new one was made */
    KA_CERTS_RENEWED,  /* leaf only: a new certificate and key replaced the old one */
};

/** "kept", "created", "renewed". */
const char *ka_certs_action_name(enum ka_certs_action a);

struct ka_certs_report {
    enum ka_certs_action ca;
    char ca_reason[160]; /* why (may be empty) */
    time_t ca_not_after; /* of the CA now in the directory */
    enum ka_certs_action leaf;
    char leaf_reason[160]; /* why, e.g. "expires in 3d" */
    time_t leaf_not_after; /* of the leaf now in the directory */
};

/**
 * Make sure `dir` holds a usable CA and a serving certificate for `o` (see the top of this
 * file). A valid, unexpired CA whose key is missing or does not match is an error (KA_ECERT): it
 * is never replaced silently because every installed caBundle trusts it. `dir` is created (0700)
 * (with missing parents, like mkdir -p) if missing. Returns 0, KA_EINVAL (bad options), KA_ECERT,
 * KA_EIO or KA_ENOMEM; `diag` gets a message on error.
 */
__attribute__((warn_unused_result)) int ka_certs_ensure(const char *dir,
                                                        const struct ka_certs_opts *o,
                                                        struct ka_certs_report *report,
                                                        struct ka_buf *diag);

/**
 * Judge an existing leaf certificate against a CA certificate. Returns 0 when the leaf can be
 * kept, 1 when it must be re-issued (the reason is written to `reason`), or a negative code.
 * `leaf_key_pem` may be NULL to skip the key checks. All PEM buffers are NUL-terminated text.
 */
__attribute__((warn_unused_result)) int
ka_certs_check_leaf(const char *leaf_pem, const char *leaf_key_pem, const char *ca_pem,
                    const struct ka_certs_opts *o, char *reason, size_t reason_size);

/** Append base64 of `pem` (one line, no newline) to `out`: a webhook caBundle. */
__attribute__((warn_unused_result)) int ka_certs_base64(const char *pem, size_t len,
                                                        struct ka_buf *out);

#endif
