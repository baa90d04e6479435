"""Built-in slot kinds: what text each kind accepts and the value it normalises to.

Shared by the compiler (to build template and extractor regexes) and the runtime (to turn
captured text into typed values), so both always agree on what a `money` or `date` is.
Patterns are RE2 syntax and run on folded text (full-width forms already ASCII).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

FieldValue = str | float | int


@dataclass(frozen=True)
class Kind:
    name: str
    pattern: str
    type: str  # "number" | "str" | "date" | "time"
    normalise: Callable[[str], FieldValue | None]


def _money(raw: str) -> float | None:
    """The amount, or None when it is not one: a 400-digit "amount" would be infinity,
    which JSON cannot carry (`--json` would print `Infinity`)."""
    try:
        value = float(raw.replace(",", "").replace("+", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# Digits of the longest integer a `number` is read as: Python's own default limit on
# reading an int, which a host application may lift (`sys.set_int_max_str_digits(0)`);
# then reading 1,000,000 digits took 6.8 s (the time grows with the square of them).
MAX_INT_DIGITS = 4300


def _number(raw: str) -> float | int | None:
    clean = raw.replace(",", "")
    if "." not in clean and len(clean.lstrip("+-")) > MAX_INT_DIGITS:
        return None  # what int() refuses with the interpreter's default limit
    try:
        value = float(clean) if "." in clean else int(clean)
    except ValueError:
        return None
    return value if isinstance(value, int) or math.isfinite(value) else None


_NUMS = re.compile(r"\d+")


def _parts(raw: str) -> list[int]:
    """The numbers of a date or a time; none when one is longer than any such part can
    be (Python refuses to read an int of over 4,300 digits, and the scene would fail)."""
    runs = _NUMS.findall(raw)
    return [] if any(len(r) > 9 for r in runs) else [int(r) for r in runs]


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WORD = re.compile(r"[A-Za-z]+")


def _month_name(raw: str) -> int | None:
    """The month an English date names ("Dec", "december", "SEPT"), 1..12, or None.
    (Ordinal suffixes such as "st" or "th" are words too, but no month starts so.)"""
    for word in _WORD.findall(raw):
        key = word[:3].lower()
        if key in _MONTHS:
            return _MONTHS.index(key) + 1
    return None


def _day_month_year(parts: list[int]) -> list[int]:
    """`25/12/2025` or `12/25/2025` as (year, month, day): the order is told by the number
    that cannot be a month; `12/05/2025` could be either (India and Britain write the day
    first, America the month), so it has no value rather than a wrong one."""
    a, b, year = parts
    if a > 12 >= b:
        return [year, b, a]
    if b > 12 >= a:
        return [year, a, b]
    return []


def _ordered(raw: str, day_first: bool) -> list[int]:
    """A date's numbers as ([year,] month, day). An English date ("12-Dec-2025", "Dec 2,
    2025", "2nd December") gives its numbers day first, then the year, whichever side of
    the month's name they stand; `day_first` (`date_dmy`) reads `05-12-2025` as 5
    December; a year after two numbers otherwise orders them as `_day_month_year` can."""
    parts = _parts(raw)
    named = _month_name(raw)
    if named is not None:
        if len(parts) == 2:
            return [parts[1], named, parts[0]]
        return [named, parts[0]] if len(parts) == 1 else []
    if len(parts) == 3 and day_first and parts[0] <= 31:
        return [parts[2], parts[1], parts[0]]
    if len(parts) == 3 and parts[2] > 31:
        return _day_month_year(parts)
    return parts


def _calendar(parts: list[int]) -> str | None:
    """`YYYY-MM-DD` from (year, month, day), `MM-DD` from (month, day); None for a day the
    calendar lacks."""
    if len(parts) == 3:
        year, month, day = parts
        if year < 100:  # `14年10月27日`: SMS write two-digit years for this century
            year += 2000
        if year > 9999:  # no YYYY-MM-DD (`12345-12-05` from a user regex read as a date)
            return None
        prefix = f"{year:04d}-"
    elif len(parts) == 2:
        month, day = parts
        prefix = ""
    else:
        return None
    try:  # a day the calendar has (02-29 only in a leap year; without a year, any)
        dt.date(int(prefix[:4]) if prefix else 2000, month, day)
    except ValueError:
        return None
    return f"{prefix}{month:02d}-{day:02d}"


def _date(raw: str) -> str | None:
    return _calendar(_ordered(raw, day_first=False))


def _date_dmy(raw: str) -> str | None:
    """`date_dmy`: numbers day first (`05-12-2025` is 5 December), as Indian and British
    senders write them; a year first (`2025-12-05`) or a month's name reads as `date`."""
    return _calendar(_ordered(raw, day_first=True))


_AFTERNOON = ("下午", "晚上", "傍晚", "夜里", "夜间")


def _clock_hour(raw: str, hour: int) -> int:
    """The hour on a 24-hour clock: "下午3点" and "3:00 PM" are 15:00, "中午1点" 13:00,
    "12:30 AM" 00:30 (a kind's text includes the word that says which half of the day)."""
    tail = raw[-4:].lower()
    if "p" in tail and "m" in tail or any(w in raw for w in _AFTERNOON):
        return hour + 12 if hour < 12 else hour
    if "中午" in raw:
        return hour + 12 if hour < 11 else hour
    if "a" in tail and "m" in tail and hour == 12:
        return 0
    return hour


def _time(raw: str) -> str | None:
    parts = _parts(raw)
    if not parts:
        return None
    hour = _clock_hour(raw, parts[0])
    minute = parts[1] if len(parts) > 1 else (30 if raw.endswith("半") else 0)
    if hour > 24 or minute > 59 or hour == 24 and (minute or len(parts) > 2 and parts[2]):
        return None  # 24:00 is midnight at the end of a day; 24:59 is no time
    if len(parts) > 2:
        if parts[2] > 59:
            return None
        return f"{hour:02d}:{minute:02d}:{parts[2]:02d}"
    return f"{hour:02d}:{minute:02d}"


def _phone(raw: str) -> str:
    return raw.replace("-", "").replace(" ", "")


def _same(raw: str) -> str:
    return raw


_MONEY = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
# English month names, any case. No `\b` around them: an assertion makes the VM keep every
# closure in eight contexts, over its budget, and each date extractor would leave it for
# RE2; a month is a date only with a day beside it, which few other words have.
_MONTH = (r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_ORDINAL = r"(?i:st|nd|rd|th)?"
_EN_DATE = (
    # 12-Dec-2025, 12 Dec 25, 2nd December, 12Dec2025
    rf"\d{{1,2}}{_ORDINAL}[ -]?{_MONTH}(?:\.?[ ,-]{{0,2}}(?:\d{{4}}|\d{{2}}))?"
    # "Jan 2026" first (a month without a day: no value), so that it is not read as
    # January 20; then Dec 2, 2025, December 12 2025, Dec. 2nd
    rf"|{_MONTH}\.?[ -]?\d{{4}}|{_MONTH}\.?[ -]?\d{{1,2}}{_ORDINAL}(?:,?[ -]?\d{{4}})?")
_DATE = (r"(?:\d{2}){1,2}年\d{1,2}月\d{1,2}[日号]?|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
         rf"|\d{{1,2}}月\d{{1,2}}[日号]?|\d{{1,2}}/\d{{1,2}}(?:/\d{{4}})?|{_EN_DATE}")
# Day first: 05-12-2025, 5/12/25, 05.12.2025 (and ISO and English names, as `date`).
_DATE_DMY = (r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})"
             rf"|{_EN_DATE}")
# The half of the day before a Chinese time, AM/PM after a clock time: both are read.
_TIME = (r"(?:上午|下午|中午|晚上|早上|早晨|凌晨|傍晚|夜里|夜间)?"
         r"(?:\d{1,2}:\d{2}(?::\d{2})?(?:\s?(?i:[ap]\.?m\.?))?|\d{1,2}[时点]\d{1,2}分?|\d{1,2}[时点]半?)")
_PHONE = (r"(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}|0\d{2,3}-\d{7,8}|[48]00-?\d{3}-?\d{4}"
          r"|0\d{9,11}|9\d{4,5}|1[0-2]\d{3,10}")
_URL = (r"(?:https?://|www\.)[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]+"
        r"|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:cn|com|net|org|cc|me|io|co)"
        r"(?:/[A-Za-z0-9\-._~/?#@!$&+=%]*)?")

BUILTIN: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("digits", r"\d+", "str", _same),
        Kind("code", r"[0-9A-Za-z]{4,8}", "str", _same),
        Kind("number", r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?", "number", _number),
        Kind("money", _MONEY, "number", _money),
        Kind("date", _DATE, "date", _date),
        Kind("date_dmy", _DATE_DMY, "date", _date_dmy),
        Kind("time", _TIME, "time", _time),
        Kind("phone", _PHONE, "str", _phone),
        Kind("url", _URL, "str", _same),
        Kind("word", r"[\p{L}\p{N}_]+", "str", _same),
        Kind("text", r"(?s:.+?)", "str", _same),
    )
}


def kind_for(name: str, user_patterns: dict[str, str]) -> Kind | None:
    """A built-in kind, or a user slot (`slot NAME = /re/`), whose value is its text."""
    if name in BUILTIN:
        return BUILTIN[name]
    if name in user_patterns:
        return Kind(name, user_patterns[name], "str", _same)
    return None


def normalise(kind: str, raw: str | None) -> FieldValue | None:
    """Typed value of captured text; user kinds (not built in) keep the text. None (a
    group that took no part in the match, as in `/a(\\d+)|b/`) gives no value."""
    if raw is None:
        return None
    k = BUILTIN.get(kind)
    return raw if k is None else k.normalise(raw)


def render_value(value: FieldValue) -> str:
    """How a field value is written into an action target: 3000.0 as "3000"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
