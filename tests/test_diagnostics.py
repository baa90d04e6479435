"""How a diagnostic quotes its source line: the caret must sit under the span, and the
quote must be safe to print (hostile files carry escape sequences and huge lines)."""

from __future__ import annotations

import unicodedata

import pytest
from scenec.dsl.diagnostics import QUOTE_MAX, Diagnostic, SourceCache, Span, render


def quote(line: str, col: int, width: int) -> tuple[str, str]:
    """The rendered source line and caret line (without the gutter) for one span."""
    sources = SourceCache()
    sources.add("f.scene", line)
    span = Span("f.scene", 1, col, 1, col + width)
    text = render(Diagnostic("error", "E000", "m", span), sources).split("\n")
    gutter = len("   1 | ")
    return text[1][gutter:], text[2][gutter:]


def under_caret(shown: str, carets: str) -> str:
    """The characters of `shown` whose terminal columns the carets cover (CJK: two)."""
    first = len(carets) - len(carets.lstrip(" "))
    last = first + carets.count("^")
    out, column = [], 0
    for ch in shown:
        if first <= column < last:
            out.append(ch)
        column += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return "".join(out)


def test_control_characters_are_shown_as_pictures_of_the_same_width() -> None:
    line = 'when "\x1b[31m" and "\x07\x00" \u202eX'
    shown, carets = quote(line, line.index("X") + 1, 1)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in shown)
    assert "\u241b[31m" in shown and "\u2407\u2400" in shown and "\u202e" not in shown
    assert under_caret(shown, carets) == "X"


@pytest.mark.parametrize("before, columns", [
    ("e\u0301\u0301", 1),          # two combining acute accents on one letter
    ("a\u200db\u200b", 2),          # zero-width joiner and zero-width space
    ("\u2764\ufe0f", 1),            # a heart and the emoji variation selector
    ("\ufeff", 0),                  # a byte-order mark inside the line
    ("\u1100\u1161\u11a8", 2),      # a Hangul syllable written as three jamo
    ("中e\u0301", 3),
    # round 14: an emoji ZWJ sequence, a skin tone and a flag sequence are one glyph of two
    # columns (they were two columns per emoji: the family took six)
    ("\U0001f468\u200d\U0001f469\u200d\U0001f467", 2),
    ("\U0001f44d\U0001f3fd", 2),
    ("\U0001f3f3\ufe0f\u200d\U0001f308", 2),
    ("\U0001f468\U0001f469", 4),                        # two emoji, no joiner: two glyphs
    ("\u0915\u094d\u200d\u0937", 2),                    # a ZWJ between letters joins nothing
    ("\U0001f468\u200d", 2),                            # a ZWJ at the end
])
def test_the_caret_skips_characters_that_take_no_column(before: str, columns: int) -> None:
    """Marks that join the character before them take no terminal column: counted as
    one, each pushed the caret a column to the right of the span."""
    line = f'when "{before}" X'
    shown, carets = quote(line, line.index("X") + 1, 1)
    assert carets == " " * (len('when "') + columns + len('" ')) + "^"


def test_message_file_name_and_hint_cannot_act_on_the_terminal() -> None:
    """They quote the rules (an import path, a name), so they are made visible too."""
    span = Span("\x1b]0;t\x07.scene", 1, 1, 1, 2)
    text = render(Diagnostic("error", "E501", "not found: \x1b[2J.scene", span,
                             "near \x1b[31m"), SourceCache())
    assert "\x1b" not in text and "\x07" not in text
    assert text.count("\u241b") == 3


def test_a_long_line_is_quoted_as_a_window_around_the_span() -> None:
    line = "a" * 500 + "TARGET" + "b" * 500
    shown, carets = quote(line, 501, 6)
    assert len(shown) <= QUOTE_MAX + 2 and shown.startswith("…") and shown.endswith("…")
    assert under_caret(shown, carets) == "TARGET"


def test_a_span_at_either_end_of_a_long_line_keeps_its_caret() -> None:
    line = "START" + "x" * 1000 + "END"
    shown, carets = quote(line, 1, 5)
    assert under_caret(shown, carets) == "START" and not shown.startswith("…")
    shown, carets = quote(line, len(line) - 2, 3)
    assert under_caret(shown, carets) == "END" and not shown.endswith("…")


def test_a_wide_span_is_cut_with_its_line() -> None:
    shown, carets = quote("/" + "(" * 3000 + "/", 1, 3002)
    assert len(carets) <= QUOTE_MAX + 1 and set(carets.strip()) == {"^"}


def test_short_lines_are_quoted_whole() -> None:
    line = 'when "验证码" and x'
    shown, carets = quote(line, 16, 1)
    assert shown == line and under_caret(shown, carets) == "x"


def test_quoting_reads_only_the_window_of_a_long_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 500 KB line with 80,000 errors on it (`require g0, g1, …` of unknown fields)
    took 38 s to report: each quote made the whole line visible before cutting its
    window. Only the window, the message and the hint are made visible."""
    from scenec.dsl import diagnostics

    seen: list[int] = []
    real = diagnostics.visible
    monkeypatch.setattr(diagnostics, "visible", lambda text: seen.append(len(text)) or real(text))
    line = "x" * 500_000 + "\x1bTARGET" + "y" * 500_000
    shown, carets = quote(line, 500_002, 6)
    assert under_caret(shown, carets) == "TARGET" and "\u241b" in shown
    assert max(seen) <= QUOTE_MAX + 2
