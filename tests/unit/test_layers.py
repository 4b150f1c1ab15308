"""The layer rule: the faces (`api/`: the HTTP API, the console, the command line) never import the store
(`storage/`); they reach it through the ledger object and the names `bootstrap` gives them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = "storage"


def storage_imports(source: str) -> list[str]:
    """Each import of the store in a module's source, as written (at any depth, lazy ones included)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] == FORBIDDEN]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == FORBIDDEN:
            found.append(f"from {node.module} import {', '.join(a.name for a in node.names)}")
    return found


def test_no_module_under_api_imports_storage() -> None:
    modules = sorted((ROOT / "api").rglob("*.py"))
    assert len(modules) > 20
    offending = [
        f"{module.relative_to(ROOT)}: {line}"
        for module in modules
        for line in storage_imports(module.read_text(encoding="utf-8"))
    ]
    assert offending == []


def test_the_rule_catches_every_form_of_import() -> None:
    source = (
        "import storage\nimport storage.audit as a\nfrom storage.bundle import x\ndef f():\n    from storage import y\n"
    )
    assert storage_imports(source) == [
        "import storage",
        "import storage.audit",
        "from storage.bundle import x",
        "from storage import y",
    ]
    assert storage_imports("from bootstrap.store import LogEvidence\nimport storage_like\n") == []
