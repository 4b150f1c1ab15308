"""The access log line: the same JSON whether written directly or through logging, and never lost."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from api.observability import configure_logging, direct_access_handler, log_request

FIELDS: dict[str, Any] = {"method": "POST", "route": "/v1/check", "status": 200, "ms": 1.25, "client": "k-1"}


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def server_logging(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """Logging configured as the server configures it, onto a stderr of the test's own. Called in the
    test's body: pytest replaces stderr and adds handlers of its own when the body starts."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("info")
    return stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_an_access_line_written_directly_reads_as_the_one_logging_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = server_logging(monkeypatch)
    assert direct_access_handler() is not None
    log_request(FIELDS)
    handler = logging.getLogger().handlers[0]
    handler.addFilter(lambda record: True)  # a filter sends the line through logging
    assert direct_access_handler() is None
    log_request(FIELDS)

    direct, logged = lines(stderr)
    assert list(direct) == list(logged) == ["ts", "level", "logger", "msg", *FIELDS]
    assert {**direct, "ts": None} == {**logged, "ts": None}
    assert (direct["level"], direct["logger"], direct["msg"]) == ("info", "ledger.access", "request")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", direct["ts"])


def test_another_handler_on_the_access_log_still_receives_every_line(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = server_logging(monkeypatch)
    keep = Keep()
    access = logging.getLogger("ledger.access")
    access.addHandler(keep)
    try:
        log_request(FIELDS)
    finally:
        access.removeHandler(keep)

    assert [r.getMessage() for r in keep.records] == ["request"]
    assert [line["route"] for line in lines(stderr)] == ["/v1/check"]


def test_no_access_line_is_written_when_the_level_leaves_info_out(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = server_logging(monkeypatch)
    logging.getLogger().setLevel("WARNING")
    log_request(FIELDS)
    assert lines(stderr) == []
