/*
 * The image-scan-attestation rule: every image of the pod as it will run (containers,
 * initContainers, ephemeralContainers, and the sidecar kadmit injects) must be pinned by digest
 * and have a signed, fresh, clean vulnerability-scan attestation.
 *
 * Freshness and findings are judged at deployment: a workload's CREATE, an UPDATE that changes
 * its images (ratcheting lets unchanged images through), a Pod CREATE by anyone but a controller.
 * A controller's replacement - a CREATE whose requesting user, as the API server authenticated
 * it, is a controller identity of `replacementControllers` and whose controller ownerReference
 * names a workload that identity manages - re-runs a template that was already admitted. Its
 * signature and digest are checked as always; its age against `replacementMaxAge`; its findings
 * at `onReplacementFindings` (warn by default). A node drain then never turns a stalled scan
 * pipeline into an outage, and the warning, kadmit_stale_admissions_total and the decision log
 * say which images need a new scan.
 *
 * All parsing and signature checks happen when the policy is loaded (ka_attest_index_*); the
 * admission path is a lookup. Missing keys or a missing attestation directory do not stop the
 * policy loading (they are reported as diagnostics): every image is then denied, saying why.
 */
#include <stdarg.h>

#include "kadmit/attest.h"
#include "kadmit/duration.h"
#include "kadmit/fetch_queue.h"
#include "rule_api.h"

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
    {"replacementMaxAge", KA_P_DURATION, "\"30d\"",
     "a controller's replacement pod: how old its scan may be (0: never too old)"},
    {"onReplacementFindings", KA_P_STRING, "\"warn\"",
     "a controller's replacement pod whose scan is over maxSeverity: enforce (deny) or warn"},
    {"replacementControllers", KA_P_OBJECT,
     "{\"system:serviceaccount:kube-system:replicaset-controller\":[\"ReplicaSet\"],"
     "\"system:serviceaccount:kube-system:statefulset-controller\":[\"StatefulSet\"],"
     "\"system:serviceaccount:kube-system:daemon-set-controller\":[\"DaemonSet\"],"
     "\"system:serviceaccount:kube-system:job-controller\":[\"Job\"],"
     "\"system:serviceaccount:kube-system:replication-controller\":[\"ReplicationController\"],"
     "\"system:serviceaccount:kube-system:deployment-controller\":[\"Deployment\"],"
     "\"system:serviceaccount:kube-system:cronjob-controller\":[\"CronJob\"],"
     "\"system:kube-controller-manager\":[\"ReplicaSet\",\"StatefulSet\",\"DaemonSet\",\"Job\","
     "\"ReplicationController\",\"Deployment\",\"CronJob\"]}",
     "user name (as the API server authenticated it) -> the workload kinds whose replacements it "
     "creates"},
    {NULL, 0, NULL, NULL},
};

#define KA_ATTEST_DIR_MAX 1024

#define KA_ATTEST_WATCH_MAX 8

struct attest_state {
    struct ka_attest_keys *keys;
    struct ka_attest_index *index;
    struct ka_attest_params params;
    int64_t replacement_max_age_s;    /* INT64_MAX for replacementMaxAge 0 (never expires) */
    int replacement_findings_enforce; /* onReplacementFindings: enforce */
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

/* A duration param; the number 0 (YAML `replacementMaxAge: 0`) is zero seconds. */
static int duration_param(const cJSON *v, int64_t *seconds)
{
    if (cJSON_IsNumber(v) && v->valuedouble == 0) {
        *seconds = 0;
        return 0;
    }
    return cJSON_IsString(v) ? ka_duration_parse(v->valuestring, seconds) : KA_EINVAL;
}

/* The workloads whose controllers create objects, and what they create. */
static const struct owner {
    const char *kind;  /* the ownerReference's kind */
    const char *group; /* its API group ("" for core) */
    enum ka_kind creates;
} owners[] = {
    {"ReplicaSet", "apps", KA_KIND_POD},
    {"StatefulSet", "apps", KA_KIND_POD},
    {"DaemonSet", "apps", KA_KIND_POD},
    {"Job", "batch", KA_KIND_POD},
    {"ReplicationController", "", KA_KIND_POD},
    {"Deployment", "apps", KA_KIND_REPLICASET},
    {"CronJob", "batch", KA_KIND_JOB},
    /* Argo Rollouts' controller: listed by the admin, its namespace is the install's */
    {"Rollout", "argoproj.io", KA_KIND_REPLICASET},
};

static const struct owner *owner_find(const char *kind)
{
    for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++) {
        if (strcmp(owners[i].kind, kind) == 0) {
            return &owners[i];
        }
    }
    return NULL;
}

/* "apps/v1" is in group "apps"; "v1" in the core group "". */
static int in_group(const char *api_version, const char *group)
{
    size_t n = strlen(group);
    const char *slash = strchr(api_version, '/');
    return n == 0 ? slash == NULL
                  : slash != NULL && (size_t)(slash - api_version) == n &&
                        strncmp(api_version, group, n) == 0;
}

/*
 * Is this CREATE a controller's replacement? The requesting user (set by the API server, never
 * by the object) must be a `replacementControllers` identity, and the object's controller
 * ownerReference must name a workload of a kind that identity manages and whose controller
 * creates objects of this kind. The owner's name is written to `owner` ("StatefulSet spine").
 */
static int is_replacement(const struct ka_rule_run *run, char *owner, size_t owner_len)
{
    const struct ka_eval *ev = run->ev;
    if (ev->operation == NULL || strcmp(ev->operation, "CREATE") != 0 || ev->user == NULL ||
        ev->user[0] == '\0') {
        return 0;
    }
    const cJSON *kinds = item(item(run->rule->params, "replacementControllers"), ev->user);
    const cJSON *ref;
    cJSON_ArrayForEach(ref, item(item(run->obj->root, "metadata"), "ownerReferences"))
    {
        const cJSON *kind = item(ref, "kind"), *api = item(ref, "apiVersion");
        const cJSON *name = item(ref, "name");
        if (!cJSON_IsTrue(item(ref, "controller")) || !cJSON_IsString(kind) ||
            !cJSON_IsString(api) || !cJSON_IsString(name)) {
            continue;
        }
        const struct owner *o = owner_find(kind->valuestring);
        if (o == NULL || o->creates != run->obj->kind || !in_group(api->valuestring, o->group)) {
            continue;
        }
        const cJSON *k;
        cJSON_ArrayForEach(k, kinds)
        {
            if (strcmp(k->valuestring, o->kind) == 0) {
                snprintf(owner, owner_len, "%s %.100s", o->kind, name->valuestring);
                return 1;
            }
        }
    }
    return 0;
}

static int check_params(const cJSON *params, char *err, size_t err_len, const cJSON **where)
{
    struct ka_attest_params p;
    ka_attest_params_init(&p);
    static const char *const durations[] = {"maxAge", "maxFutureSkew", "replacementMaxAge"};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *d = item(params, durations[i]);
        int64_t s;
        if (duration_param(d, &s) != 0) {
            *where = d;
            snprintf(err, err_len, "%s must be a duration such as 168h, 7d or 5m", durations[i]);
            return KA_EPOLICY;
        }
    }
    const cJSON *on = item(params, "onReplacementFindings");
    if (strcmp(on->valuestring, "enforce") != 0 && strcmp(on->valuestring, "warn") != 0) {
        *where = on;
        snprintf(err, err_len, "onReplacementFindings must be enforce or warn");
        return KA_EPOLICY;
    }
    const cJSON *user;
    cJSON_ArrayForEach(user, item(params, "replacementControllers"))
    {
        *where = user;
        const cJSON *kind;
        int ok = cJSON_IsArray(user);
        cJSON_ArrayForEach(kind, user)
        {
            ok &= cJSON_IsString(kind) && owner_find(kind->valuestring) != NULL;
        }
        if (!ok) {
            snprintf(err, err_len,
                     "replacementControllers.%.80s must list the kinds that user manages "
                     "(ReplicaSet, StatefulSet, DaemonSet, Job, ReplicationController, "
                     "Deployment, CronJob, Rollout)",
                     user->string);
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
    struct ka_buf key_errors; /* unreadable keyFiles, "; "-separated */
    ka_buf_init(&key_errors, 4096);
    if (st == NULL) {
        return KA_ENOMEM;
    }
    rule->state = st;
    const cJSON *params = rule->params;
    ka_attest_params_init(&st->params);
    ret = duration_param(item(params, "maxAge"), &st->params.max_age_s);
    if (ret == 0) {
        ret = duration_param(item(params, "maxFutureSkew"), &st->params.max_future_skew_s);
    }
    if (ret == 0) {
        ret = duration_param(item(params, "replacementMaxAge"), &st->replacement_max_age_s);
    }
    if (ret != 0) {
        goto cleanup;
    }
    if (st->replacement_max_age_s == 0) {
        st->replacement_max_age_s = INT64_MAX;
    }
    st->replacement_findings_enforce =
        strcmp(item(params, "onReplacementFindings")->valuestring, "enforce") == 0;
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
    /* Each problem is reported once: unreadable key files either stand alone (other keys
     * loaded) or say why there are no keys; an unreadable directory says why every image is
     * denied. */
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
            ret = ka_buf_printf(&key_errors, "%s%s", key_errors.len > 0 ? "; " : "",
                                err.data ? err.data : f->valuestring);
            if (ret == KA_ENOMEM) {
                goto cleanup;
            } /* past the buffer's ceiling the list is cut short */
        }
    }
    if (ka_attest_keys_count(st->keys) == 0) {
        snprintf(st->note, sizeof(st->note),
                 "no trusted scanner keys are configured (keys, keyFiles)");
        ret = key_errors.len > 0 ? note_diag(diag, "%s: every image will be denied (keyFiles: %s)",
                                             st->note, key_errors.data)
                                 : note_diag(diag, "%s: every image will be denied", st->note);
    } else if (key_errors.len > 0) {
        ret = note_diag(diag, "keyFiles: %s", key_errors.data);
    }
    if (ret != 0) {
        goto cleanup;
    }

    const char *dir = item(params, "attestationsDir")->valuestring;
    snprintf(st->dir, sizeof(st->dir), "%s", dir);
    ka_buf_reset(&err);
    ret = ka_attest_index_reload_dir(st->dir, st->keys, previous_index(opts, st->dir), &st->index,
                                     &err);
    if (ret == KA_ENOMEM) {
        goto cleanup;
    }
    if (st->index != NULL && err.len > 0 && diag != NULL) {
        ret = ka_buf_add(diag, err.data, err.len); /* bad files: logged, skipped */
        if (ret == KA_ENOMEM) {
            goto cleanup;
        }
    }
    if (st->index == NULL) {
        snprintf(st->note, sizeof(st->note), "the attestation directory %.200s cannot be read",
                 st->dir);
        ret = note_diag(diag, "%s%s: every image will be denied", st->note,
                        ret == KA_ENOTFOUND ? " (it does not exist)" : "");
        if (ret == 0) {
            ret = ka_attest_index_new(&st->index);
        }
    } else {
        ret = 0;
    }
cleanup:
    ka_buf_free(&key_errors);
    ka_buf_free(&err);
    return ret;
}

/* Does `image` pass with maxAge `max_age` and, when `findings`, the severity limits? */
static int passes(const struct attest_state *st, const char *image, int64_t max_age, int findings,
                  int64_t now, struct ka_buf *why)
{
    struct ka_attest_params p = st->params;
    p.max_age_s = max_age;
    for (int s = 0; !findings && s < KA_SEV_COUNT; s++) {
        p.max_severity[s] = -1;
    }
    return ka_attest_check(st->index, image, &p, now, why);
}

/*
 * An image that failed the full check: was its scan signed and usable, and only too old
 * (KA_STALE_AGE) or over the severity limits (KA_STALE_FINDINGS)? Negative on internal errors.
 */
static int classify(const struct attest_state *st, const char *image, int64_t now)
{
    int r = passes(st, image, INT64_MAX, 0, now, NULL);
    if (r == KA_EATTEST) {
        return KA_STALE_NONE;
    }
    if (r == 0) {
        r = passes(st, image, st->params.max_age_s, 0, now, NULL);
    }
    return r == 0 ? KA_STALE_FINDINGS : r == KA_EATTEST ? KA_STALE_AGE : r;
}

/*
 * A controller's replacement of an image whose scan aged or now fails: past replacementMaxAge
 * it is denied (`why` is rewritten against that limit), findings follow onReplacementFindings,
 * an aged scan is admitted with a warning. Sets *stale, *soften and what the message starts
 * with; returns 0 or an error.
 */
static int judge_replacement(const struct attest_state *st, const char *image, int64_t now,
                             const char *owner, struct ka_buf *why, int *stale, int *soften,
                             char *lead, size_t lead_len)
{
    int64_t limit = st->replacement_max_age_s;
    int r = passes(st, image, limit, 0, now, NULL);
    if (r == KA_EATTEST) {
        ka_buf_reset(why);
        r = passes(st, image, limit, 0, now, why);
        snprintf(lead, lead_len, "replacement for %s denied past replacementMaxAge: ", owner);
        return r == KA_EATTEST ? 0 : r;
    }
    if (r == 0) {
        r = passes(st, image, limit, 1, now, NULL);
    }
    if (r != 0 && r != KA_EATTEST) {
        return r;
    }
    *stale = r == 0 ? KA_STALE_AGE : KA_STALE_FINDINGS;
    *soften = *stale == KA_STALE_AGE || !st->replacement_findings_enforce;
    if (*soften) {
        snprintf(lead, lead_len, "replacement admitted: "); /* short: warnings are cut at 120 */
    } else {
        snprintf(lead, lead_len,
                 "replacement for %s denied (onReplacementFindings: enforce): ", owner);
    }
    return 0;
}

/* Whether the object is a controller's replacement, worked out once and only when an image
 * fails: most requests never need it. */
struct replacement {
    int known, is;
    char owner[160]; /* "StatefulSet spine" */
};

static const char *replacement_owner(const struct ka_rule_run *run, struct replacement *rep)
{
    if (!rep->known) {
        rep->is = is_replacement(run, rep->owner, sizeof(rep->owner));
        rep->known = 1;
    }
    return rep->is ? rep->owner : NULL;
}

static int check_image(struct ka_rule_run *run, const char *container, const char *image,
                       const char *path, struct replacement *rep)
{
    const struct attest_state *st = run->rule->state;
    int64_t now = run->ev->now;
    struct ka_buf why;
    ka_buf_init(&why, 2048);
    int ret = 0, soften = 0;
    if (image == NULL || image[0] == '\0') {
        goto done; /* image-pinned reports a missing image */
    }
    ret = ka_attest_check(st->index, image, &st->params, now, &why);
    if (ret != KA_EATTEST) {
        goto done;
    }
    int stale = classify(st, image, now);
    ret = stale < 0 ? stale : 0;
    char lead[200] = "";
    const char *owner = stale > KA_STALE_NONE ? replacement_owner(run, rep) : NULL;
    if (ret == 0 && owner != NULL) {
        ret = judge_replacement(st, image, now, owner, &why, &stale, &soften, lead, sizeof(lead));
    }
    if (ret == 0 && run->ev->fetch_queue != NULL && run->ev->ratchet_record == NULL) {
        /* never waits: the digest is queued for the registry fetcher, and the denial says
         * where its fetch stands */
        ret = ka_fetch_queue_miss(run->ev->fetch_queue, image, now, &why);
    }
    if (ret != 0) {
        goto done;
    }
    /* an image without a digest fails whatever keys and files there are: the note about them
     * would bury the one change that matters */
    int pinned = ka_image_digest(image, NULL) == KA_DIGEST_SHA256;
    char what[600], resolve[300];
    snprintf(what, sizeof(what), "%s%s%s%s", lead, why.data ? why.data : "no usable attestation",
             pinned && st->note[0] ? "; " : "", pinned ? st->note : "");
    snprintf(resolve, sizeof(resolve), "get the digest with: crane digest %.200s", image);
    ret = ka_rule_report_stale(
        run, (enum ka_stale)stale, soften, container, path, what,
        !pinned ? resolve
        : stale != KA_STALE_NONE
            ? "publish a fresh signed scan of this digest to the attestation directory; a new "
              "rollout of this image is denied until then"
            : "publish a signed scan of this digest within the limits to the attestation "
              "directory");
done:
    ka_buf_free(&why);
    return ret == 0 || ret == KA_ENOMEM ? ret : KA_EINTERNAL;
}

static int attest_container(struct ka_rule_run *run, cJSON *c, const char *name,
                            const struct ka_container_ref *at, void *arg)
{
    char path[160];
    ka_container_path(run, at, path, sizeof(path), "/image");
    return check_image(run, name, str_at(c, "image"), path, arg);
}

static int run_attest(struct ka_rule_run *run)
{
    struct replacement rep = {0};
    return ka_for_each_container(run, KA_INIT | KA_APP | KA_EPHEMERAL, attest_container, &rep);
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

static const char *denies_all(const struct ka_rule *rule)
{
    const struct attest_state *st = rule->state;
    return st != NULL && st->note[0] != '\0' ? st->note : NULL;
}

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
                   "attestation files are read when the policy loads, never per request. A "
                   "controller's replacement pod (a CREATE by a replacementControllers identity, "
                   "owned by a workload of a kind it manages) re-runs an admitted template: its "
                   "scan may be up to replacementMaxAge old, findings over maxSeverity follow "
                   "onReplacementFindings, and either is a warning counted in "
                   "kadmit_stale_admissions_total instead of a denial.",
    .kinds = KA_KINDS_WORKLOAD,
    .params = attest_params,
    .check = check_params,
    .load = load,
    .unload = unload,
    .watch = watch,
    .run = run_attest,
    .denies_all = denies_all,
};
