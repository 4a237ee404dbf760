/*
 * Attestation documents: a DSSE envelope or Sigstore bundle, its signatures (over the DSSE
 * pre-authentication encoding), and the in-toto vulnerability-scan statement it carries, read
 * into one ka_attest_record. See kadmit/attest_envelope.h.
 */
#include "kadmit/attest_envelope.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>

#include "kadmit/attest_keys.h"
#include "kadmit/error.h"
#include "kadmit/json.h"

#define PAYLOAD_TYPE_INTOTO "application/vnd.in-toto+json"
#define PREDICATE_VULN "cosign.sigstore.dev/attestation/vuln/v1"
#define BUNDLE_MEDIA_PREFIX "application/vnd.dev.sigstore.bundle"

void ka_attest_record_free(struct ka_attest_record *a)
{
    free(a->statement_type);
    free(a->predicate_type);
    free(a->scanner_uri);
    free(a->scanner_version);
    free(a->verified_by);
    free(a->problem);
    memset(a, 0, sizeof(*a));
}

/* ---- encodings -------------------------------------------------------------------------- */

static const char *jstr(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * Decode DSSE base64: standard or URL-safe alphabet, padding optional (the DSSE reference
 * implementation accepts both). Returns 0 and a malloc'd buffer, or KA_EINVAL.
 */
static int b64_decode(const char *in, unsigned char **out, size_t *out_len)
{
    int ret = KA_EINVAL;
    size_t n = strlen(in);
    char *norm = NULL;
    unsigned char *dec = NULL;
    *out = NULL;
    *out_len = 0;
    if (n % 4 == 1 || n > KA_ATTEST_MAX_DOCUMENT) {
        goto exit;
    }
    norm = malloc(n + 4);
    dec = malloc(n / 4 * 3 + 4);
    if (norm == NULL || dec == NULL) {
        ret = KA_ENOMEM;
        goto exit;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '-') {
            c = '+';
        } else if (c == '_') {
            c = '/';
        } else if (!(isalnum((unsigned char)c) || c == '+' || c == '/' || c == '=')) {
            goto exit; /* no whitespace, no line breaks: the formats never wrap */
        }
        norm[m++] = c;
    }
    while (m % 4 != 0) {
        norm[m++] = '=';
    }
    size_t olen = 0;
    if (mbedtls_base64_decode(dec, n / 4 * 3 + 4, &olen, (const unsigned char *)norm, m) != 0) {
        goto exit;
    }
    *out = dec;
    *out_len = olen;
    dec = NULL;
    ret = 0;
exit:
    free(norm);
    free(dec);
    return ret;
}

int ka_attest_sha256_from_hex(const char *hex, unsigned char out[32])
{
    if (hex == NULL || strlen(hex) != 64) {
        return KA_EINVAL;
    }
    for (size_t i = 0; i < 32; i++) {
        int v = 0;
        for (size_t j = 0; j < 2; j++) {
            char c = (char)tolower((unsigned char)hex[2 * i + j]);
            int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
            if (d < 0) {
                return KA_EINVAL;
            }
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

/* ---- signature verification ------------------------------------------------------------- */

/* DSSE PAE: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
static int pae_build(struct ka_buf *b, const char *type, const unsigned char *body, size_t len)
{
    int ret = ka_buf_printf(b, "DSSEv1 %zu %s %zu ", strlen(type), type, len);
    if (ret == 0) {
        ret = ka_buf_add(b, body, len);
    }
    return ret;
}

/*
 * Verify the envelope's signatures over PAE(type, payload). On success sets *by to the label of
 * the key (borrowed). Otherwise writes the reason into `why`.
 */
static int envelope_verify(const cJSON *sigs, const char *type, const unsigned char *payload,
                           size_t plen, const struct ka_attest_keys *keys, const char **by,
                           char *why, size_t why_len)
{
    int ret = KA_EVERIFY;
    struct ka_buf pae;
    int b64_bad = 0, der_bad = 0, keyid_miss = 0, tried = 0;
    const char *missing_keyid = NULL;
    ka_buf_init(&pae, KA_ATTEST_MAX_DOCUMENT + 256);
    *by = NULL;
    if (ka_attest_keys_count(keys) == 0) {
        snprintf(why, why_len, "no trusted keys are configured");
        goto exit;
    }
    int r = pae_build(&pae, type, payload, plen);
    if (r != 0) {
        ret = r;
        snprintf(why, why_len, "cannot build the signed message: %s", ka_strerror(r));
        goto exit;
    }
    const cJSON *s;
    cJSON_ArrayForEach(s, sigs)
    {
        const char *sig64 = jstr(s, "sig");
        const char *keyid = jstr(s, "keyid");
        unsigned char *sig = NULL;
        size_t sig_len = 0;
        if (sig64 == NULL || b64_decode(sig64, &sig, &sig_len) != 0 || sig_len == 0) {
            b64_bad = 1;
            free(sig);
            continue;
        }
        unsigned seen = 0;
        int r2 = ka_attest_keys_verify(keys, keyid, (const unsigned char *)pae.data, pae.len, sig,
                                       sig_len, by, &seen);
        (void)r2; /* *by says whether it verified */
        if (seen & KA_ATTEST_SIG_KEYID_MISS) {
            keyid_miss = 1;
            missing_keyid = keyid;
        }
        tried |= (seen & KA_ATTEST_SIG_TRIED) != 0;
        der_bad |= (seen & KA_ATTEST_SIG_MALFORMED) != 0;
        free(sig);
        if (*by != NULL) {
            ret = 0;
            goto exit;
        }
    }
    if (!tried && keyid_miss) {
        snprintf(why, why_len,
                 "signature does not verify with any trusted key (no key has keyid %s)",
                 missing_keyid);
    } else if (b64_bad && !tried) {
        snprintf(why, why_len,
                 "signature does not verify with any trusted key (sig is not valid base64)");
    } else if (der_bad) {
        snprintf(why, why_len,
                 "signature does not verify with any trusted key (sig is not a "
                 "well-formed signature for the key type, e.g. bad ASN.1 DER)");
    } else {
        snprintf(why, why_len, "signature does not verify with any trusted key");
    }
exit:
    ka_buf_free(&pae);
    return ret;
}

/* ---- statement and predicate ------------------------------------------------------------ */

static void count_sev(unsigned counts[KA_SEV_COUNT], const cJSON *sev)
{
    int s =
        cJSON_IsString(sev) ? ka_attest_sev_parse(sev->valuestring, strlen(sev->valuestring)) : -1;
    counts[s < 0 ? KA_SEV_UNKNOWN : s]++;
}

/* Count findings in a Trivy or Grype JSON report. Returns 0 or writes a reason. */
static int count_findings(const cJSON *result, unsigned counts[KA_SEV_COUNT], char *why,
                          size_t why_len)
{
    memset(counts, 0, KA_SEV_COUNT * sizeof(counts[0]));
    if (!cJSON_IsObject(result)) {
        snprintf(why, why_len, "predicate.scanner.result is missing or not an object");
        return KA_EATTEST;
    }
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(result, "Results");
    const cJSON *matches = cJSON_GetObjectItemCaseSensitive(result, "matches");
    if (cJSON_IsArray(matches)) { /* Grype */
        const cJSON *m;
        cJSON_ArrayForEach(m, matches)
        {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "vulnerability");
            count_sev(counts, cJSON_GetObjectItemCaseSensitive(v, "severity"));
        }
        return 0;
    }
    if (cJSON_IsArray(results) ||
        ((results == NULL || cJSON_IsNull(results)) &&
         cJSON_GetObjectItemCaseSensitive(result, "SchemaVersion") != NULL)) { /* Trivy */
        const cJSON *r;
        cJSON_ArrayForEach(r, results)
        {
            const cJSON *vulns = cJSON_GetObjectItemCaseSensitive(r, "Vulnerabilities");
            if (vulns != NULL && !cJSON_IsNull(vulns) && !cJSON_IsArray(vulns)) {
                snprintf(why, why_len, "Trivy Results[].Vulnerabilities is not an array");
                return KA_EATTEST;
            }
            const cJSON *secrets = cJSON_GetObjectItemCaseSensitive(r, "Secrets");
            if (secrets != NULL && !cJSON_IsNull(secrets) && !cJSON_IsArray(secrets)) {
                snprintf(why, why_len, "Trivy Results[].Secrets is not an array");
                return KA_EATTEST;
            }
            const cJSON *v;
            cJSON_ArrayForEach(v, vulns)
            {
                count_sev(counts, cJSON_GetObjectItemCaseSensitive(v, "Severity"));
            }
            cJSON_ArrayForEach(v, secrets) /* a leaked key is a finding like a CVE */
            {
                count_sev(counts, cJSON_GetObjectItemCaseSensitive(v, "Severity"));
            }
        }
        return 0;
    }
    snprintf(why, why_len,
             "predicate.scanner.result is neither a Trivy report (Results) nor a "
             "Grype report (matches)");
    return KA_EATTEST;
}

static int is_statement_type(const char *t)
{
    return t != NULL && (strcmp(t, "https://in-toto.io/Statement/v0.1") == 0 ||
                         strcmp(t, "https://in-toto.io/Statement/v1") == 0);
}

static int is_vuln_predicate(const char *t)
{
    if (t == NULL) {
        return 0;
    }
    if (strncmp(t, "https://", 8) == 0) {
        t += 8;
    }
    return strcmp(t, PREDICATE_VULN) == 0;
}

/* Fill the predicate part of `a`; on a problem writes the reason. */
static int read_predicate(const cJSON *stmt, struct ka_attest_record *a, char *why, size_t why_len)
{
    const cJSON *pred = cJSON_GetObjectItemCaseSensitive(stmt, "predicate");
    const cJSON *scanner = cJSON_GetObjectItemCaseSensitive(pred, "scanner");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pred, "metadata");
    const char *uri = jstr(scanner, "uri"), *ver = jstr(scanner, "version");
    a->scanner_uri = strdup(uri ? uri : "");
    a->scanner_version = strdup(ver ? ver : "");
    if (a->scanner_uri == NULL || a->scanner_version == NULL) {
        return KA_ENOMEM;
    }
    if (!is_vuln_predicate(a->predicate_type)) {
        snprintf(why, why_len,
                 "predicate type %.200s is not a vulnerability scan (want https://%s)",
                 a->predicate_type, PREDICATE_VULN);
        return KA_EATTEST;
    }
    if (!cJSON_IsObject(pred) || !cJSON_IsObject(scanner)) {
        snprintf(why, why_len, "predicate has no scanner object");
        return KA_EATTEST;
    }
    int ret = count_findings(cJSON_GetObjectItemCaseSensitive(scanner, "result"), a->counts, why,
                             why_len);
    if (ret != 0) {
        return ret;
    }
    const char *fin = jstr(meta, "scanFinishedOn");
    if (fin == NULL) {
        snprintf(why, why_len, "predicate has no metadata.scanFinishedOn");
        return KA_EATTEST;
    }
    if (ka_attest_parse_time(fin, strlen(fin), &a->scan_finished) != 0) {
        snprintf(why, why_len, "metadata.scanFinishedOn \"%.64s\" is not an RFC 3339 time", fin);
        return KA_EATTEST;
    }
    a->has_scan_time = 1;
    return 0;
}

int ka_attest_envelope_read(const cJSON *root, int jsonl, const struct ka_attest_keys *keys,
                            struct ka_attest_record *out,
                            unsigned char digests[KA_ATTEST_MAX_SUBJECTS][32], size_t *ndigests,
                            char *why, size_t why_len)
{
    int ret = KA_EATTEST;
    unsigned char *payload = NULL;
    size_t plen = 0;
    cJSON *stmt = NULL;
    struct ka_attest_record a;
    memset(&a, 0, sizeof(a));
    memset(out, 0, sizeof(*out));
    *ndigests = 0;
    a.format = jsonl ? "dsse-jsonl" : "dsse";

    if (!cJSON_IsObject(root)) {
        snprintf(why, why_len, "expected a JSON object (DSSE envelope or Sigstore bundle)");
        goto exit;
    }
    const cJSON *env = root;
    const char *media = jstr(root, "mediaType");
    if (media != NULL) {
        if (strncmp(media, BUNDLE_MEDIA_PREFIX, strlen(BUNDLE_MEDIA_PREFIX)) != 0 ||
            strstr(media, "+json") == NULL) {
            snprintf(why, why_len, "mediaType %.100s is not a Sigstore bundle", media);
            goto exit;
        }
        env = cJSON_GetObjectItemCaseSensitive(root, "dsseEnvelope");
        if (!cJSON_IsObject(env)) {
            snprintf(why, why_len,
                     "Sigstore bundle has no dsseEnvelope (a messageSignature "
                     "bundle signs a blob, not an attestation)");
            goto exit;
        }
        a.format = "sigstore-bundle";
    }
    const char *ptype = jstr(env, "payloadType");
    const char *p64 = jstr(env, "payload");
    const cJSON *sigs = cJSON_GetObjectItemCaseSensitive(env, "signatures");
    if (ptype == NULL || p64 == NULL || !cJSON_IsArray(sigs)) {
        snprintf(why, why_len,
                 "not a DSSE envelope (needs string payloadType and payload, and a "
                 "signatures array)");
        goto exit;
    }
    int nsig = cJSON_GetArraySize(sigs);
    if (nsig < 1 || nsig > KA_ATTEST_MAX_SIGNATURES) {
        snprintf(why, why_len, "envelope has %d signatures (1 to %d allowed)", nsig,
                 KA_ATTEST_MAX_SIGNATURES);
        goto exit;
    }
    if (strcmp(ptype, PAYLOAD_TYPE_INTOTO) != 0) {
        snprintf(why, why_len, "payloadType %.100s is not %s", ptype, PAYLOAD_TYPE_INTOTO);
        goto exit;
    }
    int r = b64_decode(p64, &payload, &plen);
    if (r != 0) {
        ret = r == KA_ENOMEM ? r : KA_EATTEST;
        snprintf(why, why_len, "payload is not valid base64");
        goto exit;
    }

    char sigwhy[256] = "";
    const char *by = NULL;
    r = envelope_verify(sigs, ptype, payload, plen, keys, &by, sigwhy, sizeof(sigwhy));
    if (r == KA_ENOMEM) {
        ret = r;
        goto exit;
    }
    a.verified = r == 0;

    char pmsg[160];
    stmt = ka_json_parse_bounded((const char *)payload, plen, KA_ATTEST_MAX_DOCUMENT,
                                 KA_ATTEST_MAX_DEPTH, pmsg, sizeof(pmsg));
    if (stmt == NULL || !cJSON_IsObject(stmt)) {
        snprintf(why, why_len, "payload is not an in-toto statement: %s%s",
                 stmt == NULL ? pmsg : "not a JSON object",
                 a.verified ? ""
                            : " (and the "
                              "signature does not verify)");
        goto exit;
    }
    const cJSON *subjects = cJSON_GetObjectItemCaseSensitive(stmt, "subject");
    int nsub = cJSON_GetArraySize(subjects);
    if (!cJSON_IsArray(subjects) || nsub < 1) {
        snprintf(why, why_len, "statement has no subject");
        goto exit;
    }
    if (nsub > KA_ATTEST_MAX_SUBJECTS) {
        snprintf(why, why_len, "statement has %d subjects (max %d)", nsub, KA_ATTEST_MAX_SUBJECTS);
        goto exit;
    }
    const char *stype = jstr(stmt, "_type"), *predtype = jstr(stmt, "predicateType");
    a.statement_type = strdup(stype ? stype : "");
    a.predicate_type = strdup(predtype ? predtype : "");
    a.verified_by = strdup(by ? by : "");
    if (a.statement_type == NULL || a.predicate_type == NULL || a.verified_by == NULL) {
        ret = KA_ENOMEM;
        goto exit;
    }
    char pwhy[300] = "";
    if (!is_statement_type(stype)) {
        snprintf(pwhy, sizeof(pwhy), "_type %.100s is not an in-toto Statement (v0.1 or v1)",
                 a.statement_type);
    } else {
        r = read_predicate(stmt, &a, pwhy, sizeof(pwhy));
        if (r == KA_ENOMEM) {
            ret = r;
            goto exit;
        }
    }
    if (!a.verified) {
        a.problem = strdup(sigwhy);
    } else if (pwhy[0] != '\0') {
        a.problem = strdup(pwhy);
    }
    if ((!a.verified || pwhy[0] != '\0') && a.problem == NULL) {
        ret = KA_ENOMEM;
        goto exit;
    }

    size_t n = 0;
    const cJSON *sub;
    cJSON_ArrayForEach(sub, subjects)
    {
        const cJSON *dig = cJSON_GetObjectItemCaseSensitive(sub, "digest");
        if (ka_attest_sha256_from_hex(jstr(dig, "sha256"), digests[n]) == 0) {
            n++;
        }
    }
    a.subjects = (size_t)nsub;
    *ndigests = n;
    *out = a;
    memset(&a, 0, sizeof(a));
    ret = 0;
exit:
    ka_attest_record_free(&a);
    cJSON_Delete(stmt);
    free(payload);
    return ret;
}
