"""The offline audit bundle: written from the log, checked with no database and no server; a changed,
removed or added line, or a forged head, fails naming what is wrong."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner, Result

from api.cli import app as cli_app
from bootstrap import open_ledger
from ledger.verify import VerificationError, log_id, public_key_bytes, sign_head
from projections.system import LedgerSystem
from storage.bundle import EVENTS, PROOF, export_bundle, verify_bundle
from storage.bundle import KEY as KEY_FILE
from storage.evidence import LogEvidence
from tests.conftest import CALENDAR, FAST_HASHER, Clock, run

KEY = Ed25519PrivateKey.generate()


def fill(ledger: LedgerSystem, clock: Clock, days: int = 6) -> None:
    clock.set("2025-03-01T12:00:00-05:00")
    for day in range(days):
        for n in range(3):
            run(ledger, type="register_person", person_id=f"P{day}-{n}", name=f"N {day}-{n}", email=f"p{day}{n}@x.org")
        clock.advance(days=1)


def bundle(ledger: LedgerSystem, path: Path, start: str | None = None, end: str | None = None) -> int:
    calendar = ledger.calendar
    log = LogEvidence(ledger.service.recorder, KEY)
    return export_bundle(
        log,
        ledger.service.mapper,
        path,
        calendar.parse_instant(start) if start else None,
        calendar.parse_instant(end) if end else None,
    )


def test_a_whole_log_bundle_verifies_offline(ledger: LedgerSystem, clock: Clock, tmp_path: Path) -> None:
    fill(ledger, clock)
    assert bundle(ledger, tmp_path) == 18
    report = verify_bundle(tmp_path)
    assert (report.events, report.first_position, report.last_position, report.latest_size) == (18, 1, 18, 18)
    assert verify_bundle(tmp_path, workers=2, chunk=1000) == report  # in blocks, by two processes


def test_a_date_range_bundle_holds_that_range_and_verifies_against_the_latest_head(
    ledger: LedgerSystem, clock: Clock, tmp_path: Path
) -> None:
    fill(ledger, clock)
    assert bundle(ledger, tmp_path, "2025-03-03", "2025-03-05") == 6
    lines = [orjson.loads(x) for x in (tmp_path / EVENTS).read_bytes().splitlines()]
    assert [x["position"] for x in lines] == list(range(7, 13))
    assert all(x["recorded_at"].startswith(("2025-03-03", "2025-03-04")) for x in lines)
    report = verify_bundle(tmp_path)
    assert (report.first_position, report.last_position, report.latest_size) == (7, 12, 18)


ATTACKS = ["change", "remove", "add", "reorder", "forged head"]


def tamper(source: LedgerSystem, path: Path, attack: str) -> None:
    """Change a bundle of at least two events as an attacker would (one of ATTACKS)."""
    lines = (path / EVENTS).read_bytes().splitlines()
    if attack == "change":
        line = orjson.loads(lines[1])
        line["entry"] = line["entry"][:-4] + ("AAAA" if line["entry"][-4:] != "AAAA" else "BBBB")
        lines[1] = orjson.dumps(line)
    elif attack == "remove":
        del lines[-1]
    elif attack == "add":
        lines.append(lines[-1])
    elif attack == "reorder":
        lines[0], lines[1] = lines[1], lines[0]
    if attack == "forged head":
        proof = orjson.loads((path / PROOF).read_bytes())
        proof["head"] = LogEvidence(source.service.recorder, Ed25519PrivateKey.generate()).head(
            proof["head"]["tree_size"]
        )
        (path / PROOF).write_bytes(orjson.dumps(proof))
    else:
        (path / EVENTS).write_bytes(b"\n".join(lines) + b"\n")


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_tampered_bundle_fails(ledger: LedgerSystem, clock: Clock, tmp_path: Path, attack: str) -> None:
    fill(ledger, clock, days=3)
    bundle(ledger, tmp_path, "2025-03-02")
    tamper(ledger, tmp_path, attack)
    with pytest.raises(VerificationError):
        verify_bundle(tmp_path)
    with pytest.raises(VerificationError):  # checked in blocks of a line or two by two processes
        verify_bundle(tmp_path, workers=2, chunk=200)


def test_the_cli_exports_and_verifies_a_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    monkeypatch.setenv("LEDGER_CODE_HASH_TIME_COST", "1")
    monkeypatch.setenv("LEDGER_CODE_HASH_MEMORY_KIB", "64")
    cli = CliRunner()
    people = tmp_path / "people.jsonl"
    people.write_text(
        "\n".join(
            orjson.dumps(
                {"type": "register_person", "person_id": f"P{i}", "name": f"N{i}", "email": f"p{i}@x.org"}
            ).decode()
            for i in range(5)
        )
    )
    assert cli.invoke(cli_app, ["import", str(people)]).exit_code == 0
    exported = cli.invoke(cli_app, ["export", str(tmp_path / "bundle")])
    assert exported.exit_code == 0, exported.output
    checked = cli.invoke(cli_app, ["audit", "verify", str(tmp_path / "bundle")])
    assert checked.exit_code == 0, checked.output
    assert "ok: 5 events" in checked.stdout
    (tmp_path / "bundle" / EVENTS).write_bytes((tmp_path / "bundle" / EVENTS).read_bytes().splitlines()[0] + b"\n")
    refused = cli.invoke(cli_app, ["audit", "verify", str(tmp_path / "bundle")])
    assert refused.exit_code == 1
    assert "NOT VERIFIED" in refused.stderr


def test_a_replay_from_the_bundle_alone_answers_exactly_as_the_live_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path}/ledger.db")
    monkeypatch.setenv("LEDGER_CODE_HASH_TIME_COST", "1")
    monkeypatch.setenv("LEDGER_CODE_HASH_MEMORY_KIB", "64")
    cli = CliRunner()
    assert cli.invoke(cli_app, ["demo"]).exit_code == 0
    assert cli.invoke(cli_app, ["export", str(tmp_path / "bundle")]).exit_code == 0
    for org, level, shape in (
        ("S-110", "student", ["--csv"]),
        ("D-100", "aggregate", ["--csv"]),
        ("S-110", "student", ["--csv", "--clip"]),
        ("S-110", "student", []),
        ("D-100", "aggregate", ["--clip"]),
    ):
        question = ["--org", org, "--from", "2024-08-01", "--to", "2026-08-01", "--level", level, *shape]
        live = cli.invoke(cli_app, ["replay", *question])
        offline = cli.invoke(cli_app, ["audit", "replay", str(tmp_path / "bundle"), *question])
        assert live.exit_code == offline.exit_code == 0, live.output + offline.output
        assert len(live.stdout.splitlines()) > 2
        if "--csv" in shape:
            assert offline.stdout == live.stdout
            assert "AccessCodeRedeemed #" in live.stdout
        else:  # the same text under a title saying where the answer came from
            assert "from the bundle" in offline.stdout.splitlines()[0]
            assert offline.stdout.splitlines()[1:] == live.stdout.splitlines()[1:]
            assert "times in America/New_York" in live.stdout


def test_a_replay_refuses_a_bundle_that_does_not_start_at_the_first_event(
    ledger: LedgerSystem, clock: Clock, tmp_path: Path
) -> None:
    fill(ledger, clock, days=3)
    bundle(ledger, tmp_path, "2025-03-02")
    result = CliRunner().invoke(
        cli_app, ["audit", "replay", str(tmp_path), "--org", "S", "--from", "2025-01-01", "--to", "2026-01-01"]
    )
    assert result.exit_code == 1
    assert "needs every event from the first" in " ".join(result.stderr.split())


@pytest.fixture
def whole_log_bundle(clock: Clock, tmp_path: Path) -> Iterator[tuple[LedgerSystem, Path]]:
    """A memory ledger of six days of registrations and a bundle of its whole log."""
    source = open_ledger("memory://", calendar=CALENDAR, clock=clock, hasher=FAST_HASHER, follow=False)
    try:
        fill(source, clock)
        bundle(source, tmp_path / "bundle")
        yield source, tmp_path / "bundle"
    finally:
        source.close()


def stored_rows(ledger: LedgerSystem) -> list[tuple[int, str, bytes, bytes]]:
    return [(r.position, r.event_id, r.stored.state, r.chain) for r in ledger.service.recorder.read_rows(0, 1000)]


def test_a_replay_loads_every_event_exactly_as_stored(
    ledger: LedgerSystem, whole_log_bundle: tuple[LedgerSystem, Path]
) -> None:
    source, path = whole_log_bundle
    report = ledger.load_bundle(path, public_key=GENUINE)
    assert (report.events, report.first_position, report.last_position, report.pinned) == (18, 1, 18, True)
    assert stored_rows(ledger) == stored_rows(source)


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_replay_of_a_tampered_bundle_is_refused_and_appends_nothing(
    ledger: LedgerSystem, whole_log_bundle: tuple[LedgerSystem, Path], attack: str
) -> None:
    source, path = whole_log_bundle
    tamper(source, path, attack)
    with pytest.raises(VerificationError):
        ledger.load_bundle(path)
    assert ledger.service.recorder.last_position() == 0


def test_a_replay_needs_an_empty_store(ledger: LedgerSystem, whole_log_bundle: tuple[LedgerSystem, Path]) -> None:
    _, path = whole_log_bundle
    run(ledger, type="register_district", district_id="D-1", name="One")
    with pytest.raises(ValueError, match="must be empty"):
        ledger.load_bundle(path)
    assert ledger.service.recorder.last_position() == 1


def re_sign(directory: Path, key: Ed25519PrivateKey) -> None:
    """What a forger does: sign the bundle's heads with a key of theirs and put that key in the bundle."""
    proof = orjson.loads((directory / PROOF).read_bytes())
    for name in ("head", "latest"):
        head = proof[name]
        proof[name] = sign_head(key, head["tree_size"], bytes.fromhex(head["root_hash"]), head["timestamp"])
    (directory / PROOF).write_bytes(orjson.dumps(proof))
    public = public_key_bytes(key.public_key())
    body = {"algorithm": "ed25519", "public_key": base64.b64encode(public).decode(), "log_id": log_id(public)}
    (directory / KEY_FILE).write_bytes(orjson.dumps(body))


GENUINE = public_key_bytes(KEY.public_key())


def audit(*args: str) -> Result:
    return CliRunner().invoke(cli_app, ["audit", "verify", *args])


def test_a_bundle_re_signed_with_another_key_verifies_only_unpinned_and_with_a_warning(
    ledger: LedgerSystem, clock: Clock, tmp_path: Path
) -> None:
    fill(ledger, clock, days=2)
    bundle(ledger, tmp_path / "b")
    forger = Ed25519PrivateKey.generate()
    re_sign(tmp_path / "b", forger)
    forged_id = log_id(public_key_bytes(forger.public_key()))

    unpinned = audit(str(tmp_path / "b"))
    assert unpinned.exit_code == 0, unpinned.output
    assert f"log id {forged_id}" in unpinned.stdout
    assert "taken from the bundle itself" in " ".join(unpinned.stderr.split())

    (tmp_path / "genuine.json").write_bytes(orjson.dumps(LogEvidence(ledger.service.recorder, KEY).key_json()))
    for pin in (["--log-id", log_id(GENUINE)], ["--public-key", str(tmp_path / "genuine.json")]):
        pinned = audit(str(tmp_path / "b"), *pin)
        assert pinned.exit_code == 1, pinned.output
        message = " ".join(pinned.stderr.split())
        assert message.startswith("NOT VERIFIED")
        assert forged_id in message
        assert log_id(GENUINE) in message
    with pytest.raises(VerificationError, match="not the pinned"):
        verify_bundle(tmp_path / "b", expected_log_id=log_id(GENUINE))


def test_the_genuine_bundle_verifies_pinned_by_log_id_or_by_the_public_key_in_any_form(
    ledger: LedgerSystem, clock: Clock, tmp_path: Path
) -> None:
    fill(ledger, clock, days=2)
    bundle(ledger, tmp_path / "b")
    forms = {
        "key.json": orjson.dumps(LogEvidence(ledger.service.recorder, KEY).key_json()),
        "key.b64": base64.b64encode(GENUINE) + b"\n",
        "key.pem": KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
    }
    pins = [["--log-id", log_id(GENUINE).upper()]]
    for name, data in forms.items():
        (tmp_path / name).write_bytes(data)
        pins.append(["--public-key", str(tmp_path / name)])
    pins.append(["--log-id", log_id(GENUINE), "--public-key", str(tmp_path / "key.pem")])
    for pin in pins:
        result = audit(str(tmp_path / "b"), *pin)
        assert result.exit_code == 0, (pin, result.output)
        assert f"signed by the pinned key: log id {log_id(GENUINE)}" in result.stdout
        assert "warning" not in result.stderr


def test_a_pin_that_is_not_a_key_or_a_log_id_is_refused_naming_the_option(
    ledger: LedgerSystem, clock: Clock, tmp_path: Path
) -> None:
    fill(ledger, clock, days=1)
    bundle(ledger, tmp_path / "b")
    (tmp_path / "junk").write_text("hello")
    bad_key = audit(str(tmp_path / "b"), "--public-key", str(tmp_path / "junk"))
    bad_id = audit(str(tmp_path / "b"), "--log-id", "abc")
    assert bad_key.exit_code == bad_id.exit_code == 2
    assert "--public-key" in bad_key.stderr
    assert "--log-id" in bad_id.stderr
    other = public_key_bytes(Ed25519PrivateKey.generate().public_key())
    (tmp_path / "other.b64").write_bytes(base64.b64encode(other))
    mismatched = audit(str(tmp_path / "b"), "--log-id", log_id(GENUINE), "--public-key", str(tmp_path / "other.b64"))
    assert mismatched.exit_code == 1
    assert "not the pinned log id" in " ".join(mismatched.stderr.split())


def test_a_replay_refuses_a_re_signed_bundle_when_pinned(ledger: LedgerSystem, clock: Clock, tmp_path: Path) -> None:
    fill(ledger, clock, days=2)
    bundle(ledger, tmp_path / "b")
    question = ["--org", "S", "--from", "2025-01-01", "--to", "2026-01-01"]
    pinned = ["--log-id", log_id(GENUINE)]
    genuine = CliRunner().invoke(cli_app, ["audit", "replay", str(tmp_path / "b"), *question, *pinned])
    assert "NOT VERIFIED" not in genuine.stderr
    assert f"signed by the pinned key: log id {log_id(GENUINE)}" in " ".join(genuine.stderr.split())
    re_sign(tmp_path / "b", Ed25519PrivateKey.generate())
    forged = CliRunner().invoke(cli_app, ["audit", "replay", str(tmp_path / "b"), *question, *pinned])
    assert forged.exit_code == 1
    assert "NOT VERIFIED" in forged.stderr
    unpinned = CliRunner().invoke(cli_app, ["audit", "replay", str(tmp_path / "b"), *question])
    assert "taken from the bundle itself" in " ".join(unpinned.stderr.split())


@pytest.mark.parametrize(("workers", "chunk"), [(1, 1 << 20), (2, 300)])
def test_the_first_bad_line_is_named_whether_the_bundle_is_checked_at_once_or_in_blocks(
    ledger: LedgerSystem, clock: Clock, tmp_path: Path, workers: int, chunk: int
) -> None:
    fill(ledger, clock, days=3)
    bundle(ledger, tmp_path)
    lines = (tmp_path / EVENTS).read_bytes().splitlines()
    # A line written by another JSON writer (spaces, another key order) reads the same.
    lines[2] = json.dumps(dict(reversed(orjson.loads(lines[2]).items())), indent=None).encode()
    (tmp_path / EVENTS).write_bytes(b"\n".join(lines) + b"\n")
    assert verify_bundle(tmp_path, workers=workers, chunk=chunk).events == 9
    changed = orjson.loads(lines[5])
    changed["entry"] = base64.b64encode(base64.b64decode(changed["entry"]) + b" ").decode()
    lines[5] = orjson.dumps(changed)
    (tmp_path / EVENTS).write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(VerificationError, match=r"^line 6: the entry at position 6 is not its leaf"):
        verify_bundle(tmp_path, workers=workers, chunk=chunk)
    changed["entry"] = "QUJDQ"  # not base64: five characters
    lines[5] = orjson.dumps(changed)
    (tmp_path / EVENTS).write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(VerificationError, match=r"^line 6: the entry is not base64"):
        verify_bundle(tmp_path, workers=workers, chunk=chunk)
