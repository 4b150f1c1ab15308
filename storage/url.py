"""LEDGER_DATABASE_URL → the eventsourcing library's environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse


@dataclass(frozen=True)
class StoreConfig:
    kind: str  # "memory", "sqlite" or "postgres"
    env: dict[str, str]
    display: str  # the URL without its password, safe to log


def parse_database_url(url: str) -> StoreConfig:
    """Map `memory://`, `sqlite:///path` and `postgresql://user:pass@host:port/db` to library settings."""
    url = url.strip()
    if url in ("memory://", "memory:"):
        return StoreConfig("memory", {"PERSISTENCE_MODULE": "eventsourcing.popo"}, "memory://")
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        raw = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ""
        if not raw:
            raise ValueError(f"a SQLite URL needs a path: sqlite:///path/to/ledger.db, not {url!r}")
        path = Path(raw).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return StoreConfig(
            "sqlite",
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(path),
                "SQLITE_LOCK_TIMEOUT": "30",
                "ORIGINATOR_ID_TYPE": "text",
                "APPLICATION_RECORDER_TOPIC": "storage.sqlite_recorder:SQLiteLedgerRecorder",
            },
            f"sqlite:///{path}",
        )
    if parsed.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        query = parse_qs(parsed.query)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parsed.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_LOCK_TIMEOUT": "10",
            # Seconds to wait for a connection: an unreachable server answers 503 within seconds, not after 30.
            "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", ["3"])[0],
            "POSTGRES_POOL_SIZE": query.get("pool_size", ["8"])[0],
            "POSTGRES_MAX_OVERFLOW": query.get("max_overflow", ["16"])[0],
            "ORIGINATOR_ID_TYPE": "text",
            "APPLICATION_RECORDER_TOPIC": "storage.postgres_recorder:PostgresLedgerRecorder",
        }
        if "schema" in query:
            env["POSTGRES_SCHEMA"] = query["schema"][0]
        netloc = parsed.hostname or ""
        if parsed.port:
            netloc += f":{parsed.port}"
        user = f"{parsed.username}@" if parsed.username else ""
        return StoreConfig("postgres", env, f"postgresql://{user}{netloc}{parsed.path}")
    raise ValueError(f"unsupported LEDGER_DATABASE_URL {url!r}: use memory://, sqlite:///… or postgresql://…")
