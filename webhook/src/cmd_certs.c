/* `kadmit certs`: create or renew the webhook's CA and serving certificate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kadmit/buf.h"
#include "kadmit/certs.h"
#include "kadmit/certs_webhooks.h"
#include "kadmit/cli.h"
#include "kadmit/error.h"
#include "kadmit/file.h"

static const struct ka_cli_usage certs_usage = {
    "kadmit certs --out-dir DIR [flags]",
    "Create a private CA and a serving certificate for the kadmit Service, or renew\n"
    "them. Idempotent: a valid CA is kept; the serving certificate is re-issued only\n"
    "when it is missing, invalid, not signed by the CA, lacks a required name, or\n"
    "expires within --renew-before. Otherwise nothing is written. Writes DIR/ca.crt,\n"
    "DIR/ca.key, DIR/tls.crt, DIR/tls.key (keys mode 0600, every file replaced\n"
    "atomically).\n",
    "exit status: 0 done, 1 could not create or renew, 2 bad usage or input\n"};

static void format_utc(time_t t, char *out, size_t size)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(out, size, "?");
    }
}

struct certs_cli {
    struct ka_certs_opts opts;
    const char *out_dir;
    const char *render_path;
    const char *webhook_url;
    const char *template_path;
    int print_ca_bundle;
};

/* Returns 0, 2 (usage) or -1 (--help printed). */
static int parse_flags(int argc, char **argv, struct certs_cli *c)
{
    const char *key_type = NULL, *ca_validity = NULL, *validity = NULL, *renew_before = NULL;
    int operands = 0;
    const struct ka_cli_opt flags[] = {
        KA_CLI_STRING("out-dir", 0, &c->out_dir, "DIR",
                      "directory of the four files (required; created 0700)"),
        KA_CLI_STRING("service", 0, &c->opts.service, "NAME", "Service name (default kadmit)"),
        KA_CLI_STRING("namespace", 0, &c->opts.namespace, "NS",
                      "Service namespace (default kadmit-system)"),
        KA_CLI_LIST("dns", 0, c->opts.dns, &c->opts.n_dns, KA_CERTS_MAX_NAMES, "NAME",
                    "extra DNS name, repeatable (default none)"),
        KA_CLI_LIST("ip", 0, c->opts.ip, &c->opts.n_ip, KA_CERTS_MAX_NAMES, "ADDR",
                    "extra IP address, repeatable, e.g. 127.0.0.1 (default none)"),
        KA_CLI_STRING("key-type", 0, &key_type, "TYPE",
                      "ecdsa-p256|ecdsa-p384|rsa-2048|rsa-3072 for new keys (default ecdsa-p256; "
                      "when given, a serving certificate with another key type is re-issued)"),
        KA_CLI_STRING("ca-validity", 0, &ca_validity, "DURATION",
                      "lifetime of a new CA, <N>d|h|m|s (default 3650d)"),
        KA_CLI_STRING("validity", 0, &validity, "DURATION",
                      "lifetime of a new serving certificate (default 365d; never beyond the "
                      "CA's)"),
        KA_CLI_STRING("renew-before", 0, &renew_before, "DURATION",
                      "re-issue when it expires within this (default 30d)"),
        KA_CLI_FLAG("force", 0, &c->opts.force,
                    "re-issue the serving certificate now (default off)"),
        KA_CLI_FLAG("print-ca-bundle", 0, &c->print_ca_bundle,
                    "print the caBundle (base64 of ca.crt, one line) on stdout (default off; "
                    "status lines then go to stderr)"),
        KA_CLI_STRING("render-webhooks", 0, &c->render_path, "FILE|-",
                      "write the Mutating/ValidatingWebhookConfigurations with caBundle filled "
                      "in (default off)"),
        KA_CLI_STRING("webhook-url", 0, &c->webhook_url, "URL",
                      "with --render-webhooks: clientConfig.url = URL + path instead of the "
                      "Service, e.g. https://127.0.0.1:8443 (default: use the Service)"),
        KA_CLI_STRING("webhooks-template", 0, &c->template_path, "FILE",
                      "template instead of the built-in copy of deploy/base/webhooks.yaml "
                      "(default built-in)"),
        KA_CLI_END,
    };
    int done = ka_cli_parse("certs", &certs_usage, flags, argc, argv, &operands);
    if (done >= 0) {
        return done == 0 ? -1 : 2;
    }
    if (operands < argc) {
        fprintf(stderr, "kadmit certs: unexpected argument \"%s\" (see kadmit certs --help)\n",
                argv[operands]);
        return 2;
    }
    if (key_type != NULL) {
        if (ka_certs_parse_key_type(key_type, &c->opts.key_type) != 0) {
            fprintf(stderr,
                    "kadmit certs: --key-type must be ecdsa-p256, ecdsa-p384, rsa-2048 or "
                    "rsa-3072 (got \"%s\")\n",
                    key_type);
            return 2;
        }
        c->opts.key_type_set = 1;
    }
    static const struct {
        const char *flag, *example;
    } durations[] = {{"ca-validity", "3650d"}, {"validity", "365d"}, {"renew-before", "30d"}};
    const char *values[] = {ca_validity, validity, renew_before};
    int64_t *targets[] = {&c->opts.ca_validity, &c->opts.validity, &c->opts.renew_before};
    for (size_t i = 0; i < 3; i++) {
        if (values[i] != NULL && ka_certs_parse_duration(values[i], targets[i]) != 0) {
            fprintf(stderr, "kadmit certs: --%s: bad duration \"%s\" (e.g. %s)\n",
                    durations[i].flag, values[i], durations[i].example);
            return 2;
        }
    }
    if (c->out_dir == NULL || *c->out_dir == '\0') {
        fprintf(stderr, "kadmit certs: --out-dir is required (see kadmit certs --help)\n");
        return 2;
    }
    if (c->webhook_url != NULL && c->render_path == NULL) {
        fprintf(stderr, "kadmit certs: --webhook-url only applies with --render-webhooks\n");
        return 2;
    }
    return 0;
}

static int render(const struct certs_cli *c, const char *bundle)
{
    int ret = KA_EINTERNAL;
    struct ka_buf tmpl, out, diag;
    const char *text = NULL;
    size_t len = 0;
    ka_buf_init(&tmpl, 1024 * 1024);
    ka_buf_init(&out, 4 * 1024 * 1024);
    ka_buf_init(&diag, 4096);

    if (c->template_path != NULL) {
        ret = ka_buf_read_file(&tmpl, c->template_path);
        if (ret != 0) {
            fprintf(stderr, "kadmit certs: %s: %s\n", c->template_path, ka_strerror(ret));
            goto cleanup;
        }
        text = tmpl.data;
        len = tmpl.len;
    } else {
        text = ka_certs_webhooks_template(&len);
    }
    struct ka_certs_render_opts ro = {
        .ca_bundle_b64 = bundle,
        .webhook_url = c->webhook_url,
        .service = c->opts.service,
        .namespace = c->opts.namespace,
    };
    ret = ka_buf_printf(&out,
                        "# Rendered by `kadmit certs --render-webhooks` from "
                        "deploy/base/webhooks.yaml: caBundle is %s/ca.crt.\n",
                        c->out_dir);
    if (ret != 0) {
        goto cleanup;
    }
    ret = ka_certs_render_webhooks(text, len, &ro, &out, &diag);
    if (ret != 0) {
        fprintf(stderr, "kadmit certs: %s\n", diag.data ? diag.data : ka_strerror(ret));
        goto cleanup;
    }
    if (strcmp(c->render_path, "-") == 0) {
        if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
            ret = KA_EIO;
        }
    } else {
        ret = ka_file_write_atomic(c->render_path, out.data, out.len, 0644);
        if (ret != 0) {
            fprintf(stderr, "kadmit certs: cannot write %s: %s\n", c->render_path,
                    ka_strerror(ret));
        }
    }
cleanup:
    ka_buf_free(&diag);
    ka_buf_free(&out);
    ka_buf_free(&tmpl);
    return ret;
}

int ka_cmd_certs(int argc, char **argv)
{
    int rc = 1;
    struct certs_cli c;
    struct ka_certs_report report;
    struct ka_buf diag, ca_pem, bundle;
    char path[4096];
    char until[32];

    memset(&c, 0, sizeof(c));
    ka_certs_opts_init(&c.opts);
    ka_buf_init(&diag, 4096);
    ka_buf_init(&ca_pem, KA_CERTS_MAX_PEM);
    ka_buf_init(&bundle, 4 * KA_CERTS_MAX_PEM);

    int pr = parse_flags(argc, argv, &c);
    if (pr != 0) {
        rc = pr < 0 ? 0 : 2;
        goto cleanup;
    }
    int ret = ka_certs_opts_check(&c.opts, &diag);
    if (ret != 0) {
        fprintf(stderr, "kadmit certs: %s\n", diag.data ? diag.data : ka_strerror(ret));
        rc = 2;
        goto cleanup;
    }
    ret = ka_certs_ensure(c.out_dir, &c.opts, &report, &diag);
    if (ret != 0) {
        fprintf(stderr, "kadmit certs: %s\n", diag.data ? diag.data : ka_strerror(ret));
        rc = ret == KA_EINVAL ? 2 : 1;
        goto cleanup;
    }
    /* Status on stdout, unless stdout carries data. */
    int data_on_stdout =
        c.print_ca_bundle || (c.render_path != NULL && strcmp(c.render_path, "-") == 0);
    FILE *status = data_on_stdout ? stderr : stdout;
    format_utc(report.ca_not_after, until, sizeof(until));
    fprintf(status, "ca: %s (%s; valid until %s)\n", ka_certs_action_name(report.ca),
            report.ca_reason, until);
    format_utc(report.leaf_not_after, until, sizeof(until));
    fprintf(status, "leaf: %s (%s; valid until %s)\n", ka_certs_action_name(report.leaf),
            report.leaf_reason, until);
    fflush(status);

    if (c.print_ca_bundle || c.render_path != NULL) {
        snprintf(path, sizeof(path), "%s/ca.crt", c.out_dir);
        ret = ka_buf_read_file(&ca_pem, path);
        if (ret == 0) {
            ret = ka_certs_base64(ca_pem.data, ca_pem.len, &bundle);
        }
        if (ret != 0) {
            fprintf(stderr, "kadmit certs: %s: %s\n", path, ka_strerror(ret));
            goto cleanup;
        }
    }
    if (c.render_path != NULL && render(&c, bundle.data) != 0) {
        goto cleanup;
    }
    if (c.print_ca_bundle) {
        printf("%s\n", bundle.data);
        if (fflush(stdout) != 0) {
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    ka_buf_free(&bundle);
    ka_buf_free(&ca_pem);
    ka_buf_free(&diag);
    return rc;
}
