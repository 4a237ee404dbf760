/*
 * bench_rate: a fixed-rate (open-loop) HTTP/1.1 client over one keep-alive connection, TLS 1.2
 * (mbedTLS) or plain, for "p99 latency at 1,000 requests/s" (wrk2 is not in Debian).
 *
 *   bench_rate --port P [--host 127.0.0.1] [--ca FILE | --plain] [--path /validate]
 *              --body FILE [--rate 1000] [--duration 5] [--warmup 200] [--label NAME]
 *
 * Request i is due at start + i/rate. Its latency is measured from when it was due, not from
 * when it was sent, so a slow response that delays the following requests is counted against
 * every one of them (no coordinated omission). Prints one line "BENCH_RATE {json}" with the
 * rate achieved, p50/p90/p99/p99.9/max latency in microseconds, the p50/p99 of the service time
 * alone (from the actual send to the end of the answer), and the number of non-200 answers and
 * I/O errors. Exit 0 when every request got an answer, 1 otherwise, 2 bad usage.
 * Loopback use only: the host must be a 127.0.0.0/8 address or localhost.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/error.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "bench_flags.h"
#include "kadmit/buf.h"
#include "kadmit/error.h"
#include "kadmit/tls.h"

#define RATE_MAX_REQUESTS 2000000u
#define RATE_MAX_RESPONSE (4u * 1024u * 1024u)

struct conn {
    int tls;
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    char in[64 * 1024];
    size_t in_len;
};

static void conn_init(struct conn *c)
{
    memset(c, 0, sizeof(*c));
    mbedtls_net_init(&c->net);
    mbedtls_ssl_init(&c->ssl);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_x509_crt_init(&c->ca);
}

static void conn_free(struct conn *c)
{
    if (c->tls) {
        mbedtls_ssl_close_notify(&c->ssl);
    }
    mbedtls_net_free(&c->net);
    mbedtls_ssl_free(&c->ssl);
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
    mbedtls_x509_crt_free(&c->ca);
}

static int conn_open(struct conn *c, const char *host, const char *port, const char *ca_file)
{
    int ret = mbedtls_net_connect(&c->net, host, port, MBEDTLS_NET_PROTO_TCP);
    if (ret != 0) {
        fprintf(stderr, "bench_rate: connect %s:%s failed (-0x%04x)\n", host, port, -ret);
        return KA_ENET;
    }
    int one = 1;
    setsockopt(c->net.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (ca_file == NULL) {
        return 0;
    }
    c->tls = 1;
    static const char pers[] = "kadmit-bench-rate";
    char err[200];
    if ((ret = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                                     (const unsigned char *)pers, sizeof(pers) - 1)) != 0 ||
        (ret = mbedtls_x509_crt_parse_file(&c->ca, ca_file)) != 0 ||
        (ret = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
                                           MBEDTLS_SSL_TRANSPORT_STREAM,
                                           MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
        mbedtls_strerror(ret, err, sizeof(err));
        fprintf(stderr, "bench_rate: TLS setup: %s\n", err);
        return KA_ETLS;
    }
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    if ((ret = mbedtls_ssl_setup(&c->ssl, &c->conf)) != 0 ||
        (ret = mbedtls_ssl_set_hostname(&c->ssl, "localhost")) != 0) {
        mbedtls_strerror(ret, err, sizeof(err));
        fprintf(stderr, "bench_rate: TLS setup: %s\n", err);
        return KA_ETLS;
    }
    mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send, mbedtls_net_recv, NULL);
    while ((ret = mbedtls_ssl_handshake(&c->ssl)) != 0) {
        if (ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE) {
            mbedtls_strerror(ret, err, sizeof(err));
            fprintf(stderr, "bench_rate: TLS handshake: %s\n", err);
            return KA_ETLS;
        }
    }
    return 0;
}

static int conn_write(struct conn *c, const char *p, size_t n)
{
    while (n > 0) {
        int w = c->tls ? mbedtls_ssl_write(&c->ssl, (const unsigned char *)p, n)
                       : mbedtls_net_send(&c->net, (const unsigned char *)p, n);
        if (w == MBEDTLS_ERR_SSL_WANT_READ || w == MBEDTLS_ERR_SSL_WANT_WRITE) {
            continue;
        }
        if (w <= 0) {
            return KA_EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read more bytes into c->in. */
static int conn_fill(struct conn *c)
{
    if (c->in_len >= sizeof(c->in)) {
        return KA_ELIMIT;
    }
    for (;;) {
        int r = c->tls ? mbedtls_ssl_read(&c->ssl, (unsigned char *)c->in + c->in_len,
                                          sizeof(c->in) - c->in_len)
                       : mbedtls_net_recv(&c->net, (unsigned char *)c->in + c->in_len,
                                          sizeof(c->in) - c->in_len);
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
            continue;
        }
        if (r <= 0) {
            return KA_EIO;
        }
        c->in_len += (size_t)r;
        return 0;
    }
}

static void consume(struct conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* Index just past "\r\n" starting the search at `from`, or 0 when not yet buffered. */
static size_t find_crlf(const struct conn *c, size_t from)
{
    for (size_t i = from; i + 1 < c->in_len; i++) {
        if (c->in[i] == '\r' && c->in[i + 1] == '\n') {
            return i + 2;
        }
    }
    return 0;
}

/* Skip `n` body bytes, reading as needed. */
static int skip_bytes(struct conn *c, size_t n)
{
    while (n > 0) {
        if (c->in_len == 0 && conn_fill(c) != 0) {
            return KA_EIO;
        }
        size_t k = n < c->in_len ? n : c->in_len;
        consume(c, k);
        n -= k;
    }
    return 0;
}

/* Read one response; *status gets the HTTP status. Content-Length and chunked bodies. */
static int read_response(struct conn *c, int *status)
{
    size_t end = 0;
    for (;;) {
        for (size_t i = 3; i < c->in_len; i++) {
            if (memcmp(c->in + i - 3, "\r\n\r\n", 4) == 0) {
                end = i + 1;
                break;
            }
        }
        if (end != 0) {
            break;
        }
        if (conn_fill(c) != 0) {
            return KA_EIO;
        }
    }
    if (end < 12 || memcmp(c->in, "HTTP/1.", 7) != 0) {
        return KA_EPARSE;
    }
    *status = (c->in[9] - '0') * 100 + (c->in[10] - '0') * 10 + (c->in[11] - '0');
    long long length = -1;
    int chunked = 0;
    for (size_t line = find_crlf(c, 0); line != 0 && line < end - 2;) {
        size_t next = find_crlf(c, line);
        if (next == 0) {
            break;
        }
        const char *h = c->in + line;
        size_t hl = next - 2 - line;
        if (hl > 15 && strncasecmp(h, "content-length:", 15) == 0) {
            length = strtoll(h + 15, NULL, 10);
        } else if (hl > 18 && strncasecmp(h, "transfer-encoding:", 18) == 0 &&
                   memmem(h, hl, "chunked", 7) != NULL) {
            chunked = 1;
        }
        line = next;
    }
    consume(c, end);
    if (!chunked) {
        if (length < 0 || length > (long long)RATE_MAX_RESPONSE) {
            return KA_EPARSE;
        }
        return skip_bytes(c, (size_t)length);
    }
    for (;;) {
        size_t e;
        while ((e = find_crlf(c, 0)) == 0) {
            if (conn_fill(c) != 0) {
                return KA_EIO;
            }
        }
        unsigned long size = strtoul(c->in, NULL, 16);
        consume(c, e);
        if (size > RATE_MAX_RESPONSE || skip_bytes(c, size + 2) != 0) {
            return KA_EIO;
        }
        if (size == 0) {
            return 0; /* no trailers from the servers measured here */
        }
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleep until close to `t`, then spin the last 100 microseconds (wake-up jitter). */
static void wait_until(uint64_t t)
{
    uint64_t n = now_ns();
    if (t > n + 150000u) {
        uint64_t s = t - 100000u;
        struct timespec ts = {.tv_sec = (time_t)(s / 1000000000u),
                              .tv_nsec = (long)(s % 1000000000u)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    while (now_ns() < t) {
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double pct(const uint64_t *v, size_t n, double p)
{
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return (double)v[i < n ? i : n - 1] / 1000.0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_rate --port P --body FILE [--host 127.0.0.1] [--ca FILE | --plain]\n"
               "                  [--path /validate] [--rate 1000] [--duration 5] [--warmup 200]\n"
               "                  [--label NAME]\n\n"
               "  --host H      loopback address or localhost (default 127.0.0.1)\n"
               "  --port P      server port (required)\n"
               "  --ca FILE     TLS 1.2, verifying the server certificate against FILE\n"
               "  --plain       plain HTTP (default when --ca is not given)\n"
               "  --path P      request path (default /validate)\n"
               "  --body FILE   request body, sent as application/json (required)\n"
               "  --rate R      requests per second (default 1000, 1..100000)\n"
               "  --duration S  seconds of measured load (default 5, 1..120)\n"
               "  --warmup N    requests sent before measuring (default 200)\n"
               "  --label NAME  name echoed in the result line (default \"\")\n");
}

int main(int argc, char **argv)
{
    int rc = 2;
    const char *host = "127.0.0.1", *port = NULL, *ca = NULL, *path = "/validate";
    const char *body_file = NULL, *label = "";
    long rate = 1000, duration = 5, warmup = 200;
    struct conn c;
    struct ka_buf body, req;
    uint64_t *lat = NULL, *svc = NULL;
    conn_init(&c);
    ka_buf_init(&body, RATE_MAX_RESPONSE);
    ka_buf_init(&req, RATE_MAX_RESPONSE + 4096);
    if (ka_tls_global_init() != 0) {
        fprintf(stderr, "bench_rate: cannot initialise Mbed TLS\n");
        goto exit;
    }
    int plain = 0;
    const struct bench_flag flags[] = {
        {"--host", .text = &host},
        {"--port", .text = &port},
        {"--ca", .text = &ca},
        {"--plain", .on = &plain},
        {"--path", .text = &path},
        {"--body", .text = &body_file},
        {"--label", .text = &label},
        {"--rate", .whole = &rate},
        {"--duration", .whole = &duration},
        {"--warmup", .whole = &warmup},
        {.name = NULL},
    };
    int parsed = bench_flags_parse(argc, argv, flags);
    if (parsed != 0) {
        usage(parsed == BENCH_FLAGS_HELP ? stdout : stderr);
        rc = parsed == BENCH_FLAGS_HELP ? 0 : 2;
        goto exit;
    }
    if (plain) {
        ca = NULL;
    }
    if (port == NULL || body_file == NULL || rate < 1 || rate > 100000 || duration < 1 ||
        duration > 120 || warmup < 0 || warmup > 100000) {
        usage(stderr);
        goto exit;
    }
    if (strncmp(host, "127.", 4) != 0 && strcmp(host, "localhost") != 0) {
        fprintf(stderr, "bench_rate: loopback targets only (127.0.0.0/8 or localhost)\n");
        goto exit;
    }
    if (ka_buf_read_file(&body, body_file) != 0) {
        fprintf(stderr, "bench_rate: cannot read %s\n", body_file);
        goto exit;
    }
    if (ka_buf_printf(&req,
                      "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      path, body.len) != 0 ||
        ka_buf_add(&req, body.data, body.len) != 0) {
        goto exit;
    }
    size_t n = (size_t)rate * (size_t)duration;
    if (n > RATE_MAX_REQUESTS) {
        n = RATE_MAX_REQUESTS;
    }
    lat = calloc(n, sizeof(*lat));
    svc = calloc(n, sizeof(*svc));
    if (lat == NULL || svc == NULL) {
        goto exit;
    }
    rc = 1;
    if (conn_open(&c, host, port, ca) != 0) {
        goto exit;
    }
    size_t bad_status = 0, done = 0;
    int status = 0;
    for (long i = 0; i < warmup; i++) {
        if (conn_write(&c, req.data, req.len) != 0 || read_response(&c, &status) != 0) {
            fprintf(stderr, "bench_rate: warm-up request failed\n");
            goto exit;
        }
    }
    uint64_t interval = 1000000000u / (uint64_t)rate;
    uint64_t start = now_ns() + 1000000u;
    for (size_t i = 0; i < n; i++) {
        uint64_t due = start + i * interval;
        wait_until(due);
        uint64_t sent = now_ns();
        if (conn_write(&c, req.data, req.len) != 0 || read_response(&c, &status) != 0) {
            fprintf(stderr, "bench_rate: request %zu failed\n", i);
            break;
        }
        uint64_t end = now_ns();
        lat[i] = end - due;
        svc[i] = end - sent;
        bad_status += status != 200;
        done++;
    }
    uint64_t elapsed = now_ns() - start;
    if (done == 0) {
        goto exit;
    }
    qsort(lat, done, sizeof(*lat), cmp_u64);
    qsort(svc, done, sizeof(*svc), cmp_u64);
    printf("BENCH_RATE {\"label\":\"%s\",\"target_rps\":%ld,\"requests\":%zu,\"rps\":%.1f,"
           "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
           "\"service_p50_us\":%.1f,\"service_p99_us\":%.1f,\"non200\":%zu,\"failed\":%zu,"
           "\"tls\":%s}\n",
           label, rate, done, (double)done * 1e9 / (double)elapsed, pct(lat, done, 50),
           pct(lat, done, 90), pct(lat, done, 99), pct(lat, done, 99.9), pct(lat, done, 100),
           pct(svc, done, 50), pct(svc, done, 99), bad_status, n - done, c.tls ? "true" : "false");
    rc = done == n && bad_status == 0 ? 0 : 1;
exit:
    conn_free(&c);
    free(lat);
    free(svc);
    ka_buf_free(&body);
    ka_buf_free(&req);
    return rc;
}
