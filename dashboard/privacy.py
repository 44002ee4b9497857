"""Masking of personal data for viewers who do not need it (GDPR minimisation).

Masking happens on the server, before data leaves it: callbacks, downloads and packs call
these functions for masked roles; the browser never receives the full value.
"""

from __future__ import annotations

import ipaddress


def mask_ip(ip: str | None) -> str | None:
    """Keep the network part only: 203.0.113.7 -> 203.0.113.x, 2001:db8:1:2::5 -> 2001:db8:1::x."""
    if ip is None:
        return None
    if "x" in ip.lower():
        return ip  # already masked by the sender
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "masked"
    if addr.version == 4:
        return ".".join(str(addr).split(".")[:3]) + ".x"
    groups = addr.exploded.split(":")[:3]
    return ":".join(g.lstrip("0") or "0" for g in groups) + "::x"


def shorten_name(name: str | None) -> str | None:
    """First name and initial of the last: 'Ana Souza' -> 'Ana S.'; an e-mail keeps its first letter."""
    if not name:
        return name
    if "@" in name:
        local, _, domain = name.partition("@")
        return f"{local[:1]}…@{domain}"
    parts = name.split()
    if len(parts) == 1:
        return parts[0]
    return f"{parts[0]} {parts[-1][:1]}."
