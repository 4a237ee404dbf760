/*
 * One attestation document: a DSSE envelope (or the dsseEnvelope of a Sigstore bundle) whose
 * signature is checked against the trusted keys and whose payload, an in-toto Statement with a
 * vulnerability-scan predicate, is read into a ka_attest_record. The formats are described in
 * kadmit/attest.h; the index (attest_index.c) stores the records.
 *
 * Ownership: a record owns its strings (ka_attest_record_free); `source` is borrowed.
 */
#ifndef KADMIT_ATTEST_ENVELOPE_H
#define KADMIT_ATTEST_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "kadmit/attest.h"

struct cJSON;

/* One attestation (one envelope); shared by its subject entries in an index. */
struct ka_attest_record {
    const char *source; /* borrowed (the index's source name); set by the caller */
    unsigned line;      /* set by the caller; 0 for a whole-file document */
    const char *format; /* static: "dsse", "dsse-jsonl" or "sigstore-bundle" */
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

/** Free a record's strings and zero it (safe twice). */
void ka_attest_record_free(struct ka_attest_record *a);

/**
 * Read one parsed document (envelope or bundle; `jsonl` when it was a JSON Lines entry). On 0
 * *out holds the record (a signature or predicate problem is recorded in out->problem, not an
 * error) and digests[0..*ndigests) the subjects' sha256 digests (possibly none). Returns
 * KA_EATTEST with the reason in `why` when the document is unusable, or KA_ENOMEM.
 */
__attribute__((warn_unused_result)) int
ka_attest_envelope_read(const struct cJSON *root, int jsonl, const struct ka_attest_keys *keys,
                        struct ka_attest_record *out,
                        unsigned char digests[KA_ATTEST_MAX_SUBJECTS][32], size_t *ndigests,
                        char *why, size_t why_len);

/** Decode 64 hex digits (either case) into a SHA-256 digest. 0 or KA_EINVAL. */
__attribute__((warn_unused_result)) int ka_attest_sha256_from_hex(const char *hex,
                                                                  unsigned char out[32]);

#endif
