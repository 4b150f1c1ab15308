"""Finding people by id, name or email (case-insensitive prefix) on every store, as names change and facts are voided."""

from __future__ import annotations

from projections.system import LedgerSystem
from tests.conftest import Clock, caught_up, run


def found(ledger: LedgerSystem, query: str) -> list[str]:
    return [p.person_id for p in caught_up(ledger).queries.find_people(query).people]


def register(ledger: LedgerSystem, person_id: str, name: str, email: str) -> str:
    return run(ledger, type="register_person", person_id=person_id, name=name, email=email).events[0].event_id


def test_people_are_found_by_the_start_of_their_id_email_name_or_a_word_of_it(
    ledger: LedgerSystem, clock: Clock
) -> None:
    register(ledger, "P-2001", "Dana Ortiz", "dana.ortiz@lakeside.example")
    register(ledger, "P-2002", "Ortwin Dahl", "o.dahl@northshore.example")
    register(ledger, "Q-1", "Ann Lee", "ann@lakeside.example")
    assert found(ledger, "p-200") == ["P-2001", "P-2002"]
    assert found(ledger, "ORT") == ["P-2001", "P-2002"]  # a word of the name, or the name's start
    assert found(ledger, "dana.") == ["P-2001"]
    assert found(ledger, "ann@") == ["Q-1"]
    assert found(ledger, "lakeside") == []  # not a prefix of anything
    assert found(ledger, "tiz") == []
    entry = caught_up(ledger).queries.find_people("q-1").people[0]
    assert (entry.name, entry.email) == ("Ann Lee", "ann@lakeside.example")


def test_a_new_name_is_found_and_a_voided_one_is_not(ledger: LedgerSystem, clock: Clock) -> None:
    register(ledger, "P-1", "Jo March", "jo@x.example")
    assert found(ledger, "march") == ["P-1"]  # the directory is now held in memory
    clock.advance(minutes=1)
    update = run(ledger, type="update_profile", person_id="P-1", name="Jo Bhaer")
    assert found(ledger, "march") == []
    assert found(ledger, "bhaer") == ["P-1"]
    clock.advance(minutes=1)
    run(ledger, type="void_event", event_id=update.events[0].event_id, reason="wrong person")
    assert found(ledger, "bhaer") == []
    assert found(ledger, "march") == ["P-1"]


def test_an_exact_id_comes_first_and_the_limit_holds(ledger: LedgerSystem, clock: Clock) -> None:
    for n in range(12):
        register(ledger, f"P-1{n:02d}", f"Person {n}", f"p{n}@x.example")
    register(ledger, "P-1", "Exact", "exact@x.example")
    answer = caught_up(ledger).queries.find_people("p-1", limit=5)
    assert [p.person_id for p in answer.people] == ["P-1", "P-100", "P-101", "P-102", "P-103"]
    assert answer.position == ledger.service.recorder.last_position()
