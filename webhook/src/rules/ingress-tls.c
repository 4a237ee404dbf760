/*
 * ingress-tls: Agents' endpoints carry conversations and credentials, so an Ingress serves
 * every host it routes over TLS: each spec.rules[].host is listed in a spec.tls entry that
 * names a secretName. Host matching follows Kubernetes: a wildcard TLS host "*.example.com"
 * covers exactly one leading label (a.example.com, not example.com or a.b.example.com);
 * comparisons ignore case. A rule without a host has no name to put in a certificate and is
 * not judged. requiredAnnotations lets an admin demand their controller's HSTS or redirect
 * annotation (policies/README.md lists ingress-nginx's, NGINX Inc's and Traefik's).
 */
#include "rule_api.h"

static const struct ka_param_def ingress_tls_params[] = {
    {"requiredAnnotations", KA_P_OBJECT, "{}",
     "annotations every Ingress carries: name to value (\"\" accepts any value)"},
    {NULL, 0, NULL, NULL},
};

/* Does the TLS host `pattern` cover the rule host `host`? */
static int host_covered(const char *pattern, const char *host)
{
    if (strcasecmp(pattern, host) == 0) {
        return 1;
    }
    if (strncmp(pattern, "*.", 2) != 0) {
        return 0;
    }
    const char *dot = strchr(host, '.');
    return dot != NULL && dot != host && strcasecmp(dot + 1, pattern + 2) == 0;
}

/* 1 when a spec.tls entry with a secretName covers `host`; 2 when only entries without one do. */
static int tls_coverage(const cJSON *tls, const char *host)
{
    int without_secret = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, tls)
    {
        const cJSON *h;
        cJSON_ArrayForEach(h, item(entry, "hosts"))
        {
            if (!cJSON_IsString(h) || !host_covered(h->valuestring, host)) {
                continue;
            }
            const char *secret = str_at(entry, "secretName");
            if (secret != NULL && secret[0] != '\0') {
                return 1;
            }
            without_secret = 1;
        }
    }
    return without_secret ? 2 : 0;
}

static int check_hosts(struct ka_rule_run *run)
{
    const cJSON *spec = item(run->obj->root, "spec");
    const cJSON *tls = item(spec, "tls");
    const cJSON *r;
    size_t i = 0;
    cJSON_ArrayForEach(r, item(spec, "rules"))
    {
        size_t index = i++;
        const char *host = str_at(r, "host");
        if (host == NULL || host[0] == '\0') {
            continue;
        }
        int covered = tls_coverage(tls, host);
        if (covered == 1) {
            continue;
        }
        char what[400], fix[400], path[64];
        snprintf(path, sizeof(path), "/spec/rules/%zu/host", index);
        snprintf(what, sizeof(what), "host %.253s %s", host,
                 covered == 2 ? "is in a spec.tls entry without a secretName"
                              : "is served without TLS: no spec.tls entry covers it");
        snprintf(fix, sizeof(fix),
                 "add %.253s to spec.tls[].hosts of an entry with the secretName of its "
                 "certificate",
                 host);
        int ret = ka_rule_report(run, NULL, path, what, fix);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

static int run_ingress_tls(struct ka_rule_run *run)
{
    int ret = check_hosts(run);
    const cJSON *annotations = item(item(run->obj->root, "metadata"), "annotations");
    const cJSON *want;
    cJSON_ArrayForEach(want, param(run, "requiredAnnotations"))
    {
        const char *have = str_at(annotations, want->string);
        const char *value = want->valuestring;
        if (ret != 0 || (have != NULL && (value[0] == '\0' || strcmp(have, value) == 0))) {
            continue;
        }
        char what[400], fix[400];
        snprintf(what, sizeof(what), "annotation %.120s is %s%.60s%s", want->string,
                 have != NULL ? "\"" : "missing", have != NULL ? have : "",
                 have != NULL ? "\"" : "");
        if (value[0] != '\0') {
            snprintf(fix, sizeof(fix), "set metadata.annotations[%.120s]: \"%.120s\"", want->string,
                     value);
        } else {
            snprintf(fix, sizeof(fix), "set metadata.annotations[%.120s]", want->string);
        }
        ret = ka_rule_report(run, NULL, "/metadata/annotations", what, fix);
    }
    return ret;
}

static int check_annotations(const cJSON *params, char *err, size_t err_len, const cJSON **where)
{
    const cJSON *a;
    cJSON_ArrayForEach(a, item(params, "requiredAnnotations"))
    {
        if (!cJSON_IsString(a)) {
            *where = a;
            snprintf(err, err_len,
                     "requiredAnnotations.%.60s must be a string (the required value, or \"\" "
                     "for any value)",
                     a->string);
            return KA_EPOLICY;
        }
    }
    return 0;
}

const struct ka_rule_def ka_rule_ingress_tls = {
    .id = "ingress-tls",
    .summary = "every Ingress host is covered by a `spec.tls` entry with a `secretName`; "
               "`requiredAnnotations` (none by default) are present",
    .description =
        "Every spec.rules[].host of an Ingress is listed, or matched by a wildcard covering "
        "exactly one label (*.example.com), in a spec.tls entry that names a secretName. Rules "
        "without a host are not judged. requiredAnnotations maps annotation names to required "
        "values (\"\" for any value), for a controller's HSTS or HTTPS-redirect annotation.",
    .default_action = KA_ACTION_ENFORCE,
    .kinds = KA_KIND_INGRESS,
    .params = ingress_tls_params,
    .check = check_annotations,
    .run = run_ingress_tls,
};
