#include "kadmit/audit.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "kadmit/error.h"
#include "kadmit/limits.h"
#include "kadmit/rules.h"
#include "kadmit/yaml.h"

void ka_audit_init(struct ka_audit *a, const struct ka_policy *policy)
{
    memset(a, 0, sizeof(*a));
    a->policy = policy;
}

void ka_audit_free(struct ka_audit *a)
{
    for (size_t i = 0; i < a->n_items; i++) {
        free(a->items[i].summary);
    }
    free(a->items);
    a->items = NULL;
    a->n_items = a->cap_items = 0;
}

static struct ka_audit_item *new_item(struct ka_audit *a, const char *source)
{
    if (a->n_items == a->cap_items) {
        size_t cap = a->cap_items ? a->cap_items * 2 : 64;
        struct ka_audit_item *p = realloc(a->items, cap * sizeof(*p));
        if (p == NULL) {
            return NULL;
        }
        a->items = p;
        a->cap_items = cap;
    }
    struct ka_audit_item *it = &a->items[a->n_items++];
    memset(it, 0, sizeof(*it));
    snprintf(it->source, sizeof(it->source), "%s", source);
    return it;
}

static int add_error(struct ka_audit *a, const char *source, const char *msg)
{
    struct ka_audit_item *it = new_item(a, source);
    if (it == NULL) {
        return KA_ENOMEM;
    }
    it->error = 1;
    snprintf(it->error_msg, sizeof(it->error_msg), "%s", msg);
    a->n_errors++;
    return 0;
}

static const char *str_at(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int add_object(struct ka_audit *a, const char *source, cJSON *obj, const char *ns_hint,
                      unsigned depth);

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
    if (kind == NULL) {
        return add_error(a, source, "document has no kind");
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
    if (ka_kind_from_name(kind) == KA_KIND_OTHER) {
        a->n_skipped++;
        return 0;
    }
    struct ka_audit_item *it = new_item(a, source);
    if (it == NULL) {
        return KA_ENOMEM;
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *ns = str_at(meta, "namespace");
    snprintf(it->api_version, sizeof(it->api_version), "%s", str_at(obj, "apiVersion") ?: "");
    snprintf(it->kind, sizeof(it->kind), "%s", kind);
    snprintf(it->namespace_, sizeof(it->namespace_), "%s", ns ? ns : (ns_hint ? ns_hint : ""));
    it->summary = calloc(1, sizeof(*it->summary));
    if (it->summary == NULL) {
        return KA_ENOMEM;
    }
    struct ka_review_summary *s = it->summary;
    snprintf(s->kind, sizeof(s->kind), "%s", kind);
    snprintf(s->namespace_, sizeof(s->namespace_), "%s", it->namespace_);
    snprintf(s->operation, sizeof(s->operation), "CREATE");
    char err[256] = "";
    int ret = ka_admission_evaluate(a->policy, obj, &a->opts, s, err, sizeof(err));
    const char *name = str_at(meta, "name");
    const char *gen = str_at(meta, "generateName");
    snprintf(it->name, sizeof(it->name), "%s%s", name ? name : (gen ? gen : "(unnamed)"),
             name == NULL && gen != NULL ? "*" : "");
    snprintf(s->name, sizeof(s->name), "%s", it->name);
    if (ret == KA_ENOMEM) {
        return ret;
    }
    if (ret != 0) {
        free(it->summary);
        it->summary = NULL;
        it->error = 1;
        snprintf(it->error_msg, sizeof(it->error_msg), "cannot evaluate: %s",
                 err[0] ? err : ka_strerror(ret));
        a->n_errors++;
    }
    return 0;
}

static int looks_like_json(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t') {
            continue;
        }
        return data[i] == '{' || data[i] == '[';
    }
    return 0;
}

int ka_audit_add_bytes(struct ka_audit *a, const char *name, const char *data, size_t len)
{
    int ret = 0;
    char src[600];
    if (looks_like_json(data, len)) {
        /* kubectl get -o json output can be large: cJSON is much faster than libyaml here. */
        const char *end = NULL;
        cJSON *doc = cJSON_ParseWithLengthOpts(data, len, &end, 0);
        if (doc == NULL) {
            size_t off = end != NULL ? (size_t)(end - data) : 0;
            unsigned line = 1;
            for (size_t i = 0; i < off && i < len; i++) {
                line += data[i] == '\n';
            }
            snprintf(src, sizeof(src), "%.500s:%u", name, line);
            return add_error(a, src, "malformed JSON");
        }
        snprintf(src, sizeof(src), "%.500s:1", name);
        if (cJSON_IsArray(doc)) {
            ret = add_list(a, src, doc, NULL, 0);
        } else {
            ret = add_object(a, src, doc, NULL, 0);
        }
        cJSON_Delete(doc);
        return ret;
    }
    struct ka_yaml_stream ys;
    ka_yaml_stream_init(&ys);
    struct ka_buf diag;
    ka_buf_init(&diag, 4096);
    int pret = ka_yaml_parse(&ys, name, data, len, KA_MAX_DEPTH_DEFAULT, &diag);
    for (size_t i = 0; ret == 0 && i < ys.n_docs; i++) {
        snprintf(src, sizeof(src), "%.500s:%u", name, ys.doc_lines[i]);
        ret = add_object(a, src, ys.docs[i], NULL, 0);
    }
    if (ret == 0 && pret != 0) {
        snprintf(src, sizeof(src), "%.500s:%d", name, ys.error_line);
        char msg[512];
        snprintf(msg, sizeof(msg), "cannot parse: %.400s",
                 diag.data ? diag.data : ka_strerror(pret));
        size_t n = strlen(msg);
        if (n > 0 && msg[n - 1] == '\n') {
            msg[n - 1] = '\0';
        }
        ret = pret == KA_ENOMEM ? pret : add_error(a, src, msg);
    }
    ka_buf_free(&diag);
    ka_yaml_stream_free(&ys);
    return ret;
}

static int is_manifest(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
                              (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
                              (n > 5 && strcmp(name + n - 5, ".json") == 0));
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int add_dir(struct ka_audit *a, const char *path, unsigned depth)
{
    if (depth > 16) {
        return add_error(a, path, "directories nested too deeply");
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        return add_error(a, path, "cannot open directory");
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int ret = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **p = realloc(names, cap * sizeof(*p));
            if (p == NULL) {
                ret = KA_ENOMEM;
                break;
            }
            names = p;
        }
        names[n] = strdup(e->d_name);
        if (names[n] == NULL) {
            ret = KA_ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (n > 0) {
        qsort(names, n, sizeof(*names), cmp_str);
    }
    for (size_t i = 0; i < n; i++) {
        char full[4096];
        size_t plen = strlen(path);
        snprintf(full, sizeof(full), "%.*s/%s",
                 (int)(plen > 1 && path[plen - 1] == '/' ? plen - 1 : plen), path, names[i]);
        struct stat st;
        if (ret == 0 && stat(full, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                ret = add_dir(a, full, depth + 1);
            } else if (is_manifest(names[i])) {
                ret = ka_audit_add_path(a, full);
            }
        }
        free(names[i]);
    }
    free(names);
    return ret;
}

int ka_audit_add_path(struct ka_audit *a, const char *path)
{
    struct stat st;
    if (strcmp(path, "-") != 0) {
        if (stat(path, &st) != 0) {
            return add_error(a, path, "no such file or directory");
        }
        if (S_ISDIR(st.st_mode)) {
            return add_dir(a, path, 0);
        }
    }
    struct ka_buf data;
    ka_buf_init(&data, KA_MAX_MANIFEST_FILE);
    int ret =
        strcmp(path, "-") == 0 ? ka_buf_read_stream(&data, stdin) : ka_buf_read_file(&data, path);
    if (ret == KA_ENOMEM) {
        ka_buf_free(&data);
        return ret;
    }
    if (ret != 0) {
        ka_buf_free(&data);
        return add_error(a, path, ret == KA_ELIMIT ? "file larger than 64 MiB" : ka_strerror(ret));
    }
    ret = ka_audit_add_bytes(a, strcmp(path, "-") == 0 ? "(stdin)" : path, data.data, data.len);
    ka_buf_free(&data);
    return ret;
}

void ka_audit_count(const struct ka_audit *a, struct ka_audit_counts *c)
{
    memset(c, 0, sizeof(*c));
    c->skipped = a->n_skipped;
    for (size_t i = 0; i < a->n_items; i++) {
        const struct ka_audit_item *it = &a->items[i];
        if (it->error) {
            c->errors++;
            continue;
        }
        c->objects++;
        const struct ka_review_summary *s = it->summary;
        int warn = 0, audit = 0;
        for (size_t f = 0; f < s->n_findings; f++) {
            warn |= s->findings[f].action == KA_ACTION_WARN;
            audit |= s->findings[f].action == KA_ACTION_AUDIT;
        }
        if (!s->allowed) {
            c->denied++;
        } else if (warn) {
            c->warned++;
        } else if (audit) {
            c->audited++;
        } else {
            c->passed++;
        }
        c->mutated += s->n_mutations > 0;
    }
}

/* ------------------------------------------------------------------------------------------
 * Rendering
 */

int ka_audit_render_text(const struct ka_audit *a, struct ka_buf *out, int color)
{
    struct ka_audit_counts c;
    ka_audit_count(a, &c);
    const char *red = color ? "\033[31m" : "", *yellow = color ? "\033[33m" : "",
               *green = color ? "\033[32m" : "", *dim = color ? "\033[2m" : "",
               *reset = color ? "\033[0m" : "";
    int ret = ka_buf_printf(out,
                            "%zu objects: %s%zu denied%s, %s%zu warned%s, %zu audit-only, "
                            "%s%zu passed%s; %zu would be mutated; %zu errors; %zu skipped "
                            "(kinds kadmit does not check)\n",
                            c.objects, red, c.denied, reset, yellow, c.warned, reset, c.audited,
                            green, c.passed, reset, c.mutated, c.errors, c.skipped);
    for (size_t i = 0; ret == 0 && i < a->n_items; i++) {
        const struct ka_audit_item *it = &a->items[i];
        if (it->error) {
            ret = ka_buf_printf(out, "\n%sERROR%s  %s\n       %s\n", red, reset, it->source,
                                it->error_msg);
            continue;
        }
        const struct ka_review_summary *s = it->summary;
        const char *verdict = !s->allowed ? "DENY" : "PASS";
        const char *vc = !s->allowed ? red : green;
        ret = ka_buf_printf(out, "\n%s%-5s%s  %s %s%s%s  %s(%s)%s\n", vc, verdict, reset, it->kind,
                            it->namespace_, it->namespace_[0] ? "/" : "", it->name, dim, it->source,
                            reset);
        for (size_t f = 0; ret == 0 && f < s->n_findings; f++) {
            const struct ka_finding *fd = &s->findings[f];
            const char *ac = fd->action == KA_ACTION_ENFORCE ? red
                             : fd->action == KA_ACTION_WARN  ? yellow
                                                             : dim;
            ret = ka_buf_printf(out, "       %s%-7s%s %s\n", ac, ka_action_name(fd->action), reset,
                                fd->message);
        }
        for (size_t m = 0; ret == 0 && m < s->n_mutations; m++) {
            ret = ka_buf_printf(out, "       %smutate%s  %s %s %s\n", dim, reset,
                                s->mutations[m].rule, s->mutations[m].op, s->mutations[m].path);
        }
    }
    return ret;
}

static int add_str_member(cJSON *o, const char *k, const char *v)
{
    return cJSON_AddStringToObject(o, k, v ? v : "") == NULL ? KA_ENOMEM : 0;
}

int ka_audit_render_json(const struct ka_audit *a, struct ka_buf *out)
{
    int ret = KA_ENOMEM;
    cJSON *root = cJSON_CreateObject();
    cJSON *results = cJSON_AddArrayToObject(root, "results");
    cJSON *errors = cJSON_AddArrayToObject(root, "errors");
    cJSON *sum = cJSON_AddObjectToObject(root, "summary");
    if (root == NULL || results == NULL || errors == NULL || sum == NULL) {
        goto cleanup;
    }
    for (size_t i = 0; i < a->n_items; i++) {
        const struct ka_audit_item *it = &a->items[i];
        cJSON *r = cJSON_CreateObject();
        if (r == NULL) {
            goto cleanup;
        }
        cJSON_AddItemToArray(it->error ? errors : results, r);
        if (it->error) {
            if (add_str_member(r, "source", it->source) ||
                add_str_member(r, "error", it->error_msg)) {
                goto cleanup;
            }
            continue;
        }
        const struct ka_review_summary *s = it->summary;
        if (add_str_member(r, "apiVersion", it->api_version) ||
            add_str_member(r, "kind", it->kind) || add_str_member(r, "namespace", it->namespace_) ||
            add_str_member(r, "name", it->name) || add_str_member(r, "source", it->source) ||
            cJSON_AddBoolToObject(r, "allowed", s->allowed) == NULL) {
            goto cleanup;
        }
        cJSON *vs = cJSON_AddArrayToObject(r, "violations");
        cJSON *ms = cJSON_AddArrayToObject(r, "mutations");
        if (vs == NULL || ms == NULL) {
            goto cleanup;
        }
        for (size_t f = 0; f < s->n_findings; f++) {
            const struct ka_finding *fd = &s->findings[f];
            cJSON *v = cJSON_CreateObject();
            if (v == NULL) {
                goto cleanup;
            }
            cJSON_AddItemToArray(vs, v);
            if (add_str_member(v, "rule", fd->rule) ||
                add_str_member(v, "action", ka_action_name(fd->action)) ||
                add_str_member(v, "message", fd->message) || add_str_member(v, "path", fd->path) ||
                add_str_member(v, "container", fd->container)) {
                goto cleanup;
            }
        }
        for (size_t m = 0; m < s->n_mutations; m++) {
            cJSON *v = cJSON_CreateObject();
            if (v == NULL) {
                goto cleanup;
            }
            cJSON_AddItemToArray(ms, v);
            if (add_str_member(v, "rule", s->mutations[m].rule) ||
                add_str_member(v, "op", s->mutations[m].op) ||
                add_str_member(v, "path", s->mutations[m].path)) {
                goto cleanup;
            }
        }
    }
    struct ka_audit_counts c;
    ka_audit_count(a, &c);
    if (cJSON_AddNumberToObject(sum, "objects", (double)c.objects) == NULL ||
        cJSON_AddNumberToObject(sum, "denied", (double)c.denied) == NULL ||
        cJSON_AddNumberToObject(sum, "warned", (double)c.warned) == NULL ||
        cJSON_AddNumberToObject(sum, "audited", (double)c.audited) == NULL ||
        cJSON_AddNumberToObject(sum, "passed", (double)c.passed) == NULL ||
        cJSON_AddNumberToObject(sum, "mutated", (double)c.mutated) == NULL ||
        cJSON_AddNumberToObject(sum, "errors", (double)c.errors) == NULL ||
        cJSON_AddNumberToObject(sum, "skipped", (double)c.skipped) == NULL) {
        goto cleanup;
    }
    char *text = cJSON_Print(root);
    if (text == NULL) {
        goto cleanup;
    }
    ret = ka_buf_adds(out, text);
    if (ret == 0) {
        ret = ka_buf_add(out, "\n", 1);
    }
    cJSON_free(text);
cleanup:
    cJSON_Delete(root);
    return ret;
}
