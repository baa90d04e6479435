"""Parse `.scene` source into the typed AST, reporting every syntax error it can find.

A file is first read by `table_driver`, which drives Lark's own LALR table without Lark's
token and tree objects (a clean file in half the time). Anything it is unsure of, above all
a syntax error, sends the file to Lark, whose exceptions name the error and what was
expected. Lark stops at the first syntax error, so recovery is done here: the top-level
item that contains the error is blanked out (line breaks kept, so positions stay true) and
the file is parsed again, until it parses or the error budget is spent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import ast, table_driver
from .diagnostics import DiagnosticBag, Span
from .table_driver import Tok

MAX_SYNTAX_ERRORS = 50
MAX_NESTING = 64  # levels of one expression: each `( … )` and each `not` is one
MAX_STRING_CHARS = 4000  # longer than any real SMS; bounds the automaton a literal adds
# Items of one list (`sender`, `tags`, `words x =`, `in […]`, an `or` or `and` chain, an
# example's `expect`): a scene may use 2,000 literals (E903) and a record hold 100,000
# values (E915), and each item costs the parser a node: a 4 MiB file of one list of 1 M
# `"1",` took 13 s and 680 MB, 2 MB of `in [1,1,…]` 27 s and 700 MB, before either
# limit was checked.
MAX_LIST_VALUES = 10_000
MAX_NUMBER_CHARS = 30  # Python refuses int() on 4300+ digits; nothing needs more than this
MAX_RECOVERY_CHARS = 256 << 10  # re-parsing after errors is capped so it stays near-linear
MAX_BUILD_RECOVERY_CHARS = 2 << 20  # the same over all files of a build


class RecoveryBudget:
    """Characters the failed parses of one build may still read. Per file, recovery costs
    up to 50 re-parses; without a shared budget 10,000 small broken files would cost
    hours, not seconds."""

    def __init__(self) -> None:
        self.left = MAX_BUILD_RECOVERY_CHARS

# Where a top-level item may start: at the start of a line or after a `}`, indented or not
# (white space is free). `enterprise NAME` is also a scene clause, so only the top-level
# form, with its block, counts.
_ITEM_START = re.compile(r'(?:^|(?<=\}))[ \t]*(?:(?:import|words|slot|extractor|context|scene)\b'
                         r'|enterprise[ \t]+\w+[ \t]*(?:"[^"\n]*"[ \t]*)?\{)', re.M)

_TOKEN_NAMES = {
    "STRING": 'a string ("…")', "IDENT": "a name", "REGEX": "a regex (/…/)",
    "INT": "a whole number with no sign (0, 1, 2, …)", "SIGNED_NUMBER": "a number",
    "DATE": "a date (YYYY-MM-DD)",
    "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['",
    "RSQB": "']'", "COMMA": "','", "EQUAL": "'='", "COLON": "':'", "DOT": "'.'",
    "CMP": "a comparison (== != < <= > >=)", "$END": "end of file",
}


@lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files(__package__).joinpath("scene.lark").read_text(encoding="utf-8")
    # Every token is kept and no optional part leaves a placeholder: `_Builder` computes each
    # node's span from its first and last token itself, which costs a fraction of Lark's
    # `propagate_positions` (a third of the parse of a 100k-scene build).
    return Lark(grammar, parser="lalr", keep_all_tokens=True, maybe_placeholders=False)


@lru_cache(maxsize=1)
def _driver() -> table_driver.Driver | None:
    return table_driver.driver(_lark(), _VALUE_TOKENS, _NESTING_NODES, MAX_NESTING,
                               MAX_LIST_VALUES)


def parse_text(path: str, text: str, diags: DiagnosticBag,
               budget: RecoveryBudget | None = None) -> ast.File:
    """Parse one file; syntax errors go to `diags` and the items that parsed are kept.
    A file the table driver reads without a diagnostic is done; any other is parsed
    again by Lark, whose errors are reported."""
    clean = _parse_clean(path, text)
    return clean if clean is not None else _parse_reporting(path, text, diags, budget)


def _parse_clean(path: str, text: str) -> ast.File | None:
    """The file's AST by `table_driver`, or None if it has anything to report (or the
    driver is off): a syntax error, a bad escape, a string or number too long."""
    drv = _driver()
    if drv is None:
        return None
    scratch = DiagnosticBag()
    builder = _Builder(path, scratch)
    items = table_driver.parse(drv, text, builder.node, builder.leaf)
    return ast.File(path, items) if isinstance(items, list) and not scratch.items else None


def _too_deep_at(text: str) -> table_driver.TooDeep | table_driver.TooMany | None:
    """Where the table driver finds an expression nested past `MAX_NESTING`, or a list
    of more than `MAX_LIST_VALUES`, before its first syntax error, or None. Lark holds
    every token of what it parses (3 M `(` took 22 s and 900 MB), so recovery asks this
    before each Lark parse; the driver stops at the same syntax errors as Lark, so Lark
    never reads past what this would have found."""
    drv = _driver()
    if drv is None:
        return None
    found = table_driver.parse(drv, text, _nothing, _nothing)
    return found if isinstance(found, (table_driver.TooDeep, table_driver.TooMany)) else None


def _nothing(*_: object) -> object:
    return _nothing  # any value but None: None would stop the driver


def _parse_reporting(path: str, text: str, diags: DiagnosticBag,
                     budget: RecoveryBudget | None) -> ast.File:
    budget = budget or RecoveryBudget()
    work = text
    spent, line = 0, 1
    dropped: list[tuple[str, str]] = []
    mentioned: set[str] = set()
    scenes: list[ast.Name] = []  # ids of the scenes dropped, still compared with the others

    def drop(before: str, after: str) -> None:
        lo, hi = _changed_stretch(before, after)  # found once: a halving over the file
        dropped.extend(_dropped_definitions(before, after, lo, hi))
        mentioned.update(_NAME.findall(before, lo, hi))  # see `ast.File.mentioned`
        # a scene with several clauses in error is dropped once per error: listed once
        scenes.extend(n for n in _dropped_scenes(path, before, after, lo, hi)
                      if n not in scenes)
    reported: set[int] = set()  # offsets of the errors reported
    spoiled: set[tuple[int, int]] = set()  # (line, col) of items a clause was blanked in
    for _ in range(MAX_SYNTAX_ERRORS):
        if spent and (spent > MAX_RECOVERY_CHARS or budget.left < 0):
            break  # the first parse always runs: its cost is bounded by the file size
        deep = _too_deep_at(work)
        if deep is not None:
            spent += deep.offset
            budget.left -= deep.offset
            if isinstance(deep, table_driver.TooMany):
                _report_too_many(path, deep, diags)
            else:
                _report_too_deep(path, deep.line, deep.column, diags)
            line, blanked = deep.line, _blank_item(work, deep.offset)
            drop(work, blanked)
            work = blanked
            continue
        try:
            tree = _lark().parse(work)
            glued = _glued_keyword(tree, work)
            if glued is not None:  # `whenamount > 3` read as `when amount > 3`
                _report_glued(path, glued, work, diags)
                blanked = _blank_line(work, glued.start_pos or 0)  # the rest still parses
                drop(work, blanked)
                work = blanked
                continue
        except UnexpectedInput as exc:
            read = _offset(exc, work)  # a failed parse reads the text up to the error
            spent += read
            budget.left -= read
            if read in reported:  # met again after a clause was blanked: drop the item
                blanked, item = _blank_item(work, read), None
            else:
                reported.add(read)
                blanked, item = _report_and_blank(path, exc, work, diags, budget)
            line = _position(exc, work)[0]
            if blanked == work:
                return ast.File(path, [], dropped, set(_NAME.findall(work)), scenes)
            whole = blanked if item is None else _blank_item(work, item)
            drop(work, whole)
            if item is not None:
                spoiled.add(_line_col(work, item))
            work = blanked
            continue
        parsed = _to_file(path, tree, diags)
        parsed.items = [i for i in parsed.items if (i.span.line, i.span.col) not in spoiled]
        parsed.dropped, parsed.mentioned, parsed.dropped_scenes = dropped, mentioned, scenes
        return parsed
    # Recovery re-parses from the top once per error; past the error count or the work
    # budget (many errors late in a big file) the author is told where checking stopped.
    diags.error("E909", _stopped_because(spent, budget) + "; the rest of this file was not "
                "checked", Span.point(path, line, 1), "fix the errors above and run the "
                "check again")
    return ast.File(path, [], dropped, set(_NAME.findall(work)), scenes)


def _stopped_because(spent: int, budget: RecoveryBudget) -> str:
    """Why recovery stopped: a file over 256 KiB with one error near its end spends the
    re-reading budget at once, and 'too many syntax errors' would send its author
    looking for errors that are not there."""
    if budget.left < 0:
        return (f"syntax-error recovery stopped: this build's files have had "
                f"{MAX_BUILD_RECOVERY_CHARS:,} characters re-read after errors")
    if spent > MAX_RECOVERY_CHARS:
        return (f"syntax-error recovery stopped: {spent:,} characters of this file were "
                f"re-read after errors, over the limit of {MAX_RECOVERY_CHARS:,}")
    return f"too many syntax errors ({MAX_SYNTAX_ERRORS} reported, the most for one file)"


def _report_and_blank(path: str, exc: UnexpectedInput, text: str, diags: DiagnosticBag,
                      budget: RecoveryBudget) -> tuple[str, int | None]:
    """Report one syntax error and return the text with the part it spoils blanked, so
    that the next parse reaches the errors after it. Inside a scene or enterprise only the
    clause is blanked, and the offset of the item's keyword comes back with the text: the
    item is still dropped once its other clauses have been checked (else None)."""
    at = _offset(exc, text)
    taken = _keyword_taken_as_name(exc, text)
    if taken is not None:  # `extract f =` then `scene s2 …`: `scene` was read as the name
        word = text[taken:].split(None, 1)[0]
        _report_unfinished(path, word, _expected_at(text, taken, budget), text, taken, diags)
        return _blank_item(text, taken, previous=True), None
    if _starts_item(exc, text):  # `scene` inside a block: the block before is open
        expected = set(getattr(exc, "expected", None) or ())
        _report_unfinished(path, str(getattr(exc, "token", "")), expected, text, at, diags)
        return _blank_item(text, at, previous=True), None
    line, col = _position(exc, text)
    _report_syntax(path, exc, text, line, col, diags)
    if _between_items(exc):
        return _blank_stray(text, at), None
    entry = _context_entry_around(text, at)
    if entry is not None:  # one fact of a `context { … }` block: the others are kept
        begin, end = entry
        return text[:begin] + re.sub(r"[^\n]", " ", text[begin:end]) + text[end:], None
    if _open_string_takes_a_brace(exc, text, at):
        return _blank_item(text, at), None  # blanking the clause would take the `}` too
    expected = set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())
    taken = _clause_keyword_taken_as_name(exc, text)
    if taken is not None:  # `when "x" and` then `priority y`: the `when` is unfinished
        at, expected = taken, set()
    clause = _clause_around(text, at, expected)
    if clause is None:
        return _blank_item(text, at), None
    begin, end, item = clause
    return text[:begin] + re.sub(r"[^\n]", " ", text[begin:end]) + text[end:], item


# A clause of a scene or enterprise at the start of a line (`sender is …` continues a
# condition) or the `}` that closes the item; an item's header up to its `{`.
_CLAUSE_LINE = re.compile(
    r'^[ \t]*(?:(?:category|priority|tags|meta|template|when|extract|require|highlight|button'
    r'|menu|valid|example|counterexample|enterprise)\b|sender\b(?![ \t]+is\b)|\})', re.M)
_HEADER = re.compile(r'[ \t]*(?:scene|enterprise)[ \t]+\w+[ \t]+"[^"\n]*"\s*\{')
# What braces are counted among: strings, regexes and comments (cut at the line's end).
# Written as runs of a class between escapes: a repeated group would cost Python's `re` a
# backtracking entry per character (see `scene.lark`).
_BRACE_SCAN = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"?|/[^/\\\n]*(?:\\.[^/\\\n]*)*/?'
                         r'|#[^\n]*|[{}]')


def _clause_around(text: str, at: int, expected: set[str]) -> tuple[int, int, int] | None:
    """The stretch [begin, end) of the clause a syntax error at `at` spoils, and the offset
    of its item's keyword; None where blanking less than the item is not safe.

    The clause runs from the line its keyword starts to the next line that starts a
    clause or closes the item. An error at the start of a line where the item could not
    close (`when ("a"` then `template "x"`) is the clause before it left unfinished. The
    stretch must hold its own braces (`ctx { … }`) and no others: blanking the item's `}`
    would make the next item's keyword the error."""
    item = _last_item_start(text, at, at + 1)
    head = _HEADER.match(text, item) if item >= 0 else None
    if head is None or at < head.end():
        return None
    line_start = text.rfind("\n", 0, at) + 1
    starts = [m.start() for m in _CLAUSE_LINE.finditer(text, head.end(), at + 1)
              if text[m.end() - 1] != "}"]
    if not text[line_start:at].strip() and "RBRACE" not in expected:
        begin = max((s for s in starts if s < line_start), default=head.end())
        end = line_start  # the clause before this line is unfinished
    else:
        begin = max(starts, default=line_start)
        line_end = text.find("\n", at)
        stop = _CLAUSE_LINE.search(text, line_end + 1, _line_end(text, _item_end(text, at + 1))) \
            if line_end >= 0 else None
        end = stop.start() if stop is not None else -1
    begin = max(begin, head.end())
    next_item = _item_end(text, at + 1)
    if not begin < end <= next_item or not _braces_balance(text, begin, end):
        return None
    if _closes(text, begin, end) and not _closes(text, end, next_item):
        return None  # `{ { sender "1" }`: the stray `{` balanced the item's own `}`
    keyword = item + len(text[item:head.end()]) - len(text[item:head.end()].lstrip())
    return begin, end, keyword


# What the entries of a `context { … }` block are split at: its braces and commas, with
# strings and comments (cut at the line's end) skipped, as `_BRACE_SCAN` skips them.
_ENTRY_SCAN = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"?|#[^\n]*|//[^\n]*|[{},]')


def _context_entry_around(text: str, at: int) -> tuple[int, int] | None:
    """The stretch [begin, end) of the `context { … }` entry a syntax error at `at`
    spoils, or None where `at` is not inside such a block's braces: from just after the
    `{` or `,` before the error to the next `,` (taken with it) or up to the `}`. What
    is left still parses (a trailing comma is allowed), and the block keeps its other
    facts, so the scenes are checked against them. A comma left out (`a: str b: bool`)
    spoils both entries around the error, so blanking only the second would not do; the
    comma before the error is then the one before the first of them."""
    item = _last_item_start(text, at, at + 1)
    if item < 0 or not _CONTEXT.match(text, item):
        return None
    end_of_item = _item_end(text, at + 1)
    seps = [(m.start(), m.group()) for m in _ENTRY_SCAN.finditer(text, item, end_of_item)
            if m.group() in ("{", "}", ",")]
    if not seps or seps[0][1] != "{" or seps[0][0] >= at:
        return None  # the error is in the header (`context a: str }`): not an entry
    before = [pos for pos, tok in seps if pos < at]
    after = [(pos, tok) for pos, tok in seps if pos >= at]
    if not after or any(tok == "{" for _, tok in seps[1:]):
        return None  # the block is not closed, or braces within it: blank it whole
    close, tok = after[0]
    end = close + 1 if tok == "," else close
    return before[-1] + 1, end


def _clause_keyword_taken_as_name(exc: UnexpectedInput, text: str) -> int | None:
    """Where the token before the error is a clause's keyword that starts its line but was
    read as a name (a field in an unfinished condition); None otherwise."""
    history = getattr(exc, "token_history", None) or []
    prev = history[-1] if history else None
    pos = getattr(prev, "start_pos", None)
    if getattr(prev, "type", "") != "IDENT" or not isinstance(pos, int):
        return None
    line_start = text.rfind("\n", 0, pos) + 1
    if text[line_start:pos].strip() or not _CLAUSE_LINE.match(text, line_start):
        return None
    return pos


def _open_string_takes_a_brace(exc: UnexpectedInput, text: str, at: int) -> bool:
    """Whether the error is a string left open (`when "x }`) with a `}` after it on its
    line: the item's own, most likely, which the string runs over. The clause around it
    would be blanked to the line's end, that `}` with it, and the next item would be a
    follow-on E007 'not closed'."""
    if not isinstance(exc, UnexpectedCharacters) or text[at:at + 1] != '"':
        return False
    return "}" in text[at:_line_end(text, at)]


def _closes(text: str, begin: int, end: int) -> bool:
    """Whether text[begin:end] holds a `}` outside strings, regexes and comments, or in a
    string left open (`" "1" }`: quotes out of step), which runs over the item's `}`. A
    clause's stretch that holds the item's last one would leave the item open once blanked,
    and the next item would be a follow-on E007 'not closed'."""
    for m in _BRACE_SCAN.finditer(text, begin, end):
        tok = m.group()
        if tok == "}" or tok[0] == '"' and (len(tok) == 1 or tok[-1] != '"') and "}" in tok:
            return True
    return False


def _braces_balance(text: str, begin: int, end: int) -> bool:
    """Every `{` in text[begin:end] is closed there and no `}` closes one opened before it."""
    depth = 0
    for m in _BRACE_SCAN.finditer(text, begin, end):
        tok = m.group()
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _keyword_taken_as_name(exc: UnexpectedInput, text: str) -> int | None:
    """Where the parser read the keyword of the next top-level item as a name (`extract f
    =`, `... as`, `when x and` left unfinished, the next line's `scene` taken for what was
    missing), found from the token before the unexpected one; None otherwise."""
    history = getattr(exc, "token_history", None) or []
    prev = history[-1] if history else None
    pos = getattr(prev, "start_pos", None)
    if prev is None or getattr(prev, "type", "") != "IDENT" or not isinstance(pos, int):
        return None
    if "STRING" in (getattr(exc, "expected", None) or ()):
        # `enterprise b { … }`: the item was read as itself and wants its display name
        # here (a clause `enterprise b` is never followed by a string); taken for a
        # keyword read as a name, it was three E007s at the comments and items above
        return None
    m = _ITEM_START.match(text, text.rfind("\n", 0, pos) + 1)
    if m is None:
        return None
    keyword = m.start() + len(m.group(0)) - len(m.group(0).lstrip())
    # the name is the keyword itself, or a piece of it (`extractor` read as `extract` +
    # `or`, `enterprise cmb "x" {` as a scene's `enterprise cmb` clause)
    return keyword if keyword <= pos < m.end() else None


def _glued_keyword(tree: Tree, text: str) -> Token | None:
    """A keyword the next name runs into (`whenamount`, `extractor` read as `extract` +
    `or`): Lark's contextual lexer takes the keyword where no name may stand, which the
    table driver's longest match does not; the language wants a word boundary."""
    stack: list[Tree | Token] = [tree]  # iterative: a hostile file nests thousands deep
    while stack:
        node = stack.pop()
        if isinstance(node, Tree):
            stack.extend(node.children)
            continue
        end = node.end_pos
        if (node.type not in _VALUE_TOKENS and str(node).isalpha() and isinstance(end, int)
                and end < len(text) and (text[end].isascii() and text[end].isalnum()
                                         or text[end] == "_")):
            return node
    return None


def _report_glued(path: str, tok: Token, text: str, diags: DiagnosticBag) -> None:
    start = tok.start_pos or 0
    word = re.match(r"\w+", text[start:])
    glued = word.group(0) if word else str(tok)
    diags.error("E001", f"unexpected '{glued}'", Span.point(path, *_line_col(text, start),
                                                             len(glued)),
                f"a keyword ends at a space: '{tok}' then a name is written "
                f"'{tok} {glued[len(str(tok)):]}'")


def _expected_at(text: str, pos: int, budget: RecoveryBudget) -> set[str]:
    """What the grammar accepts at `pos`: the text before it parsed alone ends early."""
    budget.left -= pos
    try:
        _lark().parse(text[:pos])
    except UnexpectedInput as exc:
        return set(getattr(exc, "expected", None) or ())
    return set()


def _line_col(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def _item_before(text: str, at: int) -> int:
    """The offset of the last top-level item that starts before the item whose keyword is
    at `at`, or -1. An item's match starts at its indentation, so it is looked for before
    that: from `at - 1` it was the item at `at` itself, and in an indented file an unclosed
    item was neither named nor blanked (recovery stopped at it)."""
    lead = at
    while lead > 0 and text[lead - 1] in " \t":
        lead -= 1
    return _last_item_start(text, lead - 1)


def _enclosing_item(text: str, at: int) -> tuple[int, int, str]:
    """The top-level item cut short at `at` (the next item's keyword, or the end of the
    file's code): its start, its line, its keyword."""
    begin = max(0, _item_before(text, at))
    kind = text[begin:at].split(None, 1)[0] if text[begin:at].strip() else "item"
    return begin, _line_col(text, begin)[0], kind


def _report_unfinished(path: str, token: str, expected: set[str], text: str, at: int,
                       diags: DiagnosticBag) -> None:
    """E007 for an item cut short by the next item's keyword `token` at offset `at`. An
    open block is reported at the keyword (the `}` belongs right before it); an item
    missing its last part, where that part belongs, since the next item is not wrong."""
    begin, opened, kind = _enclosing_item(text, at)
    line, col = _line_col(text, at)
    if "RBRACE" in expected:
        diags.error("E007", f"unexpected '{token}': the {kind} opened on line {opened} is not "
                    "closed", Span.point(path, line, col, len(token)),
                    f"add '}}' before line {line}")
        return
    hint = _expected_hint(expected) or "complete or remove it"
    diags.error("E007", f"unfinished {kind} (line {opened}): the next item, '{token}' on "
                f"line {line}, starts before it ends",
                Span.point(path, *_line_col(text, _code_end(text, begin, at))), hint)


def _code_end(text: str, begin: int, end: int) -> int:
    """The offset just after the last character of code in `text[begin:end]`, skipping
    blank lines and `#` comments (a `#` inside a string is code)."""
    last = begin
    pos = begin
    for raw in text[begin:end].split("\n"):
        in_str, code = False, 0
        for i, ch in enumerate(raw):
            if ch == '"' and (i == 0 or raw[i - 1] != "\\"):
                in_str = not in_str
            elif ch == "#" and not in_str:
                break
            if not ch.isspace():
                code = i + 1
        if code:
            last = pos + code
        pos += len(raw) + 1
    return last


def _offset(exc: UnexpectedInput, text: str) -> int:
    """How far into `text` the failed parse got."""
    tok = getattr(exc, "token", None)
    pos = getattr(tok, "start_pos", None) if tok is not None else exc.pos_in_stream
    return pos if isinstance(pos, int) and pos >= 0 else len(text)


def _position(exc: UnexpectedInput, text: str) -> tuple[int, int]:
    if isinstance(exc, UnexpectedEOF) or getattr(exc, "line", -1) in (-1, None):
        lines = text.split("\n")
        return len(lines), len(lines[-1]) + 1
    return exc.line, exc.column


def _report_syntax(path: str, exc: UnexpectedInput, text: str, line: int, col: int,
                   diags: DiagnosticBag) -> None:
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else ""
        if ch == '"':
            diags.error("E002", "unterminated string", Span.point(path, line, col),
                        'a string must end with " on the same line')
        elif ch == "/":
            diags.error("E002", "unterminated or empty regex", Span.point(path, line, col),
                        "a regex is written /pattern/ on one line; escape a slash as \\/")
        else:
            diags.error("E002", f"unexpected character {ch!r}", Span.point(path, line, col),
                        _look_alike_hint(ch) or _full_width_word_hint(text, pos)
                        or _expected_hint(exc.allowed or set()))
        return
    if isinstance(exc, UnexpectedEOF) or isinstance(exc, UnexpectedToken) and \
            exc.token.type == "$END":
        _report_end_of_file(path, exc, text, diags)
        return
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        shown, width = repr(str(tok)), len(str(tok))  # the end of file is reported above
        hint = _expected_hint(exc.accepts or exc.expected)
        if tok.type == "REGEX" and _RAW_BEFORE.search(text, 0, max(0, tok.start_pos or 0)):
            hint = ("`raw` is for extractors only (extract NAME = raw /…/); "
                    "a `when` regex reads the folded text")
        keyword = _operator_read_as_name(exc, text)
        if keyword is not None:  # `"x" and and "y"`: blame the second `and`, not `"y"`
            start, word = keyword
            line, col = _line_col(text, start)
            shown, width, hint = repr(word), len(word), (
                f"expected a condition (a string, a /regex/, any(…), a comparison) "
                f"where '{word}' stands")
        diags.error("E001", f"unexpected {shown}", Span.point(path, line, col, width), hint)
        return
    diags.error("E001", "unexpected end of file", Span.point(path, line, col),
                _expected_hint(getattr(exc, "expected", set()) or set()))


# The ASCII punctuation the language writes (a look-alike of another, `；`, gets no hint:
# writing `;` would be no better), and what an input method types for it that NFKC does
# not map back.
_PUNCTUATION = frozenset('"{}()[],.:=<>!/#-+')
_LOOK_ALIKE = {"“": '"', "”": '"', "„": '"', "‟": '"', "＂": '"', "‘": "'", "’": "'",
               "、": ","}


# A name's or number's characters, ASCII or typed full-width (U+FF10–FF5A: digits,
# letters and the low line) by an input method.
_WORDISH = re.compile(r"[A-Za-z0-9_\uff10-\uff19\uff21-\uff3a\uff3f\uff41-\uff5a]+")


def _full_width_word_hint(text: str, pos: int) -> str | None:
    """A hint for a name typed with full-width letters or digits (`scene ｆｏｏ`), which a
    Chinese input method types: the character looks like what the grammar expected, and
    'expected a name' did not say why it was not one. Only a name of up to 64 characters
    around `pos` is read: a hostile line of letters costs each error no more."""
    start = pos
    while start > max(0, pos - 64) and _WORDISH.fullmatch(text[start - 1]):
        start -= 1
    run = _WORDISH.match(text, start, pos + 64)
    if run is None or run.end() <= pos:
        return None
    plain = unicodedata.normalize("NFKC", run.group())
    return None if plain == run.group() else f"write '{plain}' (ASCII) for '{run.group()}'"


def _look_alike_hint(ch: str) -> str | None:
    """A hint for a character that only looks like the punctuation the language uses: a
    curly quote, a full-width comma or bracket (what a Chinese input method types),
    which the list of what the grammar expected did not point out."""
    plain = _LOOK_ALIKE.get(ch) or unicodedata.normalize("NFKC", ch)
    if ch == "'" or plain == "'":
        return "a string is written with double quotes: \"…\""
    if plain == ch or plain not in _PUNCTUATION:
        return None
    return f"write '{plain}' (ASCII) for '{ch}'"


def _report_end_of_file(path: str, exc: UnexpectedInput, text: str,
                        diags: DiagnosticBag) -> None:
    """The file ends inside an item: the caret goes where the missing part belongs, just
    after the last code, and an open block names the line it was opened on."""
    end = _code_end(text, 0, len(text))
    expected = set(getattr(exc, "expected", None) or ())
    hint = _expected_hint(expected)
    if "RBRACE" in expected:
        _, opened, kind = _enclosing_item(text, end)
        hint = f"add '}}' to close the {kind} opened on line {opened}"
    diags.error("E001", "unexpected end of file", Span.point(path, *_line_col(text, end)), hint)


_RAW_BEFORE = re.compile(r"\braw[ \t]*$")  # `raw` right before a misplaced regex
# A boolean keyword right before the offending token (only whitespace between)
_OPERATOR_BEFORE = re.compile(r"(?<![\w.])(and|or|not)\s*$")


def _operator_read_as_name(exc: UnexpectedToken, text: str) -> tuple[int, str] | None:
    """Where a condition was due, `and` / `or` / `not` is read as a field's name (a field
    may be called so), and the parser then wants `in` or a comparison after it: the
    error fell one token late. The keyword's offset and word when that is the case."""
    expected = set(exc.accepts or exc.expected or ())
    if not expected or not expected <= {"IN", "CMP"}:
        return None
    end = max(0, exc.token.start_pos or 0)
    found = _OPERATOR_BEFORE.search(text, max(0, end - 64), end)
    return (found.start(1), found.group(1)) if found else None


def _expected_hint(expected: set[str] | frozenset[str]) -> str | None:
    names = sorted({_TOKEN_NAMES.get(t, _keyword_name(t)) for t in expected})
    if not names:
        return None
    if len(names) > 8:
        return "expected one of: " + ", ".join(names[:8]) + ", …"
    return "expected " + ", ".join(names)


def _keyword_name(terminal: str) -> str:
    name = terminal.lower()
    if name.isalpha():
        return f"'{name}'"
    # Lark names a punctuation string it has no name for `__ANON_0` (`->`, `..`): the
    # hint showed that name ("expected __ANON_0") instead of the text to write
    text = _anonymous_terminals().get(terminal)
    return f"'{text}'" if text is not None else terminal


@lru_cache(maxsize=1)
def _anonymous_terminals() -> dict[str, str]:
    """The text of each string terminal Lark named itself (`__ANON_0` -> `->`)."""
    return {t.name: str(t.pattern.value) for t in _lark().terminals
            if t.name.startswith("__") and t.pattern.type == "str"}


def _starts_item(exc: UnexpectedInput, text: str) -> bool:
    """The unexpected token is the keyword of a top-level item (see `_ITEM_START`). The end
    of the file is none: Lark places it at the last token, so a file ending in `scene`
    read as an item cut short by a next item at that keyword (and blamed the one before)."""
    tok = getattr(exc, "token", None)
    pos = getattr(tok, "start_pos", None)
    if not isinstance(exc, UnexpectedToken) or not isinstance(pos, int) or pos < 0 \
            or getattr(tok, "type", None) == "$END":
        return False
    line_start = text.rfind("\n", 0, pos) + 1
    cut = text.rfind("}", line_start, pos) + 1 or line_start  # an item may follow a `}`
    m = _ITEM_START.match(text, cut)
    return m is not None and m.end() > pos and not text[m.start():pos].strip()


_TOP_LEVEL = frozenset(("IMPORT", "WORDS", "SLOT", "EXTRACTOR", "CONTEXT", "ENTERPRISE", "SCENE",
                        "$END"))


def _between_items(exc: UnexpectedInput) -> bool:
    """The parser wanted a new item: the items before the error are complete."""
    expected = set(getattr(exc, "expected", None) or ())
    return isinstance(exc, UnexpectedToken) and bool(expected) and expected <= _TOP_LEVEL


def _blank_stray(text: str, at: int) -> str:
    """Blank from a stray token between items (a `}` too many) to the next item start,
    keeping the complete item before it."""
    end = _item_end(text, at + 1)
    return text[:at] + re.sub(r"[^\n]", " ", text[at:end]) + text[end:]


_DEFINITION = re.compile(r"[ \t]*(words|slot|extractor|enterprise)[ \t]+(\w+)")
_CONTEXT = re.compile(r"[ \t]*(context)\b")


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _dropped_definitions(before: str, after: str, lo: int,
                         hi: int) -> list[tuple[str, str]]:
    """The (keyword, name) of each top-level definition that blanking removed. A dropped
    `context { … }` block gives ("context", name) for every name written in it: with the
    block cut short, a fact's name may stand without its `:` or type. [lo, hi) is where
    `after` differs (`_changed_stretch`)."""
    out = []
    for m in _ITEM_START.finditer(before, before.rfind("\n", 0, lo) + 1, hi):
        d = _DEFINITION.match(before, m.start())
        if d is not None and not after[d.start(1):d.end(2)].strip():
            out.append((d.group(1), d.group(2)))
        c = _CONTEXT.match(before, m.start())
        if c is not None and not after[c.start(1):c.end(1)].strip():
            end = min(hi, _item_end(before, c.end()))
            out += [("context", name) for name in _NAME.findall(before, c.end(), end)]
    return out + _dropped_facts(before, after, lo, hi)


def _dropped_facts(before: str, after: str, lo: int, hi: int) -> list[tuple[str, str]]:
    """("context", name) for each name in an entry blanked out of a `context { … }` block
    that is kept (`_context_entry_around`): the fact may be used, and its one error is
    the entry's, not an 'unknown context fact' at every use."""
    item = _last_item_start(before, lo, lo + 1)
    c = _CONTEXT.match(before, item) if item >= 0 else None
    if c is None or not after[c.start(1):c.end(1)].strip() or hi > _item_end(before, lo + 1):
        return []
    return [("context", name) for name in _NAME.findall(before, lo, hi)]


_SCENE_HEADER = re.compile(r"[ \t]*scene[ \t]+(\w+)")


def _dropped_scenes(path: str, before: str, after: str, lo: int,
                    hi: int) -> list[ast.Name]:
    """The id, located, of each scene whose header blanking removed: a scene dropped for
    a syntax error is still compared with the others (E101), so a second scene of its id
    is not found only once the first parses. Few per file (E909 bounds the drops), so
    counting lines from the top is cheap. [lo, hi) as for `_dropped_definitions`."""
    out = []
    for m in _ITEM_START.finditer(before, before.rfind("\n", 0, lo) + 1, hi):
        d = _SCENE_HEADER.match(before, m.start())
        if d is not None and not after[d.start(1):d.end(1)].strip():
            line, col = _line_col(before, d.start(1))
            out.append(ast.Name(d.group(1), Span(path, line, col, line, col + len(d.group(1)))))
    return out


def _item_end(text: str, at: int) -> int:
    """Where the next top-level item after offset `at` starts (or the text's end)."""
    nxt = _ITEM_START.search(text, at)
    return len(text) if nxt is None else nxt.start()


def _line_end(text: str, at: int) -> int:
    """The end of the line `at` is on. A clause line searched for up to the line where
    the next item starts is found as far as it matters (one starting past that item
    spoils no clause), where a search to the end of a big file took 45 ms an error."""
    end = text.find("\n", at)
    return len(text) if end < 0 else end


def _last_item_start(text: str, at: int, endpos: int | None = None) -> int:
    """The offset of the last top-level item that starts at or before `at` (matched in
    `text[:endpos]` when given), or -1. Looked for in a window before `at` that grows
    until it holds one: listing every item of the file at each syntax error cost a
    4 MiB file of 140,000 one-line scenes 36 s over its 50 errors."""
    width = 4096
    while True:
        lo = text.rfind("\n", 0, max(0, at - width)) + 1  # a line start: `^` holds there
        found = -1
        for m in _ITEM_START.finditer(text, lo, len(text) if endpos is None else endpos):
            if m.start() > at:
                break
            found = m.start()
        if found >= 0 or lo == 0:
            return found
        width *= 4


def _changed_stretch(before: str, after: str) -> tuple[int, int]:
    """Where `after` (the text with an item blanked) differs from `before`: [lo, hi).
    Blanking keeps the length, so the stretch is found by halving (slice comparisons run
    in C): a big file with many errors is not scanned whole each time."""
    n = len(before)
    if len(after) != n:
        return 0, 0
    lo, hi = 0, n  # the longest common prefix: before[:lo] == after[:lo] throughout,
    while lo < hi:  # so only the half beyond lo is compared (copied) at each step
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if before[lo:mid] == after[lo:mid] else (lo, mid - 1)
    tail_lo, tail_hi = 0, n - lo  # and the longest common suffix after it
    while tail_lo < tail_hi:
        mid = (tail_lo + tail_hi + 1) // 2
        same = before[n - mid:n - tail_lo] == after[n - mid:n - tail_lo]
        tail_lo, tail_hi = (mid, tail_hi) if same else (tail_lo, mid - 1)
    return lo, n - tail_lo


def _blank_line(text: str, at: int) -> str:
    """Blank the line around offset `at`."""
    begin = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    end = len(text) if end < 0 else end
    return text[:begin] + " " * (end - begin) + text[end:]


def _blank_item(text: str, at: int, previous: bool = False) -> str:
    """Blank the top-level item around offset `at` (or, failing that, its line); with
    `previous`, the item that ends where the one starting at `at` starts."""
    at = max(0, min(at, len(text)))
    if previous:
        begin = max(0, _item_before(text, at))
        return text[:begin] + re.sub(r"[^\n]", " ", text[begin:at]) + text[at:]
    begin = max(0, _last_item_start(text, at))
    end = _item_end(text, at + 1)
    if begin == end:
        nl = text.find("\n", at)
        end = len(text) if nl < 0 else nl + 1
    return text[:begin] + re.sub(r"[^\n]", " ", text[begin:end]) + text[end:]


# --- tree → AST ---------------------------------------------------------------------------

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "/": "/"}
_LOW_SURROGATE = re.compile(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}")  # the second half of a pair
# Tokens that carry a value; the others (keywords, punctuation) only delimit.
_VALUE_TOKENS = frozenset(("STRING", "IDENT", "REGEX", "INT", "SIGNED_NUMBER", "DATE", "CMP"))


class _Builder:
    """Turns Lark's tree, or the table driver's reductions (`node`, `leaf`), into `ast`
    nodes; string escapes are checked here.

    Each rule of the grammar has a method `rule(span, children)` and each token type that
    becomes a node has one named after it. Lark keeps every token (see `_lark`); the walk
    gives a node the span from its first token to its last and passes on only the value
    tokens (`_VALUE_TOKENS`), so keywords and punctuation never reach the methods. The walk
    is ours rather than Lark's `Transformer`, which wraps every callback again on every
    call (a quarter of the conversion time of a 100k-scene build)."""

    def __init__(self, path: str, diags: DiagnosticBag) -> None:
        self.path = path
        self.diags = diags
        self._tokens: dict[str, Callable[[Any], object]] = {
            "STRING": self.STRING, "IDENT": self.IDENT, "REGEX": self.REGEX}
        self._rules: dict[str, Callable[[Span, list], object]] = {}

    def build(self, tree: Tree) -> tuple[object, Token, Token]:
        """The node's value, first and last token: children first, then the rule's
        method. The caller has bounded the depth; every node holds at least one token."""
        children: list = []
        first: Token | None = None
        last: Token | None = None
        for ch in tree.children:
            if isinstance(ch, Tree):
                value, a, last = self.build(ch)
                children.append(value)
            else:
                a = last = ch
                if ch.type in _VALUE_TOKENS:
                    children.append(self.leaf(ch))
            if first is None:
                first = a
        assert first is not None and last is not None, tree.data
        return self.node(tree.data, children, first, last), first, last

    def node(self, name: str, children: list, first: Token | Tok, last: Token | Tok) -> object:
        """A rule's value from its children's values; its span runs from `first` to `last`."""
        if name == "action_slot":  # `button` / `menu`: the keyword is the value
            return first.value
        rule = self._rules.get(name)
        if rule is None:
            rule = self._rules[name] = getattr(self, name)
        span = Span(self.path, first.line or 1, first.column or 1,
                    last.end_line or first.line or 1, last.end_column or first.column or 1)
        return rule(span, children)

    def leaf(self, tok: Token | Tok) -> object:
        return self._tokens.get(tok.type, _same)(tok)

    # tokens
    def _span(self, tok: Token | Tok) -> Span:
        return Span(self.path, tok.line or 1, tok.column or 1,
                    tok.end_line or tok.line or 1, tok.end_column or tok.column or 1)

    def STRING(self, tok: Token | Tok) -> ast.Str:
        body = tok.value[1:-1]
        if len(body) > MAX_STRING_CHARS:
            self.diags.error("E906", f"string is {len(body)} characters; the limit is "
                             f"{MAX_STRING_CHARS}", Span.point(self.path, tok.line or 1,
                                                               tok.column or 1),
                             "use a shorter literal, or a word set of several")
            body = body[:MAX_STRING_CHARS]
        return ast.Str(self._unescape(body, tok), self._span(tok))

    def _number(self, tok: Token | Tok, span: Span) -> float | int:
        """The token's value; an absurdly long number is a located error, not a crash."""
        raw = tok.value
        if len(raw) > MAX_NUMBER_CHARS:
            self.diags.error("E907", f"number has {len(raw)} characters; the limit is "
                             f"{MAX_NUMBER_CHARS}", span, "use a smaller number")
            return 0
        return float(raw) if "." in raw else int(raw)

    def IDENT(self, tok: Token | Tok) -> ast.Name:
        return ast.Name(tok.value, self._span(tok))

    def REGEX(self, tok: Token | Tok) -> ast.Regex:
        raw = tok.value
        flags_i = raw.endswith("i")
        body = raw[1:-2] if flags_i else raw[1:-1]
        return ast.Regex(body.replace("\\/", "/"), flags_i, self._span(tok))

    def _unescape(self, body: str, tok: Token | Tok) -> str:
        if "\\" not in body:
            return body
        out: list[str] = []
        i = 0
        while i < len(body):
            ch = body[i]
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
                code, i = int(body[i + 2 : i + 6], 16), i + 6
                low = int(body[i + 2 : i + 6], 16) if _LOW_SURROGATE.match(body, i) else 0
                if 0xD800 <= code < 0xDC00 and low:  # a pair: one character beyond U+FFFF
                    code, i = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00), i + 6
                if 0xD800 <= code < 0xE000:  # no text can hold half a character
                    col = (tok.column or 1) + 1 + i - 6
                    self.diags.error("E003", f"'\\u{code:04x}' is half of a surrogate pair, "
                                     "not a character", Span.point(self.path, tok.line or 1,
                                                                   col, 6),
                                     "write the character itself, or both halves of the pair "
                                     "(\\ud83d\\ude00)")
                    code = 0xFFFD
                out.append(chr(code))
            else:
                col = (tok.column or 1) + 1 + i
                self.diags.error("E003", f"invalid escape '\\{nxt}' in string",
                                 Span.point(self.path, tok.line or 1, col, 2),
                                 'valid escapes are \\" \\\\ \\n \\t \\/ and \\uXXXX')
                out.append(nxt)
                i += 2
        return "".join(out)

    # values
    def v_string(self, span: Span, c: list) -> ast.Value:
        return ast.Value(c[0].value, c[0].span)

    def v_number(self, span: Span, c: list) -> ast.Value:
        return ast.Value(self._number(c[0], span), span)

    def v_true(self, span: Span, c: list) -> ast.Value:
        return ast.Value(True, span)

    def v_false(self, span: Span, c: list) -> ast.Value:
        return ast.Value(False, span)

    def string_list(self, span: Span, c: list) -> list:
        return c

    def ident_list(self, span: Span, c: list) -> list:
        return c

    def kv(self, span: Span, c: list) -> tuple:
        return (c[0], c[1])

    def from_sender(self, span: Span, c: list) -> ast.Str:
        return c[0]

    def ctx_values(self, span: Span, c: list) -> tuple:
        return tuple(c)

    # expressions
    def or_(self, span: Span, c: list) -> ast.Expr:
        return ast.Or(tuple(c), span)

    def and_(self, span: Span, c: list) -> ast.Expr:
        return ast.And(tuple(c), span)

    def not_(self, span: Span, c: list) -> ast.Expr:
        return ast.Not(c[0], span)

    def group(self, span: Span, c: list) -> ast.Expr:
        return c[0]  # a node only so that `_too_deep` can count the parentheses

    def lit(self, span: Span, c: list) -> ast.Expr:
        return ast.Lit(c[0])

    def regex(self, span: Span, c: list) -> ast.Expr:
        return ast.RegexCond(c[0])

    def any_fn(self, span: Span, c: list) -> ast.Expr:
        return ast.WordsFn("any", tuple(c), span)

    def all_fn(self, span: Span, c: list) -> ast.Expr:
        return ast.WordsFn("all", tuple(c), span)

    def none_fn(self, span: Span, c: list) -> ast.Expr:
        return ast.WordsFn("none", tuple(c), span)

    def near(self, span: Span, c: list) -> ast.Expr:
        return ast.Near(c[0], c[1], int(self._number(c[2], self._span(c[2]))), span)

    def sender_is(self, span: Span, c: list) -> ast.Expr:
        return ast.SenderIs(c[0], span)

    def field_ref(self, span: Span, c: list) -> ast.Operand:
        return ast.Operand(c[0], False, span)

    def ctx_ref(self, span: Span, c: list) -> ast.Operand:
        return ast.Operand(c[0], True, span)

    def compare(self, span: Span, c: list) -> ast.Expr:
        return ast.Compare(c[0], c[1].value, (c[2],), span)

    def in_list(self, span: Span, c: list) -> ast.Expr:
        return ast.Compare(c[0], "in", tuple(c[1:]), span)

    # scene clauses: each becomes a (tag, value) pair folded into ast.Scene below
    def enterprise_ref(self, span: Span, c: list) -> tuple:
        return ("enterprise", c[0])

    def sender_clause(self, span: Span, c: list) -> tuple:
        return ("sender", (c[0], span))

    def category(self, span: Span, c: list) -> tuple:
        return ("category", ast.Name(".".join(n.value for n in c), span))

    def priority(self, span: Span, c: list) -> tuple:
        return ("priority", (int(self._number(c[0], self._span(c[0]))), span))

    def tags(self, span: Span, c: list) -> tuple:
        return ("tags", c[0])

    def meta(self, span: Span, c: list) -> tuple:
        return ("meta", (c[0], c[1]))

    def template(self, span: Span, c: list) -> tuple:
        return ("template", c[0])

    def when(self, span: Span, c: list) -> tuple:
        return ("when", c[0])

    def extract_regex(self, span: Span, c: list) -> tuple:
        return ("extract", ast.Extract(c[0], c[1], None, c[2] if len(c) > 2 else None, span))

    def extract_raw(self, span: Span, c: list) -> tuple:
        return ("extract", ast.Extract(c[0], c[1], None, c[2] if len(c) > 2 else None, span,
                                       raw=True))

    def extract_after(self, span: Span, c: list) -> tuple:
        return ("extract", ast.Extract(c[0], None, c[1], c[2], span))

    def extract_named(self, span: Span, c: list) -> tuple:
        return ("extract", ast.Extract(c[0], None, None, None, span, ref=c[1]))

    def require(self, span: Span, c: list) -> tuple:
        return ("require", c[0])

    def highlight(self, span: Span, c: list) -> tuple:
        return ("highlight", c[0])

    def action(self, span: Span, c: list) -> tuple:
        slot, label, kind, *rest = c  # then the arguments (names, strings), then any guard
        guard = rest.pop() if rest and not isinstance(rest[-1], (ast.Str, ast.Name)) else None
        args = tuple(rest)
        return ("action", ast.Action(slot, label, kind, args, guard, span))

    def valid(self, span: Span, c: list) -> tuple:
        a, b = (ast.Value(t.value, self._span(t)) for t in c)
        return ("valid", (a, b, span))

    def example(self, span: Span, c: list) -> tuple:
        text, sender, ctx, pairs = _example_parts(c)
        return ("example", ast.Example(text, sender, ctx, pairs, False, span))

    def counterexample(self, span: Span, c: list) -> tuple:
        text, sender, ctx, _ = _example_parts(c)
        return ("example", ast.Example(text, sender, ctx, (), True, span))

    # top-level items
    def import_stmt(self, span: Span, c: list) -> ast.Item:
        return ast.Import(c[0], span)

    def words_list(self, span: Span, c: list) -> ast.Item:
        return ast.Words(c[0], tuple(c[1]), None, span)

    def words_file(self, span: Span, c: list) -> ast.Item:
        return ast.Words(c[0], (), c[1], span)

    def slot_def(self, span: Span, c: list) -> ast.Item:
        return ast.Slot(c[0], c[1], span)

    def extractor_regex(self, span: Span, c: list) -> ast.Item:
        return ast.ExtractorDef(c[0], self.extract_regex(span, c)[1], span)

    def extractor_raw(self, span: Span, c: list) -> ast.Item:
        return ast.ExtractorDef(c[0], self.extract_raw(span, c)[1], span)

    def extractor_after(self, span: Span, c: list) -> ast.Item:
        return ast.ExtractorDef(c[0], self.extract_after(span, c)[1], span)

    def context_field(self, span: Span, c: list) -> ast.ContextField:
        return ast.ContextField(c[0], c[1])

    def context_def(self, span: Span, c: list) -> ast.Item:
        return ast.Context(tuple(x for x in c if x is not None), span)

    def enterprise_def(self, span: Span, c: list) -> ast.Item:
        senders = tuple(s for _, (lst, _sp) in c[2:] for s in lst)
        return ast.Enterprise(c[0], c[1], senders, span)

    def scene_def(self, span: Span, c: list) -> ast.Item:
        scene = ast.Scene(c[0], c[1], span)
        for tag, value in c[2:]:
            _add_clause(scene, tag, value)
        return scene


def _same(tok: Token | Tok) -> Token | Tok:
    return tok


def _example_parts(c: list) -> tuple:
    """(text, sender, ctx, expected pairs) of an example: `from` gives a string, `ctx { … }`
    a tuple of (name, value) pairs, and each `expect` entry is one (name, value) pair."""
    text, rest = c[0], c[1:]
    sender = rest.pop(0) if rest and isinstance(rest[0], ast.Str) else None
    ctx: tuple = ()
    if rest and all(isinstance(kv, tuple) for kv in rest[0]):
        ctx = rest.pop(0)
    return text, sender, ctx, tuple(rest)


def _add_clause(scene: ast.Scene, tag: str, value: object) -> None:
    """Clauses may repeat in the source; the checker decides which repeats are errors."""
    if tag == "sender":
        strings: list[ast.Str]
        span: Span
        strings, span = value  # type: ignore[misc]
        scene.senders.extend(strings)
        scene.sender_spans.append(span)
    elif tag in ("tags", "require", "highlight"):
        getattr(scene, tag).extend(value)
    elif tag == "template":
        scene.templates.append(value)  # type: ignore[arg-type]
    elif tag == "example":
        scene.examples.append(value)  # type: ignore[arg-type]
    elif tag == "extract":
        scene.extracts.append(value)  # type: ignore[arg-type]
    elif tag == "action":
        scene.actions.append(value)  # type: ignore[arg-type]
    else:
        getattr(scene, tag).append(value)


_NESTING_NODES = frozenset(("group", "not_"))  # one per `( … )`, one per `not`


def _too_deep(tree: Tree) -> Token | None:
    """Where an expression first nests deeper than MAX_NESTING (`(` and `not` each add a
    level), or None. Iterative, so a hostile file cannot exhaust the stack here."""
    stack: list[tuple[Tree, int]] = [(tree, 0)]  # the outermost expression is level 0
    while stack:
        node, level = stack.pop()
        if node.data in _NESTING_NODES:
            level += 1
            if level > MAX_NESTING:
                return _first_token(node)
        stack.extend((ch, level) for ch in reversed(node.children) if isinstance(ch, Tree))
    return None


def _report_too_deep(path: str, line: int, col: int, diags: DiagnosticBag) -> None:
    diags.error("E902", f"nesting deeper than {MAX_NESTING} levels", Span.point(path, line, col),
                "split the condition into simpler parts or use word sets")


# What a repetition of the grammar holds, by its rule (Lark's `__NAME_star_N`).
_LIST_KINDS = {"or_expr": ("operands", "'or'"), "and_expr": ("operands", "'and'"),
               "example": ("expected fields", "example"), "context_def": ("facts", "context"),
               "action": ("arguments", "action"), "category": ("parts", "category name")}


def _report_too_many(path: str, at: table_driver.TooMany, diags: DiagnosticBag) -> None:
    """E916 at the first item past `MAX_LIST_VALUES`, naming the kind of list."""
    rule = re.sub(r"^__|_(?:star|plus)_\d+$", "", at.rule)
    what, where = _LIST_KINDS.get(rule, ("values", "list"))
    diags.error("E916", f"more than {MAX_LIST_VALUES:,} {what} in one {where}",
                Span.point(path, at.line, at.column),
                "no scene may use more than 2,000 literals (E903): keep what the rules "
                "need, or split it among scenes")


def _first_token(node: Tree) -> Token:
    while isinstance(node.children[0], Tree):
        node = node.children[0]
    return node.children[0]


def _to_file(path: str, tree: Tree, diags: DiagnosticBag) -> ast.File:
    builder = _Builder(path, diags)
    items: list[ast.Item] = []
    for child in tree.children:
        if not isinstance(child, Tree):
            continue
        deep = _too_deep(child)
        if deep is not None:
            _report_too_deep(path, deep.line or 1, deep.column or 1, diags)
            continue
        items.append(builder.build(child)[0])  # type: ignore[arg-type]
    return ast.File(path, items)
