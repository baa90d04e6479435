"""`extract NAME = raw /re/`: an extractor that reads the caller's text unfolded.

Everything else in a scene still sees the folded text; only the raw extractor's pattern
is left unfolded and searched in the text as given (lone surrogates aside). The
differential test (rulegen) compares raw extractors with the reference at random; these
tests pin the cases by name: each finishing path, long texts, the RE2-only path,
records, and the language's edges.
"""

from __future__ import annotations

import os
import tempfile
from array import array

import pytest
from helpers import compile_text
from scenec.compiler import Compiled, Reference, compile_paths
from scenec.runtime import ArtifactError, loads
from scenec.runtime._core import LONG_TEXT, Regex
from scenec.runtime.artifact import pack, unpack
from scenec.runtime.evaluate import Patterns, SceneRunner
from scenec.runtime.regex_program import compile_program

SOURCE = r"""
scene bill "账单" {
    when "元"
    extract amount = raw /([\d,]+(?:\.\d+)?)元/ as money
    extract mark = raw /([，、]\d+)/
    extract loose = /(\d[\d,.]*)元/
}
"""
MSG = "账单9324，3,333.94元"


def test_raw_reads_full_width_as_written_and_folded_does_not() -> None:
    rs = compile_text(SOURCE).ruleset
    assert rs is not None
    [m] = rs.match(MSG)
    assert m.fields == {"amount": 3333.94, "mark": "，3", "loose": "9324,3,333.94"}


def test_every_finishing_path_agrees_with_the_reference(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The core's `Quick` (plain scenes), `SceneRunner.run` (highlight, require, actions)
    and the Python quick path all give the reference interpreter's answer."""
    source = SOURCE + r"""
scene shown "显示" {
    when "元"
    extract amount = raw /([\d,]+(?:\.\d+)?)元/ as money
    extract mark = raw /([，、]\d+)/
    require amount
    highlight amount, mark
    button "付款" -> url("https://x.example/pay?a=${amount}")
}
"""
    long = "x" * (LONG_TEXT + 10)  # past LONG_TEXT raw extractors run on RE2's str API
    texts = [MSG, "共１２元", "余额，5元，6元", "元", "", "a\ud83d，9元" + "，" * 3,
             long + MSG, long + "a\ud83d，9元", long + "元"]
    compiled = compile_text(source)
    ref = Reference(compiled.model)
    assert compiled.ruleset is not None
    want = [[(r.scene, r.fields, r.highlights) for r in ref.match(t)] for t in texts]

    def seen(rs: object) -> list:
        return [[(m.scene, m.fields, m.highlights) for m in rs.match(t)]  # type: ignore[attr-defined]
                for t in texts]

    assert seen(compiled.ruleset) == want
    assert want[0][1][2] == (("amount", 7, 15), ("mark", 6, 8))
    from scenec.runtime import evaluate
    monkeypatch.setattr(evaluate, "_COMPILED_QUICK", False)
    assert seen(compile_text(source).ruleset) == want


def test_long_texts_run_raw_extractors_on_the_text_as_given() -> None:
    """Past LONG_TEXT the VM hands folded extractors to RE2 on the folded UTF-8 and raw
    ones to RE2's str API on the text as given, never to the folded fallback."""
    rs = compile_text(SOURCE).ruleset
    assert rs is not None
    text = "x" * (LONG_TEXT + 10) + MSG
    [m] = rs.match(text)
    assert m.fields["mark"] == "，3" and m.fields["loose"] == "9324,3,333.94"
    assert rs.match_many([text, MSG], threads=2) == [rs.match(text), rs.match(MSG)]


def test_raw_pattern_outside_the_vm_runs_on_re2_with_the_text_as_given() -> None:
    source = r'scene p "P" { when "，" extract p = raw /([，,])\B/ extract q = /([，,])\B/ }'
    assert compile_program(r"([，,])\B", 1) is None  # \B: RE2 only
    rs = compile_text(source).ruleset
    assert rs is not None
    [m] = rs.match("a，！")
    assert m.fields == {"p": "，", "q": ","}


def test_a_lone_surrogate_is_read_as_the_replacement_character() -> None:
    rs = compile_text(r'scene s "S" { when "码" extract v = raw /码(.\d)/ }').ruleset
    assert rs is not None
    [m] = rs.match("码\udc801")
    assert m.fields == {"v": "\ufffd1"}


def test_the_pattern_is_not_folded_and_the_record_says_raw() -> None:
    compiled = compile_text(SOURCE)
    [scene] = compiled.model.scenes
    amount, mark, loose = scene.extracts
    assert (amount.raw, mark.raw, loose.raw) == (True, True, False)
    assert "，" in mark.regex
    assert compiled.artifact is not None
    text = compiled.artifact.decode("utf-8", "replace")
    assert '"([，、]\\\\d+)",1,true]' in text.replace(" ", "")
    assert '"(\\\\d[\\\\d,.]*)元",1]' in text.replace(" ", "")


def test_raw_is_a_keyword_only_after_the_equals_sign() -> None:
    rs = compile_text(r'''
scene raw "raw" {
    when "raw"
    extract raw = raw /raw(\d+)/ as digits
    require raw
}''').ruleset
    assert rs is not None
    [m] = rs.match("raw12")
    assert m.fields == {"raw": "12"}


@pytest.mark.parametrize("clause, code", [
    ('extract v = raw after "余额" money', "E001"),
    ("extract v = raw /(a)(b)/", "E403"),
    ("extract v = raw /(?=a)(b)/", "E402"),
])
def test_raw_extractors_are_checked_like_the_others(clause: str, code: str) -> None:
    result = compile_failing(f'scene s "S" {{\n    when "a"\n    {clause}\n}}\n')
    assert not result.ok and result.artifact is None
    assert [d.code for d in result.diagnostics.errors][:1] == [code]
    assert result.diagnostics.errors[0].span.line == 3


def test_a_malformed_raw_marker_breaks_only_its_record() -> None:
    record = {"id": "s", "name": "S", "category": "c", "priority": 50, "enterprise": None,
              "tags": [], "meta": {}, "sender": None, "templates": [], "when": None,
              "extracts": [["v", "text", "(a)", 1, True]], "require": [], "highlight": [],
              "actions": [], "valid": None}
    assert SceneRunner(0, record, Patterns()).raw[0] is not None
    for bad in ([["v", "text", "(a)", 1, False]], [["v", "text", "(a)", 1, 1, 2]]):
        with pytest.raises(ValueError):
            SceneRunner(0, dict(record, extracts=bad), Patterns())
    compiled = compile_text(SOURCE)
    assert compiled.artifact is not None
    hacked = compiled.artifact.replace(b",1,true]", b",1,null]")  # same length
    rs = loads(_resigned(hacked))
    with pytest.raises(ArtifactError, match="scene record 0 .* is malformed"):
        rs.validate()
    assert rs.match(MSG) == [] and rs.broken_scenes == {"bill"}


def test_a_raw_program_refuses_a_folded_fallback() -> None:
    prog = compile_program("([，,])", 1)
    assert prog is not None
    raw = Regex(prog.code, prog.classes, prog.first, True, prog.second)
    folded = Regex(prog.code, prog.classes, prog.first, False, prog.second)
    assert raw.raw and not folded.raw
    assert raw.extract("x，") == "，" and folded.extract("x，") == ","
    with pytest.raises(ValueError, match="no RE2 fallback"):
        raw.set_fallback(len, None)
    with pytest.raises(ValueError, match="set_fallback"):
        folded.set_text_fallback(len)


def compile_failing(source: str) -> Compiled:
    """compile_paths on one file, for sources that must fail (helpers.compile_text asserts
    success)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.scene")
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        return compile_paths([path])


def _resigned(data: bytes) -> bytes:
    """The artifact with its checksum made valid again (see test_artifact)."""
    from scenec.runtime.artifact import _HEADER
    from test_artifact import resign

    return resign(data[_HEADER.size:])


def test_raw_outside_an_extractor_says_where_it_belongs() -> None:
    result = compile_failing('scene s "S" {\n    when raw /，/\n}\n')
    [err] = result.diagnostics.errors
    assert (err.code, err.span.line, err.span.col) == ("E001", 2, 14)
    assert err.hint is not None and "extractors only" in err.hint


@pytest.mark.parametrize("group", [2, -1, 0, 100])
def test_a_group_the_pattern_lacks_is_refused_not_read(group: int) -> None:
    """A crafted record naming a capture group its pattern does not have (the core reads
    RE2's result without bounds checks; Python would take -1 for the last group) is
    refused by `validate`, and while serving only its scene is skipped: no crash, no
    stray value, on the core's path (a plain scene) and Python's (with a highlight)."""
    source = ('scene s "S" {\n when "码"\n extract c = /码(\\d{4,6})/\n}\n'
              'scene h "H" {\n when "码"\n extract c = /码(\\d{4,6})/\n highlight c\n}\n'
              'scene t "T" {\n template "号${n:digits}号"\n}\n')
    compiled = compile_text(source)
    assert compiled.artifact is not None
    sections = unpack(compiled.artifact)
    scenes = sections["scenes"]
    for record in scenes:
        for ex in record["extracts"]:
            ex[3] = group
        for _, slots in record["templates"]:
            for slot in slots:
                slot[2] = group
    tables = {k: array(v.format, v.tobytes()) for k, v in sections.items()
              if isinstance(v, memoryview)}
    rs = loads(pack(tables, {"meta": sections["meta"], "scenes": scenes}))
    with pytest.raises(ArtifactError, match="is malformed"):
        rs.validate()
    assert rs.match("码123456 号12号") == [] and rs.broken_scenes == {"s", "h", "t"}
    assert rs.match_many(["码123456"], threads=2) == [[]]
