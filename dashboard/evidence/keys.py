"""Signing keys of checkpoints: their short public names, how this database signs (Ed25519 by
default, HMAC-SHA256 when configured) and every key a verification can check a signature with.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dashboard.evidence.locations import ED25519, HMAC_SHA256, Locations

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def key_id(key: bytes) -> str:
    """A short public name of an HMAC key (so a verifier can tell which key signed)."""
    return hashlib.sha256(b"auditdash checkpoint key\x00" + key).hexdigest()[:16]


def public_key_id(key: Ed25519PublicKey) -> str:
    """A short name of an Ed25519 public key (SHA-256 of its 32 raw bytes, first 16 hex digits)."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(b"auditdash checkpoint public key\x00" + raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    algorithm: str
    key_id: str
    sign: Callable[[bytes], str]


def signer_of(where: Locations) -> Signer:
    """How this database signs its checkpoints (the key is made on first use)."""
    if where.signing == ED25519:
        private = where.load_signing_key(create=True)
        assert private is not None
        return Signer(ED25519, public_key_id(private.public_key()), lambda data: private.sign(data).hex())
    secret = where.load_key(create=True)
    assert secret is not None
    return Signer(HMAC_SHA256, key_id(secret), lambda data: hmac.new(secret, data, hashlib.sha256).hexdigest())


def signature_checks(
    where: Locations, public_keys: Sequence[Path] = ()
) -> dict[str, tuple[str, Callable[[bytes, str], bool]]]:
    """key id -> (algorithm, check(payload, signature)) for every key this verification can use."""
    out: dict[str, tuple[str, Callable[[bytes, str], bool]]] = {}
    for public in where.load_public_keys(public_keys):

        def check(data: bytes, signature: str, key: Ed25519PublicKey = public) -> bool:
            from cryptography.exceptions import InvalidSignature

            try:
                key.verify(bytes.fromhex(signature), data)
            except (InvalidSignature, ValueError):
                return False
            return True

        out.setdefault(public_key_id(public), (ED25519, check))
    secret = where.load_key(create=False) if not public_keys else None
    if secret is not None:

        def check_hmac(data: bytes, signature: str, key: bytes = secret) -> bool:
            expected = hmac.new(key, data, hashlib.sha256).hexdigest().encode()
            return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))

        out.setdefault(key_id(secret), (HMAC_SHA256, check_hmac))
    return out
