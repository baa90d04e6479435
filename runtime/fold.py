"""Text folding: the one normalisation applied before any matching.

Full-width ASCII forms become ASCII so that `，` and `,` (or `１２３` and `123`) are the
same to every rule; lone surrogates become U+FFFD because no regex engine accepts them.
Each code point maps to exactly one code point, so offsets survive folding.
"""

from __future__ import annotations

UNPAIRED_TABLE: dict[int, int] = {cp: 0xFFFD for cp in range(0xD800, 0xE000)}
FOLD_TABLE: dict[int, int] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
FOLD_TABLE[0x3000] = 0x20
FOLD_TABLE.update(UNPAIRED_TABLE)


def fold(text: str) -> str:
    """The folded text; used by the compiler for literals and as the runtime's fallback."""
    return text.translate(FOLD_TABLE)


def unpaired(text: str) -> str:
    """The text a `raw` extractor reads: as given, but with lone surrogates as U+FFFD."""
    return text.translate(UNPAIRED_TABLE)
