/* Shared by the native kernels: byte classes, calendar days, and the bot's text format up to its level field.
 * Ops come from generator/logs/line_stats.py `_native_ops`: literal text, asctime `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}`,
 * logger name `[^ \n]+` (always followed by a literal starting with a space, so it ends at the first space). */
#ifndef OBSCTL_TEXT_FORMAT_H
#define OBSCTL_TEXT_FORMAT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h> /* SSE2 is part of x86-64: no -march flag needed */
#endif

#define MAX_OPS 32
#define MAX_LEVELS 32

enum { OP_LITERAL = 0, OP_ASCTIME = 1, OP_NAME = 2 };

typedef struct {
    int n_ops;
    int kind[MAX_OPS];
    const char *text[MAX_OPS];
    Py_ssize_t len[MAX_OPS];
} TextPrefix;

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
/* Hyperscan's `\s` without the newline */
static inline int is_blank(unsigned char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'; }
static inline int is_word(unsigned char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* memcmp for the short literals and markers here (a few bytes): inline, without a library call per line */
static inline int same_bytes(const unsigned char *a, const char *b, Py_ssize_t len) {
    for (Py_ssize_t i = 0; i < len; i++)
        if (a[i] != (unsigned char)b[i])
            return 0;
    return 1;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (the civil-from-days inverse). */
static inline long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* Days in month m (1..12) of year y: a date Python's datetime accepts has 1 <= d <= this. */
static inline int days_in_month(int y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return days[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

static const char ASCTIME_SHAPE[] = "dddd-dd-dd dd:dd:dd,ddd";
#define ASCTIME_LEN ((Py_ssize_t)(sizeof(ASCTIME_SHAPE) - 1))

#if defined(__SSE2__)
/* Whether a 16-byte window has the shape given as `digits` (0xff where a digit goes) and `literal` (the byte
 * elsewhere). Digits are tested with signed compares, under which bytes >= 0x80 fall below '0'. */
static inline int asctime_window_fits(const unsigned char *at, __m128i digits, __m128i literal) {
    const __m128i x = _mm_loadu_si128((const __m128i *)at);
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)), _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
    const __m128i fits = _mm_or_si128(_mm_and_si128(digits, digit), _mm_andnot_si128(digits, _mm_cmpeq_epi8(x, literal)));
    return _mm_movemask_epi8(fits) == 0xffff;
}
#endif

/* Whether d[p:p + ASCTIME_LEN] (all readable) has the asctime shape: two overlapping 16-byte windows with SSE2
 * (x86-64's baseline), byte by byte elsewhere. */
static inline int is_asctime(const unsigned char *at) {
#if defined(__SSE2__)
#define D (char)0xff
    /* ASCTIME_SHAPE[0:16] = "dddd-dd-dd dd:dd" and ASCTIME_SHAPE[7:23] = "-dd dd:dd:dd,ddd" */
    return asctime_window_fits(at, _mm_setr_epi8(D, D, D, D, 0, D, D, 0, D, D, 0, D, D, 0, D, D),
                               _mm_setr_epi8(0, 0, 0, 0, '-', 0, 0, '-', 0, 0, ' ', 0, 0, ':', 0, 0)) &&
           asctime_window_fits(at + 7, _mm_setr_epi8(0, D, D, 0, D, D, 0, D, D, 0, D, D, 0, D, D, D),
                               _mm_setr_epi8('-', 0, 0, ' ', 0, 0, ':', 0, 0, ':', 0, 0, ',', 0, 0, 0));
#undef D
#else
    for (Py_ssize_t k = 0; k < ASCTIME_LEN; k++) {
        unsigned char c = at[k];
        if (ASCTIME_SHAPE[k] == 'd' ? !is_digit(c) : c != (unsigned char)ASCTIME_SHAPE[k])
            return 0;
    }
    return 1;
#endif
}

/* Length of the leading run of d[0:n] without a space or a newline (a logger name). */
static inline Py_ssize_t name_run(const unsigned char *d, Py_ssize_t n) {
    Py_ssize_t i = 0;
#if defined(__SSE2__)
    const __m128i space = _mm_set1_epi8(' '), newline = _mm_set1_epi8('\n');
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(d + i));
        int mask = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, space), _mm_cmpeq_epi8(x, newline)));
        if (mask)
            return i + __builtin_ctz((unsigned)mask);
    }
#endif
    while (i < n && d[i] != ' ' && d[i] != '\n')
        i++;
    return i;
}

/* End of the text prefix matched at d[p:end], or -1. */
static Py_ssize_t text_prefix_end(const TextPrefix *prefix, const unsigned char *d, Py_ssize_t p, Py_ssize_t end) {
    for (int i = 0; i < prefix->n_ops; i++) {
        switch (prefix->kind[i]) {
        case OP_LITERAL:
            if (end - p < prefix->len[i] || !same_bytes(d + p, prefix->text[i], prefix->len[i]))
                return -1;
            p += prefix->len[i];
            break;
        case OP_ASCTIME:
            if (end - p < ASCTIME_LEN || !is_asctime(d + p))
                return -1;
            p += ASCTIME_LEN;
            break;
        default: { /* OP_NAME */
            Py_ssize_t q = p + name_run(d + p, end - p);
            if (q == p)
                return -1;
            p = q;
        }
        }
    }
    return p;
}

/* Index of the first marker d[p:] starts with (within end), or -1. */
static int marker_at(const unsigned char *d, Py_ssize_t p, Py_ssize_t end, int n, const char *const *markers,
                     const Py_ssize_t *lens) {
    for (int i = 0; i < n; i++)
        if (end - p >= lens[i] && same_bytes(d + p, markers[i], lens[i]))
            return i;
    return -1;
}

static int bytes_item(PyObject *item, const char **text, Py_ssize_t *len) {
    if (!PyBytes_Check(item)) {
        PyErr_SetString(PyExc_TypeError, "the native kernel expects bytes");
        return -1;
    }
    *text = PyBytes_AS_STRING(item);
    *len = PyBytes_GET_SIZE(item);
    return 0;
}

/* ops: tuple of (kind, bytes). The caller keeps `ops` alive. */
static int text_prefix_from(PyObject *ops, TextPrefix *prefix) {
    if (!PyTuple_Check(ops) || PyTuple_GET_SIZE(ops) > MAX_OPS) {
        PyErr_SetString(PyExc_ValueError, "text format ops: a tuple of at most 32 (kind, bytes)");
        return -1;
    }
    prefix->n_ops = (int)PyTuple_GET_SIZE(ops);
    for (int i = 0; i < prefix->n_ops; i++) {
        PyObject *op = PyTuple_GET_ITEM(ops, i);
        if (!PyTuple_Check(op) || PyTuple_GET_SIZE(op) != 2 || !PyLong_Check(PyTuple_GET_ITEM(op, 0))) {
            PyErr_SetString(PyExc_TypeError, "a text format op is (kind, bytes)");
            return -1;
        }
        prefix->kind[i] = (int)PyLong_AsLong(PyTuple_GET_ITEM(op, 0));
        if (bytes_item(PyTuple_GET_ITEM(op, 1), &prefix->text[i], &prefix->len[i]) < 0)
            return -1;
    }
    return 0;
}

#endif
