#include "kadmit/yaml.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "kadmit/error.h"
#include "kadmit/limits.h"

#define KA_YAML_MAX_DOCS 100000
#define KA_YAML_MAX_NODES 10000000

void ka_yaml_stream_init(struct ka_yaml_stream *s)
{
    memset(s, 0, sizeof(*s));
}

void ka_yaml_stream_free(struct ka_yaml_stream *s)
{
    for (size_t i = 0; i < s->n_docs; i++) {
        cJSON_Delete(s->docs[i]);
    }
    free(s->docs);
    free(s->doc_lines);
    free(s->doc_starts);
    free(s->doc_ends);
    free(s->pos);
    memset(s, 0, sizeof(*s));
}

void ka_yaml_position(const struct ka_yaml_stream *s, const cJSON *node, unsigned *line,
                      unsigned *column)
{
    *line = 0;
    *column = 0;
    for (size_t i = 0; i < s->n_pos; i++) {
        if (s->pos[i].node == node) {
            *line = s->pos[i].line;
            *column = s->pos[i].column;
            return;
        }
    }
}

struct anchor {
    char *name;
    const cJSON *node; /* in the document being built */
    size_t nodes;      /* nodes in its subtree, aliases expanded */
};

struct builder {
    struct ka_yaml_stream *s;
    yaml_parser_t parser;
    const char *name;
    unsigned max_depth;
    struct ka_buf *diag;
    struct anchor *anchors; /* of the current document */
    size_t n_anchors, cap_anchors;
    size_t nodes; /* in the current document, aliases expanded */
    cJSON *kept;  /* merged-in values, kept until the document ends (anchors may point in) */
    struct ka_yaml_pos scratch; /* stands in for a position when s->no_positions */
    const unsigned char *data;  /* the input, to turn libyaml's marks into byte offsets */
    size_t len;
    size_t cursor_char, cursor_byte; /* the last mark converted: its character and byte offset */
};

/* The byte offset of a mark. libyaml counts a mark's index in characters, not bytes (and from
 * after a byte order mark), so text with non-ASCII characters before a node would put every
 * offset after them too early. Marks arrive nearly in order, so a cursor walks the UTF-8 from
 * the last one, forward or back. */
static size_t offset_of(struct builder *b, const yaml_mark_t *mark)
{
    while (b->cursor_char < mark->index && b->cursor_byte < b->len) {
        unsigned char lead = b->data[b->cursor_byte];
        size_t width = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        b->cursor_byte = width < b->len - b->cursor_byte ? b->cursor_byte + width : b->len;
        b->cursor_char++;
    }
    while (b->cursor_char > mark->index && b->cursor_byte > 0) {
        b->cursor_byte--;
        while (b->cursor_byte > 0 && (b->data[b->cursor_byte] & 0xC0) == 0x80) {
            b->cursor_byte--;
        }
        b->cursor_char--;
    }
    return b->cursor_byte;
}

/* The position entry i, or a scratch entry when no positions are kept. */
static struct ka_yaml_pos *pos_at(struct builder *b, size_t i)
{
    return b->s->no_positions ? &b->scratch : &b->s->pos[i];
}

static unsigned line_of(const struct builder *b, const yaml_mark_t *mark)
{
    return (unsigned)mark->line + (b->s->first_line ? b->s->first_line : 1);
}

static int note(struct builder *b, const yaml_mark_t *mark, const char *msg, int code)
{
    if (b->s->error_line == 0) {
        b->s->error_line = (int)line_of(b, mark);
        b->s->error_column = (int)mark->column + 1;
    }
    if (b->diag != NULL) {
        int ret = ka_buf_printf(b->diag, "%s:%u:%zu: %s\n", b->name, line_of(b, mark),
                                mark->column + 1, msg);
        (void)ret;
    }
    return code;
}

static int remember(struct builder *b, const cJSON *node, const yaml_mark_t *mark)
{
    struct ka_yaml_stream *s = b->s;
    if (++b->nodes > KA_MAX_YAML_NODES) {
        return note(b, mark, "too many nodes in one document (KA_MAX_YAML_NODES)", KA_ELIMIT);
    }
    if (s->no_positions) {
        return 0;
    }
    if (s->n_pos == s->cap_pos && s->cap_pos >= KA_YAML_MAX_NODES) {
        return note(b, mark, "too many nodes", KA_ELIMIT);
    }
    if (ka_array_grow(&s->pos, &s->cap_pos, s->n_pos + 1, sizeof(*s->pos)) != 0) {
        return KA_ENOMEM;
    }
    struct ka_yaml_pos *p = &s->pos[s->n_pos++];
    memset(p, 0, sizeof(*p));
    p->node = node;
    p->line = line_of(b, mark);
    p->column = (unsigned)mark->column + 1;
    p->start = offset_of(b, mark);
    p->end = p->start;
    p->key_start = SIZE_MAX;
    return 0;
}

static void anchors_reset(struct builder *b)
{
    for (size_t i = 0; i < b->n_anchors; i++) {
        free(b->anchors[i].name);
    }
    b->n_anchors = 0;
    b->nodes = 0;
    cJSON_Delete(b->kept);
    b->kept = NULL;
}

static size_t subtree_nodes(const cJSON *n)
{
    size_t count = 1;
    for (const cJSON *c = n->child; c != NULL; c = c->next) {
        count += subtree_nodes(c);
    }
    return count;
}

/* Define (or redefine: the later one wins, as in YAML) an anchor on a finished node. */
static int anchor_define(struct builder *b, const yaml_char_t *name, const cJSON *node,
                         size_t nodes)
{
    for (size_t i = 0; i < b->n_anchors; i++) {
        if (strcmp(b->anchors[i].name, (const char *)name) == 0) {
            b->anchors[i].node = node;
            b->anchors[i].nodes = nodes;
            return 0;
        }
    }
    if (ka_array_grow(&b->anchors, &b->cap_anchors, b->n_anchors + 1, sizeof(*b->anchors)) != 0) {
        return KA_ENOMEM;
    }
    char *copy = strdup((const char *)name);
    if (copy == NULL) {
        return KA_ENOMEM;
    }
    b->anchors[b->n_anchors++] = (struct anchor){.name = copy, .node = node, .nodes = nodes};
    return 0;
}

/* An alias: a copy of its anchor's node, counted against KA_MAX_YAML_NODES before copying. */
static int alias_node(struct builder *b, const yaml_event_t *ev, cJSON **out)
{
    const char *name = (const char *)ev->data.alias.anchor;
    for (size_t i = b->n_anchors; i-- > 0;) {
        if (strcmp(b->anchors[i].name, name) != 0) {
            continue;
        }
        if (b->anchors[i].nodes > KA_MAX_YAML_NODES - b->nodes) {
            return note(b, &ev->start_mark,
                        "aliases expand to too many nodes (KA_MAX_YAML_NODES; an alias bomb?)",
                        KA_ELIMIT);
        }
        b->nodes += b->anchors[i].nodes;
        *out = cJSON_Duplicate(b->anchors[i].node, 1);
        return *out != NULL ? 0 : KA_ENOMEM;
    }
    char msg[200];
    snprintf(msg, sizeof(msg), "unknown anchor \"%.100s\" (an alias must follow its anchor)", name);
    return note(b, &ev->start_mark, msg, KA_EPARSE);
}

static int is_one_of(const char *v, const char *const *words)
{
    for (; *words != NULL; words++) {
        if (strcmp(v, *words) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Plain scalars are typed as Kubernetes' YAML reader (YAML 1.2 core schema) types them. */
static cJSON *scalar_node(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return cJSON_CreateString(v);
    }
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    if (is_one_of(v, nulls)) {
        return cJSON_CreateNull();
    }
    if (is_one_of(v, trues)) {
        return cJSON_CreateTrue();
    }
    if (is_one_of(v, falses)) {
        return cJSON_CreateFalse();
    }
    if (len > 0 && len < 40 && strlen(v) == len) {
        const char *p = v;
        if (*p == '-' || *p == '+') {
            p++;
        }
        int digits = 0, dots = 0, exps = 0, ok = 1;
        for (; *p != '\0' && ok; p++) {
            if (*p >= '0' && *p <= '9') {
                digits++;
            } else if (*p == '.' && dots == 0 && exps == 0) {
                dots++;
            } else if ((*p == 'e' || *p == 'E') && digits > 0 && exps == 0) {
                exps++;
                if (p[1] == '-' || p[1] == '+') {
                    p++;
                }
            } else {
                ok = 0;
            }
        }
        /* Leading-zero integers like 0755 stay strings (YAML 1.2 reads them as decimal but
         * they are almost always meant as text in Kubernetes manifests). */
        int leading_zero = (v[0] == '0' && len > 1 && v[1] != '.');
        if (ok && digits > 0 && !leading_zero) {
            errno = 0;
            char *end = NULL;
            double d = strtod(v, &end);
            if (errno == 0 && end != NULL && *end == '\0' && isfinite(d)) {
                return cJSON_CreateNumber(d);
            }
        }
    }
    return cJSON_CreateString(v);
}

static int attach(struct builder *b, cJSON *parent, const char *key, cJSON *child,
                  const yaml_mark_t *mark)
{
    if (parent == NULL) {
        return 0;
    }
    if (cJSON_IsArray(parent)) {
        cJSON_AddItemToArray(parent, child);
        return 0;
    }
    if (cJSON_GetObjectItemCaseSensitive(parent, key) != NULL) {
        char msg[300];
        snprintf(msg, sizeof(msg), "duplicate key \"%.200s\"", key);
        cJSON_Delete(child);
        return note(b, mark, msg, KA_EPARSE);
    }
    if (!cJSON_AddItemToObject(parent, key, child)) {
        cJSON_Delete(child);
        return KA_ENOMEM;
    }
    return 0;
}

/* `<<: value` - value is a mapping or a list of mappings; keep it in `merges` (a list) until
 * the mapping ends, since the mapping's own keys win wherever they appear. */
static int merge_keep(struct builder *b, cJSON *merges, cJSON *value, const yaml_mark_t *mark)
{
    const cJSON *m;
    int ok = cJSON_IsObject(value) || cJSON_IsArray(value);
    for (m = cJSON_IsArray(value) ? value->child : NULL; m != NULL; m = m->next) {
        ok = ok && cJSON_IsObject(m);
    }
    if (!ok) {
        cJSON_Delete(value);
        return note(b, mark,
                    "the value of a merge key (<<) must be a mapping or a list of mappings",
                    KA_EPARSE);
    }
    cJSON_AddItemToArray(merges, value);
    return 0;
}

/* Add every key of `map` that `node` lacks. */
static int merge_one(cJSON *node, const cJSON *map)
{
    const cJSON *kv;
    cJSON_ArrayForEach(kv, map)
    {
        if (cJSON_GetObjectItemCaseSensitive(node, kv->string) != NULL) {
            continue;
        }
        cJSON *copy = cJSON_Duplicate(kv, 1);
        if (copy == NULL || !cJSON_AddItemToObject(node, kv->string, copy)) {
            cJSON_Delete(copy);
            return KA_ENOMEM;
        }
    }
    return 0;
}

/* Merge every `<<` value in order (earlier mappings win over later ones). */
static int merge_apply(cJSON *node, const cJSON *merges)
{
    int ret = 0;
    const cJSON *value, *map;
    cJSON_ArrayForEach(value, merges)
    {
        if (cJSON_IsObject(value)) {
            ret = ret ? ret : merge_one(node, value);
            continue;
        }
        cJSON_ArrayForEach(map, value)
        {
            ret = ret ? ret : merge_one(node, map);
        }
    }
    return ret;
}

static const yaml_char_t *anchor_of(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return ev->data.scalar.anchor;
    case YAML_MAPPING_START_EVENT:
        return ev->data.mapping_start.anchor;
    case YAML_SEQUENCE_START_EVENT:
        return ev->data.sequence_start.anchor;
    default:
        return NULL;
    }
}

/* Parses one node (the event `ev` has started it) into *out, recursively. */
static int build_node(struct builder *b, yaml_event_t *ev, unsigned depth, cJSON **out)
{
    int ret = KA_EINTERNAL;
    cJSON *node = NULL;
    cJSON *merges = NULL;
    char *key = NULL;
    int key_is_merge = 0;
    yaml_event_t child;
    int have_child = 0;

    if (depth > b->max_depth) {
        char msg[64];
        snprintf(msg, sizeof(msg), "nested deeper than %u levels", b->max_depth);
        return note(b, &ev->start_mark, msg, KA_EDEPTH);
    }
    if (b->s->no_aliases && (ev->type == YAML_ALIAS_EVENT || anchor_of(ev) != NULL)) {
        return note(b, &ev->start_mark, "anchors and aliases are not supported here", KA_EPARSE);
    }
    if (ev->type == YAML_ALIAS_EVENT) {
        return alias_node(b, ev, out);
    }
    if (ev->type == YAML_SCALAR_EVENT) {
        node = scalar_node(ev);
        if (node == NULL) {
            return KA_ENOMEM;
        }
        ret = remember(b, node, &ev->start_mark);
        if (ret == 0 && ev->data.scalar.anchor != NULL) {
            ret = anchor_define(b, ev->data.scalar.anchor, node, 1);
        }
        if (ret != 0) {
            cJSON_Delete(node);
            return ret;
        }
        pos_at(b, b->s->n_pos - 1)->end = offset_of(b, &ev->end_mark);
        pos_at(b, b->s->n_pos - 1)->block_scalar =
            ev->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
            ev->data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
        *out = node;
        return 0;
    }
    int is_map = ev->type == YAML_MAPPING_START_EVENT;
    if (!is_map && ev->type != YAML_SEQUENCE_START_EVENT) {
        return note(b, &ev->start_mark, "unexpected YAML event", KA_EPARSE);
    }
    node = is_map ? cJSON_CreateObject() : cJSON_CreateArray();
    if (node == NULL) {
        return KA_ENOMEM;
    }
    ret = remember(b, node, &ev->start_mark);
    if (ret != 0) {
        goto cleanup;
    }
    size_t self = b->s->n_pos - 1;
    pos_at(b, self)->flow = is_map ? ev->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
                                   : ev->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
    yaml_mark_t key_mark = ev->start_mark;
    size_t key_offset = 0; /* key_mark's byte offset, taken before the value moves the cursor */
    for (;;) {
        if (!yaml_parser_parse(&b->parser, &child)) {
            ret = note(b, &b->parser.problem_mark,
                       b->parser.problem ? b->parser.problem : "YAML syntax error", KA_EPARSE);
            goto cleanup;
        }
        have_child = 1;
        if (child.type == YAML_MAPPING_END_EVENT || child.type == YAML_SEQUENCE_END_EVENT) {
            pos_at(b, self)->end = offset_of(b, &child.end_mark);
            break;
        }
        if (is_map && key == NULL) {
            if (child.type != YAML_SCALAR_EVENT) {
                ret = note(b, &child.start_mark, "mapping keys must be strings", KA_EPARSE);
                goto cleanup;
            }
            key = strdup((const char *)child.data.scalar.value);
            if (key == NULL) {
                ret = KA_ENOMEM;
                goto cleanup;
            }
            key_is_merge =
                child.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(key, "<<") == 0;
            if (key_is_merge && b->s->no_aliases) {
                ret =
                    note(b, &child.start_mark, "merge keys (<<) are not supported here", KA_EPARSE);
                goto cleanup;
            }
            key_mark = child.start_mark;
            key_offset = offset_of(b, &key_mark);
        } else {
            cJSON *value = NULL;
            size_t at = b->s->n_pos;
            ret = build_node(b, &child, depth + 1, &value);
            if (ret != 0) {
                goto cleanup;
            }
            if (is_map && !key_is_merge && b->s->n_pos > at) { /* an alias has no position */
                b->s->pos[at].key_start = key_offset;
                b->s->pos[at].key_column = (unsigned)key_mark.column + 1;
            }
            if (key_is_merge) {
                if (merges == NULL && (merges = cJSON_CreateArray()) == NULL) {
                    cJSON_Delete(value);
                    ret = KA_ENOMEM;
                    goto cleanup;
                }
                ret = merge_keep(b, merges, value, &child.start_mark);
            } else {
                ret = attach(b, node, key, value, &child.start_mark);
            }
            if (ret != 0) {
                goto cleanup;
            }
            free(key);
            key = NULL;
        }
        yaml_event_delete(&child);
        have_child = 0;
    }
    if (merges != NULL) {
        ret = merge_apply(node, merges);
        if (ret == 0 && b->kept == NULL && (b->kept = cJSON_CreateArray()) == NULL) {
            ret = KA_ENOMEM;
        }
        if (ret != 0) {
            goto cleanup;
        }
        cJSON_AddItemToArray(b->kept, merges);
        merges = NULL;
    }
    const yaml_char_t *anchor = anchor_of(ev);
    if (anchor != NULL) {
        /* an alias copies the whole subtree, merged keys included */
        size_t nodes = subtree_nodes(node);
        ret = anchor_define(b, anchor, node, nodes);
        if (ret != 0) {
            goto cleanup;
        }
    }
    *out = node;
    node = NULL;
    ret = 0;
cleanup:
    if (have_child) {
        yaml_event_delete(&child);
    }
    free(key);
    cJSON_Delete(merges);
    cJSON_Delete(node);
    return ret;
}

static int add_doc(struct builder *b, cJSON *doc, unsigned line, size_t start, size_t end)
{
    struct ka_yaml_stream *s = b->s;
    if (s->n_docs >= KA_YAML_MAX_DOCS) {
        return KA_ELIMIT;
    }
    size_t n = s->n_docs + 1;
    int ret = ka_array_resize(&s->docs, n, sizeof(*s->docs));
    ret = ret ? ret : ka_array_resize(&s->doc_lines, n, sizeof(*s->doc_lines));
    ret = ret ? ret : ka_array_resize(&s->doc_starts, n, sizeof(*s->doc_starts));
    ret = ret ? ret : ka_array_resize(&s->doc_ends, n, sizeof(*s->doc_ends));
    if (ret != 0) {
        return ret;
    }
    s->docs[s->n_docs] = doc;
    s->doc_lines[s->n_docs] = line;
    s->doc_starts[s->n_docs] = start;
    s->doc_ends[s->n_docs] = end;
    s->n_docs++;
    return 0;
}

int ka_yaml_parse(struct ka_yaml_stream *s, const char *name, const char *data, size_t len,
                  unsigned max_depth, struct ka_buf *diag)
{
    int ret = KA_EINTERNAL;
    struct builder b = {.s = s,
                        .name = name,
                        .diag = diag,
                        .max_depth = max_depth ? max_depth : KA_MAX_DEPTH_DEFAULT,
                        .data = (const unsigned char *)data,
                        .len = len};
    yaml_event_t ev;
    int have_ev = 0;

    if (!yaml_parser_initialize(&b.parser)) {
        return KA_ENOMEM;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)data, len);
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        b.cursor_byte = 3; /* libyaml counts from after the byte order mark */
    }
    for (;;) {
        if (!yaml_parser_parse(&b.parser, &ev)) {
            ret = note(&b, &b.parser.problem_mark,
                       b.parser.problem ? b.parser.problem : "YAML syntax error", KA_EPARSE);
            goto cleanup;
        }
        have_ev = 1;
        if (ev.type == YAML_STREAM_END_EVENT) {
            break;
        }
        if (ev.type == YAML_DOCUMENT_START_EVENT) {
            size_t doc_start = offset_of(&b, &ev.start_mark);
            yaml_event_delete(&ev);
            have_ev = 0;
            if (!yaml_parser_parse(&b.parser, &ev)) {
                ret = note(&b, &b.parser.problem_mark,
                           b.parser.problem ? b.parser.problem : "YAML syntax error", KA_EPARSE);
                goto cleanup;
            }
            have_ev = 1;
            unsigned line = line_of(&b, &ev.start_mark); /* where the content starts */
            cJSON *doc = NULL;
            anchors_reset(&b); /* anchors are local to a document */
            ret = build_node(&b, &ev, 1, &doc);
            if (ret != 0) {
                goto cleanup;
            }
            yaml_event_delete(&ev);
            have_ev = 0;
            if (!yaml_parser_parse(&b.parser, &ev)) { /* the document's end */
                cJSON_Delete(doc);
                ret = note(&b, &b.parser.problem_mark,
                           b.parser.problem ? b.parser.problem : "YAML syntax error", KA_EPARSE);
                goto cleanup;
            }
            have_ev = 1;
            if (cJSON_IsNull(doc)) {
                cJSON_Delete(doc); /* an empty document between "---" separators */
            } else {
                ret = add_doc(&b, doc, line, doc_start, offset_of(&b, &ev.end_mark));
                if (ret != 0) {
                    cJSON_Delete(doc);
                    goto cleanup;
                }
            }
        }
        yaml_event_delete(&ev);
        have_ev = 0;
    }
    ret = 0;
cleanup:
    if (have_ev) {
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&b.parser);
    anchors_reset(&b);
    free(b.anchors);
    return ret;
}

unsigned ka_yaml_directive(const char *data, size_t len, char *msg, size_t msg_len)
{
    unsigned line = 1;
    for (size_t i = 0; i < len; line++) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t end = nl != NULL ? (size_t)(nl - data) : len;
        if (data[i] == '%') {
            size_t n = end - i;
            while (n > 0 && (data[i + n - 1] == '\r' || data[i + n - 1] == ' ')) {
                n--;
            }
            snprintf(msg, msg_len,
                     "YAML directive \"%.*s\": kubectl reads the text between \"---\" lines as "
                     "documents of their own and refuses a directive; delete the line",
                     (int)(n < 40 ? n : 40), data + i);
            return line;
        }
        i = end + 1;
    }
    return 0;
}
