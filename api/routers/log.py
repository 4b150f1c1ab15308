"""The verifiable log: its public key, signed tree heads, inclusion and consistency proofs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query

from api import models
from api.deps import ContainerDep, PortalReader, SupportReader
from api.errors import ApiError
from bootstrap.store import BadSize, NotInLog

router = APIRouter(prefix="/v1", tags=["verifiable log"])

ERRORS = models.error_responses(401, 403, 404, 422)
MAX_SIZE = 2**63 - 1
T = TypeVar("T")


def _answer(make: Callable[[], T]) -> T:
    """Run a read of the tree, turning an unknown event into 404 and a size beyond the log into 422."""
    try:
        return make()
    except BadSize as e:
        raise ApiError(422, "invalid_input", str(e), field=e.field) from None
    except NotInLog as e:
        raise ApiError(404, "not_found", str(e), field=e.field) from None


@router.get("/log/key", response_model=models.LogKey)
def log_key(container: ContainerDep) -> dict[str, Any]:
    """The log's Ed25519 public key (anyone): check signed heads with it, and keep it."""
    return container.log.key_json()


@router.get("/log/head", response_model=models.SignedHead, responses=ERRORS)
def log_head(client: PortalReader, container: ContainerDep) -> dict[str, Any]:
    """The latest signed tree head."""
    return container.log.head()


@router.get("/events/{event_id}/proof", response_model=models.InclusionProof, responses=ERRORS)
def inclusion_proof(
    event_id: str,
    client: SupportReader,
    container: ContainerDep,
    tree_size: Annotated[
        int | None, Query(ge=1, le=MAX_SIZE, description="the tree to prove inclusion in (default: the latest)")
    ] = None,
) -> dict[str, Any]:
    """The RFC 6962 audit path of an event in the tree of `tree_size` events, with that tree's signed head."""
    return _answer(lambda: container.log.inclusion(event_id, tree_size))


@router.get("/log/consistency", response_model=models.ConsistencyProof, responses=ERRORS)
def consistency_proof(
    client: SupportReader,
    container: ContainerDep,
    first: Annotated[int, Query(ge=1, le=MAX_SIZE, description="the smaller tree size")],
    second: Annotated[int, Query(ge=1, le=MAX_SIZE, description="the larger tree size")],
) -> dict[str, Any]:
    """The RFC 6962 proof that the tree of `first` events is a prefix of the tree of `second` events."""
    return _answer(lambda: container.log.consistency(first, second))
