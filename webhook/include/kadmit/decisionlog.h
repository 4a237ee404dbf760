/*
 * The decision log: one JSON object per line for every admission with a finding (or every
 * admission with `all`), for `kadmit audit --decision-log` and for log shippers.
 *
 * A line is
 *   {"time":"2026-11-28T12:00:00.123Z","uid":"...","user":"...","operation":"CREATE",
 *    "dryRun":false,"kind":"Deployment","namespace":"shop","name":"web","endpoint":"validate",
 *    "allowed":false,"findings":[{"rule":"...","action":"enforce","message":"...",
 *    "container":"web","path":"/spec/..."}]}
 * plus "mutations":[{"rule","op","path"}] when kadmit patched the object, "droppedFindings":N
 * when the summary overflowed, and "status"/"reason" when the request was not an
 * AdmissionReview. Never env values and never request bodies: only the summary's fields.
 *
 * Durability rules:
 * - Each line is built in memory and written with ONE write(2) on an O_APPEND descriptor, so
 *   concurrent writers never interleave and a crash never leaves half a line in the middle of
 *   the file. A short write (disk full mid-line) leaves a torn line; the next line then starts
 *   with "\n" so only the torn line is lost, and the reader skips it (ka_audit reports it).
 * - Never blocks or fails an admission: every write error (ENOSPC, EIO, EAGAIN on a full
 *   stdout pipe...) drops the line and counts it (ka_decision_log_dropped()). Never fsyncs.
 * - Rotation by size: when the file reaches max_bytes it is renamed to PATH.1 (PATH.1 to
 *   PATH.2 ... up to PATH.keep, the oldest is deleted) and a new PATH is opened. keep 0: the
 *   file is truncated instead. max_bytes 0: never rotated (use an external logrotate + SIGHUP).
 * - ka_decision_log_reopen() (call it on SIGHUP) closes and reopens PATH, for external
 *   rotation.
 * - "-" writes to standard output (no rotation): through a private non-blocking descriptor of
 *   the same pipe or file, so a stalled reader drops lines instead of blocking admissions.
 *
 * Thread safety: every function but open/close may be called from any thread at any time.
 * Writers share a read lock (writes are atomic appends, they do not serialise); rotation and
 * reopen take the write lock for a rename and an open.
 *
 * Ownership: ka_decision_log_open() returns a handle the caller frees with
 * ka_decision_log_close() (NULL safe).
 */
#ifndef KADMIT_DECISIONLOG_H
#define KADMIT_DECISIONLOG_H

#include <stddef.h>
#include <stdint.h>

#include "kadmit/admission.h"
#include "kadmit/buf.h"

/* Defaults of the server flags. */
#define KA_DECISION_LOG_MAX_BYTES_DEFAULT (100u * 1024u * 1024u)
#define KA_DECISION_LOG_KEEP_DEFAULT 5
#define KA_DECISION_LOG_KEEP_MAX 100
/* Longest line (64 findings of 512-byte messages fit with room to spare). */
#define KA_DECISION_LOG_MAX_LINE (256u * 1024u)

struct ka_decision_log; /* opaque */

/**
 * Open (create, mode 0640) `path` for appending, or standard output for "-".
 * `max_bytes`: rotate when the file reaches this size (0: never). `keep`: rotated files kept,
 * 0..KA_DECISION_LOG_KEEP_MAX. `all`: log every admission, not only those with a finding.
 * Returns 0, KA_EINVAL (bad argument), KA_EIO (cannot open: `err` says why) or KA_ENOMEM.
 */
__attribute__((warn_unused_result)) int ka_decision_log_open(struct ka_decision_log **out,
                                                             const char *path, uint64_t max_bytes,
                                                             unsigned keep, int all, char *err,
                                                             size_t err_len);

/**
 * Log one admission. Call after ka_admission_review() with its summary (whatever it returned).
 * Returns 1 when a line was written, 0 when the admission was not logged (no finding and not
 * `all`), or a negative code when the line was dropped (already counted). Callers on the
 * admission path ignore the result. `dl` NULL: returns 0.
 */
int ka_decision_log_write(struct ka_decision_log *dl, const struct ka_review_summary *s,
                          enum ka_endpoint ep);

/** Close and reopen the file (SIGHUP, after an external rotation). 0 or KA_EIO. "-": no-op. */
__attribute__((warn_unused_result)) int ka_decision_log_reopen(struct ka_decision_log *dl);

/** Lines dropped because of a write error since open (kadmit_decision_log_dropped_total). */
uint64_t ka_decision_log_dropped(const struct ka_decision_log *dl);
/** Lines written since open. */
uint64_t ka_decision_log_written(const struct ka_decision_log *dl);

/**
 * Append the decision log's counters in Prometheus text format (HELP, TYPE and value of
 * kadmit_decision_log_dropped_total and kadmit_decision_log_lines_total). `dl` NULL: nothing.
 */
__attribute__((warn_unused_result)) int
ka_decision_log_render_metrics(const struct ka_decision_log *dl, struct ka_buf *out);

/** Flush nothing (there is no buffer), close the file and free. NULL safe. */
void ka_decision_log_close(struct ka_decision_log *dl);

/**
 * Whether an admission is logged: it was answered (HTTP 200) and has a finding or was denied.
 * `all` logs everything, requests that were not AdmissionReviews (400) included.
 */
int ka_decision_log_wants(const struct ka_review_summary *s, int all);

/**
 * Format one line (with its trailing "\n") for `s` at `time_ms` (Unix milliseconds) into `out`.
 * Exposed for tests and tools; ka_decision_log_write() uses it. 0, KA_ELIMIT or KA_ENOMEM.
 */
__attribute__((warn_unused_result)) int ka_decision_log_format(const struct ka_review_summary *s,
                                                               enum ka_endpoint ep, int64_t time_ms,
                                                               struct ka_buf *out);

/** RFC 3339 UTC with milliseconds, "2026-11-28T12:00:00.123Z", into buf (>= 25 bytes). */
void ka_decision_log_time(int64_t time_ms, char *buf, size_t len);

#endif
