"""Hostile messages: any Python `str` is matched without error, exactly as the reference.

Messages are drawn from the whole code space (lone surrogates, NUL and control characters,
astral emoji, combining marks, full-width forms, mixed scripts, `【` without `】`) mixed
with the rule set's own literals so that scenes really fire. For each one `match`, `best`
and `match_many` (1 and 2 threads) must agree with the reference interpreter, and every
highlight must be a valid slice of the given `str`. SCENEC_FUZZ_EXAMPLES raises the count.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import compile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scenec.compiler import Compiled, Reference
from scenec.runtime import Ruleset

SOURCE = r"""
enterprise cmb "招商银行" { sender "95555", "【招商银行】" }
enterprise sf "顺丰" { sender "[顺丰速运]", "【顺丰速运】" }
context { seg: str, n: number, vip: bool }
words codes = "验证码", "校验码", "code"
slot ref = /[A-Z]{2}\d{4}/
scene spend "消费" {
    enterprise cmb
    category finance.card
    template "您尾号${card:digits}的信用卡消费${amount:money}元"
    template "卡${card:digits}消费${amount:money}"
    extract limit = after "可用额度" money
    highlight card, amount, limit
    button "查账单" -> url("https://x.example/bill?c=${card}&a=${amount}")
    menu "致电" -> tel("95555") if ctx.seg == "gold"
    menu "短信" -> sms("95555", "CX ${card} ${amount}")
}
scene code "验证码" {
    when any(codes) and not "退订"
    extract code = /(\d{4,8})/ as code
    highlight code
    button "复制" -> copy(code)
    button "回复" -> sms("10690001", "TD ${code}")
}
scene parcel "快递" {
    enterprise sf
    template "取件码${pick:code}"
    extract ref = /单号([A-Z]{2}\d{4})/ as ref
    require pick
    highlight pick, ref
    button "打开" -> quickapp("hap://app/sf?p=${pick}")
}
scene near_hit "near" {
    when near("还款", "到期", 6) or /(?i)due\s+\d+/
    extract d = after "到期" date
    highlight d
    button "打开" -> deeplink("app://due?d=${d}") if ctx.n >= 3
    button "提醒" -> calendar(d, "还款 ${d}")
}
scene vip "VIP" {
    when ctx.vip == true and "尊享" and not all("广告", "退订")
    priority 80
    extract t = after "时间" time
    extract who = /尊享(\p{Han}{1,4})/
    highlight t, who
}
scene refs "ref" {
    template "订单${r:ref}已发货"
    valid 2024-01-01 .. 2030-12-31
    highlight r
    button "查看" -> url("https://x.example/o/${r}")
}
"""

FRAGMENTS = [
    "【招商银行】", "【顺丰速运】", "[顺丰速运]", "【", "】", "【招商", "银行】", "您尾号", "1234",
    "的信用卡消费", "88.00", "元", "卡", "消费", "3,562.10", "可用额度", "验证码", "校验码", "code",
    "123456", "退订", "取件码", "A1B2", "单号", "SF1234", "还款", "到期", "03月15日", "due 12",
    "DUE  7", "尊享", "张三", "广告", "时间", "14:30", "订单", "AB1234", "已发货", "，", "：",
    "１２３４", "ＡＢ", "\u3000", "\x00", "\x07", "\x1b[31m", "\r\n", "\n", "\t", "\ud800",
    "\udfff", "\udc80", "😀", "👨\u200d👩\u200d👧", "\U0001d400", "e\u0301", "\u0301\u0301",
    "\u202e", "\ufeff", "\ufffd", "ﬁ", "Ⅻ", "ا", "한", "ß", "İ", "ǅ", "\U0010ffff", "${code}",
    "%", "&", "/", "?", "#", "您尾号1234的信用卡消费88.00元", "卡１２３４消费5", "取件码A1B2",
    "订单AB1234已发货", "还款 到期",
]
ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
MESSAGE = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(ANY_CHAR, max_size=8)),
                   max_size=30).map("".join)
SENDERS = st.one_of(st.sampled_from([None, "95555", "10690001", "", "95555\x00", "VM-HDFCBK",
                                     "ad-95555-S", "VM-HDFCBK\x00", "VM-HDFＣBK"]),
                    st.text(ANY_CHAR, max_size=6))
CTXS = [{}, {"seg": "gold", "n": 5, "vip": True}, {"seg": "\ud800", "n": float("nan")},
        {"n": True, "vip": 1}, {"seg": None, "n": 1e308, "vip": True}]
DAY = dt.date(2026, 11, 27)
EXAMPLES = int(os.environ.get("SCENEC_FUZZ_EXAMPLES", "150"))


@pytest.fixture(scope="module")
def compiled() -> Compiled:
    return compile_text(SOURCE)


def as_tuple(m: Any) -> tuple:
    if hasattr(m, "name"):  # runtime Match
        acts = tuple((a.slot, a.kind, a.label, a.target, a.params) for a in m.actions)
        return (m.scene, repr(m.fields), m.highlights, acts)
    return (m.scene, repr(m.fields), m.highlights, m.actions)  # RefMatch


def check_all(rs: Ruleset, ref: Reference, texts: list[str], senders: list[str | None],
              ctx: dict) -> None:
    """The whole contract on one batch: no exception, reference answers, valid spans."""
    singles = []
    for text, sender in zip(texts, senders, strict=True):
        got = rs.match(text, sender, ctx, DAY)
        want = ref.match(text, sender, ctx, DAY)
        assert [as_tuple(m) for m in got] == [as_tuple(m) for m in want], (text, sender, ctx)
        best = rs.best(text, sender, ctx, DAY)
        assert (best is None and not got) or as_tuple(best) == as_tuple(got[0])
        for m in got:
            for name, start, end in m.highlights:
                assert 0 <= start <= end <= len(text), (name, start, end, len(text))
            json.dumps(m.to_json())  # results are JSON-friendly whatever the text
        singles.append([as_tuple(m) for m in got])
    for threads in (1, 2):
        batch = rs.match_many(texts, senders, ctxs=[ctx] * len(texts), now=DAY, threads=threads)
        assert [[as_tuple(m) for m in ms] for ms in batch] == singles


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(texts=st.lists(MESSAGE, min_size=1, max_size=6), data=st.data())
def test_any_message_matches_like_the_reference(compiled: Compiled, texts: list[str],
                                                 data: st.DataObject) -> None:
    rs, ref = compiled.ruleset, Reference(compiled.model)
    assert rs is not None
    senders = [data.draw(SENDERS) for _ in texts]
    check_all(rs, ref, texts, senders, data.draw(st.sampled_from(CTXS)))


def test_the_rule_set_really_fires(compiled: Compiled) -> None:
    """Guard against a vacuous property: the fragments do reach every scene."""
    rs = compiled.ruleset
    assert rs is not None
    hits = {
        "spend": rs.best("【招商银行】您尾号1234的信用卡消费88.00元，可用额度3,562.10元"),
        "code": rs.best("验证码123456"), "parcel": rs.best("【顺丰速运】取件码A1B2 单号SF1234"),
        "near_hit": rs.best("还款 到期03月15日"), "refs": rs.best("订单AB1234已发货", now=DAY),
        "vip": rs.best("尊享张三 时间14:30", ctx={"vip": True}),
    }
    assert {k: (m.scene if m else None) for k, m in hits.items()} == {k: k for k in hits}


BIG = 1 << 20


@pytest.mark.parametrize("name", ["empty", "megabyte_mix", "megabyte_brackets",
                                  "megabyte_open_brackets", "megabyte_surrogates",
                                  "megabyte_nul", "megabyte_one_line_digits", "combining"])
def test_extreme_messages(compiled: Compiled, name: str) -> None:
    unit = "".join(FRAGMENTS)
    texts = {
        "empty": "",
        "megabyte_mix": (unit * (BIG // len(unit) + 1))[:BIG],
        "megabyte_brackets": "【招商银行】" * (BIG // 6),
        "megabyte_open_brackets": "【" * BIG + "验证码1234",
        "megabyte_surrogates": "\ud800\udc00\udfff" * (BIG // 3) + "取件码A1B2",
        "megabyte_nul": "\x00" * BIG + "验证码999999",
        "megabyte_one_line_digits": "验证码" + "9" * BIG,
        "combining": "验证码" + "\u0301" * 10_000 + "12345" + "\u200d" * 10_000,
    }
    rs, ref = compiled.ruleset, Reference(compiled.model)
    assert rs is not None
    text = texts[name]
    check_all(rs, ref, [text, text[: len(text) // 2]], ["95555", None], CTXS[1])


def scenec(*args: str | bytes, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "scenec.compiler.cli", *args], input=stdin,
                          capture_output=True, timeout=120)


def test_cli_match_on_hostile_text(compiled: Compiled, tmp_path: Path) -> None:
    """Undecodable argv bytes, lone surrogates, control characters and long lines: the CLI
    answers (exit 0) and --json stays parseable."""
    art = tmp_path / "rules.scb"
    art.write_bytes(compiled.artifact or b"")
    for arg in [b"\xff\xfe\xed\xa0\x80\xe9\xaa\x8c\xe8\xaf\x81\xe7\xa0\x81123456",
                "【招商银行】您尾号1234的信用卡消费88.00元\x07\x1b[2J",
                "验证码1234😀e\u0301" + "【" * 5000, "\u202e验证码 4321", "-- 验证码5555"]:
        for flags in ([], ["--json"], ["--best", "--sender", "95555"]):
            r = scenec("match", str(art), *flags, "--", arg)
            assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
            if flags == ["--json"]:
                doc = json.loads(r.stdout)
                assert isinstance(doc["matches"], list)
    lines = b"\n".join([b"\xff\xfe bad bytes \xe9\xaa\x8c\xe8\xaf\x81\xe7\xa0\x81123456",
                        "\ud7ff验证码0000\x00".encode(), b"\x00\x00", b"a" * 200_000])
    messages = tmp_path / "m.txt"
    messages.write_bytes(lines)
    for source in (["--file", str(messages)], ["--file", "-"]):
        r = scenec("match", str(art), *source, "--json",
                   stdin=lines if source[-1] == "-" else None)
        assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
        docs = [json.loads(x) for x in r.stdout.decode("utf-8").splitlines()]
        assert len(docs) == 4 and docs[0]["matches"][0]["fields"]["code"] == "123456"


@pytest.fixture(scope="module")
def library() -> Compiled:
    from scenec.compiler import compile_paths

    result = compile_paths([str(Path(__file__).resolve().parent.parent / "rules")],
                           run_examples=False)
    assert result.ok and result.ruleset is not None
    return result


@st.composite
def library_message(draw: st.DrawFn, examples: list[str]) -> str:
    """A shipped example, cut and spliced with hostile fragments."""
    text = draw(st.sampled_from(examples))
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(text)))
        piece = draw(st.one_of(st.sampled_from(FRAGMENTS), st.text(ANY_CHAR, max_size=4)))
        text = text[:i] + piece + text[i + draw(st.integers(0, 3)):]
    return text


@settings(max_examples=max(20, EXAMPLES // 3), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_shipped_library_on_hostile_variants(library: Compiled, data: st.DataObject) -> None:
    """The shipped library, on its own examples damaged with hostile characters."""
    examples = sorted({e.text for s in library.model.scenes for e in s.examples})
    assert library.ruleset is not None
    texts = data.draw(st.lists(library_message(examples), min_size=1, max_size=4))
    senders = [data.draw(SENDERS) for _ in texts]
    check_all(library.ruleset, Reference(library.model), texts, senders, {})
