"""`auditdash serve`: the dashboard and the API in one process (seeding demo data on the first start)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from dashboard.cli.common import EXIT_OK, existing_target, settings_from, warn, warn_geo

#: how long the shutdown waits for background work (a detection run, a pack) to finish.
SHUTDOWN_WAIT_S = 60.0


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add `serve`."""
    p = sub.add_parser("serve", parents=[common], help="serve the dashboard and the API")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8050)")
    p.add_argument("--no-demo", action="store_true", help="do not seed demo data on first start")
    p.set_defaults(func=cmd_serve)


def _stop_serving(signum: int, _frame: Any) -> None:
    """SIGTERM: leave the server's loop the way Ctrl+C does, so it closes its socket itself.

    Closing the socket inside the handler would pull it from under the loop's `select`
    (Bad file descriptor) and end the process with a traceback.
    """
    raise KeyboardInterrupt(f"signal {signum}")


def _check_address(host: str, port: int) -> None:
    """Refuse (ConfigError) a port that is no TCP port or a host this machine cannot bind by name."""
    import socket

    from dashboard.config import ConfigError

    if not 1 <= port <= 65_535:
        raise ConfigError(f"port {port} is not between 1 and 65535 (--port, AUDITDASH_PORT)")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(
            f"cannot listen on {host!r}: not an address or a known host name (--host, AUDITDASH_HOST)"
        ) from exc


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the dashboard and the API (seeding demo data on the first start)."""
    import atexit

    from waitress.server import create_server

    from dashboard.access.users import ensure_first_admin
    from dashboard.cli.demo import seed_demo
    from dashboard.cli.users import print_first_admin
    from dashboard.store.backend.postgres import redacted
    from dashboard.store.db import Database, server_info_path, write_server_info
    from dashboard.web.app import create_app
    from dashboard.web.components.status import reports_problem

    settings = settings_from(args).with_overrides(host=args.host, port=args.port)
    _check_address(settings.host, settings.port)  # before anything is opened or created
    is_default = settings.db_path == settings.default_db
    created = not settings.db_path.exists()
    db = Database(existing_target(settings, create=True))
    if created and is_default and not args.no_demo:
        print(f"First start: seeding {settings.db_path} with demo data (use --no-demo to skip) ...")
        seed_demo(db, settings, events=settings.demo_events)
    first_password = ensure_first_admin(db)  # only when no user exists; never stored in the clear
    if first_password:
        print_first_admin(first_password)
    app = create_app(settings, db)
    warn_geo(app.server.extensions["auditdash"].geo)
    reports = reports_problem(settings.reports_dir)
    if reports:
        warn(reports)
    url = f"http://{settings.host}:{settings.port}/"
    info = write_server_info(settings.db_path, url)
    atexit.register(lambda: info.unlink(missing_ok=True))
    server = create_server(app.server, host=settings.host, port=settings.port, threads=settings.threads)
    scheduler = app.server.extensions["auditdash"].scheduler
    scheduler.start()
    signal.signal(signal.SIGTERM, _stop_serving)
    shown = redacted(settings.db_url) if settings.db_url else settings.db_path  # never the password
    print(f"auditdash serving {shown} on {url} (Ctrl+C to stop)", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()  # waitress waits for its request threads (up to 5 s)
        scheduler.stop()
        unfinished = _stop_background(app.server)
        server_info_path(settings.db_path).unlink(missing_ok=True)
        db.close()
    if unfinished:
        # A thread still inside DuckDB when the interpreter finalises is torn down through DuckDB's
        # C++ frames, which aborts the process ("terminate called ... exception not rethrown").
        # Committed data is in the database and its write-ahead log; leave without finalising.
        print(f"stopped with background work unfinished ({', '.join(unfinished)}); stored data is safe", flush=True)
        sys.stderr.flush()
        os._exit(EXIT_OK)
    return EXIT_OK


def _stop_background(server: Any) -> list[str]:
    """Stop the pack queue and wait for detection and other work threads; the names still running."""
    import threading

    from dashboard.web.packs import SERVICE_KEY as PACKS_KEY
    from dashboard.web.services import DETECTION_KEY as DETECT_KEY

    deadline = time.monotonic() + SHUTDOWN_WAIT_S
    packs = server.extensions.get(PACKS_KEY)
    if packs is not None:
        packs.stop(timeout=SHUTDOWN_WAIT_S / 2)
    detection = server.extensions.get(DETECT_KEY)
    if detection is not None:
        detection.wait_idle(timeout=max(deadline - time.monotonic(), 0.1))
    # anything else (a scheduled job's run, a validation worker) gets a few seconds more
    deadline = min(deadline, time.monotonic() + 5.0)
    main = threading.main_thread()
    others = [t for t in threading.enumerate() if t is not main and t is not threading.current_thread()]
    for thread in others:
        thread.join(max(deadline - time.monotonic(), 0.01))
    return [t.name for t in others if t.is_alive()]
