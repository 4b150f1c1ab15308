"""The server and its signing key: it will not start signing a log whose heads another key signed, and
after a deliberate rotation it serves the earlier keys beside the new one."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import create_app
from ledger.verify import log_id, public_key_bytes, verify_head
from storage.signing import SigningKeyError, write_new_key
from tests.api.conftest import auth, settings_for
from tests.integration import test_tamper_evidence as tamper

sql_url = tamper.sql_url  # SQLite and PostgreSQL: a store that outlives one server


def test_a_server_refuses_another_key_for_a_signed_log_and_serves_the_previous_keys_after_a_rotation(
    sql_url: str, tmp_path: Path
) -> None:
    old, new = write_new_key(tmp_path / "old.key"), write_new_key(tmp_path / "new.key")
    old_public = public_key_bytes(old.public_key())
    with TestClient(create_app(settings_for(sql_url, signing_key_file=str(tmp_path / "old.key")))) as first:
        person = {"type": "register_person", "person_id": "P1", "name": "N", "email": "p1@x.org"}
        assert first.post("/v1/commands", json=person, headers=auth("registrar")).status_code == 201
        assert first.post("/v1/checkpoints", headers=auth("auditor")).status_code == 201
        head = first.get("/v1/log/head", headers=auth("auditor")).json()
        assert first.get("/v1/log/key").json()["previous_keys"] == []

    another = TestClient(create_app(settings_for(sql_url, signing_key_file=str(tmp_path / "new.key"))))
    with pytest.raises(SigningKeyError, match="LEDGER_SIGNING_KEY_FILE"):
        another.__enter__()  # the lifespan opens the store and refuses to sign it

    rotated = settings_for(
        sql_url,
        signing_key_file=str(tmp_path / "new.key"),
        previous_public_keys=base64.b64encode(old_public).decode(),
    )
    with TestClient(create_app(rotated)) as second:
        key = second.get("/v1/log/key").json()
        assert key["log_id"] == log_id(public_key_bytes(new.public_key()))
        assert [k["log_id"] for k in key["previous_keys"]] == [log_id(old_public)]
        keys = {k["log_id"]: base64.b64decode(k["public_key"]) for k in [key, *key["previous_keys"]]}
        assert verify_head(head, keys)[0] == head["tree_size"]  # the head kept before the rotation
        verified = second.get("/v1/verify", params={"full": "true"}, headers=auth("auditor")).json()
        assert verified["ok"], verified
