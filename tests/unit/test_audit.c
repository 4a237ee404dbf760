/* Audit: decision-log parsing, escaping in every format, PolicyReport shape and splitting. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ka_test.h"
#include "kadmit/audit.h"
#include "kadmit/error.h"
#include "kadmit/policy.h"

static struct ka_policy *policy;

static const char log_text[] =
    /* 1: a denial */
    "{\"time\":\"2026-11-27T09:15:02.118Z\",\"uid\":\"u1\",\"user\":\"alice\",\"operation\":"
    "\"CREATE\",\"dryRun\":false,\"kind\":\"Deployment\",\"namespace\":\"shop\",\"name\":\"web\","
    "\"endpoint\":\"validate\",\"allowed\":false,\"findings\":[{\"rule\":\"image-pinned\","
    "\"action\":\"enforce\",\"message\":\"image-pinned: Deployment shop/web container \\\"web\\\": "
    "image \\\"a|b\\\" has no tag\",\"container\":\"web\",\"path\":\"/spec\"}]}\n"
    /* 2: blank */
    "\n"
    /* 3: torn in the middle (a short write, then the next line started with \n) */
    "{\"time\":\"2026-11-27T09:15:03.000Z\",\"uid\":\"u2\",\"kind\":\"Pod\",\"allo\n"
    /* 4: JSON, but not ours */
    "{\"level\":\"info\",\"msg\":\"hello\"}\n"
    /* 5: unknown action */
    "{\"time\":\"t\",\"kind\":\"Pod\",\"allowed\":true,\"findings\":[{\"rule\":\"r\",\"action\":"
    "\"explode\"}]}\n"
    /* 6: hostile strings */
    "{\"time\":\"2026-11-27T09:20:11.007Z\",\"uid\":\"u3\",\"user\":\"mallory<script>alert(1)"
    "</script>|x\",\"operation\":\"CREATE\",\"dryRun\":true,\"kind\":\"Pod\",\"namespace\":"
    "\"shop\",\"name\":\"p\",\"endpoint\":\"validate\",\"allowed\":true,\"findings\":[{\"rule\":"
    "\"probes-required\",\"action\":\"warn\",\"message\":\"probes-required: Pod shop/p "
    "container \\\"<img src=x onerror=alert(1)>\\\": has | no probe\",\"container\":\"c\","
    "\"path\":\"\"}]}\n"
    /* 7: truncated last line */
    "{\"time\":\"2026-11-27T09:21:00.000Z\",\"uid\":\"u4\"";

static void load_log(struct ka_audit *a)
{
    ka_audit_init(a, NULL);
    a->now = 1795867200; /* 2026-11-28T12:00:00Z */
    CU_ASSERT_EQUAL_FATAL(
        ka_audit_add_decision_log_bytes(a, "d.log", log_text, sizeof(log_text) - 1), 0);
}

/* log_text rendered by `render` into `out` (initialised here; the caller frees it). */
static void render_log(int (*render)(const struct ka_audit *, struct ka_buf *), struct ka_buf *out)
{
    struct ka_audit a;
    load_log(&a);
    ka_buf_init(out, 1 << 22);
    CU_ASSERT_EQUAL_FATAL(render(&a, out), 0);
    ka_audit_free(&a);
}

static void test_decision_log_parsing(void)
{
    struct ka_audit a;
    load_log(&a);
    KA_EXPECT_ADMISSIONS(&a, .read = 2, .denied = 1, .warned = 1, .problems = 4);
    struct ka_audit_counts c;
    ka_audit_count(&a, &c);
    CU_ASSERT_EQUAL(c.errors, 0); /* log problems are not object errors */
    CU_ASSERT_EQUAL(c.findings, 2);
    CU_ASSERT_EQUAL_FATAL(a.n_items, 6);
    CU_ASSERT_STRING_EQUAL(a.items[0].source, "d.log:1");
    CU_ASSERT_STRING_EQUAL(a.items[0].user, "alice");
    CU_ASSERT_FALSE(a.items[0].allowed);
    CU_ASSERT_EQUAL(a.items[0].findings[0].action, KA_ACTION_ENFORCE);
    CU_ASSERT_STRING_EQUAL(a.items[1].source, "d.log:3");
    KA_ASSERT_HAS(a.items[1].error_msg, "malformed");
    CU_ASSERT_STRING_EQUAL(a.items[2].source, "d.log:4");
    KA_ASSERT_HAS(a.items[2].error_msg, "not a kadmit decision-log line");
    CU_ASSERT_STRING_EQUAL(a.items[3].source, "d.log:5");
    KA_ASSERT_HAS(a.items[3].error_msg, "unknown action");
    CU_ASSERT_STRING_EQUAL(a.items[4].source, "d.log:6");
    CU_ASSERT_TRUE(a.items[4].dry_run);
    CU_ASSERT_STRING_EQUAL(a.items[5].source, "d.log:7");
    KA_ASSERT_HAS(a.items[5].error_msg, "truncated");
    /* short messages drop the "<rule>: <Kind> <ns/name> " prefix */
    CU_ASSERT_STRING_EQUAL(ka_audit_short_message(&a.items[0], &a.items[0].findings[0]),
                           "container \"web\": image \"a|b\" has no tag");
    ka_audit_free(&a);
    ka_audit_free(&a); /* safe twice */
    /* --decision-log-all lines of requests that were not AdmissionReviews are skipped */
    static const char s400[] = "{\"time\":\"t\",\"kind\":\"\",\"allowed\":false,\"status\":400,"
                               "\"reason\":\"not JSON\",\"findings\":[]}\n";
    ka_audit_init(&a, NULL);
    CU_ASSERT_EQUAL(ka_audit_add_decision_log_bytes(&a, "all.log", s400, sizeof(s400) - 1), 0);
    KA_EXPECT_ADMISSIONS(&a, .problems = 1);
    KA_ASSERT_HAS(a.items[0].error_msg, "HTTP 400");
    ka_audit_free(&a);
    /* control characters (terminal escapes) are scrubbed from everything read */
    static const char esc[] = "{\"time\":\"t\",\"kind\":\"Pod\",\"name\":\"p\\u001b[2J\","
                              "\"user\":\"\\u001b]0;pwned\\u0007\",\"allowed\":true,"
                              "\"findings\":[{\"rule\":\"r\",\"action\":\"warn\","
                              "\"message\":\"m\\u001b[31m\"}]}\n";
    ka_audit_init(&a, NULL);
    CU_ASSERT_EQUAL(ka_audit_add_decision_log_bytes(&a, "esc.log", esc, sizeof(esc) - 1), 0);
    CU_ASSERT_EQUAL_FATAL(a.n_items, 1);
    CU_ASSERT_STRING_EQUAL(a.items[0].name, "p?[2J");
    CU_ASSERT_STRING_EQUAL(a.items[0].user, "?]0;pwned?");
    CU_ASSERT_STRING_EQUAL(a.items[0].findings[0].message, "m?[31m");
    struct ka_buf out;
    ka_buf_init(&out, 1 << 20);
    CU_ASSERT_EQUAL(ka_audit_render_text(&a, &out, 0), 0);
    CU_ASSERT_PTR_NULL(memchr(out.data, 0x1b, out.len));
    ka_buf_free(&out);
    ka_audit_free(&a);
    /* a missing file is a problem item, not an error */
    ka_audit_init(&a, NULL);
    CU_ASSERT_EQUAL(ka_audit_add_decision_log(&a, "/nonexistent/decisions.log"), 0);
    KA_EXPECT_ADMISSIONS(&a, .problems = 1);
    ka_audit_free(&a);
}

static void test_html_escaping(void)
{
    struct ka_buf out;
    render_log(ka_audit_render_html, &out);
    KA_ASSERT_LACKS(out.data, "<script>alert", "<img");
    KA_ASSERT_HAS(out.data, "mallory&lt;script&gt;alert(1)&lt;/script&gt;|x",
                  "&lt;img src=x onerror=alert(1)&gt;");
    /* self-contained: no URL is fetched */
    KA_ASSERT_LACKS(out.data, "src=\"http", "href=\"http", "@import");
    KA_ASSERT_HAS(out.data, "id=\"chart-rules\"", "id=\"chart-namespaces\"", "id=\"filter-text\"");
    /* exactly one script element: ours */
    const char *p = out.data;
    int scripts = 0;
    while ((p = strstr(p, "<script")) != NULL) {
        scripts++;
        p++;
    }
    CU_ASSERT_EQUAL(scripts, 1);
    ka_buf_free(&out);
}

static void test_markdown_escaping(void)
{
    struct ka_buf out;
    render_log(ka_audit_render_markdown, &out);
    /* every findings row has exactly 7 unescaped pipes (6 cells) */
    const char *p = strstr(out.data, "### Findings\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    p = strchr(p + 13, '\n') + 1; /* skip the blank line */
    int rows = 0;
    for (const char *line = p; *line == '|' || *line == '\n';) {
        const char *end = strchr(line, '\n');
        if (end == NULL || end == line) {
            break;
        }
        int pipes = 0;
        for (const char *q = line; q < end; q++) {
            pipes += *q == '|' && (q == line || q[-1] != '\\');
        }
        CU_ASSERT_EQUAL(pipes, 7);
        rows++;
        line = end + 1;
    }
    CU_ASSERT_EQUAL(rows, 4); /* header, rule, two findings */
    KA_ASSERT_HAS(out.data, "has \\| no probe", "&lt;img src=x onerror=alert(1)&gt;", "### Errors",
                  "d.log:7");
    ka_buf_free(&out);
}

/* `n` Deployments in namespace `ns`, every other one without resources. */
static char *deployments(const char *ns, int n)
{
    struct ka_buf b;
    ka_buf_init(&b, 1 << 24);
    for (int i = 0; i < n; i++) {
        int r = ka_buf_printf(
            &b,
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d%d, namespace: %s}\n"
            "spec:\n  selector: {matchLabels: {app: d}}\n  template:\n    metadata: {labels: "
            "{app: d}}\n    spec:\n      containers:\n      - name: c\n        image: "
            "registry.example/d:1.0\n        readinessProbe: {tcpSocket: {port: 80}}\n"
            "        livenessProbe: {tcpSocket: {port: 80}}\n%s",
            i, ns,
            i % 2 == 0 ? "        resources: {requests: {cpu: 1, memory: 1Gi}, limits: {cpu: 1, "
                         "memory: 1Gi}}\n"
                       : "");
        CU_ASSERT_EQUAL_FATAL(r, 0);
    }
    return ka_buf_take(&b, NULL);
}

static void check_report_summary(const cJSON *rep)
{
    const cJSON *sum = cJSON_GetObjectItem(rep, "summary");
    const cJSON *results = cJSON_GetObjectItem(rep, "results");
    int pass = 0, fail = 0, warn = 0, error = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, results)
    {
        const char *res = cJSON_GetObjectItem(r, "result")->valuestring;
        pass += strcmp(res, "pass") == 0;
        fail += strcmp(res, "fail") == 0;
        warn += strcmp(res, "warn") == 0;
        error += strcmp(res, "error") == 0;
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(r, "source")->valuestring, "kadmit");
        CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "timestamp"), "seconds"));
        CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(r, "resources")), 1);
    }
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(sum, "pass")->valueint, pass);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(sum, "fail")->valueint, fail);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(sum, "warn")->valueint, warn);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(sum, "error")->valueint, error);
}

static void test_policyreport_split(void)
{
    struct ka_audit a;
    ka_audit_init(&a, policy);
    a.now = 1795867200;
    char *shop = deployments("shop", 25), *pay = deployments("payments", 4);
    char *cluster = deployments("x", 1);
    /* an object without a namespace is where kubectl apply would put it: "default" */
    char *nsless = strstr(cluster, ", namespace: x");
    CU_ASSERT_PTR_NOT_NULL_FATAL(nsless);
    memmove(nsless, nsless + 14, strlen(nsless + 14) + 1);
    CU_ASSERT_EQUAL(ka_audit_add_bytes(&a, "shop.yaml", shop, strlen(shop)), 0);
    CU_ASSERT_EQUAL(ka_audit_add_bytes(&a, "pay.yaml", pay, strlen(pay)), 0);
    CU_ASSERT_EQUAL(ka_audit_add_bytes(&a, "c.yaml", cluster, strlen(cluster)), 0);
    struct ka_buf out;
    ka_buf_init(&out, 1 << 24);
    CU_ASSERT_EQUAL_FATAL(ka_audit_render_policyreport(&a, &out, 10, 0), 0);
    cJSON *list = cJSON_Parse(out.data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(list);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(list, "kind")->valuestring, "List");
    const cJSON *items = cJSON_GetObjectItem(list, "items");
    /* default < payments < shop; shop: 25 objects, 12 without resources -> 25 pass/fail
     * results... split into 10 + 10 + 5 */
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(items), 5);
    static const char *const kinds[] = {"PolicyReport", "PolicyReport", "PolicyReport",
                                        "PolicyReport", "PolicyReport"};
    static const char *const names[] = {"kadmit-checklist", "kadmit-checklist",
                                        "kadmit-checklist-1", "kadmit-checklist-2",
                                        "kadmit-checklist-3"};
    static const char *const spaces[] = {"default", "payments", "shop", "shop", "shop"};
    static const int sizes[] = {1, 4, 10, 10, 5};
    int total_fail = 0;
    for (int i = 0; i < 5; i++) {
        const cJSON *rep = cJSON_GetArrayItem(items, i);
        const cJSON *meta = cJSON_GetObjectItem(rep, "metadata");
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(rep, "apiVersion")->valuestring,
                               "wgpolicyk8s.io/v1alpha2");
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(rep, "kind")->valuestring, kinds[i]);
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(meta, "name")->valuestring, names[i]);
        const cJSON *ns = cJSON_GetObjectItem(meta, "namespace");
        if (spaces[i] == NULL) {
            CU_ASSERT_PTR_NULL(ns);
        } else {
            CU_ASSERT_STRING_EQUAL(ns->valuestring, spaces[i]);
        }
        CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "results")), sizes[i]);
        check_report_summary(rep);
        total_fail += cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "summary"), "fail")->valueint;
    }
    CU_ASSERT_EQUAL(total_fail, 12 + 2); /* odd-numbered Deployments lack resources */
    const cJSON *first =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 2), "results"), 1);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(first, "rule")->valuestring, "resources-required");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(first, "severity")->valuestring, "high");
    cJSON_Delete(list);
    /* byte limit: about 2 KB per report splits every few results */
    ka_buf_reset(&out);
    CU_ASSERT_EQUAL_FATAL(ka_audit_render_policyreport(&a, &out, 0, 2000), 0);
    list = cJSON_Parse(out.data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(list);
    items = cJSON_GetObjectItem(list, "items");
    CU_ASSERT(cJSON_GetArraySize(items) > 5);
    const cJSON *rep;
    int results = 0;
    cJSON_ArrayForEach(rep, items)
    {
        char *text = cJSON_PrintUnformatted(cJSON_GetObjectItem(rep, "results"));
        CU_ASSERT(strlen(text) < 2000 + 600); /* at most one result over the mark */
        free(text);
        results += cJSON_GetArraySize(cJSON_GetObjectItem(rep, "results"));
    }
    CU_ASSERT_EQUAL(results, 30);
    cJSON_Delete(list);
    ka_buf_free(&out);
    free(shop);
    free(pay);
    free(cluster);
    ka_audit_free(&a);
}

/* Streamed (each item released as it is emitted, the output written to a file) and rendered
 * from kept items: the same bytes, html, markdown and policyreport. */
struct streamed {
    struct ka_audit *audit;
    struct ka_audit_html html;
    struct ka_audit_markdown markdown;
    struct ka_audit_policyreport policyreport;
};

static int emit_streamed(void *ctx, const struct ka_audit *a, const struct ka_audit_item *it)
{
    struct streamed *s = ctx;
    int ret = ka_audit_html_item(&s->html, a, it);
    ret = ret ? ret : ka_audit_markdown_item(&s->markdown, a, it);
    ret = ret ? ret : ka_audit_policyreport_item(&s->policyreport, a, it);
    ret = ret ? ret : ka_audit_tally_released(s->audit, it);
    return ret != 0 ? ret : it->error ? KA_AUDIT_KEEP : 0;
}

/* The file's bytes as a NUL-terminated string (caller frees). */
static char *file_text(FILE *f)
{
    long n = ftell(f);
    char *text = n >= 0 ? calloc(1, (size_t)n + 1) : NULL;
    if (text != NULL && (fseek(f, 0, SEEK_SET) != 0 || fread(text, 1, (size_t)n, f) != (size_t)n)) {
        free(text);
        text = NULL;
    }
    return text;
}

static void test_streamed_reports(void)
{
    char *shop = deployments("shop", 420), *pay = deployments("payments", 4);
    struct ka_audit kept, streamed;
    ka_audit_init(&kept, policy);
    ka_audit_init(&streamed, policy);
    kept.now = streamed.now = 1795867200;
    struct streamed s = {.audit = &streamed};
    ka_audit_html_init(&s.html);
    ka_audit_markdown_init(&s.markdown);
    ka_audit_policyreport_init(&s.policyreport, 7, 0);
    streamed.emit = emit_streamed;
    streamed.emit_ctx = &s;
    struct ka_audit *both[] = {&kept, &streamed};
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(ka_audit_add_bytes(both[i], "pay.yaml", pay, strlen(pay)), 0);
        CU_ASSERT_EQUAL(ka_audit_add_bytes(both[i], "shop.yaml", shop, strlen(shop)), 0);
        CU_ASSERT_EQUAL(ka_audit_add_bytes(both[i], "pay.yaml", pay, strlen(pay)), 0);
        CU_ASSERT_EQUAL(ka_audit_finish(both[i]), 0);
    }
    CU_ASSERT_EQUAL(streamed.n_items, 0); /* nothing kept: no errors */
    struct ka_buf want, staging;
    ka_buf_init(&want, 1 << 26);
    ka_buf_init(&staging, 1 << 26);
    FILE *f = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_PTR_NOT_NULL(s.html.rows.file); /* the rows outgrew memory */
    CU_ASSERT_EQUAL_FATAL(ka_audit_render_html(&kept, &want), 0);
    CU_ASSERT_EQUAL_FATAL(ka_audit_html_end(&s.html, &streamed, &staging, f), 0);
    CU_ASSERT_EQUAL(staging.len, 0);
    char *got = file_text(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got, want.data);
    free(got);
    ka_buf_reset(&want);
    CU_ASSERT_EQUAL_FATAL(fseek(f, 0, SEEK_SET), 0);
    CU_ASSERT_EQUAL_FATAL(ftruncate(fileno(f), 0), 0);
    CU_ASSERT_EQUAL_FATAL(ka_audit_render_markdown(&kept, &want), 0);
    CU_ASSERT_EQUAL_FATAL(ka_audit_markdown_end(&s.markdown, &streamed, &staging, f), 0);
    got = file_text(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got, want.data);
    KA_ASSERT_HAS(got, "... and 14 more findings"); /* 214 findings */
    free(got);
    ka_buf_reset(&want);
    CU_ASSERT_EQUAL_FATAL(fseek(f, 0, SEEK_SET), 0);
    CU_ASSERT_EQUAL_FATAL(ftruncate(fileno(f), 0), 0);
    CU_ASSERT_EQUAL_FATAL(ka_audit_render_policyreport(&kept, &want, 7, 0), 0);
    CU_ASSERT_EQUAL_FATAL(ka_audit_policyreport_end(&s.policyreport, &streamed, &staging, f), 0);
    got = file_text(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got, want.data);
    /* shop: 420 results, 7 a report */
    KA_ASSERT_HAS(got, "\"kadmit-checklist-60\"");
    KA_ASSERT_LACKS(got, "\"kadmit-checklist-61\"");
    free(got);
    fclose(f);
    ka_buf_free(&want);
    ka_buf_free(&staging);
    ka_audit_html_free(&s.html);
    ka_audit_markdown_free(&s.markdown);
    ka_audit_policyreport_free(&s.policyreport);
    ka_audit_free(&kept);
    ka_audit_free(&streamed);
    free(shop);
    free(pay);
}

static void test_json_compat(void)
{
    struct ka_audit a;
    ka_audit_init(&a, policy);
    char *d = deployments("shop", 2);
    CU_ASSERT_EQUAL(ka_audit_add_bytes(&a, "d.yaml", d, strlen(d)), 0);
    CU_ASSERT_EQUAL(ka_audit_add_decision_log_bytes(&a, "d.log", log_text, sizeof(log_text) - 1),
                    0);
    struct ka_buf out;
    ka_buf_init(&out, 1 << 22);
    CU_ASSERT_EQUAL_FATAL(ka_audit_render_json(&a, &out), 0);
    cJSON *j = cJSON_Parse(out.data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const cJSON *r1 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), 1);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(r1, "name")->valuestring, "d1");
    CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(r1, "allowed")));
    const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItem(r1, "violations"), 0);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(v, "rule")->valuestring, "resources-required");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(v, "action")->valuestring, "enforce");
    CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(v, "path"));
    CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(r1, "mutations"));
    CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(j, "decisions")), 2);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(j, "decisionLogProblems")), 4);
    const cJSON *sum = cJSON_GetObjectItem(j, "summary");
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(sum, "objects")->valueint, 2);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(sum, "denied")->valueint, 1);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(cJSON_GetObjectItem(sum, "admissions"), "denied")->valueint,
                    1);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(sum, "decisionLogProblems")->valueint, 4);
    cJSON_Delete(j);
    ka_buf_free(&out);
    free(d);
    ka_audit_free(&a);
}

/* A snapshot whose images' signed scans aged or now fail: "would be denied on redeploy", its
 * own kind of finding; an image without any attestation stays a plain violation. */
static void test_would_be_denied_on_redeploy(void)
{
    struct ka_policy *p = NULL;
    struct ka_buf diag;
    ka_buf_init(&diag, 4096);
    CU_ASSERT_EQUAL_FATAL(
        ka_policy_load_path(
            "tests/fixtures/rules/image-scan-attestation/attest-replacement-controller-stale-warn/"
            "policy.yaml",
            NULL, &p, &diag),
        0);
    ka_buf_free(&diag);
    struct ka_audit a;
    ka_audit_init(&a, p);
    a.opts.now =
        1790000000; /* the fixtures' attestations: a 10d old, e newest scan CRITICAL, f none */
    static const char snapshot[] =
        "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":["
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"spine\","
        "\"namespace\":\"ai\"},\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"s\","
        "\"image\":\"r.example/s@sha256:"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}]}}}},"
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"bare\",\"namespace\":"
        "\"ai\"},\"spec\":{\"containers\":[{\"name\":\"b\",\"image\":\"r.example/b@sha256:"
        "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\"}]}},"
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"unscanned\","
        "\"namespace\":\"ai\"},\"spec\":{\"containers\":[{\"name\":\"u\",\"image\":"
        "\"r.example/u@sha256:"
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\"}]}}]}";
    CU_ASSERT_EQUAL_FATAL(ka_audit_add_bytes(&a, "snapshot.json", snapshot, strlen(snapshot)), 0);
    struct ka_audit_counts c;
    ka_audit_count(&a, &c);
    CU_ASSERT_EQUAL(c.objects, 3);
    CU_ASSERT_EQUAL(c.denied, 3);
    CU_ASSERT_EQUAL(c.redeploy, 2);
    struct ka_buf out;
    ka_buf_init(&out, 1 << 20);
    a.text_width = 1000; /* one line per finding */
    CU_ASSERT_EQUAL(ka_audit_render_text(&a, &out, 0), 0);
    KA_ASSERT_HAS(out.data, "2 objects would be denied on redeploy", "StatefulSet ai/spine",
                  "image-scan-attestation: would be denied on redeploy: "
                  "container \"s\": "
                  "a-10d-clean.json: scan is 10d old (max 7d)");
    /* the unscanned pod is denied now, not "on redeploy" */
    const char *unscanned = strstr(out.data, "Pod ai/unscanned");
    CU_ASSERT_PTR_NOT_NULL_FATAL(unscanned);
    const char *block_end = strstr(unscanned, "\n\n");
    const char *redeploy = strstr(unscanned, "redeploy");
    CU_ASSERT(redeploy == NULL || (block_end != NULL && redeploy > block_end));
    ka_buf_reset(&out);
    CU_ASSERT_EQUAL(ka_audit_render_json(&a, &out), 0);
    cJSON *j = cJSON_Parse(out.data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "summary"), "wouldBeDeniedOnRedeploy")->valueint,
        2);
    const cJSON *results = cJSON_GetObjectItem(j, "results");
    const char *want[][2] = {{"would-be-denied-on-redeploy", "scan-age"},
                             {"would-be-denied-on-redeploy", "scan-findings"},
                             {NULL, NULL}};
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetArrayItem(results, i), "violations"), 0);
        const cJSON *kind = cJSON_GetObjectItem(v, "kind"),
                    *stale = cJSON_GetObjectItem(v, "stale");
        if (want[i][0] == NULL) {
            CU_ASSERT_PTR_NULL(kind);
            CU_ASSERT_PTR_NULL(stale);
        } else {
            CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(kind), want[i][0]);
            CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(stale), want[i][1]);
        }
    }
    cJSON_Delete(j);
    ka_buf_reset(&out);
    CU_ASSERT_EQUAL(ka_audit_render_markdown(&a, &out), 0);
    KA_ASSERT_HAS(out.data, "| enforce, would be denied on redeploy | ");
    ka_buf_reset(&out);
    CU_ASSERT_EQUAL(ka_audit_render_html(&a, &out), 0);
    KA_ASSERT_HAS(out.data, ">enforce (would be denied on redeploy)<");
    ka_buf_reset(&out);
    CU_ASSERT_EQUAL(ka_audit_render_policyreport(&a, &out, 0, 0), 0);
    j = cJSON_Parse(out.data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    int kinds = 0;
    const cJSON *rep, *res;
    cJSON_ArrayForEach(rep, cJSON_GetObjectItem(j, "items"))
    {
        cJSON_ArrayForEach(res, cJSON_GetObjectItem(rep, "results"))
        {
            const cJSON *props = cJSON_GetObjectItem(res, "properties");
            const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(props, "kind"));
            kinds += kind != NULL && strcmp(kind, "would-be-denied-on-redeploy") == 0;
        }
    }
    CU_ASSERT_EQUAL(kinds, 2);
    cJSON_Delete(j);
    ka_buf_free(&out);
    ka_audit_free(&a);
    ka_policy_unref(p);
}

/* An exception that exempts an object shows in every format: which rule, which exception, why.
 * The object is evaluated now (through an overlay adding the exception) and the same exemption
 * comes back from a decision log line. */
static void test_exempted_in_every_format(void)
{
    static const char overlay[] =
        "apiVersion: kadmit.dev/v1alpha1\nkind: Policy\nmetadata: {name: tune}\nspec:\n"
        "  base: checklist\n  rules:\n    - id: image-scan-attestation\n      action: off\n"
        "    - id: probes-required\n      exceptions:\n"
        "        - {name: legacy-web, namespaces: [shop], reason: vendor image (OPS-142)}\n";
    static const char pod[] =
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec:\n"
        "  containers:\n    - name: web\n      image: nginx:1.27\n"
        "      resources: {requests: {cpu: 1, memory: 1Gi}, limits: {cpu: 1, memory: 1Gi}}\n";
    static const char logged[] =
        "{\"time\":\"2026-11-27T09:15:02.118Z\",\"uid\":\"u9\",\"user\":\"bob\",\"operation\":"
        "\"CREATE\",\"dryRun\":false,\"kind\":\"Pod\",\"namespace\":\"shop\",\"name\":\"old\","
        "\"endpoint\":\"validate\",\"allowed\":true,\"findings\":[],\"exempted\":[{\"rule\":"
        "\"probes-required\",\"exception\":\"legacy-web\",\"reason\":\"vendor image (OPS-142)\"}]}"
        "\n";
    struct ka_policy *p = NULL;
    struct ka_buf diag;
    ka_buf_init(&diag, 64 * 1024);
    CU_ASSERT_EQUAL_FATAL(
        ka_policy_load_buffer("tune.yaml", overlay, strlen(overlay), NULL, &p, &diag), 0);
    struct ka_audit a;
    ka_audit_init(&a, p);
    a.now = 1795867200;
    CU_ASSERT_EQUAL_FATAL(ka_audit_add_bytes(&a, "pod.yaml", pod, strlen(pod)), 0);
    CU_ASSERT_EQUAL_FATAL(ka_audit_add_decision_log_bytes(&a, "d.log", logged, sizeof(logged) - 1),
                          0);
    CU_ASSERT_EQUAL_FATAL(a.n_items, 2);
    for (size_t i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(a.items[i].n_findings, 0);
        CU_ASSERT_EQUAL_FATAL(a.items[i].n_exemptions, 1);
        CU_ASSERT_STRING_EQUAL(a.items[i].exemptions[0].rule, "probes-required");
        CU_ASSERT_STRING_EQUAL(a.items[i].exemptions[0].exception, "legacy-web");
        CU_ASSERT_STRING_EQUAL(a.items[i].exemptions[0].reason, "vendor image (OPS-142)");
    }
    static const struct {
        const char *format;
        const char *needle;
    } want[] = {
        {"text", "exempt   probes-required: exception \"legacy-web\": vendor image (OPS-142)"},
        {"json", "\"exempted\":\t[{\n\t\t\t\t\t\"rule\":\t\"probes-required\",\n\t\t\t\t\t"
                 "\"exception\":\t\"legacy-web\",\n\t\t\t\t\t\"reason\":\t\"vendor image "
                 "(OPS-142)\""},
        {"markdown", "| Pod shop/web | probes-required | legacy-web | vendor image (OPS-142) |"},
        {"html", "<td>probes-required</td><td>legacy-web</td><td>vendor image (OPS-142)</td>"},
        {"policyreport", "\"result\":\t\"skip\""},
        {"policyreport", "\"message\":\t\"exempted by exception \\\"legacy-web\\\": vendor image "
                         "(OPS-142)\""},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct ka_buf out;
        ka_buf_init(&out, 1 << 22);
        const char *f = want[i].format;
        int ret = strcmp(f, "text") == 0       ? ka_audit_render_text(&a, &out, 0)
                  : strcmp(f, "json") == 0     ? ka_audit_render_json(&a, &out)
                  : strcmp(f, "markdown") == 0 ? ka_audit_render_markdown(&a, &out)
                  : strcmp(f, "html") == 0     ? ka_audit_render_html(&a, &out)
                                           : ka_audit_render_policyreport(&a, &out, 1000, 1 << 20);
        CU_ASSERT_EQUAL(ret, 0);
        if (out.data == NULL || strstr(out.data, want[i].needle) == NULL) {
            fprintf(stderr, "\n%s: wanted \"%s\" in:\n%s\n", f, want[i].needle,
                    out.data ? out.data : "");
            CU_FAIL("exemption not shown");
        }
        ka_buf_free(&out);
    }
    ka_audit_free(&a);
    ka_policy_unref(p);
    ka_buf_free(&diag);
}

/* The checklist without image-scan-attestation (attestations have their own tests), with some
 * rules at warn and audit. Unit tests run in the repository root. */
static int load_audit_policy(struct ka_policy **out, struct ka_buf *diag)
{
    return ka_policy_load_path("tests/fixtures/audit/policy.yaml", NULL, out, diag);
}

static const struct ka_test tests[] = {
    {"decision logs: entries, torn, malformed, foreign and truncated lines",
     test_decision_log_parsing},
    {"html escapes everything and fetches nothing", test_html_escaping},
    {"markdown escapes | and html", test_markdown_escaping},
    {"policyreport: per namespace, cluster report, split by count and bytes",
     test_policyreport_split},
    {"html, markdown and policyreport streamed write what they render from kept items",
     test_streamed_reports},
    {"json keeps the existing fields and adds decisions", test_json_compat},
    {"would be denied on redeploy", test_would_be_denied_on_redeploy},
    {"exempted in every format", test_exempted_in_every_format},
    {NULL, NULL},
};

KA_TEST_MAIN_WITH_POLICY("audit", tests, load_audit_policy, &policy)
