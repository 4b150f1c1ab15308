"""A typed Python client of the access ledger's HTTP API, on httpx.

    from ledger_client import LedgerClient

    with LedgerClient("http://127.0.0.1:8000", api_key="…") as ledger:
        ledger.command("register_person", person_id="P-2001", name="Dana Ortiz", email="dana@example.org")
        answer = ledger.check("P-2001", org_id="S-110", report="student_datafile", exam_year=2025, school_id="S-110")

Commands carry an idempotency key (generated when not given), so a retry never records twice;
answers of 503 are retried a bounded number of times, honouring Retry-After; every read passes
the position of this client's last write as `min_position` (read-your-writes).
"""

from ledger_client.client import LedgerClient, Positions
from ledger_client.errors import LedgerApiError
from ledger_client.models import (
    AccessAnswer,
    AccessEntry,
    BatchResult,
    CheckAnswer,
    CommandResult,
    EventReceipt,
    OrganizationRights,
    RightsAnswer,
    TimelineAnswer,
    WindowsAnswer,
)

__all__ = [
    "AccessAnswer",
    "AccessEntry",
    "BatchResult",
    "CheckAnswer",
    "CommandResult",
    "EventReceipt",
    "LedgerApiError",
    "LedgerClient",
    "OrganizationRights",
    "Positions",
    "RightsAnswer",
    "TimelineAnswer",
    "WindowsAnswer",
]
