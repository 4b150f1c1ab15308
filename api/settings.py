"""Settings from the environment (prefix `LEDGER_`), read once at start-up."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.calendar import DEFAULT_KEPT_YEARS, DEFAULT_ZONE
from projections.cache import CACHE_MAX_FACTS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    database_url: str = Field("sqlite:///./ledger.db", description="memory://, sqlite:///path or postgresql://…")
    # SecretStr: the raw keys never appear in a repr, a log line or an error message.
    api_keys: SecretStr | None = Field(
        None, description="comma-separated client_id:role:secret; without it, one key per role is generated"
    )
    timezone: str = Field(DEFAULT_ZONE, description="the ledger's zone for calendar boundaries")
    kept_years: int = Field(DEFAULT_KEPT_YEARS, ge=1, le=20, description="exam years kept available (R16)")
    read_wait_seconds: float = Field(5.0, ge=0, le=60, description="how long min_position waits (read-your-writes)")
    read_database_url: str | None = Field(
        None, description="comma-separated PostgreSQL hot standbys of the primary; queries read from one of them"
    )
    ready_max_lag: int = Field(
        1000, ge=0, description="/readyz answers 503 when reads are more than this many positions behind the log"
    )
    max_header_bytes: int = Field(
        64 * 1024, ge=1024, description="larger request header sections are refused by `ledger serve` (431)"
    )
    max_body_bytes: int = Field(2_000_000, ge=1024, description="larger request bodies are refused (413)")
    max_batch: int = Field(1000, ge=1, le=10_000, description="most commands in one batch")
    max_page: int = Field(1000, ge=1, le=10_000, description="most events in one feed page")
    max_redemptions_per_batch: int = Field(50, ge=1, le=10_000, description="most redeem_access_code in one batch")
    max_code_checks_per_request: int = Field(
        20, ge=1, description="most argon2id hashes (codes checked or issued) one request may cause"
    )
    code_hash_time_cost: int = Field(2, ge=1, description="argon2id time cost for access codes")
    code_hash_memory_kib: int = Field(19 * 1024, ge=8, description="argon2id memory cost (KiB) for access codes")
    lockout_failures: int = Field(5, ge=1, description="wrong codes that lock a person out of redemption (R10)")
    lockout_minutes: float = Field(15, gt=0, description="window and length of the R10 lockout")
    auth_failure_limit: int = Field(
        20, ge=1, description="failed authentications (API key, console sign-in) per client address and window"
    )
    auth_failure_window_seconds: float = Field(
        60, gt=0, description="over the limit, an address gets 429 until its oldest failure is this old"
    )
    console_session_minutes: int = Field(60, ge=1, description="console sessions expire after this long")
    console_secret: SecretStr | None = Field(
        None,
        description="signs console session cookies (the same in every process); default: derived from the API keys",
    )
    signing_key_file: str | None = Field(
        None,
        description="the log's Ed25519 key (PEM, mode 0600, never in the database); default: ledger-signing.key "
        "next to a SQLite database or in the working directory",
    )
    previous_public_keys: str | None = Field(
        None,
        description="after a key rotation: the earlier public keys (base64, comma-separated) whose signed heads "
        "still verify; public keys only",
    )
    log_level: str = Field("INFO")
    warm_cache: bool = Field(
        True,
        description="after start, load every school and district, then every person, into the query cache "
        "in the background (up to its size limit)",
    )
    cache_max_facts: int = Field(
        CACHE_MAX_FACTS,
        ge=0,
        description="most facts each process keeps decoded in its query cache (about 370 bytes each, "
        "fragmentation included); warming stops there and queries evict the least recently used",
    )
    project: bool = Field(True, description="follow the log into the projections in this process")
