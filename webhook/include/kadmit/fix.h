/*
 * `kadmit fix`: rewrite manifests so they meet the policy, keeping every byte that need not
 * change.
 *
 * What to change comes from the rules themselves: the mutation rules' JSON patches and each
 * validation rule's determined fix (ka_admission_fix()). How to change it: libyaml reports where
 * every node starts and ends but drops comments, so a document is never re-emitted. Each RFC 6902
 * operation becomes an insertion, replacement or deletion of a span of the source text, written
 * in the file's own indentation, line endings (LF or CRLF), flow or block style, and JSON when
 * the file is JSON. After each edit the text is parsed again and compared with the expected tree
 * (the old tree with the operation applied): an edit that would change anything else is refused
 * and reported, never written. Documents that need no change are copied byte for byte.
 *
 * Not fixed, by design (reported with why and what to run): image digests (they need the
 * registry; with a resolver, ka_fix_bytes_resolving(), a tag is replaced by its digest),
 * literal secrets (the value would be lost from the file), findings without a
 * determined value (a metric, a probe without its port, resources without the rule's `fix`
 * params), changes under a YAML alias or to an anchor its aliases share (the edit would change
 * every use; the check after each edit catches both), and documents kadmit cannot parse.
 *
 * Ownership: a struct ka_fix_result owns its text and notes; inputs are borrowed.
 */
#ifndef KADMIT_FIX_H
#define KADMIT_FIX_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "kadmit/admission.h"
#include "kadmit/buf.h"
#include "kadmit/policy.h"

/* Rounds of "evaluate, edit" per object before fix gives up (each round applies one batch). */
#define KA_FIX_MAX_ROUNDS 8

/* A finding that remains after fix, or a change fix could not write. */
struct ka_fix_note {
    char source[600];  /* name:line of the document */
    char rule[64];     /* rule id, or "" for a document-level problem */
    char message[512]; /* the finding's text */
    char why[256];     /* why fix left it */
    char suggest[512]; /* what to do by hand (a command or a change), or "" */
};

struct ka_fix_result {
    struct ka_buf text;    /* the fixed bytes (the input itself when nothing changed) */
    size_t n_ops;          /* operations written */
    size_t n_docs_changed; /* documents whose bytes changed */
    struct ka_fix_note *notes;
    size_t n_notes;
    int parse_error; /* the input is not YAML/JSON kadmit reads: text is the input unchanged */
    size_t n_errors; /* documents kubectl would refuse (no kind, no apiVersion): left unchanged,
                        each with a note */
};

void ka_fix_result_init(struct ka_fix_result *r);
void ka_fix_result_free(struct ka_fix_result *r);

/**
 * Fix every document of `data` (named `name` in notes) against `policy`. Fills `out`: the fixed
 * text, the counts, and one note per finding that remains. Returns 0 (also when the input does
 * not parse: out->parse_error and a note say where), or KA_ENOMEM / KA_ELIMIT.
 */
__attribute__((warn_unused_result)) int ka_fix_bytes(const struct ka_policy *policy,
                                                     const struct ka_review_opts *opts,
                                                     const char *name, const char *data, size_t len,
                                                     struct ka_fix_result *out);

/*
 * Resolves an image referenced by tag to the digest its registry serves (`kadmit fix
 * --resolve-digests`, whose resolver is the registry client: the core never opens a socket).
 * `resolve` writes "sha256:<64 hex>" to `digest` and returns 0, or returns an error with the
 * reason in `err`.
 */
struct ka_fix_resolver {
    int (*resolve)(void *ctx, const char *image, char *digest, size_t digest_len, char *err,
                   size_t err_len);
    void *ctx;
};

/**
 * ka_fix_bytes(), and every image that image-pinned or image-scan-attestation reports without
 * a digest is written as `image@sha256:<digest>` (its tag kept) with the digest `resolver`
 * gives (NULL: none resolved, as ka_fix_bytes()). An image that cannot be resolved stays, with
 * the resolver's reason in its note.
 */
__attribute__((warn_unused_result)) int
ka_fix_bytes_resolving(const struct ka_policy *policy, const struct ka_review_opts *opts,
                       const struct ka_fix_resolver *resolver, const char *name, const char *data,
                       size_t len, struct ka_fix_result *out);

/**
 * The span engine on its own: apply one RFC 6902 operation (`op` "add", "replace" or "remove";
 * `value` NULL for remove) at JSON pointer `path` to the single YAML or JSON document `text`,
 * writing the edited text to `out`. Returns 0; KA_ENOTFOUND when the path does not exist;
 * KA_EINVAL when the edit cannot be written without changing something else (`err` says why);
 * KA_EPARSE when `text` does not parse.
 */
__attribute__((warn_unused_result)) int ka_fix_apply_op(const char *text, size_t len,
                                                        const char *op, const char *path,
                                                        const cJSON *value, struct ka_buf *out,
                                                        char *err, size_t err_len);

#endif
