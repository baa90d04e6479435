"""The peers' workload as scenec sees it: generate, load, translate to `.scene`, compare.

The shared generator (`shared/peers/gen_workload.py`) defines the workload and the
docstring of `shared/peers/common.py` its semantics. This module is the only place that
converts between that world and scenec's, so that `vs_peers.py` and `length_scaling.py`
measure exactly the same rules and judge results the same way.

Semantics mapping (one scene per rule, one enterprise per referenced enterprise):

    enterprise e12 "名字" { sender "【名字】", "95511" }   # signature in text OR sender == number
    scene s345 "credit_card_bill_12_0" {
        enterprise e12                                    # only when rule["sender"]
        when "k1" and "k2" and any("a", "b") and not "z"  # all / any / not
        extract amount = raw /…(?P<amount>…)…/            # the rule's regex, one group,
                                                          # on the text as given
    }

A rule with no keyword at all gets no `when`: it then matches on its sender alone, or on
every message when it has no sender either, which is what the contract says. (The
generator never makes such rules: unconstrained rules always have 2–3 `all` keywords.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchutil import SHARED, log

PEERS_DIR = SHARED / "peers"
DEFAULT_DATA = "/tmp/peers-data"
SCENES_PER_FILE = 5_000  # the compiler reads at most 4 MB per source file

Pair = tuple[int, "str | None"]
Rules = dict[str, Any]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STR_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}
# docs/internals.md: the text folding scenec applies before matching
FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def data_dir() -> Path:
    return Path(os.environ.get("PEERS_DATA", DEFAULT_DATA))


def use_peers_dir() -> None:
    """Make the peers' modules importable (their code is reused, never copied)."""
    os.environ.setdefault("PEERS_DATA", str(data_dir()))
    if str(PEERS_DIR) not in sys.path:
        sys.path.append(str(PEERS_DIR))


def _files(scale: int) -> list[Path]:
    d = data_dir()
    return [d / f"{kind}_{scale}.json" for kind in ("rules", "corpus", "truth")]


def ensure(scales: Iterable[int]) -> None:
    """Run the shared generator for the scales whose files are missing (it is
    deterministic, so files already there are the same and are reused)."""
    missing = [n for n in scales if not all(p.exists() for p in _files(n))]
    if not missing:
        return
    log(f"generating the workload for {missing} into {data_dir()} …")
    env = dict(os.environ, PEERS_DATA=str(data_dir()))
    data_dir().mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(PEERS_DIR / "gen_workload.py"), "--scales", *map(str, missing)]
    subprocess.run(cmd, cwd=PEERS_DIR, env=env, check=True, stdout=subprocess.DEVNULL)


@dataclass
class Workload:
    scale: int
    rules: Rules
    corpus: list[tuple[str, str]]  # (sender, text)
    truth: list[list[Pair]]        # sorted (scene id, value) per message

    @property
    def texts(self) -> list[str]:
        return [t for _, t in self.corpus]

    @property
    def senders(self) -> list[str]:
        return [s for s, _ in self.corpus]


def load(scale: int, sample: int | None = None) -> Workload:
    rp, cp, tp = _files(scale)
    rules = json.loads(rp.read_text(encoding="utf-8"))
    corpus = [(s, t) for s, t in json.loads(cp.read_text(encoding="utf-8"))[:sample]]
    truth = [normalize(r) for r in json.loads(tp.read_text(encoding="utf-8"))[:sample]]
    return Workload(scale, rules, corpus, truth)


def normalize(result: Iterable[Sequence[Any]]) -> list[Pair]:
    """As common.normalize: sorted (int scene id, value) pairs."""
    return sorted((int(s), v) for s, v in result)


# --- translation ------------------------------------------------------------------------

def q(s: str) -> str:
    """A scene-language string literal (escapes: \\" \\\\ \\n \\t \\uXXXX)."""
    out = []
    for ch in s:
        esc = _STR_ESC.get(ch)
        if esc is None and (ord(ch) < 0x20 or ord(ch) == 0x7F):
            esc = f"\\u{ord(ch):04x}"
        out.append(esc or ch)
    return '"' + "".join(out) + '"'


def regex_literal(pattern: str) -> str:
    """`/pattern/` with every unescaped `/` written `\\/` and line breaks as `\\n`."""
    out: list[str] = []
    escaped = False
    for ch in pattern:
        if ch == "/" and not escaped:
            out.append("\\/")
        elif ch == "\n":
            out.append("n" if escaped else "\\n")
        else:
            out.append(ch)
        escaped = ch == "\\" and not escaped
    return "/" + "".join(out) + "/"


def ident(name: str) -> str:
    if not _IDENT.fullmatch(name):
        raise ValueError(f"not usable as a scene-language name: {name!r}")
    return name


def enterprise_block(e: dict[str, Any]) -> str:
    senders = [q(e["signature"])] + ([q(e["number"])] if e["number"] is not None else [])
    return f"enterprise e{e['id']} {q(e['name'])} {{ sender {', '.join(senders)} }}\n"


def when_expr(s: dict[str, Any]) -> str | None:
    terms = [q(k) for k in s["all"]]
    if s["any"]:
        terms.append(f"any({', '.join(q(k) for k in s['any'])})")
    if s["not"] is not None:
        terms.append(f"not {q(s['not'])}")
    return " and ".join(terms) or None


def scene_block(s: dict[str, Any]) -> str:
    lines = [f"scene s{s['id']} {q(s['name'])} {{"]
    if s["sender"]:
        lines.append(f"    enterprise e{s['enterprise']}")
    cond = when_expr(s)
    if cond is not None:
        lines.append(f"    when {cond}")
    ex = s["extract"]
    # `raw`: the contract extracts from the text as given, where scenec would otherwise
    # read `9324，3.94元` as `9324,3.94` (full-width folding, docs/language.md).
    lines.append(f"    extract {ident(ex['name'])} = raw {regex_literal(ex['regex'])}")
    return "\n".join(lines) + "\n}\n"


def write_sources(rules: Rules, folder: Path) -> list[Path]:
    """The rule set as `.scene` files in `folder` (split: the compiler caps file size)."""
    folder.mkdir(parents=True, exist_ok=True)
    ents = rules["enterprises"]
    used = sorted({s["enterprise"] for s in rules["scenes"] if s["sender"]})
    paths = [folder / "enterprises.scene"]
    paths[0].write_text("".join(enterprise_block(ents[i]) for i in used), encoding="utf-8")
    scenes = rules["scenes"]
    for k in range(0, len(scenes), SCENES_PER_FILE):
        p = folder / f"scenes_{k // SCENES_PER_FILE:03d}.scene"
        p.write_text("".join(scene_block(s) for s in scenes[k:k + SCENES_PER_FILE]),
                     encoding="utf-8")
        paths.append(p)
    return paths


# --- judging results ----------------------------------------------------------------------

def field_names(rules: Rules) -> list[str]:
    return [s["extract"]["name"] for s in rules["scenes"]]


def scenec_pairs(matches: Iterable[Any], fields: list[str]) -> list[Pair]:
    """scenec's Match objects as the contract's (scene id, value) pairs, sorted."""
    out = []
    for m in matches:
        sid = int(m.scene[1:])
        out.append((sid, m.fields.get(fields[sid])))
    return sorted(out)


def mismatches(got: Sequence[list[Pair]], truth: Sequence[list[Pair]]) -> list[int]:
    return [i for i, (g, t) in enumerate(zip(got, truth, strict=True)) if g != t]


def fold_text(s: str) -> str:
    return s.translate(FOLD)


def folded_rules(rules: Rules) -> Rules:
    """The rules' literals as scenec sees them after folding (its `raw` extractors keep
    their regexes and read the text as given)."""
    ents = [dict(e, signature=fold_text(e["signature"])) for e in rules["enterprises"]]
    scenes = []
    for s in rules["scenes"]:
        scenes.append(dict(
            s, all=[fold_text(k) for k in s["all"]], any=[fold_text(k) for k in s["any"]],
            **{"not": fold_text(s["not"]) if s["not"] is not None else None}))
    return dict(rules, enterprises=ents, scenes=scenes)


class FoldJudge:
    """Explains a difference from the truth when it is exactly the effect of scenec's
    documented text folding (full-width forms → ASCII before literals are matched; the
    translated `raw` extractors read the text as given): the shared reference run on the
    raw rules and text gives the truth (so the truth file is what the contract says); the
    scenes it finds on folded rules and folded text, with values extracted from the text
    as given, give scenec's answer. Anything else (an engine bug, a damaged truth file)
    stays unexplained."""

    def __init__(self, rules: Rules) -> None:
        use_peers_dir()
        from common import Reference  # the peers' ground-truth implementation

        self.raw = Reference(rules)
        self.folded = Reference(folded_rules(rules))

    def explains(self, sender: str, text: str, got: list[Pair], truth: list[Pair]) -> bool:
        contract = normalize(self.raw.match(text, sender))
        if contract != truth or contract == got:
            return False
        scenes = [sid for sid, _ in self.folded.match(fold_text(text), sender)]
        return sorted((sid, self.raw.extractors.extract(sid, text)) for sid in scenes) == got
