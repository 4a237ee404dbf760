/*
 * The decision log: JSON lines, one write(2) each, size rotation, drop-don't-block.
 *
 *   summary -> line in a ka_buf -> [rdlock] write(fd, line) -> size += n -> [wrlock] rotate
 */
#include "kadmit/decisionlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kadmit/error.h"
#include "kadmit/policy.h"

struct ka_decision_log {
    char *path; /* NULL for stdout */
    uint64_t max_bytes;
    unsigned keep;
    int all;
    int fd;
    pthread_rwlock_t lock; /* read: writers; write: rotation, reopen, close */
    _Atomic uint64_t size; /* bytes in the current file (approximate under races: only a trigger) */
    _Atomic uint64_t dropped;
    _Atomic uint64_t written;
    _Atomic int torn; /* a short write left a line without its "\n" */
};

/* ---------------------------------------------------------------------------------- format */

void ka_decision_log_time(int64_t time_ms, char *buf, size_t len)
{
    time_t secs = (time_t)(time_ms / 1000);
    int ms = (int)(time_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        secs--;
    }
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, len, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

int ka_decision_log_wants(const struct ka_review_summary *s, int all)
{
    /* A 400 (not an AdmissionReview) is not an admission: the API server never sends one, so
     * by default it is not logged (a client spamming bad requests cannot flood the log). */
    return all || (s->http_status == 200 &&
                   (s->n_findings > 0 || s->n_dropped_findings > 0 || !s->allowed));
}

int ka_decision_log_format(const struct ka_review_summary *s, enum ka_endpoint ep, int64_t time_ms,
                           struct ka_buf *out)
{
    int ret = KA_EINTERNAL;
    char ts[40];
    ka_decision_log_time(time_ms, ts, sizeof(ts));
    ret = ka_buf_adds(out, "{");
    ret = ret ? ret : ka_buf_add_json_member(out, "time", ts, 0);
    ret = ret ? ret : ka_buf_add_json_member(out, "uid", s->uid, 1);
    ret = ret ? ret : ka_buf_add_json_member(out, "user", s->user, 1);
    /* the user is what the caller claims; only a verified client certificate says who called */
    ret = ret ? ret
              : ka_buf_printf(out, ",\"clientCertVerified\":%s",
                              s->client_cert_verified ? "true" : "false");
    ret = ret ? ret : ka_buf_add_json_member(out, "operation", s->operation, 1);
    ret = ret ? ret : ka_buf_printf(out, ",\"dryRun\":%s", s->dry_run ? "true" : "false");
    ret = ret ? ret : ka_buf_add_json_member(out, "kind", s->kind, 1);
    ret = ret ? ret : ka_buf_add_json_member(out, "namespace", s->namespace_, 1);
    ret = ret ? ret : ka_buf_add_json_member(out, "name", s->name, 1);
    ret = ret ? ret : ka_buf_add_json_member(out, "endpoint", ka_endpoint_name(ep), 1);
    ret = ret ? ret : ka_buf_printf(out, ",\"allowed\":%s", s->allowed ? "true" : "false");
    if (ret == 0 && s->http_status != 200) {
        ret = ka_buf_printf(out, ",\"status\":%d", s->http_status);
    }
    if (ret == 0 && (s->http_status != 200 || s->reason[0] != '\0')) {
        ret = ka_buf_add_json_member(out, "reason", s->reason,
                                     1); /* also a denied malformed request's */
    }
    ret = ret ? ret : ka_buf_adds(out, ",\"findings\":[");
    for (size_t i = 0;
         ret == 0 && i < s->n_findings && i < sizeof(s->findings) / sizeof(s->findings[0]); i++) {
        const struct ka_finding *f = &s->findings[i];
        ret = ka_buf_adds(out, i > 0 ? ",{" : "{");
        ret = ret ? ret : ka_buf_add_json_member(out, "rule", f->rule, 0);
        ret = ret ? ret : ka_buf_add_json_member(out, "action", ka_action_name(f->action), 1);
        ret = ret ? ret : ka_buf_add_json_member(out, "message", f->message, 1);
        ret = ret ? ret : ka_buf_add_json_member(out, "container", f->container, 1);
        ret = ret ? ret : ka_buf_add_json_member(out, "path", f->path, 1);
        if (ret == 0 && f->preexisting) {
            ret = ka_buf_adds(out, ",\"preexisting\":true");
        }
        if (ret == 0 && f->stale != KA_STALE_NONE) {
            ret = ka_buf_add_json_member(out, "stale", ka_stale_name(f->stale), 1);
        }
        ret = ret ? ret : ka_buf_adds(out, "}");
    }
    ret = ret ? ret : ka_buf_adds(out, "]");
    if (ret == 0 && s->n_dropped_findings > 0) {
        ret = ka_buf_printf(out, ",\"droppedFindings\":%zu", s->n_dropped_findings);
    }
    if (ret == 0 && s->n_exemptions > 0) {
        ret = ka_buf_adds(out, ",\"exempted\":[");
        for (size_t i = 0; ret == 0 && i < s->n_exemptions && i < KA_MAX_EXEMPTIONS_LISTED; i++) {
            const struct ka_exemption *e = &s->exemptions[i];
            ret = ka_buf_adds(out, i > 0 ? ",{" : "{");
            ret = ret ? ret : ka_buf_add_json_member(out, "rule", e->rule, 0);
            ret = ret ? ret : ka_buf_add_json_member(out, "exception", e->exception, 1);
            ret = ret ? ret : ka_buf_add_json_member(out, "reason", e->reason, 1);
            ret = ret ? ret : ka_buf_adds(out, "}");
        }
        ret = ret ? ret : ka_buf_adds(out, "]");
    }
    if (ret == 0 && s->n_mutations > 0) {
        ret = ka_buf_adds(out, ",\"mutations\":[");
        for (size_t i = 0;
             ret == 0 && i < s->n_mutations && i < sizeof(s->mutations) / sizeof(s->mutations[0]);
             i++) {
            const struct ka_mutation *m = &s->mutations[i];
            ret = ka_buf_adds(out, i > 0 ? ",{" : "{");
            ret = ret ? ret : ka_buf_add_json_member(out, "rule", m->rule, 0);
            ret = ret ? ret : ka_buf_add_json_member(out, "op", m->op, 1);
            ret = ret ? ret : ka_buf_add_json_member(out, "path", m->path, 1);
            ret = ret ? ret : ka_buf_adds(out, "}");
        }
        ret = ret ? ret : ka_buf_adds(out, "]");
    }
    ret = ret ? ret : ka_buf_adds(out, "}\n");
    return ret;
}

/* ------------------------------------------------------------------------------------ file */

/* Open (create) `path` for appending. *torn_out: the file ends inside a line, torn by a crash
 * (kill -9 mid-write), so the next line must start with "\n" or it would be glued to it. */
static int open_file(const char *path, int *fd_out, uint64_t *size_out, int *torn_out, char *err,
                     size_t err_len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0) {
        if (err != NULL) {
            snprintf(err, err_len, "cannot open decision log %s: %s", path, strerror(errno));
        }
        return KA_EIO;
    }
    struct stat st;
    *size_out = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    char last = '\n';
    *torn_out = *size_out > 0 && pread(fd, &last, 1, (off_t)(*size_out - 1)) == 1 && last != '\n';
    *fd_out = fd;
    return 0;
}

/* A private descriptor of standard output (a new open file description for a pipe or file) so
 * O_NONBLOCK does not leak to the rest of the process; dup() when /proc is not there. */
static int open_stdout(char *err, size_t err_len)
{
    int fd = open("/proc/self/fd/1", O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    }
    if (fd < 0) {
        if (err != NULL) {
            snprintf(err, err_len, "cannot use standard output for the decision log: %s",
                     strerror(errno));
        }
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) {
        (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
    return fd;
}

int ka_decision_log_open(struct ka_decision_log **out, const char *path, uint64_t max_bytes,
                         unsigned keep, int all, char *err, size_t err_len)
{
    int ret = KA_EINTERNAL;
    struct ka_decision_log *dl = NULL;
    *out = NULL;
    if (path == NULL || path[0] == '\0' || keep > KA_DECISION_LOG_KEEP_MAX) {
        if (err != NULL) {
            snprintf(err, err_len, "decision log: %s",
                     keep > KA_DECISION_LOG_KEEP_MAX ? "keep must be 0..100" : "empty path");
        }
        return KA_EINVAL;
    }
    dl = calloc(1, sizeof(*dl));
    if (dl == NULL) {
        return KA_ENOMEM;
    }
    dl->fd = -1;
    dl->max_bytes = max_bytes;
    dl->keep = keep;
    dl->all = all;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* Writers (our readers) never starve a rotation. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int lr = pthread_rwlock_init(&dl->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (lr != 0) {
        free(dl);
        return KA_ENOMEM;
    }
    if (strcmp(path, "-") == 0) {
        dl->fd = open_stdout(err, err_len);
        dl->max_bytes = 0;
        ret = dl->fd < 0 ? KA_EIO : 0;
    } else {
        dl->path = strdup(path);
        if (dl->path == NULL) {
            ret = KA_ENOMEM;
            goto exit;
        }
        uint64_t size = 0;
        int torn = 0;
        ret = open_file(path, &dl->fd, &size, &torn, err, err_len);
        atomic_store(&dl->size, size);
        atomic_store(&dl->torn, torn);
    }
exit:
    if (ret != 0) {
        ka_decision_log_close(dl);
        return ret;
    }
    *out = dl;
    return 0;
}

void ka_decision_log_close(struct ka_decision_log *dl)
{
    if (dl == NULL) {
        return;
    }
    if (dl->fd >= 0) {
        close(dl->fd);
    }
    pthread_rwlock_destroy(&dl->lock);
    free(dl->path);
    free(dl);
}

/* Under the write lock: PATH.keep-1 -> PATH.keep ... PATH -> PATH.1, then a new PATH. */
static int rotate_locked(struct ka_decision_log *dl)
{
    size_t n = strlen(dl->path) + 16;
    char *from = malloc(n), *to = malloc(n);
    int ret = KA_ENOMEM;
    if (from == NULL || to == NULL) {
        goto exit;
    }
    if (dl->keep == 0) {
        int fd =
            open(dl->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
        ret = fd < 0 ? KA_EIO : 0;
        if (fd >= 0) {
            close(dl->fd);
            dl->fd = fd;
            atomic_store(&dl->size, 0);
        }
        goto exit;
    }
    int renamed = 0;
    for (unsigned i = dl->keep; i >= 1; i--) {
        if (i == 1) {
            snprintf(from, n, "%s", dl->path);
        } else {
            snprintf(from, n, "%s.%u", dl->path, i - 1);
        }
        snprintf(to, n, "%s.%u", dl->path, i);
        if (rename(from, to) != 0 && errno != ENOENT) {
            renamed = -1;
        }
    }
    int fd = -1, torn = 0;
    uint64_t size = 0;
    if (open_file(dl->path, &fd, &size, &torn, NULL, 0) != 0) {
        /* Keep appending to the renamed file rather than lose lines. */
        ret = KA_EIO;
        goto exit;
    }
    close(dl->fd);
    dl->fd = fd;
    atomic_store(&dl->size, size);
    atomic_store(&dl->torn, torn);
    ret = renamed == 0 ? 0 : KA_EIO;
exit:
    free(from);
    free(to);
    return ret;
}

int ka_decision_log_reopen(struct ka_decision_log *dl)
{
    if (dl == NULL || dl->path == NULL) {
        return 0;
    }
    pthread_rwlock_wrlock(&dl->lock);
    int fd = -1, torn = 0;
    uint64_t size = 0;
    int ret = open_file(dl->path, &fd, &size, &torn, NULL, 0);
    if (ret == 0) {
        close(dl->fd);
        dl->fd = fd;
        atomic_store(&dl->size, size);
        atomic_store(&dl->torn, torn);
    }
    pthread_rwlock_unlock(&dl->lock);
    return ret;
}

/* Standard output: a non-blocking pipe may take part of a long line. Finish it within a short
 * budget, then give up with a "\n" so the reader sees one torn line, not two glued ones. */
static int write_stdout_rest(int fd, const char *p, size_t n)
{
    int waited_ms = 0;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0 && errno == EAGAIN && waited_ms < 50) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            (void)poll(&pfd, 1, 10);
            waited_ms += 10;
            continue;
        }
        return -1;
    }
    return 0;
}

int ka_decision_log_write(struct ka_decision_log *dl, const struct ka_review_summary *s,
                          enum ka_endpoint ep)
{
    int ret = KA_EINTERNAL;
    if (dl == NULL || s == NULL) {
        return 0;
    }
    if (!ka_decision_log_wants(s, dl->all)) {
        return 0;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    struct ka_buf line;
    ka_buf_init(&line, KA_DECISION_LOG_MAX_LINE);
    ret = ka_buf_add(&line, "\n", 1); /* sent only after a torn line */
    ret = ret ? ret : ka_decision_log_format(s, ep, ms, &line);
    if (ret != 0) {
        goto exit;
    }
    /* Appends to a file are atomic; a pipe only up to PIPE_BUF, so stdout writers take turns. */
    if (dl->path == NULL) {
        pthread_rwlock_wrlock(&dl->lock);
    } else {
        pthread_rwlock_rdlock(&dl->lock);
    }
    int torn = atomic_exchange(&dl->torn, 0);
    const char *p = torn ? line.data : line.data + 1;
    size_t n = torn ? line.len : line.len - 1;
    ssize_t w;
    do {
        w = write(dl->fd, p, n);
    } while (w < 0 && errno == EINTR);
    if (w >= 0 && (size_t)w < n && dl->path == NULL) {
        w = write_stdout_rest(dl->fd, p + w, n - (size_t)w) == 0 ? (ssize_t)n : -2;
        if (w == -2) {
            (void)write(dl->fd, "\n", 1);
        }
    }
    if (w > 0 && (size_t)w < n) {
        atomic_store(&dl->torn, 1); /* the next line starts with "\n" */
    } else if (w < 0 && torn) {
        atomic_store(&dl->torn, 1); /* the torn line is still unterminated */
    }
    uint64_t size = w > 0 ? atomic_fetch_add(&dl->size, (uint64_t)w) + (uint64_t)w : 0;
    pthread_rwlock_unlock(&dl->lock);
    if (w < 0 || (size_t)w < n) {
        ret = KA_EIO;
        goto exit;
    }
    atomic_fetch_add(&dl->written, 1);
    ret = 1;
    if (dl->max_bytes > 0 && size >= dl->max_bytes) {
        pthread_rwlock_wrlock(&dl->lock);
        if (atomic_load(&dl->size) >= dl->max_bytes && /* not rotated by another thread */
            rotate_locked(dl) != 0) {
            /* Cannot rename or reopen (permissions, disk): keep appending and try again after
             * another max_bytes rather than on every line. */
            atomic_store(&dl->size, 0);
        }
        pthread_rwlock_unlock(&dl->lock);
    }
exit:
    if (ret < 0) {
        atomic_fetch_add(&dl->dropped, 1);
    }
    ka_buf_free(&line);
    return ret;
}

uint64_t ka_decision_log_dropped(const struct ka_decision_log *dl)
{
    return dl != NULL ? atomic_load(&((struct ka_decision_log *)dl)->dropped) : 0;
}

uint64_t ka_decision_log_written(const struct ka_decision_log *dl)
{
    return dl != NULL ? atomic_load(&((struct ka_decision_log *)dl)->written) : 0;
}

int ka_decision_log_render_metrics(const struct ka_decision_log *dl, struct ka_buf *out)
{
    if (dl == NULL) {
        return 0;
    }
    return ka_buf_printf(out,
                         "# HELP kadmit_decision_log_dropped_total Decision-log lines dropped "
                         "because writing failed (disk full, I/O error, stalled stdout).\n"
                         "# TYPE kadmit_decision_log_dropped_total counter\n"
                         "kadmit_decision_log_dropped_total %" PRIu64 "\n"
                         "# HELP kadmit_decision_log_lines_total Decision-log lines written.\n"
                         "# TYPE kadmit_decision_log_lines_total counter\n"
                         "kadmit_decision_log_lines_total %" PRIu64 "\n",
                         ka_decision_log_dropped(dl), ka_decision_log_written(dl));
}
