"""LedgerClient: the API's reads and commands, with idempotency keys, bounded retries and read-your-writes."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from ledger_client.errors import LedgerApiError
from ledger_client.models import (
    AccessAnswer,
    BatchResult,
    CheckAnswer,
    CommandResult,
    RightsAnswer,
    TimelineAnswer,
    WindowsAnswer,
)

Instant = datetime | date | str  # valid time: an instant (with offset) or a date in the ledger's zone
AsOf = int | datetime | date | str  # transaction time: a ledger position, an instant or a date
Model = TypeVar("Model", bound=BaseModel)

RETRIED_STATUSES = frozenset({503})  # the store is busy or the projections are behind: worth another try


class Positions:
    """The highest ledger position written through the clients sharing this object (thread-safe).

    Reads ask the server for at least this position (`min_position`): a write is seen by the next read,
    even one made with another key (share one `Positions` between a registrar's and a reader's client).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._position = 0

    @property
    def value(self) -> int:
        return self._position

    def observe(self, position: int) -> None:
        with self._lock:
            self._position = max(self._position, position)


def _segment(value: str) -> str:
    """An id as one URL path segment (a `/` or `?` in it stays part of the id)."""
    return quote(value, safe="")


def _text(value: Instant | AsOf | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _jsonable(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in fields.items()}


def retry_delay(response: httpx.Response | None, attempt: int, *, backoff: float, max_wait: float) -> float:
    """Seconds to wait before the next attempt: the server's Retry-After (in seconds) or an exponential backoff."""
    header = str(response.headers.get("Retry-After", "")) if response is not None else ""
    if header.strip().isdigit():
        return min(float(header), max_wait)
    return min(float(backoff * 2**attempt), max_wait)


class LedgerClient:
    """One API key's client. Use as a context manager, or call `close()`.

    `retries` bounds the extra attempts after a 503 or a connection failure (commands are safe to
    retry: each carries an idempotency key). With `read_your_writes` (the default) every read
    passes the position of the last write seen by `positions` as `min_position`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        max_wait: float = 10.0,
        read_your_writes: bool = True,
        positions: Positions | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )
        self.retries, self.backoff, self.max_wait = retries, backoff, max_wait
        self.read_your_writes = read_your_writes
        self.positions = positions or Positions()
        self._sleep = sleep

    # --- lifecycle ----------------------------------------------------------------------------------

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> LedgerClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # --- reads --------------------------------------------------------------------------------------

    def check(
        self,
        person_id: str,
        *,
        org_id: str,
        report: str,
        exam_year: int,
        school_id: str | None = None,
        subject: str | None = None,
        section_id: str | None = None,
        at: Instant | None = None,
        as_of: AsOf | None = None,
        min_position: int | None = None,
    ) -> CheckAnswer:
        """May `person_id`, acting for `org_id`, see `report` of `exam_year` (at `at`, as known at `as_of`)?"""
        params = {
            "person_id": person_id,
            "org_id": org_id,
            "report": report,
            "exam_year": exam_year,
            "school_id": school_id,
            "subject": subject,
            "section_id": section_id,
        }
        return self._read(CheckAnswer, "/v1/check", params, at=at, as_of=as_of, min_position=min_position)

    def rights(
        self, person_id: str, *, at: Instant | None = None, as_of: AsOf | None = None, min_position: int | None = None
    ) -> RightsAnswer:
        """Per organization: the role held, its scopes and interval, or why none is held."""
        path = f"/v1/people/{_segment(person_id)}/rights"
        return self._read(RightsAnswer, path, {}, at=at, as_of=as_of, min_position=min_position)

    def who_had_access(
        self,
        org_id: str,
        start: Instant,
        end: Instant,
        *,
        level: str = "student",
        clip: bool = False,
        as_of: AsOf | None = None,
        min_position: int | None = None,
    ) -> AccessAnswer:
        """Who could see the organization's data of `level` during [start, end); `clip` cuts intervals to it."""
        params = {"from": _text(start), "to": _text(end), "level": level}
        if clip:
            params["clip"] = "true"
        path = f"/v1/orgs/{_segment(org_id)}/access"
        return self._read(AccessAnswer, path, params, as_of=as_of, min_position=min_position)

    def windows(
        self, org_id: str, *, at: Instant | None = None, as_of: AsOf | None = None, min_position: int | None = None
    ) -> WindowsAnswer:
        """The annual-window state of a school or district."""
        path = f"/v1/orgs/{_segment(org_id)}/windows"
        return self._read(WindowsAnswer, path, {}, at=at, as_of=as_of, min_position=min_position)

    def timeline(self, person_id: str, *, as_of: AsOf | None = None, min_position: int | None = None) -> TimelineAnswer:
        """Every event about the person with both times, and the derived access intervals."""
        path = f"/v1/people/{_segment(person_id)}/timeline"
        return self._read(TimelineAnswer, path, {}, as_of=as_of, min_position=min_position)

    # --- commands -----------------------------------------------------------------------------------

    def command(self, type: str, /, *, idempotency_key: str | None = None, **fields: Any) -> CommandResult:
        """Record one command; the key (generated when not given) makes a retry return the first result."""
        body = {"type": type, **_jsonable(fields), "idempotency_key": idempotency_key or new_key()}
        response = self._send("POST", "/v1/commands", json=body)
        result = CommandResult.model_validate(
            {**response.json(), "replayed": response.headers.get("Idempotent-Replayed") == "true"}
        )
        self.positions.observe(result.position)
        return result

    def batch(self, commands: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Record commands all or nothing; each without an idempotency key is given one."""
        bodies = [{**_jsonable(c), "idempotency_key": c.get("idempotency_key") or new_key()} for c in commands]
        response = self._send("POST", "/v1/commands/batch", json={"commands": bodies})
        result = BatchResult.model_validate(response.json())
        self.positions.observe(result.position)
        return result

    def preview(self, type: str, /, **fields: Any) -> dict[str, Any]:
        """What the command would record and whose access it would change; nothing is recorded."""
        body = {"type": type, **_jsonable(fields)}
        response = self._send("POST", "/v1/commands", json=body, params={"dry_run": "true"})
        return dict(response.json())

    def preview_batch(self, commands: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """What the batch would record and whose access it would change, decided as the batch would be;
        nothing is recorded and no idempotency key is used."""
        bodies = [_jsonable(c) for c in commands]
        response = self._send("POST", "/v1/commands/batch", json={"commands": bodies}, params={"dry_run": "true"})
        return dict(response.json())

    # --- transport ----------------------------------------------------------------------------------

    def _read(
        self,
        model: type[Model],
        path: str,
        params: Mapping[str, Any],
        *,
        at: Instant | None = None,
        as_of: AsOf | None = None,
        min_position: int | None = None,
    ) -> Model:
        query = {**params, "at": _text(at), "as_of": _text(as_of), "min_position": self._min_position(min_position)}
        response = self._send("GET", path, params={k: v for k, v in query.items() if v is not None})
        return model.model_validate(response.json())

    def _min_position(self, asked: int | None) -> int | None:
        written = self.positions.value if self.read_your_writes else 0
        wanted = max(asked or 0, written)
        return wanted or None

    def _send(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> httpx.Response:
        """The request, retried after a 503 or a connection failure at most `retries` times."""
        attempt = 0
        while True:
            try:
                response = self.http.request(method, path, params=params, json=json)
            except httpx.TransportError:
                if attempt >= self.retries:
                    raise
                self._sleep(retry_delay(None, attempt, backoff=self.backoff, max_wait=self.max_wait))
                attempt += 1
                continue
            if response.status_code in RETRIED_STATUSES and attempt < self.retries:
                self._sleep(retry_delay(response, attempt, backoff=self.backoff, max_wait=self.max_wait))
                attempt += 1
                continue
            if response.is_success:
                return response
            raise LedgerApiError.from_body(response.status_code, _body(response))


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def new_key() -> str:
    """A fresh idempotency key."""
    return str(uuid.uuid4())
