"""The partial plotly.js bundle in assets/vendor/plotly holds every trace type the code draws.

A chart of a trace type the bundle lacks would draw nothing; `scripts/build-plotly-bundle.sh`
rebuilds the bundle (its banner names the plotly.js version and the trace types it holds).
"""

from __future__ import annotations

import re
from pathlib import Path

import plotly.graph_objects as go
from plotly.basedatatypes import BaseTraceType
from plotly.offline import get_plotlyjs_version

from dashboard.web.app import ASSETS_DIR, PLOTLY_BUNDLE

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ASSETS_DIR / "vendor" / "plotly" / "plotly-auditdash.min.js"
BANNER = re.compile(r"plotly\.js (\S+) \(MIT.*?partial bundle for auditdash: ([a-z0-9 ]+);")


def _bundle() -> tuple[str, set[str]]:
    head = BUNDLE.read_text(encoding="utf-8")[:400]
    found = BANNER.search(head)
    assert found, f"{BUNDLE} names no version and traces: rebuild it with scripts/build-plotly-bundle.sh"
    return found.group(1), set(found.group(2).split())


def _trace_types_in_code() -> set[str]:
    """Trace types the code draws: `go.Scatter(...)` and figure specs' `"type": "heatmap"`."""
    classes = (getattr(go, name) for name in go.__all__)
    names = {c.__name__.lower() for c in classes if isinstance(c, type) and issubclass(c, BaseTraceType)}
    used: set[str] = set()
    for path in (ROOT / "dashboard").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used.update(m.lower() for m in re.findall(r"\bgo\.([A-Z][A-Za-z0-9]*)\(", text))
        used.update(re.findall(r"""["']type["']\s*:\s*["']([a-z0-9]+)["']""", text))
        used.update(re.findall(r"""\btype=["']([a-z0-9]+)["']""", text))
    return used & names


def test_every_trace_type_drawn_is_in_the_bundle() -> None:
    _, traces = _bundle()
    used = _trace_types_in_code()
    assert {"bar", "heatmap", "scattergeo"} <= used  # the scan sees the pages' charts
    assert used <= traces, f"add {sorted(used - traces)} to scripts/build-plotly-bundle.sh and rebuild"


def test_the_bundle_is_the_plotly_js_of_the_python_package_and_loaded_on_demand() -> None:
    version, _ = _bundle()
    assert version == get_plotlyjs_version()
    # Dash leaves it out of the scripts of every page (assets/plotly-loader.js loads it for a chart)
    assert re.search(PLOTLY_BUNDLE, BUNDLE.name)
    others = [p.name for p in ASSETS_DIR.rglob("*.js") if p != BUNDLE]
    assert "plotly-loader.js" in others and not [n for n in others if re.search(PLOTLY_BUNDLE, n)]
    assert BUNDLE.name in (ASSETS_DIR / "plotly-loader.js").read_text(encoding="utf-8")
    assert (BUNDLE.parent / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
