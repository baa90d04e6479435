"""Every built-in slot kind: what it accepts inside a template, and the value it yields."""

from __future__ import annotations

import pytest
import re2
from scenec.runtime.kinds import BUILTIN, normalise, render_value

CASES = [
    ("digits", "尾号1234的", "1234", "1234"),
    ("code", "验证码A1b2C3，", "A1b2C3", "A1b2C3"),
    ("number", "共12件", "12", 12),
    ("number", "共1,024.5件", "1,024.5", 1024.5),
    ("money", "金额3,562.10元", "3,562.10", 3562.10),
    ("money", "金额200元", "200", 200.0),
    ("money", "退款-15.5元", "-15.5", -15.5),
    ("date", "于03月15日还款", "03月15日", "03-15"),
    ("date", "于3月5日还款", "3月5日", "03-05"),
    ("date", "于2024-03-15还款", "2024-03-15", "2024-03-15"),
    ("date", "于2024年3月15日还款", "2024年3月15日", "2024-03-15"),
    ("date", "截至14年10月27日", "14年10月27日", "2014-10-27"),
    ("date", "于2024/3/15还款", "2024/3/15", "2024-03-15"),
    ("date", "due on 12-Dec-2025.", "12-Dec-2025", "2025-12-12"),
    ("date", "due on 25/12/2025.", "25/12/2025", "2025-12-25"),
    ("date", "due on 12/25/2025.", "12/25/2025", "2025-12-25"),
    ("date", "Pay by 05 Jan 26 to avoid", "05 Jan 26", "2026-01-05"),
    ("date", "on Dec 2, 2025 at", "Dec 2, 2025", "2025-12-02"),
    ("date", "by December 12 2025", "December 12 2025", "2025-12-12"),
    ("date", "from 2nd December", "2nd December", "12-02"),
    ("date", "DOJ:12Dec2025 10:30", "12Dec2025", "2025-12-12"),
    ("date", "dated 3rd Sept. for", "3rd Sept", "09-03"),
    ("date", "on 15-AUG-22 at", "15-AUG-22", "2022-08-15"),
    ("date_dmy", "due on 05-12-2025.", "05-12-2025", "2025-12-05"),
    ("date_dmy", "on 5/12/25 at", "5/12/25", "2025-12-05"),
    ("date_dmy", "on 05.12.2025 at", "05.12.2025", "2025-12-05"),
    ("date_dmy", "on 2025-12-05 at", "2025-12-05", "2025-12-05"),
    ("date_dmy", "by 12-Dec-25 to", "12-Dec-25", "2025-12-12"),
    ("time", "于14:30起飞", "14:30", "14:30"),
    ("time", "于14时30分起飞", "14时30分", "14:30"),
    ("time", "于8点半起飞", "8点半", "08:30"),
    ("time", "于09:05:07起飞", "09:05:07", "09:05:07"),
    ("time", "于下午3点到", "下午3点", "15:00"),
    ("time", "晚上8点半开始", "晚上8点半", "20:30"),
    ("time", "中午1点前", "中午1点", "13:00"),
    ("time", "中午12点前", "中午12点", "12:00"),
    ("time", "上午9:30开诊", "上午9:30", "09:30"),
    ("time", "at 3:00 PM today", "3:00 PM", "15:00"),
    ("time", "at 12:30 am", "12:30 am", "00:30"),
    ("time", "at 5:05:45 p.m.", "5:05:45 p.m.", "17:05:45"),
    ("phone", "电话13800138000联系", "13800138000", "13800138000"),
    ("phone", "电话010-12345678联系", "010-12345678", "01012345678"),
    ("phone", "电话400-820-8820联系", "400-820-8820", "4008208820"),
    ("phone", "致电95555查询", "95555", "95555"),
    ("phone", "电话138-0013-8000联系", "138-0013-8000", "13800138000"),
    ("phone", "Call +86 138 0013 8000 now", "+86 138 0013 8000", "+8613800138000"),
    ("date", "于2024-02-29还款", "2024-02-29", "2024-02-29"),
    ("date", "于02月29日还款", "02月29日", "02-29"),
    ("url", "详见https://t.cn/AbC?x=1 退订", "https://t.cn/AbC?x=1", "https://t.cn/AbC?x=1"),
    ("url", "详见t.cn/RxYz3 ", "t.cn/RxYz3", "t.cn/RxYz3"),
    ("word", "尊敬的张三先生", "尊敬的张三先生", "尊敬的张三先生"),
]


@pytest.mark.parametrize(("kind", "text", "raw", "value"), CASES)
def test_kind_finds_and_normalises(kind: str, text: str, raw: str, value: object) -> None:
    m = re2.compile(BUILTIN[kind].pattern).search(text)
    assert m is not None and m.group(0) == raw
    assert normalise(kind, raw) == value


@pytest.mark.parametrize(("kind", "raw"), [("date", "13月45日"), ("time", "25:00"),
                                          ("time", "12:75"), ("time", "24:59"),
                                          ("date", "2024-00-10"),
                                          ("date", "02月30日"), ("date", "2023-02-29"),
                                          ("date", "4/31"), ("date", "31-Feb-2025"),
                                          ("date", "Feb 30"), ("date", "Dec"),
                                          ("date", "12/05/2025"), ("date", "31/02/2025"),
                                          ("date_dmy", "31-02-2025"), ("date_dmy", "05-13-2025"),
                                          ("money", "9" * 400 + ".00"),
                                          ("number", "9" * 400 + ".5")])
def test_impossible_values_are_not_extracted(kind: str, raw: str) -> None:
    assert normalise(kind, raw) is None


def test_every_kind_is_tested() -> None:
    assert {k for k, *_ in CASES} | {"text"} == set(BUILTIN)


def test_user_kinds_keep_their_text() -> None:
    assert normalise("tracking", "SF1234567890") == "SF1234567890"


@pytest.mark.parametrize(("value", "text"), [(3000.0, "3000"), (3562.1, "3562.1"), (12, "12"),
                                             ("03-15", "03-15")])
def test_render_value(value: object, text: str) -> None:
    assert render_value(value) == text  # type: ignore[arg-type]


@pytest.mark.parametrize("host_limit", [0, 4300, 100_000])
def test_a_number_is_read_the_same_whatever_the_hosts_int_limit(host_limit: int) -> None:
    """`number` reads an int with at most 4,300 digits, Python's default limit. A host that
    lifted it (`sys.set_int_max_str_digits(0)`) had a message's 1,000,000-digit number read
    (6.8 s: the time grows with the square of the length) and kept as a field."""
    import sys

    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(host_limit)
    try:
        assert normalise("number", "9" * 4300) == int("9" * 4300)
        assert normalise("number", "-" + "9" * 4301) is None
        assert normalise("number", "1" + ",000" * 2000) is None
    finally:
        sys.set_int_max_str_digits(before)


@pytest.mark.parametrize("text", ["statement for Jan 2026 is ready", "your Dec 2025 bill",
                                  "A/c XX1234Dec", "on 45 Dec 2025"])
def test_an_english_month_needs_a_day(text: str) -> None:
    """A month with a year and no day ("Jan 2026", not January 20), or with a number no
    day can be, gives no value: a calendar button needs a day."""
    m = re2.compile(BUILTIN["date"].pattern).search(text)
    assert m is not None and normalise("date", m.group(0)) is None


@pytest.mark.parametrize("kind", ["date", "date_dmy"])
@pytest.mark.parametrize("raw", ["20041-02-29", "12345-12-05", "2 Mar 99999",
                                 "29-02-20041", "999999999-1-1"])
def test_a_year_of_five_digits_or_more_is_no_date(kind: str, raw: str) -> None:
    """A date's value is `YYYY-MM-DD`. A year beyond 9999 (from a user regex read `as
    date`) gave `12345-12-05`, and its day was checked against the year of its first four
    digits: `20041-02-29` passed as a leap day (2004's) into calendar buttons."""
    assert normalise(kind, raw) is None
