/*
 * Trusted keys for image-scan attestations. Loading a key set (ka_attest_keys_new, _add_pem,
 * _add_file) is declared in kadmit/attest.h; this header adds what the envelope verifier and
 * the index loaders use: signature checks, private copies for loader threads, fingerprints.
 *
 * Ownership: as in kadmit/attest.h. Labels handed out are borrowed from the key set.
 */
#ifndef KADMIT_ATTEST_KEYS_H
#define KADMIT_ATTEST_KEYS_H

#include <stddef.h>

#include "kadmit/attest.h"

/* What one ka_attest_keys_verify() call saw (bits set in *seen). */
#define KA_ATTEST_SIG_TRIED 1u      /* some key was tried */
#define KA_ATTEST_SIG_KEYID_MISS 2u /* some key was skipped: its keyid differs from the sig's */
#define KA_ATTEST_SIG_MALFORMED 4u  /* some key found the signature malformed for its type */

/**
 * Verify `sig` over `msg` with each key in turn, skipping keys whose keyid differs from a
 * non-empty `keyid` (NULL: none). Returns 0 with the label of the key that verified in *by
 * (borrowed from `k`), else KA_EVERIFY with *by NULL. Sets *seen to the KA_ATTEST_SIG_* bits of
 * what happened. Safe to call from several threads on one key set.
 */
__attribute__((warn_unused_result)) int
ka_attest_keys_verify(const struct ka_attest_keys *k, const char *keyid, const unsigned char *msg,
                      size_t len, const unsigned char *sig, size_t sig_len, const char **by,
                      unsigned *seen);

/** A private copy of `src` (NULL or empty: an empty set), so loader threads never share mbedTLS
 * key contexts. Caller frees *out with ka_attest_keys_free(). KA_ENOMEM or KA_EINTERNAL. */
__attribute__((warn_unused_result)) int ka_attest_keys_clone(const struct ka_attest_keys *src,
                                                             struct ka_attest_keys **out);

/** SHA-256 over every key (DER) and keyid: two key sets with equal fingerprints verify alike.
 * `k` may be NULL. Returns 0 or KA_EINTERNAL. */
__attribute__((warn_unused_result)) int ka_attest_keys_fingerprint(const struct ka_attest_keys *k,
                                                                   unsigned char out[32]);

#endif
