/* Per-line statistics of a block of log lines, in one pass without the GIL: lines, levels, duration_ms values.
 *
 * The Python side (generator/logs/line_stats.py) builds a LineStats from truth.yaml's log format and feeds it blocks
 * of whole lines ending in '\n'. It matches exactly what these regexes (generator/logs/line_stats.py builds them for
 * the Hyperscan lane, which stays as the reference and the fallback) match inside one line:
 *   text level:  ^<prefix ops> then one of the `LEVEL<suffix>` markers, first in truth order wins
 *                (ops: literal text, asctime `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}`, logger name `[^ \n]+` always
 *                followed by a literal that starts with a space, so the name ends at the first space)
 *   JSON level:  ^\{.*"<key>"[ \t\v\f\r]*:[ \t\v\f\r]*" then `LEVEL"`, every occurrence in the line counts
 *   duration:    \b<tag>"?[ \t\v\f\r]*[:=][ \t\v\f\r]*"?[0-9], the number `[0-9]+(\.[0-9]+)?` read from that digit
 * No match spans a newline. Integer durations below 100000 are counted in an array; any other value is handed back
 * as its text, for Python to bucket the way LatencyHistogram does. Given ascending byte offsets (the scanner's
 * candidate matches), the same pass also tells how many newlines precede each: the lines' numbers in the block.
 */
#include "_text_format.h"

#define SMALL_LIMIT 100000

/* First occurrence of needle (len >= 2) in d[from:end], or NULL: memmem's answer. With SSE2, 16 positions a step are
 * tested on the needle's first and last byte at once (few positions pass both) before a full compare; glibc's
 * memmem hashes byte pairs one position at a time, about three times slower on log lines. */
static const unsigned char *find_needle(const unsigned char *d, Py_ssize_t from, Py_ssize_t end, const char *needle,
                                        Py_ssize_t len) {
    Py_ssize_t i = from;
#if defined(__SSE2__)
    const __m128i first = _mm_set1_epi8(needle[0]), last = _mm_set1_epi8(needle[len - 1]);
    for (; i + 16 + len - 1 <= end; i += 16) {
        const __m128i at_first = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(d + i)), first);
        const __m128i at_last = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(d + i + len - 1)), last);
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_and_si128(at_first, at_last));
        while (mask) {
            const int bit = __builtin_ctz(mask);
            if (same_bytes(d + i + bit + 1, needle + 1, len - 2))
                return d + i + bit;
            mask &= mask - 1;
        }
    }
#endif
    for (; i + len <= end; i++)
        if (d[i] == (unsigned char)needle[0] && same_bytes(d + i + 1, needle + 1, len - 1))
            return d + i;
    return NULL;
}

typedef struct {
    PyObject_HEAD
    PyObject *keep;  /* tuple of the bytes objects the pointers below point into */
    TextPrefix prefix;
    int n_levels;
    const char *text_marker[MAX_LEVELS];
    Py_ssize_t text_marker_len[MAX_LEVELS];
    const char *json_marker[MAX_LEVELS];
    Py_ssize_t json_marker_len[MAX_LEVELS];
    const char *json_key;
    Py_ssize_t json_key_len;
    const char *tag;
    Py_ssize_t tag_len;
    unsigned long long *small; /* SMALL_LIMIT counters */
    Py_ssize_t *other;         /* (offset, length) pairs of the current block's other values */
    Py_ssize_t other_n, other_cap;
    int busy;
} LineStats;

static int remember_other(LineStats *self, Py_ssize_t offset, Py_ssize_t length) {
    if (self->other_n + 2 > self->other_cap) {
        Py_ssize_t cap = self->other_cap ? self->other_cap * 2 : 256;
        Py_ssize_t *grown = PyMem_RawRealloc(self->other, (size_t)cap * sizeof(Py_ssize_t));
        if (grown == NULL)
            return -1;
        self->other = grown;
        self->other_cap = cap;
    }
    self->other[self->other_n++] = offset;
    self->other[self->other_n++] = length;
    return 0;
}

/* Newlines in d[0:n], 16 bytes a step: byte counters (at most 255 steps) summed by SAD. */
static Py_ssize_t count_newlines(const unsigned char *d, Py_ssize_t n) {
    Py_ssize_t count = 0, i = 0;
#if defined(__SSE2__)
    const __m128i newline = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
    while (i + 16 <= n) {
        __m128i counters = zero;
        for (int step = 0; step < 255 && i + 16 <= n; step++, i += 16) /* a match is -1: subtracting counts it */
            counters = _mm_sub_epi8(counters, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(d + i)), newline));
        __m128i sums = _mm_sad_epu8(counters, zero);
        count += _mm_cvtsi128_si32(sums) + _mm_cvtsi128_si32(_mm_srli_si128(sums, 8));
    }
#endif
    for (; i < n; i++)
        count += d[i] == '\n';
    return count;
}

/* The offsets to number, read while the GIL is held: ascending, else -1 with an exception set. */
static Py_ssize_t read_offsets(PyObject *offsets, Py_ssize_t **out) {
    *out = NULL;
    if (offsets == NULL || offsets == Py_None)
        return 0;
    PyObject *items = PySequence_Fast(offsets, "offsets: a sequence of ints");
    if (items == NULL)
        return -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(items);
    Py_ssize_t *values = PyMem_Malloc((size_t)(count ? count : 1) * sizeof(Py_ssize_t));
    if (values == NULL) {
        Py_DECREF(items);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        values[i] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(items, i));
        if ((values[i] == -1 && PyErr_Occurred()) || (i && values[i] < values[i - 1])) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "offsets must be ascending");
            PyMem_Free(values);
            Py_DECREF(items);
            return -1;
        }
    }
    Py_DECREF(items);
    *out = values;
    return count;
}

/* feed(block, levels: bool, durations: bool, offsets=None) -> (newlines, lines with a level, tuple of counts per
 * level, other duration texts, per offset the newlines before it) */
static PyObject *LineStats_feed(LineStats *self, PyObject *args) {
    Py_buffer view;
    int want_levels, want_durations;
    PyObject *offsets_arg = NULL;
    if (!PyArg_ParseTuple(args, "y*pp|O", &view, &want_levels, &want_durations, &offsets_arg))
        return NULL;
    Py_ssize_t *offsets;
    const Py_ssize_t n_offsets = read_offsets(offsets_arg, &offsets);
    if (n_offsets < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (self->busy) {
        PyMem_Free(offsets);
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_RuntimeError, "LineStats.feed called concurrently");
        return NULL;
    }
    self->busy = 1;
    self->other_n = 0;
    const unsigned char *d = view.buf;
    const Py_ssize_t n = view.len;
    unsigned long long counts[MAX_LEVELS] = {0};
    Py_ssize_t newlines = 0, leveled = 0;
    int failed = 0;

    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t pos = 0, numbered = 0;
    if (!want_levels) { /* no line needs looking at: newlines counted 16 bytes a step, up to each offset */
        Py_ssize_t counted = 0;
        for (; numbered < n_offsets; numbered++) {
            Py_ssize_t upto = offsets[numbered] < n ? offsets[numbered] : n;
            if (upto < counted) /* ascending, so only a negative first offset: no newline before it */
                upto = counted;
            newlines += count_newlines(d + counted, upto - counted);
            counted = upto;
            offsets[numbered] = newlines;
        }
        newlines += count_newlines(d + counted, n - counted);
        pos = n;
    }
    while (pos < n) {
        const unsigned char *nl = memchr(d + pos, '\n', (size_t)(n - pos));
        Py_ssize_t end = nl ? (Py_ssize_t)(nl - d) : n;
        while (numbered < n_offsets && offsets[numbered] <= end) /* offsets in this line: the newlines above it */
            offsets[numbered++] = newlines;
        newlines += nl != NULL;
        if (want_levels && end > pos) {
            if (d[pos] == '{') {
                Py_ssize_t from = pos + 1;
                const unsigned char *hit;
                while ((hit = find_needle(d, from, end, self->json_key, self->json_key_len))) {
                    Py_ssize_t q = (Py_ssize_t)(hit - d);
                    Py_ssize_t r = q + self->json_key_len;
                    while (r < end && is_blank(d[r]))
                        r++;
                    if (r < end && d[r] == ':') {
                        r++;
                        while (r < end && is_blank(d[r]))
                            r++;
                        if (r < end && d[r] == '"') {
                            int level = marker_at(d, r + 1, end, self->n_levels, self->json_marker,
                                                  self->json_marker_len);
                            if (level >= 0) {
                                counts[level]++;
                                leveled++;
                            }
                        }
                    }
                    from = q + 1;
                }
            } else if (self->prefix.n_ops) {
                Py_ssize_t p = text_prefix_end(&self->prefix, d, pos, end);
                if (p >= 0) {
                    int level = marker_at(d, p, end, self->n_levels, self->text_marker, self->text_marker_len);
                    if (level >= 0) {
                        counts[level]++;
                        leveled++;
                    }
                }
            }
        }
        pos = end + 1;
    }
    while (numbered < n_offsets) /* past the block's end */
        offsets[numbered++] = newlines;
    if (want_durations) {
        Py_ssize_t from = 0;
        const unsigned char *hit;
        while ((hit = find_needle(d, from, n, self->tag, self->tag_len))) {
            Py_ssize_t q = (Py_ssize_t)(hit - d);
            from = q + 1;
            if (q > 0 && is_word(d[q - 1]))
                continue;
            Py_ssize_t r = q + self->tag_len;
            if (r < n && d[r] == '"')
                r++;
            while (r < n && is_blank(d[r]))
                r++;
            if (!(r < n && (d[r] == ':' || d[r] == '=')))
                continue;
            r++;
            while (r < n && is_blank(d[r]))
                r++;
            if (r < n && d[r] == '"')
                r++;
            if (!(r < n && is_digit(d[r])))
                continue;
            Py_ssize_t i = r;
            unsigned long long value = 0;
            while (i < n && is_digit(d[i])) {
                if (i - r < 18)
                    value = value * 10 + (unsigned long long)(d[i] - '0');
                i++;
            }
            int fraction = i + 1 < n && d[i] == '.' && is_digit(d[i + 1]);
            if (fraction) {
                i++;
                while (i < n && is_digit(d[i]))
                    i++;
            }
            if (!fraction && i - r <= 18 && value < SMALL_LIMIT)
                self->small[value]++;
            else if (remember_other(self, r, i - r) < 0) {
                failed = 1;
                break;
            }
        }
    }
    Py_END_ALLOW_THREADS

    PyObject *result = NULL;
    if (failed) {
        PyErr_NoMemory();
    } else {
        PyObject *others = PyList_New(self->other_n / 2);
        if (others != NULL) {
            for (Py_ssize_t i = 0; i < self->other_n / 2; i++) {
                PyObject *text = PyBytes_FromStringAndSize((const char *)d + self->other[2 * i], self->other[2 * i + 1]);
                if (text == NULL) {
                    Py_CLEAR(others);
                    break;
                }
                PyList_SET_ITEM(others, i, text);
            }
        }
        PyObject *numbers = others ? PyList_New(n_offsets) : NULL;
        for (Py_ssize_t i = 0; numbers != NULL && i < n_offsets; i++) {
            PyObject *number = PyLong_FromSsize_t(offsets[i]);
            if (number == NULL)
                Py_CLEAR(numbers);
            else
                PyList_SET_ITEM(numbers, i, number);
        }
        PyObject *per_level = numbers ? PyTuple_New(self->n_levels) : NULL;
        if (per_level != NULL) {
            for (int i = 0; i < self->n_levels; i++)
                PyTuple_SET_ITEM(per_level, i, PyLong_FromUnsignedLongLong(counts[i]));
            result = Py_BuildValue("nnNNN", newlines, leveled, per_level, others, numbers);
        } else {
            Py_XDECREF(others);
            Py_XDECREF(numbers);
        }
    }
    PyMem_Free(offsets);
    self->busy = 0;
    PyBuffer_Release(&view);
    return result;
}

/* take_small_durations() -> {value: count} of the integer durations below 100000 seen so far; resets them. */
static PyObject *LineStats_take_small_durations(LineStats *self, PyObject *Py_UNUSED(ignored)) {
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "LineStats is being fed");
        return NULL;
    }
    PyObject *found = PyDict_New();
    if (found == NULL)
        return NULL;
    for (Py_ssize_t v = 0; v < SMALL_LIMIT; v++) {
        if (!self->small[v])
            continue;
        PyObject *key = PyLong_FromSsize_t(v), *count = PyLong_FromUnsignedLongLong(self->small[v]);
        int failed = key == NULL || count == NULL || PyDict_SetItem(found, key, count) < 0;
        Py_XDECREF(key);
        Py_XDECREF(count);
        if (failed) {
            Py_DECREF(found);
            return NULL;
        }
        self->small[v] = 0;
    }
    return found;
}

static PyTypeObject LineStatsType;

/* absorb(other: LineStats) -> None: adds the other's integer durations below 100000 to this one's, and resets the
 * other's (the counters of two threads, merged once at the end of a scan: one dict is built instead of two). */
static PyObject *LineStats_absorb(LineStats *self, PyObject *arg) {
    if (!PyObject_TypeCheck(arg, &LineStatsType)) {
        PyErr_SetString(PyExc_TypeError, "absorb() takes a LineStats");
        return NULL;
    }
    LineStats *other = (LineStats *)arg;
    if (self->busy || other->busy) {
        PyErr_SetString(PyExc_RuntimeError, "LineStats is being fed");
        return NULL;
    }
    if (other != self && self->small != NULL && other->small != NULL) {
        for (Py_ssize_t v = 0; v < SMALL_LIMIT; v++) {
            self->small[v] += other->small[v];
            other->small[v] = 0;
        }
    }
    Py_RETURN_NONE;
}

/* LineStats(ops: tuple[(kind, bytes)], text_markers: tuple[bytes], json_markers: tuple[bytes], json_key: bytes,
 *           tag: bytes) */
static int LineStats_init(LineStats *self, PyObject *args, PyObject *kwds) {
    PyObject *ops, *text_markers, *json_markers, *json_key, *tag;
    static char *names[] = {"ops", "text_markers", "json_markers", "json_key", "tag", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!O!SS", names, &PyTuple_Type, &ops, &PyTuple_Type,
                                     &text_markers, &PyTuple_Type, &json_markers, &json_key, &tag))
        return -1;
    Py_ssize_t n_levels = PyTuple_GET_SIZE(text_markers);
    if (n_levels > MAX_LEVELS || PyTuple_GET_SIZE(json_markers) != n_levels || n_levels == 0 ||
        PyBytes_GET_SIZE(json_key) == 0 || PyBytes_GET_SIZE(tag) == 0) {
        PyErr_SetString(PyExc_ValueError, "LineStats: too many ops or levels, or an empty key or tag");
        return -1;
    }
    Py_XSETREF(self->keep, Py_BuildValue("(OOOOO)", ops, text_markers, json_markers, json_key, tag));
    if (self->keep == NULL)
        return -1;
    if (text_prefix_from(ops, &self->prefix) < 0)
        return -1;
    self->n_levels = (int)n_levels;
    for (Py_ssize_t i = 0; i < n_levels; i++) {
        if (bytes_item(PyTuple_GET_ITEM(text_markers, i), &self->text_marker[i], &self->text_marker_len[i]) < 0 ||
            bytes_item(PyTuple_GET_ITEM(json_markers, i), &self->json_marker[i], &self->json_marker_len[i]) < 0)
            return -1;
    }
    self->json_key = PyBytes_AS_STRING(json_key);
    self->json_key_len = PyBytes_GET_SIZE(json_key);
    self->tag = PyBytes_AS_STRING(tag);
    self->tag_len = PyBytes_GET_SIZE(tag);
    if (self->small == NULL) {
        self->small = PyMem_RawCalloc(SMALL_LIMIT, sizeof(unsigned long long));
        if (self->small == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    return 0;
}

static void LineStats_dealloc(LineStats *self) {
    Py_XDECREF(self->keep);
    PyMem_RawFree(self->small);
    PyMem_RawFree(self->other);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef LineStats_methods[] = {
    {"feed", (PyCFunction)LineStats_feed, METH_VARARGS,
     "feed(block, levels, durations, offsets=None) -> (newlines, leveled lines, counts per level, other duration "
     "texts, newlines before each offset)"},
    {"take_small_durations", (PyCFunction)LineStats_take_small_durations, METH_NOARGS,
     "{integer duration below 100000: count} seen since the last call"},
    {"absorb", (PyCFunction)LineStats_absorb, METH_O,
     "absorb(other): add the other's integer durations below 100000 to this one's, and reset the other's"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LineStatsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "generator.logs._linestats.LineStats",
    .tp_basicsize = sizeof(LineStats),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Levels, durations and line count of blocks of log lines (see the module source).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)LineStats_init,
    .tp_dealloc = (destructor)LineStats_dealloc,
    .tp_methods = LineStats_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_linestats", .m_doc = NULL, .m_size = -1, .m_methods = NULL,
};

PyMODINIT_FUNC PyInit__linestats(void) {
    if (PyType_Ready(&LineStatsType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&LineStatsType);
    if (PyModule_AddObject(m, "LineStats", (PyObject *)&LineStatsType) < 0) {
        Py_DECREF(&LineStatsType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "OP_LITERAL", OP_LITERAL);
    PyModule_AddIntConstant(m, "OP_ASCTIME", OP_ASCTIME);
    PyModule_AddIntConstant(m, "OP_NAME", OP_NAME);
    return m;
}
