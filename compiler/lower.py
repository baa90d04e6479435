"""Lower the checked model to the tables of the compiled core (see docs/internals.md).

Scenes are numbered in rank order, so the core's ascending candidate list is already the
result order. Each scene gets a three-valued condition program over literal hits and an
anchor: the cheapest set of literals of which at least one must occur for it to match.
"""

from __future__ import annotations

import gc
from array import array
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..runtime.artifact import encode_json
from . import model as m

OP_LIT, OP_TRUE, OP_FALSE, OP_UNKNOWN, OP_NOT, OP_AND, OP_OR = range(7)


def is_signature(text: str) -> bool:
    """`【…】` with no bracket inside: found by the core's signature hash, not the automaton."""
    return (len(text) > 2 and text[0] == "【" and text[-1] == "】"
            and "【" not in text[1:-1] and "】" not in text[1:-1])


@dataclass
class Lowered:
    auto_literals: list[tuple[str, int]] = field(default_factory=list)
    signatures: list[tuple[str, int]] = field(default_factory=list)
    sender_ids: dict[str, int] = field(default_factory=dict)
    nlits: int = 0
    tables: dict[str, array] = field(default_factory=dict)
    unanchored: list[m.Scene] = field(default_factory=list)


class _Rarity(Counter):
    """How many scenes use each literal, each literal's length (sender numbers: 99), and
    which literals name a sender (signatures and sender numbers)."""

    length: dict[int, int]
    sender: set[int]


class _Literals:
    def __init__(self) -> None:
        self.ids: dict[tuple[str, str], int] = {}
        self._texts: dict[str, int] = {}  # the "t" ids again, by text: the hot lookup

    def text(self, s: str) -> int:
        i = self._texts.get(s)
        if i is None:
            i = self._texts[s] = self.ids.setdefault(("t", s), len(self.ids))
        return i

    def number(self, s: str) -> int:
        return self.ids.setdefault(("n", s), len(self.ids))


@contextmanager
def collector_paused() -> Iterator[None]:
    """Parsing, checking and lowering allocate millions of small objects that all live
    until the build returns, so every collection they trigger walks a growing heap and
    frees nothing: pausing the collector halves lowering time at 10k scenes (0.69 s ->
    0.28 s) and parsing time at 100k (75 s -> 35 s)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def lower(model: m.Model) -> Lowered:
    """The core's tables and the scene records (see the module docstring)."""
    with collector_paused():
        return _lower(model)


def _lower(model: m.Model) -> Lowered:
    scenes = sorted(model.scenes, key=m.Scene.rank_key)
    lits = _Literals()
    programs = [_scene_program(s, lits) for s in scenes]
    df = _Rarity(i for p in programs for i in set(_program_literals(p)))
    df.length = {i: (len(text) if kind == "t" else 99) for (kind, text), i in lits.ids.items()}
    df.sender = {i for (kind, text), i in lits.ids.items() if kind == "n" or is_signature(text)}
    out = Lowered(nlits=len(lits.ids))
    anchors: list[list[int]] = [[] for _ in range(out.nlits)]
    always: list[int] = []
    for idx, s in enumerate(scenes):
        anchor = _anchor(_scene_cond(s), lits, df)
        if anchor is None:
            always.append(idx)
            out.unanchored.append(s)
        else:
            for lit in sorted(anchor):
                anchors[lit].append(idx)
    for (kind, text), i in lits.ids.items():
        if kind == "n":
            out.sender_ids[text] = i
        elif is_signature(text):
            out.signatures.append((text, i))
        else:
            out.auto_literals.append((text, i))
    out.tables = _condition_tables(anchors, always, programs)
    return out


def _condition_tables(anchors: list[list[int]], always: list[int],
                      programs: list[list[int]]) -> dict[str, array]:
    anchor_start, anchor_scenes = array("i", [0]), array("i")
    for lst in anchors:
        anchor_scenes.extend(lst)
        anchor_start.append(len(anchor_scenes))
    prog_start, prog = array("i", [0]), array("i")
    for p in programs:
        prog.extend(p)
        prog_start.append(len(prog))
    return {"anchor_start": anchor_start, "anchor_scenes": anchor_scenes,
            "always": array("i", always), "prog_start": prog_start, "prog": prog}


def _scene_cond(s: m.Scene) -> m.Cond:
    """Everything a scene needs, as one condition: sender, any template, when."""
    parts: list[m.Cond] = []
    if s.sender is not None:
        parts.append(s.sender)
    if s.templates:
        parts.append(m.COr(tuple(_TemplateCond(t) for t in s.templates)))  # type: ignore[misc]
    if s.when is not None:
        parts.append(s.when)
    return m.CAnd(tuple(parts)) if len(parts) != 1 else parts[0]


_NEEDS_PYTHON = m.CRegex("")  # an atom only Python can decide (regex, field, context)


@dataclass(frozen=True)
class _TemplateCond:
    """A template as a condition: all its fixed parts present, then a regex check."""

    template: m.Template


def _scene_program(s: m.Scene, lits: _Literals) -> list[int]:
    out: list[int] = []
    _emit(_scene_cond(s), lits, out)
    return out


def _emit(c: Any, lits: _Literals, out: list[int]) -> None:
    if isinstance(c, m.CLit):
        out += [OP_LIT, lits.text(c.text)]
    elif isinstance(c, (m.CRegex, m.CCompare)):
        out.append(OP_UNKNOWN)
    elif isinstance(c, m.CNear):
        _emit_nary(OP_AND, [m.CLit(c.a), m.CLit(c.b), _NEEDS_PYTHON], lits, out)
    elif isinstance(c, _TemplateCond):
        _emit_nary(OP_AND, [*(m.CLit(p) for p in c.template.parts), _NEEDS_PYTHON], lits, out)
    elif isinstance(c, m.CSender):
        ids = [lits.text(x) for x in c.signatures] + [lits.number(x) for x in c.numbers]
        if not ids:
            out.append(OP_FALSE)
        _Reducer(OP_OR, out).run(ids, lambda i: out.extend((OP_LIT, i)), leaf=lambda _: True)
    elif isinstance(c, (m.CAnd, m.COr)):
        _emit_nary(OP_AND if isinstance(c, m.CAnd) else OP_OR, list(c.items), lits, out)
    elif isinstance(c, m.CNot):
        _emit(c.item, lits, out)
        out.append(OP_NOT)
    else:
        assert isinstance(c, m.CConst)
        out.append(OP_TRUE if c.value else OP_FALSE)


def _emit_nary(op: int, items: list[Any], lits: _Literals, out: list[int]) -> None:
    if not items:
        out.append(OP_TRUE if op == OP_AND else OP_FALSE)
        return
    if len(items) <= _CHUNK and all(type(x) is m.CLit for x in items):
        # What `_Reducer` emits for a short run of literals, without its calls: the common
        # case, and most of lowering's time at 100k scenes.
        for x in items:
            out += (OP_LIT, lits.text(x.text))
        if len(items) > 1:
            out += (op, len(items))
        return
    _Reducer(op, out).run(items, lambda x: _emit(x, lits, out), leaf=_is_leaf)


_CHUNK = 32  # values an n-ary op may gather on the stack at once


def _is_leaf(c: Any) -> bool:
    """Conditions that push exactly one value with no stack of their own."""
    return isinstance(c, (m.CLit, m.CRegex, m.CCompare, m.CConst))


class _Reducer:
    """Emits `AND`/`OR` over many items so the stack stays shallow: the core refuses
    programs deeper than 256 (internals.md), and a 2000-literal `any(…)` or a sender list
    of hundreds of numbers used to exceed that. Kleene AND/OR are associative, so
    regrouping never changes a value. At most one partial result waits while a compound
    item is emitted, so the depth is about twice the nesting (<= 64) plus one chunk."""

    def __init__(self, op: int, out: list[int]) -> None:
        self.op, self.out, self.pending = op, out, 0

    def reduce(self) -> None:
        if self.pending > 1:
            self.out += [self.op, self.pending]
            self.pending = 1

    def run(self, items: list[Any], emit: Any, leaf: Any) -> None:
        for x in items:
            if self.pending >= _CHUNK or (self.pending > 1 and not leaf(x)):
                self.reduce()
            emit(x)
            self.pending += 1
        self.reduce()


def _program_literals(prog: list[int]) -> list[int]:
    out, i = [], 0
    while i < len(prog):
        if prog[i] == OP_LIT:
            out.append(prog[i + 1])
        i += 2 if prog[i] in (OP_LIT, OP_AND, OP_OR) else 1
    return out


def _anchor(c: Any, lits: _Literals, df: _Rarity) -> frozenset[int] | None:
    """Literals of which at least one must occur whenever `c` holds (None: no such set)."""
    if isinstance(c, m.CLit):
        return frozenset([lits.text(c.text)])
    if isinstance(c, m.CNear):
        return _cheapest([frozenset([lits.text(c.a)]), frozenset([lits.text(c.b)])], df)
    if isinstance(c, _TemplateCond):
        return _cheapest([frozenset([lits.text(p)]) for p in c.template.parts], df)
    if isinstance(c, m.CSender):
        ids = [lits.text(x) for x in c.signatures] + [lits.number(x) for x in c.numbers]
        return frozenset(ids) or None
    if isinstance(c, m.CAnd):
        return _cheapest([a for a in (_anchor(x, lits, df) for x in c.items) if a is not None], df)
    if isinstance(c, m.COr):
        parts = [_anchor(x, lits, df) for x in c.items]
        if not parts or any(p is None for p in parts):
            return None
        return frozenset().union(*parts)  # type: ignore[arg-type]
    return None


def _cheapest(options: list[frozenset[int]], df: _Rarity) -> frozenset[int] | None:
    """A sender first (signatures, numbers: they occur only in their enterprise's own
    messages, while a keyword occurs in anyone's; the other conditions then wake the
    scene's guard, not its program); then the fewest scenes woken; on a tie the longest
    shortest literal (rarer in text), then the fewest literals, then the lowest ids
    (sorted only on a full tie: 100k scenes compare ~300,000 options). On the peers'
    workload putting the sender first took a 10k `match` down 5-15% (BENCHMARKS.md,
    session 13); on the shipped rules it changed nothing measurable."""
    if len(options) < 2:
        return options[0] if options else None
    length, sender = df.length, df.sender
    keyed = [((not o <= sender, sum(df[i] for i in o), -min(length[i] for i in o), len(o)), o)
             for o in options]
    best = min(k for k, _ in keyed)
    ties = [o for k, o in keyed if k == best]
    return ties[0] if len(ties) == 1 else min(ties, key=sorted)


# --- scene records: what Python needs for candidates the core let through -------------


def cond_json(c: m.Cond) -> list[Any]:
    """Conditions as JSON lists, so the artifact holds data and never code."""
    if isinstance(c, m.CLit):
        return ["lit", c.text]
    if isinstance(c, m.CRegex):
        return ["re", c.pattern]
    if isinstance(c, m.CNear):
        return ["near", c.a, c.b, c.distance]
    if isinstance(c, m.CSender):
        return ["sender", list(c.signatures), list(c.numbers)]
    if isinstance(c, m.CCompare):
        return ["cmp", c.name, c.is_ctx, c.op, list(c.values), c.type]
    if isinstance(c, m.CAnd):
        return ["and", [cond_json(x) for x in c.items]]
    if isinstance(c, m.COr):
        return ["or", [cond_json(x) for x in c.items]]
    if isinstance(c, m.CNot):
        return ["not", cond_json(c.item)]
    return ["const", c.value]


def records_json(model: m.Model) -> bytes:
    """The artifact's `scenes` section: every scene's record, in rank order (the order
    of the core's scene ids), encoded for `artifact.pack`. Independent of the tables, so
    a large build encodes it beside lowering (`pipeline`)."""
    scenes = sorted(model.scenes, key=m.Scene.rank_key)
    return encode_json([scene_record(s) for s in scenes])


def scene_record(s: m.Scene) -> dict[str, Any]:
    return {
        "id": s.id, "name": s.name, "category": s.category, "priority": s.priority,
        "enterprise": s.enterprise, "tags": list(s.tags), "meta": s.meta,
        "sender": cond_json(s.sender) if s.sender else None,
        "templates": [[t.regex, [[n, k, g] for (n, k), g in zip(t.slots, t.groups, strict=False)]]
                      for t in s.templates],
        "when": cond_json(s.when) if s.when is not None else None,
        # A raw extractor's record has a fifth element (true); others keep the four that
        # runtimes before raw extractors read.
        "extracts": [[e.name, e.kind, e.regex, e.group] + ([True] if e.raw else [])
                     for e in s.extracts],
        "require": list(s.require), "highlight": list(s.highlight),
        "actions": [[a.slot, a.label, a.kind,
                     [["f", x.field] if x.field is not None else ["t", x.text] for x in a.args],
                     cond_json(a.guard) if a.guard is not None else None, list(a.fields)]
                    for a in s.actions],
        "valid": [s.valid[0].isoformat(), s.valid[1].isoformat()] if s.valid else None,
    }
