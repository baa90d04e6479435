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

    def line(self, file: str, line: int) -> str | None:
        lines = self._lines.get(file)
        if lines is None or not 1 <= line <= len(lines):
            return None
        return lines[line - 1].rstrip("\r")


def render(diag: Diagnostic, sources: SourceCache) -> str:
    """`path:line:col: error[CODE]: message`, the source line, a caret line and a hint."""
    s = diag.span
    out = [f"{s.file}:{s.line}:{s.col}: {diag.severity}[{diag.code}]: {diag.message}"]
    text = sources.line(s.file, s.line)
    if text is not None:
        shown = text.replace("\t", " ")
        width = (s.end_col - s.col) if s.end_line == s.line else len(shown) - s.col + 1
        width = max(1, min(width, max(1, len(shown) - s.col + 1)))
        gutter = f"{s.line:>4} | "
        out.append(gutter + shown)
        out.append(" " * (len(gutter) + _display_width(shown[: s.col - 1])) + "^" * _display_width(
            shown[s.col - 1 : s.col - 1 + width]) if shown else " " * len(gutter) + "^")
    if diag.hint:
        out.append(f"     = hint: {diag.hint}")
    return "\n".join(out)


def _display_width(text: str) -> int:
    """Terminal columns: CJK and full-width characters take two, so carets line up."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


@dataclass
class DiagnosticBag:
    """Collects diagnostics from every stage; a build fails when any error is present."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.items.append(Diagnostic("error", code, message, span, hint))

    def warning(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.items.append(Diagnostic("warning", code, message, span, hint))

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
