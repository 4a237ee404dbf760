/*
 * The admission core: AdmissionReview v1 request bytes -> response bytes.
 *
 *   bytes -> depth check -> cJSON tree -> request fields -> object view
 *         -> mutate (patch) or validate (findings, UPDATE ratcheting) -> response bytes
 *
 * Fails closed: an internal error becomes a deny with a reason, never a silent allow.
 */
#include "kadmit/admission.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kadmit/error.h"
#include "kadmit/json.h"
#include "kadmit/limits.h"
#include "kadmit/patch.h"
#include "kadmit/rules.h"

void ka_review_summary_reset(struct ka_review_summary *s)
{
    memset(s, 0, offsetof(struct ka_review_summary, found.findings));
    s->n_dropped_findings = 0;
    s->n_mutations = 0;
    s->n_exemptions = 0;
}

const char *ka_stale_name(enum ka_stale s)
{
    return s == KA_STALE_AGE ? "scan-age" : s == KA_STALE_FINDINGS ? "scan-findings" : "";
}

const char *ka_endpoint_name(enum ka_endpoint ep)
{
    return ep == KA_ENDPOINT_MUTATE ? "mutate" : "validate";
}

/*
 * Fields of the AdmissionReview envelope kadmit reads or that the API server always sends with
 * one type. A present, non-null field of another type is answered with a deny (code 400) that
 * names it, instead of being read as absent.
 */
static const struct envelope_field {
    const char *parent; /* member of request, or NULL for request itself */
    const char *name;
    int type; /* cJSON_String, cJSON_Object, cJSON_Array (of strings), cJSON_True (a bool) */
} envelope_fields[] = {
    {NULL, "kind", cJSON_Object},
    {"kind", "group", cJSON_String},
    {"kind", "version", cJSON_String},
    {"kind", "kind", cJSON_String},
    {NULL, "resource", cJSON_Object},
    {"resource", "group", cJSON_String},
    {"resource", "version", cJSON_String},
    {"resource", "resource", cJSON_String},
    {NULL, "subResource", cJSON_String},
    {NULL, "requestKind", cJSON_Object},
    {NULL, "requestResource", cJSON_Object},
    {NULL, "requestSubResource", cJSON_String},
    {NULL, "name", cJSON_String},
    {NULL, "namespace", cJSON_String},
    {NULL, "operation", cJSON_String},
    {NULL, "userInfo", cJSON_Object},
    {"userInfo", "username", cJSON_String},
    {"userInfo", "uid", cJSON_String},
    {"userInfo", "groups", cJSON_Array},
    {"userInfo", "extra", cJSON_Object},
    {NULL, "object", cJSON_Object},
    {NULL, "oldObject", cJSON_Object},
    {NULL, "dryRun", cJSON_True},
    {NULL, "options", cJSON_Object},
};

static int type_ok(const cJSON *v, int type)
{
    if (v == NULL || cJSON_IsNull(v)) {
        return 1;
    }
    switch (type) {
    case cJSON_String:
        return cJSON_IsString(v);
    case cJSON_Object:
        return cJSON_IsObject(v);
    case cJSON_True:
        return cJSON_IsBool(v);
    default: {
        const cJSON *x;
        if (!cJSON_IsArray(v)) {
            return 0;
        }
        cJSON_ArrayForEach(x, v)
        {
            if (!cJSON_IsString(x)) {
                return 0;
            }
        }
        return 1;
    }
    }
}

/* 0, or KA_EREVIEW with `reason` naming the first field of the wrong type. */
__attribute__((noinline)) static int check_envelope(const cJSON *req, char *reason,
                                                    size_t reason_len)
{
    static const char *const names[] = {[cJSON_String] = "a string",
                                        [cJSON_Object] = "an object",
                                        [cJSON_Array] = "a list of strings",
                                        [cJSON_True] = "a boolean"};
    for (size_t i = 0; i < sizeof(envelope_fields) / sizeof(envelope_fields[0]); i++) {
        const struct envelope_field *f = &envelope_fields[i];
        const cJSON *parent = f->parent ? cJSON_GetObjectItemCaseSensitive(req, f->parent) : req;
        if (!cJSON_IsObject(parent)) {
            continue; /* its own entry reported it, or it is absent */
        }
        if (!type_ok(cJSON_GetObjectItemCaseSensitive(parent, f->name), f->type)) {
            snprintf(reason, reason_len, "request.%s%s%s must be %s", f->parent ? f->parent : "",
                     f->parent ? "." : "", f->name, names[f->type]);
            return KA_EREVIEW;
        }
    }
    return 0;
}

static const char *str_at(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void copy_field(char *dst, size_t n, const char *src)
{
    ka_str_join(dst, n, src ? src : "", (char *)NULL);
}

/* Everything one review needs, freed in one place. */
struct review {
    const struct ka_policy *policy;
    enum ka_endpoint ep;
    struct ka_review_summary *s;
    cJSON *root;
    const char *api_version;
    /* requestKind's group/version when it differs from kind's: the version the user sent, which
     * the API server converted (matchPolicy: Equivalent); "" otherwise */
    char request_api_version[128];
    const char *subresource;
    cJSON *object;
    cJSON *old_object;
    struct ka_patch patch;
    int64_t now;
    struct ka_fetch_queue *fetch_queue; /* opts->fetch_queue, admission only */
    int from_node; /* the requester is a kubelet (system:node:* in group system:nodes) */
    const cJSON *role_bindings; /* ka_review_opts.role_bindings */
};

/* Only a kubelet creates mirror pods: the annotation alone is something a pod author writes. */
static int requested_by_node(const cJSON *user_info)
{
    const char *user = str_at(user_info, "username");
    if (user == NULL || strncmp(user, "system:node:", 12) != 0 || user[12] == '\0') {
        return 0;
    }
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(user_info, "groups"))
    {
        if (cJSON_IsString(g) && strcmp(g->valuestring, "system:nodes") == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * With matchPolicy: Equivalent the API server converts an object sent in another version of the
 * same kind (an autoscaling/v1 HPA arrives as autoscaling/v2) and says so in requestKind. Fills
 * `out` with requestKind's apiVersion when its kind is the same and its group/version differs,
 * else "", so the rules judge the version the user wrote, as `kadmit audit` does on the file.
 */
static void request_api_version(const cJSON *req, char *out, size_t len)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(req, "kind");
    const cJSON *asked = cJSON_GetObjectItemCaseSensitive(req, "requestKind");
    const char *group = str_at(asked, "group");
    const char *version = str_at(asked, "version");
    const char *name = str_at(asked, "kind");
    out[0] = '\0';
    if (group == NULL || version == NULL || version[0] == '\0' || name == NULL ||
        str_at(kind, "kind") == NULL || strcmp(name, str_at(kind, "kind")) != 0) {
        return;
    }
    const char *kind_group = str_at(kind, "group");
    const char *kind_version = str_at(kind, "version");
    if (kind_group != NULL && kind_version != NULL && strcmp(group, kind_group) == 0 &&
        strcmp(version, kind_version) == 0) {
        return;
    }
    int n = group[0] != '\0' ? snprintf(out, len, "%s/%s", group, version)
                             : snprintf(out, len, "%s", version);
    if (n < 0 || (size_t)n >= len) {
        out[0] = '\0';
    }
}

static int write_text(struct ka_buf *out, const char *text)
{
    ka_buf_reset(out);
    return ka_buf_adds(out, text);
}

/*
 * One warning, under KA_MAX_WARNING_LEN characters (kubectl shows them whole below that), in
 * the first form that fits: the full message; without the object (kubectl prints each
 * warning next to the object it applies); without the fix; cut at a UTF-8 boundary.
 */
static int add_warning(struct ka_buf *out, const struct ka_finding *f, int *first)
{
    const char *pre = f->preexisting ? "(existing) " : "";
    char ctr[96] = "";
    if (f->container[0] != '\0') {
        snprintf(ctr, sizeof(ctr), "container \"%s\": ", f->container);
    }
    char w[KA_MAX_MESSAGE_LEN + 16];
    size_t n = (size_t)snprintf(w, sizeof(w), "%s%s", pre, f->message);
    if (n >= KA_MAX_WARNING_LEN) {
        n = (size_t)snprintf(w, sizeof(w), "%s%s: %s%s (%s)", pre, f->rule, ctr, f->what, f->fix);
    }
    if (n >= KA_MAX_WARNING_LEN) {
        n = (size_t)snprintf(w, sizeof(w), "%s%s: %s%s", pre, f->rule, ctr, f->what);
    }
    if (n >= KA_MAX_WARNING_LEN) {
        size_t cut = KA_MAX_WARNING_LEN - 4;
        while (cut > 0 && ((unsigned char)w[cut] & 0xC0) == 0x80) {
            cut--;
        }
        memcpy(w + cut, "...", 4);
        n = cut + 3;
    }
    int ret = ka_buf_adds(out, *first ? "" : ",");
    *first = 0;
    if (ret == 0) {
        ret = ka_buf_add_json_string(out, w, n);
    }
    return ret;
}

static int known_operation(const char *op)
{
    static const char *const ops[] = {"CREATE", "UPDATE", "DELETE", "CONNECT"};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(op, ops[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

#define DENY_STATUS(code, reason)                                                                  \
    ",\"status\":{\"status\":\"Failure\",\"code\":" code ",\"reason\":\"" reason "\",\"message\":" \
    "\""

static int write_response(struct review *r, struct ka_buf *out, const char *deny_reason,
                          int deny_code)
{
    struct ka_review_summary *s = r->s;
    int ret = 0;
    ka_buf_reset(out);
    int allowed = deny_reason == NULL;
    if (deny_reason != NULL && s->reason[0] == '\0') {
        /* the decision log says why a malformed request was denied */
        snprintf(s->reason, sizeof(s->reason), "%s", deny_reason);
    }
    for (size_t i = 0; allowed && i < s->n_findings; i++) {
        allowed = s->findings[i].action != KA_ACTION_ENFORCE;
    }
    s->allowed = allowed;
    if (deny_reason == NULL) {
        deny_code = 403;
    }
    /* api_version is one of the two the request was checked against: no escaping needed */
    ret = ka_buf_adds(out, "{\"apiVersion\":\"");
    if (ret == 0) {
        ret = ka_buf_adds(out, r->api_version);
    }
    if (ret == 0) {
        ret = ka_buf_adds(out, "\",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":");
    }
    if (ret == 0) {
        ret = ka_buf_add_json_string(out, s->uid, strlen(s->uid));
    }
    if (ret == 0) {
        ret = ka_buf_adds(out, allowed ? ",\"allowed\":true" : ",\"allowed\":false");
    }
    if (ret == 0 && !allowed) {
        ret = ka_buf_adds(out, deny_code == 403   ? DENY_STATUS("403", "Forbidden")
                               : deny_code == 400 ? DENY_STATUS("400", "BadRequest")
                                                  : DENY_STATUS("500", "InternalError"));
        /* the message: the reason, or every enforced finding's message, one per line */
        if (ret == 0 && deny_reason != NULL) {
            ret = ka_buf_add_json_chars(out, deny_reason, strlen(deny_reason));
        }
        const char *sep = "";
        for (size_t i = 0; ret == 0 && deny_reason == NULL && i < s->n_findings; i++) {
            const char *m = s->findings[i].message;
            if (s->findings[i].action == KA_ACTION_ENFORCE) {
                ret = ka_buf_adds(out, sep);
                if (ret == 0) {
                    ret = ka_buf_add_json_chars(out, m, strlen(m));
                }
                sep = "\\n";
            }
        }
        if (ret == 0 && s->n_dropped_findings > 0) {
            ret = ka_buf_printf(out, "\\n... and %zu more findings", s->n_dropped_findings);
        }
        if (ret == 0) {
            ret = ka_buf_adds(out, "\"}");
        }
    }
    /* Warnings: warn rules, and enforce findings the old object already had (ratcheting). */
    int first = 1, n_warn = 0;
    for (size_t i = 0; ret == 0 && i < s->n_findings && n_warn < KA_MAX_WARNINGS; i++) {
        const struct ka_finding *f = &s->findings[i];
        if (f->action != KA_ACTION_WARN) {
            continue;
        }
        if (first) {
            ret = ka_buf_adds(out, ",\"warnings\":[");
        }
        if (ret == 0) {
            ret = add_warning(out, f, &first);
        }
        n_warn++;
    }
    if (ret == 0 && !first) {
        ret = ka_buf_add(out, "]", 1);
    }
    if (ret == 0 && r->patch.n_ops > 0) {
        struct ka_buf patch;
        ka_buf_init(&patch, 4u * 1024u * 1024u);
        ret = ka_patch_render(&r->patch, &patch);
        if (ret == 0) {
            ret = ka_buf_adds(out, ",\"patchType\":\"JSONPatch\",\"patch\":\"");
        }
        if (ret == 0) {
            ret = ka_base64_append(out, patch.data, patch.len);
        }
        if (ret == 0) {
            ret = ka_buf_add(out, "\"", 1);
        }
        ka_buf_free(&patch);
    }
    if (ret == 0) {
        ret = ka_buf_adds(out, "}}");
    }
    return ret;
}

static void eval_init(struct ka_eval *ev, const struct review *r, struct ka_object *obj,
                      struct ka_review_summary *s)
{
    memset(ev, 0, sizeof(*ev));
    ev->rules = ka_policy_rules(r->policy, &ev->n_rules);
    ev->excluded_namespaces = (const cJSON *)ka_policy_excluded_namespaces(r->policy);
    ev->obj = obj;
    ev->findings = &s->found;
    ev->now = r->now;
    ev->operation = s->operation;
    ev->user = s->user;
    ev->role_bindings = r->role_bindings;
    ev->fetch_queue = r->fetch_queue;
    obj->mirror_pod = obj->mirror_pod && r->from_node;
    s->namespace_excluded = ka_rules_namespace_excluded(ev, obj->namespace_);
}

/* Validation view: a workload's pods will get kadmit's mutations when they are created, so
 * templates are judged with those mutations applied (in memory only). Pods are judged as they
 * are: the mutating webhook has already run. */
static int validate_object(struct review *r, cJSON *object, struct ka_review_summary *s,
                           struct ka_ratchet *record, const struct ka_ratchet *match, char *err,
                           size_t err_len)
{
    struct ka_object obj;
    int ret = ka_object_view(object, s->kind, s->namespace_, &obj, err, err_len);
    if (ret != 0) {
        return ret;
    }
    if (r->request_api_version[0] != '\0') {
        obj.api_version = r->request_api_version; /* judge what the user wrote (autoscaling/v1) */
    }
    struct ka_eval ev;
    eval_init(&ev, r, &obj, s);
    ev.ratchet_record = record;
    ev.ratchet_match = match;
    if (obj.kind != KA_KIND_POD && obj.pod_spec != NULL) {
        ev.templates_as_pods = 1;
        ret = ka_rules_mutate(&ev);
        ev.templates_as_pods = 0;
        if (ret != 0) {
            return ret;
        }
    }
    return ka_rules_validate(&ev);
}

static int run_review(struct review *r, struct ka_buf *out)
{
    struct ka_review_summary *s = r->s;
    const char *op = s->operation;
    char err[256] = "";
    int ret;

    if (strcmp(op, "CREATE") != 0 && strcmp(op, "UPDATE") != 0) {
        return write_response(r, out, NULL, 0); /* DELETE and CONNECT are allowed */
    }
    if (r->subresource != NULL && r->subresource[0] != '\0' &&
        strcmp(r->subresource, "ephemeralcontainers") != 0) {
        return write_response(r, out, NULL, 0); /* status, scale, ...: not a spec change */
    }
    if (ka_kind_from_name(s->kind) == KA_KIND_OTHER) {
        return write_response(r, out, NULL, 0);
    }
    if (!cJSON_IsObject(r->object)) {
        return write_response(r, out, "kadmit: request.object is missing or not an object", 400);
    }
    if (r->ep == KA_ENDPOINT_MUTATE) {
        struct ka_object obj;
        ret = ka_object_view(r->object, s->kind, s->namespace_, &obj, err, sizeof(err));
        if (ret == 0 && (obj.kind == KA_KIND_POD ? strcmp(op, "CREATE") == 0 : 1)) {
            struct ka_eval ev;
            eval_init(&ev, r, &obj, s);
            ev.patch = &r->patch;
            ret = ka_rules_mutate(&ev);
        }
    } else if (strcmp(op, "UPDATE") == 0 && cJSON_IsObject(r->old_object)) {
        /* Ratcheting: the old object's findings first, then the new object's, where a finding
         * about an unchanged subject is "existing" and warns instead of denying. */
        struct ka_ratchet before;
        ka_ratchet_init(&before, r->old_object);
        char old_err[256];
        ret = validate_object(r, r->old_object, s, &before, NULL, old_err, sizeof(old_err));
        if (ret == KA_ETYPE) {
            ret = 0; /* an old object kadmit cannot read ratchets nothing */
        }
        if (ret == 0) {
            ret = validate_object(r, r->object, s, NULL, &before, err, sizeof(err));
        }
        ka_ratchet_free(&before);
    } else {
        ret = validate_object(r, r->object, s, NULL, NULL, err, sizeof(err));
    }
    if (ret == KA_ETYPE) {
        char reason[400];
        snprintf(reason, sizeof(reason), "kadmit: request.object: %s", err);
        s->n_findings = 0;
        return write_response(r, out, reason, 400);
    }
    if (ret == KA_ELIMIT) {
        s->n_findings = 0;
        return write_response(r, out,
                              "kadmit: the object needs more changes than the patch limit "
                              "allows; request denied (fail closed)",
                              500);
    }
    if (ret != 0) {
        char reason[200];
        snprintf(reason, sizeof(reason),
                 "kadmit: internal error (%s); request denied (fail closed)", ka_strerror(ret));
        s->n_findings = 0;
        int wret = write_response(r, out, reason, 500);
        return wret != 0 ? wret : 0;
    }
    return write_response(r, out, NULL, 0);
}

/* Allowed unless a finding is enforced. */
static void set_allowed(struct ka_review_summary *s)
{
    s->allowed = 1;
    for (size_t i = 0; i < s->n_findings; i++) {
        s->allowed &= s->findings[i].action != KA_ACTION_ENFORCE;
    }
}

int ka_admission_evaluate(const struct ka_policy *policy, cJSON *object,
                          const struct ka_review_opts *opts, struct ka_review_summary *summary,
                          char *err, size_t err_len)
{
    struct review r;
    memset(&r, 0, sizeof(r));
    r.policy = policy;
    r.s = summary;
    r.now = opts != NULL && opts->now != 0 ? opts->now : (int64_t)time(NULL);
    r.from_node = 1; /* an object already stored: whoever created it, it runs as it is */
    r.role_bindings = opts != NULL ? opts->role_bindings : NULL;
    ka_patch_init(&r.patch, KA_MAX_PATCH_OPS);
    struct ka_object obj;
    int ret = ka_object_view(object, summary->kind, summary->namespace_, &obj, err, err_len);
    if (ret == 0 && obj.kind == KA_KIND_OTHER) {
        snprintf(err, err_len, "kind %s is not checked by kadmit", obj.kind_name);
        ret = KA_ENOTFOUND;
    }
    if (ret == 0) {
        struct ka_eval ev;
        eval_init(&ev, &r, &obj, summary);
        ev.patch = &r.patch;
        ret = ka_rules_mutate(&ev);
    }
    if (ret == 0) {
        ret = validate_object(&r, object, summary, NULL, NULL, err, err_len);
    }
    if (ret == 0) {
        set_allowed(summary);
    }
    ka_patch_free(&r.patch);
    return ret;
}

int ka_admission_fix(const struct ka_policy *policy, cJSON *object,
                     const struct ka_review_opts *opts, struct ka_review_summary *summary,
                     struct ka_patch *fixes, char *err, size_t err_len)
{
    struct review r;
    memset(&r, 0, sizeof(r));
    r.policy = policy;
    r.s = summary;
    r.now = opts != NULL && opts->now != 0 ? opts->now : (int64_t)time(NULL);
    r.from_node = 1; /* a manifest is judged as ka_admission_evaluate() judges it */
    struct ka_object obj;
    int ret = ka_object_view(object, summary->kind, summary->namespace_, &obj, err, err_len);
    if (ret == 0 && obj.kind == KA_KIND_OTHER) {
        snprintf(err, err_len, "kind %s is not checked by kadmit", obj.kind_name);
        ret = KA_ENOTFOUND;
    }
    if (ret != 0) {
        return ret;
    }
    struct ka_eval ev;
    eval_init(&ev, &r, &obj, summary);
    ev.patch = fixes;
    ev.templates_as_pods = 1; /* the file's templates get what their pods would get */
    ret = ka_rules_mutate(&ev);
    if (ret != 0 || fixes->n_ops > 0) {
        return ret;
    }
    ev.patch = NULL;
    ev.templates_as_pods = 0;
    ev.fixes = fixes;
    ret = ka_rules_validate(&ev);
    set_allowed(summary);
    return ret;
}

int ka_admission_review(const struct ka_policy *policy, enum ka_endpoint ep, const char *body,
                        size_t len, const struct ka_review_opts *opts, struct ka_buf *response,
                        struct ka_review_summary *summary)
{
    int ret = KA_EINTERNAL;
    struct ka_review_summary *own = NULL;
    struct review r;
    memset(&r, 0, sizeof(r));
    ka_patch_init(&r.patch, KA_MAX_PATCH_OPS);
    /* Every cJSON allocation of this review comes from one arena, released at the end. */
    int arena = ka_json_arena_begin() == 0;
    if (summary == NULL) {
        own = malloc(sizeof(*own));
        if (own == NULL) {
            ret = KA_ENOMEM;
            goto cleanup;
        }
        summary = own;
    }
    ka_review_summary_reset(summary);
    summary->http_status = 400;
    r.s = summary;
    r.policy = policy;
    r.ep = ep;
    r.now = opts != NULL && opts->now != 0 ? opts->now : (int64_t)time(NULL);
    r.fetch_queue = opts != NULL ? opts->fetch_queue : NULL;
    unsigned max_depth =
        opts != NULL && opts->max_depth != 0 ? opts->max_depth : KA_MAX_DEPTH_DEFAULT;

    size_t max_values =
        opts != NULL && opts->max_values != 0 ? opts->max_values : KA_MAX_JSON_VALUES_DEFAULT;
    r.root = ka_json_parse_request(body, len, max_depth, max_values, summary->reason,
                                   sizeof(summary->reason));
    if (r.root == NULL) {
        ret = KA_EREVIEW;
        goto reject;
    }
    const char *kind = str_at(r.root, "kind");
    r.api_version = str_at(r.root, "apiVersion");
    if (!cJSON_IsObject(r.root) || kind == NULL || strcmp(kind, "AdmissionReview") != 0 ||
        r.api_version == NULL ||
        (strcmp(r.api_version, "admission.k8s.io/v1") != 0 &&
         strcmp(r.api_version, "admission.k8s.io/v1beta1") != 0)) {
        snprintf(summary->reason, sizeof(summary->reason),
                 "not an AdmissionReview (want apiVersion admission.k8s.io/v1, kind "
                 "AdmissionReview)");
        ret = KA_EREVIEW;
        goto reject;
    }
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(r.root, "request");
    const char *uid = str_at(req, "uid");
    if (!cJSON_IsObject(req) || uid == NULL || uid[0] == '\0' ||
        strlen(uid) >= sizeof(summary->uid)) {
        snprintf(summary->reason, sizeof(summary->reason),
                 "AdmissionReview has no request or no request.uid");
        ret = KA_EREVIEW;
        goto reject;
    }
    summary->http_status = 200;
    copy_field(summary->uid, sizeof(summary->uid), uid);
    const cJSON *rk = cJSON_GetObjectItemCaseSensitive(req, "kind");
    copy_field(summary->kind, sizeof(summary->kind), str_at(rk, "kind"));
    copy_field(summary->group, sizeof(summary->group), str_at(rk, "group"));
    copy_field(summary->version, sizeof(summary->version), str_at(rk, "version"));
    request_api_version(req, r.request_api_version, sizeof(r.request_api_version));
    copy_field(summary->namespace_, sizeof(summary->namespace_), str_at(req, "namespace"));
    copy_field(summary->name, sizeof(summary->name), str_at(req, "name"));
    copy_field(summary->operation, sizeof(summary->operation), str_at(req, "operation"));
    const cJSON *user_info = cJSON_GetObjectItemCaseSensitive(req, "userInfo");
    copy_field(summary->user, sizeof(summary->user), str_at(user_info, "username"));
    r.from_node = requested_by_node(user_info);
    summary->dry_run = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "dryRun"));
    r.subresource = str_at(req, "subResource");
    r.object = cJSON_GetObjectItemCaseSensitive(req, "object");
    r.old_object = cJSON_GetObjectItemCaseSensitive(req, "oldObject");
    char bad_field[200];
    if (check_envelope(req, bad_field, sizeof(bad_field)) != 0) {
        char reason[256];
        snprintf(reason, sizeof(reason), "kadmit: %s", bad_field);
        ret = write_response(&r, response, reason, 400);
    } else if (summary->kind[0] == '\0' || summary->operation[0] == '\0') {
        ret = write_response(
            &r, response, "kadmit: request.kind.kind and request.operation must be strings", 400);
    } else if (!known_operation(summary->operation)) {
        /* the API server sends only these four: anything else is garbage, refused outright */
        summary->http_status = 400;
        snprintf(summary->reason, sizeof(summary->reason),
                 "unknown request.operation \"%.60s\" (want CREATE, UPDATE, DELETE or CONNECT)",
                 summary->operation);
        ret = KA_EREVIEW;
        goto reject;
    } else {
        if (summary->name[0] == '\0' && cJSON_IsObject(r.object)) {
            const cJSON *meta = cJSON_GetObjectItemCaseSensitive(r.object, "metadata");
            copy_field(summary->name, sizeof(summary->name), str_at(meta, "name"));
        }
        ret = run_review(&r, response);
    }
    if (ret != 0) {
        summary->http_status = 500;
        snprintf(summary->reason, sizeof(summary->reason), "internal error: %s", ka_strerror(ret));
    }
    goto cleanup;
reject:
    if (write_text(response, summary->reason) != 0) {
        ret = KA_ENOMEM;
    }
cleanup:
    ka_patch_free(&r.patch);
    if (arena) {
        ka_json_arena_end(); /* frees the whole tree at once */
    } else {
        cJSON_Delete(r.root);
    }
    free(own);
    return ret;
}
