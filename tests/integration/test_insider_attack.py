"""The insider who rewrites rows and recomputes everything stored (chain, chain checkpoints, Merkle tree):
the database alone can no longer tell, but a client holding an earlier receipt can, through `ledger.verify`
and the public key only. Verification against recorded signed heads, and its persisted outcome, too."""

from __future__ import annotations

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bootstrap import open_ledger
from ledger.verify import VerificationError, check_receipt_still_holds
from projections.system import LedgerSystem
from storage.evidence import LogEvidence
from storage.verification import SIGNED_HEAD, VERIFICATION, last_verification, run_verification
from tests.conftest import CALENDAR, FAST_HASHER, Clock, run
from tests.integration import test_tamper_evidence as tamper
from tests.integration.test_tamper_evidence import Insider, populate, position_of_person

# The SQLite and PostgreSQL ledgers and the insider with SQL access to their tables.
sql_url, sql_ledger, insider = tamper.sql_url, tamper.sql_ledger, tamper.insider

KEY = Ed25519PrivateKey.generate()


def recompute_tree(insider: Insider, ledger: LedgerSystem) -> None:
    """What the insider does last: drop the stored tree and have it recomputed from the rewritten rows."""
    table = "ledger_tree" if insider.kind == "sqlite" else insider.events + "_tree"
    insider.sql(f"DELETE FROM {table}")
    ledger.service.recorder.catch_up_tree()


def test_rows_rewritten_after_the_last_checkpoint_with_everything_recomputed_are_caught_by_a_receipt(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider
) -> None:
    recorder = sql_ledger.service.recorder
    log = LogEvidence(recorder, KEY)
    populate(sql_ledger, clock)
    assert run_verification(recorder, log, source="cli").ok  # the last checkpoint: a signed head of size 10
    clock.advance(minutes=1)
    mine = run(sql_ledger, type="register_person", person_id="P9", name="Person-9", email="p9@x.org")
    receipt = log.receipt([e.position for e in mine.events])  # what the client was answered, and keeps
    clock.advance(minutes=1)
    run(sql_ledger, type="register_person", person_id="P10", name="Person-10", email="p10@x.org")

    # Before any tampering the receipt still holds against the newest head.
    newest = recorder.tree_size()
    honest = log.consistency(receipt["head"]["tree_size"], newest)
    check_receipt_still_holds(receipt, [log.inclusion(mine.events[0].event_id, newest)], honest, log.public_key)

    insider.change_state(mine.position, b"Person-9", b"Mallory-9")
    insider.rewrite_chain(and_checkpoints=True)
    recompute_tree(insider, sql_ledger)

    # The database agrees with itself: a full verification finds nothing.
    assert run_verification(recorder, log, full=True).ok
    # The client's receipt does not hold any more: the log no longer has the root of the head it kept.
    forged = log.consistency(receipt["head"]["tree_size"], newest)
    proof = log.inclusion(mine.events[0].event_id, newest)
    with pytest.raises(VerificationError, match="no longer has the root"):
        check_receipt_still_holds(receipt, [proof], forged, log.public_key)
    # Nor can its leaf be proved under any newer head (the stored event is no longer the one it was given).
    assert proof["leaf_hash"] != receipt["leaves"][0]["leaf_hash"]


def test_a_rewrite_before_the_last_checkpoint_is_found_even_with_the_tree_recomputed(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider
) -> None:
    recorder = sql_ledger.service.recorder
    log = LogEvidence(recorder, KEY)
    populate(sql_ledger, clock, people=3)
    assert run_verification(recorder, log, source="cli").ok  # signed head of size 5
    populate_more = [("P7", "Person-7"), ("P8", "Person-8")]
    for pid, name in populate_more:
        clock.advance(minutes=1)
        run(sql_ledger, type="register_person", person_id=pid, name=name, email=f"{pid}@x.org")
    assert run_verification(recorder, log, source="cli").ok  # signed head of size 7
    changed = position_of_person(insider, 2)
    insider.change_state(changed, b"Person-2", b"Mallory-2")
    insider.rewrite_chain(and_checkpoints=True)
    recompute_tree(insider, sql_ledger)

    incremental = run_verification(recorder, log)
    full = run_verification(recorder, log, full=True)

    for report in (incremental, full):
        assert report.ok is False
        assert report.first_bad_position == 1  # before the first signed head: anywhere from genesis
        assert "signed head of size 5" in (report.problem or "")


def test_a_rewrite_between_two_checkpoints_is_located_after_the_first(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider
) -> None:
    recorder = sql_ledger.service.recorder
    log = LogEvidence(recorder, KEY)
    populate(sql_ledger, clock, people=2)
    assert run_verification(recorder, log, source="cli").ok  # size 4
    for n in (5, 6):
        clock.advance(minutes=1)
        run(sql_ledger, type="register_person", person_id=f"P{n}", name=f"Person-{n}", email=f"p{n}@x.org")
    assert run_verification(recorder, log, source="cli").ok  # size 6
    insider.change_state(position_of_person(insider, 5), b"Person-5", b"Mallory-5")
    insider.rewrite_chain(and_checkpoints=True)
    recompute_tree(insider, sql_ledger)

    report = run_verification(recorder, log)

    assert (report.ok, report.first_bad_position) == (False, 5)


def test_the_last_verification_is_recorded_for_every_process_and_a_read_only_one_records_nothing(
    sql_url: str, sql_ledger: LedgerSystem, clock: Clock
) -> None:
    recorder = sql_ledger.service.recorder
    log = LogEvidence(recorder, KEY)
    populate(sql_ledger, clock, people=2)
    run_verification(recorder, log)  # read-only, as GET /v1/verify
    assert recorder.audit_records(VERIFICATION) == []
    assert recorder.audit_records(SIGNED_HEAD) == []
    run_verification(recorder, log, full=True, source="console")
    other = open_ledger(sql_url, calendar=CALENDAR, clock=clock, hasher=FAST_HASHER, follow=False)
    try:
        seen = last_verification(other.service.recorder)
    finally:
        other.close()
    assert seen is not None
    assert (seen["source"], seen["ok"], seen["position"], seen["full"]) == ("console", True, 4, True)


def test_a_forged_signed_head_in_the_database_fails_verification(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider
) -> None:
    recorder = sql_ledger.service.recorder
    log = LogEvidence(recorder, KEY)
    populate(sql_ledger, clock, people=2)
    # One that claims the log's key: its signature does not hold.
    claimed = {**log.head(), "timestamp": log.head()["timestamp"] + 1}
    recorder.save_audit_record(SIGNED_HEAD, orjson.dumps(claimed))
    report = run_verification(recorder, log)
    assert report.ok is False
    assert "does not verify" in (report.problem or "")


def test_a_signed_head_of_a_key_nobody_trusts_in_the_database_fails_verification(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider
) -> None:
    recorder = sql_ledger.service.recorder
    log = LogEvidence(recorder, KEY)
    populate(sql_ledger, clock, people=2)
    other_key = LogEvidence(recorder, Ed25519PrivateKey.generate())
    recorder.save_audit_record(SIGNED_HEAD, orjson.dumps(other_key.head()))
    report = run_verification(recorder, log)
    assert report.ok is False
    assert f"signed by an unknown key {other_key.log_id}" in (report.problem or "")
