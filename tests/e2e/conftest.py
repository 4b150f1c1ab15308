"""End-to-end runs: list the browser tests' screenshots at the end, so a person can look at them."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.e2e.test_console_browser import TAKEN

    if TAKEN:
        terminalreporter.write_sep("-", "console screenshots")
        for path in sorted(set(TAKEN)):
            terminalreporter.write_line(str(path))
