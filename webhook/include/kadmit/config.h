/*
 * Server configuration: ONE table of settings (after redis config.c).
 *
 * Every setting has a flag name (`--listen`), an environment variable (`KADMIT_LISTEN`), a type,
 * a range, a default and a help line. ka_config_init() applies the defaults, ka_config_parse()
 * applies the environment and then the flags (flags win) and validates every value. Adding a
 * setting is one row in config.c's table plus one field here.
 *
 * Ownership: struct ka_config is a plain value (fixed-size strings); nothing to free.
 */
#ifndef KADMIT_CONFIG_H
#define KADMIT_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#define KA_CONFIG_PATH_MAX 4096
#define KA_CONFIG_ADDR_MAX 256

struct ka_config {
    char listen[KA_CONFIG_ADDR_MAX];         /* TLS webhook address, HOST:PORT or [V6]:PORT */
    char metrics_listen[KA_CONFIG_ADDR_MAX]; /* plain-HTTP metrics address */
    char tls_cert[KA_CONFIG_PATH_MAX];       /* PEM certificate chain (required) */
    char tls_key[KA_CONFIG_PATH_MAX];        /* PEM private key (required) */
    char client_ca[KA_CONFIG_PATH_MAX];      /* "" or PEM CA bundle: require client certs */
    char client_allowed_subjects[KA_CONFIG_PATH_MAX]; /* "" or comma-separated CNs */
    unsigned long allow_insecure_key_mode;            /* 1: accept a group/world-readable key */
    char tls_min_version[8];                          /* "1.2" or "1.3" */
    char policies[KA_CONFIG_PATH_MAX];      /* "" (embedded checklist), a file or a directory */
    char attestations[KA_CONFIG_PATH_MAX];  /* "" or directory of attestations */
    char attestation_source[16];            /* "files" or "registry" (fetch misses) */
    char registry_auth[KA_CONFIG_PATH_MAX]; /* "" or .dockerconfigjson for the fetcher */
    char registry_ca_file[KA_CONFIG_PATH_MAX];
    char registry_hosts[KA_CONFIG_PATH_MAX];  /* comma-separated registries the fetcher may reach */
    char registry_images[KA_CONFIG_PATH_MAX]; /* "" or an images list fetched ahead of misses */
    unsigned long registry_timeout;           /* seconds, per registry request */
    unsigned long registry_refresh;    /* seconds between re-polls of fetched digests, 0 never */
    unsigned long registry_plain_http; /* 1: http:// (loopback tests) */
    char log_level[16];                /* debug|info|warn|error */
    unsigned long max_body_bytes;
    unsigned long max_json_depth;
    unsigned long max_json_values;
    unsigned long max_header_bytes;
    unsigned long max_connections;
    unsigned long max_connections_per_source;
    unsigned long max_buffered_body_bytes;
    unsigned long metrics_max_connections;
    unsigned long metrics_connections_per_source;
    unsigned long metrics_timeout;         /* seconds */
    unsigned long handshake_timeout;       /* seconds */
    unsigned long idle_timeout;            /* seconds */
    unsigned long request_deadline;        /* seconds */
    unsigned long drain_timeout;           /* seconds */
    unsigned long threads;                 /* 0: one per CPU */
    char decision_log[KA_CONFIG_PATH_MAX]; /* "" (off), a file, or "-" for stdout */
    unsigned long decision_log_all;        /* 1: log every admission, not only findings */
    unsigned long decision_log_max_bytes;  /* rotate at this size (0: never) */
    unsigned long decision_log_keep;       /* rotated files kept */
};

/** Set every setting to its default. Cannot fail. */
void ka_config_init(struct ka_config *c);

/**
 * Apply KADMIT_* environment variables, then the flags in argv[1..argc-1] (argv[0] is the
 * command name). Both `--name VALUE` and `--name=VALUE` are accepted. `--help`/`-h` sets *help
 * to 1 and stops. On a bad flag or value returns KA_EINVAL and writes a one-line reason naming
 * the flag or variable to `err` (may be NULL). Also checks that the TLS certificate and key are
 * set. Returns 0 when valid.
 */
__attribute__((warn_unused_result)) int ka_config_parse(struct ka_config *c, int argc, char **argv,
                                                        int *help, char *err, size_t err_len);

/** KA_TLS_1_2 or KA_TLS_1_3 for "1.2" or "1.3" (--tls-min-version); 0 for anything else. */
int ka_config_tls_version(const char *text);

/**
 * ka_config_init() + ka_config_parse() as a program's main does it: a bad flag prints
 * "WHO: reason" to stderr; --help calls usage(stdout) (ka_cli_settings_usage prints the
 * settings); otherwise the log threshold is set from --log-level. Returns -1 to go on, else the
 * exit code (0 after --help, 2 on a bad flag or value).
 */
int ka_config_from_args(struct ka_config *c, int argc, char **argv, const char *who,
                        void (*usage)(FILE *f));

#define KA_CONFIG_ENV_MAX 64 /* longest environment variable name, with its NUL */

/* One setting as --help shows it (borrowed strings, but for `env`). */
struct ka_config_doc {
    const char *name;            /* flag name without "--" */
    char env[KA_CONFIG_ENV_MAX]; /* its environment variable: KADMIT_NAME */
    const char *metavar;         /* the value's name ("FILE", "DURATION") */
    const char *help;
    const char *def; /* default, as text */
    int ranged;      /* a number: min and max apply */
    unsigned long min, max;
};

/** Setting number `i` of the table, in table order. Returns 0, or KA_ENOTFOUND past the last. */
int ka_config_describe(size_t i, struct ka_config_doc *out);

/**
 * Parse "HOST:PORT", "[V6]:PORT" or ":PORT" (all addresses) into a socket address. Numeric
 * hosts only, plus "localhost". Returns 0 or KA_EINVAL.
 */
__attribute__((warn_unused_result)) int
ka_config_parse_addr(const char *s, struct sockaddr_storage *out, socklen_t *out_len);

#endif
