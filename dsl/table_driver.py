"""Parse a clean file by driving Lark's own LALR table, without Lark's Token and Tree objects.

Lark builds a `Token` (a `str` subclass with eight attributes set in Python) for every token
and a `Tree` for every rule, and `parser._Builder` then walks the tree again to make the AST:
at 100k scenes that is ~0.65 s of every 0.8 MB file, most of a build. This driver reads the
same grammar's parse table, lexes each state's tokens with the terminals that state accepts
(what Lark's contextual lexer does), and hands each reduction straight to the builder.

It is only a fast path. It gives up (returns None) on anything it is not sure to read as
Lark would: a character no accepted terminal starts with, two terminals that could start
at one character, a syntax error, nesting past `MAX_NESTING` (said with `TooDeep`, so that
the parser reports it without handing a hostile file to Lark); `parser._parse_clean` also
gives up on any diagnostic from the builder. `parser.parse_text` then parses with Lark,
which reports the errors; the differential tests hold the two paths to the same AST. A
grammar this driver cannot mirror (a regex terminal missing from `_FIRST`, a keyword that
is not a plain word), or a Lark whose parse table is not where this driver reads it,
disables it: `driver()` returns None.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from lark import Lark

# The characters each regex terminal of scene.lark can start with (read off the grammar;
# a grammar with a regex terminal missing here turns the driver off, and a test fails).
_DIGITS = string.digits
_FIRST = {
    "WS": " \t\f\r\n", "COMMENT": "#", "IDENT": string.ascii_letters + "_", "STRING": '"',
    "REGEX": "/", "DATE": _DIGITS, "INT": _DIGITS, "SIGNED_NUMBER": _DIGITS + "+-",
    "CMP": "=!<>",
}
_AMBIGUOUS = ("", None)  # two terminals could start at this character: Lark decides


class Tok(NamedTuple):
    """A token with the attributes of Lark's `Token` that the builder reads."""

    type: str
    value: str
    line: int
    column: int
    end_line: int
    end_column: int


class TooDeep(NamedTuple):
    """Where an expression first opens a level past the driver's `max_nesting`."""

    offset: int
    line: int
    column: int


class TooMany(NamedTuple):
    """Where a list (`sender "1", "2", …`, `in [1, 2, …]`, `"a" or "b" or …`) first holds
    an item past the driver's `max_values`: `offset` is within the list (the token after
    that item), `line` and `column` are the item's own, `rule` the repetition's rule
    (Lark's `__string_list_star_7`), which says what kind of list it is."""

    offset: int
    line: int
    column: int
    rule: str


# Tokens that open a level of nesting (a `not`, or a `(` that groups), and those after
# which a `(` only opens a call's arguments (`any(`, `near(`, an action's `tel(`).
_OPENERS = frozenset(("LPAR", "NOT"))
_CALLS = frozenset(("ANY", "ALL", "NONE", "NEAR", "IDENT"))

_new = tuple.__new__


@dataclass(frozen=True)
class _Rule:
    size: int  # symbols it pops
    name: str  # the node's name (alias or rule), "" for a `_rule` inlined into its parent
    expand1: bool  # `?rule` without an alias: a single child stands for the node
    origin: str  # the rule's own name, to look up the state after it
    passes: bool  # one symbol that stays as it is (unless an inlined list meets a `?rule`)


@dataclass
class Driver:
    actions: dict[int, dict[str, int | _Rule]]  # state -> terminal -> shift to / reduce by
    gotos: dict[int, dict[str, int]]  # state -> rule -> the state after it
    start: int
    end: int
    words: dict[int, dict[str, str]]  # state -> keyword -> its terminal
    idents: dict[int, bool]  # state accepts IDENT
    marks: dict[int, dict[str, tuple[str, Any]]]  # state -> first char -> terminal, regex
    word: re.Pattern[str]  # IDENT's pattern: keywords and names are read with it
    word_start: frozenset[str]
    ignored: frozenset[str]
    values: frozenset[str]  # tokens whose value reaches the builder
    nesting: frozenset[str]  # nodes that add a level of nesting
    max_nesting: int
    lists: frozenset[str] = frozenset()  # repetitions held to `max_values` values
    max_values: int = 0
    skip: re.Pattern[str] | None = None  # a run of ignored tokens (see `_skipper`)


def driver(lark: Lark, values: frozenset[str], nesting: frozenset[str],
           max_nesting: int, max_values: int = 0) -> Driver | None:
    """The tables for `lark`'s grammar, or None if this driver cannot mirror its lexer.
    With `max_values`, every separated repetition (Lark's `__string_list_star_7`, a
    separator and an item an entry: values, arguments, `or` and `and` operands) stops
    the parse with `TooMany` at its item past `max_values`."""
    terms = {str(t.name): t for t in lark.terminals}
    words_start = set(_FIRST["IDENT"])
    if any(t.pattern.type == "re" and (name not in _FIRST or name != "IDENT" and set(
            _FIRST[name]) & words_start) for name, t in terms.items()):
        return None
    word = re.compile(terms["IDENT"].pattern.to_regexp())
    keywords = {n for n, t in terms.items() if t.pattern.type == "str"
                and t.pattern.value[:1] in words_start}
    if any(not word.fullmatch(terms[n].pattern.value) for n in keywords):
        return None
    try:  # Lark's internals, not its API: another layout turns the driver off
        table = lark.parser.parser.parser.parse_table
        table.states, table.start_states["start"], table.end_states["start"]
    except (AttributeError, KeyError, TypeError):
        return None
    ignored = [terms[n] for n in lark.ignore_tokens]
    rules = {r: _rule(r) for r in lark.rules}
    d = Driver({}, {}, table.start_states["start"], table.end_states["start"], {}, {}, {},
               word, frozenset(words_start), frozenset(map(str, lark.ignore_tokens)),
               values, nesting, max_nesting, _separated(lark, terms) if max_values else
               frozenset(), max_values, _skipper(ignored))
    for state, acts in table.states.items():
        accepted = [str(n) for n in acts if n in terms]
        d.actions[state] = {str(k): arg if str(a) == "Shift" else rules[arg]
                            for k, (a, arg) in acts.items() if k in terms or k == "$END"}
        d.gotos[state] = {str(k): arg for k, (_, arg) in acts.items() if k not in terms}
        d.words[state] = {str(terms[n].pattern.value): n for n in accepted if n in keywords}
        d.idents[state] = "IDENT" in accepted
        d.marks[state] = _marks([terms[n] for n in accepted
                                 if n not in keywords and n != "IDENT"] + ignored)
    starts = set(_marks(ignored))  # a run is read whole only where nothing else starts so
    if any(marks.get(ch, _AMBIGUOUS)[0] not in d.ignored
           for marks in d.marks.values() for ch in starts):
        d.skip = None
    return d


def _skipper(ignored: list) -> re.Pattern[str]:
    """Up to 256 ignored tokens (white space, comments) in one match: read one at a time,
    a file of 1.9 M comment lines took 8 s to parse, 2 µs a token in the driver's loop.
    The count is bounded because Python's `re` keeps a backtracking entry per repetition
    of a group (unbounded, 570 MB for that file); possessive repeats need Python 3.11."""
    return re.compile("(?:" + "|".join(t.pattern.to_regexp() for t in ignored) + "){1,256}")


def _separated(lark: Lark, terms: dict[str, Any]) -> frozenset[str]:
    """The repetitions Lark made of `x ("," x)*` and `x ("or" x)+`: rules named `__…`
    whose entry is a separator terminal and an item."""
    return frozenset(str(r.origin.name) for r in lark.rules
                     if str(r.origin.name).startswith("__") and len(r.expansion) == 2
                     and str(r.expansion[0].name) in terms)


def _rule(r: Any) -> _Rule:
    """Lark's tree builder inlines `_rule`s and replaces a `?rule` (without an alias) that
    has one child by the child. Names are plain `str`: Lark's are `Token`s, whose `==`
    runs in Python."""
    name = "" if r.origin.name.startswith("_") else str(r.alias or r.origin.name)
    expand1 = bool(r.options.expand1 and not r.alias)
    size = len(r.expansion)
    return _Rule(size, name, expand1, str(r.origin.name), size == 1 and (not name or expand1))


def _marks(terms: list) -> dict[str, tuple[str, Any]]:
    """First character -> the one terminal that can start there (or `_AMBIGUOUS`)."""
    out: dict[str, tuple[str, Any]] = {}
    for t in terms:
        first = t.pattern.value[0] if t.pattern.type == "str" else _FIRST[t.name]
        rx = re.compile(t.pattern.to_regexp())
        for ch in first:
            out[ch] = (str(t.name), rx) if ch not in out else _AMBIGUOUS
    return out


Node = Callable[[str, list, Tok, Tok], object]
Leaf = Callable[[Tok], object]


def parse(d: Driver, text: str, node: Node,
          leaf: Leaf) -> list | TooDeep | TooMany | None:
    """The values of the file's top-level items, or None where Lark must decide.
    `node(name, children, first, last)` builds a rule's value, `leaf(tok)` a token's.

    An expression that opens more than `max_nesting` levels stops the parse at the opener
    that goes past it (`TooDeep`): its levels are counted from the outside as they are
    shifted, since waiting for the reductions (from the inside) would first shift every
    `(` of a hostile file, and then hand the whole of it to Lark."""
    actions, gotos, marks, words, idents = d.actions, d.gotos, d.marks, d.words, d.idents
    word, word_start, ignored, skip = d.word, d.word_start, d.ignored, d.skip
    stack: list[int] = [d.start]
    values: list = []  # Tok, (value, first, last, nesting) for a node, list for `_rule`s
    openers: list[int] = []  # where in `values` the levels still open stand
    pos, n, line, line_start = 0, len(text), 1, 0
    m: Any
    while True:
        if pos < n:
            state = stack[-1]
            ch = text[pos]
            if ch in word_start:
                m = word.match(text, pos)
                value = m.group()
                kind = words[state].get(value) or ("IDENT" if idents[state] else "")
                if not kind:
                    return None
            else:
                kind, rx = marks[state].get(ch, _AMBIGUOUS)
                m = rx.match(text, pos) if rx is not None else None
                if m is None:
                    return None
                if kind in ignored and skip is not None:
                    m = skip.match(text, pos) or m
                value = m.group()
                if kind in ignored:
                    breaks = value.count("\n")
                    if breaks:
                        line += breaks
                        line_start = pos + value.rindex("\n") + 1
                    pos = m.end()
                    continue
                if "\n" in value:
                    return None
            col = pos - line_start + 1
            tok = _new(Tok, (kind, value, line, col, line, col + len(value)))
            pos = m.end()
        else:
            kind, tok = "$END", None
        while True:
            action: Any = actions[stack[-1]].get(kind)
            if action is None:
                return None
            if action.__class__ is int:
                if tok is None:
                    return None
                if kind in _OPENERS and not (kind == "LPAR" and values and values[-1]
                                             .__class__ is Tok and values[-1].type in _CALLS):
                    openers.append(len(values))
                    if len(openers) > d.max_nesting:
                        return TooDeep(m.start(), tok.line, tok.column)
                stack.append(action)
                values.append(tok)
                break
            rule: _Rule = action
            if rule.passes and (not rule.name or values[-1].__class__ is not list):
                stack[-1] = gotos[stack[-2]][rule.origin]
                continue
            value = _reduce(d, rule, stack, values, node, leaf)
            if value is None:
                return None
            if rule.origin in d.lists and isinstance(value, list) \
                    and len(value) >= 2 * d.max_values:
                # the repetition after the list's first item: a separator and an item each
                last = value[-1] if value[-1].__class__ is Tok else value[-1][1]
                return TooMany(m.start() if tok is not None else n, last.line, last.column,
                               rule.origin)
            while openers and openers[-1] >= len(values):  # closed by this reduction
                openers.pop()
            stack.append(gotos[stack[-1]][rule.origin])
            if tok is None and stack[-1] == d.end:
                return value if isinstance(value, list) else None
            values.append(value)


def _reduce(d: Driver, rule: _Rule, stack: list[int], values: list, node: Node,
            leaf: Leaf) -> object:
    """Pop the rule's symbols and return its value, as Lark's tree builder would shape it
    (`_rule`s inlined, `?rule`s with one child replaced by it); None to give up."""
    kids: list = []
    if rule.size:
        popped = values[-rule.size:]
        del values[-rule.size:]
        del stack[-rule.size:]
        if popped[0].__class__ is list:  # a repetition grows its list in place
            kids = popped[0]
            popped = popped[1:]
        for v in popped:
            if v.__class__ is list:
                kids.extend(v)
            else:
                kids.append(v)
    if not rule.name:
        return kids
    if rule.expand1 and len(kids) == 1:
        return kids[0]
    if rule.name == "start":
        return [k[0] for k in kids] if all(k.__class__ is not Tok for k in kids) else None
    if not kids:
        return None
    children, level = [], 0
    for k in kids:
        if k.__class__ is Tok:
            if k.type in d.values:
                children.append(leaf(k))
        else:
            children.append(k[0])
            level = max(level, k[3])
    if rule.name in d.nesting:
        level += 1
        if level > d.max_nesting:
            return None
    first = kids[0] if kids[0].__class__ is Tok else kids[0][1]
    last = kids[-1] if kids[-1].__class__ is Tok else kids[-1][2]
    return (node(rule.name, children, first, last), first, last, level)
