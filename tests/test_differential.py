"""The compiled runtime must give exactly the reference interpreter's answers."""

from __future__ import annotations

import datetime as dt
import os
import tempfile

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rulegen import message, rule_set
from scenec.compiler import Reference, compile_paths

DAYS = [dt.date(2024, 3, 1), dt.date(2026, 11, 23)]
CTXS = [{}, {"seg": "gold", "n": 5, "vip": True}, {"seg": "silver", "n": 3.5, "vip": False},
        {"seg": 7, "n": "x"}]
SENDERS = [None, "95511", "95555", "10690001", "123", "HDFCBK", "VM-HDFCBK", "AD-HDFCBK-S"]


def as_tuple(m: object) -> tuple:
    """One shape for both sides: scene, fields, highlights, actions."""
    if hasattr(m, "actions") and hasattr(m, "name"):
        acts = tuple((a.slot, a.kind, a.label, a.target, a.params) for a in m.actions)
        return (m.scene, m.fields, m.highlights, acts)
    return (m.scene, m.fields, m.highlights, m.actions)  # RefMatch


def compile_source(source: str):  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "gen.scene")
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        result = compile_paths([path], run_examples=False)
    assert result.ok, "\n".join(result.rendered()) + "\n" + source
    return result


@settings(max_examples=int(os.environ.get("SCENEC_DIFF_EXAMPLES", "300")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_runtime_equals_reference(data: st.DataObject) -> None:
    source, templates = data.draw(rule_set())
    result = compile_source(source)
    ref = Reference(result.model)
    rs = result.ruleset
    messages = data.draw(st.lists(message(templates), min_size=1, max_size=12))
    senders = [data.draw(st.sampled_from(SENDERS)) for _ in messages]
    ctx = data.draw(st.sampled_from(CTXS))
    day = data.draw(st.sampled_from(DAYS))
    for text, sender in zip(messages, senders, strict=False):
        want = [as_tuple(m) for m in ref.match(text, sender, ctx, day)]
        got = [as_tuple(m) for m in rs.match(text, sender, ctx, day)]
        assert got == want, f"\n{source}\nmessage={text!r} sender={sender!r} ctx={ctx}"
        event(f"matches: {min(len(want), 2)}")
        event(f"with actions: {any(w[3] for w in want)}")
    batch = rs.match_many(messages, senders, ctxs=[ctx] * len(messages), now=day, threads=2)
    assert [[as_tuple(m) for m in ms] for ms in batch] == [
        [as_tuple(m) for m in rs.match(t, s, ctx, day)]
        for t, s in zip(messages, senders, strict=True)]
    assert not rs.broken_scenes
