/* `kadmit fix`: rewrite manifests to meet the policy (stdout, unified diff, or in place). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "kadmit/cli.h"
#include "kadmit/error.h"
#include "kadmit/file.h"
#include "kadmit/fix.h"
#include "kadmit/limits.h"
#include "kadmit/registry.h"

/* Lines of context around a change in --diff, and the largest line-by-line comparison made
 * (cells of the LCS table); past it a change is one hunk from its first to its last line. */
#define KA_DIFF_CONTEXT 3
#define KA_DIFF_MAX_CELLS (4u * 1024u * 1024u)
/* Images whose resolution (or failure) --resolve-digests remembers, so each is asked once. */
#define KA_FIX_RESOLVE_CACHE 256

static const struct ka_cli_usage fix_usage = {
    "kadmit fix [--policies PATH] [--attestations DIR] [-n NS] [-w | --diff]\n"
    "           [--resolve-digests [--auth FILE]] FILE|DIR|-...",
    "Rewrites manifests so they meet the policy, editing the text in place: comments,\n"
    "key order, quoting, indentation, flow or block style, CRLF line endings,\n"
    "document separators and every document that needs no change stay byte for byte.\n"
    "JSON stays JSON. Directories are read recursively (*.yaml, *.yml, *.json).\n\n"
    "What it writes, and only when the value is determined:\n"
    "  mutation rules      inject-metrics-sidecar, inject-probes (where the port\n"
    "                      says so) applied to pods and workload templates\n"
    "  termination-grace-period    terminationGracePeriodSeconds: the rule's minimum\n"
    "  memory-spine-anti-affinity  a required kubernetes.io/hostname term selecting\n"
    "                      the pod's own labels (replaces a preferred-only term)\n"
    "  hpa-custom-metrics  a short scaleDown stabilizationWindowSeconds -> the\n"
    "                      minimum\n"
    "  pdb-availability    minAvailable raised to the minimum (maxUnavailable\n"
    "                      dropped)\n"
    "  resources-required  only the values given in the rule's params.fix\n"
    "Never guessed (listed on stderr with why and what to run): image digests (crane\n"
    "digest / skopeo inspect; resolved from the registry with --resolve-digests),\n"
    "literal secrets (kubectl create secret + secretKeyRef), metrics, probes without\n"
    "a known port, resources without params.fix, changes under a YAML alias or to an\n"
    "anchor that aliases share.\n",
    "Default output: the fixed manifests on stdout. Findings that remain go to\n"
    "stderr.\n"
    "exit: 0 nothing to fix or all fixed, 1 findings remain that fix cannot fix\n"
    "      (listed), 2 bad input or policy\n"};

/* ------------------------------------------------------------------------------------------
 * Unified diff
 */

struct lines {
    const char **at; /* start of each line (its "\n" included) */
    size_t *len;
    size_t n;
};

static int split_lines(const char *data, size_t len, struct lines *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        n += data[i] == '\n';
    }
    n += len > 0 && data[len - 1] != '\n';
    out->n = 0;
    out->at = malloc((n + 1) * sizeof(*out->at));
    out->len = malloc((n + 1) * sizeof(*out->len));
    if (out->at == NULL || out->len == NULL) {
        return KA_ENOMEM;
    }
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n' || i + 1 == len) {
            out->at[out->n] = data + start;
            out->len[out->n++] = i + 1 - start;
            start = i + 1;
        }
    }
    return 0;
}

static void lines_free(struct lines *l)
{
    free(l->at);
    free(l->len);
}

static int line_eq(const struct lines *a, size_t i, const struct lines *b, size_t j)
{
    return a->len[i] == b->len[j] && memcmp(a->at[i], b->at[j], a->len[i]) == 0;
}

/* One diff line: ' ', '-' or '+', the text, and the marker for a last line without EOL. */
static void put_line(FILE *out, char tag, const struct lines *l, size_t i)
{
    fputc(tag, out);
    fwrite(l->at[i], 1, l->len[i], out);
    if (l->len[i] == 0 || l->at[i][l->len[i] - 1] != '\n') {
        fputs("\n\\ No newline at end of file\n", out);
    }
}

/* Edit script: for each old line, keep (1) or delete (0); for each new line, keep or insert. */
static int diff_script(const struct lines *a, const struct lines *b, unsigned char *keep_a,
                       unsigned char *keep_b)
{
    size_t pre = 0, suf = 0;
    while (pre < a->n && pre < b->n && line_eq(a, pre, b, pre)) {
        keep_a[pre] = keep_b[pre] = 1;
        pre++;
    }
    while (suf < a->n - pre && suf < b->n - pre && line_eq(a, a->n - 1 - suf, b, b->n - 1 - suf)) {
        keep_a[a->n - 1 - suf] = keep_b[b->n - 1 - suf] = 1;
        suf++;
    }
    size_t n = a->n - pre - suf, m = b->n - pre - suf;
    if (n == 0 || m == 0 || (n + 1) * (m + 1) > KA_DIFF_MAX_CELLS) {
        return 0; /* the middle is all deleted and inserted */
    }
    /* LCS lengths of the suffixes, then walk forward. */
    uint32_t *t = calloc((n + 1) * (m + 1), sizeof(*t));
    if (t == NULL) {
        return KA_ENOMEM;
    }
    for (size_t i = n; i-- > 0;) {
        for (size_t j = m; j-- > 0;) {
            t[i * (m + 1) + j] =
                line_eq(a, pre + i, b, pre + j)
                    ? t[(i + 1) * (m + 1) + j + 1] + 1
                    : (t[(i + 1) * (m + 1) + j] > t[i * (m + 1) + j + 1] ? t[(i + 1) * (m + 1) + j]
                                                                         : t[i * (m + 1) + j + 1]);
        }
    }
    size_t i = 0, j = 0;
    while (i < n && j < m) {
        if (line_eq(a, pre + i, b, pre + j)) {
            keep_a[pre + i++] = keep_b[pre + j++] = 1;
        } else if (t[(i + 1) * (m + 1) + j] >= t[i * (m + 1) + j + 1]) {
            i++;
        } else {
            j++;
        }
    }
    free(t);
    return 0;
}

static int write_diff(FILE *out, const char *path, const char *old, size_t old_len,
                      const char *new_text, size_t new_len)
{
    struct lines a = {0}, b = {0};
    unsigned char *keep_a = NULL, *keep_b = NULL;
    int ret = split_lines(old, old_len, &a);
    if (ret == 0) {
        ret = split_lines(new_text, new_len, &b);
    }
    if (ret == 0) {
        keep_a = calloc(a.n + 1, 1);
        keep_b = calloc(b.n + 1, 1);
        ret = keep_a && keep_b ? diff_script(&a, &b, keep_a, keep_b) : KA_ENOMEM;
    }
    if (ret != 0) {
        goto cleanup;
    }
    fprintf(out, "--- %s\n+++ %s\n", path, path);
    size_t i = 0, j = 0;
    while (i < a.n || j < b.n) {
        /* skip to the next change */
        while (i < a.n && j < b.n && keep_a[i] && keep_b[j]) {
            i++;
            j++;
        }
        if (i >= a.n && j >= b.n) {
            break;
        }
        /* hunk: from context before the change until KA_DIFF_CONTEXT*2 unchanged lines */
        size_t ctx = i < KA_DIFF_CONTEXT ? i : KA_DIFF_CONTEXT;
        size_t hi = i - ctx, hj = j - ctx;
        size_t ei = i, ej = j, same = 0;
        while (ei < a.n || ej < b.n) {
            if (ei < a.n && ej < b.n && keep_a[ei] && keep_b[ej]) {
                if (++same > 2 * KA_DIFF_CONTEXT) {
                    break;
                }
                ei++;
                ej++;
                continue;
            }
            same = 0;
            if (ei < a.n && !keep_a[ei]) {
                ei++;
            } else if (ej < b.n && !keep_b[ej]) {
                ej++;
            }
        }
        size_t tail = same > KA_DIFF_CONTEXT ? same - 1 - KA_DIFF_CONTEXT : 0;
        if (same > 2 * KA_DIFF_CONTEXT) {
            tail = same - 1 - KA_DIFF_CONTEXT;
        }
        ei -= tail;
        ej -= tail;
        size_t na = ei - hi, nb = ej - hj;
        fprintf(out, "@@ -%zu,%zu +%zu,%zu @@\n", na ? hi + 1 : hi, na, nb ? hj + 1 : hj, nb);
        size_t x = hi, y = hj;
        while (x < ei || y < ej) {
            if (x < ei && y < ej && keep_a[x] && keep_b[y]) {
                put_line(out, ' ', &a, x++);
                y++;
            } else if (x < ei && !keep_a[x]) {
                put_line(out, '-', &a, x++);
            } else {
                put_line(out, '+', &b, y++);
            }
        }
        i = ei;
        j = ej;
    }
cleanup:
    free(keep_a);
    free(keep_b);
    lines_free(&a);
    lines_free(&b);
    return ret;
}

/* ------------------------------------------------------------------------------------------
 * Files
 */

/* Write `data` to `path` atomically (a hidden temporary file beside it, then rename), keeping
 * the file's mode. */
static int write_atomic(const char *path, const char *data, size_t len)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return KA_EIO;
    }
    return ka_file_write_atomic(path, data, len, st.st_mode);
}

enum fix_mode { FIX_STDOUT, FIX_DIFF, FIX_WRITE };

struct fix_run {
    const struct ka_policy *policy;
    struct ka_review_opts opts;
    enum fix_mode mode;
    size_t files, files_changed, ops, remaining;
    size_t errors; /* inputs left unread or unchanged: unreadable files, parse errors, documents
                      kubectl would refuse; any makes the exit 2 */
    const struct ka_fix_resolver *resolver; /* --resolve-digests, else NULL */
};

/* --resolve-digests: the registry client, each image asked once. */
struct resolve_cache {
    struct ka_registry_opts opts;
    size_t n;
    struct {
        char *image;
        char digest[80]; /* "" when it failed */
        char err[256];
    } e[KA_FIX_RESOLVE_CACHE];
};

static int resolve_image(void *ctx, const char *image, char *digest, size_t digest_len, char *err,
                         size_t err_len)
{
    struct resolve_cache *rc = ctx;
    for (size_t i = 0; i < rc->n; i++) {
        if (strcmp(rc->e[i].image, image) == 0) {
            snprintf(digest, digest_len, "%s", rc->e[i].digest);
            snprintf(err, err_len, "%s", rc->e[i].err);
            return rc->e[i].digest[0] != '\0' ? 0 : KA_ENOTFOUND;
        }
    }
    struct ka_buf rep;
    ka_buf_init(&rep, 64 * 1024);
    char got[80] = "";
    int ret = ka_registry_resolve(image, &rc->opts, got, sizeof(got), &rep);
    /* the report's last line says what the registry answered */
    const char *last = rep.data != NULL ? rep.data : "";
    size_t len = rep.len;
    while (len > 0 && last[len - 1] == '\n') {
        len--;
    }
    const char *nl = len > 0 ? memrchr(last, '\n', len) : NULL;
    const char *line = nl != NULL ? nl + 1 : last;
    int line_len = (int)(len - (size_t)(line - last));
    if (ret == 0) {
        fprintf(stderr, "kadmit fix: resolved %s -> %s\n", image, got);
        snprintf(digest, digest_len, "%s", got);
    } else {
        snprintf(err, err_len, "cannot resolve %.80s: %.*s", image, line_len, line);
        fprintf(stderr, "kadmit fix: %s\n", err);
    }
    ka_buf_free(&rep);
    if (rc->n < KA_FIX_RESOLVE_CACHE) {
        rc->e[rc->n].image = strdup(image);
        if (rc->e[rc->n].image != NULL) {
            snprintf(rc->e[rc->n].digest, sizeof(rc->e[0].digest), "%s", ret == 0 ? got : "");
            snprintf(rc->e[rc->n].err, sizeof(rc->e[0].err), "%s", ret == 0 ? "" : err);
            rc->n++;
        }
    }
    return ret;
}

static void print_notes(const struct ka_fix_result *r)
{
    for (size_t i = 0; i < r->n_notes; i++) {
        const struct ka_fix_note *n = &r->notes[i];
        fprintf(stderr, "%s: %s\n    not fixed: %s\n", n->source, n->message, n->why);
        if (n->suggest[0] != '\0') {
            fprintf(stderr, "    by hand: %s\n", n->suggest);
        }
    }
}

static int fix_file(struct fix_run *run, const char *path)
{
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "(stdin)" : path;
    struct ka_buf data;
    ka_buf_init(&data, KA_MAX_MANIFEST_FILE);
    struct ka_fix_result res;
    ka_fix_result_init(&res);
    int ret = is_stdin ? ka_buf_read_stream(&data, stdin) : ka_buf_read_file(&data, path);
    if (ret != 0) {
        fprintf(stderr, "kadmit fix: %s: %s\n", name,
                ret == KA_ELIMIT ? "file larger than 64 MiB" : ka_strerror(ret));
        run->errors++;
        ret = ret == KA_ENOMEM ? ret : 0;
        goto cleanup;
    }
    ret = ka_fix_bytes_resolving(run->policy, &run->opts, run->resolver, name,
                                 data.data ? data.data : "", data.len, &res);
    if (ret != 0) {
        fprintf(stderr, "kadmit fix: %s: %s\n", name, ka_strerror(ret));
        goto cleanup;
    }
    run->files++;
    run->ops += res.n_ops;
    print_notes(&res);
    if (res.parse_error) {
        run->errors++;
    } else {
        run->errors += res.n_errors;
        run->remaining += res.n_notes - res.n_errors;
    }
    int changed = res.text.len != data.len ||
                  (data.len > 0 && memcmp(res.text.data, data.data, data.len) != 0);
    run->files_changed += changed;
    if (run->mode == FIX_STDOUT) {
        if (res.text.len > 0 && fwrite(res.text.data, 1, res.text.len, stdout) != res.text.len) {
            ret = KA_EIO;
        }
    } else if (run->mode == FIX_DIFF && changed) {
        ret = write_diff(stdout, name, data.data ? data.data : "", data.len,
                         res.text.data ? res.text.data : "", res.text.len);
    } else if (run->mode == FIX_WRITE && changed) {
        ret = write_atomic(path, res.text.data ? res.text.data : "", res.text.len);
        if (ret != 0) {
            fprintf(stderr, "kadmit fix: cannot write %s: %s\n", path, strerror(errno));
        }
    }
cleanup:
    ka_fix_result_free(&res);
    ka_buf_free(&data);
    return ret;
}

static int is_manifest(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

/* ka_file_walk's visitor: each manifest file of a directory, or why a directory was skipped. */
static int fix_walked(void *ctx, const char *path, const char *problem)
{
    struct fix_run *run = ctx;
    if (problem != NULL) {
        fprintf(stderr, "kadmit fix: %s: %s\n", path, problem);
        run->errors++;
        return 0;
    }
    return fix_file(run, path);
}

static int fix_path(struct fix_run *run, const char *path)
{
    struct stat st;
    if (strcmp(path, "-") != 0 && stat(path, &st) != 0) {
        return fix_walked(run, path, "no such file or directory");
    }
    if (strcmp(path, "-") == 0 || !S_ISDIR(st.st_mode)) {
        return fix_file(run, path);
    }
    return ka_file_walk(path, is_manifest, fix_walked, run);
}

int ka_cmd_fix(int argc, char **argv)
{
    const char *policies = NULL, *attestations = NULL, *now_text = NULL;
    const char *auth = NULL, *namespace_ = "default";
    struct fix_run run;
    memset(&run, 0, sizeof(run));
    static struct resolve_cache cache; /* ~60 KB: not on the stack */
    memset(&cache, 0, sizeof(cache));
    ka_registry_opts_init(&cache.opts);
    struct ka_fix_resolver resolver = {resolve_image, &cache};
    int writes = 0, diffs = 0, operands = 0, resolve = 0;
    const struct ka_cli_opt flags[] = {
        KA_CLI_POLICY_OPTS(&policies, &attestations),
        KA_CLI_FLAG("write", 'w', &writes, "write the files in place (atomically, mode kept)"),
        KA_CLI_FLAG("diff", 0, &diffs,
                    "print a unified diff (applies with `patch -p0` or `git apply`) instead of "
                    "the fixed manifests"),
        KA_CLI_STRING_ENV("now", 0, &now_text, "KADMIT_NOW", "TIME",
                          "time for time-dependent rules: Unix seconds (default: $KADMIT_NOW, "
                          "else the current time)"),
        KA_CLI_NAMESPACE(&namespace_),
        KA_CLI_FLAG("resolve-digests", 0, &resolve,
                    "contact the registries: every image referenced by tag that image-pinned or "
                    "image-scan-attestation reports becomes repo:tag@sha256:<digest>, the digest "
                    "the registry serves for the tag (its manifest's SHA-256, checked against "
                    "the Docker-Content-Digest header); each resolution is printed"),
        KA_CLI_STRING("auth", 0, &auth, "FILE",
                      "with --resolve-digests: registry credentials, a .dockerconfigjson (e.g. "
                      "~/.docker/config.json)"),
        KA_CLI_REGISTRY_OPTS(&cache.opts),
        KA_CLI_END,
    };
    int done = ka_cli_parse("fix", &fix_usage, flags, argc, argv, &operands);
    if (done >= 0) {
        return done;
    }
    if (writes && diffs) {
        fprintf(stderr, "kadmit fix: -w and --diff exclude each other\n");
        return 2;
    }
    if (!ka_cli_namespace_ok("fix", namespace_)) {
        return 2;
    }
    run.opts.default_namespace = namespace_;
    run.mode = writes ? FIX_WRITE : diffs ? FIX_DIFF : FIX_STDOUT;
    if (operands >= argc) {
        fprintf(stderr, "kadmit fix: name at least one FILE, DIR or -\n");
        ka_cli_usage(stderr, &fix_usage, flags);
        return 2;
    }
    for (int i = operands; i < argc; i++) {
        if (strcmp(argv[i], "-") == 0 && run.mode == FIX_WRITE) {
            fprintf(stderr, "kadmit fix: -w cannot write stdin back\n");
            return 2;
        }
    }
    if (now_text != NULL && now_text[0] != '\0') {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(now_text, &end, 10);
        if (errno != 0 || end == now_text || *end != '\0' || v < 0) {
            fprintf(stderr, "kadmit fix: --now/KADMIT_NOW \"%s\" is not Unix seconds\n", now_text);
            return 2;
        }
        run.opts.now = (int64_t)v;
    }
    struct ka_policy *policy = NULL;
    if (ka_cli_load_policy(policies, attestations, &policy) != 0) {
        return 2;
    }
    run.policy = policy;
    cache.opts.auth_file = auth;
    if (resolve) {
        run.resolver = &resolver;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            fprintf(stderr, "kadmit fix: cannot initialise libcurl\n");
            ka_policy_unref(policy);
            return 2;
        }
    }
    int ret = 0;
    for (int i = operands; ret == 0 && i < argc; i++) {
        ret = fix_path(&run, argv[i]);
    }
    for (size_t i = 0; i < cache.n; i++) {
        free(cache.e[i].image);
    }
    if (resolve) {
        curl_global_cleanup();
    }
    if (fflush(stdout) != 0 && ret == 0) {
        ret = KA_EIO;
    }
    ka_policy_unref(policy);
    fprintf(stderr,
            "kadmit fix: %zu change%s in %zu of %zu file%s; %zu finding%s left to fix by hand",
            run.ops, run.ops == 1 ? "" : "s", run.files_changed, run.files,
            run.files == 1 ? "" : "s", run.remaining, run.remaining == 1 ? "" : "s");
    if (run.errors > 0) {
        fprintf(stderr, "; %zu input error%s (left unchanged)", run.errors,
                run.errors == 1 ? "" : "s");
    }
    fputc('\n', stderr);
    if (ret != 0 || run.errors > 0) {
        if (ret != 0) {
            fprintf(stderr, "kadmit fix: %s\n", ka_strerror(ret));
        }
        return 2;
    }
    return run.remaining > 0 ? 1 : 0;
}
