# Included by _core.pyx (it uses fold_cp). The linear-time VM for extractor regexes whose
# programs scenec.runtime.regex_program builds, over the folded code points of a str (or,
# for a `raw` extractor's program, its code points as given: see rx_view),
# leftmost-first like RE2, reporting one capture group's span: a bounded backtracker
# (rx_backtrack, RE2's BitState) where its visited bitmap fits, else a Pike VM (rx_search).
#
# A one-pass program (regex_program.one_pass: a plain sequence of quantified classes, none
# of which can give back a code point to what follows it) runs as one loop instead
# (rx_onepass): at a start, each class takes what it can, and that is the match.
#
# Neither interprets jumps, splits or saves while matching. At construction, each
# instruction's epsilon closure is computed once per assertion context (start of text, end
# of text, at a word boundary: 8 contexts if the program asserts anything, else 1): the
# CLASS/MATCH instructions it reaches in priority order, each with which group ends it
# sets. A step then only tests classes and follows closure entries.

cdef enum:
    RX_CLASS = 0         # consume one code point in class x
    RX_SPLIT = 1         # continue at x, then (lower priority) at y
    RX_JMP = 2
    RX_SAVE = 3          # record the position as the group's start (x = 0) or end (x = 1)
    RX_MATCH = 4
    RX_ASSERT = 5        # zero width: AS_* kind x holds here
    AS_BEGIN = 0
    AS_END = 1
    AS_WORD = 2
    AS_NOT_WORD = 3
    RX_MAX_CODE = 4096   # instructions (regex_program stays below this)
    RX_MAX_CLOSURE = 4096  # closure entries, which bound a step's work; beyond: RE2
    RX_LONG_TEXT = 1024  # longer texts go to the RE2 fallback, whose DFA is then faster
    RX_BT_BITS = 65536   # (instruction, position) states a backtracking search may mark
    CTX_BEGIN = 1
    CTX_END = 2
    CTX_WORD = 4
    OP_ATOM = 0          # one-pass items (4 ints): class x, count lo..hi (hi -1: no bound)
    OP_SAVE = 1          # the group's start (x = 0) or end (x = 1) is here
    OP_ASSERT = 2        # AS_BEGIN, AS_END or AS_WORD holds here
    OP_TRY = 3           # the next x items are a branch: on failure back to its start and
                         # on after it, on success y items further
    RX_MAX_ONEPASS = 64  # items (regex_program.MAX_ONE_PASS)

cdef uint32_t RX_NONE = 0xFFFFFFFF
LONG_TEXT = RX_LONG_TEXT  # for the Python finishing, which follows the same split
ENGINES = {"auto": 0, "pike": 1, "backtrack": 2, "onepass": 3}
cdef Py_ssize_t RX_OP_STEPS = 0  # the last one-pass search's steps, -1 if it gave up

ctypedef struct RxThread:
    Py_ssize_t pc, a, b  # instruction, group start, group end (-1: not yet)

ctypedef struct RxProg:
    const int32_t *code      # [3 * n] (op, x, y), validated by Regex.__cinit__
    Py_ssize_t n
    const uint64_t *ascii    # [2 * nclass] bitmap of code points < 128 per class
    const int32_t *rstart    # [nclass + 1] ranges of class k: rstart[k] .. rstart[k + 1]
    const uint32_t *ranges   # [2 * nranges] (lo, hi), ascending, disjoint per class
    const int32_t *clo_start # [nctx * n + 1]: closure of pc in context x: entries
                             # clo_start[x * n + pc] .. clo_start[x * n + pc + 1]
    const int32_t *clo       # [2 * entries] (CLASS/MATCH pc, 1: sets start | 2: sets end)
    bint asserts             # nctx == 8 (else 1: the context is always 0)
    int32_t first            # class every match starts with, or -1
    uint32_t first_max       # its largest code point
    uint32_t first_cp        # its only code point when only that raw code point folds to
                             # it (>= 0x80, not U+FFFD nor a surrogate), else RX_NONE
    int32_t second           # class every match's second code point is in (every match
                             # has two or more), or -1
    bint raw                 # reads code points unfolded (see rx_view)
    const int32_t *op        # [4 * nop] one-pass items, or nop == 0
    int32_t nop
    Py_ssize_t op_cost       # the most steps a one-pass try costs without its runs

ctypedef struct RxJob:       # rx_backtrack: closure entries e .. end still to try at sp
    const int32_t *e
    const int32_t *end
    Py_ssize_t sp, a, b

ctypedef struct RxScratch:   # one search at a time (the module's one is used with the GIL)
    RxThread *lists          # [2 * cap]: current and next thread list
    RxThread *stack          # [2 * cap + 1]: rx_close's explicit recursion
    uint32_t *mark           # [cap]: == gen iff the instruction is on the list being built
    uint32_t gen
    Py_ssize_t cap
    uint64_t *seen           # [RX_BT_BITS / 64]: rx_backtrack's visited states
    RxJob *jobs              # [jobs_cap]: rx_backtrack's stack
    Py_ssize_t jobs_cap

cdef RxScratch RX_SCRATCH    # zero-initialised; grown by rx_reserve


cdef int rx_reserve(RxScratch *R, Py_ssize_t n) noexcept nogil:
    """Room for an n-instruction program; -1 when out of memory (R is then empty)."""
    if n <= R.cap:
        return 0
    free(R.lists)
    free(R.stack)
    free(R.mark)
    R.lists = <RxThread *>malloc(<size_t>(2 * n) * sizeof(RxThread))
    R.stack = <RxThread *>malloc(<size_t>(2 * n + 1) * sizeof(RxThread))
    R.mark = <uint32_t *>calloc(<size_t>n, sizeof(uint32_t))
    R.gen = 0
    R.cap = n
    if R.lists == NULL or R.stack == NULL or R.mark == NULL:
        free(R.lists)
        free(R.stack)
        free(R.mark)
        R.lists, R.stack, R.mark, R.cap = NULL, NULL, NULL, 0
        return -1
    return 0


cdef int rx_reserve_bt(RxScratch *R, Py_ssize_t n) noexcept nogil:
    """Room for a backtracking search of an n-code-point text; -1 when out of memory."""
    if R.seen == NULL:
        R.seen = <uint64_t *>malloc(RX_BT_BITS // 8)
        if R.seen == NULL:
            return -1
    if n + 2 > R.jobs_cap:
        free(R.jobs)
        R.jobs = <RxJob *>malloc(<size_t>(n + 2) * sizeof(RxJob))
        R.jobs_cap = n + 2 if R.jobs != NULL else 0
        if R.jobs == NULL:
            return -1
    return 0


cdef inline void rx_next_gen(RxScratch *R) noexcept nogil:
    """A new list: marks of older lists no longer count (all cleared once per 2**32)."""
    R.gen += 1
    if R.gen == 0:
        memset(R.mark, 0, <size_t>R.cap * sizeof(uint32_t))
        R.gen = 1


cdef inline uint32_t rx_view(bint raw, uint32_t c) noexcept nogil:
    """Code point c as a program reads it: folded, or for a raw program as given, where
    only a surrogate becomes U+FFFD, as it does in the UTF-8 the RE2 path searches."""
    if raw:
        return 0xFFFD if <uint32_t>(c - 0xD800) < 0x800 else c
    return fold_cp(c)


cdef inline uint32_t rx_char(const RxProg *P, const void *d, int kind,
                             Py_ssize_t i) noexcept nogil:
    """Code point i of a PEP 393 buffer as P reads it (Latin-1 holds nothing that folds)."""
    if kind == 1:
        return (<const uint8_t *>d)[i]
    return rx_view(P.raw, _read(d, kind, i))


cdef inline bint rx_has(const RxProg *P, int32_t k, uint32_t c) noexcept nogil:
    cdef Py_ssize_t lo, hi, mid
    if c < 128:
        return (P.ascii[2 * k + (c >> 6)] >> (c & 63)) & 1
    lo, hi = P.rstart[k], P.rstart[k + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        if c < P.ranges[2 * mid]:
            hi = mid
        elif c > P.ranges[2 * mid + 1]:
            lo = mid + 1
        else:
            return True
    return False


cdef inline bint rx_word(const RxProg *P, const void *d, int kind,
                         Py_ssize_t i) noexcept nogil:
    """RE2's \\b word characters: ASCII [0-9A-Za-z_]."""
    cdef uint32_t c = rx_char(P, d, kind, i)
    return (0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A or c == 0x5F)


cdef inline int rx_ctx(const RxProg *P, Py_ssize_t sp, const void *d, int kind,
                       Py_ssize_t n) noexcept nogil:
    """The assertion context at position sp (0 for a program without assertions)."""
    if not P.asserts:
        return 0
    return ((CTX_BEGIN if sp == 0 else 0) | (CTX_END if sp == n else 0) |
            (CTX_WORD if (sp > 0 and rx_word(P, d, kind, sp - 1)) !=
             (sp < n and rx_word(P, d, kind, sp)) else 0))


cdef inline bint rx_starts(const RxProg *P, uint32_t c) noexcept nogil:
    """Whether folded code point c can start a match (P.first >= 0): a thread started
    where it cannot would only die at the next step."""
    return c <= P.first_max and rx_has(P, P.first, c)


cdef Py_ssize_t rx_skip(const RxProg *P, const char_t *p, Py_ssize_t sp,
                        Py_ssize_t n) noexcept nogil:
    """The first position from `sp` whose code point can start a match (or n)."""
    cdef uint32_t c, one = P.first_cp
    if one != RX_NONE:
        while sp < n and p[sp] != one:
            sp += 1
        return sp
    if char_t is not uint8_t and P.first_max < 0x80:
        # An ASCII first class: most code points (CJK) can be passed over unfolded, as
        # only U+3000 and U+FF01..U+FF5E fold into ASCII (for a raw program, folding
        # them only tries a start that fails at once).
        while sp < n:
            c = p[sp]
            if c < 0x80 or c == 0x3000 or <uint32_t>(c - 0xFF01) < 0x5E:
                if rx_starts(P, fold_cp(c)):
                    return sp
            sp += 1
        return n
    while sp < n:
        c = p[sp]
        if char_t is not uint8_t:
            c = rx_view(P.raw, c)
        if rx_starts(P, c):
            return sp
        sp += 1
    return n


cdef inline bint rx_second_ok(const RxProg *P, const void *d, int kind, Py_ssize_t sp,
                              Py_ssize_t n) noexcept nogil:
    """Whether the code point after sp can be a match's second (P.second >= 0), as
    regex_program.second_chars works out: `(?:^|[^\\d])` lets a match start almost
    anywhere, the digit after it does not."""
    return sp + 1 < n and rx_has(P, P.second, rx_char(P, d, kind, sp + 1))


cdef inline Py_ssize_t rx_next_start(const RxProg *P, const void *d, int kind, Py_ssize_t sp,
                                     Py_ssize_t n) noexcept nogil:
    """rx_skip on a PEP 393 buffer of either kind, and past the starts whose next code
    point rules them out."""
    while True:
        if kind == 1:
            sp = rx_skip(P, <const uint8_t *>d, sp, n)
        elif kind == 2:
            sp = rx_skip(P, <const uint16_t *>d, sp, n)
        else:
            sp = rx_skip(P, <const uint32_t *>d, sp, n)
        if sp >= n or P.second < 0 or rx_second_ok(P, d, kind, sp, n):
            return sp
        sp += 1


cdef Py_ssize_t rx_close(const int32_t *code, RxScratch *R, RxThread *lst,
                         Py_ssize_t pc, int ctx) noexcept nogil:
    """The closure of `pc` in context `ctx` into `lst`: depth first, first branch first,
    each instruction entered once, as a Pike VM's addthread. A thread's `a`/`b` become
    -3 where a SAVE sets the group's start/end (-2: untouched). The stack never holds
    more than 2n + 1 frames (each instruction, entered once, pushes at most two)."""
    cdef RxThread *st = R.stack
    cdef Py_ssize_t top = 1, cnt = 0, a, b
    cdef const int32_t *ins
    cdef bint holds
    rx_next_gen(R)
    st[0].pc, st[0].a, st[0].b = pc, -2, -2
    while top:
        top -= 1
        pc, a, b = st[top].pc, st[top].a, st[top].b
        if R.mark[pc] == R.gen:
            continue
        R.mark[pc] = R.gen
        ins = code + 3 * pc
        if ins[0] == RX_JMP:
            st[top].pc, st[top].a, st[top].b = ins[1], a, b
            top += 1
        elif ins[0] == RX_SPLIT:
            st[top].pc, st[top].a, st[top].b = ins[2], a, b
            st[top + 1].pc, st[top + 1].a, st[top + 1].b = ins[1], a, b
            top += 2
        elif ins[0] == RX_SAVE:
            st[top].pc, st[top].a, st[top].b = pc + 1, a, b
            if ins[1] == 0:
                st[top].a = -3
            else:
                st[top].b = -3
            top += 1
        elif ins[0] == RX_ASSERT:
            if ins[1] == AS_BEGIN:
                holds = ctx & CTX_BEGIN
            elif ins[1] == AS_END:
                holds = ctx & CTX_END
            elif ins[1] == AS_WORD:
                holds = ctx & CTX_WORD
            else:
                holds = not ctx & CTX_WORD
            if holds:
                st[top].pc, st[top].a, st[top].b = pc + 1, a, b
                top += 1
        else:
            lst[cnt].pc, lst[cnt].a, lst[cnt].b = pc, a, b
            cnt += 1
    return cnt


cdef inline const int32_t *rx_closure(const RxProg *P, Py_ssize_t pc, int ctx,
                                      const int32_t **end) noexcept nogil:
    """pc's closure entries in context ctx (see the top of this file)."""
    cdef Py_ssize_t k = ctx * P.n + pc
    end[0] = P.clo + 2 * P.clo_start[k + 1]
    return P.clo + 2 * P.clo_start[k]


cdef inline Py_ssize_t rx_follow(const RxProg *P, RxScratch *R, RxThread *lst,
                                 Py_ssize_t cnt, Py_ssize_t pc, Py_ssize_t a, Py_ssize_t b,
                                 Py_ssize_t sp, int ctx) noexcept nogil:
    """Append pc's closure (threads not already on the list being built) at position sp."""
    cdef const int32_t *end
    cdef const int32_t *e = rx_closure(P, pc, ctx, &end)
    cdef int32_t t
    while e < end:
        t = e[0]
        if R.mark[t] != R.gen:
            R.mark[t] = R.gen
            lst[cnt].pc = t
            lst[cnt].a = sp if e[1] & 1 else a
            lst[cnt].b = sp if e[1] & 2 else b
            cnt += 1
        e += 2
    return cnt


cdef int rx_search(const RxProg *P, RxScratch *R, const void *d, int kind, Py_ssize_t n,
                   Py_ssize_t *ga, Py_ssize_t *gb) noexcept nogil:
    """Leftmost-first search: 1 and the group's span (-1, -1 if it took no part) in code
    points, 0 without a match, -1 out of memory. One step per code point, each step
    bounded by the closure entries (RX_MAX_CLOSURE); with no thread alive, skip to the
    next code point that can start a match."""
    cdef RxThread *cl
    cdef RxThread *nl
    cdef Py_ssize_t nc = 0, nn, i, sp = 0
    cdef int matched = 0, ctx = 0
    cdef uint32_t c = 0
    cdef const int32_t *ins
    ga[0] = gb[0] = -1
    if rx_reserve(R, P.n) < 0:
        return -1
    cl, nl = R.lists, R.lists + P.n
    while True:
        if not matched:
            if nc == 0:
                if P.first >= 0:
                    sp = rx_next_start(P, d, kind, sp, n)
                    if sp >= n:
                        break
                rx_next_gen(R)
                nc = rx_follow(P, R, cl, nc, 0, -1, -1, sp, rx_ctx(P, sp, d, kind, n))
            elif P.first < 0 or sp < n and rx_starts(P, rx_char(P, d, kind, sp)) and (
                    P.second < 0 or rx_second_ok(P, d, kind, sp, n)):
                nc = rx_follow(P, R, cl, nc, 0, -1, -1, sp, rx_ctx(P, sp, d, kind, n))
        if nc == 0:
            if matched or sp >= n:
                break
            sp += 1
            continue
        if sp < n:
            c = rx_char(P, d, kind, sp)
            ctx = rx_ctx(P, sp + 1, d, kind, n)
        rx_next_gen(R)
        nn = 0
        for i in range(nc):
            ins = P.code + 3 * cl[i].pc
            if ins[0] == RX_CLASS:
                if sp < n and rx_has(P, ins[1], c):
                    nn = rx_follow(P, R, nl, nn, cl[i].pc + 1, cl[i].a, cl[i].b, sp + 1,
                                   ctx)
            else:                            # RX_MATCH: lower-priority threads are cut
                matched = 1
                ga[0], gb[0] = cl[i].a, cl[i].b
                break
        if sp >= n:
            break
        cl, nl = nl, cl
        nc = nn
        sp += 1
    return matched


cdef int rx_backtrack(const RxProg *P, RxScratch *R, const void *d, int kind, Py_ssize_t n,
                      Py_ssize_t *ga, Py_ssize_t *gb) noexcept nogil:
    """rx_search's answer by backtracking, as RE2's BitState: for each start position in
    turn, depth first through the closure entries in priority order, so the first MATCH
    reached is the leftmost-first match. Each (instruction, position) state is entered at
    most once over the whole search (a state that led nowhere before leads nowhere now),
    so the time stays O(length x program). Only for P.n * (n + 1) <= RX_BT_BITS. On the
    short texts of SMS it does a fraction of the Pike VM's work: no thread lists, and no
    thread started where the text cannot start a match. The job stack holds one job per
    position at most (each job is one position past the one below it): n + 2 jobs."""
    cdef Py_ssize_t sp = 0, top, p, bit, lo = -1, hi
    cdef RxJob *J
    cdef int32_t t, f
    cdef const int32_t *ins
    ga[0] = gb[0] = -1
    if rx_reserve_bt(R, n) < 0:
        return -1
    while True:
        if P.first >= 0:
            sp = rx_next_start(P, d, kind, sp, n)
            if sp >= n:
                return 0
        if lo < 0:                  # states before the first start are never entered
            lo = (sp * P.n) >> 6
            hi = ((n + 1) * P.n - 1) >> 6
            memset(R.seen + lo, 0, <size_t>(hi - lo + 1) * sizeof(uint64_t))
        J = R.jobs
        J.e = rx_closure(P, 0, rx_ctx(P, sp, d, kind, n), &J.end)
        J.sp, J.a, J.b = sp, -1, -1
        top = 1
        while top:
            J = R.jobs + top - 1
            if J.e == J.end:
                top -= 1
                continue
            t, f = J.e[0], J.e[1]
            J.e += 2
            p = J.sp
            bit = p * P.n + t
            if (R.seen[bit >> 6] >> (bit & 63)) & 1:
                continue
            R.seen[bit >> 6] |= 1ULL << (bit & 63)
            ins = P.code + 3 * t
            if ins[0] == RX_MATCH:
                ga[0] = p if f & 1 else J.a
                gb[0] = p if f & 2 else J.b
                return 1
            if p < n and rx_has(P, ins[1], rx_char(P, d, kind, p)):
                R.jobs[top].e = rx_closure(P, t + 1, rx_ctx(P, p + 1, d, kind, n),
                                           &R.jobs[top].end)
                R.jobs[top].sp = p + 1
                R.jobs[top].a = p if f & 1 else J.a
                R.jobs[top].b = p if f & 2 else J.b
                top += 1
        if sp >= n:
            return 0
        sp += 1


cdef inline Py_ssize_t rx_run(const RxProg *P, const void *d, int kind, Py_ssize_t n,
                              int32_t k, Py_ssize_t p, Py_ssize_t lim,
                              Py_ssize_t *steps) noexcept nogil:
    """Where the run of class k's code points from p ends, at lim at the latest."""
    cdef Py_ssize_t e = p
    while e < lim and rx_has(P, k, rx_char(P, d, kind, e)):
        e += 1
    steps[0] += e - p + 1
    return e


cdef int rx_op_at(const RxProg *P, const void *d, int kind, Py_ssize_t n, Py_ssize_t sp,
                  Py_ssize_t *run, Py_ssize_t *steps, Py_ssize_t *ga,
                  Py_ssize_t *gb) noexcept nogil:
    """P's one-pass items at start sp: 1 (the group's span in ga, gb) or 0. Each class
    takes all it can and a branch is kept once it matched: no other choice can match
    (regex_program.one_pass). run[2j], run[2j + 1] hold the last run an unbounded item j
    scanned (all in its class, ending where the class stops), so that a later start
    inside it (a start at each digit of a long digit run) does not scan it again."""
    cdef Py_ssize_t p = sp, a = -1, b = -1, k = 0, e, p0 = 0, bend = -1, bskip = 0
    cdef const int32_t *it
    cdef bint ok
    while k < P.nop:
        if k == bend:                         # the branch matched: past the others
            k, bend = k + bskip, -1
            continue
        it = P.op + 4 * k
        ok = True
        if it[0] == OP_ATOM:
            if it[3] >= 0:
                e = rx_run(P, d, kind, n, it[1], p, min(n, p + it[3]), steps)
            elif run[2 * k] <= p <= run[2 * k + 1]:
                e = run[2 * k + 1]
            else:
                e = rx_run(P, d, kind, n, it[1], p, run[2 * k] if p < run[2 * k] else n,
                           steps)
                if e == run[2 * k]:       # reached the known run: it goes on to its end
                    e = run[2 * k + 1]
                run[2 * k], run[2 * k + 1] = p, e
            ok = e - p >= it[2]
            p = e
        elif it[0] == OP_SAVE:
            if it[1] == 0:
                a = p
            else:
                b = p
        elif it[0] == OP_TRY:
            p0, bend, bskip = p, k + 1 + it[1], it[2]
        elif it[1] == AS_BEGIN:
            ok = p == 0
        elif it[1] == AS_END:
            ok = p == n
        else:
            ok = (p > 0 and rx_word(P, d, kind, p - 1)) != (p < n and rx_word(P, d, kind, p))
        if ok:
            k += 1
        elif bend >= 0:                      # the branch failed: on after it
            p, k, bend = p0, bend, -1
        else:
            return 0
    steps[0] += P.nop
    ga[0], gb[0] = a, b
    return 1


cdef int rx_onepass(const RxProg *P, const void *d, int kind, Py_ssize_t n,
                    Py_ssize_t *ga, Py_ssize_t *gb) noexcept nogil:
    """rx_search's answer for a one-pass program (P.nop > 0): rx_op_at at each start in
    turn. 1 or 0, or -2 when its steps pass 2 (n + 1) P.op_cost (a pattern whose runs
    the cache does not cover: the caller then runs the VM), so the time stays linear."""
    cdef Py_ssize_t run[2 * RX_MAX_ONEPASS]
    cdef Py_ssize_t sp = 0, steps = 0, budget = 2 * (n + 1) * P.op_cost
    cdef int r = 0
    cdef int32_t k
    global RX_OP_STEPS
    for k in range(2 * P.nop):
        run[k] = -1
    ga[0] = gb[0] = -1
    while True:
        if P.first >= 0:
            sp = rx_next_start(P, d, kind, sp, n)
            if sp >= n:
                break
        steps += 1
        if rx_op_at(P, d, kind, n, sp, run, &steps, ga, gb):
            r = 1
            break
        if sp >= n:
            break
        if steps > budget:
            r, steps = -2, -1
            break
        sp += 1
    RX_OP_STEPS = steps
    return r


cdef object read_slice(str text, Py_ssize_t a, Py_ssize_t b, bint raw=False):
    """``text[a:b]`` as a program reads it (rx_view): ``fold(text[a:b])``, the extracted
    value as RE2 on the folded text would give it, or for a raw program only surrogates
    replaced."""
    cdef int kind = PyUnicode_KIND(text)
    cdef const void *d = PyUnicode_DATA(text)
    cdef Py_ssize_t i
    cdef uint32_t *buf
    if kind != 1:
        for i in range(a, b):
            if rx_view(raw, _read(d, kind, i)) != _read(d, kind, i):
                break
        else:
            return PyUnicode_Substring(text, a, b)
        buf = <uint32_t *>malloc(<size_t>(b - a) * sizeof(uint32_t))
        if buf == NULL:
            raise MemoryError()
        try:
            for i in range(a, b):
                buf[i - a] = rx_view(raw, _read(d, kind, i))
            return PyUnicode_FromKindAndData(4, buf, b - a)
        finally:
            free(buf)
    return PyUnicode_Substring(text, a, b)


cdef class Regex:
    """A validated VM program (see scenec.runtime.regex_program) and its class tables."""

    cdef RxProg p
    cdef int32_t *code
    cdef uint64_t *ascii
    cdef int32_t *rstart
    cdef uint32_t *ranges
    cdef int32_t *clo_start
    cdef int32_t *clo
    cdef int32_t *op
    cdef void *block                 # all of the above, packed (see _pack)
    cdef Py_ssize_t nclass, nranges
    cdef readonly Py_ssize_t nclo    # closure entries: the most a step can visit
    cdef readonly object fallback    # None, or RE2's (Match method, anchor) for long texts
    cdef readonly object text_fallback  # a raw program's: None, or f(text) for long texts

    def __cinit__(self, code, classes, int first, bint raw=False, int second=-1,
                  onepass=()):
        cdef Py_ssize_t n = len(code), nclass = len(classes), nr, i, k, j
        if n % 3 or not 3 <= n <= 3 * RX_MAX_CODE:
            raise ValueError(f"program of {n} words")
        if not -1 <= first < nclass:
            raise ValueError(f"first class {first} of {nclass}")
        if not -1 <= second < nclass or second >= 0 and first < 0:
            raise ValueError(f"second class {second} of {nclass} (first {first})")
        nr = sum(len(c) for c in classes)
        self.code = <int32_t *>malloc(<size_t>n * sizeof(int32_t))
        self.ascii = <uint64_t *>calloc(<size_t>(2 * nclass + 2), sizeof(uint64_t))
        self.rstart = <int32_t *>malloc(<size_t>(nclass + 1) * sizeof(int32_t))
        self.ranges = <uint32_t *>malloc(<size_t>(2 * nr + 2) * sizeof(uint32_t))
        if not (self.code and self.ascii and self.rstart and self.ranges):
            raise MemoryError()
        for i in range(n):
            self.code[i] = code[i]
        j = 0
        for k in range(nclass):
            self.rstart[k] = <int32_t>j
            j = self._fill_class(k, classes[k], j)
        self.rstart[nclass] = <int32_t>j
        self._check_code(n // 3, nclass)
        self.p.code, self.p.n, self.p.first, self.p.second = self.code, n // 3, first, second
        self.p.first_cp = RX_NONE
        self.p.first_max = 0
        if first >= 0 and len(classes[first]):  # (no negative indexing: wraparound=False)
            self.p.first_max = classes[first][len(classes[first]) - 1][1]
        if first >= 0 and len(classes[first]) == 1:
            lo, hi = classes[first][0]
            if lo == hi and lo >= 0x80 and lo != 0xFFFD and not 0xD800 <= lo < 0xE000:
                self.p.first_cp = lo
        self.p.raw = raw
        self.p.ascii, self.p.rstart, self.p.ranges = self.ascii, self.rstart, self.ranges
        self.nclass, self.nranges = nclass, nr
        self._closures()
        self._one_pass(onepass, nclass)
        self._pack()

    cdef int _pack(self) except -1:
        """Move the tables into one allocation: a search of a scene seen rarely (100,000
        scenes) then misses the cache on a few adjacent lines, not on six arrays."""
        cdef Py_ssize_t nctx = 8 if self.p.asserts else 1, n = self.p.n
        cdef void *srcs[7]
        cdef size_t sizes[7]
        cdef size_t offs[8]
        cdef int i
        cdef char *blk
        srcs[0], sizes[0] = self.ascii, 8 * (2 * self.nclass + 2)
        srcs[1], sizes[1] = self.code, 4 * 3 * n
        srcs[2], sizes[2] = self.clo_start, 4 * (nctx * n + 1)
        srcs[3], sizes[3] = self.clo, 4 * 2 * self.nclo
        srcs[4], sizes[4] = self.rstart, 4 * (self.nclass + 1)
        srcs[5], sizes[5] = self.ranges, 4 * (2 * self.nranges + 2)
        srcs[6], sizes[6] = self.op, 4 * 4 * self.p.nop
        offs[0] = 0
        for i in range(7):                   # each table 8-byte aligned
            offs[i + 1] = offs[i] + ((sizes[i] + 7) & ~(<size_t>7))
        blk = <char *>malloc(offs[7])
        if blk == NULL:
            raise MemoryError()
        for i in range(7):
            memcpy(blk + offs[i], srcs[i], sizes[i])
            free(srcs[i])
        self.block = blk
        self.code = self.clo_start = self.clo = self.rstart = NULL
        self.ascii, self.ranges, self.op = NULL, NULL, NULL
        self.p.ascii = <const uint64_t *>(blk + offs[0])
        self.p.code = <const int32_t *>(blk + offs[1])
        self.p.clo_start = <const int32_t *>(blk + offs[2])
        self.p.clo = <const int32_t *>(blk + offs[3])
        self.p.rstart = <const int32_t *>(blk + offs[4])
        self.p.ranges = <const uint32_t *>(blk + offs[5])
        self.p.op = <const int32_t *>(blk + offs[6])
        return 0

    cdef bint _branch(self, items, Py_ssize_t k, int32_t x, int32_t skip):
        """Whether a branch of x atoms at item k, then `skip` items, fits the items."""
        cdef Py_ssize_t m = len(items) // 4
        return (x >= 1 and skip >= 0 and k + 1 + x + skip <= m and
                all(items[4 * j] == OP_ATOM for j in range(k + 1, k + 1 + x)))

    cdef int _one_pass(self, items, Py_ssize_t nclass) except -1:
        """Validate and copy the one-pass items (regex_program.one_pass; () for none), and
        the steps a try may cost without its unbounded runs (rx_onepass's budget)."""
        cdef Py_ssize_t m = len(items), k
        cdef int32_t op, x, lo, hi
        if m % 4 or m > 4 * RX_MAX_ONEPASS:
            raise ValueError(f"one-pass program of {m} words")
        self.op = <int32_t *>malloc(<size_t>(m + 4) * sizeof(int32_t))
        if self.op == NULL:
            raise MemoryError()
        self.p.nop, self.p.op_cost = m // 4, 1
        for k in range(m // 4):
            op, x, lo, hi = items[4 * k], items[4 * k + 1], items[4 * k + 2], items[4 * k + 3]
            if not (op == OP_ATOM and 0 <= x < nclass and 0 <= lo and (hi == -1 or 1 <= hi
                    and lo <= hi) or op == OP_SAVE and (x == 0 or x == 1)
                    or op == OP_ASSERT and x in (AS_BEGIN, AS_END, AS_WORD)
                    or op == OP_TRY and self._branch(items, k, x, lo)):
                raise ValueError(f"one-pass item {k}: ({op}, {x}, {lo}, {hi})")
            self.op[4 * k], self.op[4 * k + 1] = op, x
            self.op[4 * k + 2], self.op[4 * k + 3] = lo, hi
            self.p.op_cost += 2 if op == OP_ATOM and hi < 0 else hi + 1 if op == OP_ATOM else 1
        self.p.op = self.op
        return 0

    cdef int _closures(self) except -1:
        """Every instruction's closure in every context (see the top of this file)."""
        cdef Py_ssize_t n = self.p.n, pc, i, k, total = 0, cap = 4 * n
        cdef int ctx, nctx
        cdef RxThread *lst
        cdef int32_t *grown
        self.p.asserts = any(self.code[3 * pc] == RX_ASSERT for pc in range(n))
        nctx = 8 if self.p.asserts else 1
        self.clo_start = <int32_t *>malloc(<size_t>(nctx * n + 1) * sizeof(int32_t))
        self.clo = <int32_t *>malloc(<size_t>(2 * cap) * sizeof(int32_t))
        if not (self.clo_start and self.clo) or rx_reserve(&RX_SCRATCH, n) < 0:
            raise MemoryError()
        lst = RX_SCRATCH.lists
        for ctx in range(nctx):
            for pc in range(n):
                self.clo_start[ctx * n + pc] = <int32_t>total
                k = rx_close(self.code, &RX_SCRATCH, lst, pc, ctx)
                if total + k > RX_MAX_CLOSURE:
                    raise ValueError(f"closures exceed {RX_MAX_CLOSURE} entries")
                if total + k > cap:
                    cap = max(2 * cap, total + k)
                    grown = <int32_t *>realloc(self.clo, <size_t>(2 * cap) * sizeof(int32_t))
                    if grown == NULL:
                        raise MemoryError()
                    self.clo = grown
                for i in range(k):
                    self.clo[2 * (total + i)] = <int32_t>lst[i].pc
                    self.clo[2 * (total + i) + 1] = (lst[i].a == -3) | (lst[i].b == -3) << 1
                total += k
        self.clo_start[nctx * n] = <int32_t>total
        self.nclo = total
        self.p.clo_start, self.p.clo = self.clo_start, self.clo
        return 0

    cdef Py_ssize_t _fill_class(self, Py_ssize_t k, ranges, Py_ssize_t j) except -1:
        """Copy class k's ranges (ascending, disjoint, within Unicode) from index j."""
        cdef long lo, hi, prev = -1, c
        for lo, hi in ranges:
            if not prev < lo <= hi <= 0x10FFFF:
                raise ValueError(f"class {k}: bad range ({lo}, {hi})")
            self.ranges[2 * j], self.ranges[2 * j + 1] = lo, hi
            for c in range(lo, min(hi, 127) + 1):
                self.ascii[2 * k + (c >> 6)] |= 1ULL << (c & 63)
            prev, j = hi, j + 1
        return j

    cdef int _check_code(self, Py_ssize_t n, Py_ssize_t nclass) except -1:
        """Every operand in range, and every instruction that falls through has a next."""
        cdef Py_ssize_t pc
        cdef int32_t op, x, y
        for pc in range(n):
            op, x, y = self.code[3 * pc], self.code[3 * pc + 1], self.code[3 * pc + 2]
            if op == RX_CLASS:
                ok = 0 <= x < nclass
            elif op == RX_SPLIT:
                ok = 0 <= x < n and 0 <= y < n
            elif op == RX_JMP:
                ok = 0 <= x < n
            elif op == RX_SAVE:
                ok = x == 0 or x == 1
            elif op == RX_ASSERT:
                ok = AS_BEGIN <= x <= AS_NOT_WORD
            else:
                ok = op == RX_MATCH
            if not ok:
                raise ValueError(f"instruction {pc}: ({op}, {x}, {y})")
            if op in (RX_CLASS, RX_SAVE, RX_ASSERT) and pc + 1 >= n:
                raise ValueError(f"instruction {pc} falls off the end")
        return 0

    def __dealloc__(self):
        free(self.code)
        free(self.ascii)
        free(self.rstart)
        free(self.ranges)
        free(self.clo_start)
        free(self.clo)
        free(self.op)
        free(self.block)

    cdef int find(self, str text, Py_ssize_t *a, Py_ssize_t *b, int engine=0) except -1:
        """1 (span in a, b) or 0; the scratch is the module's, so the GIL must be held.
        `engine` (tests only): 0 the one-pass loop for a one-pass program (unless it
        gives up), else backtracking where its states fit RX_BT_BITS, else the Pike VM;
        1 always the Pike VM; 2 backtracking (the text must fit); 3 as 0, for a one-pass
        program only."""
        cdef int r
        cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
        scenec_unicode_ready(text)
        if self.p.nop and (engine == 0 or engine == 3):
            r = rx_onepass(&self.p, PyUnicode_DATA(text), PyUnicode_KIND(text), n, a, b)
            if r >= 0:
                return r
        if engine == 2 or engine == 0 and self.p.n * (n + 1) <= RX_BT_BITS:
            r = rx_backtrack(&self.p, &RX_SCRATCH, PyUnicode_DATA(text), PyUnicode_KIND(text),
                             n, a, b)
        else:
            r = rx_search(&self.p, &RX_SCRATCH, PyUnicode_DATA(text), PyUnicode_KIND(text),
                          n, a, b)
        if r < 0:
            raise MemoryError()
        return r

    def set_fallback(self, method, anchor):
        """The same pattern on RE2 (its `Match` method and anchor), used instead for texts
        longer than RX_LONG_TEXT code points: there the per-call cost of the binding no
        longer matters and RE2's DFA beats a Pike VM whose threads stay alive."""
        if not callable(method):
            raise TypeError("method must be callable")
        if self.p.raw:  # RE2 searches the folded UTF-8: a raw program always runs here
            raise ValueError("a raw program has no RE2 fallback")
        self.fallback = (method, anchor)

    def set_text_fallback(self, search):
        """A raw program's counterpart of `set_fallback`: `search(text)` runs the same
        pattern on RE2's str API over the caller's text and returns the group's text
        (None when it took no part, False without a match). Used instead of the VM for
        texts longer than RX_LONG_TEXT code points, where the VM's cost per character
        grows with the pattern (a 900-wide counted repeat took 6.6 s on 1M characters)."""
        if not callable(search):
            raise TypeError("search must be callable")
        if not self.p.raw:
            raise ValueError("a folding program uses set_fallback")
        self.text_fallback = search

    def search(self, str text not None, str engine="auto"):
        """None without a match, else the group's (start, end) in code points of the
        text (folding keeps offsets), (-1, -1) when the group took no part. `engine`
        ("auto", "pike" or "backtrack") lets the tests hold both engines to RE2."""
        cdef Py_ssize_t a, b
        cdef int e
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        e = ENGINES[engine]
        if e == 2 and self.p.n * (PyUnicode_GET_LENGTH(text) + 1) > RX_BT_BITS:
            raise ValueError("text too long to backtrack")
        if e == 3 and not self.p.nop:
            raise ValueError("not a one-pass program")
        if not self.find(text, &a, &b, e):
            return None
        return (a, b)

    def extract(self, str text not None):
        """The group's text as the program reads it, or None (no match, or the group took
        no part)."""
        cdef Py_ssize_t a, b
        if not self.find(text, &a, &b) or a < 0:
            return None
        return read_slice(text, a, b, self.p.raw)

    @property
    def onepass(self):
        """Whether the program runs as a one-pass loop (see rx_onepass)."""
        return self.p.nop > 0

    @staticmethod
    def onepass_steps():
        """The last one-pass search's steps (code points tested, items, starts), or -1
        when it gave up for the VM: the tests' measure of its linear time."""
        return RX_OP_STEPS

    @property
    def raw(self):
        """Whether the program reads the text unfolded (a `raw` extractor's)."""
        return self.p.raw
