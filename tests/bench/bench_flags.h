/* Command-line flags of the benchmarks, as one table: name and where the value goes. */
#ifndef KADMIT_BENCH_FLAGS_H
#define KADMIT_BENCH_FLAGS_H

#include <stdlib.h>
#include <string.h>

/* One flag: `--name VALUE` stored as text, a whole number or a number (set exactly one of
 * text, whole, number), or `--name` alone setting *on to 1. */
struct bench_flag {
    const char *name;
    const char **text;
    long *whole;
    double *number;
    int *on;
};

#define BENCH_FLAGS_HELP 1
#define BENCH_FLAGS_BAD 2

/* Parse argv[1..] by `flags` (ended by a NULL name). Returns 0, BENCH_FLAGS_HELP for --help or
 * -h, or BENCH_FLAGS_BAD for an unknown flag, a missing value or a number that is not one. */
static inline int bench_flags_parse(int argc, char **argv, const struct bench_flag *flags)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return BENCH_FLAGS_HELP;
        }
        const struct bench_flag *f = flags;
        while (f->name != NULL && strcmp(f->name, argv[i]) != 0) {
            f++;
        }
        if (f->name == NULL) {
            return BENCH_FLAGS_BAD;
        }
        if (f->on != NULL) {
            *f->on = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        char *end = NULL;
        if (v == NULL) {
            return BENCH_FLAGS_BAD;
        } else if (f->text != NULL) {
            *f->text = v;
        } else if (f->whole != NULL) {
            *f->whole = strtol(v, &end, 10);
        } else {
            *f->number = strtod(v, &end);
        }
        if (end != NULL && (end == v || *end != '\0')) {
            return BENCH_FLAGS_BAD;
        }
    }
    return 0;
}

#endif
