/*
 * Image-scan attestations: "a trusted scanner scanned this exact digest, recently, and found
 * fewer than N problems".
 *
 * Inputs are the files real tools produce:
 *   - a DSSE envelope (`{"payloadType":..., "payload":"<base64>", "signatures":[...]}`), one per
 *     file or one per line (JSON Lines, as `cosign download attestation IMAGE` prints);
 *   - a Sigstore bundle (`mediaType` application/vnd.dev.sigstore.bundle...+json) carrying a
 *     `dsseEnvelope`. Only the envelope is used: certificates, transparency-log entries and
 *     timestamps in `verificationMaterial` are ignored; the signature must verify with one of
 *     the configured public keys.
 * The envelope's payload must be an in-toto Statement (v0.1 or v1) with predicateType
 * `https://cosign.sigstore.dev/attestation/vuln/v1` (the scheme may be omitted). Findings are
 * counted by severity from `predicate.scanner.result`, which holds a Trivy JSON report
 * (`Results[].Vulnerabilities[].Severity` and `Results[].Secrets[].Severity`) or a Grype JSON
 * report
 * (`matches[].vulnerability.severity`). Severity names are case-insensitive; Grype's
 * "Negligible" counts as LOW; anything unrecognised counts as UNKNOWN.
 *
 * Signatures are checked over the DSSE pre-authentication encoding
 * `"DSSEv1" SP LEN(payloadType) SP payloadType SP LEN(payload) SP payload` with:
 *   ECDSA P-256 + SHA-256, ECDSA P-384 + SHA-384 (ASN.1 DER signatures),
 *   RSA >= 2048 bits + SHA-256, PKCS#1 v1.5 or PSS (any salt length, MGF1-SHA-256).
 * One valid signature from one trusted key is enough. When a key has a keyid and a signature
 * carries a non-empty keyid, the two must be equal for that key to be tried. Ed25519 keys are
 * refused by name: the Mbed TLS kadmit builds with cannot verify them.
 *
 * The newest verified scan decides: among the attestations of a digest whose signature verified
 * and whose predicate is a usable scan, the one with the latest `metadata.scanFinishedOn` is the
 * only one judged (scans finished at the same second must all pass). Older scans never let an
 * image run; they are kept so `kadmit attest verify` can show them.
 *
 * Limits apply per document: an envelope or bundle over KA_ATTEST_MAX_DOCUMENT is dropped with a
 * reason and the file's other documents still count; of a file's verified scans only the newest
 * KA_ATTEST_KEEP_PER_FILE count, the older ones are marked dropped.
 *
 * All parsing and every signature check happen once, at load. The resulting index is immutable
 * and ka_attest_check() is a pure in-memory lookup (no I/O, no crypto), safe to call from many
 * threads on the same const index.
 *
 * Ownership: _new() results are owned by the caller and released with the matching _free()
 * (NULL is fine). Strings passed in are copied. Strings handed out in ka_attest_entry are
 * borrowed from the index and live as long as it does.
 */
#ifndef KADMIT_ATTEST_H
#define KADMIT_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include "kadmit/buf.h"

/* ---- limits ---------------------------------------------------------------------------- */

#define KA_ATTEST_MAX_FILE (64u * 1024u * 1024u)    /* one attestation file */
#define KA_ATTEST_MAX_DOCUMENT (8u * 1024u * 1024u) /* one envelope or bundle (a JSON line) */
#define KA_ATTEST_KEEP_PER_FILE 16                  /* verified scans kept per file, newest first */
#define KA_ATTEST_MAX_DEPTH 64                      /* JSON nesting, envelope and payload */
#define KA_ATTEST_MAX_LINES 4096                    /* JSON Lines entries in one file */
#define KA_ATTEST_MAX_FILES 100000                  /* files in one directory */
#define KA_ATTEST_MAX_ENTRIES 400000                /* (attestation, subject) pairs in an index */
#define KA_ATTEST_MAX_SUBJECTS 256                  /* subjects in one statement */
#define KA_ATTEST_MAX_SIGNATURES 16                 /* signatures in one envelope */
#define KA_ATTEST_MAX_KEYS 64                       /* trusted keys */
#define KA_ATTEST_MAX_KEY_FILE (64u * 1024u)        /* one PEM key file */
#define KA_ATTEST_MAX_CLAUSES 8                     /* candidate reasons listed by check */

/* ---- severities ------------------------------------------------------------------------ */

enum ka_sev {
    KA_SEV_CRITICAL = 0,
    KA_SEV_HIGH,
    KA_SEV_MEDIUM,
    KA_SEV_LOW, /* includes Grype's "Negligible" */
    KA_SEV_UNKNOWN,
    KA_SEV_COUNT
};

/** Upper-case name of a severity ("CRITICAL"...), static. */
const char *ka_attest_sev_name(enum ka_sev s);
/**
 * Severity from a scanner's text, case-insensitive: critical, high, medium, low, negligible (LOW),
 * unknown. Returns the severity, or -1 for any other text (scanners' odd values are counted as
 * UNKNOWN by the loader; policy parsers should reject -1).
 */
int ka_attest_sev_parse(const char *s, size_t len);

/* ---- trusted keys ---------------------------------------------------------------------- */

struct ka_attest_keys; /* opaque; read-only once loading starts */

/** Allocate an empty key set. Returns 0 or KA_ENOMEM. */
__attribute__((warn_unused_result)) int ka_attest_keys_new(struct ka_attest_keys **out);
/**
 * Add every PEM public key found in `pem` (SubjectPublicKeyInfo "PUBLIC KEY", or PKCS#1 "RSA
 * PUBLIC KEY"). `label` names the key in messages (NULL: "keys[N]"); `keyid` is optional
 * (NULL or ""). Rejects curves other than P-256/P-384, RSA under 2048 bits, and private keys.
 * Returns 0, KA_EINVAL (message in `err`, may be NULL), KA_ELIMIT or KA_ENOMEM.
 */
__attribute__((warn_unused_result)) int ka_attest_keys_add_pem(struct ka_attest_keys *k,
                                                               const char *pem, size_t len,
                                                               const char *label, const char *keyid,
                                                               struct ka_buf *err);
/**
 * Add the keys in a PEM file, or in every file matching a shell glob with braces
 * (such as the default, attestation-keys/ followed by `*.{pem,pub}`). A pattern that matches
 * nothing is KA_ENOTFOUND. The label is the file path; no keyid.
 */
__attribute__((warn_unused_result)) int
ka_attest_keys_add_file(struct ka_attest_keys *k, const char *path, struct ka_buf *err);
/** Number of keys. */
size_t ka_attest_keys_count(const struct ka_attest_keys *k);
/** Label of key `i` (borrowed), e.g. the file it came from. */
const char *ka_attest_keys_label(const struct ka_attest_keys *k, size_t i);
void ka_attest_keys_free(struct ka_attest_keys *k);

/* ---- the index ------------------------------------------------------------------------- */

struct ka_attest_index; /* opaque: digest -> candidate attestations */

/** Allocate an empty index. */
__attribute__((warn_unused_result)) int ka_attest_index_new(struct ka_attest_index **out);
/**
 * Parse and verify every regular file in `dir` (not recursive; names starting with "." are
 * skipped, symlinks followed, so a mounted ConfigMap or Secret works). A bad file, or a bad line
 * of a JSON Lines file, is logged (ka_log, warn) and described in `diag` (may be NULL; one
 * `file[:line]: reason` per line) and skipped; it never stops the others. Attestations whose
 * signature does not verify, or whose predicate is not a usable scan, are still indexed under
 * the digests they claim, so ka_attest_check() can say why they do not count.
 * Returns 0 (even if some files were bad), KA_ENOTFOUND or KA_EIO when `dir` cannot be read,
 * KA_ENOMEM. On error *out is NULL.
 */
__attribute__((warn_unused_result)) int ka_attest_index_load_dir(const char *dir,
                                                                 const struct ka_attest_keys *keys,
                                                                 struct ka_attest_index **out,
                                                                 struct ka_buf *diag);
/**
 * Like ka_attest_index_load_dir(), but files whose name and content (SHA-256) are unchanged since
 * `prev` (may be NULL) was loaded from a directory with the same trusted keys are copied from
 * `prev` instead of being parsed and verified again, so a reload after a CI job adds one file
 * costs one verification. `prev` is only read; the caller still owns and frees it.
 */
__attribute__((warn_unused_result)) int
ka_attest_index_reload_dir(const char *dir, const struct ka_attest_keys *keys,
                           const struct ka_attest_index *prev, struct ka_attest_index **out,
                           struct ka_buf *diag);
/**
 * Parse and verify one file's bytes (`source` names it in messages) and add what it holds.
 * Returns 0 when at least one attestation was added; KA_EATTEST when the bytes hold none (the
 * reasons are in `diag`); KA_ELIMIT for an oversize file or a full index; KA_ENOMEM.
 * Not thread-safe against concurrent checks on the same index: build first, then share.
 */
__attribute__((warn_unused_result)) int
ka_attest_index_add_bytes(struct ka_attest_index *idx, const char *source, const char *data,
                          size_t len, const struct ka_attest_keys *keys, struct ka_buf *diag);
void ka_attest_index_free(struct ka_attest_index *idx);

struct ka_attest_stats {
    size_t files;        /* sources read (files, or add_bytes calls) */
    size_t bad_files;    /* sources that yielded no attestation at all */
    size_t attestations; /* envelopes parsed far enough to name a subject */
    size_t verified;     /* ... whose signature verified with a trusted key */
    size_t entries;      /* (attestation, subject digest) pairs indexed */
    size_t reused;       /* files copied unchanged from the previous index (reload_dir) */
};
void ka_attest_index_stats(const struct ka_attest_index *idx, struct ka_attest_stats *out);

/* ---- admission check ------------------------------------------------------------------- */

struct ka_attest_params {
    int64_t max_age_s;              /* scan may be this old; default 168h */
    int64_t max_future_skew_s;      /* scan may be this far in the future; default 5m */
    int max_severity[KA_SEV_COUNT]; /* most findings allowed; -1 no limit; default CRITICAL 0 */
};

/** Defaults: max age 168h, future skew 5m, CRITICAL 0, every other severity unlimited. */
void ka_attest_params_init(struct ka_attest_params *p);
/** Format seconds the way messages do ("9d3h", "2h5m", "45s") into `b`. */
__attribute__((warn_unused_result)) int ka_attest_format_duration(struct ka_buf *b, int64_t s);
/**
 * Parse an RFC 3339 timestamp ("2026-11-28T12:00:00Z", fractions and "+02:00" offsets allowed)
 * into Unix seconds. Returns 0 or KA_EINVAL.
 */
__attribute__((warn_unused_result)) int ka_attest_parse_time(const char *s, size_t len,
                                                             int64_t *out);
/**
 * Parse "CRITICAL=0,HIGH=5" (names case-insensitive, counts >= 0, or -1 for no limit) into
 * p->max_severity; severities not named keep their value. Returns 0 or KA_EINVAL.
 */
__attribute__((warn_unused_result)) int ka_attest_parse_severity_limits(const char *s,
                                                                        struct ka_attest_params *p);

/** What the digest part of an image reference ("repo[:tag]@<algorithm>:<hex>") is. */
enum ka_image_digest {
    KA_DIGEST_NONE = 0,  /* no '@': referenced by tag or by name only */
    KA_DIGEST_MALFORMED, /* '@' but not sha256:<64 hex> nor sha512:<128 hex> */
    KA_DIGEST_SHA256,
    KA_DIGEST_SHA512,
};

/**
 * Classifies the digest of `image` (NULL reads as no digest). A digest is valid only as the
 * algorithm plus exactly its lowercase hex length: 64 digits for sha256, 128 for sha512 (the
 * OCI digest grammar; the kubelet refuses uppercase, so such a pod would never start). When valid
 * and `hex` is not NULL, *hex points at the hex digits inside `image` (borrowed). The one digest
 * check shared by image-pinned, image-scan-attestation and ka_attest_check().
 */
enum ka_image_digest ka_image_digest(const char *image, const char **hex);

/**
 * May `image` run? `image` must be pinned by digest ("repo[:tag]@sha256:<64 hex>"). Returns 0
 * when the newest verified scan of the digest (see the top of this file) is not older than
 * max_age nor further than max_future_skew in the future (relative to `now`, Unix seconds), and
 * has no more findings than allowed. Otherwise returns KA_EATTEST and appends to `why` (may be
 * NULL) the deciding scan's clause, or, when no scan verified, one clause per candidate, newest
 * first, "; "-separated, at most KA_ATTEST_MAX_CLAUSES then "and N more", e.g.
 *   "no attestation for sha256:<hex>"
 *   "image nginx:1.27 is referenced by tag; pin the digest (repo@sha256:...)"
 *   "image nginx has no digest; pin the digest (repo@sha256:...)"
 *   "scan-a.json: signature does not verify with any trusted key"
 *   "scan-b.jsonl:2: scan is 9d old (max 7d)"
 *   "scan-c.json: 3 CRITICAL findings (max 0)"
 * Returns KA_EINVAL for NULL arguments. Pure lookup: no I/O; thread-safe on a const index.
 */
__attribute__((warn_unused_result)) int ka_attest_check(const struct ka_attest_index *idx,
                                                        const char *image,
                                                        const struct ka_attest_params *p,
                                                        int64_t now, struct ka_buf *why);

/* ---- inspection (for `kadmit attest verify` and logs) ----------------------------------- */

struct ka_attest_entry {
    const char *source;         /* file name or add_bytes source */
    unsigned line;              /* 1-based line for JSON Lines files, 0 for a whole file */
    const char *format;         /* "dsse", "dsse-jsonl" or "sigstore-bundle" */
    char digest[72];            /* "sha256:<64 hex>" of this subject */
    size_t subjects;            /* subjects in the statement (this entry is one of them) */
    const char *statement_type; /* in-toto _type */
    const char *predicate_type;
    const char *scanner_uri; /* "" when absent */
    const char *scanner_version;
    int64_t scan_finished; /* Unix seconds; valid when has_scan_time */
    int has_scan_time;
    unsigned counts[KA_SEV_COUNT];
    int verified;            /* signature verified with a trusted key */
    const char *verified_by; /* label of that key, "" when not verified */
    const char *problem;     /* load-time reason it cannot count, NULL when usable */
    int decides;             /* the newest verified scan of this digest: the one judged */
};

/** Number of entries (one per attestation subject). */
size_t ka_attest_index_count(const struct ka_attest_index *idx);
/**
 * Describe entry `i` (0 <= i < count) in load order; `decides` says whether it is the scan
 * ka_attest_check() judges for its digest. Returns 0 or KA_EINVAL.
 */
__attribute__((warn_unused_result)) int
ka_attest_index_entry(const struct ka_attest_index *idx, size_t i, struct ka_attest_entry *out);
/**
 * Would this entry let `digest` ("sha256:<hex>") run? Returns 0, or KA_EATTEST with one clause
 * (without the source prefix) appended to `why`.
 */
__attribute__((warn_unused_result)) int ka_attest_entry_evaluate(const struct ka_attest_entry *e,
                                                                 const char *digest,
                                                                 const struct ka_attest_params *p,
                                                                 int64_t now, struct ka_buf *why);

#endif
