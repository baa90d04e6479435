"""Which sender IDs a caller's sender answers to: itself, and for an Indian DLT sender its
header.

Indian operators deliver an enterprise's SMS under a DLT sender ID, `XX-HEADER` or (since
2023) `XX-HEADER-S`: a two-letter operator/circle prefix that varies from message to
message (`VM-HDFCBK`, `JD-HDFCBK`, `AD-HDFCBK-S`) around the enterprise's registered
6-character header. A rule lists the header once (`sender "HDFCBK"`) and holds for every
prefix; a rule that lists a full form (`sender "VM-HDFCBK"`) still holds for that form
only. The compiled core applies the same shape test in C (`_senders.pxi`, `dlt_shaped`).
"""

from __future__ import annotations

import re
from collections.abc import Collection

_DLT = re.compile(r"[A-Za-z]{2}-([A-Za-z0-9]{6})(?:-[A-Za-z])?")


def sender_text(sender: object) -> str | None:
    """The sender as the plain str it holds, or None for no sender. Only a str can equal
    a sender number, so anything else is none (never hashed or compared: a list raised
    TypeError, an object equal to everything held for every rule); a str subclass (a
    numpy or Arrow value from a batch's column) is read as its text, as a message is
    (its header was missed, as `type(sender) is str` turned it away)."""
    if type(sender) is str:
        return sender
    return str.__str__(sender) if isinstance(sender, str) else None


def dlt_header(sender: object) -> str | None:
    """The header of a DLT sender ID (`HDFCBK` for `VM-HDFCBK-S`), or None."""
    sender = sender_text(sender)
    if sender is None or not sender.isascii():
        return None
    m = _DLT.fullmatch(sender)
    return m.group(1) if m else None


def holds_for(sender: object, ids: Collection[str]) -> bool:
    """Whether a caller's sender is one of a rule's sender IDs, directly or by its header."""
    sender = sender_text(sender)
    if sender is None:
        return False
    if sender in ids:
        return True
    header = dlt_header(sender)
    return header is not None and header in ids
