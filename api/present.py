"""Domain answers → response models (the HTTP API's shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api import models
from bootstrap.store import Checkpoint, Outcome, Preview, Verification, checkpoint_json, event_json
from ledger.access.check import Decision
from ledger.access.intervals import Interval
from projections.answers import CheckAnswer, RightsAnswer, TimelineAnswer
from projections.preview import AccessDifference


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def command_accepted(outcome: Outcome, receipt: dict[str, Any]) -> models.CommandAccepted:
    return models.CommandAccepted.model_validate({**outcome.to_json(), "receipt": receipt})


def check_result(answer: CheckAnswer) -> models.CheckResult:
    d = answer.decision
    return models.CheckResult(
        allowed=d.allowed,
        role=d.role.value if d.role else None,
        rules=list(d.rules),
        reason=d.reason,
        evidence=list(d.evidence),
        position=answer.position,
        code=d.code,
    )


def _why_not(decision: Decision | None) -> dict[str, Any]:
    """An organization's explanation of no role, in the check's words (empty where a role is held)."""
    if decision is None:
        return {}
    return {
        "code": decision.code,
        "reason": decision.reason,
        "rules": list(decision.rules),
        "evidence": list(decision.evidence),
    }


def rights_result(answer: RightsAnswer) -> models.RightsResult:
    r = answer.rights
    return models.RightsResult(
        person_id=r.person_id,
        at=answer.at.isoformat(),
        position=answer.position,
        registered=r.registered,
        terms_accepted=r.terms_accepted,
        organizations=[
            models.OrganizationRights(
                org_id=o.org_id,
                role=o.role.value if o.role else None,
                roles=[x.value for x in o.roles],
                valid_from=iso(o.valid_from),
                valid_to=iso(o.valid_to),
                scopes=[dict(s) for s in o.scopes],
                sources=list(o.sources),
                **_why_not(o.why_not),
            )
            for o in r.organizations
        ],
    )


def timeline_result(answer: TimelineAnswer) -> models.TimelineResult:
    events = []
    for rec in answer.records:
        body = event_json(rec.position, rec.event)
        events.append(models.TimelineEvent(**body, voided_at_position=rec.voided_at))
    intervals = [
        models.TimelineInterval(
            org_id=i.org_id,
            role=i.role.value,
            valid_from=i.valid_from.isoformat(),
            valid_to=iso(i.valid_to),
            known_from=i.known_from.isoformat(),
            known_to=iso(i.known_to),
            known_from_position=i.known_from_position,
            known_to_position=i.known_to_position,
            sources=list(i.sources),
        )
        for i in answer.intervals
    ]
    return models.TimelineResult(
        person_id=answer.person_id, position=answer.position, events=events, intervals=intervals
    )


def _interval(i: Interval | None) -> models.IntervalOut | None:
    if i is None:
        return None
    return models.IntervalOut(valid_from=i.valid_from.isoformat(), valid_to=iso(i.valid_to), sources=list(i.sources))


def command_preview(preview: Preview, difference: AccessDifference) -> models.CommandPreview:
    return models.CommandPreview(
        position=preview.position,
        recorded_at=preview.recorded_at.isoformat(),
        events=[models.LedgerEventOut(**event_json(p, e)) for p, e in preview.events],
        result=preview.results[0] if preview.results else {},
        replayed=any(preview.replayed),
        access_changes=_access_changes(difference),
        persons_compared=list(difference.persons),
        every_teacher_affected=difference.everyone,
    )


def batch_preview(preview: Preview, difference: AccessDifference) -> models.BatchPreview:
    return models.BatchPreview(
        position=preview.position,
        recorded_at=preview.recorded_at.isoformat(),
        events=[models.LedgerEventOut(**event_json(p, e)) for p, e in preview.events],
        results=list(preview.results),
        replayed=list(preview.replayed),
        access_changes=_access_changes(difference),
        persons_compared=list(difference.persons),
        every_teacher_affected=difference.everyone,
    )


def _access_changes(difference: AccessDifference) -> list[models.AccessChange]:
    return [
        models.AccessChange(
            person_id=c.person_id,
            org_id=c.org_id,
            role=c.role.value,
            change=c.change,
            before=_interval(c.before),
            after=_interval(c.after),
        )
        for c in difference.changes
    ]


def checkpoint_out(checkpoint: Checkpoint) -> models.CheckpointOut:
    return models.CheckpointOut(**checkpoint_json(checkpoint))


def verify_result(report: Verification, head: dict[str, Any] | None = None) -> models.VerifyResult:
    """A verification's report as `/v1/verify` and `ledger verify --json` give it (with the signed head recorded, if any)."""
    chain = report.chain
    return models.VerifyResult(
        ok=report.ok,
        checked=report.checked,
        position=report.position,
        first_bad_position=report.first_bad_position,
        full=report.full,
        from_position=report.from_position,
        problem=report.problem,
        checkpoints_compared=chain.checkpoints_compared,
        checkpoint=checkpoint_out(chain.checkpoint) if report.ok and chain.checkpoint else None,
        tree_size=report.tree_size,
        root_hash=report.root_hash,
        head=models.SignedHead.model_validate(head) if head else None,
    )
