"""The name and email a person goes by, as search, who-had-access and the console's person page show them:
the latest registration or profile update in valid time among the facts still known, and none at all while
no registration of theirs is known (a voided registration names no one)."""

from __future__ import annotations

from datetime import UTC, datetime

from ledger import events as ev
from ledger.rules.accounts import NameAndEmail, name_and_email_a_person_goes_by

JAN, FEB, MAR = (datetime(2025, month, 1, tzinfo=UTC) for month in (1, 2, 3))


def registered(name: str, email: str, *, effective: datetime, recorded: datetime, version: int) -> ev.PersonRegistered:
    return ev.PersonRegistered(
        originator_id="person:P-1",
        originator_version=version,
        timestamp=recorded,
        event_id=f"e-{version}",
        effective_at=effective,
        actor="registrar",
        person_id="P-1",
        name=name,
        email=email,
    )


def updated(
    *, name: str | None = None, email: str | None = None, effective: datetime, recorded: datetime, version: int
) -> ev.ProfileUpdated:
    return ev.ProfileUpdated(
        originator_id="person:P-1",
        originator_version=version,
        timestamp=recorded,
        event_id=f"e-{version}",
        effective_at=effective,
        actor="registrar",
        person_id="P-1",
        name=name,
        email=email,
    )


def test_a_person_whose_only_registration_is_voided_goes_by_no_name_even_with_a_profile_update_left() -> None:
    # The registration (voided) is no longer among the known facts; the update made on top of it is.
    left = [updated(name="Bea Lind", effective=FEB, recorded=FEB, version=2)]
    assert name_and_email_a_person_goes_by(left) is None


def test_a_registration_recorded_again_with_its_first_effective_time_keeps_a_later_name_change() -> None:
    renamed = updated(name="Bea Lind", effective=FEB, recorded=FEB, version=2)
    again = registered("Ana Lind", "ana@x.org", effective=JAN, recorded=MAR, version=4)  # the corrected registration
    assert name_and_email_a_person_goes_by([renamed, again]) == NameAndEmail("P-1", "Bea Lind", "ana@x.org")


def test_the_name_does_not_depend_on_the_order_the_facts_were_recorded_in() -> None:
    first = registered("Ana Lind", "ana@x.org", effective=JAN, recorded=JAN, version=1)
    late = updated(name="Ana Berg", effective=FEB, recorded=MAR, version=3)  # a change reported late
    meanwhile = updated(email="ana@berg.org", effective=MAR, recorded=FEB, version=2)
    expected = NameAndEmail("P-1", "Ana Berg", "ana@berg.org")
    assert name_and_email_a_person_goes_by([first, meanwhile, late]) == expected
    assert name_and_email_a_person_goes_by([first, late, meanwhile]) == expected


def test_of_two_changes_effective_at_one_instant_the_one_recorded_last_names_the_person() -> None:
    first = registered("Ana Lind", "ana@x.org", effective=JAN, recorded=JAN, version=1)
    one = updated(name="Ana Berg", effective=FEB, recorded=FEB, version=2)
    other = updated(name="Ana Lind-Berg", effective=FEB, recorded=MAR, version=3)
    found = name_and_email_a_person_goes_by([first, other, one])
    assert found is not None
    assert found.name == "Ana Lind-Berg"
