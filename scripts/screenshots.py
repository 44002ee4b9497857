"""Take the README's screenshots from a real server over demo data, in Debian's Chromium.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--events 500000]

It makes a demo store in a temporary folder (or reuses `--db`), adds a compliance officer and a
wall account, starts `auditdash serve` on 127.0.0.1, signs in as each and saves one PNG per page.
The server is stopped (by its PID) at the end. Nothing here is part of the product or its tests.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "screenshots-password-1"  # noqa: S105 - a throwaway demo account


def _cli(*args: str, stdin: str | None = None) -> None:
    env = {**os.environ, "AUDITDASH_GEO_DIR": str(ROOT / "data" / "geo")}
    subprocess.run([sys.executable, "-m", "dashboard.cli", *args], check=True, env=env, input=stdin, text=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):  # noqa: S310 - our own http URL
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise SystemExit(f"the server did not answer within {timeout:.0f} s")


def _login(page: Page, url: str, name: str) -> None:
    page.goto(url + "/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(lambda u: "/login" not in u)


def _shot(page: Page, url: str, out: Path, settle_s: float = 4.0) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    time.sleep(settle_s)  # the last figures draw after the network is idle
    page.screenshot(path=str(out))
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--db", type=Path, help="an existing demo store (copied users are added to it)")
    parser.add_argument("--events", type=int, default=500_000)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="auditdash-shots-") as tmp:
        db = args.db or Path(tmp) / "demo.duckdb"
        if args.db is None:
            _cli("demo", "--db", str(db), "--events", str(args.events))
        for name, role in (("compliance.officer", "compliance"), ("wall.screen", "wall")):
            _cli("users", "add", name, "--role", role, "--password-stdin", "--db", str(db), stdin=PASSWORD + "\n")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "AUDITDASH_GEO_DIR": str(ROOT / "data" / "geo")}
        cmd = [sys.executable, "-m", "dashboard.cli", "serve", "--port", str(port), "--no-demo", "--db", str(db)]
        log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            _wait(url, proc)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.set_default_timeout(120_000)
                _login(page, url, "compliance.officer")
                _shot(page, url + "/?range=30d", args.out / "overview.png")
                _shot(page, url + "/security?range=30d", args.out / "security.png")
                _shot(page, url + "/alerts?range=30d", args.out / "alerts.png")
                _shot(page, url + "/report?range=30d", args.out / "report.png")
                page.goto(url + "/explorer?range=30d&actions=agent.role_change")
                page.wait_for_load_state("networkidle")
                page.locator(".ag-center-cols-container .ag-row").first.click()
                time.sleep(4)
                page.screenshot(path=str(args.out / "explorer-detail.png"))
                print(f"wrote {args.out / 'explorer-detail.png'}")
                wall = browser.new_page(viewport={"width": 1920, "height": 1080})
                wall.set_default_timeout(120_000)
                _login(wall, url, "wall.screen")
                _shot(wall, url + "/wall", args.out / "wall.png", settle_s=6.0)
                browser.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
