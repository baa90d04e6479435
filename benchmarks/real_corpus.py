"""The shipped rule library (`rules/`) over the real SMS in `shared/data`: how fast, how
much of the traffic it recognises, and what it leaves unrecognised.

    python benchmarks/real_corpus.py [--data ../shared/data] [--rules rules/] [--rounds 5]
                                     [--batch 1000] [--top 30] [--json | --markdown]
    python benchmarks/real_corpus.py --compare before.scb after.scb [--rounds 9]
    python benchmarks/real_corpus.py --diff before.scb after.scb [--show 50]

Why: the synthetic peer workload says how the engine scales; only real text says what
a user gets. The most frequent unmatched message *shapes* (【signature】 removed, names in
salutations, URLs, codes and numbers replaced; the first 16 characters, or 5 words of an
English message) are printed with a normalised example, so that the next scenes are
chosen by data. `--compare` times `match` for several built artifacts alternating in one
process on the same corpora, which is how a rule change's cost is told apart from the
host's drift (separate runs on this VM differ by more than most rule changes cost).
`--diff` lists every real message whose best match (scene and fields) differs between
two artifacts, with a count per corpus: a rule change must move only what it meant to.
Coverage counts each message's best match by category (top level, second
level, leaf) and separately the share matched by a non-marketing (service) scene.
Throughput is measured on `sms_zh_bench.txt` (the designated throughput corpus: real
enterprise and marketing SMS), on the Indian bank SMS (English, with their sender IDs:
the library's English scenes take a slower path) and on all TSV messages together.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchutil import (
    REPO,
    SHARED,
    Runner,
    Timing,
    alternate,
    cpu_info,
    log,
    match_runner,
    mb,
    measure_load,
    require_core,
    scenec_runners,
    table,
)

BENCH_FILE = "sms_zh_bench.txt"
ENGLISH = "sms_en_india_bank"  # also timed: real English notifications
SHAPE_CHARS = 16  # CJK characters kept of a Chinese shape
SHAPE_WORDS = 5   # words kept of a Latin-script shape
SHAPE_EXAMPLE = 48  # characters of the normalised example shown next to a shape
_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_SIGNATURE = re.compile(r"【[^【】]*】|^\[[^\[\]]{1,16}\]|\[[^\[\]]{1,16}\]$")
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9.-]+\.(?:cn|com|net)(?:/\S*)?", re.I)
# Codes, order and reference numbers: a run of letters and digits with at least one digit.
_MIXED = re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z]*\d)[A-Za-z0-9*]*\d[A-Za-z0-9*]*")
_MASKED = re.compile(r"[Xx*]{2,}\d*")  # XXXX1234 account tails; the 80w set's x-masked digits
_DIGITS = re.compile(r"\d+(?:[.,:]\d+)*")
# Personal names in salutations: 尊敬的王小明先生 / 陈女士 / Dear RAHUL KUMAR, / Hi Amit,
_ZH_NAME = re.compile(r"(尊敬的|亲爱的|您好[,，]?)?[\u4e00-\u9fff]{1,3}(先生|女士|小姐)")
_EN_NAME = re.compile(r"\b(Dear|Hi|Hello|Hey)[ ,]+(?!Customer|customer|User|user|Sir|Member)"
                      r"[A-Za-z][A-Za-z.]*(?: [A-Z][A-Za-z.]*)*", re.I)
_SPACE = re.compile(r"\s+")


@dataclass
class Corpus:
    name: str
    texts: list[str]
    senders: list[str | None] | None  # only the Indian bank set has sender ids


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=SHARED / "data")
    ap.add_argument("--rules", type=Path, default=REPO / "rules")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1000, help="messages per match_many call")
    ap.add_argument("--top", type=int, default=30, help="unmatched shapes to list")
    ap.add_argument("--shapes", default="sms_zh_mudou,sms_en_india_bank",
                    help="corpora whose unmatched shapes are listed (comma list); the default "
                         "are the two with real notifications (the others are chat, web text "
                         "and spam)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--markdown", action="store_true",
                    help="print only the coverage table of rules/README.md (no timing)")
    ap.add_argument("--compare", nargs="+", type=Path, metavar="ARTIFACT",
                    help="time `match` for these artifacts in one process (µs a message)")
    ap.add_argument("--diff", nargs=2, type=Path, metavar="ARTIFACT",
                    help="list the messages whose best match differs between two artifacts")
    ap.add_argument("--show", type=int, default=50,
                    help="differing messages printed per corpus with --diff")
    return ap.parse_args(argv)


def read_corpora(data: Path) -> list[Corpus]:
    """The throughput file plus every TSV, read with the data folder's own reader."""
    lines = (data / BENCH_FILE).read_text(encoding="utf-8").splitlines()
    out = [Corpus(Path(BENCH_FILE).stem, [t for t in lines if t], None)]
    sys.path.insert(0, str(data))
    from prepare import read_tsv

    for path in sorted(data.glob("*.tsv")):
        rows = read_tsv(path)
        senders = [r.get("sender") or None for r in rows] if rows and "sender" in rows[0] \
            else None
        out.append(Corpus(path.stem, [r["text"] for r in rows], senders))
    return out


def all_tsv(corpora: Sequence[Corpus]) -> Corpus:
    """Every distinct real message once (the bench file repeats TSV rows)."""
    texts: list[str] = []
    senders: list[str | None] = []
    for c in corpora[1:]:
        texts.extend(c.texts)
        senders.extend(c.senders or [None] * len(c.texts))
    return Corpus("all_tsv", texts, senders)


def compile_rules(rules: Path, tmp: Path) -> tuple[Any, dict[str, Any]]:
    from scenec.compiler import build
    from scenec.runtime import load

    artifact = tmp / "rules.scb"
    t0 = time.perf_counter()
    result = build([str(rules)], str(artifact), run_examples=False)
    compile_s = time.perf_counter() - t0
    if not result.ok:
        print("\n".join(result.rendered()[:40]), file=sys.stderr)
        sys.exit(2)
    info: dict[str, Any] = {"compile_s": round(compile_s, 3),
                            "artifact_bytes": artifact.stat().st_size,
                            "warnings": len(result.diagnostics.warnings)}
    info.update(measure_load(str(artifact)))
    rs = load(str(artifact))
    info["scenes"] = len(rs)
    return rs, info


# --- speed --------------------------------------------------------------------------------

def runners(rs: Any, c: Corpus, batch: int) -> dict[str, Runner]:
    names = (f"{c.name} match", f"{c.name} batch 1t", f"{c.name} batch 2t")
    return scenec_runners(rs, c.texts, c.senders or [None] * len(c.texts), batch, names)


def speed(rs: Any, timed: Sequence[Corpus], rounds: int, batch: int) -> dict[str, Timing]:
    engines: dict[str, Runner] = {}
    for c in timed:
        engines.update(runners(rs, c, batch))
    for run in engines.values():
        run()  # warm: scene runners and RE2 patterns are built on first use
    out: dict[str, Timing] = {}
    for c in timed:  # alternate within a corpus; message counts differ between corpora
        part = {k: v for k, v in engines.items() if k.startswith(c.name + " ")}
        out.update(alternate(part, rounds, len(c.texts)))
    return out


# --- coverage -----------------------------------------------------------------------------

def coverage(results: list[list[Any]]) -> dict[str, Any]:
    """Share matched, and the category of each message's best (first-ranked) match."""
    matched = [r for r in results if r]
    full = Counter(r[0].category or "(none)" for r in matched)
    top = Counter(k.split(".")[0] for k in full.elements())
    second = Counter(".".join(k.split(".")[:2]) for k in full.elements())
    service = len(matched) - top.get("marketing", 0)
    n = len(results)
    return {"messages": n, "matched": len(matched),
            "matched_share": round(len(matched) / n, 4) if n else 0.0,
            "service_matched": service,
            "service_share": round(service / n, 4) if n else 0.0,
            "matches_per_matched": round(sum(map(len, matched)) / max(1, len(matched)), 2),
            "top_categories": dict(top.most_common()),
            "second_categories": dict(second.most_common()),
            "categories": dict(full.most_common())}


def normalise(text: str) -> str:
    """A message with its variable parts replaced, so that messages of one template look
    alike: no 【signature】, URLs → <url>, names in salutations → 某 / <name>, masked tails,
    codes and numbers → 0, spaces collapsed, full-width ASCII folded."""
    s = _SIGNATURE.sub("", text.strip()).translate(_FOLD)
    s = _URL.sub("<url>", s)
    s = _ZH_NAME.sub(lambda m: (m.group(1) or "") + "某" + m.group(2), s)
    s = _EN_NAME.sub(lambda m: m.group(1) + " <name>", s)
    s = _MASKED.sub("0", s)
    s = _MIXED.sub("0", s)
    s = _DIGITS.sub("0", s)
    return _SPACE.sub(" ", s).strip()


def shape(text: str) -> str:
    """The stable start of a normalised message: the first SHAPE_CHARS characters of a
    Chinese message, the first SHAPE_WORDS words of a Latin-script one."""
    s = normalise(text)
    if not s:
        return "(empty)"
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in s[:40])
    if cjk >= 4:
        return s[:SHAPE_CHARS]
    return " ".join(s.split(" ")[:SHAPE_WORDS])


def unmatched_shapes(c: Corpus, results: list[list[Any]], top: int) -> list[dict[str, Any]]:
    """The most frequent shapes among unmatched messages, each with one normalised
    example (names, numbers and codes already replaced) to show what the template says."""
    counts: Counter[str] = Counter()
    example: dict[str, str] = {}
    for t, r in zip(c.texts, results, strict=True):
        if not r:
            k = shape(t)
            counts[k] += 1
            example.setdefault(k, normalise(t)[:SHAPE_EXAMPLE])
    return [{"shape": k, "count": n, "example": example[k]} for k, n in counts.most_common(top)]


# --- output -------------------------------------------------------------------------------

def speed_table(t: dict[str, Timing]) -> str:
    rows = [[k, f"{v.median:,.0f}", f"{v.lo:,.0f}–{v.hi:,.0f}", f"{v.spread_pct:.0f}%",
             f"{1e6 / v.median:.2f}"] for k, v in t.items()]
    return table(["corpus · call", "msgs/s (median)", "min–max", "spread", "µs/msg"], rows)


def coverage_tables(cov: dict[str, dict[str, Any]]) -> str:
    names = list(cov)
    rows = [[n, f"{c['messages']:,}", f"{c['matched']:,}", f"{100 * c['matched_share']:.1f}%",
             f"{100 * c['service_share']:.1f}%", f"{c['matches_per_matched']:.2f}"]
            for n, c in cov.items()]
    out = [table(["corpus", "messages", "matched", "share", "non-marketing share",
                  "matches/matched msg"], rows)]
    for key, title in (("top_categories", "category (top level)"),
                       ("second_categories", "category (second level)"),
                       ("categories", "category")):
        cats = sorted({k for c in cov.values() for k in c[key]},
                      key=lambda k: -sum(c[key].get(k, 0) for c in cov.values()))
        crow = [[k] + [_pct(cov[n][key].get(k, 0), cov[n]["messages"]) for n in names]
                for k in cats]
        out.append(f"\nbest match per message, by {title}:\n" + table([title, *names], crow))
    return "\n".join(out)


_CATEGORY = re.compile(r"^\s*category\s+([A-Za-z_][\w.]*)", re.M)


def scene_categories(rules: Path) -> Counter[str]:
    """Scenes per top-level category, read from the `category` clause of every scene
    (one per scene), so the table needs no private runtime state."""
    counts: Counter[str] = Counter()
    for path in sorted(rules.rglob("*.scene")):
        for cat in _CATEGORY.findall(path.read_text(encoding="utf-8")):
            counts[cat.split(".")[0]] += 1
    return counts


def coverage_markdown(cov: dict[str, dict[str, Any]], scenes: Counter[str],
                      names: Sequence[str]) -> str:
    """The rules/README.md table: per top-level category, scenes and the share of each
    corpus's messages whose best match is in that category."""
    head = ["category", "scenes", *[f"{n} ({cov[n]['messages']:,})" for n in names]]
    cats = sorted(scenes, key=lambda k: (-sum(cov[n]["top_categories"].get(k, 0)
                                               for n in names), k))
    rows = [[f"`{k}`", str(scenes[k]),
             *[_pct(cov[n]["top_categories"].get(k, 0), cov[n]["messages"]) for n in names]]
            for k in cats]
    rows.append(["**all scenes**", str(sum(scenes.values())),
                 *[_pct(cov[n]["matched"], cov[n]["messages"]) for n in names]])
    rows.append(["**non-marketing**", str(sum(scenes.values()) - scenes.get("marketing", 0)),
                 *[_pct(cov[n]["service_matched"], cov[n]["messages"]) for n in names]])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _pct(k: int, n: int) -> str:
    return f"{k:,} ({100 * k / n:.1f}%)" if k else "·"


def shapes_table(name: str, shapes: list[dict[str, Any]], unmatched: int) -> str:
    rows = [[d["shape"], f"{d['count']:,}", f"{100 * d['count'] / max(1, unmatched):.1f}%",
             d["example"]] for d in shapes]
    return (f"\nmost frequent unmatched shapes in {name} ({unmatched:,} unmatched):\n"
            + table(["shape (normalised start)", "count", "of unmatched",
                     "normalised example"], rows))


def compare(artifacts: Sequence[Path], corpora: Sequence[Corpus], rounds: int) -> int:
    """Median µs a `match` per artifact and corpus, the artifacts alternating each round."""
    from scenec.runtime import load

    sets = {str(p): load(p) for p in artifacts}
    for c in corpora:
        senders = c.senders or [None] * len(c.texts)
        engines = {name: match_runner(rs, c.texts, senders) for name, rs in sets.items()}
        for run in engines.values():
            run()  # warm: scene runners and RE2 patterns are built on first use
        for name, t in alternate(engines, rounds, len(c.texts)).items():
            print(f"{c.name:18} {name:40} {1e6 / t.median:8.2f} µs/msg")
    return 0


def diff(artifacts: Sequence[Path], corpora: Sequence[Corpus], show: int) -> int:
    """Print each message whose best match (scene and fields) differs between the two
    artifacts (up to `show` a corpus), then each corpus's count; exit 0 either way."""
    from scenec.runtime import load

    before, after = (load(p) for p in artifacts)

    def best(rs: Any, text: str, sender: str | None) -> tuple[str, dict[str, Any]] | None:
        found = rs.match(text, sender)
        return (found[0].scene, found[0].fields) if found else None

    for c in corpora[1:]:  # the bench file repeats TSV rows
        senders = c.senders or [None] * len(c.texts)
        changed = 0
        for text, sender in zip(c.texts, senders, strict=True):
            x, y = best(before, text, sender), best(after, text, sender)
            if x != y:
                changed += 1
                if changed <= show:
                    print(f"{c.name}: {x} -> {y} | {text[:120]!r}")
        print(f"{c.name}: {changed} of {len(c.texts)} changed")
    return 0


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    require_core()
    corpora = read_corpora(a.data)
    if a.compare:
        return compare(a.compare, [c for c in corpora if c.name in (ENGLISH, "sms_zh_mudou")],
                       a.rounds)
    if a.diff:
        return diff(a.diff, corpora, a.show)
    every = all_tsv(corpora)
    with tempfile.TemporaryDirectory(prefix="scenec-real-") as tmp:
        rs, info = compile_rules(a.rules, Path(tmp))
    log(f"rules: {info['scenes']} scenes, compiled in {info['compile_s']:.2f} s")
    timed = [corpora[0], *(c for c in corpora if c.name == ENGLISH), every]
    timings = {} if a.markdown else speed(rs, timed, a.rounds, a.batch)
    cov, shapes = {}, {}
    wanted = set(a.shapes.split(","))
    for c in [*corpora, every]:
        res = rs.match_many(c.texts, c.senders, threads=2)
        cov[c.name] = coverage(res)
        if c.name in wanted:
            shapes[c.name] = unmatched_shapes(c, res, a.top)
    if a.markdown:
        print(coverage_markdown(cov, scene_categories(a.rules),
                                ["sms_zh_mudou", "sms_en_india_bank", "sms_zh_bench", "all_tsv"]))
        return 0
    if a.json:
        print(json.dumps({"machine": cpu_info(), "rules": info,
                          "speed": {k: v.to_json() for k, v in timings.items()},
                          "coverage": cov, "unmatched_shapes": shapes}, ensure_ascii=False))
        return 0
    print(f"rules {a.rules}: {info['scenes']} scenes · compile {info['compile_s']:.2f} s · "
          f"artifact {mb(info['artifact_bytes'])} · load {info['load_s'] * 1e3:.1f} ms · "
          f"RSS +{info['rss_mb']:.1f} MB · {info['warnings']} warnings\n")
    print(speed_table(timings) + "\n")
    print(coverage_tables(cov))
    for name, sh in shapes.items():
        print(shapes_table(name, sh, cov[name]["messages"] - cov[name]["matched"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
