/*
 * YAML (and JSON, which YAML reads too) documents into cJSON trees, with source positions.
 *
 * Used for policy files and manifests, never on the admission hot path. Scalars are typed the
 * way Kubernetes reads YAML: plain true/false, null/~, integers and floats become JSON values;
 * quoted scalars stay strings. Anchors, aliases and `<<` merge keys work as go-yaml (and so
 * kubectl) reads them: an alias is a copy of its anchor's node, a merge key adds the keys of a
 * mapping (or of a list of mappings, earlier ones first) that the mapping does not set itself.
 * A document may hold at most KA_MAX_YAML_NODES nodes with every alias expanded, so an alias
 * bomb ("billion laughs") is an error after that many copies, not a memory blow-up.
 * Non-string keys, duplicate keys, aliases to unknown anchors and nesting deeper than the limit
 * are errors.
 *
 * Ownership: a ka_yaml_stream owns every document tree and the position table; trees are
 * borrowed by callers until ka_yaml_stream_free().
 */
#ifndef KADMIT_YAML_H
#define KADMIT_YAML_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "kadmit/buf.h"

struct ka_yaml_pos {
    const cJSON *node;
    unsigned line;   /* 1-based */
    unsigned column; /* 1-based */
    /* Byte offsets into the parsed text, for editing it in place (see fix.h). */
    size_t start;        /* first byte of the node ("{", "[", a key, a scalar or its quote) */
    size_t end;          /* just past the node (collections: as libyaml ends them) */
    size_t key_start;    /* a mapping value: first byte of its key; SIZE_MAX otherwise */
    unsigned key_column; /* a mapping value: its key's column (1-based) */
    unsigned char flow;  /* a collection written in flow style ({...}, [...]) */
    unsigned char block_scalar; /* a literal (|) or folded (>) scalar */
};

struct ka_yaml_stream {
    cJSON **docs;        /* one tree per document ("---"); empty documents skipped */
    unsigned *doc_lines; /* line where each document starts */
    size_t *doc_starts;  /* byte range of each document, "---" and trailing comments included */
    size_t *doc_ends;
    size_t n_docs;
    struct ka_yaml_pos *pos; /* position of every node, in creation order */
    size_t n_pos, cap_pos;
    int error_line; /* on parse failure: where (1-based), else 0 */
    int error_column;
    unsigned first_line; /* set before parsing: line number of data's first line (0 = 1) */
    int no_positions;    /* set before parsing: keep no position table (ka_yaml_position
                            finds nothing); saves a table entry per node for large inputs */
    int no_aliases;      /* set before parsing: refuse anchors, aliases and merge keys (for
                            callers that edit the text in place: a copy has no text of its own) */
};

void ka_yaml_stream_init(struct ka_yaml_stream *s);
void ka_yaml_stream_free(struct ka_yaml_stream *s);

/**
 * Parse every document of `data`. On error returns KA_EPARSE / KA_EDEPTH / KA_ELIMIT /
 * KA_ENOMEM and appends `name:line:column: message\n` to `diag` (may be NULL); documents
 * parsed before the error are kept in `s`.
 */
__attribute__((warn_unused_result)) int ka_yaml_parse(struct ka_yaml_stream *s, const char *name,
                                                      const char *data, size_t len,
                                                      unsigned max_depth, struct ka_buf *diag);

/**
 * A YAML directive (`%YAML 1.2`, `%TAG ...`): the first line of `data` that starts with `%`.
 * kubectl splits a stream at `---` lines and parses each part alone, so a directive becomes a
 * part of its own that it refuses ("found incompatible YAML document", "did not find expected
 * <document start>"). Returns its 1-based line and writes the message that says so to `msg`,
 * or 0 when there is none.
 */
unsigned ka_yaml_directive(const char *data, size_t len, char *msg, size_t msg_len);

/** Position of a node parsed into `s` (line 0 when unknown). */
void ka_yaml_position(const struct ka_yaml_stream *s, const cJSON *node, unsigned *line,
                      unsigned *column);

#endif
