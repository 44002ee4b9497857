"""Masking of personal data for viewers who do not need it (GDPR minimisation).

Masking happens on the server, before data leaves it: callbacks, downloads and packs call
these functions for masked roles; the browser never receives the full value.

An address is masked to its network: an IPv4 address keeps its /24 (`203.0.113.x`), an IPv6
address its /48 (`2001:db8:1::x`). `mask_ip` does it in Python, `mask_ipv4_sql` in the database
(to group by network before counting), and `masked_network` turns either form into the CIDR
block a masked viewer may filter on.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa

#: the prefix length a masked address keeps, by IP version.
MASK_PREFIX: dict[int, int] = {4: 24, 6: 48}


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
    groups = addr.exploded.split(":")[: MASK_PREFIX[6] // 16]
    return ":".join(g.lstrip("0") or "0" for g in groups) + "::x"


def mask_ipv4_sql(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """`mask_ip` of IPv4 addresses in SQL (`203.0.113.7` -> `203.0.113.x`); other values unchanged.

    Queries group by it so a masked viewer sees each /24 once; IPv6 is masked with `mask_ip` after.
    """
    return sa.func.regexp_replace(column, r"\.[0-9]+$", ".x")


def masked_network(ip: str) -> str | None:
    """The CIDR block an address or its masked form stands for: '203.0.113.7' and '203.0.113.x'
    -> '203.0.113.0/24', IPv6 -> its /48; None for anything else."""
    text = ip.strip()
    try:
        if text.endswith(".x") and text.count(".") == 3:
            return str(ipaddress.ip_network(text[:-1] + f"0/{MASK_PREFIX[4]}"))
        if text.endswith("::x"):
            return str(ipaddress.ip_network(text[:-1] + f"/{MASK_PREFIX[6]}", strict=False))
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    return str(ipaddress.ip_network(f"{addr}/{MASK_PREFIX[addr.version]}", strict=False))


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
