/*
 * Files: atomic replacement, sorted directory listings, change fingerprints. See kadmit/file.h.
 */
#include "kadmit/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kadmit/buf.h"
#include "kadmit/error.h"

/* ---- atomic write ----------------------------------------------------------------------- */

int ka_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    int ret = KA_EIO;
    int fd = -1;
    int saved_errno = 0;
    char tmp[4096];
    const char *slash = strrchr(path, '/');
    int n = slash != NULL ? snprintf(tmp, sizeof(tmp), "%.*s/.%s.tmp.XXXXXX", (int)(slash - path),
                                     path, slash + 1)
                          : snprintf(tmp, sizeof(tmp), ".%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return KA_EINVAL;
    }
    fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT|O_EXCL, mode 0600 */
    if (fd < 0) {
        return KA_EIO;
    }
    if ((mode & 07777) != 0600 && fchmod(fd, mode & 07777) != 0) {
        goto exit;
    }
    const unsigned char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            if (w == 0) {
                errno = EIO;
            }
            goto exit;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        goto exit;
    }
    int close_ret = close(fd);
    fd = -1;
    if (close_ret != 0 || rename(tmp, path) != 0) {
        goto exit;
    }
    tmp[0] = '\0'; /* renamed: nothing to remove */
    if (slash != NULL) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
        int dfd = open(slash == path ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    ret = 0;
exit:
    saved_errno = errno;
    if (fd >= 0) {
        close(fd);
    }
    if (tmp[0] != '\0') {
        unlink(tmp);
    }
    errno = saved_errno;
    return ret;
}

/* ---- sorted directory listing ----------------------------------------------------------- */

void ka_file_list_init(struct ka_file_list *l)
{
    memset(l, 0, sizeof(*l));
}

void ka_file_list_free(struct ka_file_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->names[i]);
    }
    free(l->names);
    ka_file_list_init(l);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ka_file_list_dir(const char *dir, int (*keep)(const char *name), size_t max,
                     struct ka_file_list *l)
{
    int ret = 0;
    size_t cap = 0;
    ka_file_list_init(l);
    DIR *d = opendir(dir);
    if (d == NULL) {
        return errno == ENOENT ? KA_ENOTFOUND : KA_EIO;
    }
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || (keep != NULL && !keep(e->d_name))) {
            continue;
        }
        if (l->n >= max) {
            l->truncated = 1;
            break;
        }
        ret = ka_array_grow(&l->names, &cap, l->n + 1, sizeof(*l->names));
        if (ret != 0) {
            break;
        }
        l->names[l->n] = strdup(e->d_name);
        if (l->names[l->n] == NULL) {
            ret = KA_ENOMEM;
            break;
        }
        l->n++;
    }
    closedir(d);
    if (ret != 0) {
        ka_file_list_free(l);
        return ret;
    }
    if (l->n > 1) {
        qsort(l->names, l->n, sizeof(*l->names), cmp_name);
    }
    return 0;
}

/* ---- fingerprints ----------------------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    return h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
}

static uint64_t stat_mix(uint64_t h, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return mix(h, 2 + (uint64_t)errno);
    }
    h = mix(h, (uint64_t)st.st_dev);
    h = mix(h, (uint64_t)st.st_ino);
    h = mix(h, (uint64_t)st.st_size);
    h = mix(h, (uint64_t)st.st_mtim.tv_sec);
    h = mix(h, (uint64_t)st.st_mtim.tv_nsec);
    h = mix(h, (uint64_t)st.st_ctim.tv_sec);
    return mix(h, (uint64_t)st.st_ctim.tv_nsec);
}

uint64_t ka_file_fingerprint(uint64_t h, const char *path)
{
    if (path == NULL || path[0] == '\0') {
        return mix(h, 1);
    }
    h = stat_mix(h, path);
    DIR *d = opendir(path);
    if (d == NULL) {
        return h;
    }
    uint64_t entries = 0;
    const struct dirent *e;
    char full[4096 + 256];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        int n = snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
        if (n > 0 && (size_t)n < sizeof(full)) {
            uint64_t eh = stat_mix(0, full);
            for (const char *c = e->d_name; *c != '\0'; c++) {
                eh = mix(eh, (uint64_t)(unsigned char)*c);
            }
            entries += eh; /* readdir order does not matter */
        }
    }
    closedir(d);
    return mix(h, entries);
}

static int walk(const char *dir, unsigned depth, int (*keep)(const char *name),
                ka_file_visit_fn visit, void *ctx)
{
    if (depth > KA_FILE_WALK_MAX_DEPTH) {
        return visit(ctx, dir, "directories nested too deeply");
    }
    struct ka_file_list names;
    int ret = ka_file_list_dir(dir, NULL, SIZE_MAX, &names);
    if (ret == KA_ENOMEM) {
        return ret;
    }
    if (ret != 0) {
        return visit(ctx, dir, "cannot open directory");
    }
    size_t len = strlen(dir);
    len -= len > 1 && dir[len - 1] == '/';
    for (size_t i = 0; ret == 0 && i < names.n; i++) {
        char path[4096];
        struct stat st;
        if ((size_t)snprintf(path, sizeof(path), "%.*s/%s", (int)len, dir, names.names[i]) >=
                sizeof(path) ||
            stat(path, &st) != 0) {
            continue; /* too long a path, or gone since it was listed */
        }
        if (S_ISDIR(st.st_mode)) {
            ret = walk(path, depth + 1, keep, visit, ctx);
        } else if (keep == NULL || keep(names.names[i])) {
            ret = visit(ctx, path, NULL);
        }
    }
    ka_file_list_free(&names);
    return ret;
}

int ka_file_walk(const char *dir, int (*keep)(const char *name), ka_file_visit_fn visit, void *ctx)
{
    return walk(dir, 0, keep, visit, ctx);
}
