"""Regexes, templates and extractors, turned into RE2 patterns over folded text.

Every user pattern is compiled here with RE2 at check time, so a pattern that would need
backtracking (lookaround, backreferences) is a located error, never a slow match later.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import re2

from ..dsl import ast
from ..dsl.diagnostics import DiagnosticBag, Span
from ..runtime.evaluate import MAX_PROGRAM_SIZE as RUNTIME_MAX_PROGRAM_SIZE
from ..runtime.fold import FOLD_TABLE
from ..runtime.kinds import Kind, kind_for
from .model import Extractor, Template

MAX_PATTERN_CHARS = 2000
# RE2 instructions of one regex; the shipped library's largest is ~3000. The runtime holds
# an artifact's patterns to the same limit (`Patterns.checked`).
MAX_PROGRAM_SIZE = RUNTIME_MAX_PROGRAM_SIZE
_META = set("\\.^$|?*+()[]{}-/")
_UNSUPPORTED = [
    (re.compile(r"\(\?<?[=!]"), "lookaround"),
    (re.compile(r"\\[1-9]|\\k<|\(\?P="), "backreference"),
    (re.compile(r"\(\?>"), "atomic group"),
    (re.compile(r"\(\?\("), "conditional"),
    # `a++`, `a{2}+`; not `\p{Han}+` or `\x{FFFD}+`, whose braces are no repeat
    (re.compile(r"(?<!\\)(?:[*+?]|\{\d+(?:,\d*)?\})\+"), "possessive quantifier"),
    (re.compile(r"\\C"), "\\C (one byte of the UTF-8)"),
]
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = 2 << 20  # check-time only: a huge program fails in ms, not seconds


def re2_compile(pattern: str) -> re2._Regexp:
    return re2.compile(pattern, _OPTIONS)


def escape(text: str) -> str:
    """Escape for RE2 (Python's re.escape output is not always valid RE2)."""
    return "".join("\\" + ch if ch in _META else ch for ch in text)


def quote_end(pattern: str, start: int) -> int:
    """Where a `\\Q` quote whose text begins at `start` ends: just after the first `\\E`
    (RE2 reads every character before it as itself, a backslash too), or the pattern's
    end."""
    end = pattern.find("\\E", start)
    return len(pattern) if end < 0 else end + 2


def close_quote(pattern: str) -> str:
    """The pattern with a `\\Q` quote still open at its end closed (`\\E` added), which
    changes nothing RE2 matches. Open, it swallowed whatever the pattern was put before:
    `/\\Qa/` as a `when` regex, which the runtime searches as `(\\Qa)`, compiled at check
    time and broke its scene at every message (and a slot kind was E401 `missing )`)."""
    escaped, i = False, 0
    while i < len(pattern):
        ch = pattern[i]
        if escaped and ch == "Q":
            end = pattern.find("\\E", i + 1)
            if end < 0:
                return pattern + "\\E"
            i, escaped = end + 2, False
            continue
        escaped = ch == "\\" and not escaped
        i += 1
    return pattern


def fold_pattern(pattern: str) -> str:
    """Fold full-width characters of a regex source without turning them into syntax:
    `（` becomes `\\(`, a literal paren, never a group. An escaped full-width letter or
    digit stays as written: folded, `\\ｄ` would become `\\d` (any digit) and `\\ｂ` a word
    boundary, where RE2 (and a `raw` extractor, which is not folded) refuse `\\ｄ` as an
    invalid escape; so it is refused here too, quoted as the author wrote it. Inside a
    `\\Q…\\E` quote every character is already literal (see _fold_quote)."""
    out: list[str] = []
    escaped = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if escaped and ch == "Q":
            end = quote_end(pattern, i + 1)
            out.append("Q" + _fold_quote(pattern[i + 1:end]))
            i, escaped = end, False
            continue
        mapped = FOLD_TABLE.get(ord(ch))
        if mapped is not None:
            a = chr(mapped)
            if escaped and a.isalnum():
                out.append(ch)
            else:
                out.append(a if escaped or a not in _META else "\\" + a)
        else:
            out.append(ch)
        escaped = ch == "\\" and not escaped
        i += 1
    return "".join(out)


def _fold_quote(quoted: str) -> str:
    """The text of a `\\Q` quote (with its closing `\\E`, if any) folded: each full-width
    form becomes its ASCII character as it is, since escaping it (`\\(`) would quote the
    backslash too. A backslash, full-width or not, closes the quote, is written `\\\\` and
    opens a new one: folded, `\\` before `Ｅ` (or `＼` before `E`) would end the quote."""
    body, closed = (quoted[:-2], True) if quoted.endswith("\\E") else (quoted, False)
    out = []
    for ch in body:
        a = chr(FOLD_TABLE.get(ord(ch), ord(ch)))
        out.append("\\E\\\\\\Q" if a == "\\" else a)
    return "".join(out) + ("\\E" if closed else "")


@dataclass(frozen=True)
class _Verdict:
    """What checking one pattern source found: the folded RE2 source and its group count,
    or the error to report (`offset`: where inside the pattern, None for all of it)."""

    source: str | None
    groups: int = 0
    code: str = ""
    message: str = ""
    hint: str = ""
    offset: int | None = None
    size: int = 0  # RE2 instructions (the larger of the forward and reverse programs)


def check_regex(rx: ast.Regex, diags: DiagnosticBag, fold: bool = True) -> str | None:
    """The RE2 source (folded unless `fold` is false: a `raw` extractor's pattern means
    its full-width characters), or None after reporting why the pattern cannot be used."""
    verdict = _vet(rx.pattern, rx.ignore_case, fold)
    if verdict.source is None:
        span = rx.span if verdict.offset is None else _at(rx.span, verdict.offset)
        diags.error(verdict.code, verdict.message, span, verdict.hint)
    return verdict.source


def regex_groups(source: str) -> int:
    """Capture groups of a source `check_regex` accepted."""
    return _vet_source(source).groups


def regex_size(source: str) -> int:
    """RE2 instructions of a source `check_regex` (or a template) produced; compiled once."""
    return _vet_source(source).size


@functools.lru_cache(maxsize=1 << 16)
def _vet(pattern: str, ignore_case: bool, fold: bool = True) -> _Verdict:
    """Checking depends only on the text, and rule sets repeat their extractors (the 100k
    workload has 5,506 distinct regexes): each is compiled by RE2 once per build."""
    skeleton = _skeleton(pattern)
    for probe, what in _UNSUPPORTED:
        m = probe.search(skeleton)
        if m:
            return _Verdict(None, 0, "E402", f"{what} is not supported in regexes",
                            "scenec runs regexes in linear time over characters (RE2): "
                            "rewrite without lookaround, backreferences or \\C, or use "
                            "`when` with `not`",
                            m.start() + 1)
    if len(pattern) > MAX_PATTERN_CHARS:
        return _Verdict(None, 0, "E905", f"regex longer than {MAX_PATTERN_CHARS} characters",
                        "split it, or use a word set")
    source = close_quote(fold_pattern(pattern) if fold else pattern)
    return _vet_source(("(?i)" if ignore_case else "") + source)


@functools.lru_cache(maxsize=1 << 16)
def _vet_source(source: str) -> _Verdict:
    try:
        compiled = re2_compile(source)
    except re2.error as exc:
        msg = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        if "too large" in msg:
            return _Verdict(None, 0, "E910", _TOO_LARGE, _TOO_BIG_HINT)
        return _Verdict(None, 0, "E401", f"invalid regex: {msg}",
                        "regexes use RE2 syntax: https://github.com/google/re2/wiki/Syntax")
    problem = _size_problem(compiled)
    if problem:
        return _Verdict(None, 0, "E910", problem, _TOO_BIG_HINT)
    return _Verdict(source, compiled.groups,
                    size=max(compiled.programsize, compiled.reverseprogramsize))


_TOO_LARGE = f"pattern is larger than {MAX_PROGRAM_SIZE} RE2 instructions"
_TOO_BIG_HINT = "use smaller repetition counts or narrower classes"


def _size_problem(compiled: re2._Regexp) -> str | None:
    """A short regex can still compile to a huge program (`\\pL{1000}`: 1.2 million
    instructions, tens of MB per copy at run time, 0.6 s to compile with a large budget);
    refuse it where it is written. Bigger ones already fail inside RE2's 2 MiB budget."""
    size = max(compiled.programsize, compiled.reverseprogramsize)
    if size <= MAX_PROGRAM_SIZE:
        return None
    return f"pattern compiles to {size} RE2 instructions; the limit is {MAX_PROGRAM_SIZE}"


def _small_enough(compiled: re2._Regexp, span: Span, diags: DiagnosticBag) -> bool:
    problem = _size_problem(compiled)
    if problem:
        diags.error("E910", problem, span, _TOO_BIG_HINT)
    return problem is None


def _skeleton(pattern: str) -> str:
    """The pattern with escaped characters, `\\Q…\\E` quotes and character-class contents
    blanked (same length), so that `\\(?=`, `\\Q(?=\\E` or `[(?=]` — literal text — is not
    taken for syntax. Escapes
    that are syntax themselves (`\\1`, `\\k<`) are kept for the backreference probe."""
    out: list[str] = []
    i, class_start = 0, -1  # class_start: index of the open `[`, or -1 outside a class
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("\\Q", i) and class_start < 0:
            end = quote_end(pattern, i + 2)  # quoted text is literal, whatever it says
            out.append("_" * (end - i))
            i = end
            continue
        if ch == "\\" and i + 1 < len(pattern):
            keep = pattern[i + 1] in "123456789k" and class_start < 0 or pattern[i + 1] == "C"
            out.append(pattern[i : i + 2] if keep else "__")
            i += 2
            continue
        if class_start < 0:
            class_start = i if ch == "[" else -1
            out.append(ch)
        elif ch == "]" and i > class_start + 1 and pattern[class_start + 1 : i] != "^":
            class_start = -1  # a `]` right after `[` or `[^` is a literal, not the end
            out.append(ch)
        else:
            out.append("_")
        i += 1
    return "".join(out)


def _at(span: Span, offset: int) -> Span:
    """A point inside a one-line token, `offset` characters after its first character."""
    return Span.point(span.file, span.line, span.col + offset)


_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


ANONYMOUS = "_"  # `${_}` / `${_:kind}`: matched like any placeholder, kept as no field


def declared_slots(s: ast.Str) -> list[tuple[str, str]]:
    """The (field, kind) pairs a template declares, even when it has errors, so that one
    mistake in a template does not also make every use of its fields an error."""
    out = []
    for m in _PLACEHOLDER.finditer(s.value):
        name, _, kind = m.group(1).strip().partition(":")
        name = name.strip()
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name != ANONYMOUS:
            out.append((name, kind.strip() or "text"))
    return out


def placeholder_kinds(s: ast.Str) -> set[str]:
    """Every kind a template names, the anonymous placeholders' too (`${_:plate}` uses the
    kind `plate` as much as `${car:plate}` does)."""
    return {m.group(1).partition(":")[2].strip() or "text" for m in _PLACEHOLDER.finditer(s.value)}


def compile_template(s: ast.Str, kinds: dict[str, str], diags: DiagnosticBag) -> Template | None:
    """A template string becomes a regex with one group per placeholder, except the
    anonymous `${_}`, which varies from message to message but is worth no field (a
    stretch between two fields, a word that differs by channel): its group captures nothing.
    The groups are found by counting, not by name: a user slot kind may name its own
    groups, and one named `_s1` took the second placeholder's value from the first."""
    text = s.value
    pos = 0
    regex: list[str] = []
    parts: list[str] = []
    slots: list[tuple[str, str]] = []
    groups: list[int] = []  # each named placeholder's group
    ngroups = 0  # capture groups in `regex` so far
    seen: set[str] = set()  # every name so far, kept after an error so that all are found
    ok = True
    for m in _PLACEHOLDER.finditer(text):
        fixed = text[pos : m.start()]
        inner = m.group(1).strip()
        name, sep, written_kind = inner.partition(":")
        name, kind_name = name.strip(), written_kind.strip() or "text"
        where = _at(s.span, m.start() + 1)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            diags.error("E301", f"bad placeholder '${{{inner}}}'", where,
                        "a placeholder is ${name} or ${name:kind}, e.g. ${amount:money}")
            ok = False
        elif sep and not written_kind.strip():
            diags.error("E301", f"placeholder '${{{inner}}}' has an empty kind", where,
                        f"write ${{{name}}} for text, or name a kind, e.g. ${{{name}:money}}")
            ok = False
        elif name != ANONYMOUS and name in seen:
            diags.error("E302", f"field '{name}' appears twice in one template", where,
                        "give each placeholder its own name")
            ok = False
        seen.add(name)
        kind = kind_for(kind_name, kinds)
        if kind is None:
            diags.error("E104", f"unknown slot kind '{kind_name}'", where,
                        _kind_hint(kind_name, kinds, diags))
            ok = False
        elif ok:
            pattern = _slot_pattern(kind, m.end() == len(text))
            regex.append(escape(_fold(fixed)))
            if name == ANONYMOUS:
                regex.append(f"(?:{pattern})")
            else:
                regex.append(f"({pattern})")
                slots.append((name, kind_name))
                groups.append(ngroups + 1)
                ngroups += 1
            ngroups += regex_groups(pattern)
        if _fold(fixed):
            parts.append(_fold(fixed))
        pos = m.end()
    if "${" in text[pos:]:
        diags.error("E301", "unclosed placeholder '${'", _at(s.span, text.index("${", pos) + 1),
                    "close it with }, e.g. ${code:code}")
        return None
    tail = _fold(text[pos:])
    if tail:
        parts.append(tail)
    regex.append(escape(tail))
    if not parts:
        diags.error("E303", "template has no fixed text", s.span,
                    "add the words around the placeholders so the template can be recognised")
        return None
    if not ok:
        return None
    source = "".join(regex)
    compiled = _compile_generated(source, s.span, diags)
    if compiled is None:
        return None
    return Template(text, source, tuple(parts), tuple(slots), tuple(groups))


def _slot_pattern(kind: Kind, last: bool) -> str:
    """A trailing `text` slot takes the rest of the line rather than one character."""
    if kind.name == "text" and last:
        return "[^\\n]+"
    return kind.pattern


def _compile_generated(source: str, span: Span, diags: DiagnosticBag) -> re2._Regexp | None:
    try:
        compiled = re2_compile(source)
    except re2.error as exc:
        if "too large" in str(exc):
            diags.error("E910", _TOO_LARGE, span, _TOO_BIG_HINT)
        else:
            diags.error("E401", f"pattern does not compile: {exc}", span,
                        "check the user slot kinds this uses")
        return None
    return compiled if _small_enough(compiled, span, diags) else None


def _fold(text: str) -> str:
    return text.translate(FOLD_TABLE)


def _kind_hint(name: str, kinds: dict[str, str], diags: DiagnosticBag) -> str:
    """Did-you-mean or a short list of kinds; bounded like `checker.did_you_mean`, so a
    file with 100,000 slot kinds cannot make each error cost (or print) all of them."""
    from ..runtime.kinds import BUILTIN
    from .checker import MAX_HINTED_ERRORS, did_you_mean, hint_names, listing

    if len(diags.items) > MAX_HINTED_ERRORS:
        return "built-in kinds: " + ", ".join(sorted(BUILTIN)) + "; or define a slot kind"
    known = sorted(set(BUILTIN) | set(hint_names(kinds)))
    return did_you_mean(name, known, diags) or "known kinds: " + listing(known)


AFTER_WINDOW = 10


def compile_extract(ex: ast.Extract, kinds: dict[str, str],
                    diags: DiagnosticBag) -> Extractor | None:
    kind_name = ex.kind.value if ex.kind else "text"
    kind = kind_for(kind_name, kinds)
    if kind is None:
        span = ex.kind.span if ex.kind else ex.span
        diags.error("E104", f"unknown slot kind '{kind_name}'", span,
                    _kind_hint(kind_name, kinds, diags))
        return None
    if ex.regex is not None:
        pattern = check_regex(ex.regex, diags, fold=not ex.raw)
        if pattern is None:
            return None
        groups = regex_groups(pattern)
        if groups != 1:
            diags.error("E403", f"extract regex has {groups} capture groups, needs exactly 1",
                        ex.regex.span, "mark the value with ( ) and other groups with (?: )")
            return None
        return Extractor(ex.name.value, kind_name, pattern, 1, ex.raw)
    assert ex.after is not None
    if not ex.after.value:
        diags.error("E004", "empty keyword", ex.after.span,
                    "write the word that precedes the value")
        return None
    source = (f"{escape(_fold(ex.after.value))}[^\\n]{{0,{AFTER_WINDOW}}}?"
              f"({_slot_pattern(kind, False)})")  # group 1, whatever the kind's groups are named
    compiled = _compile_generated(source, ex.span, diags)
    if compiled is None:
        return None
    return Extractor(ex.name.value, kind_name, source, 1)
