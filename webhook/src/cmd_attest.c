/*
 * `kadmit attest verify`: explain, for one image, what each attestation file says and whether
 * the image would be admitted by the image-scan-attestation rule with the same parameters.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kadmit/attest.h"
#include "kadmit/duration.h"
#include "kadmit/buf.h"
#include "kadmit/cli.h"
#include "kadmit/error.h"
#include "kadmit/file.h"
#include "kadmit/log.h"
#include "kadmit/registry.h"

#define MAX_ARGS 4096

static const struct ka_cli_usage verify_usage = {
    "kadmit attest verify --key KEY [flags] IMAGE@sha256:DIGEST FILE|DIR...",
    "Explain what each attestation file (DSSE envelope, JSON Lines of envelopes as\n"
    "`cosign download attestation` prints, or Sigstore bundle) says about IMAGE, and\n"
    "whether the image-scan-attestation rule would admit it. Directories are read\n"
    "like the webhook reads attestationsDir (every file not starting with \".\").\n",
    "exit: 0 the image passes, 1 it does not, 2 bad usage or unreadable input\n"};

static void fmt_time(int64_t t, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(out, n, "@%lld", (long long)t);
    }
}

static const char *dur(struct ka_buf *b, int64_t s)
{
    ka_buf_reset(b);
    if (ka_attest_format_duration(b, s) != 0 || b->data == NULL) {
        return "?";
    }
    return b->data;
}

/* Print every attestation that came from entries [from, to) of the index. */
static void print_entries(const struct ka_attest_index *idx, size_t from, size_t to,
                          const char *digest, const struct ka_attest_params *p, int64_t now)
{
    struct ka_buf t, why;
    ka_buf_init(&t, 256);
    ka_buf_init(&why, 4096);
    size_t i = from;
    while (i < to) {
        struct ka_attest_entry e, x;
        if (ka_attest_index_entry(idx, i, &e) != 0) {
            break;
        }
        /* entries of one attestation are consecutive: same source and line */
        size_t j = i, match = (size_t)-1;
        if (e.line > 0) {
            printf("  attestation at line %u (%s)\n", e.line, e.format);
        } else {
            printf("  attestation (%s)\n", e.format);
        }
        printf("    statement:  %s\n", e.statement_type);
        printf("    predicate:  %s\n", e.predicate_type);
        while (j < to && ka_attest_index_entry(idx, j, &x) == 0 && x.source == e.source &&
               x.line == e.line) {
            int same = strcmp(x.digest, digest) == 0;
            if (same) {
                match = j;
            }
            printf("    subject:    %s%s\n", x.digest, same ? "  (this image)" : "");
            j++;
        }
        if (e.verified) {
            printf("    signature:  verified with %s\n", e.verified_by);
        } else {
            printf("    signature:  NOT VERIFIED: %s\n", e.problem ? e.problem : "?");
        }
        printf("    scanner:    %s%s%s\n", e.scanner_uri[0] ? e.scanner_uri : "(none)",
               e.scanner_version[0] ? " " : "", e.scanner_version);
        if (e.has_scan_time) {
            char ts[40];
            fmt_time(e.scan_finished, ts, sizeof(ts));
            int64_t age = now - e.scan_finished;
            printf("    scanned:    %s (%s %s)\n", ts, dur(&t, age >= 0 ? age : -age),
                   age >= 0 ? "ago" : "in the future");
        } else {
            printf("    scanned:    (unknown)\n");
        }
        printf("    findings:   ");
        for (int s = 0; s < KA_SEV_COUNT; s++) {
            printf("%s %u%s", ka_attest_sev_name((enum ka_sev)s), e.counts[s],
                   s + 1 < KA_SEV_COUNT ? ", " : "\n");
        }
        if (match == (size_t)-1) {
            printf("    result:     does not apply (no subject is this image)\n");
        } else {
            ka_buf_reset(&why);
            struct ka_attest_entry m;
            int r = ka_attest_index_entry(idx, match, &m);
            r = r ? r : ka_attest_entry_evaluate(&m, digest, p, now, &why);
            printf("    result:     %s%s%s%s\n", r == 0 ? "PASS" : "FAIL", r == 0 ? "" : ": ",
                   r == 0 ? "" : (why.data ? why.data : ka_strerror(r)),
                   m.decides ? " (the newest verified scan: it decides)"
                   : (m.verified && m.problem == NULL)
                       ? " (superseded: a newer verified scan decides)"
                       : "");
        }
        i = j;
    }
    ka_buf_free(&t);
    ka_buf_free(&why);
}

/* Expand FILE|DIR arguments into a list of files (directory entries sorted by name). */
static int add_path(const char *path, char ***files, size_t *n, size_t *cap)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "kadmit attest: %s: %s\n", path, strerror(errno));
        return KA_ENOTFOUND;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (*n >= *cap) {
            size_t c = *cap ? *cap * 2 : 16;
            char **v = realloc(*files, c * sizeof(*v));
            if (v == NULL) {
                return KA_ENOMEM;
            }
            *files = v;
            *cap = c;
        }
        (*files)[*n] = strdup(path);
        if ((*files)[*n] == NULL) {
            return KA_ENOMEM;
        }
        (*n)++;
        return 0;
    }
    struct ka_file_list list;
    int ret = ka_file_list_dir(path, NULL, SIZE_MAX, &list);
    if (ret == KA_ENOMEM) {
        return ret;
    }
    if (ret != 0) {
        fprintf(stderr, "kadmit attest: %s: %s\n", path, strerror(errno));
        return KA_EIO;
    }
    for (size_t i = 0; ret == 0 && i < list.n; i++) {
        char sub[4096];
        int w = snprintf(sub, sizeof(sub), "%s/%s", path, list.names[i]);
        struct stat sst;
        if (w > 0 && (size_t)w < sizeof(sub) && stat(sub, &sst) == 0 && S_ISREG(sst.st_mode)) {
            ret = add_path(sub, files, n, cap);
        }
    }
    ka_file_list_free(&list);
    return ret;
}

/* ---- kadmit attest verify -------------------------------------------------------------------- */

/* What verify's flags fill in; --keyid applies to the --key after it, so keys are read in order. */
struct verify_flags {
    struct ka_attest_keys *keys;
    const char *keyid; /* of the next --key, NULL: any */
    struct ka_attest_params params;
    int64_t now;
    int have_now;
};

static int key_flag(void *target, const char *path, char *err, size_t err_len)
{
    struct verify_flags *vf = target;
    struct ka_buf why, pem;
    ka_buf_init(&why, 4096);
    ka_buf_init(&pem, KA_ATTEST_MAX_FILE);
    int r;
    if (vf->keyid != NULL) {
        r = ka_buf_read_file(&pem, path);
        if (r == 0) {
            r = ka_attest_keys_add_pem(vf->keys, pem.data, pem.len, path, vf->keyid, &why);
        } else {
            snprintf(err, err_len, "%s: %s", path, ka_strerror(r));
        }
        vf->keyid = NULL;
    } else {
        r = ka_attest_keys_add_file(vf->keys, path, &why);
    }
    if (r != 0 && err[0] == '\0') {
        snprintf(err, err_len, "%s", why.data ? why.data : ka_strerror(r));
    }
    ka_buf_free(&why);
    ka_buf_free(&pem);
    return r;
}

static int duration_flag(void *target, const char *value, char *err, size_t err_len)
{
    (void)err, (void)err_len;
    return ka_duration_parse(value, target);
}

static int severity_flag(void *target, const char *value, char *err, size_t err_len)
{
    (void)err, (void)err_len;
    return ka_attest_parse_severity_limits(value, target);
}

static int now_flag(void *target, const char *value, char *err, size_t err_len)
{
    (void)err, (void)err_len;
    struct verify_flags *vf = target;
    vf->have_now = 1;
    return ka_attest_parse_time(value, strlen(value), &vf->now);
}

static int attest_verify(int argc, char **argv)
{
    int ret = 2;
    struct verify_flags vf = {.now = (int64_t)time(NULL)};
    struct ka_attest_index *idx = NULL;
    struct ka_buf data, diag, why, t;
    char **files = NULL;
    size_t nfiles = 0, cap = 0;
    const char *image = NULL;
    ka_attest_params_init(&vf.params);
    /* the report below explains every skipped file; warn-level log lines would repeat it */
    ka_log_threshold = KA_LOG_ERROR;
    ka_buf_init(&data, KA_ATTEST_MAX_FILE);
    ka_buf_init(&diag, 64 * 1024);
    ka_buf_init(&why, 16 * 1024);
    ka_buf_init(&t, 256);

    if (ka_attest_keys_new(&vf.keys) != 0 || ka_attest_index_new(&idx) != 0) {
        fprintf(stderr, "kadmit attest: out of memory\n");
        goto exit;
    }
    int i = 0;
    const struct ka_cli_opt flags[] = {
        KA_CLI_CALL("key", 0, &vf, key_flag, "FILE|GLOB",
                    "trusted PEM public key (ECDSA P-256/P-384, RSA >= 2048; Ed25519 is not "
                    "supported); globs may use braces (keys/*.{pem,pub}); repeatable; required"),
        KA_CLI_CALL("keys", 0, &vf, key_flag, "FILE|GLOB", "the same as --key"),
        KA_CLI_STRING("keyid", 0, &vf.keyid, "ID",
                      "keyid of the next --key: signatures that carry another keyid are not "
                      "tried with it (default: none, any keyid)"),
        KA_CLI_CALL("max-age", 0, &vf.params.max_age_s, duration_flag, "D",
                    "oldest acceptable scan, e.g. 168h, 7d (default 168h)"),
        KA_CLI_CALL("max-future-skew", 0, &vf.params.max_future_skew_s, duration_flag, "D",
                    "how far in the future a scan may be (default 5m)"),
        KA_CLI_CALL("max-severity", 0, &vf.params, severity_flag, "LIST",
                    "most findings per severity (default CRITICAL=0, others unlimited), e.g. "
                    "CRITICAL=0,HIGH=5; -1 means no limit"),
        KA_CLI_CALL("now", 0, &vf, now_flag, "RFC3339",
                    "evaluate as of this time (default: the current time)"),
        KA_CLI_END,
    };
    int done = ka_cli_parse("attest verify", &verify_usage, flags, argc, argv, &i);
    if (done >= 0) {
        ret = done;
        goto exit;
    }
    if (vf.keyid != NULL) {
        fprintf(stderr, "kadmit attest: --keyid must come before the --key it applies to\n");
        goto exit;
    }
    if (ka_attest_keys_count(vf.keys) == 0) {
        fprintf(stderr, "kadmit attest: at least one --key is required\n");
        goto exit;
    }
    if (argc - i < 2) {
        fprintf(stderr, "kadmit attest: need IMAGE@sha256:DIGEST and at least one FILE\n");
        ka_cli_usage(stderr, &verify_usage, flags);
        goto exit;
    }
    image = argv[i++];
    for (; i < argc; i++) {
        int r = add_path(argv[i], &files, &nfiles, &cap);
        if (r != 0) {
            goto exit;
        }
    }
    if (nfiles == 0) {
        fprintf(stderr, "kadmit attest: no files to check\n");
        goto exit;
    }

    /* what we compare against */
    const char *at = strrchr(image, '@');
    char digest[80] = "";
    if (at != NULL) {
        snprintf(digest, sizeof(digest), "%s", at + 1);
    }
    char nowbuf[40];
    fmt_time(vf.now, nowbuf, sizeof(nowbuf));
    printf("image:   %s\n", image);
    printf("keys:   ");
    for (size_t k = 0; k < ka_attest_keys_count(vf.keys); k++) {
        printf(" %s", ka_attest_keys_label(vf.keys, k));
    }
    printf("\nnow:     %s%s\n", nowbuf, vf.have_now ? "" : " (current time)");
    printf("policy:  maxAge %s, ", dur(&t, vf.params.max_age_s));
    printf("maxFutureSkew %s, maxSeverity {", dur(&t, vf.params.max_future_skew_s));
    int any = 0;
    for (int s = 0; s < KA_SEV_COUNT; s++) {
        if (vf.params.max_severity[s] >= 0) {
            printf("%s%s: %d", any ? ", " : "", ka_attest_sev_name((enum ka_sev)s),
                   vf.params.max_severity[s]);
            any = 1;
        }
    }
    printf("}\n");

    for (size_t f = 0; f < nfiles; f++) {
        ka_buf_reset(&data);
        ka_buf_reset(&diag);
        printf("\n%s\n", files[f]);
        int r = ka_buf_read_file(&data, files[f]);
        if (r == KA_ELIMIT) {
            printf("  error:      file is over the %u byte limit\n", KA_ATTEST_MAX_FILE);
            continue;
        }
        if (r != 0) {
            fprintf(stderr, "kadmit attest: %s: %s\n", files[f], ka_strerror(r));
            goto exit;
        }
        size_t before = ka_attest_index_count(idx);
        r = ka_attest_index_add_bytes(idx, files[f], data.data, data.len, vf.keys, &diag);
        if (r == KA_ENOMEM) {
            fprintf(stderr, "kadmit attest: out of memory\n");
            goto exit;
        }
        ka_cli_print_lines(stdout, "  error:      ", diag.data); /* one per skipped document */
        print_entries(idx, before, ka_attest_index_count(idx), digest, &vf.params, vf.now);
    }

    int r = ka_attest_check(idx, image, &vf.params, vf.now, &why);
    if (r == 0) {
        printf("\nverdict: PASS: %s has a verified, recent scan within the limits\n", image);
        ret = 0;
    } else if (r == KA_EATTEST) {
        printf("\nverdict: FAIL: %s\n", why.data ? why.data : "denied");
        ret = 1;
    } else {
        fprintf(stderr, "kadmit attest: %s\n", ka_strerror(r));
        ret = 2;
    }
exit:
    for (size_t f = 0; f < nfiles; f++) {
        free(files[f]);
    }
    free(files);
    ka_attest_index_free(idx);
    ka_attest_keys_free(vf.keys);
    ka_buf_free(&data);
    ka_buf_free(&diag);
    ka_buf_free(&why);
    ka_buf_free(&t);
    return ret;
}

/* ---- kadmit attest sync ---------------------------------------------------------------------- */

static const struct ka_cli_usage sync_usage = {
    "kadmit attest sync --dir DIR [flags] [IMAGE@sha256:DIGEST...]",
    "Fetch the cosign attestations of each image from its OCI registry into DIR as\n"
    "registry-<hex>.jsonl (written atomically), for the image-scan-attestation rule\n"
    "to verify like any other file. Tried per digest: the tag sha256-<hex>.att (DSSE\n"
    "envelopes), the referrers API /v2/<repo>/referrers/sha256:<hex> and its\n"
    "fallback tag sha256-<hex> (Sigstore bundles). Nothing is trusted here:\n"
    "signatures, subjects and scans are checked by the rule when it loads the file.\n",
    "exit (without --interval): 0 every image has attestations written, 1 some image\n"
    "has none or its registry failed (the report says which paths answered what),\n"
    "2 bad usage\n"};

static volatile sig_atomic_t sync_stop;
static void sync_on_signal(int sig)
{
    (void)sig;
    sync_stop = 1;
}

/* Fetch one image; print the registry's answers. Returns 0 or 1. */
static int sync_one(const char *image, const char *dir, const struct ka_registry_opts *o)
{
    struct ka_buf rep;
    ka_buf_init(&rep, 64 * 1024);
    int r = ka_registry_fetch(image, dir, o, &rep, NULL);
    printf("%s: %s\n", image, r == 0 ? "ok" : ka_strerror(r));
    ka_cli_print_lines(stdout, "  ", rep.data);
    fflush(stdout);
    if (r != 0) {
        KA_LOG_W("attest sync: %s: %s", image, ka_strerror(r));
    }
    ka_buf_free(&rep);
    return r == 0 ? 0 : 1;
}

struct sync_list {
    const char *dir;
    const struct ka_registry_opts *o;
    int failed;
};

static int sync_listed(void *ctx, const char *image)
{
    struct sync_list *sl = ctx;
    sl->failed |= sync_one(image, sl->dir, sl->o);
    return sync_stop ? KA_EIO : 0; /* a signal ends the round */
}

/* Images of the --images file. Returns 0 or 1 (unreadable, or a fetch failed). */
static int sync_file(const char *file, const char *dir, const struct ka_registry_opts *o)
{
    struct sync_list sl = {dir, o, 0};
    int r = ka_registry_read_images(file, sync_listed, &sl);
    if (r != 0 && !sync_stop) {
        fprintf(stderr, "kadmit attest sync: %s: %s\n", file, ka_strerror(r));
        return 1;
    }
    return sl.failed;
}

static int interval_flag(void *target, const char *value, char *err, size_t err_len)
{
    (void)err, (void)err_len;
    int64_t *interval = target;
    return ka_duration_parse(value, interval) != 0 || *interval < 1 ? KA_EINVAL : 0;
}

static int timeout_flag(void *target, const char *value, char *err, size_t err_len)
{
    (void)err, (void)err_len;
    int64_t seconds = 0;
    if (ka_duration_parse(value, &seconds) != 0 || seconds < 1 || seconds > 3600) {
        return KA_EINVAL;
    }
    *(long *)target = (long)seconds;
    return 0;
}

static int attempts_flag(void *target, const char *value, char *err, size_t err_len)
{
    (void)err, (void)err_len;
    char *end = NULL;
    long n = strtol(value, &end, 10);
    if (end == value || *end != '\0' || n < 1 || n > 10) {
        return KA_EINVAL;
    }
    *(int *)target = (int)n;
    return 0;
}

static int attest_sync(int argc, char **argv)
{
    const char *dir = NULL, *images = NULL, *auth = NULL;
    int64_t interval = 0;
    struct ka_registry_opts o;
    ka_registry_opts_init(&o);
    int i = 0;
    const struct ka_cli_opt flags[] = {
        KA_CLI_STRING("dir", 0, &dir, "DIR",
                      "the attestation directory (the rule's attestationsDir)"),
        KA_CLI_STRING("images", 0, &images, "FILE",
                      "more images, one per line (# comments); re-read each round"),
        KA_CLI_STRING("auth", 0, &auth, "FILE",
                      "registry credentials: a kubernetes.io/dockerconfigjson Secret's "
                      ".dockerconfigjson, mounted as a file (when it does not exist, registries "
                      "are asked without credentials)"),
        KA_CLI_CALL("interval", 0, &interval, interval_flag, "D",
                    "keep running: fetch every image again every D (e.g. 10m); default: fetch "
                    "once and exit"),
        KA_CLI_CALL("timeout", 0, &o.timeout_s, timeout_flag, "D",
                    "per HTTP request (default 30s)"),
        KA_CLI_CALL("attempts", 0, &o.attempts, attempts_flag, "N",
                    "per HTTP request, with doubling backoff (default 3)"),
        KA_CLI_REGISTRY_OPTS(&o),
        KA_CLI_END,
    };
    int done = ka_cli_parse("attest sync", &sync_usage, flags, argc, argv, &i);
    if (done >= 0) {
        return done;
    }
    if (dir == NULL) {
        fprintf(stderr, "kadmit attest sync: --dir is required\n");
        return 2;
    }
    if (images == NULL && i >= argc) {
        fprintf(stderr, "kadmit attest sync: no images (give IMAGE@sha256:... or --images)\n");
        return 2;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "kadmit attest sync: %s: not a directory\n", dir);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "kadmit attest sync: cannot initialise libcurl\n");
        return 2;
    }
    signal(SIGTERM, sync_on_signal);
    signal(SIGINT, sync_on_signal);
    int ret;
    do {
        ret = 0;
        /* an optional Secret that is not there: fetch anonymously (public registries) */
        o.auth_file = auth != NULL && stat(auth, &st) == 0 ? auth : NULL;
        if (auth != NULL && o.auth_file == NULL) {
            KA_LOG_W("attest sync: %s: no such file; fetching without credentials", auth);
        }
        for (int k = i; k < argc && !sync_stop; k++) {
            ret |= sync_one(argv[k], dir, &o);
        }
        if (images != NULL && !sync_stop) {
            ret |= sync_file(images, dir, &o);
        }
        for (int64_t s = 0; interval > 0 && s < interval && !sync_stop; s++) {
            sleep(1);
        }
    } while (interval > 0 && !sync_stop);
    curl_global_cleanup();
    return ret;
}

int ka_cmd_attest(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        char *verify_help[] = {"verify", "--help", NULL}, *sync_help[] = {"sync", "--help", NULL};
        int ret = attest_verify(2, verify_help);
        printf("\n");
        return ret != 0 ? ret : attest_sync(2, sync_help);
    }
    if (argc < 2) {
        fprintf(stderr, "usage: kadmit attest verify|sync ... (see kadmit attest --help)\n");
        return 2;
    }
    if (strcmp(argv[1], "verify") == 0) {
        return attest_verify(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "sync") == 0) {
        return attest_sync(argc - 1, argv + 1);
    }
    fprintf(stderr, "kadmit attest: unknown subcommand \"%s\" (try: verify, sync)\n", argv[1]);
    return 2;
}
