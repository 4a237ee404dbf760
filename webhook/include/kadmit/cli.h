/*
 * Subcommands of the kadmit binary. Each takes the arguments after its own name (argv[0] is the
 * subcommand name) and returns the process exit code: 0 success, 1 "found a problem" where the
 * command defines it, 2 bad usage or bad input.
 */
#ifndef KADMIT_CLI_H
#define KADMIT_CLI_H

/* Each module that offers a subcommand declares it here and adds a row to main.c's table. */

/** `kadmit attest verify ...`: explain image-scan attestations for one image (cmd_attest.c). */
int ka_cmd_attest(int argc, char **argv);

#endif
