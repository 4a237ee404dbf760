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
#include "kadmit/file.h"
#include "kadmit/limits.h"
#include "kadmit/relations.h"
#include "kadmit/rules.h"
#include "kadmit/select.h"
#include "kadmit/yaml.h"

extern const char ka_embedded_checklist[];
extern const size_t ka_embedded_checklist_len;

#define KA_POLICY_API_VERSION "kadmit.dev/v1alpha1"

/*
 * Where a value of the effective policy was written: a JSON array [stream, line, overlay], the
 * index of the file's stream, the line, and 1 when the document was an overlay. A value with no
 * origin is the rule's built-in default.
 */

/* What a snapshot keeps about each rule besides the compiled struct ka_rule. */
struct rule_extra {
    const cJSON *description; /* borrowed */
    cJSON *exceptions;        /* owned: references to the exception mappings of every file */
    cJSON
        *origins; /* owned: {"action": origin, ..., "params": {"k": origin}, "exceptions": [..]} */
};

/* The embedded checklist, when it is the base, is parsed as one more stream. */
#define KA_POLICY_STREAMS (KA_MAX_POLICY_FILES + 1)

struct ka_policy {
    atomic_int refs;
    struct ka_yaml_stream streams[KA_POLICY_STREAMS];
    char *stream_names[KA_POLICY_STREAMS]; /* owned */
    size_t n_streams;
    struct ka_rule rules[KA_MAX_RULES];
    struct rule_extra extra[KA_MAX_RULES];
    size_t n_rules;
    cJSON *excluded;          /* owned: spec.exclude.namespaces, or the default list */
    cJSON *excluded_origin;   /* owned origin, NULL for the built-in default */
    const char *name;         /* metadata.name of the complete policy (borrowed) */
    const cJSON *root_rules;  /* the complete policy's spec.rules node, for warnings */
    const cJSON *other_rules; /* the complete policy's spec.otherRules: default, or NULL */
    size_t root_stream;
    size_t n_warnings;
    int quiet_warnings; /* count warnings, do not write them to diag */
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
    struct ka_policy *pol;
    size_t stream; /* index of the stream being checked */
    const char *file;
    int overlay; /* the document being checked is an overlay */
    struct ka_buf *diag;
    int errors;
};

static const char *const embedded_name = "(embedded)policies/checklist.yaml";

/* One `file:line:column: [warning: ]message` line. */
static void note_at(struct ka_buf *diag, const char *file, unsigned line, unsigned col,
                    const char *kind, const char *msg)
{
    if (diag != NULL) {
        int ret = ka_buf_printf(diag, "%s:%u:%u: %s%s\n", file, line ? line : 1, col ? col : 1,
                                kind, msg);
        (void)ret;
    }
}

__attribute__((format(printf, 4, 0))) static void
note(struct checker *c, const cJSON *node, const char *kind, const char *fmt, va_list ap)
{
    unsigned line = 0, col = 0;
    ka_yaml_position(&c->pol->streams[c->stream], node, &line, &col);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    note_at(c->diag, c->file, line, col, kind, msg);
}

__attribute__((format(printf, 3, 4))) static void complain(struct checker *c, const cJSON *node,
                                                           const char *fmt, ...)
{
    c->errors++;
    va_list ap;
    va_start(ap, fmt);
    note(c, node, "", fmt, ap);
    va_end(ap);
}

/* A warning: the policy loads, `kadmit lint` prints it (and fails with --strict). */
__attribute__((format(printf, 3, 4))) static void warn(struct checker *c, const cJSON *node,
                                                       const char *fmt, ...)
{
    c->pol->n_warnings++;
    if (c->pol->quiet_warnings) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    note(c, node, "warning: ", fmt, ap);
    va_end(ap);
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
                     "PodDisruptionBudget, Ingress)",
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

/* The rule's own check of its merged params; a relation's selectors are always checked. */
static int check_params(const struct ka_rule *r, char *err, size_t err_len, const cJSON **where)
{
    if (r->def->check != NULL) {
        return r->def->check(r->params, err, err_len, where);
    }
    return r->def->relation != NULL ? ka_relation_check_selectors(r->params, err, err_len, where)
                                    : 0;
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

int ka_action_parse(const char *s, enum ka_action *out)
{
    for (int a = 0; s != NULL && a < 4; a++) {
        if (strcmp(s, ka_action_name((enum ka_action)a)) == 0) {
            *out = (enum ka_action)a;
            return 0;
        }
    }
    return KA_EINVAL;
}

/* ------------------------------------------------------------------------------------------
 * Origins
 */

static cJSON *origin_new(const struct checker *c, const cJSON *node)
{
    unsigned line = 0, col = 0;
    ka_yaml_position(&c->pol->streams[c->stream], node, &line, &col);
    cJSON *o = cJSON_CreateArray();
    if (o == NULL || !cJSON_AddItemToArray(o, cJSON_CreateNumber((double)c->stream)) ||
        !cJSON_AddItemToArray(o, cJSON_CreateNumber(line ? line : 1)) ||
        !cJSON_AddItemToArray(o, cJSON_CreateBool(c->overlay))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* "file:line", or "(checklist default)" for the embedded checklist, into out. */
static void origin_text(const struct ka_policy *pol, const cJSON *o, char *out, size_t len)
{
    const cJSON *s = cJSON_GetArrayItem(o, 0), *l = cJSON_GetArrayItem(o, 1);
    size_t stream = cJSON_IsNumber(s) ? (size_t)s->valuedouble : KA_POLICY_STREAMS;
    if (stream >= pol->n_streams) {
        snprintf(out, len, "(default)");
    } else if (strcmp(pol->stream_names[stream], embedded_name) == 0) {
        snprintf(out, len, "(checklist default)");
    } else {
        snprintf(out, len, "%s:%d", pol->stream_names[stream], l ? (int)l->valuedouble : 1);
    }
}

/*
 * Record that `node` of the current document sets `key` of `origins`. When an earlier overlay
 * set it too, warn with both places: the later file wins.
 */
static void set_origin(struct checker *c, cJSON *origins, const char *key, const cJSON *node,
                       const char *rule_id)
{
    cJSON *old = cJSON_GetObjectItemCaseSensitive(origins, key);
    if (c->overlay && cJSON_IsTrue(cJSON_GetArrayItem(old, 2))) {
        char where[600];
        origin_text(c->pol, old, where, sizeof(where));
        warn(c, node,
             "rule \"%s\": \"%s\" is also set by the overlay at %s; this file is applied later "
             "and wins",
             rule_id, key, where);
    }
    cJSON *o = origin_new(c, node);
    if (o != NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(origins, key);
    }
    if (o == NULL || !cJSON_AddItemToObject(origins, key, o)) {
        cJSON_Delete(o);
        complain(c, node, "out of memory");
    }
}

/* ------------------------------------------------------------------------------------------
 * Rules: a complete policy creates them, overlays change them
 */

/* A new rule with its defaults: action enforce, the params' default values. */
static int rule_init(struct ka_rule *rule, struct rule_extra *x, const struct ka_rule_def *def)
{
    memset(rule, 0, sizeof(*rule));
    memset(x, 0, sizeof(*x));
    rule->def = def;
    rule->action = KA_ACTION_ENFORCE;
    rule->params = cJSON_CreateObject();
    x->exceptions = cJSON_CreateArray();
    x->origins = cJSON_CreateObject();
    if (rule->params == NULL || x->exceptions == NULL || x->origins == NULL) {
        return KA_ENOMEM;
    }
    rule->exceptions = x->exceptions;
    for (const struct ka_param_def *p = def->params; p != NULL && p->name != NULL; p++) {
        if (p->default_json == NULL) {
            continue;
        }
        cJSON *d = cJSON_Parse(p->default_json);
        if (d == NULL || !cJSON_AddItemToObject(rule->params, p->name, d)) {
            cJSON_Delete(d);
            return KA_ENOMEM;
        }
    }
    return 0;
}

static void rule_free(struct ka_rule *rule, struct rule_extra *x)
{
    if (rule->def != NULL && rule->def->unload != NULL) {
        rule->def->unload(rule);
    }
    cJSON_Delete(rule->params);
    cJSON_Delete(x->exceptions);
    cJSON_Delete(x->origins);
}

/* Mappings merge key by key; anything else (lists included) replaces. Returns 0 or KA_ENOMEM. */
static int merge_value(cJSON *into, const cJSON *given)
{
    cJSON *old = cJSON_GetObjectItemCaseSensitive(into, given->string);
    if (cJSON_IsObject(old) && cJSON_IsObject(given)) {
        const cJSON *g;
        cJSON_ArrayForEach(g, given)
        {
            if (merge_value(old, g) != 0) {
                return KA_ENOMEM;
            }
        }
        return 0;
    }
    /* The copy keeps given's key. cJSON_ReplaceItemInObject() would re-copy the key without
     * checking the allocation and could leave a member with a NULL key. */
    cJSON *copy = cJSON_Duplicate(given, 1);
    cJSON_bool added =
        copy != NULL && (old != NULL ? cJSON_ReplaceItemViaPointer(into, old, copy)
                                     : cJSON_AddItemToObject(into, given->string, copy));
    if (!added) {
        cJSON_Delete(copy);
        return KA_ENOMEM;
    }
    return 0;
}

/* Merge the document's params into the rule's; complain about each problem. */
static void apply_params(struct checker *c, struct ka_rule *rule, struct rule_extra *x,
                         const cJSON *given)
{
    const char *id = rule->def->id;
    if (!cJSON_IsObject(given)) {
        complain(c, given, "rule \"%s\": params must be a mapping", id);
        return;
    }
    cJSON *origins = cJSON_GetObjectItemCaseSensitive(x->origins, "params");
    if (origins == NULL) {
        origins = cJSON_AddObjectToObject(x->origins, "params");
    }
    if (origins == NULL) {
        complain(c, given, "out of memory");
        return;
    }
    const cJSON *g;
    cJSON_ArrayForEach(g, given)
    {
        const struct ka_param_def *p = rule->def->params;
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
        if (merge_value(rule->params, g) != 0) {
            complain(c, g, "out of memory");
            return;
        }
        set_origin(c, origins, g->string, g, id);
    }
    char err[256];
    const cJSON *where = given;
    if (check_params(rule, err, sizeof(err), &where) != 0) {
        /* `where` may point into the merged params (a default or another file's value):
         * report at this document's params block then. */
        unsigned line, col;
        ka_yaml_position(&c->pol->streams[c->stream], where, &line, &col);
        complain(c, line ? where : given, "rule \"%s\": %s", id, err);
    }
}

/* `exceptions: [...]` appends; in an overlay, `exceptions: {replace: [...]}` replaces. */
static void apply_exceptions(struct checker *c, struct rule_extra *x, const cJSON *v,
                             const char *id)
{
    const cJSON *list = v;
    if (c->overlay && cJSON_IsObject(v)) {
        static const char *const fields[] = {"replace", NULL};
        list = cJSON_GetObjectItemCaseSensitive(v, "replace");
        if (!only_fields(c, v, "exceptions", fields)) {
            return;
        }
        if (list == NULL) {
            complain(c, v, "rule \"%s\": exceptions must be a list, or {replace: [...]}", id);
            return;
        }
    }
    if (!cJSON_IsArray(list)) {
        complain(c, list,
                 c->overlay ? "rule \"%s\": exceptions must be a list, or {replace: [...]}"
                            : "rule \"%s\": exceptions must be a list",
                 id);
        return;
    }
    cJSON *origins = cJSON_GetObjectItemCaseSensitive(x->origins, "exceptions");
    if (list != v) { /* replace: forget the base's exceptions */
        while (cJSON_GetArraySize(x->exceptions) > 0) {
            cJSON_DeleteItemFromArray(x->exceptions, 0);
        }
        cJSON_DeleteItemFromObjectCaseSensitive(x->origins, "exceptions");
        origins = NULL;
    }
    if (origins == NULL) {
        origins = cJSON_AddArrayToObject(x->origins, "exceptions");
    }
    if (origins == NULL) {
        complain(c, v, "out of memory");
        return;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, list)
    {
        check_block(c, e, "exception", 1);
        cJSON *o = origin_new(c, e);
        if (o == NULL || !cJSON_AddItemToArray(origins, o) ||
            !cJSON_AddItemReferenceToArray(x->exceptions, (cJSON *)e)) { /* only read */
            complain(c, e, "out of memory");
            return;
        }
    }
}

static struct ka_rule *find_rule(struct ka_policy *pol, const struct ka_rule_def *def)
{
    for (size_t i = 0; i < pol->n_rules; i++) {
        if (pol->rules[i].def == def) {
            return &pol->rules[i];
        }
    }
    return NULL;
}

static void check_rule(struct checker *c, const cJSON *r, const char *base)
{
    static const char *const fields[] = {"id",         "action", "target",      "match", "exclude",
                                         "exceptions", "params", "description", NULL};
    struct ka_policy *pol = c->pol;
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
    struct ka_rule *rule = find_rule(pol, def);
    if (c->overlay && rule == NULL) {
        complain(c, id,
                 "rule \"%s\" is not in base \"%s\" (an overlay changes the rules its base has)",
                 def->id, base);
        return;
    }
    if (!c->overlay && rule != NULL) {
        complain(c, id, "duplicate rule id \"%s\" (a rule is listed once per policy)", def->id);
        return;
    }
    if (rule == NULL) {
        if (pol->n_rules >= KA_MAX_RULES) {
            complain(c, r, "too many rules (at most %d)", KA_MAX_RULES);
            return;
        }
        rule = &pol->rules[pol->n_rules];
        int ret = rule_init(rule, &pol->extra[pol->n_rules], def);
        pol->n_rules++; /* freed with the policy even when incomplete */
        if (ret != 0) {
            complain(c, r, "out of memory");
            return;
        }
    }
    struct rule_extra *x = &pol->extra[rule - pol->rules];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "action");
    if (v != NULL) {
        if (!cJSON_IsString(v) || ka_action_parse(v->valuestring, &rule->action) != 0) {
            complain(c, v, "rule \"%s\": action must be one of enforce, warn, audit, off", def->id);
        }
        set_origin(c, x->origins, "action", v, def->id);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "target")) != NULL) {
        if (!def->mutating) {
            complain(c, v, "rule \"%s\": target applies to mutation rules only", def->id);
        } else if (!cJSON_IsString(v) || (strcmp(v->valuestring, "pods") != 0 &&
                                          strcmp(v->valuestring, "templates") != 0)) {
            complain(c, v, "rule \"%s\": target must be pods or templates", def->id);
        } else {
            rule->target_templates = strcmp(v->valuestring, "templates") == 0;
        }
        set_origin(c, x->origins, "target", v, def->id);
    }
    /* match and exclude are replaced as a whole; null removes them. */
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "match")) != NULL) {
        if (!cJSON_IsNull(v)) {
            check_block(c, v, "match", 0);
        }
        rule->match = cJSON_IsNull(v) ? NULL : v;
        set_origin(c, x->origins, "match", v, def->id);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "exclude")) != NULL) {
        if (!cJSON_IsNull(v)) {
            check_block(c, v, "exclude", 0);
        }
        rule->exclude = cJSON_IsNull(v) ? NULL : v;
        set_origin(c, x->origins, "exclude", v, def->id);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "description")) != NULL) {
        x->description = v;
        set_origin(c, x->origins, "description", v, def->id);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "exceptions")) != NULL) {
        apply_exceptions(c, x, v, def->id);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "params")) != NULL) {
        apply_params(c, rule, x, v);
    }
}

/* spec.base of a document: NULL for a complete policy. */
static const cJSON *doc_base(const cJSON *doc)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "spec"), "base");
}

static const char *doc_name(const cJSON *doc)
{
    const cJSON *n =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "metadata"), "name");
    return cJSON_IsString(n) && n->valuestring[0] != '\0' ? n->valuestring : NULL;
}

/* Check one document and apply it: a complete policy (base NULL) or an overlay on `base`. */
static void check_document(struct checker *c, const cJSON *doc, const char *base)
{
    /* status is ignored: `kadmit policy show -o json` writes the origins there. */
    static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
    struct ka_policy *pol = c->pol;
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
    const char *name = doc_name(doc);
    if (name == NULL) {
        complain(c, v ? v : doc, "metadata.name is required");
    } else {
        size_t n = strlen(pol->source);
        snprintf(pol->source + n, sizeof(pol->source) - n, "%s%s(%s)", n ? ", " : "", c->file,
                 name);
    }
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(doc, "spec");
    if (!cJSON_IsObject(spec)) {
        complain(c, spec ? spec : doc, "spec is required and must be a mapping");
        return;
    }
    static const char *const spec_fields[] = {"base", "exclude", "rules", "otherRules", NULL};
    only_fields(c, spec, "spec", spec_fields);
    const cJSON *other = cJSON_GetObjectItemCaseSensitive(spec, "otherRules");
    if (other != NULL) {
        if (c->overlay) {
            complain(c, other,
                     "spec.otherRules is a field of the complete policy, not of overlays");
        } else if (!cJSON_IsString(other) || (strcmp(other->valuestring, "default") != 0 &&
                                              strcmp(other->valuestring, "off") != 0)) {
            complain(c, other, "spec.otherRules must be default or off");
        } else if (strcmp(other->valuestring, "default") == 0) {
            pol->other_rules = other;
        }
    }
    if (!c->overlay) {
        pol->name = name;
        pol->root_stream = c->stream;
        pol->root_rules = cJSON_GetObjectItemCaseSensitive(spec, "rules");
        if (pol->root_rules == NULL) {
            pol->root_rules = spec;
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
                cJSON *copy = cJSON_Duplicate(nss, 1);
                cJSON *o = origin_new(c, nss);
                if (copy == NULL || o == NULL) {
                    cJSON_Delete(copy);
                    cJSON_Delete(o);
                    complain(c, nss, "out of memory");
                } else {
                    cJSON_Delete(pol->excluded);
                    cJSON_Delete(pol->excluded_origin);
                    pol->excluded = copy;
                    pol->excluded_origin = o;
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
        check_rule(c, r, base);
    }
}

/* ------------------------------------------------------------------------------------------
 * Snapshot life cycle
 */

static void policy_destroy(struct ka_policy *p)
{
    for (size_t i = 0; i < p->n_rules; i++) {
        rule_free(&p->rules[i], &p->extra[i]);
    }
    for (size_t i = 0; i < p->n_streams; i++) {
        ka_yaml_stream_free(&p->streams[i]);
        free(p->stream_names[i]);
    }
    cJSON_Delete(p->excluded);
    cJSON_Delete(p->excluded_origin);
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

const char *ka_policy_name(const struct ka_policy *p)
{
    return p->name != NULL ? p->name : "checklist";
}

size_t ka_policy_warnings(const struct ka_policy *p)
{
    return p->n_warnings;
}

/* ------------------------------------------------------------------------------------------
 * Loading: parse every file, then apply the complete policy and the overlays in order
 */

/* Parse one file's bytes into the next stream slot. */
static int add_source(struct ka_policy *pol, const char *name, const char *data, size_t len,
                      unsigned max_depth, struct ka_buf *diag, int *errors)
{
    if (pol->n_streams >= KA_MAX_POLICY_FILES) {
        char msg[64];
        snprintf(msg, sizeof(msg), "too many policy files (at most %d)", KA_MAX_POLICY_FILES);
        note_at(diag, name, 1, 1, "", msg);
        (*errors)++;
        return 0;
    }
    pol->stream_names[pol->n_streams] = strdup(name);
    if (pol->stream_names[pol->n_streams] == NULL) {
        return KA_ENOMEM;
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
        note_at(diag, name, 1, 1, "", "no policy document in file");
        (*errors)++;
    }
    return 0;
}

/* spec.otherRules: default: every registered rule the complete policy does not name, whose
 * registry default action is not off, runs at that action with its default params. */
static void add_other_rules(struct checker *root)
{
    struct ka_policy *pol = root->pol;
    for (size_t d = 0; pol->other_rules != NULL && ka_rule_defs[d] != NULL; d++) {
        const struct ka_rule_def *def = ka_rule_defs[d];
        if (find_rule(pol, def) != NULL || def->default_action == KA_ACTION_OFF) {
            continue;
        }
        if (pol->n_rules >= KA_MAX_RULES) {
            complain(root, pol->other_rules, "too many rules (at most %d)", KA_MAX_RULES);
            return;
        }
        struct ka_rule *rule = &pol->rules[pol->n_rules];
        struct rule_extra *x = &pol->extra[pol->n_rules];
        int ret = rule_init(rule, x, def);
        pol->n_rules++; /* freed with the policy even when incomplete */
        if (ret != 0) {
            complain(root, pol->other_rules, "out of memory");
            return;
        }
        rule->action = def->default_action;
        set_origin(root, x->origins, "action", pol->other_rules, def->id);
    }
}

/* Warn about checklist rules the policy leaves off without saying `action: off`. */
static void warn_silently_off(struct checker *root)
{
    struct ka_policy *pol = root->pol;
    struct ka_yaml_stream checklist;
    ka_yaml_stream_init(&checklist);
    if (ka_yaml_parse(&checklist, embedded_name, ka_embedded_checklist, ka_embedded_checklist_len,
                      0, NULL) != 0 ||
        checklist.n_docs == 0) {
        ka_yaml_stream_free(&checklist);
        return;
    }
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(checklist.docs[0], "spec");
    const cJSON *specs = cJSON_GetObjectItemCaseSensitive(spec, "rules");
    const char *other = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "otherRules"));
    for (size_t d = 0; ka_rule_defs[d] != NULL; d++) {
        const struct ka_rule_def *def = ka_rule_defs[d];
        /* in the checklist: listed, or run by its otherRules: default */
        int in_checklist =
            other != NULL && strcmp(other, "default") == 0 && def->default_action != KA_ACTION_OFF;
        const cJSON *r;
        cJSON_ArrayForEach(r, specs)
        {
            const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "id"));
            in_checklist |= id != NULL && strcmp(id, def->id) == 0;
        }
        if (in_checklist && find_rule(pol, def) == NULL) {
            warn(root, pol->root_rules,
                 "checklist rule \"%s\" is not in policy \"%s\", so it is off; to keep the "
                 "checklist and change a few rules, make this file an overlay (spec.base: "
                 "checklist); to turn the rule off, list it with action: off",
                 def->id, ka_policy_name(pol));
        }
    }
    ka_yaml_stream_free(&checklist);
}

/*
 * Apply the loaded documents: the one complete policy (or the embedded checklist when there is
 * none), then every overlay in file-name order. Each overlay's base must be the complete
 * policy or an overlay applied before it.
 */
static int build(struct ka_policy *pol, unsigned max_depth, struct ka_buf *diag, int *errors)
{
    size_t n_files = pol->n_streams;
    struct checker root = {.pol = pol, .diag = diag};
    for (size_t s = 0; s < n_files; s++) {
        struct checker c = {.pol = pol, .stream = s, .file = pol->stream_names[s], .diag = diag};
        for (size_t d = 0; d < pol->streams[s].n_docs; d++) {
            const cJSON *doc = pol->streams[s].docs[d];
            if (doc_base(doc) != NULL) {
                continue;
            }
            if (root.file != NULL) {
                complain(&c, doc,
                         "a second complete policy (the first is %s); a directory holds one "
                         "complete policy and overlays: give this one spec.base",
                         root.file);
                continue;
            }
            root.stream = s;
            root.file = pol->stream_names[s];
            check_document(&root, doc, NULL);
        }
        *errors += c.errors;
    }
    int embedded = root.file == NULL;
    if (embedded) {
        int ret = add_source(pol, embedded_name, ka_embedded_checklist, ka_embedded_checklist_len,
                             max_depth, diag, errors);
        if (ret != 0 || pol->streams[pol->n_streams - 1].n_docs == 0) {
            return ret != 0 ? ret : KA_EINTERNAL;
        }
        root.stream = pol->n_streams - 1;
        root.file = embedded_name;
        check_document(&root, pol->streams[root.stream].docs[0], NULL);
    }
    add_other_rules(&root);
    *errors += root.errors;
    root.errors = 0;
    const char *applied[KA_MAX_POLICY_FILES * 4 + 1];
    size_t n_applied = 0;
    applied[n_applied++] = ka_policy_name(pol);
    for (size_t s = 0; s < n_files; s++) {
        struct checker c = {
            .pol = pol, .stream = s, .file = pol->stream_names[s], .overlay = 1, .diag = diag};
        for (size_t d = 0; d < pol->streams[s].n_docs; d++) {
            const cJSON *doc = pol->streams[s].docs[d];
            const cJSON *base = doc_base(doc);
            if (base == NULL) {
                continue;
            }
            if (!cJSON_IsString(base)) {
                complain(&c, base,
                         "spec.base must be the name of a policy (checklist, or the "
                         "metadata.name of a policy in the same directory)");
                continue;
            }
            size_t i = 0;
            while (i < n_applied && strcmp(applied[i], base->valuestring) != 0) {
                i++;
            }
            if (i == n_applied) {
                complain(&c, base,
                         "spec.base \"%s\" is not a policy applied before this one (the policy "
                         "in force is \"%s\"; overlays apply in file-name order)",
                         base->valuestring, ka_policy_name(pol));
                continue;
            }
            check_document(&c, doc, base->valuestring);
            if (doc_name(doc) != NULL && n_applied < sizeof(applied) / sizeof(applied[0])) {
                applied[n_applied++] = doc_name(doc);
            }
        }
        *errors += c.errors;
    }
    if (*errors == 0 && !embedded) {
        warn_silently_off(&root);
    }
    return 0;
}

/* A warning about rule i, placed where its action was set (or at the complete policy). */
__attribute__((format(printf, 4, 5))) static void
warn_rule(struct ka_policy *pol, size_t i, struct ka_buf *diag, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(pol->extra[i].origins, "action");
    size_t stream = o != NULL ? (size_t)cJSON_GetArrayItem(o, 0)->valuedouble : pol->root_stream;
    unsigned line = o != NULL ? (unsigned)cJSON_GetArrayItem(o, 1)->valuedouble : 1;
    pol->n_warnings++;
    note_at(pol->quiet_warnings ? NULL : diag,
            stream < pol->n_streams ? pol->stream_names[stream] : "(policy)", line, 1,
            "warning: ", msg);
}

/* One override on one configured rule; KA_EPOLICY (and a diag line) when it does not fit. */
static int apply_override(struct ka_rule *r, const struct ka_rule_override *ov, struct ka_buf *diag)
{
    char err[256] = "";
    if (ov->param == NULL) {
        if (ov->value == NULL || ka_action_parse(ov->value, &r->action) != 0) {
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
    if (check_params(r, err, sizeof(err), &where) == 0) {
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

static int finish(struct ka_policy *pol, int errors, const struct ka_policy_load_opts *opts,
                  struct ka_policy **out, struct ka_buf *diag)
{
    int ret = 0;
    if (errors > 0) {
        policy_destroy(pol);
        return KA_EPOLICY;
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
        const char *why = r->def->denies_all != NULL && r->action == KA_ACTION_ENFORCE
                              ? r->def->denies_all(r)
                              : NULL;
        if (why != NULL) {
            warn_rule(pol, i, diag,
                      "rule \"%s\" is enforced but denies every object: %s (configure it, or "
                      "set action: off until it is)",
                      r->def->id, why);
        }
    }
    *out = pol;
    return 0;
}

/* Parse the sources already added, build, finish. */
static int load(struct ka_policy *pol, int errors, const struct ka_policy_load_opts *opts,
                struct ka_policy **out, struct ka_buf *diag)
{
    pol->quiet_warnings = opts != NULL && opts->quiet_warnings;
    int ret = build(pol, opts ? opts->max_depth : 0, diag, &errors);
    if (ret != 0) {
        policy_destroy(pol);
        return ret;
    }
    return finish(pol, errors, opts, out, diag);
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
    int errors = 0;
    int ret = add_source(pol, name, data, len, opts ? opts->max_depth : 0, diag, &errors);
    if (ret != 0) {
        policy_destroy(pol);
        return ret;
    }
    return load(pol, errors, opts, out, diag);
}

int ka_policy_load_default(const struct ka_policy_load_opts *opts, struct ka_policy **out,
                           struct ka_buf *diag)
{
    *out = NULL;
    struct ka_policy *pol = policy_new();
    if (pol == NULL) {
        return KA_ENOMEM;
    }
    return load(pol, 0, opts, out, diag);
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

static int load_file(struct ka_policy *pol, const char *path, unsigned max_depth,
                     struct ka_buf *diag, int *errors)
{
    struct ka_buf data;
    ka_buf_init(&data, KA_MAX_POLICY_FILE);
    int ret = ka_buf_read_file(&data, path);
    if (ret != 0) {
        note_at(diag, path, 1, 1,
                "cannot read: ", ret == KA_ELIMIT ? "file larger than 1 MiB" : ka_strerror(ret));
        ka_buf_free(&data);
        (*errors)++;
        return ret == KA_ENOMEM ? ret : 0;
    }
    ret = add_source(pol, path, data.data, data.len, max_depth, diag, errors);
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
    int errors = 0, ret = 0;
    if (!S_ISDIR(st.st_mode)) {
        ret = load_file(pol, path, depth, diag, &errors);
    } else {
        /* sorted: a deterministic merge order; one file past the limit, which load() refuses */
        struct ka_file_list names;
        ret = ka_file_list_dir(path, is_policy_file, KA_MAX_POLICY_FILES + 1, &names);
        if (ret != 0) {
            policy_destroy(pol);
            return ret == KA_ENOMEM ? ret : KA_EIO;
        }
        size_t n = names.n;
        for (size_t i = 0; i < n && ret == 0; i++) {
            char full[4096];
            size_t plen = strlen(path);
            snprintf(full, sizeof(full), "%s%s%s", path,
                     plen > 0 && path[plen - 1] == '/' ? "" : "/", names.names[i]);
            ret = load_file(pol, full, depth, diag, &errors);
        }
        ka_file_list_free(&names);
        if (ret == 0 && n == 0) {
            note_at(diag, path, 0, 0, "", "no *.yaml, *.yml or *.json policy files");
            errors++;
        }
    }
    if (ret != 0) {
        policy_destroy(pol);
        return ret;
    }
    return load(pol, errors, opts, out, diag);
}

int ka_policy_lint_path(const char *path, struct ka_buf *diag, size_t *warnings)
{
    struct ka_policy *p = NULL;
    int ret = ka_policy_load_path(path, NULL, &p, diag);
    *warnings = p != NULL ? p->n_warnings : 0;
    ka_policy_unref(p);
    return ret;
}

/* ------------------------------------------------------------------------------------------
 * The effective policy, with origins (`kadmit policy show`)
 */

/* Adds `key: text` to `origins`, the text being where `o` says, or `dflt` without origin. */
static int add_origin(const struct ka_policy *p, cJSON *origins, const char *key, const cJSON *o,
                      const char *dflt)
{
    char text[600];
    if (o != NULL) {
        origin_text(p, o, text, sizeof(text));
    } else {
        snprintf(text, sizeof(text), "%s", dflt);
    }
    return cJSON_AddStringToObject(origins, key, text) != NULL ? 0 : KA_ENOMEM;
}

/* Adds a copy of `v` (JSON null when v is NULL) under `key`. */
static int add_copy(cJSON *obj, const char *key, const cJSON *v)
{
    cJSON *copy = v != NULL ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
    if (copy == NULL || !cJSON_AddItemToObject(obj, key, copy)) {
        cJSON_Delete(copy);
        return KA_ENOMEM;
    }
    return 0;
}

/* One rule and its origins; `x` NULL for a catalogue rule the policy does not have. */
static int effective_rule(const struct ka_policy *p, const struct ka_rule *r,
                          const struct rule_extra *x, cJSON *rules, cJSON *all_origins)
{
    cJSON *rule = cJSON_CreateObject(), *origins = cJSON_CreateObject();
    if (rule == NULL || origins == NULL || !cJSON_AddItemToArray(rules, rule)) {
        cJSON_Delete(rule);
        cJSON_Delete(origins);
        return KA_ENOMEM;
    }
    if (!cJSON_AddItemToArray(all_origins, origins)) {
        cJSON_Delete(origins);
        return KA_ENOMEM;
    }
    const cJSON *o = x != NULL ? x->origins : NULL;
    const char *unset = x != NULL ? "(not set)" : "(not in this policy)";
    const char *dflt = x != NULL ? "(default)" : "(not in this policy)";
    int ret = KA_ENOMEM;
    if (cJSON_AddStringToObject(rule, "id", r->def->id) == NULL ||
        cJSON_AddStringToObject(rule, "action", ka_action_name(r->action)) == NULL ||
        add_origin(p, origins, "action", cJSON_GetObjectItemCaseSensitive(o, "action"), dflt) !=
            0) {
        return ret;
    }
    if (r->def->mutating &&
        (cJSON_AddStringToObject(rule, "target", r->target_templates ? "templates" : "pods") ==
             NULL ||
         add_origin(p, origins, "target", cJSON_GetObjectItemCaseSensitive(o, "target"), dflt) !=
             0)) {
        return ret;
    }
    if (x != NULL && x->description != NULL &&
        (add_copy(rule, "description", x->description) != 0 ||
         add_origin(p, origins, "description", cJSON_GetObjectItemCaseSensitive(o, "description"),
                    dflt) != 0)) {
        return ret;
    }
    if (add_copy(rule, "match", r->match) != 0 ||
        add_origin(p, origins, "match", cJSON_GetObjectItemCaseSensitive(o, "match"), unset) != 0 ||
        add_copy(rule, "exclude", r->exclude) != 0 ||
        add_origin(p, origins, "exclude", cJSON_GetObjectItemCaseSensitive(o, "exclude"), unset) !=
            0) {
        return ret;
    }
    cJSON *exceptions = cJSON_AddArrayToObject(rule, "exceptions");
    cJSON *ex_origins = cJSON_AddArrayToObject(origins, "exceptions");
    const cJSON *e, *eo = cJSON_GetObjectItemCaseSensitive(o, "exceptions");
    if (exceptions == NULL || ex_origins == NULL) {
        return ret;
    }
    eo = eo != NULL ? eo->child : NULL;
    cJSON_ArrayForEach(e, r->exceptions)
    {
        char text[600];
        origin_text(p, eo, text, sizeof(text));
        cJSON *copy = cJSON_Duplicate(e, 1);
        if (copy == NULL || !cJSON_AddItemToArray(exceptions, copy) ||
            !cJSON_AddItemToArray(ex_origins, cJSON_CreateString(text))) {
            cJSON_Delete(copy);
            return ret;
        }
        eo = eo != NULL ? eo->next : NULL;
    }
    const cJSON *po = cJSON_GetObjectItemCaseSensitive(o, "params");
    cJSON *param_origins = cJSON_AddObjectToObject(origins, "params");
    if (param_origins == NULL || add_copy(rule, "params", r->params) != 0) {
        return ret;
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, r->params)
    {
        if (add_origin(p, param_origins, v->string, cJSON_GetObjectItemCaseSensitive(po, v->string),
                       dflt) != 0) {
            return ret;
        }
    }
    return 0;
}

int ka_policy_effective(const struct ka_policy *p, cJSON **out)
{
    int ret = KA_ENOMEM;
    cJSON *doc = cJSON_CreateObject();
    *out = NULL;
    if (doc == NULL || cJSON_AddStringToObject(doc, "apiVersion", KA_POLICY_API_VERSION) == NULL ||
        cJSON_AddStringToObject(doc, "kind", "Policy") == NULL) {
        goto free_doc;
    }
    cJSON *meta = cJSON_AddObjectToObject(doc, "metadata");
    cJSON *spec = cJSON_AddObjectToObject(doc, "spec");
    cJSON *status = cJSON_AddObjectToObject(doc, "status");
    cJSON *exclude = spec ? cJSON_AddObjectToObject(spec, "exclude") : NULL;
    cJSON *rules = spec ? cJSON_AddArrayToObject(spec, "rules") : NULL;
    cJSON *origins = status ? cJSON_AddObjectToObject(status, "origins") : NULL;
    cJSON *rule_origins = origins ? cJSON_AddArrayToObject(origins, "rules") : NULL;
    if (meta == NULL || cJSON_AddStringToObject(meta, "name", ka_policy_name(p)) == NULL ||
        exclude == NULL || rules == NULL || rule_origins == NULL ||
        cJSON_AddStringToObject(status, "sources", p->source) == NULL ||
        add_copy(exclude, "namespaces", p->excluded) != 0 ||
        add_origin(p, origins, "exclude.namespaces", p->excluded_origin, "(default)") != 0) {
        goto free_doc;
    }
    for (size_t i = 0; i < p->n_rules; i++) {
        if (effective_rule(p, &p->rules[i], &p->extra[i], rules, rule_origins) != 0) {
            goto free_doc;
        }
    }
    /* Catalogue rules the policy does not list are off: list them too, with their defaults. */
    for (size_t d = 0; ka_rule_defs[d] != NULL; d++) {
        int listed = 0;
        for (size_t i = 0; i < p->n_rules; i++) {
            listed |= p->rules[i].def == ka_rule_defs[d];
        }
        if (listed) {
            continue;
        }
        struct ka_rule absent;
        struct rule_extra x;
        int r = rule_init(&absent, &x, ka_rule_defs[d]);
        absent.action = KA_ACTION_OFF;
        if (r == 0) {
            r = effective_rule(p, &absent, NULL, rules, rule_origins);
        }
        absent.def = NULL; /* no state was loaded: skip the unload hook */
        rule_free(&absent, &x);
        if (r != 0) {
            goto free_doc;
        }
    }
    *out = doc;
    return 0;
free_doc:
    cJSON_Delete(doc);
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
