"""Where the time of one `match` goes, per message, on the peers' workload.

    python benchmarks/breakdown.py --artifact A.scb --scale 100000 [--sample 20000] [--rounds 5]

Stages, each timed over the same messages in alternating rounds (median µs/message):

- `floor`: a no-op Python call per message (what any Python API costs);
- `core`: the compiled core alone (`Ruleset._core.candidates`: scan, anchors, condition
  programs), called from Python;
- `match`: the public call; `match - core` is the Python-side finishing (extraction,
  result objects, bookkeeping), also shown per matched scene.

Only `_core.candidates`, `_senders` and `match` are used, which every version of the
runtime has, so the same script measures a build from before and after an optimisation
on the same artifact (run it with each installation's interpreter). The artifact comes
from `vs_peers.py` or `scenec build` of `workload.write_sources` output.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from typing import Any

import workload as wl
from benchutil import log


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifact", required=True)
    ap.add_argument("--scale", type=int, required=True)
    ap.add_argument("--sample", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args(argv)
    from scenec.runtime import load

    w = wl.load(a.scale, a.sample)
    t0 = time.perf_counter()
    rs = load(a.artifact)
    load_s = time.perf_counter() - t0
    msgs = w.corpus
    lits = [rs._senders.get(s, -1) for s, _ in msgs]
    core, match = rs._core.candidates, rs.match
    nmatch = sum(len(match(t, s)) for s, t in msgs)  # also warms runners and RE2 objects

    def noop(text: str, sender: str) -> list[Any]:
        return []

    stages = {
        "floor": lambda: [noop(t, s) for s, t in msgs],
        "core": lambda: [core(t, lit) for (_, t), lit in zip(msgs, lits, strict=True)],
        "match": lambda: [match(t, s) for s, t in msgs],
    }
    times: dict[str, list[float]] = {k: [] for k in stages}
    gc.collect()
    gc.freeze()
    for _ in range(a.rounds):
        for name, run in stages.items():
            gc.collect()
            t0 = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - t0) / len(msgs) * 1e6)
    us = {k: statistics.median(v) for k, v in times.items()}
    per_msg = nmatch / len(msgs)
    out = {"scale": a.scale, "messages": len(msgs), "rounds": a.rounds,
           "load_s": round(load_s, 3), "matches_per_msg": round(per_msg, 3),
           **{f"{k}_us": round(v, 2) for k, v in us.items()},
           "finish_us": round(us["match"] - us["core"], 2),
           "finish_us_per_match": round((us["match"] - us["core"]) / per_msg, 2),
           "spread_pct": {k: round(100 * (max(v) - min(v)) / statistics.median(v), 1)
                          for k, v in times.items()}}
    log(f"{a.scale:,} scenes: " + ", ".join(f"{k} {v}" for k, v in out.items()
                                            if k.endswith("_us") or k == "load_s"))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
