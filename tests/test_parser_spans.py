"""Spans and optional parts in the parser's own tree walk.

Why: Lark keeps every token and leaves no placeholder for an absent optional part
(`dsl/parser.py`, `_lark`), so the walk computes every node's span and tells the optional
parts of `extract`, `button`/`menu` and `example` apart by what they are. A slip there
moves a caret or swaps a sender for a context without any other test noticing.
"""

from __future__ import annotations

from scenec.dsl import ast
from scenec.dsl.diagnostics import DiagnosticBag, Span
from scenec.dsl.parser import parse_text

SRC = """context { vip: bool }
words w = "p", "q"
enterprise e "E" {
    sender "95555", "【E】"
}
scene a "A" {
    priority 60
    when "x" and ("y" or not any(w, "z"))
    extract n = /(\\d+)/ as money
    extract m = /m(\\d)/
    button "b" -> tel("1") if ctx.vip == true
    menu "c" -> copy()
    example "x y 1" from "95555" ctx { vip = true } expect n = 1
    example "x 2" ctx { vip = false }
    example "x 3" from "95555"
    example "x 4" expect n = 4, m = 4
    counterexample "q"
}
"""


def where(span: Span) -> tuple[int, int, int, int]:
    return (span.line, span.col, span.end_line, span.end_col)


def parsed() -> ast.File:
    diags = DiagnosticBag()
    f = parse_text("t.scene", SRC, diags)
    assert not diags.items
    return f


def test_items_span_from_their_keyword_to_their_last_token() -> None:
    ctx, words, ent, scene = parsed().items
    assert where(ctx.span) == (1, 1, 1, 22)
    assert where(words.span) == (2, 1, 2, 19)
    assert where(ent.span) == (3, 1, 5, 2)
    assert where(scene.span) == (6, 1, 18, 2)
    assert where(ent.senders[0].span) == (4, 12, 4, 19)


def test_expression_spans_leave_out_enclosing_parentheses() -> None:
    scene = parsed().items[3]
    assert isinstance(scene, ast.Scene)
    when = scene.when[0]
    assert isinstance(when, ast.And) and where(when.span) == (8, 10, 8, 42)
    inner = when.items[1]
    assert isinstance(inner, ast.Or) and where(inner.span) == (8, 19, 8, 41)
    neg = inner.items[1]
    assert isinstance(neg, ast.Not) and where(neg.span) == (8, 26, 8, 41)
    assert isinstance(neg.item, ast.WordsFn) and where(neg.item.span) == (8, 30, 8, 41)
    assert [type(a) for a in neg.item.args] == [ast.Name, ast.Str]


def test_optional_parts_are_told_apart() -> None:
    scene = parsed().items[3]
    assert isinstance(scene, ast.Scene)
    n, m = scene.extracts
    assert n.kind is not None and n.kind.value == "money" and where(n.span) == (9, 5, 9, 33)
    assert m.kind is None and m.regex is not None and m.regex.pattern == "m(\\d)"
    button, menu = scene.actions
    assert (button.slot, button.kind.value, [a.value for a in button.args]) == ("button", "tel",
                                                                              ["1"])
    assert isinstance(button.guard, ast.Compare) and where(button.guard.span) == (11, 31, 11, 46)
    assert (menu.slot, menu.args, menu.guard) == ("menu", (), None)
    full, ctx_only, from_only, expect_only, counter = scene.examples
    assert full.sender is not None and full.sender.value == "95555"
    assert [(k.value, v.value) for k, v in full.ctx] == [("vip", True)]
    assert [(k.value, v.value) for k, v in full.expect] == [("n", 1)]
    assert where(full.span) == (13, 5, 13, 65)
    assert ctx_only.sender is None and [v.value for _, v in ctx_only.ctx] == [False]
    assert from_only.sender is not None and from_only.ctx == () and from_only.expect == ()
    assert expect_only.sender is None and expect_only.ctx == ()
    assert [(k.value, v.value) for k, v in expect_only.expect] == [("n", 4), ("m", 4)]
    assert counter.counter and where(counter.span) == (17, 5, 17, 23)
