"""The `ledger` command line, run as subprocesses with LEDGER_DATABASE_URL in the environment."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from api.present_access import ACCESS_CSV_HEADER
from bootstrap import open_ledger
from ledger import events as ev
from tests.conftest import FAST_HASHER, caught_up, run
from tests.e2e.servers import KEYS, run_ledger, serve

REPLAY_WINDOW = ("--org", "S-110", "--from", "2025-07-01", "--to", "2025-08-01")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def events_in(url: str) -> int:
    """The ledger's last position (positions have no gaps), as `ledger verify` reports it."""
    result = run_ledger("verify", database_url=url)
    assert result.returncode == 0, result.stderr
    found = re.search(r"up to position (\d+)", result.stdout)
    assert found, result.stdout
    return int(found.group(1))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    """The demo loaded once into a fresh SQLite file: (url, the first `ledger demo --if-empty` run)."""
    url = sqlite_url(tmp_path_factory.mktemp("demo") / "ledger.db")
    first = run_ledger("demo", "--if-empty", database_url=url)
    assert first.returncode == 0, first.stderr
    return url, first


def test_help_lists_every_command() -> None:
    result = run_ledger("--help", database_url="memory://")
    assert result.returncode == 0
    for command in ("serve", "demo", "import", "replay", "rebuild", "verify"):
        assert re.search(rf"\b{command}\b", result.stdout), f"{command} missing from ledger --help"


@pytest.mark.slow
def test_demo_if_empty_loads_an_empty_ledger_once(demo: tuple[str, Any]) -> None:
    url, first = demo
    assert "Demo loaded" in first.stdout
    loaded = events_in(url)
    assert loaded > 100

    second = run_ledger("demo", "--if-empty", database_url=url)
    assert second.returncode == 0, second.stderr
    assert "not loaded" in second.stdout
    assert events_in(url) == loaded


def write_lines(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else orjson.dumps(line).decode() for line in lines) + "\n")
    return path


SCHOOL_LINES: list[dict[str, Any] | str] = [
    {"type": "register_district", "district_id": "D-7", "name": "Seven", "effective_at": "2024-08-01"},
    {
        "type": "register_school",
        "school_id": "S-7",
        "name": "Seven High",
        "district_id": "D-7",
        "effective_at": "2024-08-01",
    },
    "",
    {
        "type": "register_person",
        "person_id": "P-7",
        "name": "Sam Seven",
        "email": "p7@x.org",
        "effective_at": "2024-08-01",
    },
    {"type": "add_affiliation", "person_id": "P-7", "org_id": "S-7", "effective_at": "2024-08-01"},
    {"type": "accept_terms", "person_id": "P-7", "terms_version": "v1", "effective_at": "2024-08-01"},
]


def test_import_appends_json_lines_and_a_rerun_appends_nothing(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "ledger.db")
    file = write_lines(tmp_path / "commands.jsonl", SCHOOL_LINES)

    first = run_ledger("import", str(file), database_url=url)
    assert first.returncode == 0, first.stderr
    assert "5 commands appended, 0 already recorded (skipped): 5 events" in first.stdout
    assert events_in(url) == 5

    again = run_ledger("import", str(file), database_url=url)
    assert again.returncode == 0, again.stderr
    assert "0 commands appended, 5 already recorded" in again.stdout
    assert events_in(url) == 5


def test_import_names_the_line_of_a_refused_command_and_a_rerun_after_the_fix_completes(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "ledger.db")
    broken = [*SCHOOL_LINES[:4], {"type": "add_affiliation", "person_id": "P-NOBODY", "org_id": "S-7"}]
    file = write_lines(tmp_path / "commands.jsonl", broken)

    refused = run_ledger("import", "--batch-size", "2", str(file), database_url=url)
    assert refused.returncode == 1
    assert "line 5" in refused.stderr
    assert "unknown_person" in refused.stderr
    # Batches are atomic: lines 1-2 are recorded; lines 4-5, the refused command's batch, are not.
    assert events_in(url) == 2

    write_lines(file, SCHOOL_LINES)
    fixed = run_ledger("import", "--batch-size", "2", str(file), database_url=url)
    assert fixed.returncode == 0, fixed.stderr
    assert "3 commands appended, 2 already recorded" in fixed.stdout
    assert events_in(url) == 5


def teacher_lines(count: int) -> list[dict[str, Any]]:
    """New teachers joining S-7: three commands each."""
    lines: list[dict[str, Any]] = []
    for n in range(count):
        person = {"person_id": f"T-{n}", "effective_at": "2024-08-02"}
        lines += [
            {"type": "register_person", "name": f"Teacher {n}", "email": f"t{n}@example.org", **person},
            {"type": "add_affiliation", "org_id": "S-7", **person},
            {"type": "accept_terms", "terms_version": "v1", **person},
        ]
    return lines


@pytest.mark.postgres
def test_import_on_postgresql_writes_its_batches_in_bulk_stops_at_a_refusal_and_resumes(
    tmp_path: Path, pg_schema_url: str
) -> None:
    lines = [*SCHOOL_LINES, *teacher_lines(100)]
    broken = [*lines[:250], {"type": "add_affiliation", "person_id": "T-0", "org_id": "S-7"}, *lines[250:]]
    file = write_lines(tmp_path / "commands.jsonl", broken)
    refused = run_ledger("import", "--batch-size", "100", str(file), database_url=pg_schema_url)
    assert refused.returncode == 1
    assert "line 251" in refused.stderr
    assert "already_affiliated" in refused.stderr
    assert events_in(pg_schema_url) == 200  # the two batches before the refused one

    write_lines(file, lines)
    fixed = run_ledger("import", "--batch-size", "100", str(file), database_url=pg_schema_url)
    assert fixed.returncode == 0, fixed.stderr
    commands = sum(1 for line in lines if line)  # (a blank line is skipped)
    assert f"{commands - 200} commands appended, 200 already recorded" in fixed.stdout
    assert events_in(pg_schema_url) == commands  # `ledger verify` checked the chain and the tree too


def test_import_names_the_line_of_a_malformed_command_and_appends_nothing(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "ledger.db")
    file = write_lines(tmp_path / "commands.jsonl", [SCHOOL_LINES[0], '{"type": "register_school", "school_id": '])
    result = run_ledger("import", str(file), database_url=url)
    assert result.returncode != 0
    assert "line 2" in result.stderr
    bad_year = write_lines(
        tmp_path / "year.jsonl",
        [SCHOOL_LINES[0], {"type": "release_scores", "exam_year": "soon", "released_on": "2025-07-07"}],
    )
    result = run_ledger("import", str(bad_year), database_url=url)
    assert result.returncode != 0
    assert "line 2" in result.stderr
    assert events_in(url) == 0


def api_rows(entries: list[dict[str, Any]]) -> list[list[str]]:
    """The HTTP entries as CSV rows, column for column (ACCESS_CSV_HEADER), by person then start."""
    ordered = sorted(entries, key=lambda e: (e["person_id"], datetime.fromisoformat(e["valid_from"]), e["via_org"]))
    return [
        [
            e["person_id"],
            e["person_name"] or "",
            e["role"],
            e["valid_from_local"],
            e["valid_to_local"] or "",
            e["via_org"],
            e["via_org_name"] or "",
            e.get("school_id") or "",
            "; ".join(f"{g['type']} #{g['position']}" for g in e["grants"]),
            " ".join(e["sources"]),
        ]
        for e in ordered
    ]


def replay_csv(url: str, *extra: str) -> list[list[str]]:
    result = run_ledger("replay", *REPLAY_WINDOW, *extra, "--csv", database_url=url)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ACCESS_CSV_HEADER
    return rows[1:]


@pytest.mark.slow
def test_replay_csv_matches_who_had_access_over_http(demo: tuple[str, Any], tmp_path: Path) -> None:
    url, _ = demo
    latest = replay_csv(url)
    said_then = replay_csv(url, "--as-of", "2025-07-08")
    clipped = replay_csv(url, "--clip")

    # The late removal: by all we know now P-4002's access ended Jul 5; as of Jul 8 the ledger said Jul 31, 2026.
    p4002 = [r for r in latest if r[0] == "P-4002"]
    assert [(r[2], r[4]) for r in p4002] == [("school_admin", "2025-07-05T00:00:00-04:00")]
    assert [(r[2], r[4]) for r in said_then if r[0] == "P-4002"] == [("school_admin", "2026-08-01T00:00:00-04:00")]
    assert [r[0] for r in latest] == sorted(r[0] for r in latest)  # by person
    assert all(r[1] for r in latest)  # every demo person has a name
    start, end = datetime.fromisoformat("2025-07-01T00:00-04:00"), datetime.fromisoformat("2025-08-01T00:00-04:00")
    assert len(clipped) == len(latest)
    assert all(start <= datetime.fromisoformat(r[3]) < datetime.fromisoformat(r[4]) <= end for r in clipped)
    assert any(not r[4] for r in latest)  # whole: some intervals are still open

    with serve(url, tmp_path) as server, server.client("auditor") as auditor:
        window = {"from": "2025-07-01", "to": "2025-08-01"}
        now = auditor.get("/v1/orgs/S-110/access", params=window)
        then = auditor.get("/v1/orgs/S-110/access", params={**window, "as_of": "2025-07-08"})
        cut = auditor.get("/v1/orgs/S-110/access", params={**window, "clip": "true"})
    assert now.status_code == then.status_code == cut.status_code == 200
    assert api_rows(now.json()["entries"]) == latest
    assert api_rows(then.json()["entries"]) == said_then
    assert api_rows(cut.json()["entries"]) == clipped


def test_replay_names_a_person_by_their_later_name_change_once_a_voided_registration_is_recorded_again(
    demo: tuple[str, Any], tmp_path: Path
) -> None:
    source = Path(demo[0].removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):  # a copy: this test corrects P-4002's registration
        if Path(f"{source}{suffix}").exists():
            shutil.copy(f"{source}{suffix}", tmp_path / f"ledger.db{suffix}")
    url = sqlite_url(tmp_path / "ledger.db")
    system = open_ledger(url, hasher=FAST_HASHER)
    try:
        records = caught_up(system).queries.timeline("P-4002").records
        first = next(r.event for r in records if isinstance(r.event, ev.PersonRegistered))
        run(system, type="update_profile", person_id="P-4002", name="Claire Martin", effective_at="2025-07-03")
        run(system, type="void_event", event_id=first.event_id, reason="wrong email")
        assert [r for r in replay_csv(url) if r[0] == "P-4002"] == []  # no registration: no access, no name

        again = {"person_id": "P-4002", "name": first.name, "email": "claire@lakeside.example"}
        run(system, type="register_person", **again, effective_at=first.effective_at.isoformat())
    finally:
        system.close()
    assert {r[1] for r in replay_csv(url) if r[0] == "P-4002"} == {"Claire Martin"}


def test_replay_of_an_unknown_organization_or_a_bad_date_fails(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "ledger.db")
    unknown = run_ledger("replay", "--org", "S-404", "--from", "2025-07-01", "--to", "2025-08-01", database_url=url)
    assert unknown.returncode != 0
    assert "S-404" in unknown.stderr
    bad = run_ledger("replay", "--org", "S-404", "--from", "July 1", "--to", "2025-08-01", database_url=url)
    assert bad.returncode != 0


@pytest.mark.slow
def test_verify_says_ok_and_rebuild_gives_the_same_answers(demo: tuple[str, Any]) -> None:
    url, _ = demo
    verified = run_ledger("verify", database_url=url)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok:")

    before = replay_csv(url)
    total = events_in(url)
    rebuilt = run_ledger("rebuild", database_url=url)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"rebuilt to position {total}" in rebuilt.stdout
    assert replay_csv(url) == before


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_curls() -> list[tuple[str, str]]:
    """(command, expected output as commented under it) for each curl of README's "Try it with curl"."""
    section = README.read_text().split("## Try it with curl", 1)[1].split("\n## ", 1)[0]
    found = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for chunk in re.split(r"\n(?=curl )", block):
            lines = chunk.strip().splitlines()
            command = "\n".join(line for line in lines if not line.startswith("#"))
            expected = "".join(line[1:].strip() for line in lines if line.startswith("#"))
            if command.startswith("curl "):
                found.append((command, expected))
    return found


def matches(expected: str, status: str, body: str) -> bool:
    """Whether the output fits the README's comment: literal text, with `...` and `<placeholders>` as wildcards."""
    want_status = "200"
    if re.match(r"\d{3} ", expected):
        want_status, expected = expected[:3], expected[4:]
    pieces = re.split(r"\.\.\.|<[^>]+>", expected)
    pattern = ".*?".join(re.escape(p) for p in pieces)
    return status == want_status and re.fullmatch(pattern, body, re.S) is not None


@pytest.mark.slow
def test_the_readme_curl_examples_work_against_the_demo_exactly_as_written(
    demo: tuple[str, Any], tmp_path: Path
) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    source = Path(demo[0].removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):  # a copy: the README appends a removal
        if Path(f"{source}{suffix}").exists():
            shutil.copy(f"{source}{suffix}", tmp_path / f"ledger.db{suffix}")
    key = source.parent / "ledger-signing.key"  # beside the database: the key that signed its heads
    if key.exists():
        shutil.copy(key, tmp_path / key.name)
    curls = readme_curls()
    assert len(curls) == 6
    with serve(sqlite_url(tmp_path / "ledger.db"), tmp_path) as server:
        port = server.url.rsplit(":", 1)[1]
        env = {**os.environ, "KEY": KEYS["portal"], "REG": KEYS["registrar"]}
        for command, expected in curls:
            run = command.replace("127.0.0.1:8000", f"127.0.0.1:{port}") + " -w '\\n%{http_code}'"
            result = subprocess.run(
                ["bash", "-c", run], env=env, capture_output=True, text=True, timeout=60, check=False
            )
            body, _, status = result.stdout.rpartition("\n")
            assert matches(expected, status, body), f"{command}\nexpected: {expected}\ngot: {status} {body}"
