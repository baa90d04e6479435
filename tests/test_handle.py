"""Hot swap: threads keep matching while the artifact is reloaded; every answer is whole."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from helpers import compile_text
from scenec.compiler.pipeline import write_atomic
from scenec.runtime import ArtifactError, Handle, load

RULES_A = 'scene a "A" { when "账单"\n extract n = /(\\d+)/ as digits }\n'
RULES_B = ('scene b "B" { when "账单" priority 70 }\n'
           'scene c "C" { when "还款" }\n')
TEXTS = ["本期账单123", "请还款", "账单还款7", "你好"]


def answers(rs: object) -> list:
    return [[(m.scene, m.fields) for m in rs.match(t)] for t in TEXTS]  # type: ignore[attr-defined]


def test_reload_under_load(tmp_path: Path) -> None:
    a, b = compile_text(RULES_A), compile_text(RULES_B)
    assert a.artifact and b.artifact and a.ruleset and b.ruleset
    pa, pb = tmp_path / "a.scb", tmp_path / "b.scb"
    pa.write_bytes(a.artifact)
    pb.write_bytes(b.artifact)
    valid = [answers(a.ruleset), answers(b.ruleset)]
    handle = Handle(str(pa))
    stop = threading.Event()
    bad: list = []
    counts = [0] * 8

    def worker(k: int) -> None:
        while not stop.is_set():
            if k % 2:
                got = [[(m.scene, m.fields) for m in ms] for ms in handle.match_many(TEXTS)]
            else:
                rs = handle.ruleset  # one rule set for the whole pass
                got = answers(rs)
            if got not in valid:
                bad.append(got)
            counts[k] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for i in range(60):
        handle.reload(str(pb if i % 2 == 0 else pa))
    stop.set()
    for t in threads:
        t.join()
    assert not bad
    assert all(counts) and handle.generation == 60


def test_bad_reload_keeps_serving(tmp_path: Path) -> None:
    a = compile_text(RULES_A)
    assert a.artifact
    good, broken = tmp_path / "a.scb", tmp_path / "broken.scb"
    good.write_bytes(a.artifact)
    broken.write_bytes(a.artifact[: len(a.artifact) // 2])
    handle = Handle(str(good))
    with pytest.raises(ArtifactError, match="truncated"):
        handle.reload(str(broken))
    assert handle.last_error and "truncated" in handle.last_error
    assert handle.best("账单1").scene == "a"  # type: ignore[union-attr]
    with pytest.raises(ArtifactError):
        handle.reload(str(tmp_path / "missing.scb"))
    assert handle.generation == 0


def test_write_atomic_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "rules.scb"
    write_atomic(str(target), b"first")
    write_atomic(str(target), b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["rules.scb"]


def _nested(cond: list, depth: int) -> list:
    for _ in range(depth):
        cond = ["not", cond]
    return cond


@pytest.mark.parametrize("field, value", [
    ("extracts", "not a list of extractors"),
    # A comparison whose value has the wrong type used to pass `validate` and then raise
    # TypeError at the first message that reached it, dropping the scene while serving.
    ("when", ["cmp", "amount", False, ">", ["x"], "number"]),
    # `NaN` and `Infinity` (Python's JSON reads them) passed `validate` and made
    # `scenec match --json` print `"priority": NaN`, which is not JSON.
    ("priority", float("nan")),
    ("meta", {"k": float("inf")}),
    ("when", ["cmp", "amount", False, ">", [float("inf")], "number"]),
    # Values a Match copies of the wrong type were served as they were: tags of "abc"
    # became three tags, a priority could be an object.
    ("priority", {"p": 1}),
    ("tags", "abc"),
    ("name", ["A"]),
    ("enterprise", 7),
    ("meta", {"k": 1}),
    # A pattern the compiler would refuse (E910): 1.2 million RE2 instructions, ~1.7 s
    # and tens of MB to compile, which `validate` used to spend and then swap it in.
    ("when", ["re", "\\pL{1000}"]),
    ("extracts", [["n", "digits", "(\\d+)\\pL{1000}", 1]]),
    # Actions `render` cannot render passed `validate`, then raised IndexError or
    # KeyError at every message that reached the scene, which was dropped each time.
    ("actions", [["button", "b", "calendar", [["t", "x"]], None, []]]),
    ("actions", [["button", "b", "sms", [["t", "x"]], None, []]]),
    ("actions", [["button", "b", "copy", [], None, []]]),
    ("actions", [["button", "b", "copy", [["f", "n"]], None, []]]),
    ("actions", [["button", "b", "launch", [["t", "x"]], None, []]]),
    # More than a build may hold (E914), or a field named twice: each costs work at
    # every match (a million copies of one highlight decoded the text a million times).
    ("extracts", [["n", "digits", "(\\d+)", 1]] * 65),
    ("actions", [["button", "b", "copy", [["t", "x"]], None, []]] * 65),
    ("highlight", ["n", "n"]),
    ("require", ["n", "m"]),
    # Round 11: more literals than E903 lets a scene hold: an `or` of 30,000 passed
    # `validate` and cost ~5 ms a message on the Python path instead of microseconds.
    ("when", ["or", [["lit", f"w{i}"] for i in range(2_001)]]),
    ("sender", ["sender", [f"s{i}" for i in range(1_001)], [str(i) for i in range(1_000)]]),
    ("actions", [["button", "b", "copy", [["t", "x"]],
                  ["or", [["lit", f"w{i}"] for i in range(2_001)]], []]]),
    # A condition nested deeper than a build writes (E902: at most ~2 levels a nesting
    # level): 300 passed, 600 was refused only by the JSON decoder's RecursionError, and
    # a host that raised its recursion limit served 24,000 nested closures a message.
    # Round 11: template slots beyond E912 (32 capture groups a scene): 20,000 slots of
    # one group passed `validate` and cost 1.8 ms a match instead of 0.01; 33 groups,
    # and more templates than E903 lets a scene write, are refused too.
    ("templates", [["账单(\\d+)", [["n", "digits", 1]] * 20_000]]),
    ("templates", [["账单" + "(\\d)" * 33, [[f"n{i}", "digits", i + 1] for i in range(33)]]]),
    ("templates", [[f"账单{i}", []] for i in range(2_001)]),
    ("when", _nested(["lit", "账单"], 300)),
    ("actions", [["button", "b", "copy", [["t", "x"]], _nested(["lit", "x"], 300), []]]),
])
def test_reload_refuses_a_crafted_record_with_a_valid_checksum(tmp_path: Path, field: str,
                                                               value: object) -> None:
    """`load` defers record parsing; `reload` validates every record before swapping."""
    path = crafted(tmp_path, field, value)
    handle = Handle(compile_text(RULES_B).ruleset)  # type: ignore[arg-type]
    with pytest.raises(ArtifactError, match="scene record 0 .*malformed"):
        handle.reload(str(path))
    assert handle.generation == 0 and handle.best("账单1").scene == "b"  # type: ignore[union-attr]
    a = compile_text(RULES_A)
    assert a.artifact
    good = tmp_path / "a.scb"
    good.write_bytes(a.artifact)
    handle.reload(str(good))
    assert handle.generation == 1 and handle.best("账单1").scene == "a"  # type: ignore[union-attr]


def test_a_scene_at_the_literal_limit_is_served_after_reload(tmp_path: Path) -> None:
    """The literals a record holds are held to E903 by `validate`: a scene the compiler
    took at the limit, its literals in a word set used twice, a sender list and a guard,
    must still load and validate (lowering never copies a literal)."""
    from scenec.compiler.conditions import MAX_LITERALS_PER_SCENE

    n = (MAX_LITERALS_PER_SCENE - 4) // 3
    words = ", ".join(f'"w{i}"' for i in range(n))
    senders = ", ".join(f'"1069{i:04d}"' for i in range(n))
    rules = (f'words ws = {words}\nscene a "A" {{\n  sender {senders}\n'
             '  when any(ws) and not none(ws, "x")\n  extract n = /(\\d+)/\n'
             '  button "b" -> copy(n) if "y" or "z"\n}\n')
    built = compile_text(rules)
    assert built.artifact, [str(d) for d in built.diagnostics.errors]
    path = tmp_path / "limit.scb"
    path.write_bytes(built.artifact)
    assert Handle(str(path)).best("w5 12", "10690001").scene == "a"  # type: ignore[union-attr]


def test_a_scene_at_the_nesting_limit_is_served_after_reload(tmp_path: Path) -> None:
    """`validate` bounds a record condition's depth; the deepest a build writes (64
    levels of E902, each an `or` holding an `and`, a `none(…)` at the leaf, the same in a
    guard) still loads and validates."""
    from scenec.dsl.parser import MAX_NESTING

    e = 'none("q")'
    for i in range(MAX_NESTING):
        e = f'("a{i}" or {e} and "b{i}")'
    built = compile_text(f'scene a "A" {{\n  when {e}\n  extract n = /(\\d+)/\n'
                         f'  button "b" -> copy(n) if {e}\n}}\n')
    assert built.artifact, [str(d) for d in built.diagnostics.errors]
    path = tmp_path / "deep.scb"
    path.write_bytes(built.artifact)
    assert Handle(str(path)).best("a63 1").scene == "a"  # type: ignore[union-attr]


def crafted(tmp_path: Path, field: str, value: object) -> Path:
    """RULES_A's artifact with one field of scene 0's record replaced, re-signed."""
    import array

    from scenec.runtime.artifact import pack, unpack

    a = compile_text(RULES_A)
    assert a.artifact
    sections = unpack(a.artifact)
    arrays = {k: array.array(v.format, v) for k, v in sections.items()
              if isinstance(v, memoryview)}
    records = [dict(r) for r in a.ruleset._records]  # type: ignore[union-attr]
    records[0][field] = value
    path = tmp_path / "crafted.scb"
    path.write_bytes(pack(arrays, {"meta": sections["meta"], "scenes": records}))
    return path


def test_a_handle_started_on_a_path_validates_it_like_reload(tmp_path: Path) -> None:
    """`Handle(path)` only loaded the file, whose records `load` parses lazily: a service
    started on a crafted artifact served it, skipping its malformed scene at every
    message, while `reload` of the same file is refused."""
    path = crafted(tmp_path, "extracts", [["n", "digits", "(\\d+)", 5]])  # no group 5
    with pytest.raises(ArtifactError, match="scene record 0 .*malformed"):
        Handle(str(path))
    assert Handle(str(path), validate=False).match("账单1") == []


def test_the_runtime_knows_the_compilers_action_kinds() -> None:
    """`_check_action` refuses what the compiler's signatures would not produce."""
    from scenec.compiler.actions import SIGNATURES
    from scenec.runtime.evaluate import ACTION_ARITY

    assert ACTION_ARITY == {kind: len(shape) for kind, shape in SIGNATURES.items()}


def test_the_patterns_of_a_rule_set_are_held_to_the_build_budget(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each pattern within the compiler's limit, but more of them than a build of that
    many scenes may hold (E911): refused like a build would be. The budget is lowered
    here; at its real value a crafted artifact would need thousands of patterns."""
    from scenec.runtime import evaluate

    path = crafted(tmp_path, "when", ["and", [["re", f"\\p{{Greek}}{{{n}}}"]
                                               for n in (60, 61, 62)]])
    monkeypatch.setattr(evaluate, "REGEX_BUDGET_BASE", 5_000)
    monkeypatch.setattr(evaluate, "REGEX_BUDGET_PER_SCENE", 0)
    handle = Handle(compile_text(RULES_B).ruleset)  # type: ignore[arg-type]
    with pytest.raises(ArtifactError, match="more RE2 instructions than a build"):
        handle.reload(str(path))
    monkeypatch.setattr(evaluate, "REGEX_BUDGET_BASE", 20_000)
    handle.reload(str(path))


def test_a_broken_record_is_read_once_not_at_every_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule set loaded without `validate` skips a malformed record's scene; it used to
    parse the record and compile its patterns again at every message that woke it."""
    from scenec.runtime import ruleset as rs_module

    path = crafted(tmp_path, "extracts", [["n", "digits", "(\\d+)", 5]])  # no group 5
    rs = load(str(path))
    reads = []
    real = rs_module.Records.__getitem__
    monkeypatch.setattr(rs_module.Records, "__getitem__",
                        lambda self, i: reads.append(i) or real(self, i))
    for _ in range(5):
        assert rs.match("账单1") == []
    assert rs.broken_scenes == {"a"} and len(reads) <= 2


def test_a_dropped_ruleset_is_freed_at_once(tmp_path: Path) -> None:
    """No reference cycle: after a reload the old rule set (50 MB at 100k scenes) is freed
    when its last user lets go, not whenever the cyclic collector next runs."""
    import gc
    import weakref

    first, second = tmp_path / "a.scb", tmp_path / "b.scb"
    a, b = compile_text(RULES_A).artifact, compile_text(RULES_B).artifact
    assert a and b
    first.write_bytes(a)
    second.write_bytes(b)
    handle = Handle(str(first))
    assert handle.match(TEXTS[0]) and handle.match_many(TEXTS)
    old = weakref.ref(handle.ruleset)
    was = gc.isenabled()
    gc.disable()
    try:
        handle.reload(str(second))
        assert old() is None
    finally:
        if was:
            gc.enable()
