/*
 * Durations as admins write them: one or more <digits><unit>, units d, h, m, s ("168h", "7d",
 * "1h30m", "90s"). Used by policy params, `kadmit certs` and `kadmit attest`.
 */
#ifndef KADMIT_DURATION_H
#define KADMIT_DURATION_H

#include <stdint.h>

/** Parse `s` into seconds. Returns 0 or KA_EINVAL (empty, no unit, unknown unit, overflow). */
__attribute__((warn_unused_result)) int ka_duration_parse(const char *s, int64_t *seconds);

#endif
