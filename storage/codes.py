"""Access codes: generated with `secrets`, kept only as a salted, slow argon2id digest (R10)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ledger.codes import make_code, normalize_code


@dataclass(frozen=True)
class CodeHasher:
    """argon2id with OWASP's minimum parameters by default (m=19 MiB, t=2, p=1)."""

    time_cost: int = 2
    memory_cost_kib: int = 19 * 1024
    parallelism: int = 1

    @property
    def _hasher(self) -> PasswordHasher:
        return PasswordHasher(time_cost=self.time_cost, memory_cost=self.memory_cost_kib, parallelism=self.parallelism)

    def new_code(self) -> tuple[str, str]:
        """A fresh code and its digest. The code leaves this process once, in the command's response."""
        code = make_code(secrets.randbelow)
        return code, self._hasher.hash(normalize_code(code))

    def matches(self, code: str, digest: str) -> bool:
        """Whether `code` is the one behind `digest` (constant-time inside argon2)."""
        try:
            return self._hasher.verify(digest, normalize_code(code))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
