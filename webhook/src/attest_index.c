/*
 * The attestation index: load a directory (or bytes) of attestation documents once, keep the
 * newest verified scans per file, reload only what changed, and answer admission lookups by
 * image digest from memory. See kadmit/attest.h for the contract.
 */
#include "kadmit/attest.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mbedtls/sha256.h>
#include <pthread.h>

#include "kadmit/attest_envelope.h"
#include "kadmit/attest_keys.h"
#include "kadmit/error.h"
#include "kadmit/file.h"
#include "kadmit/json.h"
#include "kadmit/log.h"
#include "mbedtls_compat.h"

struct entry { /* one subject digest of one attestation, in load order */
    unsigned char digest[32];
    size_t att;
};

struct slot { /* lookup table, sorted by digest then newest scan first */
    unsigned char digest[32];
    int64_t finished;
    size_t entry;
};

struct source { /* one file or add_bytes call */
    char *name;
    unsigned char sha256[32]; /* of the content; all zero when it was not read */
    int hashed;
    size_t first_att, natts;      /* its attestations, contiguous in atts */
    size_t first_entry, nentries; /* its entries, contiguous in entries */
    char *diag;                   /* what was reported about it, NULL when nothing */
    int bad;                      /* yielded no attestation */
    size_t dropped;               /* documents over KA_ATTEST_MAX_DOCUMENT */
    char *first_drop;             /* where the first of them was, NULL when none */
};

struct ka_attest_index {
    struct source *sources;
    size_t nsources, cap_sources;
    unsigned char keys_fp[32]; /* fingerprint of the key set used to verify */
    int has_keys_fp;
    struct ka_attest_record *atts;
    size_t natts, cap_atts;
    struct entry *entries;
    size_t nentries, cap_entries;
    struct slot *slots; /* nentries long once sorted */
    size_t nslots;
    size_t dropped;         /* oversize documents in all sources (index_sort) */
    const char *first_drop; /* borrowed from a source, NULL when none */
    struct ka_attest_stats stats;
};

int ka_attest_index_new(struct ka_attest_index **out)
{
    *out = calloc(1, sizeof(**out));
    return *out == NULL ? KA_ENOMEM : 0;
}

void ka_attest_index_free(struct ka_attest_index *idx)
{
    if (idx == NULL) {
        return;
    }
    for (size_t i = 0; i < idx->natts; i++) {
        ka_attest_record_free(&idx->atts[i]);
    }
    for (size_t i = 0; i < idx->nsources; i++) {
        free(idx->sources[i].name);
        free(idx->sources[i].diag);
        free(idx->sources[i].first_drop);
    }
    free(idx->sources);
    free(idx->atts);
    free(idx->entries);
    free(idx->slots);
    free(idx);
}

void ka_attest_index_stats(const struct ka_attest_index *idx, struct ka_attest_stats *out)
{
    if (idx == NULL) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = idx->stats;
    out->entries = idx->nentries;
}

static int slot_cmp(const void *a, const void *b)
{
    const struct slot *x = a, *y = b;
    int c = memcmp(x->digest, y->digest, 32);
    if (c != 0) {
        return c;
    }
    if (x->finished != y->finished) {
        return x->finished > y->finished ? -1 : 1; /* newest first */
    }
    return x->entry < y->entry ? -1 : (x->entry > y->entry);
}

/* Rebuild the sorted lookup table from the entries. */
static int index_sort(struct ka_attest_index *idx)
{
    struct slot *s = realloc(idx->slots, (idx->nentries ? idx->nentries : 1) * sizeof(*s));
    if (s == NULL) {
        return KA_ENOMEM;
    }
    idx->slots = s;
    for (size_t i = 0; i < idx->nentries; i++) {
        const struct ka_attest_record *a = &idx->atts[idx->entries[i].att];
        memcpy(s[i].digest, idx->entries[i].digest, 32);
        s[i].finished = a->has_scan_time ? a->scan_finished : INT64_MIN;
        s[i].entry = i;
    }
    if (idx->nentries > 1) {
        qsort(s, idx->nentries, sizeof(*s), slot_cmp);
    }
    idx->nslots = idx->nentries;
    idx->dropped = 0;
    idx->first_drop = NULL;
    for (size_t i = 0; i < idx->nsources; i++) {
        idx->dropped += idx->sources[i].dropped;
        if (idx->first_drop == NULL) {
            idx->first_drop = idx->sources[i].first_drop;
        }
    }
    return 0;
}

static void digest_hex(const unsigned char d[32], char out[65])
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[64] = '\0';
}

/* ---- one document ----------------------------------------------------------------------- */

struct ctx {
    struct ka_attest_index *idx;
    const struct ka_attest_keys *keys;
    struct ka_buf *diag;
    const char *source;   /* borrowed from idx->sources */
    size_t added;         /* attestations added from this source */
    struct ka_buf report; /* what was reported about this source */
    size_t dropped;       /* documents over KA_ATTEST_MAX_DOCUMENT */
    char first_drop[200]; /* "file:line: N bytes" of the first of them */
};

static void report(struct ctx *c, unsigned line, const char *reason)
{
    struct ka_buf f;
    ka_buf_init(&f, 2048);
    int r = ka_buf_add_json_member(&f, "file", c->source, 0);
    if (r == 0 && line > 0) {
        r = ka_buf_printf(&f, ",\"line\":%u", line);
    }
    r = r ? r : ka_buf_add_json_member(&f, "reason", reason, 1);
    KA_LOG(KA_LOG_WARN, r == 0 ? f.data : NULL, "attestation skipped");
    ka_buf_free(&f);
    if (line > 0) {
        ka_buf_diag(&c->report, "%s:%u: %s\n", c->source, line, reason);
    } else {
        ka_buf_diag(&c->report, "%s: %s\n", c->source, reason);
    }
}

/* A document too large to parse: reported, counted, and named in misses (see index_sort). */
static void drop_document(struct ctx *c, unsigned line, size_t size)
{
    char why[160];
    snprintf(why, sizeof(why),
             "document is %zu bytes, over the %u byte limit per envelope or bundle; dropped", size,
             KA_ATTEST_MAX_DOCUMENT);
    report(c, line, why);
    if (c->dropped++ == 0 && line > 0) {
        snprintf(c->first_drop, sizeof(c->first_drop), "%.120s:%u (%zu bytes)", c->source, line,
                 size);
    } else if (c->dropped == 1) {
        snprintf(c->first_drop, sizeof(c->first_drop), "%.120s (%zu bytes)", c->source, size);
    }
}

/*
 * Index one parsed document (envelope or bundle). Returns 0 when an attestation was indexed,
 * KA_EATTEST with the reason in `why` when the document is unusable, KA_ENOMEM/KA_ELIMIT.
 */
static int add_document(struct ctx *c, const cJSON *root, unsigned line, int jsonl, char *why,
                        size_t why_len)
{
    unsigned char digests[KA_ATTEST_MAX_SUBJECTS][32];
    size_t n = 0;
    struct ka_attest_record a;
    int ret = ka_attest_envelope_read(root, jsonl, c->keys, &a, digests, &n, why, why_len);
    if (ret != 0) {
        return ret;
    }
    a.source = c->source;
    a.line = line;
    /* index one entry per subject with a sha256 digest */
    if (ka_array_grow(&c->idx->atts, &c->idx->cap_atts, c->idx->natts + 1,
                      sizeof(struct ka_attest_record)) != 0 ||
        ka_array_grow(&c->idx->entries, &c->idx->cap_entries, c->idx->nentries + a.subjects,
                      sizeof(struct entry)) != 0) {
        ret = KA_ENOMEM;
        goto exit;
    }
    if (c->idx->nentries + a.subjects > KA_ATTEST_MAX_ENTRIES) {
        snprintf(why, why_len, "index is full (%d entries)", KA_ATTEST_MAX_ENTRIES);
        ret = KA_ELIMIT;
        goto exit;
    }
    if (n == 0) {
        snprintf(why, why_len, "no subject has a sha256 digest of 64 hex digits");
        ret = KA_EATTEST;
        goto exit;
    }
    for (size_t i = 0; i < n; i++) {
        struct entry *e = &c->idx->entries[c->idx->nentries + i];
        memcpy(e->digest, digests[i], 32);
        e->att = c->idx->natts;
    }
    c->idx->nentries += n;
    c->idx->atts[c->idx->natts++] = a;
    memset(&a, 0, sizeof(a));
    c->idx->stats.attestations++;
    if (c->idx->atts[c->idx->natts - 1].verified) {
        c->idx->stats.verified++;
    }
    c->added++;
exit:
    ka_attest_record_free(&a);
    return ret;
}

/* Parse a whole source: one document, or JSON Lines. */
static int add_source(struct ctx *c, const char *data, size_t len)
{
    int ret = 0;
    char why[512];
    size_t i = 0;
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) { /* UTF-8 BOM */
        i = 3;
    }
    while (i < len && isspace((unsigned char)data[i])) {
        i++;
    }
    if (i == len) {
        report(c, 0, "file is empty");
        return KA_EATTEST;
    }
    if (memchr(data, '\0', len) != NULL) {
        report(c, 0, "file contains NUL bytes; not JSON");
        return KA_EATTEST;
    }
    const char *nl = memchr(data + i, '\n', len - i);
    cJSON *root = NULL;
    if (len - i <= KA_ATTEST_MAX_DOCUMENT) {
        root = ka_json_parse_bounded(data + i, len - i, KA_ATTEST_MAX_DOCUMENT, KA_ATTEST_MAX_DEPTH,
                                     why, sizeof(why));
    } else if (nl == NULL) {
        drop_document(c, 0, len - i);
        return KA_EATTEST;
    } else {
        snprintf(why, sizeof(why), "neither one JSON document nor JSON Lines");
    }
    if (root != NULL) {
        int r = add_document(c, root, 0, 0, why, sizeof(why));
        cJSON_Delete(root);
        if (r == KA_ENOMEM) {
            return r;
        }
        if (r != 0) {
            report(c, 0, why);
        }
        return r;
    }
    /* JSON Lines? Only if the first non-blank line is a complete document by itself (or too
     * large to tell, which the loop below reports). */
    char why2[160];
    size_t first_len = nl ? (size_t)(nl - (data + i)) : 0;
    if (first_len <= KA_ATTEST_MAX_DOCUMENT) {
        cJSON *first = nl ? ka_json_parse_bounded(data + i, first_len, KA_ATTEST_MAX_DOCUMENT,
                                                  KA_ATTEST_MAX_DEPTH, why2, sizeof(why2))
                          : NULL;
        if (first == NULL) {
            report(c, 0, why);
            return KA_EATTEST;
        }
        cJSON_Delete(first);
    }
    unsigned line = 1, lines = 0;
    for (size_t k = 0; k < i; k++) {
        line += data[k] == '\n';
    }
    size_t pos = i;
    while (pos < len) {
        const char *eol = memchr(data + pos, '\n', len - pos);
        size_t end = eol ? (size_t)(eol - data) : len;
        size_t s = pos;
        while (s < end && isspace((unsigned char)data[s])) {
            s++;
        }
        if (s < end) {
            if (++lines > KA_ATTEST_MAX_LINES) {
                snprintf(why, sizeof(why), "more than %d JSON Lines; the rest is ignored",
                         KA_ATTEST_MAX_LINES);
                report(c, line, why);
                break;
            }
            if (end - s > KA_ATTEST_MAX_DOCUMENT) {
                drop_document(c, line, end - s);
                pos = end + 1;
                line++;
                continue;
            }
            cJSON *doc = ka_json_parse_bounded(data + s, end - s, KA_ATTEST_MAX_DOCUMENT,
                                               KA_ATTEST_MAX_DEPTH, why, sizeof(why));
            int r = KA_EATTEST;
            if (doc != NULL) {
                r = add_document(c, doc, line, 1, why, sizeof(why));
                cJSON_Delete(doc);
            }
            if (r == KA_ENOMEM) {
                return r;
            }
            if (r != 0) {
                report(c, line, why);
            }
            if (r == KA_ELIMIT) {
                ret = r;
                break;
            }
        }
        pos = end + 1;
        line++;
    }
    if (ret == 0 && c->added == 0) {
        ret = KA_EATTEST;
    }
    return ret;
}

static struct source *source_new(struct ka_attest_index *idx, const char *name)
{
    if (ka_array_grow(&idx->sources, &idx->cap_sources, idx->nsources + 1, sizeof(struct source)) !=
        0) {
        return NULL;
    }
    struct source *src = &idx->sources[idx->nsources];
    memset(src, 0, sizeof(*src));
    src->name = strdup(name);
    if (src->name == NULL) {
        return NULL;
    }
    src->first_att = idx->natts;
    src->first_entry = idx->nentries;
    idx->nsources++;
    idx->stats.files++;
    return src;
}

static int att_counts(const struct ka_attest_record *a)
{
    return a->verified && a->problem == NULL && a->has_scan_time;
}

/*
 * Of the verified scans a source added (atts [first, natts)), keep the newest
 * KA_ATTEST_KEEP_PER_FILE; mark the others dropped, so they stay visible but never count.
 */
static void keep_newest(struct ka_attest_index *idx, size_t first, struct ctx *c)
{
    for (;;) {
        size_t valid = 0, oldest = 0;
        for (size_t i = first; i < idx->natts; i++) {
            const struct ka_attest_record *a = &idx->atts[i];
            if (att_counts(a)) {
                if (valid++ == 0 || a->scan_finished < idx->atts[oldest].scan_finished) {
                    oldest = i;
                }
            }
        }
        if (valid <= KA_ATTEST_KEEP_PER_FILE) {
            return;
        }
        char why[160];
        snprintf(why, sizeof(why),
                 "dropped: the file holds more than %d verified scans and only the newest %d "
                 "are kept",
                 KA_ATTEST_KEEP_PER_FILE, KA_ATTEST_KEEP_PER_FILE);
        idx->atts[oldest].problem = strdup(why);
        if (idx->atts[oldest].problem == NULL) {
            idx->atts[oldest].verified = 0; /* out of memory: it still must not count */
        }
        report(c, idx->atts[oldest].line, why);
    }
}

/* Parse and verify one source's bytes. `data` is not read when len is over the limit. */
static int index_add(struct ka_attest_index *idx, const char *source, const char *data, size_t len,
                     const struct ka_attest_keys *keys, struct ka_buf *diag)
{
    int ret = KA_EINTERNAL;
    struct source *src = source_new(idx, source);
    if (src == NULL) {
        return KA_ENOMEM;
    }
    struct ctx c = {.idx = idx, .keys = keys, .diag = diag, .source = src->name};
    ka_buf_init(&c.report, 8192);
    if (len > KA_ATTEST_MAX_FILE) {
        char why[128];
        snprintf(why, sizeof(why), "file is %zu bytes, over the %u byte limit", len,
                 KA_ATTEST_MAX_FILE);
        report(&c, 0, why);
        ret = KA_ELIMIT;
    } else {
        if (ka_sha256((const unsigned char *)data, len, src->sha256) == 0) {
            src->hashed = 1;
        }
        ret = add_source(&c, data, len);
    }
    keep_newest(idx, src->first_att, &c);
    src->dropped = c.dropped;
    if (c.dropped > 0 && (src->first_drop = strdup(c.first_drop)) == NULL) {
        ret = KA_ENOMEM;
    }
    src->natts = idx->natts - src->first_att;
    src->nentries = idx->nentries - src->first_entry;
    src->bad = c.added == 0;
    if (src->bad) {
        idx->stats.bad_files++;
    }
    if (c.report.len > 0) {
        if (diag != NULL) {
            ka_buf_diag(diag, "%s", c.report.data);
        }
        src->diag = ka_buf_take(&c.report, NULL);
    }
    ka_buf_free(&c.report);
    return ret;
}

static int att_copy(struct ka_attest_record *dst, const struct ka_attest_record *a,
                    const char *source)
{
    *dst = *a;
    dst->source = source;
    dst->statement_type = strdup(a->statement_type);
    dst->predicate_type = strdup(a->predicate_type);
    dst->scanner_uri = a->scanner_uri ? strdup(a->scanner_uri) : NULL;
    dst->scanner_version = a->scanner_version ? strdup(a->scanner_version) : NULL;
    dst->verified_by = strdup(a->verified_by);
    dst->problem = a->problem ? strdup(a->problem) : NULL;
    if (dst->statement_type == NULL || dst->predicate_type == NULL || dst->verified_by == NULL ||
        (a->scanner_uri && dst->scanner_uri == NULL) ||
        (a->scanner_version && dst->scanner_version == NULL) ||
        (a->problem && dst->problem == NULL)) {
        ka_attest_record_free(dst);
        return KA_ENOMEM;
    }
    return 0;
}

/* Copy what `prev` learned from one unchanged source, without parsing or verifying again. */
static int index_reuse(struct ka_attest_index *idx, const struct ka_attest_index *prev,
                       const struct source *ps, struct ka_buf *diag)
{
    if (idx->nentries + ps->nentries > KA_ATTEST_MAX_ENTRIES) {
        return KA_ELIMIT;
    }
    if (ka_array_grow(&idx->atts, &idx->cap_atts, idx->natts + ps->natts,
                      sizeof(struct ka_attest_record)) != 0 ||
        ka_array_grow(&idx->entries, &idx->cap_entries, idx->nentries + ps->nentries,
                      sizeof(struct entry)) != 0) {
        return KA_ENOMEM;
    }
    struct source *src = source_new(idx, ps->name);
    if (src == NULL) {
        return KA_ENOMEM;
    }
    memcpy(src->sha256, ps->sha256, 32);
    src->hashed = ps->hashed;
    src->bad = ps->bad;
    src->dropped = ps->dropped;
    if (ps->first_drop != NULL && (src->first_drop = strdup(ps->first_drop)) == NULL) {
        return KA_ENOMEM;
    }
    if (ps->diag != NULL) {
        src->diag = strdup(ps->diag);
        if (src->diag == NULL) {
            return KA_ENOMEM;
        }
        if (diag != NULL) {
            ka_buf_diag(diag, "%s", ps->diag);
        }
    }
    for (size_t i = 0; i < ps->natts; i++) {
        const struct ka_attest_record *a = &prev->atts[ps->first_att + i];
        if (att_copy(&idx->atts[idx->natts], a, src->name) != 0) {
            return KA_ENOMEM;
        }
        idx->natts++;
        idx->stats.attestations++;
        idx->stats.verified += a->verified ? 1 : 0;
    }
    for (size_t i = 0; i < ps->nentries; i++) {
        struct entry e = prev->entries[ps->first_entry + i];
        e.att = e.att - ps->first_att + src->first_att;
        idx->entries[idx->nentries++] = e;
    }
    src->natts = ps->natts;
    src->nentries = ps->nentries;
    idx->stats.bad_files += ps->bad ? 1 : 0;
    idx->stats.reused++;
    return 0;
}

int ka_attest_index_add_bytes(struct ka_attest_index *idx, const char *source, const char *data,
                              size_t len, const struct ka_attest_keys *keys, struct ka_buf *diag)
{
    if (idx == NULL || source == NULL || (data == NULL && len > 0)) {
        return KA_EINVAL;
    }
    int ret = index_add(idx, source, data ? data : "", len, keys, diag);
    int r = index_sort(idx);
    return r != 0 ? r : ret;
}

static int source_ptr_cmp(const void *a, const void *b)
{
    return strcmp((*(const struct source *const *)a)->name,
                  (*(const struct source *const *)b)->name);
}

/* The source of `prev` named `name` with content hash `sha`, or NULL. */
static const struct source *prev_source(const struct source *const *sorted, size_t n,
                                        const char *name, const unsigned char sha[32])
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(sorted[mid]->name, name);
        if (c == 0) {
            return (sorted[mid]->hashed && memcmp(sorted[mid]->sha256, sha, 32) == 0) ? sorted[mid]
                                                                                      : NULL;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

int ka_attest_index_load_dir(const char *dir, const struct ka_attest_keys *keys,
                             struct ka_attest_index **out, struct ka_buf *diag)
{
    return ka_attest_index_reload_dir(dir, keys, NULL, out, diag);
}

/* Move everything `src` holds to the end of `dst`; `src` is left empty. */
static int index_merge(struct ka_attest_index *dst, struct ka_attest_index *src)
{
    if (dst->nentries + src->nentries > KA_ATTEST_MAX_ENTRIES) {
        return KA_ELIMIT;
    }
    if (ka_array_grow(&dst->sources, &dst->cap_sources, dst->nsources + src->nsources,
                      sizeof(struct source)) != 0 ||
        ka_array_grow(&dst->atts, &dst->cap_atts, dst->natts + src->natts,
                      sizeof(struct ka_attest_record)) != 0 ||
        ka_array_grow(&dst->entries, &dst->cap_entries, dst->nentries + src->nentries,
                      sizeof(struct entry)) != 0) {
        return KA_ENOMEM;
    }
    size_t att_off = dst->natts, entry_off = dst->nentries;
    for (size_t i = 0; i < src->nsources; i++) {
        struct source so = src->sources[i];
        so.first_att += att_off;
        so.first_entry += entry_off;
        dst->sources[dst->nsources++] = so;
    }
    if (src->natts > 0) { /* both may still be NULL when empty */
        memcpy(dst->atts + dst->natts, src->atts, src->natts * sizeof(struct ka_attest_record));
    }
    dst->natts += src->natts;
    for (size_t i = 0; i < src->nentries; i++) {
        struct entry e = src->entries[i];
        e.att += att_off;
        dst->entries[dst->nentries++] = e;
    }
    dst->stats.files += src->stats.files;
    dst->stats.bad_files += src->stats.bad_files;
    dst->stats.attestations += src->stats.attestations;
    dst->stats.verified += src->stats.verified;
    dst->stats.reused += src->stats.reused;
    src->nsources = src->natts = src->nentries = 0; /* moved, not freed */
    return 0;
}

/* One loader thread: files names[from, to) into its own index, with its own copy of the keys. */
struct loader {
    const char *dir;
    char *const *names;
    size_t from, to;
    struct ka_attest_keys *keys; /* owned clone */
    const struct ka_attest_index *prev;
    const struct source *const *sorted; /* prev's sources by name, NULL: reuse nothing */
    size_t nsorted;
    struct ka_attest_index *idx;
    struct ka_buf diag;
    int ret;
};

static void *loader_run(void *arg)
{
    struct loader *w = arg;
    struct ka_buf path, data;
    ka_buf_init(&path, PATH_MAX);
    ka_buf_init(&data, KA_ATTEST_MAX_FILE);
    w->ret = 0;
    for (size_t i = w->from; i < w->to && w->ret == 0; i++) {
        const char *name = w->names[i];
        ka_buf_reset(&path);
        ka_buf_reset(&data);
        if (ka_buf_printf(&path, "%s/%s", w->dir, name) != 0) {
            ka_buf_diag(&w->diag, "%s: path too long\n", name);
            continue;
        }
        struct stat st;
        if (stat(path.data, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue; /* directories, sockets, dangling links: not attestation files */
        }
        int r;
        if ((uintmax_t)st.st_size > KA_ATTEST_MAX_FILE) {
            /* index_add checks the length before touching the bytes: it reports the size */
            r = index_add(w->idx, name, "", (size_t)st.st_size, w->keys, &w->diag);
        } else {
            r = ka_buf_read_file(&data, path.data);
            unsigned char sha[32];
            const struct source *ps = NULL;
            if (r == 0 && w->nsorted > 0 &&
                ka_sha256((const unsigned char *)data.data, data.len, sha) == 0) {
                ps = prev_source(w->sorted, w->nsorted, name, sha);
            }
            if (r == 0 && ps != NULL) {
                r = index_reuse(w->idx, w->prev, ps, &w->diag);
            } else if (r == 0) {
                r = index_add(w->idx, name, data.data, data.len, w->keys, &w->diag);
            } else {
                /* unreadable, or grew past the limit since stat */
                ka_buf_diag(&w->diag, "%s: cannot read: %s\n", name, ka_strerror(r));
                KA_LOG_W("attestation file %s cannot be read: %s", name, ka_strerror(r));
                w->idx->stats.files++;
                w->idx->stats.bad_files++;
                r = 0;
            }
        }
        if (r == KA_ENOMEM) {
            w->ret = r;
        }
    }
    ka_buf_free(&path);
    ka_buf_free(&data);
    return NULL;
}

/* Loader threads for n files: one per CPU (at most 8), none beyond one per 32 files. */
static size_t loader_count(size_t n)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t w = cpus > 1 ? (size_t)cpus : 1;
    if (w > 8) {
        w = 8;
    }
    if (w > n / 32 + 1) {
        w = n / 32 + 1;
    }
    return w;
}

int ka_attest_index_reload_dir(const char *dir, const struct ka_attest_keys *keys,
                               const struct ka_attest_index *prev, struct ka_attest_index **out,
                               struct ka_buf *diag)
{
    int ret = KA_EINTERNAL;
    struct ka_attest_index *idx = NULL;
    struct ka_file_list list;
    ka_file_list_init(&list);
    const struct source **sorted = NULL;
    size_t nsorted = 0;
    struct loader *w = NULL;
    size_t nw = 0;
    *out = NULL;
    if (dir == NULL) {
        return KA_EINVAL;
    }
    /* sorted, so the loaders' slices merge back in name order */
    ret = ka_file_list_dir(dir, NULL, KA_ATTEST_MAX_FILES, &list);
    if (ret == KA_ENOTFOUND || ret == KA_EIO) {
        ka_buf_diag(diag, "%s: cannot open attestation directory: %s\n", dir, strerror(errno));
    }
    if (ret != 0) {
        goto exit;
    }
    if (list.truncated) {
        ka_buf_diag(diag, "%s: more than %d files; the rest are ignored\n", dir,
                    KA_ATTEST_MAX_FILES);
        KA_LOG_W("attestation directory has more than %d files; the rest are ignored",
                 KA_ATTEST_MAX_FILES);
    }
    char *const *names = list.names;
    size_t nnames = list.n;
    ret = ka_attest_index_new(&idx);
    if (ret != 0) {
        goto exit;
    }
    idx->has_keys_fp = ka_attest_keys_fingerprint(keys, idx->keys_fp) == 0;
    if (prev != NULL && prev->has_keys_fp && idx->has_keys_fp &&
        memcmp(prev->keys_fp, idx->keys_fp, 32) == 0 && prev->nsources > 0) {
        sorted = malloc(prev->nsources * sizeof(*sorted));
        if (sorted == NULL) {
            ret = KA_ENOMEM;
            goto exit;
        }
        for (size_t i = 0; i < prev->nsources; i++) {
            sorted[nsorted++] = &prev->sources[i];
        }
        qsort(sorted, nsorted, sizeof(*sorted), source_ptr_cmp);
    }
    /* contiguous slices of the sorted names, merged back in order */
    nw = loader_count(nnames);
    w = calloc(nw, sizeof(*w));
    if (w == NULL) {
        ret = KA_ENOMEM;
        goto exit;
    }
    for (size_t i = 0; i < nw; i++) {
        w[i] = (struct loader){.dir = dir,
                               .names = names,
                               .from = nnames * i / nw,
                               .to = nnames * (i + 1) / nw,
                               .prev = prev,
                               .sorted = sorted,
                               .nsorted = nsorted};
        ka_buf_init(&w[i].diag, 256 * 1024);
        ret = ka_attest_keys_clone(keys, &w[i].keys);
        ret = ret ? ret : ka_attest_index_new(&w[i].idx);
        if (ret != 0) {
            goto exit;
        }
    }
    pthread_t tids[8];
    size_t started = 0;
    for (size_t i = 1; i < nw; i++) {
        if (pthread_create(&tids[i], NULL, loader_run, &w[i]) != 0) {
            break;
        }
        started = i;
    }
    loader_run(&w[0]);
    for (size_t i = 1; i <= started; i++) {
        pthread_join(tids[i], NULL);
    }
    for (size_t i = started + 1; i < nw; i++) {
        loader_run(&w[i]); /* threads that could not start: do their share here */
    }
    for (size_t i = 0; i < nw; i++) {
        if (w[i].ret != 0) {
            ret = w[i].ret;
            goto exit;
        }
        if (diag != NULL && w[i].diag.len > 0) {
            ka_buf_diag(diag, "%s", w[i].diag.data);
        }
        ret = index_merge(idx, w[i].idx);
        if (ret == KA_ELIMIT) {
            ka_buf_diag(diag, "%s: more than %d attestation subjects; the rest are ignored\n", dir,
                        KA_ATTEST_MAX_ENTRIES);
            break;
        }
        if (ret != 0) {
            goto exit;
        }
    }
    ret = index_sort(idx);
    if (ret != 0) {
        goto exit;
    }
    KA_LOG_I("attestations loaded from %s: %zu files (%zu bad, %zu unchanged), %zu "
             "attestations, %zu verified, %zu subject entries",
             dir, idx->stats.files, idx->stats.bad_files, idx->stats.reused,
             idx->stats.attestations, idx->stats.verified, idx->nentries);
    *out = idx;
    idx = NULL;
    ret = 0;
exit:
    for (size_t i = 0; w != NULL && i < nw; i++) {
        ka_attest_keys_free(w[i].keys);
        ka_attest_index_free(w[i].idx);
        ka_buf_free(&w[i].diag);
    }
    free(w);
    ka_file_list_free(&list);
    free(sorted);
    ka_attest_index_free(idx);
    return ret;
}

/* ======================================================================================== */
/* admission check                                                                          */
/* ======================================================================================== */

/* a - b, saturated at the int64 limits (`now` comes from the caller) */
static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t d;
    if (__builtin_sub_overflow(a, b, &d)) {
        return b < 0 ? INT64_MAX : INT64_MIN;
    }
    return d;
}

/* why += `before` <d> `middle` <max> ")", as in "scan is 9d old (max 7d)" (`why` may be NULL). */
static int why_duration(struct ka_buf *why, const char *before, int64_t d, const char *middle,
                        int64_t max)
{
    if (why == NULL) {
        return 0;
    }
    int r = ka_buf_adds(why, before);
    r = r ? r : ka_attest_format_duration(why, d);
    r = r ? r : ka_buf_adds(why, middle);
    r = r ? r : ka_attest_format_duration(why, max);
    return r ? r : ka_buf_adds(why, ")");
}

/* Evaluate one candidate; on failure append its clause (no source prefix) to `why`. */
static int evaluate(const char *problem, int has_time, int64_t finished,
                    const unsigned counts[KA_SEV_COUNT], const struct ka_attest_params *p,
                    int64_t now, struct ka_buf *why)
{
    int r = 0;
    if (problem != NULL) {
        if (why != NULL) {
            r = ka_buf_adds(why, problem);
        }
        return KA_EATTEST;
    }
    if (!has_time) {
        if (why != NULL) {
            r = ka_buf_adds(why, "scan has no finish time");
        }
        return KA_EATTEST;
    }
    int bad = 0;
    int64_t ahead = sat_sub(finished, now), age = sat_sub(now, finished);
    if (ahead > 0 && ahead > p->max_future_skew_s) {
        r = why_duration(why, "scan is dated ", ahead, " in the future (max skew ",
                         p->max_future_skew_s);
        bad = 1;
    } else if (age > 0 && age > p->max_age_s) {
        r = why_duration(why, "scan is ", age, " old (max ", p->max_age_s);
        bad = 1;
    }
    for (int s = 0; s < KA_SEV_COUNT; s++) {
        if (p->max_severity[s] >= 0 && counts[s] > (unsigned)p->max_severity[s]) {
            if (why != NULL) {
                r = r ? r
                      : ka_buf_printf(why, "%s%u %s finding%s (max %d)", bad ? ", " : "", counts[s],
                                      ka_attest_sev_name((enum ka_sev)s), counts[s] == 1 ? "" : "s",
                                      p->max_severity[s]);
            }
            bad = 1;
        }
    }
    (void)r; /* a full `why` only truncates the explanation; the verdict stands */
    return bad ? KA_EATTEST : 0;
}

static int eval_entry(const struct ka_attest_index *idx, size_t e, const struct ka_attest_params *p,
                      int64_t now, struct ka_buf *why)
{
    const struct ka_attest_record *a = &idx->atts[idx->entries[e].att];
    return evaluate(a->problem, a->has_scan_time, a->scan_finished, a->counts, p, now, why);
}

/* The slots [*lo, *end) of a digest (newest first). */
static void digest_range(const struct ka_attest_index *idx, const unsigned char digest[32],
                         size_t *lo, size_t *end)
{
    size_t l = 0, hi = idx->nslots;
    while (l < hi) {
        size_t mid = l + (hi - l) / 2;
        if (memcmp(idx->slots[mid].digest, digest, 32) < 0) {
            l = mid + 1;
        } else {
            hi = mid;
        }
    }
    size_t e = l;
    while (e < idx->nslots && memcmp(idx->slots[e].digest, digest, 32) == 0) {
        e++;
    }
    *lo = l;
    *end = e;
}

/* First slot in [lo, end) (newest first) that holds a verified, usable scan; end when none. */
static size_t decider(const struct ka_attest_index *idx, size_t lo, size_t end)
{
    for (size_t i = lo; i < end; i++) {
        if (att_counts(&idx->atts[idx->entries[idx->slots[i].entry].att])) {
            return i;
        }
    }
    return end;
}

static void clause_sep(struct ka_buf *why)
{
    if (why != NULL && why->len > 0) {
        int r = ka_buf_adds(why, "; ");
        (void)r;
    }
}

int ka_attest_check(const struct ka_attest_index *idx, const char *image,
                    const struct ka_attest_params *p, int64_t now, struct ka_buf *why)
{
    int r = 0;
    if (idx == NULL || image == NULL || p == NULL) {
        return KA_EINVAL;
    }
    const char *digits = NULL;
    enum ka_image_digest kind = ka_image_digest(image, &digits);
    if (kind == KA_DIGEST_NONE) {
        const char *slash = strrchr(image, '/');
        int tagged = strchr(slash != NULL ? slash : image, ':') != NULL;
        clause_sep(why);
        if (why != NULL) {
            r = ka_buf_printf(why, "image %.200s %s; pin the digest (repo@sha256:...)", image,
                              tagged ? "is referenced by tag" : "has no digest");
        }
        return KA_EATTEST;
    }
    unsigned char digest[32];
    if (kind != KA_DIGEST_SHA256 || ka_attest_sha256_from_hex(digits, digest) != 0) {
        clause_sep(why);
        if (why != NULL) {
            r = ka_buf_printf(why,
                              "image %.200s has no valid sha256 digest (want "
                              "repo@sha256:<64 hex digits>)",
                              image);
        }
        return KA_EATTEST;
    }
    size_t lo, end;
    digest_range(idx, digest, &lo, &end);
    if (lo == end) {
        char hex[65];
        digest_hex(digest, hex);
        clause_sep(why);
        if (why != NULL) {
            r = ka_buf_printf(why, "no attestation for sha256:%s", hex);
            if (idx->dropped > 0) {
                r = r ? r
                      : ka_buf_printf(why,
                                      " (%zu document%s over the %u byte limit %s dropped at "
                                      "load, first %s)",
                                      idx->dropped, idx->dropped == 1 ? "" : "s",
                                      KA_ATTEST_MAX_DOCUMENT, idx->dropped == 1 ? "was" : "were",
                                      idx->first_drop ? idx->first_drop : "?");
            }
        }
        return KA_EATTEST;
    }
    size_t newest = decider(idx, lo, end);
    if (newest < end) {
        /* the newest verified scan decides; scans finished the same second must all pass */
        size_t last = newest, bad = 0;
        while (last < end && idx->slots[last].finished == idx->slots[newest].finished) {
            const struct ka_attest_record *a = &idx->atts[idx->entries[idx->slots[last].entry].att];
            if (att_counts(a) && eval_entry(idx, idx->slots[last].entry, p, now, NULL) != 0 &&
                bad++ < KA_ATTEST_MAX_CLAUSES) {
                if (why != NULL) {
                    clause_sep(why);
                    r = r ? r
                          : (a->line ? ka_buf_printf(why, "%s:%u: ", a->source, a->line)
                                     : ka_buf_printf(why, "%s: ", a->source));
                    (void)eval_entry(idx, idx->slots[last].entry, p, now, why);
                }
            }
            last++;
        }
        size_t older = 0;
        for (size_t i = last; i < end; i++) {
            older += att_counts(&idx->atts[idx->entries[idx->slots[i].entry].att]);
        }
        if (bad > KA_ATTEST_MAX_CLAUSES && why != NULL) {
            r = r ? r : ka_buf_printf(why, "; and %zu more", bad - KA_ATTEST_MAX_CLAUSES);
        }
        if (bad && why != NULL && older > 0) {
            r = r ? r
                  : ka_buf_printf(why,
                                  " (the newest verified scan decides; %zu older scan%s not "
                                  "count)",
                                  older, older == 1 ? " does" : "s do");
        }
        (void)r;
        return bad ? KA_EATTEST : 0;
    }
    if (why != NULL) {
        size_t listed = 0;
        for (size_t i = lo; i < end && listed < KA_ATTEST_MAX_CLAUSES; i++, listed++) {
            const struct ka_attest_record *a = &idx->atts[idx->entries[idx->slots[i].entry].att];
            clause_sep(why);
            r = r ? r
                  : (a->line ? ka_buf_printf(why, "%s:%u: ", a->source, a->line)
                             : ka_buf_printf(why, "%s: ", a->source));
            (void)eval_entry(idx, idx->slots[i].entry, p, now, why);
        }
        if (end - lo > listed) {
            r = r ? r : ka_buf_printf(why, "; and %zu more", end - lo - listed);
        }
    }
    (void)r;
    return KA_EATTEST;
}

/* ---- inspection ------------------------------------------------------------------------- */

size_t ka_attest_index_count(const struct ka_attest_index *idx)
{
    return idx == NULL ? 0 : idx->nentries;
}

int ka_attest_index_entry(const struct ka_attest_index *idx, size_t i, struct ka_attest_entry *out)
{
    if (idx == NULL || out == NULL || i >= idx->nentries) {
        return KA_EINVAL;
    }
    const struct ka_attest_record *a = &idx->atts[idx->entries[i].att];
    memset(out, 0, sizeof(*out));
    out->source = a->source;
    out->line = a->line;
    out->format = a->format;
    memcpy(out->digest, "sha256:", 7);
    digest_hex(idx->entries[i].digest, out->digest + 7);
    out->subjects = a->subjects;
    out->statement_type = a->statement_type;
    out->predicate_type = a->predicate_type;
    out->scanner_uri = a->scanner_uri ? a->scanner_uri : "";
    out->scanner_version = a->scanner_version ? a->scanner_version : "";
    out->scan_finished = a->scan_finished;
    out->has_scan_time = a->has_scan_time;
    memcpy(out->counts, a->counts, sizeof(out->counts));
    out->verified = a->verified;
    out->verified_by = a->verified_by ? a->verified_by : "";
    out->problem = a->problem;
    if (att_counts(a)) {
        /* is this the digest's newest verified scan (or tied with it)? */
        size_t lo, end;
        digest_range(idx, idx->entries[i].digest, &lo, &end);
        size_t first = decider(idx, lo, end);
        out->decides = first < end && idx->slots[first].finished == a->scan_finished;
    }
    return 0;
}

int ka_attest_entry_evaluate(const struct ka_attest_entry *e, const char *digest,
                             const struct ka_attest_params *p, int64_t now, struct ka_buf *why)
{
    if (e == NULL || digest == NULL || p == NULL) {
        return KA_EINVAL;
    }
    if (strcasecmp(e->digest, digest) != 0) {
        if (why != NULL) {
            int r = ka_buf_printf(why, "subject %s is not %.80s", e->digest, digest);
            (void)r;
        }
        return KA_EATTEST;
    }
    return evaluate(e->problem, e->has_scan_time, e->scan_finished, e->counts, p, now, why);
}
