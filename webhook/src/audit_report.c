/*
 * Audit reports for people and tools: the report view (summary, accounting and error blocks
 * that every renderer shares), text for terminals, Markdown (pull-request comments), one
 * self-contained HTML
 * page (inline CSS, inline SVG charts drawn here, a little inline JS for filtering; no network
 * fetches), and wgpolicyk8s.io/v1alpha2 PolicyReports. Part of the audit module (audit.h).
 *
 * Everything is deterministic: rows follow input order, counts sort by count then name, and the
 * only time is a->now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "kadmit/audit.h"
#include "kadmit/error.h"
#include "kadmit/limits.h"

/* Bars in one SVG chart. */
#define KA_AUDIT_CHART_MAX_BARS 20

/* ------------------------------------------------------------------------------------------
 * Tallies: findings by rule and by namespace
 */

static const char *ns_label(const char *ns)
{
    return ns[0] != '\0' ? ns : "(no namespace)";
}

/* Count n findings of `act` under key (borrowed, or copied when `copy`). */
static int tally_add_n(struct ka_audit_tallies *t, const char *key, int copy, size_t enforce,
                       size_t warn, size_t audit)
{
    size_t i = 0;
    while (i < t->n && strcmp(t->v[i].key, key) != 0) {
        i++;
    }
    if (i == t->n) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 16;
            struct ka_audit_tally *p = realloc(t->v, cap * sizeof(*p));
            if (p == NULL) {
                return KA_ENOMEM;
            }
            t->v = p;
            t->cap = cap;
        }
        memset(&t->v[t->n], 0, sizeof(t->v[0]));
        t->v[t->n].key = copy ? strdup(key) : key;
        if (t->v[t->n].key == NULL) {
            return KA_ENOMEM;
        }
        t->n++;
    }
    struct ka_audit_tally *e = &t->v[i];
    e->enforce += enforce;
    e->warn += warn;
    e->audit += audit;
    e->total += enforce + warn + audit;
    return 0;
}

static int tally_add(struct ka_audit_tallies *t, const char *key, enum ka_action act)
{
    return tally_add_n(t, key, 0, act == KA_ACTION_ENFORCE, act == KA_ACTION_WARN,
                       act != KA_ACTION_ENFORCE && act != KA_ACTION_WARN);
}

int ka_audit_tally_released(struct ka_audit *a, const struct ka_audit_item *it)
{
    int ret = 0;
    for (size_t f = 0; ret == 0 && !it->error && f < it->n_findings; f++) {
        enum ka_action act = it->findings[f].action;
        size_t e = act == KA_ACTION_ENFORCE, w = act == KA_ACTION_WARN, au = !e && !w;
        ret = tally_add_n(&a->released_by_rule, it->findings[f].rule, 1, e, w, au);
        ret = ret ? ret
                  : tally_add_n(&a->released_by_namespace, ns_label(it->namespace_), 1, e, w, au);
    }
    return ret;
}

void ka_audit_tallies_free(struct ka_audit_tallies *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free((char *)t->v[i].key);
    }
    free(t->v);
    memset(t, 0, sizeof(*t));
}

static int cmp_tally(const void *x, const void *y)
{
    const struct ka_audit_tally *a = x, *b = y;
    if (a->total != b->total) {
        return a->total > b->total ? -1 : 1;
    }
    return strcmp(a->key, b->key);
}

/* by_ns: key by namespace, else by rule. */
static int tally_build(const struct ka_audit *a, int by_ns, struct ka_audit_tallies *t)
{
    memset(t, 0, sizeof(*t));
    const struct ka_audit_tallies *released =
        by_ns ? &a->released_by_namespace : &a->released_by_rule;
    for (size_t i = 0; i < released->n; i++) {
        const struct ka_audit_tally *r = &released->v[i];
        int ret = tally_add_n(t, r->key, 0, r->enforce, r->warn, r->audit);
        if (ret != 0) {
            return ret;
        }
    }
    for (size_t i = 0; i < a->n_items; i++) {
        const struct ka_audit_item *it = &a->items[i];
        for (size_t f = 0; !it->error && f < it->n_findings; f++) {
            int ret = tally_add(t, by_ns ? ns_label(it->namespace_) : it->findings[f].rule,
                                it->findings[f].action);
            if (ret != 0) {
                return ret;
            }
        }
    }
    if (t->n > 1) {
        qsort(t->v, t->n, sizeof(t->v[0]), cmp_tally);
    }
    return 0;
}

static void tally_free(struct ka_audit_tallies *t)
{
    free(t->v);
    memset(t, 0, sizeof(*t));
}

static void rfc3339(int64_t secs, char *buf, size_t len)
{
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, len, "1970-01-01T00:00:00Z");
        return;
    }
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *origin_label(const struct ka_audit_item *it)
{
    return it->origin == KA_AUDIT_ADMISSION ? "admission" : "object";
}

/* ------------------------------------------------------------------------------------------
 * The report view: what every renderer shows, written once
 */

const char *ka_audit_short_message(const struct ka_audit_item *it, const struct ka_audit_finding *f)
{
    const char *m = f->message;
    size_t n = strlen(f->rule);
    if (n > 0 && strncmp(m, f->rule, n) == 0 && m[n] == ':' && m[n + 1] == ' ') {
        m += n + 2;
    }
    /* "<Kind> <ns/name> " or "<Kind> <name> " */
    char obj[400];
    if (it->namespace_[0] != '\0') {
        snprintf(obj, sizeof(obj), "%s %s/%s", it->kind, it->namespace_, it->name);
    } else {
        snprintf(obj, sizeof(obj), "%s %s", it->kind, it->name);
    }
    size_t on = strlen(obj);
    if (on > 0 && strncmp(m, obj, on) == 0 && (m[on] == ' ' || m[on] == ':')) {
        m += on + 1;
        while (*m == ' ') {
            m++;
        }
    }
    return *m != '\0' ? m : f->message;
}

const char *ka_audit_finding_kind(const struct ka_audit_item *it, const struct ka_audit_finding *f)
{
    return f->stale != KA_STALE_NONE && it->origin == KA_AUDIT_OBJECT
               ? "would-be-denied-on-redeploy"
               : NULL;
}

const char *ka_audit_verdict(const struct ka_audit_item *it)
{
    if (it->not_evaluated) {
        return "SKIP";
    }
    if (!it->allowed) {
        return "DENY";
    }
    int warn = 0, audit = 0;
    for (size_t f = 0; f < it->n_findings; f++) {
        warn |= it->findings[f].action == KA_ACTION_WARN;
        audit |= it->findings[f].action == KA_ACTION_AUDIT;
    }
    return warn ? "WARN" : audit ? "AUDIT" : "PASS";
}

const char *ka_audit_source(const struct ka_audit *a, const struct ka_audit_item *it)
{
    size_t n = a->source_base != NULL ? strlen(a->source_base) : 0;
    if (n > 0 && strncmp(it->source, a->source_base, n) == 0 && it->source[n] != '\0') {
        return it->source + n;
    }
    return it->source;
}

static int plain(struct ka_buf *out, const char *text)
{
    return ka_buf_adds(out, text);
}

/* "(what: Name 3, Other 1, other things N" of one tally, opened by *open (" (" first, then
 * "; "); nothing for an empty tally. */
static int add_tally(struct ka_buf *out, const struct ka_audit_markup *m,
                     const struct ka_audit_name_tally *t, const char **open, const char *what,
                     const char *other)
{
    int (*esc)(struct ka_buf *, const char *) = m->escape != NULL ? m->escape : plain;
    int ret = 0;
    for (size_t i = 0; ret == 0 && i < t->n_top; i++) {
        ret = i == 0 ? ka_buf_printf(out, "%s%s: ", *open, what) : ka_buf_adds(out, ", ");
        ret = ret ? ret : esc(out, t->top[i].name);
        ret = ret ? ret : ka_buf_printf(out, " %zu", t->top[i].n);
    }
    if (ret == 0 && t->other > 0) {
        ret = ka_buf_printf(out, "%s%s %zu", t->n_top > 0 ? ", " : *open, other, t->other);
    }
    if (t->n_top + t->other > 0) {
        *open = "; ";
    }
    return ret;
}

int ka_audit_render_summary(const struct ka_audit *a, const struct ka_audit_counts *c,
                            const struct ka_audit_markup *m, struct ka_buf *out)
{
    int ret = 0;
    if (c->read > 0 || c->admissions + c->log_problems == 0) {
        ret = ka_buf_printf(out,
                            "%s%s%zu objects%s: %s%zu denied%s, %s%zu warned%s, %zu audit-only, "
                            "%s%zu passed%s; %zu would be mutated%s",
                            m->line, m->strong, c->objects, m->strong_end, m->deny, c->denied,
                            m->end, m->warn, c->warned, m->end, c->audited, m->pass, c->passed,
                            m->end, c->mutated, m->line_end);
        /* the accounting line: every document read is in exactly one of these */
        ret = ret ? ret
                  : ka_buf_printf(out, "%sread %zu: %zu evaluated, %zu skipped", m->line, c->read,
                                  c->objects, c->skipped);
        const char *open = " (";
        ret = ret ? ret
                  : add_tally(out, m, &a->skipped_kinds, &open, "kinds kadmit does not check",
                              "other kinds");
        ret = ret ? ret
                  : add_tally(out, m, &a->skipped_namespaces, &open, "excluded namespaces",
                              "other namespaces");
        if (ret == 0 && open[0] != ' ') {
            ret = ka_buf_adds(out, ")");
        }
        ret = ret ? ret
                  : ka_buf_printf(out, ", %zu owned (their controller was evaluated), %zu errors%s",
                                  c->owned, c->errors, m->line_end);
    }
    if (ret == 0 && c->relations > 0) {
        ret = ka_buf_printf(out,
                            "%s%s%zu relation checks%s (several objects together): %s%zu "
                            "failed%s, %s%zu warned%s, %zu audit-only, %s%zu passed%s, %zu not "
                            "evaluated (the input lacks a kind they need)%s",
                            m->line, m->strong, c->relations, m->strong_end, m->deny,
                            c->relations_denied, m->end, m->warn, c->relations_warned, m->end,
                            c->relations_audited, m->pass, c->relations_passed, m->end,
                            c->relations_not_evaluated, m->line_end);
    }
    if (ret == 0 && c->relations_not_evaluated > 0) {
        const char *open = "";
        ret = ka_buf_adds(out, m->line);
        ret = ret ? ret
                  : add_tally(out, m, &a->not_evaluated, &open,
                              "not evaluated, the input has no objects of their kind",
                              "other relations");
        ret = ret ? ret : ka_buf_adds(out, m->line_end);
    }
    if (ret == 0 && c->redeploy > 0) {
        ret = ka_buf_printf(out,
                            "%s%s%zu objects would be denied on redeploy%s: their images' signed "
                            "scans are older than maxAge or now fail (running pods are still "
                            "replaced; publish fresh scans before the next rollout)%s",
                            m->line, m->deny, c->redeploy, m->end, m->line_end);
    }
    if (ret == 0 && c->admissions + c->log_problems > 0) {
        ret = ka_buf_printf(out,
                            "%s%s%zu admissions%s in decision logs: %s%zu denied%s, %s%zu "
                            "warned%s, %zu audit-only, %s%zu passed%s; %zu log lines skipped%s",
                            m->line, m->strong, c->admissions, m->strong_end, m->deny,
                            c->admissions_denied, m->end, m->warn, c->admissions_warned, m->end,
                            c->admissions_audited, m->pass, c->admissions_passed, m->end,
                            c->log_problems, m->line_end);
    }
    return ret;
}

int ka_audit_render_errors(const struct ka_audit *a, const struct ka_audit_markup *m,
                           struct ka_buf *out)
{
    int (*esc)(struct ka_buf *, const char *) = m->escape != NULL ? m->escape : plain;
    int ret = 0, any = 0;
    for (size_t i = 0; ret == 0 && i < a->n_items; i++) {
        const struct ka_audit_item *it = &a->items[i];
        if (!it->error) {
            continue;
        }
        ret = any ? 0 : ka_buf_adds(out, m->errors_head);
        any = 1;
        ret = ret ? ret : ka_buf_adds(out, m->error_item);
        ret = ret ? ret : esc(out, ka_audit_source(a, it));
        ret = ret ? ret : ka_buf_adds(out, m->error_sep);
        ret = ret ? ret : esc(out, it->error_msg);
        ret = ret ? ret : ka_buf_adds(out, m->error_item_end);
    }
    return ret == 0 && any ? ka_buf_adds(out, m->errors_tail) : ret;
}

/* ------------------------------------------------------------------------------------------
 * Text
 */

/* Columns a UTF-8 string takes (one per character; wide characters are rare here), not
 * counting ANSI colour sequences (ESC [ ... m). */
static size_t columns(const char *s, size_t n)
{
    size_t cols = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\033') {
            while (i < n && s[i] != 'm') {
                i++;
            }
            continue;
        }
        cols += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    return cols;
}

/* `text` from column `col` on, wrapped at `width` with continuation lines indented by `indent`;
 * ends the line. A word longer than a line is not split. */
static int text_wrapped(struct ka_buf *out, const char *text, size_t col, size_t indent,
                        size_t width)
{
    int ret = 0;
    const char *p = text;
    int first = 1;
    while (ret == 0 && *p != '\0') {
        while (*p == ' ') {
            p++;
        }
        const char *e = p;
        while (*e != '\0' && *e != ' ') {
            e++;
        }
        if (e == p) {
            break;
        }
        size_t w = columns(p, (size_t)(e - p));
        if (!first && col + 1 + w > width && col > indent) {
            ret = ka_buf_printf(out, "\n%*s", (int)indent, "");
            col = indent;
        } else if (!first) {
            ret = ka_buf_add(out, " ", 1);
            col++;
        }
        ret = ret ? ret : ka_buf_add(out, p, (size_t)(e - p));
        col += w;
        first = 0;
        p = e;
    }
    return ret ? ret : ka_buf_add(out, "\n", 1);
}

/* Width of the text report: a->text_width, at least 40. */
static size_t text_width(const struct ka_audit *a)
{
    return a->text_width >= 40 ? a->text_width : a->text_width == 0 ? 100 : 40;
}

struct text_style {
    const char *red, *yellow, *green, *dim, *bold, *reset;
};

static struct text_style text_style(int color)
{
    struct text_style t = {"", "", "", "", "", ""};
    if (color) {
        t = (struct text_style){"\033[31m", "\033[33m", "\033[32m",
                                "\033[2m",  "\033[1m",  "\033[0m"};
    }
    return t;
}

/* The summary sentences, each wrapped. */
static int text_summary(const struct ka_audit *a, int color, struct ka_buf *out)
{
    struct ka_audit_counts c;
    ka_audit_count(a, &c);
    struct text_style t = text_style(color);
    const struct ka_audit_markup markup = {.deny = t.red,
                                           .warn = t.yellow,
                                           .pass = t.green,
                                           .end = t.reset,
                                           .strong = "",
                                           .strong_end = "",
                                           .line = "",
                                           .line_end = "\n"};
    struct ka_buf summary;
    ka_buf_init(&summary, 64u * 1024u);
    int ret = ka_audit_render_summary(a, &c, &markup, &summary);
    for (char *line = summary.data, *nl; ret == 0 && line != NULL && *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        *nl = '\0'; /* every sentence ends with "\n" (markup.line_end) */
        ret = text_wrapped(out, line, 0, 2, text_width(a));
    }
    ka_buf_free(&summary);
    return ret;
}

int ka_audit_render_text_item(const struct ka_audit *a, const struct ka_audit_item *it, int color,
                              size_t *hidden, struct ka_buf *out)
{
    struct text_style t = text_style(color);
    const char *red = t.red, *yellow = t.yellow, *green = t.green, *dim = t.dim, *bold = t.bold,
               *reset = t.reset;
    const size_t width = text_width(a), indent = 16; /* "       enforce  " */
    int ret = 0;
    if (it->error) {
        ret = ka_buf_printf(out, "\n%s%s%s  %s\n       ", red,
                            it->origin == KA_AUDIT_ADMISSION ? "SKIPPED" : "ERROR", reset,
                            it->source);
        return ret ? ret : text_wrapped(out, it->error_msg, 7, 7, width);
    }
    const char *verdict = ka_audit_verdict(it);
    if (it->not_evaluated) {
        ret = ka_buf_printf(out, "\n%sSKIP %s  %s%s %s%s%s%s  %s(%s)%s\n       %sskip   %s  ", dim,
                            reset, bold, it->kind, it->namespace_, it->namespace_[0] ? "/" : "",
                            it->name, reset, dim, it->source, reset, dim, reset);
        char line[600];
        snprintf(line, sizeof(line), "%s: %s", it->relation, it->error_msg);
        return ret ? ret : text_wrapped(out, line, indent, indent, width);
    }
    if (!a->show_passed && strcmp(verdict, "PASS") == 0 && it->n_mutations == 0 &&
        it->n_exemptions == 0) {
        (*hidden)++;
        return 0;
    }
    const char *vc = verdict[0] == 'D'   ? red
                     : verdict[0] == 'W' ? yellow
                     : verdict[0] == 'P' ? green
                                         : dim;
    /* the object once, then its findings without repeating it */
    char what[600];
    if (it->origin == KA_AUDIT_ADMISSION) {
        snprintf(what, sizeof(what), "%s %s %s%s%s", it->operation, it->kind, it->namespace_,
                 it->namespace_[0] ? "/" : "", it->name);
    } else {
        snprintf(what, sizeof(what), "%s %s%s%s", it->kind, it->namespace_,
                 it->namespace_[0] ? "/" : "", it->name);
    }
    char where[800];
    if (it->origin == KA_AUDIT_ADMISSION) {
        snprintf(where, sizeof(where), "at %s by %s via %s%s (%s)", it->time,
                 it->user[0] ? it->user : "?", it->endpoint, it->dry_run ? ", dry run" : "",
                 it->source);
    } else {
        snprintf(where, sizeof(where), "(%s)", it->source);
    }
    size_t used = 7 + columns(what, strlen(what)) + 2;
    int fits = used + columns(where, strlen(where)) <= width;
    ret = ka_buf_printf(out, "\n%s%-5s%s  %s%s%s%s%*s%s%s%s\n", vc, verdict, reset, bold, what,
                        reset, fits ? "  " : "\n", fits ? 0 : 7, "", dim, where, reset);
    for (size_t f = 0; ret == 0 && f < it->n_findings; f++) {
        const struct ka_audit_finding *fd = &it->findings[f];
        const char *ac = fd->action == KA_ACTION_ENFORCE ? red
                         : fd->action == KA_ACTION_WARN  ? yellow
                                                         : dim;
        char line[KA_MAX_MESSAGE_LEN + 200];
        snprintf(line, sizeof(line), "%s: %s%s", fd->rule,
                 ka_audit_finding_kind(it, fd) != NULL ? "would be denied on redeploy: " : "",
                 ka_audit_short_message(it, fd));
        ret = ka_buf_printf(out, "       %s%-7s%s  ", ac, ka_action_name(fd->action), reset);
        ret = ret ? ret : text_wrapped(out, line, indent, indent, width);
    }
    if (ret == 0 && it->n_dropped_findings > 0) {
        ret = ka_buf_printf(out, "       ... and %zu more findings\n", it->n_dropped_findings);
    }
    for (size_t e = 0; ret == 0 && e < it->n_exemptions; e++) {
        const struct ka_audit_exemption *ex = &it->exemptions[e];
        char line[512];
        snprintf(line, sizeof(line), "%s: exception \"%s\": %s", ex->rule, ex->exception,
                 ex->reason);
        ret = ka_buf_printf(out, "       %sexempt %s  ", dim, reset);
        ret = ret ? ret : text_wrapped(out, line, indent, indent, width);
    }
    for (size_t m = 0; ret == 0 && m < it->n_mutations; m++) {
        ret = ka_buf_printf(out, "       %smutate %s  %s: %s %s\n", dim, reset,
                            it->mutations[m].rule, it->mutations[m].op, it->mutations[m].path);
    }
    return ret;
}

int ka_audit_render_text_end(const struct ka_audit *a, int color, size_t hidden, int summary,
                             struct ka_buf *out)
{
    struct text_style t = text_style(color);
    int ret = 0;
    if (hidden > 0) {
        ret = ka_buf_printf(out, "\n%s%zu passing %s not listed (--show-passed lists them)%s\n",
                            t.dim, hidden, hidden == 1 ? "entry" : "entries", t.reset);
    }
    if (ret == 0 && summary) {
        ret = ka_buf_adds(out, "\n");
        ret = ret ? ret : text_summary(a, color, out);
    }
    return ret;
}

int ka_audit_render_text(const struct ka_audit *a, struct ka_buf *out, int color)
{
    int ret = text_summary(a, color, out);
    size_t hidden = 0;
    for (size_t i = 0; ret == 0 && i < a->n_items; i++) {
        ret = ka_audit_render_text_item(a, &a->items[i], color, &hidden, out);
    }
    return ret ? ret : ka_audit_render_text_end(a, color, hidden, 0, out);
}

/* ------------------------------------------------------------------------------------------
 * Markdown
 */

/* A table cell: `|` and Markdown punctuation escaped, newlines folded, < > & as entities. */
static int md_cell(struct ka_buf *b, const char *s)
{
    int ret = 0;
    for (const char *p = s; ret == 0 && *p != '\0'; p++) {
        switch (*p) {
        case '|':
        case '\\':
        case '`':
        case '*':
        case '_':
        case '[':
        case ']':
        case '#':
            ret = ka_buf_printf(b, "\\%c", *p);
            break;
        case '<':
            ret = ka_buf_adds(b, "&lt;");
            break;
        case '>':
            ret = ka_buf_adds(b, "&gt;");
            break;
        case '&':
            ret = ka_buf_adds(b, "&amp;");
            break;
        case '\n':
        case '\r':
        case '\t':
            ret = ka_buf_add(b, " ", 1);
            break;
        default:
            ret = ka_buf_add(b, p, 1);
        }
    }
    return ret;
}

/* The object's cell: "Kind namespace/name" (no namespace: "Kind name"). */
static int md_object_cell(struct ka_buf *out, const struct ka_audit_item *it)
{
    int ret = md_cell(out, it->kind);
    ret = ret ? ret : ka_buf_adds(out, " ");
    if (ret == 0 && it->namespace_[0] != '\0') {
        ret = md_cell(out, it->namespace_);
        ret = ret ? ret : ka_buf_adds(out, "/");
    }
    return ret ? ret : md_cell(out, it->name);
}

static const struct ka_audit_markup md_markup = {.escape = md_cell,
                                                 .deny = "",
                                                 .warn = "",
                                                 .pass = "",
                                                 .end = "",
                                                 .strong = "**",
                                                 .strong_end = "**",
                                                 .line = "",
                                                 .line_end = "\n\n",
                                                 .errors_head = "\n### Errors\n\n",
                                                 .error_item = "- ",
                                                 .error_sep = ": ",
                                                 .error_item_end = "\n",
                                                 .errors_tail = ""};

static int md_tally_table(struct ka_buf *out, const char *title, const char *col,
                          const struct ka_audit_tallies *t)
{
    int ret = ka_buf_printf(out,
                            "\n### %s\n\n| %s | Enforce | Warn | Audit | Total |\n"
                            "|---|---:|---:|---:|---:|\n",
                            title, col);
    for (size_t i = 0; ret == 0 && i < t->n; i++) {
        ret = ka_buf_adds(out, "| ");
        ret = ret ? ret : md_cell(out, t->v[i].key);
        ret = ret ? ret
                  : ka_buf_printf(out, " | %zu | %zu | %zu | %zu |\n", t->v[i].enforce,
                                  t->v[i].warn, t->v[i].audit, t->v[i].total);
    }
    if (ret == 0 && t->n == 0) {
        ret = ka_buf_adds(out, "| (none) | 0 | 0 | 0 | 0 |\n");
    }
    return ret;
}

/* What the Markdown and HTML reports show around their tables: the counts, the time, and the
 * findings tallied by rule and by namespace. */
struct report_view {
    struct ka_audit_counts c;
    char when[40];
    struct ka_audit_tallies rules, spaces;
};

static void view_free(struct report_view *v)
{
    tally_free(&v->rules);
    tally_free(&v->spaces);
}

static int view_build(const struct ka_audit *a, struct report_view *v)
{
    memset(v, 0, sizeof(*v));
    ka_audit_count(a, &v->c);
    rfc3339(a->now, v->when, sizeof(v->when));
    int ret = tally_build(a, 0, &v->rules);
    return ret ? ret : tally_build(a, 1, &v->spaces);
}

int ka_audit_render_markdown(const struct ka_audit *a, struct ka_buf *out)
{
    struct report_view v;
    int ret = view_build(a, &v);
    ret = ret ? ret
              : ka_buf_printf(out, "## kadmit audit: %s\n\n",
                              v.c.denied + v.c.admissions_denied + v.c.relations_denied > 0
                                  ? "denials found"
                              : v.c.findings > 0 ? "findings, nothing denied"
                                                 : "all clear");
    ret = ret ? ret : ka_audit_render_summary(a, &v.c, &md_markup, out);
    ret = ret ? ret
              : ka_buf_printf(out,
                              "%zu findings: %zu enforce, %zu warn, %zu audit. Policy `%s`, "
                              "generated %s.\n",
                              v.c.findings, v.c.findings_enforce, v.c.findings_warn,
                              v.c.findings_audit, a->policy_name, v.when);
    ret = ret ? ret : md_tally_table(out, "Findings by rule", "Rule", &v.rules);
    ret = ret ? ret : md_tally_table(out, "Findings by namespace", "Namespace", &v.spaces);
    ret = ret ? ret
              : ka_buf_adds(out, "\n### Findings\n\n| Origin | Object | Rule | Action | Message "
                                 "| Source |\n|---|---|---|---|---|---|\n");
    size_t rows = 0, more = 0;
    for (size_t i = 0; ret == 0 && i < a->n_items; i++) {
        const struct ka_audit_item *it = &a->items[i];
        for (size_t f = 0; ret == 0 && !it->error && f < it->n_findings; f++) {
            if (rows >= KA_AUDIT_MARKDOWN_MAX_ROWS) {
                continue;
            }
            rows++;
            const struct ka_audit_finding *fd = &it->findings[f];
            ret = ka_buf_adds(out, "| ");
            ret = ret ? ret : md_cell(out, origin_label(it));
            if (ret == 0 && it->origin == KA_AUDIT_ADMISSION) {
                ret = ka_buf_adds(out, " ");
                ret = ret ? ret : md_cell(out, it->operation);
                ret = ret ? ret : ka_buf_adds(out, " ");
                ret = ret ? ret : md_cell(out, it->time);
            }
            ret = ret ? ret : ka_buf_adds(out, " | ");
            ret = ret ? ret : md_object_cell(out, it);
            ret = ret ? ret : ka_buf_adds(out, " | ");
            ret = ret ? ret : md_cell(out, fd->rule);
            ret = ret ? ret
                      : ka_buf_printf(out, " | %s%s | ", ka_action_name(fd->action),
                                      ka_audit_finding_kind(it, fd) != NULL
                                          ? ", would be denied on redeploy"
                                          : "");
            ret = ret ? ret : md_cell(out, ka_audit_short_message(it, fd));
            ret = ret ? ret : ka_buf_adds(out, " | ");
            ret = ret ? ret : md_cell(out, ka_audit_source(a, it));
            ret = ret ? ret : ka_buf_adds(out, " |\n");
        }
    }
    if (ret == 0 && rows == 0) {
        ret = ka_buf_adds(out, "| | | | | no findings | |\n");
    }
    more = v.c.findings - rows; /* released ones (ka_audit_tally_released) included */
    if (ret == 0 && more > 0) {
        ret = ka_buf_printf(out,
                            "\n... and %zu more findings (the json and html outputs list "
                            "them all).\n",
                            more);
    }
    for (size_t i = 0, n = 0; ret == 0 && i < a->n_items; i++) {
        const struct ka_audit_item *it = &a->items[i];
        for (size_t e = 0; ret == 0 && !it->error && e < it->n_exemptions; e++, n++) {
            const struct ka_audit_exemption *ex = &it->exemptions[e];
            if (n == 0) {
                ret = ka_buf_adds(out, "\n### Exemptions\n\n| Object | Rule | Exception | Reason "
                                       "|\n|---|---|---|---|\n");
            }
            ret = ret ? ret : ka_buf_adds(out, "| ");
            ret = ret ? ret : md_object_cell(out, it);
            ret = ret ? ret : ka_buf_adds(out, " | ");
            ret = ret ? ret : md_cell(out, ex->rule);
            ret = ret ? ret : ka_buf_adds(out, " | ");
            ret = ret ? ret : md_cell(out, ex->exception);
            ret = ret ? ret : ka_buf_adds(out, " | ");
            ret = ret ? ret : md_cell(out, ex->reason);
            ret = ret ? ret : ka_buf_adds(out, " |\n");
        }
    }
    ret = ret ? ret : ka_audit_render_errors(a, &md_markup, out);
    view_free(&v);
    return ret;
}

/* ------------------------------------------------------------------------------------------
 * HTML
 */

/* Text and attribute values: & < > " ' escaped; control characters dropped. */
static int html_esc(struct ka_buf *b, const char *s)
{
    int ret = 0;
    for (const char *p = s; ret == 0 && *p != '\0'; p++) {
        switch (*p) {
        case '&':
            ret = ka_buf_adds(b, "&amp;");
            break;
        case '<':
            ret = ka_buf_adds(b, "&lt;");
            break;
        case '>':
            ret = ka_buf_adds(b, "&gt;");
            break;
        case '"':
            ret = ka_buf_adds(b, "&quot;");
            break;
        case '\'':
            ret = ka_buf_adds(b, "&#39;");
            break;
        default:
            if ((unsigned char)*p >= 0x20 || *p == '\n' || *p == '\t') {
                ret = ka_buf_add(b, p, 1);
            }
        }
    }
    return ret;
}

/* Escape at most `max` bytes of s (not splitting a UTF-8 sequence), with "…" when cut. */
static int html_esc_cut(struct ka_buf *b, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) {
        return html_esc(b, s);
    }
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) {
        max--;
    }
    char tmp[128];
    snprintf(tmp, sizeof(tmp), "%.*s", (int)(max < sizeof(tmp) - 1 ? max : sizeof(tmp) - 1), s);
    int ret = html_esc(b, tmp);
    return ret ? ret : ka_buf_adds(b, "\xe2\x80\xa6");
}

#define COLOR_ENFORCE "#c62828"
#define COLOR_WARN "#ef8f00"
#define COLOR_AUDIT "#78909c"

/* A horizontal stacked bar chart (enforce, warn, audit) as inline SVG. */
static int svg_chart(struct ka_buf *out, const char *id, const char *title,
                     const struct ka_audit_tallies *t)
{
    const unsigned label_w = 180, bar_w = 300, row_h = 24, top = 30;
    size_t n = t->n < KA_AUDIT_CHART_MAX_BARS ? t->n : KA_AUDIT_CHART_MAX_BARS;
    unsigned height = top + (unsigned)(n > 0 ? n : 1) * row_h + (t->n > n ? row_h : 0) + 8;
    size_t max = 1;
    for (size_t i = 0; i < n; i++) {
        max = t->v[i].total > max ? t->v[i].total : max;
    }
    int ret = ka_buf_printf(out,
                            "<figure class=\"chart\"><svg id=\"%s\" xmlns=\"http://www.w3.org/2000/"
                            "svg\" role=\"img\" viewBox=\"0 0 %u %u\" width=\"%u\" height=\"%u\">"
                            "<title>",
                            id, label_w + bar_w + 60, height, label_w + bar_w + 60, height);
    ret = ret ? ret : html_esc(out, title);
    ret = ret ? ret
              : ka_buf_printf(out, "</title><text x=\"0\" y=\"18\" class=\"ct\">%s</text>", title);
    if (ret == 0 && n == 0) {
        ret =
            ka_buf_printf(out, "<text x=\"0\" y=\"%u\" class=\"cl\">no findings</text>", top + 16);
    }
    for (size_t i = 0; ret == 0 && i < n; i++) {
        const struct ka_audit_tally *e = &t->v[i];
        unsigned y = top + (unsigned)i * row_h;
        ret = ka_buf_printf(out, "<g class=\"bar\"><title>");
        ret = ret ? ret : html_esc(out, e->key);
        ret = ret ? ret
                  : ka_buf_printf(out, ": %zu enforce, %zu warn, %zu audit</title>", e->enforce,
                                  e->warn, e->audit);
        ret = ret ? ret
                  : ka_buf_printf(out, "<text x=\"%u\" y=\"%u\" class=\"cl\" text-anchor=\"end\">",
                                  label_w - 8, y + 15);
        ret = ret ? ret : html_esc_cut(out, e->key, 26);
        ret = ret ? ret : ka_buf_adds(out, "</text>");
        const size_t seg[3] = {e->enforce, e->warn, e->audit};
        static const char *const colors[3] = {COLOR_ENFORCE, COLOR_WARN, COLOR_AUDIT};
        double x = label_w;
        for (int s = 0; ret == 0 && s < 3; s++) {
            if (seg[s] == 0) {
                continue;
            }
            double w = (double)bar_w * (double)seg[s] / (double)max;
            ret = ka_buf_printf(out,
                                "<rect x=\"%.1f\" y=\"%u\" width=\"%.1f\" height=\"%u\" "
                                "fill=\"%s\"/>",
                                x, y + 2, w < 1.0 ? 1.0 : w, row_h - 6, colors[s]);
            x += w;
        }
        ret = ret ? ret
                  : ka_buf_printf(out, "<text x=\"%.1f\" y=\"%u\" class=\"cn\">%zu</text></g>",
                                  x + 6, y + 15, e->total);
    }
    if (ret == 0 && t->n > n) {
        ret = ka_buf_printf(out, "<text x=\"%u\" y=\"%u\" class=\"cl\">and %zu more</text>",
                            label_w, top + (unsigned)n * row_h + 15, t->n - n);
    }
    ret = ret ? ret : ka_buf_adds(out, "</svg></figure>\n");
    return ret;
}

static const char html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
    "'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>kadmit audit report</title>\n<style>\n"
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;"
    "color:#1d2330;background:#fafbfc}\n"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}\n"
    ".meta{color:#5c6475;margin:0 0 16px}\n"
    "#summary{display:flex;flex-wrap:wrap;gap:10px}\n"
    ".card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 14px;"
    "min-width:92px}\n.card b{display:block;font-size:22px}\n.card span{color:#5c6475;"
    "font-size:12px;text-transform:uppercase;letter-spacing:.04em}\n"
    ".card.deny b{color:" COLOR_ENFORCE "}.card.warn b{color:" COLOR_WARN
    "}.card.pass b{color:#2e7d32}\n"
    "#charts{display:flex;flex-wrap:wrap;gap:16px}\n"
    ".chart{margin:0;background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px}\n"
    ".ct{font-weight:600;font-size:14px;fill:#1d2330}.cl{font-size:12px;fill:#1d2330}"
    ".cn{font-size:12px;fill:#5c6475}\n"
    ".legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;"
    "width:10px;height:10px;margin-right:4px;border-radius:2px}\n"
    "#filters{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 10px;align-items:center}\n"
    "#filters input,#filters select{font:inherit;padding:4px 6px;border:1px solid #c3c9d3;"
    "border-radius:4px;background:#fff}\n#filters input{min-width:260px}\n"
    "table{border-collapse:collapse;width:100%;background:#fff}\n"
    "th,td{border:1px solid #dde1e7;padding:5px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#eef1f5;position:sticky;top:0}\n"
    "td.a-enforce{color:" COLOR_ENFORCE ";font-weight:600}td.a-warn{color:" COLOR_WARN
    ";font-weight:600}td.a-audit{color:" COLOR_AUDIT "}\n"
    "td{overflow-wrap:break-word}td.src{color:#5c6475;font-size:12px}"
    "td[class^=a-]{white-space:nowrap}\n"
    /* findings: a row stays on two lines at 1400 px (the object's kind above its name); the
     * message wraps, a long source past 200 px, an admission's origin past 130 px */
    "#findings-table td{white-space:nowrap}#findings-table td.msg{white-space:normal;"
    "min-width:360px}#findings-table td.src{white-space:normal;overflow-wrap:break-word;"
    "max-width:200px}#findings-table td.org{white-space:normal;max-width:130px}"
    "#findings-table small{color:#5c6475;font-size:12px}"
    "\n"
    "code{font-size:12px}\n"
    ".errors li{margin:4px 0}\n</style>\n</head>\n<body>\n";

static const char html_script[] =
    "<script>\n"
    "(function(){\n"
    "  var q=document.getElementById('filter-text'),r=document.getElementById('filter-rule'),\n"
    "      a=document.getElementById('filter-action'),n=document.getElementById('filter-"
    "namespace'),\n"
    "      rows=document.querySelectorAll('#findings-table tbody tr'),"
    "shown=document.getElementById('shown');\n"
    "  function apply(){\n"
    "    var t=q.value.toLowerCase(),c=0;\n"
    "    for(var i=0;i<rows.length;i++){\n"
    "      var d=rows[i].dataset,ok=(!r.value||d.rule===r.value)&&(!a.value||d.action===a.value)"
    "&&\n"
    "        (!n.value||d.namespace===n.value)&&(!t||rows[i].textContent.toLowerCase()."
    "indexOf(t)>=0);\n"
    "      rows[i].hidden=!ok;if(ok){c++;}\n"
    "    }\n"
    "    shown.textContent=c+' of '+rows.length+' findings shown';\n"
    "  }\n"
    "  [q,r,a,n].forEach(function(e){e.addEventListener('input',apply);"
    "e.addEventListener('change',apply);});\n"
    "  /* report.html#rule=image-pinned&action=enforce&namespace=shop&q=text presets filters */\n"
    "  location.hash.slice(1).split('&').forEach(function(kv){\n"
    "    var i=kv.indexOf('='),k=kv.slice(0,i),v=decodeURIComponent(kv.slice(i+1));\n"
    "    var m={q:q,rule:r,action:a,namespace:n};\n"
    "    if(i>0&&Object.prototype.hasOwnProperty.call(m,k)){m[k].value=v;}\n"
    "  });\n"
    "  apply();\n"
    "})();\n"
    "</script>\n";

static int html_card(struct ka_buf *out, const char *cls, size_t n, const char *label)
{
    return ka_buf_printf(out, "<div class=\"card %s\"><b>%zu</b><span>%s</span></div>", cls, n,
                         label);
}

static int html_options(struct ka_buf *out, const char *id, const char *all,
                        const struct ka_audit_tallies *t)
{
    int ret = ka_buf_printf(out, "<select id=\"%s\"><option value=\"\">%s</option>", id, all);
    /* options sorted by name for finding things, not by count */
    const char **keys = t->n > 0 ? malloc(t->n * sizeof(*keys)) : NULL;
    if (t->n > 0 && keys == NULL) {
        return KA_ENOMEM;
    }
    for (size_t i = 0; i < t->n; i++) {
        keys[i] = t->v[i].key;
    }
    for (size_t i = 1; i < t->n; i++) { /* insertion sort: a few dozen keys */
        const char *k = keys[i];
        size_t j = i;
        while (j > 0 && strcmp(keys[j - 1], k) > 0) {
            keys[j] = keys[j - 1];
            j--;
        }
        keys[j] = k;
    }
    for (size_t i = 0; ret == 0 && i < t->n; i++) {
        ret = ka_buf_adds(out, "<option value=\"");
        ret = ret ? ret : html_esc(out, keys[i]);
        ret = ret ? ret : ka_buf_adds(out, "\">");
        ret = ret ? ret : html_esc(out, keys[i]);
        ret = ret ? ret : ka_buf_adds(out, "</option>");
    }
    free(keys);
    return ret ? ret : ka_buf_adds(out, "</select>\n");
}

static const struct ka_audit_markup html_markup = {.escape = html_esc,
                                                   .deny = "",
                                                   .warn = "",
                                                   .pass = "",
                                                   .end = "",
                                                   .strong = "<b>",
                                                   .strong_end = "</b>",
                                                   .line = "<p class=\"meta\">",
                                                   .line_end = "</p>\n",
                                                   .errors_head =
                                                       "<h2>Errors</h2>\n<ul class=\"errors\">\n",
                                                   .error_item = "<li><code>",
                                                   .error_sep = "</code> ",
                                                   .error_item_end = "</li>\n",
                                                   .errors_tail = "</ul>\n"};

static int html_td(struct ka_buf *out, const char *cls, const char *text)
{
    int ret = cls != NULL ? ka_buf_printf(out, "<td class=\"%s\">", cls) : ka_buf_adds(out, "<td>");
    ret = ret ? ret : html_esc(out, text);
    return ret ? ret : ka_buf_adds(out, "</td>");
}

int ka_audit_render_html(const struct ka_audit *a, struct ka_buf *out)
{
    struct report_view v;
    int ret = view_build(a, &v);
    ret = ret ? ret : ka_buf_adds(out, html_head);
    ret =
        ret ? ret : ka_buf_adds(out, "<h1>kadmit audit report</h1>\n<p class=\"meta\">Policy <b>");
    ret = ret ? ret : html_esc(out, a->policy_name);
    ret = ret ? ret : ka_buf_printf(out, "</b> &middot; generated %s</p>\n", v.when);
    ret = ret ? ret : ka_buf_adds(out, "<section id=\"summary\">");
    ret = ret ? ret : html_card(out, "", v.c.objects, "objects");
    ret = ret ? ret : html_card(out, "deny", v.c.denied, "denied");
    ret = ret ? ret : html_card(out, "warn", v.c.warned, "warned");
    ret = ret ? ret : html_card(out, "", v.c.audited, "audit-only");
    ret = ret ? ret : html_card(out, "pass", v.c.passed, "passed");
    ret = ret ? ret : html_card(out, "", v.c.mutated, "would be mutated");
    ret = ret ? ret : html_card(out, "", v.c.errors, "errors");
    ret = ret ? ret : html_card(out, "", v.c.skipped, "skipped kinds");
    if (ret == 0 && v.c.owned > 0) {
        ret = html_card(out, "", v.c.owned, "owned (controller evaluated)");
    }
    if (ret == 0 && v.c.admissions + v.c.log_problems > 0) {
        ret = html_card(out, "", v.c.admissions, "admissions logged");
        ret = ret ? ret : html_card(out, "deny", v.c.admissions_denied, "admissions denied");
        ret = ret ? ret : html_card(out, "warn", v.c.admissions_warned, "admissions warned");
        ret = ret ? ret : html_card(out, "", v.c.log_problems, "log lines skipped");
    }
    ret = ret ? ret : ka_buf_adds(out, "</section>\n");
    ret = ret ? ret : ka_audit_render_summary(a, &v.c, &html_markup, out);
    if (ret == 0 && a->source_base != NULL && a->source_base[0] != '\0') {
        ret = ka_buf_adds(out, "<p class=\"meta\">Sources are relative to <code>");
        ret = ret ? ret : html_esc(out, a->source_base);
        ret = ret ? ret : ka_buf_adds(out, "</code>.</p>\n");
    }
    ret = ret ? ret : ka_buf_adds(out, "<h2>Findings by rule and namespace</h2>\n");
    ret = ret ? ret
              : ka_buf_adds(out, "<p class=\"legend\"><span><i style=\"background:" COLOR_ENFORCE
                                 "\"></i>enforce</span><span><i style=\"background:" COLOR_WARN
                                 "\"></i>warn</span><span><i style=\"background:" COLOR_AUDIT
                                 "\"></i>audit</span></p>\n<section id=\"charts\">\n");
    ret = ret ? ret : svg_chart(out, "chart-rules", "Findings by rule", &v.rules);
    ret = ret ? ret : svg_chart(out, "chart-namespaces", "Findings by namespace", &v.spaces);
    ret = ret ? ret
              : ka_buf_printf(out,
                              "</section>\n<h2>Findings (%zu)</h2>\n<div id=\"filters\">"
                              "<input id=\"filter-text\" type=\"search\" placeholder=\"Filter "
                              "by text\" aria-label=\"Filter by text\">\n",
                              v.c.findings);
    ret = ret ? ret : html_options(out, "filter-rule", "all rules", &v.rules);
    ret = ret ? ret
              : ka_buf_adds(out, "<select id=\"filter-action\"><option value=\"\">all actions"
                                 "</option><option>enforce</option><option>warn</option>"
                                 "<option>audit</option></select>\n");
    ret = ret ? ret : html_options(out, "filter-namespace", "all namespaces", &v.spaces);
    ret = ret ? ret
              : ka_buf_adds(out, "<span id=\"shown\"></span></div>\n<table id=\"findings-table\">"
                                 "<thead><tr><th>Origin</th><th>Object</th><th>Rule</th>"
                                 "<th>Action</th><th>Message</th><th>Source</th></tr></thead>"
                                 "\n<tbody>\n");
    for (size_t i = 0; ret == 0 && i < a->n_items; i++) {
        const struct ka_audit_item *it = &a->items[i];
        for (size_t f = 0; ret == 0 && !it->error && f < it->n_findings; f++) {
            const struct ka_audit_finding *fd = &it->findings[f];
            const char *act = ka_action_name(fd->action);
            char cls[32];
            snprintf(cls, sizeof(cls), "a-%s", act);
            ret = ka_buf_adds(out, "<tr data-rule=\"");
            ret = ret ? ret : html_esc(out, fd->rule);
            ret = ret ? ret : ka_buf_printf(out, "\" data-action=\"%s\" data-namespace=\"", act);
            ret = ret ? ret : html_esc(out, ns_label(it->namespace_));
            ret = ret ? ret : ka_buf_adds(out, "\">");
            if (ret == 0 && it->origin == KA_AUDIT_ADMISSION) {
                ret = ka_buf_adds(out, "<td class=\"org\">admission<br><small>");
                ret = ret ? ret : html_esc(out, it->operation);
                ret = ret ? ret : ka_buf_adds(out, " ");
                ret = ret ? ret : html_esc(out, it->time);
                ret = ret ? ret : ka_buf_adds(out, " by ");
                ret = ret ? ret : html_esc(out, it->user);
                ret = ret ? ret : ka_buf_adds(out, "</small></td>");
            } else {
                ret = ret ? ret : ka_buf_adds(out, "<td>object</td>");
            }
            /* the object in one cell: kind above namespace/name */
            ret = ret ? ret : ka_buf_adds(out, "<td class=\"obj\"><small>");
            ret = ret ? ret : html_esc(out, it->kind);
            ret = ret ? ret : ka_buf_adds(out, "</small><br>");
            if (ret == 0 && it->namespace_[0] != '\0') {
                ret = html_esc(out, it->namespace_);
                ret = ret ? ret : ka_buf_adds(out, "/");
            }
            ret = ret ? ret : html_esc(out, it->name);
            ret = ret ? ret : ka_buf_adds(out, "</td>");
            ret = ret ? ret : html_td(out, NULL, fd->rule);
            char act_text[64];
            snprintf(act_text, sizeof(act_text), "%s%s", act,
                     ka_audit_finding_kind(it, fd) != NULL ? " (would be denied on redeploy)" : "");
            ret = ret ? ret : html_td(out, cls, act_text);
            ret = ret ? ret : html_td(out, "msg", ka_audit_short_message(it, fd));
            ret = ret ? ret : html_td(out, "src", ka_audit_source(a, it));
            ret = ret ? ret : ka_buf_adds(out, "</tr>\n");
        }
    }
    ret = ret ? ret : ka_buf_adds(out, "</tbody></table>\n");
    for (size_t i = 0, n = 0; ret == 0 && i < a->n_items; i++) {
        const struct ka_audit_item *it = &a->items[i];
        for (size_t e = 0; ret == 0 && !it->error && e < it->n_exemptions; e++, n++) {
            const struct ka_audit_exemption *ex = &it->exemptions[e];
            if (n == 0) {
                ret = ka_buf_adds(out, "<h2>Exemptions</h2>\n<table id=\"exemptions-table\">"
                                       "<thead><tr><th>Kind</th><th>Namespace</th><th>Name</th>"
                                       "<th>Rule</th><th>Exception</th><th>Reason</th></tr>"
                                       "</thead>\n<tbody>\n");
            }
            ret = ret ? ret : ka_buf_adds(out, "<tr>");
            ret = ret ? ret : html_td(out, NULL, it->kind);
            ret = ret ? ret : html_td(out, NULL, it->namespace_);
            ret = ret ? ret : html_td(out, NULL, it->name);
            ret = ret ? ret : html_td(out, NULL, ex->rule);
            ret = ret ? ret : html_td(out, NULL, ex->exception);
            ret = ret ? ret : html_td(out, NULL, ex->reason);
            ret = ret ? ret : ka_buf_adds(out, "</tr>\n");
        }
        if (ret == 0 && n > 0 && i + 1 == a->n_items) {
            ret = ka_buf_adds(out, "</tbody></table>\n");
        }
    }
    ret = ret ? ret : ka_audit_render_errors(a, &html_markup, out);
    ret = ret ? ret : ka_buf_adds(out, html_script);
    ret = ret ? ret : ka_buf_adds(out, "</body>\n</html>\n");
    view_free(&v);
    return ret;
}

/* ------------------------------------------------------------------------------------------
 * PolicyReport (wgpolicyk8s.io/v1alpha2)
 *
 * result: enforce -> fail (severity high), warn -> warn (medium), audit -> warn (low, with
 * properties.action "audit": an audit-only rule is not enforced, so it is not a failure),
 * object without findings -> one pass result (rule "all-rules"), object that could not be
 * evaluated -> error.
 */

struct report_chunk {
    cJSON *results; /* array, owned until moved into a report */
    size_t pass, fail, warn, error, skip;
    size_t n; /* results (cJSON_GetArraySize walks the list) */
    size_t bytes;
};

struct report_group {
    char namespace_[64]; /* "" for the ClusterPolicyReport */
    struct report_chunk *chunks;
    size_t n_chunks;
};

/* A DNS-1123 name part: lower case, [a-z0-9-], at most 40 characters. */
static void dns_name(const char *in, char *out, size_t len)
{
    size_t j = 0;
    for (size_t i = 0; in[i] != '\0' && j + 1 < len && j < 40; i++) {
        char ch = in[i];
        if (ch >= 'A' && ch <= 'Z') {
            ch = (char)(ch - 'A' + 'a');
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))) {
            ch = '-';
        }
        out[j++] = ch;
    }
    while (j > 0 && out[j - 1] == '-') {
        j--;
    }
    out[j] = '\0';
    if (j == 0) {
        snprintf(out, len, "policy");
    }
}

static int add_prop(cJSON *props, const char *k, const char *v)
{
    if (v == NULL || v[0] == '\0') {
        return 0;
    }
    return cJSON_AddStringToObject(props, k, v) == NULL ? KA_ENOMEM : 0;
}

static cJSON *make_result(const struct ka_audit *a, const struct ka_audit_item *it,
                          const char *rule, const char *result, const char *severity,
                          const char *message, const struct ka_audit_finding *fd)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *ts = cJSON_AddObjectToObject(r, "timestamp");
    if (r == NULL || ts == NULL || cJSON_AddStringToObject(r, "source", "kadmit") == NULL ||
        cJSON_AddStringToObject(r, "policy", a->policy_name) == NULL ||
        cJSON_AddStringToObject(r, "rule", rule) == NULL ||
        cJSON_AddStringToObject(r, "category", "production checklist") == NULL ||
        cJSON_AddStringToObject(r, "result", result) == NULL ||
        (severity != NULL && cJSON_AddStringToObject(r, "severity", severity) == NULL) ||
        cJSON_AddBoolToObject(r, "scored", 1) == NULL ||
        cJSON_AddStringToObject(r, "message", message) == NULL ||
        cJSON_AddNumberToObject(ts, "seconds", (double)a->now) == NULL ||
        cJSON_AddNumberToObject(ts, "nanos", 0) == NULL) {
        cJSON_Delete(r);
        return NULL;
    }
    cJSON *res = cJSON_AddArrayToObject(r, "resources");
    cJSON *ref = cJSON_CreateObject();
    if (res == NULL || ref == NULL) {
        cJSON_Delete(ref);
        cJSON_Delete(r);
        return NULL;
    }
    cJSON_AddItemToArray(res, ref);
    int bad = add_prop(ref, "apiVersion", it->api_version) || add_prop(ref, "kind", it->kind) ||
              add_prop(ref, "namespace", it->namespace_) || add_prop(ref, "name", it->name) ||
              add_prop(ref, "uid", it->uid);
    cJSON *props = cJSON_AddObjectToObject(r, "properties");
    bad = bad || props == NULL || add_prop(props, "source", it->source);
    if (!bad && fd != NULL) {
        bad = add_prop(props, "action", ka_action_name(fd->action)) ||
              add_prop(props, "container", fd->container) || add_prop(props, "path", fd->path) ||
              (ka_audit_finding_kind(it, fd) != NULL &&
               (add_prop(props, "kind", ka_audit_finding_kind(it, fd)) ||
                add_prop(props, "stale", ka_stale_name(fd->stale))));
    }
    if (bad) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

static void groups_free(struct report_group *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < g[i].n_chunks; k++) {
            cJSON_Delete(g[i].chunks[k].results);
        }
        free(g[i].chunks);
    }
    free(g);
}

static int cmp_group(const void *x, const void *y)
{
    return strcmp(((const struct report_group *)x)->namespace_,
                  ((const struct report_group *)y)->namespace_);
}

/* Add a result to the group's last chunk, starting a new chunk past the limits. */
static int group_add(struct report_group *g, cJSON *r, const char *result, size_t max_results,
                     size_t max_bytes)
{
    char *text = cJSON_PrintUnformatted(r);
    if (text == NULL) {
        cJSON_Delete(r);
        return KA_ENOMEM;
    }
    size_t bytes = strlen(text) + 1;
    free(text);
    struct report_chunk *c = g->n_chunks > 0 ? &g->chunks[g->n_chunks - 1] : NULL;
    size_t n = c != NULL ? c->n : 0;
    if (c == NULL || n >= max_results || (n > 0 && c->bytes + bytes > max_bytes)) {
        struct report_chunk *p = realloc(g->chunks, (g->n_chunks + 1) * sizeof(*p));
        if (p == NULL) {
            cJSON_Delete(r);
            return KA_ENOMEM;
        }
        g->chunks = p;
        c = &p[g->n_chunks++];
        memset(c, 0, sizeof(*c));
        c->results = cJSON_CreateArray();
        if (c->results == NULL) {
            cJSON_Delete(r);
            return KA_ENOMEM;
        }
    }
    cJSON_AddItemToArray(c->results, r);
    c->n++;
    c->bytes += bytes;
    c->pass += strcmp(result, "pass") == 0;
    c->fail += strcmp(result, "fail") == 0;
    c->warn += strcmp(result, "warn") == 0;
    c->error += strcmp(result, "error") == 0;
    c->skip += strcmp(result, "skip") == 0;
    return 0;
}

static cJSON *make_report(const struct ka_audit *a, const struct report_group *g, size_t k,
                          struct report_chunk *c)
{
    char base[64], name[96];
    dns_name(a->policy_name, base, sizeof(base));
    if (g->n_chunks > 1) {
        snprintf(name, sizeof(name), "kadmit-%s-%zu", base, k + 1);
    } else {
        snprintf(name, sizeof(name), "kadmit-%s", base);
    }
    /* Every report of one run carries the run's time: reports of older runs that this run did
     * not rewrite are deleted by `kubectl delete -l 'kadmit.dev/run!=<now>'` (deploy/audit). */
    char run[24];
    snprintf(run, sizeof(run), "%lld", (long long)a->now);
    cJSON *rep = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(rep, "metadata");
    cJSON *labels = cJSON_AddObjectToObject(meta, "labels");
    cJSON *sum = NULL;
    int bad =
        rep == NULL || meta == NULL || labels == NULL ||
        cJSON_AddStringToObject(rep, "apiVersion", "wgpolicyk8s.io/v1alpha2") == NULL ||
        cJSON_AddStringToObject(
            rep, "kind", g->namespace_[0] ? "PolicyReport" : "ClusterPolicyReport") == NULL ||
        cJSON_AddStringToObject(meta, "name", name) == NULL ||
        (g->namespace_[0] && cJSON_AddStringToObject(meta, "namespace", g->namespace_) == NULL) ||
        cJSON_AddStringToObject(labels, "app.kubernetes.io/managed-by", "kadmit") == NULL ||
        cJSON_AddStringToObject(labels, "kadmit.dev/policy", base) == NULL ||
        cJSON_AddStringToObject(labels, "kadmit.dev/run", run) == NULL;
    if (!bad) {
        sum = cJSON_AddObjectToObject(rep, "summary");
        bad = sum == NULL || cJSON_AddNumberToObject(sum, "pass", (double)c->pass) == NULL ||
              cJSON_AddNumberToObject(sum, "fail", (double)c->fail) == NULL ||
              cJSON_AddNumberToObject(sum, "warn", (double)c->warn) == NULL ||
              cJSON_AddNumberToObject(sum, "error", (double)c->error) == NULL ||
              cJSON_AddNumberToObject(sum, "skip", (double)c->skip) == NULL;
    }
    if (bad) {
        cJSON_Delete(rep);
        return NULL;
    }
    cJSON_AddItemToObject(rep, "results", c->results);
    c->results = NULL; /* moved */
    return rep;
}

int ka_audit_render_policyreport(const struct ka_audit *a, struct ka_buf *out, size_t max_results,
                                 size_t max_bytes)
{
    int ret = KA_ENOMEM;
    struct report_group *groups = NULL;
    size_t n_groups = 0;
    cJSON *list = NULL;
    max_results = max_results ? max_results : KA_POLICYREPORT_MAX_RESULTS;
    max_bytes = max_bytes ? max_bytes : KA_POLICYREPORT_MAX_BYTES;
    /* Namespaces, in order of first appearance, then sorted. */
    for (size_t i = 0; i < a->n_items; i++) {
        const struct ka_audit_item *it = &a->items[i];
        if (it->origin != KA_AUDIT_OBJECT || (it->error && it->kind[0] == '\0')) {
            continue; /* decision-log entries; documents without an object to point at */
        }
        size_t g = 0;
        while (g < n_groups && strcmp(groups[g].namespace_, it->namespace_) != 0) {
            g++;
        }
        if (g == n_groups) {
            struct report_group *p = realloc(groups, (n_groups + 1) * sizeof(*p));
            if (p == NULL) {
                goto cleanup;
            }
            groups = p;
            memset(&groups[n_groups], 0, sizeof(groups[0]));
            snprintf(groups[n_groups].namespace_, sizeof(groups[0].namespace_), "%s",
                     it->namespace_);
            n_groups++;
        }
    }
    if (n_groups > 1) {
        qsort(groups, n_groups, sizeof(groups[0]), cmp_group);
    }
    for (size_t i = 0; i < a->n_items; i++) {
        const struct ka_audit_item *it = &a->items[i];
        if (it->origin != KA_AUDIT_OBJECT || (it->error && it->kind[0] == '\0')) {
            continue;
        }
        struct report_group key;
        snprintf(key.namespace_, sizeof(key.namespace_), "%s", it->namespace_);
        struct report_group *g = bsearch(&key, groups, n_groups, sizeof(groups[0]), cmp_group);
        if (g == NULL) {
            ret = KA_EINTERNAL;
            goto cleanup;
        }
        if (it->error) {
            cJSON *r = make_result(a, it, "evaluate", "error", NULL, it->error_msg, NULL);
            if (r == NULL || (ret = group_add(g, r, "error", max_results, max_bytes)) != 0) {
                ret = KA_ENOMEM;
                goto cleanup;
            }
            continue;
        }
        if (it->not_evaluated) { /* a relation the input cannot judge: neither pass nor fail */
            cJSON *r = make_result(a, it, it->relation, "skip", NULL, it->error_msg, NULL);
            if (r == NULL || (ret = group_add(g, r, "skip", max_results, max_bytes)) != 0) {
                ret = KA_ENOMEM;
                goto cleanup;
            }
            continue;
        }
        if (it->n_findings == 0) {
            cJSON *r =
                it->relation[0] != '\0'
                    ? make_result(a, it, it->relation, "pass", NULL, "the relation holds", NULL)
                    : make_result(a, it, "all-rules", "pass", NULL,
                                  "passes every rule of the policy", NULL);
            if (r == NULL || (ret = group_add(g, r, "pass", max_results, max_bytes)) != 0) {
                ret = KA_ENOMEM;
                goto cleanup;
            }
        }
        /* an exception that exempted the object: skip, as Kyverno reports PolicyExceptions */
        for (size_t e = 0; e < it->n_exemptions; e++) {
            const struct ka_audit_exemption *ex = &it->exemptions[e];
            char msg[512];
            snprintf(msg, sizeof(msg), "exempted by exception \"%s\": %s", ex->exception,
                     ex->reason);
            cJSON *r = make_result(a, it, ex->rule, "skip", NULL, msg, NULL);
            cJSON *props = cJSON_GetObjectItemCaseSensitive(r, "properties");
            if (r == NULL || add_prop(props, "exception", ex->exception) != 0) {
                cJSON_Delete(r);
                ret = KA_ENOMEM;
                goto cleanup;
            }
            if ((ret = group_add(g, r, "skip", max_results, max_bytes)) != 0) {
                goto cleanup;
            }
        }
        for (size_t f = 0; f < it->n_findings; f++) {
            const struct ka_audit_finding *fd = &it->findings[f];
            const char *result = fd->action == KA_ACTION_ENFORCE ? "fail" : "warn";
            const char *severity = fd->action == KA_ACTION_ENFORCE ? "high"
                                   : fd->action == KA_ACTION_WARN  ? "medium"
                                                                   : "low";
            cJSON *r = make_result(a, it, fd->rule, result, severity, fd->message, fd);
            if (r == NULL || (ret = group_add(g, r, result, max_results, max_bytes)) != 0) {
                ret = KA_ENOMEM;
                goto cleanup;
            }
        }
    }
    list = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(list, "items");
    if (list == NULL || items == NULL ||
        cJSON_AddStringToObject(list, "apiVersion", "v1") == NULL ||
        cJSON_AddStringToObject(list, "kind", "List") == NULL) {
        goto cleanup;
    }
    for (size_t g = 0; g < n_groups; g++) {
        for (size_t k = 0; k < groups[g].n_chunks; k++) {
            cJSON *rep = make_report(a, &groups[g], k, &groups[g].chunks[k]);
            if (rep == NULL) {
                ret = KA_ENOMEM;
                goto cleanup;
            }
            cJSON_AddItemToArray(items, rep);
        }
    }
    char *text = cJSON_Print(list);
    if (text == NULL) {
        ret = KA_ENOMEM;
        goto cleanup;
    }
    ret = ka_buf_adds(out, text);
    ret = ret ? ret : ka_buf_add(out, "\n", 1);
    free(text);
cleanup:
    cJSON_Delete(list);
    groups_free(groups, n_groups);
    return ret;
}
