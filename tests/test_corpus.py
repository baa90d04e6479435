"""The shipped library (`rules/`) against real, hand-labelled SMS.

Why: inline examples only show that each scene accepts the messages its author had in
mind. `tests/corpus/labelled.tsv` holds real messages from `shared/data`, labelled by
reading them (the scene a careful reader would pick, or `none`), so it measures what a
user sees: a wrong scene is a wrong button, hence the hard precision bar, while recall
is reported and only guarded against regressions.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
from scenec.compiler import build
from scenec.compiler.cli import main as scenec_main
from scenec.runtime import Ruleset, load

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
LABELLED = ROOT / "tests" / "corpus" / "labelled.tsv"

MIN_PRECISION = 0.98
NOW = dt.date(2026, 11, 27)
# Recall measured when the floor was set, minus a margin for deliberate precision-over-recall
# trade-offs in future rule changes: 0.973 on 400 rows (2026-11-27), then 0.903 once the
# adverts among the rows (143: property, shops, loans, courses; until then labelled `none`)
# were labelled with the advertising scenes, which leave an advert unnamed rather than
# take chat for one; 0.931 on 560 rows once 80 random Indian and 80 random mudou rows
# were read and added (session 23); 0.941 on 800 rows once 120 random mudou and 120 random
# Indian rows more were read and added (session 24; two rows labelled `none` for want of
# a scene were relabelled when one was written: a teaser-and-link push, `content_push`,
# and a fake virus warning, `phone_virus_scam`; and an investment firm's "寻找优质项目直投…
# 冯经理138…" pitch, read as `none` in session 23, is an advert like its siblings);
# 0.955 on 1,060 rows once 100 random mudou, 100 random Indian, 40 random 80w-spam and 20
# random UCI-spam rows more were read and added (session 24b, seed 2412; precision 1.000,
# 889/889; a Unicom "360手机安全卫士…免流量费下载" app advert, read as `none` before, is an
# advert like its copies); 0.902 on 1,670 rows once two more samples were read and added
# (session 25, seed 2513; precision 1.000, 1,273/1,273): 160 random named Indian rows, 80
# random unnamed Indian rows and 60 random unnamed UCI-spam rows (the new 300 alone:
# precision 0.994 -> 1.000, recall 0.624 -> 0.855; ICICI's "INR … is debited on ICICI
# Bank Credit Card … Info: MERCHANT", labelled `en_bank_account_debit` in session 23, is a
# card spend, `en_card_spent`), and 150 random unnamed mudou, 100 random named mudou and
# 60 random unnamed 80w-spam rows (the new 310 alone: recall 0.459 -> 0.702, most of the
# rest being adverts without a second kind of evidence; seven rows read as `none` carry a
# scene now: three notices that had none (a 理财产品认购申请 echo, a password-reset link, a
# payslip) and four adverts (invoices, property, exam answers, migration)). The unnamed
# rows drawn on purpose are mostly adverts, so they lower recall. 0.924 on 2,350 rows
# (precision 1.000, 1,846/1,846) once plain random samples were read and added (session
# 25b, seed 2514): 200 mudou rows, 100 80w-spam rows and 60 80w-ham rows (the new 360
# alone: precision 0.996 -> 1.000, recall 0.846 -> 0.949; a 新华移动快报VIP digest that the
# advert scene had taken is `content_push`, like its labelled sibling), and 220 Indian
# rows and 100 UCI-spam rows (the new 320 alone: precision 0.957 -> 1.000, recall 0.930 ->
# 0.981): ATM withdrawals that banks write as debits are `en_atm_withdrawal`, KVB's "Card
# No. … Debited … * MERCHANT/CITY *" is `en_card_spent`, and UCI's "Congrats! 2 mobile 3G
# Videophones R yours. call 0906…", labelled `en_promotion_ad` in session 24b, is a prize
# callback, `en_premium_rate_scam`. 0.889 on 2,650 rows (precision 1.000, 1,955/1,955)
# once 300 rows the library left unnamed were read and added (session 25c, seed 2515): 200
# random 80w-spam rows and 100 random mudou rows (the new 300 alone: recall 0 -> 0.485, 98
# of 202; the rest are adverts with a single kind of evidence, operators' own offers and
# obfuscated spam). Drawn among the unnamed, they lower recall, not the rules.
# 0.900 on 2,900 rows (precision 1.000, 2,203/2,203) once 250 plain random Indian rows
# more were read and added (session 25c, seed 2516): the library named 248 of them, each
# with the scene a careful reader picks (the other two, SBI's spelled-out "One Time PIN …
# is Nine Six Nine Nine" and a UPI-PIN safety note, are `none`); that session's fixes were
# to fields.
# 0.910 on 3,160 rows (precision 1.000, 2,463/2,463) once 260 rows the library named were
# read and added (session 25d, seed 2516): 200 random mudou rows named as a service notice
# and 60 named as marketing that hold a notice word (the new 260 alone: precision 0.988 ->
# 1.000, recall 0.988 -> 1.000: a Unicom 优惠剩余 allowance report and a 代金券 credited on
# sign-up had been taken for adverts, an SF parcel 揽收 with a delivery days later for one out
# for delivery).
# 0.923 on 3,872 rows (precision 0.999, 3,102/3,104) once 712 rows more were read and added
# (session 25e, seed 2517): 200 plain random Indian rows (198 named, each with the scene a
# careful reader picks; a spelled-out SBI PIN and a loan-NOC agency's pitch are `none`), 120
# plain random UCI-spam rows and 42 Indian rows the library left unnamed (the new 362
# alone: precision 0.980 -> 0.997, recall 0.907 -> 0.955: prize callbacks told other ways
# had been filed as adverts, a Vi emergency talktime and some adverts were unnamed), and 250
# plain random mudou rows and 100 80w-spam rows (the new 350 alone: precision 0.997 ->
# 0.997, recall 0.906 -> 0.969). Eleven adverts labelled `promotion_ad` (one trade's phrase:
# app downloads, ringtones, bill discounting, trial lessons …) are labelled
# `trade_phrase_ad`, the scene that names them now. The two wrong rows left stay inside
# marketing: a prize scam's tail without a number to call ("…your prize will go to another
# customer…") and a 天翼 video teaser ("秒杀好莱坞大片…http://…", a `content_push`), both
# named as adverts.
# 0.929 on 4,522 rows (precision 0.999, 3,690/3,694) once 650 plain random rows more were
# read and added (session 25f, seed 2518): 200 Indian rows (all named, each with the scene a
# careful reader picks) and 100 UCI-spam rows (the new 300 alone: precision 0.986 -> 0.993,
# recall 0.962 -> 0.986: prize callbacks with a number glued to "call" or a "£400 reward"
# had been filed as adverts, some adult and content-club adverts were unnamed), and 250
# mudou rows and 100 80w-spam rows (the new 350 alone: precision 0.993 -> 1.000, recall
# 0.835 -> 0.928: a China Mobile data query written with colons had been taken for a
# balance report, Tenpay's code while a card is bound to WeChat Pay for a bare code, a
# traditional-Chinese card payment received was unnamed, and adverts told by a trader's own
# phrase). Two adverts labelled `promotion_ad` in session 25e ("…套套击穿底价…",
# "…特推出“约惠女人节…”") are `trade_phrase_ad`, the scene that names them now. The four
# wrong rows all stay inside marketing, each a prize callback or a content push named as
# an advert: "…To claim yr prize call our customer service representative on" with no
# number, a free hotel stay "To Claim, Call London 020…", a prize scam's tail with no
# number, and a 天翼 video teaser.
# 0.941 on 5,312 rows (precision 0.999, 4,350/4,355) once 790 plain random rows more were
# read and added (session 26, seed 2601): 250 mudou, 120 80w-spam and 40 80w-ham rows (the
# new 410 alone: recall 0.907 -> 1.000, precision 1.000; ten adverts labelled
# `promotion_ad` before and named by no scene are `trade_phrase_ad`, which names them now),
# and 220 Indian, 100 UCI-spam and 60 UCI-ham rows (the new 380 alone: precision 0.994 ->
# 0.997, recall 0.975 -> 0.997; a Central KYC Registry notice read as `none` is
# `en_kyc_notice`, the scene written for it). The fifth wrong row is UCI chat about 0870
# chat lines, labelled `none`, which the advert scene takes.
# 0.947 on 6,102 rows (precision 0.999, 4,991/4,997) once 790 plain random rows more were
# read and added (session 26b, seed 2602): 220 Indian, 100 UCI-spam and 60 UCI-ham rows
# (the new 380 alone: recall 310/312 -> 312/312, precision 1.000), and 250 mudou, 120
# 80w-spam and 40 80w-ham rows (the new 410 alone: recall 0.884 -> 0.961; five adverts
# labelled `promotion_ad` and named by no scene are `trade_phrase_ad`, which names them
# now). The sixth wrong row: a training firm's directions to its trainees ("培训地址：…"),
# labelled `none`, taken for an advert.
# 0.951 on 6,834 rows (precision 0.999, 5,580/5,586) once 732 plain random rows more were
# read and added (session 27, seed 2701): 250 mudou, 120 80w-spam and 40 80w-ham rows (the
# new 410 alone: recall 0.873 -> 0.967, precision 1.000; two adverts labelled `promotion_ad`
# are `trade_phrase_ad`, which names them now), and 220 Indian, the last 42 unlabelled
# UCI-spam and 60 UCI-ham rows (the new 322 alone: 256/256 named right first, 256 -> 260 of
# the 260 with a scene). The six wrong rows are the same as above.
# 0.953 on 7,164 rows (precision 0.999, 5,857/5,863) once 330 plain random rows more were
# read and added (session 27b, seed 2702): 200 mudou, 100 80w-spam and 30 80w-ham rows (the
# new 330 alone: precision 0.996 -> 1.000, recall 0.888 -> 0.993; two adverts labelled
# `promotion_ad` are `trade_phrase_ad`, which names them now).
# 0.956 on 7,794 rows (precision 0.999, 6,352/6,358) once 630 plain random rows more were
# read and added (session 27c): seed 2703's 200 mudou, 100 80w-spam and 30 80w-ham rows
# (the new 330 alone: recall 0.884 -> 0.996, precision 1.000; a "公开招租" advert labelled
# `promotion_ad` is `trade_phrase_ad`), and seed 2702's 220 Indian and 80 UCI-ham rows
# (220 of 220 right first try, 218 -> 220 with every field; no ham named).
# 0.963 on 9,231 rows (precision 0.999, 7,543/7,550) once 1,437 plain random rows more were
# read and added (session 28): seeds 2801, 2802 and 2803 drew 200/200/50 mudou, 100/100/250
# 80w-spam and 30 80w-ham rows each (23 rows drawn by both 2802 and 2803, with the same label,
# kept once), seed 2804 150 80w-spam and 20 80w-ham rows, and seed 2801 220 Indian and 80
# UCI-ham rows (220 of 220 right first try; no ham named); adverts that `promotion_ad` had
# left unnamed and a newer advert scene names were relabelled to it (`trade_phrase_ad`,
# `trade_offer_ad`), and a training school's notice to enrolled students is `none`.
# 0.968 on 9,988 rows (precision 0.999, 8,173/8,180) once 757 plain random rows more were
# read and added (session 29): seed 2901 200 mudou, 60 80w-spam and 20 80w-ham rows (first
# try 187/200 mudou and 50/60 spam right, none wrong), seed 2902 160 80w-spam and 20
# 80w-ham rows (136/160 first try, none wrong), seed 2903 220 Indian and 80 UCI-ham rows
# (220 of 220 right first try; no ham named); three rows drawn by two seeds kept once;
# adverts `promotion_ad` had left unnamed that `trade_offer_ad` names now were relabelled
# to it, and a lottery tip and an instalment-offer fragment read as `none` are adverts.
MIN_RECALL = 0.85
MARKETING = {"none", "marketing_unsubscribable", "promotion_ad", "en_promotion_ad",
             "content_push", "remit_request_scam", "prize_scam", "phone_virus_scam",
             "en_card_details_phishing", "en_premium_rate_scam", "cmcc_news_push",
             "unicom_news_push", "trade_phrase_ad", "trade_offer_ad"}


def _unescape(field: str) -> str:
    """The corpus escapes like shared/data: `\\\\` backslash, `\\t` TAB, `\\n` newline."""
    out, i = [], 0
    while i < len(field):
        ch = field[i]
        if ch == "\\" and i + 1 < len(field):
            nxt = field[i + 1]
            out.append({"\\": "\\", "t": "\t", "n": "\n"}.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def read_labelled(path: Path = LABELLED) -> list[tuple[str, str, str]]:
    """(id, expected scene or "none", text) for every row of the labelled sample."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0] == ["id", "expected_scene", "text"], rows[0]
    return [(r[0], r[1], _unescape(r[2])) for r in rows[1:]]


@pytest.fixture(scope="module")
def library_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("lib") / "rules.scb"
    result = build([str(RULES)], str(out), run_examples=False)
    assert result.ok, "\n".join(result.rendered())
    return str(out)


@pytest.fixture(scope="module")
def library(library_file: str) -> Ruleset:
    return load(library_file)


def test_readme_sample_is_what_the_cli_prints(library_file: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The README's "What you get" block, up to its `...`, is the CLI's output today."""
    readme = (ROOT / "README.md").read_text("utf-8")
    sample = re.search(r'\$ scenec match rules\.scb "([^"]+)"\n(.*?)\n +\.\.\.\n```', readme, re.S)
    assert sample, "the README's sample block was not found"
    assert scenec_main(["match", library_file, sample.group(1)]) == 0
    shown = sample.group(2).splitlines()
    assert capsys.readouterr().out.splitlines()[: len(shown)] == shown


@pytest.fixture(scope="module")
def predictions(library: Ruleset) -> list[tuple[str, str, str, str]]:
    """(id, label, predicted scene or "none", text) per row; a fixed `now` keeps
    date-bounded scenes deterministic."""
    out = []
    for id_, label, text in read_labelled():
        best = library.best(text, now=NOW)
        out.append((id_, label, best.scene if best else "none", text))
    return out


def test_labelled_rows_are_well_formed(library: Ruleset) -> None:
    rows = read_labelled()
    ids = [r[0] for r in rows]
    assert len(rows) >= 300
    assert len(set(ids)) == len(ids), "duplicate ids"
    known = set(library.scene_ids) | {"none"}
    unknown = Counter(label for _, label, _ in rows if label not in known)
    assert not unknown, f"labels that are no scene id: {dict(unknown)}"
    assert all(text.strip() for _, _, text in rows)


def test_precision_and_recall(predictions: list[tuple[str, str, str, str]]) -> None:
    predicted = [p for p in predictions if p[2] != "none"]
    correct = [p for p in predicted if p[2] == p[1]]
    positives = [p for p in predictions if p[1] != "none"]
    precision = len(correct) / max(1, len(predicted))
    recall = len(correct) / max(1, len(positives))
    wrong = [f"  {i}: expected {lab}, got {pred}: {t[:80]}" for i, lab, pred, t in predicted
             if pred != lab]
    print(f"\nlabelled corpus: {len(predictions)} rows, {len(positives)} with a scene; "
          f"predicted {len(predicted)}, correct {len(correct)}; "
          f"precision {precision:.3f}, recall {recall:.3f}")
    print("\n".join(wrong))
    assert precision >= MIN_PRECISION, "wrong scenes:\n" + "\n".join(wrong)
    assert recall >= MIN_RECALL


def test_no_marketing_taken_for_a_service_notice(
        predictions: list[tuple[str, str, str, str]]) -> None:
    """Rows labelled none or marketing must never get a service scene (a wrong button)."""
    bad = [(i, lab, pred) for i, lab, pred, _ in predictions
           if lab in MARKETING and pred not in MARKETING]
    assert not bad, bad


def shared_tsv(name: str) -> list[dict[str, str]]:
    """A file of the real SMS, found as the benchmarks find it (`benchutil.SHARED`) and read
    with the data folder's own reader; without them the test fails, as the benchmark smoke
    tests do."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    from benchutil import SHARED

    if str(SHARED / "data") not in sys.path:
        sys.path.insert(0, str(SHARED / "data"))
    from prepare import read_tsv

    return read_tsv(SHARED / "data" / name)


def test_chat_is_not_taken_for_advertising(library: Ruleset) -> None:
    """Chat says "优惠", "报名", "free" and "call me": the advertising scenes need two kinds
    of evidence, so person-to-person messages (22,687 Chinese, 4,518 English) are almost
    never marketing (5 of them are, each a forwarded shop or sales message, 2026-11-28),
    while most of the real adverts are (2026-11-28, session 25: 3,108 of the 4,057
    masked ones of the 80w sample, whose digits read "x", and 539 of the 642 English spam as
    adverts or premium-rate scams)."""
    chat = [r["text"] for r in shared_tsv("sms_zh_nus.tsv")]
    chat += [r["text"] for r in shared_tsv("sms_en_uci.tsv") if r["label"] == "ham"]
    spam = [r["text"] for r in shared_tsv("sms_zh_80w_sample.tsv") if r["label"] == "spam"]
    en_spam = [r["text"] for r in shared_tsv("sms_en_uci.tsv") if r["label"] == "spam"]

    def count(texts: list[str], prefix: str) -> int:
        return sum(1 for t in texts if (b := library.best(t, now=NOW))
                   and b.category.startswith(prefix))

    assert count(chat, "marketing.") <= len(chat) // 2000  # at most 0.05%
    # floors a margin below what is named (session 25: 77% and 84%)
    assert count(spam, "marketing.promotion.ad") >= len(spam) * 7 // 10
    assert count(en_spam, "marketing.") >= len(en_spam) * 3 // 4


def test_every_inline_example_passes(capsys: pytest.CaptureFixture[str]) -> None:
    """`scenec test rules/`: every example ranks its scene first, every counterexample
    stays out."""
    code = scenec_main(["test", str(RULES)])
    out = capsys.readouterr().out
    assert code == 0, out
    last = out.strip().splitlines()[-1]
    passed, failed = (int(x.split()[0]) for x in last.split(", "))
    assert failed == 0 and passed >= 120, last
