/*
 * Subcommands of the kadmit binary. Each takes the arguments after its own name (argv[0] is the
 * subcommand name) and returns the process exit code: 0 success, 1 "found a problem" where the
 * command defines it, 2 bad usage or bad input.
 */
#ifndef KADMIT_CLI_H
#define KADMIT_CLI_H

int ka_cmd_review(int argc, char **argv);
int ka_cmd_lint(int argc, char **argv);
int ka_cmd_audit(int argc, char **argv);
int ka_cmd_serve(int argc, char **argv);

struct ka_policy;
/** Load --policies PATH (NULL: the embedded checklist), printing diagnostics to stderr. */
int ka_cli_load_policy(const char *path, const char *attestations, struct ka_policy **out);

/* Each module that offers a subcommand declares it here and adds a row to main.c's table. */

/** `kadmit certs`: create or renew the webhook CA and serving certificate (cmd_certs.c). */
int ka_cmd_certs(int argc, char **argv);
/** `kadmit attest verify ...`: explain image-scan attestations for one image (cmd_attest.c). */
int ka_cmd_attest(int argc, char **argv);
/** `kadmit fix`: rewrite manifests to meet the policy, keeping the file's own text (cmd_fix.c). */
int ka_cmd_fix(int argc, char **argv);

#endif
