"""Resolve names and check types: the AST of all files becomes one checked `Model`.

Every problem is reported (not just the first), each at the span of the offending name,
value or clause, with a did-you-mean hint where a close name exists.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from ..dsl import ast
from ..dsl.diagnostics import DiagnosticBag, Span
from ..runtime import evaluate
from ..runtime.fold import fold
from ..runtime.kinds import BUILTIN, kind_for
from ..runtime.senders import dlt_header
from . import model as m
from .conditions import MAX_LITERALS_PER_SCENE, CondChecker, spelled, value_type
from .patterns import (
    ANONYMOUS,
    check_regex,
    compile_extract,
    compile_template,
    declared_slots,
    placeholder_kinds,
    regex_groups,
    regex_size,
)
from .sources import Sources, read_word_file

MAX_SCENES = 250_000
MAX_BUILD_LITERAL_CHARS = 2_000_000  # distinct literal text of a build: bounds the automaton
# RE2 instructions of a build's distinct regexes (_RegexBudget); the runtime holds an
# artifact to the same budget (`evaluate.Patterns.checked`).
REGEX_BUDGET_BASE = evaluate.REGEX_BUDGET_BASE
REGEX_BUDGET_PER_SCENE = evaluate.REGEX_BUDGET_PER_SCENE
# Capture groups of one scene's templates (one per named placeholder, plus any a user slot
# kind's regex holds): a template that matches a long text is read by RE2's capture engine,
# whose cost per character grows with the groups (~0.05 s per group per million
# characters); the shipped library's largest scene has 20.
MAX_SCENE_PLACEHOLDERS = evaluate.MAX_SCENE_PLACEHOLDERS  # the runtime holds records to it
# Extractors and actions of one scene: each extractor searches the message and each action
# is rendered for every match of the scene, and nothing else bounded their number (5,000
# copies of one extractor, 150 KB of rules, took 120-300 ms a message). The shipped
# library's largest scene has 7 extractors and 3 actions.
# The runtime holds an artifact's records to the same values (`evaluate.SceneRunner`).
MAX_SCENE_EXTRACTS = evaluate.MAX_SCENE_EXTRACTS
MAX_SCENE_ACTIONS = evaluate.MAX_SCENE_ACTIONS
CONTEXT_TYPES = ("str", "number", "bool")
_NEVER = "[^\\s\\S]"  # the pattern of a slot kind whose definition failed: matches nothing
ACTION_KINDS = ("url", "quickapp", "deeplink", "tel", "copy", "calendar", "sms")


@dataclass
class Symbols:
    """Global definitions of a build, with where each was defined."""

    words: dict[str, tuple[tuple[str, ...], Span]] = field(default_factory=dict)
    slots: dict[str, tuple[str, Span]] = field(default_factory=dict)
    enterprises: dict[str, tuple[ast.Enterprise, m.CSender]] = field(default_factory=dict)
    context: dict[str, tuple[str, Span]] = field(default_factory=dict)
    extractors: dict[str, tuple[ast.Extract, Span]] = field(default_factory=dict)
    # each named extractor compiled at its first use (None: it has errors, reported once)
    compiled: dict[str, m.Extractor | None] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)  # "words:x" / "slot:y" referenced somewhere
    # definitions a syntax error dropped ("extractor", "awb"), and context facts of an
    # unknown type ("context", "n"): their uses are not unknown
    dropped: set[tuple[str, str]] = field(default_factory=set)
    # names written in text a syntax error dropped: maybe uses, so never "unused"
    mentioned: set[str] = field(default_factory=set)
    kinds: dict[str, str] = field(default_factory=dict)  # user slot kind -> pattern
    # imports that failed (E501), as (path, span): an unknown name may be defined there
    failed_imports: list[tuple[str, Span]] = field(default_factory=list)

    def finish(self) -> Symbols:
        """Derived tables, built once per build rather than once per scene."""
        self.kinds = {k: p for k, (p, _) in self.slots.items()}
        return self


MAX_HINTED_ERRORS = 100  # did-you-mean costs O(known names) per error; stop after these
MAX_HINT_CANDIDATES = 5000  # and is not tried among more names than this
# nor for or among names longer than this: difflib's ratio costs the product of the two
# lengths, so 40 unknown 20,000-character names against 40 such fields took 15 s
MAX_HINT_NAME = 64


def did_you_mean(name: str, known: list[str] | set[str] | dict,
                 diags: DiagnosticBag | None = None) -> str | None:
    """A close known name, if any. Past MAX_HINTED_ERRORS diagnostics, or among more than
    MAX_HINT_CANDIDATES names, no hint is searched: 100,000 unknown names against 100,000
    definitions would otherwise take hours."""
    if diags is not None and len(diags.items) > MAX_HINTED_ERRORS:
        return None
    if len(known) > MAX_HINT_CANDIDATES or len(name) > MAX_HINT_NAME:
        return None
    close = difflib.get_close_matches(name, hint_names(known), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def hint_names(known: Iterable[str]) -> list[str]:
    """The names a hint may offer: those a reader could take in (MAX_HINT_NAME)."""
    return [k for k in known if len(k) <= MAX_HINT_NAME]


def listing(names: Iterable[str], limit: int = 30) -> str:
    """At most `limit` names (sorted) for a hint, and how many there are in all: a hint
    listing every one of a scene's 8,000 fields, at each of 8,000 errors, made the
    report of a 200 KB file 441 MB."""
    ordered = sorted(names)
    shown = hint_names(ordered)[:limit]  # a name too long to read is counted, not shown
    more = [f"… ({len(ordered)} in all)"] if len(shown) < len(ordered) else []
    return ", ".join([*shown, *more]) or "none"


def enterprise_hint(name: str, sym: Symbols, diags: DiagnosticBag) -> str:
    return did_you_mean(name, sym.enterprises, diags) or (
        f'declare it (enterprise {name} "Name" {{ sender "95555" }}) or import the file '
        "that does")


def check(sources: Sources, diags: DiagnosticBag) -> m.Model:
    symbols = _collect(sources, diags)
    model = m.Model(context={k: t for k, (t, _) in symbols.context.items()},
                    enterprises={k: e.name.value for k, (e, _) in symbols.enterprises.items()})
    seen: dict[str, Span] = {}
    budget, regexes = _LiteralBudget(), _RegexBudget()
    for f in sources.files:
        for item in f.items:
            if not isinstance(item, ast.Scene):
                continue
            if item.id.value in seen:
                _duplicate(diags, "scene", item.id, seen[item.id.value])
                # its body is still checked: its errors are the author's to fix now, and
                # the names it uses are used (not W002 beside the E101)
                SceneChecker(symbols, diags, regexes).check(item, len(model.scenes))
                if regexes.over:
                    return model
                continue
            seen[item.id.value] = item.id.span
            if len(model.scenes) >= MAX_SCENES:
                diags.error("E904", f"more than {MAX_SCENES} scenes in one build", item.id.span,
                            "split the rule set into several builds")
                return model
            regexes.scenes += 1
            scene = SceneChecker(symbols, diags, regexes).check(item, len(model.scenes))
            if regexes.over:
                return model  # E911 is reported where the budget ran out
            if scene is None:
                continue
            if not budget.add(scene):
                diags.error("E908", "the scenes up to here use more than "
                            f"{MAX_BUILD_LITERAL_CHARS} characters of distinct literals",
                            item.id.span, "split the rule set into several builds")
                return model
            model.scenes.append(scene)
    _dropped_duplicates(sources, seen, diags)
    _check_unused_extractors(symbols, diags, regexes)
    _unused(symbols, diags)
    return model


# What a date or time field's value looks like (runtime/kinds.py): an expected value of
# another shape (`due = "3月15日"`) can never pass, and is E702 at check time.
_VALUE_SHAPES = {
    "date": (re.compile(r"(?:\d{4}-)?\d{2}-\d{2}"), "MM-DD or YYYY-MM-DD"),
    "time": (re.compile(r"\d{2}:\d{2}(?::\d{2})?"), "HH:MM or HH:MM:SS"),
}


def _dropped_duplicates(sources: Sources, seen: dict[str, Span], diags: DiagnosticBag) -> None:
    """E101 between a scene a syntax error dropped and another of its id, at the later
    of the two: the dropped one was compared with none, and the duplicate was found only
    in the run after the syntax error was fixed."""
    where = {f.path: i for i, f in enumerate(sources.files)}

    def place(span: Span) -> tuple[int, int, int]:
        return (where.get(span.file, len(where)), span.line, span.col)

    for f in sources.files:
        for name in f.dropped_scenes:
            first = seen.get(name.value)
            if first is None:
                seen[name.value] = name.span
            elif place(first) <= place(name.span):
                _duplicate(diags, "scene", name, first)
            else:
                _duplicate(diags, "scene", ast.Name(name.value, first), name.span)
                seen[name.value] = name.span


def _check_unused_extractors(sym: Symbols, diags: DiagnosticBag, regexes: _RegexBudget) -> None:
    """An extractor no scene uses is still checked: its errors are the author's to fix."""
    for name, (source, span) in sym.extractors.items():
        if name in sym.compiled or regexes.over:
            continue
        done = sym.compiled[name] = compile_extract(source, sym.kinds, diags)
        if done is not None and not regexes.charge(done.regex):
            diags.error("E911", f"the build's regexes compile to {regexes.size} RE2 "
                        f"instructions, over its limit, at extractor '{name}'", span,
                        "remove the extractors no scene uses")


class _LiteralBudget:
    """Distinct literal text of the build so far: the automaton grows with it, so a build
    that would need gigabytes fails at the scene that crosses the line instead."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.chars = 0

    def add(self, scene: m.Scene) -> bool:
        texts = [p for t in scene.templates for p in t.parts]
        for c in _leaves(scene):
            if isinstance(c, m.CLit):
                texts.append(c.text)
            elif isinstance(c, m.CNear):
                texts += (c.a, c.b)
            elif isinstance(c, m.CSender):
                texts += c.signatures + c.numbers
        for text in texts:
            if text not in self.seen:
                self.seen.add(text)
                self.chars += len(text)
        return self.chars <= MAX_BUILD_LITERAL_CHARS


class _RegexBudget:
    """RE2 instructions of the build's distinct regexes so far. Each regex is capped
    (E910), but a short line can hold many capped ones (`/\\pL{16}0/` is 7 characters and
    ~19,000 instructions, ~15 ms and ~4 MB to compile): 500 of them in one scene took 14 s
    to build and 2 GB at the first match. The allowance grows with the scenes, so a real
    library (~650 instructions a scene here, ~4 in the 100k workload) never meets it. Each
    regex is charged as soon as it is checked, and none is compiled once the budget is
    spent, so such a file fails in the time of the regexes that fit."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.size = 0
        self.scenes = 0  # counted by `check` as each scene starts
        self.over = False

    def charge(self, source: str) -> bool:
        """Add a checked regex; False when it is the one that spends the budget."""
        if source not in self.seen:
            self.seen.add(source)
            self.size += regex_size(source)
        if self.size > REGEX_BUDGET_BASE + REGEX_BUDGET_PER_SCENE * self.scenes:
            self.over = True
            return False
        return True


def _leaves(scene: m.Scene) -> list[m.Cond]:
    """The scene's sender and `when` conditions below every and / or / not."""
    todo: list[m.Cond] = [c for c in (scene.sender, scene.when) if c is not None]
    out: list[m.Cond] = []
    while todo:
        c = todo.pop()
        if isinstance(c, (m.CAnd, m.COr)):
            todo.extend(c.items)
        elif isinstance(c, m.CNot):
            todo.append(c.item)
        else:
            out.append(c)
    return out


def _failed_import_hint(sym: Symbols) -> str | None:
    """With an import that failed, an unknown name is most likely defined in it: saying
    'define it with …' at each of its uses sent the author to write what the file has."""
    if not sym.failed_imports:
        return None
    path, span = sym.failed_imports[0]
    more = f"; {len(sym.failed_imports) - 1} more imports failed" \
        if len(sym.failed_imports) > 1 else ""
    return (f"maybe defined in '{path}', which could not be imported "
            f"({os.path.basename(span.file)}:{span.line}){more}")


def _duplicate(diags: DiagnosticBag, what: str, name: ast.Name, first: Span) -> None:
    diags.error("E101", f"duplicate {what} '{name.value}'", name.span,
                f"first defined at {first.file}:{first.line}:{first.col}")


def _collect(sources: Sources, diags: DiagnosticBag) -> Symbols:
    sym = Symbols()
    sym.failed_imports = list(sources.failed_imports)
    for f in sources.files:
        sym.dropped.update(f.dropped)
        sym.mentioned.update(f.mentioned)
        for item in f.items:
            if isinstance(item, ast.Words):
                _collect_words(item, sym, diags, sources)
            elif isinstance(item, ast.Slot):
                _collect_slot(item, sym, diags)
            elif isinstance(item, ast.ExtractorDef):
                _collect_extractor(item, sym, diags)
            elif isinstance(item, ast.Context):
                _collect_context(item, sym, diags)
            elif isinstance(item, ast.Enterprise):
                _collect_enterprise(item, sym, diags)
    for keyword, name in sym.dropped:  # a dropped slot kind matches nothing, as a broken one
        if keyword == "slot" and name not in sym.slots and name not in BUILTIN:
            sym.slots[name] = (_NEVER, Span.point("", 1, 1))
            sym.used.add(f"slot:{name}")
    return sym.finish()


def _collect_words(item: ast.Words, sym: Symbols, diags: DiagnosticBag,
                   sources: Sources) -> None:
    duplicate = item.name.value in sym.words
    if duplicate:  # reported, and its words still checked below
        _duplicate(diags, "word set", item.name, sym.words[item.name.value][1])
    words: list[str] = []
    if item.file is not None:
        path = os.path.join(os.path.dirname(item.span.file), item.file.value)
        if os.path.exists(path) and not os.path.isfile(path):
            diags.error("E503", f"word file is not a regular file: {item.file.value}",
                        item.file.span, "name a text file, one word per line")
        elif not os.path.isfile(path):
            diags.error("E503", f"word file not found: {item.file.value}", item.file.span,
                        f"paths are relative to {os.path.dirname(item.span.file) or '.'}")
        else:
            words = read_word_file(path, item.file.span, diags, sources) or []
    for w in item.words:
        if not w.value:
            diags.error("E004", "empty word", w.span, "remove it")
        else:
            words.append(w.value)
    if not duplicate:
        sym.words[item.name.value] = (tuple(dict.fromkeys(fold(w) for w in words)),
                                      item.name.span)


def _claim(name: ast.Name, what: str, table: dict, refused: tuple[str, str] | None,
           diags: DiagnosticBag) -> bool:
    """Whether `name` may be defined: not `refused` (a (message, hint) E101 when it is a
    reserved name) and not defined before (E101 pointing at the first definition)."""
    if refused is not None:
        diags.error("E101", refused[0], name.span, refused[1])
        return False
    if name.value in table:
        _duplicate(diags, what, name, table[name.value][1])
        return False
    return True


def _collect_slot(item: ast.Slot, sym: Symbols, diags: DiagnosticBag) -> None:
    name = item.name.value
    builtin = (f"slot kind '{name}' is built in", "choose another name for your kind")
    claimed = _claim(item.name, "slot kind", sym.slots,
                     builtin if name in BUILTIN else None, diags)
    pattern = check_regex(item.regex, diags)  # a refused definition's errors too
    if not claimed:
        return
    # A broken pattern is already an error; keeping the name (matching nothing) stops every
    # template that uses the kind from adding an "unknown slot kind" error of its own.
    sym.slots[name] = (f"(?:{pattern})" if pattern is not None else _NEVER, item.name.span)


def _collect_extractor(item: ast.ExtractorDef, sym: Symbols, diags: DiagnosticBag) -> None:
    name = item.name.value
    # `extract f = raw` would read as the start of `raw /re/`
    keyword = (f"'{name}' cannot name an extractor",
               "it is a keyword after `extract FIELD =`; choose another name")
    if _claim(item.name, "extractor", sym.extractors,
              keyword if name in ("raw", "after") else None, diags):
        sym.extractors[name] = (item.source, item.name.span)


def _collect_context(item: ast.Context, sym: Symbols, diags: DiagnosticBag) -> None:
    for cf in item.fields:
        if cf.type.value not in CONTEXT_TYPES:
            diags.error("E204", f"unknown context type '{cf.type.value}'", cf.type.span,
                        "context facts are str, number or bool")
            # declared all the same: its uses are not 'unknown context fact' too
            sym.dropped.add(("context", cf.name.value))
        elif cf.name.value in sym.context:
            # the same fact declared again alike (a rule file that repeats the library's
            # `context { vip: bool }` to stand alone) is one fact; another type is a clash
            if sym.context[cf.name.value][0] != cf.type.value:
                _duplicate(diags, "context fact", cf.name, sym.context[cf.name.value][1])
        else:
            sym.context[cf.name.value] = (cf.type.value, cf.name.span)


def _collect_enterprise(item: ast.Enterprise, sym: Symbols, diags: DiagnosticBag) -> None:
    duplicate = item.id.value in sym.enterprises
    if duplicate:  # reported, and its senders still checked below
        _duplicate(diags, "enterprise", item.id, sym.enterprises[item.id.value][0].id.span)
    sender = sender_set(item.senders, diags)
    if not item.senders:
        diags.error("E005", f"enterprise '{item.id.value}' has no sender", item.id.span,
                    'add: sender "95555", "【招商银行】"')
    if not duplicate:
        sym.enterprises[item.id.value] = (item, sender)


def sender_set(strings: tuple[ast.Str, ...] | list[ast.Str], diags: DiagnosticBag) -> m.CSender:
    """`【…】` and `[…]` are signatures found in the text; anything else is a sender ID.

    A sender ID with non-ASCII characters is almost always a signature written without its
    brackets, which would silently never match: W004 says so. A full Indian DLT sender ID
    (`VM-HDFCBK`) holds for that one operator prefix, while the enterprise's SMS arrive
    under several: W005 suggests the header, which holds for all of them.
    """
    sigs: list[str] = []
    nums: list[str] = []
    for s in strings:
        v = s.value.strip()
        if not v:
            diags.error("E004", "empty sender", s.span, "write a number or a 【signature】")
        elif (v[0], v[-1]) in (("【", "】"), ("[", "]")) and len(v) > 2:
            sigs.append(fold(v))
        elif v in ("【】", "[]"):
            diags.error("E006", f"signature {v!r} is empty", s.span,
                        "a signature is written 【name】")
        elif v[0] in "【[":
            diags.error("E006", f"signature {v!r} is not closed", s.span,
                        "a signature is written 【name】")
        else:
            if _looks_like_a_name(v):
                diags.warning("W004", f"sender {v!r} is compared with the caller's sender ID",
                              s.span, f"to find a signature in the text, write \"【{v}】\"")
            elif (header := dlt_header(v)) is not None:
                diags.warning("W005", f"sender {v!r} holds only for the {v[:2]}- prefix",
                              s.span, f"write \"{header}\" to hold for every DLT prefix "
                              f"({v[:2]}-{header}, JD-{header}, AD-{header}-S…)")
            nums.append(v)
    return m.CSender(tuple(dict.fromkeys(sigs)), tuple(dict.fromkeys(nums)))


def _looks_like_a_name(v: str) -> bool:
    """Sender IDs are digits or ASCII (DLT-style `VM-HDFCBK`); CJK text is a signature name."""
    return any(not ch.isascii() for ch in v)


def _unused(sym: Symbols, diags: DiagnosticBag) -> None:
    """W002, W003, W006 for definitions nothing uses, except those named in text that a
    syntax error dropped: the scene that used them is gone, and they were reported unused
    beside the error that dropped it (`when any(bank_words) and ctx > 5` gave the error at
    `>` and "word set 'bank_words' is never used")."""
    for name, (_, span) in sym.words.items():
        if f"words:{name}" not in sym.used and name not in sym.mentioned:
            diags.warning("W002", f"word set '{name}' is never used", span, "remove it or use it")
    for name, (_, span) in sym.slots.items():
        if f"slot:{name}" not in sym.used and name not in sym.mentioned:
            diags.warning("W003", f"slot kind '{name}' is never used", span, "remove it or use it")
    for name, (_, span) in sym.extractors.items():
        if f"extractor:{name}" not in sym.used and name not in sym.mentioned:
            diags.warning("W006", f"extractor '{name}' is never used", span,
                          "remove it or use it: extract FIELD = " + name)


def parse_date(v: ast.Value, diags: DiagnosticBag) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(v.value))
    except ValueError:
        diags.error("E206", f"invalid date '{v.value}'", v.span, "dates are YYYY-MM-DD")
        return None


class SceneChecker:
    """Checks one scene; the clauses are checked in an order where fields are known first."""

    def __init__(self, symbols: Symbols, diags: DiagnosticBag, regexes: _RegexBudget) -> None:
        self.sym = symbols
        self.diags = diags
        self.ok = True
        self.fields: dict[str, str] = {}
        self.raw_fields: set[str] = set()  # read by a `raw` extractor: not folded
        self.regexes = regexes

    def regex_allowed(self) -> bool:
        """False once the build's regex budget is spent: no further regex is compiled."""
        if self.regexes.over:
            self.ok = False
        return not self.regexes.over

    def charge(self, source: str, span: Span) -> None:
        """Count a checked regex against the build's budget (E911 where it runs out)."""
        if not self.regexes.charge(source):
            r = self.regexes
            self.error("E911", f"the regexes of the {r.scenes} scenes up to here compile to "
                       f"{r.size} RE2 instructions; the limit is {REGEX_BUDGET_BASE} + "
                       f"{REGEX_BUDGET_PER_SCENE} a scene", span, "share regexes between "
                       "scenes, use literals or word sets in `when`, or narrower classes "
                       "than \\pL and .")

    def error(self, code: str, msg: str, span: Span, hint: str | None = None) -> None:
        self.ok = False
        self.diags.error(code, msg, span, hint)

    def unknown(self, code: str, keyword: str, name: ast.Name,
                hint: Callable[[], str | None]) -> None:
        """An unknown name, unless a syntax error dropped its definition: that error, at
        the definition, already says what is wrong (the scene still fails)."""
        if (keyword, name.value) in self.sym.dropped:
            self.ok = False
            return
        what = "word set" if keyword == "words" else keyword
        told = hint()
        if told is None or not told.startswith("did you mean"):
            told = _failed_import_hint(self.sym) or told
        self.error(code, f"unknown {what} '{name.value}'", name.span, told)

    def check(self, s: ast.Scene, order: int) -> m.Scene | None:
        enterprise, sender = self._sender(s)
        category = self._single(s.category, "category")
        prio = self._single(s.priority, "priority")
        priority = 50
        if prio is not None:
            priority = prio[0]
            if not 0 <= priority <= 100:
                self.error("E205", f"priority {priority} is outside 0..100", prio[1],
                           "use 0 (lowest) to 100 (highest); the default is 50")
        templates = self._templates(s)
        extracts = self._extracts(s)
        conds = CondChecker(self)
        for extra in s.when[1:]:
            self.error("E108", "when given more than once", ast.expr_span(extra),
                       "join the conditions with `and` in one when")
        when = conds.check(s.when[0]) if s.when else None
        require = self._field_list(s.require)
        highlight = self._field_list(s.highlight)
        actions = tuple(a for a in (self._action(a, conds) for a in s.actions) if a is not None)
        valid = self._valid(s)
        if not s.templates and not s.when:
            self.error("E601", f"scene '{s.id.value}' has neither template nor when", s.id.span,
                       "add a template \"…\" or a when condition")
        self._clause_count(s.extracts[MAX_SCENE_EXTRACTS:], "extractors", MAX_SCENE_EXTRACTS)
        self._clause_count(s.actions[MAX_SCENE_ACTIONS:], "buttons and menus", MAX_SCENE_ACTIONS)
        senders = len(sender.signatures) + len(sender.numbers) if sender else 0
        if conds.literal_count + senders + sum(len(t.parts) for t in templates) \
                > MAX_LITERALS_PER_SCENE:
            self.error("E903", f"scene uses more than {MAX_LITERALS_PER_SCENE} literals",
                       s.id.span, "share word sets between scenes or split the scene")
        examples = self._examples(s)
        if not self.ok:
            return None
        return m.Scene(
            id=s.id.value, name=s.name.value, span=s.id.span, order=order,
            enterprise=enterprise, sender=sender, category=category.value if category else "",
            priority=priority, tags=tuple(t.value for t in s.tags),
            meta=self._meta(s), templates=templates, when=when, extracts=extracts,
            require=require, highlight=highlight, actions=actions, valid=valid,
            fields=dict(self.fields), examples=examples)

    def _single(self, items: list, what: str):  # type: ignore[no-untyped-def]
        for extra in items[1:]:
            span = extra.span if hasattr(extra, "span") else extra[-1]  # valid: (from, to, span)
            self.error("E108", f"{what} given more than once", span, "keep one")
        return items[0] if items else None

    def _sender(self, s: ast.Scene) -> tuple[str | None, m.CSender | None]:
        if s.enterprise and s.senders:
            self.error("E602", "scene has both `enterprise` and `sender`", s.sender_spans[0],
                       "use the enterprise's senders, or list the senders here, not both")
        ref = self._single(s.enterprise, "enterprise")
        if ref is not None:
            ent = self.sym.enterprises.get(ref.value)
            if ent is None:
                self.unknown("E102", "enterprise", ref,
                             lambda: enterprise_hint(ref.value, self.sym, self.diags))
                return None, None
            return ref.value, ent[1]
        if s.senders:
            return None, sender_set(s.senders, self.diags)
        return None, None

    def _templates(self, s: ast.Scene) -> tuple[m.Template, ...]:
        user = self.sym.kinds
        out = []
        placeholders = 0
        for t in s.templates:
            self.sym.used.update(f"slot:{k}" for k in placeholder_kinds(t))
            tpl = compile_template(t, user, self.diags) if self.regex_allowed() else None
            placeholders += regex_groups(tpl.regex) if tpl is not None else 0
            if tpl is not None and placeholders > MAX_SCENE_PLACEHOLDERS:
                self.error("E912", f"the templates of this scene capture {placeholders} "
                           f"groups (named placeholders and their slot kinds' groups); the "
                           f"limit is {MAX_SCENE_PLACEHOLDERS}", t.span,
                           "use ${_} for the parts you do not need as fields, write a slot "
                           "kind's groups as (?: ), or split the scene")
                tpl = None
            if tpl is not None:
                self.charge(tpl.regex, t.span)
            if tpl is None:
                self.ok = False
                for name, kind in declared_slots(t):
                    self.fields.setdefault(name, kind if kind_for(kind, user) else "text")
                continue
            for name, kind in tpl.slots:
                prev = self.fields.get(name)
                if prev is not None and prev != kind:
                    self.error("E302", f"field '{name}' is {prev} in another template, {kind} here",
                               t.span, "use the same kind for a field in every template")
                self.fields[name] = kind
            out.append(tpl)
        return tuple(out)

    def _clause_count(self, over: list, what: str, limit: int) -> None:
        """E914 at the first clause beyond `limit` (`over`: the clauses past it)."""
        if over:
            first = over[0]
            span = first.span if isinstance(first, ast.Action) else first.name.span
            self.error("E914", f"scene has {limit + len(over)} {what}; the limit is {limit}",
                       span, "split the scene, or read several values with one extractor")

    def _extracts(self, s: ast.Scene) -> tuple[m.Extractor, ...]:
        user = self.sym.kinds
        out = []
        for ex in s.extracts:
            if ex.name.value in self.fields:
                self.error("E302", f"field '{ex.name.value}' is already defined", ex.name.span,
                           "give the extracted field another name")
                continue
            source = self._source(ex)
            if source is None:
                self.ok = False
                self.fields[ex.name.value] = "text"
                continue
            if source.kind is not None:
                self.sym.used.add(f"slot:{source.kind.value}")
            compiled = self._compile_extract(ex, source) if self.regex_allowed() else None
            if compiled is not None:
                self.charge(compiled.regex, ex.span)
            if compiled is None:
                self.ok = False
                kind = source.kind.value if source.kind else "text"
                self.fields[ex.name.value] = kind if kind_for(kind, user) else "text"
                continue
            self.fields[compiled.name] = compiled.kind
            if compiled.raw:
                self.raw_fields.add(compiled.name)
            out.append(compiled)
        return tuple(out)

    def _source(self, ex: ast.Extract) -> ast.Extract | None:
        """What `ex` reads with: itself, or the `extractor` it names (E109 if unknown)."""
        if ex.ref is None:
            return ex
        ref = ex.ref
        found = self.sym.extractors.get(ref.value)
        if found is None:
            self.unknown("E109", "extractor", ref,
                         lambda: did_you_mean(ref.value, self.sym.extractors, self.diags) or (
                             "define it at the top level: extractor " + ref.value
                             + " = /regex with one group/"))
            return None
        self.sym.used.add(f"extractor:{ex.ref.value}")
        return found[0]

    def _compile_extract(self, ex: ast.Extract, source: ast.Extract) -> m.Extractor | None:
        """A named extractor is compiled once, at its first use, so that an error in it is
        reported once, at its definition, however many scenes use it."""
        if ex.ref is None:
            return compile_extract(ex, self.sym.kinds, self.diags)
        name = ex.ref.value
        if name not in self.sym.compiled:
            self.sym.compiled[name] = compile_extract(source, self.sym.kinds, self.diags)
        done = self.sym.compiled[name]
        return None if done is None else replace(done, name=ex.name.value)

    def _ctx_value_type(self, name: ast.Name, value: ast.Value) -> None:
        """An example's context value has the type its fact was declared with (E201):
        `vip = "yes"` for a bool fact would only show up as a puzzling failed example."""
        want = self.sym.context[name.value][0]
        if value_type(value.value) != want:
            hints = {"bool": "write true or false", "number": "write a number without quotes"}
            self.error("E201", f"context fact '{name.value}' is {want}, the example gives "
                       f"{spelled(value.value)}", value.span,
                       hints.get(want, "write a string in quotes"))

    def _expect_value_type(self, name: ast.Name, value: ast.Value) -> None:
        """An expected value has its field's type (E702 at the value): a number for a
        number or money field, a string for the rest. `card = 1234` for a digits field can
        never pass, and was found only by running the example, one field at a time."""
        typ = self.field_type(name)
        number = typ == "number"
        if value_type(value.value) == ("number" if number else "str"):
            self._expect_folded(name, value)
            shape = _VALUE_SHAPES.get(typ or "")
            if shape is not None and not shape[0].fullmatch(str(value.value)):
                self.error("E702", f"field '{name.value}' is a {typ}, written {shape[1]}; the "
                           f"example expects {spelled(value.value)}", value.span,
                           f"write the value as the {self.fields[name.value]} kind gives it, "
                           f"{shape[1]}")
            return
        kind = self.fields[name.value]
        what = f"a number ({kind})" if number else f"text ({kind})"
        self.error("E702", f"field '{name.value}' is {what}, the example expects "
                   f"{spelled(value.value)}", value.span,
                   "write a number without quotes" if number else "write the text in quotes")

    def _expect_folded(self, name: ast.Name, value: ast.Value) -> None:
        """A field is read from the folded text (only a `raw` extractor's is not), so an
        expected string that folding changes (`c = "１２"`, written as the message writes
        it) can never pass: E702 at the value, naming what to write. It failed only when
        run, 'expected "１２", got "12"', with a hint about slot kinds."""
        text = value.value
        if not isinstance(text, str) or name.value in self.raw_fields or fold(text) == text:
            return
        self.error("E702", f"field '{name.value}' is read from the folded message, where "
                   f"full-width forms are ASCII; the example expects {spelled(text)}",
                   value.span, f"write {spelled(fold(text))}, or read the field with "
                   "`extract … = raw /…/` to keep the message's own characters")

    def field_type(self, name: ast.Name) -> str | None:
        kind = self.fields.get(name.value)
        if kind is None:
            anonymous = name.value == ANONYMOUS
            self.error("E105", f"unknown field '{name.value}'", name.span,
                       did_you_mean(name.value, self.fields, self.diags) or (
                           "`${_}` matches without keeping a field: give the placeholder a "
                           "name to use its value" if anonymous else
                           "fields come from template placeholders and extract clauses"))
            return None
        k = kind_for(kind, {})
        return k.type if k is not None else "str"

    def _field_list(self, names: list[ast.Name]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n.value for n in names if self.field_type(n) is not None))

    def _action(self, a: ast.Action, conds: CondChecker) -> m.Action | None:
        from .actions import check_action

        return check_action(a, self, conds)

    def _valid(self, s: ast.Scene) -> tuple[dt.date, dt.date] | None:
        v = self._single(s.valid, "valid")
        if v is None:
            return None
        a, b = parse_date(v[0], self.diags), parse_date(v[1], self.diags)
        if a is None or b is None:
            self.ok = False
            return None
        if a > b:
            self.error("E206", "validity ends before it starts", v[2], "write valid FROM .. TO")
            return None
        return (a, b)

    def _meta(self, s: ast.Scene) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in s.meta:
            if key.value in out:
                self.error("E108", f"meta '{key.value}' given more than once", key.span, "keep one")
            out[key.value] = value.value
        return out

    def _examples(self, s: ast.Scene) -> tuple[m.Example, ...]:
        out = []
        known = ""  # the scene's fields for a hint, listed once per scene
        for ex in s.examples:
            for name, value in ex.expect:
                if name.value not in self.fields:
                    known = known or listing(self.fields)
                    self.error("E704", f"example expects unknown field '{name.value}'", name.span,
                               did_you_mean(name.value, self.fields, self.diags)
                               or f"this scene's fields: {known}")
                else:
                    self._expect_value_type(name, value)
            for name, value in ex.ctx:
                if ("context", name.value) in self.sym.dropped \
                        and name.value not in self.sym.context:
                    self.ok = False  # the syntax error in its context block says it
                elif name.value not in self.sym.context:
                    self.error("E106", f"unknown context fact '{name.value}'", name.span,
                               did_you_mean(name.value, self.sym.context, self.diags) or
                               "declare it in a context { … } block")
                else:
                    self._ctx_value_type(name, value)
            for pairs, what in ((ex.expect, "expected field"), (ex.ctx, "context fact")):
                seen: set[str] = set()
                for name, _ in pairs:
                    if name.value in seen:
                        self.error("E108", f"{what} '{name.value}' given more than once",
                                   name.span, "keep one value")
                    seen.add(name.value)
            out.append(m.Example(
                text=ex.text.value, sender=ex.sender.value if ex.sender else None,
                ctx={n.value: v.value for n, v in ex.ctx},
                expect={n.value: v.value for n, v in ex.expect}, counter=ex.counter,
                span=ex.text.span))
        return tuple(out)
