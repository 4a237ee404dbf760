/*
 * Audits: loading (manifests, snapshots, reviews, decision logs), counts and JSON. The report
 * view and the text, Markdown, HTML and PolicyReport renderers are in audit_report.c.
 */
#include "kadmit/audit.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "kadmit/error.h"
#include "kadmit/file.h"
#include "kadmit/json.h"
#include "kadmit/limits.h"
#include "kadmit/manifest.h"
#include "kadmit/rules.h"
#include "kadmit/select.h"

/* A decision-log line longer than this is skipped (the writer caps lines at 256 KiB). */
#define KA_AUDIT_MAX_LOG_LINE (512u * 1024u)
/* One spooled result: its findings are bounded by the review summary's own limits. */
#define KA_AUDIT_MAX_SPOOL_RECORD (64u * 1024u * 1024u)

/* ------------------------------------------------------------------------------------------
 * Items
 */

void ka_audit_init(struct ka_audit *a, const struct ka_policy *policy)
{
    memset(a, 0, sizeof(*a));
    a->policy = policy;
    a->policy_name = "checklist";
    a->default_namespace = "default";
    ka_buf_init(&a->spool_buf, KA_AUDIT_MAX_SPOOL_RECORD);
}

static void item_free(struct ka_audit_item *it)
{
    for (size_t f = 0; f < it->n_findings; f++) {
        free(it->findings[f].rule);
        free(it->findings[f].message);
        free(it->findings[f].container);
        free(it->findings[f].path);
    }
    free(it->findings);
    for (size_t m = 0; m < it->n_mutations; m++) {
        free(it->mutations[m].rule);
        free(it->mutations[m].path);
    }
    free(it->mutations);
    for (size_t e = 0; e < it->n_exemptions; e++) {
        free(it->exemptions[e].rule);
        free(it->exemptions[e].exception);
        free(it->exemptions[e].reason);
    }
    free(it->exemptions);
    free(it->owner_uid);
    free(it->owner_ref);
    it->owner_uid = it->owner_ref = NULL;
    it->findings = NULL;
    it->mutations = NULL;
    it->exemptions = NULL;
    it->n_findings = it->n_mutations = it->n_exemptions = 0;
}

void ka_audit_free(struct ka_audit *a)
{
    for (size_t i = 0; i < a->n_items; i++) {
        item_free(&a->items[i]);
    }
    free(a->items);
    free(a->scratch);
    for (size_t i = 0; i < a->cap_identities; i++) {
        free(a->identities[i]);
    }
    free(a->identities);
    if (a->spool != NULL) {
        fclose(a->spool);
    }
    a->spool = NULL;
    a->n_spooled = 0;
    ka_buf_free(&a->spool_buf);
    ka_audit_tallies_free(&a->released_by_rule);
    ka_audit_tallies_free(&a->released_by_namespace);
    cJSON_Delete(a->role_bindings);
    cJSON_Delete(a->deferred_roles);
    ka_relation_index_free(&a->relations);
    a->role_bindings = a->deferred_roles = NULL;
    a->identities = NULL;
    a->cap_identities = a->n_identities = 0;
    a->items = NULL;
    a->scratch = NULL;
    a->n_items = a->cap_items = 0;
}

/* Control characters (ESC sequences from a hostile decision log or manifest) never reach a
 * terminal or a report: each becomes '?'. */
static void scrub(char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            *s = '?';
        }
    }
}

static void item_scrub(struct ka_audit_item *it)
{
    char *fields[] = {it->source, it->api_version, it->kind,      it->namespace_,
                      it->name,   it->uid,         it->error_msg, it->time,
                      it->user,   it->operation,   it->endpoint};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        scrub(fields[i]);
    }
}

static struct ka_audit_item *new_item(struct ka_audit *a, enum ka_audit_origin origin,
                                      const char *source)
{
    if (ka_array_grow(&a->items, &a->cap_items, a->n_items + 1, sizeof(*a->items)) != 0) {
        return NULL;
    }
    struct ka_audit_item *it = &a->items[a->n_items++];
    memset(it, 0, sizeof(*it));
    it->origin = origin;
    snprintf(it->source, sizeof(it->source), "%s", source);
    return it;
}

/* An item that could not be read: an object (counted in n_errors) or a decision-log line. */
static int add_failed(struct ka_audit *a, enum ka_audit_origin origin, const char *source,
                      const char *msg)
{
    struct ka_audit_item *it = new_item(a, origin, source);
    if (it == NULL) {
        return KA_ENOMEM;
    }
    it->error = 1;
    snprintf(it->error_msg, sizeof(it->error_msg), "%s", msg);
    item_scrub(it);
    a->n_errors += origin == KA_AUDIT_OBJECT;
    return 0;
}

static int add_error(struct ka_audit *a, const char *source, const char *msg)
{
    return add_failed(a, KA_AUDIT_OBJECT, source, msg);
}

static char *dup_or_empty(const char *s)
{
    char *d = strdup(s != NULL ? s : "");
    scrub(d);
    return d;
}

/* Append one finding with copies of the strings. */
static int item_add_finding(struct ka_audit_item *it, const char *rule, enum ka_action action,
                            const char *message, const char *container, const char *path,
                            enum ka_stale stale)
{
    if (ka_array_resize(&it->findings, it->n_findings + 1, sizeof(*it->findings)) != 0) {
        return KA_ENOMEM;
    }
    struct ka_audit_finding *f = &it->findings[it->n_findings];
    f->action = action;
    f->stale = stale;
    f->rule = dup_or_empty(rule);
    f->message = dup_or_empty(message);
    f->container = dup_or_empty(container);
    f->path = dup_or_empty(path);
    it->n_findings++; /* counted even when a strdup failed: item_free() frees what is there */
    if (f->rule == NULL || f->message == NULL || f->container == NULL || f->path == NULL) {
        return KA_ENOMEM;
    }
    return 0;
}

static int item_add_mutation(struct ka_audit_item *it, const char *rule, const char *op,
                             const char *path)
{
    if (ka_array_resize(&it->mutations, it->n_mutations + 1, sizeof(*it->mutations)) != 0) {
        return KA_ENOMEM;
    }
    struct ka_audit_mutation *m = &it->mutations[it->n_mutations];
    snprintf(m->op, sizeof(m->op), "%s", op != NULL ? op : "");
    scrub(m->op);
    m->rule = dup_or_empty(rule);
    m->path = dup_or_empty(path);
    it->n_mutations++;
    return m->rule == NULL || m->path == NULL ? KA_ENOMEM : 0;
}

static int item_add_exemption(struct ka_audit_item *it, const char *rule, const char *exception,
                              const char *reason)
{
    if (ka_array_resize(&it->exemptions, it->n_exemptions + 1, sizeof(*it->exemptions)) != 0) {
        return KA_ENOMEM;
    }
    struct ka_audit_exemption *e = &it->exemptions[it->n_exemptions++];
    e->rule = dup_or_empty(rule);
    e->exception = dup_or_empty(exception);
    e->reason = dup_or_empty(reason);
    return e->rule == NULL || e->exception == NULL || e->reason == NULL ? KA_ENOMEM : 0;
}

/* Keep only what reports need from a (large, fixed-size) review summary. */
static int item_take_summary(struct ka_audit_item *it, const struct ka_review_summary *s)
{
    int ret = 0;
    it->allowed = s->allowed;
    it->n_dropped_findings = s->n_dropped_findings;
    for (size_t f = 0; ret == 0 && f < s->n_findings; f++) {
        const struct ka_finding *fd = &s->findings[f];
        ret = item_add_finding(it, fd->rule, fd->action, fd->message, fd->container, fd->path,
                               fd->stale);
    }
    for (size_t m = 0; ret == 0 && m < s->n_mutations; m++) {
        ret = item_add_mutation(it, s->mutations[m].rule, s->mutations[m].op, s->mutations[m].path);
    }
    for (size_t e = 0; ret == 0 && e < s->n_exemptions; e++) {
        ret = item_add_exemption(it, s->exemptions[e].rule, s->exemptions[e].exception,
                                 s->exemptions[e].reason);
    }
    return ret;
}

/* ------------------------------------------------------------------------------------------
 * Spool: the results of objects waiting for their controller, in a temporary file
 *
 * A record is its length (size_t) and then NUL-terminated fields: the owner keys, the names,
 * the verdict, and per finding, mutation and exemption their strings. Numbers are decimal.
 */

FILE *ka_audit_tmpfile(void)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/kadmit-audit-XXXXXX", dir != NULL && dir[0] ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        return NULL;
    }
    (void)unlink(path); /* gone when the audit ends, however it ends */
    FILE *f = fdopen(fd, "w+b");
    if (f == NULL) {
        close(fd);
    }
    return f;
}

static int put_str(struct ka_buf *b, const char *s)
{
    return ka_buf_add(b, s != NULL ? s : "", strlen(s != NULL ? s : "") + 1);
}

static int put_num(struct ka_buf *b, size_t n)
{
    char num[32];
    snprintf(num, sizeof(num), "%zu", n);
    return put_str(b, num);
}

static int spool_put(FILE *f, const struct ka_audit_item *it, struct ka_buf *b)
{
    ka_buf_reset(b);
    const char *head[] = {it->owner_uid,  it->owner_ref, it->source, it->api_version, it->kind,
                          it->namespace_, it->name,      it->uid,    it->operation};
    int ret = 0;
    for (size_t i = 0; ret == 0 && i < sizeof(head) / sizeof(head[0]); i++) {
        ret = put_str(b, head[i]);
    }
    ret = ret ? ret : put_num(b, (size_t)it->allowed);
    ret = ret ? ret : put_num(b, it->n_dropped_findings);
    ret = ret ? ret : put_num(b, it->n_findings);
    for (size_t i = 0; ret == 0 && i < it->n_findings; i++) {
        const struct ka_audit_finding *fd = &it->findings[i];
        ret = put_str(b, fd->rule);
        ret = ret ? ret : put_num(b, (size_t)fd->action);
        ret = ret ? ret : put_str(b, fd->message);
        ret = ret ? ret : put_str(b, fd->container);
        ret = ret ? ret : put_str(b, fd->path);
        ret = ret ? ret : put_num(b, (size_t)fd->stale);
    }
    ret = ret ? ret : put_num(b, it->n_mutations);
    for (size_t i = 0; ret == 0 && i < it->n_mutations; i++) {
        ret = put_str(b, it->mutations[i].rule);
        ret = ret ? ret : put_str(b, it->mutations[i].op);
        ret = ret ? ret : put_str(b, it->mutations[i].path);
    }
    ret = ret ? ret : put_num(b, it->n_exemptions);
    for (size_t i = 0; ret == 0 && i < it->n_exemptions; i++) {
        ret = put_str(b, it->exemptions[i].rule);
        ret = ret ? ret : put_str(b, it->exemptions[i].exception);
        ret = ret ? ret : put_str(b, it->exemptions[i].reason);
    }
    if (ret == 0 &&
        (fwrite(&b->len, sizeof(b->len), 1, f) != 1 || fwrite(b->data, 1, b->len, f) != b->len)) {
        ret = KA_EIO;
    }
    return ret;
}

struct spool_cursor {
    const char *p, *end;
    int bad;
};

static const char *get_str(struct spool_cursor *c)
{
    const char *nul = c->p < c->end ? memchr(c->p, '\0', (size_t)(c->end - c->p)) : NULL;
    if (nul == NULL) {
        c->bad = 1;
        return "";
    }
    const char *s = c->p;
    c->p = nul + 1;
    return s;
}

static size_t get_num(struct spool_cursor *c)
{
    return (size_t)strtoull(get_str(c), NULL, 10);
}

/* Read the next record into *it (zeroed first; item_free() it). 1: read, 0: end. */
static int spool_get(FILE *f, struct ka_audit_item *it, struct ka_buf *b)
{
    size_t len;
    memset(it, 0, sizeof(*it));
    if (fread(&len, sizeof(len), 1, f) != 1) {
        return ferror(f) ? KA_EIO : 0;
    }
    ka_buf_reset(b);
    if (len > b->max) {
        return KA_EINTERNAL;
    }
    char chunk[4096];
    for (size_t left = len; left > 0;) {
        size_t n = fread(chunk, 1, left < sizeof(chunk) ? left : sizeof(chunk), f);
        if (n == 0 || ka_buf_add(b, chunk, n) != 0) {
            return n == 0 ? KA_EIO : KA_ENOMEM;
        }
        left -= n;
    }
    struct spool_cursor c = {b->data, b->data + len, 0};
    const char *owner_uid = get_str(&c), *owner_ref = get_str(&c);
    it->origin = KA_AUDIT_OBJECT;
    it->owner_uid = owner_uid[0] ? strdup(owner_uid) : NULL;
    it->owner_ref = strdup(owner_ref);
    char *fixed[] = {it->source, it->api_version, it->kind,     it->namespace_,
                     it->name,   it->uid,         it->operation};
    const size_t sizes[] = {sizeof(it->source),     sizeof(it->api_version), sizeof(it->kind),
                            sizeof(it->namespace_), sizeof(it->name),        sizeof(it->uid),
                            sizeof(it->operation)};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        snprintf(fixed[i], sizes[i], "%s", get_str(&c));
    }
    it->allowed = get_num(&c) != 0;
    it->n_dropped_findings = get_num(&c);
    int ret = it->owner_ref == NULL || (owner_uid[0] && it->owner_uid == NULL) ? KA_ENOMEM : 0;
    for (size_t i = 0, n = get_num(&c); ret == 0 && !c.bad && i < n; i++) {
        const char *rule = get_str(&c);
        enum ka_action action = (enum ka_action)get_num(&c);
        const char *message = get_str(&c), *container = get_str(&c), *path = get_str(&c);
        ret = item_add_finding(it, rule, action, message, container, path,
                               (enum ka_stale)get_num(&c));
    }
    for (size_t i = 0, n = get_num(&c); ret == 0 && !c.bad && i < n; i++) {
        const char *rule = get_str(&c), *op = get_str(&c);
        ret = item_add_mutation(it, rule, op, get_str(&c));
    }
    for (size_t i = 0, n = get_num(&c); ret == 0 && !c.bad && i < n; i++) {
        const char *rule = get_str(&c), *exception = get_str(&c);
        ret = item_add_exemption(it, rule, exception, get_str(&c));
    }
    return ret != 0 ? ret : c.bad ? KA_EINTERNAL : 1;
}

static const char *str_at(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int emit_ready(struct ka_audit *a);
static void count_item(struct ka_audit_counts *c, const struct ka_audit_item *it);

/* ------------------------------------------------------------------------------------------
 * Owners: identities of the workloads evaluated (a set of strings), and who owns what
 */

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    }
    return h;
}

static int identity_has(const struct ka_audit *a, const char *key)
{
    if (a->cap_identities == 0 || key == NULL) {
        return 0;
    }
    for (size_t i = hash_str(key) & (a->cap_identities - 1); a->identities[i] != NULL;
         i = (i + 1) & (a->cap_identities - 1)) {
        if (strcmp(a->identities[i], key) == 0) {
            return 1;
        }
    }
    return 0;
}

static int identity_add(struct ka_audit *a, const char *key)
{
    if (identity_has(a, key)) {
        return 0;
    }
    if ((a->n_identities + 1) * 2 > a->cap_identities) {
        size_t cap = a->cap_identities ? a->cap_identities * 2 : 256;
        char **v = calloc(cap, sizeof(*v));
        if (v == NULL) {
            return KA_ENOMEM;
        }
        for (size_t i = 0; i < a->cap_identities; i++) {
            char *k = a->identities[i];
            if (k != NULL) {
                size_t j = hash_str(k) & (cap - 1);
                while (v[j] != NULL) {
                    j = (j + 1) & (cap - 1);
                }
                v[j] = k;
            }
        }
        free(a->identities);
        a->identities = v;
        a->cap_identities = cap;
    }
    char *copy = strdup(key);
    if (copy == NULL) {
        return KA_ENOMEM;
    }
    size_t j = hash_str(key) & (a->cap_identities - 1);
    while (a->identities[j] != NULL) {
        j = (j + 1) & (a->cap_identities - 1);
    }
    a->identities[j] = copy;
    a->n_identities++;
    return 0;
}

/* "uid:<uid>" (snapshots) and "ref:Kind/namespace/name" (manifests have no uids). */
static void identity_keys(const char *uid, const char *kind, const char *ns, const char *name,
                          char *by_uid, size_t uid_len, char *by_ref, size_t ref_len)
{
    snprintf(by_uid, uid_len, "uid:%s", uid != NULL ? uid : "");
    snprintf(by_ref, ref_len, "ref:%s/%s/%s", kind, ns, name);
}

static int identity_add_object(struct ka_audit *a, const char *uid, const char *kind,
                               const char *ns, const char *name)
{
    if (ka_kind_from_name(kind) == KA_KIND_POD) {
        return 0; /* a Pod controls nothing: the set holds only possible controllers */
    }
    char by_uid[200], by_ref[600];
    identity_keys(uid, kind, ns, name, by_uid, sizeof(by_uid), by_ref, sizeof(by_ref));
    int ret = uid != NULL && uid[0] != '\0' ? identity_add(a, by_uid) : 0;
    return ret ? ret : identity_add(a, by_ref);
}

/* The controller in metadata.ownerReferences when it is of a kind kadmit checks (a ReplicaSet
 * of a Deployment, a Pod of a ReplicaSet/StatefulSet/DaemonSet/Job, a Job of a CronJob). */
static const cJSON *checked_controller(const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *refs = cJSON_GetObjectItemCaseSensitive(meta, "ownerReferences");
    const cJSON *ref;
    cJSON_ArrayForEach(ref, refs)
    {
        const char *kind = str_at(ref, "kind");
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller")) && kind != NULL &&
            str_at(ref, "name") != NULL && (ka_kind_from_name(kind) & KA_KINDS_WORKLOAD) != 0) {
            return ref;
        }
    }
    return NULL;
}

static int owner_evaluated(const struct ka_audit *a, const char *owner_uid, const char *owner_ref)
{
    return (owner_uid != NULL && identity_has(a, owner_uid)) || identity_has(a, owner_ref);
}

/* The spooled objects, in input order: owned ones counted, the others emitted. */
static int spool_drain(struct ka_audit *a)
{
    if (a->spool == NULL || a->n_spooled == 0) {
        return 0;
    }
    int ret = fflush(a->spool) == 0 && fseek(a->spool, 0, SEEK_SET) == 0 ? 0 : KA_EIO;
    struct ka_audit_item it;
    while (ret == 0 && (ret = spool_get(a->spool, &it, &a->spool_buf)) == 1) {
        if (owner_evaluated(a, it.owner_uid, it.owner_ref)) {
            a->n_owned++;
            ret = 0;
        } else {
            ret = a->emit(a->emit_ctx, a, &it);
            if (ret == 0) {
                count_item(&a->emitted, &it);
            } else if (ret == KA_AUDIT_KEEP) {
                struct ka_audit_item *kept = new_item(a, KA_AUDIT_OBJECT, "");
                ret = kept == NULL ? KA_ENOMEM : 0;
                if (kept != NULL) {
                    it.kept = 1;
                    *kept = it; /* the item's strings move with it */
                    memset(&it, 0, sizeof(it));
                }
            }
        }
        item_free(&it);
    }
    item_free(&it);
    a->n_spooled = 0;
    a->n_waiting = a->n_items;
    return ret;
}

static int add_object(struct ka_audit *a, const char *source, cJSON *obj, const char *ns_hint,
                      unsigned depth);
static int add_relations(struct ka_audit *a);

/* The Roles and ClusterRoles held back until every binding of the input was read. */
static int add_deferred_roles(struct ka_audit *a)
{
    cJSON *roles = a->deferred_roles;
    a->deferred_roles = NULL;
    a->finished = 1; /* so that add_object() evaluates them now */
    int ret = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, roles)
    {
        ret = add_object(a, str_at(d, "source"), cJSON_GetObjectItemCaseSensitive(d, "object"),
                         str_at(d, "namespace"), 0);
        if (ret != 0) {
            break;
        }
    }
    cJSON_Delete(roles);
    return ret;
}

static void tally_name(struct ka_audit_name_tally *t, const char *name);

/* One relation result becomes an item naming its subject. */
static int add_relation_result(void *ctx, const struct ka_relation_result *r)
{
    struct ka_audit *a = ctx;
    struct ka_audit_item *it = new_item(a, KA_AUDIT_OBJECT, "relations");
    if (it == NULL) {
        return KA_ENOMEM;
    }
    snprintf(it->relation, sizeof(it->relation), "%s", r->rule);
    snprintf(it->api_version, sizeof(it->api_version), "%s", r->api_version);
    snprintf(it->kind, sizeof(it->kind), "%s", r->kind);
    snprintf(it->namespace_, sizeof(it->namespace_), "%s", r->namespace_);
    snprintf(it->name, sizeof(it->name), "%s", r->name);
    it->not_evaluated = r->not_evaluated;
    if (r->not_evaluated) { /* "pdb-coverage (no PodDisruptionBudget)", for the summary */
        const char *kind = strstr(r->reason, "has no ");
        char key[64];
        snprintf(key, sizeof(key), "%s (no %.*s)", r->rule,
                 kind != NULL ? (int)strcspn(kind + 7, " ") : 1, kind != NULL ? kind + 7 : "?");
        tally_name(&a->not_evaluated, key);
    }
    snprintf(it->error_msg, sizeof(it->error_msg), "%s", r->reason);
    it->allowed = 1;
    for (size_t f = 0; f < r->n_findings; f++) {
        it->allowed &= r->action != KA_ACTION_ENFORCE;
        if (item_add_finding(it, r->rule, r->action, r->findings[f].message, "", "",
                             KA_STALE_NONE) != 0) {
            return KA_ENOMEM;
        }
    }
    it->n_dropped_findings = r->n_dropped;
    if (r->exception[0] != '\0' &&
        item_add_exemption(it, r->rule, r->exception, r->exception_reason) != 0) {
        return KA_ENOMEM;
    }
    item_scrub(it);
    return emit_ready(a); /* streaming: written and released at once */
}

/* After the objects: the relation rules over the index, once. */
static int add_relations(struct ka_audit *a)
{
    if (a->relations_done || a->policy == NULL) {
        return 0;
    }
    a->relations_done = 1;
    if (a->n_relation_overflow > 0) {
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "relations not evaluated: objects the relation index could not take: %zu (the "
                 "first: %s)",
                 a->n_relation_overflow, a->relation_error);
        return add_error(a, "relations", msg);
    }
    size_t n_rules = 0;
    const struct ka_rule *rules = ka_policy_rules(a->policy, &n_rules);
    return ka_relations_evaluate(&a->relations, rules, n_rules, add_relation_result, a);
}

/* Index an object for the relations (relations.h). `s`: its evaluation (PDBs and HPAs pass or
 * fail their own rule), or NULL for kinds kadmit does not evaluate. */
static int index_relations(struct ka_audit *a, const cJSON *obj, const char *kind, const char *ns,
                           const struct ka_review_summary *s)
{
    if (a->policy == NULL || a->relations_done || !ka_relation_reads(kind)) {
        return 0;
    }
    enum ka_relation_verdict verdict = KA_REL_PASSES;
    for (size_t f = 0; s != NULL && f < s->n_findings; f++) {
        if (strcmp(s->findings[f].rule, "pdb-availability") == 0 ||
            strcmp(s->findings[f].rule, "hpa-custom-metrics") == 0) {
            verdict = KA_REL_FAILS;
        }
    }
    size_t n_rules = 0;
    const struct ka_rule *rules = ka_policy_rules(a->policy, &n_rules);
    char err[256] = "";
    int ret =
        ka_relation_index_add(&a->relations, rules, n_rules, obj, ns, verdict, err, sizeof(err));
    if (ret == KA_ELIMIT) {
        if (a->n_relation_overflow++ == 0) {
            const char *name =
                str_at(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name") ?: "(unnamed)";
            snprintf(a->relation_error, sizeof(a->relation_error), "%s %s%s%.100s: %s", kind, ns,
                     ns[0] ? "/" : "", name, err);
        }
        return 0;
    }
    return ret;
}

int ka_audit_finish(struct ka_audit *a)
{
    int ret = a->finished ? 0 : add_deferred_roles(a);
    if (ret != 0) {
        return ret;
    }
    size_t kept = 0;
    for (size_t i = 0; i < a->n_items; i++) {
        struct ka_audit_item *it = &a->items[i];
        if (it->owner_ref != NULL && !it->error && !it->kept &&
            owner_evaluated(a, it->owner_uid, it->owner_ref)) {
            item_free(it);
            a->n_owned++;
            continue;
        }
        if (kept != i) {
            a->items[kept] = *it;
        }
        kept++;
    }
    a->n_items = kept;
    a->n_waiting = 0;
    a->finished = 1;
    ret = emit_ready(a);
    ret = ret ? ret : spool_drain(a);
    ret = ret ? ret : add_relations(a);
    return ret ? ret : emit_ready(a);
}

/* ------------------------------------------------------------------------------------------
 * Objects
 */

static void count_skipped(struct ka_audit *a, struct ka_audit_name_tally *t, const char *name)
{
    a->n_skipped++;
    tally_name(t, name);
}

static void tally_name(struct ka_audit_name_tally *t, const char *name)
{
    size_t i = 0;
    while (i < t->n_top && strcmp(t->top[i].name, name) != 0) {
        i++;
    }
    if (i == t->n_top) {
        if (i == KA_AUDIT_MAX_SKIPPED_KINDS) {
            t->other++;
            return;
        }
        snprintf(t->top[i].name, sizeof(t->top[i].name), "%s", name);
        scrub(t->top[i].name);
        t->n_top++;
    }
    t->top[i].n++;
    /* keep the table sorted by count (descending), then by first appearance */
    while (i > 0 && t->top[i - 1].n < t->top[i].n) {
        struct ka_audit_name_count swap = t->top[i - 1];
        t->top[i - 1] = t->top[i];
        t->top[i] = swap;
        i--;
    }
}

/* RBAC (agent-rbac): a binding's service accounts are recorded; a role waits for
 * ka_audit_finish(). Returns 1 when the object is settled (held back, or an error item). */
static int relate_rbac(struct ka_audit *a, const char *source, const cJSON *obj, enum ka_kind kind,
                       const char *ns)
{
    unsigned roles = KA_KIND_ROLE | KA_KIND_CLUSTERROLE;
    unsigned bindings = KA_KIND_ROLEBINDING | KA_KIND_CLUSTERROLEBINDING;
    cJSON **list = (kind & roles) ? &a->deferred_roles : &a->role_bindings;
    if ((kind & (roles | bindings)) == 0 || (a->finished && (kind & roles))) {
        return 0;
    }
    if (a->n_rbac_objects >= KA_AUDIT_MAX_RBAC_OBJECTS) {
        int ret = add_error(a, source,
                            "not evaluated: more Roles, ClusterRoles and bindings in one audit "
                            "than KA_AUDIT_MAX_RBAC_OBJECTS (65536); audit them in parts");
        return ret ? ret : 1;
    }
    a->n_rbac_objects++;
    if (*list == NULL && (*list = cJSON_CreateArray()) == NULL) {
        return KA_ENOMEM;
    }
    if (kind & bindings) {
        return ka_rbac_record_bindings(obj, ns, a->role_bindings);
    }
    cJSON *d = cJSON_CreateObject();
    cJSON *copy = cJSON_Duplicate(obj, 1);
    if (d == NULL || !cJSON_AddItemToArray(*list, d) || copy == NULL ||
        !cJSON_AddItemToObject(d, "object", copy) ||
        cJSON_AddStringToObject(d, "source", source) == NULL ||
        cJSON_AddStringToObject(d, "namespace", ns) == NULL) {
        cJSON_Delete(copy);
        return KA_ENOMEM;
    }
    return 1;
}

static int add_list(struct ka_audit *a, const char *source, cJSON *items, const char *ns_hint,
                    unsigned depth)
{
    cJSON *x;
    size_t i = 0;
    cJSON_ArrayForEach(x, items)
    {
        char src[600];
        snprintf(src, sizeof(src), "%.500s#items[%zu]", source, i++);
        int ret = add_object(a, src, x, ns_hint, depth + 1);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

static int add_object(struct ka_audit *a, const char *source, cJSON *obj, const char *ns_hint,
                      unsigned depth)
{
    if (depth > 4) {
        return add_error(a, source, "lists nested too deeply");
    }
    if (!cJSON_IsObject(obj)) {
        return add_error(a, source, "document is not a Kubernetes object (not a mapping)");
    }
    const char *kind = str_at(obj, "kind");
    if (kind == NULL && cJSON_GetObjectItemCaseSensitive(obj, "metadata") == NULL) {
        /* no kind and no metadata: YAML of another tool, counted under its file's name */
        char file[600];
        snprintf(file, sizeof(file), "%s", source);
        char *cut = strchr(file, '#');
        if (cut != NULL) {
            *cut = '\0';
        }
        cut = strrchr(file, ':');
        if (cut != NULL && cut[1] != '\0' && strspn(cut + 1, "0123456789") == strlen(cut + 1)) {
            *cut = '\0';
        }
        const char *base = strrchr(file, '/');
        count_skipped(a, &a->skipped_not_objects, base != NULL ? base + 1 : file);
        return 0;
    }
    char why[200];
    if (kind == NULL && ka_object_identity_error(obj, why, sizeof(why))) {
        return add_error(a, source, why);
    }
    if (strcmp(kind, "List") == 0 ||
        (strlen(kind) > 4 && strcmp(kind + strlen(kind) - 4, "List") == 0 &&
         cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(obj, "items")))) {
        return add_list(a, source, cJSON_GetObjectItemCaseSensitive(obj, "items"), ns_hint, depth);
    }
    if (strcmp(kind, "AdmissionReview") == 0) {
        cJSON *req = cJSON_GetObjectItemCaseSensitive(obj, "request");
        cJSON *inner = cJSON_GetObjectItemCaseSensitive(req, "object");
        if (!cJSON_IsObject(inner)) {
            return add_error(a, source, "AdmissionReview has no request.object");
        }
        return add_object(a, source, inner, str_at(req, "namespace"), depth + 1);
    }
    if (ka_object_identity_error(obj, why, sizeof(why))) {
        return add_error(a, source, why);
    }
    const char *api_version = str_at(obj, "apiVersion");
    if (ka_kind_of(api_version, kind) == KA_KIND_OTHER) {
        /* not checked on its own, but relations read it: indexed, and counted as skipped */
        if (ka_relation_kind_bit(kind) != 0) {
            const char *ons =
                str_at(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "namespace");
            ons = strcmp(kind, "StorageClass") == 0       ? ""
                  : ons != NULL && ons[0] != '\0'         ? ons
                  : ns_hint != NULL && ns_hint[0] != '\0' ? ns_hint
                  : a->default_namespace != NULL          ? a->default_namespace
                                                          : "default";
            int excluded = a->policy != NULL && ons[0] != '\0' &&
                           ka_glob_match_any(ka_policy_excluded_namespaces(a->policy), ons, 0);
            int ret = excluded ? 0 : index_relations(a, obj, kind, ons, NULL);
            if (ret != 0) {
                return ret;
            }
        }
        /* a custom resource named like a checked kind is told apart: "batch.volcano.sh/v1 Job" */
        int named_like = ka_kind_from_name(kind) != KA_KIND_OTHER; /* so it has an apiVersion */
        char label[128];
        snprintf(label, sizeof(label), "%.80s %.40s", named_like ? str_at(obj, "apiVersion") : "",
                 kind);
        count_skipped(a, &a->skipped_kinds, named_like ? label : kind);
        return 0;
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *ns = str_at(meta, "namespace");
    if ((ka_kind_from_name(kind) & KA_KINDS_CLUSTER_SCOPED) != 0) {
        ns = "";
    } else if (ns == NULL || ns[0] == '\0') {
        ns = ns_hint != NULL && ns_hint[0] != '\0' ? ns_hint
             : a->default_namespace != NULL        ? a->default_namespace
                                                   : "default";
    }
    if (a->policy != NULL && ns != NULL && ns[0] != '\0' &&
        ka_glob_match_any(ka_policy_excluded_namespaces(a->policy), ns, 0)) {
        count_skipped(a, &a->skipped_namespaces, ns); /* as the webhook: no rule looks at it */
        return 0;
    }
    int held = relate_rbac(a, source, obj, ka_kind_from_name(kind), ns);
    if (held != 0) {
        return held < 0 ? held : 0;
    }
    const char *name = str_at(meta, "name");
    const char *gen = str_at(meta, "generateName");
    const char *uid = str_at(meta, "uid");
    char label[300];
    snprintf(label, sizeof(label), "%s%s", name ? name : (gen ? gen : "(unnamed)"),
             name == NULL && gen != NULL ? "*" : "");
    /* an owned object whose controller was already evaluated is not evaluated again; one whose
     * controller comes later (or never) is evaluated and settled by ka_audit_finish() */
    const cJSON *owner = a->include_owned ? NULL : checked_controller(obj);
    char owner_uid[200] = "", owner_ref[600] = "";
    if (owner != NULL) {
        identity_keys(str_at(owner, "uid"), str_at(owner, "kind"), ns, str_at(owner, "name"),
                      owner_uid, sizeof(owner_uid), owner_ref, sizeof(owner_ref));
        if (str_at(owner, "uid") == NULL) {
            owner_uid[0] = '\0';
        }
        if (owner_evaluated(a, owner_uid[0] ? owner_uid : NULL, owner_ref)) {
            a->n_owned++;
            return identity_add_object(a, uid, kind, ns, label);
        }
    }
    if (a->policy == NULL) {
        return add_error(a, source, "no policy to evaluate objects with");
    }
    if (a->scratch == NULL) {
        a->scratch = malloc(sizeof(*a->scratch));
        if (a->scratch == NULL) {
            return KA_ENOMEM;
        }
    }
    struct ka_audit_item *it = new_item(a, KA_AUDIT_OBJECT, source);
    if (it == NULL) {
        return KA_ENOMEM;
    }
    snprintf(it->api_version, sizeof(it->api_version), "%s", str_at(obj, "apiVersion") ?: "");
    snprintf(it->kind, sizeof(it->kind), "%s", kind);
    snprintf(it->namespace_, sizeof(it->namespace_), "%s", ns);
    snprintf(it->uid, sizeof(it->uid), "%s", uid ?: "");
    snprintf(it->operation, sizeof(it->operation), "CREATE");
    snprintf(it->name, sizeof(it->name), "%s", label);
    if (owner != NULL) {
        it->owner_uid = owner_uid[0] ? strdup(owner_uid) : NULL;
        it->owner_ref = strdup(owner_ref);
        if (it->owner_ref == NULL || (owner_uid[0] && it->owner_uid == NULL)) {
            return KA_ENOMEM;
        }
    }
    struct ka_review_summary *s = a->scratch;
    memset(s, 0, sizeof(*s));
    snprintf(s->kind, sizeof(s->kind), "%s", kind);
    snprintf(s->namespace_, sizeof(s->namespace_), "%s", it->namespace_);
    snprintf(s->operation, sizeof(s->operation), "CREATE");
    snprintf(s->name, sizeof(s->name), "%s", it->name);
    item_scrub(it);
    char err[256] = "";
    struct ka_review_opts opts = a->opts;
    opts.role_bindings = a->role_bindings;
    int ret = ka_admission_evaluate(a->policy, obj, &opts, s, err, sizeof(err));
    if (ret == KA_ENOMEM) {
        return ret;
    }
    if (ret != 0) {
        it->error = 1;
        snprintf(it->error_msg, sizeof(it->error_msg), "cannot evaluate: %s",
                 err[0] ? err : ka_strerror(ret));
        scrub(it->error_msg);
        a->n_errors++;
        return 0;
    }
    ret = identity_add_object(a, uid, kind, ns, label);
    ret = ret ? ret : index_relations(a, obj, kind, ns, s);
    return ret ? ret : item_take_summary(it, s);
}

/* Every document of one input, one at a time. */
static int add_stream(struct ka_audit *a, struct ka_manifest_reader *r)
{
    int ret = 0;
    struct ka_manifest_doc doc;
    while ((ret = ka_manifest_next(r, &doc)) == 1) {
        if (doc.object == NULL) {
            ret = add_error(a, doc.source, doc.error);
        } else {
            ret = add_object(a, doc.source, doc.object, NULL, 0);
            cJSON_Delete(doc.object);
        }
        ret = ret ? ret : emit_ready(a);
        if (ret != 0) {
            return ret;
        }
        if (a->progress != NULL && ++a->n_documents % 256 == 0) {
            a->progress(a->progress_ctx, a->n_documents, ka_manifest_bytes_read(r));
        }
    }
    return ret;
}

int ka_audit_add_bytes(struct ka_audit *a, const char *name, const char *data, size_t len)
{
    struct ka_manifest_reader *r = NULL;
    int ret = ka_manifest_reader_new_bytes(&r, name, data, len, &a->read_opts);
    ret = ret ? ret : add_stream(a, r);
    ka_manifest_reader_free(r);
    return ret;
}

static int is_manifest(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
                              (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
                              (n > 5 && strcmp(name + n - 5, ".json") == 0) ||
                              (n > 6 && strcmp(name + n - 6, ".jsonl") == 0));
}

/* ka_file_walk's visitor: each manifest file of a directory, or why a directory was skipped. */
static int add_walked(void *ctx, const char *path, const char *problem)
{
    struct ka_audit *a = ctx;
    return problem != NULL ? add_error(a, path, problem) : ka_audit_add_path(a, path);
}

static int add_path(struct ka_audit *a, const char *path);

int ka_audit_add_path(struct ka_audit *a, const char *path)
{
    int ret = add_path(a, path);
    return ret ? ret : emit_ready(a);
}

int ka_audit_add_file(struct ka_audit *a, const char *name, FILE *f)
{
    struct ka_manifest_reader *r = NULL;
    int ret = ka_manifest_reader_new(&r, name, f, &a->read_opts);
    ret = ret ? ret : add_stream(a, r);
    if (ret == KA_EIO) {
        char msg[300];
        snprintf(msg, sizeof(msg), "read error after %zu bytes: %s", ka_manifest_bytes_read(r),
                 strerror(errno));
        ret = add_error(a, name, msg);
    }
    ka_manifest_reader_free(r);
    return ret;
}

static int add_path(struct ka_audit *a, const char *path)
{
    int is_stdin = strcmp(path, "-") == 0;
    struct stat st;
    if (!is_stdin) {
        if (stat(path, &st) != 0) {
            return add_error(a, path, "no such file or directory");
        }
        if (S_ISDIR(st.st_mode)) {
            return ka_file_walk(path, is_manifest, add_walked, a);
        }
    }
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (f == NULL) {
        char msg[300];
        snprintf(msg, sizeof(msg), "cannot open: %s", strerror(errno));
        return add_error(a, path, msg);
    }
    int ret = ka_audit_add_file(a, is_stdin ? "(stdin)" : path, f);
    if (!is_stdin) {
        fclose(f);
    }
    return ret;
}

/* ------------------------------------------------------------------------------------------
 * Decision logs
 */

static int add_log_problem(struct ka_audit *a, const char *name, size_t line, const char *msg)
{
    char src[600];
    snprintf(src, sizeof(src), "%.500s:%zu", name, line);
    return add_failed(a, KA_AUDIT_ADMISSION, src, msg);
}

/* One decision-log line: an admission item or a problem item. */
static int add_log_line(struct ka_audit *a, const char *name, size_t lineno, const char *line,
                        size_t len, int terminated)
{
    int ret = KA_EINTERNAL;
    cJSON *doc = NULL;
    char why[256] = "";
    size_t blank = 0;
    while (blank < len && (line[blank] == ' ' || line[blank] == '\t' || line[blank] == '\r')) {
        blank++;
    }
    if (blank == len) {
        return 0; /* empty lines (and an empty tail) are not entries */
    }
    if (!terminated) {
        return add_log_problem(a, name, lineno,
                               "truncated line (no newline at the end of the file: the write "
                               "was cut short); skipped");
    }
    if (len > KA_AUDIT_MAX_LOG_LINE) {
        return add_log_problem(a, name, lineno, "line longer than 512 KiB; skipped");
    }
    doc = ka_json_parse_bounded(line, len, KA_AUDIT_MAX_LOG_LINE, KA_MAX_DEPTH_DEFAULT, NULL, 0);
    if (doc == NULL) {
        ret =
            add_log_problem(a, name, lineno, "malformed JSON (a torn or corrupted line); skipped");
        goto exit;
    }
    const cJSON *findings = cJSON_GetObjectItemCaseSensitive(doc, "findings");
    const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(doc, "allowed");
    if (!cJSON_IsObject(doc) || str_at(doc, "time") == NULL || str_at(doc, "kind") == NULL ||
        !cJSON_IsBool(allowed) || !cJSON_IsArray(findings)) {
        ret = add_log_problem(a, name, lineno,
                              "not a kadmit decision-log line (needs time, kind, allowed and a "
                              "findings array); skipped");
        goto exit;
    }
    const cJSON *f;
    size_t idx = 0;
    cJSON_ArrayForEach(f, findings)
    {
        enum ka_action act;
        if (!cJSON_IsObject(f) || str_at(f, "rule") == NULL ||
            ka_action_parse(str_at(f, "action"), &act) != 0) {
            snprintf(why, sizeof(why),
                     "finding %zu has no rule or an unknown action (enforce, warn, audit); "
                     "skipped",
                     idx);
            break;
        }
        idx++;
    }
    if (why[0] != '\0') {
        ret = add_log_problem(a, name, lineno, why);
        goto exit;
    }
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(doc, "status");
    if (cJSON_IsNumber(status) && status->valueint != 200) {
        /* --decision-log-all also logs requests that were not AdmissionReviews */
        snprintf(why, sizeof(why), "HTTP %d, not an admission: %.200s; skipped", status->valueint,
                 str_at(doc, "reason") ?: "");
        ret = add_log_problem(a, name, lineno, why);
        goto exit;
    }
    char src[600];
    snprintf(src, sizeof(src), "%.500s:%zu", name, lineno);
    struct ka_audit_item *it = new_item(a, KA_AUDIT_ADMISSION, src);
    if (it == NULL) {
        ret = KA_ENOMEM;
        goto exit;
    }
    snprintf(it->time, sizeof(it->time), "%s", str_at(doc, "time"));
    snprintf(it->kind, sizeof(it->kind), "%s", str_at(doc, "kind"));
    snprintf(it->namespace_, sizeof(it->namespace_), "%s", str_at(doc, "namespace") ?: "");
    snprintf(it->name, sizeof(it->name), "%s", str_at(doc, "name") ?: "");
    snprintf(it->uid, sizeof(it->uid), "%s", str_at(doc, "uid") ?: "");
    snprintf(it->user, sizeof(it->user), "%s", str_at(doc, "user") ?: "");
    snprintf(it->operation, sizeof(it->operation), "%s", str_at(doc, "operation") ?: "");
    snprintf(it->endpoint, sizeof(it->endpoint), "%s", str_at(doc, "endpoint") ?: "");
    it->dry_run = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "dryRun"));
    item_scrub(it);
    it->allowed = cJSON_IsTrue(allowed);
    const cJSON *dropped = cJSON_GetObjectItemCaseSensitive(doc, "droppedFindings");
    it->n_dropped_findings =
        cJSON_IsNumber(dropped) && dropped->valuedouble > 0 ? (size_t)dropped->valuedouble : 0;
    ret = 0;
    cJSON_ArrayForEach(f, findings)
    {
        enum ka_action act = KA_ACTION_AUDIT;
        (void)ka_action_parse(str_at(f, "action"), &act);
        const char *stale = str_at(f, "stale");
        enum ka_stale st = KA_STALE_NONE;
        for (int k = KA_STALE_AGE; stale != NULL && k <= KA_STALE_FINDINGS; k++) {
            st = strcmp(stale, ka_stale_name((enum ka_stale)k)) == 0 ? (enum ka_stale)k : st;
        }
        ret = item_add_finding(it, str_at(f, "rule"), act, str_at(f, "message"),
                               str_at(f, "container"), str_at(f, "path"), st);
        if (ret != 0) {
            goto exit;
        }
    }
    const char *reason = str_at(doc, "reason");
    if (!it->allowed && it->n_findings == 0 && reason != NULL && reason[0] != '\0') {
        /* a malformed request the server denied: its reason is the finding */
        ret = item_add_finding(it, "request", KA_ACTION_ENFORCE, reason, "", "", KA_STALE_NONE);
        if (ret != 0) {
            goto exit;
        }
    }
    const cJSON *muts = cJSON_GetObjectItemCaseSensitive(doc, "mutations");
    const cJSON *m;
    cJSON_ArrayForEach(m, muts)
    {
        ret = item_add_mutation(it, str_at(m, "rule"), str_at(m, "op"), str_at(m, "path"));
        if (ret != 0) {
            goto exit;
        }
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "exempted"))
    {
        ret =
            item_add_exemption(it, str_at(e, "rule"), str_at(e, "exception"), str_at(e, "reason"));
        if (ret != 0) {
            goto exit;
        }
    }
exit:
    cJSON_Delete(doc);
    return ret;
}

int ka_audit_add_decision_log_bytes(struct ka_audit *a, const char *name, const char *data,
                                    size_t len)
{
    int ret = 0;
    size_t lineno = 0, pos = 0;
    while (ret == 0 && pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - data) : len;
        lineno++;
        ret = add_log_line(a, name, lineno, data + pos, end - pos, nl != NULL);
        ret = ret ? ret : emit_ready(a);
        pos = end + 1;
    }
    return ret;
}

int ka_audit_add_decision_log(struct ka_audit *a, const char *path)
{
    int ret = KA_EINTERNAL;
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "(stdin)" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    if (f == NULL) {
        char msg[300];
        snprintf(msg, sizeof(msg), "cannot open decision log: %s", strerror(errno));
        ret = add_log_problem(a, name, 0, msg);
        return ret ? ret : emit_ready(a);
    }
    ret = 0;
    for (;;) {
        errno = 0;
        ssize_t n = getline(&line, &cap, f);
        if (n < 0) {
            if (errno == ENOMEM) {
                ret = KA_ENOMEM;
            } else if (ferror(f)) {
                ret = add_log_problem(a, name, lineno + 1, "read error; the rest is skipped");
            }
            break;
        }
        lineno++;
        int terminated = n > 0 && line[n - 1] == '\n';
        ret = add_log_line(a, name, lineno, line, (size_t)n - (terminated ? 1 : 0), terminated);
        ret = ret ? ret : emit_ready(a);
        if (ret != 0) {
            break;
        }
    }
    free(line);
    if (!is_stdin) {
        fclose(f);
    }
    return ret ? ret : emit_ready(a);
}

/* ------------------------------------------------------------------------------------------
 * Counts
 */

/* Add one item to the counts. */
static void count_item(struct ka_audit_counts *c, const struct ka_audit_item *it)
{
    int adm = it->origin == KA_AUDIT_ADMISSION;
    if (it->error) {
        *(adm ? &c->log_problems : &c->errors) += 1;
        c->read += !adm;
        return;
    }
    int warn = 0, audit = 0, redeploy = 0;
    if (it->relation[0] != '\0') {
        c->relations++;
    }
    for (size_t f = 0; f < it->n_findings; f++) {
        enum ka_action act = it->findings[f].action;
        redeploy |= it->findings[f].stale != KA_STALE_NONE;
        warn |= act == KA_ACTION_WARN;
        audit |= act == KA_ACTION_AUDIT;
        c->findings++;
        c->findings_enforce += act == KA_ACTION_ENFORCE;
        c->findings_warn += act == KA_ACTION_WARN;
        c->findings_audit += act == KA_ACTION_AUDIT;
    }
    if (it->relation[0] != '\0') { /* a relation result: not a document read */
        *(it->not_evaluated ? &c->relations_not_evaluated
          : !it->allowed    ? &c->relations_denied
          : warn            ? &c->relations_warned
          : audit           ? &c->relations_audited
                            : &c->relations_passed) += 1;
        return;
    }
    c->read += !adm;
    size_t *n_all = adm ? &c->admissions : &c->objects;
    size_t *n_denied = adm ? &c->admissions_denied : &c->denied;
    size_t *n_warned = adm ? &c->admissions_warned : &c->warned;
    size_t *n_audited = adm ? &c->admissions_audited : &c->audited;
    size_t *n_passed = adm ? &c->admissions_passed : &c->passed;
    (*n_all)++;
    if (!it->allowed) {
        (*n_denied)++;
    } else if (warn) {
        (*n_warned)++;
    } else if (audit) {
        (*n_audited)++;
    } else {
        (*n_passed)++;
    }
    if (!adm) {
        c->mutated += it->n_mutations > 0;
        c->redeploy += redeploy;
    }
}

void ka_audit_count(const struct ka_audit *a, struct ka_audit_counts *c)
{
    *c = a->emitted; /* items already handed to a->emit and released */
    c->skipped = a->n_skipped;
    c->owned = a->n_owned;
    c->read += a->n_skipped + a->n_owned;
    for (size_t i = 0; i < a->n_items; i++) {
        count_item(c, &a->items[i]);
    }
}

/* Streaming: hand every decided item to a->emit, count it and release it. An object whose
 * controller may still come later waits for ka_audit_finish(). items[0..n_waiting) wait. */
static int emit_ready(struct ka_audit *a)
{
    if (a->emit == NULL) {
        return 0;
    }
    int ret = 0;
    size_t keep = a->n_waiting;
    for (size_t i = a->n_waiting; i < a->n_items; i++) {
        struct ka_audit_item *it = &a->items[i];
        if (it->kept) {
            a->items[keep++] = *it; /* emitted already, kept for a renderer */
            continue;
        }
        int waits = it->owner_ref != NULL && !it->error && !a->finished;
        if (ret == 0 && waits && a->spool == NULL && !a->spool_failed) {
            a->spool = ka_audit_tmpfile();
            a->spool_failed = a->spool == NULL;
        }
        if (ret == 0 && waits && a->spool != NULL) {
            ret = spool_put(a->spool, it, &a->spool_buf);
            if (ret == 0) {
                a->n_spooled++;
                item_free(it);
                continue;
            }
        }
        if (ret == 0 && !waits) {
            ret = a->emit(a->emit_ctx, a, it);
            if (ret == 0) {
                count_item(&a->emitted, it);
                item_free(it);
                continue;
            }
            it->kept = ret == KA_AUDIT_KEEP;
            ret = it->kept ? 0 : ret;
        }
        a->items[keep++] = *it;
    }
    a->n_items = keep;
    a->n_waiting = keep;
    if (ret != 0 || a->finished) {
        a->n_waiting = 0;
    }
    return ret;
}

/* ------------------------------------------------------------------------------------------
 * JSON
 */

static int add_str_member(cJSON *o, const char *k, const char *v)
{
    return cJSON_AddStringToObject(o, k, v ? v : "") == NULL ? KA_ENOMEM : 0;
}

static int add_findings_json(cJSON *r, const char *key, const struct ka_audit_item *it)
{
    cJSON *vs = cJSON_AddArrayToObject(r, key);
    cJSON *ms = cJSON_AddArrayToObject(r, "mutations");
    if (vs == NULL || ms == NULL) {
        return KA_ENOMEM;
    }
    for (size_t f = 0; f < it->n_findings; f++) {
        const struct ka_audit_finding *fd = &it->findings[f];
        cJSON *v = cJSON_CreateObject();
        if (v == NULL) {
            return KA_ENOMEM;
        }
        cJSON_AddItemToArray(vs, v);
        if (add_str_member(v, "rule", fd->rule) ||
            add_str_member(v, "action", ka_action_name(fd->action)) ||
            add_str_member(v, "message", fd->message) || add_str_member(v, "path", fd->path) ||
            add_str_member(v, "container", fd->container) ||
            (fd->stale != KA_STALE_NONE && add_str_member(v, "stale", ka_stale_name(fd->stale))) ||
            (ka_audit_finding_kind(it, fd) != NULL &&
             add_str_member(v, "kind", ka_audit_finding_kind(it, fd)))) {
            return KA_ENOMEM;
        }
    }
    for (size_t m = 0; m < it->n_mutations; m++) {
        cJSON *v = cJSON_CreateObject();
        if (v == NULL) {
            return KA_ENOMEM;
        }
        cJSON_AddItemToArray(ms, v);
        if (add_str_member(v, "rule", it->mutations[m].rule) ||
            add_str_member(v, "op", it->mutations[m].op) ||
            add_str_member(v, "path", it->mutations[m].path)) {
            return KA_ENOMEM;
        }
    }
    cJSON *es = cJSON_AddArrayToObject(r, "exempted");
    for (size_t e = 0; es != NULL && e < it->n_exemptions; e++) {
        cJSON *v = cJSON_CreateObject();
        if (v == NULL || !cJSON_AddItemToArray(es, v) ||
            add_str_member(v, "rule", it->exemptions[e].rule) ||
            add_str_member(v, "exception", it->exemptions[e].exception) ||
            add_str_member(v, "reason", it->exemptions[e].reason)) {
            return KA_ENOMEM;
        }
    }
    if (es == NULL) {
        return KA_ENOMEM;
    }
    if (it->n_dropped_findings > 0 &&
        cJSON_AddNumberToObject(r, "droppedFindings", (double)it->n_dropped_findings) == NULL) {
        return KA_ENOMEM;
    }
    return 0;
}

/* {"<name>": n, ..., other: n} of one tally into `obj` (NULL: out of memory). Non-zero on failure.
 */
static int tally_json(cJSON *obj, const struct ka_audit_name_tally *t, const char *other)
{
    int failed = obj == NULL;
    for (size_t i = 0; !failed && i < t->n_top; i++) {
        failed = cJSON_AddNumberToObject(obj, t->top[i].name, (double)t->top[i].n) == NULL;
    }
    if (!failed && t->other > 0) {
        failed = cJSON_AddNumberToObject(obj, other, (double)t->other) == NULL;
    }
    return failed;
}

static int add_counts(cJSON *o, const char *const *names, const size_t *vals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (cJSON_AddNumberToObject(o, names[i], (double)vals[i]) == NULL) {
            return KA_ENOMEM;
        }
    }
    return 0;
}

/* The members of one item: a result, an error, a decision or a decision-log problem. */
static int item_json_fill(cJSON *r, const struct ka_audit_item *it)
{
    int adm = it->origin == KA_AUDIT_ADMISSION;
    if (it->error) {
        return add_str_member(r, "source", it->source) || add_str_member(r, "error", it->error_msg)
                   ? KA_ENOMEM
                   : 0;
    }
    if (adm) {
        return add_str_member(r, "time", it->time) || add_str_member(r, "uid", it->uid) ||
                       add_str_member(r, "user", it->user) ||
                       add_str_member(r, "operation", it->operation) ||
                       cJSON_AddBoolToObject(r, "dryRun", it->dry_run) == NULL ||
                       add_str_member(r, "kind", it->kind) ||
                       add_str_member(r, "namespace", it->namespace_) ||
                       add_str_member(r, "name", it->name) ||
                       add_str_member(r, "endpoint", it->endpoint) ||
                       add_str_member(r, "source", it->source) ||
                       cJSON_AddBoolToObject(r, "allowed", it->allowed) == NULL ||
                       add_findings_json(r, "findings", it) != 0
                   ? KA_ENOMEM
                   : 0;
    }
    if (it->relation[0] != '\0' &&
        (add_str_member(r, "relation", it->relation) ||
         (it->not_evaluated && add_str_member(r, "notEvaluated", it->error_msg)))) {
        return KA_ENOMEM;
    }
    return add_str_member(r, "apiVersion", it->api_version) ||
                   add_str_member(r, "kind", it->kind) ||
                   add_str_member(r, "namespace", it->namespace_) ||
                   add_str_member(r, "name", it->name) || add_str_member(r, "source", it->source) ||
                   cJSON_AddBoolToObject(r, "allowed", it->allowed) == NULL ||
                   add_findings_json(r, "violations", it) != 0
               ? KA_ENOMEM
               : 0;
}

static int summary_json_fill(cJSON *sum, const struct ka_audit *a)
{
    struct ka_audit_counts c;
    ka_audit_count(a, &c);
    static const char *const top[] = {"read",
                                      "objects",
                                      "denied",
                                      "warned",
                                      "audited",
                                      "passed",
                                      "mutated",
                                      "errors",
                                      "skipped",
                                      "owned",
                                      "wouldBeDeniedOnRedeploy"};
    const size_t topv[] = {c.read,    c.objects, c.denied,  c.warned, c.audited, c.passed,
                           c.mutated, c.errors,  c.skipped, c.owned,  c.redeploy};
    static const char *const adm[] = {"total", "denied", "warned", "audited", "passed"};
    const size_t admv[] = {c.admissions, c.admissions_denied, c.admissions_warned,
                           c.admissions_audited, c.admissions_passed};
    static const char *const fin[] = {"total", "enforce", "warn", "audit"};
    const size_t finv[] = {c.findings, c.findings_enforce, c.findings_warn, c.findings_audit};
    static const char *const rel[] = {"total",   "denied", "warned",
                                      "audited", "passed", "notEvaluated"};
    const size_t relv[] = {c.relations,         c.relations_denied, c.relations_warned,
                           c.relations_audited, c.relations_passed, c.relations_not_evaluated};
    cJSON *srel = cJSON_AddObjectToObject(sum, "relations");
    if (srel == NULL || add_counts(srel, rel, relv, 6) != 0) {
        return KA_ENOMEM;
    }
    cJSON *sadm = cJSON_AddObjectToObject(sum, "admissions");
    cJSON *sfin = cJSON_AddObjectToObject(sum, "findings");
    cJSON *skinds = cJSON_AddObjectToObject(sum, "skippedKinds");
    cJSON *snamespaces = cJSON_AddObjectToObject(sum, "skippedNamespaces");
    cJSON *snot = cJSON_AddObjectToObject(sum, "skippedNotKubernetes");
    if (sadm == NULL || sfin == NULL || tally_json(skinds, &a->skipped_kinds, "(other kinds)") ||
        tally_json(snamespaces, &a->skipped_namespaces, "(other namespaces)") ||
        tally_json(snot, &a->skipped_not_objects, "(other files)")) {
        return KA_ENOMEM;
    }
    if (add_counts(sum, top, topv, 11) != 0 || add_counts(sadm, adm, admv, 5) != 0 ||
        add_counts(sfin, fin, finv, 4) != 0 ||
        cJSON_AddNumberToObject(sum, "decisionLogProblems", (double)c.log_problems) == NULL) {
        return KA_ENOMEM;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * JSON, written as results are decided: results and decisions straight out, errors and
 * decision-log problems (a few) held as text until their array's turn. The layout is
 * cJSON_Print's, so a streamed report reads like one printed whole.
 */

static const char *const json_sections[] = {"results", "errors", "decisions", "decisionLogProblems",
                                            "summary"};

static int json_section(const struct ka_audit_item *it)
{
    int adm = it->origin == KA_AUDIT_ADMISSION;
    return it->error ? (adm ? 3 : 1) : (adm ? 2 : 0);
}

/* cJSON_Print(v), every line after the first indented by `tabs` more. */
static int json_add_indented(struct ka_buf *out, const cJSON *v, int tabs)
{
    char *text = cJSON_Print(v);
    if (text == NULL) {
        return KA_ENOMEM;
    }
    int ret = 0;
    const char *p = text;
    for (const char *nl; ret == 0 && (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        ret = ka_buf_add(out, p, (size_t)(nl - p) + 1);
        ret = ret ? ret : ka_buf_add(out, "\t\t", (size_t)tabs);
    }
    ret = ret ? ret : ka_buf_adds(out, p);
    cJSON_free(text);
    return ret;
}

void ka_audit_json_init(struct ka_audit_json *j)
{
    memset(j, 0, sizeof(*j));
    ka_buf_init(&j->held[0], 1024u * 1024u * 1024u);
    ka_buf_init(&j->held[1], 1024u * 1024u * 1024u);
}

void ka_audit_json_free(struct ka_audit_json *j)
{
    ka_buf_free(&j->held[0]);
    ka_buf_free(&j->held[1]);
}

/* Close the open array and open the next ones up to `section`, writing the held ones. */
static int json_advance(struct ka_audit_json *j, int section, struct ka_buf *out)
{
    int ret = j->started ? 0 : ka_buf_printf(out, "{\n\t\"%s\":\t[", json_sections[0]);
    j->started = 1;
    while (ret == 0 && j->open < section) {
        j->open++;
        ret =
            ka_buf_printf(out, "],\n\t\"%s\":\t%s", json_sections[j->open], j->open < 4 ? "[" : "");
        if (ret == 0 && (j->open == 1 || j->open == 3)) {
            struct ka_buf *h = &j->held[j->open == 3];
            ret = h->len > 0 ? ka_buf_add(out, h->data, h->len) : 0;
            ka_buf_free(h);
        }
    }
    return ret;
}

int ka_audit_json_item(struct ka_audit_json *j, const struct ka_audit_item *it, struct ka_buf *out)
{
    int section = json_section(it);
    int held = section == 1 || section == 3;
    if (section < j->open || (held && section <= j->open)) {
        return KA_EINTERNAL; /* its array is already written */
    }
    int ret = held ? 0 : json_advance(j, section, out);
    struct ka_buf *to = held ? &j->held[section == 3] : out;
    cJSON *r = cJSON_CreateObject();
    ret = ret ? ret : r == NULL ? KA_ENOMEM : item_json_fill(r, it);
    ret = ret ? ret : j->n[section] > 0 ? ka_buf_adds(to, ", ") : 0;
    ret = ret ? ret : json_add_indented(to, r, 2);
    j->n[section]++;
    cJSON_Delete(r);
    return ret;
}

int ka_audit_json_end(struct ka_audit_json *j, const struct ka_audit *a, struct ka_buf *out)
{
    cJSON *sum = cJSON_CreateObject();
    int ret = json_advance(j, 4, out);
    ret = ret ? ret : sum == NULL ? KA_ENOMEM : summary_json_fill(sum, a);
    ret = ret ? ret : json_add_indented(out, sum, 1);
    ret = ret ? ret : ka_buf_adds(out, "\n}\n");
    cJSON_Delete(sum);
    return ret;
}

int ka_audit_render_json(const struct ka_audit *a, struct ka_buf *out)
{
    struct ka_audit_json j;
    ka_audit_json_init(&j);
    int ret = 0;
    for (int section = 0; section < 4; section++) {
        for (size_t i = 0; ret == 0 && i < a->n_items; i++) {
            if (json_section(&a->items[i]) == section) {
                ret = ka_audit_json_item(&j, &a->items[i], out);
            }
        }
    }
    ret = ret ? ret : ka_audit_json_end(&j, a, out);
    ka_audit_json_free(&j);
    return ret;
}

/* One JSON Lines record: `type` first, then the members of its json counterpart. */
static int jsonl_line(cJSON *r, struct ka_buf *out)
{
    char *text = cJSON_PrintUnformatted(r);
    int ret = text != NULL ? ka_buf_adds(out, text) : KA_ENOMEM;
    ret = ret ? ret : ka_buf_add(out, "\n", 1);
    cJSON_free(text);
    return ret;
}

int ka_audit_render_jsonl_item(const struct ka_audit *a, const struct ka_audit_item *it,
                               struct ka_buf *out)
{
    (void)a;
    int adm = it->origin == KA_AUDIT_ADMISSION;
    const char *type =
        it->error ? (adm ? "decisionLogProblem" : "error") : (adm ? "decision" : "result");
    cJSON *r = cJSON_CreateObject();
    int ret = r == NULL || add_str_member(r, "type", type) ? KA_ENOMEM : item_json_fill(r, it);
    ret = ret ? ret : jsonl_line(r, out);
    cJSON_Delete(r);
    return ret;
}

int ka_audit_render_jsonl_summary(const struct ka_audit *a, struct ka_buf *out)
{
    cJSON *r = cJSON_CreateObject();
    int ret =
        r == NULL || add_str_member(r, "type", "summary") ? KA_ENOMEM : summary_json_fill(r, a);
    ret = ret ? ret : jsonl_line(r, out);
    cJSON_Delete(r);
    return ret;
}
