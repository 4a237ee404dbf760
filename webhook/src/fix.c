/*
 * `kadmit fix`: the span engine (one RFC 6902 operation -> one edit of the source text) and the
 * driver that asks the rules what to change, document by document. See fix.h.
 */
#include "kadmit/fix.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/attest.h"
#include "kadmit/error.h"
#include "kadmit/limits.h"
#include "kadmit/patch.h"
#include "kadmit/rules.h"
#include "kadmit/yaml.h"

/* Segments of one JSON pointer, and their total size. */
#define KA_FIX_MAX_SEGMENTS 64
#define KA_FIX_MAX_POINTER 1024
#define KA_FIX_MAX_IMAGE 1024 /* an image reference written by --resolve-digests */
/* A refusal by --resolve-digests: its note says why as it is. */
#define RESOLVE_REFUSAL "--resolve-digests: "

/* ------------------------------------------------------------------------------------------
 * The document's layout: positions, line ending, indentation habits
 */

struct layout {
    const char *text;
    size_t len;
    const struct ka_yaml_stream *s;
    const char *eol;      /* "\n" or "\r\n", as the file writes it */
    unsigned step;        /* how far a nested mapping is indented under its key */
    unsigned seq_offset;  /* how far a block sequence's "-" is indented under its key */
    unsigned item_offset; /* from a "-" to its item's first key ("- name", "-   name") */
    int json;             /* the document is JSON: keys quoted, flow everywhere */
};

static const struct ka_yaml_pos *pos_of(const struct ka_yaml_stream *s, const cJSON *node)
{
    for (size_t i = 0; i < s->n_pos; i++) {
        if (s->pos[i].node == node) {
            return &s->pos[i];
        }
    }
    return NULL;
}

/* Positions are recorded in document order, a collection before its children: its first
 * child's is the next entry (unless that child is an alias copy, which has none). */
static const struct ka_yaml_pos *first_child_pos(const struct ka_yaml_stream *s, size_t i)
{
    const cJSON *child = s->pos[i].node->child;
    return child != NULL && i + 1 < s->n_pos && s->pos[i + 1].node == child ? &s->pos[i + 1] : NULL;
}

static int is_collection(const cJSON *v)
{
    return cJSON_IsObject(v) || cJSON_IsArray(v);
}

static const cJSON *last_child(const cJSON *v)
{
    const cJSON *c = v->child;
    while (c != NULL && c->next != NULL) {
        c = c->next;
    }
    return c;
}

static int looks_like_json(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] != ' ' && data[i] != '\n' && data[i] != '\r' && data[i] != '\t') {
            return data[i] == '{' || data[i] == '[';
        }
    }
    return 0;
}

static void layout_init(struct layout *L, const char *text, size_t len,
                        const struct ka_yaml_stream *s)
{
    memset(L, 0, sizeof(*L));
    L->text = text;
    L->len = len;
    L->s = s;
    const char *nl = memchr(text, '\n', len);
    L->eol = nl != NULL && nl > text && nl[-1] == '\r' ? "\r\n" : "\n";
    L->json = looks_like_json(text, len);
    int have_step = 0, have_seq = 0;
    L->item_offset = 2;
    for (size_t i = 0; i < s->n_pos; i++) {
        const struct ka_yaml_pos *p = &s->pos[i];
        const struct ka_yaml_pos *first = cJSON_IsArray(p->node) ? first_child_pos(s, i) : NULL;
        if (first != NULL && !p->flow && cJSON_IsObject(p->node->child) && !first->flow &&
            first->line == p->line && first->column > p->column && first->column - p->column <= 8) {
            L->item_offset = first->column - p->column;
            break;
        }
    }
    for (size_t i = 0; i < s->n_pos && !(have_step && have_seq); i++) {
        const struct ka_yaml_pos *p = &s->pos[i];
        const struct ka_yaml_pos *first = NULL;
        if (!is_collection(p->node) || p->key_start == SIZE_MAX || p->node->child == NULL ||
            (first = first_child_pos(s, i)) == NULL || (p->flow && first->line == p->line)) {
            continue;
        }
        /* a block collection starts at its first key or dash; a flow one at its bracket */
        unsigned col = !p->flow                  ? p->column
                       : cJSON_IsObject(p->node) ? first->key_column
                                                 : first->column;
        if (col < p->key_column) {
            continue;
        }
        if ((cJSON_IsObject(p->node) || p->flow) && !have_step && col > p->key_column) {
            L->step = col - p->key_column;
            have_step = 1;
        } else if (cJSON_IsArray(p->node) && !p->flow && !have_seq) {
            L->seq_offset = col - p->key_column; /* 0: "containers:\n- name: x" */
            have_seq = 1;
        }
    }
    if (!have_step || L->step == 0 || L->step > 8) {
        L->step = 2;
    }
    if (!have_seq || L->seq_offset > 8) {
        L->seq_offset = L->step;
    }
}

/* Where the node's own text ends: past its last scalar, without the trailing line breaks of a
 * block scalar or the comments libyaml counts into a block collection. */
/* SIZE_MAX when the node has no text of its own: a copy made by an alias or a merge key. */
#define KA_FIX_NO_TEXT SIZE_MAX
#define KA_FIX_ALIAS_WHY "it is under a YAML alias; editing its anchor would change every use"

static size_t content_end(const struct layout *L, const cJSON *node)
{
    const struct ka_yaml_pos *p = pos_of(L->s, node);
    if (p == NULL) {
        return KA_FIX_NO_TEXT;
    }
    if (is_collection(node) && !p->flow && node->child != NULL) {
        const cJSON *last = NULL; /* the last child written here (not merged in by "<<") */
        for (const cJSON *c = node->child; c != NULL; c = c->next) {
            last = pos_of(L->s, c) != NULL ? c : last;
        }
        return last != NULL ? content_end(L, last) : KA_FIX_NO_TEXT;
    }
    size_t e = p->end;
    if (p->block_scalar) {
        while (e > p->start + 1 && (L->text[e - 1] == '\n' || L->text[e - 1] == '\r' ||
                                    L->text[e - 1] == ' ' || L->text[e - 1] == '\t')) {
            e--;
        }
    }
    return e;
}

/* The start of the line after the one `at` is on (len at the end of a file without EOL). */
static size_t line_after(const struct layout *L, size_t at)
{
    while (at < L->len && L->text[at] != '\n') {
        at++;
    }
    return at < L->len ? at + 1 : L->len;
}

/* Where to insert a line at indentation `col` after content ending at `ce`: past the rest of
 * that line and past comment lines indented deeper than `col` (they belong to the block above,
 * "# requests to be decided" under resources), blank lines between them included. */
static size_t insertion_point(const struct layout *L, size_t ce, unsigned col)
{
    if (ce == KA_FIX_NO_TEXT) {
        return ce;
    }
    size_t at = line_after(L, ce);
    for (size_t scan = at; scan < L->len;) {
        size_t i = scan;
        while (i < L->len && L->text[i] == ' ') {
            i++;
        }
        if (i < L->len && (L->text[i] == '\n' || L->text[i] == '\r')) {
            scan = line_after(L, i); /* blank: taken only with a deeper comment after it */
            continue;
        }
        if (i >= L->len || L->text[i] != '#' || i - scan <= col) {
            break;
        }
        at = scan = line_after(L, i);
    }
    return at;
}

static size_t line_start(const struct layout *L, size_t at)
{
    while (at > 0 && L->text[at - 1] != '\n') {
        at--;
    }
    return at;
}

/* The ':' after a mapping key written at `key_start` (plain, single- or double-quoted). */
static size_t key_colon(const struct layout *L, size_t key_start)
{
    size_t i = key_start;
    char q = L->text[i];
    if (q == '"' || q == '\'') {
        for (i++; i < L->len && L->text[i] != q; i++) {
            if (q == '"' && L->text[i] == '\\') {
                i++;
            } else if (q == '\'' && L->text[i] == '\'' && i + 1 < L->len &&
                       L->text[i + 1] == '\'') {
                i++;
            }
        }
        i++;
    }
    while (i < L->len && L->text[i] != ':') {
        i++;
    }
    return i;
}

/* ------------------------------------------------------------------------------------------
 * Writing values in the file's style
 */

static int spaces(struct ka_buf *b, unsigned n)
{
    static const char sp[] = "                                                                ";
    int ret = 0;
    while (ret == 0 && n > 0) {
        unsigned k = n < 64 ? n : 64;
        ret = ka_buf_add(b, sp, k);
        n -= k;
    }
    return ret;
}

static int number_text(struct ka_buf *b, double d)
{
    if (d == (double)(long long)d && d > -1e15 && d < 1e15) {
        return ka_buf_printf(b, "%lld", (long long)d);
    }
    return ka_buf_printf(b, "%.17g", d);
}

/* A string YAML reads back as the same string without quotes (in block and flow context). */
static int plain_safe(const char *s)
{
    static const char *const words[] = {
        "",      "~",     "null", "Null",  "NULL", "true", "True", "TRUE", "false",
        "False", "FALSE", "y",    "Y",     "yes",  "Yes",  "YES",  "n",    "N",
        "no",    "No",    "NO",   "on",    "On",   "ON",   "off",  "Off",  "OFF",
        ".inf",  ".Inf",  ".INF", "-.inf", ".nan", ".NaN", "=",    "<<",   NULL};
    for (size_t i = 0; words[i] != NULL; i++) {
        if (strcmp(s, words[i]) == 0) {
            return 0;
        }
    }
    if (strchr("-?:,[]{}#&*!|>'\"%@` \t", s[0]) != NULL) {
        return 0;
    }
    size_t n = strlen(s);
    if (s[n - 1] == ' ' || s[n - 1] == '\t') {
        return 0;
    }
    int numeric = 1, digits = 0; /* 1e3, 0x1f, 1_000, 1:30, .5: leave to quotes */
    for (const char *c = s; *c != '\0'; c++) {
        unsigned char u = (unsigned char)*c;
        if (u < 0x20 || u == 0x7f || strchr("#,[]{}\"'\\", u) != NULL ||
            (u == ':' && (c[1] == ' ' || c[1] == '\0'))) {
            return 0;
        }
        digits += u >= '0' && u <= '9';
        if (!((u >= '0' && u <= '9') || strchr("+-._:eExXoObBaAcCdDfF", u) != NULL)) {
            numeric = 0;
        }
    }
    return !(numeric && digits > 0);
}

static int scalar_text(struct ka_buf *b, const cJSON *v, int json)
{
    if (cJSON_IsNumber(v)) {
        return number_text(b, v->valuedouble);
    }
    if (cJSON_IsTrue(v)) {
        return ka_buf_adds(b, "true");
    }
    if (cJSON_IsFalse(v)) {
        return ka_buf_adds(b, "false");
    }
    if (cJSON_IsString(v)) {
        if (!json && plain_safe(v->valuestring)) {
            return ka_buf_adds(b, v->valuestring);
        }
        return ka_buf_add_json_string(b, v->valuestring, strlen(v->valuestring));
    }
    return ka_buf_adds(b, "null");
}

/* A line break, then `col` spaces. */
static int new_line(const struct layout *L, struct ka_buf *b, unsigned col)
{
    int ret = ka_buf_adds(b, L->eol);
    return ret ? ret : spaces(b, col);
}

static int key_text(struct ka_buf *b, const char *key, int json)
{
    if (!json && plain_safe(key)) {
        return ka_buf_adds(b, key);
    }
    return ka_buf_add_json_string(b, key, strlen(key));
}

/* Flow style (JSON when L->json): inline, or one member a line at `indent` + step. */
static int emit_flow(const struct layout *L, struct ka_buf *b, const cJSON *v, int multiline,
                     unsigned indent)
{
    if (!is_collection(v)) {
        return scalar_text(b, v, L->json);
    }
    int obj = cJSON_IsObject(v);
    int ret = ka_buf_adds(b, obj ? "{" : "[");
    const cJSON *c;
    cJSON_ArrayForEach(c, v)
    {
        if (ret == 0 && c != v->child) {
            ret = ka_buf_adds(b, multiline ? "," : ", ");
        }
        if (ret == 0 && multiline) {
            ret = new_line(L, b, indent + L->step);
        }
        if (ret == 0 && obj) {
            ret = key_text(b, c->string, L->json);
            if (ret == 0) {
                ret = ka_buf_adds(b, ": ");
            }
        }
        if (ret == 0) {
            ret = emit_flow(L, b, c, multiline, indent + L->step);
        }
    }
    if (ret == 0 && multiline && v->child != NULL) {
        ret = new_line(L, b, indent);
    }
    return ret == 0 ? ka_buf_adds(b, obj ? "}" : "]") : ret;
}

static int emit_block_item(const struct layout *L, struct ka_buf *b, const cJSON *v,
                           unsigned dash_col);
static int emit_block_value(const struct layout *L, struct ka_buf *b, const cJSON *v,
                            unsigned key_col);

/* "key:" and its value in block style, the key at column `key_col` (the caller indents it). */
static int emit_block_member(const struct layout *L, struct ka_buf *b, const char *key,
                             const cJSON *v, unsigned key_col)
{
    int ret = key_text(b, key, 0);
    ret = ret ? ret : ka_buf_adds(b, ":");
    return ret ? ret : emit_block_value(L, b, v, key_col);
}

/* "-" and the item in block style, the dash at column `dash_col` (the caller indents it). */
static int emit_block_dash(const struct layout *L, struct ka_buf *b, const cJSON *v,
                           unsigned dash_col)
{
    int ret = ka_buf_adds(b, "-");
    return ret ? ret : emit_block_item(L, b, v, dash_col);
}

/* What follows "key:" in block style, the key written at column `key_col` (0-based). */
static int emit_block_value(const struct layout *L, struct ka_buf *b, const cJSON *v,
                            unsigned key_col)
{
    int ret = 0;
    if (!is_collection(v) || v->child == NULL) {
        ret = ka_buf_adds(b, " ");
        return ret == 0 ? emit_flow(L, b, v, 0, 0) : ret;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, v)
    {
        if (cJSON_IsObject(v)) {
            ret = ret ? ret : new_line(L, b, key_col + L->step);
            ret = ret ? ret : emit_block_member(L, b, c->string, c, key_col + L->step);
        } else {
            ret = ret ? ret : new_line(L, b, key_col + L->seq_offset);
            ret = ret ? ret : emit_block_dash(L, b, c, key_col + L->seq_offset);
        }
    }
    return ret;
}

/* What follows "-" of a block sequence item whose dash is at column `dash_col`. */
static int emit_block_item(const struct layout *L, struct ka_buf *b, const cJSON *v,
                           unsigned dash_col)
{
    if (!cJSON_IsObject(v) || v->child == NULL) {
        int ret = ka_buf_adds(b, " ");
        return ret == 0 ? emit_flow(L, b, v, 0, 0) : ret; /* nested lists stay inline */
    }
    int ret = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, v)
    {
        if (c == v->child) {
            ret = spaces(b, L->item_offset - 1);
        } else {
            ret = new_line(L, b, dash_col + L->item_offset);
        }
        ret = ret ? ret : emit_block_member(L, b, c->string, c, dash_col + L->item_offset);
        if (ret != 0) {
            return ret;
        }
    }
    return ret;
}

/* ------------------------------------------------------------------------------------------
 * One operation -> one edit
 */

struct edit {
    size_t start, end;  /* replaced span */
    struct ka_buf text; /* what replaces it */
};

static int fail(char *err, size_t err_len, const char *msg)
{
    snprintf(err, err_len, "%s", msg);
    return KA_EINVAL;
}

static int has_newline(const struct layout *L, size_t from, size_t to)
{
    return to > from && memchr(L->text + from, '\n', to - from) != NULL;
}

/* Start a new block line at column `col` after `node`: the edit inserts there, beginning with a
 * line break when the text does not end in one, then the indentation. */
static int start_block_line(const struct layout *L, const cJSON *node, unsigned col, struct edit *e)
{
    int ret = 0;
    e->start = e->end = insertion_point(L, content_end(L, node), col);
    if (e->start == L->len && L->len > 0 && L->text[L->len - 1] != '\n') {
        ret = ka_buf_adds(&e->text, L->eol);
    }
    return ret ? ret : spaces(&e->text, col);
}

/* Start a new item after `last`, the last item of a flow collection: the separator, and in a
 * collection written over several lines a line break and the items' indentation `col`. */
static int start_flow_item(const struct layout *L, const cJSON *last, int multiline, unsigned col,
                           struct edit *e)
{
    e->start = e->end = content_end(L, last);
    int ret = ka_buf_adds(&e->text, multiline ? "," : ", ");
    return ret == 0 && multiline ? new_line(L, &e->text, col) : ret;
}

/*
 * Insert `value` into the collection `parent`: as member `key` of a mapping, or (`key` NULL) as
 * the last item of a sequence. Block collections get a line of their own, flow ones an item
 * after the last (on its own line when the collection is written over several).
 */
static int edit_insert(const struct layout *L, const cJSON *parent, const char *key,
                       const cJSON *value, struct edit *e, char *err, size_t err_len)
{
    const struct ka_yaml_pos *pp = pos_of(L->s, parent);
    struct ka_buf *b = &e->text;
    int ret = 0;
    if (pp == NULL) {
        return fail(err, err_len, KA_FIX_ALIAS_WHY);
    }
    if (!pp->flow) {
        unsigned col = pp->column - 1;
        ret = start_block_line(L, parent, col, e);
        if (key != NULL) {
            ret = ret ? ret : emit_block_member(L, b, key, value, col);
        } else {
            ret = ret ? ret : emit_block_dash(L, b, value, col);
        }
        return ret ? ret : ka_buf_adds(b, L->eol);
    }
    int multiline = 0;
    unsigned col = 0;
    if (parent->child == NULL) {
        if (L->text[pp->start] != (key != NULL ? '{' : '[')) {
            return fail(err, err_len,
                        key != NULL ? "empty flow mapping without its brace"
                                    : "empty flow list without its bracket");
        }
        e->start = e->end = pp->start + 1;
    } else {
        const cJSON *last = last_child(parent);
        const struct ka_yaml_pos *pl = pos_of(L->s, last);
        multiline = has_newline(L, pp->start, pp->end);
        if (pl != NULL) {
            col = key == NULL ? pl->column - 1 : pl->key_column > 0 ? pl->key_column - 1 : 0;
        }
        ret = start_flow_item(L, last, multiline, col, e);
    }
    if (key != NULL) {
        ret = ret ? ret : key_text(b, key, L->json);
        ret = ret ? ret : ka_buf_adds(b, ": ");
    }
    return ret ? ret : emit_flow(L, b, value, multiline, col);
}

/* Replace the value of a mapping member (`old`, in `map`) by `value`. */
static int edit_replace_member(const struct layout *L, const cJSON *map, const cJSON *old,
                               const cJSON *value, struct edit *e, char *err, size_t err_len)
{
    const struct ka_yaml_pos *pm = pos_of(L->s, map);
    const struct ka_yaml_pos *po = pos_of(L->s, old);
    struct ka_buf *b = &e->text;
    if (pm == NULL || po == NULL || po->key_start == SIZE_MAX) {
        return fail(err, err_len, KA_FIX_ALIAS_WHY);
    }
    size_t ce = content_end(L, old);
    char quote = po->start < L->len ? L->text[po->start] : '\0';
    if (cJSON_IsString(old) && cJSON_IsString(value) && (quote == '"' || quote == '\'') &&
        (quote == '"' || strpbrk(value->valuestring, "\r\n\t") == NULL)) {
        /* a quoted string stays quoted the same way */
        e->start = po->start;
        e->end = ce;
        if (quote == '"') {
            return ka_buf_add_json_string(b, value->valuestring, strlen(value->valuestring));
        }
        int ret = ka_buf_add(b, "'", 1);
        for (const char *p = value->valuestring; ret == 0 && *p != '\0'; p++) {
            ret = ka_buf_add(b, p, *p == '\'' ? 0 : 1);
            ret = ret ? ret : *p == '\'' ? ka_buf_adds(b, "''") : 0;
        }
        return ret ? ret : ka_buf_add(b, "'", 1);
    }
    if (pm->flow) {
        e->start = po->start;
        e->end = ce;
        int multiline = has_newline(L, pm->start, pm->end) && is_collection(value);
        return emit_flow(L, b, value, multiline, po->key_column - 1);
    }
    unsigned kc = po->key_column - 1;
    size_t colon = key_colon(L, po->key_start);
    if (colon >= L->len || (colon >= po->start && po->start != po->end)) {
        return fail(err, err_len, "cannot find the key's colon");
    }
    e->start = colon + 1;
    if (!is_collection(value) || value->child == NULL || (is_collection(old) && !po->flow)) {
        e->end = ce;
        return emit_block_value(L, b, value, kc);
    }
    /* A scalar (null, ~) or flow value becomes a block: keep the rest of its line (a comment)
     * on the key's line, and write the block below it. */
    size_t next = line_after(L, ce);
    size_t rest_end = next;
    while (rest_end > ce && (L->text[rest_end - 1] == '\n' || L->text[rest_end - 1] == '\r')) {
        rest_end--;
    }
    e->end = next;
    int ret = ka_buf_add(b, L->text + ce, rest_end - ce);
    if (ret == 0) {
        ret = emit_block_value(L, b, value, kc);
    }
    return ret == 0 ? ka_buf_adds(b, L->eol) : ret;
}

/* Remove a mapping member (`old`, in `map`). */
static int edit_remove_member(const struct layout *L, const cJSON *map, const cJSON *old,
                              struct edit *e, char *err, size_t err_len)
{
    const struct ka_yaml_pos *pm = pos_of(L->s, map);
    const struct ka_yaml_pos *po = pos_of(L->s, old);
    if (pm == NULL || po == NULL || po->key_start == SIZE_MAX) {
        return fail(err, err_len, KA_FIX_ALIAS_WHY);
    }
    size_t ce = content_end(L, old);
    if (!pm->flow) {
        size_t ls = line_start(L, po->key_start);
        for (size_t i = ls; i < po->key_start; i++) {
            if (L->text[i] != ' ') {
                return fail(err, err_len, "the key shares its line with a list dash");
            }
        }
        e->start = ls;
        e->end = line_after(L, ce);
        return 0;
    }
    const cJSON *prev = map->child;
    while (prev != NULL && prev->next != old) {
        prev = prev->next;
    }
    if (prev != NULL) {
        e->start = content_end(L, prev);
        e->end = ce;
    } else if (old->next != NULL && pos_of(L->s, old->next) != NULL) {
        e->start = po->key_start;
        e->end = pos_of(L->s, old->next)->key_start;
    } else {
        e->start = po->key_start;
        e->end = ce;
    }
    return 0;
}

/* RFC 6901: split `path` into unescaped segments (written into `store`). */
static int split_pointer(const char *path, char *store, size_t store_len, char **segs,
                         size_t *n_segs)
{
    size_t n = 0, o = 0;
    if (path[0] != '/') {
        return KA_EINVAL;
    }
    for (const char *c = path; *c != '\0'; c++) {
        if (o + 2 >= store_len) {
            return KA_ELIMIT;
        }
        if (*c == '/') {
            if (n == KA_FIX_MAX_SEGMENTS) {
                return KA_ELIMIT;
            }
            if (n > 0) {
                store[o++] = '\0';
            }
            segs[n++] = store + o;
        } else if (*c == '~' && (c[1] == '0' || c[1] == '1')) {
            store[o++] = c[1] == '0' ? '~' : '/';
            c++;
        } else {
            store[o++] = *c;
        }
    }
    store[o] = '\0';
    *n_segs = n;
    return 0;
}

static int parse_index(const char *seg, size_t *out)
{
    char *end = NULL;
    if (seg[0] < '0' || seg[0] > '9' || (seg[0] == '0' && seg[1] != '\0')) {
        return KA_EINVAL;
    }
    unsigned long v = strtoul(seg, &end, 10);
    if (*end != '\0' || v > 1000000ul) {
        return KA_EINVAL;
    }
    *out = (size_t)v;
    return 0;
}

static cJSON *child_at(cJSON *parent, const char *seg)
{
    if (cJSON_IsObject(parent)) {
        return cJSON_GetObjectItemCaseSensitive(parent, seg);
    }
    size_t i;
    if (!cJSON_IsArray(parent) || parse_index(seg, &i) != 0) {
        return NULL;
    }
    return cJSON_GetArrayItem(parent, (int)i);
}

/* The operation on the tree, as RFC 6902 says (what the edited text must parse back to). */
static int apply_to_tree(cJSON *parent, const char *op, const char *seg, const cJSON *value)
{
    cJSON *copy = value != NULL ? cJSON_Duplicate(value, 1) : NULL;
    if (value != NULL && copy == NULL) {
        return KA_ENOMEM;
    }
    if (cJSON_IsObject(parent)) {
        if (strcmp(op, "remove") == 0) {
            cJSON_DeleteItemFromObjectCaseSensitive(parent, seg);
            return 0;
        }
        if (cJSON_GetObjectItemCaseSensitive(parent, seg) != NULL) {
            return cJSON_ReplaceItemInObjectCaseSensitive(parent, seg, copy) ? 0 : KA_ENOMEM;
        }
        if (!cJSON_AddItemToObject(parent, seg, copy)) {
            cJSON_Delete(copy);
            return KA_ENOMEM;
        }
        return 0;
    }
    size_t i = 0;
    if (strcmp(seg, "-") == 0 && strcmp(op, "add") == 0) {
        cJSON_AddItemToArray(parent, copy);
        return 0;
    }
    if (parse_index(seg, &i) != 0) {
        cJSON_Delete(copy);
        return KA_EINVAL;
    }
    if (strcmp(op, "replace") == 0) {
        return cJSON_ReplaceItemInArray(parent, (int)i, copy) ? 0 : KA_ENOMEM;
    }
    cJSON_Delete(copy);
    return KA_EINVAL;
}

/* Work out the edit for `op` on the parsed document. */
static int plan_edit(const struct layout *L, cJSON *doc, const char *op, char **segs, size_t n_segs,
                     const cJSON *value, struct edit *e, cJSON **parent_out, char *err,
                     size_t err_len)
{
    cJSON *parent = doc;
    if (n_segs == 0) {
        return fail(err, err_len, "cannot replace a whole document");
    }
    for (size_t i = 0; i + 1 < n_segs && parent != NULL; i++) {
        parent = child_at(parent, segs[i]);
    }
    if (!is_collection(parent)) {
        return KA_ENOTFOUND;
    }
    *parent_out = parent;
    const char *seg = segs[n_segs - 1];
    int add = strcmp(op, "add") == 0, replace = strcmp(op, "replace") == 0,
        remove = strcmp(op, "remove") == 0;
    if ((!add && !replace && !remove) || ((add || replace) && value == NULL)) {
        return fail(err, err_len, "unsupported operation");
    }
    if (cJSON_IsObject(parent)) {
        cJSON *old = cJSON_GetObjectItemCaseSensitive(parent, seg);
        if (old == NULL) {
            return add ? edit_insert(L, parent, seg, value, e, err, err_len) : KA_ENOTFOUND;
        }
        if (remove) {
            return edit_remove_member(L, parent, old, e, err, err_len);
        }
        return edit_replace_member(L, parent, old, value, e, err, err_len);
    }
    size_t idx = 0;
    size_t size = (size_t)cJSON_GetArraySize(parent);
    if (add && (strcmp(seg, "-") == 0 || (parse_index(seg, &idx) == 0 && idx == size))) {
        return edit_insert(L, parent, NULL, value, e, err, err_len);
    }
    if (parse_index(seg, &idx) != 0 || idx >= size) {
        return KA_ENOTFOUND;
    }
    cJSON *old = cJSON_GetArrayItem(parent, (int)idx);
    const struct ka_yaml_pos *po = pos_of(L->s, old);
    if (replace && po != NULL && !is_collection(old) && !is_collection(value)) {
        e->start = po->start;
        e->end = content_end(L, old);
        return scalar_text(&e->text, value, L->json);
    }
    return fail(err, err_len, "only appending to a list is supported");
}

int ka_fix_apply_op(const char *text, size_t len, const char *op, const char *path,
                    const cJSON *value, struct ka_buf *out, char *err, size_t err_len)
{
    int ret = KA_EINTERNAL;
    struct ka_yaml_stream s, after;
    ka_yaml_stream_init(&s);
    ka_yaml_stream_init(&after);
    struct edit e = {0, 0, {0}};
    ka_buf_init(&e.text, KA_MAX_MANIFEST_FILE);
    cJSON *expected = NULL;
    char store[KA_FIX_MAX_POINTER];
    char *segs[KA_FIX_MAX_SEGMENTS];
    size_t n_segs = 0;
    err[0] = '\0';

    ret = split_pointer(path, store, sizeof(store), segs, &n_segs);
    if (ret != 0) {
        snprintf(err, err_len, "bad JSON pointer");
        goto cleanup;
    }
    ret = ka_yaml_parse(&s, "fix", text, len, 0, NULL);
    if (ret != 0 || s.n_docs != 1) {
        snprintf(err, err_len, "the document does not parse");
        ret = KA_EPARSE;
        goto cleanup;
    }
    struct layout L;
    layout_init(&L, text, len, &s);
    cJSON *parent = NULL;
    ret = plan_edit(&L, s.docs[0], op, segs, n_segs, value, &e, &parent, err, err_len);
    if (ret != 0) {
        if (ret == KA_ENOTFOUND && err[0] == '\0') {
            snprintf(err, err_len, "%s does not exist", path);
        }
        goto cleanup;
    }
    if (e.start > e.end || e.end > len) {
        snprintf(err, err_len, "%s", KA_FIX_ALIAS_WHY);
        ret = KA_EINVAL;
        goto cleanup;
    }
    /* What the new text must parse to: the old tree with the operation applied. */
    ret = apply_to_tree(parent, op, segs[n_segs - 1], value);
    if (ret != 0) {
        snprintf(err, err_len, "cannot apply the operation");
        goto cleanup;
    }
    expected = s.docs[0];
    s.docs[0] = NULL;
    s.n_docs = 0;
    ka_buf_reset(out);
    ret = ka_buf_add(out, text, e.start);
    if (ret == 0 && e.text.len > 0) {
        ret = ka_buf_add(out, e.text.data, e.text.len);
    }
    if (ret == 0) {
        ret = ka_buf_add(out, text + e.end, len - e.end);
    }
    if (ret != 0) {
        goto cleanup;
    }
    if (ka_yaml_parse(&after, "fix", out->data, out->len, 0, NULL) != 0 || after.n_docs != 1 ||
        !cJSON_Compare(expected, after.docs[0], 1)) {
        snprintf(err, err_len, "writing %s would change other values too%s", path,
                 memchr(text, '&', len) != NULL ? " (a YAML anchor that aliases share)" : "");
        ret = KA_EINVAL;
        goto cleanup;
    }
    ret = 0;
cleanup:
    cJSON_Delete(expected);
    ka_buf_free(&e.text);
    ka_yaml_stream_free(&s);
    ka_yaml_stream_free(&after);
    return ret;
}

/* ------------------------------------------------------------------------------------------
 * Results
 */

void ka_fix_result_init(struct ka_fix_result *r)
{
    memset(r, 0, sizeof(*r));
    ka_buf_init(&r->text, 2u * KA_MAX_MANIFEST_FILE);
}

void ka_fix_result_free(struct ka_fix_result *r)
{
    ka_buf_free(&r->text);
    free(r->notes);
    r->notes = NULL;
    r->n_notes = 0;
}

static struct ka_fix_note *add_note(struct ka_fix_result *r, const char *source, const char *rule,
                                    const char *message, const char *why)
{
    if (r->n_notes >= 100000) {
        return NULL;
    }
    struct ka_fix_note *p = realloc(r->notes, (r->n_notes + 1) * sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    r->notes = p;
    struct ka_fix_note *n = &p[r->n_notes++];
    memset(n, 0, sizeof(*n));
    snprintf(n->source, sizeof(n->source), "%s", source);
    snprintf(n->rule, sizeof(n->rule), "%s", rule);
    snprintf(n->message, sizeof(n->message), "%s", message);
    snprintf(n->why, sizeof(n->why), "%s", why);
    return n;
}

/* ------------------------------------------------------------------------------------------
 * The driver: per document, ask the rules, edit, parse again, until nothing is left to do
 */

/* A path fix could not write, so later rounds do not propose it again. */
struct refusal {
    char path[KA_FIX_MAX_POINTER];
    char why[256];
};

struct doc_fix {
    const struct ka_policy *policy;
    const struct ka_review_opts *opts;
    const struct ka_fix_resolver *resolver; /* NULL: digests are not resolved */
    const char *source;                     /* name:line */
    struct ka_fix_result *res;
    struct ka_review_summary *summary;
    struct ka_buf text; /* the document, edited */
    struct ka_buf scratch;
    struct refusal *refused;
    size_t n_refused;
    cJSON **objs; /* the objects of the document being fixed (KA_FIX_MAX_TARGETS) */
    char (*prefixes)[32];
};

static int under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Why an operation at `path` (or, `related`: anything above or below it) was refused. */
static const char *refused_why(const struct doc_fix *d, const char *path, int related)
{
    for (size_t i = 0; i < d->n_refused; i++) {
        if (under(path, d->refused[i].path) ||
            (related && path[0] != '\0' && under(d->refused[i].path, path))) {
            return d->refused[i].why;
        }
    }
    return NULL;
}

static int refuse(struct doc_fix *d, const char *path, const char *why)
{
    struct refusal *p = realloc(d->refused, (d->n_refused + 1) * sizeof(*p));
    if (p == NULL) {
        return KA_ENOMEM;
    }
    d->refused = p;
    snprintf(p[d->n_refused].path, sizeof(p[0].path), "%s", path);
    snprintf(p[d->n_refused].why, sizeof(p[0].why), "%s", why);
    d->n_refused++;
    return 0;
}

/* The objects of a document: itself, or the items of a List (with their pointer prefix). */
#define KA_FIX_MAX_TARGETS 10000
static size_t targets_of(cJSON *doc, cJSON **objs, char (*prefixes)[32], size_t max)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
    cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
    if (cJSON_IsString(kind) && strlen(kind->valuestring) >= 4 &&
        strcmp(kind->valuestring + strlen(kind->valuestring) - 4, "List") == 0 &&
        cJSON_IsArray(items)) {
        size_t n = 0;
        cJSON *it;
        cJSON_ArrayForEach(it, items)
        {
            if (n == max) {
                break;
            }
            objs[n] = it;
            snprintf(prefixes[n], sizeof(prefixes[n]), "/items/%zu", n);
            n++;
        }
        return n;
    }
    objs[0] = doc;
    prefixes[0][0] = '\0';
    return 1;
}

/* The object's kind and namespace, as the audit takes them: a namespaced object that names no
 * namespace is judged in opts->default_namespace ("default" when NULL). */
static void summary_for(struct ka_review_summary *s, const cJSON *obj,
                        const struct ka_review_opts *opts)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    const char *kind_name = cJSON_IsString(kind) ? kind->valuestring : "";
    const char *in = cJSON_IsString(ns) ? ns->valuestring : "";
    if ((ka_kind_from_name(kind_name) & KA_KINDS_CLUSTER_SCOPED) != 0) {
        in = "";
    } else if (in[0] == '\0') {
        in = opts != NULL && opts->default_namespace != NULL ? opts->default_namespace : "default";
    }
    ka_review_summary_reset(s);
    snprintf(s->kind, sizeof(s->kind), "%s", kind_name);
    snprintf(s->namespace_, sizeof(s->namespace_), "%s", in);
    snprintf(s->operation, sizeof(s->operation), "CREATE");
}

/* Mutations add a parent, then its members ("annotations": {}, then each annotation). Fold
 * such later adds into the earlier one, so the file gets one block in its own style rather
 * than an empty flow map filled in. A folded operation is left with no "op". */
static void fold_adds(cJSON *ops)
{
    for (cJSON *o = ops->child; o != NULL; o = o->next) {
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "op");
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(o, "path");
        cJSON *value = cJSON_GetObjectItemCaseSensitive(o, "value");
        if (!cJSON_IsString(op) || strcmp(op->valuestring, "add") != 0 || !cJSON_IsString(path) ||
            !is_collection(value)) {
            continue;
        }
        size_t n = strlen(path->valuestring);
        for (cJSON *later = o->next; later != NULL; later = later->next) {
            const cJSON *lop = cJSON_GetObjectItemCaseSensitive(later, "op");
            const cJSON *lpath = cJSON_GetObjectItemCaseSensitive(later, "path");
            const cJSON *lvalue = cJSON_GetObjectItemCaseSensitive(later, "value");
            if (!cJSON_IsString(lop) || strcmp(lop->valuestring, "add") != 0 ||
                !cJSON_IsString(lpath) || lvalue == NULL ||
                strncmp(lpath->valuestring, path->valuestring, n) != 0 ||
                lpath->valuestring[n] != '/') {
                continue;
            }
            char store[KA_FIX_MAX_POINTER];
            char *segs[KA_FIX_MAX_SEGMENTS];
            size_t n_segs = 0;
            if (split_pointer(lpath->valuestring + n, store, sizeof(store), segs, &n_segs) != 0) {
                continue;
            }
            cJSON *parent = value;
            for (size_t i = 0; i + 1 < n_segs && parent != NULL; i++) {
                parent = child_at(parent, segs[i]);
            }
            if (is_collection(parent) &&
                apply_to_tree(parent, "add", segs[n_segs - 1], lvalue) == 0) {
                cJSON_DeleteItemFromObjectCaseSensitive(later, "op");
            }
        }
    }
}

/* Apply each operation of `patch` (paths under `prefix`) to d->text; counts what was written. */
static int apply_patch(struct doc_fix *d, const struct ka_patch *patch, const char *prefix,
                       size_t *applied)
{
    struct ka_buf json;
    ka_buf_init(&json, 64u * 1024u * 1024u);
    int ret = ka_patch_render(patch, &json);
    cJSON *ops = ret == 0 ? cJSON_Parse(json.data) : NULL;
    ka_buf_free(&json);
    if (ops == NULL) {
        return ret != 0 ? ret : KA_ENOMEM;
    }
    fold_adds(ops);
    const cJSON *o;
    cJSON_ArrayForEach(o, ops)
    {
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "op");
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(o, "path");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(o, "value");
        char full[KA_FIX_MAX_POINTER];
        if (!cJSON_IsString(op) || !cJSON_IsString(path) ||
            (size_t)snprintf(full, sizeof(full), "%s%s", prefix, path->valuestring) >=
                sizeof(full)) {
            continue;
        }
        if (refused_why(d, full, 0) != NULL) {
            continue;
        }
        char err[200];
        ret = ka_fix_apply_op(d->text.data, d->text.len, op->valuestring, full, value, &d->scratch,
                              err, sizeof(err));
        if (ret == KA_ENOMEM || ret == KA_ELIMIT) {
            break;
        }
        if (ret != 0) {
            ret = refuse(d, full, err);
            if (ret != 0) {
                break;
            }
            continue;
        }
        struct ka_buf t = d->text; /* swap: the edited text becomes the document */
        d->text = d->scratch;
        d->scratch = t;
        (*applied)++;
    }
    cJSON_Delete(ops);
    return ret == KA_ENOMEM || ret == KA_ELIMIT ? ret : 0;
}

/* A value at `path` (a JSON pointer from a finding) in `obj`, or NULL. */
static const cJSON *at_pointer(cJSON *obj, const char *path)
{
    char store[KA_FIX_MAX_POINTER];
    char *segs[KA_FIX_MAX_SEGMENTS];
    size_t n = 0;
    if (path[0] == '\0' || split_pointer(path, store, sizeof(store), segs, &n) != 0) {
        return NULL;
    }
    for (size_t i = 0; i < n && obj != NULL; i++) {
        obj = child_at(obj, segs[i]);
    }
    return obj;
}

/* Why a finding stays, and what to do by hand. */
static void explain(struct ka_fix_note *n, const struct ka_finding *f, cJSON *obj,
                    const char *refusal)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    const char *oname = cJSON_IsString(name) ? name->valuestring : "app";
    if (refusal != NULL && strncmp(refusal, RESOLVE_REFUSAL, strlen(RESOLVE_REFUSAL)) == 0) {
        snprintf(n->why, sizeof(n->why), "%s", refusal);
        snprintf(n->suggest, sizeof(n->suggest), "%s", f->fix);
        return;
    }
    if (refusal != NULL) {
        snprintf(n->why, sizeof(n->why), "the file could not be edited there: %s", refusal);
        return;
    }
    if (strcmp(f->rule, "image-pinned") == 0 || strcmp(f->rule, "image-scan-attestation") == 0) {
        char ctr[160];
        snprintf(ctr, sizeof(ctr), "%s", f->path);
        const cJSON *image = at_pointer(obj, ctr);
        if (!cJSON_IsString(image)) {
            char *slash = strrchr(ctr, '/');
            for (int up = 0; up < 2 && !cJSON_IsString(image) && slash != NULL; up++) {
                image = cJSON_GetObjectItemCaseSensitive(at_pointer(obj, ctr), "image");
                *slash = '\0';
                slash = strrchr(ctr, '/');
            }
        }
        const char *img = cJSON_IsString(image) ? image->valuestring : "IMAGE";
        if (strstr(img, "@sha256:") != NULL) {
            snprintf(n->why, sizeof(n->why),
                     "it needs a signed scan attestation, which only the scanner can make");
            snprintf(n->suggest, sizeof(n->suggest), "%s", f->fix);
            return;
        }
        snprintf(n->why, sizeof(n->why), "a digest needs the registry, which fix does not contact");
        snprintf(n->suggest, sizeof(n->suggest),
                 "crane digest %.200s  (or: skopeo inspect --format '{{.Digest}}' "
                 "docker://%.200s), then write the image as NAME@sha256:...",
                 img, img);
    } else if (strcmp(f->rule, "no-literal-secrets") == 0) {
        char var_path[160];
        snprintf(var_path, sizeof(var_path), "%s", f->path);
        char *slash = strrchr(var_path, '/');
        if (slash != NULL) {
            *slash = '\0';
        }
        const cJSON *var = cJSON_GetObjectItemCaseSensitive(at_pointer(obj, var_path), "name");
        const char *v = cJSON_IsString(var) ? var->valuestring : "VAR";
        snprintf(n->why, sizeof(n->why),
                 "rewriting it would lose the value from the file; move it to a Secret");
        snprintf(n->suggest, sizeof(n->suggest),
                 "kubectl create secret generic %.80s-secrets --from-literal=%.80s=...; then "
                 "valueFrom: {secretKeyRef: {name: %.80s-secrets, key: %.80s}}",
                 oname, v, oname, v);
    } else if (strcmp(f->rule, "resources-required") == 0) {
        snprintf(n->why, sizeof(n->why),
                 "no value for it in the rule's fix params, or the value is below the "
                 "container's request; fix does not guess sizes");
        snprintf(n->suggest, sizeof(n->suggest),
                 "set the values, or give resources-required params.fix: {requests: {cpu: "
                 "100m, memory: 128Mi}, limits: {cpu: 500m, memory: 512Mi}} in the policy");
    } else if (strcmp(f->rule, "hpa-custom-metrics") == 0) {
        snprintf(n->why, sizeof(n->why), "fix never invents a metric");
        snprintf(n->suggest, sizeof(n->suggest), "%s", f->fix);
    } else if (strcmp(f->rule, "probes-required") == 0) {
        snprintf(n->why, sizeof(n->why), "%s",
                 strstr(f->path, "/initContainers/") != NULL
                     ? "a native sidecar: inject-probes writes probes on app containers only, "
                       "and a sidecar's health endpoint is its own"
                     : "no port inject-probes recognises, so there is no probe fix could write "
                       "without guessing");
        snprintf(n->suggest, sizeof(n->suggest), "%s", f->fix);
    } else {
        snprintf(n->why, sizeof(n->why), "no determined fix");
        snprintf(n->suggest, sizeof(n->suggest), "%s", f->fix);
    }
}

/* After the rounds: the findings `kadmit audit` would show, each with why it stays. */
static int list_remaining(struct doc_fix *d)
{
    struct ka_yaml_stream s;
    ka_yaml_stream_init(&s);
    int ret = ka_yaml_parse(&s, d->source, d->text.data, d->text.len, 0, NULL);
    if (ret != 0 || s.n_docs != 1) {
        ka_yaml_stream_free(&s);
        return ret == KA_ENOMEM ? ret : 0;
    }
    cJSON **objs = d->objs;
    char(*prefixes)[32] = d->prefixes;
    size_t n = targets_of(s.docs[0], objs, prefixes, KA_FIX_MAX_TARGETS);
    for (size_t t = 0; ret == 0 && t < n; t++) {
        cJSON *copy = cJSON_Duplicate(objs[t], 1); /* evaluation mutates; keep the original */
        if (copy == NULL) {
            ret = KA_ENOMEM;
            break;
        }
        char err[256] = "";
        summary_for(d->summary, objs[t], d->opts);
        int eret = ka_admission_evaluate(d->policy, copy, d->opts, d->summary, err, sizeof(err));
        cJSON_Delete(copy);
        if (eret == KA_ENOMEM) {
            ret = eret;
            break;
        }
        if (eret == KA_ETYPE) {
            char msg[400];
            snprintf(msg, sizeof(msg), "cannot evaluate: %s", err);
            if (add_note(d->res, d->source, "", msg, "fix the field's type first") == NULL) {
                ret = KA_ENOMEM;
            }
            continue;
        }
        for (size_t i = 0; eret == 0 && i < d->summary->n_findings; i++) {
            const struct ka_finding *f = &d->summary->findings[i];
            struct ka_fix_note *note = add_note(d->res, d->source, f->rule, f->message, "");
            if (note == NULL) {
                ret = KA_ENOMEM;
                break;
            }
            char full[KA_FIX_MAX_POINTER];
            snprintf(full, sizeof(full), "%s%s", prefixes[t], f->path);
            explain(note, f, objs[t], f->path[0] != '\0' ? refused_why(d, full, 1) : NULL);
        }
    }
    ka_yaml_stream_free(&s);
    return ret;
}

/*
 * --resolve-digests: the images that image-pinned or image-scan-attestation report without a
 * digest get a "replace" with image@sha256:<digest> from the resolver. One that cannot be
 * resolved is refused (with the resolver's reason), so later rounds do not ask again.
 */
static int resolve_digests(struct doc_fix *d, cJSON *obj, const char *prefix,
                           struct ka_patch *patch)
{
    int ret = 0;
    for (size_t i = 0; ret == 0 && i < d->summary->n_findings; i++) {
        const struct ka_finding *f = &d->summary->findings[i];
        char full[KA_FIX_MAX_POINTER], digest[80], err[256] = "";
        if ((strcmp(f->rule, "image-pinned") != 0 &&
             strcmp(f->rule, "image-scan-attestation") != 0) ||
            f->path[0] == '\0' ||
            (size_t)snprintf(full, sizeof(full), "%s%s", prefix, f->path) >= sizeof(full) ||
            refused_why(d, full, 0) != NULL) {
            continue;
        }
        const cJSON *image = at_pointer(obj, f->path);
        if (!cJSON_IsString(image) || image->valuestring[0] == '\0' ||
            ka_image_digest(image->valuestring, NULL) != KA_DIGEST_NONE) {
            continue; /* both rules report the same image: the first one resolved it */
        }
        if (d->resolver->resolve(d->resolver->ctx, image->valuestring, digest, sizeof(digest), err,
                                 sizeof(err)) != 0) {
            char why[sizeof(d->refused[0].why)];
            snprintf(why, sizeof(why), RESOLVE_REFUSAL "%s", err);
            ret = refuse(d, full, why);
            continue;
        }
        char pinned[KA_FIX_MAX_IMAGE];
        if ((size_t)snprintf(pinned, sizeof(pinned), "%s@%s", image->valuestring, digest) >=
            sizeof(pinned)) {
            continue;
        }
        cJSON *value = cJSON_CreateString(pinned);
        ret = value == NULL ? KA_ENOMEM : ka_patch_op(patch, "replace", f->path, value);
        cJSON_Delete(value);
        if (ret == 0) {
            /* the tree now says so too: the other rule's finding on it is skipped */
            ret = cJSON_SetValuestring((cJSON *)image, pinned) != NULL ? 0 : KA_ENOMEM;
        }
    }
    return ret;
}

/* One round: each object of the document that has changes gets them written. Editing one item
 * of a List leaves the others' content and paths as they were, so the trees parsed at the start
 * of the round stay valid for the items after it. */
static int fix_round(struct doc_fix *d, size_t *applied)
{
    struct ka_yaml_stream s;
    ka_yaml_stream_init(&s);
    struct ka_patch patch;
    ka_patch_init(&patch, KA_MAX_PATCH_OPS);
    int ret = ka_yaml_parse(&s, d->source, d->text.data, d->text.len, 0, NULL);
    if (ret != 0 || s.n_docs != 1) {
        ret = ret == KA_ENOMEM ? ret : KA_EPARSE;
        goto cleanup;
    }
    cJSON **objs = d->objs;
    char(*prefixes)[32] = d->prefixes;
    size_t n = targets_of(s.docs[0], objs, prefixes, KA_FIX_MAX_TARGETS);
    for (size_t t = 0; t < n; t++) {
        char err[256];
        ka_patch_free(&patch);
        ka_patch_init(&patch, KA_MAX_PATCH_OPS);
        summary_for(d->summary, objs[t], d->opts);
        ret = ka_admission_fix(d->policy, objs[t], d->opts, d->summary, &patch, err, sizeof(err));
        if (ret == 0 && d->resolver != NULL) {
            ret = resolve_digests(d, objs[t], prefixes[t], &patch);
        }
        if (ret == KA_ENOMEM) {
            goto cleanup;
        }
        if (ret != 0 || patch.n_ops == 0) {
            ret = 0; /* not a checked kind, or a type error list_remaining() reports */
            continue;
        }
        ret = apply_patch(d, &patch, prefixes[t], applied);
        if (ret != 0) {
            goto cleanup;
        }
    }
cleanup:
    ka_patch_free(&patch);
    ka_yaml_stream_free(&s);
    return ret;
}

static int fix_document(struct doc_fix *d, const char *text, size_t len)
{
    int ret = ka_buf_add(&d->text, text, len);
    size_t total = 0;
    unsigned round = 0;
    for (; ret == 0 && round < KA_FIX_MAX_ROUNDS; round++) {
        size_t applied = 0;
        ret = fix_round(d, &applied);
        if (ret != 0 || applied == 0) {
            break;
        }
        total += applied;
    }
    if (ret == KA_EPARSE || round == KA_FIX_MAX_ROUNDS) {
        /* Should not happen (every edit is checked); never write a half-fixed document. */
        ka_buf_reset(&d->text);
        ret = ka_buf_add(&d->text, text, len);
        total = 0;
        if (ret == 0 && add_note(d->res, d->source, "", "the document was left unchanged",
                                 "fix did not settle on a result") == NULL) {
            ret = KA_ENOMEM;
        }
    }
    if (ret == 0) {
        ret = list_remaining(d);
    }
    d->res->n_ops += total;
    d->res->n_docs_changed += total > 0;
    return ret;
}

/*
 * A `kind: List` is one document, and every edit re-parses its document: fixed whole, a
 * 200-item List costs 1,000 parses of the whole file. Each item is fixed on its own instead,
 * as a document of its own text (indented to its column, so every line keeps its place), and
 * the fixed items are spliced back between the untouched bytes around them: the cost is linear
 * in the file. Only when every item reads alone exactly as it reads in the List (no alias into
 * another item, no merge key across items); otherwise KA_ENOTFOUND and the List is fixed whole.
 */
static int fix_list_items(struct doc_fix *d, const cJSON *doc, const struct ka_yaml_stream *s,
                          const char *data, size_t start, size_t end)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
    size_t n = (size_t)cJSON_GetArraySize(items);
    if (!cJSON_IsString(kind) || strlen(kind->valuestring) < 4 ||
        strcmp(kind->valuestring + strlen(kind->valuestring) - 4, "List") != 0 ||
        !cJSON_IsArray(items) || n < 2 || n > KA_FIX_MAX_TARGETS) {
        return KA_ENOTFOUND;
    }
    const struct ka_yaml_pos **at = calloc(n, sizeof(*at));
    struct ka_buf item, whole;
    ka_buf_init(&item, 2u * KA_MAX_MANIFEST_FILE);
    ka_buf_init(&whole, 2u * KA_MAX_MANIFEST_FILE);
    int ret = at == NULL ? KA_ENOMEM : 0;
    /* the items' positions, in one pass (both are in document order) */
    const cJSON *it = items->child;
    for (size_t i = 0, k = 0; ret == 0 && i < s->n_pos && k < n; i++) {
        if (s->pos[i].node == it) {
            at[k++] = &s->pos[i];
            it = it->next;
        }
    }
    size_t prev = start;
    for (size_t k = 0; ret == 0 && k < n; k++) {
        if (at[k] == NULL || at[k]->start < prev || at[k]->end > end ||
            at[k]->start >= at[k]->end || at[k]->column == 0) {
            ret = KA_ENOTFOUND;
            break;
        }
        prev = at[k]->end;
    }
    /* pass 1: does each item, alone, read as it does in the List? */
    it = items->child;
    for (size_t k = 0; ret == 0 && k < n; k++, it = it->next) {
        struct ka_yaml_stream one;
        ka_yaml_stream_init(&one);
        ka_buf_reset(&item);
        ret = spaces(&item, at[k]->column - 1);
        ret = ret ? ret : ka_buf_add(&item, data + at[k]->start, at[k]->end - at[k]->start);
        int pr = ret == 0 ? ka_yaml_parse(&one, d->source, item.data, item.len, 0, NULL) : 0;
        if (ret == 0 && (pr != 0 || one.n_docs != 1 || !cJSON_Compare(one.docs[0], it, 1))) {
            ret = pr == KA_ENOMEM ? pr : KA_ENOTFOUND;
        }
        ka_yaml_stream_free(&one);
    }
    /* pass 2: fix each item; the bytes between items are copied */
    size_t docs_changed = d->res->n_docs_changed, ops = d->res->n_ops;
    prev = start;
    for (size_t k = 0; ret == 0 && k < n; k++) {
        unsigned col = at[k]->column - 1;
        ka_buf_reset(&item);
        ret = spaces(&item, col);
        ret = ret ? ret : ka_buf_add(&item, data + at[k]->start, at[k]->end - at[k]->start);
        ret = ret ? ret : ka_buf_add(&whole, data + prev, at[k]->start - prev);
        d->n_refused = 0;
        ka_buf_reset(&d->text);
        ret = ret ? ret : fix_document(d, item.data, item.len);
        if (ret == 0 && (d->text.len < col || strspn(d->text.data, " ") < col)) {
            ka_buf_reset(&d->text); /* the indentation was edited: keep the item as it was */
            ret = ka_buf_add(&d->text, item.data, item.len);
        }
        ret = ret ? ret : ka_buf_add(&whole, d->text.data + col, d->text.len - col);
        prev = at[k]->end;
    }
    ret = ret ? ret : ka_buf_add(&whole, data + prev, end - prev);
    if (ret == 0) {
        d->res->n_docs_changed = docs_changed + (d->res->n_ops > ops);
        struct ka_buf t = d->text; /* the List, fixed, becomes the document's text */
        d->text = whole;
        whole = t;
    }
    free(at);
    ka_buf_free(&item);
    ka_buf_free(&whole);
    return ret;
}

int ka_fix_bytes(const struct ka_policy *policy, const struct ka_review_opts *opts,
                 const char *name, const char *data, size_t len, struct ka_fix_result *out)
{
    return ka_fix_bytes_resolving(policy, opts, NULL, name, data, len, out);
}

/* A document (or a List item) kubectl would refuse because it cannot tell what it is: noted as
 * an input error (the command exits 2, as audit does) and left as it is, never judged as a guess
 * at its kind. 1 when so, 0 when the document is identified, or KA_ENOMEM. */
static int unidentified(struct doc_fix *d, cJSON *doc)
{
    size_t n = targets_of(doc, d->objs, d->prefixes, KA_FIX_MAX_TARGETS);
    for (size_t t = 0; t < n; t++) {
        char msg[200], src[700];
        if (!cJSON_IsObject(d->objs[t]) ||
            !ka_object_identity_error(d->objs[t], msg, sizeof(msg))) {
            continue;
        }
        if (d->prefixes[t][0] != '\0') {
            snprintf(src, sizeof(src), "%s#items[%zu]", d->source, t); /* as audit names it */
        } else {
            snprintf(src, sizeof(src), "%s", d->source);
        }
        if (add_note(d->res, src, "", msg, "fix leaves a document it cannot identify unchanged") ==
            NULL) {
            return KA_ENOMEM;
        }
        d->res->n_errors++;
        return 1;
    }
    return 0;
}

int ka_fix_bytes_resolving(const struct ka_policy *policy, const struct ka_review_opts *opts,
                           const struct ka_fix_resolver *resolver, const char *name,
                           const char *data, size_t len, struct ka_fix_result *out)
{
    int ret = KA_EINTERNAL;
    struct ka_yaml_stream s;
    ka_yaml_stream_init(&s);
    struct ka_buf diag;
    ka_buf_init(&diag, 4096);
    struct doc_fix d;
    memset(&d, 0, sizeof(d));
    d.policy = policy;
    d.opts = opts;
    d.resolver = resolver != NULL && resolver->resolve != NULL ? resolver : NULL;
    d.res = out;
    ka_buf_init(&d.text, 2u * KA_MAX_MANIFEST_FILE);
    ka_buf_init(&d.scratch, 2u * KA_MAX_MANIFEST_FILE);
    d.summary = malloc(sizeof(*d.summary));
    d.objs = malloc(KA_FIX_MAX_TARGETS * sizeof(*d.objs));
    d.prefixes = malloc(KA_FIX_MAX_TARGETS * sizeof(*d.prefixes));
    if (d.summary == NULL || d.objs == NULL || d.prefixes == NULL) {
        ret = KA_ENOMEM;
        goto cleanup;
    }
    int pret = ka_yaml_parse(&s, name, data, len, 0, &diag);
    char src[600], msg[512];
    unsigned directive = pret == 0 ? ka_yaml_directive(data, len, msg, sizeof(msg)) : 0;
    if (pret != 0 || directive > 0) {
        if (pret == KA_ENOMEM) {
            ret = pret;
            goto cleanup;
        }
        snprintf(src, sizeof(src), "%.500s:%d", name,
                 directive > 0 ? (int)directive : s.error_line);
        if (directive == 0) {
            snprintf(msg, sizeof(msg), "cannot parse: %.400s", diag.data ? diag.data : "");
        }
        size_t n = strlen(msg);
        if (n > 0 && msg[n - 1] == '\n') {
            msg[n - 1] = '\0';
        }
        out->parse_error = 1;
        ret = add_note(out, src, "", msg, "fix leaves a file it cannot read unchanged") == NULL
                  ? KA_ENOMEM
                  : ka_buf_add(&out->text, data, len);
        goto cleanup;
    }
    size_t prev = 0;
    ret = 0;
    for (size_t i = 0; ret == 0 && i < s.n_docs; i++) {
        size_t start = s.doc_starts[i], end = s.doc_ends[i];
        while (start > prev && data[start - 1] == ' ') {
            start--; /* a document indented as a whole starts at its line */
        }
        if (start > 0 && data[start - 1] != '\n') {
            start = s.doc_starts[i];
        }
        snprintf(src, sizeof(src), "%.500s:%u", name, s.doc_lines[i]);
        d.source = src;
        d.n_refused = 0;
        ka_buf_reset(&d.text);
        ret = ka_buf_add(&out->text, data + prev, start - prev);
        int unknown = ret == 0 ? unidentified(&d, s.docs[i]) : 0;
        if (unknown < 0) {
            ret = unknown;
        } else if (unknown) {
            ret = ka_buf_add(&d.text, data + start, end - start);
        } else if (ret == 0) {
            ret = fix_list_items(&d, s.docs[i], &s, data, start, end);
            if (ret == KA_ENOTFOUND) {
                d.n_refused = 0;
                ka_buf_reset(&d.text);
                ret = fix_document(&d, data + start, end - start);
            }
        }
        if (ret == 0 && d.text.len > 0) {
            ret = ka_buf_add(&out->text, d.text.data, d.text.len);
        }
        prev = end;
    }
    if (ret == 0) {
        ret = ka_buf_add(&out->text, data + prev, len - prev);
    }
cleanup:
    free(d.summary);
    free(d.objs);
    free(d.prefixes);
    free(d.refused);
    ka_buf_free(&d.text);
    ka_buf_free(&d.scratch);
    ka_buf_free(&diag);
    ka_yaml_stream_free(&s);
    return ret;
}
