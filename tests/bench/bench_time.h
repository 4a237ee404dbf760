/* Timing for the benchmarks: this thread's CPU time, a comparator to sort runs, the peak RSS. */
#ifndef KADMIT_BENCH_TIME_H
#define KADMIT_BENCH_TIME_H

#include <sys/resource.h>
#include <time.h>

/* This thread's CPU time in ns: time spent descheduled on a shared machine does not count
 * (caches disturbed by other processes still do). */
static inline double bench_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* qsort comparator for doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Peak resident set size of this process, KiB. */
static inline long bench_peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

#endif
