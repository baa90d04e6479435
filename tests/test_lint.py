"""The code standards as tests, so CI enforces them: ruff clean everywhere, mypy clean on
the compiler side (`dsl/`, `compiler/`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_ruff_clean() -> None:
    done = run("ruff", "check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_clean_on_dsl_and_compiler() -> None:
    done = run("mypy", "dsl", "compiler")
    assert done.returncode == 0, done.stdout + done.stderr
