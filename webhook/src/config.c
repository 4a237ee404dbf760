#include "kadmit/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/duration.h"
#include "kadmit/error.h"
#include "kadmit/limits.h"
#include "kadmit/log.h"
#include "kadmit/tls.h"

enum setting_type {
    SETTING_STRING,  /* free text (paths); "" allowed unless required */
    SETTING_ADDR,    /* HOST:PORT */
    SETTING_LEVEL,   /* log level */
    SETTING_UINT,    /* plain unsigned integer */
    SETTING_BYTES,   /* unsigned integer with optional Ki/Mi suffix (k, K, m, M too) */
    SETTING_SECONDS, /* seconds, or a duration (kadmit/duration.h): "30", "90s", "5m" */
    SETTING_TLS,     /* TLS protocol version: 1.2 or 1.3 */
};

struct setting {
    const char *name; /* flag name without "--" */
    const char *env;  /* environment variable */
    enum setting_type type;
    size_t offset; /* of the field in struct ka_config */
    size_t size;   /* of the field (strings) */
    unsigned long min, max;
    const char *def; /* default, as text */
    const char *help;
};

#define STR(field) offsetof(struct ka_config, field), sizeof(((struct ka_config *)0)->field)
#define NUM(field) offsetof(struct ka_config, field), sizeof(unsigned long)
#define XSTR(x) #x
#define DEF(x) XSTR(x)

/* The settings table. One row per setting. */
static const struct setting settings[] = {
    {"listen", "KADMIT_LISTEN", SETTING_ADDR, STR(listen), 0, 0, "0.0.0.0:8443",
     "HTTPS webhook address (HOST:PORT, [V6]:PORT)"},
    {"metrics-listen", "KADMIT_METRICS_LISTEN", SETTING_ADDR, STR(metrics_listen), 0, 0,
     "0.0.0.0:9090", "plain-HTTP address for /metrics, /healthz, /readyz"},
    {"tls-cert", "KADMIT_TLS_CERT", SETTING_STRING, STR(tls_cert), 0, 0, "",
     "PEM certificate chain (required; reloaded on change and SIGHUP)"},
    {"tls-key", "KADMIT_TLS_KEY", SETTING_STRING, STR(tls_key), 0, 0, "",
     "PEM private key (required; reloaded with the certificate)"},
    {"client-ca", "KADMIT_CLIENT_CA", SETTING_STRING, STR(client_ca), 0, 0, "",
     "PEM CA bundle: require and verify client certificates (empty: off)"},
    {"client-allowed-subjects", "KADMIT_CLIENT_ALLOWED_SUBJECTS", SETTING_STRING,
     STR(client_allowed_subjects), 0, 0, "",
     "comma-separated subject Common Names a client certificate must have (needs --client-ca; "
     "empty: any certificate from the CA)"},
    {"allow-insecure-key-mode", "KADMIT_ALLOW_INSECURE_KEY_MODE", SETTING_UINT,
     NUM(allow_insecure_key_mode), 0, 1, "0",
     "1: serve even when --tls-key is readable by others or by a group kadmit does not run as"},
    {"tls-min-version", "KADMIT_TLS_MIN_VERSION", SETTING_TLS, STR(tls_min_version), 0, 0, "1.2",
     "oldest TLS version served: 1.2 or 1.3 (1.3 needs Mbed TLS 3.6)"},
    {"policies", "KADMIT_POLICIES", SETTING_STRING, STR(policies), 0, 0, "",
     "policy file or directory (empty: embedded checklist; reloaded on change and SIGHUP)"},
    {"attestations", "KADMIT_ATTESTATIONS", SETTING_STRING, STR(attestations), 0, 0, "",
     "directory of image scan attestations (reloaded on change)"},
    {"attestation-source", "KADMIT_ATTESTATION_SOURCE", SETTING_STRING, STR(attestation_source), 0,
     0, "files",
     "files: only what is in --attestations; registry: also fetch the attestations of denied "
     "digests from their registries in the background, into --attestations (admission never "
     "waits; the denial says where the fetch stands)"},
    {"registry-hosts", "KADMIT_REGISTRY_HOSTS", SETTING_STRING, STR(registry_hosts), 0, 0, "",
     "comma-separated registry hosts --attestation-source registry may fetch from (ghcr.io,"
     "registry.example:5000; docker.io is Docker Hub); images of other registries are denied "
     "without a connection (required with --attestation-source registry: images come from "
     "requests)"},
    {"registry-images", "KADMIT_REGISTRY_IMAGES", SETTING_STRING, STR(registry_images), 0, 0, "",
     "with --attestation-source registry: a list of images (one per line, # comments), read at "
     "start and every minute and fetched before their first pod is denied"},
    {"registry-auth", "KADMIT_REGISTRY_AUTH", SETTING_STRING, STR(registry_auth), 0, 0, "",
     "registry credentials for --attestation-source registry: a kubernetes.io/dockerconfigjson "
     "Secret's .dockerconfigjson file (missing: anonymous)"},
    {"registry-ca-file", "KADMIT_REGISTRY_CA_FILE", SETTING_STRING, STR(registry_ca_file), 0, 0, "",
     "extra CA bundle for registries with a private CA"},
    {"registry-timeout", "KADMIT_REGISTRY_TIMEOUT", SETTING_SECONDS, NUM(registry_timeout), 1, 3600,
     "30", "per registry HTTP request (3 attempts with backoff)"},
    {"registry-refresh", "KADMIT_REGISTRY_REFRESH", SETTING_SECONDS, NUM(registry_refresh), 0,
     KA_FETCH_REFRESH_MAX_S, DEF(KA_FETCH_REFRESH_DEFAULT_S),
     "fetch a digest's attestations again this long after a successful fetch, for fresh scans "
     "(0: never)"},
    {"registry-plain-http", "KADMIT_REGISTRY_PLAIN_HTTP", SETTING_UINT, NUM(registry_plain_http), 0,
     1, "0", "1: talk http:// to registries (a loopback test registry only)"},
    {"log-level", "KADMIT_LOG_LEVEL", SETTING_LEVEL, STR(log_level), 0, 0, "info",
     "debug, info, warn or error"},
    {"max-body-bytes", "KADMIT_MAX_BODY_BYTES", SETTING_BYTES, NUM(max_body_bytes), KA_MAX_BODY_MIN,
     KA_MAX_BODY_MAX, "3Mi", "largest request body; larger gets 413"},
    {"max-json-depth", "KADMIT_MAX_JSON_DEPTH", SETTING_UINT, NUM(max_json_depth), KA_MAX_DEPTH_MIN,
     KA_MAX_DEPTH_MAX, DEF(KA_MAX_DEPTH_DEFAULT), "deepest JSON nesting"},
    {"max-json-values", "KADMIT_MAX_JSON_VALUES", SETTING_BYTES, NUM(max_json_values),
     KA_MAX_JSON_VALUES_MIN, KA_MAX_JSON_VALUES_MAX, "256Ki",
     "most JSON values (tree nodes) in one request; more gets 400"},
    {"max-header-bytes", "KADMIT_MAX_HEADER_BYTES", SETTING_BYTES, NUM(max_header_bytes), 4096,
     1024 * 1024, "16Ki", "largest request line + headers; larger gets 431"},
    {"max-connections", "KADMIT_MAX_CONNECTIONS", SETTING_UINT, NUM(max_connections), 1, 100000,
     DEF(KA_MAX_CONNECTIONS_DEFAULT),
     "open TLS connections; past it a new one evicts the oldest handshaking or idle one"},
    {"max-connections-per-source", "KADMIT_MAX_CONNECTIONS_PER_SOURCE", SETTING_UINT,
     NUM(max_connections_per_source), 1, 100000, DEF(KA_MAX_CONNECTIONS_PER_SOURCE_DEFAULT),
     "open TLS connections from one client address; past it its own oldest idle one goes"},
    {"max-buffered-body-bytes", "KADMIT_MAX_BUFFERED_BODY_BYTES", SETTING_BYTES,
     NUM(max_buffered_body_bytes), KA_MAX_BODY_MIN, 4096ul * 1024 * 1024, "64Mi",
     "request body bytes buffered at once over all connections; past it the slowest sender is "
     "shed (503)"},
    {"metrics-max-connections", "KADMIT_METRICS_MAX_CONNECTIONS", SETTING_UINT,
     NUM(metrics_max_connections), 4, 100000, DEF(KA_METRICS_MAX_CONNECTIONS_DEFAULT),
     "open connections on the metrics/health port"},
    {"metrics-connections-per-source", "KADMIT_METRICS_CONNECTIONS_PER_SOURCE", SETTING_UINT,
     NUM(metrics_connections_per_source), 1, 100000, DEF(KA_METRICS_CONNECTIONS_PER_SOURCE_DEFAULT),
     "open connections on the metrics/health port from one address (probes keep theirs)"},
    {"metrics-timeout", "KADMIT_METRICS_TIMEOUT", SETTING_SECONDS, NUM(metrics_timeout), 1, 3600,
     DEF(KA_METRICS_TIMEOUT_DEFAULT) "s", "seconds a metrics/health connection may stay idle"},
    {"handshake-timeout", "KADMIT_HANDSHAKE_TIMEOUT", SETTING_SECONDS, NUM(handshake_timeout), 1,
     300, DEF(KA_HANDSHAKE_TIMEOUT_DEFAULT) "s", "seconds to complete the TLS handshake"},
    {"idle-timeout", "KADMIT_IDLE_TIMEOUT", SETTING_SECONDS, NUM(idle_timeout), 1, 3600,
     DEF(KA_IDLE_TIMEOUT_DEFAULT) "s",
     "seconds a keep-alive connection may stay idle (keep above the API server's 90s)"},
    {"request-deadline", "KADMIT_REQUEST_DEADLINE", SETTING_SECONDS, NUM(request_deadline), 1, 30,
     DEF(KA_REQUEST_DEADLINE_DEFAULT) "s",
     "seconds to receive and answer one request (below the API server's 10s timeout)"},
    {"drain-timeout", "KADMIT_DRAIN_TIMEOUT", SETTING_SECONDS, NUM(drain_timeout), 0, 3600,
     DEF(KA_DRAIN_TIMEOUT_DEFAULT) "s", "seconds to finish requests in flight after SIGTERM"},
    {"threads", "KADMIT_THREADS", SETTING_UINT, NUM(threads), 0, 64, "0",
     "worker threads, each serving TLS and HTTP for its connections (0: one per CPU)"},
    {"decision-log", "KADMIT_DECISION_LOG", SETTING_STRING, STR(decision_log), 0, 0, "",
     "JSON-lines log of admissions with findings: a file, or - for stdout (empty: off)"},
    {"decision-log-all", "KADMIT_DECISION_LOG_ALL", SETTING_UINT, NUM(decision_log_all), 0, 1, "0",
     "1: log every admission, not only those with a finding"},
    {"decision-log-max-bytes", "KADMIT_DECISION_LOG_MAX_BYTES", SETTING_BYTES,
     NUM(decision_log_max_bytes), 0, 1024ul * 1024 * 1024 * 1024, "100Mi",
     "rotate the decision log at this size (0: never; reopen on SIGHUP for logrotate)"},
    {"decision-log-keep", "KADMIT_DECISION_LOG_KEEP", SETTING_UINT, NUM(decision_log_keep), 0, 100,
     "5", "rotated decision logs kept (PATH.1 ... PATH.N)"},
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

/* Say what is wrong in `err` (may be NULL); returns KA_EINVAL. */
static int invalid(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int invalid(char *err, size_t err_len, const char *fmt, ...)
{
    if (err != NULL && err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return KA_EINVAL;
}

/* Parse an unsigned number with an optional unit suffix; KA_EINVAL on junk or overflow. */
static int parse_number(const char *s, enum setting_type type, unsigned long *out)
{
    if (s[0] < '0' || s[0] > '9') {
        return KA_EINVAL;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0) {
        return KA_EINVAL;
    }
    unsigned long long mult = 1;
    if (type == SETTING_BYTES) {
        if (strcmp(end, "Ki") == 0 || strcmp(end, "k") == 0 || strcmp(end, "K") == 0) {
            mult = 1024;
        } else if (strcmp(end, "Mi") == 0 || strcmp(end, "m") == 0 || strcmp(end, "M") == 0) {
            mult = 1024 * 1024;
        } else if (*end != '\0') {
            return KA_EINVAL;
        }
    } else if (type == SETTING_SECONDS && *end != '\0') {
        int64_t secs = 0; /* "90s", "5m", "1h30m": the shared duration parser */
        if (ka_duration_parse(s, &secs) != 0 || secs < 0 || (uint64_t)secs > ULONG_MAX) {
            return KA_EINVAL;
        }
        *out = (unsigned long)secs;
        return 0;
    } else if (*end != '\0') {
        return KA_EINVAL;
    }
    if (v > ULONG_MAX / mult) {
        return KA_EINVAL;
    }
    *out = (unsigned long)(v * mult);
    return 0;
}

int ka_config_tls_version(const char *text)
{
    if (strcmp(text, "1.2") == 0) {
        return KA_TLS_1_2;
    }
    if (strcmp(text, "1.3") == 0) {
        return KA_TLS_1_3;
    }
    return 0;
}

static int apply(struct ka_config *c, const struct setting *st, const char *value,
                 const char *origin, char *err, size_t err_len)
{
    char *field = (char *)c + st->offset;
    if (st->type == SETTING_STRING || st->type == SETTING_ADDR || st->type == SETTING_LEVEL ||
        st->type == SETTING_TLS) {
        size_t n = strlen(value);
        if (n >= st->size) {
            return invalid(err, err_len, "%s: value too long (at most %zu bytes)", origin,
                           st->size - 1);
        }
        if (st->type == SETTING_ADDR) {
            struct sockaddr_storage ss;
            socklen_t len;
            if (ka_config_parse_addr(value, &ss, &len) != 0) {
                return invalid(err, err_len,
                               "%s: \"%s\" is not HOST:PORT (numeric address or localhost; IPv6 as "
                               "[::1]:8443)",
                               origin, value);
            }
        }
        if (st->type == SETTING_LEVEL) {
            enum ka_log_level lvl;
            if (ka_log_parse_level(value, &lvl) != 0) {
                return invalid(err, err_len, "%s: \"%s\" is not one of debug, info, warn, error",
                               origin, value);
            }
        }
        if (st->type == SETTING_TLS) {
            int version = ka_config_tls_version(value);
            if (version == 0) {
                return invalid(err, err_len, "%s: \"%s\" is not 1.2 or 1.3", origin, value);
            }
            if (version > ka_tls_max_version()) {
                return invalid(err, err_len,
                               "%s: TLS %s needs kadmit built with Mbed TLS 3.6 (this one runs %s)",
                               origin, value, ka_tls_library_version());
            }
        }
        memcpy(field, value, n + 1);
        return 0;
    }
    unsigned long v = 0;
    if (parse_number(value, st->type, &v) != 0) {
        return invalid(err, err_len, "%s: \"%s\" is not a %s", origin, value,
                       st->type == SETTING_BYTES     ? "size (bytes, or with a Ki/Mi suffix)"
                       : st->type == SETTING_SECONDS ? "duration (seconds, or e.g. 90s, 5m, 1h)"
                                                     : "number");
    }
    if (v < st->min || v > st->max) {
        return invalid(err, err_len, "%s: %lu is out of range [%lu, %lu]", origin, v, st->min,
                       st->max);
    }
    memcpy(field, &v, sizeof(v));
    return 0;
}

void ka_config_init(struct ka_config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < N_SETTINGS; i++) {
        int ret = apply(c, &settings[i], settings[i].def, settings[i].name, NULL, 0);
        (void)ret; /* defaults are valid; test_config checks it */
    }
}

static const struct setting *find_setting(const char *name, size_t n)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (strlen(settings[i].name) == n && strncmp(settings[i].name, name, n) == 0) {
            return &settings[i];
        }
    }
    return NULL;
}

/* What no single flag can say: flags that need each other. */
static int check_combinations(const struct ka_config *c, char *err, size_t err_len)
{
    int registry = strcmp(c->attestation_source, "registry") == 0;
    if (c->client_allowed_subjects[0] != '\0' && c->client_ca[0] == '\0') {
        return invalid(err, err_len, "--client-allowed-subjects needs --client-ca");
    }
    if (!registry && strcmp(c->attestation_source, "files") != 0) {
        return invalid(err, err_len, "--attestation-source: \"%s\" is not files or registry",
                       c->attestation_source);
    }
    if (registry && c->registry_hosts[0] == '\0') {
        return invalid(err, err_len,
                       "--attestation-source registry needs --registry-hosts (the registries "
                       "kadmit may connect to: image names come from the requests)");
    }
    if (registry && c->attestations[0] == '\0') {
        return invalid(err, err_len,
                       "--attestation-source registry needs --attestations DIR (where the fetched "
                       "attestations are written)");
    }
    if (c->tls_cert[0] == '\0' || c->tls_key[0] == '\0') {
        return invalid(err, err_len,
                       "--tls-cert and --tls-key are required (or KADMIT_TLS_CERT and "
                       "KADMIT_TLS_KEY); `kadmit certs --out-dir DIR` makes DIR/tls.crt and "
                       "DIR/tls.key");
    }
    return 0;
}

int ka_config_parse(struct ka_config *c, int argc, char **argv, int *help, char *err,
                    size_t err_len)
{
    char origin[96];
    *help = 0;
    if (err != NULL && err_len > 0) {
        err[0] = '\0';
    }
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *v = getenv(settings[i].env);
        int ret = v != NULL ? apply(c, &settings[i], v, settings[i].env, err, err_len) : 0;
        if (ret != 0) {
            return ret;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = 1;
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            return invalid(err, err_len, "unexpected argument \"%s\"", a);
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const struct setting *st = find_setting(name, name_len);
        if (st == NULL) {
            return invalid(err, err_len, "unknown flag \"--%.*s\" (see --help)", (int)name_len,
                           name);
        }
        const char *value = NULL;
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return invalid(err, err_len, "--%s needs a value", st->name);
        }
        snprintf(origin, sizeof(origin), "--%s", st->name);
        int ret = apply(c, st, value, origin, err, err_len);
        if (ret != 0) {
            return ret;
        }
    }
    return check_combinations(c, err, err_len);
}

int ka_config_from_args(struct ka_config *c, int argc, char **argv, const char *who,
                        const char *command)
{
    char err[512];
    int help = 0;
    ka_config_init(c);
    if (ka_config_parse(c, argc, argv, &help, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", who, err);
        return 2;
    }
    if (help) {
        ka_config_usage(stdout, command);
        return 0;
    }
    enum ka_log_level level = KA_LOG_INFO;
    if (ka_log_parse_level(c->log_level, &level) == 0) {
        ka_log_threshold = level;
    }
    return -1;
}

void ka_config_usage(FILE *f, const char *command)
{
    fprintf(f,
            "usage: kadmit %s --tls-cert FILE --tls-key FILE [flags]\n\n"
            "Every flag can also be set by its environment variable; flags win.\n\n",
            command);
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const struct setting *st = &settings[i];
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s", st->name);
        fprintf(f, "  %-22s %s\n", flag, st->help);
        fprintf(f, "  %-22s env %s, default \"%s\"", "", st->env, st->def);
        if (st->type == SETTING_UINT || st->type == SETTING_BYTES || st->type == SETTING_SECONDS) {
            fprintf(f, ", range %lu..%lu", st->min, st->max);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\nSignals: SIGHUP reloads certificate and policies; SIGTERM/SIGINT drain and "
               "exit.\n");
}

int ka_config_parse_addr(const char *s, struct sockaddr_storage *out, socklen_t *out_len)
{
    char host[KA_CONFIG_ADDR_MAX];
    const char *port_s = NULL;
    memset(out, 0, sizeof(*out));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host)) {
            return KA_EINVAL;
        }
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        port_s = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL || (size_t)(colon - s) >= sizeof(host) ||
            memchr(s, ':', (size_t)(colon - s)) != NULL) {
            return KA_EINVAL;
        }
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port_s = colon + 1;
    }
    unsigned long port = 0;
    if (parse_number(port_s, SETTING_UINT, &port) != 0 || port > 65535) {
        return KA_EINVAL;
    }
    if (host[0] == '\0' || strcmp(host, "*") == 0) {
        snprintf(host, sizeof(host), "0.0.0.0");
    } else if (strcmp(host, "localhost") == 0) {
        snprintf(host, sizeof(host), "127.0.0.1");
    }
    struct sockaddr_in *in4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *out_len = sizeof(*in4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *out_len = sizeof(*in6);
        return 0;
    }
    return KA_EINVAL;
}
