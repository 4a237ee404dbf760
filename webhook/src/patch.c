#include "kadmit/patch.h"

#include <stdlib.h>
#include <string.h>

#include "kadmit/error.h"

void ka_patch_init(struct ka_patch *p, size_t max_ops)
{
    ka_buf_init(&p->ops, 1024u * 1024u);
    p->n_ops = 0;
    p->max_ops = max_ops;
}

void ka_patch_free(struct ka_patch *p)
{
    ka_buf_free(&p->ops);
    p->n_ops = 0;
}

int ka_pointer_append(struct ka_buf *path, const char *segment)
{
    int ret = ka_buf_add(path, "/", 1);
    for (const char *c = segment; ret == 0 && *c != '\0'; c++) {
        if (*c == '~') {
            ret = ka_buf_add(path, "~0", 2);
        } else if (*c == '/') {
            ret = ka_buf_add(path, "~1", 2);
        } else {
            ret = ka_buf_add(path, c, 1);
        }
    }
    return ret;
}

int ka_pointer_append_index(struct ka_buf *path, size_t index)
{
    return ka_buf_printf(path, "/%zu", index);
}

int ka_patch_op(struct ka_patch *p, const char *op, const char *path, const cJSON *value)
{
    if (p->n_ops >= p->max_ops) {
        return KA_ELIMIT;
    }
    char *json = NULL;
    if (value != NULL) {
        json = cJSON_PrintUnformatted(value);
        if (json == NULL) {
            return KA_ENOMEM;
        }
    }
    size_t mark = p->ops.len;
    int ret = ka_buf_printf(&p->ops, "%s{\"op\":\"%s\",\"path\":", p->n_ops > 0 ? "," : "", op);
    if (ret == 0) {
        ret = ka_buf_add_json_string(&p->ops, path, strlen(path));
    }
    if (ret == 0) {
        ret = json != NULL ? ka_buf_printf(&p->ops, ",\"value\":%s}", json)
                           : ka_buf_add(&p->ops, "}", 1);
    }
    cJSON_free(json);
    if (ret != 0) {
        p->ops.len = mark; /* leave the patch as it was */
        if (p->ops.data != NULL) {
            p->ops.data[mark] = '\0';
        }
        return ret;
    }
    p->n_ops++;
    return 0;
}

int ka_patch_add(struct ka_patch *p, const char *path, const cJSON *value)
{
    return ka_patch_op(p, "add", path, value);
}

int ka_patch_render(const struct ka_patch *p, struct ka_buf *out)
{
    int ret = ka_buf_add(out, "[", 1);
    if (ret == 0) {
        ret = ka_buf_add(out, p->ops.data ? p->ops.data : "", p->ops.len);
    }
    if (ret == 0) {
        ret = ka_buf_add(out, "]", 1);
    }
    return ret;
}

int ka_base64_append(struct ka_buf *out, const void *data, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = data;
    char quad[4];
    int ret = 0;
    size_t i = 0;
    for (; ret == 0 && i + 3 <= len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        quad[0] = tbl[v >> 18];
        quad[1] = tbl[(v >> 12) & 63];
        quad[2] = tbl[(v >> 6) & 63];
        quad[3] = tbl[v & 63];
        ret = ka_buf_add(out, quad, 4);
    }
    if (ret == 0 && i < len) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len) {
            v |= (unsigned)in[i + 1] << 8;
        }
        quad[0] = tbl[v >> 18];
        quad[1] = tbl[(v >> 12) & 63];
        quad[2] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        quad[3] = '=';
        ret = ka_buf_add(out, quad, 4);
    }
    return ret;
}
