/*
 * Every input limit kadmit enforces, with its default and allowed range.
 *
 * A limit is checked while reading, and exceeding it is an error the client can read, never a
 * silent truncation. The server exposes each as a flag (see `kadmit serve --help`).
 */
#ifndef KADMIT_LIMITS_H
#define KADMIT_LIMITS_H

/* Request body: the API server's own cap on an object is 3 MiB. */
#define KA_MAX_BODY_DEFAULT (3u * 1024u * 1024u)
#define KA_MAX_BODY_MIN (64u * 1024u)
#define KA_MAX_BODY_MAX (64u * 1024u * 1024u)

/* JSON / YAML nesting depth (a pod spec is ~12 deep). */
#define KA_MAX_DEPTH_DEFAULT 64
#define KA_MAX_DEPTH_MIN 16
#define KA_MAX_DEPTH_MAX 512

/* JSON values (tree nodes) in one request, bounding the parsed tree's memory (~64 bytes a
 * node): a 3 MiB body of "[0,0,0,..." would otherwise become ~100 MB of nodes. A large pod is
 * a few thousand values. */
#define KA_MAX_JSON_VALUES_DEFAULT (256u * 1024u)
#define KA_MAX_JSON_VALUES_MIN 1024u
#define KA_MAX_JSON_VALUES_MAX (16u * 1024u * 1024u)

/* JSON patch operations in one response. */
#define KA_MAX_PATCH_OPS 256

/* Findings listed for one review (more are counted and summarised as "and N more"; the verdict
 * is over all of them: an enforced finding displaces a listed warning), and the mutations
 * listed for reports (the patch itself is bounded by KA_MAX_PATCH_OPS). */
#define KA_MAX_FINDINGS 64
/* Findings of the old object remembered for UPDATE ratcheting; past it, findings of the new
 * object are judged fresh (fail closed). */
#define KA_MAX_RATCHET_FINDINGS 16384
#define KA_MAX_MUTATIONS_LISTED 32
/* Exemptions (rule, exception) listed for one review; one per rule and exception. */
#define KA_MAX_EXEMPTIONS_LISTED 16

/* Warnings in one response; each warning is at most this long (the API server truncates). */
#define KA_MAX_WARNINGS 32
#define KA_MAX_WARNING_LEN 120

/* One message (violation text). */
#define KA_MAX_MESSAGE_LEN 512

/* Rules in one policy snapshot, and policy file size. */
#define KA_MAX_RULES 64
#define KA_MAX_POLICY_FILE (1024u * 1024u)
#define KA_MAX_POLICY_FILES 64

/* Manifest input for `kadmit audit`: per file. */
#define KA_MAX_MANIFEST_FILE (64u * 1024u * 1024u)

/* Server: connections, header size and timeouts (seconds). */
#define KA_MAX_CONNECTIONS_DEFAULT 1024
#define KA_MAX_HEADER_DEFAULT (16u * 1024u)
#define KA_HANDSHAKE_TIMEOUT_DEFAULT 10
#define KA_IDLE_TIMEOUT_DEFAULT 120
#define KA_REQUEST_DEADLINE_DEFAULT 9
#define KA_DRAIN_TIMEOUT_DEFAULT 25

#endif
