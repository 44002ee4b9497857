"""Deterministic identifiers: UUID-shaped strings drawn from integer keys and a salt."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import numpy.typing as npt

from dashboard.demo.spec import DemoSpec

I64 = npt.NDArray[np.int64]


def mix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64 finaliser, vectorised (uint64 arithmetic wraps on purpose)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uuids(numbers: I64, salt: int) -> list[str]:
    """Deterministic UUID-shaped strings for integer keys."""
    x = numbers.astype(np.uint64) ^ np.uint64(salt & 0xFFFFFFFFFFFFFFFF)
    hi = mix64(x).tolist()
    lo = mix64(x ^ np.uint64(0x5DEECE66D)).tolist()
    out = []
    for a, b in zip(hi, lo, strict=True):
        s = f"{a:016x}{b:016x}"
        out.append(f"{s[:8]}-{s[8:12]}-4{s[13:16]}-a{s[17:20]}-{s[20:]}")
    return out


def run_ids(spec: DemoSpec, p1: int) -> tuple[str, int]:
    """The event id prefix and the salt of the request and session ids of one generated set."""
    digest = hashlib.sha256(json.dumps([spec.days, spec.seed, spec.events, spec.incidents, p1]).encode()).hexdigest()
    return f"demo-{digest[:6]}-", int(digest[6:22], 16)
