/*
 * Webhook configurations for the certificates `kadmit certs` issues: the compiled-in template
 * with caBundle set (and, optionally, clientConfig.url instead of a Service). See
 * kadmit/certs_webhooks.h.
 */
#include "kadmit/certs_webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "kadmit/certs.h"
#include "kadmit/error.h"

/* ---- rendering webhook configurations ----------------------------------------------------------
 *
 * The template is deploy/base/webhooks.yaml, the file the kustomize base applies, compiled in.
 * It is loaded as YAML documents (libyaml), edited node by node and emitted again, so the
 * rendered configurations can only differ from the base in the fields set here.
 */

extern const char ka_embedded_webhooks[];
extern const size_t ka_embedded_webhooks_len;

const char *ka_certs_webhooks_template(size_t *len)
{
    *len = ka_embedded_webhooks_len;
    return ka_embedded_webhooks;
}

static int node_id(yaml_document_t *d, const yaml_node_t *n)
{
    return (int)(n - d->nodes.start) + 1;
}

static int scalar_is(const yaml_node_t *n, const char *s)
{
    return n != NULL && n->type == YAML_SCALAR_NODE && strlen(s) == n->data.scalar.length &&
           memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

/* Index of `key` among the mapping's pairs, or -1. */
static long map_index(yaml_document_t *d, const yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE) {
        return -1;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        if (scalar_is(yaml_document_get_node(d, p->key), key)) {
            return p - map->data.mapping.pairs.start;
        }
    }
    return -1;
}

static yaml_node_t *map_get(yaml_document_t *d, const yaml_node_t *map, const char *key)
{
    long i = map_index(d, map, key);
    return i < 0 ? NULL : yaml_document_get_node(d, map->data.mapping.pairs.start[i].value);
}

static int scalar_set(yaml_node_t *n, const char *value)
{
    size_t len = strlen(value);
    yaml_char_t *v = malloc(len + 1);
    if (v == NULL) {
        return KA_ENOMEM;
    }
    memcpy(v, value, len + 1);
    free(n->data.scalar.value); /* libyaml allocates with malloc */
    n->data.scalar.value = v;
    n->data.scalar.length = len;
    return 0;
}

/* Set map[key] = value (a plain string), replacing the value or appending the pair. */
static int map_set_string(yaml_document_t *d, int map_id, const char *key, const char *value)
{
    yaml_node_t *map = yaml_document_get_node(d, map_id);
    yaml_node_t *cur = map_get(d, map, key);
    if (cur != NULL && cur->type == YAML_SCALAR_NODE) {
        return scalar_set(cur, value);
    }
    int k = yaml_document_add_scalar(d, NULL, (yaml_char_t *)key, -1, YAML_PLAIN_SCALAR_STYLE);
    int v = yaml_document_add_scalar(d, NULL, (yaml_char_t *)value, -1, YAML_ANY_SCALAR_STYLE);
    if (k == 0 || v == 0) {
        return KA_ENOMEM;
    }
    long i = map_index(d, yaml_document_get_node(d, map_id), key);
    if (i >= 0) { /* key present with a non-scalar value: point it at the new one */
        yaml_document_get_node(d, map_id)->data.mapping.pairs.start[i].value = v;
        return 0;
    }
    return yaml_document_append_mapping_pair(d, map_id, k, v) ? 0 : KA_ENOMEM;
}

/* clientConfig.service -> clientConfig.url = base + service.path */
static int client_config_to_url(yaml_document_t *d, int cc_id, const char *base)
{
    yaml_node_t *cc = yaml_document_get_node(d, cc_id);
    long i = map_index(d, cc, "service");
    if (i < 0) {
        return 0;
    }
    yaml_node_t *svc = yaml_document_get_node(d, cc->data.mapping.pairs.start[i].value);
    yaml_node_t *path = map_get(d, svc, "path");
    char url[1024];
    int n = snprintf(
        url, sizeof(url), "%s%.*s", base,
        path != NULL && path->type == YAML_SCALAR_NODE ? (int)path->data.scalar.length : 0,
        path != NULL && path->type == YAML_SCALAR_NODE ? (const char *)path->data.scalar.value
                                                       : "");
    if (n < 0 || (size_t)n >= sizeof(url)) {
        return KA_ELIMIT;
    }
    int k = yaml_document_add_scalar(d, NULL, (yaml_char_t *)"url", -1, YAML_PLAIN_SCALAR_STYLE);
    int v = yaml_document_add_scalar(d, NULL, (yaml_char_t *)url, -1, YAML_ANY_SCALAR_STYLE);
    if (k == 0 || v == 0) {
        return KA_ENOMEM;
    }
    cc = yaml_document_get_node(d, cc_id); /* the node table may have moved */
    cc->data.mapping.pairs.start[i].key = k;
    cc->data.mapping.pairs.start[i].value = v; /* the old service node is left unreferenced */
    return 0;
}

/* namespaceSelector: NotIn values naming the template's namespace follow --namespace. */
static int selector_rename_namespace(yaml_document_t *d, yaml_node_t *hook, const char *from,
                                     const char *to)
{
    yaml_node_t *exprs = map_get(d, map_get(d, hook, "namespaceSelector"), "matchExpressions");
    if (exprs == NULL || exprs->type != YAML_SEQUENCE_NODE) {
        return 0;
    }
    for (yaml_node_item_t *e = exprs->data.sequence.items.start; e < exprs->data.sequence.items.top;
         e++) {
        yaml_node_t *expr = yaml_document_get_node(d, *e);
        if (!scalar_is(map_get(d, expr, "key"), "kubernetes.io/metadata.name")) {
            continue;
        }
        yaml_node_t *values = map_get(d, expr, "values");
        if (values == NULL || values->type != YAML_SEQUENCE_NODE) {
            continue;
        }
        for (yaml_node_item_t *v = values->data.sequence.items.start;
             v < values->data.sequence.items.top; v++) {
            yaml_node_t *s = yaml_document_get_node(d, *v);
            if (scalar_is(s, from) && scalar_set(s, to) != 0) {
                return KA_ENOMEM;
            }
        }
    }
    return 0;
}

/* Edit one document; counts the webhooks it rewrote. */
static int render_document(yaml_document_t *d, const struct ka_certs_render_opts *ro, size_t *count)
{
    yaml_node_t *hooks = map_get(d, yaml_document_get_root_node(d), "webhooks");
    if (hooks == NULL || hooks->type != YAML_SEQUENCE_NODE) {
        return 0;
    }
    int hooks_id = node_id(d, hooks);
    size_t n = (size_t)(hooks->data.sequence.items.top - hooks->data.sequence.items.start);
    for (size_t i = 0; i < n; i++) {
        hooks = yaml_document_get_node(d, hooks_id);
        int hook_id = hooks->data.sequence.items.start[i];
        yaml_node_t *hook = yaml_document_get_node(d, hook_id);
        yaml_node_t *cc = map_get(d, hook, "clientConfig");
        if (cc == NULL || cc->type != YAML_MAPPING_NODE) {
            continue;
        }
        int cc_id = node_id(d, cc);
        yaml_node_t *svc = map_get(d, cc, "service");
        if (ro->namespace != NULL && svc != NULL) {
            yaml_node_t *ns = map_get(d, svc, "namespace");
            if (ns != NULL && ns->type == YAML_SCALAR_NODE) {
                char old[KA_CERTS_MAX_LABEL_LEN + 1];
                snprintf(old, sizeof(old), "%.*s", (int)ns->data.scalar.length,
                         (const char *)ns->data.scalar.value);
                if (selector_rename_namespace(d, hook, old, ro->namespace) != 0 ||
                    scalar_set(ns, ro->namespace) != 0) {
                    return KA_ENOMEM;
                }
            }
        }
        if (ro->service != NULL && svc != NULL) {
            yaml_node_t *name = map_get(d, svc, "name");
            if (name != NULL && name->type == YAML_SCALAR_NODE &&
                scalar_set(name, ro->service) != 0) {
                return KA_ENOMEM;
            }
        }
        if (ro->webhook_url != NULL) {
            int ret = client_config_to_url(d, cc_id, ro->webhook_url);
            if (ret != 0) {
                return ret;
            }
        }
        int ret = map_set_string(d, cc_id, "caBundle", ro->ca_bundle_b64);
        if (ret != 0) {
            return ret;
        }
        (*count)++;
    }
    return 0;
}

static int emit_to_buf(void *data, unsigned char *buffer, size_t size)
{
    return ka_buf_add((struct ka_buf *)data, buffer, size) == 0;
}

int ka_certs_render_webhooks(const char *tmpl, size_t len, const struct ka_certs_render_opts *ro,
                             struct ka_buf *out, struct ka_buf *diag)
{
    int ret = KA_EINTERNAL;
    yaml_parser_t parser;
    yaml_emitter_t emitter;
    yaml_document_t doc;
    int have_doc = 0;
    size_t count = 0;

    if (ro == NULL || ro->ca_bundle_b64 == NULL || *ro->ca_bundle_b64 == '\0') {
        ka_buf_diag(diag, "render: the CA bundle is empty");
        return KA_EINVAL;
    }
    if (ro->webhook_url != NULL && strncmp(ro->webhook_url, "https://", 8) != 0) {
        ka_buf_diag(diag, "--webhook-url must start with https:// (got \"%s\")", ro->webhook_url);
        return KA_EINVAL;
    }
    if (!yaml_parser_initialize(&parser)) {
        return KA_ENOMEM;
    }
    if (!yaml_emitter_initialize(&emitter)) {
        yaml_parser_delete(&parser);
        return KA_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)tmpl, len);
    yaml_emitter_set_output(&emitter, emit_to_buf, out);
    yaml_emitter_set_width(&emitter, -1);
    yaml_emitter_set_indent(&emitter, 2);
    yaml_emitter_set_unicode(&emitter, 1);

    for (;;) {
        if (!yaml_parser_load(&parser, &doc)) {
            ka_buf_diag(diag, "webhook template: line %zu: %s", parser.problem_mark.line + 1,
                        parser.problem ? parser.problem : "YAML error");
            ret = KA_EPARSE;
            goto cleanup;
        }
        have_doc = 1;
        if (yaml_document_get_root_node(&doc) == NULL) {
            break; /* end of stream */
        }
        ret = render_document(&doc, ro, &count);
        if (ret != 0) {
            goto cleanup;
        }
        have_doc = 0; /* the emitter deletes the document, even when it fails */
        if (!yaml_emitter_dump(&emitter, &doc)) {
            ka_buf_diag(diag, "render: %s", emitter.problem ? emitter.problem : "cannot emit YAML");
            ret = KA_ELIMIT;
            goto cleanup;
        }
    }
    if (count == 0) {
        ka_buf_diag(diag, "webhook template has no webhooks with a clientConfig");
        ret = KA_EPARSE;
        goto cleanup;
    }
    if (!yaml_emitter_close(&emitter) || !yaml_emitter_flush(&emitter)) {
        ka_buf_diag(diag, "render: cannot finish the YAML stream");
        ret = KA_ELIMIT;
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (have_doc) {
        yaml_document_delete(&doc);
    }
    yaml_emitter_delete(&emitter);
    yaml_parser_delete(&parser);
    return ret;
}
