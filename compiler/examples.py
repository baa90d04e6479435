"""Run the inline `example` / `counterexample` clauses against the compiled rule set.

An example must make its scene the best (top-ranked) match with the expected fields: that
is what a user of the message sees. A counterexample must not match the scene at all.
Examples run on a day inside the scene's validity, so a build does not start failing when
a calendar date passes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..dsl.diagnostics import DiagnosticBag
from ..runtime import Ruleset
from . import model as m
from .conditions import spelled
from .reference import Reference, explain


@dataclass(frozen=True)
class ExampleResult:
    scene: str
    example: m.Example
    ok: bool
    message: str


def example_day(scene: m.Scene) -> dt.date:
    today = dt.date.today()
    if scene.valid is None or scene.valid[0] <= today <= scene.valid[1]:
        return today
    return scene.valid[0]


# Candidate scenes all of a build's examples may wake (`Ruleset.woken`), each finished by
# `match` (up to ~5 µs on the Python path): the shipped library's 1,451 examples wake
# 3,693. Without a budget, N scenes whose examples each wake all N cost N * N (2,000
# one-line scenes took 12 s, 100,000 would take hours); with it a build's examples cost
# at most the budget plus one match.
MAX_EXAMPLE_WORK = 200_000
WORK_PER_EXAMPLE = 20  # added to the budget for each example of the build
# Failing examples a build explains and reports: each is explained by the reference
# interpreter and quoted, and a 4 MiB file of 228,000 failing one-line examples took 66 s
# and printed 61 MB. Past it the build says so once (E917) and runs no more of them.
MAX_FAILING_EXAMPLES = 1_000


def run_examples(model: m.Model, ruleset: Ruleset, diags: DiagnosticBag) -> list[ExampleResult]:
    ref = Reference(model)
    left = MAX_EXAMPLE_WORK + WORK_PER_EXAMPLE * sum(len(s.examples) for s in model.scenes)
    results: list[ExampleResult] = []
    failing = 0
    for scene in model.scenes:
        for ex in scene.examples:
            left -= ruleset.woken(ex.text, ex.sender)
            if left < 0:
                diags.error("E913", "the examples of this build wake too many candidate "
                            f"scenes (over {MAX_EXAMPLE_WORK:,} plus {WORK_PER_EXAMPLE} an "
                            "example); this one and the rest are not run", ex.span,
                            "give scenes literals that only their own messages hold, or "
                            "fewer examples that wake every scene")
                return results
            problem = _check(ref, scene, ex, ruleset)
            failing += problem is not None
            if failing > MAX_FAILING_EXAMPLES:
                diags.error("E917", f"more than {MAX_FAILING_EXAMPLES:,} examples fail (this one "
                            "too); the rest are not run", ex.span, "fix the failures "
                            "reported above (a template or when that matches none of its "
                            "examples fails them all) and build again")
                return results
            results.append(ExampleResult(scene.id, ex, problem is None, problem or "ok"))
            if problem is not None:
                code = "E703" if ex.counter else ("E702" if problem.startswith("field") else "E701")
                what = "counterexample" if ex.counter else "example"
                diags.error(code, f"{what} of scene '{scene.id}' fails: {problem}", ex.span,
                            _hint(code))
    return results


def _hint(code: str) -> str:
    return {
        "E701": "adjust the template/when so the message matches, or fix the example",
        "E702": "check the slot kind (money is a number, date is MM-DD) or the example",
        "E703": "add a `not \"…\"` to the when condition to exclude this kind of message",
    }[code]


def _check(ref: Reference, scene: m.Scene, ex: m.Example, ruleset: Ruleset) -> str | None:
    """Why the example fails, or None. `ref` (the reference interpreter) explains a miss
    of `scene`, one of its own scenes: no search of them per failing example."""
    day = example_day(scene)
    found = ruleset.match(ex.text, ex.sender, ex.ctx, now=day)
    mine = next((x for x in found if x.scene == scene.id), None)
    if ex.counter:
        return "it matches this scene" if mine is not None else None
    if mine is None:
        return "no match: " + explain(ref, scene, ex.text, ex.sender, ex.ctx, day)
    if found[0].scene != scene.id:
        return f"it matches, but scene '{found[0].scene}' ranks first"
    wrong = [f"field {name}: expected {spelled(want)}, got "
             f"{'no value' if name not in mine.fields else spelled(mine.fields[name])}"
             for name, want in ex.expect.items() if not _same(want, mine.fields.get(name))]
    return "; ".join(wrong) or None


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return abs(float(want) - float(got)) < 1e-9
    return bool(want == got)
