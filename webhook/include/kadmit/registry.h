/*
 * The registry fetcher: copy the cosign attestations of an image digest from its OCI registry
 * into the attestation directory the image-scan-attestation rule already watches.
 *
 * It only transports bytes. Every signature, digest subject and scan is judged by the loader
 * (kadmit/attest.h) exactly as for files placed by hand, so a fetcher failure can only leave an
 * image without an attestation: it stays denied (closed).
 *
 * Where cosign keeps attestations of registry/repo@sha256:<hex>, all tried in this order:
 *   1. the tag `sha256-<hex>.att`: an image manifest whose layers are DSSE envelopes
 *      (cosign before v3, and v3 with --new-bundle-format=false);
 *   2. the OCI 1.1 referrers API, `/v2/<repo>/referrers/sha256:<hex>`: an index of artifact
 *      manifests, each with a Sigstore bundle layer (cosign v3);
 *   3. the referrers fallback tag `sha256-<hex>`: the same index kept as a tag, for registries
 *      without the referrers API.
 * Each manifest and blob is fetched by digest and its SHA-256 checked before use. Everything
 * found is written as JSON Lines (one envelope or bundle per line) to `<dir>/registry-<hex>.jsonl`
 * through a temporary file and rename(2), so the loader never sees half a file.
 *
 * HTTP is libcurl. Authentication follows the registry's `WWW-Authenticate: Bearer` challenge
 * (token endpoint, with Basic credentials from a kubernetes.io/dockerconfigjson file when one
 * names the registry), or Basic when the registry asks for it. Redirects (blob storage) are
 * followed by hand, without the Authorization header. Every response is size-limited, every
 * request has a timeout, and transient failures (connection errors, 429, 5xx) are retried
 * with backoff.
 *
 * This module opens sockets: it belongs to the CLI layer (`kadmit attest sync`, and the
 * background fetcher of `kadmit serve --attestation-source registry`), never to the admission
 * core, which only queues digests (kadmit/fetch_queue.h) and reads the files written here.
 */
#ifndef KADMIT_REGISTRY_H
#define KADMIT_REGISTRY_H

#include <stdatomic.h>
#include <stddef.h>

#include "kadmit/buf.h"

#define KA_REGISTRY_MAX_MANIFEST (4u * 1024u * 1024u) /* OCI's own manifest limit */
#define KA_REGISTRY_MAX_BLOB (8u * 1024u * 1024u)     /* = KA_ATTEST_MAX_DOCUMENT */
#define KA_REGISTRY_MAX_OUTPUT (64u * 1024u * 1024u)  /* = KA_ATTEST_MAX_FILE */
#define KA_REGISTRY_MAX_LAYERS 64                     /* envelopes or referrers per digest */
#define KA_REGISTRY_MAX_REDIRECTS 5
#define KA_REGISTRY_MAX_TOKEN (64u * 1024u)       /* token endpoint response */
#define KA_REGISTRY_MAX_TOKEN_LEN 16384           /* the token itself (an HTTP header) */
#define KA_REGISTRY_MAX_AUTH_FILE (1024u * 1024u) /* dockerconfigjson */
#define KA_REGISTRY_TIMEOUT_S 30                  /* default per request */
#define KA_REGISTRY_IMAGES_REREAD_S 60            /* serve --registry-images: re-read period */
#define KA_REGISTRY_RETRIES 3                     /* default attempts per request */

struct ka_fetch_queue;

struct ka_registry_opts {
    const char *auth_file;    /* .dockerconfigjson, NULL: anonymous */
    long timeout_s;           /* per request, including redirects; 0: KA_REGISTRY_TIMEOUT_S */
    int attempts;             /* per request; 0: KA_REGISTRY_RETRIES */
    long backoff_ms;          /* first retry delay, doubled each time; 0: 500 */
    int plain_http;           /* talk http:// (tests against a loopback registry only) */
    const char *ca_file;      /* extra CA bundle for the registry's TLS, NULL: system store */
    const atomic_int *cancel; /* non-zero: abort requests under way, retry nothing; NULL: never */
    /* Comma-separated registry hosts ("ghcr.io,registry.example:5000"; "docker.io" is Docker
     * Hub) that may be contacted; others are refused without a connection. NULL: any (the
     * images come from the admin). serve always sets it: its images come from requests. */
    const char *allowed_hosts;
};

/**
 * A ka_fetch_filter_fn for serve's queue: 1 when `image`'s registry is in `hosts` (a
 * comma-separated list as in ka_registry_opts.allowed_hosts), else 0 and "registry H is not in
 * --registry-hosts; not fetched" appended to `why`; KA_ENOMEM. No I/O.
 */
int ka_registry_image_allowed(void *hosts, const char *image, struct ka_buf *why);

/** Defaults: anonymous, 30 s per request, 3 attempts, 500 ms first backoff, https. */
void ka_registry_opts_init(struct ka_registry_opts *o);

/**
 * Fetch the attestations of `image` ("[registry/]repo[:tag]@sha256:<64 hex>"; Docker Hub names
 * such as "nginx@sha256:..." normalise to registry-1.docker.io/library/nginx) into `dir`.
 * Appends to `report` (may be NULL) one line per path tried with the registry's answer, e.g.
 *   "GET https://r.example/v2/app/manifests/sha256-<hex>.att: 404"
 * and a last line saying what was written.
 * Appends to `brief` (may be NULL) the same in one line, for denials:
 *   ".att tag: 404, referrers: 404, fallback tag: 200; wrote 1"
 * Returns 0 when at least one document was written; KA_ENOTFOUND when the registry answered
 * but holds no attestation for the digest; KA_EINVAL for a bad image reference or auth file;
 * KA_ENET when the registry could not be reached or answered wrongly (bad digest, oversize,
 * timeout; the reason is in `report`); KA_EIO when the file cannot be written; KA_ENOMEM.
 * Documents fetched before a failure are still written.
 */
__attribute__((warn_unused_result)) int ka_registry_fetch(const char *image, const char *dir,
                                                          const struct ka_registry_opts *o,
                                                          struct ka_buf *report,
                                                          struct ka_buf *brief);

/**
 * The digest `image` ("[registry/]repo[:tag]", Docker Hub names normalised, tag latest when
 * none) resolves to, as `crane digest` gives it: GET of the tag's manifest accepting every
 * manifest and index type, its SHA-256 checked against the registry's Docker-Content-Digest.
 * Writes "sha256:<64 hex>" to `digest` (at least 72 bytes). Appends what was asked and answered
 * to `report` (may be NULL). Returns 0; KA_ENOTFOUND when the registry has no such tag; KA_EINVAL
 * for a bad reference, credentials file or a registry outside o->allowed_hosts; KA_ENET when the
 * registry could not be read or its digest header disagrees with the bytes; KA_ELIMIT, KA_ENOMEM.
 */
__attribute__((warn_unused_result)) int ka_registry_resolve(const char *image,
                                                            const struct ka_registry_opts *o,
                                                            char *digest, size_t digest_len,
                                                            struct ka_buf *report);

#define KA_REGISTRY_MAX_IMAGES_FILE (4u * 1024u * 1024u) /* an --images list */

/**
 * Call `each(ctx, image)` for every image of an images list: one per line, blank lines and
 * `#` comments skipped, surrounding blanks trimmed. Stops early when `each` returns non-zero
 * (that value is returned). Returns 0, or the read error (KA_ENOTFOUND, KA_EIO, KA_ELIMIT past
 * KA_REGISTRY_MAX_IMAGES_FILE, KA_ENOMEM).
 */
__attribute__((warn_unused_result)) int
ka_registry_read_images(const char *file, int (*each)(void *ctx, const char *image), void *ctx);

/* ---- the background fetcher (serve --attestation-source registry) ---------------------- */

struct ka_registry_fetcher; /* opaque */

/**
 * Start one thread that takes due digests from `q` (admission's misses, kadmit/fetch_queue.h),
 * fetches them into `dir` with ka_registry_fetch() and reports each answer back to `q`, where
 * the next denial of that digest reads it. `o` is copied; o->auth_file is looked up before
 * each fetch (a missing file: anonymous). `images_file` (NULL: none) is an images list read at
 * start and every KA_REGISTRY_IMAGES_REREAD_S, each image queued as a miss would queue it, so
 * listed images are fetched before their first pod. Returns 0 or KA_ENOMEM.
 */
__attribute__((warn_unused_result)) int ka_registry_fetcher_start(struct ka_fetch_queue *q,
                                                                  const char *dir,
                                                                  const struct ka_registry_opts *o,
                                                                  const char *images_file,
                                                                  struct ka_registry_fetcher **out);
/** Stop the queue, wait for a fetch under way (bounded by its timeouts), free. NULL is fine. */
void ka_registry_fetcher_stop(struct ka_registry_fetcher *f);

/* ---- parsing the registry's answers (pure, no I/O; tests/fuzz/fuzz_registry.c) ----------- */

struct ka_registry_ref {
    char host[256]; /* registry host[:port], Docker Hub as registry-1.docker.io */
    char repo[256]; /* path inside the registry, Docker Hub single names under library/ */
    char hex[65];   /* the digest's 64 hex digits ("" for a tag reference) */
    char tag[129];  /* the tag, "" when none was given */
};

/** Split "[registry/]repo[:tag]@sha256:<64 hex>" (Docker Hub normalised). 0 or KA_EINVAL. */
__attribute__((warn_unused_result)) int ka_registry_parse_image(const char *image,
                                                                struct ka_registry_ref *out);

/** Split "[registry/]repo[:tag]" (no digest; the tag defaults to latest). 0 or KA_EINVAL. */
__attribute__((warn_unused_result)) int ka_registry_parse_tagged(const char *image,
                                                                 struct ka_registry_ref *out);

/** Digests named by a manifest or an index, in order; `bad` counts malformed descriptors. */
struct ka_registry_digests {
    size_t n;
    size_t bad;
    char digest[KA_REGISTRY_MAX_LAYERS][72]; /* "sha256:<64 hex>" */
};

/**
 * The layers of an image manifest (`{"layers":[{digest, annotations}...]}`) to fetch: with
 * `vuln_only`, layers whose `predicateType` annotation names another predicate are left out.
 * At most KA_REGISTRY_MAX_LAYERS descriptors are read. Notes (one per line: a malformed
 * digest, too many layers) go to `notes` (may be NULL). Returns 0 or KA_EPARSE (not JSON, no
 * layers array).
 */
__attribute__((warn_unused_result)) int ka_registry_manifest_layers(const char *body, size_t len,
                                                                    int vuln_only,
                                                                    struct ka_registry_digests *out,
                                                                    struct ka_buf *notes);
/**
 * The manifests of a referrers index (`{"manifests":[{digest, artifactType, annotations}...]}`,
 * from the referrers API or its fallback tag) that may hold vulnerability-scan bundles: other
 * artifact types and other predicates are left out. Same limits, notes and returns.
 */
__attribute__((warn_unused_result)) int ka_registry_index_referrers(const char *body, size_t len,
                                                                    struct ka_registry_digests *out,
                                                                    struct ka_buf *notes);
/**
 * The bearer token of a token endpoint's answer (`token`, else `access_token`), caller frees
 * (and should wipe). Refused when longer than KA_REGISTRY_MAX_TOKEN_LEN or holding a line
 * break. Returns 0, KA_EPARSE (not JSON), KA_ENOTFOUND (no usable token) or KA_ENOMEM.
 */
__attribute__((warn_unused_result)) int ka_registry_parse_token(const char *body, size_t len,
                                                                char **token);
/** The value of `key` in a challenge such as `Bearer realm="...",service="..."`, "" if none. */
void ka_registry_challenge_param(const char *challenge, const char *key, char *out, size_t out_len);

#endif
