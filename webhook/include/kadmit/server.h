/*
 * The webhook server: TLS on a listening socket, HTTP/1.1 behind it, and a plain-HTTP port for
 * metrics and probes. The only module that touches libmicrohttpd and sockets.
 *
 * Design: N worker threads (--threads, default one per CPU), each an epoll loop that accepts TCP
 * connections and terminates TLS with the tls module (mbedTLS, non-blocking). After the
 * handshake each connection gets a socketpair; one end goes to the worker's own libmicrohttpd
 * daemon (MHD_USE_NO_LISTEN_SOCKET + MHD_add_connection, driven by the worker with MHD_run(), so
 * a request never changes threads) and the worker relays plaintext between the TLS socket and
 * the other end. libmicrohttpd's own HTTPS (GnuTLS) is never used. Idle connections cost memory
 * (about 70 KiB) but no thread. The server knows nothing about admission: requests to /mutate
 * and /validate go to a handler callback, on the worker thread.
 *
 * Endpoints (TLS port): POST /mutate, POST /validate, GET /healthz, GET /readyz.
 * Metrics port (plain HTTP): GET /metrics, /healthz, /readyz.
 */
#ifndef KADMIT_SERVER_H
#define KADMIT_SERVER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "kadmit/admission.h"
#include "kadmit/buf.h"
#include "kadmit/config.h"
#include "kadmit/metrics.h"
#include "kadmit/tls.h"

/**
 * Answer one admission request. `body` (borrowed, `len` bytes, NUL-terminated) is the complete
 * request body; `client_cert_verified` is 1 when the connection presented a client certificate
 * that verified against --client-ca (and passed --client-allowed-subjects). Fill `response`
 * (bounded; owned by the server) and `*http_status`: 200 makes the body go out as application/json,
 * any other status as text/plain. Return 0, or a negative KA_E* code to make the server answer 500.
 * Called from several worker threads at once; a slow handler delays the other connections of its
 * worker.
 */
typedef int (*ka_server_handler_fn)(void *ctx, enum ka_endpoint ep, const char *body, size_t len,
                                    int client_cert_verified, struct ka_buf *response,
                                    int *http_status);

/** Extra readiness check (e.g. "a policy is loaded"): 1 ready, 0 not (reason in `why`). */
typedef int (*ka_server_ready_fn)(void *ctx, char *why, size_t why_len);

struct ka_server_opts {
    const struct ka_config *config; /* addresses and limits (copied) */
    struct ka_tls_holder *tls;      /* borrowed; the current certificate for new connections */
    struct ka_metrics *metrics;     /* borrowed; NULL: /metrics answers 404 */
    ka_server_handler_fn handler;
    void *handler_ctx;
    ka_server_ready_fn ready; /* may be NULL */
    void *ready_ctx;
    int plain_http; /* benchmarks only: no TLS, libmicrohttpd listens on config->listen itself */
};

struct ka_server; /* opaque */

/**
 * Bind both ports and start serving. On error returns KA_ENET/KA_ENOMEM/KA_EINVAL and writes a
 * one-line reason to `diag`. On 0 the caller owns *out and frees it with ka_server_free().
 */
__attribute__((warn_unused_result)) int
ka_server_start(const struct ka_server_opts *opts, struct ka_server **out, struct ka_buf *diag);

/** Bound TLS port and metrics port (useful with port 0). */
unsigned ka_server_port(const struct ka_server *s);
unsigned ka_server_metrics_port(const struct ka_server *s);

/**
 * Begin draining: /readyz answers 503 at once, the listener stops accepting, idle keep-alive
 * connections are closed, requests in flight finish and their connections close after the
 * response.
 */
void ka_server_drain(struct ka_server *s);

/** Open TLS connections (accepted, not yet closed). */
long ka_server_connections(const struct ka_server *s);

/**
 * Wait until every connection has closed or `timeout_ms` passed. 0 when drained, KA_ELIMIT on
 * timeout.
 */
int ka_server_wait_drained(struct ka_server *s, long timeout_ms);

/**
 * For a server's main thread, before it starts any other: block SIGTERM, SIGINT and SIGHUP (the
 * threads started afterwards inherit the mask) and put them in *set for sigwait(); ignore
 * SIGPIPE (a peer that hangs up is an error return, not a signal).
 */
void ka_server_block_signals(sigset_t *set);

/** Stop everything, close every connection and free. NULL safe. */
void ka_server_free(struct ka_server *s);

#endif
