"""The language reference's worked example compiles and gives exactly the JSON it shows,
so docs/language.md cannot drift from the compiler and the result format."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from helpers import compile_text

DOC = (Path(__file__).resolve().parent.parent / "docs" / "language.md").read_text("utf-8")


def test_worked_example_gives_the_documented_json() -> None:
    source = re.search(r"```\n(# my_rules/pingan\.scene.*?)```", DOC, re.S)
    shown = re.search(r"```json\n(.*?)```", DOC, re.S)
    assert source and shown
    result = compile_text(source.group(1))  # as shown: the file declares its enterprise
    want = json.loads(shown.group(1))
    got = [m.to_json() for m in result.ruleset.match(want["text"], now=dt.date(2025, 1, 1))]
    assert got == want["matches"]


def test_every_diagnostic_code_is_documented() -> None:
    root = Path(__file__).resolve().parent.parent
    used = set()
    for folder in ("dsl", "compiler"):
        for path in (root / folder).glob("*.py"):
            used |= set(re.findall(r'"([EW]\d{3})"', path.read_text("utf-8")))
    documented = set(re.findall(r"\b([EW]\d{3})\b", DOC))
    ranges = re.findall(r"\b([EW])(\d{3})–[EW](\d{3})\b", DOC)
    for letter, lo, hi in ranges:
        documented |= {f"{letter}{n:03d}" for n in range(int(lo), int(hi) + 1)}
    assert used <= documented, sorted(used - documented)


def test_every_keyword_of_the_grammar_is_in_the_reference() -> None:
    """docs/language.md stays in step with dsl/scene.lark: a keyword added to the grammar
    must show up in the reference's code, or this fails."""
    grammar = (Path(__file__).resolve().parent.parent / "dsl" / "scene.lark").read_text("utf-8")
    keywords = set(re.findall(r'"([a-z]+)"', grammar))
    assert {"extract", "raw", "after", "near"} <= keywords
    missing = [k for k in sorted(keywords)
               if not re.search(rf"`[^`\n]*\b{k}\b[^`\n]*`", DOC)]
    assert missing == []


ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_counts_the_scenes_the_library_has() -> None:
    """The README's "shipped library (N scenes …)" is the number `scenec build rules/`
    reports (it said 328 while the library had 334)."""
    readme = (ROOT / "README.md").read_text("utf-8")
    said = re.search(r"shipped library \(([\d,]+) scenes", readme)
    assert said, "the README no longer says how many scenes the library has"
    scenes = sum(len(re.findall(r"^\s*scene\s+[A-Za-z_]", path.read_text("utf-8"), re.M))
                 for path in (ROOT / "rules").rglob("*.scene"))
    assert int(said.group(1).replace(",", "")) == scenes


def test_every_category_of_the_library_is_in_the_taxonomy() -> None:
    """docs/categories.md lists each category a shipped scene uses ("a category is added
    here in the same change as the first scene that uses it"), and no leaf that none uses."""
    doc = (ROOT / "docs" / "categories.md").read_text("utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+(?:\.[a-z_]+){1,2})` \|", doc, re.M))
    used = {m for path in (ROOT / "rules").rglob("*.scene")
            for m in re.findall(r"^\s*category\s+([\w.]+)", path.read_text("utf-8"), re.M)}
    assert sorted(used - documented) == [] and sorted(documented - used) == []


def test_every_library_scene_has_a_counterexample() -> None:
    """rules/README.md: "every scene has at least one `counterexample`" (one had none)."""
    from scenec.compiler.pipeline import compile_paths

    model = compile_paths([str(ROOT / "rules")], run_examples=False).model
    assert model is not None
    bare = [s.id for s in model.scenes if not any(e.counter for e in s.examples)]
    assert bare == []
