/*
 * The registry fetcher: cosign attestations of one digest, from its OCI registry, into the
 * attestation directory. See kadmit/registry.h for the paths tried and the contract.
 */
#include "kadmit/registry.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "kadmit/error.h"
#include "kadmit/fetch_queue.h"
#include "kadmit/file.h"
#include "kadmit/json.h"
#include "kadmit/limits.h"
#include "kadmit/log.h"
#include "kadmit/version.h"
#include "mbedtls_compat.h"

/* cosign writes the predicate type with or without the scheme. */
#define VULN_PREDICATE_HOST "cosign.sigstore.dev/attestation/vuln/v1"
#define VULN_PREDICATE "https://" VULN_PREDICATE_HOST
#define ACCEPT_MANIFEST                                                                            \
    "application/vnd.oci.image.manifest.v1+json, "                                                 \
    "application/vnd.docker.distribution.manifest.v2+json"
#define ACCEPT_INDEX "application/vnd.oci.image.index.v1+json"

void ka_registry_opts_init(struct ka_registry_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->timeout_s = KA_REGISTRY_TIMEOUT_S;
    o->attempts = KA_REGISTRY_RETRIES;
    o->backoff_ms = 500;
}

/* ---- image references ----------------------------------------------------------------------- */

/* Host, repository and tag of the name that ends at `end` (before any "@digest"). */
static int parse_name(const char *image, const char *end, struct ka_registry_ref *r)
{
    size_t n = (size_t)(end - image);
    const char *slash = memchr(image, '/', n);
    const char *name = image;
    /* the first component is a registry when it has a dot or a port, or is localhost */
    if (slash != NULL) {
        size_t fl = (size_t)(slash - image);
        if (memchr(image, '.', fl) != NULL || memchr(image, ':', fl) != NULL ||
            (fl == 9 && memcmp(image, "localhost", 9) == 0)) {
            if (fl >= sizeof(r->host)) {
                return KA_EINVAL;
            }
            memcpy(r->host, image, fl);
            r->host[fl] = '\0';
            name = slash + 1;
        }
    }
    if (name == image) {
        snprintf(r->host, sizeof(r->host), "registry-1.docker.io");
    }
    if (strcmp(r->host, "docker.io") == 0 || strcmp(r->host, "index.docker.io") == 0) {
        snprintf(r->host, sizeof(r->host), "registry-1.docker.io");
    }
    size_t len = (size_t)(end - name);
    const char *last = NULL; /* a ":tag" after the last slash */
    for (const char *p = name; p < end; p++) {
        if (*p == '/') {
            last = NULL;
        } else if (*p == ':') {
            last = p;
        }
    }
    if (last != NULL) {
        len = (size_t)(last - name);
        size_t tl = (size_t)(end - last - 1);
        if (tl == 0 || tl >= sizeof(r->tag) || last[1] == '.' || last[1] == '-') {
            return KA_EINVAL;
        }
        memcpy(r->tag, last + 1, tl);
        r->tag[tl] = '\0';
        for (const char *p = r->tag; *p; p++) {
            if (!isalnum((unsigned char)*p) && !strchr("_.-", *p)) {
                return KA_EINVAL;
            }
        }
    }
    int library = strcmp(r->host, "registry-1.docker.io") == 0 && memchr(name, '/', len) == NULL;
    if (len == 0 || len + 8 >= sizeof(r->repo)) {
        return KA_EINVAL;
    }
    snprintf(r->repo, sizeof(r->repo), "%s%.*s", library ? "library/" : "", (int)len, name);
    for (const char *p = r->repo; *p; p++) {
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || strchr("._-/", *p))) {
            return KA_EINVAL;
        }
    }
    return 0;
}

int ka_registry_parse_image(const char *image, struct ka_registry_ref *r)
{
    memset(r, 0, sizeof(*r));
    const char *at = strrchr(image, '@');
    if (at == NULL || strncmp(at + 1, "sha256:", 7) != 0 || strlen(at + 8) != 64) {
        return KA_EINVAL;
    }
    for (size_t i = 0; i < 64; i++) {
        char c = at[8 + i];
        if (!isdigit((unsigned char)c) && !(c >= 'a' && c <= 'f')) {
            return KA_EINVAL;
        }
    }
    memcpy(r->hex, at + 8, 65);
    return parse_name(image, at, r);
}

int ka_registry_parse_tagged(const char *image, struct ka_registry_ref *r)
{
    memset(r, 0, sizeof(*r));
    if (strchr(image, '@') != NULL) {
        return KA_EINVAL;
    }
    int ret = parse_name(image, image + strlen(image), r);
    if (ret == 0 && r->tag[0] == '\0') {
        snprintf(r->tag, sizeof(r->tag), "latest");
    }
    return ret;
}

/* ---- HTTP ------------------------------------------------------------------------------------ */

struct client {
    CURL *curl;
    const struct ka_registry_opts *o;
    const struct ka_registry_ref *ref;
    const char *scheme;
    char *token;     /* bearer token, NULL until a challenge asked for one */
    char basic[600]; /* base64 "user:password" from the auth file, "" when none */
    struct ka_buf *report;
    int unreachable; /* the last request failed without an HTTP answer */
    char last[1024]; /* the last line reported, for the one-line answer */
};

struct response {
    long status;
    struct ka_buf body;
    char location[2048];
    char www_auth[1024];
    char content_digest[80];
};

static void report(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(struct client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->last, sizeof(c->last), fmt, ap);
    va_end(ap);
    if (c->report == NULL) {
        return;
    }
    va_start(ap, fmt);
    int r = ka_buf_vprintf(c->report, fmt, ap);
    va_end(ap);
    r = r ? r : ka_buf_add(c->report, "\n", 1);
    (void)r; /* a full report only loses detail */
}

/* A JSON document from a registry or an auth file (its size bounded where it was read, by the
 * KA_REGISTRY_MAX_* limits). */
static cJSON *parse_json(const char *body, size_t len)
{
    return ka_json_parse_bounded(body != NULL ? body : "", body != NULL ? len : 0, SIZE_MAX,
                                 KA_MAX_DEPTH_DEFAULT, NULL, 0);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct ka_buf *b = arg;
    return ka_buf_add(b, p, size * n) == 0 ? size * n : 0; /* 0 aborts: over the limit */
}

/* Copy a header's value (trimmed) when its name matches. */
static void header_value(const char *line, size_t len, const char *name, char *out, size_t out_len)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':') {
        return;
    }
    const char *v = line + nl + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) {
        end--;
    }
    snprintf(out, out_len, "%.*s", (int)(end - v), v);
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const atomic_int *cancel = arg;
    return atomic_load(cancel) != 0; /* non-zero aborts the transfer */
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct response *r = arg;
    header_value(p, size * n, "Location", r->location, sizeof(r->location));
    header_value(p, size * n, "WWW-Authenticate", r->www_auth, sizeof(r->www_auth));
    header_value(p, size * n, "Docker-Content-Digest", r->content_digest,
                 sizeof(r->content_digest));
    return size * n;
}

/* One GET, no redirects followed. Returns 0 with r->status set, or KA_ENET / KA_ELIMIT. */
static int get_once(struct client *c, const char *url, const char *accept, const char *auth,
                    size_t max, struct response *r)
{
    int ret = KA_ENET;
    struct curl_slist *h = NULL;
    char line[4200];
    ka_buf_free(&r->body);
    ka_buf_init(&r->body, max);
    r->status = 0;
    r->location[0] = r->www_auth[0] = r->content_digest[0] = '\0';
    curl_easy_reset(c->curl);
    if (accept != NULL) {
        snprintf(line, sizeof(line), "Accept: %s", accept);
        h = curl_slist_append(h, line);
    }
    if (auth != NULL) {
        snprintf(line, sizeof(line), "Authorization: %s", auth);
        h = curl_slist_append(h, line);
        mbedtls_platform_zeroize(line, sizeof(line));
    }
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, c->o->plain_http ? "http,https" : "https");
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, c->o->timeout_s);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, c->o->timeout_s < 10 ? c->o->timeout_s : 10L);
    curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "kadmit/" KADMIT_VERSION);
    if (c->o->ca_file != NULL) {
        curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->o->ca_file);
    }
    if (c->o->cancel != NULL) {
        curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, (void *)c->o->cancel);
        curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
    }
    CURLcode cr = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    c->unreachable = 0;
    if (cr == CURLE_FILESIZE_EXCEEDED || cr == CURLE_WRITE_ERROR) {
        report(c, "GET %s: response over the %zu byte limit", url, max);
        ret = KA_ELIMIT;
    } else if (cr != CURLE_OK) {
        report(c, "GET %s: %s", url, curl_easy_strerror(cr));
        c->unreachable = 1;
    } else {
        ret = 0;
    }
    return ret;
}

void ka_registry_challenge_param(const char *ch, const char *key, char *out, size_t out_len)
{
    out[0] = '\0';
    size_t kl = strlen(key);
    for (const char *p = ch; (p = strcasestr(p, key)) != NULL; p += kl) {
        if ((p == ch || p[-1] == ' ' || p[-1] == ',') && p[kl] == '=' && p[kl + 1] == '"') {
            const char *v = p + kl + 2, *e = strchr(v, '"');
            if (e != NULL) {
                snprintf(out, out_len, "%.*s", (int)(e - v), v);
            }
            return;
        }
    }
}

/* Answer a Bearer challenge: ask the token endpoint, with Basic credentials when we have some. */
static int fetch_token(struct client *c, const char *challenge)
{
    char realm[1024], service[256], scope[512], url[2200], auth[700];
    ka_registry_challenge_param(challenge, "realm", realm, sizeof(realm));
    ka_registry_challenge_param(challenge, "service", service, sizeof(service));
    ka_registry_challenge_param(challenge, "scope", scope, sizeof(scope));
    if (realm[0] == '\0') {
        report(c, "the registry's Bearer challenge has no realm: %.200s", challenge);
        return KA_ENET;
    }
    if (scope[0] == '\0') {
        snprintf(scope, sizeof(scope), "repository:%s:pull", c->ref->repo);
    }
    char *es = curl_easy_escape(c->curl, service, 0), *ec = curl_easy_escape(c->curl, scope, 0);
    snprintf(url, sizeof(url), "%s%sservice=%s&scope=%s", realm, strchr(realm, '?') ? "&" : "?",
             es ? es : "", ec ? ec : "");
    curl_free(es);
    curl_free(ec);
    if (strncmp(url, "https://", 8) != 0 &&
        !(c->o->plain_http && strncmp(url, "http://", 7) == 0)) {
        report(c, "token realm %.200s is not https", realm);
        return KA_ENET;
    }
    snprintf(auth, sizeof(auth), "Basic %s", c->basic);
    struct response r;
    memset(&r, 0, sizeof(r));
    int ret =
        get_once(c, url, "application/json", c->basic[0] ? auth : NULL, KA_REGISTRY_MAX_TOKEN, &r);
    mbedtls_platform_zeroize(auth, sizeof(auth));
    if (ret == 0 && r.status != 200) {
        report(c, "GET %s (token): %ld", realm, r.status);
        ret = KA_ENET;
    }
    char *token = NULL;
    int pr = ret == 0 ? ka_registry_parse_token(r.body.data, r.body.len, &token) : 0;
    if (ret == 0 && pr == 0) {
        if (c->token != NULL) {
            mbedtls_platform_zeroize(c->token, strlen(c->token));
        }
        free(c->token);
        c->token = token;
        report(c, "GET %s (token): 200", realm);
    } else if (ret == 0) {
        report(c, "GET %s (token): no token in the answer", realm);
        ret = pr == KA_ENOMEM ? pr : KA_ENET;
    }
    if (r.body.data != NULL) {
        mbedtls_platform_zeroize(r.body.data, r.body.len);
    }
    ka_buf_free(&r.body);
    return ret;
}

static int transient(long status)
{
    return status == 429 || status >= 500;
}

/*
 * GET registry path `path` (starting with /v2/): retries transient failures with backoff,
 * answers one authentication challenge, follows redirects without the Authorization header.
 * Returns 0 with r->status set (any status), or KA_ENET / KA_ELIMIT / KA_ENOMEM.
 */
static int get(struct client *c, const char *path, const char *accept, size_t max,
               struct response *r)
{
    char url[4096], shown[600];
    snprintf(url, sizeof(url), "%s://%s%s", c->scheme, c->ref->host, path);
    snprintf(shown, sizeof(shown), "%.590s", url);
    int ret = KA_ENET, challenged = 0;
    long delay = c->o->backoff_ms;
    for (int attempt = 1; attempt <= c->o->attempts; attempt++) {
        char auth[16500] = "";
        if (c->token != NULL) {
            snprintf(auth, sizeof(auth), "Bearer %s", c->token);
        } else if (c->basic[0] != '\0' && challenged) {
            snprintf(auth, sizeof(auth), "Basic %s", c->basic);
        }
        ret = get_once(c, url, accept, auth[0] ? auth : NULL, max, r);
        mbedtls_platform_zeroize(auth, sizeof(auth));
        for (int hops = 0; ret == 0 && r->status >= 300 && r->status < 400 && r->location[0];
             hops++) {
            if (hops >= KA_REGISTRY_MAX_REDIRECTS) {
                report(c, "GET %s: more than %d redirects", shown, KA_REGISTRY_MAX_REDIRECTS);
                return KA_ENET;
            }
            char next[2048];
            snprintf(next, sizeof(next), "%s", r->location);
            if (next[0] == '/') { /* relative: same registry */
                snprintf(next, sizeof(next), "%s://%s%s", c->scheme, c->ref->host, r->location);
            }
            /* blob storage gets no registry credentials: the URL carries its own */
            ret = get_once(c, next, accept, NULL, max, r);
        }
        if (ret == 0 && r->status == 401 && !challenged && r->www_auth[0] != '\0') {
            challenged = 1;
            report(c, "GET %s: 401 (%.60s)", shown, r->www_auth);
            if (strncasecmp(r->www_auth, "Bearer", 6) == 0) {
                ret = fetch_token(c, r->www_auth);
                if (ret != 0) {
                    return ret;
                }
            } else if (c->basic[0] == '\0') {
                return 0; /* Basic wanted, nothing to offer: the 401 stands */
            }
            attempt--; /* the challenge is not a failed attempt */
            continue;
        }
        if (ret == KA_ELIMIT || ret == KA_ENOMEM || (ret == 0 && !transient(r->status)) ||
            (c->o->cancel != NULL && atomic_load(c->o->cancel) != 0)) {
            break;
        }
        if (ret == 0) {
            report(c, "GET %s: %ld (attempt %d of %d)", shown, r->status, attempt, c->o->attempts);
        }
        if (attempt < c->o->attempts) {
            struct timespec ts = {delay / 1000, (delay % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            delay *= 2;
        }
    }
    if (ret == 0 && !transient(r->status)) {
        report(c, "GET %s: %ld", shown, r->status);
    }
    return ret;
}

/* ---- manifests and blobs -------------------------------------------------------------------- */

static int sha256_matches(const struct ka_buf *b, const char *digest)
{
    unsigned char sum[32];
    char hex[65];
    static const char hx[] = "0123456789abcdef";
    if (strncmp(digest, "sha256:", 7) != 0 ||
        ka_sha256((const unsigned char *)(b->data ? b->data : ""), b->len, sum) != 0) {
        return 0;
    }
    for (size_t i = 0; i < 32; i++) {
        hex[2 * i] = hx[sum[i] >> 4];
        hex[2 * i + 1] = hx[sum[i] & 15];
    }
    hex[64] = '\0';
    return strcmp(digest + 7, hex) == 0;
}

static int valid_digest(const char *d)
{
    if (d == NULL || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71) {
        return 0;
    }
    for (const char *p = d + 7; *p; p++) {
        if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f')) {
            return 0;
        }
    }
    return 1;
}

/* Fetch `what` (manifests/ or blobs/) by digest and check the bytes hash to it. */
static int get_by_digest(struct client *c, const char *what, const char *digest, const char *accept,
                         size_t max, struct response *r)
{
    char path[700];
    if (!valid_digest(digest)) {
        report(c, "descriptor digest %.80s is not sha256:<64 hex>", digest ? digest : "(none)");
        return KA_ENET;
    }
    snprintf(path, sizeof(path), "/v2/%s/%s/%s", c->ref->repo, what, digest);
    int ret = get(c, path, accept, max, r);
    if (ret == 0 && r->status != 200) {
        return KA_ENET;
    }
    if (ret == 0 && !sha256_matches(&r->body, digest)) {
        report(c, "%s %s: content does not hash to its digest; discarded", what, digest);
        return KA_ENET;
    }
    return ret;
}

/* ---- parsing the registry's answers (pure; tests/fuzz/fuzz_registry.c) ------------------- */

int ka_registry_parse_token(const char *body, size_t len, char **token)
{
    *token = NULL;
    cJSON *j = parse_json(body, len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "token");
    if (!cJSON_IsString(t) || t->valuestring[0] == '\0') {
        t = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    }
    int ret = KA_ENOTFOUND;
    if (j == NULL) {
        ret = KA_EPARSE;
    } else if (cJSON_IsString(t) && t->valuestring[0] != '\0' &&
               strlen(t->valuestring) < KA_REGISTRY_MAX_TOKEN_LEN &&
               strpbrk(t->valuestring, "\r\n") == NULL) { /* it goes into a header */
        *token = strdup(t->valuestring);
        ret = *token != NULL ? 0 : KA_ENOMEM;
    }
    if (cJSON_IsString(t)) {
        mbedtls_platform_zeroize(t->valuestring, strlen(t->valuestring));
    }
    cJSON_Delete(j);
    return ret;
}

/* The annotation says this is something other than a vulnerability scan. */
static int other_predicate(const cJSON *desc, const char *key)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(desc, "annotations");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(a, key);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "dev.sigstore.bundle.content");
    if (cJSON_IsString(content) && strcmp(content->valuestring, "dsse-envelope") != 0) {
        return 1; /* message signatures sign the image, they attest nothing */
    }
    return cJSON_IsString(p) && strcmp(p->valuestring, VULN_PREDICATE) != 0 &&
           strcmp(p->valuestring, VULN_PREDICATE_HOST) != 0;
}

/* Add a descriptor's digest to `out`, or count it bad when it is not sha256:<64 hex>; past
 * KA_REGISTRY_MAX_LAYERS descriptors, nothing. */
static void take_digest(const cJSON *desc, struct ka_registry_digests *out, struct ka_buf *notes)
{
    if (out->n + out->bad >= KA_REGISTRY_MAX_LAYERS) {
        return;
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(desc, "digest");
    if (!cJSON_IsString(d) || !valid_digest(d->valuestring)) {
        ka_buf_diag(notes, "descriptor digest %.80s is not sha256:<64 hex>\n",
                    cJSON_IsString(d) ? d->valuestring : "(none)");
        out->bad++;
        return;
    }
    memcpy(out->digest[out->n++], d->valuestring, 72);
}

/* Parse `body` as a JSON object holding the array `key`, at most KA_REGISTRY_MAX_LAYERS read. */
static cJSON *parse_list(const char *body, size_t len, const char *what, const char *key,
                         const cJSON **list, struct ka_registry_digests *out, struct ka_buf *notes)
{
    memset(out, 0, sizeof(*out));
    cJSON *j = parse_json(body, len);
    *list = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsArray(*list)) {
        ka_buf_diag(notes, "%s has no %s array\n", what, key);
        cJSON_Delete(j);
        return NULL;
    }
    if (cJSON_GetArraySize(*list) > KA_REGISTRY_MAX_LAYERS) {
        ka_buf_diag(notes, "%s lists %d %s; the first %d are read\n", what,
                    cJSON_GetArraySize(*list), key, KA_REGISTRY_MAX_LAYERS);
    }
    return j;
}

int ka_registry_manifest_layers(const char *body, size_t len, int vuln_only,
                                struct ka_registry_digests *out, struct ka_buf *notes)
{
    const cJSON *layers, *l;
    cJSON *m = parse_list(body, len, "manifest", "layers", &layers, out, notes);
    if (m == NULL) {
        return KA_EPARSE;
    }
    cJSON_ArrayForEach(l, layers)
    {
        if (!vuln_only || !other_predicate(l, "predicateType")) {
            take_digest(l, out, notes);
        }
    }
    cJSON_Delete(m);
    return 0;
}

int ka_registry_index_referrers(const char *body, size_t len, struct ka_registry_digests *out,
                                struct ka_buf *notes)
{
    const cJSON *ms, *d;
    cJSON *ix = parse_list(body, len, "index", "manifests", &ms, out, notes);
    if (ix == NULL) {
        return KA_EPARSE;
    }
    cJSON_ArrayForEach(d, ms)
    {
        /* Registries take artifactType from the manifest's, or (go-containerregistry) from its
         * config's media type, the empty one for cosign's bundles: only another named type is
         * another artifact (an SBOM...). */
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(d, "artifactType");
        if (cJSON_IsString(at) && strstr(at->valuestring, "dev.sigstore.bundle") == NULL &&
            strcmp(at->valuestring, "application/vnd.oci.empty.v1+json") != 0) {
            continue;
        }
        if (!other_predicate(d, "dev.sigstore.bundle.predicateType")) {
            take_digest(d, out, notes);
        }
    }
    cJSON_Delete(ix);
    return 0;
}

/* ---- fetching what the answers name --------------------------------------------------------- */

/* Append one fetched document to the output as one JSON line. */
static int add_line(struct ka_buf *out, const struct ka_buf *doc, size_t *docs)
{
    cJSON *j = parse_json(doc->data, doc->len);
    char *flat = j ? cJSON_PrintUnformatted(j) : NULL;
    int ret = KA_EINVAL;
    if (flat != NULL) {
        ret = ka_buf_adds(out, flat);
        ret = ret ? ret : ka_buf_add(out, "\n", 1);
        *docs += ret == 0;
    }
    cJSON_free(flat);
    cJSON_Delete(j);
    return ret;
}

/* The parser's notes, into the report. */
static void report_notes(struct client *c, struct ka_buf *notes)
{
    for (char *l = notes->data; l != NULL && *l != '\0';) {
        char *nl = strchr(l, '\n');
        report(c, "%.*s", nl ? (int)(nl - l) : (int)strlen(l), l);
        l = nl ? nl + 1 : NULL;
    }
    ka_buf_reset(notes);
}

/* Every layer of an image manifest (already fetched) that may be a vulnerability scan. */
static int take_layers(struct client *c, const struct ka_buf *manifest, int vuln_only,
                       struct ka_buf *out, size_t *docs)
{
    struct ka_registry_digests layers;
    struct ka_buf notes;
    ka_buf_init(&notes, 8192);
    int ret =
        ka_registry_manifest_layers(manifest->data, manifest->len, vuln_only, &layers, &notes);
    report_notes(c, &notes);
    ka_buf_free(&notes);
    if (ret != 0) {
        return KA_ENET;
    }
    ret = layers.bad > 0 ? KA_ENET : 0;
    struct response r;
    memset(&r, 0, sizeof(r));
    for (size_t i = 0; i < layers.n; i++) {
        int rr = get_by_digest(c, "blobs", layers.digest[i], NULL, KA_REGISTRY_MAX_BLOB, &r);
        if (rr == KA_ENOMEM) {
            ret = rr;
            break;
        }
        if (rr != 0) { /* reported; the other blobs still count */
            ret = KA_ENET;
            continue;
        }
        rr = add_line(out, &r.body, docs);
        if (rr == KA_EINVAL) {
            report(c, "blob %s is not JSON; skipped", layers.digest[i]);
        } else if (rr != 0) { /* out of memory, or the output is full */
            ret = rr;
            break;
        }
    }
    ka_buf_free(&r.body);
    return ret;
}

/* An index of referrers (API or fallback tag): each manifest's bundle layers. */
static int take_referrers(struct client *c, const struct ka_buf *index, struct ka_buf *out,
                          size_t *docs)
{
    struct ka_registry_digests refs;
    struct ka_buf notes;
    ka_buf_init(&notes, 8192);
    int ret = ka_registry_index_referrers(index->data, index->len, &refs, &notes);
    report_notes(c, &notes);
    ka_buf_free(&notes);
    if (ret != 0) {
        return KA_ENET;
    }
    ret = refs.bad > 0 ? KA_ENET : 0;
    struct response r;
    memset(&r, 0, sizeof(r));
    for (size_t i = 0; i < refs.n; i++) {
        int rr = get_by_digest(c, "manifests", refs.digest[i], ACCEPT_MANIFEST,
                               KA_REGISTRY_MAX_MANIFEST, &r);
        if (rr == KA_ENOMEM) {
            ret = rr;
            break;
        }
        if (rr != 0) {
            ret = KA_ENET;
            continue;
        }
        rr = take_layers(c, &r.body, 0, out, docs);
        if (rr == KA_ENOMEM || rr == KA_ELIMIT) {
            ret = rr;
            break;
        }
        ret = ret ? ret : rr;
    }
    ka_buf_free(&r.body);
    return ret;
}

/* ---- credentials and output ------------------------------------------------------------------ */

/* Basic credentials for `host` from a .dockerconfigjson
 * ({"auths":{host:{auth|username+password}}}). */
static int load_auth(struct client *c, const char *file)
{
    struct ka_buf b;
    ka_buf_init(&b, KA_REGISTRY_MAX_AUTH_FILE);
    int ret = ka_buf_read_file(&b, file);
    if (ret != 0) {
        report(c, "auth file %s: %s", file, ka_strerror(ret));
        ka_buf_free(&b);
        return KA_EINVAL;
    }
    cJSON *j = parse_json(b.data, b.len);
    const cJSON *auths = cJSON_GetObjectItemCaseSensitive(j, "auths");
    if (!cJSON_IsObject(auths)) {
        report(c, "auth file %s: not a .dockerconfigjson (no \"auths\" object)", file);
        ret = KA_EINVAL;
        goto exit;
    }
    int hub = strcmp(c->ref->host, "registry-1.docker.io") == 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, auths)
    {
        const char *k = e->string;
        if (strncmp(k, "https://", 8) == 0) {
            k += 8;
        } else if (strncmp(k, "http://", 7) == 0) {
            k += 7;
        }
        size_t kl = strcspn(k, "/");
        int match = (kl == strlen(c->ref->host) && strncmp(k, c->ref->host, kl) == 0) ||
                    (hub && ((kl == 9 && strncmp(k, "docker.io", 9) == 0) ||
                             (kl == 15 && strncmp(k, "index.docker.io", 15) == 0)));
        if (!match) {
            continue;
        }
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "auth");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(e, "username");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "password");
        if (cJSON_IsString(a) && strlen(a->valuestring) < sizeof(c->basic)) {
            snprintf(c->basic, sizeof(c->basic), "%s", a->valuestring);
        } else if (cJSON_IsString(u) && cJSON_IsString(p)) {
            char up[440];
            size_t olen = 0;
            int w = snprintf(up, sizeof(up), "%s:%s", u->valuestring, p->valuestring);
            if (w > 0 && (size_t)w < sizeof(up) &&
                mbedtls_base64_encode((unsigned char *)c->basic, sizeof(c->basic), &olen,
                                      (const unsigned char *)up, (size_t)w) != 0) {
                c->basic[0] = '\0';
            }
            mbedtls_platform_zeroize(up, sizeof(up));
        }
        break;
    }
    ret = 0;
exit:
    cJSON_Delete(j);
    if (b.data != NULL) {
        mbedtls_platform_zeroize(b.data, b.len);
    }
    ka_buf_free(&b);
    return ret;
}

/* Write `out` to dir/registry-<hex>.jsonl atomically (the loaders skip the hidden temporary). */
static int write_atomically(struct client *c, const char *dir, const struct ka_buf *out)
{
    char dst[4200];
    snprintf(dst, sizeof(dst), "%s/registry-%s.jsonl", dir, c->ref->hex);
    if (ka_file_write_atomic(dst, out->data ? out->data : "", out->len, 0644) != 0) {
        report(c, "%s: cannot write: %s", dst, strerror(errno));
        return KA_EIO;
    }
    return 0;
}

/* ---- a client for one image ------------------------------------------------------------------ */

/* Is `host` in the comma-separated list (NULL: everything is)? "docker.io" names Docker Hub. */
static int host_allowed(const char *list, const char *host)
{
    if (list == NULL) {
        return 1;
    }
    int hub = strcmp(host, "registry-1.docker.io") == 0;
    for (const char *p = list; *p != '\0';) {
        size_t n = strcspn(p, ", ");
        if ((n == strlen(host) && strncmp(p, host, n) == 0) ||
            (hub && n == 9 && strncmp(p, "docker.io", 9) == 0)) {
            return 1;
        }
        p += n;
        p += strspn(p, ", ");
    }
    return 0;
}

int ka_registry_image_allowed(void *hosts, const char *image, struct ka_buf *why)
{
    struct ka_registry_ref ref;
    if (ka_registry_parse_image(image, &ref) != 0 || host_allowed(hosts, ref.host)) {
        return 1; /* an unparsable name fails in the fetch, which says why */
    }
    int ret =
        why != NULL
            ? ka_buf_printf(why, "registry %s is not in --registry-hosts; not fetched", ref.host)
            : 0;
    return ret == KA_ENOMEM ? ret : 0; /* a clause cut at the buffer's limit only loses words */
}

/* Check the host is allowed, read credentials, open a curl handle. */
static int client_open(struct client *c)
{
    if (!host_allowed(c->o->allowed_hosts, c->ref->host)) {
        report(c, "registry %s is not in --registry-hosts; not contacted", c->ref->host);
        return KA_EINVAL;
    }
    if (c->o->auth_file != NULL && load_auth(c, c->o->auth_file) != 0) {
        return KA_EINVAL;
    }
    c->curl = curl_easy_init();
    return c->curl != NULL ? 0 : KA_ENOMEM;
}

static void client_close(struct client *c)
{
    if (c->curl != NULL) {
        curl_easy_cleanup(c->curl);
    }
    if (c->token != NULL) {
        mbedtls_platform_zeroize(c->token, strlen(c->token));
        free(c->token);
    }
    mbedtls_platform_zeroize(c->basic, sizeof(c->basic));
}

/* ---- the fetch ------------------------------------------------------------------------------ */

/* One step's answer, for the one-line summary: "referrers: 404", ".att tag: timeout..." */
static void brief_step(struct client *c, struct ka_buf *brief, const char *label, int rr,
                       long status)
{
    if (brief == NULL) {
        return;
    }
    int r = ka_buf_printf(brief, "%s%s: ", brief->len > 0 ? ", " : "", label);
    if (r == 0 && rr == 0) {
        r = ka_buf_printf(brief, "%ld", status);
    } else if (r == 0) {
        /* "GET <url>: Timeout was reached" says what the step's label does not */
        const char *why = strncmp(c->last, "GET ", 4) == 0 ? strstr(c->last, ": ") : NULL;
        r = ka_buf_printf(brief, "%.70s", why != NULL ? why + 2 : c->last);
    }
    (void)r; /* a full summary only loses detail */
}

int ka_registry_fetch(const char *image, const char *dir, const struct ka_registry_opts *o,
                      struct ka_buf *report_buf, struct ka_buf *brief)
{
    int ret = KA_EINTERNAL;
    struct ka_registry_ref ref;
    struct ka_registry_opts defaults;
    struct client c = {.report = report_buf};
    struct response r;
    struct ka_buf out;
    size_t docs = 0;
    char path[700];
    memset(&r, 0, sizeof(r));
    ka_buf_init(&out, KA_REGISTRY_MAX_OUTPUT);
    if (image == NULL || dir == NULL) {
        return KA_EINVAL;
    }
    if (o == NULL) {
        ka_registry_opts_init(&defaults);
        o = &defaults;
    }
    c.o = o;
    c.ref = &ref;
    c.scheme = o->plain_http ? "http" : "https";
    if (ka_registry_parse_image(image, &ref) != 0) {
        report(&c, "%.200s: not an image pinned by digest ([registry/]repo@sha256:<64 hex>)",
               image);
        brief_step(&c, brief, "image", KA_EINVAL, 0);
        return KA_EINVAL;
    }
    ret = client_open(&c);
    if (ret != 0) {
        brief_step(&c, brief, "registry", ret, 0);
        goto exit;
    }
    int reached = 0, any_error = 0;

    /* 1. cosign's .att tag: an image manifest of DSSE envelope layers */
    snprintf(path, sizeof(path), "/v2/%s/manifests/sha256-%s.att", ref.repo, ref.hex);
    int rr = get(&c, path, ACCEPT_MANIFEST, KA_REGISTRY_MAX_MANIFEST, &r);
    reached |= rr == 0 || rr == KA_ELIMIT;
    if (rr == 0 && r.status == 200) {
        if (r.content_digest[0] != '\0' && !sha256_matches(&r.body, r.content_digest)) {
            report(&c,
                   "manifest sha256-%s.att does not hash to its Docker-Content-Digest; "
                   "discarded",
                   ref.hex);
            rr = KA_ENET;
        } else {
            rr = take_layers(&c, &r.body, 1, &out, &docs);
        }
    }
    brief_step(&c, brief, ".att tag", rr, r.status);
    if (rr == KA_ENOMEM) {
        ret = rr;
        goto exit;
    }
    any_error |= rr != 0 || (r.status != 200 && r.status != 404);

    /* 2. the referrers API, 3. else its fallback tag */
    snprintf(path, sizeof(path), "/v2/%s/referrers/sha256:%s", ref.repo, ref.hex);
    rr = get(&c, path, ACCEPT_INDEX, KA_REGISTRY_MAX_MANIFEST, &r);
    reached |= rr == 0 || rr == KA_ELIMIT;
    int referrers_api = rr == 0 && r.status == 200;
    const char *label = "referrers";
    if (!referrers_api && (rr == 0 || c.unreachable == 0)) {
        brief_step(&c, brief, label, rr, r.status);
        label = "fallback tag";
        snprintf(path, sizeof(path), "/v2/%s/manifests/sha256-%s", ref.repo, ref.hex);
        rr = get(&c, path, ACCEPT_INDEX, KA_REGISTRY_MAX_MANIFEST, &r);
        reached |= rr == 0 || rr == KA_ELIMIT;
    }
    if (rr == 0 && r.status == 200) {
        rr = take_referrers(&c, &r.body, &out, &docs);
    }
    brief_step(&c, brief, label, rr, r.status);
    if (rr == KA_ENOMEM) {
        ret = rr;
        goto exit;
    }
    any_error |= rr != 0 || (r.status != 200 && r.status != 404);

    if (docs > 0) {
        ret = write_atomically(&c, dir, &out);
        if (ret == 0) {
            report(&c, "wrote %zu document%s to %s/registry-%s.jsonl", docs, docs == 1 ? "" : "s",
                   dir, ref.hex);
            if (brief != NULL && ka_buf_printf(brief, "; wrote %zu", docs) != 0) {
                ret = 0; /* a full summary only loses detail */
            }
        }
    } else if (!reached || any_error) {
        report(&c, "no attestation fetched: the registry could not be read");
        ret = KA_ENET;
    } else {
        report(&c, "the registry holds no attestation for sha256:%s", ref.hex);
        ret = KA_ENOTFOUND;
    }
exit:
    client_close(&c);
    ka_buf_free(&r.body);
    ka_buf_free(&out);
    return ret;
}

#define ACCEPT_ANY                                                                                 \
    ACCEPT_INDEX ", application/vnd.docker.distribution.manifest.list.v2+json, " ACCEPT_MANIFEST

int ka_registry_resolve(const char *image, const struct ka_registry_opts *o, char *digest,
                        size_t digest_len, struct ka_buf *report_buf)
{
    int ret = KA_EINVAL;
    struct ka_registry_ref ref;
    struct client c = {.report = report_buf, .o = o, .ref = &ref};
    struct response r;
    char path[700];
    memset(&r, 0, sizeof(r));
    c.scheme = o->plain_http ? "http" : "https";
    if (digest_len < 72 || ka_registry_parse_tagged(image, &ref) != 0) {
        report(&c, "%.200s: not an image reference by tag ([registry/]repo[:tag])", image);
        return KA_EINVAL;
    }
    ret = client_open(&c);
    if (ret != 0) {
        goto exit;
    }
    /* every manifest type: the digest is the index's for a multi-platform image, as crane's */
    snprintf(path, sizeof(path), "/v2/%s/manifests/%s", ref.repo, ref.tag);
    ret = get(&c, path, ACCEPT_ANY, KA_REGISTRY_MAX_MANIFEST, &r);
    if (ret == 0 && r.status != 200) {
        ret = r.status == 404 ? KA_ENOTFOUND : KA_ENET;
        goto exit;
    }
    if (ret != 0) {
        goto exit;
    }
    unsigned char sum[32];
    ret = ka_sha256((const unsigned char *)(r.body.data ? r.body.data : ""), r.body.len, sum);
    if (ret != 0) {
        ret = KA_EINTERNAL;
        goto exit;
    }
    memcpy(digest, "sha256:", 7);
    for (size_t i = 0; i < 32; i++) {
        snprintf(digest + 7 + 2 * i, 3, "%02x", sum[i]);
    }
    if (r.content_digest[0] != '\0' && strcmp(r.content_digest, digest) != 0) {
        report(&c, "Docker-Content-Digest %.80s does not match the manifest's bytes",
               r.content_digest);
        digest[0] = '\0';
        ret = KA_ENET;
        goto exit;
    }
    report(&c, "%s -> %s (Docker-Content-Digest %s)", image, digest,
           r.content_digest[0] != '\0' ? "matches the manifest" : "absent; the manifest's own");
exit:
    client_close(&c);
    ka_buf_free(&r.body);
    return ret;
}

int ka_registry_read_images(const char *file, int (*each)(void *ctx, const char *image), void *ctx)
{
    struct ka_buf b;
    ka_buf_init(&b, KA_REGISTRY_MAX_IMAGES_FILE);
    int ret = ka_buf_read_file(&b, file);
    for (char *l = b.data; ret == 0 && l != NULL && *l != '\0';) {
        char *nl = strchr(l, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        l += strspn(l, " \t");
        size_t n = strcspn(l, " \t\r#");
        if (n > 0) {
            l[n] = '\0';
            ret = each(ctx, l);
        }
        l = nl ? nl + 1 : NULL;
    }
    ka_buf_free(&b);
    return ret;
}

/* ---- the background fetcher of serve --attestation-source registry --------------------------- */

struct ka_registry_fetcher {
    pthread_t thread;
    atomic_int stopping;          /* aborts the fetch under way */
    struct ka_fetch_queue *queue; /* borrowed */
    char dir[4096];
    char auth_file[4096];   /* "" none */
    char images_file[4096]; /* "" none */
    struct ka_registry_opts opts;
};

/* An image of the --registry-images list: queued as a miss would queue it. */
static int queue_listed(void *ctx, const char *image)
{
    struct ka_registry_fetcher *f = ctx;
    return ka_fetch_queue_miss(f->queue, image, (int64_t)time(NULL), NULL);
}

static void *fetcher_main(void *arg)
{
    struct ka_registry_fetcher *f = arg;
    char image[KA_FETCH_IMAGE_MAX];
    pthread_setname_np(pthread_self(), "kadmit-fetcher"); /* the one thread that connects */
    time_t listed = 0;
    struct ka_buf rep, brief;
    ka_buf_init(&rep, 64 * 1024);
    ka_buf_init(&brief, KA_FETCH_ANSWER_MAX);
    for (;;) {
        if (f->images_file[0] != '\0' && time(NULL) - listed >= KA_REGISTRY_IMAGES_REREAD_S) {
            listed = time(NULL);
            int lr = ka_registry_read_images(f->images_file, queue_listed, f);
            if (lr != 0) {
                KA_LOG_W("registry fetcher: images list %s: %s", f->images_file, ka_strerror(lr));
            }
        }
        int r = ka_fetch_queue_next(f->queue, image, sizeof(image), 1000);
        if (r == KA_EINVAL) {
            break; /* stopped */
        }
        if (r != 0) {
            continue;
        }
        struct stat st;
        struct ka_registry_opts o = f->opts;
        /* an optional Secret that is not there: fetch anonymously (public registries) */
        o.auth_file = f->auth_file[0] != '\0' && stat(f->auth_file, &st) == 0 ? f->auth_file : NULL;
        ka_buf_reset(&rep);
        ka_buf_reset(&brief);
        r = ka_registry_fetch(image, f->dir, &o, &rep, &brief);
        ka_fetch_queue_done(f->queue, image, r, brief.data != NULL ? brief.data : ka_strerror(r),
                            (int64_t)time(NULL));
        KA_LOG(r == 0 ? KA_LOG_INFO : KA_LOG_WARN, NULL, "registry fetch %s: %s (%s)", image,
               r == 0 ? "written" : ka_strerror(r), brief.data != NULL ? brief.data : "");
        if (r != 0 && rep.data != NULL) {
            KA_LOG_D("registry fetch %s: %s", image, rep.data);
        }
    }
    ka_buf_free(&rep);
    ka_buf_free(&brief);
    return NULL;
}

int ka_registry_fetcher_start(struct ka_fetch_queue *q, const char *dir,
                              const struct ka_registry_opts *o, const char *images_file,
                              struct ka_registry_fetcher **out)
{
    *out = NULL;
    struct ka_registry_fetcher *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return KA_ENOMEM;
    }
    f->queue = q;
    f->opts = *o;
    snprintf(f->dir, sizeof(f->dir), "%s", dir);
    snprintf(f->auth_file, sizeof(f->auth_file), "%s", o->auth_file ? o->auth_file : "");
    snprintf(f->images_file, sizeof(f->images_file), "%s", images_file ? images_file : "");
    f->opts.auth_file = NULL;
    f->opts.cancel = &f->stopping;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
        pthread_create(&f->thread, NULL, fetcher_main, f) != 0) {
        free(f);
        return KA_ENOMEM;
    }
    *out = f;
    return 0;
}

void ka_registry_fetcher_stop(struct ka_registry_fetcher *f)
{
    if (f == NULL) {
        return;
    }
    atomic_store(&f->stopping, 1);
    ka_fetch_queue_stop(f->queue);
    pthread_join(f->thread, NULL); /* a fetch under way is aborted at once */
    curl_global_cleanup();
    free(f);
}
