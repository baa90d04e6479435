"""Encoding the scene records in a forked child (compiler/background.py) changes speed,
never results: the artifact is the same byte for byte, and a child that fails only means
the work is done in the building process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from scenec.compiler import background, compile_paths, pipeline
from scenec.runtime.artifact import unpack

RULES = Path(__file__).resolve().parent.parent / "rules"


def sections(artifact: bytes) -> dict[str, object]:
    """Every section, the scene records as their bytes; not the build time, which
    differs between two builds."""
    out: dict[str, object] = {}
    for name, value in unpack(artifact, raw=frozenset({"scenes"})).items():
        out[name] = bytes(value.body) if name == "scenes" else \
            value.tolist() if isinstance(value, memoryview) else value
    meta = dict(out["meta"])  # type: ignore[call-overload]
    meta.pop("built")
    out["meta"] = meta
    return out


def test_records_in_a_child_give_the_same_artifact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "BACKGROUND_RECORDS", 10**9)
    inline = compile_paths([str(RULES)], run_examples=False).artifact
    forks = []
    real = background.in_background

    def counting(fn, arg, worth_it):  # type: ignore[no-untyped-def]
        forks.append(worth_it)
        return real(fn, arg, worth_it)

    monkeypatch.setattr(pipeline, "BACKGROUND_RECORDS", 1)
    monkeypatch.setattr(pipeline, "in_background", counting)
    forked = compile_paths([str(RULES)], run_examples=False).artifact
    assert forks == [True]
    assert inline is not None and forked is not None
    assert sections(forked) == sections(inline)


def test_the_child_computes_and_the_parent_collects_once() -> None:
    parent = os.getpid()
    collect = background.in_background(lambda x: f"{x}:{os.getpid()}".encode(), "a", True)
    first = collect()
    assert first.startswith(b"a:") and first != f"a:{parent}".encode()  # not this process
    assert collect() is first


def test_a_failing_child_means_the_work_is_done_here() -> None:
    parent = os.getpid()

    def only_here(x: str) -> bytes:
        if os.getpid() != parent:
            raise RuntimeError("fails in the child")
        return x.encode()

    assert background.in_background(only_here, "b", True)() == b"b"
    assert background.in_background(only_here, "c", False)() == b"c"
