"""The verifiable log over HTTP: the public key, signed heads, inclusion and consistency proofs, and the
receipt every 201 carries — each checked as a client would, with `ledger.verify` and the public key only."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from ledger.verify import check_consistency, check_inclusion, decode_entry, verify_head
from tests.api.conftest import Api, auth


def person(pid: str, **extra: Any) -> dict[str, Any]:
    return {"type": "register_person", "person_id": pid, "name": f"Name {pid}", "email": f"{pid}@x.org", **extra}


def public_key(api: Api) -> bytes:
    body = api.http.get("/v1/log/key").json()  # anyone: no key sent
    assert body["algorithm"] == "ed25519"
    raw = base64.b64decode(body["public_key"])
    assert body["log_id"] == hashlib.sha256(raw).hexdigest()
    return raw


def test_every_201_carries_a_receipt_whose_signed_head_covers_the_command_and_proves_its_leaf(api: Api) -> None:
    key = public_key(api)
    first = api.ok(**person("A"))
    second = api.ok(**person("B"))
    for body in (first, second):
        receipt = body["receipt"]
        size, _ = verify_head(receipt["head"], key)
        assert size >= body["position"]
        assert [leaf["position"] for leaf in receipt["leaves"]] == [e["position"] for e in body["events"]]
        for event, leaf in zip(body["events"], receipt["leaves"], strict=True):
            proof = api.get(f"/v1/events/{event['event_id']}/proof", "support", tree_size=size).json()
            assert proof["leaf_hash"] == leaf["leaf_hash"]
            assert proof["head"]["root_hash"] == receipt["head"]["root_hash"]
            check_inclusion(
                bytes.fromhex(leaf["leaf_hash"]), leaf["position"] - 1, proof["audit_path"], proof["head"], key
            )


def test_a_batch_receipt_covers_every_event_and_each_result_its_own(api: Api) -> None:
    key = public_key(api)
    response = api.batch([person("C1"), person("C2"), person("C3")])
    assert response.status_code == 201, response.text
    body = response.json()
    size, _ = verify_head(body["receipt"]["head"], key)
    assert size >= body["position"]
    assert [leaf["position"] for leaf in body["receipt"]["leaves"]] == [r["position"] for r in body["results"]]
    for result in body["results"]:
        assert [leaf["position"] for leaf in result["receipt"]["leaves"]] == [result["position"]]


def test_an_idempotent_replay_answers_the_first_leaves_under_a_head_that_still_holds_them(api: Api) -> None:
    key = public_key(api)
    first = api.ok(**person("I", idempotency_key="k-1"))
    api.ok(**person("J"))
    again = api.ok(**person("I", idempotency_key="k-1"))
    assert again["receipt"]["leaves"] == first["receipt"]["leaves"]
    size, _ = verify_head(again["receipt"]["head"], key)
    assert size >= again["position"]


def test_the_proof_carries_the_entry_with_the_event_id_and_position_and_every_event_is_proved(api: Api) -> None:
    key = public_key(api)
    events = [api.ok(**person(f"P{i}"))["events"][0] for i in range(7)]
    head = api.get("/v1/log/head", "portal").json()
    verify_head(head, key)
    for event in events:
        proof = api.get(f"/v1/events/{event['event_id']}/proof", "auditor").json()
        entry = decode_entry(base64.b64decode(proof["entry"]))
        assert (entry.event_id, entry.position) == (event["event_id"], event["position"])
        assert proof["leaf_index"] == event["position"] - 1
        assert proof["tree_size"] == head["tree_size"]
        check_inclusion(bytes.fromhex(proof["leaf_hash"]), proof["leaf_index"], proof["audit_path"], proof["head"], key)


def test_consistency_proofs_verify_between_every_pair_of_sizes(api: Api) -> None:
    key = public_key(api)
    for i in range(6):
        api.ok(**person(f"Q{i}"))
    n = api.get("/v1/log/head", "support").json()["tree_size"]
    for first in range(1, n + 1):
        for second in (first, n):
            body = api.get("/v1/log/consistency", "support", first=first, second=second).json()
            assert (body["first"], body["second"]) == (first, second)
            check_consistency(body["first_head"], body["second_head"], body["proof"], key)


def test_unknown_events_and_sizes_beyond_the_log_are_refused_naming_the_field(api: Api) -> None:
    api.ok(**person("R0"))
    event = api.ok(**person("R"))["events"][0]
    n = api.get("/v1/log/head").json()["tree_size"]
    missing = api.get("/v1/events/no-such-event/proof")
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "event_id"
    beyond = api.get(f"/v1/events/{event['event_id']}/proof", tree_size=n + 1)
    assert beyond.status_code == 422
    assert beyond.json()["error"]["field"] == "tree_size"
    too_small = api.get(f"/v1/events/{event['event_id']}/proof", tree_size=event["position"] - 1)
    assert too_small.status_code == 422
    assert too_small.json()["error"]["field"] == "tree_size"
    backwards = api.get("/v1/log/consistency", first=n, second=n - 1)
    assert backwards.status_code == 422
    assert backwards.json()["error"]["field"] == "first"
    assert api.get("/v1/log/consistency", first=1, second=n + 1).json()["error"]["field"] == "second"
    assert api.get("/v1/log/consistency", first=0, second=1).status_code == 422


def test_who_may_read_heads_and_proofs(api: Api) -> None:
    event = api.ok(**person("S"))["events"][0]
    assert api.http.get("/v1/log/head", headers=auth("registrar")).status_code == 403
    assert api.http.get("/v1/log/head", headers=auth("portal")).status_code == 200
    assert api.http.get(f"/v1/events/{event['event_id']}/proof", headers=auth("portal")).status_code == 403
    assert api.http.get("/v1/log/consistency?first=1&second=1", headers=auth("portal")).status_code == 403
    assert api.http.get("/v1/log/head").status_code == 401


def test_get_verify_records_nothing_and_a_posted_checkpoint_signs_the_verified_head(api: Api) -> None:
    key = public_key(api)
    for i in range(3):
        api.ok(**person(f"V{i}"))
    looked = api.get("/v1/verify")
    assert looked.status_code == 200
    assert looked.json()["ok"] is True
    assert looked.json()["tree_size"] == 3
    assert api.get("/v1/checkpoints").json()["checkpoints"] == []
    posted = api.http.post("/v1/checkpoints", headers=auth("auditor"))
    assert posted.status_code == 201, posted.text
    body = posted.json()
    assert verify_head(body["head"], key) == (3, bytes.fromhex(body["root_hash"]))
    assert api.get("/v1/log/head").json()["root_hash"] == body["root_hash"]
    assert [c["position"] for c in api.get("/v1/checkpoints").json()["checkpoints"]] == [3]
    assert api.http.post("/v1/checkpoints", headers=auth("support")).status_code == 403
