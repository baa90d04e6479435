"""Check `when` and `if` expressions and turn them into model conditions."""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING

from ..dsl import ast
from ..runtime.evaluate import MAX_SCENE_LITERALS
from ..runtime.fold import fold
from . import model as m
from .patterns import check_regex

# E903, reported by the checker once the scene is done; `validate` holds a record to it
MAX_LITERALS_PER_SCENE = MAX_SCENE_LITERALS

if TYPE_CHECKING:
    from ..dsl.diagnostics import DiagnosticBag
    from .checker import SceneChecker

_ORDERING = {"<", "<=", ">", ">="}


def value_type(v: str | float | int | bool) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return "str"


def spelled(v: object) -> str:
    """A constant as a rule author writes it (`true`, `"03-15"`, `12.5`), not as Python's
    repr (`True`, `'03-15'`): diagnostics about examples quote what the author wrote."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return repr(v)


class CondChecker:
    """One per scene: knows the scene's fields and counts the literals it uses."""

    def __init__(self, scene: SceneChecker) -> None:
        self.scene = scene
        self.literal_count = 0

    def check(self, e: ast.Expr) -> m.Cond:
        if isinstance(e, ast.Lit):
            return self._lit(e.text)
        if isinstance(e, ast.RegexCond):
            if not self.scene.regex_allowed():
                return m.CConst(False)
            pattern = check_regex(e.regex, self.scene.diags)
            if pattern is None:
                self.scene.ok = False
                return m.CConst(False)
            self.scene.charge(pattern, e.regex.span)
            return m.CRegex(pattern)
        if isinstance(e, ast.WordsFn):
            return self._words(e)
        if isinstance(e, ast.Near):
            a, b = self._lit(e.a), self._lit(e.b)
            if isinstance(a, m.CLit) and isinstance(b, m.CLit):
                return m.CNear(a.text, b.text, e.distance)
            return m.CConst(False)
        if isinstance(e, ast.SenderIs):
            ent = self.scene.sym.enterprises.get(e.enterprise.value)
            if ent is None:
                from .checker import enterprise_hint

                self.scene.unknown("E102", "enterprise", e.enterprise,
                                   lambda: enterprise_hint(e.enterprise.value, self.scene.sym,
                                                           self.scene.diags))
                return m.CConst(False)
            self.literal_count += len(ent[1].signatures) + len(ent[1].numbers)
            return ent[1]
        if isinstance(e, ast.Compare):
            return self._compare(e)
        if isinstance(e, ast.And):
            return m.CAnd(tuple(self.check(x) for x in e.items))
        if isinstance(e, ast.Or):
            return m.COr(tuple(self.check(x) for x in e.items))
        assert isinstance(e, ast.Not)
        return m.CNot(self.check(e.item))

    def _lit(self, s: ast.Str) -> m.Cond:
        if not s.value:
            self.scene.error("E004", "empty literal", s.span, "an empty string is in every message")
            return m.CConst(False)
        self.literal_count += 1
        return m.CLit(fold(s.value))

    def _words(self, e: ast.WordsFn) -> m.Cond:
        lits: list[m.Cond] = []
        for arg in e.args:
            if isinstance(arg, ast.Str):
                lits.append(self._lit(arg))
                continue
            words = self.scene.sym.words.get(arg.value)
            if words is None:
                self.scene.unknown("E103", "words", arg, partial(
                    _words_hint, arg.value, self.scene.sym.words, self.scene.diags))
                continue
            self.scene.sym.used.add(f"words:{arg.value}")
            self.literal_count += len(words[0])
            if self.literal_count > MAX_LITERALS_PER_SCENE:
                continue  # E903 follows; a 100,000-word set used 300 times took 3 GB
            lits.extend(m.CLit(w) for w in words[0])
        if e.fn == "any":
            return m.COr(tuple(lits)) if lits else m.CConst(False)
        if e.fn == "all":
            return m.CAnd(tuple(lits)) if lits else m.CConst(True)
        return m.CNot(m.COr(tuple(lits))) if lits else m.CConst(True)

    def _compare(self, e: ast.Compare) -> m.Cond:
        name = e.left.name
        if e.left.is_ctx:
            entry = self.scene.sym.context.get(name.value)
            if entry is None and ("context", name.value) in self.scene.sym.dropped:
                self.scene.ok = False  # the syntax error in its context block says it
                return m.CConst(False)
            if entry is None:
                from .checker import did_you_mean

                self.scene.error("E106", f"unknown context fact 'ctx.{name.value}'", name.span,
                                 did_you_mean(name.value, self.scene.sym.context, self.scene.diags)
                                 or "declare it in a context { … } block")
                return m.CConst(False)
            typ: str | None = entry[0]
        else:
            typ = self.scene.field_type(name)
            if typ is None:
                return m.CConst(False)
        assert typ is not None
        if e.op in _ORDERING and typ != "number":
            self.scene.error("E201", f"'{e.op}' needs a number, but "
                             f"{'ctx.' if e.left.is_ctx else ''}{name.value} is {typ}", e.span,
                             "compare text with == != or in")
            return m.CConst(False)
        want = "str" if typ in ("date", "time") else typ
        for v in e.right:
            if value_type(v.value) != want:
                self.scene.error("E201", f"cannot compare {typ} "
                                 f"{'ctx.' if e.left.is_ctx else ''}{name.value} with "
                                 f"{value_type(v.value)} {v.value!r}", v.span,
                                 f"write a {want} value")
                return m.CConst(False)
        return m.CCompare(name.value, e.left.is_ctx, e.op, tuple(v.value for v in e.right), typ)


def _words_hint(name: str, words: dict, diags: DiagnosticBag) -> str:
    from .checker import did_you_mean

    return did_you_mean(name, words, diags) or 'define it with: words NAME = "…", "…"'
