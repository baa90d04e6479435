"""The tryout set (session 26): 240 made-up everyday notices written the way 2024–2026
senders write them (140 Chinese `zh…`, 100 English `en…`), as a new user would type them
into `scenec match`; then 60 variants of the kinds fixed, written after the fixes and not
tuned on (`zv…`, `ev…`), and 33 imitations that must not get a service scene: adverts,
lures and chat in the same words (`zi…`, `ei…`, categories `-` or marketing). Session 26c
added 150 more English notices in phrasings the first round had not used (`en101`–`en250`:
American, British and Indian senders, other enterprises and word orders) and 150 more
Chinese everyday notices (`zn…`). Session 27 (everyday3) added 75 English notices from
American, British, Indian, Singaporean and Australian senders (`e3…`) and 75 Chinese ones
(`z3…`) in phrasings and enterprises the earlier rounds had not used. Session 27c (everyday4)
added 50 English (`e4…`: also Canadian senders) and 50 Chinese (`z4…`) notices, favouring
government, schools, hospitals and pharmacies, utilities, insurance, funds, property, car
services, subscriptions and travel changes. Session 28 (everyday5) added 50 English
(`e5…`) and 50 Chinese (`z5…`) more of the same kinds in phrasings the earlier rounds had
not used. Session 28b (everyday6) added 50 English (`e6…`) and 50 Chinese (`z6…`) more,
session 28d (everyday7) 30 English (`e7…`) and 30 Chinese (`z7…`), everyday8 40 English
(`e8…`) and 40 Chinese (`z8…`).
`tests/corpus/tryout.tsv` gives, per message, the sender (may be empty), the categories a
careful reader accepts (`/`-separated; `-` = no scene is also right) and the fields the
best match must carry (`name` present, `name=value` equal). The floors are what the library
gave when the set was written, so a change may raise them, never lower."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from scenec.compiler import build
from scenec.runtime import Ruleset, load

ROOT = Path(__file__).resolve().parents[1]
TRYOUT = ROOT / "tests" / "corpus" / "tryout.tsv"
NOW = dt.date(2026, 11, 27)
# right scene with every expected field, after session 26's fixes (first try: zh 94, en 61;
# the variants and imitations were written after the fixes; session 26c's en101–en250: first
# try 68 of 150 and one wrong, 107 after its fixes; en029 gained its tracking number)
# zn: first try 105 of 150 (0 wrong), 141 after session 26c's fixes, 148 after session 27's
# (audit-zh9: pick-up codes as their own kind, 联通's "您…月消费", 广电's 宽带费, 德邦 and 京东物流
# deliveries, 携程's flight refund; zn082/083/086 and zn112 accept the new or fitting category)
# session 27 (everyday3): e3 first try 37 of 75 (3 wrong), z3 56 of 75 (2 wrong); after its
# fixes e3 73, z3 75 (none wrong), and the earlier rounds' en 235 (en199, Xfinity's bill, also
# accepted as a telecom bill); its pick-up codes merged into audit-zh9's drink_pickup_code
# session 27c (everyday4): e4 first try 22 of 50, z4 38 of 50 (none wrong, five answers
# accepted as fitting: a reschedule as a delay, 居住证 ready as a licence ready, 续期保费 as a
# renewal, 物业费 as a bill due, 检票口变更 as a boarding reminder); after its fixes e4 46, z4 48,
# and the earlier rounds' en 245 (Hulu's trial, Trainline, Amtrak, easyJet, Hertz's PIN, a
# standing instruction, JioHotstar's expiry, Lyft, Addison Lee, Revolut), zn 149
# (the dental 洗牙服务), e3 75 (Ninja Van's tracking number, Qantas's QF1)
# session 28 (everyday5): e5 first try 19 of 50 (2 wrong: Aviva's claim paid as an advert,
# Delta's "now departs from Gate E14" as a departure reminder), z5 30 of 50 (1 wrong: a
# broker's 委托买入…成交均价 as an advert); after its fixes e5 48, z5 48 (none wrong), and the
# earlier rounds' en 247 (Snapchat's bare code, Southwest's bare flight number), e4 48 (a ward
# absent, the lifts out of service), z4 50 (叮当快药's prescription, 中国人寿's premium)
# session 28b (everyday6): e6 first try 32 of 50 (2 wrong as first written: India's tax refund
# "credited" as a bank credit, and United's gate change as en_flight_gate_boarding, whose
# category e6044 now accepts as e5043 does), z6 32 of 50 (none wrong); after its fixes e6 48, z6 48
# (none wrong), and the earlier rounds' e5 50 (EPFO's PF withdrawal, USCIS's card), z5 50
# (户口迁移, 车位管理费), en 250 (Swiggy, Duke Energy's "due 12/15", "Appt reminder")
# session 28d (everyday7): e7 first try 15 of 30 (1 wrong as first written: Air Canada's "now
# departs from Gate D41" as en_flight_gate_boarding, whose category e7024 accepts as e5043 does),
# z7 24 of 30 (3 wrong as first written, each a fitting answer now accepted: 新股中签 as an IPO
# allotment, a 物业's 水箱清洗 停水 as an outage, 支付宝's 校验码 as its payment code); after its
# fixes e7 30, z7 30 (none wrong), and the earlier rounds' e6 50 (Con Edison's steam, the
# strata plan's car-park gates), z6 50 (停车场's 月卡, QQ音乐's 已成功开通…连续包月),
# e4 50 (its floor had stayed at 48)
# session 29 (audit-en11): the delayed bags e4042, e5045 (its sequel, found and on its way),
# e6045 and e7026 accept `travel.flight.baggage`, the category of the new en_baggage_delayed
# session 29d (everyday8): e8 first try 18 of 40, z8 23 of 40 (1 wrong: a chemist's "处方药已到店，
# 请凭取药码…领取" as an advert); after its fixes e8 39, z8 39 (none wrong; left: Netflix's "Your
# payment … didn't go through. Update your payment method", the lures' own words, and 腾讯视频's
# expiry with a link to click), and zn 150: zn047's limit counted from the arrival has no day, so
# the row now asks for what a reader needs, the limit as `within` (read since session 27b)
MIN_RIGHT = {"zh": 140, "en": 250, "zv": 30, "ev": 30, "zi": 19, "ei": 14, "zn": 150,
             "e3": 75, "z3": 75, "e4": 50, "z4": 50, "e5": 50, "z5": 50,
             "e6": 50, "z6": 50, "e7": 30, "z7": 30, "e8": 39, "z8": 39}
# a wrong scene (not merely none) is worse than none
MAX_WRONG = 0


def _rows() -> list[list[str]]:
    lines = TRYOUT.read_text("utf-8").splitlines()
    assert lines[0].split("\t") == ["id", "sender", "categories", "fields", "text"]
    return [line.split("\t") for line in lines[1:] if line.strip()]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Ruleset:
    out = tmp_path_factory.mktemp("tryout") / "rules.scb"
    result = build([str(ROOT / "rules")], str(out), run_examples=False)
    assert result.ok, "\n".join(result.rendered())
    return load(str(out))


def _same(got: object, want: str) -> bool:
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        try:
            return float(want) == float(got)
        except ValueError:
            return False
    return str(got) == want


def test_tryout_rows_are_well_formed() -> None:
    rows = _rows()
    assert all(len(r) == 5 for r in rows) and len({r[0] for r in rows}) == len(rows)
    count = {k: sum(r[0][:2] == k for r in rows) for k in MIN_RIGHT}
    assert count == {"zh": 140, "en": 250, "zv": 30, "ev": 30, "zi": 19, "ei": 14, "zn": 150,
                     "e3": 75, "z3": 75, "e4": 50, "z4": 50,
                     "e5": 50, "z5": 50, "e6": 50, "z6": 50,
                     "e7": 30, "z7": 30, "e8": 40, "z8": 40}


def test_tryout_floors(library: Ruleset) -> None:
    right = dict.fromkeys(MIN_RIGHT, 0)
    wrong = []
    for rid, sender, cats, fields, text in _rows():
        best = library.best(text, sender=sender or None, now=NOW)
        accepted = cats.split("/")
        if best is None:
            right[rid[:2]] += "-" in accepted
            continue
        if best.category not in accepted:
            wrong.append((rid, best.scene))
            continue
        values = dict(best.fields)
        ok = True
        for spec in filter(None, fields.split(";")):
            name, _, want = spec.partition("=")
            ok &= name in values and (not want or _same(values[name], want))
        right[rid[:2]] += ok
    assert len(wrong) <= MAX_WRONG, wrong
    for lang, floor in MIN_RIGHT.items():
        assert right[lang] >= floor, (lang, right[lang])
