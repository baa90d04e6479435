"""Check action clauses (`button`/`menu`): the kind, its arguments and the fields they use."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..dsl import ast
from . import model as m

if TYPE_CHECKING:
    from .checker import SceneChecker
    from .conditions import CondChecker

# kind -> argument shapes: "s" a string, "f" a field, "fs" either, "d" a date field
SIGNATURES: dict[str, tuple[str, ...]] = {
    "url": ("s",), "quickapp": ("s",), "deeplink": ("s",), "tel": ("fs",), "copy": ("fs",),
    "calendar": ("d", "s"), "sms": ("fs", "fs"),
}
_USAGE = {
    "url": 'url("https://…")', "quickapp": 'quickapp("hap://app/…")',
    "deeplink": 'deeplink("app://…")', "tel": 'tel(phone) or tel("95555")',
    "copy": "copy(code)", "calendar": 'calendar(due, "title")',
    "sms": 'sms("10690000", "TD") or sms(number, code)',
}
_INTERP = re.compile(r"\$\{([^}]*)\}")


def check_action(a: ast.Action, sc: SceneChecker, conds: CondChecker) -> m.Action | None:
    # The guard first: a wrong target below returns early, and its errors would hide the
    # guard's.
    guard = conds.check(a.guard) if a.guard is not None else None
    kind = a.kind.value
    shape = SIGNATURES.get(kind)
    if shape is None:
        from .checker import did_you_mean

        sc.error("E107", f"unknown action '{kind}'", a.kind.span,
                 did_you_mean(kind, SIGNATURES) or "actions: " + ", ".join(SIGNATURES))
        return None
    if len(a.args) != len(shape):
        sc.error("E203", f"{kind}() takes {len(shape)} argument(s), got {len(a.args)}",
                 a.kind.span, f"write {_USAGE[kind]}")
        return None
    fields: list[str] = _interpolated(a.label, sc)
    args: list[m.ActionArg] = []
    for want, arg in zip(shape, a.args, strict=False):
        if isinstance(arg, ast.Str):
            if "s" not in want:
                sc.error("E203", f"{kind}() needs a field here, not a string", arg.span,
                         f"write {_USAGE[kind]}")
                return None
            fields += _interpolated(arg, sc)
            args.append(m.ActionArg(text=arg.value))
            continue
        if "f" not in want and want != "d":
            sc.error("E203", f"{kind}() needs a string here, not a field", arg.span,
                     f"write {_USAGE[kind]}; use ${{{arg.value}}} inside the string")
            return None
        typ = sc.field_type(arg)
        if typ is None:
            return None
        if want == "d" and typ != "date":
            sc.error("E202", f"calendar() needs a date field; '{arg.value}' is {typ}", arg.span,
                     "extract the date with the date kind, e.g. ${due:date}")
            return None
        fields.append(arg.value)
        args.append(m.ActionArg(field=arg.value))
    return m.Action(a.slot, a.label.value, kind, tuple(args), guard, tuple(dict.fromkeys(fields)))


def _interpolated(s: ast.Str, sc: SceneChecker) -> list[str]:
    out = []
    for mm in _INTERP.finditer(s.value):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", mm.group(1)):
            sc.error("E301", f"bad placeholder '${{{mm.group(1)}}}'",
                     ast.Span.point(s.span.file, s.span.line, s.span.col + 1 + mm.start()),
                     "write ${field} with the name of an extracted field")
            continue
        name = ast.Name(mm.group(1), ast.Span.point(s.span.file, s.span.line,
                                                            s.span.col + 1 + mm.start()))
        if sc.field_type(name) is not None:
            out.append(name.value)
    return out
