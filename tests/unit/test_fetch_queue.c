/* The registry fetch queue: dedup, bounds, backoff, the denial's clauses, stop. */
#include <stdint.h>
#include <string.h>

#include "ka_test.h"
#include "kadmit/error.h"
#include "kadmit/fetch_queue.h"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define IMAGE_A "r.example/app:1@sha256:" HEX_A

/* miss(image) at `now`; returns the clause it appended */
static const char *miss(struct ka_fetch_queue *q, const char *image, int64_t now,
                        struct ka_buf *why)
{
    ka_buf_reset(why);
    CU_ASSERT_EQUAL(ka_fetch_queue_miss(q, image, now, why), 0);
    return why->data != NULL ? why->data : "";
}

/* A new queue that refreshes after `refresh_s`. */
static struct ka_fetch_queue *new_queue(int64_t refresh_s)
{
    struct ka_fetch_queue *q = NULL;
    CU_ASSERT_EQUAL_FATAL(ka_fetch_queue_new(refresh_s, &q), 0);
    return q;
}

/* The image ka_fetch_queue_next() hands out without waiting, or "" when none is due. */
static const char *next(struct ka_fetch_queue *q)
{
    static char image[KA_FETCH_IMAGE_MAX];
    int ret = ka_fetch_queue_next(q, image, sizeof(image), 0);
    CU_ASSERT(ret == 0 || ret == KA_ENOTFOUND);
    return ret == 0 ? image : "";
}

static void test_dedup_and_clauses(void)
{
    struct ka_fetch_queue *q = new_queue(600);
    struct ka_buf why;
    ka_buf_init(&why, 4096);
    CU_ASSERT_STRING_EQUAL(miss(q, "app:1", 1000, &why), ""); /* not pinned: ignored */
    CU_ASSERT_STRING_EQUAL(miss(q, IMAGE_A, 1000, &why), "a registry fetch is queued");
    /* the same digest under another name is the same fetch */
    CU_ASSERT_STRING_EQUAL(miss(q, "r.example/app@sha256:" HEX_A, 1001, &why),
                           "a registry fetch is queued");
    struct ka_fetch_queue_stats st;
    ka_fetch_queue_stats(q, &st);
    CU_ASSERT_EQUAL(st.tracked, 1);
    CU_ASSERT_EQUAL(st.queued, 1);
    CU_ASSERT_STRING_EQUAL(next(q), IMAGE_A);
    CU_ASSERT_STRING_EQUAL(miss(q, IMAGE_A, 1002, &why), "a registry fetch is under way");
    CU_ASSERT_STRING_EQUAL(next(q), "");
    ka_fetch_queue_done(q, IMAGE_A, KA_ENOTFOUND, ".att tag: 404", 1003);
    /* backing off: 10 s after the first failure, doubling */
    CU_ASSERT_STRING_EQUAL(miss(q, IMAGE_A, 1005, &why),
                           "registry tried 2s ago (.att tag: 404); next try in 8s");
    CU_ASSERT_STRING_EQUAL(next(q), "");
    CU_ASSERT_STRING_EQUAL(miss(q, IMAGE_A, 1013, &why),
                           "registry tried 10s ago (.att tag: 404); queued again");
    CU_ASSERT_STRING_EQUAL(next(q), IMAGE_A);
    ka_fetch_queue_done(q, IMAGE_A, KA_ENET, "referrers: Timeout was reached", 1020);
    CU_ASSERT_STRING_EQUAL(miss(q, IMAGE_A, 1030, &why),
                           "registry tried 10s ago (referrers: Timeout was reached); next try "
                           "in 10s");
    /* appended to what the rule already said */
    ka_buf_reset(&why);
    CU_ASSERT_EQUAL(ka_buf_adds(&why, "no attestation"), 0);
    CU_ASSERT_EQUAL(ka_fetch_queue_miss(q, IMAGE_A, 1030, &why), 0);
    KA_ASSERT_HAS(why.data, "no attestation; registry tried");
    ka_fetch_queue_free(q);
    ka_buf_free(&why);
}

/* a filter that refuses every image of one registry, as serve's --registry-hosts does */
static int not_elsewhere(void *ctx, const char *image, struct ka_buf *why)
{
    if (strncmp(image, ctx, strlen(ctx)) != 0) {
        return 1;
    }
    CU_ASSERT_EQUAL(ka_buf_adds(why, "not that one"), 0);
    return 0;
}

static void test_filter(void)
{
    struct ka_fetch_queue *q = new_queue(600);
    struct ka_buf why;
    ka_buf_init(&why, 4096);
    ka_fetch_queue_set_filter(q, not_elsewhere, "elsewhere.example/");
    CU_ASSERT_STRING_EQUAL(miss(q, "elsewhere.example/app@sha256:" HEX_A, 1000, &why),
                           "not that one");
    struct ka_fetch_queue_stats st;
    ka_fetch_queue_stats(q, &st);
    CU_ASSERT_EQUAL(st.tracked, 0); /* refused images take no slot */
    CU_ASSERT_STRING_EQUAL(next(q), "");
    /* the same digest from an allowed registry is queued under that name */
    CU_ASSERT_STRING_EQUAL(miss(q, IMAGE_A, 1001, &why), "a registry fetch is queued");
    CU_ASSERT_STRING_EQUAL(next(q), IMAGE_A);
    ka_fetch_queue_free(q);
    ka_buf_free(&why);
}

static void test_refresh(void)
{
    struct ka_fetch_queue *q = new_queue(1);
    CU_ASSERT_EQUAL(ka_fetch_queue_miss(q, IMAGE_A, 1000, NULL), 0);
    CU_ASSERT_STRING_EQUAL(next(q), IMAGE_A);
    ka_fetch_queue_done(q, IMAGE_A, 0, "wrote 1", 1000); /* long ago: its refresh is due */
    CU_ASSERT_STRING_EQUAL(next(q), IMAGE_A);
    ka_fetch_queue_free(q);
}

static void test_bounds(void)
{
    struct ka_fetch_queue *q = new_queue(0);
    struct ka_buf why;
    ka_buf_init(&why, 4096);
    char image[KA_FETCH_IMAGE_MAX];
    for (int i = 0; i < KA_FETCH_QUEUE_MAX; i++) {
        snprintf(image, sizeof(image), "r.example/app@sha256:%064x", i);
        CU_ASSERT_EQUAL(ka_fetch_queue_miss(q, image, 1000, NULL), 0);
    }
    CU_ASSERT_STRING_EQUAL(miss(q, IMAGE_A, 1000, &why),
                           "the registry fetch queue is full (256 digests); not queued");
    struct ka_fetch_queue_stats st;
    ka_fetch_queue_stats(q, &st);
    CU_ASSERT_EQUAL(st.queued, KA_FETCH_QUEUE_MAX);
    CU_ASSERT_EQUAL(st.dropped, 1);
    /* the fetcher drains it; the tracked table then forgets the least recently missed */
    for (int i = 0; i < KA_FETCH_QUEUE_MAX; i++) {
        CU_ASSERT_EQUAL(ka_fetch_queue_next(q, image, sizeof(image), 0), 0);
        ka_fetch_queue_done(q, image, KA_ENOTFOUND, "404", 1001);
    }
    for (int i = KA_FETCH_QUEUE_MAX; i < KA_FETCH_TRACKED_MAX + 10; i++) {
        snprintf(image, sizeof(image), "r.example/app@sha256:%064x", i);
        CU_ASSERT_EQUAL(ka_fetch_queue_miss(q, image, 2000 + i, NULL), 0);
        if (ka_fetch_queue_next(q, image, sizeof(image), 0) == 0) {
            ka_fetch_queue_done(q, image, KA_ENOTFOUND, "404", 2000 + i);
        }
    }
    ka_fetch_queue_stats(q, &st);
    CU_ASSERT_EQUAL(st.tracked, KA_FETCH_TRACKED_MAX);
    ka_fetch_queue_free(q);
    ka_buf_free(&why);
}

static void test_stop(void)
{
    struct ka_fetch_queue *q = new_queue(0);
    char image[KA_FETCH_IMAGE_MAX];
    CU_ASSERT_EQUAL(ka_fetch_queue_next(q, image, sizeof(image), 10), KA_ENOTFOUND);
    ka_fetch_queue_stop(q);
    CU_ASSERT_EQUAL(ka_fetch_queue_next(q, image, sizeof(image), 10000), KA_EINVAL);
    ka_fetch_queue_free(q);
}

static const struct ka_test tests[] = {
    {"dedup_and_clauses", test_dedup_and_clauses},
    {"filter", test_filter},
    {"refresh", test_refresh},
    {"bounds", test_bounds},
    {"stop", test_stop},
    {NULL, NULL},
};

KA_TEST_MAIN("fetch_queue", tests)
