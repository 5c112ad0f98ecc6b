/* Record inputs (RFC 5424 syslog lines, `render logs -o json` JSON lines) parsed into scanner batches, without the
 * GIL: each record's message, time (ns) and level, exactly as generator/logs/inputs.py reads them.
 *
 * Exactness by refusal: a line is parsed here only when it is well-formed and takes no path where Python's reading
 * could differ (non-ASCII where Python's `\d` or `str.upper` would see Unicode, JSON escapes in keys, NaN, deep
 * nesting, a lone surrogate, a year outside int64 nanoseconds...). Such a line is *declined*: parsing stops in front
 * of it, and the Python reader handles it (and raises the located error when it is malformed). The Python side
 * (generator/logs/native_records.py) is tested against the Python readers on generated and broken input.
 *
 * Speed: a long range is read as two halves on two threads (RecordParser_parse); per line, SSE2 where bytes are
 * scanned (SSE2 is part of x86-64: no -march flag), and two pure results remembered from the previous line, keyed
 * on their exact bytes: a timestamp's minute and a Render `labels` array.
 */
#include "_text_format.h"

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define OBSCTL_HAVE_THREADS 1
#endif

enum { KIND_SYSLOG = 0, KIND_RENDER = 1 };
#define MAX_DEPTH 200
#define MAX_NUMBER_DIGITS 4000 /* Python refuses longer integers (sys.int_info.default_max_str_digits 4300) */

/* One batch being made: the records' messages joined by newlines, and each record's start, time and level.
 * The parser's main output writes its messages straight into a bytearray (`buffer`), which take() hands out as
 * the batch's data: no copy. Its size is changed only with the GIL held (ensure_room reserves, before a range is
 * parsed, all that the range can produce). The second half's output writes into raw memory, grown on any thread. */
typedef struct {
    PyObject *buffer; /* main output: the bytearray being filled (data_cap is its size), or NULL */
    int in_buffer;    /* 1 for the main output */
    char *data;
    Py_ssize_t data_len, data_cap;
    long long *starts, *stamps;
    Py_ssize_t count, cap;
    unsigned long long level_counts[MAX_LEVELS];
    /* The last timestamp's first 16 bytes (`YYYY-MM-DDTHH:MM`, checked) and their seconds since the epoch:
     * consecutive records mostly share their minute, which then is not read again. */
    unsigned char minute_text[16];
    long long minute_seconds;
    int has_minute;
    /* The last Render `labels` array read (labels_len bytes, 0: none) and where its level value was in it. */
    unsigned char labels_text[512];
    Py_ssize_t labels_len, labels_level_at, labels_level_len;
} Output;

typedef struct {
    PyObject_HEAD
    PyObject *keep;
    int kind;
    TextPrefix prefix;
    int text_levels_native; /* 0: the format's text levels cannot be decided here: decline text messages */
    int n_levels;
    const char *text_marker[MAX_LEVELS];
    Py_ssize_t text_marker_len[MAX_LEVELS];
    const char *level_name[MAX_LEVELS];
    Py_ssize_t level_name_len[MAX_LEVELS];
    const char *json_key;
    Py_ssize_t json_key_len;
    int severity_level[8];
    Py_ssize_t split_min; /* a range at least this long is parsed as two halves on two threads; 0: never */
    int busy;
    Output out;
    /* The bytearrays made for batches (at most POOL_SIZE): one that nothing else holds any more is filled again,
     * its pages already in memory (a fresh one costs page faults on every batch). */
    PyObject *pool;
    /* The second half of the block being parsed, read ahead on the other thread: records of block[half_start:
     * half_stop] (half_lines lines), which join `out` once the first half has been read up to half_start. */
    Output half;
    int has_half, half_status;
    const void *half_block;
    Py_ssize_t half_block_len, half_start, half_stop, half_lines;
} RecordParser;

/* --- output ------------------------------------------------------------------------------------------------------ */

static int reserve_data(Output *self, Py_ssize_t more) {
    if (self->data_len + more <= self->data_cap)
        return 0;
    if (self->in_buffer)
        return -1; /* never: ensure_room reserved what the range can produce (reported as out of memory) */
    Py_ssize_t cap = self->data_cap ? self->data_cap : 1 << 20;
    while (cap < self->data_len + more)
        cap *= 2;
    char *grown = PyMem_RawRealloc(self->data, (size_t)cap);
    if (grown == NULL)
        return -1;
    self->data = grown;
    self->data_cap = cap;
    return 0;
}

#define POOL_SIZE 5
#define MIN_BUFFER (2 << 20)

/* With the GIL held: the main output's bytearray has room for `more` more bytes. 0, or -1 with an exception. */
static int ensure_room(Output *self, PyObject *pool, Py_ssize_t more) {
    if (self->buffer != NULL && self->data_len + more <= self->data_cap)
        return 0;
    if (self->buffer == NULL) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(pool) && self->buffer == NULL; i++) {
            PyObject *candidate = PyList_GET_ITEM(pool, i);
            if (Py_REFCNT(candidate) == 1 && ((PyByteArrayObject *)candidate)->ob_exports == 0) {
                Py_INCREF(candidate); /* only the pool held it: no batch uses it any more */
                self->buffer = candidate;
            }
        }
        if (self->buffer == NULL) {
            self->buffer = PyByteArray_FromStringAndSize(NULL, 0);
            if (self->buffer == NULL)
                return -1;
            if (PyList_GET_SIZE(pool) < POOL_SIZE && PyList_Append(pool, self->buffer) < 0)
                return -1;
        }
        self->data_len = 0;
    }
    /* Just what is needed (at least MIN_BUFFER): cut to the batch's length by take(), a bytearray keeps its memory
     * when at least half of it is used (CPython reallocates below), and a batch holds at least a block's worth. */
    Py_ssize_t cap = self->data_len + more > MIN_BUFFER ? self->data_len + more : MIN_BUFFER;
    if (PyByteArray_Resize(self->buffer, cap) < 0) /* keeps the data written so far */
        return -1;
    self->data = PyByteArray_AS_STRING(self->buffer);
    self->data_cap = cap;
    return 0;
}

static int reserve_record_growing(Output *self) {
    Py_ssize_t cap = self->cap ? self->cap * 2 : 16384;
    long long *starts = PyMem_RawRealloc(self->starts, (size_t)cap * sizeof(long long));
    if (starts == NULL)
        return -1;
    self->starts = starts;
    long long *stamps = PyMem_RawRealloc(self->stamps, (size_t)cap * sizeof(long long));
    if (stamps == NULL)
        return -1;
    self->stamps = stamps;
    self->cap = cap;
    return 0;
}

static inline int reserve_record(Output *self) {
    return self->count < self->cap ? 0 : reserve_record_growing(self);
}

/* Appends a record whose message was already written at data[start:data_len]. */
static int finish_record(Output *self, Py_ssize_t start, long long ns, int level) {
    if (reserve_data(self, 1) < 0 || reserve_record(self) < 0)
        return -1;
    self->data[self->data_len++] = '\n';
    self->starts[self->count] = start;
    self->stamps[self->count] = ns;
    self->count++;
    if (level >= 0)
        self->level_counts[level]++;
    return 0;
}

/* --- UTF-8, JSON ------------------------------------------------------------------------------------------------- */

/* Length of the leading run of d[0:n] with no '"', no '\\' and no control character (< 0x20). */
static inline Py_ssize_t plain_run(const unsigned char *d, Py_ssize_t n) {
    Py_ssize_t i = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), control = _mm_set1_epi8(0x1F);
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(d + i));
        __m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                                       _mm_cmpeq_epi8(_mm_min_epu8(x, control), x));
        int mask = _mm_movemask_epi8(special);
        if (mask)
            return i + __builtin_ctz((unsigned)mask);
    }
#endif
    while (i < n && d[i] != '"' && d[i] != '\\' && d[i] >= 0x20)
        i++;
    return i;
}

/* Length of the leading ASCII run of d[0:n]. */
static inline Py_ssize_t ascii_run(const unsigned char *d, Py_ssize_t n) {
    Py_ssize_t i = 0;
#if defined(__SSE2__)
    for (; i + 16 <= n; i += 16) {
        int mask = _mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(d + i))); /* the bytes' high bits */
        if (mask)
            return i + __builtin_ctz((unsigned)mask);
    }
#endif
    for (; i + 8 <= n; i += 8) {
        unsigned long long word;
        memcpy(&word, d + i, 8);
        if (word & 0x8080808080808080ULL)
            break;
    }
    while (i < n && d[i] < 0x80)
        i++;
    return i;
}

/* Strict UTF-8, as Python's decoder: no overlongs, no surrogates, nothing above U+10FFFF. */
static int valid_utf8(const unsigned char *d, Py_ssize_t n, int *ascii) {
    Py_ssize_t i = ascii_run(d, n);
    *ascii = 1;
    while (i < n) {
        unsigned char c = d[i];
        if (c < 0x80) {
            i += 1 + ascii_run(d + i + 1, n - i - 1);
            continue;
        }
        *ascii = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (d[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n || (d[i + 1] & 0xC0) != 0x80 || (d[i + 2] & 0xC0) != 0x80)
                return 0;
            if ((c == 0xE0 && d[i + 1] < 0xA0) || (c == 0xED && d[i + 1] >= 0xA0))
                return 0;
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n || (d[i + 1] & 0xC0) != 0x80 || (d[i + 2] & 0xC0) != 0x80 || (d[i + 3] & 0xC0) != 0x80)
                return 0;
            if ((c == 0xF0 && d[i + 1] < 0x90) || (c == 0xF4 && d[i + 1] >= 0x90))
                return 0;
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

static inline int json_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static inline Py_ssize_t skip_ws(const unsigned char *d, Py_ssize_t p, Py_ssize_t end) {
    while (p < end && json_ws(d[p]))
        p++;
    return p;
}

static inline int hex_value(unsigned char c) {
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* What a one-character JSON escape `\\e` stands for, 0 when `e` is not one (`u` is read on its own). */
static const unsigned char JSON_ESCAPE[256] = {
    ['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b', ['f'] = '\f', ['n'] = '\n', ['r'] = '\r', ['t'] = '\t',
};

/* After a JSON member or array element ending at d[*q]: 1 when a ',' follows (*q moves past it and the blanks
 * after it), 0 when `closer` follows (*q moves past it), -1 for anything else (invalid JSON). */
static int next_member(const unsigned char *d, Py_ssize_t *q, Py_ssize_t end, unsigned char closer) {
    Py_ssize_t p = skip_ws(d, *q, end);
    if (p < end && d[p] == ',') {
        *q = skip_ws(d, p + 1, end);
        return 1;
    }
    if (p < end && d[p] == closer) {
        *q = p + 1;
        return 0;
    }
    return -1;
}

/* A JSON string at d[p] == '"': position after its closing quote, or -1 when Python's json refuses it.
 * *escaped tells whether it holds a backslash. */
static Py_ssize_t skip_string(const unsigned char *d, Py_ssize_t p, Py_ssize_t end, int *escaped) {
    *escaped = 0;
    p++;
    while (p < end) {
        p += plain_run(d + p, end - p);
        if (p >= end)
            break;
        unsigned char c = d[p];
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return -1; /* strict: control characters must be escaped */
        if (c == '\\') {
            *escaped = 1;
            if (p + 1 >= end)
                return -1;
            unsigned char e = d[p + 1];
            if (e == 'u') {
                if (p + 5 >= end)
                    return -1;
                for (int k = 2; k < 6; k++)
                    if (hex_value(d[p + k]) < 0)
                        return -1;
                p += 6;
                continue;
            }
            if (!JSON_ESCAPE[e])
                return -1;
            p += 2;
            continue;
        }
        p++;
    }
    return -1;
}

/* An object key without escapes at d[p] == '"', then its ':': the key's span in [*key, *key_end) and the position
 * of the value after the colon's white space, or -1 (not a key this parser vouches for: Python reads the line). */
static Py_ssize_t read_plain_key(const unsigned char *d, Py_ssize_t p, Py_ssize_t end, Py_ssize_t *key,
                                 Py_ssize_t *key_end) {
    int escaped;
    if (p >= end || d[p] != '"')
        return -1;
    *key = p + 1;
    p = skip_string(d, p, end, &escaped);
    if (p < 0 || escaped)
        return -1;
    *key_end = p - 1;
    p = skip_ws(d, p, end);
    if (p >= end || d[p] != ':')
        return -1;
    return skip_ws(d, p + 1, end);
}

/* Any JSON value at d[p]: position after it, -1 when invalid; *decline when Python might read it otherwise. */
static Py_ssize_t skip_value(const unsigned char *d, Py_ssize_t p, Py_ssize_t end, int depth, int *decline) {
    if (p >= end)
        return -1;
    if (depth > MAX_DEPTH) {
        *decline = 1;
        return -1;
    }
    unsigned char c = d[p];
    int escaped;
    if (c == '"')
        return skip_string(d, p, end, &escaped);
    if (c == '{' || c == '[') {
        unsigned char close = c == '{' ? '}' : ']';
        p = skip_ws(d, p + 1, end);
        if (p < end && d[p] == close)
            return p + 1;
        for (;;) {
            if (c == '{') {
                if (p >= end || d[p] != '"')
                    return -1;
                p = skip_string(d, p, end, &escaped);
                if (p < 0)
                    return -1;
                p = skip_ws(d, p, end);
                if (p >= end || d[p] != ':')
                    return -1;
                p = skip_ws(d, p + 1, end);
            }
            p = skip_value(d, p, end, depth + 1, decline);
            if (p < 0)
                return -1;
            p = skip_ws(d, p, end);
            if (p < end && d[p] == ',') {
                p = skip_ws(d, p + 1, end);
                continue;
            }
            if (p < end && d[p] == close)
                return p + 1;
            return -1;
        }
    }
    if (c == 't')
        return end - p >= 4 && memcmp(d + p, "true", 4) == 0 ? p + 4 : -1;
    if (c == 'f')
        return end - p >= 5 && memcmp(d + p, "false", 5) == 0 ? p + 5 : -1;
    if (c == 'n')
        return end - p >= 4 && memcmp(d + p, "null", 4) == 0 ? p + 4 : -1;
    if (c == 'N' || c == 'I' || (c == '-' && p + 1 < end && d[p + 1] == 'I')) {
        *decline = 1; /* NaN, Infinity: Python accepts them */
        return -1;
    }
    if (c == '-' || is_digit(c)) {
        Py_ssize_t start = p;
        if (c == '-')
            p++;
        if (p >= end || !is_digit(d[p]))
            return -1;
        if (d[p] == '0')
            p++;
        else
            while (p < end && is_digit(d[p]))
                p++;
        if (p - start > MAX_NUMBER_DIGITS) {
            *decline = 1;
            return -1;
        }
        if (p + 1 < end && d[p] == '.' && is_digit(d[p + 1])) {
            p++;
            while (p < end && is_digit(d[p]))
                p++;
        }
        if (p < end && (d[p] == 'e' || d[p] == 'E')) {
            Py_ssize_t q = p + 1;
            if (q < end && (d[q] == '+' || d[q] == '-'))
                q++;
            if (q < end && is_digit(d[q])) {
                while (q < end && is_digit(d[q]))
                    q++;
                p = q;
            }
        }
        return p;
    }
    return -1;
}

/* Index of `text` (len n) among the level names, or -1. */
static int level_named(const RecordParser *self, const unsigned char *text, Py_ssize_t n) {
    for (int i = 0; i < self->n_levels; i++)
        if (self->level_name_len[i] == n && memcmp(self->level_name[i], text, (size_t)n) == 0)
            return i;
    return -1;
}

/* The level a message states itself (inputs.py BotLineFormat.parse), -1 for none; *decline when undecidable.
 * `one_line`: the message is known to hold no newline (a syslog line's). */
static int message_level(const RecordParser *self, const unsigned char *d, Py_ssize_t n, int ascii, int one_line,
                         int *decline) {
    if (n > 0 && d[0] == '{') {
        /* json.loads(message): a dict whose last `levelname` is one of the level names */
        int level = -1;
        Py_ssize_t p = skip_ws(d, 1, n);
        if (p < n && d[p] == '}') {
            p++;
        } else {
            for (;;) {
                int escaped;
                if (p >= n || d[p] != '"')
                    return -1;
                Py_ssize_t key = p + 1;
                p = skip_string(d, p, n, &escaped);
                if (p < 0)
                    return -1;
                int is_level_key = !escaped && p - 1 - key == self->json_key_len &&
                                   memcmp(d + key, self->json_key, (size_t)self->json_key_len) == 0;
                if (escaped) {
                    /* an escaped key might spell the level key: let Python decide, unless the JSON is invalid */
                    *decline = 1;
                }
                p = skip_ws(d, p, n);
                if (p >= n || d[p] != ':')
                    return *decline = 0, -1;
                p = skip_ws(d, p + 1, n);
                Py_ssize_t value = p;
                p = skip_value(d, p, n, 1, decline);
                if (p < 0)
                    return -1;
                if (is_level_key) {
                    int value_escaped = 0;
                    if (d[value] == '"') {
                        skip_string(d, value, n, &value_escaped);
                        level = value_escaped ? -1 : level_named(self, d + value + 1, p - value - 2);
                        if (value_escaped)
                            *decline = 1;
                    } else {
                        level = -1;
                    }
                }
                int more = next_member(d, &p, n, '}');
                if (more > 0)
                    continue;
                if (more == 0)
                    break;
                *decline = 0;
                return -1;
            }
        }
        if (skip_ws(d, p, n) != n) {
            *decline = 0; /* extra data: Python's json refuses it too */
            return -1;
        }
        return level;
    }
    if (!self->text_levels_native) {
        *decline = 1;
        return -1;
    }
    Py_ssize_t p = text_prefix_end(&self->prefix, d, 0, n);
    int level = p >= 0 ? marker_at(d, p, n, self->n_levels, self->text_marker, self->text_marker_len) : -1;
    if (level < 0) {
        if (!ascii)
            *decline = 1; /* Python's `\d` reads Unicode digits */
        return -1;
    }
    if (one_line)
        return level;
    /* the message field `.*$`: no newline after the level, but one at the very end */
    const unsigned char *nl = memchr(d + p, '\n', (size_t)(n - p));
    if (nl != NULL && nl != d + n - 1)
        return -1;
    return level;
}

/* --- RFC 3339 ---------------------------------------------------------------------------------------------------- */

static int number_at(const unsigned char *d, Py_ssize_t p, int width) {
    int v = 0;
    for (int i = 0; i < width; i++) {
        if (!is_digit(d[p + i]))
            return -1;
        v = v * 10 + (d[p + i] - '0');
    }
    return v;
}

/* inputs.py parse_rfc3339 on d[p:end] exactly (no stripping); 0 and *ns, or -1 (declined). */
static int rfc3339_ns(Output *out, const unsigned char *d, Py_ssize_t p, Py_ssize_t end, long long *ns) {
    if (end - p < 20)
        return -1;
    if (!out->has_minute || memcmp(d + p, out->minute_text, 16) != 0) {
        int y = number_at(d, p, 4), mo = number_at(d, p + 5, 2), da = number_at(d, p + 8, 2);
        int h = number_at(d, p + 11, 2), mi = number_at(d, p + 14, 2);
        if (y < 0 || mo < 0 || da < 0 || h < 0 || mi < 0 || d[p + 4] != '-' || d[p + 7] != '-' ||
            !(d[p + 10] == 'T' || d[p + 10] == 't' || d[p + 10] == ' ') || d[p + 13] != ':')
            return -1;
        if (y < 1678 || y > 2261 || mo < 1 || mo > 12 || da < 1 || da > days_in_month(y, mo) || h > 23 || mi > 59)
            return -1; /* datetime refuses it, or it is outside int64 nanoseconds: Python decides */
        memcpy(out->minute_text, d + p, 16);
        out->minute_seconds = days_from_civil(y, (unsigned)mo, (unsigned)da) * 86400LL + h * 3600LL + mi * 60LL;
        out->has_minute = 1;
    }
    int s = number_at(d, p + 17, 2);
    if (d[p + 16] != ':' || s < 0 || s > 59)
        return -1;
    Py_ssize_t q = p + 19;
    long long fraction = 0;
    if (q < end && d[q] == '.') {
        int digits = 0;
        q++;
        while (q < end && is_digit(d[q]) && digits < 9) {
            fraction = fraction * 10 + (d[q] - '0');
            digits++;
            q++;
        }
        if (digits == 0 || (q < end && is_digit(d[q])))
            return -1;
        for (; digits < 9; digits++)
            fraction *= 10;
    }
    long long offset = 0;
    if (q < end && (d[q] == 'Z' || d[q] == 'z')) {
        q++;
    } else if (q < end && (d[q] == '+' || d[q] == '-')) {
        int sign = d[q] == '+' ? 1 : -1;
        q++;
        if (end - q < 4)
            return -1;
        int oh = number_at(d, q, 2);
        q += 2;
        if (q < end && d[q] == ':')
            q++;
        if (end - q < 2)
            return -1;
        int om = number_at(d, q, 2);
        q += 2;
        if (oh < 0 || om < 0)
            return -1;
        offset = sign * (oh * 3600LL + om * 60LL);
    } else {
        return -1;
    }
    if (q != end)
        return -1;
    long long seconds = out->minute_seconds + s - offset;
    *ns = seconds * 1000000000LL + fraction;
    return 0;
}

/* --- syslog ------------------------------------------------------------------------------------------------------ */

static inline int re_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Length of the leading run of d[0:n] without a re_space byte (the header regex's `\S+`). */
static inline Py_ssize_t nonspace_run(const unsigned char *d, Py_ssize_t n) {
    Py_ssize_t i = 0;
#if defined(__SSE2__)
    const __m128i space = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'), four = _mm_set1_epi8(4);
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(d + i));
        __m128i from_tab = _mm_sub_epi8(x, tab); /* \t \n \v \f \r become 0..4 */
        __m128i special = _mm_or_si128(_mm_cmpeq_epi8(x, space),
                                       _mm_cmpeq_epi8(_mm_min_epu8(from_tab, four), from_tab));
        int mask = _mm_movemask_epi8(special);
        if (mask)
            return i + __builtin_ctz((unsigned)mask);
    }
#endif
    while (i < n && !re_space(d[i]))
        i++;
    return i;
}

/* One syslog line d[p:end] (without \n and \r). 1 parsed, 0 declined, -1 out of memory. */
static int syslog_line(const RecordParser *self, Output *out, const unsigned char *d, Py_ssize_t p, Py_ssize_t end) {
    Py_ssize_t q = p;
    if (q >= end || d[q] != '<')
        return 0;
    q++;
    int pri = 0, digits = 0;
    while (q < end && is_digit(d[q]) && digits < 3) {
        pri = pri * 10 + (d[q++] - '0');
        digits++;
    }
    if (!digits || q >= end || d[q] != '>' || pri > 191)
        return 0;
    q++;
    digits = 0;
    while (q < end && is_digit(d[q]) && digits < 2) {
        q++;
        digits++;
    }
    if (!digits || q >= end || d[q] != ' ')
        return 0;
    q++;
    Py_ssize_t field_start[5], field_end[5];
    for (int f = 0; f < 5; f++) {
        field_start[f] = q;
        q += nonspace_run(d + q, end - q);
        if (q == field_start[f] || q >= end || d[q] != ' ')
            return 0;
        field_end[f] = q;
        q++;
    }
    long long ns;
    if (rfc3339_ns(out, d, field_start[0], field_end[0], &ns) < 0)
        return 0;
    /* STRUCTURED-DATA: `-` or `[...]` elements */
    if (q < end && d[q] == '-') {
        q++;
    } else {
        Py_ssize_t i = q;
        while (i < end && d[i] == '[') {
            i++;
            int in_value = 0;
            while (i < end) {
                if (in_value && d[i] == '\\') {
                    i += 2;
                    continue;
                }
                if (d[i] == '"')
                    in_value = !in_value;
                else if (d[i] == ']' && !in_value)
                    break;
                i++;
            }
            if (i >= end)
                return 0;
            i++;
        }
        if (i == q)
            return 0;
        q = i;
    }
    if (q < end && d[q] == ' ')
        q++;
    if (end - q >= 3 && d[q] == 0xEF && d[q + 1] == 0xBB && d[q + 2] == 0xBF)
        q += 3;
    int ascii;
    if (!valid_utf8(d + q, end - q, &ascii))
        return 0;
    int decline = 0;
    int level = message_level(self, d + q, end - q, ascii, 1, &decline);
    if (decline)
        return 0;
    if (level < 0)
        level = self->severity_level[pri % 8];
    Py_ssize_t start = out->data_len;
    if (reserve_data(out, end - q) < 0)
        return -1;
    memcpy(out->data + out->data_len, d + q, (size_t)(end - q));
    out->data_len += end - q;
    return finish_record(out, start, ns, level) < 0 ? -1 : 1;
}

/* --- Render JSON lines ------------------------------------------------------------------------------------------- */

/* The JSON string at d[p] == '"', checked as skip_string does and unescaped onto `out` in the same pass: the
 * position after its closing quote, or -1 declined (invalid JSON: Python reports it; a lone surrogate: Python
 * keeps it and the scanner writes `?`), -2 out of memory. */
static Py_ssize_t copy_string(Output *self, const unsigned char *d, Py_ssize_t p, Py_ssize_t end) {
    if (reserve_data(self, end - p) < 0) /* unescaping never grows a string */
        return -2;
    char *out = self->data + self->data_len;
    p++;
    for (;;) {
        Py_ssize_t run = plain_run(d + p, end - p);
        memcpy(out, d + p, (size_t)run);
        out += run;
        p += run;
        if (p >= end || d[p] < 0x20)
            return -1; /* unterminated, or a raw control character */
        if (d[p] == '"')
            break;
        /* a backslash */
        if (p + 1 >= end)
            return -1;
        unsigned char e = d[p + 1];
        if (e != 'u') {
            if (!JSON_ESCAPE[e])
                return -1;
            *out++ = (char)JSON_ESCAPE[e];
            p += 2;
            continue;
        }
        unsigned cp = 0;
        for (int k = 2; k < 6; k++) {
            int digit = p + k < end ? hex_value(d[p + k]) : -1;
            if (digit < 0)
                return -1;
            cp = cp * 16 + (unsigned)digit;
        }
        p += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned low = 0;
            if (p + 5 < end && d[p] == '\\' && d[p + 1] == 'u')
                for (int k = 2; k < 6; k++) {
                    int digit = hex_value(d[p + k]);
                    low = digit < 0 ? 0 : low * 16 + (unsigned)digit;
                    if (digit < 0)
                        break;
                }
            if (low < 0xDC00 || low > 0xDFFF)
                return -1; /* a lone high surrogate */
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            p += 6;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return -1; /* a lone low surrogate */
        }
        if (cp < 0x80) {
            *out++ = (char)cp;
        } else if (cp < 0x800) {
            *out++ = (char)(0xC0 | (cp >> 6));
            *out++ = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *out++ = (char)(0xE0 | (cp >> 12));
            *out++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *out++ = (char)(0x80 | (cp & 0x3F));
        } else {
            *out++ = (char)(0xF0 | (cp >> 18));
            *out++ = (char)(0x80 | ((cp >> 12) & 0x3F));
            *out++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *out++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    self->data_len = out - self->data;
    return p + 1;
}

static int key_is(const unsigned char *d, Py_ssize_t key, Py_ssize_t key_end, const char *name) {
    size_t n = strlen(name);
    return (size_t)(key_end - key) == n && memcmp(d + key, name, n) == 0;
}

/* The `level` label's value (last one wins) as a level index via inputs.py `_level_from`'s aliases. */
static int label_level(const RecordParser *self, const unsigned char *d, Py_ssize_t p, Py_ssize_t n, int *decline) {
    if (n == 0)
        return -1; /* empty: no fallback */
    char upper[32];
    if (n >= (Py_ssize_t)sizeof(upper))
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = d[p + i];
        if (c >= 0x80) {
            *decline = 1; /* str.upper() of non-ASCII text */
            return -1;
        }
        upper[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
    }
    upper[n] = 0;
    const char *name = upper;
    if (strcmp(upper, "WARN") == 0)
        name = "WARNING";
    else if (strcmp(upper, "FATAL") == 0)
        name = "CRITICAL";
    else if (strcmp(upper, "ERR") == 0)
        name = "ERROR";
    return level_named(self, (const unsigned char *)name, (Py_ssize_t)strlen(name));
}

/* Render's `labels` array at d[q] == '[' ({name, value} items): the position after it, or -1 (declined). The
 * `level` item's string value (the last one's) is d[*label_at:*label_at + *label_len]; *label_at = -1 for none. */
static Py_ssize_t read_labels(const unsigned char *d, Py_ssize_t q, Py_ssize_t end, Py_ssize_t *label_at,
                              Py_ssize_t *label_len) {
    int decline = 0;
    *label_at = -1;
    q = skip_ws(d, q + 1, end);
    if (q < end && d[q] == ']') {
        q++;
    } else {
        for (;;) { /* {name: str, value: any} items */
            if (q >= end || d[q] != '{')
                return -1;
            q = skip_ws(d, q + 1, end);
            Py_ssize_t name = -1, name_end = -1, item_value = -1, item_value_end = -1;
            if (q < end && d[q] == '}')
                return -1;
            for (;;) {
                Py_ssize_t ikey, ikey_end;
                q = read_plain_key(d, q, end, &ikey, &ikey_end);
                if (q < 0)
                    return -1;
                Py_ssize_t ivalue = q;
                q = skip_value(d, q, end, 3, &decline);
                if (q < 0)
                    return -1;
                if (key_is(d, ikey, ikey_end, "name")) {
                    if (name >= 0 || d[ivalue] != '"')
                        return -1;
                    int name_escaped;
                    skip_string(d, ivalue, end, &name_escaped);
                    if (name_escaped)
                        return -1;
                    name = ivalue + 1;
                    name_end = q - 1;
                } else if (key_is(d, ikey, ikey_end, "value")) {
                    if (item_value >= 0)
                        return -1;
                    item_value = ivalue;
                    item_value_end = q;
                }
                int more = next_member(d, &q, end, '}');
                if (more > 0)
                    continue;
                if (more == 0)
                    break;
                return -1;
            }
            if (name < 0 || item_value < 0)
                return -1;
            if (key_is(d, name, name_end, "level")) {
                int value_escaped;
                if (d[item_value] != '"')
                    return -1; /* json.dumps of a non-string: Python decides */
                skip_string(d, item_value, end, &value_escaped);
                if (value_escaped)
                    return -1;
                *label_at = item_value + 1;
                *label_len = item_value_end - 1 - *label_at;
            }
            int more = next_member(d, &q, end, ']');
            if (more > 0)
                continue;
            if (more == 0)
                break;
            return -1;
        }
    }
    return decline ? -1 : q;
}

/* read_labels, remembered: an export repeats the same labels line after line (the level label aside, and most
 * lines share a level), and identical bytes read identically. */
static Py_ssize_t labels_value(Output *out, const unsigned char *d, Py_ssize_t q, Py_ssize_t end,
                               Py_ssize_t *label_at, Py_ssize_t *label_len) {
    Py_ssize_t n = out->labels_len;
    if (n > 0 && end - q >= n && memcmp(d + q, out->labels_text, (size_t)n) == 0) {
        *label_at = out->labels_level_at < 0 ? -1 : q + out->labels_level_at;
        *label_len = out->labels_level_len;
        return q + n;
    }
    Py_ssize_t after = read_labels(d, q, end, label_at, label_len);
    if (after >= 0 && after - q <= (Py_ssize_t)sizeof(out->labels_text)) {
        memcpy(out->labels_text, d + q, (size_t)(after - q));
        out->labels_len = after - q;
        out->labels_level_at = *label_at < 0 ? -1 : *label_at - q;
        out->labels_level_len = *label_len;
    }
    return after;
}

/* One Render JSON line d[p:end]; its message is unescaped onto `out` when met (one pass). 1 parsed, 0 declined
 * (out's data may then hold part of the line: render_line drops it), -1 out of memory. */
static int render_record(const RecordParser *self, Output *out, const unsigned char *d, Py_ssize_t p,
                         Py_ssize_t end) {
    if (end - p < 2 || d[p] == 0 || d[p + 1] == 0 || d[p] >= 0xEF)
        return 0; /* json.loads(bytes) would guess another encoding */
    int ascii;
    if (!valid_utf8(d + p, end - p, &ascii))
        return 0;
    Py_ssize_t q = skip_ws(d, p, end);
    if (q >= end || d[q] != '{')
        return 0;
    q = skip_ws(d, q + 1, end);
    const Py_ssize_t start = out->data_len; /* where the message goes */
    Py_ssize_t message = -1, stamp = -1, stamp_end = -1;
    int seen_labels = 0, label = -2; /* -2: no level label */
    Py_ssize_t label_at = -1, label_len = 0;
    int decline = 0;
    if (q < end && d[q] == '}') {
        return 0; /* no message: Python reports it */
    }
    for (;;) {
        int escaped;
        Py_ssize_t key, key_end;
        q = read_plain_key(d, q, end, &key, &key_end);
        if (q < 0)
            return 0;
        Py_ssize_t value = q;
        if (key_is(d, key, key_end, "message")) {
            if (message >= 0 || d[q] != '"')
                return 0;
            q = copy_string(out, d, q, end);
            if (q == -2)
                return -1;
            message = value;
        } else if (key_is(d, key, key_end, "timestamp")) {
            if (stamp >= 0 || d[q] != '"')
                return 0;
            q = skip_string(d, q, end, &escaped);
            if (q < 0 || escaped)
                return 0;
            stamp = value + 1;
            stamp_end = q - 1;
        } else if (key_is(d, key, key_end, "labels")) {
            if (seen_labels || d[q] != '[')
                return 0;
            seen_labels = 1;
            q = labels_value(out, d, q, end, &label_at, &label_len);
            label = label_at >= 0 ? 0 : -2;
        } else {
            q = skip_value(d, q, end, 1, &decline);
        }
        if (q < 0 || decline)
            return 0;
        int more = next_member(d, &q, end, '}');
        if (more > 0)
            continue;
        if (more == 0)
            break;
        return 0;
    }
    if (skip_ws(d, q, end) != end || message < 0 || stamp < 0)
        return 0;
    long long ns;
    if (rfc3339_ns(out, d, stamp, stamp_end, &ns) < 0)
        return 0;
    const unsigned char *text = (const unsigned char *)out->data + start;
    Py_ssize_t text_len = out->data_len - start;
    int text_ascii = ascii_run(text, text_len) == text_len;
    int level = message_level(self, text, text_len, text_ascii, 0, &decline);
    if (!decline && level < 0 && label == 0)
        level = label_level(self, d, label_at, label_len, &decline);
    if (decline)
        return 0;
    return finish_record(out, start, ns, level) < 0 ? -1 : 1;
}

static int render_line(const RecordParser *self, Output *out, const unsigned char *d, Py_ssize_t p, Py_ssize_t end) {
    Py_ssize_t start = out->data_len;
    int result = render_record(self, out, d, p, end);
    if (result == 0)
        out->data_len = start;
    return result;
}

/* --- parsing a block, on one thread or two ---------------------------------------------------------------------- */

enum { RANGE_DONE = 0, RANGE_DECLINED = 1, RANGE_NO_MEMORY = -1 };

/* Parses the lines of d[pos:n] into `out` until one is declined: where it stopped, lines consumed, and a status. */
static Py_ssize_t parse_range(const RecordParser *self, Output *out, const unsigned char *d, Py_ssize_t pos,
                              Py_ssize_t n, Py_ssize_t *lines, int *status) {
    *status = RANGE_DONE;
    while (pos < n) {
        const unsigned char *nl = memchr(d + pos, '\n', (size_t)(n - pos));
        if (nl == NULL)
            break; /* blocks end in a newline; a tail without one is Python's */
        Py_ssize_t end = (Py_ssize_t)(nl - d);
        Py_ssize_t line_end = end > pos && d[end - 1] == '\r' ? end - 1 : end;
        Py_ssize_t k = pos;
        while (k < line_end && re_space(d[k]))
            k++;
        int result = 1;
        if (k < line_end) /* blank lines are skipped, but counted */
            result = self->kind == KIND_SYSLOG ? syslog_line(self, out, d, pos, line_end)
                                               : render_line(self, out, d, pos, line_end);
        if (result <= 0) {
            *status = result < 0 ? RANGE_NO_MEMORY : RANGE_DECLINED;
            break;
        }
        (*lines)++;
        pos = end + 1;
    }
    return pos;
}

static void output_clear(Output *out) {
    out->data_len = 0;
    out->count = 0;
    memset(out->level_counts, 0, sizeof(out->level_counts));
}

/* Appends `from` (then emptied) to `out`. 0, or -1 out of memory. */
static int output_absorb(Output *out, Output *from, int n_levels) {
    if (from->count == 0)
        return 0;
    if (reserve_data(out, from->data_len) < 0)
        return -1;
    while (out->cap - out->count < from->count)
        if (reserve_record_growing(out) < 0)
            return -1;
    memcpy(out->data + out->data_len, from->data, (size_t)from->data_len);
    for (Py_ssize_t i = 0; i < from->count; i++) {
        out->starts[out->count + i] = from->starts[i] + out->data_len;
        out->stamps[out->count + i] = from->stamps[i];
    }
    for (int i = 0; i < n_levels; i++)
        out->level_counts[i] += from->level_counts[i];
    out->data_len += from->data_len;
    out->count += from->count;
    output_clear(from);
    return 0;
}

#ifdef OBSCTL_HAVE_THREADS
typedef struct {
    RecordParser *self;
    const unsigned char *d;
    Py_ssize_t n;
} HalfJob;

static void *parse_half(void *arg) {
    HalfJob *job = arg;
    RecordParser *self = job->self;
    self->half_lines = 0;
    self->half_stop = parse_range(self, &self->half, job->d, self->half_start, job->n, &self->half_lines,
                                  &self->half_status);
    return NULL;
}
#endif

/* Where d[pos:n] splits into two halves of whole lines (just after a newline near the middle), or -1. */
static Py_ssize_t split_point(const RecordParser *self, const unsigned char *d, Py_ssize_t pos, Py_ssize_t n) {
    if (self->split_min <= 0 || n - pos < self->split_min)
        return -1;
    Py_ssize_t middle = pos + (n - pos) / 2;
    const unsigned char *nl = memchr(d + middle, '\n', (size_t)(n - middle));
    if (nl == NULL || nl + 1 >= d + n)
        return -1;
    return (Py_ssize_t)(nl - d) + 1;
}

/* parse(block, offset) -> (offset where it stopped, lines consumed, declined)
 *
 * A long range is read as two halves at once, the second on a thread of its own (both without the GIL). The first
 * half's records come first: when it stops at a declined line, the second half's records wait in `half` until
 * the Python reader has added that line and the parse resumes and reaches the middle; they are then appended. */
static PyObject *RecordParser_parse(RecordParser *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t offset;
    if (!PyArg_ParseTuple(args, "y*n", &view, &offset))
        return NULL;
    if (self->busy) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_RuntimeError, "RecordParser.parse called concurrently");
        return NULL;
    }
    self->busy = 1;
    const unsigned char *d = view.buf;
    const Py_ssize_t n = view.len;
    Py_ssize_t lines = 0, pos = offset < 0 ? 0 : offset;
    int status = RANGE_DONE;
    if (self->has_half && (self->half_block != view.buf || self->half_block_len != n || pos > self->half_start)) {
        self->has_half = 0; /* another block: what was read ahead of a line that never came back is dropped */
        output_clear(&self->half);
    }
    /* A record (message and newline) is never longer than its line: the rest of the block bounds what this call adds
     * to the main output, the second half's records included. */
    if (ensure_room(&self->out, self->pool, n - pos) < 0) {
        self->busy = 0;
        PyBuffer_Release(&view);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t middle = self->has_half ? -1 : split_point(self, d, pos, n);
    int threaded = 0;
#ifdef OBSCTL_HAVE_THREADS
    pthread_t thread;
    HalfJob job = {self, d, n};
    if (middle >= 0) {
        output_clear(&self->half);
        self->half_start = middle;
        threaded = pthread_create(&thread, NULL, parse_half, &job) == 0;
    }
#endif
    Py_ssize_t limit = threaded ? middle : self->has_half ? self->half_start : n;
    pos = parse_range(self, &self->out, d, pos, limit, &lines, &status);
#ifdef OBSCTL_HAVE_THREADS
    if (threaded) {
        pthread_join(thread, NULL);
        self->has_half = 1;
        self->half_block = view.buf;
        self->half_block_len = n;
    }
#endif
    if (status == RANGE_DONE && self->has_half && pos == self->half_start) {
        self->has_half = 0;
        if (output_absorb(&self->out, &self->half, self->n_levels) < 0) {
            status = RANGE_NO_MEMORY;
        } else {
            lines += self->half_lines;
            pos = self->half_stop;
            status = self->half_status;
        }
    }
    Py_END_ALLOW_THREADS
    self->busy = 0;
    PyBuffer_Release(&view);
    if (status == RANGE_NO_MEMORY)
        return PyErr_NoMemory();
    return Py_BuildValue("nnO", pos, lines, status == RANGE_DECLINED ? Py_True : Py_False);
}

/* add(message: bytes, timestamp_ns: int, level: int) -- a record the Python reader parsed */
static PyObject *RecordParser_add(RecordParser *self, PyObject *args) {
    Py_buffer message;
    long long ns;
    int level;
    if (!PyArg_ParseTuple(args, "y*Li", &message, &ns, &level))
        return NULL;
    if (level >= self->n_levels) {
        PyBuffer_Release(&message);
        PyErr_SetString(PyExc_ValueError, "level index out of range");
        return NULL;
    }
    Output *out = &self->out;
    if (ensure_room(out, self->pool, message.len + 1) < 0) {
        PyBuffer_Release(&message);
        return NULL;
    }
    Py_ssize_t start = out->data_len;
    int failed = reserve_data(out, message.len) < 0;
    if (!failed) {
        memcpy(out->data + out->data_len, message.buf, (size_t)message.len);
        out->data_len += message.len;
        failed = finish_record(out, start, ns, level) < 0;
    }
    PyBuffer_Release(&message);
    if (failed)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* take() -> (data as a bytearray, starts as int64 bytes, timestamps as int64 bytes, counts per level); starts a new
 * batch. The data is the bytearray the messages were written into, cut to their length; the parser fills it again
 * only once nothing else holds it. */
static PyObject *RecordParser_take(RecordParser *self, PyObject *Py_UNUSED(ignored)) {
    Output *out = &self->out;
    PyObject *counts = PyTuple_New(self->n_levels);
    if (counts == NULL)
        return NULL;
    for (int i = 0; i < self->n_levels; i++)
        PyTuple_SET_ITEM(counts, i, PyLong_FromUnsignedLongLong(out->level_counts[i]));
    PyObject *data = out->buffer;
    out->buffer = NULL;
    out->data = NULL;
    out->data_cap = 0;
    if (data == NULL)
        data = PyByteArray_FromStringAndSize(NULL, 0);
    else if (PyByteArray_Resize(data, out->data_len) < 0)
        Py_CLEAR(data);
    if (data == NULL) {
        Py_DECREF(counts);
        output_clear(out);
        return NULL;
    }
    Py_ssize_t index_bytes = out->count * (Py_ssize_t)sizeof(long long);
    PyObject *result = Py_BuildValue("Ny#y#N", data, out->starts ? (const char *)out->starts : "", index_bytes,
                                     out->stamps ? (const char *)out->stamps : "", index_bytes, counts);
    output_clear(out);
    return result;
}

static PyObject *RecordParser_size(RecordParser *self, void *Py_UNUSED(closure)) {
    return PyLong_FromSsize_t(self->out.data_len);
}

static PyObject *RecordParser_records(RecordParser *self, void *Py_UNUSED(closure)) {
    return PyLong_FromSsize_t(self->out.count);
}

/* RecordParser(kind, ops, text_levels_native, text_markers, level_names, json_key, severity_levels, split_min) */
static int RecordParser_init(RecordParser *self, PyObject *args, PyObject *kwds) {
    PyObject *ops, *text_markers, *level_names, *json_key, *severity;
    int kind, text_native;
    Py_ssize_t split_min = 0;
    static char *names[] = {"kind", "ops", "text_levels_native", "text_markers", "level_names", "json_key",
                            "severity_levels", "split_min", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iOpO!O!SO!|n", names, &kind, &ops, &text_native, &PyTuple_Type,
                                     &text_markers, &PyTuple_Type, &level_names, &json_key, &PyTuple_Type,
                                     &severity, &split_min))
        return -1;
    Py_ssize_t n_levels = PyTuple_GET_SIZE(level_names);
    if ((kind != KIND_SYSLOG && kind != KIND_RENDER) || n_levels == 0 || n_levels > MAX_LEVELS ||
        PyTuple_GET_SIZE(text_markers) != n_levels || PyTuple_GET_SIZE(severity) != 8) {
        PyErr_SetString(PyExc_ValueError, "RecordParser: bad kind, levels or severity map");
        return -1;
    }
    Py_XSETREF(self->keep, Py_BuildValue("(OOOO)", ops, text_markers, level_names, json_key));
    if (self->keep == NULL || text_prefix_from(ops, &self->prefix) < 0)
        return -1;
    self->kind = kind;
    self->text_levels_native = text_native;
    self->out.in_buffer = 1;
    if (self->pool == NULL && (self->pool = PyList_New(0)) == NULL)
        return -1;
#ifdef OBSCTL_HAVE_THREADS
    self->split_min = split_min;
#else
    self->split_min = 0; /* no threads on this platform: one range at a time */
#endif
    self->n_levels = (int)n_levels;
    for (Py_ssize_t i = 0; i < n_levels; i++)
        if (bytes_item(PyTuple_GET_ITEM(text_markers, i), &self->text_marker[i], &self->text_marker_len[i]) < 0 ||
            bytes_item(PyTuple_GET_ITEM(level_names, i), &self->level_name[i], &self->level_name_len[i]) < 0)
            return -1;
    self->json_key = PyBytes_AS_STRING(json_key);
    self->json_key_len = PyBytes_GET_SIZE(json_key);
    for (int i = 0; i < 8; i++) {
        long level = PyLong_AsLong(PyTuple_GET_ITEM(severity, i));
        if (level == -1 && PyErr_Occurred())
            return -1;
        if (level < -1 || level >= n_levels) {
            PyErr_SetString(PyExc_ValueError, "RecordParser: severity level out of range");
            return -1;
        }
        self->severity_level[i] = (int)level;
    }
    return 0;
}

static void RecordParser_dealloc(RecordParser *self) {
    Py_XDECREF(self->keep);
    Py_XDECREF(self->out.buffer);
    Py_XDECREF(self->pool);
    PyMem_RawFree(self->half.data);
    Output *outputs[] = {&self->out, &self->half};
    for (int i = 0; i < 2; i++) {
        PyMem_RawFree(outputs[i]->starts);
        PyMem_RawFree(outputs[i]->stamps);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef RecordParser_methods[] = {
    {"parse", (PyCFunction)RecordParser_parse, METH_VARARGS,
     "parse(block, offset) -> (offset where it stopped, lines consumed, declined)"},
    {"add", (PyCFunction)RecordParser_add, METH_VARARGS, "add(message, timestamp_ns, level index or -1)"},
    {"take", (PyCFunction)RecordParser_take, METH_NOARGS,
     "take() -> (data, starts int64 bytes, timestamps int64 bytes, counts per level)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef RecordParser_getset[] = {
    {"size", (getter)RecordParser_size, NULL, "bytes of messages held", NULL},
    {"records", (getter)RecordParser_records, NULL, "records held", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject RecordParserType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "generator.logs._records.RecordParser",
    .tp_basicsize = sizeof(RecordParser),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Syslog or Render JSON lines -> scanner batches (see the module source).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)RecordParser_init,
    .tp_dealloc = (destructor)RecordParser_dealloc,
    .tp_methods = RecordParser_methods,
    .tp_getset = RecordParser_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_records", .m_doc = NULL, .m_size = -1, .m_methods = NULL,
};

PyMODINIT_FUNC PyInit__records(void) {
    if (PyType_Ready(&RecordParserType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&RecordParserType);
    if (PyModule_AddObject(m, "RecordParser", (PyObject *)&RecordParserType) < 0) {
        Py_DECREF(&RecordParserType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "KIND_SYSLOG", KIND_SYSLOG);
    PyModule_AddIntConstant(m, "KIND_RENDER", KIND_RENDER);
    return m;
}
