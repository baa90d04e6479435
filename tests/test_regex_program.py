"""The core's linear VM for extractor regexes (`_core.Regex`, `runtime/regex_program.py`)
gives exactly what RE2 gives on the folded text: the same leftmost-first match, the same
group span, the same value. Checked on generated patterns and texts, on the shipped
library's extractors over the labelled corpus, and on the peers' workload shapes."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scenec.runtime import load
from scenec.runtime._core import Regex
from scenec.runtime.fold import fold, unpaired
from scenec.runtime.kinds import BUILTIN
from scenec.runtime.regex_program import (
    TOO_LARGE,
    Parser,
    Unsupported,
    build_program,
    caseless_bmp,
    compile_program,
    nullable,
)

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = re2.Options()
OPTIONS.log_errors = False

# Texts mix ASCII word and non-word characters, a newline, CJK, and full-width forms that
# fold to ASCII (so a pattern's `,` must find the text's `，`).
ALPHABET = "ab0189,. _\n-元消费：:，．Ａ１\u3000é"
LEAVES = ["a", "b", "0", "9", ",", r"\.", " ", "元", "消", ":", "-", ".", r"\d", r"\w", r"\s",
          r"\D", r"\W", r"\S", "[ab]", "[^a]", "[0-9,]", "[a-z0-9]", r"[\d.]", "[^\\n]", "[元消]",
          r"[-a]", r"\x61", r"\x{5143}", r"\n", "é"]
ASSERTS = ["^", "$", r"\b", r"\A", r"\z"]
QUANTS = ["*", "+", "?", "{2}", "{1,3}", "{0,2}", "{2,}"]


def _quantified(draw: st.DrawFn, body: str) -> str:
    q = draw(st.sampled_from(["", ""] + QUANTS))
    lazy = "?" if q and draw(st.booleans()) else ""
    return body + q + lazy


# Case folding (`(?i)`) stays in the VM for ASCII and for code points without a case
# (₹, CJK; regex_program.fold_ranges); é has one and keeps its pattern on RE2.
ASCII_LEAVES = [x for x in LEAVES if x != "é"] + [
    "k", "K", "s", "S", "[a-k]", "[^s]", r"\x4B", r"[\x41-\x4B]", r"[^\W]", "₹", "[₹£]",
    r"[\x{4e00}-\x{9fa5}]", "[^元]"]
FOLD_ALPHABET = "abksxzABKSX09 ,_-\n\u212a\u017f\u00e9\u5143\u20b9\u00a3\u6d88"


@st.composite
def patterns(draw: st.DrawFn, depth: int = 2, fold: bool = False,
             leaves: list[str] | None = None) -> str:
    """A pattern whose repeated parts can never match empty (outside the subset otherwise);
    with `fold`, of ASCII leaves, in groups that may turn case folding on."""
    parts = []
    leaves = leaves or (ASCII_LEAVES if fold else LEAVES)
    openers = ["(", "(?:", "(?s:", f"(?P<n{depth}>"] + (["(?i:", "(?is:", "(?i)("] if fold else [])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 9 if depth > 0 else 6))
        if kind <= 5:
            parts.append(_quantified(draw, draw(st.sampled_from(leaves))))
        elif kind == 6:
            parts.append(draw(st.sampled_from(ASSERTS)))
        else:
            inner = [draw(patterns(depth - 1, fold, leaves))
                     for _ in range(draw(st.integers(1, 3)))]
            opener = draw(st.sampled_from(openers))
            group = opener + "|".join(inner) + ")"
            safe = all(not _can_be_empty(x) for x in inner)
            parts.append(_quantified(draw, group) if safe else group)
    return "".join(parts)


def _can_be_empty(p: str) -> bool:
    """Zero-width included (`\\b`): repeating such a part is outside the VM's subset."""
    return nullable(Parser(p).parse())


def vm(pattern: str, group: int, raw: bool = False) -> Regex | None:
    prog = compile_program(pattern, group)
    return None if prog is None else Regex(prog.code, prog.classes, prog.first, raw,
                                           prog.second, prog.onepass)


def vm_within_budget(pattern: str, group: int) -> Regex | None:
    """What `evaluate.Patterns.program` keeps: None also when the closures are over the
    VM's per-step budget (the Regex refuses them; RE2 keeps the pattern)."""
    try:
        return vm(pattern, group)
    except ValueError:
        return None


def too_large(pattern: str, group: int) -> bool:
    """Beyond the VM's size budgets (instructions, or closure entries per step)."""
    try:
        prog = build_program(pattern, group)
    except Unsupported as exc:
        return str(exc) == TOO_LARGE
    try:
        Regex(prog.code, prog.classes, prog.first, False, prog.second)
    except ValueError as exc:
        return "closures exceed" in str(exc)
    return False


def re2_span(pattern: str, group: int, text: str, raw: bool = False) -> tuple[int, int] | None:
    """RE2's span on the text as a program reads it: folded, or for a raw program
    (`extract … = raw /…/`) as given with only surrogates replaced."""
    m = re2.compile(pattern, OPTIONS).search(unpaired(text) if raw else fold(text))
    return None if m is None else m.span(group)


def assert_same(pattern: str, group: int, text: str, raw: bool = False) -> None:
    """Both engines give RE2's span and value (see re2_span)."""
    r = vm(pattern, group, raw)
    assert r is not None, pattern
    want = re2_span(pattern, group, text, raw)
    seen = unpaired(text) if raw else fold(text)
    assert r.search(text, "pike") == want, (pattern, group, text)
    assert r.search(text, "backtrack") == want, (pattern, group, text)
    if r.onepass:
        assert r.search(text, "onepass") == want, (pattern, group, text)
    value = None if want is None or want[0] < 0 else seen[want[0]:want[1]]
    assert r.extract(text) == value


def assert_same_drawn(pattern: str, text: str, data: st.DataObject, raw: bool = False) -> None:
    """assert_same for a group drawn from a pattern RE2 accepts, within the VM's budgets."""
    try:
        groups = re2.compile(pattern, OPTIONS).groups
    except re2.error:
        return  # not a pattern the compiler would have accepted
    group = data.draw(st.integers(1, groups))
    if not too_large(pattern, group):  # nested counted repeats: RE2 keeps those
        assert_same(pattern, group, text, raw)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patterns(), st.text(ALPHABET, max_size=30), st.data())
def test_vm_equals_re2_on_generated_patterns(body: str, text: str, data: st.DataObject) -> None:
    pattern = f"({body})" if data.draw(st.booleans()) else f"{body}(a|{body})b?"
    assert_same_drawn(pattern, text, data)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patterns(fold=True), st.text(FOLD_ALPHABET, max_size=30), st.data())
def test_vm_equals_re2_under_case_folding(body: str, text: str, data: st.DataObject) -> None:
    """`(?i)`: ASCII letters match either case, K and S also KELVIN SIGN and LONG S, and a
    negated class is the complement of the folded one, as RE2 has them."""
    prefix = "(?i)" if data.draw(st.booleans()) else ""
    assert_same_drawn(f"{prefix}({body})", text, data)


@pytest.mark.parametrize("pattern", [
    r"(?i)(k)", r"(?i)(K)", r"(?i)(s+)", r"(?i)(\w+)", r"(?i)(\W+)", r"(?i)([^k]+)",
    r"(?i)([a-z]+)", r"(?i)([^\W]+)", r"(?i)([\W]+)", r"(?i)(\x4B)", r"(?i)([\x41-\x4B]+)",
    r"(?i:(k))s", r"(?i)([k-m]+)", r"(?i)(\S+)", r"(?i)([^s]+)", r"(?i)(\bk)", r"(?i)(x|k)+",
])
def test_case_folding_partners(pattern: str) -> None:
    """KELVIN SIGN folds with k, LONG S with s, for literals, ranges and \\w alike; a
    negated class or \\W leaves them out."""
    for text in ["k", "K", "\u212a", "s", "S", "\u017f", "é", "_", "-", "ok\u212aS\u017fx!",
                 "\u212a\u212ak", "-\u017f-", "Ka\u212a"]:
        assert_same(pattern, 1, text)


def test_case_folding_beyond_ascii_stays_on_re2() -> None:
    assert vm("(?i)(é)", 1) is None and vm("(?i)([à-ÿ])", 1) is None
    assert vm("(?i)([₹-é])", 1) is None and vm("(?i)(\\x{10400})", 1) is None
    assert vm("(?i)(\\x{0378})", 1) is None  # unassigned: a later Unicode may case it
    assert vm("(?i)(Rs|₹)", 1) is not None and vm("(?i)([一-龥]+)", 1) is not None
    assert vm("(?-i:(a))", 1) is None and vm("(?m)(a)", 1) is None
    assert vm("(é)(?i:(a))", 2) is not None  # folding starts only where the flag does


def _class_of(cps: list[int]) -> str:
    """A bracket class of the code points, as \\x{…} ranges."""
    runs: list[list[int]] = []
    for cp in cps:
        if runs and runs[-1][1] == cp - 1:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp])
    return "[" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in runs) + "]"


def test_caseless_code_points_fold_to_themselves_in_re2() -> None:
    """What `caseless` accepts, RE2's `(?i)` leaves alone: split the accepted BMP code
    points on each bit, and RE2's folded class of one side matches nothing on the other
    side and no code point `caseless` refuses. Any two code points differ in some bit, so
    a fold between two accepted ones, or to a cased one, would show."""
    flags = caseless_bmp()
    bmp = [cp for cp in range(0x80, 0x10000) if not 0xD800 <= cp < 0xE000]
    accepted = [cp for cp in bmp if flags[cp]]
    refused = "".join(chr(cp) for cp in bmp if not flags[cp])
    assert 0x20B9 in accepted and 0x5143 in accepted and 0xE9 not in accepted
    for bit in range(16):
        side = [cp for cp in accepted if cp >> bit & 1]
        other = "".join(chr(cp) for cp in accepted if not cp >> bit & 1)
        if side:
            rx = re2.compile("(?i)" + _class_of(side), OPTIONS)
            assert rx.search(other) is None and rx.search(refused) is None, bit


WORKLOAD = [
    r"(?P<amount>[0-9][0-9,]*\.[0-9]{2})元", r"(?P<date>[0-9]{2}月[0-9]{2}日)",
    r"(?P<code>[0-9]{4,8})", r"应还[：:为是]?(?P<amount>[0-9][0-9,]*\.[0-9]{2})元",
    r"信用卡.{0,6}?(?P<amount>[0-9][0-9,]*\.[0-9]{2})元", r"(?P<phone>1[3-9][0-9]{9})",
    r"取件码[::为是]?(?P<code>[0-9]{4,8})",
]


@pytest.mark.parametrize("pattern", WORKLOAD)
@given(text=st.text("0123456789,.元月日应还信用卡取件码：:为是 ，．１", max_size=60))
@settings(max_examples=200, deadline=None)
def test_vm_equals_re2_on_workload_shapes(pattern: str, text: str) -> None:
    assert_same(pattern, 1, text)


DATE_TIME_TEXT = "0123456789 -,.:/DdEeCcJjAaNnMmYySsTtHhRrPp年月日号于下午点半Ｄ１"


@given(text=st.text(DATE_TIME_TEXT, max_size=40))
@settings(max_examples=400, deadline=None)
def test_vm_equals_re2_on_the_date_and_time_kinds(text: str) -> None:
    """The `date`, `date_dmy` and `time` kinds, with English month names and AM/PM under
    `(?i:…)`, run on the VM (every extractor of them does) and find what RE2 finds."""
    for kind in ("date", "date_dmy", "time"):
        assert_same(f"({BUILTIN[kind].pattern})", 1, text)
        assert_same(f"due[: ]*({BUILTIN[kind].pattern})", 1, "due " + text)


@pytest.mark.parametrize("pattern", [r"(\d\d)", r"( \d)", r"(\s\S)", r"(,\d)", r"(a)",
                                     r"(元\d)", r"(消费)"])
def test_the_start_search_in_wide_text(pattern: str) -> None:
    """The VM skips to where a match can start (`rx_skip`: the one raw code point that can,
    or a code point whose fold is in the first class, passing over code points that cannot
    fold into an ASCII first class unfolded): each kind of unit that folds to ASCII
    (full-width forms, the ideographic space) or not (a surrogate), at every offset of a
    wide text, before and after 8-unit boundaries (a vectorised skip, tried in session 13,
    would work in such blocks)."""
    starts = ["1", "１", "\u3000", "，", "ａ", " ", ",", "元", "消", "\ud800"]
    for pad in range(19):
        for first in starts:
            text = "甲" * pad + first + "２费元3乙"
            assert_same(pattern, 1, text)
            assert_same(pattern, 1, text + "丙" * (8 - pad % 8))


# A raw program (`extract … = raw /…/`) reads the text unfolded: its patterns may name
# full-width forms, and RE2 on the text with only surrogates replaced is the oracle.
RAW_LEAVES = LEAVES + ["，", "Ａ", "１", "[，,]", "[^，]", "[Ａ-Ｚa]", "\u3000", r"[\d１]"]
RAW_ALPHABET = ALPHABET + "\ud83d"


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patterns(leaves=RAW_LEAVES), st.text(RAW_ALPHABET, max_size=30), st.data())
def test_raw_vm_equals_re2_on_the_unfolded_text(body: str, text: str,
                                                data: st.DataObject) -> None:
    pattern = f"({body})" if data.draw(st.booleans()) else f"{body}(a|{body})b?"
    assert_same_drawn(pattern, text, data, raw=True)


@pytest.mark.parametrize("pattern", [r"(,\d)", r"(，\d)", r"([，、]\d)", r"(\s\S)", r"(１)",
                                     r"(\x{FFFD}.)"])
def test_the_raw_start_search_in_wide_text(pattern: str) -> None:
    """rx_skip for a raw program: a full-width form starts a match only where the pattern
    names it, never through its fold; a surrogate reads as U+FFFD."""
    starts = ["1", "１", "\u3000", "，", "ａ", " ", ",", "元", "\ud800"]
    for pad in range(10):
        for first in starts:
            text = "甲" * pad + first + "２费元3乙"
            assert_same(pattern, 1, text, raw=True)
            assert_same(pattern, 1, "，" + text + "丙" * (8 - pad % 8), raw=True)


def corpus_texts() -> list[str]:
    with open(ROOT / "tests" / "corpus" / "labelled.tsv", encoding="utf-8") as f:
        return [row[-1] for row in csv.reader(f, delimiter="\t") if row]


def test_vm_equals_re2_on_the_library_and_real_messages(tmp_path: Path) -> None:
    """Every extractor of the shipped rules the VM takes, on every labelled message."""
    from scenec.compiler import build

    out = tmp_path / "rules.scb"
    assert build([str(ROOT / "rules")], str(out), run_examples=False).ok
    rs = load(out)
    extracts = {(str(p), int(g)) for i in range(len(rs)) for _, _, p, g in
                rs._records[i]["extracts"]}
    taken = [(p, g, r) for p, g in sorted(extracts) if (r := vm_within_budget(p, g)) is not None]
    assert len(taken) >= 0.6 * len(extracts), "the VM should cover most library extractors"
    texts = corpus_texts()
    assert len(texts) >= 300
    for pattern, group, r in taken:
        for text in texts:
            want = re2_span(pattern, group, text)
            assert r.search(text, "pike") == r.search(text) == want, (pattern, text)


@pytest.mark.parametrize("pattern", [
    r"(?i)(é)", r"(?m)(^a)", r"(\p{Han})", r"([[:alpha:]])", r"(a*)*", r"(a?)+b", r"(\Qa\E)",
    r"(?U)(a+)", r"(\C)", r"(a){1001}", r"(\B)",
])
def test_outside_the_subset_stays_on_re2(pattern: str) -> None:
    assert compile_program(pattern, 1) is None


def test_a_program_whose_steps_could_be_costly_stays_on_re2() -> None:
    """A repeated 100-way alternation gives closures beyond the VM's per-step budget (each
    of its 100 characters can be followed by any of them): the scene still works, through
    RE2."""
    from helpers import compile_text

    chars = [chr(0x4E00 + i) for i in range(100)]
    pattern = f"((?:{'|'.join(chars)})+c)"
    prog = compile_program(pattern, 1)
    assert prog is not None
    with pytest.raises(ValueError, match="closures exceed"):
        Regex(prog.code, prog.classes, prog.first, False, prog.second)
    rs = compile_text(f'scene s "S" {{ when "c"\n extract v = /{pattern}/ }}').ruleset
    assert rs is not None
    text = "x" + chars[7] + chars[99] + "c"
    found = rs.best(text)
    assert found is not None and found.fields == {"v": chars[7] + chars[99] + "c"}
    assert not rs.broken_scenes


def test_a_missing_group_is_not_compiled() -> None:
    assert compile_program(r"(a)", 2) is None
    assert compile_program(r"(?:a)", 1) is None


@pytest.mark.parametrize("code, classes, first", [
    ([], [], -1),                        # empty program
    ([0, 1, 0, 4, 0, 0], [((97, 97),)], -1),  # class index out of range
    ([1, 0, 9, 4, 0, 0], [], -1),        # split target out of range
    ([2, -1, 0, 4, 0, 0], [], -1),       # jump target negative
    ([3, 2, 0, 4, 0, 0], [], -1),        # save slot other than 0/1
    ([5, 9, 0, 4, 0, 0], [], -1),        # unknown assertion
    ([9, 0, 0], [], -1),                 # unknown opcode
    ([0, 0, 0], [((97, 97),)], -1),      # a class instruction falls off the end
    ([4, 0, 0], [((98, 98), (97, 97))], -1),  # ranges not ascending
    ([4, 0, 0], [((97, 0x110000),)], -1),     # beyond Unicode
    ([4, 0, 0], [], 0),                  # first class out of range
])
def test_malformed_programs_are_refused(code: list[int], classes: list, first: int) -> None:
    with pytest.raises(ValueError):
        Regex(code, classes, first)


@pytest.mark.parametrize("first, second", [(0, 1), (0, -2), (-1, 0)])
def test_a_second_class_out_of_range_or_without_a_first_is_refused(first: int,
                                                                   second: int) -> None:
    with pytest.raises(ValueError):
        Regex([4, 0, 0], [((97, 97),)], first, False, second)


@pytest.mark.parametrize("pattern, second", [
    (r"(?:^|[^\d])(\d{3})", "0123456789"),   # the boundary may be the text's start
    (r"(a|bc)d", "cd"), (r"(ab?)c", "bc"), (r"(a{2,})", "a"), (r"x\b(y)", "y"),
    (r"(ab|c){2}", "abc"), (r"(?:a|)b(c)", "bc"),
])
def test_second_class(pattern: str, second: str) -> None:
    """The code points a match of two or more can have second, over-approximated where
    assertions are concerned (they are passed over)."""
    prog = build_program(pattern, 1)
    ranges = prog.classes[prog.second]
    assert {chr(c) for lo, hi in ranges for c in range(lo, hi + 1)} == set(second)


@pytest.mark.parametrize("pattern", [r"(a)", r"(ab?)", r"(a*b)", r"(?:a|bc)?(d)", r"(\b)a",
                                     r"(a)?", r"(.(?:))"])
def test_no_second_class_where_a_match_may_be_one_code_point(pattern: str) -> None:
    assert build_program(pattern, 1).second == -1


def test_a_second_class_skips_starts_but_keeps_the_match() -> None:
    """A phone number after a non-digit: the start before the digits is the only one
    kept, and the text's start (`^`) still counts."""
    for text in ["电话 13912345678 找", "13912345678", "x13912345678", "号码1391234567 8"]:
        assert_same(r"(?:^|[^\d])(1[3-9]\d{9})(?:[^\d]|$)", 1, text)


def test_backtracking_enters_each_state_once() -> None:
    """Three equal alternatives under a star give 3**k paths through k letters; the
    backtracker must enter each (instruction, position) once, or this never returns.
    Texts whose states exceed its bit budget are refused (`auto` takes the Pike VM)."""
    r = vm(r"((?:a|a|a)*(?:b|b)*c)", 1)
    assert r is not None
    for text in ["ab" * 300, "a" * 500 + "b" * 400, "a" * 300 + "c"]:
        want = re2_span(r"((?:a|a|a)*(?:b|b)*c)", 1, text)
        assert r.search(text, "backtrack") == r.search(text, "pike") == want
    with pytest.raises(ValueError, match="too long"):
        r.search("a" * 10_000, "backtrack")
    with pytest.raises(ValueError, match="engine must be"):
        r.search("a", "dfa")
    assert r.search("a" * 10_000) is None


def test_long_and_odd_texts() -> None:
    r = vm(r"(?P<amount>[0-9][0-9,]*\.[0-9]{2})元", 1)
    assert r is not None
    big = "9," * 200_000 + "\ud800\x00" + "1.23元"
    assert r.search(big) == re2_span(r"([0-9][0-9,]*\.[0-9]{2})元", 1, big)
    assert r.extract("") is None and r.extract("\ud800" * 10) is None
    assert r.extract("１２．３４元") == "12.34"  # full-width folds inside the value


@pytest.mark.parametrize("pattern", [r"(a{001})", r"(a{1,01})", r"(a{01,2})", r"(a{00})",
                                     r"(a{0,00})", r"(a{1,1234567890})", r"(\d{02}x)"])
def test_a_count_re2_reads_as_literal_text_is_literal_text(pattern: str) -> None:
    """RE2 reads a repetition count with a leading zero, or of ten digits or more, as no
    count: `a{001}` is the text "a{001}". The VM read it as `a{1}` and found "a" in any
    text with an a, where RE2 (long texts) found nothing."""
    for text in ["a", "aaaa", "a{001}", "a{1,01}", "a{01,2}", "a{00}", "a{0,00}",
                 "a{1,1234567890}", "12x", "1{02}x", "x"]:
        assert_same(pattern, 1, text)


# One-pass programs (regex_program.one_pass): a plain sequence of quantified classes where
# none can give back a code point to what follows. Generated from leaves that Python's `re`
# (ASCII mode, `$` as `\Z`) reads as RE2 does, so both are oracles.
ONE_PASS_LEAVES = ["a", "b", "0", "9", ",", r"\.", " ", "元", ":", "x", r"\d", r"\w", r"\s",
                   r"\D", "[ab]", "[^a]", "[0-9,]", "[元消]", "[^0-9]", "é", "😀", "[a-z]"]
ONE_PASS_ALPHABET = "ab09x,. :元消\n１，é😀Ab"
ONE_PASS_QUANTS = ["", "", "", "+", "*", "?", "{2}", "{1,3}", "{2,}", "{0,2}", "{3}?"]


def _one_pass_leaf(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(ONE_PASS_LEAVES)) + draw(st.sampled_from(ONE_PASS_QUANTS))


@st.composite
def one_pass_patterns(draw: st.DrawFn) -> str:
    """A sequence of quantified leaves, assertions, optional runs of leaves and
    alternations of runs, with one group around a stretch."""
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            parts.append(draw(st.sampled_from(["^", "$", r"\b"])))
        elif kind >= 8:
            runs = ["".join(_one_pass_leaf(draw) for _ in range(draw(st.integers(1, 3))))
                    for _ in range(draw(st.integers(1, 3)))]
            parts.append(f"(?:{'|'.join(runs)})" + ("?" if kind == 8 else ""))
        else:
            leaf = draw(st.sampled_from(ONE_PASS_LEAVES))
            if draw(st.integers(0, 5)) == 0:
                leaf = f"(?:{leaf}|{draw(st.sampled_from(ONE_PASS_LEAVES))})"
            parts.append(leaf + draw(st.sampled_from(ONE_PASS_QUANTS)))
    i = draw(st.integers(0, len(parts) - 1))
    j = draw(st.integers(i + 1, len(parts)))
    return "".join(parts[:i]) + "(" + "".join(parts[i:j]) + ")" + "".join(parts[j:])


def re_span(pattern: str, text: str) -> tuple[int, int] | None:
    """Python `re`'s span of group 1 on the folded text, reading the pattern as RE2 does."""
    m = re.search(pattern.replace("$", r"\Z"), fold(text), re.ASCII)
    return None if m is None else m.span(1)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(one_pass_patterns(), st.text(ONE_PASS_ALPHABET, max_size=40))
def test_one_pass_equals_the_vm_re2_and_re(pattern: str, text: str) -> None:
    """The one-pass loop, the backtracker, the Pike VM, RE2 and `re` agree wherever the
    pattern is taken as one-pass; a `raw` program too, on every string kind."""
    r = vm(pattern, 1)
    if r is None or not r.onepass:
        return
    want = re2_span(pattern, 1, text)
    assert re_span(pattern, text) == want, (pattern, text)
    for t in (text, text + "😀", "Ä" + text):
        assert_same(pattern, 1, t)
        assert_same(pattern, 1, t, raw=True)


@pytest.mark.parametrize("pattern, onepass", [
    (r"(?P<amount>[0-9][0-9,]*\.[0-9]{2})元", True), (r"(?P<code>[0-9]{4,8})", True),
    (r"应还[：:为是]?(?P<amount>[0-9][0-9,]*\.[0-9]{2})元", True), (r"^(a+)", True),
    (r"(?i)rs\.? ?(\d+)", True), (r"(\d+)\b\D", True), (r"(a*)b*a", False),
    (r"(\d+)\b", False), (r"(a|bc)", True), (r"(\d+?)x", False), (r"(a)+", False),
    (r"(a+)$b?", False), (r"a+^(b)", False), (r"([0-9,]+)\d", False), (r"(\b)", False),
    (r"(?i)(?:Rs|INR|₹)[.:]?\s?(\d[\d,]*(?:\.\d+)?)", True), (r"(a|ab)c", False),
    (r"余额(?:为)?(?:人民币)?(\d[\d,]*(?:\.\d+)?)", True), (r"(?:ab)?(a)", False),
    (r"(?:^|x)(\d)", False), (r"(?:a|b*)(c)", False), (r"(?:a\d*|b)(\d)", False)])
def test_the_one_pass_shape(pattern: str, onepass: bool) -> None:
    """Taken: quantified classes where a class never overlaps what may follow it (up to
    the first item that must consume), `^` first, `$` last, `\\b` before a consuming item,
    optional runs and alternations of runs whose branches start with disjoint classes.
    Not: lazy ranges, repeated groups, a class or an optional run that could give back a
    code point, branches that may start alike or match nothing, `\\b` with nothing to
    consume after it."""
    r = vm(pattern, 1)
    assert r is not None and r.onepass == onepass


@pytest.mark.parametrize("pattern, text", [
    (r"(\d+)x", "1" * 1_000_000), (r"([0-9][0-9,]*\.[0-9]{2})元", "12," * 300_000),
    (r"(\d+)\s*(?:a|b)", "12 " * 300_000), (r"(\d{4,8})元", "1" * 1_000_000),
    (r"[0-9]+,[0-9]+(x)", "1,1,1," + "1" * 500_000),
    (r"(?:Rs|INR)\.?(\d[\d,]*(?:\.\d+)?)x", "Rs" + "1" * 500_000 + ".")])
def test_one_pass_time_is_linear(pattern: str, text: str) -> None:
    """A start at each digit of a long run does not scan the run again (each unbounded
    class remembers its last run), and a pattern whose runs the memory does not cover gives
    up for the VM after 2 (n + 1) x cost steps: counted steps, never a quadratic scan."""
    r = vm(pattern, 1)
    assert r is not None and r.onepass
    for t in (text, text + "x", "元" + text):
        assert r.search(t, "onepass") == re2_span(pattern, 1, t)
        steps = Regex.onepass_steps()
        assert -1 <= steps <= 40 * (len(t) + 1), (pattern, steps)


def test_malformed_one_pass_items_are_refused() -> None:
    prog = compile_program(r"(\d+)", 1)
    assert prog is not None and prog.onepass
    for items in [(0, 5, 1, -1), (0, 0, 2, 1), (3, 0, 0, 0), (1, 2, 0, 0), (2, 3, 0, 0),
                  (0, 0, 1), (0, 0, 1, 0)]:
        with pytest.raises(ValueError, match="one-pass"):
            Regex(prog.code, prog.classes, prog.first, False, prog.second, items)
    with pytest.raises(ValueError, match="not a one-pass"):
        vm(r"(a*)b*a", 1).search("a", "onepass")  # type: ignore[union-attr]
