"""Hypothesis strategies that write random but valid `.scene` rule sets and messages.

Rule sets use every clause kind over a small shared vocabulary, so that generated
messages hit many literals at once, overlap, and come close to templates (near misses).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hypothesis import strategies as st

WORDS = ["信用卡", "账单", "还款", "验证码", "快递", "取件码", "尾号", "元", "余额", "用卡",
         "卡", "码", "到期", "已还清", "ab", "AB", "退订", "，", ":", "【", "】"]
SIGS = ["【平安银行】", "【招商银行】", "【顺丰速运】", "[京东]"]
NUMBERS = ["95511", "95555", "10690001"]
KINDS = ["digits", "money", "date", "code", "word", "time", "phone", "number", "url"]
SAMPLE_VALUES = {
    "digits": ["1234", "88"], "money": ["3,562.10", "12", "0.5"], "date": ["03月15日", "2024-3-5"],
    "code": ["A1B2", "123456"], "word": ["张三", "abc"], "time": ["14:30", "8点"],
    "phone": ["13800138000", "95511"], "number": ["42", "1,000"],
    "url": ["http://t.cn/Ab1", "www.x.com/p"],
}
REGEXES = ["尾号\\d{4}", "[0-9]+元", "(?i)ab", "码.?\\d", "^【"]
EXTRACT_REGEXES = [("tail", "尾号(\\d{4})", "digits"), ("amt", "([0-9,.]+)元", "money"),
                   ("w", "(A[A-Z]*)", "text"), ("fw", "([，：Ａ][0-9,]+)", "text"),
                   ("nb", "([，,：:])\\B", "text")]  # \B: RE2 only (no VM program)


def q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


@dataclass
class SceneSpec:
    fields: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


@st.composite
def cond(draw: st.DrawFn, fields: dict[str, str], depth: int = 0) -> str:
    atoms = [
        st.sampled_from(WORDS).map(q),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(
            lambda ws: "any(" + ", ".join(map(q, ws)) + ")"),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(
            lambda ws: "all(" + ", ".join(map(q, ws)) + ")"),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(
            lambda ws: "none(" + ", ".join(map(q, ws)) + ")"),
        st.sampled_from(["any(ws1)", "all(ws2)", "none(ws1)"]),
        st.sampled_from(REGEXES).map(lambda r: "/" + r + "/"),
        st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS), st.integers(0, 12)).map(
            lambda t: f"near({q(t[0])}, {q(t[1])}, {t[2]})"),
        st.sampled_from(["sender is ent0", "sender is ent1"]),
        st.sampled_from(['ctx.seg == "gold"', 'ctx.seg in ["gold", "silver"]', "ctx.n > 3",
                         "ctx.vip == true", 'ctx.seg != "gold"', "ctx.n <= 3.5"]),
    ]
    numeric = [f for f, k in fields.items() if k in ("money", "number")]
    textual = [f for f, k in fields.items() if k not in ("money", "number")]
    if numeric:
        atoms.append(st.tuples(st.sampled_from(numeric), st.sampled_from(["<", ">=", "==", "!="]),
                               st.sampled_from(["10", "0.5", "3562.1"])).map(" ".join))
    if textual:
        atoms.append(st.sampled_from(textual).map(lambda f: f'{f} == "1234"'))
    if depth >= 2:
        return draw(st.one_of(atoms))
    shape = draw(st.integers(0, 4))
    if shape <= 1:
        return draw(st.one_of(atoms))
    if shape == 2:
        return "not " + draw(cond(fields, depth + 1))
    op = " and " if shape == 3 else " or "
    parts = draw(st.lists(cond(fields, depth + 1), min_size=2, max_size=3))
    return "(" + op.join(parts) + ")"


@st.composite
def template(draw: st.DrawFn, used: dict[str, str]) -> tuple[str, list[tuple[str, str]]]:
    pieces: list[str] = []
    slots: list[tuple[str, str]] = []
    for i in range(draw(st.integers(1, 3))):
        pieces.append(draw(st.sampled_from(WORDS[:16])))
        if draw(st.booleans()):
            name = draw(st.sampled_from(["card", "amount", "due", "code", f"f{i}", "_"]))
            if name == "_":  # anonymous: matched, no field, may repeat
                pieces.append("${_:" + draw(st.sampled_from(KINDS)) + "}")
                continue
            if name in (n for n, _ in slots):
                continue
            kind = used.get(name) or draw(st.sampled_from(KINDS))
            used[name] = kind
            pieces.append("${" + name + ":" + kind + "}")
            slots.append((name, kind))
    if draw(st.booleans()):
        pieces.append(draw(st.sampled_from(WORDS[:16])))
    return "".join(pieces), slots


@st.composite
def scene(draw: st.DrawFn, index: int) -> tuple[str, list[str]]:
    fields: dict[str, str] = {}
    lines = [f'scene s{index} "场景{index}" {{']
    who = draw(st.sampled_from(["", "enterprise ent0", "enterprise ent1", 'sender "95555"',
                                'sender "【招商银行】", "10690001"', 'sender "VM-HDFCBK"']))
    if who:
        lines.append("  " + who)
    if draw(st.booleans()):
        lines.append(f"  priority {draw(st.integers(0, 100))}")
    lines.append(f"  category test.c{index % 3}")
    templates = []
    for _ in range(draw(st.integers(0, 2))):
        text, _ = draw(template(fields))
        templates.append(text)
        lines.append("  template " + q(text))
    for name, rx, kind in draw(st.lists(st.sampled_from(EXTRACT_REGEXES), max_size=2,
                                        unique_by=lambda e: e[0])):
        if name not in fields:
            fields[name] = kind
            raw = "raw " if draw(st.booleans()) else ""  # the caller's text, unfolded
            lines.append(f"  extract {name} = {raw}/{rx}/ as {kind}")
    if draw(st.booleans()) and "lim" not in fields:
        fields["lim"] = "money"
        shared = draw(st.booleans())  # the same extractor, defined once at the top
        lines.append("  extract lim = " + ("shared_lim" if shared else 'after "余额" money'))
    if not templates or draw(st.booleans()):
        lines.append("  when " + draw(cond(fields)))
    if fields and draw(st.booleans()):
        lines.append("  require " + draw(st.sampled_from(sorted(fields))))
    if fields:
        lines.append("  highlight " + ", ".join(draw(st.lists(st.sampled_from(sorted(fields)),
                                                              min_size=1, unique=True))))
    lines.extend(draw(actions(fields)))
    if draw(st.integers(0, 5)) == 0:
        lines.append(draw(st.sampled_from(["  valid 2020-01-01 .. 2030-12-31",
                                           "  valid 2024-01-01 .. 2024-06-30"])))
    lines.append("}")
    return "\n".join(lines), templates


@st.composite
def actions(draw: st.DrawFn, fields: dict[str, str]) -> list[str]:
    out = ['  button "打开" -> url("https://x.example/a?b=${' + draw(st.sampled_from(
        sorted(fields) or ["nope"])) + '}")'] if fields and draw(st.booleans()) else []
    if fields and draw(st.booleans()):  # a whole-field target: the value is the link, or no button
        kind = draw(st.sampled_from(["url", "deeplink"]))
        field = draw(st.sampled_from(sorted(fields)))
        out.append(f'  button "链接" -> {kind}("${{{field}}}")')
    guard = " if ctx.vip == true" if draw(st.booleans()) else ""
    out.append('  menu "客服" -> tel("95511")' + guard)
    if fields and draw(st.booleans()):
        f = draw(st.sampled_from(sorted(fields)))
        out.append(f'  button "复制${{{f}}}" -> copy({f})')
    dates = [f for f, k in fields.items() if k == "date"]
    if dates:
        out.append(f'  button "提醒" -> calendar({dates[0]}, "还款 ${{{dates[0]}}}")')
    out.append('  menu "退订" -> sms("10690001", "TD")')
    return out


HEADER = """
enterprise ent0 "平安" { sender "95511", "【平安银行】" }
enterprise ent1 "京东" { sender "[京东]", "10690001", "HDFCBK" }
words ws1 = "账单", "还款", "到期"
words ws2 = "快递", "取件码"
extractor shared_lim = after "余额" money
context { seg: str, n: number, vip: bool }
"""


@st.composite
def rule_set(draw: st.DrawFn) -> tuple[str, list[str]]:
    n = draw(st.integers(1, 6))
    texts, templates = [], []
    for i in range(n):
        src, tpls = draw(scene(i))
        texts.append(src)
        templates.extend(tpls)
    return HEADER + "\n".join(texts) + "\n", templates


@st.composite
def message(draw: st.DrawFn, templates: list[str]) -> str:
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.integers(0, 6))
        if kind <= 1 and templates:
            parts.append(_instantiate(draw, draw(st.sampled_from(templates))))
        elif kind == 1 or kind == 6:
            parts.append(draw(st.sampled_from(SIGS)))
        elif kind == 2:
            parts.append(draw(st.text(alphabet="0123456789,.元：:A -", max_size=6)))
        elif kind == 3:
            parts.append(draw(st.sampled_from(["，", "：", "　", "Ａ", "１２", "\ud83d"])))
        else:
            parts.append(draw(st.sampled_from(WORDS)))
    return "".join(parts)


def _instantiate(draw: st.DrawFn, text: str) -> str:
    import re

    def value(m: re.Match) -> str:
        kind = m.group(1).split(":")[1]
        return draw(st.sampled_from(SAMPLE_VALUES[kind] + ["x"]))

    out = re.sub(r"\$\{([^}]*)\}", value, text)
    if draw(st.integers(0, 4)) == 0 and len(out) > 2:  # a near miss: drop one character
        i = draw(st.integers(0, len(out) - 1))
        out = out[:i] + out[i + 1 :]
    return out
