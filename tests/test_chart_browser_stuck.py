"""A charts' browser that stops answering is given up, and the next pack draws with a new one.

kaleido draws the PDF's charts in one browser shared by the process; a drawing that never returns
left every later call queued behind it (each pack then waited the drawing deadline per chart, and a
test run hung in a pack test). The browser is stopped for real here (SIGSTOP to its processes), the
drawing deadline shortened so the test is quick.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import plotly.graph_objects as go
import pytest

from dashboard.packs import charts

pytestmark = pytest.mark.slow


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _browsers() -> set[int]:
    found = set()
    for pid in _descendants(os.getpid()):
        try:
            if b"chrom" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
        except OSError:
            continue
    return found


# the given-up drawing's thread keeps kaleido's old server object (with its own queue): the test
# ends it through that queue once its browser is gone, and waits for it, so nothing of it runs on into
# a later test (it may fail on its dead browser as it ends: expected here)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_stuck_browser_is_given_up_and_the_next_pack_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charts, "RENDER_DEADLINE_S", 8.0)
    chart = charts.Chart(go.Figure(go.Bar(x=["a", "b"], y=[3, 4])), height=200, width=300)
    stopped: set[int] = set()
    stuck: threading.Thread | None = None
    first: object | None = None
    try:
        with charts.Session() as session:
            if session.error:
                pytest.fail(f"no charts' browser on this machine: {session.error}")
            (image,) = session.render([chart])
            assert image[:2] == b"\xff\xd8"  # a JPEG
            stopped = _browsers()
            first = charts._server()
            stuck = getattr(first, "_thread", None)
            assert stopped, "the charts' browser was not found among this process's children"
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
            with pytest.raises(charts.ChartError, match="did not draw the charts within 8 s"):
                session.render([chart])
            with pytest.raises(charts.ChartError):  # the pack's other charts are not drawn either
                session.render([chart])
        with charts.Session() as again:  # the next pack: a new browser, through a new server object
            assert again.error is None
            assert charts._server() is not first
            (image,) = again.render([chart])
            assert image[:2] == b"\xff\xd8"
            assert _browsers() - stopped, "no new browser was started"
    finally:
        for pid in stopped:  # the stuck browser this test stopped
            for sig in (signal.SIGKILL, signal.SIGCONT):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
        if stuck is not None:
            queue = getattr(first, "_task_queue", None)
            if queue is not None:
                queue.put(None)  # the old server's thread ends on it (kaleido's own "stop")
            stuck.join(30)
            assert not stuck.is_alive(), "the given-up server's thread is still running"
