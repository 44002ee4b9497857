"""Start and stop the test OpenID Connect provider (tests/oidc/provider.js) on 127.0.0.1.

`npm ci` installs it into tests/oidc/node_modules from the committed package-lock.json when it
is missing (`make test` does the same before the tests run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import free_port

HERE = Path(__file__).resolve().parent
CLIENT_ID = "auditdash-test"
CLIENT_SECRET = "s3cret-of-the-test-client-9f2c1b"
PORT_ATTEMPTS = 3


@dataclass
class OpenIdProvider:
    """A running provider process."""

    issuer: str
    proc: subprocess.Popen[str]
    log: Path
    log_handle: Any

    def _post(self, path: str, form: dict[str, str] | None = None) -> None:
        body = urllib.parse.urlencode(form or {}).encode()
        req = urllib.request.Request(self.issuer + path, data=body, method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200, resp.status

    def set_mode(self, mode: str) -> None:
        """Change the ID tokens the token endpoint returns (see provider.js)."""
        self._post("/__test/mode?" + urllib.parse.urlencode({"set": mode}))

    def set_person(self, login: str, person: dict[str, Any]) -> None:
        """Add or change a person (password, groups, ...)."""
        self._post("/__test/person?" + urllib.parse.urlencode({"login": login}), {"person": json.dumps(person)})


def ensure_installed() -> None:
    """Install the provider's npm packages (from the lock file) when they are missing."""
    if (HERE / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    assert npm, "npm is needed for the single sign-on tests (Debian package: npm)"
    subprocess.run([npm, "ci", "--prefix", str(HERE), "--no-audit", "--no-fund"], check=True, timeout=600)


def start_provider(workdir: Path, redirect_uris: list[str], people: dict[str, dict[str, Any]]) -> OpenIdProvider:
    """Start the provider on a free port and wait until it publishes its discovery document."""
    ensure_installed()
    node = shutil.which("node")
    assert node, "node is needed for the single sign-on tests"
    log = workdir / "oidc-provider.log"
    for _attempt in range(PORT_ATTEMPTS):
        port = free_port()
        env = {
            **os.environ,
            "OIDC_PORT": str(port),
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_REDIRECT_URI": " ".join(redirect_uris),
            "OIDC_USERS": json.dumps(people),
        }
        handle = log.open("a")
        proc = subprocess.Popen(
            [node, str(HERE / "provider.js")], cwd=HERE, env=env, stdout=handle, stderr=subprocess.STDOUT, text=True
        )
        issuer = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(issuer + "/.well-known/openid-configuration", timeout=2) as resp:
                    if resp.status == 200:
                        return OpenIdProvider(issuer, proc, log, handle)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        provider = OpenIdProvider(issuer, proc, log, handle)
        stop_provider(provider)
        if "EADDRINUSE" not in log.read_text():
            break
    raise AssertionError(f"the test OpenID provider did not start:\n{log.read_text()}")


def stop_provider(provider: OpenIdProvider) -> None:
    """Stop the provider we started, by its PID."""
    proc = provider.proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    provider.log_handle.close()
