/* ka_duration_parse(): the durations of policy params, `kadmit certs` and `kadmit attest`. */
#include "kadmit/duration.h"
#include "kadmit/error.h"

#include "ka_test.h"

static void test_valid(void)
{
    static const struct {
        const char *text;
        int64_t seconds;
    } cases[] = {
        {"0s", 0},        {"90s", 90},          {"90m", 5400},     {"1h30m", 5400},
        {"12h", 43200},   {"168h", 168 * 3600}, {"7d", 7 * 86400}, {"1d12h", 36 * 3600},
        {"30d", 2592000}, {"1d1h1m1s", 90061},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t s = -1;
        CU_ASSERT_EQUAL(ka_duration_parse(cases[i].text, &s), 0);
        CU_ASSERT_EQUAL(s, cases[i].seconds);
    }
}

static void test_invalid(void)
{
    static const char *const bad[] = {
        "",  "5", "90", /* a unit is required */
        "h", "d", "5x", "-5m", "5m ", " 1d", "1dd", "1.5d", "99999999999999999999d",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t s = 0;
        CU_ASSERT_EQUAL(ka_duration_parse(bad[i], &s), KA_EINVAL);
    }
}

static const struct ka_test tests[] = {
    {"valid", test_valid},
    {"invalid", test_invalid},
    {NULL, NULL},
};

KA_TEST_MAIN("duration", tests)
