"""Benchmark: dashboard callbacks of 20 signed-in sessions, idle and under a stream of API ingest.

A real `auditdash serve` runs on 127.0.0.1 (a free port) over a copy of a generated store
(`bench_data.generate`, with its hash chain made whole so that ingest can extend it). Each
session signs in through the login form as a browser does (form token, session cookie, the
`X-CSRFToken` header Dash sends) and then, in a loop with a pause between page views, redraws
Overview, Security or Explorer for a filter change: every server callback of the page whose
input is the `filters` store, with the bodies Dash's renderer sends (built from the server's own
`/_dash-dependencies`); Explorer also asks for the grid's first page with the listing the first
callback answered. There are two phases of the same length: idle, then with an ingest stream
of `--rate` events/s (`--batch` events per POST /api/v1/events with an ingest token, sent on a
fixed schedule by a few sender threads).

Printed per phase: callback latency p50/p95/max, the ratio p95 under load / p95 idle, the
ingest rate achieved against the one asked, POST latency, errors, the server's CPU seconds and
the load average. Targets: ingest rate >= 98 % of asked, p95 under load <= 2 x idle, no errors.

    .venv/bin/python -m benchmarks.load                          # 1,000,000 events, 2 x 30 s
    .venv/bin/python -m benchmarks.load --events 2000000 --phase-seconds 40 --json

The base store is generated on first use and reused (`--workdir`); each run serves a fresh copy.
The server is stopped by its PID at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import html
import http.cookiejar
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_data import generate
from dashboard.filters import Filters
from dashboard.ingest.geo_demo_ips import DEMO_IPS
from dashboard.store.db import Database
from dashboard.store.duck import one, run

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CALLBACK = "/_dash-update-component"
TZ = "Europe/Berlin"
ROLES = ("admin", "compliance", "manager")

#: the filter changes the sessions make (as in benchmarks/dashboard.py)
SCENARIOS: list[Filters] = [
    Filters(preset="24h", tz=TZ),
    Filters(preset="7d", tz=TZ),
    Filters(preset="30d", tz=TZ),
    Filters(outcome="failure", tz=TZ),
    Filters(categories=("authentication",), tz=TZ),
    Filters(users=("u3", "u17"), tz=TZ),
    Filters(roles=("administrator",), tz=TZ),
    Filters(countries=("DE",), tz=TZ),
    Filters(text="agent 5", tz=TZ),
    Filters(tz="UTC"),
]

#: which callbacks belong to which page: the first output id's prefix
PAGE_PREFIXES = {"Overview": ("fig-", "ov-"), "Security": ("sec-",), "Explorer": ("explorer-",)}


# -- the store ----------------------------------------------------------------------------
def chain_whole(path: Path) -> None:
    """Give the generated events their hashes and one chain batch, as ingest would have."""
    from dashboard.store.writer import EVENT_HASH_SQL, GENESIS_HASH, _events_digest, batch_hash

    with Database(path) as db, db.raw() as con:
        if one(con, "SELECT count(*) FROM chain_batches")[0]:
            return  # bench_data.generate links its events into the chain already
        run(con, f"UPDATE events SET hash = {EVENT_HASH_SQL}")
        first, last, count, received = one(con, "SELECT min(seq), max(seq), count(*), max(received_at) FROM events")
        digest = _events_digest(con.sql("SELECT seq, hash FROM events").to_arrow_table(), first, last)
        run(
            con,
            "INSERT INTO chain_batches VALUES (1, $1, $2, $3, $4, 'bench', $5, $6, $7)",
            [
                first,
                last,
                count,
                received,
                digest,
                GENESIS_HASH,
                batch_hash(GENESIS_HASH, 1, first, last, count, digest),
            ],
        )
        run(con, "CHECKPOINT")


def prepare(workdir: Path, events: int, days: int, sessions: int) -> tuple[Path, dict[str, str], str]:
    """A fresh copy of the base store with users and an ingest token: (path, passwords, token)."""
    from dashboard.access.tokens import create_token
    from dashboard.access.users import create_user
    from dashboard.detect.service import STATE_KEY

    base = workdir / f"load-{events}.duckdb"
    if not base.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"generating {events:,} events into {base} ...", flush=True)
        part = base.with_suffix(".part")
        part.unlink(missing_ok=True)
        took = generate(part, events, days)
        chain_whole(part)
        part.rename(base)
        print(f"  {took:.0f} s", flush=True)
    run = workdir / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    path = run / "load.duckdb"
    shutil.copyfile(base, path)
    passwords = {}
    with Database(path) as db:
        for i in range(sessions):
            name = f"bench{i + 1:02d}"
            passwords[name] = f"{name}-load-password"
            create_user(db, name, ROLES[i % len(ROLES)], passwords[name])
        _, token = create_token(db, "load-bench")
        with db.connect() as conn:
            import sqlalchemy as sa

            top = conn.execute(sa.text("SELECT max(seq) FROM events")).scalar()
        # a server that has run for a while has run detection over what it holds
        db.set_meta(STATE_KEY, str(int(top or 0)))
    return path, passwords, token


# -- the server ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server process so far (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(db_path: Path, log: Path, timeout: float = 240) -> Server:
    """`auditdash serve` on a free port of 127.0.0.1, once /healthz answers."""
    port = free_port()
    env = {**os.environ, "AUDITDASH_GEO_DIR": str(ROOT / "data" / "geo")}
    cmd = [sys.executable, "-m", "dashboard.cli", "serve", "--host", HOST, "--port", str(port), "--no-demo"]
    with log.open("wb") as out:
        proc = subprocess.Popen([*cmd, "--db", str(db_path)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://{HOST}:{port}", proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=2) as resp:  # noqa: S310 (http://127.0.0.1)
                if resp.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    """Stop the server this benchmark started, by its PID."""
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=10)


# -- a browser session ----------------------------------------------------------------------
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Session:
    """A signed-in browser: cookies, the login form's token, Dash's X-CSRFToken header."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})  # noqa: S310
        try:
            with self.opener.open(req, timeout=120) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def cookie(self, name: str) -> str:
        return next((c.value or "" for c in self.jar if c.name == name), "")

    def login(self, username: str, password: str) -> None:
        status, page = self.request("GET", "/login")
        found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
        if status != 200 or not found:
            raise RuntimeError(f"GET /login answered {status} without a form token")
        form = {
            "csrf_token": html.unescape(found.group(1).decode()),
            "username": username,
            "password": password,
            "next": "/",
        }
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        status, body = self.request("POST", "/login", urllib.parse.urlencode(form).encode(), headers)
        if status != 302:
            raise RuntimeError(f"login of {username} answered {status}: {body[:300]!r}")
        status, _ = self.request("GET", "/")  # the page, as the browser loads it
        status, _ = self.request("GET", "/_dash-layout")  # the CSRF guard sets its cookie here
        if status != 200 or not self.cookie("_csrf_token"):
            raise RuntimeError(f"GET /_dash-layout answered {status} without a CSRF cookie")

    def callback(self, payload: dict[str, Any]) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json", "X-CSRFToken": self.cookie("_csrf_token")}
        return self.request("POST", CALLBACK, json.dumps(payload).encode(), headers)


# -- callback bodies, from the server's dependencies ----------------------------------------
def _outputs(key: str) -> list[dict[str, Any]]:
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    out = []
    for part in parts:
        raw, _, prop = part.rpartition(".")
        out.append({"id": json.loads(raw) if raw.startswith("{") else raw, "property": prop.split("@")[0]})
    return out


def page_callbacks(deps: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The server callbacks each page runs when the `filters` store changes."""
    pages: dict[str, list[dict[str, Any]]] = {page: [] for page in PAGE_PREFIXES}
    for dep in deps:
        if dep.get("clientside_function") or not any(
            i["id"] == "filters" and i["property"] == "data" for i in dep["inputs"]
        ):
            continue
        first = _outputs(dep["output"])[0]["id"]
        for page, prefixes in PAGE_PREFIXES.items():
            if isinstance(first, str) and first.startswith(prefixes):
                pages[page].append(dep)
    return pages


def body(dep: dict[str, Any], values: dict[str, Any], changed: list[str]) -> dict[str, Any]:
    """The request Dash's renderer sends for `dep`, with the given "id.property" values."""
    outputs = _outputs(dep["output"])

    def items(group: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**i, "value": values.get(f"{i['id']}.{i['property']}")} for i in group]

    return {
        "output": dep["output"],
        "outputs": outputs if dep["output"].startswith("..") else outputs[0],
        "inputs": items(dep["inputs"]),
        "state": items(dep.get("state", [])),
        "changedPropIds": changed,
    }


@dataclass
class Figures:
    """What one phase measured."""

    callback_ms: list[float] = field(default_factory=list)
    by_page: dict[str, list[float]] = field(default_factory=dict)
    post_ms: list[float] = field(default_factory=list)
    accepted: int = 0
    posted_batches: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, page: str, ms: float) -> None:
        with self.lock:
            self.callback_ms.append(ms)
            self.by_page.setdefault(page, []).append(ms)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def view_page(
    session: Session, page: str, deps: list[dict[str, Any]], rows_dep: dict[str, Any], f: Filters, figures: Figures
) -> None:
    """One filter change on one page: its callbacks one after another, timed one by one."""
    store = {**f.to_store(), "asof": datetime.now(UTC).replace(second=0, microsecond=0).isoformat()}
    values: dict[str, Any] = {"filters.data": store}
    for dep in deps:
        payload = body(dep, values, ["filters.data"])
        started = time.perf_counter()
        status, raw = session.callback(payload)
        took = (time.perf_counter() - started) * 1000
        if status != 200:
            figures.error(f"{page} {dep['output'][:60]}: HTTP {status} {raw[:200]!r}")
            continue
        figures.timed(page, took)
        if page == "Explorer" and "explorer-listing" in dep["output"]:
            listing = json.loads(raw)["response"]["explorer-listing"]["data"]
            request = {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}
            rows_values = {"explorer-grid.getRowsRequest": request, "explorer-listing.data": listing}
            payload = body(rows_dep, rows_values, ["explorer-grid.getRowsRequest"])
            started = time.perf_counter()
            status, raw = session.callback(payload)
            took = (time.perf_counter() - started) * 1000
            if status != 200 or b"rowData" not in raw:
                figures.error(f"Explorer rows: HTTP {status} {raw[:200]!r}")
                continue
            figures.timed("Explorer rows", took)


def browse(
    session: Session,
    pages: dict[str, list[dict[str, Any]]],
    rows_dep: dict[str, Any],
    until: float,
    think: float,
    seed: int,
    figures: Figures,
) -> None:
    rnd = random.Random(seed)
    while time.monotonic() < until:
        page = rnd.choice(list(pages))
        try:
            view_page(session, page, pages[page], rows_dep, rnd.choice(SCENARIOS), figures)
        except Exception as exc:  # counted, and the session goes on
            figures.error(f"{page}: {type(exc).__name__}: {exc}")
        time.sleep(rnd.uniform(0.5, 1.5) * think)


# -- the ingest stream ----------------------------------------------------------------------
def ingest_bodies(count: int, size: int, tag: str) -> list[bytes]:
    """`count` NDJSON bodies of `size` new events each, stamped now (ids unique to this run)."""
    actions = [
        "message.create",
        "conversation.view",
        "conversation.assign",
        "label.assign",
        "auth.login",
        "auth.logout",
    ]
    now = datetime.now(UTC)
    out = []
    n = 0
    for _ in range(count):
        lines = []
        for _ in range(size):
            u = n % 600
            action = actions[n % len(actions)]
            failed = action == "auth.login" and n % 11 == 0
            doc = {
                "id": f"{tag}-{n}",
                "occurred_at": (now + timedelta(milliseconds=n // 2))
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "account_id": ("acme-support", "acme-eu", "acme-labs")[u % 3],
                "action": action,
                "outcome": "failure" if failed else "success",
                "actor": {
                    "id": f"u{u}",
                    "name": f"Agent {u} Example",
                    "email": f"agent{u}@acme.example",
                    "role": "agent",
                },
                "ip": DEMO_IPS[u % len(DEMO_IPS)][0],
                "user_agent": "Mozilla/5.0 (load)",
                "session_id": f"load-{u}",
            }
            if failed:
                doc["reason"] = "bad_password"
            lines.append(json.dumps(doc, separators=(",", ":")))
            n += 1
        out.append(("\n".join(lines) + "\n").encode())
    return out


def stream(
    url: str,
    token: str,
    bodies: list[bytes],
    interval: float,
    start: float,
    until: float,
    senders: int,
    figures: Figures,
) -> None:
    """POST the bodies on a fixed schedule (slot k at start + k * interval) from a few threads."""
    slots = iter(range(len(bodies)))
    slot_lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}

    def sender() -> None:
        while True:
            with slot_lock:
                k = next(slots, None)
            if k is None:
                return
            due = start + k * interval
            if due >= until:
                return
            time.sleep(max(0.0, due - time.monotonic()))
            req = urllib.request.Request(url + "/api/v1/events", data=bodies[k], method="POST", headers=headers)  # noqa: S310
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310
                    answer = json.loads(resp.read())
                took = (time.perf_counter() - started) * 1000
                with figures.lock:
                    figures.post_ms.append(took)
                    figures.posted_batches += 1
                    figures.accepted += int(answer.get("accepted", 0))
                if answer.get("accepted") != bodies[k].count(b"\n"):
                    figures.error(f"ingest batch {k}: {answer}")
            except urllib.error.HTTPError as exc:
                figures.error(f"ingest batch {k}: HTTP {exc.code} {exc.read()[:200]!r}")
            except Exception as exc:
                figures.error(f"ingest batch {k}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# -- the run --------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def loadavg() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def run_phase(
    name: str,
    server: Server,
    sessions: list[Session],
    pages: dict[str, list[dict[str, Any]]],
    rows_dep: dict[str, Any],
    args: argparse.Namespace,
    token: str,
    bodies: list[bytes] | None,
) -> dict[str, Any]:
    figures = Figures()
    print(f"{name} phase: {args.phase_seconds:.0f} s (server pid {server.proc.pid})", file=sys.stderr, flush=True)
    load_start, cpu_start = loadavg(), server.cpu_seconds()
    started = time.monotonic()
    until = started + args.phase_seconds
    workers = [
        threading.Thread(
            target=browse, args=(s, pages, rows_dep, until, args.think, i * 7919 + len(name), figures), daemon=True
        )
        for i, s in enumerate(sessions)
    ]
    for w in workers:
        w.start()
    if bodies is not None:
        stream(server.url, token, bodies, args.batch / args.rate, started, until, args.senders, figures)
    for w in workers:
        w.join()
    elapsed = time.monotonic() - started
    out: dict[str, Any] = {
        "phase": name,
        "seconds": round(elapsed, 1),
        "callbacks": len(figures.callback_ms),
        "p50_ms": round(statistics.median(figures.callback_ms), 1) if figures.callback_ms else None,
        "p95_ms": round(pct(figures.callback_ms, 95), 1),
        "max_ms": round(max(figures.callback_ms, default=float("nan")), 1),
        "p95_by_page_ms": {k: round(pct(v, 95), 1) for k, v in sorted(figures.by_page.items())},
        "errors": len(figures.errors),
        "error_samples": figures.errors[:5],
        "server_cpu_s": round(server.cpu_seconds() - cpu_start, 1),
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
    }
    if bodies is not None:
        out.update(
            rate_asked=args.rate,
            rate_achieved=round(figures.accepted / args.phase_seconds),
            batches_posted=figures.posted_batches,
            post_p50_ms=round(statistics.median(figures.post_ms), 1) if figures.post_ms else None,
            post_p95_ms=round(pct(figures.post_ms, 95), 1),
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the store (generated once)")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--phase-seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--warmup-seconds", type=float, default=8.0, help="browsing before the idle phase")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between page views (s)")
    parser.add_argument("--rate", type=int, default=2_000, help="events/s of the ingest stream")
    parser.add_argument("--batch", type=int, default=200, help="events per POST")
    parser.add_argument("--senders", type=int, default=4, help="threads posting the stream")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "auditdash-bench-load")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    db_path, passwords, token = prepare(args.workdir, args.events, args.days, args.sessions)
    batches = int(args.phase_seconds * args.rate / args.batch) + 1
    bodies = ingest_bodies(batches, args.batch, f"load-{int(time.time())}")
    server = start_server(db_path, db_path.with_suffix(".log"))
    try:
        sessions = []
        for name, password in passwords.items():
            s = Session(server.url)
            s.login(name, password)
            sessions.append(s)
        _, raw = sessions[0].request("GET", "/_dash-dependencies")
        deps = json.loads(raw)
        pages = page_callbacks(deps)
        rows_dep = next(d for d in deps if any(i["property"] == "getRowsRequest" for i in d["inputs"]))
        if not all(pages.values()):
            raise RuntimeError(f"no filter callbacks found for a page: { {k: len(v) for k, v in pages.items()} }")
        warm = argparse.Namespace(**{**vars(args), "phase_seconds": args.warmup_seconds})
        run_phase("warm-up", server, sessions, pages, rows_dep, warm, token, None)
        idle = run_phase("idle", server, sessions, pages, rows_dep, args, token, None)
        load = run_phase("ingest", server, sessions, pages, rows_dep, args, token, bodies)
    finally:
        stop_server(server)
    ratio = load["p95_ms"] / idle["p95_ms"] if idle["p95_ms"] else float("nan")
    summary = {
        "events": args.events,
        "sessions": args.sessions,
        "cores": os.cpu_count(),
        "callbacks_per_page": {k: len(v) + (1 if k == "Explorer" else 0) for k, v in pages.items()},
        "phases": [idle, load],
        "p95_ratio": round(ratio, 2),
        "rate_share": round(load["rate_achieved"] / args.rate, 3),
        "targets_met": {
            "rate >= 98 %": load["rate_achieved"] >= 0.98 * args.rate,
            "p95 ratio <= 2": ratio <= 2,
            "no errors": idle["errors"] + load["errors"] == 0,
        },
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"{args.events:,} events, {args.sessions} sessions, {os.cpu_count()} cores; "
        f"phases of {args.phase_seconds:.0f} s; ingest {args.rate:,} events/s in batches of {args.batch}"
    )
    print(
        f"{'phase':<8}{'callbacks':>10}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'errors':>8}"
        f"{'server CPU s':>14}  load average"
    )
    for ph in (idle, load):
        print(
            f"{ph['phase']:<8}{ph['callbacks']:>10}{ph['p50_ms']:>9}{ph['p95_ms']:>9}{ph['max_ms']:>9}{ph['errors']:>8}"
            f"{ph['server_cpu_s']:>14}  {ph['loadavg_start']} -> {ph['loadavg_end']}"
        )
    for ph in (idle, load):
        print(f"{ph['phase']:<8}p95 by page (ms): " + ", ".join(f"{k} {v}" for k, v in ph["p95_by_page_ms"].items()))
    print(f"p95 under ingest / idle: {ratio:.2f} (target <= 2)")
    print(
        f"ingest: {load['rate_achieved']:,} of {args.rate:,} events/s asked "
        f"({summary['rate_share']:.1%}; target >= 98 %), "
        f"{load['batches_posted']} POSTs, p50 {load['post_p50_ms']} ms, p95 {load['post_p95_ms']} ms"
    )
    for ph in (idle, load):
        for text in ph["error_samples"]:
            print(f"error ({ph['phase']}): {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
