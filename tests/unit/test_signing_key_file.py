"""The signing key file: written owner-only by keygen, refused when others may read it, never overwritten."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app as cli_app
from storage.signing import SigningKeyError, default_key_path, load_key, signing_key


def test_keygen_writes_an_owner_only_key_that_loads_and_never_overwrites_it(tmp_path: Path) -> None:
    file = tmp_path / "keys" / "log.key"
    result = CliRunner().invoke(cli_app, ["keygen", str(file)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    key = load_key(file)
    assert "log id:" in result.output
    again = CliRunner().invoke(cli_app, ["keygen", str(file)])
    assert again.exit_code == 1
    assert load_key(file).private_bytes_raw() == key.private_bytes_raw()


def test_a_key_file_others_may_read_is_refused_naming_the_file(tmp_path: Path) -> None:
    file = tmp_path / "log.key"
    CliRunner().invoke(cli_app, ["keygen", str(file)])
    os.chmod(file, 0o644)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        load_key(file)
    with pytest.raises(SigningKeyError, match="cannot read"):
        load_key(tmp_path / "missing.key")


def test_without_a_key_file_a_sqlite_ledger_keeps_one_next_to_its_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/data/ledger.db"
    assert default_key_path(url) == tmp_path / "data" / "ledger-signing.key"
    first = signing_key(url, None)
    assert signing_key(url, None).private_bytes_raw() == first.private_bytes_raw()
    assert stat.S_IMODE((tmp_path / "data" / "ledger-signing.key").stat().st_mode) == 0o600
    assert default_key_path("memory://") is None
