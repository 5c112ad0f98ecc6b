/* Shared by the native kernels: byte classes and the bot's text format up to its level field.
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

static const char ASCTIME_SHAPE[] = "dddd-dd-dd dd:dd:dd,ddd";
#define ASCTIME_LEN ((Py_ssize_t)(sizeof(ASCTIME_SHAPE) - 1))

/* Whether the 8 bytes at d are digits where `digits` has 0xFF bytes and equal `literal` elsewhere: eight bytes of
 * ASCTIME_SHAPE at a time (little-endian words: byte k of memory is bits 8k..8k+7). A byte b is a digit when
 * b ^ '0' is 0..9: no high nibble, and none either after adding 6. */
static inline int word_fits(const unsigned char *d, unsigned long long digits, unsigned long long literal) {
    unsigned long long word;
    memcpy(&word, d, 8);
    const unsigned long long high = 0xF0F0F0F0F0F0F0F0ULL;
    unsigned long long nibbles = (word ^ 0x3030303030303030ULL) & digits;
    return (word & ~digits) == literal && (nibbles & high) == 0 && ((nibbles + 0x0606060606060606ULL) & high) == 0;
}

/* d[0:23] has ASCTIME_SHAPE: its bytes 0-7 `dddd-dd-`, 8-15 `dd dd:dd` and 15-22 `d:dd,ddd`. */
static inline int asctime_fits(const unsigned char *d) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return word_fits(d, 0x00FFFF00FFFFFFFFULL, 0x2D00002D00000000ULL) &&
           word_fits(d + 8, 0xFFFF00FFFF00FFFFULL, 0x00003A0000200000ULL) &&
           word_fits(d + 15, 0xFFFFFF00FFFF00FFULL, 0x0000002C00003A00ULL);
#else
    for (Py_ssize_t k = 0; k < ASCTIME_LEN; k++)
        if (ASCTIME_SHAPE[k] == 'd' ? !is_digit(d[k]) : d[k] != (unsigned char)ASCTIME_SHAPE[k])
            return 0;
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
            if (end - p < prefix->len[i] || (prefix->len[i] > 0 && d[p] != (unsigned char)prefix->text[i][0]) ||
                memcmp(d + p, prefix->text[i], (size_t)prefix->len[i]) != 0)
                return -1;
            p += prefix->len[i];
            break;
        case OP_ASCTIME:
            if (end - p < ASCTIME_LEN || !asctime_fits(d + p))
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
    for (int i = 0; i < n; i++) /* the first byte rules out most markers without a call to memcmp */
        if (end - p >= lens[i] && (lens[i] == 0 || (d[p] == (unsigned char)markers[i][0] &&
                                                     memcmp(d + p, markers[i], (size_t)lens[i]) == 0)))
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
