"""Writing a generated set to files: the events as NDJSON and the ground truth beside them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dashboard.demo.generator import generate
from dashboard.demo.spec import DemoSpec


def write_ndjson(spec: DemoSpec, path: Path) -> dict[str, Any]:
    """Write events as NDJSON to path and the truth to path with suffix .truth.json; return truth."""
    path = Path(path)
    batches, truth = generate(spec)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with path.open("w", encoding="utf-8") as fh:
        for batch in batches:
            fh.write("\n".join(dumps(ev) for ev in batch))
            fh.write("\n")
    truth_path = path.with_suffix(".truth.json")
    truth_path.write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return truth
