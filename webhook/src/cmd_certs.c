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

static void certs_usage(FILE *f)
{
    fprintf(f,
            "usage: kadmit certs --out-dir DIR [flags]\n"
            "\n"
            "Create a private CA and a serving certificate for the kadmit Service, or renew them.\n"
            "Idempotent: a valid CA is kept; the serving certificate is re-issued only when it is\n"
            "missing, invalid, not signed by the CA, lacks a required name, or expires within\n"
            "--renew-before. Otherwise nothing is written. Writes DIR/ca.crt, DIR/ca.key,\n"
            "DIR/tls.crt, DIR/tls.key (keys mode 0600, every file replaced atomically).\n"
            "\n"
            "flags:\n"
            "  --out-dir DIR             directory of the four files (required; created 0700)\n"
            "  --service NAME            Service name (default kadmit)\n"
            "  --namespace NS            Service namespace (default kadmit-system)\n"
            "  --dns NAME                extra DNS name, repeatable (default none)\n"
            "  --ip ADDR                 extra IP address, repeatable, e.g. 127.0.0.1 (default "
            "none)\n"
            "  --key-type TYPE           ecdsa-p256|ecdsa-p384|rsa-2048|rsa-3072 for new keys\n"
            "                            (default ecdsa-p256; when given, a serving certificate "
            "with\n"
            "                            another key type is re-issued)\n"
            "  --ca-validity DURATION    lifetime of a new CA, <N>d|h|m|s (default 3650d)\n"
            "  --validity DURATION       lifetime of a new serving certificate (default 365d;\n"
            "                            never beyond the CA's)\n"
            "  --renew-before DURATION   re-issue when it expires within this (default 30d)\n"
            "  --force                   re-issue the serving certificate now (default off)\n"
            "  --print-ca-bundle         print the caBundle (base64 of ca.crt, one line) on "
            "stdout\n"
            "                            (default off; status lines then go to stderr)\n"
            "  --render-webhooks FILE|-  write the Mutating/ValidatingWebhookConfigurations with\n"
            "                            caBundle filled in (default off)\n"
            "  --webhook-url URL         with --render-webhooks: clientConfig.url = URL + path\n"
            "                            instead of the Service, e.g. https://127.0.0.1:8443\n"
            "                            (default: use the Service)\n"
            "  --webhooks-template FILE  template instead of the built-in copy of\n"
            "                            deploy/base/webhooks.yaml (default built-in)\n"
            "  -h, --help                this help\n"
            "\n"
            "exit status: 0 done, 1 could not create or renew, 2 bad usage or input\n");
}

/* "--flag value" or "--flag=value". Returns the value or NULL (and complains). */
static const char *flag_value(int argc, char **argv, int *i, const char *name, int *matched)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    *matched = 0;
    if (strncmp(a, name, n) != 0) {
        return NULL;
    }
    if (a[n] == '=') {
        *matched = 1;
        return a + n + 1;
    }
    if (a[n] != '\0') {
        return NULL;
    }
    *matched = 1;
    if (*i + 1 >= argc) {
        fprintf(stderr, "kadmit certs: %s needs a value\n", name);
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

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
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        int m = 0;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            certs_usage(stdout);
            return -1;
        } else if (strcmp(a, "--force") == 0) {
            c->opts.force = 1;
        } else if (strcmp(a, "--print-ca-bundle") == 0) {
            c->print_ca_bundle = 1;
        } else if ((v = flag_value(argc, argv, &i, "--out-dir", &m)) != NULL || m) {
            c->out_dir = v;
        } else if ((v = flag_value(argc, argv, &i, "--service", &m)) != NULL || m) {
            c->opts.service = v;
        } else if ((v = flag_value(argc, argv, &i, "--namespace", &m)) != NULL || m) {
            c->opts.namespace = v;
        } else if ((v = flag_value(argc, argv, &i, "--dns", &m)) != NULL || m) {
            if (v != NULL && c->opts.n_dns >= KA_CERTS_MAX_NAMES) {
                fprintf(stderr, "kadmit certs: at most %d --dns names\n", KA_CERTS_MAX_NAMES);
                return 2;
            }
            if (v != NULL) {
                c->opts.dns[c->opts.n_dns++] = v;
            }
        } else if ((v = flag_value(argc, argv, &i, "--ip", &m)) != NULL || m) {
            if (v != NULL && c->opts.n_ip >= KA_CERTS_MAX_NAMES) {
                fprintf(stderr, "kadmit certs: at most %d --ip addresses\n", KA_CERTS_MAX_NAMES);
                return 2;
            }
            if (v != NULL) {
                c->opts.ip[c->opts.n_ip++] = v;
            }
        } else if ((v = flag_value(argc, argv, &i, "--key-type", &m)) != NULL || m) {
            if (v != NULL && ka_certs_parse_key_type(v, &c->opts.key_type) != 0) {
                fprintf(stderr,
                        "kadmit certs: --key-type must be ecdsa-p256, ecdsa-p384, rsa-2048 or "
                        "rsa-3072 (got \"%s\")\n",
                        v);
                return 2;
            }
            c->opts.key_type_set = 1;
        } else if ((v = flag_value(argc, argv, &i, "--ca-validity", &m)) != NULL || m) {
            if (v != NULL && ka_certs_parse_duration(v, &c->opts.ca_validity) != 0) {
                fprintf(stderr, "kadmit certs: --ca-validity: bad duration \"%s\" (e.g. 3650d)\n",
                        v);
                return 2;
            }
        } else if ((v = flag_value(argc, argv, &i, "--validity", &m)) != NULL || m) {
            if (v != NULL && ka_certs_parse_duration(v, &c->opts.validity) != 0) {
                fprintf(stderr, "kadmit certs: --validity: bad duration \"%s\" (e.g. 365d)\n", v);
                return 2;
            }
        } else if ((v = flag_value(argc, argv, &i, "--renew-before", &m)) != NULL || m) {
            if (v != NULL && ka_certs_parse_duration(v, &c->opts.renew_before) != 0) {
                fprintf(stderr, "kadmit certs: --renew-before: bad duration \"%s\" (e.g. 30d)\n",
                        v);
                return 2;
            }
        } else if ((v = flag_value(argc, argv, &i, "--render-webhooks", &m)) != NULL || m) {
            c->render_path = v;
        } else if ((v = flag_value(argc, argv, &i, "--webhook-url", &m)) != NULL || m) {
            c->webhook_url = v;
        } else if ((v = flag_value(argc, argv, &i, "--webhooks-template", &m)) != NULL || m) {
            c->template_path = v;
        } else {
            fprintf(stderr, "kadmit certs: unknown flag \"%s\" (see kadmit certs --help)\n", a);
            return 2;
        }
        if (m && v == NULL) {
            return 2; /* flag_value complained */
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
