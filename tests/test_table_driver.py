"""The table driver (the fast path for clean files) reads every file as Lark does.

`parser._parse_clean` drives Lark's LALR table with its own lexer; `parser._parse_reporting`
is Lark's parser and tree with the builder. Wherever the driver gives an AST, it must be
the one Lark's path gives, with no diagnostic; where it gives up, `parse_text` falls back
to Lark, so giving up is always safe but should be rare on files that are clean.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rulegen import rule_set
from scenec.dsl import parser, table_driver
from scenec.dsl.diagnostics import DiagnosticBag

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "rules").rglob("*.scene"))
GOLDEN = sorted((ROOT / "tests" / "golden").glob("*.scene"))
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def both(text: str) -> tuple[object, object, DiagnosticBag]:
    """The driver's AST (or None) and Lark's, with Lark's diagnostics."""
    diags = DiagnosticBag()
    return parser._parse_clean("r.scene", text), \
        parser._parse_reporting("r.scene", text, diags, None), diags


def assert_agrees(text: str) -> bool:
    """The driver's AST, when it gives one, is Lark's, and Lark reports nothing."""
    fast, slow, diags = both(text)
    if fast is not None:
        assert not diags.items, [d.message for d in diags.items]
        assert fast == slow
    return fast is not None


def test_the_driver_mirrors_the_grammar() -> None:
    assert parser._driver() is not None  # a new regex terminal needs its first characters


@pytest.mark.parametrize("path", SHIPPED + GOLDEN, ids=lambda p: p.name)
def test_shipped_and_golden_files(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    used = assert_agrees(text)
    if path in SHIPPED:
        assert used, "a clean shipped file should not need Lark"


@SETTINGS
@given(case=rule_set())
def test_generated_clean_files_take_the_driver(case: tuple[str, list[str]]) -> None:
    text, _ = case
    assert assert_agrees(text)


# Edits that stress the lexer: keywords glued to names, numbers that look like dates or
# signs, comments and odd white space, escapes, operators split or doubled.
PIECES = ["when", "not", "and", "or", "in", "is", "ctx", "sender", "x", "_a1", "0", "12",
          "2024-01-02", "-3", "+4.5", "..", ".", "->", "-", "=", "==", "!=", "<", ">=", "#c",
          "\n", " ", "\t", "\r", "\f", "\v", "\u3000", '"', '\\"', "\\u4e2d", "\\q", "/", "/i",
          "(", ")", "[", "]", "{", "}", ",", ":", "true", "false", "any", "near", "示"]


@st.composite
def edited(draw: st.DrawFn) -> str:
    base = draw(st.sampled_from(SHIPPED[:8])).read_text(encoding="utf-8") \
        if draw(st.booleans()) else draw(rule_set())[0]
    rnd = random.Random(draw(st.integers(0, 2**32)))
    text = base
    for _ in range(draw(st.integers(1, 6))):
        k = rnd.randrange(len(text) + 1)
        cut = rnd.choice([0, 0, 1, 2, 5])
        text = text[:k] + rnd.choice(PIECES) * rnd.choice([1, 1, 2]) + text[k + cut:]
    return text


@SETTINGS
@given(text=edited())
def test_edited_files_agree(text: str) -> None:
    event("driver" if assert_agrees(text) else "lark")


@pytest.mark.parametrize("text", [
    'scene a "x" { when whennot "y" }',  # Lark splits `whennot` where only keywords fit
    'scene a "x" { when near("a", "b", 3) example "q" expect when = 1, x = -2.5 }',
    'scene a "x" { valid 2024-01-01..2024-02-01 priority 007 }',
    'scene a "x" {\r\n\twhen "a"#c\n\n  or not(("b")) }\n# end',
    'scene a "x" { when "\\u4e2d\\"\\n" }',
    'scene a "x" { when "\\q" }',  # a bad escape: Lark's path reports it
    'scene a "x" { when ' + "(" * 70 + '"a"' + ")" * 70 + " }",  # too deep: reported
    "scene a \"x\" { when \"a\" }\v",
    "",
])
def test_edge_cases(text: str) -> None:
    assert_agrees(text)
    diags = DiagnosticBag()
    got = parser.parse_text("r.scene", text, diags)
    want_diags = DiagnosticBag()
    assert got == parser._parse_reporting("r.scene", text, want_diags, None)
    assert [d.message for d in diags.items] == [d.message for d in want_diags.items]


def test_without_the_driver_lark_parses_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Lark whose internals moved turns the driver off; parsing is then Lark's alone."""
    text = SHIPPED[0].read_text(encoding="utf-8")
    want = parser.parse_text("r.scene", text, DiagnosticBag())
    monkeypatch.setattr(parser, "_driver", lambda: None)
    assert parser._parse_clean("r.scene", text) is None
    assert parser.parse_text("r.scene", text, DiagnosticBag()) == want


def test_a_lark_without_the_table_turns_the_driver_off() -> None:
    class Moved:
        terminals = parser._lark().terminals
        ignore_tokens = parser._lark().ignore_tokens
        rules = parser._lark().rules
        parser = None

    assert table_driver.driver(Moved(), frozenset(), frozenset(), 64) is None  # type: ignore[arg-type]
