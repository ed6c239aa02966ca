"""Secrets ``hippo up`` keeps in its data directory: made once, readable by their owner only.

- ``<data_dir>/admin-token``: the admin bearer token, unless ``HIPPO_ADMIN_TOKEN`` (or
  ``[auth] admin_tokens``) names one;
- ``<data_dir>/secret.key``: the key that seals secret settings at rest, unless
  ``HIPPO_SECRET_KEY`` (or ``[secrets] key``) names one.

Each is created with mode 0600 on first start and read afterwards; one that others may
read is made private again (with a warning), and the data directory itself is kept 0700.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

ADMIN_TOKEN_FILE = "admin-token"
SECRET_KEY_FILE = "secret.key"


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner may enter (made if missing, tightened if looser)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); making it private (0700)", path, mode)
        path.chmod(0o700)
    return path


def private_file(path: Path) -> None:
    """Make ``path`` readable and writable by its owner only, if it is not already."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); making it private (0600)", path, mode)
        path.chmod(0o600)


def read_or_create(path: Path, make: Callable[[], str]) -> tuple[str, bool]:
    """The secret in ``path``, made with ``make()`` (mode 0600) when missing; and whether it was made."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        private_file(path)
        value = path.read_text(encoding="ascii").strip()
        if not value:
            raise ValueError(f"{path} is empty; remove it to have a new one made") from None
        return value, False
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(make() + "\n")
    return path.read_text(encoding="ascii").strip(), True


def new_token() -> str:
    return secrets.token_urlsafe(32)
