"""Streaming out over syslog to a real rsyslogd (Debian's `rsyslog`, `rsyslog-gnutls`; installed by
`make system-test-deps`): RFC 5424 over TLS with octet-counting framing (imtcp with the gtls driver
and a CA made here with `cryptography`) and over UDP (imudp), written to a file this test reads.
rsyslogd runs as a child of the test on 127.0.0.1 and free ports, and is stopped by its PID; it
is killed while the log goes on and brought back.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dashboard.store.db import Database
from dashboard.stream.destinations import load_destinations
from dashboard.stream.service import StreamService
from tests.conftest import free_port
from tests.test_stream import cursor, events, head, ingest, stored_ids, wait_for

RSYSLOGD = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None)
GTLS = any(
    Path(p).exists() for p in ("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so", "/usr/lib/rsyslog/lmnsd_gtls.so")
)
pytestmark = pytest.mark.skipif(
    RSYSLOGD is None or not GTLS,
    reason="rsyslogd with the gtls driver is not installed (make system-test-deps: rsyslog rsyslog-gnutls)",
)

#: RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG
LINE = re.compile(
    r"^<(?P<pri>\d+)>1 (?P<ts>\S+) (?P<host>\S+) auditdash (?P<pid>\d+) (?P<msgid>\S+) "
    r'\[auditdash@32473 id="(?P<id>[^"]*)" seq="(?P<seq>\d+)"\] (?P<msg>.*)$'
)


def make_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1, valid for a day (PEM files)."""
    now = dt.datetime.now(dt.UTC)

    def build(subject: str, issuer: x509.Name, public: Any, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            usage = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
            builder = builder.add_extension(usage, critical=True)
        else:
            names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "auditdash test CA")])
    ca = build("auditdash test CA", ca_name, ca_key.public_key(), ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build("127.0.0.1", ca_name, key.public_key(), ca_key, False)
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@dataclass
class Rsyslog:
    """rsyslogd listening on 127.0.0.1: TLS on `tls_port`, UDP on `udp_port`, writing `out`."""

    folder: Path
    tls_port: int
    udp_port: int
    ca: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def out(self) -> Path:
        return self.folder / "received.log"

    def start(self) -> None:
        cert, key = self.folder / "server.pem", self.folder / "server.key"
        conf = self.folder / "rsyslog.conf"
        conf.write_text(
            f"""
global(workDirectory="{self.folder}" maxMessageSize="256k"
       DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="{self.ca}"
       DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" port="{self.tls_port}" address="127.0.0.1")
module(load="imudp")
input(type="imudp" port="{self.udp_port}" address="127.0.0.1")
template(name="whole" type="string" string="%rawmsg%\\n")
action(type="omfile" file="{self.out}" template="whole" flushOnTXEnd="on" asyncWriting="off")
"""
        )
        pidfile = self.folder / "rsyslogd.pid"
        log = (self.folder / "rsyslogd.stderr").open("ab")
        self.proc = subprocess.Popen(
            [str(RSYSLOGD), "-n", "-f", str(conf), "-i", str(pidfile)], stdout=log, stderr=log, cwd=self.folder
        )
        log.close()

        def listening() -> bool:
            assert self.proc is not None and self.proc.poll() is None, (self.folder / "rsyslogd.stderr").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.tls_port), timeout=1).close()
            except OSError:
                return False
            return True

        wait_for("rsyslogd to listen", listening, timeout=30)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)

    def lines(self) -> list[dict[str, Any]]:
        """Each received message: its header fields and the message text."""
        if not self.out.exists():
            return []
        found = []
        for raw in self.out.read_text(encoding="utf-8").splitlines():
            match = LINE.match(raw)
            assert match is not None, f"not an RFC 5424 message of auditdash: {raw[:200]!r}"
            found.append(match.groupdict())
        return found


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Rsyslog]:
    ca, _cert, _key = make_ca(tmp_path)
    server = Rsyslog(tmp_path, free_port(), free_port(), ca)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def service_for(db: Database, tmp_path: Path, *destinations: dict[str, Any]) -> StreamService:
    path = tmp_path / "streams.yaml"
    path.write_text(json.dumps({"destinations": list(destinations)}))  # YAML is a superset of JSON
    service = StreamService(db, load_destinations(path), backoff_max_s=0.3)
    service.sync_config()
    return service


def test_tls_octet_counted_through_a_receiver_outage(db_path: Path, rsyslog: Rsyslog, tmp_path: Path) -> None:
    tls = {
        "name": "siem",
        "kind": "syslog",
        "transport": "tls",
        "host": "127.0.0.1",
        "port": rsyslog.tls_port,
        "ca_file": str(rsyslog.ca),
        "start": "beginning",
        "batch_size": 50,
        "filter": "accounts=acme",
    }
    with Database(db_path) as db:
        ingest(db, events("a", 120, outcome="failure", reason="bad password"))
        service = service_for(db, tmp_path, tls)
        service.start(interval_s=0.05)
        try:
            wait_for("120 messages in rsyslog's file", lambda: len(rsyslog.lines()) >= 120)
            wait_for("the cursor at the head", lambda: cursor(db, "siem") == head(db))
            rsyslog.stop()  # the receiver dies; the log goes on
            ingest(db, events("b", 80))
            wait_for("a failed attempt", lambda: service.status()[0].last_error is not None)
            said = service.status()[0].last_error or ""
            assert said.startswith(f"stream siem (syslog+tls://127.0.0.1:{rsyslog.tls_port}): ")
            assert cursor(db, "siem") < head(db)
            rsyslog.start()
            wait_for("every event delivered", lambda: cursor(db, "siem") == head(db))
            wait_for("200 distinct events in the file", lambda: len({m["id"] for m in rsyslog.lines()}) >= 200)
        finally:
            service.stop()
        expected = [i for i in stored_ids(db) if i.startswith(("a-", "b-"))]
    received = rsyslog.lines()
    firsts = list(dict.fromkeys(m["id"] for m in received))
    assert firsts == expected  # every event, in log order
    seqs = [int(m["seq"]) for m in received]
    assert [s for i, s in enumerate(seqs) if s not in seqs[:i]] == sorted(set(seqs))
    for m in received:
        body = json.loads(m["msg"])
        assert (body["id"], body["stored"]["seq"]) == (m["id"], int(m["seq"]))  # the SD repeats the body's id and seq
        assert m["msgid"] == body["action"] == "auth.login"
        assert m["ts"] == body["occurred_at"]
    failed = [m for m in received if m["id"].startswith("a-")]
    assert {m["pri"] for m in failed} == {str(13 * 8 + 4)}  # log audit, warning (a failure)
    assert {m["pri"] for m in received if m["id"].startswith("b-")} == {str(13 * 8 + 6)}  # informational


def test_cef_over_tls_and_ocsf_over_udp(db_path: Path, rsyslog: Rsyslog, tmp_path: Path) -> None:
    common = {"kind": "syslog", "host": "127.0.0.1", "start": "beginning", "filter": "accounts=acme"}
    with Database(db_path) as db:
        ingest(
            db,
            events(
                "c",
                20,
                action="agent.role_change",
                target={"type": "user", "id": "u9", "name": "Bo | Admin = yes"},
                changes={"role": ["agent", "administrator"]},
            ),
        )
        service = service_for(
            db,
            tmp_path,
            {
                **common,
                "name": "cef",
                "transport": "tls",
                "port": rsyslog.tls_port,
                "ca_file": str(rsyslog.ca),
                "format": "cef",
            },
            {**common, "name": "udp", "transport": "udp", "port": rsyslog.udp_port, "format": "ocsf"},
        )
        assert service.deliver_batch("cef") == 20
        assert service.deliver_batch("udp") == 20
        service.stop()
        ids = stored_ids(db)[:20]
    wait_for("40 messages", lambda: len(rsyslog.lines()) >= 40)
    received = rsyslog.lines()
    cef = [m for m in received if m["msg"].startswith("CEF:0|")]
    ocsf = [json.loads(m["msg"]) for m in received if m["msg"].startswith("{")]
    assert [m["id"] for m in cef] == ids
    first = cef[0]["msg"]
    header = re.split(r"(?<!\\)\|", first)
    assert header[:5] == ["CEF:0", "auditdash", "auditdash", header[3], "agent.role_change"]
    assert f"externalId={ids[0]} " in first and f"cn1Label=seq cn1={cef[0]['seq']} " in first
    assert r"duser=Bo | Admin \= yes" in first and "src=8.8.8.8" in first
    assert sorted(d["metadata"]["uid"] for d in ocsf) == sorted(ids)  # UDP keeps no order promise
    assert {(d["class_uid"], d["activity_id"]) for d in ocsf} == {(3005, 1)}
    assert all(d["user"]["name"] == "Bo | Admin = yes" for d in ocsf)
