"""A/B: time builds of scenec from different git revisions on the same artifact.

    python benchmarks/ab_variants.py --scale 1000 --rounds 6 HEAD~1 HEAD
    python benchmarks/ab_variants.py --real --rounds 5 HEAD~3 WORKTREE

On this shared VM the same code measures up to ~15% apart from one process to the next, so
comparing two changes by two separate runs says little. This script builds each revision
in its own folder (a detached `git worktree`, the Cython core compiled in place;
`WORKTREE` is the current checkout as it is, uncommitted changes included), then times
them in alternating fresh processes, round after round, and reports medians. The artifact
is built once, by the installed scenec, and every revision reads it: use revisions whose
artifact format agrees (a mismatch is refused at load, with a message).

Per message it reports the compiled core alone (`Core.candidates`: scan, anchors,
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

CHILD = r"""
import gc, json, sys, time
import scenec
from scenec.runtime import load
artifact, corpus_path, batch, folder = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
assert scenec.__file__.startswith(folder), scenec.__file__   # the variant, not the install
rs = load(artifact)
pairs = json.load(open(corpus_path, encoding="utf-8"))
texts = [t for _, t in pairs]
senders = [s for s, _ in pairs]
lits = [rs._senders.get(s, -1) if s is not None else -1 for s in senders]
cand, match = rs._core.candidates, rs.match
for s, t in pairs:
    match(t, s)
gc.collect()
gc.freeze()

def best(run):
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times) / len(pairs) * 1e6

out = {"core": best(lambda: [cand(t, l) for t, l in zip(texts, lits)]),
       "match": best(lambda: [match(t, s) for s, t in pairs])}
if batch:
    for n in (1, 2):
        out[f"batch_{n}t"] = best(lambda: [rs.match_many(texts[k:k + 1000], senders[k:k + 1000],
                                                         threads=n)
                                           for k in range(0, len(texts), 1000)])
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
            res = measure(pkgs, artifact, corpus, a)
    finally:  # the worktrees' folders are gone now; drop git's records of them
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)
    print(f"µs per message, median of {a.rounds} alternating fresh processes "
          f"({'real SMS' if a.real else f'{a.scale:,} scenes'}, {a.sample:,} messages)")
    for rev, d in res.items():
        print(f"{rev:>14}  " + "  ".join(f"{k} {statistics.median(v):.3f}" for k, v in d.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
