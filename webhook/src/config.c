#include "kadmit/config.h"

#include <arpa/inet.h>
#include <ctype.h>
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
    const char *name; /* flag name without "--"; the variable is KADMIT_NAME (env_name) */
    enum setting_type type;
    size_t offset; /* of the field in struct ka_config */
    size_t size;   /* of the field (strings) */
    unsigned long min, max;
    const char *def;     /* default, as text */
    const char *metavar; /* the value's name in --help; NULL: the type's (metavar_of) */
    const char *help;
};

#define STR(field) offsetof(struct ka_config, field), sizeof(((struct ka_config *)0)->field)
#define NUM(field) offsetof(struct ka_config, field), sizeof(unsigned long)
#define XSTR(x) #x
#define DEF(x) XSTR(x)
/* Rows by kind: free text (a path) named by `metavar`, a checked string (address, level, TLS
 * version) or a number with its range. */
#define PATH_SETTING(name, field, metavar, def, help)                                              \
    {                                                                                              \
        name, SETTING_STRING, STR(field), 0, 0, def, metavar, help                                 \
    }
#define FILE_SETTING(name, field, help) PATH_SETTING(name, field, "FILE", "", help)
#define TEXT_SETTING(name, type, field, def, help)                                                 \
    {                                                                                              \
        name, type, STR(field), 0, 0, def, NULL, help                                              \
    }
#define NUMBER_SETTING(name, type, field, min, max, def, help)                                     \
    {                                                                                              \
        name, type, NUM(field), min, max, def, NULL, help                                          \
    }

/* The settings table. One row per setting. */
static const struct setting settings[] = {
    TEXT_SETTING("listen", SETTING_ADDR, listen, "0.0.0.0:8443",
                 "HTTPS webhook address (HOST:PORT, [V6]:PORT)"),
    TEXT_SETTING("metrics-listen", SETTING_ADDR, metrics_listen, "0.0.0.0:9090",
                 "plain-HTTP address for /metrics, /healthz, /readyz"),
    FILE_SETTING("tls-cert", tls_cert,
                 "PEM certificate chain (required; reloaded on change and SIGHUP)"),
    FILE_SETTING("tls-key", tls_key, "PEM private key (required; reloaded with the certificate)"),
    FILE_SETTING("client-ca", client_ca,
                 "PEM CA bundle: require and verify client certificates (empty: off)"),
    PATH_SETTING(
        "client-allowed-subjects", client_allowed_subjects, "NAMES", "",
        "comma-separated subject Common Names a client certificate must have (needs --client-ca; "
        "empty: any certificate from the CA)"),
    NUMBER_SETTING(
        "allow-insecure-key-mode", SETTING_UINT, allow_insecure_key_mode, 0, 1, "0",
        "1: serve even when --tls-key is readable by others or by a group kadmit does not run as"),
    TEXT_SETTING("tls-min-version", SETTING_TLS, tls_min_version, "1.2",
                 "oldest TLS version served: 1.2 or 1.3 (1.3 needs Mbed TLS 3.6)"),
    PATH_SETTING(
        "policies", policies, "PATH", "",
        "policy file or directory (empty: embedded checklist; reloaded on change and SIGHUP)"),
    PATH_SETTING("attestations", attestations, "DIR", "",
                 "directory of image scan attestations (reloaded on change)"),
    PATH_SETTING(
        "attestation-source", attestation_source, "SOURCE", "files",
        "files: only what is in --attestations; registry: also fetch the attestations of denied "
        "digests from their registries in the background, into --attestations (admission never "
        "waits; the denial says where the fetch stands)"),
    PATH_SETTING(
        "registry-hosts", registry_hosts, "HOSTS", "",
        "comma-separated registry hosts --attestation-source registry may fetch from (ghcr.io,"
        "registry.example:5000; docker.io is Docker Hub); images of other registries are denied "
        "without a connection (required with --attestation-source registry: images come from "
        "requests)"),
    FILE_SETTING(
        "registry-images", registry_images,
        "with --attestation-source registry: a list of images (one per line, # comments), read at "
        "start and every minute and fetched before their first pod is denied"),
    FILE_SETTING(
        "registry-auth", registry_auth,
        "registry credentials for --attestation-source registry: a kubernetes.io/dockerconfigjson "
        "Secret's .dockerconfigjson file (missing: anonymous)"),
    FILE_SETTING("registry-ca-file", registry_ca_file,
                 "extra CA bundle for registries with a private CA"),
    NUMBER_SETTING("registry-timeout", SETTING_SECONDS, registry_timeout, 1, 3600, "30",
                   "per registry HTTP request (3 attempts with backoff)"),
    NUMBER_SETTING(
        "registry-refresh", SETTING_SECONDS, registry_refresh, 0, KA_FETCH_REFRESH_MAX_S,
        DEF(KA_FETCH_REFRESH_DEFAULT_S),
        "fetch a digest's attestations again this long after a successful fetch, for fresh scans "
        "(0: never)"),
    NUMBER_SETTING("registry-plain-http", SETTING_UINT, registry_plain_http, 0, 1, "0",
                   "1: talk http:// to registries (a loopback test registry only)"),
    TEXT_SETTING("log-level", SETTING_LEVEL, log_level, "info", "debug, info, warn or error"),
    NUMBER_SETTING("max-body-bytes", SETTING_BYTES, max_body_bytes, KA_MAX_BODY_MIN,
                   KA_MAX_BODY_MAX, "3Mi", "largest request body; larger gets 413"),
    NUMBER_SETTING("max-json-depth", SETTING_UINT, max_json_depth, KA_MAX_DEPTH_MIN,
                   KA_MAX_DEPTH_MAX, DEF(KA_MAX_DEPTH_DEFAULT), "deepest JSON nesting"),
    NUMBER_SETTING("max-json-values", SETTING_BYTES, max_json_values, KA_MAX_JSON_VALUES_MIN,
                   KA_MAX_JSON_VALUES_MAX, "256Ki",
                   "most JSON values (tree nodes) in one request; more gets 400"),
    NUMBER_SETTING("max-header-bytes", SETTING_BYTES, max_header_bytes, 4096, 1024 * 1024, "16Ki",
                   "largest request line + headers; larger gets 431"),
    NUMBER_SETTING(
        "max-connections", SETTING_UINT, max_connections, 1, 100000,
        DEF(KA_MAX_CONNECTIONS_DEFAULT),
        "open TLS connections; past it a new one evicts the oldest handshaking or idle one"),
    NUMBER_SETTING(
        "max-connections-per-source", SETTING_UINT, max_connections_per_source, 1, 100000,
        DEF(KA_MAX_CONNECTIONS_PER_SOURCE_DEFAULT),
        "open TLS connections from one client address; past it its own oldest idle one goes"),
    NUMBER_SETTING(
        "max-buffered-body-bytes", SETTING_BYTES, max_buffered_body_bytes, KA_MAX_BODY_MIN,
        4096ul * 1024 * 1024, "64Mi",
        "request body bytes buffered at once over all connections; past it the slowest sender is "
        "shed (503)"),
    NUMBER_SETTING("metrics-max-connections", SETTING_UINT, metrics_max_connections, 4, 100000,
                   DEF(KA_METRICS_MAX_CONNECTIONS_DEFAULT),
                   "open connections on the metrics/health port"),
    NUMBER_SETTING(
        "metrics-connections-per-source", SETTING_UINT, metrics_connections_per_source, 1, 100000,
        DEF(KA_METRICS_CONNECTIONS_PER_SOURCE_DEFAULT),
        "open connections on the metrics/health port from one address (probes keep theirs)"),
    NUMBER_SETTING("metrics-timeout", SETTING_SECONDS, metrics_timeout, 1, 3600,
                   DEF(KA_METRICS_TIMEOUT_DEFAULT) "s",
                   "seconds a metrics/health connection may stay idle"),
    NUMBER_SETTING("handshake-timeout", SETTING_SECONDS, handshake_timeout, 1, 300,
                   DEF(KA_HANDSHAKE_TIMEOUT_DEFAULT) "s", "seconds to complete the TLS handshake"),
    NUMBER_SETTING(
        "idle-timeout", SETTING_SECONDS, idle_timeout, 1, 3600, DEF(KA_IDLE_TIMEOUT_DEFAULT) "s",
        "seconds a keep-alive connection may stay idle (keep above the API server's 90s)"),
    NUMBER_SETTING(
        "request-deadline", SETTING_SECONDS, request_deadline, 1, 30,
        DEF(KA_REQUEST_DEADLINE_DEFAULT) "s",
        "seconds to receive and answer one request (below the API server's 10s timeout)"),
    NUMBER_SETTING("drain-timeout", SETTING_SECONDS, drain_timeout, 0, 3600,
                   DEF(KA_DRAIN_TIMEOUT_DEFAULT) "s",
                   "seconds to finish requests in flight after SIGTERM"),
    NUMBER_SETTING(
        "threads", SETTING_UINT, threads, 0, 64, "0",
        "worker threads, each serving TLS and HTTP for its connections (0: one per CPU)"),
    FILE_SETTING(
        "decision-log", decision_log,
        "JSON-lines log of admissions with findings: a file, or - for stdout (empty: off)"),
    NUMBER_SETTING("decision-log-all", SETTING_UINT, decision_log_all, 0, 1, "0",
                   "1: log every admission, not only those with a finding"),
    NUMBER_SETTING(
        "decision-log-max-bytes", SETTING_BYTES, decision_log_max_bytes, 0,
        1024ul * 1024 * 1024 * 1024, "100Mi",
        "rotate the decision log at this size (0: never; reopen on SIGHUP for logrotate)"),
    NUMBER_SETTING("decision-log-keep", SETTING_UINT, decision_log_keep, 0, 100, "5",
                   "rotated decision logs kept (PATH.1 ... PATH.N)"),
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

/* The setting's environment variable: KADMIT_ and its name in upper case, '-' as '_'. */
static const char *env_name(const struct setting *st, char env[KA_CONFIG_ENV_MAX])
{
    size_t n = (size_t)snprintf(env, KA_CONFIG_ENV_MAX, "KADMIT_%s", st->name);
    for (size_t i = 0; i < n && i < KA_CONFIG_ENV_MAX; i++) {
        env[i] = env[i] == '-' ? '_' : (char)toupper((unsigned char)env[i]);
    }
    return env;
}

int ka_config_describe(size_t i, struct ka_config_doc *out)
{
    static const char *const metavars[] = {
        [SETTING_STRING] = "TEXT", [SETTING_ADDR] = "HOST:PORT", [SETTING_LEVEL] = "LEVEL",
        [SETTING_UINT] = "N",      [SETTING_BYTES] = "BYTES",    [SETTING_SECONDS] = "DURATION",
        [SETTING_TLS] = "VERSION",
    };
    if (i >= N_SETTINGS) {
        return KA_ENOTFOUND;
    }
    const struct setting *st = &settings[i];
    env_name(st, out->env);
    out->name = st->name;
    out->metavar = st->metavar != NULL ? st->metavar : metavars[st->type];
    out->help = st->help;
    out->def = st->def;
    out->ranged =
        st->type == SETTING_UINT || st->type == SETTING_BYTES || st->type == SETTING_SECONDS;
    out->min = st->min;
    out->max = st->max;
    return 0;
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
        char env[KA_CONFIG_ENV_MAX];
        const char *v = getenv(env_name(&settings[i], env));
        int ret = v != NULL ? apply(c, &settings[i], v, env, err, err_len) : 0;
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
                        void (*usage)(FILE *f))
{
    char err[512];
    int help = 0;
    ka_config_init(c);
    if (ka_config_parse(c, argc, argv, &help, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", who, err);
        return 2;
    }
    if (help) {
        usage(stdout);
        return 0;
    }
    enum ka_log_level level = KA_LOG_INFO;
    if (ka_log_parse_level(c->log_level, &level) == 0) {
        ka_log_threshold = level;
    }
    return -1;
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
