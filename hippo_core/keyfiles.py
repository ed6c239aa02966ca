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
from typing import TYPE_CHECKING

from hippo_core.api.auth import AuthSettings
from hippo_core.crypto import SecretsSettings, new_key

if TYPE_CHECKING:
    from hippo_core.config import Config

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


def up_credentials(config: Config, data_dir: Path) -> tuple[Config, Path | None]:
    """``config`` with an admin token and a secret key, from the settings or ``data_dir``.

    Returns the file the admin token was read from, or ``None`` when the settings gave one.
    """
    token_file = None
    if not config.section(AuthSettings).admin_tokens:
        token_file = data_dir / ADMIN_TOKEN_FILE
        token, made = read_or_create(token_file, new_token)
        if made:
            log.info("made an admin token in %s", token_file)
        config = config.with_table("auth", admin_tokens=(token,))
    if not config.section(SecretsSettings).key:
        key_file = data_dir / SECRET_KEY_FILE
        key, made = read_or_create(key_file, new_key)
        if made:
            log.info("made the key that seals secrets at rest in %s; keep it with the data", key_file)
        config = config.with_table("secrets", key=key)
    return config, token_file
