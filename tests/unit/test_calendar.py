"""Annual windows at their boundaries, in the ledger's zone (R3, R8, R11, R16; docs/rules.md, "Time").

Pure and fast: calendar arithmetic and rule functions over `World`s built by hand. The same
boundaries decided through a ledger are in tests/integration/test_calendar_boundaries.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ledger import events as ev
from ledger.calendar import LedgerCalendar
from ledger.rules.years import current_released_year, exam_year_is_kept, kept_years
from ledger.streams import fold
from ledger.world import World
from tests.conftest import CALENDAR, ny

US = timedelta(microseconds=1)


# --- calendar arithmetic -------------------------------------------------------------------


def test_aug_1_starts_at_midnight_in_new_york_which_is_4am_utc_in_summer() -> None:
    assert CALENDAR.august_first(2025) == datetime(2025, 8, 1, 4, tzinfo=UTC)


def test_an_access_year_runs_from_aug_1_through_the_end_of_jul_31_of_the_next_year() -> None:
    opens, closes = CALENDAR.access_window(2025)
    assert opens == ny(2025, 8, 1)
    assert closes == ny(2026, 8, 1)
    assert CALENDAR.local_date(closes - US) == date(2026, 7, 31)


def test_the_code_of_exam_year_2025_expires_at_the_end_of_jul_31_2026_in_new_york() -> None:
    assert CALENDAR.code_expiry(2025) == ny(2026, 8, 1)
    assert CALENDAR.code_expiry(2025) == datetime(2026, 8, 1, 4, tzinfo=UTC)


def test_scores_count_as_released_from_the_start_of_the_release_day_in_new_york() -> None:
    assert CALENDAR.release_start(date(2025, 7, 7)) == datetime(2025, 7, 7, 4, tzinfo=UTC)


def test_dates_and_naive_times_are_read_in_the_ledger_zone_and_instants_with_an_offset_are_kept() -> None:
    assert CALENDAR.parse_instant("2025-07-07") == ny(2025, 7, 7)
    assert CALENDAR.parse_instant("2025-07-06T23:59:59.999999") == ny(2025, 7, 6, 23, 59, 59, 999999)
    assert CALENDAR.parse_instant("2026-08-01T02:00Z") == datetime(2026, 8, 1, 2, tzinfo=UTC)
    assert CALENDAR.parse_instant("2026-08-01T02:00:00+00:00") == datetime(2026, 8, 1, 2, tzinfo=UTC)


def test_an_instant_already_aug_1_in_utc_is_still_jul_31_in_new_york() -> None:
    instant = datetime(2026, 8, 1, 2, tzinfo=UTC)
    assert CALENDAR.local_date(instant) == date(2026, 7, 31)
    assert instant < CALENDAR.code_expiry(2025)
    assert instant < CALENDAR.access_window(2025)[1]


def test_winter_dates_start_at_5am_utc_because_new_york_is_on_standard_time() -> None:
    assert CALENDAR.start_of_day(date(2025, 1, 15)) == datetime(2025, 1, 15, 5, tzinfo=UTC)


def test_another_ledger_zone_moves_every_boundary() -> None:
    assert LedgerCalendar(zone_name="UTC").august_first(2025) == datetime(2025, 8, 1, tzinfo=UTC)
    assert LedgerCalendar(zone_name="America/Los_Angeles").code_expiry(2025) == datetime(2026, 8, 1, 7, tzinfo=UTC)


# --- the current released year and the kept years over hand-built worlds --------------------


def releases_world(*releases: tuple[int, date]) -> World:
    """A world holding only score releases (exam year, release day), recorded in this order."""
    recorded = datetime(2019, 1, 1, tzinfo=UTC)
    events = [
        ev.ScoresReleased(
            originator_id=ev.CALENDAR_STREAM,
            originator_version=i,
            timestamp=recorded,
            event_id=f"rel-{year}",
            effective_at=recorded,
            actor="test",
            exam_year=year,
            released_on=on,
        )
        for i, (year, on) in enumerate(releases, start=1)
    ]
    return World({ev.CALENDAR_STREAM: fold(ev.CALENDAR_STREAM, events)})


def current_year(world: World, t: datetime, calendar: LedgerCalendar = CALENDAR) -> int | None:
    found = current_released_year(world.releases(), calendar, t)
    return None if found is None else found.exam_year


def test_the_day_before_the_2025_release_the_current_released_year_is_2024() -> None:
    world = releases_world((2024, date(2024, 7, 8)), (2025, date(2025, 7, 7)))
    assert current_year(world, ny(2025, 7, 6, 23, 59, 59, 999999)) == 2024


def test_from_the_first_instant_of_the_release_day_the_current_released_year_is_2025() -> None:
    world = releases_world((2024, date(2024, 7, 8)), (2025, date(2025, 7, 7)))
    assert current_year(world, ny(2025, 7, 7)) == 2025


def test_release_day_already_begun_in_utc_but_not_in_new_york_is_not_yet_released() -> None:
    world = releases_world((2024, date(2024, 7, 8)), (2025, date(2025, 7, 7)))
    assert current_year(world, datetime(2025, 7, 7, 3, 59, 59, tzinfo=UTC)) == 2024


def test_there_is_no_current_released_year_before_the_first_release() -> None:
    world = releases_world((2025, date(2025, 7, 7)))
    assert current_year(world, ny(2025, 7, 6, 23, 59, 59, 999999)) is None
    assert kept_years(world.releases(), CALENDAR, ny(2025, 7, 6)) == []


def test_the_current_released_year_is_the_largest_released_even_when_recorded_out_of_order() -> None:
    world = releases_world((2025, date(2025, 7, 7)), (2023, date(2023, 7, 10)), (2024, date(2024, 7, 8)))
    assert current_year(world, ny(2024, 12, 1)) == 2024
    assert current_year(world, ny(2025, 7, 7)) == 2025


def test_five_exam_years_are_kept_the_current_one_and_the_four_before() -> None:
    world = releases_world(*((y, date(y, 7, 7)) for y in range(2020, 2026)))
    assert kept_years(world.releases(), CALENDAR, ny(2025, 8, 1)) == [2025, 2024, 2023, 2022, 2021]
    assert not exam_year_is_kept(world.releases(), CALENDAR, 2020, ny(2025, 8, 1))
    assert not exam_year_is_kept(world.releases(), CALENDAR, 2026, ny(2025, 8, 1))


def test_the_kept_years_shift_at_the_release_instant() -> None:
    world = releases_world(*((y, date(y, 7, 7)) for y in range(2020, 2026)))
    before, at = ny(2025, 7, 6, 23, 59, 59, 999999), ny(2025, 7, 7)
    assert kept_years(world.releases(), CALENDAR, before) == [2024, 2023, 2022, 2021, 2020]
    assert kept_years(world.releases(), CALENDAR, at) == [2025, 2024, 2023, 2022, 2021]


def test_a_year_in_the_kept_range_that_was_never_released_is_not_kept() -> None:
    world = releases_world(*((y, date(y, 7, 7)) for y in (2021, 2022, 2024, 2025)))
    assert kept_years(world.releases(), CALENDAR, ny(2025, 8, 1)) == [2025, 2024, 2022, 2021]
    assert not exam_year_is_kept(world.releases(), CALENDAR, 2023, ny(2025, 8, 1))


def test_the_number_of_kept_years_is_a_setting() -> None:
    world = releases_world(*((y, date(y, 7, 7)) for y in range(2020, 2026)))
    three = LedgerCalendar(kept_years=3)
    assert kept_years(world.releases(), three, ny(2025, 8, 1)) == [2025, 2024, 2023]
