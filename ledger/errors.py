"""Typed domain errors: every refusal names its rule (or field) and records nothing."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every refusal. `code` is machine-readable, `rule` the rule id (R1–R16) if one decided."""

    code: str = "refused"
    # R10: set when a redemption was refused after its code was found right (the attempt is recorded)
    code_judged: bool = False

    def __init__(
        self, message: str, *, code: str | None = None, rule: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.rule = rule
        self.field = field  # the command's or query's field at fault, when one is


class NotFound(LedgerError):
    """An unknown person, organization or event (HTTP 404)."""

    code = "not_found"


class RuleViolation(LedgerError):
    """Refused by a rule of access or a write-time rule (HTTP 409)."""

    code = "rule_violation"


class InvalidInput(LedgerError):
    """Malformed input: names the field (HTTP 422)."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str, code: str | None = None) -> None:
        super().__init__(message, code=code or "invalid_input", field=field)


class FieldError(ValueError):
    """A malformed value found by a check over several fields: names the one at fault (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class IdempotencyConflict(LedgerError):
    """The idempotency key was used before with another body (HTTP 409)."""

    code = "idempotency_key_reused"


class LockedOut(LedgerError):
    """Too many wrong access codes: redemption is locked for a while (R10, HTTP 429)."""

    code = "locked_out"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message, rule="R10")
        self.retry_after_seconds = retry_after_seconds


class WrongCode(RuleViolation):
    """A wrong access code (R10). The failure itself is recorded for the lockout and for auditors."""

    code = "wrong_code"


class BatchRefused(LedgerError):
    """One command of a batch was refused, so the whole batch records nothing."""

    def __init__(self, index: int, error: LedgerError) -> None:
        super().__init__(f"command {index} of the batch was refused: {error.message}", code=error.code, rule=error.rule)
        self.index = index
        self.error = error


class StalePreparation(Exception):
    """Work done before the append lock (code verification) no longer matches the ledger: redo it."""
