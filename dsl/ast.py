"""The typed syntax tree of a `.scene` file.

Nodes mirror the grammar one to one and carry the span of their source; no name is
resolved here (that is the compiler's job), so the tree can be built from a file alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .diagnostics import Span


@dataclass(frozen=True)
class Str:
    value: str
    span: Span


@dataclass(frozen=True)
class Name:
    value: str
    span: Span


@dataclass(frozen=True)
class Regex:
    pattern: str
    ignore_case: bool
    span: Span


@dataclass(frozen=True)
class Value:
    """A constant on the right of a comparison, in `expect` or in `ctx { … }`."""

    value: str | float | int | bool
    span: Span


# --- conditions -------------------------------------------------------------------


@dataclass(frozen=True)
class Lit:
    text: Str


@dataclass(frozen=True)
class RegexCond:
    regex: Regex


@dataclass(frozen=True)
class WordsFn:
    """`any(…)`, `all(…)` or `none(…)` over literals and word-set names."""

    fn: str
    args: tuple[Str | Name, ...]
    span: Span


@dataclass(frozen=True)
class Near:
    a: Str
    b: Str
    distance: int
    span: Span


@dataclass(frozen=True)
class SenderIs:
    enterprise: Name
    span: Span


@dataclass(frozen=True)
class Operand:
    """A field (`amount`) or a context fact (`ctx.segment`)."""

    name: Name
    is_ctx: bool
    span: Span


@dataclass(frozen=True)
class Compare:
    left: Operand
    op: str
    right: tuple[Value, ...]  # one value, or the list of `in [...]`
    span: Span


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Not:
    item: Expr
    span: Span


Expr = Lit | RegexCond | WordsFn | Near | SenderIs | Compare | And | Or | Not


def expr_span(e: Expr) -> Span:
    if isinstance(e, Lit):
        return e.text.span
    if isinstance(e, RegexCond):
        return e.regex.span
    return e.span


# --- scene clauses ------------------------------------------------------------------


@dataclass(frozen=True)
class Extract:
    name: Name
    regex: Regex | None  # `= /re/ [as KIND]`
    after: Str | None  # `= after "kw" KIND`
    kind: Name | None
    span: Span
    raw: bool = False  # `= raw /re/`: the regex reads the caller's text, not the folded one
    ref: Name | None = None  # `= NAME`: the top-level `extractor NAME` does the reading


@dataclass(frozen=True)
class Action:
    slot: str  # "button" | "menu"
    label: Str
    kind: Name
    args: tuple[Str | Name, ...]
    guard: Expr | None
    span: Span


@dataclass(frozen=True)
class Example:
    text: Str
    sender: Str | None
    ctx: tuple[tuple[Name, Value], ...]
    expect: tuple[tuple[Name, Value], ...]
    counter: bool
    span: Span


@dataclass
class Scene:
    id: Name
    name: Str
    span: Span
    enterprise: list[Name] = field(default_factory=list)
    senders: list[Str] = field(default_factory=list)
    sender_spans: list[Span] = field(default_factory=list)
    category: list[Name] = field(default_factory=list)
    priority: list[tuple[int, Span]] = field(default_factory=list)
    tags: list[Str] = field(default_factory=list)
    meta: list[tuple[Name, Str]] = field(default_factory=list)
    templates: list[Str] = field(default_factory=list)
    when: list[Expr] = field(default_factory=list)
    extracts: list[Extract] = field(default_factory=list)
    require: list[Name] = field(default_factory=list)
    highlight: list[Name] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    valid: list[tuple[Value, Value, Span]] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)


# --- top level ----------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    path: Str
    span: Span


@dataclass(frozen=True)
class Words:
    name: Name
    words: tuple[Str, ...]
    file: Str | None  # `words NAME from "file"`
    span: Span


@dataclass(frozen=True)
class Slot:
    name: Name
    regex: Regex
    span: Span


@dataclass(frozen=True)
class ExtractorDef:
    """`extractor NAME = …`: one extractor written once, used by many scenes as
    `extract FIELD = NAME`; `source` is the extractor with NAME in its field's place."""

    name: Name
    source: Extract
    span: Span


@dataclass(frozen=True)
class ContextField:
    name: Name
    type: Name


@dataclass(frozen=True)
class Context:
    fields: tuple[ContextField, ...]
    span: Span


@dataclass(frozen=True)
class Enterprise:
    id: Name
    name: Str
    senders: tuple[Str, ...]
    span: Span


Item = Import | Words | Slot | ExtractorDef | Context | Enterprise | Scene


@dataclass
class File:
    path: str
    items: list[Item]
    # (keyword, name) of definitions a syntax error made recovery drop: their uses are not
    # reported again as unknown names (the error at the definition says it all)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    # names written in the text recovery dropped (a scene's `any(bank_words)`): a word set,
    # slot kind or extractor they name may be used there, so it is not reported unused
    mentioned: set[str] = field(default_factory=set)
    # ids of the scenes a syntax error dropped, located: still compared with the others
    dropped_scenes: list[Name] = field(default_factory=list)
