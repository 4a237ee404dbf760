/*
 * The image-scan-attestation rule: every image of the pod as it will run (containers,
 * initContainers, ephemeralContainers, and the sidecar kadmit injects) must be pinned by digest
 * and have a signed, fresh, clean vulnerability-scan attestation.
 *
 * All parsing and signature checks happen when the policy is loaded (ka_attest_index_*); the
 * admission path is a lookup. Missing keys or a missing attestation directory do not stop the
 * policy loading (they are reported as diagnostics): every image is then denied, saying why.
 */
#include <stdarg.h>

#include "kadmit/attest.h"
#include "kadmit/duration.h"
#include "rule_api.h"

#define KA_ATTEST_DIR_MAX 1024

#define KA_ATTEST_WATCH_MAX 8

struct attest_state {
    struct ka_attest_keys *keys;
    struct ka_attest_index *index;
    struct ka_attest_params params;
    char dir[KA_ATTEST_DIR_MAX];
    /* directories of the keyFiles globs: adding or rotating a key reloads the policy */
    char key_dirs[KA_ATTEST_WATCH_MAX][KA_ATTEST_DIR_MAX];
    size_t n_key_dirs;
    char note[320]; /* why nothing can pass, when keys or the directory are missing */
};

__attribute__((format(printf, 2, 3))) static int note_diag(struct ka_buf *diag, const char *fmt,
                                                           ...)
{
    if (diag == NULL) {
        return 0;
    }
    int ret = ka_buf_printf(diag, "image-scan-attestation: ");
    if (ret == 0) {
        va_list ap;
        va_start(ap, fmt);
        ret = ka_buf_vprintf(diag, fmt, ap);
        va_end(ap);
    }
    if (ret == 0) {
        ret = ka_buf_add(diag, "\n", 1);
    }
    return ret == KA_ENOMEM ? ret : 0;
}

static int check_params(const cJSON *params, char *err, size_t err_len, const cJSON **where)
{
    struct ka_attest_params p;
    ka_attest_params_init(&p);
    static const char *const durations[] = {"maxAge", "maxFutureSkew"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *d = item(params, durations[i]);
        int64_t s;
        if (!cJSON_IsString(d) || ka_duration_parse(d->valuestring, &s) != 0) {
            *where = d;
            snprintf(err, err_len, "%s must be a duration such as 168h, 7d or 5m", durations[i]);
            return KA_EPOLICY;
        }
    }
    const cJSON *sev;
    cJSON_ArrayForEach(sev, item(params, "maxSeverity"))
    {
        *where = sev;
        int sv = ka_attest_sev_parse(sev->string, strlen(sev->string));
        if (sv < 0 || strcasecmp(ka_attest_sev_name((enum ka_sev)sv), sev->string) != 0) {
            snprintf(err, err_len,
                     "maxSeverity: unknown severity \"%.40s\" (CRITICAL, HIGH, MEDIUM, LOW, "
                     "UNKNOWN)",
                     sev->string);
            return KA_EPOLICY;
        }
        if (!cJSON_IsNumber(sev) || sev->valuedouble < 0 ||
            sev->valuedouble != (double)(long)sev->valuedouble) {
            snprintf(err, err_len, "maxSeverity.%s must be a whole number >= 0", sev->string);
            return KA_EPOLICY;
        }
    }
    const cJSON *k;
    cJSON_ArrayForEach(k, item(params, "keys"))
    {
        *where = k;
        const cJSON *pem = item(k, "pem");
        const cJSON *keyid = item(k, "keyid");
        if (!cJSON_IsObject(k) || !cJSON_IsString(pem) ||
            (keyid != NULL && !cJSON_IsString(keyid))) {
            snprintf(err, err_len,
                     "keys entries are {pem: \"-----BEGIN PUBLIC KEY-----...\", "
                     "keyid: optional string}");
            return KA_EPOLICY;
        }
    }
    return 0;
}

static void unload(struct ka_rule *rule)
{
    struct attest_state *st = rule->state;
    if (st != NULL) {
        ka_attest_index_free(st->index);
        ka_attest_keys_free(st->keys);
        free(st);
    }
    rule->state = NULL;
}

/* The same rule's index in the previous snapshot, to reuse unchanged files on reload. */
static const struct ka_attest_index *previous_index(const struct ka_policy_load_opts *opts,
                                                    const char *dir)
{
    if (opts == NULL || opts->previous == NULL) {
        return NULL;
    }
    size_t n = 0;
    const struct ka_rule *rules = ka_policy_rules(opts->previous, &n);
    for (size_t i = 0; i < n; i++) {
        const struct attest_state *st = rules[i].state;
        if (strcmp(rules[i].def->id, "image-scan-attestation") == 0 && st != NULL &&
            strcmp(st->dir, dir) == 0) {
            return st->index;
        }
    }
    return NULL;
}

static int load(struct ka_rule *rule, const struct ka_policy_load_opts *opts, struct ka_buf *diag)
{
    int ret = KA_EINTERNAL;
    struct attest_state *st = calloc(1, sizeof(*st));
    struct ka_buf err;
    ka_buf_init(&err, 4096);
    if (st == NULL) {
        return KA_ENOMEM;
    }
    rule->state = st;
    const cJSON *params = rule->params;
    ka_attest_params_init(&st->params);
    ret = ka_duration_parse(item(params, "maxAge")->valuestring, &st->params.max_age_s);
    if (ret == 0) {
        ret = ka_duration_parse(item(params, "maxFutureSkew")->valuestring,
                                &st->params.max_future_skew_s);
    }
    if (ret != 0) {
        goto cleanup;
    }
    for (int s = 0; s < KA_SEV_COUNT; s++) {
        st->params.max_severity[s] = -1;
    }
    const cJSON *sev;
    cJSON_ArrayForEach(sev, item(params, "maxSeverity"))
    {
        st->params.max_severity[ka_attest_sev_parse(sev->string, strlen(sev->string))] =
            sev->valueint;
    }

    ret = ka_attest_keys_new(&st->keys);
    if (ret != 0) {
        goto cleanup;
    }
    const cJSON *k;
    cJSON_ArrayForEach(k, item(params, "keys"))
    {
        const cJSON *keyid = item(k, "keyid");
        const char *pem = item(k, "pem")->valuestring;
        ka_buf_reset(&err);
        ret = ka_attest_keys_add_pem(st->keys, pem, strlen(pem), NULL,
                                     keyid ? keyid->valuestring : NULL, &err);
        if (ret != 0) {
            /* the policy author's own key text is wrong: refuse the policy */
            note_diag(diag, "keys: %s", err.data ? err.data : ka_strerror(ret));
            ret = ret == KA_ENOMEM ? ret : KA_EPOLICY;
            goto cleanup;
        }
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, item(params, "keyFiles"))
    {
        if (st->n_key_dirs < KA_ATTEST_WATCH_MAX) {
            const char *slash = strrchr(f->valuestring, '/');
            snprintf(st->key_dirs[st->n_key_dirs++], KA_ATTEST_DIR_MAX, "%.*s",
                     slash == NULL ? 1
                                   : (slash == f->valuestring ? 1 : (int)(slash - f->valuestring)),
                     slash == NULL ? "." : f->valuestring);
        }
        ka_buf_reset(&err);
        ret = ka_attest_keys_add_file(st->keys, f->valuestring, &err);
        if (ret == KA_ENOMEM) {
            goto cleanup;
        }
        if (ret != 0) {
            ret = note_diag(diag, "keyFiles: %s", err.data ? err.data : f->valuestring);
            if (ret != 0) {
                goto cleanup;
            }
        }
    }
    if (ka_attest_keys_count(st->keys) == 0) {
        snprintf(st->note, sizeof(st->note),
                 "no trusted scanner keys are configured (keys, keyFiles)");
        ret = note_diag(diag, "%s: every image will be denied", st->note);
        if (ret != 0) {
            goto cleanup;
        }
    }

    const char *dir = item(params, "attestationsDir")->valuestring;
    snprintf(st->dir, sizeof(st->dir), "%s", dir);
    ka_buf_reset(&err);
    ret = ka_attest_index_reload_dir(st->dir, st->keys, previous_index(opts, st->dir), &st->index,
                                     &err);
    if (ret == KA_ENOMEM) {
        goto cleanup;
    }
    if (err.len > 0 && diag != NULL) {
        ret = ka_buf_add(diag, err.data, err.len); /* bad files: logged, skipped */
        if (ret == KA_ENOMEM) {
            goto cleanup;
        }
    }
    if (st->index == NULL) {
        snprintf(st->note, sizeof(st->note), "the attestation directory %.200s cannot be read",
                 st->dir);
        ret = note_diag(diag, "%s: every image will be denied", st->note);
        if (ret == 0) {
            ret = ka_attest_index_new(&st->index);
        }
        if (ret != 0) {
            goto cleanup;
        }
    }
    ret = 0;
cleanup:
    ka_buf_free(&err);
    return ret;
}

static int check_image(struct ka_rule_run *run, const char *container, const char *image,
                       const char *path)
{
    const struct attest_state *st = run->rule->state;
    struct ka_buf why;
    ka_buf_init(&why, 2048);
    int ret = 0;
    if (image == NULL || image[0] == '\0') {
        goto done; /* image-pinned reports a missing image */
    }
    int r = ka_attest_check(st->index, image, &st->params, run->ev->now, &why);
    if (r == 0) {
        goto done;
    }
    if (r == KA_ENOMEM || (r != KA_EATTEST && r != KA_EINVAL)) {
        ret = r == KA_ENOMEM ? r : KA_EINTERNAL;
        goto done;
    }
    char what[400];
    const char *pinned = strstr(image, "@sha256:");
    snprintf(what, sizeof(what), "%s%s%s", why.data ? why.data : "no usable attestation",
             st->note[0] ? "; " : "", st->note);
    ret = ka_rule_report(run, container, path, what,
                         pinned == NULL
                             ? "reference the image as repo@sha256:<digest>"
                             : "publish a signed scan of this digest within the limits to the "
                               "attestation directory");
done:
    ka_buf_free(&why);
    return ret;
}

static int attest_container(struct ka_rule_run *run, cJSON *c, const char *name,
                            const struct ka_container_ref *at, void *arg)
{
    (void)arg;
    char path[160];
    ka_container_path(run, at, "/image", path, sizeof(path));
    return check_image(run, name, str_at(c, "image"), path);
}

static int run_attest(struct ka_rule_run *run)
{
    return ka_for_each_container(run, KA_INIT | KA_APP | KA_EPHEMERAL, attest_container, NULL);
}

static size_t watch(const struct ka_rule *rule, const char **paths, size_t max)
{
    const struct attest_state *st = rule->state;
    size_t n = 0;
    if (n < max) {
        paths[n++] = st->dir;
    }
    for (size_t i = 0; i < st->n_key_dirs && n < max; i++) {
        paths[n++] = st->key_dirs[i];
    }
    return n;
}

static const struct ka_param_def attest_params[] = {
    {"attestationsDir", KA_P_STRING, "\"/etc/kadmit/attestations\"",
     "directory of attestation files (kadmit serve --attestations overrides it)"},
    {"keyFiles", KA_P_STRINGS, "[\"/etc/kadmit/attestation-keys/*.{pem,pub}\"]",
     "PEM public keys of trusted scanners (globs)"},
    {"keys", KA_P_LIST, "[]",
     "inline trusted keys: {pem: \"-----BEGIN PUBLIC KEY-----...\", keyid: optional}"},
    {"maxAge", KA_P_DURATION, "\"168h\"", "how long ago the scan may have finished"},
    {"maxFutureSkew", KA_P_DURATION, "\"5m\"",
     "how far in the future a scan time may be (clock skew)"},
    {"maxSeverity", KA_P_OBJECT, "{\"CRITICAL\":0}",
     "most findings allowed per severity (CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN); unnamed ones are "
     "unlimited"},
    {NULL, 0, NULL, NULL},
};

const struct ka_rule_def ka_rule_image_scan_attestation = {
    .id = "image-scan-attestation",
    .summary = "every image is pinned by digest and has a signed, fresh, clean vulnerability-scan "
               "attestation",
    .description = "Every image of the pod as it will run (containers, initContainers, "
                   "ephemeralContainers and the sidecar kadmit injects) is pinned by digest and "
                   "has at least one attestation that is signed by a trusted key, names that "
                   "digest, has predicate type https://cosign.sigstore.dev/attestation/vuln/v1, "
                   "finished its scan within maxAge (and not beyond maxFutureSkew in the future), "
                   "and counts no more findings of each severity than maxSeverity. Keys and "
                   "attestation files are read when the policy loads, never per request.",
    .kinds = KA_KINDS_WORKLOAD,
    .params = attest_params,
    .check = check_params,
    .load = load,
    .unload = unload,
    .watch = watch,
    .run = run_attest,
};
