/*
 * Webhook configurations: the ValidatingWebhookConfiguration and MutatingWebhookConfiguration
 * of deploy/base/webhooks.yaml (compiled in), rendered with the caBundle of the CA that
 * `kadmit certs` issues, for `kadmit certs --render`.
 *
 * Ownership: every function borrows its pointer arguments; output goes to caller-owned buffers.
 */
#ifndef KADMIT_CERTS_WEBHOOKS_H
#define KADMIT_CERTS_WEBHOOKS_H

#include <stddef.h>

#include "kadmit/buf.h"

struct ka_certs_render_opts {
    const char *ca_bundle_b64; /* caBundle value (required) */
    const char *webhook_url;   /* NULL: service clientConfig; else "https://host:port" and each
                                  webhook's service path is appended */
    const char *service;       /* NULL: keep the template's */
    const char *namespace;     /* NULL: keep the template's */
};

/** The webhook configuration template compiled in from deploy/base/webhooks.yaml (borrowed). */
const char *ka_certs_webhooks_template(size_t *len);

/**
 * Render webhook configurations: every document of `tmpl` whose `webhooks` list has
 * `clientConfig`s gets `caBundle` set, and, with `webhook_url`, `clientConfig.service` replaced
 * by `clientConfig.url`. The output is YAML appended to `out`. Returns 0, KA_EPARSE (template is
 * not YAML or has no webhooks), KA_ENOMEM or KA_ELIMIT; `diag` gets a message on error.
 */
__attribute__((warn_unused_result)) int
ka_certs_render_webhooks(const char *tmpl, size_t len, const struct ka_certs_render_opts *ro,
                         struct ka_buf *out, struct ka_buf *diag);

#endif
