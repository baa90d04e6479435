"""Link targets made of one whole field: `url("${url}")` with a link read from the message.

Inside `url`, `quickapp` and `deeplink` targets, interpolated values are percent-encoded, so
that `https://x/pay?amt=${amount}` stays one URL whatever the message says. A target that
is nothing but one field is the opposite case: the field is the link (a news push's URL, a
credit bureau's report link), and encoding it would turn `http://…` into `http%3A%2F%2F…`,
which nothing can open. Such a value is used as written, but only when it is a link of the
action's own kind; anything else (a `javascript:` link, a bare word) drops the action, as
a missing field does, because the text came from whoever sent the SMS.

Shared by the runtime and the reference interpreter, so both render the same target.
"""

from __future__ import annotations

import re

_WHOLE_FIELD = re.compile(r"\$\{([^}]*)\}")
_WEB = re.compile(r"(?i)https?://[^\s]+")
_BARE_WEB = re.compile(r"(?i)[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?:/[^\s]*)?")  # a host name
_QUICKAPP = re.compile(r"(?i)hap://[^\s]+")
_APP = re.compile(r"(?i)([a-z][a-z0-9+.-]*)://[^\s]+")
_UNSAFE_SCHEMES = frozenset(("javascript", "vbscript", "data", "file"))


def whole_field(template: str) -> str | None:
    """The field name when the target is exactly one `${name}`, else None."""
    m = _WHOLE_FIELD.fullmatch(template)
    return m.group(1) if m else None


def field_link(kind: str, value: str) -> str | None:
    """`value` as a `kind` target (url, quickapp, deeplink), or None when it is not one."""
    value = value.strip()
    if kind == "url":
        if _WEB.fullmatch(value):
            return value
        return "http://" + value if _BARE_WEB.fullmatch(value) else None
    if kind == "quickapp":
        return value if _QUICKAPP.fullmatch(value) else None
    m = _APP.fullmatch(value)
    return value if m and m.group(1).lower() not in _UNSAFE_SCHEMES else None
