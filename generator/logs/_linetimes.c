/* Lines of the bot's text log with their times, for the replay (`obsctl backtest`): one call per block.
 *
 * For each `\n`-terminated line of a block: the line as Python reads it (`raw.removesuffix(b"\r").decode("utf-8",
 * "replace")`, the same CPython decoder) and its time in ns when the kernel can vouch for it: the line starts with
 * the text format's prefix (ops from line_stats.native_ops: literals, an ASCII asctime, a logger name), then one of
 * the level markers (`LEVEL<suffix>`), and the asctime is a real date and time within 1900..2199 (no int64
 * overflow). The message that follows is `.*`, which any rest of a line matches. Any other line gets None: the
 * Python reader decides (JSON lines, other scripts' digits, impossible dates, no time at all). The text after the
 * last `\n` of the block is not a line (the blocks end with one).
 */
#include "_text_format.h"

#include <stdint.h>

typedef struct {
    TextPrefix prefix;
    int n_markers;
    const char *markers[MAX_LEVELS];
    Py_ssize_t marker_lens[MAX_LEVELS];
} LineFormat;

static int two(const unsigned char *d) { return (d[0] - '0') * 10 + (d[1] - '0'); }

/* `dddd-dd-dd dd:dd:dd,ddd` at a (shape checked by text_prefix_end) -> ns, or -1 when Python must decide. */
static int64_t asctime_ns(const unsigned char *a) {
    int y = two(a) * 100 + two(a + 2), mo = two(a + 5), d = two(a + 8);
    int h = two(a + 11), mi = two(a + 14), s = two(a + 17);
    int ms = (a[20] - '0') * 100 + two(a + 21);
    if (y < 1900 || y > 2199 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        s > 59)
        return -1;
    int64_t seconds = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s;
    return seconds * 1000000000 + (int64_t)ms * 1000000;
}

/* Where the asctime op starts in a line whose prefix matched (the ops before it are fixed-width literals). */
static Py_ssize_t asctime_offset(const TextPrefix *prefix) {
    Py_ssize_t offset = 0;
    for (int i = 0; i < prefix->n_ops; i++) {
        if (prefix->kind[i] == OP_ASCTIME)
            return offset;
        if (prefix->kind[i] != OP_LITERAL)
            return -1; /* a logger name before the time: not a width known in advance */
        offset += prefix->len[i];
    }
    return -1;
}

static PyObject *line_time(const LineFormat *format, Py_ssize_t at_asctime, const unsigned char *d, Py_ssize_t p,
                           Py_ssize_t end) {
    Py_ssize_t level_at = text_prefix_end(&format->prefix, d, p, end);
    if (level_at < 0 || marker_at(d, level_at, end, format->n_markers, format->markers, format->marker_lens) < 0)
        Py_RETURN_NONE;
    int64_t ns = asctime_ns(d + p + at_asctime);
    if (ns < 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(ns);
}

static PyObject *timed_lines(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer block;
    PyObject *ops, *markers;
    if (!PyArg_ParseTuple(args, "y*O!O!", &block, &PyTuple_Type, &ops, &PyTuple_Type, &markers))
        return NULL;
    PyObject *lines = NULL, *stamps = NULL, *result = NULL;
    LineFormat format;
    if (text_prefix_from(ops, &format.prefix) < 0)
        goto done;
    if (PyTuple_GET_SIZE(markers) > MAX_LEVELS) {
        PyErr_SetString(PyExc_ValueError, "at most 32 level markers");
        goto done;
    }
    format.n_markers = (int)PyTuple_GET_SIZE(markers);
    for (int i = 0; i < format.n_markers; i++)
        if (bytes_item(PyTuple_GET_ITEM(markers, i), &format.markers[i], &format.marker_lens[i]) < 0)
            goto done;
    Py_ssize_t at_asctime = asctime_offset(&format.prefix);
    if (at_asctime < 0) {
        PyErr_SetString(PyExc_ValueError, "the text format must start with literals and the asctime");
        goto done;
    }
    lines = PyList_New(0);
    stamps = PyList_New(0);
    if (!lines || !stamps)
        goto done;
    const unsigned char *d = (const unsigned char *)block.buf;
    Py_ssize_t size = block.len, p = 0;
    while (p < size) {
        const unsigned char *newline = memchr(d + p, '\n', (size_t)(size - p));
        if (!newline)
            break;
        Py_ssize_t end = newline - d;
        Py_ssize_t stripped = end > p && d[end - 1] == '\r' ? end - 1 : end;
        PyObject *line = PyUnicode_DecodeUTF8((const char *)d + p, stripped - p, "replace");
        if (!line)
            goto done;
        int failed = PyList_Append(lines, line);
        Py_DECREF(line);
        if (failed)
            goto done;
        PyObject *stamp = line_time(&format, at_asctime, d, p, stripped);
        if (!stamp)
            goto done;
        failed = PyList_Append(stamps, stamp);
        Py_DECREF(stamp);
        if (failed)
            goto done;
        p = end + 1;
    }
    result = PyTuple_Pack(2, lines, stamps);
done:
    Py_XDECREF(lines);
    Py_XDECREF(stamps);
    PyBuffer_Release(&block);
    return result;
}

static PyMethodDef methods[] = {
    {"timed_lines", timed_lines, METH_VARARGS,
     "timed_lines(block, ops, level_markers) -> (lines, times): each line as str, its time in ns or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_linetimes", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__linetimes(void) { return PyModule_Create(&module); }
