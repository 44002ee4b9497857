"""A page's parts run side by side (`views.in_parallel`) as they would one after the other."""

from __future__ import annotations

import threading

import pytest

from dashboard.store import rollups
from dashboard.web.components import views


def test_every_part_runs_in_the_callers_context() -> None:
    # a part on a thread of its own still reads the raw events when the caller asked for them
    with rollups.raw_only():
        assert views.in_parallel(rollups.raw_only_now, rollups.raw_only_now, rollups.raw_only_now) == [True] * 3
    assert views.in_parallel(rollups.raw_only_now, rollups.raw_only_now) == [False, False]


def test_results_in_order_and_the_first_error_raised() -> None:
    names: list[str] = []

    def part(n: int) -> int:
        names.append(threading.current_thread().name)
        return n

    assert views.in_parallel(*(lambda n=n: part(n) for n in range(4))) == [0, 1, 2, 3]
    assert sum(name.startswith("page-view") for name in names) == 3  # the last runs in the caller's thread

    def broken() -> int:
        raise ValueError("part failed")

    with pytest.raises(ValueError, match="part failed"):
        views.in_parallel(broken, lambda: 1)
