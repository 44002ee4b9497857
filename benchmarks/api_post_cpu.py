"""CPU seconds per API POST: the fixed cost of validating and storing a small batch.

Builds the app in-process over a fresh database, then sends `--posts` POST /api/v1/events of
`--events` events each through Flask's test client and counts CPU seconds (`time.process_time`,
every thread of the process). Detection is left out (its listener is removed) so that only the
request's own work is counted; validation and storing are also timed on their own, by calling
the Ingestor as the API does.

    .venv/bin/python -m benchmarks.api_post_cpu --posts 1000 --events 200
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from dashboard.access.tokens import create_token
from dashboard.config import Settings
from dashboard.store.db import Database
from dashboard.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent


def docs(n: int, start: int) -> list[dict[str, Any]]:
    """`n` valid events with ids from `start`."""
    out = []
    for i in range(n):
        k = start + i
        out.append(
            {
                "id": f"bench-{k}",
                "occurred_at": f"2026-05-01T{k // 3600 % 24:02d}:{k // 60 % 60:02d}:{k % 60:02d}Z",
                "account_id": "acme",
                "action": "auth.login" if i % 4 else "conversation.view",
                "outcome": "failure" if i % 5 == 0 else "success",
                "actor": {"id": f"u{i % 40}", "name": "Ana Souza", "email": "ana@example.com", "role": "agent"},
                "ip": f"8.8.{i % 200}.{i % 250}",
                "user_agent": "Mozilla/5.0",
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.duckdb")
        app = create_app(Settings(db_path=db.path, geo_dir=ROOT / "data" / "geo", reports_dir=Path(tmp) / "r"), db)
        st = app.server.extensions["auditdash"]
        st.ingestor.listeners.clear()  # no detection runs: the request's own work only
        _, token = create_token(db, "bench")
        client = app.server.test_client()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        bodies = [json.dumps(docs(args.events, k * args.events)).encode() for k in range(args.posts)]
        # warm up (first statements, caches)
        for k in range(5):
            client.post("/api/v1/events", data=json.dumps(docs(args.events, 10**8 + k * args.events)), headers=headers)
        cpu = time.process_time()
        wall = time.perf_counter()
        for body in bodies:
            reply = client.post("/api/v1/events", data=body, headers=headers)
            assert reply.status_code == 200, reply.get_data(as_text=True)
        post_cpu, post_wall = time.process_time() - cpu, time.perf_counter() - wall
        # validation alone, then storing alone (new ids), as the API calls them
        records = [
            [(i, json.dumps(d)) for i, d in enumerate(docs(args.events, 2 * 10**8 + k * args.events))]
            for k in range(args.posts // 4)
        ]
        cpu = time.process_time()
        checked = [st.ingestor.validate(r) for r in records]
        validate_cpu = (time.process_time() - cpu) / len(records)
        cpu = time.process_time()
        for c in checked:
            st.ingestor.store(c, "api:bench", "index")
        store_cpu = (time.process_time() - cpu) / len(records)
        print(
            json.dumps(
                {
                    "posts": args.posts,
                    "events_per_post": args.events,
                    "cpu_s_total": round(post_cpu, 2),
                    "cpu_ms_per_post": round(1000 * post_cpu / args.posts, 1),
                    "wall_ms_per_post": round(1000 * post_wall / args.posts, 1),
                    "validate_cpu_ms": round(1000 * validate_cpu, 1),
                    "store_cpu_ms": round(1000 * store_cpu, 1),
                }
            )
        )
        db.close()


if __name__ == "__main__":
    main()
