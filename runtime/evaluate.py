"""The Python half of matching: what the core cannot decide from literal hits alone.

For each candidate the core lets through, a `SceneRunner` (built lazily from the scene's
JSON record) checks validity, templates, regexes, field comparisons and context, extracts
the fields and renders the actions. Any malformed record (only possible in a hand-crafted
artifact) makes that scene not match rather than raising into the caller.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import urllib.parse
from bisect import bisect_left
from collections.abc import Callable, Iterator
from types import CodeType, FunctionType
from typing import Any

import re2

from . import kinds
from ._core import LONG_TEXT, Quick, Regex, set_result_class
from .fold import unpaired
from .kinds import BUILTIN, normalise, render_value
from .links import field_link, whole_field
from .match import Action, Match, new_match
from .regex_program import compile_program
from .senders import holds_for

# `any(word set)` on the Python path searches with `re` only up to this many characters
# of literals: beyond it a position could cost that many compares (see _literals_at_once).
RE_WORD_CHARS = 1024

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = 64 << 20

# What the compiler lets a build hold (E910, E911; compiler/patterns.py, checker.py use
# these): a record's pattern is held to them again, since a crafted artifact need not
# have been built. `\pL{1000}` compiles to 1.2 million instructions in ~1.7 s with the
# serving budget; under the probe's 2 MiB budget it fails in ~20 ms.
MAX_PROGRAM_SIZE = 20_000  # RE2 instructions of one regex, template or extractor
REGEX_BUDGET_BASE = 1_000_000  # RE2 instructions of a rule set's distinct regexes
REGEX_BUDGET_PER_SCENE = 2_000
MAX_SCENE_EXTRACTS = 64  # extractors of one scene (E914)
MAX_SCENE_ACTIONS = 64  # buttons and menus of one scene (E914)
MAX_SCENE_LITERALS = 2_000  # literals of one scene's conditions and senders (E903)
MAX_SCENE_PLACEHOLDERS = 32  # capture groups of one scene's templates (E912)
# Levels of one record condition: a build writes at most two a nesting level (E902's 64:
# `(a or b and (…))` is an `or` holding an `and`), plus a `none(…)` at the leaf.
MAX_CONDITION_DEPTH = 256
_PROBE = re2.Options()
_PROBE.log_errors = False
_PROBE.max_mem = 2 << 20

# google-re2's `search` on a str re-encodes the text to UTF-8 and maps byte offsets back to
# characters in Python for every call (~5 µs). The hot path below encodes the folded text
# once per message and calls the same compiled RE2 object's `Match` on those bytes (~1 µs):
# the same engine, options and anchoring, so the same leftmost match and groups. The
# wrapper's internals are private, so the fast path is used only when they are present.
try:
    _UNANCHORED: Any = re2._Anchor.UNANCHORED
    _NULL = (-1, -1)
except AttributeError:  # pragma: no cover - another google-re2 layout
    _UNANCHORED = None

QuickRun = Callable[[str, "bytes | None"], Match]
_COMPILED_QUICK = set_result_class(Match, Match.__slots__)  # type: ignore[attr-defined]

Fields = dict[str, Any]
Check = Callable[[str, "str | None", dict, Fields], bool]


class Patterns:
    """RE2 objects and VM programs compiled on first use and shared by every scene of a
    rule set."""

    def __init__(self, scenes: int | None = None) -> None:
        self._cache: dict[str, Any] = {}
        self._programs: dict[tuple[str, int, bool], Regex | None] = {}
        # RE2 instructions the record patterns of a rule set of `scenes` scenes may
        # still compile to (None: no budget).
        self._left = None if scenes is None else \
            REGEX_BUDGET_BASE + REGEX_BUDGET_PER_SCENE * scenes

    def get(self, pattern: str) -> Any:
        rx = self._cache.get(pattern)
        if rx is None:
            rx = self._cache[pattern] = re2.compile(pattern, _OPTIONS)
        return rx

    def checked(self, pattern: str) -> Any:
        """`get` for a pattern read from a scene record: the first time, it is compiled
        under the compiler's small budget and held to its limits (MAX_PROGRAM_SIZE, and
        the rule set's budget), so a crafted record cannot make a load, a `validate` or
        a first match spend seconds and tens of MB compiling one regex. Raises ValueError
        (the scene is then broken) or re2.error."""
        if pattern not in self._cache:
            probe = re2.compile(pattern, _PROBE)  # "pattern too large": over ~2 MiB
            size = probe.programsize  # the reverse program is built lazily, in budget
            if size > MAX_PROGRAM_SIZE:
                raise ValueError(f"a pattern compiles to {size} RE2 instructions; the "
                                 f"limit is {MAX_PROGRAM_SIZE}")
            if self._left is not None:
                self._left -= size
                if self._left < 0:
                    raise ValueError("the rule set's patterns compile to more RE2 "
                                     "instructions than a build may hold")
        return self.get(pattern)

    def program(self, pattern: str, group: int, raw: bool = False) -> Regex | None:
        """The core's linear VM for an extractor RE2 has accepted (`get` first), or None
        when the pattern is outside the VM's subset (regex_program). A `raw` program reads
        the caller's text unfolded; it has no RE2 fallback, which would read folded UTF-8."""
        key = (pattern, group, raw)
        if key not in self._programs:
            prog = compile_program(pattern, group)
            try:
                vm = None if prog is None else Regex(prog.code, prog.classes, prog.first,
                                                     raw, prog.second, prog.onepass)
            except ValueError:  # its closures exceed the VM's per-step budget
                vm = None
            rx = self.get(pattern)
            if vm is not None and not raw and _UNANCHORED is not None and hasattr(
                    rx, "_regexp"):
                vm.set_fallback(rx._regexp.Match, _UNANCHORED)  # for long texts
            elif vm is not None and raw:
                vm.set_text_fallback(_raw_search(rx, group))
            self._programs[key] = vm
        return self._programs[key]


def _regex_check(pattern: str, rx: Patterns) -> Check:
    """`/regex/` in a condition: the core's VM where it has the pattern (as a group, which
    changes no match), on texts up to LONG_TEXT characters; RE2's str API otherwise."""
    regex = rx.checked(pattern)
    vm = rx.program(f"({pattern})", 1)
    if vm is None:
        return lambda text, sender, ctx, fields: regex.search(text) is not None
    return lambda text, sender, ctx, fields: (
        vm.search(text) if len(text) <= LONG_TEXT else regex.search(text)) is not None


# Conditions nested deeper than this keep the closures: the generated expression would
# meet the parser's nesting limit (200 parentheses) well before MAX_CONDITION_DEPTH.
MAX_GENERATED_DEPTH = 48
_GENERATED: dict[str, CodeType] = {}  # source -> code: scenes share a few shapes
_GENERATED_MAX = 4096
_GENERATED_GLOBALS = {"len": len}


class _TooDeep(Exception):
    pass


def compile_cond(c: list, rx: Patterns) -> Check:
    """A JSON condition becomes one Python function whose body is the whole condition as
    one expression (`'a' in text and (…)`); its constants (words, searches, the leaves
    kept as closures) are the function's defaults, read as locals. The closure tree that
    `_closure_cond` builds costs a Python call per `and`/`or` pair and per literal, most
    of a `when`'s time on the Python path; deep conditions still get that tree."""
    consts: list[Any] = []
    try:
        expr = _cond_expr(c, rx, consts, 0)
    except _TooDeep:
        return _closure_cond(c, rx)
    names = [f"_k{i}" for i in range(len(consts))]
    src = f"def when(text, sender, ctx, fields, {', '.join(names)}):\n    return {expr}\n"
    code = _GENERATED.get(src)
    if code is None:
        space: dict[str, Any] = {}
        exec(compile(src, "<condition>", "exec"), {}, space)  # noqa: S102 - names only
        code = space["when"].__code__
        if len(_GENERATED) < _GENERATED_MAX:
            _GENERATED[src] = code
    return FunctionType(code, _GENERATED_GLOBALS, "when", tuple(consts))


def _cond_expr(c: list, rx: Patterns, consts: list[Any], depth: int) -> str:
    """`c` as a Python expression over text, sender, ctx and fields. The source holds
    only operators and the names `_k<i>` of `consts` (never text from the record), and
    each leaf is built by the code `_closure_cond` uses, so both fail alike on a bad
    record. An `or`'s word set is tested after its other parts (measured with callgrind
    on the Chinese benchmark texts: 4.5% fewer instructions than before them, where the
    closures test it; sorting the parts by an estimated cost was no better)."""
    if depth > MAX_GENERATED_DEPTH:
        raise _TooDeep

    def const(value: Any) -> str:
        consts.append(value)
        return f"_k{len(consts) - 1}"

    op = c[0]
    if op == "lit":
        return f"({const(str(c[1]))} in text)"
    if op == "re":
        pattern = str(c[1])
        regex = rx.checked(pattern)
        vm = rx.program(f"({pattern})", 1)
        if vm is None:
            return f"({const(regex.search)}(text) is not None)"
        return (f"(({const(vm.search)}(text) if len(text) <= {int(LONG_TEXT)} "
                f"else {const(regex.search)}(text)) is not None)")
    if op in ("and", "or"):
        words, kids = _words_apart(op, list(c[1]), rx)
        parts = [_cond_expr(x, rx, consts, depth + 1) for x in kids]
        if words is not None:
            parts.append(f"{const(words)}(text, sender, ctx, fields)")
        if not parts:
            return "True" if op == "and" else "False"
        return "(" + f" {op} ".join(parts) + ")"
    if op == "not":
        return f"(not {_cond_expr(c[1], rx, consts, depth + 1)})"
    if op == "const":
        return "True" if bool(c[1]) else "False"
    # near, sender, cmp (and an unknown op's ValueError): the closure, called
    return f"{const(_closure_cond(c, rx))}(text, sender, ctx, fields)"


def _closure_cond(c: list, rx: Patterns) -> Check:
    """A JSON condition as a tree of closures: for conditions too deep for `compile_cond`'s
    one expression, and its leaves (near, sender, cmp)."""
    op = c[0]
    if op == "lit":
        word = str(c[1])
        return lambda text, sender, ctx, fields: word in text
    if op == "re":
        return _regex_check(str(c[1]), rx)
    if op == "near":
        a, b, dist = str(c[1]), str(c[2]), int(c[3])
        return lambda text, sender, ctx, fields: near(text, a, b, dist)
    if op == "sender":
        sigs, nums = tuple(map(str, c[1])), frozenset(map(str, c[2]))
        return lambda text, sender, ctx, fields: (holds_for(sender, nums)
                                                  or any(s in text for s in sigs))
    if op == "cmp":
        return _compare(str(c[1]), bool(c[2]), str(c[3]), tuple(c[4]), str(c[5]))
    if op in ("and", "or"):
        words, kids = _words_apart(op, list(c[1]), rx)
        parts = [_closure_cond(x, rx) for x in kids]
        if words is not None:
            parts.insert(0, words)
        return _chain(parts, op == "and")
    if op == "not":
        inner = _closure_cond(c[1], rx)
        return lambda text, sender, ctx, fields: not inner(text, sender, ctx, fields)
    if op == "const":
        value = bool(c[1])
        return lambda text, sender, ctx, fields: value
    raise ValueError(f"unknown condition {op!r}")


def _chain(parts: list[Check], conjunction: bool) -> Check:
    """`and`/`or` of the parts, left to right, stopping at the first that decides: pairs
    of closures, nested as a balanced tree (depth log2 of the parts). A generator under
    `all`/`any` cost a third of a `when` on the Python path (the advert scene's has
    about twenty parts)."""
    if not parts:
        return lambda text, sender, ctx, fields: conjunction
    if len(parts) == 1:
        return parts[0]
    mid = len(parts) // 2
    a, b = _chain(parts[:mid], conjunction), _chain(parts[mid:], conjunction)
    if conjunction:
        return lambda text, sender, ctx, fields: (
            a(text, sender, ctx, fields) and b(text, sender, ctx, fields))
    return lambda text, sender, ctx, fields: (
        a(text, sender, ctx, fields) or b(text, sender, ctx, fields))


def _words_apart(op: str, kids: list, rx: Patterns) -> tuple[Check | None, list]:
    """An `or`'s literals as one word-set check, and the parts left to test one by one
    (all of them when there is no word set: an `and`, or too few or too many literals)."""
    words = _literals_at_once(kids, rx) if op == "or" else None
    return words, kids if words is None else [x for x in kids if x[0] != "lit"]


def _literals_at_once(children: list, rx: Patterns) -> Check | None:
    """`any(word_set)` on the Python path: one search for all the literals of an `or`
    instead of one `in` each (a word set of a hundred literals cost ~8 µs a message as a
    hundred `in`s, ~1 µs as one alternation); None when there are fewer than two, or
    too many for RE2's memory budget (they keep their `in`s). Up to LONG_TEXT characters
    the search is `re`'s, the fastest on SMS-sized texts: the pattern is escaped literals
    only, so nothing backtracks, but a position may cost a compare of every character of
    every literal (a thousand literals of "aaa…" against "aaa…"), so `re` is used only
    while the literals total at most RE_WORD_CHARS characters (the shipped rules' largest
    set has 820). Longer texts and larger sets go to RE2, whose automaton is linear in
    the text whatever the literals, as `_regex_check` splits."""
    words = [str(x[1]) for x in children if x[0] == "lit"]
    if len(words) < 2:
        return None
    try:
        long_search = rx.get("|".join(map(re2.escape, words))).search
    except re2.error:
        return None
    if sum(map(len, words)) > RE_WORD_CHARS:
        return lambda text, sender, ctx, fields: long_search(text) is not None
    search = re.compile("|".join(map(re.escape, words))).search
    return lambda text, sender, ctx, fields: (
        search(text) if len(text) <= LONG_TEXT else long_search(text)) is not None


def near(text: str, a: str, b: str, dist: int) -> bool:
    """Some start of `a` and some start of `b` at most `dist` characters apart."""
    pos_b = list(_starts(text, b))
    if not pos_b:
        return False
    for i in _starts(text, a):  # the first start of `b` not before i - dist decides
        k = bisect_left(pos_b, i - dist)
        if k < len(pos_b) and pos_b[k] <= i + dist:
            return True
    return False


def _starts(text: str, a: str) -> Iterator[int]:
    """Every start of `a` in `text`, ascending, overlapping ones too. str.find from each
    start + 1 compares all of `a` again at each start it finds: for a string that overlaps
    itself (4,000 characters of "xyxy…") that is len(a) compares per character of text.
    Once those compares pass a few times the text's length, the rest of the starts come
    from the Z-function, one pass whatever `a` is."""
    budget = 4 * (len(text) + len(a))
    i = text.find(a)
    while i >= 0:
        yield i
        budget -= len(a)
        if budget < 0:
            yield from _z_starts(text, a, i + 1)
            return
        i = text.find(a, i + 1)


def _z_starts(text: str, a: str, first: int) -> list[int]:
    """The starts of `a` in `text` from `first` on, by the Z-function of `a`, a separator
    equal to no character, and the text: linear in their lengths."""
    s: list[str | None] = [*a, None, *text[first:]]
    m, n = len(a), len(s)
    z = [0] * n
    left = right = 0
    out = []
    for k in range(1, n):  # the pattern's own values too: the text's reuse them
        length = min(right - k, z[k - left]) if k < right else 0
        while k + length < n and s[length] == s[k + length]:
            length += 1
        z[k] = length
        if k + length > right:
            left, right = k, k + length
        if length == m and k > m:
            out.append(first + k - m - 1)
    return out


_TYPES: dict[str, Callable[[Any], bool]] = {
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
}


def _plain(value: Any) -> Any:
    """A caller's fact as its plain value: a str, int or float subclass is compared by
    its value, not by its own `__eq__` / `__lt__`, which may raise (the runner's error
    would be taken for a malformed record, its scene listed as broken) or lie. bool
    cannot be subclassed; the type check before has refused anything else."""
    cls = value.__class__
    if cls is str or cls is int or cls is float or cls is bool:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    return int.__int__(value) if isinstance(value, int) else float.__float__(value)


def reads_fields(c: Any) -> bool:
    """Whether a JSON condition compares an extracted field: only then must it wait for
    the extractors (most `when`s do not, and a candidate that fails one then costs no
    extraction)."""
    if not isinstance(c, list) or not c:
        return False
    if c[0] == "cmp":
        return not c[2]
    if c[0] in ("and", "or"):
        return any(reads_fields(x) for x in c[1])
    if c[0] == "not":
        return reads_fields(c[1])
    return False


def _compare(name: str, is_ctx: bool, op: str, values: tuple, typ: str) -> Check:
    type_ok = _TYPES.get(typ, lambda v: isinstance(v, str))
    if not all(type_ok(v) for v in values) or op != "in" and len(values) != 1:
        # Only a crafted record has this (the compiler types every comparison); refused
        # when the runner is built, i.e. by `validate` before a reload swaps it in, not
        # with a TypeError at the first message that reaches it.
        raise ValueError(f"comparison of {name!r}: {op} {values!r} is not one {typ} value")
    right = values[0] if values else None
    tests: dict[str, Callable[[Any], bool]] = {
        "==": lambda v: v == right, "!=": lambda v: v != right, "<": lambda v: v < right,
        "<=": lambda v: v <= right, ">": lambda v: v > right, ">=": lambda v: v >= right,
        "in": lambda v: v in values,
    }
    test = tests[op]

    def check(text: str, sender: str | None, ctx: dict, fields: Fields) -> bool:
        v = ctx.get(name) if is_ctx else fields.get(name)
        return v is not None and type_ok(v) and test(_plain(v))

    return check


class SceneRunner:
    """Everything Python does for one scene, prepared from its record once."""

    def __init__(self, index: int, rec: dict, rx: Patterns) -> None:
        self.rec = rec
        self.index = index
        _check_literals(rec)
        valid = rec["valid"]
        self.valid = (dt.date.fromisoformat(valid[0]), dt.date.fromisoformat(valid[1])) \
            if valid else None
        self.sender = compile_cond(rec["sender"], rx) if rec["sender"] else None
        self.templates = [(r, [(str(n), str(k), _group(r, g)) for n, k, g in t[1]])
                          for t in rec["templates"] for r in (rx.checked(t[0]),)]
        when = compile_cond(rec["when"], rx) if rec["when"] is not None else None
        # Before the extractors unless it compares a field (see reads_fields).
        early = when is not None and not reads_fields(rec["when"])
        self.when_early: Check | None = when if early else None
        self.when_late: Check | None = None if early else when
        records = [_extract_record(e) for e in rec["extracts"]]  # (n, k, pattern, g, raw)
        self.extracts = [(sys.intern(n), k, r, _group(r, g)) for n, k, p, g, _ in records
                         for r in (rx.checked(p),)]
        # Per extractor: None, or for a raw one (reading the caller's text, not the folded
        # one) its RE2 object, which runs where the VM has no program.
        self.raw = tuple(e[2] if x[4] else None
                         for e, x in zip(self.extracts, records, strict=True))
        self.fast = _UNANCHORED is not None and all(
            hasattr(r, "_regexp") for r, _ in self.templates) and all(
            hasattr(e[2], "_regexp") for e in self.extracts)
        if self.fast:
            self.raw_templates = [(r._regexp.Match, [(n, _norm(k), g) for n, k, g in slots])
                                  for r, slots in self.templates]
            self.raw_extracts = [(n, _norm(k), r._regexp.Match, g)
                                 for n, k, r, g in self.extracts]
            # The same extractors with the core's VM where it has the pattern: a call
            # costs a tenth of RE2's through the binding (see _extract).
            self.vm_extracts = [(*e, rx.program(str(x[2]), x[3], x[4]), raw)
                                for e, x, raw in zip(self.raw_extracts, records, self.raw,
                                                     strict=True)]
        self.require = tuple(map(str, rec["require"]))
        self.highlight = tuple(map(str, rec["highlight"]))
        self.actions = [_ActionRunner(a, rx) for a in rec["actions"]]
        _check_counts(self)
        # Shared values (categories, enterprises, field names) are interned so that
        # results of different scenes point at one object, more often in the cache.
        self.static = (rec["id"], rec["name"], _intern(rec["category"]), rec["priority"],
                       _intern(rec["enterprise"]))
        self.tags = tuple(rec["tags"])
        self.meta = rec["meta"]
        _check_described(self.static, rec["tags"], self.meta)
        self.plain = not self.actions and not self.highlight  # a Match of fields alone
        # The core's `Quick` runs a raw extractor only as a VM program (its RE2 path
        # would search the folded UTF-8).
        self.quick: QuickRun | None = self._quick() if (
            self.fast and self.plain and not self.require and self.valid is None
            and all(e[4] is not None for e in self.vm_extracts if e[5] is not None)) else None

    def _quick(self) -> QuickRun:
        """`run` for a candidate the core decided, when the scene has nothing but extracts
        (the common case): the core's `Quick`, which builds the Match with no Python frame.
        Where the core cannot fill Match's slots (see `set_result_class`), `run` itself
        takes the same steps: with `decided`, no validity, no `require` and nothing to
        render, it reads neither the text, the sender, the context nor the day."""
        if _COMPILED_QUICK:
            extracts = tuple((n, norm, prog or search, g)
                             for n, norm, search, g, prog, _ in self.vm_extracts)
            return Quick(self.static, self.tags, self.meta,  # type: ignore[no-any-return]
                         extracts, _UNANCHORED)
        run = self.run
        # The core always passes the folded UTF-8 to a runner that is not a `Quick`.
        return lambda text, enc: run(  # type: ignore[return-value]
            "", enc, None, {}, None, True, text)

    def run(self, text: str, enc: bytes | None, sender: str | None, ctx: dict,
            day: dt.date | None, decided: bool, source: str = "") -> Match | None:
        """`text`: the folded message; `enc`: `text` as UTF-8 (None: use the wrapper's str
        API); `day`: None = today; `decided`: the core proved sender, templates and `when`
        true from literals; `source`: the caller's message, which raw extractors read."""
        if self.valid is not None:
            if day is None:
                day = dt.date.today()
            if not self.valid[0] <= day <= self.valid[1]:
                return None
        if enc is None or not self.fast:
            return self._run_str(text, sender, ctx, decided, source)
        fields: Fields = {}
        spans: dict[str, tuple[int, int]] = {}  # UTF-8 byte offsets into enc
        if not decided:
            if self.sender is not None and not self.sender(text, sender, ctx, fields):
                return None
            if self.raw_templates and not self._raw_template(enc, fields, spans):
                return None
            if self.when_early is not None and not self.when_early(text, sender, ctx, fields):
                return None
        end = len(enc)
        char_spans = self._extract(text, enc, fields, spans, source)
        if not decided and self.when_late is not None and not self.when_late(
                text, sender, ctx, fields):
            return None
        for name in self.require:
            if name not in fields:
                return None
        if self.plain:
            return new_match(*self.static, fields, (), (), self.tags, self.meta)
        if self.highlight:
            spans = _char_spans(enc, len(text) == end, spans, self.highlight)
            spans.update(char_spans)
        return self._result(text, sender, ctx, fields, spans)

    def _extract(self, text: str, enc: bytes, fields: Fields, spans: dict,
                 source: str) -> dict:
        """Run the extractors into `fields`; byte spans (RE2 on `enc`) go into `spans`,
        character spans (the VM on the folded `text`) are returned. The VM takes texts
        up to LONG_TEXT characters, as in the core's `Quick`; `text` is empty when a
        decided plain scene is finished without it (see `_quick`), and RE2 runs then.
        A raw extractor reads `source`: with the VM at any length, as the core's `Quick`
        does, else with RE2's str API (character spans)."""
        char_spans: dict[str, tuple[int, int]] = {}
        vm = 0 < len(text) <= LONG_TEXT
        end = len(enc)
        for name, norm, search, group, prog, raw in self.vm_extracts:
            if raw is not None:
                _extract_raw(name, norm, group, prog, raw, source, fields, char_spans)
            elif vm and prog is not None:
                span = prog.search(text)
                if span is not None:
                    a, b = span
                    _keep(name, text[a:b] if a >= 0 else None, span, norm, fields, char_spans)
            else:
                hit = search(_UNANCHORED, enc, 0, end)
                if hit[0][0] >= 0:
                    _raw_capture(enc, hit[group], name, norm, fields, spans)
        return char_spans

    def _result(self, text: str, sender: str | None, ctx: dict, fields: Fields,
                spans: dict[str, tuple[int, int]]) -> Match:
        actions = [a for a in (x.render(text, sender, ctx, fields) for x in self.actions) if a]
        lights = tuple((n, *spans[n]) for n in self.highlight if n in spans)
        return new_match(*self.static, fields, lights, tuple(actions), self.tags, self.meta)

    def _raw_template(self, enc: bytes, fields: Fields, spans: dict) -> bool:
        end = len(enc)
        for search, slots in self.raw_templates:
            hit = search(_UNANCHORED, enc, 0, end)
            if hit[0] != _NULL:
                for name, norm, group in slots:
                    _raw_capture(enc, hit[group], name, norm, fields, spans)
                return True
        return False

    def _run_str(self, text: str, sender: str | None, ctx: dict,
                 decided: bool, source: str) -> Match | None:
        """The same steps through google-re2's public str API (character offsets)."""
        fields: Fields = {}
        spans: dict[str, tuple[int, int]] = {}
        if not decided:
            if self.sender is not None and not self.sender(text, sender, ctx, fields):
                return None
            if self.templates and not self._template(text, fields, spans):
                return None
            if self.when_early is not None and not self.when_early(text, sender, ctx, fields):
                return None
        for (name, kind, regex, group), raw in zip(self.extracts, self.raw, strict=True):
            _capture(regex.search(unpaired(source) if raw is not None else text), name, kind,
                     group, fields, spans)
        if not decided and self.when_late is not None and not self.when_late(
                text, sender, ctx, fields):
            return None
        for name in self.require:
            if name not in fields:
                return None
        return self._result(text, sender, ctx, fields, spans)

    def _template(self, text: str, fields: Fields, spans: dict) -> bool:
        for regex, slots in self.templates:
            hit = regex.search(text)
            if hit is not None:
                for name, kind, group in slots:
                    _capture(hit, name, kind, group, fields, spans)
                return True
        return False


def _check_counts(runner: SceneRunner) -> None:
    """Each extractor, action and highlight costs work at every match of the scene: a
    record may hold what a build may (E914; `require` and `highlight` name distinct
    fields, which the compiler writes once each). A crafted record with a million copies
    of one highlight decoded the message's prefix a million times per match."""
    fields = len(runner.extracts) + sum(len(slots) for _, slots in runner.templates)
    if (len(runner.extracts) > MAX_SCENE_EXTRACTS or len(runner.actions) > MAX_SCENE_ACTIONS
            or any(len(set(names)) != len(names) or len(names) > fields
                   for names in (runner.require, runner.highlight))):
        raise ValueError("more extractors, actions, required or highlighted fields than a "
                         "build writes")
    # E912: a template's named slots each read a group of their own, and all of a scene's
    # templates capture at most MAX_SCENE_PLACEHOLDERS groups (20,000 slots of one group
    # cost 1.8 ms a match)
    if sum(r.groups for r, _ in runner.templates) > MAX_SCENE_PLACEHOLDERS or any(
            len(slots) > r.groups for r, slots in runner.templates):
        raise ValueError("more template groups or slots than a build writes")


def _check_literals(rec: dict) -> None:
    """A record's conditions (sender, `when`, the actions' guards) hold no more literals
    than E903 lets a scene have (each `in` of a `lit`, each signature and number of a
    sender list; template text is counted by the compiler too, so this bound is looser),
    and nest no deeper than E902 lets a build write them. Lowering never copies a literal,
    so a built record is within both; a crafted `or` of 30,000 literals passed `validate`
    and cost ~5 ms a message on the Python path, and 24,000 nested `not`s were served as
    as many nested calls wherever the host had raised its recursion limit (elsewhere the
    JSON decoder refused them past ~500, by a RecursionError)."""
    conds = [(c, 1) for c in (rec["sender"], rec["when"], *(a[4] for a in rec["actions"]))]
    count = 0
    while conds:
        c, depth = conds.pop()
        if not isinstance(c, list) or not c:
            continue
        if depth > MAX_CONDITION_DEPTH:
            raise ValueError(f"a condition nested deeper than a build writes "
                             f"({MAX_CONDITION_DEPTH} levels)")
        if c[0] == "lit":
            count += 1
        elif c[0] == "sender":
            count += len(c[1]) + len(c[2])
        elif c[0] in ("and", "or"):
            conds.extend((x, depth + 1) for x in c[1])
        elif c[0] == "not":
            conds.append((c[1], depth + 1))
    count += len(rec["templates"])  # each holds fixed text (E303), which E903 counts
    if count > MAX_SCENE_LITERALS:
        raise ValueError(f"{count:,} literals, more than a build writes ({MAX_SCENE_LITERALS:,})")


def _check_described(static: tuple, tags: Any, meta: Any) -> None:
    """The values a `Match` copies from the record have the types `Match` promises (str
    id, name and category, an int priority, a str or null enterprise, str tags and meta
    values). Only a crafted record has others (a priority of `{}`, tags of `"abc"` read as
    three tags); refused when the runner is built, i.e. by `validate` before a reload."""
    scene, name, category, priority, enterprise = static
    if not (type(tags) is list and all(type(v) is str for v in (scene, name, category, *tags))
            and type(priority) is int and (enterprise is None or type(enterprise) is str)
            and type(meta) is dict and all(type(v) is str for v in meta.values())):
        raise ValueError("id, name, category, priority, enterprise, tags or meta of the "
                         "wrong type")


def _group(regex: Any, group: Any) -> int:
    """A capture group the pattern has (1 .. its count): a crafted record naming another
    would read past RE2's result in the core, or Python's group -1 / 0 by accident."""
    g = int(group)
    if not 1 <= g <= regex.groups:
        raise ValueError(f"group {g} of a pattern with {regex.groups} groups")
    return g


def _extract_record(e: list) -> tuple[str, str, Any, int, bool]:
    """An extractor record as (name, kind, pattern, group, raw): four elements, or a fifth
    that must be `true` and marks a raw extractor (see `SceneRunner.raw`). The pattern is
    left as it is: `Patterns.get` refuses anything RE2 does not take."""
    if not (len(e) == 5 and e[4] is True or len(e) == 4):
        raise ValueError(f"bad extractor record {e!r}")
    return str(e[0]), str(e[1]), e[2], int(e[3]), len(e) == 5


def _raw_search(regex: Any, group: int) -> Callable[[str], str | None | bool]:
    """A raw program's RE2 path for long texts (`Regex.set_text_fallback`): the group's
    text on the caller's message, None when it took no part, False without a match."""
    def search(text: str) -> str | None | bool:
        hit = regex.search(unpaired(text))
        if hit is None:
            return False
        return hit.group(group) if hit.start(group) >= 0 else None
    return search


def _extract_raw(name: str, norm: Normaliser, group: int, prog: Regex | None, regex: Any,
                 source: str, fields: Fields, char_spans: dict) -> None:
    """A raw extractor on the caller's text: its VM program up to LONG_TEXT characters
    (as the core's `Quick` runs it), else RE2's str API; character spans either way."""
    if prog is not None and len(source) <= LONG_TEXT:
        span = prog.search(source)
        if span is not None:
            a, b = span
            _keep(name, unpaired(source[a:b]) if a >= 0 else None, span, norm, fields,
                  char_spans)
        return
    hit = regex.search(unpaired(source))
    if hit is not None and hit.start(group) >= 0:
        _keep(name, hit.group(group), hit.span(group), norm, fields, char_spans)


def _intern(value: Any) -> Any:
    return sys.intern(value) if type(value) is str else value


Normaliser = Callable[[Any], Any] | None


def _norm(kind: str) -> Normaliser:
    """What `kinds.normalise(kind, raw)` applies: None for a user kind (the text itself)."""
    k = BUILTIN.get(kind)
    return None if k is None or k.normalise is kinds._same else k.normalise


def _raw_capture(enc: bytes, span: tuple[int, int], name: str, norm: Normaliser,
                 fields: Fields, spans: dict) -> None:
    """`_capture` on a byte span of a successful match ((-1, -1): group did not take part)."""
    s, e = span
    _keep(name, enc[s:e].decode() if s >= 0 else None, span, norm, fields, spans)


def _keep(name: str, raw: str | None, span: tuple[int, int], norm: Normaliser,
          fields: Fields, spans: dict) -> None:
    """Store a captured group's value and span; None (the group took no part, or the
    normaliser refused the text) stores nothing."""
    value = raw if norm is None or raw is None else norm(raw)
    if value is not None:
        fields[name] = value
        spans[name] = span


def _char_spans(enc: bytes, ascii_only: bool, spans: dict[str, tuple[int, int]],
                names: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """Byte spans → character spans, for the highlighted fields only."""
    if ascii_only:
        return spans
    out = {}
    for n in names:
        if n in spans:
            s, e = spans[n]
            start = len(enc[:s].decode())
            out[n] = (start, start + len(enc[s:e].decode()))
    return out


def _capture(hit: Any, name: str, kind: str, group: int, fields: Fields, spans: dict) -> None:
    if hit is None:
        return
    value = normalise(kind, hit.group(group))
    if value is not None:
        fields[name] = value
        spans[name] = hit.span(group)


_ENCODED = frozenset(("url", "quickapp", "deeplink"))


# Arguments of each action kind (compiler/actions.py SIGNATURES; a test keeps them equal).
ACTION_ARITY = {"url": 1, "quickapp": 1, "deeplink": 1, "tel": 1, "copy": 1, "calendar": 2,
                "sms": 2}


class _ActionRunner:
    def __init__(self, a: list, rx: Patterns) -> None:
        self.slot, self.label, self.kind = str(a[0]), str(a[1]), str(a[2])
        self.args = [(str(k), str(v)) for k, v in a[3]]
        self.guard = compile_cond(a[4], rx) if a[4] is not None else None
        self.needs = tuple(map(str, a[5]))
        _check_action(self.kind, self.args, self.needs)
        self.encode = self.kind in _ENCODED
        # A url/quickapp/deeplink target that is one whole field: the link read from the
        # message (see links.py), found once here rather than on every render.
        self.whole = whole_field(self.args[0][1]) if self.encode else None

    def render(self, text: str, sender: str | None, ctx: dict, fields: Fields) -> Action | None:
        for name in self.needs:
            if name not in fields:
                return None
        if self.guard is not None and not self.guard(text, sender, ctx, fields):
            return None
        values = [render_value(fields[v]) if k == "f" else interpolate(v, fields, self.encode)
                  for k, v in self.args]
        if self.whole is not None and self.whole in fields:
            link = field_link(self.kind, render_value(fields[self.whole]))
            if link is None:  # not a link of this kind: dropped, like a missing field
                return None
            values[0] = link
        params: tuple[tuple[str, str], ...] = ()
        if self.kind == "calendar":
            params = (("title", values[1]),)
        elif self.kind == "sms":
            params = (("body", values[1]),)
        return Action(self.slot, self.kind, interpolate(self.label, fields, False), values[0],
                      params)


def _check_action(kind: str, args: list[tuple[str, str]], needs: tuple[str, ...]) -> None:
    """What `render` relies on: a known kind with its number of arguments, each a text
    ("t") or a field ("f") that the action needs (so it is dropped, not rendered, when
    the field is missing). Only a crafted record breaks this; it used to pass `validate`
    and then raise IndexError or KeyError at every message that reached the scene."""
    if ACTION_ARITY.get(kind) != len(args) or any(
            k not in ("f", "t") or k == "f" and v not in needs for k, v in args):
        raise ValueError(f"bad {kind!r} action arguments {args!r} (needs {needs!r})")


def interpolate(template: str, fields: Fields, encode: bool) -> str:
    """`${name}` → the field's value (URL-encoded inside url/quickapp/deeplink targets;
    a target that is one whole field is `links.field_link`'s)."""
    if "${" not in template:
        return template
    parts = template.split("${")
    out = [parts[0]]
    for part in parts[1:]:
        name, sep, rest = part.partition("}")
        if sep and name in fields:
            value = render_value(fields[name])
            out.append(urllib.parse.quote(value, safe="") if encode else value)
            out.append(rest)
        else:
            out.append("${" + part)
    return "".join(out)
