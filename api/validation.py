"""Pydantic's validation errors in the API's own words: the field at fault and what it must be.

Never the value sent (it could be an access code), never pydantic's wording ("Value error, …",
"String should match pattern '^…$'").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.commands import COMMAND_TYPES
from ledger.errors import FieldError

_REQUEST_PARTS = ("body", "query", "path", "header", "cookie")

# Patterns of the contract's fields, said in words.
_PATTERNS = {
    r"^[A-Za-z0-9][A-Za-z0-9._-]*$": "an id: letters, digits, '.', '_' or '-', starting with a letter or digit",
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$": "an email address",
    r"^[0-9a-fA-F]{64}$": "64 hexadecimal digits",
    r"^[0-9a-f]{64}$": "64 hexadecimal digits",
}


def field_path(loc: tuple[Any, ...]) -> str:
    """`commands[1].email` from ("body", "commands", 1, "register_person", "email"); "body" for the whole body."""
    parts = [str(p) for p in loc if p not in _REQUEST_PARTS and str(p) not in COMMAND_TYPES]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


def _expected(ctx: Mapping[str, Any]) -> str:
    return str(ctx.get("expected", "")).replace("'", "")


def plain_words(kind: str, ctx: Mapping[str, Any]) -> str | None:
    """What the field must be, for the kinds of error the contract's models raise."""
    words = {
        "missing": "required",
        "extra_forbidden": "not a field of this request",
        "string_type": "must be a string",
        "string_too_short": f"at least {ctx.get('min_length')} character(s)",
        "string_too_long": f"at most {ctx.get('max_length')} characters",
        "string_pattern_mismatch": f"must be {_PATTERNS.get(str(ctx.get('pattern')), 'in the documented form')}",
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "greater_than_equal": f"must be at least {ctx.get('ge')}",
        "greater_than": f"must be more than {ctx.get('gt')}",
        "less_than_equal": f"must be at most {ctx.get('le')}",
        "less_than": f"must be less than {ctx.get('lt')}",
        "enum": f"must be one of: {_expected(ctx)}",
        "literal_error": f"must be one of: {_expected(ctx)}",
        "date_type": "must be a date (YYYY-MM-DD)",
        "date_parsing": "must be a date (YYYY-MM-DD)",
        "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
        "date_from_datetime_inexact": "must be a date (YYYY-MM-DD)",
        "datetime_parsing": "must be an ISO-8601 instant",
        "datetime_type": "must be an ISO-8601 instant",
        "model_type": "must be a JSON object",
        "model_attributes_type": "must be a JSON object",
        "dict_type": "must be a JSON object",
        "list_type": "must be a list",
        "too_short": f"at least {ctx.get('min_length')} item(s)",
        "too_long": f"at most {ctx.get('max_length')} items",
        "json_invalid": "not valid JSON",
        "union_tag_invalid": f"unknown command type; one of {', '.join(sorted(COMMAND_TYPES))}",
        "union_tag_not_found": f"missing command type; one of {', '.join(sorted(COMMAND_TYPES))}",
    }
    return words.get(kind)


def describe(error: Mapping[str, Any]) -> tuple[str, str]:
    """The field at fault and what is wrong with it, for one pydantic error."""
    kind = str(error.get("type", ""))
    loc = tuple(error.get("loc", ()))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    cause = ctx.get("error")
    if kind == "json_invalid":
        loc = ()  # its loc is a character offset, not a field
    elif kind.startswith("union_tag"):
        loc = (*loc, "type")
    if isinstance(cause, FieldError):
        loc = (*loc, cause.field)
    if kind in ("value_error", "assertion_error"):
        message = str(cause) if cause is not None else "invalid value"
    else:
        message = plain_words(kind, ctx) or str(error.get("msg", "invalid value")).split(", ", 1)[-1]
    return field_path(loc), message


def validation_message(errors: list[Mapping[str, Any]]) -> tuple[str, str]:
    """The field and the message of a 422: the first error, and how many more there are."""
    if not errors:
        return "body", "body: invalid request"
    field, message = describe(errors[0])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return field, f"{field}: {message}{more}"
