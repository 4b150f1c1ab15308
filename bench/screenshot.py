"""The README's console screenshot, taken from the demo so it cannot go stale: `python -m bench.screenshot`.

Loads the demo history into a fresh SQLite file, serves the console on a free local port,
signs in with a support key in headless Chromium and saves the person page of P-4002 as
known on Jul 8, 2025, compared with today, to docs/console-person.png (or the path given).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from api import cli
from api.bootstrap import create_app
from api.settings import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "console-person.png"
PAGE = "/console/people/P-4002?known=2025-07-08&known_time=12:00"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def take(out: Path, chromium: str = CHROMIUM) -> Path:
    """Serve the demo in this process and photograph the person page; returns the file written."""
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="ledger-screenshot-"))
    url = f"sqlite:///{folder}/ledger.db"
    support_key = secrets.token_urlsafe(32)
    os.environ.update(LEDGER_DATABASE_URL=url, LEDGER_CODE_HASH_TIME_COST="1", LEDGER_CODE_HASH_MEMORY_KIB="64")
    cli.demo(if_empty=False)
    settings = Settings(
        database_url=url,
        api_keys=f"support:support:{support_key}",
        code_hash_time_cost=1,
        code_hash_memory_kib=64,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, announce=lambda _: None), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(base_url=f"http://127.0.0.1:{port}", viewport={"width": 1366, "height": 900})
            page.goto(PAGE)
            key = page.get_by_label("API key")
            key.fill(support_key)
            key.press("Enter")
            page.wait_for_url("**/console/people/P-4002**")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help="where to write the PNG")
    parser.add_argument("--chromium", default=CHROMIUM, help="the Chromium binary")
    args = parser.parse_args()
    print(take(args.out, args.chromium))


if __name__ == "__main__":
    main()
