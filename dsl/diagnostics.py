"""Source spans and diagnostics.

Every error or warning the toolchain reports points at a span of a real source file, so
that a rule author can jump to it. Rendering is kept here so the CLI, `scenec test` and
the golden tests all print exactly the same text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Span:
    """A region of one source file; lines and columns are 1-based, columns count characters."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    @staticmethod
    def point(file: str, line: int, col: int, width: int = 1) -> Span:
        return Span(file, line, col, line, col + max(width, 1))


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    code: str
    message: str
    span: Span
    hint: str | None = None

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.span.file, self.span.line, self.span.col, self.code)


class SourceCache:
    """Source text by file name, so diagnostics can quote the offending line."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {}

    def add(self, file: str, text: str) -> None:
        self._lines[file] = text.split("\n")

    def files(self) -> list[str]:
        """Every file read, rules and word lists."""
        return list(self._lines)

    def line(self, file: str, line: int) -> str | None:
        lines = self._lines.get(file)
        if lines is None or not 1 <= line <= len(lines):
            return None
        return lines[line - 1].rstrip("\r")


# The bidirectional marks, embeddings, overrides and isolates: they reorder what a
# terminal shows. With the C0 and C1 controls and DEL, and the line and paragraph
# separators (U+2028, U+2029: a line break to `str.splitlines()` and to some viewers),
# what untrusted text must not carry to a terminal as it is.
BIDI_CONTROLS = (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_VISIBLE = str.maketrans(
    {**{c: chr(0x2400 + c) for c in range(0x20)}, 0x09: " ", 0x7F: "\u2421",
     **{c: "\ufffd" for c in (*range(0x80, 0xA0), *BIDI_CONTROLS, 0x2028, 0x2029)}})


def visible(text: str) -> str:
    """`text` safe for a terminal: control characters (a hostile file's or message's
    escape sequences, a bell, NUL) and bidirectional overrides become visible stand-ins
    of the same width, one character each, so they can neither act on the terminal nor
    shift a caret."""
    return text.translate(_VISIBLE)


# Lines longer than this many characters are quoted as a window around the span.
QUOTE_MAX = 120
QUOTE_BEFORE = 40


def render(diag: Diagnostic, sources: SourceCache) -> str:
    """`path:line:col: error[CODE]: message`, the source line, a caret line and a hint."""
    s = diag.span
    # The file name and the message quote the rules (a name, an import path): made
    # visible too, like the source line.
    out = [visible(f"{s.file}:{s.line}:{s.col}: {diag.severity}[{diag.code}]: {diag.message}")]
    text = sources.line(s.file, s.line)
    if text is not None:
        width = (s.end_col - s.col) if s.end_line == s.line else len(text) - s.col + 1
        width = max(1, min(width, max(1, len(text) - s.col + 1)))
        # Cut first, then make visible (one character for one): made visible whole, a
        # 500 KB line with 80,000 errors on it took 9 s of translating to quote.
        shown, col, width = _window(text, s.col, width)
        shown = visible(shown)
        gutter = f"{s.line:>4} | "
        out.append(gutter + shown)
        # A point just past the line's end (what is missing there) still gets its caret.
        carets = max(1, _display_width(shown[col - 1 : col - 1 + width]))
        out.append(" " * (len(gutter) + _display_width(shown[: col - 1])) + "^" * carets
                   if shown else " " * len(gutter) + "^")
    if diag.hint:
        out.append(visible(f"     = hint: {diag.hint}"))
    return "\n".join(out)


def _window(line: str, col: int, width: int) -> tuple[str, int, int]:
    """A long line cut to QUOTE_MAX characters around the span (an ellipsis marks each
    cut), with the span's column and width in the cut line: a 6,000-character regex
    would otherwise fill the terminal with its quote and its carets."""
    if len(line) <= QUOTE_MAX:
        return line, col, width
    start = max(0, min(col - 1 - QUOTE_BEFORE, len(line) - QUOTE_MAX))
    end = start + QUOTE_MAX
    head = "…" if start > 0 else ""
    tail = "…" if end < len(line) else ""
    col = col - start + len(head)
    width = min(width, QUOTE_MAX - (col - 1 - len(head)))
    return head + line[start:end] + tail, col, max(1, width)


def _display_width(text: str) -> int:
    """Terminal columns: CJK and full-width characters take two, so carets line up. An
    emoji sequence a terminal draws as one glyph (emoji joined by a zero-width joiner,
    👨‍👩‍👧; an emoji and its skin tone) takes the columns of its widest emoji: counted
    per emoji, the family took six columns and pushed the caret four to the right."""
    total = 0
    glyph = 0  # columns of the emoji sequence being read, not yet added; 0 outside one
    joined = False  # a zero-width joiner came right after that sequence
    for ch in text:
        width = _char_width(ch)
        if width == 0:  # marks, variation selectors, the joiner itself: no column
            joined = joined or (ch == "\u200d" and glyph > 0)
            continue
        if glyph and (joined or "\U0001f3fb" <= ch <= "\U0001f3ff") and _is_emoji(ch):
            glyph = max(glyph, width)  # drawn into the glyph before it
        else:
            total += glyph
            glyph, width = (width, 0) if _is_emoji(ch) else (0, width)
            total += width
        joined = False
    return total + glyph


def _is_emoji(ch: str) -> bool:
    """A pictographic symbol (category So, most emoji) or a skin-tone modifier: the
    characters a zero-width joiner draws into one glyph. Between letters (Indic
    conjuncts) a joiner changes a letter's shape, not the number of glyphs."""
    import unicodedata

    return unicodedata.category(ch) == "So" or "\U0001f3fb" <= ch <= "\U0001f3ff"


def _char_width(ch: str) -> int:
    """A character's terminal columns, as wcwidth counts them: none for combining marks
    (`é` written as e + U+0301, the emoji variation selector), format characters (a
    zero-width joiner or space, a BOM inside a line) and Hangul medial and final jamo,
    which join the character before them; counted as one each, they pushed the caret a
    column right per mark. Two for wide (CJK, full-width) characters, one otherwise."""
    import unicodedata

    if ch != "\xad" and unicodedata.category(ch) in _ZERO_WIDTH or "\u1160" <= ch <= "\u11ff":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


_ZERO_WIDTH = ("Mn", "Me", "Cf")  # nonspacing and enclosing marks, format characters


@dataclass
class DiagnosticBag:
    """Collects diagnostics from every stage; a build fails when any error is present."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.items.append(Diagnostic("error", code, message, span, hint))

    def warning(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.items.append(Diagnostic("warning", code, message, span, hint))

    def promote_warnings(self, note: str) -> None:
        """Make every warning an error (`--strict`), each reported once, marked with `note`."""
        self.items = [Diagnostic("error", d.code, f"{d.message} {note}", d.span, d.hint)
                      if d.severity == "warning" else d for d in self.items]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def sorted(self) -> list[Diagnostic]:
        seen: set[Diagnostic] = set()
        out = []
        for d in sorted(self.items, key=Diagnostic.sort_key):
            if d not in seen:
                seen.add(d)
                out.append(d)
        return out
