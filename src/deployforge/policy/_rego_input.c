/* rego-cpp's input, built from a Python value in C (deployforge.policy._rego_input).
 *
 * policy/engine.py's make_input walks a document and calls rego-cpp's C input builder (a stack
 * machine: regoInputString pushes a string, regoInputObjectItem pops a key and a value and pushes
 * the pair, regoInputObject(n) pops n pairs...) once per value. Through ctypes each call costs a
 * conversion of every argument and a Python frame per value; here the same calls are made directly,
 * in the same order, with the same arguments, so rego-cpp builds the same term.
 *
 * This module does not link against rego-cpp: engine.py hands it the addresses of the functions of
 * the library regopy loaded (configure()), so it works with whichever regopy is installed.
 *
 * build(value) returns the new input's handle (an int: the regoInput pointer, which the caller puts
 * in a regopy.Input, whose __del__ frees it) or None when the value is anything but what this walk
 * takes exactly; the half-built input is then freed here and engine.py builds the value its own
 * (ctypes) way, which decides what happens to it (falls back to regopy's builder, or raises as it
 * always has). None is returned for:
 *   - a type other than exactly str, dict, list, bool, int, float or None (subclasses included),
 *     as a value or as a key;
 *   - an int outside int64 (engine.py refuses it: rego-cpp would wrap it);
 *   - a float that rego-cpp's builder would round (it keeps six decimals: engine.py gives such a
 *     document as JSON text, which rego-cpp reads exactly);
 *   - a string that is not valid UTF-8 (a lone surrogate: str.encode raises there);
 *   - a container with more than 2**32-1 items (the builder's count is a uint32);
 *   - a failure code from any rego-cpp call;
 *   - nesting deeper than MAX_DEPTH containers (documents come from pull requests: the walk is
 *     iterative, its stack on the heap and bounded; rego-cpp itself recurses over deep terms);
 *   - memory exhaustion.
 * Any Python error met on the way is cleared: None means "build it the other way", never an error.
 *
 * Strings and keys follow engine.faithful: a string of more than one character that starts and ends
 * with '"' is handed over with one more pair of quotes (rego-cpp's builder drops one pair).
 *
 * No Python code runs during a walk (no __hash__, __eq__ or __del__ can be called: only exact
 * built-in types are read, nothing is allocated but a temporary UTF-8 copy of a non-ASCII string
 * and the builder's own memory), so the containers cannot change under it and borrowed references
 * stay valid.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rego-cpp's C API types (rego_c.h): regoEnum and regoSize are uint_least32_t, regoInt is
 * int_least64_t, regoBoolean is uint_least8_t. */
typedef void *(*new_input_fn)(void);
typedef void (*free_input_fn)(void *);
typedef uint32_t (*string_fn)(void *, const char *);
typedef uint32_t (*int_fn)(void *, int64_t);
typedef uint32_t (*float_fn)(void *, double);
typedef uint32_t (*boolean_fn)(void *, uint8_t);
typedef uint32_t (*null_fn)(void *);
typedef uint32_t (*item_fn)(void *);
typedef uint32_t (*count_fn)(void *, uint32_t);

static struct {
    new_input_fn new_input;
    free_input_fn free_input;
    string_fn string;
    int_fn integer;
    float_fn real;
    boolean_fn boolean;
    null_fn null;
    item_fn item;
    count_fn object;
    count_fn array;
    int ready;
} rego;

/* Deeper than anything the input readers produce (libyaml refuses more than 1,000 levels, json
 * and the HCL reader stop at Python's recursion limit), and shallow enough for rego-cpp. */
#define MAX_DEPTH 2048

#define OK 0
#define FALL_BACK 1

typedef struct {
    PyObject *container; /* borrowed: owned by its parent, which outlives the walk */
    Py_ssize_t pos;      /* PyDict_Next's position, or the next list index */
    Py_ssize_t size;
    int is_dict;
} Frame;

static int add_utf8(void *handle, const char *utf8, Py_ssize_t size) {
    if (size > 1 && utf8[0] == '"' && utf8[size - 1] == '"') {
        /* engine.faithful: one more pair of quotes (size > 1 in bytes is size > 1 in characters
         * here, since the first and last bytes are both '"') */
        char *quoted = PyMem_Malloc((size_t)size + 3);
        if (quoted == NULL) {
            return FALL_BACK;
        }
        quoted[0] = '"';
        memcpy(quoted + 1, utf8, (size_t)size);
        quoted[size + 1] = '"';
        quoted[size + 2] = '\0';
        uint32_t code = rego.string(handle, quoted);
        PyMem_Free(quoted);
        return code ? FALL_BACK : OK;
    }
    return rego.string(handle, utf8) ? FALL_BACK : OK;
}

static int add_string(void *handle, PyObject *text) {
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {
        return FALL_BACK;
    }
#endif
    if (PyUnicode_IS_ASCII(text)) { /* its characters are its UTF-8 bytes, NUL-terminated */
        return add_utf8(handle, (const char *)PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text));
    }
    /* a temporary encoding (as str.encode), not PyUnicode_AsUTF8's copy cached in the document */
    PyObject *encoded = PyUnicode_AsUTF8String(text);
    if (encoded == NULL) {
        return FALL_BACK; /* a lone surrogate; the error is cleared by build() */
    }
    int result = add_utf8(handle, PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded));
    Py_DECREF(encoded);
    return result;
}

/* Whether rego-cpp's builder keeps this number: it reads a double as its "%f" text (six decimals),
 * so 1e-7 becomes 0 and 89.22541915 becomes 89.225419 (engine._kept_by_builder, the same test). */
static int kept_by_builder(double d) {
    if (!isfinite(d)) {
        return 1; /* as before: not a JSON number, handed over as it always was */
    }
    char text[512]; /* "%f" of the largest double is 316 characters */
    int n = snprintf(text, sizeof text, "%f", d);
    if (n < 0 || n >= (int)sizeof text) {
        return 0;
    }
    return strtod(text, NULL) == d;
}

/* A value that is not a container (or a key): the call make_input's add() makes for it. */
static int add_scalar(void *handle, PyObject *v) {
    PyTypeObject *t = Py_TYPE(v);
    if (t == &PyUnicode_Type) {
        return add_string(handle, v);
    }
    if (t == &PyBool_Type) {
        return rego.boolean(handle, v == Py_True ? 1 : 0) ? FALL_BACK : OK;
    }
    if (t == &PyLong_Type) {
        int overflow = 0;
        long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || (n == -1 && PyErr_Occurred())) {
            return FALL_BACK;
        }
        return rego.integer(handle, (int64_t)n) ? FALL_BACK : OK;
    }
    if (t == &PyFloat_Type) {
        double d = PyFloat_AS_DOUBLE(v);
        if (!kept_by_builder(d)) {
            return FALL_BACK; /* engine.py gives such a document as exact JSON text instead */
        }
        return rego.real(handle, d) ? FALL_BACK : OK;
    }
    if (v == Py_None) {
        return rego.null(handle) ? FALL_BACK : OK;
    }
    return FALL_BACK;
}

static int walk(void *handle, PyObject *root) {
    PyTypeObject *t = Py_TYPE(root);
    if (t != &PyDict_Type && t != &PyList_Type) {
        return add_scalar(handle, root);
    }
    Py_ssize_t capacity = 16, depth = 0;
    Frame *stack = PyMem_Malloc(sizeof(Frame) * (size_t)capacity);
    if (stack == NULL) {
        return FALL_BACK;
    }
    int result = FALL_BACK;
    PyObject *next = root; /* a container to enter, or NULL */
    for (;;) {
        if (next != NULL) {
            if (depth == MAX_DEPTH) {
                goto done;
            }
            if (depth == capacity) {
                Py_ssize_t more = capacity * 2 > MAX_DEPTH ? MAX_DEPTH : capacity * 2;
                Frame *grown = PyMem_Realloc(stack, sizeof(Frame) * (size_t)more);
                if (grown == NULL) {
                    goto done;
                }
                stack = grown;
                capacity = more;
            }
            Frame *f = &stack[depth++];
            f->container = next;
            f->pos = 0;
            f->is_dict = Py_TYPE(next) == &PyDict_Type;
            f->size = f->is_dict ? PyDict_GET_SIZE(next) : PyList_GET_SIZE(next);
            if ((uint64_t)f->size > UINT32_MAX) {
                goto done;
            }
            next = NULL;
        }
        Frame *top = &stack[depth - 1];
        PyObject *value;
        int more;
        if (top->is_dict) {
            PyObject *key;
            more = PyDict_Next(top->container, &top->pos, &key, &value);
            if (more && add_scalar(handle, key) != OK) {
                goto done;
            }
        } else {
            more = top->pos < top->size;
            value = more ? PyList_GET_ITEM(top->container, top->pos++) : NULL;
        }
        if (more) {
            PyTypeObject *vt = Py_TYPE(value);
            if (vt == &PyDict_Type || vt == &PyList_Type) {
                next = value; /* entered on the next turn; its item() comes when it is closed */
                continue;
            }
            if (add_scalar(handle, value) != OK || (top->is_dict && rego.item(handle))) {
                goto done;
            }
            continue;
        }
        /* every child of top is on the builder's stack: close the container */
        uint32_t code = top->is_dict ? rego.object(handle, (uint32_t)top->size)
                                     : rego.array(handle, (uint32_t)top->size);
        if (code) {
            goto done;
        }
        depth--;
        if (depth == 0) {
            result = OK;
            goto done;
        }
        if (stack[depth - 1].is_dict && rego.item(handle)) { /* the closed value was a dict's */
            goto done;
        }
    }
done:
    PyMem_Free(stack);
    return result;
}

static PyObject *build(PyObject *module, PyObject *value) {
    (void)module;
    if (!rego.ready) {
        PyErr_SetString(PyExc_RuntimeError, "_rego_input.configure() was not called");
        return NULL;
    }
    void *handle = rego.new_input();
    if (handle == NULL) {
        Py_RETURN_NONE;
    }
    if (walk(handle, value) != OK) {
        PyErr_Clear();
        rego.free_input(handle);
        Py_RETURN_NONE;
    }
    PyObject *made = PyLong_FromVoidPtr(handle);
    if (made == NULL) { /* no memory for an int: no handle to leak */
        PyErr_Clear();
        rego.free_input(handle);
        Py_RETURN_NONE;
    }
    return made;
}

static PyObject *configure(PyObject *module, PyObject *args) {
    (void)module;
    unsigned long long a[10];
    if (!PyArg_ParseTuple(args, "KKKKKKKKKK:configure", &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &a[6],
                          &a[7], &a[8], &a[9])) {
        return NULL;
    }
    for (int i = 0; i < 10; i++) {
        if (a[i] == 0) {
            PyErr_SetString(PyExc_ValueError, "a function address is 0");
            return NULL;
        }
    }
    rego.new_input = (new_input_fn)(uintptr_t)a[0];
    rego.free_input = (free_input_fn)(uintptr_t)a[1];
    rego.string = (string_fn)(uintptr_t)a[2];
    rego.integer = (int_fn)(uintptr_t)a[3];
    rego.real = (float_fn)(uintptr_t)a[4];
    rego.boolean = (boolean_fn)(uintptr_t)a[5];
    rego.null = (null_fn)(uintptr_t)a[6];
    rego.item = (item_fn)(uintptr_t)a[7];
    rego.object = (count_fn)(uintptr_t)a[8];
    rego.array = (count_fn)(uintptr_t)a[9];
    rego.ready = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(regoNewInput, regoFreeInput, regoInputString, regoInputInt, regoInputFloat, "
     "regoInputBoolean, regoInputNull, regoInputObjectItem, regoInputObject, regoInputArray): "
     "the addresses of rego-cpp's input-builder functions (ints)."},
    {"build", build, METH_O,
     "build(value) -> int | None: a new regoInput handle holding value (the caller frees it with "
     "regoFreeInput), or None when value must be built the other way (see the module's source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_rego_input", "rego-cpp's input, built from a Python value in C.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__rego_input(void) {
    PyObject *m = PyModule_Create(&module_def);
    if (m != NULL && PyModule_AddIntConstant(m, "MAX_DEPTH", MAX_DEPTH) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
