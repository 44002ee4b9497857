"""Where the evidence of one database lives: the archive folder, the checkpoint file and the
checkpoint keys (Ed25519 signing key and its public key, or an HMAC key), with their defaults
beside the database file; loading and creating the keys.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dashboard.config import ConfigError, archive_folder
from dashboard.keyfile import create_key_file, warn_if_readable
from dashboard.store.errors import StoreError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    from dashboard.config import Settings

log = logging.getLogger(__name__)


ED25519 = "ed25519"


HMAC_SHA256 = "hmac-sha256"


#: how checkpoints can be signed; Ed25519 is the default: anyone with the public key can check a
#: checkpoint, and only the holder of the private key can make one
SIGNING_ALGORITHMS = (ED25519, HMAC_SHA256)


class IntegrityError(StoreError):
    """The chain, the archive or a checkpoint cannot be checked (a key or a file is missing)."""


@dataclass(frozen=True)
class Locations:
    """Where the archive, the checkpoint file and the checkpoint key of one database live."""

    archive_dir: Path
    checkpoint_path: Path
    key_path: Path  # the HMAC key file
    key: bytes | None = field(default=None, repr=False)  # the HMAC key from the environment, when given
    signing: str = ED25519
    signing_key_path: Path | None = None  # the Ed25519 private key (PEM)
    public_key_path: Path | None = None  # the Ed25519 public key (PEM), for verifiers

    @classmethod
    def resolve(cls, settings: Settings, db_path: Path) -> Locations:
        """Apply the documented defaults (beside the database file) to `settings`."""
        if settings.checkpoint_signing not in SIGNING_ALGORITHMS:
            raise ConfigError(
                f"AUDITDASH_CHECKPOINT_SIGNING={settings.checkpoint_signing!r}: use {' or '.join(SIGNING_ALGORITHMS)}"
            )

        def beside(setting: Path | None, suffix: str) -> Path:
            return Path(setting) if setting else db_path.with_name(db_path.name + suffix)

        return cls(
            archive_dir=archive_folder(settings.archive_dir, db_path),
            checkpoint_path=beside(settings.checkpoint_path, ".checkpoints.jsonl"),
            key_path=beside(settings.checkpoint_key_path, ".checkpoint.key"),
            key=settings.checkpoint_key.encode() if settings.checkpoint_key else None,
            signing=settings.checkpoint_signing,
            signing_key_path=beside(settings.checkpoint_signing_key_path, ".checkpoint.ed25519"),
            public_key_path=beside(settings.checkpoint_public_key_path, ".checkpoint.pub"),
        )

    def _private_key_path(self) -> Path:
        return self.signing_key_path or self.key_path.with_name(self.key_path.name.removesuffix(".key") + ".ed25519")

    def _public_key_path(self) -> Path:
        return self.public_key_path or self.key_path.with_name(self.key_path.name.removesuffix(".key") + ".pub")

    def load_signing_key(self, create: bool = False) -> Ed25519PrivateKey | None:
        """The Ed25519 private key; generated (mode 0600, public key beside it) when missing and `create`."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        path = self._private_key_path()
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            if not create:
                return None
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            if not create_key_file(path, pem):  # another thread made one first: theirs is kept
                return self.load_signing_key(create=False)
            self._write_public_key(key.public_key())
            log.warning(
                "generated checkpoint signing key %s: keep a copy of %s with your auditors",
                path,
                self._public_key_path(),
            )
            return key
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"cannot read the checkpoint signing key {path}: {exc}") from exc
        if not isinstance(loaded, Ed25519PrivateKey):
            raise IntegrityError(f"{path} is not an Ed25519 private key")
        warn_if_readable(path, "checkpoint signing key")
        if not self._public_key_path().exists():
            self._write_public_key(loaded.public_key())
        return loaded

    def _write_public_key(self, key: Ed25519PublicKey) -> None:
        from cryptography.hazmat.primitives import serialization

        pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        path = self._public_key_path()
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(pem)
        tmp.replace(path)

    def load_public_keys(self, extra: Sequence[Path] = ()) -> list[Ed25519PublicKey]:
        """The Ed25519 public keys to verify with: the files in `extra` (an auditor's own copy) and
        only those when given; else the public key file and the one of the private key."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        keys: list[Ed25519PublicKey] = []
        if not extra:
            private = self.load_signing_key(create=False)
            if private is not None:  # the server's own key: a .pub file beside it is not trusted over it
                return [private.public_key()]
        for path in extra or [self._public_key_path()]:
            try:
                loaded = serialization.load_pem_public_key(Path(path).read_bytes())
            except FileNotFoundError:
                if Path(path) in [Path(e) for e in extra]:
                    raise IntegrityError(f"public key file {path} not found") from None
                continue
            except (OSError, ValueError) as exc:
                raise IntegrityError(f"cannot read the public key {path}: {exc}") from exc
            if not isinstance(loaded, Ed25519PublicKey):
                raise IntegrityError(f"{path} is not an Ed25519 public key")
            keys.append(loaded)
        return keys

    def load_key(self, create: bool = False) -> bytes | None:
        """The checkpoint key: from the environment, else the key file (generated when `create`)."""
        if self.key:
            return self.key
        try:
            text = self.key_path.read_text().strip()
        except FileNotFoundError:
            if not create:
                return None
            text = secrets.token_hex(32)
            if not create_key_file(self.key_path, (text + "\n").encode()):  # another thread made it first
                return self.load_key(create=False)
            log.warning("generated checkpoint key %s: keep a copy away from the database", self.key_path)
        except OSError as exc:
            raise IntegrityError(f"cannot read the checkpoint key {self.key_path}: {exc}") from exc
        if not text:
            raise IntegrityError(f"the checkpoint key file {self.key_path} is empty")
        return text.encode()
