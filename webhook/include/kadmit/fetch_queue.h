/*
 * The registry fetch queue: what admission hands the background fetcher, and what the fetcher
 * tells admission back.
 *
 * Admission never waits on the network. When image-scan-attestation denies a digest-pinned
 * image, the rule calls ka_fetch_queue_miss(): the digest is queued for the fetcher (once:
 * digests are deduplicated) and the denial says where its fetch stands: queued, under way, or
 * when it was last tried and what the registry answered. The fetcher (kadmit serve
 * --attestation-source registry, in the CLI layer, the only one with libcurl) takes due digests
 * with ka_fetch_queue_next(), writes what it finds into the attestation directory, which the
 * loader already watches, and reports with ka_fetch_queue_done(). Verification stays in the
 * loader; this queue carries no attestation, only names and answers.
 *
 * Bounded (kadmit/limits.h): at most KA_FETCH_QUEUE_MAX digests wait, KA_FETCH_TRACKED_MAX are
 * remembered (the least recently missed idle one is forgotten first). After a failed fetch a
 * digest is not tried again before its backoff (KA_FETCH_BACKOFF_MIN_S doubling up to
 * KA_FETCH_BACKOFF_MAX_S) has passed, however often it is missed; after a successful one the
 * fetcher re-polls it every `refresh_s` for fresh scans.
 *
 * Thread-safe: one mutex; admission threads call _miss, one fetcher thread _next and _done.
 * No I/O. Ownership: the queue is the caller's (_new/_free); strings are copied.
 */
#ifndef KADMIT_FETCH_QUEUE_H
#define KADMIT_FETCH_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "kadmit/buf.h"
#include "kadmit/limits.h"

struct ka_fetch_queue; /* opaque */

/**
 * Allocate a queue. `refresh_s`: re-poll a fetched digest this often (0: never). Returns 0 or
 * KA_ENOMEM.
 */
__attribute__((warn_unused_result)) int ka_fetch_queue_new(int64_t refresh_s,
                                                           struct ka_fetch_queue **out);
/** Free the queue (NULL is fine). No thread may use it any more. */
void ka_fetch_queue_free(struct ka_fetch_queue *q);

/**
 * Which images may be queued: returns 1 to queue `image`, 0 after appending to `why` (may be
 * NULL) one clause saying why not (e.g. its registry may not be contacted), or KA_ENOMEM
 * (refused too). Called without the
 * queue's lock, from admission threads: it must be thread-safe and do no I/O.
 */
typedef int (*ka_fetch_filter_fn)(void *ctx, const char *image, struct ka_buf *why);

/** Set the filter (NULL: every digest-pinned image is queued). Before the fetcher starts. */
void ka_fetch_queue_set_filter(struct ka_fetch_queue *q, ka_fetch_filter_fn fn, void *ctx);

/**
 * Admission found no passing attestation for `image` ("[registry/]repo[:tag]@sha256:<hex>";
 * anything else is ignored) at `now` (Unix seconds). Queues its digest unless it is queued,
 * being fetched, or backing off, and appends to `why` (may be NULL) one clause saying where
 * the fetch stands, e.g.
 *   "a registry fetch is queued"
 *   "a registry fetch is under way"
 *   "registry tried 12s ago (.att tag: 404, referrers: 404, fallback tag: 404); queued again"
 *   "registry tried 12s ago (...: Couldn't connect to server); next try in 20s"
 *   "the registry fetch queue is full (256 digests); not queued"
 * or the filter's clause when it refuses the image (nothing is queued then).
 * Returns 0 or KA_ENOMEM (appending to `why`); a full queue is not an error.
 */
__attribute__((warn_unused_result)) int
ka_fetch_queue_miss(struct ka_fetch_queue *q, const char *image, int64_t now, struct ka_buf *why);

/**
 * The fetcher: wait up to `wait_ms` for a digest that is due (queued by a miss, or a fetched
 * one due for its refresh), mark it under way and copy its image reference into `image`.
 * Returns 0, KA_ENOTFOUND when none became due in time, KA_EINVAL after ka_fetch_queue_stop().
 */
__attribute__((warn_unused_result)) int ka_fetch_queue_next(struct ka_fetch_queue *q, char *image,
                                                            size_t image_len, int wait_ms);

/**
 * The fetcher finished `image` at `now`: `result` 0 when attestations were written, else the
 * error (KA_ENOTFOUND: the registry holds none; KA_ENET: it could not be read). `answer` is the
 * registry's answer in one line (cut at KA_FETCH_ANSWER_MAX).
 */
void ka_fetch_queue_done(struct ka_fetch_queue *q, const char *image, int result,
                         const char *answer, int64_t now);

/** Wake and stop the fetcher: every ka_fetch_queue_next() returns KA_EINVAL from now on. */
void ka_fetch_queue_stop(struct ka_fetch_queue *q);

struct ka_fetch_queue_stats {
    size_t tracked; /* digests remembered */
    size_t queued;  /* waiting for the fetcher */
    size_t dropped; /* misses not queued because the queue was full */
    size_t written; /* fetches that wrote attestations */
    size_t none;    /* fetches that found none (KA_ENOTFOUND) */
    size_t failed;  /* fetches that could not read the registry (any other error) */
};
void ka_fetch_queue_stats(struct ka_fetch_queue *q, struct ka_fetch_queue_stats *out);

#endif
