"""Anchors: which literals wake a scene (compiler/lower.py, `_cheapest`)."""

from __future__ import annotations

from helpers import compile_text
from scenec.compiler import model as m
from scenec.compiler.lower import lower

SOURCE = """
enterprise bank "某银行" { sender "【某银行】", "95000" }
scene a "with a sender" {
    enterprise bank
    when "消费" and "尾号"
}
scene b "keywords only" {
    when "消费" and "退款成功"
}
"""


def anchored(source: str) -> dict[str, set[str]]:
    """Scene id -> the literal texts it is anchored on (scenes are numbered in rank order)."""
    model = compile_text(source).model
    low = lower(model)
    names = {i: t for t, i in low.auto_literals + low.signatures}
    names.update({i: n for n, i in low.sender_ids.items()})
    start, scenes = low.tables["anchor_start"], low.tables["anchor_scenes"]
    order = [s.id for s in sorted(model.scenes, key=m.Scene.rank_key)]
    out: dict[str, set[str]] = {}
    for lit in range(low.nlits):
        for j in range(start[lit], start[lit + 1]):
            out.setdefault(order[scenes[j]], set()).add(names[lit])
    return out


def test_a_sender_anchors_before_keywords() -> None:
    """A signature or sender number occurs only in its enterprise's own messages, a
    keyword in anyone's: the scene with a sender is woken by the sender, and the keyword
    scene by its rarer keyword (fewer scenes use it; on a tie, the longer one)."""
    got = anchored(SOURCE)
    assert got["a"] == {"【某银行】", "95000"}
    assert got["b"] == {"退款成功"}
