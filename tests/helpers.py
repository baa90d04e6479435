"""Small helpers shared by tests: compile source text in a temporary folder."""

from __future__ import annotations

import os
import tempfile

from scenec.compiler import Compiled, compile_paths


def compile_text(source: str, run_examples: bool = False, ok: bool = True) -> Compiled:
    """Compile `source`; unless ok=False, fail the test on any error."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.scene")
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        result = compile_paths([path], run_examples=run_examples)
    assert result.ok or not ok, "\n".join(result.rendered())
    return result
