/*
 * Manifest streams, read as kubectl reads them, one object at a time.
 *
 * The first byte that is not white space decides the format (after a UTF-8 byte-order mark):
 * - `{` or `[`: JSON. One value, or a stream of values written back to back or one per line
 *   (`jq -c`). A top-level array, and the `items` array of an object (a `kind: List` as
 *   `kubectl get -o json` prints it), are read item by item: each item is parsed and yielded on
 *   its own, so a List of any size needs memory for one item only. Bytes after a value that
 *   do not start another object or array are an error with their byte offset; reading stops
 *   there.
 * - anything else: YAML. The stream is split on `---` lines as kubectl's YAML reader splits
 *   it (a line starting with `---` followed by nothing, spaces or a comment), and each document
 *   is parsed on its own (yaml.h: anchors, aliases and merge keys, a bound on alias expansion),
 *   so a broken document is reported with file:line:column and the documents after it are
 *   still read. A document whose top-level `items:` key (at column 0) opens a block sequence
 *   (`kubectl get -o yaml`) is read item by item like a JSON List: each item is parsed and
 *   yielded on its own ("name:line#items[i]"), then the rest of the document, which must be a
 *   List (else an error after its items).
 *
 * Each document, List item or JSON value is bounded by `max_object` bytes (default
 * KA_MAX_MANIFEST_OBJECT). A larger one is an error for that document; the others are still
 * read. The input itself is unbounded.
 *
 * Ownership: the reader borrows `name` and the FILE or bytes until ka_manifest_reader_free().
 * A yielded doc's object belongs to the caller (cJSON_Delete).
 */
#ifndef KADMIT_MANIFEST_H
#define KADMIT_MANIFEST_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

struct ka_manifest_reader;

struct ka_manifest_opts {
    size_t max_object;  /* bytes per document/item; 0: KA_MAX_MANIFEST_OBJECT */
    unsigned max_depth; /* 0: KA_MAX_DEPTH_DEFAULT */
    size_t window;      /* bytes read from a FILE at a time; 0: 1 MiB (tests use tiny ones) */
};

struct ka_manifest_doc {
    cJSON *object;    /* caller frees; NULL when `error` is set */
    char source[600]; /* "name:line", or "name:line#items[i]" for an item */
    char error[512];  /* "" or why this document could not be read */
    size_t offset;    /* byte offset of the document in the input */
};

/** Read from `f` (not closed; read through its descriptor, so what a pipe has is read at once
 * and nothing may have been read from `f` with stdio before). `name` names the input in sources
 * ("(stdin)", a path). */
__attribute__((warn_unused_result)) int ka_manifest_reader_new(struct ka_manifest_reader **r,
                                                               const char *name, FILE *f,
                                                               const struct ka_manifest_opts *opts);
/** Read from memory (borrowed). */
__attribute__((warn_unused_result)) int
ka_manifest_reader_new_bytes(struct ka_manifest_reader **r, const char *name, const char *data,
                             size_t len, const struct ka_manifest_opts *opts);
/**
 * The next document: 1 and *doc filled (an object, or an error for this document), 0 at the
 * end of the input, or KA_ENOMEM / KA_EIO (reading failed; nothing more can be read).
 */
__attribute__((warn_unused_result)) int ka_manifest_next(struct ka_manifest_reader *r,
                                                         struct ka_manifest_doc *doc);
/** Bytes consumed so far (for progress). */
size_t ka_manifest_bytes_read(const struct ka_manifest_reader *r);
void ka_manifest_reader_free(struct ka_manifest_reader *r);

#endif
