"""The filter model: URL round trip, untrusted input, SQL conditions on a real DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from dashboard.filters import Filters
from dashboard.store.db import Database
from dashboard.store.schema import events
from tests.conftest import event
from tests.test_store import store

NOW = datetime(2026, 5, 3, 12, 0)


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(preset="24h"),
        Filters(preset=None, start=datetime(2026, 8, 1), end=datetime(2026, 11, 1), tz="Europe/Berlin"),
        Filters(users=("u1", "u2"), roles=("agent",), categories=("authentication",), outcome="failure"),
        Filters(actions=("auth.login",), ip="10.0.0.0/8", countries=("DE", "PT"), text="50% off, a_b"),
        Filters(preset=None, start=datetime(2026, 8, 1, 9, 30), end=None, accounts=("acme",)),
        Filters(weekdays=(2,), hours=(14,), outcome="failure", tz="Europe/Berlin"),
        Filters(weekdays=(5, 1, 3), hours=(0, 23, 9)),
    ],
)
def test_url_and_store_round_trip(filters: Filters) -> None:
    assert Filters.from_query(filters.to_query()) == filters
    assert Filters.from_store(filters.to_store()) == filters


def test_untrusted_values_are_dropped_with_a_note() -> None:
    f = Filters.from_query("range=1y&outcome=maybe&ip=1.2.3.999&tz=Mars/Base&categories=authentication,nope&from=x")
    assert f == Filters(categories=("authentication",))
    assert len(f.problems) == 6


def test_weekdays_and_hours_from_a_link() -> None:
    f = Filters.from_query("weekdays=2&hours=14&tz=Europe/Berlin")
    assert (f.weekdays, f.hours, f.problems) == ((2,), (14,), ())
    assert f.to_query() == "weekdays=2&hours=14&tz=Europe%2FBerlin"
    # comma lists, repeated keys and duplicates read as one list (Dash's page kwargs too)
    assert Filters.from_query("weekdays=1,2&weekdays=2,7&hours=09,9,17").weekdays == (1, 2, 7)
    assert Filters.from_query({"weekdays": "6,7", "hours": ["0", "23"]}).hours == (0, 23)
    assert Filters.from_query("hours=09,9,17").hours == (9, 17)
    # the store carries numbers; a patch may send them as text
    assert Filters.from_store({"weekdays": ["2"], "hours": [14]}) == Filters(weekdays=(2,), hours=(14,))
    assert Filters().with_(weekdays=[3], hours=[8, 9]) == Filters(weekdays=(3,), hours=(8, 9))


@pytest.mark.parametrize(
    "query",
    ["weekdays=0", "weekdays=8", "weekdays=tue", "weekdays=-1", "weekdays=2.0", "weekdays=²", "hours=24", "hours=x"],
)
def test_bad_weekdays_and_hours_are_dropped_with_a_note(query: str) -> None:
    key, value = query.split("=")
    f = Filters.from_query(query + "&outcome=failure")
    assert f == Filters(outcome="failure")
    assert len(f.problems) == 1 and f.problems[0].startswith(f"{key}={value!r} is not")
    kept = Filters.from_query(query.replace("=", "=3,") + ",5")
    assert getattr(kept, key) == (3, 5) and len(kept.problems) == 1


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("weekdays=2&hours=14", ", Tuesdays, 14:00-15:00, "),
        ("weekdays=1,2", ", Mon, Tue, "),
        ("weekdays=5,1,2,3,4", ", Mon-Fri, "),
        ("weekdays=1,2,3,6", ", Mon-Wed, Sat, "),
        ("hours=9,10,11,12,13,14,15,16,17", ", hours 09:00-18:00, "),
        ("hours=23,0,1", ", hours 00:00-02:00, 23:00-24:00, "),
        ("weekdays=7&hours=2", ", Sundays, 02:00-03:00, "),
    ],
)
def test_weekdays_and_hours_in_words(query: str, words: str) -> None:
    f = Filters.from_query(query + "&tz=Europe/Berlin")
    assert words in f.describe(NOW)
    assert f.describe(NOW).split(", ")[1] == "Europe/Berlin"  # the times read in the zone named before them


def test_dates_are_local_to_the_chosen_zone() -> None:
    f = Filters.from_query("from=2026-08-01&to=2026-08-31&tz=Europe/Berlin")
    start, end = f.resolve_range(NOW)
    assert start == datetime(2026, 7, 31, 22, 0)  # midnight in Berlin (CEST) is 22:00 UTC
    assert end == datetime(2026, 8, 31, 22, 0)  # the end date is inclusive: up to the next midnight
    assert f.describe().startswith("2026-08-01 to 2026-08-31, Europe/Berlin, all users")


def test_conditions_select_what_they_say(db_path) -> None:
    docs = [
        event(id="a", occurred_at="2026-05-03T10:00:00Z", ip="10.1.2.3", outcome="failure", reason="bad_password"),
        event(id="b", occurred_at="2026-05-03T11:00:00Z", ip="10.2.0.1", actor={"id": "u2", "role": "administrator"}),
        event(
            id="c",
            occurred_at="2026-05-01T11:00:00Z",
            ip="81.2.69.142",
            action="label.create",
            target={"type": "label", "id": "l1", "name": "50% refund_now"},
        ),
        event(
            id="d",
            occurred_at="2026-05-03T11:30:00Z",
            ip="10.3.255.1",
            action="agent.role_change",
            changes={"role": ["agent", "administrator"]},
        ),
    ]
    with Database(db_path) as db:
        store(db, docs)

        def ids(f: Filters) -> set[str]:
            with db.connect() as conn:
                rows = conn.execute(sa.select(events.c.event_id).where(f.where(events, NOW))).fetchall()
            return {r[0] for r in rows}

        assert ids(Filters()) == {"a", "b", "c", "d"}
        assert ids(Filters(preset="24h")) == {"a", "b", "d"}
        assert ids(Filters(outcome="failure")) == {"a"}
        assert ids(Filters(users=("u2",))) == {"b"}
        assert ids(Filters(roles=("administrator",))) == {"b"}
        assert ids(Filters(categories=("labels",))) == {"c"}
        assert ids(Filters(ip="10.0.0.0/14")) == {"a", "b", "d"}
        assert ids(Filters(ip="10.2.0.0/15")) == {"b", "d"}
        assert ids(Filters(ip="81.2.69.142")) == {"c"}
        assert ids(Filters(text="50% refund_")) == {"c"}  # % and _ are literal, not wildcards
        assert ids(Filters(text="ADMINISTRATOR")) == {"d"}  # inside changed values, any case
        assert ids(Filters(preset=None, start=datetime(2026, 5, 3), end=datetime(2026, 5, 3, 11))) == {"a"}


def _local(at: datetime, tz: str) -> datetime:
    return at.replace(tzinfo=UTC).astimezone(ZoneInfo(tz))


#: Europe/Berlin leaves summer time on Sunday 2026-10-25 at 01:00 UTC (03:00 CEST -> 02:00 CET), so
#: the local hour 02:00-03:00 of that Sunday happens twice; New York follows on 2026-11-01 at 06:00 UTC.
DST_ROWS: list[datetime] = sorted(
    {
        *(datetime(2026, 10, 22, 0, 7) + timedelta(minutes=25 * i) for i in range(12 * 24 * 16 // 5)),
        datetime(2026, 10, 25, 0, 0),  # 02:00 CEST
        datetime(2026, 10, 25, 0, 59, 59),  # 02:59:59 CEST
        datetime(2026, 10, 25, 1, 0),  # 02:00 CET, the hour again
        datetime(2026, 10, 25, 1, 59, 59),  # 02:59:59 CET
        datetime(2026, 10, 25, 2, 0),  # 03:00 CET
        datetime(2026, 11, 1, 5, 59, 59),  # 01:59:59 EDT
        datetime(2026, 11, 1, 6, 0),  # 01:00 EST
    }
)


@pytest.fixture(scope="module")
def dst_db(tmp_path_factory: pytest.TempPathFactory):
    """Events every 25 minutes over 16 days across the end of summer time, in a real DuckDB file."""
    docs = [
        event(
            id=f"e{i}",
            occurred_at=at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            outcome="failure" if i % 3 == 0 else "success",
            reason="bad_password" if i % 3 == 0 else None,
        )
        for i, at in enumerate(DST_ROWS)
    ]
    with Database(tmp_path_factory.mktemp("dst") / "audit.duckdb") as db:
        store(db, docs)
        yield db


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata"])
@pytest.mark.parametrize(
    ("weekdays", "hours"),
    [
        ((7,), (2,)),  # the Sunday hour Berlin lives twice
        ((7,), (1,)),  # the Sunday hour New York lives twice
        ((), (2, 3)),
        ((6, 7), ()),
        ((1, 2, 3, 4, 5), (9, 10, 11, 12, 13, 14, 15, 16, 17)),
        ((4,), (0, 23)),
    ],
)
def test_weekday_and_hour_conditions_are_exact_across_daylight_saving_changes(
    dst_db: Database, tz: str, weekdays: tuple[int, ...], hours: tuple[int, ...]
) -> None:
    def count(f: Filters) -> int:
        with dst_db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(f.where(events, NOW))).scalar_one())

    def expected(f: Filters, outcome: str | None = None) -> int:
        start, end = f.resolve_range(NOW)
        n = 0
        for i, at in enumerate(DST_ROWS):
            local = _local(at, tz)
            n += (
                start <= at < end
                and (not weekdays or local.isoweekday() in weekdays)
                and (not hours or local.hour in hours)
                and (outcome is None or (i % 3 == 0) == (outcome == "failure"))
            )
        return n

    # local days on both sides of the change, and the whole log as the read API asks for it
    days = Filters(preset=None, start=datetime(2026, 10, 23), end=datetime(2026, 11, 3), tz=tz)
    whole = Filters(preset=None, start=datetime(2000, 1, 1), end=datetime(3000, 1, 1), tz=tz)
    for base in (days, whole):
        f = base.with_(weekdays=weekdays, hours=hours)
        assert count(f) == expected(f) > 0
        assert count(f.with_(outcome="failure")) == expected(f, "failure") > 0
    if tz == "Europe/Berlin" and (weekdays, hours) == ((7,), (2,)):
        # the rows of that repeated hour come from both sides of the change
        twice = {_local(at, tz).utcoffset() for at in DST_ROWS if _local(at, tz).strftime("%F %H") == "2026-10-25 02"}
        assert twice == {timedelta(hours=2), timedelta(hours=1)}


ADDRESSES = (
    "91.32.96.240",
    "91.32.0.1",
    "91.33.1.1",
    "91.3.2.1",
    "10.0.0.1",
    "10.0.0.2",
    "10.0.0.3",
    "10.0.0.200",
    "1.2.3.4",
    "10.0.3.255",
    "10.0.4.0",
    "2001:4860:4860::8888",
    "2001:4861::1",
    "2001:db8::1",
    "2001:db8:1::1",
    "2001:4860:1::5",
    "2001:4860:fff::5",
    "2001:4861::1",
    "2001:db8:0:1::1",
    "2001:db8:0:1:2:3:4:5",
    "2001:db8:1:200::",
    "2001:db8:1:2ff:ffff::1",
    "2001:db8:1:300::1",
    "1::",
    "1:2::",
    "2001:db8::5:6",
    "2001:db8::6:6",
    "::5:6",
    "::",
    "::1",
)


@pytest.mark.parametrize(
    "block",
    [
        "91.32.0.0/16",
        "91.0.0.0/8",
        "10.0.0.0/22",
        "10.0.0.0/23",
        "10.0.0.0/25",
        "10.0.0.0/30",
        "10.0.0.2/31",
        "10.0.0.128/25",
        "::ffff:10.0.0.0/120",
        "::ffff:10.0.0.1/128",
        "::ffff:1.2.3.4",
        "0.0.0.0/0",
        "91.32.96.240",
        "2001:4860::/32",
        "2001:db8::/48",
        "2001:db8::/32",
        "2001:db8:1:200::/56",
        "2001:db8:1:2ff::/56",
        "2001:4860::/36",
        "2001:db8:0:1::/64",
        "1::/16",
        "::/0",
        "2001:db8::5:0/112",
        "::5:0/112",
        "::1/128",
    ],
)
@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_an_address_block_selects_exactly_its_addresses(
    tmp_path: Path, block: str, kind: str, request: pytest.FixtureRequest
) -> None:
    """The block's condition (tests on the stored text) selects what `ipaddress` says is inside, on a
    real DuckDB file and PostgreSQL: no address of a neighbouring block, none of the other family."""
    import ipaddress

    from dashboard.filters import ip_condition

    url = f"duckdb:///{tmp_path / 'ips.duckdb'}" if kind == "duckdb" else request.getfixturevalue("pg_url")
    engine = sa.create_engine(url)
    table = sa.Table("ips", sa.MetaData(), sa.Column("ip", sa.String))
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(table.insert(), [{"ip": a} for a in ADDRESSES])
        got = {r[0] for r in conn.execute(sa.select(table.c.ip).where(ip_condition(table.c.ip, block)))}
    engine.dispose()
    net = ipaddress.ip_network(block, strict=False)
    mapped = ipaddress.ip_network("::ffff:0:0/96")

    def inside(text: str) -> bool:
        address = ipaddress.ip_address(text)
        if address.version == 4 and net.version == 6 and net.subnet_of(mapped):  # type: ignore[arg-type]
            address = ipaddress.ip_address(f"::ffff:{text}")  # stored as IPv4 by ingest
        return address.version == net.version and address in net

    want = {a for a in ADDRESSES if inside(a)}
    assert got == want
    assert want or block in ("::1/128",), "each block selects some of the addresses"
