"""A change of signing key: refused when it is an accident (the store holds heads another key signed),
possible on purpose (the earlier public keys listed), and a head of a key nobody trusts is reported as
such, not as a change to the events."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from api.cli import app as cli_app
from ledger.verify import log_id, public_key_bytes
from projections.system import LedgerSystem
from storage.evidence import LogEvidence
from storage.signing import (
    PendingKey,
    SigningKeyError,
    open_log,
    previous_public_keys,
    resolve_key,
    write_new_key,
)
from storage.verification import SIGNED_HEAD, run_verification, signed_heads
from tests.conftest import Clock, run

OLD, NEW = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
OLD_PUBLIC, NEW_PUBLIC = public_key_bytes(OLD.public_key()), public_key_bytes(NEW.public_key())


def people(ledger: LedgerSystem, clock: Clock, *ids: str) -> None:
    for person in ids:
        clock.advance(minutes=1)
        run(ledger, type="register_person", person_id=person, name=f"N {person}", email=f"{person.lower()}@x.org")


def from_file(key: Ed25519PrivateKey) -> PendingKey:
    return PendingKey(key, Path("/keys/log.key"), new=False, setting=True)


def test_heads_signed_before_a_rotation_still_verify_once_the_old_public_key_is_listed(
    ledger: LedgerSystem, clock: Clock
) -> None:
    recorder = ledger.service.recorder
    people(ledger, clock, "P1", "P2")
    assert run_verification(recorder, LogEvidence(recorder, OLD), source="cli").ok  # a head signed by the old key

    rotated = open_log(recorder, from_file(NEW), [OLD_PUBLIC])
    people(ledger, clock, "P3")
    for full in (False, True):
        report = run_verification(recorder, rotated, full=full, source="cli")
        assert report.ok, report.problem
    heads = signed_heads(recorder, rotated.keys)
    assert (heads.forged, heads.unknown) == (None, None)
    assert [size for size, _ in heads.valid] == [2, 3, 3]
    assert rotated.head()["log_id"] == log_id(NEW_PUBLIC)  # new heads: the new key
    key = rotated.key_json()
    assert key["log_id"] == log_id(NEW_PUBLIC)
    assert key["previous_keys"] == [
        {"algorithm": "ed25519", "public_key": base64.b64encode(OLD_PUBLIC).decode(), "log_id": log_id(OLD_PUBLIC)}
    ]


def test_a_process_with_another_key_refuses_a_store_whose_heads_the_old_key_signed_naming_the_setting(
    ledger: LedgerSystem, clock: Clock
) -> None:
    recorder = ledger.service.recorder
    people(ledger, clock, "P1")
    assert open_log(recorder, from_file(NEW)).log_id == log_id(NEW_PUBLIC)  # no heads yet: any key will do
    assert run_verification(recorder, LogEvidence(recorder, OLD), source="cli").ok
    with pytest.raises(SigningKeyError) as refused:
        open_log(recorder, from_file(NEW))
    message = str(refused.value)
    assert log_id(OLD_PUBLIC) in message
    assert "LEDGER_SIGNING_KEY_FILE" in message
    assert "LEDGER_PREVIOUS_PUBLIC_KEYS" in message
    assert open_log(recorder, from_file(OLD)).log_id == log_id(OLD_PUBLIC)  # the right key file starts


def test_no_key_is_made_for_a_store_that_holds_heads_signed_by_another(
    ledger: LedgerSystem, clock: Clock, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a PostgreSQL ledger keeps its default key file
    recorder = ledger.service.recorder
    people(ledger, clock, "P1")
    assert run_verification(recorder, LogEvidence(recorder, OLD), source="cli").ok
    pending = resolve_key(store_url, None)
    assert pending.new
    with pytest.raises(SigningKeyError, match="LEDGER_SIGNING_KEY_FILE") as refused:
        open_log(recorder, pending)
    assert log_id(OLD_PUBLIC) in str(refused.value)
    if pending.path is not None:
        assert not pending.path.exists()


def test_a_key_made_for_a_store_is_written_once_its_heads_allow_it(
    ledger: LedgerSystem, clock: Clock, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    people(ledger, clock, "P1")
    pending = resolve_key(store_url, None)
    log = open_log(ledger.service.recorder, pending)
    assert log.log_id == log_id(public_key_bytes(pending.key.public_key()))
    if pending.path is not None:
        assert resolve_key(store_url, None).key.private_bytes_raw() == pending.key.private_bytes_raw()


def test_a_head_of_a_key_nobody_trusts_fails_verification_as_an_unknown_key_with_no_bad_position(
    ledger: LedgerSystem, clock: Clock
) -> None:
    recorder = ledger.service.recorder
    log = LogEvidence(recorder, OLD)
    people(ledger, clock, "P1", "P2")
    assert run_verification(recorder, log, source="cli").ok
    stranger = Ed25519PrivateKey.generate()
    recorder.save_audit_record(SIGNED_HEAD, orjson.dumps(LogEvidence(recorder, stranger).head()))
    for full in (False, True):
        report = run_verification(recorder, log, full=full)
        assert report.ok is False
        assert report.first_bad_position is None
        assert report.problem is not None
        assert f"signed by an unknown key {log_id(public_key_bytes(stranger.public_key()))}" in report.problem
        assert report.position == 2  # the events themselves were checked, and hold


def test_previous_public_keys_must_be_base64_ed25519_keys_named_by_the_setting() -> None:
    assert previous_public_keys(None) == []
    listed = f"{base64.b64encode(OLD_PUBLIC).decode()} , {base64.b64encode(NEW_PUBLIC).decode()}"
    assert previous_public_keys(listed) == [OLD_PUBLIC, NEW_PUBLIC]
    with pytest.raises(SigningKeyError, match="LEDGER_PREVIOUS_PUBLIC_KEYS"):
        previous_public_keys("not-a-key")


def test_the_cli_refuses_a_changed_key_file_and_verifies_after_a_deliberate_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path}/ledger.db")
    monkeypatch.setenv("LEDGER_CODE_HASH_TIME_COST", "1")
    monkeypatch.setenv("LEDGER_CODE_HASH_MEMORY_KIB", "64")
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    write_new_key(old, OLD)
    write_new_key(new, NEW)
    cli = CliRunner()
    people_file = tmp_path / "people.jsonl"
    people_file.write_text(
        "\n".join(
            orjson.dumps(
                {"type": "register_person", "person_id": f"P{i}", "name": "N", "email": f"p{i}@x.org"}
            ).decode()
            for i in range(3)
        )
    )
    assert cli.invoke(cli_app, ["import", str(people_file)]).exit_code == 0
    monkeypatch.setenv("LEDGER_SIGNING_KEY_FILE", str(old))
    assert cli.invoke(cli_app, ["verify"]).exit_code == 0  # records a head signed by the old key

    monkeypatch.setenv("LEDGER_SIGNING_KEY_FILE", str(new))
    refused = cli.invoke(cli_app, ["verify"])
    assert refused.exit_code == 2
    message = " ".join(refused.stderr.split())
    assert f"signed by key {log_id(OLD_PUBLIC)}" in message
    assert "LEDGER_SIGNING_KEY_FILE" in message

    monkeypatch.setenv("LEDGER_PREVIOUS_PUBLIC_KEYS", base64.b64encode(OLD_PUBLIC).decode())
    rotated = cli.invoke(cli_app, ["verify", "--full"])
    assert rotated.exit_code == 0, rotated.output
    exported = cli.invoke(cli_app, ["export", str(tmp_path / "bundle")])
    assert exported.exit_code == 0, exported.output
    pinned = cli.invoke(cli_app, ["audit", "verify", str(tmp_path / "bundle"), "--log-id", log_id(NEW_PUBLIC)])
    assert pinned.exit_code == 0, pinned.output
