"""Secret files beside the database: written whole, once, readable by the owner only.

Several keys live next to the database file (`<db>.secret` for sessions, the checkpoint keys,
`<db>.totp-key` for second-factor secrets). A new one is written to a temporary file first and
linked into place, so a crash never leaves an empty or half-written key, and when two threads
or processes make one at once, the first one's key is the one everybody keeps.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)


def create_key_file(path: Path, data: bytes) -> bool:
    """Write `data` as a new file at `path` (mode 0600), unless one exists.

    Returns:
        True when this call made the file, False when another one was there first (read that).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # fails if the file exists: theirs is kept
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def warn_if_readable(path: Path, what: str) -> None:
    """Log a warning when a key file is readable by others than its owner."""
    if os.name == "posix" and path.stat().st_mode & 0o077:
        log.warning("%s %s is readable by others: chmod 600 it", what, path)
