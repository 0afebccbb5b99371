/* fuzz_util.h: what the libFuzzer targets in tests/fuzz/ share: a property check that turns a broken
 * invariant into a crash (so libFuzzer saves the input), and number comparison with NaN = NaN. */
#ifndef GR_FUZZ_UTIL_H
#define GR_FUZZ_UTIL_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Abort with the message (libFuzzer then writes the input to its artifact prefix). */
#define FUZZ_CHECK(cond, ...)                                                                  \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz: %s:%d: property failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* Same value, NaN equal to NaN (0 and -0 are equal). */
static inline int fuzz_same(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

/* A NUL-terminated copy of the input (the parsers take C strings); caller frees. */
static inline char *fuzz_cstr(const unsigned char *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

/* "what: at character N: ..." -> N, or -1 when the message has no position. */
static inline int fuzz_err_pos(const char *msg, const char *what)
{
    size_t l = strlen(what);
    int pos = -1;
    if (strncmp(msg, what, l) != 0 || sscanf(msg + l, ": at character %d:", &pos) != 1) return -1;
    return pos;
}
#endif
