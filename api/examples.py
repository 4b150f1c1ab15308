"""Request and answer examples shown in OpenAPI, one per operation (taken from a run on the demo world).

tests/api/test_openapi.py validates every answer example against its operation's response model,
so an example cannot drift from the shape the server sends.
"""

from __future__ import annotations

from typing import Any

CODE_EVENT = "01a234e9-a738-72c8-82ed-b5f59e422dd5"
REDEEMED = "01a234e9-a771-778c-8d3b-c246c37b9124"
REGISTERED = "01a234e9-a737-7866-9679-6cb141b81e48"
TERMS = "01a234e9-a737-720f-a191-3a338f8462e7"
AFFILIATED = "01a234e9-a737-7b62-b914-0dbb90ffeb28"
RECORDED = "2025-07-02T13:05:41.712453+00:00"

REDEEM = {
    "type": "redeem_access_code",
    "school_id": "S-110",
    "exam_year": 2025,
    "person_id": "P-2001",
    "code": "K7QM-2HXD-9RTA",
    "effective_at": "2025-07-02",
    "idempotency_key": "redeem-P-2001-2025",
}
REGISTER = {
    "type": "register_person",
    "person_id": "P-2001",
    "name": "Dana Ortiz",
    "email": "dana.ortiz@example.org",
    "effective_at": "2024-08-01",
}
REMOVE = {
    "type": "remove_access",
    "person_id": "P-2001",
    "org_id": "S-110",
    "removed_by": "P-1001",
    "effective_at": "2025-07-05",
    "idempotency_key": "remove-P-2001-S-110",
}

RECEIPT = {
    "event_id": REDEEMED,
    "type": "AccessCodeRedeemed",
    "position": 40,
    "recorded_at": RECORDED,
    "effective_at": "2025-07-02T04:00:00+00:00",
}
LOG_ID = "3561caddde5dacb2263ceaa8af668980e6fd1085ade0951407e5ee8de2cd52fd"


def head(size: int, root: str) -> dict[str, Any]:
    return {
        "log_id": LOG_ID,
        "tree_size": size,
        "root_hash": root,
        "timestamp": 1751461541221,
        "signature": "S4CexVQIi6l/TJB6LkPELw56EiLxlZMEG3vcPoeBBWcTqqylxrqdWvhpehhVsd5yFbsEqQs/f/+kH6iEdTozDA==",
    }


HEAD_40 = head(40, "8abc8940cf049a4b03489f501ad9072887dcd8958bd4c171ec2d96068271567b")
HEAD_20 = head(20, "e1817111e70ba00aea5e1c504213ab96da5aa96d60717ef4555985568e75c081")
LEAF_40 = "120605cd811e87a526ae9b1284bbd6daf72b904e685694ad2f96b1f8c07f2696"
ACCEPTED = {
    "position": 40,
    "recorded_at": RECORDED,
    "events": [RECEIPT],
    "result": {"staff": True, "code_event_id": CODE_EVENT, "valid_to": "2026-08-01T04:00:00+00:00"},
    "receipt": {"head": HEAD_40, "leaves": [{"position": 40, "leaf_hash": LEAF_40}]},
}

# A dry run of REMOVE: the removal it would record and the interval it would end earlier.
REMOVAL_PREVIEWED = {
    "event_id": "01a2350c-4be1-7d51-9a7e-2f0b6c1d9e3a",
    "type": "AccessRemoved",
    "position": 41,
    "recorded_at": RECORDED,
    "effective_at": "2025-07-05T04:00:00+00:00",
    "actor": "support-1",
    "idempotency_key": "remove-P-2001-S-110",
    "data": {"person_id": "P-2001", "org_id": "S-110", "removed_by": "P-1001"},
}
REMOVAL_CHANGE = {
    "person_id": "P-2001",
    "org_id": "S-110",
    "role": "school_admin",
    "change": "ends earlier",
    "before": {
        "valid_from": "2025-07-02T04:00:00+00:00",
        "valid_to": "2026-08-01T04:00:00+00:00",
        "sources": [REDEEMED],
    },
    "after": {
        "valid_from": "2025-07-02T04:00:00+00:00",
        "valid_to": "2025-07-05T04:00:00+00:00",
        "sources": [REDEEMED],
    },
}
PREVIEW = {
    "dry_run": True,
    "position": 40,
    "recorded_at": RECORDED,
    "events": [REMOVAL_PREVIEWED],
    "result": {},
    "replayed": False,
    "access_changes": [REMOVAL_CHANGE],
    "persons_compared": ["P-2001"],
    "every_teacher_affected": False,
}
BATCH_PREVIEW = {
    **{k: v for k, v in PREVIEW.items() if k not in ("result", "replayed")},
    "results": [{}],
    "replayed": [False],
}

SCOPE = {
    "schools": ["S-110"],
    "reports": ["student_score_report", "student_datafile", "score_summary"],
    "exam_years": [2025],
    "levels": ["student", "aggregate"],
}
EVENT = {
    "event_id": REDEEMED,
    "type": "AccessCodeRedeemed",
    "position": 40,
    "recorded_at": RECORDED,
    "effective_at": "2025-07-02T04:00:00+00:00",
    "actor": "registrar-1",
    "idempotency_key": "redeem-P-2001-2025",
    "data": {
        "school_id": "S-110",
        "exam_year": 2025,
        "person_id": "P-2001",
        "staff": True,
        "code_event_id": CODE_EVENT,
    },
}
CHECKPOINT = {
    "position": 40,
    "chain": "a078ded7e212f5d3eaad65441343703359124c5f496ebbe0630fb46f4cf7ce51",
    "created_at": "2025-07-02T13:06:00.186247+00:00",
}

# Per operation (METHOD path): "request" is a body (commands) or query parameters (reads).
EXAMPLES: dict[str, dict[str, Any]] = {
    "POST /v1/commands": {
        "request": {"redeem": REDEEM, "register": REGISTER, "remove": REMOVE},
        "answer": ACCEPTED,
        "answers": {"200": PREVIEW},  # dry_run=true
    },
    "POST /v1/commands/batch": {
        "request": {"batch": {"commands": [REGISTER, {**REDEEM, "idempotency_key": None}]}},
        "answer": {"position": 40, "recorded_at": RECORDED, "results": [ACCEPTED], "receipt": ACCEPTED["receipt"]},
        "answers": {"200": BATCH_PREVIEW},  # dry_run=true
    },
    "GET /v1/check": {
        "request": {
            "person_id": "P-2001",
            "org_id": "S-110",
            "report": "student_datafile",
            "exam_year": 2025,
            "school_id": "S-110",
            "at": "2025-07-08",
        },
        "answer": {
            "allowed": True,
            "role": "school_admin",
            "rules": ["R8", "R16"],
            "reason": "school administrator of S-110: every report of the school",
            "evidence": [REGISTERED, TERMS, REDEEMED, CODE_EVENT],
            "position": 40,
            "code": "allowed",
        },
    },
    "GET /v1/people/{person_id}/rights": {
        "request": {"person_id": "P-2001", "at": "2025-07-08", "as_of": "40"},
        "answer": {
            "person_id": "P-2001",
            "at": "2025-07-08T04:00:00+00:00",
            "position": 40,
            "registered": True,
            "terms_accepted": True,
            "organizations": [
                {
                    "org_id": "S-110",
                    "role": "school_admin",
                    "roles": ["school_admin"],
                    "valid_from": "2025-07-02T04:00:00+00:00",
                    "valid_to": "2026-08-01T04:00:00+00:00",
                    "scopes": [SCOPE],
                    "sources": [REDEEMED, CODE_EVENT],
                }
            ],
        },
    },
    "GET /v1/people/{person_id}/timeline": {
        "request": {"person_id": "P-2001", "as_of": "2025-07-03T00:00:00-04:00"},
        "answer": {
            "person_id": "P-2001",
            "position": 40,
            "events": [{**EVENT, "voided_at_position": None}],
            "intervals": [
                {
                    "org_id": "S-110",
                    "role": "school_admin",
                    "valid_from": "2025-07-02T04:00:00+00:00",
                    "valid_to": "2026-08-01T04:00:00+00:00",
                    "known_from": RECORDED,
                    "known_to": None,
                    "known_from_position": 40,
                    "known_to_position": None,
                    "sources": [CODE_EVENT, REDEEMED],
                }
            ],
        },
    },
    "GET /v1/orgs/{org_id}/access": {
        "request": {"org_id": "S-110", "from": "2025-07-01", "to": "2025-08-01", "level": "student"},
        "answer": {
            "org_id": "S-110",
            "org_name": "Lakeside High School",
            "from": "2025-07-01T04:00:00+00:00",
            "to": "2025-08-01T04:00:00+00:00",
            "from_local": "2025-07-01T00:00:00-04:00",
            "to_local": "2025-08-01T00:00:00-04:00",
            "zone": "America/New_York",
            "clipped": False,
            "level": "student",
            "position": 40,
            "entries": [
                {
                    "person_id": "P-2001",
                    "person_name": "Dana Ortiz",
                    "role": "school_admin",
                    "valid_from": "2025-07-07T04:00:00+00:00",
                    "valid_to": "2026-08-01T04:00:00+00:00",
                    "valid_from_local": "2025-07-07T00:00:00-04:00",
                    "valid_to_local": "2026-08-01T00:00:00-04:00",
                    "sources": [CODE_EVENT, REDEEMED],
                    "grants": [
                        {"event_id": CODE_EVENT, "type": "AccessCodeIssued", "position": 38},
                        {"event_id": REDEEMED, "type": "AccessCodeRedeemed", "position": 40},
                    ],
                    "school_id": "S-110",
                    "via_org": "S-110",
                    "via_org_name": "Lakeside High School",
                }
            ],
        },
    },
    "GET /v1/orgs/{org_id}/windows": {
        "request": {"org_id": "S-110", "at": "2025-07-08"},
        "answer": {
            "org_id": "S-110",
            "at": "2025-07-08T04:00:00+00:00",
            "position": 40,
            "current_released_year": 2025,
            "kind": "school",
            "district_id": "D-10",
            "principal_id": "P-1001",
            "codes": [
                {
                    "exam_year": 2025,
                    "code_event_id": CODE_EVENT,
                    "valid_from": "2025-07-01T04:00:00+00:00",
                    "valid_to": "2026-08-01T04:00:00+00:00",
                    "revoked": False,
                    "staff_places_used": 1,
                    "staff_places_free": 4,
                    "staff": ["P-2001"],
                }
            ],
            "teachers": [
                {
                    "person_id": "P-3001",
                    "authorizations": [{"school_year": 2025, "subjects": ["AP-BIO"]}],
                    "current_school_year": 2025,
                    "holds_current_year": True,
                    "renewal_due": False,
                }
            ],
        },
    },
    "GET /v1/events": {
        "request": {"after": 39, "limit": 1},
        "answer": {"events": [EVENT], "next_after": 40},
    },
    "GET /v1/verify": {
        "request": {"full": False},
        "answer": {
            "ok": True,
            "checked": 40,
            "position": 40,
            "first_bad_position": None,
            "full": True,
            "from_position": 0,
            "problem": None,
            "checkpoints_compared": 0,
            "checkpoint": CHECKPOINT,
        },
    },
    "GET /v1/checkpoints": {"request": {"after": 0}, "answer": {"checkpoints": [CHECKPOINT], "next_after": 40}},
    "POST /v1/checkpoints": {
        "request": {},
        "answer": {
            "ok": True,
            "checked": 40,
            "position": 40,
            "first_bad_position": None,
            "full": True,
            "from_position": 0,
            "problem": None,
            "checkpoints_compared": 0,
            "checkpoint": CHECKPOINT,
            "tree_size": 40,
            "root_hash": HEAD_40["root_hash"],
            "head": HEAD_40,
        },
    },
    "GET /v1/people": {
        "request": {"query": "ortiz", "limit": 20},
        "answer": {
            "query": "ortiz",
            "position": 40,
            "people": [{"person_id": "P-2001", "name": "Dana Ortiz", "email": "dana.ortiz@example.org"}],
        },
    },
    "GET /v1/log/key": {
        "request": {},
        "answer": {
            "algorithm": "ed25519",
            "public_key": "oelKPx8ttzPnai2S30kCBlKmW9981LfbusPlCgYKMaQ=",
            "log_id": LOG_ID,
            "previous_keys": [],
        },
    },
    "GET /v1/log/head": {"request": {}, "answer": HEAD_40},
    "GET /v1/events/{event_id}/proof": {
        "request": {"event_id": REDEEMED, "tree_size": 40},
        "answer": {
            "event_id": REDEEMED,
            "position": 40,
            "leaf_index": 39,
            "tree_size": 40,
            "entry": "AQAAAAAAAAAoAAAAJDAxYTIzNTBj",
            "leaf_hash": LEAF_40,
            "audit_path": [
                "74871b2827910830b3b63bcc750212dce89a2e13f16fdddffc3d9cf768803dab",
                "14a982b71970b2027d677504d4f0d62982b7a7ede1e28966e35b0d88cde79d60",
            ],
            "head": HEAD_40,
        },
    },
    "GET /v1/log/consistency": {
        "request": {"first": 20, "second": 40},
        "answer": {
            "first": 20,
            "second": 40,
            "proof": [
                "e671ae7f70c987f80bd04563c143ad24c3d22d6c4d31a0fe00687e07156af42b",
                "3846a58cd3e09628abf67ec59c915d63a35aad18c320c0c1447b665c740e31e6",
            ],
            "first_head": HEAD_20,
            "second_head": HEAD_40,
        },
    },
}
