# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""The compiled matching core: literal scan + candidate selection + 3-valued conditions.

The tables come from ``scenec.compiler.automaton`` (``ac_*``, ``sig_*``; layouts in that
module's docstring) and from the condition lowering (``anchor_*``, ``always``, ``prog*``;
``docs/internals.md``). They may come from an untrusted artifact, so ``Core.__cinit__``
validates every index once; the scan loops then run without bounds checks. Each invariant
the hot loops rely on is named next to the check that establishes it.

Per-message state (literal and scene "seen" stamps, hit and candidate lists) lives in a
``Scratch``. Stamps are 16-bit generation counters, so a message never clears anything
(all stamps are reset once every 65,535 messages). The single-message call uses one
scratch owned by the Core and keeps the GIL; batch calls take scratches from a small pool
(under the GIL) and give one to each OS thread, which runs without the GIL.

Besides the tables, the Core derives one thing at load: a *guard* per scene, a top-level
AND child of its program of the form ``LIT x`` or ``OR(LIT x, LIT y)`` that mentions none
of the scene's anchors (typically the sender constraint). Most candidates fail it, which
is decided from two stamps without reading the program (8 bytes per scene).
"""

from cpython.buffer cimport (PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBuffer_Release,
                             PyObject_GetBuffer)
from cpython.exc cimport PyErr_CheckSignals
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.long cimport PyLong_FromLong
from cpython.ref cimport Py_INCREF
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport calloc, free, malloc, qsort, realloc
from libc.string cimport memcmp, memcpy, memset

import sys
from operator import index as _index

cdef extern from *:
    """
    #define SCENEC_GOLDEN 0x9E3779B97F4A7C15ULL
    #define SCENEC_FNV_OFFSET 0xCBF29CE484222325ULL
    #define SCENEC_FNV_PRIME 0x100000001B3ULL
    static inline int scenec_unicode_ready(PyObject *o) {
    #if PY_VERSION_HEX < 0x030C0000
        return PyUnicode_READY(o);
    #else
        (void)o;
        return 0;
    #endif
    }
    """
    const uint64_t SCENEC_GOLDEN
    const uint64_t SCENEC_FNV_OFFSET
    const uint64_t SCENEC_FNV_PRIME
    void prefetch "__builtin_prefetch"(const void *p) noexcept nogil
    int scenec_unicode_ready(object o) except -1

cdef extern from "Python.h":
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    int PyUnicode_KIND(object o)
    const void *PyUnicode_DATA(object o)
    object PyUnicode_FromKindAndData(int kind, const void *buffer, Py_ssize_t size)
    object PyBytes_FromStringAndSize(const char *v, Py_ssize_t size)
    const char *PyBytes_AS_STRING(object o)
    Py_ssize_t PyBytes_GET_SIZE(object o)
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)
    object PyUnicode_Substring(object o, Py_ssize_t start, Py_ssize_t end)
    void PyObject_GC_UnTrack(object o)

cdef extern from *:
    """
    #include <structmember.h>
    /* Offset of a writable object slot (a __slots__ member descriptor), or -1. */
    static Py_ssize_t scenec_slot_offset(PyObject *d) {
        PyMemberDef *m;
        if (d == NULL || Py_TYPE(d) != &PyMemberDescr_Type) return -1;
        m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type != T_OBJECT_EX || (m->flags & READONLY)) return -1;
        return m->offset;
    }
    /* object.__new__(cls) for a plain slots class: its tp_alloc, without looking up and
       calling __new__ (set_result_class checked that cls is such a class). */
    static PyObject *scenec_alloc(PyObject *cls) {
        PyTypeObject *t = (PyTypeObject *)cls;
        return t->tp_alloc(t, 0);
    }
    /* What a slot store does, without the class's __setattr__ (Match is frozen). */
    static void scenec_set_slot(PyObject *o, Py_ssize_t off, PyObject *v) {
        PyObject **p = (PyObject **)((char *)o + off);
        PyObject *old = *p;
        Py_INCREF(v);
        *p = v;
        Py_XDECREF(old);
    }
    """
    Py_ssize_t scenec_slot_offset(object d)
    object scenec_alloc(object cls)
    void scenec_set_slot(object o, Py_ssize_t off, object v)
    long long PyLong_AsLongLongAndOverflow(object o, int *overflow) except? -1

ctypedef void *(*thread_fn)(void *) noexcept nogil

cdef extern from *:
    """
    static inline Py_ssize_t scenec_claim(Py_ssize_t *p) {
        return __atomic_fetch_add(p, 1, __ATOMIC_ACQ_REL);
    }
    static inline int scenec_is_done(const int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
    static inline void scenec_set_done(int *p) { __atomic_store_n(p, 1, __ATOMIC_RELEASE); }
    static inline Py_ssize_t scenec_exchange(Py_ssize_t *p, Py_ssize_t v) {
        return __atomic_exchange_n(p, v, __ATOMIC_ACQ_REL);
    }
    static inline void scenec_retain(int *p) { __atomic_add_fetch(p, 1, __ATOMIC_RELAXED); }
    static inline int scenec_release(int *p) {
        return __atomic_sub_fetch(p, 1, __ATOMIC_ACQ_REL) == 0;
    }
    """
    Py_ssize_t scenec_claim(Py_ssize_t *p) noexcept nogil
    int scenec_is_done(const int *p) noexcept nogil
    void scenec_set_done(int *p) noexcept nogil
    Py_ssize_t scenec_exchange(Py_ssize_t *p, Py_ssize_t v) noexcept nogil
    void scenec_retain(int *p) noexcept nogil
    bint scenec_release(int *p) noexcept nogil

cdef extern from "<sched.h>" nogil:
    int sched_yield()

cdef extern from *:
    """
    #if defined(__linux__)
    #include <sys/mman.h>
    #endif
    /* Memory for tables read at random (freed with free()): from `huge` bytes on, on
       Linux, aligned to 2 MB and advised for transparent huge pages, so the scan's
       lookups miss the TLB less; below, or elsewhere, plain malloc. */
    static void *scenec_hot_alloc(size_t n, size_t huge) {
    #if defined(__linux__) && defined(MADV_HUGEPAGE)
        if (n >= huge) {
            void *p = NULL;
            size_t align = (size_t)2 << 20, size = (n + align - 1) & ~(align - 1);
            if (posix_memalign(&p, align, size) != 0) return NULL;
            madvise(p, size, MADV_HUGEPAGE);
            return p;
        }
    #endif
        return malloc(n ? n : 1);
    }
    """
    void *scenec_hot_alloc(size_t n, size_t huge) noexcept nogil

cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t  # opaque to us: only stored and passed back
    int pthread_create(pthread_t *thread, const void *attr, thread_fn start, void *arg)
    int pthread_detach(pthread_t thread)

# Limits the validator enforces and the hot loops rely on.
cdef enum:
    STACK_MAX = 256      # program stack depth (internals.md)
    MAX_THREADS = 64     # batch threads per call
    POOL_MAX = 8         # idle scratches kept for batch calls
    HUGE_MIN = 1 << 20   # from this size on, hot tables and scratch ask for huge pages
    CHUNK = 8            # messages per unit of work in a pipelined batch (BENCHMARKS.md)
    SENDER_BATCH = 16    # sender lookups prepared before they are probed (Matcher.many)
    SIG_PENDING = 4      # 【…】 segments per message whose lookup waits for the scan's end
    MAX_OUT_CHAIN = 4096  # literals ending at one state (a real build's: under 2,000)
    MAX_SIG_RUN = 4096   # consecutive full slots of the signature table (a real one's: ~12)
    NTABLES = 14

# Index of each table in Core.bufs / Core.ptr / Core.length (same order as _TABLES).
cdef enum:
    K_BMP, K_ASTRAL, K_ROOT, K_NODE, K_OUT, K_SIG_SLOTS, K_SIG_OFF, K_SIG_CHARS, K_SIG_LIT
    K_ANCHOR_START, K_ANCHOR_SCENES, K_ALWAYS, K_PROG_START, K_PROG

cdef enum:
    OP_LIT = 0
    OP_TRUE = 1
    OP_FALSE = 2
    OP_UNKNOWN = 3
    OP_NOT = 4
    OP_AND = 5
    OP_OR = 6

# Three-valued logic as "may be" bit sets: bit 0 = may be false, bit 1 = may be true.
# F = 1, T = 2, U = 3. AND/OR/NOT become branch-free bit operations.
cdef enum:
    V_F = 1
    V_T = 2
    V_U = 3

# Table slots: (name, width in bits). The order is the index into Core.bufs.
_TABLES = (
    ("ac_class_bmp", 32), ("ac_class_astral", 32), ("ac_root", 32), ("ac_node", 32),
    ("ac_out", 32), ("sig_slots", 32), ("sig_off", 32), ("sig_chars", 32),
    ("sig_lit", 32), ("anchor_start", 32), ("anchor_scenes", 32), ("always", 32),
    ("prog_start", 32), ("prog", 32),
)

ctypedef struct Tables:
    const int32_t *cls_bmp       # [65536] class of fold_cp(cp), derived at load (fold_bmp)
    const int32_t *astral        # [2 * n_astral] sorted (cp, class)
    Py_ssize_t n_astral
    const int32_t *root          # [nclasses], values < nstates
    const int32_t *node          # [4 * nstates]: check, base (-1 or <= nstates - nclasses),
                                 # fail (< nstates, acyclic), out (-nlits..n_out-1)
    const uint32_t *kids         # [nstates], derived at load: see derive_kids
    const int32_t *out           # [2 * n_out]: literal id, next entry (< n_out, acyclic)
    int32_t nstates              # positions of the double array
    int32_t nclasses
    int32_t n_out
    const int32_t *sig_slots     # [sig_mask + 1]: -1 or signature index
    const int32_t *sig_off       # [nsig + 1] monotonic, within sig_chars
    const int32_t *sig_chars
    const int32_t *sig_lit       # [nsig], literal ids
    uint64_t sig_mask
    int sig_shift
    const int32_t *anchor_start  # [nlits + 1] monotonic, within anchor_scenes
    const int32_t *anchor_scenes # scene ids
    const int32_t *always        # [n_always] scene ids
    Py_ssize_t n_always
    const int32_t *prog_start    # [nscenes + 1] monotonic, within prog
    const int32_t *prog          # validated programs
    const int32_t *guard         # [2 * nscenes], derived at load: see derive_guards
    const int32_t *anchored      # [3 * len(anchor_scenes)]: each entry's (scene, guard),
                                 # derived at load, so a guard is tested where it is read
    int32_t nlits
    int32_t nscenes
    Py_ssize_t cand_cap          # n_always + len(anchor_scenes) + 1 (>= nscenes + 1)

ctypedef struct Scratch:
    char *block                  # the four arrays below, in one allocation (owned)
    uint16_t gen                 # current message's stamp value (never 0)
    uint16_t *lit_stamp          # [nlits]: == gen iff the literal was hit
    uint16_t *scene_stamp        # [nscenes]: == gen iff the scene is a candidate
    int32_t *hits                # [nlits] distinct hits, in hit order
    int32_t *cands               # [cand_cap] candidates, then the encoded results

ctypedef struct Msg:
    const void *data
    Py_ssize_t length
    int kind
    int32_t sender
    int32_t also       # a DLT sender's header's literal id, or -1

ctypedef struct Work:
    const Tables *T
    Scratch *S
    const Msg *msgs
    Py_ssize_t lo
    Py_ssize_t hi
    int32_t *counts              # results per message (shared array, own range only)
    int32_t *res                 # this worker's results, concatenated
    Py_ssize_t res_len
    Py_ssize_t res_cap
    int failed

ctypedef struct Pipe:          # a pipelined batch (see Core._many); on the heap
    Work *works                  # one per chunk of CHUNK messages
    int *done                    # per chunk: set (release) once scanned
    Py_ssize_t nchunks
    Py_ssize_t next              # next unclaimed chunk (atomic)
    int refs                     # the call and each started helper (atomic): the last frees
    void *crew                   # the helpers' Helper records, freed with the pipe

ctypedef struct Helper:          # a helper thread's view of the pipe
    Pipe *P
    Scratch *S

ctypedef fused char_t:
    uint8_t
    uint16_t
    uint32_t


# --------------------------------------------------------------------------- hot path

cdef inline uint32_t fold_cp(uint32_t cp) noexcept nogil:
    """internals.md folding: full-width ASCII -> ASCII, U+3000 -> space, surrogate -> FFFD."""
    if <uint32_t>(cp - 0xFF01) < 0x5E:
        return cp - 0xFEE0
    if cp == 0x3000:
        return 0x20
    if <uint32_t>(cp - 0xD800) < 0x800:
        return 0xFFFD
    return cp


cdef void fold_bmp(const int32_t *bmp, int32_t *out) noexcept nogil:
    """out[cp] = bmp[fold_cp(cp)]: folding the table once at load takes three tests
    per character out of the scan (a fifth of its instructions)."""
    cdef uint32_t cp
    for cp in range(65536):
        out[cp] = bmp[fold_cp(cp)]


cdef inline int32_t astral_class(const Tables *T, uint32_t cp) noexcept nogil:
    """Binary search of the sorted astral pairs; astral text is rare, so no dense table."""
    cdef Py_ssize_t lo = 0, hi = T.n_astral, mid
    cdef uint32_t key
    while lo < hi:
        mid = (lo + hi) >> 1
        key = <uint32_t>T.astral[2 * mid]
        if key == cp:
            return T.astral[2 * mid + 1]
        if key < cp:
            lo = mid + 1
        else:
            hi = mid
    return 0


cdef inline int32_t ac_step(const Tables *T, int32_t s, int32_t c) noexcept nogil:
    """One Aho–Corasick transition in the double array; failure links until the root.

    A hit costs one load (the target's record, needed next anyway). Safe because every
    base is -1 or <= nstates - nclasses (so base + c is a valid position), failure links
    are in range and acyclic (the loop reaches 0), and root targets are in range.

    Most steps leave a state that has no child for `c` (a literal's next character
    rarely follows). The target's record is a random load, in a large automaton a cache
    miss; `kids` (4 bytes a state, hot states in L1) rules most of those out first.

    The common step is the same for every character: the state (the root, or a child of
    the root, whose failure link is the root) has no child for `c`, and the step ends at
    `root[c]`, which depends on the character only. Its branches are predicted, so the
    next step starts before this one's loads arrive. There is no branch on class 0 (a
    character in no literal, root[0] == 0) or on being at the root (kids[0] == 0 as the
    root's base is -1, and its failure link is 0, checked at load): such characters come
    at random in real text, and those branches were mispredicted (BENCHMARKS.md, session
    13). A crafted root with a base of its own only takes those transitions as well.
    """
    cdef const int32_t *r
    cdef int32_t t
    while True:
        r = T.node + 4 * s
        if (T.kids[s] >> (c & 31)) & 1:     # set only where base >= 0 (derive_kids)
            t = r[1] + c
            if T.node[4 * t] == s:
                return t
        s = r[2]
        if s == 0:
            return T.root[c]


cdef inline Py_ssize_t mark(Scratch *S, int32_t lit, Py_ssize_t nh) noexcept nogil:
    """Record a literal hit once per message (the stamp dedupes, so nh <= nlits)."""
    if S.lit_stamp[lit] != S.gen:
        S.lit_stamp[lit] = S.gen
        S.hits[nh] = lit
        nh += 1
    return nh


cdef inline Py_ssize_t report(const Tables *T, Scratch *S, int32_t e,
                              Py_ssize_t nh) noexcept nogil:
    """Report the output chain starting at ac_out entry e (acyclic, ends at 0)."""
    while e != 0:
        nh = mark(S, T.out[2 * e], nh)
        e = T.out[2 * e + 1]
    return nh


cdef inline uint64_t sig_hash(const Tables *T, const char_t *p, Py_ssize_t a,
                              Py_ssize_t b) noexcept nogil:
    """The signature table's slot for the folded segment p[a:b] (inside 【】)."""
    cdef uint64_t h = SCENEC_FNV_OFFSET
    cdef Py_ssize_t i
    for i in range(a, b):
        h = (h ^ fold_cp(p[i])) * SCENEC_FNV_PRIME
    return (h * SCENEC_GOLDEN) >> T.sig_shift


cdef inline Py_ssize_t sig_probe(const Tables *T, Scratch *S, const char_t *p, Py_ssize_t a,
                                 Py_ssize_t b, uint64_t h, Py_ssize_t nh) noexcept nogil:
    """Look the folded segment p[a:b] up in the signature hash set from slot h."""
    cdef Py_ssize_t i, o, n = b - a
    cdef int32_t k
    while True:
        k = T.sig_slots[h]
        if k < 0:
            return nh
        o = T.sig_off[k]
        if T.sig_off[k + 1] - o == n:
            i = 0
            while i < n and <uint32_t>T.sig_chars[o + i] == fold_cp(p[a + i]):
                i += 1
            if i == n:
                return mark(S, T.sig_lit[k], nh)
        h = (h + 1) & T.sig_mask


cdef Py_ssize_t scan_text(const Tables *T, Scratch *S, const char_t *p, Py_ssize_t n,
                          Py_ssize_t nh) noexcept nogil:
    """Scan one PEP 393 buffer: classify, step the automaton, report, find 【…】.

    The class table is folded (fold_bmp), so the text is not. Latin-1 text (kind 1)
    cannot contain 【 or 】. A signature is hashed at its 】 and its slot prefetched, but
    looked up (three dependent loads in tables of ~1 MB at 100,000 scenes) only after the
    scan, so that the misses overlap the scan instead of stalling it; hit order does not
    matter (candidates are deduplicated and results sorted).
    """
    cdef int32_t s = 0, c, e
    cdef uint32_t cp
    cdef Py_ssize_t i, seg = -1, k, npend = 0
    cdef Py_ssize_t pend[2 * SIG_PENDING]
    cdef uint64_t slot[SIG_PENDING]
    for i in range(n):
        cp = p[i]
        if char_t is uint8_t:
            c = T.cls_bmp[cp]
        else:
            if <uint32_t>(cp - 0x3010) < 2:  # 【 】: no other code point folds to them
                if cp == 0x3010:
                    seg = i + 1
                elif seg >= 0:
                    if npend < SIG_PENDING:   # probe after the scan, its slot loaded by then
                        slot[npend] = sig_hash(T, p, seg, i)
                        prefetch(&T.sig_slots[slot[npend]])
                        pend[2 * npend], pend[2 * npend + 1] = seg, i
                        npend += 1
                    else:
                        nh = sig_probe(T, S, p, seg, i, sig_hash(T, p, seg, i), nh)
                    seg = -1
            if char_t is uint16_t:
                c = T.cls_bmp[cp]
            elif cp < 0x10000:
                c = T.cls_bmp[cp]
            else:
                c = astral_class(T, cp)      # (astral code points do not fold)
        s = ac_step(T, s, c)
        e = T.node[4 * s + 3]
        if e < 0:
            nh = mark(S, -e - 1, nh)         # exactly one literal ends here
        elif e > 0:
            nh = report(T, S, e, nh)
    for k in range(npend):
        nh = sig_probe(T, S, p, pend[2 * k], pend[2 * k + 1], slot[k], nh)
    return nh


cdef inline Py_ssize_t eval_lits(const int32_t *prog, Py_ssize_t pc, Py_ssize_t end,
                                 const uint16_t *stamp, uint16_t gen, uint8_t *st,
                                 int *sp) noexcept nogil:
    """A run of OP_LITs from pc, and the OP_AND/OP_OR right after it, if any (its m
    operands are the top m values: the run's last min(m, r) literals and m - r values
    below them); returns the next pc. The operator's literals are counted in one loop
    (hits among them, without a branch on each) and combined with its other operands
    there; literals before them, or a run followed by anything else, are pushed one by
    one. An `any(word set)` of a thousand literals took a push, a pop and two branches a
    literal, now a load and a compare. Literals are V_T or V_F only, so "some hit" and
    "every one hit" are exactly what the operator makes of them."""
    cdef Py_ssize_t q = pc, m = 0, f
    cdef int32_t op = OP_LIT
    cdef uint32_t hits = 0
    cdef uint8_t a, b, x
    while q < end and prog[q] == OP_LIT:
        q += 2
    if q < end:
        op = prog[q]
        if op == OP_AND or op == OP_OR:
            m = prog[q + 1]
    f = m if 2 * m <= q - pc else (q - pc) >> 1   # the operator's literals (0: none)
    while pc < q - 2 * f:
        st[sp[0]] = V_T if stamp[prog[pc + 1]] == gen else V_F
        sp[0] += 1
        pc += 2
    if f == 0:
        return q
    while pc < q:
        hits += stamp[prog[pc + 1]] == gen
        pc += 2
    if op == OP_OR:
        a, b = (V_T if hits else 0), (V_F if hits == 0 else 0)
        while m > f:                           # its operands below the run
            sp[0] -= 1
            m -= 1
            x = st[sp[0]]
            a |= x; b &= x
    else:
        a, b = (V_T if hits == <uint32_t>f else 0), (V_F if hits != <uint32_t>f else 0)
        while m > f:
            sp[0] -= 1
            m -= 1
            x = st[sp[0]]
            a &= x; b |= x
    st[sp[0]] = (a & V_T) | (b & V_F)
    sp[0] += 1
    return q + 2


cdef inline int eval_prog(const int32_t *prog, Py_ssize_t pc, Py_ssize_t end,
                          const uint16_t *stamp, uint16_t gen) noexcept nogil:
    """Run one validated postfix program; returns V_F, V_T or V_U.

    The validator guarantees known opcodes, operands in range, no underflow, depth <=
    STACK_MAX and exactly one value left, so the stack needs no checks here.
    """
    cdef uint8_t st[STACK_MAX + 1]
    cdef int sp = 0, k
    cdef int32_t op
    cdef uint8_t a, b, v
    while pc < end:
        op = prog[pc]
        if op == OP_LIT:
            pc = eval_lits(prog, pc, end, stamp, gen, st, &sp)
        elif op == OP_AND or op == OP_OR:
            k = sp - prog[pc + 1]
            if op == OP_AND:
                a = V_T; b = 0          # may be true: all; may be false: any
                while sp > k:
                    sp -= 1
                    a &= st[sp]; b |= st[sp]
            else:
                a = 0; b = V_F          # may be true: any; may be false: all
                while sp > k:
                    sp -= 1
                    a |= st[sp]; b &= st[sp]
            st[sp] = (a & V_T) | (b & V_F)
            sp += 1
            pc += 2
        elif op == OP_NOT:
            v = st[sp - 1]
            st[sp - 1] = ((v & 1) << 1) | (v >> 1)
            pc += 1
        else:
            st[sp] = V_T if op == OP_TRUE else (V_F if op == OP_FALSE else V_U)
            sp += 1
            pc += 1
    return st[0]


cdef int cmp_int32(const void *a, const void *b) noexcept nogil:
    cdef int32_t x = (<const int32_t *>a)[0], y = (<const int32_t *>b)[0]
    return (x > y) - (x < y)


cdef inline void sort_int32(int32_t *v, Py_ssize_t n) noexcept nogil:
    """Results are few (about one per message): insertion sort, qsort if many."""
    cdef Py_ssize_t i, j
    cdef int32_t x
    if n > 32:
        qsort(v, n, sizeof(int32_t), cmp_int32)
        return
    for i in range(1, n):
        x = v[i]
        j = i
        while j > 0 and v[j - 1] > x:
            v[j] = v[j - 1]
            j -= 1
        v[j] = x


cdef inline bint guard_passes(const Scratch *S, const int32_t *g) noexcept nogil:
    """Whether the guard g[0], g[1] (a top-level AND child LIT x / OR(LIT x, LIT y), -1
    for none) may hold: no guard, or one of its literals was hit. Without branches: most
    of a message's anchor entries are dropped by their guard, at random, so a branch on
    it was mispredicted about as often as an entry survives (BENCHMARKS.md, session 18).
    Both stamps are read (literal 0's in place of a missing one)."""
    cdef int32_t x = g[0], y = g[1]
    cdef bint p = (x < 0) | (S.lit_stamp[x if x >= 0 else 0] == S.gen)
    return p | ((y >= 0) & (S.lit_stamp[y if y >= 0 else 0] == S.gen))


cdef Py_ssize_t select_and_eval(const Tables *T, Scratch *S, Py_ssize_t nh) noexcept nogil:
    """Gather anchored + always scenes, evaluate them, leave sorted results in S.cands.

    Gathering drops the scenes whose guard fails (most of them: at 100,000 scenes 50 of
    the 54 an average message wakes), reading each guard beside the scene id in the
    anchor list, so a dropped scene costs no scattered load. Everything a survivor
    touches is scattered over large tables, so each later phase first issues all its
    loads (prefetches) and then uses them, letting the cache misses overlap instead of
    running one after another: gather (at most n_always + len(anchor_scenes) entries,
    the size of S.cands), dedupe with the scene stamps, then run the programs.
    """
    cdef Py_ssize_t i, j, nc = 0, nres = 0
    cdef int32_t lit, sc
    cdef int v
    cdef const int32_t *a
    cdef const int32_t *e
    # Every entry read is written at S.cands[nc] and kept by advancing nc: nc never
    # exceeds the entries read so far, fewer than cand_cap.
    for i in range(T.n_always):
        sc = T.always[i]
        S.cands[nc] = sc
        nc += guard_passes(S, T.guard + 2 * sc)
    for i in range(nh):                  # each hit's list: two dependent scattered loads
        prefetch(&T.anchor_start[S.hits[i]])
    for i in range(nh):
        prefetch(T.anchored + 3 * T.anchor_start[S.hits[i]])
    for i in range(nh):
        lit = S.hits[i]
        a = T.anchored + 3 * T.anchor_start[lit]
        e = T.anchored + 3 * T.anchor_start[lit + 1]
        while a < e:
            S.cands[nc] = a[0]
            nc += guard_passes(S, a + 1)
            a += 3
    for i in range(nc):                  # the survivors' stamps: scattered words
        prefetch(&S.scene_stamp[S.cands[i]])
    j = 0
    for i in range(nc):
        sc = S.cands[i]
        if S.scene_stamp[sc] != S.gen:
            S.scene_stamp[sc] = S.gen
            S.cands[j] = sc
            j += 1
    nc = j
    for i in range(nc):
        prefetch(&T.prog_start[S.cands[i]])
    for i in range(nc):
        prefetch(&T.prog[T.prog_start[S.cands[i]]])
    for i in range(nc):
        sc = S.cands[i]
        v = eval_prog(T.prog, T.prog_start[sc], T.prog_start[sc + 1], S.lit_stamp, S.gen)
        S.cands[nres] = sc * 2 + (v == V_U)   # nres <= i: slot i was read already
        nres += (v != V_F)
    sort_int32(S.cands, nres)
    return nres


cdef Py_ssize_t run_message(const Tables *T, Scratch *S, const void *data, int kind,
                            Py_ssize_t n, int32_t sender, int32_t also,
                            const SenderKey *key) noexcept nogil:
    """Whole pipeline for one message; returns the number of results in S.cands. The
    sender is a literal id (or -1), or `key`, probed after the scan (see _senders.pxi);
    `also`, a DLT sender's header's literal id (or -1), hits as well."""
    cdef Py_ssize_t nh = 0
    S.gen += 1
    if S.gen == 0:                       # wrapped after 65535 messages: reset the stamps
        memset(S.lit_stamp, 0, sizeof(uint16_t) * T.nlits)
        memset(S.scene_stamp, 0, sizeof(uint16_t) * T.nscenes)
        S.gen = 1
    if sender >= 0:
        nh = mark(S, sender, nh)
    if also >= 0:
        nh = mark(S, also, nh)
    if kind == 1:
        nh = scan_text(T, S, <const uint8_t *>data, n, nh)
    elif kind == 2:
        nh = scan_text(T, S, <const uint16_t *>data, n, nh)
    else:
        nh = scan_text(T, S, <const uint32_t *>data, n, nh)
    if key != NULL and key.slots != NULL:
        sender = sender_probe(key)       # < nlits: checked when the Matcher was made
        if sender >= 0:
            nh = mark(S, sender, nh)
    return select_and_eval(T, S, nh)


# ---------------------------------------------------------------------- scratch, batch

cdef void scratch_free(Scratch *S) noexcept nogil:
    if S != NULL:
        free(S.block)
        free(S)


cdef inline size_t padded(size_t nbytes) noexcept nogil:
    return (nbytes + 63) & ~(<size_t>63)


cdef Scratch *scratch_new(const Tables *T) noexcept nogil:
    """Allocate scratch sized for the worst case (every literal, every anchor), stamps
    zeroed, in one block (a huge-page one when large, like the tables' arena)."""
    cdef Scratch *S = <Scratch *>calloc(1, sizeof(Scratch))
    cdef size_t nl = <size_t>T.nlits + 1, ns = <size_t>T.nscenes + 1
    cdef size_t a = padded(nl * sizeof(uint16_t)), b = padded(ns * sizeof(uint16_t))
    cdef size_t c = padded(nl * sizeof(int32_t)), d = padded(<size_t>T.cand_cap * sizeof(int32_t))
    if S == NULL:
        return NULL
    S.block = <char *>scenec_hot_alloc(a + b + c + d, HUGE_MIN)
    if S.block == NULL:
        free(S)
        return NULL
    memset(S.block, 0, a + b)
    S.lit_stamp = <uint16_t *>S.block
    S.scene_stamp = <uint16_t *>(S.block + a)
    S.hits = <int32_t *>(S.block + a + b)
    S.cands = <int32_t *>(S.block + a + b + c)
    return S


cdef void *work_run(void *arg) noexcept nogil:
    """Thread body: run a contiguous range of messages, appending results to W.res."""
    cdef Work *W = <Work *>arg
    cdef Py_ssize_t i, k, cap
    cdef int32_t *grown
    cdef const Msg *m
    for i in range(W.lo, W.hi):
        m = &W.msgs[i]
        k = run_message(W.T, W.S, m.data, m.kind, m.length, m.sender, m.also, NULL)
        if W.res_len + k > W.res_cap:
            cap = 2 * (W.res_len + k) + 64
            grown = <int32_t *>realloc(W.res, <size_t>cap * sizeof(int32_t))
            if grown == NULL:
                W.failed = 1
                return NULL
            W.res = grown
            W.res_cap = cap
        memcpy(W.res + W.res_len, W.S.cands, <size_t>k * sizeof(int32_t))
        W.res_len += k
        W.counts[i] = <int32_t>k
    return NULL


cdef bint scan_chunk(Pipe *P, Scratch *S) noexcept nogil:
    """Claim the next unscanned chunk and scan it with S; False when none is left."""
    cdef Py_ssize_t j = scenec_claim(&P.next)
    if j >= P.nchunks:
        return False
    P.works[j].S = S
    work_run(&P.works[j])
    scenec_set_done(&P.done[j])
    return True


cdef void pipe_release(Pipe *P) noexcept nogil:
    if scenec_release(&P.refs):
        free(P.crew)
        free(P)


cdef void *helper_run(void *arg) noexcept nogil:
    """A detached helper: scans chunks until none is left, then lets go of the pipe. Once
    every chunk is done it reads nothing but the pipe's counters and its own record, so
    the call returns without waiting for it (see Core._many)."""
    cdef Helper *H = <Helper *>arg
    cdef Pipe *P = H.P
    while scan_chunk(P, H.S):
        pass
    pipe_release(P)
    return NULL


cdef list int_list(const int32_t *v, Py_ssize_t n):
    """A list of Python ints from a C array (PyList_SET_ITEM steals the reference)."""
    cdef list out = PyList_New(n)
    cdef Py_ssize_t i
    cdef object item
    for i in range(n):
        item = PyLong_FromLong(v[i])
        Py_INCREF(item)
        PyList_SET_ITEM(out, i, item)
    return out


cdef inline uint32_t _read(const void *data, int kind, Py_ssize_t i) noexcept nogil:
    """Code point i of a kind-2 or kind-4 PEP 393 buffer."""
    if kind == 2:
        return (<const uint16_t *>data)[i]
    return (<const uint32_t *>data)[i]


cdef bytes folded_utf8(str text):
    """``fold(text)`` as UTF-8 in one pass. Folding turns surrogates into U+FFFD, so the
    result is always valid UTF-8; usual SMS lengths are encoded in a stack buffer."""
    cdef Py_ssize_t i, j = 0, n
    cdef int kind
    cdef const void *data
    cdef uint32_t cp
    cdef uint8_t small[1024]
    cdef uint8_t *buf = small
    scenec_unicode_ready(text)
    kind = PyUnicode_KIND(text)
    data = PyUnicode_DATA(text)
    n = PyUnicode_GET_LENGTH(text)
    if 4 * n > 1024:
        buf = <uint8_t *>malloc(<size_t>(4 * n))
        if buf == NULL:
            raise MemoryError()
    try:
        for i in range(n):
            if kind == 1:
                cp = (<const uint8_t *>data)[i]  # Latin-1 holds nothing that folds
            elif kind == 2:
                cp = fold_cp((<const uint16_t *>data)[i])
            else:
                cp = fold_cp((<const uint32_t *>data)[i])
            if cp < 0x80:
                buf[j] = <uint8_t>cp
                j += 1
            elif cp < 0x800:
                buf[j] = <uint8_t>(0xC0 | (cp >> 6))
                buf[j + 1] = <uint8_t>(0x80 | (cp & 0x3F))
                j += 2
            elif cp < 0x10000:
                buf[j] = <uint8_t>(0xE0 | (cp >> 12))
                buf[j + 1] = <uint8_t>(0x80 | ((cp >> 6) & 0x3F))
                buf[j + 2] = <uint8_t>(0x80 | (cp & 0x3F))
                j += 3
            else:
                buf[j] = <uint8_t>(0xF0 | (cp >> 18))
                buf[j + 1] = <uint8_t>(0x80 | ((cp >> 12) & 0x3F))
                buf[j + 2] = <uint8_t>(0x80 | ((cp >> 6) & 0x3F))
                buf[j + 3] = <uint8_t>(0x80 | (cp & 0x3F))
                j += 4
        return PyBytes_FromStringAndSize(<const char *>buf, j)
    finally:
        if buf != small:
            free(buf)


cdef inline bint is_ws(uint8_t c) noexcept nogil:
    return c == 0x20 or c == 0x09 or c == 0x0A or c == 0x0D


def json_values(const uint8_t[::1] body):
    """How many values the JSON text `body` holds, at most: its `[`, `{`, `,` and `:`
    outside strings, plus one. Each becomes a Python object of ~30-100 bytes when parsed,
    so a crafted section of `[[],[],…]` grows about 27 times in memory (a 30 MB artifact
    took 820 MB); counting first bounds that before anything is parsed."""
    cdef Py_ssize_t i, n = body.shape[0], count = 1
    cdef int in_str = 0, esc = 0
    cdef uint8_t c
    for i in range(n):
        c = body[i]
        if in_str:
            if esc:
                esc = 0
            elif c == 0x5C:
                esc = 1
            elif c == 0x22:
                in_str = 0
        elif c == 0x22:
            in_str = 1
        elif c == 0x5B or c == 0x7B or c == 0x2C or c == 0x3A:  # [ { , :
            count += 1
    return count


def json_array_items(const uint8_t[::1] body, Py_ssize_t max_values=-1):
    """Byte offsets ``[start0, end0, start1, end1, …]`` of the top-level elements of the
    JSON array in `body`, found by one pass that tracks strings, escapes and nesting.

    The runtime parses the large ``scenes`` section one record at a time, on first use,
    instead of building 100k dicts at load (seconds and hundreds of MB at 100k scenes).
    Raises ValueError when `body` is not one array whose elements are all objects
    (``{…}``) separated by commas, or (when `max_values` >= 0) when an element holds more
    values than that (counted as `json_values` counts, so that parsing one record cannot
    take more memory than a built record could); the content of each object is checked
    by the JSON parser when it is used.
    """
    cdef Py_ssize_t i = 0, n = body.shape[0], start, end, values
    cdef int depth, in_str, esc
    cdef uint8_t c
    out = []
    while i < n and is_ws(body[i]):
        i += 1
    if i >= n or body[i] != 0x5B:
        raise ValueError("not a JSON array")
    i += 1
    while i < n and is_ws(body[i]):
        i += 1
    if i < n and body[i] == 0x5D:
        i += 1
    else:
        while True:
            while i < n and is_ws(body[i]):
                i += 1
            if i >= n or body[i] != 0x7B:
                raise ValueError(f"element {len(out) // 2} is not an object")
            start = i
            depth = in_str = esc = 0
            values = 1
            while i < n:
                c = body[i]
                if in_str:
                    if esc:
                        esc = 0
                    elif c == 0x5C:          # backslash
                        esc = 1
                    elif c == 0x22:          # quote
                        in_str = 0
                elif c == 0x22:
                    in_str = 1
                elif c == 0x7B or c == 0x5B:  # { [
                    depth += 1
                    values += 1
                elif c == 0x2C or c == 0x3A:  # , :
                    values += 1
                elif c == 0x7D or c == 0x5D:  # } ]
                    depth -= 1
                    if depth < 0:
                        raise ValueError("unbalanced brackets")
                    if depth == 0:
                        i += 1
                        break
                i += 1
            else:
                raise ValueError("truncated array")
            if 0 <= max_values < values:
                raise ValueError(f"element {len(out) // 2} holds more than {max_values} "
                                 "JSON values")
            end = i
            out.append(start)
            out.append(end)
            while i < n and is_ws(body[i]):
                i += 1
            if i < n and body[i] == 0x2C:
                i += 1
                continue
            if i < n and body[i] == 0x5D:
                i += 1
                break
            raise ValueError("expected ',' or ']' after an element")
    while i < n and is_ws(body[i]):
        i += 1
    if i != n:
        raise ValueError("data after the array")
    return out


include "_regex.pxi"
include "_senders.pxi"


# Result objects built here: the class (runtime.match.Match, a frozen slots dataclass)
# and the offsets of its ten slots, learnt once by set_result_class.
cdef object RESULT_CLS = None
cdef Py_ssize_t RESULT_OFF[10]


def set_result_class(cls, names):
    """Learn where `cls` keeps its ten fields (`names`, in constructor order) so that
    `Quick` can fill a new instance directly, as slot stores do. Returns False, and
    `Quick` cannot be used, when a field is not a plain writable object slot."""
    global RESULT_CLS
    cdef Py_ssize_t offs[10]
    cdef int i
    names = tuple(names)
    if not isinstance(cls, type) or len(names) != 10 or cls.__new__ is not object.__new__ \
            or getattr(cls, "__abstractmethods__", None):
        return False
    for i in range(10):
        offs[i] = scenec_slot_offset(cls.__dict__.get(names[i]))
        if offs[i] < 0:
            return False
    for i in range(10):
        RESULT_OFF[i] = offs[i]
    RESULT_CLS = cls
    return True


def untrack_results(list out not None):
    """Take a result list and its Match objects out of the cycle collector's view (what
    the compiled finishing does to its own results) and return the list.

    Results hold only strings, numbers, frozen `Action`s of strings, and tuples and dicts
    of those, so they cannot be part of a cycle unless a caller builds one; CPython treats
    its own tuples of atoms the same way. A service that keeps many results would
    otherwise pay for collections that walk all of them: about a sixth of a match when
    every result is kept.
    """
    PyObject_GC_UnTrack(out)
    for m in out:
        if type(m) is RESULT_CLS:
            PyObject_GC_UnTrack(m)
    return out


cdef class Quick:
    """A scene's finishing when the core decided it and it only extracts (see
    `evaluate.SceneRunner._quick`; `SceneRunner.run` takes the same steps): run each
    extractor (a `Regex` on the text itself, or RE2's `Match` on the folded UTF-8), keep
    the group's text (through the kind's normaliser, if any) and build the result without
    Python frames. The result's fields and the first extractor are held directly, not in
    tuples: with 100,000 scenes each one is rarely in the cache, and every hop is a miss.
    """

    cdef object scene, name, category, priority, enterprise, tags, meta
    cdef object name0, norm0, matcher0   # the first extractor, if any
    cdef Py_ssize_t group0
    cdef tuple rest                      # the others: (field name, normaliser, matcher, group)
    cdef readonly bint needs_enc         # some extractor runs on RE2, which needs the UTF-8
                                         # (all of them may, on a long text)

    def __init__(self, tuple head not None, tags, meta, tuple extracts not None, anchor):
        if RESULT_CLS is None:
            raise TypeError("set_result_class has not succeeded")
        if len(head) != 5:
            raise ValueError("head: scene, name, category, priority, enterprise")
        for ex in extracts:
            if not (isinstance(ex, tuple) and len(ex) == 4 and isinstance(ex[0], str)
                    and isinstance(ex[3], int)
                    and (type(ex[2]) is Regex or callable(ex[2]) and anchor is not None)):
                raise ValueError(f"bad extract {ex!r}")
            if type(ex[2]) is not Regex:
                self.needs_enc = True
        self.scene, self.name, self.category, self.priority, self.enterprise = head
        self.tags, self.meta = tags, meta
        if extracts:
            self.name0, self.norm0, self.matcher0, self.group0 = extracts[0]
            if type(self.matcher0) is not Regex:   # RE2: bind its anchor once
                self.matcher0 = (self.matcher0, anchor)
        self.rest = tuple((n, f, m if type(m) is Regex else (m, anchor), g)
                          for n, f, m, g in extracts[1:])

    def __call__(self, str text not None, enc=None):
        """The Match for `text`; `enc`, the folded UTF-8, is computed when needed and
        not given."""
        if enc is None and (self.needs_enc or PyUnicode_GET_LENGTH(text) > RX_LONG_TEXT):
            enc = folded_utf8(text)
        return self.run(text, enc)

    cdef object run(self, str text, bytes enc):
        cdef dict fields = {}
        cdef tuple ex
        # The result will reference these; with many scenes they are rarely cached, so
        # start loading them now, while the extractors run.
        prefetch(<void *>self.scene)
        prefetch(<void *>self.name)
        prefetch(<void *>self.enterprise)
        prefetch(<void *>self.meta)
        if self.name0 is not None:
            self.extract(self.name0, self.norm0, self.matcher0, self.group0, text, enc, fields)
            for ex in self.rest:
                self.extract(ex[0], ex[1], ex[2], ex[3], text, enc, fields)
        m = scenec_alloc(RESULT_CLS)
        scenec_set_slot(m, RESULT_OFF[0], self.scene)
        scenec_set_slot(m, RESULT_OFF[1], self.name)
        scenec_set_slot(m, RESULT_OFF[2], self.category)
        scenec_set_slot(m, RESULT_OFF[3], self.priority)
        scenec_set_slot(m, RESULT_OFF[4], self.enterprise)
        scenec_set_slot(m, RESULT_OFF[5], fields)
        scenec_set_slot(m, RESULT_OFF[6], ())
        scenec_set_slot(m, RESULT_OFF[7], ())
        scenec_set_slot(m, RESULT_OFF[8], self.tags)
        scenec_set_slot(m, RESULT_OFF[9], self.meta)
        PyObject_GC_UnTrack(m)           # see untrack_results
        return m

    cdef int extract(self, name, norm, matcher, Py_ssize_t group, str text, bytes enc,
                     dict fields) except -1:
        """One extractor into `fields` (nothing when it finds nothing)."""
        cdef Py_ssize_t a, b
        cdef bint long_text = PyUnicode_GET_LENGTH(text) > RX_LONG_TEXT
        if type(matcher) is Regex and long_text and (<Regex>matcher).text_fallback is not None:
            raw = (<Regex>matcher).text_fallback(text)   # a raw program's RE2, on the str
            if raw is False:
                return 0
        elif type(matcher) is Regex and (not long_text or (<Regex>matcher).fallback is None):
            if not (<Regex>matcher).find(text, &a, &b):
                return 0
            raw = read_slice(text, a, b, (<Regex>matcher).p.raw) if a >= 0 else None
        else:
            if type(matcher) is Regex:
                matcher = (<Regex>matcher).fallback
            raw = re2_group(matcher, group, enc)
            if raw is False:
                return 0
        value = raw if norm is None or raw is None else norm(raw)   # None: the group took no part
        if value is not None:
            fields[name] = value
        return 0


cdef object re2_group(tuple matcher, Py_ssize_t group, bytes enc):
    """Group `group`'s text through RE2's `Match` ((method, anchor)) on the folded UTF-8:
    None when it took no part, False when nothing matches."""
    cdef Py_ssize_t a, b, n = PyBytes_GET_SIZE(enc)
    hit = matcher[0](matcher[1], enc, 0, n)
    if hit[0][0] < 0:
        return False
    if not 0 < group < len(hit):  # the module reads without bounds checks: refuse here
        raise ValueError(f"group {group} of a match with {len(hit) - 1} groups")
    a, b = hit[group]
    if a < 0:
        return None
    if not 0 <= a <= b <= n:
        raise ValueError("match span outside the text")
    return PyUnicode_DecodeUTF8(PyBytes_AS_STRING(enc) + a, b - a, NULL)


cdef object quick_finish(str text, const int32_t *cands, Py_ssize_t k, list quick):
    """Finish a message's candidates here when each one is decided (even code) and has a
    quick runner (``quick[scene]`` callable, not None): the list of ``runner(text, enc)``
    results, ``enc`` being the folded UTF-8 (None when no runner needs it). Otherwise, or
    when a runner raises (the Python path then records the broken scene), ``(candidate
    list,)``. Runners are pure, so running one again on the Python path is harmless. This
    saves the interpreter's per-message and per-candidate bookkeeping, which costs more
    than the core's scan.
    """
    cdef Py_ssize_t i, sc
    cdef int32_t c
    cdef bint needs_enc = False
    cdef list out
    enc = None
    if k == 0:
        out = []
        PyObject_GC_UnTrack(out)         # see untrack_results
        return out
    for i in range(k):
        c = cands[i]
        sc = c >> 1
        if c & 1 or sc >= len(quick) or quick[sc] is None:
            return (int_list(cands, k),)
        q = quick[sc]
        needs_enc = needs_enc or type(q) is not Quick or (<Quick>q).needs_enc
    if needs_enc or PyUnicode_GET_LENGTH(text) > RX_LONG_TEXT:  # RE2 for long texts
        enc = folded_utf8(text)
    out = PyList_New(k)  # sized once; a slot left empty by an error is never exposed
    try:
        for i in range(k):
            q = quick[cands[i] >> 1]
            item = (<Quick>q).run(text, enc) if type(q) is Quick else q(text, enc)
            Py_INCREF(item)
            PyList_SET_ITEM(out, i, item)
    except Exception:
        return (int_list(cands, k),)
    PyObject_GC_UnTrack(out)
    return out


# ------------------------------------------------------------------------- validation

cdef Py_ssize_t count_value(const int32_t *v, Py_ssize_t n, int32_t x) noexcept:
    cdef Py_ssize_t i, c = 0
    for i in range(n):
        c += v[i] == x
    return c


cdef inline object bad(str name, str what):
    return ValueError(f"table {name}: {what}")


cdef int check_range(str name, const int32_t *v, Py_ssize_t n, int64_t lo, int64_t hi,
                     Py_ssize_t step=1) except -1:
    """Every v[i] (i in range(0, n, step)) must lie in [lo, hi)."""
    cdef Py_ssize_t i
    for i in range(0, n, step):
        if v[i] < lo or v[i] >= hi:
            raise bad(name, f"entry {i} = {v[i]} not in [{lo}, {hi})")
    return 0


cdef int check_csr(str name, const int32_t *start, Py_ssize_t n,
                   Py_ssize_t target_len) except -1:
    """CSR offsets: start[0] >= 0, non-decreasing, start[n-1] <= len(target)."""
    cdef Py_ssize_t i
    if start[0] < 0:
        raise bad(name, f"first offset {start[0]} < 0")
    for i in range(1, n):
        if start[i] < start[i - 1]:
            raise bad(name, f"offsets decrease at entry {i}")
    if start[n - 1] > target_len:
        raise bad(name, f"last offset {start[n - 1]} > target length {target_len}")
    return 0


cdef int check_acyclic(str name, const int32_t *link, Py_ssize_t n,
                       Py_ssize_t stride) except -1:
    """Links (link[i * stride], already < n) must all lead to 0 without a cycle.

    Colour walk: 0 = unseen, 1 = on the current path, 2 = known to reach 0. Each node is
    visited a bounded number of times, so this is O(n).
    """
    cdef uint8_t *colour = <uint8_t *>calloc(n, 1)
    cdef Py_ssize_t s, t
    if colour == NULL:
        raise MemoryError()
    try:
        colour[0] = 2
        for s in range(n):
            t = s
            while colour[t] == 0:
                colour[t] = 1
                t = link[t * stride]
            if colour[t] == 1:
                raise bad(name, f"link cycle through entry {t}")
            t = s
            while colour[t] == 1:
                colour[t] = 2
                t = link[t * stride]
    finally:
        free(colour)
    return 0


cdef Py_ssize_t longest_run(const int32_t *slots, Py_ssize_t n) noexcept:
    """The most consecutive full (>= 0) slots, the table taken as a ring (n: no empty)."""
    cdef Py_ssize_t i, run = 0, best = 0
    for i in range(2 * n):
        run = run + 1 if slots[i % n] >= 0 else 0
        if run > best:
            best = run
        if run >= n:
            return n
    return best


cdef int32_t *link_depths(str name, const int32_t *link, Py_ssize_t n,
                          Py_ssize_t stride) except NULL:
    """For each entry i, the links followed from it (link[i * stride], each < n) to reach
    entry 0, or -1 when the walk meets a negative link first: a position's depth in the
    trie through its parent (`check`) links, -1 for one the scan never enters; or the
    length of an ac_out chain. O(n): each entry is walked once to find its depth and once
    to fill it. A cycle is an error. The caller frees the array."""
    cdef int32_t *depth = <int32_t *>malloc(<size_t>n * sizeof(int32_t))
    cdef Py_ssize_t t, x, length
    cdef int32_t d
    if depth == NULL:
        raise MemoryError()
    for t in range(n):
        depth[t] = -2                                  # not known yet
    depth[0] = 0
    for t in range(1, n):
        x, length = t, 0
        while x >= 0 and depth[x] == -2:
            depth[x] = -3                              # on the current walk
            length += 1
            x = link[x * stride]
        if x >= 0 and depth[x] == -3:
            free(depth)
            raise bad(name, f"links form a cycle through entry {x}")
        d = depth[x] if x >= 0 else -1
        x = t
        while x >= 0 and depth[x] == -3:
            depth[x] = <int32_t>(d + length) if d >= 0 else -1
            length -= 1
            x = link[x * stride]
    return depth


cdef int check_scan_bounds(const int32_t *node, Py_ssize_t P, const int32_t *root,
                           Py_ssize_t nclasses, const int32_t *chain,
                           const int32_t *depth) except -1:
    """What keeps the scan linear in the text, whatever a crafted file holds: a step
    goes one level down (a root target is at depth 1), a failure link strictly up, so the
    failure steps of a message never outnumber its characters; and the output chain of a
    state is no longer than its depth (the literals ending there are suffixes of one
    another), nor than MAX_OUT_CHAIN (a real build's are under 2,000: see internals.md)."""
    cdef Py_ssize_t c, t, e
    cdef int32_t f
    if node[3] != 0:
        raise bad("ac_node", "the root has an output (no literal is empty)")
    for c in range(nclasses):
        t = root[c]
        if t != 0 and depth[t] != 1:
            raise bad("ac_root", f"class {c} leads to position {t}, not a child of the root")
    for t in range(1, P):
        if depth[t] <= 0:
            continue
        f = node[4 * t + 2]
        if depth[f] < 0 or depth[f] >= depth[t]:
            raise bad("ac_node", f"position {t}: its failure link does not lead up the trie")
        e = node[4 * t + 3]
        if e > 0 and (chain[e] > depth[t] or chain[e] > MAX_OUT_CHAIN):
            raise bad("ac_out", f"position {t}: output chain of {chain[e]} literals at depth "
                      f"{depth[t]}")
    return 0


cdef int check_program(str name, const int32_t *prog, Py_ssize_t pc, Py_ssize_t end,
                       int32_t nlits, Py_ssize_t scene) except -1:
    """Opcodes, operands, stack discipline (no underflow, depth <= 256, one result)."""
    cdef Py_ssize_t depth = 0
    cdef int32_t op, arg
    while pc < end:
        op = prog[pc]
        if op < OP_LIT or op > OP_OR:
            raise bad(name, f"scene {scene}: bad opcode {op} at word {pc}")
        if op == OP_LIT or op == OP_AND or op == OP_OR:
            if pc + 1 >= end:
                raise bad(name, f"scene {scene}: missing operand at word {pc}")
            arg = prog[pc + 1]
            if op == OP_LIT and not 0 <= arg < nlits:
                raise bad(name, f"scene {scene}: literal {arg} out of range at word {pc}")
            if op != OP_LIT and not 1 <= arg <= depth:
                raise bad(name, f"scene {scene}: bad operand count {arg} at word {pc}")
            depth = depth + 1 if op == OP_LIT else depth - arg + 1
            pc += 2
        elif op == OP_NOT:
            if depth < 1:
                raise bad(name, f"scene {scene}: stack underflow at word {pc}")
            pc += 1
        else:
            depth += 1
            pc += 1
        if depth > STACK_MAX:
            raise bad(name, f"scene {scene}: stack deeper than {STACK_MAX}")
    if depth != 1:
        raise bad(name, f"scene {scene}: program leaves {depth} values, not 1")
    return 0


cdef int check_astral(str name, const int32_t *v, Py_ssize_t n, int32_t nclasses) except -1:
    """Sorted (code point, class) pairs: astral code points strictly ascending."""
    cdef Py_ssize_t i
    if n % 2:
        raise bad(name, "odd length")
    for i in range(0, n, 2):
        if not 0x10000 <= v[i] <= 0x10FFFF or (i and v[i] <= v[i - 2]):
            raise bad(name, f"code point {v[i]} at entry {i} not ascending astral")
    return check_range(name, v + 1, n - 1, 0, nclasses, 2)


def _pow2_bits(str name, Py_ssize_t n):
    """log2(n) for a power-of-two table of at least 2 slots."""
    if n < 2 or n & (n - 1):
        raise bad(name, f"length {n} is not a power of two >= 2")
    return n.bit_length() - 1


def _width(str name, fmt, Py_ssize_t itemsize):
    """Integer width in bits of a buffer's format, accepting only signed native ints."""
    if fmt is None:
        raise bad(name, "buffer has no format")
    fmt = fmt.decode("ascii", "replace") if isinstance(fmt, bytes) else fmt
    if fmt[:1] in ("@", "=") or fmt[:1] == ("<" if sys.byteorder == "little" else ">"):
        fmt = fmt[1:]
    if fmt not in ("i", "l", "q", "n") or itemsize not in (4, 8):
        raise bad(name, f"format {fmt!r} is not int32 or int64")
    return itemsize * 8


# ------------------------------------------------------------------------------ guards

ctypedef struct Anchors:      # the anchors of the scene whose guard is being derived
    const uint32_t *stamp     # [nlits]: == mark iff the literal anchors this scene
    uint32_t mark


cdef inline bint is_anchor(const Anchors *A, int32_t lit) noexcept nogil:
    return A.stamp[lit] == A.mark


cdef bint guard_child(const int32_t *prog, Py_ssize_t a, Py_ssize_t b, const Anchors *A,
                      int32_t *g) noexcept nogil:
    """Is prog[a:b] `LIT x` or `LIT x LIT y OR 2`, with x and y not anchors? Store them.
    (Anchors are looked up in a stamp table, not a list: a crafted scene with a million
    anchors and as many conjuncts made a list search take minutes at load.)"""
    cdef int32_t x, y = -1
    if b - a == 2 and prog[a] == OP_LIT:
        x = prog[a + 1]
    elif (b - a == 6 and prog[a] == OP_LIT and prog[a + 2] == OP_LIT and prog[a + 4] == OP_OR
          and prog[a + 5] == 2):
        x, y = prog[a + 1], prog[a + 3]
    else:
        return False
    if is_anchor(A, x) or (y >= 0 and is_anchor(A, y)):
        return False                 # true whenever the scene is anchored on it: useless
    g[0], g[1] = x, y
    return True


cdef Py_ssize_t and_children(const int32_t *prog, Py_ssize_t a, Py_ssize_t b,
                             Py_ssize_t *kids) noexcept nogil:
    """When prog[a:b] (one value of a validated program) is `AND n`, n, with operand k at
    kids[k] .. kids[k + 1] (kids[n]: the AND itself); else 0. Tracks where each stack
    value's subexpression starts: AND/OR's value starts where its first operand did."""
    cdef Py_ssize_t starts[STACK_MAX + 1]
    cdef Py_ssize_t pc = a, k, n
    cdef int sp = 0, w
    cdef int32_t op
    while pc < b:
        op = prog[pc]
        w = 2 if op == OP_LIT or op == OP_AND or op == OP_OR else 1
        if pc + w == b:
            if op != OP_AND:
                return 0
            n = prog[pc + 1]
            for k in range(n):
                kids[k] = starts[sp - n + k]
            kids[n] = pc
            return n
        if op == OP_AND or op == OP_OR:
            sp -= prog[pc + 1] - 1
        elif op != OP_NOT:
            starts[sp] = pc
            sp += 1
        pc += w
    return 0


cdef bint guard_in(const int32_t *prog, Py_ssize_t a, Py_ssize_t b, const Anchors *A,
                   int32_t *g, int depth) noexcept nogil:
    """A usable conjunct of prog[a:b]: its top-level AND operands first, then theirs
    (the lowering nests ANDs: `sender and (k1 and k2)`), a few levels deep."""
    cdef Py_ssize_t kids[STACK_MAX + 2]
    cdef Py_ssize_t n = and_children(prog, a, b, kids), k
    if n == 0:
        return depth == 0 and guard_child(prog, a, b, A, g)
    for k in range(n):
        if guard_child(prog, kids[k], kids[k + 1], A, g):
            return True
    if depth < 3:
        for k in range(n):
            if guard_in(prog, kids[k], kids[k + 1], A, g, depth + 1):
                return True
    return False


cdef void guard_of(const int32_t *prog, Py_ssize_t a, Py_ssize_t b, const Anchors *A,
                   int32_t *g) noexcept nogil:
    """The scene's guard (-1, -1: none): see guard_in."""
    g[0] = g[1] = -1
    if not guard_in(prog, a, b, A, g, 0):
        g[0] = g[1] = -1


cdef void derive_kids(const int32_t *node, Py_ssize_t P, int32_t nclasses,
                      uint32_t *kids) noexcept nogil:
    """For each state s, bit (c & 31) of kids[s] for every class c with a transition
    s -> base[s] + c, i.e. check[base[s] + c] == s: exactly the transitions ac_step can
    take, so masking with it never changes a step. A bit is set only where base >= 0.
    Runs after _check_nodes (check in -1..P-1, base -1 or <= P - nclasses)."""
    cdef Py_ssize_t t
    cdef int32_t s, b, c
    for t in range(P):
        s = node[4 * t]
        if s < 0:
            continue
        b = node[4 * s + 1]
        if b < 0 or t < b:
            continue
        c = <int32_t>(t - b)
        if c < nclasses:
            kids[s] |= (<uint32_t>1) << (c & 31)


cdef int derive_guards(Tables *T, int32_t *guard, Py_ssize_t n_anchor) except -1:
    """Fill guard[2 * scene] for every scene (needs validated tables).

    A guard must not mention the scene's anchors, so the anchor lists are inverted into a
    temporary per-scene CSR first, and each scene's anchors are stamped in a table over
    the literals while its guard is derived.
    """
    cdef Py_ssize_t ns = T.nscenes, lit, j, sc
    cdef Py_ssize_t *start = <Py_ssize_t *>calloc(ns + 2, sizeof(Py_ssize_t))
    cdef int32_t *inv = <int32_t *>malloc((n_anchor + 1) * sizeof(int32_t))
    cdef uint32_t *stamp = <uint32_t *>calloc(<size_t>T.nlits + 1, sizeof(uint32_t))
    cdef Anchors A
    A.stamp = stamp
    try:
        if start == NULL or inv == NULL or stamp == NULL:
            raise MemoryError()
        for lit in range(T.nlits):
            for j in range(T.anchor_start[lit], T.anchor_start[lit + 1]):
                start[T.anchor_scenes[j] + 2] += 1
        for sc in range(2, ns + 2):
            start[sc] += start[sc - 1]
        for lit in range(T.nlits):       # start[sc + 1] is scene sc's fill cursor
            for j in range(T.anchor_start[lit], T.anchor_start[lit + 1]):
                sc = T.anchor_scenes[j]
                inv[start[sc + 1]] = <int32_t>lit
                start[sc + 1] += 1
        for sc in range(ns):
            A.mark = <uint32_t>(sc + 1)
            for j in range(start[sc], start[sc + 1]):
                stamp[inv[j]] = A.mark
            guard_of(T.prog, T.prog_start[sc], T.prog_start[sc + 1], &A, guard + 2 * sc)
    finally:
        free(start)
        free(inv)
        free(stamp)
    return 0


# ------------------------------------------------------------------------------- Core

cdef class Core:
    """Validated tables plus the scan / select / evaluate pipeline (see module docstring)."""

    cdef Tables t
    cdef Py_buffer bufs[NTABLES]
    cdef bint held[NTABLES]
    cdef void *owned[NTABLES]            # converted or realigned copies
    cdef const void *ptr[NTABLES]
    cdef Py_ssize_t length[NTABLES]
    # Tables derived at load, owned until _into_arena copies them into the arena:
    cdef int32_t *guard                  # per-scene guards
    cdef int32_t *anchored               # anchor entries with their guards
    cdef uint32_t *kids                  # child-class bits per state
    cdef int32_t *cls                    # the folded class table (fold_bmp)
    cdef char *arena                     # the hot tables copied together (owned)
    cdef size_t arena_size
    cdef Scratch *single                 # used only with the GIL held
    cdef bint single_busy                # a finalizer re-entered candidates()
    cdef Scratch *pool[POOL_MAX]
    cdef int npool
    cdef readonly Py_ssize_t nlits
    cdef readonly Py_ssize_t nscenes

    def __cinit__(self, tables, nlits, nscenes):
        nlits = _index(nlits)
        nscenes = _index(nscenes)
        if not 0 <= nlits < 2**31 - 1:
            raise ValueError(f"nlits {nlits} out of range")
        if not 0 <= nscenes < 2**30:
            raise ValueError(f"nscenes {nscenes} out of range")
        self.nlits = nlits
        self.nscenes = nscenes
        self.t.nlits = <int32_t>nlits
        self.t.nscenes = <int32_t>nscenes
        for k, (name, width) in enumerate(_TABLES):
            self._load(k, name, width, tables)
        self._setup_automaton()
        self._setup_signatures()
        self._setup_conditions()
        self._into_arena()
        self.single = scratch_new(&self.t)
        if self.single == NULL:
            raise MemoryError()

    def __dealloc__(self):
        cdef int k
        for k in range(NTABLES):
            if self.held[k]:
                PyBuffer_Release(&self.bufs[k])
            free(self.owned[k])
        free(self.guard)
        free(self.anchored)
        free(self.kids)
        free(self.cls)
        free(self.arena)
        scratch_free(self.single)
        for k in range(self.npool):
            scratch_free(self.pool[k])

    cdef int _load(self, int k, str name, int width, tables) except -1:
        """Acquire table k's buffer; copy only to change width or fix alignment."""
        try:
            obj = tables[name]
        except (KeyError, IndexError, TypeError):
            raise bad(name, "missing") from None
        try:
            PyObject_GetBuffer(obj, &self.bufs[k], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
        except (TypeError, ValueError, BufferError) as exc:
            raise bad(name, f"not a contiguous buffer ({exc})") from None
        self.held[k] = True
        cdef Py_buffer *b = &self.bufs[k]
        fmt = None if b.format == NULL else <bytes>b.format
        have = _width(name, fmt, b.itemsize)
        if b.ndim != 1:
            raise bad(name, f"{b.ndim}-dimensional")
        self.length[k] = b.len // b.itemsize
        self.ptr[k] = b.buf
        if have != width or (<uintptr_t>b.buf) % (width // 8):
            self._convert(k, name, have, width)
        return 0

    cdef int _convert(self, int k, str name, int have, int width) except -1:
        """Copy table k into an owned, aligned buffer of the wanted width (range-checked)."""
        cdef Py_ssize_t i, n = self.length[k]
        cdef const char *src = <const char *>self.bufs[k].buf
        cdef int64_t x
        cdef int32_t x32
        cdef void *dst = malloc(<size_t>(n if n else 1) * (width // 8))
        if dst == NULL:
            raise MemoryError()
        self.owned[k] = dst
        for i in range(n):
            if have == 64:
                memcpy(&x, src + 8 * i, 8)
            else:
                memcpy(&x32, src + 4 * i, 4)
                x = x32
            if width == 64:
                (<int64_t *>dst)[i] = x
            elif -0x80000000 <= x <= 0x7FFFFFFF:
                (<int32_t *>dst)[i] = <int32_t>x
            else:
                raise bad(name, f"entry {i} = {x} does not fit int32")
        self.ptr[k] = dst
        return 0

    cdef inline const int32_t *p32(self, int k):
        return <const int32_t *>self.ptr[k]

    cdef int _setup_automaton(self) except -1:
        """Check the ac_* tables (module docstring of scenec.compiler.automaton)."""
        cdef Tables *T = &self.t
        nstates, nclasses = self.length[K_NODE] // 4, self.length[K_ROOT]
        if self.length[K_NODE] % 4 or not 1 <= nstates < 2**29:
            raise bad("ac_node", f"length {self.length[K_NODE]} is not 4 * (1..2**29)")
        if not 1 <= nclasses <= nstates:
            raise bad("ac_root", f"{nclasses} classes for {nstates} positions")
        T.nstates, T.nclasses = nstates, nclasses
        if self.length[K_BMP] != 65536:
            raise bad("ac_class_bmp", f"length {self.length[K_BMP]} != 65536")
        check_range("ac_class_bmp", self.p32(K_BMP), 65536, 0, nclasses)
        check_astral("ac_class_astral", self.p32(K_ASTRAL), self.length[K_ASTRAL], nclasses)
        check_range("ac_root", self.p32(K_ROOT), nclasses, 0, nstates)
        if self.p32(K_ROOT)[0] != 0:
            raise bad("ac_root", "class 0 (in no literal) does not stay at the root")
        self._check_out()
        self._check_nodes()
        self.kids = <uint32_t *>calloc(<size_t>nstates, sizeof(uint32_t))
        if self.kids == NULL:
            raise MemoryError()
        derive_kids(self.p32(K_NODE), nstates, nclasses, self.kids)
        T.kids = self.kids
        self.cls = <int32_t *>malloc(65536 * sizeof(int32_t))
        if self.cls == NULL:
            raise MemoryError()
        fold_bmp(self.p32(K_BMP), self.cls)
        T.cls_bmp = self.cls
        T.astral = self.p32(K_ASTRAL)
        T.n_astral = self.length[K_ASTRAL] // 2
        T.root = self.p32(K_ROOT)
        T.node = self.p32(K_NODE)
        T.out = self.p32(K_OUT)
        return 0

    cdef int _check_out(self) except -1:
        """ac_out: entry 0 is (-1, 0); others (literal id, next entry), chains acyclic."""
        cdef const int32_t *out = self.p32(K_OUT)
        n = self.length[K_OUT]
        if n < 2 or n % 2 or n // 2 >= 2**31:
            raise bad("ac_out", f"length {n} is not 2 * (1..2**31-1)")
        if out[0] != -1 or out[1] != 0:
            raise bad("ac_out", "entry 0 is not (-1, 0)")
        check_range("ac_out", out + 2, n - 2, 0, self.t.nlits, 2)
        check_range("ac_out", out + 1, n - 1, 0, n // 2, 2)
        check_acyclic("ac_out", out + 1, n // 2, 2)
        self.t.n_out = n // 2
        return 0

    cdef int _check_nodes(self) except -1:
        """ac_node records (check, base, fail, out): every field the scan follows."""
        cdef const int32_t *node = self.p32(K_NODE)
        cdef Py_ssize_t n = self.length[K_NODE], P = n // 4, s
        cdef int32_t nclasses = self.t.nclasses
        cdef int32_t *depth = NULL
        cdef int32_t *chain = NULL
        check_range("ac_node", node, n, -1, P, 4)
        check_range("ac_node", node + 2, n - 2, 0, P, 4)
        check_range("ac_node", node + 3, n - 3, -self.t.nlits, self.length[K_OUT] // 2, 4)
        for s in range(P):
            if node[4 * s + 1] != -1 and not 0 <= node[4 * s + 1] <= P - nclasses:
                raise bad("ac_node", f"position {s}: base {node[4 * s + 1]} out of range")
        if node[2] != 0:
            raise bad("ac_node", "root's failure link is not 0")
        check_acyclic("ac_node", node + 2, P, 4)
        depth = link_depths("ac_node", node, P, 4)
        try:
            chain = link_depths("ac_out", self.p32(K_OUT) + 1, self.length[K_OUT] // 2, 2)
            check_scan_bounds(node, P, self.p32(K_ROOT), self.t.nclasses, chain, depth)
        finally:
            free(depth)
            free(chain)
        return 0

    cdef int _setup_signatures(self) except -1:
        """Check sig_*: slots -> signature index, CSR code points, literal ids."""
        cdef Tables *T = &self.t
        nsig = self.length[K_SIG_LIT]
        check_range("sig_lit", self.p32(K_SIG_LIT), nsig, 0, T.nlits)
        if self.length[K_SIG_OFF] != nsig + 1:
            raise bad("sig_off", f"length {self.length[K_SIG_OFF]} != {nsig + 1}")
        check_csr("sig_off", self.p32(K_SIG_OFF), nsig + 1, self.length[K_SIG_CHARS])
        bits = _pow2_bits("sig_slots", self.length[K_SIG_SLOTS])
        check_range("sig_slots", self.p32(K_SIG_SLOTS), self.length[K_SIG_SLOTS], -1, nsig)
        if count_value(self.p32(K_SIG_SLOTS), self.length[K_SIG_SLOTS], -1) == 0:
            raise bad("sig_slots", "no empty slot")   # a lookup would never end
        if longest_run(self.p32(K_SIG_SLOTS), self.length[K_SIG_SLOTS]) > MAX_SIG_RUN:
            raise bad("sig_slots", f"more than {MAX_SIG_RUN} full slots in a row: a lookup "
                      "would probe them all")
        T.sig_slots = self.p32(K_SIG_SLOTS)
        T.sig_off = self.p32(K_SIG_OFF)
        T.sig_chars = self.p32(K_SIG_CHARS)
        T.sig_lit = self.p32(K_SIG_LIT)
        T.sig_mask = self.length[K_SIG_SLOTS] - 1
        T.sig_shift = 64 - bits
        return 0

    cdef int _setup_conditions(self) except -1:
        """Check anchor_start/anchor_scenes/always/prog_start/prog (internals.md)."""
        cdef Tables *T = &self.t
        cdef Py_ssize_t sc, j
        if self.length[K_ANCHOR_START] != T.nlits + 1:
            raise bad("anchor_start", f"length {self.length[K_ANCHOR_START]} != nlits + 1")
        check_csr("anchor_start", self.p32(K_ANCHOR_START), T.nlits + 1,
                  self.length[K_ANCHOR_SCENES])
        check_range("anchor_scenes", self.p32(K_ANCHOR_SCENES), self.length[K_ANCHOR_SCENES],
                    0, T.nscenes)
        check_range("always", self.p32(K_ALWAYS), self.length[K_ALWAYS], 0, T.nscenes)
        if self.length[K_PROG_START] != T.nscenes + 1:
            raise bad("prog_start", f"length {self.length[K_PROG_START]} != nscenes + 1")
        check_csr("prog_start", self.p32(K_PROG_START), T.nscenes + 1, self.length[K_PROG])
        for sc in range(T.nscenes):
            check_program("prog", self.p32(K_PROG), self.p32(K_PROG_START)[sc],
                          self.p32(K_PROG_START)[sc + 1], T.nlits, sc)
        T.anchor_start = self.p32(K_ANCHOR_START)
        T.anchor_scenes = self.p32(K_ANCHOR_SCENES)
        T.always = self.p32(K_ALWAYS)
        T.n_always = self.length[K_ALWAYS]
        T.prog_start = self.p32(K_PROG_START)
        T.prog = self.p32(K_PROG)
        T.cand_cap = max(T.nscenes, T.n_always + self.length[K_ANCHOR_SCENES]) + 1
        self.guard = <int32_t *>malloc(<size_t>(2 * T.nscenes + 2) * sizeof(int32_t))
        if self.guard == NULL:
            raise MemoryError()
        derive_guards(T, self.guard, self.length[K_ANCHOR_SCENES])
        T.guard = self.guard
        self.anchored = <int32_t *>malloc(<size_t>(3 * self.length[K_ANCHOR_SCENES] + 3)
                                          * sizeof(int32_t))
        if self.anchored == NULL:
            raise MemoryError()
        for j in range(self.length[K_ANCHOR_SCENES]):
            sc = T.anchor_scenes[j]
            self.anchored[3 * j] = <int32_t>sc
            self.anchored[3 * j + 1] = self.guard[2 * sc]
            self.anchored[3 * j + 2] = self.guard[2 * sc + 1]
        T.anchored = self.anchored
        return 0

    cdef int _into_arena(self) except -1:
        """Copy the tables a message reads at random into one block, which from HUGE_MIN
        bytes on is 2 MB-aligned and advised for huge pages: at 100k scenes (~11 MB of
        them) a `match` took ~2.5% less on average over four A/B runs (BENCHMARKS.md,
        session 16)."""
        cdef Tables *T = &self.t
        cdef const int32_t **field[11]
        cdef size_t size[11]
        cdef size_t total = 0, off = 0, nbytes
        cdef int i, n = 11
        field[0], size[0] = &T.cls_bmp, 65536
        field[1], size[1] = &T.node, 4 * <size_t>T.nstates
        field[2], size[2] = <const int32_t **>&T.kids, <size_t>T.nstates
        field[3], size[3] = &T.out, 2 * <size_t>T.n_out
        field[4], size[4] = &T.anchor_start, <size_t>T.nlits + 1
        field[5], size[5] = &T.anchored, 3 * <size_t>self.length[K_ANCHOR_SCENES] + 3
        field[6], size[6] = &T.guard, 2 * <size_t>T.nscenes + 2
        field[7], size[7] = &T.prog_start, <size_t>T.nscenes + 1
        field[8], size[8] = &T.prog, <size_t>self.length[K_PROG]
        field[9], size[9] = &T.sig_slots, <size_t>self.length[K_SIG_SLOTS]
        field[10], size[10] = &T.root, <size_t>T.nclasses
        for i in range(n):
            total += padded(size[i] * sizeof(int32_t))
        self.arena = <char *>scenec_hot_alloc(total, HUGE_MIN)
        if self.arena == NULL:
            raise MemoryError()
        for i in range(n):
            nbytes = size[i] * sizeof(int32_t)
            memcpy(self.arena + off, field[i][0], nbytes)
            field[i][0] = <const int32_t *>(self.arena + off)
            off += padded(nbytes)
        self.arena_size = total
        free(self.kids)  # the derived tables: only their copies are read from now on
        free(self.cls)
        free(self.guard)
        free(self.anchored)
        self.kids, self.cls, self.guard, self.anchored = NULL, NULL, NULL, NULL
        return 0

    cdef int32_t _sender(self, object value) except -2:
        """A literal id or -1; anything else is a ValueError (or TypeError if not int)."""
        cdef int overflow = 0
        cdef long long v
        if not isinstance(value, int):
            value = _index(value)
        v = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow or not -1 <= v < self.nlits:
            raise ValueError(f"sender literal {value} out of range")
        return <int32_t>v

    def candidates(self, str text not None, sender_lit):
        """Candidate scenes of one message: ``scene * 2 + (1 if unknown)``, ascending."""
        cdef Py_ssize_t k
        cdef Scratch *S = self._scan_one(text, self._sender(sender_lit), NULL, &k)
        try:
            return int_list(S.cands, k)
        finally:
            self._release(S)

    cdef Scratch *_scan_one(self, str text, int32_t sender, const SenderKey *key,
                            Py_ssize_t *k) except NULL:
        """Scan one message into ``single``, or into a pooled scratch for a nested call:
        building a result list may run the garbage collector, whose finalizers could call
        back in. The caller hands the scratch back with ``_release``. `sender` is a
        literal id already checked against nlits, or -1."""
        cdef Scratch *S
        scenec_unicode_ready(text)
        S = self._take_scratch() if self.single_busy else self.single
        self.single_busy = True
        k[0] = run_message(&self.t, S, PyUnicode_DATA(text), PyUnicode_KIND(text),
                           PyUnicode_GET_LENGTH(text), sender,
                           key.also if key != NULL else -1, key)
        return S

    cdef void _release(self, Scratch *S):
        if S == self.single:
            self.single_busy = False
        else:
            self._give_scratch(S)

    cdef Scratch *_take_scratch(self) except NULL:
        """A batch scratch from the pool (GIL held, so the pool needs no lock)."""
        cdef Scratch *S
        if self.npool:
            self.npool -= 1
            return self.pool[self.npool]
        S = scratch_new(&self.t)
        if S == NULL:
            raise MemoryError()
        return S

    cdef void _give_scratch(self, Scratch *S):
        if S == NULL:
            return
        if self.npool < POOL_MAX:
            self.pool[self.npool] = S
            self.npool += 1
        else:
            scratch_free(S)

    cdef Msg *_messages(self, tuple texts, sender_lits) except NULL:
        """Pointers into every str (kept alive by the tuple) and validated sender ids: an
        entry of `sender_lits` is a literal id (or -1), or for a DLT sender a pair (the
        sender's, its header's)."""
        cdef Py_ssize_t i, n = len(texts)
        cdef Msg *msgs = <Msg *>malloc(<size_t>(n if n else 1) * sizeof(Msg))
        if msgs == NULL:
            raise MemoryError()
        try:
            for i in range(n):
                text = texts[i]
                if not isinstance(text, str):
                    raise TypeError(f"texts[{i}] is {type(text).__name__}, not str")
                scenec_unicode_ready(text)
                msgs[i].data = PyUnicode_DATA(text)
                msgs[i].length = PyUnicode_GET_LENGTH(text)
                msgs[i].kind = PyUnicode_KIND(text)
                lit = sender_lits[i]
                if type(lit) is tuple and len(lit) == 2:
                    msgs[i].sender = self._sender(lit[0])
                    msgs[i].also = self._sender(lit[1])
                else:
                    msgs[i].sender = self._sender(lit)
                    msgs[i].also = -1
        except BaseException:
            free(msgs)
            raise
        return msgs

    def candidates_many(self, texts, sender_lits, int threads=1):
        """``candidates`` for a batch, scanned without the GIL on up to ``threads`` threads.

        ``texts`` is a list (or any sequence) of str and ``sender_lits`` a sequence of
        literal ids or -1 (or pairs of them, a DLT sender's and its header's) of the same
        length. Returns one ``candidates`` list per text.
        """
        cdef tuple keep = tuple(texts)   # a list could be mutated while the GIL is released
        cdef list senders = list(sender_lits)
        cdef Py_ssize_t pending
        if len(senders) != len(keep):
            raise ValueError(f"{len(senders)} sender literals for {len(keep)} texts")
        return self._many(keep, senders, threads, None, &pending)

    def fold(self, str text not None):
        """The folded text (internals.md); the same object when nothing changes."""
        scenec_unicode_ready(text)
        return read_slice(text, 0, PyUnicode_GET_LENGTH(text))

    def fold_utf8(self, str text not None):
        """``fold(text).encode()`` in one pass: the bytes the RE2 extractors search."""
        return folded_utf8(text)

    cdef int _rescan(self, Work *W, Scratch *mine) except -1:
        """Scan again, on this thread, a chunk whose results a helper could not store.
        Under `ulimit -v` a helper's first allocation fails (glibc reserves each thread
        its own 64 MiB malloc arena) where this thread's succeeds: `match_many` raised a
        bare MemoryError for a batch one thread matched with 100 MB to spare."""
        W.failed, W.res_len, W.S = 0, 0, mine
        with nogil:
            work_run(W)
        if W.failed:
            raise MemoryError("out of memory storing a batch's candidates")
        return 0

    cdef list _many(self, tuple keep, list lits, int threads, list quick,
                    Py_ssize_t *pending):
        """Scan and finish a batch in chunks, pipelined: helper threads (threads - 1)
        claim chunks and scan them without the GIL while this thread finishes the
        scanned ones in order with the GIL (quick runners build the results), scanning
        chunks itself whenever the next one to finish is not ready. So the finishing,
        which needs the GIL, overlaps the scanning instead of waiting for all of it, and
        small chunks finish a message while its data is still cached (figures in
        BENCHMARKS.md). The helpers are detached: once every chunk is done the call
        returns without joining them, since a helper the host has not yet scheduled would
        otherwise hold up every call (the pipe they still read is freed by the last one
        out). One list per text: matches, or a 1-tuple of candidates for Python to finish
        (counted in ``pending``); with ``quick`` None, the candidate lists themselves
        (``candidates_many``)."""
        cdef Py_ssize_t n = len(keep), j, i, r, claimed
        cdef Pipe *P = NULL
        cdef Helper *crew
        cdef pthread_t tid
        cdef int nh = 0, k
        cdef Scratch *mine = NULL
        cdef Msg *msgs = NULL
        cdef int32_t *counts = NULL
        cdef list out = PyList_New(n)
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        nh = <int>min(threads, MAX_THREADS, (n + CHUNK - 1) // CHUNK) - 1
        P = <Pipe *>calloc(1, sizeof(Pipe))
        if P == NULL:
            raise MemoryError()
        P.refs = 1
        P.crew = calloc(<size_t>max(nh, 1), sizeof(Helper))
        crew = <Helper *>P.crew
        pending[0] = 0
        try:
            if crew == NULL:
                raise MemoryError()
            msgs = self._messages(keep, lits)
            counts = <int32_t *>malloc(<size_t>(n if n else 1) * sizeof(int32_t))
            P.nchunks = (n + CHUNK - 1) // CHUNK
            P.works = <Work *>calloc(P.nchunks + 1, sizeof(Work))
            P.done = <int *>calloc(P.nchunks + 1, sizeof(int))
            if counts == NULL or P.works == NULL or P.done == NULL:
                raise MemoryError()
            for j in range(P.nchunks):
                P.works[j].T, P.works[j].msgs, P.works[j].counts = &self.t, msgs, counts
                P.works[j].lo, P.works[j].hi = j * CHUNK, min(n, (j + 1) * CHUNK)
            mine = self._take_scratch()
            for k in range(nh):
                crew[k].P, crew[k].S = P, self._take_scratch()
            for k in range(nh):
                scenec_retain(&P.refs)
                if pthread_create(&tid, NULL, helper_run, &crew[k]) == 0:
                    pthread_detach(tid)
                else:
                    pipe_release(P)  # never reaches 0: this call holds its own reference
            for j in range(P.nchunks):
                with nogil:
                    while not scenec_is_done(&P.done[j]):
                        if not scan_chunk(P, mine):
                            sched_yield()  # the chunk is being scanned by a helper
                if P.works[j].failed:
                    self._rescan(&P.works[j], mine)
                r = 0
                for i in range(P.works[j].lo, P.works[j].hi):
                    if quick is None:
                        item = int_list(P.works[j].res + r, counts[i])
                    else:
                        item = quick_finish(<str>keep[i], P.works[j].res + r, counts[i],
                                            quick)
                    r += counts[i]
                    if type(item) is not list:
                        pending[0] += 1
                    Py_INCREF(item)
                    PyList_SET_ITEM(out, i, item)
                # Ctrl-C between chunks: compiled code runs no Python bytecode, where the
                # interpreter would look at signals, so a batch whose messages woke no
                # scene saw it only once the whole scan was over (0.5 s of a 0.8 s batch
                # of 1.2 M texts; seconds for a bigger one). A few ns a chunk.
                PyErr_CheckSignals()
            return out
        finally:
            # No chunk can be claimed from here on; wait for those already claimed (all
            # of them done unless an error cut the loop short), after which the helpers
            # touch neither the chunks nor their scratch.
            claimed = min(scenec_exchange(&P.next, P.nchunks), P.nchunks)
            with nogil:
                for j in range(claimed):
                    while not scenec_is_done(&P.done[j]):
                        sched_yield()
            if crew != NULL:
                for k in range(nh):
                    self._give_scratch(crew[k].S)
            self._give_scratch(mine)
            if P.works != NULL:
                for j in range(P.nchunks):
                    free(P.works[j].res)
            free(P.works)
            free(P.done)
            free(counts)
            free(msgs)
            P.works, P.done = NULL, NULL
            pipe_release(P)

    def stats(self):
        """Table sizes, for benchmarks and memory reports."""
        nbytes = sum(self.length[k] * (_TABLES[k][1] // 8) for k in range(NTABLES))
        return {
            "states": self.t.nstates, "classes": self.t.nclasses,
            "outputs": self.t.n_out - 1, "signatures": self.length[K_SIG_LIT],
            "literals": self.t.nlits, "scenes": self.t.nscenes, "always": self.t.n_always,
            "program_words": self.length[K_PROG], "table_bytes": nbytes,
            # the hot tables copied together (_into_arena), with those derived at load:
            # the folded class table, child bits, guards and guarded anchor entries
            "arena_bytes": self.arena_size,
            "scratch_bytes": (6 * (self.t.nlits + 1) + 2 * (self.t.nscenes + 1)
                              + 4 * self.t.cand_cap),
        }



cdef str exact_str(text):
    """A str subclass (numpy's `str_`, a pandas or Arrow value) as the plain str it holds,
    which every later step takes; anything else is a TypeError naming its type."""
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    return str.__str__(text)


cdef class Matcher:
    """`Ruleset.match` without a Python frame: at 1,000 scenes the interpreter's call,
    argument and attribute handling was a tenth of a match. Ruleset binds an instance's
    `match` to `Matcher.match`; its `Ruleset.match` method documents the same steps."""

    cdef Core core
    cdef SenderIndex senders
    cdef list quick
    cdef object finish   # Finisher.finish_found(text, candidates, sender, ctx, now)
    cdef object check    # check_facts(ctx, now): raises TypeError for a wrong type

    def __init__(self, Core core not None, dict senders not None, list quick not None,
                 finish not None, check not None):
        self.core, self.quick, self.finish, self.check = core, quick, finish, check
        self.senders = SenderIndex(senders, core.nlits)   # literal ids < core.nlits

    def match(self, text, sender=None, ctx=None, now=None):
        """Every matching scene, best first (see `Ruleset.match`)."""
        cdef Py_ssize_t k
        cdef Scratch *S
        cdef SenderKey key
        cdef int32_t lit
        if type(text) is not str:
            text = exact_str(text)
        if ctx is not None or now is not None:
            self.check(ctx, now)   # on every call, not only when Python finishes it
        sender = sender_str(sender)                # kept alive: the key points into it
        lit = self.senders.prepare(sender, &key)   # < core.nlits (see __init__)
        S = self.core._scan_one(text, lit, &key, &k)
        try:
            found = quick_finish(text, S.cands, k, self.quick)
        finally:
            self.core._release(S)
        if type(found) is list:
            return found
        return self.finish(text, found[0], sender, ctx, now)

    def many(self, list texts not None, senders, int threads):
        """`Ruleset.match_many`'s compiled part: sender ids, the scan (GIL released, on
        `threads`), the quick finishing. Returns (results, unfinished): an entry of
        results is a 1-tuple of candidates when Python must finish it, and `unfinished`
        counts those, so that most batches need no Python loop at all."""
        cdef Py_ssize_t n = len(texts), pending, i
        cdef list lits = [-1] * n
        for i in range(n):  # the finishing takes exact strs (see exact_str)
            if type(texts[i]) is not str and isinstance(texts[i], str):
                texts[i] = exact_str(texts[i])
        if senders is not None:
            if len(senders) != n:
                raise ValueError("senders and ctxs must have one entry per text")
            self._sender_ids(senders, lits)
        out = self.core._many(tuple(texts), lits, threads, self.quick, &pending)
        return out, pending

    cdef int _sender_ids(self, senders, list lits) except -1:
        """lits[i] = the literal id of senders[i] (-1: none; for a DLT sender whose header
        a rule lists, the pair of both, see `Core._messages`). The sender table is large
        and out of cache between batches, and these lookups run before the scan starts on
        the helper threads: keys are prepared (their slots prefetched) SENDER_BATCH at a
        time and probed after, so that the misses overlap instead of following each
        other. A key points into its sender's text, so `held` keeps each sender alive
        until its probe, whatever `senders` is and whatever a sender's __hash__ does."""
        cdef SenderKey keys[SENDER_BATCH]
        cdef int32_t early[SENDER_BATCH]
        cdef Py_ssize_t base, t, m, n = len(lits)
        cdef list held = [None] * SENDER_BATCH
        for base in range(0, n, SENDER_BATCH):
            m = min(<Py_ssize_t>SENDER_BATCH, n - base)
            for t in range(m):
                sender = sender_str(senders[base + t])
                held[t] = sender
                early[t] = self.senders.prepare(sender, &keys[t])
            for t in range(m):
                if keys[t].slots != NULL:
                    early[t] = sender_probe(&keys[t])
                if keys[t].also >= 0:
                    lits[base + t] = (early[t], keys[t].also)
                elif early[t] >= 0:
                    lits[base + t] = early[t]
        return 0
