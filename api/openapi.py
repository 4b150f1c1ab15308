"""The OpenAPI document: each operation's roles (`x-roles`, read from the role gate it depends on,
so the documented roles are the enforced ones), the conditions some roles are admitted under
(`x-role-conditions`, from the same gate), and its request and answer examples."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from api.deps import RoleGate
from api.examples import EXAMPLES
from api.security import ClientRole

ANYONE = "anyone"  # the `x-roles` of an operation that needs no key


def _calls(dependant: Dependant) -> Iterator[object]:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def roles_of(route: APIRoute) -> list[str] | None:
    """The roles the route's gate admits; None for an operation open to anyone."""
    gates = [call for call in _calls(route.dependant) if isinstance(call, RoleGate)]
    if not gates:
        return None
    admitted = set.intersection(*(set(gate.roles) for gate in gates))
    return [role.value for role in ClientRole if role in admitted]


def conditions_of(route: APIRoute) -> dict[str, dict[str, bool]]:
    """Roles the route admits only under a condition: role -> the query parameters it must send, with their values."""
    conditions: dict[str, dict[str, bool]] = {}
    for call in _calls(route.dependant):
        if isinstance(call, RoleGate):
            for role, flag in call.only_with.items():
                conditions.setdefault(role.value, {})[flag] = True
    return conditions


def roles_line(roles: list[str] | None, conditions: dict[str, dict[str, bool]]) -> str:
    """`registrar, support (support: dry_run=true only)`."""
    if roles is None:
        return "anyone (no key needed)"
    notes = [
        f"{role}: {', '.join(f'{name}={str(value).lower()}' for name, value in needs.items())} only"
        for role, needs in conditions.items()
    ]
    return ", ".join(roles) + (f" ({'; '.join(notes)})" if notes else "")


def operation_key(method: str, route: APIRoute) -> str:
    return f"{method} {route.path_format}"


def _add_examples(operation: dict[str, Any], example: dict[str, Any]) -> None:
    request, answer = example.get("request", {}), example.get("answer")
    answers = example.get("answers", {})  # by status, where one operation answers two shapes (dry_run)
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        body["examples"] = {name: {"value": value} for name, value in request.items()}
    else:
        for parameter in operation.get("parameters", []):
            if parameter["name"] in request:
                parameter["example"] = request[parameter["name"]]
    for status, response in operation.get("responses", {}).items():
        shown = answers.get(status, answer)
        if status.startswith("2") and shown is not None:
            response.setdefault("content", {}).setdefault("application/json", {})["example"] = shown


def api_routes(routers: Iterable[APIRouter]) -> Iterator[APIRoute]:
    """The operations of `routers` (included without a further prefix)."""
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                yield route


def describe(routers: Iterable[APIRouter], schema: dict[str, Any]) -> dict[str, Any]:
    """Add `x-roles`, `x-role-conditions`, a "Roles:" line and the examples to every operation of `schema`."""
    for route in api_routes(routers):
        if route.path_format not in schema["paths"]:
            continue
        roles = roles_of(route)
        conditions = conditions_of(route)
        for method in sorted(route.methods or ()):
            operation = schema["paths"][route.path_format][method.lower()]
            operation["x-roles"] = roles if roles is not None else [ANYONE]
            if conditions:
                operation["x-role-conditions"] = conditions
            who = roles_line(roles, conditions)
            operation["description"] = f"**Roles:** {who}.\n\n" + operation.get("description", "")
            example = EXAMPLES.get(operation_key(method, route))
            if example:
                _add_examples(operation, example)
    return schema


def install_openapi(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Generate the document once, on first request, with roles and examples."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            app.openapi_schema = describe(routers, schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
