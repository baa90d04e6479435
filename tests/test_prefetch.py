"""Parallel parsing (compiler/prefetch.py) changes speed, never results: a build whose
files are parsed ahead by worker processes gives the same scenes, diagnostics and answers
as a sequential build, broken files included."""

from __future__ import annotations

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
