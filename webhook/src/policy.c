/*
 * Policy files -> immutable, reference-counted snapshots.
 *
 * Loading is: parse every file (libyaml, with positions) -> check every field, collecting all
 * problems as `file:line:column: message` -> compile rules (params merged with defaults) ->
 * per-rule load hooks. Nothing here runs per request.
 */
#include "kadmit/policy.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kadmit/duration.h"
#include "kadmit/error.h"
#include "kadmit/limits.h"
#include "kadmit/rules.h"
#include "kadmit/select.h"
#include "kadmit/yaml.h"

extern const char ka_embedded_checklist[];
extern const size_t ka_embedded_checklist_len;

#define KA_POLICY_API_VERSION "kadmit.dev/v1alpha1"

struct ka_policy {
    atomic_int refs;
    struct ka_yaml_stream streams[KA_MAX_POLICY_FILES];
    size_t n_streams;
    struct ka_rule rules[KA_MAX_RULES];
    size_t n_rules;
    cJSON *excluded;         /* owned: union of spec.exclude.namespaces, or the default list */
    int other_rules_default; /* a document said spec.otherRules: default */
    char source[1024];
};

const char *ka_action_name(enum ka_action a)
{
    static const char *const names[] = {"off", "audit", "warn", "enforce"};
    return (unsigned)a < 4 ? names[a] : "?";
}

const char *ka_policy_default_text(size_t *len)
{
    if (len != NULL) {
        *len = ka_embedded_checklist_len;
    }
    return ka_embedded_checklist;
}

/* ------------------------------------------------------------------------------------------
 * Diagnostics
 */

struct checker {
    const struct ka_yaml_stream *stream;
    const char *file;
    struct ka_buf *diag;
    int errors;
};

__attribute__((format(printf, 3, 4))) static void complain(struct checker *c, const cJSON *node,
                                                           const char *fmt, ...)
{
    c->errors++;
    if (c->diag == NULL) {
        return;
    }
    unsigned line = 0, col = 0;
    ka_yaml_position(c->stream, node, &line, &col);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int ret =
        ka_buf_printf(c->diag, "%s:%u:%u: %s\n", c->file, line ? line : 1, col ? col : 1, msg);
    (void)ret;
}

static int only_fields(struct checker *c, const cJSON *obj, const char *what,
                       const char *const *allowed)
{
    const cJSON *f;
    int ok = 1;
    cJSON_ArrayForEach(f, obj)
    {
        int known = 0;
        for (const char *const *a = allowed; *a != NULL; a++) {
            known |= strcmp(f->string, *a) == 0;
        }
        if (!known) {
            complain(c, f, "%s: unknown field \"%s\"", what, f->string);
            ok = 0;
        }
    }
    return ok;
}

static int want_string_list(struct checker *c, const cJSON *v, const char *what)
{
    if (!cJSON_IsArray(v)) {
        complain(c, v, "%s must be a list of strings", what);
        return 0;
    }
    const cJSON *x;
    cJSON_ArrayForEach(x, v)
    {
        if (!cJSON_IsString(x)) {
            complain(c, x, "%s must contain only strings", what);
            return 0;
        }
    }
    return 1;
}

static void check_kinds(struct checker *c, const cJSON *kinds, const char *what)
{
    if (!want_string_list(c, kinds, what)) {
        return;
    }
    const cJSON *k;
    cJSON_ArrayForEach(k, kinds)
    {
        if (ka_kind_from_name(k->valuestring) == KA_KIND_OTHER) {
            complain(c, k,
                     "%s: unknown kind \"%s\" (Pod, Deployment, StatefulSet, DaemonSet, "
                     "ReplicaSet, ReplicationController, Job, CronJob, HorizontalPodAutoscaler, "
                     "PodDisruptionBudget)",
                     what, k->valuestring);
        }
    }
}

static void check_selector(struct checker *c, const cJSON *sel, const char *what)
{
    char err[256];
    const cJSON *where = sel;
    if (ka_selector_validate(sel, err, sizeof(err), &where) != 0) {
        complain(c, where, "%s: %s", what, err);
    }
}

/* match, exclude and exceptions share these fields. */
static void check_block(struct checker *c, const cJSON *block, const char *what, int exception)
{
    static const char *const fields[] = {"kinds", "namespaces", "names", "selector", NULL};
    static const char *const ex_fields[] = {
        "name", "reason", "kinds", "namespaces", "names", "containers", "images", "selector", NULL};
    if (!cJSON_IsObject(block)) {
        complain(c, block, "%s must be a mapping", what);
        return;
    }
    only_fields(c, block, what, exception ? ex_fields : fields);
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(block, "kinds")) != NULL) {
        check_kinds(c, v, what);
    }
    static const char *const lists[] = {"namespaces", "names", "containers", "images"};
    for (size_t i = 0; i < 4; i++) {
        if ((v = cJSON_GetObjectItemCaseSensitive(block, lists[i])) != NULL) {
            want_string_list(c, v, lists[i]);
        }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(block, "selector")) != NULL) {
        check_selector(c, v, what);
    }
    if (exception) {
        static const char *const required[] = {"name", "reason"};
        for (size_t i = 0; i < 2; i++) {
            v = cJSON_GetObjectItemCaseSensitive(block, required[i]);
            if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
                complain(c, v ? v : block, "%s: \"%s\" is required and must be a string", what,
                         required[i]);
            }
        }
    }
}

static int param_type_ok(const cJSON *v, enum ka_param_type t)
{
    switch (t) {
    case KA_P_BOOL:
        return cJSON_IsBool(v);
    case KA_P_INT:
        /* range first: converting a double outside long long's range is undefined */
        return cJSON_IsNumber(v) && v->valuedouble >= -2147483648.0 &&
               v->valuedouble <= 2147483647.0 &&
               v->valuedouble == (double)(long long)v->valuedouble;
    case KA_P_STRING:
        return cJSON_IsString(v);
    case KA_P_STRINGS: {
        if (!cJSON_IsArray(v)) {
            return 0;
        }
        const cJSON *x;
        cJSON_ArrayForEach(x, v)
        {
            if (!cJSON_IsString(x)) {
                return 0;
            }
        }
        return 1;
    }
    case KA_P_DURATION: {
        int64_t s;
        return (cJSON_IsString(v) && ka_duration_parse(v->valuestring, &s) == 0) ||
               (cJSON_IsNumber(v) && v->valuedouble == 0); /* `0`: zero, needs no unit */
    }
    case KA_P_PORT:
        return cJSON_IsString(v) ||
               (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 65535);
    case KA_P_OBJECT:
        return cJSON_IsObject(v);
    case KA_P_LIST:
        return cJSON_IsArray(v);
    }
    return 0;
}

/* Merge defaults and the file's params into a new object; complain about each problem. */
static cJSON *merge_params(struct checker *c, const struct ka_rule_def *def, const cJSON *given,
                           const char *id)
{
    cJSON *merged = cJSON_CreateObject();
    if (merged == NULL) {
        return NULL;
    }
    for (const struct ka_param_def *p = def->params; p != NULL && p->name != NULL; p++) {
        if (p->default_json == NULL) {
            continue;
        }
        cJSON *d = cJSON_Parse(p->default_json);
        if (d == NULL) {
            cJSON_Delete(merged);
            return NULL;
        }
        if (!cJSON_AddItemToObject(merged, p->name, d)) {
            cJSON_Delete(d);
            cJSON_Delete(merged);
            return NULL;
        }
    }
    if (given != NULL && !cJSON_IsObject(given)) {
        complain(c, given, "rule \"%s\": params must be a mapping", id);
        return merged;
    }
    const cJSON *g;
    cJSON_ArrayForEach(g, given)
    {
        const struct ka_param_def *p = def->params;
        while (p != NULL && p->name != NULL && strcmp(p->name, g->string) != 0) {
            p++;
        }
        if (p == NULL || p->name == NULL) {
            complain(c, g, "rule \"%s\": unknown param \"%s\"", id, g->string);
            continue;
        }
        if (!param_type_ok(g, p->type)) {
            complain(c, g, "rule \"%s\": param \"%s\" must be %s", id, g->string,
                     ka_param_type_name(p->type));
            continue;
        }
        cJSON *copy = cJSON_Duplicate(g, 1);
        if (copy == NULL) {
            cJSON_Delete(merged);
            return NULL;
        }
        /* The copy keeps g's key. cJSON_ReplaceItemInObject() would re-copy the key without
         * checking the allocation and could leave a member with a NULL key. */
        cJSON *old = cJSON_GetObjectItemCaseSensitive(merged, g->string);
        cJSON_bool added = old != NULL ? cJSON_ReplaceItemViaPointer(merged, old, copy)
                                       : cJSON_AddItemToObject(merged, g->string, copy);
        if (!added) {
            cJSON_Delete(copy);
            cJSON_Delete(merged);
            return NULL;
        }
    }
    if (def->check != NULL) {
        char err[256];
        const cJSON *where = given;
        if (def->check(merged, err, sizeof(err), &where) != 0) {
            /* `where` may point into `merged` (a default): report at the params block then. */
            unsigned line, col;
            ka_yaml_position(c->stream, where, &line, &col);
            complain(c, line ? where : (given ? given : where), "rule \"%s\": %s", id, err);
        }
    }
    return merged;
}

static int parse_action(const char *s, enum ka_action *out)
{
    for (int a = 0; a < 4; a++) {
        if (strcmp(s, ka_action_name((enum ka_action)a)) == 0) {
            *out = (enum ka_action)a;
            return 0;
        }
    }
    return KA_EINVAL;
}

static void check_rule(struct checker *c, struct ka_policy *pol, const cJSON *r)
{
    static const char *const fields[] = {"id",         "action", "target",      "match", "exclude",
                                         "exceptions", "params", "description", NULL};
    if (!cJSON_IsObject(r)) {
        complain(c, r, "rules entries must be mappings");
        return;
    }
    only_fields(c, r, "rule", fields);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
    if (!cJSON_IsString(id)) {
        complain(c, id ? id : r, "rule: \"id\" is required and must be a string");
        return;
    }
    const struct ka_rule_def *def = ka_rule_def_find(id->valuestring);
    if (def == NULL) {
        struct ka_buf known;
        ka_buf_init(&known, 1024);
        for (size_t i = 0; ka_rule_defs[i] != NULL; i++) {
            int ret = ka_buf_printf(&known, "%s%s", i ? ", " : "", ka_rule_defs[i]->id);
            (void)ret;
        }
        complain(c, id, "unknown rule id \"%s\" (known: %s)", id->valuestring,
                 known.data ? known.data : "");
        ka_buf_free(&known);
        return;
    }
    for (size_t i = 0; i < pol->n_rules; i++) {
        if (pol->rules[i].def == def) {
            complain(c, id, "duplicate rule id \"%s\" (rule ids are unique across all files)",
                     def->id);
            return;
        }
    }
    if (pol->n_rules >= KA_MAX_RULES) {
        complain(c, r, "too many rules (at most %d)", KA_MAX_RULES);
        return;
    }
    struct ka_rule *rule = &pol->rules[pol->n_rules];
    memset(rule, 0, sizeof(*rule));
    rule->def = def;
    rule->action = KA_ACTION_ENFORCE;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "action");
    if (v != NULL && (!cJSON_IsString(v) || parse_action(v->valuestring, &rule->action) != 0)) {
        complain(c, v, "rule \"%s\": action must be one of enforce, warn, audit, off", def->id);
    }
    v = cJSON_GetObjectItemCaseSensitive(r, "target");
    if (v != NULL) {
        if (!def->mutating) {
            complain(c, v, "rule \"%s\": target applies to mutation rules only", def->id);
        } else if (!cJSON_IsString(v) || (strcmp(v->valuestring, "pods") != 0 &&
                                          strcmp(v->valuestring, "templates") != 0)) {
            complain(c, v, "rule \"%s\": target must be pods or templates", def->id);
        } else {
            rule->target_templates = strcmp(v->valuestring, "templates") == 0;
        }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "match")) != NULL) {
        check_block(c, v, "match", 0);
        rule->match = v;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "exclude")) != NULL) {
        check_block(c, v, "exclude", 0);
        rule->exclude = v;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "exceptions")) != NULL) {
        if (!cJSON_IsArray(v)) {
            complain(c, v, "rule \"%s\": exceptions must be a list", def->id);
        } else {
            const cJSON *e;
            cJSON_ArrayForEach(e, v)
            {
                check_block(c, e, "exception", 1);
            }
            rule->exceptions = v;
        }
    }
    rule->params = merge_params(c, def, cJSON_GetObjectItemCaseSensitive(r, "params"), def->id);
    if (rule->params == NULL) {
        complain(c, r, "out of memory");
        return;
    }
    pol->n_rules++;
}

static void check_document(struct checker *c, struct ka_policy *pol, const cJSON *doc,
                           int *excluded_given)
{
    static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", NULL};
    if (!cJSON_IsObject(doc)) {
        complain(c, doc, "a policy document must be a mapping");
        return;
    }
    only_fields(c, doc, "policy", top);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "apiVersion");
    if (!cJSON_IsString(v) || strcmp(v->valuestring, KA_POLICY_API_VERSION) != 0) {
        complain(c, v ? v : doc, "apiVersion must be %s", KA_POLICY_API_VERSION);
    }
    v = cJSON_GetObjectItemCaseSensitive(doc, "kind");
    if (!cJSON_IsString(v) || strcmp(v->valuestring, "Policy") != 0) {
        complain(c, v ? v : doc, "kind must be Policy");
    }
    v = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(v, "name");
    if (!cJSON_IsString(name) || name->valuestring[0] == '\0') {
        complain(c, v ? v : doc, "metadata.name is required");
    } else {
        size_t n = strlen(pol->source);
        snprintf(pol->source + n, sizeof(pol->source) - n, "%s%s(%s)", n ? ", " : "", c->file,
                 name->valuestring);
    }
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(doc, "spec");
    if (!cJSON_IsObject(spec)) {
        complain(c, spec ? spec : doc, "spec is required and must be a mapping");
        return;
    }
    static const char *const spec_fields[] = {"exclude", "rules", "otherRules", NULL};
    only_fields(c, spec, "spec", spec_fields);
    const cJSON *other = cJSON_GetObjectItemCaseSensitive(spec, "otherRules");
    if (other != NULL) {
        if (!cJSON_IsString(other) || (strcmp(other->valuestring, "default") != 0 &&
                                       strcmp(other->valuestring, "off") != 0)) {
            complain(c, other, "spec.otherRules must be default or off");
        } else if (strcmp(other->valuestring, "default") == 0) {
            pol->other_rules_default = 1;
        }
    }
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(spec, "exclude");
    if (ex != NULL) {
        static const char *const ex_fields[] = {"namespaces", NULL};
        if (!cJSON_IsObject(ex)) {
            complain(c, ex, "spec.exclude must be a mapping");
        } else if (only_fields(c, ex, "spec.exclude", ex_fields)) {
            const cJSON *nss = cJSON_GetObjectItemCaseSensitive(ex, "namespaces");
            if (nss != NULL && want_string_list(c, nss, "spec.exclude.namespaces")) {
                if (!*excluded_given) {
                    cJSON_Delete(pol->excluded);
                    pol->excluded = cJSON_CreateArray();
                    *excluded_given = 1;
                }
                const cJSON *n;
                cJSON_ArrayForEach(n, nss)
                {
                    cJSON *copy = cJSON_CreateString(n->valuestring);
                    if (pol->excluded == NULL || copy == NULL ||
                        !cJSON_AddItemToArray(pol->excluded, copy)) {
                        cJSON_Delete(copy);
                        complain(c, n, "out of memory");
                        break;
                    }
                }
            }
        }
    }
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(spec, "rules");
    if (rules != NULL && !cJSON_IsArray(rules)) {
        complain(c, rules, "spec.rules must be a list");
        return;
    }
    const cJSON *r;
    cJSON_ArrayForEach(r, rules)
    {
        check_rule(c, pol, r);
    }
}

/* ------------------------------------------------------------------------------------------
 * Snapshot life cycle
 */

static void policy_destroy(struct ka_policy *p)
{
    for (size_t i = 0; i < p->n_rules; i++) {
        if (p->rules[i].def->unload != NULL) {
            p->rules[i].def->unload(&p->rules[i]);
        }
        cJSON_Delete(p->rules[i].params);
    }
    for (size_t i = 0; i < p->n_streams; i++) {
        ka_yaml_stream_free(&p->streams[i]);
    }
    cJSON_Delete(p->excluded);
    free(p);
}

static struct ka_policy *policy_new(void)
{
    struct ka_policy *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    atomic_init(&p->refs, 1);
    p->excluded = cJSON_Parse("[\"kube-system\",\"kube-public\",\"kube-node-lease\","
                              "\"kadmit-system\"]");
    if (p->excluded == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

struct ka_policy *ka_policy_ref(struct ka_policy *p)
{
    if (p != NULL) {
        atomic_fetch_add(&p->refs, 1);
    }
    return p;
}

void ka_policy_unref(struct ka_policy *p)
{
    if (p != NULL && atomic_fetch_sub(&p->refs, 1) == 1) {
        policy_destroy(p);
    }
}

const struct ka_rule *ka_policy_rules(const struct ka_policy *p, size_t *n)
{
    *n = p->n_rules;
    return p->rules;
}

const struct cJSON *ka_policy_excluded_namespaces(const struct ka_policy *p)
{
    return p->excluded;
}

size_t ka_policy_watch_paths(const struct ka_policy *p, const char **paths, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; p != NULL && i < p->n_rules && n < max; i++) {
        const struct ka_rule *r = &p->rules[i];
        if (r->def->watch != NULL && r->state != NULL) {
            n += r->def->watch(r, paths + n, max - n);
        }
    }
    return n;
}

const char *ka_policy_source(const struct ka_policy *p)
{
    return p->source;
}

/* Parse one file's bytes into the next stream slot and check its documents. */
static int add_source(struct ka_policy *pol, const char *name, const char *data, size_t len,
                      unsigned max_depth, struct ka_buf *diag, int *errors, int *excluded_given)
{
    if (pol->n_streams >= KA_MAX_POLICY_FILES) {
        if (diag != NULL) {
            int r = ka_buf_printf(diag, "%s:1:1: too many policy files (at most %d)\n", name,
                                  KA_MAX_POLICY_FILES);
            (void)r;
        }
        (*errors)++;
        return 0;
    }
    struct ka_yaml_stream *s = &pol->streams[pol->n_streams++];
    ka_yaml_stream_init(s);
    int ret = ka_yaml_parse(s, name, data, len, max_depth, diag);
    if (ret == KA_ENOMEM) {
        return ret;
    }
    if (ret != 0) {
        (*errors)++;
        return 0;
    }
    if (s->n_docs == 0) {
        if (diag != NULL) {
            int r = ka_buf_printf(diag, "%s:1:1: no policy document in file\n", name);
            (void)r;
        }
        (*errors)++;
        return 0;
    }
    struct checker c = {.stream = s, .file = name, .diag = diag};
    for (size_t i = 0; i < s->n_docs; i++) {
        check_document(&c, pol, s->docs[i], excluded_given);
    }
    *errors += c.errors;
    return 0;
}

/* One override on one configured rule; KA_EPOLICY (and a diag line) when it does not fit. */
static int apply_override(struct ka_rule *r, const struct ka_rule_override *ov, struct ka_buf *diag)
{
    char err[256] = "";
    if (ov->param == NULL) {
        if (ov->value == NULL || parse_action(ov->value, &r->action) != 0) {
            snprintf(err, sizeof(err), "action must be one of enforce, warn, audit, off");
        }
        goto done;
    }
    const struct ka_param_def *p = r->def->params;
    while (p != NULL && p->name != NULL && strcmp(p->name, ov->param) != 0) {
        p++;
    }
    if (p == NULL || p->name == NULL) {
        snprintf(err, sizeof(err), "unknown param");
        goto done;
    }
    cJSON *v = ov->value != NULL ? cJSON_Parse(ov->value) : NULL;
    if (v == NULL || !param_type_ok(v, p->type)) {
        cJSON_Delete(v);
        snprintf(err, sizeof(err), "must be %s", ka_param_type_name(p->type));
        goto done;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(r->params, p->name);
    if (!cJSON_AddItemToObject(r->params, p->name, v)) {
        cJSON_Delete(v);
        return KA_ENOMEM;
    }
    const cJSON *where = NULL;
    if (r->def->check != NULL && r->def->check(r->params, err, sizeof(err), &where) == 0) {
        err[0] = '\0';
    }
done:
    if (err[0] == '\0') {
        return 0;
    }
    if (diag != NULL && ka_buf_printf(diag, "override of rule \"%s\"%s%s: %s\n", r->def->id,
                                      ov->param ? " param " : " action", ov->param ? ov->param : "",
                                      err) == KA_ENOMEM) {
        return KA_ENOMEM;
    }
    return KA_EPOLICY;
}

/* spec.otherRules: default: every registered rule the files do not name, whose registry
 * default action is not off, runs at that action with its default params. */
static int add_other_rules(struct ka_policy *pol, struct ka_buf *diag)
{
    struct checker c = {.stream = &pol->streams[0], .file = "(registry defaults)", .diag = diag};
    for (size_t d = 0; pol->other_rules_default && ka_rule_defs[d] != NULL; d++) {
        const struct ka_rule_def *def = ka_rule_defs[d];
        size_t i = 0;
        while (i < pol->n_rules && pol->rules[i].def != def) {
            i++;
        }
        if (i < pol->n_rules || def->default_action == KA_ACTION_OFF) {
            continue;
        }
        if (pol->n_rules >= KA_MAX_RULES) {
            complain(&c, NULL, "too many rules (at most %d)", KA_MAX_RULES);
            break;
        }
        struct ka_rule *rule = &pol->rules[pol->n_rules];
        memset(rule, 0, sizeof(*rule));
        rule->def = def;
        rule->action = def->default_action;
        rule->params = merge_params(&c, def, NULL, def->id);
        if (rule->params == NULL) {
            return KA_ENOMEM;
        }
        pol->n_rules++;
    }
    return c.errors > 0 ? KA_EPOLICY : 0;
}

static int finish(struct ka_policy *pol, int errors, const struct ka_policy_load_opts *opts,
                  struct ka_policy **out, struct ka_buf *diag)
{
    int ret = errors > 0 ? KA_EPOLICY : add_other_rules(pol, diag);
    if (ret != 0) {
        policy_destroy(pol);
        return ret;
    }
    for (size_t o = 0; opts != NULL && o < opts->n_overrides; o++) {
        for (size_t i = 0; i < pol->n_rules; i++) {
            if (strcmp(pol->rules[i].def->id, opts->overrides[o].rule) != 0) {
                continue;
            }
            ret = apply_override(&pol->rules[i], &opts->overrides[o], diag);
            if (ret != 0) {
                policy_destroy(pol);
                return ret;
            }
        }
    }
    for (size_t i = 0; i < pol->n_rules; i++) {
        struct ka_rule *r = &pol->rules[i];
        if (r->def->load != NULL && r->action != KA_ACTION_OFF) {
            ret = r->def->load(r, opts, diag);
            if (ret != 0) {
                policy_destroy(pol); /* unload hooks free partial and absent (NULL) state */
                return ret;
            }
        }
    }
    *out = pol;
    return 0;
}

int ka_policy_load_buffer(const char *name, const char *data, size_t len,
                          const struct ka_policy_load_opts *opts, struct ka_policy **out,
                          struct ka_buf *diag)
{
    *out = NULL;
    struct ka_policy *pol = policy_new();
    if (pol == NULL) {
        return KA_ENOMEM;
    }
    int errors = 0, excluded_given = 0;
    int ret = add_source(pol, name, data, len, opts ? opts->max_depth : 0, diag, &errors,
                         &excluded_given);
    if (ret != 0) {
        policy_destroy(pol);
        return ret;
    }
    return finish(pol, errors, opts, out, diag);
}

int ka_policy_load_default(const struct ka_policy_load_opts *opts, struct ka_policy **out,
                           struct ka_buf *diag)
{
    return ka_policy_load_buffer("(embedded)policies/checklist.yaml", ka_embedded_checklist,
                                 ka_embedded_checklist_len, opts, out, diag);
}

static int is_policy_file(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.') {
        return 0; /* hidden files, and Kubernetes' ..data ConfigMap symlink farm */
    }
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_file(struct ka_policy *pol, const char *path, unsigned max_depth,
                     struct ka_buf *diag, int *errors, int *excluded_given)
{
    struct ka_buf data;
    ka_buf_init(&data, KA_MAX_POLICY_FILE);
    int ret = ka_buf_read_file(&data, path);
    if (ret != 0) {
        if (diag != NULL) {
            int r = ka_buf_printf(diag, "%s:1:1: cannot read: %s\n", path,
                                  ret == KA_ELIMIT ? "file larger than 1 MiB" : ka_strerror(ret));
            (void)r;
        }
        ka_buf_free(&data);
        (*errors)++;
        return ret == KA_ENOMEM ? ret : 0;
    }
    ret = add_source(pol, path, data.data, data.len, max_depth, diag, errors, excluded_given);
    ka_buf_free(&data);
    return ret;
}

int ka_policy_load_path(const char *path, const struct ka_policy_load_opts *opts,
                        struct ka_policy **out, struct ka_buf *diag)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (diag != NULL) {
            int r = ka_buf_printf(diag, "%s: %s\n", path, strerror(errno));
            (void)r;
        }
        return errno == ENOENT ? KA_ENOTFOUND : KA_EIO;
    }
    struct ka_policy *pol = policy_new();
    if (pol == NULL) {
        return KA_ENOMEM;
    }
    unsigned depth = opts ? opts->max_depth : 0;
    int errors = 0, excluded_given = 0, ret = 0;
    if (!S_ISDIR(st.st_mode)) {
        ret = load_file(pol, path, depth, diag, &errors, &excluded_given);
    } else {
        DIR *d = opendir(path);
        char *names[KA_MAX_POLICY_FILES + 1];
        size_t n = 0;
        if (d == NULL) {
            policy_destroy(pol);
            return KA_EIO;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL && ret == 0) {
            if (!is_policy_file(e->d_name)) {
                continue;
            }
            if (n > KA_MAX_POLICY_FILES) {
                break;
            }
            names[n] = strdup(e->d_name);
            if (names[n] == NULL) {
                ret = KA_ENOMEM;
                break;
            }
            n++;
        }
        closedir(d);
        qsort(names, n, sizeof(names[0]), cmp_str); /* deterministic merge order */
        for (size_t i = 0; i < n; i++) {
            char full[4096];
            snprintf(full, sizeof(full), "%s/%s", path, names[i]);
            if (ret == 0) {
                ret = load_file(pol, full, depth, diag, &errors, &excluded_given);
            }
            free(names[i]);
        }
        if (ret == 0 && n == 0) {
            if (diag != NULL) {
                int r = ka_buf_printf(diag, "%s: no *.yaml, *.yml or *.json policy files\n", path);
                (void)r;
            }
            errors++;
        }
    }
    if (ret != 0) {
        policy_destroy(pol);
        return ret;
    }
    return finish(pol, errors, opts, out, diag);
}

int ka_policy_lint_path(const char *path, struct ka_buf *diag)
{
    struct ka_policy *p = NULL;
    int ret = ka_policy_load_path(path, NULL, &p, diag);
    ka_policy_unref(p);
    return ret;
}

/* ------------------------------------------------------------------------------------------
 * Holder
 */

void ka_policy_holder_init(struct ka_policy_holder *h)
{
    h->current = NULL;
    pthread_mutex_init(&h->lock, NULL);
}

void ka_policy_holder_free(struct ka_policy_holder *h)
{
    ka_policy_unref(h->current);
    h->current = NULL;
    pthread_mutex_destroy(&h->lock);
}

struct ka_policy *ka_policy_holder_get(struct ka_policy_holder *h)
{
    pthread_mutex_lock(&h->lock);
    struct ka_policy *p = ka_policy_ref(h->current);
    pthread_mutex_unlock(&h->lock);
    return p;
}

void ka_policy_holder_set(struct ka_policy_holder *h, struct ka_policy *p)
{
    pthread_mutex_lock(&h->lock);
    struct ka_policy *old = h->current;
    h->current = p;
    pthread_mutex_unlock(&h->lock);
    ka_policy_unref(old);
}
