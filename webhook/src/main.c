/* kadmit: flags -> subcommand. Everything else lives in the modules. */
#include <stdio.h>
#include <string.h>

#include "kadmit/cli.h"
#include "kadmit/tls.h"
#include "kadmit/version.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kadmit <command> [flags]\n\ncommands:\n");
    for (const struct ka_cli_command *c = ka_cli_commands; c->name != NULL; c++) {
        fprintf(f, "  %-8s %s\n", c->name, c->summary);
    }
    fprintf(f, "\n`kadmit <command> --help` lists a command's flags. kadmit %s\n", KADMIT_VERSION);
}

static const struct ka_cli_command *find_command(const char *name)
{
    const struct ka_cli_command *c = ka_cli_commands;
    while (c->name != NULL && strcmp(c->name, name) != 0) {
        c++;
    }
    return c->name != NULL ? c : NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "help") == 0 && argc > 2) { /* `kadmit help CMD` = `kadmit CMD --help` */
        const struct ka_cli_command *c = find_command(argv[2]);
        if (c != NULL) {
            char *help_argv[] = {argv[2], "--help", NULL};
            return c->run(2, help_argv);
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
    const struct ka_cli_command *c = find_command(argv[1]);
    if (c != NULL) {
        return c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "kadmit: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
