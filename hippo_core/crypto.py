"""Secret settings at rest: sealed with Fernet before they are stored, opened only where used.

The ``[secrets]`` table: ``key`` (``HIPPO_SECRET_KEY``), a Fernet key (32 url-safe
base64-encoded bytes: ``python -c 'from cryptography.fernet import Fernet;
print(Fernet.generate_key().decode())'``), the same for every ``hippo api`` and ``hippo
worker`` of one Hippo; ``previous_keys`` (``HIPPO_SECRET_PREVIOUS_KEYS``) open what older
keys sealed, so a key can be rotated: start everything with the new key and the old one
listed, and each queue is sealed again with the new key at start (:func:`seal_stored`).
``hippo up`` makes a key in its data directory when none is set.

A queue's settings that its type's schema marks ``x-hippo-secret`` are stored as
``hippo-sealed:v1:<Fernet token>`` (the whole value, a connection URL too). The store
never sees them in clear; the services that know the schema seal and open them: the
queue service seals on create and update and opens to mask or keep a masked secret;
the poller opens them to hand the queue type its settings. Events carry the sealed
record. Without a key secrets are stored in clear, and ``hippo api`` and ``hippo
worker`` say so at start; ``hippo up`` always has a key.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from hippo_core import secrets
from hippo_core.errors import (
    FieldError,
    HippoError,
    NotFound,
    StoreUnavailable,
    UnknownQueueType,
    ValidationFailed,
)
from hippo_core.records import Queue
from hippo_core.settings import Settings, setting

if TYPE_CHECKING:
    from hippo_core.config import Config
    from hippo_core.registry import QueueTypeRegistry
    from hippo_core.store import Store

log = logging.getLogger(__name__)

PREFIX = "hippo-sealed:v1:"


@dataclass(frozen=True)
class SecretsSettings(Settings):
    table: ClassVar[str] = "secrets"

    key: str | None = setting(
        None,
        "Fernet key sealing secret settings at rest; the same for every api and worker. "
        "`hippo up` makes one in its data directory when unset.",
        env="HIPPO_SECRET_KEY",
        secret=True,
    )
    previous_keys: tuple[str, ...] = setting(
        (),
        "Older keys, to open what they sealed while the key is rotated (comma-separated).",
        env="HIPPO_SECRET_PREVIOUS_KEYS",
        secret=True,
    )


class SecretKeyMissing(HippoError):
    """A secret must be sealed or opened, and no key is configured."""


class UnreadableSecret(HippoError):
    """A sealed secret none of the configured keys opens."""


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def new_key() -> str:
    return Fernet.generate_key().decode()


class Sealer:
    """Seals and opens secret values with the configured keys (the first one seals)."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        keys = [k for k in keys if k]
        try:
            fernets = [Fernet(k.encode()) for k in keys]
        except (ValueError, TypeError) as exc:
            # The key itself is never repeated.
            raise ValueError(
                "invalid settings: [secrets] key (HIPPO_SECRET_KEY) and previous_keys must each be "
                "32 url-safe base64-encoded bytes, as Fernet.generate_key() makes"
            ) from exc
        self._current = fernets[0] if fernets else None
        self._fernet = MultiFernet(fernets) if fernets else None

    @classmethod
    def from_config(cls, config: Config) -> Sealer:
        settings = config.section(SecretsSettings)
        return cls([settings.key or "", *settings.previous_keys])

    @classmethod
    def configured(cls, config: Config) -> Sealer | None:
        """The sealer of ``config``'s key, or ``None`` (secrets in clear) when no key is set."""
        sealer = cls.from_config(config)
        return sealer if sealer.has_key else None

    @property
    def has_key(self) -> bool:
        return self._fernet is not None

    def seal(self, value: str) -> str:
        if self._fernet is None:
            raise SecretKeyMissing(
                "Hippo has no secret key to store secrets with; set HIPPO_SECRET_KEY (the same on every "
                "hippo api and worker)"
            )
        return PREFIX + self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def open(self, value: str) -> str:
        """``value`` in clear: opened if sealed, as it is otherwise (stored by an older Hippo)."""
        if not is_sealed(value):
            return value
        if self._fernet is None:
            raise SecretKeyMissing(
                "a secret of this queue is sealed and this Hippo has no key to open it; set "
                "HIPPO_SECRET_KEY to the key the API uses"
            )
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise UnreadableSecret(
                "a secret of this queue was sealed with a key this Hippo does not have; set "
                "HIPPO_SECRET_KEY, or list the old key in HIPPO_SECRET_PREVIOUS_KEYS"
            ) from exc

    def sealed_with_current_key(self, value: str) -> bool:
        """Whether ``value`` opens with the key that seals now (not only with a previous one)."""
        if self._current is None or not is_sealed(value):
            return False
        try:
            self._current.decrypt(value[len(PREFIX) :].encode("ascii"))
        except InvalidToken:
            return False
        return True


def _fields(schema: dict[str, Any], doc: Any, path: str = "$") -> Iterator[tuple[dict[str, Any], str, str]]:
    """(holder, key, JSONPath) of every non-empty secret string in ``doc``."""
    if not isinstance(doc, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in doc or not isinstance(sub, dict):
            continue
        value = doc[key]
        if sub.get(secrets.SECRET_KEY) and isinstance(value, str) and value:
            yield doc, key, f"{path}.{key}"
        elif isinstance(value, dict):
            yield from _fields(sub, value, f"{path}.{key}")


def seal(schema: dict[str, Any], record: dict[str, Any], sealer: Sealer | None) -> dict[str, Any]:
    """A copy of ``record`` (a queue) with its secrets sealed; as it is with no sealer (clear).

    Raises ValidationFailed naming each secret when the sealer has no key.
    """
    out = copy.deepcopy(record)
    if sealer is None:
        return out
    missing = []
    for holder, key, path in list(_fields(schema, out)):
        if is_sealed(holder[key]):
            continue
        try:
            holder[key] = sealer.seal(holder[key])
        except SecretKeyMissing as exc:
            missing.append(FieldError(path, f"cannot be stored: {exc}"))
    if missing:
        raise ValidationFailed(missing)
    return out


def open_secrets(schema: dict[str, Any], record: dict[str, Any], sealer: Sealer | None) -> dict[str, Any]:
    """A copy of ``record`` with its secrets in clear (SecretKeyMissing, UnreadableSecret)."""
    out = copy.deepcopy(record)
    for holder, key, _ in list(_fields(schema, out)):
        if is_sealed(holder[key]):
            if sealer is None:
                raise SecretKeyMissing("a secret of this queue is sealed, and nothing here may open it")
            holder[key] = sealer.open(holder[key])
    return out


def without_sealed(schema: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` with every sealed secret replaced by the mask (none can be opened)."""
    out = copy.deepcopy(record)
    for holder, key, _ in list(_fields(schema, out)):
        if is_sealed(holder[key]):
            holder[key] = secrets.MASK
    return out


def needs_sealing(schema: dict[str, Any], record: dict[str, Any], sealer: Sealer) -> bool:
    """Whether a secret of ``record`` is in clear, or sealed with a key other than the current one."""
    return any(not sealer.sealed_with_current_key(holder[key]) for holder, key, _ in _fields(schema, record))


def seal_stored(store: Store, registry: QueueTypeRegistry, sealer: Sealer) -> int:
    """Seal, with the current key, every stored secret in clear (stored before Hippo sealed them,
    i.e. by format 2 and older, or without a key) or sealed with a previous key. Returns how
    many queues were rewritten. Queues whose type is not installed are left as they are.
    """
    if not sealer.has_key:
        return 0
    from hippo_core.documents import queue_schema

    rewritten = 0
    for queue in store.get_queues(store.queue_ids()):
        try:
            registry.get(queue["queue"]["type"])
        except UnknownQueueType:
            continue
        schema = queue_schema(registry, queue["queue"]["type"])
        if not needs_sealing(schema, dict(queue), sealer):
            continue

        def reseal(stored: Queue, schema: dict[str, Any] = schema) -> Queue:
            opened = open_secrets(schema, dict(stored), sealer)
            resealed: Queue = seal(schema, opened, sealer)  # type: ignore[assignment]
            return resealed

        try:
            store.update_queue(queue["id"], reseal)
        except NotFound:
            continue  # deleted meanwhile
        except (UnreadableSecret, StoreUnavailable) as exc:
            log.warning("could not seal the secrets of queue %s: %s", queue["id"], exc)
            continue
        rewritten += 1
    if rewritten:
        log.info("sealed the secrets of %d queue(s) stored in clear or with an older key", rewritten)
    return rewritten
