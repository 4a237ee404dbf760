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
 * This module opens sockets: it belongs to the CLI layer (`kadmit attest sync`), never to the
 * admission core.
 */
#ifndef KADMIT_REGISTRY_H
#define KADMIT_REGISTRY_H

#include <stddef.h>

#include "kadmit/buf.h"

#define KA_REGISTRY_MAX_MANIFEST (4u * 1024u * 1024u) /* OCI's own manifest limit */
#define KA_REGISTRY_MAX_BLOB (8u * 1024u * 1024u)     /* = KA_ATTEST_MAX_DOCUMENT */
#define KA_REGISTRY_MAX_OUTPUT (64u * 1024u * 1024u)  /* = KA_ATTEST_MAX_FILE */
#define KA_REGISTRY_MAX_LAYERS 64                     /* envelopes or referrers per digest */
#define KA_REGISTRY_MAX_REDIRECTS 5
#define KA_REGISTRY_MAX_TOKEN (64u * 1024u)       /* token endpoint response */
#define KA_REGISTRY_MAX_AUTH_FILE (1024u * 1024u) /* dockerconfigjson */
#define KA_REGISTRY_TIMEOUT_S 30                  /* default per request */
#define KA_REGISTRY_RETRIES 3                     /* default attempts per request */

struct ka_registry_opts {
    const char *auth_file; /* .dockerconfigjson, NULL: anonymous */
    long timeout_s;        /* per request, including redirects; 0: KA_REGISTRY_TIMEOUT_S */
    int attempts;          /* per request; 0: KA_REGISTRY_RETRIES */
    long backoff_ms;       /* first retry delay, doubled each time; 0: 500 */
    int plain_http;        /* talk http:// (tests against a loopback registry only) */
    const char *ca_file;   /* extra CA bundle for the registry's TLS, NULL: system store */
};

/** Defaults: anonymous, 30 s per request, 3 attempts, 500 ms first backoff, https. */
void ka_registry_opts_init(struct ka_registry_opts *o);

/**
 * Fetch the attestations of `image` ("[registry/]repo[:tag]@sha256:<64 hex>"; Docker Hub names
 * such as "nginx@sha256:..." normalise to registry-1.docker.io/library/nginx) into `dir`.
 * Appends to `report` (may be NULL) one line per path tried with the registry's answer, e.g.
 *   "GET https://r.example/v2/app/manifests/sha256-<hex>.att: 404"
 * and a last line saying what was written.
 * Returns 0 when at least one document was written; KA_ENOTFOUND when the registry answered
 * but holds no attestation for the digest; KA_EINVAL for a bad image reference or auth file;
 * KA_ENET when the registry could not be reached or answered wrongly (bad digest, oversize,
 * timeout; the reason is in `report`); KA_EIO when the file cannot be written; KA_ENOMEM.
 * Documents fetched before a failure are still written.
 */
__attribute__((warn_unused_result)) int ka_registry_fetch(const char *image, const char *dir,
                                                          const struct ka_registry_opts *o,
                                                          struct ka_buf *report);

#endif
