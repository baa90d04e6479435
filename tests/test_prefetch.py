"""Parallel parsing (compiler/prefetch.py) changes speed, never results: a build whose
files are parsed ahead by worker processes gives the same scenes, diagnostics and answers
as a sequential build, broken files included."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from scenec.compiler import compile_paths, prefetch

RULES = Path(__file__).resolve().parent.parent / "rules"
MESSAGES = ["您尾号4211的信用卡09日14:59消费人民币800.00元。[招商银行]",
            "【丰巢】您的顺丰快件已存放在科技园丰巢快递柜，取件码52813649，请及时取件。"]


def summary(paths: list[str]) -> tuple:
    result = compile_paths(paths, run_examples=True)
    answers = []
    if result.ruleset is not None:
        answers = [[m.to_json() for m in result.ruleset.match(t)] for t in MESSAGES]
    scenes = [(s.id, s.span) for s in result.model.scenes]
    return scenes, result.rendered(), answers


@pytest.fixture
def library(tmp_path: Path) -> Path:
    shutil.copytree(RULES, tmp_path / "rules")
    return tmp_path / "rules"


def test_parallel_parse_equals_sequential(library: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    sequential = summary([str(library)])
    monkeypatch.setattr(prefetch, "MIN_PARALLEL_BYTES", 0)
    ahead = prefetch.prefetch([str(p) for p in sorted(library.rglob("*.scene"))], 1 << 22)
    assert len(ahead) > 10  # the workers really parsed the files
    assert summary([str(library)]) == sequential


def test_broken_file_is_parsed_again_in_order(library: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    broken = library / "finance" / "cmb.scene"
    broken.write_text(broken.read_text("utf-8").replace("{", "", 3) + "\nscene x {", "utf-8")
    sequential = summary([str(library)])
    assert any("cmb.scene" in d for d in sequential[1])
    monkeypatch.setattr(prefetch, "MIN_PARALLEL_BYTES", 0)
    assert summary([str(library)]) == sequential


_PARSE = prefetch._parse_clean
_HERE: list[str] = []


def _recording(path: str, limit: int) -> object:
    """`_parse_clean` that notes the file: in a worker, in the worker's own copy of the
    list, so the test's list holds only what the calling process parsed."""
    _HERE.append(path)
    return _PARSE(path, limit)


def test_this_process_parses_from_the_back(library: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    """While the workers parse from the front, the calling process parses the files no
    worker has started, from the back: the results are the same either way."""
    files = [str(p) for p in sorted(library.rglob("*.scene"))]
    _HERE.clear()
    monkeypatch.setattr(prefetch, "_parse_clean", _recording)
    monkeypatch.setattr(prefetch, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(prefetch.os, "cpu_count", lambda: 2)
    ahead = prefetch.prefetch(files, 1 << 22)
    assert _HERE, "this process parsed nothing"
    assert _HERE == files[::-1][: len(_HERE)]  # a run from the back, in that order
    for path in files:
        want = _PARSE(path, 1 << 22)
        assert ahead.get(os.path.realpath(path)) == want


def test_a_worker_reads_no_more_than_the_limit(tmp_path: Path) -> None:
    """A file that grew past the limit after its size was taken is left to the walk,
    which reports it (E901), instead of being read whole by a worker."""
    path = tmp_path / "r.scene"
    path.write_text('scene s "x" { when "a" }\n', encoding="utf-8")
    assert _PARSE(str(path), 1 << 22) is not None
    assert _PARSE(str(path), 10) is None
