#include <CUnit/Basic.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/cli.h"
#include "kadmit/config.h"
#include "kadmit/error.h"
#include "kadmit/limits.h"
#include "ka_test.h"

static int parse(struct ka_config *c, char **argv, int argc, char *err, size_t n)
{
    int help = 0;
    ka_config_init(c);
    return ka_config_parse(c, argc, argv, &help, err, n);
}

static void test_defaults(void)
{
    struct ka_config c;
    ka_config_init(&c);
    CU_ASSERT_STRING_EQUAL(c.listen, "0.0.0.0:8443");
    CU_ASSERT_STRING_EQUAL(c.metrics_listen, "0.0.0.0:9090");
    CU_ASSERT_STRING_EQUAL(c.log_level, "info");
    CU_ASSERT_EQUAL(c.max_body_bytes, KA_MAX_BODY_DEFAULT);
    CU_ASSERT_EQUAL(c.max_json_depth, KA_MAX_DEPTH_DEFAULT);
    CU_ASSERT_EQUAL(c.max_header_bytes, KA_MAX_HEADER_DEFAULT);
    CU_ASSERT_EQUAL(c.max_connections, KA_MAX_CONNECTIONS_DEFAULT);
    CU_ASSERT_EQUAL(c.handshake_timeout, KA_HANDSHAKE_TIMEOUT_DEFAULT);
    CU_ASSERT_EQUAL(c.idle_timeout, KA_IDLE_TIMEOUT_DEFAULT);
    CU_ASSERT_EQUAL(c.request_deadline, KA_REQUEST_DEADLINE_DEFAULT);
    CU_ASSERT_EQUAL(c.drain_timeout, KA_DRAIN_TIMEOUT_DEFAULT);
    CU_ASSERT_STRING_EQUAL(c.tls_cert, "");
}

static void test_flags_both_forms(void)
{
    struct ka_config c;
    char err[256];
    char *argv[] = {"serve",      "--tls-cert",       "/a.crt", "--tls-key=/a.key",   "--listen",
                    "[::1]:8443", "--max-body-bytes", "1Mi",    "--idle-timeout=90s", "--log-level",
                    "debug",      "--max-json-depth", "100"};
    CU_ASSERT_EQUAL_FATAL(parse(&c, argv, 13, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(c.tls_cert, "/a.crt");
    CU_ASSERT_STRING_EQUAL(c.tls_key, "/a.key");
    CU_ASSERT_STRING_EQUAL(c.listen, "[::1]:8443");
    CU_ASSERT_EQUAL(c.max_body_bytes, 1024 * 1024);
    CU_ASSERT_EQUAL(c.idle_timeout, 90);
    CU_ASSERT_STRING_EQUAL(c.log_level, "debug");
    CU_ASSERT_EQUAL(c.max_json_depth, 100);
}

static void test_durations(void)
{
    struct ka_config c;
    char err[256];
    char *argv[] = {"serve",  "--tls-cert",        "/a.crt", "--tls-key",
                    "/a.key", "--idle-timeout",    "5m",     "--drain-timeout",
                    "1m30s",  "--metrics-timeout", "1h",     "--handshake-timeout",
                    "7"};
    CU_ASSERT_EQUAL_FATAL(parse(&c, argv, 13, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(c.idle_timeout, 300);
    CU_ASSERT_EQUAL(c.drain_timeout, 90);
    CU_ASSERT_EQUAL(c.metrics_timeout, 3600);
    CU_ASSERT_EQUAL(c.handshake_timeout, 7);
    char *bad[] = {"serve", "--idle-timeout", "5x"};
    CU_ASSERT_EQUAL(parse(&c, bad, 3, err, sizeof(err)), KA_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "is not a duration"));
    char *big[] = {"serve", "--idle-timeout", "2h"};
    CU_ASSERT_EQUAL(parse(&c, big, 3, err, sizeof(err)), KA_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "out of range"));
}

static void test_env_and_flag_precedence(void)
{
    struct ka_config c;
    char err[256];
    setenv("KADMIT_LISTEN", "127.0.0.1:9443", 1);
    setenv("KADMIT_TLS_CERT", "/env.crt", 1);
    setenv("KADMIT_TLS_KEY", "/env.key", 1);
    setenv("KADMIT_DRAIN_TIMEOUT", "5", 1);
    char *argv[] = {"serve", "--listen", "127.0.0.1:7443"};
    CU_ASSERT_EQUAL_FATAL(parse(&c, argv, 3, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(c.listen, "127.0.0.1:7443"); /* flag wins */
    CU_ASSERT_STRING_EQUAL(c.tls_cert, "/env.crt");
    CU_ASSERT_EQUAL(c.drain_timeout, 5);
    setenv("KADMIT_DRAIN_TIMEOUT", "soon", 1);
    CU_ASSERT_EQUAL(parse(&c, argv, 3, err, sizeof(err)), KA_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "KADMIT_DRAIN_TIMEOUT"));
    unsetenv("KADMIT_LISTEN");
    unsetenv("KADMIT_TLS_CERT");
    unsetenv("KADMIT_TLS_KEY");
    unsetenv("KADMIT_DRAIN_TIMEOUT");
}

static void test_bad_values(void)
{
    struct ka_config c;
    char err[256];
    struct {
        char *flag, *value, *want;
    } cases[] = {
        {"--max-body-bytes", "1", "out of range"},
        {"--max-body-bytes", "12Q", "not a size"},
        {"--max-body-bytes", "-5", "not a size"},
        {"--max-body-bytes", "99999999999999999999999", "not a size"},
        {"--max-json-depth", "4", "out of range"},
        {"--request-deadline", "60", "out of range"},
        {"--listen", "8443", "not HOST:PORT"},
        {"--listen", "1.2.3.4:99999", "not HOST:PORT"},
        {"--listen", "::1:8443", "not HOST:PORT"},
        {"--listen", "example.com:8443", "not HOST:PORT"},
        {"--log-level", "loud", "not one of"},
        {"--no-such-flag", "x", "unknown flag"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[] = {"serve", "--tls-cert",  "a",           "--tls-key",
                        "b",     cases[i].flag, cases[i].value};
        err[0] = '\0';
        CU_ASSERT_EQUAL(parse(&c, argv, 7, err, sizeof(err)), KA_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].want));
    }
    char *missing[] = {"serve", "--listen", "127.0.0.1:1"};
    CU_ASSERT_EQUAL(parse(&c, missing, 3, err, sizeof(err)), KA_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "--tls-cert"));
    char *novalue[] = {"serve", "--tls-cert"};
    CU_ASSERT_EQUAL(parse(&c, novalue, 2, err, sizeof(err)), KA_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "needs a value"));
}

static void test_help(void)
{
    struct ka_config c;
    int help = 0;
    char *argv[] = {"serve", "--help"};
    ka_config_init(&c);
    CU_ASSERT_EQUAL(ka_config_parse(&c, 2, argv, &help, NULL, 0), 0);
    CU_ASSERT_EQUAL(help, 1);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    static const struct ka_cli_usage usage = {"kadmit serve", NULL, NULL};
    ka_cli_settings_usage(f, &usage);
    fclose(f);
    const char *flags[] = {"--listen",
                           "--metrics-listen",
                           "--tls-cert",
                           "--tls-key",
                           "--client-ca",
                           "--policies",
                           "--attestations",
                           "--log-level",
                           "--max-body-bytes",
                           "--max-json-depth",
                           "--max-header-bytes",
                           "--max-connections",
                           "--handshake-timeout",
                           "--idle-timeout",
                           "--request-deadline",
                           "--drain-timeout",
                           "KADMIT_LISTEN",
                           "default \"3Mi\""};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        CU_ASSERT_PTR_NOT_NULL(strstr(text, flags[i]));
    }
    free(text);
}

static void test_addresses(void)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    CU_ASSERT_EQUAL(ka_config_parse_addr("127.0.0.1:8443", &ss, &len), 0);
    CU_ASSERT_EQUAL(ss.ss_family, AF_INET);
    CU_ASSERT_EQUAL(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8443);
    CU_ASSERT_EQUAL(ka_config_parse_addr("[::1]:9090", &ss, &len), 0);
    CU_ASSERT_EQUAL(ss.ss_family, AF_INET6);
    CU_ASSERT_EQUAL(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 9090);
    CU_ASSERT_EQUAL(ka_config_parse_addr(":0", &ss, &len), 0);
    CU_ASSERT_EQUAL(ka_config_parse_addr("localhost:1", &ss, &len), 0);
    CU_ASSERT_EQUAL(ka_config_parse_addr("[::1]8443", &ss, &len), KA_EINVAL);
    CU_ASSERT_EQUAL(ka_config_parse_addr("1.2.3.4:", &ss, &len), KA_EINVAL);
    CU_ASSERT_EQUAL(ka_config_parse_addr("1.2.3.4:8x", &ss, &len), KA_EINVAL);
}

static const struct ka_test tests[] = {
    {"defaults", test_defaults},
    {"flags in both forms", test_flags_both_forms},
    {"duration flags use the shared duration parser", test_durations},
    {"environment and precedence", test_env_and_flag_precedence},
    {"bad values name the setting", test_bad_values},
    {"help lists every flag", test_help},
    {"addresses", test_addresses},
    {NULL, NULL},
};

KA_TEST_MAIN("config", tests)
