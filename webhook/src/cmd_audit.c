/* `kadmit audit`: evaluate manifests and snapshots as CREATE, read decision logs, and report. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kadmit/audit.h"
#include "kadmit/cli.h"
#include "kadmit/error.h"
#include "kadmit/relations.h"

#define KA_AUDIT_MAX_DECISION_LOGS 64

static const struct ka_cli_usage audit_usage = {
    "kadmit audit [flags] [FILE|DIR|-]... [--decision-log FILE]...\n"
    "kadmit audit --cluster [--kubeconfig FILE] [--context NAME] [flags]",
    "Evaluates manifests and cluster snapshots as CREATE: kadmit's mutations are\n"
    "applied, then every validation rule runs. Decision logs written by\n"
    "`kadmit serve --decision-log` are read too: what was denied, warned or audited\n"
    "at admission. Truncated or malformed log lines are reported with file:line.\n\n"
    "Input is read as kubectl reads it:\n"
    "  YAML   documents split on `---` lines, each parsed on its own (a broken one is\n"
    "         an error with file:line:column; the others are still evaluated);\n"
    "         anchors, aliases and `<<` merge keys work (alias expansion is bounded);\n"
    "         a `kind: List` (`kubectl get -o yaml`) is read item by item\n"
    "  JSON   one value, a `kind: List` (`kubectl get -o json`, read item by item),\n"
    "         or values back to back or one per line (`jq -c`); bytes after them that\n"
    "         are not JSON are an error with their offset\n"
    "  AdmissionReview requests: their request.object\n"
    "Each document or List item may be at most 8 MiB (--max-object-bytes); the input\n"
    "itself is unbounded.\n\n"
    "Owned objects: a Pod or ReplicaSet whose controller (ownerReferences) is in the\n"
    "same input and is evaluated is counted as owned, not reported again (its\n"
    "controller's template is what it runs). Without its controller in the input\n"
    "(`kubectl get pods -o json`) it is evaluated. Until the input ends, the results\n"
    "of objects waiting for their controller are kept in a temporary file in $TMPDIR\n"
    "(else /tmp; in memory when there is none).\n\n"
    "Every document is accounted for in the summary:\n"
    "  read N: E evaluated, S skipped (kinds kadmit does not check: Service 3, ...;\n"
    "  excluded namespaces: kube-system 2, ...; not Kubernetes objects, no kind or\n"
    "  metadata: Chart.yaml 1, values.yaml 1, ...), O owned (...), X errors\n"
    "An input without any document, or a document that cannot be read or evaluated,\n"
    "makes the exit code 2 (the other documents are still reported).\n\n"
    "Relations (several objects together; rule type \"relation\" in `kadmit rules`):\n"
    "pdb-coverage, hpa-coverage, network-policy-coverage, namespace-guardrails and\n"
    "storage-class-exists are judged once the input is read, over a compact index of\n"
    "the objects (labels, selectors; at most 65536 objects). Each result names the\n"
    "workload (or namespace), what is missing and the kubectl object to add. When\n"
    "the input has no object of a kind a relation needs (no NetworkPolicy at all),\n"
    "the relation is \"not evaluated\" (PolicyReport result skip), not passed or\n"
    "failed.\n",
    "Text output wraps to $COLUMNS, else the terminal's width, else 100 columns.\n"
    "exit: 0 nothing fails, 1 something fails (--fail-on), 2 bad input or policy\n"};

/* Unix seconds, or RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fff]Z". */
static int parse_now(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == 0 && end != s && *end == '\0' && v >= 0) {
        *out = (int64_t)v;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL) {
        return KA_EINVAL;
    }
    if (*end == '.') {
        end++;
        while (*end >= '0' && *end <= '9') {
            end++;
        }
    }
    if (strcmp(end, "Z") != 0) {
        return KA_EINVAL;
    }
    *out = (int64_t)timegm(&tm);
    return 0;
}

static int parse_size(const char *s, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > (1ull << 31)) {
        return KA_EINVAL;
    }
    *out = (size_t)v;
    return 0;
}

/* A KA_CLI_CALL handler: a positive size (parse_size) into *(size_t *)target. */
static int size_flag(void *target, const char *value, char *err, size_t err_len)
{
    if (parse_size(value, target) != 0) {
        snprintf(err, err_len, "must be a positive number");
        return KA_EINVAL;
    }
    return 0;
}

/* Text width: $COLUMNS, else the terminal's, else 100. */
static size_t text_columns(void)
{
    const char *env = getenv("COLUMNS");
    size_t n = 0;
    if (env != NULL && parse_size(env, &n) == 0) {
        return n;
    }
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        return ws.ws_col;
    }
    return 100;
}

/* The directory the audited paths share ("deploy/"), or NULL: reports show sources relative to
 * it. A directory argument counts itself, a file its directory. */
static const char *source_base(char **paths, int n, char *buf, size_t len)
{
    size_t common = 0;
    for (int i = 0; i < n; i++) {
        struct stat st;
        char dir[4096];
        if (strcmp(paths[i], "-") == 0) {
            return NULL;
        }
        if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            size_t l = strlen(paths[i]);
            snprintf(dir, sizeof(dir), "%s%s", paths[i],
                     l > 0 && paths[i][l - 1] == '/' ? "" : "/");
        } else {
            const char *slash = strrchr(paths[i], '/');
            if (slash == NULL) {
                return NULL;
            }
            snprintf(dir, sizeof(dir), "%.*s", (int)(slash - paths[i] + 1), paths[i]);
        }
        if (i == 0) {
            snprintf(buf, len, "%s", dir);
            common = strlen(buf);
            continue;
        }
        size_t k = 0;
        while (k < common && buf[k] == dir[k]) {
            k++;
        }
        while (k > 0 && buf[k - 1] != '/') {
            k--; /* back to a whole directory */
        }
        common = k;
        buf[common] = '\0';
    }
    return common > 0 ? buf : NULL;
}

/* --listed-kinds: "all" or kind names ("NetworkPolicy,StorageClass") that relations read. */
static int parse_listed_kinds(const char *text, unsigned *out)
{
    if (strcmp(text, "all") == 0) {
        *out = KA_REL_ALL;
        return 0;
    }
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", text);
    for (char *p = buf, *comma; p != NULL; p = comma != NULL ? comma + 1 : NULL) {
        comma = strchr(p, ',');
        if (comma != NULL) {
            *comma = '\0';
        }
        unsigned bit = ka_relation_kind_bit(p);
        if (bit == 0) {
            fprintf(stderr,
                    "kadmit audit: --listed-kinds: \"%s\" is not a kind relations read "
                    "(PodDisruptionBudget, HorizontalPodAutoscaler, NetworkPolicy, "
                    "ResourceQuota, LimitRange, StorageClass, or all)\n",
                    p);
            return KA_EINVAL;
        }
        *out |= bit;
    }
    return 0;
}

enum audit_format { FMT_TEXT, FMT_JSON, FMT_MARKDOWN, FMT_HTML, FMT_POLICYREPORT, FMT_JSONL };

/* Output as items are decided: text, jsonl and json write each item at once; the reports keep
 * only what they print: markdown and html render each item's rows at once (markdown its first
 * rows, exemptions and errors; html all, past 64 KiB in a temporary file) and keep its errors;
 * policyreport writes each object's results to a temporary file and the reports one namespace
 * at a time at the end. */
struct stream_out {
    enum audit_format fmt;
    int color;
    size_t hidden;
    struct ka_audit *audit;
    struct ka_audit_json json;
    struct ka_audit_policyreport policyreport;
    struct ka_audit_html html;
    struct ka_audit_markdown markdown;
    struct ka_buf buf;
};

static int emit_item(void *ctx, const struct ka_audit *a, const struct ka_audit_item *it)
{
    struct stream_out *so = ctx;
    if (so->fmt == FMT_POLICYREPORT) { /* written to its spool; errors kept for stderr too */
        int ret = ka_audit_policyreport_item(&so->policyreport, a, it);
        return ret != 0 ? ret : it->error ? KA_AUDIT_KEEP : 0;
    }
    if (so->fmt == FMT_HTML || so->fmt == FMT_MARKDOWN) {
        /* rows rendered now; the counts and charts tally the released findings */
        int ret = so->fmt == FMT_HTML ? ka_audit_html_item(&so->html, a, it)
                                      : ka_audit_markdown_item(&so->markdown, a, it);
        ret = ret != 0 || it->error ? ret : ka_audit_tally_released(so->audit, it);
        return ret != 0 ? ret : it->error ? KA_AUDIT_KEEP : 0;
    }
    ka_buf_reset(&so->buf);
    int ret = so->fmt == FMT_JSONL ? ka_audit_render_jsonl_item(a, it, &so->buf)
              : so->fmt == FMT_JSON
                  ? ka_audit_json_item(&so->json, it, &so->buf)
                  : ka_audit_render_text_item(a, it, so->color, &so->hidden, &so->buf);
    if (ret == 0 && so->buf.len > 0 &&
        (fwrite(so->buf.data, 1, so->buf.len, stdout) != so->buf.len || fflush(stdout) != 0)) {
        ret = KA_EIO; /* flushed: a pipeline sees each result as it is decided */
    }
    if (ret == 0 && so->fmt != FMT_TEXT && it->error) {
        fprintf(stderr, "kadmit audit: %s: %s\n", it->source, it->error_msg);
    }
    return ret;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Progress on a terminal (stderr): documents read, their rate, bytes of the input read. */
struct progress {
    double start, last;
    const char *name;
    size_t total; /* bytes of the current input when known */
    int shown;
};

static void show_progress(void *ctx, size_t documents, size_t bytes)
{
    struct progress *p = ctx;
    double t = now_seconds();
    if (t - p->last < 0.25) {
        return;
    }
    p->last = t;
    p->shown = 1;
    double rate = t > p->start ? (double)documents / (t - p->start) : 0;
    if (p->total > 0) {
        fprintf(stderr, "\r\033[Kkadmit audit: %zu objects read (%.0f/s), %.0f of %.0f MB of %s",
                documents, rate, (double)bytes / 1e6, (double)p->total / 1e6, p->name);
    } else {
        fprintf(stderr, "\r\033[Kkadmit audit: %zu objects read (%.0f/s), %.0f MB of %s", documents,
                rate, (double)bytes / 1e6, p->name);
    }
    fflush(stderr);
}

/* Where kubectl runs against: --kubectl, --kubeconfig, --context. */
struct kubectl_target {
    const char *kubectl, *kubeconfig, *context;
};

/* Run `kubectl ARGS... [--kubeconfig F] [--context C]` with its stdout on *fd, its stderr
 * inherited (or, when quiet, discarded: a later call says the same). The pid, or -1 with the
 * reason printed. */
static pid_t kubectl_spawn(const struct kubectl_target *t, const char *const *argv, int quiet,
                           int *fd)
{
    const char *args[16];
    size_t n = 0;
    args[n++] = t->kubectl;
    for (size_t i = 0; argv[i] != NULL && n < 11; i++) {
        args[n++] = argv[i];
    }
    if (t->kubeconfig != NULL) {
        args[n++] = "--kubeconfig";
        args[n++] = t->kubeconfig;
    }
    if (t->context != NULL) {
        args[n++] = "--context";
        args[n++] = t->context;
    }
    args[n] = NULL;
    int fds[2];
    if (pipe(fds) != 0) {
        fprintf(stderr, "kadmit audit: --cluster: pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "kadmit audit: --cluster: fork: %s\n", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        int null = quiet ? open("/dev/null", O_WRONLY) : -1;
        if (null >= 0) {
            dup2(null, STDERR_FILENO);
            close(null);
        }
        execvp(t->kubectl, (char *const *)args);
        fprintf(stderr,
                "kadmit audit: --cluster: cannot run %s: %s (install kubectl or give "
                "--kubectl PATH)\n",
                t->kubectl, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    *fd = fds[0];
    return pid;
}

/* kubectl's exit status: 0, its exit code, or 128 + the signal that ended it. */
static int kubectl_wait(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Whether the cluster serves Argo Rollouts (discovery, which every authenticated user may read):
 * listing rollouts.argoproj.io where its CRD is not installed would fail the whole `kubectl get`.
 * When discovery fails, the `get` that follows fails too and says why. */
static int serves_rollouts(const struct kubectl_target *t)
{
    static const char *const argv[] = {"api-resources", "--api-group", "argoproj.io", "-o",
                                       "name",          NULL};
    int fd = -1;
    pid_t pid = kubectl_spawn(t, argv, 1, &fd);
    if (pid < 0) {
        return 0;
    }
    char out[8192];
    size_t len = 0;
    ssize_t got;
    while ((got = read(fd, out + len, sizeof(out) - 1 - len)) != 0) {
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0 || (len += (size_t)got) == sizeof(out) - 1) {
            break; /* the names are short: a full buffer is someone else's output */
        }
    }
    out[len] = '\0';
    close(fd);
    int status = kubectl_wait(pid);
    const char *at = strstr(out, "rollouts.argoproj.io\n");
    return status == 0 && at != NULL && (at == out || at[-1] == '\n');
}

/* `kubectl get <kinds> -A -o json` read as it comes. *failed: kubectl could not be run or
 * exited non-zero (its stderr, inherited, says why; one line here says what ran). */
static int audit_cluster(struct ka_audit *a, const struct kubectl_target *t, int *failed)
{
    char kinds[1024];
    snprintf(kinds, sizeof(kinds), "%s%s", ka_relations_cluster_kinds(),
             serves_rollouts(t) ? ",rollouts.argoproj.io" : "");
    const char *const argv[] = {"get", kinds, "--all-namespaces", "-o", "json", NULL};
    int fd = -1;
    pid_t pid = kubectl_spawn(t, argv, 0, &fd);
    if (pid < 0) {
        *failed = 1;
        return 0;
    }
    FILE *f = fdopen(fd, "rb");
    int ret = f != NULL ? ka_audit_add_file(a, "cluster", f) : KA_ENOMEM;
    if (f != NULL) {
        fclose(f);
    } else {
        close(fd);
    }
    int status = kubectl_wait(pid);
    if (status != 0) {
        if (status != 127) {
            fprintf(stderr,
                    "kadmit audit: --cluster: `%s get %s --all-namespaces -o json` failed (%s "
                    "%d): the audit is incomplete\n",
                    t->kubectl, kinds, status > 128 ? "signal" : "exit",
                    status > 128 ? status - 128 : status);
        }
        *failed = 1;
    }
    return ret;
}

int ka_cmd_audit(int argc, char **argv)
{
    const char *policies = NULL, *attestations = NULL, *format = "text", *fail_on = "enforce",
               *color = "auto", *now_text = NULL, *policy_name = "checklist";
    const char *logs[KA_AUDIT_MAX_DECISION_LOGS];
    size_t n_logs = 0, max_results = 0, max_bytes = 0, max_object = 0;
    const char *namespace_ = "default", *listed_kinds = NULL;
    struct kubectl_target target = {"kubectl", NULL, NULL};
    int show_passed = 0, include_owned = 0, quiet = 0, cluster = 0;
    int rc = 2, operands = 0;
    const struct ka_cli_opt flags[] = {
        KA_CLI_POLICY_OPTS(&policies, &attestations),
        KA_CLI_LIST("decision-log", 0, logs, &n_logs, KA_AUDIT_MAX_DECISION_LOGS, "FILE",
                    "a decision log to read, \"-\" for stdin (repeatable, up to " KA_CLI_TEXT(
                        KA_AUDIT_MAX_DECISION_LOGS) ")"),
        KA_CLI_STRING("output", 'o', &format, "FMT",
                      "text (default), json, jsonl, markdown, html or policyreport; text, json "
                      "and jsonl (one JSON record per line, the summary last) are written as "
                      "results are decided"),
        KA_CLI_FLAG("quiet", 'q', &quiet, "no progress line on stderr (shown on a terminal only)"),
        KA_CLI_STRING("fail-on", 'f', &fail_on, "LEVEL",
                      "enforce (default): exit 1 when something is or would be denied; warn: "
                      "also when warned; never: exit 0"),
        KA_CLI_STRING("color", 'c', &color, "WHEN",
                      "auto, always or never: colour in text output (default auto: when stdout "
                      "is a terminal and NO_COLOR is not set)"),
        KA_CLI_FLAG("show-passed", 0, &show_passed,
                    "text: also list objects without findings (default off)"),
        KA_CLI_FLAG("include-owned", 0, &include_owned,
                    "also report objects whose controller is in the input"),
        KA_CLI_NAMESPACE(&namespace_),
        KA_CLI_CALL("max-object-bytes", 0, &max_object, size_flag, "N",
                    "largest document or List item (default 8388608)"),
        KA_CLI_STRING_ENV("now", 0, &now_text, "KADMIT_NOW", "TIME",
                          "time stamped into reports and used by time-dependent rules: Unix "
                          "seconds or RFC 3339 UTC (default: $KADMIT_NOW, else the current time)"),
        KA_CLI_STRING("policy-name", 0, &policy_name, "NAME",
                      "policy name in PolicyReports (default checklist)"),
        KA_CLI_CALL("report-max-results", 0, &max_results, size_flag, "N",
                    "split PolicyReports past N results (default 1000)"),
        KA_CLI_CALL("report-max-bytes", 0, &max_bytes, size_flag, "N",
                    "... or past about N bytes (default 1000000)"),
        KA_CLI_FLAG("cluster", 0, &cluster,
                    "audit the cluster itself: runs `kubectl get <the kinds kadmit checks and "
                    "relations read, and Argo Rollouts where served> -A -o json` with your "
                    "kubeconfig and reads its output as it comes; no FILE"),
        KA_CLI_STRING("kubectl", 0, &target.kubectl, "PATH",
                      "the kubectl to run (default: kubectl from $PATH)"),
        KA_CLI_STRING("kubeconfig", 0, &target.kubeconfig, "FILE",
                      "passed to kubectl (default: $KUBECONFIG, ~/.kube/config)"),
        KA_CLI_STRING("context", 0, &target.context, "NAME", "passed to kubectl"),
        KA_CLI_STRING("listed-kinds", 0, &listed_kinds, "KINDS",
                      "the input lists every object of these kinds (comma-separated, or all), as "
                      "a `kubectl get KIND -A` does: a relation whose kind has no object finds it "
                      "missing rather than reporting \"not evaluated\""),
        KA_CLI_END,
    };
    int done = ka_cli_parse("audit", &audit_usage, flags, argc, argv, &operands);
    if (done >= 0) {
        return done;
    }
    if (!ka_cli_namespace_ok("audit", namespace_)) {
        return 2;
    }
    static const char *const formats[] = {"text", "json",         "markdown",
                                          "html", "policyreport", "jsonl"};
    size_t fmt = 0;
    while (fmt < 6 && strcmp(format, formats[fmt]) != 0) {
        fmt++;
    }
    if (fmt == 6) {
        fprintf(stderr,
                "kadmit audit: unknown output format \"%s\" (text, json, jsonl, markdown, html, "
                "policyreport)\n",
                format);
        return 2;
    }
    if (strcmp(fail_on, "enforce") != 0 && strcmp(fail_on, "warn") != 0 &&
        strcmp(fail_on, "never") != 0) {
        fprintf(stderr, "kadmit audit: --fail-on must be enforce, warn or never\n");
        return 2;
    }
    if (strcmp(color, "auto") != 0 && strcmp(color, "always") != 0 && strcmp(color, "never") != 0) {
        fprintf(stderr, "kadmit audit: --color must be auto, always or never\n");
        return 2;
    }
    int64_t now = (int64_t)time(NULL);
    if (now_text != NULL && now_text[0] != '\0' && parse_now(now_text, &now) != 0) {
        fprintf(stderr,
                "kadmit audit: --now/KADMIT_NOW \"%s\" is not Unix seconds or RFC 3339 "
                "(2026-11-28T12:00:00Z)\n",
                now_text);
        return 2;
    }
    if (cluster && operands < argc) {
        fprintf(stderr, "kadmit audit: --cluster reads the cluster; give no FILE, DIR or -\n");
        return 2;
    }
    if (!cluster && (target.kubeconfig != NULL || target.context != NULL)) {
        fprintf(stderr, "kadmit audit: --kubeconfig and --context go with --cluster\n");
        return 2;
    }
    if (operands >= argc && n_logs == 0 && !cluster) {
        fprintf(stderr, "kadmit audit: name at least one FILE, DIR, - or --decision-log FILE\n");
        ka_cli_usage(stderr, &audit_usage, flags);
        return 2;
    }
    unsigned listed = 0;
    if (listed_kinds != NULL && parse_listed_kinds(listed_kinds, &listed) != 0) {
        return 2;
    }
    struct ka_policy *policy = NULL;
    if ((operands < argc || cluster) && ka_cli_load_policy(policies, attestations, &policy) != 0) {
        return 2;
    }
    struct ka_audit audit;
    ka_audit_init(&audit, policy);
    audit.now = now;
    audit.opts.now = now;
    audit.policy_name = policy_name;
    audit.include_owned = include_owned;
    audit.show_passed = show_passed;
    audit.default_namespace = namespace_;
    audit.read_opts.max_object = max_object;
    audit.text_width = text_columns();
    audit.relations.listed = listed;
    char base[4096];
    audit.source_base = source_base(argv + operands, argc - operands, base, sizeof(base));
    struct ka_buf out;
    ka_buf_init(&out, 1024u * 1024u * 1024u);
    const char *no_color = getenv("NO_COLOR");
    int use_color =
        strcmp(color, "always") == 0 || (strcmp(color, "auto") == 0 && isatty(STDOUT_FILENO) &&
                                         (no_color == NULL || no_color[0] == '\0'));
    /* written (or kept) as results are decided, the summary last */
    struct stream_out so = {.fmt = (enum audit_format)fmt, .color = use_color, .audit = &audit};
    ka_buf_init(&so.buf, 64u * 1024u * 1024u);
    ka_audit_json_init(&so.json);
    ka_audit_policyreport_init(&so.policyreport, max_results, max_bytes);
    ka_audit_html_init(&so.html);
    ka_audit_markdown_init(&so.markdown);
    audit.emit = emit_item;
    audit.emit_ctx = &so;
    struct progress pr = {.start = now_seconds()};
    if (!quiet && isatty(STDERR_FILENO)) {
        audit.progress = show_progress;
        audit.progress_ctx = &pr;
    }
    int ret = 0;
    for (int i = operands; ret == 0 && i < argc; i++) {
        pr.name = argv[i];
        struct stat st;
        pr.total = strcmp(argv[i], "-") != 0 && stat(argv[i], &st) == 0 && S_ISREG(st.st_mode)
                       ? (size_t)st.st_size
                       : 0;
        ret = ka_audit_add_path(&audit, argv[i]);
    }
    if (ret == 0 && cluster) {
        audit.relations.listed = KA_REL_ALL; /* kubectl listed every object of these kinds */
        pr.name = "the cluster";
        pr.total = 0;
        int failed = 0;
        ret = audit_cluster(&audit, &target, &failed);
        if (ret == 0 && failed) {
            rc = 2;
            goto cleanup;
        }
    }
    /* objects settled before the decision logs: json writes its arrays in that order */
    ret = ret ? ret : ka_audit_finish(&audit);
    for (size_t i = 0; ret == 0 && i < n_logs; i++) {
        ret = ka_audit_add_decision_log(&audit, logs[i]);
    }
    ret = ret ? ret : ka_audit_finish(&audit);
    if (audit.progress != NULL && pr.shown) {
        fputs("\r\033[K", stderr); /* clear the progress line */
    }
    if (ret != 0) {
        fprintf(stderr, "kadmit audit: %s\n", ka_strerror(ret));
        goto cleanup;
    }
    switch (fmt) {
    case 0:
        ret = ka_audit_render_text_end(&audit, use_color, so.hidden, 1, &out);
        break;
    case 5:
        ret = ka_audit_render_jsonl_summary(&audit, &out);
        break;
    case 1:
        ret = ka_audit_json_end(&so.json, &audit, &out);
        break;
    case 2:
        ret = ka_audit_markdown_end(&so.markdown, &audit, &out, stdout);
        break;
    case 3:
        ret = ka_audit_html_end(&so.html, &audit, &out, stdout);
        break;
    case 4:
        ret = ka_audit_policyreport_end(&so.policyreport, &audit, &out, stdout);
        break;
    default:
        ret = KA_EINTERNAL;
    }
    if (ret != 0) {
        fprintf(stderr, "kadmit audit: %s\n", ka_strerror(ret));
        goto cleanup;
    }
    if (out.len > 0 && fwrite(out.data, 1, out.len, stdout) != out.len) {
        fprintf(stderr, "kadmit audit: cannot write the report: %s\n", strerror(errno));
        goto cleanup;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "kadmit audit: cannot write the report: %s\n", strerror(errno));
        goto cleanup;
    }
    struct ka_audit_counts counts;
    ka_audit_count(&audit, &counts);
    /* Decision-log problems are reported on stderr too, but they do not change the exit code. */
    for (size_t i = 0; i < audit.n_items && fmt != FMT_TEXT && fmt != FMT_JSONL && fmt != FMT_JSON;
         i++) {
        const struct ka_audit_item *it = &audit.items[i];
        if (it->error) {
            fprintf(stderr, "kadmit audit: %s: %s\n", it->source, it->error_msg);
        }
    }
    if ((operands < argc || cluster) && counts.read == 0) {
        fprintf(stderr, "kadmit audit: the input holds no documents: nothing was evaluated\n");
        rc = 2;
    } else if (counts.errors > 0) {
        rc = 2;
    } else if (strcmp(fail_on, "never") == 0) {
        rc = 0;
    } else if (counts.denied + counts.admissions_denied + counts.relations_denied > 0 ||
               (strcmp(fail_on, "warn") == 0 &&
                counts.warned + counts.admissions_warned + counts.relations_warned > 0)) {
        rc = 1;
    } else {
        rc = 0;
    }
cleanup:
    ka_audit_json_free(&so.json);
    ka_audit_policyreport_free(&so.policyreport);
    ka_audit_html_free(&so.html);
    ka_audit_markdown_free(&so.markdown);
    ka_buf_free(&so.buf);
    ka_buf_free(&out);
    ka_audit_free(&audit);
    ka_policy_unref(policy);
    return rc;
}
