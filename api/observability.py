"""Structured JSON request logs and Prometheus metrics.

Logs carry method, route template, status, duration and client id — never the
Authorization header, a query string or a body (codes travel in bodies).
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from typing import Any, TextIO

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("ledger.access")


@functools.lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def timestamp(created: float) -> str:
    """A log line's instant: UTC, to the millisecond."""
    second = int(created)
    return f"{_utc_second(second)}.{int((created - second) * 1000):03d}Z"


def json_line(created: float, level: str, logger: str, msg: str, fields: dict[str, Any] | None) -> str:
    body: dict[str, Any] = {"ts": timestamp(created), "level": level, "logger": logger, "msg": msg}
    if fields:
        body.update(fields)
    return orjson.dumps(body, default=str).decode()


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        extra = getattr(record, "fields", None)
        fields = dict(extra) if isinstance(extra, dict) else {}
        if record.exc_info and record.exc_info[0] is not None:
            fields["exc_type"] = record.exc_info[0].__name__
        return json_line(record.created, record.levelname.lower(), record.name, record.getMessage(), fields)


class JsonLines(logging.StreamHandler[TextIO]):
    """The process's log handler: JSON lines on a stream. Access lines may be written to it directly."""

    def wrote(self, line: str) -> bool:
        """Whether the line was written (if not, the caller logs it the usual way, which reports why)."""
        self.acquire()
        try:
            self.stream.write(line + self.terminator)
            self.stream.flush()
        except Exception:
            return False
        finally:
            self.release()
        return True


def direct_access_handler() -> JsonLines | None:
    """The handler an access line may be written to without a LogRecord: only when logging would
    hand it to that one handler and nothing else (no filter, no other handler on the way), at a
    level that lets it through. Otherwise the line goes through logging as any other."""
    if not access_log.isEnabledFor(logging.INFO):
        return None
    found: list[logging.Handler] = []
    logger: logging.Logger | None = access_log
    while logger is not None:
        if logger.filters:
            return None
        found.extend(logger.handlers)
        logger = logger.parent if logger.propagate else None
    if len(found) != 1:
        return None
    handler = found[0]
    if type(handler) is not JsonLines or handler.filters or handler.level > logging.INFO:
        return None
    return handler if type(handler.formatter) is JsonFormatter else None


def log_request(fields: dict[str, Any]) -> None:
    """The access line: built here and written at once when logging would only format and write it
    (a LogRecord, the formatter and the logger walk cost most of the line), else through logging.
    Still written and flushed line by line, under the handler's lock: no line waits in a buffer,
    none is lost at a crash, and lines keep their order with the process's other log lines."""
    handler = direct_access_handler()
    if handler is None or not handler.wrote(json_line(time.time(), "info", access_log.name, "request", fields)):
        access_log.info("request", extra={"fields": fields})


def configure_logging(level: str) -> None:
    handler = JsonLines(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # ours is structured and safe


class Metrics:
    """Request counts and latencies per route, and projection lag, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ledger_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "ledger_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.log_position = Gauge("ledger_log_position", "last ledger position", registry=self.registry)
        self.projected_position = Gauge("ledger_projection_position", "last position projected", registry=self.registry)
        self.lag = Gauge("ledger_projection_lag_positions", "positions not yet projected", registry=self.registry)
        self.replica_position = Gauge(
            "ledger_replica_position", "projections' position replayed on the read replica", registry=self.registry
        )
        self.replica_lag = Gauge(
            "ledger_replica_lag_positions",
            "positions the read replica's projections are behind the primary's",
            registry=self.registry,
        )


class RequestLog:
    """Pure ASGI middleware: one structured log line and the metrics per HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"  # the template, not the URL
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            state = scope.get("state") or {}
            log_request(
                {
                    "method": method,
                    "route": route,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                    "client": state.get("client_id"),
                }
            )
