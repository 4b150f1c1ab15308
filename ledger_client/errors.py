"""The error every refused request raises: the server's {"error": {code, message, rule, field}}."""

from __future__ import annotations

from typing import Any


class LedgerApiError(Exception):
    """A request the ledger refused (or could not answer): status, code, message, rule and field."""

    def __init__(
        self, status: int, code: str, message: str, *, rule: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.rule, self.field = status, code, message, rule, field

    @classmethod
    def from_body(cls, status: int, body: Any) -> LedgerApiError:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return cls(status, "http_error", str(body)[:500])
        return cls(
            status,
            str(error.get("code", "http_error")),
            str(error.get("message", "")),
            rule=error.get("rule"),
            field=error.get("field"),
        )
