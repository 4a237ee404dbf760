/*
 * Subcommands of the kadmit binary. Each takes the arguments after its own name (argv[0] is the
 * subcommand name) and returns the process exit code: 0 success, 1 "found a problem" where the
 * command defines it, 2 bad usage or bad input.
 */
#ifndef KADMIT_CLI_H
#define KADMIT_CLI_H

/** `kadmit review` (cmd_review.c). */
int ka_cmd_review(int argc, char **argv);
/** `kadmit lint PATH...` (cmd_lint.c). */
int ka_cmd_lint(int argc, char **argv);
int ka_cmd_audit(int argc, char **argv);
int ka_cmd_serve(int argc, char **argv);

struct ka_policy;
struct ka_rule_override;
/** Load --policies PATH (NULL: the embedded checklist), printing diagnostics to stderr.
 * `attestations` (may be NULL) overrides image-scan-attestation's attestationsDir. */
int ka_cli_load_policy(const char *path, const char *attestations, struct ka_policy **out);
/**
 * The override that makes `dir` image-scan-attestation's attestationsDir (the --attestations
 * flag). *json holds the value's JSON text; the caller frees it with cJSON_free(). Returns 0 or
 * KA_ENOMEM.
 */
__attribute__((warn_unused_result)) int
ka_cli_attestations_override(const char *dir, struct ka_rule_override *out, char **json);

/* Each module that offers a subcommand declares it here and adds a row to main.c's table. */

/** `kadmit certs`: create or renew the webhook CA and serving certificate (cmd_certs.c). */
int ka_cmd_certs(int argc, char **argv);
/** `kadmit rules [-o text|json|markdown]`: the rule catalogue (cmd_rules.c). */
int ka_cmd_rules(int argc, char **argv);
/** `kadmit explain RULE`: one rule's description, params and an example policy (cmd_rules.c). */
int ka_cmd_explain(int argc, char **argv);
/** `kadmit policy show`: the effective policy with the origin of every value (cmd_policy.c). */
int ka_cmd_policy(int argc, char **argv);
/** `kadmit attest verify ...`: explain image-scan attestations for one image (cmd_attest.c). */
int ka_cmd_attest(int argc, char **argv);
/** `kadmit fix`: rewrite manifests to meet the policy, keeping the file's own text (cmd_fix.c). */
int ka_cmd_fix(int argc, char **argv);

#endif
