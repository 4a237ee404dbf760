/*
 * bench_fixed_server: kadmit's real server module answering a fixed AdmissionReview, with no
 * policy work. Takes the same flags (and KADMIT_* variables) as `kadmit serve`; --policies and
 * --attestations are accepted and ignored. Extra flags, first on the command line:
 *   --bench-plain     serve plain HTTP with libmicrohttpd's own listener (no TLS, no relay)
 *   --bench-echo-uid  answer with the request's uid, as the API server requires (the e2e latency
 *                     scenario registers this server as a webhook); without it the uid is fixed
 *                     and nothing of the request is read (the load benchmarks' floor)
 * The response is always an allow without patch or warnings. SIGTERM/SIGINT drain and exit.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kadmit/cli.h"
#include "kadmit/config.h"
#include "kadmit/error.h"
#include "kadmit/log.h"
#include "kadmit/metrics.h"
#include "kadmit/server.h"
#include "kadmit/tls.h"

static const char fixed_response[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":"
    "\"00000000-0000-0000-0000-000000000000\",\"allowed\":true}}";

/* The API server encodes AdmissionRequest with uid as its first field, so the request's uid is
 * the string after this prefix. A UUID needs 36 bytes; anything longer or escaped is not one. */
static const char uid_prefix[] = "\"request\":{\"uid\":\"";
#define FIXED_MAX_UID 128

static int echo_uid_handler(const char *body, size_t len, struct ka_buf *response)
{
    const char *start = memmem(body, len, uid_prefix, sizeof(uid_prefix) - 1);
    if (start == NULL) {
        return ka_buf_add(response, fixed_response, sizeof(fixed_response) - 1);
    }
    start += sizeof(uid_prefix) - 1;
    size_t avail = len - (size_t)(start - body);
    const char *end = memchr(start, '"', avail < FIXED_MAX_UID ? avail : FIXED_MAX_UID);
    if (end == NULL || memchr(start, '\\', (size_t)(end - start)) != NULL) {
        return ka_buf_add(response, fixed_response, sizeof(fixed_response) - 1);
    }
    static const char head[] = "{\"apiVersion\":\"admission.k8s.io/"
                               "v1\",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":\"";
    static const char tail[] = "\",\"allowed\":true}}";
    int ret = ka_buf_add(response, head, sizeof(head) - 1);
    if (ret == 0) {
        ret = ka_buf_add(response, start, (size_t)(end - start));
    }
    if (ret == 0) {
        ret = ka_buf_add(response, tail, sizeof(tail) - 1);
    }
    return ret;
}

static int fixed_handler(void *ctx, enum ka_endpoint ep, const char *body, size_t len, int verified,
                         struct ka_buf *response, int *http_status)
{
    const int *echo_uid = ctx;
    (void)ep;
    (void)verified;
    *http_status = 200;
    if (*echo_uid) {
        return echo_uid_handler(body, len, response);
    }
    return ka_buf_add(response, fixed_response, sizeof(fixed_response) - 1);
}

static void bench_usage(FILE *f)
{
    static const struct ka_cli_usage usage = {
        "bench_fixed_server [--bench-plain] [--bench-echo-uid]\n"
        "                   --tls-cert FILE --tls-key FILE [flags]",
        "kadmit serve's server answering every request with one fixed response.\n", NULL};
    ka_cli_settings_usage(f, &usage);
}

int main(int argc, char **argv)
{
    int ret = 2;
    int plain = 0;
    int echo_uid = 0;
    struct ka_config cfg;
    struct ka_tls_holder tls;
    struct ka_server *server = NULL;
    struct ka_metrics *metrics = ka_metrics_new();
    struct ka_buf diag;
    ka_buf_init(&diag, 4096);
    ka_tls_holder_init(&tls);
    while (argc > 1 &&
           (strcmp(argv[1], "--bench-plain") == 0 || strcmp(argv[1], "--bench-echo-uid") == 0)) {
        if (strcmp(argv[1], "--bench-plain") == 0) {
            plain = 1;
        } else {
            echo_uid = 1;
        }
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    int done = ka_config_from_args(&cfg, argc, argv, "bench_fixed_server", bench_usage);
    if (done >= 0) {
        ret = done;
        goto exit;
    }
    struct ka_tls_config *tc = NULL;
    if (ka_tls_config_load(cfg.tls_cert, cfg.tls_key, cfg.client_ca, &tc, &diag) != 0) {
        fprintf(stderr, "bench_fixed_server: %s\n", diag.data ? diag.data : "TLS load failed");
        goto exit;
    }
    ka_tls_holder_set(&tls, tc);
    ka_metrics_set_cert_expiry(metrics, ka_tls_config_not_after(tc));

    sigset_t set;
    ka_server_block_signals(&set);

    struct ka_server_opts opts = {.config = &cfg,
                                  .tls = &tls,
                                  .metrics = metrics,
                                  .handler = fixed_handler,
                                  .handler_ctx = &echo_uid,
                                  .plain_http = plain};
    ka_buf_reset(&diag);
    if (ka_server_start(&opts, &server, &diag) != 0) {
        fprintf(stderr, "bench_fixed_server: %s\n", diag.data ? diag.data : "start failed");
        goto exit;
    }
    KA_LOG_I("bench_fixed_server listening on port %u (%s), metrics on %u", ka_server_port(server),
             plain ? "plain HTTP" : "TLS", ka_server_metrics_port(server));
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT) {
            break;
        }
    }
    KA_LOG_I("draining: %ld connections open", ka_server_connections(server));
    ka_server_drain(server);
    if (ka_server_wait_drained(server, (long)cfg.drain_timeout * 1000) != 0) {
        KA_LOG_W("drain timed out");
    }
    KA_LOG_I("drained; exiting");
    ret = 0;
exit:
    ka_server_free(server);
    ka_tls_holder_free(&tls);
    ka_metrics_free(metrics);
    ka_buf_free(&diag);
    return ret;
}
