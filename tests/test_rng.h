/* tests/test_rng.h: the uniform draws of the unit tests' synthetic data. Fixed generators, so that a
 * test's data are the same on every run and rank; not for anything statistical beyond that. */
#ifndef GR_TESTS_TEST_RNG_H
#define GR_TESTS_TEST_RNG_H
#include <stdint.h>

/* Marsaglia's xorshift64 (13, 7, 17): a uniform draw in [0, 1) with 53 random bits; *s must not be 0. */
static inline double gr_test_xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (double)(*s >> 11) / 9007199254740992.0;
}

/* Knuth's MMIX linear congruential generator: a uniform draw in [0, 1) from the top 53 bits. */
static inline double gr_test_lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}
#endif
