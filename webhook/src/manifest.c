/*
 * Manifest streams (manifest.h): a window over the input, a YAML document splitter and a
 * streaming JSON tokenizer that cuts values (and List items) out of the window for cJSON.
 */
#include "kadmit/manifest.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kadmit/buf.h"
#include "kadmit/error.h"
#include "kadmit/limits.h"
#include "kadmit/yaml.h"

/* Bytes read from a FILE at a time. */
#define KA_MANIFEST_WINDOW (1u << 20)
/* The first bytes that decide JSON or YAML (kubectl's NewYAMLOrJSONDecoder peeks as many). */
#define KA_MANIFEST_SNIFF 4096
/* "End of input" from peek() and the scanners: not a byte, not an error code. */
#define EOI 256

enum format { FORMAT_UNKNOWN, FORMAT_JSON, FORMAT_YAML };
enum json_state { JSON_TOP, JSON_ARRAY, JSON_MEMBERS };

struct ka_manifest_reader {
    const char *name;
    struct ka_manifest_opts o;
    FILE *f;          /* NULL: the window is the whole input */
    char *own;        /* the window's memory when reading a FILE */
    const char *data; /* window: data[0..len), data[pos] is the next byte */
    size_t len, pos;
    size_t base;   /* input offset of data[0] */
    unsigned line; /* line of data[pos], 1-based */
    int eof, io_error, done;
    enum format format;

    /* a value being cut out: bytes from data[mark] on, earlier ones spilled into `value` */
    int collecting, spilled, oversize;
    size_t mark;
    struct ka_buf value;

    /* JSON */
    enum json_state state;
    int in_items; /* JSON_ARRAY is an object's `items` (else a top-level array) */
    int first;    /* no element/member read yet in the current array/object */
    size_t index; /* next item index */
    unsigned array_line;
    cJSON *shell; /* the top-level object's members other than a streamed `items` */
    size_t shell_bytes, shell_offset;
    unsigned shell_line;
    int streamed; /* the shell's items were yielded one by one */
    char shell_error[400];

    /* YAML */
    struct ka_buf line_buf;
    struct ka_yaml_stream ys;
    size_t ys_next;
    char pending_error[512]; /* a chunk's parse error, yielded after its good documents */
    size_t ys_item;          /* the List item r->ys holds, SIZE_MAX: a document */
    /* a YAML List read item by item (enum yaml_list) */
    int list, list_closing, list_shell_oversize, held;
    size_t list_indent, list_index, list_offset, held_offset;
    unsigned list_line, held_line;
    struct ka_buf list_shell; /* the List document without its items */
    size_t pending_offset;
    unsigned pending_line;
};

static int all_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') {
            return 0;
        }
    }
    return 1;
}

/* What the input has now, up to n bytes (a pipe or terminal may give less): 0 at its end,
 * -1 on an error. A FILE without a descriptor (fmemopen) is read with fread. */
static ssize_t read_some(struct ka_manifest_reader *r, char *p, size_t n)
{
    int fd = fileno(r->f);
    if (fd < 0) {
        size_t got = fread(p, 1, n, r->f);
        return got == 0 && ferror(r->f) ? -1 : (ssize_t)got;
    }
    for (;;) {
        ssize_t got = read(fd, p, n);
        if (got >= 0 || errno != EINTR) {
            return got;
        }
    }
}

static int refill(struct ka_manifest_reader *r)
{
    if (r->f == NULL || r->eof) {
        r->eof = 1;
        return 0;
    }
    if (r->collecting && !r->oversize) {
        size_t n = r->len - r->mark;
        if (r->value.len + n > r->o.max_object) {
            r->oversize = 1;
            ka_buf_reset(&r->value);
        } else if (ka_buf_add(&r->value, r->data + r->mark, n) != 0) {
            return KA_ENOMEM;
        }
        r->spilled = 1;
    }
    r->mark = 0;
    r->base += r->len;
    r->pos = 0;
    /* the first read holds the bytes that decide the format */
    int first = r->base == 0;
    size_t want = first && r->o.window < KA_MANIFEST_SNIFF ? KA_MANIFEST_SNIFF : r->o.window;
    r->len = 0;
    for (;;) {
        ssize_t n = read_some(r, r->own + r->len, want - r->len);
        if (n < 0) {
            r->io_error = 1;
            break;
        }
        r->len += (size_t)n;
        /* a pipe gives what it has: go on with it, unless the format is still undecided (only
         * white space so far, as kubectl looks at the first 4 KiB) */
        if (n == 0 || r->len == want || !first || !all_space(r->own, r->len)) {
            break;
        }
    }
    if (r->len == 0) {
        r->eof = 1;
        return 0;
    }
    return 1;
}

/* The next byte without consuming it; EOI at the end; KA_ENOMEM. */
static int peek(struct ka_manifest_reader *r)
{
    if (r->pos == r->len) {
        int ret = refill(r);
        if (ret <= 0) {
            return ret < 0 ? ret : EOI;
        }
    }
    return (unsigned char)r->data[r->pos];
}

static size_t offset_of(const struct ka_manifest_reader *r)
{
    return r->base + r->pos;
}

size_t ka_manifest_bytes_read(const struct ka_manifest_reader *r)
{
    return r->base + r->pos;
}

static int reader_new(struct ka_manifest_reader **out, const char *name,
                      const struct ka_manifest_opts *opts)
{
    struct ka_manifest_reader *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return KA_ENOMEM;
    }
    r->name = name;
    r->o.max_object = opts != NULL && opts->max_object ? opts->max_object : KA_MAX_MANIFEST_OBJECT;
    r->o.max_depth = opts != NULL && opts->max_depth ? opts->max_depth : KA_MAX_DEPTH_DEFAULT;
    r->o.window = opts != NULL && opts->window ? opts->window : KA_MANIFEST_WINDOW;
    r->line = 1;
    ka_buf_init(&r->value, r->o.max_object);
    ka_buf_init(&r->line_buf, r->o.max_object);
    ka_buf_init(&r->list_shell, r->o.max_object);
    r->ys_item = SIZE_MAX;
    ka_yaml_stream_init(&r->ys);
    *out = r;
    return 0;
}

int ka_manifest_reader_new(struct ka_manifest_reader **out, const char *name, FILE *f,
                           const struct ka_manifest_opts *opts)
{
    int ret = reader_new(out, name, opts);
    if (ret != 0) {
        return ret;
    }
    (*out)->f = f;
    (*out)->own =
        malloc((*out)->o.window > KA_MANIFEST_SNIFF ? (*out)->o.window : KA_MANIFEST_SNIFF);
    (*out)->data = (*out)->own;
    if ((*out)->own == NULL) {
        ka_manifest_reader_free(*out);
        *out = NULL;
        return KA_ENOMEM;
    }
    return 0;
}

int ka_manifest_reader_new_bytes(struct ka_manifest_reader **out, const char *name,
                                 const char *data, size_t len, const struct ka_manifest_opts *opts)
{
    int ret = reader_new(out, name, opts);
    if (ret != 0) {
        return ret;
    }
    (*out)->data = data;
    (*out)->len = len;
    return 0;
}

void ka_manifest_reader_free(struct ka_manifest_reader *r)
{
    if (r == NULL) {
        return;
    }
    free(r->own);
    ka_buf_free(&r->value);
    ka_buf_free(&r->line_buf);
    ka_buf_free(&r->list_shell);
    ka_yaml_stream_free(&r->ys);
    cJSON_Delete(r->shell);
    free(r);
}

static int doc_error(struct ka_manifest_doc *d, const char *name, unsigned line, size_t offset,
                     const char *what)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->source, sizeof(d->source), "%.500s:%u", name, line);
    snprintf(d->error, sizeof(d->error), "%s", what);
    d->offset = offset;
    return 1;
}

/* ------------------------------------------------------------------------------------------
 * JSON: cutting values out of the window
 */

static int skip_ws(struct ka_manifest_reader *r)
{
    for (;;) {
        int c = peek(r);
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            return c;
        }
        r->line += c == '\n';
        r->pos++;
    }
}

/* After the opening quote: to just past the closing one. 0, EOI or KA_ENOMEM. */
static int skip_string(struct ka_manifest_reader *r)
{
    for (;;) {
        if (r->pos == r->len) {
            int ret = refill(r);
            if (ret <= 0) {
                return ret < 0 ? ret : EOI;
            }
        }
        const char *s = r->data + r->pos, *e = r->data + r->len;
        while (s < e && *s != '"' && *s != '\\') {
            s++;
        }
        r->pos = (size_t)(s - r->data);
        if (s == e) {
            continue;
        }
        r->pos++;
        if (*s == '"') {
            return 0;
        }
        if (r->pos == r->len) { /* the escaped byte is in the next window */
            int ret = refill(r);
            if (ret <= 0) {
                return ret < 0 ? ret : EOI;
            }
        }
        r->pos++;
    }
}

struct cut {
    const char *p; /* the value's bytes (in the window or in r->value) */
    size_t n;
    size_t offset; /* of its first byte */
    unsigned line;
    char error[200]; /* "" or why the value cannot be used (the tokenizer is still in sync) */
};

/*
 * Cut the JSON value that starts at the next byte. Returns 0 (see cut->error), EOI when the
 * input ends inside the value (out of sync: reading stops), or KA_ENOMEM.
 */
static int cut_value(struct ka_manifest_reader *r, struct cut *v)
{
    memset(v, 0, sizeof(*v));
    v->offset = offset_of(r);
    v->line = r->line;
    r->collecting = 1;
    r->spilled = 0;
    r->oversize = 0;
    r->mark = r->pos;
    ka_buf_reset(&r->value);
    unsigned depth = 0, too_deep = 0;
    size_t too_deep_at = 0; /* input offset of the first bracket past the limit */
    int ret = 0;
    int c = peek(r);
    if (c == '"') {
        r->pos++;
        ret = skip_string(r);
    } else if (c == '{' || c == '[') {
        for (;;) {
            c = peek(r);
            if (c < 0 || c == EOI) {
                ret = c;
                break;
            }
            r->pos++;
            if (c == '"') {
                ret = skip_string(r);
                if (ret != 0) {
                    break;
                }
            } else if (c == '{' || c == '[') {
                depth++;
                if (depth > r->o.max_depth && !too_deep) {
                    too_deep = 1;
                    too_deep_at = offset_of(r) - 1;
                }
            } else if (c == '}' || c == ']') {
                if (--depth == 0) {
                    break;
                }
            } else if (c == '\n') {
                r->line++;
            }
        }
    } else {
        /* a number, true, false, null (or junk cJSON will refuse) up to a delimiter */
        for (;;) {
            c = peek(r);
            if (c < 0 || c == EOI || c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' ||
                c == '\t' || c == '\r') {
                ret = c < 0 ? c : 0;
                break;
            }
            r->pos++;
        }
    }
    r->collecting = 0;
    if (ret != 0) {
        return ret;
    }
    size_t tail = r->pos - r->mark;
    if (!r->oversize && r->value.len + tail > r->o.max_object) {
        r->oversize = 1;
    }
    if (r->oversize) {
        snprintf(v->error, sizeof(v->error),
                 "object larger than the per-object limit (%zu bytes; KA_MAX_MANIFEST_OBJECT)",
                 r->o.max_object);
        return 0;
    }
    if (too_deep) {
        snprintf(v->error, sizeof(v->error),
                 "JSON nested deeper than %u levels (KA_MAX_DEPTH_DEFAULT) at byte offset %zu",
                 r->o.max_depth, too_deep_at);
        return 0;
    }
    if (r->spilled) {
        if (ka_buf_add(&r->value, r->data + r->mark, tail) != 0) {
            return KA_ENOMEM;
        }
        v->p = r->value.data;
        v->n = r->value.len;
    } else {
        v->p = r->data + r->mark;
        v->n = tail;
    }
    return 0;
}

/* Parse a cut value; NULL with v->error set when it is not valid JSON. */
static cJSON *parse_cut(struct cut *v)
{
    if (v->error[0] != '\0') {
        return NULL;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(v->p, v->n, &end, 0);
    if (j == NULL) {
        size_t at = end != NULL && end >= v->p && end <= v->p + v->n ? (size_t)(end - v->p) : 0;
        unsigned line = v->line;
        for (size_t i = 0; i < at; i++) {
            line += v->p[i] == '\n';
        }
        snprintf(v->error, sizeof(v->error), "malformed JSON at byte offset %zu (line %u)",
                 v->offset + at, line);
    }
    return j;
}

static int out_of_sync(struct ka_manifest_reader *r, struct ka_manifest_doc *d, int c,
                       const char *want)
{
    r->done = 1;
    char what[200];
    if (c == EOI) {
        snprintf(what, sizeof(what), "unexpected end of input in JSON (want %s)", want);
    } else {
        /* "{{" opens a Go template: an unrendered Helm chart, kubectl sniffs it as JSON too */
        int template = c == '{' && r->pos > 0 && r->pos <= r->len && r->data[r->pos - 1] == '{';
        snprintf(what, sizeof(what), "unexpected byte '%c' at byte offset %zu (want %s)%s",
                 c >= 0x20 && c < 0x7f ? c : '?', offset_of(r), want,
                 template ? "; \"{{\" starts a template: render it first (helm template)" : "");
    }
    return doc_error(d, r->name, r->line, offset_of(r), what);
}

/* Before every element of a collection but the first: the ',' (anything else is out of sync;
 * `want` says what would do). Returns 0 with *c the byte after it, or what the caller returns:
 * the document error (1) or a negative read result. */
static int json_separator(struct ka_manifest_reader *r, struct ka_manifest_doc *d, int *c,
                          const char *want)
{
    if (r->first) {
        return 0;
    }
    if (*c != ',') {
        return out_of_sync(r, d, *c, want);
    }
    r->pos++;
    *c = skip_ws(r);
    return *c < 0 ? *c : 0;
}

static int is_list_kind(const cJSON *shell)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(shell, "kind");
    size_t n = cJSON_IsString(k) ? strlen(k->valuestring) : 0;
    return n >= 4 && strcmp(k->valuestring + n - 4, "List") == 0;
}

/* One array element: an item (yielded), or the end of the array. */
static int json_element(struct ka_manifest_reader *r, struct ka_manifest_doc *d)
{
    int c = skip_ws(r);
    if (c < 0) {
        return c;
    }
    if (c == ']') {
        r->pos++;
        r->state = r->in_items ? JSON_MEMBERS : JSON_TOP;
        r->first = 0; /* a member (items) was read */
        return 0;
    }
    int ret = json_separator(r, d, &c, "',' or ']'");
    if (ret != 0) {
        return ret;
    }
    if (c == EOI || c == ']' || c == ',') {
        return out_of_sync(r, d, c, "a value");
    }
    r->first = 0;
    struct cut v;
    ret = cut_value(r, &v);
    if (ret != 0) {
        return ret == EOI ? out_of_sync(r, d, EOI, "the end of a value") : ret;
    }
    memset(d, 0, sizeof(*d));
    d->object = parse_cut(&v);
    d->offset = v.offset;
    snprintf(d->source, sizeof(d->source), "%.500s:%u#items[%zu]", r->name, v.line, r->index++);
    if (d->object == NULL) {
        snprintf(d->error, sizeof(d->error), "%s", v.error);
    }
    return 1;
}

/* One member of a top-level object, or its end (which may yield the object). */
static int json_member(struct ka_manifest_reader *r, struct ka_manifest_doc *d)
{
    int c = skip_ws(r);
    if (c < 0) {
        return c;
    }
    if (c == '}') {
        r->pos++;
        r->state = JSON_TOP;
        cJSON *shell = r->shell;
        r->shell = NULL;
        if (r->shell_error[0] != '\0' || (r->streamed && !is_list_kind(shell))) {
            cJSON_Delete(shell);
            return doc_error(d, r->name, r->shell_line, r->shell_offset,
                             r->shell_error[0] ? r->shell_error
                                               : "an object with an items array whose kind is "
                                                 "not a List (its items were read as a List's)");
        }
        if (r->streamed) {
            cJSON_Delete(shell); /* a List: its items were yielded one by one */
            return 0;
        }
        memset(d, 0, sizeof(*d));
        d->object = shell;
        d->offset = r->shell_offset;
        snprintf(d->source, sizeof(d->source), "%.500s:%u", r->name, r->shell_line);
        return 1;
    }
    int ret = json_separator(r, d, &c, "',' or '}'");
    if (ret != 0) {
        return ret;
    }
    if (c != '"') {
        return out_of_sync(r, d, c, "a member name");
    }
    r->first = 0;
    struct cut key;
    ret = cut_value(r, &key);
    if (ret != 0) {
        return ret == EOI ? out_of_sync(r, d, EOI, "the end of a member name") : ret;
    }
    cJSON *name = parse_cut(&key);
    c = skip_ws(r);
    if (c != ':') {
        cJSON_Delete(name);
        return c < 0 ? c : out_of_sync(r, d, c, "':'");
    }
    r->pos++;
    c = skip_ws(r);
    if (c < 0) {
        cJSON_Delete(name);
        return c;
    }
    const char *k = cJSON_IsString(name) ? name->valuestring : "";
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(r->shell, "kind");
    if (strcmp(k, "items") == 0 && c == '[' && !r->streamed &&
        (kind == NULL || is_list_kind(r->shell))) {
        cJSON_Delete(name);
        r->pos++;
        r->state = JSON_ARRAY;
        r->in_items = 1;
        r->first = 1;
        r->streamed = 1;
        r->index = 0;
        return 0;
    }
    if (c == EOI || c == ',' || c == '}') {
        cJSON_Delete(name);
        return out_of_sync(r, d, c, "a value");
    }
    struct cut v;
    ret = cut_value(r, &v);
    if (ret != 0) {
        cJSON_Delete(name);
        return ret == EOI ? out_of_sync(r, d, EOI, "the end of a value") : ret;
    }
    cJSON *value = parse_cut(&v);
    r->shell_bytes += v.n + key.n;
    if (r->shell_error[0] == '\0') {
        if (name == NULL || value == NULL) {
            snprintf(r->shell_error, sizeof(r->shell_error), "%s",
                     name == NULL ? key.error : v.error);
        } else if (r->shell_bytes > r->o.max_object) {
            snprintf(r->shell_error, sizeof(r->shell_error),
                     "object larger than the per-object limit (%zu bytes; "
                     "KA_MAX_MANIFEST_OBJECT)",
                     r->o.max_object);
        } else if (cJSON_GetObjectItemCaseSensitive(r->shell, k) != NULL) {
            snprintf(r->shell_error, sizeof(r->shell_error), "duplicate key \"%.200s\"", k);
        } else if (cJSON_AddItemToObject(r->shell, k, value)) {
            value = NULL;
        } else {
            ret = KA_ENOMEM;
        }
    }
    cJSON_Delete(value);
    cJSON_Delete(name);
    return ret;
}

static int json_next(struct ka_manifest_reader *r, struct ka_manifest_doc *d)
{
    for (;;) {
        int ret = 0;
        if (r->state == JSON_ARRAY) {
            ret = json_element(r, d);
        } else if (r->state == JSON_MEMBERS) {
            ret = json_member(r, d);
        } else {
            int c = skip_ws(r);
            if (c == EOI) {
                r->done = 1;
                return 0;
            }
            if (c < 0) {
                return c;
            }
            if (c != '{' && c != '[') {
                char what[160];
                snprintf(what, sizeof(what),
                         "bytes at byte offset %zu are not a JSON object or array (trailing "
                         "data); reading stops here",
                         offset_of(r));
                r->done = 1;
                return doc_error(d, r->name, r->line, offset_of(r), what);
            }
            r->pos++;
            r->first = 1;
            r->index = 0;
            if (c == '[') {
                r->state = JSON_ARRAY;
                r->in_items = 0;
                r->array_line = r->line;
                continue;
            }
            r->state = JSON_MEMBERS;
            r->shell = cJSON_CreateObject();
            if (r->shell == NULL) {
                return KA_ENOMEM;
            }
            r->shell_bytes = 0;
            r->shell_offset = offset_of(r) - 1;
            r->shell_line = r->line;
            r->streamed = 0;
            r->shell_error[0] = '\0';
            continue;
        }
        if (ret != 0) {
            return ret;
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * YAML: documents split on `---` lines, each parsed on its own
 */

/* One line (with its "\n") into r->line_buf; *too_long when it does not fit. 1 at the end. */
static int read_line(struct ka_manifest_reader *r, int *too_long)
{
    ka_buf_reset(&r->line_buf);
    *too_long = 0;
    int got = 0;
    for (;;) {
        if (r->pos == r->len) {
            int ret = refill(r);
            if (ret < 0) {
                return ret;
            }
            if (ret == 0) {
                return got ? 0 : 1;
            }
        }
        const char *nl = memchr(r->data + r->pos, '\n', r->len - r->pos);
        size_t end = nl != NULL ? (size_t)(nl - r->data) + 1 : r->len;
        if (!*too_long) {
            int ret = ka_buf_add(&r->line_buf, r->data + r->pos, end - r->pos);
            if (ret == KA_ELIMIT) {
                *too_long = 1;
            } else if (ret != 0) {
                return ret;
            }
        }
        got = 1;
        r->pos = end;
        if (nl != NULL) {
            r->line++;
            return 0;
        }
    }
}

/* The length of the white space Go's unicode.IsSpace accepts at p (ASCII and the UTF-8 spaces:
 * NEL, NO-BREAK SPACE, OGHAM SPACE MARK, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000);
 * 0 when p is not white space. */
static size_t go_space(const unsigned char *p, size_t n)
{
    if (n >= 1 && (p[0] == ' ' || (p[0] >= '\t' && p[0] <= '\r'))) {
        return 1;
    }
    if (n >= 2 && p[0] == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0)) {
        return 2;
    }
    if (n < 3) {
        return 0;
    }
    unsigned c = (unsigned)(p[0] & 0x0F) << 12 | (unsigned)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    int three = (p[0] & 0xF0) == 0xE0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80;
    if (three && (c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
                  c == 0x202F || c == 0x205F || c == 0x3000)) {
        return 3;
    }
    return 0;
}

/* kubectl (apimachinery's YAMLReader): a line starting with "---" and then only white space or
 * a comment. 1 separator, 0 not, -1 "---" followed by something else, such as a tag (`--- !!map`)
 * or content (`--- {a: 1}`): kubectl refuses the stream ("invalid Yaml document separator"), so
 * it is an error here too; *after is where that something starts. */
static int separator(const char *line, size_t n, size_t *after)
{
    if (n < 3 || memcmp(line, "---", 3) != 0) {
        return 0;
    }
    size_t i = 3, k;
    while ((k = go_space((const unsigned char *)line + i, n - i)) > 0) {
        i += k;
    }
    *after = i;
    return i == n || line[i] == '#' ? 1 : -1;
}

/* A `kind: List` in YAML (`kubectl get -o yaml`): a document whose top-level `items:` key opens
 * a block sequence is read item by item, each item parsed on its own; the rest of the document
 * (the shell: apiVersion, kind, metadata) is parsed at its end and must be a List. */
enum yaml_list { YL_NONE, YL_MAYBE, YL_ITEM, YL_REST };

/* Leading spaces of a line; the line's length when it is blank or only a comment. */
static size_t indent_of(const char *line, size_t n)
{
    size_t k = 0;
    while (k < n && line[k] == ' ') {
        k++;
    }
    return k == n || line[k] == '\n' || line[k] == '\r' || line[k] == '#' ? n : k;
}

/* `items:` at column 0 with nothing after it but spaces or a comment. */
static int items_key(const char *line, size_t n)
{
    if (n < 6 || memcmp(line, "items:", 6) != 0) {
        return 0;
    }
    size_t k = 6;
    while (k < n && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r')) {
        k++;
    }
    return k == n || line[k] == '\n' || line[k] == '#';
}

/* A sequence entry at column k: "-" then a space or the end of the line. */
static int dash_at(const char *line, size_t n, size_t k)
{
    return k < n && line[k] == '-' &&
           (k + 1 == n || line[k + 1] == ' ' || line[k + 1] == '\n' || line[k + 1] == '\r');
}

/* Parse r->value (a document, or a List item when item is not SIZE_MAX) into r->ys, or set
 * r->pending_error. */
static int yaml_chunk(struct ka_manifest_reader *r, unsigned first_line, size_t offset,
                      int oversize, size_t item)
{
    ka_yaml_stream_free(&r->ys);
    ka_yaml_stream_init(&r->ys);
    r->ys_next = 0;
    r->ys_item = item;
    r->pending_offset = offset;
    r->pending_line = first_line;
    if (oversize) {
        snprintf(r->pending_error, sizeof(r->pending_error),
                 "%s larger than the per-object limit (%zu bytes; KA_MAX_MANIFEST_OBJECT)",
                 item == SIZE_MAX ? "document" : "List item", r->o.max_object);
        return 0;
    }
    if (r->value.len == 0) {
        return 0;
    }
    struct ka_buf diag;
    ka_buf_init(&diag, 1024);
    r->ys.first_line = first_line;
    r->ys.no_positions = 1;
    int ret = ka_yaml_parse(&r->ys, r->name, r->value.data, r->value.len, r->o.max_depth, &diag);
    if (ret != 0 && ret != KA_ENOMEM) {
        size_t n = diag.len;
        while (n > 0 && diag.data[n - 1] == '\n') {
            n--;
        }
        /* an unrendered Helm template (a chart's templates/ directory) rarely parses */
        int template = r->value.len > 1 && memmem(r->value.data, r->value.len, "{{", 2) != NULL;
        snprintf(r->pending_error, sizeof(r->pending_error), "cannot parse: %.*s%s",
                 (int)(n < 400 ? n : 400), diag.data != NULL ? diag.data : "",
                 template ? "; it holds \"{{\", a template: render it first (helm template)" : "");
        r->pending_line = r->ys.error_line > 0 ? (unsigned)r->ys.error_line : first_line;
        unsigned at = ka_yaml_directive(r->value.data, r->value.len, r->pending_error,
                                        sizeof(r->pending_error));
        if (at > 0) {
            r->pending_line = first_line + at - 1;
        }
        ret = 0;
    }
    ka_buf_free(&diag);
    return ret;
}

/* The end of a List document: its shell must parse and be a List. */
static int yaml_list_end(struct ka_manifest_reader *r)
{
    ka_buf_reset(&r->value);
    int ret = r->list_shell_oversize  ? 0
              : r->list_shell.len > 0 ? ka_buf_add(&r->value, r->list_shell.data, r->list_shell.len)
                                      : 0;
    ka_buf_reset(&r->list_shell);
    r->list = YL_NONE;
    ret = ret ? ret : yaml_chunk(r, r->list_line, r->list_offset, r->list_shell_oversize, SIZE_MAX);
    if (ret == 0 && r->pending_error[0] == '\0') {
        cJSON *shell = r->ys.n_docs == 1 ? r->ys.docs[0] : NULL;
        if (!is_list_kind(shell)) {
            snprintf(r->pending_error, sizeof(r->pending_error), "%s",
                     "an object with an items array whose kind is not a List (its items were "
                     "read as a List's)");
        }
        ka_yaml_stream_free(&r->ys); /* a List: its items were yielded one by one */
        ka_yaml_stream_init(&r->ys);
    }
    return ret;
}

static int shell_add(struct ka_manifest_reader *r, const char *p, size_t n)
{
    int ret = r->list_shell_oversize ? 0 : ka_buf_add(&r->list_shell, p, n);
    if (ret == KA_ELIMIT) {
        r->list_shell_oversize = 1;
        ret = 0;
    }
    return ret;
}

static int yaml_next(struct ka_manifest_reader *r, struct ka_manifest_doc *d)
{
    for (;;) {
        if (r->ys_next < r->ys.n_docs) {
            size_t i = r->ys_next++;
            memset(d, 0, sizeof(*d));
            d->object = r->ys.docs[i];
            r->ys.docs[i] = NULL;
            d->offset = r->pending_offset;
            snprintf(d->source, sizeof(d->source), "%.500s:%u", r->name, r->ys.doc_lines[i]);
            if (r->ys_item != SIZE_MAX) {
                snprintf(d->source, sizeof(d->source), "%.500s:%u#items[%zu]", r->name,
                         r->ys.doc_lines[i], r->ys_item);
            }
            return 1;
        }
        if (r->pending_error[0] != '\0') {
            doc_error(d, r->name, r->pending_line, r->pending_offset, r->pending_error);
            if (r->ys_item != SIZE_MAX) {
                snprintf(d->source, sizeof(d->source), "%.500s:%u#items[%zu]", r->name,
                         r->pending_line, r->ys_item);
            }
            r->pending_error[0] = '\0';
            return 1;
        }
        if (r->list_closing) { /* the last item was yielded: the List document ends */
            r->list_closing = 0;
            int ret = yaml_list_end(r);
            if (ret != 0) {
                return ret;
            }
            continue;
        }
        if (r->list == YL_NONE && !r->held && r->eof && r->pos == r->len) {
            r->done = 1;
            return 0;
        }
        /* the next chunk: lines up to a separator or the end; in a List, one item */
        ka_buf_reset(&r->value);
        unsigned first_line = r->line;
        size_t offset = offset_of(r);
        int oversize = 0, bad_separator = 0, any = 0, ended = 0;
        char found[48] = ""; /* what follows "---" on a bad separator line */
        size_t item = SIZE_MAX;
        for (;;) {
            int too_long = 0, ret = 0;
            unsigned line_no = r->line;
            size_t line_offset = offset_of(r);
            if (r->held) { /* the line that ended the previous item */
                r->held = 0;
                line_no = r->held_line;
                line_offset = r->held_offset;
            } else {
                ret = read_line(r, &too_long);
            }
            if (ret < 0) {
                return ret;
            }
            if (ret == 1) {
                ended = 1;
                break;
            }
            const char *line = r->line_buf.data;
            size_t n = too_long ? 0 : r->line_buf.len;
            size_t after = 0;
            int sep = too_long ? 0 : separator(line, n, &after);
            if (sep != 0) {
                bad_separator = sep < 0;
                if (bad_separator) {
                    size_t m = n - after;
                    while (m > 0 && go_space((const unsigned char *)line + after + m - 1, 1)) {
                        m--;
                    }
                    snprintf(found, sizeof(found), "%.*s%s", (int)(m < 32 ? m : 32), line + after,
                             m > 32 ? "..." : "");
                }
                if (any || bad_separator || r->list != YL_NONE) {
                    ended = 1;
                    break;
                }
                first_line = r->line; /* a leading separator */
                offset = offset_of(r);
                continue;
            }
            size_t k = too_long ? r->list_indent + 1 : indent_of(line, n); /* n: blank, comment */
            if (r->list == YL_NONE && !oversize && items_key(line, n)) {
                /* maybe a List: what came before is its shell */
                ka_buf_reset(&r->list_shell);
                r->list_shell_oversize = 0;
                ret = shell_add(r, r->value.len > 0 ? r->value.data : "", r->value.len);
                ret = ret ? ret : shell_add(r, line, n);
                if (ret != 0) {
                    return ret;
                }
                r->list = YL_MAYBE;
                r->list_line = first_line;
                r->list_offset = offset;
                r->list_index = 0;
                ka_buf_reset(&r->value);
                any = 0;
                continue;
            }
            if (r->list == YL_MAYBE && k != n) {
                if (dash_at(line, n, k)) {
                    r->list = YL_ITEM; /* a block sequence: read item by item */
                    r->list_indent = k;
                } else { /* an ordinary document after all */
                    r->list = YL_NONE;
                    oversize = r->list_shell_oversize ||
                               ka_buf_add(&r->value, r->list_shell.data, r->list_shell.len) != 0;
                    first_line = r->list_line;
                    offset = r->list_offset;
                }
            }
            if (r->list == YL_ITEM && k != n && k <= r->list_indent) {
                if (k == r->list_indent && dash_at(line, n, k) && !any) {
                    /* this item's first line, its "-" turned into a space */
                    first_line = line_no;
                    offset = line_offset;
                    item = r->list_index++;
                    any = 1;
                    oversize = ka_buf_add(&r->value, line, k) != 0 ||
                               ka_buf_add(&r->value, " ", 1) != 0 ||
                               ka_buf_add(&r->value, line + k + 1, n - k - 1) != 0;
                    continue;
                }
                if (k < r->list_indent || !dash_at(line, n, k)) {
                    r->list = YL_REST; /* the end of the sequence */
                }
                if (any) { /* this item is complete: the line is read again next time */
                    r->held = 1;
                    r->held_line = line_no;
                    r->held_offset = line_offset;
                    break;
                }
            }
            if (r->list == YL_MAYBE || r->list == YL_REST) {
                ret = shell_add(r, too_long ? "" : line, n);
                if (ret != 0) {
                    return ret;
                }
                r->list_shell_oversize |= too_long;
                continue;
            }
            if (r->list == YL_ITEM && !any) {
                continue; /* blank lines and comments before the first item */
            }
            any = 1;
            if (too_long || (!oversize && ka_buf_add(&r->value, line, n) == KA_ELIMIT)) {
                oversize = 1;
            }
        }
        int ret = 0;
        if (item != SIZE_MAX) {
            ret = yaml_chunk(r, first_line, offset, oversize, item);
            r->list_closing = ended; /* a separator or the end closes the List after it */
        } else if (r->list != YL_NONE) {
            ret = yaml_list_end(r);
        } else {
            ret = yaml_chunk(r, first_line, offset, oversize, SIZE_MAX);
        }
        if (ret != 0) {
            return ret;
        }
        if (bad_separator && r->pending_error[0] == '\0') {
            /* reported after this chunk's documents; the line is taken as a separator */
            snprintf(r->pending_error, sizeof(r->pending_error),
                     "invalid document separator \"--- %s\": only spaces or a comment may follow "
                     "\"---\" (kubectl refuses this stream too); put a tag or content on the "
                     "next line",
                     found);
            r->pending_line = r->line - 1;
        }
    }
}

int ka_manifest_next(struct ka_manifest_reader *r, struct ka_manifest_doc *d)
{
    if (r->done) {
        return 0;
    }
    if (r->format == FORMAT_UNKNOWN) {
        int c = peek(r);
        if (c < 0) {
            return c;
        }
        if (c == 0xEF && r->len - r->pos >= 3 && memcmp(r->data + r->pos, "\xEF\xBB\xBF", 3) == 0) {
            r->pos += 3; /* a UTF-8 byte-order mark */
        }
        /* as kubectl: JSON when the first non-space byte of the first 4 KiB opens an object */
        size_t i = r->pos, end = r->len < KA_MANIFEST_SNIFF ? r->len : KA_MANIFEST_SNIFF;
        while (i < end && (r->data[i] == ' ' || r->data[i] == '\t' || r->data[i] == '\r' ||
                           r->data[i] == '\n')) {
            i++;
        }
        r->format = i < end && (r->data[i] == '{' || r->data[i] == '[') ? FORMAT_JSON : FORMAT_YAML;
    }
    int ret = r->format == FORMAT_JSON ? json_next(r, d) : yaml_next(r, d);
    if (ret == 0 && r->io_error) {
        return KA_EIO;
    }
    return ret;
}
