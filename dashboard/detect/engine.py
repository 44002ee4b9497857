"""The detection engine: every rule type as set-based SQL over a time scope (DuckDB or PostgreSQL).

A run looks at the events whose time falls in a scope `[lo, hi)` (the "anchors": a window that
ends there, a sign-in, a gap) and reads as far back as each rule needs (its timespan, history
or baseline), so an incremental run over the newest events sees whole windows. Each rule type
returns `Finding`s: the key (the group-by values), the period, the severity, the measures and
the evidence events. `dashboard.detect.alerts` folds findings into alerts, so running twice
over the same events changes nothing.
"""

from __future__ import annotations

import bisect
import math
import struct
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from dashboard.detect.rules import Condition, Detector, Rule, max_severity
from dashboard.detect.sql import (
    MS_PER_DAY,
    MS_PER_HOUR,
    E,
    field_expr,
    key_columns,
    keys_not_null,
    match_expr,
    time_between,
    ts_ms,
)
from dashboard.store.schema import alerts as A

EPOCH = datetime(1970, 1, 1)
#: how far back an incremental run re-checks deadlines of `not_followed_by` escalations
ESCALATION_HORIZON = timedelta(days=7)

Evidence = dict[int, tuple[str, datetime]]
"""seq -> (event_id, occurred_at)"""


def to_ms(dt: datetime) -> int:
    """A naive UTC datetime as epoch milliseconds."""
    return (dt - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    """Epoch milliseconds as a naive UTC datetime."""
    return EPOCH + timedelta(milliseconds=int(ms))


def degrees(value: Any) -> float | None:
    """A stored coordinate (a 32-bit float) as the shortest decimal that names it, the same on
    every engine: DuckDB hands over the float's exact binary value (-37.8135986328125),
    PostgreSQL its shortest text (-37.8136)."""
    if value is None:
        return None
    try:
        single = struct.unpack("f", struct.pack("f", float(value)))[0]
    except (OverflowError, struct.error):
        return float(value)
    for digits in range(6, 10):
        text = float(f"{single:.{digits}g}")
        if struct.unpack("f", struct.pack("f", text))[0] == single:
            return text
    return float(single)


@dataclass(frozen=True)
class Scope:
    """What a run looks at: anchors in [lo, hi); `now` is the clock for look-ahead conditions."""

    lo: datetime
    hi: datetime
    now: datetime


@dataclass
class Finding:
    """One thing a rule found: becomes an alert, or grows one."""

    rule_id: str
    key: tuple[tuple[str, str], ...]
    start: datetime
    end: datetime
    severity: str
    evidence: Evidence
    measures: dict[str, float] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    dedup_s: int = 0

    @property
    def key_text(self) -> str:
        """The canonical key: `account_id=acme|user=u1`."""
        return "|".join(f"{k}={v}" for k, v in self.key)


# ------------------------------------------------------------------------------- helpers


def _rows(conn: Connection, stmt: Any) -> list[Row[Any]]:
    return list(conn.execute(stmt).fetchall())


def _cond_sql(cond: Condition, col: Any) -> Any:
    v = cond.value
    return {"gte": col >= v, "gt": col > v, "lte": col <= v, "lt": col < v, "eq": col == v}[cond.op]


def _measure_label(measure: str) -> str:
    return "m_" + measure.replace(" ", "_")


@dataclass
class _Point:
    """A firing window of one key: events in [start, end] (ms) count as evidence."""

    start: int
    end: int
    severity: str
    measures: dict[str, float]
    detail: dict[str, Any] = field(default_factory=dict)
    only: frozenset[int] | None = None  # when set: only these seqs of the window are evidence
    extra: tuple[int, ...] = ()  # seqs that are evidence whatever their time


def _islands(points: list[_Point], dedup_ms: int) -> list[list[_Point]]:
    """Merge firing windows of one key that overlap or lie within `dedup_ms` of each other."""
    out: list[list[_Point]] = []
    end = -(10**18)
    for p in sorted(points, key=lambda p: (p.start, p.end)):
        if out and p.start <= end + dedup_ms:
            out[-1].append(p)
            end = max(end, p.end)
        else:
            out.append([p])
            end = p.end
    return out


def _fold(
    rule: Rule,
    det: Detector,
    key_fields: Sequence[str],
    groups: dict[tuple[str, ...], tuple[list[_Point], list[tuple[int, str, datetime, int]]]],
) -> list[Finding]:
    """Turn firing windows and candidate events per key into findings (islands)."""
    findings: list[Finding] = []
    for key_values, (points, events) in groups.items():
        if not points:
            continue
        events.sort(key=lambda e: (e[3], e[0]))
        times = [e[3] for e in events]
        by_seq = {e[0]: e for e in events}
        for island in _islands(points, det.dedup_s * 1000):
            evidence: Evidence = {}
            for p in island:
                lo = bisect.bisect_left(times, p.start)
                hi = bisect.bisect_right(times, p.end)
                for seq, event_id, occurred, _ts in events[lo:hi]:
                    if p.only is None or seq in p.only:
                        evidence[seq] = (event_id, occurred)
                for seq in p.extra:
                    if seq in by_seq:
                        evidence[seq] = (by_seq[seq][1], by_seq[seq][2])
            if not evidence:
                continue
            measures: dict[str, float] = {}
            detail: dict[str, Any] = {}
            for p in island:
                for name, value in p.measures.items():
                    measures[name] = max(measures.get(name, value), value)
                detail.update(p.detail)
            stamps = [occ for _id, occ in evidence.values()]
            findings.append(
                Finding(
                    rule_id=rule.id,
                    key=tuple(zip(key_fields, key_values, strict=True)),
                    start=min(stamps),
                    end=max(stamps),
                    severity=max_severity(*(p.severity for p in island)),
                    evidence=evidence,
                    measures=measures,
                    detail=detail,
                    dedup_s=det.dedup_s,
                )
            )
    return findings


def _keys_reaching(group_by: Sequence[str], where: Sequence[Any], having: Any) -> Any:
    """Only keys whose events in the whole scope reach the threshold can reach it in a window:
    the windows are then computed for those few keys instead of for everybody."""
    keys = [field_expr(f) for f in group_by]
    reaching = sa.select(*keys).where(*where).group_by(*keys).having(having)
    return sa.tuple_(*keys).in_(reaching)


def _keys_of(row: Row[Any], n: int) -> tuple[str, ...]:
    return tuple(str(row._mapping[f"k{i}"]) for i in range(n))


# ------------------------------------------------------------------------------- event_count / value_count


def _preceding(ms: int) -> sa.FrameClause:
    """`RANGE BETWEEN ms PRECEDING AND CURRENT ROW` with the offset a BIGINT: as an INTEGER (the
    default) a window past 24 days overflows on PostgreSQL."""
    return sa.FrameClause(sa.literal(ms, sa.BigInteger), None, sa.FrameClauseType.PRECEDING, sa.FrameClauseType.CURRENT)


def _distinct_in_window(m: Any, n_keys: int, value: str, span: int, name: str) -> Any:
    """Per event of `m` (seq, ts, k0.., `value`): how many distinct non-null values of `value` its
    key had in the window [ts - span, ts], as a CTE (seq, n).

    `count(DISTINCT ...)` over a window frame is what this computes, in SQL every engine runs
    (PostgreSQL has no DISTINCT in window aggregates): an event holds its value in the window from
    its own time until `span` later or until the key's next event with that value, whichever is
    first, so these stretches never overlap for one value. The count at time t is then the
    stretches begun by t less those over before t: a running sum of +1 at each start and -1
    after each end, ordered by time (events at the same time all counted, as in the frame).
    """
    part = [m.c[f"k{i}"] for i in range(n_keys)]
    v = m.c[value]
    nxt = sa.func.lead(m.c.ts).over(partition_by=[*part, v], order_by=(m.c.ts, m.c.seq))
    held = sa.select(*part, m.c.ts, nxt.label("nxt")).where(v.is_not(None)).subquery(f"{name}_h")
    until = sa.func.least(held.c.ts + span, sa.func.coalesce(held.c.nxt - 1, held.c.ts + span))
    starts = sa.select(
        m.c.seq,
        *part,
        m.c.ts.label("t"),
        sa.case((v.is_(None), 0), else_=1).label("d"),
    )
    ends = sa.select(
        sa.cast(sa.null(), sa.BigInteger).label("seq"),
        *[held.c[f"k{i}"] for i in range(n_keys)],
        (until + 1).label("t"),
        sa.literal(-1, sa.Integer).label("d"),
    )
    swept = sa.union_all(starts, ends).subquery(f"{name}_s")
    running = sa.func.sum(swept.c.d).over(
        partition_by=[swept.c[f"k{i}"] for i in range(n_keys)], order_by=swept.c.t, range_=(None, 0)
    )
    counted = sa.select(swept.c.seq, sa.cast(running, sa.BigInteger).label("n")).subquery(f"{name}_r")
    return sa.select(counted.c.seq, counted.c.n).where(counted.c.seq.is_not(None)).cte(name)


def _window_counts(conn: Connection, rule: Rule, det: Detector, scope: Scope) -> list[Finding]:
    span = det.timespan_s * 1000
    lo_ms, hi_ms = to_ms(scope.lo), to_ms(scope.hi)
    n_keys = len(det.group_by)
    distinct_fields: list[str] = []
    if det.field:
        distinct_fields.append(det.field)
    for cond in det.measures():
        if cond.measure.startswith("distinct "):
            name = cond.measure.split(" ", 1)[1]
            if name not in distinct_fields:
                distinct_fields.append(name)
    cols: list[Any] = [E.c.seq, E.c.event_id, E.c.occurred_at, ts_ms().label("ts"), *key_columns(det.group_by)]
    cols += [field_expr(f).label(f"v_{f}") for f in distinct_fields]
    where = [
        time_between(scope.lo - timedelta(seconds=det.timespan_s), scope.hi),
        match_expr(det.match),
        keys_not_null(det.group_by),
    ]
    primary = det.conditions[0]
    total = sa.func.count() if primary.measure == "count" else sa.func.count(sa.distinct(field_expr(det.field or "")))
    m = sa.select(*cols).where(*where, _keys_reaching(det.group_by, where, _cond_sql(primary, total))).cte("m")
    part = [m.c[f"k{i}"] for i in range(n_keys)]

    def over(expr: Any) -> Any:
        return expr.over(partition_by=part, order_by=m.c.ts, range_=_preceding(span))

    measure_cols: dict[str, Any] = {"count": over(sa.func.count())}
    distincts = [_distinct_in_window(m, n_keys, f"v_{f}", span, f"d{j}") for j, f in enumerate(distinct_fields)]
    for f, d in zip(distinct_fields, distincts, strict=True):
        measure_cols[f"distinct {f}"] = d.c.n
    if det.field:
        measure_cols["distinct"] = measure_cols[f"distinct {det.field}"]
    source: Any = m
    for d in distincts:
        source = source.join(d, d.c.seq == m.c.seq)
    w = (
        sa.select(
            m.c.seq,
            m.c.event_id,
            m.c.occurred_at,
            m.c.ts,
            *part,
            *[expr.label(_measure_label(name)) for name, expr in measure_cols.items()],
        )
        .select_from(source)
        .cte("w")
    )

    def measure(name: str) -> Any:
        if name == "per_value":
            return sa.cast(w.c[_measure_label("count")], sa.Double) / sa.func.greatest(
                w.c[_measure_label("distinct")], 1
            )
        return w.c[_measure_label(name)]

    conds = [_cond_sql(c, measure(c.measure)) for c in det.conditions]
    if det.any_conditions:
        conds.append(sa.or_(*[_cond_sql(c, measure(c.measure)) for c in det.any_conditions]))
    fire = sa.and_(w.c.ts >= lo_ms, w.c.ts < hi_ms, *conds)
    fired = sa.select(*[w.c[f"k{i}"] for i in range(n_keys)]).where(fire).distinct().cte("fk")
    stmt = (
        sa.select(w, fire.label("fire"))
        .join(fired, sa.and_(*[w.c[f"k{i}"] == fired.c[f"k{i}"] for i in range(n_keys)]))
        .order_by(*[w.c[f"k{i}"] for i in range(n_keys)], w.c.ts, w.c.seq)
    )
    groups: dict[tuple[str, ...], tuple[list[_Point], list[tuple[int, str, datetime, int]]]] = {}
    names = [*measure_cols, *(["per_value"] if det.field else [])]
    for row in _rows(conn, stmt):
        mp = row._mapping
        key = _keys_of(row, n_keys)
        points, evs = groups.setdefault(key, ([], []))
        evs.append((int(mp["seq"]), str(mp["event_id"]), mp["occurred_at"], int(mp["ts"])))
        if mp["fire"]:
            values: dict[str, float] = {}
            for name in names:
                if name == "per_value":
                    values[name] = round(
                        float(mp[_measure_label("count")]) / max(int(mp[_measure_label("distinct")]), 1), 2
                    )
                else:
                    values[name] = float(mp[_measure_label(name)])
            points.append(_Point(int(mp["ts"]) - span, int(mp["ts"]), rule.severity, values))
    return _fold(rule, det, det.group_by, groups)


# ------------------------------------------------------------------------------- temporal_ordered


def _temporal(conn: Connection, rule: Rule, det: Detector, scope: Scope) -> list[Finding]:
    first, then = det.steps
    assert first.condition is not None
    span = det.timespan_s * 1000
    lo_ms, hi_ms = to_ms(scope.lo), to_ms(scope.hi)
    n_keys = len(det.group_by)
    is_a = sa.func.coalesce(match_expr(first.match), False)
    is_b = sa.func.coalesce(match_expr(then.match), False)
    m = (
        sa.select(
            E.c.seq,
            E.c.event_id,
            E.c.occurred_at,
            ts_ms().label("ts"),
            E.c.ip,
            *key_columns(det.group_by),
            is_a.label("a"),
            is_b.label("b"),
        )
        .where(
            time_between(scope.lo - timedelta(seconds=det.timespan_s), scope.hi),
            sa.or_(is_a, is_b),
            keys_not_null(det.group_by),
            _keys_reaching(
                det.group_by,
                [
                    time_between(scope.lo - timedelta(seconds=det.timespan_s), scope.hi),
                    match_expr(first.match),
                    keys_not_null(det.group_by),
                ],
                _cond_sql(first.condition, sa.func.count()),
            ),
        )
        .cte("m")
    )
    part = [m.c[f"k{i}"] for i in range(n_keys)]
    n_a = sa.func.count().filter(m.c.a).over(partition_by=part, order_by=m.c.ts, range_=_preceding(span))
    n_a_ip = sa.func.count().filter(m.c.a).over(partition_by=[*part, m.c.ip], order_by=m.c.ts, range_=_preceding(span))
    w = sa.select(m, n_a.label("n_a"), n_a_ip.label("n_a_ip")).cte("w")
    fire = sa.and_(w.c.b, w.c.ts >= lo_ms, w.c.ts < hi_ms, _cond_sql(first.condition, w.c.n_a))
    fired = sa.select(*[w.c[f"k{i}"] for i in range(n_keys)]).where(fire).distinct().cte("fk")
    stmt = (
        sa.select(w, fire.label("fire"))
        .join(fired, sa.and_(*[w.c[f"k{i}"] == fired.c[f"k{i}"] for i in range(n_keys)]))
        .order_by(*[w.c[f"k{i}"] for i in range(n_keys)], w.c.ts, w.c.seq)
    )
    same_ip = next((e for e in det.escalate if e.when == "same_ip"), None)
    groups: dict[tuple[str, ...], tuple[list[_Point], list[tuple[int, str, datetime, int]]]] = {}
    firsts: dict[tuple[str, ...], set[int]] = defaultdict(set)
    pending: list[tuple[tuple[str, ...], _Point]] = []
    for row in _rows(conn, stmt):
        mp = row._mapping
        key = _keys_of(row, n_keys)
        points, evs = groups.setdefault(key, ([], []))
        evs.append((int(mp["seq"]), str(mp["event_id"]), mp["occurred_at"], int(mp["ts"])))
        if mp["a"]:
            firsts[key].add(int(mp["seq"]))
        if mp["fire"]:
            severity = rule.severity
            same = int(mp["n_a_ip"]) if mp["ip"] is not None else 0
            if same_ip is not None and same >= 1:
                severity = max_severity(severity, same_ip.severity)
            p = _Point(
                int(mp["ts"]) - span,
                int(mp["ts"]),
                severity,
                {"failures_before": float(mp["n_a"]), "failures_from_same_ip": float(same)},
                detail={"success_ip": mp["ip"]},
                extra=(int(mp["seq"]),),
            )
            points.append(p)
            pending.append((key, p))
    for key, p in pending:
        p.only = frozenset(firsts[key])
    return _fold(rule, det, det.group_by, groups)


# ------------------------------------------------------------------------------- each


def _each(conn: Connection, rule: Rule, det: Detector, scope: Scope) -> list[Finding]:
    n_keys = len(det.group_by)
    look_ahead = max([e.within_s for e in det.escalate if e.when == "not_followed_by"] + [0])
    lower = scope.lo - timedelta(seconds=look_ahead)
    if look_ahead:
        # an event escalates when the clock passes its deadline, whatever arrives: look back far
        # enough to catch deadlines passed since an earlier run (up to a week without new events)
        lower = min(lower, scope.now - timedelta(seconds=look_ahead) - ESCALATION_HORIZON)
    user = field_expr("user")
    flags: list[Any] = []
    for esc in det.escalate:
        if esc.when == "other_user":
            flag: Any = sa.and_(E.c.target_id.is_not(None), E.c.target_id.is_distinct_from(user))
        elif esc.when == "self":
            flag = sa.and_(E.c.target_id.is_not(None), E.c.target_id == user)
        elif esc.when == "not_followed_by":
            assert esc.match is not None
            f = E.alias("f")
            within = esc.within_s * 1000
            later = (
                sa.select(sa.literal(1))
                .where(
                    f.c.account_id == E.c.account_id,
                    field_expr("subject", f) == field_expr("subject"),
                    f.c.occurred_at > E.c.occurred_at,
                    ts_ms(f) <= ts_ms() + within,
                    match_expr(esc.match, f),
                )
                .exists()
            )
            flag = sa.and_(sa.not_(later), ts_ms() + within <= to_ms(scope.now))
        else:  # after_alert
            within = esc.within_s * 1000
            flag = (
                sa.select(sa.literal(1))
                .where(
                    A.c.rule_id.in_(esc.rules),
                    A.c.key_user == user,
                    sa.or_(A.c.account_id.is_(None), A.c.account_id == E.c.account_id),
                    A.c.first_seen <= E.c.occurred_at,
                    sa.func.epoch_ms(A.c.last_seen) >= ts_ms() - within,
                )
                .exists()
            )
        if esc.actions:
            flag = sa.and_(E.c.action.in_(esc.actions), flag)
        flags.append(sa.func.coalesce(flag, False).label(f"e{len(flags)}"))
    stmt = (
        sa.select(
            E.c.seq,
            E.c.event_id,
            E.c.occurred_at,
            ts_ms().label("ts"),
            E.c.action,
            *key_columns(det.group_by),
            user.label("who"),
            *flags,
        )
        .where(
            time_between(lower, scope.hi),
            match_expr(det.match),
            keys_not_null(det.group_by),
        )
        .order_by(E.c.occurred_at, E.c.seq)
    )
    groups: dict[tuple[str, ...], tuple[list[_Point], list[tuple[int, str, datetime, int]]]] = {}
    for row in _rows(conn, stmt):
        mp = row._mapping
        key = _keys_of(row, n_keys)
        points, evs = groups.setdefault(key, ([], []))
        ts = int(mp["ts"])
        evs.append((int(mp["seq"]), str(mp["event_id"]), mp["occurred_at"], ts))
        severity = rule.severity
        reasons = []
        for i, esc in enumerate(det.escalate):
            if mp[f"e{i}"]:
                severity = max_severity(severity, esc.severity)
                reasons.append(esc.when)
        detail: dict[str, Any] = {"actions": [str(mp["action"])], "actors": [str(mp["who"])]}
        if reasons:
            detail["escalated_because"] = reasons
        points.append(_Point(ts, ts, severity, {"events": 1.0}, detail=detail))
    findings = _fold(rule, det, det.group_by, groups)
    for finding in findings:
        finding.measures["events"] = float(len(finding.evidence))
        # detail of an island: every action and actor it holds
        actions: set[str] = set()
        actors: set[str] = set()
        reasons_all: set[str] = set()
        for p in groups[tuple(v for _k, v in finding.key)][0]:
            if finding.start <= from_ms(p.start) <= finding.end:
                actions.update(p.detail["actions"])
                actors.update(p.detail["actors"])
                reasons_all.update(p.detail.get("escalated_because", []))
        finding.detail = {"actions": sorted(actions), "actors": sorted(actors)}
        if reasons_all:
            finding.detail["escalated_because"] = sorted(reasons_all)
    return findings


# ------------------------------------------------------------------------------- impossible_travel


def _haversine_sql(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    f = sa.func
    dlat = f.radians(lat2 - lat1) / 2
    dlon = f.radians(lon2 - lon1) / 2
    h = f.pow(f.sin(dlat), 2) + f.cos(f.radians(lat1)) * f.cos(f.radians(lat2)) * f.pow(f.sin(dlon), 2)
    return 2 * 6371.0 * f.asin(f.sqrt(f.least(h, 1.0)))


def _travel(conn: Connection, rule: Rule, det: Detector, scope: Scope) -> list[Finding]:
    span = det.timespan_s * 1000
    lo_ms, hi_ms = to_ms(scope.lo), to_ms(scope.hi)
    n_keys = len(det.group_by)
    base = (
        sa.select(
            E.c.seq,
            E.c.event_id,
            E.c.occurred_at,
            ts_ms().label("ts"),
            E.c.ip,
            E.c.geo_country,
            E.c.geo_city,
            E.c.geo_lat,
            E.c.geo_lon,
            *key_columns(det.group_by),
        )
        .where(
            time_between(scope.lo - timedelta(seconds=det.timespan_s), scope.hi),
            match_expr(det.match),
            keys_not_null(det.group_by),
            E.c.ip_scope == "public",
            E.c.geo_lat.is_not(None),
            E.c.geo_lon.is_not(None),
        )
        .cte("base")
    )
    part = [base.c[f"k{i}"] for i in range(n_keys)]
    carried = ("seq", "event_id", "occurred_at", "ts", "ip", "geo_country", "geo_city", "geo_lat", "geo_lon")
    lagged = sa.select(
        base,
        *[
            sa.func.lag(base.c[c]).over(partition_by=part, order_by=(base.c.ts, base.c.seq)).label(f"p_{c}")
            for c in carried
        ],
    ).cte("lagged")
    km = _haversine_sql(lagged.c.p_geo_lat, lagged.c.p_geo_lon, lagged.c.geo_lat, lagged.c.geo_lon)
    stmt = sa.select(lagged, km.label("km")).where(
        lagged.c.p_ts.is_not(None),
        lagged.c.ts >= lo_ms,
        lagged.c.ts < hi_ms,
        lagged.c.ts - lagged.c.p_ts <= span,
        km >= float(det.params["min_distance_km"]),
    )
    groups: dict[tuple[str, ...], tuple[list[_Point], list[tuple[int, str, datetime, int]]]] = {}
    for row in _rows(conn, stmt):
        mp = row._mapping
        minutes = max(int(mp["ts"]) - int(mp["p_ts"]), 60_000) / 60_000
        speed = float(mp["km"]) / (minutes / 60)
        if speed < float(det.params["min_speed_kmh"]):
            continue
        key = _keys_of(row, n_keys)
        points, evs = groups.setdefault(key, ([], []))
        evs.append((int(mp["p_seq"]), str(mp["p_event_id"]), mp["p_occurred_at"], int(mp["p_ts"])))
        evs.append((int(mp["seq"]), str(mp["event_id"]), mp["occurred_at"], int(mp["ts"])))
        points.append(
            _Point(
                int(mp["p_ts"]),
                int(mp["ts"]),
                rule.severity,
                {
                    "distance_km": round(float(mp["km"]), 1),
                    "speed_kmh": round(speed, 0),
                    "minutes_apart": round((int(mp["ts"]) - int(mp["p_ts"])) / 60_000, 1),
                },
                detail={
                    "from": {
                        "ip": mp["p_ip"],
                        "country": mp["p_geo_country"],
                        "city": mp["p_geo_city"],
                        "lat": degrees(mp["p_geo_lat"]),
                        "lon": degrees(mp["p_geo_lon"]),
                        "at": mp["p_occurred_at"].isoformat(timespec="seconds") + "Z",
                    },
                    "to": {
                        "ip": mp["ip"],
                        "country": mp["geo_country"],
                        "city": mp["geo_city"],
                        "lat": degrees(mp["geo_lat"]),
                        "lon": degrees(mp["geo_lon"]),
                        "at": mp["occurred_at"].isoformat(timespec="seconds") + "Z",
                    },
                },
                only=frozenset((int(mp["p_seq"]), int(mp["seq"]))),
            )
        )
    return _fold(rule, det, det.group_by, groups)


# ------------------------------------------------------------------------------- new_value


def _new_value(conn: Connection, rule: Rule, det: Detector, scope: Scope) -> list[Finding]:
    assert det.field is not None
    hist = int(det.params["history_s"]) * 1000
    learning_ms = int(det.params["learning_days"]) * MS_PER_DAY
    learning_events = int(det.params["learning_events"])
    lo_ms, hi_ms = to_ms(scope.lo), to_ms(scope.hi)
    n_keys = len(det.group_by)
    value = field_expr(det.field)
    base = (
        sa.select(
            E.c.seq, E.c.event_id, E.c.occurred_at, ts_ms().label("ts"), *key_columns(det.group_by), value.label("v")
        )
        .where(
            time_between(scope.lo - timedelta(milliseconds=hist), scope.hi),
            match_expr(det.match),
            keys_not_null(det.group_by),
            value.is_not(None),
        )
        .cte("base")
    )
    part = [base.c[f"k{i}"] for i in range(n_keys)]
    # a value is new when the same key last had it more than `history` ago (or never)
    previous = sa.func.lag(base.c.ts).over(partition_by=[*part, base.c.v], order_by=(base.c.ts, base.c.seq))
    lagged = sa.select(*base.c, previous.label("p_same")).cte("lagged")
    cand = (
        sa.select(lagged)
        .where(
            lagged.c.ts >= lo_ms,
            lagged.c.ts < hi_ms,
            sa.or_(lagged.c.p_same.is_(None), lagged.c.ts - lagged.c.p_same > hist),
        )
        .cte("cand")
    )
    # ... then what the key did in the history before it: only for those few events
    history = (
        sa.select(
            cand.c.seq.label("c_seq"),
            sa.func.count(base.c.seq).label("n_hist"),
            sa.func.list(sa.distinct(base.c.v)).label("seen"),
        )
        .select_from(
            cand.join(
                base,
                sa.and_(
                    *[base.c[f"k{i}"] == cand.c[f"k{i}"] for i in range(n_keys)],
                    base.c.ts >= cand.c.ts - hist,
                    base.c.ts < cand.c.ts,
                ),
            )
        )
        .group_by(cand.c.seq)
        .cte("history")
    )
    stmt = sa.select(cand, history.c.n_hist, history.c.seen).join(history, history.c.c_seq == cand.c.seq)
    candidates = _rows(conn, stmt)
    young = {_keys_of(r, n_keys) for r in candidates if int(r._mapping["n_hist"]) < learning_events}
    first_seen: dict[tuple[str, ...], int] = {}
    if young:
        wanted = sa.values(*[sa.column(f"k{i}", sa.String) for i in range(n_keys)], name="wanted").data(sorted(young))
        keys = key_columns(det.group_by)
        first = (
            sa.select(*keys, sa.func.min(ts_ms()).label("first"))
            .where(
                match_expr(det.match),
                E.c.occurred_at < scope.hi,
                sa.tuple_(*[k.element for k in keys]).in_(sa.select(wanted)),
            )
            .group_by(*[k.element for k in keys])
            .subquery("first")
        )
        q = sa.select(first).join(wanted, sa.and_(*[first.c[f"k{i}"] == wanted.c[f"k{i}"] for i in range(n_keys)]))
        for row in _rows(conn, q):
            first_seen[_keys_of(row, n_keys)] = int(row._mapping["first"])
    groups: dict[tuple[str, ...], tuple[list[_Point], list[tuple[int, str, datetime, int]]]] = {}
    for row in candidates:
        mp = row._mapping
        key = _keys_of(row, n_keys)
        ts = int(mp["ts"])
        n_hist = int(mp["n_hist"])
        learned = n_hist >= learning_events or (key in first_seen and first_seen[key] <= ts - learning_ms)
        if not learned:
            continue
        full_key = (*key, str(mp["v"]))
        points, evs = groups.setdefault(full_key, ([], []))
        evs.append((int(mp["seq"]), str(mp["event_id"]), mp["occurred_at"], ts))
        seen = sorted({str(s) for s in (mp["seen"] or [])})
        points.append(
            _Point(
                ts,
                ts,
                rule.severity,
                {"history_events": float(n_hist)},
                detail={"new": str(mp["v"]), "seen_before": seen, "field": det.field},
            )
        )
    return _fold(rule, det, (*det.group_by, det.field), groups)


# ------------------------------------------------------------------------------- zscore


def _zscore(conn: Connection, rule: Rule, det: Detector, scope: Scope) -> list[Finding]:
    p = det.params
    bucket = int(p["bucket_s"]) * 1000
    baseline = int(p["baseline_s"]) * 1000
    min_count = int(p["min_count"])
    z = float(p["z"])
    min_buckets = int(p["min_baseline_buckets"])
    n_keys = len(det.group_by)
    lo_b = (to_ms(scope.lo) // bucket) * bucket
    hi_ms = to_ms(scope.hi)
    keys = key_columns(det.group_by)
    # DOUBLE, not FLOAT: DuckDB's FLOAT has 32 bits, too few for epoch milliseconds (tens of seconds off)
    b_expr = sa.func.floor(sa.cast(ts_ms(), sa.Double) / bucket).cast(sa.BigInteger) * bucket

    def hourly(lo: datetime, hi: datetime, extra: Any = None) -> Any:
        conds = [time_between(lo, hi), match_expr(det.match), keys_not_null(det.group_by)]
        if extra is not None:
            conds.append(extra)
        return (
            sa.select(*keys, b_expr.label("b"), sa.func.count().label("n"))
            .where(*conds)
            .group_by(*[k.element for k in keys], b_expr)
        )

    cur = hourly(from_ms(lo_b), scope.hi).having(sa.func.count() > min_count)
    cands = [(_keys_of(r, n_keys), int(r._mapping["b"]), int(r._mapping["n"])) for r in _rows(conn, cur)]
    cands = [c for c in cands if c[1] < hi_ms]
    if not cands:
        return []
    cand_keys = sorted({c[0] for c in cands})
    wanted = sa.values(*[sa.column(f"k{i}", sa.String) for i in range(n_keys)], name="wanted").data(cand_keys)
    first_b = min(c[1] for c in cands)
    last_b = max(c[1] for c in cands)
    in_wanted = sa.tuple_(*[k.element for k in keys]).in_(sa.select(wanted))
    hist = hourly(from_ms(first_b - baseline), from_ms(last_b), in_wanted).subquery("hist")
    stats: dict[tuple[tuple[str, ...], int], tuple[int, float, float]] = {}
    cv = sa.values(
        *[sa.column(f"k{i}", sa.String) for i in range(n_keys)], sa.column("b", sa.BigInteger), name="cv"
    ).data([(*c[0], c[1]) for c in cands])
    q = (
        sa.select(
            *[cv.c[f"k{i}"] for i in range(n_keys)],
            cv.c.b,
            sa.func.count(hist.c.n).label("nb"),
            sa.func.avg(hist.c.n).label("mean"),
            sa.func.stddev_pop(hist.c.n).label("sd"),
        )
        .select_from(cv)
        .outerjoin(
            hist,
            sa.and_(
                *[hist.c[f"k{i}"] == cv.c[f"k{i}"] for i in range(n_keys)],
                hist.c.b >= cv.c.b - baseline,
                hist.c.b < cv.c.b,
            ),
        )
        .group_by(*[cv.c[f"k{i}"] for i in range(n_keys)], cv.c.b)
    )
    for row in _rows(conn, q):
        mp = row._mapping
        stats[(_keys_of(row, n_keys), int(mp["b"]))] = (int(mp["nb"]), float(mp["mean"] or 0), float(mp["sd"] or 0))
    # people with a short history are compared with their peers (same first group-by value)
    short = [c for c in cands if stats[(c[0], c[1])][0] < min_buckets]
    peer_stats: dict[tuple[str, int], tuple[int, float, float]] = {}
    if short:
        peer_field = det.group_by[0]
        peers = sa.values(sa.column("p", sa.String), sa.column("b", sa.BigInteger), name="peers").data(
            sorted({(c[0][0], c[1]) for c in short})
        )
        pk = field_expr(peer_field)
        allh = (
            sa.select(pk.label("p"), *keys, b_expr.label("b"), sa.func.count().label("n"))
            .where(
                time_between(from_ms(min(c[1] for c in short) - baseline), from_ms(max(c[1] for c in short))),
                match_expr(det.match),
                keys_not_null(det.group_by),
            )
            .group_by(pk, *[k.element for k in keys], b_expr)
            .subquery("allh")
        )
        q2 = (
            sa.select(
                peers.c.p,
                peers.c.b,
                sa.func.count(allh.c.n).label("nb"),
                sa.func.avg(allh.c.n).label("mean"),
                sa.func.stddev_pop(allh.c.n).label("sd"),
            )
            .select_from(peers)
            .outerjoin(allh, sa.and_(allh.c.p == peers.c.p, allh.c.b >= peers.c.b - baseline, allh.c.b < peers.c.b))
            .group_by(peers.c.p, peers.c.b)
        )
        for row in _rows(conn, q2):
            mp = row._mapping
            peer_stats[(str(mp["p"]), int(mp["b"]))] = (int(mp["nb"]), float(mp["mean"] or 0), float(mp["sd"] or 0))
    fired: list[tuple[tuple[str, ...], int, int, dict[str, float], dict[str, Any]]] = []
    for key, b, n in cands:
        nb, mean, sd = stats[(key, b)]
        basis = "own"
        if nb < min_buckets:
            nb, mean, sd = peer_stats.get((key[0], b), (0, 0.0, 0.0))
            basis = "peers"
            if nb < min_buckets:
                continue  # nobody to compare with: no basis for "far more than usual"
        if n <= mean + z * sd:
            continue
        score = (n - mean) / sd if sd > 0 else float("inf")
        fired.append(
            (
                key,
                b,
                n,
                {
                    "count": float(n),
                    "baseline_mean": round(mean, 2),
                    "baseline_sd": round(sd, 2),
                    "z": round(score, 1) if math.isfinite(score) else 999.0,
                },
                {"baseline": basis, "baseline_buckets": nb, "bucket_minutes": bucket // 60_000},
            )
        )
    if not fired:
        return []
    fk = sa.values(
        *[sa.column(f"k{i}", sa.String) for i in range(n_keys)], sa.column("b", sa.BigInteger), name="fk"
    ).data([(*f[0], f[1]) for f in fired])
    inner = (
        sa.select(E.c.seq, E.c.event_id, E.c.occurred_at, ts_ms().label("ts"), *keys, b_expr.label("b"))
        .where(
            time_between(from_ms(min(f[1] for f in fired)), from_ms(max(f[1] for f in fired) + bucket)),
            match_expr(det.match),
            keys_not_null(det.group_by),
        )
        .subquery("inner")
    )
    ev_q = sa.select(inner).join(
        fk, sa.and_(*[inner.c[f"k{i}"] == fk.c[f"k{i}"] for i in range(n_keys)], inner.c.b == fk.c.b)
    )
    groups: dict[tuple[str, ...], tuple[list[_Point], list[tuple[int, str, datetime, int]]]] = {}
    for row in _rows(conn, ev_q):
        mp = row._mapping
        _points, evs = groups.setdefault(_keys_of(row, n_keys), ([], []))
        evs.append((int(mp["seq"]), str(mp["event_id"]), mp["occurred_at"], int(mp["ts"])))
    for key, b, _n, measures, detail in fired:
        points, _evs = groups.setdefault(key, ([], []))
        points.append(_Point(b, b + bucket - 1, rule.severity, measures, detail=detail))
    return _fold(rule, det, det.group_by, groups)


# ------------------------------------------------------------------------------- outside_hours


def _outside_hours(conn: Connection, rule: Rule, det: Detector, scope: Scope) -> list[Finding]:
    p = det.params
    history_days = int(p["history_s"]) // 86400 or 1
    min_days = int(p["min_active_days"])
    min_share = float(p["min_share"])
    margin = int(p["margin_hours"])
    n_keys = len(det.group_by)
    keys = key_columns(det.group_by)
    day = sa.func.floor(sa.cast(ts_ms(), sa.Double) / MS_PER_DAY).cast(sa.BigInteger)
    hour = sa.func.hour(E.c.occurred_at)
    where = [match_expr(det.match), keys_not_null(det.group_by)]
    # the hours in which the rule's events happened, per person and day (not every event)
    key_group = [k.element for k in keys]
    cells = _rows(
        conn,
        sa.select(*keys, day.label("d"), sa.func.list(sa.distinct(hour)).label("hours"))
        .where(time_between(scope.lo, scope.hi), *where)
        .group_by(*key_group, day),
    )
    if not cells:
        return []
    who = sorted({tuple(str(v) for v in r[:n_keys]) for r in cells})
    wanted = sa.values(*[sa.column(f"k{i}", sa.String) for i in range(n_keys)], name="wanted").data(who)
    # history: every event of these people (any role), not only the ones the rule alerts on
    presence = _rows(
        conn,
        sa.select(*keys, day.label("d"), sa.func.list(sa.distinct(hour)).label("hours"))
        .where(
            time_between(scope.lo - timedelta(days=history_days), scope.hi),
            keys_not_null(det.group_by),
            sa.tuple_(*key_group).in_(sa.select(wanted)),
        )
        .group_by(*key_group, day),
    )
    active: dict[tuple[str, ...], list[tuple[int, list[int]]]] = defaultdict(list)
    for row in presence:
        active[tuple(str(v) for v in row[:n_keys])].append((int(row[n_keys]), [int(h) for h in row[n_keys + 1]]))
    for days in active.values():
        days.sort()

    def usual(key: tuple[str, ...], d: int) -> tuple[int, set[int]]:
        days = active.get(key, [])
        window = days[bisect.bisect_left(days, (d - history_days, [])) : bisect.bisect_left(days, (d, []))]
        counts: dict[int, int] = defaultdict(int)
        for _d, hs in window:
            for h in hs:
                counts[h] += 1
        return len(window), {h for h, c in counts.items() if c >= min_share * len(window)}

    flagged: list[tuple[tuple[str, ...], int, int, int, set[int]]] = []
    for row in cells:
        key = tuple(str(v) for v in row[:n_keys])
        d = int(row[n_keys])
        n_days, common = usual(key, d)
        if n_days < min_days:
            continue
        for h in row[n_keys + 1]:
            if not any((int(h) + off) % 24 in common for off in range(-margin, margin + 1)):
                flagged.append((key, d, int(h), n_days, common))
    if not flagged:
        return []
    spots = sa.values(
        *[sa.column(f"k{i}", sa.String) for i in range(n_keys)],
        sa.column("d", sa.BigInteger),
        sa.column("h", sa.BigInteger),
        name="spots",
    ).data([(*k, d, h) for k, d, h, _n, _c in flagged])
    starts = [d * MS_PER_DAY + h * MS_PER_HOUR for _k, d, h, _n, _c in flagged]
    events_q = (
        sa.select(E.c.seq, E.c.event_id, E.c.occurred_at, ts_ms().label("ts"), *keys, day.label("d"), hour.label("h"))
        .where(time_between(from_ms(min(starts)), from_ms(max(starts) + MS_PER_HOUR)), *where)
        .subquery("ev")
    )
    hits = _rows(
        conn,
        sa.select(events_q).join(
            spots,
            sa.and_(
                *[events_q.c[f"k{i}"] == spots.c[f"k{i}"] for i in range(n_keys)],
                events_q.c.d == spots.c.d,
                events_q.c.h == spots.c.h,
            ),
        ),
    )
    groups: dict[tuple[str, ...], tuple[list[_Point], list[tuple[int, str, datetime, int]]]] = {}
    for row in hits:
        mp = row._mapping
        _points, evs = groups.setdefault(_keys_of(row, n_keys), ([], []))
        evs.append((int(mp["seq"]), str(mp["event_id"]), mp["occurred_at"], int(mp["ts"])))
    for key, d, h, n_days, common in flagged:
        points, _evs = groups.setdefault(key, ([], []))
        start = d * MS_PER_DAY + h * MS_PER_HOUR
        points.append(
            _Point(
                start,
                start + MS_PER_HOUR - 1,
                rule.severity,
                {"active_days_learned": float(n_days)},
                detail={"usual_hours_utc": sorted(common)},
            )
        )
    findings = _fold(rule, det, det.group_by, groups)
    for f in findings:
        f.measures["events"] = float(len(f.evidence))
        f.detail["hours_utc"] = sorted({occ.hour for _id, occ in f.evidence.values()})
    return findings


# ------------------------------------------------------------------------------- silence


def _cells(det: Detector, keys: list[Any], cell: int, lo: datetime, hi: datetime, extra: Any = None) -> Any:
    """Events folded into time cells of `cell` ms per key: the first and last time of each.

    Every gap of at least one cell lies between two non-empty cells, so the gaps that matter
    are exact, while a busy source costs one row per cell instead of one per event.
    """
    ts = ts_ms()
    conds = [time_between(lo, hi), match_expr(det.match), keys_not_null(det.group_by)]
    if extra is not None:
        conds.append(extra)
    c = sa.func.floor(sa.cast(ts, sa.Double) / cell).cast(sa.BigInteger)
    return (
        sa.select(
            *keys,
            c.label("c"),
            sa.func.min(ts).label("first_ts"),
            sa.func.max(ts).label("last_ts"),
        )
        .where(*conds)
        .group_by(*[k.element for k in keys], c)
        .cte("cells")
    )


def _gap_rows(cells: Any, n_keys: int) -> Any:
    """The cells with the gap since the previous non-empty cell of the same key."""
    part = [cells.c[f"k{i}"] for i in range(n_keys)]
    return sa.select(
        *part,
        cells.c.first_ts,
        sa.func.lag(cells.c.last_ts).over(partition_by=part, order_by=cells.c.c).label("p_ts"),
        sa.func.row_number().over(partition_by=part, order_by=cells.c.c).label("rn"),
    ).cte("gaps")


def _silence_usual(
    conn: Connection, det: Detector, n_keys: int, cands: list[tuple[tuple[str, ...], int, int]]
) -> dict[tuple[tuple[str, ...], int], tuple[int, float]]:
    """For each (key, gap start): how long the history is (ms), and its longest gap (ms).

    Only gaps of at least min_silence / factor can raise the threshold above min_silence, so
    only those are read back (a busy source has thousands of short gaps a day).
    """
    p = det.params
    hist = int(p["history_s"]) * 1000
    floor_gap = max(int(int(p["min_silence_s"]) * 1000 / float(p["factor"])), 1000)
    keys = key_columns(det.group_by)
    wanted = sa.values(*[sa.column(f"k{i}", sa.String) for i in range(n_keys)], name="wanted").data(
        sorted({c[0] for c in cands})
    )
    first = min(c[1] for c in cands) - hist
    last = max(c[1] for c in cands)
    in_wanted = sa.tuple_(*[k.element for k in keys]).in_(sa.select(wanted))
    gaps = _gap_rows(_cells(det, keys, floor_gap, from_ms(first), from_ms(last + 1), in_wanted), n_keys)
    rows = _rows(conn, sa.select(gaps).where(sa.or_(gaps.c.rn == 1, gaps.c.first_ts - gaps.c.p_ts >= floor_gap)))
    big: dict[tuple[str, ...], list[tuple[int, int]]] = {}
    oldest: dict[tuple[str, ...], int] = {}
    for row in rows:
        key = tuple(str(v) for v in row[:n_keys])
        first_ts, p_ts, rn = int(row[n_keys]), row[n_keys + 1], int(row[n_keys + 2])
        if rn == 1:
            oldest[key] = first_ts
        else:
            big.setdefault(key, []).append((first_ts, first_ts - int(p_ts)))
    out: dict[tuple[tuple[str, ...], int], tuple[int, float]] = {}
    for series in big.values():
        series.sort()
    for key, start, _end in cands:
        since = max(oldest.get(key, start), start - hist)
        out[(key, start)] = (start - since, float(_longest(big.get(key, []), start - hist, start)))
    return out


def _longest(series: list[tuple[int, int]], after: int, until: int) -> int:
    """The longest gap of a sorted (end ms, length ms) series that ends in (after, until]."""
    lo = bisect.bisect_right(series, (after, 2**62))
    hi = bisect.bisect_right(series, (until, 2**62))
    return max((g for _t, g in series[lo:hi]), default=0)


def _silence(conn: Connection, rule: Rule, det: Detector, scope: Scope, live: bool = False) -> list[Finding]:
    p = det.params
    min_silence = int(p["min_silence_s"]) * 1000
    hist = int(p["history_s"]) * 1000
    lo_ms, hi_ms = to_ms(scope.lo), to_ms(scope.hi)
    n_keys = len(det.group_by)
    keys = key_columns(det.group_by)
    base_where = [match_expr(det.match), keys_not_null(det.group_by)]
    floor_gap = max(int(min_silence / float(p["factor"])), 1000)
    gaps: list[tuple[tuple[str, ...], int, int]] = []  # key, start ms, end ms
    big_gaps: dict[tuple[str, ...], list[tuple[int, int]]] = {}  # key -> (end ms, length ms)
    first_seen: dict[tuple[str, ...], int] = {}
    scanned_from = lo_ms - min_silence
    if not live:
        # gap = (previous event, event); candidates end inside the scope and last at least min_silence;
        # the gaps long enough to matter for a threshold come along, as history for later gaps
        cells = _gap_rows(_cells(det, keys, floor_gap, from_ms(scanned_from), scope.hi), n_keys)
        rows = _rows(
            conn, sa.select(cells).where(sa.or_(cells.c.rn == 1, cells.c.first_ts - cells.c.p_ts >= floor_gap))
        )
        opening: dict[tuple[str, ...], int] = {}
        for row in rows:
            key = tuple(str(v) for v in row[:n_keys])
            ts, rn = int(row[n_keys]), int(row[n_keys + 2])
            if rn == 1:
                first_seen[key] = ts
                if ts >= lo_ms:
                    opening[key] = ts  # nothing in the hour before: the real gap starts earlier
                continue
            p_ts = int(row[n_keys + 1])
            big_gaps.setdefault(key, []).append((ts, ts - p_ts))
            if ts >= lo_ms and ts - p_ts >= min_silence:
                gaps.append((key, p_ts, ts))
        if opening:
            wanted = sa.values(*[sa.column(f"k{i}", sa.String) for i in range(n_keys)], name="wanted").data(
                sorted(opening)
            )
            prev = _rows(
                conn,
                sa.select(*keys, sa.func.max(ts_ms()).label("p_ts"))
                .where(
                    time_between(from_ms(lo_ms - hist), from_ms(scanned_from)),
                    *base_where,
                    sa.tuple_(*[k.element for k in keys]).in_(sa.select(wanted)),
                )
                .group_by(*[k.element for k in keys]),
            )
            for row in prev:
                key = _keys_of(row, n_keys)
                p_ts, first_ts = int(row._mapping["p_ts"]), opening[key]
                if first_ts - p_ts >= min_silence:
                    gaps.append((key, p_ts, first_ts))
    else:
        # live: the silence that lasts until now, for every source seen in the history
        last = _rows(
            conn,
            sa.select(*keys, sa.func.max(ts_ms()).label("p_ts"))
            .where(time_between(from_ms(hi_ms - hist), scope.hi), *base_where)
            .group_by(*[k.element for k in keys]),
        )
        for row in last:
            start = int(row._mapping["p_ts"])
            if hi_ms - start >= min_silence:
                gaps.append((_keys_of(row, n_keys), start, hi_ms))
    if not gaps:
        return []
    usual: dict[tuple[tuple[str, ...], int], tuple[int, float]] = {}
    remote = []
    for series in big_gaps.values():
        series.sort()
    for key, start, end in gaps:
        if not live and start - hist >= scanned_from:
            # the whole history is in what was just read (a re-run over a long period)
            since = max(first_seen.get(key, start), start - hist)
            usual[(key, start)] = (start - since, float(_longest(big_gaps.get(key, []), start - hist, start)))
        else:
            remote.append((key, start, end))
    if remote:
        usual.update(_silence_usual(conn, det, n_keys, remote))
    fired = []
    for i, (key, start, end) in enumerate(gaps):
        learned, q = usual.get((key, start), (0, 0.0))
        if learned < int(p["learning_s"]) * 1000:
            continue
        threshold = max(float(p["factor"]) * q, float(min_silence))
        if end - start <= threshold:
            continue
        fired.append((i, key, start, end, learned, q, threshold))
    if not fired:
        return []
    # evidence: the last event before the silence (and the first after it, when it ended)
    moments = sorted({m for _i, _k, start, end, *_rest in fired for m in ((start,) if live else (start, end))})
    edges: dict[tuple[tuple[str, ...], int], tuple[int, str]] = {}
    for row in _rows(
        conn,
        sa.select(E.c.seq, E.c.event_id, ts_ms().label("ts"), *keys).where(
            time_between(from_ms(moments[0]), from_ms(moments[-1] + 1)),
            E.c.occurred_at.in_([from_ms(m) for m in moments]),
            *base_where,
        ),
    ):
        edges.setdefault((_keys_of(row, n_keys), int(row._mapping["ts"])), (int(row.seq), str(row.event_id)))
    groups: dict[tuple[str, ...], tuple[list[_Point], list[tuple[int, str, datetime, int]]]] = {}
    for _i, key, start, end, learned, q, threshold in fired:
        points, evs = groups.setdefault(key, ([], []))
        ongoing = live
        for moment in (start, end):
            if (key, moment) in edges and not (moment == end and ongoing):
                seq, event_id = edges[(key, moment)]
                evs.append((seq, event_id, from_ms(moment), moment))
        hours = (end - start) / MS_PER_HOUR
        points.append(
            _Point(
                start,
                end,
                rule.severity,
                {
                    "silent_hours": round(hours, 2),
                    "usual_gap_hours": round(q / MS_PER_HOUR, 2),
                    "threshold_hours": round(threshold / MS_PER_HOUR, 2),
                },
                detail={
                    "ongoing": ongoing,
                    "silent_from": from_ms(start).isoformat(timespec="seconds") + "Z",
                    "silent_until": from_ms(end).isoformat(timespec="seconds") + "Z",
                    "history_days": round(learned / MS_PER_DAY, 1),
                },
            )
        )
    return _fold(rule, det, det.group_by, groups)


# ------------------------------------------------------------------------------- dispatch

_RUNNERS: dict[str, Callable[[Connection, Rule, Detector, Scope], list[Finding]]] = {
    "event_count": _window_counts,
    "value_count": _window_counts,
    "temporal_ordered": _temporal,
    "each": _each,
    "impossible_travel": _travel,
    "new_value": _new_value,
    "zscore": _zscore,
    "outside_hours": _outside_hours,
    "silence": _silence,
}


def evaluate(conn: Connection, rule: Rule, scope: Scope) -> list[Finding]:
    """Every finding of one rule whose anchors fall in the scope."""
    out: list[Finding] = []
    for det in rule.detectors:
        out.extend(_RUNNERS[det.type](conn, rule, det, scope))
    return out


def evaluate_live_silence(conn: Connection, rule: Rule, now: datetime) -> list[Finding]:
    """Silences that last until `now` (the scheduled check of log sources)."""
    out: list[Finding] = []
    for det in rule.detectors:
        if det.type == "silence":
            out.extend(_silence(conn, rule, det, Scope(now, now, now), live=True))
    return out


def iter_chunks(lo: datetime, hi: datetime, days: int) -> Iterable[tuple[datetime, datetime]]:
    """[lo, hi) cut into pieces of at most `days` days."""
    step = timedelta(days=days)
    start = lo
    while start < hi:
        end = min(start + step, hi)
        yield start, end
        start = end
