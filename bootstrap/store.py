"""What the faces (the API, the console, the command line) name of the store, in one place.

`api/` never imports `storage/`: what it asks of the log goes through the ledger object
(`projections.system.LedgerSystem`: feed, verification, checkpoints, the audit bundle), and
the types, errors and helpers it names are re-exported here from the composition root.
"""

from __future__ import annotations

from storage.audit import event_json
from storage.bundle import BundleReport, export_bundle, load_bundle, verify_bundle
from storage.evidence import BadSize, LogEvidence, NotInLog
from storage.integrity import checkpoint_json, parse_checkpoints
from storage.outcomes import Outcome, Preview
from storage.recorders import Checkpoint
from storage.signing import PendingKey, SigningKeyError, open_log, previous_public_keys, resolve_key, write_new_key
from storage.url import parse_database_url
from storage.verification import Verification, run_verification

__all__ = [
    "BadSize",
    "BundleReport",
    "Checkpoint",
    "LogEvidence",
    "NotInLog",
    "Outcome",
    "PendingKey",
    "Preview",
    "SigningKeyError",
    "Verification",
    "checkpoint_json",
    "event_json",
    "export_bundle",
    "load_bundle",
    "open_log",
    "parse_checkpoints",
    "parse_database_url",
    "previous_public_keys",
    "resolve_key",
    "run_verification",
    "verify_bundle",
    "write_new_key",
]
