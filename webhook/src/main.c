/* kadmit: flags -> subcommand. Everything else lives in the modules. */
#include <stdio.h>
#include <string.h>

#include "kadmit/cli.h"
#include "kadmit/tls.h"
#include "kadmit/version.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static int ka_cmd_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: kadmit version\n\nPrints kadmit's version and Mbed TLS's.\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "kadmit version: unexpected argument \"%s\" (see --help)\n", argv[1]);
        return 2;
    }
    printf("kadmit %s (Mbed TLS %s)\n", KADMIT_VERSION, ka_tls_library_version());
    return 0;
}

static const struct command commands[] = {
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
};

static void usage(FILE *f)
{
    fprintf(f, "usage: kadmit <command> [flags]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(f, "\n`kadmit <command> --help` lists a command's flags. kadmit %s\n", KADMIT_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "help") == 0 && argc > 2) { /* `kadmit help CMD` = `kadmit CMD --help` */
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
            if (strcmp(argv[2], commands[i].name) == 0) {
                char *help_argv[] = {argv[2], "--help", NULL};
                return commands[i].run(2, help_argv);
            }
        }
        fprintf(stderr, "kadmit: unknown command \"%s\"\n", argv[2]);
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        return ka_cmd_version(argc - 1, argv + 1);
    }
    if (ka_tls_global_init() != 0) {
        fprintf(stderr, "kadmit: cannot initialise Mbed TLS's PSA Crypto\n");
        return 1;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "kadmit: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
