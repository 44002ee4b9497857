"""CPU seconds per test file, printed at the end of a run (a pytest plugin, loaded by conftest.py).

The suite's wall time on a shared machine says little about what it costs; CPU time does. Each
phase of each test (setup, call, teardown) adds the CPU its process used since the previous one,
with the processes it started and waited for (servers, browsers, command-line runs): a module's
server is counted where the module's last test tears it down, a session fixture (the demo data,
PostgreSQL) where it is first made. With pytest-xdist each worker measures its own tests and the
controller adds them up. The table goes to the terminal and to test-results/cpu-by-file.txt.
"""

from __future__ import annotations

import resource
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CPU_KEY = "cpu_s"
REPORT = Path(__file__).resolve().parent.parent / "test-results" / "cpu-by-file.txt"
_last: list[float] = []
_by_file: defaultdict[str, float] = defaultdict(float)


def _cpu_now() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    now = _cpu_now()
    spent = now - (_last[0] if _last else now)
    _last[:] = [now]
    outcome.get_result().user_properties.append((CPU_KEY, spent))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for key, value in report.user_properties:
        if key == CPU_KEY:
            _by_file[report.nodeid.split("::", 1)[0]] += float(value)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _by_file:
        return
    total = sum(_by_file.values())
    rows = sorted(_by_file.items(), key=lambda kv: -kv[1])
    lines = [f"{seconds:8.1f} s  {name}" for name, seconds in rows]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(f"{total:8.1f} s  all test files\n" + "\n".join(lines) + "\n")
    terminalreporter.section("CPU seconds by test file (with the processes the tests started)")
    terminalreporter.write_line(f"{total:8.1f} s  all {len(rows)} files; the 15 costliest (all: {REPORT}):")
    for line in lines[:15]:
        terminalreporter.write_line(line)
