#include "kadmit/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <malloc.h>
#include <microhttpd.h>

#include "kadmit/error.h"
#include "kadmit/log.h"

/* ===================================================================== shared definitions */

#define RELAY_BUF 16384 /* plaintext per direction: one TLS record */
#define ACCEPT_BATCH 64 /* accepts per wake-up, for fairness between workers */
#define SWEEP_MS 100    /* how often a worker checks timeouts and draining */
#define MAX_WORKERS 64
#define KA_DRAIN_IDLE_MS 1000 /* draining: a keep-alive connection quiet this long is idle */

enum relay_state { RELAY_HANDSHAKE, RELAY_OPEN };

/* A client address without its port; `bucket` indexes the worker's per-source counts. */
struct source {
    unsigned char addr[16];
    unsigned bucket;
};
#define SOURCE_BUCKETS 4096

/* Request bodies being received on one HTTP daemon, and the bytes they hold (see
 * KA_MAX_BUFFERED_BODY_DEFAULT). The lock is uncontended on a worker's own daemon. */
struct body_budget {
    pthread_mutex_t lock;
    size_t used, max;
    struct request *receiving; /* requests still receiving their body */
};

struct relay;

/* What an epoll event points at: the listener (relay NULL) or one side of a relay. */
struct ep_tag {
    struct relay *relay;
    int is_pair; /* 0: the TLS socket; 1: our end of the socketpair */
};

struct relay {
    struct relay *prev, *next; /* the owning worker's list */
    struct ep_tag tag_tls, tag_pair;
    int fd;   /* TLS socket */
    int pair; /* our end of the socketpair to libmicrohttpd, -1 before the handshake */
    int pair_in_epoll;
    struct ka_tls_conn *tls;
    enum relay_state state;
    int64_t handshake_deadline; /* ms */
    int64_t awaiting_since;     /* ms; 0 when no request bytes are waiting for an answer */
    int64_t last_activity;      /* ms */
    int peer_eof;               /* the client closed its side */
    int sniffed;                /* the first byte was checked for plaintext HTTP */
    int client_verified;        /* a client certificate verified against --client-ca */
    int client_gone;            /* hang-up reported while we were not reading */
    int tls_ready;              /* the TLS socket may have bytes: worth a read */
    int pair_ready;             /* the socketpair may have bytes from libmicrohttpd */
    int http_eof;               /* libmicrohttpd closed its side */
    uint32_t ev_tls, ev_pair;   /* current epoll interest */
    size_t in_off, in_len;      /* client -> HTTP */
    size_t out_off, out_len;    /* HTTP -> client */
    size_t in_used, out_used;   /* high-water marks: the bytes to wipe at close */
    struct source source;       /* the client's address, for the per-source cap */
    unsigned char in[RELAY_BUF];
    unsigned char out[RELAY_BUF];
};

struct daemon_ctx {
    struct ka_server *server;
    int is_metrics;
    struct body_budget budget;
};

struct worker {
    struct ka_server *server;
    pthread_t thread;
    int started;
    int epfd;
    int listening;               /* listener registered in this worker's epoll */
    int64_t listen_paused_until; /* ms; out of descriptors: stop accepting for a moment */
    struct ka_relay_list {
        struct relay *head;
    } relays;
    struct ep_tag listen_tag;
    struct ep_tag http_tag;  /* the HTTP daemon's epoll descriptor */
    struct MHD_Daemon *http; /* this worker's HTTP layer, driven by this thread */
    struct daemon_ctx http_ctx;
    struct relay *touched[64]; /* relays pumped in this round, pumped again after MHD_run */
    size_t n_touched;
    unsigned long n_relays;                   /* open TLS connections of this worker */
    unsigned long max_relays, max_per_source; /* this worker's share of the caps */
    unsigned per_source[SOURCE_BUCKETS];      /* open connections per source bucket */
    unsigned long closed_since_trim;          /* relays freed since the last malloc_trim() */
};

struct ka_server {
    struct ka_config cfg;
    struct ka_server_opts opts;
    int listen_fd;
    unsigned port;
    unsigned metrics_port;
    struct MHD_Daemon *http;
    struct MHD_Daemon *metrics;
    struct daemon_ctx http_ctx, metrics_ctx;
    unsigned n_workers;
    struct worker workers[MAX_WORKERS];
    _Atomic int draining;
    _Atomic int stopping;
    _Atomic long connections;
    /* Out of descriptors: a spare one is given up to accept and close the connection, so a
     * client is refused at once instead of hanging in the backlog (and the listener does not
     * wake the workers in a loop); refusals are logged at most once a second. */
    _Atomic int spare_fd;
    _Atomic int64_t fd_log_ms;
    _Atomic long fd_refused;
    _Atomic int64_t saturated_ms; /* last refusal with nothing to evict (ms), for /readyz */
    _Atomic long evicted, refused, shed;
    uint64_t source_seed; /* keys the per-source buckets */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libmicrohttpd's messages go to our debug log. On AF_UNIX sockets it tries TCP_NODELAY and
 * TCP_CORK and complains; those lines are dropped. */
__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (ka_log_threshold > KA_LOG_DEBUG) {
        return;
    }
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (strstr(msg, "TCP_NODELAY") != NULL || strstr(msg, "TCP_CORK") != NULL ||
        strstr(msg, "TCP_NOPUSH") != NULL ||
        strstr(msg, "Failed to push the data from buffers") != NULL) {
        return;
    }
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) {
        msg[--n] = '\0';
    }
    KA_LOG_D("libmicrohttpd: %s", msg);
}

/* ============================================================================ HTTP layer */

enum route { ROUTE_NONE, ROUTE_MUTATE, ROUTE_VALIDATE, ROUTE_HEALTHZ, ROUTE_READYZ, ROUTE_METRICS };

struct request {
    enum route route;
    int too_big;
    int failed; /* out of memory while reading */
    int shed;   /* dropped for the buffered-body budget */
    int64_t start;
    struct ka_buf body;
    struct body_budget *budget;                /* set while the body counts against it */
    struct request *budget_prev, *budget_next; /* budget->receiving, while receiving */
    int receiving;
    size_t counted; /* body bytes counted against the budget */
};

static enum MHD_Result respond(struct ka_server *s, struct MHD_Connection *conn, int status,
                               const char *content_type, void *body, size_t len, int owned,
                               const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        if (owned) {
            free(body);
        }
        return MHD_NO;
    }
    enum MHD_Result ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (ok == MHD_YES && allow != NULL) {
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    }
    if (ok == MHD_YES && atomic_load(&s->draining)) {
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    if (ok == MHD_YES) {
        ok = MHD_queue_response(conn, (unsigned)status, r);
    }
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result respond_text(struct ka_server *s, struct MHD_Connection *conn, int status,
                                    const char *text, const char *allow)
{
    return respond(s, conn, status, "text/plain; charset=utf-8", (void *)text, strlen(text), 0,
                   allow);
}

/* 1 when ready; otherwise `why` says what is missing. */
static int server_ready(struct ka_server *s, char *why, size_t why_len)
{
    if (atomic_load(&s->draining)) {
        snprintf(why, why_len, "draining");
        return 0;
    }
    int64_t saturated = atomic_load(&s->saturated_ms);
    if (saturated != 0 && now_ms() - saturated < KA_SATURATED_READY_MS) {
        snprintf(why, why_len,
                 "webhook port saturated: connections refused with none to evict "
                 "(--max-connections %lu, --max-connections-per-source %lu)",
                 s->cfg.max_connections, s->cfg.max_connections_per_source);
        return 0;
    }
    if (!s->opts.plain_http) {
        struct ka_tls_config *tc = ka_tls_holder_get(s->opts.tls);
        int64_t now = (int64_t)time(NULL);
        int valid =
            tc != NULL && now >= ka_tls_config_not_before(tc) && now < ka_tls_config_not_after(tc);
        ka_tls_config_unref(tc);
        if (!valid) {
            snprintf(why, why_len, "no valid TLS certificate");
            return 0;
        }
    }
    if (s->opts.ready != NULL) {
        return s->opts.ready(s->opts.ready_ctx, why, why_len);
    }
    return 1;
}

/* application/json, optionally followed by parameters (charset=utf-8). */
static int content_type_is_json(const char *ct)
{
    static const char want[] = "application/json";
    if (ct == NULL) {
        return 0;
    }
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    if (strncasecmp(ct, want, sizeof(want) - 1) != 0) {
        return 0;
    }
    ct += sizeof(want) - 1;
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    return *ct == '\0' || *ct == ';';
}

static enum route route_of(const char *url, int is_metrics)
{
    if (strcmp(url, "/healthz") == 0) {
        return ROUTE_HEALTHZ;
    }
    if (strcmp(url, "/readyz") == 0) {
        return ROUTE_READYZ;
    }
    if (is_metrics) {
        return strcmp(url, "/metrics") == 0 ? ROUTE_METRICS : ROUTE_NONE;
    }
    if (strcmp(url, "/mutate") == 0) {
        return ROUTE_MUTATE;
    }
    if (strcmp(url, "/validate") == 0) {
        return ROUTE_VALIDATE;
    }
    return ROUTE_NONE;
}

static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    size_t *total = cls;
    (void)kind;
    *total += strlen(key) + (value != NULL ? strlen(value) : 0) + 4; /* ": " and CRLF */
    return MHD_YES;
}

/* ------------------------------------------------------------------ buffered-body budget */

static void budget_init(struct body_budget *b, size_t max)
{
    pthread_mutex_init(&b->lock, NULL);
    b->used = 0;
    b->max = max;
    b->receiving = NULL;
}

/* Lock held: rq no longer receives (it cannot be shed any more). */
static void budget_unlink(struct body_budget *b, struct request *rq)
{
    if (!rq->receiving) {
        return;
    }
    if (rq->budget_prev != NULL) {
        rq->budget_prev->budget_next = rq->budget_next;
    } else {
        b->receiving = rq->budget_next;
    }
    if (rq->budget_next != NULL) {
        rq->budget_next->budget_prev = rq->budget_prev;
    }
    rq->budget_prev = rq->budget_next = NULL;
    rq->receiving = 0;
}

/* Lock held: give back rq's bytes and drop its body. */
static void budget_shed(struct body_budget *b, struct request *rq)
{
    budget_unlink(b, rq);
    b->used -= rq->counted;
    rq->counted = 0;
    rq->shed = 1;
    ka_buf_free(&rq->body);
}

/* Bytes per millisecond a sender has managed so far (with `extra` just arrived). */
static double send_rate(const struct request *rq, size_t extra, int64_t now)
{
    return (double)(rq->counted + extra) / (double)(now - rq->start + 1);
}

/* Lock held: make room for `n` more bytes of rq's body by shedding the slowest senders
 * (rq included). 0: rq may add them (counted); -1: rq itself was shed. */
static int budget_reserve(struct ka_server *s, struct body_budget *b, struct request *rq, size_t n,
                          int64_t now)
{
    while (b->used + n > b->max) {
        struct request *slowest = rq;
        double slowest_rate = send_rate(rq, n, now);
        for (struct request *x = b->receiving; x != NULL; x = x->budget_next) {
            if (x != rq && x->counted > 0 && send_rate(x, 0, now) < slowest_rate) {
                slowest = x;
                slowest_rate = send_rate(x, 0, now);
            }
        }
        budget_shed(b, slowest);
        atomic_fetch_add(&s->shed, 1);
        KA_LOG_D("buffered request bodies over --max-buffered-body-bytes: shed the slowest "
                 "sender (%.0f bytes/s)",
                 slowest_rate * 1000.0);
        if (slowest == rq) {
            return -1;
        }
    }
    b->used += n;
    rq->counted += n;
    return 0;
}

/* Lock held: done with rq's body. */
static void budget_release(struct body_budget *b, struct request *rq)
{
    budget_unlink(b, rq);
    b->used -= rq->counted;
    rq->counted = 0;
}

/* Content-Length headers: two that disagree make the body's end ambiguous (request smuggling
 * between a proxy and kadmit), so the request is refused. */
struct content_lengths {
    const char *first;
    int conflict;
};

static enum MHD_Result check_content_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                            const char *value)
{
    struct content_lengths *cl = cls;
    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0) {
        return MHD_YES;
    }
    if (cl->first == NULL) {
        cl->first = value != NULL ? value : "";
    } else if (strcmp(cl->first, value != NULL ? value : "") != 0) {
        cl->conflict = 1;
    }
    return MHD_YES;
}

/* First call for a request: route it and answer everything that needs no body. */
static enum MHD_Result on_headers(struct ka_server *s, struct daemon_ctx *dc,
                                  struct MHD_Connection *conn, const char *url, const char *method,
                                  struct request *rq)
{
    size_t header_bytes = strlen(method) + strlen(url) + 12; /* request line */
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_size, &header_bytes);
    if (header_bytes > s->cfg.max_header_bytes) {
        return respond_text(s, conn, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                            "request headers too large\n", NULL);
    }
    rq->route = route_of(url, dc->is_metrics);
    if (rq->route == ROUTE_NONE) {
        return respond_text(s, conn, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
    }
    if (rq->route == ROUTE_HEALTHZ || rq->route == ROUTE_READYZ || rq->route == ROUTE_METRICS) {
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
            return respond_text(s, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
                                "GET, HEAD");
        }
        if (rq->route == ROUTE_HEALTHZ) {
            return respond_text(s, conn, MHD_HTTP_OK, "ok\n", NULL);
        }
        if (rq->route == ROUTE_READYZ) {
            char why[128];
            if (server_ready(s, why, sizeof(why))) {
                return respond_text(s, conn, MHD_HTTP_OK, "ready\n", NULL);
            }
            char *text = NULL;
            size_t n = 0;
            struct ka_buf b;
            ka_buf_init(&b, 256);
            if (ka_buf_printf(&b, "not ready: %s\n", why) == 0) {
                text = ka_buf_take(&b, &n);
            }
            ka_buf_free(&b);
            if (text == NULL) {
                return respond_text(s, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n", NULL);
            }
            return respond(s, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", text,
                           n, 1, NULL);
        }
        if (s->opts.metrics == NULL) {
            return respond_text(s, conn, MHD_HTTP_NOT_FOUND, "no metrics\n", NULL);
        }
        struct ka_buf b;
        ka_buf_init(&b, 4u * 1024u * 1024u);
        if (ka_metrics_render(s->opts.metrics, &b) != 0) {
            ka_buf_free(&b);
            return respond_text(s, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics failed\n", NULL);
        }
        size_t n = 0;
        char *text = ka_buf_take(&b, &n);
        return respond(s, conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, n, 1,
                       NULL);
    }
    /* /mutate, /validate */
    if (strcmp(method, "POST") != 0) {
        return respond_text(s, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: use POST\n",
                            "POST");
    }
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    if (!content_type_is_json(ct)) {
        return respond_text(s, conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                            "unsupported content type: send application/json\n", NULL);
    }
    struct content_lengths lengths = {NULL, 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, check_content_length, &lengths);
    if (lengths.conflict) {
        return respond_text(s, conn, MHD_HTTP_BAD_REQUEST, "conflicting Content-Length headers\n",
                            NULL);
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl != NULL) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno != 0 || end == cl || n > s->cfg.max_body_bytes) {
            return respond_text(s, conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n",
                                NULL);
        }
    }
    ka_buf_init(&rq->body, s->cfg.max_body_bytes);
    struct body_budget *b = &dc->budget;
    pthread_mutex_lock(&b->lock);
    rq->budget = b;
    rq->receiving = 1;
    rq->budget_next = b->receiving;
    if (b->receiving != NULL) {
        b->receiving->budget_prev = rq;
    }
    b->receiving = rq;
    pthread_mutex_unlock(&b->lock);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct daemon_ctx *dc = cls;
    struct ka_server *s = dc->server;
    struct request *rq = *req_cls;
    (void)version;
    if (rq == NULL) {
        rq = calloc(1, sizeof(*rq));
        if (rq == NULL) {
            return MHD_NO;
        }
        ka_buf_init(&rq->body, 0);
        rq->start = now_ms();
        *req_cls = rq;
        return on_headers(s, dc, conn, url, method, rq);
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->shed) {
            return MHD_NO; /* shed for the budget: close */
        }
        if (!rq->too_big && !rq->failed && rq->budget != NULL) {
            struct body_budget *b = rq->budget;
            pthread_mutex_lock(&b->lock);
            int ret = KA_ELIMIT;
            if (budget_reserve(s, b, rq, n, now_ms()) == 0) {
                ret = ka_buf_add(&rq->body, upload_data, n);
                if (ret != 0) {
                    budget_release(b, rq);
                    rq->too_big = ret == KA_ELIMIT;
                    rq->failed = ret != KA_ELIMIT;
                    ka_buf_free(&rq->body);
                }
            }
            pthread_mutex_unlock(&b->lock);
            if (rq->shed) {
                return MHD_NO;
            }
        }
        if (now_ms() - rq->start > (int64_t)s->cfg.request_deadline * 1000) {
            KA_LOG_D("request body not received within the deadline; closing");
            return MHD_NO;
        }
        return MHD_YES;
    }
    /* The whole body is here: it can no longer be shed. */
    if (rq->budget != NULL) {
        pthread_mutex_lock(&rq->budget->lock);
        budget_unlink(rq->budget, rq);
        pthread_mutex_unlock(&rq->budget->lock);
    }
    if (rq->shed) {
        return respond_text(s, conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "request shed: too many request bodies buffered at once (slowest "
                            "sender first); retry\n",
                            NULL);
    }
    if (rq->too_big) {
        return respond_text(s, conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n", NULL);
    }
    if (rq->failed) {
        return respond_text(s, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
    }
    struct ka_buf resp;
    ka_buf_init(&resp, s->cfg.max_body_bytes + 64u * 1024u);
    int status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    enum ka_endpoint ep = rq->route == ROUTE_MUTATE ? KA_ENDPOINT_MUTATE : KA_ENDPOINT_VALIDATE;
    const char *body = rq->body.data != NULL ? rq->body.data : "";
    /* the relay marks a verified client certificate in the socketpair's address */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr_un *peer =
        ci != NULL ? (const struct sockaddr_un *)(const void *)ci->client_addr : NULL;
    int verified = peer != NULL && peer->sun_family == AF_UNIX && peer->sun_path[0] == 'v';
    int ret =
        s->opts.handler(s->opts.handler_ctx, ep, body, rq->body.len, verified, &resp, &status);
    if (ret != 0 || status < 100 || status > 599) {
        ka_buf_free(&resp);
        KA_LOG_E("admission handler failed: %s", ka_strerror(ret));
        return respond_text(s, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", NULL);
    }
    size_t n = 0;
    char *text = ka_buf_take(&resp, &n);
    if (text == NULL) {
        return MHD_NO;
    }
    return respond(s, conn, status,
                   status == MHD_HTTP_OK ? "application/json" : "text/plain; charset=utf-8", text,
                   n, 1, NULL);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct request *rq = *req_cls;
    if (rq != NULL) {
        if (rq->budget != NULL) {
            pthread_mutex_lock(&rq->budget->lock);
            budget_release(rq->budget, rq);
            pthread_mutex_unlock(&rq->budget->lock);
        }
        ka_buf_free(&rq->body);
        free(rq);
        *req_cls = NULL;
    }
}

/* ========================================================================== TLS relay */

static void relay_set_interest(struct worker *w, struct relay *r, int is_pair, uint32_t events)
{
    uint32_t *cur = is_pair ? &r->ev_pair : &r->ev_tls;
    int fd = is_pair ? r->pair : r->fd;
    if (*cur == events) {
        return;
    }
    struct epoll_event ev = {.events = events, .data.ptr = is_pair ? &r->tag_pair : &r->tag_tls};
    if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) {
        *cur = events;
    }
}

static void relay_close(struct worker *w, struct relay *r, int notify)
{
    for (size_t i = 0; i < w->n_touched; i++) {
        if (w->touched[i] == r) {
            w->touched[i] = NULL;
        }
    }
    if (notify && r->state == RELAY_OPEN) {
        ka_tls_conn_close_notify(r->tls);
    }
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        w->relays.head = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    if (r->pair >= 0) {
        close(r->pair); /* libmicrohttpd sees EOF and drops its side */
    }
    ka_tls_conn_free(r->tls);
    close(r->fd);
    atomic_fetch_sub(&w->server->connections, 1);
    w->n_relays--;
    w->per_source[r->source.bucket]--;
    w->closed_since_trim++;
    /* Wipe the plaintext that passed through, not the whole buffers: pages never written
     * stay untouched, so closing thousands of idle connections does not grow resident memory. */
    memset(r->in, 0, r->in_used);
    memset(r->out, 0, r->out_used);
    free(r);
}

/* Count a connection refused for want of descriptors; log at most once a second. */
static void note_out_of_fds(struct ka_server *s, int err)
{
    atomic_fetch_add(&s->fd_refused, 1);
    int64_t now = now_ms();
    int64_t last = atomic_load(&s->fd_log_ms);
    if (now - last >= 1000 && atomic_compare_exchange_strong(&s->fd_log_ms, &last, now)) {
        KA_LOG_W("out of file descriptors (%s): refused %ld connections; raise the descriptor "
                 "limit (ulimit -n) or lower --max-connections",
                 strerror(err), atomic_exchange(&s->fd_refused, 0));
    }
}

/* 1 when libmicrohttpd has written bytes we have not read yet. */
static int relay_http_pending(const struct relay *r)
{
    int pending = 0;
    if (r->pair < 0 || ioctl(r->pair, FIONREAD, &pending) != 0) {
        return 0;
    }
    return pending > 0;
}

/* The handshake is done: hand a socketpair end to libmicrohttpd. 0 or -1. */
static int relay_attach_http(struct worker *w, struct relay *r)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        if (errno == EMFILE || errno == ENFILE) {
            note_out_of_fds(w->server, errno);
        } else {
            KA_LOG_W("socketpair failed: %s", strerror(errno));
        }
        return -1;
    }
    /* MHD owns sv[1] from here, success or not. Telling it the truth (an AF_UNIX peer) keeps
     * it from trying TCP_NODELAY/TCP_CORK on the socketpair twice per response. */
    struct sockaddr_un local = {.sun_family = AF_UNIX};
    local.sun_path[0] = r->client_verified ? 'v' : '-';
    if (MHD_add_connection(w->http, sv[1], (const struct sockaddr *)&local,
                           (socklen_t)sizeof(local)) != MHD_YES) {
        KA_LOG_W("HTTP layer refused a connection: %s", strerror(errno));
        close(sv[0]);
        return -1;
    }
    r->pair = sv[0];
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &r->tag_pair};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, r->pair, &ev) != 0) {
        return -1;
    }
    r->ev_pair = EPOLLIN;
    r->pair_in_epoll = 1;
    return 0;
}

/* A TLS connection starts with a handshake record (0x16). A letter means a plaintext HTTP
 * request on the TLS port: answer a readable 400 before closing, as Go's net/http does.
 * 1: answered (close the relay); 0: TLS or unknown (go on); -1: nothing to read yet. */
static int relay_refuse_plaintext(struct relay *r)
{
    static const char answer[] = "HTTP/1.0 400 Bad Request\r\n"
                                 "Content-Type: text/plain; charset=utf-8\r\n"
                                 "Connection: close\r\n\r\n"
                                 "Client sent an HTTP request to an HTTPS server.\n";
    unsigned char first;
    ssize_t n = recv(r->fd, &first, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return -1;
    }
    r->sniffed = 1;
    if (n != 1 || first < 'A' || first > 'Z') {
        return 0;
    }
    KA_LOG_D("plaintext HTTP on the TLS port: answered 400");
    ssize_t sent = send(r->fd, answer, sizeof(answer) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)sent;
    return 1;
}

/* --client-allowed-subjects (comma-separated Common Names): empty allows any verified
 * certificate (or none, without --client-ca). */
static int subject_allowed(const struct ka_config *cfg, int verified, const char *cn)
{
    const char *list = cfg->client_allowed_subjects;
    if (list[0] == '\0') {
        return 1;
    }
    size_t n = strlen(cn);
    for (const char *p = list; verified && n > 0 && *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, cn, n) == 0) {
            return 1;
        }
        p += len + (comma != NULL);
    }
    return 0;
}

/* Move bytes until nothing moves. 0: keep the relay; -1: close it. */
static int relay_pump(struct worker *w, struct relay *r)
{
    int64_t now = now_ms();
    for (int rounds = 0; rounds < 64; rounds++) {
        int progress = 0;
        if (r->state == RELAY_HANDSHAKE) {
            if (!r->sniffed) {
                int plain = relay_refuse_plaintext(r);
                if (plain < 0) {
                    break;
                }
                if (plain > 0) {
                    return -1;
                }
            }
            int ret = ka_tls_conn_handshake(r->tls);
            if (ret == KA_EWOULDBLOCK) {
                break;
            }
            if (ret != 0) {
                KA_LOG_D("TLS handshake failed: %s", ka_tls_conn_error(r->tls));
                return -1;
            }
            KA_LOG_D("TLS handshake done: %s", ka_tls_conn_version(r->tls));
            char cn[256];
            r->client_verified = ka_tls_conn_peer_verified(r->tls, cn, sizeof(cn));
            if (!subject_allowed(&w->server->cfg, r->client_verified, cn)) {
                KA_LOG_D("client certificate CN \"%s\" is not in --client-allowed-subjects; "
                         "closing",
                         cn);
                return -1;
            }
            r->state = RELAY_OPEN;
            r->tls_ready = 1; /* a request may have come with the client's Finished */
            if (relay_attach_http(w, r) != 0) {
                return -1;
            }
            progress = 1;
        }
        /* client -> HTTP. Reads are tried only when epoll said so or bytes are buffered in
         * the TLS session: level-triggered epoll reports anything still in the kernel. */
        if (!r->peer_eof && r->in_len == 0 && (r->tls_ready || ka_tls_conn_pending(r->tls) > 0)) {
            size_t got = 0;
            int ret = ka_tls_conn_read(r->tls, r->in, sizeof(r->in), &got);
            if (ret == KA_EWOULDBLOCK) {
                r->tls_ready = 0;
            }
            if (ret == 0 && got > 0) {
                r->in_off = 0;
                r->in_len = got;
                r->in_used = got > r->in_used ? got : r->in_used;
                progress = 1;
            } else if (ret == 0) {
                /* No half-close towards libmicrohttpd (its epoll mode can miss a FIN that
                 * arrives with data): close once any answer in progress has gone out. */
                r->peer_eof = 1;
                progress = 1;
            } else if (ret != KA_EWOULDBLOCK) {
                KA_LOG_D("TLS read failed: %s", ka_tls_conn_error(r->tls));
                return -1;
            }
        }
        if (r->in_len > r->in_off) {
            ssize_t n = send(r->pair, r->in + r->in_off, r->in_len - r->in_off, MSG_NOSIGNAL);
            if (n > 0) {
                r->in_off += (size_t)n;
                if (r->in_off == r->in_len) {
                    r->in_off = r->in_len = 0;
                }
                if (r->awaiting_since == 0) {
                    r->awaiting_since = now;
                }
                r->last_activity = now;
                progress = 1;
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                return -1;
            }
        }
        /* HTTP -> client */
        if (!r->http_eof && r->out_len == 0 && r->pair_ready) {
            ssize_t n = recv(r->pair, r->out, sizeof(r->out), 0);
            if (n < (ssize_t)sizeof(r->out)) {
                r->pair_ready = 0; /* drained (a short read); epoll reports more */
            }
            if (n > 0) {
                r->out_off = 0;
                r->out_len = (size_t)n;
                r->out_used = r->out_len > r->out_used ? r->out_len : r->out_used;
                progress = 1;
            } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                r->http_eof = 1;
                progress = 1;
            }
        }
        if (r->out_len > r->out_off) {
            size_t written = 0;
            int ret =
                ka_tls_conn_write(r->tls, r->out + r->out_off, r->out_len - r->out_off, &written);
            if (ret == 0) {
                r->out_off += written;
                if (r->out_off == r->out_len) {
                    r->out_off = r->out_len = 0;
                    if (r->in_len == 0) {
                        r->awaiting_since = 0;
                    }
                }
                r->last_activity = now;
                progress = 1;
            } else if (ret != KA_EWOULDBLOCK) {
                KA_LOG_D("TLS write failed: %s", ka_tls_conn_error(r->tls));
                return -1;
            }
        }
        if (r->http_eof && r->out_len == 0) {
            ka_tls_conn_close_notify(r->tls);
            return -1;
        }
        if (r->peer_eof && r->awaiting_since == 0 && r->in_len == 0 && r->out_len == 0 &&
            !relay_http_pending(r)) {
            return -1;
        }
        if (!progress) {
            break;
        }
    }
    /* Wait for what the next step needs. */
    uint32_t ev_tls = 0;
    if (r->state == RELAY_HANDSHAKE) {
        ev_tls = ka_tls_conn_want(r->tls) == KA_TLS_WANT_WRITE ? EPOLLOUT : EPOLLIN;
    } else {
        if (!r->peer_eof && r->in_len == 0) {
            ev_tls |= ka_tls_conn_want(r->tls) == KA_TLS_WANT_WRITE ? EPOLLOUT : EPOLLIN;
        }
        if (r->out_len > r->out_off) {
            ev_tls |= EPOLLOUT;
        }
    }
    relay_set_interest(w, r, 0, ev_tls);
    if (r->pair_in_epoll) {
        uint32_t ev_pair = 0;
        if (!r->http_eof && r->out_len == 0) {
            ev_pair |= EPOLLIN;
        }
        if (r->in_len > r->in_off) {
            ev_pair |= EPOLLOUT;
        }
        if (r->http_eof || ev_pair == 0) {
            /* epoll reports hang-ups even with no interest; stop listening once done. */
            epoll_ctl(w->epfd, EPOLL_CTL_DEL, r->pair, NULL);
            r->pair_in_epoll = 0;
            r->ev_pair = 0;
        } else {
            relay_set_interest(w, r, 1, ev_pair);
        }
    } else if (r->pair >= 0 && !r->http_eof && r->out_len == 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &r->tag_pair};
        if (r->in_len > r->in_off) {
            ev.events |= EPOLLOUT;
        }
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, r->pair, &ev) == 0) {
            r->pair_in_epoll = 1;
            r->ev_pair = ev.events;
        }
    }
    return 0;
}

/* accept() failed with EMFILE/ENFILE: refuse one pending connection with the spare
 * descriptor (the client sees a close at once instead of hanging in the backlog); without one,
 * stop listening for 100 ms. */
static void worker_out_of_fds(struct worker *w, int err)
{
    struct ka_server *s = w->server;
    int spare = atomic_exchange(&s->spare_fd, -1);
    if (spare >= 0) {
        close(spare);
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            close(fd);
        }
        spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int none = -1;
        if (spare >= 0 && !atomic_compare_exchange_strong(&s->spare_fd, &none, spare)) {
            close(spare);
        }
    }
    if (spare < 0 && w->listening) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
        w->listening = 0;
        w->listen_paused_until = now_ms() + 100; /* worker_main listens again */
    }
    note_out_of_fds(s, err);
}

/* The client's address without the port (IPv4 as ::ffff:a.b.c.d) and its bucket. */
static void source_of(const struct ka_server *s, const struct sockaddr_storage *peer,
                      struct source *out)
{
    memset(out, 0, sizeof(*out));
    if (peer->ss_family == AF_INET) {
        out->addr[10] = out->addr[11] = 0xff;
        memcpy(out->addr + 12, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    } else if (peer->ss_family == AF_INET6) {
        memcpy(out->addr, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
    }
    uint64_t h = s->source_seed;
    for (size_t i = 0; i < sizeof(out->addr); i++) {
        h = (h ^ out->addr[i]) * 0x100000001b3ull;
    }
    h ^= h >> 29;
    out->bucket = (unsigned)(h % SOURCE_BUCKETS);
}

/* The connection a new one replaces: the oldest still in its TLS handshake, else the one idle
 * longest (quiet for KA_EVICT_IDLE_MS, nothing buffered or awaited); only connections from
 * `src` when given. NULL when there is none. */
static struct relay *eviction_victim(struct worker *w, const struct source *src, int64_t now)
{
    struct relay *handshaking = NULL, *idle = NULL;
    for (struct relay *r = w->relays.head; r != NULL; r = r->next) {
        if (src != NULL && memcmp(r->source.addr, src->addr, sizeof(src->addr)) != 0) {
            continue;
        }
        if (r->state == RELAY_HANDSHAKE) {
            handshaking = r; /* the list is newest first: the last one seen is the oldest */
        } else if (handshaking == NULL && r->awaiting_since == 0 && r->in_len == 0 &&
                   r->out_len == 0 && now - r->last_activity >= KA_EVICT_IDLE_MS &&
                   (idle == NULL || r->last_activity <= idle->last_activity) &&
                   !relay_http_pending(r)) {
            idle = r;
        }
    }
    return handshaking != NULL ? handshaking : idle;
}

/* At a cap: make room for a connection from `src` by closing another. 0 or -1 (refuse it). */
static int make_room(struct worker *w, const struct source *src)
{
    struct ka_server *s = w->server;
    int source_full = w->per_source[src->bucket] >= w->max_per_source;
    if (!source_full && w->n_relays < w->max_relays) {
        return 0;
    }
    int64_t now = now_ms();
    struct relay *victim = eviction_victim(w, source_full ? src : NULL, now);
    if (victim == NULL) {
        int64_t last = atomic_exchange(&s->saturated_ms, now);
        atomic_fetch_add(&s->refused, 1);
        if (now - last >= 1000) {
            KA_LOG_W("connection refused: %s reached and no connection is handshaking or idle "
                     "to make room (%ld refused, %ld evicted so far); /readyz reports it",
                     source_full ? "--max-connections-per-source" : "--max-connections",
                     atomic_load(&s->refused), atomic_load(&s->evicted));
        }
        return -1;
    }
    KA_LOG_D("closing a %s connection to make room for a new one",
             victim->state == RELAY_HANDSHAKE ? "handshaking" : "idle");
    relay_close(w, victim, victim->state == RELAY_OPEN);
    atomic_fetch_add(&s->evicted, 1);
    return 0;
}

static void worker_accept(struct worker *w)
{
    struct ka_server *s = w->server;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof(peer);
        int fd = accept4(s->listen_fd, (struct sockaddr *)&peer, &peer_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINVAL || errno == EBADF) {
                /* shut down for draining */
                epoll_ctl(w->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
                w->listening = 0;
            } else if (errno == EMFILE || errno == ENFILE) {
                worker_out_of_fds(w, errno); /* refuse one at once with the spare descriptor */
            } else if (errno == ENOBUFS || errno == ENOMEM) {
                /* The pending connection stays in the backlog and the listener stays readable:
                 * stop watching it for a moment instead of spinning. */
                KA_LOG_W("accept: %s; pausing accepts for 100 ms", strerror(errno));
                epoll_ctl(w->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
                w->listening = 0;
                w->listen_paused_until = now_ms() + 100;
            }
            return;
        }
        if (atomic_load(&s->draining)) {
            close(fd);
            continue;
        }
        struct source src;
        source_of(s, &peer, &src);
        if (make_room(w, &src) != 0) {
            close(fd);
            continue;
        }
        atomic_fetch_add(&s->connections, 1);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct relay *r = calloc(1, sizeof(*r));
        struct ka_tls_config *tc = ka_tls_holder_get(s->opts.tls);
        int ret = KA_ENOMEM;
        if (r != NULL && tc != NULL) {
            ret = ka_tls_conn_new(tc, fd, &r->tls);
        }
        ka_tls_config_unref(tc);
        if (ret != 0) {
            KA_LOG_W("cannot start TLS on a new connection: %s", ka_strerror(ret));
            free(r);
            close(fd);
            atomic_fetch_sub(&s->connections, 1);
            continue;
        }
        r->fd = fd;
        r->pair = -1;
        r->source = src;
        w->n_relays++;
        w->per_source[src.bucket]++;
        r->tag_tls.relay = r;
        r->tag_pair.relay = r;
        r->tag_pair.is_pair = 1;
        r->state = RELAY_HANDSHAKE;
        r->tls_ready = 1;
        r->last_activity = now_ms();
        r->handshake_deadline = r->last_activity + (int64_t)s->cfg.handshake_timeout * 1000;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &r->tag_tls};
        r->next = w->relays.head;
        if (r->next != NULL) {
            r->next->prev = r;
        }
        w->relays.head = r;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            relay_close(w, r, 0);
            continue;
        }
        r->ev_tls = EPOLLIN;
        /* The ClientHello usually arrives with the connection: try at once. */
        if (relay_pump(w, r) != 0) {
            relay_close(w, r, 0);
        }
    }
}

/* Timeouts and draining, every SWEEP_MS. */
static void worker_sweep(struct worker *w)
{
    struct ka_server *s = w->server;
    int64_t now = now_ms();
    int draining = atomic_load(&s->draining);
    int stopping = atomic_load(&s->stopping);
    /* After a burst of connections (thousands of idle ones, a reconnect storm), give the freed
     * memory back to the system once this worker has few connections left. */
    if (w->closed_since_trim >= 256 && (w->relays.head == NULL || w->closed_since_trim >= 4096)) {
        w->closed_since_trim = 0;
        malloc_trim(0);
    }
    struct relay *next;
    for (struct relay *r = w->relays.head; r != NULL; r = next) {
        next = r->next;
        if (stopping) {
            relay_close(w, r, 1);
            continue;
        }
        /* A handshake in progress is let finish even when draining: a TLS 1.3 client is done
         * with its side after the server's Finished and may already have sent its request,
         * which closing now would fail. It is answered with "Connection: close". */
        if (r->state == RELAY_HANDSHAKE) {
            if (now > r->handshake_deadline) {
                KA_LOG_D("closing a connection: TLS handshake timed out");
                relay_close(w, r, 0);
            }
            continue;
        }
        if (r->awaiting_since != 0 &&
            now - r->awaiting_since > (int64_t)s->cfg.request_deadline * 1000 + 1000) {
            KA_LOG_D("closing a connection: request not answered within --request-deadline");
            relay_close(w, r, 1);
            continue;
        }
        /* An idle keep-alive connection is closed when draining, but only once it has been
         * quiet for a while and has no request bytes waiting in the socket: a client that was
         * just using it is probably sending its next request now, and closing under it fails
         * that request. A busy connection gets "Connection: close" on its next answer instead. */
        int queued = 0;
        if (draining && r->awaiting_since == 0 && r->in_len == 0 && r->out_len == 0 &&
            !relay_http_pending(r) && now - r->last_activity >= KA_DRAIN_IDLE_MS &&
            (ioctl(r->fd, FIONREAD, &queued) != 0 || queued == 0)) {
            relay_close(w, r, 1); /* idle keep-alive connection */
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct ka_server *s = w->server;
    struct epoll_event events[64];
    int64_t next_sweep = now_ms() + SWEEP_MS;
    while (!atomic_load(&s->stopping)) {
        int timeout = SWEEP_MS;
        MHD_UNSIGNED_LONG_LONG mhd_ms = 0;
        if (MHD_get_timeout(w->http, &mhd_ms) == MHD_YES &&
            mhd_ms < (MHD_UNSIGNED_LONG_LONG)timeout) {
            timeout = (int)mhd_ms;
        }
        int n = epoll_wait(w->epfd, events, 64, timeout);
        w->n_touched = 0;
        /* Relays whose events are in this batch: closing one must not leave a dangling pointer
         * in a later event, so the batch is first turned into the touched list. */
        for (int i = 0; i < n; i++) {
            struct ep_tag *tag = events[i].data.ptr;
            if (tag == &w->listen_tag || tag == &w->http_tag) {
                continue;
            }
            struct relay *r = tag->relay;
            int dup = 0;
            for (size_t j = 0; j < w->n_touched && !dup; j++) {
                dup = w->touched[j] == r;
            }
            if (!dup && w->n_touched < sizeof(w->touched) / sizeof(w->touched[0])) {
                w->touched[w->n_touched++] = r;
            }
            uint32_t ev = events[i].events;
            if (tag->is_pair) {
                r->pair_ready |= (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0;
            } else {
                r->tls_ready |= (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0;
                if ((ev & (EPOLLERR | EPOLLHUP)) != 0 && (r->ev_tls & EPOLLIN) == 0) {
                    r->client_gone = 1;
                }
            }
        }
        for (size_t i = 0; i < w->n_touched; i++) {
            struct relay *r = w->touched[i];
            if (r == NULL) {
                continue;
            }
            if (r->client_gone) {
                relay_close(w, r, 0); /* the client is gone and we were not reading */
            } else if (relay_pump(w, r) != 0) {
                relay_close(w, r, 0);
            }
        }
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == &w->listen_tag) {
                worker_accept(w);
            }
        }
        /* Requests the relays just delivered are answered now, on this thread; then the
         * answers go straight out without waiting for another epoll round. */
        MHD_run(w->http);
        for (size_t i = 0; i < w->n_touched; i++) {
            if (w->touched[i] != NULL) {
                struct relay *r = w->touched[i];
                w->touched[i] = NULL;
                r->pair_ready = 1; /* the answer may be there now */
                if (relay_pump(w, r) != 0) {
                    relay_close(w, r, 0);
                }
            }
        }
        w->n_touched = 0;
        int64_t now = now_ms();
        if (now >= next_sweep || atomic_load(&s->draining)) {
            if (atomic_load(&s->draining) && w->listening) {
                epoll_ctl(w->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
                w->listening = 0;
            } else if (!atomic_load(&s->draining) && !w->listening && w->listen_paused_until != 0 &&
                       now >= w->listen_paused_until) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                                         .data.ptr = &w->listen_tag};
                if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) == 0) {
                    w->listening = 1;
                    w->listen_paused_until = 0;
                }
            }
            worker_sweep(w);
            next_sweep = now + SWEEP_MS;
        }
    }
    struct relay *next;
    for (struct relay *r = w->relays.head; r != NULL; r = next) {
        next = r->next;
        relay_close(w, r, 1);
    }
    MHD_run(w->http); /* let libmicrohttpd see the closed sockets */
    return NULL;
}

/* ====================================================================== start and stop */

static int listen_on(const char *addr_text, int *out_fd, unsigned *out_port, struct ka_buf *diag)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    if (ka_config_parse_addr(addr_text, &ss, &len) != 0) {
        ka_buf_diag(diag, "bad address %s", addr_text);
        return KA_EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ka_buf_diag(diag, "socket for %s: %s", addr_text, strerror(errno));
        return KA_ENET;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
        ka_buf_diag(diag, "cannot listen on %s: %s", addr_text, strerror(errno));
        close(fd);
        return KA_ENET;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    getsockname(fd, (struct sockaddr *)&bound, &blen);
    *out_port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    *out_fd = fd;
    return 0;
}

static struct MHD_Daemon *start_mhd(struct ka_server *s, unsigned flags, struct daemon_ctx *ctx,
                                    unsigned threads, int listen_fd, unsigned limit,
                                    unsigned long timeout, unsigned per_ip)
{
    struct MHD_OptionItem o[12];
    size_t n = 0;
    /* The logger first, so no message goes to libmicrohttpd's own stderr logger. */
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, NULL};
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)timeout, NULL};
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)limit, NULL};
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                     (intptr_t)(2 * s->cfg.max_header_bytes + 16384u), NULL};
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL};
    if (listen_fd >= 0) {
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL};
    }
    if (threads > 1) {
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL};
    }
    if (per_ip > 0) {
        o[n++] =
            (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)per_ip, NULL};
    }
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, ctx, MHD_OPTION_ARRAY, o,
                            MHD_OPTION_END);
}

int ka_server_start(const struct ka_server_opts *opts, struct ka_server **out, struct ka_buf *diag)
{
    int ret = KA_EINTERNAL;
    int metrics_fd = -1;
    struct ka_server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return KA_ENOMEM;
    }
    s->cfg = *opts->config;
    s->opts = *opts;
    s->opts.config = &s->cfg;
    s->listen_fd = -1;
    s->http_ctx.server = s;
    s->metrics_ctx.server = s;
    s->metrics_ctx.is_metrics = 1;
    atomic_init(&s->draining, 0);
    atomic_init(&s->stopping, 0);
    atomic_init(&s->connections, 0);
    atomic_init(&s->spare_fd, open("/dev/null", O_RDONLY | O_CLOEXEC));
    atomic_init(&s->fd_log_ms, 0);
    atomic_init(&s->fd_refused, 0);
    atomic_init(&s->saturated_ms, 0);
    atomic_init(&s->evicted, 0);
    atomic_init(&s->refused, 0);
    atomic_init(&s->shed, 0);
    struct timespec seed_ts;
    clock_gettime(CLOCK_REALTIME, &seed_ts);
    s->source_seed = 0xcbf29ce484222325ull ^ ((uint64_t)seed_ts.tv_nsec << 20) ^
                     (uint64_t)seed_ts.tv_sec ^ ((uint64_t)getpid() << 40);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    s->n_workers = s->cfg.threads > 0 ? (unsigned)s->cfg.threads : (ncpu > 0 ? (unsigned)ncpu : 1);
    if (s->n_workers > MAX_WORKERS) {
        s->n_workers = MAX_WORKERS;
    }
    if (!opts->plain_http && (opts->tls == NULL || opts->tls->current == NULL)) {
        ka_buf_diag(diag, "no TLS certificate loaded");
        ret = KA_EINVAL;
        goto exit;
    }

    /* Each TLS connection holds three descriptors (socket + socketpair). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < 3 * (rlim_t)s->cfg.max_connections + 64) {
        KA_LOG_W("open file limit %llu is too low for --max-connections %lu (needs %lu)",
                 (unsigned long long)rl.rlim_cur, s->cfg.max_connections,
                 3 * s->cfg.max_connections + 64);
    }
    ret = listen_on(s->cfg.listen, &s->listen_fd, &s->port, diag);
    if (ret != 0) {
        goto exit;
    }
    unsigned limit = (unsigned)s->cfg.max_connections + 16u;
    /* each worker's share of the body budget, never less than one full-size body */
    size_t share = s->cfg.max_buffered_body_bytes / (opts->plain_http ? 1 : s->n_workers);
    if (share < s->cfg.max_body_bytes) {
        share = s->cfg.max_body_bytes;
    }
    budget_init(&s->http_ctx.budget, share);
    budget_init(&s->metrics_ctx.budget, s->cfg.max_body_bytes);
    if (opts->plain_http) {
        s->http = start_mhd(s, MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, &s->http_ctx,
                            s->n_workers, s->listen_fd, limit, s->cfg.idle_timeout, 0);
        if (s->http != NULL) {
            s->listen_fd = -1; /* owned by libmicrohttpd now */
        }
        if (s->http == NULL) {
            ka_buf_diag(diag, "cannot start the HTTP layer");
            ret = KA_ENET;
            goto exit;
        }
    }
    ret = listen_on(s->cfg.metrics_listen, &metrics_fd, &s->metrics_port, diag);
    if (ret != 0) {
        goto exit;
    }
    s->metrics = start_mhd(s, MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, &s->metrics_ctx, 1,
                           metrics_fd, (unsigned)s->cfg.metrics_max_connections,
                           s->cfg.metrics_timeout, (unsigned)s->cfg.metrics_connections_per_source);
    if (s->metrics == NULL) {
        ka_buf_diag(diag, "cannot start the metrics listener");
        ret = KA_ENET;
        goto exit;
    }
    metrics_fd = -1;

    if (!opts->plain_http) {
        for (unsigned i = 0; i < s->n_workers; i++) {
            struct worker *w = &s->workers[i];
            w->server = s;
            w->epfd = epoll_create1(EPOLL_CLOEXEC);
            if (w->epfd < 0) {
                ka_buf_diag(diag, "epoll: %s", strerror(errno));
                ret = KA_ENET;
                goto exit;
            }
            /* The worker drives its own HTTP daemon: no thread hop per request. */
            w->http_ctx.server = s;
            w->max_relays = (s->cfg.max_connections + s->n_workers - 1) / s->n_workers;
            w->max_per_source =
                (s->cfg.max_connections_per_source + s->n_workers - 1) / s->n_workers;
            budget_init(&w->http_ctx.budget, share);
            w->http = start_mhd(s, MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG,
                                &w->http_ctx, 1, -1, limit, s->cfg.idle_timeout, 0);
            const union MHD_DaemonInfo *info =
                w->http != NULL ? MHD_get_daemon_info(w->http, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
            struct epoll_event hev = {.events = EPOLLIN, .data.ptr = &w->http_tag};
            if (info == NULL || epoll_ctl(w->epfd, EPOLL_CTL_ADD, info->epoll_fd, &hev) != 0) {
                ka_buf_diag(diag, "cannot start the HTTP layer");
                ret = KA_ENET;
                goto exit;
            }
            struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                                     .data.ptr = &w->listen_tag};
            if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) != 0) {
                ka_buf_diag(diag, "epoll: %s", strerror(errno));
                ret = KA_ENET;
                goto exit;
            }
            w->listening = 1;
            if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
                ka_buf_diag(diag, "cannot start a worker thread");
                ret = KA_ENOMEM;
                goto exit;
            }
            w->started = 1;
        }
    }
    *out = s;
    s = NULL;
    ret = 0;
exit:
    if (metrics_fd >= 0) {
        close(metrics_fd);
    }
    ka_server_free(s);
    return ret;
}

unsigned ka_server_port(const struct ka_server *s)
{
    return s->port;
}

unsigned ka_server_metrics_port(const struct ka_server *s)
{
    return s->metrics_port;
}

void ka_server_drain(struct ka_server *s)
{
    if (atomic_exchange(&s->draining, 1)) {
        return;
    }
    if (s->listen_fd >= 0) {
        /* Stop accepting now; the descriptor itself is closed after the workers are gone. */
        shutdown(s->listen_fd, SHUT_RDWR);
    } else if (s->http != NULL && s->opts.plain_http) {
        MHD_socket fd = MHD_quiesce_daemon(s->http);
        if (fd != MHD_INVALID_SOCKET) {
            close(fd);
        }
    }
}

long ka_server_connections(const struct ka_server *s)
{
    return atomic_load(&s->connections);
}

int ka_server_wait_drained(struct ka_server *s, long timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    while (atomic_load(&s->connections) > 0) {
        if (now_ms() >= end) {
            return KA_ELIMIT;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

void ka_server_free(struct ka_server *s)
{
    if (s == NULL) {
        return;
    }
    atomic_store(&s->draining, 1);
    atomic_store(&s->stopping, 1);
    for (unsigned i = 0; i < s->n_workers; i++) {
        struct worker *w = &s->workers[i];
        if (w->started) {
            pthread_join(w->thread, NULL);
        }
        if (w->http != NULL) {
            MHD_stop_daemon(w->http);
        }
        if (w->epfd > 0) {
            close(w->epfd);
        }
    }
    if (s->http != NULL) {
        MHD_stop_daemon(s->http);
    }
    if (s->metrics != NULL) {
        MHD_stop_daemon(s->metrics);
    }
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
    }
    if (atomic_load(&s->spare_fd) >= 0) {
        close(atomic_load(&s->spare_fd));
    }
    free(s);
}

void ka_server_block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}
