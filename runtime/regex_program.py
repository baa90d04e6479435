"""Extractor regexes as programs for the core's linear-time VM (`_core.Regex`).

Every matched scene runs its extractors. Through google-re2's Python binding each run costs
about a microsecond of call overhead, more than scanning the message for every keyword of
every scene, so the common regexes run inside the compiled core instead: a backtracker
that enters each (instruction, position) once (RE2's BitState) or a Pike VM, both
O(length × program), with RE2's leftmost-first semantics, on the folded code points.
(Texts over 1,024 code points still go to RE2, whose DFA is faster there.)

This module parses the subset of RE2 syntax whose meaning is simple to state exactly and
compiles it the way RE2 does (Thompson construction, counted repetition expanded, nested
optional copies). Anything outside the subset returns None and the scene keeps using RE2:
`\\p{..}` and POSIX classes (Unicode tables), case folding `(?i)` of a
code point beyond ASCII that has a case (é, Ω; ₹ and CJK have none), `(?m)`, `(?U)`, `\\Q`,
`\\C`, and any repetition of something that can match the empty string (where engines
disagree about captures). The subset's semantics, as RE2 parses with its default options:

- `.` is any code point but `\\n` (`(?s)`: any); `[^…]`, `\\D`, `\\S`, `\\W` match `\\n`;
- `\\d` `[0-9]`, `\\w` `[0-9A-Za-z_]`, `\\s` `[\\t\\n\\f\\r ]`, `\\b` on ASCII word chars
  (`\\B` stays on RE2, which also finds it between the bytes of one UTF-8 character);
- `^` `\\A` only at the start, `$` `\\z` only at the end of the text.

tests/test_regex_program.py checks the VM against RE2 itself on generated patterns and texts.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

# Opcodes and assertion kinds: the core's `Regex` reads the same numbers.
CLASS, SPLIT, JMP, SAVE, MATCH, ASSERT = range(6)
BEGIN, END, WORD, NOT_WORD = range(4)  # NOT_WORD (\B) is never emitted: see above

MAX_PROGRAM = 2000  # instructions; larger programs (big counted repeats) stay on RE2
MAX_CP = 0x10FFFF
TOO_LARGE = "program too large"

Ranges = tuple[tuple[int, int], ...]


class Unsupported(Exception):
    """The pattern is outside the subset; the caller keeps RE2 for it."""


@dataclass(frozen=True)
class Cls:
    ranges: Ranges


@dataclass(frozen=True)
class Assert:
    kind: int


@dataclass(frozen=True)
class Cat:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alt:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Repeat:
    body: Node
    lo: int
    hi: int  # -1: unbounded
    greedy: bool


@dataclass(frozen=True)
class Group:
    body: Node
    index: int  # capture number, 0 for a non-capturing group


Node = Cls | Assert | Cat | Alt | Repeat | Group


def normalise(ranges: list[tuple[int, int]]) -> Ranges:
    """Sorted, merged, non-overlapping ranges."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def negate(ranges: Ranges) -> Ranges:
    out, nxt = [], 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAX_CP:
        out.append((nxt, MAX_CP))
    return tuple(out)


DIGIT: Ranges = ((0x30, 0x39),)
WORD_CHARS: Ranges = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
SPACE: Ranges = ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20))
PERL = {"d": DIGIT, "w": WORD_CHARS, "s": SPACE}
SIMPLE_ESCAPES = {"a": 7, "f": 12, "t": 9, "n": 10, "r": 13, "v": 11}
UNSUPPORTED_ESCAPES = set("pPQEC")

# RE2's simple case folding beyond ASCII's own pairs, for the ASCII letters: K and k fold
# with KELVIN SIGN, S and s with LATIN SMALL LETTER LONG S.
FOLD_PARTNERS = {ord("k"): 0x212A, ord("s"): 0x17F}
# A second-character class wider than this many code points is not worth its test.
SECOND_MAX_SPAN = 0x8000


def caseless(cp: int) -> bool:
    """No case folding relates `cp` to another code point, so `(?i)` leaves it as it is:
    ₹, £, €, CJK, punctuation. Python's own case mappings decide; an unassigned code point
    (category Cn) is not caseless, since a later Unicode version, which RE2's tables may
    follow, may give it a case."""
    ch = chr(cp)
    return (ch.lower() == ch == ch.upper() and ch.casefold() == ch
            and unicodedata.category(ch) != "Cn")


@functools.cache
def caseless_bmp() -> bytes:
    """`caseless` for every BMP code point (1: caseless), built once (~40 ms) when a
    pattern first folds one beyond ASCII, so that a range of any width is one search."""
    return bytes(map(caseless, range(0x10000)))


def folds_to_itself(lo: int, hi: int) -> bool:
    """Every code point of lo..hi beyond ASCII is caseless; astral ones count as cased."""
    lo = max(lo, 0x80)
    return hi < lo or hi <= 0xFFFF and 0 not in caseless_bmp()[lo:hi + 1]


def fold_ranges(ranges: Ranges) -> Ranges:
    """The code points `(?i)` lets `ranges` match: each ASCII letter's other case and
    partner. Folding beyond ASCII has orbits of its own (Greek, Cyrillic, Latin-1…), so a
    set with such a code point stays on RE2; caseless ones (₹, CJK) match themselves."""
    out = list(ranges)
    for lo, hi in ranges:
        if not folds_to_itself(lo, hi):
            raise Unsupported("case folding beyond ASCII")
        for cp in range(max(lo, 0x41), min(hi, 0x7A) + 1):
            ch = chr(cp)
            if ch.isalpha():
                other = ord(ch.swapcase())
                out.append((other, other))
                partner = FOLD_PARTNERS.get(ord(ch.lower()))
                if partner is not None:
                    out.append((partner, partner))
    return normalise(out)


def re2_integer(digits: str) -> bool:
    """Whether RE2 reads `digits` as a repetition count (its ParseInteger): ASCII digits,
    no leading zero (`a{01}` is the literal text `a{01}` to RE2, not `a`), at most nine
    digits (RE2 stops at 100,000,000 to avoid overflow, leaving the `{` literal)."""
    return (digits.isascii() and digits.isdigit() and len(digits) <= 9
            and not (len(digits) > 1 and digits[0] == "0"))


class Parser:
    """Recursive descent over RE2 syntax; the pattern already compiled under RE2, so only
    the subset's boundaries are checked here, not every syntax error."""

    def __init__(self, pattern: str) -> None:
        self.s = pattern
        self.i = 0
        self.groups = 0
        self.dot_nl = False
        self.fold = False  # (?i): letters match either case (ASCII only, see fold_ranges)

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def take(self) -> str:
        ch = self.peek()
        if not ch:
            raise Unsupported("unexpected end of pattern")
        self.i += 1
        return ch

    def parse(self) -> Node:
        node = self.alternation()
        if self.i != len(self.s):
            raise Unsupported(f"unexpected {self.peek()!r} at {self.i}")
        return node

    def alternation(self) -> Node:
        items = [self.concatenation()]
        while self.peek() == "|":
            self.i += 1
            items.append(self.concatenation())
        return items[0] if len(items) == 1 else Alt(tuple(items))

    def concatenation(self) -> Node:
        items: list[Node] = []
        while self.peek() and self.peek() not in "|)":
            atom = self.atom()
            if atom is not None:
                items.append(self.quantified(atom))
        return items[0] if len(items) == 1 else Cat(tuple(items))

    def quantified(self, atom: Node) -> Node:
        while True:
            bounds = self.quantifier()
            if bounds is None:
                return atom
            lo, hi = bounds
            greedy = True
            if self.peek() == "?":
                self.i += 1
                greedy = False
            if nullable(atom):
                raise Unsupported("repetition of something that can match empty")
            atom = Repeat(atom, lo, hi, greedy)

    def quantifier(self) -> tuple[int, int] | None:
        ch = self.peek()
        if ch in ("*", "+", "?"):
            self.i += 1
            return {"*": (0, -1), "+": (1, -1), "?": (0, 1)}[ch]
        if ch == "{":
            return self.counted()
        return None

    def counted(self) -> tuple[int, int] | None:
        """`{n}`, `{n,}`, `{n,m}`; anything else is a literal `{` (as in RE2)."""
        end = self.s.find("}", self.i)
        body = self.s[self.i + 1:end] if end > 0 else ""
        lo, comma, hi = body.partition(",")
        if not re2_integer(lo) or not (re2_integer(hi) or not hi):
            return None
        self.i = end + 1
        if not comma:
            return int(lo), int(lo)
        return int(lo), int(hi) if hi else -1

    def atom(self) -> Node | None:
        ch = self.take()
        if ch == "(":
            return self.group()
        if ch == "[":
            return Cls(self.char_class())
        if ch == ".":
            return Cls(((0, MAX_CP),) if self.dot_nl else ((0, 9), (11, MAX_CP)))
        if ch == "^":
            return Assert(BEGIN)
        if ch == "$":
            return Assert(END)
        if ch == "\\":
            return self.escape()
        if ch in "*+?":
            raise Unsupported("quantifier without operand")
        return Cls(self.folded(((ord(ch), ord(ch)),)))

    def folded(self, ranges: Ranges) -> Ranges:
        """`ranges` as the current flags let them match."""
        return fold_ranges(ranges) if self.fold else ranges

    def group(self) -> Node | None:
        if self.s.startswith("?P<", self.i) or self.s.startswith("?<", self.i):
            self.i = self.s.index(">", self.i) + 1
            return self.capture()
        if self.peek() == "?":
            return self.flag_group()
        return self.capture()

    def capture(self) -> Node:
        self.groups += 1
        index, saved = self.groups, (self.dot_nl, self.fold)
        body = self.alternation()
        self.dot_nl, self.fold = saved  # a flag set inside a group ends with it
        self.close()
        return Group(body, index)

    def close(self) -> None:
        if self.take() != ")":
            raise Unsupported("unbalanced parenthesis")

    def flag_group(self) -> Node | None:
        """`(?:…)`, and `(?s)`, `(?i)`, `(?is)` with or without a body; other flags (and
        turning a flag off) are outside the subset."""
        self.i += 1
        flags = ""
        while self.peek() not in (":", ")", ""):
            flags += self.take()
        if set(flags) - set("is") or len(set(flags)) != len(flags):
            raise Unsupported(f"flags {flags!r}")
        saved = (self.dot_nl, self.fold)
        self.dot_nl = self.dot_nl or "s" in flags
        self.fold = self.fold or "i" in flags
        if self.take() == ")":
            return None
        body = self.alternation()
        self.dot_nl, self.fold = saved
        self.close()
        return Group(body, 0)

    def escape(self) -> Node:
        ch = self.take()
        if ch == "A":
            return Assert(BEGIN)
        if ch == "z":
            return Assert(END)
        if ch == "b":
            return Assert(WORD)
        if ch == "B":  # RE2 also finds \B between the bytes of one UTF-8 character
            raise Unsupported("\\B")
        ranges = self.class_escape(ch)
        return Cls(ranges if ch.lower() in PERL else self.folded(ranges))

    def class_escape(self, ch: str) -> Ranges:
        """The code points an escape stands for (inside or outside brackets). A perl
        class comes as the current flags let it match (negated: the complement of the
        folded class, as RE2 has it); a single code point comes as written, for the caller
        to fold (it may be the start of a bracket range)."""
        if ch.lower() in PERL:
            ranges = self.folded(PERL[ch.lower()])
            return negate(ranges) if ch.isupper() else ranges
        if ch in SIMPLE_ESCAPES:
            return ((SIMPLE_ESCAPES[ch],) * 2,)
        if ch == "x":
            cp = self.hex_escape()
            return ((cp, cp),)
        if ch in UNSUPPORTED_ESCAPES or ch.isalnum() or not ch.isascii():
            raise Unsupported(f"escape \\{ch}")
        return ((ord(ch), ord(ch)),)

    def hex_escape(self) -> int:
        if self.peek() == "{":
            end = self.s.index("}", self.i)
            digits = self.s[self.i + 1:end]
            self.i = end + 1
        else:
            digits = self.s[self.i:self.i + 2]
            self.i += 2
        cp = int(digits, 16)
        if not 0 <= cp <= MAX_CP:
            raise Unsupported("code point out of range")
        return cp

    def char_class(self) -> Ranges:
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while first or self.peek() != "]":
            first = False
            if self.s.startswith("[:", self.i):
                raise Unsupported("POSIX class")
            lo = self.class_atom(ranges)
            if lo is None:
                continue
            if self.peek() == "-" and self.s[self.i + 1:self.i + 2] not in ("]", ""):
                self.i += 1
                hi = self.class_atom(ranges)
                if hi is None or hi < lo:
                    raise Unsupported("bad range")
                ranges.extend(self.folded(((lo, hi),)))
            else:
                ranges.extend(self.folded(((lo, lo),)))
        self.i += 1
        merged = normalise(ranges)
        return negate(merged) if negated else merged

    def class_atom(self, ranges: list[tuple[int, int]]) -> int | None:
        """One class member: a code point, or None after adding an escape's ranges."""
        ch = self.take()
        if ch != "\\":
            return ord(ch)
        esc = self.take()
        members = self.class_escape(esc)
        if len(members) == 1 and members[0][0] == members[0][1] and esc.lower() not in PERL:
            return members[0][0]
        ranges.extend(members)
        return None


def nullable(node: Node) -> bool:
    if isinstance(node, Cls):
        return False
    if isinstance(node, Assert):
        return True
    if isinstance(node, Cat):
        return all(nullable(x) for x in node.items)
    if isinstance(node, Alt):
        return any(nullable(x) for x in node.items)
    if isinstance(node, Repeat):
        return node.lo == 0 or nullable(node.body)
    return nullable(node.body)


def first_chars(node: Node) -> Ranges:
    """The code points a non-empty match can start with. When the pattern cannot match
    the empty string, the VM skips every position whose code point is not among them."""
    if isinstance(node, Cls):
        return node.ranges
    if isinstance(node, Assert):
        return ()
    if isinstance(node, Cat | Alt):
        acc: list[tuple[int, int]] = []
        for item in node.items:
            acc.extend(first_chars(item))
            if isinstance(node, Cat) and not nullable(item):
                break
        return normalise(acc)
    if isinstance(node, Repeat):
        return first_chars(node.body) if node.hi != 0 else ()
    return first_chars(node.body)


def single(node: Node) -> bool:
    """Whether a match may be exactly one code point (assertions count as none)."""
    if isinstance(node, Cls):
        return True
    if isinstance(node, Assert):
        return False
    if isinstance(node, Cat):   # one item gives the code point, the others nothing
        solid = [x for x in node.items if not nullable(x)]
        return single(solid[0]) if len(solid) == 1 else not solid and any(
            single(x) for x in node.items)
    if isinstance(node, Alt):
        return any(single(x) for x in node.items)
    if isinstance(node, Repeat):
        return node.hi != 0 and single(node.body) and (node.lo <= 1 or nullable(node.body))
    return single(node.body)


def second_chars(node: Node) -> Ranges:
    """The code points a match of two or more code points can have second. A pattern
    whose every match is that long, like a phone number after "start or a non-digit",
    starts at almost every position by its first character alone; the VM also skips
    every position whose next code point is not among these."""
    if isinstance(node, Cls | Assert):
        return ()
    if isinstance(node, Alt):
        return normalise([r for x in node.items for r in second_chars(x)])
    if isinstance(node, Repeat):
        if node.hi == 0:
            return ()
        again = single(node.body) and node.hi != 1   # a one-character copy, then another
        return normalise([*second_chars(node.body), *(first_chars(node.body) if again else ())])
    if isinstance(node, Group):
        return second_chars(node.body)
    acc: list[tuple[int, int]] = []
    empty, one = True, False    # whether the items so far may match 0 / 1 code points
    for item in node.items:
        if empty:
            acc.extend(second_chars(item))
        if one:
            acc.extend(first_chars(item))
        empty, one = empty and nullable(item), (one and nullable(item)) or (
            empty and single(item))
        if not (empty or one):
            break
    return normalise(acc)


def second_class(root: Node) -> Ranges | None:
    """`second_chars` when every match has two code points or more and they leave out
    much (a class of most code points would cost a test per start for nothing), else
    None."""
    if nullable(root) or single(root):
        return None
    ranges = second_chars(root)
    return ranges if sum(hi - lo + 1 for lo, hi in ranges) <= SECOND_MAX_SPAN else None


@dataclass(frozen=True)
class Program:
    """`code`: 3 ints per instruction (opcode, x, y); `classes`: each a tuple of ranges;
    `first`: the index of the first-character class, or -1 (no skipping); `second`: the
    index of the second-character class, or -1 (see `second_chars`)."""

    code: tuple[int, ...]
    classes: tuple[Ranges, ...]
    first: int
    second: int = -1
    onepass: tuple[int, ...] = ()  # see one_pass: () when the pattern is not one-pass


class Emitter:
    """Thompson construction in RE2's shapes: `x{2,4}` is `xx(x(x)?)?`, alternatives and
    optional parts are SPLITs whose first branch is the preferred one."""

    def __init__(self, group: int) -> None:
        self.group = group
        self.code: list[list[int]] = []
        self.classes: dict[Ranges, int] = {}

    def op(self, opcode: int, x: int = 0, y: int = 0) -> int:
        if len(self.code) >= MAX_PROGRAM:
            raise Unsupported(TOO_LARGE)
        self.code.append([opcode, x, y])
        return len(self.code) - 1

    def cls(self, ranges: Ranges) -> int:
        return self.classes.setdefault(ranges, len(self.classes))

    def emit(self, node: Node) -> None:
        if isinstance(node, Cls):
            self.op(CLASS, self.cls(node.ranges))
        elif isinstance(node, Assert):
            self.op(ASSERT, node.kind)
        elif isinstance(node, Cat):
            for item in node.items:
                self.emit(item)
        elif isinstance(node, Alt):
            self.alternatives(node.items)
        elif isinstance(node, Repeat):
            self.repeat(node)
        elif node.index == self.group:
            self.op(SAVE, 0)
            self.emit(node.body)
            self.op(SAVE, 1)
        else:
            self.emit(node.body)

    def alternatives(self, items: tuple[Node, ...]) -> None:
        jumps = []
        for item in items[:-1]:
            split = self.op(SPLIT)
            self.code[split][1] = len(self.code)
            self.emit(item)
            jumps.append(self.op(JMP))
            self.code[split][2] = len(self.code)
        self.emit(items[-1])
        for j in jumps:
            self.code[j][1] = len(self.code)

    def repeat(self, node: Repeat) -> None:
        for _ in range(node.lo):
            self.emit(node.body)
        if node.hi < 0:
            loop = self.optional(node.greedy)
            self.emit(node.body)
            self.op(JMP, loop)
            self.close_optional(loop, node.greedy)
            return
        opened = []
        for _ in range(node.hi - node.lo):
            opened.append(self.optional(node.greedy))
            self.emit(node.body)
        for split in opened:
            self.close_optional(split, node.greedy)

    def optional(self, greedy: bool) -> int:
        """A SPLIT whose "take it" branch is the next instruction (fixed by close_optional)."""
        split = self.op(SPLIT)
        self.code[split][1 if greedy else 2] = split + 1
        return split

    def close_optional(self, split: int, greedy: bool) -> None:
        self.code[split][2 if greedy else 1] = len(self.code)


def compile_program(pattern: str, group: int) -> Program | None:
    """The VM program reporting capture `group`'s span, or None outside the subset. Call it
    only for a pattern RE2 has accepted: the parser relies on RE2's syntax checks."""
    try:
        return build_program(pattern, group)
    except (Unsupported, ValueError, IndexError, RecursionError):
        return None


def build_program(pattern: str, group: int) -> Program:
    """`compile_program`, raising Unsupported with the reason."""
    parser = Parser(pattern)
    root = parser.parse()
    if not 1 <= group <= parser.groups:
        raise Unsupported(f"no capture group {group}")
    em = Emitter(group)
    em.emit(root)
    em.op(MATCH)
    first = -1 if nullable(root) else em.cls(first_chars(root))
    seconds = second_class(root)
    second = -1 if seconds is None else em.cls(seconds)
    onepass = one_pass(root, group, em.cls)
    classes = tuple(sorted(em.classes, key=em.classes.__getitem__))
    return Program(tuple(v for ins in em.code for v in ins), classes, first, second, onepass)


# One-pass programs: a pattern that is a sequence of quantified classes (with the group's
# start and end, cheap assertions, and alternations of such sequences whose branches start
# with disjoint classes) where nothing can give back a code point to what follows it. At a
# given start the greedy match is then the only one (greedy is possessive), so the core
# runs it as one loop over the text instead of the backtracker or the Pike VM. Items are
# 4 ints each (the core reads the numbers):
OP_ATOM, OP_SAVE, OP_ASSERT, OP_TRY = range(4)
# (OP_ATOM, class, lo, hi: -1 unbounded), (OP_SAVE, 0 start | 1 end, 0, 0),
# (OP_ASSERT, BEGIN | END | WORD, 0, 0), (OP_TRY, n, skip, 0): the next n items (atoms)
# are one branch; if one fails, back to where the branch began and on after it, else on
# `skip` items further (past the other branches).
MAX_ONE_PASS = 64  # items; the core keeps a run cache per item on its stack
Item = tuple[int, Ranges | int, int, int]


@dataclass(frozen=True)
class Choice:
    """An alternation in a one-pass sequence: branches of atoms, tried in order; `empty`:
    matching nothing is the last choice (`(?:…)?`)."""

    branches: tuple[tuple[Item, ...], ...]
    empty: bool


Step = Item | Choice


def one_class(node: Node) -> Ranges | None:
    """The code points of a node that always matches exactly one of them: a class, a
    group around one, or an alternation of such (whichever branch matches, it consumes
    the same code point, so leftmost-first changes nothing)."""
    if isinstance(node, Cls):
        return node.ranges
    if isinstance(node, Group):
        return one_class(node.body)
    if isinstance(node, Alt):
        parts = [one_class(x) for x in node.items]
        if any(p is None for p in parts):
            return None
        return normalise([r for p in parts for r in p or ()])
    return None


def flatten(node: Node, group: int, out: list[Step]) -> None:
    """`node` as one-pass steps appended to `out`; Unsupported when it is not a sequence
    of the kind (a repeated sequence, a lazy choice, the group inside a repetition or an
    alternation, a branch that is not atoms alone or may match nothing)."""
    ranges = None if contains_group(node, group) else one_class(node)
    if ranges is not None:
        out.append((OP_ATOM, ranges, 1, 1))
    elif isinstance(node, Assert):
        out.append((OP_ASSERT, node.kind, 0, 0))
    elif isinstance(node, Cat):
        for item in node.items:
            flatten(item, group, out)
    elif isinstance(node, Group):
        if node.index == group:
            out.append((OP_SAVE, 0, 0, 0))
        flatten(node.body, group, out)
        if node.index == group:
            out.append((OP_SAVE, 1, 0, 0))
    elif contains_group(node, group):
        raise Unsupported("the group inside a repetition or an alternation")
    elif isinstance(node, Repeat) and one_class(node.body) is not None:
        if not node.greedy and node.lo != node.hi:
            raise Unsupported("lazy")
        if node.hi != 0:
            out.append((OP_ATOM, one_class(node.body) or (), node.lo, node.hi))
    elif isinstance(node, Repeat) and (node.lo, node.hi, node.greedy) == (0, 1, True):
        out.append(Choice((branch(node.body, group),), True))
    elif isinstance(node, Alt):
        out.append(Choice(tuple(branch(x, group) for x in node.items), False))
    else:
        raise Unsupported("not a one-pass sequence")


def branch(node: Node, group: int) -> tuple[Item, ...]:
    """A choice's branch: atoms only, at least one of which must consume."""
    steps: list[Step] = []
    flatten(node, group, steps)
    items = tuple(s for s in steps if not isinstance(s, Choice) and s[0] == OP_ATOM)
    if len(items) != len(steps) or all(it[2] == 0 for it in items):
        raise Unsupported("a branch that is not atoms, or may match nothing")
    return items


def contains_group(node: Node, group: int) -> bool:
    if isinstance(node, Group):
        return node.index == group or contains_group(node.body, group)
    if isinstance(node, Cat | Alt):
        return any(contains_group(x, group) for x in node.items)
    if isinstance(node, Repeat):
        return contains_group(node.body, group)
    return False


def overlaps(a: Ranges, b: Ranges) -> bool:
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][1] < b[j][0]:
            i += 1
        elif b[j][1] < a[i][0]:
            j += 1
        else:
            return True
    return False


def starts(items: tuple[Item, ...]) -> Ranges:
    """The code points a branch's match can start with."""
    acc: list[tuple[int, int]] = []
    for _, x, lo, _ in items:
        assert not isinstance(x, int)
        acc.extend(x)
        if lo >= 1:
            break
    return normalise(acc)


def gives_back(ranges: Ranges, rest: list[Step]) -> bool:
    """Whether something that took code points of `ranges` might have to give one back
    to the steps `rest` that follow it: one that can come next (in a class of the steps
    up to the first that must consume) is in `ranges`, or only zero-width steps follow
    and one is `\\b`, which a shorter match might satisfy where the greedy one does not."""
    word = False
    for step in rest:
        if isinstance(step, Choice):
            if any(overlaps(ranges, starts(b)) for b in step.branches):
                return True
            if not step.empty:
                return False
        elif step[0] == OP_ATOM:
            assert not isinstance(step[1], int)
            if overlaps(ranges, step[1]):
                return True
            if step[2] >= 1:
                return False
        elif step[0] == OP_ASSERT and step[1] == END:
            return False
        elif step[0] == OP_ASSERT:
            word = True
    return word


def decided(steps: list[Step]) -> bool:
    """Whether every choice is decided by the text alone: each variable atom and optional
    choice cannot give back (gives_back), a choice's branches start with disjoint classes,
    `^` comes before every atom and `$` after every one."""
    consumed = False
    for k, step in enumerate(steps):
        rest = steps[k + 1:]
        if isinstance(step, Choice):
            firsts = [starts(b) for b in step.branches]
            if any(overlaps(a, b) for i, a in enumerate(firsts) for b in firsts[i + 1:]):
                return False
            if step.empty and gives_back(normalise([r for f in firsts for r in f]), rest):
                return False
            if any(lo != hi and gives_back(x, [*b[i + 1:], *rest])  # type: ignore[arg-type]
                   for b in step.branches for i, (_, x, lo, hi) in enumerate(b)):
                return False
            consumed = True
        elif step[0] == OP_ATOM:
            assert not isinstance(step[1], int)
            if step[2] != step[3] and gives_back(step[1], rest):
                return False
            consumed = True
        elif step[0] == OP_ASSERT and (step[1] == BEGIN and consumed or step[1] == END and any(
                isinstance(s, Choice) or s[0] == OP_ATOM for s in rest)):
            return False
    return consumed


def one_pass(root: Node, group: int, cls: Callable[[Ranges], int]) -> tuple[int, ...]:
    """The one-pass items of a pattern (see OP_ATOM), or () when its greedy match at a
    start may not be the first one that a backtracker finds; `cls` numbers a class in
    the program's class table."""
    steps: list[Step] = []
    try:
        flatten(root, group, steps)
    except Unsupported:
        return ()
    if not decided(steps):
        return ()
    out: list[int] = []
    for step in steps:
        if not isinstance(step, Choice):
            out += encode(step, cls)
            continue
        tried = step.branches if step.empty else step.branches[:-1]
        for i, b in enumerate(step.branches):
            if i < len(tried):
                later = sum(len(x) + (j < len(tried)) for j, x in enumerate(
                    step.branches) if j > i)
                out += (OP_TRY, len(b), later, 0)
            for item in b:
                out += encode(item, cls)
    return tuple(out) if len(out) <= 4 * MAX_ONE_PASS else ()


def encode(item: Item, cls: Callable[[Ranges], int]) -> tuple[int, int, int, int]:
    op, x, lo, hi = item
    return op, x if isinstance(x, int) else cls(x), lo, hi
