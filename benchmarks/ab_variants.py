"""A/B: time builds of scenec from different git revisions on the same artifact.

    python benchmarks/ab_variants.py --scale 1000 --rounds 6 HEAD~1 HEAD
    python benchmarks/ab_variants.py --real --rounds 5 HEAD~3 WORKTREE
    python benchmarks/ab_variants.py --scale 100000 --rounds 15 --one-process HEAD~1 HEAD

On this shared VM the same code measures up to ~15% apart from one process to the next, so
comparing two changes by two separate runs says little. This script builds each revision
in its own folder (a detached `git worktree`, the Cython core compiled in place;
`WORKTREE` is the current checkout as it is, uncommitted changes included), then times
them in alternating fresh processes, round after round, and reports medians. The artifact
is built once, by the installed scenec, and every revision reads it: use revisions whose
artifact format agrees (a mismatch is refused at load, with a message).

With `--one-process` every variant is imported into one process instead (each from its
own folder) and the variants alternate within each round: the same heap and the same
phase of the host for all, which tells a few percent apart where separate processes
cannot. Per message it reports the compiled core alone (`Core.candidates`: scan, anchors,
programs), a full `match` (results dropped), and, with `--batch`, `match_many` on 1 and
2 threads (results kept, batches of 1,000).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import benchutil as bu
import workload as wl

ROOT = Path(__file__).resolve().parent.parent
REAL_CORPUS = ROOT.parent / "shared" / "data" / "sms_zh_bench.txt"

WAYS = r"""
import gc, importlib, json, sys, time

def ways(rs, pairs, batch):
    # The timed ways of one variant over the corpus: name -> a pass over every message.
    texts = [t for _, t in pairs]
    senders = [s for s, _ in pairs]
    lits = [rs._senders.get(s, -1) if s is not None else -1 for s in senders]
    cand, match = rs._core.candidates, rs.match
    for s, t in pairs:
        match(t, s)
    out = {"core": lambda: [cand(t, l) for t, l in zip(texts, lits)],
           "match": lambda: [match(t, s) for s, t in pairs]}
    if batch:
        for n in (1, 2):
            out[f"batch_{n}t"] = lambda n=n: [
                rs.match_many(texts[k:k + 1000], senders[k:k + 1000], threads=n)
                for k in range(0, len(texts), 1000)]
    return out

def per_message(run, n):
    t0 = time.perf_counter()
    run()
    return (time.perf_counter() - t0) / n * 1e6
"""

CHILD = WAYS + r"""
import scenec
from scenec.runtime import load
artifact, corpus_path, batch, folder = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
assert scenec.__file__.startswith(folder), scenec.__file__   # the variant, not the install
pairs = json.load(open(corpus_path, encoding="utf-8"))
timed = ways(load(artifact), pairs, batch)
gc.collect()
gc.freeze()
print(json.dumps({k: min(per_message(run, len(pairs)) for _ in range(3))
                  for k, run in timed.items()}))
"""

# --one-process: every variant imported into one process (each from its own folder, the
# `scenec` modules of the one before dropped first), then timed in alternating rounds.
ONE_PROCESS = WAYS + r"""
artifact, corpus_path, batch = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
rounds, folders = int(sys.argv[4]), sys.argv[5:]
pairs = json.load(open(corpus_path, encoding="utf-8"))
variants = []
for folder in folders:
    for name in [m for m in sys.modules if m == "scenec" or m.startswith("scenec.")]:
        del sys.modules[name]
    sys.path.insert(0, folder)
    runtime = importlib.import_module("scenec.runtime")
    sys.path.remove(folder)
    assert runtime.__file__.startswith(folder), runtime.__file__
    variants.append(ways(runtime.load(artifact), pairs, batch))
gc.collect()
gc.freeze()
out = [{} for _ in folders]
for _ in range(rounds):
    for k, timed in enumerate(variants):
        for name, run in timed.items():
            out[k].setdefault(name, []).append(per_message(run, len(pairs)))
print(json.dumps(out))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("revisions", nargs="+", help="git revisions, or WORKTREE for the checkout")
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--scale", type=int, help="the peers' workload at this scale")
    which.add_argument("--real", action="store_true", help="rules/ on shared/data's real SMS")
    ap.add_argument("--sample", type=int, default=20000, help="messages (default 20,000)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--batch", action="store_true", help="also time match_many (1 and 2 threads)")
    ap.add_argument("--one-process", action="store_true",
                    help="time every variant in one process, alternating within each round "
                         "(steadier than fresh processes when the host is noisy)")
    return ap.parse_args(argv)


def checkout(rev: str, index: int, tmp: Path) -> Path:
    """A folder whose `scenec` package is `rev` with its core built in place."""
    src = ROOT if rev == "WORKTREE" else tmp / f"src-{index}"
    if rev != "WORKTREE":
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(src),
                        rev], check=True, capture_output=True)
    build = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-q"],
                           cwd=src, capture_output=True, text=True)
    if build.returncode:
        sys.exit(f"building {rev} failed:\n{build.stderr[-2000:]}")
    pkg = tmp / f"pkg-{index}"
    (pkg / "scenec").mkdir(parents=True)
    (pkg / "scenec" / "__init__.py").write_text("")
    for part in ("dsl", "compiler", "runtime"):
        (pkg / "scenec" / part).symlink_to(src / part)
    return pkg


def inputs(a: argparse.Namespace, tmp: Path) -> tuple[Path, Path]:
    """(artifact, corpus JSON of [sender, text] pairs), built with the installed scenec."""
    if a.real:
        texts = REAL_CORPUS.read_text(encoding="utf-8").splitlines()[: a.sample]
        pairs: list[list[str | None]] = [[None, t] for t in texts]
        sources = [ROOT / "rules"]
    else:
        w = wl.load(a.scale, a.sample)
        pairs = [[s, t] for s, t in w.corpus]
        sources = wl.write_sources(w.rules, tmp / "src")
    artifact, corpus = tmp / "ab.scb", tmp / "corpus.json"
    corpus.write_text(json.dumps(pairs, ensure_ascii=False), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "scenec.compiler.cli", "build", *map(str, sources),
                    "-o", str(artifact), "--no-examples"], check=True, capture_output=True)
    return artifact, corpus


def measure_together(pkgs: dict[str, Path], artifact: Path, corpus: Path,
                     a: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Every variant in one process, alternating within each round: the same heap, the
    same host phase for all, so a few percent can be told apart."""
    out = subprocess.run([sys.executable, "-c", ONE_PROCESS, str(artifact), str(corpus),
                          "1" if a.batch else "0", str(a.rounds), *map(str, pkgs.values())],
                         capture_output=True, text=True, cwd=next(iter(pkgs.values())))
    if out.returncode:
        sys.exit(f"the one-process run failed:\n{out.stderr[-2000:]}")
    return dict(zip(pkgs, json.loads(out.stdout), strict=True))


def measure(pkgs: dict[str, Path], artifact: Path, corpus: Path,
            a: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Alternate the variants, one fresh process each, round after round."""
    res: dict[str, dict[str, list[float]]] = {rev: {} for rev in pkgs}
    for r in range(a.rounds):
        for rev, pkg in pkgs.items():
            env = {**os.environ, "PYTHONPATH": str(pkg)}
            out = subprocess.run([sys.executable, "-c", CHILD, str(artifact), str(corpus),
                                  "1" if a.batch else "0", str(pkg)],
                                 env=env, capture_output=True, text=True, cwd=pkg)
            if out.returncode:
                sys.exit(f"{rev} failed:\n{out.stderr[-2000:]}")
            for k, v in json.loads(out.stdout).items():
                res[rev].setdefault(k, []).append(v)
        bu.log(f"  round {r + 1}/{a.rounds} done")
    return res


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="scenec-ab-") as t:
            tmp = Path(t)
            pkgs = {rev: checkout(rev, i, tmp) for i, rev in enumerate(a.revisions)}
            artifact, corpus = inputs(a, tmp)
            res = (measure_together if a.one_process else measure)(pkgs, artifact, corpus, a)
    finally:  # the worktrees' folders are gone now; drop git's records of them
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)
    how = "rounds in one process" if a.one_process else "alternating fresh processes"
    print(f"µs per message, median of {a.rounds} {how} "
          f"({'real SMS' if a.real else f'{a.scale:,} scenes'}, {a.sample:,} messages)")
    for rev, d in res.items():
        print(f"{rev:>14}  " + "  ".join(f"{k} {statistics.median(v):.3f}" for k, v in d.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
