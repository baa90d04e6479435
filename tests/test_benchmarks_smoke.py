"""Benchmarks are not tests, but CI proves that they run and that scenec's answers on the
peers' workload equal the ground truth: a tiny `vs_peers.py` run (1k scenes, 2,000
messages, one round, pyahocorasick as the only peer) and a `real_corpus.py` run.

Both read the shared folder (the peers' generator and the real SMS): `$SCENEC_SHARED_DIR`,
else `../shared` beside the clone, else `/work/shared`. Without it they fail rather than
skip: a benchmark that cannot run is a broken benchmark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str, *args: str, timeout: int = 600) -> dict:
    env = dict(os.environ)
    env.setdefault("PEERS_DATA", os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                              "scenec-peers-data"))
    done = subprocess.run([sys.executable, str(BENCH / script), *args, "--json"],
                          capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


def test_vs_peers_smoke_results_equal_truth() -> None:
    report = run("vs_peers.py", "--scale", "1000", "--sample", "2000", "--rounds", "1",
                 "--peers", "pyahocorasick")
    text = json.dumps(report)
    assert '"correct": true' in text and '"correct": false' not in text, text[:2000]
    assert "msgs_per_s" in text and "ratio_vs_best_peer" in text


def test_real_corpus_smoke() -> None:
    report = run("real_corpus.py", "--rounds", "1")
    assert report["rules"]["scenes"] >= 100 and report["rules"]["warnings"] == 0
    bench = report["coverage"]["sms_zh_bench"]
    assert bench["messages"] > 8000 and 0 < bench["matched"] < bench["messages"]
    assert all(v["msgs_per_s"] > 0 for v in report["speed"].values())
    assert report["unmatched_shapes"]


def test_real_corpus_compare_smoke(tmp_path: Path) -> None:
    """`--compare` times artifacts against each other in one process (a rule change's
    cost): one line per artifact and corpus, each a positive time."""
    from scenec.compiler import build

    art, copy = tmp_path / "a.scb", tmp_path / "b.scb"
    assert build(str(BENCH.parent / "rules"), str(art), run_examples=False).ok
    copy.write_bytes(art.read_bytes())
    done = subprocess.run([sys.executable, str(BENCH / "real_corpus.py"), "--compare",
                           str(art), str(copy), "--rounds", "1"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    lines = [ln.split() for ln in done.stdout.splitlines() if ln.strip()]
    assert len(lines) == 4 and all(float(ln[-2]) > 0 and ln[-1] == "µs/msg" for ln in lines)


def test_real_corpus_diff_smoke(tmp_path: Path) -> None:
    """`--diff` lists the real messages whose best match two artifacts disagree on: none
    for the same rules, and the cards a rule set without the card scenes loses."""
    from scenec.compiler import build

    rules = BENCH.parent / "rules"
    full, fewer = tmp_path / "full.scb", tmp_path / "fewer.scb"
    assert build(str(rules), str(full), run_examples=False).ok
    kept = [str(p) for p in rules.rglob("*.scene") if p.name != "cmb.scene"]
    assert build(kept, str(fewer), run_examples=False).ok

    def counts(a: Path, b: Path) -> dict[str, int]:
        done = subprocess.run([sys.executable, str(BENCH / "real_corpus.py"), "--diff",
                               str(a), str(b), "--show", "3"],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-4000:]
        tail = [ln for ln in done.stdout.splitlines() if " changed" in ln]
        return {ln.split(":")[0]: int(ln.split(": ")[1].split()[0]) for ln in tail}

    same = counts(full, full)
    assert same and not any(same.values())
    assert counts(full, fewer)["sms_zh_mudou"] > 0
