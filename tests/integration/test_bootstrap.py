"""The composition root: the settings the app, the command line and the benchmarks share become one ledger."""

from __future__ import annotations

from datetime import timedelta

from api.settings import Settings
from bootstrap import open_from_settings


def test_the_settings_choose_the_store_zone_kept_years_lockout_and_code_checks(store_url: str) -> None:
    settings = Settings(
        database_url=store_url,
        timezone="America/Chicago",
        kept_years=2,
        lockout_failures=3,
        lockout_minutes=30,
        max_code_checks_per_request=4,
        project=False,
        code_hash_time_cost=1,
        code_hash_memory_kib=64,
    )
    system = open_from_settings(settings)
    try:
        assert system.config.display.split(":", 1)[0] == store_url.split(":", 1)[0]
        assert (system.calendar.zone_name, system.calendar.kept_years) == ("America/Chicago", 2)
        assert system.service.calendar is system.calendar
        assert (system.service.lockout.failures, system.service.lockout.window) == (3, timedelta(minutes=30))
        assert system.service.max_code_checks == 4
    finally:
        system.close()
