"""Lower literal strings to the flat tables that ``scenec.runtime._core`` scans with.

The core matches two kinds of text literals (see ``docs/internals.md``):

* *automaton literals* are found anywhere in the folded text by an Aho–Corasick automaton
  over code points;
* *signature literals* (``【…】``) are found by hashing every ``【…】`` segment of the text.

Everything is returned as ``array.array`` objects of int32 (``'i'``) or int64 (``'q'``) so
the artifact writer can store them verbatim and the core can use them in place (zero copy)
after validating them. The layouts below are the contract with ``runtime/_core.pyx``.

Automaton tables (``C`` character classes; ``P`` positions of a double-array trie):

``ac_class_pairs`` int32[2k]   sorted ``(code point, class)`` pairs, every literal code point.
                                The artifact stores only these; the runtime loader expands
                                them into the core's ``ac_class_bmp`` (int32[65536], code
                                point -> class, 0 = in no literal) and ``ac_class_astral``
                                (the pairs for code points >= 2**16).
``ac_root``       int32[C]      dense root transitions: the position of the root's child on
                                each class, 0 = stay at the root. ``ac_root[0]`` is 0 (class 0
                                is in no literal); the core checks it at load and relies on it
                                to return to the root without a branch.
``ac_node``       int32[4P]     one record per position: ``(check, base, fail, out)``.
                                A state *is* a position; position 0 is the root. The child of
                                state ``s`` on class ``c`` is ``t = base[s] + c`` when
                                ``check[t] == s`` (free positions have check -1). So a
                                transition costs one load, and that load brings in the
                                target's own record. ``base == -1`` marks a leaf (no probe);
                                otherwise ``0 <= base <= P - C``. ``fail`` is the failure
                                link. ``out`` says what the state reports: 0 nothing;
                                ``-(lit + 1)`` exactly one literal (the common case, so a
                                hit needs no second load); ``e > 0`` the ``ac_out`` chain
                                starting at entry ``e``.
``ac_out``        int32[2M]     output chains: entry ``e >= 1`` is ``(literal id, next
                                entry)``, where next is the entry of the longest proper suffix
                                that is also a literal (the dictionary-suffix link); entry 0 is
                                ``(-1, 0)``. Reporting a state walks only real matches.

Signature tables (``n`` signatures):

``sig_slots``  int32[2**b]  signature index or -1; home slot ``mix(fnv(inner)) >> (64 - b)``.
``sig_off``    int32[n+1]   offsets of each signature's inner code points in ``sig_chars``.
``sig_chars``  int32[]      inner code points (without the brackets) of all signatures.
``sig_lit``    int32[n]     literal id of each signature.

The signature hash here and in the core must agree bit for bit; both use only 64-bit
wrap-around arithmetic (``fnv_codepoints`` and ``mix_home``).
"""

from __future__ import annotations

import array
from collections import deque
from collections.abc import Iterable, Sequence

__all__ = ["build_automaton", "fnv_codepoints", "mix_home"]

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
INT32_MAX = 2**31 - 1
SIG_OPEN = "\u3010"
SIG_CLOSE = "\u3011"


def mix_home(value: int, bits: int) -> int:
    """Home slot of a 64-bit value in a table of ``2**bits`` slots (Fibonacci hashing).

    The high bits of the product are well mixed even when the keys are small consecutive
    integers, which ``state * C + class`` keys are.
    """
    return ((value * GOLDEN) & MASK64) >> (64 - bits)


def fnv_codepoints(codepoints: Iterable[int]) -> int:
    """FNV-1a over code points: the core hashes a text segment with the same loop."""
    h = FNV_OFFSET
    for cp in codepoints:
        h = ((h ^ cp) * FNV_PRIME) & MASK64
    return h


def _table_bits(nitems: int) -> int:
    """log2 size of an open-addressing table: load factor < 1/2, so a lookup of an
    absent key (the common case: most 【…】 segments are no signature) ends quickly, and
    there is always an empty slot to end it."""
    return max(1, (2 * nitems).bit_length())


def _is_unfolded(ch: str) -> bool:
    """True for code points that folding would change (see ``scenec.runtime.fold``)."""
    cp = ord(ch)
    return 0xFF01 <= cp <= 0xFF5E or cp == 0x3000 or 0xD800 <= cp <= 0xDFFF


def _check_strings(kind: str, items: Sequence[tuple[str, int]]) -> None:
    """Reject inputs the core could never match, so mistakes fail at compile time."""
    seen: set[str] = set()
    ids: set[int] = set()
    for text, lit in items:
        if not isinstance(text, str) or not text:
            raise ValueError(f"{kind} {text!r}: must be a non-empty str")
        if not isinstance(lit, int) or not 0 <= lit <= INT32_MAX:
            raise ValueError(f"{kind} {text!r}: bad literal id {lit!r}")
        if text in seen or lit in ids:
            raise ValueError(f"{kind} {text!r}: duplicate string or literal id {lit}")
        if any(_is_unfolded(ch) for ch in text):
            raise ValueError(f"{kind} {text!r}: not folded")
        seen.add(text)
        ids.add(lit)


def _assign_classes(literals: Sequence[tuple[str, int]]) -> dict[str, int]:
    """Give every code point used by some literal a dense class id starting at 1.

    Class 0 means "in no literal", which lets the scan reset to the root without any
    table lookup. Classes are ordered by code point, so the output is deterministic.
    """
    chars = sorted({ch for text, _ in literals for ch in text})
    return {ch: i + 1 for i, ch in enumerate(chars)}


class _Trie:
    """Goto function, failure links and outputs of the Aho–Corasick automaton."""

    def __init__(self, literals: Sequence[tuple[str, int]], classes: dict[str, int]) -> None:
        self.goto: list[dict[int, int]] = [{}]
        self.own: list[int] = [-1]
        for text, lit in literals:
            s = 0
            for ch in text:
                c = classes[ch]
                t = self.goto[s].get(c)
                if t is None:
                    t = len(self.goto)
                    self.goto[s][c] = t
                    self.goto.append({})
                    self.own.append(-1)
                s = t
            self.own[s] = lit
        self.fail = [0] * len(self.goto)
        self.dict_link = [0] * len(self.goto)
        self.bfs = self._link()

    def _link(self) -> list[int]:
        """Compute failure and dictionary-suffix links in BFS order; return that order."""
        goto, fail, own, dict_link = self.goto, self.fail, self.own, self.dict_link
        order = [0]
        queue = deque(goto[0].values())
        while queue:
            s = queue.popleft()
            order.append(s)
            for c, t in goto[s].items():
                fail[t] = self._fail_target(s, fail[s], c)
                queue.append(t)
            f = fail[s]
            dict_link[s] = f if own[f] >= 0 else dict_link[f]
        return order

    def _fail_target(self, parent: int, f: int, c: int) -> int:
        """Longest proper suffix state of ``parent + c``: walk ``parent``'s failure chain."""
        goto = self.goto
        if parent == 0:
            return 0
        while True:
            t = goto[f].get(c)
            if t is not None:
                return t
            if f == 0:
                return 0
            f = self.fail[f]


def _class_tables(classes: dict[str, int]) -> dict[str, array.array[int]]:
    """Sorted ``(code point, class)`` pairs; the runtime expands them into ``ac_class_bmp``.

    Storing pairs instead of the 256 KiB BMP table keeps small artifacts small (and cheap to
    checksum); the expansion at load costs one pass over the pairs.
    """
    pairs = array.array("i")
    for ch, c in sorted(classes.items()):
        pairs.extend((ord(ch), c))
    return {"ac_class_pairs": pairs}


class _DoubleArray:
    """First-fit placement of trie states into a double array (see ``ac_node``).

    Placement order is free (a state's own position comes from its parent). States with
    several children go first, while the array is sparse: occupied positions are the set
    bits of one big integer, so the lowest base whose child positions are all free is
    the lowest zero bit of ``OR(used >> c)`` over the child classes, a few big-integer
    operations per state at C speed. Single-child states (most of them) then only need
    any free position ``>= class``; ``bytearray.find`` over a byte-per-position copy
    finds it at C speed, filling the holes. The root's children sit at position
    ``class`` (a dense, hot block right after the root).
    """

    def __init__(self, root_classes: Iterable[int]) -> None:
        self.used = 1 | sum(1 << c for c in root_classes)
        self.flags = bytearray()
        self.lo = 0

    def place_many(self, classes: Sequence[int]) -> int:
        """Phase 1: reserve ``base + c`` for every class; return the lowest such base."""
        if self.flags:
            raise RuntimeError("multi-child states must be placed before single-child ones")
        conflict = 0
        for c in classes:
            conflict |= self.used >> c
        free = ~conflict
        base = (free & -free).bit_length() - 1
        self.used |= sum(1 << c for c in classes) << base
        return base

    def place_one(self, c: int) -> int:
        """Phase 2: the lowest free position ``>= c``, reserved; returns its base."""
        if not self.flags:
            bits = bin(self.used)[:1:-1].encode()
            self.flags = bytearray(bits.translate(bytes.maketrans(b"01", b"\0\1")))
        self.lo = self.flags.find(0, self.lo)
        if self.lo < 0:
            self.lo = len(self.flags)
        p = self.flags.find(0, max(self.lo, c))
        if p < 0:
            p = max(len(self.flags), c)
        if p >= len(self.flags):
            self.flags.extend(bytes(p + 1 - len(self.flags)))
        self.flags[p] = 1
        return p - c


def _place(trie: _Trie) -> tuple[list[int], list[int]]:
    """Position of every trie state and base of every state (-1 for leaves)."""
    nstates = len(trie.goto)
    pos = [0] * nstates
    base = [-1] * nstates
    da = _DoubleArray(trie.goto[0])
    for c, t in trie.goto[0].items():
        pos[t] = c
    parents = [s for s in trie.bfs[1:] if trie.goto[s]]
    parents.sort(key=lambda s: -len(trie.goto[s]))
    for s in parents:
        children = trie.goto[s]
        if len(children) > 1:
            b = da.place_many(list(children))
        else:
            b = da.place_one(next(iter(children)))
        base[s] = b
        for c, t in children.items():
            pos[t] = b + c
    return pos, base


def _out_chains(trie: _Trie) -> tuple[list[int], array.array[int]]:
    """``ac_out`` entries (one per literal-ending state) and every state's ``out`` field."""
    entry = [0] * len(trie.goto)
    out = array.array("i", [-1, 0])
    for s in trie.bfs[1:]:
        if trie.own[s] >= 0:
            entry[s] = len(out) // 2
            out.extend((trie.own[s], 0))
    for s in trie.bfs[1:]:
        if trie.own[s] >= 0:
            out[2 * entry[s] + 1] = entry[trie.dict_link[s]]
        else:
            entry[s] = entry[trie.dict_link[s]]
    field = list(entry)
    for s in trie.bfs[1:]:
        if trie.own[s] >= 0 and trie.dict_link[s] == 0:
            field[s] = -trie.own[s] - 1
    return field, out


def _automaton_tables(literals: Sequence[tuple[str, int]]) -> dict[str, array.array[int]]:
    """Build the ``ac_*`` tables (layouts in the module docstring)."""
    classes = _assign_classes(literals)
    nclasses = len(classes) + 1
    trie = _Trie(literals, classes)
    pos, base = _place(trie)
    npos = max([nclasses, *pos, *(b + nclasses for b in base)]) + 1
    if 4 * npos > INT32_MAX:
        raise ValueError("automaton too large")
    out_field, out = _out_chains(trie)
    node = array.array("i", [-1, -1, 0, 0]) * npos
    root = array.array("i", bytes(4 * nclasses))
    for c, t in trie.goto[0].items():
        root[c] = pos[t]
    for s in range(len(trie.goto)):
        p = pos[s]
        node[4 * p + 1] = base[s]
        node[4 * p + 2] = pos[trie.fail[s]]
        node[4 * p + 3] = out_field[s]
        for t in trie.goto[s].values():
            node[4 * pos[t]] = p
    tables = _class_tables(classes)
    tables.update(ac_root=root, ac_node=node, ac_out=out)
    return tables


def _signature_tables(signatures: Sequence[tuple[str, int]]) -> dict[str, array.array[int]]:
    """Build the ``sig_*`` tables: a hash set of the signatures' inner code points."""
    bits = _table_bits(len(signatures))
    slots = array.array("i", [-1]) * (1 << bits)
    off = array.array("i", [0])
    chars = array.array("i")
    lits = array.array("i")
    mask = (1 << bits) - 1
    for k, (text, lit) in enumerate(signatures):
        inner = text[1:-1]
        if len(text) < 2 or text[0] != SIG_OPEN or text[-1] != SIG_CLOSE:
            raise ValueError(f"signature {text!r}: must be 【…】")
        if SIG_OPEN in inner or SIG_CLOSE in inner:
            raise ValueError(f"signature {text!r}: 【 or 】 inside")
        cps = [ord(ch) for ch in inner]
        h = mix_home(fnv_codepoints(cps), bits)
        while slots[h] != -1:
            h = (h + 1) & mask
        slots[h] = k
        chars.extend(cps)
        off.append(len(chars))
        lits.append(lit)
    return {"sig_slots": slots, "sig_off": off, "sig_chars": chars, "sig_lit": lits}


def build_automaton(
    literals: Sequence[tuple[str, int]], signatures: Sequence[tuple[str, int]]
) -> dict[str, array.array[int]]:
    """Build all ``ac_*`` and ``sig_*`` tables for the core.

    ``literals`` and ``signatures`` are ``(folded string, literal id)`` pairs; strings and
    ids must be distinct within each sequence. Raises ``ValueError`` on input the core
    could never match (empty, unfolded, malformed signature) rather than silently
    producing a rule that can't fire.
    """
    _check_strings("literal", literals)
    _check_strings("signature", signatures)
    tables = _automaton_tables(literals)
    tables.update(_signature_tables(signatures))
    return tables
