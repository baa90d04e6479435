"""Language semantics pinned on small rule sets: templates, folding, ranking, actions."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

import pytest
from helpers import compile_text
from hypothesis import given, settings
from hypothesis import strategies as st
from scenec.compiler import Reference
from scenec.runtime import Handle

BANK = """
enterprise pingan "平安银行" { sender "95511", "【平安银行】" }
context { segment: str, vip: bool }
scene bill "信用卡账单" {
    enterprise pingan
    category finance.card.bill
    priority 80
    template "您尾号${card:digits}的信用卡本期账单金额为${amount:money}元，\
到期还款日为${due:date}。"
    highlight amount, due
    button "立即还款" -> quickapp("hap://app/x/repay?card=${card}&n=${name}")
    button "还款提醒" -> calendar(due, "信用卡还款 ${amount}元")
    menu "账单分期" -> url("https://m.example.com/i?amt=${amount}&t=${due}") if amount > 3000
    menu "金卡专线" -> tel("95511") if ctx.segment == "gold"
    menu "退订" -> sms("95511", "TD")
    extract name = /尊敬的(\\p{Han}{2,3})/ as word
}
scene generic_bill "账单" {
    when "账单" and "还款"
    extract amount = after "金额" money
}
scene seasonal "活动" {
    when "账单"
    priority 90
    valid 2024-01-01 .. 2024-01-31
}
"""
MSG = "【平安银行】您尾号1234的信用卡本期账单金额为3,562.10元,到期还款日为03月15日。"


def test_template_fields_spans_and_ranking() -> None:
    rs = compile_text(BANK).ruleset
    assert rs is not None
    found = rs.match(MSG, now=dt.date(2025, 1, 1))
    assert [m.scene for m in found] == ["bill", "generic_bill"]
    bill = found[0]
    assert bill.fields == {"card": "1234", "amount": 3562.10, "due": "03-15"}
    assert [(f, MSG[s:e]) for f, s, e in bill.highlights] == [("amount", "3,562.10"),
                                                              ("due", "03月15日")]
    assert found[1].fields == {"amount": 3562.10}


def test_anonymous_placeholders_match_but_keep_no_field() -> None:
    """`${_}` may repeat and keeps its kind's pattern, but gives no field."""
    src = """
scene train "购票" {
    category travel.train
    template "您已购${date:date}${_}次${_:digits}车${_}开"
}
"""
    rs = compile_text(src).ruleset
    assert rs is not None
    m = rs.best("订单号E1，您已购10月17日G31次02车03C号北京南08:30开。")
    assert m is not None and m.fields == {"date": "10-17"}
    assert rs.best("您已购10月17日G31次二车03C号北京南08:30开。") is None  # not digits
    bad = compile_text(src.replace('开"', '开"\n    highlight _'), ok=False)
    [err] = bad.diagnostics.errors
    assert err.code == "E105" and "${_}" in (err.hint or "")


def test_full_width_punctuation_is_equal_in_templates() -> None:
    rs = compile_text(BANK).ruleset
    assert rs is not None
    half = MSG.replace("，", ",")
    full = MSG.replace(",", "，")
    for text in (half, full):
        assert rs.best(text, now=dt.date(2025, 1, 1)).scene == "bill"  # type: ignore[union-attr]


def test_sender_number_or_signature() -> None:
    rs = compile_text(BANK).ruleset
    assert rs is not None
    unsigned = MSG.replace("【平安银行】", "")
    assert rs.best(unsigned, now=dt.date(2025, 1, 1)).scene == "generic_bill"  # type: ignore
    assert rs.best(unsigned, "95511", now=dt.date(2025, 1, 1)).scene == "bill"  # type: ignore


def test_actions_render_drop_and_encode() -> None:
    rs = compile_text(BANK).ruleset
    assert rs is not None
    m = rs.best(MSG, ctx={"segment": "gold"}, now=dt.date(2025, 1, 1))
    assert m is not None
    acts = {a.label: a for a in m.actions}
    assert "立即还款" not in acts  # needs ${name}, which was not extracted
    assert acts["还款提醒"].target == "03-15"
    assert acts["还款提醒"].params == (("title", "信用卡还款 3562.1元"),)
    assert acts["账单分期"].target == "https://m.example.com/i?amt=3562.1&t=03-15"
    assert acts["金卡专线"].kind == "tel" and acts["金卡专线"].target == "95511"
    assert acts["退订"].params == (("body", "TD"),)
    assert [a.label for a in m.actions] == ["还款提醒", "账单分期", "金卡专线", "退订"]
    plain = rs.best(MSG.replace("3,562.10", "100"), now=dt.date(2025, 1, 1))
    assert plain is not None and [a.label for a in plain.actions] == ["还款提醒", "退订"]


def test_url_values_are_encoded() -> None:
    rs = compile_text(BANK).ruleset
    assert rs is not None
    m = rs.best("尊敬的张三：" + MSG, now=dt.date(2025, 1, 1))
    assert m is not None
    target = next(a.target for a in m.actions if a.label == "立即还款")
    assert target == "hap://app/x/repay?card=1234&n=%E5%BC%A0%E4%B8%89"


LINKS = """
scene push "推送" {
    when "阅读全文"
    extract link = /阅读全文[:：]\\s?(\\S+)/
    extract app = /打开[:：]\\s?(\\S+)/
    button "阅读" -> url("${link}")
    button "打开" -> deeplink("${app}")
    menu "分享" -> url("https://share.example/?u=${link}")
}
"""


@pytest.mark.parametrize("link, url", [
    ("http://go.10086.cn/nd/a?b=1&c=2", "http://go.10086.cn/nd/a?b=1&c=2"),
    ("HTTPS://X.EXAMPLE/p", "HTTPS://X.EXAMPLE/p"),
    ("t.cn/RzAbC1", "http://t.cn/RzAbC1"),
    ("www.example.com/x", "http://www.example.com/x"),
    ("javascript:alert(1)", None),
    ("javascript://%0aalert(1)", None),
    ("点击这里", None),
    ("3.5", None),
])
def test_a_target_that_is_one_whole_field_is_the_link_itself(link: str, url: str | None) -> None:
    """`url("${link}")` opens the link the message carries, unencoded, when it is a web
    link; anything else drops the button (the text came from the SMS's sender). A field
    inside a longer target is still percent-encoded."""
    rs = compile_text(LINKS).ruleset
    assert rs is not None
    m = rs.best(f"今日要闻，阅读全文：{link}")
    assert m is not None
    acts = {a.label: a.target for a in m.actions}
    assert acts.get("阅读") == url
    assert acts["分享"].startswith("https://share.example/?u=") and "/" not in acts["分享"][25:]


@pytest.mark.parametrize("app, shown", [
    ("myapp://open/item?id=3", True), ("javascript://x%0aalert(1)", False),
    ("data://text/html,x", False), ("file:///etc/passwd", False), ("no-scheme", False)])
def test_a_whole_field_deeplink_needs_a_safe_scheme(app: str, shown: bool) -> None:
    rs = compile_text(LINKS).ruleset
    assert rs is not None
    m = rs.best(f"阅读全文：http://a.example/x 打开：{app}")
    assert m is not None
    acts = {a.label: a.target for a in m.actions}
    assert (acts.get("打开") == app) is shown and ("打开" in acts) is shown


DLT = """
enterprise hdfc "HDFC Bank" { sender "HDFCBK" }
scene any_prefix "debit" {
    enterprise hdfc
    when "debited"
}
scene one_prefix "debit, one prefix" {
    sender "VM-HDFCBK"
    when "debited"
}
scene named_in_when "debit, sender in when" {
    when "debited" and sender is hdfc
}
"""


@pytest.mark.parametrize("sender, scenes", [
    ("HDFCBK", {"any_prefix", "named_in_when"}),
    ("VM-HDFCBK", {"any_prefix", "one_prefix", "named_in_when"}),
    ("JD-HDFCBK", {"any_prefix", "named_in_when"}),
    ("AD-HDFCBK-S", {"any_prefix", "named_in_when"}),
    ("vm-HDFCBK-t", {"any_prefix", "named_in_when"}),
    ("VMHDFCBK", set()), ("VM-HDFCBKX", set()), ("VM-HDFCB", set()), ("V-HDFCBK", set()),
    ("VM-HDFCBK-ST", set()), ("VM_HDFCBK", set()), ("12-HDFCBK", set()), ("VM-HDFCBＫ", set()),
    (None, set()),
])
def test_a_dlt_sender_answers_to_its_header(sender: str | None, scenes: set[str]) -> None:
    """`sender "HDFCBK"` holds for every DLT form of that header (`VM-HDFCBK`,
    `AD-HDFCBK-S`), a listed full form for itself only; single calls and batches on 1 and 2
    threads agree with the reference interpreter."""
    result = compile_text(DLT)
    rs, ref = result.ruleset, Reference(result.model)
    assert rs is not None
    text = "Rs 100 debited from a/c XX1234"
    assert {m.scene for m in rs.match(text, sender)} == scenes
    assert [m.scene for m in ref.match(text, sender, {}, None)] == [
        m.scene for m in rs.match(text, sender)]
    for threads in (1, 2):
        batch = rs.match_many([text] * 300, [sender] * 300, threads=threads)
        assert all({m.scene for m in found} == scenes for found in batch)


def test_valid_range_uses_now() -> None:
    rs = compile_text(BANK).ruleset
    assert rs is not None
    assert rs.best(MSG, now=dt.date(2024, 1, 15)).scene == "seasonal"  # type: ignore[union-attr]
    assert "seasonal" not in [m.scene for m in rs.match(MSG, now=dt.date(2024, 2, 1))]


def test_argument_types_are_checked_whatever_the_message() -> None:
    """A wrong `ctx` or `now` raises TypeError for every message, not only for those whose
    scenes the Python path finishes (the compiled path reads neither), and a single str
    is no batch of its characters."""
    rs = compile_text(BANK).ruleset
    assert rs is not None
    for text in (MSG, "你好", ""):   # finished in Python, in the core, nothing found
        with pytest.raises(TypeError, match="ctx must be a dict"):
            rs.match(text, ctx=["gold"])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="now must be a date"):
            rs.match(text, now="2024-01-15")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="ctx must be a dict"):
            rs.match_many([text], ctxs=[("segment", "gold")])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="not a single str"):
        rs.match_many(MSG)
    day = dt.date(2024, 1, 15)
    assert rs.match(MSG, ctx=MappingProxyType({"segment": "gold"}), now=day) == \
        rs.match(MSG, ctx={"segment": "gold"}, now=dt.datetime(2024, 1, 15, 9))


def test_batch_arguments_are_not_taken_apart() -> None:
    """A single sender string is not a column of one-character senders, and `threads` is
    a whole number (not "2", 2.5 or True)."""
    rs = compile_text(BANK).ruleset
    assert rs is not None
    with pytest.raises(TypeError, match="not a single str"):
        rs.match_many([MSG] * 5, "95555")  # type: ignore[arg-type]
    for bad in ("2", 2.5, True):
        with pytest.raises(TypeError, match="threads must be an int"):
            rs.match_many([MSG], threads=bad)  # type: ignore[arg-type]
    assert rs.match_many([MSG], ["95555"], threads=0) == [rs.match(MSG, "95555")]
    # any int: one past C's int (and past a long) was an OverflowError from the core
    for many in (2**31, 2**70, -(2**70)):
        assert rs.match_many([MSG] * 20, ["95555"] * 20, threads=many) == [
            rs.match(MSG, "95555")] * 20
    # a single context mapping is not a column of contexts (its keys, one per message)
    with pytest.raises(TypeError, match="one per message, not a single"):
        rs.match_many([MSG, MSG], ctxs={None: 1, 2: 3})  # type: ignore[arg-type]
    # while texts may be any iterable of str, a dict's keys included
    assert rs.match_many(dict.fromkeys([MSG, MSG])) == [rs.match(MSG)]


def test_a_context_that_raises_raises_to_the_caller() -> None:
    """The caller's mapping failing (a backend down) is the caller's error: it propagates,
    and no scene is taken for a broken record."""

    class Down(Mapping):
        def __getitem__(self, key: str) -> object:
            raise RuntimeError("backend down")

        def __iter__(self) -> Iterator[str]:
            return iter(["segment"])

        def __len__(self) -> int:
            return 1

    rs = compile_text(BANK).ruleset
    assert rs is not None
    with pytest.raises(RuntimeError, match="backend down"):
        rs.match(MSG, ctx=Down())
    with pytest.raises(RuntimeError, match="backend down"):
        rs.match_many([MSG], ctxs=[Down()])
    assert rs.broken_scenes == set()
    assert rs.match(MSG, ctx={"segment": "gold"})


def test_a_date_of_thousands_of_digits_is_no_date_and_breaks_nothing() -> None:
    """Python refuses to read an int of over 4,300 digits; the date and time kinds then
    find no value, and the scene still matches (on the core's path and Python's)."""
    rs = compile_text('scene d "D" {\n when "DATE"\n extract due = /(\\d+-\\d+)/ as date\n'
                      ' extract at = /(\\d+:\\d+)/ as time\n}\n'
                      'scene h "H" {\n when "SHOWN"\n extract due = /(\\d+-\\d+)/ as date\n'
                      ' highlight due\n}\n').ruleset
    assert rs is not None
    for word in ("DATE", "SHOWN"):
        for digits in ("9" * 4301, "1" * 10):
            (m,) = rs.match(f"{word} {digits}-1 {digits}:1")
            assert m.fields == {}
    assert rs.broken_scenes == set()
    (m,) = rs.match("DATE 03-12 09:30")
    assert m.fields == {"due": "03-12", "at": "09:30"}


def test_str_subclasses_are_read_as_their_text() -> None:
    """A str subclass (numpy's `str_`, values from pandas or Arrow) is a str: it matches
    like the plain string on every path, and a non-str is a TypeError on every path."""

    class Text(str):
        pass

    rs = compile_text(BANK).ruleset
    assert rs is not None
    for text in (MSG, "你好", ""):   # finished in Python, in the core, nothing found
        want = rs.match(text)
        assert rs.match(Text(text)) == want and rs.best(Text(text)) == rs.best(text)
        assert rs.match_many([Text(text), text], threads=2) == [want, want]
    for bad in (b"abc", 12, None):
        with pytest.raises(TypeError):
            rs.match(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            rs.match_many([MSG, bad])  # type: ignore[list-item]


SENDERS = r"""
enterprise h "HDFC" { sender "HDFCBK", "95555" }
scene s "S" { enterprise h
 when "debited" }
scene p "P" { when "paid" and sender is h and /paid\s+\d+/ }
"""


def test_a_sender_is_read_as_its_text_and_only_a_str_is_one() -> None:
    """A str subclass sender (a numpy or Arrow value from a batch's column) is its text,
    DLT header included: `VM-HDFCBK` as a subclass missed `sender "HDFCBK"` on every
    path. Anything not a str is no sender, as documented: a list raised TypeError
    (unhashable), an object equal to everything held for every sender rule."""
    from scenec.compiler import Reference

    class Text(str):
        def __hash__(self) -> int:
            raise RuntimeError("a sender's own hash is never called")

    class Anything:
        def __hash__(self) -> int:
            return hash("95555")

        def __eq__(self, other: object) -> bool:
            return True

    compiled = compile_text(SENDERS)
    rs, ref = compiled.ruleset, Reference(compiled.model)
    assert rs is not None
    texts = ["debited 5", "paid 12"]
    for sender, want in [(Text("VM-HDFCBK"), [["s"], ["p"]]), (Text("95555"), [["s"], ["p"]]),
                         (["VM-HDFCBK"], [[], []]), ({"95555": 1}, [[], []]),
                         (Anything(), [[], []]), (95555, [[], []])]:
        for text, scenes in zip(texts, want, strict=True):
            assert [m.scene for m in rs.match(text, sender)] == scenes, (sender, text)
            assert [m.scene for m in ref.match(text, sender)] == scenes, (sender, text)
        for threads in (1, 2):
            batch = rs.match_many(texts * 20, [sender] * 40, threads=threads)
            assert [[m.scene for m in ms] for ms in batch] == want * 20, sender
        assert rs.woken(texts[0], sender) >= (1 if want[0] else 0)


def test_match_many_equals_match() -> None:
    """Batches are scanned in chunks of 8 by helper threads while the caller's thread
    finishes the scanned ones: every size around a chunk boundary, on 1 to 8 threads.
    Senders are looked up 16 at a time (Matcher._sender_ids): the batch mixes every kind
    the table answers differently (a known number, none, unknown, longer than a slot, a
    str subclass, not a str)."""

    class Number(str):
        pass

    rs = compile_text(BANK).ruleset
    assert rs is not None
    texts = [MSG, "", "账单 还款", MSG.replace("【平安银行】", "")] * 50
    kinds = ["95511", None, "x", "9" * 40, Number("95511"), 95511, "95511"]  # 7: every
    senders = (kinds * 29)[:200]                                 # text meets every kind
    day = dt.date(2025, 1, 1)
    want = [rs.match(t, s, now=day) for t, s in zip(texts, senders, strict=True)]
    for threads in (1, 2, 3, 8):
        for size in (0, 1, 7, 8, 9, 17, 33, 200):
            assert rs.match_many(texts[:size], senders[:size], now=day,
                                 threads=threads) == want[:size]


def test_escaped_parens_are_literal_not_lookaround() -> None:
    """`\\(?=` is an optional literal paren then `=`, not a lookahead: it must compile."""
    rs = compile_text(r'''
scene s "S" {
    when "尾号"
    extract card = /尾号\(?=?(\d{4})/ as digits
    extract tail = /card\s*\(?(\d{4})/ as digits
}''').ruleset
    assert rs is not None
    found = rs.best("尾号(=1234 card (5678")
    assert found is not None and found.fields == {"card": "1234", "tail": "5678"}


@pytest.mark.parametrize("pattern", [r"(\ｄ+)", r"a\ｂ", r"(\ｘ４１)", r"[\ｗ]", r"\Ｑa\Ｅ",
                                     r"(\１)"])
def test_an_escaped_full_width_letter_is_refused_as_written(pattern: str) -> None:
    """`\\ｄ` folded to `\\d` and matched any digit (`\\ｂ` a word boundary, `\\ｘ４１` an
    A) where RE2 and a `raw` extractor refuse it as an invalid escape: now both are the
    same located E401, quoting what the author wrote."""
    for clause in (f"when /{pattern}/", f'when "Q"\n extract v = /({pattern})/',
                   f'when "Q"\n extract v = raw /({pattern})/'):
        result = compile_text(f'scene s "S" {{ {clause} }}', ok=False)
        errors = result.diagnostics.errors
        assert [d.code for d in errors] == ["E401"], clause
        assert "invalid escape sequence: \\" + pattern.split("\\")[1][0] in \
            errors[0].message, errors[0].message


def test_escaped_full_width_punctuation_is_still_a_literal() -> None:
    """`\\（` and `\\　` stay literals once folded: a paren and a space."""
    rs = compile_text('scene s "S" { when "Q"\n extract v = /Q(\\（\\　\\＿)/ }').ruleset
    assert rs is not None
    found = rs.best("Q（　＿")
    assert found is not None and found.fields == {"v": "( _"}


@pytest.mark.parametrize("pattern, hits, misses", [
    (r"\Q（\E", ["价（", "价("], ["价\\", "价"]),          # was \Q\(\E: the text \(
    (r"\Q＄.\E", ["价＄.", "价$."], ["价$x", "价\\."]),
    (r"\Q(?=\E", ["价(?=", "价（?＝"], ["价("]),           # was E402 lookaround
    (r"\Q\1a++(?>\E", ["价\\1a++(?>"], ["价1a"]),         # was E402 backreference
    (r"\Q＼Ｅ", ["价\\E", "价＼Ｅ"], ["价E", "价\\"]),     # a folded \E must not end it
    (r"\Qa\Ｅb\E", ["价a\\Eb", "价a\\Ｅb"], ["价ab"]),
])
def test_quoted_regex_text_is_literal_after_folding(pattern: str, hits: list[str],
                                                    misses: list[str]) -> None:
    """`\\Q…\\E` quotes its text: neither its folding (`（` is `(`, not `\\(`) nor the
    backtracking probes (E402) may read it as syntax."""
    rs = compile_text(f'scene s "S" {{ when "价" and /{pattern}/ }}').ruleset
    assert rs is not None
    assert [t for t in hits if rs.best(t) is None] == [] and not rs.broken_scenes
    assert [t for t in misses if rs.best(t) is not None] == []


def test_a_quote_left_open_at_the_end_of_a_regex_is_closed(tmp_path: Path) -> None:
    """`/\\Qa/` is valid RE2 (the quote runs to the end). The runtime searches a `when`
    regex as `(…)`, which the open quote swallowed: the build passed and wrote an
    artifact, every message then broke the scene, and `validate` (so `Handle.reload`)
    refused that artifact. A slot kind so written was E401 `missing )`."""
    compiled = compile_text(r'''
slot s = /\Qab/
scene w "W" { when "价" and /价\Qa/ }
scene t "T" { template "付${x:s}元" }
''')
    rs = compiled.ruleset
    assert rs is not None
    assert [m.scene for m in rs.match("价a")] == ["w"] and rs.best("价") is None
    found = rs.best("付ab元")
    assert found is not None and found.fields == {"x": "ab"}
    assert not rs.broken_scenes
    path = tmp_path / "r.scb"
    path.write_bytes(compiled.artifact or b"")
    Handle(str(path))  # validates, as reload does


def test_python_quick_path_equals_the_compiled_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the core cannot build Match objects itself, `SceneRunner.run` finishes the
    decided extract-only scenes instead: same answers."""
    from scenec.runtime import evaluate

    source = '''
scene bill "账单" { when "账单" extract n = /账单(\\d+)/ as digits extract m = /(\\d+)元/ as money }
scene pay "还款" { when "还款" and not "逾期" extract d = /(\\d+月\\d+日)/ as date }
'''
    texts = ["本期账单123，共45元", "请于3月5日还款", "账单还款7元", "逾期还款", ""]
    want = [compile_text(source).ruleset.match(t) for t in texts]  # type: ignore[union-attr]
    monkeypatch.setattr(evaluate, "_COMPILED_QUICK", False)
    rs = compile_text(source).ruleset
    assert rs is not None
    assert [rs.match(t) for t in texts] == want
    assert rs.match_many(texts, threads=2) == want
    assert want[0] and want[0][0].fields == {"n": "123", "m": 45.0}


def test_results_are_untracked_plain_values() -> None:
    """Results are kept out of the cycle collector (runtime/_core.pyx `untrack_results`)
    on both finishing paths; they stay whole through collections and can be changed."""
    codes = compile_text('scene code "验证码" { when "验证码" extract code = /(\\d{6})/ }')
    assert codes.ruleset is not None
    quick = codes.ruleset.match_many(["验证码123456", "无关"]) + [codes.ruleset.match("验证码1")]
    assert [[m.fields for m in one] for one in quick] == [[{"code": "123456"}], [], [{}]]
    rs = compile_text(BANK).ruleset
    assert rs is not None
    msgs = [MSG, "【平安银行】账单还款金额为12.50元", "无关短信", ""]
    slow = [rs.match(m, now=dt.date(2025, 1, 1)) for m in msgs] + rs.match_many(msgs)
    for one in quick + slow:
        assert not gc.is_tracked(one)
        assert not any(gc.is_tracked(m) for m in one)
    kept = [rs.match(MSG, now=dt.date(2025, 1, 1)) for _ in range(3000)]
    gc.collect()
    assert all([m.scene for m in one] == ["bill", "generic_bill"] for one in kept)
    kept[0].append(kept[1][0])
    kept[0][0].fields["extra"] = [1, 2]
    gc.collect()
    assert kept[0][2] is kept[1][0] and kept[0][0].fields["extra"] == [1, 2]


def test_a_group_that_takes_no_part_gives_no_field() -> None:
    """`/Min (\\d+)|Min Amt/ as money` on "Min Amt": the regex matches, its group does not
    take part, so the field is absent and the scene still matches (it used to raise in
    the normaliser and drop the scene). Every finishing path and the reference agree."""
    from scenec.compiler.reference import Reference

    source = r'''
scene quick "Q" { when "Q:" extract min = /Min (\d+)|Min Amt/ as money }
scene full "F" {
    when "F:"
    extract min = /Min (\d+)|Min Amt/ as money
    extract due = /Due (\d+)|Due soon/ as number
    highlight min, due
    button "Pay" -> url("https://x.example/pay")
}'''
    result = compile_text(source)
    rs, ref = result.ruleset, Reference(result.model)
    assert rs is not None
    for text, fields in [("Q: Min Amt. Rs 5", {}), ("Q: Min 662", {"min": 662.0}),
                         ("F: Min Amt, Due soon", {}), ("F: Min 7 Due 3", {"min": 7.0, "due": 3})]:
        got = rs.match(text)
        assert len(got) == 1 and got[0].fields == fields, (text, got)
        assert [(m.scene, m.fields) for m in ref.match(text)] == [(got[0].scene, fields)]
        assert rs.match_many([text], threads=1) == [got]
    assert not rs.broken_scenes


def test_python_finishing_vm_and_re2_agree() -> None:
    """A scene with highlights and actions is finished in Python: its extractors and
    `/regex/` conditions run on the core's VM up to LONG_TEXT characters and on RE2
    beyond. Both give the same fields and character spans (the padding shifts them)."""
    from scenec.runtime._core import LONG_TEXT

    rs = compile_text(r'''
scene pay "还款" {
    when "账单" and /金额[:：]?\d/ and not /逾期\d+天/
    extract amount = /金额[:：]?(\d[\d,]*(?:\.\d+)?)元/ as money
    extract card = /尾号(\d{4})/ as digits
    highlight amount, card
    button "还款" -> url("https://x.example/pay?amt=${amount}")
}''').ruleset
    assert rs is not None
    msg = "【银行】您尾号6789的账单，金额：1,234.50元。"
    pad = "。" * (LONG_TEXT + 10)
    short, long = rs.match(msg), rs.match(pad + msg)
    assert len(short) == 1 and len(long) == 1
    assert short[0].fields == long[0].fields == {"amount": 1234.5, "card": "6789"}
    a, c = msg.index("1,234.50"), msg.index("6789")
    assert short[0].highlights == (("amount", a, a + 8), ("card", c, c + 4))
    assert long[0].highlights == tuple((n, a + len(pad), b + len(pad))
                                       for n, a, b in short[0].highlights)
    assert short[0].actions == long[0].actions
    assert rs.match("您尾号6789的账单，金额：5元，逾期3天") == []
    assert rs.match(pad + "您尾号6789的账单，金额：5元，逾期3天") == []


def test_when_runs_before_or_after_the_extractors_as_it_needs() -> None:
    """A `when` that compares an extracted field waits for the extractors; one that does
    not runs first (a candidate that fails it costs no extraction). Both give the
    reference's answers, on the Python path (a regex in `when` leaves the core undecided)."""
    from scenec.compiler.reference import Reference

    source = r'''
scene big "Big spend" {
    when /(?i)spent/ and amount > 100
    extract amount = /Rs\.?\s?(\d+)/ as money
}
scene any_spend "Any spend" {
    when /(?i)spent/ and not "refund"
    extract amount = /Rs\.?\s?(\d+)/ as money
}'''
    result = compile_text(source)
    rs, ref = result.ruleset, Reference(result.model)
    assert rs is not None
    for text, want in [("Spent Rs 500", ["big", "any_spend"]), ("spent Rs.50", ["any_spend"]),
                       ("spent Rs 900, refund", ["big"]), ("Rs 900", [])]:
        got = rs.match(text)
        assert sorted(m.scene for m in got) == sorted(want), (text, got)
        assert [(m.scene, m.fields) for m in ref.match(text)] == [
            (m.scene, m.fields) for m in got]


def test_batched_sender_lookups_hold_their_senders() -> None:
    """A sequence that makes a new `str` at each access (and drops it) must not leave the
    batched sender lookup reading freed text."""
    rs = compile_text(BANK).ruleset
    assert rs is not None

    class Fresh:
        def __len__(self) -> int:
            return 40

        def __getitem__(self, i: int) -> str:
            # Same length, so a freed sender's memory is the likely home of a later one
            # (of the other kind, as the period is odd).
            return "".join(["955", "11"] if i % 3 == 0 else ["123", "45"])

    texts = [MSG.replace("【平安银行】", "")] * 40
    day = dt.date(2025, 1, 1)
    got = rs.match_many(texts, Fresh(), now=day)  # type: ignore[arg-type]
    assert [any(m.scene == "bill" for m in ms) for ms in got] == [i % 3 == 0 for i in range(40)]


def test_a_word_set_on_the_python_path_is_its_literals_exactly() -> None:
    """A `when` with a regex is evaluated in Python, where `any(word set)` is one search
    for all the literals (runtime/evaluate.py `_literals_at_once`; `re` on short texts,
    RE2 on long ones): regex characters in a literal are literal, and the answers equal
    the reference interpreter's."""
    source = r'''
words odd = "a.b", "(x)", "$5", "c|d", "[折]", "\\"
scene s "S" { when any(odd, "优惠") and /\d/ }
scene t "T" { when /\d/ and not any(odd) and ("满减" or "优惠" or "x") }
'''
    compiled = compile_text(source)
    rs = compiled.ruleset
    assert rs is not None
    ref = Reference(compiled.model)
    texts = ["a.b 1", "axb 1", "(x) 2", "x 2", "$5 3", "5 3", "c|d 4", "cd 4", "[折]5", "折5",
             "\\6", "优惠7", "满减8", "满减", "a.b", ""]
    texts += [" " * 2000 + t for t in texts]  # past LONG_TEXT: RE2's search
    got = {t: sorted(m.scene for m in rs.match(t)) for t in texts}
    assert got == {t: sorted(m.scene for m in ref.match(t)) for t in texts}
    assert got["a.b 1"] == ["s"] and got["axb 1"] == ["t"] and got["c|d 4"] == ["s"]
    assert got["cd 4"] == [] and got["\\6"] == ["s"] and got["满减8"] == ["t"]


def test_a_big_word_set_and_a_long_text_on_the_python_path() -> None:
    """The merged search is one RE2 automaton for the whole set (linear in the text
    whatever the set's size): a 1,900-literal set with a long literal in it, a
    200,000-character text of the literals' first letter, members found where they are."""
    words = ", ".join(f'"x{i:05d}y"' for i in range(1900))
    long = "a" * 40 + "b"
    rs = compile_text(f'words w = {words}\nscene s "S" {{ when any(w, "{long}") and /\\d/ }}'
                      ).ruleset
    assert rs is not None
    assert rs.best("x" * 200_000 + "1") is None
    assert rs.best("a" * 50 + "b 1") is not None and rs.best("zx01899y 7") is not None
    assert rs.best("x01899 7") is None and rs.best("y" * 5000 + "x01899y 1") is not None


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="ab还款到期 ", max_size=60),
       a=st.sampled_from(["a", "ab", "还款", "b"]), b=st.sampled_from(["b", "ba", "到期", "a"]),
       dist=st.integers(0, 12))
def test_near_agrees_with_the_reference(text: str, a: str, b: str, dist: int) -> None:
    """The runtime's `near` looks up the closest start of `b` (sorted starts, linear in the
    text: the all-pairs loop took 70 s on 160 KB); the reference tries every pair."""
    from scenec.compiler.reference import _near
    from scenec.runtime.evaluate import near

    assert near(text, a, b, dist) == _near(text, a, b, dist)


@pytest.mark.parametrize("slot", [r"(?P<_s1>\d)", r"(?P<_s2>\d)", r"(?P<v>\d)", r"((\d))"])
def test_a_slot_kinds_own_groups_never_take_a_placeholders_place(slot: str) -> None:
    """A template's placeholders (and an `after` extractor's value) are groups found by
    counting: a slot kind whose own group was named like the generated ones (`_s1`) gave
    the second placeholder the first one's value."""
    rules = (f'slot k = /{slot}/\nscene s "x" {{\n template "a${{x:k}}b${{_:k}}-${{y:k}}'
             'c${z:digits}"\n extract w = after "c" k\n}\n')
    rs = compile_text(rules).ruleset
    assert rs is not None
    (m,) = rs.match("a1b3-2c9")
    assert m.fields == {"x": "1", "y": "2", "z": "9", "w": "9"}


@settings(max_examples=200, deadline=None)
@given(text=st.text("ab", max_size=60), a=st.text("ab", min_size=1, max_size=6))
def test_starts_of_a_string_are_every_overlapping_one(text: str, a: str) -> None:
    """`near`'s starts, by str.find or past its budget by the Z-function, are every start."""
    from scenec.runtime.evaluate import _starts, _z_starts

    want = [i for i in range(len(text)) if text.startswith(a, i)]
    assert list(_starts(text, a)) == want and _z_starts(text, a, 0) == want


def test_near_is_linear_when_a_string_overlaps_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """`near("xy…xy", …)` with a 4,000-character string that overlaps itself found each
    start by str.find from the one before, comparing all 4,000 characters again at each
    (400,000 characters: 4 s). Past a budget of that work the remaining starts come from
    the Z-function, one pass over the text; ordinary strings never need it."""
    from scenec.runtime import evaluate

    calls: list[int] = []
    real = evaluate._z_starts
    monkeypatch.setattr(evaluate, "_z_starts",
                        lambda text, a, after: calls.append(len(text)) or real(text, a, after))
    text = "xy" * 20_000 + "b"
    assert not evaluate.near(text, "xy" * 2000, "b", 3999)  # its last start is 4,000 before
    assert evaluate.near(text, "xy" * 2000, "b", 4000)
    assert len(calls) == 2
    calls.clear()
    assert evaluate.near("验证码" * 5000 + "登录", "验证码", "登录", 3)
    assert not evaluate.near("ab " * 20_000, "ab", "zz", 3) and calls == []


class _OddStr(str):
    """A context value whose own `==` raises: the runtime and the reference read it as
    its plain str value, never through its methods."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("odd")

    __hash__ = str.__hash__


def test_a_context_value_is_read_as_its_plain_value() -> None:
    """A fact's value of a subclass (a str or int whose comparison raises or lies) was
    compared with its own methods: the error was caught as if the record were malformed,
    the scene listed in `broken_scenes` (which the CLI reports as 'rebuild the
    artifact'). A subclass is now read as its plain str, int or float value."""

    class Liar(str):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = str.__hash__

    rs = compile_text(BANK).ruleset
    assert rs is not None
    gold = rs.match(MSG, ctx={"segment": "gold"})
    assert rs.match(MSG, ctx={"segment": _OddStr("gold")}) == gold
    assert rs.match(MSG, ctx={"segment": Liar("silver")}) == rs.match(
        MSG, ctx={"segment": "silver"})
    assert rs.broken_scenes == set()


def test_a_context_key_is_read_as_its_plain_text() -> None:
    """Round 14: a fact's name given as a str subclass whose `==` raises (or an object
    hashing like the name) was compared by the scene's lookup: the error was taken for a
    malformed record, the message lost the scene without a word, and `broken_scenes`
    (which the CLI reports as 'rebuild the artifact') listed it from then on. A key is
    read as its plain text; a key that is no str names no fact."""

    class OddKey:
        def __hash__(self) -> int:
            return hash("segment")

        def __eq__(self, other: object) -> bool:
            raise RuntimeError("odd")

    rs = compile_text(BANK).ruleset
    assert rs is not None
    gold = rs.match(MSG, ctx={"segment": "gold"})
    assert rs.match(MSG, ctx={_OddStr("segment"): "gold"}) == gold
    assert rs.match_many([MSG], ctxs=[{_OddStr("segment"): "gold"}]) == [gold]
    assert rs.match(MSG, ctx={OddKey(): "gold"}) == rs.match(MSG)
    assert rs.broken_scenes == set()


class _OddDay(dt.date):
    """A day whose comparisons raise: the runtime reads it as its plain date."""

    def __le__(self, other: object) -> bool:
        raise RuntimeError("odd")

    __ge__ = __lt__ = __gt__ = __eq__ = __le__
    __hash__ = dt.date.__hash__


class _OddMoment(dt.datetime):
    def date(self) -> dt.date:
        return _OddDay(self.year, self.month, self.day)


def test_now_is_read_as_its_plain_day() -> None:
    """Round 14: `now` of a date subclass whose comparisons raise (or a datetime whose
    `date()` gives one) was compared with a scene's `valid` range by its own methods: the
    error was taken for a malformed record, the scene lost and listed in `broken_scenes`
    from then on. `now` is read as its plain year, month and day."""
    src = 'scene a "A" {\n  when "x" and /x/\n  valid 2020-01-01 .. 2030-12-31\n}\n'
    rs = compile_text(src).ruleset
    assert rs is not None
    for now in (_OddDay(2025, 1, 1), _OddMoment(2025, 1, 1, 12)):
        assert [m.scene for m in rs.match("x", now=now)] == ["a"]
        assert [[m.scene for m in r] for r in rs.match_many(["x"], now=now)] == [["a"]]
    assert rs.match("x", now=_OddDay(2031, 1, 1)) == []
    assert rs.broken_scenes == set()


def test_the_reference_reads_a_context_value_as_the_runtime_does() -> None:
    """Round 11: the reference interpreter still compared a subclass's value with its own
    methods, so it raised where the runtime matched (a str whose `__eq__` raises, an int
    whose `__gt__` does) and answered otherwise where one lied (a float equal to
    everything was `in [1, 2.5]`); the two are held to the same answers."""
    from scenec.compiler.reference import Reference

    class Rude(int):
        def __gt__(self, other: object) -> bool:
            raise RuntimeError("rude")

    class Liar(float):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = float.__hash__

    src = ('context { n: number, s: str }\nscene a "A" {\n  when "x" and ctx.n > 3\n}\n'
           'scene b "B" {\n  when "x" and ctx.n in [1, 2.5]\n}\n'
           'scene c "C" {\n  when "x" and ctx.s in ["p", "q"]\n}\n')
    built = compile_text(src)
    assert built.ruleset is not None
    ref = Reference(built.model)
    day = dt.date(2026, 1, 1)
    for ctx in ({"n": Rude(5)}, {"n": Liar(4.0)}, {"s": _OddStr("p")}):
        want = [m.scene for m in built.ruleset.match("x", None, ctx, day)]
        assert [m.scene for m in ref.match("x", None, ctx, day)] == want, ctx


def test_batch_columns_may_be_any_iterable() -> None:
    """`senders` and `ctxs` given as generators raised Python's own 'object of type
    generator has no len()'; they are read once, like `texts`. `woken` of a non-str said
    "descriptor '__str__' requires a 'str' object"; now as `match` says it."""
    rs = compile_text(BANK).ruleset
    assert rs is not None
    want = rs.match_many([MSG, "你好"], ["95555", None], ctxs=[{"segment": "gold"}, None])
    assert rs.match_many(iter([MSG, "你好"]), (s for s in ["95555", None]),
                         ctxs=(c for c in [{"segment": "gold"}, None])) == want
    with pytest.raises(ValueError, match="one entry per text"):
        rs.match_many([MSG], (s for s in ["95555", None]))
    with pytest.raises(TypeError, match="text must be str, not int"):
        rs.woken(5)  # type: ignore[arg-type]


_CONDS = st.recursive(
    st.sampled_from([["lit", "账单"], ["lit", "还款"], ["lit", "元"], ["const", True],
                     ["const", False], ["re", "[0-9]{4}"], ["near", "账单", "元", 3],
                     ["sender", ["【平安银行】"], ["95511"]]]),
    lambda kids: st.one_of(
        st.tuples(st.sampled_from(["and", "or"]), st.lists(kids, max_size=4)).map(list),
        kids.map(lambda k: ["not", k])),
    max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(cond=_CONDS, text=st.sampled_from(["账单还款", "账单金额1234元", "元", "", "还款9元账单"]),
       sender=st.sampled_from([None, "95511", "10086"]))
def test_a_generated_condition_decides_as_the_closures_do(cond: list, text: str,
                                                          sender: str | None) -> None:
    """`compile_cond`'s one-expression function (runtime/evaluate.py) against the closure
    tree it replaced, which conditions deeper than MAX_GENERATED_DEPTH still get."""
    from scenec.runtime import evaluate as ev

    rx = ev.Patterns()
    want = bool(ev._closure_cond(cond, rx)(text, sender, {}, {}))
    assert bool(ev.compile_cond(cond, rx)(text, sender, {}, {})) == want
    deep = cond
    for _ in range(ev.MAX_GENERATED_DEPTH + 5):
        deep = ["not", ["not", deep]]
    assert bool(ev.compile_cond(deep, rx)(text, sender, {}, {})) == want
