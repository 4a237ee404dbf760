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
#include <errno.h>
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
        if (ka_array_grow(&t->v, &t->cap, t->n + 1, sizeof(*t->v)) != 0) {
            return KA_ENOMEM;
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

/* The namespace shown before an object's name: none for a Namespace, which a namespace-level
 * relation result (namespace-guardrails) carries as its own ("Namespace shop", not
 * "Namespace shop/shop"). */
static const char *shown_namespace(const struct ka_audit_item *it)
{
    return strcmp(it->kind, "Namespace") == 0 ? "" : it->namespace_;
}

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

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

int ka_audit_render_summary(const struct ka_audit *a, const struct ka_audit_counts *c,
                            const struct ka_audit_markup *m, struct ka_buf *out)
{
    int ret = 0;
    if (c->read > 0 || c->admissions + c->log_problems == 0) {
        ret = ka_buf_printf(out,
                            "%s%s%zu object%s%s: %s%zu denied%s, %s%zu warned%s, %zu audit-only, "
                            "%s%zu passed%s; %zu would be mutated%s",
                            m->line, m->strong, c->objects, plural(c->objects), m->strong_end,
                            m->deny, c->denied, m->end, m->warn, c->warned, m->end, c->audited,
                            m->pass, c->passed, m->end, c->mutated, m->line_end);
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
        ret = ret ? ret
                  : add_tally(out, m, &a->skipped_not_objects, &open,
                              "not Kubernetes objects, no kind or metadata", "other files");
        if (ret == 0 && open[0] != ' ') {
            ret = ka_buf_adds(out, ")");
        }
        ret =
            ret ? ret
                : ka_buf_printf(out, ", %zu owned (their controller was evaluated), %zu error%s%s",
                                c->owned, c->errors, plural(c->errors), m->line_end);
    }
    if (ret == 0 && c->relations > 0) {
        ret = ka_buf_printf(out,
                            "%s%s%zu relation check%s%s (several objects together): %s%zu "
                            "failed%s, %s%zu warned%s, %zu audit-only, %s%zu passed%s, %zu not "
                            "evaluated (the input lacks a kind they need)%s",
                            m->line, m->strong, c->relations, plural(c->relations), m->strong_end,
                            m->deny, c->relations_denied, m->end, m->warn, c->relations_warned,
                            m->end, c->relations_audited, m->pass, c->relations_passed, m->end,
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
        ret =
            ka_buf_printf(out,
                          "%s%s%zu object%s would be denied on redeploy%s: their images' signed "
                          "scans are older than maxAge or now fail (running pods are still "
                          "replaced; publish fresh scans before the next rollout)%s",
                          m->line, m->deny, c->redeploy, plural(c->redeploy), m->end, m->line_end);
    }
    if (ret == 0 && c->admissions + c->log_problems > 0) {
        ret = ka_buf_printf(out,
                            "%s%s%zu admission%s%s in decision logs: %s%zu denied%s, %s%zu "
                            "warned%s, %zu audit-only, %s%zu passed%s; %zu log lines skipped%s",
                            m->line, m->strong, c->admissions, plural(c->admissions), m->strong_end,
                            m->deny, c->admissions_denied, m->end, m->warn, c->admissions_warned,
                            m->end, c->admissions_audited, m->pass, c->admissions_passed, m->end,
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
                            reset, bold, it->kind, shown_namespace(it),
                            shown_namespace(it)[0] ? "/" : "", it->name, reset, dim, it->source,
                            reset, dim, reset);
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
        snprintf(what, sizeof(what), "%s %s%s%s", it->kind, shown_namespace(it),
                 shown_namespace(it)[0] ? "/" : "", it->name);
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
 * Spills: rows rendered as items are decided (markdown, html), held in memory up to
 * SPILL_MEMORY, then in a temporary file; copied into the report at its end
 */

/* Bytes a spill holds in memory before they go to its temporary file. */
#define SPILL_MEMORY (64u * 1024u)

static void spill_init(struct ka_audit_spill *s)
{
    memset(s, 0, sizeof(*s));
    ka_buf_init(&s->mem, 1024u * 1024u * 1024u);
}

static void spill_free(struct ka_audit_spill *s)
{
    if (s->file != NULL) {
        fclose(s->file);
    }
    s->file = NULL;
    ka_buf_free(&s->mem);
}

/* Past SPILL_MEMORY, what is held goes to the file (made when first needed; without one, the
 * bytes stay in memory). */
static int spill_flush(struct ka_audit_spill *s)
{
    if (s->mem.len < SPILL_MEMORY || s->failed) {
        return 0;
    }
    if (s->file == NULL) {
        s->file = ka_audit_tmpfile();
        s->failed = s->file == NULL;
        if (s->failed) {
            return 0;
        }
    }
    int ret = fwrite(s->mem.data, 1, s->mem.len, s->file) == s->mem.len ? 0 : KA_EIO;
    ka_buf_reset(&s->mem);
    return ret;
}

/* A report written as it goes: what `out` holds so far goes to `to` (NULL: it stays). */
static int out_flush(struct ka_buf *out, FILE *to)
{
    if (to == NULL) {
        return 0;
    }
    int ret = fwrite(out->data, 1, out->len, to) == out->len ? 0 : KA_EIO;
    ka_buf_reset(out);
    return ret;
}

/* Append everything spilled to `out` (written to `to` as it grows, when given). */
static int spill_copy(struct ka_audit_spill *s, struct ka_buf *out, FILE *to)
{
    int ret = 0;
    if (s->file != NULL) {
        ret = fflush(s->file) == 0 && fseek(s->file, 0, SEEK_SET) == 0 ? 0 : KA_EIO;
        char chunk[16384];
        size_t n;
        while (ret == 0 && (n = fread(chunk, 1, sizeof(chunk), s->file)) > 0) {
            ret = ka_buf_add(out, chunk, n);
            if (ret == 0 && out->len >= SPILL_MEMORY) {
                ret = out_flush(out, to);
            }
        }
        ret = ret == 0 && ferror(s->file) ? KA_EIO : ret;
    }
    return ret ? ret : ka_buf_add(out, s->mem.data, s->mem.len);
}

/* ------------------------------------------------------------------------------------------
 * Markdown
 */

static int html_esc(struct ka_buf *b, const char *s);

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
        case '>':
        case '&':
            ret = html_esc(b, (const char[]){*p, '\0'});
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
    if (ret == 0 && shown_namespace(it)[0] != '\0') {
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

void ka_audit_markdown_init(struct ka_audit_markdown *m)
{
    memset(m, 0, sizeof(*m));
    ka_buf_init(&m->rows, 64u * 1024u * 1024u);
    spill_init(&m->exemptions);
}

void ka_audit_markdown_free(struct ka_audit_markdown *m)
{
    ka_buf_free(&m->rows);
    spill_free(&m->exemptions);
}

int ka_audit_markdown_item(struct ka_audit_markdown *m, const struct ka_audit *a,
                           const struct ka_audit_item *it)
{
    int ret = 0;
    struct ka_buf *out = &m->rows;
    for (size_t f = 0; ret == 0 && !it->error && f < it->n_findings; f++) {
        if (m->n_rows >= KA_AUDIT_MARKDOWN_MAX_ROWS) {
            break; /* past the rows it prints: only counted (ka_audit_tally_released) */
        }
        m->n_rows++;
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
    out = &m->exemptions.mem;
    for (size_t e = 0; ret == 0 && !it->error && e < it->n_exemptions; e++) {
        const struct ka_audit_exemption *ex = &it->exemptions[e];
        ret = ret ? ret : ka_buf_adds(out, "| ");
        ret = ret ? ret : md_object_cell(out, it);
        ret = ret ? ret : ka_buf_adds(out, " | ");
        ret = ret ? ret : md_cell(out, ex->rule);
        ret = ret ? ret : ka_buf_adds(out, " | ");
        ret = ret ? ret : md_cell(out, ex->exception);
        ret = ret ? ret : ka_buf_adds(out, " | ");
        ret = ret ? ret : md_cell(out, ex->reason);
        ret = ret ? ret : ka_buf_adds(out, " |\n");
        m->n_exemptions++;
    }
    return ret ? ret : spill_flush(&m->exemptions);
}

int ka_audit_markdown_end(struct ka_audit_markdown *m, const struct ka_audit *a, struct ka_buf *out,
                          FILE *to)
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
    size_t rows = m->n_rows, more = 0;
    ret = ret ? ret : ka_buf_add(out, m->rows.data, m->rows.len);
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
    if (ret == 0 && m->n_exemptions > 0) {
        ret = ka_buf_adds(out, "\n### Exemptions\n\n| Object | Rule | Exception | Reason "
                               "|\n|---|---|---|---|\n");
        ret = ret ? ret : spill_copy(&m->exemptions, out, to);
    }
    ret = ret ? ret : ka_audit_render_errors(a, &md_markup, out);
    ret = ret ? ret : out_flush(out, to);
    view_free(&v);
    return ret;
}

int ka_audit_render_markdown(const struct ka_audit *a, struct ka_buf *out)
{
    struct ka_audit_markdown m;
    ka_audit_markdown_init(&m);
    int ret = 0;
    for (size_t i = 0; ret == 0 && i < a->n_items; i++) {
        ret = ka_audit_markdown_item(&m, a, &a->items[i]);
    }
    ret = ret ? ret : ka_audit_markdown_end(&m, a, out, NULL);
    ka_audit_markdown_free(&m);
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

void ka_audit_html_init(struct ka_audit_html *h)
{
    memset(h, 0, sizeof(*h));
    spill_init(&h->rows);
    spill_init(&h->exemptions);
}

void ka_audit_html_free(struct ka_audit_html *h)
{
    spill_free(&h->rows);
    spill_free(&h->exemptions);
}

int ka_audit_html_item(struct ka_audit_html *h, const struct ka_audit *a,
                       const struct ka_audit_item *it)
{
    int ret = 0;
    struct ka_buf *out = &h->rows.mem;
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
        if (ret == 0 && shown_namespace(it)[0] != '\0') {
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
    ret = ret ? ret : spill_flush(&h->rows);
    out = &h->exemptions.mem;
    for (size_t e = 0; ret == 0 && !it->error && e < it->n_exemptions; e++) {
        const struct ka_audit_exemption *ex = &it->exemptions[e];
        ret = ret ? ret : ka_buf_adds(out, "<tr>");
        ret = ret ? ret : html_td(out, NULL, it->kind);
        ret = ret ? ret : html_td(out, NULL, it->namespace_);
        ret = ret ? ret : html_td(out, NULL, it->name);
        ret = ret ? ret : html_td(out, NULL, ex->rule);
        ret = ret ? ret : html_td(out, NULL, ex->exception);
        ret = ret ? ret : html_td(out, NULL, ex->reason);
        ret = ret ? ret : ka_buf_adds(out, "</tr>\n");
        h->n_exemptions++;
    }
    return ret ? ret : spill_flush(&h->exemptions);
}

int ka_audit_html_end(struct ka_audit_html *h, const struct ka_audit *a, struct ka_buf *out,
                      FILE *to)
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
    ret = ret ? ret : spill_copy(&h->rows, out, to);
    ret = ret ? ret : ka_buf_adds(out, "</tbody></table>\n");
    if (ret == 0 && h->n_exemptions > 0) {
        ret = ka_buf_adds(out, "<h2>Exemptions</h2>\n<table id=\"exemptions-table\">"
                               "<thead><tr><th>Kind</th><th>Namespace</th><th>Name</th>"
                               "<th>Rule</th><th>Exception</th><th>Reason</th></tr>"
                               "</thead>\n<tbody>\n");
        ret = ret ? ret : spill_copy(&h->exemptions, out, to);
        ret = ret ? ret : ka_buf_adds(out, "</tbody></table>\n");
    }
    ret = ret ? ret : ka_audit_render_errors(a, &html_markup, out);
    ret = ret ? ret : ka_buf_adds(out, html_script);
    ret = ret ? ret : ka_buf_adds(out, "</body>\n</html>\n");
    ret = ret ? ret : out_flush(out, to);
    view_free(&v);
    return ret;
}

int ka_audit_render_html(const struct ka_audit *a, struct ka_buf *out)
{
    struct ka_audit_html h;
    ka_audit_html_init(&h);
    int ret = 0;
    for (size_t i = 0; ret == 0 && i < a->n_items; i++) {
        ret = ka_audit_html_item(&h, a, &a->items[i]);
    }
    ret = ret ? ret : ka_audit_html_end(&h, a, out, NULL);
    ka_audit_html_free(&h);
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

/* The strings a result prints, in record order ("" when absent: not printed). */
enum pr_field {
    PR_RULE,
    PR_RESULT,
    PR_SEVERITY,
    PR_MESSAGE,
    PR_API_VERSION,
    PR_KIND,
    PR_NAMESPACE,
    PR_NAME,
    PR_UID,
    PR_SOURCE,
    PR_ACTION,
    PR_CONTAINER,
    PR_PATH,
    PR_FINDING_KIND,
    PR_STALE,
    PR_EXCEPTION,
    PR_FIELDS
};

/* One report being filled: at most max_results results, about max_bytes (its results' text is
 * in struct pr_writer). */
struct report_chunk {
    int open;
    size_t pass, fail, warn, error, skip;
    size_t n;
    size_t bytes; /* of the results printed unformatted */
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

/* One result from its strings (enum pr_field): the properties in the order the fields come. */
static cJSON *make_result(const struct ka_audit *a, const char *const *v)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *ts = cJSON_AddObjectToObject(r, "timestamp");
    if (r == NULL || ts == NULL || cJSON_AddStringToObject(r, "source", "kadmit") == NULL ||
        cJSON_AddStringToObject(r, "policy", a->policy_name) == NULL ||
        cJSON_AddStringToObject(r, "rule", v[PR_RULE]) == NULL ||
        cJSON_AddStringToObject(r, "category", "production checklist") == NULL ||
        cJSON_AddStringToObject(r, "result", v[PR_RESULT]) == NULL ||
        (v[PR_SEVERITY][0] != '\0' &&
         cJSON_AddStringToObject(r, "severity", v[PR_SEVERITY]) == NULL) ||
        cJSON_AddBoolToObject(r, "scored", 1) == NULL ||
        cJSON_AddStringToObject(r, "message", v[PR_MESSAGE]) == NULL ||
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
    int bad = add_prop(ref, "apiVersion", v[PR_API_VERSION]) || add_prop(ref, "kind", v[PR_KIND]) ||
              add_prop(ref, "namespace", v[PR_NAMESPACE]) || add_prop(ref, "name", v[PR_NAME]) ||
              add_prop(ref, "uid", v[PR_UID]);
    cJSON *props = cJSON_AddObjectToObject(r, "properties");
    bad = bad || props == NULL || add_prop(props, "source", v[PR_SOURCE]) ||
          add_prop(props, "action", v[PR_ACTION]) ||
          add_prop(props, "container", v[PR_CONTAINER]) || add_prop(props, "path", v[PR_PATH]) ||
          add_prop(props, "kind", v[PR_FINDING_KIND]) || add_prop(props, "stale", v[PR_STALE]) ||
          add_prop(props, "exception", v[PR_EXCEPTION]);
    if (bad) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

static cJSON *make_report(const struct ka_audit *a, const char *namespace_, int numbered, size_t k,
                          struct report_chunk *c)
{
    char base[64], name[96];
    dns_name(a->policy_name, base, sizeof(base));
    if (numbered) {
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
    int bad = rep == NULL || meta == NULL || labels == NULL ||
              cJSON_AddStringToObject(rep, "apiVersion", "wgpolicyk8s.io/v1alpha2") == NULL ||
              cJSON_AddStringToObject(
                  rep, "kind", namespace_[0] ? "PolicyReport" : "ClusterPolicyReport") == NULL ||
              cJSON_AddStringToObject(meta, "name", name) == NULL ||
              (namespace_[0] && cJSON_AddStringToObject(meta, "namespace", namespace_) == NULL) ||
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
    if (cJSON_AddArrayToObject(rep, "results") == NULL) { /* empty: its text goes in by hand */
        cJSON_Delete(rep);
        return NULL;
    }
    return rep;
}

/* ---- The spool: one record per result, chained per namespace ---- */

/* A record: its header, then the PR_FIELDS strings, each NUL-terminated. */
struct pr_header {
    uint64_t prev; /* offset of the previous record of the namespace, plus one; 0: none */
    uint64_t len;  /* of the strings */
};

/* One record (the longest message is bounded by the review summary's limits). */
#define KA_POLICYREPORT_MAX_RECORD (16u * 1024u * 1024u)

void ka_audit_policyreport_init(struct ka_audit_policyreport *p, size_t max_results,
                                size_t max_bytes)
{
    memset(p, 0, sizeof(*p));
    p->max_results = max_results ? max_results : KA_POLICYREPORT_MAX_RESULTS;
    p->max_bytes = max_bytes ? max_bytes : KA_POLICYREPORT_MAX_BYTES;
    ka_buf_init(&p->record, KA_POLICYREPORT_MAX_RECORD);
}

void ka_audit_policyreport_free(struct ka_audit_policyreport *p)
{
    if (p->spool != NULL) {
        fclose(p->spool);
    }
    for (size_t i = 0; i < p->n_namespaces; i++) {
        free(p->namespaces[i].name);
    }
    free(p->namespaces);
    ka_buf_free(&p->record);
    p->spool = NULL;
    p->namespaces = NULL;
    p->n_namespaces = p->cap_namespaces = 0;
}

/* The namespace's entry, added in its sorted place when new. NULL: out of memory. */
static struct ka_audit_policyreport_namespace *pr_namespace(struct ka_audit_policyreport *p,
                                                            const char *name)
{
    if (p->hit < p->n_namespaces && strcmp(p->namespaces[p->hit].name, name) == 0) {
        return &p->namespaces[p->hit]; /* objects come grouped more often than not */
    }
    size_t lo = 0, hi = p->n_namespaces;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(p->namespaces[mid].name, name);
        if (c == 0) {
            p->hit = mid;
            return &p->namespaces[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (ka_array_grow(&p->namespaces, &p->cap_namespaces, p->n_namespaces + 1,
                      sizeof(*p->namespaces)) != 0) {
        return NULL;
    }
    char *copy = strdup(name);
    if (copy == NULL) {
        return NULL;
    }
    memmove(&p->namespaces[lo + 1], &p->namespaces[lo],
            (p->n_namespaces - lo) * sizeof(p->namespaces[0]));
    p->namespaces[lo] = (struct ka_audit_policyreport_namespace){.name = copy};
    p->n_namespaces++;
    p->hit = lo;
    return &p->namespaces[lo];
}

/* Write one result's strings to the spool, chained to its namespace's previous record. */
static int pr_put(struct ka_audit_policyreport *p, const char *namespace_, const char *const *v)
{
    if (p->spool == NULL) {
        p->spool = ka_audit_tmpfile();
        if (p->spool == NULL) {
            p->spool = tmpfile();
        }
        if (p->spool == NULL) {
            const char *dir = getenv("TMPDIR");
            fprintf(stderr,
                    "kadmit audit: -o policyreport groups results by namespace in a temporary "
                    "file, and none can be made in %s: %s (set TMPDIR to a writable "
                    "directory)\n",
                    dir != NULL && dir[0] != '\0' ? dir : "/tmp", strerror(errno));
            return KA_EIO;
        }
    }
    struct ka_audit_policyreport_namespace *ns = pr_namespace(p, namespace_);
    if (ns == NULL) {
        return KA_ENOMEM;
    }
    ka_buf_reset(&p->record);
    int ret = 0;
    for (size_t i = 0; ret == 0 && i < PR_FIELDS; i++) {
        ret = ka_buf_add(&p->record, v[i], strlen(v[i]) + 1);
    }
    if (ret != 0) {
        return ret;
    }
    struct pr_header h = {.prev = ns->last, .len = p->record.len};
    if (fwrite(&h, sizeof(h), 1, p->spool) != 1 ||
        fwrite(p->record.data, 1, p->record.len, p->spool) != p->record.len) {
        return KA_EIO;
    }
    ns->last = p->end + 1;
    ns->n++;
    p->end += sizeof(h) + p->record.len;
    return 0;
}

int ka_audit_policyreport_item(struct ka_audit_policyreport *p, const struct ka_audit *a,
                               const struct ka_audit_item *it)
{
    (void)a;
    if (it->origin != KA_AUDIT_OBJECT || (it->error && it->kind[0] == '\0')) {
        return 0; /* decision-log entries; documents without an object to point at */
    }
    const char *v[PR_FIELDS];
    for (size_t i = 0; i < PR_FIELDS; i++) {
        v[i] = "";
    }
    v[PR_API_VERSION] = it->api_version;
    v[PR_KIND] = it->kind;
    v[PR_NAMESPACE] = it->namespace_;
    v[PR_NAME] = it->name;
    v[PR_UID] = it->uid;
    v[PR_SOURCE] = it->source;
    if (it->error) {
        v[PR_RULE] = "evaluate";
        v[PR_RESULT] = "error";
        v[PR_MESSAGE] = it->error_msg;
        return pr_put(p, it->namespace_, v);
    }
    if (it->not_evaluated) { /* a relation the input cannot judge: neither pass nor fail */
        v[PR_RULE] = it->relation;
        v[PR_RESULT] = "skip";
        v[PR_MESSAGE] = it->error_msg;
        return pr_put(p, it->namespace_, v);
    }
    int ret = 0;
    if (it->n_findings == 0) {
        v[PR_RULE] = it->relation[0] != '\0' ? it->relation : "all-rules";
        v[PR_RESULT] = "pass";
        v[PR_MESSAGE] =
            it->relation[0] != '\0' ? "the relation holds" : "passes every rule of the policy";
        ret = pr_put(p, it->namespace_, v);
    }
    /* an exception that exempted the object: skip, as Kyverno reports PolicyExceptions */
    for (size_t e = 0; ret == 0 && e < it->n_exemptions; e++) {
        const struct ka_audit_exemption *ex = &it->exemptions[e];
        char msg[512];
        snprintf(msg, sizeof(msg), "exempted by exception \"%s\": %s", ex->exception, ex->reason);
        v[PR_RULE] = ex->rule;
        v[PR_RESULT] = "skip";
        v[PR_MESSAGE] = msg;
        v[PR_EXCEPTION] = ex->exception;
        ret = pr_put(p, it->namespace_, v);
    }
    v[PR_EXCEPTION] = "";
    for (size_t f = 0; ret == 0 && f < it->n_findings; f++) {
        const struct ka_audit_finding *fd = &it->findings[f];
        const char *kind = ka_audit_finding_kind(it, fd);
        v[PR_RULE] = fd->rule;
        v[PR_RESULT] = fd->action == KA_ACTION_ENFORCE ? "fail" : "warn";
        v[PR_SEVERITY] = fd->action == KA_ACTION_ENFORCE ? "high"
                         : fd->action == KA_ACTION_WARN  ? "medium"
                                                         : "low";
        v[PR_MESSAGE] = fd->message;
        v[PR_ACTION] = ka_action_name(fd->action);
        v[PR_CONTAINER] = fd->container;
        v[PR_PATH] = fd->path;
        v[PR_FINDING_KIND] = kind != NULL ? kind : "";
        v[PR_STALE] = kind != NULL ? ka_stale_name(fd->stale) : "";
        ret = pr_put(p, it->namespace_, v);
    }
    return ret;
}

/* Read the record at `off`: its header, and (when `v`) its strings into p->record. */
static int pr_get(struct ka_audit_policyreport *p, uint64_t off, struct pr_header *h,
                  const char **v)
{
    if (fseeko(p->spool, (off_t)off, SEEK_SET) != 0 || fread(h, sizeof(*h), 1, p->spool) != 1) {
        return KA_EIO;
    }
    if (v == NULL) {
        return 0;
    }
    if (h->len > p->record.max) {
        return KA_EINTERNAL;
    }
    ka_buf_reset(&p->record);
    char chunk[4096];
    for (size_t left = (size_t)h->len; left > 0;) {
        size_t n = fread(chunk, 1, left < sizeof(chunk) ? left : sizeof(chunk), p->spool);
        if (n == 0 || ka_buf_add(&p->record, chunk, n) != 0) {
            return n == 0 ? KA_EIO : KA_ENOMEM;
        }
        left -= n;
    }
    const char *s = p->record.data, *end = p->record.data + p->record.len;
    for (size_t i = 0; i < PR_FIELDS; i++) {
        const char *nul = s < end ? memchr(s, '\0', (size_t)(end - s)) : NULL;
        if (nul == NULL) {
            return KA_EINTERNAL;
        }
        v[i] = s;
        s = nul + 1;
    }
    return 0;
}

/* The reports being written: the current namespace's one chunk. */
struct pr_writer {
    const struct ka_audit *a;
    struct ka_buf *out;
    FILE *to;
    size_t n_reports; /* written */
    const char *namespace_;
    size_t k; /* the chunk's number in its namespace */
    struct report_chunk c;
    struct ka_buf results; /* the chunk's results as cJSON_Print lays them out in a report */
};

/* Append n bytes of text, each line after the first `tabs` tabs deeper. */
static int add_indented(struct ka_buf *out, const char *text, size_t n, const char *tabs)
{
    int ret = 0;
    for (const char *s = text, *end = text + n; ret == 0 && s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl != NULL ? (size_t)(nl - s) + 1 : (size_t)(end - s);
        ret = ka_buf_add(out, s, len);
        ret = ret ? ret : nl != NULL ? ka_buf_adds(out, tabs) : 0;
        s += len;
    }
    return ret;
}

/* Write the chunk as one report, as an element of the List's items (cJSON_Print's layout): the
 * report printed with an empty "results" (its last member), the results' text put in. */
static int pr_write_report(struct pr_writer *w, int numbered)
{
    cJSON *rep = make_report(w->a, w->namespace_, numbered, w->k, &w->c);
    char *text = rep != NULL ? cJSON_Print(rep) : NULL;
    cJSON_Delete(rep);
    memset(&w->c, 0, sizeof(w->c));
    if (text == NULL) {
        return KA_ENOMEM;
    }
    size_t len = strlen(text);
    int ret = len >= 4 && strcmp(text + len - 4, "[]\n}") == 0 ? 0 : KA_EINTERNAL;
    ret = ret ? ret : w->n_reports > 0 ? ka_buf_adds(w->out, ", ") : 0;
    ret = ret ? ret : add_indented(w->out, text, len - 3, "\t\t"); /* up to its "[" */
    ret = ret ? ret : add_indented(w->out, w->results.data, w->results.len, "\t\t");
    ret = ret ? ret : add_indented(w->out, "]\n}", 3, "\t\t");
    free(text);
    ka_buf_reset(&w->results);
    w->n_reports++;
    w->k++;
    return ret ? ret : out_flush(w->out, w->to);
}

/* Add a result to the current chunk; a full chunk is written first (numbered: there are two). */
static int pr_add(struct pr_writer *w, const struct ka_audit_policyreport *p, const char *const *v)
{
    cJSON *r = make_result(w->a, v);
    char *text = r != NULL ? cJSON_Print(r) : NULL;
    cJSON_Delete(r);
    if (text == NULL) {
        return KA_ENOMEM;
    }
    /* its size printed unformatted (what the byte limit counts): without the layout's tabs and
     * newlines (strings hold neither: cJSON escapes them) - its one array has one element */
    size_t bytes = 1;
    for (const char *c = text; *c != '\0'; c++) {
        bytes += *c != '\t' && *c != '\n';
    }
    int ret = 0;
    if (w->c.open &&
        (w->c.n >= p->max_results || (w->c.n > 0 && w->c.bytes + bytes > p->max_bytes))) {
        ret = pr_write_report(w, 1);
    }
    ret = ret ? ret : w->c.n > 0 ? ka_buf_adds(&w->results, ", ") : 0;
    ret = ret ? ret : add_indented(&w->results, text, strlen(text), "\t\t");
    free(text);
    if (ret != 0) {
        return ret;
    }
    const char *result = v[PR_RESULT];
    w->c.open = 1;
    w->c.n++;
    w->c.bytes += bytes;
    w->c.pass += strcmp(result, "pass") == 0;
    w->c.fail += strcmp(result, "fail") == 0;
    w->c.warn += strcmp(result, "warn") == 0;
    w->c.error += strcmp(result, "error") == 0;
    w->c.skip += strcmp(result, "skip") == 0;
    return 0;
}

int ka_audit_policyreport_end(struct ka_audit_policyreport *p, const struct ka_audit *a,
                              struct ka_buf *out, FILE *to)
{
    struct pr_writer w = {.a = a, .out = out, .to = to};
    ka_buf_init(&w.results, 1024u * 1024u * 1024u);
    uint64_t *offsets = NULL;
    int ret = ka_buf_adds(out, "{\n\t\"items\":\t[");
    if (ret == 0 && p->spool != NULL && fflush(p->spool) != 0) {
        ret = KA_EIO;
    }
    /* namespaces in order ("" first: the ClusterPolicyReport), each read back in input order */
    for (size_t i = 0; ret == 0 && i < p->n_namespaces; i++) {
        const struct ka_audit_policyreport_namespace *ns = &p->namespaces[i];
        uint64_t *v = realloc(offsets, ns->n * sizeof(*v));
        if (v == NULL) {
            ret = KA_ENOMEM;
            break;
        }
        offsets = v;
        struct pr_header h = {.prev = ns->last};
        for (size_t k = ns->n; ret == 0 && k > 0; k--) {
            offsets[k - 1] = h.prev - 1;
            ret = h.prev == 0 ? KA_EINTERNAL : pr_get(p, h.prev - 1, &h, NULL);
        }
        w.namespace_ = ns->name;
        w.k = 0;
        for (size_t k = 0; ret == 0 && k < ns->n; k++) {
            const char *fields[PR_FIELDS];
            ret = pr_get(p, offsets[k], &h, fields);
            ret = ret ? ret : pr_add(&w, p, fields);
        }
        if (ret == 0 && w.c.open) {
            ret = pr_write_report(&w, w.k > 0);
        }
    }
    ka_buf_free(&w.results);
    free(offsets);
    ret =
        ret ? ret : ka_buf_adds(out, "],\n\t\"apiVersion\":\t\"v1\",\n\t\"kind\":\t\"List\"\n}\n");
    ret = ret ? ret : out_flush(out, to);
    return ret;
}

int ka_audit_render_policyreport(const struct ka_audit *a, struct ka_buf *out, size_t max_results,
                                 size_t max_bytes)
{
    struct ka_audit_policyreport p;
    ka_audit_policyreport_init(&p, max_results, max_bytes);
    int ret = 0;
    for (size_t i = 0; ret == 0 && i < a->n_items; i++) {
        ret = ka_audit_policyreport_item(&p, a, &a->items[i]);
    }
    ret = ret ? ret : ka_audit_policyreport_end(&p, a, out, NULL);
    ka_audit_policyreport_free(&p);
    return ret;
}
