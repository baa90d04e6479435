"""Shared pieces of the benchmarks: paths, memory, alternating timing, statistics, tables.

Kept apart from the scripts so that every benchmark measures and reports the same way
(the same "median and min–max over alternating rounds" on the same noisy 2-core VM).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _shared() -> Path:
    """`$SCENEC_SHARED_DIR`, else `../shared` next to the clone, else /work/shared."""
    if os.environ.get("SCENEC_SHARED_DIR"):
        return Path(os.environ["SCENEC_SHARED_DIR"])
    beside = REPO.parent / "shared"
    return beside if beside.is_dir() else Path("/work/shared")


SHARED = _shared()

Runner = Callable[[], object]


def scenec_runners(rs: Any, texts: list[str], senders: list[Any], batch: int,
                   names: tuple[str, str, str]) -> dict[str, Runner]:
    """scenec's three timed ways over one corpus, named `names`: one `match` call per
    message, and `match_many` over `batch`-sized chunks on 1 and on 2 threads."""
    chunks = [(texts[i:i + batch], senders[i:i + batch]) for i in range(0, len(texts), batch)]
    many = rs.match_many

    def batched(threads: int) -> Runner:
        return lambda: [many(t, s, threads=threads) for t, s in chunks]

    return {names[0]: match_runner(rs, texts, senders), names[1]: batched(1),
            names[2]: batched(2)}


def match_runner(rs: Any, texts: list[str], senders: list[Any]) -> Runner:
    """One `match` call per message over the corpus."""
    pairs = list(zip(texts, senders, strict=True))
    match = rs.match
    return lambda: [match(t, s) for t, s in pairs]


def require_core() -> None:
    """Fail early and clearly when scenec (with its compiled core) is not importable:
    without the core there is nothing worth timing."""
    try:
        import scenec.runtime._core  # noqa: F401
    except ImportError as exc:
        sys.exit(f"scenec's compiled core is not importable ({exc}).\n"
                 "Install it from the repository root: "
                 "pip install --no-build-isolation -e .")


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (no dependency needed on Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil

    return int(psutil.Process().memory_info().rss)


def log(msg: str) -> None:
    """Progress goes to stderr so that --json output on stdout stays one clean object."""
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Timing:
    """Wall times of the passes of one engine over the same `n` messages."""

    n: int
    times: list[float]

    @property
    def rates(self) -> list[float]:
        return [self.n / t for t in self.times]

    @property
    def median(self) -> float:
        return statistics.median(self.rates)

    @property
    def lo(self) -> float:
        return min(self.rates)

    @property
    def hi(self) -> float:
        return max(self.rates)

    @property
    def spread_pct(self) -> float:
        """(max - min) / median: how much this engine's passes disagreed (machine noise)."""
        return 100.0 * (self.hi - self.lo) / self.median

    def to_json(self) -> dict[str, object]:
        return {"msgs_per_s": round(self.median), "min": round(self.lo), "max": round(self.hi),
                "spread_pct": round(self.spread_pct, 1),
                "us_per_msg": round(1e6 / self.median, 3),
                "passes_s": [round(t, 4) for t in self.times]}


def time_once(run: Runner) -> float:
    """One timed pass; the result is kept until the clock stops (as a caller would)."""
    gc.collect()
    t0 = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - t0
    del result
    return elapsed


def alternate(engines: dict[str, Runner], rounds: int, n: int) -> dict[str, Timing]:
    """Every round runs every engine once, in the same order, so slow phases of the
    machine (other tenants, frequency changes) hit all engines alike."""
    out = {name: Timing(n, []) for name in engines}
    for r in range(rounds):
        for name, run in engines.items():
            out[name].times.append(time_once(run))
        log(f"  round {r + 1}/{rounds}: " + ", ".join(
            f"{k} {n / v.times[-1]:,.0f}/s" for k, v in out.items()))
    return out


def adaptive(run: Runner, min_total_s: float = 0.5, min_reps: int = 3,
             max_reps: int = 10_000) -> list[float]:
    """Repeat a short call until enough wall time has passed to trust the clock."""
    times: list[float] = []
    while len(times) < max_reps and (len(times) < min_reps or sum(times) < min_total_s):
        times.append(time_once(run) if not times else _time_nogc(run))
    return times


def _time_nogc(run: Runner) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def mb(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.1f} MB"


def width(s: str) -> int:
    """Display width in a terminal: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(width(r[i]) for r in cells) for i in range(len(headers))]

    def pad(c: str, w: int, left: bool) -> str:
        fill = " " * (w - width(c))
        return c + fill if left else fill + c

    def line(r: list[str]) -> str:
        return "  ".join(pad(c, w, i == 0) for i, (c, w) in enumerate(zip(r, widths, strict=True)))

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_info() -> dict[str, object]:
    """Enough about the machine to read the numbers later."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": model, "python": sys.version.split()[0]}


def load_probe(path: str) -> None:
    """Run in a fresh interpreter: the time and the RSS growth of `load` alone."""
    from scenec.runtime import load

    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    rs = load(path)
    load_s = time.perf_counter() - t0
    gc.collect()
    print(json.dumps({"load_s": load_s, "rss_mb": (rss_bytes() - rss0) / 2**20,
                      "stats": rs.stats()}))


def measure_load(artifact: str, probes: int = 3) -> dict[str, object]:
    """Median over fresh processes: a benchmark process that has compiled the rules and
    holds a corpus would reuse freed heap, so its own RSS deltas would mean little."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import benchutil; benchutil.load_probe({artifact!r})")
    runs = []
    for _ in range(probes):
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True).stdout
        runs.append(json.loads(out))
    return {"load_s": round(statistics.median(r["load_s"] for r in runs), 4),
            "rss_mb": round(statistics.median(r["rss_mb"] for r in runs), 1),
            "core_stats": runs[0]["stats"]}
