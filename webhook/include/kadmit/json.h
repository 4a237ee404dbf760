/*
 * cJSON on the hot path: a per-thread bump arena.
 *
 * A review parses a few hundred to a few thousand cJSON nodes and frees them all at the end.
 * With glibc malloc that is ~1,400 small chunks per 8 KB request and, inside a server, a
 * malloc_consolidate pass whenever a larger buffer is allocated. Instead, while an arena is
 * active on a thread, every cJSON allocation on that thread is carved from a few large chunks,
 * frees are no-ops, and ka_json_arena_end() releases everything at once.
 *
 * cJSON's hooks are process-wide; they are installed once, before main(), and pass straight to
 * malloc/free on threads with no active arena (policy loading, audits, reloads).
 *
 * Rule: nothing allocated by cJSON while an arena is active may outlive ka_json_arena_end().
 * Free such memory with cJSON_free()/cJSON_Delete() (cheap no-ops) or simply drop it.
 */
#ifndef KADMIT_JSON_H
#define KADMIT_JSON_H

#include <stddef.h>

struct cJSON;

/**
 * Turn the arena on or off process-wide (default on). Off, reviews allocate every cJSON node
 * with malloc: used by the allocation-failure test, which fails each node allocation in turn,
 * and by benchmarks that compare the two.
 */
void ka_json_arena_set_enabled(int on);

/** Start an arena on this thread. Returns -1 when one is active (no nesting) or the arena is
 * disabled; the caller then frees its trees itself. */
int ka_json_arena_begin(void);
/** Release everything allocated in this thread's arena and deactivate it. */
void ka_json_arena_end(void);
/** True while this thread has an active arena. */
int ka_json_arena_active(void);
/** Bytes handed out by this thread's active arena (for benchmarks). */
size_t ka_json_arena_used(void);

/**
 * Parse an untrusted request body (all of text[0..len), whitespace around it allowed) into a
 * cJSON tree, in one pass, into this thread's arena when one is active. Refuses, with what is
 * wrong in msg: malformed JSON, data after the document, nesting deeper than `max_depth`, more
 * than `max_values` values (one per '[', '{', ',' and ':', plus the first), invalid UTF-8, a raw
 * control character or NUL, \u0000, a \u escape that is not four hex digits. Otherwise the tree
 * is the one cJSON_ParseWithLengthOpts() builds. Returns the tree (cJSON_Delete() frees it; in
 * an arena that is a no-op) or NULL. msg must hold at least 64 bytes.
 */
struct cJSON *ka_json_parse_request(const char *text, size_t len, unsigned max_depth,
                                    size_t max_values, char *msg, size_t msg_len);

/* ---- bounded parsing ------------------------------------------------------------------- */

/**
 * Bounded parsing for JSON from outside (attestations, decision logs, registry responses; the
 * admission request path has ka_json_parse_request() above): parse one document occupying all
 * of s[0..len) (whitespace around it allowed). Input over `max_bytes`, or nested deeper than
 * `max_depth` (checked before any tree is built), is refused. Returns the tree (caller frees it
 * with cJSON_Delete) or NULL with what went wrong and where ("malformed JSON at line 3 column 7")
 * in msg (may be NULL).
 */
struct cJSON *ka_json_parse_bounded(const char *s, size_t len, size_t max_bytes, int max_depth,
                                    char *msg, size_t msg_len);

/** True when the JSON array `list` (NULL allowed) holds the string `s`. */
int ka_list_has(const struct cJSON *list, const char *s);

#endif
