"""Numbers in query parameters: ASCII digits only, of bounded length.

`str.isdigit` is true for `²`, `①` or Arabic-Indic digits, which `int` then refuses,
and `int` refuses more than 4,300 digits: both were server errors. Every numeric
text parameter of the API and the console is read here instead.
"""

from __future__ import annotations

import re

MAX_POSITION = 2**63 - 1  # positions are 64-bit integers in every store
MAX_PARAM_CHARS = 64  # no valid position, year or instant is longer

_ASCII_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)


def is_ascii_number(text: str) -> bool:
    """Whether `text` (already stripped) is written only with the ASCII digits 0–9 (at most 19 of them)."""
    return _ASCII_DIGITS.fullmatch(text) is not None


def ascii_int(text: str, *, low: int = 0, high: int = MAX_POSITION) -> int | None:
    """The integer `text` writes in ASCII digits, if it does and lies in [low, high]; else None."""
    text = text.strip()
    if not is_ascii_number(text):
        return None
    value = int(text)
    return value if low <= value <= high else None
