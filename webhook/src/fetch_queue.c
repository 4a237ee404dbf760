/*
 * The registry fetch queue: admission misses in, due digests out to the fetcher, the
 * registry's answers back into denials. See kadmit/fetch_queue.h.
 *
 * A flat table of at most KA_FETCH_TRACKED_MAX entries, searched linearly under the mutex: a
 * lookup happens only when an image is denied, and the fetcher takes one digest per registry
 * round trip, so a few thousand comparisons are never the cost.
 */
#include "kadmit/fetch_queue.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kadmit/attest.h"
#include "kadmit/error.h"

enum entry_state { ENTRY_IDLE = 0, ENTRY_QUEUED, ENTRY_RUNNING };

struct entry {
    char hex[65];                   /* the digest: the deduplication key */
    char image[KA_FETCH_IMAGE_MAX]; /* the first reference missed: where to fetch from */
    enum entry_state state;
    int tried;                        /* a fetch finished at least once */
    int last_result;                  /* 0, or the last fetch's error */
    unsigned failures;                /* failed fetches in a row */
    int64_t last_try;                 /* when the last fetch finished */
    int64_t last_miss;                /* when admission last asked */
    char answer[KA_FETCH_ANSWER_MAX]; /* the registry's answer to the last fetch */
};

struct ka_fetch_queue {
    pthread_mutex_t mu;
    pthread_cond_t due; /* a digest was queued, or the queue stopped */
    int stopped;
    int64_t refresh_s;
    size_t n, queued, dropped;
    size_t written, none, failed; /* fetch results, for kadmit_registry_fetches_total */
    struct entry *entries;        /* [KA_FETCH_TRACKED_MAX], the first n used */
    ka_fetch_filter_fn filter;    /* NULL: queue every image */
    void *filter_ctx;
};

int ka_fetch_queue_new(int64_t refresh_s, struct ka_fetch_queue **out)
{
    *out = NULL;
    struct ka_fetch_queue *q = calloc(1, sizeof(*q));
    struct entry *e = calloc(KA_FETCH_TRACKED_MAX, sizeof(*e));
    pthread_condattr_t ca;
    if (q == NULL || e == NULL || pthread_condattr_init(&ca) != 0) {
        free(q);
        free(e);
        return KA_ENOMEM;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->due, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&q->mu, NULL);
    q->entries = e;
    q->refresh_s = refresh_s;
    *out = q;
    return 0;
}

void ka_fetch_queue_free(struct ka_fetch_queue *q)
{
    if (q == NULL) {
        return;
    }
    pthread_cond_destroy(&q->due);
    pthread_mutex_destroy(&q->mu);
    free(q->entries);
    free(q);
}

static struct entry *find(struct ka_fetch_queue *q, const char *hex)
{
    for (size_t i = 0; i < q->n; i++) {
        if (memcmp(q->entries[i].hex, hex, 64) == 0) {
            return &q->entries[i];
        }
    }
    return NULL;
}

/* Seconds to wait after the last fetch before a miss may queue the digest again. */
static int64_t retry_after(const struct entry *e)
{
    if (e->last_result == 0) {
        return KA_FETCH_BACKOFF_MIN_S; /* fetched, still denied: a new scan may come */
    }
    int64_t s = KA_FETCH_BACKOFF_MIN_S;
    for (unsigned i = 1; i < e->failures && s < KA_FETCH_BACKOFF_MAX_S; i++) {
        s *= 2;
    }
    return s < KA_FETCH_BACKOFF_MAX_S ? s : KA_FETCH_BACKOFF_MAX_S;
}

/* A free slot: a new one, else the least recently missed idle entry's. NULL when all are
 * queued or under way. */
static struct entry *slot(struct ka_fetch_queue *q)
{
    if (q->n < KA_FETCH_TRACKED_MAX) {
        return &q->entries[q->n++];
    }
    struct entry *oldest = NULL;
    for (size_t i = 0; i < q->n; i++) {
        struct entry *e = &q->entries[i];
        if (e->state == ENTRY_IDLE && (oldest == NULL || e->last_miss < oldest->last_miss)) {
            oldest = e;
        }
    }
    return oldest;
}

static void enqueue(struct ka_fetch_queue *q, struct entry *e)
{
    e->state = ENTRY_QUEUED;
    q->queued++;
    pthread_cond_signal(&q->due);
}

/* "registry tried 12s ago (<answer>)" */
void ka_fetch_queue_set_filter(struct ka_fetch_queue *q, ka_fetch_filter_fn fn, void *ctx)
{
    q->filter = fn;
    q->filter_ctx = ctx;
}

static int add_tried(struct ka_buf *why, const struct entry *e, int64_t now)
{
    int ret = ka_buf_adds(why, "registry tried ");
    ret = ret ? ret : ka_attest_format_duration(why, now > e->last_try ? now - e->last_try : 0);
    return ret ? ret : ka_buf_printf(why, " ago (%s)", e->answer);
}

int ka_fetch_queue_miss(struct ka_fetch_queue *q, const char *image, int64_t now,
                        struct ka_buf *why)
{
    const char *hex = NULL;
    if (q == NULL || ka_image_digest(image, &hex) != KA_DIGEST_SHA256 ||
        strlen(image) >= KA_FETCH_IMAGE_MAX) {
        return 0;
    }
    struct ka_buf said;
    ka_buf_init(&said, 2 * KA_FETCH_ANSWER_MAX);
    int ret = 0;
    int allowed = q->filter != NULL ? q->filter(q->filter_ctx, image, &said) : 1;
    if (allowed <= 0) {
        ret = allowed;
        goto out; /* refused: never queued, never tracked */
    }
    pthread_mutex_lock(&q->mu);
    struct entry *e = find(q, hex);
    if (e == NULL) {
        e = q->queued < KA_FETCH_QUEUE_MAX ? slot(q) : NULL;
        if (e == NULL) {
            q->dropped++;
            ret = ka_buf_printf(&said, "the registry fetch queue is full (%d digests); not queued",
                                KA_FETCH_QUEUE_MAX);
            goto unlock;
        }
        memset(e, 0, sizeof(*e));
        memcpy(e->hex, hex, 64);
        memcpy(e->image, image, strlen(image) + 1);
        enqueue(q, e);
    }
    e->last_miss = now;
    if (e->state == ENTRY_IDLE) {
        int64_t wait = e->last_try + retry_after(e) - now;
        if (wait <= 0 && q->queued < KA_FETCH_QUEUE_MAX) {
            enqueue(q, e);
        }
        ret = add_tried(&said, e, now);
        if (ret == 0 && e->state == ENTRY_QUEUED) {
            ret = ka_buf_adds(&said, "; queued again");
        } else if (ret == 0 && wait > 0) {
            ret = ka_buf_adds(&said, "; next try in ");
            ret = ret ? ret : ka_attest_format_duration(&said, wait);
        } else if (ret == 0) {
            q->dropped++;
            ret = ka_buf_adds(&said, "; the fetch queue is full, not queued");
        }
        goto unlock;
    }
    ret = ka_buf_adds(&said, e->state == ENTRY_RUNNING ? "a registry fetch is under way"
                                                       : "a registry fetch is queued");
    if (ret == 0 && e->tried) {
        ret = ka_buf_adds(&said, "; last ");
        ret = ret ? ret : add_tried(&said, e, now);
    }
unlock:
    pthread_mutex_unlock(&q->mu);
out:
    if (ret == 0 && why != NULL && said.len > 0) {
        ret = ka_buf_printf(why, "%s%.*s", why->len > 0 ? "; " : "", (int)said.len, said.data);
    }
    ka_buf_free(&said);
    return ret == KA_ENOMEM ? ret : 0; /* a clause cut at the buffer's limit only loses words */
}

/* The due entry the fetcher should take: a queued one (longest waiting first), else a fetched
 * one whose refresh is due. */
static struct entry *pick(struct ka_fetch_queue *q, int64_t now)
{
    struct entry *best = NULL;
    for (size_t i = 0; i < q->n; i++) {
        struct entry *e = &q->entries[i];
        if (e->state == ENTRY_QUEUED && (best == NULL || e->last_miss < best->last_miss)) {
            best = e;
        }
    }
    for (size_t i = 0; best == NULL && i < q->n; i++) {
        struct entry *e = &q->entries[i];
        if (e->state == ENTRY_IDLE && e->tried && e->last_result == 0 && q->refresh_s > 0 &&
            now - e->last_try >= q->refresh_s) {
            best = e;
        }
    }
    return best;
}

int ka_fetch_queue_next(struct ka_fetch_queue *q, char *image, size_t image_len, int wait_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int ret = KA_ENOTFOUND;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->stopped) {
            ret = KA_EINVAL;
            break;
        }
        struct entry *e = pick(q, (int64_t)time(NULL));
        if (e != NULL && strlen(e->image) < image_len) {
            q->queued -= e->state == ENTRY_QUEUED;
            e->state = ENTRY_RUNNING;
            memcpy(image, e->image, strlen(e->image) + 1);
            ret = 0;
            break;
        }
        if (pthread_cond_timedwait(&q->due, &q->mu, &deadline) != 0) {
            break; /* timed out */
        }
    }
    pthread_mutex_unlock(&q->mu);
    return ret;
}

void ka_fetch_queue_done(struct ka_fetch_queue *q, const char *image, int result,
                         const char *answer, int64_t now)
{
    const char *hex = NULL;
    if (q == NULL || ka_image_digest(image, &hex) != KA_DIGEST_SHA256) {
        return;
    }
    pthread_mutex_lock(&q->mu);
    q->written += result == 0;
    q->none += result == KA_ENOTFOUND;
    q->failed += result != 0 && result != KA_ENOTFOUND;
    struct entry *e = find(q, hex);
    if (e != NULL) {
        q->queued -= e->state == ENTRY_QUEUED;
        e->state = ENTRY_IDLE;
        e->tried = 1;
        e->last_try = now;
        e->last_result = result;
        e->failures = result == 0 ? 0 : e->failures + 1;
        snprintf(e->answer, sizeof(e->answer), "%s", answer != NULL ? answer : "");
    }
    pthread_mutex_unlock(&q->mu);
}

void ka_fetch_queue_stop(struct ka_fetch_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->stopped = 1;
    pthread_cond_broadcast(&q->due);
    pthread_mutex_unlock(&q->mu);
}

void ka_fetch_queue_stats(struct ka_fetch_queue *q, struct ka_fetch_queue_stats *out)
{
    pthread_mutex_lock(&q->mu);
    out->tracked = q->n;
    out->queued = q->queued;
    out->dropped = q->dropped;
    out->written = q->written;
    out->none = q->none;
    out->failed = q->failed;
    pthread_mutex_unlock(&q->mu);
}
