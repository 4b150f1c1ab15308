"""The HTTP API through `TestClient`, on every store (memory, SQLite, PostgreSQL).

`client` runs the app's lifespan (the ledger is opened at start-up, the
projection follows in a thread); `api` wraps it with one key per role and a
small world built through the API itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from api import cli
from api.bootstrap import create_app
from api.settings import Settings

SECRETS = {
    "registrar": "reg-secret-0123456789abcdefghijklmnop",
    "portal": "portal-secret-0123456789abcdefghijklmnop",
    "support": "support-secret-0123456789abcdefghijklmnop",
    "auditor": "auditor-secret-0123456789abcdefghijklmnop",
}
API_KEYS = ",".join(
    f"{cid}:{role}:{SECRETS[role]}"
    for cid, role in (
        ("reg", "registrar"),
        ("portal", "portal"),
        ("sup", "support"),
        ("aud", "auditor"),
    )
)


def settings_for(store_url: str, **overrides: Any) -> Settings:
    """Test settings: fixed keys, cheap argon2 digests (tests issue many codes)."""
    values: dict[str, Any] = {
        "database_url": store_url,
        "api_keys": API_KEYS,
        "code_hash_time_cost": 1,
        "code_hash_memory_kib": 64,
    }
    values.update(overrides)
    return Settings(**values)


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRETS[role]}"}


AUTO: Any = object()


@dataclass
class Api:
    """A TestClient with helpers: commands as the registrar, reads as any role.

    Reads are eventually consistent: like a careful client, `get` passes
    `min_position` = the last position this client wrote, unless told otherwise.
    """

    http: TestClient
    announced: list[str] = field(default_factory=list)
    written: int = 0

    def command(self, **body: Any) -> Response:
        return self._wrote(self.http.post("/v1/commands", json=body, headers=auth("registrar")))

    def _wrote(self, response: Response) -> Response:
        if response.status_code == 201:
            self.written = max(self.written, int(response.json()["position"]))
        return response

    def ok(self, **body: Any) -> dict[str, Any]:
        """Post a command that must be accepted; its 201 body."""
        response = self.command(**body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def batch(self, commands: list[dict[str, Any]]) -> Response:
        return self._wrote(self.http.post("/v1/commands/batch", json={"commands": commands}, headers=auth("registrar")))

    def get(self, path: str, role: str = "auditor", *, min_position: Any = AUTO, **params: Any) -> Response:
        """GET with query parameters (`from_` is sent as `from`); None values are left out."""
        if min_position is AUTO:
            min_position = self.written or None
        params["min_position"] = min_position
        response: Response = self.http.get(
            path, params={k.rstrip("_"): v for k, v in params.items() if v is not None}, headers=auth(role)
        )
        return response

    def check(self, role: str = "portal", **params: Any) -> Response:
        return self.get("/v1/check", role, **params)

    def position(self) -> int:
        return int(self.http.get("/healthz").json()["position"])


@pytest.fixture
def make_client(store_url: str) -> Iterator[Any]:
    """Start apps on this test's store with extra settings; every one is shut down afterwards."""
    opened: list[TestClient] = []

    def make(**overrides: Any) -> Api:
        announced: list[str] = []
        app: FastAPI = create_app(settings_for(store_url, **overrides), announce=announced.append)
        http = TestClient(app, raise_server_exceptions=False)
        http.__enter__()  # runs the lifespan: opens the ledger
        opened.append(http)
        return Api(http, announced)

    yield make
    for http in reversed(opened):
        http.__exit__(None, None, None)


@pytest.fixture
def api(make_client: Any) -> Api:
    """The app on this test's store (memory, SQLite, PostgreSQL)."""
    return make_client()  # type: ignore[no-any-return]


@pytest.fixture
def client(api: Api) -> TestClient:
    """The same app as a plain TestClient (lifespan run, no Authorization header; see `auth(role)`)."""
    return api.http


# --- a small world, built through the API -----------------------------------------------------

D, S, S2 = "D-1", "S-1", "S-2"
PRINCIPAL, SUPERINTENDENT, TEACHER = "P-PRIN", "P-SUP", "P-T"
STAFF = [f"P-S{n}" for n in range(1, 8)]
PAST = "2024-08-01"


def world_commands() -> list[dict[str, Any]]:
    """A district with two schools, a principal, a superintendent, a teacher and seven staff; 2025 released."""
    cmds: list[dict[str, Any]] = [
        {"type": "register_district", "district_id": D, "name": "District One", "effective_at": PAST},
        {"type": "register_school", "school_id": S, "name": "School One", "district_id": D, "effective_at": PAST},
        {"type": "register_school", "school_id": S2, "name": "School Two", "district_id": D, "effective_at": PAST},
    ]
    people = [PRINCIPAL, SUPERINTENDENT, TEACHER, *STAFF]
    for pid in people:
        cmds += [
            {
                "type": "register_person",
                "person_id": pid,
                "name": f"Person {pid}",
                "email": f"{pid.lower()}@x.org",
                "effective_at": PAST,
            },
            {
                "type": "add_affiliation",
                "person_id": pid,
                "org_id": D if pid == SUPERINTENDENT else S,
                "effective_at": PAST,
            },
            {"type": "accept_terms", "person_id": pid, "terms_version": "v1", "effective_at": PAST},
        ]
    cmds += [
        {
            "type": "designate_principal",
            "school_id": S,
            "person_id": PRINCIPAL,
            "exam_year": 2025,
            "effective_at": "2024-09-01",
        },
        {"type": "designate_superintendent", "district_id": D, "person_id": SUPERINTENDENT, "effective_at": PAST},
        {
            "type": "authorize_course",
            "person_id": TEACHER,
            "school_id": S,
            "subject": "AP-BIO",
            "school_year": 2025,
            "effective_at": "2024-09-15",
        },
        {
            "type": "assign_section",
            "person_id": TEACHER,
            "school_id": S,
            "subject": "AP-BIO",
            "section_id": "BIO-1",
            "school_year": 2025,
            "effective_at": "2024-09-15",
        },
        {"type": "release_scores", "exam_year": 2025, "released_on": "2025-07-07", "effective_at": "2025-07-07"},
        {"type": "issue_access_code", "school_id": S, "exam_year": 2025, "effective_at": "2025-07-01"},
    ]
    return cmds


@dataclass(frozen=True)
class World:
    code: str
    position: int


@pytest.fixture
def world(api: Api) -> World:
    """The small world, appended in one batch; its access code (2025, School One) is returned once."""
    response = api.batch(world_commands())
    assert response.status_code == 201, response.text
    body = response.json()
    return World(code=body["results"][-1]["result"]["code"], position=body["position"])


def redeem(api: Api, person_id: str, code: str, **extra: Any) -> Response:
    fields: dict[str, Any] = {"effective_at": "2025-07-02"} | extra
    return api.command(type="redeem_access_code", school_id=S, exam_year=2025, person_id=person_id, code=code, **fields)


# --- the demo history (`ledger demo`), one app per module ------------------------------------------

DEMO_SECRETS = {
    role: f"demo-{role}-secret-0123456789abcdefghijklmnop" for role in ("registrar", "portal", "support", "auditor")
}


def demo_bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {DEMO_SECRETS[role]}"}


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo')}/ledger.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEDGER_DATABASE_URL", url)
        mp.setenv("LEDGER_CODE_HASH_TIME_COST", "1")
        mp.setenv("LEDGER_CODE_HASH_MEMORY_KIB", "64")
        cli.demo(if_empty=False)
    settings = Settings(
        database_url=url,
        api_keys=",".join(f"{role}:{role}:{secret}" for role, secret in DEMO_SECRETS.items()),
        code_hash_time_cost=1,
        code_hash_memory_kib=64,
    )
    application = create_app(settings, announce=lambda _: None)
    with TestClient(application):
        yield application
