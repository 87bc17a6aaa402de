/* INCRBYFLOAT and HINCRBYFLOAT in the C `long double` that Redis computes them in
 * (80-bit x87 extended precision on x86-64), so that sums and their text come out
 * as redis-server's on the same platform: `0.1 + 0.2` prints `0.3`, not
 * `0.30000000000000004` as f64 arithmetic would. Rust has no such type; this file
 * is the whole of what needs one. Called from src/util/longdouble.rs. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Redis refuses float texts of this many bytes or more (MAX_LONG_DOUBLE_CHARS),
 * and the longest sum's text (%.17Lf of the largest long double) fits in it. */
#define LD_TEXT_MAX (5 * 1024)

/* Parses `len` bytes as Redis's string2ld does: strtold's whole syntax (decimal,
 * hex, inf), nothing after the number, no leading space, no NaN, no overflow and
 * no underflow to zero. Returns 1 and sets *out, or 0. */
static int parse(const char *s, size_t len, long double *out) {
    char buf[LD_TEXT_MAX];
    char *end;
    long double v;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || *end != '\0' || (size_t)(end - buf) != len) return 0;
    if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) return 0;
    if (isnan(v)) return 0;
    *out = v;
    return 1;
}

/* 1 when `s` is a float Redis accepts and it is finite, 2 when it is infinite,
 * 0 when it is not a float Redis accepts. */
int shardis_ld_check(const char *s, size_t len) {
    long double v;
    if (!parse(s, len, &v)) return 0;
    return isinf(v) ? 2 : 1;
}

/* Adds the floats `a` and `b` (each as Redis parses them) in long double and writes
 * the sum as Redis prints it (%.17Lf, trailing zeros and a trailing dot dropped,
 * "-0" as "0") into `out` (`cap` bytes, NUL-terminated). Returns the text's length,
 * or -1 when `a` is not a float, -2 when `b` is not, -3 when the sum is NaN or
 * infinite. */
int shardis_ld_add(const char *a, size_t alen, const char *b, size_t blen, char *out, size_t cap) {
    long double x, y, sum;
    int n;
    if (!parse(a, alen, &x)) return -1;
    if (!parse(b, blen, &y)) return -2;
    sum = x + y;
    if (isnan(sum) || isinf(sum)) return -3;
    n = snprintf(out, cap, "%.17Lf", sum);
    if (n < 0 || (size_t)n >= cap) return -3;
    if (strchr(out, '.') != NULL) {
        while (n > 0 && out[n - 1] == '0') n--;
        if (n > 0 && out[n - 1] == '.') n--;
    }
    if (n == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        n = 1;
    }
    out[n] = '\0';
    return n;
}
