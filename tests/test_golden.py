"""Golden diagnostics: the exact text `scenec check`/`build` prints for malformed rules.

Regenerate after an intended change with SCENEC_UPDATE_GOLDEN=1, then read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from scenec.compiler import compile_paths

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.glob("*.scene"))


def diagnostics_for(name: str) -> str:
    old = os.getcwd()
    os.chdir(GOLDEN)
    try:
        result = compile_paths([name], run_examples=True)
    finally:
        os.chdir(old)
    return "\n".join(result.rendered()) + "\n"


def test_enough_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    got = diagnostics_for(name)
    expected = GOLDEN / (name.removesuffix(".scene") + ".expected")
    if os.environ.get("SCENEC_UPDATE_GOLDEN"):
        expected.write_text(got, encoding="utf-8")
    assert got == expected.read_text(encoding="utf-8")
    assert "error[" in got or "warning[" in got
