"""Text folding: the one normalisation applied before any matching.

Full-width ASCII forms become ASCII so that `，` and `,` (or `１２３` and `123`) are the
same to every rule; lone surrogates become U+FFFD because no regex engine accepts them.
Each code point maps to exactly one code point, so offsets survive folding.
"""

from __future__ import annotations

FOLD_TABLE: dict[int, int] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
FOLD_TABLE[0x3000] = 0x20
FOLD_TABLE.update({cp: 0xFFFD for cp in range(0xD800, 0xE000)})


def fold(text: str) -> str:
    """The folded text; used by the compiler for literals and as the runtime's fallback."""
    return text.translate(FOLD_TABLE)
