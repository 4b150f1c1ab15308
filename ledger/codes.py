"""Access-code format (R10): readable groups of letters and digits without look-alikes.

Generation and hashing need randomness and CPU time, so they live in
`storage.codes`; this module only says what a code looks like.
"""

from __future__ import annotations

from collections.abc import Callable

# No 0/O, 1/I/L: codes are read off emails and typed by hand.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GROUPS = 3
GROUP_LENGTH = 4


def make_code(randbelow: Callable[[int], int]) -> str:
    """A new code such as `K7QM-2XWP-9DRT` (about 59 bits), drawing from `randbelow`."""
    chars = [ALPHABET[randbelow(len(ALPHABET))] for _ in range(GROUPS * GROUP_LENGTH)]
    return "-".join("".join(chars[i : i + GROUP_LENGTH]) for i in range(0, len(chars), GROUP_LENGTH))


def normalize_code(code: str) -> str:
    """The canonical form compared against digests: upper case, no spaces or dashes."""
    return "".join(ch for ch in code.upper() if ch not in " -\t")
