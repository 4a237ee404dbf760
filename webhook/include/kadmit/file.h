/*
 * Files: atomic replacement, sorted directory listings, and change fingerprints, shared by the
 * certificate writer, `kadmit fix`, attestation sync, the policy and attestation loaders, the
 * audit walker and the reload watchers.
 *
 * Ownership: paths are borrowed; a ka_file_list owns its names (ka_file_list_free).
 */
#ifndef KADMIT_FILE_H
#define KADMIT_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/**
 * Write `len` bytes to `path` atomically: a hidden temporary file in the same directory
 * (".NAME.tmp.XXXXXX", which directory loaders skip), created with mode 0600 (then set to `mode`
 * before anything is written if `mode` differs), fsync, rename, fsync of the directory.
 * Returns 0, KA_EINVAL (path too long) or KA_EIO with errno set (the temporary file is removed).
 */
__attribute__((warn_unused_result)) int ka_file_write_atomic(const char *path, const void *data,
                                                             size_t len, mode_t mode);

struct ka_file_list {
    char **names; /* sorted bytewise (strcmp) */
    size_t n;
    int truncated; /* the directory held more than `max` names (see ka_file_list_dir) */
};

/** An empty list. Cannot fail. */
void ka_file_list_init(struct ka_file_list *l);
/** Free the names; the list is empty afterwards (safe twice). */
void ka_file_list_free(struct ka_file_list *l);

/**
 * The names in `dir`, sorted, without hidden names (a leading '.', which also skips
 * Kubernetes' "..data" ConfigMap symlink farm) and without those `keep` rejects (NULL keeps
 * all). At most `max` names are read, in directory order; when there are more, l->truncated is
 * set. Returns 0, KA_ENOTFOUND or KA_EIO (errno set; `l` empty), or KA_ENOMEM.
 */
__attribute__((warn_unused_result)) int ka_file_list_dir(const char *dir,
                                                         int (*keep)(const char *name), size_t max,
                                                         struct ka_file_list *l);

/**
 * Fold what identifies the current content of `path` (device, inode, size, modification and
 * change times; errno when it cannot be read) into `h`. A directory also folds in every entry
 * in it, hidden ones too, symlinks followed, in any order. NULL or "" folds a constant. Two
 * equal results mean nothing was replaced or modified in between (for reload polling).
 */
uint64_t ka_file_fingerprint(uint64_t h, const char *path);

#define KA_FILE_WALK_MAX_DEPTH 16 /* levels of directories ka_file_walk enters below its own */

/*
 * What ka_file_walk calls for each file it keeps (`problem` NULL) and for each directory it
 * cannot enter (`problem` says why: "cannot open directory", "directories nested too deeply").
 * Non-zero stops the walk.
 */
typedef int (*ka_file_visit_fn)(void *ctx, const char *path, const char *problem);

/**
 * Walk the directory `dir` depth first, names in sorted order and hidden ones skipped (as
 * ka_file_list_dir): subdirectories are entered, and each file whose name `keep` accepts (NULL:
 * every file) is visited as "DIR/NAME" (a trailing '/' of `dir` is not doubled). The manifest
 * walkers of `kadmit audit` and `kadmit fix`. Returns the first non-zero visit result,
 * KA_ENOMEM, or 0.
 */
__attribute__((warn_unused_result)) int ka_file_walk(const char *dir, int (*keep)(const char *name),
                                                     ka_file_visit_fn visit, void *ctx);

#endif
