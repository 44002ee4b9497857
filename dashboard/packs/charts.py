"""Charts for the PDF: the dashboard's own figures (dashboard.figures), rendered to images by kaleido.

Kaleido drives a headless Chromium (Debian's /usr/bin/chromium). One browser serves the whole
process (`kaleido.start_sync_server`): the first image takes a second or two, later ones a few
tenths. The browser holds about 1 GB while it runs, so it is started for a pack and stopped
when the pack's charts are done (unless something else in the process had started it), and
calls are serialised: the sync server has a single queue shared by every thread.

Every call into kaleido has a deadline (`_bounded`): a browser that never starts or never answers
(seen once in a full parallel test run: the pack queue then waited forever, and so did every pack
after it) costs a pack its charts, which the PDF then names, never the pack itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import plotly.graph_objects as go

log = logging.getLogger(__name__)
T = TypeVar("T")

_lock = threading.Lock()

#: pixels of a full-width chart; drawn at `SCALE` for print sharpness.
WIDTH = 1000
SCALE = 1.6
#: JPEG goes into the PDF as it is (reportlab would decode and re-compress a PNG: twice the time).
FORMAT = "jpeg"

#: the world outlines the dashboard's maps use (shipped in assets/, as the machines have no
#: internet); the browser reads them from the file, as plotly.js would read them from its CDN.
TOPOJSON_DIR = Path(__file__).resolve().parents[2] / "assets" / "topojson"


#: seconds the charts' browser may take to start, to draw all of a pack's charts, to stop
START_DEADLINE_S = 30.0
RENDER_DEADLINE_S = 45.0
STOP_DEADLINE_S = 10.0


def _bounded(what: str, seconds: float, func: Callable[[], T]) -> T:
    """`func()`, run in a thread of its own; TimeoutError when it has not returned in `seconds`
    (the thread is left behind: kaleido's calls cannot be interrupted)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = func()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=run, name=f"kaleido {what}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"the charts' browser did not {what} within {seconds:.0f} s")
    if "error" in box:
        raise box["error"]
    return cast(T, box["value"])


def maps_drawable() -> bool:
    """Whether the map outlines are where the charts' browser reads them."""
    return (TOPOJSON_DIR / "world_110m.json").is_file()


@dataclass(frozen=True)
class Chart:
    """A figure to draw and its place on the page."""

    figure: go.Figure
    height: int = 420
    width: int = WIDTH


class ChartError(RuntimeError):
    """Charts could not be drawn (no browser); the PDF says so instead of failing."""


def _server() -> object | None:
    import kaleido

    return getattr(kaleido, "_global_server", None)


#: why the charts' browser was given up (a drawing did not return in time: its thread is stuck in
#: kaleido's shared server, and every later call would queue behind it), until a new one starts
_wedged: str | None = None


def _abandon_server() -> None:
    """Let the next `Session` start a new browser: kaleido's server is a singleton whose `close`
    waits for its stuck thread (forever), so it is marked stopped instead and kaleido is given a new
    instance; the stuck thread and its browser are left behind with the old one (a daemon thread;
    the browser ends with the process).

    The old instance must stay whole: its thread reads `self._task_queue` each time round its loop,
    so when the stuck drawing returns it waits on its own queue for ever. Reusing the instance let
    the next session's `open` hand that thread the new queue and `close` then delete it under the
    thread, which died with an AttributeError in whatever ran next."""
    import kaleido
    from kaleido import _sync_server

    server = _server()
    if server is not None and getattr(server, "_initialized", False):
        server._initialized = False  # type: ignore[attr-defined]  # its close (at exit too) then does nothing
        _sync_server.GlobalKaleidoServer._instance = None
        kaleido._global_server = _sync_server.GlobalKaleidoServer()


class Session:
    """One browser for the charts of one pack: started on enter, so it boots while the queries run."""

    def __init__(self) -> None:
        self._started = False
        self.error: str | None = None

    def __enter__(self) -> Session:
        global _wedged
        _lock.acquire()
        try:
            import kaleido

            if _wedged is not None:
                log.warning("the charts' browser stopped answering earlier (%s): starting a new one", _wedged)
                _abandon_server()
                _wedged = None
            server = _server()
            running = bool(server is not None and getattr(server, "is_running", lambda: False)())
            if not running:
                # no MathJax: it would be fetched from a CDN, and these machines have no internet
                self._started = True
                _bounded(
                    "start",
                    START_DEADLINE_S,
                    lambda: kaleido.start_sync_server(mathjax=False, silence_warnings=True),
                )
        except Exception as exc:  # no browser: the PDF says so and goes on
            self.error = f"{type(exc).__name__}: {exc}"
        return self

    def render(self, charts: Sequence[Chart]) -> list[bytes]:
        """Image bytes (JPEG) of each chart, in order."""
        if self.error:
            raise ChartError(f"charts could not be drawn: {self.error}")
        import kaleido

        def draw() -> list[bytes]:
            return [
                bytes(
                    kaleido.calc_fig_sync(
                        chart.figure,
                        opts={"format": FORMAT, "width": chart.width, "height": chart.height, "scale": SCALE},
                        topojson=TOPOJSON_DIR.as_uri() + "/",
                    )
                )
                for chart in charts
            ]

        try:
            return _bounded("draw the charts", RENDER_DEADLINE_S, draw)
        except TimeoutError as exc:
            # the browser is stuck: the pack's other charts fail at once, the next pack gets a new one
            global _wedged
            _wedged = self.error = str(exc)
            raise ChartError(f"charts could not be drawn: {exc}") from exc
        except Exception as exc:
            raise ChartError(f"charts could not be drawn: {exc}") from exc

    def __exit__(self, *exc: object) -> None:
        global _wedged
        try:
            if _wedged is not None:
                _abandon_server()  # stopping it would wait for its stuck thread
            elif self._started:
                import kaleido

                _bounded("stop", STOP_DEADLINE_S, lambda: kaleido.stop_sync_server(silence_warnings=True))
        except TimeoutError as exc:  # still closing: the next pack starts a browser of its own
            _wedged = str(exc)
            log.warning("%s", exc)
        except Exception:  # pragma: no cover - stopping must not hide the result
            log.exception("stopping kaleido failed")
        finally:
            _lock.release()


def render(charts: Sequence[Chart]) -> list[bytes]:
    """Image bytes (JPEG) of each chart, in order (one browser for all of them)."""
    if not charts:
        return []
    with Session() as session:
        return session.render(charts)
