/* longdouble.c: the few number conversions Tessera must do in C to answer exactly as Redis.
 *
 * Redis computes INCRBYFLOAT and HINCRBYFLOAT in C `long double` (the 80-bit x87 format on
 * x86_64) and prints the result with "%.17Lf"; it parses floating-point arguments with libc's
 * strtod/strtold. Rust has no `long double`, and its own float parser accepts a different
 * language (no hex floats, no ERANGE), so answers would drift in the last digits and in edge
 * cases. These functions are the thin layer that keeps the arithmetic and parsing in libc; all
 * policy about which error a client sees lives on the Rust side (src/types/longdouble.rs and
 * src/types/numfmt.rs), which is the only caller.
 *
 * Nothing here allocates, keeps state, or reads the locale beyond what strtod does: Tessera
 * never calls setlocale, so the "C" locale (decimal point '.') is in force, as in Redis.
 */

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Redis's MAX_LONG_DOUBLE_CHARS: inputs of this length or longer are not valid long doubles,
 * and every "%.17Lf" rendering of a finite long double fits in this many bytes. */
#define TESSERA_LD_MAX_CHARS (5 * 1024)

/* Result codes of tessera_ld_add; mirrored in src/types/longdouble.rs. */
#define TESSERA_LD_BAD_CURRENT (-1)
#define TESSERA_LD_BAD_INCR (-2)
#define TESSERA_LD_NOT_FINITE (-3)
#define TESSERA_LD_NO_ROOM (-4)

/* Parses s[0..len) the way Redis 7.0's string2ld accepts a long double: not empty, shorter
 * than TESSERA_LD_MAX_CHARS, no leading space, the whole input consumed (so no trailing
 * space and no embedded NUL either), not NaN, and not an overflow or an underflow to zero.
 * "inf" and friends are accepted here; the callers decide what an infinity means. */
static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[TESSERA_LD_MAX_CHARS];
    char *end;
    long double v;

    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';

    errno = 0;
    v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || end != buf + len ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
        errno == EINVAL || isnan(v))
        return 0;
    *out = v;
    return 1;
}

/* Renders a finite long double as Redis's ld2string in LD_STR_HUMAN mode: "%.17Lf", then the
 * trailing zeros of the fraction and a bare '.' are dropped, and "-0" becomes "0". Returns the
 * length written (no NUL counted), or TESSERA_LD_NO_ROOM. */
static long format_ld_human(long double v, char *out, size_t cap) {
    int n = snprintf(out, cap, "%.17Lf", v);
    size_t l;

    if (n < 0 || (size_t)n + 1 > cap) return TESSERA_LD_NO_ROOM;
    l = (size_t)n;
    if (memchr(out, '.', l) != NULL) {
        while (l > 0 && out[l - 1] == '0') l--;
        if (l > 0 && out[l - 1] == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        l = 1;
    }
    return (long)l;
}

/* Classifies s[0..len) as a Redis long double: 0 if invalid, 1 if a finite number, 2 if an
 * infinity (HINCRBYFLOAT rejects an infinite increment with its own message). */
int tessera_ld_check(const char *s, size_t len) {
    long double v;
    if (!parse_ld(s, len, &v)) return 0;
    return isinf(v) ? 2 : 1;
}

/* current + incr in long double, rendered into out[0..outcap) in Redis's human format.
 * Returns the rendered length, or one of the negative TESSERA_LD_* codes: the current value is
 * checked before the increment, as INCRBYFLOAT does. */
long tessera_ld_add(const char *cur, size_t curlen, const char *incr, size_t incrlen, char *out,
                    size_t outcap) {
    long double a, b, sum;

    if (!parse_ld(cur, curlen, &a)) return TESSERA_LD_BAD_CURRENT;
    if (!parse_ld(incr, incrlen, &b)) return TESSERA_LD_BAD_INCR;
    sum = a + b;
    if (isnan(sum) || isinf(sum)) return TESSERA_LD_NOT_FINITE;
    return format_ld_human(sum, out, outcap);
}

/* Parses s[0..len) the way Redis 7.0 reads a double argument (string2d/getDoubleFromObject):
 * strtod must consume the whole, non-empty input, with no leading space, no NaN, and no
 * overflow or underflow to zero. Infinities ("inf", "+inf", "-Infinity"...) and hex floats are
 * accepted because strtod accepts them. Returns 1 and sets *out, or 0. */
int tessera_strtod_strict(const char *s, size_t len, double *out) {
    char small[128];
    char *buf = small;
    char *end;
    double v;
    int ok;

    if (len == 0) return 0;
    /* An embedded NUL would end strtod's input early, so the whole input cannot be consumed. */
    if (memchr(s, '\0', len) != NULL) return 0;
    if (len >= sizeof(small)) {
        buf = malloc(len + 1);
        if (buf == NULL) return 0;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';

    errno = 0;
    v = strtod(buf, &end);
    ok = !(isspace((unsigned char)buf[0]) || end != buf + len ||
           (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || fpclassify(v) == FP_ZERO)) ||
           isnan(v));
    if (buf != small) free(buf);
    if (ok) *out = v;
    return ok;
}

/* A blocking command's timeout in seconds, as Redis 7.0.15 reads it: parsed as a long double,
 * times 1000, rounded up to whole milliseconds (so 0.0001 times out at once rather than meaning
 * "forever", and 0.001, just under 1 ms in long double, is 1 ms). Redis's cast of a product that
 * does not fit is undefined in C and gives LLONG_MIN on x86_64, hence "timeout is negative"
 * for 1e300 or inf; that result is spelled out here rather than left undefined.
 * Returns 0 when the input is not a valid long double. */
int tessera_ld_timeout_ms(const char *s, size_t len, long long *out) {
    long double v;
    if (!parse_ld(s, len, &v)) return 0;
    v = ceill(v * 1000.0L);
    if (!(v > -9223372036854775808.0L && v < 9223372036854775808.0L))
        *out = LLONG_MIN;
    else
        *out = (long long)v;
    return 1;
}
