"""The reference interpreter: the meaning of a rule set, in plain Python.

It walks the checked model scene by scene with no automaton, no anchoring and no
condition programs, and is written for clarity, not speed. Property tests require the
compiled runtime to give exactly its answers.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

import re2

from ..runtime.kinds import normalise, render_value
from ..runtime.links import field_link, whole_field
from ..runtime.ruleset import plain_day
from ..runtime.senders import holds_for
from . import model as m

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False

# Written out again on purpose (the runtime has its own): the fold is part of the meaning.
_FOLD = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_UNPAIRED = {c: 0xFFFD for c in range(0xD800, 0xE000)}  # what a `raw` extractor reads
_FOLD |= _UNPAIRED


@dataclass(frozen=True)
class RefMatch:
    scene: str
    fields: dict[str, Any]
    highlights: tuple[tuple[str, int, int], ...]
    actions: tuple[tuple[str, str, str, str, tuple[tuple[str, str], ...]], ...]


class Reference:
    def __init__(self, model: m.Model) -> None:
        self.scenes = sorted(model.scenes, key=m.Scene.rank_key)
        self._regex: dict[str, Any] = {}

    def match(self, text: str, sender: str | None = None, ctx: dict | None = None,
              now: dt.date | dt.datetime | None = None) -> list[RefMatch]:
        folded, raw = text.translate(_FOLD), text.translate(_UNPAIRED)
        day = plain_day(now)  # as the runtime reads it
        out = []
        for scene in self.scenes:
            found = self._scene(scene, folded, raw, sender, ctx or {}, day)
            if found is not None:
                out.append(found)
        return out

    def _re(self, pattern: str) -> Any:
        if pattern not in self._regex:
            self._regex[pattern] = re2.compile(pattern, _OPTIONS)
        return self._regex[pattern]

    def _scene(self, s: m.Scene, text: str, raw: str, sender: str | None, ctx: dict,
               day: dt.date) -> RefMatch | None:
        """`text` folded; `raw` the caller's text with only unpaired surrogates replaced."""
        if s.valid is not None and not s.valid[0] <= day <= s.valid[1]:
            return None
        if s.sender is not None and not self._sender_ok(s.sender, text, sender):
            return None
        fields: dict[str, Any] = {}
        spans: dict[str, tuple[int, int]] = {}
        if s.templates:
            for t in s.templates:
                hit = self._re(t.regex).search(text)
                if hit is None:
                    continue
                for (name, kind), group in zip(t.slots, t.groups, strict=False):
                    value = normalise(kind, hit.group(group))
                    if value is not None:
                        fields[name] = value
                        spans[name] = hit.span(group)
                break
            else:
                return None
        for ex in s.extracts:
            hit = self._re(ex.regex).search(raw if ex.raw else text)
            if hit is not None:
                value = normalise(ex.kind, hit.group(ex.group))
                if value is not None:
                    fields[ex.name] = value
                    spans[ex.name] = hit.span(ex.group)
        if s.when is not None and not self.holds(s.when, text, sender, ctx, fields):
            return None
        if any(name not in fields for name in s.require):
            return None
        actions = tuple(a for a in (self._action(x, text, sender, ctx, fields) for x in s.actions)
                        if a is not None)
        lights = tuple((n, *spans[n]) for n in s.highlight if n in spans)
        return RefMatch(s.id, fields, lights, actions)

    @staticmethod
    def _sender_ok(c: m.CSender, text: str, sender: str | None) -> bool:
        return holds_for(sender, c.numbers) or any(sig in text for sig in c.signatures)

    def holds(self, c: m.Cond, text: str, sender: str | None, ctx: dict,
              fields: dict[str, Any]) -> bool:
        if isinstance(c, m.CLit):
            return c.text in text
        if isinstance(c, m.CRegex):
            return self._re(c.pattern).search(text) is not None
        if isinstance(c, m.CNear):
            return _near(text, c.a, c.b, c.distance)
        if isinstance(c, m.CSender):
            return self._sender_ok(c, text, sender)
        if isinstance(c, m.CCompare):
            return _compare(c, ctx.get(c.name) if c.is_ctx else fields.get(c.name))
        if isinstance(c, m.CAnd):
            return all(self.holds(x, text, sender, ctx, fields) for x in c.items)
        if isinstance(c, m.COr):
            return any(self.holds(x, text, sender, ctx, fields) for x in c.items)
        if isinstance(c, m.CNot):
            return not self.holds(c.item, text, sender, ctx, fields)
        assert isinstance(c, m.CConst)
        return c.value

    def _action(self, a: m.Action, text: str, sender: str | None, ctx: dict,
                fields: dict[str, Any]) -> tuple | None:
        if any(f not in fields for f in a.fields):
            return None
        if a.guard is not None and not self.holds(a.guard, text, sender, ctx, fields):
            return None

        def arg(i: int, encode: bool = False) -> str:
            x = a.args[i]
            if x.field is not None:
                return render_value(fields[x.field])
            return _fill(x.text or "", fields, encode)

        params: tuple[tuple[str, str], ...] = ()
        if a.kind in ("url", "quickapp", "deeplink"):
            target = arg(0, encode=True)
            whole = whole_field(a.args[0].text or "")
            if whole is not None and whole in fields:
                link = field_link(a.kind, render_value(fields[whole]))
                if link is None:
                    return None
                target = link
        elif a.kind == "calendar":
            target, params = arg(0), (("title", arg(1)),)
        elif a.kind == "sms":
            target, params = arg(0), (("body", arg(1)),)
        else:
            target = arg(0)
        return (a.slot, a.kind, _fill(a.label, fields, False), target, params)


_PLACE = re.compile(r"\$\{([^}]*)\}")


def _fill(template: str, fields: dict[str, Any], encode: bool) -> str:
    def one(mm: re.Match) -> str:
        if mm.group(1) not in fields:
            return mm.group(0)
        text = render_value(fields[mm.group(1)])
        return urllib.parse.quote(text, safe="") if encode else text

    return _PLACE.sub(one, template)


def _near(text: str, a: str, b: str, distance: int) -> bool:
    """Some start `i` of `a` has a start of `b` in `[i - distance, i + distance]`.

    `before[k]` counts the starts of `b` below `k`, so each window is one subtraction.
    Trying every pair of starts was the definition written out, but a build explains a
    failing example with this interpreter, and 1,300 starts of each word made one `near`
    cost 0.75 s (a `when` may hold a thousand)."""
    n = len(text)
    before = [0]
    for k in range(n):
        before.append(before[-1] + text.startswith(b, k))
    return any(before[min(n, i + distance + 1)] > before[max(0, i - distance)]
               for i in range(n) if text.startswith(a, i))


def _compare(c: m.CCompare, value: Any) -> bool:
    if value is None or not _same_type(c.type, value):
        return False
    value = _plain(value)
    if c.op == "in":
        return value in c.values
    right = c.values[0]
    return {
        "==": value == right, "!=": value != right, "<": value < right,
        "<=": value <= right, ">": value > right, ">=": value >= right,
    }[c.op]


def _plain(value: Any) -> Any:
    """A str, int or float subclass as its plain value, as the runtime reads a fact (its
    own `__eq__` or `__gt__` may raise or lie); bool cannot be subclassed."""
    if type(value) in (bool, str, int, float):
        return value
    if isinstance(value, str):
        return str.__str__(value)  # not str(value): its own __str__ may lie too
    return int.__int__(value) if isinstance(value, int) else float.__float__(value)


def _same_type(typ: str, value: Any) -> bool:
    if typ == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typ == "bool":
        return isinstance(value, bool)
    return isinstance(value, str)


def explain(ref: Reference, s: m.Scene, text: str, sender: str | None, ctx: dict,
            day: dt.date) -> str:
    """Why `s` does not match: the first requirement that fails, for example reports."""
    folded = text.translate(_FOLD)
    if s.valid is not None and not s.valid[0] <= day <= s.valid[1]:
        return f"{day} is outside the scene's validity {s.valid[0]} .. {s.valid[1]}"
    if s.sender is not None and not ref._sender_ok(s.sender, folded, sender):
        numbers = list(s.sender.numbers)
        given = (f" and sender {sender!r} is not one of {numbers}" if sender is not None else
                 f' and the example gives no sender (`from "…"`) for {numbers}')
        return (f"sender constraint fails: none of {list(s.sender.signatures)} in the text"
                + (given if numbers else ""))
    if s.templates and not any(ref._re(t.regex).search(folded) for t in s.templates):
        missing = [p for t in s.templates for p in t.parts if p not in folded]
        if missing:
            return f"no template matches; fixed text not in the message: {missing[0]!r}"
        return "no template matches: the fixed text is there, but a slot's value does not fit"
    found = ref._scene(s, folded, text.translate(_UNPAIRED), sender, ctx, day)
    if found is None:
        return "the when condition is false or a required field was not extracted"
    return "it matches"
