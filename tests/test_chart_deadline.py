"""A charts' browser that does not answer costs a pack its charts, never the pack (packs/charts.py)."""

from __future__ import annotations

import time

import plotly.graph_objects as go
import pytest

from dashboard.packs import charts


def test_a_call_past_its_deadline_is_given_up() -> None:
    assert charts._bounded("answer", 5, lambda: 42) == 42
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="did not answer within"):
        charts._bounded("answer", 0.2, lambda: time.sleep(3))
    assert time.monotonic() - started < 2.5  # the caller did not wait for the sleeper
    with pytest.raises(ZeroDivisionError):  # what the call raises reaches the caller
        charts._bounded("answer", 5, lambda: 1 / 0)


def test_charts_that_take_too_long_are_a_chart_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charts, "RENDER_DEADLINE_S", 0.0)  # no real browser draws in no time
    figure = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    with pytest.raises(charts.ChartError, match="did not draw the charts within"):
        charts.render([charts.Chart(figure)])
    monkeypatch.undo()  # the next pack draws again
    images = charts.render([charts.Chart(figure)])
    assert len(images) == 1 and images[0][:2] == b"\xff\xd8"  # a JPEG
