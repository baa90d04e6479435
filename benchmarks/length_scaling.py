"""Time per message as one message grows from 1 KB to 1 MB: is matching linear in length?

    python benchmarks/length_scaling.py [--sizes 1,10,100,1000] [--scale 10000] [--json]

Why: the design promises time linear in the message length for any rule set (no
backtracking). Real messages are short, so only a deliberately long one shows a
super-linear term. Two kinds of long message are built from corpus text (the shipped
rules get `sms_zh_bench.txt`, the synthetic workload its own corpus, so both match):

- *joined*: different messages end to end, so more scenes match as the text grows;
- *repeated*: one matching message over and over, so the set of matched scenes is fixed.

µs per KB should stay flat across sizes. The core column (scan + conditions only, through
the runtime's private `_core`) separates the compiled part from the Python finishing;
"py µs/match/KB" is the finishing cost per matched scene per KB (each matched scene runs
its extraction over the whole text), flat when that part is linear too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import workload as wl
from benchutil import REPO, SHARED, adaptive, log, require_core, table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1,10,100,1000", help="KB (1 KB = 1024 UTF-8 bytes)")
    ap.add_argument("--scale", type=int, default=10000, help="workload scenes (0: skip)")
    ap.add_argument("--rules", type=Path, default=REPO / "rules")
    ap.add_argument("--data", type=Path, default=SHARED / "data")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    a.kb = [int(x) for x in a.sizes.split(",") if x]
    return a


def long_text(pieces: Iterable[str], nbytes: int) -> str:
    """Messages joined by a space until `nbytes` UTF-8 bytes, cut at a character."""
    out: list[str] = []
    size = 0
    for p in pieces:
        out.append(p)
        size += len(p.encode("utf-8")) + 1
        if size >= nbytes:
            break
    text = " ".join(out)
    return text.encode("utf-8")[:nbytes].decode("utf-8", errors="ignore")


def cycle(texts: list[str]) -> Iterable[str]:
    while True:
        yield from texts


def sources(rs: Any, texts: list[str]) -> dict[str, list[str]]:
    """The pieces each kind of long message is made of."""
    first = next((t for t in texts if rs.match(t)), texts[0])
    return {"joined": texts, "repeated": [first]}


def rulesets(a: argparse.Namespace, tmp: Path) -> list[tuple[str, Any, list[str]]]:
    from scenec.compiler import compile_files

    real = (a.data / "sms_zh_bench.txt").read_text(encoding="utf-8").splitlines()
    out = [("shipped rules", compile_files([str(a.rules)]), real)]
    if a.scale:
        wl.ensure([a.scale])
        w = wl.load(a.scale)
        paths = wl.write_sources(w.rules, tmp / "src")
        out.append((f"workload {a.scale:,}", compile_files([str(p) for p in paths]), w.texts))
    return out


def measure(rs: Any, text: str) -> dict[str, Any]:
    """Median wall time of `match` on one message, and of the core's part alone."""
    core = rs._core  # private: only to split compiled work from Python finishing
    full = adaptive(lambda: rs.match(text))
    scan = adaptive(lambda: core.candidates(text, -1))
    return {"match_us": statistics.median(full) * 1e6, "core_us": statistics.median(scan) * 1e6,
            "matches": len(rs.match(text)), "reps": len(full)}


def run(a: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="scenec-length-") as tmp:
        sets = rulesets(a, Path(tmp))
    for name, rs, texts in sets:
        for kind, pieces in sources(rs, texts).items():
            for kb in a.kb:
                rows.append(row(name, kind, kb, rs, long_text(cycle(pieces), kb * 1024)))
    return rows


def row(name: str, kind: str, kb: int, rs: Any, text: str) -> dict[str, Any]:
    m = measure(rs, text)
    py_us = max(0.0, m["match_us"] - m["core_us"])
    m.update({"rules": name, "text": kind, "kb": kb, "chars": len(text),
              "match_us_per_kb": m["match_us"] / kb, "core_us_per_kb": m["core_us"] / kb,
              "py_us_per_match_kb": py_us / (m["matches"] * kb) if m["matches"] else None})
    log(f"  {name} {kind} {kb} KB: {m['match_us']:,.0f} µs, {m['matches']} matches")
    return m


def render(rows: list[dict[str, Any]]) -> str:
    body = [[r["rules"], r["text"], f"{r['kb']:,} KB", f"{r['chars']:,}",
             f"{r['match_us']:,.1f}", f"{r['match_us_per_kb']:,.2f}",
             f"{r['core_us_per_kb']:,.2f}", f"{r['matches']:,}",
             f"{r['py_us_per_match_kb']:,.2f}" if r["py_us_per_match_kb"] is not None else "—"]
            for r in rows]
    return table(["rules", "text", "size", "chars", "match µs", "match µs/KB", "core µs/KB",
                  "matches", "py µs/match/KB"], body)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    require_core()
    rows = run(a)
    print(json.dumps({"rows": rows}, ensure_ascii=False) if a.json else render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
