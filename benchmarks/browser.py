"""What a user waits for in a real browser: from the click or key that commits a filter to the last
change of the page, on Overview, Security and Explorer, and a page's first load.

A real `auditdash serve` (on 127.0.0.1, over a copy of a bench store made by
`benchmarks/bench_data.py`) and headless Chromium (Playwright, `/usr/bin/chromium`, 1440x900),
signed in as an administrator.

How a filter change is timed (all in the page, with the page's own clock):

* t0: the `pointerdown`, or the Enter/Escape `keydown`, that commits the filter (a capturing
  listener armed just before it; `event.timeStamp`).
* The page's content changes: any DOM mutation inside the page container (`#_pages_content`,
  text, nodes or attributes, except Dash's own `data-dash-is-loading` marker and an attribute set
  and set back before the next frame, i.e. before the page is drawn again; on an ancestor of the
  container, its attributes or the container itself coming or going, not a sibling branch such as
  the empty `_dash-loading-callback` div Dash adds to its root while callbacks run), and the content
  signature (the container's text plus each Plotly graph's trace types, names and data lengths),
  polled every animation frame.
* Settled: no `/_dash-update-component` request in flight, Dash's callback queue empty, no element
  marked `data-dash-is-loading`, and nothing changed for the quiet window (400 ms). t1 is the
  last change before that quiet window (so the window itself is not counted).
* The figure is t1 - t0; with it, how many callback requests (round trips) the commit made.
* Words for screen readers only (a live region, `aria-live`, that takes no room on the screen) are
  not the page's content: AG Grid announces the Explorer's row count there 200-250 ms after the
  rows are drawn, by its own debounce. The last change of such a region is reported apart ("read
  out ms", from t0).

A first load is timed from the navigation's start (`performance.timeOrigin`) to the last change of
the page container, the same way ("first load"), and to the first frame with useful content ("first
content": the page's title, no value still waiting, i.e. no "…" figure, no "Loading…" table, the
Explorer's count and first rows; charts are not waited for).

    .venv/bin/python benchmarks/browser.py                          # /work/bench/events-1m.duckdb
    .venv/bin/python benchmarks/browser.py --events 10000000 --repeat 3
    .venv/bin/python benchmarks/browser.py --db some.duckdb --pages overview,security
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BENCH_DIR = Path("/work/bench")
USER, PASSWORD = "bench-admin", "bench-admin-password-1"
PAGES = {"overview": "/", "security": "/security", "explorer": "/explorer"}
QUIET_MS = 400

#: installed in every document before its scripts run
PROBE = r"""
(() => {
  const B = window.__bench = {armed: false, t0: null, last: 0, inflight: 0, sig: '', changes: 0, requests: 0,
                              content: null, spoken: 0};
  const origFetch = window.fetch;
  window.fetch = function (input, init) {
    const url = typeof input === 'string' ? input : (input && input.url) || '';
    if (!url.includes('_dash-update-component')) return origFetch.apply(this, arguments);
    B.inflight += 1;
    B.requests += 1;
    return origFetch.apply(this, arguments).then(
      (r) => r.clone().arrayBuffer().then(() => { B.inflight -= 1; return r; }, () => { B.inflight -= 1; return r; }),
      (e) => { B.inflight -= 1; throw e; });
  };
  const commit = (e) => {
    if (!B.armed) return;
    if (e.type === 'keydown' && e.key !== 'Enter' && e.key !== 'Escape') return;
    B.armed = false; B.t0 = e.timeStamp;
  };
  window.addEventListener('pointerdown', commit, true);
  window.addEventListener('keydown', commit, true);
  B.arm = () => { B.armed = true; B.t0 = null; B.requests = 0; B.spoken = 0; };
  const container = () => document.getElementById('_pages_content');
  const touch = (at) => { B.last = at === undefined ? performance.now() : at; B.changes += 1; };
  // attribute changes inside the container waiting for the next frame: target -> name -> [old value, when]
  const attrs = new Map();
  const settleAttributes = () => {
    for (const [target, seen] of attrs) {
      for (const [name, [old, at]] of seen) {
        if (target.getAttribute(name) !== old) { touch(Math.max(B.last, at)); }
      }
    }
    attrs.clear();
  };
  // a live region that takes no room on the screen: words for screen readers only (AG Grid
  // announces the row count there 200-250 ms after the rows are drawn, by its own debounce);
  // its changes are timed apart (B.spoken), not as the page's content
  const silentRegion = (e) => {
    const live = e && e.closest && e.closest('[aria-live]');
    if (!live) return null;
    const box = live.getBoundingClientRect();
    return box.width <= 1 || box.height <= 1 ? live : null;
  };
  const unseen = (node) => {
    let e = node;
    while (e && e.nodeType !== 1) e = e.parentNode;
    if (!silentRegion(e)) return false;
    B.spoken = performance.now();
    return true;
  };
  const observer = new MutationObserver((records) => {
    const c = container();
    if (!c) return;
    for (const r of records) {
      if (r.type === 'attributes' && r.attributeName === 'data-dash-is-loading') continue;
      if (r.type === 'attributes' && c.contains(r.target) && !unseen(r.target)) {
        // judged at the next frame: an attribute set and set back before the page is drawn again
        // (dcc.Graph marks a chart "pending" while plotly.js answers a resize, at once when the size
        // is the chart's own) is no change
        if (!attrs.has(r.target)) attrs.set(r.target, new Map());
        const seen = attrs.get(r.target);
        if (!seen.has(r.attributeName)) seen.set(r.attributeName, [r.oldValue, performance.now()]);
        continue;
      }
      if (c.contains(r.target)) {
        if (!unseen(r.target)) { touch(); return; }
        continue;
      }
      if (!r.target.contains(c)) continue;
      // an ancestor of the container: its attributes, or the container (or a branch holding it)
      // coming or going; not a sibling branch coming or going (Dash's loading marker, an empty
      // div it adds to the root while callbacks run and removes after the last one)
      if (r.type !== 'childList') { touch(); return; }
      for (const n of [...r.addedNodes, ...r.removedNodes]) {
        if (n === c || (n.contains && n.contains(c)) || (n.querySelector && n.querySelector('#_pages_content'))) {
          touch(); return;
        }
      }
    }
  });
  const start = () => observer.observe(document.documentElement, {subtree: true, childList: true,
                                                                   characterData: true, attributes: true,
                                                                   attributeOldValue: true});
  if (document.documentElement) start(); else document.addEventListener('DOMContentLoaded', start);
  const signature = () => {
    const c = container();
    if (!c) return '';
    let text = c.textContent;
    for (const live of c.querySelectorAll('[aria-live]')) {
      if (silentRegion(live) === live && live.textContent) text = text.replace(live.textContent, '');
    }
    const parts = [text];
    for (const g of c.querySelectorAll('.js-plotly-plot')) {
      for (const t of (g.data || [])) {
        const n = (t.x || t.z || t.lat || t.locations || t.values || t.y || []).length;
        parts.push(`${t.type}|${t.name}|${n}`);
      }
    }
    return parts.join('\u0001');
  };
  // useful content: the page's title, and no value still waiting (a figure's "…", a table's
  // "Loading…", the Explorer's count and first rows); charts are not waited for
  const WAITING = '.ad-stat-value, .ex-total, .ad-empty, .ex-grid-wait, .ag-overlay-loading-center';
  const useful = () => {
    const c = container();
    if (!c || !c.querySelector('h1')) return false;
    for (const e of c.querySelectorAll(WAITING)) {
      const t = e.textContent.trim();
      if (t === '…' || t.startsWith('Loading')) return false;
    }
    // the Explorer's rows: its grid is drawn only once AG Grid's code has loaded (until then
    // there is no `.ex-grid` at all), so the page counts as useful only with a row or "no rows"
    if (!c.querySelector('.ex-page')) return true;
    const grid = c.querySelector('.ex-grid');
    return grid !== null && grid.querySelector('.ag-row .ag-cell, .ag-overlay-no-rows-center') !== null;
  };
  const frame = () => {
    settleAttributes();
    const s = signature();
    if (s !== B.sig) { B.sig = s; touch(); }
    if (B.content === null && useful()) B.content = performance.now();
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  B.pending = () => {
    let n = B.inflight;
    try {
      const cb = window.store.getState().callbacks;
      for (const k of ['requested', 'prioritized', 'blocked', 'executing', 'watched', 'executed', 'stored']) {
        n += (cb[k] || []).length;
      }
    } catch (e) { /* the renderer is not up yet */ }
    return n + document.querySelectorAll('[data-dash-is-loading="true"]').length;
  };
  B.settled = (quiet, since) => {
    const now = performance.now();
    return B.pending() === 0 && now - Math.max(B.last, since) >= quiet && container() !== null;
  };
})();
"""


@dataclass
class Result:
    """The timings of one page and filter."""

    page: str
    what: str
    ms: list[float] = field(default_factory=list)
    missed: int = 0  # commits after which nothing on the page changed
    requests: list[int] = field(default_factory=list)  # callback requests (round trips) per commit
    spoken: list[float] = field(default_factory=list)  # ms to the last change of a screen reader's live region


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tree: Path) -> dict[str, str]:
    # the scheduled chain check and detection would run over the whole store at start, in the
    # same process: the pages are measured, not those jobs (benchmarks/integrity.py, detect.py)
    return {
        **os.environ,
        "AUDITDASH_GEO_DIR": str(ROOT / "data" / "geo"),
        "PYTHONPATH": str(tree),
        "AUDITDASH_VERIFY_INTERVAL_S": "0",
        "AUDITDASH_DETECT_INTERVAL_S": "0",
    }


def _cli(tree: Path, *args: str, input_text: str | None = None) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", *args],
        cwd=tree,
        env=_env(tree),
        input=input_text,
        text=True,
        capture_output=True,
    )
    if proc.returncode:
        raise SystemExit(f"auditdash {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")


def bench_store(events: int) -> Path:
    """The shared bench store of `events` events (made once by bench_data.py)."""
    path = (
        BENCH_DIR / f"events-{events // 1_000_000}m.duckdb"
        if events % 1_000_000 == 0
        else (BENCH_DIR / f"events-{events}.duckdb")
    )
    if not path.exists():
        from benchmarks.bench_data import generate

        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        print(f"generating {events:,} events in {path} ...", flush=True)
        print(f"  {generate(path, events):.0f} s", flush=True)
    return path


def _writable(db: Path) -> None:
    """Let the copy of an older bench store take writes (signing in records to the audit log).

    `bench_data.py` now links its events into a valid chain (nothing to do then); stores it made
    before hold them as batch 1 without a chain record, so the first written batch would take batch
    id 1 too. A placeholder record of that batch makes the next one batch 2 (its chain is not checked).
    """
    import duckdb

    con = duckdb.connect(str(db))
    try:
        if con.execute("SELECT count(*) FROM chain_batches").fetchone() == (0,):
            n = con.execute("SELECT count(*), coalesce(max(seq), 0) FROM events").fetchone() or (0, 0)
            if n[0]:
                con.execute(
                    "INSERT INTO chain_batches VALUES (1, 1, ?, ?, now()::TIMESTAMP, 'bench', '', '', '', 2, 0, "
                    "NULL, NULL, NULL)",
                    [n[1], n[0]],
                )
                con.execute("CHECKPOINT")
    finally:
        con.close()


class Server:
    """`auditdash serve` over a private copy of a store (the server owns its file)."""

    def __init__(self, source: Path, tmp: Path, tree: Path = ROOT) -> None:
        db = tmp / "bench.duckdb"
        shutil.copyfile(source, db)
        wal = source.with_name(source.name + ".wal")
        if wal.exists():
            shutil.copyfile(wal, db.with_name(db.name + ".wal"))
        _writable(db)
        _cli(
            tree,
            "users",
            "add",
            USER,
            "--role",
            "admin",
            "--password-stdin",
            "--db",
            str(db),
            input_text=PASSWORD + "\n",
        )
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = (tmp / "server.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard.cli", "serve", "--port", str(port), "--no-demo", "--db", str(db)],
            cwd=tree,
            env=_env(tree),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited: see {tmp / 'server.log'}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2):  # noqa: S310 (http://127.0.0.1 only)
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        raise SystemExit("the server did not answer within 300 s")

    def stop(self) -> None:
        """Stop the server started here (by its process, nothing else)."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def settle(page: Page, since: float, quiet: int = QUIET_MS, timeout_s: float = 60) -> float:
    """Wait until the page is quiet; return the time of its last change (page clock, ms)."""
    page.wait_for_function(f"window.__bench.settled({quiet}, {since})", polling=50, timeout=timeout_s * 1000)
    return float(page.evaluate("window.__bench.last"))


def measure(
    page: Page, action: Callable[[Page], None], arming: Callable[[Page], None] | None = None
) -> tuple[float | None, int]:
    """Run `arming` (unmeasured: opening a dropdown, typing), then `action` (the commit).

    Returns the ms to the last change (None: nothing changed), the callback requests the commit made,
    and the ms to the last change of a screen reader's live region (None: none changed).
    """
    if arming is not None:
        arming(page)
    settle(page, 0, quiet=150)  # whatever the arming did has finished
    before = page.url
    page.evaluate("window.__bench.arm()")
    action(page)
    t0 = page.evaluate("window.__bench.t0")
    if t0 is None:
        raise RuntimeError("the commit was not seen (no pointerdown/Enter/Escape reached the page)")
    last = settle(page, float(t0))
    if page.url == before:
        raise RuntimeError(f"the filter did not change the view (still {before})")
    requests = int(page.evaluate("window.__bench.requests"))
    spoken = float(page.evaluate("window.__bench.spoken"))
    return (last - float(t0) if last > t0 else None), requests, (spoken - float(t0) if spoken > t0 else None)


# -- the filters, as a person sets them in the sidebar ----------------------------------------------------
def preset(key: str) -> Callable[[Page], None]:
    def act(page: Page) -> None:
        page.click(f"#f-preset label:has-text('{key.replace('h', ' h').replace('d', ' d')}')")

    return act


def _search(page: Page, control: str, text: str) -> None:
    """Open a sidebar dropdown and type into its search box."""
    page.click(f"#{control}")
    page.fill(".dash-dropdown-content .dash-dropdown-search", text)


def pick(control: str, text: str, option: str) -> Callable[[Page], None]:
    """Open a multi-select, search, tick an option (it applies when the list closes)."""

    def arm(page: Page) -> None:
        _search(page, control, text)
        page.locator(f".dash-dropdown-options >> text={option}").first.click(timeout=20_000)

    return arm


def close_list(page: Page) -> None:
    """Close an open list by a click beside it (on the sidebar's title): the multi-selects apply on close."""
    page.click("#sidebar h2")


def enter(page: Page) -> None:
    page.keyboard.press("Enter")


def clear_all(page: Page) -> None:
    page.click("#f-clear")


def ip_arm(block: str) -> Callable[[Page], None]:
    def arm(page: Page) -> None:
        page.fill("#f-ip", block)

    return arm


def zone(name: str) -> tuple[Callable[[Page], None], Callable[[Page], None]]:
    """Open the zone list and search (unmeasured); the commit is the click on the zone."""

    def arm(page: Page) -> None:
        _search(page, "f-tz", name.split("/")[-1])

    def act(page: Page) -> None:
        page.locator(f".dash-dropdown-options >> text={name}").first.click(timeout=20_000)

    return arm, act


def outcome(label: str) -> Callable[[Page], None]:
    def act(page: Page) -> None:
        page.click(f"#f-outcome label:has-text('{label}')")

    return act


def custom_range(first: int, last: int) -> tuple[Callable[[Page], None], Callable[[Page], None]]:
    """Open the calendar, pick a first day; the commit is the click on the last day."""
    days = ".dash-datepicker-calendar-date-inside"

    def arm(page: Page) -> None:
        page.click("#f-dates")
        page.locator(days).nth(first).click()

    def act(page: Page) -> None:
        page.locator(days).nth(last).click()

    return arm, act


def scenarios(repeat: int) -> list[tuple[str, Callable[[Page], None] | None, Callable[[Page], None]]]:
    """(label, arming, commit) in the order they run; "clear all" returns to the default view."""
    steps: list[tuple[str, Callable[[Page], None] | None, Callable[[Page], None]]] = []
    orders = [["24h", "90d", "7d", "30d"], ["30d", "24h", "90d", "7d"], ["90d", "30d", "7d", "24h"]]
    zones = ["Asia/Kolkata", "Asia/Tokyo", "Europe/Paris"]
    for i in range(repeat):
        for key in orders[i % len(orders)]:
            steps.append((f"date {key}", None, preset(key)))
        arm, act = custom_range(3 + i, 12 + 2 * i)
        steps.append(("date custom", arm, act))
        steps.append(("clear all", None, clear_all))
        steps.append(("user", pick("f-users", f"Agent {3 + i} Ex", f"Agent {3 + i} Example"), close_list))
        steps.append(("clear all", None, clear_all))
        steps.append(("action type", pick("f-actions", "auth.login", "auth.login"), close_list))
        steps.append(("clear all", None, clear_all))
        steps.append(("outcome", None, outcome("Failure")))
        steps.append(("clear all", None, clear_all))
        steps.append(("country", pick("f-countries", "Germany", "Germany"), close_list))
        steps.append(("clear all", None, clear_all))
        steps.append(("address block", ip_arm("86.154.0.0/16"), enter))
        steps.append(("clear all", None, clear_all))
        arm, act = zone(zones[i % len(zones)])
        steps.append(("time zone", arm, act))  # (clearing keeps the zone: the next round picks another)
    return steps


def login(page: Page, url: str) -> None:
    page.goto(url + "/login")
    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(lambda u: "/login" not in u, timeout=120_000)


def first_load(page: Page, url: str) -> tuple[float, float | None]:
    """Navigation start to the last change of the page container, and to its useful content (ms)."""
    page.goto(url, wait_until="commit")
    last = settle(page, 0, timeout_s=120)
    content = page.evaluate("window.__bench.content")
    return last, (float(content) if content is not None else None)


def run(url: str, pages: list[str], repeat: int, loads: int) -> list[Result]:
    results: dict[tuple[str, str], Result] = {}

    def add(
        page_name: str, what: str, ms: float | None, requests: int | None = None, spoken: float | None = None
    ) -> None:
        r = results.setdefault((page_name, what), Result(page_name, what))
        if requests is not None:
            r.requests.append(requests)
        if spoken is not None:
            r.spoken.append(spoken)
        if ms is None:
            r.missed += 1
        else:
            r.ms.append(ms)

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
        )
        context = browser.new_context(
            viewport={"width": 1440, "height": 900}, bypass_csp=True
        )  # the probe is evaluated JavaScript
        context.set_default_timeout(60_000)
        context.add_init_script(PROBE)
        page = context.new_page()
        login(page, url)
        for name in pages:
            for _ in range(loads):
                page.goto("about:blank")
                last, content = first_load(page, url + PAGES[name] + "?preset=7d")
                add(name, "first load", last)
                add(name, "first content", content)
            for what, arm, act in scenarios(repeat):
                try:
                    add(name, what, *measure(page, act, arm))
                except Exception as exc:  # one failed step is reported, the run goes on
                    print(f"  {name} {what}: {type(exc).__name__}: {str(exc).splitlines()[0]}", flush=True)
                    add(name, what, None)
                    page.goto(url + PAGES[name] + "?preset=7d")
                    settle(page, 0, timeout_s=120)
        browser.close()
    return list(results.values())


def table(results: list[Result]) -> str:
    lines = [
        "| page | filter | median ms | worst ms | n | no change | requests | read out ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        med = f"{statistics.median(r.ms):,.0f}" if r.ms else "—"
        worst = f"{max(r.ms):,.0f}" if r.ms else "—"
        trips = f"{statistics.median(r.requests):g}" if r.requests else ""
        spoken = f"{statistics.median(r.spoken):,.0f}" if r.spoken else ""
        lines.append(f"| {r.page} | {r.what} | {med} | {worst} | {len(r.ms)} | {r.missed or ''} | {trips} | {spoken} |")
    return "\n".join(lines)


def summary(results: list[Result]) -> str:
    lines = []
    for name in dict.fromkeys(r.page for r in results):
        changes = [ms for r in results if r.page == name and not r.what.startswith("first ") for ms in r.ms]
        loads = [ms for r in results if r.page == name and r.what == "first load" for ms in r.ms]
        content = [ms for r in results if r.page == name and r.what == "first content" for ms in r.ms]
        first = (
            f"first load median {statistics.median(loads):,.0f} ms, worst {max(loads):,.0f} ms"
            + (f" (useful content median {statistics.median(content):,.0f} ms)" if content else "")
            if loads
            else ""
        )
        trips = [n for r in results if r.page == name for n in r.requests]
        if changes:
            lines.append(
                f"{name}: filter changes median {statistics.median(changes):,.0f} ms, worst {max(changes):,.0f} ms "
                f"(n={len(changes)}, callback requests per change median {statistics.median(trips):g}, "
                f"max {max(trips)}); {first}"
            )
        elif first:
            lines.append(f"{name}: {first}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, help="a bench store (default: /work/bench/events-<N>.duckdb, made if absent)")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--pages", default="overview,security,explorer")
    ap.add_argument("--repeat", type=int, default=2, help="rounds of every filter (default 2)")
    ap.add_argument("--loads", type=int, default=3, help="first loads per page (default 3)")
    ap.add_argument("--tree", type=Path, default=ROOT, help="the source tree the server runs (default: this one)")
    args = ap.parse_args()
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = [p for p in pages if p not in PAGES]
    if unknown:
        raise SystemExit(f"unknown page(s) {unknown}: choose from {sorted(PAGES)}")
    source = args.db or bench_store(args.events)
    print(f"store {source}, load average before {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="auditdash-browser-") as tmp:
        server = Server(source, Path(tmp), args.tree.resolve())
        try:
            started = time.perf_counter()
            results = run(server.url, pages, args.repeat, args.loads)
            took = time.perf_counter() - started
        finally:
            server.stop()
    print(table(results))
    print()
    print(summary(results))
    print(f"load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {took:.0f} s")


if __name__ == "__main__":
    main()
