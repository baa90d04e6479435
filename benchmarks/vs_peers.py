"""scenec against the peers (ahocorasick-rs, hyperscan, pyahocorasick, re2, …) on the
shared synthetic workload, side by side in one process.

    python benchmarks/vs_peers.py [--scale 1000,10000,100000] [--sample N] [--rounds 5]
                                  [--peers ahocorasick-rs,hyperscan,pyahocorasick,re2]
                                  [--batch 1000] [--json] [--keep-going]

Why this shape:
- the workload and the ground truth are the peers' own (`shared/peers`), and the peers'
  classes are imported from there, so the comparison is with exactly what RESULTS.md
  measured;
- scenec's answers are checked against `truth_N.json` on every message before anything is
  timed: a fast wrong answer is not a result;
- all engines run in the same process and alternate round by round, so drift on this
  noisy VM hits all of them alike; medians and the min–max spread are reported.

Exit status: 0 when scenec's results are right, 1 when they differ from the truth in a
way that scenec's documented full-width folding does not explain (or in any way, with
--strict), 2 when the generated rules do not compile.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import workload as wl
from benchutil import (
    Runner,
    Timing,
    alternate,
    cpu_info,
    log,
    mb,
    measure_load,
    peak_rss_mb,
    require_core,
    rss_bytes,
    scenec_runners,
    table,
)

DEFAULT_PEERS = "ahocorasick-rs,hyperscan,pyahocorasick,re2"
SCENEC = ("scenec match", "scenec batch 1t", "scenec batch 2t")
FLOOR = "floor (no-op call)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", action="append", default=None,
                    help="scenes: 1000, 10000, 100000 (repeatable or comma list; default 1000)")
    ap.add_argument("--sample", type=int, default=None,
                    help="use the first N messages (default: all 100,000)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--peers", default=DEFAULT_PEERS, help="comma list; '' for none")
    ap.add_argument("--batch", type=int, default=1000, help="messages per match_many call")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--keep-going", action="store_true",
                    help="time scenec even when its results are wrong (still exits 1)")
    ap.add_argument("--no-freeze", action="store_true",
                    help="leave the setup's objects in the garbage collector while timing")
    ap.add_argument("--strict", action="store_true",
                    help="count differences explained by full-width folding as failures")
    a = ap.parse_args(argv)
    a.scales = sorted({int(x) for s in (a.scale or ["1000"]) for x in s.split(",") if x})
    a.peer_names = [p for p in a.peers.split(",") if p]
    return a


# --- scenec: translate, compile, load ------------------------------------------------------

def compile_scenec(w: wl.Workload, folder: Path) -> dict[str, Any]:
    """Translate, then build with `scenec build` in a fresh process: what a rule author
    waits for. (Built inside this process, which by 100k holds over a gigabyte of corpus,
    truth and peer tables, the same build took 4-5 s longer.)"""
    t0 = time.perf_counter()
    paths = wl.write_sources(w.rules, folder / "src")
    translate_s = time.perf_counter() - t0
    artifact = folder / f"workload_{w.scale}.scb"
    cmd = [sys.executable, "-m", "scenec.compiler.cli", "build", *map(str, paths),
           "-o", str(artifact), "--no-examples"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    compile_s = time.perf_counter() - t0
    if done.returncode != 0:
        print("\n".join((done.stderr + done.stdout).splitlines()[:40]), file=sys.stderr)
        sys.exit(2)
    return {"translate_s": round(translate_s, 3), "compile_s": round(compile_s, 3),
            "artifact": str(artifact), "artifact_bytes": artifact.stat().st_size,
            "source_bytes": sum(p.stat().st_size for p in paths),
            "warnings": done.stderr.count("warning[")}


# --- engines ------------------------------------------------------------------------------

def workload_runners(rs: Any, w: wl.Workload, batch: int) -> dict[str, Runner]:
    return scenec_runners(rs, w.texts, w.senders, batch, SCENEC)


def flatten(batches: list[list[list[Any]]]) -> list[list[Any]]:
    return [r for b in batches for r in b]


def load_peers(names: list[str], rules: wl.Rules) -> dict[str, tuple[Any, float, float]]:
    """name -> (peer object, build seconds, RSS growth MB); unimportable peers are skipped."""
    wl.use_peers_dir()
    import peers

    out = {}
    for name in names:
        try:
            cls = peers.get(name)
        except (ImportError, OSError) as exc:
            log(f"peer {name} is not importable ({exc}); skipped")
            continue
        gc.collect()
        rss0, t0 = rss_bytes(), time.perf_counter()
        obj = cls(rules)
        build_s = time.perf_counter() - t0
        gc.collect()
        out[name] = (obj, build_s, (rss_bytes() - rss0) / 2**20)
    return out


def check_peer_names(names: list[str]) -> None:
    """Fail on a typo before minutes of generation and compilation, not after."""
    wl.use_peers_dir()
    import peers

    unknown = [n for n in names if n not in peers.PEERS]
    if unknown:
        sys.exit(f"unknown peer(s) {unknown}; known: {', '.join(peers.PEERS)}")


def peer_runner(peer: Any, w: wl.Workload) -> Runner:
    msgs, match = w.corpus, peer.match
    return lambda: [match(t, s) for s, t in msgs]


def floor_runner(w: wl.Workload) -> Runner:
    """A no-op call per message: the Python floor, and a noise gauge every round."""
    msgs = w.corpus

    def noop(text: str, sender: str) -> list[Any]:
        return []

    return lambda: [noop(t, s) for s, t in msgs]


# --- correctness ----------------------------------------------------------------------------

def check(name: str, got: list[list[Any]], w: wl.Workload,
          to_pairs: Callable[[list[Any]], list[wl.Pair]]) -> dict[str, Any]:
    """Compare with the truth; differences that folding explains are counted apart."""
    pairs = [to_pairs(r) for r in got]
    bad = wl.mismatches(pairs, w.truth)
    folded: list[int] = []
    if bad and name.startswith("scenec"):
        judge = wl.FoldJudge(w.rules)
        folded = [i for i in bad if judge.explains(*w.corpus[i], pairs[i], w.truth[i])]
    explained = set(folded)
    unexplained = [i for i in bad if i not in explained]
    examples = [{"msg": i, "sender": w.corpus[i][0], "text": w.corpus[i][1],
                 "expected": w.truth[i], "got": pairs[i]} for i in (unexplained or bad)[:5]]
    return {"correct": not bad, "checked": len(pairs), "mismatches": len(bad),
            "explained_by_folding": len(folded), "unexplained": len(unexplained),
            "examples": examples}


def report_check(name: str, c: dict[str, Any]) -> None:
    if c["correct"]:
        log(f"  {name}: exact on {c['checked']:,} messages")
        return
    log(f"  {name}: {c['mismatches']:,} of {c['checked']:,} messages differ from the truth "
        f"({c['explained_by_folding']:,} explained by full-width folding)")
    for e in c["examples"][:3]:
        exp = dict(e["expected"])
        got = dict(e["got"])
        log(f"    msg {e['msg']} sender={e['sender']}: {e['text'][:160]}")
        log(f"      missing {[(k, v) for k, v in exp.items() if got.get(k, '∅') != v]}"
            f"  extra/wrong {[(k, v) for k, v in got.items() if exp.get(k, '∅') != v]}")


def warm_and_check(runners: dict[str, Runner], w: wl.Workload, fields: list[str],
                   peer_names: set[str]) -> dict[str, dict[str, Any]]:
    """One untimed pass per engine: warms lazy state (RE2 DFAs, scene runners) and gives
    the results that are compared with the truth."""
    out = {}
    for name, run in runners.items():
        if name == FLOOR:
            continue
        got = run()
        if name in (SCENEC[1], SCENEC[2]):
            got = flatten(got)  # type: ignore[arg-type]
        conv: Callable[[list[Any]], list[wl.Pair]] = (
            wl.normalize if name in peer_names else (lambda r: wl.scenec_pairs(r, fields)))
        out[name] = check(name, got, w, conv)  # type: ignore[arg-type]
        report_check(name, out[name])
        del got
    return out


# --- one scale --------------------------------------------------------------------------------

def run_scale(scale: int, a: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from scenec.runtime import load

    w = wl.load(scale, a.sample)
    log(f"== {scale:,} scenes, {len(w.corpus):,} messages ==")
    info = compile_scenec(w, tmp / str(scale))
    log(f"  compiled in {info['compile_s']:.2f} s, artifact {mb(info['artifact_bytes'])}")
    info.update(measure_load(info["artifact"]))
    rs = load(info["artifact"])
    runners = workload_runners(rs, w, a.batch)
    peer_objs = load_peers(a.peer_names, w.rules)
    runners.update({n: peer_runner(p[0], w) for n, p in peer_objs.items()})
    runners[FLOOR] = floor_runner(w)
    checks = warm_and_check(runners, w, wl.field_names(w.rules), set(peer_objs))
    failed = any(not checks[n]["correct"] and (a.strict or checks[n]["unexplained"])
                 for n in SCENEC)
    if failed and not a.keep_going:
        log("scenec's results are wrong: not timing anything (use --keep-going to time anyway)")
        return {"scale": scale, "failed": True, "scenec": info, "checks": checks}
    timings = timed(runners, a, len(w.corpus))
    out = summarise(scale, w, info, peer_objs, checks, timings, failed)
    out["memory"] = memory_probes(info["artifact"], scale, a.sample, out["best_peer"])
    return out


_WARM_PROBE = """
import gc, json, sys
sys.path.insert(0, {bench!r})
import workload as wl
from benchutil import rss_bytes
from scenec.runtime import load
w = wl.load({scale}, {sample})
msgs = w.corpus
gc.collect(); r0 = rss_bytes()
rs = load({artifact!r})
gc.collect(); r1 = rss_bytes()
for s, t in msgs:
    rs.match(t, s)
gc.collect(); r2 = rss_bytes()
print(json.dumps({{"after_load_mb": (r1 - r0) / 2**20, "after_warm_mb": (r2 - r0) / 2**20}}))
"""

_PEER_PROBE = """
import gc, json, sys, time
sys.path.insert(0, {bench!r})
import workload as wl
wl.use_peers_dir()
import peers
from benchutil import rss_bytes
from common import load_rules
cls = peers.get({name!r})
rules = load_rules({scale})
gc.collect(); r0 = rss_bytes(); t0 = time.perf_counter()
obj = cls(rules)
build_s = time.perf_counter() - t0
gc.collect()
print(json.dumps({{"build_mb": (rss_bytes() - r0) / 2**20, "build_s": build_s}}))
"""


def memory_probes(artifact: str, scale: int, sample: int | None,
                  best: str | None) -> dict[str, Any]:
    """RSS growth in fresh processes (the benchmark's own heap would hide it): scenec
    after `load` and after matching the sample once (lazily built scene runners and RE2
    objects), and the best peer after its build from the loaded rules (as the peers'
    `mem_only.py` measures it)."""
    bench = str(Path(__file__).parent)
    out: dict[str, Any] = {}
    try:
        out["scenec"] = _probe(_WARM_PROBE.format(bench=bench, scale=scale, sample=sample,
                                                  artifact=artifact))
        if best:
            out["best_peer"] = {"name": best, **_probe(_PEER_PROBE.format(
                bench=bench, name=best, scale=scale))}
            out["ratio_after_load"] = round(
                out["scenec"]["after_load_mb"] / out["best_peer"]["build_mb"], 2)
            out["ratio_after_warm"] = round(
                out["scenec"]["after_warm_mb"] / out["best_peer"]["build_mb"], 2)
    except (subprocess.CalledProcessError, ValueError, ZeroDivisionError) as exc:
        log(f"  memory probe failed: {exc}")
    return out


def _probe(code: str) -> dict[str, float]:
    res = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True)
    return {k: round(v, 1) if k.endswith("_mb") else round(v, 3)
            for k, v in json.loads(res.stdout.strip().splitlines()[-1]).items()}


def timed(runners: dict[str, Runner], a: argparse.Namespace, n: int) -> dict[str, Timing]:
    """The alternating rounds, with everything built so far frozen out of the collector.

    The process holds the corpus, the truth, the rules dict and every engine's tables
    (millions of objects at 100k). Left in the collector, each full collection triggered
    by the timed loops' own allocations walks all of them: a no-op call then costs 1.3 µs
    instead of 0.15 µs, and the engines' differences drown in the harness's. A service
    holds one engine; `gc.freeze()` (unless --no-freeze) makes the collector see only what
    the timed passes allocate, for every engine alike.
    """
    if not a.no_freeze:
        gc.collect()
        gc.freeze()
    try:
        return alternate(runners, a.rounds, n)
    finally:
        if not a.no_freeze:
            gc.unfreeze()


def summarise(scale: int, w: wl.Workload, info: dict[str, Any],
              peer_objs: dict[str, tuple[Any, float, float]], checks: dict[str, Any],
              timings: dict[str, Timing], failed: bool) -> dict[str, Any]:
    engines: dict[str, Any] = {}
    for name, t in timings.items():
        e = t.to_json()
        if name in checks:
            e.update({k: checks[name][k] for k in ("correct", "mismatches",
                                                    "explained_by_folding")})
        if name in peer_objs:
            e["build_s"] = round(peer_objs[name][1], 3)
            e["rss_mb_in_process"] = round(peer_objs[name][2], 1)
        engines[name] = e
    peers = [n for n in peer_objs if n in timings]
    best = max(peers, key=lambda n: timings[n].median) if peers else None
    ratio = {n: round(timings[n].median / timings[best].median, 2)
             for n in timings if best and n != FLOOR}
    spreads = [t.spread_pct for n, t in timings.items()]
    return {
        "scale": scale, "messages": len(w.corpus), "rounds": len(timings[SCENEC[0]].times),
        "failed": failed, "scenec": info, "engines": engines, "best_peer": best,
        "ratio_vs_best_peer": ratio,
        "noise": {"floor_spread_pct": round(timings[FLOOR].spread_pct, 1),
                  "median_spread_pct": round(statistics.median(spreads), 1),
                  "max_spread_pct": round(max(spreads), 1)},
        "examples": {n: c["examples"] for n, c in checks.items() if not c["correct"]},
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


# --- output -----------------------------------------------------------------------------------

JSON_NAMES = {SCENEC[0]: "scenec", SCENEC[1]: "scenec_batch_1t", SCENEC[2]: "scenec_batch_2t",
              FLOOR: "floor"}


def json_view(r: dict[str, Any]) -> dict[str, Any]:
    """The JSON shape: scenec as one engine whose batch figures sit under `batch`."""
    if "engines" not in r:
        return r
    eng = {JSON_NAMES.get(k, k): v for k, v in r["engines"].items()}
    sc = eng.pop("scenec")
    sc["batch"] = {"threads_1": eng.pop("scenec_batch_1t"),
                   "threads_2": eng.pop("scenec_batch_2t")}
    s = r["scenec"]
    return {
        "scale": r["scale"], "messages": r["messages"], "rounds": r["rounds"],
        "failed": r["failed"], "compile_s": s["compile_s"], "translate_s": s["translate_s"],
        "load_s": s["load_s"], "artifact_bytes": s["artifact_bytes"], "rss_mb": s["rss_mb"],
        "source_bytes": s["source_bytes"], "warnings": s["warnings"],
        "core_stats": s["core_stats"], "engines": {"scenec": sc, **eng},
        "best_peer": r["best_peer"],
        "ratio_vs_best_peer": {JSON_NAMES.get(k, k): v
                               for k, v in r["ratio_vs_best_peer"].items()},
        "noise": r["noise"], "mismatch_examples": r["examples"],
        "peak_rss_mb": r["peak_rss_mb"], "memory": r.get("memory", {}),
    }


def check_cell(e: dict[str, Any]) -> str:
    if "correct" not in e:
        return "n/a"
    if e["correct"]:
        return "exact"
    return f"{e['mismatches']} wrong ({e['explained_by_folding']} folding)"


def render(r: dict[str, Any]) -> str:
    s = r["scenec"]
    head = (f"\n== {r['scale']:,} scenes · {r['messages']:,} messages · {r['rounds']} rounds ==\n"
            f"scenec: compile {s['compile_s']:.2f} s (translate {s['translate_s']:.2f} s) · "
            f"artifact {mb(s['artifact_bytes'])} · load {s['load_s'] * 1e3:.1f} ms · "
            f"RSS +{s['rss_mb']:.1f} MB after load · {s['warnings']} warnings")
    rows = []
    for name, e in r["engines"].items():
        ratio = r["ratio_vs_best_peer"].get(name)
        rows.append([name, f"{e['msgs_per_s']:,}", f"{e['min']:,}–{e['max']:,}",
                     f"{e['spread_pct']:.0f}%", f"{e['us_per_msg']:.2f}",
                     f"{ratio:.2f}×" if ratio is not None else "",
                     f"{e['build_s']:.2f}" if "build_s" in e else "", check_cell(e)])
    t = table(["engine", "msgs/s (median)", "min–max", "spread", "µs/msg",
               f"vs {r['best_peer']}", "build s", "results"], rows)
    n = r["noise"]
    mem = r.get("memory", {})
    if "best_peer" in mem:
        head += (f"\nmemory (fresh processes): scenec +{mem['scenec']['after_load_mb']:.1f} MB "
                 f"after load, +{mem['scenec']['after_warm_mb']:.1f} MB after matching the "
                 f"sample once; {mem['best_peer']['name']} +{mem['best_peer']['build_mb']:.1f}"
                 f" MB after build ({mem['ratio_after_load']:.2f}× / "
                 f"{mem['ratio_after_warm']:.2f}×)")
    tail = (f"machine noise: floor spread {n['floor_spread_pct']:.0f}%, engines median "
            f"{n['median_spread_pct']:.0f}% / max {n['max_spread_pct']:.0f}% (min–max over "
            f"rounds); differences under ~15% are not meaningful on this VM")
    return "\n".join([head, t, tail])


def summary(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        if "engines" not in r:
            continue
        e, s, ratio = r["engines"], r["scenec"], r["ratio_vs_best_peer"]
        best = r["best_peer"]
        rows.append([f"{r['scale']:,}", *(f"{e[n]['msgs_per_s']:,} ({ratio.get(n, 0):.2f}×)"
                                          for n in SCENEC),
                     f"{best} {e[best]['msgs_per_s']:,}" if best else "—",
                     f"{s['compile_s']:.1f} s", mb(s["artifact_bytes"]),
                     f"{s['load_s'] * 1e3:.0f} ms", f"{s['rss_mb']:.1f} MB"])
    return "\n" + table(["scenes", *SCENEC, "best peer msgs/s", "compile", "artifact", "load",
                         "RSS"], rows)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    require_core()
    check_peer_names(a.peer_names)
    wl.ensure(a.scales)
    results = []
    with tempfile.TemporaryDirectory(prefix="scenec-vs-peers-") as tmp:
        for scale in a.scales:
            r = run_scale(scale, a, Path(tmp))
            results.append(r)
            if not a.json and "engines" in r:
                print(render(r), flush=True)
            gc.collect()
    if a.json:
        print(json.dumps({"machine": cpu_info(), "sample": a.sample, "rounds": a.rounds,
                          "batch": a.batch, "scales": [json_view(r) for r in results]},
                         ensure_ascii=False))
    elif len(results) > 1:
        print(summary(results))
    return 1 if any(r["failed"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
