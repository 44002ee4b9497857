"""Benchmark: streaming the log out, events/s per destination kind, and lag under steady ingest.

    .venv/bin/python -m benchmarks.stream                      # 50,000 events per kind, 30 s at 2,000 events/s
    .venv/bin/python -m benchmarks.stream --events 200000 --rate 2000 --seconds 60 --json

Receivers are real and run in processes of their own (their CPU does not count here): rsyslogd
(Debian's `rsyslog`, `rsyslog-gnutls`) on 127.0.0.1 with imtcp over TLS (gtls), plain imtcp and
imudp, writing what it receives to a file; and a Python `http.server` sink that answers 200 to
every POST (NDJSON or Splunk HEC bodies).

1. Throughput: `--events` stored events are delivered to each kind from a cursor of 0, batch
   after batch (`StreamService.deliver_batch`, batches of `--batch-size`), and timed to the last
   acknowledgement: events/s (wall) and this process's CPU seconds.
2. Lag: events are ingested at `--rate` events/s (batches every 100 ms through `Ingestor`, as the
   API would) for `--seconds`, while one HTTP NDJSON and one syslog TLS destination run on the
   server's schedule (a cycle a second); the lag (matching events not yet acknowledged, and the
   age of the oldest) is sampled every second: median, 95th percentile and maximum.

The load average is printed with the figures: on a shared machine, wall times depend on it.
Figures are recorded in docs/PERFORMANCE.md, "Streaming".
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dashboard.ingest.pipeline import Ingestor
from dashboard.store.db import Database
from dashboard.stream.destinations import destination_from
from dashboard.stream.service import StreamService

HTTP_SINK = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def make_ca(folder: Path) -> tuple[Path, Path, Path]:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def start_rsyslog(folder: Path, ports: dict[str, int]) -> subprocess.Popen[bytes]:
    rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    ca, cert, key = make_ca(folder)
    conf = folder / "rsyslog.conf"
    conf.write_text(
        f"""
global(workDirectory="{folder}" maxMessageSize="256k" DefaultNetstreamDriverCAFile="{ca}"
       DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}")
module(load="imtcp")
input(type="imtcp" port="{ports["tls"]}" address="127.0.0.1"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" port="{ports["tcp"]}" address="127.0.0.1")
module(load="imudp")
input(type="imudp" port="{ports["udp"]}" address="127.0.0.1")
template(name="idonly" type="string" string="%structured-data%\\n")
action(type="omfile" file="{folder / "received.log"}" template="idonly")
"""
    )
    proc = subprocess.Popen(
        [rsyslogd, "-n", "-f", str(conf), "-i", str(folder / "rsyslogd.pid")],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "rsyslogd.stderr").open("wb"),
    )
    wait_port(ports["tls"])
    wait_port(ports["tcp"])
    return proc


def synthetic(prefix: str, n: int, rng: random.Random) -> list[str]:
    actions = ["auth.login", "auth.logout", "conversation.assign", "agent.role_change", "label.create"]
    out = []
    base = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    for i in range(n):
        doc = {
            "id": f"{prefix}-{i}",
            "occurred_at": (base + dt.timedelta(milliseconds=i))
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "account_id": f"acme-{i % 3}",
            "action": rng.choice(actions),
            "outcome": "failure" if rng.random() < 0.05 else "success",
            "actor": {
                "id": f"u{i % 400}",
                "name": f"User {i % 400}",
                "email": f"u{i % 400}@example.com",
                "role": "agent",
            },
            "target": {"type": "conversation", "id": str(i), "name": f"Conversation {i}"},
            "ip": f"10.{i % 250}.{i % 200}.{i % 100 + 1}",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "changes": {"status": ["open", "resolved"]},
        }
        out.append(json.dumps(doc))
    return out


def store(ingestor: Ingestor, texts: list[str]) -> None:
    for start in range(0, len(texts), 10_000):
        part = texts[start : start + 10_000]
        ingestor.ingest_batch([(i, t) for i, t in enumerate(part)], "bench")


def kinds(ports: dict[str, int], ca: Path, batch: int) -> dict[str, dict[str, Any]]:
    http = f"http://127.0.0.1:{ports['http']}/in"
    syslog = {"kind": "syslog", "host": "127.0.0.1"}
    return {
        "http ndjson json": {"kind": "http", "url": http},
        "http ndjson ocsf": {"kind": "http", "url": http, "format": "ocsf"},
        "http hec json": {"kind": "http", "url": http, "envelope": "hec", "token_env": "BENCH_HEC_TOKEN"},
        "syslog tls json": {**syslog, "transport": "tls", "port": ports["tls"], "ca_file": str(ca)},
        "syslog tls cef": {**syslog, "transport": "tls", "port": ports["tls"], "ca_file": str(ca), "format": "cef"},
        "syslog tcp json": {**syslog, "transport": "tcp", "port": ports["tcp"]},
        "syslog udp json": {**syslog, "transport": "udp", "port": ports["udp"]},
    }


def throughput(db: Database, config: dict[str, dict[str, Any]], batch: int) -> dict[str, dict[str, float]]:
    out = {}
    for i, (label, raw) in enumerate(config.items()):
        name = f"t{i}"
        dest = destination_from({**raw, "name": name, "start": "beginning", "batch_size": batch}, Path("."), label)
        service = StreamService(db, [dest])
        service.sync_config()
        cpu, wall = time.process_time(), time.monotonic()
        sent = 0
        while True:
            n = service.deliver_batch(name)
            sent += n
            if n < batch:
                break
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        service.stop()
        out[label] = {
            "events": sent,
            "seconds": round(wall, 2),
            "events_per_s": round(sent / wall),
            "cpu_s": round(cpu, 2),
        }
        print(
            f"  {label:18s} {sent:>8,} events  {wall:6.2f} s  {sent / wall:>8,.0f} events/s  cpu {cpu:5.2f} s",
            flush=True,
        )
    return out


def lag(
    db: Database, ingestor: Ingestor, config: dict[str, dict[str, Any]], rate: int, seconds: int, batches_per_s: int
) -> dict[str, Any]:
    dests = [
        destination_from({**config["http ndjson json"], "name": "lag-http"}, Path("."), "lag-http"),
        destination_from({**config["syslog tls json"], "name": "lag-tls"}, Path("."), "lag-tls"),
    ]
    service = StreamService(db, dests)
    service.sync_config()
    service.start(interval_s=1.0)  # the server's schedule: a cycle a second
    stop = threading.Event()
    rng = random.Random(3)
    stored = [0]

    per_batch = max(1, rate // batches_per_s)
    ready = [synthetic(f"lag{step}", per_batch, rng) for step in range(seconds * batches_per_s + batches_per_s)]

    def feed() -> None:
        step = 0
        began = time.monotonic()
        while not stop.is_set() and step < len(ready):
            texts = ready[step]
            ingestor.ingest_batch([(i, t) for i, t in enumerate(texts)], "bench-api")
            stored[0] += len(texts)
            step += 1
            ahead = began + step / batches_per_s - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    feeder = threading.Thread(target=feed, daemon=True)
    began = time.monotonic()
    feeder.start()
    samples: dict[str, list[tuple[int, float]]] = {d.name: [] for d in dests}
    while time.monotonic() - began < seconds:
        time.sleep(1.0)
        for d in dests:
            got = service.measure_lag(d.name)
            samples[d.name].append((got.events, got.seconds))
    stop.set()
    feeder.join()
    elapsed = time.monotonic() - began
    service.stop()
    out: dict[str, Any] = {"ingested": stored[0], "ingest_per_s": round(stored[0] / elapsed)}
    print(f"  ingested {stored[0]:,} events in {elapsed:.1f} s: {stored[0] / elapsed:,.0f} events/s", flush=True)
    for name, values in samples.items():
        counts = sorted(v[0] for v in values)
        ages = sorted(v[1] for v in values)
        p95 = max(0, int(len(values) * 0.95) - 1)
        out[name] = {
            "lag_events_median": statistics.median(counts),
            "lag_events_p95": counts[p95],
            "lag_events_max": counts[-1],
            "lag_s_median": round(statistics.median(ages), 2),
            "lag_s_p95": round(ages[p95], 2),
            "lag_s_max": round(ages[-1], 2),
        }
        print(f"  {name}: {out[name]}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rate", type=int, default=2_000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--ingest-batches-per-s", type=int, default=2, help="ingest batches a second (API requests)")
    parser.add_argument("--lag-only", action="store_true", help="skip the throughput runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("BENCH_HEC_TOKEN", "bench-token")
    work = Path(tempfile.mkdtemp(prefix="auditdash-bench-stream-"))
    ports = {k: free_port() for k in ("tls", "tcp", "udp", "http")}
    rsyslog = start_rsyslog(work, ports)
    sink = subprocess.Popen([sys.executable, "-c", HTTP_SINK, str(ports["http"])])
    try:
        wait_port(ports["http"])
        config = kinds(ports, work / "ca.pem", args.batch_size)
        with Database(work / "bench.duckdb") as db, Ingestor(db, None, quarantine_max=100) as ingestor:
            result: dict[str, Any] = {}
            if not args.lag_only:
                print(f"storing {args.events:,} events ...", flush=True)
                store(ingestor, synthetic("t", args.events, random.Random(1)))
                print(f"throughput (batches of {args.batch_size}), load average {os.getloadavg()[0]:.2f}:", flush=True)
                result["throughput"] = throughput(db, config, args.batch_size)
            print(
                f"lag under {args.rate:,} events/s of ingest ({args.ingest_batches_per_s} batches a second) "
                f"for {args.seconds} s, load average {os.getloadavg()[0]:.2f}:",
                flush=True,
            )
            result["lag"] = lag(db, ingestor, config, args.rate, args.seconds, args.ingest_batches_per_s)
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
        result["cpus"] = os.cpu_count()
        print(f"load average at the end: {result['load_average']} ({result['cpus']} cores)")
        if args.json:
            print(json.dumps(result, indent=2))
    finally:
        sink.terminate()
        sink.wait(10)
        os.kill(rsyslog.pid, signal.SIGTERM)
        rsyslog.wait(20)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
