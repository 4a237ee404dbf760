/*
 * What the subcommands share: one option table each, parsed here, and the policy they load.
 * See kadmit/cli.h.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kadmit/buf.h"
#include "kadmit/cli.h"
#include "kadmit/config.h"
#include "kadmit/error.h"
#include "kadmit/log.h"
#include "kadmit/policy.h"
#include "kadmit/tls.h"
#include "kadmit/version.h"

/* ---- options ------------------------------------------------------------------------------ */

#define LONG_ONLY_BASE 256         /* getopt values of options without a short name: 256 + row */
#define USAGE_WIDTH 80             /* usage text wraps here */
#define USAGE_HELP_COLUMN 28       /* where an option's help starts */
#define USAGE_SETTING_HELP_MAX 640 /* one setting's help with its env, default and range */

void (*ka_cli_usage_hook)(const struct ka_cli_usage *usage, const struct ka_cli_opt *opts);

/* `text` from column `column` on, words wrapped at USAGE_WIDTH, every further line indented to
 * `column`; a "\n" in `text` starts a new line. */
static void print_wrapped(FILE *f, int column, const char *text)
{
    int at = column;
    for (const char *p = text; *p != '\0';) {
        if (*p == '\n' || *p == ' ') {
            if (*p == '\n') {
                fprintf(f, "\n%*s", column, "");
                at = column;
            }
            p++;
            continue;
        }
        int len = (int)strcspn(p, " \n");
        if (at > column && at + 1 + len > USAGE_WIDTH) {
            fprintf(f, "\n%*s", column, "");
            at = column;
        }
        fprintf(f, "%s%.*s", at > column ? " " : "", len, p);
        at += (at > column ? 1 : 0) + len;
        p += len;
    }
    fputc('\n', f);
}

/* "  -o, --output FMT   help..." (long-only names aligned after "    "). */
static void print_option(FILE *f, char short_name, const char *name, const char *metavar,
                         const char *help)
{
    char left[128];
    char shorts[8] = "    ";
    if (short_name != 0) {
        snprintf(shorts, sizeof(shorts), "-%c, ", short_name);
    }
    int len = snprintf(left, sizeof(left), "  %s--%s%s%s", shorts, name, metavar ? " " : "",
                       metavar ? metavar : "");
    if (len + 2 > USAGE_HELP_COLUMN) {
        fprintf(f, "%s\n%*s", left, USAGE_HELP_COLUMN, "");
    } else {
        fprintf(f, "%-*s", USAGE_HELP_COLUMN, left);
    }
    print_wrapped(f, USAGE_HELP_COLUMN, help != NULL ? help : "");
}

void ka_cli_usage(FILE *f, const struct ka_cli_usage *usage, const struct ka_cli_opt *opts)
{
    if (ka_cli_usage_hook != NULL) {
        ka_cli_usage_hook(usage, opts);
        return;
    }
    const char *prefix = "usage: ";
    for (const char *line = usage->synopsis; line != NULL && *line != '\0';) {
        size_t len = strcspn(line, "\n");
        fprintf(f, "%s%.*s\n", prefix, (int)len, line);
        prefix = "       ";
        line = line[len] != '\0' ? line + len + 1 : NULL;
    }
    if (usage->description != NULL) {
        fprintf(f, "\n%s", usage->description);
    }
    fprintf(f, "\noptions:\n");
    for (const struct ka_cli_opt *o = opts; o->name != NULL; o++) {
        print_option(f, o->short_name, o->name, o->metavar, o->help);
    }
    print_option(f, 'h', "help", NULL, "print this help and exit");
    if (usage->notes != NULL) {
        fprintf(f, "\n%s", usage->notes);
    }
}

void ka_cli_settings_usage(FILE *f, const struct ka_cli_usage *usage)
{
    size_t n = 0;
    struct ka_config_doc doc;
    while (ka_config_describe(n, &doc) == 0) {
        n++;
    }
    struct ka_cli_opt *rows = calloc(n + 1, sizeof(*rows));
    char *helps = malloc(n * USAGE_SETTING_HELP_MAX);
    if (rows == NULL || helps == NULL) {
        fprintf(f, "kadmit: out of memory\n");
        goto exit;
    }
    for (size_t i = 0; i < n && ka_config_describe(i, &doc) == 0; i++) {
        char *help = helps + i * USAGE_SETTING_HELP_MAX;
        int len = snprintf(help, USAGE_SETTING_HELP_MAX, "%s\nenv %s, default \"%s\"", doc.help,
                           doc.env, doc.def);
        if (doc.ranged && len > 0 && len < USAGE_SETTING_HELP_MAX) {
            snprintf(help + len, USAGE_SETTING_HELP_MAX - (size_t)len, ", range %lu..%lu", doc.min,
                     doc.max);
        }
        rows[i] = (struct ka_cli_opt)KA_CLI_STRING(doc.name, 0, NULL, doc.metavar, help);
    }
    rows[n] = (struct ka_cli_opt)KA_CLI_END;
    ka_cli_usage(f, usage, rows);
exit:
    free(helps);
    free(rows);
}

/* The table row getopt_long returned `val` for, or NULL ('?', ':'). */
static const struct ka_cli_opt *row_of(const struct ka_cli_opt *opts, const struct option *longopts,
                                       size_t n, int val)
{
    for (size_t i = 0; i < n; i++) {
        if (longopts[i].val == val) {
            return &opts[i];
        }
    }
    return NULL;
}

int ka_cli_parse(const char *command, const struct ka_cli_usage *usage,
                 const struct ka_cli_opt *opts, int argc, char **argv, int *operands)
{
    struct option longopts[KA_CLI_MAX_OPTS + 2];
    char shortopts[2 * KA_CLI_MAX_OPTS + 3];
    size_t n = 0, s = 0;
    shortopts[s++] = ':'; /* a missing value returns ':', an unknown flag '?' */
    for (; opts[n].name != NULL; n++) {
        if (n == KA_CLI_MAX_OPTS) {
            fprintf(stderr, "kadmit %s: more than %d options in its table\n", command,
                    KA_CLI_MAX_OPTS);
            return 2;
        }
        const struct ka_cli_opt *o = &opts[n];
        int arg = o->type == KA_CLI_OPT_FLAG ? no_argument : required_argument;
        longopts[n] = (struct option){o->name, arg, NULL,
                                      o->short_name ? o->short_name : LONG_ONLY_BASE + (int)n};
        if (o->short_name) {
            shortopts[s++] = o->short_name;
            if (arg == required_argument) {
                shortopts[s++] = ':';
            }
        }
        if (o->type == KA_CLI_OPT_STRING && o->env != NULL && getenv(o->env) != NULL) {
            *(const char **)o->target = getenv(o->env);
        }
    }
    longopts[n] = (struct option){"help", no_argument, NULL, 'h'}; /* every subcommand has it */
    longopts[n + 1] = (struct option){NULL, 0, NULL, 0};
    shortopts[s++] = 'h';
    shortopts[s] = '\0';
    optind = 1;
    opterr = 0; /* our messages: they name the command */
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == ':') { /* optopt: the option's getopt value */
            const struct ka_cli_opt *o = row_of(opts, longopts, n, optopt);
            fprintf(stderr, "kadmit %s: --%s needs a value\n", command, o ? o->name : "?");
            ka_cli_usage(stderr, usage, opts);
            return 2;
        }
        const struct ka_cli_opt *o = row_of(opts, longopts, n, c);
        if (o == NULL && c == 'h') {
            ka_cli_usage(stdout, usage, opts);
            return 0;
        }
        if (o == NULL) { /* '?': optopt is the short name, or 0 for a long one */
            if (optopt != 0) {
                fprintf(stderr, "kadmit %s: unknown flag -%c\n", command, optopt);
            } else {
                fprintf(stderr, "kadmit %s: unknown flag %s\n", command, argv[optind - 1]);
            }
            ka_cli_usage(stderr, usage, opts);
            return 2;
        }
        char err[256] = "";
        switch (o->type) {
        case KA_CLI_OPT_STRING:
            *(const char **)o->target = optarg;
            break;
        case KA_CLI_OPT_FLAG:
            *(int *)o->target = 1;
            break;
        case KA_CLI_OPT_LIST:
            if (*o->count == o->max) {
                fprintf(stderr, "kadmit %s: at most %zu --%s %s\n", command, o->max, o->name,
                        o->max == 1 ? "value" : "values");
                return 2;
            }
            ((const char **)o->target)[(*o->count)++] = optarg;
            break;
        case KA_CLI_OPT_CALL:
            if (o->call(o->target, optarg, err, sizeof(err)) != 0) {
                if (err[0] != '\0') {
                    fprintf(stderr, "kadmit %s: --%s: %s\n", command, o->name, err);
                } else {
                    fprintf(stderr, "kadmit %s: --%s: invalid value \"%s\"\n", command, o->name,
                            optarg);
                }
                return 2;
            }
            break;
        }
    }
    *operands = optind;
    return -1;
}

int ka_cli_namespace_ok(const char *command, const char *ns)
{
    size_t n = strlen(ns);
    int ok = n > 0 && n <= 63 && ns[0] != '-' && ns[n - 1] != '-';
    for (size_t i = 0; ok && i < n; i++) {
        ok = (ns[i] >= 'a' && ns[i] <= 'z') || (ns[i] >= '0' && ns[i] <= '9') || ns[i] == '-';
    }
    if (!ok) {
        fprintf(stderr,
                "kadmit %s: --namespace \"%s\" is not a namespace name (lower-case letters, "
                "digits and '-', at most 63)\n",
                command, ns);
    }
    return ok;
}

void ka_cli_print_lines(FILE *f, const char *prefix, const char *text)
{
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        int len = end != NULL ? (int)(end - line) : (int)strlen(line);
        fprintf(f, "%s%.*s\n", prefix, len, line);
        line = end != NULL ? end + 1 : NULL;
    }
}

/* ---- the policy a subcommand judges by ---------------------------------------------------- */

int ka_cli_attestations_override(const char *dir, struct ka_rule_override *out, char **json)
{
    cJSON *v = cJSON_CreateString(dir);
    *json = v != NULL ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(v);
    if (*json == NULL) {
        return KA_ENOMEM;
    }
    *out = (struct ka_rule_override){"image-scan-attestation", "attestationsDir", *json};
    return 0;
}

int ka_cli_load_policy(const char *path, const char *attestations, struct ka_policy **out)
{
    struct ka_buf diag;
    ka_buf_init(&diag, 256 * 1024);
    struct ka_rule_override override;
    char *json = NULL;
    struct ka_policy_load_opts opts = {.quiet_warnings = 1}; /* `kadmit lint` shows them */
    int ret = 0;
    if (attestations != NULL) {
        ret = ka_cli_attestations_override(attestations, &override, &json);
        opts.overrides = &override;
        opts.n_overrides = 1;
    }
    if (ret == 0) {
        enum ka_log_level saved = ka_log_threshold;
        ka_log_threshold = KA_LOG_WARN; /* the server's "attestations loaded" notes: not here */
        ret = path != NULL ? ka_policy_load_path(path, &opts, out, &diag)
                           : ka_policy_load_default(&opts, out, &diag);
        ka_log_threshold = saved;
    }
    cJSON_free(json);
    if (ret != 0) {
        fprintf(stderr, "%skadmit: cannot load policy %s: %s\n", diag.data ? diag.data : "",
                path ? path : "(embedded)", ka_strerror(ret));
    } else {
        /* warnings, e.g. no trusted keys or skipped attestation files: one line each */
        ka_cli_print_lines(stderr, "kadmit: warning: ", diag.data);
    }
    ka_buf_free(&diag);
    return ret;
}

/* ---- the subcommands ---------------------------------------------------------------------- */

int ka_cmd_version(int argc, char **argv)
{
    static const struct ka_cli_usage usage = {"kadmit version",
                                              "Prints kadmit's version and Mbed TLS's.\n", NULL};
    const struct ka_cli_opt flags[] = {KA_CLI_END};
    int operands = 0;
    int done = ka_cli_parse("version", &usage, flags, argc, argv, &operands);
    if (done >= 0) {
        return done;
    }
    if (operands < argc) {
        fprintf(stderr, "kadmit version: unexpected argument \"%s\" (see --help)\n",
                argv[operands]);
        return 2;
    }
    printf("kadmit %s (Mbed TLS %s)\n", KADMIT_VERSION, ka_tls_library_version());
    return 0;
}

const struct ka_cli_command ka_cli_commands[] = {
    {"serve", ka_cmd_serve, "run the HTTPS admission webhook server"},
    {"review", ka_cmd_review, "answer one AdmissionReview from a file or stdin"},
    {"audit", ka_cmd_audit, "check manifests and cluster snapshots against the policy"},
    {"fix", ka_cmd_fix, "rewrite manifests to meet the policy, keeping comments and layout"},
    {"lint", ka_cmd_lint, "validate policy files"},
    {"policy", ka_cmd_policy, "show the effective policy, with where each value came from"},
    {"rules", ka_cmd_rules, "list the rules kadmit knows"},
    {"explain", ka_cmd_explain, "explain one rule: what it checks, its params, an example"},
    {"version", ka_cmd_version, "print the version"},
    {"certs", ka_cmd_certs, "create or renew the webhook's CA and serving certificate"},
    {"attest", ka_cmd_attest, "explain image-scan attestations for an image"},
    {NULL, NULL, NULL},
};
