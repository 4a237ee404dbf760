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
#include "kadmit/error.h"
#include "kadmit/log.h"
#include "kadmit/policy.h"

/* ---- options ------------------------------------------------------------------------------ */

#define LONG_ONLY_BASE 256 /* getopt values of options without a short name: 256 + row */

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

int ka_cli_parse(const char *command, const struct ka_cli_opt *opts, int argc, char **argv,
                 void (*usage)(FILE *f), int *operands)
{
    struct option longopts[KA_CLI_MAX_OPTS + 2];
    char shortopts[2 * KA_CLI_MAX_OPTS + 3];
    size_t n = 0, s = 0;
    int help_row = 0;
    shortopts[s++] = ':'; /* a missing value returns ':', an unknown flag '?' */
    for (; opts[n].name != NULL; n++) {
        if (n == KA_CLI_MAX_OPTS) {
            fprintf(stderr, "kadmit %s: more than %d options in its table\n", command,
                    KA_CLI_MAX_OPTS);
            return 2;
        }
        const struct ka_cli_opt *o = &opts[n];
        int arg = o->type == KA_CLI_OPT_FLAG || o->type == KA_CLI_OPT_HELP ? no_argument
                                                                           : required_argument;
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
        help_row |= o->type == KA_CLI_OPT_HELP;
    }
    size_t end = n;
    if (!help_row) { /* every subcommand has -h, --help */
        longopts[end++] = (struct option){"help", no_argument, NULL, 'h'};
        shortopts[s++] = 'h';
    }
    longopts[end] = (struct option){NULL, 0, NULL, 0};
    shortopts[s] = '\0';
    optind = 1;
    opterr = 0; /* our messages: they name the command */
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == ':') { /* optopt: the option's getopt value */
            const struct ka_cli_opt *o = row_of(opts, longopts, n, optopt);
            fprintf(stderr, "kadmit %s: --%s needs a value\n", command, o ? o->name : "?");
            usage(stderr);
            return 2;
        }
        const struct ka_cli_opt *o = row_of(opts, longopts, n, c);
        if (o == NULL && c == 'h' && !help_row) {
            usage(stdout);
            return 0;
        }
        if (o == NULL) { /* '?': optopt is the short name, or 0 for a long one */
            if (optopt != 0) {
                fprintf(stderr, "kadmit %s: unknown flag -%c\n", command, optopt);
            } else {
                fprintf(stderr, "kadmit %s: unknown flag %s\n", command, argv[optind - 1]);
            }
            usage(stderr);
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
        case KA_CLI_OPT_HELP:
            usage(stdout);
            return 0;
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
