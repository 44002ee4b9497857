"""The demo generator is reproducible to the byte: a spec with a fixed end always writes the same
NDJSON and truth files, however the events are batched.

The sha256 values below were computed from the generator's output when it was one module, before
it became the `dashboard.demo` package; a refactoring that changes what a seed produces fails
here. If the output changes on purpose (a new event kind, a new field), generate the two sets
again and pin their new digests, saying why in the change. A numpy release whose random
generator draws differently also fails here: the seed then means different data.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboard.demo import DemoSpec, generate, write_ndjson

END = datetime(2026, 6, 30, 13, 7, tzinfo=UTC)

# name: (spec, events, sha256 of the NDJSON file, sha256 of the .truth.json file)
PINNED = {
    "planted": (
        DemoSpec(days=10, events=6_000, seed=5, end=END),
        5_906,
        "9d598c44bd1a5188b48ae33b3246f2aa68978612549f4b3e7f0f0c31805fd3be",
        "e9fad7c0d5def9d3bdb8048be95323d2499743d627d3706bcf28c7d4754dc65c",
    ),
    "quiet": (
        DemoSpec(days=7, events=3_000, seed=9, end=END, incidents=False),
        3_000,
        "1e70ac867ed4d16e41fda0e8b071ce5443bd552a38559453dcd161860bc8f06a",
        "18d4c21fd2e945a628c57ecf2c4915ba3c0af26739ab5c58dc9a0d9cc23a6894",
    ),
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(PINNED))
def test_a_seed_writes_the_pinned_files(name: str, tmp_path: Path) -> None:
    spec, events, events_sha, truth_sha = PINNED[name]
    out = tmp_path / f"{name}.ndjson"
    truth = write_ndjson(spec, out)
    assert truth["generated_events"] == events
    assert len(out.read_bytes().splitlines()) == events
    assert len(truth["incidents"]) == (7 if spec.incidents else 0)
    assert _sha256(out) == events_sha, f"{name}: the events of {spec} are not the pinned ones"
    assert _sha256(out.with_suffix(".truth.json")) == truth_sha, f"{name}: the truth of {spec} is not the pinned one"


def test_batching_does_not_change_the_events(tmp_path: Path) -> None:
    spec, _events, events_sha, _truth_sha = PINNED["planted"]
    batches, truth = generate(spec, batch_size=977)
    sizes = []
    lines = []
    for batch in batches:
        sizes.append(len(batch))
        lines += [json.dumps(ev, ensure_ascii=False, separators=(",", ":")) for ev in batch]
    assert sizes[:-1] == [977] * (len(sizes) - 1) and 0 < sizes[-1] <= 977
    text = "\n".join(lines) + "\n"
    assert hashlib.sha256(text.encode()).hexdigest() == events_sha
    assert truth["generated_events"] == len(lines)
