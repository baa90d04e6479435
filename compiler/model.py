"""The checked model: what the rules mean, with every name resolved and every type known.

Both the lowering (to tables for the compiled core) and the reference interpreter read
this model and nothing earlier, so the two can be compared on equal terms.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..dsl.diagnostics import Span

# --- conditions (literals and patterns already folded) --------------------------------


@dataclass(frozen=True)
class CLit:
    text: str


@dataclass(frozen=True)
class CRegex:
    pattern: str


@dataclass(frozen=True)
class CNear:
    a: str
    b: str
    distance: int


@dataclass(frozen=True)
class CSender:
    """Satisfied by a signature in the text or the caller's sender among the numbers."""

    signatures: tuple[str, ...]
    numbers: tuple[str, ...]


@dataclass(frozen=True)
class CCompare:
    name: str
    is_ctx: bool
    op: str  # == != < <= > >= in
    values: tuple[str | float | int | bool, ...]
    type: str  # number | str | bool | date | time


@dataclass(frozen=True)
class CAnd:
    items: tuple[Cond, ...]


@dataclass(frozen=True)
class COr:
    items: tuple[Cond, ...]


@dataclass(frozen=True)
class CNot:
    item: Cond


@dataclass(frozen=True)
class CConst:
    value: bool


Cond = CLit | CRegex | CNear | CSender | CCompare | CAnd | COr | CNot | CConst


# --- scene parts ----------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    source: str
    regex: str  # RE2, folded; slot i is named group _s{i}
    parts: tuple[str, ...]  # folded fixed text between placeholders (non-empty ones)
    slots: tuple[tuple[str, str], ...]  # (field, kind) in order
    groups: tuple[int, ...]  # RE2 group index of each slot


@dataclass(frozen=True)
class Extractor:
    name: str
    kind: str
    regex: str  # RE2, folded unless `raw`
    group: int  # the capture group holding the value
    raw: bool = False  # searched in the caller's text as given (only surrogates replaced)


@dataclass(frozen=True)
class ActionArg:
    text: str | None = None  # a string with ${field} interpolation
    field: str | None = None  # a bare field reference


@dataclass(frozen=True)
class Action:
    slot: str  # button | menu
    label: str
    kind: str  # url quickapp deeplink tel copy calendar sms
    args: tuple[ActionArg, ...]
    guard: Cond | None
    fields: tuple[str, ...]  # every field the action needs


@dataclass(frozen=True)
class Example:
    text: str
    sender: str | None
    ctx: dict[str, str | float | int | bool]
    expect: dict[str, str | float | int | bool]
    counter: bool
    span: Span


@dataclass
class Scene:
    id: str
    name: str
    span: Span
    order: int  # source order over the whole build
    enterprise: str | None
    sender: CSender | None
    category: str
    priority: int
    tags: tuple[str, ...]
    meta: dict[str, str]
    templates: tuple[Template, ...]
    when: Cond | None
    extracts: tuple[Extractor, ...]
    require: tuple[str, ...]
    highlight: tuple[str, ...]
    actions: tuple[Action, ...]
    valid: tuple[dt.date, dt.date] | None
    fields: dict[str, str]  # field -> kind
    examples: tuple[Example, ...] = ()

    def rank_key(self) -> tuple[int, int, int, int]:
        """Priority, then templates before keywords, sender-bound before any-sender, order."""
        return (-self.priority, 0 if self.templates else 1, 0 if self.sender else 1, self.order)


@dataclass
class Model:
    scenes: list[Scene] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)  # name -> str | number | bool
    enterprises: dict[str, str] = field(default_factory=dict)  # id -> display name
