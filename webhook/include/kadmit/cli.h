/*
 * Subcommands of the kadmit binary. Each takes the arguments after its own name (argv[0] is the
 * subcommand name) and returns the process exit code: 0 success, 1 "found a problem" where the
 * command defines it, 2 bad usage or bad input.
 */
#ifndef KADMIT_CLI_H
#define KADMIT_CLI_H

#include <stddef.h>
#include <stdio.h>

/* ---- options: one table per subcommand (as config.c has for serve) ------------------------ */

#define KA_CLI_MAX_OPTS 32 /* rows in one subcommand's table */

enum ka_cli_opt_type {
    KA_CLI_OPT_STRING, /* *(const char **)target = the value (last one wins) */
    KA_CLI_OPT_FLAG,   /* *(int *)target = 1 */
    KA_CLI_OPT_LIST,   /* appended to (const char **)target; *count of at most `max` */
    KA_CLI_OPT_CALL,   /* call(target, value, ...), in command-line order (see below) */
};

/*
 * A CALL option's handler: reads `value` into `target`. Returns 0, or non-zero to stop with a
 * usage error (exit 2) after "kadmit COMMAND: --NAME: " and `err`, or `invalid value "VALUE"`
 * when it left `err` empty.
 */
typedef int (*ka_cli_call_fn)(void *target, const char *value, char *err, size_t err_len);

/*
 * One option: how it is parsed and how --help shows it. The OPTIONS section of every usage text
 * is printed from these rows (ka_cli_usage), so a flag cannot be parsed but undocumented.
 */
struct ka_cli_opt {
    const char *name; /* long name without "--"; NULL ends the table */
    char short_name;  /* 0: long only */
    enum ka_cli_opt_type type;
    void *target;
    const char *env;     /* STRING: environment variable giving the default, or NULL */
    size_t *count;       /* LIST: values so far */
    size_t max;          /* LIST: at most */
    ka_cli_call_fn call; /* CALL: the handler */
    const char *metavar; /* the value's name in usage ("FILE"); NULL for a FLAG */
    const char *help;    /* what it does and its default; "\n" starts a new line */
};

/* Table rows: long name, short name (0: none), where the value goes, the value's name in usage
 * (not for flags), and the help text. */
#define KA_CLI_STRING(name, short_name, target, metavar, help)                                     \
    {                                                                                              \
        name, short_name, KA_CLI_OPT_STRING, target, NULL, NULL, 0, NULL, metavar, help            \
    }
#define KA_CLI_STRING_ENV(name, short_name, target, env, metavar, help)                            \
    {                                                                                              \
        name, short_name, KA_CLI_OPT_STRING, target, env, NULL, 0, NULL, metavar, help             \
    }
#define KA_CLI_FLAG(name, short_name, target, help)                                                \
    {                                                                                              \
        name, short_name, KA_CLI_OPT_FLAG, target, NULL, NULL, 0, NULL, NULL, help                 \
    }
#define KA_CLI_LIST(name, short_name, target, count, max, metavar, help)                           \
    {                                                                                              \
        name, short_name, KA_CLI_OPT_LIST, target, NULL, count, max, NULL, metavar, help           \
    }
#define KA_CLI_CALL(name, short_name, target, call, metavar, help)                                 \
    {                                                                                              \
        name, short_name, KA_CLI_OPT_CALL, target, NULL, NULL, 0, call, metavar, help              \
    }
/* The rows of the commands that load a policy: --policies, --attestations. */
#define KA_CLI_POLICIES(target)                                                                    \
    KA_CLI_STRING("policies", 'p', target, "PATH",                                                 \
                  "policy file or directory (default: the embedded checklist)")
#define KA_CLI_ATTESTATIONS(target)                                                                \
    KA_CLI_STRING("attestations", 'a', target, "DIR",                                              \
                  "attestation directory for image-scan-attestation")
#define KA_CLI_POLICY_OPTS(policies, attestations)                                                 \
    KA_CLI_POLICIES(policies), KA_CLI_ATTESTATIONS(attestations)
/* -n, --namespace of audit and fix (check the value with ka_cli_namespace_ok). */
#define KA_CLI_NAMESPACE(target)                                                                   \
    KA_CLI_STRING("namespace", 'n', target, "NS",                                                  \
                  "namespace of namespaced objects that name none (default \"default\", where "    \
                  "kubectl apply puts them): namespace matches, exceptions, messages and "         \
                  "PolicyReports use it")
/* The rows of the commands that reach registries (fix --resolve-digests, attest sync), into a
 * struct ka_registry_opts: --ca-file, --plain-http. */
#define KA_CLI_REGISTRY_OPTS(registry_opts)                                                        \
    KA_CLI_STRING("ca-file", 0, &(registry_opts)->ca_file, "FILE",                                 \
                  "extra CA bundle for registries with a private CA"),                             \
        KA_CLI_FLAG("plain-http", 0, &(registry_opts)->plain_http,                                 \
                    "talk http:// to registries (a loopback test registry only)")
/* A number macro as text, for help strings: KA_CLI_TEXT(KA_MAX_DEPTH_DEFAULT) is "64". */
#define KA_CLI_TEXT_(x) #x
#define KA_CLI_TEXT(x) KA_CLI_TEXT_(x)
#define KA_CLI_END                                                                                 \
    {                                                                                              \
        NULL, 0, KA_CLI_OPT_FLAG, NULL, NULL, NULL, 0, NULL, NULL, NULL                            \
    }

/*
 * A subcommand's usage text around its options: `synopsis` (one line per form, without
 * "usage: "), `description` (before the options) and `notes` (after them: exit codes and the
 * like). Either of the last two may be NULL.
 */
struct ka_cli_usage {
    const char *synopsis;
    const char *description;
    const char *notes;
};

/**
 * Print the usage: "usage: " and the synopsis, the description, "options:" with one entry per
 * row of `opts` and -h, --help (help text wrapped to 80 columns), then the notes.
 */
void ka_cli_usage(FILE *f, const struct ka_cli_usage *usage, const struct ka_cli_opt *opts);

/**
 * For tests: when set, ka_cli_usage() passes its arguments here instead of printing, so a test
 * can walk every table a subcommand's --help is printed from. NULL (the default): print.
 */
extern void (*ka_cli_usage_hook)(const struct ka_cli_usage *usage, const struct ka_cli_opt *opts);

/**
 * Parse argv (argv[0] is the subcommand's name) by `opts` with getopt_long: short and long
 * names, "--name=value", options and operands in any order (argv is permuted); -h and --help
 * print the usage. Values are borrowed from argv. Returns -1 to go on, with *operands the index
 * of the first operand, or the exit code to return: 0 after --help (usage to stdout), 2 on an
 * unknown flag or a missing value (the message, then usage to stderr), a list past its max or a
 * value a CALL handler refused (the message). Messages start "kadmit COMMAND: ".
 */
int ka_cli_parse(const char *command, const struct ka_cli_usage *usage,
                 const struct ka_cli_opt *opts, int argc, char **argv, int *operands);

/**
 * `usage` with serve's settings (config.c's table) as its options, each with its environment
 * variable, default and range: `kadmit serve --help` (and servers built on ka_config).
 */
void ka_cli_settings_usage(FILE *f, const struct ka_cli_usage *usage);

/**
 * `--namespace NS` of `kadmit COMMAND` (audit, fix): 1 when `ns` is a namespace name (a DNS
 * label: lower-case letters, digits and '-', at most 63), else 0 after saying so on stderr.
 */
int ka_cli_namespace_ok(const char *command, const char *ns);

/** Print each line of `text` (may be NULL) to `f`, after `prefix` and ending in a newline. */
void ka_cli_print_lines(FILE *f, const char *prefix, const char *text);

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

/* Each module that offers a subcommand declares it here and adds a row to ka_cli_commands. */

struct ka_cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary; /* one line for `kadmit --help` */
};

/** Every subcommand, in the order `kadmit --help` lists them; a NULL name ends it (cli.c). */
extern const struct ka_cli_command ka_cli_commands[];

/** `kadmit version`: kadmit's version and Mbed TLS's (cli.c). */
int ka_cmd_version(int argc, char **argv);

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
