"""One definition of each concept: every page, report and command that uses a concept uses the same one.

A small demo store (with MFA failures, lockouts and failed sign-ins to auditdash itself, the cases
the definitions once disagreed on) is read by Overview, Security, the wall, a compliance pack
and the daily review, whose failed-login and lockout figures must agree; then the settings'
defaults, the SMTP server block, the grammar of typed times (command line, links, read API,
Retention and Review pages), address masking in Python and SQL, and the resolved view.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboard.demo import DemoSpec, generate
from dashboard.detect import review
from dashboard.events.taxonomy import FAILED_LOGIN_ACTIONS, LOCKOUT_ACTIONS
from dashboard.filters import Filters
from dashboard.ingest.pipeline import Ingestor
from dashboard.packs import sections
from dashboard.packs.view import open_view
from dashboard.store.db import Database
from dashboard.web.components import views, wall_views

END = datetime(2026, 6, 30, tzinfo=UTC)
DAYS = 14
RULES = Path(__file__).resolve().parents[1] / "dashboard" / "detect" / "rules.yaml"


@dataclass(frozen=True)
class Store:
    db: Database
    by_action: dict[tuple[str, str], int]


def _own_sign_ins(day: datetime) -> list[dict[str, object]]:
    """Failed sign-ins to auditdash itself and a lockout they caused, as the server records them."""
    out: list[dict[str, object]] = []
    for i in range(4):
        out.append(
            {
                "id": f"own-{day:%m%d}-{i}",
                "occurred_at": (day + timedelta(hours=9, minutes=i)).isoformat().replace("+00:00", "Z"),
                "account_id": "auditdash",
                "action": "audit.login",
                "outcome": "failure",
                "reason": "bad password",
                "actor": {"id": "mallory", "name": "mallory"},
                "ip": "81.2.69.142",
            }
        )
    out.append(
        {
            "id": f"own-{day:%m%d}-lock",
            "occurred_at": (day + timedelta(hours=9, minutes=5)).isoformat().replace("+00:00", "Z"),
            "account_id": "auditdash",
            "action": "audit.lockout",
            "actor": {"id": "mallory", "name": "mallory"},
            "target": {"type": "dashboard_user", "id": "mallory", "name": "mallory"},
            "reason": "4 failed sign-ins",
        }
    )
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    db = Database(tmp_path_factory.mktemp("concepts") / "demo.duckdb")
    batches, _truth = generate(DemoSpec(days=DAYS, events=12_000, end=END))
    ingestor = Ingestor(db, None, 100_000)
    docs = [doc for batch in batches for doc in batch]
    docs += _own_sign_ins(END - timedelta(days=1)) + _own_sign_ins(END - timedelta(days=5))
    result = ingestor.ingest_batch([(i, json.dumps(doc)) for i, doc in enumerate(docs)], "demo")
    assert not result.rejected, result
    by_action: dict[tuple[str, str], int] = {}
    with db.raw() as con:
        for action, outcome, n in con.execute("SELECT action, outcome, count(*) FROM events GROUP BY ALL").fetchall():
            by_action[(action, outcome)] = int(n)
    yield Store(db, by_action)
    db.close()


def _count(s: Store, actions: tuple[str, ...], outcome: str | None) -> int:
    return sum(n for (a, o), n in s.by_action.items() if a in actions and (outcome is None or o == outcome))


def _num(text: str) -> int:
    return int(text.replace(",", "").replace("\u202f", "").replace(" ", ""))


def test_the_demo_holds_the_cases_the_definitions_disagreed_on(store: Store) -> None:
    assert store.by_action.get(("auth.login", "failure"), 0) > 0
    assert store.by_action.get(("auth.mfa_challenge", "failure"), 0) > 0
    assert store.by_action.get(("auth.account_locked", "failure"), 0) > 0
    assert store.by_action.get(("audit.login", "failure"), 0) == 8


def test_overview_security_wall_pack_and_review_count_the_same_failed_logins(store: Store) -> None:
    expected = _count(store, FAILED_LOGIN_ACTIONS, "failure")
    locked = _count(store, LOCKOUT_ACTIONS, None)
    first, last = (END - timedelta(days=DAYS)).date(), (END - timedelta(days=1)).date()
    # with auditdash's own activity (its failed sign-ins), as the review and the wall count
    period = Filters(
        preset=None, start=datetime(2000, 1, 1), end=END.replace(tzinfo=None), tz="UTC", dashboard_activity=True
    )

    overview = views.overview_cards(store.db, period, END)
    security = views.security_failures(store.db, period, masked=False, now=END)
    with open_view(store.db, period, END) as pv:
        pack = sections.gather(pv, masked=False)
    days = review.day_summaries(store.db, first - timedelta(days=30), last)

    assert expected > 0 and locked > 0
    assert _num(overview.failed_logins) == expected
    assert _num(security.failed) == expected and _num(security.locked) == locked
    assert pack.headline.failed_logins == expected and pack.security.failed_logins == expected
    assert pack.security.lockouts == locked
    assert int(pack.sources["failures"].sum()) <= expected  # the top addresses of the same failures
    assert sum(d.failed_logins for d in days) == expected
    assert sum(d.lockouts for d in days) == locked
    # the pages' default leaves the dashboard's own activity out, its failed sign-ins too
    platform = period.with_(dashboard_activity=False)
    own_failed = store.by_action.get(("audit.login", "failure"), 0)
    assert own_failed > 0
    assert _num(views.overview_cards(store.db, platform, END).failed_logins) == expected - own_failed


def test_the_wall_counts_the_last_day_as_the_review_counts_that_day(store: Store) -> None:
    wall = wall_views.refresh(store.db, END)
    (day,) = review.day_summaries(store.db, (END - timedelta(days=1)).date(), (END - timedelta(days=1)).date())
    last_day = Filters(preset="24h", tz="UTC", dashboard_activity=True)
    assert _num(wall.failed) == day.failed_logins == _num(views.overview_cards(store.db, last_day, END).failed_logins)
    assert day.failed_logins >= 4  # auditdash's own failed sign-ins of that day are among them


def test_detection_rules_match_failed_logins_with_the_same_actions() -> None:
    """Every rule condition on failed sign-ins names exactly the failed-login actions."""
    found: list[list[str]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            action = node.get("action")
            if node.get("outcome") == "failure" and action is not None:
                actions = [action] if isinstance(action, str) else list(action)
                if set(actions) & {"auth.login", "audit.login"}:
                    found.append(actions)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(RULES.read_text(encoding="utf-8")))
    assert found, "no rule counts failed logins"
    for actions in found:
        assert sorted(actions) == sorted(FAILED_LOGIN_ACTIONS), actions


# -- settings: one default each --------------------------------------------------------------------------
def test_every_default_is_the_one_in_the_settings_table() -> None:
    """`Settings` and the objects built without it (packs, SMTP) start from `SETTINGS`' defaults."""
    import dataclasses

    from dashboard import config
    from dashboard.mail import SmtpServer
    from dashboard.packs.build import PackSettings
    from dashboard.packs.mail import SmtpConfig

    declared = {f.name: f.default for f in dataclasses.fields(config.Settings)}
    for setting in config.SETTINGS:
        assert declared[setting.name] == setting.default, setting.name
    assert SmtpServer() == SmtpServer.from_settings(config.Settings())
    assert SmtpConfig().max_bytes == config.default("pack_email_max_bytes")
    packs = PackSettings()
    assert (packs.organisation, packs.verify_max_events) == (
        config.default("organisation"),
        config.default("pack_verify_max_events"),
    )


def test_alert_mail_and_pack_mail_use_one_server_block() -> None:
    import dataclasses

    from dashboard.config import Settings
    from dashboard.detect.notify import NotifyConfig
    from dashboard.packs.mail import SmtpConfig

    settings = Settings(
        smtp_host="mail.example.com",
        smtp_port=2525,
        smtp_from="audit@example.com",
        smtp_to="soc@example.com",
        smtp_user="u",
        smtp_password="p",
        smtp_starttls=True,
    )
    alerts = NotifyConfig.from_settings(settings).smtp
    packs = SmtpConfig.from_settings(settings)
    assert dataclasses.asdict(alerts) == {k: v for k, v in dataclasses.asdict(packs).items() if k != "max_bytes"}
    assert alerts.host == "mail.example.com" and alerts.starttls and alerts.password == "p"


# -- times: one grammar, one error -----------------------------------------------------------------------
TIMES = [
    ("2026-05", datetime(2026, 5, 1)),
    ("2026-05-01", datetime(2026, 5, 1)),
    ("2026-05-01T09:30", datetime(2026, 5, 1, 9, 30)),
    ("2026-05-01T09:30:15Z", datetime(2026, 5, 1, 9, 30, 15)),
    ("2026-05-01T11:30+02:00", datetime(2026, 5, 1, 9, 30)),
    ("2026-13", None),
    ("2026-02-30", None),
    ("1999-12-31", None),
    ("2026-05-01T25:00", None),
    ("yesterday", None),
    ("\u0662\u0660\u0662\u0666-05-01", None),  # Arabic-Indic digits
]


@pytest.mark.parametrize(("text", "expected"), TIMES)
def test_the_command_line_links_and_the_read_api_read_a_time_alike(
    text: str, expected: datetime | None, capsys: pytest.CaptureFixture[str]
) -> None:
    import flask

    from dashboard.cli import build_parser
    from dashboard.web.api import EVENT_LISTS, EVENT_SINGLE, _event_problems, read_query

    parser = build_parser()
    if expected is None:
        with pytest.raises(SystemExit):
            parser.parse_args(["verify", "--from", text])
        assert f"argument --from: {text!r} is" in capsys.readouterr().err
    else:
        assert parser.parse_args(["verify", "--from", text]).start == expected

    link = Filters.from_query(f"from={urllib.parse.quote(text)}&tz=UTC")
    assert (link.start == expected) if expected else any(p.startswith(f"from={text!r} is") for p in link.problems)

    # the read API's check of its parameters (the route answers 400 with these problems)
    query = f"from={urllib.parse.quote(text)}&tz=UTC"
    with flask.Flask(__name__).test_request_context("/", query_string=query):
        problems = _event_problems(read_query(EVENT_SINGLE, EVENT_LISTS))
    if expected is None:
        assert problems and problems[0][0] == "from" and problems[0][1].startswith(f"from={text!r} is"), problems
    else:
        assert problems == []


@pytest.fixture(scope="module")
def admin_client(store: Store) -> Any:
    """The app over the demo store, in-process, and a test client signed in as an administrator."""
    import html as html_text
    import re

    from dashboard.access.users import create_user
    from dashboard.config import Settings
    from dashboard.web.app import create_app
    from tests.conftest import GEO_DIR

    password = "concepts-admin-password"
    create_user(store.db, "ada", "admin", password)
    app = create_app(Settings(db_path=store.db.path, geo_dir=GEO_DIR), store.db)
    client = app.server.test_client()
    client.get("/healthz")  # Dash fills its callback map on the first request
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert token
    form = {"csrf_token": html_text.unescape(token.group(1)), "username": "ada", "password": password, "next": "/"}
    assert client.post("/login", data=form).status_code == 302
    client.get("/_dash-layout")  # the guard sets the CSRF cookie Dash sends back
    client.dash_app = app
    return client


def test_a_bad_hold_date_on_the_retention_page_is_said_not_a_crash(admin_client: Any) -> None:
    """The page catches the parser's one error type (it once caught another and answered 500)."""
    from dashboard.web import auth

    client, app = admin_client, admin_client.dash_app
    (route,) = [r for r in auth.callback_routes(app).values() if any(d["id"] == "retention-hold-add" for d in r.inputs)]
    values = {"retention-hold-from": "2026-02-01", "retention-hold-to": "2026-02-30", "retention-hold-reason": "m-1"}
    payload = {
        "output": route.key,
        "outputs": [
            {"id": "retention-hold-notice", "property": "children"},
            {"id": "retention-holds", "property": "children"},
        ],
        "inputs": [{"id": "retention-hold-add", "property": "n_clicks", "value": 1}, []],
        "state": [{"id": d["id"], "property": d["property"], "value": values.get(d["id"])} for d in route.state],
        "changedPropIds": ["retention-hold-add.n_clicks"],
    }
    headers = {"X-CSRFToken": client.get_cookie("_csrf_token").value}
    reply = client.post("/_dash-update-component", json=payload, headers=headers)
    assert reply.status_code == 200, reply.get_data(as_text=True)[:500]
    notice = json.dumps(reply.get_json()["response"]["retention-hold-notice"])
    assert "To '2026-02-30' is not a time" in notice and "danger" in notice, notice[:300]


def test_a_review_link_with_a_bad_day_says_so(admin_client: Any) -> None:
    """The daily review reads its link's days with the same grammar and says what it ignored."""
    from tests.conftest import page_payload

    payload = page_payload("/review", "?start=2026-05-01&end=2026-13")
    headers = {"X-CSRFToken": admin_client.get_cookie("_csrf_token").value}
    reply = admin_client.post("/_dash-update-component", json=payload, headers=headers)
    assert reply.status_code == 200, reply.get_data(as_text=True)[:500]
    text = json.dumps(reply.get_json())
    assert "not understood and is ignored" in text and "end='2026-13' is not a time" in text
    assert '"start_date": "2026-05-01"' in text


# -- masking: one rule in Python and SQL -----------------------------------------------------------------
def test_masking_in_python_and_in_the_database_agree(store: Store) -> None:
    import ipaddress

    import sqlalchemy as sa

    from dashboard.privacy import mask_ip, mask_ipv4_sql, masked_network

    addresses = ["203.0.113.7", "81.2.69.142", "10.0.0.1", "2001:db8:1:2::5", "203.0.113.x"]
    with store.db.connect() as conn:
        for ip in addresses:
            in_sql = conn.execute(sa.select(mask_ipv4_sql(sa.literal(ip)))).scalar()
            if ":" not in ip:
                assert in_sql == mask_ip(ip), ip
            block = masked_network(mask_ip(ip) or "")
            assert block is not None and block == masked_network(ip), ip
            if "x" not in ip:
                assert ipaddress.ip_address(ip) in ipaddress.ip_network(block)


# -- the view: one resolution of filters at an instant ---------------------------------------------------
def test_the_explorer_and_packs_resolve_the_view_the_charts_use(store: Store) -> None:
    from dashboard.filters import View
    from dashboard.store.explorer import Snapshot

    f = Filters(preset="7d", tz="Europe/Berlin")
    view = View.of(f, END)
    assert Snapshot(f, END.replace(tzinfo=None), 0, 0).range() == (view.start, view.end)
    with open_view(store.db, f, END) as pv:
        assert pv.view == view and (pv.start, pv.end) == (view.start, view.end)
